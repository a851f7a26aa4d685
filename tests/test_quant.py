"""Fixed-point maths against exact Python-integer arithmetic."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from trecsim import quant


def _ref_divide_pot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    rem, res = x & mask, x >> e
    threshold = (mask >> 1) + (1 if res < 0 else 0)
    return res + (1 if rem > threshold else 0)


def _ref_requantize(x: int, m: int, s: int) -> int:
    left, right = max(s, 0), max(-s, 0)
    v = (x << left) & 0xFFFFFFFF
    v = v - (1 << 32) if v >= 1 << 31 else v
    high = (v * m + (1 << 30)) >> 31
    return _ref_divide_pot(high, right)


@given(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False))
def test_quantize_multiplier_represents_the_real_value(real):
    m, s = quant.quantize_multiplier(real)
    if m == 0:
        assert real < 2.0**-31
        return
    assert 2**30 <= m < 2**31
    assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=2**-30)


@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=20),
       st.integers(2**30, 2**31 - 1), st.integers(-31, 4))
def test_requantize_matches_exact_integer_reference(xs, m, s):
    got = quant.requantize(np.array(xs, dtype=np.int32), m, s)
    assert got.tolist() == [_ref_requantize(x, m, s) for x in xs]


@given(st.integers(-(2**40), 2**40), st.integers(0, 40))
def test_divide_by_power_of_two_rounds_half_away_from_zero(x, e):
    if not -(2**31) <= x < 2**31:
        x = x % (2**31)
    got = int(quant.divide_by_power_of_two(x, e))
    assert got == _ref_divide_pot(x, e)
    exact = x / 2**e
    assert abs(got - exact) <= 0.5
    if abs(got - exact) == 0.5:
        assert abs(got) > abs(exact)


@given(st.integers(-(10**6), 10**6), st.integers(1, 5000))
def test_rounding_divide_is_c_style_half_away_from_zero(total, n):
    got = int(quant.rounding_divide(total, n))
    mag = (abs(total) + n // 2) // n  # what the C computes on magnitudes
    assert got == (mag if total >= 0 else -mag)
    assert abs(got - total / n) <= 0.5


def test_activation_qparams_cover_zero_and_the_range():
    scale, zp = quant.activation_qparams(0.0, 6.0)
    assert zp == -128 and math.isclose(scale, 6 / 255)
    scale, zp = quant.activation_qparams(-1.0, 1.0)
    assert -1 <= zp <= 0
    q = quant.quantize_activation(np.array([-1.0, 0.0, 1.0]), scale, zp)
    assert q[1] == zp and q[0] == -128 and q[2] == 127


def test_weights_are_symmetric_per_channel():
    w = np.array([[0.5, -1.0], [0.01, 0.02]])
    q, s = quant.quantize_weights_per_channel(w)
    assert q.tolist() == [[64, -127], [64, 127]]
    assert np.allclose(s, [1 / 127, 0.02 / 127])
