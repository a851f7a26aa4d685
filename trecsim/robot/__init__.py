"""Robot Framework keyword library for trecsim.

Use it from a suite with ``Library    trecsim.robot.TrecsimKeywords``. Keywords
are domain assertions; the logic lives here, not in Robot branching. Where a
keyword means the same as one of Renode's (``Wait For Line On Uart``), it carries
Renode's name and arguments. The console (UART) output of every firmware run is
written into Robot's log with its simulated time stamps.

Firmware keywords, in the order a test uses them: ``Load Board And Model`` (or
``Load Synthetic Model``), ``Build Firmware`` / ``Model Should Not Fit``, ``Run Image``,
then assertions: ``Outputs Should Match Golden``, ``Wait For Line On Uart``,
``Cycles Should Be Below``, ``Stack Peak Should Be Below``; faults:
``Inject Undefined Instruction At``, ``Limit Instructions To``, ``Firmware Fault Should Be
Reported``; the whole check of one combination: ``Model Runs Bit Exact On A Few Images``.

Real boards (``trecsim.hw``): ``Real Board Should Be Connected`` (skips with what to connect unless
the environment variable TRECSIM_HW_BOARD names the board), ``Connect Probe`` (after it, ``Run Image``
flashes the build to the board and runs there; ``Connect Probe    emulator`` runs the same flow on the
emulator behind the probe interface), ``Measured Cycles Should Be Within`` (the cycle model's estimate
for the same image), ``Disconnect Probe``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot.api import logger
from robot.api.deco import keyword, library
from robot.api.exceptions import Failure, SkipExecution

import trecsim
from trecsim import boards
from trecsim.errors import BuildError, FirmwareFault, MemoryPlanError

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
        self._sram_marks: dict[str, int] = {}
        self._workdirs: list[Path] = []
        self._spec = None  # trecsim.spec.ModelSpec
        self._build = None  # trecsim.firmware.build.BuildResult
        self._run = None  # trecsim.emulators.RunResult of the last image
        self._image: int | None = None
        self._patches: list[tuple[str, bytes]] = []  # (function, bytes written at its entry)
        self._budget: int | None = None
        self._probe = None  # trecsim.hw.Probe after `Connect Probe`: runs go to the board
        self._console = None  # trecsim.hw.SerialConsole
        self._hw_timeout = 60.0
        self._hw_targets: dict[str, object] = {}  # ELF path -> trecsim.hw.HardwareBoard (flashed once)
        self._input = None  # model input of the last run

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

    @keyword("Use Only These Trained Models")
    def use_only_these_trained_models(self, *names: str) -> str:
        """Points trecsim (this process and the commands run after it) at a fresh folder holding only the
        named committed ModelSpecs (e.g. ``cifarnet-dense``), through $TRECSIM_TRAINED_DIR; undo it with
        ``Use The Committed Trained Models``. Returns the folder."""
        import tempfile

        from trecsim import spec

        committed = spec.trained_dir()
        folder = Path(tempfile.mkdtemp(prefix="trecsim-trained-"))
        for name in names:
            src = committed / f"{name}.npz"
            if not src.is_file():
                raise AssertionError(f"{name} is not a committed ModelSpec in {committed}")
            shutil.copy(src, folder / src.name)
        self._trained_override = folder
        os.environ[spec.TRAINED_DIR_ENV] = str(folder)
        return str(folder)

    @keyword("Use The Committed Trained Models")
    def use_the_committed_trained_models(self) -> None:

        from trecsim import spec

        os.environ.pop(spec.TRAINED_DIR_ENV, None)
        folder = getattr(self, "_trained_override", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            self._trained_override = None

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

    # ------------------------------------------------------------------ models and firmware

    @keyword("Load Board And Model")
    def load_board_and_model(self, board: str, model: str, mode: str = "dense") -> None:
        """Loads a board and the committed int8 model ``model``-``mode``; skips the test with a message
        when that model is not trained and committed yet."""
        from trecsim import spec as specmod

        self.load_board(board)
        if not specmod.trained_path(model, mode).is_file():
            have = sorted(p.stem for p in specmod.trained_dir().glob("*.npz"))
            raise SkipExecution(f"{model}-{mode} is not trained yet (committed models: {', '.join(have)}); "
                                f"train and export it to profile it")
        self._spec = specmod.load_trained(model, mode)
        self._reset_firmware()
        logger.info(f"model {model} {mode}: {len(self._spec.layers)} layers, "
                    f"{self._spec.weight_bytes()} bytes of arrays")

    @keyword("Load Synthetic Model")
    def load_synthetic_model(self, weights: str = "1536 KB", activations: str = "0") -> None:
        """Loads a synthetic model for the current board: one fc layer with about ``weights`` of int8
        weights and, when ``activations`` is given, a 3x3 conv (whose output tensor takes about that
        many bytes) and a global max pool before it. Used to check that models too big are refused."""
        from trecsim.spec import LayerSpec, ModelSpec, TensorSpec

        rng = np.random.default_rng(0)
        w_bytes, a_bytes = _parse_size(weights), _parse_size(activations)
        tensors = {"input": TensorSpec("input", (32, 32, 3), 1 / 255, 0)}
        layers, prev = [], "input"
        if a_bytes:
            channels = max(1, -(-a_bytes // (32 * 32)))
            tensors["conv"] = TensorSpec("conv", (32, 32, channels), 0.05, -128)
            layers.append(LayerSpec("conv", "conv", ("input",), "conv",
                                    {"kernel": 3, "stride": 1, "padding": 1, "relu": True, "mode": "dense"},
                                    {"weight": rng.integers(-127, 128, (channels, 3, 3, 3), dtype=np.int8),
                                     "bias": np.zeros(channels, np.int32),
                                     "multiplier": np.full(channels, 1 << 30, np.int32),
                                     "shift": np.full(channels, -8, np.int32)}))
            tensors["pool"] = TensorSpec("pool", (1, 1, channels), 0.05, -128)
            layers.append(LayerSpec("pool", "maxpool", ("conv",), "pool", {"kernel": 32, "stride": 32}))
            prev = "pool"
        f_in = tensors[prev].size
        f_out = max(10, w_bytes // f_in)
        tensors["logits"] = TensorSpec("logits", (f_out,), 0.1, 0)
        layers.append(LayerSpec("fc", "fc", (prev,), "logits", {"relu": False},
                                {"weight": rng.integers(-127, 128, (f_out, f_in), dtype=np.int8),
                                 "bias": np.zeros(f_out, np.int32), "multiplier": np.full(f_out, 1 << 30, np.int32),
                                 "shift": np.full(f_out, -10, np.int32)}))
        self._spec = ModelSpec("synthetic", "dense", "input", "logits", tensors, tuple(layers))
        self._reset_firmware()
        logger.info(f"synthetic model: {self._spec.weight_bytes()} bytes of arrays, "
                    f"largest tensor {max(t.size for t in tensors.values())} bytes")

    def _reset_firmware(self) -> None:
        self._build, self._run, self._image = None, None, None
        self._patches, self._budget = [], None

    def _current_spec(self):
        if self._spec is None:
            raise Failure("no model loaded: use `Load Board And Model` first")
        return self._spec

    @keyword("Build Firmware")
    def build_firmware(self) -> str:
        """Builds (or reuses the cached build of) the loaded model for the loaded board; logs the size
        report and memory plan and returns the ELF's path. A model that does not fit fails the test."""
        from trecsim.firmware.build import build_firmware

        spec, board = self._current_spec(), self._current_board()
        try:
            self._build = build_firmware(spec, board)
        except (BuildError, MemoryPlanError) as exc:
            raise Failure(f"{spec.model} {spec.mode} does not fit {board.name}: {exc}") from None
        b = self._build
        logger.info(f"{b.elf} ({'cached' if b.cached else 'built'})\n" + "\n".join(b.size.lines())
                    + "\n" + b.plan.table())
        return str(b.elf)

    @keyword("Model Should Not Fit")
    def model_should_not_fit(self, *fragments: str) -> str:
        """Building the loaded model for the loaded board is refused with a message that contains every
        fragment (e.g. the region and the bytes over); returns the message."""
        from trecsim.firmware.build import build_firmware

        spec, board = self._current_spec(), self._current_board()
        try:
            b = build_firmware(spec, board)
        except (BuildError, MemoryPlanError) as exc:
            message = str(exc)
            logger.info(f"refused as expected: {message}")
            for fragment in fragments:
                if fragment not in message:
                    raise Failure(f"'{fragment}' is not in the refusal: {message}") from None
            return message
        raise Failure(f"{spec.model} {spec.mode} was built for {board.name} although it should not fit:\n"
                      + "\n".join(b.size.lines()))

    def _current_build(self):
        if self._build is None:
            self.build_firmware()
        return self._build

    # ------------------------------------------------------------------ running

    @keyword("Inject Undefined Instruction At")
    def inject_undefined_instruction_at(self, function: str) -> None:
        """The next runs get a UDF #0 written at the entry of ``function`` (in the emulator's memory;
        the ELF is not changed): the firmware faults when it calls it."""
        self._patches.append((function, b"\x00\xde"))

    @keyword("Limit Instructions To")
    def limit_instructions_to(self, count: int) -> None:
        """The next runs stop with an 'instruction budget' fault after ``count`` instructions."""
        self._budget = int(str(count).replace("_", ""))

    def _log_uart(self, lines, title: str) -> None:
        text = "\n".join(f"[{u.time_s * 1e3:10.3f} ms] {u.text}" for u in lines) or "(no console output)"
        logger.info(f"UART ({title}):\n{text}")

    def _execute(self, index: int):
        from trecsim import data, golden
        from trecsim.emulators import open_board

        spec, board, build = self._current_spec(), self._current_board(), self._current_build()
        image = data.load_sample().images[int(index):int(index) + 1]
        self._input = golden.model_input(spec, image)[0]
        if self._probe is not None:
            return self._hardware_target(build, board).run(self._input)
        options = {"memory_timing": True}
        if self._budget is not None:
            options["budget"] = self._budget
        emu = open_board(build.elf, board, **options)
        for function, code in self._patches:
            addr = emu.elf.symbol(function).address & ~1
            emu.uc.mem_write(addr, code)
            logger.info(f"injected {code.hex()} at {function} (0x{addr:08X})")
        return emu.run(golden.model_input(spec, image)[0])

    def _hardware_target(self, build, board):
        from trecsim import hw

        if self._patches or self._budget is not None:
            raise Failure("injected faults and instruction budgets are for the emulator, not a probe")
        target = self._hw_targets.get(str(build.elf))
        if target is None:
            target = hw.HardwareBoard(build.elf, board, self._probe, console=self._console,
                                      timeout_s=self._hw_timeout)
            self._hw_targets[str(build.elf)] = target
            logger.info(f"{build.elf} programmed through {self._probe.description}")
        return target

    # ------------------------------------------------------------------ real boards

    @keyword("Real Board Should Be Connected")
    def real_board_should_be_connected(self, board: str) -> None:
        """Skips the test, saying what to connect, unless the environment variable TRECSIM_HW_BOARD names
        ``board`` (the board is then expected on this machine's USB, its ST-LINK the only probe or the one
        in TRECSIM_HW_PROBE)."""
        name = boards.get_board(board).name
        if os.environ.get("TRECSIM_HW_BOARD", "").strip().lower() != name:
            raise SkipExecution(f"needs a real {name}: connect its ST-LINK USB, then set TRECSIM_HW_BOARD={name} "
                                f"(and TRECSIM_HW_SERIAL=/dev/ttyACM0 for its console; platforms/README.md, "
                                f"'Real boards')")

    @keyword("Connect Probe")
    def connect_probe(self, probe: str | None = None, serial: str | None = None, timeout: float = 60) -> str:
        """Connects the loaded board's probe (``probe``: an ST-LINK unique id, empty for the only one
        connected or TRECSIM_HW_PROBE, or ``emulator``) and, with ``serial``, its console port; from now on
        ``Run Image`` runs on the board. Returns the probe's description."""
        from trecsim import hw

        self.disconnect_probe()
        board = self._current_board()
        probe = probe or os.environ.get("TRECSIM_HW_PROBE") or None
        serial = serial or os.environ.get("TRECSIM_HW_SERIAL") or None
        self._probe = hw.connect(board, probe)
        if serial:
            try:
                self._console = hw.open_serial(serial)
            except BaseException:
                self.disconnect_probe()
                raise
        self._hw_timeout = float(timeout)
        logger.info(f"{board.name} through {self._probe.description}; cycles: {self._probe.cycle_source}")
        return self._probe.description

    @keyword("Disconnect Probe")
    def disconnect_probe(self) -> None:
        if self._console is not None:
            self._console.close()
        if self._probe is not None:
            self._probe.close()
        self._probe, self._console, self._hw_targets = None, None, {}

    @keyword("Measured Cycles Should Be Within")
    def measured_cycles_should_be_within(self, tolerance: str = "25 %") -> float:
        """Runs the last image on the cycle model (Unicorn) too and checks every layer's measured cycles
        against the model's estimate: |measured / model - 1| within ``tolerance`` ('10 %'); logs the
        calibration table and returns the whole inference's ratio."""
        from trecsim.emulators import open_board

        r = self._last_run()
        if self._probe is None:
            raise Failure("no probe is connected: the last run was the model itself")
        limit = float(str(tolerance).replace("%", "").strip()) / 100
        model = open_board(self._current_build().elf, self._current_board(), memory_timing=True).run(self._input)
        rows, worst = [], []
        for measured, estimate in zip(r.layers, model.layers):
            ratio = measured.cycles / estimate.cycles if estimate.cycles else float("inf")
            rows.append(f"{measured.name:<8} {measured.cycles:>12,} {estimate.cycles:>12,} {ratio:8.3f}")
            if abs(ratio - 1) > limit:
                worst.append(f"{measured.name} {ratio:.3f}")
        total = r.model_cycles / model.model_cycles
        logger.info(f"{r.cycle_source} beside the model estimate:\nlayer        measured        model    ratio\n"
                    + "\n".join(rows) + f"\ntotal    {r.model_cycles:>12,} {model.model_cycles:>12,} {total:8.3f}")
        if worst:
            raise Failure(f"measured / model outside 1 +- {tolerance}: {', '.join(worst)}")
        return total

    @keyword("Run Image")
    def run_image(self, index: int = 0) -> None:
        """Runs image ``index`` of the bundled sample on the loaded board's firmware and logs the UART
        output; a firmware fault fails the test with its report."""
        try:
            self._run = self._execute(int(index))
        except FirmwareFault as exc:
            self._log_uart([], f"image {index}, faulted")
            raise Failure(f"the firmware faulted on image {index}: {exc}") from None
        self._image = int(index)
        r = self._run
        self._log_uart(r.uart, f"image {index}, {r.board}, {r.total_cycles} cycles, {r.instructions} instructions")

    def _last_run(self):
        if self._run is None:
            raise Failure("no image has run yet: use `Run Image` first")
        return self._run

    @keyword("Wait For Line On Uart")
    def wait_for_line_on_uart(self, content: str, timeout: float = 8, testerId=None, treatAsRegex: bool = False,
                              pauseEmulation: bool = False) -> dict:
        """Renode's keyword: the console printed a line containing ``content`` (a regular expression
        with ``treatAsRegex=True``) within ``timeout`` seconds of simulated time. The run has already
        ended here, so this searches its time-stamped lines; returns {"line", "time"} like Renode."""
        r = self._last_run()
        regex = str(treatAsRegex).lower() in ("true", "1", "yes")
        for u in r.uart:
            hit = re.search(content, u.text) if regex else content in u.text
            if hit and u.time_s <= float(timeout):
                return {"line": u.text, "time": u.time_s}
        late = [u for u in r.uart if (re.search(content, u.text) if regex else content in u.text)]
        if late:
            raise Failure(f"'{content}' came at {late[0].time_s:.3f} s of simulated time, after the timeout "
                          f"of {timeout} s")
        raise Failure(f"no line with '{content}' on the UART; it printed:\n" + "\n".join(r.console))

    @keyword("Outputs Should Match Golden")
    def outputs_should_match_golden(self) -> None:
        """The last run's output and TREC cluster counts equal the golden model's bit for bit; on a
        mismatch the first layer whose output differs is named with the position and both values."""
        from trecsim import data, golden
        from trecsim.profile import check_run, diagnose

        spec, r = self._current_spec(), self._last_run()
        image = data.load_sample().images[self._image:self._image + 1]
        expected = golden.run(spec, image)
        found = check_run(spec, r, expected.logits[0], {k: v[0] for k, v in expected.clusters.items()},
                          self._image)
        if found:
            first = diagnose(self._current_build(), spec, self._current_board(), image[0])
            where = (f"; first differing layer {first[0]} at {first[2]}: expected {first[3]}, got {first[4]}"
                     if first else "")
            raise Failure("; ".join(str(m) for m in found) + where)
        logger.info(f"image {self._image}: output {r.output.tolist()} equals the golden model's")

    @keyword("Cycles Should Be Below")
    def cycles_should_be_below(self, limit: str, layer: str | None = None) -> int:
        """The inference (or ``layer``) took fewer than ``limit`` model cycles ('40 M', '1.5 k' or a
        number); returns the cycles."""
        r = self._last_run()
        text = str(limit).replace("_", "").replace(",", "").strip()
        factor = {"k": 1e3, "M": 1e6, "G": 1e9}
        parts = text.split()
        value = float(parts[0]) * (factor[parts[1]] if len(parts) > 1 and parts[1] in factor else 1)
        cycles = r.layer(layer).cycles if layer else r.model_cycles
        what = f"layer {layer}" if layer else "the inference"
        if cycles >= value:
            raise Failure(f"{what} took {cycles} cycles, not below {limit}")
        logger.info(f"{what}: {cycles} cycles ({cycles / r.clock_hz * 1e3:.2f} ms at {r.clock_hz / 1e6:g} MHz)")
        return cycles

    @keyword("Stack Peak Should Be Below")
    def stack_peak_should_be_below(self, size: str) -> int:
        r = self._last_run()
        peak = r.stack_peak
        if peak >= _parse_size(size):
            raise Failure(f"the stack peaked at {peak} bytes, not below {size}")
        logger.info(f"stack peak {peak} of {r.memory.stack_reserved} reserved bytes")
        return peak

    def _sram_peak(self) -> int:
        """On-chip RAM in use at the peak of the last run: every on-chip region's static data, arena and
        stack high-water marks (the profile's sram_peak_bytes)."""
        r = self._last_run()
        return sum(reg.peak for reg in r.memory.regions if reg.kind not in ("flash", "sdram"))

    @keyword("Remember SRAM Peak As")
    def remember_sram_peak_as(self, name: str) -> int:
        """Keeps the last run's on-chip SRAM peak under ``name`` for `SRAM Peak Should Be Within Percent Of`."""
        peak = self._sram_peak()
        self._sram_marks[name] = peak
        logger.info(f"SRAM peak {peak} bytes remembered as {name!r}")
        return peak

    @keyword("SRAM Peak Should Be Within Percent Of")
    def sram_peak_should_be_within_percent_of(self, percent: str, name: str) -> int:
        """The last run's on-chip SRAM peak is at most the one remembered as ``name`` plus ``percent``."""
        if name not in self._sram_marks:
            raise Failure(f"no SRAM peak remembered as {name!r}: use `Remember SRAM Peak As` first")
        peak, ref = self._sram_peak(), self._sram_marks[name]
        limit = ref * (1 + float(percent) / 100)
        if peak > limit:
            raise Failure(f"the SRAM peak is {peak} bytes, {100 * (peak / ref - 1):+.1f}% against {name}'s {ref} "
                          f"(allowed: +{percent}%)")
        logger.info(f"SRAM peak {peak} bytes, {100 * (peak / ref - 1):+.1f}% against {name}'s {ref}")
        return peak

    @keyword("Firmware Fault Should Be Reported")
    def firmware_fault_should_be_reported(self, *fragments: str, image: int = 0) -> str:
        """Runs ``image`` with what was injected and checks that the emulator stops it with a firmware
        fault whose report contains every fragment (kind, fault bits, function, ...); returns the report."""
        try:
            r = self._execute(int(image))
        except FirmwareFault as exc:
            message = str(exc)
            logger.info(f"fault reported: {message}")
            self._log_uart([], "faulted run; last console lines are in the report above")
            for fragment in fragments:
                if fragment not in message:
                    raise Failure(f"'{fragment}' is not in the fault report: {message}") from None
            return message
        self._log_uart(r.uart, f"image {image}")
        raise Failure(f"the firmware ran to its end (status {r.status}) instead of faulting")

    @keyword("Model Runs Bit Exact On A Few Images")
    def model_runs_bit_exact_on_a_few_images(self, board: str, model: str, mode: str, images: int = 2) -> None:
        """The whole check of one board x model x mode: build (cached), run the first ``images`` images of the
        bundled sample, each bit-exact against the golden model and ending with 'done status 0' on the UART.
        Skips with a message when the model is not committed or does not fit the board (memory.robot checks
        which models must fit)."""
        self.load_board_and_model(board, model, mode)
        from trecsim.firmware.build import build_firmware

        try:
            self._build = build_firmware(self._current_spec(), self._current_board())
        except (BuildError, MemoryPlanError) as exc:
            raise SkipExecution(f"{model} {mode} does not fit {board}: {exc}") from None
        for i in range(int(images)):
            self.run_image(i)
            self.outputs_should_match_golden()
            self.wait_for_line_on_uart("done status 0")

    @keyword("Profile JSON Should Follow The Contract")
    def profile_json_should_follow_the_contract(self, path: str) -> dict:
        """The file written by ``trecsim profile --json`` has every key of the documented contract and
        reports every run bit-exact."""
        doc = json.loads(Path(path).read_text())
        docs = doc if isinstance(doc, list) else [doc]
        top = ("board", "core", "clock_hz", "model", "emulator", "cycle_source", "images", "runs")
        run_keys = ("mode", "bit_exact", "images_checked", "mismatches", "accuracy", "cycles_total", "latency_ms",
                    "layers", "memory")
        layer_keys = ("name", "kind", "cycles", "macs", "remaining_ratio", "phases")
        mem_keys = ("flash_bytes", "sram_static_bytes", "sram_peak_bytes", "stack_peak_bytes", "sdram_bytes")
        for d in docs:
            missing = [k for k in top if k not in d]
            for r in d.get("runs", []):
                if not r.get("fits", True):
                    continue
                missing += [f"runs[{r.get('mode')}].{k}" for k in run_keys if k not in r]
                missing += [f"runs[{r.get('mode')}].memory.{k}" for k in mem_keys if k not in r.get("memory", {})]
                for l in r.get("layers", []):
                    missing += [f"runs[{r.get('mode')}].layers[{l.get('name')}].{k}" for k in layer_keys if k not in l]
                if not r.get("bit_exact"):
                    raise Failure(f"{d.get('board')} {r.get('mode')} is not bit-exact: {r.get('mismatches')}")
            if missing:
                raise Failure(f"{path} lacks {', '.join(missing)}")
            if d["cycle_source"] != "model estimate (trecsim cycle model)":
                raise Failure(f"cycle_source is {d['cycle_source']!r}")
        return docs[0]
