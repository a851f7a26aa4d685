"""Emulator backends: run a firmware ELF on a simulated board and say what it did.

Backend-neutral API: :func:`run_firmware` (and :func:`open_board` for step-by-step use) return a
:class:`RunResult`: outputs by symbol, status, the firmware's cycle table as
:class:`LayerCycles`, console lines with simulated-time stamps, total model cycles,
instruction count, stack peak and per-region memory use (:class:`MemoryUse`). Faults, runaways
and stack overflows raise :class:`~trecsim.errors.FirmwareFault` with the decoded fault status
bits, PC and LR with function and source line, and the last console lines.

Backends: ``unicorn`` (default; :mod:`trecsim.emulators.unicorn_backend`, cycle model in
:mod:`trecsim.emulators.cycles` and the native hook of :mod:`trecsim.emulators.native`).
Every cycle figure is a model estimate (``RunResult.cycle_source``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from trecsim.boards import Board
from trecsim.emulators.result import (
    CFSR_BITS,
    PHASES,
    LayerCycles,
    MemoryUse,
    RegionUse,
    RunResult,
    UartLine,
    decode_cfsr,
)
from trecsim.errors import ConfigError

__all__ = [
    "BACKENDS",
    "CFSR_BITS",
    "PHASES",
    "Emulator",
    "LayerCycles",
    "MemoryUse",
    "RegionUse",
    "RunResult",
    "UartLine",
    "decode_cfsr",
    "open_board",
    "run_firmware",
]

BACKENDS = ("unicorn",)


class Emulator(Protocol):
    """What every backend offers: a board with one firmware loaded."""

    backend: str
    board: Board

    def write_symbol(self, name: str, data) -> None: ...

    def read_symbol(self, name: str, dtype=..., count: int | None = None) -> np.ndarray: ...

    def run(self, model_input=None) -> RunResult: ...


def open_board(elf: str | Path, board: Board, *, backend: str = "unicorn", **options) -> Emulator:
    """A board with the firmware ``elf`` loaded, not yet started. Options (unicorn): accounting,
    memory_timing, track_writes (exact write tracking for tests), budget (instructions)."""
    if backend == "unicorn":
        from trecsim.emulators.unicorn_backend import UnicornBoard

        return UnicornBoard(elf, board, **options)
    raise ConfigError(f"unknown emulator backend '{backend}'", fix=f"use one of: {', '.join(BACKENDS)}")


def run_firmware(elf: str | Path, board: Board, model_input=None, *, backend: str = "unicorn",
                 **options) -> RunResult:
    """Runs the firmware once from reset with ``model_input`` (int8, the spec's input shape) in
    trec_input and returns what it did."""
    return open_board(elf, board, backend=backend, **options).run(model_input)
