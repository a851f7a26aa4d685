/*
 * trec_nn_math.h - the fixed-point maths of trecsim.quant, inline, bit for bit.
 *
 * Same semantics as trecsim/quant.py (CMSIS-NN's arm_nn_requantize without
 * single rounding, TFLite Micro's reference maths):
 *   requantize(x, m, s) = divide_by_power_of_two(
 *       doubling_high_mult_no_sat((int32)((uint32)x << max(s, 0)), m), max(-s, 0))
 * Shifts come from quant.quantize_multiplier: s in [-31, 30].
 * Assumes two's complement, arithmetic right shift of negative values and
 * modulo conversion to signed types (GCC and Clang on every target we build).
 */
#ifndef TREC_NN_MATH_H
#define TREC_NN_MATH_H

#include <stdint.h>

/* (int32)(((int64)a * b + 2^30) >> 31); a = b = INT32_MIN cannot occur (m > 0). */
static inline int32_t trec_doubling_high_mult_no_sat(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* Rounding arithmetic right shift by exponent in [0, 31], ties away from zero (reference form). */
static inline int32_t trec_divide_by_power_of_two(int32_t dividend, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = dividend & mask;
    int32_t result = dividend >> exponent;
    int32_t threshold = mask >> 1;
    if (result < 0) {
        threshold++;
    }
    if (remainder > threshold) {
        result++;
    }
    return result;
}

/*
 * The same rounding shift without branches, for the hot loops: with mask = 2^e - 1,
 *   result = (d >> e) + [ (d & mask) > (mask >> 1) + [d < 0] ]
 * where [d < 0] = -(d >> 31) (d >> e < 0 exactly when d < 0). ASR, AND, SUB, CMP and a
 * conditional ADD instead of a branchy sequence.
 */
static inline int32_t trec_divide_by_power_of_two_fast(int32_t dividend, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t threshold = (mask >> 1) - (dividend >> 31);
    return (dividend >> exponent) + ((dividend & mask) > threshold);
}

/* quant.requantize: int32 accumulator -> int32 in the output scale (before the zero point).
 * left = max(shift, 0) and right = left - shift = max(-shift, 0) without branches, so that the
 * compiler emits one SMLAL chain instead of one per sign of the shift. */
static inline int32_t trec_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift & ~(shift >> 31);
    const int32_t right = left - shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return trec_divide_by_power_of_two_fast(trec_doubling_high_mult_no_sat(shifted, multiplier), right);
}

/* quant.rounding_divide: integer mean, ties away from zero; count > 0. */
static inline int32_t trec_rounding_divide(int32_t sum, int32_t count)
{
    const int32_t half = count / 2;
    return sum >= 0 ? (sum + half) / count : -((-sum + half) / count);
}

/*
 * trec_rounding_divide by one count for many sums, by a reciprocal: magnitude =
 * floor((|s| + count / 2) * r / 2^32) with r = floor((2^32 - 1) / count) + 1 (one UDIV per count,
 * then UMULL per sum). Exact whenever x * count < 2^32 for x = |s| + count / 2: with e = r * count
 * - 2^32 in [1, count], x * r / 2^32 = x / count + x * e / (count * 2^32) and the second term stays
 * below 1 / count, which the fraction of x / count never exceeds 1 - 1 / count by. Centroid sums
 * are |s| <= 255 * count with count <= N positions, so x * count < 256 N^2 < 2^32 for N < 4096
 * (TREC_MEAN_MAX_POSITIONS); larger layers and count = 1 (whose r needs 33 bits) divide or copy.
 */
#define TREC_MEAN_MAX_POSITIONS 4095
typedef struct {
    uint32_t r, half;
    int32_t count, exact;
} trec_mean_t;

static inline trec_mean_t trec_mean_of(int32_t count, int32_t positions)
{
    trec_mean_t d;
    d.count = count;
    d.half = (uint32_t)(count / 2);
    d.exact = count > 1 && positions <= TREC_MEAN_MAX_POSITIONS;
    d.r = d.exact ? 0xFFFFFFFFu / (uint32_t)count + 1u : 0u;
    return d;
}

static inline int32_t trec_mean(int32_t sum, trec_mean_t d)
{
    uint32_t a, q;
    if (!d.exact) {
        return d.count == 1 ? sum : trec_rounding_divide(sum, d.count);
    }
    a = (uint32_t)(sum < 0 ? -sum : sum) + d.half;
    q = (uint32_t)(((uint64_t)a * d.r) >> 32);
    return sum < 0 ? -(int32_t)q : (int32_t)q;
}

/*
 * trec_rounding_divide for the hot loops without |s| or a sign restore, by a doubled, biased
 * reciprocal. For count c >= 1 and an integer s,
 *   rounding_divide(s, c) = floor((2s + c + [s >> 31]) / (2c))          ([s >> 31] = -1 for s < 0)
 * (s >= 0: floor((s + c/2) / c) = floor((s + floor(c/2)) / c), as no multiple of c lies in
 * (n, n + 1/2]; s < 0: -floor((-s + floor(c/2)) / c) = floor((s - floor(c/2) + c - 1) / c), which
 * is floor((s + (c - 1) / 2) / c) by the same argument for even c and term for term for odd c).
 * Adding 2Bc (B = TREC_MEAN_BIAS) makes the numerator x = 2s + (s >> 31) + k, k = (2B + 1) c,
 * non-negative for s >= -256c, and the quotient is then mean + B = floor(x * r / 2^32) with
 * r = floor((2^32 - 1) / (2c)) + 1 (UMULL's high word), exact while x * 2c < 2^32 (trec_mean's
 * argument with the divisor 2c): x <= 1023c for |s| <= 256c, so for 2046 c^2 < 2^32, i.e.
 * c <= 1448 (TREC_MEAN_BIASED_MAX_POSITIONS). The caller subtracts B (USUB16 of a packed pair).
 * r = k = 0 gives B - B = 0 - B for any s (no slot).
 */
#define TREC_MEAN_BIAS 256
#define TREC_MEAN_BIASED_MAX_POSITIONS 1448
typedef struct {
    uint32_t r, k;
} trec_mean_biased_t;

static inline trec_mean_biased_t trec_mean_biased_of(int32_t count)
{
    trec_mean_biased_t d;
    d.r = count > 1 ? 0xFFFFFFFFu / (2u * (uint32_t)count) + 1u : 0x80000000u;
    d.k = (2u * TREC_MEAN_BIAS + 1u) * (uint32_t)count;
    return d;
}

/* mean + TREC_MEAN_BIAS (see above) */
static inline uint32_t trec_mean_biased(int32_t sum, trec_mean_biased_t d)
{
    const uint32_t x = d.k + ((uint32_t)sum << 1) + (uint32_t)(sum >> 31);
    return (uint32_t)(((uint64_t)x * d.r) >> 32);
}

/* requantize + output offset + clamp to [act_min, act_max] -> int8. */
static inline int8_t trec_requantize_clamp(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                           int32_t act_min, int32_t act_max)
{
    int32_t q = trec_requantize(acc, multiplier, shift) + output_offset;
    q = q < act_min ? act_min : q;
    q = q > act_max ? act_max : q;
    return (int8_t)q;
}

/*
 * trec_requantize_clamp for many outputs of one channel: the shift is split once,
 *   left = max(shift, 0), right = max(-shift, 0), mask = 2^right - 1 (trec_requant_split),
 * and each output then costs the multiply chain and the branch-free rounding shift only.
 */
typedef struct {
    int32_t multiplier, left, right, mask;
} trec_requant_ch;

static inline trec_requant_ch trec_requant_split(int32_t multiplier, int32_t shift)
{
    trec_requant_ch q;
    q.multiplier = multiplier;
    q.left = shift & ~(shift >> 31);
    q.right = q.left - shift;
    q.mask = (int32_t)(((uint32_t)1 << q.right) - 1u);
    return q;
}

static inline int32_t trec_requantize_ch(int32_t x, trec_requant_ch q)
{
    const int32_t v = trec_doubling_high_mult_no_sat((int32_t)((uint32_t)x << q.left), q.multiplier);
    return (v >> q.right) + ((v & q.mask) > (q.mask >> 1) - (v >> 31));
}

static inline int8_t trec_requantize_clamp_ch(int32_t acc, trec_requant_ch q, int32_t output_offset, int32_t act_min,
                                              int32_t act_max)
{
    int32_t r = trec_requantize_ch(acc, q) + output_offset;
    r = r < act_min ? act_min : r;
    r = r > act_max ? act_max : r;
    return (int8_t)r;
}

/* Wrapping int32 addition (what the accumulators do on the board, without C's signed overflow). */
static inline int32_t trec_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

#endif /* TREC_NN_MATH_H */
