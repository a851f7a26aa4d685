/*
 * startup.c - vector table, reset and fault handlers (ARMv7-M: Cortex-M4F and Cortex-M7).
 *
 * Reset_Handler: enables the FPU (CPACR CP10/CP11 full access), sets up the board's chip
 * (trec_board_init of board_init.c: clocks, flash wait states, caches, SDRAM, console pins; nothing
 * on other machines), copies .data from flash, zeroes .bss (.noinit, which holds trec_input, is
 * left alone), starts the DWT cycle counter from 0 (so the set-up is outside every measured
 * region), then calls main. The fault handlers record the fault status registers and the stacked
 * frame in trec_fault, set trec_status to TREC_STATUS_FAULT and stop at BKPT #0.
 * Symbols from the generated linker script: _sidata, _sdata, _edata, _sbss, _ebss, _stack_top,
 * _stack_limit.
 */
#include <stdint.h>

#include "board.h"
#include "trec_board.h"
#include "trec_runtime.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _stack_top[], _stack_limit[];
int main(void);

volatile uint32_t trec_status;
volatile uint32_t trec_done;
volatile int32_t trec_error;
volatile trec_fault_record trec_fault;

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)

void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void trec_fault_record_frame(const uint32_t *frame, uint32_t exc_return);

__attribute__((noreturn)) static void stop(void)
{
    for (;;) {
        __asm volatile("bkpt #0");
    }
}

/* Fills the unused stack (from _stack_limit up to 64 bytes below the current SP) with
 * TREC_STACK_PAINT; the lowest word that no longer holds it is the stack's peak. */
static void paint_stack(void)
{
    uint32_t sp;
    volatile uint32_t *p;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (p = _stack_limit; (uint32_t)(uintptr_t)p + 64u < sp; p++) {
        *p = TREC_STACK_PAINT;
    }
}

void Reset_Handler(void)
{
    uint32_t *src = _sidata, *dst = _sdata;
    SCB_CPACR |= (0xFu << 20); /* CP10, CP11: full access */
    __asm volatile("dsb\n\tisb" ::: "memory");
    trec_board_init(); /* before .data/.bss: they may live in SDRAM */
    while (dst < _edata) {
        *dst++ = *src++;
    }
    for (dst = _sbss; dst < _ebss; dst++) {
        *dst = 0u;
    }
    paint_stack();
    /* MemManage, BusFault and UsageFault get their own vectors instead of escalating */
    SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18);
    TREC_DEMCR |= (1u << 24);   /* TRCENA */
    TREC_DWT_CYCCNT = 0u;
    TREC_DWT_CTRL |= 1u;        /* CYCCNTENA */
    trec_status = TREC_STATUS_IDLE;
    (void)main();
    stop();
}

/* The stacked frame (r0-r3, r12, lr, pc, xpsr) is on MSP or PSP as EXC_RETURN bit 2 says. */
__attribute__((naked)) void Fault_Handler(void)
{
    __asm volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mov r1, lr\n\t"
        "b trec_fault_record_frame\n\t");
}

void trec_fault_record_frame(const uint32_t *frame, uint32_t exc_return)
{
    uint32_t ipsr;
    (void)exc_return;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    trec_fault.cfsr = SCB_CFSR;
    trec_fault.hfsr = SCB_HFSR;
    trec_fault.mmfar = SCB_MMFAR;
    trec_fault.bfar = SCB_BFAR;
    trec_fault.lr = frame[5];
    trec_fault.pc = frame[6];
    trec_fault.xpsr = frame[7];
    trec_fault.exception = ipsr & 0x1FFu;
    trec_status = TREC_STATUS_FAULT;
    trec_done = 1u;
    trec_board_sync();
    stop();
}

/* Any exception or interrupt nobody expects is reported like a fault. */
__attribute__((naked)) void Default_Handler(void)
{
    __asm volatile("b Fault_Handler\n\t");
}

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*trec_vector)(void);

/* 16 system exceptions, then TREC_IRQ_COUNT external interrupts (board.h), all unused
 * by the runtime and routed to Default_Handler. */
__attribute__((section(".isr_vector"), used)) const trec_vector trec_vectors[16 + TREC_IRQ_COUNT] = {
    (trec_vector)(uintptr_t)_stack_top, /* 0: initial SP */
    Reset_Handler,                      /* 1: Reset */
    NMI_Handler,                        /* 2: NMI */
    Fault_Handler,                      /* 3: HardFault */
    Fault_Handler,                      /* 4: MemManage */
    Fault_Handler,                      /* 5: BusFault */
    Fault_Handler,                      /* 6: UsageFault */
    0, 0, 0, 0,                         /* 7-10: reserved */
    SVC_Handler,                        /* 11: SVCall */
    DebugMon_Handler,                   /* 12: DebugMonitor */
    0,                                  /* 13: reserved */
    PendSV_Handler,                     /* 14: PendSV */
    SysTick_Handler,                    /* 15: SysTick */
    [16 ... 16 + TREC_IRQ_COUNT - 1] = Default_Handler,
};
