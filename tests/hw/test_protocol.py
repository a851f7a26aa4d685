"""The hardware protocol driver (trecsim.hw.HardwareBoard) against the emulator behind the same probe
interface a real ST-LINK offers: what it writes, waits for and reads, and what it makes of it."""

from __future__ import annotations

import numpy as np
import pytest
from hw_fixtures import dense_build, sample

from trecsim import hw
from trecsim.emulators import open_board
from trecsim.errors import HardwareError
from trecsim.hw.probe import EmulatorProbe, Probe


def test_both_probes_implement_the_probe_interface(board):
    assert isinstance(EmulatorProbe(board), Probe)
    assert hw.PyocdProbe.kind == "pyocd" and EmulatorProbe.kind == "emulator"
    for name in ("read_memory", "write_memory", "reset_halt", "resume", "halt", "is_halted", "pc", "program",
                 "uart_lines", "close"):
        assert callable(getattr(hw.PyocdProbe, name)), name


def test_a_run_through_the_probe_is_bit_exact_and_reads_the_same_dwt_table_as_the_emulator(board):
    build = dense_build(board.name)
    x, expected = sample()
    target = hw.HardwareBoard(build.elf, board, hw.connect(board, "emulator"))
    assert target.backend == "hw" and target.idcode & 0xFFF == {"stm32f469i-disco": 0x434,
                                                                   "nucleo-f746zg": 0x449}[board.name]
    r = target.run(x)
    assert r.status == "done" and r.done and r.error == 0 and r.stop == "bkpt"
    np.testing.assert_array_equal(r.output, expected)
    direct = open_board(build.elf, board, memory_timing=True).run(x)
    assert [(l.name, l.cycles) for l in r.layers] == [(l.name, l.cycles) for l in direct.layers]
    assert all(l.cycles > 0 for l in r.layers)
    # the stack painted by the firmware and the arenas painted by the driver give the emulator's peaks
    assert r.memory.stack_peak == direct.memory.stack_peak > 0
    assert r.memory.arena_peaks == direct.memory.arena_peaks
    assert r.console[0].startswith(f"trecsim: model cifarnet mode dense board {board.name}")
    assert r.console[-1] == "done status 0"
    # CYCCNT at the breakpoint: every layer, plus what runs outside them, minus the set-up before main
    assert sum(l.cycles for l in r.layers) < r.total_cycles < direct.total_cycles
    assert "probe interface" in r.cycle_source and "model estimate" in r.cycle_source


def test_a_second_run_resets_and_uses_the_new_input(board):
    build = dense_build(board.name)
    probe = hw.connect(board, "emulator")
    target = hw.HardwareBoard(build.elf, board, probe)
    (x0, e0), (x1, e1) = sample(0), sample(1)
    np.testing.assert_array_equal(target.run(x0).output, e0)
    np.testing.assert_array_equal(target.run(x1).output, e1)
    assert probe.resets == 2


class _StuckProbe(EmulatorProbe):
    """A core that never runs once resumed (a hung chip): resume does nothing."""

    def resume(self) -> None:
        self._halted = False

    def halt(self) -> None:
        self._halted = True


def test_a_stale_done_flag_from_the_last_run_is_never_taken_for_this_one(board):
    """RAM survives a reset: trec_done = 1 from the previous run is still there. The driver clears it
    before it starts the core, so a core that does not run times out instead of returning old results."""
    build = dense_build(board.name)
    probe = _StuckProbe(board)
    target = hw.HardwareBoard(build.elf, board, probe, timeout_s=0.3)
    x, _ = sample()
    EmulatorProbe.resume(probe)  # a first, real run leaves trec_done = 1 in RAM
    assert target.read_u32("trec_done") == 1
    with pytest.raises(HardwareError) as info:
        target.run(x)
    msg = str(info.value)
    assert "did not finish within 0.3 s" in msg and "trec_status not started" in msg and "PC 0x" in msg
    assert "--hw-timeout" in info.value.fix


def test_a_firmware_that_never_finishes_times_out_with_where_it_is(board):
    build = dense_build(board.name)
    probe = _StuckProbe(board)
    target = hw.HardwareBoard(build.elf, board, probe, timeout_s=0.2)
    with pytest.raises(HardwareError, match="did not finish within 0.2 s"):
        target.run(sample()[0])
    assert probe.is_halted()  # the driver halts the core it gave up on


def test_an_input_of_the_wrong_size_is_refused(board):
    target = hw.HardwareBoard(dense_build(board.name).elf, board, hw.connect(board, "emulator"))
    with pytest.raises(HardwareError, match="trec_input takes 3072 bytes, not 10"):
        target.run(np.zeros(10, np.int8))


def test_a_timeout_must_be_positive(board):
    with pytest.raises(HardwareError, match="not positive"):
        hw.HardwareBoard(dense_build(board.name).elf, board, hw.connect(board, "emulator"), timeout_s=0)
