"""resolve_data_dir: --data, then $TRECSIM_DATA, then the user cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from trecsim.data import default_cache_dir, resolve_data_dir


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("TRECSIM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return monkeypatch


def test_user_cache_is_last(clean_env, tmp_path):
    expected = tmp_path / "xdg-cache" / "trecsim" / "cifar-10-batches-bin"
    assert default_cache_dir() == expected
    assert resolve_data_dir() == (expected, "user cache")
    assert not expected.exists()  # nothing is created


def test_env_beats_cache(clean_env, tmp_path):
    clean_env.setenv("TRECSIM_DATA", str(tmp_path / "from-env"))
    assert resolve_data_dir() == (tmp_path / "from-env", "TRECSIM_DATA")
    assert resolve_data_dir(None) == (tmp_path / "from-env", "TRECSIM_DATA")


def test_explicit_beats_env(clean_env, tmp_path):
    clean_env.setenv("TRECSIM_DATA", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "explicit") == (tmp_path / "explicit", "--data")
    assert resolve_data_dir(str(tmp_path / "explicit")) == (tmp_path / "explicit", "--data")


def test_empty_values_are_ignored(clean_env, tmp_path):
    clean_env.setenv("TRECSIM_DATA", "  ")
    assert resolve_data_dir("")[1] == "user cache"


def test_relative_and_home_paths_become_absolute(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    clean_env.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir("rel") == (tmp_path / "rel", "--data")
    assert resolve_data_dir("~/data") == (tmp_path / "home" / "data", "--data")


def test_parent_folder_resolves_to_batches_folder(clean_env, fake_set):
    parent = fake_set.directory.parent
    assert resolve_data_dir(parent) == (fake_set.directory, "--data")
    clean_env.setenv("TRECSIM_DATA", str(parent))
    assert resolve_data_dir() == (fake_set.directory, "TRECSIM_DATA")
    # The batches folder itself is kept as is.
    assert resolve_data_dir(fake_set.directory) == (fake_set.directory, "--data")


def test_folder_with_its_own_files_is_not_redirected(clean_env, tmp_path):
    (tmp_path / "d" / "cifar-10-batches-bin").mkdir(parents=True)
    (tmp_path / "d" / "test_batch.bin").write_bytes(b"")
    assert resolve_data_dir(tmp_path / "d")[0] == tmp_path / "d"
    assert isinstance(resolve_data_dir(tmp_path / "d")[0], Path)
