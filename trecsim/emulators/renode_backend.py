"""The Renode backend, through pyrenode3, where Renode is installed (it cannot be here: see
platforms/README.md, "Emulator backends: what was checked, and with what").

Renode runs the firmware built for the board's own chip (no build variant): the board's
``platforms/boards/<board>.repl`` is the machine, as its ``.resc`` launch script does it (``mach create``,
``machine LoadPlatformDescription``, ``sysbus LoadELF``; the script's ``showAnalyzer`` window is
replaced by a file backend on the same console UART, which a headless pyrenode3 can read). The host
protocol is the Unicorn backend's: ``trec_input`` is written by ELF symbol through the system bus
before the core starts, the emulation runs in slices of emulated time until the firmware sets
``trec_done``, and ``trec_status``, ``trec_output``, the cluster counters and ``trec_fault`` are read
back by symbol (:class:`~trecsim.emulators.protocol.ProtocolView`).

Cycles: Renode's DWT counts virtual time at its instructions-per-cycle setting (one instruction a
cycle), not trecsim's cycle model, so results say so in ``cycle_source`` and the profile reports
no cycles for this backend.

This module imports without pyrenode3; :func:`require_renode` (called when a board is opened or
``--emulator renode`` is chosen) raises :class:`~trecsim.errors.EmulatorError` with the install hint.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path

from trecsim.boards import Board
from trecsim.emulators.elf import ElfImage, load_elf
from trecsim.emulators.protocol import (STACK_GUARD, ProtocolView, ViewSymbols, file_uart_lines, firmware_fault,
                                        recorded_fault)
from trecsim.emulators.result import RunResult, UartLine
from trecsim.errors import EmulatorError, FirmwareFault

__all__ = ["CYCLE_SOURCE", "INSTALL_HINT", "RenodeBoard", "renode_available", "require_renode"]

INSTALL_HINT = ("install the renode extra (pip install 'trecsim[renode]', which installs pyrenode3 from its "
                "repository) and Renode itself: download https://builds.renode.io/renode-latest.pkg.tar.xz and "
                "set PYRENODE_PKG to it (or PYRENODE_BUILD_DIR to a Renode build); Renode needs mono")
CYCLE_SOURCE = ("renode DWT CYCCNT (Renode's virtual time at one instruction per cycle: an instruction count, "
                "not a timing model)")
DEFAULT_TIMEOUT_S = 30.0  # emulated seconds
SLICE_S = 0.05  # emulated seconds per RunFor


def require_renode():
    """The loaded pyrenode3 module, or an EmulatorError that says how to install it and Renode."""
    try:
        module = importlib.import_module("pyrenode3")
        importlib.import_module("pyrenode3.wrappers")
    except ModuleNotFoundError as exc:
        if exc.name != "pyrenode3" and not str(exc.name or "").startswith("pyrenode3."):
            raise EmulatorError(f"pyrenode3 cannot load Renode ({exc})", where="--emulator renode",
                                fix=INSTALL_HINT) from None
        raise EmulatorError("pyrenode3 is not installed, so the Renode backend cannot run", where="--emulator renode",
                            fix=INSTALL_HINT) from None
    except Exception as exc:  # ImportError without Renode; pythonnet raises its own without mono
        raise EmulatorError(f"pyrenode3 cannot load Renode ({type(exc).__name__}: {exc})",
                            where="--emulator renode", fix=INSTALL_HINT) from None
    return module


def renode_available() -> bool:
    try:
        require_renode()
    except EmulatorError:
        return False
    return True


class _Bus:
    """Memory access through the machine's system bus (the .NET API of Renode via pythonnet)."""

    def __init__(self, sysbus):
        from System import Array, Byte  # pythonnet, present wherever pyrenode3 loaded

        self.sysbus, self._array, self._byte = sysbus, Array, Byte

    def read(self, address: int, size: int) -> bytes:
        return bytes(bytearray(self.sysbus.ReadBytes(address, size)))

    def write(self, address: int, data: bytes) -> None:
        self.sysbus.WriteBytes(self._array[self._byte](bytes(data)), address)


class RenodeBoard(ViewSymbols):
    """One board as Renode's machine from its .repl, with the firmware ``elf`` (built for the board's
    chip) loaded; ``timeout_s`` bounds the run in emulated seconds."""

    backend = "renode"

    def __init__(self, elf: str | Path | ElfImage, board: Board, *, timeout_s: float = DEFAULT_TIMEOUT_S):
        require_renode()
        from pyrenode3.wrappers import Emulation, Monitor

        self.board = board
        self.elf = elf if isinstance(elf, ElfImage) else load_elf(elf)
        self.timeout_s = float(timeout_s)
        self.where = f"{self.elf.path} on Renode ({board.repl_path.name})"
        self._tmp = Path(tempfile.mkdtemp(prefix="trecsim-renode-"))
        self._uart = self._tmp / "console.txt"
        self.monitor, self.emulation = Monitor(), Emulation()
        self._ran = False
        self.emulation.clear()
        machine = self.emulation.add_mach(board.name)
        if machine is None:
            raise EmulatorError(f"Renode could not create machine {board.name}", where=self.where,
                                fix="check the Renode installation (renode --version)")
        machine.load_repl(str(board.repl_path.resolve()))  # also makes it the monitor's current machine
        machine.load_elf(str(Path(self.elf.path).resolve()))
        self._monitor(f"sysbus.{board.console_uart.name} CreateFileBackend @{self._uart} true")
        self.view = ProtocolView(self.elf, board, _Bus(machine.sysbus.internal))

    def _monitor(self, command: str) -> str:
        out, err = self.monitor.execute(command)
        if err:
            raise EmulatorError(f"Renode refused `{command}`: {str(err).strip()}", where=self.where,
                                fix="check the board's .repl with Renode directly (include its .resc)")
        return str(out)

    # ------------------------------------------------------------------ console

    def uart_lines(self) -> list[UartLine]:
        return file_uart_lines(self._uart)

    # ------------------------------------------------------------------ run

    def _fault(self, kind: str, what: str, *, cfsr: int = 0, pc: int | None = None, lr: int | None = None,
               fix: str | None = None) -> FirmwareFault:
        return firmware_fault(self.elf, kind, what, cfsr=cfsr, pc=pc, lr=lr, uart=self.uart_lines(), where=self.where,
                              fix=fix or "see the function and line above", exc_return="")

    def firmware_fault(self) -> FirmwareFault | None:
        return recorded_fault(self.view, self._fault, "the firmware's fault handler ran under Renode", addresses=False)

    def start(self) -> tuple[str, float]:
        if self._ran:
            raise EmulatorError("this Renode board has already run its firmware", where=self.where,
                                fix="open a new board (open_board) for every run")
        self._ran = True
        t0 = time.perf_counter()
        emulated = 0.0
        while emulated < self.timeout_s:
            self._monitor(f'emulation RunFor "{_interval(SLICE_S)}"')
            emulated += SLICE_S
            if self.read_u32("trec_done"):
                return "done flag", time.perf_counter() - t0
        pc = int(str(self._monitor("cpu PC")).strip().split()[-1], 0)
        raise self._fault("timeout", f"the firmware did not set trec_done within {self.timeout_s:g} emulated seconds",
                          pc=pc, fix="look at the loop around PC")

    def run(self, model_input=None) -> RunResult:
        self.view.write_input(model_input)
        self.view.paint_arenas()
        stop, wall = self.start()
        fault = self.firmware_fault()
        if fault is not None:
            raise fault
        if self.view.stack_overflowed():
            raise self._fault("stack overflow", f"the stack wrote into the lowest {STACK_GUARD} bytes of its reserve",
                              fix="give the firmware more stack (trecsim build --stack) or use less of it")
        return RunResult(
            backend=self.backend, board=self.board.name, status=self.view.status(), done=True,
            error=self.view.error(),
            stop=stop, outputs=self.view.outputs(), layers=self.view.layers(), uart=self.uart_lines(),
            total_cycles=0, instructions=0, memory=self.view.memory_use(), cycle_source=CYCLE_SOURCE,
            clock_hz=self.board.clock_hz, wall_s=wall)


def _interval(seconds: float) -> str:
    """Renode's TimeInterval text: hh:mm:ss.ffffff."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{round((seconds - whole) * 1e6):06d}"
