"""ModelSpec: an int8 model as plain arrays plus JSON, read by codegen and the golden model.

One ``.npz`` file holds every array under ``<layer>/<array>`` and the JSON
description under ``__spec__`` (UTF-8 bytes as a uint8 array), so a spec is one
file, written atomically, and needs nothing but NumPy to read.

Layout and semantics (the C kernels use the same):

* tensors are NHWC (one image: H x W x C) int8 with ``real = scale * (q - zero_point)``;
  the model input is ``pixel - 128`` (scale 1/255, zero point 0);
* ``conv``: ``weight`` int8 (C_out, kh, kw, C_in), ``bias`` int32 (C_out), ``multiplier``
  and ``shift`` int32 (C_out, per output channel, see trecsim.quant.requantize); attrs
  ``kernel``, ``stride``, ``padding``, ``relu``, ``mode`` (dense | trec | se-trec),
  ``sub_len`` (L) and ``hash_bits`` (H) for TREC; plain TREC adds ``hash`` int8 (L, H);
  space-efficient TREC may add ``thresholds`` int32 (K / L, H), the centred hash bits
  (bit j of sub-matrix m is ``[v . R_m[:, j] > thresholds[m, j]]``; absent = all 0);
* ``fc``: ``weight`` int8 (F_out, F_in) over the input flattened in (h, w, c) order,
  ``bias``, ``multiplier``, ``shift`` per output; attr ``relu``;
* ``maxpool`` (attrs ``kernel``, ``stride``), ``concat`` (channels; its inputs share the
  output's scale and zero point), ``gap`` (global average pool, same quantization as
  its input) need no arrays;
* ``add``: attrs ``left_shift``, ``input1_multiplier``, ``input1_shift``,
  ``input2_multiplier``, ``input2_shift``, ``output_multiplier``, ``output_shift``, ``relu``
  (CMSIS-NN's elementwise add).

With ``relu`` the output is clamped to [max(zero_point, -128), 127], else [-128, 127].
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trecsim.errors import TrecsimError

FORMAT = "trecsim-modelspec/1"
OPS = ("conv", "fc", "maxpool", "concat", "add", "gap")
MODES = ("dense", "trec", "se-trec")
_SPEC_KEY = "__spec__"


class SpecError(TrecsimError):
    """A ModelSpec file that is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]  # (H, W, C) or (F,)
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class LayerSpec:
    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def mode(self) -> str:
        return self.attrs.get("mode", "dense")

    @property
    def clustered(self) -> bool:
        return self.op == "conv" and self.mode != "dense"


@dataclass(frozen=True)
class ModelSpec:
    model: str
    mode: str
    input: str
    output: str
    tensors: dict[str, TensorSpec]
    layers: tuple[LayerSpec, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise SpecError(f"no layer '{name}'", where=f"model {self.model}",
                        fix=f"use one of: {', '.join(l.name for l in self.layers)}")

    def macs(self) -> dict[str, int]:
        """Dense multiply-accumulates per conv and fc layer for one image."""
        out = {}
        for layer in self.layers:
            if layer.op == "conv":
                h, w, _ = self.tensors[layer.output].shape
                out[layer.name] = h * w * int(np.prod(layer.arrays["weight"].shape))
            elif layer.op == "fc":
                out[layer.name] = int(np.prod(layer.arrays["weight"].shape))
        return out

    def weight_bytes(self) -> int:
        return sum(a.nbytes for layer in self.layers for a in layer.arrays.values())

    # ------------------------------------------------------------------ I/O

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "model": self.model, "mode": self.mode, "input": self.input,
            "output": self.output, "meta": self.meta,
            "tensors": [{"name": t.name, "shape": list(t.shape), "scale": t.scale, "zero_point": t.zero_point}
                        for t in self.tensors.values()],
            "layers": [{"name": l.name, "op": l.op, "inputs": list(l.inputs), "output": l.output,
                        "attrs": l.attrs,
                        "arrays": {k: {"dtype": str(a.dtype), "shape": list(a.shape)} for k, a in l.arrays.items()}}
                       for l in self.layers],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the spec atomically (a temporary file renamed into place)."""
        validate(self)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{l.name}/{k}": a for l in self.layers for k, a in l.arrays.items()}
        arrays[_SPEC_KEY] = np.frombuffer(json.dumps(self.to_json(), indent=1).encode(), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
        return path


_ARRAYS = {  # op -> {array: dtype}; shapes are checked in validate()
    "conv": {"weight": np.int8, "bias": np.int32, "multiplier": np.int32, "shift": np.int32},
    "fc": {"weight": np.int8, "bias": np.int32, "multiplier": np.int32, "shift": np.int32},
}
_ADD_ATTRS = ("left_shift", "input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift",
              "output_multiplier", "output_shift")


def load(path: str | os.PathLike) -> ModelSpec:
    """Reads and validates a ModelSpec file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"ModelSpec {path} does not exist",
                        fix="export one with `python -m trecsim export` or use a committed model")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        doc = json.loads(bytes(data.pop(_SPEC_KEY)).decode())
    except KeyError:
        raise SpecError(f"{path} has no {_SPEC_KEY} entry", fix="re-export the model") from None
    except (OSError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise SpecError(f"{path} is not a readable ModelSpec ({exc})", fix="re-export the model") from exc
    return from_json(doc, data, source=str(path))


def from_json(doc: dict, arrays: dict[str, np.ndarray], source: str = "<memory>") -> ModelSpec:
    if doc.get("format") != FORMAT:
        raise SpecError(f"format is {doc.get('format')!r}, expected {FORMAT!r}", where=source,
                        fix="re-export the model with this version of trecsim")
    try:
        tensors = {t["name"]: TensorSpec(t["name"], tuple(t["shape"]), float(t["scale"]), int(t["zero_point"]))
                   for t in doc["tensors"]}
        layers = []
        for l in doc["layers"]:
            own = {}
            for key in l.get("arrays", {}):
                full = f"{l['name']}/{key}"
                if full not in arrays:
                    raise SpecError(f"array '{key}' is missing", where=f"{source}, layer {l['name']}",
                                    fix="re-export the model; the file is incomplete")
                own[key] = arrays[full]
            layers.append(LayerSpec(l["name"], l["op"], tuple(l["inputs"]), l["output"], dict(l.get("attrs", {})),
                                    own))
        spec = ModelSpec(doc["model"], doc["mode"], doc["input"], doc["output"], tensors, tuple(layers),
                         dict(doc.get("meta", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"malformed description ({exc.__class__.__name__}: {exc})", where=source,
                        fix="re-export the model") from exc
    validate(spec, source)
    return spec


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def validate(spec: ModelSpec, source: str = "<memory>") -> None:
    """Checks ops, tensor shapes, array presence/dtypes/shapes and TREC parameters; SpecError names the layer."""
    if spec.mode not in MODES:
        raise SpecError(f"unknown mode {spec.mode!r}", where=source, fix=f"use one of {MODES}")
    known = {spec.input}
    if spec.input not in spec.tensors:
        raise SpecError(f"input tensor {spec.input!r} has no description", where=source, fix="re-export the model")
    for layer in spec.layers:
        where = f"{source}, layer {layer.name}"

        def fail(what: str, fix: str = "re-export the model from its checkpoint") -> None:
            raise SpecError(what, where=where, fix=fix)

        if layer.op not in OPS:
            fail(f"unknown op {layer.op!r}", f"use one of {OPS}")
        for name in layer.inputs:
            if name not in known:
                fail(f"input {name!r} is not produced by an earlier layer")
        if layer.output not in spec.tensors:
            fail(f"output tensor {layer.output!r} has no description")
        ins = [spec.tensors[n] for n in layer.inputs]
        out = spec.tensors[layer.output]
        for key, dtype in _ARRAYS.get(layer.op, {}).items():
            a = layer.arrays.get(key)
            if a is None:
                fail(f"array '{key}' is missing")
            if a.dtype != dtype:
                fail(f"array '{key}' is {a.dtype}, expected {np.dtype(dtype)}")
        a = layer.attrs
        if layer.op == "conv":
            w = layer.arrays["weight"]
            h, wd, c = ins[0].shape
            if w.ndim != 4 or w.shape[3] != c or w.shape[1] != w.shape[2] or w.shape[1] != a.get("kernel"):
                fail(f"weight shape {w.shape} does not fit input {ins[0].shape} and kernel {a.get('kernel')}")
            expect = (_conv_out(h, a["kernel"], a["stride"], a["padding"]),
                      _conv_out(wd, a["kernel"], a["stride"], a["padding"]), w.shape[0])
            if out.shape != expect:
                fail(f"output shape {out.shape} should be {expect}")
            mode = a.get("mode", "dense")
            if mode not in MODES:
                fail(f"unknown mode {mode!r}", f"use one of {MODES}")
            if mode != "dense":
                k = w.shape[1] * w.shape[2] * w.shape[3]
                sub_len, bits = a.get("sub_len", 0), a.get("hash_bits", 0)
                if sub_len <= 0 or k % sub_len:
                    fail(f"L={sub_len} does not divide K={k}", f"choose L among the divisors of {k}")
                if not 1 <= bits <= 16:
                    fail(f"H={bits} out of range", "choose 1 <= H <= 16")
                if mode == "se-trec" and bits > w.shape[0]:
                    fail(f"kernel reuse needs H <= C_out ({w.shape[0]}), got H={bits}")
                t = layer.arrays.get("thresholds")
                if t is not None:
                    if mode != "se-trec":
                        fail("centred hash thresholds are implemented for se-trec layers only",
                             "drop the 'thresholds' array or use mode se-trec")
                    if t.dtype != np.int32 or t.shape != (k // sub_len, bits):
                        fail(f"array 'thresholds' is {t.dtype} {t.shape}, expected int32 ({k // sub_len}, {bits})")
                    if t.size and int(np.abs(t.astype(np.int64)).max()) >= 1 << 24:
                        fail(f"array 'thresholds' holds {int(np.abs(t.astype(np.int64)).max())}, "
                             f"beyond the limit 2**24 - 1 in magnitude")
                if mode == "trec":
                    hm = layer.arrays.get("hash")
                    if hm is None or hm.dtype != np.int8 or hm.shape != (sub_len, bits):
                        fail(f"plain TREC needs an int8 'hash' array of shape ({sub_len}, {bits})")
            n_out = w.shape[0]
        elif layer.op == "fc":
            w = layer.arrays["weight"]
            if w.ndim != 2 or w.shape[1] != ins[0].size or out.shape != (w.shape[0],):
                fail(f"weight shape {w.shape} does not fit input {ins[0].shape} and output {out.shape}")
            n_out = w.shape[0]
        elif layer.op == "maxpool":
            h, wd, c = ins[0].shape
            expect = (_conv_out(h, a["kernel"], a["stride"], 0), _conv_out(wd, a["kernel"], a["stride"], 0), c)
            if out.shape != expect:
                fail(f"output shape {out.shape} should be {expect}")
        elif layer.op == "concat":
            if any(t.shape[:2] != out.shape[:2] for t in ins) or sum(t.shape[2] for t in ins) != out.shape[2]:
                fail(f"inputs {[t.shape for t in ins]} do not concatenate to {out.shape}")
            if any((t.scale, t.zero_point) != (out.scale, out.zero_point) for t in ins):
                fail("concat inputs must share the output's scale and zero point")
        elif layer.op == "add":
            if len(ins) != 2 or ins[0].shape != ins[1].shape or ins[0].shape != out.shape:
                fail(f"add needs two inputs of the output's shape {out.shape}")
            missing = [k for k in _ADD_ATTRS if k not in a]
            if missing:
                fail(f"attributes {missing} are missing")
        elif layer.op == "gap":
            if out.shape != (ins[0].shape[2],):
                fail(f"output shape {out.shape} should be ({ins[0].shape[2]},)")
        if layer.op in ("conv", "fc"):
            for key in ("bias", "multiplier", "shift"):
                if layer.arrays[key].shape != (n_out,):
                    fail(f"array '{key}' has shape {layer.arrays[key].shape}, expected ({n_out},)")
        known.add(layer.output)
    if spec.output not in known:
        raise SpecError(f"output tensor {spec.output!r} is never produced", where=source, fix="re-export the model")


#: Environment variable naming another folder of trained ModelSpecs (MODEL-MODE.npz) to use instead of
#: the committed ones, e.g. your own exports.
TRAINED_DIR_ENV = "TRECSIM_TRAINED_DIR"


def trained_dir() -> Path:
    """The committed int8 models (see trained/README.md for the commands that made them), or the folder
    named by $TRECSIM_TRAINED_DIR."""
    override = os.environ.get(TRAINED_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).parent / "trained"


def trained_path(model: str, mode: str) -> Path:
    return trained_dir() / f"{model}-{mode}.npz"


def load_trained(model: str, mode: str) -> ModelSpec:
    path = trained_path(model, mode)
    if not path.is_file():
        have = sorted(p.stem for p in trained_dir().glob("*.npz"))
        raise SpecError(f"no committed model {model}-{mode}", where=str(trained_dir()),
                        fix=f"use one of: {', '.join(have) or 'none yet'}, or export one with "
                            f"`python -m trecsim export`")
    return load(path)


__all__ = ["FORMAT", "MODES", "OPS", "TRAINED_DIR_ENV", "LayerSpec", "ModelSpec", "SpecError", "TensorSpec", "from_json", "load",
           "load_trained", "trained_dir", "trained_path", "validate"]
