"""The board descriptions in platforms/ follow the datasheets, and broken ones are refused."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

import trecsim
from trecsim import boards
from trecsim.errors import BoardError, PlatformSyntaxError

KB, MB = 1024, 1024 * 1024
PLATFORMS = trecsim.REPO_ROOT / "platforms"


@pytest.fixture(autouse=True)
def _real_platforms(monkeypatch):
    monkeypatch.delenv("TRECSIM_PLATFORMS", raising=False)


F469_REGIONS = {
    "flash": ("flash", 0x08000000, 2 * MB),
    "ccm": ("ccm", 0x10000000, 64 * KB),
    "sram1": ("sram", 0x20000000, 160 * KB),
    "sram2": ("sram", 0x20028000, 32 * KB),
    "sram3": ("sram", 0x20030000, 128 * KB),
    "bkpsram": ("backup", 0x40024000, 4 * KB),
    "sdram": ("sdram", 0xC0000000, 16 * MB),
}
F746_REGIONS = {
    "itcm": ("itcm", 0x00000000, 16 * KB),
    "flash": ("flash", 0x08000000, 1 * MB),
    "dtcm": ("dtcm", 0x20000000, 64 * KB),
    "sram1": ("sram", 0x20010000, 240 * KB),
    "sram2": ("sram", 0x2004C000, 16 * KB),
    "bkpsram": ("backup", 0x40024000, 4 * KB),
}


def regions(board):
    return {m.name: (m.kind, m.base, m.size) for m in board.memories}


def test_stm32f469i_disco_has_exactly_the_datasheet_facts():
    b = boards.get_board("stm32f469i-disco")
    assert (b.name, b.mcu) == ("stm32f469i-disco", "STM32F469NIH6")
    assert b.core == boards.Core("cortex-m4f", "armv7e-m", "fpv4-sp-d16", True, 0, 0)
    assert b.clock_hz == 180_000_000
    assert b.flash_wait_states == 5
    assert "ART" in b.flash_accelerator and "64-line" in b.flash_accelerator
    assert b.console_uart == boards.UART("usart3", 0x40004800)
    assert regions(b) == F469_REGIONS
    assert [m.base for m in b.memories] == sorted(m.base for m in b.memories)
    # the "324 KB": 320 KB SRAM + 4 KB backup SRAM, plus 64 KB CCM
    assert sum(m.size for m in b.memories_of("sram")) == 320 * KB
    assert b.sram_bytes == (320 + 64 + 4) * KB
    assert b.flash.size == 2 * MB
    assert b.sdram_latency_cycles == b.memory("sdram").latency_cycles
    assert 6 <= b.sdram_latency_cycles <= 10
    assert "code" not in b.memory("ccm").usable and "stack" in b.memory("ccm").usable
    assert b.memories_of("itcm") == () and b.memories_of("dtcm") == ()
    assert b.repl_path.name == "stm32f469i-disco.repl" and b.resc_path.name == "stm32f469i-disco.resc"


def test_nucleo_f746zg_has_exactly_the_datasheet_facts():
    b = boards.get_board("nucleo-f746zg")
    assert b.core == boards.Core("cortex-m7", "armv7e-m", "fpv5-sp-d16", True, 4096, 4096)
    assert b.clock_hz == 216_000_000
    assert b.flash_wait_states == 7
    assert b.console_uart == boards.UART("usart3", 0x40004800)
    assert regions(b) == F746_REGIONS
    assert b.memories_of("sdram") == () and b.sdram_latency_cycles is None
    assert b.memories_of("ccm") == ()
    # 320 KB from 0x20000000 (DTCM + SRAM1 + SRAM2) + 16 KB ITCM + 4 KB backup
    assert b.sram_bytes == (320 + 16 + 4) * KB
    assert b.memory("dtcm").size + b.memory("sram1").size + b.memory("sram2").size == 320 * KB


def test_cycle_models_carry_a_source_for_every_parameter():
    m4 = boards.get_board("stm32f469i-disco").cycle_model
    assert m4.core == "cortex-m4f"
    expected = {"alu": 1, "mul": 1, "sdiv_min": 2, "sdiv_max": 12, "branch_taken": 2, "branch_not_taken": 1,
                "bx_reg": 3, "ldr_pc": 5, "load": 2, "load_pipelined": 1, "ldrd": 3, "store_imm": 1,
                "store_reg": 2, "ldm_stm_base": 1, "ldm_stm_per_reg": 1, "vmla": 3, "vdiv": 14, "tbb_tbh": 6}
    assert {k: m4[k] for k in expected} == expected
    m7 = boards.get_board("nucleo-f746zg").cycle_model
    assert m7["dual_issue"] is True and m7["load_word_latency"] == 1 and m7["load_byte_half_latency"] == 2
    assert m7["mul_latency"] == 2 and m7["branch_mispredict"] == 7
    for model in (m4, m7):
        for name in model:
            assert model.source(name).strip()
    with pytest.raises(BoardError, match="no parameter 'nope'"):
        m4["nope"]


def test_peripherals_include_modelled_and_stub_regions():
    b = boards.get_board("stm32f469i-disco")
    names = {p.name: p for p in b.peripherals}
    assert names["usart3"] == boards.Peripheral("usart3", "UART.STM32_UART", 0x40004800, 0x100)
    assert names["nvic"].base == 0xE000E000 and names["nvic"].size is None
    assert names["FMC_CONTROL"] == boards.Peripheral("FMC_CONTROL", "Tag", 0xA0000000, 0x1000)
    assert names["flashController"].base == 0x40023C00
    for uart, base in {"usart1": 0x40011000, "usart2": 0x40004400, "uart4": 0x40004C00, "uart5": 0x40005000,
                       "usart6": 0x40011400, "uart7": 0x40007800, "uart8": 0x40007C00}.items():
        assert names[uart].base == base
    assert [p.base for p in b.peripherals] == sorted(p.base for p in b.peripherals)
    assert b.peripheral("dwt").base == 0xE0001000
    f7 = boards.get_board("nucleo-f746zg")
    assert f7.peripheral("usart3").type == "UART.STM32F7_USART"


def test_region_at_finds_the_region_of_an_address():
    b = boards.get_board("stm32f469i-disco")
    assert b.region_at(0x20027FFF).name == "sram1"
    assert b.region_at(0x20028000).name == "sram2"
    assert b.region_at(0xC0FFFFFF).name == "sdram"
    assert b.region_at(0x20050000) is None
    assert b.region_at(0x1000FFFF).name == "ccm" and b.region_at(0x10010000) is None


def test_names_are_matched_without_regard_to_case():
    assert boards.get_board("STM32F469I-Disco").name == "stm32f469i-disco"
    assert boards.get_board(" NUCLEO-F746ZG ").name == "nucleo-f746zg"
    assert boards.board_names() == ("nucleo-f746zg", "stm32f469i-disco")
    assert [b.name for b in boards.load_boards()] == ["nucleo-f746zg", "stm32f469i-disco"]


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(BoardError) as exc:
        boards.get_board("stm32f407-disco")
    assert exc.value.what == "unknown board 'stm32f407-disco'"
    assert "nucleo-f746zg, stm32f469i-disco" in exc.value.fix and "trecsim boards" in exc.value.fix


def test_an_unknown_region_lists_the_valid_ones():
    b = boards.get_board("nucleo-f746zg")
    with pytest.raises(BoardError, match="no memory region 'ccm'") as exc:
        b.memory("ccm")
    assert "dtcm" in exc.value.fix
    with pytest.raises(BoardError, match="unknown memory kind"):
        b.memories_of("eeprom")


def test_the_dataclasses_are_frozen():
    b = boards.get_board("stm32f469i-disco")
    for obj, attr in ((b, "clock_hz"), (b.core, "name"), (b.memories[0], "size"), (b.console_uart, "base"),
                      (b.peripherals[0], "base"), (b.cycle_model, "core")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, attr, 0)
    assert isinstance(b.memories, tuple) and isinstance(b.peripherals, tuple)


def test_the_launch_scripts_load_their_platform_and_show_the_console():
    for b in boards.load_boards():
        text = b.resc_path.read_text()
        assert f"machine LoadPlatformDescription @platforms/boards/{b.repl_path.name}" in text
        assert f'mach create "{b.name}"' in text or f'$name?="{b.name}"' in text
        assert f"showAnalyzer sysbus.{b.console_uart.name}" in text
        assert "sysbus LoadELF $bin" in text and "runMacro $reset" in text


# --------------------------------------------------------------------------- broken copies


@pytest.fixture
def broken(tmp_path, monkeypatch):
    """A copy of platforms/ under tmp_path, selected with TRECSIM_PLATFORMS; edit it, then load."""
    root = tmp_path / "platforms"
    shutil.copytree(PLATFORMS, root)
    monkeypatch.setenv("TRECSIM_PLATFORMS", str(root))

    def edit(relpath: str, old: str, new: str) -> Path:
        path = root / relpath
        text = path.read_text()
        assert old in text, f"{old!r} not in {relpath}"
        path.write_text(text.replace(old, new, 1))
        return path

    return root, edit


def test_a_copy_of_platforms_loads_through_the_environment_variable(broken):
    root, _ = broken
    assert boards.platforms_dir() == root.resolve()
    assert boards.get_board("stm32f469i-disco").repl_path.is_relative_to(root.resolve())


def test_overlapping_regions_are_refused(broken):
    _, edit = broken
    edit("cpus/stm32f469.repl", "sram2: Memory.MappedMemory @ sysbus 0x20028000",
         "sram2: Memory.MappedMemory @ sysbus 0x20027000")
    with pytest.raises(BoardError, match=r"memory sram1 \(0x20000000-0x20027FFF\) overlaps memory sram2"):
        boards.load_boards()


def test_a_region_overlapping_a_peripheral_is_refused(broken):
    _, edit = broken
    edit("cpus/stm32f746.repl", "bkpsram: Memory.MappedMemory @ sysbus 0x40024000",
         "bkpsram: Memory.MappedMemory @ sysbus 0x40023C00")
    with pytest.raises(BoardError, match="overlaps"):
        boards.get_board("nucleo-f746zg")


def test_a_clock_that_differs_from_the_nvic_is_refused(broken):
    _, edit = broken
    toml = edit("boards/nucleo-f746zg.toml", "hz = 216_000_000", "hz = 200_000_000")
    with pytest.raises(BoardError) as exc:
        boards.get_board("nucleo-f746zg")
    assert "[clock] hz = 200000000 but the NVIC's systickFrequency is 216000000" in exc.value.what
    assert str(toml.resolve()) in exc.value.where and "stm32f746.repl:" in exc.value.where


def test_a_console_uart_missing_from_the_platform_is_refused(broken):
    _, edit = broken
    edit("boards/stm32f469i-disco.toml", 'uart = "usart3"', 'uart = "usart9"')
    with pytest.raises(BoardError, match=r"\[console\] uart = 'usart9' is not in the platform") as exc:
        boards.get_board("stm32f469i-disco")
    assert "usart3" in exc.value.fix


def test_a_console_that_is_not_a_uart_is_refused(broken):
    _, edit = broken
    edit("boards/stm32f469i-disco.toml", 'uart = "usart3"', 'uart = "rcc"')
    with pytest.raises(BoardError, match="not a UART"):
        boards.load_boards()


def test_a_region_without_a_kind_is_refused(broken):
    _, edit = broken
    edit("boards/nucleo-f746zg.repl", "// The board has no external memory.",
         "extra: Memory.MappedMemory @ sysbus 0x60000000\n    size: 0x1000")
    with pytest.raises(BoardError, match=r"memory 'extra' .* has no kind: no \[memory.extra\] table"):
        boards.load_boards()


def test_a_kind_without_a_region_is_refused(broken):
    _, edit = broken
    edit("boards/nucleo-f746zg.toml", "[memory.dtcm]", '[memory.sdram]\nkind = "sdram"\n\n[memory.dtcm]')
    with pytest.raises(BoardError, match=r"\[memory.sdram\] has no Memory.MappedMemory 'sdram'"):
        boards.load_boards()


def test_an_unknown_kind_is_refused(broken):
    _, edit = broken
    edit("boards/nucleo-f746zg.toml", 'kind = "dtcm"', 'kind = "tcm"')
    with pytest.raises(BoardError, match="kind 'tcm' is unknown") as exc:
        boards.load_boards()
    assert "dtcm" in exc.value.fix


def test_a_size_that_is_not_whole_kilobytes_is_refused(broken):
    _, edit = broken
    edit("cpus/stm32f469.repl", "size: 0x8000", "size: 0x8001")
    with pytest.raises(BoardError, match="memory 'sram2' size 0x8001 is not a positive multiple of 1 KB") as exc:
        boards.load_boards()
    assert "stm32f469.repl:" in exc.value.where


def test_a_cpu_type_that_differs_from_the_core_is_refused(broken):
    _, edit = broken
    edit("cpus/stm32f746.repl", 'cpuType: "cortex-m7"', 'cpuType: "cortex-m4f"')
    with pytest.raises(BoardError, match="cpuType"):
        boards.load_boards()


def test_a_syntax_error_names_the_file_and_line(broken):
    root, edit = broken
    edit("cpus/stm32f469.repl", "    size: 0x28000", "    size 0x28000")
    with pytest.raises(PlatformSyntaxError) as exc:
        boards.load_boards()
    text = (root / "cpus" / "stm32f469.repl").read_text().splitlines()
    assert exc.value.path == str((root / "cpus" / "stm32f469.repl").resolve())
    assert text[exc.value.line - 1].strip() == "size 0x28000"


def test_unknown_toml_keys_are_refused(broken):
    _, edit = broken
    edit("boards/stm32f469i-disco.toml", "wait_states = 5", "wait_states = 5\nwaitstates = 5")
    with pytest.raises(BoardError, match=r"unknown key\(s\) waitstates in \[flash\]"):
        boards.load_boards()


def test_a_cycle_parameter_without_a_source_is_refused(broken):
    _, edit = broken
    edit("boards/nucleo-f746zg.toml", "mul_latency            = { value = 2,",
         "mul_latency            = { value = 2, source = '' }\nx = { value = 2,")
    with pytest.raises(BoardError, match="empty source"):
        boards.load_boards()


def test_a_launch_script_for_another_platform_is_refused(broken):
    _, edit = broken
    edit("boards/nucleo-f746zg.resc", "@platforms/boards/nucleo-f746zg.repl", "@platforms/boards/stm32f469i-disco.repl")
    with pytest.raises(BoardError, match="the launch script loads"):
        boards.load_boards()


def test_a_board_name_that_differs_from_its_file_is_refused(broken):
    _, edit = broken
    edit("boards/nucleo-f746zg.toml", 'name = "nucleo-f746zg"', 'name = "nucleo"')
    with pytest.raises(BoardError, match="differs from the file name"):
        boards.load_boards()


def test_a_missing_platforms_folder_says_how_to_point_at_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TRECSIM_PLATFORMS", str(tmp_path / "nowhere"))
    with pytest.raises(BoardError, match="no board descriptions") as exc:
        boards.load_boards()
    assert "TRECSIM_PLATFORMS" in exc.value.fix
