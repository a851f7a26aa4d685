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
            trec_dot_s8_s8_2x2_adj(a0, w0, input_c, input_c, sum); /* a1 = a0 + input_c */
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

/*
 * The im2col + GEMM path works on two output positions at a time, their patches "pair-interleaved"
 * in the 2 * row int16 of scratch (K = 4G + t, t = K % 4):
 *   group g < G: buf[8g .. 8g + 4) = patch 0's (v_4g, v_4g+2, v_4g+1, v_4g+3) (reordered q15, see
 *                trec_nn_dsp.h), buf[8g + 4 .. 8g + 8) = the same of patch 1;
 *   tail i < t:  buf[8G + s * t + i] = patch s's v_{4G + i}, natural order.
 * with v = x + input_offset, 0 in the padding. One pointer then walks both patches in the SMLAD
 * loop (trec_dot_q15x2i_s8_2x2), which leaves registers for all four sums, no stack in the loop.
 */
typedef struct {
    int16_t *buf;
    int32_t k4;      /* 4 * G: elements in whole groups */
    int32_t t;       /* K % 4, the natural-order tail */
    int32_t offset2; /* the input offset in both halfwords */
    int16_t offset;
} pair_cols;

/* index of element k of patch `slot` in the interleaved buffer */
static inline int32_t pair_index(const pair_cols *pc, int32_t slot, int32_t k)
{
    if (k < pc->k4) {
        /* within a group (v0, v2, v1, v3): element r goes to 2 * (r & 1) + (r >> 1) */
        const int32_t r = k & 3;
        return 8 * (k >> 2) + 4 * slot + 2 * (r & 1) + (r >> 1);
    }
    return 2 * pc->k4 + slot * pc->t + (k - pc->k4);
}

/* elements [k, k + n) of patch `slot`: n contiguous int8 from src (+ offset), or zeros (src == 0) */
static void pair_put_run(const pair_cols *pc, int32_t slot, int32_t k, int32_t n, const int8_t *src)
{
    while (n > 0) {
        if ((k & 3) == 0 && n >= 4 && k + 4 <= pc->k4) {
            /* a whole group: one word read, (v0, v2) and (v1, v3) with two SXTAB16 */
            int16_t *d = pc->buf + 2 * k + 4 * slot;
            if (src) {
                const int32_t x = trec_read_s8x4(src);
                trec_write_q15x2(d, trec_sxtab16(pc->offset2, x));
                trec_write_q15x2(d + 2, trec_sxtab16_ror8(pc->offset2, x));
                src += 4;
            } else {
                trec_write_q15x2(d, 0);
                trec_write_q15x2(d + 2, 0);
            }
            k += 4;
            n -= 4;
        } else {
            pc->buf[pair_index(pc, slot, k)] = src ? (int16_t)(*src++ + pc->offset) : 0;
            k++;
            n--;
        }
    }
}

typedef void (*pair_im2col_fn)(const pair_cols *pc, int32_t slot, const int8_t *input, int32_t input_h,
                               int32_t input_w, int32_t input_c, int32_t kernel, int32_t y0, int32_t x0);

/* im2col of the window with top-left (y0, x0) into patch `slot` (see trec_im2col_patch_q15) */
static void pair_im2col(const pair_cols *pc, int32_t slot, const int8_t *input, int32_t input_h, int32_t input_w,
                        int32_t input_c, int32_t kernel, int32_t y0, int32_t x0)
{
    const int32_t row_len = kernel * input_c;
    const int32_t kx_lo = x0 < 0 ? -x0 : 0;
    const int32_t kx_hi = x0 + kernel > input_w ? input_w - x0 : kernel;
    int32_t ky, k = 0;
    for (ky = 0; ky < kernel; ky++, k += row_len) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= input_h || kx_hi <= kx_lo) {
            pair_put_run(pc, slot, k, row_len, 0);
        } else {
            const int32_t before = kx_lo * input_c, inside = (kx_hi - kx_lo) * input_c;
            pair_put_run(pc, slot, k, before, 0);
            pair_put_run(pc, slot, k + before, inside, input + (y * input_w + x0 + kx_lo) * input_c);
            pair_put_run(pc, slot, k + before + inside, row_len - before - inside, 0);
        }
    }
}

/*
 * Small patches whose runs are not whole groups (input_c % 4 != 0, e.g. the 3-channel first layer,
 * where the element-wise path of pair_put_run would dominate): the patch is first gathered as K
 * int8 in natural order on the stack, padding as -input_offset (its v is exactly 0; used when that
 * is an int8, i.e. input_offset in [-127, 128], which -zero_point always is), then widened a word
 * at a time into the patch's slot.
 */
#define PAIR_STAGE_MAX 256

static void pair_im2col_staged(const pair_cols *pc, int32_t slot, const int8_t *input, int32_t input_h,
                               int32_t input_w, int32_t input_c, int32_t kernel, int32_t y0, int32_t x0)
{
    union {
        int32_t align;
        int8_t b[PAIR_STAGE_MAX];
    } stage;
    const int32_t row_len = kernel * input_c;
    const int32_t kx_lo = x0 < 0 ? -x0 : 0;
    const int32_t kx_hi = x0 + kernel > input_w ? input_w - x0 : kernel;
    const int32_t before = kx_lo * input_c;
    const int32_t inside = kx_hi > kx_lo ? (kx_hi - kx_lo) * input_c : 0;
    const int8_t pad = (int8_t)(-pc->offset);
    int8_t *d = stage.b;
    int16_t *out = pc->buf + 4 * slot;
    int32_t ky, i, g;
    for (ky = 0; ky < kernel; ky++, d += row_len) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= input_h || inside == 0) {
            memset(d, pad, (size_t)row_len);
        } else {
            const int8_t *src = input + (y * input_w + x0 + kx_lo) * input_c;
            if (before > 0) {
                memset(d, pad, (size_t)before);
            }
            for (i = 0; i < inside; i++) {
                d[before + i] = src[i];
            }
            if (before + inside < row_len) {
                memset(d + before + inside, pad, (size_t)(row_len - before - inside));
            }
        }
    }
    for (g = 0; g < pc->k4; g += 4, out += 8) {
        const int32_t x = trec_read_s8x4(stage.b + g);
        trec_write_q15x2(out, trec_sxtab16(pc->offset2, x));
        trec_write_q15x2(out + 2, trec_sxtab16_ror8(pc->offset2, x));
    }
    out = pc->buf + 2 * pc->k4 + slot * pc->t;
    for (i = 0; i < pc->t; i++) {
        out[i] = (int16_t)(stage.b[pc->k4 + i] + pc->offset);
    }
}

/* The two interleaved patches against all output channels, 2 x 2 blocked; writes out0 and, unless
 * it is null (an odd last position, its patch slot zeroed), out1. An odd last channel runs the
 * same block with its weight row twice. */
/* sum += tail element i of both patches times weights p[i], q[i] */
#define PAIR_TAIL_MAC(i)                                                   \
    do {                                                                   \
        const int32_t x_ = tail[(i)], y_ = tail[t + (i)];                  \
        sum[0] = trec_add_wrap(sum[0], x_ * p[(i)]);                       \
        sum[1] = trec_add_wrap(sum[1], x_ * q[(i)]);                       \
        sum[2] = trec_add_wrap(sum[2], y_ * p[(i)]);                       \
        sum[3] = trec_add_wrap(sum[3], y_ * q[(i)]);                       \
    } while (0)

static void pair_mat_mult(const pair_cols *pc, int32_t k, const int8_t *weight, int32_t output_c,
                          const int32_t *bias, int32_t output_offset, const int32_t *multiplier,
                          const int32_t *shift, int32_t act_min, int32_t act_max, int8_t *out0, int8_t *out1)
{
    const int32_t groups = pc->k4 >> 2, t = pc->t;
    const int16_t *tail = pc->buf + 2 * pc->k4;
    int32_t c;
    for (c = 0; c < output_c; c += 2) {
        const int32_t c1 = c + 1 < output_c ? c + 1 : c;
        const int8_t *w0 = weight + c * k, *w1 = weight + c1 * k;
        int32_t sum[4];
        sum[0] = sum[2] = bias ? bias[c] : 0;
        sum[1] = sum[3] = bias ? bias[c1] : 0;
        if (groups > 0) {
            trec_dot_q15x2i_s8_2x2(pc->buf, w0, w1, groups, sum);
        }
        if (t > 0) {
            /* the tail (t < 4) as straight code, no loop exit to mispredict on the M7 */
            const int8_t *p = w0 + pc->k4, *q = w1 + pc->k4;
            PAIR_TAIL_MAC(0);
            if (t > 1) {
                PAIR_TAIL_MAC(1);
                if (t > 2) {
                    PAIR_TAIL_MAC(2);
                }
            }
        }
        {
            /* each channel's shift split once for its two outputs */
            const trec_requant_ch q0 = trec_requant_split(multiplier[c], shift[c]);
            const trec_requant_ch q1 = trec_requant_split(multiplier[c1], shift[c1]);
            out0[c] = trec_requantize_clamp_ch(sum[0], q0, output_offset, act_min, act_max);
            if (out1) {
                out1[c] = trec_requantize_clamp_ch(sum[2], q0, output_offset, act_min, act_max);
            }
            if (c1 != c) {
                out0[c1] = trec_requantize_clamp_ch(sum[1], q1, output_offset, act_min, act_max);
                if (out1) {
                    out1[c1] = trec_requantize_clamp_ch(sum[3], q1, output_offset, act_min, act_max);
                }
            }
        }
    }
}

int32_t convolve_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c, int32_t input_offset,
                    const int8_t *weight, int32_t output_c, int32_t kernel, const int32_t *bias,
                    int32_t output_offset, const int32_t *multiplier, const int32_t *shift, int32_t stride,
                    int32_t padding, int32_t act_min, int32_t act_max, void *buffer, int8_t *output)
{
    int32_t output_h, output_w, k, p, positions;
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
    {
        pair_cols pc;
        pc.buf = cols;
        pc.k4 = k & ~(int32_t)3;
        pc.t = k & 3;
        pc.offset = (int16_t)input_offset;
        pc.offset2 = (int32_t)(((uint32_t)(uint16_t)pc.offset << 16) | (uint16_t)pc.offset);
        /* the staged gather needs the padding byte -input_offset to be an int8 */
        const pair_im2col_fn im2col = (input_c & 3) != 0 && pc.k4 + pc.t <= PAIR_STAGE_MAX && input_offset >= -127 &&
                                              input_offset <= 128
                                          ? pair_im2col_staged
                                          : pair_im2col;
        for (p = 0; p + 1 < positions; p += 2) {
            const int32_t oy0 = p / output_w, ox0 = p - oy0 * output_w;
            const int32_t oy1 = (p + 1) / output_w, ox1 = (p + 1) - oy1 * output_w;
            im2col(&pc, 0, input, input_h, input_w, input_c, kernel, oy0 * stride - padding, ox0 * stride - padding);
            im2col(&pc, 1, input, input_h, input_w, input_c, kernel, oy1 * stride - padding, ox1 * stride - padding);
            pair_mat_mult(&pc, k, weight, output_c, bias, output_offset, multiplier, shift, act_min, act_max,
                          output + p * output_c, output + (p + 1) * output_c);
        }
        if (p < positions) {
            /* odd last position: its patch in slot 0, slot 1 zero (its results are not written) */
            const int32_t oy0 = p / output_w, ox0 = p - oy0 * output_w;
            memset(cols, 0, (size_t)(2 * (pc.k4 + pc.t)) * sizeof(int16_t));
            im2col(&pc, 0, input, input_h, input_w, input_c, kernel, oy0 * stride - padding, ox0 * stride - padding);
            pair_mat_mult(&pc, k, weight, output_c, bias, output_offset, multiplier, shift, act_min, act_max,
                          output + p * output_c, 0);
        }
    }
    return TREC_NN_SUCCESS;
}
