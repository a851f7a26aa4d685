"""Checkpoint (float, batch norm) -> int8 ModelSpec (framework-free).

1. Fold every batch norm into its conv: ``w' = w * g / s``, ``b' = (b - mean) * g / s + beta``
   with ``s = sqrt(var + eps)``.
2. Calibrate: run the float model (TREC layers cluster as they will on the board) on
   training images and record every tensor's range (the mean over batches of the
   per-batch minimum and maximum, which ignores rare outliers better than the global
   extremes). Tensors that must share quantization share it: the input of a max pool
   and its output, the inputs of a concat and its output, a global average pool's input
   and output. The model input is fixed: ``q = pixel - 128``, scale 1/255, zero point 0.
3. Quantize: weights symmetric per output channel (int8 in [-127, 127]); bias int32 in
   the accumulator scale ``s_in * s_w``; requantization multiplier/shift per output
   channel for ``s_in * s_w / s_out``; adds as CMSIS-NN/TFLite (left shift 20, input
   multipliers relative to twice the larger input scale). Plain TREC hash matrices are
   stored as the int8 values the training used.
"""

from __future__ import annotations

import shlex
import sys
from collections import defaultdict

import numpy as np
import torch

from trecsim import quant
from trecsim.errors import ConfigError
from trecsim.spec import LayerSpec, ModelSpec, TensorSpec, validate
from trecsim.train.loop import net_from_checkpoint, to_input
from trecsim.train.models import Add, Concat, Conv, Dense, GlobalAvgPool, MaxPool, Net

INPUT_SCALE = 1.0 / 255.0
INPUT_ZERO_POINT = 0
ADD_LEFT_SHIFT = 20


def folded_conv(net: Net, op: Conv) -> tuple[np.ndarray, np.ndarray]:
    """Float weight (C_out, C_in, kh, kw) and bias (C_out,) with batch norm folded in (float64)."""
    conv = net.conv(op.name)
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if op.batch_norm:
        bn = net.norms[op.name.replace(".", "_")]
        g = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w = w * g.view(-1, 1, 1, 1)
        b = (b - bn.running_mean.double()) * g + bn.bias.detach().double()
    return w.numpy(), b.numpy()


def int_thresholds(net: Net, op: Conv, s_in: float, s_w: np.ndarray) -> np.ndarray:
    """A centred layer's float thresholds (M, H) in the int8 kernel's projection domain (int32).

    The float hash projects the input on the conv weights W_j before batch norm; the board on
    the folded, quantized weights q_j = round(W_j g_j / s_w[j]) and the quantized input x / s_in,
    so its projection is the float one times g_j / (s_in s_w[j]), and so is the threshold. A
    negative g_j flips bit j for every position alike, which leaves the clusters unchanged.
    """
    conv = net.conv(op.name)
    t = conv.hash_thresholds.detach().double().numpy()  # (M, H)
    h = conv.setting.hash_bits
    if t.shape != (conv.patch_len // conv.setting.sub_len, h):
        raise ConfigError(f"layer {op.name} is centred but its checkpoint holds no thresholds of shape "
                          f"(K / L, H); it was never trained centred",
                          fix="fine-tune it with --layer NAME=L,H,centred before exporting")
    g = np.ones(h)
    if op.batch_norm:
        bn = net.norms[op.name.replace(".", "_")]
        g = (bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)).numpy()[:h]
    scale = g / (s_in * np.asarray(s_w, dtype=np.float64)[:h])
    q = np.round(t * scale)
    lim = (1 << 24) - 1
    return np.clip(q, -lim, lim).astype(np.int32)


@torch.no_grad()
def calibrate(net: Net, images_u8: np.ndarray, batch: int = 250) -> tuple[dict[str, tuple[float, float]],
                                                                          dict[str, tuple[int, ...]]]:
    """Mean per-batch (min, max) and the NHWC (or flat) shape of every tensor."""
    net.eval()
    lows: dict[str, list[float]] = defaultdict(list)
    highs: dict[str, list[float]] = defaultdict(list)
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str, t: torch.Tensor) -> None:
        lows[name].append(float(t.min()))
        highs[name].append(float(t.max()))
        shapes[name] = tuple(t.shape[2:]) + (t.shape[1],) if t.dim() == 4 else (t.shape[1],)

    for i in range(0, len(images_u8), batch):
        net(to_input(torch.from_numpy(images_u8[i:i + batch])), record=record)
    ranges = {k: (float(np.mean(lows[k])), float(np.mean(highs[k]))) for k in lows}
    return ranges, shapes


def _shared_groups(net: Net) -> list[set[str]]:
    """Tensors that must share one quantization (union-find over pool/concat/gap edges)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for op in net.mdef.ops:
        if isinstance(op, (MaxPool, GlobalAvgPool)):
            union(op.src, op.dst)
        elif isinstance(op, Concat):
            for s in op.srcs:
                union(s, op.dst)
    groups: dict[str, set[str]] = defaultdict(set)
    for x in list(parent):
        groups[find(x)].add(x)
    return list(groups.values())


def _requant(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quant.quantize_multiplier(float(r)) for r in np.atleast_1d(real)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def export(ckpt: dict, calibration_images: np.ndarray, *, command: str | None = None) -> ModelSpec:
    net = net_from_checkpoint(ckpt)
    mdef = net.mdef
    ranges, shapes = calibrate(net, calibration_images)
    qparams: dict[str, tuple[float, int]] = {mdef.input: (INPUT_SCALE, INPUT_ZERO_POINT)}
    for group in _shared_groups(net):
        if mdef.input in group:
            for name in group:
                qparams[name] = qparams[mdef.input]
            continue
        lo = min(ranges[n][0] for n in group)
        hi = max(ranges[n][1] for n in group)
        for name in group:
            qparams[name] = quant.activation_qparams(lo, hi)
    for name, (lo, hi) in ranges.items():
        qparams.setdefault(name, quant.activation_qparams(lo, hi))

    tensors = {n: TensorSpec(n, shapes[n], qparams[n][0], qparams[n][1]) for n in shapes}
    layers: list[LayerSpec] = []
    for op in mdef.ops:
        if isinstance(op, (Conv, Dense)):
            s_in, _ = qparams[op.src]
            s_out, _ = qparams[op.dst]
            if isinstance(op, Conv):
                w, b = folded_conv(net, op)
                w = w.transpose(0, 2, 3, 1)  # (C_out, kh, kw, C_in), the board's layout
            else:
                fc = net.fcs[op.name.replace(".", "_")]
                w, b = fc.weight.detach().double().numpy(), fc.bias.detach().double().numpy()
            qw, s_w = quant.quantize_weights_per_channel(w)
            bias = np.round(b / (s_in * s_w)).astype(np.int64)
            if np.abs(bias).max(initial=0) >= 2**31:
                raise OverflowError(f"{op.name}: bias does not fit int32")
            mult, shift = _requant(s_in * s_w / s_out)
            arrays = {"weight": qw, "bias": bias.astype(np.int32), "multiplier": mult, "shift": shift}
            attrs: dict = {"relu": op.relu}
            if isinstance(op, Conv):
                setting = net.conv(op.name).setting
                attrs.update(kernel=op.kernel, stride=op.stride, padding=op.padding, mode=setting.mode)
                if setting.clustered:
                    attrs.update(sub_len=setting.sub_len, hash_bits=setting.hash_bits)
                if setting.mode == "trec":
                    arrays["hash"] = net.conv(op.name).hash_matrix.numpy().astype(np.int8)
                if setting.centred:
                    arrays["thresholds"] = int_thresholds(net, op, s_in, s_w)
            layers.append(LayerSpec(op.name, "conv" if isinstance(op, Conv) else "fc", (op.src,), op.dst,
                                    attrs, arrays))
        elif isinstance(op, MaxPool):
            layers.append(LayerSpec(op.name, "maxpool", (op.src,), op.dst, {"kernel": op.kernel, "stride": op.stride}))
        elif isinstance(op, Concat):
            layers.append(LayerSpec(op.name, "concat", tuple(op.srcs), op.dst))
        elif isinstance(op, GlobalAvgPool):
            layers.append(LayerSpec(op.name, "gap", (op.src,), op.dst))
        elif isinstance(op, Add):
            s1, s2 = qparams[op.srcs[0]][0], qparams[op.srcs[1]][0]
            s_out = qparams[op.dst][0]
            twice = 2 * max(s1, s2)
            m1, sh1 = quant.quantize_multiplier(s1 / twice)
            m2, sh2 = quant.quantize_multiplier(s2 / twice)
            mo, sho = quant.quantize_multiplier(twice / ((1 << ADD_LEFT_SHIFT) * s_out))
            layers.append(LayerSpec(op.name, "add", tuple(op.srcs), op.dst, {
                "left_shift": ADD_LEFT_SHIFT, "input1_multiplier": m1, "input1_shift": sh1,
                "input2_multiplier": m2, "input2_shift": sh2, "output_multiplier": mo, "output_shift": sho,
                "relu": False}))
    settings = net.settings()
    meta = {
        "float_test_accuracy": ckpt.get("test_accuracy"),
        "float_test_images": ckpt.get("test_images", 10000),
        "epochs": ckpt.get("epoch"),
        "train_config": ckpt.get("config"),
        "calibration_images": int(len(calibration_images)),
        "kernel_reuse_layers": sum(s.mode == "se-trec" for s in settings.values()),
        "trec_layers": sum(s.clustered for s in settings.values()),
        "torch_version": ckpt.get("torch_version"),
        "export_command": command or " ".join(shlex.quote(a) for a in sys.argv),
    }
    spec = ModelSpec(mdef.name, ckpt["mode"], mdef.input, mdef.output, tensors, tuple(layers), meta)
    validate(spec)
    return spec
