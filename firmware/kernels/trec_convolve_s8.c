/*
 * trec_convolve_s8.c - plain TREC convolution with its own hash matrix (TREC.md).
 *
 * Deliberately straightforward buffers (the comparison point for the space-efficient
 * version): the full N x K im2col, a dense 2^H ID -> cluster table cleared for every
 * sub-matrix, member sums and centroids in separate arrays.
 *
 * Scratch layout (each part 4-byte aligned), N positions, S = min(N, 2^H) clusters:
 *   acc  int32 N x C_out | T int32 S x C_out | sums int32 S x L | cols int16 N x K
 *   cents int16 S x L2 (L2 = L rounded up to even) | cluster_of uint16 N | table uint16 2^H
 *   counts uint16 S
 */
#include <string.h>

#include "trec_nn_math.h"
#include "trec_nn_support.h"
#include "trec_profile.h"
#include "trecsim_nn.h"

#define TABLE_EMPTY 0xFFFFu

typedef struct {
    int32_t *acc, *t, *sums;
    int16_t *cols, *cents;
    uint16_t *cluster_of, *table, *counts;
    int32_t bytes;
} plain_layout;

static plain_layout plain_layout_of(void *buffer, int32_t positions, int32_t k, int32_t output_c, int32_t sub_len,
                                    int32_t hash_bits)
{
    plain_layout l;
    const int32_t table = (int32_t)1 << hash_bits;
    const int32_t slots = positions < table ? positions : table;
    const int32_t l2 = (sub_len + 1) & ~(int32_t)1;
    int8_t *base = (int8_t *)buffer;
    int32_t at = 0;
#define TAKE(field, type, count)                                       \
    l.field = base ? (type *)(void *)(base + at) : (type *)0;          \
    at += TREC_ALIGN4((int32_t)sizeof(type) * (count))
    TAKE(acc, int32_t, positions * output_c);
    TAKE(t, int32_t, slots * output_c);
    TAKE(sums, int32_t, slots * sub_len);
    TAKE(cols, int16_t, positions * k);
    TAKE(cents, int16_t, slots * l2);
    TAKE(cluster_of, uint16_t, positions);
    TAKE(table, uint16_t, table);
    TAKE(counts, uint16_t, slots);
#undef TAKE
    l.bytes = at;
    return l;
}

int32_t trec_convolve_s8_get_buffer_size(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c,
                                         int32_t kernel, int32_t stride, int32_t padding, int32_t sub_len,
                                         int32_t hash_bits)
{
    const int32_t oh = trec_out_size(input_h, kernel, stride, padding);
    const int32_t ow = trec_out_size(input_w, kernel, stride, padding);
    if (oh < 1 || ow < 1 || sub_len < 1 || hash_bits < 1 || hash_bits > TREC_NN_MAX_HASH_BITS) {
        return 0;
    }
    return plain_layout_of(0, oh * ow, kernel * kernel * input_c, output_c, sub_len, hash_bits).bytes;
}

int32_t trec_convolve_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c,
                         int32_t input_offset, const int8_t *weight, int32_t output_c, int32_t kernel,
                         const int32_t *bias, int32_t output_offset, const int32_t *multiplier,
                         const int32_t *shift, int32_t stride, int32_t padding, int32_t act_min, int32_t act_max,
                         int32_t sub_len, int32_t hash_bits, const int8_t *hash_matrix, void *buffer,
                         int8_t *output, uint16_t *clusters)
{
    int32_t output_h, output_w, positions, k, n_sub, l2, m, p;
    plain_layout b;
    if (trec_check_trec_args(input_h, input_w, input_c, output_c, kernel, stride, padding, act_min, act_max,
                             sub_len, hash_bits) ||
        buffer == 0 || hash_matrix == 0) {
        return TREC_NN_ARG_ERROR;
    }
    output_h = trec_out_size(input_h, kernel, stride, padding);
    output_w = trec_out_size(input_w, kernel, stride, padding);
    positions = output_h * output_w;
    k = kernel * kernel * input_c;
    n_sub = k / sub_len;
    l2 = (sub_len + 1) & ~(int32_t)1;
    b = plain_layout_of(buffer, positions, k, output_c, sub_len, hash_bits);

    /* im2col of the whole input: cols[p] = v of patch p, natural (kh, kw, c_in) order */
    TREC_PHASE_BEGIN(TREC_PHASE_IM2COL);
    for (p = 0; p < positions; p++) {
        const int32_t oy = p / output_w, ox = p - (p / output_w) * output_w;
        trec_im2col_patch_q15(input, input_h, input_w, input_c, kernel, oy * stride - padding, ox * stride - padding,
                              (int16_t)input_offset, b.cols + p * k);
    }
    TREC_PHASE_END(TREC_PHASE_IM2COL);
    trec_acc_init(b.acc, positions, output_c, bias);

    for (m = 0; m < n_sub; m++) {
        const int32_t k0 = m * sub_len;
        int32_t n_clusters = 0, s, l;

        /* hash: ID_p = sum_j [v_{p,m} . R[:, j] > 0] << j */
        TREC_PHASE_BEGIN(TREC_PHASE_HASH);
        for (p = 0; p < positions; p++) {
            const int16_t *v = b.cols + p * k + k0;
            int32_t proj[TREC_NN_MAX_HASH_BITS];
            int32_t j, id = 0;
            for (j = 0; j < hash_bits; j++) {
                proj[j] = 0;
            }
            for (l = 0; l < sub_len; l++) {
                const int8_t *r = hash_matrix + l * hash_bits;
                for (j = 0; j < hash_bits; j++) {
                    proj[j] += v[l] * r[j];
                }
            }
            for (j = 0; j < hash_bits; j++) {
                id |= (proj[j] > 0) << j;
            }
            b.cluster_of[p] = (uint16_t)id;
        }
        TREC_PHASE_END(TREC_PHASE_HASH);

        /* cluster: dense ID -> cluster table, cleared for this sub-matrix; member counts and sums */
        TREC_PHASE_BEGIN(TREC_PHASE_CLUSTER);
        memset(b.table, 0xFF, sizeof(uint16_t) << hash_bits);
        TREC_NN_STAT_ADD(table_clears, 1);
        TREC_NN_STAT_ADD(table_writes, (uint32_t)1 << hash_bits);
        for (p = 0; p < positions; p++) {
            const int16_t *v = b.cols + p * k + k0;
            const uint16_t id = b.cluster_of[p];
            int32_t *sum;
            s = b.table[id];
            if (s == (int32_t)TABLE_EMPTY) {
                s = n_clusters++;
                b.table[id] = (uint16_t)s;
                TREC_NN_STAT_ADD(table_writes, 1);
                b.counts[s] = 0;
                memset(b.sums + s * sub_len, 0, sizeof(int32_t) * (size_t)sub_len);
            }
            b.counts[s]++;
            sum = b.sums + s * sub_len;
            for (l = 0; l < sub_len; l++) {
                sum[l] += v[l];
            }
            b.cluster_of[p] = (uint16_t)s;
        }
        TREC_PHASE_END(TREC_PHASE_CLUSTER);

        /* centroid: rounded means, stored reordered for the SMLAD GEMM */
        TREC_PHASE_BEGIN(TREC_PHASE_CENTROID);
        for (s = 0; s < n_clusters; s++) {
            const int32_t *sum = b.sums + s * sub_len;
            int16_t *cent = b.cents + s * l2;
            for (l = 0; l < sub_len; l++) {
                cent[l] = (int16_t)trec_rounding_divide(sum[l], b.counts[s]);
            }
            trec_q15_reorder(cent, sub_len);
        }
        TREC_PHASE_END(TREC_PHASE_CENTROID);

        TREC_PHASE_BEGIN(TREC_PHASE_CENTROID_GEMM);
        trec_centroid_gemm(b.cents, l2, n_clusters, weight + k0, k, sub_len, output_c, b.t);
        TREC_PHASE_END(TREC_PHASE_CENTROID_GEMM);

        TREC_PHASE_BEGIN(TREC_PHASE_RECOVERY);
        trec_recovery(b.acc, b.cluster_of, positions, b.t, output_c);
        TREC_PHASE_END(TREC_PHASE_RECOVERY);

        if (clusters) {
            clusters[m] = (uint16_t)n_clusters;
        }
    }

    TREC_PHASE_BEGIN(TREC_PHASE_REQUANTIZE);
    trec_acc_requantize(b.acc, positions, output_c, multiplier, shift, output_offset, act_min, act_max, output);
    TREC_PHASE_END(TREC_PHASE_REQUANTIZE);
    return TREC_NN_SUCCESS;
}
