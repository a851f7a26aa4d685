"""Small hand-built ModelSpecs for the firmware build tests (every op kind, every conv mode)."""

from __future__ import annotations

import numpy as np

from trecsim import quant
from trecsim.golden.runner import INPUT_ZERO_POINT
from trecsim.spec import LayerSpec, ModelSpec, TensorSpec, validate


def _requant(rng, n, lo=2e-4, hi=4e-3):
    pairs = [quant.quantize_multiplier(float(r)) for r in rng.uniform(lo, hi, n)]
    return np.array([m for m, _ in pairs], np.int32), np.array([s for _, s in pairs], np.int32)


def conv(rng, name, src, dst, c_in, c_out, k, stride, pad, mode="dense", sub_len=0, hash_bits=0, relu=True):
    mult, shift = _requant(rng, c_out)
    arrays = dict(weight=rng.integers(-127, 128, (c_out, k, k, c_in), dtype=np.int8),
                  bias=rng.integers(-3000, 3000, c_out).astype(np.int32), multiplier=mult, shift=shift)
    attrs = dict(kernel=k, stride=stride, padding=pad, relu=relu, mode=mode)
    if mode != "dense":
        attrs.update(sub_len=sub_len, hash_bits=hash_bits)
    if mode == "trec":
        arrays["hash"] = rng.integers(-127, 128, (sub_len, hash_bits), dtype=np.int8)
    return LayerSpec(name, "conv", (src,), dst, attrs, arrays)


def fc(rng, name, src, dst, f_in, f_out, relu=False):
    m, s = _requant(rng, f_out)
    return LayerSpec(name, "fc", (src,), dst, dict(relu=relu), dict(
        weight=rng.integers(-127, 128, (f_out, f_in), dtype=np.int8),
        bias=rng.integers(-500, 500, f_out).astype(np.int32), multiplier=m, shift=s))


def small_spec(seed: int = 0) -> ModelSpec:
    """conv(trec) -> maxpool -> [conv(se-trec) | conv(dense 1x1) | conv(dense 3x3)] -> concat -> add -> gap -> fc."""
    rng = np.random.default_rng(seed)
    t = lambda name, shape, zp, scale=0.05: TensorSpec(name, shape, scale, zp)  # noqa: E731
    tensors = [t("input", (32, 32, 3), INPUT_ZERO_POINT, 1 / 255), t("c1", (16, 16, 6), -20), t("p1", (8, 8, 6), -20),
               t("b1", (8, 8, 4), -9, 0.1), t("b2", (8, 8, 1), -9, 0.1), t("b3", (8, 8, 1), -9, 0.1),
               t("cat", (8, 8, 6), -9, 0.1), t("sum", (8, 8, 6), 5, 0.2), t("gap", (6,), 5, 0.2),
               t("logits", (10,), 3, 0.3)]
    twice = 2 * max(0.1, 0.05)
    im1, is1 = quant.quantize_multiplier(0.1 / twice)
    im2, is2 = quant.quantize_multiplier(0.05 / twice)
    om, os_ = quant.quantize_multiplier(twice / ((1 << 20) * 0.2))
    add_attrs = dict(left_shift=20, input1_multiplier=im1, input1_shift=is1, input2_multiplier=im2,
                     input2_shift=is2, output_multiplier=om, output_shift=os_, relu=True)
    layers = (
        conv(rng, "conv1", "input", "c1", 3, 6, 3, 2, 1, "trec", sub_len=9, hash_bits=4),
        LayerSpec("pool1", "maxpool", ("c1",), "p1", dict(kernel=2, stride=2)),
        conv(rng, "conv2", "p1", "b1", 6, 4, 3, 1, 1, "se-trec", sub_len=6, hash_bits=3),
        conv(rng, "conv3", "p1", "b2", 6, 1, 1, 1, 0, "dense", relu=False),
        conv(rng, "conv4", "p1", "b3", 6, 1, 3, 1, 1, "dense"),
        LayerSpec("cat", "concat", ("b1", "b2", "b3"), "cat"),
        LayerSpec("add", "add", ("cat", "p1"), "sum", add_attrs),
        LayerSpec("gap", "gap", ("sum",), "gap"),
        fc(rng, "fc", "gap", "logits", 6, 10),
    )
    spec = ModelSpec("tiny", "trec", "input", "logits", {x.name: x for x in tensors}, layers)
    validate(spec)
    return spec


def big_trec_spec(seed: int = 0, mode: str = "trec") -> ModelSpec:
    """A plain TREC layer whose full N x K im2col (1024 x 144 int16 = 288 KB) plus accumulators does
    not fit on-chip RAM: it spills to SDRAM on the F469-DISCO and cannot be planned on the F746."""
    rng = np.random.default_rng(seed)
    t = lambda name, shape, zp, scale=0.05: TensorSpec(name, shape, scale, zp)  # noqa: E731
    tensors = [t("input", (32, 32, 3), INPUT_ZERO_POINT, 1 / 255), t("c0", (32, 32, 16), -10), t("c1", (32, 32, 16), -10),
               t("gap", (16,), -10), t("logits", (10,), 0, 0.3)]
    layers = (
        conv(rng, "conv0", "input", "c0", 3, 16, 1, 1, 0, "dense"),
        conv(rng, "conv1", "c0", "c1", 16, 16, 3, 1, 1, mode, sub_len=16, hash_bits=6),
        LayerSpec("gap", "gap", ("c1",), "gap"),
        fc(rng, "fc", "gap", "logits", 16, 10),
    )
    spec = ModelSpec("bigtrec", mode, "input", "logits", {x.name: x for x in tensors}, layers)
    validate(spec)
    return spec


def huge_fc_spec(f_in: int = 3072, f_out: int = 400) -> ModelSpec:
    """One fully connected layer with f_in * f_out int8 weights (1.2 MB: more than the F746's flash)."""
    rng = np.random.default_rng(0)
    tensors = [TensorSpec("input", (32, 32, 3), 1 / 255, INPUT_ZERO_POINT), TensorSpec("logits", (f_out,), 0.3, 0)]
    layers = (fc(rng, "fc", "input", "logits", f_in, f_out),)
    spec = ModelSpec("hugefc", "dense", "input", "logits", {x.name: x for x in tensors}, layers)
    validate(spec)
    return spec


def images(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
