"""The golden kernels against slow Python-int references (golden_reference.py), shapes from hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import golden_reference as ref
from trecsim import quant
from trecsim.errors import ConfigError
from trecsim.golden import (
    avg_pool_s8,
    concat_s8,
    convolve_s8,
    elementwise_add_s8,
    fully_connected_s8,
    global_avg_pool_s8,
    max_pool_s8,
    relu_s8,
    requantize_s8,
    trec_convolve_s8,
    trec_se_convolve_s8,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
int8s = st.integers(-128, 127)


def rng_of(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


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
    r = rng_of(seed)
    if kind == "equal":
        return np.full(shape, r.integers(-128, 128), dtype=np.int8)
    if kind == "distinct":  # every element different (shapes here hold at most 256 elements)
        size = int(np.prod(shape))
        return (r.permutation(256)[:size] - 128).astype(np.int8).reshape(shape)
    return r.integers(-128, 128, shape, dtype=np.int8)


@st.composite
def conv_case(draw, max_c_out: int = 5):
    """A small convolution: geometry, int8 data, offsets, bias, requantization, activation range."""
    n = draw(st.integers(1, 2))
    pad = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 2))
    h = draw(st.integers(1, 6))
    w = draw(st.integers(1, 6))
    k = draw(st.integers(1, min(5, h + 2 * pad, w + 2 * pad)))
    c_in = draw(st.sampled_from([1, 2, 3, 4, 5]))
    c_out = draw(st.integers(1, max_c_out))
    assume(n * h * w * c_in <= 256)
    kind = draw(st.sampled_from(["random", "equal", "distinct"]))
    seed = draw(st.integers(0, 2**32 - 1))
    r = rng_of(seed)
    x = make_input(kind, (n, h, w, c_in), seed)
    weight = r.integers(-127, 128, (c_out, k, k, c_in), dtype=np.int8)
    bias_scale = draw(st.sampled_from([0, 100, 10_000, 1 << 20]))
    bias = r.integers(-bias_scale, bias_scale + 1, c_out).astype(np.int32)
    mult, shift = draw(requant_params(c_out))
    lo, hi = draw(act_range())
    return dict(input=x, input_offset=draw(int8s), weight=weight, bias=bias, output_offset=draw(int8s),
                multiplier=mult, shift=shift, stride=stride, padding=pad, act_min=lo, act_max=hi), seed


def conv_args(case):
    c = case
    return (c["input"], c["input_offset"], c["weight"], c["bias"], c["output_offset"], c["multiplier"], c["shift"],
            c["stride"], c["padding"], c["act_min"], c["act_max"])


# --------------------------------------------------------------------------- fixed-point maths


@given(x=st.integers(-(2**31), 2**31 - 1), real=st.floats(1e-4, 2.0, exclude_max=True))
@settings(max_examples=500, deadline=None)
def test_requantize_matches_exact_python_ints(x, real):
    m, s = quant.quantize_multiplier(real)
    assert int(quant.requantize(x, m, s)) == ref.requantize(x, m, s)


@given(x=st.integers(-(2**31), 2**31 - 1), m=st.integers(2**30, 2**31 - 1), s=st.integers(-31, 30))
@settings(max_examples=500, deadline=None)
def test_requantize_matches_over_the_whole_shift_range(x, m, s):
    assert int(quant.requantize(x, m, s)) == ref.requantize(x, m, s)


@given(total=st.integers(-(2**40), 2**40), count=st.integers(1, 2**20))
@settings(max_examples=500, deadline=None)
def test_rounding_divide_matches_exact_fractions(total, count):
    assert int(quant.rounding_divide(total, count)) == ref.rounding_divide(total, count)


def test_rounding_divide_ties_go_away_from_zero():
    assert quant.rounding_divide(np.array([5, -5, 3, -3, 1, -1]), 2).tolist() == [3, -3, 2, -2, 1, -1]


@given(data=st.data(), channels=st.integers(1, 7), rows=st.integers(1, 5))
@SETTINGS
def test_requantize_s8(data, channels, rows):
    seed = data.draw(st.integers(0, 2**32 - 1))
    acc = rng_of(seed).integers(-(2**31), 2**31, (rows, channels))
    mult, shift = data.draw(requant_params(channels))
    off = data.draw(int8s)
    lo, hi = data.draw(act_range())
    got = requantize_s8(acc, mult, shift, off, lo, hi)
    assert got.dtype == np.int8 and got.shape == acc.shape
    want = [[ref.finish(int(acc[r, c]), int(mult[c]), int(shift[c]), off, lo, hi) for c in range(channels)]
            for r in range(rows)]
    assert got.tolist() == want


# --------------------------------------------------------------------------- dense convolution


@given(case=conv_case())
@SETTINGS
def test_convolve_s8_matches_reference(case):
    case, _ = case
    got = convolve_s8(*conv_args(case))
    want = ref.conv(*conv_args(case))
    assert got.dtype == np.int8
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_convolve_s8_padding_holds_the_input_zero_point():
    """A 3x3 all-ones kernel over a constant image equal to z_in: the padded border contributes 0 too."""
    x = np.full((1, 4, 4, 1), -7, dtype=np.int8)
    w = np.ones((1, 3, 3, 1), dtype=np.int8)
    m, s = quant.quantize_multiplier(1.0)
    out = convolve_s8(x, 7, w, np.array([5], np.int32), 0, np.array([m]), np.array([s]), 1, 1, -128, 127)
    assert (out == 5).all()


def test_convolve_s8_exact_beyond_float32_range():
    """K * 255 * 127 well above 2**24: the blocked float32 path must still be exact."""
    r = rng_of(1)
    x = r.integers(-128, 128, (2, 5, 5, 60), dtype=np.int8)
    w = r.choice(np.array([-127, 127], np.int8), (3, 5, 5, 60))
    m, s = quant.quantize_multiplier(1.0 / 4096)
    args = (x, -128, w, np.array([1, -1, 3], np.int32), 0, np.full(3, m), np.full(3, s), 1, 1, -128, 127)
    np.testing.assert_array_equal(convolve_s8(*args), ref.conv(*args))


# --------------------------------------------------------------------------- TREC


@st.composite
def trec_case(draw, kernel_reuse: bool):
    case, seed = draw(conv_case(max_c_out=17 if kernel_reuse else 5))
    c_out, k, _, c_in = case["weight"].shape
    kk = k * k * c_in
    divisors = [d for d in range(1, kk + 1) if kk % d == 0]
    sub_len = draw(st.sampled_from(sorted({1, kk, *divisors})))
    top = min(16, c_out) if kernel_reuse else 16
    hash_bits = draw(st.one_of(st.sampled_from(sorted({1, top})), st.integers(1, top)))
    hm = rng_of(seed + 1).integers(-128, 128, (sub_len, hash_bits), dtype=np.int8)
    return case, sub_len, hash_bits, hm


@given(case=trec_case(kernel_reuse=False))
@SETTINGS
def test_trec_convolve_s8_matches_reference(case):
    case, sub_len, hash_bits, hm = case
    got, clusters = trec_convolve_s8(*conv_args(case), sub_len, hash_bits, hm)
    m_count = case["weight"][0].size // sub_len
    want, want_clusters = ref.trec(*conv_args(case), sub_len, hash_bits,
                                   [hm.astype(int).tolist()] * m_count)
    assert got.dtype == np.int8 and clusters.dtype == np.int32
    assert clusters.shape == (case["input"].shape[0], m_count)
    np.testing.assert_array_equal(clusters, want_clusters)
    np.testing.assert_array_equal(got, want)


@given(case=trec_case(kernel_reuse=True))
@SETTINGS
def test_trec_se_convolve_s8_equals_trec_with_the_reused_weights_as_hash(case):
    case, sub_len, hash_bits, _ = case
    got, clusters = trec_se_convolve_s8(*conv_args(case), sub_len, hash_bits)
    want, want_clusters = ref.trec(*conv_args(case), sub_len, hash_bits,
                                   ref.se_hash_matrices(case["weight"], sub_len, hash_bits))
    np.testing.assert_array_equal(clusters, want_clusters)
    np.testing.assert_array_equal(got, want)


@given(case=trec_case(kernel_reuse=True), seed=st.integers(0, 2**32 - 1))
@SETTINGS
def test_trec_se_convolve_s8_with_centred_hash_bits_follows_the_definition(case, seed):
    case, sub_len, hash_bits, _ = case
    m_count = case["weight"][0].size // sub_len
    t = rng_of(seed).integers(-3000, 3000, (m_count, hash_bits), dtype=np.int32)
    got, clusters = trec_se_convolve_s8(*conv_args(case), sub_len, hash_bits, t)
    want, want_clusters = ref.trec(*conv_args(case), sub_len, hash_bits,
                                   ref.se_hash_matrices(case["weight"], sub_len, hash_bits), t)
    np.testing.assert_array_equal(clusters, want_clusters)
    np.testing.assert_array_equal(got, want)


@given(case=trec_case(kernel_reuse=True), rb=st.integers(0, 12), seed=st.integers(0, 2**32 - 1))
@SETTINGS
def test_int16_recovery_follows_its_definition(case, rb, seed):
    case, sub_len, hash_bits, _ = case
    m_count = case["weight"][0].size // sub_len
    t = rng_of(seed).integers(-2000, 2000, (m_count, hash_bits), dtype=np.int32)
    got, clusters = trec_se_convolve_s8(*conv_args(case), sub_len, hash_bits, t, rb)
    want, want_clusters = ref.trec(*conv_args(case), sub_len, hash_bits,
                                   ref.se_hash_matrices(case["weight"], sub_len, hash_bits), t, rb)
    np.testing.assert_array_equal(clusters, want_clusters)
    np.testing.assert_array_equal(got, want)


def test_recovery_shift_follows_the_requantization_scale():
    m, s = quant.quantize_multiplier(2.0 ** -9.5)  # finest output step: 2**9.5 accumulator units
    assert quant.recovery_shift([m, m // 2], [s, s]) == 9 - quant.RECOVERY_GUARD_BITS
    big = quant.quantize_multiplier(0.75)
    assert quant.recovery_shift([big[0]], [big[1]]) == 0
    tiny = quant.quantize_multiplier(2.0 ** -30)
    assert quant.recovery_shift([tiny[0]], [tiny[1]]) == quant.RECOVERY_MAX_SHIFT
    assert list(quant.recovery_bias([10, -3], 7, 4)) == [10 + 52, -3 + 52]


def test_zero_thresholds_are_the_sign_hash_and_bad_thresholds_are_refused():
    r = rng_of(5)
    x = r.integers(-128, 128, (2, 6, 6, 4), dtype=np.int8)
    w = r.integers(-127, 128, (6, 3, 3, 4), dtype=np.int8)
    args = (x, 3, w, r.integers(-999, 999, 6).astype(np.int32), 1, np.full(6, 1 << 30, np.int32),
            np.full(6, -6, np.int32), 1, 1, -128, 127)
    plain = trec_se_convolve_s8(*args, 12, 5)
    zero = trec_se_convolve_s8(*args, 12, 5, np.zeros((3, 5), np.int32))
    np.testing.assert_array_equal(plain[0], zero[0])
    np.testing.assert_array_equal(plain[1], zero[1])
    # thresholds below every projection: every bit 1, one cluster per sub-matrix
    _, one = trec_se_convolve_s8(*args, 12, 5, np.full((3, 5), -(1 << 23), np.int32))
    assert (one == 1).all()
    for bad, what in ((np.zeros((3, 4), np.int32), "shape"), (np.zeros((3, 5), np.int64), "int32"),
                      (np.full((3, 5), 1 << 24, np.int32), "2\\*\\*24")):
        with pytest.raises(ValueError, match=what):
            trec_se_convolve_s8(*args, 12, 5, bad)


@given(case=trec_case(kernel_reuse=False))
@settings(max_examples=20, deadline=None)
def test_trec_with_one_member_per_cluster_is_dense(case):
    """A hash of 16 bits that can tell every position apart, on inputs whose sub-vectors all differ."""
    case, sub_len, hash_bits, hm = case
    got, clusters = trec_convolve_s8(*conv_args(case), sub_len, hash_bits, hm)
    m_count = case["weight"][0].size // sub_len
    positions = got.shape[1] * got.shape[2]
    if (clusters == positions).all():  # every cluster a singleton: must be the dense result, bit for bit
        np.testing.assert_array_equal(got, convolve_s8(*conv_args(case)))
    assert (clusters >= 1).all() and (clusters <= min(positions, 2**hash_bits)).all()
    assert clusters.shape == (case["input"].shape[0], m_count)


@st.composite
def coded_case(draw, kernel_reuse: bool):
    """Pixels whose channel signs spell a unique nonzero code; L = C_in, hash = positive diagonal.

    Every sub-matrix is one kernel tap, every sub-vector one pixel (or all-zero padding), and the
    hash ID of a pixel is its code: clusters hold identical vectors only, so TREC equals dense.
    """
    c = draw(st.integers(3, 8))
    h = draw(st.integers(1, 6))
    w = draw(st.integers(1, 6))
    n = draw(st.integers(1, 2))
    pad = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 2))
    k = draw(st.integers(1, min(4, h + 2 * pad, w + 2 * pad)))
    assume(h * w < 2**c)
    seed = draw(st.integers(0, 2**32 - 1))
    r = rng_of(seed)
    in_off = draw(st.integers(-100, 100))
    v = np.zeros((n, h, w, c), dtype=np.int64)
    for img in range(n):
        codes = r.permutation(np.arange(1, 2**c))[: h * w]
        bits = (codes[:, None] >> np.arange(c)) & 1
        mags = r.integers(1, 21, bits.shape)
        v[img] = np.where(bits == 1, mags, -r.integers(0, 21, bits.shape)).reshape(h, w, c)
    x = (v - in_off).astype(np.int8)
    diag = r.integers(1, 128, c)
    c_out = draw(st.integers(c, c + 3)) if kernel_reuse else draw(st.integers(1, 5))
    weight = r.integers(-127, 128, (c_out, k, k, c), dtype=np.int8)
    if kernel_reuse:  # channels 0..c-1 restricted to each tap: a positive diagonal
        weight[:c] = 0
        for j in range(c):
            weight[j, :, :, j] = diag[j]
    mult, shift = draw(requant_params(c_out))
    case = dict(input=x, input_offset=in_off, weight=weight, bias=r.integers(-1000, 1000, c_out).astype(np.int32),
                output_offset=draw(int8s), multiplier=mult, shift=shift, stride=stride, padding=pad,
                act_min=-128, act_max=127)
    return case, np.diag(diag).astype(np.int8)


def _expected_clusters(case) -> np.ndarray:
    """Distinct pixels read by each tap, plus one cluster for padding if any position reads it."""
    n, h, w, _ = case["input"].shape
    k, s, p = case["weight"].shape[1], case["stride"], case["padding"]
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    per_tap = []
    for i in range(k):
        for j in range(k):
            rows = [oh * s + i - p for oh in range(ho)]
            cols = [ow * s + j - p for ow in range(wo)]
            inside = sum(0 <= y < h for y in rows) * sum(0 <= z < w for z in cols)
            per_tap.append(inside + (inside < ho * wo))
    return np.tile(np.array(per_tap, np.int32), (n, 1))


@given(case=coded_case(kernel_reuse=False))
@SETTINGS
def test_trec_equals_dense_when_every_cluster_holds_identical_vectors(case):
    case, hm = case
    c = case["input"].shape[3]
    got, clusters = trec_convolve_s8(*conv_args(case), c, c, hm)
    np.testing.assert_array_equal(got, convolve_s8(*conv_args(case)))
    np.testing.assert_array_equal(clusters, _expected_clusters(case))
    if case["padding"] == 0:  # every position its own cluster: remaining ratio 1
        positions = got.shape[1] * got.shape[2]
        assert clusters.sum() / clusters.size / positions == 1.0


@given(case=coded_case(kernel_reuse=True))
@SETTINGS
def test_se_trec_equals_dense_when_every_cluster_holds_identical_vectors(case):
    case, _ = case
    c = case["input"].shape[3]
    got, clusters = trec_se_convolve_s8(*conv_args(case), c, c)
    np.testing.assert_array_equal(got, convolve_s8(*conv_args(case)))
    np.testing.assert_array_equal(clusters, _expected_clusters(case))


def test_trec_one_cluster_for_a_constant_image():
    r = rng_of(3)
    x = np.full((2, 6, 6, 3), 17, dtype=np.int8)
    w = r.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    m, s = quant.quantize_multiplier(0.01)
    args = (x, 5, w, np.zeros(4, np.int32), 0, np.full(4, m), np.full(4, s), 1, 0, -128, 127)
    out, clusters = trec_convolve_s8(*args, 9, 16, r.integers(-128, 128, (9, 16), dtype=np.int8))
    assert (clusters == 1).all() and clusters.shape == (2, 3)
    np.testing.assert_array_equal(out, convolve_s8(*args))  # the centroid is every member
    out, clusters = trec_se_convolve_s8(*args, 27, 4)
    assert (clusters == 1).all() and clusters.shape == (2, 1)


def test_trec_clusters_per_image_not_across_the_batch():
    """Two images: clustering one alone or in a batch gives the same output and counts."""
    r = rng_of(4)
    x = r.integers(-128, 128, (3, 7, 7, 4), dtype=np.int8)
    w = r.integers(-127, 128, (6, 3, 3, 4), dtype=np.int8)
    m, s = quant.quantize_multiplier(0.003)
    hm = r.integers(-128, 128, (6, 3), dtype=np.int8)
    args = lambda xx: (xx, 3, w, r.integers(-99, 99, 6).astype(np.int32), -5, np.full(6, m), np.full(6, s), 1, 1,
                       -128, 127)
    batch_args = args(x)
    out, clusters = trec_convolve_s8(*batch_args, 6, 3, hm)
    for i in range(3):
        single = (x[i:i + 1],) + batch_args[1:]
        o, c = trec_convolve_s8(*single, 6, 3, hm)
        np.testing.assert_array_equal(o, out[i:i + 1])
        np.testing.assert_array_equal(c, clusters[i:i + 1])


def test_trec_large_batch_spans_several_chunks(monkeypatch):
    """Chunking over images must not change results (a tiny chunk forces many chunks)."""
    import trecsim.golden.kernels as kernels

    r = rng_of(5)
    x = r.integers(-128, 128, (9, 6, 6, 2), dtype=np.int8)
    w = r.integers(-127, 128, (5, 3, 3, 2), dtype=np.int8)
    m, s = quant.quantize_multiplier(0.01)
    args = (x, 0, w, np.zeros(5, np.int32), 0, np.full(5, m), np.full(5, s), 1, 1, -128, 127)
    whole_dense = convolve_s8(*args)
    whole_se = trec_se_convolve_s8(*args, 6, 4)
    monkeypatch.setattr(kernels, "_PATCH_CHUNK", 1)
    monkeypatch.setattr(kernels, "_ELEMWISE_CHUNK", 7)
    np.testing.assert_array_equal(convolve_s8(*args), whole_dense)
    chunked = trec_se_convolve_s8(*args, 6, 4)
    np.testing.assert_array_equal(chunked[0], whole_se[0])
    np.testing.assert_array_equal(chunked[1], whole_se[1])


def test_trec_rejects_bad_settings():
    x = np.zeros((1, 4, 4, 3), np.int8)
    w = np.ones((4, 3, 3, 3), np.int8)
    args = (x, 0, w, np.zeros(4, np.int32), 0, np.full(4, 1 << 30), np.zeros(4, np.int32), 1, 0, -128, 127)
    with pytest.raises(ConfigError, match="L=4 does not divide the patch length K=27"):
        trec_convolve_s8(*args, 4, 2, np.ones((4, 2), np.int8))
    with pytest.raises(ConfigError, match="H=17"):
        trec_convolve_s8(*args, 9, 17, np.ones((9, 17), np.int8))
    with pytest.raises(ConfigError, match="H <= C_out"):
        trec_se_convolve_s8(*args, 9, 5)
    with pytest.raises(ValueError, match="hash matrix has shape"):
        trec_convolve_s8(*args, 9, 2, np.ones((9, 3), np.int8))


# --------------------------------------------------------------------------- the other kernels


@st.composite
def pool_case(draw):
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    k = draw(st.integers(1, min(3, h, w)))
    stride = draw(st.integers(1, 2))
    c = draw(st.sampled_from([1, 3, 5]))
    kind = draw(st.sampled_from(["random", "equal", "distinct"]))
    assume(n * h * w * c <= 256)
    lo, hi = draw(act_range())
    return make_input(kind, (n, h, w, c), draw(st.integers(0, 2**32 - 1))), k, stride, lo, hi


@given(case=pool_case())
@SETTINGS
def test_max_pool_s8(case):
    x, k, s, lo, hi = case
    np.testing.assert_array_equal(max_pool_s8(x, k, s, lo, hi), ref.pool(x, k, s, lo, hi, "max"))


@given(case=pool_case())
@SETTINGS
def test_avg_pool_s8(case):
    x, k, s, lo, hi = case
    np.testing.assert_array_equal(avg_pool_s8(x, k, s, lo, hi), ref.pool(x, k, s, lo, hi, "avg"))


@given(case=pool_case())
@SETTINGS
def test_global_avg_pool_s8(case):
    x, _, _, lo, hi = case
    got = global_avg_pool_s8(x, lo, hi)
    assert got.shape == (x.shape[0], x.shape[3]) and got.dtype == np.int8
    np.testing.assert_array_equal(got, ref.global_avg_pool(x, lo, hi))


@given(data=st.data(), n=st.integers(1, 3), f_in=st.integers(1, 40), f_out=st.integers(1, 7))
@SETTINGS
def test_fully_connected_s8(data, n, f_in, f_out):
    r = rng_of(data.draw(st.integers(0, 2**32 - 1)))
    x = make_input(data.draw(st.sampled_from(["random", "equal"])), (n, f_in), int(r.integers(1 << 30)))
    w = r.integers(-127, 128, (f_out, f_in), dtype=np.int8)
    bias = r.integers(-(1 << 16), 1 << 16, f_out).astype(np.int32)
    mult, shift = data.draw(requant_params(f_out))
    lo, hi = data.draw(act_range())
    args = (x, data.draw(int8s), w, bias, data.draw(int8s), mult, shift, lo, hi)
    np.testing.assert_array_equal(fully_connected_s8(*args), ref.fully_connected(*args))


@given(data=st.data())
@SETTINGS
def test_elementwise_add_s8(data):
    r = rng_of(data.draw(st.integers(0, 2**32 - 1)))
    shape = (data.draw(st.integers(1, 2)), 3, 2, data.draw(st.integers(1, 5)))
    x1 = r.integers(-128, 128, shape, dtype=np.int8)
    x2 = r.integers(-128, 128, shape, dtype=np.int8)
    m1, s1 = quant.quantize_multiplier(data.draw(st.floats(1e-4, 0.5)))
    m2, s2 = quant.quantize_multiplier(data.draw(st.floats(1e-4, 0.5)))
    mo, so = quant.quantize_multiplier(data.draw(st.floats(1e-4, 2.0, exclude_max=True)))
    lo, hi = data.draw(act_range())
    left_shift = data.draw(st.sampled_from([0, 7, 20]))
    args = (x1, x2, data.draw(int8s), m1, s1, data.draw(int8s), m2, s2, left_shift, data.draw(int8s), mo, so, lo, hi)
    np.testing.assert_array_equal(elementwise_add_s8(*args), ref.elementwise_add(*args))


def test_relu_and_concat():
    x = np.array([[-128, -5, 0, 7, 127]], dtype=np.int8)
    assert relu_s8(x, -5).tolist() == [[-5, -5, 0, 7, 127]]
    assert relu_s8(x, -128).tolist() == x.tolist()
    assert relu_s8(x, 3).dtype == np.int8
    a = np.zeros((2, 3, 3, 2), np.int8)
    b = np.ones((2, 3, 3, 3), np.int8)
    c = concat_s8([a, b])
    assert c.shape == (2, 3, 3, 5) and c[..., :2].sum() == 0 and (c[..., 2:] == 1).all()


def test_kernels_reject_wrong_dtypes():
    with pytest.raises(ValueError, match="int8"):
        max_pool_s8(np.zeros((1, 2, 2, 1), np.int16), 2, 2, -128, 127)
    with pytest.raises(ValueError, match="activation range"):
        max_pool_s8(np.zeros((1, 2, 2, 1), np.int8), 2, 2, 5, 4)


@pytest.mark.parametrize("kernel_reuse", [False, True])
def test_trec_cifarnet_conv2_sized_patches_match_reference(kernel_reuse):
    """K = 1600 (64 channels, 5x5), L = 10, H = 10: the blocked float32 GEMM path, realistic sizes."""
    r = rng_of(6)
    x = r.integers(-128, 128, (1, 9, 9, 64), dtype=np.int8)
    x[:, 3:6, 3:6] = 12  # some repeated sub-vectors, so clusters have several members
    w = r.integers(-127, 128, (10, 5, 5, 64), dtype=np.int8)
    mult, shift = zip(*(quant.quantize_multiplier(float(v)) for v in r.uniform(1e-5, 1e-3, 10)))
    args = (x, 77, w, r.integers(-5000, 5000, 10).astype(np.int32), -3, np.array(mult, np.int32),
            np.array(shift, np.int32), 1, 1, -128, 127)
    if kernel_reuse:
        got, clusters = trec_se_convolve_s8(*args, 10, 10)
        hms = ref.se_hash_matrices(w, 10, 10)
    else:
        hm = r.integers(-127, 128, (10, 10), dtype=np.int8)
        got, clusters = trec_convolve_s8(*args, 10, 10, hm)
        hms = [hm.astype(int).tolist()] * 160
    want, want_clusters = ref.trec(*args, 10, 10, hms)
    np.testing.assert_array_equal(clusters, want_clusters)
    np.testing.assert_array_equal(got, want)
    assert clusters.min() < 49  # not all singletons
