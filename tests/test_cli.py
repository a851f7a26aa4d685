"""The command line: help everywhere, one-paragraph errors with exit code 2, --debug."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trecsim import cli
from trecsim.errors import BoardError, TrecsimError


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = cli.main(list(argv), out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def _subcommand_paths(parser, prefix=()):
    """Every (sub)command path of the parser, e.g. ('data', 'verify')."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _subcommand_paths(sub, prefix + (name,))


SUBCOMMANDS = list(_subcommand_paths(cli.build_parser()))


def test_every_subcommand_is_found():
    assert ("boards",) in SUBCOMMANDS and ("data", "verify") in SUBCOMMANDS
    assert ("data", "download") in SUBCOMMANDS and ("data", "info") in SUBCOMMANDS


@pytest.mark.parametrize("path", [()] + SUBCOMMANDS, ids=lambda p: " ".join(p) or "top")
def test_help_on_every_subcommand(path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*path, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: trecsim")
    assert "--debug" in text


def test_an_error_is_one_paragraph_and_exit_code_2():
    rc, out, err = run("boards", "no-such-board")
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith("trecsim: error: ")
    assert err.count("\n") == 1, "one paragraph, one line"
    assert "no-such-board" in err and "stm32f469i-disco" in err and "nucleo-f746zg" in err


def test_debug_shows_the_exception_instead(capsys):
    with pytest.raises(BoardError):
        cli.main(["--debug", "boards", "no-such-board"])
    with pytest.raises(BoardError):
        cli.main(["boards", "no-such-board", "--debug"])


def test_an_unexpected_exception_is_reported_as_a_bug(monkeypatch):
    def boom(args, out):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_boards", boom)
    rc, _, err = run("boards")
    assert rc == cli.EXIT_INTERNAL
    assert "internal error" in err and "--debug" in err and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2


def test_boards_lists_both_boards_with_memory():
    rc, out, _ = run("boards")
    assert rc == 0
    for text in ("stm32f469i-disco", "nucleo-f746zg", "cortex-m4f", "cortex-m7",
                 "0x08000000", "0x10000000", "0xC0000000", "0x2004C000", "180 MHz", "216 MHz"):
        assert text in out


def test_boards_json_is_machine_readable():
    import json

    rc, out, _ = run("boards", "nucleo-f746zg", "--json")
    assert rc == 0
    (board,) = json.loads(out)
    assert board["name"] == "nucleo-f746zg" and board["clock_hz"] == 216_000_000
    assert {m["kind"] for m in board["memories"]} >= {"flash", "itcm", "dtcm", "sram"}


def test_error_message_says_what_where_and_fix():
    e = TrecsimError("file is truncated", where="/data/x.bin", fix="download it again.")
    assert str(e) == "/data/x.bin: file is truncated. download it again."


def test_python_dash_m_and_console_script():
    rc = subprocess.run([sys.executable, "-m", "trecsim", "--version"], capture_output=True, text=True)
    assert rc.returncode == 0 and rc.stdout.startswith("trecsim ")
    script = Path(sys.executable).parent / "trecsim"
    if not script.exists():
        script = shutil.which("trecsim")
    assert script, "the trecsim console script is not installed (pip install -e .)"
    rc = subprocess.run([str(script), "boards", "nope"], capture_output=True, text=True)
    assert rc.returncode == 2 and "Traceback" not in rc.stderr
