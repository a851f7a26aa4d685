"""Hypothesis strategies shared by the firmware kernel tests."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from trecsim import quant

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
int8s = st.integers(-128, 127)
INPUT_KINDS = ("random", "equal", "distinct", "small")


@st.composite
def requant_params(draw, channels: int):
    """Per-channel (multiplier, shift) from quant.quantize_multiplier on reals in [1e-4, 2)."""
    reals = [draw(st.floats(1e-4, 2.0, exclude_max=True)) for _ in range(channels)]
    pairs = [quant.quantize_multiplier(r) for r in reals]
    return np.array([m for m, _ in pairs], np.int32), np.array([s for _, s in pairs], np.int32)


@st.composite
def act_range(draw):
    lo = draw(int8s)
    hi = draw(st.integers(lo, 127))
    return lo, hi


def make_input(kind: str, shape, seed: int) -> np.ndarray:
    """random | equal (one value: one cluster) | distinct (no repeated element) | small (few values)."""
    r = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if kind == "equal":
        return np.full(shape, r.integers(-128, 128), dtype=np.int8)
    if kind == "distinct":
        reps = -(-size // 256)
        values = np.concatenate([r.permutation(256) for _ in range(reps)])[:size] - 128
        return values.astype(np.int8).reshape(shape)
    if kind == "small":
        return r.integers(-2, 3, shape).astype(np.int8)
    return r.integers(-128, 128, shape, dtype=np.int8)


@st.composite
def conv_case(draw, max_hw: int = 9, max_c_in: int = 7, max_c_out: int = 9, min_c_out: int = 1):
    """A random convolution: geometry, int8 tensors, requantization and activation range."""
    kernel = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    lo = max(1, kernel - 2 * padding)
    h = draw(st.integers(lo, max(lo, max_hw)))
    w = draw(st.integers(lo, max(lo, max_hw)))
    c_in = draw(st.integers(1, max_c_in))
    c_out = draw(st.integers(min_c_out, max_c_out))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(INPUT_KINDS))
    r = np.random.default_rng(seed)
    x = make_input(kind, (1, h, w, c_in), seed)
    weight = r.integers(-127, 128, (c_out, kernel, kernel, c_in), dtype=np.int8)
    if draw(st.booleans()):
        weight[r.random(weight.shape) < 0.3] = 0
    bias_scale = draw(st.sampled_from([0, 100, 10000, 2**24]))
    bias = r.integers(-bias_scale, bias_scale + 1, c_out).astype(np.int32)
    multiplier, shift = draw(requant_params(c_out))
    act_min, act_max = draw(act_range())
    return dict(input=x, input_offset=draw(st.integers(-128, 128)), weight=weight, bias=bias, output_offset=draw(int8s),
                multiplier=multiplier, shift=shift, stride=stride, padding=padding, act_min=act_min,
                act_max=act_max)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
