"""The QEMU cross-check: the committed CifarNet firmware (dense and SE-TREC), built for QEMU's MPS2
machines (mps2-an386 as the F469's Cortex-M4F, mps2-an500 as the F746's Cortex-M7), runs with outputs
and cluster counts bit-identical to the Unicorn run and the golden model, prints the same console
lines, and claims no cycles; QEMU catches what Unicorn lets through (a disabled FPU) and refuses
what the Cortex-M4 lacks (FPv5, double precision); hangs and lockups are reported with the PC (a missing QEMU and a wrongly linked
ELF: test_qemu_missing.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emu_firmware import ARM_GCC, BOARDS, needs_arm_gcc
from trecsim import boards, data, golden, spec as specmod
from trecsim.emulators import BUILD_VARIANTS, open_board, run_firmware
from trecsim.errors import EmulatorError, FirmwareFault
from trecsim.firmware import mps2
from trecsim.firmware.build import (COMMON_FLAGS, CORE_FLAGS, KERNEL_DIR, LINK_FLAGS, MPS2_DIR, RUNTIME_DIR,
                                    _input_files, build_firmware)

QEMU = shutil.which("qemu-system-arm")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed: the QEMU cross-check needs it "
                                "(apt-get install qemu-system-arm, or set TRECSIM_QEMU)")
pytestmark = [needs_arm_gcc, needs_qemu]

MODES = ("dense", "se-trec")
IMAGES = 3


@pytest.fixture(scope="module")
def sample():
    return data.load_sample().images[:IMAGES]


def _builds(mode: str, name: str):
    spec = specmod.load_trained("cifarnet", mode)
    board = boards.get_board(name)
    return spec, board, build_firmware(spec, board, variant=BUILD_VARIANTS["qemu"]), build_firmware(spec, board)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", BOARDS)
def test_cifarnet_under_qemu_is_bit_identical_to_unicorn_and_golden(sample, mode, name):
    spec, board, qbuild, ubuild = _builds(mode, name)
    want = golden.run(spec, sample)
    x = golden.model_input(spec, sample)
    clustered = [l.name for l in spec.layers if l.clustered]
    assert (mode == "se-trec") == bool(clustered)
    for i in range(len(sample)):
        q = run_firmware(qbuild.elf, board, x[i], backend="qemu")
        u = run_firmware(ubuild.elf, board, x[i])
        assert (q.backend, q.status, q.done, q.error, q.stop) == ("qemu", "done", True, 0, "done flag")
        np.testing.assert_array_equal(q.output, want.logits[i])
        np.testing.assert_array_equal(q.output, u.output)
        assert sorted(q.outputs) == sorted(u.outputs)
        for sym in q.outputs:
            np.testing.assert_array_equal(q.outputs[sym], u.outputs[sym], err_msg=sym)
        for layer in clustered:
            np.testing.assert_array_equal(q.outputs[f"trec_clusters_{layer}"], want.clusters[layer][i])
            assert q.layer(layer).clusters == u.layer(layer).clusters == want.clusters[layer][i].sum() > 0
    # no cycles are claimed: QEMU has no DWT, the firmware's table read 0, the result says "none"
    assert q.cycle_source.startswith("none") and q.total_cycles == q.instructions == q.model_cycles == 0
    assert all(layer.cycles == 0 and not layer.phases for layer in q.layers)
    assert [layer.name for layer in q.layers] == [layer.name for layer in u.layers]
    # the same console, but for the cycle figures Unicorn's model filled in
    assert q.console == [re.sub(r"cycles \d+", "cycles 0", line) for line in u.console]
    assert q.console[0] == f"trecsim: model cifarnet mode {mode} board {name}"
    # memory: the same code touches the same stack and arena bytes on both emulators
    assert 0 < q.memory.stack_peak < q.memory.stack_reserved == qbuild.plan.stack_bytes
    assert q.memory.arena_peaks == u.memory.arena_peaks
    assert q.memory.region("flash").static == qbuild.size.flash_used


@pytest.mark.parametrize("name", BOARDS)
def test_the_qemu_build_links_the_same_plan_at_the_machines_addresses(name):
    spec, board, qbuild, ubuild = _builds("dense", name)
    machine = mps2.machine_for(board)
    assert qbuild.out_dir.parent.parent.name == f"qemu-{machine.name}" and qbuild.elf != ubuild.elf
    # buffer for buffer the same plan, only the arenas' bases move
    strip = lambda plan: {**plan.to_json(), "arenas": [{k: v for k, v in a.items() if k != "base"}  # noqa: E731
                                                        for a in plan.to_json()["arenas"]]}
    assert strip(qbuild.plan) == strip(ubuild.plan)
    moved = mps2.relocate(board)
    assert [(m.name, m.kind, m.size, m.usable) for m in moved.memories] == \
        sorted([(m.name, m.kind, m.size, m.usable) for m in board.memories], key=lambda t: moved.memory(t[0]).base)
    assert moved.flash.base == machine.code[0] == 0
    board_h = (qbuild.out_dir / "board.h").read_text()
    assert "TREC_NO_CHIP_INIT 1" in board_h and f"0x{machine.uart0:08X}" in board_h
    assert "TREC_BOARD_" not in board_h.replace("TREC_BOARD_H", "").replace("TREC_BOARD_NAME", "")
    # either UART driver includes the one console text, which is in the cache key of both variants
    for variant in (None, "qemu"):
        assert RUNTIME_DIR / "trec_console.h" in _input_files(variant)


# --------------------------------------------------------------------------- what only QEMU catches

HEADER = '#include <stdint.h>\n#include "trec_runtime.h"\n'
PROGRAMS = {
    # the state of a firmware whose start-up leaves the FPU off: CPACR CP10/CP11 "no access"
    "fpu_off": HEADER + """volatile float a = 1.5f, b;
int main(void) {
    trec_uart_init();
    trec_uart_puts("fpu off\\n");
    *(volatile uint32_t *)0xE000ED88u &= ~(0xFu << 20);
    __asm volatile("dsb\\n\\tisb" ::: "memory");
    b = a * 3.0f; /* line 9 */
    trec_uart_puts("survived\\n");
    trec_done = 1u;
    __asm volatile("bkpt #0");
    return 0;
}
""",
    # VADD.F64 d0, d0, d1: double precision, which FPv4-SP (the F469's Cortex-M4F) does not have
    "double": HEADER + """int main(void) {
    trec_uart_init();
    trec_uart_puts("double\\n");
    __asm volatile(".inst.w 0xee300b01" ::: "memory"); /* line 6 */
    trec_uart_puts("survived\\n");
    trec_done = 1u;
    __asm volatile("bkpt #0");
    return 0;
}
""",
    # VMAXNM.F32 s0, s0, s1: FPv5, which the F746's Cortex-M7 has and the F469's Cortex-M4F does not
    "fpv5": HEADER + """int main(void) {
    trec_uart_init();
    trec_uart_puts("fpv5\\n");
    __asm volatile(".inst.w 0xfe800a20" ::: "memory"); /* line 6 */
    trec_uart_puts("survived\\n");
    trec_done = 1u;
    __asm volatile("bkpt #0");
    return 0;
}
""",
    # the stack pointer outside RAM: the UsageFault cannot be stacked, the handler faults again: lockup
    "lockup": HEADER + """int main(void) {
    trec_uart_init();
    trec_uart_puts("no stack\\n");
    __asm volatile("mov sp, %0\\n\\tudf #0" :: "r"(0x30000100u) : "memory"); /* line 6 */
    return 0;
}
""",
    "loop": HEADER + """int main(void) {
    trec_uart_init();
    trec_uart_puts("spinning\\n");
    for (;;) {
        __asm volatile("nop"); /* line 6 */
    }
}
""",
}


def _tiny(name: str, prog: str, out: Path, *, qemu: bool) -> Path:
    """Links PROGRAMS[prog] with the runtime for the board's chip or for QEMU's machine (the board.h and
    linker.ld of the CifarNet dense build of that variant)."""
    board = boards.get_board(name)
    spec = specmod.load_trained("cifarnet", "dense")
    gen = build_firmware(spec, board, variant="qemu" if qemu else None).out_dir
    out.mkdir(parents=True, exist_ok=True)
    src = out / "tiny_main.c"
    src.write_text(PROGRAMS[prog])
    elf = out / "tiny.elf"
    uart = MPS2_DIR / "uart_cmsdk.c" if qemu else RUNTIME_DIR / "usart.c"
    cmd = [ARM_GCC, *CORE_FLAGS[board.core.name], *COMMON_FLAGS, "-DTREC_NO_PROFILE", "-O1", f"-I{gen}",
           f"-I{RUNTIME_DIR}", f"-I{KERNEL_DIR}", *LINK_FLAGS, f"-T{gen / 'linker.ld'}", str(RUNTIME_DIR / "startup.c"),
           str(RUNTIME_DIR / "board_init.c"), str(uart), str(src), "-o", str(elf)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return elf


@pytest.mark.parametrize("name", BOARDS)
def test_a_disabled_fpu_faults_under_qemu_but_not_under_unicorn(name, tmp_path):
    board = boards.get_board(name)
    with pytest.raises(FirmwareFault) as info:
        run_firmware(_tiny(name, "fpu_off", tmp_path / "q", qemu=True), board, backend="qemu", timeout_s=30)
    f = info.value
    assert f.kind == "UsageFault" and any(b.startswith("NOCP") for b in f.cfsr_bits)
    assert f.pc_where == "main (tiny_main.c:9)"
    assert f.uart_tail == ("fpu off",)
    # the reason for the cross-check: Unicorn runs the same code with the FPU off to the end
    r = run_firmware(_tiny(name, "fpu_off", tmp_path / "u", qemu=False), board)
    assert r.console == ["fpu off", "survived"]


@pytest.mark.parametrize("prog", ["double", "fpv5"])
def test_an_instruction_the_cortex_m4_lacks_faults_under_qemu_cortex_m4(prog, tmp_path):
    name = "stm32f469i-disco"
    with pytest.raises(FirmwareFault) as info:
        run_firmware(_tiny(name, prog, tmp_path, qemu=True), boards.get_board(name), backend="qemu", timeout_s=30)
    f = info.value
    assert f.kind == "UsageFault" and f.cfsr_bits[0].startswith("UNDEFINSTR")
    assert f.pc_where == "main (tiny_main.c:6)" and f.uart_tail == (prog,)


def test_the_same_fpv5_instruction_runs_on_qemus_cortex_m7(tmp_path):
    name = "nucleo-f746zg"
    r = run_firmware(_tiny(name, "fpv5", tmp_path, qemu=True), boards.get_board(name), backend="qemu", timeout_s=30)
    assert r.console == ["fpv5", "survived"]


def test_a_hang_is_interrupted_at_the_deadline_with_its_pc(tmp_path):
    name = BOARDS[0]
    with pytest.raises(FirmwareFault) as info:
        run_firmware(_tiny(name, "loop", tmp_path, qemu=True), boards.get_board(name), backend="qemu", timeout_s=1.5)
    f = info.value
    assert f.kind == "timeout" and "1.5 s" in str(f)
    assert f.pc_where.startswith("main (tiny_main.c:") and f.uart_tail == ("spinning",)


def test_a_lockup_ends_qemu_and_is_reported_with_qemus_message(tmp_path):
    name = BOARDS[0]
    with pytest.raises(FirmwareFault) as info:
        run_firmware(_tiny(name, "lockup", tmp_path, qemu=True), boards.get_board(name), backend="qemu", timeout_s=30)
    f = info.value
    assert f.kind == "lockup" and "qemu: fatal: Lockup" in str(f) and f.uart_tail == ("no stack",)
    assert f.pc is not None and "--emulator unicorn" in str(f)


# --------------------------------------------------------------------------- set-up errors


def test_a_board_runs_once_and_symbols_are_read_by_name():
    spec, board, qbuild, _ = _builds("dense", BOARDS[0])
    x = golden.model_input(spec, data.load_sample().images[:1])[0]
    with open_board(qbuild.elf, board, backend="qemu") as emu:
        emu.write_symbol("trec_input", x)
        np.testing.assert_array_equal(emu.read_symbol("trec_input", np.int8), x.reshape(-1))
        r = emu.run()
        assert r.status == "done" and emu.read_u32("trec_done") == 1
        np.testing.assert_array_equal(emu.read_symbol("trec_output", np.int8), r.output)
        with pytest.raises(EmulatorError, match="already run"):
            emu.run(x)
