/*
 * convolve_s8.c - dense int8 convolution: reference loop nest and the optimized
 * im2col + 2x2 blocked SMLAD GEMM (the baseline TREC is measured against).
 */
#include <string.h>

#include "trec_nn_dsp.h"
#include "trec_nn_math.h"
#include "trec_nn_support.h"
#include "trecsim_nn.h"

static int32_t is_1x1_fast(int32_t kernel, int32_t stride, int32_t padding)
{
    return kernel == 1 && stride == 1 && padding == 0;
}

int32_t convolve_s8_get_buffer_size(int32_t input_c, int32_t output_c, int32_t kernel, int32_t stride,
                                    int32_t padding)
{
    if (is_1x1_fast(kernel, stride, padding)) {
        return output_c * (int32_t)sizeof(int32_t); /* bias + input_offset * sum_k w */
    }
    {
        const int32_t k = kernel * kernel * input_c;
        const int32_t row = (k + 1) & ~(int32_t)1; /* keep the second patch word aligned */
        return TREC_ALIGN4(2 * row * (int32_t)sizeof(int16_t));
    }
}

int32_t convolve_s8_ref(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c, int32_t input_offset,
                        const int8_t *weight, int32_t output_c, int32_t kernel, const int32_t *bias,
                        int32_t output_offset, const int32_t *multiplier, const int32_t *shift, int32_t stride,
                        int32_t padding, int32_t act_min, int32_t act_max, int8_t *output)
{
    int32_t oy, ox, c, ky, kx, ci;
    int32_t output_h, output_w;
    if (trec_check_conv_args(input_h, input_w, input_c, output_c, kernel, stride, padding, act_min, act_max)) {
        return TREC_NN_ARG_ERROR;
    }
    output_h = trec_out_size(input_h, kernel, stride, padding);
    output_w = trec_out_size(input_w, kernel, stride, padding);
    for (oy = 0; oy < output_h; oy++) {
        for (ox = 0; ox < output_w; ox++) {
            for (c = 0; c < output_c; c++) {
                /* acc = bias[c] + sum_{ky,kx,ci} (x + input_offset) * w[c][ky][kx][ci]; padding adds 0 */
                int32_t acc = bias ? bias[c] : 0;
                for (ky = 0; ky < kernel; ky++) {
                    const int32_t y = oy * stride - padding + ky;
                    if (y < 0 || y >= input_h) {
                        continue;
                    }
                    for (kx = 0; kx < kernel; kx++) {
                        const int32_t x = ox * stride - padding + kx;
                        const int8_t *in;
                        const int8_t *w;
                        if (x < 0 || x >= input_w) {
                            continue;
                        }
                        in = input + (y * input_w + x) * input_c;
                        w = weight + ((c * kernel + ky) * kernel + kx) * input_c;
                        for (ci = 0; ci < input_c; ci++) {
                            acc = trec_add_wrap(acc, (in[ci] + input_offset) * w[ci]);
                        }
                    }
                }
                *output++ = trec_requantize_clamp(acc, multiplier[c], shift[c], output_offset, act_min, act_max);
            }
        }
    }
    return TREC_NN_SUCCESS;
}

/* 1x1, stride 1, no padding: rows of the input are the patches, int8 x int8, offset folded into the bias. */
static void convolve_1x1_s8_fast(const int8_t *input, int32_t positions, int32_t input_c, int32_t input_offset,
                                 const int8_t *weight, int32_t output_c, const int32_t *bias, int32_t output_offset,
                                 const int32_t *multiplier, const int32_t *shift, int32_t act_min, int32_t act_max,
                                 int32_t *folded, int8_t *output)
{
    int32_t p, c;
    for (c = 0; c < output_c; c++) {
        const int8_t *w = weight + c * input_c;
        int32_t wsum = 0, i;
        for (i = 0; i < input_c; i++) {
            wsum += w[i];
        }
        folded[c] = trec_add_wrap(bias ? bias[c] : 0, input_offset * wsum);
    }
    for (p = 0; p + 1 < positions; p += 2) {
        const int8_t *a0 = input + p * input_c;
        const int8_t *a1 = a0 + input_c;
        int8_t *out0 = output + p * output_c;
        int8_t *out1 = out0 + output_c;
        for (c = 0; c + 1 < output_c; c += 2) {
            const int8_t *w0 = weight + c * input_c;
            int32_t sum[4];
            sum[0] = sum[2] = folded[c];
            sum[1] = sum[3] = folded[c + 1];
            trec_dot_s8_s8_2x2(a0, a1, w0, w0 + input_c, input_c, sum);
            out0[c] = trec_requantize_clamp(sum[0], multiplier[c], shift[c], output_offset, act_min, act_max);
            out0[c + 1] = trec_requantize_clamp(sum[1], multiplier[c + 1], shift[c + 1], output_offset, act_min,
                                                act_max);
            out1[c] = trec_requantize_clamp(sum[2], multiplier[c], shift[c], output_offset, act_min, act_max);
            out1[c + 1] = trec_requantize_clamp(sum[3], multiplier[c + 1], shift[c + 1], output_offset, act_min,
                                                act_max);
        }
        if (c < output_c) {
            const int8_t *w0 = weight + c * input_c;
            out0[c] = trec_requantize_clamp(trec_dot_s8_s8_1x1(a0, w0, input_c, folded[c]), multiplier[c], shift[c],
                                            output_offset, act_min, act_max);
            out1[c] = trec_requantize_clamp(trec_dot_s8_s8_1x1(a1, w0, input_c, folded[c]), multiplier[c], shift[c],
                                            output_offset, act_min, act_max);
        }
    }
    if (p < positions) {
        const int8_t *a0 = input + p * input_c;
        int8_t *out0 = output + p * output_c;
        for (c = 0; c < output_c; c++) {
            out0[c] = trec_requantize_clamp(trec_dot_s8_s8_1x1(a0, weight + c * input_c, input_c, folded[c]),
                                            multiplier[c], shift[c], output_offset, act_min, act_max);
        }
    }
}

/* GEMM of 2 reordered-q15 patches with all output channels, 2 x 2 blocked; writes 2 output rows. */
static void mat_mult_2_patches(const int16_t *a0, const int16_t *a1, int32_t k, const int8_t *weight,
                               int32_t output_c, const int32_t *bias, int32_t output_offset,
                               const int32_t *multiplier, const int32_t *shift, int32_t act_min, int32_t act_max,
                               int8_t *out0, int8_t *out1)
{
    int32_t c;
    for (c = 0; c + 1 < output_c; c += 2) {
        const int8_t *w0 = weight + c * k;
        int32_t sum[4];
        sum[0] = sum[2] = bias ? bias[c] : 0;
        sum[1] = sum[3] = bias ? bias[c + 1] : 0;
        trec_dot_q15_s8_2x2(a0, a1, w0, w0 + k, k, sum);
        out0[c] = trec_requantize_clamp(sum[0], multiplier[c], shift[c], output_offset, act_min, act_max);
        out0[c + 1] = trec_requantize_clamp(sum[1], multiplier[c + 1], shift[c + 1], output_offset, act_min, act_max);
        out1[c] = trec_requantize_clamp(sum[2], multiplier[c], shift[c], output_offset, act_min, act_max);
        out1[c + 1] = trec_requantize_clamp(sum[3], multiplier[c + 1], shift[c + 1], output_offset, act_min, act_max);
    }
    if (c < output_c) {
        const int8_t *w0 = weight + c * k;
        const int32_t b = bias ? bias[c] : 0;
        out0[c] = trec_requantize_clamp(trec_dot_q15_s8_1x1(a0, w0, k, b), multiplier[c], shift[c], output_offset,
                                        act_min, act_max);
        out1[c] = trec_requantize_clamp(trec_dot_q15_s8_1x1(a1, w0, k, b), multiplier[c], shift[c], output_offset,
                                        act_min, act_max);
    }
}

static void mat_mult_1_patch(const int16_t *a0, int32_t k, const int8_t *weight, int32_t output_c,
                             const int32_t *bias, int32_t output_offset, const int32_t *multiplier,
                             const int32_t *shift, int32_t act_min, int32_t act_max, int8_t *out0)
{
    int32_t c;
    for (c = 0; c + 1 < output_c; c += 2) {
        const int8_t *w0 = weight + c * k;
        int32_t sum[2];
        sum[0] = bias ? bias[c] : 0;
        sum[1] = bias ? bias[c + 1] : 0;
        trec_dot_q15_s8_1x2(a0, w0, w0 + k, k, sum);
        out0[c] = trec_requantize_clamp(sum[0], multiplier[c], shift[c], output_offset, act_min, act_max);
        out0[c + 1] = trec_requantize_clamp(sum[1], multiplier[c + 1], shift[c + 1], output_offset, act_min, act_max);
    }
    if (c < output_c) {
        out0[c] = trec_requantize_clamp(trec_dot_q15_s8_1x1(a0, weight + c * k, k, bias ? bias[c] : 0),
                                        multiplier[c], shift[c], output_offset, act_min, act_max);
    }
}

int32_t convolve_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c, int32_t input_offset,
                    const int8_t *weight, int32_t output_c, int32_t kernel, const int32_t *bias,
                    int32_t output_offset, const int32_t *multiplier, const int32_t *shift, int32_t stride,
                    int32_t padding, int32_t act_min, int32_t act_max, void *buffer, int8_t *output)
{
    int32_t output_h, output_w, k, row, p, positions;
    int16_t *cols = (int16_t *)buffer;
    if (trec_check_conv_args(input_h, input_w, input_c, output_c, kernel, stride, padding, act_min, act_max) ||
        buffer == 0) {
        return TREC_NN_ARG_ERROR;
    }
    output_h = trec_out_size(input_h, kernel, stride, padding);
    output_w = trec_out_size(input_w, kernel, stride, padding);
    positions = output_h * output_w;
    if (is_1x1_fast(kernel, stride, padding)) {
        convolve_1x1_s8_fast(input, positions, input_c, input_offset, weight, output_c, bias, output_offset,
                             multiplier, shift, act_min, act_max, (int32_t *)buffer, output);
        return TREC_NN_SUCCESS;
    }
    k = kernel * kernel * input_c;
    row = (k + 1) & ~(int32_t)1;
    for (p = 0; p < positions; p++) {
        /* im2col of position p into slot (p & 1); the GEMM runs once two patches are ready */
        const int32_t oy = p / output_w, ox = p - (p / output_w) * output_w;
        int16_t *slot = cols + (p & 1) * row;
        trec_im2col_patch_q15(input, input_h, input_w, input_c, kernel, oy * stride - padding,
                              ox * stride - padding, (int16_t)input_offset, slot);
        trec_q15_reorder(slot, k);
        if (p & 1) {
            mat_mult_2_patches(cols, cols + row, k, weight, output_c, bias, output_offset, multiplier, shift,
                               act_min, act_max, output + (p - 1) * output_c, output + p * output_c);
        }
    }
    if (positions & 1) {
        mat_mult_1_patch(cols, k, weight, output_c, bias, output_offset, multiplier, shift, act_min, act_max,
                         output + (positions - 1) * output_c);
    }
    return TREC_NN_SUCCESS;
}
