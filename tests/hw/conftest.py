"""Makes the helpers of this folder importable (hw_fixtures) and gives the board fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hw_fixtures import BOARDS  # noqa: E402

from trecsim import boards  # noqa: E402


@pytest.fixture(params=BOARDS)
def board(request):
    return boards.get_board(request.param)
