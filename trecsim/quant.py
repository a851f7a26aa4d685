"""Fixed-point maths shared by export, the golden model and (in C) the firmware.

Integer semantics, exactly as the C kernels implement them (CMSIS-NN's
``arm_nn_requantize`` without single rounding, TFLite Micro's reference maths):

* ``quantize_multiplier(real)`` -> ``(multiplier, shift)`` with
  ``real ~= multiplier * 2**(shift - 31)``, multiplier in [2**30, 2**31) (or 0).
* ``doubling_high_mult_no_sat(a, b) = (int32)(((int64)a * b + 2**30) >> 31)``
  (arithmetic shift, i.e. floor; CMSIS-NN's no-saturation variant; a = b = INT32_MIN
  cannot occur because multipliers are positive).
* ``divide_by_power_of_two(x, e)``: rounding right shift, ties away from zero.
* ``requantize(x, multiplier, shift)``: left shift ``max(shift, 0)`` as a wrapping
  32-bit shift (C: ``(int32_t)((uint32_t)x << s)``), then the doubling high multiply,
  then ``divide_by_power_of_two`` by ``max(-shift, 0)``.
* ``rounding_divide(sum, n)``: integer mean rounded half away from zero,
  ``sum >= 0 ? (sum + n/2) / n : -((-sum + n/2) / n)`` with C's truncating division.
  Used for TREC centroids and average pooling.

All functions take NumPy integer arrays (any shape, broadcasting) or Python ints.
Activations: real = scale * (q - zero_point), q in [-128, 127].
Weights: symmetric per output channel, q in [-127, 127].
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Real multiplier -> (int32 multiplier, shift) with real ~= m * 2^(shift-31)."""
    if real < 0 or not math.isfinite(real):
        raise ValueError(f"multiplier must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, 0
    mant, exp = math.frexp(real)  # real = mant * 2^exp, mant in [0.5, 1)
    q = int(round(mant * (1 << 31)))
    if q == 1 << 31:
        q //= 2
        exp += 1
    if exp < -31:  # too small to represent: the product rounds to zero anyway
        return 0, 0
    if exp > 30:
        raise ValueError(f"multiplier {real} too large for a 32-bit shift")
    return q, exp


def _as_i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def doubling_high_mult_no_sat(a, b) -> np.ndarray:
    """(int32)(((int64)a * b + 2^30) >> 31)."""
    return ((_as_i64(a) * _as_i64(b) + (1 << 30)) >> 31).astype(np.int32)


def divide_by_power_of_two(x, exponent) -> np.ndarray:
    """Rounding arithmetic right shift, ties away from zero (arm_nn_divide_by_power_of_two)."""
    x = _as_i64(x)
    e = _as_i64(exponent)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    result = x >> e
    threshold = (mask >> 1) + (result < 0)
    return (result + (remainder > threshold)).astype(np.int32)


def wrap_int32(x) -> np.ndarray:
    """Two's-complement wrap of an integer array to int32 (what the C's uint32 arithmetic does)."""
    return ((_as_i64(x) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def requantize(x, multiplier, shift) -> np.ndarray:
    """arm_nn_requantize: int32 accumulator -> int32 in the output scale (before the zero point)."""
    shift = _as_i64(shift)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(_as_i64(x) << left)
    return divide_by_power_of_two(doubling_high_mult_no_sat(shifted, multiplier), right)


def rounding_divide(total, count) -> np.ndarray:
    """Integer mean, ties away from zero; count > 0. C: truncating division on magnitudes."""
    total = _as_i64(total)
    count = _as_i64(count)
    magnitude = (np.abs(total) + count // 2) // count
    return np.where(total >= 0, magnitude, -magnitude)


#: int16 recovery (space-efficient TREC): an accumulator term is truncated to at most 1/16 of an
#: output step of the channel with the largest requantization scale, and never by more than 12 bits
RECOVERY_GUARD_BITS = 4
RECOVERY_MAX_SHIFT = 12


def recovery_shift(multiplier, shift) -> int:
    """rb of a layer's int16 recovery: the largest shift with 2**rb * max_c(M_c) <= 2**-4.

    M_c = multiplier[c] * 2**(shift[c] - 31) is the real requantization scale of channel c, so a
    term floor(T / 2**rb) loses less than 1/16 of the finest output step; 0 <= rb <= 12. One
    function for the golden model and the code generator (TREC.md-style description: README,
    "Method changes: int16 recovery").
    """
    m = np.asarray(multiplier, dtype=np.float64) * np.exp2(np.asarray(shift, dtype=np.float64) - 31)
    top = float(m.max(initial=0.0))
    if top <= 0.0:
        return RECOVERY_MAX_SHIFT
    rb = math.floor(-math.log2(top)) - RECOVERY_GUARD_BITS
    return int(min(max(rb, 0), RECOVERY_MAX_SHIFT))


def recovery_bias(bias, n_sub: int, rb: int) -> np.ndarray:
    """int64 bias of an int16-recovery layer: bias + n_sub * (2**rb - 1) // 2, the mean of what the
    n_sub floor truncations drop (0 where rb = 0)."""
    return np.asarray(bias, dtype=np.int64) + ((int(n_sub) * ((1 << int(rb)) - 1)) >> 1)


def activation_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero_point) covering [min(lo, 0), max(hi, 0)]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = (hi - lo) / 255.0
    zero_point = int(round(INT8_MIN - lo / scale))
    return scale, int(np.clip(zero_point, INT8_MIN, INT8_MAX))


def quantize_weights_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float weights (C_out, ...) -> (int8 weights, per-channel scales), symmetric in [-127, 127]."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    max_abs = np.abs(flat).max(axis=1)
    scales = np.where(max_abs > 0, max_abs / 127.0, 1.0)
    q = np.clip(np.round(flat / scales[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scales


def quantize_activation(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return np.clip(np.round(x / scale) + zero_point, INT8_MIN, INT8_MAX).astype(np.int8)
