/*
 * trec_console.h - the console's text, once for every UART driver: strings (LF sent as CR LF) and
 * decimal numbers (trec_runtime.h: trec_uart_puts, trec_uart_put_u32, trec_uart_put_i32).
 *
 * Not an ordinary header: it defines those functions, written with the driver's blocking
 * transmitter put_char, and is included exactly once, by the driver of the build (usart.c on the
 * STM32 boards, mps2/uart_cmsdk.c in the QEMU MPS2 builds), right after its put_char. So put_char
 * stays static to the driver, inlined into these functions as before, and a firmware's code is the
 * same with either driver as it was when each carried its own copy.
 */
#ifndef TREC_CONSOLE_H
#define TREC_CONSOLE_H

#include <stdint.h>

/* The driver's transmitter: waits until the UART takes a character and writes it. */
static void put_char(char c);

void trec_uart_puts(const char *s)
{
    while (*s != '\0') {
        if (*s == '\n') {
            put_char('\r');
        }
        put_char(*s++);
    }
}

void trec_uart_put_u32(uint32_t v)
{
    char digits[11];
    int32_t n = 0;
    do {
        digits[n++] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        put_char(digits[--n]);
    }
}

void trec_uart_put_i32(int32_t v)
{
    if (v < 0) {
        put_char('-');
        trec_uart_put_u32(0u - (uint32_t)v);
    } else {
        trec_uart_put_u32((uint32_t)v);
    }
}

#endif /* TREC_CONSOLE_H */
