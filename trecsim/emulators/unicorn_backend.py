"""The default emulator: Unicorn (QEMU's CPU core) as the board's Cortex-M4F or Cortex-M7.

Memory is mapped from the board description only, each region with the permissions its
``usable`` list allows (no execution from CCM, DTCM or SDRAM; flash is read-only), the private
peripheral bus (SCS, DWT) and a stub page for every peripheral of the .repl, except the RCC, PWR,
flash-interface and FMC pages, which are small register models (:mod:`trecsim.emulators.chipregs`)
so that the firmware's clock and SDRAM set-up sees its ready flags. Reads and writes to
anything else fail like a bus error on the chip. The console USART and the DWT are MMIO pages
served by the native hook (``native/blockhook.c``), which also keeps the cycle model
(:mod:`trecsim.emulators.cycles`) and the instruction budget. BKPT (interrupt 7) ends the run.

Findings this relies on (ARCHITECTURE.md, "Emulators"): THUMB mode plus ``ctl_set_cpu_model``
(the MCLASS mode flag makes a Cortex-M33); the SCS must be mapped or CPACR writes fault; Unicorn
takes no exception into the guest's vector table, so faults come back as Unicorn errors and
interrupt numbers, and are reported from here with the decoded status bits the chip would set.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path

import unicorn
from unicorn import arm_const

from trecsim.boards import Board
from trecsim.emulators import cycles as cyclemod
from trecsim.emulators import native
from trecsim.emulators.chipregs import ChipRegisters
from trecsim.emulators.elf import ElfImage, load_elf
from trecsim.emulators.protocol import (
    STACK_GUARD,
    ProtocolView,
    ViewSymbols,
    firmware_fault,
    recorded_fault,
)
from trecsim.emulators.result import MemoryUse, RunResult, UartLine
from trecsim.errors import EmulatorError, FirmwareFault

__all__ = ["DEFAULT_BUDGET", "UnicornBoard"]

CPU_MODELS = {"cortex-m4f": arm_const.UC_CPU_ARM_CORTEX_M4, "cortex-m7": arm_const.UC_CPU_ARM_CORTEX_M7}
PPB, PPB_END = 0xE0000000, 0xE0100000
DWT_PAGE = 0xE0001000
PAGE = 0x1000
BKPT = 7
#: Unicorn/QEMU exception numbers reported in the interrupt hook, as the ARMv7-M fault they are.
_INTERRUPTS = {1: ("UsageFault", 16, "undefined instruction"), 2: ("SVCall", None, "SVC with no handler in the emulator"),
               3: ("BusFault", 8, "prefetch abort"), 4: ("BusFault", 9, "data abort"),
               17: ("UsageFault", 19, "coprocessor instruction with the coprocessor disabled"),
               18: ("UsageFault", 17, "invalid state (an ARM-mode branch target)"),
               22: ("UsageFault", 24, "unaligned access")}
DEFAULT_BUDGET = 2_000_000_000


def _pages(base: int, end: int) -> tuple[int, int]:
    return base & ~(PAGE - 1), (end + PAGE - 1) & ~(PAGE - 1)


class _UcMemory:
    """Unicorn's memory as the protocol's MemoryAccess."""

    def __init__(self, uc: unicorn.Uc):
        self.uc = uc

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(address, size))

    def write(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, data)


@dataclass(frozen=True)
class _Uart:
    page: int
    status_off: int
    data_off: int


class UnicornBoard(ViewSymbols):
    """One board with one firmware loaded. ``accounting=False`` runs without any cycle hook
    (the bench's baseline: the UART and DWT are then plain memory)."""

    backend = "unicorn"

    def __init__(self, elf: str | Path | ElfImage, board: Board, *, accounting: bool = True,
                 memory_timing: bool = False, track_writes: bool = False, budget: int = DEFAULT_BUDGET):
        if board.core.name not in CPU_MODELS:
            raise EmulatorError(f"Unicorn has no model for core {board.core.name}", where=str(board.toml_path),
                                fix=f"use a board with one of: {', '.join(CPU_MODELS)}")
        self.board = board
        self.elf = elf if isinstance(elf, ElfImage) else load_elf(elf)
        self.accounting = accounting
        self.track_writes = track_writes and accounting
        self.budget = budget
        self.uc = uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB)
        uc.ctl_set_cpu_model(CPU_MODELS[board.core.name])
        self.view = ProtocolView(self.elf, board, _UcMemory(uc))
        self.uart = self._uart_layout()
        # RCC/PWR/flash/FMC register models, so that the firmware's chip set-up (clocks, SDRAM) ends
        self.chip = ChipRegisters(board)
        self._map_memory()
        self.chip.attach(uc)
        self._interrupts: list[int] = []
        self._invalid: tuple[int, int, int] | None = None  # (access, address, size)
        uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)
        uc.hook_add(unicorn.UC_HOOK_MEM_INVALID, self._on_invalid)
        self._tc = None
        self._tracks: dict[str, int] = {}
        if accounting:
            self._attach_native(memory_timing)
        else:
            uc.mem_map(self.uart.page, PAGE)
            uc.mem_map(DWT_PAGE, PAGE)
            uc.mem_write(self.uart.page + self.uart.status_off, (0xC0).to_bytes(4, "little"))
        for addr, data in self.elf.segments:
            try:
                uc.mem_write(addr, data)
            except unicorn.UcError:
                raise EmulatorError(f"the firmware loads {len(data)} bytes at 0x{addr:08X}, outside the memory of "
                                    f"{board.name}", where=str(self.elf.path),
                                    fix="build the firmware for this board (trecsim build --board "
                                    f"{board.name})") from None
        self._paint_arenas()

    # ------------------------------------------------------------------ setup

    def _uart_layout(self) -> _Uart:
        p = self.board.peripheral(self.board.console_uart.name)
        f7 = "F7" in p.type.upper()
        base = self.board.console_uart.base
        page = base & ~(PAGE - 1)
        return _Uart(page, base - page + (0x1C if f7 else 0x00), base - page + (0x28 if f7 else 0x04))

    def _map_memory(self) -> None:
        uc = self.uc
        mapped: list[tuple[int, int]] = []
        self._unmapped_sdram = []
        for m in self.board.memories:
            perms = unicorn.UC_PROT_READ
            if m.kind != "flash":
                perms |= unicorn.UC_PROT_WRITE
            if "code" in m.usable or m.kind == "flash":
                perms |= unicorn.UC_PROT_EXEC
            if m.base % PAGE or m.size % PAGE:
                raise EmulatorError(f"memory {m.name} (0x{m.base:08X}, {m.size} bytes) is not 4 KB aligned",
                                    where=str(self.board.repl_path), fix="Unicorn maps whole 4 KB pages")
            mapped.append((m.base, m.end))
            if m.kind == "sdram" and self.chip.gates_sdram:  # mapped once the firmware's FMC set-up is done
                self._unmapped_sdram.append((m, perms))
                self.chip.on_sdram_ready = self._map_sdram
                continue
            uc.mem_map(m.base, m.size, perms)
        special = {self.uart.page, DWT_PAGE, *self.chip.pages}
        pages: set[int] = set()
        for p in self.board.peripherals:
            if p.size is None or PPB <= p.base < PPB_END:
                continue
            lo, hi = _pages(p.base, p.base + p.size)
            pages.update(range(lo, hi, PAGE))
        pages.update(range(PPB, PPB_END, PAGE))
        for page in sorted(pages - special):
            if any(a <= page < b for a, b in mapped):
                continue
            uc.mem_map(page, PAGE, unicorn.UC_PROT_READ | unicorn.UC_PROT_WRITE)

    def _attach_native(self, memory_timing: bool) -> None:
        lib = native.library()
        board = self.board
        self._lib = lib
        tc = lib.tc_create()
        if not tc:
            raise EmulatorError("out of memory for the native hook")
        self._tc = tc
        self._finalizer = __import__("weakref").finalize(self, lib.tc_free, tc)
        uclib = unicorn.unicorn_py3.unicorn.uclib
        addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
        lib.tc_set_api(tc, addr(uclib.uc_hook_add), addr(uclib.uc_mmio_map), addr(uclib.uc_emu_stop))
        self.tables = tables = cyclemod.code_tables(self.elf.code_ranges, board)
        lib.tc_set_code(tc, tables.base, len(tables.cost) - 1, tables.cost.ctypes.data, tables.insns.ctypes.data,
                        tables.end_kind.ctypes.data, tables.target_extra.ctypes.data)
        cm = board.cycle_model
        m7 = board.core.name.startswith("cortex-m7")
        flash = board.flash
        sdram = board.memories_of("sdram")
        if m7:
            iline = dline = int(cm.get("cache_line_bytes", 32))
            ilines = max(1, board.core.icache_bytes // iline)
            dlines = max(1, board.core.dcache_bytes // dline)
        else:
            iline = dline = int(cm.get("art_line_bytes", 16))
            ilines = int(cm.get("art_icache_lines", 64))
            dlines = int(cm.get("art_dcache_lines", 8))
        params = {
            "m7": int(m7),
            "taken_extra": 0 if m7 else int(cm["branch_taken"]) - int(cm["branch_not_taken"]),
            "mispredict": int(cm["branch_mispredict"]) if m7 else 0,
            "flash_base": flash.base,  # instruction fetch: always (block hook); data reads: memory_timing
            "flash_end": flash.end,
            "flash_ws": board.flash_wait_states,
            "iline_bytes": iline, "ilines": min(ilines, 4096), "dline_bytes": dline, "dlines": min(dlines, 4096),
            "sdram_base": sdram[0].base if sdram and memory_timing else 0,
            "sdram_end": sdram[0].end if sdram and memory_timing else 0,
            "sdram_latency": board.sdram_latency_cycles or 0,
            "budget": self.budget,
            "uart_status_off": self.uart.status_off, "uart_data_off": self.uart.data_off,
            "uart_status_val": 0xC0,  # TXE | TC
        }
        for i, name in enumerate(native.PARAMS):
            lib.tc_param(tc, i, params[name])
        what = 1 | (2 | 4 if memory_timing else 0)
        if self.track_writes:
            what |= 8
            syms = self.elf.symbols
            if "_stack_limit" in syms and "_stack_top" in syms:
                self._tracks["__stack__"] = lib.tc_add_track(tc, syms["_stack_limit"].address,
                                                             syms["_stack_top"].address)
            for s in self.view.arena_sections():
                self._tracks[s.name] = lib.tc_add_track(tc, s.address, s.address + s.size)
        # the uc_engine handle of the Python Uc object
        err = lib.tc_attach(tc, self.uc._uch, what, DWT_PAGE, self.uart.page)
        if err:
            raise EmulatorError(f"attaching the native cycle hook to Unicorn failed (code {err})",
                                fix="reinstall unicorn==2.1.4; report it if it persists")

    def _map_sdram(self) -> None:
        """The FMC set-up is complete (chip model): the SDRAM answers from now on; its arenas are painted."""
        for m, perms in self._unmapped_sdram:
            self.uc.mem_map(m.base, m.size, perms)
        self._unmapped_sdram = []
        self._paint_arenas()

    def _mapped(self, address: int) -> bool:
        return not any(m.contains(address) for m, _ in self._unmapped_sdram)

    def _mapped_arenas(self):
        """The arenas in mapped memory (not the SDRAM before the firmware's FMC set-up)."""
        return [s for s in self.view.arena_sections() if self._mapped(s.address)]

    def _paint_arenas(self) -> None:
        self.view.paint_arenas(self._mapped_arenas())

    # ------------------------------------------------------------------ hooks (rare events only)

    def _on_interrupt(self, uc, intno, user):
        self._interrupts.append(intno)
        uc.emu_stop()

    def _on_invalid(self, uc, access, address, size, value, user):
        self._invalid = (access, address, size)
        return False

    # ------------------------------------------------------------------ run

    def counters(self) -> dict[str, int]:
        if self._tc is None:
            return {}
        out = (ctypes.c_uint64 * 10)()
        self._lib.tc_counters(self._tc, out)
        names = ("cycles", "instructions", "blocks", "unknown_blocks", "budget_hit", "flash_fetch_misses",
                 "flash_data_misses", "sdram_accesses", "taken_branches", "mispredicts")
        return dict(zip(names, (int(v) for v in out)))

    def uart_lines(self) -> list[UartLine]:
        if self._tc is None:
            return []
        n = self._lib.tc_uart(self._tc, None, None, 0)
        chars = (ctypes.c_uint8 * n)()
        stamps = (ctypes.c_uint64 * n)()
        self._lib.tc_uart(self._tc, chars, stamps, n)
        lines, cur = [], bytearray()
        for ch, t in zip(bytes(chars), stamps):
            if ch == 0x0A:
                lines.append(UartLine(int(t), int(t) / self.board.clock_hz, cur.decode(errors="replace")))
                cur = bytearray()
            elif ch != 0x0D:
                cur.append(ch)
        if cur:
            t = int(stamps[n - 1])
            lines.append(UartLine(t, t / self.board.clock_hz, cur.decode(errors="replace")))
        return lines

    def _reg(self, r: int) -> int:
        return int(self.uc.reg_read(r))

    def start(self) -> tuple[str, float]:
        """Runs from reset to BKPT; returns (how it stopped, wall seconds). Raises FirmwareFault on a
        Unicorn error, an exception, or the instruction budget."""
        vectors = self.elf.symbols["trec_vectors"].address if "trec_vectors" in self.elf.symbols else \
            self.board.flash.base
        sp, reset = (int.from_bytes(self.uc.mem_read(vectors + 4 * i, 4), "little") for i in range(2))
        self.uc.reg_write(arm_const.UC_ARM_REG_SP, sp)
        t0 = time.perf_counter()
        try:
            self.uc.emu_start(reset | 1, 0xFFFFFFFF)
        except unicorn.UcError as exc:
            wall = time.perf_counter() - t0
            raise self._unicorn_fault(exc) from None
        wall = time.perf_counter() - t0
        if self._tc is not None and self.counters()["budget_hit"]:
            raise self._fault("instruction budget", f"the firmware ran past its budget of {self.budget} "
                              "instructions without reaching its breakpoint (an endless loop?)",
                              fix="look at the loop around PC; raise the budget only for a longer model")
        if self._interrupts and self._interrupts[-1] != BKPT:
            intno = self._interrupts[-1]
            kind, bit, what = _INTERRUPTS.get(intno, ("exception", None, f"unexpected exception {intno}"))
            raise self._fault(kind, what, cfsr=(1 << bit) if bit is not None else 0)
        if not self._interrupts:
            return "stopped", wall
        return "bkpt", wall

    # ------------------------------------------------------------------ faults

    def _stack_overflowed(self, sp: int | None = None) -> bool:
        syms = self.elf.symbols
        if "_stack_limit" not in syms:
            return False
        if sp is not None and sp < syms["_stack_limit"].address:
            return True
        try:  # the guard zone, once the runtime has painted the stack (trec_status is 0 until then)
            return self.view.stack_overflowed()
        except unicorn.UcError:
            return False

    def _fault(self, kind: str, what: str, *, cfsr: int = 0, pc: int | None = None, lr: int | None = None,
               fix: str | None = None) -> FirmwareFault:
        pc = self._reg(arm_const.UC_ARM_REG_PC) if pc is None else pc
        lr = self._reg(arm_const.UC_ARM_REG_LR) if lr is None else lr
        return firmware_fault(self.elf, kind, what, cfsr=cfsr, pc=pc, lr=lr, uart=self.uart_lines(),
                              where=f"{self.elf.path} on {self.board.name} ({self.backend})",
                              fix=fix or "see the function and line above; rebuild after fixing the firmware")

    def _unicorn_fault(self, exc: unicorn.UcError) -> FirmwareFault:
        sp = self._reg(arm_const.UC_ARM_REG_SP)
        err = exc.errno
        inv = self._invalid
        region = None
        if inv is not None:
            access, address, size = inv
            r = self.board.region_at(address)
            region = f" ({r.name}, {r.kind})" if r else " (nothing is mapped there on this chip)"
            if r is not None and not self._mapped(address):
                region = f" ({r.name}, {r.kind}, before the firmware's FMC SDRAM set-up: a bus error on the chip too)"
        if self._stack_overflowed(sp):
            limit = self.elf.symbols["_stack_limit"].address
            return self._fault("stack overflow", f"SP 0x{sp:08X} went below the stack's limit 0x{limit:08X} "
                               f"({self.elf.symbols['_stack_top'].address - limit} bytes reserved)"
                               + (f", then an access to 0x{inv[1]:08X} failed" if inv else ""),
                               cfsr=(1 << 9) | (1 << 15),
                               fix="give the firmware more stack (trecsim build --stack) or use less of it")
        if err in (unicorn.UC_ERR_READ_UNMAPPED, unicorn.UC_ERR_WRITE_UNMAPPED) and inv:
            rw = "read" if err == unicorn.UC_ERR_READ_UNMAPPED else "write"
            return self._fault("BusFault", f"{rw} of {inv[2]} bytes at unmapped address 0x{inv[1]:08X}{region}",
                               cfsr=(1 << 9) | (1 << 15))
        if err in (unicorn.UC_ERR_READ_PROT, unicorn.UC_ERR_WRITE_PROT) and inv:
            rw = "read" if err == unicorn.UC_ERR_READ_PROT else "write"
            return self._fault("BusFault", f"{rw} of {inv[2]} bytes at 0x{inv[1]:08X}{region}, which the chip "
                               "does not allow", cfsr=(1 << 9) | (1 << 15))
        if err == unicorn.UC_ERR_FETCH_UNMAPPED:
            addr = inv[1] if inv else self._reg(arm_const.UC_ARM_REG_PC)
            return self._fault("BusFault", f"instruction fetch from unmapped address 0x{addr:08X}"
                               f"{region or ''}", cfsr=1 << 8)
        if err == unicorn.UC_ERR_FETCH_PROT:
            addr = inv[1] if inv else self._reg(arm_const.UC_ARM_REG_PC)
            return self._fault("MemManage", f"instruction fetch from 0x{addr:08X}{region or ''}, which is "
                               "execute-never", cfsr=1 << 0)
        if err in (unicorn.UC_ERR_INSN_INVALID, unicorn.UC_ERR_EXCEPTION):
            return self._fault("UsageFault", f"invalid instruction ({exc})", cfsr=1 << 16)
        if err in (unicorn.UC_ERR_READ_UNALIGNED, unicorn.UC_ERR_WRITE_UNALIGNED, unicorn.UC_ERR_FETCH_UNALIGNED):
            return self._fault("UsageFault", f"unaligned access ({exc})", cfsr=1 << 24)
        return self._fault("emulator error", str(exc))

    def firmware_fault(self) -> FirmwareFault | None:
        """The fault the firmware's own handler recorded in trec_fault (on targets that take exceptions)."""
        return recorded_fault(self.view, self._fault, "the firmware's fault handler ran")

    # ------------------------------------------------------------------ memory accounting

    def _arena_peaks(self) -> dict[str, int]:
        """Painted arena peaks; an arena in SDRAM the firmware never set up was never used (0)."""
        measured = self.view.arena_peaks(self._mapped_arenas())
        names = [s.name[len(".arena_"):] for s in self.view.arena_sections()]
        return {name: measured.get(name, 0) for name in names}

    def memory_use(self) -> MemoryUse:
        tracked_stack = tracked_arenas = None
        if self.track_writes:
            lo_hi = self._tracked()
            if "__stack__" in lo_hi:
                lo, _ = lo_hi["__stack__"]
                tracked_stack = (self.elf.symbols["_stack_top"].address - (lo & ~3)) if lo is not None else 0
            tracked_arenas = {}
            for s in self.view.arena_sections():
                lo, hi = lo_hi.get(s.name, (None, None))
                tracked_arenas[s.name[len(".arena_"):]] = (hi - s.address) if lo is not None else 0
        return self.view.memory_use(self._arena_peaks(), tracked_stack=tracked_stack, tracked_arenas=tracked_arenas)

    def _tracked(self) -> dict[str, tuple[int | None, int | None]]:
        """Exact mode: (lowest, one past the highest) byte written per tracked range."""
        out = (ctypes.c_uint64 * 2)()
        res = {}
        for name, i in self._tracks.items():
            self._lib.tc_track_result(self._tc, i, out)
            res[name] = (None, None) if out[0] == 0xFFFFFFFFFFFFFFFF else (int(out[0]), int(out[1]))
        return res

    # ------------------------------------------------------------------ the protocol

    def run(self, model_input=None) -> RunResult:
        """Writes ``model_input`` into trec_input (if given), runs to the breakpoint and reads the protocol
        symbols. Raises FirmwareFault for faults, runaways and stack overflows."""
        self.view.write_input(model_input)
        stop, wall = self.start()
        fault = self.firmware_fault()
        if fault is not None:
            raise fault
        if self._stack_overflowed():
            reserved, _ = self.view.stack_peak()
            raise self._fault("stack overflow", f"the stack reached its limit: it wrote into the lowest {STACK_GUARD} of "
                              f"its {reserved} reserved bytes, so data below it was probably overwritten",
                              fix="give the firmware more stack (trecsim build --stack) or use less of it")
        return self._result(stop, wall)

    def _result(self, stop: str, wall: float) -> RunResult:
        view = self.view
        outputs, layers = view.outputs(), view.layers()
        counters = self.counters()
        return RunResult(
            backend=self.backend, board=self.board.name, status=view.status(),
            done=bool(self.read_u32("trec_done")) if self.has("trec_done") else stop == "bkpt",
            error=view.error(), stop=stop, outputs=outputs, layers=layers, uart=self.uart_lines(),
            total_cycles=counters.get("cycles", 0), instructions=counters.get("instructions", 0),
            memory=self.memory_use(),
            cycle_source=(f"model estimate (trecsim {self.board.core.name} cycle model, "
                          f"{self.board.cycle_model.core} parameters of {self.board.toml_path.name})"
                          if self.accounting else "none (accounting off)"),
            clock_hz=self.board.clock_hz, wall_s=wall, counters=counters)
