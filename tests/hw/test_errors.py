"""Clear errors up to the probe, without hardware: no pyocd, no probe, several probes, an unknown
target type, a target that does not answer, the wrong chip attached, a chip set-up that fails, a
serial port that cannot be opened."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hw_fixtures import dense_build, sample

import trecsim
from trecsim import boards, hw
from trecsim.emulators import chipregs
from trecsim.errors import HardwareError, TrecsimError
from trecsim.hw import pyocd_probe
from trecsim.hw.probe import EmulatorProbe


def test_importing_trecsim_hw_imports_neither_pyocd_nor_pyserial():
    code = ("import sys, trecsim.hw, trecsim.profile, trecsim.cli; "
            "assert 'pyocd' not in sys.modules and 'serial' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hardware_errors_say_what_where_and_how_to_fix():
    assert issubclass(HardwareError, TrecsimError) and HardwareError.exit_code == 2


def test_without_pyocd_the_error_says_to_install_the_hw_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyocd", None)  # import pyocd -> ImportError
    with pytest.raises(HardwareError) as info:
        hw.connect(boards.get_board("stm32f469i-disco"))
    assert "pyocd is not installed" in info.value.what and "pip install -e '.[hw]'" in info.value.fix


class _FakeDebugProbe:
    def __init__(self, uid, description="STM32 STLink"):
        self.unique_id, self.description = uid, description


class _FakeHelper:
    """pyocd's ConnectHelper with a given set of probes and a given failure of session.open()."""

    probes: list = []
    open_error: Exception | None = None
    opened: list = []

    @classmethod
    def get_all_connected_probes(cls, blocking=True, unique_id=None, print_wait_message=True):
        return list(cls.probes)

    @classmethod
    def session_with_chosen_probe(cls, **kwargs):
        cls.opened.append(kwargs)
        helper = cls

        class _Session:
            def open(self):
                if helper.open_error is not None:
                    raise helper.open_error

            def close(self):
                pass

        return _Session()


@pytest.fixture
def fake_pyocd(monkeypatch):
    pytest.importorskip("pyocd")
    _FakeHelper.probes, _FakeHelper.open_error, _FakeHelper.opened = [], None, []
    monkeypatch.setattr(pyocd_probe, "_pyocd", lambda: _FakeHelper)
    return _FakeHelper


def test_no_probe_connected(fake_pyocd):
    board = boards.get_board("nucleo-f746zg")
    with pytest.raises(HardwareError) as info:
        hw.connect(board)
    assert info.value.what == "no debug probe is connected" and info.value.where == "board nucleo-f746zg"
    assert "CN1" in info.value.fix and "pyocd list" in info.value.fix and "udev" in info.value.fix


def test_no_probe_connected_with_the_real_pyocd():
    pytest.importorskip("pyocd")
    from pyocd.core.helpers import ConnectHelper

    if ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False):
        pytest.skip("a debug probe is connected to this machine")
    with pytest.raises(HardwareError, match="no debug probe is connected"):
        hw.connect(boards.get_board("stm32f469i-disco"))


def test_several_probes_need_a_choice_and_an_unknown_id_lists_them(fake_pyocd):
    board = boards.get_board("stm32f469i-disco")
    fake_pyocd.probes = [_FakeDebugProbe("0669FF555"), _FakeDebugProbe("066AFF777")]
    with pytest.raises(HardwareError, match="2 debug probes are connected: 0669FF555") as info:
        hw.connect(board)
    assert "--probe" in info.value.fix
    with pytest.raises(HardwareError, match="no single connected probe has the id 1234"):
        hw.connect(board, "1234")
    probe = hw.connect(board, "066A", frequency=1_000_000)  # a unique prefix is enough
    assert probe.unique_id == "066AFF777" and "stm32f469nihx" in probe.description
    assert fake_pyocd.opened[-1]["target_override"] == "stm32f469nihx"
    assert fake_pyocd.opened[-1]["options"] == {"frequency": 1_000_000}
    assert probe.cycle_source.startswith("DWT on hardware")


def test_an_unknown_pyocd_target_type_says_which_pack_to_install(fake_pyocd):
    from pyocd.core.exceptions import TargetSupportError

    fake_pyocd.probes = [_FakeDebugProbe("0669FF555")]
    fake_pyocd.open_error = TargetSupportError("Target type stm32f746zgtx not recognized")
    with pytest.raises(HardwareError) as info:
        hw.connect(boards.get_board("nucleo-f746zg"))
    assert info.value.fix == "install the device pack once: pyocd pack install stm32f746zgtx"


def test_a_target_that_does_not_answer_on_connect(fake_pyocd):
    from pyocd.core.exceptions import TransferError

    fake_pyocd.probes = [_FakeDebugProbe("0669FF555")]
    fake_pyocd.open_error = TransferError("no ACK received")
    with pytest.raises(HardwareError, match="does not answer .*no ACK received") as info:
        hw.connect(boards.get_board("nucleo-f746zg"))
    assert "jumpers" in info.value.fix


def test_the_wrong_board_attached_is_named_by_its_dev_id(board):
    other = 0x449 if board.name == "stm32f469i-disco" else 0x434
    probe = EmulatorProbe(board, dev_id_override=other)
    with pytest.raises(HardwareError) as info:
        hw.HardwareBoard(dense_build(board.name).elf, board, probe)
    msg = str(info.value)
    assert msg.startswith(f"{probe.description}: wrong board: {board.name} needs an {board.mcu}")
    assert f"reports DEV_ID 0x{other:03X} ({hw.target.KNOWN_DEV_IDS[other]})" in msg
    assert probe.emu is None  # nothing was programmed into the wrong chip


class _SilentProbe(EmulatorProbe):
    def __init__(self, board, answer=None):
        super().__init__(board)
        self.answer = answer

    def read_memory(self, address, size):
        if self.answer is None:
            raise HardwareError("the target does not answer while reading (TransferFaultError)",
                                fix="check the power")
        return self.answer


@pytest.mark.parametrize("answer", [None, b"\0\0\0\0", b"\xff\xff\xff\xff"])
def test_a_target_that_does_not_answer_is_not_taken_for_a_wrong_board(answer):
    board = boards.get_board("stm32f469i-disco")
    with pytest.raises(HardwareError, match="the target does not answer"):
        hw.check_board(_SilentProbe(board, answer), board)


@pytest.mark.parametrize("code", sorted(hw.INIT_ERRORS))
def test_every_init_error_code_is_defined_in_the_firmware(code):
    header = (trecsim.REPO_ROOT / "firmware" / "runtime" / "trec_board.h").read_text()
    assert f"({code})" in header


def test_a_chip_set_up_that_times_out_is_reported_with_the_step(monkeypatch):
    """An HSE that never starts: the firmware gives up (trec_error -101) and the driver names the step."""
    board = boards.get_board("nucleo-f746zg")
    real = chipregs.ChipRegisters.read

    def no_hse(self, address):
        value = real(self, address)
        return value & ~(1 << 17) if address == self.bases["rcc"] + chipregs.RCC_CR else value

    monkeypatch.setattr(chipregs.ChipRegisters, "read", no_hse)
    target = hw.HardwareBoard(dense_build(board.name).elf, board, EmulatorProbe(board), timeout_s=30)
    with pytest.raises(HardwareError) as info:
        target.run(sample()[0])
    assert "the chip set-up failed before main: the HSE never became ready (RCC_CR HSERDY) (trec_error -101)" \
        in str(info.value)
    assert "MCO" in info.value.fix


def test_a_serial_port_that_cannot_be_opened():
    pytest.importorskip("serial")
    with pytest.raises(HardwareError) as info:
        hw.open_serial("/dev/ttyDOES_NOT_EXIST")
    assert info.value.where == "--serial /dev/ttyDOES_NOT_EXIST" and "dialout" in info.value.fix


def test_without_pyserial_the_error_says_to_install_the_hw_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "serial", None)
    with pytest.raises(HardwareError, match="pyserial is not installed"):
        hw.open_serial("/dev/ttyACM0")


class _FakePort:
    def __init__(self, chunks):
        self.chunks = list(chunks)

    def read(self, n):
        return self.chunks.pop(0) if self.chunks else b""

    def reset_input_buffer(self):
        pass

    def close(self):
        pass


def test_the_serial_console_splits_lines_and_waits_for_the_last_one():
    console = hw.SerialConsole(_FakePort([b"trecsim: model x\r\nlayer conv1 cyc", b"les 12\r\n", b"done status 0\r\n"]))
    console.start()
    lines = console.finish()
    assert [t for _, t in lines] == ["trecsim: model x", "layer conv1 cycles 12", "done status 0"]
    assert all(t >= 0 for t, _ in lines)


def test_the_console_lines_of_a_run_come_from_the_serial_port_when_one_is_given():
    board = boards.get_board("stm32f469i-disco")
    port = _FakePort([b"from the port\r\n", b"done status 0\r\n"])
    target = hw.HardwareBoard(dense_build(board.name).elf, board, EmulatorProbe(board),
                              console=hw.SerialConsole(port, "/dev/fake", tail_timeout_s=1.0))
    r = target.run(sample()[0])
    assert r.console == ["from the port", "done status 0"]
    np.testing.assert_array_equal(r.output, sample()[1])
