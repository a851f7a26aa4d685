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
 *  - Two-step stack: slots first accumulate member sums (in the reordered q15 order of the chunk:
 *    int16 for layers of N <= 128 positions, where |sum| <= 256 N fits, contiguous in the second half
 *    of the slot's int32 row (se_sum16, SADD16 four words per LDM/STM); int32 above), then each pair
 *    of slots' sums are replaced in place by their centroids (int16, interleaved in the first slot of
 *    the pair) with the rounding mean, by a biased reciprocal of 2c without |s| or a sign restore
 *    (trec_mean_biased, exact for N <= 1448; trec_mean above). Slots are bounded by min(N, 2^H).
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
 * blocks 2 x 4 (8 SMLAD + 6 LDR: 14 cycles M4, 8 M7). The cluster and centroid floors are those
 * of the int32 sums and the |s|-and-sign mean the README assumed; the int16 sums and the biased
 * mean now in use lower both (ideally cluster about 4.5 instead of 8 cycles per word on the M4,
 * centroid about 6 instead of 8 per element), which is why B's centroid is measured below its floor.
 *   phase          M4 floor                              M7 floor
 *   im2col         n N (2P + q)                          n N (P + q)
 *   hash           n N H (1.75P + 3) + n C (2P + q)      n N H (P + 1.5) + n C (P + q)
 *                    + 5 n C lambda (ART refills)          + 7 K C / 32 (L1 fills once)
 *   cluster        n (N (8P + 21) - 2.5 P S + 4S)        n (N (3P + 17) - P S + 2S)
 *   centroid       n S (8L + 12)                         n S (4L + 10)
 *   centroid_gemm  n S C (1.75P + 3)                     n S C (P + 1.5)
 *   recovery       n (N (1.75C + 4) + 0.625 S C)         n (N (0.75C + 2) + 0.25 S C)
 *   requantize     23 N C                                12 N C
 * Floor / measured, thousands of cycles (measured / floor), after the im2col, centroid and cluster
 * rework (se_im2col_runs, se_centroid16_pairs, se_cluster16_pairs; before it: im2col 2417 / 1560 / 817 / 411, cluster 1735 / 1198 / 1033 / 565,
 * centroid 957 / 486 / 1300 / 583, all 15721 / 9567 / 12074 / 6578); A: committed model, L = 10,
 * H = 8, n = 160, S = 21.58; B: build/ph4, L = 32, H = 7 centred, n = 50, S = 35.79:
 *   phase          A M4               A M7               B M4               B M7
 *   im2col          208/ 591 (2.8x)    128/ 285 (2.2x)    200/ 365 (1.8x)    120/ 189 (1.6x)
 *   hash           1714/3260 (1.9x)    936/2107 (2.3x)   1261/2381 (1.9x)    712/1324 (1.9x)
 *   cluster         947/1272 (1.3x)    502/ 753 (1.5x)    681/ 692 (1.0x)    300/ 402 (1.3x)
 *   centroid        318/ 343 (1.1x)    173/ 215 (1.2x)    480/ 452 (0.9x)    247/ 256 (1.0x)
 *   centroid_gemm  2597/4327 (1.7x)   1437/2802 (2.0x)   3550/5323 (1.5x)   2004/3107 (1.6x)
 *   recovery       1994/2738 (1.4x)    855/1273 (1.5x)    652/ 933 (1.4x)    279/ 443 (1.6x)
 *   requantize      147/ 286 (1.9x)     77/ 150 (1.9x)    147/ 286 (1.9x)     77/ 150 (1.9x)
 *   all            7925/12816 (1.6x)  4107/7583 (1.8x)   6970/10432 (1.5x)  3738/5872 (1.6x)
 * What is left, in short: im2col pays ~35 cycles per pair of positions on the M4 for the cursor
 * (row wrap), the group-loop entry and the tail (A: L % 4 = 2), and a chunk that wraps to the next
 * kernel row or reaches the padding still takes the generic path; hash and centroid_gemm run
 * 18 (M4) / 10.5 (M7) cycles per 2 x 4 step for 14 / 8 (one weight register; loads at a step
 * head share the M7's one load/store pipe), plus block epilogues with their loop state in stack
 * slots, the M7's mispredicted 2-trip loops for P = 5, and se_pack_w4's per-row set-up; cluster
 * pays ~20 cycles per position for the ID lookup (three dependent LDRH) and the counting sort
 * (se_group), and its int16 block loop loads each chunk word right before its SADD16 (no register
 * left to pipeline them); centroid pays two UDIV and the count loads per pair of slots; recovery
 * ~29 cycles per member of set-up and an LDM after each STM; requantize reloads 7 values from the
 * stack per output. What would close most of it: the pair loops unrolled for the layer's P with
 * immediate offsets (model: 16 cycles a step on the M4, 8 on the M7), and the requantize loop in
 * a noinline helper with its state in registers.
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

/* (v0 + offset, v1 + offset) of two int8 at src (natural order, one q15 word): the two bytes moved to
 * bytes 0 and 2 for SXTAB16 (on the core LDRH, ORR ..., LSL #8) */
static inline int32_t se_pair_q15(const int8_t *src, int32_t offset2)
{
    const uint32_t h = (uint32_t)(uint8_t)src[0] | (uint32_t)(uint8_t)src[1] << 8;
    return trec_sxtab16(offset2, (int32_t)(h | h << 8));
}

/* im2col of a sub-matrix whose chunk is, for every position, one contiguous run of len int8 of the
 * input (channels of taps of one kernel row, no padding reached): the run of position 0 at src, the
 * next position's `step` bytes on (stride pixels), and at the end of an output row `skip` more. The
 * rows are pair-interleaved (se_chunk_row): positions two at a time, per group of four int8 (v0, v2)
 * and (v1, v3) of position 0 at dst and dst + 4, of position 1 at dst + 2 and dst + 6 (on the core one
 * STM of four SXTAB16 results, r4..r7), a tail of len % 4 in natural order as whole words, the pad of
 * an odd len 0; a lone last position contiguous (se_put_run_strided). Out of line: on the core the pair
 * loop is one asm block with its state in registers (the layer's constants in the stack slots of st).
 * Unaligned runs are fine (LDR, LDRH, LDRB). */
SE_NOINLINE static void se_im2col_runs(const int8_t *src, int32_t step, int32_t skip, int32_t output_w,
                                       int32_t positions, int32_t len, int16_t offset, int16_t *dst)
{
    const int32_t offset2 = (int32_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    int32_t n = positions >> 1, ox = output_w;
#if TREC_NN_DSP_NATIVE
    if (n > 0) {
        int32_t st[6];
        int32_t a, b, g;
        const int8_t *src1;
        st[0] = skip;
        st[1] = output_w;
        st[2] = len >> 2;
        st[3] = step - (len & ~(int32_t)1); /* position 1's run went past its groups and tail pair */
        st[4] = (len & 3) << 30; /* bit 1 of the tail -> C, bit 0 -> N, by LSLS #1 */
        st[5] = (int32_t)(uint16_t)offset;
        __asm__ volatile("0:\n\t"
                         /* position 1's run: step on, and skip at the end of a row */
                         "add %[s1], %[s0], %[step]\n\t"
                         "subs %[ox], %[ox], #1\n\t"
                         "ittt eq\n\t"
                         "ldreq %[a], %[skip]\n\t"
                         "addeq %[s1], %[s1], %[a]\n\t"
                         "ldreq %[ox], %[ow]\n\t"
                         /* groups: g = G / 2 two-group trips (Z: none), C: one more group first */
                         "ldr %[g], %[groups]\n\t"
                         "lsrs %[g], %[g], #1\n\t"
                         "bcc 1f\n\t"
                         "ldr %[a], [%[s0]], #4\n\t"
                         "ldr %[b], [%[s1]], #4\n\t"
                         "sxtab16 r4, %[o], %[a]\n\t"
                         "sxtab16 r5, %[o], %[b]\n\t"
                         "sxtab16 r6, %[o], %[a], ror #8\n\t"
                         "sxtab16 r7, %[o], %[b], ror #8\n\t"
                         "stmia %[d]!, {r4, r5, r6, r7}\n"
                         "1:\n\t"
                         "beq 3f\n"
                         "2:\n\t"
                         "ldr %[a], [%[s0]], #4\n\t"
                         "ldr %[b], [%[s1]], #4\n\t"
                         "sxtab16 r4, %[o], %[a]\n\t"
                         "sxtab16 r5, %[o], %[b]\n\t"
                         "sxtab16 r6, %[o], %[a], ror #8\n\t"
                         "sxtab16 r7, %[o], %[b], ror #8\n\t"
                         "ldr %[a], [%[s0]], #4\n\t"
                         "ldr %[b], [%[s1]], #4\n\t"
                         "stmia %[d]!, {r4, r5, r6, r7}\n\t"
                         "sxtab16 r4, %[o], %[a]\n\t"
                         "sxtab16 r5, %[o], %[b]\n\t"
                         "sxtab16 r6, %[o], %[a], ror #8\n\t"
                         "sxtab16 r7, %[o], %[b], ror #8\n\t"
                         "subs %[g], %[g], #1\n\t"
                         "stmia %[d]!, {r4, r5, r6, r7}\n\t"
                         "bne 2b\n"
                         "3:\n\t"
                         /* the tail: C = two more, N = one more */
                         "ldr %[a], %[tail]\n\t"
                         "lsls %[a], %[a], #1\n\t"
                         "bcc 4f\n\t"
                         "ldrh %[a], [%[s0]], #2\n\t"
                         "ldrh %[b], [%[s1]], #2\n\t"
                         "orr %[a], %[a], %[a], lsl #8\n\t"
                         "orr %[b], %[b], %[b], lsl #8\n\t"
                         "sxtab16 r4, %[o], %[a]\n\t"
                         "sxtab16 r5, %[o], %[b]\n\t"
                         "stmia %[d]!, {r4, r5}\n"
                         "4:\n\t"
                         "bpl 5f\n\t"
                         "ldrb %[a], [%[s0]]\n\t"
                         "ldrb %[b], [%[s1]]\n\t"
                         "ldr %[g], %[olo]\n\t"
                         "sxtab16 r4, %[g], %[a]\n\t"
                         "sxtab16 r5, %[g], %[b]\n\t"
                         "stmia %[d]!, {r4, r5}\n"
                         "5:\n\t"
                         /* the next pair's position 0: position 1's run start + step */
                         "ldr %[a], %[stepl]\n\t"
                         "add %[s0], %[s1], %[a]\n\t"
                         "subs %[ox], %[ox], #1\n\t"
                         "ittt eq\n\t"
                         "ldreq %[a], %[skip]\n\t"
                         "addeq %[s0], %[s0], %[a]\n\t"
                         "ldreq %[ox], %[ow]\n\t"
                         "subs %[n], %[n], #1\n\t"
                         "bne 0b"
                         : [s0] "+r"(src), [s1] "=&r"(src1), [d] "+r"(dst), [n] "+r"(n), [ox] "+r"(ox),
                           [a] "=&r"(a), [b] "=&r"(b), [g] "=&r"(g)
                         : [o] "r"(offset2), [step] "r"(step), [skip] "m"(st[0]), [ow] "m"(st[1]),
                           [groups] "m"(st[2]), [stepl] "m"(st[3]), [tail] "m"(st[4]), [olo] "m"(st[5])
                         : "r4", "r5", "r6", "r7", "cc", "memory");
    }
#else
    for (; n > 0; n--) {
        const int8_t *src0 = src, *src1 = src + step;
        int32_t g = len >> 2;
        if (--ox == 0) {
            src1 += skip;
            ox = output_w;
        }
        for (; g > 0; g--) {
            const int32_t a = trec_read_s8x4(src0), b = trec_read_s8x4(src1);
            trec_write_q15x2(dst, trec_sxtab16(offset2, a));
            trec_write_q15x2(dst + 2, trec_sxtab16(offset2, b));
            trec_write_q15x2(dst + 4, trec_sxtab16_ror8(offset2, a));
            trec_write_q15x2(dst + 6, trec_sxtab16_ror8(offset2, b));
            src0 += 4;
            src1 += 4;
            dst += 8;
        }
        if (len & 2) {
            trec_write_q15x2(dst, se_pair_q15(src0, offset2));
            trec_write_q15x2(dst + 2, se_pair_q15(src1, offset2));
            src0 += 2;
            src1 += 2;
            dst += 4;
        }
        if (len & 1) {
            trec_write_q15x2(dst, (int32_t)(uint16_t)(src0[0] + offset));
            trec_write_q15x2(dst + 2, (int32_t)(uint16_t)(src1[0] + offset));
            dst += 4;
        }
        src = src1 - (len & ~(int32_t)1) + step;
        if (--ox == 0) {
            src += skip;
            ox = output_w;
        }
    }
#endif
    if (positions & 1) {
        se_put_run_strided(src, dst, len, offset, 2);
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

/* The int16 sums of slot s (layers of at most TREC_SE_SUM16_MAX_POSITIONS positions): contiguous, in
 * the second half of the slot's int32 row (from int16 l2 on), where the centroid pass reads them
 * forward while it writes the pair's interleaved centroids over the first half (se_centroid16). */
#define TREC_SE_SUM16_MAX_POSITIONS 128
static inline int16_t *se_sum16(int32_t *slots, int32_t s, int32_t l2)
{
    return (int16_t *)(void *)(slots + s * l2) + l2;
}

#if TREC_NN_DSP_NATIVE && !defined(TREC_NN_STATS)
/*
 * The cluster phase with int16 sums on the core, positions two at a time (n2 pairs of them, n2 > 0),
 * all in registers but for four stack slots: r0 table, r1 slot_id, r2 counts, r3 sums0 (se_sum16 of
 * slot 0), r4 ids (each ID replaced by its slot), r5 the pair's chunk rows, r8 the position's row
 * (r5, then r5 + 4 bytes); [sp] n_slots, [sp, #4] rb (4 L2 bytes: a slot's row, and a pair's chunk
 * rows), [sp, #8] words (L2 / 2), [sp, #12] the end of ids. Per position: ID -> s = table[ID], trusted
 * if s < n_slots and slot_id[s] == ID (counts[s] + 1), else a new slot (table, slot_id, counts = 1);
 * its sums at sums0 + s rb (MLA); then trec_sum16_q15i_add / _set's blocks of four words (LDM, an LDR
 * of the chunk word before each SADD16, STM; set: four LDR, STM), the last words % 4 one at a time.
 * Returns n_slots. Naked: the registers are the function's own (r4-r11 and lr saved).
 */
#define SE_C16_POS(A, B, C, D, E, F, G, H) \
    "ldrh r6, [r4]\n\t"                     \
    "ldr r9, [sp]\n\t"                      \
    "ldrh r7, [r0, r6, lsl #1]\n\t"         \
    "cmp r7, r9\n\t"                        \
    "bhs " A "f\n\t"                        \
    "ldrh r10, [r1, r7, lsl #1]\n\t"        \
    "cmp r10, r6\n\t"                       \
    "bne " A "f\n\t"                        \
    "ldrh r10, [r2, r7, lsl #1]\n\t"        \
    "adds r10, r10, #1\n\t"                 \
    "strh r10, [r2, r7, lsl #1]\n\t"        \
    "strh r7, [r4], #2\n\t"                 \
    "ldr r10, [sp, #4]\n\t"                 \
    "mla r7, r7, r10, r3\n\t"               \
    "ldr lr, [sp, #8]\n\t"                  \
    "subs lr, lr, #4\n\t"                   \
    "blt " B "f\n"                          \
    C ":\n\t"                               \
    "ldmia r7, {r9, r10, r11, r12}\n\t"     \
    "ldr r6, [r8]\n\t"                      \
    "sadd16 r9, r9, r6\n\t"                 \
    "ldr r6, [r8, #8]\n\t"                  \
    "sadd16 r10, r10, r6\n\t"               \
    "ldr r6, [r8, #16]\n\t"                 \
    "sadd16 r11, r11, r6\n\t"               \
    "ldr r6, [r8, #24]\n\t"                 \
    "sadd16 r12, r12, r6\n\t"               \
    "stmia r7!, {r9, r10, r11, r12}\n\t"    \
    "adds r8, r8, #32\n\t"                  \
    "subs lr, lr, #4\n\t"                   \
    "bge " C "b\n"                          \
    B ":\n\t"                               \
    "adds lr, lr, #4\n\t"                   \
    "beq " H "f\n"                          \
    D ":\n\t"                               \
    "ldr r6, [r8], #8\n\t"                  \
    "ldr r9, [r7]\n\t"                      \
    "sadd16 r9, r9, r6\n\t"                 \
    "subs lr, lr, #1\n\t"                   \
    "str r9, [r7], #4\n\t"                  \
    "bne " D "b\n\t"                        \
    "b " H "f\n"                            \
    A ":\n\t"                               \
    "strh r9, [r0, r6, lsl #1]\n\t"         \
    "strh r6, [r1, r9, lsl #1]\n\t"         \
    "movs r10, #1\n\t"                      \
    "strh r10, [r2, r9, lsl #1]\n\t"        \
    "strh r9, [r4], #2\n\t"                 \
    "adds r10, r9, #1\n\t"                  \
    "str r10, [sp]\n\t"                     \
    "ldr r10, [sp, #4]\n\t"                 \
    "mla r7, r9, r10, r3\n\t"               \
    "ldr lr, [sp, #8]\n\t"                  \
    "subs lr, lr, #4\n\t"                   \
    "blt " E "f\n"                          \
    F ":\n\t"                               \
    "ldr r9, [r8]\n\t"                      \
    "ldr r10, [r8, #8]\n\t"                 \
    "ldr r11, [r8, #16]\n\t"                \
    "ldr r12, [r8, #24]\n\t"                \
    "stmia r7!, {r9, r10, r11, r12}\n\t"    \
    "adds r8, r8, #32\n\t"                  \
    "subs lr, lr, #4\n\t"                   \
    "bge " F "b\n"                          \
    E ":\n\t"                               \
    "adds lr, lr, #4\n\t"                   \
    "beq " H "f\n"                          \
    G ":\n\t"                               \
    "ldr r9, [r8], #8\n\t"                  \
    "subs lr, lr, #1\n\t"                   \
    "str r9, [r7], #4\n\t"                  \
    "bne " G "b\n"                          \
    H ":\n\t"

__attribute__((naked, noinline, noclone)) static int32_t se_cluster16_pairs(
    __attribute__((unused)) uint16_t *table, __attribute__((unused)) uint16_t *slot_id,
    __attribute__((unused)) uint16_t *counts, __attribute__((unused)) int16_t *sums0,
    __attribute__((unused)) uint16_t *ids, __attribute__((unused)) const int16_t *chunk,
    __attribute__((unused)) int32_t n2, __attribute__((unused)) int32_t rb, __attribute__((unused)) int32_t words)
{
    __asm__ volatile("push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
                     "sub sp, sp, #16\n\t"
                     "ldr r4, [sp, #52]\n\t"
                     "ldr r5, [sp, #56]\n\t"
                     "ldr r6, [sp, #60]\n\t"
                     "ldr r7, [sp, #64]\n\t"
                     "ldr r8, [sp, #68]\n\t"
                     "add r6, r4, r6, lsl #2\n\t"
                     "movs r9, #0\n\t"
                     "str r9, [sp]\n\t"
                     "str r7, [sp, #4]\n\t"
                     "str r8, [sp, #8]\n\t"
                     "str r6, [sp, #12]\n"
                     "0:\n\t"
                     "mov r8, r5\n\t"
                     SE_C16_POS("11", "12", "13", "14", "15", "16", "17", "18")
                     "add r8, r5, #4\n\t"
                     SE_C16_POS("21", "22", "23", "24", "25", "26", "27", "28")
                     "ldr r6, [sp, #4]\n\t"
                     "ldr r7, [sp, #12]\n\t"
                     "add r5, r5, r6\n\t"
                     "cmp r4, r7\n\t"
                     "bne 0b\n\t"
                     "ldr r0, [sp]\n\t"
                     "add sp, sp, #16\n\t"
                     "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}");
}
#undef SE_C16_POS
#endif

/* se_cluster with int16 sums (se_sum16; |sum| <= 256 * 128 fits): the same slots and counts. */
SE_NOINLINE static int32_t se_cluster16(uint16_t *table, uint16_t *slot_id, uint16_t *counts, int32_t *slots,
                                        uint16_t *ids, const int16_t *chunk, int32_t positions, int32_t l2)
{
    int32_t n_slots = 0, p, s, l;
#if TREC_NN_DSP_NATIVE && !defined(TREC_NN_STATS)
    p = positions & ~(int32_t)1;
    if (p > 0) {
        n_slots = se_cluster16_pairs(table, slot_id, counts, se_sum16(slots, 0, l2), ids, chunk, p >> 1, 4 * l2,
                                     l2 >> 1);
        chunk += p * l2;
    }
#else
    const int32_t pairs = l2 >> 1;
    for (p = 0; p + 1 < positions; p += 2, chunk += 2 * l2) {
        s = se_slot_of(table, slot_id, counts, ids[p], &n_slots);
        if (s >= 0) {
            trec_sum16_q15i_add(se_sum16(slots, s, l2), chunk, pairs);
        } else {
            s = ~s;
            trec_sum16_q15i_set(se_sum16(slots, s, l2), chunk, pairs);
        }
        ids[p] = (uint16_t)s;
        s = se_slot_of(table, slot_id, counts, ids[p + 1], &n_slots);
        if (s >= 0) {
            trec_sum16_q15i_add(se_sum16(slots, s, l2), chunk + 2, pairs);
        } else {
            s = ~s;
            trec_sum16_q15i_set(se_sum16(slots, s, l2), chunk + 2, pairs);
        }
        ids[p + 1] = (uint16_t)s;
    }
#endif
    if (p < positions) {
        int16_t *sum;
        s = se_slot_of(table, slot_id, counts, ids[p], &n_slots);
        if (s >= 0) {
            sum = se_sum16(slots, s, l2);
            for (l = 0; l < l2; l++) {
                sum[l] = (int16_t)(uint16_t)((uint32_t)(uint16_t)sum[l] + (uint32_t)(uint16_t)chunk[l]);
            }
        } else {
            s = ~s;
            sum = se_sum16(slots, s, l2);
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

/* One pair of slots' centroids in place: word l (elements 2l, 2l + 1) of slot 0's means at p0 + 2l,
 * slot 1's at p0 + 2l + 1, i.e. over slot 0's sums 2l and 2l + 1, which were just read (slot 1, p1,
 * is only read). d0, d1 from trec_mean_biased_of (count 1 included: the same loop copies); no slot 1:
 * p1 = p0 and d1 = {0, 0}, its words then hold -B in each half (never used: the recovery skips a
 * missing slot's T row). Per element: x = k + 2s + (s >> 31) (two ADDs with shifted operands),
 * UMULL's high word; per word PKHBT, USUB16 of B in each half, STR. */
static inline void se_centroid_pair(int32_t *p0, const int32_t *p1, int32_t pairs, trec_mean_biased_t d0,
                                    trec_mean_biased_t d1)
{
    const uint32_t bb = (uint32_t)TREC_MEAN_BIAS << 16 | (uint32_t)TREC_MEAN_BIAS;
#if TREC_NN_DSP_NATIVE
    int32_t s0, s1, t, u, j;
    __asm__ volatile(".p2align 2\n"
                     "1:\n\t"
                     "ldr %[s0], [%[p0]]\n\t"
                     "ldr %[s1], [%[p0], #4]\n\t"
                     "add %[t], %[k0], %[s0], lsl #1\n\t"
                     "add %[u], %[k0], %[s1], lsl #1\n\t"
                     "add %[s0], %[t], %[s0], asr #31\n\t"
                     "add %[s1], %[u], %[s1], asr #31\n\t"
                     "umull %[j], %[s0], %[s0], %[r0]\n\t"
                     "umull %[j], %[s1], %[s1], %[r0]\n\t"
                     "pkhbt %[t], %[s0], %[s1], lsl #16\n\t"
                     "ldr %[s1], [%[p1], #4]\n\t"
                     "ldr %[s0], [%[p1]], #8\n\t"
                     "usub16 %[t], %[t], %[bb]\n\t"
                     "str %[t], [%[p0]], #8\n\t"
                     "add %[t], %[k1], %[s0], lsl #1\n\t"
                     "add %[u], %[k1], %[s1], lsl #1\n\t"
                     "add %[s0], %[t], %[s0], asr #31\n\t"
                     "add %[s1], %[u], %[s1], asr #31\n\t"
                     "umull %[j], %[s0], %[s0], %[r1]\n\t"
                     "umull %[j], %[s1], %[s1], %[r1]\n\t"
                     "pkhbt %[s0], %[s0], %[s1], lsl #16\n\t"
                     "usub16 %[s0], %[s0], %[bb]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "str %[s0], [%[p0], #-4]\n\t"
                     "bne 1b"
                     : [p0] "+r"(p0), [p1] "+r"(p1), [n] "+r"(pairs), [s0] "=&r"(s0), [s1] "=&r"(s1),
                       [t] "=&r"(t), [u] "=&r"(u), [j] "=&r"(j)
                     : [r0] "r"(d0.r), [k0] "r"(d0.k), [r1] "r"(d1.r), [k1] "r"(d1.k), [bb] "r"(bb)
                     : "cc", "memory");
#else
    while (pairs-- > 0) {
        const int32_t a = p0[0], b = p0[1], c = p1[0], d = p1[1];
        p0[0] = trec_usub16(trec_pkhbt16((int32_t)trec_mean_biased(a, d0), (int32_t)trec_mean_biased(b, d0)),
                            (int32_t)bb);
        p0[1] = trec_usub16(trec_pkhbt16((int32_t)trec_mean_biased(c, d1), (int32_t)trec_mean_biased(d, d1)),
                            (int32_t)bb);
        p0 += 2;
        p1 += 2;
    }
#endif
}

/* se_centroid_pair for int16 sums (se_sum16): in0 slot 0's sums, slot 1's `off` bytes on (0 with no
 * slot 1: d1 = {0, 0}), out slot 0's row; word l of each slot's sums (elements 2l, 2l + 1) read at
 * in0 + 4l, the two centroid words written at out + 8l and out + 8l + 4, which never reach a sum word
 * not yet read (8l + 8 <= 2 L2 + 4l + 4 for l < L2 / 2); out meets in0 at the end of the rows. Per word
 * SXTH and ASR #16 for the two sums, then trec_mean_biased as in se_centroid_pair. */
static inline void se_centroid16_pair(const int16_t *in0, int32_t off, int32_t *out, trec_mean_biased_t d0,
                                      trec_mean_biased_t d1)
{
    const uint32_t bb = (uint32_t)TREC_MEAN_BIAS << 16 | (uint32_t)TREC_MEAN_BIAS;
#if TREC_NN_DSP_NATIVE
    int32_t w0, w1, a, b, t, j;
    /* the two words' chains interleaved (the M7 pairs them and hides UMULL's latency) */
    __asm__ volatile(".p2align 2\n"
                     "1:\n\t"
                     "ldr %[w1], [%[in], %[off]]\n\t"
                     "ldr %[w0], [%[in]], #4\n\t"
                     "sxth %[a], %[w0]\n\t"
                     "asr %[w0], %[w0], #16\n\t"
                     "add %[t], %[k0], %[a], lsl #1\n\t"
                     "add %[b], %[k0], %[w0], lsl #1\n\t"
                     "add %[a], %[t], %[a], asr #31\n\t"
                     "add %[w0], %[b], %[w0], asr #31\n\t"
                     "umull %[j], %[a], %[a], %[r0]\n\t"
                     "sxth %[t], %[w1]\n\t"
                     "umull %[j], %[w0], %[w0], %[r0]\n\t"
                     "asr %[w1], %[w1], #16\n\t"
                     "add %[b], %[k1], %[t], lsl #1\n\t"
                     "add %[t], %[b], %[t], asr #31\n\t"
                     "add %[b], %[k1], %[w1], lsl #1\n\t"
                     "pkhbt %[a], %[a], %[w0], lsl #16\n\t"
                     "add %[w1], %[b], %[w1], asr #31\n\t"
                     "usub16 %[a], %[a], %[bb]\n\t"
                     "umull %[j], %[t], %[t], %[r1]\n\t"
                     "str %[a], [%[out]], #8\n\t"
                     "umull %[j], %[w1], %[w1], %[r1]\n\t"
                     "cmp %[out], %[in]\n\t"
                     "pkhbt %[t], %[t], %[w1], lsl #16\n\t"
                     "usub16 %[t], %[t], %[bb]\n\t"
                     "str %[t], [%[out], #-4]\n\t"
                     "bne 1b"
                     : [in] "+r"(in0), [out] "+r"(out), [w0] "=&r"(w0), [w1] "=&r"(w1), [a] "=&r"(a), [b] "=&r"(b),
                       [t] "=&r"(t), [j] "=&r"(j)
                     : [off] "r"(off), [r0] "r"(d0.r), [k0] "r"(d0.k), [r1] "r"(d1.r), [k1] "r"(d1.k), [bb] "r"(bb)
                     : "cc", "memory");
#else
    const int16_t *in1 = (const int16_t *)(const void *)((const int8_t *)in0 + off);
    while ((const void *)out != (const void *)in0) {
        const int32_t a = in0[0], b = in0[1], c = in1[0], d = in1[1];
        out[0] = trec_usub16(trec_pkhbt16((int32_t)trec_mean_biased(a, d0), (int32_t)trec_mean_biased(b, d0)),
                             (int32_t)bb);
        out[1] = trec_usub16(trec_pkhbt16((int32_t)trec_mean_biased(c, d1), (int32_t)trec_mean_biased(d, d1)),
                             (int32_t)bb);
        in0 += 2;
        in1 += 2;
        out += 2;
    }
#endif
}

#if TREC_NN_DSP_NATIVE
/*
 * The centroids of n2 > 0 full pairs of slots with int16 sums on the core, the pair loop and
 * se_centroid16_pair's loop in one function, everything in registers but four stack slots: r0 in
 * (slot s's sums), r1 out (slot s's row), r2 off (4 L2 bytes: the next slot's sums, and the next pair
 * after a pair's words), r3 0x01000100 (B in each half), r4/r5 r and k of slot s, r6/r7 of slot s + 1,
 * r8-r12 and lr the words and temporaries; [sp] &counts[s + 1], [sp, #4] pairs left, [sp, #8] slot
 * s's first index in order[], [sp, #12] last_next (the first index past the last pair: counts[2 n2]
 * or N). Per pair both counts from the first indices, k = 513 c, r = 0xFFFFFFFF / 2c + 1 (UDIV).
 */
__attribute__((naked, noinline, noclone)) static void se_centroid16_pairs(
    __attribute__((unused)) int32_t *slots, __attribute__((unused)) const uint16_t *counts,
    __attribute__((unused)) int32_t n2, __attribute__((unused)) int32_t last_next, __attribute__((unused)) int32_t l2)
{
    __asm__ volatile("push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
                     "sub sp, sp, #16\n\t"
                     "ldr r12, [sp, #52]\n\t"
                     "adds r1, r1, #2\n\t"
                     "str r1, [sp]\n\t"
                     "str r2, [sp, #4]\n\t"
                     "movs r4, #0\n\t"
                     "str r4, [sp, #8]\n\t"
                     "str r3, [sp, #12]\n\t"
                     "mov r1, r0\n\t"
                     "lsl r2, r12, #2\n\t"
                     "mov r3, #0x01000100\n\t"
                     ".p2align 2\n"
                     "0:\n\t"
                     "ldr r8, [sp]\n\t"
                     "ldr r9, [sp, #4]\n\t"
                     "ldr r10, [sp, #8]\n\t"
                     "ldrh r11, [r8], #4\n\t"
                     "subs r9, r9, #1\n\t"
                     "ite eq\n\t"
                     "ldreq r12, [sp, #12]\n\t"
                     "ldrhne r12, [r8, #-2]\n\t"
                     "str r8, [sp]\n\t"
                     "sub r10, r11, r10\n\t"
                     "str r9, [sp, #4]\n\t"
                     "sub r11, r12, r11\n\t"
                     "str r12, [sp, #8]\n\t"
                     "add r5, r10, r10, lsl #9\n\t"
                     "add r7, r11, r11, lsl #9\n\t"
                     "lsl r10, r10, #1\n\t"
                     "lsl r11, r11, #1\n\t"
                     "mvn lr, #0\n\t"
                     "udiv r4, lr, r10\n\t"
                     "udiv r6, lr, r11\n\t"
                     "adds r4, r4, #1\n\t"
                     "adds r6, r6, #1\n\t"
                     "add r0, r1, r2, lsr #1\n\t"
                     ".p2align 2\n"
                     "1:\n\t"
                     "ldr r9, [r0, r2]\n\t"
                     "ldr r8, [r0], #4\n\t"
                     "sxth r10, r8\n\t"
                     "asr r8, r8, #16\n\t"
                     "add r12, r5, r10, lsl #1\n\t"
                     "add r11, r5, r8, lsl #1\n\t"
                     "add r10, r12, r10, asr #31\n\t"
                     "add r8, r11, r8, asr #31\n\t"
                     "umull lr, r10, r10, r4\n\t"
                     "sxth r12, r9\n\t"
                     "umull lr, r8, r8, r4\n\t"
                     "asr r9, r9, #16\n\t"
                     "add r11, r7, r12, lsl #1\n\t"
                     "add r12, r11, r12, asr #31\n\t"
                     "add r11, r7, r9, lsl #1\n\t"
                     "pkhbt r10, r10, r8, lsl #16\n\t"
                     "add r9, r11, r9, asr #31\n\t"
                     "usub16 r10, r10, r3\n\t"
                     "umull lr, r12, r12, r6\n\t"
                     "str r10, [r1], #8\n\t"
                     "umull lr, r9, r9, r6\n\t"
                     "cmp r1, r0\n\t"
                     "pkhbt r12, r12, r9, lsl #16\n\t"
                     "usub16 r12, r12, r3\n\t"
                     "str r12, [r1, #-4]\n\t"
                     "bne 1b\n\t"
                     "add r1, r1, r2\n\t"
                     "ldr r8, [sp, #4]\n\t"
                     "cmp r8, #0\n\t"
                     "bne 0b\n\t"
                     "add sp, sp, #16\n\t"
                     "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}");
}
#endif

/* Centroid phase of one sub-matrix: replace the sums of each pair of slots (s, s + 1), s even, by their
 * int16 means pair-interleaved in slot s's bytes: word l (elements 2l, 2l + 1) of slot s's centroid at
 * bytes [8l, 8l + 4), that of slot s + 1 at [8l + 4, 8l + 8) (trec_centroid_gemm_w4_2i reads both with
 * one pointer). With int32 sums those 8 bytes are exactly slot s's sums 2l and 2l + 1, read just before;
 * with int16 sums (N <= TREC_SE_SUM16_MAX_POSITIONS) the sums sit in the row's second half and are read
 * ahead of the writes (se_centroid16_pair); slot s + 1 is only read. The pad of an odd L sums to 0 and
 * its mean is 0. counts[s] is slot s's first index in order[] (its count the difference to the next).
 * One UDIV per slot (in C none for a singleton), then per element the biased reciprocal mean
 * (trec_mean_biased); above TREC_MEAN_BIASED_MAX_POSITIONS trec_mean (a lone last slot's partner then 0).
 * Out of line, so that the loops keep their pointers and reciprocals in registers; on the core the
 * int16 pairs run in one naked function (se_centroid16_pairs). */
SE_NOINLINE static void se_centroid(int32_t *slots, const uint16_t *counts, int32_t n_slots, int32_t positions,
                                    int32_t l2)
{
    const int32_t pairs = l2 >> 1;
    int32_t *p0 = slots;
    int32_t s, first = 0; /* counts[0]: slot 0 starts order[] */
    if (positions > TREC_MEAN_BIASED_MAX_POSITIONS) {
        for (s = 0; s < n_slots; s += 2, p0 += 2 * l2) {
            const int32_t has1 = s + 1 < n_slots;
            const int32_t first1 = has1 ? (int32_t)counts[s + 1] : positions;
            const int32_t c1 = has1 ? (s + 2 < n_slots ? (int32_t)counts[s + 2] : positions) - first1 : 1;
            const trec_mean_t d0 = trec_mean_of(first1 - (int32_t)counts[s], positions);
            const trec_mean_t d1 = trec_mean_of(c1, positions);
            const int32_t *p1 = p0 + l2;
            int32_t l;
            for (l = 0; l < pairs; l++) {
                const int32_t a = p0[2 * l], b = p0[2 * l + 1];
                const int32_t c = has1 ? p1[2 * l] : 0, d = has1 ? p1[2 * l + 1] : 0;
                p0[2 * l] = trec_pkhbt16(trec_mean(a, d0), trec_mean(b, d0));
                p0[2 * l + 1] = trec_pkhbt16(trec_mean(c, d1), trec_mean(d, d1));
            }
        }
        return;
    }
    if (positions <= TREC_SE_SUM16_MAX_POSITIONS) {
        /* int16 sums in the second half of each slot's row (se_cluster16) */
#if TREC_NN_DSP_NATIVE
        s = n_slots & ~(int32_t)1;
        if (s > 0) {
            first = s < n_slots ? (int32_t)counts[s] : positions;
            se_centroid16_pairs(slots, counts, s >> 1, first, l2);
            p0 += s * l2;
        }
#else
        for (s = 0; s + 1 < n_slots; s += 2, p0 += 2 * l2) {
            const int32_t first1 = counts[s + 1];
            const int32_t next = s + 2 < n_slots ? (int32_t)counts[s + 2] : positions;
            se_centroid16_pair((const int16_t *)(const void *)p0 + l2, 4 * l2, p0, trec_mean_biased_of(first1 - first),
                               trec_mean_biased_of(next - first1));
            first = next;
        }
#endif
        if (s < n_slots) {
            const trec_mean_biased_t none = {0u, 0u};
            se_centroid16_pair((const int16_t *)(const void *)p0 + l2, 0, p0, trec_mean_biased_of(positions - first),
                               none);
        }
        return;
    }
    for (s = 0; s + 1 < n_slots; s += 2, p0 += 2 * l2) {
        const int32_t first1 = counts[s + 1];
        const int32_t next = s + 2 < n_slots ? (int32_t)counts[s + 2] : positions;
        se_centroid_pair(p0, p0 + l2, pairs, trec_mean_biased_of(first1 - first), trec_mean_biased_of(next - first1));
        first = next;
    }
    if (s < n_slots) {
        const trec_mean_biased_t none = {0u, 0u};
        se_centroid_pair(p0, p0, pairs, trec_mean_biased_of(positions - first), none);
    }
}

/* Group the positions by slot (counting sort; the chunk is dead, order[] takes its bytes): counts[s]
 * -> end of slot s in order[], then filled backwards down to its start, so that the members of slot s
 * are order[counts[s] .. slot_end(s)), in increasing position. Out of line (its pointers in registers). */
SE_NOINLINE static void se_group(uint16_t *counts, int32_t n_slots, const uint16_t *slot_of, uint16_t *order,
                                 int32_t positions)
{
    uint32_t run = 0;
    int32_t s, p;
    for (s = 0; s < n_slots; s++) {
        run += counts[s];
        counts[s] = (uint16_t)run;
    }
    for (p = positions - 1; p >= 0; p--) {
        const uint32_t at = counts[slot_of[p]] - 1u;
        counts[slot_of[p]] = (uint16_t)at;
        order[at] = (uint16_t)p;
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
        int32_t n_slots = 0, s, l;

        /* im2col of chunk m only: chunk[p] = v_{p,m}, reordered q15, pad (odd L) 0 */
        TREC_PHASE_BEGIN(TREC_PHASE_IM2COL);
        {
            const int32_t row_len = kernel * input_c;
            const int32_t ky0 = k0 / row_len, rem = k0 - ky0 * row_len;
            const int32_t kx0 = rem / input_c, ci0 = rem - kx0 * input_c;
            const int16_t off = (int16_t)input_offset;
            int32_t oy = 0, ox = 0;
            const int32_t kx_last = (rem + sub_len - 1) / input_c; /* the chunk's last tap in row ky0 */
            if (rem + sub_len <= row_len && ky0 >= padding && kx0 >= padding &&
                ky0 - padding + (output_h - 1) * stride < input_h &&
                kx_last - padding + (output_w - 1) * stride < input_w) {
                /* the chunk is one contiguous run of the input for every position (channels of taps
                 * kx0 .. kx_last of kernel row ky0, adjacent pixels), every window inside the input */
                se_im2col_runs(input + ((ky0 - padding) * input_w + kx0 - padding) * input_c + ci0, stride * input_c,
                               (stride * input_w - output_w * stride) * input_c, output_w, positions, sub_len, off,
                               b.chunk);
            } else if (input_c - ci0 >= sub_len) {
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
        n_slots = positions <= TREC_SE_SUM16_MAX_POSITIONS
                      ? se_cluster16(b.table, b.slot_id, b.counts, b.slots, b.cluster_of, b.chunk, positions, l2)
                      : se_cluster(b.table, b.slot_id, b.counts, b.slots, b.cluster_of, b.chunk, positions, l2);
        se_group(b.counts, n_slots, b.cluster_of, b.order, positions);
        TREC_PHASE_END(TREC_PHASE_CLUSTER);

        /* centroid: each pair of slots' int32 sums -> their int16 means, pair-interleaved in the
         * first slot of the pair (se_centroid) */
        TREC_PHASE_BEGIN(TREC_PHASE_CENTROID);
        se_centroid(b.slots, b.counts, n_slots, positions, l2);
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
