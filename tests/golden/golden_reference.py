"""Slow, obviously-correct references for the golden kernels: Python loops and Python ints.

Written from the definitions (TREC.md, trecsim.quant's docstring), not from the
vectorised code: rounding is done on exact fractions.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def round_half_away(f: Fraction) -> int:
    magnitude = math.floor(abs(f) + Fraction(1, 2))
    return magnitude if f >= 0 else -magnitude


def wrap32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >= 1 << 31 else x


def requantize(x: int, multiplier: int, shift: int) -> int:
    """x * multiplier * 2**(shift - 31) with CMSIS-NN's two roundings, from the definitions."""
    left, right = max(shift, 0), max(-shift, 0)
    x = wrap32(x * (1 << left))
    high = math.floor(Fraction(x * multiplier, 1 << 31) + Fraction(1, 2))  # doubling high mult, round half up
    high = wrap32(high)
    return round_half_away(Fraction(high, 1 << right))


def rounding_divide(total: int, count: int) -> int:
    return round_half_away(Fraction(total, count))


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def _out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def patch(x, n: int, oh: int, ow: int, k: int, stride: int, pad: int, input_offset: int) -> list[int]:
    """(kh, kw, c_in)-ordered patch of x + input_offset; padding contributes 0."""
    _, h, w, c = x.shape
    out = []
    for i in range(k):
        for j in range(k):
            y, z = oh * stride + i - pad, ow * stride + j - pad
            for ch in range(c):
                out.append(int(x[n, y, z, ch]) + input_offset if 0 <= y < h and 0 <= z < w else 0)
    return out


def finish(acc: int, multiplier: int, shift: int, output_offset: int, act_min: int, act_max: int) -> int:
    return clamp(requantize(acc, multiplier, shift) + output_offset, act_min, act_max)


def conv(x, input_offset, weight, bias, output_offset, multiplier, shift, stride, pad, act_min, act_max):
    n_img, h, w, _ = x.shape
    c_out, k = weight.shape[0], weight.shape[1]
    ho, wo = _out(h, k, stride, pad), _out(w, k, stride, pad)
    wmat = [[int(v) for v in weight[c].reshape(-1)] for c in range(c_out)]
    out = np.zeros((n_img, ho, wo, c_out), dtype=np.int8)
    for n in range(n_img):
        for oh in range(ho):
            for ow in range(wo):
                p = patch(x, n, oh, ow, k, stride, pad, input_offset)
                for c in range(c_out):
                    acc = int(bias[c]) + sum(a * b for a, b in zip(p, wmat[c]))
                    out[n, oh, ow, c] = finish(acc, int(multiplier[c]), int(shift[c]), output_offset, act_min, act_max)
    return out


def se_hash_matrices(weight, sub_len: int, hash_bits: int) -> list[list[list[int]]]:
    """R_m[l][j] = weight_khwc[j][m*L + l] for every sub-matrix m."""
    wmat = weight.reshape(weight.shape[0], -1)
    m_count = wmat.shape[1] // sub_len
    return [[[int(wmat[j, m * sub_len + l]) for j in range(hash_bits)] for l in range(sub_len)]
            for m in range(m_count)]


def trec(x, input_offset, weight, bias, output_offset, multiplier, shift, stride, pad, act_min, act_max,
         sub_len, hash_bits, hash_per_sub, thresholds=None, recovery_shift=None):
    """TREC as TREC.md states it, with an explicit hash matrix (L x H) per sub-matrix and, for
    centred hash bits, thresholds[m][j] (else 0). With ``recovery_shift`` rb, int16 recovery:
    acc16 = sat16(acc16 + sat16(floor(T / 2**rb))) per term, in sub-matrix order, and the output is
    finish(wrap32((acc16 << rb) + bias + n_sub * (2**rb - 1) // 2)).

    Returns (output, clusters (N, M)).
    """
    n_img, h, w, _ = x.shape
    c_out, k = weight.shape[0], weight.shape[1]
    ho, wo = _out(h, k, stride, pad), _out(w, k, stride, pad)
    wmat = [[int(v) for v in weight[c].reshape(-1)] for c in range(c_out)]
    kk = len(wmat[0])
    m_count = kk // sub_len
    out = np.zeros((n_img, ho, wo, c_out), dtype=np.int8)
    clusters = np.zeros((n_img, m_count), dtype=np.int32)
    for n in range(n_img):
        patches = [patch(x, n, oh, ow, k, stride, pad, input_offset) for oh in range(ho) for ow in range(wo)]
        acc = [[int(bias[c]) if recovery_shift is None else 0 for c in range(c_out)] for _ in patches]
        for m in range(m_count):
            r = hash_per_sub[m]
            subs = [p[m * sub_len:(m + 1) * sub_len] for p in patches]
            groups: dict[int, list[int]] = {}
            for pos, s in enumerate(subs):
                ident = 0
                for j in range(hash_bits):
                    t = 0 if thresholds is None else int(thresholds[m][j])
                    if sum(s[l] * r[l][j] for l in range(sub_len)) > t:
                        ident |= 1 << j
                groups.setdefault(ident, []).append(pos)
            clusters[n, m] = len(groups)
            for members in groups.values():
                centroid = [rounding_divide(sum(subs[p][l] for p in members), len(members)) for l in range(sub_len)]
                for c in range(c_out):
                    t = sum(centroid[l] * wmat[c][m * sub_len + l] for l in range(sub_len))
                    for p in members:
                        if recovery_shift is None:
                            acc[p][c] += t
                        else:
                            acc[p][c] = max(-32768, min(32767, acc[p][c] + max(-32768, min(32767, t >> recovery_shift))))
        if recovery_shift is not None:
            corr = (m_count * ((1 << recovery_shift) - 1)) >> 1
            acc = [[wrap32((a << recovery_shift) + int(bias[c]) + corr) for c, a in enumerate(row)] for row in acc]
        for pos in range(len(patches)):
            oh, ow = divmod(pos, wo)
            for c in range(c_out):
                out[n, oh, ow, c] = finish(acc[pos][c], int(multiplier[c]), int(shift[c]), output_offset,
                                           act_min, act_max)
    return out, clusters


def fully_connected(x, input_offset, weight, bias, output_offset, multiplier, shift, act_min, act_max):
    n_img, f_in = x.shape
    out = np.zeros((n_img, weight.shape[0]), dtype=np.int8)
    for n in range(n_img):
        for o in range(weight.shape[0]):
            acc = int(bias[o]) + sum((int(x[n, i]) + input_offset) * int(weight[o, i]) for i in range(f_in))
            out[n, o] = finish(acc, int(multiplier[o]), int(shift[o]), output_offset, act_min, act_max)
    return out


def pool(x, kernel, stride, act_min, act_max, kind):
    n_img, h, w, c = x.shape
    ho, wo = _out(h, kernel, stride, 0), _out(w, kernel, stride, 0)
    out = np.zeros((n_img, ho, wo, c), dtype=np.int8)
    for n in range(n_img):
        for oh in range(ho):
            for ow in range(wo):
                for ch in range(c):
                    vals = [int(x[n, oh * stride + i, ow * stride + j, ch]) for i in range(kernel) for j in range(kernel)]
                    v = max(vals) if kind == "max" else rounding_divide(sum(vals), len(vals))
                    out[n, oh, ow, ch] = clamp(v, act_min, act_max)
    return out


def global_avg_pool(x, act_min, act_max):
    n_img, h, w, c = x.shape
    out = np.zeros((n_img, c), dtype=np.int8)
    for n in range(n_img):
        for ch in range(c):
            total = sum(int(v) for v in x[n, :, :, ch].reshape(-1))
            out[n, ch] = clamp(rounding_divide(total, h * w), act_min, act_max)
    return out


def elementwise_add(x1, x2, off1, m1, s1, off2, m2, s2, left_shift, out_off, m_out, s_out, act_min, act_max):
    flat1, flat2 = x1.reshape(-1), x2.reshape(-1)
    out = np.zeros(flat1.shape, dtype=np.int8)
    for i in range(flat1.size):
        a = requantize(wrap32((int(flat1[i]) + off1) * (1 << left_shift)), m1, s1)
        b = requantize(wrap32((int(flat2[i]) + off2) * (1 << left_shift)), m2, s2)
        out[i] = clamp(requantize(wrap32(a + b), m_out, s_out) + out_off, act_min, act_max)
    return out.reshape(x1.shape)
