"""QEMU's Arm MPS2 machines as stand-ins for the boards' cores: the cross-check build variant.

QEMU has no STM32F469 or STM32F746 machine, but it has Arm's MPS2 FPGA images of the same cores:
``mps2-an386`` (Cortex-M4 with FPU) and ``mps2-an500`` (Cortex-M7). Their memory map is not the
STM32's: code runs from ZBT SSRAM1 at 0x0 (where the vector table must be), RAM is ZBT SSRAM2/3
at 0x20000000, and 16 MB of PSRAM sit at 0x21000000 (AN386) or 0x60000000 (AN500) (QEMU 7.2
``hw/arm/mps2.c``, checked with the monitor's ``info mtree``). So the same firmware sources are
linked for a *relocated* copy of the board (:func:`relocate`): every region keeps its name, kind,
size and uses, so the memory plan is the same buffer for buffer; only base addresses move:

* flash goes to the start of SSRAM1 (0x0), so that the vector table is where the core reads it;
* regions inside 0x20000000-0x203FFFFF (the STM32s' SRAM1-3, DTCM) keep their addresses;
* every other on-chip region (CCM, ITCM, backup SRAM) moves to the next free 64 KB boundary of
  SSRAM2/3 above 0x20100000 (ITCM into SSRAM1 after flash, as it may hold code);
* external SDRAM goes to the PSRAM.

The console is UART0 of the CMSDK APB (``firmware/runtime/mps2/uart_cmsdk.c``) instead of the
STM32 USART, and the chip set-up of the real boards (clocks, SDRAM controller) is left out
(``TREC_NO_CHIP_INIT``). There is no DWT on these machines in QEMU: the firmware's cycle table
reads 0, which the QEMU backend reports as "no cycles", never as a measurement.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from trecsim.boards import Board, MemoryRegion
from trecsim.errors import BuildError

__all__ = ["MACHINES", "Mps2Machine", "machine_for", "relocate"]

KB = 1024
MB = 1024 * KB
_ALIGN = 64 * KB


@dataclass(frozen=True)
class Mps2Machine:
    """One QEMU MPS2 machine: its name, the -cpu that matches the board's core, and its RAM windows."""

    name: str  # qemu-system-arm -machine
    cpu: str  # qemu-system-arm -cpu
    core: str  # the board core it stands in for (Board.core.name)
    code: tuple[int, int]  # ZBT SSRAM1 (base, size): code, at 0x0
    ram: tuple[int, int]  # ZBT SSRAM2/3 (base, size)
    psram: tuple[int, int]  # PSRAM (base, size)
    uart0: int = 0x40004000  # CMSDK APB UART0: QEMU's first -serial
    relocated_from: int = 0x20100000  # where moved on-chip RAM regions start (above every STM32 SRAM)


#: Board core -> machine (QEMU 7.2 hw/arm/mps2.c: AN386 is a Cortex-M4 with FPU, AN500 a Cortex-M7).
MACHINES = {
    "cortex-m4f": Mps2Machine("mps2-an386", "cortex-m4", "cortex-m4f", code=(0x00000000, 4 * MB),
                              ram=(0x20000000, 4 * MB), psram=(0x21000000, 16 * MB)),
    "cortex-m7": Mps2Machine("mps2-an500", "cortex-m7", "cortex-m7", code=(0x00000000, 4 * MB),
                             ram=(0x20000000, 4 * MB), psram=(0x60000000, 16 * MB)),
}


def machine_for(board: Board) -> Mps2Machine:
    try:
        return MACHINES[board.core.name]
    except KeyError:
        raise BuildError(f"no QEMU MPS2 machine stands in for core {board.core.name}", where=str(board.toml_path),
                         fix=f"use a board with one of: {', '.join(MACHINES)}") from None


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def relocate(board: Board) -> Board:
    """The board with its memories moved into the MPS2 machine's windows (see the module doc)."""
    machine = machine_for(board)
    code_base, code_size = machine.code
    ram_base, ram_size = machine.ram
    ps_base, ps_size = machine.psram
    flash = board.flash
    moved: list[MemoryRegion] = [dataclasses.replace(flash, base=code_base)]
    code_next = _align(code_base + flash.size)
    ram_next = machine.relocated_from
    psram_next = ps_base
    for m in board.memories:
        if m is flash:
            continue
        if ram_base <= m.base and m.end <= machine.relocated_from:
            base = m.base
        elif m.kind == "sdram":
            base, psram_next = psram_next, _align(psram_next + m.size)
        elif m.kind == "itcm":
            base, code_next = code_next, _align(code_next + m.size)
        else:
            base, ram_next = ram_next, _align(ram_next + m.size)
        moved.append(dataclasses.replace(m, base=base))
    for m in moved:
        windows = (machine.code, machine.ram, machine.psram)
        if not any(b <= m.base and m.end <= b + s for b, s in windows):
            raise BuildError(f"region {m.name} ({m.size} bytes) does not fit the RAM of QEMU's {machine.name}",
                             where=str(board.toml_path), fix="the QEMU cross-check cannot run this board")
    moved.sort(key=lambda m: m.base)
    for a, b in zip(moved, moved[1:]):
        if a.end > b.base:  # pragma: no cover - the rules above never overlap for the committed boards
            raise BuildError(f"regions {a.name} and {b.name} overlap when relocated for {machine.name}",
                             where=str(board.toml_path), fix="adjust trecsim/firmware/mps2.py")
    return dataclasses.replace(board, memories=tuple(moved))
