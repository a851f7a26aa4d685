"""Fixtures of the firmware kernel tests: the host build of firmware/kernels."""

from __future__ import annotations

import pytest

from trecsim.firmware import hostlib


@pytest.fixture(scope="session")
def lib():
    """firmware/kernels/*.c built with the native gcc (DSP instructions as portable C models)."""
    return hostlib.load()
