/*
 * trec_runtime.h - the firmware runtime of trecsim: host protocol, console, cycle counter.
 *
 * Host protocol (ARCHITECTURE.md, "Host and firmware protocol"); every symbol is looked up
 * in the ELF by name, never by address:
 *   trec_input        int8[TREC_INPUT_SIZE] in .noinit: the host writes it, reset keeps it
 *   trec_output       int8[TREC_OUTPUT_SIZE]: the logits after a run
 *   trec_status       uint32: TREC_STATUS_* below (0 before the runtime starts)
 *   trec_done         uint32: 1 once the run ended (done, kernel error or fault)
 *   trec_layer_count  uint32: entries of trec_cycles and trec_layer_names
 *   trec_cycles       trec_layer_record[trec_layer_count], one per layer in spec order
 *   trec_layer_names  char[trec_layer_count][TREC_LAYER_NAME_LEN], NUL-padded
 *   trec_error        int32: kernel return code of the layer that failed (else 0)
 *   trec_fault        trec_fault_record: filled by the fault handlers
 *   trec_clusters_<layer>  uint16[M] for each TREC layer: clusters per sub-matrix
 * After the run the firmware prints its lines on the console UART and executes BKPT #0.
 */
#ifndef TREC_RUNTIME_H
#define TREC_RUNTIME_H

#include <stdint.h>

#include "trec_profile.h"

#define TREC_STATUS_IDLE 0x49444C45u    /* 'IDLE': runtime started, model not yet running */
#define TREC_STATUS_RUNNING 0x52554E21u /* 'RUN!' */
#define TREC_STATUS_DONE 0x444F4E45u    /* 'DONE': trec_output holds the logits */
#define TREC_STATUS_ERROR 0x4552524Fu   /* 'ERRO': a kernel refused its arguments (trec_error) */
#define TREC_STATUS_FAULT 0x4641554Cu   /* 'FAUL': a fault handler ran (trec_fault) */

#define TREC_LAYER_NAME_LEN 16
/* Reset_Handler fills the free stack with this word (see linker.ld: _stack_limit). */
#define TREC_STACK_PAINT 0x5AC3A55Cu

/* One layer's measurements, in CYCCNT cycles. phase[] is filled for TREC layers only
 * (indices are trec_phase of trec_profile.h); clusters is the sum over sub-matrices. */
typedef struct {
    uint32_t cycles;
    uint32_t phase[TREC_PHASE_COUNT];
    uint32_t clusters;
    int32_t status;
} trec_layer_record;

typedef struct {
    uint32_t cfsr;      /* SCB->CFSR  0xE000ED28 */
    uint32_t hfsr;      /* SCB->HFSR  0xE000ED2C */
    uint32_t mmfar;     /* SCB->MMFAR 0xE000ED34 */
    uint32_t bfar;      /* SCB->BFAR  0xE000ED38 */
    uint32_t pc;        /* stacked PC of the faulting instruction */
    uint32_t lr;        /* stacked LR */
    uint32_t xpsr;      /* stacked xPSR */
    uint32_t exception; /* IPSR: 3 HardFault, 4 MemManage, 5 BusFault, 6 UsageFault, else the vector */
} trec_fault_record;

extern volatile uint32_t trec_status;
extern volatile uint32_t trec_done;
extern volatile int32_t trec_error;
extern volatile trec_fault_record trec_fault;

/* DWT cycle counter (ARMv7-M ARM C1.8): DEMCR.TRCENA, DWT_CTRL.CYCCNTENA, DWT_CYCCNT. */
#define TREC_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define TREC_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define TREC_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

static inline uint32_t trec_cycles_now(void) { return TREC_DWT_CYCCNT; }

/* Console UART (usart.c, or mps2/uart_cmsdk.c in the QEMU builds; the text functions of both are
 * trec_console.h's): blocking transmit of text and decimal numbers. */
void trec_uart_init(void);
void trec_uart_puts(const char *s);
void trec_uart_put_u32(uint32_t v);
void trec_uart_put_i32(int32_t v);

/* The generated model (model.c): runs every layer once, fills trec_output and trec_cycles.
 * Returns 0, or the index + 1 of the layer whose kernel failed (trec_error has its code). */
int32_t trec_model_run(void);
extern const uint32_t trec_layer_count;
extern trec_layer_record trec_cycles[];
extern const char trec_layer_names[][TREC_LAYER_NAME_LEN];
extern const char trec_model_name[];
extern const char trec_mode_name[];
extern const char trec_board_name[];

/* Phase profiling (profile.c): the phase slots of the layer being run, or 0. */
extern uint32_t *volatile trec_phase_slots;

#endif /* TREC_RUNTIME_H */
