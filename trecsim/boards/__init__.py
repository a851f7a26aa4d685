"""Board descriptions: the datasheet facts every other module reads.

Each board in ``platforms/boards/`` is three files (see platforms/README.md):

- ``<board>.repl``: a Renode platform description (usually ``using`` a CPU file in
  ``platforms/cpus/``). Memory regions (base, size), peripherals and the console
  UART's base address come from here, parsed by :mod:`trecsim.boards.repl`.
- ``<board>.resc``: the Renode launch script that loads that .repl.
- ``<board>.toml``: what Renode's format cannot hold: core, clock, flash wait
  states, the kind and use of each memory region, SDRAM latency, cycle model.

One fact lives in one place: the TOML never repeats a base address or a size. When
the two files disagree (a memory in one but not the other, a clock that differs
from the NVIC's SysTick frequency, a console UART the .repl lacks), loading fails
with a :class:`~trecsim.errors.BoardError` naming the file and the fix.

``platforms_dir()`` is ``$TRECSIM_PLATFORMS`` if set, else ``<checkout>/platforms``.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trecsim
from trecsim.boards.repl import Entry, Platform, Range, parse_repl, resolve_platform_path
from trecsim.errors import BoardError, PlatformSyntaxError

__all__ = [
    "KINDS",
    "ON_CHIP_RAM_KINDS",
    "USAGES",
    "Board",
    "Core",
    "CycleModel",
    "CycleParameter",
    "MemoryRegion",
    "Peripheral",
    "UART",
    "board_names",
    "clear_cache",
    "get_board",
    "load_board_file",
    "load_boards",
    "platforms_dir",
]

#: Memory kinds a [memory.<name>] table may name.
KINDS = ("flash", "sram", "ccm", "itcm", "dtcm", "sdram", "backup")
#: Kinds that count as on-chip RAM (Board.sram_bytes).
ON_CHIP_RAM_KINDS = ("sram", "ccm", "itcm", "dtcm", "backup")
#: What a region may hold: instructions, constants/weights, .data/.bss/arenas, stack.
USAGES = ("code", "rodata", "data", "stack")

KB = 1024


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Core:
    name: str  # "cortex-m4f", "cortex-m7"
    architecture: str  # "armv7e-m"
    fpu: str | None  # "fpv4-sp-d16", "fpv5-sp-d16"; None without FPU
    dsp: bool
    icache_bytes: int
    dcache_bytes: int


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    kind: str  # one of KINDS
    base: int
    size: int
    note: str
    usable: tuple[str, ...]  # subset of USAGES; () = described, not used
    latency_cycles: int | None = None  # extra CPU cycles per access where the TOML gives one

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.base + self.size

    def contains(self, address: int) -> bool:
        return self.base <= address < self.end


@dataclass(frozen=True)
class Peripheral:
    """A peripheral registered on the system bus. ``type`` is the Renode model
    (``UART.STM32_UART``) or ``Tag`` for a stub region from a ``sysbus`` init block;
    ``size`` is None where the .repl registers a point, not a range (NVIC, DWT)."""

    name: str
    type: str
    base: int
    size: int | None

    @property
    def end(self) -> int | None:
        return None if self.size is None else self.base + self.size


@dataclass(frozen=True)
class UART:
    name: str
    base: int


@dataclass(frozen=True)
class CycleParameter:
    name: str
    value: int | bool | str | float
    source: str


@dataclass(frozen=True)
class CycleModel:
    """The per-core cycle model parameters of the board's [cycle_model] table, each with
    its source. ``model["load"]`` is a value, ``model.source("load")`` where it comes from."""

    core: str
    parameters: tuple[CycleParameter, ...]
    _by_name: Mapping[str, CycleParameter] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.parameters})

    def _get(self, name: str) -> CycleParameter:
        try:
            return self._by_name[name]
        except KeyError:
            raise BoardError(
                f"the {self.core} cycle model has no parameter '{name}'",
                fix="add it to [cycle_model] in the board's .toml, or use one of: "
                + ", ".join(sorted(self._by_name)),
            ) from None

    def __getitem__(self, name: str) -> int | bool | str | float:
        return self._get(name).value

    def get(self, name: str, default: Any = None) -> Any:
        p = self._by_name.get(name)
        return default if p is None else p.value

    def source(self, name: str) -> str:
        return self._get(name).source

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self.parameters)


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    mcu: str
    core: Core
    clock_hz: int
    flash_wait_states: int
    flash_accelerator: str
    console_uart: UART
    memories: tuple[MemoryRegion, ...]  # sorted by base
    peripherals: tuple[Peripheral, ...]  # sorted by base
    sdram_latency_cycles: int | None  # None without external SDRAM
    cycle_model: CycleModel
    repl_path: Path
    resc_path: Path
    toml_path: Path

    def memory(self, name: str) -> MemoryRegion:
        for m in self.memories:
            if m.name == name:
                return m
        raise BoardError(
            f"board {self.name} has no memory region '{name}'",
            fix="use one of: " + ", ".join(m.name for m in self.memories),
        )

    def memories_of(self, kind: str) -> tuple[MemoryRegion, ...]:
        if kind not in KINDS:
            raise BoardError(f"unknown memory kind '{kind}'", fix="use one of: " + ", ".join(KINDS))
        return tuple(m for m in self.memories if m.kind == kind)

    @property
    def flash(self) -> MemoryRegion:
        """The one on-chip flash (validated at load time)."""
        return self.memories_of("flash")[0]

    @property
    def sram_bytes(self) -> int:
        """On-chip RAM in all: every region of a kind in ON_CHIP_RAM_KINDS (SRAM, CCM, TCM,
        backup SRAM), not external SDRAM. F469: 320 + 64 + 4 KB; F746: 320 + 16 + 4 KB."""
        return sum(m.size for m in self.memories if m.kind in ON_CHIP_RAM_KINDS)

    def region_at(self, address: int) -> MemoryRegion | None:
        for m in self.memories:
            if m.contains(address):
                return m
        return None

    def peripheral(self, name: str) -> Peripheral:
        for p in self.peripherals:
            if p.name == name:
                return p
        raise BoardError(f"board {self.name} has no peripheral '{name}'",
                         fix=f"see the peripherals in {self.repl_path}")


# --------------------------------------------------------------------------- TOML reading


class _Table:
    """A TOML table that checks types and reports unknown keys, with file context."""

    def __init__(self, data: Mapping[str, Any], section: str, path: Path):
        self.data, self.section, self.path = data, section, path
        self.used: set[str] = set()

    def _err(self, what: str, fix: str) -> BoardError:
        return BoardError(what, where=str(self.path), fix=fix)

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = True, default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self._err(f"[{self.section}] has no '{key}'", f"add {key} = ... to [{self.section}]")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        bad_bool = isinstance(value, bool) and bool not in kinds
        if bad_bool or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self._err(f"[{self.section}] {key} = {value!r} is not a {names}",
                            f"write {key} as a {names}")
        return value

    def table(self, key: str, *, required: bool = True) -> _Table:
        sub = self.get(key, dict, required=required, default={})
        name = f"{self.section}.{key}" if self.section else key
        return _Table(sub, name, self.path)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            where = f"[{self.section}]" if self.section else "the top level"
            raise self._err(f"unknown key(s) {', '.join(unknown)} in {where}",
                            "check the spelling against platforms/README.md")


# --------------------------------------------------------------------------- loading


def platforms_dir() -> Path:
    """``$TRECSIM_PLATFORMS`` if set, else the checkout's ``platforms/`` folder."""
    env = os.environ.get("TRECSIM_PLATFORMS")
    return Path(env).expanduser().resolve() if env else trecsim.REPO_ROOT / "platforms"


def _int_value(entry: Entry, key: str) -> int | None:
    v = entry.properties.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _where(entry: Entry) -> str:
    return str(entry.location) if entry.location else "?"


_TAG = re.compile(r'^(?:sysbus\s+)?Tag\s*<\s*(\S+?)\s*,\s*(\+?)\s*(\S+?)\s*>\s*"([^"]*)"')


def _tags(platform: Platform) -> list[Peripheral]:
    """``Tag <start, last> "NAME"`` commands of the sysbus init block: stub regions."""
    out = []
    sysbus = platform.get("sysbus")
    for cmd in sysbus.init if sysbus else ():
        m = _TAG.match(cmd.text)
        if not m:
            continue
        loc = cmd.location
        try:
            start, plus, second = int(m.group(1), 0), m.group(2), int(m.group(3), 0)
        except ValueError:
            raise PlatformSyntaxError(
                f"cannot read the range of '{cmd.text}'",
                path=str(loc.path) if loc else "?",
                line=loc.line if loc else 0,
                fix='write Tag <0x40000000, 0x400003FF> "NAME"',
            ) from None
        size = second if plus else second - start + 1
        if size <= 0:
            raise BoardError(f"the tagged range of '{cmd.text}' is empty", where=str(loc),
                             fix="write the last address, inclusive, or +size")
        out.append(Peripheral(m.group(4), "Tag", start, size))
    return out


def _load_resc(resc: Path, repl: Path, root: Path, console: str) -> None:
    """The launch script must load this board's .repl (and show the console UART)."""
    try:
        text = resc.read_text(encoding="utf-8")
    except OSError as exc:
        raise BoardError(f"cannot read the launch script: {exc.strerror}", where=str(resc),
                         fix="restore it from the repository") from None
    loaded = None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*machine\s+LoadPlatformDescription\s+@(\S+)", line)
        if m:
            loaded = resolve_platform_path(m.group(1), resc.parent, root)
            if loaded is None:
                raise PlatformSyntaxError(
                    f"LoadPlatformDescription names '{m.group(1)}', which does not exist",
                    path=str(resc), line=lineno,
                    fix=f"write @platforms/boards/{repl.name} (relative to the repository root)",
                )
            if loaded != repl.resolve():
                raise BoardError(
                    f"the launch script loads {loaded}, not the board's platform {repl}",
                    where=f"{resc}:{lineno}", fix=f"load @platforms/boards/{repl.name}",
                )
        m = re.match(r"^\s*showAnalyzer\s+(?:sysbus\.)?(\w+)", line)
        if m and m.group(1) != console:
            raise BoardError(
                f"the launch script shows {m.group(1)}, but the console UART is {console}",
                where=f"{resc}:{lineno}", fix=f"write showAnalyzer sysbus.{console}",
            )
    if loaded is None:
        raise BoardError("the launch script loads no platform", where=str(resc),
                         fix=f"add: machine LoadPlatformDescription @platforms/boards/{repl.name}")


def load_board_file(toml_path: str | Path, *, platforms_root: str | Path | None = None) -> Board:
    """Loads and checks one board from its .toml (and the .repl/.resc it names)."""
    path = Path(toml_path).resolve()
    root = Path(platforms_root).resolve() if platforms_root else path.parent.parent
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise BoardError(f"cannot read the board file: {exc.strerror}", where=str(path),
                         fix="check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"not valid TOML: {exc}", where=str(path), fix="fix the TOML syntax") from None

    top = _Table(data, "", path)
    tb = top.table("board")
    name = tb.get("name", str)
    if name != path.stem:
        raise BoardError(f"board name '{name}' differs from the file name '{path.name}'", where=str(path),
                         fix=f"name the file {name}.toml or set name = \"{path.stem}\"")
    title = tb.get("title", str)
    mcu = tb.get("mcu", str)
    repl_path = path.parent / tb.get("repl", str)
    resc_path = path.parent / tb.get("resc", str)
    tb.finish()
    for p, what in ((repl_path, "platform (.repl)"), (resc_path, "launch script (.resc)")):
        if not p.is_file():
            raise BoardError(f"the {what} {p} does not exist", where=str(path),
                             fix="fix [board] repl/resc (paths are relative to the .toml)")

    tc = top.table("core")
    core = Core(
        name=tc.get("name", str),
        architecture=tc.get("architecture", str),
        fpu=tc.get("fpu", str, required=False) or None,
        dsp=tc.get("dsp", bool),
        icache_bytes=tc.get("icache_bytes", int),
        dcache_bytes=tc.get("dcache_bytes", int),
    )
    tc.finish()
    tclock = top.table("clock")
    clock_hz = tclock.get("hz", int)
    tclock.finish()
    tflash = top.table("flash")
    wait_states = tflash.get("wait_states", int)
    accelerator = tflash.get("accelerator", str)
    tflash.finish()
    tcon = top.table("console")
    console_name = tcon.get("uart", str)
    tcon.finish()

    platform = parse_repl(repl_path, platforms_root=root)
    repl_where = str(repl_path)

    # core and clock agree with the .repl
    cpus = platform.of_type("CPU.CortexM")
    if len(cpus) != 1:
        raise BoardError(f"the platform has {len(cpus)} CPU.CortexM entries, expected 1", where=repl_where,
                         fix="declare one cpu: CPU.CortexM @ sysbus")
    cpu_type = cpus[0].properties.get("cpuType")
    if cpu_type != core.name:
        raise BoardError(f"[core] name is '{core.name}' but the .repl's cpuType is {cpu_type!r}",
                         where=f"{path} / {_where(cpus[0])}", fix="make them the same")
    nvics = platform.of_type("IRQControllers.NVIC")
    if len(nvics) != 1:
        raise BoardError(f"the platform has {len(nvics)} NVIC entries, expected 1", where=repl_where,
                         fix="declare nvic: IRQControllers.NVIC @ sysbus 0xE000E000")
    systick = _int_value(nvics[0], "systickFrequency")
    if systick != clock_hz:
        raise BoardError(
            f"[clock] hz = {clock_hz} but the NVIC's systickFrequency is {systick}",
            where=f"{path} / {_where(nvics[0])}",
            fix="one clock: set systickFrequency (and the DWT frequency) to the core clock",
        )
    for dwt in platform.of_type("Miscellaneous.DWT"):
        freq = _int_value(dwt, "frequency")
        if freq is not None and freq != clock_hz:
            raise BoardError(f"[clock] hz = {clock_hz} but the DWT frequency is {freq}",
                             where=f"{path} / {_where(dwt)}", fix="set the DWT frequency to the core clock")

    # memories: bases and sizes from the .repl, kinds and use from the TOML
    tmem = top.table("memory")
    repl_memories = {e.name: e for e in platform.of_type("Memory.MappedMemory")}
    missing = sorted(set(tmem.data) - set(repl_memories))
    if missing:
        raise BoardError(
            f"[memory.{missing[0]}] has no Memory.MappedMemory '{missing[0]}' in {repl_path.name} "
            f"or what it includes", where=str(path),
            fix="declare the region in the .repl (base and size live there) or remove the table",
        )
    memories = []
    for mname, entry in repl_memories.items():
        if mname not in tmem.data:
            raise BoardError(
                f"memory '{mname}' ({_where(entry)}) has no kind: no [memory.{mname}] table",
                where=str(path),
                fix=f"add [memory.{mname}] with kind = one of {', '.join(KINDS)}",
            )
        reg = entry.sysbus_registration
        base = reg.base if reg else None
        if base is None:
            raise BoardError(f"memory '{mname}' is not registered on sysbus at an address",
                             where=_where(entry), fix=f"write {mname}: Memory.MappedMemory @ sysbus 0x...")
        size = _int_value(entry, "size")
        if size is None:
            raise BoardError(f"memory '{mname}' has no size", where=_where(entry), fix="add an indented size: 0x...")
        if size <= 0 or size % KB:
            raise BoardError(f"memory '{mname}' size {size:#x} is not a positive multiple of 1 KB",
                             where=_where(entry), fix="use the size from the datasheet")
        tm = tmem.table(mname)
        kind = tm.get("kind", str)
        if kind not in KINDS:
            raise BoardError(f"[memory.{mname}] kind '{kind}' is unknown", where=str(path),
                             fix="use one of: " + ", ".join(KINDS))
        usable = tm.get("usable", list, required=False, default=[])
        bad = [u for u in usable if u not in USAGES]
        if bad:
            raise BoardError(f"[memory.{mname}] usable has unknown use(s) {bad}", where=str(path),
                             fix="use words from: " + ", ".join(USAGES))
        latency = tm.get("latency_cycles", int, required=False)
        memories.append(MemoryRegion(mname, kind, base, size, tm.get("note", str, required=False, default=""),
                                     tuple(usable), latency))
        tm.finish()
    tmem.used.update(tmem.data)
    memories.sort(key=lambda m: m.base)
    if len([m for m in memories if m.kind == "flash"]) != 1:
        raise BoardError("a board needs exactly one region of kind 'flash'", where=str(path),
                         fix="mark the on-chip flash kind = \"flash\"")

    # peripherals: everything else on sysbus with an address, plus tagged stub regions
    peripherals = []
    for e in platform.entries:
        if e.is_type("Memory.MappedMemory") or e.name == "sysbus":
            continue
        reg = e.sysbus_registration
        if reg is not None and reg.base is not None:
            peripherals.append(Peripheral(e.name, e.type or "", reg.base, reg.size))
    peripherals.extend(_tags(platform))
    peripherals.sort(key=lambda p: (p.base, p.name))

    # nothing overlaps
    spans = [(m.base, m.end, f"memory {m.name}") for m in memories]
    spans += [(p.base, p.end, f"{p.type} {p.name}") for p in peripherals if p.end is not None]
    spans.sort()
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            raise BoardError(
                f"{an} (0x{a0:08X}-0x{a1 - 1:08X}) overlaps {bn} (0x{b0:08X}-0x{b1 - 1:08X})",
                where=repl_where, fix="check both against the datasheet's memory map",
            )

    # console UART
    uart_entry = platform.get(console_name)
    if uart_entry is None:
        uarts = [e.name for e in platform.entries if e.type and e.type.startswith("UART.")]
        raise BoardError(f"[console] uart = '{console_name}' is not in the platform", where=str(path),
                         fix="name one of: " + ", ".join(uarts))
    if not (uart_entry.type or "").startswith("UART."):
        raise BoardError(f"[console] uart = '{console_name}' is a {uart_entry.type}, not a UART", where=str(path),
                         fix="name a UART.* peripheral of the .repl")
    ureg = uart_entry.sysbus_registration
    if ureg is None or ureg.base is None:
        raise BoardError(f"console UART '{console_name}' has no sysbus address", where=_where(uart_entry),
                         fix="register it: @ sysbus <0x40004800, +0x100>")
    console = UART(console_name, ureg.base)

    _load_resc(resc_path, repl_path, root, console_name)

    # cycle model
    tcm = top.table("cycle_model")
    params = []
    for key in tcm.data:
        item = tcm.table(key)
        value = item.get("value", (int, bool, str, float))
        source = item.get("source", str)
        if not source.strip():
            raise BoardError(f"[cycle_model] {key} has an empty source", where=str(path),
                             fix="say where the figure comes from")
        item.finish()
        params.append(CycleParameter(key, value, source))
    if not params:
        raise BoardError("[cycle_model] is empty", where=str(path), fix="add the core's timing parameters")
    top.finish()

    sdram = [m for m in memories if m.kind == "sdram"]
    return Board(
        name=name,
        title=title,
        mcu=mcu,
        core=core,
        clock_hz=clock_hz,
        flash_wait_states=wait_states,
        flash_accelerator=accelerator,
        console_uart=console,
        memories=tuple(memories),
        peripherals=tuple(peripherals),
        sdram_latency_cycles=sdram[0].latency_cycles if sdram else None,
        cycle_model=CycleModel(core.name, tuple(params)),
        repl_path=repl_path,
        resc_path=resc_path,
        toml_path=path,
    )


@functools.lru_cache(maxsize=8)
def _load_all(root: Path) -> tuple[Board, ...]:
    folder = root / "boards"
    if not folder.is_dir():
        raise BoardError(f"no board descriptions: {folder} is not a folder", where=str(root),
                         fix="run from a trecsim checkout, or set TRECSIM_PLATFORMS to a platforms/ folder")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise BoardError("no board descriptions (*.toml)", where=str(folder),
                         fix="add <board>.toml beside its .repl and .resc")
    return tuple(sorted((load_board_file(f, platforms_root=root) for f in files), key=lambda b: b.name))


def load_boards() -> tuple[Board, ...]:
    """Every board in ``platforms_dir()/boards``, checked, sorted by name (cached per folder)."""
    return _load_all(platforms_dir())


def clear_cache() -> None:
    """Forget loaded boards (after editing files under the same platforms folder)."""
    _load_all.cache_clear()


def board_names() -> tuple[str, ...]:
    return tuple(b.name for b in load_boards())


def get_board(name: str) -> Board:
    """The board called ``name`` (case-insensitive); unknown names list the valid ones."""
    boards = load_boards()
    wanted = name.strip().lower()
    for b in boards:
        if b.name.lower() == wanted:
            return b
    raise BoardError(
        f"unknown board '{name}'",
        fix=f"use one of: {', '.join(b.name for b in boards)} (see `trecsim boards`)",
    )
