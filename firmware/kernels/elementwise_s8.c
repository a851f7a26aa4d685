/* elementwise_s8.c - relu, channel concatenation, elementwise add and requantization. */
#include <string.h>

#include "trec_nn_math.h"
#include "trecsim_nn.h"

static int32_t clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

int32_t relu_s8(const int8_t *input, int32_t size, int32_t zero_point, int8_t *output)
{
    const int8_t floor_q = (int8_t)clamp(zero_point, -128, 127);
    int32_t i;
    if (size < 0) {
        return TREC_NN_ARG_ERROR;
    }
    for (i = 0; i < size; i++) {
        output[i] = input[i] > floor_q ? input[i] : floor_q;
    }
    return TREC_NN_SUCCESS;
}

int32_t concat_s8(const int8_t *input, int32_t positions, int32_t input_c, int32_t channel_offset,
                  int32_t output_c, int8_t *output)
{
    int32_t p;
    if (positions < 0 || input_c < 0 || channel_offset < 0 || channel_offset + input_c > output_c) {
        return TREC_NN_ARG_ERROR;
    }
    output += channel_offset;
    for (p = 0; p < positions; p++) {
        memcpy(output, input, (size_t)input_c);
        input += input_c;
        output += output_c;
    }
    return TREC_NN_SUCCESS;
}

/* From this many elements on, elementwise_add_s8 tabulates its two input requantizations (2 KB of
 * stack, 512 requantizations to fill) instead of computing two per element. */
#define ADD_LUT_MIN_SIZE 1024

int32_t elementwise_add_s8(const int8_t *input1, const int8_t *input2, int32_t input1_offset,
                           int32_t input1_multiplier, int32_t input1_shift, int32_t input2_offset,
                           int32_t input2_multiplier, int32_t input2_shift, int32_t left_shift,
                           int32_t output_offset, int32_t output_multiplier, int32_t output_shift, int32_t act_min,
                           int32_t act_max, int32_t size, int8_t *output)
{
    int32_t i;
    if (size < 0 || left_shift < 0 || left_shift > 31 || act_min < -128 || act_max > 127 || act_min > act_max) {
        return TREC_NN_ARG_ERROR;
    }
    if (size >= ADD_LUT_MIN_SIZE) {
        /* a and b depend on one int8 each: tabulate both (256 entries, indexed by the int8 itself),
         * then each element costs two loads and the output requantization */
        int32_t lut1[256], lut2[256];
        const int32_t *a_of = lut1 + 128, *b_of = lut2 + 128;
        const trec_requant_ch qo = trec_requant_split(output_multiplier, output_shift);
        int32_t x;
        for (x = -128; x < 128; x++) {
            lut1[x + 128] = trec_requantize((int32_t)((uint32_t)(x + input1_offset) << left_shift), input1_multiplier,
                                            input1_shift);
            lut2[x + 128] = trec_requantize((int32_t)((uint32_t)(x + input2_offset) << left_shift), input2_multiplier,
                                            input2_shift);
        }
        for (i = 0; i < size; i++) {
            output[i] = trec_requantize_clamp_ch(trec_add_wrap(a_of[input1[i]], b_of[input2[i]]), qo, output_offset,
                                                 act_min, act_max);
        }
        return TREC_NN_SUCCESS;
    }
    for (i = 0; i < size; i++) {
        const int32_t a0 = (int32_t)((uint32_t)(input1[i] + input1_offset) << left_shift);
        const int32_t b0 = (int32_t)((uint32_t)(input2[i] + input2_offset) << left_shift);
        const int32_t a = trec_requantize(a0, input1_multiplier, input1_shift);
        const int32_t b = trec_requantize(b0, input2_multiplier, input2_shift);
        const int32_t q = trec_requantize(trec_add_wrap(a, b), output_multiplier, output_shift) + output_offset;
        output[i] = (int8_t)clamp(q, act_min, act_max);
    }
    return TREC_NN_SUCCESS;
}

int32_t requantize_s8(const int32_t *acc, int32_t rows, int32_t channels, const int32_t *multiplier,
                      const int32_t *shift, int32_t output_offset, int32_t act_min, int32_t act_max,
                      int8_t *output)
{
    int32_t r, c;
    if (rows < 0 || channels < 1 || act_min < -128 || act_max > 127 || act_min > act_max) {
        return TREC_NN_ARG_ERROR;
    }
    for (r = 0; r < rows; r++) {
        for (c = 0; c < channels; c++) {
            *output++ = trec_requantize_clamp(*acc++, multiplier[c], shift[c], output_offset, act_min, act_max);
        }
    }
    return TREC_NN_SUCCESS;
}
