"""Command line: ``python -m trecsim`` and the ``trecsim`` console script.

The only module (with the Robot keyword library) that prints or parses
arguments. Every :class:`~trecsim.errors.TrecsimError` becomes a one-paragraph
message on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from trecsim import __version__, boards, data
from trecsim.errors import ConfigError, TrecsimError

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem it reported
EXIT_ERROR = 2  # a TrecsimError: bad input, missing data, ...
EXIT_INTERNAL = 3  # a bug in trecsim: an exception that is not a TrecsimError
EXIT_INTERRUPTED = 130


def _kib(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} B"


# --------------------------------------------------------------------------- boards


def _board_json(b: boards.Board) -> dict:
    return {
        "name": b.name,
        "title": b.title,
        "mcu": b.mcu,
        "core": b.core.name,
        "architecture": b.core.architecture,
        "fpu": b.core.fpu,
        "dsp": b.core.dsp,
        "clock_hz": b.clock_hz,
        "flash_wait_states": b.flash_wait_states,
        "flash_accelerator": b.flash_accelerator,
        "console_uart": {"name": b.console_uart.name, "base": b.console_uart.base},
        "on_chip_ram_bytes": b.sram_bytes,
        "memories": [
            {"name": m.name, "kind": m.kind, "base": m.base, "size": m.size, "note": m.note}
            for m in b.memories
        ],
        "platform": str(b.repl_path),
        "launch_script": str(b.resc_path),
    }


def _print_board(b: boards.Board, out: TextIO) -> None:
    fpu = f", {b.core.fpu}" if b.core.fpu else ""
    dsp = ", DSP" if b.core.dsp else ""
    print(f"{b.name}: {b.title} ({b.mcu})", file=out)
    print(
        f"  core {b.core.name} ({b.core.architecture}{fpu}{dsp}) at {b.clock_hz / 1e6:g} MHz; "
        f"flash {b.flash_wait_states} wait states, {b.flash_accelerator}",
        file=out,
    )
    print(f"  console {b.console_uart.name} @ 0x{b.console_uart.base:08X}", file=out)
    print(f"  {'region':<10} {'kind':<7} {'base':>10}  {'end':>10}  {'size':>7}  note", file=out)
    for m in b.memories:
        end = m.base + m.size - 1
        print(
            f"  {m.name:<10} {m.kind:<7} 0x{m.base:08X}  0x{end:08X}  {_kib(m.size):>7}  {m.note}",
            file=out,
        )
    print(f"  on-chip RAM in all: {_kib(b.sram_bytes)}", file=out)
    print(f"  platform: {b.repl_path}  launch: {b.resc_path}", file=out)


def cmd_boards(args: argparse.Namespace, out: TextIO) -> int:
    selected = [boards.get_board(args.name)] if args.name else list(boards.load_boards())
    if args.json:
        print(json.dumps([_board_json(b) for b in selected], indent=2), file=out)
        return EXIT_OK
    for i, b in enumerate(selected):
        if i:
            print(file=out)
        _print_board(b, out)
    return EXIT_OK


# --------------------------------------------------------------------------- data


class _ByteProgress:
    """Adapts the data module's ``on_progress(done, total)`` callbacks to tqdm."""

    def __init__(self, desc: str, enabled: bool, unit: str = "B"):
        self.desc = desc
        self.unit = unit
        self.enabled = enabled
        self.bar = None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, unit_scale=self.unit == "B", leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_data_verify(args: argparse.Namespace, out: TextIO) -> int:
    directory, source = data.resolve_data_dir(args.data)
    progress = _ByteProgress("verifying", enabled=not args.quiet)
    try:
        report = data.verify_dataset(directory, on_progress=progress)
    finally:
        progress.close()
    print(f"CIFAR-10 at {report.directory} (from {source}):", file=out)
    for check in report.files:
        detail = f": {check.detail}" if check.detail else ""
        print(f"  {check.status:<9} {check.name}{detail}", file=out)
    report.raise_for_problems()
    print("all files match the official checksums", file=out)
    return EXIT_OK


def cmd_data_download(args: argparse.Namespace, out: TextIO) -> int:
    directory, source = data.resolve_data_dir(args.data)
    progress = _ByteProgress("downloading", enabled=not args.quiet)
    try:
        kwargs = {"url": args.url} if args.url else {}
        path = data.download_dataset(directory, force=args.force, on_progress=progress, **kwargs)
    finally:
        progress.close()
    print(f"CIFAR-10 ready and verified at {path} (from {source})", file=out)
    if source != "TRECSIM_DATA" and args.data:
        print(f"use it with --data {path} or TRECSIM_DATA={path}", file=out)
    return EXIT_OK


def cmd_data_info(args: argparse.Namespace, out: TextIO) -> int:
    directory, source = data.resolve_data_dir(args.data)
    print(
        "CIFAR-10 lookup order: --data DIR, then $TRECSIM_DATA, then the user cache "
        f"({data.default_cache_dir()})",
        file=out,
    )
    present = directory.is_dir() and all((directory / f.name).is_file() for f in data.CIFAR10_BINARY.files)
    state = "present (check it with `python -m trecsim data verify`)" if present else (
        "not found (get it with `python -m trecsim data download`; the bundled sample works without it)"
    )
    print(f"selected: {directory} (from {source}): {state}", file=out)
    sample = data.load_sample()
    counts = Counter(int(x) for x in sample.labels)
    per_class = ", ".join(f"{name} {counts[i]}" for i, name in enumerate(sample.class_names))
    print(
        f"bundled sample: {len(sample.labels)} test images of {sample.images.shape[1]}x"
        f"{sample.images.shape[2]}x{sample.images.shape[3]}, checksum ok ({per_class})",
        file=out,
    )
    return EXIT_OK



# --------------------------------------------------------------------------- train


def _require_torch() -> None:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise TrecsimError("training needs PyTorch, which is not installed",
                           fix="install the train extra: pip install -e '.[train]' "
                           "(it pins torch==2.13.0, the CPU build)")


def _parse_layer_options(values: list[str] | None) -> dict[str, tuple]:
    """--layer NAME=L,H[,centred] -> {NAME: (L, H)} or (L, H, True) (trecsim.golden.posthoc's grammar)."""
    from trecsim.golden.posthoc import parse_layer_setting

    result: dict[str, tuple] = {}
    for v in values or []:
        name, s = parse_layer_setting(v)
        result[name] = (s.sub_len, s.hash_bits, True) if s.centred else (s.sub_len, s.hash_bits)
    return result


def _tqdm_progress(enabled: bool):
    def wrap(iterable, total, desc):
        if not enabled:
            return iterable
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)

    return wrap


def cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    _require_torch()
    from trecsim.train.loop import TrainConfig, train

    cfg = TrainConfig(model=args.model, mode=args.mode, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, kernel_reuse_layers=args.kernel_reuse_layers,
                      overrides=_parse_layer_options(args.layer), init=args.init,
                      train_images=args.train_images, test_images=args.test_images)
    out_dir = Path(args.out or f"build/train/{args.model}-{args.mode}")
    ckpt = train(cfg, out_dir, resume=args.resume, data_dir=args.data,
                 progress=_tqdm_progress(not args.quiet), log=lambda s: print(s, file=out, flush=True))
    print(f"checkpoint: {out_dir / 'checkpoint.pt'} (epoch {ckpt['epoch']}, "
          f"float test accuracy {ckpt['test_accuracy']:.4f})", file=out)
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    _require_torch()
    from trecsim.train.export import export
    from trecsim.train.loop import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint, model=args.model)
    split = data.load_split("train", args.data)
    rng = __import__("numpy").random.default_rng(args.seed)
    pick = rng.choice(len(split.labels), size=min(args.calibration_images, len(split.labels)), replace=False)
    import shlex

    spec = export(ckpt, split.images[pick],
                  command="python -m trecsim " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    path = Path(args.out or f"build/specs/{ckpt['model']}-{ckpt['mode']}.npz")
    spec.save(path)
    print(f"{path}: {spec.model} {spec.mode}, {len(spec.layers)} layers, {spec.weight_bytes()} bytes of arrays, "
          f"{sum(spec.macs().values()) / 1e6:.2f} M MACs (dense)", file=out)
    return EXIT_OK


def _spec_for(args: argparse.Namespace):
    from trecsim import spec as specmod

    if args.spec:
        return specmod.load(args.spec)
    if not args.model:
        raise ConfigError("no model given", fix="use --model M (with --mode) or --spec PATH")
    return specmod.load_trained(args.model, args.mode)


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    from trecsim import golden

    spec = _spec_for(args)
    if args.sample:
        split, source = data.load_sample(), "bundled sample"
    else:
        split, source = data.load_split("test", args.data), "CIFAR-10 test set"
    images, labels = split.images[:args.images], split.labels[:args.images]
    bar = _ByteProgress("golden model", enabled=not args.quiet, unit="img")
    try:
        result = golden.run(spec, images, progress=bar)
    finally:
        bar.close()
    acc = result.accuracy(labels)
    ratios = result.remaining_ratio()
    macs = spec.macs()
    print(f"{spec.model} {spec.mode}: int8 golden top-1 {acc * 100:.2f}% on {len(labels)} images ({source})",
          file=out)
    float_acc = spec.meta.get("float_test_accuracy")
    if float_acc is not None:
        n_float = spec.meta.get("float_test_images", 10000)
        print(f"  float model it came from: {float_acc * 100:.2f}% on the first {n_float} test images", file=out)
    removed_macs = 0.0
    trec_macs = 0
    for layer in spec.layers:
        if layer.op != "conv":
            continue
        r = ratios.get(layer.name)
        if r is None:
            print(f"  {layer.name:<16} dense", file=out)
            continue
        trec_macs += macs[layer.name]
        removed_macs += (1 - r) * macs[layer.name]
        print(f"  {layer.name:<16} {layer.mode:<8} L={layer.attrs['sub_len']:<3} H={layer.attrs['hash_bits']:<3} "
              f"remaining ratio {r:.4f} ({(1 - r) * 100:.1f}% of its MACs removed)", file=out)
    if trec_macs:
        print(f"  TREC layers: {removed_macs / trec_macs * 100:.1f}% of their MACs removed", file=out)
    if args.json:
        doc = {"model": spec.model, "mode": spec.mode, "images": int(len(labels)), "source": source,
               "accuracy": acc, "float_accuracy": float_acc,
               "trec_macs_removed": (removed_macs / trec_macs) if trec_macs else None,
               "layers": [{"name": l.name, "op": l.op, "mode": l.mode if l.op == "conv" else None,
                           "macs": macs.get(l.name), "remaining_ratio": ratios.get(l.name)}
                          for l in spec.layers if l.op in ("conv", "fc")]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return EXIT_OK


def cmd_build(args: argparse.Namespace, out: TextIO) -> int:
    from trecsim.firmware.build import build_firmware

    board = boards.get_board(args.board)
    spec = _spec_for(args)
    result = build_firmware(spec, board, out_dir=args.out, profile=not args.no_profile, stack_bytes=args.stack,
                            force=args.force, kernels=args.kernels)
    state = "cached, not rebuilt" if result.cached else "built"
    profile = "" if not args.no_profile else ", no phase profiling"
    kernels = "" if args.kernels == "optimized" else ", plain reference conv and fc kernels"
    print(f"{result.elf}: {spec.model} {spec.mode} for {board.name} ({state}{profile}{kernels})", file=out)
    for line in result.size.lines():
        print(f"  {line}", file=out)
    print(result.plan.table(), file=out)
    print(f"  map: {result.map}", file=out)
    print(f"  size report: {result.out_dir / 'size.json'}", file=out)
    return EXIT_OK


# --------------------------------------------------------------------------- bench-emulator


def cmd_bench_emulator(args: argparse.Namespace, out: TextIO) -> int:
    from trecsim.emulators import native

    if args.build_only:
        path = native.build(force=args.force)
        print(f"native cycle hook: {path}", file=out)
        return EXIT_OK
    from trecsim import golden
    from trecsim.emulators.bench import bench
    from trecsim.firmware.build import build_firmware

    board = boards.get_board(args.board)
    spec = _spec_for(args)
    build = build_firmware(spec, board)
    image = data.load_sample().images[:1]
    result = bench(build.elf, board, golden.model_input(spec, image)[0], repeats=args.repeats)
    print(f"{spec.model} {spec.mode} on {board.name} (Unicorn): {result.instructions} instructions, "
          f"fastest of {args.repeats} runs per mode", file=out)
    for m in result.modes:
        cycles = f", {m.cycles} model cycles" if m.cycles is not None else ""
        print(f"  {m.name:<14} {m.mips:8.1f} MIPS ({m.wall_s:.3f} s{cycles})", file=out)
    print(f"  ratio accounting / plain: {result.ratio:.2f} (goal >= 0.5); with data-memory timing: "
          f"{result.ratio_memory_timing:.2f}", file=out)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return EXIT_OK if result.ratio >= 0.5 or not args.check else EXIT_FAILED


# --------------------------------------------------------------------------- profile


class _Bars:
    """tqdm bars for the profile's ``progress(desc, done, total)`` callbacks, one per description."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, desc: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(desc)
        if bar is None:
            from tqdm import tqdm

            bar = self.bars[desc] = tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _parse_images(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise ConfigError(f"--images '{text}' is not a number", fix="use --images N (N >= 1) or --images all") from None
    if n < 1:
        raise ConfigError(f"--images {n} selects no image", fix="use --images N with N >= 1, or --images all")
    return n


def cmd_profile(args: argparse.Namespace, out: TextIO) -> int:
    from trecsim import profile as prof
    from trecsim import report

    modes = tuple(m.strip() for m in (args.modes or ",".join(prof.DEFAULT_MODES)).split(",") if m.strip())
    images = _parse_images(args.images) if args.images is not None else (
        None if args.data else prof.DEFAULT_IMAGES)
    cfg = prof.ProfileConfig(boards=prof.resolve_boards(args.board), model=args.model, modes=modes,
                             modes_given=args.modes is not None, images=images, data_dir=args.data,
                             emulator=args.emulator, target=args.target, probe=args.probe, serial=args.serial,
                             hw_timeout=args.hw_timeout, probe_frequency=args.probe_frequency)
    bars = _Bars(enabled=not args.quiet)
    try:
        profiles = prof.profile(cfg, progress=bars)
    finally:
        bars.close()
    docs = [p.to_json() for p in profiles]
    print(report.terminal_table(docs), file=out, end="")
    files = report.write_all(docs, args.out)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n")
    print(f"report: {files['markdown']}, plots: {len(files['plots'])} PNGs in {args.out}, trace: {files['trace']} "
          f"(open in https://ui.perfetto.dev){', JSON: ' + args.json if args.json else ''}", file=out)
    failed = [f"{p.board} {p.model} {r.mode}" for p in profiles for r in p.runs if not r.ok]
    if failed:
        print(f"FAILED: {', '.join(failed)} did not run bit-exact against the golden model (see above)", file=out)
        return EXIT_FAILED
    return EXIT_OK


def cmd_benchmark(args: argparse.Namespace, out: TextIO) -> int:
    from trecsim.profile import benchmark

    split = lambda text: tuple(v.strip() for v in text.split(",") if v.strip())  # noqa: E731
    cfg = benchmark.BenchmarkConfig(models=split(args.models), boards=(args.board,), modes=split(args.modes),
                                    images=_parse_images(args.images), data_dir=args.data,
                                    test_images=_parse_images(args.test_images),
                                    command=benchmark.command_line(), jobs=args.jobs)
    bars = _Bars(enabled=not args.quiet)
    try:
        bench = benchmark.run_benchmark(cfg, progress=bars)
    finally:
        bars.close()
    print(benchmark.terminal(bench), file=out, end="")
    files = benchmark.write(bench, args.out)
    print(f"benchmark: {files['markdown']}, {files['json']}; per-model reports in {args.out}/<model>/", file=out)
    return EXIT_OK if bench.ok else EXIT_FAILED


# --------------------------------------------------------------------------- parser


def _add_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        metavar="DIR",
        help="CIFAR-10 binary folder (cifar-10-batches-bin or its parent); "
        "default: $TRECSIM_DATA, then the user cache directory",
    )


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the Python traceback of an error instead of the one-paragraph message",
    )
    parser = argparse.ArgumentParser(
        prog="trecsim",
        description="TREC convolution on simulated STM32 boards: train, build, run, profile.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"trecsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "boards",
        parents=[common],
        help="list the simulated boards and their memory",
        description="List the boards described in platforms/ with core, clock and memory regions.",
    )
    p.add_argument("name", nargs="?", help="show only this board (e.g. stm32f469i-disco)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser(
        "data",
        parents=[common],
        help="check, download or locate the CIFAR-10 dataset",
        description="CIFAR-10 (binary version): verify a copy, download it, or show where trecsim looks.",
    )
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    q = data_sub.add_parser(
        "verify",
        parents=[common],
        help="check every file against the official sizes and checksums",
        description="Check every file of a CIFAR-10 copy against the official sizes and checksums. "
        "Exit code 2 if anything is missing, truncated or corrupted.",
    )
    _add_data_option(q)
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_data_verify)

    q = data_sub.add_parser(
        "download",
        parents=[common],
        help="download, verify and unpack the official archive",
        description="Download the official CIFAR-10 binary archive, check its md5, unpack it and "
        "verify every file; the dataset appears only when everything succeeded.",
    )
    _add_data_option(q)
    q.add_argument("--url", help=f"archive URL (a mirror of the official one; default {data.CIFAR10_URL})")
    q.add_argument("--force", action="store_true", help="replace a copy that already verifies")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_data_download)

    q = data_sub.add_parser(
        "info",
        parents=[common],
        help="show where trecsim looks for CIFAR-10 and the bundled sample",
        description="Show the dataset lookup order, the folder it selects, and the bundled sample.",
    )
    _add_data_option(q)
    q.set_defaults(func=cmd_data_info)

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train a model on CIFAR-10 (needs the train extra: torch)",
        description="Train CifarNet, ZfNet or SqueezeNet on CIFAR-10, dense or with TREC layers. "
        "Writes OUT/checkpoint.pt after every epoch (resumable with --resume) and OUT/history.json. "
        "TREC modes are best trained by fine-tuning a dense checkpoint (--init).",
    )
    p.add_argument("--model", required=True, choices=["cifarnet", "zfnet", "squeezenet"])
    p.add_argument("--mode", default="dense", choices=["dense", "trec", "se-trec"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-G", "--kernel-reuse-layers", type=int, default=None, metavar="G",
                   help="se-trec: number of TREC layers (in network order) that use kernel reuse; default all")
    p.add_argument("--layer", action="append", metavar="NAME=L,H[,centred]",
                   help="sub-vector length L and hash bits H of one TREC layer (repeatable); ',centred' "
                        "centres its hash bits on the running median of the projections (se-trec)")
    p.add_argument("--init", metavar="CHECKPOINT", help="start from this checkpoint's weights, or from an int8 "
                   "ModelSpec (.npz, e.g. a committed dense model): its weights dequantized, batch norm frozen")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt where it stopped")
    p.add_argument("--out", metavar="DIR", help="output folder (default build/train/MODEL-MODE)")
    p.add_argument("--train-images", type=int, help="use only the first N training images")
    p.add_argument("--test-images", type=int, help="evaluate on the first N test images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "export",
        parents=[common],
        help="quantize a checkpoint to an int8 ModelSpec (needs torch)",
        description="Fold batch norm, calibrate activation ranges on training images and write the int8 "
        "ModelSpec (arrays + JSON in one .npz) that the golden model and code generation read.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt written by `trecsim train`")
    p.add_argument("--model", choices=["cifarnet", "zfnet", "squeezenet"],
                   help="refuse a checkpoint of another model")
    p.add_argument("--out", metavar="PATH", help="output .npz (default build/specs/MODEL-MODE.npz)")
    p.add_argument("--calibration-images", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0, help="picks the calibration images")
    _add_data_option(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "eval",
        parents=[common],
        help="int8 golden-model accuracy and remaining ratios on CIFAR-10",
        description="Run the bit-exact int8 golden model of a committed (or given) ModelSpec on the CIFAR-10 "
        "test set and report top-1 accuracy and the remaining ratio of every TREC layer.",
    )
    p.add_argument("--model", choices=["cifarnet", "zfnet", "squeezenet"])
    p.add_argument("--mode", default="dense", choices=["dense", "trec", "se-trec"])
    p.add_argument("--spec", metavar="PATH", help="a ModelSpec file instead of the committed one")
    p.add_argument("--images", type=int, help="only the first N test images")
    p.add_argument("--sample", action="store_true", help="use the bundled 300-image sample")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_option(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "build",
        parents=[common],
        help="build the firmware of a model for a board (needs arm-none-eabi-gcc)",
        description="Plan the model's memory, generate its sources and link the firmware: ELF, map file and a "
        "size report (flash, static RAM, planned arenas, SDRAM, stack), printed and written as size.json. "
        "Unchanged inputs reuse the previous build. A model that does not fit is refused with the numbers.",
    )
    p.add_argument("--board", required=True, help="board name (see `trecsim boards`)")
    p.add_argument("--model", choices=["cifarnet", "zfnet", "squeezenet"])
    p.add_argument("--mode", default="dense", choices=["dense", "trec", "se-trec"])
    p.add_argument("--spec", metavar="PATH", help="a ModelSpec file instead of the committed one")
    p.add_argument("--out", metavar="DIR", help="output folder (default build/firmware/BOARD/MODEL-MODE, with "
                   "--kernels reference MODEL-MODE-ref)")
    p.add_argument("--kernels", default="optimized", choices=["optimized", "reference"],
                   help="kernels of the dense conv and fc layers: optimized (default, DSP) or reference (the plain "
                        "loop-nest convolve_s8_ref and fully_connected_s8_ref, bit-exact: the papers' kind of "
                        "baseline)")
    p.add_argument("--no-profile", action="store_true",
                   help="leave out the per-phase cycle hooks of the TREC kernels (per-layer cycles stay)")
    p.add_argument("--stack", type=int, default=8192, metavar="BYTES", help="stack reserve (default 8192)")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "bench-emulator",
        parents=[common],
        help="Unicorn's speed with and without cycle accounting (MIPS and their ratio)",
        description="Run the firmware of a model (default: the committed cifarnet dense) on a board under "
        "Unicorn with no hooks, with the default cycle accounting and with data-memory timing, and print "
        "the MIPS of each and the ratio accounting / plain (goal >= 0.5). --build-only compiles the native "
        "cycle hook into the user cache and exits (the install script runs it).",
    )
    p.add_argument("--board", default="stm32f469i-disco", help="board name (default stm32f469i-disco)")
    p.add_argument("--model", default="cifarnet", choices=["cifarnet", "zfnet", "squeezenet"])
    p.add_argument("--mode", default="dense", choices=["dense", "trec", "se-trec"])
    p.add_argument("--spec", metavar="PATH", help="a ModelSpec file instead of the committed one")
    p.add_argument("--repeats", type=int, default=3, help="runs per mode; the fastest counts (default 3)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    p.add_argument("--check", action="store_true", help="exit 1 when the ratio is below 0.5")
    p.add_argument("--build-only", action="store_true", help="only build the native cycle hook")
    p.add_argument("--force", action="store_true", help="with --build-only: rebuild even if cached")
    p.set_defaults(func=cmd_bench_emulator)

    p = sub.add_parser(
        "profile",
        parents=[common],
        help="run models on simulated boards bit-exact against the golden model; cycles, memory, reports",
        description="For each board and mode: build the firmware (cached), run each image in the emulator, "
        "compare every output and TREC cluster count bit for bit with the golden model, and report per-layer "
        "and per-phase cycles (trecsim's cycle model), MACs, remaining ratios, latency, memory and accuracy: "
        "a table here, and report.md, PNG plots, trace.json (Perfetto) and profile.json in --out. A mismatch "
        "names the first layer whose output differs. Exit code 0 only if every run that fits its board ran "
        "and matched; 1 on a mismatch or firmware fault; 2 on bad input. Default modes without a committed "
        "model are skipped with a note; a model that does not fit a board is reported with the numbers.",
    )
    p.add_argument("--board", default="stm32f469i-disco",
                   help="board name, or 'all' for every board (default stm32f469i-disco)")
    p.add_argument("--model", default="cifarnet", choices=["cifarnet", "zfnet", "squeezenet"],
                   help="model (default cifarnet); it must have a committed int8 ModelSpec")
    p.add_argument("--modes", metavar="M[,M...]", help="comma-separated modes among dense, trec, se-trec "
                   "(default all three, skipping those not committed), and dense-ref: the dense model with the plain "
                   "reference conv and fc kernels (the papers' kind of baseline; not in the default)")
    p.add_argument("--images", metavar="N", help="first N images (default 10 of the bundled sample; with --data "
                   "every test image); 'all' for every image")
    p.add_argument("--emulator", default="unicorn", choices=["unicorn", "qemu", "renode"],
                   help="emulator backend: unicorn (default, with the cycle model); qemu (cross-check on QEMU's MPS2 "
                        "machines: outputs bit for bit, no cycles); renode (needs Renode and pyrenode3)")
    p.add_argument("--out", metavar="DIR", default="build/profile", help="report folder (default build/profile)")
    p.add_argument("--json", metavar="PATH", help="also write the results (the JSON contract) to PATH")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--data", metavar="DIR", help="use the full CIFAR-10 test set in DIR instead of the bundled "
                   "sample (cifar-10-batches-bin or its parent)")
    p.add_argument("--target", default="emulator", choices=["emulator", "hw"],
                   help="emulator (default), or hw: flash the same ELF to the real board through its ST-LINK "
                        "(pyocd, pip install -e '.[hw]'), measure with DWT on hardware and put the cycle model's "
                        "estimate and the ratio beside it (platforms/README.md, 'Real boards')")
    p.add_argument("--probe", metavar="ID", help="hw: ST-LINK unique id or a unique prefix (default: the only probe "
                   "connected; `pyocd list` shows them); 'emulator' runs the hardware flow on the emulator")
    p.add_argument("--serial", metavar="PORT", help="hw: read the console on this serial port (the ST-LINK "
                   "virtual COM port, e.g. /dev/ttyACM0)")
    p.add_argument("--hw-timeout", metavar="S", type=float, default=60.0,
                   help="hw: seconds one inference may take before the run is stopped (default 60)")
    p.add_argument("--probe-frequency", metavar="HZ", type=int, help="hw: SWD clock in Hz (default pyocd's)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser(
        "benchmark",
        parents=[common],
        help="the headline table: every committed model and mode on every board (long; not part of CI)",
        description="Profiles every committed model (cifarnet, zfnet, squeezenet) in every committed mode on every "
        "board (build, run, bit-exact check, model cycles with data-memory timing, memory) and evaluates the int8 "
        "golden model's accuracy on the test images; prints the headline table and writes benchmark.md, "
        "benchmark.json and each model's profile report to --out. Exit code 0 only if every run that fits its "
        "board ran bit-exact.",
    )
    p.add_argument("--models", metavar="M[,M...]", default="cifarnet,zfnet,squeezenet",
                   help="comma-separated models (default all three; those without committed specs are skipped)")
    p.add_argument("--board", default="all", help="board name or 'all' (default all)")
    p.add_argument("--modes", metavar="M[,M...]", default="dense,trec,se-trec",
                   help="comma-separated modes (default dense,trec,se-trec; uncommitted ones are skipped); "
                        "dense-ref, the plain reference dense baseline, is always run beside them")
    p.add_argument("--images", metavar="N", default="10",
                   help="emulator images per model, board and mode (default 10); 'all' for every image")
    p.add_argument("--test-images", metavar="N", default="all",
                   help="images for the golden model's accuracy (default all: 10,000 with --data)")
    p.add_argument("--out", metavar="DIR", default="build/benchmark", help="report folder (default build/benchmark)")
    p.add_argument("--jobs", type=int, default=None, metavar="J",
                   help="worker processes for the independent (model, board) profiles and (model, mode) accuracies "
                        "(default: every core; 1: one process, with progress bars)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--data", metavar="DIR", help="CIFAR-10 test set for the runs and the accuracy (default: the "
                   "bundled sample of 300 images)")
    p.set_defaults(func=cmd_benchmark)

    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    func: Callable[[argparse.Namespace, TextIO], int] = args.func
    try:
        return func(args, out)
    except TrecsimError as exc:
        if debug:
            raise
        print(f"trecsim: error: {exc}", file=err)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        if debug:
            raise
        print("trecsim: interrupted", file=err)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so plainly, keep the traceback behind --debug
        if debug:
            raise
        print(
            f"trecsim: internal error: {type(exc).__name__}: {exc}. This is a bug in trecsim; "
            "rerun with --debug for the traceback and report it.",
            file=err,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
