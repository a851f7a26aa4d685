"""Static cycle costs of Thumb-2 code: the part of the cycle model that is known before the run.

The firmware's code is decoded once (capstone) between the ELF's ``$t`` and ``$d`` mapping
symbols, every instruction is classified, and the costs the rules of ARCHITECTURE.md
("Cycles") give for it are summed into prefix sums over the code's halfwords. A translated
block ``[start, end)`` of the emulator then costs ``prefix[end] - prefix[start]``: the native
block hook (``native/blockhook.c``) adds that and the dynamic part (taken branches, branch
prediction, flash and SDRAM timing) at run time.

Hazards between neighbouring instructions are computed here, statically, in address order.
A *barrier* (the instruction after a branch, and every direct branch target) starts a fresh
pipeline state, so the figures of a block that starts at a branch target are those of the block
on its own; a block entered by fall-through sees its predecessor, which is its address
predecessor. Every figure is a model estimate, not a measurement.

Cortex-M4 (parameters: the board's ``[cycle_model]``, Arm's Cortex-M4 TRM table 3-1):
ALU, MUL/MLA and DSP 1; SDIV/UDIV the midpoint of 2-12; load 2, or 1 right after a load
whose result it does not use as an address; LDRD 3; LDM/STM/PUSH/POP 1+N; store 1 (immediate
offset) or 2 (register offset); +1 for a load or store right after a store; +1 for an address
register written by the previous ALU or multiply instruction; branches 1 when not taken, the
taken extra is dynamic; BX/BLX register 3, LDR PC 5, POP {..,PC} 1+N+3, TBB/TBH 6; FPU: VLDR 2,
VLDM/VSTM 1+N, VMLA/VFMA 3, VDIV/VSQRT 14, others 1.

Cortex-M7 (approximation, parameters from the board's ``[cycle_model]``): in-order dual issue
with one load/store pipe and one MAC pipe, LDM/STM/LDRD/STRD/divide issuing alone, a register
scoreboard with the load and multiply latencies (address operands one cycle earlier), direct
branches folded when predicted (a 2-bit predictor runs in the native hook), indirect branches
charged the mispredict penalty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from trecsim.boards import Board, CycleModel
from trecsim.errors import EmulatorError

__all__ = [
    "KIND_DIRECT",
    "KIND_DIRECT_COND",
    "KIND_INDIRECT",
    "KIND_NONE",
    "CodeTables",
    "Insn",
    "classify",
    "code_tables",
    "decode",
    "m4_costs",
    "m7_costs",
]

# How a block's last instruction hands over control (native hook: dynamic branch costs).
KIND_NONE = 0  # not a branch: the next block is the fall-through
KIND_DIRECT_COND = 1  # B<cond>, CBZ/CBNZ, B in an IT block: taken or not, predicted on the M7
KIND_DIRECT = 2  # B, BL: always taken
KIND_INDIRECT = 3  # BX/BLX reg, POP {PC}, LDR PC, TBB/TBH, MOV PC: fixed cost, charged statically

_AL = 15  # capstone ARM_CC_AL

_LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh", "ldrt", "ldrbt", "ldrht",
          "ldrsbt", "ldrsht", "lda", "ldab", "ldah", "pld", "pli"}
_STORES = {"str", "strb", "strh", "strex", "strexb", "strexh", "strt", "strbt", "strht", "stl", "stlb", "stlh"}
_LDM = {"ldm", "ldmdb", "ldmia", "ldmda", "ldmib", "pop"}
_STM = {"stm", "stmdb", "stmia", "stmda", "stmib", "push"}
_MUL = {"mul", "mla", "mls", "umull", "smull", "umlal", "smlal", "umaal", "smulbb", "smulbt", "smultb", "smultt",
        "smulwb", "smulwt", "smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt", "smlad", "smladx",
        "smlsd", "smlsdx", "smuad", "smuadx", "smusd", "smusdx", "smlald", "smlaldx", "smlsld", "smlsldx",
        "smmul", "smmulr", "smmla", "smmlar", "smmls", "smmlsr", "smlalbb", "smlalbt", "smlaltb", "smlaltt",
        "usad8", "usada8"}
_DIV = {"sdiv", "udiv"}
_FP_LOAD = {"vldr", "vstr"}
_FP_LDM = {"vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop", "vldm", "vstm"}
_FP_MAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
_FP_DIV = {"vdiv", "vsqrt"}
_SYSTEM = {"msr", "mrs", "dsb", "dmb", "isb", "cpsie", "cpsid", "wfi", "wfe", "sev", "svc", "bkpt", "udf",
           "vmrs", "vmsr"}


@dataclass(frozen=True)
class Insn:
    """One decoded instruction with what the cycle rules need."""

    address: int
    size: int
    name: str  # capstone's instruction name without condition or width suffix ("ldr", "smlad")
    text: str  # "ldr r0, [r1, #4]"
    conditional: bool
    reads: frozenset[str]
    writes: frozenset[str]
    addr_regs: frozenset[str]  # base and index registers of a memory operand
    reg_offset: bool  # a memory operand with an index register
    nregs: int  # registers moved by LDM/STM/PUSH/POP/VLDM/VSTM
    target: int | None  # direct branch target
    cls: str = field(default="")  # classify()


def classify(ins: Insn) -> str:
    """The instruction class the cycle rules use: alu, mul, div, load, load2, ldm, store, store2, stm,
    branch, bx, ldr_pc, pop_pc, tbb, vload, vldm, vmac, vdiv, fpu, system."""
    n = ins.name
    writes_pc = "pc" in ins.writes
    if n in ("b", "bl", "cbz", "cbnz"):
        return "branch"
    if n in ("tbb", "tbh"):
        return "tbb"
    if n in _LDM:
        return "pop_pc" if writes_pc else "ldm"
    if n in _STM:
        return "stm"
    if n in ("ldrd", "ldrexd"):
        return "load2"
    if n in ("strd", "strexd"):
        return "store2"
    if n in _LOADS:
        return "ldr_pc" if writes_pc else "load"
    if n in _STORES:
        return "store"
    if n in ("bx", "blx") or writes_pc:
        return "bx"
    if n in _MUL:
        return "mul"
    if n in _DIV:
        return "div"
    if n in _FP_LOAD:
        return "vload"
    if n in _FP_LDM:
        return "vldm"
    if n in _FP_MAC:
        return "vmac"
    if n in _FP_DIV:
        return "vdiv"
    if n in _SYSTEM:
        return "system"
    if n.startswith("v"):
        return "fpu"
    return "alu"


_MEMORY = {"load", "load2", "ldm", "store", "store2", "stm", "ldr_pc", "pop_pc", "vload", "vldm", "tbb"}
_STORE_CLS = {"store", "store2", "stm"}


def _is_store(ins: Insn) -> bool:
    return ins.cls in _STORE_CLS or (ins.cls in ("vload", "vldm") and ins.name.startswith(("vst", "vpush")))


def branch_kind(ins: Insn) -> int:
    if ins.cls == "branch":
        if ins.name == "bl":
            return KIND_DIRECT
        return KIND_DIRECT_COND if (ins.conditional or ins.name in ("cbz", "cbnz")) else KIND_DIRECT
    if ins.cls in ("bx", "ldr_pc", "pop_pc", "tbb"):
        return KIND_INDIRECT
    return KIND_NONE


# --------------------------------------------------------------------------- decoding


def _capstone():
    try:
        import capstone
        from capstone import arm
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EmulatorError("the capstone disassembler is not installed",
                            fix="reinstall trecsim (pip install -e .), which depends on capstone") from exc
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md, arm


def decode(code: bytes, address: int) -> list[Insn]:
    """Decodes Thumb-2 code at ``address``; stops at the first undecodable halfword and resumes
    after it (literal data inside code ranges is skipped that way)."""
    md, arm = _capstone()
    out: list[Insn] = []
    pos = 0
    while pos < len(code):
        last = pos
        for i in md.disasm(code[pos:], address + pos):
            out.append(_insn(i, md, arm))
            pos += i.size
        if pos == last:
            pos += 2  # undecodable halfword: data
    return out


def _insn(i, md, arm) -> Insn:
    reads, writes = i.regs_access()
    rn = {md.reg_name(r) for r in reads}
    wn = {md.reg_name(r) for r in writes} - {"itstate"}
    addr: set[str] = set()
    reg_offset = False
    target = None
    nregs = 0
    name = i.insn_name()
    for op in i.operands:
        if op.type == arm.ARM_OP_MEM:
            if op.mem.base:
                addr.add(md.reg_name(op.mem.base))
            if op.mem.index:
                addr.add(md.reg_name(op.mem.index))
                reg_offset = True
        elif op.type == arm.ARM_OP_REG:
            nregs += 1
        elif op.type == arm.ARM_OP_IMM and name in ("b", "bl", "cbz", "cbnz"):
            target = op.imm
    if name in ("ldm", "ldmdb", "stm", "stmdb", "vldmia", "vldmdb", "vstmia", "vstmdb"):
        nregs -= 1  # the base register operand
    return Insn(i.address, i.size, name, f"{i.mnemonic} {i.op_str}".strip(), i.cc not in (_AL, 0),
                frozenset(rn), frozenset(wn), frozenset(addr), reg_offset, max(nregs, 0), target)


def _classified(insns: Iterable[Insn]) -> list[Insn]:
    out = []
    for ins in insns:
        object.__setattr__(ins, "cls", classify(ins))
        out.append(ins)
    return out


# --------------------------------------------------------------------------- per-core static costs


def _barriers(insns: Sequence[Insn]) -> list[bool]:
    """True where a fresh pipeline state starts: after a branch, and at direct branch targets."""
    targets = {i.target for i in insns if i.target is not None}
    out = []
    prev = None
    for ins in insns:
        out.append(prev is None or branch_kind(prev) != KIND_NONE or ins.address in targets
                   or prev.address + prev.size != ins.address)
        prev = ins
    return out


def m4_costs(insns: Sequence[Insn], model: CycleModel) -> list[int]:
    """Static Cortex-M4 cycles of each instruction (hazards with its address predecessor included;
    taken-branch extras are dynamic)."""
    p = model
    div = (int(p["sdiv_min"]) + int(p["sdiv_max"])) // 2
    costs = []
    prev: Insn | None = None
    for ins, barrier in zip(insns, _barriers(insns)):
        if barrier:
            prev = None
        c = ins.cls
        if c in ("alu", "system"):
            cost = p["alu"]
        elif c == "mul":
            cost = p["mul_long"] if ins.name in ("umull", "smull", "umlal", "smlal", "umaal") else (
                p["mul"] if ins.name in ("mul", "mla", "mls") else p["simd_sat"])
        elif c == "div":
            cost = div
        elif c == "load":
            pipelined = prev is not None and prev.cls == "load" and not (prev.writes & ins.addr_regs)
            cost = p["load_pipelined"] if pipelined else p["load"]
        elif c == "load2":
            cost = p["ldrd"]
        elif c == "store":
            cost = p["store_reg"] if ins.reg_offset else p["store_imm"]
        elif c == "store2":
            cost = p["ldm_stm_base"] + 2 * p["ldm_stm_per_reg"]
        elif c in ("ldm", "stm"):
            cost = p["ldm_stm_base"] + ins.nregs * p["ldm_stm_per_reg"]
        elif c == "pop_pc":
            cost = p["ldm_stm_base"] + ins.nregs * p["ldm_stm_per_reg"] + p["pop_pc_extra"]
        elif c == "ldr_pc":
            cost = p["ldr_pc"]
        elif c == "tbb":
            cost = p["tbb_tbh"]
        elif c == "bx":
            cost = p["bx_reg"]
        elif c == "branch":
            cost = p["branch_not_taken"]
        elif c == "vload":
            cost = p["vldr"]
        elif c == "vldm":
            cost = p["vldm_vstm_base"] + ins.nregs * p["vldm_vstm_per_reg"]
        elif c == "vmac":
            cost = p["vmla"]
        elif c == "vdiv":
            cost = p["vdiv"] if ins.name == "vdiv" else p["vsqrt"]
        else:
            cost = p["fpu_other"]
        if prev is not None:
            if c in _MEMORY and _is_store(prev):
                cost += p["stall_after_store"]
            if prev.cls in ("alu", "mul") and prev.writes & ins.addr_regs:
                cost += p["stall_agu"]
        costs.append(int(cost))
        prev = ins
    return costs


_M7_ALONE = {"load2", "store2", "ldm", "stm", "pop_pc", "div", "tbb", "system", "vldm", "vdiv"}
_M7_LS = _MEMORY
_M7_MAC = {"mul", "div"}
_M7_FP = {"vmac", "vdiv", "fpu"}


def m7_costs(insns: Sequence[Insn], model: CycleModel) -> list[int]:
    """Static Cortex-M7 cycles per instruction: the issue cycle of an instruction minus that of its
    predecessor, by an in-order dual-issue simulation over the code in address order."""
    p = model
    dual = bool(p["dual_issue"])
    alu_lat, lw, lbh, lmul = int(p["alu"]), int(p["load_word_latency"]), int(p["load_byte_half_latency"]), \
        int(p["mul_latency"])
    early = int(p["address_operand_early"])
    mispredict = int(p["branch_mispredict"])
    costs = []
    t = -1  # issue cycle of the previous instruction (its last cycle for multi-cycle ones)
    open_slot = False  # the previous instruction issued first in its cycle and can take a partner
    prev: Insn | None = None
    ready: dict[str, int] = {}
    for ins, barrier in zip(insns, _barriers(insns)):
        if barrier:
            ready = {}
            open_slot = False
            prev = None
        start = t
        c = ins.cls
        earliest = t if open_slot else t + 1
        data = ins.reads - ins.addr_regs
        for r in data:
            earliest = max(earliest, ready.get(r, -10))
        for r in ins.addr_regs:
            earliest = max(earliest, ready.get(r, -10) + early)
        can_pair = (dual and open_slot and earliest == t and prev is not None and c not in _M7_ALONE
                    and not (c in _M7_LS and prev.cls in _M7_LS) and not (c in _M7_MAC and prev.cls in _M7_MAC)
                    and not (c in _M7_FP and prev.cls in _M7_FP) and not (prev.writes & ins.reads))
        issue = t if can_pair else max(earliest, t + 1)
        occupancy = 1
        if c in ("ldm", "stm", "pop_pc", "vldm"):
            occupancy = max(1, (ins.nregs + 1) // 2)
        elif c == "div":
            occupancy = (int(p.get("sdiv_min", 2)) + int(p.get("sdiv_max", 12))) // 2
        elif c == "vdiv":
            occupancy = 14
        extra = 0
        if c in ("bx", "ldr_pc", "pop_pc", "tbb"):
            extra = mispredict  # indirect: not predicted by the model
        end = issue + occupancy - 1 + extra
        if c in ("load", "ldr_pc", "load2", "ldm", "pop_pc", "vload", "vldm"):
            lat = lw if ins.name in ("ldr", "ldrd", "ldm", "pop", "ldmdb", "vldr") else lbh
        elif c in ("mul", "vmac"):
            lat = lmul
        else:
            lat = alu_lat
        for r in ins.writes:
            ready[r] = issue + lat
        open_slot = not can_pair and c not in _M7_ALONE and occupancy == 1 and extra == 0
        t = end
        costs.append(end - start)
        prev = ins
    return costs


# --------------------------------------------------------------------------- tables for the native hook


@dataclass(frozen=True)
class CodeTables:
    """Prefix sums over the code's halfwords: ``cost[i]`` and ``insns[i]`` are the static cycles
    and instructions of everything that starts before ``base + 2*i``; ``end_kind[i]`` is the branch
    kind of the instruction that ends at ``base + 2*i``; ``target_extra[i]`` the extra cycles of a
    taken branch that lands on ``base + 2*i`` (a 32-bit instruction at 2 mod 4 on the M4)."""

    base: int
    cost: np.ndarray  # uint64[n + 1]
    insns: np.ndarray  # uint64[n + 1]
    end_kind: np.ndarray  # uint8[n + 1]
    target_extra: np.ndarray  # uint8[n + 1]
    count: int  # decoded instructions

    @property
    def end(self) -> int:
        return self.base + 2 * (len(self.cost) - 1)


def _tables(ranges: Sequence[tuple[int, bytes]], board: Board) -> CodeTables:
    if not ranges:
        raise EmulatorError("the ELF has no Thumb code to model", fix="build the firmware with trecsim build")
    base = min(a for a, _ in ranges)
    end = max(a + len(b) for a, b in ranges)
    n = (end - base) // 2
    cost = np.zeros(n + 1, np.uint64)
    count = np.zeros(n + 1, np.uint64)
    kind = np.zeros(n + 1, np.uint8)
    target = np.zeros(n + 1, np.uint8)
    m7 = board.core.name.startswith("cortex-m7")
    unaligned = 0 if m7 else int(board.cycle_model.get("branch_unaligned_target", 0))
    total = 0
    for addr, data in ranges:
        insns = _classified(decode(data, addr))
        costs = m7_costs(insns, board.cycle_model) if m7 else m4_costs(insns, board.cycle_model)
        total += len(insns)
        for ins, c in zip(insns, costs):
            i = (ins.address - base) // 2
            cost[i + 1] += c  # made cumulative below
            count[i + 1] += 1
            kind[i + ins.size // 2] = branch_kind(ins)
            if ins.size == 4 and ins.address % 4 == 2:
                target[i] = unaligned
    np.cumsum(cost, out=cost)
    np.cumsum(count, out=count)
    return CodeTables(base, cost, count, kind, target, total)


_CACHE: dict[str, CodeTables] = {}


def code_tables(ranges: Sequence[tuple[int, bytes]], board: Board) -> CodeTables:
    """The static tables of the Thumb code ``ranges`` ((address, bytes) pairs) for the board's core
    (cached by content)."""
    h = hashlib.sha256(board.name.encode())
    for a, b in ranges:
        h.update(a.to_bytes(8, "little"))
        h.update(b)
    h.update(repr(board.cycle_model.parameters).encode())
    key = h.hexdigest()
    if key not in _CACHE:
        if len(_CACHE) >= 16:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _tables(ranges, board)
    return _CACHE[key]
