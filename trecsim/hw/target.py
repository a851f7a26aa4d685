"""The host protocol driven over a debug probe: a real board with the Emulator interface.

:class:`HardwareBoard` offers what :class:`trecsim.emulators.Emulator` does (``backend``, ``board``,
``write_symbol``, ``read_symbol``, ``run``) on a :class:`~trecsim.hw.probe.Probe`. One run:

1. reset and halt the core (the chip's set-up has not run yet: reset clock, no SDRAM);
2. write ``trec_input`` (in ``.noinit``, kept by the firmware's reset), clear ``trec_done`` and
   ``trec_status`` (so a previous run's values are never taken for this one's), paint the
   on-chip arenas so that their high-water marks can be read afterwards;
3. resume, and poll ``trec_done`` until it is set or ``timeout_s`` passes (then the core is
   halted and the error says where it was and what ``trec_status`` held);
4. wait for the core to halt at the firmware's breakpoint (a short timeout), read ``trec_status``,
   ``trec_error``, ``trec_output``, the ``trec_clusters_*`` counters and the ``trec_cycles`` table
   (DWT CYCCNT on the chip), the fault record after a fault and the stack's high-water mark (the
   firmware paints its stack); the console lines come from the serial port when one is given.

Every address comes from the ELF's symbols. Before the first run the probe's target is checked
(DBGMCU_IDCODE DEV_ID against the board's MCU) and the ELF is programmed into its flash.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from trecsim.boards import Board
from trecsim.emulators.chipregs import DBGMCU_IDCODE, dev_id
from trecsim.emulators.elf import ElfImage, load_elf
from trecsim.emulators.protocol import (
    ARENA_PAINT,
    ProtocolView,
    ViewSymbols,
    exception_name,
    fault_addresses,
    firmware_fault,
)
from trecsim.emulators.result import FAULT_RECORD, MemoryUse, RunResult, UartLine
from trecsim.errors import FirmwareFault, HardwareError
from trecsim.hw.probe import Probe

__all__ = ["ARENA_PAINT", "DEFAULT_TIMEOUT_S", "INIT_ERRORS", "KNOWN_DEV_IDS", "HardwareBoard", "check_board"]

DEFAULT_TIMEOUT_S = 60.0
HALT_TIMEOUT_S = 2.0
POLL_S = 0.01
DWT_CYCCNT = 0xE0001004
#: DEV_IDs of STM32 families, to name what is attached when it is not the expected chip.
KNOWN_DEV_IDS = {0x410: "STM32F10x medium density", 0x411: "STM32F2xx", 0x413: "STM32F405/407/415/417",
                 0x415: "STM32L47x/48x", 0x419: "STM32F42x/43x", 0x421: "STM32F446", 0x423: "STM32F401xB/C",
                 0x431: "STM32F411", 0x433: "STM32F401xD/E", 0x434: "STM32F469/479", 0x441: "STM32F412",
                 0x449: "STM32F74x/75x", 0x450: "STM32H74x/75x", 0x451: "STM32F76x/77x", 0x452: "STM32F72x/73x",
                 0x463: "STM32F413/423"}
#: trec_error codes of the chip set-up (firmware/runtime/trec_board.h) and what to check.
INIT_ERRORS = {
    -101: ("the HSE never became ready (RCC_CR HSERDY)",
           "on the F469-DISCO check its 8 MHz HSE crystal; on the Nucleo the 8 MHz comes from the ST-LINK's MCO "
           "on PH0: keep the HSE solder bridges as shipped (UM1974, 'HSE clock') and the ST-LINK powered"),
    -102: ("the PLL did not lock (RCC_CR PLLRDY)", "check the HSE frequency (8 MHz) and the board revision"),
    -103: ("over-drive did not become ready (PWR_CSR ODRDY)", "check the supply voltage (VDD 3.3 V)"),
    -104: ("the over-drive switch did not complete (PWR_CSR ODSWRDY)", "check the supply voltage (VDD 3.3 V)"),
    -105: ("FLASH_ACR did not take the new wait states", "power-cycle the board"),
    -106: ("SYSCLK did not switch to the PLL (RCC_CFGR SWS)", "power-cycle the board"),
    -107: ("the FMC SDRAM controller stayed busy (FMC_SDSR BUSY)", "check the board's SDRAM (IS42S32400F, U1)"),
}


def check_board(probe: Probe, board: Board) -> int:
    """Reads DBGMCU_IDCODE through the probe and checks its DEV_ID against the board's MCU; returns the
    IDCODE. Raises HardwareError for a target that does not answer or a different chip."""
    want = dev_id(board)
    if want is None:
        raise HardwareError(f"trecsim knows no DEV_ID for {board.mcu}", where=str(board.toml_path),
                            fix="use stm32f469i-disco or nucleo-f746zg")
    try:
        raw = probe.read_memory(DBGMCU_IDCODE, 4)
    except HardwareError as exc:
        raise HardwareError(f"the target does not answer: reading DBGMCU_IDCODE failed ({exc.what})",
                            where=probe.description, fix=exc.fix or "check power and the SWD connection") from None
    idcode = int.from_bytes(raw, "little")
    got = idcode & 0xFFF
    if idcode in (0, 0xFFFFFFFF):
        raise HardwareError(f"the target does not answer: DBGMCU_IDCODE reads 0x{idcode:08X}",
                            where=probe.description,
                            fix="check that the board is powered and the ST-LINK jumpers are fitted; connect under "
                                "reset if the firmware puts the chip to sleep")
    if got != want[0]:
        what = KNOWN_DEV_IDS.get(got, "an unknown chip")
        raise HardwareError(f"wrong board: {board.name} needs an {board.mcu} (DEV_ID 0x{want[0]:03X}, {want[1]}), "
                            f"but the probe's target reports DEV_ID 0x{got:03X} ({what})",
                            where=probe.description,
                            fix=f"connect the {board.title}, or pass the board that is attached (--board)")
    return idcode


class _ProbeMemory:
    """The target's memory through the probe, as the protocol's MemoryAccess."""

    def __init__(self, probe: Probe):
        self.probe = probe

    def read(self, address: int, size: int) -> bytes:
        return self.probe.read_memory(address, size)

    def write(self, address: int, data: bytes) -> None:
        self.probe.write_memory(address, data)


class HardwareBoard(ViewSymbols):
    """A board behind a probe with one firmware programmed: the Emulator interface on real hardware."""

    backend = "hw"

    def __init__(self, elf: str | Path | ElfImage, board: Board, probe: Probe, *, console=None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, program: bool = True, check: bool = True,
                 poll_s: float = POLL_S):
        if timeout_s <= 0:
            raise HardwareError(f"timeout {timeout_s} s is not positive", fix="pass a timeout in seconds > 0")
        self.board = board
        self.probe = probe
        self.elf = elf if isinstance(elf, ElfImage) else load_elf(elf)
        self.view = ProtocolView(self.elf, board, _ProbeMemory(probe), error_type=HardwareError)
        self.console = console  # a trecsim.hw.console.SerialConsole, or None
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        for name in ("trec_input", "trec_done", "trec_status", "trec_output"):
            if name not in self.elf.symbols:
                raise HardwareError(f"the ELF has no symbol {name}: it is not a trecsim firmware",
                                    where=str(self.elf.path), fix="build it with trecsim build")
        self.idcode = check_board(probe, board) if check else None
        if program:
            probe.program(self.elf.path)

    @property
    def cycle_source(self) -> str:
        return self.probe.cycle_source

    # ------------------------------------------------------------------ the protocol

    def _on_chip_arenas(self):
        out = []
        for s in self.view.arena_sections():
            r = self.board.region_at(s.address)
            if r is not None and r.kind != "sdram":  # SDRAM is not usable before the firmware's FMC set-up
                out.append(s)
        return out

    def _status(self) -> str:
        return self.view.status()

    def _where(self) -> str:
        try:
            pc = self.probe.pc()
        except HardwareError:
            return "PC unreadable"
        return f"PC 0x{pc:08X} in {self.elf.describe(pc) or 'unknown code'}"

    def run(self, model_input=None) -> RunResult:
        """One inference on the board; see the module doc."""
        probe = self.probe
        probe.reset_halt()
        self.view.write_input(model_input)
        self.write_symbol("trec_done", np.zeros(1, "<u4"))
        self.write_symbol("trec_status", np.zeros(1, "<u4"))
        arenas = self._on_chip_arenas()
        self.view.paint_arenas(arenas)
        if self.console is not None:
            self.console.start()
        t0 = time.perf_counter()
        probe.resume()
        while not self.read_u32("trec_done"):
            if time.perf_counter() - t0 > self.timeout_s:
                try:
                    probe.halt()
                finally:
                    if self.console is not None:
                        self.console.stop()
                raise HardwareError(f"the firmware did not finish within {self.timeout_s:g} s (trec_status "
                                    f"{self._status()}, {self._where()})", where=f"{self.elf.path} on {self.board.name}",
                                    fix="raise --hw-timeout for a longer model; if trec_status is 'not started' the "
                                        "chip set-up or the C runtime start-up hangs; read the console (--serial)")
            time.sleep(self.poll_s)
        wall = time.perf_counter() - t0
        t_halt = time.perf_counter()
        while not probe.is_halted():  # the firmware's BKPT right after trec_done
            if time.perf_counter() - t_halt > HALT_TIMEOUT_S:
                probe.halt()
                break
            time.sleep(self.poll_s)
        uart = self._console_lines()
        status = self._status()
        error = self.view.error()
        if status == "fault":
            raise self._fault(uart)
        if status == "error" and error in INIT_ERRORS:
            what, fix = INIT_ERRORS[error]
            raise HardwareError(f"the chip set-up failed before main: {what} (trec_error {error})",
                                where=f"{self.board.name} via {probe.description}", fix=fix)
        return self._result(status, error, uart, wall, arenas)

    def _console_lines(self) -> list[UartLine]:
        if self.console is not None:
            return [UartLine(0, t, text) for t, text in self.console.finish()]
        lines = self.probe.uart_lines()
        return [UartLine(0, 0.0, text) for text in lines] if lines else []

    def _fault(self, uart: list[UartLine]) -> FirmwareFault:
        rec = self.read_symbol("trec_fault", FAULT_RECORD, 1)[0]
        return firmware_fault(self.elf, exception_name(rec), "the firmware's fault handler ran on the board"
                              + fault_addresses(rec), cfsr=int(rec["cfsr"]), pc=int(rec["pc"]), lr=int(rec["lr"]),
                              uart=uart, where=f"{self.elf.path} on {self.board.name} ({self.probe.description})",
                              fix="see the function and line above; rebuild after fixing the firmware")

    def _result(self, status: str, error: int, uart: list[UartLine], wall: float, arenas) -> RunResult:
        outputs, layers = self.view.outputs(), self.view.layers()
        try:  # CYCCNT from the end of the set-up to the breakpoint
            total = int.from_bytes(self.probe.read_memory(DWT_CYCCNT, 4), "little")
        except HardwareError:
            total = 0
        return RunResult(backend=self.backend, board=self.board.name, status=status,
                         done=bool(self.read_u32("trec_done")), error=error,
                         stop="bkpt" if self.probe.is_halted() else "done flag", outputs=outputs, layers=layers,
                         uart=uart, total_cycles=total, instructions=0, memory=self._memory(arenas),
                         cycle_source=self.cycle_source, clock_hz=self.board.clock_hz, wall_s=wall,
                         counters={"dwt_cyccnt": total})

    def _memory(self, arenas) -> MemoryUse:
        """Per-region use from the ELF's sections, the stack the firmware painted and the arenas painted
        before the run (on-chip arenas only; SDRAM arenas count as unmeasured, 0)."""
        return self.view.memory_use(self.view.arena_peaks(arenas))
