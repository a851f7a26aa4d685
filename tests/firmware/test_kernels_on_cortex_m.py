"""The board build of the optimized kernels (real SMLAD/SXTB16/SXTAB16/PKH* through inline asm,
not the host's C models) run in Unicorn as a Cortex-M4 and a Cortex-M7, against trecsim.golden.

The kernels are linked with newlib's memcpy/memset only (no startup code), loaded from the ELF
at its link addresses; arguments follow the AAPCS (r0-r3, then the stack)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fw_strategies import conv_case, divisors
from trecsim import golden
from trecsim.firmware import hostlib

unicorn = pytest.importorskip("unicorn")
elffile = pytest.importorskip("elftools.elf.elffile")
from unicorn import arm_const  # noqa: E402

#: int16 recovery shift for the SE-TREC comparisons (2: narrowing, and saturation on these ranges)
RB = 2

ARM_GCC = shutil.which("arm-none-eabi-gcc")
pytestmark = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed")
CPUS = {
    "cortex-m4": (["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"], arm_const.UC_CPU_ARM_CORTEX_M4),
    "cortex-m7": (["-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16"], arm_const.UC_CPU_ARM_CORTEX_M7),
}
ENTRY_POINTS = ["convolve_s8", "trec_convolve_s8", "trec_se_convolve_s8", "fully_connected_s8", "max_pool_s8"]
RAM, RAM_SIZE = 0x20000000, 8 << 20
RETURN = 0x0F000000
SLOW = settings(max_examples=25, deadline=None)


class Board:
    """A linked kernel image in Unicorn; call(name, *args) with ints or numpy arrays (copied in and out)."""

    def __init__(self, elf_path, cpu_model):
        self.uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB)
        self.uc.ctl_set_cpu_model(cpu_model)
        with open(elf_path, "rb") as f:
            elf = elffile.ELFFile(f)
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                    continue
                start = seg["p_vaddr"] & ~0xFFF
                end = (seg["p_vaddr"] + seg["p_memsz"] + 0xFFF) & ~0xFFF
                try:
                    self.uc.mem_map(start, end - start)
                except unicorn.UcError:
                    pass  # shares a page with the previous segment
                self.uc.mem_write(seg["p_vaddr"], seg.data() + bytes(seg["p_memsz"] - seg["p_filesz"]))
            symtab = elf.get_section_by_name(".symtab")
            self.symbols = {s.name: s["st_value"] for s in symtab.iter_symbols() if s.name}
        self.uc.mem_map(RAM, RAM_SIZE)
        self.uc.mem_map(RETURN, 0x1000)

    def call(self, name, *args):
        heap = RAM
        values, arrays = [], []
        for a in args:
            if isinstance(a, np.ndarray):
                a = np.ascontiguousarray(a)
                self.uc.mem_write(heap, a.tobytes())
                values.append(heap)
                arrays.append((heap, a))
                heap = (heap + a.nbytes + 7) & ~7
            else:
                values.append(0 if a is None else int(a) & 0xFFFFFFFF)
        sp = RAM + RAM_SIZE - 256
        stacked = values[4:]
        sp -= 4 * len(stacked)
        sp &= ~7
        for i, v in enumerate(stacked):
            self.uc.mem_write(sp + 4 * i, v.to_bytes(4, "little"))
        for reg, v in zip((arm_const.UC_ARM_REG_R0, arm_const.UC_ARM_REG_R1, arm_const.UC_ARM_REG_R2,
                           arm_const.UC_ARM_REG_R3), values[:4]):
            self.uc.reg_write(reg, v)
        self.uc.reg_write(arm_const.UC_ARM_REG_SP, sp)
        self.uc.reg_write(arm_const.UC_ARM_REG_LR, RETURN | 1)
        self.uc.emu_start(self.symbols[name] | 1, RETURN, count=500_000_000)
        for addr, a in arrays:  # copy every array back (outputs and buffers)
            a[...] = np.frombuffer(self.uc.mem_read(addr, a.nbytes), dtype=a.dtype).reshape(a.shape)
        rc = self.uc.reg_read(arm_const.UC_ARM_REG_R0)
        return rc - (1 << 32) if rc >= 1 << 31 else rc


@pytest.fixture(scope="module", params=sorted(CPUS))
def board(request, tmp_path_factory):
    flags, model = CPUS[request.param]
    elf = tmp_path_factory.mktemp("elf") / f"kernels-{request.param}.elf"
    cmd = [ARM_GCC, *hostlib.CFLAGS, *flags, "-mthumb", "-mfloat-abi=hard", "-ffunction-sections",
           "-nostartfiles", "-Wl,--gc-sections", *(f"-Wl,--undefined={e}" for e in ENTRY_POINTS),
           f"-Wl,--entry={ENTRY_POINTS[0]}", f"-I{hostlib.KERNEL_DIR}",
           *(str(s) for s in hostlib.sources()), "-o", str(elf)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return Board(elf, model)


def _out_shape(case):
    x, w = case["input"], case["weight"]
    k, s, p = w.shape[1], case["stride"], case["padding"]
    return ((x.shape[1] + 2 * p - k) // s + 1, (x.shape[2] + 2 * p - k) // s + 1, w.shape[0])


def _conv_args(case):
    x, w = case["input"], case["weight"]
    return [x[0], x.shape[1], x.shape[2], x.shape[3], case["input_offset"], w, w.shape[0], w.shape[1],
            case["bias"].astype(np.int32), case["output_offset"], case["multiplier"].astype(np.int32),
            case["shift"].astype(np.int32), case["stride"], case["padding"], case["act_min"], case["act_max"]]


@SLOW
@given(case=conv_case(max_hw=7, max_c_in=6, max_c_out=7), pointwise=st.booleans())
def test_dense_convolution_on_the_core_matches_golden(board, case, pointwise):
    if pointwise:
        case.update(stride=1, padding=0, weight=np.ascontiguousarray(case["weight"][:, :1, :1, :]))
    c_in, c_out, k = case["input"].shape[3], case["weight"].shape[0], case["weight"].shape[1]
    buf = np.zeros(hostlib.load().convolve_s8_get_buffer_size(c_in, c_out, k, case["stride"], case["padding"]) + 4,
                   np.uint8)
    out = np.zeros(_out_shape(case), np.int8)
    assert board.call("convolve_s8", *_conv_args(case), buf, out) == 0
    np.testing.assert_array_equal(out, golden.convolve_s8(**case)[0])


@SLOW
@given(case=conv_case(max_hw=7, max_c_in=5, max_c_out=7), data=st.data(), se=st.booleans())
def test_trec_convolutions_on_the_core_match_golden(board, case, data, se):
    x, w = case["input"], case["weight"]
    c_out, k = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    sub_len = data.draw(st.sampled_from(divisors(k)))
    hash_bits = data.draw(st.integers(1, min(c_out, 16) if se else 16))
    geometry = (x.shape[1], x.shape[2], x.shape[3], c_out, w.shape[1], case["stride"], case["padding"], sub_len,
                hash_bits)
    host = hostlib.load()
    size = (host.trec_se_convolve_s8_get_buffer_size if se else host.trec_convolve_s8_get_buffer_size)(*geometry)
    buf = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)  # poisoned scratch
    out = np.zeros(_out_shape(case), np.int8)
    clusters = np.zeros(k // sub_len, np.uint16)
    if se:
        rc = board.call("trec_se_convolve_s8", *_conv_args(case), sub_len, hash_bits, 0, RB, buf, out, clusters)
        expected, expected_clusters = golden.trec_se_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB)
    else:
        hm = np.random.default_rng(1).integers(-128, 128, (sub_len, hash_bits), dtype=np.int8)
        rc = board.call("trec_convolve_s8", *_conv_args(case), sub_len, hash_bits, hm, buf, out, clusters)
        expected, expected_clusters = golden.trec_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits,
                                                              hash_matrix=hm)
    assert rc == 0
    np.testing.assert_array_equal(clusters, expected_clusters[0])
    np.testing.assert_array_equal(out, expected[0])


@SLOW
@given(f_in=st.integers(1, 40), f_out=st.integers(1, 9), seed=st.integers(0, 2**32 - 1),
       offsets=st.tuples(st.integers(-128, 128), st.integers(-128, 127)))
def test_fully_connected_on_the_core_matches_golden(board, f_in, f_out, seed, offsets):
    r = np.random.default_rng(seed)
    x = r.integers(-128, 128, (1, f_in), dtype=np.int8)
    w = r.integers(-127, 128, (f_out, f_in), dtype=np.int8)
    bias = r.integers(-9999, 9999, f_out).astype(np.int32)
    m = r.integers(1 << 30, 1 << 31, f_out).astype(np.int32)
    s = r.integers(-12, 2, f_out).astype(np.int32)
    out = np.zeros(f_out, np.int8)
    buf = np.zeros(hostlib.load().fully_connected_s8_get_buffer_size(f_in), np.uint8)
    assert board.call("fully_connected_s8", x[0], f_in, offsets[0], w, f_out, bias, offsets[1], m, s, -128, 127,
                      buf, out) == 0
    np.testing.assert_array_equal(out, golden.fully_connected_s8(x, offsets[0], w, bias, offsets[1], m, s, -128,
                                                                 127)[0])


def _fixed_conv_case(seed, hw, c_in, c_out, kernel, stride, padding, input_offset):
    r = np.random.default_rng(seed)
    return dict(input=r.integers(-128, 128, (1, hw, hw, c_in), dtype=np.int8), input_offset=input_offset,
                weight=r.integers(-127, 128, (c_out, kernel, kernel, c_in), dtype=np.int8),
                bias=r.integers(-20000, 20000, c_out).astype(np.int32), output_offset=int(r.integers(-20, 20)),
                multiplier=r.integers(1 << 30, (1 << 31) - 1, c_out).astype(np.int32),
                shift=r.integers(-12, 3, c_out).astype(np.int32), stride=stride, padding=padding, act_min=-110,
                act_max=125)


@pytest.mark.parametrize("shape", [
    # (hw, c_in, c_out, kernel, stride, padding, input_offset): the hot paths with many SMLAD loop trips
    (7, 3, 9, 5, 1, 2, 128),     # first layer, staged im2col, K = 75 (tail 3), odd positions and channels
    (5, 3, 6, 3, 1, 1, -128),    # K = 27 through the run-based im2col (padding byte out of int8 range)
    (6, 16, 5, 3, 1, 1, 7),      # whole groups only, odd channel count
    (5, 36, 7, 1, 1, 0, -3),     # 1x1 fast path: 9 groups per dot, odd positions and channels
    (4, 19, 6, 1, 1, 0, 100),    # 1x1 fast path with a tail of 3
])
def test_hot_paths_on_the_core_match_golden(board, shape):
    hw, c_in, c_out, kernel, stride, padding, offset = shape
    case = _fixed_conv_case(sum(shape) & 0xFFFF, hw, c_in, c_out, kernel, stride, padding, offset)
    buf = np.zeros(hostlib.load().convolve_s8_get_buffer_size(c_in, c_out, kernel, stride, padding) + 4, np.uint8)
    out = np.zeros(_out_shape(case), np.int8)
    assert board.call("convolve_s8", *_conv_args(case), buf, out) == 0
    np.testing.assert_array_equal(out, golden.convolve_s8(**case)[0])


@pytest.mark.parametrize("shape", [
    # (hw, c_in, c_out, kernel, sub_len, hash_bits[, stride, padding]): one-tap chunks of 16 and 24 channels,
    # chunks over several taps (L = 18 of 12 channels), odd L, an odd number of positions, H not a multiple of 4
    (5, 16, 12, 3, 16, 8),
    (4, 24, 9, 3, 24, 7),
    (5, 12, 8, 3, 18, 8),
    (5, 3, 5, 3, 9, 5),
    # no padding: the contiguous-run im2col (se_im2col_runs) for every chunk inside a kernel row, the generic
    # one for those that wrap to the next row; odd N and output rows (pairs across rows), L odd (tails 3, 1),
    # L % 4 == 2 with one group, stride 2, C_out not a multiple of 4, odd slot counts (a lone last slot)
    (7, 12, 9, 3, 27, 6, 1, 0),
    (8, 12, 8, 3, 6, 5, 1, 0),
    (9, 8, 7, 3, 9, 4, 2, 0),
    (6, 10, 6, 2, 10, 3, 1, 0),
    # more than 128 positions: int32 cluster sums (N = 169), and above 1448 the exact trec_mean (N = 1521)
    (13, 8, 6, 1, 4, 3, 1, 0),
    (39, 4, 5, 1, 2, 2, 1, 0),
])
def test_se_trec_hot_paths_on_the_core_match_golden(board, shape):
    hw, c_in, c_out, kernel, sub_len, hash_bits = shape[:6]
    stride, padding = shape[6:] if len(shape) > 6 else (1, 1)
    case = _fixed_conv_case(sum(shape), hw, c_in, c_out, kernel, stride, padding, 11)
    k = kernel * kernel * c_in
    geometry = (hw, hw, c_in, c_out, kernel, stride, padding, sub_len, hash_bits)
    size = hostlib.load().trec_se_convolve_s8_get_buffer_size(*geometry)
    buf = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)  # poisoned scratch
    out = np.zeros(_out_shape(case), np.int8)
    clusters = np.zeros(k // sub_len, np.uint16)
    assert board.call("trec_se_convolve_s8", *_conv_args(case), sub_len, hash_bits, 0, RB, buf, out, clusters) == 0
    expected, expected_clusters = golden.trec_se_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB)
    np.testing.assert_array_equal(clusters, expected_clusters[0])
    np.testing.assert_array_equal(out, expected[0])
    # centred hash bits: thresholds around the middle of the projections (tests that each bit and the
    # lone last position use its own threshold)
    t = np.random.default_rng(sum(shape)).integers(-3000, 3000, (k // sub_len, hash_bits), dtype=np.int32)
    assert board.call("trec_se_convolve_s8", *_conv_args(case), sub_len, hash_bits, t, RB, buf, out, clusters) == 0
    expected, expected_clusters = golden.trec_se_convolve_s8(**case, sub_len=sub_len, hash_bits=hash_bits, recovery_shift=RB,
                                                             thresholds=t)
    np.testing.assert_array_equal(clusters, expected_clusters[0])
    np.testing.assert_array_equal(out, expected[0])


@pytest.mark.parametrize("shape", [(6, 6, 8, 2, 2, -128, 127), (7, 5, 12, 3, 2, -5, 100), (5, 5, 7, 2, 1, 0, 127)])
def test_max_pool_on_the_core_matches_golden(board, shape):
    """Channels in words of four (SSUB8 + SEL, the clamp included) and a count that is not."""
    h, w, c, kernel, stride, act_min, act_max = shape
    x = np.random.default_rng(h * w * c).integers(-128, 128, (1, h, w, c), dtype=np.int8)
    expected = golden.max_pool_s8(x, kernel, stride, act_min, act_max)
    out = np.zeros(expected.shape[1:], np.int8)
    assert board.call("max_pool_s8", x[0], h, w, c, kernel, stride, act_min, act_max, out) == 0
    np.testing.assert_array_equal(out, expected[0])
