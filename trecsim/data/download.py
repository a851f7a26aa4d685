"""Download, check and unpack the CIFAR-10 binary archive, all or nothing.

The archive is streamed to a temporary file beside the target folder, its md5
is checked, it is unpacked into a temporary folder beside the target, the
unpacked files are verified, and only then is the folder renamed into place.
Whatever fails (including Ctrl-C), the temporary files are removed and an
existing dataset is left as it was.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from trecsim.data.manifest import CIFAR10_BINARY, DatasetManifest
from trecsim.data.paths import locate_batches_dir, resolve_data_dir, verify_command
from trecsim.data.verify import verify_dataset
from trecsim.errors import DataError

#: ``on_progress(done_bytes, total_bytes_or_None)``.
DownloadProgress = Callable[[int, "int | None"], None]

_CHUNK = 1 << 20
_TEMP_PREFIX = ".trecsim-"
# Limits that no real CIFAR archive comes near; anything beyond is refused.
_MAX_MEMBERS = 1000
_MAX_MEMBER_BYTES = 256 << 20
_MAX_TOTAL_BYTES = 1 << 30
_MAX_DEPTH = 8
# Files an archive may bring besides the manifest's; an existing folder that
# holds anything else is never replaced.
_KNOWN_EXTRAS = frozenset({"readme.html"})


def download_dataset(
    target_dir: str | os.PathLike[str] | None = None,
    *,
    manifest: DatasetManifest = CIFAR10_BINARY,
    url: str | None = None,
    force: bool = False,
    on_progress: DownloadProgress | None = None,
    timeout: float = 60,
) -> Path:
    """Make ``target_dir`` hold a verified copy of the dataset; return its path.

    ``target_dir`` follows :func:`resolve_data_dir` (``None``: ``$TRECSIM_DATA``,
    then the user cache). If it already verifies and ``force`` is false,
    nothing is downloaded. A folder that exists, is not empty and holds none
    of the dataset files is taken as the parent: the data go into its
    ``cifar-10-batches-bin`` subfolder.
    """
    target, _source = resolve_data_dir(target_dir, manifest=manifest)
    target = _pick_target(target, manifest)
    url = url or manifest.archive_url

    if target.is_dir() and not force:
        report = verify_dataset(target, manifest)
        if report.ok:
            return target
    if target.exists():
        _refuse_unknown_contents(target, manifest)

    created = _make_parents(target.parent, url, target)
    archive: Path | None = None
    staging: Path | None = None
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX + "download-", suffix=".tar.gz")
        archive = Path(name)
        digest = _fetch(url, handle, archive, timeout, on_progress, target)
        if digest != manifest.archive_md5.lower():
            raise DataError(
                f"md5 of the downloaded archive is {digest}, expected {manifest.archive_md5.lower()}; "
                "the download is damaged or the file on the server is not the expected one",
                where=url,
                fix=_manual_fix(url, target, retry=True),
            )
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=_TEMP_PREFIX + "unpack-"))
        _extract(archive, staging, url, target)
        archive.unlink()
        archive = None
        found = _find_batches_folder(staging, manifest)
        if found is None:
            raise DataError(
                f"the archive has no {manifest.folder}/ folder with the dataset files",
                where=url,
                fix=_manual_fix(url, target, retry=False),
            )
        report = verify_dataset(found, manifest)
        if not report.ok:
            listing = "; ".join(f"{c.name} is {c.status} ({c.detail})" for c in report.problems)
            raise DataError(
                f"the unpacked archive failed verification: {listing}",
                where=url,
                fix=_manual_fix(url, target, retry=True),
            )
        if found == staging:  # files at the archive's top level: mkdtemp made it 0700
            os.chmod(found, 0o755)
        _swap_into_place(found, target)
        return target
    except BaseException:
        _cleanup(archive, staging, created)
        raise
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _pick_target(target: Path, manifest: DatasetManifest) -> Path:
    if target.is_dir() and target.name != manifest.folder:
        entries = list(target.iterdir())
        names = {entry.name for entry in entries}
        if entries and not names & {spec.name for spec in manifest.files}:
            return target / manifest.folder
    return target


def _refuse_unknown_contents(target: Path, manifest: DatasetManifest) -> None:
    if not target.is_dir():
        raise DataError(
            "this is a file, not a data folder; trecsim will not replace it",
            where=str(target),
            fix="move the file away, or pass another folder with --data",
        )
    allowed = {spec.name for spec in manifest.files} | _KNOWN_EXTRAS
    unknown = sorted(entry.name for entry in target.iterdir() if entry.name not in allowed)
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise DataError(
            f"the data folder needs replacing but also holds files trecsim did not put there ({shown}); "
            "trecsim will not delete them",
            where=str(target),
            fix="move those files elsewhere, or pass an empty or new folder with --data",
        )


def _make_parents(parent: Path, url: str, target: Path) -> list[Path]:
    """Create ``parent`` and its missing ancestors; return the ones created."""
    missing: list[Path] = []
    probe = parent
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cannot create the folder for the dataset: {error.strerror or error}",
            where=str(parent),
            fix="pass a writable folder with --data or TRECSIM_DATA",
        ) from None
    return missing


def _fetch(
    url: str,
    handle: int,
    archive: Path,
    timeout: float,
    on_progress: DownloadProgress | None,
    target: Path,
) -> str:
    """Stream ``url`` into the open file ``handle``; return the md5 hex digest."""
    digest = hashlib.md5()
    done = 0
    total: int | None = None
    with os.fdopen(handle, "wb") as out:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "trecsim"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise DataError(
                            f"cannot write the downloaded archive: {error.strerror or error}",
                            where=str(archive),
                            fix="free some disk space or pass another folder with --data, then retry",
                        ) from None
                    digest.update(chunk)
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(done, total)
        except urllib.error.HTTPError as error:
            raise DataError(
                f"the server answered HTTP {error.code} {error.reason}",
                where=url,
                fix=_manual_fix(url, target, retry=True),
            ) from None
        except urllib.error.URLError as error:
            raise DataError(
                f"cannot reach the server: {error.reason}",
                where=url,
                fix=_manual_fix(url, target, retry=True),
            ) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException, ValueError) as error:
            reason = str(error) or type(error).__name__
            raise DataError(
                f"the download failed after {done} bytes: {reason}",
                where=url,
                fix=_manual_fix(url, target, retry=True),
            ) from None
    if total is not None and done != total:
        raise DataError(
            f"the download stopped after {done} of {total} bytes",
            where=url,
            fix=_manual_fix(url, target, retry=True),
        )
    return digest.hexdigest()


def _manual_fix(url: str, target: Path, *, retry: bool) -> str:
    first = "Retry; check the network connection and proxy settings (https_proxy); or" if retry else "Or"
    return (
        f"{first} download {url} by hand, unpack it (`tar -xzf {PurePosixPath(url).name}`), "
        f"move the files of its cifar-10-batches-bin/ folder into {target}, "
        f"then run `{verify_command(target)}`"
    )


def _extract(archive: Path, staging: Path, url: str, target: Path) -> None:
    def bad(what: str) -> DataError:
        return DataError(what, where=url, fix=_manual_fix(url, target, retry=True))

    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = []
            total = 0
            for member in tar:
                if len(members) >= _MAX_MEMBERS:
                    raise bad(f"the archive has more than {_MAX_MEMBERS} entries; it is not the CIFAR-10 archive")
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts or len(parts) > _MAX_DEPTH:
                    raise bad(f"the archive holds an unsafe path {member.name!r}")
                if not (member.isfile() or member.isdir()):
                    raise bad(f"the archive holds {member.name!r}, which is a link or special file")
                if member.size > _MAX_MEMBER_BYTES:
                    raise bad(f"the archive member {member.name!r} is {member.size} bytes, far too large")
                total += member.size
                if total > _MAX_TOTAL_BYTES:
                    raise bad(f"the archive unpacks to more than {_MAX_TOTAL_BYTES} bytes")
                members.append(member)
            tar.extractall(staging, members=members, filter="data")
    except DataError:
        raise
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise bad(f"the archive is damaged or truncated and cannot be unpacked ({error or type(error).__name__})") from None
    except OSError as error:
        raise DataError(
            f"cannot unpack the archive: {error.strerror or error}",
            where=str(staging),
            fix="free some disk space or pass another folder with --data, then retry",
        ) from None


def _find_batches_folder(staging: Path, manifest: DatasetManifest) -> Path | None:
    marker = manifest.files[0].name
    preferred = staging / manifest.folder
    if (preferred / marker).is_file():
        return preferred
    for folder, _dirs, files in os.walk(staging):
        if marker in files:
            return Path(folder)
    return None


def _swap_into_place(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an old ``target`` is deleted only afterwards."""
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=_TEMP_PREFIX + "old-"))
        try:
            os.replace(target, old)  # replaces the empty placeholder folder
        except BaseException:
            old.rmdir()
            raise
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _cleanup(archive: Path | None, staging: Path | None, created: list[Path]) -> None:
    if archive is not None:
        archive.unlink(missing_ok=True)
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
    for folder in created:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            break
