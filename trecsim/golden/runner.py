"""Runs a whole ModelSpec on images with the golden kernels: what the firmware must reproduce."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from trecsim import quant
from trecsim.errors import DataError
from trecsim.golden import kernels as k
from trecsim.spec import LayerSpec, ModelSpec, SpecError, validate

INPUT_ZERO_POINT = 0  # model input q = pixel - 128, real = q / 255 (centred, so sign hashes see signed data)


@dataclass
class GoldenResult:
    """What :func:`run` computed for N images.

    ``logits`` int8 (N, classes) (the spec's output tensor, flattened), ``predictions`` their
    argmax (first index on ties), ``outputs`` tensor name -> int8 (N, *shape) (every tensor
    with ``keep_outputs``, else only the final output), ``clusters`` layer name -> int32
    (N, M) for each TREC conv, ``positions`` conv layer name -> output positions per image
    and ``modes`` conv layer name -> mode.
    """

    logits: np.ndarray
    predictions: np.ndarray
    outputs: dict[str, np.ndarray]
    clusters: dict[str, np.ndarray]
    positions: dict[str, int] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.logits.shape[0])

    def remaining_ratio(self) -> dict[str, float | None]:
        """Conv layer -> sum of clusters / (N * M * positions); None for dense convs."""
        ratios: dict[str, float | None] = {}
        for name, mode in self.modes.items():
            if mode == "dense":
                ratios[name] = None
            else:
                c = self.clusters[name]
                denominator = c.size * self.positions[name]
                ratios[name] = float(c.sum(dtype=np.int64)) / denominator if denominator else None
        return ratios

    def accuracy(self, labels) -> float:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != self.count:
            raise DataError(f"{labels.shape[0]} labels for {self.count} images",
                            fix="pass one label per image, in the same order")
        return float(np.mean(self.predictions == labels)) if self.count else 0.0


def _act_range(zero_point: int, relu: bool) -> tuple[int, int]:
    return (max(int(zero_point), quant.INT8_MIN), quant.INT8_MAX) if relu else (quant.INT8_MIN, quant.INT8_MAX)


def run_layer(spec: ModelSpec, layer: LayerSpec, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """One layer on a batch: (output int8 (n, *shape), clusters (n, M) or None)."""
    out_t = spec.tensors[layer.output]
    in_t = [spec.tensors[name] for name in layer.inputs]
    a, arr = layer.attrs, layer.arrays
    lo, hi = _act_range(out_t.zero_point, bool(a.get("relu", False)))
    if layer.op == "conv":
        common = (inputs[0], -in_t[0].zero_point, arr["weight"], arr["bias"], out_t.zero_point,
                  arr["multiplier"], arr["shift"], a["stride"], a["padding"], lo, hi)
        mode = layer.mode
        if mode == "dense":
            return k.convolve_s8(*common), None
        if mode == "trec":
            return k.trec_convolve_s8(*common, a["sub_len"], a["hash_bits"], arr["hash"])
        if mode == "se-trec":
            return k.trec_se_convolve_s8(*common, a["sub_len"], a["hash_bits"], arr.get("thresholds"),
                                         quant.recovery_shift(arr["multiplier"], arr["shift"]))
        raise SpecError(f"unknown conv mode {mode!r}", where=f"layer {layer.name}", fix="re-export the model")
    if layer.op == "fc":
        x = inputs[0].reshape(inputs[0].shape[0], -1)  # (h, w, c) order
        return k.fully_connected_s8(x, -in_t[0].zero_point, arr["weight"], arr["bias"], out_t.zero_point,
                                    arr["multiplier"], arr["shift"], lo, hi), None
    if layer.op == "maxpool":
        return k.max_pool_s8(inputs[0], a["kernel"], a["stride"], quant.INT8_MIN, quant.INT8_MAX), None
    if layer.op == "concat":
        return k.concat_s8(inputs), None
    if layer.op == "add":
        return k.elementwise_add_s8(inputs[0], inputs[1], -in_t[0].zero_point, a["input1_multiplier"],
                                    a["input1_shift"], -in_t[1].zero_point, a["input2_multiplier"],
                                    a["input2_shift"], a["left_shift"], out_t.zero_point,
                                    a["output_multiplier"], a["output_shift"], lo, hi), None
    if layer.op == "gap":
        return k.global_avg_pool_s8(inputs[0], quant.INT8_MIN, quant.INT8_MAX), None
    raise SpecError(f"unknown op {layer.op!r}", where=f"layer {layer.name}", fix="re-export the model")


def model_input(spec: ModelSpec, images) -> np.ndarray:
    """uint8 NHWC images -> the model's int8 input (pixel - 128), checked against the spec."""
    images = np.asarray(images)
    t = spec.tensors[spec.input]
    if t.zero_point != INPUT_ZERO_POINT:
        raise SpecError(f"input tensor {t.name!r} has zero point {t.zero_point}, expected {INPUT_ZERO_POINT} "
                        f"(the model input is q = pixel - 128 with real = q / 255)", where=f"model {spec.model}",
                        fix="re-export the model")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != tuple(t.shape):
        raise DataError(f"images are {images.dtype} {images.shape}, expected uint8 (N, {', '.join(map(str, t.shape))})",
                        where=f"model {spec.model}", fix="pass NHWC RGB uint8 images as loaded by trecsim.data")
    return (images.astype(np.int16) - 128).astype(np.int8)


def run(spec: ModelSpec, images, *, keep_outputs: bool = False, batch: int = 1000,
        progress: Callable[[int, int], None] | None = None) -> GoldenResult:
    """Runs ``spec`` on uint8 NHWC images (N, 32, 32, 3), ``batch`` images at a time.

    ``progress(done, total)`` is called after every batch.
    """
    validate(spec)
    x_all = model_input(spec, images)
    total = x_all.shape[0]
    batch = max(1, int(batch))
    # last layer index that reads each tensor, to free intermediates early
    last_use: dict[str, int] = {}
    for i, layer in enumerate(spec.layers):
        for name in layer.inputs:
            last_use[name] = i
    kept = {t for t in spec.tensors} if keep_outputs else {spec.output}
    kept_parts: dict[str, list[np.ndarray]] = {}
    cluster_parts: dict[str, list[np.ndarray]] = {l.name: [] for l in spec.layers if l.clustered}
    for start in range(0, total, batch):
        tensors = {spec.input: x_all[start:start + batch]}
        for i, layer in enumerate(spec.layers):
            out, clusters = run_layer(spec, layer, [tensors[name] for name in layer.inputs])
            tensors[layer.output] = out
            if clusters is not None:
                cluster_parts[layer.name].append(clusters)
            for name in layer.inputs:
                if last_use[name] == i and name not in kept:
                    tensors.pop(name, None)
        for name in kept:
            if name in tensors:
                kept_parts.setdefault(name, []).append(tensors[name])
        if progress is not None:
            progress(min(start + batch, total), total)
    outputs = {}
    for name in kept:
        if name in kept_parts:
            outputs[name] = np.concatenate(kept_parts[name])
        elif name in spec.tensors and total == 0:
            outputs[name] = np.zeros((0, *spec.tensors[name].shape), dtype=np.int8)
    if spec.output not in outputs:
        outputs[spec.output] = np.zeros((total, *spec.tensors[spec.output].shape), dtype=np.int8)
    logits = outputs[spec.output].reshape(total, spec.tensors[spec.output].size)
    clusters = {}
    for layer in spec.layers:
        if layer.clustered:
            parts = cluster_parts[layer.name]
            m = layer.arrays["weight"][0].size // layer.attrs["sub_len"]
            clusters[layer.name] = np.concatenate(parts) if parts else np.zeros((0, m), dtype=np.int32)
    positions = {l.name: int(np.prod(spec.tensors[l.output].shape[:2])) for l in spec.layers if l.op == "conv"}
    modes = {l.name: l.mode for l in spec.layers if l.op == "conv"}
    return GoldenResult(logits=logits, predictions=np.argmax(logits, axis=1) if total else np.zeros(0, np.int64),
                        outputs=outputs, clusters=clusters, positions=positions, modes=modes)


__all__ = ["GoldenResult", "model_input", "run", "run_layer"]
