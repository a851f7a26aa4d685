"""Builds and loads the native cycle-accounting hook (``native/blockhook.c``).

The shared library is compiled with the host's gcc into the user cache
(``$TRECSIM_CACHE`` or platformdirs' cache dir ``/native``), named after the hash of its source,
the compiler flags and the Unicorn headers, so a changed source rebuilds and an unchanged one
is reused. ``.ci/install`` builds it (``python -m trecsim bench-emulator --build-only``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from trecsim.errors import EmulatorError

__all__ = ["PARAMS", "build", "library", "library_path"]

SOURCE = Path(__file__).resolve().parent / "native" / "blockhook.c"
CFLAGS = ("-O2", "-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-Werror")
#: Parameter ids of tc_param, in the order of blockhook.c's enum.
PARAMS = ("m7", "taken_extra", "mispredict", "flash_base", "flash_end", "flash_ws", "iline_bytes", "ilines",
          "dline_bytes", "dlines", "sdram_base", "sdram_end", "sdram_latency", "budget", "uart_status_off",
          "uart_data_off", "uart_status_val")


def _unicorn_include() -> Path:
    import unicorn

    inc = Path(unicorn.__file__).resolve().parent / "include"
    if not (inc / "unicorn" / "unicorn.h").is_file():
        raise EmulatorError(f"Unicorn's C headers are not in {inc}",
                            fix="reinstall unicorn==2.1.4 from PyPI (its wheel ships include/unicorn)")
    return inc


def _cache_dir() -> Path:
    env = os.environ.get("TRECSIM_CACHE")
    if env:
        return Path(env).expanduser() / "native"
    import platformdirs

    return Path(platformdirs.user_cache_dir("trecsim")) / "native"


def library_path() -> Path:
    inc = _unicorn_include()
    h = hashlib.sha256()
    h.update(SOURCE.read_bytes())
    h.update("\0".join(CFLAGS).encode())
    h.update((inc / "unicorn" / "unicorn.h").read_bytes())
    return _cache_dir() / f"blockhook-{h.hexdigest()[:16]}.so"


def build(force: bool = False) -> Path:
    """Compiles the hook if its cached library is missing (or ``force``); returns its path."""
    out = library_path()
    if out.is_file() and not force:
        return out
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        raise EmulatorError("no C compiler for the emulator's native cycle hook",
                            fix="install gcc (apt-get install gcc libc6-dev), or run bash .ci/install")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_out = Path(tmp) / out.name
        cmd = [cc, *CFLAGS, f"-I{_unicorn_include()}", str(SOURCE), "-o", str(tmp_out)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise EmulatorError(f"compiling the native cycle hook failed:\n{result.stderr.strip()}",
                                where=str(SOURCE), fix="check that gcc and libc6-dev are installed")
        os.replace(tmp_out, out)
    return out


_LIB: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """The loaded hook library (built on first use)."""
    global _LIB
    if _LIB is None:
        lib = ctypes.CDLL(str(build()))
        vp, u64, i64 = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int64
        lib.tc_create.restype = vp
        lib.tc_free.argtypes = [vp]
        lib.tc_set_api.argtypes = [vp, vp, vp, vp]
        lib.tc_param.argtypes = [vp, ctypes.c_int, i64]
        lib.tc_set_code.argtypes = [vp, u64, u64, vp, vp, vp, vp]
        lib.tc_reset.argtypes = [vp]
        lib.tc_add_track.argtypes = [vp, u64, u64]
        lib.tc_track_result.argtypes = [vp, ctypes.c_int, vp]
        lib.tc_counters.argtypes = [vp, vp]
        lib.tc_uart.argtypes = [vp, vp, vp, ctypes.c_size_t]
        lib.tc_uart.restype = ctypes.c_size_t
        lib.tc_attach.argtypes = [vp, vp, ctypes.c_int, u64, u64]
        _LIB = lib
    return _LIB
