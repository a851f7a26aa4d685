"""The built firmware, run in Unicorn as the board's core, computes what trecsim.golden computes, bit for
bit, and fills the host protocol: status, done flag, cycle table, cluster counts, console lines."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fw_specs
from fw_common import BOARDS, needs_arm_gcc
from fw_board import STACK_PAINT, FirmwareBoard
from trecsim import boards, golden, spec as specmod
from trecsim.firmware.build import build_firmware

pytestmark = needs_arm_gcc


def _run(result, board, spec, image):
    fw = FirmwareBoard(result.elf, board)
    return fw.run(golden.model_input(spec, image[None])[0])


@pytest.mark.parametrize("name", BOARDS)
def test_firmware_output_equals_golden_bit_for_bit(small_builds, small_spec, name):
    board = boards.get_board(name)
    imgs = fw_specs.images(3)
    want = golden.run(small_spec, imgs)
    for i in range(len(imgs)):
        run = _run(small_builds[name], board, small_spec, imgs[i])
        assert run.stopped_at_bkpt
        assert (run.status, run.done, run.error) == ("done", 1, 0)
        np.testing.assert_array_equal(run.output, want.logits[i])
        for layer, clusters in want.clusters.items():
            np.testing.assert_array_equal(run.clusters[layer], clusters[i], err_msg=layer)


@pytest.mark.parametrize("name", BOARDS)
def test_cycle_table_console_and_stack_are_filled(small_builds, small_spec, name):
    board = boards.get_board(name)
    img = fw_specs.images(1, seed=5)[0]
    run = _run(small_builds[name], board, small_spec, img)
    want = golden.run(small_spec, img[None])
    assert run.layer_names == [l.name for l in small_spec.layers]
    assert (run.cycles["cycles"] > 0).all()
    assert (run.cycles["status"] == 0).all()
    for i, layer in enumerate(small_spec.layers):
        if layer.clustered:
            assert (run.cycles["phase"][i] > 0).all(), layer.name  # every phase timed
            assert run.cycles["clusters"][i] == want.clusters[layer.name][0].sum()
        else:
            assert (run.cycles["phase"][i] == 0).all() and run.cycles["clusters"][i] == 0
    lines = run.console.replace("\r", "").splitlines()
    assert lines[0] == f"trecsim: model tiny mode trec board {name}"
    for i, layer in enumerate(small_spec.layers):
        assert re.fullmatch(rf"layer {layer.name} cycles {run.cycles['cycles'][i]} clusters \d+", lines[1 + i])
    assert lines[-1] == "done status 0"
    assert 0 < run.stack_peak < small_builds[name].plan.stack_bytes
    assert run.fault["cfsr"] == 0 and run.fault["pc"] == 0


def test_input_survives_reset_in_noinit(small_builds, small_spec):
    board = boards.get_board(BOARDS[0])
    fw = FirmwareBoard(small_builds[board.name].elf, board)
    x = golden.model_input(small_spec, fw_specs.images(1, seed=7))[0]
    fw.run(x)
    np.testing.assert_array_equal(fw.read("trec_input", np.int8), x.reshape(-1))
    assert STACK_PAINT != 0


@pytest.mark.parametrize("name", BOARDS)
def test_no_profile_build_leaves_phases_empty_and_stays_bit_exact(small_spec, name, tmp_path):
    board = boards.get_board(name)
    result = build_firmware(small_spec, board, out_dir=tmp_path, profile=False)
    img = fw_specs.images(1, seed=3)[0]
    run = _run(result, board, small_spec, img)
    np.testing.assert_array_equal(run.output, golden.run(small_spec, img[None]).logits[0])
    assert (run.cycles["phase"] == 0).all()
    assert (run.cycles["cycles"] > 0).all()


def test_buffers_spilled_to_sdram_give_the_same_output(tmp_path):
    spec = fw_specs.big_trec_spec()
    board = boards.get_board("stm32f469i-disco")
    result = build_firmware(spec, board, out_dir=tmp_path)
    assert result.plan.placement("conv1:scratch").arena == "sdram"
    assert result.size.sdram > 0
    img = fw_specs.images(1, seed=11)[0]
    run = _run(result, board, spec, img)
    want = golden.run(spec, img[None])
    assert run.status == "done"
    np.testing.assert_array_equal(run.output, want.logits[0])
    np.testing.assert_array_equal(run.clusters["conv1"], want.clusters["conv1"][0])


@pytest.mark.slow
@pytest.mark.parametrize("name", BOARDS)
def test_committed_cifarnet_runs_bit_exact(name, tmp_path):
    spec = specmod.load_trained("cifarnet", "dense")  # committed: a missing or stale spec is a failure
    board = boards.get_board(name)
    result = build_firmware(spec, board, out_dir=tmp_path)
    img = fw_specs.images(1, seed=2)[0]
    run = _run(result, board, spec, img)
    assert run.status == "done"
    np.testing.assert_array_equal(run.output, golden.run(spec, img[None]).logits[0])


@pytest.mark.parametrize("name", BOARDS)
def test_fault_handler_records_the_stacked_frame_and_stops(small_builds, name):
    """Enter the fault handler as the core would (EXC_RETURN in LR, the frame on MSP) and read trec_fault."""
    from unicorn import arm_const

    board = boards.get_board(name)
    fw = FirmwareBoard(small_builds[name].elf, board)
    uc = fw.uc
    frame_at = fw.symbols["_stack_top"][0] - 64
    frame = [1, 2, 3, 4, 12, 0x08000123, 0x08000456, 0x01000000]  # r0-r3, r12, lr, pc, xpsr
    uc.mem_write(frame_at, b"".join(v.to_bytes(4, "little") for v in frame))
    uc.mem_write(0xE000ED28, (0x00000400).to_bytes(4, "little"))  # CFSR: IMPRECISERR
    uc.reg_write(arm_const.UC_ARM_REG_SP, frame_at)
    uc.reg_write(arm_const.UC_ARM_REG_LR, 0xFFFFFFF9)
    uc.emu_start(fw.symbols["Fault_Handler"][0] | 1, 0xFFFFFFFF, count=10_000)
    assert fw.stopped_at_bkpt
    fault = fw.read("trec_fault", "<u4", 8)
    assert (fault[0], fault[4], fault[5], fault[6]) == (0x400, 0x08000456, 0x08000123, 0x01000000)
    assert fw.u32("trec_status") == 0x4641554C and fw.u32("trec_done") == 1
