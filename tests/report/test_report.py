"""Reports from profile JSON documents: terminal table, Markdown, PNG plots and the Perfetto trace."""

from __future__ import annotations

import json

import pytest

from trecsim import report

PHASES = ("im2col", "hash", "cluster", "centroid", "centroid_gemm", "recovery", "requantize")


def _layer(name, kind, cycles, macs=None, ratio=None, phases=None, speedup=None):
    return {"name": name, "kind": kind, "mode": None, "cycles": float(cycles), "macs": macs,
            "cycles_per_mac": cycles / macs if macs else None, "remaining_ratio": ratio, "clusters": None,
            "phases": phases or {}, "speedup_vs_dense": speedup}


def _run(mode, conv2, phases=None, ratio=None, fits=True, sdram=0):
    if not fits:
        return {"mode": mode, "fits": False, "error": "does not fit: 1000 bytes over", "bit_exact": False,
                "images_checked": 0, "mismatches": [], "layers": [], "memory": {}}
    layers = [_layer("conv1", "conv", 1000, 5000, speedup=1.0),
              _layer("conv2", "conv", conv2, 8000, ratio, phases, speedup=4000 / conv2),
              _layer("fc", "fc", 500, 400, speedup=1.0)]
    total = sum(l["cycles"] for l in layers)
    regions = [{"name": "flash", "kind": "flash", "size": 1 << 21, "static": 9000, "arenas": 0, "arena_peak": 0,
                "stack_peak": 0, "peak": 9000},
               {"name": "sram1", "kind": "sram", "size": 1 << 17, "static": 100, "arenas": 2000,
                "arena_peak": 2000, "stack_peak": 300, "peak": 2400},
               {"name": "sdram", "kind": "sdram", "size": 1 << 24, "static": 0, "arenas": sdram,
                "arena_peak": sdram, "stack_peak": 0, "peak": sdram}]
    return {"mode": mode, "fits": True, "error": None, "bit_exact": True, "images_checked": 2, "mismatches": [],
            "accuracy": 0.5, "golden_accuracy": 0.5, "cycles_total": total, "latency_ms": total / 180e3,
            "speedup_vs_dense": 5500 / total, "layers": layers,
            "memory": {"flash_bytes": 9000, "sram_static_bytes": 100, "sram_peak_bytes": 2400,
                       "stack_peak_bytes": 300, "sdram_bytes": sdram, "sdram_peak_bytes": sdram,
                       "regions": regions},
            "trace": {"image": 0, "layers": [{"name": l["name"], "cycles": int(l["cycles"]),
                                              "phases": {k: int(v) for k, v in l["phases"].items()}}
                                             for l in layers]}}


@pytest.fixture
def doc():
    trec_phases = {p: 100 * (i + 1) for i, p in enumerate(PHASES)}  # 2800 of 3600 cycles
    se_phases = {p: 50 * (i + 1) for i, p in enumerate(PHASES)}  # 1400 of 1800
    return {"format": "trecsim-profile/1", "board": "stm32f469i-disco", "core": "cortex-m4f",
            "clock_hz": 180_000_000, "model": "cifarnet", "emulator": "unicorn",
            "cycle_source": "model estimate (trecsim cycle model)", "memory_timing": True, "images": 2,
            "data": "bundled sample", "skipped": [],
            "runs": [_run("dense", 4000), _run("trec", 3600, trec_phases, 0.25, sdram=5000),
                     _run("se-trec", 1800, se_phases, 0.2)]}


def test_terminal_table_has_layers_speedups_ratios_memory_and_the_papers_figures(doc):
    text = report.terminal_table([doc])
    for fragment in ("conv2", "dense cycles", "trec speedup", "se-trec r_c", "0.250", "0.200", "2.22x",
                     "bit-exact", "published figure", "3.51x", "18.66x", "96.22%", "1.23-4.98x", "1.55x"):
        assert fragment in text, fragment


def test_a_model_that_does_not_fit_is_shown_as_such(doc):
    doc["runs"][1] = _run("trec", 0, fits=False)
    text = report.terminal_table([doc])
    assert "does not fit" in text and "plain TREC does not fit" in text


def test_markdown_has_tables_and_links_the_plots(doc):
    md = report.markdown([doc], ["a.png"], "trace.json")
    assert "| layer |" in md and "| conv2 |" in md and "![a](a.png)" in md and "ui.perfetto.dev" in md


def test_plots_are_written_as_png(doc, tmp_path):
    paths = report.plots([doc], tmp_path)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"cifarnet-stm32f469i-disco-{k}.png" for k in ("cycles", "speedup", "memory", "phases"))
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trace_has_a_slice_per_layer_and_phase_in_microseconds_at_the_board_clock(doc):
    trace = json.loads(json.dumps(report.trace([doc])))
    events = trace["traceEvents"]
    threads = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    assert set(threads) == {"dense", "trec", "se-trec"}
    for mode, tid in threads.items():
        layers = [e for e in events if e.get("cat") == "layer" and e["tid"] == tid]
        assert [e["name"] for e in layers] == ["conv1", "conv2", "fc"]
        assert all(e["ph"] == "X" for e in layers)
        for a, b in zip(layers, layers[1:]):  # back to back on one timeline
            assert b["ts"] == pytest.approx(a["ts"] + a["dur"])
    dense_conv1 = next(e for e in events if e.get("cat") == "layer" and e["tid"] == threads["dense"])
    assert dense_conv1["dur"] == pytest.approx(1000 / 180)  # 1000 cycles at 180 MHz, in microseconds
    phases = [e for e in events if e.get("cat") == "phase" and e["tid"] == threads["trec"]]
    assert [e["name"] for e in phases] == [*PHASES, "other"]
    conv2 = next(e for e in events if e.get("cat") == "layer" and e["tid"] == threads["trec"] and e["name"] == "conv2")
    assert sum(e["dur"] for e in phases) == pytest.approx(conv2["dur"])
    assert phases[0]["ts"] == pytest.approx(conv2["ts"])


def test_write_all_writes_every_file(doc, tmp_path):
    files = report.write_all([doc], tmp_path)
    for key in ("json", "markdown", "table", "trace"):
        assert files[key].is_file()
    assert len(files["plots"]) == 4
    assert json.loads(files["json"].read_text())["board"] == "stm32f469i-disco"
    assert json.loads(files["trace"].read_text())["traceEvents"]
