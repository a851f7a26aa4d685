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
 *    of the chunk), then each pair of slots' sums are replaced in place by their centroids
 *    (int16, interleaved in the first slot of the pair) with the rounding mean. Slots are bounded by min(N, 2^H).
 *  - No S x C_out table of centroid products: the positions are grouped by slot with a
 *    counting sort (order[], with counts[] turned into each slot's first index in order[]),
 *    then the slots are taken two at a time (the 2x4 SMLAD blocking of trec_centroid_gemm_w4_2i,
 *    the pair's two centroids interleaved word by word in the first slot of the pair):
 *    their two rows T_s = cent_s . W_m are computed, narrowed to sat16(T_s >> rb) (int16 recovery,
 *    README "Method changes"), into a 2 x C_out int16 scratch and added at once to the int16
 *    accumulator rows of their members (saturating, QADD16). Every position still receives exactly
 *    one add per sub-matrix, in sub-matrix order, so acc is bit for bit what the golden model's
 *    sub-matrix-by-sub-matrix sums give.
 *
 * Scratch layout (each part 4-byte aligned), N positions, S = min(N, 2^H), L2 = L rounded up
 * to even:
 *   table uint16 2^H | acc int16 N x C_out | slots int32 S x L2
 *   | work: max(chunk int16 N x L2, order uint16 N + T int32 2 x C_out)
 *   | cluster_of uint16 N | slot_id uint16 S | counts uint16 S | wq int16 C4 x L2
 * (C4 = C_out rounded up to 4). wq holds W_m widened to q15 in the chunk's reordered order and
 * interleaved four channels a pair (se_pack_w4), rebuilt per sub-matrix: the hash (its first
 * ceil(H / 4) groups) and the centroid GEMM then run 2 rows x 4 channels per SMLAD loop with
 * no SXTB16 and no strided flash reads.
 * The chunk's rows are pair-interleaved: positions 2q and 2q + 1 share rows 2q and 2q + 1, word l
 * of each at 4l and 4l + 2 (a lone last position keeps its row), so that the hash runs its 2 x 4
 * SMLAD block with one pointer (trec_dot_q15i_w4_2x4); im2col writes the words in place.
 * The chunk is dead once its rows are summed into the slots (end of the cluster loop), so
 * order[] and the two T rows reuse its bytes. acc lives through every sub-matrix and cannot
 * share anything.
 *
 * Phases: centroid_gemm and recovery interleave per pair of slots; each pair brackets its GEMM
 * with TREC_PHASE_BEGIN/END(CENTROID_GEMM) and its member adds with ..(RECOVERY), and the
 * hooks accumulate (trec_rt_profile.h adds each END's elapsed cycles to the phase slot), so the
 * two phases still total their own work: ceil(S_m / 2) begin/end pairs each per sub-matrix.
 * The counting sort belongs to the cluster phase.
 *
 * Per-phase floors (README "Where SE-TREC's cycles go", 2026-12-04, model cycles, CifarNet
 * conv2: N = 100, C = C_out = 64, K = 1600; n = K / L sub-matrices, S = r * N clusters per
 * sub-matrix, P = L2 / 2, q = ceil(L / 4), lambda = flash lines per W_m row). A floor is the
 * fewest instructions at their best model timing: M4 ALU/DSP/UMULL 1, every LDR 1 (pipelined),
 * STR 1, LDM/STM 1 + N in 4-register blocks, UDIV 7, loops unrolled; M7 2 a cycle with one
 * load/store and one MAC, LDM/STM alone at 2 registers a cycle, branches predicted; SMLAD
 * blocks 2 x 4 (8 SMLAD + 6 LDR: 14 cycles M4, 8 M7).
 *   phase          M4 floor                              M7 floor
 *   im2col         n N (2P + q)                          n N (P + q)
 *   hash           n N H (1.75P + 3) + n C (2P + q)      n N H (P + 1.5) + n C (P + q)
 *                    + 5 n C lambda (ART refills)          + 7 K C / 32 (L1 fills once)
 *   cluster        n (N (8P + 21) - 2.5 P S + 4S)        n (N (3P + 17) - P S + 2S)
 *   centroid       n S (8L + 12)                         n S (4L + 10)
 *   centroid_gemm  n S C (1.75P + 3)                     n S C (P + 1.5)
 *   recovery       n (N (1.75C + 4) + 0.625 S C)         n (N (0.75C + 2) + 0.25 S C)
 *   requantize     23 N C                                12 N C
 * Floor / measured, thousands of cycles (measured / floor); A: committed model, L = 10, H = 8,
 * n = 160, S = 21.58; B: build/ph4, L = 32, H = 7 centred, n = 50, S = 35.79:
 *   phase          A M4               A M7               B M4               B M7
 *   im2col          208/2417 (11.6x)   128/1560 (12.2x)   200/ 817 (4.1x)    120/ 411 (3.4x)
 *   hash           1714/3263 (1.9x)    936/2105 (2.2x)   1261/2379 (1.9x)    712/1324 (1.9x)
 *   cluster         947/1735 (1.8x)    502/1198 (2.4x)    681/1033 (1.5x)    300/ 565 (1.9x)
 *   centroid        318/ 957 (3.0x)    173/ 486 (2.8x)    480/1300 (2.7x)    247/ 583 (2.4x)
 *   centroid_gemm  2597/4319 (1.7x)   1437/2805 (2.0x)   3550/5321 (1.5x)   2004/3108 (1.6x)
 *   recovery       1994/2744 (1.4x)    855/1264 (1.5x)    652/ 936 (1.4x)    279/ 438 (1.6x)
 *   requantize      147/ 286 (1.9x)     77/ 150 (2.0x)    147/ 286 (1.9x)     77/ 150 (2.0x)
 *   all            7925/15721 (2.0x)  4107/9567 (2.3x)   6970/12074 (1.7x)  3738/6578 (1.8x)
 * None is within 20 %. Why, in short (the README has the numbers): im2col pays ~100 cycles of
 * stack reloads, chunk_row/step and tail handling per position, and A's tap-straddling chunks
 * take the generic path; hash and centroid_gemm run 18 (M4) / 10.5 (M7) cycles per 2 x 4 step
 * for 14 / 8 (one weight register; loads at a step head share the M7's one load/store pipe),
 * plus block epilogues with their loop state in stack slots, the M7's mispredicted 2-trip loops
 * for P = 5, and se_pack_w4's per-row set-up; cluster reloads its pointers per position and
 * sums in 2-word LDM/STM blocks; centroid goes through the memcpy arrays on the stack (~28
 * cycles per element for 8); recovery pays ~29 cycles per member of set-up and an LDM after
 * each STM; requantize reloads 7 values from the stack per output. What would close most of it:
 * the pair loops unrolled for the layer's P with immediate offsets (model: 16 cycles a step on
 * the M4, 8 on the M7), the im2col, centroid and requantize loops in noinline helpers with their
 * state in registers, and int16 cluster sums while N * 255 < 2^15.
 */
#include <string.h>

#include "trec_nn_dsp.h"
#include "trec_nn_math.h"
#include "trec_nn_support.h"
#include "trec_profile.h"
#include "trecsim_nn.h"

#if defined(__GNUC__)
#define SE_NOINLINE __attribute__((noinline))
#else
#define SE_NOINLINE
#endif

typedef struct {
    uint16_t *table;
    int32_t *slots, *t;
    int16_t *acc, *chunk, *wq;
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
    TAKE(acc, int16_t, positions * output_c);
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
    TAKE(wq, int16_t, ((output_c + 3) & ~(int32_t)3) * l2);
#undef TAKE
    l.bytes = at;
    return l;
}

/* W_m (rows o of stride k from w_m, len sub_len int8) -> w4 (see trec_dot_q15_w4_2x4): pair l of
 * channel o at w4[(o / 4 * pairs + l) * 8 + o % 4 * 2], in the reordered q15 order of the chunk
 * (a tail of len % 4 natural, an odd length padded with 0); rows past output_c are 0. */
static void se_pack_w4(const int8_t *w_m, int32_t k, int32_t output_c, int32_t sub_len, int32_t pairs, int16_t *w4)
{
    const int32_t c4 = (output_c + 3) & ~(int32_t)3;
    int32_t o, n;
    for (o = 0; o < c4; o++) {
        int16_t *d = w4 + (o >> 2) * pairs * 8 + (o & 3) * 2;
        if (o >= output_c) {
            for (n = 0; n < pairs; n++) {
                trec_write_q15x2(d + 8 * n, 0);
            }
        } else {
            const int8_t *src = w_m + o * k;
            int32_t r = sub_len & 3;
            n = sub_len >> 2;
            while (n-- > 0) {
                const int32_t x = trec_read_s8x4(src);
                trec_write_q15x2(d, trec_sxtb16(x));
                trec_write_q15x2(d + 8, trec_sxtb16_ror8(x));
                src += 4;
                d += 16;
            }
            if (r >= 2) {
                d[0] = src[0];
                d[1] = src[1];
                src += 2;
                d += 8;
                r -= 2;
            }
            if (r == 1) {
                d[0] = src[0];
                d[1] = 0;
            }
        }
    }
}

/* One chunk row from a run of n contiguous int8 (+ offset) into its pair-interleaved place, words
 * at a stride of `step` int16: group g's (v0, v2) at dst + 2g * step, (v1, v3) at dst + (2g + 1) *
 * step (trec_q7_to_q15_reordered's order); a tail of n % 4 in natural order as whole words, element i
 * of it in word 2G + i / 2, half i % 2, the other half 0 (which is the pad of an odd L). */
static void se_put_run_strided(const int8_t *src, int16_t *dst, int32_t n, int16_t offset, int32_t step)
{
    const int32_t offset2 = (int32_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    const int32_t t = n & 3;
    int32_t k = n >> 2;
    while (k-- > 0) {
        const int32_t x = trec_read_s8x4(src);
        trec_write_q15x2(dst, trec_sxtab16(offset2, x));
        trec_write_q15x2(dst + step, trec_sxtab16_ror8(offset2, x));
        src += 4;
        dst += 2 * step;
    }
    if (t > 0) {
        const uint32_t lo = (uint16_t)(src[0] + offset);
        const uint32_t hi = t > 1 ? (uint16_t)(src[1] + offset) : 0u;
        trec_write_q15x2(dst, (int32_t)(lo | hi << 16));
        if (t > 2) {
            trec_write_q15x2(dst + step, (int32_t)(uint16_t)(src[2] + offset));
        }
    }
}

/* [s > 0]: USAT #1 on the core (one instruction, then a shifted ORR per bit; trec_usat1) */
static uint32_t se_positive(int32_t s)
{
    return trec_usat1(s);
}

/* four hash bits from four projections and their thresholds */
static uint32_t se_bits4(const int32_t *sum, const int32_t *t4)
{
    return se_positive(sum[0] - t4[0]) | se_positive(sum[1] - t4[1]) << 1 | se_positive(sum[2] - t4[2]) << 2 |
           se_positive(sum[3] - t4[3]) << 3;
}

/* ids[p] = sum_j [v_p . W_j > t[j]] << j for j < hash_bits, v_p the chunk rows in their pair-interleaved
 * layout (se_chunk_row), t the sub-matrix's thresholds zero-padded to a multiple of four: for each group
 * of four bits, one trec_hash4_q15i_w4_2x4 pass over the position pairs (2 positions x 4 bits per SMLAD
 * loop, ORed into the zeroed IDs), a lone last position on its own contiguous row; W from w4 (bits of a
 * partial last group are dropped). */
static void se_hash_w4(const int16_t *chunk, int32_t l2, int32_t positions, const int16_t *w4, int32_t pairs,
                       int32_t hash_bits, const int32_t *t, uint16_t *ids)
{
    const int32_t g_stride = 8 * pairs;
    const uint32_t mask = ((uint32_t)1 << hash_bits) - 1u;
    const int32_t paired = positions & ~(int32_t)1;
    int32_t p, j;
    memset(ids, 0, sizeof(uint16_t) * (size_t)paired);
    for (j = 0; j < hash_bits; j += 4) {
        trec_hash4_q15i_w4_2x4(chunk, pairs, w4 + (j >> 2) * g_stride, paired >> 1, ids, j, t + j);
    }
    if (hash_bits & 3) {
        for (p = 0; p < paired; p++) {
            ids[p] = (uint16_t)(ids[p] & mask);
        }
    }
    if (paired < positions) {
        const int16_t *v0 = chunk + paired * l2;
        uint32_t id0 = 0;
        for (j = 0; j < hash_bits; j += 4) {
            int32_t sum[4] = {0, 0, 0, 0};
            trec_dot_q15_w4_1x4(v0, w4 + (j >> 2) * g_stride, pairs, sum);
            id0 |= se_bits4(sum, t + j) << j;
        }
        ids[paired] = (uint16_t)(id0 & mask);
    }
}

/* Where word l of position p's chunk row lies: chunk + se_chunk_row(p) + l * se_chunk_step(p).
 * Positions 2q and 2q + 1 share rows 2q and 2q + 1 (2 * L2 int16), their words interleaved (word l
 * of 2q at 4l, of 2q + 1 at 4l + 2); a lone last position (N odd) keeps its own row, contiguous. */
static int32_t se_chunk_row(int32_t p, int32_t l2)
{
    return (p & ~(int32_t)1) * l2 + (p & 1) * 2;
}
static int32_t se_chunk_step(int32_t p, int32_t positions)
{
    return ((p | 1) < positions) ? 4 : 2;
}

/* The slot of hash id: the table's entry if the sparse-set check trusts it (its count + 1), else a
 * new slot pushed (count 1) and returned as ~slot. */
static inline int32_t se_slot_of(uint16_t *table, uint16_t *slot_id, uint16_t *counts, uint32_t id, int32_t *n_slots)
{
    int32_t s = table[id];
    if (s < *n_slots && slot_id[s] == id) {
        counts[s]++;
        return s;
    }
    s = (*n_slots)++;
    table[id] = (uint16_t)s;
    TREC_NN_STAT_ADD(table_writes, 1);
    slot_id[s] = (uint16_t)id;
    counts[s] = 1;
    return ~s;
}

/* One position of the cluster phase: its ID -> slot, its chunk row (pair-interleaved, see
 * se_chunk_row) added to the slot's sums, or set as them for a new slot (no clearing). */
static inline int32_t se_cluster_one(uint16_t *table, uint16_t *slot_id, uint16_t *counts, int32_t *slots, uint32_t id,
                                     const int16_t *v, int32_t l2, int32_t *n_slots)
{
    int32_t s = se_slot_of(table, slot_id, counts, id, n_slots);
    if (s >= 0) {
        trec_sum_q15i_add(slots + s * l2, v, l2 >> 1);
    } else {
        s = ~s;
        trec_sum_q15i_set(slots + s * l2, v, l2 >> 1);
    }
    return s;
}

/* Cluster phase of one sub-matrix: ids[p] (the ID) -> its slot, slots[s] = the int32 sums of its
 * members' chunk rows, counts[s] = its members; the pad of an odd L is 0 and sums to 0. A lone last
 * position's row is contiguous and is done in C. Returns the number of slots. Out of line, so that
 * its pointers get the registers that the caller's many live values would otherwise take. */
SE_NOINLINE static int32_t se_cluster(uint16_t *table, uint16_t *slot_id, uint16_t *counts, int32_t *slots,
                                      uint16_t *ids, const int16_t *chunk, int32_t positions, int32_t l2)
{
    int32_t n_slots = 0, p, s, l;
    for (p = 0; p + 1 < positions; p += 2, chunk += 2 * l2) {
        ids[p] = (uint16_t)se_cluster_one(table, slot_id, counts, slots, ids[p], chunk, l2, &n_slots);
        ids[p + 1] = (uint16_t)se_cluster_one(table, slot_id, counts, slots, ids[p + 1], chunk + 2, l2, &n_slots);
    }
    if (p < positions) {
        int32_t *sum;
        s = se_slot_of(table, slot_id, counts, ids[p], &n_slots);
        if (s >= 0) {
            sum = slots + s * l2;
            for (l = 0; l < l2; l++) {
                sum[l] += chunk[l];
            }
        } else {
            s = ~s;
            sum = slots + s * l2;
            for (l = 0; l < l2; l++) {
                sum[l] = chunk[l];
            }
        }
        ids[p] = (uint16_t)s;
    }
    return n_slots;
}

/* the int16 accumulators of the members order[i0 .. end) += tc (saturating), C_out even: three, two
 * then one member rows per pass over 8-channel blocks of tc (each T word loaded once for all rows),
 * the C_out % 8 tail lane by lane; C_out odd (rows not word aligned): lane by lane */
static void se_recover16(int16_t *acc, const uint16_t *order, int32_t i, int32_t end, const int16_t *tc,
                         int32_t output_c)
{
    const int32_t n8 = (output_c & 1) ? 0 : output_c >> 3;
    const int32_t i0 = i;
    int32_t o;
    if (n8 > 0) {
        for (; i + 2 < end; i += 3) {
            trec_add_q15x8_3(acc + (int32_t)order[i] * output_c, acc + (int32_t)order[i + 1] * output_c,
                             acc + (int32_t)order[i + 2] * output_c, tc, n8);
        }
        if (i + 1 < end) {
            trec_add_q15x8_2(acc + (int32_t)order[i] * output_c, acc + (int32_t)order[i + 1] * output_c, tc, n8);
            i += 2;
        }
        if (i < end) {
            trec_add_q15x8(acc + (int32_t)order[i] * output_c, tc, n8);
        }
    }
    if (8 * n8 < output_c) {
        for (i = i0; i < end; i++) {
            int16_t *a = acc + (int32_t)order[i] * output_c;
            for (o = 8 * n8; o < output_c; o++) {
                a[o] = trec_qadd16_lane(a[o], tc[o]);
            }
        }
    }
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
                            int32_t act_max, int32_t sub_len, int32_t hash_bits, const int32_t *thresholds,
                            int32_t recovery_shift, void *buffer, int8_t *output, uint16_t *clusters)
{
    int32_t output_h, output_w, positions, k, n_sub, l2, pairs, c2, m, p;
    int16_t *t16r; /* the two narrowed T rows (int16, row stride c2), in the bytes of b.t */
    int32_t t16[TREC_NN_MAX_HASH_BITS]; /* this sub-matrix's thresholds, zero-padded to the 4-bit groups */
    se_layout b;
    if (trec_check_trec_args(input_h, input_w, input_c, output_c, kernel, stride, padding, act_min, act_max,
                             sub_len, hash_bits) ||
        hash_bits > output_c || buffer == 0 || recovery_shift < 0 || recovery_shift > TREC_NN_MAX_RECOVERY_SHIFT) {
        return TREC_NN_ARG_ERROR;
    }
    output_h = trec_out_size(input_h, kernel, stride, padding);
    output_w = trec_out_size(input_w, kernel, stride, padding);
    positions = output_h * output_w;
    k = kernel * kernel * input_c;
    n_sub = k / sub_len;
    l2 = (sub_len + 1) & ~(int32_t)1;
    pairs = l2 >> 1;
    c2 = (output_c + 1) & ~(int32_t)1;
    b = se_layout_of(buffer, positions, output_c, sub_len, hash_bits);
    t16r = (int16_t *)(void *)b.t;
    memset(b.acc, 0, sizeof(int16_t) * (size_t)positions * (size_t)output_c);
    memset(t16, 0, sizeof t16);

    for (m = 0; m < n_sub; m++) {
        const int32_t k0 = m * sub_len;
        const int8_t *w_m = weight + k0; /* W_m[l][o] = w_m[o * k + l] */
        int32_t n_slots = 0, s, l, run;

        /* im2col of chunk m only: chunk[p] = v_{p,m}, reordered q15, pad (odd L) 0 */
        TREC_PHASE_BEGIN(TREC_PHASE_IM2COL);
        {
            const int32_t row_len = kernel * input_c;
            const int32_t ky0 = k0 / row_len, rem = k0 - ky0 * row_len;
            const int32_t kx0 = rem / input_c, ci0 = rem - kx0 * input_c;
            const int16_t off = (int16_t)input_offset;
            int32_t oy = 0, ox = 0;
            if (input_c - ci0 >= sub_len) {
                /* every chunk is one run of channels of tap (ky0, kx0): widened straight into place,
                 * the window's corner (y, x) stepped along the positions */
                const int32_t x_first = kx0 - padding;
                int32_t y = ky0 - padding, x = x_first;
                for (p = 0; p < positions; p++) {
                    int16_t *dst = b.chunk + se_chunk_row(p, l2);
                    const int32_t step = se_chunk_step(p, positions);
                    if ((uint32_t)y < (uint32_t)input_h && (uint32_t)x < (uint32_t)input_w) {
                        se_put_run_strided(input + (y * input_w + x) * input_c + ci0, dst, sub_len, off, step);
                    } else {
                        for (l = 0; l < pairs; l++) {
                            trec_write_q15x2(dst + l * step, 0);
                        }
                    }
                    x += stride;
                    if (++ox == output_w) {
                        ox = 0;
                        x = x_first;
                        y += stride;
                    }
                }
            } else {
                for (p = 0; p < positions; p++) {
                    /* runs over several taps: built contiguously in wq (free until the hash phase
                     * rebuilds it), reordered, then its words stored in place */
                    int16_t *dst = b.chunk + se_chunk_row(p, l2);
                    const int32_t step = se_chunk_step(p, positions);
                    int16_t *v = b.wq;
                    trec_im2col_chunk_q15(input, input_h, input_w, input_c, kernel, oy * stride - padding,
                                          ox * stride - padding, k0, sub_len, off, v);
                    trec_q15_reorder(v, sub_len);
                    for (l = 0; l < sub_len >> 1; l++) {
                        trec_write_q15x2(dst + l * step, trec_read_q15x2(v + 2 * l));
                    }
                    if (sub_len & 1) {
                        /* the last element, and the pad (0) as the second half of its word */
                        trec_write_q15x2(dst + (sub_len >> 1) * step, (int32_t)(uint16_t)v[sub_len - 1]);
                    }
                    if (++ox == output_w) {
                        ox = 0;
                        oy++;
                    }
                }
            }
        }
        TREC_PHASE_END(TREC_PHASE_IM2COL);

        /* hash with kernel reuse: bit j = [v_{p,m} . W_m[:, j] > t_mj] (centred hash bits; t = 0 without
         * thresholds); W_m is first widened into wq
         * (all C_out rows: the centroid GEMM reads them too), then 2 positions x 4 bits per SMLAD
         * loop, one trec_hash4_q15i_w4_2x4 pass over the positions per group of four bits */
        TREC_PHASE_BEGIN(TREC_PHASE_HASH);
        {
            se_pack_w4(w_m, k, output_c, sub_len, pairs, b.wq);
            if (thresholds) {
                memcpy(t16, thresholds + m * hash_bits, sizeof(int32_t) * (size_t)hash_bits);
            }
            se_hash_w4(b.chunk, l2, positions, b.wq, pairs, hash_bits, t16, b.cluster_of);
        }
        TREC_PHASE_END(TREC_PHASE_HASH);

        /* cluster: reversed ID table (never cleared) -> slot; push new slots; accumulate sums */
        TREC_PHASE_BEGIN(TREC_PHASE_CLUSTER);
        n_slots = se_cluster(b.table, b.slot_id, b.counts, b.slots, b.cluster_of, b.chunk, positions, l2);
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

        /* centroid: replace the int32 sums of each pair of slots (s, s + 1), s even, by their int16
         * means pair-interleaved in slot s's bytes: word l (elements 2l, 2l + 1) of slot s's centroid
         * at bytes [8l, 8l + 4), that of slot s + 1 at [8l + 4, 8l + 8) (trec_centroid_gemm_w4_2i reads
         * both with one pointer). Those 8 bytes are exactly slot s's sums 2l and 2l + 1, read just
         * before; slot s + 1 is only read. A lone last slot gets a zero partner. The pad of an odd L
         * sums to 0 and its mean is 0. memcpy keeps the type-punned accesses well defined. */
        TREC_PHASE_BEGIN(TREC_PHASE_CENTROID);
        for (s = 0; s < n_slots; s += 2) {
            uint8_t *slot0 = (uint8_t *)(b.slots + s * l2);
            const uint8_t *slot1 = (const uint8_t *)(b.slots + (s + 1) * l2);
            const int32_t count0 = se_slot_end(&b, s, n_slots, positions) - b.counts[s];
            const int32_t count1 = s + 1 < n_slots ? se_slot_end(&b, s + 1, n_slots, positions) - b.counts[s + 1] : 0;
            const trec_mean_t d0 = trec_mean_of(count0 > 0 ? count0 : 1, positions);
            const trec_mean_t d1 = trec_mean_of(count1 > 0 ? count1 : 1, positions);
            for (l = 0; l < pairs; l++) {
                int32_t sums[4] = {0, 0, 0, 0};
                int16_t cent[4];
                memcpy(sums, slot0 + 8 * l, 2 * sizeof(int32_t));
                if (count1 > 0) {
                    memcpy(sums + 2, slot1 + 8 * l, 2 * sizeof(int32_t));
                }
                cent[0] = (int16_t)trec_mean(sums[0], d0);
                cent[1] = (int16_t)trec_mean(sums[1], d0);
                cent[2] = (int16_t)trec_mean(sums[2], d1); /* a missing partner's sums are 0: mean 0 */
                cent[3] = (int16_t)trec_mean(sums[3], d1);
                memcpy(slot0 + 8 * l, cent, sizeof cent);
            }
        }
        TREC_PHASE_END(TREC_PHASE_CENTROID);

        /* two slots at a time: T_s = cent_s . W_m into the 2 x C_out rows (2 slots x 4 channels
         * per loop, one pointer over the interleaved pair), then acc[p] += T_{slot(p)} for their
         * members, two member rows per LDM/ADD/STM pass over T */
        for (s = 0; s < n_slots; s += 2) {
            const int32_t pair = n_slots - s < 2 ? n_slots - s : 2;
            int32_t q;
            TREC_PHASE_BEGIN(TREC_PHASE_CENTROID_GEMM);
            trec_centroid_gemm_w4_2i((const int16_t *)(const void *)(b.slots + s * l2), pairs, b.wq, output_c,
                                     recovery_shift, t16r);
            TREC_PHASE_END(TREC_PHASE_CENTROID_GEMM);

            TREC_PHASE_BEGIN(TREC_PHASE_RECOVERY);
            /* int16 recovery: the GEMM wrote both T rows narrowed (sat16(T >> rb)) */
            for (q = 0; q < pair; q++) {
                se_recover16(b.acc, b.order, b.counts[s + q], se_slot_end(&b, s + q, n_slots, positions),
                             t16r + q * c2, output_c);
            }
            TREC_PHASE_END(TREC_PHASE_RECOVERY);
        }

        if (clusters) {
            clusters[m] = (uint16_t)n_slots;
        }
    }

    TREC_PHASE_BEGIN(TREC_PHASE_REQUANTIZE);
    /* acc32 = (acc16 << rb) + bias + n_sub * (2^rb - 1) / 2 (the truncations' mean), wrapping int32 */
    {
        const uint32_t corr = ((uint32_t)n_sub * (((uint32_t)1 << recovery_shift) - 1u)) >> 1;
        int32_t o;
        for (o = 0; o < output_c; o++) {
            const trec_requant_ch q = trec_requant_split(multiplier[o], shift[o]);
            const uint32_t add = (bias ? (uint32_t)bias[o] : 0u) + corr;
            const int16_t *a = b.acc + o;
            int8_t *y = output + o;
            for (p = 0; p < positions; p++, a += output_c, y += output_c) {
                *y = trec_requantize_clamp_ch((int32_t)(((uint32_t)(int32_t)*a << recovery_shift) + add), q,
                                              output_offset, act_min, act_max);
            }
        }
    }
    TREC_PHASE_END(TREC_PHASE_REQUANTIZE);
    return TREC_NN_SUCCESS;
}
