/*
 * trec_nn_support.h - helpers shared by the kernels (not part of the public API).
 */
#ifndef TREC_NN_SUPPORT_H
#define TREC_NN_SUPPORT_H

#include <stdint.h>

#define TREC_ALIGN4(bytes) (((bytes) + 3) & ~(int32_t)3)

/* (size + 2 * padding - kernel) / stride + 1, or -1 when it does not fit. */
int32_t trec_out_size(int32_t size, int32_t kernel, int32_t stride, int32_t padding);

/* Shared argument checks of the convolutions; returns 0 when usable. */
int32_t trec_check_conv_args(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c, int32_t kernel,
                             int32_t stride, int32_t padding, int32_t act_min, int32_t act_max);

/* dst[i] = src[i] + offset (natural order), four at a time with SXTAB16. */
void trec_q7_to_q15_with_offset(const int8_t *src, int16_t *dst, int32_t n, int16_t offset);

/* In place, every full group of four (a, b, c, d) -> (a, c, b, d): the layout trec_dot_q15_* read. */
void trec_q15_reorder(int16_t *buf, int32_t len);

/* Patch vector of the window with top-left (y0, x0) (padding included, may be negative):
 * K = kernel * kernel * input_c int16 in (ky, kx, ci) order, v = x + offset, 0 outside. */
void trec_im2col_patch_q15(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c, int32_t kernel,
                           int32_t y0, int32_t x0, int16_t offset, int16_t *dst);

/* Elements [k0, k0 + len) of that patch vector. */
void trec_im2col_chunk_q15(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c,
                           int32_t kernel, int32_t y0, int32_t x0, int32_t k0, int32_t len, int16_t offset,
                           int16_t *dst);

/* ---- phases shared by the two TREC convolutions (trec_common.c) ---- */

/* Shared argument checks of the TREC convolutions; returns 0 when usable. */
int32_t trec_check_trec_args(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c, int32_t kernel,
                             int32_t stride, int32_t padding, int32_t act_min, int32_t act_max, int32_t sub_len,
                             int32_t hash_bits);

/* acc[p][o] = bias[o] (or 0) for every position. */
void trec_acc_init(int32_t *acc, int32_t positions, int32_t output_c, const int32_t *bias);

/* T[s][o] = cent_s . w[o][k0 .. k0 + len) for s < n_clusters, o < output_c; centroids are
 * reordered q15 rows of stride cent_stride int16, weights rows of weight_stride int8 from w_m. */
void trec_centroid_gemm(const int16_t *cents, int32_t cent_stride, int32_t n_clusters, const int8_t *w_m,
                        int32_t weight_stride, int32_t len, int32_t output_c, int32_t *t);

/* The same T for two centroids whose reordered-q15 rows (pairs words each) are pair-interleaved in
 * cents2 (word l of row 0, then word l of row 1; see trec_dot_q15i_w4_2x4), against the weights in
 * the "w4" layout: channels in groups of four (zero rows past output_c), group g at
 * w4[8 * pairs * g ..]. Writes the two rows narrowed for int16 recovery, sat16(T >> rb) (0 <= rb
 * <= 12), to t16[0 .. output_c) and t16[C2 .. C2 + output_c), C2 = output_c rounded up to even;
 * t16 4-byte aligned. */
void trec_centroid_gemm_w4_2i(const int16_t *cents2, int32_t pairs, const int16_t *w4, int32_t output_c, int32_t rb,
                              int16_t *t16);

/* Four hash bits of n2 pairs of positions: rows holds their pair-interleaved rows (2 x 2 * pairs int16
 * each, see trec_dot_q15i_w4_2x4), w4g one group of four weight rows in the w4 layout, t4 their four
 * thresholds (|t| < 2^24); ids[2q] and ids[2q + 1] |= [row . w_c > t4[c]] << (shift + c) for c < 4
 * (shift <= 12). On the core ids must be 4-byte aligned (each pair's two IDs are updated as one word). */
void trec_hash4_q15i_w4_2x4(const int16_t *rows, int32_t pairs, const int16_t *w4g, int32_t n2, uint16_t *ids,
                            int32_t shift, const int32_t *t4);

/* acc[p][o] += T[cluster_of[p]][o] (wrapping). */
void trec_recovery(int32_t *acc, const uint16_t *cluster_of, int32_t positions, const int32_t *t, int32_t output_c);

/* out[p][o] = clamp(requantize(acc[p][o], m[o], s[o]) + output_offset). */
void trec_acc_requantize(const int32_t *acc, int32_t positions, int32_t output_c, const int32_t *multiplier,
                         const int32_t *shift, int32_t output_offset, int32_t act_min, int32_t act_max,
                         int8_t *output);

#endif /* TREC_NN_SUPPORT_H */
