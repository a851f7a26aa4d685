"""``profile --target hw``: the profile pipeline on a real board, with the cycle model beside it.

:class:`HardwareSession` holds one probe per board (:func:`trecsim.hw.connect`) and, through
:meth:`HardwareSession.open_board` (the signature of :func:`trecsim.emulators.open_board`), hands the
profile loop an object whose ``run`` measures an image on the board (the ELF is checked against the
chip and flashed once per mode) and runs the same image in the Unicorn emulator with the cycle model.
:meth:`HardwareSession.annotate` then puts the model's estimate beside every hardware figure:
``model_cycles`` and ``hw_vs_model`` (DWT on hardware / model estimate) per layer and per run, the
ratios that calibrate the cycle model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trecsim import hw
from trecsim.boards import Board
from trecsim.emulators import RunResult
from trecsim.emulators import open_board as open_emulator

__all__ = ["HardwareSession"]

_ALL_LAYERS_MATCH = ("every layer's output matches the golden model's, so the difference is in the final output "
                     "or in the expected values")
_BOARD_DIFFERS = ("the emulator runs this image bit-exact layer by layer, so the board differs from the emulator "
                  "(suspect the chip set-up, the SDRAM or the caches on the board)")


class _PairedRun:
    """One firmware on the board and in the emulator: ``run`` returns the board's result."""

    def __init__(self, session: HardwareSession, target: hw.HardwareBoard, elf: Path):
        self.session, self.target, self.elf = session, target, elf

    def run(self, model_input=None) -> RunResult:
        measured = self.target.run(model_input)
        estimate = open_emulator(self.elf, self.target.board, backend="unicorn",
                                 memory_timing=self.session.memory_timing).run(model_input)
        self.session.estimates.setdefault(str(self.elf.parent), []).append(estimate)
        return measured


class HardwareSession:
    """A probe on ``board`` for one profile; see the module doc."""

    def __init__(self, board: Board, probe: str | None = None, *, serial: str | None = None,
                 timeout_s: float = hw.DEFAULT_TIMEOUT_S, frequency: int | None = None, memory_timing: bool = True):
        self.board = board
        self.memory_timing = memory_timing
        self.timeout_s = timeout_s
        self.probe = hw.connect(board, probe, frequency=frequency, memory_timing=memory_timing)
        self.console = None
        try:
            self.console = hw.open_serial(serial) if serial else None
        except BaseException:
            self.probe.close()
            raise
        self.targets: dict[str, hw.HardwareBoard] = {}
        self.estimates: dict[str, list[RunResult]] = {}  # build dir -> the model's results, image by image

    @property
    def cycle_source(self) -> str:
        return self.probe.cycle_source

    def open_board(self, elf, board: Board, **_options) -> _PairedRun:
        """For the profile loop: the board with ``elf`` programmed (once per ELF) and the emulator beside it."""
        elf = Path(elf)
        target = self.targets.get(str(elf))
        if target is None:
            target = hw.HardwareBoard(elf, board, self.probe, console=self.console, timeout_s=self.timeout_s)
            self.targets[str(elf)] = target
        return _PairedRun(self, target, elf)

    def annotate(self, bp) -> None:
        """Adds the model's estimate and the ratio to every run and layer of a BoardProfile."""
        bp.target, bp.probe, bp.cycle_source = "hw", self.probe.description, self.cycle_source
        for run in bp.runs:
            for m in run.mismatches:  # the first differing layer is looked for on the emulator
                if m.what == "layer":
                    m.detail = f"on the emulator, {m.detail}"
                elif _ALL_LAYERS_MATCH in m.detail:
                    m.detail = m.detail.replace(_ALL_LAYERS_MATCH, _BOARD_DIFFERS)
            estimates = self.estimates.get(run.build_dir or "", [])[:run.images_checked]
            if not estimates or not run.layers:
                continue
            run.model_cycles_total = float(np.mean([e.model_cycles for e in estimates]))
            run.hw_vs_model = run.cycles_total / run.model_cycles_total if run.model_cycles_total else None
            for j, layer in enumerate(run.layers):
                model = float(np.mean([e.layers[j].cycles for e in estimates]))
                layer.model_cycles = model
                layer.hw_vs_model = layer.cycles / model if model and layer.cycles is not None else None

    def close(self) -> None:
        if self.console is not None:
            self.console.close()
        self.probe.close()
