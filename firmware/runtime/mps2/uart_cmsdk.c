/*
 * uart_cmsdk.c - the console of the QEMU MPS2 builds (trecsim/firmware/mps2.py): a blocking
 * transmitter on UART0 of the Arm CMSDK APB (board.h: TREC_UART_BASE), in place of usart.c, under
 * the same console text (trec_console.h).
 *
 * Registers (Arm CMSDK APB UART, DDI 0479): DATA 0x00, STATE 0x04 (bit 0 TX buffer full),
 * CTRL 0x08 (bit 0 TX enable), BAUDDIV 0x10 (>= 16). QEMU prints what UART0 sends on its first
 * -serial; the baud rate has no effect there, BAUDDIV is set to a legal value for 115200 at 25 MHz.
 */
#include "board.h"
#include "trec_runtime.h"

#define REG(offset) (*(volatile uint32_t *)(TREC_UART_BASE + (offset)))
#define UART_DATA REG(0x00u)
#define UART_STATE REG(0x04u)
#define UART_CTRL REG(0x08u)
#define UART_BAUDDIV REG(0x10u)
#define STATE_TX_FULL (1u << 0)
#define CTRL_TX_ENABLE (1u << 0)

void trec_uart_init(void)
{
    UART_BAUDDIV = 217u; /* 25 MHz / 115200 */
    UART_CTRL = CTRL_TX_ENABLE;
}

static void put_char(char c)
{
    while ((UART_STATE & STATE_TX_FULL) != 0u) {
    }
    UART_DATA = (uint32_t)(uint8_t)c;
}

#include "trec_console.h" /* trec_uart_puts, _put_u32, _put_i32 over put_char */
