"""Speed of the Unicorn backend with and without cycle accounting, on the same firmware and input.

``bench(elf, board, model_input)`` runs the firmware from reset to its breakpoint ``repeats``
times in each mode and keeps the fastest run of each (the machine may be busy):

- ``plain``: Unicorn with no hook but the breakpoint's interrupt hook (the UART and DWT are
  plain memory);
- ``accounting``: the default accounting: the native block hook with the static per-block costs,
  dynamic branch costs, instruction fetch timing, the instruction budget, the DWT CYCCNT and the
  console UART as native MMIO pages;
- ``memory_timing``: the same plus data-side flash and SDRAM timing through memory hooks. Any
  memory read hook makes Unicorn take its slow path for every load, hence its own figure.

MIPS use the instruction count of the accounted run (the same program path).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from trecsim.boards import Board
from trecsim.emulators.unicorn_backend import UnicornBoard

__all__ = ["BenchMode", "BenchResult", "bench"]


@dataclass(frozen=True)
class BenchMode:
    name: str
    wall_s: float  # fastest of the repeats, emu_start only
    mips: float
    cycles: int | None


@dataclass(frozen=True)
class BenchResult:
    board: str
    elf: str
    instructions: int
    modes: tuple[BenchMode, ...]

    def mode(self, name: str) -> BenchMode:
        return next(m for m in self.modes if m.name == name)

    @property
    def ratio(self) -> float:
        """MIPS with the default accounting / MIPS without hooks (goal: >= 0.5)."""
        return self.mode("accounting").mips / self.mode("plain").mips

    @property
    def ratio_memory_timing(self) -> float:
        return self.mode("memory_timing").mips / self.mode("plain").mips

    def to_json(self) -> dict:
        return {"board": self.board, "elf": self.elf, "instructions": self.instructions,
                "modes": [asdict(m) for m in self.modes], "ratio": self.ratio,
                "ratio_memory_timing": self.ratio_memory_timing, "goal_ratio": 0.5}


def _once(elf, board: Board, model_input, **options) -> tuple[float, dict]:
    emu = UnicornBoard(elf, board, **options)
    if model_input is not None:
        emu.write_symbol("trec_input", model_input)
    _, wall = emu.start()
    return wall, emu.counters()


def bench(elf: str | Path, board: Board, model_input=None, *, repeats: int = 3) -> BenchResult:
    runs: dict[str, list[tuple[float, dict]]] = {"plain": [], "accounting": [], "memory_timing": []}
    options = {"plain": {"accounting": False}, "accounting": {}, "memory_timing": {"memory_timing": True}}
    for _ in range(repeats):  # interleaved, so that a busy spell of the machine hits every mode alike
        for name, opts in options.items():
            runs[name].append(_once(elf, board, model_input, **opts))
    instructions = min(runs["accounting"], key=lambda r: r[0])[1]["instructions"]
    modes = []
    for name, results in runs.items():
        wall, counters = min(results, key=lambda r: r[0])
        modes.append(BenchMode(name, wall, instructions / wall / 1e6, counters.get("cycles")))
    return BenchResult(board.name, str(elf), instructions, tuple(modes))
