"""The :class:`~trecsim.hw.probe.Probe` interface on a real ST-LINK, through pyocd.

pyocd is an optional dependency (``pip install -e .[hw]``): it is imported when a probe is opened,
never when trecsim is imported. Neither chip has a pyocd built-in target; their CMSIS packs provide
them (``pyocd pack install stm32f469nihx stm32f746zgtx``). Every pyocd failure comes back as a
:class:`~trecsim.errors.HardwareError` that says what to check.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from trecsim.boards import Board
from trecsim.errors import HardwareError

__all__ = ["PYOCD_TARGETS", "PyocdProbe", "list_probes", "open_pyocd"]

#: pyocd target type per board (from the ST device family packs).
PYOCD_TARGETS = {"stm32f469i-disco": "stm32f469nihx", "nucleo-f746zg": "stm32f746zgtx"}
#: The ST-LINK's USB connector on each board.
USB_CONNECTOR = {"stm32f469i-disco": "CN1 (ST-LINK USB mini-B)", "nucleo-f746zg": "CN1 (ST-LINK USB micro-B)"}
SETUP_DOC = "platforms/README.md, 'Real boards'"


def _pyocd():
    try:
        import pyocd  # noqa: F401
        from pyocd.core.helpers import ConnectHelper
    except ImportError:
        raise HardwareError("pyocd is not installed, so no debug probe can be used",
                            fix="install the hardware extra: pip install -e '.[hw]' (pyocd and pyserial)") from None
    return ConnectHelper


def list_probes() -> list[tuple[str, str]]:
    """(unique id, description) of every connected probe pyocd sees."""
    helper = _pyocd()
    try:
        probes = helper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except Exception as exc:  # USB back-ends fail in many ways: no libusb, no permission
        raise HardwareError(f"pyocd could not list the USB debug probes ({type(exc).__name__}: {exc})",
                            fix=f"check libusb and the udev rules for the ST-LINK ({SETUP_DOC})") from None
    return [(p.unique_id, p.description) for p in probes]


class PyocdProbe:
    """One pyocd session on one ST-LINK and its target."""

    kind = "pyocd"

    def __init__(self, session, board: Board, unique_id: str, description: str):
        self.session = session
        self.board = board
        self.unique_id = unique_id
        self.description = f"{description} {unique_id} (pyocd, target {PYOCD_TARGETS.get(board.name, '?')})"
        self.cycle_source = f"DWT on hardware (CYCCNT of the {board.mcu} at {board.clock_hz / 1e6:g} MHz)"

    @property
    def target(self):
        return self.session.board.target

    @contextlib.contextmanager
    def _answering(self, doing: str):
        try:
            yield
        except HardwareError:
            raise
        except Exception as exc:
            raise HardwareError(f"the target does not answer while {doing} ({type(exc).__name__}: {exc})",
                                where=self.description,
                                fix=f"check that {self.board.title} is powered, that the ST-LINK jumpers are "
                                    f"fitted and no other debugger holds the probe; try --probe-frequency 1000000 "
                                    f"or a power cycle ({SETUP_DOC})") from None

    def read_memory(self, address: int, size: int) -> bytes:
        with self._answering(f"reading {size} bytes at 0x{address:08X}"):
            return bytes(self.target.read_memory_block8(address, size))

    def write_memory(self, address: int, data: bytes) -> None:
        with self._answering(f"writing {len(data)} bytes at 0x{address:08X}"):
            self.target.write_memory_block8(address, list(bytes(data)))

    def reset_halt(self) -> None:
        with self._answering("resetting and halting the core"):
            self.target.reset_and_halt()

    def resume(self) -> None:
        with self._answering("resuming the core"):
            self.target.resume()

    def halt(self) -> None:
        with self._answering("halting the core"):
            self.target.halt()

    def is_halted(self) -> bool:
        from pyocd.core.target import Target

        with self._answering("reading the core state"):
            return self.target.get_state() == Target.State.HALTED

    def pc(self) -> int:
        with self._answering("reading PC"):
            return int(self.target.read_core_register("pc"))

    def program(self, elf: Path) -> None:
        from pyocd.flash.file_programmer import FileProgrammer

        with self._answering(f"programming {elf}"):
            FileProgrammer(self.session).program(str(elf), file_format="elf")

    def uart_lines(self) -> list[str] | None:
        return None  # the console is on the ST-LINK's virtual COM port: --serial

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.session.close()


def open_pyocd(board: Board, unique_id: str | None = None, *, frequency: int | None = None) -> PyocdProbe:
    """Opens the ST-LINK ``unique_id`` (or the only one connected) with the pyocd target of ``board``."""
    helper = _pyocd()
    target = PYOCD_TARGETS.get(board.name)
    if target is None:
        raise HardwareError(f"trecsim knows no pyocd target for board {board.name}", where=str(board.toml_path),
                            fix=f"use one of: {', '.join(PYOCD_TARGETS)}")
    probes = list_probes()
    where = f"board {board.name}"
    if not probes:
        raise HardwareError("no debug probe is connected", where=where,
                            fix=f"connect the {board.title} by its {USB_CONNECTOR[board.name]} to this machine; "
                                f"`pyocd list` must show its ST-LINK (udev rules and ST-LINK firmware: {SETUP_DOC})")
    ids = [uid for uid, _ in probes]
    if unique_id is None:
        if len(probes) > 1:
            raise HardwareError(f"{len(probes)} debug probes are connected: "
                                + ", ".join(f"{uid} ({d})" for uid, d in probes), where=where,
                                fix="choose one with --probe UNIQUE_ID")
        unique_id = ids[0]
    matches = [(uid, d) for uid, d in probes if uid == unique_id or uid.startswith(unique_id)]
    if len(matches) != 1:
        raise HardwareError(f"no single connected probe has the id {unique_id}; connected: "
                            + ", ".join(f"{uid} ({d})" for uid, d in probes), where=where,
                            fix="pass one of these ids to --probe")
    unique_id, description = matches[0]
    options = {"frequency": int(frequency)} if frequency else {}
    try:
        session = helper.session_with_chosen_probe(blocking=False, unique_id=unique_id, target_override=target,
                                                   options=options, auto_open=False)
        if session is None:
            raise HardwareError(f"probe {unique_id} disappeared before it could be opened", where=where,
                                fix="reconnect the USB cable and try again")
        session.open()
    except HardwareError:
        raise
    except Exception as exc:
        from pyocd.core import exceptions as pyocd_errors

        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, pyocd_errors.TargetSupportError):
            raise HardwareError(f"pyocd has no target type {target} ({text})", where=where,
                                fix=f"install the device pack once: pyocd pack install {target}") from None
        raise HardwareError(f"the target behind probe {unique_id} does not answer ({text})", where=where,
                            fix=f"check the board's power and the ST-LINK jumpers, update the ST-LINK firmware "
                                f"(STM32CubeProgrammer) and retry ({SETUP_DOC})") from None
    return PyocdProbe(session, board, unique_id, description)
