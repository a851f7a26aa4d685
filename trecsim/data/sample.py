"""A small sample of the CIFAR-10 test split shipped inside the package.

``sample/cifar10_test_sample.bin`` holds whole test records (same 3073-byte
format as ``test_batch.bin``); ``sample/cifar10_test_sample.json`` says which
test images they are and the sha256 of the .bin. Both are made by
:func:`make_sample` from the real dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from trecsim.data.cifar import CifarSplit, records_to_arrays
from trecsim.data.manifest import CIFAR10_BINARY, DatasetManifest
from trecsim.data.paths import download_command, locate_batches_dir
from trecsim.data.verify import check_directory, hash_problem, size_problem
from trecsim.errors import DataError

SAMPLE_BIN = "cifar10_test_sample.bin"
SAMPLE_JSON = "cifar10_test_sample.json"
SAMPLE_SOURCE = "bundled sample"
_SAMPLE_FOLDER = "sample"
_REINSTALL = (
    "The trecsim package is damaged: reinstall it (in the checkout: "
    "`git checkout -- trecsim/data/sample && pip install -e .`)"
)


def select_first_per_class(labels: np.ndarray, per_class: int, num_classes: int = 10) -> np.ndarray:
    """Indices of the first ``per_class`` images of each class, sorted ascending."""
    chosen = []
    for label in range(num_classes):
        hits = np.flatnonzero(labels == label)[:per_class]
        if len(hits) < per_class:
            raise ValueError(f"class {label} has only {len(hits)} images, {per_class} wanted")
        chosen.append(hits)
    return np.sort(np.concatenate(chosen)).astype(np.int32)


def make_sample(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    per_class: int = 30,
    *,
    manifest: DatasetManifest = CIFAR10_BINARY,
) -> tuple[Path, Path]:
    """Write the bundled sample (.bin and .json) into ``out_dir`` from the test split.

    Takes the first ``per_class`` test images of each class, in test-set order.
    The source file must match the manifest. Both files are written atomically.
    Returns the paths of the .bin and .json files.
    """
    if per_class < 1:
        raise ValueError("per_class must be at least 1")
    directory = locate_batches_dir(Path(data_dir).expanduser(), manifest)
    check_directory(directory)
    (source_name,) = manifest.split_files("test")
    spec = manifest.file(source_name)
    path = directory / source_name
    fix = f"Run `{download_command(directory)}` to fetch a good copy"
    if not path.is_file():
        raise DataError(f"{source_name} is missing", where=str(path), fix=fix)
    data = path.read_bytes()
    problem = size_problem(spec, len(data)) or hash_problem(spec, hashlib.sha256(data).hexdigest())
    if problem is not None:
        raise DataError(f"{source_name} is {problem.status} ({problem.detail})", where=str(path), fix=fix)

    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, manifest.record_size)
    records_to_arrays(records, where=str(path), num_classes=len(manifest.class_names), fix=fix)
    try:
        indices = select_first_per_class(records[:, 0], per_class, len(manifest.class_names))
    except ValueError as error:
        raise DataError(f"cannot make the sample: {error}", where=str(path), fix="use a smaller per_class") from None
    payload = records[indices].tobytes()
    info = {
        "source": source_name,
        "source_sha256": spec.sha256,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "per_class": per_class,
        "count": len(indices),
        "record_size": manifest.record_size,
        "how_made": (
            f"trecsim.data.make_sample: the first {per_class} images of each of the "
            f"{len(manifest.class_names)} classes of the CIFAR-10 test split ({source_name}), "
            "in test-set order, copied as whole 3073-byte records (label byte, then R, G, B planes)"
        ),
        "indices": [int(i) for i in indices],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bin_path = out / SAMPLE_BIN
    json_path = out / SAMPLE_JSON
    _write_atomic(bin_path, payload)
    # One key per line, the index list on a single line: short, diff-friendly.
    text = "{\n" + ",\n".join(f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in info.items()) + "\n}\n"
    _write_atomic(json_path, text.encode("utf-8"))
    return bin_path, json_path


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; these files are for everyone
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_sample(*, manifest: DatasetManifest = CIFAR10_BINARY) -> CifarSplit:
    """The bundled 300-image sample of the test split (no dataset needed)."""
    folder = resources.files("trecsim.data").joinpath(_SAMPLE_FOLDER)
    bin_res = folder.joinpath(SAMPLE_BIN)
    json_res = folder.joinpath(SAMPLE_JSON)
    try:
        info = json.loads(json_res.read_text(encoding="utf-8"))
        data = bin_res.read_bytes()
    except (OSError, ValueError) as error:
        raise DataError(f"the bundled CIFAR-10 sample cannot be read: {error}", where=str(folder), fix=_REINSTALL) from None
    try:
        expected = str(info["sha256"])
        indices = np.asarray(info["indices"], dtype=np.int32)
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"the bundled sample description is malformed ({error!r})", where=str(json_res), fix=_REINSTALL) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DataError(
            f"the bundled CIFAR-10 sample is damaged: its sha256 is {actual[:12]}..., expected {expected[:12]}...",
            where=str(bin_res),
            fix=_REINSTALL,
        )
    if len(data) != len(indices) * manifest.record_size:
        raise DataError(
            f"the bundled sample has {len(data)} bytes, expected {len(indices)} records of {manifest.record_size}",
            where=str(bin_res),
            fix=_REINSTALL,
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(len(indices), manifest.record_size)
    images, labels = records_to_arrays(records, where=str(bin_res), num_classes=len(manifest.class_names), fix=_REINSTALL)
    return CifarSplit(
        images=images,
        labels=labels,
        class_names=manifest.class_names,
        source=SAMPLE_SOURCE,
        indices=indices,
    )
