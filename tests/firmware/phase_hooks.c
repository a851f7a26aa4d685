/* Test-only TREC_PHASE_BEGIN/END hooks: counts and nesting checks, built into a separate
 * host library with -DTREC_PROFILE_HEADER='"phase_hooks.h"' (see test_trec_convolve_s8.py). */
#include <stdint.h>

#include "phase_hooks.h"

int32_t trec_test_phase_begins[8];
int32_t trec_test_phase_ends[8];
int32_t trec_test_phase_errors;
static int32_t open_phase = -1;

void trec_test_phase_begin(int32_t id)
{
    if (id < 0 || id >= 8 || open_phase != -1) {
        trec_test_phase_errors++;
        return;
    }
    open_phase = id;
    trec_test_phase_begins[id]++;
}

void trec_test_phase_end(int32_t id)
{
    if (id < 0 || id >= 8 || open_phase != id) {
        trec_test_phase_errors++;
        return;
    }
    open_phase = -1;
    trec_test_phase_ends[id]++;
}
