"""The cross-check emulator: QEMU (``qemu-system-arm``) running the firmware on an Arm MPS2 machine.

QEMU is a second, independent model of the core: unlike Unicorn it takes exceptions into the
firmware's vector table and faults on a disabled FPU (UsageFault NOCP); like Unicorn it refuses the
instructions a Cortex-M4 lacks (FPv5, double precision). It has no STM32 machine, so the firmware is the ``variant="qemu"`` build of the
same sources (:mod:`trecsim.firmware.mps2`: ``mps2-an386`` for the Cortex-M4F board, ``mps2-an500``
for the Cortex-M7 one, the board's regions relocated into the machine's RAM, the CMSDK UART0 as
console). ``-cpu`` names the board's core so that QEMU checks what that core allows.

The host protocol is the Unicorn backend's, driven over QEMU's gdbstub (GDB remote serial protocol
on a Unix socket, :class:`GdbRemote`): QEMU starts halted (``-S``), the host writes ``trec_input``
and paints the arenas by ELF symbol, sets a write watchpoint on ``trec_done`` and continues; the
firmware stops when it sets ``trec_done`` (a finished run or its fault handler), and the host reads
``trec_status``, ``trec_output``, the cluster counters, ``trec_fault`` and the painted stack and
arenas. Console lines come from UART0 through QEMU's ``-serial file:``. Every wait has a deadline:
a firmware that never sets ``trec_done`` is interrupted and reported with its PC; QEMU exiting on
its own (a lockup) is reported with QEMU's message.

Cycles: QEMU has no DWT (its reads return 0 on these machines) and counts no cycles, so a
:class:`~trecsim.emulators.result.RunResult` of this backend has ``cycle_source`` "none", zero
cycle fields and console lines without time stamps; its layer table carries names, status and
cluster counts only.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from trecsim.boards import Board
from trecsim.emulators.elf import ElfImage, load_elf
from trecsim.emulators.protocol import (STACK_GUARD, ProtocolView, ViewSymbols, file_uart_lines, firmware_fault,
                                        recorded_fault)
from trecsim.emulators.result import RunResult, UartLine
from trecsim.errors import EmulatorError, FirmwareFault
from trecsim.firmware import mps2

__all__ = ["CYCLE_SOURCE", "DEFAULT_TIMEOUT_S", "GdbRemote", "QemuBoard", "qemu_binary"]

DEFAULT_TIMEOUT_S = 120.0
START_TIMEOUT_S = 15.0
CYCLE_SOURCE = "none (QEMU counts no cycles and has no DWT: the firmware's cycle table reads 0)"
INSTALL_HINT = ("install QEMU (apt-get install qemu-system-arm) or set TRECSIM_QEMU to a qemu-system-arm "
                "binary (version 7.2 or later)")
_CHUNK = 1024  # bytes per gdb memory packet (QEMU's PacketSize is 4096 hex characters)
_MAX_STOPS = 64  # watchpoint stops before trec_done is set (.bss clearing writes it once)
#: ARM registers in QEMU's M-profile gdb description.
_SP, _LR, _PC = 13, 14, 15


def qemu_binary() -> str:
    """The qemu-system-arm to run, or an EmulatorError with the install hint."""
    name = os.environ.get("TRECSIM_QEMU", "qemu-system-arm")
    path = shutil.which(name)
    if path is None:
        raise EmulatorError(f"{name} not found, so the QEMU cross-check cannot run", where="--emulator qemu",
                            fix=INSTALL_HINT)
    return path


# --------------------------------------------------------------------------- GDB remote serial protocol


class GdbError(EmulatorError):
    """The gdbstub did not answer as the protocol says (or QEMU went away)."""


class GdbRemote:
    """A minimal client of the GDB remote serial protocol: memory (m/M), registers (p), watchpoints
    (Z2/z2), continue (c) and interrupt (0x03), each with a deadline."""

    def __init__(self, sock: socket.socket, where: str):
        self.sock, self.where = sock, where
        self.buf = bytearray()
        self.ack = True

    # -- framing
    def _send(self, payload: str) -> None:
        data = payload.encode()
        self.sock.sendall(b"$" + data + b"#" + f"{sum(data) & 0xFF:02x}".encode())

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except OSError as exc:
            raise GdbError(f"the gdbstub connection failed: {exc}", where=self.where) from None
        if not chunk:
            raise ConnectionAbortedError
        self.buf += chunk

    def _packet(self, deadline: float) -> str:
        """The next packet's payload (acks skipped, run-length encoding expanded)."""
        while True:
            while self.buf[:1] in (b"+", b"-"):
                del self.buf[:1]
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                raw = bytes(self.buf[start + 1:end])
                del self.buf[:end + 3]
                if self.ack:
                    self.sock.sendall(b"+")
                return _unescape(raw)
            self._fill(deadline)

    def request(self, payload: str, timeout: float = 10.0) -> str:
        self._send(payload)
        return self._packet(time.monotonic() + timeout)

    # -- commands
    def handshake(self) -> None:
        self.request("qSupported:swbreak+;hwbreak+")
        if self.request("QStartNoAckMode") == "OK":
            self.ack = False

    def read(self, address: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(_CHUNK, size - len(out))
            reply = self.request(f"m{address + len(out):x},{n:x}")
            if not reply or reply.startswith("E") and len(reply) == 3:
                raise GdbError(f"reading {n} bytes at 0x{address + len(out):08X} failed ({reply or 'no reply'})",
                               where=self.where, fix="the address is outside the machine's memory")
            out += bytes.fromhex(reply)
        return bytes(out)

    def write(self, address: int, data: bytes) -> None:
        for off in range(0, len(data), _CHUNK):
            part = data[off:off + _CHUNK]
            reply = self.request(f"M{address + off:x},{len(part):x}:{part.hex()}")
            if reply != "OK":
                raise GdbError(f"writing {len(part)} bytes at 0x{address + off:08X} failed ({reply or 'no reply'})",
                               where=self.where, fix="the address is outside the machine's memory")

    def register(self, number: int) -> int:
        """r0-r15 from the 'g' packet (QEMU's gdbstub does not answer 'p')."""
        reply = self.request("g")
        return int.from_bytes(bytes.fromhex(reply[8 * number:8 * number + 8]), "little")

    def watch_writes(self, address: int, size: int, on: bool = True) -> None:
        reply = self.request(f"{'Z' if on else 'z'}2,{address:x},{size:x}")
        if reply != "OK":
            raise GdbError(f"QEMU refused a write watchpoint at 0x{address:08X} ({reply or 'not supported'})",
                           where=self.where, fix="use qemu-system-arm 7.2 or later")

    def step(self, deadline: float) -> str:
        self._send("s")
        return self._packet(deadline)

    def cont(self, deadline: float) -> str:
        """Continues; the stop reply (T.., S.., W.., X..). TimeoutError at the deadline."""
        self._send("c")
        return self._packet(deadline)

    def interrupt(self, timeout: float = 5.0) -> str:
        self.sock.sendall(b"\x03")
        return self._packet(time.monotonic() + timeout)


def _unescape(raw: bytes) -> str:
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x7D and i + 1 < len(raw):  # '}' escape
            out.append(raw[i + 1] ^ 0x20)
            i += 2
        elif c == 0x2A and out and i + 1 < len(raw):  # '*' run-length: repeat the last char
            out += bytes([out[-1]]) * (raw[i + 1] - 29)
            i += 2
        else:
            out.append(c)
            i += 1
    return out.decode("latin-1")


# --------------------------------------------------------------------------- the board


def _no_core_dumps() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _stop(proc: subprocess.Popen | None, sock: socket.socket | None, tmp: str | None) -> None:
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
    if proc is not None and proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


class QemuBoard(ViewSymbols):
    """One board's core as QEMU's MPS2 machine with the ``variant="qemu"`` build of a firmware loaded,
    halted at reset. ``run`` drives the host protocol once; ``close`` (or dropping the object) ends
    QEMU. ``timeout_s`` bounds the run in wall-clock seconds."""

    backend = "qemu"

    def __init__(self, elf: str | Path | ElfImage, board: Board, *, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.board = board
        self.machine = mps2.machine_for(board)
        self.target = mps2.relocate(board)
        self.elf = elf if isinstance(elf, ElfImage) else load_elf(elf)
        self.timeout_s = float(timeout_s)
        self.where = f"{self.elf.path} on QEMU {self.machine.name} -cpu {self.machine.cpu} (for {board.name})"
        vectors = self.elf.symbols.get("trec_vectors")
        code_base, code_size = self.machine.code
        if vectors is None or not code_base <= vectors.address < code_base + code_size:
            at = f"0x{vectors.address:08X}" if vectors else "nowhere"
            raise EmulatorError(f"the firmware's vector table is at {at}, but QEMU's {self.machine.name} boots "
                                f"from 0x{code_base:08X}: this ELF is linked for the STM32's memory map",
                                where=str(self.elf.path),
                                fix="build it for QEMU: build_firmware(spec, board, variant='qemu') (the profile "
                                    "command does this for --emulator qemu)")
        self._ran = False
        self.captures: dict[int, bytes] = {}
        binary = qemu_binary()
        self._tmp = tempfile.mkdtemp(prefix="trecsim-qemu-")
        self._uart = Path(self._tmp) / "uart0.txt"
        sock_path = Path(self._tmp) / "gdb.sock"
        self.command = [binary, "-machine", self.machine.name, "-cpu", self.machine.cpu, "-nodefaults",
                        "-display", "none", "-nic", "none", "-serial", f"file:{self._uart}",
                        "-kernel", str(Path(self.elf.path).resolve()), "-S", "-gdb", f"unix:{sock_path},server=on,wait=off"]
        self._stderr = Path(self._tmp) / "qemu.stderr"
        with open(self._stderr, "wb") as err:
            # in its temporary folder and without core dumps: a lockup ends QEMU with abort()
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         cwd=self._tmp, preexec_fn=_no_core_dumps)
        self.sock: socket.socket | None = None
        self._finalizer = weakref.finalize(self, _stop, self.proc, None, self._tmp)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise EmulatorError(f"qemu-system-arm exited at start (code {self.proc.returncode}): "
                                    f"{self._qemu_said() or 'no message'}", where=self.where,
                                    fix=f"run the command to see more: {' '.join(self.command)}")
            if sock_path.exists():
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(str(sock_path))
                    self.sock = s
                    break
                except OSError:
                    s.close()
            if time.monotonic() > deadline:
                self.close()
                raise EmulatorError(f"QEMU's gdbstub did not open within {START_TIMEOUT_S:.0f} s", where=self.where,
                                    fix="check that qemu-system-arm starts (a loaded machine?) and try again")
            time.sleep(0.01)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop, self.proc, self.sock, self._tmp)
        self.gdb = GdbRemote(self.sock, self.where)
        self.view = ProtocolView(self.elf, self.target, self.gdb)
        try:
            self.gdb.handshake()
        except (TimeoutError, ConnectionAbortedError):
            self.close()
            raise EmulatorError("QEMU's gdbstub did not answer", where=self.where,
                                fix=f"run the command to see more: {' '.join(self.command)}") from None

    # ------------------------------------------------------------------ life cycle

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> QemuBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _qemu_said(self) -> str:
        try:
            text = self._stderr.read_text(errors="replace")
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "has no peer" not in ln]
        return " | ".join(lines[-4:])

    # ------------------------------------------------------------------ console

    def uart_lines(self) -> list[UartLine]:
        """UART0's lines; QEMU gives no time stamps (cycles 0, time 0.0: see cycle_source)."""
        return file_uart_lines(self._uart)

    # ------------------------------------------------------------------ run

    def _fault(self, kind: str, what: str, *, cfsr: int = 0, pc: int | None = None, lr: int | None = None,
               fix: str | None = None) -> FirmwareFault:
        return firmware_fault(self.elf, kind, what, cfsr=cfsr, pc=pc, lr=lr, uart=self.uart_lines(), where=self.where,
                              fix=fix or "see the function and line above; rebuild after fixing the firmware")

    def firmware_fault(self) -> FirmwareFault | None:
        """The fault the firmware's own handler recorded in trec_fault (QEMU takes real exceptions)."""
        return recorded_fault(self.view, self._fault, "the firmware's fault handler ran under QEMU")

    def _gone(self) -> FirmwareFault:
        """QEMU ended on its own: "qemu: fatal: Lockup ..." (a fault it could not take, e.g. in a fault
        handler) with a register dump (R14, R15), or another exit."""
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        try:
            text = self._stderr.read_text(errors="replace")
        except OSError:
            text = ""
        fatal = next((ln.strip() for ln in text.splitlines() if ln.startswith("qemu: fatal:")), None)
        regs = dict(re.findall(r"\b(R1[45])=([0-9a-fA-F]{8})", text))
        pc = int(regs["R15"], 16) if "R15" in regs else None
        lr = int(regs["R14"], 16) if "R14" in regs else None
        said = fatal or self._qemu_said() or "no message"
        kind = "lockup" if "lockup" in said.lower() else "QEMU exited"
        return self._fault(kind, f"QEMU stopped before the firmware set trec_done (exit code {self.proc.returncode}): "
                                 f"{said}", pc=pc, lr=lr,
                           fix="a fault the core cannot take (in a fault handler, or with the stack pointer outside "
                               "RAM) locks it up; look at PC and the last console lines, and run the firmware with "
                               "--emulator unicorn for a decoded fault")

    def start(self, watches: dict[int, tuple[int, int]] | None = None) -> tuple[str, float, dict[int, bytes]]:
        """Runs from reset until the firmware sets trec_done; returns ("done flag", wall seconds, captures).

        ``watches`` maps a word address to (address, size): whenever the firmware stores to that word,
        ``size`` bytes at ``address`` are read right after the store; captures keeps the last read per
        watched word (the per-layer outputs of :func:`trecsim.profile.layer_outputs`)."""
        if self._ran:
            raise EmulatorError("this QEMU board has already run its firmware", where=self.where,
                                fix="open a new board (open_board) for every run")
        self._ran = True
        watches = dict(watches or {})
        done = self.elf.symbol("trec_done").address
        captures: dict[int, bytes] = {}
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.timeout_s
        max_stops = _MAX_STOPS + 4 * len(watches)
        try:
            for a in (done, *watches):
                self.gdb.watch_writes(a, 4)
            for _ in range(max_stops):
                reply = self.gdb.cont(deadline)
                if reply[:1] in ("W", "X"):
                    raise self._gone()
                # QEMU stops *before* a watched store: step over it without that watchpoint, then look
                m = re.search(r"watch:([0-9a-fA-F]+)", reply)
                hit = int(m.group(1), 16) & ~3 if m else None
                hit = hit if hit in watches or hit == done else None
                if hit is not None:
                    self.gdb.watch_writes(hit, 4, on=False)
                reply = self.gdb.step(deadline)
                if reply[:1] in ("W", "X"):
                    raise self._gone()
                if hit is not None and hit in watches:
                    captures[hit] = self.gdb.read(*watches[hit])
                if self.read_u32("trec_done"):
                    return "done flag", time.perf_counter() - t0, captures
                if hit is not None:
                    self.gdb.watch_writes(hit, 4)
        except TimeoutError:
            raise self._timeout() from None
        except ConnectionAbortedError:
            raise self._gone() from None
        pc = self.gdb.register(_PC)
        raise self._fault("runaway", f"the firmware stopped at its watchpoints {max_stops} times without setting "
                                     "trec_done", pc=pc, lr=self.gdb.register(_LR))

    def _timeout(self) -> FirmwareFault:
        try:
            self.gdb.interrupt()
            pc, lr = self.gdb.register(_PC), self.gdb.register(_LR)
        except (TimeoutError, ConnectionAbortedError, EmulatorError):
            pc = lr = None
        return self._fault("timeout", f"the firmware did not set trec_done within {self.timeout_s:g} s "
                                      "(an endless loop, or a core that locked up)", pc=pc, lr=lr,
                           fix="look at the loop around PC; raise timeout_s only for a much longer model")

    def run(self, model_input=None, *, watches: dict[int, tuple[int, int]] | None = None) -> RunResult:
        """Writes ``model_input`` into trec_input (if given), paints the arenas, runs until trec_done and
        reads the protocol symbols. Raises FirmwareFault for faults, hangs and stack overflows.
        ``watches``: see :meth:`start`; the captures are in :attr:`captures` afterwards."""
        self.view.write_input(model_input)
        self.view.paint_arenas()
        stop, wall, self.captures = self.start(watches)
        fault = self.firmware_fault()
        if fault is not None:
            raise fault
        if self.view.stack_overflowed():
            reserved, _ = self.view.stack_peak()
            raise self._fault("stack overflow", f"the stack reached its limit: it wrote into the lowest {STACK_GUARD} "
                                                f"of its {reserved} reserved bytes",
                              fix="give the firmware more stack (trecsim build --stack) or use less of it")
        layers = self.view.layers()
        return RunResult(
            backend=self.backend, board=self.board.name, status=self.view.status(),
            done=bool(self.read_u32("trec_done")),
            error=self.view.error(),
            stop=stop, outputs=self.view.outputs(), layers=layers, uart=self.uart_lines(),
            total_cycles=0, instructions=0, memory=self.view.memory_use(), cycle_source=CYCLE_SOURCE,
            clock_hz=self.board.clock_hz, wall_s=wall,
            counters={"cycle_table_nonzero": sum(1 for layer in layers if layer.cycles)})
