"""Where the CIFAR-10 files live: ``--data DIR``, ``$TRECSIM_DATA``, user cache."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import platformdirs

from trecsim.data.manifest import CIFAR10_BINARY, DatasetManifest

ENV_VAR = "TRECSIM_DATA"
SOURCE_FLAG = "--data"
SOURCE_ENV = "TRECSIM_DATA"
SOURCE_CACHE = "user cache"


def default_cache_dir() -> Path:
    """The folder used when neither ``--data`` nor ``$TRECSIM_DATA`` is given."""
    return Path(platformdirs.user_cache_dir("trecsim")) / CIFAR10_BINARY.folder


def _holds_dataset_files(directory: Path, manifest: DatasetManifest) -> bool:
    return any((directory / spec.name).exists() for spec in manifest.files)


def locate_batches_dir(path: str | os.PathLike[str], manifest: DatasetManifest = CIFAR10_BINARY) -> Path:
    """Return ``path``, or ``path/<folder>`` when ``path`` is its parent.

    A folder counts as the parent when it has a ``cifar-10-batches-bin/``
    subfolder and none of the dataset files itself. Existence is not required.
    """
    path = Path(path)
    child = path / manifest.folder
    if path.name != manifest.folder and child.is_dir() and not _holds_dataset_files(path, manifest):
        return child
    return path


def resolve_data_dir(
    explicit: str | os.PathLike[str] | None = None,
    *,
    manifest: DatasetManifest = CIFAR10_BINARY,
) -> tuple[Path, str]:
    """Pick the dataset folder and say where the choice came from.

    Order: ``explicit`` (the ``--data DIR`` option), then the environment
    variable ``TRECSIM_DATA``, then :func:`default_cache_dir`. The source is
    ``"--data"``, ``"TRECSIM_DATA"`` or ``"user cache"``. A folder that holds
    ``cifar-10-batches-bin/`` is taken to mean that subfolder (the returned
    path shows which was used). The folder need not exist.
    """
    if explicit is not None and str(explicit).strip():
        path, source = Path(explicit), SOURCE_FLAG
    elif os.environ.get(ENV_VAR, "").strip():
        path, source = Path(os.environ[ENV_VAR].strip()), SOURCE_ENV
    else:
        path, source = default_cache_dir(), SOURCE_CACHE
    path = Path(os.path.abspath(path.expanduser()))
    return locate_batches_dir(path, manifest), source


def lookup_order() -> str:
    """One sentence explaining where trecsim looks for the dataset."""
    return (
        f"trecsim looks for the CIFAR-10 binary files in --data DIR, else in ${ENV_VAR}, "
        f"else in the user cache {default_cache_dir()}"
    )


def download_command(directory: str | os.PathLike[str]) -> str:
    return f"python -m trecsim data download --data {shlex.quote(str(directory))}"


def verify_command(directory: str | os.PathLike[str]) -> str:
    return f"python -m trecsim data verify --data {shlex.quote(str(directory))}"
