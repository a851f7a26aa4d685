"""Check a dataset folder against its manifest: presence, sizes, checksums."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trecsim.data.manifest import CIFAR10_BINARY, DatasetManifest, FileSpec
from trecsim.data.paths import download_command, locate_batches_dir, lookup_order, verify_command
from trecsim.errors import DataError

#: ``on_progress(done_bytes, total_bytes)``.
ProgressCallback = Callable[[int, int], None]

STATUSES = ("ok", "missing", "truncated", "oversized", "corrupted")
_CHUNK = 1 << 20
_META_MAX_BYTES = 4096
_PREFIX = 12


@dataclass(frozen=True)
class FileCheck:
    """Result for one file; ``status`` is one of :data:`STATUSES`."""

    name: str
    status: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class VerificationReport:
    directory: Path
    files: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.files)

    @property
    def problems(self) -> tuple[FileCheck, ...]:
        return tuple(check for check in self.files if not check.ok)

    def raise_for_problems(self) -> VerificationReport:
        """Raise one :class:`DataError` naming every bad file; else return self."""
        problems = self.problems
        if not problems:
            return self
        listing = "; ".join(f"{check.name} is {check.status} ({check.detail})" for check in problems)
        noun = "file" if len(problems) == 1 else "files"
        raise DataError(
            f"CIFAR-10 data check failed for {len(problems)} {noun}: {listing}",
            where=str(self.directory),
            fix=(
                f"Run `{download_command(self.directory)}` to fetch a fresh copy "
                f"(or copy good files into {self.directory} from a machine that has them), "
                f"then `{verify_command(self.directory)}`"
            ),
        )


def missing_directory_error(directory: Path, source: str | None = None) -> DataError:
    came_from = f" (chosen from {source})" if source else ""
    return DataError(
        f"the CIFAR-10 data folder does not exist{came_from}",
        where=str(directory),
        fix=(
            f"{lookup_order()}. Run `{download_command(directory)}` to download it (about 170 MB), "
            "or point --data or TRECSIM_DATA at an existing cifar-10-batches-bin folder"
        ),
    )


def check_directory(directory: Path, source: str | None = None) -> None:
    """Raise :class:`DataError` unless ``directory`` is an existing folder."""
    if not directory.exists():
        raise missing_directory_error(directory, source)
    if not directory.is_dir():
        raise DataError(
            "this is a file, not the CIFAR-10 data folder",
            where=str(directory),
            fix=f"pass the cifar-10-batches-bin folder with --data, or run `{download_command(directory.parent / 'cifar-10-batches-bin')}`",
        )


def short_hash(digest: str) -> str:
    return digest[:_PREFIX] + "..."


def size_problem(spec: FileSpec, actual: int) -> FileCheck | None:
    """A ``truncated``/``oversized`` check if ``actual`` differs from ``spec.size``."""
    if actual < spec.size:
        return FileCheck(spec.name, "truncated", f"{actual} of {spec.size} bytes")
    if actual > spec.size:
        return FileCheck(spec.name, "oversized", f"{actual} bytes, expected {spec.size}")
    return None


def hash_problem(spec: FileSpec, actual_sha256: str) -> FileCheck | None:
    if spec.sha256 is not None and actual_sha256 != spec.sha256.lower():
        return FileCheck(
            spec.name,
            "corrupted",
            f"sha256 is {short_hash(actual_sha256)}, expected {short_hash(spec.sha256.lower())}",
        )
    return None


def check_meta_text(spec: FileSpec, data: bytes, class_names: tuple[str, ...]) -> FileCheck:
    """The class-name file: the names in label order, one per line, then a blank line."""
    if len(data) > _META_MAX_BYTES:
        return FileCheck(spec.name, "oversized", f"{len(data)} bytes, expected about {spec.size}")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return FileCheck(spec.name, "corrupted", "not plain ASCII text")
    lines = [line.strip() for line in text.strip().splitlines()]
    expected = list(class_names)
    if lines == expected:
        return FileCheck(spec.name, "ok", "class names as expected")
    canonical = "\n".join(expected) + "\n\n"
    if canonical.startswith(text.replace("\r\n", "\n")):
        return FileCheck(spec.name, "truncated", f"{len(data)} bytes, ends inside the list of {len(expected)} class names")
    for number, (got, want) in enumerate(zip(lines, expected), start=1):
        if got != want:
            return FileCheck(spec.name, "corrupted", f"line {number} is {got!r}, expected {want!r}")
    return FileCheck(spec.name, "corrupted", f"{len(lines)} class names, expected {len(expected)}")


def _sha256_file(path: Path, advance: Callable[[int], None]) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
            advance(count)
    return digest.hexdigest()


def verify_dataset(
    directory: str | os.PathLike[str],
    manifest: DatasetManifest = CIFAR10_BINARY,
    on_progress: ProgressCallback | None = None,
) -> VerificationReport:
    """Check every file of ``manifest`` in ``directory``.

    ``directory`` may also be the parent of a ``cifar-10-batches-bin`` folder.
    A missing folder raises :class:`DataError`; problems with files are
    reported in the returned :class:`VerificationReport` (see
    :meth:`VerificationReport.raise_for_problems`). ``on_progress(done,
    total)`` is called while checksums are computed.
    """
    folder = locate_batches_dir(Path(os.path.abspath(Path(directory).expanduser())), manifest)
    check_directory(folder)

    results: dict[str, FileCheck] = {}
    to_hash: list[tuple[FileSpec, Path]] = []
    for spec in manifest.files:
        path = folder / spec.name
        if not path.is_file():
            what = "not a regular file" if path.exists() else "not found"
            results[spec.name] = FileCheck(spec.name, "missing", what)
            continue
        if spec.sha256 is None:
            results[spec.name] = check_meta_text(spec, _read_at_most(path, _META_MAX_BYTES + 1), manifest.class_names)
            continue
        problem = size_problem(spec, path.stat().st_size)
        if problem is not None:
            results[spec.name] = problem
        else:
            to_hash.append((spec, path))

    total = sum(spec.size for spec, _ in to_hash)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, total)

    for spec, path in to_hash:
        actual = _sha256_file(path, advance)
        results[spec.name] = hash_problem(spec, actual) or FileCheck(spec.name, "ok", f"sha256 {short_hash(actual)}")
    if on_progress is not None and total == 0:
        on_progress(0, 0)

    return VerificationReport(folder, tuple(results[spec.name] for spec in manifest.files))


def _read_at_most(path: Path, limit: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit)
