"""CIFAR-10 data: locate, verify, download and load the binary version.

Images come as uint8 arrays of shape (N, 32, 32, 3) (NHWC, RGB), the layout
the firmware uses. A 300-image sample of the test split ships with the
package (:func:`load_sample`), so nothing needs downloading for a default run.
Nothing here prints; problems raise :class:`trecsim.errors.DataError`.
"""

from __future__ import annotations

from trecsim.data.cifar import CifarSplit, load_split, records_to_arrays
from trecsim.data.download import download_dataset
from trecsim.data.manifest import (
    CIFAR10_BINARY,
    CIFAR10_MD5,
    CIFAR10_URL,
    CLASS_NAMES,
    RECORD_BYTES,
    DatasetManifest,
    FileSpec,
)
from trecsim.data.paths import (
    ENV_VAR,
    default_cache_dir,
    download_command,
    resolve_data_dir,
    verify_command,
)
from trecsim.data.sample import SAMPLE_SOURCE, load_sample, make_sample
from trecsim.data.verify import STATUSES, FileCheck, VerificationReport, verify_dataset

__all__ = [
    "CIFAR10_BINARY",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CLASS_NAMES",
    "ENV_VAR",
    "RECORD_BYTES",
    "SAMPLE_SOURCE",
    "STATUSES",
    "CifarSplit",
    "DatasetManifest",
    "FileCheck",
    "FileSpec",
    "VerificationReport",
    "default_cache_dir",
    "download_command",
    "download_dataset",
    "load_sample",
    "load_split",
    "make_sample",
    "records_to_arrays",
    "resolve_data_dir",
    "verify_command",
    "verify_dataset",
]
