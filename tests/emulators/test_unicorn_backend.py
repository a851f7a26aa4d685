"""The Unicorn backend runs the committed CifarNet firmware on both boards bit-exact with the golden
model, with cycles from the cycle model (DWT CYCCNT), console lines in simulated time, memory
accounting, and the same figures on every run."""

from __future__ import annotations

import numpy as np
import pytest

from emu_firmware import BOARDS, cifarnet, cifarnet_build, needs_arm_gcc
from trecsim import boards, data, golden
from trecsim.emulators import open_board, run_firmware

pytestmark = needs_arm_gcc


@pytest.fixture(scope="module")
def sample():
    spec = cifarnet()
    images = data.load_sample().images[:2]
    return spec, golden.model_input(spec, images), golden.run(spec, images)


@pytest.mark.parametrize("name", BOARDS)
def test_cifarnet_runs_bit_exact_with_cycles_console_and_memory(sample, name):
    spec, inputs, want = sample
    board = boards.get_board(name)
    build = cifarnet_build(name)
    for i in range(len(inputs)):
        r = run_firmware(build.elf, board, inputs[i])
        assert (r.status, r.done, r.error, r.stop) == ("done", True, 0, "bkpt")
        np.testing.assert_array_equal(r.output, want.logits[i])
    # the firmware's cycle table comes from CYCCNT fed by the model
    assert [layer.name for layer in r.layers] == [layer.name for layer in spec.layers]
    assert all(layer.cycles > 0 for layer in r.layers)
    assert 0.9 * r.total_cycles < r.model_cycles < r.total_cycles
    assert r.instructions > 10_000_000 and "model estimate" in r.cycle_source
    # console lines, stamped in simulated time
    assert r.console[0] == f"trecsim: model cifarnet mode dense board {name}"
    assert r.console[-1] == "done status 0"
    assert r.console[1 + 2] == f"layer conv2 cycles {r.layer('conv2').cycles} clusters 0"
    stamps = [line.cycles for line in r.uart]
    assert stamps == sorted(stamps) and stamps[-1] <= r.total_cycles
    assert r.uart[-1].time_s == pytest.approx(stamps[-1] / board.clock_hz)
    # memory: static sections, stack peak and arena peak against the plan and the datasheet
    mem = r.memory
    assert 0 < mem.stack_peak < mem.stack_reserved == build.plan.stack_bytes
    for arena, peak in mem.arena_peaks.items():
        assert 0 < peak <= build.size.arenas[arena]
    flash = mem.region("flash")
    assert flash.static == build.size.flash_used and flash.fits
    assert all(region.fits and region.peak <= region.size for region in mem.regions)


def test_same_input_gives_the_same_cycles_and_outputs(sample):
    _, inputs, _ = sample
    name = BOARDS[0]
    build, board = cifarnet_build(name), boards.get_board(name)
    a = run_firmware(build.elf, board, inputs[0])
    b = run_firmware(build.elf, board, inputs[0])
    assert a.total_cycles == b.total_cycles and a.instructions == b.instructions
    assert [layer.cycles for layer in a.layers] == [layer.cycles for layer in b.layers]
    assert a.console == b.console
    np.testing.assert_array_equal(a.output, b.output)


def test_stack_painting_agrees_with_exact_write_tracking(sample):
    _, inputs, _ = sample
    for name in BOARDS:
        build, board = cifarnet_build(name), boards.get_board(name)
        r = run_firmware(build.elf, board, inputs[1], track_writes=True)
        assert r.memory.stack_peak_tracked == r.memory.stack_peak
        # painting sees whole words, tracking bytes
        assert {k: -(-v // 4) * 4 for k, v in r.memory.arena_peaks_tracked.items()} == r.memory.arena_peaks


def test_data_memory_timing_adds_flash_wait_states_on_the_f469(sample):
    _, inputs, want = sample
    name = "stm32f469i-disco"
    build, board = cifarnet_build(name), boards.get_board(name)
    plain = run_firmware(build.elf, board, inputs[0])
    timed = run_firmware(build.elf, board, inputs[0], memory_timing=True)
    np.testing.assert_array_equal(timed.output, want.logits[0])
    assert timed.counters["flash_data_misses"] > 0
    assert timed.total_cycles > plain.total_cycles
    for a, b in zip(timed.layers, plain.layers):
        assert a.name == b.name and a.cycles >= b.cycles, a.name
    # Wait states change time, not the program: the same instructions run, except that the console
    # prints the longer cycle figures digit by digit (conv1 crosses 10,000,000 only when timed).
    extra_digits = sum(map(len, timed.console)) - sum(map(len, plain.console))
    assert extra_digits >= 0
    assert 0 <= timed.instructions - plain.instructions <= 40 * extra_digits


def test_symbols_are_read_and_written_by_name(sample):
    spec, inputs, _ = sample
    name = BOARDS[1]
    emu = open_board(cifarnet_build(name).elf, boards.get_board(name))
    emu.write_symbol("trec_input", inputs[0])
    np.testing.assert_array_equal(emu.read_symbol("trec_input", np.int8), inputs[0].reshape(-1))
    with pytest.raises(Exception, match="no symbol 'nope'"):
        emu.read_symbol("nope")


def test_cycles_per_mac_of_conv2_are_plausible_for_an_int8_simd_kernel(sample):
    """A sanity window, not a calibration: int8 SIMD kernels need about 0.5-3 cycles per MAC."""
    spec, inputs, _ = sample
    macs = spec.macs()["conv2"]
    for name in BOARDS:
        r = run_firmware(cifarnet_build(name).elf, boards.get_board(name), inputs[0])
        assert 0.3 < r.layer("conv2").cycles / macs < 3.0, name
