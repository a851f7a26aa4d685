/* Test-only profile header for the TREC kernels (see trec_profile.h, TREC_PROFILE_HEADER). */
#ifndef PHASE_HOOKS_H
#define PHASE_HOOKS_H

#include <stdint.h>

void trec_test_phase_begin(int32_t id);
void trec_test_phase_end(int32_t id);

#define TREC_PHASE_BEGIN(id) trec_test_phase_begin(id)
#define TREC_PHASE_END(id) trec_test_phase_end(id)

#endif
