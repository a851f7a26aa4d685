"""The debug-probe interface the hardware protocol driver talks through, and its emulator-backed
implementation.

A :class:`Probe` is what a debugger offers over SWD: read and write target memory, reset and halt
the core, resume it, ask whether it is halted and where, and program an ELF into flash. Two
implementations: :class:`~trecsim.hw.pyocd_probe.PyocdProbe` (an ST-LINK through pyocd) and
:class:`EmulatorProbe` (trecsim's Unicorn emulator of the same board, the same ELF), so that the
driver of :mod:`trecsim.hw.target` is tested without hardware through the very interface it uses
on a real board.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from trecsim.boards import Board
from trecsim.emulators.chipregs import DBGMCU_IDCODE, REV_ID, dev_id
from trecsim.emulators.elf import ElfImage, load_elf
from trecsim.emulators.unicorn_backend import UnicornBoard
from trecsim.errors import HardwareError

__all__ = ["EmulatorProbe", "Probe"]


@runtime_checkable
class Probe(Protocol):
    """A debug probe attached to one target."""

    kind: str  # "pyocd", "emulator", ...
    description: str  # for reports: which probe, which target
    cycle_source: str  # what the target's DWT CYCCNT is: "DWT on hardware ..." or the emulator's model

    def read_memory(self, address: int, size: int) -> bytes: ...

    def write_memory(self, address: int, data: bytes) -> None: ...

    def reset_halt(self) -> None: ...

    def resume(self) -> None: ...

    def halt(self) -> None: ...

    def is_halted(self) -> bool: ...

    def pc(self) -> int: ...

    def program(self, elf: Path) -> None: ...

    def uart_lines(self) -> list[str] | None:
        """The console lines, where the probe can see the UART itself (the emulator), else None."""
        ...

    def close(self) -> None: ...


class EmulatorProbe:
    """The :class:`Probe` interface on trecsim's Unicorn emulator of ``board``.

    ``program`` loads the ELF (the emulator's flash); ``reset_halt`` starts a fresh emulated core on
    it and keeps the on-chip RAM as a reset does on the chip (SDRAM loses its contents, as it is not
    refreshed before the FMC set-up); ``resume`` runs the firmware to its breakpoint at once, so the
    core is halted again when ``resume`` returns. A fault of the firmware raises the emulator's
    :class:`~trecsim.errors.FirmwareFault`. Before anything is programmed only DBGMCU_IDCODE answers
    (the chip's identity, as it does on an erased chip). ``dev_id`` overrides the identity to act as
    another chip."""

    kind = "emulator"

    def __init__(self, board: Board, *, memory_timing: bool = True, dev_id_override: int | None = None):
        self.board = board
        self.memory_timing = memory_timing
        ident = dev_id(board)
        self._idcode = REV_ID << 16 | (dev_id_override if dev_id_override is not None else ident[0] if ident else 0)
        self.description = f"trecsim's Unicorn emulator of {board.name} (no hardware)"
        self.cycle_source = ("DWT CYCCNT of the emulated board through the probe interface (model estimate, trecsim "
                             f"{board.core.name} cycle model)")
        self._elf: ElfImage | None = None
        self.emu: UnicornBoard | None = None
        self._halted = True
        self.resets = 0

    def _need(self) -> UnicornBoard:
        if self.emu is None:
            raise HardwareError("the emulated target has no firmware yet", where=self.description,
                                fix="program an ELF first")
        return self.emu

    def read_memory(self, address: int, size: int) -> bytes:
        if self.emu is None:
            if address == DBGMCU_IDCODE and size == 4:
                return self._idcode.to_bytes(4, "little")
            self._need()
        import unicorn

        try:
            return bytes(self.emu.uc.mem_read(address, size))
        except unicorn.UcError as exc:
            raise HardwareError(f"reading {size} bytes at 0x{address:08X} failed ({exc})",
                                where=self.description, fix="read only memory the board has") from None

    def write_memory(self, address: int, data: bytes) -> None:
        import unicorn

        try:
            self._need().uc.mem_write(address, bytes(data))
        except unicorn.UcError as exc:
            raise HardwareError(f"writing {len(data)} bytes at 0x{address:08X} failed ({exc})",
                                where=self.description, fix="write only RAM the board has") from None

    def program(self, elf: Path) -> None:
        self._elf = load_elf(elf)
        self.emu = UnicornBoard(self._elf, self.board, memory_timing=self.memory_timing)
        self.emu.uc.mem_write(DBGMCU_IDCODE, self._idcode.to_bytes(4, "little"))
        self._halted = True

    def reset_halt(self) -> None:
        old = self._need()
        keep = [(m.base, bytes(old.uc.mem_read(m.base, m.size))) for m in self.board.memories
                if m.kind not in ("flash", "sdram")]
        self.emu = UnicornBoard(self._elf, self.board, memory_timing=self.memory_timing)
        self.emu.uc.mem_write(DBGMCU_IDCODE, self._idcode.to_bytes(4, "little"))
        for base, data in keep:
            self.emu.uc.mem_write(base, data)
        self._halted = True
        self.resets += 1

    def resume(self) -> None:
        emu = self._need()
        self._halted = False
        try:
            emu.start()
        finally:
            self._halted = True

    def halt(self) -> None:
        self._halted = True

    def is_halted(self) -> bool:
        return self._halted

    def pc(self) -> int:
        from unicorn import arm_const

        return int(self._need().uc.reg_read(arm_const.UC_ARM_REG_PC))

    def uart_lines(self) -> list[str] | None:
        return [line.text for line in self.emu.uart_lines()] if self.emu is not None else []

    def model_cycles(self) -> int:
        """The emulator's own count of the last run (reset to breakpoint)."""
        return int(self.emu.counters().get("cycles", 0)) if self.emu is not None else 0

    def read_symbol(self, name: str, dtype="<u1") -> np.ndarray:  # convenience for tests
        return self._need().read_symbol(name, dtype)

    def close(self) -> None:
        self.emu = None
