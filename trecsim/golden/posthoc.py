"""Post-hoc TREC on an int8 ModelSpec: switch conv layers to space-efficient TREC without training.

This is how a configuration is measured before anybody fine-tunes it (issue 12, "Per-layer
configuration by measurement"): the golden model runs the int8 spec with the chosen layers
clustered, so accuracy and remaining ratio are exactly what the firmware would give for
these weights. Centred hash bits (TREC.md, "Centred hash bits") get their thresholds here
from the int8 projections of calibration images: ``t[m, j]`` = the floor of the median of
``v . R_m[:, j]`` over every (image, position), so that each bit splits the calibration
sub-vectors in half.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from trecsim.golden import kernels as k
from trecsim.golden.runner import model_input, run_layer
from trecsim.spec import LayerSpec, ModelSpec, SpecError, validate


@dataclass(frozen=True)
class SeTrecSetting:
    """One conv layer as space-efficient TREC: sub-vector length L, hash bits H, centred bits or not."""

    sub_len: int
    hash_bits: int
    centred: bool = False


def hash_projections(layer: LayerSpec, x: np.ndarray, input_offset: int, sub_len: int,
                     hash_bits: int) -> np.ndarray:
    """Kernel-reuse projections ``v_{p,m} . W_m[:, j]`` of a conv layer's int8 input x (n, H, W, C).

    Returns int64 (M, H, n * P): sub-matrix m, bit j, every (image, position) of the batch.
    """
    g = k._ConvGeometry(x, input_offset, layer.arrays["weight"], layer.arrays["bias"],
                        layer.arrays["multiplier"], layer.arrays["shift"], layer.attrs["stride"],
                        layer.attrs["padding"], -128, 127)
    if g.k % sub_len:
        raise SpecError(f"L={sub_len} does not divide K={g.k}", where=f"layer {layer.name}",
                        fix=f"choose L among the divisors of {g.k}")
    m = g.k // sub_len
    hm = g.w_mat[:hash_bits].astype(np.float64).reshape(hash_bits, m, sub_len).transpose(1, 2, 0)  # (M, L, H)
    step = max(1, (1 << 22) // (g.positions * g.k))  # images per batch: ~32 MB of float64 patches
    parts = []
    for start in range(0, g.n, step):
        stop = min(start + step, g.n)
        rows = g.patches(start, stop).astype(np.float64).reshape(-1, m, sub_len).transpose(1, 0, 2)  # (M, nP, L)
        parts.append(np.matmul(rows, hm).transpose(0, 2, 1))  # (M, H, nP), exact integers below 2**53
    return np.concatenate(parts, axis=-1).astype(np.int64) if parts else np.zeros((m, hash_bits, 0), np.int64)


def median_thresholds(proj: np.ndarray) -> np.ndarray:
    """(M, H, samples) projections -> int32 (M, H): floor of each median, clipped to the kernel's limit."""
    t = np.floor(np.median(proj, axis=-1))
    lim = k.THRESHOLD_LIMIT - 1
    return np.clip(t, -lim, lim).astype(np.int32)


def apply_se_trec(spec: ModelSpec, settings: dict[str, SeTrecSetting], calibration_images=None) -> ModelSpec:
    """A copy of ``spec`` with the named conv layers as space-efficient TREC (others unchanged).

    Centred layers need ``calibration_images`` (uint8 NHWC): their thresholds come from the
    projections of those images' layer inputs, computed with every earlier layer as in the
    new spec (so a centred layer sees the outputs of the clustered layers before it).
    """
    names = {l.name for l in spec.layers if l.op == "conv"}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise SpecError(f"no conv layer {', '.join(unknown)}", where=f"model {spec.model}",
                        fix=f"use among: {', '.join(sorted(names))}")
    if any(s.centred for s in settings.values()) and calibration_images is None:
        raise SpecError("centred hash bits need calibration images", where=f"model {spec.model}",
                        fix="pass a few hundred training images")
    layers = []
    tensors = {spec.input: model_input(spec, calibration_images)} if calibration_images is not None else None
    for layer in spec.layers:
        if layer.name in settings:
            s = settings[layer.name]
            attrs = {**layer.attrs, "mode": "se-trec", "sub_len": int(s.sub_len), "hash_bits": int(s.hash_bits)}
            arrays = {key: a for key, a in layer.arrays.items() if key not in ("hash", "thresholds")}
            if s.centred:
                x = tensors[layer.inputs[0]]
                offset = -spec.tensors[layer.inputs[0]].zero_point
                arrays["thresholds"] = median_thresholds(hash_projections(layer, x, offset, s.sub_len, s.hash_bits))
            layer = replace(layer, attrs=attrs, arrays=arrays)
        layers.append(layer)
        if tensors is not None:
            out, _ = run_layer(spec, layer, [tensors[n] for n in layer.inputs])
            tensors[layer.output] = out
    mode = "se-trec" if any(l.clustered for l in layers) else spec.mode
    out = replace(spec, mode=mode, layers=tuple(layers),
                  meta={**spec.meta, "posthoc_se_trec": {n: [s.sub_len, s.hash_bits, s.centred]
                                                         for n, s in settings.items()}})
    validate(out)
    return out


__all__ = ["SeTrecSetting", "apply_se_trec", "hash_projections", "median_thresholds", "parse_layer_setting"]


def parse_layer_setting(text: str) -> tuple[str, SeTrecSetting]:
    """'conv2=64,7,centred' or 'conv2=64,7' -> (layer, setting): the grammar of ``--layer`` in
    ``trecsim train`` and of ``--config`` here."""
    try:
        name, rest = text.split("=", 1)
        parts = rest.split(",")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "centred"):
            raise ValueError(text)
        return name, SeTrecSetting(int(parts[0]), int(parts[1]), len(parts) == 3)
    except ValueError:
        raise SpecError(f"--layer '{text}' is not NAME=L,H or NAME=L,H,centred",
                        fix="write e.g. --layer conv2=64,7,centred") from None


def main(argv: list[str] | None = None) -> int:
    """Post-hoc sweep: accuracy and remaining ratio of committed dense models with chosen layers as
    space-efficient TREC, from the bit-exact golden model (no training). Each ``--config`` is one
    comma-free group of ``--layer``-style settings separated by '+'."""
    import argparse

    from trecsim.data import load_split
    from trecsim.errors import TrecsimError
    from trecsim.golden.runner import run
    from trecsim.spec import load_trained

    p = argparse.ArgumentParser(prog="python -m trecsim.golden.posthoc", description=main.__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--config", action="append", required=True, metavar="NAME=L,H[,centred][+NAME=L,H...]")
    p.add_argument("--images", type=int, default=2000, help="first N test images")
    p.add_argument("--calibration", type=int, default=300, help="training images for the thresholds")
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)
    try:
        dense = load_trained(args.model, "dense")
        test = load_split("test", args.data)
        cal = load_split("train", args.data).images[:args.calibration]
        x, y = test.images[:args.images], test.labels[:args.images]
        base = run(dense, x).accuracy(y)
        print(f"{args.model} dense int8: {base * 100:.2f}% on {len(y)} test images")
        for config in args.config:
            settings = dict(parse_layer_setting(t) for t in config.split("+"))
            result = run(apply_se_trec(dense, settings, cal), x)
            ratios = {k: v for k, v in result.remaining_ratio().items() if v is not None}
            acc = result.accuracy(y)
            print(f"{config:<40} {acc * 100:6.2f}% ({(acc - base) * 100:+.2f})  "
                  + "  ".join(f"{k} r={v:.3f}" for k, v in ratios.items()), flush=True)
    except TrecsimError as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
