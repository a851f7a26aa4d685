"""Reports of a profile: terminal table, Markdown, PNG plots and a Chrome/Perfetto trace.

Every function reads the JSON documents of :mod:`trecsim.profile` (``BoardProfile.to_json()``,
the ``--json`` contract), so a report can be redrawn from a saved file. Nothing here prints.

* :func:`terminal_table` - per layer: cycles of each mode, the speedups over our dense (DSP
  kernels) and, with a ``dense-ref`` run, over the plain reference dense (the papers' kind of
  baseline), and the remaining ratio; per TREC layer the speedup it would have if each overhead
  phase were free and the model's ceiling if every TREC layer cost nothing
  (:func:`explain_rows`); per model: end-to-end cycles, latency, speedups, memory, accuracy, and
  the published figures beside ours (:data:`PAPER`);
* :func:`markdown` - the same as a Markdown document that links the plots;
* :func:`plots` - PNGs (matplotlib, Agg backend): per-layer cycles by mode, speedup per layer,
  memory per region by mode, phase breakdown of the TREC layers;
* :func:`trace` - one inference per mode in the Chrome trace-event format (opens in
  ui.perfetto.dev and chrome://tracing): one process per board, one thread per mode, a slice per
  layer and, inside TREC layers, a slice per phase; timestamps in microseconds at the board's clock;
* :func:`write_all` - all of them into a folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

__all__ = ["BASELINE_DENSE", "BASELINE_REFERENCE", "PAPER", "REFERENCE_MODE", "explain_rows", "macs_removed",
           "markdown", "phase_free_speedups", "run_status", "plots", "terminal_table", "trace", "trec_free_ceiling",
           "write_all"]

#: Published figures (design/TREC.md): TREC (NeurIPS 2022) and space-efficient TREC (ASPLOS 2023, IEEE TC 2024).
PAPER = (
    ("TREC average speedup on MCUs (NeurIPS 2022)", "3.51x"),
    ("SE-TREC end-to-end speedup (ASPLOS 2023)", "3.4-5x"),
    ("SE-TREC conv layers, average", "4.28x"),
    ("SE-TREC conv layers, best", "18.66x"),
    ("transient redundancy removed", "96.22%"),
    ("SE-TREC over plain TREC (space optimisations)", "1.23-4.98x"),
)
PHASE_ORDER = ("im2col", "hash", "cluster", "centroid", "centroid_gemm", "recovery", "requantize")
#: The pseudo-mode of the plain reference dense baseline (trecsim.profile.REFERENCE_MODE).
REFERENCE_MODE = "dense-ref"
#: How the two baselines of every ratio are named in the headers.
BASELINE_DENSE = "vs our dense (DSP)"
BASELINE_REFERENCE = "vs plain reference dense (papers' kind of baseline)"
_BASELINE_REFERENCE_SHORT = "vs plain reference dense"
_DENSE_MODES = ("dense", REFERENCE_MODE)


def _kib(n: int | float | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1024:.1f} KB"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _cyc(v: float | None) -> str:
    """Cycles, or "n/a" where the emulator counts none (qemu: cycles_available false, the figures null)."""
    return "n/a" if v is None else f"{v:,.0f}"


def _mcyc(v: float) -> str:
    """Cycles in millions (or as they are below 10,000)."""
    return f"{v / 1e6:.2f} M" if v >= 1e4 else f"{v:,.0f}"


def _has_cycles(doc: dict) -> bool:
    return doc.get("cycles_available", True)


def _ok_runs(doc: dict) -> list[dict]:
    return [r for r in doc["runs"] if r.get("fits", True) and r.get("layers")]


def _layer_names(doc: dict) -> list[str]:
    for r in _ok_runs(doc):
        return [l["name"] for l in r["layers"]]
    return []


def _layer(run: dict, name: str) -> dict | None:
    return next((l for l in run.get("layers", []) if l["name"] == name), None)


def run_status(run: dict) -> str:
    """One word for a run of a profile document: does not fit, failed, bit-exact or N mismatches."""
    if not run.get("fits", True):
        return "does not fit"
    if run.get("error"):
        return "failed"
    return "bit-exact" if run.get("bit_exact") else f"{len(run.get('mismatches', []))} mismatches"


def macs_removed(run: dict) -> float | None:
    """MAC-weighted share of the TREC layers' MACs removed in one run, from the firmware's counters."""
    macs = removed = 0.0
    for l in run.get("layers", []):
        if l.get("remaining_ratio") is not None and l.get("macs"):
            macs += l["macs"]
            removed += (1 - l["remaining_ratio"]) * l["macs"]
    return removed / macs if macs else None


def _ratio_removed(doc: dict, mode: str) -> float | None:
    run = next((r for r in _ok_runs(doc) if r["mode"] == mode), None)
    return None if run is None else macs_removed(run)


# --------------------------------------------------------------------------- what explains the result


def phase_free_speedups(dense_cycles: float | None, layer_cycles: float | None,
                        phases: dict[str, float] | None) -> dict[str, float | None]:
    """For one TREC layer: phase -> its speedup over the same layer dense if that phase cost nothing,
    ``dense_cycles / (layer_cycles - phases[phase])``; None where a figure is missing (or nothing is left)."""
    phases = phases or {}
    out: dict[str, float | None] = {}
    for p in (*PHASE_ORDER, *(k for k in phases if k not in PHASE_ORDER)):
        c = phases.get(p)
        rest = None if layer_cycles is None or c is None else layer_cycles - c
        out[p] = dense_cycles / rest if dense_cycles and rest is not None and rest > 0 else None
    return out


def trec_free_ceiling(dense_total: float | None, trec_layers_dense_cycles: Sequence[float | None]) -> float | None:
    """The end-to-end ceiling if every TREC layer cost nothing: ``dense_total / (dense_total - the TREC
    layers' cycles in the dense run)``; None without TREC layers or a figure."""
    if not dense_total or not trec_layers_dense_cycles or any(c is None for c in trec_layers_dense_cycles):
        return None
    rest = dense_total - sum(trec_layers_dense_cycles)
    return dense_total / rest if rest > 0 else None


def _run_of(doc: dict, mode: str) -> dict | None:
    return next((r for r in _ok_runs(doc) if r["mode"] == mode), None)


def _trec_layers(run: dict) -> list[dict]:
    return [l for l in run["layers"] if l.get("remaining_ratio") is not None]


def explain_rows(doc: dict) -> tuple[list[str], list[list[str]], list[str]]:
    """Per TREC layer of every TREC run: the cycles of the same layer in our dense (DSP) run and in the TREC
    run, the speedup, and the speedup if each phase were free (that phase's cycles in parentheses); and per
    TREC run a line with the end-to-end ceiling if every TREC layer cost nothing. Empty without a dense run
    or without cycles (every figure a model estimate, like every cycle figure of the report)."""
    head = ["mode", "TREC layer", "our dense (DSP) cycles", "TREC cycles", f"speedup {BASELINE_DENSE}",
            *(f"if {p} free" for p in PHASE_ORDER)]
    dense = _run_of(doc, "dense")
    if dense is None or not _has_cycles(doc) or not dense.get("cycles_total"):
        return head, [], []
    rows, ceilings = [], []
    for r in _ok_runs(doc):
        trec = _trec_layers(r)
        if not trec or not r.get("cycles_total"):
            continue
        base = [(_layer(dense, l["name"]) or {}).get("cycles") for l in trec]
        for l, d in zip(trec, base):
            free = phase_free_speedups(d, l["cycles"], l.get("phases"))
            phases = l.get("phases") or {}
            rows.append([r["mode"], l["name"], _cyc(d), _cyc(l["cycles"]),
                         _x(d / l["cycles"] if d and l["cycles"] else None),
                         *(("-" if free.get(p) is None else f"{free[p]:.2f}x ({_mcyc(phases.get(p, 0))})")
                           for p in PHASE_ORDER)])
        ceiling = trec_free_ceiling(dense["cycles_total"], base)
        if ceiling is not None:
            freed = sum(base)
            ceilings.append(f"{r['mode']}: ceiling (TREC layers free) {ceiling:.2f}x end-to-end {BASELINE_DENSE} = "
                            f"dense total {_cyc(dense['cycles_total'])} / (dense total - the TREC layers' "
                            f"{_cyc(freed)} dense cycles, {freed / dense['cycles_total'] * 100:.1f}%); "
                            f"measured {_x(r.get('speedup_vs_dense') or dense['cycles_total'] / r['cycles_total'])}")
    return head, rows, ceilings


_EXPLAIN_NOTE = ("if X free = the layer's speedup over the same layer in our dense (DSP) build if phase X cost "
                 "nothing: dense layer cycles / (TREC layer cycles - X's cycles), X's cycles per inference in "
                 "parentheses; model estimates")


# --------------------------------------------------------------------------- terminal


def _rows(doc: dict) -> tuple[list[str], list[list[str]]]:
    runs = _ok_runs(doc)
    modes = [r["mode"] for r in runs]
    vs_dense = [r for r in runs if r["mode"] != "dense"]
    vs_ref = [r for r in runs if r["mode"] != REFERENCE_MODE] if REFERENCE_MODE in modes else []
    trec = [r for r in runs if r["mode"] not in _DENSE_MODES]
    head = ["layer", "kind", "MACs"] + [f"{m} cycles" for m in modes]
    head += [f"{r['mode']} speedup {BASELINE_DENSE}" for r in vs_dense]
    head += [f"{r['mode']} speedup {_BASELINE_REFERENCE_SHORT}" for r in vs_ref]
    head += [f"{r['mode']} r_c" for r in trec]
    rows = []
    for name in _layer_names(doc):
        first = _layer(runs[0], name)
        row = [name, first["kind"], f"{first['macs']:,}" if first.get("macs") else "-"]
        row += [_cyc(_layer(r, name)["cycles"]) for r in runs]
        row += [_x(_layer(r, name).get("speedup_vs_dense")) for r in vs_dense]
        row += [_x(_layer(r, name).get("speedup_vs_reference_dense")) for r in vs_ref]
        for r in trec:
            rc = _layer(r, name).get("remaining_ratio")
            row.append("-" if rc is None else f"{rc:.3f}")
        rows.append(row)
    total = ["total", "", ""] + [_cyc(r["cycles_total"]) for r in runs]
    total += [_x(r.get("speedup_vs_dense")) for r in vs_dense]
    total += [_x(r.get("speedup_vs_reference_dense")) for r in vs_ref]
    total += ["" for r in trec]
    rows.append(total)
    return head, rows


def _rows_note(doc: dict) -> str:
    if not _has_cycles(doc):
        return (f"(no cycles: {doc['cycle_source']}; outputs are checked bit for bit; "
                "r_c = remaining ratio measured on the board)")
    ref = (f"; speedup {_BASELINE_REFERENCE_SHORT} = {REFERENCE_MODE} cycles / mode cycles, {REFERENCE_MODE} being "
           "the same dense model with the plain loop-nest conv and fc kernels (the papers' kind of baseline)"
           if _run_of(doc, REFERENCE_MODE) else "")
    return ("(cycles per inference, mean over the images, model estimates; speedup "
            f"{BASELINE_DENSE} = dense cycles / mode cycles, dense using the DSP-optimized kernels{ref}; "
            "r_c = remaining ratio measured on the board)")


def _grid(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(head), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def _summary_rows(doc: dict) -> tuple[list[str], list[list[str]]]:
    ref = _run_of(doc, REFERENCE_MODE) is not None
    head = ["mode", "status", "images", "accuracy", "golden acc", "cycles", "latency", f"speedup {BASELINE_DENSE}",
            *([f"speedup {BASELINE_REFERENCE}"] if ref else []), "flash", "SRAM peak", "stack peak", "SDRAM"]
    rows = []
    for r in doc["runs"]:
        if not r.get("fits", True) or not r.get("layers"):
            rows.append([r["mode"], run_status(r)] + ["-"] * (len(head) - 2))
            continue
        m = r["memory"]
        rows.append([r["mode"], run_status(r), str(r["images_checked"]), f"{r['accuracy'] * 100:.1f}%",
                     f"{r['golden_accuracy'] * 100:.1f}%", _cyc(r["cycles_total"]),
                     "n/a" if r["latency_ms"] is None else f"{r['latency_ms']:.1f} ms",
                     _x(r.get("speedup_vs_dense")), *([_x(r.get("speedup_vs_reference_dense"))] if ref else []),
                     _kib(m["flash_bytes"]), _kib(m["sram_peak_bytes"]),
                     f"{m['stack_peak_bytes']} B", _kib(m["sdram_peak_bytes"])])
    return head, rows


def _ours(doc: dict) -> list[tuple[str, str]]:
    """Our figures next to each published one (same order as PAPER)."""
    runs = {r["mode"]: r for r in _ok_runs(doc)}
    trec, se = runs.get("trec"), runs.get("se-trec")
    has_ref = REFERENCE_MODE in runs

    def conv_speedups(run, key="speedup_vs_dense"):
        return [l[key] for l in run["layers"] if l.get("remaining_ratio") is not None and l.get(key)] if run else []

    def both(dense: float | None, ref: float | None) -> str:
        """A figure against each baseline there is, each saying which."""
        if dense is None:
            return "-"
        text = f"{_x(dense)} {BASELINE_DENSE}"
        return text + (f"; {_x(ref)} {_BASELINE_REFERENCE_SHORT}" if has_ref and ref is not None else "")

    def run_both(run):
        return both(run.get("speedup_vs_dense"), run.get("speedup_vs_reference_dense")) if run else "-"

    se_conv, se_conv_ref = conv_speedups(se), conv_speedups(se, "speedup_vs_reference_dense")
    mean = lambda v: sum(v) / len(v) if v else None  # noqa: E731
    removed = [v for v in (_ratio_removed(doc, "se-trec"), _ratio_removed(doc, "trec")) if v is not None]
    over = (trec["cycles_total"] / se["cycles_total"]) if trec and se and trec["cycles_total"] and se["cycles_total"] \
        else None
    return [
        ("TREC average speedup on MCUs (NeurIPS 2022)", run_both(trec)),
        ("SE-TREC end-to-end speedup (ASPLOS 2023)", run_both(se)),
        ("SE-TREC conv layers, average", both(mean(se_conv), mean(se_conv_ref))),
        ("SE-TREC conv layers, best", both(max(se_conv) if se_conv else None,
                                           max(se_conv_ref) if se_conv_ref else None)),
        ("transient redundancy removed", f"{removed[0] * 100:.2f}% (TREC layers' MACs)" if removed else "-"),
        ("SE-TREC over plain TREC (space optimisations)", _x(over) if over else
         ("plain TREC does not fit" if "trec" in {r["mode"] for r in doc["runs"]} and trec is None else "-")),
    ]


def _doc_title(doc: dict) -> str:
    if doc.get("target") == "hw":
        return (f"{doc['model']} on {doc['board']} ({doc['core']} @ {doc['clock_hz'] / 1e6:g} MHz), "
                f"{doc['images']} images from the {doc['data']}, on the board through {doc.get('probe')}; cycles: "
                f"{doc['cycle_source']}; beside them the model estimate of the same images ({doc['cycle_model']}"
                f"{', data-memory timing' if doc.get('memory_timing') else ''})")
    return (f"{doc['model']} on {doc['board']} ({doc['core']} @ {doc['clock_hz'] / 1e6:g} MHz), "
            f"{doc['images']} images from the {doc['data']}, emulator {doc['emulator']}; cycles: "
            f"{doc['cycle_source']}{' with data-memory timing' if doc.get('memory_timing') else ''}")


def _calibration_rows(doc: dict) -> tuple[list[str], list[list[str]]]:
    """--target hw: per mode and layer the measured cycles, the model's estimate and their ratio."""
    measured = "DWT on hardware" if doc["cycle_source"].startswith("DWT on hardware") else "measured cycles"
    head = ["mode", "layer", measured, "model estimate", "measured / model"]
    rows = []
    for r in _ok_runs(doc):
        if r.get("model_cycles_total") is None:
            continue
        for l in r["layers"]:
            ratio = l.get("hw_vs_model")
            rows.append([r["mode"], l["name"], f"{l['cycles']:,.0f}",
                         "-" if l.get("model_cycles") is None else f"{l['model_cycles']:,.0f}",
                         "-" if ratio is None else f"{ratio:.3f}"])
        rows.append([r["mode"], "total", f"{r['cycles_total']:,.0f}", f"{r['model_cycles_total']:,.0f}",
                     "-" if r.get("hw_vs_model") is None else f"{r['hw_vs_model']:.3f}"])
    return head, rows


def terminal_table(docs: Sequence[dict]) -> str:
    """The per-layer and per-model tables of every board, with the papers' figures, as plain text."""
    out: list[str] = []
    for doc in docs:
        out.append(_doc_title(doc))
        for s in doc.get("skipped", []):
            out.append(f"  skipped {s['mode']}: {s['reason']}")
        if _ok_runs(doc):
            out += ["", *("  " + line for line in _grid(*_rows(doc)))]
            out.append("  " + _rows_note(doc))
        head, rows, ceilings = explain_rows(doc)
        if rows:
            out += ["", "  TREC layers explained (model estimates): the speedup of each TREC layer over the same "
                        "layer dense, and what it would be if each overhead phase were free",
                    *("  " + line for line in _grid(head, rows)), "  (" + _EXPLAIN_NOTE + ")",
                    *("  " + c for c in ceilings)]
        if doc.get("target") == "hw" and _calibration_rows(doc)[1]:
            out += ["", f"  calibration: {doc['cycle_source']} beside the cycle model's estimate",
                    *("  " + line for line in _grid(*_calibration_rows(doc)))]
        out += ["", *("  " + line for line in _grid(*_summary_rows(doc)))]
        for r in doc["runs"]:
            if r.get("error"):
                out.append(f"  {r['mode']}: {r['error']}")
            for m in r.get("mismatches", [])[:5]:
                out.append(f"  {r['mode']} MISMATCH image {m['image']}: {m['detail']}")
        out += ["", *("  " + line for line in _grid(["published figure", "paper", "ours"],
                                                    [[p[0], p[1], o[1]] for p, o in zip(PAPER, _ours(doc))]))]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- markdown


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|",
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows)]


def markdown(docs: Sequence[dict], images: Sequence[str] = (), trace_file: str | None = None) -> str:
    """A Markdown report: per board the per-layer table, the per-model table, the papers' figures,
    and links to the given plot files (relative paths)."""
    lines = ["# trecsim profile", ""]
    for doc in docs:
        lines += [f"## {doc['model']} on {doc['board']}", "", _doc_title(doc) + ".", ""]
        for s in doc.get("skipped", []):
            lines.append(f"- skipped {s['mode']}: {s['reason']}")
        if _ok_runs(doc):
            lines += ["### Per layer", "", *_md_table(*_rows(doc)), "", _rows_note(doc), ""]
        head, rows, ceilings = explain_rows(doc)
        if rows:
            lines += ["### TREC layers explained (model estimates)", "",
                      "The speedup of each TREC layer over the same layer dense, and what it would be if each "
                      "overhead phase were free.", "", *_md_table(head, rows), "", _EXPLAIN_NOTE + ".", "",
                      *(f"- {c}" for c in ceilings), ""]
        if doc.get("target") == "hw" and _calibration_rows(doc)[1]:
            lines += ["### Measured beside the cycle model", "", f"Measured: {doc['cycle_source']}.", "",
                      *_md_table(*_calibration_rows(doc)), ""]
        lines += ["### Per model", "", *_md_table(*_summary_rows(doc)), ""]
        for r in doc["runs"]:
            if r.get("error"):
                lines += [f"- **{r['mode']}**: {r['error']}"]
            for m in r.get("mismatches", [])[:5]:
                lines += [f"- **{r['mode']} mismatch**, image {m['image']}: {m['detail']}"]
        lines += ["### Published figures beside ours", "",
                  *_md_table(["figure", "paper", "ours"], [[p[0], p[1], o[1]] for p, o in zip(PAPER, _ours(doc))]),
                  ""]
    if images:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in images] + [""]
    if trace_file:
        lines += [f"Trace of one inference per mode: [{trace_file}]({trace_file}) "
                  "(open it in https://ui.perfetto.dev or chrome://tracing).", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plots(docs: Sequence[dict], out_dir: str | Path) -> list[Path]:
    """PNG plots of every board into ``out_dir``; returns their paths."""
    plt = _pyplot()
    import numpy as np

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig, name: str) -> None:
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    for doc in docs:
        runs = _ok_runs(doc)
        if not runs:
            continue
        tag = f"{doc['model']}-{doc['board']}"
        names = _layer_names(doc)
        x = np.arange(len(names))
        width = 0.8 / len(runs)

        fig, ax = plt.subplots(figsize=(9, 4.5)) if _has_cycles(doc) else (None, None)
        for i, r in enumerate(runs if ax is not None else ()):
            ax.bar(x + i * width, [_layer(r, n)["cycles"] / 1e6 for n in names], width, label=r["mode"])
        if ax is not None:
            ax.set_xticks(x + width * (len(runs) - 1) / 2, names)
            ax.set_ylabel("M cycles per inference (model)")
            ax.set_title(f"{doc['model']} on {doc['board']}: cycles per layer")
            ax.legend()
            save(fig, f"{tag}-cycles.png")

        others = [r for r in runs if r["mode"] != "dense" and r.get("speedup_vs_dense")]
        if others:
            fig, ax = plt.subplots(figsize=(9, 4.5))
            w = 0.8 / len(others)
            for i, r in enumerate(others):
                ax.bar(x + i * w, [_layer(r, n).get("speedup_vs_dense") or 0 for n in names], w, label=r["mode"])
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_xticks(x + w * (len(others) - 1) / 2, names)
            ax.set_ylabel(f"speedup {BASELINE_DENSE} (x)")
            ax.set_title(f"{doc['model']} on {doc['board']}: speedup per layer")
            ax.legend()
            save(fig, f"{tag}-speedup.png")

        regions = [reg["name"] for reg in runs[0]["memory"]["regions"] if reg["kind"] != "flash"]
        used = [g for g in regions if any(next(x for x in r["memory"]["regions"] if x["name"] == g)["peak"]
                                         for r in runs)]
        if used:
            fig, ax = plt.subplots(figsize=(9, 4.5))
            xr = np.arange(len(used))
            for i, r in enumerate(runs):
                peaks = {reg["name"]: reg["peak"] / 1024 for reg in r["memory"]["regions"]}
                ax.bar(xr + i * width, [peaks.get(g, 0) for g in used], width, label=r["mode"])
            ax.set_xticks(xr + width * (len(runs) - 1) / 2, used)
            ax.set_ylabel("KB in use at the peak")
            ax.set_title(f"{doc['model']} on {doc['board']}: RAM per region (flash "
                         + ", ".join(f"{r['mode']} {r['memory']['flash_bytes'] / 1024:.0f} KB" for r in runs) + ")")
            ax.legend()
            save(fig, f"{tag}-memory.png")

        trec_layers = [(r["mode"], l) for r in runs for l in r["layers"] if l.get("phases")]
        if trec_layers:
            fig, ax = plt.subplots(figsize=(9, 4.5))
            labels = [f"{m}\n{l['name']}" for m, l in trec_layers]
            bottom = np.zeros(len(trec_layers))
            for p in PHASE_ORDER:
                vals = np.array([l["phases"].get(p, 0) / 1e6 for _, l in trec_layers])
                ax.bar(labels, vals, bottom=bottom, label=p)
                bottom += vals
            rest = np.array([max(0.0, l["cycles"] / 1e6 - b) for (_, l), b in zip(trec_layers, bottom)])
            ax.bar(labels, rest, bottom=bottom, label="other", color="lightgrey")
            ax.set_ylabel("M cycles per inference (model)")
            ax.set_title(f"{doc['model']} on {doc['board']}: phases of the TREC layers")
            ax.legend(fontsize="small")
            save(fig, f"{tag}-phases.png")
    return written


# --------------------------------------------------------------------------- trace


def trace(docs: Sequence[dict]) -> dict:
    """Chrome/Perfetto trace-event JSON of one inference per board and mode (the run's first image).

    Layers run one after another from t = 0; within a TREC layer the phases are interleaved over
    its sub-matrices on the board, so they are drawn as consecutive slices of their total cycles
    (plus "other" for the layer's cycles outside every phase). Timestamps and durations are in
    microseconds at the board's clock: cycles / clock_hz * 1e6."""
    events: list[dict] = []
    for pid, doc in enumerate(docs, start=1):
        us = 1e6 / doc["clock_hz"]
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                       "args": {"name": f"{doc['board']} {doc['model']} ({doc['cycle_source']})"}})
        for tid, run in enumerate(_ok_runs(doc) if _has_cycles(doc) else [], start=1):
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                           "args": {"name": run["mode"]}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid,
                           "args": {"sort_index": tid}})
            t = 0
            layers = run.get("trace", {}).get("layers") or run["layers"]
            for l in layers:
                cycles = int(l["cycles"])
                events.append({"name": l["name"], "cat": "layer", "ph": "X", "pid": pid, "tid": tid,
                               "ts": t * us, "dur": cycles * us,
                               "args": {"cycles": cycles, "mode": run["mode"]}})
                pt = t
                phases = l.get("phases") or {}
                for p in PHASE_ORDER:
                    c = int(phases.get(p, 0))
                    if c:
                        events.append({"name": p, "cat": "phase", "ph": "X", "pid": pid, "tid": tid,
                                       "ts": pt * us, "dur": c * us, "args": {"cycles": c, "layer": l["name"]}})
                        pt += c
                if phases and cycles > pt - t:
                    events.append({"name": "other", "cat": "phase", "ph": "X", "pid": pid, "tid": tid,
                                   "ts": pt * us, "dur": (cycles - (pt - t)) * us,
                                   "args": {"cycles": cycles - (pt - t), "layer": l["name"]}})
                t += cycles
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"source": "trecsim profile", "time_unit": "microseconds at the board clock"}}


def write_all(docs: Sequence[dict], out_dir: str | Path) -> dict[str, Path | list[Path]]:
    """profile.json, report.md, the PNGs and trace.json into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = plots(docs, out_dir)
    trace_path = out_dir / "trace.json"
    trace_path.write_text(json.dumps(trace(docs)) + "\n")
    md = out_dir / "report.md"
    md.write_text(markdown(docs, [p.name for p in pngs], trace_path.name))
    data = out_dir / "profile.json"
    data.write_text(json.dumps(docs[0] if len(docs) == 1 else list(docs), indent=2) + "\n")
    table = out_dir / "table.txt"
    table.write_text(terminal_table(docs))
    return {"json": data, "markdown": md, "table": table, "trace": trace_path, "plots": pngs}
