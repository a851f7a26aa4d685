"""CLI: train / export / eval argument handling and the committed models."""

from __future__ import annotations

import io
import json

import pytest

from trecsim.cli import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_eval_on_the_bundled_sample_writes_the_json_contract(tmp_path):
    path = tmp_path / "e.json"
    code, out, err = run("eval", "--model", "cifarnet", "--mode", "dense", "--sample", "--quiet", "--json", str(path))
    assert code == 0, err
    assert "int8 golden top-1" in out and "300 images" in out
    doc = json.loads(path.read_text())
    assert {"model", "mode", "images", "accuracy", "layers"} <= doc.keys()
    assert doc["model"] == "cifarnet" and doc["images"] == 300 and 0.7 < doc["accuracy"] <= 1
    assert [l["name"] for l in doc["layers"]] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert all(l["remaining_ratio"] is None for l in doc["layers"])  # dense


def test_eval_of_an_uncommitted_model_says_which_exist(tmp_path, monkeypatch):
    import shutil

    from trecsim import spec

    shutil.copy(spec.trained_path("cifarnet", "dense"), tmp_path / "cifarnet-dense.npz")
    monkeypatch.setenv(spec.TRAINED_DIR_ENV, str(tmp_path))
    assert spec.trained_dir() == tmp_path
    code, _, err = run("eval", "--model", "zfnet", "--mode", "trec", "--sample")
    assert code == 2 and "no committed model zfnet-trec" in err and "cifarnet-dense" in err
    assert str(tmp_path) in err


def test_eval_of_a_corrupt_spec_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 broken")
    code, _, err = run("eval", "--spec", str(bad), "--sample")
    assert code == 2 and "not a readable ModelSpec" in err and "Traceback" not in err


def test_train_rejects_malformed_layer_options_and_bad_l():
    code, _, err = run("train", "--model", "cifarnet", "--layer", "conv2:10")
    assert code == 2 and "NAME=L,H" in err
    code, _, err = run("train", "--model", "cifarnet", "--mode", "trec", "--layer", "conv2=7,8")
    assert code == 2 and "layer conv2" in err and "L=7 does not divide" in err


def test_export_refuses_a_checkpoint_of_another_model(tmp_path):
    torch = pytest.importorskip("torch")
    from trecsim.train.loop import save_atomic

    save_atomic({"format": "trecsim-checkpoint/1", "model": "zfnet"}, tmp_path / "c.pt")
    code, _, err = run("export", "--checkpoint", str(tmp_path / "c.pt"), "--model", "cifarnet")
    assert code == 2 and "checkpoint of model 'zfnet', not 'cifarnet'" in err
    del torch
