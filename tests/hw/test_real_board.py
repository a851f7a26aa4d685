"""On a real board: skipped unless TRECSIM_HW_BOARD names the board connected to this machine
(stm32f469i-disco or nucleo-f746zg; TRECSIM_HW_PROBE picks an ST-LINK by unique id when several are
connected, TRECSIM_HW_SERIAL gives the console's port). See platforms/README.md, "Real boards"."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hw_fixtures import BOARDS, dense_build, sample

from trecsim import boards, hw
from trecsim.emulators import open_board

BOARD = os.environ.get("TRECSIM_HW_BOARD", "").strip().lower()
pytestmark = pytest.mark.skipif(
    BOARD not in BOARDS,
    reason="needs a real board: connect the STM32F469I-DISCO or NUCLEO-F746ZG by its ST-LINK USB and set "
           "TRECSIM_HW_BOARD=stm32f469i-disco (or nucleo-f746zg); TRECSIM_HW_SERIAL=/dev/ttyACM0 adds the console")


@pytest.fixture(scope="module")
def target():
    board = boards.get_board(BOARD)
    probe = hw.connect(board, os.environ.get("TRECSIM_HW_PROBE") or None)
    serial = os.environ.get("TRECSIM_HW_SERIAL")
    console = hw.open_serial(serial) if serial else None
    yield hw.HardwareBoard(dense_build(board.name).elf, board, probe, console=console, timeout_s=30)
    if console is not None:
        console.close()
    probe.close()


def test_the_board_is_the_expected_chip(target):
    assert target.idcode & 0xFFF == {"stm32f469i-disco": 0x434, "nucleo-f746zg": 0x449}[BOARD]
    assert target.cycle_source.startswith("DWT on hardware")


@pytest.mark.parametrize("image", [0, 1])
def test_the_dense_cifarnet_runs_bit_exact_on_the_board(target, image):
    x, expected = sample(image)
    r = target.run(x)
    assert r.status == "done" and r.error == 0
    np.testing.assert_array_equal(r.output, expected)
    model = open_board(target.elf.path, target.board, memory_timing=True).run(x)
    ratios = {m.name: h.cycles / m.cycles for h, m in zip(r.layers, model.layers)}
    print(f"{BOARD} image {image}: DWT on hardware / model estimate per layer:",
          {k: round(v, 3) for k, v in ratios.items()}, f"total {r.model_cycles / model.model_cycles:.3f}")
    # the model is an estimate, but one off by more than 2x in either direction is broken
    assert 0.5 < r.model_cycles / model.model_cycles < 2.0
    if target.console is not None:
        assert r.console[-1] == "done status 0"
