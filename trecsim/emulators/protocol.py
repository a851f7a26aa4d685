"""The host side of the firmware protocol for backends that reach the target's memory only through
reads and writes (QEMU's gdbstub, Renode's bus): symbols by name, the fault record, stack and arena
painting, the results of a run.

A backend gives a :class:`MemoryAccess` (``read(address, n) -> bytes`` and ``write(address, data)``)
and the ELF; :class:`ProtocolView` does the rest exactly as the Unicorn backend does it in memory
(same symbols, same record layouts from :mod:`trecsim.emulators.result`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from trecsim.boards import Board
from trecsim.emulators.elf import ElfImage
from trecsim.emulators.result import (
    FAULT_RECORD,
    LAYER_RECORD,
    PHASES,
    STACK_PAINT,
    STATUS,
    LayerCycles,
    MemoryUse,
    RegionUse,
)
from trecsim.errors import EmulatorError

__all__ = ["ARENA_PAINT", "MemoryAccess", "ProtocolView"]

ARENA_PAINT = 0x6B1D6B1D  # the Unicorn backend's word, so that both paint alike
#: A stack that wrote into its lowest bytes is reported as overflowed (it probably went further).
STACK_GUARD = 64


class MemoryAccess(Protocol):
    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


class ProtocolView:
    """The protocol symbols of ``elf`` in the memory of a target (``mem``); ``board`` is the memory
    map the ELF is linked for (for QEMU, the relocated board of :mod:`trecsim.firmware.mps2`)."""

    def __init__(self, elf: ElfImage, board: Board, mem: MemoryAccess):
        self.elf, self.board, self.mem = elf, board, mem

    # ------------------------------------------------------------------ symbols

    def has(self, name: str) -> bool:
        return name in self.elf.symbols

    def write_symbol(self, name: str, data) -> None:
        sym = self.elf.symbol(name)
        raw = bytes(data) if isinstance(data, (bytes, bytearray)) else np.ascontiguousarray(data).tobytes()
        if sym.size and len(raw) != sym.size:
            raise EmulatorError(f"{name} takes {sym.size} bytes, not {len(raw)}", where=str(self.elf.path),
                                fix="pass the model input of the spec the firmware was built from")
        self.mem.write(sym.address, raw)

    def read_symbol(self, name: str, dtype="<u1", count: int | None = None) -> np.ndarray:
        sym = self.elf.symbol(name)
        dt = np.dtype(dtype)
        n = sym.size // dt.itemsize if count is None else count
        return np.frombuffer(self.mem.read(sym.address, n * dt.itemsize), dtype=dt).copy()

    def read_u32(self, name: str) -> int:
        return int(self.read_symbol(name, "<u4", 1)[0])

    def status(self) -> str:
        return STATUS.get(self.read_u32("trec_status"), "unknown") if self.has("trec_status") else "unknown"

    def fault_record(self) -> np.void | None:
        """trec_fault when the firmware's fault handler ran (trec_status = fault), else None."""
        if not self.has("trec_fault") or self.status() != "fault":
            return None
        return self.read_symbol("trec_fault", FAULT_RECORD, 1)[0]

    # ------------------------------------------------------------------ painting

    def arena_sections(self):
        return [s for s in self.elf.sections if s.name.startswith(".arena_") and s.size]

    def paint_arenas(self) -> None:
        for s in self.arena_sections():
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

    def arena_peaks(self) -> dict[str, int]:
        out = {}
        for s in self.arena_sections():
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

    def memory_use(self) -> MemoryUse:
        """Static sections, painted arena and stack peaks per region of the board the ELF is linked for."""
        board = self.board
        reserved, peak = self.stack_peak()
        arena_peaks = self.arena_peaks()
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
                if hi <= lo or s.name == ".stack":
                    continue
                if s.name.startswith(".arena_"):
                    arenas += hi - lo
                    written_hi = s.address + arena_peaks.get(s.name[len(".arena_"):], 0)
                    apeak += max(0, min(written_hi, hi) - lo)
                else:
                    static += hi - lo
            if m.kind == "flash":
                static += sum(s.size for s in self.elf.sections if s.name == ".data" and not m.contains(s.address))
            in_stack = stack_lo is not None and m.contains(stack_lo)
            regions.append(RegionUse(m.name, m.kind, m.size, static, arenas, apeak,
                                     reserved if in_stack else 0, peak if in_stack else 0))
        return MemoryUse(tuple(regions), tuple(sections), reserved, peak, None, arena_peaks, None)
