"""Fixtures of the firmware build tests: boards, the small spec, and builds into temporary folders."""

from __future__ import annotations

import pytest

import fw_specs
from fw_common import ARM_GCC, BOARDS, needs_arm_gcc  # noqa: F401 (re-exported for fixtures)
from trecsim import boards


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
