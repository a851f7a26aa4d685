"""Host build of the firmware kernels: native gcc -> shared library -> ctypes.

``load()`` compiles every ``firmware/kernels/*.c`` (plus optional extra sources, e.g.
test hooks) with the native compiler and the firmware's own warning flags into
``build/hostlib/<key>/libtrecsim_kernels.so``, where ``key`` hashes the compiler, the
flags, the defines and the contents of every source and header. A build goes to a
temporary file that is renamed into place, so concurrent test processes never see a
half-written library. The returned :class:`ctypes.CDLL` has ``argtypes``/``restype``
set for every kernel declared in ``trecsim_nn.h`` (pointer arguments take integer
addresses, e.g. ``array.ctypes.data``).

On the host the DSP intrinsics (SMLAD, SXTB16, ...) are portable C models of the
instructions (``trec_nn_dsp.h``), so the optimized kernels run the same blocked code as
on a Cortex-M4/M7.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import trecsim
from trecsim.errors import TrecsimError

KERNEL_DIR = trecsim.REPO_ROOT / "firmware" / "kernels"
CACHE_DIR = trecsim.REPO_ROOT / "build" / "hostlib"
LIBRARY_NAME = "libtrecsim_kernels.so"
#: The firmware's warning flags (ARM builds use the same), plus what a shared library needs.
CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
SHARED_FLAGS = ("-fPIC", "-shared")

TREC_NN_SUCCESS = 0
TREC_NN_ARG_ERROR = -1


class HostBuildError(TrecsimError):
    """The firmware kernels could not be compiled or loaded on the host."""


_P = ctypes.c_void_p
_I = ctypes.c_int32

# The C prototypes of trecsim_nn.h, in declaration order: name -> argument kinds ("p" pointer, "i" int32).
_PROTOTYPES: dict[str, str] = {
    "convolve_s8": "p" + "iiii" + "p" + "ii" + "p" + "i" + "pp" + "iiii" + "pp",
    "convolve_s8_get_buffer_size": "iiiii",
    "convolve_s8_ref": "p" + "iiii" + "p" + "ii" + "p" + "i" + "pp" + "iiii" + "p",
    "trec_convolve_s8": "p" + "iiii" + "p" + "ii" + "p" + "i" + "pp" + "iiii" + "ii" + "p" + "ppp",
    "trec_convolve_s8_get_buffer_size": "iiiiiiiii",
    "trec_se_convolve_s8": "p" + "iiii" + "p" + "ii" + "p" + "i" + "pp" + "iiii" + "ii" + "p" + "i" + "ppp",
    "trec_se_convolve_s8_get_buffer_size": "iiiiiiiii",
    "fully_connected_s8": "p" + "ii" + "p" + "i" + "p" + "i" + "pp" + "ii" + "pp",
    "fully_connected_s8_get_buffer_size": "i",
    "fully_connected_s8_ref": "p" + "ii" + "p" + "i" + "p" + "i" + "pp" + "ii" + "p",
    "max_pool_s8": "p" + "iiiiiii" + "p",
    "avg_pool_s8": "p" + "iiiiiii" + "p",
    "global_avg_pool_s8": "p" + "iiiii" + "p",
    "relu_s8": "p" + "ii" + "p",
    "concat_s8": "p" + "iiii" + "p",
    "elementwise_add_s8": "pp" + "i" * 13 + "p",
    "requantize_s8": "p" + "ii" + "pp" + "iii" + "p",
}


def sources(kernel_dir: Path = KERNEL_DIR) -> list[Path]:
    """The kernel translation units, sorted (the headers are hashed too, see :func:`library_path`)."""
    found = sorted(Path(kernel_dir).glob("*.c"))
    if not found:
        raise HostBuildError(f"no C sources in {kernel_dir}", fix="run from a trecsim checkout that has firmware/kernels")
    return found


def _compiler(cc: str | None) -> str:
    name = cc or os.environ.get("CC") or "gcc"
    path = shutil.which(name)
    if path is None:
        raise HostBuildError(f"C compiler {name!r} not found", fix="install gcc (apt-get install gcc) or set CC")
    return path


def _flags(defines: Iterable[str], kernel_dir: Path, extra_flags: Sequence[str]) -> list[str]:
    return [*CFLAGS, *SHARED_FLAGS, *extra_flags, *(f"-D{d}" for d in defines), f"-I{kernel_dir}"]


def library_path(defines: Iterable[str] = (), extra_sources: Iterable[Path] = (), *, cc: str | None = None,
                 kernel_dir: Path = KERNEL_DIR, cache_dir: Path = CACHE_DIR,
                 extra_flags: Sequence[str] = ()) -> Path:
    """Where the library for these inputs lives (built or not): ``cache_dir/<key>/libtrecsim_kernels.so``."""
    kernel_dir = Path(kernel_dir)
    compiler = _compiler(cc)
    srcs = [*sources(kernel_dir), *(Path(s) for s in extra_sources)]
    digest = hashlib.sha256()
    digest.update(compiler.encode())
    digest.update("\0".join(_flags(defines, kernel_dir, extra_flags)).encode())
    for path in [*srcs, *sorted(kernel_dir.glob("*.h"))]:
        digest.update(b"\0" + path.name.encode() + b"\0")
        digest.update(path.read_bytes())
    return Path(cache_dir) / digest.hexdigest()[:20] / LIBRARY_NAME


def build(defines: Iterable[str] = (), extra_sources: Iterable[Path] = (), *, cc: str | None = None,
          kernel_dir: Path = KERNEL_DIR, cache_dir: Path = CACHE_DIR, extra_flags: Sequence[str] = ()) -> Path:
    """Compile (unless cached) and return the shared library's path.

    ``defines`` are ``NAME`` or ``NAME=VALUE`` strings (passed as ``-D``), e.g.
    ``TREC_NN_STATS`` or ``TREC_PROFILE_HEADER="hooks.h"``. ``extra_sources``: ``.c`` files are
    compiled in, other files (headers they or the defines name) only enter the cache key.
    """
    defines = tuple(defines)
    extra_sources = tuple(Path(s) for s in extra_sources)
    target = library_path(defines, extra_sources, cc=cc, kernel_dir=kernel_dir, cache_dir=cache_dir,
                          extra_flags=extra_flags)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [_compiler(cc), *_flags(defines, Path(kernel_dir), extra_flags), "-o", tmp,
           *(str(s) for s in sources(Path(kernel_dir))), *(str(s) for s in extra_sources if s.suffix == ".c")]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise HostBuildError(f"host build of the firmware kernels failed:\n{result.stderr.strip()}",
                                 where=str(kernel_dir), fix="fix the C error above (the flags include -Werror)")
        os.replace(tmp, target)  # atomic: readers see the old state or the whole library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


_LOADED: dict[Path, ctypes.CDLL] = {}


def load(defines: Iterable[str] = (), extra_sources: Iterable[Path] = (), **kwargs) -> ctypes.CDLL:
    """Build (if needed) and load the kernels; the same library is loaded once per process."""
    path = build(defines, extra_sources, **kwargs)
    lib = _LOADED.get(path)
    if lib is None:
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise HostBuildError(f"cannot load {path}: {exc}", fix=f"delete {path.parent} and rebuild") from exc
        for name, kinds in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = _I
            fn.argtypes = [_P if k == "p" else _I for k in kinds]
        _LOADED[path] = lib
    return lib


__all__ = ["CACHE_DIR", "CFLAGS", "KERNEL_DIR", "HostBuildError", "TREC_NN_ARG_ERROR", "TREC_NN_SUCCESS",
           "build", "library_path", "load", "sources"]
