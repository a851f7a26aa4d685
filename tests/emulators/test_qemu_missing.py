"""Where QEMU is missing, or the ELF is not the QEMU build, the QEMU backend says what and how to fix it
before anything runs (these tests need arm-none-eabi-gcc for the firmware, not QEMU)."""

from __future__ import annotations

import pytest

from emu_firmware import BOARDS, needs_arm_gcc
from trecsim import boards, cli, spec as specmod
from trecsim.emulators import open_board
from trecsim.errors import EmulatorError, FirmwareFault
from trecsim.firmware.build import build_firmware

pytestmark = needs_arm_gcc
HINT = "apt-get install qemu-system-arm"


def _builds():
    spec, board = specmod.load_trained("cifarnet", "dense"), boards.get_board(BOARDS[0])
    return board, build_firmware(spec, board, variant="qemu"), build_firmware(spec, board)


def test_an_elf_linked_for_the_stm32_map_is_refused_with_the_fix():
    board, _, ubuild = _builds()
    with pytest.raises(EmulatorError) as info:
        open_board(ubuild.elf, board, backend="qemu")
    assert "linked for the STM32" in str(info.value) and "variant='qemu'" in str(info.value)


def test_a_missing_qemu_says_how_to_install_it(monkeypatch):
    board, qbuild, _ = _builds()
    monkeypatch.setenv("TRECSIM_QEMU", "/nonexistent/qemu-system-arm")
    with pytest.raises(EmulatorError) as info:
        open_board(qbuild.elf, board, backend="qemu")
    assert "not found" in str(info.value) and HINT in str(info.value)
    assert not isinstance(info.value, FirmwareFault)


def test_profile_with_emulator_qemu_and_no_qemu_exits_2_with_the_hint(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TRECSIM_QEMU", "/nonexistent/qemu-system-arm")
    rc = cli.main(["profile", "--emulator", "qemu", "--modes", "dense", "--images", "1", "--quiet",
                   "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "--emulator qemu" in err and HINT in err
