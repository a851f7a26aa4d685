"""One exception hierarchy for trecsim.

Every error a user can cause or meet says three things: *what* went wrong,
*where* (a file, a layer, a board, an address) and *how to fix it*. The CLI
prints ``str(error)`` as one paragraph and exits with code 2; nothing else in
the package prints.
"""

from __future__ import annotations


class TrecsimError(Exception):
    """Base of every error trecsim raises on purpose.

    ``what`` is the problem, ``where`` the place it was found (optional),
    ``fix`` the action that resolves it (optional but expected for anything
    a user can cause).
    """

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self._paragraph())

    def _paragraph(self) -> str:
        text = self.what.rstrip(".")
        if self.where:
            text = f"{self.where}: {text}"
        text += "."
        if self.fix:
            text += " " + self.fix.rstrip(".") + "."
        return text


class ConfigError(TrecsimError):
    """Invalid option, argument or configuration value."""


class DataError(TrecsimError):
    """A dataset is missing, truncated, corrupted or cannot be fetched."""


class BoardError(TrecsimError):
    """Unknown board, or a board description that is inconsistent."""


class PlatformSyntaxError(BoardError):
    """A Renode platform (.repl) or script (.resc) file that trecsim cannot parse."""

    def __init__(self, what: str, *, path: str, line: int, fix: str | None = None):
        self.path = path
        self.line = line
        super().__init__(what, where=f"{path}:{line}", fix=fix)


class BuildError(TrecsimError):
    """A firmware build that cannot be made: compiler missing or failing, a model too big for flash."""


class MemoryPlanError(TrecsimError):
    """Activation and scratch buffers that do not fit the board's RAM regions."""


class EmulatorError(TrecsimError):
    """An emulator that cannot be set up or run: a missing backend, a native hook that does not build,
    an ELF the emulator cannot load."""


class HardwareError(TrecsimError):
    """A real board that cannot be reached or used: no debug probe, pyocd missing, the wrong board
    attached, a target that does not answer, a firmware that does not finish in time."""


class FirmwareFault(EmulatorError):
    """The firmware faulted, ran past its instruction budget or overflowed its stack in the emulator.

    ``kind`` names it ("BusFault", "UsageFault", "instruction budget", "stack overflow", ...);
    ``cfsr_bits`` the decoded fault status bits; ``pc``/``lr`` the addresses and ``pc_where``/
    ``lr_where`` the function and source line; ``uart_tail`` the last console lines.
    """

    exit_code = 1

    def __init__(self, what: str, *, kind: str, pc: int | None = None, lr: int | None = None,
                 pc_where: str = "", lr_where: str = "", cfsr_bits: tuple[str, ...] = (),
                 uart_tail: tuple[str, ...] = (), where: str | None = None, fix: str | None = None):
        self.kind = kind
        self.pc, self.lr = pc, lr
        self.pc_where, self.lr_where = pc_where, lr_where
        self.cfsr_bits = tuple(cfsr_bits)
        self.uart_tail = tuple(uart_tail)
        parts = [f"{kind}: {what.rstrip('.')}"]
        if cfsr_bits:
            parts.append("fault status " + ", ".join(cfsr_bits))
        if pc is not None:
            parts.append(f"PC 0x{pc:08X}" + (f" in {pc_where}" if pc_where else ""))
        if lr is not None:
            parts.append(f"LR 0x{lr:08X}" + (f" in {lr_where}" if lr_where else ""))
        if uart_tail:
            parts.append("last console lines: " + " | ".join(uart_tail))
        else:
            parts.append("no console output")
        super().__init__("; ".join(parts), where=where, fix=fix)
