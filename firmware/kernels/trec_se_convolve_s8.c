/*
 * trec_se_convolve_s8.c - space-efficient TREC (TREC.md, "Space efficiency").
 *
 *  - Kernel reuse: the hash of sub-matrix m is R_m[l][j] = weight[j][m*L + l], the first H
 *    output channels restricted to chunk m; no hash matrix in flash, and hashing is the same
 *    SMLAD dot product as the GEMM.
 *  - Reversed ID table: table[ID] -> slot on the cluster stack, 2^H uint16 at offset 0 of the
 *    scratch buffer. It is never cleared, not even once: an entry is trusted only if
 *    slot < n_slots && slot_id[slot] == ID (the "sparse set" check), so whatever the entry
 *    holds from an earlier sub-matrix, layer or call is harmless. Each sub-matrix writes
 *    exactly one entry per cluster.
 *  - Two-step stack: slots first accumulate member sums (int32, in the reordered q15 order
 *    of the chunk), then each slot's sums are replaced in place by its centroid (int16, in
 *    the first half of the slot) with the rounding mean. Slots are bounded by min(N, 2^H).
 *  - No S x C_out table of centroid products: the positions are grouped by slot with a
 *    counting sort (order[], with counts[] turned into each slot's first index in order[]),
 *    then the slots are taken two at a time (the 2x2 SMLAD blocking of trec_centroid_gemm):
 *    their two rows T_s = cent_s . W_m are computed into a 2 x C_out scratch and added at once
 *    to the accumulator rows of their members. Every position still receives exactly one
 *    wrapping add per sub-matrix, in sub-matrix order, so acc is bit for bit what the
 *    table-then-recovery order gives.
 *
 * Scratch layout (each part 4-byte aligned), N positions, S = min(N, 2^H), L2 = L rounded up
 * to even:
 *   table uint16 2^H | acc int32 N x C_out | slots int32 S x L2
 *   | work: max(chunk int16 N x L2, order uint16 N + T int32 2 x C_out)
 *   | cluster_of uint16 N | slot_id uint16 S | counts uint16 S
 * The chunk is dead once its rows are summed into the slots (end of the cluster loop), so
 * order[] and the two T rows reuse its bytes. acc lives through every sub-matrix and cannot
 * share anything.
 *
 * Phases: centroid_gemm and recovery interleave per pair of slots; each pair brackets its GEMM
 * with TREC_PHASE_BEGIN/END(CENTROID_GEMM) and its member adds with ..(RECOVERY), and the
 * hooks accumulate (trec_rt_profile.h adds each END's elapsed cycles to the phase slot), so the
 * two phases still total their own work: ceil(S_m / 2) begin/end pairs each per sub-matrix.
 * The counting sort belongs to the cluster phase.
 */
#include <string.h>

#include "trec_nn_dsp.h"
#include "trec_nn_math.h"
#include "trec_nn_support.h"
#include "trec_profile.h"
#include "trecsim_nn.h"

typedef struct {
    uint16_t *table;
    int32_t *acc, *slots, *t;
    int16_t *chunk;
    uint16_t *order, *cluster_of, *slot_id, *counts;
    int32_t bytes;
} se_layout;

static se_layout se_layout_of(void *buffer, int32_t positions, int32_t output_c, int32_t sub_len, int32_t hash_bits)
{
    se_layout l;
    const int32_t table = (int32_t)1 << hash_bits;
    const int32_t slots = positions < table ? positions : table;
    const int32_t l2 = (sub_len + 1) & ~(int32_t)1;
    int8_t *base = (int8_t *)buffer;
    int32_t at = 0;
#define TAKE(field, type, count)                                       \
    l.field = base ? (type *)(void *)(base + at) : (type *)0;          \
    at += TREC_ALIGN4((int32_t)sizeof(type) * (count))
    int32_t work, chunk_bytes, rows_bytes;
    TAKE(table, uint16_t, table);
    TAKE(acc, int32_t, positions * output_c);
    TAKE(slots, int32_t, slots * l2);
    /* work area: the chunk, later order[] + the two T rows (see the layout above) */
    work = at;
    TAKE(chunk, int16_t, positions * l2);
    chunk_bytes = at - work;
    at = work;
    TAKE(order, uint16_t, positions);
    TAKE(t, int32_t, 2 * output_c);
    rows_bytes = at - work;
    at = work + (chunk_bytes > rows_bytes ? chunk_bytes : rows_bytes);
    TAKE(cluster_of, uint16_t, positions);
    TAKE(slot_id, uint16_t, slots);
    TAKE(counts, uint16_t, slots);
#undef TAKE
    l.bytes = at;
    return l;
}

/* one past the last index of slot s's members in order[] (counts[] holds each slot's first) */
static int32_t se_slot_end(const se_layout *b, int32_t s, int32_t n_slots, int32_t positions)
{
    return s + 1 < n_slots ? (int32_t)b->counts[s + 1] : positions;
}

int32_t trec_se_convolve_s8_get_buffer_size(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c,
                                            int32_t kernel, int32_t stride, int32_t padding, int32_t sub_len,
                                            int32_t hash_bits)
{
    const int32_t oh = trec_out_size(input_h, kernel, stride, padding);
    const int32_t ow = trec_out_size(input_w, kernel, stride, padding);
    (void)input_c;
    if (oh < 1 || ow < 1 || sub_len < 1 || hash_bits < 1 || hash_bits > TREC_NN_MAX_HASH_BITS) {
        return 0;
    }
    return se_layout_of(0, oh * ow, output_c, sub_len, hash_bits).bytes;
}

int32_t trec_se_convolve_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c,
                            int32_t input_offset, const int8_t *weight, int32_t output_c, int32_t kernel,
                            const int32_t *bias, int32_t output_offset, const int32_t *multiplier,
                            const int32_t *shift, int32_t stride, int32_t padding, int32_t act_min,
                            int32_t act_max, int32_t sub_len, int32_t hash_bits, void *buffer, int8_t *output,
                            uint16_t *clusters)
{
    int32_t output_h, output_w, positions, k, n_sub, l2, m, p;
    se_layout b;
    if (trec_check_trec_args(input_h, input_w, input_c, output_c, kernel, stride, padding, act_min, act_max,
                             sub_len, hash_bits) ||
        hash_bits > output_c || buffer == 0) {
        return TREC_NN_ARG_ERROR;
    }
    output_h = trec_out_size(input_h, kernel, stride, padding);
    output_w = trec_out_size(input_w, kernel, stride, padding);
    positions = output_h * output_w;
    k = kernel * kernel * input_c;
    n_sub = k / sub_len;
    l2 = (sub_len + 1) & ~(int32_t)1;
    b = se_layout_of(buffer, positions, output_c, sub_len, hash_bits);
    trec_acc_init(b.acc, positions, output_c, bias);

    for (m = 0; m < n_sub; m++) {
        const int32_t k0 = m * sub_len;
        const int8_t *w_m = weight + k0; /* W_m[l][o] = w_m[o * k + l] */
        int32_t n_slots = 0, s, l, run;

        /* im2col of chunk m only: chunk[p] = v_{p,m}, reordered q15 */
        TREC_PHASE_BEGIN(TREC_PHASE_IM2COL);
        for (p = 0; p < positions; p++) {
            const int32_t oy = p / output_w, ox = p - (p / output_w) * output_w;
            int16_t *v = b.chunk + p * l2;
            trec_im2col_chunk_q15(input, input_h, input_w, input_c, kernel, oy * stride - padding,
                                  ox * stride - padding, k0, sub_len, (int16_t)input_offset, v);
            trec_q15_reorder(v, sub_len);
        }
        TREC_PHASE_END(TREC_PHASE_IM2COL);

        /* hash with kernel reuse: bit j = [v_{p,m} . W_m[:, j] > 0], two projections per loop */
        TREC_PHASE_BEGIN(TREC_PHASE_HASH);
        for (p = 0; p < positions; p++) {
            const int16_t *v = b.chunk + p * l2;
            int32_t j, id = 0;
            for (j = 0; j + 1 < hash_bits; j += 2) {
                int32_t proj[2] = {0, 0};
                trec_dot_q15_s8_1x2(v, w_m + j * k, w_m + (j + 1) * k, sub_len, proj);
                id |= ((proj[0] > 0) << j) | ((proj[1] > 0) << (j + 1));
            }
            if (j < hash_bits) {
                id |= (trec_dot_q15_s8_1x1(v, w_m + j * k, sub_len, 0) > 0) << j;
            }
            b.cluster_of[p] = (uint16_t)id;
        }
        TREC_PHASE_END(TREC_PHASE_HASH);

        /* cluster: reversed ID table (never cleared) -> slot; push new slots; accumulate sums */
        TREC_PHASE_BEGIN(TREC_PHASE_CLUSTER);
        for (p = 0; p < positions; p++) {
            const int16_t *v = b.chunk + p * l2;
            const uint16_t id = b.cluster_of[p];
            int32_t *sum;
            s = b.table[id];
            if (s >= n_slots || b.slot_id[s] != id) {
                s = n_slots++;
                b.table[id] = (uint16_t)s;
                TREC_NN_STAT_ADD(table_writes, 1);
                b.slot_id[s] = id;
                b.counts[s] = 0;
                memset(b.slots + s * l2, 0, sizeof(int32_t) * (size_t)sub_len);
            }
            b.counts[s]++;
            sum = b.slots + s * l2;
            for (l = 0; l < sub_len; l++) {
                sum[l] += v[l];
            }
            b.cluster_of[p] = (uint16_t)s;
        }
        /* group the positions by slot (counting sort; the chunk is dead, order[] takes its bytes):
         * counts[s] -> end of slot s in order[], then filled backwards down to its start, so
         * members of slot s are order[counts[s] .. slot_end(s)), in increasing position */
        for (s = 0, run = 0; s < n_slots; s++) {
            run += b.counts[s];
            b.counts[s] = (uint16_t)run;
        }
        for (p = positions - 1; p >= 0; p--) {
            b.order[--b.counts[b.cluster_of[p]]] = (uint16_t)p;
        }
        TREC_PHASE_END(TREC_PHASE_CLUSTER);

        /* centroid: replace each slot's int32 sums by int16 means in place (index l of the int16
         * view lies in bytes [2l, 2l + 2), at or before int32 element l, which was already read);
         * memcpy keeps the type-punned accesses well defined */
        TREC_PHASE_BEGIN(TREC_PHASE_CENTROID);
        for (s = 0; s < n_slots; s++) {
            uint8_t *slot = (uint8_t *)(b.slots + s * l2);
            const int32_t count = se_slot_end(&b, s, n_slots, positions) - b.counts[s];
            for (l = 0; l < sub_len; l++) {
                int32_t sum;
                int16_t cent;
                memcpy(&sum, slot + 4 * l, sizeof sum);
                cent = (int16_t)trec_rounding_divide(sum, count);
                memcpy(slot + 2 * l, &cent, sizeof cent);
            }
        }
        TREC_PHASE_END(TREC_PHASE_CENTROID);

        /* two slots at a time: T_s = cent_s . W_m into the 2 x C_out rows (2 slots x 2 channels
         * per loop, slot stride 2 * L2 int16), then acc[p] += T_{slot(p)} for their members */
        for (s = 0; s < n_slots; s += 2) {
            const int32_t pair = n_slots - s < 2 ? n_slots - s : 2;
            int32_t q;
            TREC_PHASE_BEGIN(TREC_PHASE_CENTROID_GEMM);
            trec_centroid_gemm((const int16_t *)(const void *)(b.slots + s * l2), 2 * l2, pair, w_m, k, sub_len,
                               output_c, b.t);
            TREC_PHASE_END(TREC_PHASE_CENTROID_GEMM);

            TREC_PHASE_BEGIN(TREC_PHASE_RECOVERY);
            for (q = 0; q < pair; q++) {
                const int32_t *tc = b.t + q * output_c;
                const int32_t end = se_slot_end(&b, s + q, n_slots, positions);
                int32_t i, o;
                for (i = b.counts[s + q]; i < end; i++) {
                    int32_t *acc = b.acc + (int32_t)b.order[i] * output_c;
                    for (o = 0; o < output_c; o++) {
                        acc[o] = trec_add_wrap(acc[o], tc[o]);
                    }
                }
            }
            TREC_PHASE_END(TREC_PHASE_RECOVERY);
        }

        if (clusters) {
            clusters[m] = (uint16_t)n_slots;
        }
    }

    TREC_PHASE_BEGIN(TREC_PHASE_REQUANTIZE);
    trec_acc_requantize(b.acc, positions, output_c, multiplier, shift, output_offset, act_min, act_max, output);
    TREC_PHASE_END(TREC_PHASE_REQUANTIZE);
    return TREC_NN_SUCCESS;
}
