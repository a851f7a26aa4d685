"""Dense convolution: the C reference and the optimized (2x2 SMLAD, host-modelled DSP) kernels
against trecsim.golden.convolve_s8, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import c_kernels as ck
from fw_strategies import SETTINGS, conv_case, requant_params
from trecsim import golden

VARIANTS = ["convolve_s8", "convolve_s8_ref"]


@pytest.mark.parametrize("variant", VARIANTS)
@SETTINGS
@given(case=conv_case())
def test_convolution_matches_golden(lib, variant, case):
    expected = golden.convolve_s8(**case)
    np.testing.assert_array_equal(ck.convolve_s8(lib, **case, variant=variant), expected)


@pytest.mark.parametrize("variant", VARIANTS)
@SETTINGS
@given(case=conv_case(max_hw=6, max_c_in=37, max_c_out=12), data=st.data())
def test_pointwise_fast_path_matches_golden(lib, variant, case, data):
    """1x1, stride 1, no padding: no im2col, int8 x int8 with the offset folded into the bias."""
    r = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    c_out, c_in = case["weight"].shape[0], case["input"].shape[-1]
    case.update(stride=1, padding=0, weight=r.integers(-127, 128, (c_out, 1, 1, c_in), dtype=np.int8))
    expected = golden.convolve_s8(**case)
    np.testing.assert_array_equal(ck.convolve_s8(lib, **case, variant=variant), expected)


def test_pointwise_buffer_holds_the_folded_bias(lib):
    assert lib.convolve_s8_get_buffer_size(16, 10, 1, 1, 0) == 10 * 4
    assert lib.convolve_s8_get_buffer_size(16, 10, 1, 2, 0) == 2 * 16 * 2  # strided 1x1 takes im2col
    assert lib.convolve_s8_get_buffer_size(3, 10, 3, 1, 1) == 2 * 28 * 2  # K = 27 rounded up to even


@pytest.mark.parametrize("variant", VARIANTS)
def test_extreme_values_match_golden(lib, variant):
    """Largest |v * w| products (v = 255, w = -128 is outside the symmetric range, w = +-127 used)."""
    r = np.random.default_rng(7)
    for x_val, offset in ((127, 128), (-128, -127), (-128, 128)):
        x = np.full((1, 5, 5, 6), x_val, np.int8)
        w = r.choice(np.array([-127, 127], np.int8), (5, 3, 3, 6))
        m, s = np.full(5, 1 << 30, np.int32), np.full(5, -8, np.int32)
        args = dict(input=x, input_offset=offset, weight=w, bias=np.zeros(5, np.int32), output_offset=3,
                    multiplier=m, shift=s, stride=1, padding=1, act_min=-128, act_max=127)
        np.testing.assert_array_equal(ck.convolve_s8(lib, **args, variant=variant), golden.convolve_s8(**args))


def test_bad_geometry_is_refused(lib):
    x = np.zeros(4 * 4 * 2, np.int8)
    w = np.zeros(3 * 5 * 5 * 2, np.int8)
    zeros = np.zeros(3, np.int32)
    out = np.zeros(64, np.int8)
    buf = np.zeros(1024, np.uint32)
    rc = lib.convolve_s8(x.ctypes.data, 4, 4, 2, 0, w.ctypes.data, 3, 5, None, 0, zeros.ctypes.data,
                         zeros.ctypes.data, 1, 0, -128, 127, buf.ctypes.data, out.ctypes.data)
    assert rc == -1  # a 5x5 kernel does not fit a 4x4 input without padding
    assert not out.any()


@SETTINGS
@given(params=requant_params(8), data=st.data())
def test_null_bias_means_zero(lib, params, data):
    r = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = r.integers(-128, 128, (1, 6, 6, 3), dtype=np.int8)
    w = r.integers(-127, 128, (8, 3, 3, 3), dtype=np.int8)
    m, s = params
    expected = golden.convolve_s8(x, 5, w, np.zeros(8, np.int32), -3, m, s, 1, 1, -128, 127)
    out = np.empty((6, 6, 8), np.int8)
    buf = np.empty(lib.convolve_s8_get_buffer_size(3, 8, 3, 1, 1) // 4 + 1, np.uint32)
    assert lib.convolve_s8(x.ctypes.data, 6, 6, 3, 5, w.ctypes.data, 8, 3, None, -3, m.ctypes.data, s.ctypes.data,
                           1, 1, -128, 127, buf.ctypes.data, out.ctypes.data) == 0
    np.testing.assert_array_equal(out, expected[0])


@pytest.mark.parametrize("kernel,padding", [(5, 0), (3, 1), (5, 2)])
@pytest.mark.parametrize("input_offset", [-128, -127, 0, 37, 128])
def test_first_layer_shapes_match_golden(lib, kernel, padding, input_offset):
    """3 input channels (K = 27 or 75, K % 4 = 3): the staged im2col (padding byte -input_offset,
    used for offsets in [-127, 128]) and the run-based one (-128), an odd channel count and an odd
    number of positions (7 x 7)."""
    r = np.random.default_rng(input_offset & 0xFF)
    x = r.integers(-128, 128, (1, 7 + 4 - 2 * padding if kernel == 5 else 7, 7 + 4 - 2 * padding if kernel == 5
                               else 7, 3), dtype=np.int8)
    w = r.integers(-127, 128, (9, kernel, kernel, 3), dtype=np.int8)
    m = r.integers(1 << 30, (1 << 31) - 1, 9).astype(np.int32)
    s = r.integers(-10, 2, 9).astype(np.int32)
    args = dict(input=x, input_offset=input_offset, weight=w, bias=r.integers(-5000, 5000, 9).astype(np.int32),
                output_offset=-7, multiplier=m, shift=s, stride=1, padding=padding, act_min=-100, act_max=120)
    np.testing.assert_array_equal(ck.convolve_s8(lib, **args), golden.convolve_s8(**args))
