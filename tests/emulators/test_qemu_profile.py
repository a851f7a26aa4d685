"""`trecsim profile --emulator qemu`: the committed CifarNet built for QEMU's MPS2 machines, checked bit for
bit against the golden model; every cycle figure is null in the JSON and "n/a" in the report, never a
zero that looks measured; per-layer outputs for a mismatch diagnosis come from QEMU watchpoints."""

from __future__ import annotations

import json

import numpy as np

from test_qemu_backend import needs_qemu
from emu_firmware import needs_arm_gcc
from trecsim import boards, cli, data, golden, report, spec as specmod
from trecsim.firmware.build import build_firmware
from trecsim.profile import ProfileConfig, layer_outputs, profile

pytestmark = [needs_arm_gcc, needs_qemu]


def test_profile_under_qemu_is_bit_exact_and_reports_no_cycles(tmp_path):
    cfg = ProfileConfig(boards=("stm32f469i-disco",), modes=("dense", "se-trec"), modes_given=True, images=2,
                        emulator="qemu")
    (bp,) = profile(cfg)
    assert bp.ok and [r.mode for r in bp.runs] == ["dense", "se-trec"]
    doc = bp.to_json()
    assert doc["emulator"] == "qemu" and doc["cycles_available"] is False
    assert doc["cycle_source"].startswith("none") and doc["memory_timing"] is False
    for run in doc["runs"]:
        assert run["bit_exact"] and run["images_checked"] == 2 and run["accuracy"] == run["golden_accuracy"]
        assert run["cycles_total"] is None and run["latency_ms"] is None and run["instructions"] is None
        assert run["speedup_vs_dense"] is None
        assert all(l["cycles"] is None and l["cycles_per_mac"] is None and not l["phases"] for l in run["layers"])
        assert all(p["cycles"] is None and p["match"] for p in run["per_image"])
        assert run["memory"]["stack_peak_bytes"] > 0
    se = doc["runs"][1]
    assert 0 < next(l for l in se["layers"] if l["name"] == "conv2")["remaining_ratio"] < 1
    table = report.terminal_table([doc])
    assert "n/a" in table and "no cycles" in table and "bit-exact" in table
    files = report.write_all([doc], tmp_path)
    assert not any("cycles" in p.name for p in files["plots"])  # no cycle plot without cycles
    assert json.loads(files["json"].read_text())["runs"][0]["cycles_total"] is None


def test_cli_profile_with_emulator_qemu_exits_0(tmp_path, capsys):
    rc = cli.main(["profile", "--emulator", "qemu", "--board", "nucleo-f746zg", "--modes", "dense", "--images", "1",
                   "--quiet", "--out", str(tmp_path), "--json", str(tmp_path / "p.json")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "emulator qemu" in out and "bit-exact" in out
    assert json.loads((tmp_path / "p.json").read_text())["cycles_available"] is False


def test_layer_outputs_under_qemu_equal_the_golden_models():
    spec = specmod.load_trained("cifarnet", "se-trec")
    board = boards.get_board("stm32f469i-disco")
    build = build_firmware(spec, board, variant="qemu")
    image = data.load_sample().images[3]
    got = layer_outputs(build, spec, board, golden.model_input(spec, image[None])[0], backend="qemu")
    want = golden.run(spec, image[None], keep_outputs=True).outputs
    assert sorted(got) == sorted(layer.output for layer in spec.layers)
    for name, arr in got.items():
        np.testing.assert_array_equal(arr, want[name][0], err_msg=name)
