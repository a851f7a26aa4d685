"""TREC convolutions in C (plain and space-efficient) against trecsim.golden, bit for bit,
cluster counts included; the space-efficient ID table is never cleared."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import c_kernels as ck
from fw_strategies import SETTINGS, conv_case, divisors
from trecsim import golden
from trecsim.firmware import hostlib

#: int16 recovery shift for the SE-TREC comparisons (2: narrowing, and saturation on these ranges)
RB = 2

HERE = Path(__file__).resolve().parent
PHASES = ["im2col", "hash", "cluster", "centroid", "centroid_gemm", "recovery", "requantize"]


def _sub_len(data, k: int, extreme: str) -> int:
    if extreme == "one":
        return 1
    if extreme == "k":
        return k
    return data.draw(st.sampled_from(divisors(k)))


@SETTINGS
@given(case=conv_case(), data=st.data(), l_kind=st.sampled_from(["any", "one", "k"]),
       h_kind=st.sampled_from(["any", "one", "max"]))
def test_plain_trec_matches_golden(lib, case, data, l_kind, h_kind):
    w = case["weight"]
    k = w.shape[1] * w.shape[2] * w.shape[3]
    sub_len = _sub_len(data, k, l_kind)
    hash_bits = {"one": 1, "max": 16}.get(h_kind) or data.draw(st.integers(1, 16))
    r = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    hm = r.integers(-128, 128, (sub_len, hash_bits), dtype=np.int8)
    expected, expected_clusters = golden.trec_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits,
                                                          hash_matrix=hm)
    out, clusters = ck.trec_convolve_s8(lib, **case, sub_len=sub_len, hash_bits=hash_bits, hash_matrix=hm)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_array_equal(out, expected)


@SETTINGS
@given(case=conv_case(max_c_out=12), data=st.data(), l_kind=st.sampled_from(["any", "one", "k"]),
       h_kind=st.sampled_from(["any", "one", "max"]))
def test_space_efficient_trec_matches_golden(lib, case, data, l_kind, h_kind):
    w = case["weight"]
    c_out, k = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    sub_len = _sub_len(data, k, l_kind)
    hash_bits = {"one": 1, "max": min(c_out, 16)}.get(h_kind) or data.draw(st.integers(1, min(c_out, 16)))
    expected, expected_clusters = golden.trec_se_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB)
    out, clusters = ck.trec_se_convolve_s8(lib, **case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_array_equal(out, expected)


@SETTINGS
@given(case=conv_case(max_c_out=12), data=st.data())
def test_space_efficient_trec_with_centred_hash_bits_matches_golden(lib, case, data):
    w = case["weight"]
    c_out, k = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    sub_len = _sub_len(data, k, "any")
    hash_bits = data.draw(st.integers(1, min(c_out, 16)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    t = np.random.default_rng(seed).integers(-4000, 4000, (k // sub_len, hash_bits), dtype=np.int32)
    expected, expected_clusters = golden.trec_se_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB,
                                                             thresholds=t)
    out, clusters = ck.trec_se_convolve_s8(lib, **case, sub_len=sub_len, hash_bits=hash_bits, thresholds=t,
                                           recovery_shift=RB)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("se", [False, True], ids=["plain", "se"])
def test_equal_inputs_form_one_cluster(lib, se):
    r = np.random.default_rng(3)
    x = np.full((1, 7, 7, 4), -5, np.int8)
    w = r.integers(-127, 128, (6, 3, 3, 4), dtype=np.int8)
    args = dict(input=x, input_offset=9, weight=w, bias=r.integers(-999, 999, 6).astype(np.int32), output_offset=1,
                multiplier=np.full(6, 1 << 30, np.int32), shift=np.full(6, -6, np.int32), stride=1, padding=0,
                act_min=-128, act_max=127, sub_len=12, hash_bits=5)
    if se:
        out, clusters = ck.trec_se_convolve_s8(lib, **args, recovery_shift=RB)
        expected, _ = golden.trec_se_convolve_s8(**args, recovery_shift=RB)
    else:
        hm = r.integers(-128, 128, (12, 5), dtype=np.int8)
        out, clusters = ck.trec_convolve_s8(lib, **args, hash_matrix=hm)
        expected, _ = golden.trec_convolve_s8(**args, hash_matrix=hm)
    assert clusters.tolist() == [[1, 1, 1]]
    np.testing.assert_array_equal(out, expected)
    # one cluster whose members are all equal: TREC is exactly the dense convolution
    dense_args = {k: v for k, v in args.items() if k not in ("sub_len", "hash_bits")}
    np.testing.assert_array_equal(out, golden.convolve_s8(**dense_args))


def test_wide_layer_with_many_clusters(lib):
    """A CifarNet-conv2-like layer (scaled down): 64 positions, H = 10, L = 10, 40 channels."""
    r = np.random.default_rng(11)
    x = r.integers(-128, 128, (1, 12, 12, 16), dtype=np.int8)
    w = r.integers(-127, 128, (40, 5, 5, 16), dtype=np.int8)
    m = np.full(40, 1_500_000_000, np.int32)
    s = np.full(40, -12, np.int32)
    args = dict(input=x, input_offset=3, weight=w, bias=r.integers(-9999, 9999, 40).astype(np.int32),
                output_offset=-4, multiplier=m, shift=s, stride=1, padding=0, act_min=-20, act_max=127,
                sub_len=10, hash_bits=10)
    out, clusters = ck.trec_se_convolve_s8(lib, **args, recovery_shift=RB)
    expected, expected_clusters = golden.trec_se_convolve_s8(**args, recovery_shift=RB)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_array_equal(out, expected)
    hm = r.integers(-128, 128, (10, 10), dtype=np.int8)
    out, clusters = ck.trec_convolve_s8(lib, **args, hash_matrix=hm)
    expected, expected_clusters = golden.trec_convolve_s8(**args, hash_matrix=hm)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("hw, offset", [(38, -128), (39, 128), (65, -128)])
def test_se_centroid_means_of_large_clusters(lib, hw, offset):
    """Clusters of hundreds of members: N = 1444 (the biased reciprocal's bound is 1448, sums down to -256 per
    member), 1521 (trec_mean's reciprocal) and 4225 (above 4095: the exact division), 1x1 kernel, H = 2."""
    r = np.random.default_rng(hw)
    x = np.where(r.random((1, hw, hw, 4)) < 0.7, -128, r.integers(-128, 128, (1, hw, hw, 4))).astype(np.int8)
    w = r.integers(-127, 128, (5, 1, 1, 4), dtype=np.int8)
    args = dict(input=x, input_offset=offset, weight=w, bias=r.integers(-999, 999, 5).astype(np.int32),
                output_offset=2, multiplier=np.full(5, 1 << 30, np.int32), shift=np.full(5, -5, np.int32), stride=1,
                padding=0, act_min=-128, act_max=127, sub_len=2, hash_bits=2)
    out, clusters = ck.trec_se_convolve_s8(lib, **args, recovery_shift=RB)
    expected, expected_clusters = golden.trec_se_convolve_s8(**args, recovery_shift=RB)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_array_equal(out, expected)


# ------------------------------------------------------------------ the never-cleared ID table


@pytest.fixture(scope="module")
def stats_lib():
    """The kernels built with -DTREC_NN_STATS: counters of ID-table writes and clears."""
    return hostlib.load(defines=["TREC_NN_STATS"])


class _Stats(ctypes.Structure):
    _fields_ = [("table_writes", ctypes.c_uint32), ("table_clears", ctypes.c_uint32)]


def _stats(lib) -> _Stats:
    return _Stats.in_dll(lib, "trec_nn_stats")


@SETTINGS
@given(case=conv_case(min_c_out=2, max_c_out=10), data=st.data(), fill=st.sampled_from(["random", "zeros", "ones",
                                                                                        "stale"]))
def test_se_table_is_never_cleared_and_poison_is_harmless(stats_lib, case, data, fill):
    """The reversed ID table (2^H uint16 at offset 0 of the scratch) is filled with garbage - random
    bytes, all zeros (every ID claims slot 0), all ones, or a previous call's leftovers - and the
    result is still exact. Each sub-matrix writes exactly one table entry per cluster, never 2^H."""
    w = case["weight"]
    c_out, k = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    sub_len = data.draw(st.sampled_from(divisors(k)))
    hash_bits = data.draw(st.integers(1, min(c_out, 16)))
    buf = ck.trec_se_buffer(stats_lib, case["input"].shape, w.shape, case["stride"], case["padding"], sub_len,
                            hash_bits)
    table = buf.view(np.uint16, 1 << hash_bits)
    if fill == "zeros":
        table[:] = 0
    elif fill == "ones":
        table[:] = 0xFFFF
    elif fill == "stale":  # a previous layer's run with a different input left its entries behind
        other = dict(case, input=np.random.default_rng(5).integers(-128, 128, case["input"].shape, dtype=np.int8))
        ck.trec_se_convolve_s8(stats_lib, **other, sub_len=sub_len, hash_bits=hash_bits, buffers=[buf])
    stats = _stats(stats_lib)
    stats.table_writes = stats.table_clears = 0
    out, clusters = ck.trec_se_convolve_s8(stats_lib, **case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB,
                                           buffers=[buf])
    expected, expected_clusters = golden.trec_se_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_array_equal(out, expected)
    assert stats.table_clears == 0
    assert stats.table_writes == int(clusters.sum())


def test_plain_trec_clears_its_dense_table_per_sub_matrix(stats_lib):
    """The contrast: plain TREC's straightforward dense table costs 2^H writes per sub-matrix."""
    r = np.random.default_rng(2)
    x = r.integers(-128, 128, (1, 6, 6, 2), dtype=np.int8)
    w = r.integers(-127, 128, (3, 3, 3, 2), dtype=np.int8)
    hm = r.integers(-128, 128, (6, 8), dtype=np.int8)
    stats = _stats(stats_lib)
    stats.table_writes = stats.table_clears = 0
    _, clusters = ck.trec_convolve_s8(stats_lib, x, 1, w, np.zeros(3, np.int32), 0, np.full(3, 1 << 30, np.int32),
                                      np.full(3, -3, np.int32), 1, 1, -128, 127, 6, 8, hm)
    assert stats.table_clears == 3
    assert stats.table_writes == 3 * 256 + int(clusters.sum())


def test_se_scratch_is_bounded_by_min_positions_and_table(lib):
    """Slots and per-slot state grow with min(N, 2^H); the 2^H table is 2 bytes an entry; no
    S x C_out table: C_out only sizes acc (N x C_out) and the two reusable T rows."""
    n_small_h = lib.trec_se_convolve_s8_get_buffer_size(32, 32, 3, 16, 3, 1, 1, 9, 4)  # N = 1024, 2^H = 16
    n_large_h = lib.trec_se_convolve_s8_get_buffer_size(32, 32, 3, 16, 3, 1, 1, 9, 12)  # 2^H = 4096 > N
    # from H = 4 to H = 12 the table grows by 2 * (4096 - 16) bytes; slots (<= N = 1024) by
    # (1024 - 16) * (sums 10 * 4 + slot_id 2 + count 2), and nothing else
    assert n_large_h - n_small_h == 2 * (4096 - 16) + (1024 - 16) * (10 * 4 + 4)
    for bits in (4, 12):  # doubling C_out adds N x 16 int16 of acc (int16 recovery), whatever S is (T rows share
        # the chunk's bytes), and 16 more widened weight rows of L2 = 10 int16 (wq)
        wide = lib.trec_se_convolve_s8_get_buffer_size(32, 32, 3, 32, 3, 1, 1, 9, bits)
        assert wide - lib.trec_se_convolve_s8_get_buffer_size(32, 32, 3, 16, 3, 1, 1, 9, bits) == 1024 * 16 * 2 + 16 * 10 * 2
    plain = lib.trec_convolve_s8_get_buffer_size(32, 32, 3, 16, 3, 1, 1, 9, 12)
    assert plain > n_large_h  # the straightforward version holds the whole N x K im2col


# ------------------------------------------------------------------ phase hooks


@pytest.fixture(scope="module")
def hooked_lib():
    """The kernels with the hooks of phase_hooks.h, named the way firmware names its DWT timers."""
    return hostlib.load(defines=['TREC_PROFILE_HEADER="phase_hooks.h"'],
                        extra_sources=[HERE / "phase_hooks.c", HERE / "phase_hooks.h"], extra_flags=[f"-I{HERE}"])


@pytest.mark.parametrize("se", [False, True], ids=["plain", "se"])
def test_phase_hooks_bracket_every_phase(hooked_lib, se):
    begins = (ctypes.c_int32 * 8).in_dll(hooked_lib, "trec_test_phase_begins")
    ends = (ctypes.c_int32 * 8).in_dll(hooked_lib, "trec_test_phase_ends")
    errors = ctypes.c_int32.in_dll(hooked_lib, "trec_test_phase_errors")
    for i in range(8):
        begins[i] = ends[i] = 0
    errors.value = 0
    r = np.random.default_rng(4)
    x = r.integers(-128, 128, (1, 5, 5, 3), dtype=np.int8)
    w = r.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    args = (x, 0, w, np.zeros(4, np.int32), 0, np.full(4, 1 << 30, np.int32), np.full(4, -5, np.int32), 1, 0,
            -128, 127, 9, 3)
    if se:
        _, clusters = ck.trec_se_convolve_s8(hooked_lib, *args)
    else:
        ck.trec_convolve_s8(hooked_lib, *args, r.integers(-128, 128, (9, 3), dtype=np.int8))
    n_sub = 27 // 9
    # the space-efficient kernel interleaves the centroid GEMM and the recovery per pair of
    # clusters (no S x C_out table), bracketing each part of each pair
    per_cluster = int(((clusters + 1) // 2).sum()) if se else n_sub
    assert errors.value == 0
    counts = dict(zip(PHASES, begins[:7]))
    assert list(begins[:8]) == list(ends[:8])
    assert counts == {"im2col": n_sub if se else 1, "hash": n_sub, "cluster": n_sub, "centroid": n_sub,
                      "centroid_gemm": per_cluster, "recovery": per_cluster, "requantize": 1}
    if se:
        assert per_cluster > n_sub  # the 9 positions fall into more than 2 clusters in some sub-matrix


# ------------------------------------------------------------------ argument errors


def test_configuration_errors_are_refused(lib):
    r = np.random.default_rng(0)
    x = r.integers(-128, 128, (1, 5, 5, 3), dtype=np.int8)
    w = r.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    zeros = np.zeros(4, np.int32)
    buf = np.zeros(1 << 20, np.uint32)
    out = np.zeros(64, np.int8)
    hm = np.zeros(64, np.int8)

    def se(sub_len, hash_bits):
        return lib.trec_se_convolve_s8(x.ctypes.data, 5, 5, 3, 0, w.ctypes.data, 4, 3, None, 0, zeros.ctypes.data,
                                       zeros.ctypes.data, 1, 0, -128, 127, sub_len, hash_bits, None, 0,
                                       buf.ctypes.data, out.ctypes.data, None)

    def plain(sub_len, hash_bits):
        return lib.trec_convolve_s8(x.ctypes.data, 5, 5, 3, 0, w.ctypes.data, 4, 3, None, 0, zeros.ctypes.data,
                                    zeros.ctypes.data, 1, 0, -128, 127, sub_len, hash_bits, hm.ctypes.data,
                                    buf.ctypes.data, out.ctypes.data, None)

    assert se(10, 3) == -1  # L does not divide K = 27
    assert se(9, 5) == -1  # kernel reuse needs H <= C_out = 4
    assert plain(9, 17) == -1  # H > 16
    assert plain(9, 0) == -1
    assert not out.any()
    assert se(9, 4) == 0 and plain(27, 16) == 0  # NULL clusters output is allowed
