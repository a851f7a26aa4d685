"""verify_dataset on a tiny fake dataset."""

from __future__ import annotations

import pytest

from trecsim.data import STATUSES, verify_dataset
from trecsim.errors import DataError


def _status(report, name):
    return next(check for check in report.files if check.name == name)


def test_good_fake_set_verifies_with_progress(fake_set):
    calls = []
    report = verify_dataset(fake_set.directory, fake_set.manifest, on_progress=lambda d, t: calls.append((d, t)))
    assert report.ok
    assert report.directory == fake_set.directory
    assert [c.name for c in report.files] == [s.name for s in fake_set.manifest.files]
    assert all(c.status == "ok" for c in report.files)
    assert report.raise_for_problems() is report
    total = 6 * 20 * 3073
    assert calls[-1] == (total, total)
    done = [d for d, _ in calls]
    assert done == sorted(done)


def test_parent_folder_is_accepted(fake_set):
    report = verify_dataset(fake_set.directory.parent, fake_set.manifest)
    assert report.ok and report.directory == fake_set.directory


def test_flipped_byte_is_corrupted(fake_set):
    path = fake_set.directory / "data_batch_3.bin"
    data = bytearray(path.read_bytes())
    data[5000] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify_dataset(fake_set.directory, fake_set.manifest)
    assert not report.ok
    check = _status(report, "data_batch_3.bin")
    assert check.status == "corrupted"
    assert fake_set.manifest.file("data_batch_3.bin").sha256[:12] in check.detail
    assert [c.name for c in report.problems] == ["data_batch_3.bin"]
    with pytest.raises(DataError) as caught:
        report.raise_for_problems()
    message = str(caught.value)
    assert "data_batch_3.bin" in message and "corrupted" in message
    assert "python -m trecsim data download" in message
    assert str(fake_set.directory) in message


def test_truncated_and_oversized_give_byte_counts(fake_set):
    test = fake_set.directory / "test_batch.bin"
    test.write_bytes(test.read_bytes()[:1000])
    batch = fake_set.directory / "data_batch_1.bin"
    batch.write_bytes(batch.read_bytes() + b"x")
    report = verify_dataset(fake_set.directory, fake_set.manifest)
    size = 20 * 3073
    assert _status(report, "test_batch.bin").status == "truncated"
    assert _status(report, "test_batch.bin").detail == f"1000 of {size} bytes"
    assert _status(report, "data_batch_1.bin").status == "oversized"
    assert str(size + 1) in _status(report, "data_batch_1.bin").detail
    with pytest.raises(DataError, match=r"test_batch\.bin is truncated \(1000 of 61460 bytes\)") as caught:
        report.raise_for_problems()
    assert "data_batch_1.bin is oversized" in str(caught.value)


def test_missing_file_and_bad_meta(fake_set):
    (fake_set.directory / "data_batch_5.bin").unlink()
    (fake_set.directory / "batches.meta.txt").write_text("airplane\nautomobile\nbirb\n")
    report = verify_dataset(fake_set.directory, fake_set.manifest)
    assert _status(report, "data_batch_5.bin").status == "missing"
    meta = _status(report, "batches.meta.txt")
    assert meta.status == "corrupted" and "'birb'" in meta.detail
    assert {c.status for c in report.files} <= set(STATUSES)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]), "ok"),
        ("airplane \r\nautomobile\r\nbird\r\ncat\r\ndeer\r\ndog\r\nfrog\r\nhorse\r\nship\r\ntruck\r\n\r\n", "ok"),
        ("airplane\nautomobile\nbi", "truncated"),
        ("", "truncated"),
        ("truck\nship\n", "corrupted"),
    ],
)
def test_meta_content_check(fake_set, text, status):
    (fake_set.directory / "batches.meta.txt").write_text(text, newline="")
    report = verify_dataset(fake_set.directory, fake_set.manifest)
    assert [c.status for c in report.files if c.name == "batches.meta.txt"] == [status]


def test_missing_directory_explains_lookup(tmp_path, fake_set):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as caught:
        verify_dataset(missing, fake_set.manifest)
    message = str(caught.value)
    assert str(missing) in message
    assert "TRECSIM_DATA" in message and "--data" in message
    assert "python -m trecsim data download --data" in message
