"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _real_candidates() -> list[Path]:
    found = []
    if os.environ.get("TRECSIM_DATA"):
        found.append(Path(os.environ["TRECSIM_DATA"]).expanduser())
    found.append(_REPO_ROOT / ".." / "shared" / "data" / "cifar-10-batches-bin")
    found.append(_REPO_ROOT / "shared" / "data" / "cifar-10-batches-bin")
    return found


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    candidates = _real_candidates()
    for candidate in candidates:
        for path in (candidate, candidate / "cifar-10-batches-bin"):
            if (path / "test_batch.bin").is_file():
                return path.resolve()
    pytest.skip(
        "full CIFAR-10 binary set not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); set TRECSIM_DATA or run `python -m trecsim data download`"
    )
