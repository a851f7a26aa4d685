"""Read CIFAR-10 binary records into numpy arrays (NHWC, RGB, uint8)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trecsim.data.manifest import (
    CIFAR10_BINARY,
    IMAGE_CHANNELS,
    IMAGE_SIDE,
    DatasetManifest,
)
from trecsim.data.paths import download_command, resolve_data_dir
from trecsim.data.verify import check_directory, hash_problem, size_problem
from trecsim.errors import DataError


@dataclass(frozen=True, eq=False)
class CifarSplit:
    """Images and labels of one split (or a subset of it).

    ``images`` has shape (N, 32, 32, 3): image, row, column, channel (R, G, B),
    the layout the firmware uses. ``indices[i]`` is the position of image ``i``
    in its original split (train: 0..49999 over data_batch_1..5 in order).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    indices: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.labels)
        if self.images.shape != (count, IMAGE_SIDE, IMAGE_SIDE, IMAGE_CHANNELS) or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 of shape ({count}, 32, 32, 3), got {self.images.dtype} {self.images.shape}")
        if self.labels.dtype != np.uint8 or self.labels.shape != (count,):
            raise ValueError(f"labels must be uint8 of shape ({count},)")
        if self.indices.dtype != np.int32 or self.indices.shape != (count,):
            raise ValueError(f"indices must be int32 of shape ({count},)")

    def __len__(self) -> int:
        return len(self.labels)


def records_to_arrays(
    records: np.ndarray,
    *,
    where: str,
    num_classes: int = 10,
    first_index: int = 0,
    fix: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split a (N, 3073) uint8 record array into (images NHWC, labels).

    A label byte of ``num_classes`` or more raises :class:`DataError` naming
    the record (numbered from ``first_index``).
    """
    labels = np.ascontiguousarray(records[:, 0])
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"record {first_index + first} has label {int(labels[first])}, but labels must be 0..{num_classes - 1} "
            f"({bad.size} bad record(s)); this is not a CIFAR-10 binary file",
            where=where,
            fix=fix,
        )
    planes = records[:, 1:].reshape(len(records), IMAGE_CHANNELS, IMAGE_SIDE, IMAGE_SIDE)
    images = np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
    return images, labels


def load_split(
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    *,
    manifest: DatasetManifest = CIFAR10_BINARY,
) -> CifarSplit:
    """Load ``"train"`` (50,000 images) or ``"test"`` (10,000 images).

    ``data_dir`` follows :func:`resolve_data_dir` (``--data``, then
    ``$TRECSIM_DATA``, then the user cache). File sizes and labels are always
    checked; with ``verify`` the sha256 of every file read is checked too.
    """
    try:
        names = manifest.split_files(split)
    except KeyError:
        valid = ", ".join(repr(name) for name in manifest.split_names)
        raise DataError(
            f"unknown CIFAR-10 split {split!r}; the valid splits are {valid}",
            where="load_split",
            fix=f"pass one of {valid}",
        ) from None

    directory, source = resolve_data_dir(data_dir, manifest=manifest)
    check_directory(directory, source)
    fix = f"Run `{download_command(directory)}` to fetch a fresh copy"

    per_file = manifest.record_count_per_file
    records = np.empty((per_file * len(names), manifest.record_size), dtype=np.uint8)
    for position, name in enumerate(names):
        path = directory / name
        spec = manifest.file(name)
        if not path.is_file():
            raise DataError(f"{name} is missing from the CIFAR-10 data folder", where=str(path), fix=fix)
        problem = size_problem(spec, path.stat().st_size)
        if problem is not None:
            raise DataError(f"{name} is {problem.status} ({problem.detail})", where=str(path), fix=fix)
        block = records[position * per_file : (position + 1) * per_file]
        with open(path, "rb") as handle:
            count = handle.readinto(memoryview(block).cast("B"))
        if count != spec.size:
            raise DataError(f"{name} changed while it was read ({count} of {spec.size} bytes)", where=str(path), fix=fix)
        if verify:
            problem = hash_problem(spec, hashlib.sha256(block).hexdigest())
            if problem is not None:
                raise DataError(f"{name} is corrupted ({problem.detail})", where=str(path), fix=fix)

    images, labels = _parse_files(records, names, directory, per_file, len(manifest.class_names), fix)
    return CifarSplit(
        images=images,
        labels=labels,
        class_names=manifest.class_names,
        source=str(directory),
        indices=np.arange(len(labels), dtype=np.int32),
    )


def _parse_files(
    records: np.ndarray,
    names: tuple[str, ...],
    directory: Path,
    per_file: int,
    num_classes: int,
    fix: str,
) -> tuple[np.ndarray, np.ndarray]:
    labels = records[:, 0]
    if labels.size and int(labels.max()) >= num_classes:
        # Name the file that holds the first bad record.
        position = int(np.flatnonzero(labels >= num_classes)[0]) // per_file
        block = records[position * per_file : (position + 1) * per_file]
        records_to_arrays(block, where=str(directory / names[position]), num_classes=num_classes, fix=fix)
    return records_to_arrays(records, where=str(directory), num_classes=num_classes, fix=fix)
