/*
 * trec_rt_profile.h - the runtime's phase hooks for the TREC kernels (trec_profile.h).
 *
 * Named by -DTREC_PROFILE_HEADER='"trec_rt_profile.h"' unless the build has --no-profile.
 * BEGIN stores DWT CYCCNT for the phase, END adds the elapsed cycles to the phase slot of
 * the layer being run (trec_phase_slots, set by the generated model around each layer).
 * Included before trec_profile.h defines trec_phase, so ids are plain integers here.
 */
#ifndef TREC_RT_PROFILE_H
#define TREC_RT_PROFILE_H

#include <stdint.h>

extern uint32_t *volatile trec_phase_slots;
extern uint32_t trec_phase_start[];

#define TREC_RT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define TREC_PHASE_BEGIN(id) ((void)(trec_phase_start[(id)] = TREC_RT_CYCCNT))
#define TREC_PHASE_END(id)                                                           \
    ((void)(trec_phase_slots ? (trec_phase_slots[(id)] += TREC_RT_CYCCNT - trec_phase_start[(id)]) : 0u))

#endif /* TREC_RT_PROFILE_H */
