"""What a correct CIFAR-10 binary dataset looks like: file names, sizes, hashes.

The values for the official set come from the verified copy described in
``shared/data/cifar-10-batches-bin/SOURCE.md``. Tests build their own small
manifests for fake datasets with the same file names.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Label order of CIFAR-10 (label byte ``k`` means ``CLASS_NAMES[k]``).
CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: Official download of the binary version, and the md5 the page publishes.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"

#: One record: 1 label byte, then 1024 R, 1024 G and 1024 B bytes (row-major).
IMAGE_SIDE = 32
IMAGE_CHANNELS = 3
PLANE_BYTES = IMAGE_SIDE * IMAGE_SIDE
RECORD_BYTES = 1 + IMAGE_CHANNELS * PLANE_BYTES  # 3073

TRAIN_FILES: tuple[str, ...] = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES: tuple[str, ...] = ("test_batch.bin",)
META_FILE = "batches.meta.txt"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    ``sha256`` is ``None`` for the text file of class names, whose content is
    checked instead of its bytes (see ``DatasetManifest.class_names``).
    """

    name: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class DatasetManifest:
    """Everything needed to download, verify and read one dataset folder."""

    name: str
    folder: str
    files: tuple[FileSpec, ...]
    archive_url: str
    archive_md5: str
    record_count_per_file: int
    record_size: int = RECORD_BYTES
    class_names: tuple[str, ...] = CLASS_NAMES
    meta_file: str = META_FILE
    splits: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("train", TRAIN_FILES),
        ("test", TEST_FILES),
    )

    def file(self, name: str) -> FileSpec:
        for spec in self.files:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.splits)

    def split_files(self, split: str) -> tuple[str, ...]:
        """File names of ``split``; ``KeyError`` if there is no such split."""
        for name, files in self.splits:
            if name == split:
                return files
        raise KeyError(split)

    @property
    def file_size(self) -> int:
        """Bytes in one record file."""
        return self.record_count_per_file * self.record_size


def _record_file(name: str, sha256: str) -> FileSpec:
    return FileSpec(name=name, size=10_000 * RECORD_BYTES, sha256=sha256)


CIFAR10_BINARY = DatasetManifest(
    name="CIFAR-10 (binary version)",
    folder="cifar-10-batches-bin",
    files=(
        _record_file("data_batch_1.bin", "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"),
        _record_file("data_batch_2.bin", "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"),
        _record_file("data_batch_3.bin", "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"),
        _record_file("data_batch_4.bin", "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"),
        _record_file("data_batch_5.bin", "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"),
        _record_file("test_batch.bin", "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"),
        # Ten names, one per line, then a blank line: 61 bytes. Checked by content.
        FileSpec(name=META_FILE, size=61, sha256=None),
    ),
    archive_url=CIFAR10_URL,
    archive_md5=CIFAR10_MD5,
    record_count_per_file=10_000,
)
