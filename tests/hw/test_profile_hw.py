"""`python -m trecsim profile --target hw`: argument handling, the report and JSON of the hardware flow
(run here through the emulator behind the probe interface, --probe emulator), and the errors up to
the probe."""

from __future__ import annotations

import io
import json
import sys

import pytest

from trecsim import cli
from trecsim import profile as prof
from trecsim.errors import TrecsimError
from trecsim.profile.hardware import HardwareSession


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = cli.main(list(argv), out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def test_profile_on_the_hardware_flow_reports_the_model_beside_the_measurement(tmp_path):
    rc, out, err = run("profile", "--target", "hw", "--probe", "emulator", "--board", "all", "--modes", "dense",
                       "--images", "1", "--quiet", "--out", str(tmp_path / "r"), "--json", str(tmp_path / "p.json"))
    assert rc == 0, out + err
    docs = json.loads((tmp_path / "p.json").read_text())
    assert [d["board"] for d in docs] == ["nucleo-f746zg", "stm32f469i-disco"]
    for doc in docs:
        assert doc["target"] == "hw" and "Unicorn emulator" in doc["probe"]
        assert doc["cycle_source"].startswith("DWT CYCCNT of the emulated board")  # never called hardware
        run_ = doc["runs"][0]
        assert run_["bit_exact"] and run_["images_checked"] == 1
        # the probe reads the emulator's own DWT table, so measurement and model agree exactly here
        assert run_["model_cycles_total"] == run_["cycles_total"] > 0 and run_["hw_vs_model"] == 1.0
        assert all(l["model_cycles"] == l["cycles"] and l["hw_vs_model"] == 1.0 for l in run_["layers"])
    assert "calibration: DWT CYCCNT of the emulated board" in out and "measured / model" in out
    assert "### Measured beside the cycle model" in (tmp_path / "r" / "report.md").read_text()


def test_the_hardware_columns_are_labelled_dwt_on_hardware_for_a_real_probe():
    from trecsim import report

    doc = {"model": "cifarnet", "board": "stm32f469i-disco", "core": "cortex-m4f", "clock_hz": 180_000_000,
           "images": 1, "data": "bundled sample", "target": "hw", "probe": "STM32 STLink 0669 (pyocd)",
           "cycle_source": "DWT on hardware (CYCCNT of the STM32F469NIH6 at 180 MHz)", "cycle_model": "m",
           "memory_timing": True, "emulator": "unicorn", "skipped": [],
           "runs": [{"mode": "dense", "fits": True, "error": None, "bit_exact": True, "layers": [
               {"name": "conv1", "cycles": 1200.0, "model_cycles": 1000.0, "hw_vs_model": 1.2}],
               "cycles_total": 1200.0, "model_cycles_total": 1000.0, "hw_vs_model": 1.2}]}
    head, rows = report._calibration_rows(doc)  # noqa: SLF001
    assert head[2] == "DWT on hardware"
    assert rows == [["dense", "conv1", "1,200", "1,000", "1.200"], ["dense", "total", "1,200", "1,000", "1.200"]]
    assert "on the board through STM32 STLink 0669 (pyocd); cycles: DWT on hardware" in report._doc_title(doc)


@pytest.mark.parametrize("argv, message", [
    (["--serial", "/dev/ttyACM0"], "--probe and --serial are for a real board"),
    (["--probe", "0669FF"], "--probe and --serial are for a real board"),
    (["--target", "hw", "--emulator", "qemu"], "--target hw puts the unicorn cycle model beside the board"),
    (["--target", "hw", "--probe", "emulator", "--hw-timeout", "0"], "is not a positive number of seconds"),
])
def test_bad_hardware_arguments_exit_2_with_a_fix(argv, message):
    rc, out, err = run("profile", "--modes", "dense", "--images", "1", "--quiet", *argv)
    assert rc == 2 and message in err


def test_an_unknown_target_is_refused_by_the_parser():
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["profile", "--target", "board"])
    assert info.value.code == 2


def test_profile_without_pyocd_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyocd", None)
    rc, out, err = run("profile", "--target", "hw", "--modes", "dense", "--images", "1", "--quiet")
    assert rc == 2 and "pyocd is not installed" in err and "pip install -e '.[hw]'" in err


def test_profile_with_no_probe_connected_exits_2(monkeypatch):
    pytest.importorskip("pyocd")
    from trecsim.hw import pyocd_probe

    monkeypatch.setattr(pyocd_probe, "list_probes", lambda: [])
    rc, out, err = run("profile", "--target", "hw", "--board", "nucleo-f746zg", "--modes", "dense", "--images", "1",
                       "--quiet")
    assert rc == 2 and "board nucleo-f746zg: no debug probe is connected" in err


def test_a_serial_port_that_does_not_open_closes_the_probe(monkeypatch):
    pytest.importorskip("serial")
    closed = []
    from trecsim.hw.probe import EmulatorProbe

    monkeypatch.setattr(EmulatorProbe, "close", lambda self: closed.append(True))
    with pytest.raises(TrecsimError) as info:
        HardwareSession(prof.boards.get_board("stm32f469i-disco"), "emulator", serial="/dev/ttyNOPE")
    assert "cannot open serial port /dev/ttyNOPE" in str(info.value) and closed == [True]


def test_a_board_that_differs_from_the_emulator_is_reported_as_such(monkeypatch, tmp_path):
    """A board whose output differs (here: a probe that corrupts one logit on the way back) fails the
    profile with exit 1; the diagnosis, made on the emulator, says the emulator runs the image bit-exact."""
    from trecsim.hw.probe import EmulatorProbe
    from trecsim.profile import hardware

    class CorruptingProbe(EmulatorProbe):
        def read_memory(self, address, size):
            data = bytearray(super().read_memory(address, size))
            if self.emu is not None and address == self.emu.elf.symbol("trec_output").address:
                data[3] ^= 0x40
            return bytes(data)

    monkeypatch.setattr(hardware.hw, "connect", lambda board, probe=None, **kw: CorruptingProbe(board))
    rc, out, err = run("profile", "--target", "hw", "--modes", "dense", "--images", "1", "--quiet",
                       "--out", str(tmp_path), "--json", str(tmp_path / "p.json"))
    assert rc == 1, out + err
    doc = json.loads((tmp_path / "p.json").read_text())
    details = [m["detail"] for m in doc["runs"][0]["mismatches"]]
    assert details[0].startswith("output logits[3]: expected ")
    assert "the emulator runs this image bit-exact layer by layer, so the board differs from the emulator" \
        in details[0]
