"""ModelSpec files: round trip, validation naming the layer, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trecsim import spec as S


def small_spec(mode: str = "trec") -> S.ModelSpec:
    rng = np.random.default_rng(0)
    t = {
        "input": S.TensorSpec("input", (8, 8, 3), 1 / 255, -128),
        "conv1": S.TensorSpec("conv1", (8, 8, 4), 0.05, -128),
        "pool1": S.TensorSpec("pool1", (4, 4, 4), 0.05, -128),
        "logits": S.TensorSpec("logits", (10,), 0.1, 3),
    }
    conv_attrs = {"kernel": 3, "stride": 1, "padding": 1, "relu": True, "mode": mode}
    conv_arrays = {"weight": rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8),
                   "bias": np.zeros(4, np.int32), "multiplier": np.full(4, 1 << 30, np.int32),
                   "shift": np.full(4, -3, np.int32)}
    if mode != "dense":
        conv_attrs.update(sub_len=9, hash_bits=4)
    if mode == "trec":
        conv_arrays["hash"] = rng.integers(-127, 128, (9, 4), dtype=np.int8)
    layers = (
        S.LayerSpec("conv1", "conv", ("input",), "conv1", conv_attrs, conv_arrays),
        S.LayerSpec("pool1", "maxpool", ("conv1",), "pool1", {"kernel": 2, "stride": 2}),
        S.LayerSpec("fc", "fc", ("pool1",), "logits", {"relu": False},
                    {"weight": rng.integers(-127, 128, (10, 64), dtype=np.int8), "bias": np.zeros(10, np.int32),
                     "multiplier": np.full(10, 1 << 30, np.int32), "shift": np.full(10, -4, np.int32)}),
    )
    return S.ModelSpec("tiny", mode, "input", "logits", t, layers, {"note": "test"})


@pytest.mark.parametrize("mode", ["dense", "trec", "se-trec"])
def test_save_and_load_round_trip(tmp_path, mode):
    spec = small_spec(mode)
    path = spec.save(tmp_path / "m.npz")
    back = S.load(path)
    assert back.to_json() == spec.to_json()
    for a, b in zip(spec.layers, back.layers):
        assert a.arrays.keys() == b.arrays.keys()
        for k in a.arrays:
            assert np.array_equal(a.arrays[k], b.arrays[k]) and a.arrays[k].dtype == b.arrays[k].dtype
    assert not list(tmp_path.glob("*.tmp"))
    assert back.macs() == {"conv1": 8 * 8 * 4 * 27, "fc": 640}


def _rewrite(tmp_path, spec, edit_doc=None, drop=None):
    path = spec.save(tmp_path / "m.npz")
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    doc = json.loads(bytes(data["__spec__"]).decode())
    if edit_doc:
        edit_doc(doc)
    if drop:
        del data[drop]
    data["__spec__"] = np.frombuffer(json.dumps(doc).encode(), np.uint8)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **data)
    return bad


def test_missing_array_names_the_layer(tmp_path):
    bad = _rewrite(tmp_path, small_spec(), drop="conv1/bias")
    with pytest.raises(S.SpecError, match=r"layer conv1: array 'bias' is missing"):
        S.load(bad)


def test_l_not_dividing_k_names_the_layer_and_the_divisors(tmp_path):
    def edit(doc):
        doc["layers"][0]["attrs"]["sub_len"] = 7
    with pytest.raises(S.SpecError, match=r"layer conv1: L=7 does not divide K=27.*divisors of 27"):
        S.load(_rewrite(tmp_path, small_spec(), edit))


def test_wrong_shapes_are_refused(tmp_path):
    def edit(doc):
        doc["tensors"][1]["shape"] = [7, 8, 4]
    with pytest.raises(S.SpecError, match=r"layer conv1: output shape \(7, 8, 4\) should be \(8, 8, 4\)"):
        S.load(_rewrite(tmp_path, small_spec(), edit))
    spec = small_spec("dense")
    spec.layers[2].arrays["weight"] = np.zeros((10, 63), np.int8)
    with pytest.raises(S.SpecError, match=r"layer fc: weight shape \(10, 63\)"):
        S.validate(spec)


def test_plain_trec_needs_its_hash_matrix():
    spec = small_spec("trec")
    del spec.layers[0].arrays["hash"]
    with pytest.raises(S.SpecError, match=r"layer conv1: plain TREC needs an int8 'hash' array of shape \(9, 4\)"):
        S.validate(spec)


def test_centred_thresholds_are_checked_for_mode_dtype_shape_and_range(tmp_path):
    spec = small_spec("se-trec")  # K = 27, L = 9: M = 3 sub-matrices, H = 4
    spec.layers[0].arrays["thresholds"] = np.arange(12, dtype=np.int32).reshape(3, 4)
    loaded = S.load(spec.save(tmp_path / "c.npz"))
    np.testing.assert_array_equal(loaded.layers[0].arrays["thresholds"], spec.layers[0].arrays["thresholds"])
    for bad, what in ((np.zeros((3, 5), np.int32), r"int32 \(3, 5\), expected int32 \(3, 4\)"),
                      (np.zeros((3, 4), np.float32), "float32"),
                      (np.full((3, 4), 1 << 24, np.int32), "beyond the limit")):
        spec.layers[0].arrays["thresholds"] = bad
        with pytest.raises(S.SpecError, match=what):
            S.validate(spec)
    plain = small_spec("trec")
    plain.layers[0].arrays["thresholds"] = np.zeros((3, 4), np.int32)
    with pytest.raises(S.SpecError, match="se-trec layers only"):
        S.validate(plain)


def test_unreadable_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(S.SpecError, match="not a readable ModelSpec"):
        S.load(junk)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(S.SpecError, match="has no __spec__"):
        S.load(tmp_path / "other.npz")
    with pytest.raises(S.SpecError, match="does not exist"):
        S.load(tmp_path / "missing.npz")


def test_unknown_committed_model_lists_the_available_ones():
    with pytest.raises(S.SpecError, match=r"no committed model nonet-dense.*use one of"):
        S.load_trained("nonet", "dense")
