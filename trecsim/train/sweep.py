"""Post-hoc sweep of TREC settings on a trained checkpoint (no fine-tuning).

    python -m trecsim.train.sweep CHECKPOINT --layer conv2 --sub-len 5,10,20 --hash-bits 6,8,10
    python -m trecsim.train.sweep CHECKPOINT --kernel-reuse-layers 0,2,4,8

For each (L, H) of one layer (others as in the checkpoint) it prints the float test
accuracy with clustering applied and the layer's remaining ratio: the quick way to
choose a layer's default before spending time on fine-tuning. With
``--kernel-reuse-layers`` it keeps every TREC layer's (L, H) and, for each G, lets the
first G TREC layers (network order) hash with kernel reuse and the rest with their own
random hash matrix: the accuracy-against-G curve of one set of weights.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from trecsim.data import load_split
from trecsim.train.loop import evaluate, load_checkpoint, net_from_checkpoint
from trecsim.train.trec import TrecSetting


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("checkpoint")
    ap.add_argument("--layer")
    ap.add_argument("--sub-len", help="comma-separated L values")
    ap.add_argument("--hash-bits", help="comma-separated H values")
    ap.add_argument("--kernel-reuse-layers", metavar="G[,G...]", help="comma-separated G values")
    ap.add_argument("--mode", default="trec", choices=["trec", "se-trec"])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--data")
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    net = net_from_checkpoint(ckpt)
    split = load_split("test", args.data)
    x = torch.from_numpy(split.images[:args.images])
    y = torch.from_numpy(split.labels[:args.images].astype(np.int64))
    base, _ = evaluate(net, x, y, torch.device("cpu"))
    print(f"{ckpt['model']} as trained: {base * 100:.2f}% on {len(y)} test images")
    if args.kernel_reuse_layers:
        from dataclasses import replace

        from trecsim.train.models import layer_settings

        trec = {k: (s.sub_len, s.hash_bits) for k, s in net.settings().items() if s.clustered}
        original_settings = net.settings()
        for g in (int(v) for v in args.kernel_reuse_layers.split(",")):
            net.configure(layer_settings(replace(net.mdef, trec_layers=trec), "se-trec", kernel_reuse_layers=g))
            acc, ratios = evaluate(net, x, y, torch.device("cpu"))
            r = [v for v in ratios.values() if v is not None]
            print(f"G={g:<3} accuracy {acc * 100:6.2f}%  mean remaining ratio {sum(r) / len(r):.4f}", flush=True)
        net.configure(original_settings)
        return
    if not (args.layer and args.sub_len and args.hash_bits):
        ap.error("give --layer, --sub-len and --hash-bits, or --kernel-reuse-layers")
    original = net.conv(args.layer).setting
    for sub_len in (int(v) for v in args.sub_len.split(",")):
        for bits in (int(v) for v in args.hash_bits.split(",")):
            net.conv(args.layer).configure(TrecSetting(args.mode, sub_len, bits))
            acc, ratios = evaluate(net, x, y, torch.device("cpu"))
            print(f"{args.layer} L={sub_len:<3} H={bits:<3} accuracy {acc * 100:6.2f}%  "
                  f"remaining ratio {ratios[args.layer]:.4f}", flush=True)
    net.conv(args.layer).configure(original)


if __name__ == "__main__":
    main()
