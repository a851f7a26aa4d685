/* pooling_s8.c - max, average and global average pooling (no padding). */
#include <string.h>

#include "trec_nn_dsp.h"
#include "trec_nn_math.h"
#include "trec_nn_support.h"
#include "trecsim_nn.h"

static int32_t clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

static int32_t act_bad(int32_t act_min, int32_t act_max)
{
    return act_min < -128 || act_max > 127 || act_min > act_max;
}

int32_t max_pool_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t channels, int32_t kernel,
                    int32_t stride, int32_t act_min, int32_t act_max, int8_t *output)
{
    const int32_t oh = trec_out_size(input_h, kernel, stride, 0);
    const int32_t ow = trec_out_size(input_w, kernel, stride, 0);
    int32_t oy, ox, ky, kx, c;
    if (oh < 1 || ow < 1 || channels < 1 || act_bad(act_min, act_max)) {
        return TREC_NN_ARG_ERROR;
    }
    if ((channels & 3) == 0) {
        /* four channels per word: the lanewise max over the window (SSUB8 + SEL), then the clamp as
         * a lanewise max with act_min and min with act_max, the same as the loop below */
        const int32_t lo4 = (int32_t)((uint32_t)(uint8_t)act_min * 0x01010101u);
        const int32_t hi4 = (int32_t)((uint32_t)(uint8_t)act_max * 0x01010101u);
        for (oy = 0; oy < oh; oy++) {
            for (ox = 0; ox < ow; ox++) {
                int8_t *out = output + (oy * ow + ox) * channels;
                const int8_t *first = input + (oy * stride * input_w + ox * stride) * channels;
                for (c = 0; c < channels; c += 4) {
                    int32_t m = trec_read_s8x4(first + c);
                    for (ky = 0; ky < kernel; ky++) {
                        const int8_t *row = first + ky * input_w * channels + c;
                        for (kx = 0; kx < kernel; kx++) {
                            m = trec_max_s8x4(m, trec_read_s8x4(row + kx * channels));
                        }
                    }
                    m = trec_min_s8x4(trec_max_s8x4(m, lo4), hi4);
                    memcpy(out + c, &m, 4);
                }
            }
        }
        return TREC_NN_SUCCESS;
    }
    for (oy = 0; oy < oh; oy++) {
        for (ox = 0; ox < ow; ox++) {
            int8_t *out = output + (oy * ow + ox) * channels;
            const int8_t *first = input + (oy * stride * input_w + ox * stride) * channels;
            for (c = 0; c < channels; c++) {
                out[c] = first[c];
            }
            for (ky = 0; ky < kernel; ky++) {
                for (kx = 0; kx < kernel; kx++) {
                    const int8_t *in = input + ((oy * stride + ky) * input_w + ox * stride + kx) * channels;
                    for (c = 0; c < channels; c++) {
                        out[c] = in[c] > out[c] ? in[c] : out[c];
                    }
                }
            }
            for (c = 0; c < channels; c++) {
                out[c] = (int8_t)clamp(out[c], act_min, act_max);
            }
        }
    }
    return TREC_NN_SUCCESS;
}

int32_t avg_pool_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t channels, int32_t kernel,
                    int32_t stride, int32_t act_min, int32_t act_max, int8_t *output)
{
    const int32_t oh = trec_out_size(input_h, kernel, stride, 0);
    const int32_t ow = trec_out_size(input_w, kernel, stride, 0);
    const int32_t count = kernel * kernel;
    int32_t oy, ox, ky, kx, c;
    if (oh < 1 || ow < 1 || channels < 1 || act_bad(act_min, act_max)) {
        return TREC_NN_ARG_ERROR;
    }
    for (oy = 0; oy < oh; oy++) {
        for (ox = 0; ox < ow; ox++) {
            int8_t *out = output + (oy * ow + ox) * channels;
            for (c = 0; c < channels; c++) {
                int32_t sum = 0;
                for (ky = 0; ky < kernel; ky++) {
                    for (kx = 0; kx < kernel; kx++) {
                        sum += input[((oy * stride + ky) * input_w + ox * stride + kx) * channels + c];
                    }
                }
                out[c] = (int8_t)clamp(trec_rounding_divide(sum, count), act_min, act_max);
            }
        }
    }
    return TREC_NN_SUCCESS;
}

int32_t global_avg_pool_s8(const int8_t *input, int32_t input_h, int32_t input_w, int32_t channels,
                           int32_t act_min, int32_t act_max, int8_t *output)
{
    const int32_t count = input_h * input_w;
    int32_t c, i;
    if (input_h < 1 || input_w < 1 || channels < 1 || act_bad(act_min, act_max)) {
        return TREC_NN_ARG_ERROR;
    }
    for (c = 0; c < channels; c++) {
        int32_t sum = 0;
        for (i = 0; i < count; i++) {
            sum += input[i * channels + c];
        }
        output[c] = (int8_t)clamp(trec_rounding_divide(sum, count), act_min, act_max);
    }
    return TREC_NN_SUCCESS;
}
