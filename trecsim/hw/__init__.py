"""Real boards: the same firmware ELF flashed and measured through a debug probe.

The flow is the emulator's (ARCHITECTURE.md, "Host and firmware protocol"): the host writes
``trec_input`` by its ELF symbol, starts the core, waits for ``trec_done`` and reads ``trec_output``,
``trec_status`` and the ``trec_cycles`` table, which the firmware filled from DWT CYCCNT: on a board
these are "DWT on hardware" cycles, the measurement the cycle model is calibrated against.

- :class:`~trecsim.hw.probe.Probe`: the debugger interface (memory, reset/halt/resume, program);
  :class:`~trecsim.hw.pyocd_probe.PyocdProbe` (ST-LINK through pyocd, the optional ``hw`` extra)
  and :class:`~trecsim.hw.probe.EmulatorProbe` (the Unicorn emulator behind the same interface:
  tests, and ``--probe emulator`` for a dry run of the whole hardware flow without a board).
- :class:`~trecsim.hw.target.HardwareBoard`: the protocol driver with the Emulator interface
  (``write_symbol``/``read_symbol``/``run`` -> :class:`~trecsim.emulators.RunResult`), checks the
  chip (DBGMCU_IDCODE DEV_ID) and programs the ELF.
- :class:`~trecsim.hw.console.SerialConsole`: the console USART on the ST-LINK's virtual COM port.

pyocd and pyserial are imported only when a probe or a port is opened.
"""

from __future__ import annotations

from trecsim.boards import Board
from trecsim.errors import HardwareError
from trecsim.hw.console import SerialConsole, open_serial
from trecsim.hw.probe import EmulatorProbe, Probe
from trecsim.hw.pyocd_probe import PYOCD_TARGETS, PyocdProbe, list_probes, open_pyocd
from trecsim.hw.target import DEFAULT_TIMEOUT_S, INIT_ERRORS, HardwareBoard, check_board

__all__ = ["DEFAULT_TIMEOUT_S", "EMULATOR_PROBE", "INIT_ERRORS", "PYOCD_TARGETS", "EmulatorProbe", "HardwareBoard",
           "HardwareError", "Probe", "PyocdProbe", "SerialConsole", "check_board", "connect", "list_probes",
           "open_serial"]

#: --probe value that puts the emulator behind the probe interface.
EMULATOR_PROBE = "emulator"


def connect(board: Board, probe: str | None = None, *, frequency: int | None = None,
            memory_timing: bool = True) -> Probe:
    """The probe for ``board``: ``probe`` None (the only ST-LINK connected), an ST-LINK unique id (or
    its prefix), or ``"emulator"`` (trecsim's emulator of the board behind the probe interface)."""
    if probe is not None and probe.strip().lower() == EMULATOR_PROBE:
        return EmulatorProbe(board, memory_timing=memory_timing)
    return open_pyocd(board, probe, frequency=frequency)
