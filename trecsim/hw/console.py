"""The board's console: USART3 to the ST-LINK virtual COM port, read with pyserial.

:class:`SerialConsole` opens the port (115200 8N1, as ``firmware/runtime/usart.c`` programs it),
reads lines in a background thread from :meth:`start` (just before the core is resumed) and, in
:meth:`finish`, waits for the firmware's last line (``done status ...`` or ``error ...``) for at
most ``tail_timeout_s`` before it returns every line with its time since :meth:`start`.
pyserial is imported when a console is opened, never when trecsim is imported.
"""

from __future__ import annotations

import threading
import time

from trecsim.errors import HardwareError

__all__ = ["BAUD", "SerialConsole", "open_serial"]

BAUD = 115200
TAIL_TIMEOUT_S = 2.0
LAST_LINE = "done status "


def open_serial(port: str, baud: int = BAUD, *, tail_timeout_s: float = TAIL_TIMEOUT_S) -> "SerialConsole":
    try:
        import serial
    except ImportError:
        raise HardwareError("pyserial is not installed, so the console cannot be read", where=f"--serial {port}",
                            fix="install the hardware extra: pip install -e '.[hw]'") from None
    try:
        handle = serial.Serial(port, baudrate=baud, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise HardwareError(f"cannot open serial port {port} ({exc})", where=f"--serial {port}",
                            fix="pass the ST-LINK's virtual COM port (ls /dev/ttyACM*; `pyocd list` shows the "
                                "probe), and make sure your user may open it (group dialout, or the udev rules of "
                                "platforms/README.md)") from None
    return SerialConsole(handle, port, tail_timeout_s=tail_timeout_s)


class SerialConsole:
    """Lines from an open serial handle (anything with ``read(n)``, ``reset_input_buffer()`` and
    ``close()``), timestamped from :meth:`start`."""

    def __init__(self, handle, port: str = "", *, tail_timeout_s: float = TAIL_TIMEOUT_S):
        self.handle = handle
        self.port = port
        self.tail_timeout_s = tail_timeout_s
        self._lines: list[tuple[float, str]] = []
        self._buf = bytearray()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._error: Exception | None = None

    def start(self) -> None:
        self.stop()
        self._lines, self._buf = [], bytearray()
        self._stop.clear()
        try:
            self.handle.reset_input_buffer()
        except Exception:  # noqa: BLE001 - a port that cannot flush still reads
            pass
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._read, name="trecsim-serial", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self.handle.read(256)
            except Exception as exc:  # noqa: BLE001 - reported by finish()
                self._error = exc
                return
            if not chunk:
                continue
            for byte in chunk:
                if byte == 0x0A:
                    self._lines.append((time.perf_counter() - self._t0, self._buf.decode(errors="replace")))
                    self._buf = bytearray()
                elif byte != 0x0D:
                    self._buf.append(byte)

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=1.0)
            self._thread = None

    def finish(self) -> list[tuple[float, str]]:
        """Waits (at most tail_timeout_s) for the firmware's last line, stops reading, returns the lines."""
        deadline = time.perf_counter() + self.tail_timeout_s
        while time.perf_counter() < deadline and self._thread is not None and self._error is None:
            if any(text.startswith(LAST_LINE) for _, text in self._lines):
                break
            time.sleep(0.02)
        self.stop()
        if self._error is not None:
            raise HardwareError(f"reading the serial port failed ({self._error})", where=f"--serial {self.port}",
                                fix="check that the board is still connected and no other program holds the port")
        return list(self._lines)

    def close(self) -> None:
        self.stop()
        try:
            self.handle.close()
        except Exception:  # noqa: BLE001
            pass
