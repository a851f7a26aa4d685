"""Fully connected, pooling, relu, concat, elementwise add and requantize in C against
trecsim.golden, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import c_kernels as ck
from fw_strategies import INPUT_KINDS, SETTINGS, act_range, int8s, make_input, requant_params
from trecsim import golden, quant


@pytest.mark.parametrize("variant", ["fully_connected_s8", "fully_connected_s8_ref"])
@SETTINGS
@given(f_in=st.integers(1, 70), f_out=st.integers(1, 13), kind=st.sampled_from(INPUT_KINDS),
       seed=st.integers(0, 2**32 - 1), offsets=st.tuples(st.integers(-128, 128), int8s), act=act_range(),
       data=st.data())
def test_fully_connected_matches_golden(lib, variant, f_in, f_out, kind, seed, offsets, act, data):
    r = np.random.default_rng(seed)
    x = make_input(kind, (1, f_in), seed)
    w = r.integers(-127, 128, (f_out, f_in), dtype=np.int8)
    bias = r.integers(-50000, 50001, f_out).astype(np.int32)
    m, s = data.draw(requant_params(f_out))
    args = (x, offsets[0], w, bias, offsets[1], m, s, *act)
    np.testing.assert_array_equal(ck.fully_connected_s8(lib, *args, variant=variant),
                                  golden.fully_connected_s8(*args))


@st.composite
def pool_case(draw):
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(kernel, 9))
    w = draw(st.integers(kernel, 9))
    c = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    x = make_input(draw(st.sampled_from(INPUT_KINDS)), (1, h, w, c), seed)
    return x, kernel, stride, *draw(act_range())


@SETTINGS
@given(case=pool_case())
def test_max_pool_matches_golden(lib, case):
    np.testing.assert_array_equal(ck.max_pool_s8(lib, *case), golden.max_pool_s8(*case))


@SETTINGS
@given(case=pool_case())
def test_avg_pool_matches_golden(lib, case):
    np.testing.assert_array_equal(ck.avg_pool_s8(lib, *case), golden.avg_pool_s8(*case))


def test_avg_pool_rounds_ties_away_from_zero(lib):
    x = np.array([[[[1], [0]], [[0], [1]]], [[[-1], [0]], [[0], [-1]]]], np.int8)  # means 0.5 and -0.5
    out = np.concatenate([ck.avg_pool_s8(lib, x[i:i + 1], 2, 2, -128, 127) for i in range(2)])
    assert out.ravel().tolist() == [1, -1]
    np.testing.assert_array_equal(out, golden.avg_pool_s8(x, 2, 2, -128, 127))


@SETTINGS
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 9), kind=st.sampled_from(INPUT_KINDS),
       seed=st.integers(0, 2**32 - 1), act=act_range())
def test_global_avg_pool_matches_golden(lib, h, w, c, kind, seed, act):
    x = make_input(kind, (1, h, w, c), seed)
    np.testing.assert_array_equal(ck.global_avg_pool_s8(lib, x, *act), golden.global_avg_pool_s8(x, *act))


@SETTINGS
@given(size=st.integers(0, 40), zero_point=st.integers(-200, 127), seed=st.integers(0, 2**32 - 1),
       in_place=st.booleans())
def test_relu_matches_golden(lib, size, zero_point, seed, in_place):
    x = make_input("random", (size,), seed)
    np.testing.assert_array_equal(ck.relu_s8(lib, x, zero_point, in_place=in_place), golden.relu_s8(x, zero_point))


@SETTINGS
@given(positions=st.integers(1, 12), channels=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       seed=st.integers(0, 2**32 - 1))
def test_concat_matches_golden(lib, positions, channels, seed):
    r = np.random.default_rng(seed)
    inputs = [r.integers(-128, 128, (1, positions, 1, c), dtype=np.int8) for c in channels]
    np.testing.assert_array_equal(ck.concat_s8(lib, inputs), golden.concat_s8(inputs))


@st.composite
def add_params(draw):
    """Parameters as a TFLite converter derives them: left shift 20, input scales over twice the max."""
    s1, s2, s_out = (draw(st.floats(1e-3, 1.0)) for _ in range(3))
    left_shift = draw(st.sampled_from([0, 7, 20]))
    twice_max = 2 * max(s1, s2)
    m1, sh1 = quant.quantize_multiplier(s1 / twice_max)
    m2, sh2 = quant.quantize_multiplier(s2 / twice_max)
    mo, sho = quant.quantize_multiplier(twice_max / ((1 << left_shift) * s_out))
    off1, off2 = draw(st.integers(-128, 128)), draw(st.integers(-128, 128))
    lo, hi = draw(act_range())
    return off1, m1, sh1, off2, m2, sh2, left_shift, draw(int8s), mo, sho, lo, hi


@SETTINGS
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 7)), params=add_params(),
       seed=st.integers(0, 2**32 - 1))
def test_elementwise_add_matches_golden(lib, shape, params, seed):
    r = np.random.default_rng(seed)
    x1 = r.integers(-128, 128, (1, *shape), dtype=np.int8)
    x2 = r.integers(-128, 128, (1, *shape), dtype=np.int8)
    np.testing.assert_array_equal(ck.elementwise_add_s8(lib, x1, x2, *params),
                                  golden.elementwise_add_s8(x1, x2, *params))


@SETTINGS
@given(params=add_params(), seed=st.integers(0, 2**32 - 1))
def test_elementwise_add_tabulated_matches_golden(lib, params, seed):
    """From 1024 elements on the kernel tabulates its input requantizations: every int8 value of
    both inputs occurs (2048 elements, a shuffled pair of full ranges)."""
    r = np.random.default_rng(seed)
    full = np.tile(np.arange(-128, 128, dtype=np.int8), 8)
    x1 = r.permutation(full).reshape(1, 8, 16, 16)
    x2 = r.permutation(full).reshape(1, 8, 16, 16)
    np.testing.assert_array_equal(ck.elementwise_add_s8(lib, x1, x2, *params),
                                  golden.elementwise_add_s8(x1, x2, *params))


@SETTINGS
@given(rows=st.integers(1, 6), channels=st.integers(1, 9), seed=st.integers(0, 2**32 - 1), data=st.data(),
       magnitude=st.sampled_from([100, 2**20, 2**31 - 1]), out_offset=int8s, act=act_range())
def test_requantize_matches_golden(lib, rows, channels, seed, data, magnitude, out_offset, act):
    """Accumulators up to the full int32 range: the wrapping left shift must match quant.requantize."""
    r = np.random.default_rng(seed)
    acc = r.integers(-magnitude, magnitude, (rows, channels), dtype=np.int64).astype(np.int32)
    m, s = data.draw(requant_params(channels))
    np.testing.assert_array_equal(ck.requantize_s8(lib, acc, m, s, out_offset, *act),
                                  golden.requantize_s8(acc, m, s, out_offset, *act))


def test_reciprocal_centroid_means_are_exact_for_every_count_up_to_4095():
    """trec_mean (trec_nn_math.h): floor(x * r / 2^32) == floor(x / c), r = floor((2^32 - 1) / c) + 1,
    for every count 2 <= c <= 4095 and the largest x a centroid sum can give (|s| <= 255 c, x = |s| + c // 2),
    plus the c values below each multiple of c near the top, where the fraction of x / c is largest."""
    for c in range(2, 4096):
        r = np.uint64(0xFFFFFFFF // c + 1)
        top = 255 * c + c // 2
        x = np.unique(np.concatenate([np.arange(max(0, top - 2 * c), top + 1), (np.arange(1, 256) * c - 1)]))
        x = x[(x >= 0) & (x <= top)].astype(np.uint64)
        np.testing.assert_array_equal((x * r) >> np.uint64(32), x // np.uint64(c))


def _biased_mean(s, c):
    """trec_mean_biased (trec_nn_math.h) in NumPy, minus the bias: floor((2s + (s >> 31) + 513c) * r / 2^32) - 256,
    r = floor((2^32 - 1) / 2c) + 1, in uint64 arithmetic (s int64 array, c one count)."""
    bias = 256
    r = np.uint64(0xFFFFFFFF // (2 * c) + 1)
    x = (2 * s + (s >> 63) + (2 * bias + 1) * c).astype(np.uint64)
    return ((x * r) >> np.uint64(32)).astype(np.int64) - bias


def test_biased_reciprocal_centroid_means_are_exact_for_every_count_up_to_1448():
    """trec_mean_biased (trec_nn_math.h, the SE-TREC centroid loop): rounding_divide(s, c) for |s| <= 256c.
    The identity rounding_divide(s, c) = floor((2s + c + [s < 0 ? -1 : 0]) / 2c) for every s in [-256c, 256c]
    and c <= 40; the reciprocal of 2c exact (floor(x r / 2^32) = floor(x / 2c)) for every c <= 1448 on the
    numerators with the largest fraction of each quotient (x = 2c q + 2c - 1) up to the largest, x = 1023c, and
    on the top; end to end on random sums and the extremes for every c (the bound 2046 c^2 < 2^32 is sufficient,
    not tight: the first count whose reciprocal fails is 1509)."""
    for c in range(1, 41):
        s = np.arange(-256 * c, 256 * c + 1, dtype=np.int64)
        np.testing.assert_array_equal(_biased_mean(s, c), quant.rounding_divide(s, c))
    rng = np.random.default_rng(0)
    for c in range(1, 1449):
        d = 2 * c
        r = np.uint64(0xFFFFFFFF // d + 1)
        top = 1023 * c
        x = np.concatenate([np.arange(d - 1, top + 1, d), np.arange(max(0, top - 2 * d), top + 1)]).astype(np.uint64)
        np.testing.assert_array_equal((x * r) >> np.uint64(32), x // np.uint64(d))
        s = np.concatenate([rng.integers(-256 * c, 255 * c + 1, 64), [-256 * c, 255 * c, 0, -1, 1]]).astype(np.int64)
        np.testing.assert_array_equal(_biased_mean(s, c), quant.rounding_divide(s, c))
