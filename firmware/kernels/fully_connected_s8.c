/* fully_connected_s8.c - int8 fully connected layer: reference and SMLAD-optimized. */
#include "trec_nn_dsp.h"
#include "trec_nn_math.h"
#include "trec_nn_support.h"
#include "trecsim_nn.h"

static int32_t fc_args_bad(int32_t input_size, int32_t output_size, int32_t act_min, int32_t act_max)
{
    return input_size < 1 || output_size < 1 || act_min < -128 || act_max > 127 || act_min > act_max;
}

int32_t fully_connected_s8_get_buffer_size(int32_t input_size)
{
    return TREC_ALIGN4(input_size * (int32_t)sizeof(int16_t));
}

int32_t fully_connected_s8_ref(const int8_t *input, int32_t input_size, int32_t input_offset,
                               const int8_t *weight, int32_t output_size, const int32_t *bias,
                               int32_t output_offset, const int32_t *multiplier, const int32_t *shift,
                               int32_t act_min, int32_t act_max, int8_t *output)
{
    int32_t o, i;
    if (fc_args_bad(input_size, output_size, act_min, act_max)) {
        return TREC_NN_ARG_ERROR;
    }
    for (o = 0; o < output_size; o++) {
        /* acc = bias[o] + sum_i (x[i] + input_offset) * w[o][i] */
        const int8_t *w = weight + o * input_size;
        int32_t acc = bias ? bias[o] : 0;
        for (i = 0; i < input_size; i++) {
            acc = trec_add_wrap(acc, (input[i] + input_offset) * w[i]);
        }
        output[o] = trec_requantize_clamp(acc, multiplier[o], shift[o], output_offset, act_min, act_max);
    }
    return TREC_NN_SUCCESS;
}

int32_t fully_connected_s8(const int8_t *input, int32_t input_size, int32_t input_offset, const int8_t *weight,
                           int32_t output_size, const int32_t *bias, int32_t output_offset,
                           const int32_t *multiplier, const int32_t *shift, int32_t act_min, int32_t act_max,
                           void *buffer, int8_t *output)
{
    int16_t *v = (int16_t *)buffer;
    int32_t o;
    if (fc_args_bad(input_size, output_size, act_min, act_max) || buffer == 0) {
        return TREC_NN_ARG_ERROR;
    }
    /* v = x + input_offset once, reordered for SXTB16 weights; then 2 outputs per loop */
    trec_q7_to_q15_with_offset(input, v, input_size, (int16_t)input_offset);
    trec_q15_reorder(v, input_size);
    for (o = 0; o + 1 < output_size; o += 2) {
        const int8_t *w0 = weight + o * input_size;
        int32_t sum[2];
        sum[0] = bias ? bias[o] : 0;
        sum[1] = bias ? bias[o + 1] : 0;
        trec_dot_q15_s8_1x2(v, w0, w0 + input_size, input_size, sum);
        output[o] = trec_requantize_clamp(sum[0], multiplier[o], shift[o], output_offset, act_min, act_max);
        output[o + 1] = trec_requantize_clamp(sum[1], multiplier[o + 1], shift[o + 1], output_offset, act_min,
                                              act_max);
    }
    if (o < output_size) {
        const int32_t acc = trec_dot_q15_s8_1x1(v, weight + o * input_size, input_size, bias ? bias[o] : 0);
        output[o] = trec_requantize_clamp(acc, multiplier[o], shift[o], output_offset, act_min, act_max);
    }
    return TREC_NN_SUCCESS;
}
