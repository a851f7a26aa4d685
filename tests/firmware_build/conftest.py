"""Fixtures of the firmware build tests: boards, the small spec, and builds into temporary folders."""

from __future__ import annotations

import shutil

import pytest

import fw_specs
from trecsim import boards

ARM_GCC = shutil.which("arm-none-eabi-gcc")
needs_arm_gcc = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed "
                                   "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
BOARDS = ("stm32f469i-disco", "nucleo-f746zg")


@pytest.fixture(scope="session")
def small_spec():
    return fw_specs.small_spec()


@pytest.fixture(scope="session", params=BOARDS)
def board(request):
    return boards.get_board(request.param)


@pytest.fixture(scope="session")
def small_builds(small_spec, tmp_path_factory):
    """board name -> BuildResult of the small spec (built once per session)."""
    if ARM_GCC is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    from trecsim.firmware.build import build_firmware

    root = tmp_path_factory.mktemp("fw")
    return {name: build_firmware(small_spec, boards.get_board(name), out_dir=root / name) for name in BOARDS}
