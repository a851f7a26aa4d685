/* trec_nn_support.c - im2col and layout helpers shared by the kernels. */
#include "trec_nn_support.h"

#include <string.h>

#include "trec_nn_dsp.h"

int32_t trec_out_size(int32_t size, int32_t kernel, int32_t stride, int32_t padding)
{
    if (size < 1 || kernel < 1 || stride < 1 || padding < 0 || size + 2 * padding < kernel) {
        return -1;
    }
    return (size + 2 * padding - kernel) / stride + 1;
}

int32_t trec_check_conv_args(int32_t input_h, int32_t input_w, int32_t input_c, int32_t output_c, int32_t kernel,
                             int32_t stride, int32_t padding, int32_t act_min, int32_t act_max)
{
    if (input_c < 1 || output_c < 1 || act_min < -128 || act_max > 127 || act_min > act_max) {
        return -1;
    }
    if (trec_out_size(input_h, kernel, stride, padding) < 1 || trec_out_size(input_w, kernel, stride, padding) < 1) {
        return -1;
    }
    return 0;
}

void trec_q7_to_q15_with_offset(const int8_t *src, int16_t *dst, int32_t n, int16_t offset)
{
    const int32_t offset2 = (int32_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    int32_t k = n >> 2;
    while (k-- > 0) {
        const int32_t x = trec_read_s8x4(src);
        const int32_t v02 = trec_sxtab16(offset2, x);      /* (v0, v2) */
        const int32_t v13 = trec_sxtab16_ror8(offset2, x); /* (v1, v3) */
        trec_write_q15x2(dst, trec_pkhbt16(v02, v13));     /* (v0, v1) */
        trec_write_q15x2(dst + 2, trec_pkhtb16(v13, v02)); /* (v2, v3) */
        src += 4;
        dst += 4;
    }
    k = n & 3;
    while (k-- > 0) {
        *dst++ = (int16_t)(*src++ + offset);
    }
}

void trec_q15_reorder(int16_t *buf, int32_t len)
{
    int32_t k = len >> 2;
    while (k-- > 0) {
        const int32_t ab = trec_read_q15x2(buf), cd = trec_read_q15x2(buf + 2);
        trec_write_q15x2(buf, trec_pkhbt16(ab, cd));     /* (a, c) */
        trec_write_q15x2(buf + 2, trec_pkhtb16(cd, ab)); /* (b, d) */
        buf += 4;
    }
}

void trec_im2col_patch_q15(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c, int32_t kernel,
                           int32_t y0, int32_t x0, int16_t offset, int16_t *dst)
{
    const int32_t row_len = kernel * input_c;
    /* kx range inside the image: [kx_lo, kx_hi) */
    const int32_t kx_lo = x0 < 0 ? -x0 : 0;
    const int32_t kx_hi = x0 + kernel > input_w ? input_w - x0 : kernel;
    int32_t ky;
    for (ky = 0; ky < kernel; ky++) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= input_h || kx_hi <= kx_lo) {
            memset(dst, 0, (size_t)row_len * sizeof(int16_t));
        } else {
            const int32_t before = kx_lo * input_c;
            const int32_t inside = (kx_hi - kx_lo) * input_c;
            if (before > 0) {
                memset(dst, 0, (size_t)before * sizeof(int16_t));
            }
            trec_q7_to_q15_with_offset(input + ((int32_t)y * input_w + x0 + kx_lo) * input_c, dst + before, inside,
                                       offset);
            if (before + inside < row_len) {
                memset(dst + before + inside, 0, (size_t)(row_len - before - inside) * sizeof(int16_t));
            }
        }
        dst += row_len;
    }
}

void trec_im2col_chunk_q15(const int8_t *input, int32_t input_h, int32_t input_w, int32_t input_c,
                           int32_t kernel, int32_t y0, int32_t x0, int32_t k0, int32_t len, int16_t offset,
                           int16_t *dst)
{
    const int32_t row_len = kernel * input_c;
    int32_t ky = k0 / row_len;
    int32_t rem = k0 - ky * row_len;
    int32_t kx = rem / input_c;
    int32_t ci = rem - kx * input_c;
    while (len > 0) {
        /* one run: the channels [ci, input_c) of tap (ky, kx), contiguous in the input */
        int32_t run = input_c - ci;
        const int32_t y = y0 + ky, x = x0 + kx;
        if (run > len) {
            run = len;
        }
        if (y < 0 || y >= input_h || x < 0 || x >= input_w) {
            memset(dst, 0, (size_t)run * sizeof(int16_t));
        } else {
            trec_q7_to_q15_with_offset(input + (y * input_w + x) * input_c + ci, dst, run, offset);
        }
        dst += run;
        len -= run;
        ci = 0;
        if (++kx == kernel) {
            kx = 0;
            ky++;
        }
    }
}
