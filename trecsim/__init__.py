"""trecsim: a testbed for TREC convolution on simulated Cortex-M boards."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

#: Root of the source checkout (holds platforms/ and firmware/). trecsim is
#: installed in editable mode from its checkout, see README.md.
REPO_ROOT = Path(__file__).resolve().parent.parent
