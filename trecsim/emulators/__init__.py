"""Emulator backends: run a firmware ELF on a simulated board and say what it did.

Backend-neutral API: :func:`run_firmware` (and :func:`open_board` for step-by-step use) return a
:class:`RunResult`: outputs by symbol, status, the firmware's cycle table as
:class:`LayerCycles`, console lines with simulated-time stamps, total model cycles,
instruction count, stack peak and per-region memory use (:class:`MemoryUse`). Faults, runaways
and stack overflows raise :class:`~trecsim.errors.FirmwareFault` with the decoded fault status
bits, PC and LR with function and source line, and the last console lines.

Backends: ``unicorn`` (default; :mod:`trecsim.emulators.unicorn_backend`, cycle model in
:mod:`trecsim.emulators.cycles` and the native hook of :mod:`trecsim.emulators.native`);
``qemu``, the cross-check (:mod:`trecsim.emulators.qemu_backend`: qemu-system-arm's MPS2 machines
through the gdbstub; it needs the ``variant="qemu"`` build, see :data:`BUILD_VARIANTS`, and counts no
cycles); ``renode`` (:mod:`trecsim.emulators.renode_backend`, through pyrenode3 where Renode is
installed). Every cycle figure is a model estimate, or absent (``RunResult.cycle_source``).
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
    "BUILD_VARIANTS",
    "COUNTS_CYCLES",
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

BACKENDS = ("unicorn", "qemu", "renode")
#: backend -> the build variant of trecsim.firmware.build its firmware must be (None: the board's own map).
BUILD_VARIANTS = {"unicorn": None, "qemu": "qemu", "renode": None}
#: backends whose RunResult carries cycle figures (the others leave them zero and say so in cycle_source).
COUNTS_CYCLES = {"unicorn": True, "qemu": False, "renode": False}


class Emulator(Protocol):
    """What every backend offers: a board with one firmware loaded."""

    backend: str
    board: Board

    def write_symbol(self, name: str, data) -> None: ...

    def read_symbol(self, name: str, dtype=..., count: int | None = None) -> np.ndarray: ...

    def run(self, model_input=None) -> RunResult: ...


def open_board(elf: str | Path, board: Board, *, backend: str = "unicorn", **options) -> Emulator:
    """A board with the firmware ``elf`` loaded, not yet started. Options (unicorn): accounting,
    memory_timing, track_writes (exact write tracking for tests), budget (instructions); (qemu):
    timeout_s (wall clock); (renode): timeout_s (emulated seconds)."""
    if backend == "unicorn":
        from trecsim.emulators.unicorn_backend import UnicornBoard

        return UnicornBoard(elf, board, **options)
    if backend == "qemu":
        from trecsim.emulators.qemu_backend import QemuBoard

        return QemuBoard(elf, board, **options)
    if backend == "renode":
        from trecsim.emulators.renode_backend import RenodeBoard

        return RenodeBoard(elf, board, **options)
    raise ConfigError(f"unknown emulator backend '{backend}'", fix=f"use one of: {', '.join(BACKENDS)}")


def run_firmware(elf: str | Path, board: Board, model_input=None, *, backend: str = "unicorn",
                 **options) -> RunResult:
    """Runs the firmware once from reset with ``model_input`` (int8, the spec's input shape) in
    trec_input and returns what it did."""
    return open_board(elf, board, backend=backend, **options).run(model_input)
