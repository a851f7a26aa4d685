"""The benchmark command: every committed model and mode on the boards, one headline row each."""

from __future__ import annotations

import io
import json

import pytest

from tests.firmware_build.fw_common import needs_arm_gcc
from trecsim import cli
from trecsim import spec as specmod
from trecsim.errors import ConfigError
from trecsim.profile import benchmark

pytestmark = needs_arm_gcc

HAVE = specmod.trained_path("cifarnet", "dense").is_file() and specmod.trained_path("cifarnet", "se-trec").is_file()
needs_models = pytest.mark.skipif(not HAVE, reason="needs the committed cifarnet dense and se-trec ModelSpecs")


@needs_models
def test_benchmark_rows_say_status_cycles_speedup_and_accuracy(tmp_path):
    cfg = benchmark.BenchmarkConfig(models=("cifarnet",), boards=("stm32f469i-disco",), modes=("dense", "se-trec"),
                                    images=1, test_images=30, command="python -m trecsim benchmark (test)", jobs=1)
    bench = benchmark.run_benchmark(cfg)
    assert bench.ok
    # the same jobs on a local process pool give the same document (but for the date and whether each
    # firmware came from the build cache: the serial run above built them)
    pooled = benchmark.run_benchmark(benchmark.BenchmarkConfig(**{**cfg.__dict__, "jobs": 2}))

    def strip(doc):
        if isinstance(doc, dict):
            return {k: strip(v) for k, v in doc.items() if k not in ("date", "build_cached")}
        return [strip(v) for v in doc] if isinstance(doc, list) else doc

    assert strip(pooled.to_json()) == strip(bench.to_json())
    head, rows = benchmark.headline_rows(bench)
    # the plain reference dense baseline is always run, right after dense
    assert [r[:4] for r in rows] == [["cifarnet", "stm32f469i-disco", "dense", "bit-exact"],
                                     ["cifarnet", "stm32f469i-disco", "dense-ref", "bit-exact"],
                                     ["cifarnet", "stm32f469i-disco", "se-trec", "bit-exact"]]
    assert "speedup vs our dense (DSP)" in head and "ceiling (TREC layers free)" in head
    assert "speedup vs plain reference dense (papers' kind of baseline)" in head
    raw = bench.to_json()["headline"]
    dense, ref, se = raw
    assert dense["speedup_vs_dense"] == pytest.approx(1.0)
    assert se["speedup_vs_dense"] == pytest.approx(dense["cycles"] / se["cycles"])
    assert ref["cycles"] > dense["cycles"] and ref["speedup_vs_reference_dense"] == pytest.approx(1.0)
    assert se["speedup_vs_reference_dense"] == pytest.approx(ref["cycles"] / se["cycles"])
    assert dense["ceiling_trec_layers_free"] is None and ref["ceiling_trec_layers_free"] is None
    assert se["ceiling_trec_layers_free"] > se["speedup_vs_dense"]
    assert dense["trec_macs_removed"] is None and 0.5 < se["trec_macs_removed"] < 1.0
    acc = bench.accuracy["cifarnet"]["se-trec"]
    assert acc["images"] == 30 and acc["source"] == "bundled sample"
    assert se["int8_accuracy"] == acc["int8_accuracy"]
    assert ref["int8_accuracy"] == dense["int8_accuracy"] == bench.accuracy["cifarnet"]["dense"]["int8_accuracy"]
    assert "dense-ref" not in bench.accuracy["cifarnet"]  # the dense model's, bit-exact
    files = benchmark.write(bench, tmp_path)
    md = files["markdown"].read_text()
    assert "| cifarnet | stm32f469i-disco | se-trec | bit-exact |" in md
    assert "| cifarnet | stm32f469i-disco | dense-ref | bit-exact |" in md
    assert "python -m trecsim benchmark (test)" in md and "model estimate" in md
    doc = json.loads(files["json"].read_text())
    assert doc["format"] == benchmark.BENCH_FORMAT and doc["ok"] is True
    assert len(doc["profiles"]) == 1 and doc["profiles"][0]["board"] == "stm32f469i-disco"
    assert (tmp_path / "cifarnet" / "report.md").is_file()


def test_unknown_model_is_refused_before_any_work():
    with pytest.raises(ConfigError, match="unknown model 'lenet'"):
        benchmark.run_benchmark(benchmark.BenchmarkConfig(models=("lenet",)))


@needs_models
def test_uncommitted_modes_are_skipped_with_a_reason(monkeypatch):
    real = benchmark._committed_modes
    monkeypatch.setattr(benchmark, "_committed_modes",
                        lambda model, modes: [] if model == "zfnet" else real(model, modes))
    cfg = benchmark.BenchmarkConfig(models=("cifarnet", "zfnet"), boards=("stm32f469i-disco",), modes=("dense",),
                                    images=1, test_images=5)
    bench = benchmark.run_benchmark(cfg)
    assert [s["model"] for s in bench.skipped] == ["zfnet"]
    assert "no committed model zfnet-dense" in bench.skipped[0]["reason"]
    assert "skipped zfnet dense" in benchmark.terminal(bench)
    with pytest.raises(ConfigError, match="no committed model to benchmark"):
        benchmark.run_benchmark(benchmark.BenchmarkConfig(models=("zfnet",), boards=("stm32f469i-disco",)))


@needs_models
def test_cli_prints_the_headline_table_and_writes_the_files(tmp_path):
    out = io.StringIO()
    rc = cli.main(["benchmark", "--models", "cifarnet", "--board", "stm32f469i-disco", "--modes", "dense",
                   "--images", "1", "--test-images", "10", "--out", str(tmp_path), "--quiet"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    assert "all runs bit-exact" in text and "cifarnet  stm32f469i-disco  dense" in text
    assert (tmp_path / "benchmark.md").is_file() and (tmp_path / "benchmark.json").is_file()


def test_a_pool_of_no_processes_is_refused():
    from trecsim.errors import ConfigError
    with pytest.raises(ConfigError, match="--jobs 0"):
        benchmark.run_benchmark(benchmark.BenchmarkConfig(models=("cifarnet",), jobs=0))
