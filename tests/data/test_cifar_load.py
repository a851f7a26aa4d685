"""load_split on a tiny fake dataset: shapes, pixel layout, checks."""

from __future__ import annotations

import numpy as np
import pytest

from trecsim.data import CLASS_NAMES, CifarSplit, load_split
from trecsim.errors import DataError


def test_test_split_layout(fake_set):
    split = load_split("test", fake_set.directory, manifest=fake_set.manifest)
    assert isinstance(split, CifarSplit)
    assert split.images.shape == (20, 32, 32, 3) and split.images.dtype == np.uint8
    assert split.labels.shape == (20,) and split.labels.dtype == np.uint8
    assert split.indices.dtype == np.int32 and list(split.indices) == list(range(20))
    assert split.class_names == CLASS_NAMES
    assert split.source == str(fake_set.directory)
    assert len(split) == 20
    assert split.images.flags.c_contiguous
    records = fake_set.records["test_batch.bin"]
    np.testing.assert_array_equal(split.labels, records[:, 0])
    # image[n, y, x, c] is record byte 1 + c*1024 + y*32 + x
    n, y, x = np.meshgrid(np.arange(20), np.arange(32), np.arange(32), indexing="ij")
    for c in range(3):
        np.testing.assert_array_equal(split.images[..., c], records[n, 1 + c * 1024 + y * 32 + x])
    assert split.images[7, 3, 5, 2] == records[7, 1 + 2 * 1024 + 3 * 32 + 5]


def test_train_split_concatenates_batches_in_order(fake_set):
    split = load_split("train", fake_set.directory, verify=False, manifest=fake_set.manifest)
    assert split.images.shape == (100, 32, 32, 3)
    assert list(split.indices) == list(range(100))
    expected = np.concatenate([fake_set.records[f"data_batch_{i}.bin"] for i in range(1, 6)])
    np.testing.assert_array_equal(split.labels, expected[:, 0])
    np.testing.assert_array_equal(split.images[45, :, :, 1].ravel(), expected[45, 1025:2049])


def test_unknown_split_lists_valid_ones(fake_set):
    with pytest.raises(DataError, match=r"unknown CIFAR-10 split 'validation'.*'train', 'test'"):
        load_split("validation", fake_set.directory, manifest=fake_set.manifest)


def _rewrite(path, change):
    data = bytearray(path.read_bytes())
    change(data)
    path.write_bytes(bytes(data))


def test_label_above_nine_is_rejected_even_without_verify(fake_set):
    path = fake_set.directory / "data_batch_2.bin"
    _rewrite(path, lambda d: d.__setitem__(3 * 3073, 10))
    with pytest.raises(DataError, match=r"record 3 has label 10") as caught:
        load_split("train", fake_set.directory, verify=False, manifest=fake_set.manifest)
    assert "data_batch_2.bin" in str(caught.value)


def test_checksum_checked_only_with_verify(fake_set):
    path = fake_set.directory / "test_batch.bin"
    _rewrite(path, lambda d: d.__setitem__(100, d[100] ^ 0xFF))
    with pytest.raises(DataError, match=r"test_batch\.bin is corrupted") as caught:
        load_split("test", fake_set.directory, manifest=fake_set.manifest)
    assert "python -m trecsim data download" in str(caught.value)
    split = load_split("test", fake_set.directory, verify=False, manifest=fake_set.manifest)
    assert split.images.shape[0] == 20


def test_size_always_checked(fake_set):
    path = fake_set.directory / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"test_batch\.bin is truncated \(61459 of 61460 bytes\)"):
        load_split("test", fake_set.directory, verify=False, manifest=fake_set.manifest)


def test_missing_file_and_missing_folder(fake_set, tmp_path):
    (fake_set.directory / "data_batch_4.bin").unlink()
    with pytest.raises(DataError, match=r"data_batch_4\.bin is missing"):
        load_split("train", fake_set.directory, manifest=fake_set.manifest)
    with pytest.raises(DataError, match=r"does not exist \(chosen from --data\)"):
        load_split("test", tmp_path / "absent", manifest=fake_set.manifest)
