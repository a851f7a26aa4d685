"""The profile pipeline: bit-exact runs of the committed CifarNet, the JSON contract, mismatch detection
and diagnosis, skipped and refused models, and the command line."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from trecsim import boards, cli, data, golden
from trecsim import profile as prof
from trecsim import spec as specmod
from trecsim.errors import ConfigError

needs_arm_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                                   reason="arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi "
                                   "libnewlib-arm-none-eabi)")
BOARD = "stm32f469i-disco"
DENSE_2 = prof.ProfileConfig(boards=(BOARD,), modes=("dense",), modes_given=True, images=2)

TOP_KEYS = ("board", "core", "clock_hz", "model", "emulator", "cycle_source", "images", "runs")
RUN_KEYS = ("mode", "bit_exact", "images_checked", "mismatches", "accuracy", "cycles_total", "latency_ms",
            "layers", "memory")
LAYER_KEYS = ("name", "kind", "cycles", "macs", "remaining_ratio", "phases")
MEMORY_KEYS = ("flash_bytes", "sram_static_bytes", "sram_peak_bytes", "stack_peak_bytes", "sdram_bytes")


def _profile_one_board(cfg: prof.ProfileConfig):
    """The one BoardProfile of ``cfg`` (module fixtures: built and run once per module)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    (bp,) = prof.profile(cfg)
    return bp


@pytest.fixture(scope="module")
def dense_profile():
    return _profile_one_board(DENSE_2)


@needs_arm_gcc
def test_cifarnet_dense_runs_bit_exact_on_two_images(dense_profile):
    (run,) = dense_profile.runs
    assert run.bit_exact and run.mismatches == [] and run.error is None
    assert run.images_checked == 2 and dense_profile.ok
    assert [p["match"] for p in run.per_image] == [True, True]
    assert run.accuracy == run.golden_accuracy
    assert run.cycles_total == pytest.approx(sum(l.cycles for l in run.layers))
    assert run.latency_ms == pytest.approx(run.cycles_total / 180e6 * 1e3)
    conv2 = next(l for l in run.layers if l.name == "conv2")
    assert conv2.macs == 10_240_000 and 0.5 < conv2.cycles_per_mac < 10
    assert run.uart[-1] == "done status 0"


@needs_arm_gcc
def test_json_follows_the_documented_contract(dense_profile):
    doc = json.loads(json.dumps(dense_profile.to_json()))  # JSON-serialisable as it is
    assert all(k in doc for k in TOP_KEYS)
    assert doc["cycle_source"] == "model estimate (trecsim cycle model)"
    assert (doc["board"], doc["core"], doc["clock_hz"], doc["model"], doc["emulator"], doc["images"]) == \
        (BOARD, "cortex-m4f", 180_000_000, "cifarnet", "unicorn", 2)
    (run,) = doc["runs"]
    assert all(k in run for k in RUN_KEYS) and all(k in run["memory"] for k in MEMORY_KEYS)
    assert [l["name"] for l in run["layers"]] == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    for layer in run["layers"]:
        assert all(k in layer for k in LAYER_KEYS)
    mem = run["memory"]
    assert 0 < mem["stack_peak_bytes"] < mem["stack_reserved_bytes"]
    assert mem["flash_bytes"] > mem["weights_bytes"] and mem["sdram_bytes"] == 0
    assert mem["sram_peak_bytes"] >= mem["arena_peak_bytes"]["sram"]


@needs_arm_gcc
def test_trec_layers_report_phases_and_the_remaining_ratio_of_the_golden_model():
    cfg = replace(DENSE_2, modes=("trec",), images=1)
    (bp,) = prof.profile(cfg)
    (run,) = bp.runs
    assert run.bit_exact
    conv2 = next(l for l in run.layers if l.name == "conv2")
    spec = specmod.load_trained("cifarnet", "trec")
    expected = golden.run(spec, data.load_sample().images[:1]).remaining_ratio()["conv2"]
    assert conv2.remaining_ratio == pytest.approx(expected)
    assert set(conv2.phases) == {"im2col", "hash", "cluster", "centroid", "centroid_gemm", "recovery",
                                 "requantize"}
    assert 0 < sum(conv2.phases.values()) <= conv2.cycles
    assert run.memory["sdram_bytes"] > 0  # plain TREC's buffers spill to the F469's SDRAM


@needs_arm_gcc
def test_a_tampered_expected_output_is_a_mismatch_with_index_expected_and_got(monkeypatch):
    real_run = golden.run

    def tampered(spec, images, **kw):
        result = real_run(spec, images, **kw)
        if not kw.get("keep_outputs"):  # the expectations, not the diagnosis' per-layer reference
            result.logits[1, 7] ^= 0x11
        return result

    monkeypatch.setattr(prof.golden, "run", tampered)
    (bp,) = prof.profile(DENSE_2)
    (run,) = bp.runs
    assert not run.bit_exact and not run.ok and not bp.ok
    m = next(m for m in run.mismatches if m.what == "output")
    assert m.image == 1 and m.index == [7] and m.expected != m.got
    assert (m.expected & 0xFF) ^ (m.got & 0xFF) == 0x11
    # the diagnosis reruns image 1 with per-layer outputs: every layer matches the (untampered) golden model
    assert "every layer's output matches" in m.detail
    assert [p["match"] for p in run.per_image] == [True, False]


@needs_arm_gcc
def test_diagnosis_names_the_first_layer_whose_output_differs():
    board = boards.get_board(BOARD)
    spec = specmod.load_trained("cifarnet", "dense")
    from trecsim.firmware.build import build_firmware

    build = build_firmware(spec, board)
    # golden model of a spec whose fc1 bias differs: the firmware (built from the real spec) differs from fc1 on
    fc1 = spec.layer("fc1")
    arrays = dict(fc1.arrays, bias=fc1.arrays["bias"] + 5000)
    layers = tuple(replace(l, arrays=arrays) if l.name == "fc1" else l for l in spec.layers)
    other = replace(spec, layers=layers)
    found = prof.diagnose(build, other, board, data.load_sample().images[0])
    assert found is not None
    layer, tensor, index, expected, got = found
    assert layer == "fc1" and tensor == fc1.output and len(index) == 1 and expected != got


@needs_arm_gcc
def test_check_run_compares_output_and_cluster_counts():
    board = boards.get_board(BOARD)
    spec = specmod.load_trained("cifarnet", "se-trec")
    from trecsim.emulators import run_firmware
    from trecsim.firmware.build import build_firmware

    image = data.load_sample().images[:1]
    r = run_firmware(build_firmware(spec, board).elf, board, golden.model_input(spec, image)[0])
    g = golden.run(spec, image)
    clusters = {k: v[0] for k, v in g.clusters.items()}
    assert prof.check_run(spec, r, g.logits[0], clusters) == []
    bad = {k: v.copy() for k, v in clusters.items()}
    bad["conv2"][3] += 1
    (m,) = prof.check_run(spec, r, g.logits[0], bad)
    assert m.what == "clusters" and m.layer == "conv2" and m.index == [3] and m.expected == m.got + 1


def test_compare_tensor_reports_the_first_difference_in_the_tensor_shape():
    a = np.zeros((2, 3, 4), np.int8)
    b = a.copy()
    assert prof.compare_tensor(a, b) is None
    b[1, 2, 0] = 5
    b[1, 2, 3] = 7
    assert prof.compare_tensor(a, b.reshape(-1)) == ([1, 2, 0], 0, 5, 2)


def test_an_unknown_emulator_is_refused_saying_what_to_use():
    with pytest.raises(ConfigError, match="unknown emulator 'gem5'.*unicorn, qemu, renode"):
        prof.profile(replace(DENSE_2, emulator="gem5"))


def test_an_untrained_model_is_refused_listing_the_committed_ones(monkeypatch):
    real = specmod.trained_path
    monkeypatch.setattr(prof.specmod, "trained_path",  # as if zfnet and squeezenet-dense were not committed
                        lambda model, mode: real(model, mode).with_name("missing.npz")
                        if model == "zfnet" or (model, mode) == ("squeezenet", "dense") else real(model, mode))
    with pytest.raises(specmod.SpecError, match="not trained yet.*cifarnet-dense"):
        prof.profile(prof.ProfileConfig(model="zfnet"))
    with pytest.raises(specmod.SpecError, match="squeezenet-dense.*cifarnet-dense"):
        prof.profile(prof.ProfileConfig(model="squeezenet", modes=("dense",), modes_given=True))


@needs_arm_gcc
def test_default_modes_without_a_committed_model_are_skipped_with_a_note(monkeypatch):
    real = specmod.trained_path
    monkeypatch.setattr(prof.specmod, "trained_path",
                        lambda model, mode: real(model, mode).with_name("missing.npz") if mode != "dense"
                        else real(model, mode))
    (bp,) = prof.profile(prof.ProfileConfig(modes=("dense", "se-trec"), images=1))
    assert [r.mode for r in bp.runs] == ["dense"]
    assert bp.skipped[0]["mode"] == "se-trec" and "no committed model" in bp.skipped[0]["reason"]


@needs_arm_gcc
def test_a_model_that_does_not_fit_is_reported_not_run():
    (bp,) = prof.profile(prof.ProfileConfig(boards=("nucleo-f746zg",), modes=("trec",), modes_given=True,
                                            images=1))
    (run,) = bp.runs
    assert not run.fits and "bytes over" in run.error and run.ok


def test_all_selects_every_board():
    assert set(prof.resolve_boards("all")) == {"stm32f469i-disco", "nucleo-f746zg"}
    assert prof.resolve_boards("STM32F469I-DISCO") == ("stm32f469i-disco",)


@needs_arm_gcc
def test_the_command_writes_table_reports_and_json_and_exits_0(tmp_path, capsys):
    out = tmp_path / "profile"
    rc = cli.main(["profile", "--modes", "dense", "--images", "2", "--quiet", "--out", str(out),
                   "--json", str(tmp_path / "p.json")])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "conv2" in text and "bit-exact" in text and "3.51x" in text
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["runs"][0]["bit_exact"] is True
    for name in ("report.md", "trace.json", "profile.json", "table.txt", "cifarnet-stm32f469i-disco-cycles.png"):
        assert (out / name).is_file(), name


@needs_arm_gcc
def test_the_command_exits_1_on_a_mismatch(tmp_path, capsys, monkeypatch):
    real_run = golden.run

    def tampered(spec, images, **kw):
        result = real_run(spec, images, **kw)
        result.logits[0, 0] += 1
        return result

    monkeypatch.setattr(prof.golden, "run", tampered)
    rc = cli.main(["profile", "--modes", "dense", "--images", "1", "--quiet", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert rc == 1
    assert "MISMATCH image 0" in text and "FAILED" in text


def test_the_command_refuses_bad_input_in_one_paragraph(capsys):
    assert cli.main(["profile", "--board", "stm32f407-disco", "--quiet"]) == 2
    assert "stm32f469i-disco" in capsys.readouterr().err
    assert cli.main(["profile", "--images", "zero", "--quiet"]) == 2
    assert "--images" in capsys.readouterr().err


# --------------------------------------------------------------------------- baselines and the explanation

BASELINES_1 = replace(DENSE_2, modes=("dense", "dense-ref", "se-trec"), images=1)


@pytest.fixture(scope="module")
def baselines():
    return _profile_one_board(BASELINES_1)


@needs_arm_gcc
def test_the_plain_reference_dense_build_is_bit_exact_and_slower_than_ours(baselines):
    dense, ref = baselines.run("dense"), baselines.run("dense-ref")
    assert ref.bit_exact and ref.images_checked == 1 and ref.mismatches == [] and baselines.ok
    assert ref.accuracy == dense.accuracy and ref.per_image[0]["prediction"] == dense.per_image[0]["prediction"]
    # its own cache slot, beside the optimized build's
    assert ref.build_dir.endswith("/cifarnet-dense-ref") and dense.build_dir.endswith("/cifarnet-dense")
    assert "convolve_s8_ref(" in (Path(ref.build_dir) / "model.c").read_text()
    assert "convolve_s8_ref(" not in (Path(dense.build_dir) / "model.c").read_text()
    assert ref.cycles_total > dense.cycles_total
    for name in ("conv1", "conv2", "fc1"):  # the conv and fc layers are the slower ones; pooling is the same
        layer = next(l for l in ref.layers if l.name == name)
        assert layer.cycles > next(l for l in dense.layers if l.name == name).cycles
    assert dense.speedup_vs_reference_dense == pytest.approx(ref.cycles_total / dense.cycles_total)
    assert ref.speedup_vs_reference_dense == pytest.approx(1.0)
    assert ref.speedup_vs_dense == pytest.approx(dense.cycles_total / ref.cycles_total)


@needs_arm_gcc
def test_trec_layers_get_phase_free_speedups_and_the_run_its_ceiling_in_the_json(baselines):
    doc = json.loads(json.dumps(baselines.to_json()))
    runs = {r["mode"]: r for r in doc["runs"]}
    for r in doc["runs"]:
        assert "speedup_vs_reference_dense" in r and "ceiling_trec_layers_free" in r
        for layer in r["layers"]:
            assert "speedup_vs_reference_dense" in layer and "speedup_if_phase_free" in layer
    dense, se = runs["dense"], runs["se-trec"]
    assert dense["ceiling_trec_layers_free"] is None and runs["dense-ref"]["ceiling_trec_layers_free"] is None
    d_conv2 = next(l for l in dense["layers"] if l["name"] == "conv2")
    conv2 = next(l for l in se["layers"] if l["name"] == "conv2")
    assert set(conv2["speedup_if_phase_free"]) == set(conv2["phases"])
    for phase, cycles in conv2["phases"].items():
        assert conv2["speedup_if_phase_free"][phase] == pytest.approx(d_conv2["cycles"] / (conv2["cycles"] - cycles))
        assert conv2["speedup_if_phase_free"][phase] >= conv2["speedup_vs_dense"]
    assert all(l["speedup_if_phase_free"] is None for l in se["layers"] if l["name"] != "conv2")
    assert se["ceiling_trec_layers_free"] == pytest.approx(
        dense["cycles_total"] / (dense["cycles_total"] - d_conv2["cycles"]))
    assert se["speedup_vs_reference_dense"] == pytest.approx(runs["dense-ref"]["cycles_total"] / se["cycles_total"])


def test_an_unknown_mode_is_refused_listing_the_pseudo_mode_too():
    with pytest.raises(ConfigError, match="unknown mode 'dense-cmsis'.*dense-ref"):
        prof.profile(replace(DENSE_2, modes=("dense-cmsis",)))
