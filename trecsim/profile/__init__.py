"""The profiling pipeline behind ``python -m trecsim profile``: spec -> build -> run -> compare.

For each board, model and mode, :func:`profile` loads the committed ModelSpec, builds its
firmware (cached, :mod:`trecsim.firmware.build`), runs every image on the simulated board
(:mod:`trecsim.emulators`), compares every output bit for bit with the golden model
(:mod:`trecsim.golden`) and the firmware's per-sub-matrix cluster counters with the golden
model's, and collects per-layer and per-phase cycles, MACs, remaining ratios, latency, memory and
accuracy. A mismatch is diagnosed by re-running the image while a write hook on the cycle table
copies each layer's output tensor out of the arenas as the layer finishes: the first layer whose
output differs from the golden model's is named with the position, the expected and the
firmware's value. Nothing here prints; progress goes to a callback.

JSON contract (``BoardProfile.to_json()``; the file written by ``--json``; stable, keys are only
ever added). One object per board and model; with several boards ``--json`` writes a list of them::

    {
      "format": "trecsim-profile/1",
      "board": "stm32f469i-disco", "core": "cortex-m4f", "clock_hz": 180000000,
      "model": "cifarnet", "emulator": "unicorn",      # or "qemu": the cross-check, no cycles
      "cycle_source": "model estimate (trecsim cycle model)",  # "none (qemu counts no cycles)"
      "cycles_available": true,       # false: every cycle, latency, instruction and speedup figure is null
      "target": "emulator",           # or "hw": cycles measured on the board (cycle_source "DWT on hardware
                                      # (CYCCNT of ...)"), with the cycle model's estimate beside each figure
      "probe": null,                  # hw: "<ST-LINK> <unique id> (pyocd, target ...)"
      "cycle_model": "<the emulator's own description of the model and its parameters>",
      "memory_timing": true,          # flash wait states and SDRAM latency for data are modelled
      "images": 10,                   # images run per mode
      "data": "bundled sample" | "CIFAR-10 test set (DIR)",
      "skipped": [{"mode", "reason"}],  # default modes without a committed model
      "runs": [{
        "mode": "dense" | "trec" | "se-trec" | "dense-ref",  # dense-ref: the dense model with the plain
                                      # reference conv and fc kernels (the papers' kind of baseline)
        "fits": true,                 # false: the build was refused (the numbers are in "error")
        "error": null | "message",
        "bit_exact": true,            # every output and cluster count matched the golden model
        "images_checked": 10, "mismatches": [{"image", "what", "layer", "tensor", "index",
                                              "expected", "got", "detail"}],
        "accuracy": 0.8,              # firmware top-1 over the images; "golden_accuracy" beside it
        "cycles_total": 36716428,     # sum of the layers' cycles, one inference, mean over images
        "latency_ms": 203.98,         # cycles_total / clock_hz
        "speedup_vs_dense": 1.0,      # our dense (DSP kernels) cycles_total / this one (null without a dense run)
        "speedup_vs_reference_dense": 6.4,  # dense-ref cycles_total / this one (null without a dense-ref run)
        "ceiling_trec_layers_free": 2.4,  # TREC runs: dense total / (dense total - the TREC layers' dense
                                      # cycles), the end-to-end speedup vs our dense if they cost nothing
        "model_cycles_total": null,   # hw: the unicorn cycle model's cycles_total for the same images
        "hw_vs_model": null,          # hw: cycles_total / model_cycles_total (the calibration ratio)
        "instructions": 28854903,     # mean per run (reset to breakpoint)
        "layers": [{"name", "kind", "mode", "cycles", "macs", "cycles_per_mac",
                    "remaining_ratio", "clusters", "phases": {"im2col": ..., ...},
                    "speedup_vs_dense", "model_cycles", "hw_vs_model", "speedup_vs_reference_dense",
                    "speedup_if_phase_free": {"im2col": ..., ...}}],  # TREC layers: dense layer cycles /
                                      # (layer cycles - that phase's cycles); null for other layers
        "memory": {"flash_bytes", "sram_static_bytes", "sram_peak_bytes", "stack_peak_bytes",
                   "stack_reserved_bytes", "sdram_bytes", "sdram_peak_bytes", "arena_bytes": {arena: planned},
                   "arena_peak_bytes": {arena: written}, "regions": [{"name", "kind", "size", "static",
                   "arenas", "arena_peak", "stack_peak", "peak"}]},
        "per_image": [{"image", "label", "prediction", "golden_prediction", "cycles", "match"}],
        "trace": {"image", "layers": [{"name", "cycles", "phases"}], "uart": [{"time_s", "text"}]}
      }]
    }

Cycles are per inference (the sum of the firmware's per-layer DWT CYCCNT table) averaged over the
images; phases likewise. ``remaining_ratio`` is sum(clusters) / (sub-matrices x positions x images)
from the firmware's counters, checked equal to the golden model's. ``sram_peak_bytes`` is the
on-chip RAM (every region but flash and SDRAM) in use at the peak: static sections, the arenas'
high-water marks (painting) and the stack's peak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from trecsim import boards, data, golden, report
from trecsim import spec as specmod
from trecsim.emulators import BUILD_VARIANTS, COUNTS_CYCLES, PHASES, RunResult, open_board
from trecsim.errors import BuildError, ConfigError, FirmwareFault, MemoryPlanError
from trecsim.firmware.build import BuildResult, build_firmware

__all__ = ["CYCLE_SOURCE", "DEFAULT_BOARD", "DEFAULT_IMAGES", "DEFAULT_MODEL", "DEFAULT_MODES", "EMULATORS",
           "FORMAT", "PSEUDO_MODES", "REFERENCE_MODE", "BoardProfile", "LayerProfile", "Mismatch", "ProfileConfig",
           "RunProfile", "compare_tensor", "check_run", "diagnose", "layer_outputs", "profile", "resolve_boards"]

FORMAT = "trecsim-profile/1"
CYCLE_SOURCE = "model estimate (trecsim cycle model)"
DEFAULT_BOARD = "stm32f469i-disco"
DEFAULT_MODEL = "cifarnet"
DEFAULT_MODES = ("dense", "trec", "se-trec")
#: The plain reference dense baseline (the papers' kind of baseline): the committed dense model with the
#: plain loop-nest conv and fc kernels (convolve_s8_ref, fully_connected_s8_ref) instead of the DSP ones.
REFERENCE_MODE = "dense-ref"
#: pseudo-mode -> (the committed model's mode, the kernel set of its build: trecsim.codegen.KERNELS)
PSEUDO_MODES = {REFERENCE_MODE: ("dense", "reference")}
DEFAULT_IMAGES = 10
#: backend -> None when implemented, else why not and what to use instead. qemu is the cross-check (the
#: firmware built for QEMU's MPS2 machines, outputs checked bit for bit, no cycles: QEMU counts none);
#: renode needs Renode and pyrenode3 installed (checked when it runs).
EMULATORS = {
    "unicorn": None,
    "qemu": None,
    "renode": None,
}

Progress = Callable[[str, int, int], None]  # (description, done, total)


@dataclass(frozen=True)
class ProfileConfig:
    boards: tuple[str, ...] = (DEFAULT_BOARD,)
    model: str = DEFAULT_MODEL
    modes: tuple[str, ...] = DEFAULT_MODES
    modes_given: bool = False  # an explicit --modes: a missing committed model is an error, not a skip
    images: int | None = DEFAULT_IMAGES  # None: every image of the source
    data_dir: str | None = None  # None: the bundled sample
    emulator: str = "unicorn"
    memory_timing: bool = True
    diagnose: bool = True
    target: str = "emulator"  # "hw": run on the real board through a probe, the unicorn model beside it
    probe: str | None = None  # hw: ST-LINK unique id (None: the only one connected) or "emulator"
    serial: str | None = None  # hw: the console's serial port (the ST-LINK virtual COM port)
    hw_timeout: float = 60.0  # hw: seconds one inference may take
    probe_frequency: int | None = None  # hw: SWD clock in Hz (None: pyocd's default)


@dataclass
class Mismatch:
    image: int
    what: str  # "output" | "clusters"
    layer: str | None  # the first layer whose output differs (diagnosis), or the TREC layer of "clusters"
    tensor: str | None
    index: list[int] | None  # position in the tensor (h, w, c) or (i,)
    expected: int | None
    got: int | None
    detail: str

    def __str__(self) -> str:
        return f"image {self.image}: {self.detail}"


@dataclass
class LayerProfile:
    name: str
    kind: str
    mode: str | None
    cycles: float | None  # None: the emulator counts no cycles (qemu)
    macs: int | None
    cycles_per_mac: float | None
    remaining_ratio: float | None
    clusters: int | None  # summed over images
    phases: dict[str, float]
    speedup_vs_dense: float | None = None
    model_cycles: float | None = None  # --target hw: the cycle model's estimate for the same images
    hw_vs_model: float | None = None  # --target hw: cycles (DWT on hardware) / model_cycles
    speedup_vs_reference_dense: float | None = None  # the dense-ref run's cycles of this layer / these
    speedup_if_phase_free: dict[str, float | None] | None = None  # TREC layers: speedup vs dense, phase free


@dataclass
class RunProfile:
    mode: str
    fits: bool = True
    error: str | None = None
    bit_exact: bool = False
    images_checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    accuracy: float | None = None
    golden_accuracy: float | None = None
    cycles_total: float | None = 0.0  # None (and latency_ms, instructions): the emulator counts no cycles
    latency_ms: float | None = 0.0
    speedup_vs_dense: float | None = None
    instructions: float | None = 0.0
    layers: list[LayerProfile] = field(default_factory=list)
    memory: dict = field(default_factory=dict)
    per_image: list[dict] = field(default_factory=list)
    trace: dict = field(default_factory=dict)
    build_dir: str | None = None
    build_cached: bool | None = None
    uart: list[str] = field(default_factory=list)  # console of the first image
    model_cycles_total: float | None = None  # --target hw: the cycle model's estimate beside cycles_total
    hw_vs_model: float | None = None  # --target hw: cycles_total / model_cycles_total
    speedup_vs_reference_dense: float | None = None  # dense-ref cycles_total / cycles_total
    ceiling_trec_layers_free: float | None = None  # TREC runs: end-to-end speedup vs dense, TREC layers free

    @property
    def ok(self) -> bool:
        """Ran and matched (a model refused for not fitting counts as reported, not failed)."""
        return (not self.fits) or (self.error is None and self.bit_exact and self.images_checked > 0)

    def to_json(self) -> dict:
        doc = asdict(self)
        doc.pop("uart")
        doc["mismatches"] = [asdict(m) for m in self.mismatches]
        return doc


@dataclass
class BoardProfile:
    board: str
    core: str
    clock_hz: int
    model: str
    emulator: str
    cycle_model: str
    memory_timing: bool
    images: int
    data: str
    runs: list[RunProfile] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    cycle_source: str = CYCLE_SOURCE  # "none ..." for an emulator that counts no cycles (every cycle figure None)
    target: str = "emulator"  # "hw": measured on the board (cycle_source "DWT on hardware ...")
    probe: str | None = None  # hw: the probe and its target

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    def run(self, mode: str) -> RunProfile | None:
        return next((r for r in self.runs if r.mode == mode), None)

    def to_json(self) -> dict:
        return {"format": FORMAT, "board": self.board, "core": self.core, "clock_hz": self.clock_hz,
                "model": self.model, "emulator": self.emulator, "cycle_source": self.cycle_source,
                "cycles_available": not self.cycle_source.startswith("none"),
                "target": self.target, "probe": self.probe,
                "cycle_model": self.cycle_model, "memory_timing": self.memory_timing, "images": self.images,
                "data": self.data, "skipped": self.skipped, "ok": self.ok,
                "runs": [r.to_json() for r in self.runs]}


# --------------------------------------------------------------------------- comparison


def compare_tensor(expected: np.ndarray, got: np.ndarray) -> tuple[list[int], int, int, int] | None:
    """None if equal bit for bit, else (index of the first difference in expected's shape, expected value,
    firmware value, number of differing elements)."""
    expected = np.asarray(expected)
    got = np.asarray(got).reshape(-1)
    flat = expected.reshape(-1)
    if flat.shape != got.shape:
        return [], 0, 0, max(flat.size, got.size)
    diff = np.flatnonzero(flat.astype(np.int64) != got.astype(np.int64))
    if diff.size == 0:
        return None
    i = int(diff[0])
    index = [int(v) for v in np.unravel_index(i, expected.shape)] if expected.ndim else [i]
    return index, int(flat[i]), int(got[i]), int(diff.size)


def _fmt_index(index: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


def check_run(spec: specmod.ModelSpec, r: RunResult, expected_logits: np.ndarray,
              expected_clusters: dict[str, np.ndarray], image: int = 0) -> list[Mismatch]:
    """Compares one firmware run with the golden model's expectations for its image: the status, the
    output bit for bit, and for each TREC layer the per-sub-matrix cluster counts (``trec_clusters_<layer>``)
    and their sum in the cycle table. Returns the mismatches (empty when everything matched)."""
    found: list[Mismatch] = []
    if r.status != "done":
        found.append(Mismatch(image, "status", None, None, None, None, None,
                              f"the firmware ended with status {r.status} (error {r.error})"))
    d = compare_tensor(expected_logits, r.output)
    if d is not None:
        index, e, g, n = d
        found.append(Mismatch(image, "output", None, spec.output, index, e, g,
                              f"output {spec.output}{_fmt_index(index)}: expected {e}, got {g} "
                              f"({n} of {r.output.size} values differ)"))
    by_name = {lc.name: lc for lc in r.layers}
    for layer in spec.layers:
        if not layer.clustered:
            continue
        want = np.asarray(expected_clusters[layer.name])
        sym = f"trec_clusters_{_identifier(layer.name)}"
        got = r.outputs.get(sym)
        lc = by_name.get(layer.name)
        c = compare_tensor(want, got) if got is not None else ([], int(want.sum()), 0, 1)
        if c is None and lc is not None and lc.clusters != int(want.sum()):
            c = ([], int(want.sum()), lc.clusters, 1)
        if c is not None:
            idx, e, g, _ = c
            where = f"sub-matrix {_fmt_index(idx)}" if idx else "in all"
            found.append(Mismatch(image, "clusters", layer.name, sym, idx, e, g,
                                  f"{layer.name} cluster counts differ from the golden model's {where}: "
                                  f"expected {e}, got {g}"))
    return found


# --------------------------------------------------------------------------- per-layer outputs


def layer_outputs(build: BuildResult, spec: specmod.ModelSpec, board: boards.Board, model_input: np.ndarray,
                  *, backend: str = "unicorn", memory_timing: bool = True) -> dict[str, np.ndarray]:
    """Runs the firmware once and returns every layer's output tensor (int8, its spec shape) as it was
    when the layer finished: a write hook on ``trec_cycles[i].cycles`` (written right after layer i's
    kernel returns) copies the tensor out of its arena before later layers reuse the memory (under qemu, a
    gdb write watchpoint on the same field)."""
    import unicorn

    from trecsim.emulators.result import LAYER_RECORD

    emu = open_board(build.elf, board, backend=backend, **_options(backend, memory_timing))
    uc = getattr(emu, "uc", None)
    if uc is None and backend != "qemu":
        raise ConfigError(f"per-layer outputs need the unicorn or qemu backend, not {backend}",
                          fix="diagnose the mismatch with --emulator unicorn")
    elf = emu.elf
    table = elf.symbol("trec_cycles")
    where: list[tuple[str, int, int]] = []  # per layer: (tensor, address, bytes)
    for layer in spec.layers:
        t = spec.tensors[layer.output]
        if layer.output == spec.output:
            addr = elf.symbol("trec_output").address
        else:
            p = build.plan.placement(layer.output)
            addr = elf.symbol(f"trec_arena_{p.arena}").address + p.offset
        where.append((layer.output, addr, t.size))
    captured: dict[str, np.ndarray] = {}
    if uc is None:  # qemu: a write watchpoint on each layer's cycles field (the same moment as the hook)
        emu.run(model_input, watches={table.address + i * LAYER_RECORD.itemsize: (addr, n)
                                      for i, (_, addr, n) in enumerate(where)})
        for i, (name, _, _) in enumerate(where):
            got = emu.captures.get(table.address + i * LAYER_RECORD.itemsize)
            if got is not None:
                captured[name] = np.frombuffer(got, np.int8).copy()
        return {name: arr.reshape(spec.tensors[name].shape) for name, arr in captured.items()}

    def on_write(uc_, access, address, size, value, user):
        off = address - table.address
        if off % LAYER_RECORD.itemsize:
            return
        i = off // LAYER_RECORD.itemsize
        if 0 <= i < len(where):
            name, addr, n = where[i]
            captured[name] = np.frombuffer(bytes(uc_.mem_read(addr, n)), np.int8).copy()

    uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, on_write, begin=table.address,
                end=table.address + LAYER_RECORD.itemsize * len(spec.layers) - 1)
    emu.run(model_input)
    return {name: arr.reshape(spec.tensors[name].shape) for name, arr in captured.items()}


def diagnose(build: BuildResult, spec: specmod.ModelSpec, board: boards.Board, image: np.ndarray, *,
             backend: str = "unicorn", memory_timing: bool = True) -> tuple[str, str, list[int], int, int] | None:
    """The first layer whose firmware output differs from the golden model's on one uint8 image:
    (layer, tensor, index, expected, got), or None when every layer's output matches."""
    x = golden.model_input(spec, image[None])
    expected = golden.run(spec, image[None], keep_outputs=True).outputs
    got = layer_outputs(build, spec, board, x[0], backend=backend, memory_timing=memory_timing)
    for layer in spec.layers:
        if layer.output not in got:
            continue
        d = compare_tensor(expected[layer.output][0], got[layer.output])
        if d is not None:
            index, e, g, _ = d
            return layer.name, layer.output, index, e, g
    return None


# --------------------------------------------------------------------------- the pipeline


def resolve_boards(name: str) -> tuple[str, ...]:
    """``all`` -> every board in platforms/; otherwise the one board (checked, case-insensitive)."""
    if name.strip().lower() == "all":
        return tuple(b.name for b in boards.load_boards())
    return (boards.get_board(name).name,)


def _load_images(cfg: ProfileConfig):
    if cfg.data_dir is None:
        split, source = data.load_sample(), "bundled sample"
    else:
        split = data.load_split("test", cfg.data_dir)
        source = f"CIFAR-10 test set ({cfg.data_dir})"
    n = len(split.labels) if cfg.images is None else min(int(cfg.images), len(split.labels))
    if n <= 0:
        raise ConfigError(f"--images {cfg.images} selects no image", fix="use --images N with N >= 1")
    return split.images[:n], split.labels[:n], source


def _specs(cfg: ProfileConfig) -> tuple[list[tuple[str, specmod.ModelSpec]], list[dict]]:
    found, skipped = [], []
    for mode in cfg.modes:
        if mode not in specmod.MODES and mode not in PSEUDO_MODES:
            raise ConfigError(f"unknown mode '{mode}'", where="--modes",
                              fix=f"use some of: {', '.join((*specmod.MODES, *PSEUDO_MODES))} ({REFERENCE_MODE}: "
                                  "the dense model with the plain reference conv and fc kernels)")
        model_mode = PSEUDO_MODES.get(mode, (mode,))[0]
        path = specmod.trained_path(cfg.model, model_mode)
        if not path.is_file() and not cfg.modes_given:
            skipped.append({"mode": mode, "reason": f"no committed model {cfg.model}-{model_mode} yet "
                                                    f"(trecsim/spec/trained/)"})
            continue
        found.append((mode, specmod.load_trained(cfg.model, model_mode)))  # SpecError lists the committed ones
    if not found:
        have = sorted(p.stem for p in specmod.trained_dir().glob("*.npz"))
        raise specmod.SpecError(f"no committed model for {cfg.model} in modes {', '.join(cfg.modes)}: "
                                f"it is not trained yet", where=str(specmod.trained_dir()),
                                fix=f"profile one of: {', '.join(have) or 'none yet'}, or train and export it "
                                    f"(python -m trecsim train / export, see trecsim/spec/trained/README.md)")
    return found, skipped


def _memory(build: BuildResult, results: list[RunResult]) -> dict:
    size = build.size
    regions: dict[str, dict] = {}
    for r in results:
        for reg in r.memory.regions:
            cur = regions.setdefault(reg.name, {"name": reg.name, "kind": reg.kind, "size": reg.size,
                                                "static": reg.static, "arenas": reg.arenas, "arena_peak": 0,
                                                "stack_peak": 0, "peak": 0})
            cur["arena_peak"] = max(cur["arena_peak"], reg.arena_peak)
            cur["stack_peak"] = max(cur["stack_peak"], reg.stack_peak)
            cur["peak"] = max(cur["peak"], reg.peak)
    on_chip = [v for v in regions.values() if v["kind"] not in ("flash", "sdram")]
    sdram = [v for v in regions.values() if v["kind"] == "sdram"]
    arena_peaks: dict[str, int] = {}
    for r in results:
        for k, v in r.memory.arena_peaks.items():
            arena_peaks[k] = max(arena_peaks.get(k, 0), v)
    return {
        "flash_bytes": size.flash_used,
        "sram_static_bytes": size.static_sram,
        "sram_peak_bytes": sum(v["peak"] for v in on_chip),
        "stack_peak_bytes": max((r.memory.stack_peak for r in results), default=0),
        "stack_reserved_bytes": size.stack,
        "sdram_bytes": size.sdram,
        "sdram_peak_bytes": sum(v["peak"] for v in sdram),
        "weights_bytes": size.weights,
        "arena_bytes": dict(size.arenas),
        "arena_peak_bytes": arena_peaks,
        "regions": list(regions.values()),
    }


def _options(backend: str, memory_timing: bool) -> dict:
    """open_board options of the backend (only the unicorn cycle model times data memory)."""
    return {"memory_timing": memory_timing} if backend == "unicorn" else {}


def _run_mode(mode: str, spec: specmod.ModelSpec, board: boards.Board, images: np.ndarray, labels: np.ndarray,
              cfg: ProfileConfig, progress: Progress | None, opener: Callable | None = None) -> RunProfile:
    """``opener`` replaces :func:`open_board` (``--target hw``: the board, the model beside it). A pseudo-mode
    (:data:`PSEUDO_MODES`) builds ``spec`` with its kernel set; every check is the same."""
    run = RunProfile(mode=mode)
    cycles = COUNTS_CYCLES[cfg.emulator]
    kernels = PSEUDO_MODES.get(mode, (mode, "optimized"))[1]
    try:
        build = build_firmware(spec, board, variant=BUILD_VARIANTS[cfg.emulator], kernels=kernels)
    except (BuildError, MemoryPlanError) as exc:
        run.fits, run.error = False, str(exc)
        return run
    run.build_dir, run.build_cached = str(build.out_dir), build.cached
    expected = golden.run(spec, images)
    x = golden.model_input(spec, images)
    clustered = [l for l in spec.layers if l.clustered]
    macs = spec.macs()
    results: list[RunResult] = []
    cluster_sums = {l.name: 0 for l in clustered}
    desc = f"{board.name} {spec.model} {mode}"
    for i in range(len(images)):
        try:
            r = (opener or open_board)(build.elf, board, backend=cfg.emulator,
                                       **_options(cfg.emulator, cfg.memory_timing)).run(x[i])
        except FirmwareFault as exc:
            run.error = f"image {i}: {exc}"
            break
        if i == 0:
            run.uart = [line.text for line in r.uart]
        results.append(r)
        found = check_run(spec, r, expected.logits[i], {l.name: expected.clusters[l.name][i] for l in clustered}, i)
        run.mismatches += found
        ok = not found
        by_name = {lc.name: lc for lc in r.layers}
        for layer in clustered:
            cluster_sums[layer.name] += by_name[layer.name].clusters if layer.name in by_name else 0
        run.per_image.append({"image": i, "label": int(labels[i]), "prediction": int(np.argmax(r.output)),
                              "golden_prediction": int(expected.predictions[i]),
                              "cycles": r.model_cycles if cycles else None,
                              "match": ok})
        if progress is not None:
            progress(desc, i + 1, len(images))
    run.images_checked = len(results)
    if not results:
        return run
    # diagnosis of the first mismatching image: the first layer whose output differs
    if cfg.diagnose and run.mismatches:
        first = run.mismatches[0]
        found = diagnose(build, spec, board, images[first.image], backend=cfg.emulator,
                         memory_timing=cfg.memory_timing)
        if found is not None:
            layer, tensor, index, e, g = found
            run.mismatches.insert(0, Mismatch(first.image, "layer", layer, tensor, index, e, g,
                                              f"first differing layer {layer} (tensor {tensor}) at "
                                              f"{_fmt_index(index)}: expected {e}, got {g}"))
        else:
            first.detail += "; every layer's output matches the golden model's, so the difference is in the " \
                            "final output or in the expected values"
    run.bit_exact = not run.mismatches and run.error is None
    n = len(results)
    preds = np.array([int(np.argmax(r.output)) for r in results])
    run.accuracy = float(np.mean(preds == labels[:n]))
    run.golden_accuracy = float(np.mean(expected.predictions[:n] == labels[:n]))
    # a backend that counts no cycles (qemu) leaves every cycle figure None: never a zero that looks measured
    run.cycles_total = float(np.mean([r.model_cycles for r in results])) if cycles else None
    run.latency_ms = run.cycles_total / board.clock_hz * 1e3 if cycles else None
    run.instructions = float(np.mean([r.instructions for r in results])) if cycles else None
    positions = {l.name: int(np.prod(spec.tensors[l.output].shape[:2])) for l in spec.layers if l.op == "conv"}
    for j, layer in enumerate(spec.layers):
        cyc = float(np.mean([r.layers[j].cycles for r in results])) if cycles else None
        phases = {}
        if layer.clustered and cycles:
            phases = {p: float(np.mean([r.layers[j].phases.get(p, 0) for r in results])) for p in PHASES}
        m = macs.get(layer.name)
        ratio = clusters = None
        if layer.clustered:
            sub = layer.arrays["weight"][0].size // layer.attrs["sub_len"]
            clusters = cluster_sums[layer.name]
            ratio = clusters / (sub * positions[layer.name] * n)
        run.layers.append(LayerProfile(layer.name, layer.op, layer.mode if layer.op == "conv" else None, cyc, m,
                                       cyc / m if m and cyc is not None else None, ratio, clusters, phases))
    run.memory = _memory(build, results)
    r0 = results[0]
    run.trace = {"image": 0, "layers": [{"name": lc.name, "cycles": lc.cycles if cycles else None,
                                         "phases": dict(lc.phases)} for lc in r0.layers],
                 "uart": [{"time_s": u.time_s if cycles else None, "text": u.text} for u in r0.uart]}
    return run


def _identifier(name: str) -> str:
    """The C identifier codegen gives a layer (trec_clusters_<ident>)."""
    import re

    ident = re.sub(r"\W", "_", name, flags=re.ASCII)
    return ident if ident and not ident[0].isdigit() else f"_{ident}"


def _speedups(bp: BoardProfile) -> None:
    """Speedups over our dense (DSP kernels) and over the plain reference dense (dense-ref), per run and
    per layer, and for TREC runs the per-phase "if it were free" speedups and the TREC-layers-free ceiling
    (:func:`trecsim.report.phase_free_speedups`, :func:`trecsim.report.trec_free_ceiling`)."""
    for base_mode, attr in (("dense", "speedup_vs_dense"), (REFERENCE_MODE, "speedup_vs_reference_dense")):
        base_run = bp.run(base_mode)
        if base_run is None or not base_run.fits or not base_run.cycles_total:
            continue
        base = {l.name: l.cycles for l in base_run.layers}
        for r in bp.runs:
            if not r.fits or not r.cycles_total:
                continue
            setattr(r, attr, base_run.cycles_total / r.cycles_total)
            for l in r.layers:
                if base.get(l.name) and l.cycles:
                    setattr(l, attr, base[l.name] / l.cycles)
    dense = bp.run("dense")
    if dense is None or not dense.fits or not dense.cycles_total:
        return
    base = {l.name: l.cycles for l in dense.layers}
    for r in bp.runs:
        if not r.fits or not r.cycles_total:
            continue
        trec = [l for l in r.layers if l.remaining_ratio is not None]
        for l in trec:
            l.speedup_if_phase_free = report.phase_free_speedups(base.get(l.name), l.cycles, l.phases)
        if trec:
            r.ceiling_trec_layers_free = report.trec_free_ceiling(dense.cycles_total,
                                                                  [base.get(l.name) for l in trec])


def profile(cfg: ProfileConfig, progress: Progress | None = None) -> list[BoardProfile]:
    """Profiles ``cfg.model`` in ``cfg.modes`` on every board of ``cfg.boards``; see the module doc."""
    if cfg.emulator not in EMULATORS:
        raise ConfigError(f"unknown emulator '{cfg.emulator}'", fix=f"use one of: {', '.join(EMULATORS)}")
    if EMULATORS[cfg.emulator] is not None:
        raise ConfigError(EMULATORS[cfg.emulator], where=f"--emulator {cfg.emulator}",
                          fix="use --emulator unicorn (the default), which runs the same firmware with trecsim's "
                              "cycle model")
    if cfg.emulator == "qemu":  # a missing QEMU or Renode is an EmulatorError with the install hint
        from trecsim.emulators.qemu_backend import qemu_binary

        qemu_binary()
    elif cfg.emulator == "renode":
        from trecsim.emulators.renode_backend import require_renode

        require_renode()
    if cfg.target not in ("emulator", "hw"):
        raise ConfigError(f"unknown target '{cfg.target}'", fix="use --target emulator (default) or --target hw")
    if cfg.target == "hw" and cfg.emulator != "unicorn":
        raise ConfigError(f"--target hw puts the unicorn cycle model beside the board, not {cfg.emulator}",
                          where=f"--emulator {cfg.emulator}", fix="leave --emulator at unicorn with --target hw")
    if cfg.target != "hw" and (cfg.serial or cfg.probe):
        raise ConfigError("--probe and --serial are for a real board", where="--probe/--serial",
                          fix="add --target hw, or leave them out")
    if cfg.target == "hw" and not cfg.hw_timeout > 0:
        raise ConfigError(f"--hw-timeout {cfg.hw_timeout} is not a positive number of seconds",
                          fix="pass e.g. --hw-timeout 60")
    board_list = [boards.get_board(name) for name in cfg.boards]
    specs, skipped = _specs(cfg)
    images, labels, source = _load_images(cfg)
    out = []
    for board in board_list:
        counts = COUNTS_CYCLES[cfg.emulator]
        bp = BoardProfile(board=board.name, core=board.core.name, clock_hz=board.clock_hz, model=cfg.model,
                          emulator=cfg.emulator,
                          cycle_model=(f"trecsim {board.core.name} cycle model, parameters of {board.toml_path.name}"
                                       if counts else f"none: {cfg.emulator} is a cross-check of outputs"),
                          memory_timing=cfg.memory_timing and counts, images=len(labels), data=source,
                          skipped=list(skipped),
                          cycle_source=CYCLE_SOURCE if counts else f"none ({cfg.emulator} counts no cycles)")
        session = None
        if cfg.target == "hw":
            from trecsim.profile.hardware import HardwareSession

            session = HardwareSession(board, cfg.probe, serial=cfg.serial, timeout_s=cfg.hw_timeout,
                                      frequency=cfg.probe_frequency, memory_timing=cfg.memory_timing)
        try:
            for mode, spec in specs:
                bp.runs.append(_run_mode(mode, spec, board, images, labels, cfg, progress,
                                         session.open_board if session else None))
            if session is not None:
                session.annotate(bp)
        finally:
            if session is not None:
                session.close()
        _speedups(bp)
        out.append(bp)
    return out
