"""Firmware build for a board: ModelSpec -> memory plan -> generated sources -> ELF + map + size report.

``build_firmware(spec, board)`` plans the model's buffers (:mod:`trecsim.memory`), generates
``model.c``, ``model.h``, ``board.h`` and ``linker.ld`` (:mod:`trecsim.codegen`) into
``build/firmware/<board>/<model>-<mode>[-ref][-noprofile]/`` and links them with
``firmware/kernels`` and ``firmware/runtime`` by arm-none-eabi-gcc. The build is cached:
the sha256 of every input (sources, templates, generators, spec, board, flags, options)
is stored in ``build.json``; an unchanged input reuses the ELF without running the compiler.
A model that does not fit is refused with the numbers (:class:`~trecsim.errors.BuildError`,
:class:`~trecsim.errors.MemoryPlanError`), never built into a firmware that misbehaves.

``variant="qemu"`` links the same sources for the QEMU MPS2 machine that stands in for the board's
core (:mod:`trecsim.firmware.mps2`): the board's regions relocated into the machine's RAM, the same
memory plan, the CMSDK UART console (``firmware/runtime/mps2/``, with the same text functions,
``trec_console.h``) instead of ``usart.c`` and no chip set-up; cached apart in
``build/firmware/qemu-<machine>/<board>/<model>-<mode>[-ref][-noprofile]/``.

``kernels="reference"`` (:data:`trecsim.codegen.KERNELS`) makes the dense conv and fc layers call the
plain loop-nest reference kernels (``convolve_s8_ref``, ``fully_connected_s8_ref``, bit-exact with the
DSP ones) instead of the optimized ones: the papers' kind of dense baseline. It is part of the build key
and has its own cache slot, ``<model>-<mode>-ref``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import trecsim
from trecsim import codegen, memory
from trecsim.boards import Board
from trecsim.errors import BuildError
from trecsim.firmware import mps2
from trecsim.firmware.hostlib import CFLAGS
from trecsim.spec import ModelSpec

__all__ = ["BUILD_ROOT", "CORE_FLAGS", "KERNELS", "VARIANTS", "BuildResult", "SizeReport", "build_firmware",
           "build_key", "output_dir", "variant_board"]

FIRMWARE_DIR = trecsim.REPO_ROOT / "firmware"
KERNEL_DIR = FIRMWARE_DIR / "kernels"
RUNTIME_DIR = FIRMWARE_DIR / "runtime"
MPS2_DIR = RUNTIME_DIR / "mps2"
#: Build variants: None, the board's own chip; "qemu", QEMU's MPS2 machine for the board's core.
VARIANTS = (None, "qemu")
BUILD_ROOT = trecsim.REPO_ROOT / "build" / "firmware"
#: Compiler flags per core (board.core.name): the FPU is single precision on both boards.
CORE_FLAGS = {
    "cortex-m4f": ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"),
    "cortex-m7": ("-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16"),
}
COMMON_FLAGS = ("-mthumb", "-mfloat-abi=hard", *CFLAGS, "-ffunction-sections", "-fdata-sections", "-g")
LINK_FLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments")
PROFILE_DEFINE = 'TREC_PROFILE_HEADER="trec_rt_profile.h"'
_FORMAT = "trecsim-firmware-build/1"
KERNELS = codegen.KERNELS
#: cache-slot suffix of each kernel set (build/firmware/<board>/<model>-<mode><suffix>)
_KERNEL_SUFFIX = {"optimized": "", "reference": "-ref"}


@dataclass(frozen=True)
class SizeReport:
    """Bytes of the linked firmware and of the plan."""

    flash_used: int  # vectors, code, constants and the .data image
    flash_size: int
    static_sram: int  # .data + .bss + .noinit in the static region
    static_region: str
    arenas: dict[str, int]  # arena -> planned bytes (on-chip and SDRAM)
    arena_capacity: dict[str, int]
    sdram: int  # planned bytes in external SDRAM (0 without)
    stack: int
    weights: int  # bytes of the spec's arrays (part of flash_used)

    @property
    def on_chip_ram(self) -> int:
        return self.static_sram + self.stack + sum(self.arenas.values()) - self.sdram

    def to_json(self) -> dict:
        return {**asdict(self), "on_chip_ram": self.on_chip_ram}

    def lines(self) -> list[str]:
        out = [f"flash      {self.flash_used:>9} of {self.flash_size} bytes "
               f"({100 * self.flash_used / self.flash_size:.1f}%, weights {self.weights})",
               f"static RAM {self.static_sram:>9} bytes (.data + .bss + .noinit in {self.static_region})",
               f"stack      {self.stack:>9} bytes reserved at the top of {self.static_region}"]
        for name, used in self.arenas.items():
            out.append(f"arena {name:<5}{used:>9} of {self.arena_capacity[name]} bytes planned")
        out.append(f"on-chip RAM in all {self.on_chip_ram} bytes; SDRAM {self.sdram} bytes")
        return out


@dataclass(frozen=True)
class BuildResult:
    elf: Path
    map: Path
    out_dir: Path
    key: str
    cached: bool
    plan: memory.MemoryPlan
    size: SizeReport
    sources: tuple[Path, ...]  # the generated files
    kernels: str = "optimized"  # the dense conv and fc kernels (trecsim.codegen.KERNELS)


def _arm_gcc() -> str:
    path = shutil.which(os.environ.get("TRECSIM_ARM_GCC", "arm-none-eabi-gcc"))
    if path is None:
        raise BuildError("arm-none-eabi-gcc not found", fix="install it (apt-get install gcc-arm-none-eabi "
                         "libnewlib-arm-none-eabi) or set TRECSIM_ARM_GCC")
    return path


def _flags(board: Board, profile: bool) -> list[str]:
    if board.core.name not in CORE_FLAGS:
        raise BuildError(f"no compiler flags for core {board.core.name}", where=str(board.toml_path),
                         fix=f"use a board with one of: {', '.join(CORE_FLAGS)}")
    if not board.core.dsp or not board.core.fpu:
        raise BuildError(f"board {board.name} lacks the DSP extension or the FPU the firmware is built for",
                         where=str(board.toml_path), fix="use a Cortex-M4F or Cortex-M7 board")
    flags = [*CORE_FLAGS[board.core.name], *COMMON_FLAGS]
    if profile:
        flags.append(f"-D{PROFILE_DEFINE}")
    else:
        flags.append("-DTREC_NO_PROFILE")
    return flags


def output_dir(board: Board, spec: ModelSpec, profile: bool = True, variant: str | None = None,
               kernels: str = "optimized") -> Path:
    leaf = f"{spec.model}-{spec.mode}{_KERNEL_SUFFIX[codegen.check_kernels(kernels)]}{'' if profile else '-noprofile'}"
    if variant == "qemu":
        return BUILD_ROOT / f"qemu-{mps2.machine_for(board).name}" / board.name / leaf
    return BUILD_ROOT / board.name / leaf


def variant_board(board: Board, variant: str | None) -> Board:
    """The board the firmware of ``variant`` is linked for (its memories where that machine has RAM)."""
    if variant not in VARIANTS:
        raise BuildError(f"unknown build variant '{variant}'", fix="use none (the board's chip) or 'qemu'")
    return mps2.relocate(board) if variant == "qemu" else board


def _sources(out: Path, variant: str | None) -> list[Path]:
    runtime = sorted(RUNTIME_DIR.glob("*.c"))
    if variant == "qemu":  # the CMSDK UART replaces the STM32 USART
        runtime = [p for p in runtime if p.name != "usart.c"] + sorted(MPS2_DIR.glob("*.c"))
    return [*sorted(KERNEL_DIR.glob("*.c")), *runtime, out / "model.c"]


def _input_files(variant: str | None = None) -> list[Path]:
    here = Path(__file__).resolve().parent
    package = here.parent
    files = [*sorted(KERNEL_DIR.glob("*.[ch]")), *sorted(RUNTIME_DIR.glob("*.[ch]")),
             *sorted(codegen.TEMPLATE_DIR.glob("*.j2")), *sorted((package / "codegen").glob("*.py")),
             *sorted((package / "memory").glob("*.py")), Path(__file__).resolve()]
    if variant == "qemu":
        files += [*sorted(MPS2_DIR.glob("*.[ch]")), Path(mps2.__file__).resolve()]
    return files


def build_key(spec: ModelSpec, board: Board, flags: list[str], stack_bytes: int, compiler: str,
              variant: str | None = None, kernels: str = "optimized") -> str:
    """sha256 of everything the firmware is made from (the kernel set included)."""
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(f"\0{label}\0{len(data)}\0".encode())
        h.update(data)

    add("format", _FORMAT.encode())
    if variant is not None:
        add("variant", variant.encode())
    add("kernels", codegen.check_kernels(kernels).encode())
    add("compiler", compiler.encode())
    add("flags", "\0".join([*flags, *LINK_FLAGS]).encode())
    add("stack", str(stack_bytes).encode())
    for path in _input_files(variant):
        add(path.name, path.read_bytes())
    add("spec", json.dumps(spec.to_json(), sort_keys=True, default=str).encode())
    for layer in spec.layers:
        for name, arr in sorted(layer.arrays.items()):
            add(f"{layer.name}/{name}/{arr.dtype}/{arr.shape}", np.ascontiguousarray(arr).tobytes())
    add("board", repr((board.name, board.core, board.clock_hz, board.console_uart, board.memories,
                       board.peripheral(board.console_uart.name))).encode())
    return h.hexdigest()


def _size_report(elf: Path, board: Board, plan: memory.MemoryPlan, spec: ModelSpec) -> SizeReport:
    from elftools.elf.elffile import ELFFile

    flash = board.flash
    flash_used = static = 0
    with open(elf, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if not sec["sh_flags"] & 0x2 or sec["sh_size"] == 0:  # SHF_ALLOC
                continue
            name, addr, size = sec.name, sec["sh_addr"], sec["sh_size"]
            if flash.contains(addr):
                flash_used += size
            elif name == ".data":
                flash_used += size  # its image is stored in flash (AT> FLASH)
                static += size
            elif name in (".bss", ".noinit"):
                static += size
    arenas = {a.name: plan.arena_bytes(a.name) for a in plan.arenas}
    return SizeReport(flash_used=flash_used, flash_size=flash.size, static_sram=static,
                      static_region=plan.static_arena.span, arenas=arenas,
                      arena_capacity={a.name: a.capacity for a in plan.arenas},
                      sdram=sum(v for k, v in arenas.items() if not plan.arena(k).on_chip),
                      stack=plan.stack_bytes, weights=spec.weight_bytes())


_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
_ASSERT = re.compile(r"trecsim: [^\n]*")


def _link_error(stderr: str, board: Board, spec: ModelSpec) -> BuildError | None:
    m = _OVERFLOW.search(stderr)
    if m:
        region, over = m.group(1), int(m.group(2))
        fix = ("use a smaller model, fewer or smaller layers, or the board with 2 MB of flash (stm32f469i-disco)"
               if region == board.flash.name.upper() else "use a smaller --stack or a smaller model")
        return BuildError(f"the firmware does not fit region {region}: {over} bytes over "
                          f"(the spec's arrays alone take {spec.weight_bytes()} bytes)",
                          where=f"board {board.name}, model {spec.model} {spec.mode}", fix=fix)
    m = _ASSERT.search(stderr)
    if m:
        return BuildError(m.group(0), where=f"board {board.name}, model {spec.model} {spec.mode}",
                          fix="use a smaller --stack or a smaller model")
    return None


def build_firmware(spec: ModelSpec, board: Board, *, out_dir: str | os.PathLike | None = None, profile: bool = True,
                   stack_bytes: int = memory.DEFAULT_STACK_BYTES, force: bool = False,
                   variant: str | None = None, kernels: str = "optimized") -> BuildResult:
    """Builds (or reuses) the firmware of ``spec`` for ``board`` (``variant``: None or "qemu"; ``kernels``:
    "optimized" or "reference" for the dense conv and fc layers); see the module doc."""
    codegen.check_kernels(kernels)
    compiler = _arm_gcc()
    target = variant_board(board, variant)
    flags = _flags(board, profile)
    weights = spec.weight_bytes()
    if weights > board.flash.size:
        raise BuildError(f"the model's arrays take {weights} bytes, {weights - board.flash.size} bytes more than "
                         f"the {board.flash.size} bytes of flash", where=f"board {board.name}, model {spec.model} "
                         f"{spec.mode}", fix="use a smaller model or the board with 2 MB of flash (stm32f469i-disco)")
    plan = memory.plan(spec, target, stack_bytes=stack_bytes)
    out = Path(out_dir) if out_dir else output_dir(board, spec, profile, variant, kernels)
    key = build_key(spec, target, flags, stack_bytes, compiler, variant, kernels)
    elf, map_path, stamp = out / "firmware.elf", out / "firmware.map", out / "build.json"
    generated = tuple(out / name for name in codegen.GENERATED_FILES)
    if not force and elf.is_file() and stamp.is_file():
        try:
            cached = json.loads(stamp.read_text()).get("key") == key
        except (OSError, ValueError):
            cached = False
        if cached:
            return BuildResult(elf, map_path, out, key, True, plan, _size_report(elf, target, plan, spec), generated,
                               kernels)
    stamp.unlink(missing_ok=True)
    console = None
    if variant == "qemu":
        machine = mps2.machine_for(board)
        console = {"name": "uart0", "type": f"CMSDK APB UART of QEMU {machine.name}", "base": machine.uart0}
    codegen.write(codegen.generate(spec, target, plan, key, console=console, kernels=kernels), out)
    sources = _sources(out, variant)
    tmp = out / "firmware.elf.tmp"
    cmd = [compiler, *flags, f"-I{out}", f"-I{RUNTIME_DIR}", f"-I{KERNEL_DIR}", *LINK_FLAGS,
           f"-T{out / 'linker.ld'}", f"-Wl,-Map={map_path}", *map(str, sources), "-o", str(tmp)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        err = _link_error(result.stderr, board, spec)
        if err is not None:
            raise err
        raise BuildError(f"arm-none-eabi-gcc failed:\n{result.stderr.strip()}", where=str(out),
                         fix="fix the error above (the flags include -Werror)")
    os.replace(tmp, elf)
    size = _size_report(elf, target, plan, spec)
    (out / "size.json").write_text(json.dumps(size.to_json(), indent=2) + "\n")
    (out / "plan.json").write_text(json.dumps(plan.to_json(), indent=2) + "\n")
    (out / "plan.txt").write_text(plan.table() + "\n")
    stamp.write_text(json.dumps({"key": key, "board": board.name, "variant": variant, "model": spec.model,
                                 "mode": spec.mode, "kernels": kernels, "profile": profile,
                                 "stack_bytes": stack_bytes, "command": cmd}, indent=2) + "\n")
    return BuildResult(elf, map_path, out, key, False, plan, size, generated, kernels)
