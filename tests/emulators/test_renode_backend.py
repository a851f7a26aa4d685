"""The Renode backend imports without pyrenode3 and, where Renode is absent, says how to install it (the
API raises EmulatorError, `profile --emulator renode` exits 2 with the hint). Where Renode is installed,
the committed CifarNet firmware runs on the board's .repl bit-identical to Unicorn and the golden model
(skipped here: Renode cannot be installed on this machine)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from emu_firmware import BOARDS, cifarnet, cifarnet_build, needs_arm_gcc
from trecsim import boards, cli, data, golden
from trecsim.emulators import open_board, run_firmware
from trecsim.emulators.renode_backend import INSTALL_HINT, renode_available
from trecsim.errors import EmulatorError

HINT = "pip install 'trecsim[renode]'"


@pytest.fixture
def no_pyrenode3(monkeypatch):
    """pyrenode3 made unimportable (None in sys.modules), whether or not it is installed here."""
    monkeypatch.setitem(sys.modules, "pyrenode3", None)


def test_the_module_imports_without_pyrenode3():
    code = ("import sys; sys.modules['pyrenode3'] = None; import trecsim.emulators.renode_backend as r; "
            "assert not r.renode_available(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_install_hint_names_the_extra_and_renode():
    assert HINT in INSTALL_HINT and "PYRENODE_PKG" in INSTALL_HINT and "builds.renode.io" in INSTALL_HINT


def test_opening_a_renode_board_without_renode_says_how_to_install_it(no_pyrenode3):
    board = boards.get_board(BOARDS[0])
    with pytest.raises(EmulatorError) as info:
        open_board("unused.elf", board, backend="renode")
    assert "pyrenode3 is not installed" in str(info.value) and HINT in str(info.value)


def test_profile_with_emulator_renode_exits_2_with_the_hint(no_pyrenode3, capsys, tmp_path):
    rc = cli.main(["profile", "--emulator", "renode", "--modes", "dense", "--images", "1", "--quiet",
                   "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--emulator renode" in err and HINT in err


@needs_arm_gcc
@pytest.mark.skipif(not renode_available(), reason=f"Renode is not installed: {INSTALL_HINT}")
@pytest.mark.parametrize("name", BOARDS)
def test_cifarnet_runs_under_renode_bit_identical_to_unicorn_and_golden(name):
    spec, board, build = cifarnet(), boards.get_board(name), cifarnet_build(name)
    images = data.load_sample().images[:2]
    x, want = golden.model_input(spec, images), golden.run(spec, images)
    for i in range(len(images)):
        r = run_firmware(build.elf, board, x[i], backend="renode")
        u = run_firmware(build.elf, board, x[i])
        assert (r.backend, r.status, r.error) == ("renode", "done", 0)
        np.testing.assert_array_equal(r.output, want.logits[i])
        np.testing.assert_array_equal(r.output, u.output)
    assert r.console[0] == u.console[0] and r.console[-1] == "done status 0"
    assert "not a timing model" in r.cycle_source
