/* profile.c - storage of the phase hooks (trec_rt_profile.h). */
#include "trec_runtime.h"

uint32_t *volatile trec_phase_slots;
uint32_t trec_phase_start[TREC_PHASE_COUNT];
