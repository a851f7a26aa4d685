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
from trecsim.emulators.result import (
    EXCEPTIONS,
    FAULT_RECORD,
    LAYER_RECORD,
    PHASES,
    STACK_PAINT,
    STATUS,
    LayerCycles,
    MemoryUse,
    RegionUse,
    RunResult,
    UartLine,
    decode_cfsr,
)
from trecsim.errors import FirmwareFault, HardwareError
from trecsim.hw.probe import Probe

__all__ = ["ARENA_PAINT", "DEFAULT_TIMEOUT_S", "INIT_ERRORS", "KNOWN_DEV_IDS", "HardwareBoard", "check_board"]

DEFAULT_TIMEOUT_S = 60.0
HALT_TIMEOUT_S = 2.0
POLL_S = 0.01
ARENA_PAINT = 0x6B1D6B1D  # as the emulator paints them
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


class HardwareBoard:
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

    # ------------------------------------------------------------------ symbols

    def write_symbol(self, name: str, data) -> None:
        sym = self.elf.symbol(name)
        raw = bytes(data) if isinstance(data, (bytes, bytearray)) else np.ascontiguousarray(data).tobytes()
        if sym.size and len(raw) != sym.size:
            raise HardwareError(f"{name} takes {sym.size} bytes, not {len(raw)}", where=str(self.elf.path),
                                fix="pass the model input of the spec the firmware was built from")
        self.probe.write_memory(sym.address, raw)

    def read_symbol(self, name: str, dtype="<u1", count: int | None = None) -> np.ndarray:
        sym = self.elf.symbol(name)
        dt = np.dtype(dtype)
        n = sym.size // dt.itemsize if count is None else count
        return np.frombuffer(self.probe.read_memory(sym.address, n * dt.itemsize), dtype=dt).copy()

    def read_u32(self, name: str) -> int:
        return int(self.read_symbol(name, "<u4", 1)[0])

    def has(self, name: str) -> bool:
        return name in self.elf.symbols

    # ------------------------------------------------------------------ the protocol

    def _on_chip_arenas(self):
        out = []
        for s in self.elf.sections:
            if s.name.startswith(".arena_") and s.size:
                r = self.board.region_at(s.address)
                if r is not None and r.kind != "sdram":  # SDRAM is not usable before the firmware's FMC set-up
                    out.append(s)
        return out

    def _status(self) -> str:
        return STATUS.get(self.read_u32("trec_status"), "unknown") if self.has("trec_status") else "unknown"

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
        if model_input is not None:
            self.write_symbol("trec_input", np.ascontiguousarray(model_input, dtype=np.int8))
        self.write_symbol("trec_done", np.zeros(1, "<u4"))
        self.write_symbol("trec_status", np.zeros(1, "<u4"))
        arenas = self._on_chip_arenas()
        for s in arenas:
            probe.write_memory(s.address, np.full(s.size // 4, ARENA_PAINT, "<u4").tobytes())
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
        error = int(self.read_symbol("trec_error", "<i4", 1)[0]) if self.has("trec_error") else 0
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
        kind = EXCEPTIONS.get(int(rec["exception"]), f"exception {int(rec['exception'])}")
        what = "the firmware's fault handler ran on the board"
        cfsr = int(rec["cfsr"])
        if cfsr >> 15 & 1:
            what += f" (BFAR 0x{int(rec['bfar']):08X})"
        if cfsr >> 7 & 1:
            what += f" (MMFAR 0x{int(rec['mmfar']):08X})"
        pc, lr = int(rec["pc"]), int(rec["lr"])
        return FirmwareFault(what, kind=kind, pc=pc, lr=lr, pc_where=self.elf.describe(pc),
                             lr_where=self.elf.describe(lr) if lr < 0xF0000000 else "EXC_RETURN",
                             cfsr_bits=decode_cfsr(cfsr), uart_tail=tuple(u.text for u in uart[-8:]),
                             where=f"{self.elf.path} on {self.board.name} ({self.probe.description})",
                             fix="see the function and line above; rebuild after fixing the firmware")

    def _result(self, status: str, error: int, uart: list[UartLine], wall: float, arenas) -> RunResult:
        outputs = {"trec_output": self.read_symbol("trec_output", np.int8)}
        for name in self.elf.symbols:
            if name.startswith("trec_clusters_"):
                outputs[name] = self.read_symbol(name, "<u2")
        layers: list[LayerCycles] = []
        if self.has("trec_layer_count") and self.has("trec_cycles"):
            n = self.read_u32("trec_layer_count")
            names = [bytes(r).split(b"\0")[0].decode() for r in self.read_symbol("trec_layer_names", "S16", n)]
            recs = self.read_symbol("trec_cycles", LAYER_RECORD, n)
            for name, rec in zip(names, recs):
                phases = {p: int(v) for p, v in zip(PHASES, rec["phase"])} if rec["phase"].any() else {}
                layers.append(LayerCycles(name, int(rec["cycles"]), phases, int(rec["clusters"]), int(rec["status"])))
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
        syms = self.elf.symbols
        reserved = peak = 0
        stack_lo = syms["_stack_limit"].address if "_stack_limit" in syms else None
        if stack_lo is not None and "_stack_top" in syms:
            hi = syms["_stack_top"].address
            words = np.frombuffer(self.probe.read_memory(stack_lo, hi - stack_lo), "<u4")
            untouched = np.flatnonzero(words != STACK_PAINT)
            reserved = hi - stack_lo
            peak = 4 * (len(words) - int(untouched[0])) if len(untouched) else 0
        arena_peaks: dict[str, int] = {}
        for s in arenas:
            words = np.frombuffer(self.probe.read_memory(s.address, s.size // 4 * 4), "<u4")
            touched = np.flatnonzero(words != ARENA_PAINT)
            arena_peaks[s.name[len(".arena_"):]] = 4 * (int(touched[-1]) + 1) if len(touched) else 0
        sections = []
        for s in self.elf.sections:
            r = self.board.region_at(s.address)
            sections.append((s.name, s.address, s.size, r.name if r else "?"))
        regions = []
        for m in self.board.memories:
            static = planned = apeak = 0
            for s in self.elf.sections:
                lo, hi = max(s.address, m.base), min(s.address + s.size, m.end)
                if hi <= lo or s.name == ".stack":
                    continue
                if s.name.startswith(".arena_"):
                    planned += hi - lo
                    written_hi = s.address + arena_peaks.get(s.name[len(".arena_"):], 0)
                    apeak += max(0, min(written_hi, hi) - lo)
                else:
                    static += hi - lo
            if m.kind == "flash":
                static += sum(s.size for s in self.elf.sections if s.name == ".data" and not m.contains(s.address))
            in_stack = stack_lo is not None and m.contains(stack_lo)
            regions.append(RegionUse(m.name, m.kind, m.size, static, planned, apeak,
                                     reserved if in_stack else 0, peak if in_stack else 0))
        return MemoryUse(tuple(regions), tuple(sections), reserved, peak, None, arena_peaks, None)
