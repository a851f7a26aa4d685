/*
 * trec_board.h - the chip set-up of the boards' real STM32s (board_init.c).
 *
 * trec_board_init() runs first in Reset_Handler: clocks (HSE -> PLL -> SYSCLK with over-drive),
 * flash wait states and the ART accelerator, the Cortex-M7 caches, the F469-DISCO's FMC SDRAM and
 * the console USART's clock and pins. Which set-up is compiled is chosen by the board macro of
 * the generated board.h (TREC_BOARD_STM32F469I_DISCO, TREC_BOARD_NUCLEO_F746ZG); for any other
 * machine, or with TREC_NO_CHIP_INIT, it does nothing and the chip stays on its reset clock.
 *
 * A wait that does not end (an oscillator that does not start, a PLL that does not lock, a busy
 * SDRAM controller) stops the firmware with trec_status = TREC_STATUS_ERROR and trec_error =
 * one of TREC_INIT_ERR_* below, so that a host sees which step failed.
 */
#ifndef TREC_BOARD_INIT_H
#define TREC_BOARD_INIT_H

#include <stdint.h>

#include "board.h"

#if defined(TREC_NO_CHIP_INIT)
#define TREC_CHIP_INIT 0
#elif defined(TREC_BOARD_STM32F469I_DISCO) || defined(TREC_BOARD_NUCLEO_F746ZG)
#define TREC_CHIP_INIT 1
#else
#define TREC_CHIP_INIT 0
#endif

#if TREC_CHIP_INIT
/* HCLK = SYSCLK = TREC_CLOCK_HZ (the board description's [clock] hz); APB1 = HCLK/4, APB2 = HCLK/2 */
#define TREC_PCLK1_HZ (TREC_CLOCK_HZ / 4u)
#define TREC_PCLK2_HZ (TREC_CLOCK_HZ / 2u)
#else
/* reset state: the 16 MHz HSI, every prescaler /1 */
#define TREC_PCLK1_HZ 16000000u
#define TREC_PCLK2_HZ 16000000u
#endif
/* USART2/3 and UART4/5/7/8 are on APB1 (and on the F7 the reset USART clock selection is PCLK) */
#define TREC_UART_CLOCK_HZ TREC_PCLK1_HZ

/* trec_error codes of a chip set-up step that timed out */
#define TREC_INIT_ERR_HSE (-101)       /* RCC_CR HSERDY never set: no 8 MHz HSE (crystal or ST-LINK MCO) */
#define TREC_INIT_ERR_PLL (-102)       /* RCC_CR PLLRDY never set */
#define TREC_INIT_ERR_OVERDRIVE (-103) /* PWR_CSR ODRDY never set */
#define TREC_INIT_ERR_ODSWITCH (-104)  /* PWR_CSR ODSWRDY never set */
#define TREC_INIT_ERR_LATENCY (-105)   /* FLASH_ACR LATENCY did not take the new wait states */
#define TREC_INIT_ERR_SYSCLK (-106)    /* RCC_CFGR SWS never showed the PLL */
#define TREC_INIT_ERR_SDRAM (-107)     /* FMC_SDSR BUSY never cleared after an SDRAM command */

void trec_board_init(void);
/* Makes what the core wrote visible to a debugger's memory reads (cleans the Cortex-M7 D-cache);
 * called before trec_done is set. */
void trec_board_sync(void);

#endif /* TREC_BOARD_INIT_H */
