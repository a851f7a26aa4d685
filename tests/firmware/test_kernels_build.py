"""How the kernels build: warning-clean C99 natively and for Cortex-M4/M7, no floating point,
no heap, DSP instructions on the boards, and a host library cache that is keyed and atomic."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trecsim.firmware import hostlib

ARM_GCC = shutil.which("arm-none-eabi-gcc")
ARM_OBJDUMP = shutil.which("arm-none-eabi-objdump")
ARM_NM = shutil.which("arm-none-eabi-nm")
needs_arm = pytest.mark.skipif(ARM_GCC is None or ARM_OBJDUMP is None or ARM_NM is None,
                               reason="arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)")
CPUS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
}
STRICT = [*hostlib.CFLAGS, "-Wvla", "-pedantic"]
# library functions the kernels may call: nothing that allocates, no float helpers
ALLOWED_UNDEFINED = {"memcpy", "memset", "__aeabi_memcpy", "__aeabi_memset", "__aeabi_memclr", "__aeabi_memcpy4",
                     "__aeabi_memclr4", "__aeabi_memset4", "__aeabi_idiv", "__aeabi_idivmod"}


@pytest.fixture(scope="module")
def arm_objects(tmp_path_factory):
    """Every kernel compiled with -c for both cores: {cpu: {source name: object path}}."""
    if ARM_GCC is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    out = tmp_path_factory.mktemp("arm")
    objects: dict[str, dict[str, Path]] = {}
    for cpu, flags in CPUS.items():
        objects[cpu] = {}
        for src in hostlib.sources():
            obj = out / f"{cpu}-{src.stem}.o"
            result = subprocess.run([ARM_GCC, *STRICT, *flags, "-c", str(src), "-o", str(obj)],
                                    capture_output=True, text=True)
            assert result.returncode == 0, f"{cpu} {src.name}:\n{result.stderr}"
            assert result.stderr == "", result.stderr
            objects[cpu][src.name] = obj
    return objects


def test_native_compile_is_warning_free(tmp_path):
    for src in hostlib.sources():
        result = subprocess.run(["gcc", *STRICT, f"-I{hostlib.KERNEL_DIR}", "-c", str(src), "-o",
                                 str(tmp_path / (src.stem + ".o"))], capture_output=True, text=True)
        assert result.returncode == 0 and result.stderr == "", f"{src.name}:\n{result.stderr}"


@needs_arm
@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_arm_objects_have_no_floating_point_and_no_heap(arm_objects, cpu):
    defined = set()
    for obj in arm_objects[cpu].values():
        defined.update(subprocess.run([ARM_NM, "--defined-only", "-j", str(obj)], capture_output=True,
                                      text=True).stdout.split())
    for name, obj in arm_objects[cpu].items():
        disassembly = subprocess.run([ARM_OBJDUMP, "-d", str(obj)], capture_output=True, text=True).stdout
        fp = [line for line in disassembly.splitlines()
              if re.search(r"^\s+[0-9a-f]+:\s+(?:[0-9a-f]{4} ?){1,2}\s+v[a-z]", line)]
        assert fp == [], f"{cpu} {name} uses the FPU:\n" + "\n".join(fp[:5])
        undefined = subprocess.run([ARM_NM, "-u", str(obj)], capture_output=True, text=True).stdout.split()
        names = {u for u in undefined if u != "U"} - defined
        assert names <= ALLOWED_UNDEFINED, f"{cpu} {name} calls {sorted(names - ALLOWED_UNDEFINED)}"


@needs_arm
@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_optimized_kernels_use_the_dsp_instructions(arm_objects, cpu):
    for name in ("convolve_s8.c", "fully_connected_s8.c", "trec_common.c", "trec_se_convolve_s8.c"):
        disassembly = subprocess.run([ARM_OBJDUMP, "-d", str(arm_objects[cpu][name])], capture_output=True,
                                     text=True).stdout
        assert re.search(r"\ssmlad\s", disassembly), f"{cpu} {name}: no SMLAD"
        assert re.search(r"\ssxtb16\s", disassembly), f"{cpu} {name}: no SXTB16"


@needs_arm
def test_portable_dsp_models_compile_for_the_board_too(tmp_path):
    """-DTREC_NN_PORTABLE_DSP forces the C models of the instructions (what the host runs)."""
    obj = tmp_path / "conv.o"
    result = subprocess.run([ARM_GCC, *STRICT, *CPUS["cortex-m4"], "-DTREC_NN_PORTABLE_DSP", "-c",
                             str(hostlib.KERNEL_DIR / "convolve_s8.c"), "-o", str(obj)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _header_prototypes() -> dict[str, str]:
    text = (hostlib.KERNEL_DIR / "trecsim_nn.h").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    found = {}
    for match in re.finditer(r"int32_t\s+(\w+)\s*\(([^)]*)\)\s*;", text):
        params = [p.strip() for p in match.group(2).split(",")]
        found[match.group(1)] = "".join("p" if "*" in p else "i" for p in params)
    return found


def test_ctypes_prototypes_match_the_header(lib):
    header = _header_prototypes()
    assert header == hostlib._PROTOTYPES
    for name, kinds in header.items():
        assert len(getattr(lib, name).argtypes) == len(kinds)


def test_host_library_is_cached_by_content(tmp_path):
    first = hostlib.build(cache_dir=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert hostlib.build(cache_dir=tmp_path) == first
    assert first.stat().st_mtime_ns == stamp  # no rebuild
    other = hostlib.build(defines=["TREC_NN_STATS"], cache_dir=tmp_path)
    assert other != first and other.is_file()
    assert not list(tmp_path.rglob(".build-*"))  # temporary files renamed or removed


def test_host_build_errors_are_reported(tmp_path):
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    (kernels / "broken.c").write_text("int f(void) { return x; }\n")
    with pytest.raises(hostlib.HostBuildError, match="broken.c"):
        hostlib.build(kernel_dir=kernels, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.so"))
