"""Training on CIFAR-10: seeded, resumable, checkpointed, with a progress bar.

Recipe (CPU-friendly): SGD with Nesterov momentum 0.9, weight decay 5e-4 (not on
batch-norm or bias parameters), one-cycle learning rate (15% warm-up, cosine
decay), batch 128, random crop (4-pixel zero padding) and horizontal flip.
Input is ``(pixel - 128) / 255`` in NCHW: the board's int8 input is ``pixel - 128``
with scale 1/255 and zero point 0, so zero padding (mid-grey) means the same in
both, and the sign hashes of a first TREC layer see centred, signed data (with
an all-positive input every random hyperplane puts almost all patches on the same
side, and clustering collapses).

TREC modes are trained by fine-tuning a dense checkpoint (``init``): clustering
is then applied in every forward pass, per image, exactly as on the board.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trecsim.data import load_split
from trecsim.errors import ConfigError
from trecsim.train.models import Net, build, layer_settings, model_def
from trecsim.train.trec import TrecSetting

CHECKPOINT_FORMAT = "trecsim-checkpoint/1"


@dataclass
class TrainConfig:
    model: str
    mode: str = "dense"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    seed: int = 0
    kernel_reuse_layers: int | None = None  # G; None = every TREC layer
    overrides: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (L, H)
    init: str | None = None  # checkpoint (weights only) or int8 ModelSpec (.npz, dequantized) to start from
    freeze_bn: bool = False  # batch norm in inference mode throughout (set when init is a ModelSpec)
    train_images: int | None = None  # a prefix of the training set (quick runs, tests)
    test_images: int | None = None


def to_input(images_nhwc_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 32, 32, 3) -> float (B, 3, 32, 32), (pixel - 128) / 255."""
    return images_nhwc_u8.permute(0, 3, 1, 2).float().sub_(128.0).div_(255.0)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and random horizontal flip, vectorised. x (B, C, 32, 32)."""
    b, c, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (b,), generator=gen)
    dx = torch.randint(0, 9, (b,), generator=gen)
    rows = (dy.view(b, 1) + torch.arange(h).view(1, h))  # (B, H)
    cols = (dx.view(b, 1) + torch.arange(w).view(1, w))  # (B, W)
    flip = torch.rand(b, generator=gen) < 0.5
    cols = torch.where(flip.view(b, 1), cols.flip(1), cols)
    bi = torch.arange(b).view(b, 1, 1)
    out = padded.permute(0, 2, 3, 1)[bi, rows.view(b, h, 1), cols.view(b, 1, w)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def _settings_json(settings: dict[str, TrecSetting]) -> dict[str, list]:
    return {k: [s.mode, s.sub_len, s.hash_bits] + ([True] if s.centred else []) for k, s in settings.items()}


def _settings_from_json(data: dict[str, list]) -> dict[str, TrecSetting]:
    return {k: TrecSetting(v[0], v[1], v[2], bool(v[3]) if len(v) > 3 else False) for k, v in data.items()}


def save_atomic(obj, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, *, model: str | None = None) -> dict:
    """Loads a checkpoint; a file that is not one, or one of another model, is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist",
                          fix="train first with `python -m trecsim train --model M` or give the right path")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ConfigError(f"{path} is not a readable checkpoint ({exc.__class__.__name__}: {exc})",
                          fix="retrain, or point to the checkpoint.pt that `trecsim train` wrote") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a trecsim checkpoint (format {CHECKPOINT_FORMAT})",
                          fix="use a checkpoint.pt written by `python -m trecsim train`")
    if model is not None and ckpt["model"] != model:
        raise ConfigError(f"{path} is a checkpoint of model '{ckpt['model']}', not '{model}'",
                          fix=f"use --model {ckpt['model']} or a checkpoint of {model}")
    return ckpt


def state_from_spec(net: Net, spec) -> dict[str, torch.Tensor]:
    """Float weights of an int8 ModelSpec for ``net`` (same model): the inverse of the export.

    Each conv and fc gets its dequantized folded weights ``q * s_w`` and bias ``b * s_in * s_w``,
    where ``s_w[c] = multiplier[c] * 2**(shift[c] - 31) * s_out / s_in`` (the requantization
    scale the export wrote); batch norm becomes the identity (gamma 1, beta 0, mean 0, variance
    1 - eps), to be kept in inference mode while fine-tuning (``freeze_bn``): the float net then
    computes what the int8 model computes, up to the activations' quantization.
    """
    if spec.model != net.mdef.name:
        raise ConfigError(f"the ModelSpec is of model '{spec.model}', not '{net.mdef.name}'",
                          fix=f"use --model {spec.model} or a ModelSpec of {net.mdef.name}")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    for layer in spec.layers:
        if layer.op not in ("conv", "fc"):
            continue
        a = layer.arrays
        s_in = spec.tensors[layer.inputs[0]].scale
        s_out = spec.tensors[layer.output].scale
        real = a["multiplier"].astype(np.float64) * np.exp2(a["shift"].astype(np.float64) - 31)
        s_w = real * s_out / s_in
        key = layer.name.replace(".", "_")
        if layer.op == "conv":
            w = a["weight"].astype(np.float64) * s_w[:, None, None, None]  # (C_out, kh, kw, C_in)
            w = w.transpose(0, 3, 1, 2)  # torch's (C_out, C_in, kh, kw)
            prefix = f"convs.{key}."
            if f"norms.{key}.weight" in state:
                bn = net.norms[key]
                state[f"norms.{key}.weight"] = torch.ones_like(bn.weight)
                state[f"norms.{key}.bias"] = torch.zeros_like(bn.bias)
                state[f"norms.{key}.running_mean"] = torch.zeros_like(bn.running_mean)
                state[f"norms.{key}.running_var"] = torch.full_like(bn.running_var, 1.0 - bn.eps)
        else:
            w = a["weight"].astype(np.float64) * s_w[:, None]
            prefix = f"fcs.{key}."
        if state[prefix + "weight"].shape != w.shape:
            raise ConfigError(f"layer {layer.name}: the ModelSpec's weights are {w.shape}, the model's "
                              f"{tuple(state[prefix + 'weight'].shape)}", fix="use a ModelSpec of the same model")
        state[prefix + "weight"] = torch.from_numpy(w).float()
        state[prefix + "bias"] = torch.from_numpy(a["bias"].astype(np.float64) * s_in * s_w).float()
    return state


def net_from_checkpoint(ckpt: dict) -> Net:
    net = Net(model_def(ckpt["model"]), _settings_from_json(ckpt["settings"]))
    net.load_state_dict(ckpt["state_dict"])
    return net


@torch.no_grad()
def evaluate(net: Net, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
             batch: int = 500) -> tuple[float, dict[str, float | None]]:
    """Float top-1 accuracy and mean remaining ratio per conv layer (clustering per image)."""
    net.eval()
    correct = 0
    ratio_sum: dict[str, float] = {}
    for i in range(0, len(images), batch):
        x = to_input(images[i:i + batch]).to(device)
        correct += int((net(x).argmax(1).cpu() == labels[i:i + batch]).sum())
        for name, r in net.remaining_ratios().items():
            if r is not None:
                ratio_sum[name] = ratio_sum.get(name, 0.0) + r * len(x)
    ratios = {c.name: (ratio_sum[c.name] / len(images) if c.name in ratio_sum else None)
              for c in net.mdef.convs()}
    return correct / len(images), ratios


def _param_groups(net: Net, weight_decay: float):
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (no_decay if p.dim() == 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(cfg: TrainConfig, out_dir: Path, *, resume: bool = False, data_dir: str | None = None,
          progress: Callable | None = None, log: Callable[[str], None] = lambda s: None,
          stop_after_epoch: int | None = None) -> dict:
    """Trains and writes ``out_dir/checkpoint.pt`` after every epoch; returns the final checkpoint.

    ``progress(iterable, total, desc)`` wraps the batch loop (tqdm in the CLI).
    ``stop_after_epoch`` ends the run early, as an interruption would (tests of resuming).
    """
    ckpt_path = out_dir / "checkpoint.pt"
    mdef = model_def(cfg.model)
    settings = layer_settings(mdef, cfg.mode, kernel_reuse_layers=cfg.kernel_reuse_layers,
                              overrides=cfg.overrides)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    net = Net(mdef, settings)
    state = None
    if cfg.init and str(cfg.init).endswith(".npz"):
        cfg.freeze_bn = True  # a ModelSpec's batch norm is folded: keep it the identity (also on --resume)
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, model=mdef.name)
        if state["settings"] != _settings_json(settings):
            raise ConfigError(f"{ckpt_path} was trained with other layer settings ({state['settings']})",
                              fix="resume with the same --mode/-G/--layer options or use another --out")
        net.load_state_dict(state["state_dict"])
        log(f"resuming {ckpt_path} after epoch {state['epoch']}")
    elif cfg.init and str(cfg.init).endswith(".npz"):
        from trecsim import spec as specmod

        net.load_state_dict(state_from_spec(net, specmod.load(cfg.init)))
        log(f"initialised from the int8 ModelSpec {cfg.init} (dequantized; batch norm frozen)")
    elif cfg.init:
        init = load_checkpoint(cfg.init, model=mdef.name)
        missing = net.load_state_dict({k: v for k, v in init["state_dict"].items()
                                       if not k.endswith("hash_matrix")}, strict=False)
        if missing.unexpected_keys or [k for k in missing.missing_keys if not k.endswith("hash_matrix")]:
            raise ConfigError(f"{cfg.init} does not match model {mdef.name}: {missing}",
                              fix="use a checkpoint of the same model")
        log(f"initialised from {cfg.init} (its test accuracy {init.get('test_accuracy')})")
    net.to(device)

    train_split = load_split("train", data_dir)
    test_split = load_split("test", data_dir)
    x_train = torch.from_numpy(train_split.images[:cfg.train_images])
    y_train = torch.from_numpy(train_split.labels[:cfg.train_images].astype(np.int64))
    x_test = torch.from_numpy(test_split.images[:cfg.test_images])
    y_test = torch.from_numpy(test_split.labels[:cfg.test_images].astype(np.int64))

    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    opt = torch.optim.SGD(_param_groups(net, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=cfg.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.15,
                                                div_factor=10, final_div_factor=100)
    gen = torch.Generator().manual_seed(cfg.seed)
    start_epoch, history = 0, []
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, history = state["epoch"], state["history"]

    ckpt = state or {}
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        if cfg.freeze_bn:
            for bn in net.norms.values():
                bn.eval()
        order = torch.randperm(len(x_train), generator=gen)
        batches = range(steps_per_epoch)
        if progress:
            batches = progress(batches, steps_per_epoch, f"{mdef.name} {cfg.mode} epoch {epoch + 1}/{cfg.epochs}")
        t0, loss_sum, correct, seen = time.time(), 0.0, 0, 0
        for i in batches:
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x = augment(to_input(x_train[idx]), gen).to(device)
            y = y_train[idx].to(device)
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        acc, ratios = evaluate(net, x_test, y_test, device)
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "train_accuracy": correct / seen,
                        "test_accuracy": acc, "seconds": time.time() - t0,
                        "remaining_ratio": {k: v for k, v in ratios.items() if v is not None}})
        log(f"epoch {epoch + 1}: loss {loss_sum / seen:.4f}, train {correct / seen:.4f}, "
            f"test {acc:.4f} ({time.time() - t0:.0f} s)")
        ckpt = {"format": CHECKPOINT_FORMAT, "model": mdef.name, "mode": cfg.mode,
                "settings": _settings_json(net.settings()), "config": asdict(cfg), "epoch": epoch + 1,
                "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(), "history": history, "test_accuracy": acc,
                "test_images": len(x_test),
                "torch_version": torch.__version__}
        save_atomic(ckpt, ckpt_path)
        (out_dir / "history.json").write_text(json.dumps(history, indent=1))
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    return ckpt
