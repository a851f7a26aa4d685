"""NumPy-facing wrappers of the C kernels (trecsim.firmware.hostlib), one image per C call.

Each wrapper takes the golden function's arguments (batch dimension N included) and
loops over images. Scratch buffers are filled with random bytes ("poisoned") before
every call and followed by guard bytes, outputs too: a kernel that relies on cleared
scratch, reads what it did not write, or writes past its get_buffer_size fails here.
"""

from __future__ import annotations

import numpy as np

from trecsim.firmware import hostlib

GUARD = 64  # bytes after every buffer and output that must stay untouched
_POISON = np.random.default_rng(12345)


def ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


class Guarded:
    """A poisoned byte buffer of ``size`` bytes (4-byte aligned) followed by guard bytes."""

    def __init__(self, size: int):
        words = (size + GUARD + 3) // 4
        self.words = _POISON.integers(0, 2**32, words, dtype=np.uint32)
        self.bytes = self.words.view(np.uint8)
        self.size = size
        self.guard = self.bytes[size:size + GUARD].copy()

    @property
    def ptr(self) -> int:
        return self.words.ctypes.data

    def check(self) -> None:
        assert np.array_equal(self.bytes[self.size:self.size + GUARD], self.guard), "kernel wrote past its buffer"

    def view(self, dtype, count: int, offset: int = 0) -> np.ndarray:
        return self.bytes[offset:offset + count * np.dtype(dtype).itemsize].view(dtype)


def _i32(a, channels: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.int32), (channels,)))


def _out_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _conv_common(x, weight, bias, multiplier, shift):
    x = np.ascontiguousarray(x, dtype=np.int8)
    weight = np.ascontiguousarray(weight, dtype=np.int8)
    c_out = weight.shape[0]
    return x, weight, _i32(bias, c_out), _i32(multiplier, c_out), _i32(shift, c_out)


def convolve_s8(lib, input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
                act_min, act_max, *, variant: str = "convolve_s8") -> np.ndarray:
    """``variant``: "convolve_s8" (optimized, DSP model on the host) or "convolve_s8_ref"."""
    x, w, b, m, s = _conv_common(input, weight, bias, multiplier, shift)
    n, h, wd, c_in = x.shape
    c_out, k = w.shape[0], w.shape[1]
    ho, wo = _out_size(h, k, stride, padding), _out_size(wd, k, stride, padding)
    out = np.empty((n, ho, wo, c_out), np.int8)
    for i in range(n):
        o = Guarded(ho * wo * c_out)
        args = [ptr(x[i]), h, wd, c_in, input_offset, ptr(w), c_out, k, ptr(b), output_offset, ptr(m), ptr(s),
                stride, padding, act_min, act_max]
        if variant == "convolve_s8":
            buf = Guarded(lib.convolve_s8_get_buffer_size(c_in, c_out, k, stride, padding))
            rc = lib.convolve_s8(*args, buf.ptr, o.ptr)
            buf.check()
        else:
            rc = getattr(lib, variant)(*args, o.ptr)
        assert rc == hostlib.TREC_NN_SUCCESS
        o.check()
        out[i] = o.view(np.int8, o.size).reshape(ho, wo, c_out)
    return out


def _trec(lib, se: bool, input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
          act_min, act_max, sub_len, hash_bits, hash_matrix=None, thresholds=None, recovery_shift=0, *,
          buffers: list | None = None):
    x, w, b, m, s = _conv_common(input, weight, bias, multiplier, shift)
    n, h, wd, c_in = x.shape
    c_out, k = w.shape[0], w.shape[1]
    ho, wo = _out_size(h, k, stride, padding), _out_size(wd, k, stride, padding)
    n_sub = k * k * c_in // sub_len
    out = np.empty((n, ho, wo, c_out), np.int8)
    clusters = np.empty((n, n_sub), np.int32)
    geometry = (h, wd, c_in, c_out, k, stride, padding, sub_len, hash_bits)
    size = (lib.trec_se_convolve_s8_get_buffer_size if se else lib.trec_convolve_s8_get_buffer_size)(*geometry)
    assert size > 0
    for i in range(n):
        buf = buffers[i] if buffers else Guarded(size)
        o = Guarded(ho * wo * c_out)
        cl = Guarded(2 * n_sub)
        args = [ptr(x[i]), h, wd, c_in, input_offset, ptr(w), c_out, k, ptr(b), output_offset, ptr(m), ptr(s),
                stride, padding, act_min, act_max, sub_len, hash_bits]
        if se:
            t = None if thresholds is None else np.ascontiguousarray(thresholds, dtype=np.int32)
            rc = lib.trec_se_convolve_s8(*args, None if t is None else ptr(t), int(recovery_shift), buf.ptr, o.ptr,
                                         cl.ptr)
        else:
            hm = np.ascontiguousarray(hash_matrix, dtype=np.int8)
            rc = lib.trec_convolve_s8(*args, ptr(hm), buf.ptr, o.ptr, cl.ptr)
        assert rc == hostlib.TREC_NN_SUCCESS
        for g in (buf, o, cl):
            g.check()
        out[i] = o.view(np.int8, o.size).reshape(ho, wo, c_out)
        clusters[i] = cl.view(np.uint16, n_sub)
    return out, clusters


def trec_convolve_s8(lib, input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
                     act_min, act_max, sub_len, hash_bits, hash_matrix, **kw):
    return _trec(lib, False, input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
                 act_min, act_max, sub_len, hash_bits, hash_matrix, **kw)


def trec_se_convolve_s8(lib, input, input_offset, weight, bias, output_offset, multiplier, shift, stride,
                        padding, act_min, act_max, sub_len, hash_bits, thresholds=None, recovery_shift=0, **kw):
    return _trec(lib, True, input, input_offset, weight, bias, output_offset, multiplier, shift, stride, padding,
                 act_min, act_max, sub_len, hash_bits, None, thresholds, recovery_shift, **kw)


def trec_se_buffer(lib, input_shape, weight_shape, stride, padding, sub_len, hash_bits) -> Guarded:
    _, h, wd, c_in = input_shape
    c_out, k = weight_shape[0], weight_shape[1]
    return Guarded(lib.trec_se_convolve_s8_get_buffer_size(h, wd, c_in, c_out, k, stride, padding, sub_len,
                                                           hash_bits))


def fully_connected_s8(lib, input, input_offset, weight, bias, output_offset, multiplier, shift, act_min, act_max,
                       *, variant: str = "fully_connected_s8") -> np.ndarray:
    x = np.ascontiguousarray(input, dtype=np.int8)
    w = np.ascontiguousarray(weight, dtype=np.int8)
    f_out, f_in = w.shape
    b, m, s = _i32(bias, f_out), _i32(multiplier, f_out), _i32(shift, f_out)
    out = np.empty((x.shape[0], f_out), np.int8)
    for i in range(x.shape[0]):
        o = Guarded(f_out)
        args = [ptr(x[i]), f_in, input_offset, ptr(w), f_out, ptr(b), output_offset, ptr(m), ptr(s), act_min, act_max]
        if variant == "fully_connected_s8":
            buf = Guarded(lib.fully_connected_s8_get_buffer_size(f_in))
            rc = lib.fully_connected_s8(*args, buf.ptr, o.ptr)
            buf.check()
        else:
            rc = lib.fully_connected_s8_ref(*args, o.ptr)
        assert rc == hostlib.TREC_NN_SUCCESS
        o.check()
        out[i] = o.view(np.int8, f_out)
    return out


def _pool(lib, name, input, kernel, stride, act_min, act_max):
    x = np.ascontiguousarray(input, dtype=np.int8)
    n, h, wd, c = x.shape
    ho, wo = _out_size(h, kernel, stride, 0), _out_size(wd, kernel, stride, 0)
    out = np.empty((n, ho, wo, c), np.int8)
    for i in range(n):
        o = Guarded(ho * wo * c)
        assert getattr(lib, name)(ptr(x[i]), h, wd, c, kernel, stride, act_min, act_max, o.ptr) == 0
        o.check()
        out[i] = o.view(np.int8, o.size).reshape(ho, wo, c)
    return out


def max_pool_s8(lib, input, kernel, stride, act_min, act_max):
    return _pool(lib, "max_pool_s8", input, kernel, stride, act_min, act_max)


def avg_pool_s8(lib, input, kernel, stride, act_min, act_max):
    return _pool(lib, "avg_pool_s8", input, kernel, stride, act_min, act_max)


def global_avg_pool_s8(lib, input, act_min, act_max):
    x = np.ascontiguousarray(input, dtype=np.int8)
    n, h, wd, c = x.shape
    out = np.empty((n, c), np.int8)
    for i in range(n):
        o = Guarded(c)
        assert lib.global_avg_pool_s8(ptr(x[i]), h, wd, c, act_min, act_max, o.ptr) == 0
        o.check()
        out[i] = o.view(np.int8, c)
    return out


def relu_s8(lib, x, zero_point, *, in_place: bool = False):
    x = np.ascontiguousarray(x, dtype=np.int8)
    if in_place:
        y = x.copy()
        assert lib.relu_s8(ptr(y), y.size, zero_point, ptr(y)) == 0
        return y
    o = Guarded(x.size)
    assert lib.relu_s8(ptr(x), x.size, zero_point, o.ptr) == 0
    o.check()
    return o.view(np.int8, x.size).reshape(x.shape)


def concat_s8(lib, inputs):
    arrays = [np.ascontiguousarray(a, dtype=np.int8) for a in inputs]
    positions = int(np.prod(arrays[0].shape[:-1]))
    out_c = sum(a.shape[-1] for a in arrays)
    o = Guarded(positions * out_c)
    offset = 0
    for a in arrays:
        assert lib.concat_s8(ptr(a), positions, a.shape[-1], offset, out_c, o.ptr) == 0
        offset += a.shape[-1]
    o.check()
    return o.view(np.int8, o.size).reshape(*arrays[0].shape[:-1], out_c)


def elementwise_add_s8(lib, input1, input2, *params):
    x1 = np.ascontiguousarray(input1, dtype=np.int8)
    x2 = np.ascontiguousarray(input2, dtype=np.int8)
    o = Guarded(x1.size)
    assert lib.elementwise_add_s8(ptr(x1), ptr(x2), *[int(p) for p in params], x1.size, o.ptr) == 0
    o.check()
    return o.view(np.int8, x1.size).reshape(x1.shape)


def requantize_s8(lib, acc, multiplier, shift, output_offset, act_min, act_max):
    acc = np.ascontiguousarray(acc, dtype=np.int32)
    channels = acc.shape[-1]
    rows = acc.size // channels
    o = Guarded(acc.size)
    m, s = _i32(multiplier, channels), _i32(shift, channels)
    assert lib.requantize_s8(ptr(acc), rows, channels, ptr(m), ptr(s), output_offset, act_min, act_max, o.ptr) == 0
    o.check()
    return o.view(np.int8, acc.size).reshape(acc.shape)
