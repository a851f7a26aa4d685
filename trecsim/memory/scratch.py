"""Scratch sizes of the firmware kernels: Python mirrors of their ``_get_buffer_size`` functions.

Each function returns exactly what the C companion in ``firmware/kernels/`` returns for the
same arguments (tests/memory checks that through :mod:`trecsim.firmware.hostlib`), so the
memory planner can size buffers without a compiler.
"""

from __future__ import annotations

from trecsim.spec import LayerSpec, ModelSpec

MAX_HASH_BITS = 16


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    if stride < 1 or kernel < 1 or padding < 0 or size + 2 * padding < kernel:
        return -1
    return (size + 2 * padding - kernel) // stride + 1


def convolve_s8_get_buffer_size(input_c: int, output_c: int, kernel: int, stride: int, padding: int) -> int:
    """Two q15 patches of K (rounded up to even), or C_out int32 on the 1x1 fast path."""
    if kernel == 1 and stride == 1 and padding == 0:
        return output_c * 4
    k = kernel * kernel * input_c
    row = (k + 1) & ~1
    return _align4(2 * row * 2)


def trec_convolve_s8_get_buffer_size(input_h: int, input_w: int, input_c: int, output_c: int, kernel: int,
                                     stride: int, padding: int, sub_len: int, hash_bits: int) -> int:
    """acc N x C_out int32 | T S x C_out int32 | sums S x L int32 | cols N x K int16 |
    cents S x L2 int16 | cluster_of N uint16 | table 2^H uint16 | counts S uint16."""
    oh, ow = _out_size(input_h, kernel, stride, padding), _out_size(input_w, kernel, stride, padding)
    if oh < 1 or ow < 1 or sub_len < 1 or not 1 <= hash_bits <= MAX_HASH_BITS:
        return 0
    n, k, table = oh * ow, kernel * kernel * input_c, 1 << hash_bits
    slots, l2 = min(n, table), (sub_len + 1) & ~1
    parts = (4 * n * output_c, 4 * slots * output_c, 4 * slots * sub_len, 2 * n * k, 2 * slots * l2, 2 * n,
             2 * table, 2 * slots)
    return sum(_align4(p) for p in parts)


def trec_se_convolve_s8_get_buffer_size(input_h: int, input_w: int, input_c: int, output_c: int, kernel: int,
                                        stride: int, padding: int, sub_len: int, hash_bits: int) -> int:
    """table 2^H uint16 | acc N x C_out int16 (int16 recovery) | slots S x L2 int32 |
    work max(chunk N x L2 int16, order N uint16 + T 2 x C_out int32) |
    cluster_of N uint16 | slot_id S uint16 | counts S uint16 | wq C4 x L2 int16 (C4: C_out rounded up to 4)."""
    del input_c
    oh, ow = _out_size(input_h, kernel, stride, padding), _out_size(input_w, kernel, stride, padding)
    if oh < 1 or ow < 1 or sub_len < 1 or not 1 <= hash_bits <= MAX_HASH_BITS:
        return 0
    n, table = oh * ow, 1 << hash_bits
    slots, l2 = min(n, table), (sub_len + 1) & ~1
    work = max(_align4(2 * n * l2), _align4(2 * n) + _align4(4 * 2 * output_c))
    wq = 2 * ((output_c + 3) & ~3) * l2
    parts = (2 * table, 2 * n * output_c, 4 * slots * l2, work, 2 * n, 2 * slots, 2 * slots, wq)
    return sum(_align4(p) for p in parts)


def fully_connected_s8_get_buffer_size(input_size: int) -> int:
    return _align4(input_size * 2)


def layer_scratch_bytes(spec: ModelSpec, layer: LayerSpec) -> int:
    """Scratch bytes the kernel of ``layer`` needs (0 for ops without a buffer)."""
    a = layer.attrs
    if layer.op == "conv":
        h, w, c = spec.tensors[layer.inputs[0]].shape
        c_out, k = layer.arrays["weight"].shape[0], a["kernel"]
        if layer.mode == "dense":
            return convolve_s8_get_buffer_size(c, c_out, k, a["stride"], a["padding"])
        size = (trec_convolve_s8_get_buffer_size if layer.mode == "trec" else trec_se_convolve_s8_get_buffer_size)
        return size(h, w, c, c_out, k, a["stride"], a["padding"], a["sub_len"], a["hash_bits"])
    if layer.op == "fc":
        return fully_connected_s8_get_buffer_size(spec.tensors[layer.inputs[0]].size)
    return 0


__all__ = ["convolve_s8_get_buffer_size", "fully_connected_s8_get_buffer_size", "layer_scratch_bytes",
           "trec_convolve_s8_get_buffer_size", "trec_se_convolve_s8_get_buffer_size"]
