"""Shared constants of the firmware build tests (a module of its own: `conftest` names clash across folders)."""

from __future__ import annotations

import shutil

import pytest

ARM_GCC = shutil.which("arm-none-eabi-gcc")
needs_arm_gcc = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed "
                                   "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
BOARDS = ("stm32f469i-disco", "nucleo-f746zg")
