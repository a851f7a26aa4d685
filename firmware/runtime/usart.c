/*
 * usart.c - minimal blocking transmitter on the console USART (board.h: TREC_UART_BASE), under
 * the console text of trec_console.h.
 *
 * Register layouts (RM0386 for the STM32F4 USART, RM0385 for the STM32F7 USART):
 *   F4: SR 0x00 (TXE bit 7), DR 0x04, BRR 0x08, CR1 0x0C (UE bit 13, TE bit 3)
 *   F7: CR1 0x00 (UE bit 0, TE bit 3), BRR 0x0C, ISR 0x1C (TXE bit 7), TDR 0x28
 * BRR is set for 115200 baud at the USART's kernel clock TREC_UART_CLOCK_HZ (trec_board.h: APB1
 * after the chip set-up of board_init.c, which also enables the USART's clock and pins; the 16 MHz
 * HSI on other machines).
 */
#include "board.h"
#include "trec_board.h"
#include "trec_runtime.h"

#define REG(offset) (*(volatile uint32_t *)(TREC_UART_BASE + (offset)))
#define TXE (1u << 7)
#define BAUD 115200u
/* oversampling by 16: BRR = f_ck / baud, rounded (F4: mantissa.fraction in 12.4; F7: USARTDIV) */
#define BRR_VALUE ((TREC_UART_CLOCK_HZ + BAUD / 2u) / BAUD)

#if TREC_UART_F7
#define UART_CR1 REG(0x00u)
#define UART_BRR REG(0x0Cu)
#define UART_STATUS REG(0x1Cu)
#define UART_DATA REG(0x28u)
#define CR1_ENABLE ((1u << 0) | (1u << 3))
#else
#define UART_STATUS REG(0x00u)
#define UART_DATA REG(0x04u)
#define UART_BRR REG(0x08u)
#define UART_CR1 REG(0x0Cu)
#define CR1_ENABLE ((1u << 13) | (1u << 3))
#endif

void trec_uart_init(void)
{
    UART_BRR = BRR_VALUE;
    UART_CR1 = CR1_ENABLE;
}

static void put_char(char c)
{
    while ((UART_STATUS & TXE) == 0u) {
    }
    UART_DATA = (uint32_t)(uint8_t)c;
}

#include "trec_console.h" /* trec_uart_puts, _put_u32, _put_i32 over put_char */
