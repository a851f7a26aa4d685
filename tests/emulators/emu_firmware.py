"""Helpers of the emulator tests: the committed CifarNet firmware, and tiny test programs linked with
trecsim's runtime (startup, USART) and the board.h / linker.ld of that firmware's build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trecsim import boards, spec as specmod
from trecsim.firmware.build import COMMON_FLAGS, CORE_FLAGS, KERNEL_DIR, LINK_FLAGS, RUNTIME_DIR, build_firmware

ARM_GCC = shutil.which("arm-none-eabi-gcc")
needs_arm_gcc = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed "
                                   "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
BOARDS = ("stm32f469i-disco", "nucleo-f746zg")


def cifarnet():
    return specmod.load_trained("cifarnet", "dense")


def cifarnet_build(board_name: str):
    """The committed CifarNet dense firmware for the board (cached in build/firmware like `trecsim build`)."""
    return build_firmware(cifarnet(), boards.get_board(board_name))


def tiny_firmware(board_name: str, main_c: str, out: Path) -> Path:
    """Links ``main_c`` (a C file with main()) with the runtime's startup.c, usart.c and board_init.c for the board."""
    board = boards.get_board(board_name)
    gen = cifarnet_build(board_name).out_dir
    src = out / "tiny_main.c"
    src.write_text(main_c)
    elf = out / "tiny.elf"
    flags = [*CORE_FLAGS[board.core.name], *COMMON_FLAGS, "-DTREC_NO_PROFILE", "-O1"]
    cmd = [ARM_GCC, *flags, f"-I{gen}", f"-I{RUNTIME_DIR}", f"-I{KERNEL_DIR}", *LINK_FLAGS,
           f"-T{gen / 'linker.ld'}", str(RUNTIME_DIR / "startup.c"), str(RUNTIME_DIR / "usart.c"),
           str(RUNTIME_DIR / "board_init.c"), str(src),
           "-o", str(elf)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return elf
