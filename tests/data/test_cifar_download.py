"""download_dataset against a loopback HTTP server: all or nothing."""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import replace

import pytest

from trecsim.data import download_dataset, load_split, verify_dataset
from trecsim.errors import DataError

from conftest import tar_gz_of, write_fake_dataset  # noqa: E402  (tests/data on sys.path)


@pytest.fixture
def served(fake_set, http_server):
    """The fake set as a served archive, and a manifest whose md5 matches it."""
    body = tar_gz_of(fake_set.directory, extra={"cifar-10-batches-bin/readme.html": b"<html></html>"})
    url = http_server.serve("/cifar-10-binary.tar.gz", body)
    manifest = replace(fake_set.manifest, archive_url=url, archive_md5=hashlib.md5(body).hexdigest())
    return body, manifest


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_download_success_with_progress(tmp_path, served, http_server):
    body, manifest = served
    target = tmp_path / "out" / "cifar-10-batches-bin"
    calls = []
    result = download_dataset(target, manifest=manifest, on_progress=lambda d, t: calls.append((d, t)))
    assert result == target
    assert verify_dataset(target, manifest).ok
    assert "readme.html" in _entries(target)
    assert _entries(target.parent) == ["cifar-10-batches-bin"]  # no temporary files left
    assert calls and calls[-1] == (len(body), len(body))
    assert all(total == len(body) for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == len(done)
    assert load_split("test", target, manifest=manifest).images.shape == (20, 32, 32, 3)
    assert http_server.requests == ["/cifar-10-binary.tar.gz"]


def test_good_existing_dataset_makes_no_request(served, http_server, fake_set):
    _, manifest = served
    assert download_dataset(fake_set.directory, manifest=manifest) == fake_set.directory
    assert download_dataset(fake_set.directory.parent, manifest=manifest) == fake_set.directory
    assert http_server.requests == []


def test_default_target_is_user_cache(served, monkeypatch, tmp_path):
    _, manifest = served
    monkeypatch.delenv("TRECSIM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = download_dataset(manifest=manifest)
    assert result == tmp_path / "cache" / "trecsim" / "cifar-10-batches-bin"
    assert verify_dataset(result, manifest).ok


def _assert_failed_cleanly(parent, expected_entries=()):
    assert sorted(p.name for p in parent.iterdir()) == sorted(expected_entries)


def test_wrong_md5_leaves_nothing(tmp_path, served):
    body, manifest = served
    manifest = replace(manifest, archive_md5="f" * 32)
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(DataError) as caught:
        download_dataset(parent / "cifar-10-batches-bin", manifest=manifest)
    message = str(caught.value)
    assert f"md5 of the downloaded archive is {hashlib.md5(body).hexdigest()}, expected {'f' * 32}" in message
    assert manifest.archive_url in message
    assert "python -m trecsim data verify --data" in message
    _assert_failed_cleanly(parent)


def test_missing_parents_are_removed_again(tmp_path, served):
    _, manifest = served
    manifest = replace(manifest, archive_md5="f" * 32)
    with pytest.raises(DataError):
        download_dataset(tmp_path / "a" / "b" / "cifar-10-batches-bin", manifest=manifest)
    assert not (tmp_path / "a").exists()


def test_truncated_archive(tmp_path, served, http_server):
    body, manifest = served
    half = body[: len(body) // 2]
    url = http_server.serve("/half.tar.gz", half)
    # md5 matching the half: the damage is only found when unpacking.
    manifest = replace(manifest, archive_url=url, archive_md5=hashlib.md5(half).hexdigest())
    with pytest.raises(DataError, match="damaged or truncated"):
        download_dataset(tmp_path / "cifar-10-batches-bin", manifest=manifest)
    _assert_failed_cleanly(tmp_path, ["fake"])


def test_http_404(tmp_path, served, http_server):
    _, manifest = served
    url = http_server.base + "/nothing-here.tar.gz"
    with pytest.raises(DataError, match="HTTP 404") as caught:
        download_dataset(tmp_path / "cifar-10-batches-bin", manifest=manifest, url=url)
    assert url in str(caught.value)
    _assert_failed_cleanly(tmp_path, ["fake"])


def test_server_closing_mid_stream(tmp_path, served, http_server):
    body, manifest = served
    url = http_server.serve("/drop.tar.gz", body, mode="drop")
    with pytest.raises(DataError, match=rf"stopped after {len(body) // 2} of {len(body)} bytes"):
        download_dataset(tmp_path / "cifar-10-batches-bin", manifest=manifest, url=url)
    _assert_failed_cleanly(tmp_path, ["fake"])


def test_connection_refused(tmp_path, served, http_server):
    _, manifest = served
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataError, match="cannot reach the server"):
        download_dataset(tmp_path / "x", manifest=manifest, url=f"http://127.0.0.1:{port}/a.tar.gz", timeout=5)
    _assert_failed_cleanly(tmp_path, ["fake"])


def test_keyboard_interrupt_leaves_nothing(tmp_path, served):
    _, manifest = served

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_dataset(tmp_path / "cifar-10-batches-bin", manifest=manifest, on_progress=interrupt)
    _assert_failed_cleanly(tmp_path, ["fake"])


def test_archive_that_fails_verification(tmp_path, fake_set, http_server):
    bad = write_fake_dataset(tmp_path / "bad" / "cifar-10-batches-bin", seed=1)
    body = tar_gz_of(bad.directory)
    url = http_server.serve("/bad.tar.gz", body)
    manifest = replace(fake_set.manifest, archive_url=url, archive_md5=hashlib.md5(body).hexdigest())
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(DataError, match=r"failed verification: data_batch_1\.bin is corrupted"):
        download_dataset(parent / "cifar-10-batches-bin", manifest=manifest)
    _assert_failed_cleanly(parent)


def test_unsafe_archive_is_rejected(tmp_path, fake_set, http_server):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    body = buffer.getvalue()
    url = http_server.serve("/evil.tar.gz", body)
    manifest = replace(fake_set.manifest, archive_url=url, archive_md5=hashlib.md5(body).hexdigest())
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(DataError, match="unsafe path"):
        download_dataset(parent / "cifar-10-batches-bin", manifest=manifest)
    _assert_failed_cleanly(parent)
    assert not (tmp_path / "escape.txt").exists()


def test_force_replaces_and_keeps_old_on_failure(tmp_path, served, http_server, fake_set):
    body, manifest = served
    target = tmp_path / "data" / "cifar-10-batches-bin"
    download_dataset(target, manifest=manifest)
    marker = (target / "test_batch.bin").stat().st_ino

    broken = replace(manifest, archive_md5="0" * 32)
    with pytest.raises(DataError):
        download_dataset(target, manifest=broken, force=True)
    assert (target / "test_batch.bin").stat().st_ino == marker
    assert verify_dataset(target, manifest).ok
    _assert_failed_cleanly(target.parent, ["cifar-10-batches-bin"])

    with pytest.raises(DataError, match="HTTP 404"):
        download_dataset(target, manifest=manifest, url=http_server.base + "/gone", force=True)
    assert verify_dataset(target, manifest).ok

    requests_before = len(http_server.requests)
    download_dataset(target, manifest=manifest, force=True)
    assert len(http_server.requests) == requests_before + 1
    assert (target / "test_batch.bin").stat().st_ino != marker
    assert verify_dataset(target, manifest).ok
    _assert_failed_cleanly(target.parent, ["cifar-10-batches-bin"])


def test_broken_existing_dataset_is_replaced_without_force(served, fake_set, http_server):
    _, manifest = served
    (fake_set.directory / "data_batch_2.bin").write_bytes(b"short")
    assert download_dataset(fake_set.directory, manifest=manifest) == fake_set.directory
    assert verify_dataset(fake_set.directory, manifest).ok
    assert len(http_server.requests) == 1


def test_foreign_files_are_never_deleted(served, fake_set, http_server):
    _, manifest = served
    (fake_set.directory / "data_batch_2.bin").unlink()
    (fake_set.directory / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"notes\.txt"):
        download_dataset(fake_set.directory, manifest=manifest)
    assert (fake_set.directory / "notes.txt").read_text() == "mine"
    assert http_server.requests == []


def test_non_empty_unrelated_folder_gets_a_subfolder(tmp_path, served):
    _, manifest = served
    home = tmp_path / "datasets"
    home.mkdir()
    (home / "other.txt").write_text("keep")
    result = download_dataset(home, manifest=manifest)
    assert result == home / "cifar-10-batches-bin"
    assert sorted(p.name for p in home.iterdir()) == ["cifar-10-batches-bin", "other.txt"]
    assert verify_dataset(home, manifest).ok
