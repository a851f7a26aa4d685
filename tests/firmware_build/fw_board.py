"""A minimal Unicorn runner for the firmware ELF of `trecsim build`, for these tests only
(the real emulator backend is trecsim.emulators, another issue).

The board's memories are mapped from its description, plus the private peripheral bus
(SCS, DWT), the console UART's page, the GPIO pages and the register models of
trecsim.emulators.chipregs (the firmware sets up the chip's clocks before main). A write hook collects the console's characters, a
read hook makes DWT CYCCNT count (one tick per read: only the table's being filled is
checked, not the numbers), and BKPT (interrupt 7) stops the run. The protocol symbols are
read from the ELF's symbol table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import unicorn
from elftools.elf.elffile import ELFFile
from unicorn import arm_const

from trecsim.boards import Board
from trecsim.emulators.chipregs import ChipRegisters

CPU_MODELS = {"cortex-m4f": arm_const.UC_CPU_ARM_CORTEX_M4, "cortex-m7": arm_const.UC_CPU_ARM_CORTEX_M7}
PPB, PPB_SIZE = 0xE0000000, 0x100000
CYCCNT = 0xE0001004
BKPT = 7
STATUS = {0x49444C45: "idle", 0x52554E21: "running", 0x444F4E45: "done", 0x4552524F: "error",
          0x4641554C: "fault", 0: "not started"}
STACK_PAINT = 0x5AC3A55C
RECORD = np.dtype([("cycles", "<u4"), ("phase", "<u4", 7), ("clusters", "<u4"), ("status", "<i4")])
FAULT = np.dtype([(n, "<u4") for n in ("cfsr", "hfsr", "mmfar", "bfar", "pc", "lr", "xpsr", "exception")])


@dataclass
class FirmwareRun:
    status: str
    done: int
    error: int
    output: np.ndarray
    cycles: np.ndarray  # RECORD per layer
    layer_names: list[str]
    clusters: dict[str, np.ndarray]  # C layer name -> uint16 per sub-matrix
    console: str
    fault: dict[str, int]
    stack_peak: int
    stopped_at_bkpt: bool


class FirmwareBoard:
    def __init__(self, elf_path, board: Board):
        self.board = board
        self.uc = uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB)
        uc.ctl_set_cpu_model(CPU_MODELS[board.core.name])
        for m in board.memories:
            uc.mem_map(m.base, m.size)
        uc.mem_map(PPB, PPB_SIZE)
        # the firmware's chip set-up (board_init.c): RCC/PWR/flash/FMC register models, GPIO pages
        self.chip = ChipRegisters(board)
        for p in board.peripherals:
            if p.name.startswith("gpioPort") and p.base & ~0xFFF not in self.chip.pages:
                try:
                    uc.mem_map(p.base & ~0xFFF, 0x1000)
                except unicorn.UcError:  # two ports in one page
                    pass
        self.chip.attach(uc)
        uart = board.peripheral(board.console_uart.name)
        self.f7 = uart.type == "UART.STM32F7_USART"
        page = uart.base & ~0xFFF
        uc.mem_map(page, 0x1000)
        uc.mem_write(uart.base + (0x1C if self.f7 else 0x00), (0xC0).to_bytes(4, "little"))  # TXE, TC
        self.uart_data = uart.base + (0x28 if self.f7 else 0x04)
        with open(elf_path, "rb") as f:
            elf = ELFFile(f)
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                    uc.mem_write(seg["p_paddr"], seg.data())
            symtab = elf.get_section_by_name(".symtab")
            self.symbols = {s.name: (s["st_value"], s["st_size"]) for s in symtab.iter_symbols() if s.name}
        self.console = bytearray()
        self.ticks = 0
        self.stopped_at_bkpt = False
        self.interrupts: list[int] = []
        uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, self._on_uart, begin=self.uart_data, end=self.uart_data + 3)
        uc.hook_add(unicorn.UC_HOOK_MEM_READ, self._on_cyccnt, begin=CYCCNT, end=CYCCNT + 3)
        uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)

    def _on_uart(self, uc, access, address, size, value, user):
        self.console.append(value & 0xFF)

    def _on_cyccnt(self, uc, access, address, size, value, user):
        self.ticks += 1000
        uc.mem_write(CYCCNT, (self.ticks & 0xFFFFFFFF).to_bytes(4, "little"))

    def _on_interrupt(self, uc, intno, user):
        self.interrupts.append(intno)
        self.stopped_at_bkpt = intno == BKPT
        uc.emu_stop()

    def read(self, name: str, dtype, count: int | None = None) -> np.ndarray:
        addr, size = self.symbols[name]
        dtype = np.dtype(dtype)
        count = size // dtype.itemsize if count is None else count
        return np.frombuffer(bytes(self.uc.mem_read(addr, count * dtype.itemsize)), dtype=dtype)

    def u32(self, name: str) -> int:
        return int(self.read(name, "<u4", 1)[0])

    def run(self, model_input: np.ndarray, max_instructions: int = 200_000_000) -> FirmwareRun:
        addr, size = self.symbols["trec_input"]
        data = np.ascontiguousarray(model_input, dtype=np.int8).tobytes()
        assert len(data) == size, (len(data), size)
        self.uc.mem_write(addr, data)
        vectors = self.symbols["trec_vectors"][0]
        sp, reset = (int.from_bytes(self.uc.mem_read(vectors + 4 * i, 4), "little") for i in range(2))
        self.uc.reg_write(arm_const.UC_ARM_REG_SP, sp)
        self.uc.emu_start(reset | 1, 0xFFFFFFFF, count=max_instructions)
        count = self.u32("trec_layer_count")
        names = [bytes(r).split(b"\0")[0].decode() for r in self.read("trec_layer_names", "S16", count)]
        clusters = {n[len("trec_clusters_"):]: self.read(n, "<u2") for n in self.symbols
                    if n.startswith("trec_clusters_")}
        fault = self.read("trec_fault", FAULT, 1)[0]
        limit = self.symbols["_stack_limit"][0]
        stack = self.read_range(limit, self.symbols["_stack_top"][0] - limit).view("<u4")
        untouched = np.argmax(stack != STACK_PAINT) if (stack != STACK_PAINT).any() else len(stack)
        return FirmwareRun(
            status=STATUS.get(self.u32("trec_status"), hex(self.u32("trec_status"))),
            done=self.u32("trec_done"), error=int(self.read("trec_error", "<i4", 1)[0]),
            output=self.read("trec_output", np.int8).copy(), cycles=self.read("trec_cycles", RECORD, count).copy(),
            layer_names=names, clusters=clusters, console=self.console.decode(errors="replace"),
            fault={k: int(fault[k]) for k in FAULT.names},
            stack_peak=4 * (len(stack) - int(untouched)), stopped_at_bkpt=self.stopped_at_bkpt)

    def read_range(self, addr: int, size: int) -> np.ndarray:
        return np.frombuffer(bytes(self.uc.mem_read(addr, size)), dtype=np.uint8)
