"""Export: batch-norm folding, calibration and int8 quantization agree with the float model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trecsim import golden, spec as specmod  # noqa: E402
from trecsim.train import models  # noqa: E402
from trecsim.train.export import export, folded_conv  # noqa: E402
from trecsim.train.loop import CHECKPOINT_FORMAT, _settings_json, to_input  # noqa: E402


def _smooth_images(n: int, seed: int) -> np.ndarray:
    """Random but image-like uint8 pictures (low-frequency colour fields)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 4, 4, 3))
    up = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    return np.clip(up + rng.normal(0, 12, up.shape), 0, 255).astype(np.uint8)


def _checkpoint(name: str, mode: str, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    net = models.build(name, mode)
    for bn in net.norms.values():  # non-trivial batch-norm statistics to fold
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.1, 0.3)
    return {"format": CHECKPOINT_FORMAT, "model": name, "mode": mode, "settings": _settings_json(net.settings()),
            "state_dict": net.state_dict(), "epoch": 0, "test_accuracy": None}, net


def test_folded_conv_equals_conv_then_batch_norm():
    ckpt, net = _checkpoint("cifarnet", "dense")
    net.eval()
    op = net.mdef.convs()[0]
    x = torch.rand(2, 3, 32, 32)
    ref = net.norms["conv1"](net.conv("conv1")(x)).double()
    w, b = folded_conv(net, op)
    got = torch.nn.functional.conv2d(x.double(), torch.from_numpy(w), torch.from_numpy(b))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,mode", [("cifarnet", "dense"), ("cifarnet", "trec"), ("squeezenet", "se-trec"),
                                       ("zfnet", "dense")])
def test_int8_golden_tracks_the_float_model(tmp_path, name, mode):
    ckpt, net = _checkpoint(name, mode)
    spec = export(ckpt, _smooth_images(64, 1), command="test")
    spec = specmod.load(spec.save(tmp_path / "m.npz"))
    assert spec.model == name and spec.mode == mode
    images = _smooth_images(16, 2)
    result = golden.run(spec, images)
    out_t = spec.tensors[spec.output]
    deq = (result.logits.astype(np.float64) - out_t.zero_point) * out_t.scale
    net.eval()
    with torch.no_grad():
        ref = net(to_input(torch.from_numpy(images))).double().numpy()
    corr = np.corrcoef(deq.ravel(), ref.ravel())[0, 1]
    assert corr > (0.98 if mode == "dense" else 0.9), corr
    for layer in spec.layers:
        if layer.op == "conv":
            assert layer.mode == net.conv(layer.name).setting.mode
            if layer.mode == "trec":
                assert np.array_equal(layer.arrays["hash"], net.conv(layer.name).hash_matrix.numpy().astype(np.int8))
            else:
                assert "hash" not in layer.arrays


def test_shared_quantization_for_pool_concat_and_input():
    ckpt, _ = _checkpoint("squeezenet", "dense")
    spec = export(ckpt, _smooth_images(16, 3), command="test")
    t = spec.tensors
    assert (t["input"].scale, t["input"].zero_point) == (1 / 255, 0)
    assert (t["conv1"].scale, t["conv1"].zero_point) == (t["pool1"].scale, t["pool1"].zero_point)
    for i in range(1, 9):
        q = {(t[n].scale, t[n].zero_point) for n in (f"fire{i}.expand1", f"fire{i}.expand3", f"fire{i}.concat")}
        assert len(q) == 1
    assert (t["conv10"].scale, t["conv10"].zero_point) == (t["logits"].scale, t["logits"].zero_point)


def test_centred_thresholds_export_to_the_int8_projection_domain(tmp_path):
    """A centred se-trec conv2: the running medians become int32 thresholds in the int8 kernel's
    projection domain (batch norm's scale, a negative one included, and the quantization scales),
    so the int8 golden model clusters like the float model."""
    torch.manual_seed(3)
    mdef = models.model_def("cifarnet")
    net = models.Net(mdef, models.layer_settings(mdef, "se-trec", overrides={"conv2": (64, 8, True)}))
    for bn in net.norms.values():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
    net.norms["conv2"].weight.data[1] = -0.8  # bit 1 flips on the board: the clusters must not change
    images = _smooth_images(48, 4)
    net.train()
    with torch.no_grad():  # a few batches set the running median
        for _ in range(3):
            net(to_input(torch.from_numpy(images)))
    net.eval()
    ckpt = {"format": CHECKPOINT_FORMAT, "model": "cifarnet", "mode": "se-trec",
            "settings": _settings_json(net.settings()), "state_dict": net.state_dict(), "epoch": 1,
            "test_accuracy": None}
    spec = specmod.load(export(ckpt, images, command="test").save(tmp_path / "c.npz"))
    t = spec.layer("conv2").arrays["thresholds"]
    assert t.dtype == np.int32 and t.shape == (25, 8) and np.abs(t).max() > 0
    test = _smooth_images(8, 5)
    with torch.no_grad():
        net(to_input(torch.from_numpy(test)))
    float_clusters = net.conv("conv2").last_clusters.numpy()
    got = golden.run(spec, test).clusters["conv2"]
    # the int8 input and weights move a few projections across their thresholds, nothing more
    assert abs(int(got.sum()) - int(float_clusters.sum())) <= 0.05 * float_clusters.sum()
    zeroed = specmod.from_json(spec.to_json(), {f"{l.name}/{k}": (np.zeros_like(a) if k == "thresholds" else a)
                                                for l in spec.layers for k, a in l.arrays.items()})
    assert golden.run(zeroed, test).clusters["conv2"].sum() != got.sum()  # the thresholds do something


def test_a_modelspec_dequantizes_back_into_the_float_model():
    """train --init SPEC.npz: state_from_spec is the inverse of the export (up to int8 rounding), with
    batch norm as the identity."""
    from trecsim.errors import ConfigError
    from trecsim.train.loop import state_from_spec
    ckpt, net = _checkpoint("cifarnet", "dense", seed=7)
    spec = export(ckpt, _smooth_images(64, 1), command="test")
    back = models.build("cifarnet", "dense")
    back.load_state_dict(state_from_spec(back, spec))
    net.eval()
    back.eval()
    x = to_input(torch.from_numpy(_smooth_images(8, 3)))
    with torch.no_grad():
        want, got = net(x), back(x)
    assert float((got - want).abs().max()) <= 0.05 * float(want.abs().max())
    for key, bn in back.norms.items():
        assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)
    with pytest.raises(ConfigError, match="not 'zfnet'"):
        state_from_spec(models.build("zfnet", "dense"), spec)
