"""What the emulators read from a firmware ELF: loadable segments, symbols, sections, Thumb code
ranges (from the ``$t``/``$d`` mapping symbols) and source lines (DWARF) for fault reports."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from trecsim.errors import EmulatorError

__all__ = ["ElfImage", "Section", "Symbol", "load_elf"]


@dataclass(frozen=True)
class Symbol:
    name: str
    address: int
    size: int
    kind: str  # STT_FUNC, STT_OBJECT, STT_NOTYPE, ...


@dataclass(frozen=True)
class Section:
    name: str
    address: int
    size: int
    load: bool  # has bytes in the image (PROGBITS), not NOLOAD
    alloc: bool
    executable: bool
    writable: bool


@dataclass
class ElfImage:
    path: Path
    entry: int
    segments: list[tuple[int, bytes]]  # (physical load address, bytes)
    symbols: dict[str, Symbol]
    sections: list[Section]
    code_ranges: list[tuple[int, bytes]]  # Thumb instructions only
    _funcs: list[tuple[int, int, str]] = field(default_factory=list, repr=False)
    _lines: list[tuple[int, str, int]] | None = field(default=None, repr=False)

    def symbol(self, name: str) -> Symbol:
        try:
            return self.symbols[name]
        except KeyError:
            raise EmulatorError(f"the firmware has no symbol '{name}'", where=str(self.path),
                                fix="build it with `trecsim build` (the host protocol symbols are in "
                                "firmware/runtime)") from None

    def function_at(self, address: int) -> str | None:
        a = address & ~1
        i = bisect.bisect_right(self._funcs, (a, float("inf"), "")) - 1
        if i >= 0:
            start, size, name = self._funcs[i]
            if start <= a < start + max(size, 2):
                return name
        return None

    def line_at(self, address: int) -> tuple[str, int] | None:
        if self._lines is None:
            self._lines = _dwarf_lines(self.path)
        a = address & ~1
        i = bisect.bisect_right(self._lines, (a, "\uffff", 1 << 30)) - 1
        if i >= 0 and self._lines[i][2] > 0:
            _, name, line = self._lines[i]
            return name, line
        return None

    def describe(self, address: int) -> str:
        """``function (file.c:123)``, or what of it is known."""
        fn = self.function_at(address)
        line = self.line_at(address)
        where = f"{Path(line[0]).name}:{line[1]}" if line else ""
        if fn and where:
            return f"{fn} ({where})"
        return fn or where


def _dwarf_lines(path: Path) -> list[tuple[int, str, int]]:
    from elftools.elf.elffile import ELFFile

    rows: list[tuple[int, str, int]] = []
    with open(path, "rb") as f:
        elf = ELFFile(f)
        if not elf.has_dwarf_info():
            return rows
        dwarf = elf.get_dwarf_info()
        for cu in dwarf.iter_CUs():
            lp = dwarf.line_program_for_CU(cu)
            if lp is None:
                continue
            files = lp["file_entry"]
            version = lp.header["version"]
            for entry in lp.get_entries():
                st = entry.state
                if st is None:
                    continue
                if st.end_sequence:
                    rows.append((st.address, "", 0))
                    continue
                idx = st.file if version >= 5 else st.file - 1
                name = files[idx].name if 0 <= idx < len(files) else b"?"
                rows.append((st.address, name.decode(errors="replace") if isinstance(name, bytes) else str(name),
                             st.line))
    rows.sort()
    return rows


def load_elf(path: str | Path) -> ElfImage:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    p = Path(path)
    try:
        f = open(p, "rb")
    except OSError as exc:
        raise EmulatorError(f"cannot read the firmware: {exc.strerror}", where=str(p),
                            fix="build it first (trecsim build)") from None
    with f:
        try:
            elf = ELFFile(f)
        except ELFError as exc:
            raise EmulatorError(f"not an ELF file: {exc}", where=str(p), fix="pass the firmware.elf of a build") from None
        if elf["e_machine"] != "EM_ARM":
            raise EmulatorError(f"the ELF is for {elf['e_machine']}, not Arm", where=str(p),
                                fix="build it with arm-none-eabi-gcc (trecsim build)")
        segments = [(seg["p_paddr"], seg.data()) for seg in elf.iter_segments()
                    if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]]
        sections = []
        for sec in elf.iter_sections():
            flags = sec["sh_flags"]
            if not flags & 0x2:  # SHF_ALLOC
                continue
            sections.append(Section(sec.name, sec["sh_addr"], sec["sh_size"], sec["sh_type"] == "SHT_PROGBITS",
                                    True, bool(flags & 0x4), bool(flags & 0x1)))
        symbols: dict[str, Symbol] = {}
        funcs = []
        marks: list[tuple[int, str]] = []
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None:
            raise EmulatorError("the ELF has no symbol table", where=str(p), fix="do not strip the firmware")
        for s in symtab.iter_symbols():
            name = s.name
            if not name:
                continue
            kind = s["st_info"]["type"]
            if name in ("$t", "$d", "$a") or name.startswith(("$t.", "$d.")):
                marks.append((s["st_value"], name[:2]))
                continue
            if name not in symbols or kind != "STT_NOTYPE":
                symbols[name] = Symbol(name, s["st_value"] & ~1 if kind == "STT_FUNC" else s["st_value"],
                                       s["st_size"], kind)
            if kind == "STT_FUNC":
                funcs.append((s["st_value"] & ~1, s["st_size"], name))
        funcs.sort()
        code_ranges = _code_ranges(elf, sorted(set(marks)), funcs)
        entry = elf["e_entry"]
    return ElfImage(p, entry, segments, symbols, sections, code_ranges, funcs)


def _code_ranges(elf, marks: list[tuple[int, str]], funcs) -> list[tuple[int, bytes]]:
    """The bytes of every ``$t`` range of the executable sections (up to the next mapping symbol)."""
    out = []
    for sec in elf.iter_sections():
        if not (sec["sh_flags"] & 0x4) or sec["sh_type"] != "SHT_PROGBITS" or not sec["sh_size"]:
            continue
        lo, hi = sec["sh_addr"], sec["sh_addr"] + sec["sh_size"]
        data = sec.data()
        inside = [(a, k) for a, k in marks if lo <= a < hi]
        if not inside:  # no mapping symbols: functions are code
            inside = sorted({(a, "$t") for a, _, _ in funcs if lo <= a < hi})
        for i, (a, k) in enumerate(inside):
            if k != "$t":
                continue
            end = inside[i + 1][0] if i + 1 < len(inside) else hi
            if end > a:
                out.append((a, data[a - lo:end - lo]))
    return out
