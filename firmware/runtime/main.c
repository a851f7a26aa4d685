/*
 * main.c - runs the generated model once and reports on the console and in the protocol
 * symbols (trec_runtime.h). The console lines are printed after the run, outside every
 * measured region:
 *   trecsim: model cifarnet mode se-trec board stm32f469i-disco
 *   layer conv2 cycles 123456 clusters 789
 *   done status 0
 */
#include "trec_board.h"
#include "trec_runtime.h"

int main(void)
{
    int32_t failed;
    uint32_t i;
    trec_uart_init();
    trec_status = TREC_STATUS_RUNNING;
    failed = trec_model_run();

    trec_uart_puts("trecsim: model ");
    trec_uart_puts(trec_model_name);
    trec_uart_puts(" mode ");
    trec_uart_puts(trec_mode_name);
    trec_uart_puts(" board ");
    trec_uart_puts(trec_board_name);
    trec_uart_puts("\n");
    for (i = 0; i < trec_layer_count; i++) {
        trec_uart_puts("layer ");
        trec_uart_puts(trec_layer_names[i]);
        trec_uart_puts(" cycles ");
        trec_uart_put_u32(trec_cycles[i].cycles);
        trec_uart_puts(" clusters ");
        trec_uart_put_u32(trec_cycles[i].clusters);
        trec_uart_puts("\n");
    }
    if (failed) {
        trec_uart_puts("error layer ");
        trec_uart_puts(trec_layer_names[failed - 1]);
        trec_uart_puts(" code ");
        trec_uart_put_i32(trec_error);
        trec_uart_puts("\n");
    }
    trec_uart_puts("done status ");
    trec_uart_put_i32(failed ? trec_error : 0);
    trec_uart_puts("\n");
    trec_status = failed ? TREC_STATUS_ERROR : TREC_STATUS_DONE;
    trec_done = 1u;
    trec_board_sync(); /* a debugger reads the results from memory, not through the D-cache */
    __asm volatile("bkpt #0");
    return failed;
}
