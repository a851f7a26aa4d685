/*
 * board_init.c - chip set-up of the real boards, before .data/.bss (trec_board.h).
 *
 * Register addresses and bits: RM0386 (STM32F469xx/479xx) and RM0385 (STM32F75xxx/74xxx); the
 * Cortex-M7 cache operations: Arm v7-M ARM B2.2.7 and the Cortex-M7 TRM. It touches no RAM
 * variable until the end (so it may run before .data/.bss are set up) except trec_status,
 * trec_error and trec_done when a step times out.
 *
 * STM32F469I-DISCO (RM0386 6.3, 5.1.4, 3.5, 37):
 *   8 MHz HSE crystal -> PLL M=8 N=360 P=2 -> 180 MHz SYSCLK (VCO 360 MHz; Q=7, R=6 keep the
 *   48 MHz and DSI outputs within their limits), voltage scale 1 with over-drive,
 *   AHB /1, APB1 /4 (45 MHz), APB2 /2 (90 MHz), FLASH_ACR 5 wait states + prefetch, I-cache,
 *   D-cache (ART); FMC SDRAM bank 1 (IS42S32400F, 4 banks x 4096 rows x 256 columns x 32 bit =
 *   16 MB at 0xC0000000), SDCLK = HCLK/2 = 90 MHz, CAS 3, the JEDEC power-up sequence and the
 *   refresh counter; USART3 on PB10 (TX) / PB11 (RX), AF7, to the ST-LINK virtual COM port.
 * NUCLEO-F746ZG (RM0385 5.3, 4.1.4, 3.3):
 *   8 MHz HSE bypass (the ST-LINK's MCO) -> PLL M=8 N=432 P=2 -> 216 MHz SYSCLK (Q=9: 48 MHz),
 *   voltage scale 1 with over-drive, AHB /1, APB1 /4 (54 MHz), APB2 /2 (108 MHz), FLASH_ACR
 *   7 wait states + prefetch + ART, the Cortex-M7 I-cache and D-cache on; USART3 on PD8 (TX) /
 *   PD9 (RX), AF7, to the ST-LINK virtual COM port; the DWT unlocked (LAR) for CYCCNT.
 */
#include "trec_board.h"

#include "trec_runtime.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))

#if TREC_CHIP_INIT

/* RCC (RM0386 6.3 / RM0385 5.3): same offsets and bits on both chips for what is used here */
#define RCC_BASE 0x40023800u
#define RCC_CR REG32(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG32(RCC_BASE + 0x04u)
#define RCC_CFGR REG32(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG32(RCC_BASE + 0x30u)
#define RCC_AHB3ENR REG32(RCC_BASE + 0x38u)
#define RCC_APB1ENR REG32(RCC_BASE + 0x40u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_M(m) ((uint32_t)(m) << 0)
#define RCC_PLLCFGR_N(n) ((uint32_t)(n) << 6)
#define RCC_PLLCFGR_P(p) ((uint32_t)((p) / 2u - 1u) << 16) /* 00: /2, 01: /4, ... */
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
#define RCC_PLLCFGR_Q(q) ((uint32_t)(q) << 24)
#define RCC_PLLCFGR_R(r) ((uint32_t)(r) << 28) /* F469 only (DSI); reserved on the F746 */
#define RCC_CFGR_SW_PLL (2u << 0)
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_HPRE_DIV1 (0u << 4)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)
#define RCC_APB1ENR_USART3EN (1u << 18)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_AHB3ENR_FMCEN (1u << 0)

/* PWR (RM0386 5.4: PWR_CR/PWR_CSR; RM0385 4.4: PWR_CR1/PWR_CSR1; same bits) */
#define PWR_BASE 0x40007000u
#define PWR_CR REG32(PWR_BASE + 0x00u)
#define PWR_CSR REG32(PWR_BASE + 0x04u)
#define PWR_CR_VOS_SCALE1 (3u << 14)
#define PWR_CR_ODEN (1u << 16)
#define PWR_CR_ODSWEN (1u << 17)
#define PWR_CSR_ODRDY (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)

/* Flash interface (RM0386 3.9.1 / RM0385 3.7.1): FLASH_ACR */
#define FLASH_ACR REG32(0x40023C00u)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_F4_ICEN (1u << 9)
#define FLASH_ACR_F4_DCEN (1u << 10)
#define FLASH_ACR_F7_ARTEN (1u << 9)

/* GPIO (RM0386 8.4 / RM0385 6.4): port x at 0x40020000 + 0x400 * x */
#define GPIO_BASE(port) (0x40020000u + 0x400u * (uint32_t)(port))
#define GPIO_MODER(port) REG32(GPIO_BASE(port) + 0x00u)
#define GPIO_OTYPER(port) REG32(GPIO_BASE(port) + 0x04u)
#define GPIO_OSPEEDR(port) REG32(GPIO_BASE(port) + 0x08u)
#define GPIO_PUPDR(port) REG32(GPIO_BASE(port) + 0x0Cu)
#define GPIO_AFR(port, i) REG32(GPIO_BASE(port) + 0x20u + 4u * (uint32_t)(i))
enum { PORT_A, PORT_B, PORT_C, PORT_D, PORT_E, PORT_F, PORT_G, PORT_H, PORT_I };
#define SPEED_HIGH 2u   /* OSPEEDR 10: fast (the BSP's GPIO_SPEED_FAST) */
#define PULL_NONE 0u
#define PULL_UP 1u
#define AF_USART3 7u
#define AF_FMC 12u

/* DWT software lock (Cortex-M7 TRM, CoreSight lock access register) */
#define DWT_LAR REG32(0xE0001FB0u)
#define DWT_LAR_KEY 0xC5ACCE55u

/* Polls: about 2 M iterations (tens of ms at 16 MHz, far above every start-up time). */
#define WAIT_LIMIT 2000000u

__attribute__((noreturn)) static void init_failed(int32_t code)
{
    trec_error = code;
    trec_status = TREC_STATUS_ERROR;
    trec_done = 1u;
    for (;;) {
        __asm volatile("bkpt #0");
    }
}

/* Waits until (*reg & mask) == want, or stops the firmware with error code. */
static void wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t want, int32_t code)
{
    uint32_t n;
    for (n = 0u; n < WAIT_LIMIT; n++) {
        if ((*reg & mask) == want) {
            return;
        }
    }
    init_failed(code);
}

/* Reading an enable register back after setting a bit gives the clock the two cycles it needs
 * before the peripheral may be accessed (RM0386 6.3.x note, errata "delay after an RCC
 * peripheral clock enabling"). */
static void clock_enable(volatile uint32_t *reg, uint32_t bits)
{
    *reg |= bits;
    (void)*reg;
}

/* Pins of mask on port to alternate function af, push-pull, the given speed and pull. */
static void gpio_af(uint32_t port, uint32_t mask, uint32_t af, uint32_t speed, uint32_t pull)
{
    uint32_t pin;
    for (pin = 0u; pin < 16u; pin++) {
        if ((mask >> pin & 1u) == 0u) {
            continue;
        }
        GPIO_AFR(port, pin / 8u) = (GPIO_AFR(port, pin / 8u) & ~(0xFu << (4u * (pin % 8u)))) | (af << (4u * (pin % 8u)));
        GPIO_OTYPER(port) &= ~(1u << pin);
        GPIO_OSPEEDR(port) = (GPIO_OSPEEDR(port) & ~(3u << (2u * pin))) | (speed << (2u * pin));
        GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << (2u * pin))) | (pull << (2u * pin));
        GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2u * pin))) | (2u << (2u * pin));
    }
}

/* RM0386 5.1.4 "Entering Over-drive mode" and 6.2 (RM0385 4.1.4 and 5.2): HSE, PLL, over-drive,
 * wait states, prescalers, then the switch of SYSCLK to the PLL. */
static void clocks(uint32_t hse_bypass, uint32_t pllcfgr, uint32_t acr)
{
    clock_enable(&RCC_APB1ENR, RCC_APB1ENR_PWREN);
    PWR_CR = (PWR_CR & ~(3u << 14)) | PWR_CR_VOS_SCALE1; /* takes effect when the PLL starts */

    RCC_CR |= hse_bypass;
    RCC_CR |= RCC_CR_HSEON;
    wait_bits(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY, TREC_INIT_ERR_HSE);

    RCC_PLLCFGR = pllcfgr;
    RCC_CR |= RCC_CR_PLLON;
    wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY, TREC_INIT_ERR_PLL);

    PWR_CR |= PWR_CR_ODEN;
    wait_bits(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY, TREC_INIT_ERR_OVERDRIVE);
    PWR_CR |= PWR_CR_ODSWEN;
    wait_bits(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY, TREC_INIT_ERR_ODSWITCH);

    /* more wait states before a faster clock; read back to check they are in effect */
    FLASH_ACR = acr;
    wait_bits(&FLASH_ACR, FLASH_ACR_LATENCY_MASK, acr & FLASH_ACR_LATENCY_MASK, TREC_INIT_ERR_LATENCY);

    RCC_CFGR = RCC_CFGR_HPRE_DIV1 | RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2 | RCC_CFGR_SW_PLL;
    wait_bits(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL, TREC_INIT_ERR_SYSCLK);
}

#if defined(TREC_BOARD_STM32F469I_DISCO)

#if TREC_CLOCK_HZ != 180000000u
#error "board_init.c programs 180 MHz for the STM32F469I-DISCO; the board description says otherwise"
#endif

/* FMC SDRAM registers (RM0386 37.8) */
#define FMC_SDCR1 REG32(0xA0000140u)
#define FMC_SDTR1 REG32(0xA0000148u)
#define FMC_SDCMR REG32(0xA0000150u)
#define FMC_SDRTR REG32(0xA0000154u)
#define FMC_SDSR REG32(0xA0000158u)
#define FMC_SDSR_BUSY (1u << 5)
/* SDCR1: NC 8 column bits (00), NR 12 row bits (01), MWID 32 bit (10), NB 4 internal banks,
 * CAS 3, write protection off, SDCLK = 2 x HCLK periods, read burst on, no read pipe delay */
#define SDCR_NC_8 (0u << 0)
#define SDCR_NR_12 (1u << 2)
#define SDCR_MWID_32 (2u << 4)
#define SDCR_NB_4 (1u << 6)
#define SDCR_CAS_3 (3u << 7)
#define SDCR_SDCLK_HCLK_2 (2u << 10)
#define SDCR_RBURST (1u << 12)
/* SDTR1 in SDCLK cycles (11.1 ns at 90 MHz), each field holds cycles - 1: TMRD 2, TXSR 7 (70 ns),
 * TRAS 4 (42 ns), TRC 7 (63 ns), TWR 2, TRP 2 (18 ns), TRCD 2 (18 ns) */
#define SDTR(tmrd, txsr, tras, trc, twr, trp, trcd)                                                  \
    (((tmrd)-1u) << 0 | ((txsr)-1u) << 4 | ((tras)-1u) << 8 | ((trc)-1u) << 12 | ((twr)-1u) << 16 | \
     ((trp)-1u) << 20 | ((trcd)-1u) << 24)
/* SDCMR: MODE[2:0], CTB1 bit 4 (bank 1), NRFS[8:5] = auto-refreshes - 1, MRD[21:9] */
#define SDCMR_CLK_ENABLE 1u
#define SDCMR_PALL 2u
#define SDCMR_AUTO_REFRESH 3u
#define SDCMR_LOAD_MODE 4u
#define SDCMR_CTB1 (1u << 4)
#define SDCMR_NRFS(n) (((uint32_t)(n)-1u) << 5)
#define SDCMR_MRD(v) ((uint32_t)(v) << 9)
/* SDRAM mode register: burst length 1, sequential, CAS latency 3, standard, single write burst */
#define SDRAM_MODE (0x0u | 0x0u | 0x30u | 0x0u | 0x200u)
/* 4096 rows refreshed every 64 ms: 15.625 us x 90 MHz = 1406 SDCLK, minus the 20-cycle safety
 * margin of RM0386 37.7.5 -> 1386; the BSP's 1385 (0x569) is kept */
#define SDRAM_REFRESH_COUNT 1385u
/* at least 100 us between the clock enable and the PALL command: about 4 cycles an iteration at
 * 180 MHz, 20000 iterations = 440 us */
#define SDRAM_POWER_UP_LOOPS 20000u

static void sdram_command(uint32_t cmd)
{
    wait_bits(&FMC_SDSR, FMC_SDSR_BUSY, 0u, TREC_INIT_ERR_SDRAM);
    FMC_SDCMR = cmd;
    wait_bits(&FMC_SDSR, FMC_SDSR_BUSY, 0u, TREC_INIT_ERR_SDRAM);
}

static void sdram(void)
{
    volatile uint32_t n;
    clock_enable(&RCC_AHB1ENR, (1u << PORT_C) | (1u << PORT_D) | (1u << PORT_E) | (1u << PORT_F) | (1u << PORT_G) |
                                   (1u << PORT_H) | (1u << PORT_I));
    clock_enable(&RCC_AHB3ENR, RCC_AHB3ENR_FMCEN);
    /* the board's FMC pins (MB1189 schematic; the BSP's SDRAM pin list), AF12, pull-up */
    gpio_af(PORT_C, 1u << 0, AF_FMC, SPEED_HIGH, PULL_UP);                                 /* SDNWE */
    gpio_af(PORT_D, 0xC703u, AF_FMC, SPEED_HIGH, PULL_UP);    /* D2 D3 D13 D14 D15 D0 D1: 0,1,8,9,10,14,15 */
    gpio_af(PORT_E, 0xFF83u, AF_FMC, SPEED_HIGH, PULL_UP);    /* NBL0 NBL1 D4..D12: 0,1,7..15 */
    gpio_af(PORT_F, 0xF83Fu, AF_FMC, SPEED_HIGH, PULL_UP);    /* A0..A5, SDNRAS, A6..A9: 0..5,11..15 */
    gpio_af(PORT_G, 0x8133u, AF_FMC, SPEED_HIGH, PULL_UP);    /* A10 A11 BA0 BA1 SDCLK SDNCAS: 0,1,4,5,8,15 */
    gpio_af(PORT_H, 0xFF0Cu, AF_FMC, SPEED_HIGH, PULL_UP);    /* SDCKE0 SDNE0 D16..D23: 2,3,8..15 */
    gpio_af(PORT_I, 0x06FFu, AF_FMC, SPEED_HIGH, PULL_UP);    /* D24..D31 NBL2 NBL3: 0..7,9,10 */

    FMC_SDCR1 = SDCR_NC_8 | SDCR_NR_12 | SDCR_MWID_32 | SDCR_NB_4 | SDCR_CAS_3 | SDCR_SDCLK_HCLK_2 | SDCR_RBURST;
    FMC_SDTR1 = SDTR(2u, 7u, 4u, 7u, 2u, 2u, 2u);
    /* JEDEC power-up (RM0386 37.7.3): clock on, wait >= 100 us, precharge all, auto-refresh x 8,
     * load the mode register, then the refresh rate */
    sdram_command(SDCMR_CLK_ENABLE | SDCMR_CTB1 | SDCMR_NRFS(1));
    for (n = 0u; n < SDRAM_POWER_UP_LOOPS; n++) {
    }
    sdram_command(SDCMR_PALL | SDCMR_CTB1 | SDCMR_NRFS(1));
    sdram_command(SDCMR_AUTO_REFRESH | SDCMR_CTB1 | SDCMR_NRFS(8));
    sdram_command(SDCMR_LOAD_MODE | SDCMR_CTB1 | SDCMR_NRFS(1) | SDCMR_MRD(SDRAM_MODE));
    FMC_SDRTR = SDRAM_REFRESH_COUNT << 1;
}

void trec_board_init(void)
{
    clocks(0u,
           RCC_PLLCFGR_M(8u) | RCC_PLLCFGR_N(360u) | RCC_PLLCFGR_P(2u) | RCC_PLLCFGR_SRC_HSE | RCC_PLLCFGR_Q(7u) |
               RCC_PLLCFGR_R(6u),
           5u | FLASH_ACR_PRFTEN | FLASH_ACR_F4_ICEN | FLASH_ACR_F4_DCEN);
    sdram();
    /* console: USART3 TX PB10, RX PB11 */
    clock_enable(&RCC_AHB1ENR, 1u << PORT_B);
    clock_enable(&RCC_APB1ENR, RCC_APB1ENR_USART3EN);
    gpio_af(PORT_B, (1u << 10) | (1u << 11), AF_USART3, SPEED_HIGH, PULL_UP);
}

void trec_board_sync(void)
{
    __asm volatile("dsb" ::: "memory"); /* no data cache on the M4: drain the write buffer only */
}

#elif defined(TREC_BOARD_NUCLEO_F746ZG)

#if TREC_CLOCK_HZ != 216000000u
#error "board_init.c programs 216 MHz for the NUCLEO-F746ZG; the board description says otherwise"
#endif

/* System control block: cache control and maintenance (Arm v7-M ARM B3.2.2, Cortex-M7 TRM 4.x) */
#define SCB_CCR REG32(0xE000ED14u)
#define SCB_CCR_DC (1u << 16)
#define SCB_CCR_IC (1u << 17)
#define SCB_CCSIDR REG32(0xE000ED80u)
#define SCB_CSSELR REG32(0xE000ED84u)
#define SCB_ICIALLU REG32(0xE000EF50u)
#define SCB_DCISW REG32(0xE000EF60u)
#define SCB_DCCSW REG32(0xE000EF6Cu)
/* set/way operand of the 4-way, 32-byte-line L1 D-cache: way in bits 31:30, set from bit 5 */
#define SW_WAY_SHIFT 30u
#define SW_SET_SHIFT 5u

static inline void barriers(void)
{
    __asm volatile("dsb\n\tisb" ::: "memory");
}

/* Applies a set/way operation (invalidate or clean) to every line of the L1 D-cache, with the
 * geometry read from CCSIDR. */
static void dcache_by_set_way(volatile uint32_t *op)
{
    uint32_t ccsidr, sets, ways, set, way;
    SCB_CSSELR = 0u; /* level 1 data cache */
    barriers();
    ccsidr = SCB_CCSIDR;
    sets = (ccsidr >> 13) & 0x7FFFu;
    for (set = 0u; set <= sets; set++) {
        ways = (ccsidr >> 3) & 0x3FFu;
        for (way = 0u; way <= ways; way++) {
            *op = (way << SW_WAY_SHIFT) | (set << SW_SET_SHIFT);
        }
    }
    barriers();
}

static void caches(void)
{
    barriers();
    SCB_ICIALLU = 0u;
    barriers();
    SCB_CCR |= SCB_CCR_IC;
    barriers();
    dcache_by_set_way(&SCB_DCISW);
    SCB_CCR |= SCB_CCR_DC;
    barriers();
}

void trec_board_init(void)
{
    clocks(RCC_CR_HSEBYP,
           RCC_PLLCFGR_M(8u) | RCC_PLLCFGR_N(432u) | RCC_PLLCFGR_P(2u) | RCC_PLLCFGR_SRC_HSE | RCC_PLLCFGR_Q(9u),
           7u | FLASH_ACR_PRFTEN | FLASH_ACR_F7_ARTEN);
    caches();
    TREC_DEMCR |= (1u << 24); /* TRCENA: the DWT is powered and writable only with trace enabled */
    DWT_LAR = DWT_LAR_KEY;
    /* console: USART3 TX PD8, RX PD9 */
    clock_enable(&RCC_AHB1ENR, 1u << PORT_D);
    clock_enable(&RCC_APB1ENR, RCC_APB1ENR_USART3EN);
    gpio_af(PORT_D, (1u << 8) | (1u << 9), AF_USART3, SPEED_HIGH, PULL_UP);
}

void trec_board_sync(void)
{
    if (SCB_CCR & SCB_CCR_DC) {
        dcache_by_set_way(&SCB_DCCSW);
    }
}

#endif /* board */

#else /* !TREC_CHIP_INIT: another machine, or the set-up disabled */

void trec_board_init(void) {}

void trec_board_sync(void)
{
    __asm volatile("dsb" ::: "memory");
}

#endif
