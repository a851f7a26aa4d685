"""Memory planner: lifetimes, non-overlap, arenas from the board description, SDRAM spill, errors."""

from __future__ import annotations

import numpy as np
import pytest

import fw_specs
from trecsim import boards, memory
from trecsim.errors import MemoryPlanError
from trecsim.memory import scratch

F469, F746 = "stm32f469i-disco", "nucleo-f746zg"


def _check_no_overlap(plan):
    for i, a in enumerate(plan.placements):
        arena = plan.arena(a.arena)
        assert a.offset % memory.ALIGN == 0
        assert a.offset + a.buffer.size <= arena.capacity
        for b in plan.placements[i + 1:]:
            if a.arena == b.arena and a.buffer.overlaps(b.buffer):
                assert a.offset + a.buffer.size <= b.offset or b.offset + b.buffer.size <= a.offset, (a, b)


def test_lifetimes_follow_the_op_order():
    spec = fw_specs.small_spec()
    bufs = {b.name: b for b in memory.buffers_for(spec)}
    index = {l.name: i for i, l in enumerate(spec.layers)}
    assert (bufs["c1"].first, bufs["c1"].last) == (index["conv1"], index["pool1"])
    # p1 is read by three convs and by the add (the bypass): it lives until the add
    assert (bufs["p1"].first, bufs["p1"].last) == (index["pool1"], index["add"])
    assert (bufs["b2"].first, bufs["b2"].last) == (index["conv3"], index["cat"])
    assert "input" not in bufs and "logits" not in bufs  # protocol buffers trec_input / trec_output
    s = bufs["conv1:scratch"]
    assert (s.first, s.last, s.kind) == (index["conv1"], index["conv1"], "scratch")
    assert s.size == scratch.layer_scratch_bytes(spec, spec.layer("conv1"))
    assert "pool1:scratch" not in bufs


@pytest.mark.parametrize("name", [F469, F746])
def test_plans_of_the_small_spec_never_overlap_live_buffers(name):
    plan = memory.plan(fw_specs.small_spec(), boards.get_board(name))
    _check_no_overlap(plan)
    assert {p.buffer.name for p in plan.placements} == {b.name for b in memory.buffers_for(fw_specs.small_spec())}
    # buffers share memory where lifetimes allow: less than the plain sum of all buffers
    assert sum(plan.arena_bytes(a.name) for a in plan.arenas) < sum(p.buffer.size for p in plan.placements)


@pytest.mark.parametrize("seed", range(6))
def test_random_specs_are_planned_without_overlap(seed):
    spec = fw_specs.small_spec(seed)
    for name in (F469, F746):
        _check_no_overlap(memory.plan(spec, boards.get_board(name), stack_bytes=1024 * (seed + 1)))


def test_arenas_follow_the_board_description():
    f469 = memory.arenas_for(boards.get_board(F469), stack_bytes=8192, static_bytes=1001)
    assert [a.name for a in f469] == ["sram", "ccm", "sdram"]
    sram, ccm, sdram = f469
    assert sram.regions == ("sram1", "sram2", "sram3") and (sram.base, sram.size) == (0x20000000, 320 * 1024)
    assert ccm.static and ccm.reserved == 8192 + 1008 and not sram.static
    assert not sdram.on_chip and sdram.size == 16 << 20
    f746 = memory.arenas_for(boards.get_board(F746), stack_bytes=8192, static_bytes=1000)
    assert [a.name for a in f746] == ["dtcm", "sram"]
    assert f746[0].static and f746[1].regions == ("sram1", "sram2") and f746[1].size == 256 * 1024


def test_what_does_not_fit_on_chip_spills_to_sdram_on_the_f469():
    plan = memory.plan(fw_specs.big_trec_spec(), boards.get_board(F469))
    assert plan.placement("conv1:scratch").arena == "sdram"
    assert plan.placement("c0").arena == "sram"  # the tensors stay on chip
    _check_no_overlap(plan)


def test_no_sdram_means_an_error_naming_region_bytes_and_layer():
    spec = fw_specs.big_trec_spec()
    need = scratch.layer_scratch_bytes(spec, spec.layer("conv1"))
    with pytest.raises(MemoryPlanError) as exc:
        memory.plan(spec, boards.get_board(F746))
    msg = str(exc.value)
    assert "layer conv1" in msg and "sram1..sram2" in msg and f"{need - 256 * 1024} bytes over" in msg
    assert "se-trec" in msg and "stm32f469i-disco" in msg


def test_space_efficient_trec_needs_less_scratch_than_plain_trec():
    plain = fw_specs.big_trec_spec(mode="trec")
    se = fw_specs.big_trec_spec(mode="se-trec")
    assert (scratch.layer_scratch_bytes(se, se.layer("conv1"))
            < scratch.layer_scratch_bytes(plain, plain.layer("conv1")) / 3)
    plan = memory.plan(se, boards.get_board(F746))  # fits on chip where plain TREC does not
    assert all(plan.arena(p.arena).on_chip for p in plan.placements)


def test_too_big_a_stack_is_an_error_with_the_numbers():
    with pytest.raises(MemoryPlanError, match=r"bytes over region ccm"):
        memory.plan(fw_specs.small_spec(), boards.get_board(F469), stack_bytes=70 * 1024)


def test_plan_report_has_one_line_per_arena_and_per_layer():
    spec = fw_specs.small_spec()
    plan = memory.plan(spec, boards.get_board(F469))
    text = plan.table()
    for layer in spec.layers:
        assert any(line.split()[:2] == [layer.name, layer.op] for line in text.splitlines())
    for arena in plan.arenas:
        assert any(line.split()[:1] == [arena.name] for line in text.splitlines())
    doc = plan.to_json()
    assert len(doc["layers"]) == len(spec.layers) and doc["stack_bytes"] == 8192
    assert np.all([b["offset"] % 8 == 0 for b in doc["buffers"]])
