"""The host side of the firmware protocol, one implementation for every backend: symbols by name,
the fault record, stack and arena painting, the results of a run.

A backend gives a :class:`MemoryAccess` (``read(address, n) -> bytes`` and ``write(address, data)``:
Unicorn's memory, QEMU's gdbstub, Renode's bus, a debug probe) and the ELF; :class:`ProtocolView`
does the rest (same symbols, same record layouts from :mod:`trecsim.emulators.result`).
:class:`ViewSymbols` gives a backend the symbol methods of the Emulator interface through its view;
:func:`firmware_fault`, :func:`recorded_fault`, :func:`exception_name` and :func:`fault_addresses`
build the :class:`~trecsim.errors.FirmwareFault` every backend raises; :func:`file_uart_lines` reads a console
that a backend captured to a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from trecsim.boards import Board
from trecsim.emulators.elf import ElfImage
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
    UartLine,
    decode_cfsr,
)
from trecsim.errors import EmulatorError, FirmwareFault

__all__ = ["ARENA_PAINT", "STACK_GUARD", "UART_TAIL", "MemoryAccess", "ProtocolView", "ViewSymbols",
           "exception_name", "fault_addresses", "file_uart_lines", "firmware_fault", "recorded_fault"]

ARENA_PAINT = 0x6B1D6B1D  # the word every backend paints the arenas with before a run
#: A stack that wrote into its lowest bytes is reported as overflowed (it probably went further).
STACK_GUARD = 64
#: Console lines a FirmwareFault carries.
UART_TAIL = 8


class MemoryAccess(Protocol):
    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


class ProtocolView:
    """The protocol symbols of ``elf`` in the memory of a target (``mem``); ``board`` is the memory
    map the ELF is linked for (for QEMU, the relocated board of :mod:`trecsim.firmware.mps2`).
    ``error_type`` is the error raised for an input of the wrong size (HardwareError on a board)."""

    def __init__(self, elf: ElfImage, board: Board, mem: MemoryAccess, *, error_type=EmulatorError):
        self.elf, self.board, self.mem, self.error_type = elf, board, mem, error_type

    # ------------------------------------------------------------------ symbols

    def has(self, name: str) -> bool:
        return name in self.elf.symbols

    def write_symbol(self, name: str, data) -> None:
        sym = self.elf.symbol(name)
        raw = bytes(data) if isinstance(data, (bytes, bytearray)) else np.ascontiguousarray(data).tobytes()
        if sym.size and len(raw) != sym.size:
            raise self.error_type(f"{name} takes {sym.size} bytes, not {len(raw)}", where=str(self.elf.path),
                                  fix="pass the model input of the spec the firmware was built from")
        self.mem.write(sym.address, raw)

    def write_input(self, model_input) -> None:
        """``model_input`` (int8) into trec_input; None leaves trec_input as it is."""
        if model_input is not None:
            self.write_symbol("trec_input", np.ascontiguousarray(model_input, dtype=np.int8))

    def read_symbol(self, name: str, dtype="<u1", count: int | None = None) -> np.ndarray:
        sym = self.elf.symbol(name)
        dt = np.dtype(dtype)
        n = sym.size // dt.itemsize if count is None else count
        return np.frombuffer(self.mem.read(sym.address, n * dt.itemsize), dtype=dt).copy()

    def read_u32(self, name: str) -> int:
        return int(self.read_symbol(name, "<u4", 1)[0])

    def status(self) -> str:
        return STATUS.get(self.read_u32("trec_status"), "unknown") if self.has("trec_status") else "unknown"

    def error(self) -> int:
        """trec_error (0 where the firmware has none)."""
        return int(self.read_symbol("trec_error", "<i4", 1)[0]) if self.has("trec_error") else 0

    def fault_record(self) -> np.void | None:
        """trec_fault when the firmware's fault handler ran (trec_status = fault), else None."""
        if not self.has("trec_fault") or self.status() != "fault":
            return None
        return self.read_symbol("trec_fault", FAULT_RECORD, 1)[0]

    # ------------------------------------------------------------------ painting

    def arena_sections(self):
        return [s for s in self.elf.sections if s.name.startswith(".arena_") and s.size]

    def paint_arenas(self, sections=None) -> None:
        """Paints ``sections`` (default: every arena) so that :meth:`arena_peaks` can read what was written."""
        for s in self.arena_sections() if sections is None else sections:
            self.mem.write(s.address, np.full(s.size // 4, ARENA_PAINT, "<u4").tobytes())

    def stack_peak(self) -> tuple[int, int]:
        syms = self.elf.symbols
        if "_stack_limit" not in syms or "_stack_top" not in syms:
            return 0, 0
        lo, hi = syms["_stack_limit"].address, syms["_stack_top"].address
        words = np.frombuffer(self.mem.read(lo, hi - lo), "<u4")
        untouched = np.flatnonzero(words != STACK_PAINT)
        first = int(untouched[0]) if len(untouched) else len(words)
        return hi - lo, 4 * (len(words) - first)

    def stack_overflowed(self) -> bool:
        """The lowest STACK_GUARD bytes of the stack's reserve no longer hold the paint."""
        if "_stack_limit" not in self.elf.symbols or not self.has("trec_status") or self.read_u32("trec_status") == 0:
            return False
        guard = np.frombuffer(self.mem.read(self.elf.symbols["_stack_limit"].address, STACK_GUARD), "<u4")
        return bool((guard != STACK_PAINT).any())

    def arena_peaks(self, sections=None) -> dict[str, int]:
        """Bytes written per painted arena (``sections``, default every arena), from its start."""
        out = {}
        for s in self.arena_sections() if sections is None else sections:
            words = np.frombuffer(self.mem.read(s.address, s.size // 4 * 4), "<u4")
            touched = np.flatnonzero(words != ARENA_PAINT)
            out[s.name[len(".arena_"):]] = 4 * (int(touched[-1]) + 1) if len(touched) else 0
        return out

    # ------------------------------------------------------------------ results

    def outputs(self) -> dict[str, np.ndarray]:
        out = {}
        if self.has("trec_output"):
            out["trec_output"] = self.read_symbol("trec_output", np.int8)
        for name in self.elf.symbols:
            if name.startswith("trec_clusters_"):
                out[name] = self.read_symbol(name, "<u2")
        return out

    def layers(self) -> list[LayerCycles]:
        """The firmware's per-layer table: names, status and cluster counts, and whatever its cycle fields
        hold (on a target without DWT, zeros: the caller says so in the result's cycle_source)."""
        if not (self.has("trec_layer_count") and self.has("trec_cycles")):
            return []
        n = self.read_u32("trec_layer_count")
        names = [bytes(r).split(b"\0")[0].decode() for r in self.read_symbol("trec_layer_names", "S16", n)]
        recs = self.read_symbol("trec_cycles", LAYER_RECORD, n)
        out = []
        for name, rec in zip(names, recs):
            phases = {p: int(v) for p, v in zip(PHASES, rec["phase"])} if rec["phase"].any() else {}
            out.append(LayerCycles(name, int(rec["cycles"]), phases, int(rec["clusters"]), int(rec["status"])))
        return out

    def memory_use(self, arena_peaks: dict[str, int] | None = None, *, tracked_stack: int | None = None,
                   tracked_arenas: dict[str, int] | None = None) -> MemoryUse:
        """Static sections, painted arena and stack peaks per region of the board the ELF is linked for.
        ``arena_peaks``: as :meth:`arena_peaks` gives them (the default) or as the backend measured them;
        ``tracked_*``: exact write tracking where the backend has it."""
        board = self.board
        reserved, peak = self.stack_peak()
        arena_peaks = self.arena_peaks() if arena_peaks is None else arena_peaks
        stack_lo = self.elf.symbols["_stack_limit"].address if "_stack_limit" in self.elf.symbols else None
        sections = []
        for s in self.elf.sections:
            r = board.region_at(s.address)
            sections.append((s.name, s.address, s.size, r.name if r else "?"))
        regions = []
        for m in board.memories:
            static = arenas = apeak = 0
            for s in self.elf.sections:
                lo, hi = max(s.address, m.base), min(s.address + s.size, m.end)
                if hi <= lo or s.name == ".stack":  # the stack's reserve is counted as such
                    continue
                if s.name.startswith(".arena_"):
                    arenas += hi - lo
                    written_hi = s.address + arena_peaks.get(s.name[len(".arena_"):], 0)
                    apeak += max(0, min(written_hi, hi) - lo)
                else:
                    static += hi - lo
            if m.kind == "flash":  # the .data image lives in flash too
                static += sum(s.size for s in self.elf.sections if s.name == ".data" and not m.contains(s.address))
            in_stack = stack_lo is not None and m.contains(stack_lo)
            regions.append(RegionUse(m.name, m.kind, m.size, static, arenas, apeak,
                                     reserved if in_stack else 0, peak if in_stack else 0))
        return MemoryUse(tuple(regions), tuple(sections), reserved, peak, tracked_stack, arena_peaks, tracked_arenas)


class ViewSymbols:
    """The symbol methods of the Emulator interface for a backend whose :class:`ProtocolView` is ``view``."""

    view: ProtocolView

    def write_symbol(self, name: str, data) -> None:
        self.view.write_symbol(name, data)

    def read_symbol(self, name: str, dtype="<u1", count: int | None = None) -> np.ndarray:
        return self.view.read_symbol(name, dtype, count)

    def read_u32(self, name: str) -> int:
        return self.view.read_u32(name)

    def has(self, name: str) -> bool:
        return self.view.has(name)


# --------------------------------------------------------------------------- faults and console


def exception_name(rec: np.void) -> str:
    """The exception of a trec_fault record ("BusFault", ...)."""
    return EXCEPTIONS.get(int(rec["exception"]), f"exception {int(rec['exception'])}")


def fault_addresses(rec: np.void) -> str:
    """The fault addresses a trec_fault record holds by its CFSR (BFARVALID, MMARVALID), as text to append."""
    cfsr, out = int(rec["cfsr"]), ""
    if cfsr >> 15 & 1:
        out += f" (BFAR 0x{int(rec['bfar']):08X})"
    if cfsr >> 7 & 1:
        out += f" (MMFAR 0x{int(rec['mmfar']):08X})"
    return out


def recorded_fault(view: ProtocolView, fault, what: str, *, addresses: bool = True) -> FirmwareFault | None:
    """The fault the firmware's own handler recorded in trec_fault (trec_status = fault), as the backend's
    ``fault(kind, what, cfsr=, pc=, lr=)`` reports it, with the fault addresses after ``what``
    (``addresses``); None when the handler did not run."""
    rec = view.fault_record()
    if rec is None:
        return None
    return fault(exception_name(rec), what + (fault_addresses(rec) if addresses else ""), cfsr=int(rec["cfsr"]),
                 pc=int(rec["pc"]), lr=int(rec["lr"]))


def firmware_fault(elf: ElfImage, kind: str, what: str, *, cfsr: int = 0, pc: int | None = None,
                   lr: int | None = None, uart: list[UartLine] = (), where: str, fix: str,
                   exc_return: str = "EXC_RETURN") -> FirmwareFault:
    """The FirmwareFault of a run: PC and LR with their functions and lines (an LR of 0xF0000000 and up
    is an exception return, named ``exc_return``; an unknown PC or LR, ""), the decoded CFSR and the
    last :data:`UART_TAIL` console lines."""
    return FirmwareFault(what, kind=kind, pc=pc, lr=lr,
                         pc_where=elf.describe(pc) if pc is not None else "",
                         lr_where=(elf.describe(lr) if lr < 0xF0000000 else exc_return) if lr is not None else "",
                         cfsr_bits=decode_cfsr(cfsr), uart_tail=tuple(line.text for line in uart[-UART_TAIL:]),
                         where=where, fix=fix)


def file_uart_lines(path: Path) -> list[UartLine]:
    """The console lines a backend captured to ``path`` (no time stamps: cycles 0, time 0.0)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    lines = raw.decode(errors="replace").replace("\r", "").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [UartLine(0, 0.0, line) for line in lines]
