"""The firmware's chip set-up (firmware/runtime/board_init.c), run in the emulator against the RCC/PWR/
flash/FMC register models: the values it programs, checked against the reference manuals (RM0386 for
the STM32F469, RM0385 for the STM32F746) and the board descriptions, and that it stays out of the
measured layers and out of builds for other machines."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hw_fixtures import dense_build, sample

import trecsim
from trecsim import boards, codegen, memory
from trecsim import spec as specmod
from trecsim.emulators.unicorn_backend import UnicornBoard

RCC, PWR, FLASH, FMC = 0x40023800, 0x40007000, 0x40023C00, 0xA0000000
#: RCC_PLLCFGR: PLLM[5:0], PLLN[14:6], PLLP[17:16] (00 = /2), PLLSRC bit 22 (HSE), PLLQ[27:24], PLLR[30:28]
PLLCFGR = {"stm32f469i-disco": 8 | 360 << 6 | 0 << 16 | 1 << 22 | 7 << 24 | 6 << 28,  # 8/8*360/2 = 180 MHz
           "nucleo-f746zg": 8 | 432 << 6 | 0 << 16 | 1 << 22 | 9 << 24}  # 8/8*432/2 = 216 MHz, /9 = 48 MHz
#: FLASH_ACR: LATENCY[3:0], PRFTEN bit 8; F4: ICEN bit 9, DCEN bit 10; F7: ARTEN bit 9
FLASH_ACR = {"stm32f469i-disco": 5 | 1 << 8 | 1 << 9 | 1 << 10, "nucleo-f746zg": 7 | 1 << 8 | 1 << 9}
#: console USART3 pins: (GPIO port index, pin) of TX and RX, AF7
UART_PINS = {"stm32f469i-disco": ((1, 10), (1, 11)), "nucleo-f746zg": ((3, 8), (3, 9))}


def _run(board, accounting=False):
    emu = UnicornBoard(dense_build(board.name).elf, board, accounting=accounting)
    emu.write_symbol("trec_input", sample()[0])
    emu.start()
    return emu


def _u32(emu, address):
    return int.from_bytes(bytes(emu.uc.mem_read(address, 4)), "little")


def _af(emu, port, pin):
    base = 0x40020000 + 0x400 * port
    mode = _u32(emu, base) >> 2 * pin & 3
    af = _u32(emu, base + 0x20 + 4 * (pin // 8)) >> 4 * (pin % 8) & 0xF
    return mode, af


def test_the_clock_tree_is_the_board_descriptions(board):
    emu = _run(board)
    clocks = emu.chip.clocks()
    assert clocks.source == "PLL" and clocks.over_drive
    assert clocks.sysclk_hz == clocks.hclk_hz == board.clock_hz
    assert clocks.pclk1_hz == board.clock_hz / 4 and clocks.pclk2_hz == board.clock_hz / 2
    assert clocks.flash_wait_states == board.flash_wait_states
    assert emu.chip.stored(RCC + 0x04) == PLLCFGR[board.name]
    assert emu.chip.stored(FLASH) == FLASH_ACR[board.name]
    assert emu.chip.stored(PWR) >> 14 & 3 == 3  # voltage scale 1
    hsebyp = emu.chip.stored(RCC) >> 18 & 1
    assert hsebyp == (board.name == "nucleo-f746zg")  # the Nucleo's HSE is the ST-LINK's MCO


def test_wait_states_are_raised_before_sysclk_switches_to_the_pll(board):
    emu = _run(board)
    writes = [a for a, _ in emu.chip.writes]
    acr = writes.index(FLASH)
    switch = max(i for i, (a, v) in enumerate(emu.chip.writes) if a == RCC + 0x08 and v & 3 == 2)
    pll_on = min(i for i, (a, v) in enumerate(emu.chip.writes) if a == RCC and v >> 24 & 1)
    od = min(i for i, (a, v) in enumerate(emu.chip.writes) if a == PWR and v >> 16 & 1)
    assert pll_on < od < acr < switch


def test_the_console_usart_runs_at_115200_baud_on_its_pins(board):
    emu = _run(board)
    uart = board.console_uart.base
    brr = _u32(emu, uart + (0x0C if board.name == "nucleo-f746zg" else 0x08))
    pclk1 = board.clock_hz / 4
    assert brr == round(pclk1 / 115200)  # 391 at 45 MHz, 469 at 54 MHz
    assert abs(pclk1 / brr / 115200 - 1) < 0.005
    assert emu.chip.stored(RCC + 0x40) >> 18 & 1  # USART3EN
    for port, pin in UART_PINS[board.name]:
        assert _af(emu, port, pin) == (2, 7)


def test_the_f469_disco_sdram_is_programmed_with_the_jedec_sequence():
    board = boards.get_board("stm32f469i-disco")
    emu = _run(board)
    chip = emu.chip
    # SDCR1: NC 8 bits (00), NR 12 bits (01 << 2), MWID 32 bits (10 << 4), NB 4 banks (1 << 6), CAS 3 (11 << 7),
    # SDCLK = 2 HCLK (10 << 10), RBURST (1 << 12)
    assert chip.stored(FMC + 0x140) == 0b01 << 2 | 0b10 << 4 | 1 << 6 | 0b11 << 7 | 0b10 << 10 | 1 << 12 == 0x19E4
    # SDTR1 (SDCLK cycles - 1): TMRD 2, TXSR 7, TRAS 4, TRC 7, TWR 2, TRP 2, TRCD 2
    assert chip.stored(FMC + 0x148) == 1 | 6 << 4 | 3 << 8 | 6 << 12 | 1 << 16 | 1 << 20 | 1 << 24
    # SDCMR: clock enable, PALL, 8 auto-refreshes, load mode (burst 1, CAS 3, single write burst), all to bank 1
    assert chip.written(FMC + 0x150) == [0x11, 0x12, 0x3 | 1 << 4 | 7 << 5, 0x4 | 1 << 4 | 0x230 << 9]
    assert chip.written(FMC + 0x154) == [1385 << 1]  # 64 ms / 4096 rows at 90 MHz, less 20
    assert chip.stored(RCC + 0x38) & 1  # FMCEN
    assert _af(emu, 6, 8) == (2, 12) and _af(emu, 7, 3) == (2, 12)  # PG8 SDCLK, PH3 SDNE0
    writes = [a for a, _ in chip.writes]
    assert writes.index(FMC + 0x140) < writes.index(FMC + 0x150) < writes.index(FMC + 0x154)
    assert max(i for i, a in enumerate(writes) if a == RCC + 0x08) < writes.index(FMC + 0x140)  # at 180 MHz


def test_the_nucleo_has_no_sdram_but_its_m7_caches_and_dwt_are_on():
    board = boards.get_board("nucleo-f746zg")
    emu = _run(board)
    assert not [a for a, _ in emu.chip.writes if FMC <= a < FMC + 0x1000]
    ccr = _u32(emu, 0xE000ED14)
    assert ccr >> 16 & 1 and ccr >> 17 & 1  # DC, IC
    assert _u32(emu, 0xE0001FB0) == 0xC5ACCE55  # DWT LAR unlocked


def test_the_set_up_runs_before_main_and_outside_the_layer_table(board):
    emu = _run(board, accounting=True)
    r = emu._result("bkpt", 0.0)
    cyccnt = _u32(emu, 0xE0001004)  # zeroed by Reset_Handler after the set-up
    assert sum(layer.cycles for layer in r.layers) < cyccnt < r.total_cycles
    setup = r.total_cycles - cyccnt
    # the set-up's polls and, on the F469-DISCO, the >= 100 us SDRAM power-up wait (20000 loop iterations)
    assert setup > (60_000 if board.name == "stm32f469i-disco" else 500)


def test_a_build_for_another_machine_leaves_the_chip_set_up_out(tmp_path):
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    board = boards.get_board("stm32f469i-disco")
    spec = specmod.load_trained("cifarnet", "dense")
    plan = memory.plan(spec, board)
    files = codegen.generate(spec, board, plan, "test")
    assert "#define TREC_BOARD_STM32F469I_DISCO 1" in files["board.h"] and "TREC_NO_CHIP_INIT" not in files["board.h"]
    env = codegen._environment()  # noqa: SLF001 - the template alone, as a build for another machine renders it
    other = env.get_template("board.h.j2").render(digest="test", board=board, chip_init=False, irq_count=93,
                                                   uart={"name": "uart0", "type": "CMSDK", "base": 0x40004000,
                                                         "f7": False})
    assert "#define TREC_NO_CHIP_INIT 1" in other and "TREC_BOARD_STM32F469I_DISCO" not in other

    def symbols(board_h: str) -> set[str]:
        d = tmp_path / str(abs(hash(board_h)))
        d.mkdir()
        (d / "board.h").write_text(board_h)
        obj = d / "board_init.o"
        subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O0", "-c",
                        f"-I{d}", f"-I{trecsim.REPO_ROOT / 'firmware' / 'runtime'}",
                        f"-I{trecsim.REPO_ROOT / 'firmware' / 'kernels'}",
                        str(trecsim.REPO_ROOT / "firmware" / "runtime" / "board_init.c"), "-o", str(obj)], check=True)
        out = subprocess.run([gcc.replace("gcc", "nm"), str(obj)], check=True, capture_output=True, text=True).stdout
        return {line.split()[-1] for line in out.splitlines()}

    assert {"clocks", "sdram", "trec_board_init"} <= symbols(files["board.h"])
    bare = symbols(other)
    assert "trec_board_init" in bare and not {"clocks", "sdram", "gpio_af"} & bare


def test_the_sdram_answers_only_after_the_firmwares_fmc_set_up():
    import unicorn

    board = boards.get_board("stm32f469i-disco")
    emu = UnicornBoard(dense_build(board.name).elf, board)
    with pytest.raises(unicorn.UcError):
        emu.uc.mem_read(0xC0000000, 4)
    emu.write_symbol("trec_input", sample()[0])
    emu.start()
    assert emu.chip.sdram_ready
    emu.uc.mem_write(0xC0FFFFFC, b"\x01\x02\x03\x04")
    assert bytes(emu.uc.mem_read(0xC0FFFFFC, 4)) == b"\x01\x02\x03\x04"


def test_a_firmware_that_skips_the_set_up_faults_on_its_first_sdram_access():
    """Plain TREC CifarNet spills conv2's buffers to SDRAM on the F469-DISCO: without the FMC set-up that is
    a bus error on the chip, and in the emulator."""
    from trecsim.emulators import open_board
    from trecsim.errors import FirmwareFault
    from trecsim.firmware.build import build_firmware

    board = boards.get_board("stm32f469i-disco")
    spec = specmod.load_trained("cifarnet", "trec")
    build = build_firmware(spec, board)
    assert build.size.sdram > 0
    emu = open_board(build.elf, board)
    emu.uc.mem_write(emu.elf.symbol("trec_board_init").address & ~1, b"\x70\x47")  # bx lr: no set-up
    with pytest.raises(FirmwareFault) as info:
        emu.run(sample()[0])
    assert info.value.kind == "BusFault" and "0xC0" in str(info.value)
    assert "before the firmware's FMC SDRAM set-up" in str(info.value)


@pytest.mark.parametrize("modes, ready", [((1, 2, 3, 4), True), ((1, 3, 2, 4), False), ((1, 2, 4), False),
                                          ((2, 1, 2, 3, 3, 4), True)])
def test_the_sdram_model_needs_the_jedec_sequence_in_order(modes, ready):
    from trecsim.emulators.chipregs import ChipRegisters

    chip = ChipRegisters(boards.get_board("stm32f469i-disco"))
    calls = []
    chip.on_sdram_ready = lambda: calls.append(True)
    page = FMC & ~0xFFF

    def write(offset, value):
        chip._on_write(None, FMC + offset - page, 4, value, page)  # noqa: SLF001 - as the MMIO callback

    write(0x140, 0x19E4)
    for mode in modes:
        write(0x150, mode | 1 << 4)
    write(0x154, 1385 << 1)
    assert chip.sdram_ready is ready and calls == ([True] if ready else [])
