"""A firmware that faults, one that loops forever and one that overflows its stack each stop with a
FirmwareFault naming the fault, its status bits, PC and LR with function and source line, and the
last console lines."""

from __future__ import annotations

import pytest

from emu_firmware import BOARDS, needs_arm_gcc, tiny_firmware
from trecsim import boards
from trecsim.emulators import run_firmware
from trecsim.errors import FirmwareFault

pytestmark = needs_arm_gcc

HEADER = '#include <stdint.h>\n#include "trec_runtime.h"\n'
PROGRAMS = {
    "unmapped": HEADER + """int main(void) {
    trec_uart_init();
    trec_uart_puts("about to fault\\n");
    *(volatile uint32_t *)0x30000000u = 1u; /* line 6: nothing is mapped there */
    return 0;
}
""",
    "udf": HEADER + """int main(void) {
    trec_uart_init();
    __asm volatile("udf #0"); /* line 5 */
    return 0;
}
""",
    "loop": HEADER + """int main(void) {
    trec_uart_init();
    trec_uart_puts("spinning\\n");
    for (;;) {
        __asm volatile("nop"); /* line 7 */
    }
}
""",
    "recurse": HEADER + """int deep(int n);
int deep(int n) {
    volatile char buf[256];
    buf[0] = (char)n;
    if (n < 0) {
        return 0;
    }
    return deep(n + 1) + buf[0];
}
int main(void) {
    trec_uart_init();
    return deep(0);
}
""",
    "bounded": HEADER + """volatile int32_t sink;
int deep(int n);
int deep(int n) {
    volatile char buf[256];
    for (int i = 0; i < 256; i++) {
        buf[i] = (char)n;
    }
    if (n == 0) {
        return 0;
    }
    return deep(n - 1) + buf[0];
}
int main(void) {
    trec_uart_init();
    sink = deep(40); /* about 10 KB of an 8 KB stack: into free RAM below it, then back */
    trec_uart_puts("returned\\n");
    __asm volatile("bkpt #0");
    return 0;
}
""",
}


@pytest.fixture(scope="module", params=BOARDS)
def tiny(request, tmp_path_factory):
    name = request.param
    root = tmp_path_factory.mktemp(name)
    elfs = {}
    for prog, src in PROGRAMS.items():
        (root / prog).mkdir()
        elfs[prog] = tiny_firmware(name, src, root / prog)
    return boards.get_board(name), elfs


def _fault(tiny, prog, **options) -> FirmwareFault:
    board, elfs = tiny
    with pytest.raises(FirmwareFault) as info:
        run_firmware(elfs[prog], board, **options)
    return info.value


def test_write_to_an_unmapped_address_is_a_bus_fault(tiny):
    f = _fault(tiny, "unmapped")
    assert f.kind == "BusFault"
    assert any(b.startswith("PRECISERR") for b in f.cfsr_bits) and any(b.startswith("BFARVALID") for b in f.cfsr_bits)
    assert f.pc_where == "main (tiny_main.c:6)"
    assert f.uart_tail == ("about to fault",)
    assert "0x30000000" in str(f) and "nothing is mapped there" in str(f) and "about to fault" in str(f)


def test_an_undefined_instruction_is_a_usage_fault(tiny):
    f = _fault(tiny, "udf")
    assert f.kind == "UsageFault" and f.cfsr_bits[0].startswith("UNDEFINSTR")
    assert f.pc_where == "main (tiny_main.c:5)"


def test_an_endless_loop_is_stopped_by_the_instruction_budget(tiny):
    f = _fault(tiny, "loop", budget=200_000)
    assert f.kind == "instruction budget"
    assert f.pc_where.startswith("main (tiny_main.c:")
    assert f.uart_tail == ("spinning",)
    assert "200000 instructions" in str(f)


def test_unbounded_recursion_is_reported_as_a_stack_overflow(tiny):
    f = _fault(tiny, "recurse", budget=5_000_000)
    assert f.kind == "stack overflow"
    assert f.pc_where.startswith("deep (tiny_main.c:") and f.lr_where.startswith("deep (tiny_main.c:")
    assert "below the stack's limit" in str(f) and "--stack" in str(f)


def test_an_overflow_that_returns_is_caught_by_the_stack_paint(tiny):
    f = _fault(tiny, "bounded")
    assert f.kind == "stack overflow"
    assert "reached its limit" in str(f)
    assert f.uart_tail == ("returned",)
