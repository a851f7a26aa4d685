"""Post-hoc space-efficient TREC on an int8 spec: settings applied, centred thresholds calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from trecsim import golden, spec as specmod
from trecsim.data import load_sample
from trecsim.golden.posthoc import SeTrecSetting, apply_se_trec, hash_projections
from trecsim.golden.runner import model_input, run_layer


@pytest.fixture(scope="module")
def dense():
    return specmod.load_trained("cifarnet", "dense")


@pytest.fixture(scope="module")
def images():
    return load_sample().images[:40]


def test_centred_thresholds_split_the_calibration_projections_in_half(dense, images):
    spec = apply_se_trec(dense, {"conv2": SeTrecSetting(64, 6, centred=True)}, images)
    layer = spec.layer("conv2")
    assert layer.mode == "se-trec" and layer.attrs["sub_len"] == 64 and layer.attrs["hash_bits"] == 6
    t = layer.arrays["thresholds"]
    assert t.shape == (25, 6) and t.dtype == np.int32
    x = model_input(spec, images)
    for l in spec.layers[:2]:  # conv1, pool1: conv2's input
        x, _ = run_layer(spec, l, [x])
    proj = hash_projections(layer, x, -spec.tensors["pool1"].zero_point, 64, 6)
    above = (proj > t[:, :, None]).mean(axis=-1)
    assert np.all(np.abs(above - 0.5) < 0.01)
    # the golden model runs it and the clusters change with centring
    plain = apply_se_trec(dense, {"conv2": SeTrecSetting(64, 6)})
    assert "thresholds" not in plain.layer("conv2").arrays
    r_c = golden.run(spec, images[:10]).remaining_ratio()["conv2"]
    r_p = golden.run(plain, images[:10]).remaining_ratio()["conv2"]
    assert r_c != r_p


def test_bad_posthoc_requests_are_refused(dense, images):
    with pytest.raises(specmod.SpecError, match="no conv layer fc9"):
        apply_se_trec(dense, {"fc9": SeTrecSetting(64, 6)})
    with pytest.raises(specmod.SpecError, match="calibration images"):
        apply_se_trec(dense, {"conv2": SeTrecSetting(64, 6, centred=True)})
    with pytest.raises(specmod.SpecError, match="does not divide"):
        apply_se_trec(dense, {"conv2": SeTrecSetting(63, 6)})
