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


# --------------------------------------------------------------------------- baselines and the explanation


def test_phase_free_speedups_and_the_ceiling_are_the_documented_ratios():
    phases = {"hash": 300.0, "cluster": 200.0, "recovery": 0.0}
    free = report.phase_free_speedups(4000.0, 1800.0, phases)
    assert free["hash"] == pytest.approx(4000 / 1500) and free["cluster"] == pytest.approx(4000 / 1600)
    assert free["recovery"] == pytest.approx(4000 / 1800)  # a phase of 0 cycles changes nothing
    assert free["im2col"] is None  # a phase that was not measured
    assert set(free) == set(PHASES)
    assert report.phase_free_speedups(None, 1800.0, phases)["hash"] is None
    assert report.trec_free_ceiling(5500.0, [4000.0]) == pytest.approx(5500 / 1500)
    assert report.trec_free_ceiling(5500.0, [3000.0, 1000.0]) == pytest.approx(5500 / 1500)
    assert report.trec_free_ceiling(5500.0, []) is None and report.trec_free_ceiling(5500.0, [None]) is None
    assert report.trec_free_ceiling(5500.0, [5500.0]) is None  # nothing left: no finite ceiling


def test_the_explanation_lists_each_trec_layer_with_its_phase_free_speedups_and_the_ceiling(doc):
    head, rows, ceilings = report.explain_rows(doc)
    assert head[:5] == ["mode", "TREC layer", "our dense (DSP) cycles", "TREC cycles",
                        "speedup vs our dense (DSP)"]
    assert head[5:] == [f"if {p} free" for p in PHASES]
    assert [r[:2] for r in rows] == [["trec", "conv2"], ["se-trec", "conv2"]]
    trec = dict(zip(head, rows[0]))
    # dense conv2 4000 cycles; plain TREC's conv2 3600 with phases 100, 200, ..., 700
    assert trec["speedup vs our dense (DSP)"] == "1.11x"
    assert trec["if im2col free"] == f"{4000 / 3500:.2f}x (100)"
    assert trec["if requantize free"] == f"{4000 / 2900:.2f}x (700)"
    se = dict(zip(head, rows[1]))  # 1800 cycles, phases 50 ... 350
    assert se["if hash free"] == f"{4000 / 1700:.2f}x (100)"
    # the ceiling: dense total 5500, of which the TREC layer conv2 is 4000
    assert len(ceilings) == 2 and all(f"{5500 / 1500:.2f}x" in c for c in ceilings)
    assert ceilings[1].startswith("se-trec: ceiling (TREC layers free)") and "measured 1.67x" in ceilings[1]
    text = report.terminal_table([doc])
    assert "TREC layers explained (model estimates)" in text and "if centroid_gemm free" in text
    assert "3.67x end-to-end vs our dense (DSP)" in text
    md = report.markdown([doc])
    assert "### TREC layers explained (model estimates)" in md and "| se-trec | conv2 |" in md


def test_without_a_dense_run_there_is_nothing_to_explain(doc):
    doc["runs"] = doc["runs"][1:]
    assert report.explain_rows(doc)[1:] == ([], [])
    assert "TREC layers explained" not in report.terminal_table([doc])


def test_every_ratio_names_its_baseline_and_the_reference_run_adds_its_columns(doc):
    text = report.terminal_table([doc])
    assert "se-trec speedup vs our dense (DSP)" in text and "vs plain reference dense" not in text
    ref = _run("dense-ref", 24000)  # the plain reference dense: conv2 6x slower
    for r in doc["runs"]:
        r["speedup_vs_reference_dense"] = ref["cycles_total"] / r["cycles_total"]
        for layer in r["layers"]:
            layer["speedup_vs_reference_dense"] = _layer_cycles(ref, layer["name"]) / layer["cycles"]
    doc["runs"].insert(1, ref)
    text = report.terminal_table([doc])
    for fragment in ("dense-ref cycles", "se-trec speedup vs our dense (DSP)",
                     "se-trec speedup vs plain reference dense", "dense speedup vs plain reference dense",
                     "speedup vs plain reference dense (papers' kind of baseline)", "the papers' kind of baseline", f"{24000 / 1800:.2f}x", f"{ref['cycles_total'] / 3300:.2f}x"):
        assert fragment in text, fragment
    assert "dense-ref r_c" not in text  # no clusters in a dense run
    assert [r[:2] for r in report.explain_rows(doc)[1]] == [["trec", "conv2"], ["se-trec", "conv2"]]
    md = report.markdown([doc])
    assert "speedup vs plain reference dense (papers' kind of baseline) |" in md
    assert "| dense-ref | bit-exact |" in md


def _layer_cycles(run, name):
    return next(l["cycles"] for l in run["layers"] if l["name"] == name)
