"""Training loop: seeded, resumable, refuses foreign checkpoints; models and settings."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from trecsim.errors import ConfigError  # noqa: E402
from trecsim.train import models  # noqa: E402
from trecsim.train.loop import TrainConfig, augment, load_checkpoint, save_atomic, train  # noqa: E402


@pytest.mark.parametrize("name,macs_m,params_m", [("cifarnet", 14.69, 0.798), ("zfnet", 58.08, 0.588),
                                                  ("squeezenet", 52.54, 0.735)])
def test_models_have_the_documented_size_and_run_in_every_mode(name, macs_m, params_m):
    mdef = models.model_def(name)
    assert sum(models.macs(mdef).values()) / 1e6 == pytest.approx(macs_m, abs=0.01)
    for mode in ("dense", "trec", "se-trec"):
        net = models.build(name, mode)
        n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
        assert n_params / 1e6 == pytest.approx(params_m, abs=0.01)
        out = net(torch.rand(2, 3, 32, 32))
        assert out.shape == (2, 10)
        ratios = net.remaining_ratios()
        assert all((r is None) == (mode == "dense" or name_ not in mdef.trec_layers) for name_, r in ratios.items())


def test_kernel_reuse_applies_to_the_first_g_trec_layers():
    mdef = models.model_def("squeezenet")
    s = models.layer_settings(mdef, "se-trec", kernel_reuse_layers=3)
    reuse = [k for k, v in s.items() if v.mode == "se-trec"]
    assert reuse == ["fire1.expand3", "fire2.expand3", "fire3.expand3"]
    assert s["fire4.expand3"].mode == "trec" and s["fire1.expand1"].mode == "dense"
    assert s["conv10"].mode == "dense"
    with pytest.raises(ConfigError, match="G=99"):
        models.layer_settings(mdef, "se-trec", kernel_reuse_layers=99)
    with pytest.raises(ConfigError, match="no conv layer 'conv9'"):
        models.layer_settings(mdef, "trec", overrides={"conv9": (3, 3)})


def test_augment_keeps_shape_and_flips_or_shifts_pixels():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert not torch.equal(x, y)


def test_foreign_or_broken_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    save_atomic({"format": "trecsim-checkpoint/1", "model": "zfnet"}, tmp_path / "z.pt")
    with pytest.raises(ConfigError, match="checkpoint of model 'zfnet', not 'cifarnet'"):
        load_checkpoint(tmp_path / "z.pt", model="cifarnet")
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")


@pytest.mark.dataset
@pytest.mark.slow
def test_resuming_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, real_data_dir):
    data = real_data_dir
    cfg = TrainConfig(model="cifarnet", mode="trec", epochs=2, batch_size=64, train_images=256, test_images=64)
    full = train(cfg, tmp_path / "full", data_dir=str(data))
    train(TrainConfig(**{**cfg.__dict__, "epochs": 2}), tmp_path / "part", data_dir=str(data),
          stop_after_epoch=1)
    resumed = train(cfg, tmp_path / "part", resume=True, data_dir=str(data))
    assert resumed["epoch"] == 2
    for k, v in full["state_dict"].items():
        assert torch.equal(v, resumed["state_dict"][k]), k
