/*
 * trecsim_nn.h - int8 kernels of trecsim's firmware (CMSIS-NN style).
 *
 * Every kernel matches its NumPy golden model in trecsim/golden/kernels.py bit
 * for bit (same name, arguments in the same order, with the C's dimensions,
 * scratch buffer and outputs added), for one image (the golden batch N = 1).
 *
 * Conventions
 *  - Tensors are NHWC int8, one image; real = scale * (q - zero_point).
 *  - input_offset = -z_in; the kernels compute on v = x + input_offset (int16,
 *    in [-255, 255]); padded elements are v = 0 (they hold z_in).
 *  - Conv weights (C_out, k, k, C_in) int8, patch order (kh, kw, c_in); fc weights
 *    (F_out, F_in). bias (may be NULL = 0), multiplier and shift are int32 arrays
 *    with one entry per output channel (trecsim.quant.quantize_multiplier).
 *  - Accumulators are int32 with wrapping addition; the last step of conv and fc is
 *    out = clamp(trec_requantize(acc, multiplier[c], shift[c]) + output_offset,
 *                act_min, act_max)                          (trec_nn_math.h)
 *  - Scratch: `buffer` of <op>_get_buffer_size(...) bytes, 4-byte aligned, owned
 *    by the caller, contents on entry irrelevant (never assumed cleared).
 *  - Return TREC_NN_SUCCESS, or TREC_NN_ARG_ERROR for an argument the kernel
 *    cannot handle (nothing written then).
 *  - No malloc, no floating point, no VLAs.
 */
#ifndef TRECSIM_NN_H
#define TRECSIM_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TREC_NN_SUCCESS 0
#define TREC_NN_ARG_ERROR (-1)
#define TREC_NN_MAX_HASH_BITS 16
/* int16 recovery of trec_se_convolve_s8: T narrowed by at most this many bits (trecsim.quant) */
#define TREC_NN_MAX_RECOVERY_SHIFT 12

/* ------------------------------------------------------------------ convolution */

/*
 * convolve_s8: dense convolution, square kernel, stride, symmetric zero padding.
 *   out[y][x][c] = requant_c(bias[c] + sum_{ky,kx,ci} v[y*s+ky-p][x*s+kx-p][ci] * w[c][ky][kx][ci])
 * Optimized path: q15 im2col of two patches (reordered for SXTB16), then a 2x2 blocked
 * (2 patches x 2 output channels) SMLAD GEMM; 1x1/stride-1/no-padding layers skip
 * im2col and run int8 x int8 with the input offset folded into the bias
 * (acc = bias + input_offset * sum_k w + sum_k x * w).
 * H_out = (H_in + 2p - k) / s + 1, likewise W_out.
 */
int32_t convolve_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c, int32_t input_offset,
                    const int8_t *weight, int32_t output_c, int32_t kernel, const int32_t *bias,
                    int32_t output_offset, const int32_t *multiplier, const int32_t *shift, int32_t stride,
                    int32_t padding, int32_t act_min, int32_t act_max, void *buffer, int8_t *output);
/* Bytes of scratch convolve_s8 needs: 2 patches of K int16 (or C_out int32 on the 1x1 path). */
int32_t convolve_s8_get_buffer_size(int32_t input_c, int32_t output_c, int32_t kernel, int32_t stride,
                                    int32_t padding);
/* Plain loop-nest reference of convolve_s8 (TFLM-style), no scratch. */
int32_t convolve_s8_ref(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c, int32_t input_offset,
                        const int8_t *weight, int32_t output_c, int32_t kernel, const int32_t *bias,
                        int32_t output_offset, const int32_t *multiplier, const int32_t *shift, int32_t stride,
                        int32_t padding, int32_t act_min, int32_t act_max, int8_t *output);

/*
 * TREC convolutions (TREC.md). K = k*k*C_in is split into M = K / L chunks of length L
 * (sub_len); for each chunk m and output position p (N = H_out * W_out <= 65535):
 *   hash:      ID_p = sum_j [v_{p,m} . R_m[:, j] > 0] << j,   j < H (hash_bits <= 16)
 *   cluster:   positions with equal ID form one cluster (per image, per m)
 *   centroid:  cent_c = rounding_divide(sum of members' v_{p,m}, |c|)  (ties away from 0)
 *   GEMM:      T_c[o] = cent_c . W_m[:, o]            (int32, o < C_out)
 *   recovery:  acc[p][o] += T_{cluster(p)}[o]
 * then out[p][o] = requant_o(bias[o] + acc[p][o]). clusters[m] (uint16, M entries, may be
 * NULL) receives the cluster count of chunk m: remaining ratio = sum(clusters) / (M * N).
 * Phases are bracketed by TREC_PHASE_BEGIN/END (trec_profile.h).
 */

/* Plain TREC: own hash matrix R (L x H int8, row-major, the same for every m). Straightforward
 * buffers: the full N x K im2col, a dense 2^H ID table cleared per chunk, separate sums and
 * centroids. */
int32_t trec_convolve_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c,
                         int32_t input_offset, const int8_t *weight, int32_t output_c, int32_t kernel,
                         const int32_t *bias, int32_t output_offset, const int32_t *multiplier,
                         const int32_t *shift, int32_t stride, int32_t padding, int32_t act_min, int32_t act_max,
                         int32_t sub_len, int32_t hash_bits, const int8_t *hash_matrix, void *buffer,
                         int8_t *output, uint16_t *clusters);
int32_t trec_convolve_s8_get_buffer_size(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c,
                                         int32_t kernel, int32_t stride, int32_t padding, int32_t sub_len,
                                         int32_t hash_bits);

/* Space-efficient TREC: kernel reuse (R_m[l][j] = weight[j][m*L + l], needs H <= C_out), only
 * chunk m's N x L im2col, a reversed ID table of 2^H uint16 (ID -> slot) at offset 0 of
 * `buffer` that is never cleared (a slot is valid iff slot < n_slots && slot_id[slot] == ID,
 * so stale or garbage entries are harmless and each chunk writes only one entry per cluster),
 * and a cluster stack of min(N, 2^H) slots whose member sums (int32) are replaced in place
 * by their centroids (int16) - the two-step stack replacement. `thresholds` (int32, K / L rows of
 * H, |t| < 2^24, or 0 for all zero) centres the hash bits: bit j of sub-matrix m is
 * [v . R_m[:, j] > thresholds[m * H + j]] (TREC.md, "Centred hash bits"). Recovery is int16
 * (README, "Method changes"): each T = centroid . W_m is narrowed to sat16(T >> recovery_shift) and
 * added with saturation to an int16 accumulator per output, which is requantized as
 * (acc16 << recovery_shift) + bias + n_sub * (2^recovery_shift - 1) / 2; 0 <= recovery_shift <= 12. */
int32_t trec_se_convolve_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c,
                            int32_t input_offset, const int8_t *weight, int32_t output_c, int32_t kernel,
                            const int32_t *bias, int32_t output_offset, const int32_t *multiplier,
                            const int32_t *shift, int32_t stride, int32_t padding, int32_t act_min,
                            int32_t act_max, int32_t sub_len, int32_t hash_bits, const int32_t *thresholds,
                            int32_t recovery_shift, void *buffer, int8_t *output, uint16_t *clusters);
int32_t trec_se_convolve_s8_get_buffer_size(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c,
                                            int32_t kernel, int32_t stride, int32_t padding, int32_t sub_len,
                                            int32_t hash_bits);

/* --------------------------------------------------------------- fully connected */

/*
 * fully_connected_s8: out[o] = requant_o(bias[o] + sum_i (x[i] + input_offset) * w[o][i]).
 * Optimized path: the input is converted once to reordered q15 in `buffer`, then
 * 2 outputs per SMLAD loop.
 */
int32_t fully_connected_s8(const int8_t *input, int32_t input_size, int32_t input_offset, const int8_t *weight,
                           int32_t output_size, const int32_t *bias, int32_t output_offset,
                           const int32_t *multiplier, const int32_t *shift, int32_t act_min, int32_t act_max,
                           void *buffer, int8_t *output);
int32_t fully_connected_s8_get_buffer_size(int32_t input_size);
int32_t fully_connected_s8_ref(const int8_t *input, int32_t input_size, int32_t input_offset,
                               const int8_t *weight, int32_t output_size, const int32_t *bias,
                               int32_t output_offset, const int32_t *multiplier, const int32_t *shift,
                               int32_t act_min, int32_t act_max, int8_t *output);

/* ----------------------------------------------------------------------- pooling */

/* max_pool_s8: out = clamp(max over the k x k window, act_min, act_max); no padding. */
int32_t max_pool_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t channels, int32_t kernel,
                    int32_t stride, int32_t act_min, int32_t act_max, int8_t *output);
/* avg_pool_s8: out = clamp(rounding_divide(sum over the window, k*k), act_min, act_max); no padding. */
int32_t avg_pool_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t channels, int32_t kernel,
                    int32_t stride, int32_t act_min, int32_t act_max, int8_t *output);
/* global_avg_pool_s8: (H, W, C) -> (C): clamp(rounding_divide(sum over H*W, H*W), act_min, act_max). */
int32_t global_avg_pool_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t channels,
                           int32_t act_min, int32_t act_max, int8_t *output);

/* ------------------------------------------------------------------- elementwise */

/* relu_s8: out = max(x, clamp(zero_point, -128, 127)); input == output allowed. */
int32_t relu_s8(const int8_t *input, int32_t size, int32_t zero_point, int8_t *output);

/* concat_s8: copies one input (positions x input_c) into channels [channel_offset,
 * channel_offset + input_c) of the output (positions x output_c); call once per input. */
int32_t concat_s8(const int8_t *input, int32_t positions, int32_t input_c, int32_t channel_offset,
                  int32_t output_c, int8_t *output);

/* elementwise_add_s8 (arm_elementwise_add_s8):
 *   a = requantize((int32)((uint32)(x1 + off1) << left_shift), m1, s1), b likewise,
 *   out = clamp(requantize(a + b (wrapping), m_out, s_out) + output_offset, act_min, act_max). */
int32_t elementwise_add_s8(const int8_t *input1, const int8_t *input2, int32_t input1_offset,
                           int32_t input1_multiplier, int32_t input1_shift, int32_t input2_offset,
                           int32_t input2_multiplier, int32_t input2_shift, int32_t left_shift,
                           int32_t output_offset, int32_t output_multiplier, int32_t output_shift, int32_t act_min,
                           int32_t act_max, int32_t size, int8_t *output);

/* requantize_s8: acc (rows x channels int32) -> int8, per-channel requantize + offset + clamp. */
int32_t requantize_s8(const int32_t *acc, int32_t rows, int32_t channels, const int32_t *multiplier,
                      const int32_t *shift, int32_t output_offset, int32_t act_min, int32_t act_max,
                      int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TRECSIM_NN_H */
