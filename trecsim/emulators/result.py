"""Backend-neutral results of a firmware run, and the decoding of fault status registers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = [
    "CFSR_BITS",
    "EXCEPTIONS",
    "HFSR_BITS",
    "LAYER_RECORD",
    "PHASES",
    "STATUS",
    "LayerCycles",
    "MemoryUse",
    "RegionUse",
    "RunResult",
    "UartLine",
    "decode_cfsr",
]

#: trec_status words (firmware/runtime/trec_runtime.h).
STATUS = {0x49444C45: "idle", 0x52554E21: "running", 0x444F4E45: "done", 0x4552524F: "error",
          0x4641554C: "fault", 0: "not started"}
#: trec_phase ids (firmware/kernels/trec_profile.h).
PHASES = ("im2col", "hash", "cluster", "centroid", "centroid_gemm", "recovery", "requantize")
#: trec_layer_record (trec_runtime.h).
LAYER_RECORD = np.dtype([("cycles", "<u4"), ("phase", "<u4", len(PHASES)), ("clusters", "<u4"), ("status", "<i4")])
#: trec_fault_record (trec_runtime.h).
FAULT_RECORD = np.dtype([(n, "<u4") for n in ("cfsr", "hfsr", "mmfar", "bfar", "pc", "lr", "xpsr", "exception")])
STACK_PAINT = 0x5AC3A55C

#: ARMv7-M exception numbers.
EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 11: "SVCall",
              12: "DebugMonitor", 14: "PendSV", 15: "SysTick"}
#: CFSR bits (ARMv7-M ARM B3.2.15): MMFSR 0-7, BFSR 8-15, UFSR 16-31.
CFSR_BITS = {0: "IACCVIOL (instruction access violation)", 1: "DACCVIOL (data access violation)",
             3: "MUNSTKERR (unstacking)", 4: "MSTKERR (stacking)", 5: "MLSPERR (lazy FP state)",
             7: "MMARVALID (MMFAR holds the address)", 8: "IBUSERR (instruction bus error)",
             9: "PRECISERR (precise data bus error)", 10: "IMPRECISERR (imprecise data bus error)",
             11: "UNSTKERR (unstacking)", 12: "STKERR (stacking)", 13: "LSPERR (lazy FP state)",
             15: "BFARVALID (BFAR holds the address)", 16: "UNDEFINSTR (undefined instruction)",
             17: "INVSTATE (invalid state, e.g. ARM mode)", 18: "INVPC (invalid EXC_RETURN)",
             19: "NOCP (coprocessor disabled or absent, e.g. the FPU)", 24: "UNALIGNED (unaligned access)",
             25: "DIVBYZERO (division by zero)"}
HFSR_BITS = {1: "VECTTBL (vector table read)", 30: "FORCED (escalated)", 31: "DEBUGEVT (debug event)"}


def decode_cfsr(cfsr: int) -> tuple[str, ...]:
    return tuple(name for bit, name in sorted(CFSR_BITS.items()) if cfsr >> bit & 1)


@dataclass(frozen=True)
class UartLine:
    cycles: int  # model cycle count when the line's last character was written
    time_s: float  # cycles / the board's clock: simulated time
    text: str


@dataclass(frozen=True)
class LayerCycles:
    name: str
    cycles: int  # from the firmware's DWT CYCCNT reads
    phases: dict[str, int]  # TREC layers only; empty otherwise
    clusters: int
    status: int


@dataclass(frozen=True)
class RegionUse:
    """One memory region of the board against its datasheet size."""

    name: str
    kind: str
    size: int  # datasheet bytes
    static: int  # bytes of ELF sections (code, constants, .data, .bss, .noinit) in the region
    arenas: int  # planned arena bytes in the region
    arena_peak: int  # arena bytes the run wrote (painted by the host before the run)
    stack_reserved: int
    stack_peak: int

    @property
    def peak(self) -> int:
        """Bytes in use at the peak: static sections, the arenas' high-water mark and the stack's."""
        return self.static + self.arena_peak + self.stack_peak

    @property
    def fits(self) -> bool:
        return self.static + self.arenas + self.stack_reserved <= self.size


@dataclass(frozen=True)
class MemoryUse:
    regions: tuple[RegionUse, ...]
    sections: tuple[tuple[str, int, int, str], ...]  # (name, address, size, region)
    stack_reserved: int
    stack_peak: int  # by stack painting
    stack_peak_tracked: int | None  # by write tracking (exact mode), else None
    arena_peaks: dict[str, int]  # arena -> bytes written (from its start), by painting
    arena_peaks_tracked: dict[str, int] | None

    def region(self, name: str) -> RegionUse:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict:
        return {"regions": [{**asdict(r), "peak": r.peak, "fits": r.fits} for r in self.regions],
                "sections": [dict(zip(("name", "address", "size", "region"), s)) for s in self.sections],
                "stack_reserved": self.stack_reserved, "stack_peak": self.stack_peak,
                "stack_peak_tracked": self.stack_peak_tracked, "arena_peaks": self.arena_peaks,
                "arena_peaks_tracked": self.arena_peaks_tracked}


@dataclass
class RunResult:
    """What one firmware run did. Cycle figures are model estimates (``cycle_source``)."""

    backend: str
    board: str
    status: str  # trec_status: "done", "error", ...
    done: bool
    error: int  # trec_error
    stop: str  # "bkpt", "done flag"
    outputs: dict[str, np.ndarray]  # trec_output and trec_clusters_<layer> by symbol
    layers: list[LayerCycles]
    uart: list[UartLine]
    total_cycles: int  # the whole run, reset to BKPT (model)
    instructions: int
    memory: MemoryUse
    cycle_source: str
    clock_hz: int
    wall_s: float
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        return self.outputs["trec_output"]

    @property
    def model_cycles(self) -> int:
        """Sum of the per-layer cycles of the firmware's table."""
        return sum(layer.cycles for layer in self.layers)

    @property
    def stack_peak(self) -> int:
        return self.memory.stack_peak

    @property
    def console(self) -> list[str]:
        return [line.text for line in self.uart]

    @property
    def mips(self) -> float:
        return self.instructions / self.wall_s / 1e6 if self.wall_s > 0 else 0.0

    def layer(self, name: str) -> LayerCycles:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_json(self) -> dict:
        return {"backend": self.backend, "board": self.board, "status": self.status, "done": self.done,
                "error": self.error, "stop": self.stop, "cycle_source": self.cycle_source,
                "total_cycles": self.total_cycles, "model_cycles": self.model_cycles,
                "instructions": self.instructions, "clock_hz": self.clock_hz, "wall_s": self.wall_s,
                "layers": [asdict(layer) for layer in self.layers],
                "uart": [asdict(line) for line in self.uart], "memory": self.memory.to_json(),
                "outputs": {k: v.tolist() for k, v in self.outputs.items()}, "counters": self.counters}
