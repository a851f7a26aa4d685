/*
 * trec_profile.h - phase hooks of the TREC kernels (no-ops by default).
 *
 * The TREC convolutions call TREC_PHASE_BEGIN(id) / TREC_PHASE_END(id) around
 * each phase of every sub-matrix, with id one of the trec_phase values below.
 * Firmware that wants per-phase cycles (e.g. from DWT->CYCCNT) either defines
 * both macros on the compiler command line, or names a header of its own with
 * -DTREC_PROFILE_HEADER='"my_profile.h"' which defines them. Whatever they
 * expand to must be a statement-like expression and must not touch the kernel's
 * buffers.
 */
#ifndef TREC_PROFILE_H
#define TREC_PROFILE_H

#ifdef TREC_PROFILE_HEADER
#include TREC_PROFILE_HEADER
#endif

typedef enum {
    TREC_PHASE_IM2COL = 0,        /* patch (or chunk) gathering, v = x + input_offset in int16 */
    TREC_PHASE_HASH = 1,          /* ID = sum_j [v . R[:, j] > 0] << j for every position */
    TREC_PHASE_CLUSTER = 2,       /* ID -> cluster slot, member counts and sums */
    TREC_PHASE_CENTROID = 3,      /* sums -> rounded means */
    TREC_PHASE_CENTROID_GEMM = 4, /* T_c = centroid_c . W_m for every cluster */
    TREC_PHASE_RECOVERY = 5,      /* acc[p] += T_{cluster(p)} */
    TREC_PHASE_REQUANTIZE = 6,    /* bias was folded in; requantize, clamp, store int8 */
    TREC_PHASE_COUNT = 7
} trec_phase;

#ifndef TREC_PHASE_BEGIN
#define TREC_PHASE_BEGIN(id) ((void)0)
#endif
#ifndef TREC_PHASE_END
#define TREC_PHASE_END(id) ((void)0)
#endif

/*
 * Optional counters for tests (-DTREC_NN_STATS): entries of the TREC ID tables written
 * (new clusters and clears). Off by default, then they compile to nothing.
 */
#ifdef TREC_NN_STATS
#include <stdint.h>
typedef struct {
    uint32_t table_writes; /* ID table entries written (a cluster's slot recorded, or an entry cleared) */
    uint32_t table_clears; /* whole-table clears (plain TREC clears its dense table per sub-matrix) */
} trec_nn_stats_t;
extern trec_nn_stats_t trec_nn_stats;
#define TREC_NN_STAT_ADD(field, n) (trec_nn_stats.field += (uint32_t)(n))
#else
#define TREC_NN_STAT_ADD(field, n) ((void)0)
#endif

#endif /* TREC_PROFILE_H */
