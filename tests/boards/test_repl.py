"""The .repl parser on small inline platform files."""

from __future__ import annotations

from pathlib import Path

import pytest

from trecsim.boards.repl import (
    NewObject,
    Range,
    Reference,
    Registration,
    Target,
    parse_repl,
    parse_repl_text,
)
from trecsim.errors import BoardError, PlatformSyntaxError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_entries_registrations_and_properties(tmp_path):
    p = parse_repl_text(
        """
flash: Memory.MappedMemory @ sysbus 0x08000000
    size: 0x200000

usart3: UART.STM32_UART @ sysbus <0x40004800, +0x100>
    -> nvic@39

nvic: IRQControllers.NVIC @ sysbus 0xE000E000
    priorityMask: 0xF0
    systickFrequency: 180_000_000
    IRQ -> cpu@0

cpu: CPU.CortexM @ sysbus
    cpuType: "cortex-m4f"
    nvic: nvic
    enabled: true
    ratio: 1.5
    nothing: empty
    offset: -4
    list: [1, "two", <0x0, 0xFF>]
""",
        tmp_path / "a.repl",
    )
    assert [e.name for e in p.entries] == ["flash", "usart3", "nvic", "cpu"]
    flash = p["flash"]
    assert flash.type == "Memory.MappedMemory" and flash.is_type("MappedMemory")
    assert flash.registrations == (Registration("sysbus", 0x08000000),)
    assert flash.properties["size"] == 0x200000
    usart = p["usart3"]
    assert usart.sysbus_registration.address == Range(0x40004800, 0x100)
    assert usart.sysbus_registration.base == 0x40004800 and usart.sysbus_registration.size == 0x100
    assert usart.connections[0].source == () and usart.connections[0].targets == (Target("nvic", (39,)),)
    assert p["nvic"].properties["systickFrequency"] == 180_000_000
    assert p["nvic"].connections[0].source == ("IRQ",)
    cpu = p["cpu"]
    assert cpu.registrations == (Registration("sysbus", None),)
    assert cpu.properties["cpuType"] == "cortex-m4f"
    assert cpu.properties["nvic"] == Reference("nvic")
    assert cpu.properties["enabled"] is True and cpu.properties["ratio"] == 1.5
    assert cpu.properties["nothing"] is None and cpu.properties["offset"] == -4
    assert cpu.properties["list"] == (1, "two", Range(0, 0x100))
    assert flash.location.line == 2 and flash.location.path == tmp_path / "a.repl"


def test_comments_are_ignored_but_urls_and_strings_survive(tmp_path):
    p = parse_repl_text(
        """// a line comment
/* a block comment
   over lines: bogus: { */
mem: Memory.MappedMemory @ sysbus 0x0 // trailing
    size: 0x1000 /* inline */
    label: "not // a comment"

sysbus:
    init:
        ApplySVD @https://example.org/x.svd
""",
        tmp_path / "c.repl",
    )
    assert p["mem"].properties == {"size": 0x1000, "label": "not // a comment"}
    assert p["mem"].location.line == 4
    assert [c.text for c in p["sysbus"].init] == ["ApplySVD @https://example.org/x.svd"]


def test_inline_blocks_and_bus_point_registrations(tmp_path):
    p = parse_repl_text(
        """
cpu: CPU.CortexM @ sysbus { cpuType: "cortex-m7"; nvic: nvic }
mem: Memory.MappedMemory @ sysbus new Bus.BusPointRegistration { address: 0x20000000; cpu: cpu }
    size: 0x400
multi: Memory.MappedMemory @ {
        sysbus 0x1000;
        sysbus 0x2000 as "alias"
    }
    size: 0x100
block: Timers.Dummy @ sysbus <0x40000000, 0x400003FF> {
    frequency: 1000;
    IRQ -> nvic@5 | other#1@[2]
}
hidden: Miscellaneous.CombinedInput @ none
    numberOfInputs: 2
""",
        tmp_path / "i.repl",
    )
    assert p["cpu"].properties == {"cpuType": "cortex-m7", "nvic": Reference("nvic")}
    reg = p["mem"].sysbus_registration
    assert isinstance(reg.address, NewObject) and reg.address.type == "Bus.BusPointRegistration"
    assert reg.base == 0x20000000 and reg.address.get("cpu") == Reference("cpu")
    assert p["multi"].registrations == (Registration("sysbus", 0x1000), Registration("sysbus", 0x2000, "alias"))
    block = p["block"]
    assert block.sysbus_registration.address == Range(0x40000000, 0x400)
    assert block.properties["frequency"] == 1000
    assert block.connections[0].targets == (Target("nvic", (5,)), Target("other", (2,), 1))
    assert p["hidden"].registrations == ()


def test_gpio_ranges_connect_pin_by_pin(tmp_path):
    p = parse_repl_text(
        """
exti: IRQControllers.STM32F4_EXTI @ sysbus <0x40013C00, +0x400>
    [0-4] -> nvic@[6-10]
    [16, 17, 22] -> nvic@[1, 41-42]
""",
        tmp_path / "g.repl",
    )
    c1, c2 = p["exti"].connections
    assert c1.source == (0, 1, 2, 3, 4) and c1.targets[0].pins == (6, 7, 8, 9, 10)
    assert c2.source == (16, 17, 22) and c2.targets[0].pins == (1, 41, 42)


def test_later_entries_update_earlier_ones(tmp_path):
    p = parse_repl_text(
        """
uart: UART.STM32_UART @ sysbus 0x40004800
    baud: 1
    -> nvic@39
    init:
        first

uart:
    baud: 2
    extra: "x"
    -> nvic@40
    IRQ2 -> nvic@41
    init add:
        second

uart: @ sysbus <0x40004C00, +0x100>

sysbus:
    init:
        Tag <0x0, 0xF> "A"
sysbus:
    init add:
        Tag <0x10, 0x1F> "B"
""",
        tmp_path / "u.repl",
    )
    u = p["uart"]
    assert u.type == "UART.STM32_UART"
    assert u.properties == {"baud": 2, "extra": "x"}
    assert [(c.source, c.targets[0].pins) for c in u.connections] == [((), (40,)), (("IRQ2",), (41,))]
    assert [c.text for c in u.init] == ["first", "second"]
    assert u.registrations == (Registration("sysbus", Range(0x40004C00, 0x100)),)
    assert [c.text for c in p["sysbus"].init] == ['Tag <0x0, 0xF> "A"', 'Tag <0x10, 0x1F> "B"']


def test_init_without_add_replaces(tmp_path):
    p = parse_repl_text(
        "x: T.Y @ sysbus 0x0\n    init:\n        a\n        b\nx:\n    init:\n        c\n", tmp_path / "r.repl"
    )
    assert [c.text for c in p["x"].init] == ["c"]


def test_using_is_relative_to_the_including_file(tmp_path):
    write(tmp_path / "cpus" / "chip.repl", "mem: Memory.MappedMemory @ sysbus 0x0\n    size: 0x400\n")
    board = write(
        tmp_path / "boards" / "b.repl",
        'using "../cpus/chip.repl"\n\nmem:\n    size: 0x800\nled: Miscellaneous.LED @ gpio 3\n',
    )
    p = parse_repl(board)
    assert p["mem"].properties["size"] == 0x800
    assert p["mem"].location.path == (tmp_path / "cpus" / "chip.repl").resolve()
    assert p["led"].registrations == (Registration("gpio", 3),)
    assert p.files == (board.resolve(), (tmp_path / "cpus" / "chip.repl").resolve())


def test_using_accepts_origin_and_renode_style_platforms_paths(tmp_path):
    root = tmp_path / "platforms"
    write(root / "cpus" / "chip.repl", "mem: Memory.MappedMemory @ sysbus 0x0\n    size: 0x400\n")
    write(root / "cpus" / "other.repl", "rom: Memory.MappedMemory @ sysbus 0x1000\n    size: 0x400\n")
    board = write(
        root / "boards" / "b.repl", 'using "platforms/cpus/chip.repl"\nusing "$ORIGIN/../cpus/other.repl"\n'
    )
    p = parse_repl(board, platforms_root=root)
    assert [e.name for e in p.entries] == ["mem", "rom"]
    with pytest.raises(PlatformSyntaxError, match="not found") as exc:
        parse_repl(board)  # without a platforms root, platforms/... cannot resolve
    assert exc.value.line == 1


def test_using_prefixed_renames_declarations_and_their_uses(tmp_path):
    write(
        tmp_path / "chip.repl",
        "nvic: IRQControllers.NVIC @ sysbus 0xE000E000\n    IRQ -> cpu@0\n"
        "cpu: CPU.CortexM @ sysbus\n    nvic: nvic\n"
        "sysbus:\n    init:\n        Tag <0x0, 0x3> \"T\"\n",
    )
    p = parse_repl_text('using "chip.repl" prefixed "a_"\n', tmp_path / "top.repl")
    assert [e.name for e in p.entries] == ["a_nvic", "a_cpu", "sysbus"]
    assert p["a_cpu"].properties["nvic"] == Reference("a_nvic")
    assert p["a_nvic"].connections[0].targets[0].name == "a_cpu"
    assert p["a_cpu"].registrations[0].target == "sysbus"


def test_an_include_cycle_is_reported_with_the_chain(tmp_path):
    write(tmp_path / "a.repl", 'using "b.repl"\n')
    write(tmp_path / "b.repl", '// b\nusing "a.repl"\n')
    with pytest.raises(PlatformSyntaxError, match=r"include cycle: a.repl -> b.repl -> a.repl") as exc:
        parse_repl(tmp_path / "a.repl")
    assert exc.value.path == str((tmp_path / "b.repl").resolve()) and exc.value.line == 2


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("mem: Memory.MappedMemory @ sysbus 0x0\n    size: ?\n", 2, "unexpected character '?'"),
        ("mem: Memory.MappedMemory @ sysbus 0x0\n    size 0x400\n", 2, "expected 'key: value' or a connection"),
        ("\n\nmem Memory.MappedMemory\n", 3, "expected ':' after the entry name"),
        ("  mem: Memory.MappedMemory @ sysbus 0x0\n", 1, "indented line outside an entry"),
        ("mem: Memory.MappedMemory @ sysbus 0x0\n    size: 1\n      other: 2\n", 3, "unexpected indentation"),
        ("mem: Memory.MappedMemory @ sysbus 0x0\n        size: 1\n    other: 2\n", 3, "inconsistent indentation"),
        ("a: T.X @ sysbus <0x10, +0x10\n", 1, "expected '>'"),
        ("a: T.X @ sysbus 0x0 {\n    size: 1\n", 1, "'{' is never closed"),
        ("/* never closed\n", 1, "block comment is never closed"),
        ("a: T.X @ sysbus 0x0\n\nb:\n    size: 1\n", 3, "'b' is updated but never declared"),
        ("a: T.X @ sysbus 0x0\nb: T.Y\na: T.Z @ sysbus 0x4\n", 3, "'a' is already declared at line 1"),
        ("a: T.X @ sysbus 0x0\n    [0-2] -> nvic@[1-2]\n", 2, "3 sources connect to 2 pins"),
        ("using chip.repl\n", 1, "expected a quoted path after 'using'"),
        ('using "missing.repl"\n', 1, "included file 'missing.repl' not found"),
        ("a:\n", 1, "'a' has no type, registration or attributes"),
        ("a: T.X @ sysbus 0x0 extra\n", 1, "unexpected 'extra'"),
        ("a: T.X @ sysbus 0x0\n    init: cmd\n", 2, "init commands go on the lines below"),
    ],
)
def test_syntax_errors_name_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "bad.repl"
    path.write_text(text)
    with pytest.raises(PlatformSyntaxError) as exc:
        parse_repl(path)
    err = exc.value
    assert isinstance(err, BoardError)
    assert fragment in err.what, err.what
    assert (err.path, err.line) == (str(path.resolve()), line)
    assert str(err).startswith(f"{path.resolve()}:{line}: ")


def test_errors_in_included_files_point_into_them(tmp_path):
    write(tmp_path / "cpus" / "chip.repl", "ok: T.X @ sysbus 0x0\n\nbad: T.X @ sysbus 0x\n")
    board = write(tmp_path / "b.repl", 'using "cpus/chip.repl"\n')
    with pytest.raises(PlatformSyntaxError) as exc:
        parse_repl(board)
    assert exc.value.path == str((tmp_path / "cpus" / "chip.repl").resolve()) and exc.value.line == 3


def test_the_real_cpu_files_parse(tmp_path):
    import trecsim

    for name in ("stm32f469.repl", "stm32f746.repl"):
        p = parse_repl(trecsim.REPO_ROOT / "platforms" / "cpus" / name)
        assert p["usart3"].sysbus_registration.base == 0x40004800
        assert len(p["exti"].connections) == 4
        assert any(c.text.startswith("Tag <0xA0000000") for c in p["sysbus"].init)
