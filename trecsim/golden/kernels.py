"""Bit-exact NumPy versions of the firmware's int8 kernels (CMSIS-NN style).

One function per C kernel, named like CMSIS-NN's without the ``arm_`` prefix,
arguments in the order the C takes them (input, offsets, weights, bias,
requantization, geometry, activation range). Every function takes a leading
batch dimension ``N`` (NHWC int8 arrays ``(N, H, W, C)``); the C processes one
image at a time, and TREC clusters per image, so batching changes nothing.

Semantics (see TREC.md, "The computation", and trecsim.quant):

* ``input_offset`` is ``-z_in``: the kernels work on ``v = x + input_offset``,
  an integer in [-255, 255]; padded elements hold ``z_in``, i.e. ``v = 0``.
* Accumulators are ``bias + sum v * w`` as on the board (int32 there; here int64,
  and a value outside int32 wraps exactly like the C's ``uint32`` shift does, in
  ``quant.requantize``).
* The last step of conv and fc is :func:`requantize_s8`:
  ``clamp(quant.requantize(acc, multiplier[c], shift[c]) + output_offset, act_min, act_max)``.

Exactness of the fast paths: products and sums of integers are computed with
float32/float64 BLAS only where every partial sum is provably an integer of
magnitude below 2**24 (float32) or 2**53 (float64), so the result is exact
whatever order the BLAS adds in (see :func:`_exact_matmul`). Everything else is
integer NumPy. TREC centroids use ``quant.rounding_divide`` (ties away from zero).
"""

from __future__ import annotations

import numpy as np

from trecsim import quant
from trecsim.errors import ConfigError

# Bounds below which float arithmetic on integer values is exact.
_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53
# Elements per piece of the element-wise integer work (requantization): small
# enough that NumPy's temporaries stay in cache and are not fresh pages each time.
_ELEMWISE_CHUNK = 1 << 16
# Elements of the im2col matrix built at once (per chunk of images).
_PATCH_CHUNK = 1 << 21
MAX_HASH_BITS = 16


# --------------------------------------------------------------------------- helpers


def _int8(name: str, a, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.int8:
        raise ValueError(f"{name} must be int8, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    return a


def _per_channel(name: str, a, channels: int) -> np.ndarray:
    """Scalar or (channels,) integer array -> int64 (channels,)."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got {a.dtype}")
    a = np.broadcast_to(a.astype(np.int64), (channels,))
    return a


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    if stride < 1 or padding < 0 or kernel < 1 or size + 2 * padding < kernel:
        raise ValueError(f"kernel {kernel}, stride {stride}, padding {padding} do not fit an input of size {size}")
    return (size + 2 * padding - kernel) // stride + 1


def _float_dtype(bound: int):
    """The float dtype in which integers of magnitude <= bound are exact, or None."""
    if bound < _F32_EXACT:
        return np.float32
    if bound < _F64_EXACT:
        return np.float64
    return None


def _exact_matmul(a: np.ndarray, b: np.ndarray, a_max: int | None = None, b_max: int | None = None) -> np.ndarray:
    """Exact integer product ``a @ b`` of integer-valued arrays (a: (..., K), b: (K, C)).

    Returns an integer-valued float array (float32 or float64) or an int64 array.
    With ``A = max|a|``, ``B = max|b|``, every partial sum of a dot product over a
    block of ``kc`` terms is an integer of magnitude <= kc * A * B. Blocks are
    chosen so that this stays below 2**24 and are multiplied in float32 (exact in
    any summation order); the block results are added in float64, exact below
    2**53. Where even that bound fails, the product is done in int64.
    """
    k = a.shape[-1]
    if a_max is None:
        a_max = int(np.abs(a).max(initial=0))
    if b_max is None:
        b_max = int(np.abs(b).max(initial=0))
    per_term = max(a_max * b_max, 1)
    if k * per_term < _F32_EXACT:
        return np.matmul(a.astype(np.float32, copy=False), b.astype(np.float32, copy=False))
    if k * per_term >= _F64_EXACT:
        return np.matmul(a.astype(np.int64), b.astype(np.int64))
    kc = (_F32_EXACT - 1) // per_term
    if kc >= 16:  # float32 blocks, float64 sum
        a32 = a.astype(np.float32, copy=False)
        b32 = b.astype(np.float32, copy=False)
        total = None
        for start in range(0, k, kc):
            part = np.matmul(a32[..., start:start + kc], b32[start:start + kc])
            total = part.astype(np.float64) if total is None else total + part
        return total
    return np.matmul(a.astype(np.float64, copy=False), b.astype(np.float64, copy=False))


def _requantize_rows(acc: np.ndarray, bias: np.ndarray | None, multiplier: np.ndarray, shift: np.ndarray,
                     output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    """(R, C) integer-valued accumulators (+ bias) -> int8 (R, C), in cache-sized pieces."""
    rows, channels = acc.shape
    out = np.empty((rows, channels), dtype=np.int8)
    step = max(1, _ELEMWISE_CHUNK // max(channels, 1))
    for r0 in range(0, rows, step):
        a = acc[r0:r0 + step].astype(np.int64)
        if bias is not None:
            a += bias
        q = quant.requantize(a, multiplier, shift).astype(np.int64)
        q += output_offset
        np.clip(q, act_min, act_max, out=q)
        out[r0:r0 + step] = q
    return out


def _check_act(act_min: int, act_max: int) -> tuple[int, int]:
    act_min, act_max = int(act_min), int(act_max)
    if not quant.INT8_MIN <= act_min <= act_max <= quant.INT8_MAX:
        raise ValueError(f"activation range [{act_min}, {act_max}] is not inside [-128, 127]")
    return act_min, act_max


def _offset_padded(x: np.ndarray, input_offset: int, padding: int, dtype) -> np.ndarray:
    """v = x + input_offset as ``dtype``, zero-padded (padding holds z_in = -input_offset, i.e. v = 0)."""
    n, h, w, c = x.shape
    v = np.zeros((n, h + 2 * padding, w + 2 * padding, c), dtype=dtype)
    v[:, padding:padding + h, padding:padding + w] = x
    v[:, padding:padding + h, padding:padding + w] += dtype(input_offset)
    return v


def _im2col(v: np.ndarray, kernel: int, stride: int, h_out: int, w_out: int) -> np.ndarray:
    """Padded (n, Hp, Wp, C) -> patches (n * h_out * w_out, kernel * kernel * C) in (kh, kw, c_in) order."""
    n, _, _, c = v.shape
    cols = np.empty((n, h_out, w_out, kernel, kernel, c), dtype=v.dtype)
    for i in range(kernel):  # loop over kernel taps only
        for j in range(kernel):
            cols[:, :, :, i, j, :] = v[:, i:i + stride * (h_out - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride]
    return cols.reshape(n * h_out * w_out, kernel * kernel * c)


def _image_chunk(per_image: int) -> int:
    return max(1, _PATCH_CHUNK // max(per_image, 1))


class _ConvGeometry:
    """Checked arguments shared by the dense and TREC convolutions."""

    def __init__(self, input, input_offset, weight, bias, multiplier, shift, stride, padding, act_min, act_max):
        self.x = _int8("input", input, 4)
        self.w = _int8("weight", weight, 4)
        n, h, wd, c_in = self.x.shape
        c_out, kh, kw, wc = self.w.shape
        if kh != kw:
            raise ValueError(f"only square kernels are supported, got {kh}x{kw}")
        if wc != c_in:
            raise ValueError(f"weight has {wc} input channels, the input {c_in}")
        self.n, self.c_in, self.c_out, self.kernel = n, c_in, c_out, kh
        self.stride, self.padding = int(stride), int(padding)
        self.h_out = _out_size(h, kh, self.stride, self.padding)
        self.w_out = _out_size(wd, kw, self.stride, self.padding)
        self.positions = self.h_out * self.w_out
        self.k = kh * kw * c_in
        self.input_offset = int(input_offset)
        self.bias = _per_channel("bias", bias, c_out)
        self.multiplier = _per_channel("multiplier", multiplier, c_out)
        self.shift = _per_channel("shift", shift, c_out)
        self.act_min, self.act_max = _check_act(act_min, act_max)
        self.w_mat = self.w.reshape(c_out, self.k)  # (C_out, K), K in (kh, kw, c_in) order
        if self.x.size:  # max |x + input_offset| (padding contributes 0)
            self.v_max = max(abs(int(self.x.min()) + self.input_offset), abs(int(self.x.max()) + self.input_offset))
        else:
            self.v_max = 0
        self.w_max = int(np.abs(self.w_mat.astype(np.int16)).max(initial=0))
        # float32 holds every patch element (|v| <= 255) and every cluster sum below 2**24
        self.dtype = np.float32

    def patches(self, start: int, stop: int) -> np.ndarray:
        v = _offset_padded(self.x[start:stop], self.input_offset, self.padding, self.dtype)
        return _im2col(v, self.kernel, self.stride, self.h_out, self.w_out)

    def finish(self, acc: np.ndarray, output_offset: int) -> np.ndarray:
        return _requantize_rows(acc, self.bias, self.multiplier, self.shift, int(output_offset),
                                self.act_min, self.act_max)


# --------------------------------------------------------------------------- kernels


def requantize_s8(acc, multiplier, shift, output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    """The shared last step of conv and fc: int32 accumulators (..., C) -> int8 (..., C).

    ``clamp(quant.requantize(acc, multiplier[c], shift[c]) + output_offset, act_min, act_max)``.
    """
    acc = np.asarray(acc)
    if not np.issubdtype(acc.dtype, np.integer):
        raise ValueError(f"accumulators must be integers, got {acc.dtype}")
    act_min, act_max = _check_act(act_min, act_max)
    shape = acc.shape
    channels = shape[-1] if acc.ndim else 1
    flat = acc.reshape(-1, channels)
    out = _requantize_rows(flat, None, _per_channel("multiplier", multiplier, channels),
                           _per_channel("shift", shift, channels), int(output_offset), act_min, act_max)
    return out.reshape(shape)


def convolve_s8(input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
                act_min, act_max) -> np.ndarray:
    """Dense int8 convolution (arm_convolve_s8): NHWC int8 in, (N, H_out, W_out, C_out) int8 out."""
    g = _ConvGeometry(input, input_offset, weight, bias, multiplier, shift, stride, padding, act_min, act_max)
    out = np.empty((g.n, g.h_out, g.w_out, g.c_out), dtype=np.int8)
    w_t = g.w_mat.T.astype(np.float32)
    step = _image_chunk(g.positions * g.k)
    for start in range(0, g.n, step):
        stop = min(start + step, g.n)
        acc = _exact_matmul(g.patches(start, stop), w_t, g.v_max, g.w_max)
        out[start:stop] = g.finish(acc, output_offset).reshape(stop - start, g.h_out, g.w_out, g.c_out)
    return out


def _trec(g: _ConvGeometry, output_offset, sub_len: int, hash_bits: int, hash_matrix: np.ndarray | None,
          thresholds: np.ndarray | None = None, recovery_shift: int | None = None):
    """TREC convolution; ``hash_matrix`` (L, H) for plain TREC, None for kernel reuse.

    ``thresholds`` int32 (M, H) centres the hash bits (TREC.md, "Centred hash bits"): bit j of
    sub-matrix m is ``[v . R_m[:, j] > t[m, j]]``; None means all zero (the plain sign hash).

    Per chunk of images, all sub-vectors at once (rows ``(image*P + position)*M + m``):

    1. IDs ``sum_j [v . R_m[:, j] > t[m, j]] << j`` (exact float products, see _exact_matmul);
    2. clusters: the IDs of each (image, sub-matrix) group are sorted (a stable uint16 radix
       sort per group), a cluster starts where the sorted ID changes; this numbers the
       distinct keys ``((image*M + m) << H) | ID`` in sorted order, like ``np.unique``;
    3. member sums by ``np.bincount`` per sub-vector element (float64, exact integers),
       centroids by ``quant.rounding_divide`` (ties away from zero);
    4. every sub-vector replaced by its centroid and one dense GEMM with the weights:
       the integer sum over m of ``centroid . W_m`` is exactly the board's per-cluster
       GEMM followed by recovery, so acc, requantization and clamping match bit for bit.

    With ``recovery_shift`` rb (int16 recovery, space-efficient TREC): each T = centroid . W_m is
    narrowed to ``sat16(floor(T / 2**rb))`` and added with int16 saturation, sub-matrix after
    sub-matrix, to an accumulator that starts at 0; the layer's output is then the requantization
    of ``(acc16 << rb) + bias + n_sub * (2**rb - 1) // 2`` (quant.recovery_bias).
    """
    sub_len, hash_bits = int(sub_len), int(hash_bits)
    if sub_len < 1 or g.k % sub_len:
        divisors = [d for d in range(1, g.k + 1) if g.k % d == 0]
        raise ConfigError(f"sub-vector length L={sub_len} does not divide the patch length K={g.k}",
                          fix=f"choose L among the divisors of {g.k}: {divisors}")
    if not 1 <= hash_bits <= MAX_HASH_BITS:
        raise ConfigError(f"hash bits H={hash_bits} out of range", fix=f"choose 1 <= H <= {MAX_HASH_BITS}")
    n_sub = g.k // sub_len
    if hash_matrix is None:
        if hash_bits > g.c_out:
            raise ConfigError(f"kernel reuse needs H <= C_out, but H={hash_bits} and C_out={g.c_out}",
                              fix=f"use H <= {g.c_out} or plain TREC")
        # R_m[l, j] = weight_khwc[j, m*L + l]: (M, L, H)
        hm = g.w_mat[:hash_bits].reshape(hash_bits, n_sub, sub_len).transpose(1, 2, 0)
    else:
        hm = _int8("hash_matrix", hash_matrix, 2)
        if hm.shape != (sub_len, hash_bits):
            raise ValueError(f"hash matrix has shape {hm.shape}, expected (L, H) = ({sub_len}, {hash_bits})")
    # Projections are sums of L products of |v| <= 255 and |r| <= 128: exact in float32 or float64.
    proj_dtype = _float_dtype(sub_len * 255 * 128) or np.int64
    if thresholds is not None:
        thresholds = check_thresholds(thresholds, n_sub, hash_bits)
        # (H, 1, M, 1) against proj (H, n, M, P); |t| < 2**24 is exact in float32
        t_cmp = thresholds.T.astype(proj_dtype).reshape(hash_bits, 1, n_sub, 1)
    hm_t = np.ascontiguousarray(np.swapaxes(hm, -1, -2)).astype(proj_dtype)  # (H, L) or (M, H, L)

    p, m_count, length = g.positions, n_sub, sub_len
    out = np.empty((g.n, g.h_out, g.w_out, g.c_out), dtype=np.int8)
    clusters = np.empty((g.n, n_sub), dtype=np.int32)
    w_t = g.w_mat.T.astype(np.float32)
    step = _image_chunk(p * g.k)
    for start in range(0, g.n, step):
        stop = min(start + step, g.n)
        n = stop - start
        patches = g.patches(start, stop)  # (n*P, K) float32, exact integers in [-255, 255]
        rows = patches.reshape(n * p * m_count, length)  # row (img*P + pos)*M + m
        # 1. hash IDs, laid out (n, M, P): one group of P positions per (image, sub-matrix).
        #    Projections are computed transposed ((H, rows)), which BLAS handles far better
        #    than a (rows, L) x (L, H) product with tiny L and H.
        if hash_matrix is not None:
            proj = hm_t @ rows.T.astype(proj_dtype, copy=False)  # (H, n*P*M)
            proj = proj.reshape(hash_bits, n, p, m_count).transpose(0, 1, 3, 2)  # (H, n, M, P)
        else:
            sub_t = rows.reshape(n * p, m_count, length).transpose(1, 2, 0).astype(proj_dtype, copy=False)
            proj = np.matmul(hm_t, sub_t)  # (M, H, n*P)
            proj = proj.reshape(m_count, hash_bits, n, p).transpose(1, 2, 0, 3)  # (H, n, M, P)
        ids = np.zeros((n, m_count, p), dtype=np.uint16)
        if thresholds is not None:
            proj = proj > t_cmp
        else:
            proj = proj > 0
        for j in range(hash_bits):  # ID = sum_j [proj_j > t_mj] << j
            ids |= proj[j].astype(np.uint16) << np.uint16(j)
        # 2. clusters: sort each group's IDs (stable radix sort on uint16), split where the ID changes
        order = np.argsort(ids, axis=-1, kind="stable")
        sorted_ids = np.take_along_axis(ids, order, axis=-1)
        first = np.empty(ids.shape, dtype=bool)
        first[..., 0] = True
        np.not_equal(sorted_ids[..., 1:], sorted_ids[..., :-1], out=first[..., 1:])
        clusters[start:stop] = first.sum(axis=-1, dtype=np.int32)
        first = first.reshape(-1)
        n_clusters = int(np.count_nonzero(first))
        cluster_of_sorted = np.cumsum(first, dtype=np.int64) - 1
        img = np.arange(n, dtype=np.int64).reshape(n, 1, 1)
        sub_idx = np.arange(m_count, dtype=np.int64).reshape(1, m_count, 1)
        row_of_sorted = ((img * p + order) * m_count + sub_idx).reshape(-1)
        cluster_of_row = np.empty(first.size, dtype=np.int64)
        cluster_of_row[row_of_sorted] = cluster_of_sorted
        # 3. centroids: integer mean of the members, ties away from zero (quant.rounding_divide).
        #    bincount sums in float64: exact, the sums are integers below 2**53.
        counts = np.bincount(cluster_of_row, minlength=n_clusters)
        sums = np.empty((n_clusters, length), dtype=np.int64)
        for l in range(length):  # loop over sub-vector elements, not over clusters
            sums[:, l] = np.bincount(cluster_of_row, weights=rows[:, l], minlength=n_clusters)
        centroids = quant.rounding_divide(sums, counts[:, None]).astype(np.float32)
        # 4. every sub-vector replaced by its centroid, then one GEMM: sum over m of
        #    centroid . W_m is exactly what the per-cluster GEMM plus recovery computes.
        if recovery_shift is None:
            replaced = centroids[cluster_of_row].reshape(n * p, g.k)
            acc = _exact_matmul(replaced, w_t, 255, g.w_max)
            out[start:stop] = g.finish(acc, output_offset).reshape(n, g.h_out, g.w_out, g.c_out)
            continue
        # int16 recovery, in sub-matrix order (the saturating sums depend on it)
        rb = int(recovery_shift)
        cluster_of = cluster_of_row.reshape(n * p, m_count)
        # T once per cluster (as the board does), narrowed: t16[c] = sat16(floor(centroid_c . W_m / 2^rb))
        m_of_cluster = np.empty(n_clusters, dtype=np.int64)
        m_of_cluster[cluster_of_row] = np.arange(cluster_of_row.size, dtype=np.int64) % m_count
        by_m = np.argsort(m_of_cluster, kind="stable")
        starts = np.searchsorted(m_of_cluster[by_m], np.arange(m_count + 1))
        t16 = np.empty((n_clusters, g.c_out), dtype=np.int32)
        for mi in range(m_count):
            idx = by_m[starts[mi]:starts[mi + 1]]
            w_m = w_t[mi * length:(mi + 1) * length]  # (L, C_out)
            t = _exact_matmul(centroids[idx], w_m, 255, g.w_max).astype(np.int64)
            t16[idx] = np.clip(t >> rb, -32768, 32767)
        acc16 = np.zeros((n * p, g.c_out), dtype=np.int32)
        for mi in range(m_count):  # saturating int16 sums, sub-matrix after sub-matrix
            acc16 += t16[cluster_of[:, mi]]
            np.clip(acc16, -32768, 32767, out=acc16)
        acc = acc16.astype(np.int64) << rb
        bias = quant.recovery_bias(g.bias, m_count, rb)
        out[start:stop] = _requantize_rows(acc, bias, g.multiplier, g.shift, int(output_offset), g.act_min,
                                           g.act_max).reshape(n, g.h_out, g.w_out, g.c_out)
    return out, clusters


def trec_convolve_s8(input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
                     act_min, act_max, sub_len, hash_bits, hash_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Plain TREC convolution with its own int8 hash matrix (L, H).

    Returns (output int8 (N, H_out, W_out, C_out), clusters int32 (N, M)): the number of
    clusters per image and sub-matrix, M = K / L.
    """
    g = _ConvGeometry(input, input_offset, weight, bias, multiplier, shift, stride, padding, act_min, act_max)
    return _trec(g, output_offset, sub_len, hash_bits, np.asarray(hash_matrix))


def trec_se_convolve_s8(input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
                        act_min, act_max, sub_len, hash_bits, thresholds=None,
                        recovery_shift=None) -> tuple[np.ndarray, np.ndarray]:
    """Space-efficient TREC (kernel reuse): sub-matrix m hashes with R_m = W_m[:, :H].

    ``thresholds`` int32 (M, H) or None: bit j of sub-matrix m is ``[v . R_m[:, j] > t[m, j]]``
    (centred hash bits; None = 0, the sign hash). ``recovery_shift`` rb (0..12): int16 recovery
    (see :func:`_trec`; the firmware always uses it, with rb = quant.recovery_shift of the layer);
    None: int32 recovery, the textbook computation. Same returns as :func:`trec_convolve_s8`.
    """
    g = _ConvGeometry(input, input_offset, weight, bias, multiplier, shift, stride, padding, act_min, act_max)
    if recovery_shift is not None and not 0 <= int(recovery_shift) <= quant.RECOVERY_MAX_SHIFT:
        raise ValueError(f"recovery shift {recovery_shift} out of range 0..{quant.RECOVERY_MAX_SHIFT}")
    return _trec(g, output_offset, sub_len, hash_bits, None, thresholds, recovery_shift)


#: centred hash thresholds are kept below 2**24 in magnitude: exact in float32, and far above any
#: projection of an int8 model (|v . R| <= L * 255 * 128 < 2**24 for L <= 513)
THRESHOLD_LIMIT = 1 << 24


def check_thresholds(thresholds, n_sub: int, hash_bits: int) -> np.ndarray:
    """int32 (M, H) hash thresholds with |t| < 2**24, else ValueError saying which is wrong."""
    t = np.asarray(thresholds)
    if t.dtype != np.int32:
        raise ValueError(f"thresholds must be int32, got {t.dtype}")
    if t.shape != (n_sub, hash_bits):
        raise ValueError(f"thresholds have shape {t.shape}, expected (M, H) = ({n_sub}, {hash_bits})")
    if t.size and int(np.abs(t.astype(np.int64)).max()) >= THRESHOLD_LIMIT:
        raise ValueError(f"thresholds must be below 2**24 in magnitude, got {int(np.abs(t.astype(np.int64)).max())}")
    return t


def max_pool_s8(input, kernel, stride, act_min, act_max) -> np.ndarray:
    """Max pooling without padding (arm_max_pool_s8), output clamped to [act_min, act_max]."""
    x = _int8("input", input, 4)
    act_min, act_max = _check_act(act_min, act_max)
    kernel, stride = int(kernel), int(stride)
    n, h, w, c = x.shape
    ho, wo = _out_size(h, kernel, stride, 0), _out_size(w, kernel, stride, 0)
    out = None
    for i in range(kernel):
        for j in range(kernel):
            tap = x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            out = tap.copy() if out is None else np.maximum(out, tap, out=out)
    return np.clip(out, act_min, act_max).astype(np.int8)


def avg_pool_s8(input, kernel, stride, act_min, act_max) -> np.ndarray:
    """Average pooling without padding (arm_avgpool_s8): sum, quant.rounding_divide by kernel**2, clamp."""
    x = _int8("input", input, 4)
    act_min, act_max = _check_act(act_min, act_max)
    kernel, stride = int(kernel), int(stride)
    n, h, w, c = x.shape
    ho, wo = _out_size(h, kernel, stride, 0), _out_size(w, kernel, stride, 0)
    total = np.zeros((n, ho, wo, c), dtype=np.int64)
    for i in range(kernel):
        for j in range(kernel):
            total += x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
    return np.clip(quant.rounding_divide(total, kernel * kernel), act_min, act_max).astype(np.int8)


def global_avg_pool_s8(input, act_min, act_max) -> np.ndarray:
    """Global average pool: (N, H, W, C) -> (N, C), quant.rounding_divide by H * W, clamp."""
    x = _int8("input", input, 4)
    act_min, act_max = _check_act(act_min, act_max)
    n, h, w, c = x.shape
    total = x.sum(axis=(1, 2), dtype=np.int64)
    return np.clip(quant.rounding_divide(total, h * w), act_min, act_max).astype(np.int8)


def fully_connected_s8(input, input_offset, weight, bias, output_offset, multiplier, shift,
                       act_min, act_max) -> np.ndarray:
    """Fully connected (arm_fully_connected_s8 with per-output requantization).

    input (N, F_in) int8 (flattened in (h, w, c) order), weight (F_out, F_in) int8 -> (N, F_out) int8.
    """
    x = _int8("input", input, 2)
    w = _int8("weight", weight, 2)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"weight expects {w.shape[1]} inputs, got {x.shape[1]}")
    f_out = w.shape[0]
    act_min, act_max = _check_act(act_min, act_max)
    v = x.astype(np.int16) + np.int16(int(input_offset))
    v_max = int(np.abs(v).max(initial=0))
    w_max = int(np.abs(w.astype(np.int16)).max(initial=0))
    acc = _exact_matmul(v, w.T, v_max, w_max)
    return _requantize_rows(acc, _per_channel("bias", bias, f_out), _per_channel("multiplier", multiplier, f_out),
                            _per_channel("shift", shift, f_out), int(output_offset), act_min, act_max)


def relu_s8(x, zero_point) -> np.ndarray:
    """ReLU in the quantized domain: max(x, zero_point)."""
    x = _int8("x", x)
    return np.maximum(x, np.int8(max(int(zero_point), quant.INT8_MIN)))


def concat_s8(inputs) -> np.ndarray:
    """Concatenation along channels (the last axis); the inputs share one quantization."""
    arrays = [_int8(f"inputs[{i}]", a) for i, a in enumerate(inputs)]
    return np.concatenate(arrays, axis=-1)


def elementwise_add_s8(input1, input2, input1_offset, input1_multiplier, input1_shift, input2_offset,
                       input2_multiplier, input2_shift, left_shift, output_offset, output_multiplier,
                       output_shift, act_min, act_max) -> np.ndarray:
    """arm_elementwise_add_s8.

    ``a = requantize((x1 + off1) << left_shift, m1, s1)``, ``b`` likewise (``<<`` a wrapping int32
    shift), ``out = clamp(requantize(a + b, m_out, s_out) + output_offset, act_min, act_max)``.
    """
    x1 = _int8("input1", input1)
    x2 = _int8("input2", input2)
    if x1.shape != x2.shape:
        raise ValueError(f"inputs differ in shape: {x1.shape} and {x2.shape}")
    act_min, act_max = _check_act(act_min, act_max)
    left_shift = int(left_shift)
    a = quant.wrap_int32((x1.astype(np.int64) + int(input1_offset)) << left_shift)
    b = quant.wrap_int32((x2.astype(np.int64) + int(input2_offset)) << left_shift)
    a = quant.requantize(a, int(input1_multiplier), int(input1_shift))
    b = quant.requantize(b, int(input2_multiplier), int(input2_shift))
    total = quant.wrap_int32(a.astype(np.int64) + b)
    q = quant.requantize(total, int(output_multiplier), int(output_shift)).astype(np.int64) + int(output_offset)
    return np.clip(q, act_min, act_max).astype(np.int8)


__all__ = ["avg_pool_s8", "concat_s8", "convolve_s8", "elementwise_add_s8", "fully_connected_s8",
           "global_avg_pool_s8", "max_pool_s8", "relu_s8", "requantize_s8", "trec_convolve_s8",
           "trec_se_convolve_s8", "check_thresholds", "THRESHOLD_LIMIT"]
