"""Benchmark of the method: the headline table for every model on every board.

    python -m trecsim benchmark --data ../shared/data/cifar-10-batches-bin

For each model with committed int8 ModelSpecs (``trecsim/spec/trained/``) and each board it runs
the profile (:func:`trecsim.profile.profile`: build, run every image in the emulator, compare
bit for bit with the golden model, cycles from the cycle model with data-memory timing), and for
each model and mode it evaluates the int8 golden model on the test images for accuracy (the
firmware is bit-exact with it, so this is the board's accuracy too). The result is one row per
(model, board, mode): status, model cycles per inference, latency at the board's clock, speedup
over our dense (DSP kernels) and over the plain reference dense (the papers' kind of baseline), the
ceiling if every TREC layer cost nothing, share of the TREC layers' MACs removed (firmware counters),
accuracy, flash, on-chip SRAM peak and SDRAM. Every model with a committed dense spec also gets a
``dense-ref`` row (:data:`trecsim.profile.REFERENCE_MODE`: the same dense model with the plain
loop-nest conv and fc kernels, checked bit for bit like every run), whatever ``--modes`` says.

Writes ``OUT/benchmark.md`` (the headline table, the command and the date, then each profile's
full Markdown report), ``OUT/benchmark.json`` (every profile document, the ``--json`` contract of
``profile``, plus the accuracies) and the profile reports with plots under ``OUT/<model>/``.
Nothing here is timed by wall clock: every cycle figure is a model estimate.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trecsim import data, golden, report
from trecsim import spec as specmod
from trecsim.errors import ConfigError
from trecsim.profile import (CYCLE_SOURCE, DEFAULT_MODES, PSEUDO_MODES, REFERENCE_MODE, ProfileConfig, profile,
                              resolve_boards)

__all__ = ["BENCH_FORMAT", "BenchmarkConfig", "headline_rows", "markdown", "run_benchmark"]

BENCH_FORMAT = "trecsim-benchmark/1"
MODELS = ("cifarnet", "zfnet", "squeezenet")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BenchmarkConfig:
    models: tuple[str, ...] = MODELS
    boards: tuple[str, ...] = ("all",)
    modes: tuple[str, ...] = DEFAULT_MODES
    images: int | None = 10  # emulator images per (model, board, mode); None: every image of the source
    data_dir: str | None = None  # None: the bundled sample for both the emulator runs and accuracy
    test_images: int | None = None  # golden-model accuracy images (None: every image of the source)
    command: str = ""
    jobs: int | None = None  # worker processes (None: every core); 1 runs everything in this process


@dataclass
class Benchmark:
    config: BenchmarkConfig
    date: str
    accuracy: dict[str, dict[str, dict]] = field(default_factory=dict)  # model -> mode -> {...}
    profiles: list[dict] = field(default_factory=list)  # BoardProfile.to_json() of every (model, board)
    skipped: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.profiles) and all(p["ok"] for p in self.profiles)

    def to_json(self) -> dict:
        c = self.config
        return {"format": BENCH_FORMAT, "date": self.date, "command": c.command, "cycle_source": CYCLE_SOURCE,
                "images": c.images, "data": c.data_dir or "bundled sample", "test_images": c.test_images,
                "host": platform.platform(), "accuracy": self.accuracy, "skipped": self.skipped,
                "headline": [dict(zip(HEAD_KEYS, row)) for row in _rows_raw(self)],
                "profiles": self.profiles, "ok": self.ok}


def _model_mode(mode: str) -> str:
    """The committed model's mode of a mode or pseudo-mode (dense-ref runs the dense model)."""
    return PSEUDO_MODES.get(mode, (mode,))[0]


def _committed_modes(model: str, modes: Sequence[str]) -> list[str]:
    return [m for m in modes if specmod.trained_path(model, _model_mode(m)).is_file()]


def _accuracy(model: str, mode: str, images: np.ndarray, labels: np.ndarray, source: str,
              progress: Progress | None) -> dict:
    spec = specmod.load_trained(model, mode)
    desc = f"golden {model} {mode}"
    cb = None if progress is None else (lambda done, total: progress(desc, done, total))  # noqa: E731
    result = golden.run(spec, images, progress=cb)
    ratios = result.remaining_ratio()
    macs = spec.macs()
    trec_macs = sum(macs[k] for k, r in ratios.items() if r is not None)
    removed = sum((1 - r) * macs[k] for k, r in ratios.items() if r is not None)
    return {"images": int(len(labels)), "source": source, "int8_accuracy": result.accuracy(labels),
            "float_accuracy": spec.meta.get("float_test_accuracy"),
            "trec_macs_removed": (removed / trec_macs) if trec_macs else None,
            "trec_layers": sum(1 for r in ratios.values() if r is not None)}


def _profile_job(model: str, board: str, modes: tuple[str, ...], images: int | None,
                 data_dir: str | None) -> list[dict]:
    """One (model, board) profile, in a worker process: its JSON documents."""
    pcfg = ProfileConfig(boards=(board,), model=model, modes=modes, modes_given=True, images=images,
                         data_dir=data_dir)
    return [p.to_json() for p in profile(pcfg)]


def _accuracy_job(model: str, mode: str, data_dir: str | None, n_test: int) -> dict:
    """One (model, mode) golden accuracy, in a worker process (it loads the images itself)."""
    split, source = (data.load_sample(), "bundled sample") if data_dir is None else (
        data.load_split("test", data_dir), "CIFAR-10 test set")
    return _accuracy(model, mode, split.images[:n_test], split.labels[:n_test], source, None)


def _jobs(cfg: BenchmarkConfig) -> int:
    jobs = (os.cpu_count() or 1) if cfg.jobs is None else cfg.jobs
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs} is not a number of processes", where="--jobs", fix="use --jobs 1 or more")
    return jobs


def run_benchmark(cfg: BenchmarkConfig, progress: Progress | None = None) -> Benchmark:
    """Profiles every committed (model, mode) on every board of ``cfg.boards`` and evaluates accuracy.

    The (model, board) profiles and (model, mode) accuracies are independent jobs: with ``cfg.jobs``
    above 1 they run in a local process pool (results are gathered in the serial order, so the output
    does not depend on the pool), with 1 in this process with ``progress``.
    """
    jobs = _jobs(cfg)
    if jobs > 1:
        return _run_pool(cfg, jobs)
    boards_ = tuple(b for name in cfg.boards for b in resolve_boards(name))
    bench = Benchmark(cfg, _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"))
    plan = _plan(cfg, bench)
    if cfg.data_dir is None:
        split, source = data.load_sample(), "bundled sample"
    else:
        split, source = data.load_split("test", cfg.data_dir), "CIFAR-10 test set"
    n_test = len(split.labels) if cfg.test_images is None else min(cfg.test_images, len(split.labels))
    for model, run_modes in plan:
        bench.accuracy[model] = {m: _accuracy(model, m, split.images[:n_test], split.labels[:n_test], source,
                                              progress) for m in dict.fromkeys(map(_model_mode, run_modes))}
        pcfg = ProfileConfig(boards=boards_, model=model, modes=tuple(run_modes), modes_given=True,
                             images=cfg.images, data_dir=cfg.data_dir)
        bench.profiles += [p.to_json() for p in profile(pcfg, progress=progress)]
    if not bench.profiles:
        raise ConfigError("no committed model to benchmark", where=str(specmod.trained_dir()),
                          fix="train and export a model first (trecsim/spec/trained/README.md)")
    return bench


def _plan(cfg: BenchmarkConfig, bench: Benchmark) -> list[tuple[str, list[str]]]:
    """(model, the modes to run) for every model with a committed spec; records the skipped modes."""
    plan = []
    for model in cfg.models:
        if model not in MODELS:
            raise ConfigError(f"unknown model '{model}'", where="--models", fix=f"use some of: {', '.join(MODELS)}")
        modes = _committed_modes(model, cfg.modes)
        for m in cfg.modes:
            if m not in modes:
                bench.skipped.append({"model": model, "mode": m, "reason": f"no committed model "
                                      f"{model}-{_model_mode(m)} (trecsim/spec/trained/)"})
        if not modes:
            continue
        run_modes = [m for m in modes if m != REFERENCE_MODE]
        if specmod.trained_path(model, _model_mode(REFERENCE_MODE)).is_file():
            # the plain reference dense baseline, always: right after dense, or first
            run_modes.insert(run_modes.index("dense") + 1 if "dense" in run_modes else 0, REFERENCE_MODE)
        plan.append((model, run_modes))
    return plan


def _run_pool(cfg: BenchmarkConfig, jobs: int) -> Benchmark:
    """run_benchmark on a local process pool of ``jobs`` workers (the same jobs, the same order of results)."""
    from concurrent.futures import ProcessPoolExecutor

    boards_ = tuple(b for name in cfg.boards for b in resolve_boards(name))
    bench = Benchmark(cfg, _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"))
    n_total = len((data.load_sample() if cfg.data_dir is None else data.load_split("test", cfg.data_dir)).labels)
    n_test = n_total if cfg.test_images is None else min(cfg.test_images, n_total)
    plan = _plan(cfg, bench)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        acc = {(model, mm): pool.submit(_accuracy_job, model, mm, cfg.data_dir, n_test)
               for model, run_modes in plan for mm in dict.fromkeys(map(_model_mode, run_modes))}
        prof = {(model, board): pool.submit(_profile_job, model, board, tuple(run_modes), cfg.images, cfg.data_dir)
                for model, run_modes in plan for board in boards_}
        for model, run_modes in plan:
            bench.accuracy[model] = {mm: acc[(model, mm)].result() for mm in dict.fromkeys(map(_model_mode, run_modes))}
            for board in boards_:
                bench.profiles += prof[(model, board)].result()
    if not bench.profiles:
        raise ConfigError("no committed model to benchmark", where=str(specmod.trained_dir()),
                          fix="train and export a model first (trecsim/spec/trained/README.md)")
    return bench


# --------------------------------------------------------------------------- the headline table

HEAD = ["model", "board", "mode", "status", "cycles (model)", "latency", f"speedup {report.BASELINE_DENSE}",
        f"speedup {report.BASELINE_REFERENCE}", "ceiling (TREC layers free)", "TREC-layer MACs removed",
        "int8 accuracy", "float accuracy", "flash", "SRAM peak", "SDRAM"]
HEAD_KEYS = ["model", "board", "mode", "status", "cycles", "latency_ms", "speedup_vs_dense",
             "speedup_vs_reference_dense", "ceiling_trec_layers_free", "trec_macs_removed", "int8_accuracy",
             "float_accuracy", "flash_bytes", "sram_peak_bytes", "sdram_peak_bytes"]


def _rows_raw(bench: Benchmark) -> list[list]:
    rows = []
    for doc in bench.profiles:
        for r in doc["runs"]:
            # a pseudo-mode runs a committed model with other kernels, bit-exact: that model's accuracy
            acc = bench.accuracy.get(doc["model"], {}).get(PSEUDO_MODES.get(r["mode"], (r["mode"],))[0], {})
            ran = r.get("fits", True) and bool(r.get("layers"))
            mem = r.get("memory") or {}
            rows.append([doc["model"], doc["board"], r["mode"], report.run_status(r),
                         r["cycles_total"] if ran else None, r["latency_ms"] if ran else None,
                         r.get("speedup_vs_dense") if ran else None,
                         r.get("speedup_vs_reference_dense") if ran else None,
                         r.get("ceiling_trec_layers_free") if ran else None, report.macs_removed(r) if ran else None,
                         acc.get("int8_accuracy"), acc.get("float_accuracy"),
                         mem.get("flash_bytes"), mem.get("sram_peak_bytes"), mem.get("sdram_peak_bytes")])
    return rows


def _fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if key == "cycles":
        return f"{v / 1e6:.2f} M"
    if key == "latency_ms":
        return f"{v:.1f} ms"
    if key in ("speedup_vs_dense", "speedup_vs_reference_dense", "ceiling_trec_layers_free"):
        return f"{v:.2f}x"
    if key in ("trec_macs_removed", "int8_accuracy", "float_accuracy"):
        return f"{v * 100:.2f}%"
    if key.endswith("_bytes"):
        return f"{v / 1024:.1f} KB"
    return str(v)


def headline_rows(bench: Benchmark) -> tuple[list[str], list[list[str]]]:
    return HEAD, [[_fmt(k, v) for k, v in zip(HEAD_KEYS, row)] for row in _rows_raw(bench)]


def _grid(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    return ["  ".join(str(c).ljust(w) if i < 4 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in [head, ["-" * w for w in widths], *rows]]


def _notes(bench: Benchmark) -> list[str]:
    c = bench.config
    src = c.data_dir and "the CIFAR-10 test set" or "the bundled sample"
    acc_n = {a["images"] for per in bench.accuracy.values() for a in per.values()}
    return [f"cycles: {CYCLE_SOURCE} with data-memory timing, per inference, mean over "
            f"{'every image' if c.images is None else f'the first {c.images} images'} of {src}, every output "
            "checked bit for bit against the golden model;",
            f"accuracy: int8 golden model (bit-exact with the firmware) on {', '.join(map(str, sorted(acc_n)))} "
            f"images of {src}; float accuracy as recorded in the ModelSpec at export;",
            f"speedup {report.BASELINE_DENSE}: our dense cycles (DSP-optimized conv and fc kernels) / the row's; "
            f"speedup {report.BASELINE_REFERENCE}: {REFERENCE_MODE} cycles / the row's, {REFERENCE_MODE} being the "
            "same dense model with the plain loop-nest conv and fc kernels (convolve_s8_ref, fully_connected_s8_ref), "
            "bit-exact, the kind of baseline the papers' speedups are over;",
            f"ceiling (TREC layers free): the end-to-end speedup {report.BASELINE_DENSE} if every TREC layer cost "
            "nothing, dense total / (dense total - the TREC layers' dense cycles); a model estimate like every "
            "cycle figure;",
            "TREC-layer MACs removed: 1 - remaining ratio, MAC-weighted over the TREC layers, from the firmware's "
            "cluster counters; SRAM peak: on-chip static data + arena peaks + stack peak (painting)."]


def terminal(bench: Benchmark) -> str:
    lines = [f"trecsim benchmark {bench.date}: " + ("all runs bit-exact" if bench.ok else "NOT ALL RUNS OK"), ""]
    lines += _grid(*headline_rows(bench))
    lines += ["", *("  " + n for n in _notes(bench))]
    for s in bench.skipped:
        lines.append(f"  skipped {s['model']} {s['mode']}: {s['reason']}")
    return "\n".join(lines) + "\n"


def markdown(bench: Benchmark) -> str:
    head, rows = headline_rows(bench)
    lines = ["# trecsim benchmark", "",
             f"Produced on {bench.date} by `{bench.config.command}` ({platform.platform()}).", "",
             "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|",
             *("| " + " | ".join(r) + " |" for r in rows), ""]
    lines += [f"- {n}" for n in _notes(bench)]
    lines += [f"- skipped {s['model']} {s['mode']}: {s['reason']}" for s in bench.skipped]
    lines.append("")
    return "\n".join(lines)


def write(bench: Benchmark, out_dir: str | os.PathLike) -> dict[str, Path]:
    """benchmark.md, benchmark.json and each model's profile report (report.write_all) under OUT/<model>/."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for model in dict.fromkeys(p["model"] for p in bench.profiles):
        report.write_all([p for p in bench.profiles if p["model"] == model], out / model)
    md, js = out / "benchmark.md", out / "benchmark.json"
    _atomic_write(md, markdown(bench))
    _atomic_write(js, json.dumps(bench.to_json(), indent=2) + "\n")
    return {"markdown": md, "json": js}


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def command_line(argv: Sequence[str] | None = None) -> str:
    return "python -m trecsim " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
