/* trec_common.c - phases shared by trec_convolve_s8 and trec_se_convolve_s8. */
#include <string.h>

#include "trec_nn_dsp.h"
#include "trec_nn_math.h"
#include "trec_nn_support.h"
#include "trecsim_nn.h"
#include "trec_profile.h"

#ifdef TREC_NN_STATS
trec_nn_stats_t trec_nn_stats;
#endif

int32_t trec_check_trec_args(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c, int32_t kernel,
                             int32_t stride, int32_t padding, int32_t act_min, int32_t act_max, int32_t sub_len,
                             int32_t hash_bits)
{
    int32_t k, positions;
    if (trec_check_conv_args(input_h, input_w, input_c, output_c, kernel, stride, padding, act_min, act_max)) {
        return -1;
    }
    k = kernel * kernel * input_c;
    positions = trec_out_size(input_h, kernel, stride, padding) * trec_out_size(input_w, kernel, stride, padding);
    if (sub_len < 1 || k % sub_len != 0 || hash_bits < 1 || hash_bits > TREC_NN_MAX_HASH_BITS ||
        positions > 65535) {
        return -1;
    }
    return 0;
}

void trec_acc_init(int32_t *acc, int32_t positions, int32_t output_c, const int32_t *bias)
{
    int32_t p;
    if (!bias) {
        memset(acc, 0, (size_t)positions * (size_t)output_c * sizeof(int32_t));
        return;
    }
    /* one bias row per position (the C library's word copy) */
    for (p = 0; p < positions; p++) {
        memcpy(acc + p * output_c, bias, (size_t)output_c * sizeof(int32_t));
    }
}

void trec_centroid_gemm(const int16_t *cents, int32_t cent_stride, int32_t n_clusters, const int8_t *w_m,
                        int32_t weight_stride, int32_t len, int32_t output_c, int32_t *t)
{
    int32_t s, o;
    /* 2 clusters x 2 output channels per inner loop */
    for (s = 0; s + 1 < n_clusters; s += 2) {
        const int16_t *c0 = cents + s * cent_stride;
        const int16_t *c1 = c0 + cent_stride;
        int32_t *t0 = t + s * output_c;
        int32_t *t1 = t0 + output_c;
        for (o = 0; o + 1 < output_c; o += 2) {
            const int8_t *w0 = w_m + o * weight_stride;
            int32_t sum[4] = {0, 0, 0, 0};
            trec_dot_q15_s8_2x2(c0, c1, w0, w0 + weight_stride, len, sum);
            t0[o] = sum[0];
            t0[o + 1] = sum[1];
            t1[o] = sum[2];
            t1[o + 1] = sum[3];
        }
        if (o < output_c) {
            const int8_t *w0 = w_m + o * weight_stride;
            t0[o] = trec_dot_q15_s8_1x1(c0, w0, len, 0);
            t1[o] = trec_dot_q15_s8_1x1(c1, w0, len, 0);
        }
    }
    if (s < n_clusters) {
        const int16_t *c0 = cents + s * cent_stride;
        int32_t *t0 = t + s * output_c;
        for (o = 0; o + 1 < output_c; o += 2) {
            const int8_t *w0 = w_m + o * weight_stride;
            int32_t sum[2] = {0, 0};
            trec_dot_q15_s8_1x2(c0, w0, w0 + weight_stride, len, sum);
            t0[o] = sum[0];
            t0[o + 1] = sum[1];
        }
        if (o < output_c) {
            t0[o] = trec_dot_q15_s8_1x1(c0, w_m + o * weight_stride, len, 0);
        }
    }
}

#if TREC_NN_DSP_NATIVE
/* one pair step of the 2 x 4 block: rows' words into r8/r9, weight words through r10, sums r0-r3
 * (row 0) and r4-r7 (row 1) */
#define TREC_GEMM_STEP(op, acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7) \
    "ldr r9, [r11, #4]\n\t"                                                \
    "ldr r8, [r11], #8\n\t"                                                \
    "ldr r10, [r12], #4\n\t"                                               \
    op " r0, r8, r10" acc0 "\n\t"                                          \
    op " r4, r9, r10" acc4 "\n\t"                                          \
    "ldr r10, [r12], #4\n\t"                                               \
    op " r1, r8, r10" acc1 "\n\t"                                          \
    op " r5, r9, r10" acc5 "\n\t"                                          \
    "ldr r10, [r12], #4\n\t"                                               \
    op " r2, r8, r10" acc2 "\n\t"                                          \
    op " r6, r9, r10" acc6 "\n\t"                                          \
    "ldr r10, [r12], #4\n\t"                                               \
    op " r3, r8, r10" acc3 "\n\t"                                          \
    op " r7, r9, r10" acc7 "\n\t"
#define TREC_GEMM_FIRST TREC_GEMM_STEP("smuad", "", "", "", "", "", "", "", "")
#define TREC_GEMM_NEXT \
    TREC_GEMM_STEP("smlad", ", r0", ", r1", ", r2", ", r3", ", r4", ", r5", ", r6", ", r7")
#endif

/* sat16(x >> rb): the int16 recovery's narrowing of one T value (SSAT on the core) */
static inline int16_t trec_narrow16(int32_t x, int32_t rb)
{
    int32_t v = x >> rb;
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

void trec_centroid_gemm_w4_2i(const int16_t *cents2, int32_t pairs, const int16_t *w4, int32_t output_c, int32_t rb,
                              int16_t *t16)
{
    const int32_t c2 = (output_c + 1) & ~(int32_t)1; /* row stride: row 1 stays word aligned */
    int16_t *t0 = t16, *t1 = t16 + c2;
    int32_t o;
#if TREC_NN_DSP_NATIVE
    /* whole groups of four channels straight into the two T rows: one asm loop over the groups
     * (all 14 registers hold the block; its loop state lives in the stack slots of `st`: the rows,
     * the pairs, this group's row 0 in T, the groups left, the row stride, rb), the eight sums
     * narrowed to sat16(sum >> rb) (ASR by register, SSAT #16), packed in pairs (PKHBT) and each row's
     * four stored with one STM of two words; the block is trec_dot_q15i_w4_2x4's (first pair SMUAD,
     * then SMLAD, two pairs per trip) */
    o = output_c & ~(int32_t)3;
    if (o > 0) {
        const int16_t *w = w4;
        int32_t st[6];
        st[0] = (int32_t)(intptr_t)cents2;
        st[1] = pairs;
        st[2] = (int32_t)(intptr_t)t0;
        st[3] = output_c >> 2;
        st[4] = c2 * (int32_t)sizeof(int16_t);
        st[5] = rb;
        __asm__ volatile("ldr r12, %[w]\n"
                         "1:\n\t"
                         "ldr r11, %[a]\n\t"
                         "ldr lr, %[n]\n\t"
                         TREC_GEMM_FIRST
                         "subs lr, lr, #1\n\t"
                         "beq 4f\n\t"
                         "tst lr, #1\n\t"
                         "beq 3f\n\t"
                         TREC_GEMM_NEXT
                         "subs lr, lr, #1\n\t"
                         "beq 4f\n"
                         "3:\n\t"
                         TREC_GEMM_NEXT
                         TREC_GEMM_NEXT
                         "subs lr, lr, #2\n\t"
                         "bne 3b\n"
                         "4:\n\t"
                         "ldr r10, %[rb]\n\t"
                         "asr r0, r0, r10\n\t"
                         "asr r1, r1, r10\n\t"
                         "asr r2, r2, r10\n\t"
                         "asr r3, r3, r10\n\t"
                         "asr r4, r4, r10\n\t"
                         "asr r5, r5, r10\n\t"
                         "asr r6, r6, r10\n\t"
                         "asr r7, r7, r10\n\t"
                         "ssat r0, #16, r0\n\t"
                         "ssat r1, #16, r1\n\t"
                         "ssat r2, #16, r2\n\t"
                         "ssat r3, #16, r3\n\t"
                         "ssat r4, #16, r4\n\t"
                         "ssat r5, #16, r5\n\t"
                         "ssat r6, #16, r6\n\t"
                         "ssat r7, #16, r7\n\t"
                         "pkhbt r0, r0, r1, lsl #16\n\t"
                         "pkhbt r1, r2, r3, lsl #16\n\t"
                         "pkhbt r4, r4, r5, lsl #16\n\t"
                         "pkhbt r5, r6, r7, lsl #16\n\t"
                         "ldr r8, %[t0]\n\t"
                         "ldr r9, %[rs]\n\t"
                         "stmia r8, {r0, r1}\n\t"
                         "add r9, r8, r9\n\t"
                         "stmia r9, {r4, r5}\n\t"
                         "add r8, r8, #8\n\t"
                         "str r8, %[t0]\n\t"
                         "ldr r8, %[g]\n\t"
                         "subs r8, r8, #1\n\t"
                         "str r8, %[g]\n\t"
                         "bne 1b\n\t"
                         "str r12, %[w]"
                         : [w] "+m"(w), [t0] "+m"(st[2]), [g] "+m"(st[3])
                         : [a] "m"(st[0]), [n] "m"(st[1]), [rs] "m"(st[4]), [rb] "m"(st[5])
                         : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
                           "cc", "memory");
        w4 = w;
    }
#else
    /* whole groups of four channels straight into the two T rows */
    for (o = 0; o + 4 <= output_c; o += 4, w4 += 8 * pairs) {
        int32_t r0[4], r1[4], c;
        trec_dot_q15i_w4_2x4(cents2, w4, pairs, r0, r1);
        for (c = 0; c < 4; c++) {
            t0[o + c] = trec_narrow16(r0[c], rb);
            t1[o + c] = trec_narrow16(r1[c], rb);
        }
    }
#endif
    if (o < output_c) {
        /* a partial last group (its weight rows past output_c are 0) */
        int32_t r0[4], r1[4], c;
        trec_dot_q15i_w4_2x4(cents2, w4, pairs, r0, r1);
        for (c = 0; o + c < output_c; c++) {
            t0[o + c] = trec_narrow16(r0[c], rb);
            t1[o + c] = trec_narrow16(r1[c], rb);
        }
    }
}

void trec_hash4_q15i_w4_2x4(const int16_t *rows, int32_t pairs, const int16_t *w4g, int32_t n2, uint16_t *ids,
                            int32_t shift, const int32_t *t4)
{
#if TREC_NN_DSP_NATIVE
    /* one asm loop over the row pairs: the rows pointer stays in r11 (each block consumes exactly one
     * row pair); w4g, the pairs, the shift, the pairs left and the ids pointer live in the stack
     * slots of `st` (all 14 registers hold the block), reloaded per row pair; the
     * eight sums, less the four thresholds t4 (LDM into the registers the block no longer needs,
     * one SUB each), become a word of bits (row 0 in bits 0-3, row 1 in 16-19) by USAT #1 and shifted
     * ORRs, shifted by `shift` and ORed into ids[2q], ids[2q + 1] with one word access */
    int32_t st[6];
    if (n2 <= 0) {
        return;
    }
    st[0] = (int32_t)(intptr_t)w4g;
    st[1] = pairs;
    st[2] = shift;
    st[3] = n2;
    st[4] = (int32_t)(intptr_t)ids;
    st[5] = (int32_t)(intptr_t)t4;
    __asm__ volatile("ldr r11, %[a]\n"
                     "1:\n\t"
                     "ldr r12, %[w]\n\t"
                     "ldr lr, %[n]\n\t"
                     TREC_GEMM_FIRST
                     "subs lr, lr, #1\n\t"
                     "beq 4f\n\t"
                     "tst lr, #1\n\t"
                     "beq 3f\n\t"
                     TREC_GEMM_NEXT
                     "subs lr, lr, #1\n\t"
                     "beq 4f\n"
                     "3:\n\t"
                     TREC_GEMM_NEXT
                     TREC_GEMM_NEXT
                     "subs lr, lr, #2\n\t"
                     "bne 3b\n"
                     "4:\n\t"
                     "ldr r12, %[t4]\n\t"
                     "ldmia r12, {r8, r9, r10, lr}\n\t"
                     "sub r0, r0, r8\n\t"
                     "sub r4, r4, r8\n\t"
                     "sub r1, r1, r9\n\t"
                     "sub r5, r5, r9\n\t"
                     "sub r2, r2, r10\n\t"
                     "sub r6, r6, r10\n\t"
                     "sub r3, r3, lr\n\t"
                     "sub r7, r7, lr\n\t"
                     "usat r8, #1, r0\n\t"
                     "usat r9, #1, r1\n\t"
                     "orr r8, r8, r9, lsl #1\n\t"
                     "usat r9, #1, r2\n\t"
                     "orr r8, r8, r9, lsl #2\n\t"
                     "usat r9, #1, r3\n\t"
                     "orr r8, r8, r9, lsl #3\n\t"
                     "usat r9, #1, r4\n\t"
                     "orr r8, r8, r9, lsl #16\n\t"
                     "usat r9, #1, r5\n\t"
                     "orr r8, r8, r9, lsl #17\n\t"
                     "usat r9, #1, r6\n\t"
                     "orr r8, r8, r9, lsl #18\n\t"
                     "usat r9, #1, r7\n\t"
                     "orr r8, r8, r9, lsl #19\n\t"
                     "ldr r9, %[sh]\n\t"
                     "ldr r10, %[ids]\n\t"
                     "lsl r8, r8, r9\n\t"
                     "ldr r9, [r10]\n\t"
                     "orr r9, r9, r8\n\t"
                     "str r9, [r10], #4\n\t"
                     "str r10, %[ids]\n\t"
                     "ldr r8, %[g]\n\t"
                     "subs r8, r8, #1\n\t"
                     "str r8, %[g]\n\t"
                     "bne 1b"
                     : [g] "+m"(st[3]), [ids] "+m"(st[4])
                     : [a] "m"(rows), [w] "m"(st[0]), [n] "m"(st[1]), [sh] "m"(st[2]), [t4] "m"(st[5])
                     : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
                       "cc", "memory");
#else
    int32_t q;
    for (q = 0; q < n2; q++, rows += 4 * pairs) {
        int32_t r0[4], r1[4];
        uint32_t b0 = 0, b1 = 0, c;
        trec_dot_q15i_w4_2x4(rows, w4g, pairs, r0, r1);
        for (c = 0; c < 4; c++) {
            b0 |= trec_usat1(r0[c] - t4[c]) << c;
            b1 |= trec_usat1(r1[c] - t4[c]) << c;
        }
        ids[2 * q] = (uint16_t)(ids[2 * q] | b0 << shift);
        ids[2 * q + 1] = (uint16_t)(ids[2 * q + 1] | b1 << shift);
    }
#endif
}

void trec_recovery(int32_t *acc, const uint16_t *cluster_of, int32_t positions, const int32_t *t, int32_t output_c)
{
    int32_t p, o;
    for (p = 0; p < positions; p++) {
        const int32_t *tc = t + (int32_t)cluster_of[p] * output_c;
        for (o = 0; o < output_c; o++) {
            acc[o] = trec_add_wrap(acc[o], tc[o]);
        }
        acc += output_c;
    }
}

void trec_acc_requantize(const int32_t *acc, int32_t positions, int32_t output_c, const int32_t *multiplier,
                         const int32_t *shift, int32_t output_offset, int32_t act_min, int32_t act_max,
                         int8_t *output)
{
    int32_t p, o;
    for (p = 0; p < positions; p++) {
        for (o = 0; o < output_c; o++) {
            *output++ = trec_requantize_clamp(*acc++, multiplier[o], shift[o], output_offset, act_min, act_max);
        }
    }
}
