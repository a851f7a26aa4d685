"""A parser for Renode platform descriptions (``.repl``), the subset real STM32 files use.

The grammar, as Renode's own platform files write it::

    // line comment            /* block comment, may span lines */
    using "../cpus/stm32f469.repl"                 // include, relative to this file
    using "platforms/cpus/stm32f4.repl" prefixed "f4_"

    flash: Memory.MappedMemory @ sysbus 0x08000000  // creating entry: name, type, registration
        size: 0x200000                              // indented attributes: properties ...
    usart3: UART.STM32_UART @ sysbus <0x40004800, +0x100>
        -> nvic@39                                  // ... and connections (IRQ, [0-4] -> x@[6-10])
    cpu: CPU.CortexM @ sysbus { cpuType: "cortex-m4f"; nvic: nvic }   // inline block
    mem: Memory.MappedMemory @ sysbus new Bus.BusPointRegistration { address: 0x0; cpu: cpu }
    nvic:                                           // updating entry (no type): extends nvic
        systickFrequency: 180000000
    sysbus:
        init:                                       // monitor commands, kept as raw text
            Tag <0x40023C00, 0x40023FFF> "FLASH"
    sysbus:
        init add:                                   // appends to the previous init block
            Tag <0xA0000000, 0xA0000FFF> "FMC"

Values: numbers (hex, decimal, ``_`` separators), quoted strings, ``true``/``false``,
``empty``, references to other entries (or enum values such as ``GICVersion.GICv2``),
ranges ``<start, +size>`` and ``<start, end>`` (end inclusive, as in Renode's monitor),
lists ``[a, b]`` and objects ``new Type { key: value; ... }``.

Semantics follow Renode: an entry with a type declares a peripheral (declaring one name
twice in the same file is an error; a file that includes another may redeclare its
entries, which replaces them); an entry without a type updates an earlier one: its
properties override, its connections replace those with the same source and add the
others, a registration replaces the old one, ``init:`` replaces the init block and
``init add:`` appends to it. ``sysbus`` exists without being declared.

Include paths (see platforms/README.md): ``$ORIGIN/x`` and plain relative paths resolve
against the directory of the including file; a path that does not exist there but
starts with ``platforms/`` (Renode's style, relative to Renode's root) resolves against
the platforms folder in use. ``prefixed "p_"`` prefixes every name the included file
(and what it includes) declares, and every use of those names inside it.

Anything else raises :class:`~trecsim.errors.PlatformSyntaxError` naming file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Union

from trecsim.errors import PlatformSyntaxError

__all__ = [
    "Connection",
    "Entry",
    "InitCommand",
    "Location",
    "NewObject",
    "Platform",
    "Range",
    "Reference",
    "Registration",
    "Target",
    "parse_repl",
    "parse_repl_text",
    "resolve_platform_path",
]

# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Location:
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Range:
    """``<start, +size>`` or ``<start, last>`` (last inclusive). ``end`` is exclusive."""

    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Reference:
    """A bare identifier used as a value: another entry's name or an enum value."""

    name: str


@dataclass(frozen=True)
class NewObject:
    """``new Type { key: value; ... }``"""

    type: str
    properties: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.properties).get(key, default)


Value = Union[int, float, str, bool, None, Reference, Range, NewObject, tuple]


@dataclass(frozen=True)
class Registration:
    """``@ target [address] [as "alias"]``; address is an int, a Range, a NewObject
    (e.g. ``new Bus.BusPointRegistration {...}``) or None for a bare ``@ sysbus``."""

    target: str
    address: int | Range | NewObject | None = None
    alias: str | None = None

    @property
    def base(self) -> int | None:
        a = self.address
        if isinstance(a, int) and not isinstance(a, bool):
            return a
        if isinstance(a, Range):
            return a.start
        if isinstance(a, NewObject):
            v = a.get("address")
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            if isinstance(v, Range):
                return v.start
        return None

    @property
    def size(self) -> int | None:
        a = self.address
        if isinstance(a, Range):
            return a.size
        if isinstance(a, NewObject):
            v = a.get("address")
            if isinstance(v, Range):
                return v.size
            s = a.get("size")
            if isinstance(s, int) and not isinstance(s, bool):
                return s
        return None


@dataclass(frozen=True)
class Target:
    """One destination of a connection: ``name[#local]@pins``."""

    name: str
    pins: tuple[int, ...]
    local: int | None = None


@dataclass(frozen=True)
class Connection:
    """``[source] -> target@pins | other@pins``; source () is the default IRQ (``-> x@n``)."""

    source: tuple[int | str, ...]
    targets: tuple[Target, ...]
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class InitCommand:
    """One monitor command of an ``init:`` block, kept as text."""

    text: str
    location: Location | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Entry:
    """A peripheral after every update: what Renode would create."""

    name: str
    type: str | None
    registrations: tuple[Registration, ...]  # () = not registered (`@ none` or never)
    properties: Mapping[str, Value]
    connections: tuple[Connection, ...]
    init: tuple[InitCommand, ...]
    location: Location | None = field(default=None, compare=False)
    local: bool = False

    def __hash__(self) -> int:  # properties is a read-only mapping
        return hash((self.name, self.type, self.registrations))

    @property
    def sysbus_registration(self) -> Registration | None:
        for r in self.registrations:
            if r.target == "sysbus":
                return r
        return None

    def is_type(self, suffix: str) -> bool:
        """True when the type is ``suffix`` or ends with ``.suffix`` (namespaces optional)."""
        return self.type is not None and (self.type == suffix or self.type.endswith("." + suffix))


@dataclass(frozen=True)
class Platform:
    """The entries of a .repl file with its includes applied, in declaration order."""

    path: Path
    entries: tuple[Entry, ...]
    files: tuple[Path, ...]  # the file and everything it includes, in reading order

    def __contains__(self, name: str) -> bool:
        return any(e.name == name for e in self.entries)

    def __getitem__(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def get(self, name: str) -> Entry | None:
        for e in self.entries:
            if e.name == name:
                return e
        return None

    def of_type(self, suffix: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.is_type(suffix))


# --------------------------------------------------------------------------- statements


@dataclass
class _Statement:
    """One entry as written (before merging)."""

    name: str
    type: str | None
    registrations: tuple[Registration, ...] | None  # None: not given
    properties: dict[str, Value]
    connections: list[Connection]
    init: list[InitCommand] | None  # None: no init block
    init_add: bool
    location: Location
    local: bool


# --------------------------------------------------------------------------- lexing

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<nl>\n)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>0[xX][0-9A-Fa-f_]+|0[bB][01_]+|\d[\d_]*\.\d+|\d[\d_]*)
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>->|[:@<>,+{};\[\]\-|#])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # string, number, ident, punct, nl, eof
    text: str
    line: int
    value: Any = None


def _lex(text: str, first_line: int, path: Path) -> list[_Tok]:
    toks: list[_Tok] = []
    pos, line = 0, first_line
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise PlatformSyntaxError(
                f"unexpected character {text[pos]!r}",
                path=str(path),
                line=line,
                fix="see the grammar in platforms/README.md",
            )
        kind = m.lastgroup
        s = m.group()
        if kind == "nl":
            toks.append(_Tok("nl", s, line))
            line += 1
        elif kind == "string":
            toks.append(_Tok("string", s, line, _unquote(s)))
        elif kind == "number":
            digits = s.replace("_", "")
            value = float(digits) if "." in digits else int(digits, 0)
            toks.append(_Tok("number", s, line, value))
        elif kind != "ws":
            toks.append(_Tok(kind, s, line))
        pos = m.end()
    toks.append(_Tok("eof", "", line))
    return toks


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _strip_comments(text: str, path: Path) -> str:
    """Blanks out // and /* */ comments outside strings, keeping line numbers.

    ``//`` right after ``:`` is not a comment, so URLs in init commands survive
    (``ApplySVD @https://...``)."""
    out: list[str] = []
    i, n, line = 0, len(text), 1
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n and text[i + 1] != "\n":
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"' or c == "\n":
                in_string = False
                if c == "\n":
                    line += 1
            i += 1
            continue
        if c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise PlatformSyntaxError(
                    "block comment is never closed", path=str(path), line=line, fix="add the closing */"
                )
            chunk = text[i : end + 2]
            out.append("".join("\n" if ch == "\n" else " " for ch in chunk))
            line += chunk.count("\n")
            i = end + 2
        elif text.startswith("//", i) and (i == 0 or text[i - 1] != ":"):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        else:
            if c == "\n":
                line += 1
            out.append(c)
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------- token parser


class _Parser:
    def __init__(self, toks: list[_Tok], path: Path):
        self.toks = toks
        self.i = 0
        self.path = path

    # helpers
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> _Tok:
        t = self.peek()
        self.i += 1
        return t

    def at(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind in ("punct", "ident") and t.text == text

    def skip_nl(self) -> None:
        while self.peek().kind == "nl":
            self.i += 1

    def error(self, what: str, tok: _Tok | None = None, fix: str | None = None) -> PlatformSyntaxError:
        tok = tok or self.peek()
        return PlatformSyntaxError(
            what, path=str(self.path), line=tok.line, fix=fix or "see the grammar in platforms/README.md"
        )

    def describe(self, t: _Tok) -> str:
        return "end of line" if t.kind in ("nl", "eof") else repr(t.text)

    def expect(self, text: str, what: str | None = None) -> _Tok:
        t = self.peek()
        if not self.at(text):
            raise self.error(f"expected '{text}'{' ' + what if what else ''}, found {self.describe(t)}")
        return self.next()

    def ident(self, what: str) -> str:
        t = self.peek()
        if t.kind != "ident":
            raise self.error(f"expected {what}, found {self.describe(t)}")
        self.i += 1
        return t.text

    def number(self, what: str) -> int:
        neg = False
        if self.at("-"):
            self.next()
            neg = True
        t = self.peek()
        if t.kind != "number" or not isinstance(t.value, int):
            raise self.error(f"expected {what} (an integer), found {self.describe(t)}")
        self.i += 1
        return -t.value if neg else t.value

    def end_of_statement(self) -> None:
        self.skip_nl()
        if self.peek().kind != "eof":
            raise self.error(f"unexpected {self.describe(self.peek())}")

    # values
    def value(self) -> Value:
        t = self.peek()
        if t.kind == "string":
            self.i += 1
            return t.value
        if t.kind == "number" or self.at("-"):
            if self.at("-"):
                self.next()
                n = self.peek()
                if n.kind != "number":
                    raise self.error(f"expected a number after '-', found {self.describe(n)}")
                self.i += 1
                return -n.value
            self.i += 1
            return t.value
        if t.kind == "ident":
            self.i += 1
            if t.text == "true":
                return True
            if t.text == "false":
                return False
            if t.text == "empty":
                return None
            if t.text == "new":
                return self.new_object()
            return Reference(t.text)
        if self.at("<"):
            return self.range()
        if self.at("["):
            self.next()
            items: list[Value] = []
            self.skip_nl()
            while not self.at("]"):
                items.append(self.value())
                self.skip_nl()
                if self.at(","):
                    self.next()
                    self.skip_nl()
                elif not self.at("]"):
                    raise self.error(f"expected ',' or ']' in a list, found {self.describe(self.peek())}")
            self.next()
            return tuple(items)
        raise self.error(f"expected a value, found {self.describe(t)}")

    def range(self) -> Range:
        self.expect("<")
        start = self.number("the start of a range")
        self.expect(",", "in a range <start, +size>")
        if self.at("+"):
            self.next()
            size = self.number("the size of a range")
        else:
            last = self.number("the end of a range")
            size = last - start + 1
        if size <= 0:
            raise self.error("a range must not be empty", fix="write <start, +size> with size > 0")
        self.expect(">", "closing the range")
        return Range(start, size)

    def new_object(self) -> NewObject:
        type_name = self.ident("a type name after 'new'")
        props: list[tuple[str, Value]] = []
        if self.at("{"):
            self.next()
            for kind, item in self.attributes_until("}"):
                if kind != "property":
                    raise self.error("only properties may appear inside 'new Type { ... }'")
                props.append(item)
        return NewObject(type_name, tuple(props))

    # registrations
    def registrations(self) -> tuple[Registration, ...]:
        self.expect("@")
        if self.at("none"):
            self.next()
            return ()
        if self.at("{"):
            self.next()
            regs = []
            self.skip_nl()
            while not self.at("}"):
                regs.append(self.registration())
                self.skip_nl()
                if self.at(";"):
                    self.next()
                    self.skip_nl()
                elif not self.at("}"):
                    raise self.error(f"expected ';' or '}}' between registrations, found {self.describe(self.peek())}")
            self.next()
            return tuple(regs)
        return (self.registration(),)

    def registration(self) -> Registration:
        target = self.ident("a registration point (e.g. sysbus)")
        address: int | Range | NewObject | None = None
        t = self.peek()
        if t.kind == "number":
            address = self.number("an address")
        elif self.at("<"):
            address = self.range()
        elif self.at("new"):
            self.next()
            address = self.new_object()
        alias = None
        if self.at("as"):
            self.next()
            t = self.next()
            if t.kind != "string":
                raise self.error(f"expected a quoted alias after 'as', found {self.describe(t)}", t)
            alias = t.value
        return Registration(target, address, alias)

    # attributes
    def attributes_until(self, closer: str) -> Iterator[tuple[str, Any]]:
        """Attributes separated by ';' or new lines, up to ``closer`` (consumed)."""
        self.skip_nl()
        while True:
            if closer == "eof" and self.peek().kind == "eof":
                return
            if self.at(closer):
                self.next()
                return
            if self.peek().kind == "eof":
                raise self.error(f"missing '{closer}'", fix=f"close the block with '{closer}'")
            yield self.attribute()
            if self.at(";"):
                self.next()
            elif self.peek().kind == "nl":
                pass
            elif not (self.at(closer) or (closer == "eof" and self.peek().kind == "eof")):
                raise self.error(f"unexpected {self.describe(self.peek())} after an attribute")
            self.skip_nl()

    def attribute(self) -> tuple[str, Any]:
        t = self.peek()
        if t.kind == "ident" and self.at(":", 1):
            if t.text == "init":
                raise self.error(
                    "init blocks are not supported inside { }",
                    fix="write 'init:' on its own indented line with the commands indented below it",
                )
            self.i += 2
            return "property", (t.text, self.value())
        return "connection", self.connection()

    def pins(self, what: str) -> tuple[int | str, ...]:
        """``5``, ``IRQ`` or ``[0-4, 7]``."""
        if self.at("["):
            self.next()
            out: list[int | str] = []
            while True:
                lo = self.number(what)
                if self.at("-"):
                    self.next()
                    hi = self.number(what)
                    if hi < lo:
                        raise self.error(f"pin range {lo}-{hi} runs backwards")
                    out.extend(range(lo, hi + 1))
                else:
                    out.append(lo)
                if self.at(","):
                    self.next()
                    continue
                self.expect("]", f"closing the list of {what}s")
                return tuple(out)
        t = self.peek()
        if t.kind == "number":
            return (self.number(what),)
        if t.kind == "ident":
            self.i += 1
            return (t.text,)
        raise self.error(f"expected {what}, found {self.describe(t)}")

    def connection(self) -> Connection:
        first = self.peek()
        source: tuple[int | str, ...] = ()
        if not self.at("->"):
            source = self.pins("an interrupt source")
            if not self.at("->"):
                raise self.error(
                    f"expected 'key: value' or a connection 'source -> target@pin', "
                    f"found {self.describe(first)}",
                    first,
                )
        self.expect("->")
        targets = [self.target()]
        while self.at("|"):
            self.next()
            targets.append(self.target())
        if source and len(source) > 1:
            for tg in targets:
                if len(tg.pins) != len(source):
                    raise self.error(
                        f"{len(source)} sources connect to {len(tg.pins)} pins of {tg.name}",
                        first,
                        fix="give as many target pins as source lines",
                    )
        return Connection(source, tuple(targets), Location(self.path, first.line))

    def target(self) -> Target:
        name = self.ident("a connection target (an entry name)")
        local = None
        if self.at("#"):
            self.next()
            local = self.number("a local receiver index")
        self.expect("@", "between target and pin")
        pins = self.pins("a pin number")
        if any(not isinstance(p, int) for p in pins):
            raise self.error("target pins must be numbers")
        return Target(name, tuple(int(p) for p in pins), local)

    # header
    def header(self) -> tuple[str, str | None, tuple[Registration, ...] | None, list[tuple[str, Any]], bool]:
        local = False
        if self.at("local") and self.peek(1).kind == "ident":
            self.next()
            local = True
        t = self.peek()
        if t.kind != "ident" or "." in t.text:
            raise self.error(f"expected an entry 'name: Type @ sysbus address', found {self.describe(t)}")
        name = self.next().text
        self.expect(":", f"after the entry name '{name}'")
        type_name = None
        if self.peek().kind == "ident":
            type_name = self.next().text
        regs = None
        if self.at("@"):
            regs = self.registrations()
        attrs: list[tuple[str, Any]] = []
        if self.at("{"):
            self.next()
            attrs = list(self.attributes_until("}"))
        self.end_of_statement()
        return name, type_name, regs, attrs, local


# --------------------------------------------------------------------------- files


_INIT = re.compile(r"^init(\s+add)?\s*:\s*(.*)$")
_USING = re.compile(r"^using\b")


def _braces_open(text: str) -> int:
    """Net count of '{' over '}' outside strings."""
    depth, in_str, esc = 0, False, False
    for c in text:
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
    return depth


def _indent(line: str) -> int:
    n = 0
    for c in line:
        if c == " ":
            n += 1
        elif c == "\t":
            n += 4
        else:
            break
    return n


def resolve_platform_path(text: str, base_dir: Path, platforms_root: Path | None) -> Path | None:
    """Where a ``using``/``@`` path points: ``$ORIGIN/...`` or relative to ``base_dir``
    (the including file's folder), else Renode-style ``platforms/...`` against
    ``platforms_root``. Returns the first candidate that exists, or None."""
    if text.startswith("$ORIGIN/"):
        candidates = [base_dir / text[len("$ORIGIN/") :]]
    else:
        p = Path(text)
        candidates = [p] if p.is_absolute() else [base_dir / p]
        parts = p.parts
        if platforms_root is not None and not p.is_absolute() and parts and parts[0] == "platforms":
            candidates.append(platforms_root.joinpath(*parts[1:]))
    for c in candidates:
        if c.is_file():
            return c.resolve()
    return None


class _FileReader:
    def __init__(self, platforms_root: Path | None):
        self.platforms_root = platforms_root
        self.files: list[Path] = []

    def read(self, path: Path, text: str | None, stack: tuple[Path, ...]) -> list[_Statement]:
        if text is None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise PlatformSyntaxError(f"cannot read the file: {exc.strerror}", path=str(path), line=1) from None
        self.files.append(path)
        lines = _strip_comments(text, path).split("\n")
        statements: list[_Statement] = []
        i, n = 0, len(lines)
        while i < n:
            raw = lines[i]
            if not raw.strip():
                i += 1
                continue
            lineno = i + 1
            if _indent(raw) > 0:
                raise PlatformSyntaxError(
                    "indented line outside an entry",
                    path=str(path),
                    line=lineno,
                    fix="attributes go right below an entry header; top-level lines start in column 1",
                )
            # collect the header, plus lines until braces balance
            chunk = [raw]
            depth = _braces_open(raw)
            i += 1
            while depth > 0 and i < n:
                chunk.append(lines[i])
                depth += _braces_open(lines[i])
                i += 1
            if depth > 0:
                raise PlatformSyntaxError("'{' is never closed", path=str(path), line=lineno, fix="add the closing '}'")
            head = "\n".join(chunk)
            if _USING.match(raw.strip()):
                statements.extend(self.using(head, path, lineno, stack))
                continue
            p = _Parser(_lex(head, lineno, path), path)
            name, type_name, regs, attrs, local = p.header()
            st = _Statement(name, type_name, regs, {}, [], None, False, Location(path, lineno), local)
            self.apply_attrs(st, attrs)
            # the indented body
            body: list[tuple[int, str]] = []
            while i < n and (not lines[i].strip() or _indent(lines[i]) > 0):
                if lines[i].strip():
                    body.append((i + 1, lines[i]))
                i += 1
            self.body(st, body, path)
            if st.type is None and st.registrations is None and not st.properties and not st.connections \
                    and st.init is None:
                raise PlatformSyntaxError(
                    f"entry '{name}' has no type, registration or attributes",
                    path=str(path),
                    line=lineno,
                    fix=f"give it a type ('{name}: Memory.MappedMemory @ sysbus 0x...') or indented attributes",
                )
            statements.append(st)
        return statements

    def apply_attrs(self, st: _Statement, attrs: list[tuple[str, Any]]) -> None:
        for kind, item in attrs:
            if kind == "property":
                st.properties[item[0]] = item[1]
            else:
                st.connections.append(item)

    def body(self, st: _Statement, body: list[tuple[int, str]], path: Path) -> None:
        if not body:
            return
        level = _indent(body[0][1])
        k = 0
        while k < len(body):
            lineno, line = body[k]
            ind = _indent(line)
            if ind != level:
                raise PlatformSyntaxError(
                    "unexpected indentation" if ind > level else "inconsistent indentation",
                    path=str(path),
                    line=lineno,
                    fix=f"indent the attributes of '{st.name}' by the same amount ({level} spaces); "
                    "only the commands of an init block go deeper",
                )
            stripped = line.strip()
            m = _INIT.match(stripped)
            if m:
                add, rest = bool(m.group(1)), m.group(2).strip()
                cmds: list[InitCommand] = []
                k += 1
                if rest:
                    if not (rest.startswith("{") and rest.endswith("}")):
                        raise PlatformSyntaxError(
                            "init commands go on the lines below 'init:', indented deeper",
                            path=str(path),
                            line=lineno,
                            fix="or write them inline as 'init: { cmd1; cmd2 }'",
                        )
                    cmds.extend(
                        InitCommand(c.strip(), Location(path, lineno)) for c in _split_commands(rest[1:-1])
                    )
                while k < len(body) and _indent(body[k][1]) > level:
                    cmds.append(InitCommand(body[k][1].strip(), Location(path, body[k][0])))
                    k += 1
                if st.init is not None and not add:
                    raise PlatformSyntaxError(
                        f"'{st.name}' has a second init block", path=str(path), line=lineno,
                        fix="merge them, or use 'init add:' in a later update",
                    )
                if st.init is None:
                    st.init, st.init_add = cmds, add
                else:
                    st.init.extend(cmds)
                continue
            # an attribute, possibly continued on lines until its braces balance
            chunk = [stripped]
            depth = _braces_open(stripped)
            k += 1
            while depth > 0 and k < len(body):
                chunk.append(body[k][1].strip())
                depth += _braces_open(body[k][1])
                k += 1
            if depth > 0:
                raise PlatformSyntaxError("'{' is never closed", path=str(path), line=lineno, fix="add the closing '}'")
            p = _Parser(_lex("\n".join(chunk), lineno, path), path)
            kind, item = p.attribute()
            p.end_of_statement()
            self.apply_attrs(st, [(kind, item)])

    def using(self, head: str, path: Path, lineno: int, stack: tuple[Path, ...]) -> list[_Statement]:
        p = _Parser(_lex(head, lineno, path), path)
        p.expect("using")
        t = p.next()
        if t.kind != "string":
            raise p.error(f"expected a quoted path after 'using', found {p.describe(t)}", t,
                          fix='write using "../cpus/stm32f469.repl"')
        prefix = None
        if p.at("prefixed"):
            p.next()
            pt = p.next()
            if pt.kind != "string":
                raise p.error(f"expected a quoted prefix after 'prefixed', found {p.describe(pt)}", pt)
            prefix = pt.value
        p.end_of_statement()
        target = resolve_platform_path(t.value, path.parent, self.platforms_root)
        if target is None:
            raise PlatformSyntaxError(
                f"included file '{t.value}' not found",
                path=str(path),
                line=lineno,
                fix=f"paths resolve against {path.parent}"
                + (f" (or, for platforms/..., against {self.platforms_root})" if self.platforms_root else ""),
            )
        if target in stack:
            chain = " -> ".join(s.name for s in (*stack, target))
            raise PlatformSyntaxError(
                f"include cycle: {chain}", path=str(path), line=lineno, fix="remove one of the 'using' lines"
            )
        stmts = self.read(target, None, (*stack, target))
        if prefix:
            stmts = _apply_prefix(stmts, prefix)
        return stmts


def _split_commands(text: str) -> list[str]:
    out, cur, in_str = [], [], False
    for c in text:
        if c == '"':
            in_str = not in_str
        if c == ";" and not in_str:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return [c for c in (s.strip() for s in out) if c]


def _apply_prefix(stmts: list[_Statement], prefix: str) -> list[_Statement]:
    declared = {s.name for s in stmts if s.type is not None}

    def ren(name: str) -> str:
        return prefix + name if name in declared else name

    def val(v: Value) -> Value:
        if isinstance(v, Reference):
            return Reference(ren(v.name))
        if isinstance(v, tuple):
            return tuple(val(x) for x in v)
        if isinstance(v, NewObject):
            return NewObject(v.type, tuple((k, val(x)) for k, x in v.properties))
        return v

    def reg(r: Registration) -> Registration:
        addr = val(r.address) if isinstance(r.address, NewObject) else r.address
        return Registration(ren(r.target), addr, r.alias)

    out = []
    for s in stmts:
        out.append(
            _Statement(
                ren(s.name),
                s.type,
                None if s.registrations is None else tuple(reg(r) for r in s.registrations),
                {k: val(v) for k, v in s.properties.items()},
                [
                    Connection(c.source, tuple(Target(ren(t.name), t.pins, t.local) for t in c.targets), c.location)
                    for c in s.connections
                ],
                s.init,
                s.init_add,
                s.location,
                s.local,
            )
        )
    return out


# --------------------------------------------------------------------------- merging


def _merge(statements: list[_Statement], path: Path, files: tuple[Path, ...]) -> Platform:
    entries: dict[str, dict[str, Any]] = {}
    for st in statements:
        cur = entries.get(st.name)
        if st.type is not None:
            if cur is not None and cur["location"].path == st.location.path and cur["location"] != st.location:
                raise PlatformSyntaxError(
                    f"'{st.name}' is already declared at line {cur['location'].line} of this file",
                    path=str(st.location.path),
                    line=st.location.line,
                    fix=f"rename one of them, or drop the type to update '{st.name}'",
                )
            entries[st.name] = {
                "name": st.name,
                "type": st.type,
                "registrations": st.registrations or (),
                "properties": dict(st.properties),
                "connections": list(st.connections),
                "init": list(st.init or []),
                "location": st.location,
                "local": st.local,
            }
            continue
        if cur is None:
            if st.name != "sysbus":
                raise PlatformSyntaxError(
                    f"'{st.name}' is updated but never declared",
                    path=str(st.location.path),
                    line=st.location.line,
                    fix=f"declare it first with a type ('{st.name}: Type @ sysbus 0x...'), or check the spelling",
                )
            cur = entries["sysbus"] = {
                "name": "sysbus", "type": "Bus.SystemBus", "registrations": (), "properties": {},
                "connections": [], "init": [], "location": st.location, "local": False,
            }
        if st.registrations is not None:
            cur["registrations"] = st.registrations
        cur["properties"].update(st.properties)
        for c in st.connections:
            same = [i for i, old in enumerate(cur["connections"]) if old.source == c.source]
            if same:
                cur["connections"][same[0]] = c
            else:
                cur["connections"].append(c)
        if st.init is not None:
            cur["init"] = (cur["init"] + st.init) if st.init_add else list(st.init)
    result = tuple(
        Entry(
            e["name"],
            e["type"],
            tuple(e["registrations"]),
            MappingProxyType(dict(e["properties"])),
            tuple(e["connections"]),
            tuple(e["init"]),
            e["location"],
            e["local"],
        )
        for e in entries.values()
    )
    return Platform(path, result, files)


def parse_repl(path: str | Path, *, platforms_root: str | Path | None = None) -> Platform:
    """Parses a .repl file and everything it includes."""
    path = Path(path).resolve()
    reader = _FileReader(Path(platforms_root).resolve() if platforms_root else None)
    stmts = reader.read(path, None, (path,))
    return _merge(stmts, path, tuple(reader.files))


def parse_repl_text(
    text: str, path: str | Path = "<text>", *, platforms_root: str | Path | None = None
) -> Platform:
    """Parses .repl source given as a string; ``path`` names it in errors and anchors
    relative ``using`` paths."""
    path = Path(path)
    path = path.resolve() if path.name != "<text>" else Path.cwd() / path
    reader = _FileReader(Path(platforms_root).resolve() if platforms_root else None)
    stmts = reader.read(path, text, (path,))
    return _merge(stmts, path, tuple(reader.files))
