"""Robot Framework keyword library for trecsim.

Use it from a suite with ``Library    trecsim.robot.TrecsimKeywords``. Keywords
are domain assertions; the logic lives here, not in Robot branching. Where a
keyword means the same as one of Renode's (e.g. ``Wait For Line On Uart``,
added with the emulator), it carries Renode's name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from robot.api import logger
from robot.api.deco import keyword, library
from robot.api.exceptions import Failure, SkipExecution

import trecsim
from trecsim import boards

SHARED_DATASET = trecsim.REPO_ROOT.parent / "shared" / "data" / "cifar-10-batches-bin"


def reference_dataset_dir() -> Path | None:
    """The full, verified CIFAR-10 copy used by tests: $TRECSIM_DATA, else the
    ``shared/`` folder beside the checkout (as in CI). None if neither exists."""
    env = os.environ.get("TRECSIM_DATA")
    for candidate in ([Path(env)] if env else []) + [SHARED_DATASET]:
        if (candidate / "test_batch.bin").is_file():
            return candidate
        if (candidate / "cifar-10-batches-bin" / "test_batch.bin").is_file():
            return candidate / "cifar-10-batches-bin"
    return None


def _parse_size(text: str) -> int:
    """'160 KB' -> 163840, '2 MB' -> 2097152, '4096' -> 4096 (KB and MB are binary units)."""
    parts = str(text).split()
    value = int(parts[0], 0)
    unit = parts[1].upper() if len(parts) > 1 else "B"
    factors = {"B": 1, "KB": 1024, "KIB": 1024, "MB": 1024**2, "MIB": 1024**2}
    if unit not in factors or len(parts) > 2:
        raise Failure(f"cannot read size '{text}': write it like '160 KB', '2 MB' or '4096'")
    return value * factors[unit]


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str


@library(scope="SUITE", auto_keywords=False)
class TrecsimKeywords:
    """Keywords for boards, data and the trecsim command line."""

    def __init__(self) -> None:
        self._board: boards.Board | None = None
        self._last: CommandResult | None = None
        self._workdirs: list[Path] = []

    # ------------------------------------------------------------------ command line

    @keyword("Run Trecsim")
    def run_trecsim(self, *args: str, timeout: float = 600) -> CommandResult:
        """Runs ``python -m trecsim ARGS`` in a child process and logs what it printed."""
        cmd = [sys.executable, "-m", "trecsim", *map(str, args)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=float(timeout))
        except subprocess.TimeoutExpired as exc:
            raise Failure(f"`trecsim {' '.join(args)}` did not finish within {timeout} s") from exc
        result = CommandResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)
        logger.info(f"$ trecsim {' '.join(args)}\nexit code {proc.returncode}")
        if proc.stdout:
            logger.info(f"stdout:\n{proc.stdout}")
        if proc.stderr:
            logger.info(f"stderr:\n{proc.stderr}")
        self._last = result
        return result

    def _last_result(self) -> CommandResult:
        if self._last is None:
            raise Failure("no command has run yet: use `Run Trecsim` first")
        return self._last

    @keyword("Command Should Succeed")
    def command_should_succeed(self) -> None:
        r = self._last_result()
        if r.rc != 0:
            raise Failure(f"`trecsim {' '.join(r.args)}` exited with {r.rc}: {r.stderr.strip()}")

    @keyword("Command Should Fail With Message")
    def command_should_fail_with_message(self, *fragments: str, exit_code: int = 2) -> None:
        """The last command failed with ``exit_code``, printed every fragment on stderr
        as a one-paragraph message, and showed no Python traceback."""
        r = self._last_result()
        if r.rc != int(exit_code):
            raise Failure(f"expected exit code {exit_code}, got {r.rc}\nstderr: {r.stderr}")
        if "Traceback" in r.stderr:
            raise Failure(f"a traceback reached the user:\n{r.stderr}")
        for fragment in fragments:
            if fragment not in r.stderr:
                raise Failure(f"'{fragment}' is not in the error message: {r.stderr.strip()}")

    @keyword("Output Should Contain")
    def output_should_contain(self, *fragments: str) -> None:
        r = self._last_result()
        for fragment in fragments:
            if fragment not in r.stdout:
                raise Failure(f"'{fragment}' is not in the output of `trecsim {' '.join(r.args)}`")

    # ------------------------------------------------------------------ boards

    @keyword("Load Board")
    def load_board(self, name: str) -> boards.Board:
        """Loads a board description from platforms/ (unknown names fail, listing valid ones)."""
        self._board = boards.get_board(name)
        logger.info(f"{self._board.name}: {self._board.title}, {self._board.core.name} "
                    f"@ {self._board.clock_hz} Hz")
        return self._board

    def _current_board(self) -> boards.Board:
        if self._board is None:
            raise Failure("no board loaded: use `Load Board` first")
        return self._board

    @keyword("Board Should Have Core")
    def board_should_have_core(self, core: str, clock_mhz: int) -> None:
        b = self._current_board()
        if b.core.name != core or b.clock_hz != int(clock_mhz) * 1_000_000:
            raise Failure(f"{b.name} has {b.core.name} @ {b.clock_hz} Hz, "
                          f"expected {core} @ {clock_mhz} MHz")

    @keyword("Memory Region Should Be")
    def memory_region_should_be(self, name: str, kind: str, base: str, size: str) -> None:
        """``Memory Region Should Be    sram1    sram    0x20000000    160 KB``"""
        b = self._current_board()
        m = b.memory(name)
        expected = (kind, int(base, 0), _parse_size(size))
        if (m.kind, m.base, m.size) != expected:
            raise Failure(f"{b.name} region {name} is {m.kind} @ 0x{m.base:08X}, {m.size} bytes; "
                          f"expected {kind} @ {base}, {size}")

    @keyword("On-Chip RAM Should Be")
    def on_chip_ram_should_be(self, size: str) -> None:
        b = self._current_board()
        if b.sram_bytes != _parse_size(size):
            raise Failure(f"{b.name} has {b.sram_bytes} bytes of on-chip RAM, expected {size}")

    @keyword("Board Should Have No Region Of Kind")
    def board_should_have_no_region_of_kind(self, kind: str) -> None:
        b = self._current_board()
        found = b.memories_of(kind)
        if found:
            raise Failure(f"{b.name} has {kind} regions {[m.name for m in found]}, expected none")

    # ------------------------------------------------------------------ data

    @keyword("Reference Dataset")
    def reference_dataset(self) -> str:
        """The full CIFAR-10 copy for tests; skips the test with a hint when there is none."""
        found = reference_dataset_dir()
        if found is None:
            raise SkipExecution(
                f"no CIFAR-10 copy: set TRECSIM_DATA or put it at {SHARED_DATASET} "
                "(python -m trecsim data download --data DIR)"
            )
        return str(found)

    def _scratch_copy(self, source: str) -> Path:
        """A cheap copy of a dataset folder: hard links (or copies across devices)."""
        import tempfile

        dst = Path(tempfile.mkdtemp(prefix="trecsim-robot-")) / "cifar-10-batches-bin"
        dst.mkdir()
        self._workdirs.append(dst.parent)
        for f in Path(source).iterdir():
            if f.is_file():
                try:
                    os.link(f, dst / f.name)
                except OSError:
                    shutil.copy2(f, dst / f.name)
        return dst

    def _private_file(self, path: Path) -> None:
        """Replaces a hard link by a private copy before it is modified."""
        tmp = path.with_suffix(".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, path)

    @keyword("Copy Dataset With One Flipped Byte")
    def copy_dataset_with_one_flipped_byte(self, source: str, file: str, offset: int = 1_000_000) -> str:
        dst = self._scratch_copy(source)
        target = dst / file
        self._private_file(target)
        with open(target, "r+b") as f:
            f.seek(int(offset))
            byte = f.read(1)
            f.seek(int(offset))
            f.write(bytes([byte[0] ^ 0xFF]))
        return str(dst)

    @keyword("Copy Dataset With Truncated File")
    def copy_dataset_with_truncated_file(self, source: str, file: str, keep_bytes: int = 1_000_000) -> str:
        dst = self._scratch_copy(source)
        target = dst / file
        self._private_file(target)
        with open(target, "r+b") as f:
            f.truncate(int(keep_bytes))
        return str(dst)

    @keyword("Remove Scratch Copies")
    def remove_scratch_copies(self) -> None:
        for d in self._workdirs:
            shutil.rmtree(d, ignore_errors=True)
        self._workdirs.clear()
