"""The static cycle model: known Thumb-2 sequences against costs computed by hand from the rules of
ARCHITECTURE.md ("Cycles") and the board's [cycle_model] parameters."""

from __future__ import annotations

import pytest

from trecsim import boards
from trecsim.emulators import cycles


def _decode(hexcode: str):
    return cycles._classified(cycles.decode(bytes.fromhex(hexcode.replace(" ", "")), 0x08000000))


@pytest.fixture(scope="module")
def m4():
    return boards.get_board("stm32f469i-disco").cycle_model


@pytest.fixture(scope="module")
def m7():
    return boards.get_board("nucleo-f746zg").cycle_model


# (encoding, disassembly for the reader, hand-computed Cortex-M4 cycles per instruction)
M4_CASES = [
    # two independent loads: the second pipelines (2 + 1)
    ("0868 1a68", "ldr r0,[r1]; ldr r2,[r3]", [2, 1]),
    # the second load uses the first one's result as its address: no pipelining (2 + 2)
    ("0868 0268", "ldr r0,[r1]; ldr r2,[r0]", [2, 2]),
    # an address register written by the ALU instruction just before: +1
    ("0431 0868", "adds r1,#4; ldr r0,[r1]", [1, 3]),
    # a load right after a store waits for the bus: +1
    ("0860 1a68", "str r0,[r1]; ldr r2,[r3]", [1, 3]),
    # store with a register offset 2; SMLAD 1; SDIV the midpoint of 2..12
    ("40f8 0210 20fb 0211 91fb f2f0", "str.w r1,[r0,r2]; smlad r1,r0,r2,r1; sdiv r0,r1,r2", [2, 1, 7]),
    # PUSH of 5 registers 1+5; LDRD 3 (after a store: +1)
    ("f0b5 d1e9 0023", "push {r4-r7,lr}; ldrd r2,r3,[r1]", [6, 4]),
]


@pytest.mark.parametrize("code,text,want", M4_CASES, ids=[c[1] for c in M4_CASES])
def test_m4_costs_of_known_sequences(m4, code, text, want):
    insns = _decode(code)
    assert len(insns) == len(want), [i.text for i in insns]
    assert cycles.m4_costs(insns, m4) == want


def test_m4_branches_and_returns(m4):
    # bne (not taken 1; the taken extra is dynamic), bx lr 3, pop {r4-r11,pc} 1+9+3, tbb 6
    insns = _decode("fed1") + _decode("7047") + _decode("bde8 f08f") + _decode("dfe8 01f0")
    assert [i.cls for i in insns] == ["branch", "bx", "pop_pc", "tbb"]
    assert [cycles.m4_costs([i], m4)[0] for i in insns] == [1, 3, 13, 6]
    assert [cycles.branch_kind(i) for i in insns] == [cycles.KIND_DIRECT_COND] + [cycles.KIND_INDIRECT] * 3
    assert cycles.branch_kind(_decode("fee7")[0]) == cycles.KIND_DIRECT  # b .


def test_it_block_and_classes(m4):
    insns = _decode("08bf 7047")  # it eq; bxeq lr
    assert insns[1].conditional and insns[1].cls == "bx"
    assert cycles.m4_costs(insns, m4) == [1, 3]


def test_m7_dual_issue_pairs_an_alu_op_with_a_load(m7):
    # adds r0,#1 ; ldr r2,[r3]: different pipes, independent: issue together (the pair costs 1)
    assert cycles.m7_costs(_decode("0130 1a68"), m7) == [1, 0]
    # two loads: one load/store pipe
    assert cycles.m7_costs(_decode("0868 1a68"), m7) == [1, 1]
    # a load whose address comes from the ALU op before it: waits (address operands are needed early)
    assert cycles.m7_costs(_decode("0431 0868"), m7)[1] >= 2
    # LDRD issues alone
    assert cycles.m7_costs(_decode("0130 d1e9 0023"), m7) == [1, 1]


def test_code_tables_are_prefix_sums_over_halfwords(m4):
    board = boards.get_board("stm32f469i-disco")
    code = bytes.fromhex("0868 1a68 0431 0868 fed1".replace(" ", ""))
    t = cycles.code_tables([(0x08000100, code)], board)
    assert t.base == 0x08000100 and t.count == 5
    assert int(t.cost[-1]) == 2 + 1 + 1 + 3 + 1
    assert int(t.insns[-1]) == 5
    assert t.end_kind[len(code) // 2] == cycles.KIND_DIRECT_COND  # the block ends with bne
