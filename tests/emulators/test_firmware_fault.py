"""UnicornBoard.firmware_fault reads the trec_fault record that the firmware's own fault handler fills:
entered as the core enters it (the stacked frame on MSP, EXC_RETURN in LR, the exception number in IPSR,
the fault status registers set), the handler records the frame and the registers, and the host decodes
them into a FirmwareFault naming the exception, the status bits, the fault address and the faulting
function and line. A run that did not fault has no firmware fault."""

from __future__ import annotations

import pytest
from unicorn import arm_const

from emu_firmware import BOARDS, cifarnet, cifarnet_build, needs_arm_gcc
from trecsim import boards, data, golden
from trecsim.emulators.result import STATUS
from trecsim.emulators.unicorn_backend import UnicornBoard

pytestmark = needs_arm_gcc

CFSR, MMFAR, BFAR = 0xE000ED28, 0xE000ED34, 0xE000ED38


def _enter_fault_handler(emu: UnicornBoard, exception: int, cfsr: int, *, pc_function: str, lr_function: str,
                         mmfar: int = 0, bfar: int = 0) -> tuple[int, int]:
    elf, uc = emu.elf, emu.uc
    pc = elf.symbols[pc_function].address + 8
    lr = (elf.symbols[lr_function].address + 0x20) | 1
    frame_at = elf.symbols["_stack_top"].address - 256
    frame = [1, 2, 3, 4, 12, lr, pc, 0x01000000]  # r0-r3, r12, lr, pc, xpsr
    uc.mem_write(frame_at, b"".join(v.to_bytes(4, "little") for v in frame))
    for addr, value in ((CFSR, cfsr), (MMFAR, mmfar), (BFAR, bfar)):
        uc.mem_write(addr, value.to_bytes(4, "little"))
    uc.reg_write(arm_const.UC_ARM_REG_SP, frame_at)
    uc.reg_write(arm_const.UC_ARM_REG_LR, 0xFFFFFFF9)  # EXC_RETURN: thread mode, MSP
    uc.reg_write(arm_const.UC_ARM_REG_IPSR, exception)
    uc.emu_start(elf.symbols["Fault_Handler"].address | 1, 0xFFFFFFFF, count=10_000)
    return pc, lr


@pytest.mark.parametrize("name", BOARDS)
def test_a_bus_fault_recorded_by_the_handler_is_decoded(name):
    emu = UnicornBoard(cifarnet_build(name).elf, boards.get_board(name))
    assert emu.firmware_fault() is None  # nothing ran yet: trec_status is 0
    pc, lr = _enter_fault_handler(emu, 5, (1 << 9) | (1 << 15), bfar=0x30000000, pc_function="convolve_s8",
                                  lr_function="trec_model_run")
    assert STATUS[emu.read_u32("trec_status")] == "fault" and emu.read_u32("trec_done") == 1
    f = emu.firmware_fault()
    assert f is not None and f.kind == "BusFault"
    assert (f.pc, f.lr) == (pc, lr)
    assert f.cfsr_bits == ("PRECISERR (precise data bus error)", "BFARVALID (BFAR holds the address)")
    assert f.pc_where.startswith("convolve_s8 (convolve_s8.c:")
    assert f.lr_where.startswith("trec_model_run (")
    assert "BFAR 0x30000000" in str(f) and "fault handler ran" in str(f) and name in str(f)


def test_a_memmanage_fault_names_its_address_and_a_usage_fault_its_cause():
    name = BOARDS[0]
    board, elf = boards.get_board(name), cifarnet_build(name).elf
    emu = UnicornBoard(elf, board)
    _enter_fault_handler(emu, 4, (1 << 1) | (1 << 7), mmfar=0x10000040, pc_function="max_pool_s8",
                         lr_function="trec_model_run")
    f = emu.firmware_fault()
    assert f.kind == "MemManage" and "MMFAR 0x10000040" in str(f)
    assert [b.split()[0] for b in f.cfsr_bits] == ["DACCVIOL", "MMARVALID"]
    emu = UnicornBoard(elf, board)
    _enter_fault_handler(emu, 6, 1 << 19, pc_function="fully_connected_s8", lr_function="trec_model_run")
    f = emu.firmware_fault()
    assert f.kind == "UsageFault" and f.cfsr_bits == ("NOCP (coprocessor disabled or absent, e.g. the FPU)",)
    assert f.pc_where.startswith("fully_connected_s8 (")


def test_a_run_that_did_not_fault_has_no_firmware_fault():
    name = BOARDS[1]
    spec = cifarnet()
    emu = UnicornBoard(cifarnet_build(name).elf, boards.get_board(name))
    r = emu.run(golden.model_input(spec, data.load_sample().images[:1])[0])
    assert r.status == "done" and emu.firmware_fault() is None
