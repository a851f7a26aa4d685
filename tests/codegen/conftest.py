"""The firmware build tests' hand-built specs (tests/firmware_build/fw_specs.py) serve here too."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware_build"))
