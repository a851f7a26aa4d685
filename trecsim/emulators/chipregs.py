"""Register models of the STM32 peripherals that the firmware's chip set-up polls.

``firmware/runtime/board_init.c`` starts the HSE, locks the PLL, enters over-drive, switches SYSCLK
and programs the F469-DISCO's FMC SDRAM, waiting each time for a ready flag. On plain memory those
flags never rise, so the RCC, PWR, flash-interface and FMC register pages of the board (their bases
from the board description: peripherals ``rcc``, ``pwr``, ``flashController``, ``FMC_CONTROL``) are
MMIO pages served here: every register keeps what was written (from its reset value), and the
status bits the set-up waits on follow their control bits as on the chip (RM0386 / RM0385):

- RCC_CR: HSIRDY follows HSION, HSERDY HSEON, PLLRDY PLLON (once its source is ready), PLLI2SRDY
  PLLI2SON, PLLSAIRDY PLLSAION;
- RCC_CFGR: SWS shows SW;
- PWR_CSR(1): VOSRDY set, ODRDY follows ODEN, ODSWRDY follows ODSWEN;
- FMC_SDSR: never busy (a command completes at once);
- the external SDRAM becomes usable (:attr:`ChipRegisters.sdram_ready`, then ``on_sdram_ready`` is
  called: the backend maps the SDRAM region only then) once SDCR1 is programmed and bank 1 received
  the JEDEC sequence (clock enable, precharge all, auto-refresh, load mode register, in this order)
  and the refresh timer is set (FMC_SDRTR COUNT != 0): before that an access faults, as the chip's
  does.

Only these pages take the Python callbacks, and the set-up runs once before ``main``, so the speed
of the emulator is unchanged. Every write is recorded (:attr:`ChipRegisters.writes`) and
:meth:`ChipRegisters.clocks` derives SYSCLK, HCLK, APB1/APB2 and the flash wait states from what the
firmware programmed, which the tests compare with the board description.

Two read-only identity registers are preset in the (plain) private peripheral bus memory:
DBGMCU_IDCODE (0xE0042000: DEV_ID of the chip, read by a debug probe to check the board) and, on the
Cortex-M7, CCSIDR of its 4 KB L1 D-cache (the set/way loops of the cache maintenance read it).
"""

from __future__ import annotations

from dataclasses import dataclass

from trecsim.boards import Board

__all__ = ["DBGMCU_IDCODE", "DEV_IDS", "HSE_HZ", "ChipClocks", "ChipRegisters", "dev_id"]

PAGE = 0x1000
#: DBGMCU_IDCODE (RM0386 38.6.1 / RM0385 40.6.1): REV_ID[31:16], DEV_ID[11:0].
DBGMCU_IDCODE = 0xE0042000
#: DEV_ID per MCU family (the board description's [board] mcu starts with the key).
DEV_IDS = {"STM32F469": (0x434, "STM32F469/479"), "STM32F479": (0x434, "STM32F469/479"),
           "STM32F746": (0x449, "STM32F74x/75x"), "STM32F745": (0x449, "STM32F74x/75x"),
           "STM32F756": (0x449, "STM32F74x/75x")}
#: REV_ID preset in the emulator (revision A).
REV_ID = 0x1000
#: Both boards feed an 8 MHz HSE: a crystal on the F469-DISCO, the ST-LINK's MCO on the Nucleo.
HSE_HZ = 8_000_000
HSI_HZ = 16_000_000
#: Cortex-M7 CCSIDR of a 4 KB, 4-way, 32-byte-line D-cache: WT|WB|RA|WA, 32 sets, 4 ways, 8 words.
CCSIDR = 0xE000ED80
M7_DCACHE_CCSIDR = 0xF0000000 | (32 - 1) << 13 | (4 - 1) << 3 | 1

# register offsets in their peripheral
RCC_CR, RCC_PLLCFGR, RCC_CFGR = 0x00, 0x04, 0x08
PWR_CR, PWR_CSR = 0x00, 0x04
FLASH_ACR = 0x00
FMC_SDCR1, FMC_SDCMR, FMC_SDRTR, FMC_SDSR = 0x140, 0x150, 0x154, 0x158
JEDEC_SEQUENCE = (1, 2, 3, 4)  # SDCMR MODE: clock enable, PALL, auto-refresh, load mode register
#: reset values (RM0386 6.3 / RM0385 5.3, 4.4.1; F469 PWR_CR VOS = scale 1 at reset as on the F7)
RESETS = {("rcc", RCC_CR): 0x0000_0083, ("rcc", RCC_PLLCFGR): 0x2400_3010, ("pwr", PWR_CR): 0x0000_C000}


def dev_id(board: Board) -> tuple[int, str] | None:
    """(DEV_ID, family) of the board's MCU, or None for an MCU trecsim does not know."""
    for prefix, value in DEV_IDS.items():
        if board.mcu.upper().startswith(prefix):
            return value
    return None


@dataclass(frozen=True)
class ChipClocks:
    """The clock tree as the firmware programmed it."""

    sysclk_hz: float
    hclk_hz: float
    pclk1_hz: float
    pclk2_hz: float
    flash_wait_states: int
    source: str  # "HSI", "HSE" or "PLL"
    over_drive: bool


class ChipRegisters:
    """The RCC/PWR/flash/FMC pages of one board, as MMIO pages of a Unicorn instance."""

    PERIPHERALS = ("rcc", "pwr", "flashController", "FMC_CONTROL")

    def __init__(self, board: Board):
        self.board = board
        self.bases: dict[str, int] = {}
        for name in self.PERIPHERALS:
            try:
                self.bases[name] = board.peripheral(name).base
            except Exception:  # a board without this peripheral: nothing to model
                continue
        self.pages: dict[int, bytearray] = {}
        for base in self.bases.values():
            self.pages.setdefault(base & ~(PAGE - 1), bytearray(PAGE))
        for (name, off), value in RESETS.items():
            if name in self.bases:
                self._store(self.bases[name] + off, 4, value)
        self.writes: list[tuple[int, int]] = []  # (address, value) in order
        self.sdram_ready = False
        self.on_sdram_ready = None  # called once when the SDRAM becomes usable
        self._sdram_steps: list[int] = []  # SDCMR modes sent to bank 1, in order

    # ------------------------------------------------------------------ storage

    def _store(self, address: int, size: int, value: int) -> None:
        page = self.pages[address & ~(PAGE - 1)]
        off = address & (PAGE - 1)
        page[off:off + size] = int(value & ((1 << 8 * size) - 1)).to_bytes(size, "little")

    def stored(self, address: int) -> int:
        page = self.pages[address & ~(PAGE - 1)]
        off = address & (PAGE - 1) & ~3
        return int.from_bytes(page[off:off + 4], "little")

    def _reg(self, name: str, off: int) -> int:
        return self.stored(self.bases[name] + off) if name in self.bases else 0

    # ------------------------------------------------------------------ the chip's behaviour

    def read(self, address: int) -> int:
        """The 32-bit register at ``address`` as the chip would return it."""
        value = self.stored(address)
        if "rcc" in self.bases and address == self.bases["rcc"] + RCC_CR:
            cr = value & ~((1 << 1) | (1 << 17) | (1 << 25) | (1 << 27) | (1 << 29))
            hsi, hse = cr >> 0 & 1, cr >> 16 & 1
            pll_src_ready = hse if self._reg("rcc", RCC_PLLCFGR) >> 22 & 1 else hsi
            cr |= hsi << 1 | hse << 17 | (cr >> 24 & 1 & pll_src_ready) << 25 | (cr >> 26 & 1) << 27 \
                | (cr >> 28 & 1) << 29
            return cr
        if "rcc" in self.bases and address == self.bases["rcc"] + RCC_CFGR:
            return (value & ~0xC) | (value & 3) << 2
        if "pwr" in self.bases and address == self.bases["pwr"] + PWR_CSR:
            cr = self._reg("pwr", PWR_CR)
            return (value & ~(1 << 14 | 1 << 16 | 1 << 17)) | 1 << 14 | (cr >> 16 & 1) << 16 | (cr >> 17 & 1) << 17
        if "FMC_CONTROL" in self.bases and address == self.bases["FMC_CONTROL"] + FMC_SDSR:
            return value & ~(1 << 5)
        return value

    def attach(self, uc) -> None:
        """Maps the pages as MMIO on ``uc`` and presets the identity registers."""
        import unicorn

        for page in self.pages:
            uc.mmio_map(page, PAGE, self._on_read, page, self._on_write, page)
        ident = dev_id(self.board)
        if ident is not None:
            try:
                uc.mem_write(DBGMCU_IDCODE, (REV_ID << 16 | ident[0]).to_bytes(4, "little"))
            except unicorn.UcError:  # the PPB is not mapped: no identity to show
                pass
        if self.board.core.name.startswith("cortex-m7") and self.board.core.dcache_bytes:
            uc.mem_write(CCSIDR, M7_DCACHE_CCSIDR.to_bytes(4, "little"))

    def _on_read(self, uc, offset: int, size: int, page: int) -> int:
        address = page + offset
        word = self.read(address & ~3)
        shift = 8 * (address & 3)
        return word >> shift & ((1 << 8 * size) - 1)

    @property
    def gates_sdram(self) -> bool:
        """The SDRAM exists only after the FMC set-up (the board has an FMC modelled here)."""
        return "FMC_CONTROL" in self.bases

    def _on_write(self, uc, offset: int, size: int, value: int, page: int) -> None:
        address = page + offset
        self._store(address, size, value)
        self.writes.append((address, int(value)))
        if self.gates_sdram and not self.sdram_ready:
            self._fmc_step(address, int(value))

    def _fmc_step(self, address: int, value: int) -> None:
        fmc = self.bases["FMC_CONTROL"]
        if address == fmc + FMC_SDCMR and value >> 4 & 1:  # CTB1: a command for bank 1
            self._sdram_steps.append(value & 7)
        elif address == fmc + FMC_SDRTR and value >> 1 & 0x1FFF:
            steps, it = self._sdram_steps, iter(self._sdram_steps)
            in_order = all(step in it for step in JEDEC_SEQUENCE)
            if steps and in_order and self.stored(fmc + FMC_SDCR1) & 0x3F:
                self.sdram_ready = True
                if self.on_sdram_ready is not None:
                    self.on_sdram_ready()

    # ------------------------------------------------------------------ what was programmed

    def clocks(self) -> ChipClocks:
        """SYSCLK, HCLK, PCLK1/2 and flash wait states from the programmed RCC and FLASH_ACR."""
        cfgr = self.read(self.bases["rcc"] + RCC_CFGR)
        sws = cfgr >> 2 & 3
        if sws == 2:
            pll = self._reg("rcc", RCC_PLLCFGR)
            src = HSE_HZ if pll >> 22 & 1 else HSI_HZ
            m, n, p = pll & 0x3F, pll >> 6 & 0x1FF, 2 * ((pll >> 16 & 3) + 1)
            sysclk, source = src / m * n / p, "PLL"
        elif sws == 1:
            sysclk, source = HSE_HZ, "HSE"
        else:
            sysclk, source = HSI_HZ, "HSI"
        hpre = cfgr >> 4 & 0xF
        hclk = sysclk / (1 << (hpre - 7) if hpre >= 8 else 1) if hpre < 12 else sysclk / (1 << (hpre - 6))

        def apb(bits: int) -> float:
            return hclk / (1 << (bits - 3)) if bits >= 4 else hclk

        acr = self._reg("flashController", FLASH_ACR)
        over_drive = bool(self._reg("pwr", PWR_CR) >> 17 & 1)
        return ChipClocks(sysclk, hclk, apb(cfgr >> 10 & 7), apb(cfgr >> 13 & 7), acr & 0xF, source, over_drive)

    def written(self, address: int) -> list[int]:
        """Every value written to ``address``, in order."""
        return [v for a, v in self.writes if a == address]
