/*
 * trec_nn_dsp.h - the Armv7E-M DSP instructions the optimized kernels use,
 * and the blocked int16 x int8 dot-product kernels built on them.
 *
 * With __ARM_FEATURE_DSP (Cortex-M4/M7) each wrapper is one instruction
 * (inline asm); elsewhere (the host, or -DTREC_NN_PORTABLE_DSP) it is a portable
 * C model of the instruction, so the very same blocked code runs and is tested
 * bit for bit on the host.
 *
 * Operand layout ("reordered q15"): SXTB16 of a word of four int8 weights
 * (w0 w1 w2 w3) gives the halfword pair (w0, w2), SXTB16 of it rotated by 8 gives
 * (w1, w3). Activations are therefore stored as int16 in groups of four in the
 * order (v0, v2, v1, v3) (see trec_q15_reorder), so that two SMLADs consume four
 * products without any PKHBT/PKHTB in the hot loop. A tail of len % 4 elements
 * stays in natural order and is done with scalar multiplies.
 */
#ifndef TREC_NN_DSP_H
#define TREC_NN_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(TREC_NN_PORTABLE_DSP)
#define TREC_NN_DSP_NATIVE 1
#else
#define TREC_NN_DSP_NATIVE 0
#endif

#if TREC_NN_DSP_NATIVE

/* acc + x.lo * y.lo + x.hi * y.hi */
static inline int32_t trec_smlad(int32_t x, int32_t y, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
}
/* (int16)(int8)byte0 | (int16)(int8)byte2 << 16 */
static inline int32_t trec_sxtb16(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
/* sxtb16(x ror 8): bytes 1 and 3 */
static inline int32_t trec_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* lanewise a + sxtb16(x), 16-bit wrapping lanes */
static inline int32_t trec_sxtab16(int32_t a, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
static inline int32_t trec_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/* a.lo | b.lo << 16 */
static inline int32_t trec_pkhbt16(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* a.hi << 16 | b.hi */
static inline int32_t trec_pkhtb16(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* lanewise a - b, 16-bit wrapping lanes */
static inline int32_t trec_usub16(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("usub16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

#else /* portable models of the same instructions */

static inline int32_t trec_lo16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t trec_hi16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t trec_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
static inline int32_t trec_smlad(int32_t x, int32_t y, int32_t acc)
{
    const uint32_t lo = (uint32_t)(trec_lo16(x) * trec_lo16(y));
    const uint32_t hi = (uint32_t)(trec_hi16(x) * trec_hi16(y));
    return (int32_t)((uint32_t)acc + lo + hi);
}
static inline int32_t trec_sxtb16(int32_t x)
{
    return trec_pack16((int8_t)(uint8_t)((uint32_t)x & 0xFFu), (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
static inline int32_t trec_sxtb16_ror8(int32_t x) { return trec_sxtb16((int32_t)((uint32_t)x >> 8)); }
static inline int32_t trec_sxtab16(int32_t a, int32_t x)
{
    const int32_t e = trec_sxtb16(x);
    return trec_pack16(trec_lo16(a) + trec_lo16(e), trec_hi16(a) + trec_hi16(e));
}
static inline int32_t trec_sxtab16_ror8(int32_t a, int32_t x) { return trec_sxtab16(a, (int32_t)((uint32_t)x >> 8)); }
static inline int32_t trec_pkhbt16(int32_t a, int32_t b) { return trec_pack16(trec_lo16(a), trec_lo16(b)); }
static inline int32_t trec_pkhtb16(int32_t a, int32_t b) { return trec_pack16(trec_hi16(b), trec_hi16(a)); }
static inline int32_t trec_usub16(int32_t a, int32_t b)
{
    return trec_pack16(trec_lo16(a) - trec_lo16(b), trec_hi16(a) - trec_hi16(b));
}

#endif

/* [x > 0] (x saturated to the unsigned 1-bit range [0, 1]): USAT #1 on the core. */
#if TREC_NN_DSP_NATIVE
static inline uint32_t trec_usat1(int32_t x)
{
    uint32_t r;
    __asm__("usat %0, #1, %1" : "=r"(r) : "r"(x));
    return r;
}
#else
static inline uint32_t trec_usat1(int32_t x) { return x > 0 ? 1u : 0u; }
#endif

/* Lanewise signed max and min of four int8 (SSUB8 sets a GE flag per lane where a >= b, SEL picks
 * by them); the portable model below computes the same lanes. */
#if TREC_NN_DSP_NATIVE
static inline int32_t trec_max_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\t"
            "sel %0, %1, %2"
            : "=&r"(r)
            : "r"(a), "r"(b)
            : "cc");
    return r;
}
static inline int32_t trec_min_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\t"
            "sel %0, %2, %1"
            : "=&r"(r)
            : "r"(a), "r"(b)
            : "cc");
    return r;
}
#else
static inline int32_t trec_lanes_s8x4(int32_t a, int32_t b, int32_t take_max)
{
    uint32_t r = 0;
    int32_t i;
    for (i = 0; i < 4; i++) {
        const int32_t x = (int8_t)(uint8_t)((uint32_t)a >> (8 * i)), y = (int8_t)(uint8_t)((uint32_t)b >> (8 * i));
        const int32_t v = take_max ? (x >= y ? x : y) : (x >= y ? y : x);
        r |= (uint32_t)(uint8_t)v << (8 * i);
    }
    return (int32_t)r;
}
static inline int32_t trec_max_s8x4(int32_t a, int32_t b) { return trec_lanes_s8x4(a, b, 1); }
static inline int32_t trec_min_s8x4(int32_t a, int32_t b) { return trec_lanes_s8x4(a, b, 0); }
#endif

/* Unaligned-safe word reads and writes (one LDR/STR on Cortex-M4/M7). */
static inline int32_t trec_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline int32_t trec_read_q15x2(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void trec_write_q15x2(int16_t *p, int32_t v) { memcpy(p, &v, 4); }

/*
 * Blocked dot products of reordered-q15 rows a (len int16) with int8 rows w (len int8).
 * sum[i] += a_r . w_c, accumulating into the caller's values (bias or 0), wrapping int32.
 *   2x2: sum = {a0.w0, a0.w1, a1.w0, a1.w1};  1x2: {a0.w0, a0.w1};  1x1: a0.w0
 */
static inline void trec_dot_q15_s8_2x2(const int16_t *a0, const int16_t *a1, const int8_t *w0, const int8_t *w1,
                                       int32_t len, int32_t sum[4])
{
    int32_t s00 = sum[0], s01 = sum[1], s10 = sum[2], s11 = sum[3];
    int32_t k = len >> 2;
    while (k-- > 0) {
        const int32_t wa = trec_read_s8x4(w0);
        const int32_t wb = trec_read_s8x4(w1);
        const int32_t wa02 = trec_sxtb16(wa), wa13 = trec_sxtb16_ror8(wa);
        const int32_t wb02 = trec_sxtb16(wb), wb13 = trec_sxtb16_ror8(wb);
        const int32_t x02 = trec_read_q15x2(a0), x13 = trec_read_q15x2(a0 + 2);
        const int32_t y02 = trec_read_q15x2(a1), y13 = trec_read_q15x2(a1 + 2);
        s00 = trec_smlad(wa02, x02, s00);
        s01 = trec_smlad(wb02, x02, s01);
        s10 = trec_smlad(wa02, y02, s10);
        s11 = trec_smlad(wb02, y02, s11);
        s00 = trec_smlad(wa13, x13, s00);
        s01 = trec_smlad(wb13, x13, s01);
        s10 = trec_smlad(wa13, y13, s10);
        s11 = trec_smlad(wb13, y13, s11);
        w0 += 4;
        w1 += 4;
        a0 += 4;
        a1 += 4;
    }
    k = len & 3;
    while (k-- > 0) {
        const int32_t x = *a0++, y = *a1++, p = *w0++, q = *w1++;
        s00 = (int32_t)((uint32_t)s00 + (uint32_t)(x * p));
        s01 = (int32_t)((uint32_t)s01 + (uint32_t)(x * q));
        s10 = (int32_t)((uint32_t)s10 + (uint32_t)(y * p));
        s11 = (int32_t)((uint32_t)s11 + (uint32_t)(y * q));
    }
    sum[0] = s00;
    sum[1] = s01;
    sum[2] = s10;
    sum[3] = s11;
}

static inline void trec_dot_q15_s8_1x2(const int16_t *a0, const int8_t *w0, const int8_t *w1, int32_t len,
                                       int32_t sum[2])
{
    int32_t s0 = sum[0], s1 = sum[1];
    int32_t k = len >> 2;
    while (k-- > 0) {
        const int32_t wa = trec_read_s8x4(w0);
        const int32_t wb = trec_read_s8x4(w1);
        const int32_t x02 = trec_read_q15x2(a0), x13 = trec_read_q15x2(a0 + 2);
        s0 = trec_smlad(trec_sxtb16(wa), x02, s0);
        s1 = trec_smlad(trec_sxtb16(wb), x02, s1);
        s0 = trec_smlad(trec_sxtb16_ror8(wa), x13, s0);
        s1 = trec_smlad(trec_sxtb16_ror8(wb), x13, s1);
        w0 += 4;
        w1 += 4;
        a0 += 4;
    }
    k = len & 3;
    while (k-- > 0) {
        const int32_t x = *a0++;
        s0 = (int32_t)((uint32_t)s0 + (uint32_t)(x * *w0++));
        s1 = (int32_t)((uint32_t)s1 + (uint32_t)(x * *w1++));
    }
    sum[0] = s0;
    sum[1] = s1;
}

static inline int32_t trec_dot_q15_s8_1x1(const int16_t *a0, const int8_t *w0, int32_t len, int32_t sum)
{
    int32_t k = len >> 2;
    while (k-- > 0) {
        const int32_t wa = trec_read_s8x4(w0);
        sum = trec_smlad(trec_sxtb16(wa), trec_read_q15x2(a0), sum);
        sum = trec_smlad(trec_sxtb16_ror8(wa), trec_read_q15x2(a0 + 2), sum);
        w0 += 4;
        a0 += 4;
    }
    k = len & 3;
    while (k-- > 0) {
        sum = (int32_t)((uint32_t)sum + (uint32_t)(*a0++ * *w0++));
    }
    return sum;
}

/* int8 x int8 variant for the 1x1 fast path: both operands go through SXTB16, no reordering. */
static inline void trec_dot_s8_s8_2x2(const int8_t *a0, const int8_t *a1, const int8_t *w0, const int8_t *w1,
                                      int32_t len, int32_t sum[4])
{
    int32_t s00 = sum[0], s01 = sum[1], s10 = sum[2], s11 = sum[3];
    int32_t k = len >> 2;
    while (k-- > 0) {
        const int32_t wa = trec_read_s8x4(w0), wb = trec_read_s8x4(w1);
        const int32_t x = trec_read_s8x4(a0), y = trec_read_s8x4(a1);
        const int32_t wa02 = trec_sxtb16(wa), wb02 = trec_sxtb16(wb);
        const int32_t x02 = trec_sxtb16(x), y02 = trec_sxtb16(y);
        s00 = trec_smlad(wa02, x02, s00);
        s01 = trec_smlad(wb02, x02, s01);
        s10 = trec_smlad(wa02, y02, s10);
        s11 = trec_smlad(wb02, y02, s11);
        {
            const int32_t wa13 = trec_sxtb16_ror8(wa), wb13 = trec_sxtb16_ror8(wb);
            const int32_t x13 = trec_sxtb16_ror8(x), y13 = trec_sxtb16_ror8(y);
            s00 = trec_smlad(wa13, x13, s00);
            s01 = trec_smlad(wb13, x13, s01);
            s10 = trec_smlad(wa13, y13, s10);
            s11 = trec_smlad(wb13, y13, s11);
        }
        w0 += 4;
        w1 += 4;
        a0 += 4;
        a1 += 4;
    }
    k = len & 3;
    while (k-- > 0) {
        const int32_t x = *a0++, y = *a1++, p = *w0++, q = *w1++;
        s00 = (int32_t)((uint32_t)s00 + (uint32_t)(x * p));
        s01 = (int32_t)((uint32_t)s01 + (uint32_t)(x * q));
        s10 = (int32_t)((uint32_t)s10 + (uint32_t)(y * p));
        s11 = (int32_t)((uint32_t)s11 + (uint32_t)(y * q));
    }
    sum[0] = s00;
    sum[1] = s01;
    sum[2] = s10;
    sum[3] = s11;
}

/*
 * trec_dot_s8_s8_2x2 for the 1x1 fast path, whose second rows lie `stride` bytes after the first
 * (a1 = a0 + stride, w1 = w0 + stride, stride = len): the second rows are read with a register
 * offset, so the loop needs two pointers instead of four. On the core a hand-scheduled loop of 14
 * registers (4 sums, 2 pointers, stride - 4, count, 6 temporaries; GCC's four-pointer version
 * spilled two pointers inside the loop); the tail of len % 4 in C.
 */
static inline void trec_dot_s8_s8_2x2_adj(const int8_t *a0, const int8_t *w0, int32_t stride, int32_t len,
                                          int32_t sum[4])
{
#if TREC_NN_DSP_NATIVE
    int32_t k = len >> 2;
    if (k > 0) {
        int32_t s00 = sum[0], s01 = sum[1], s10 = sum[2], s11 = sum[3];
        int32_t off = stride - 4; /* row 1 after the post-increment of row 0's pointer */
        int32_t x, y, wa, t, u, z;
        __asm__ volatile("1:\n\t"
                         "ldr %[x], [%[a]], #4\n\t"
                         "ldr %[wa], [%[w]], #4\n\t"
                         "ldr %[y], [%[a], %[off]]\n\t"
                         "sxtb16 %[t], %[x]\n\t"
                         "sxtb16 %[x], %[x], ror #8\n\t"
                         "sxtb16 %[u], %[y]\n\t"
                         "sxtb16 %[y], %[y], ror #8\n\t"
                         "sxtb16 %[z], %[wa]\n\t"
                         "sxtb16 %[wa], %[wa], ror #8\n\t"
                         "smlad %[s00], %[z], %[t], %[s00]\n\t"
                         "smlad %[s10], %[z], %[u], %[s10]\n\t"
                         "smlad %[s00], %[wa], %[x], %[s00]\n\t"
                         "smlad %[s10], %[wa], %[y], %[s10]\n\t"
                         "ldr %[wa], [%[w], %[off]]\n\t"
                         "sxtb16 %[z], %[wa]\n\t"
                         "sxtb16 %[wa], %[wa], ror #8\n\t"
                         "smlad %[s01], %[z], %[t], %[s01]\n\t"
                         "smlad %[s11], %[z], %[u], %[s11]\n\t"
                         "smlad %[s01], %[wa], %[x], %[s01]\n\t"
                         "smlad %[s11], %[wa], %[y], %[s11]\n\t"
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b"
                         : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [a] "+r"(a0),
                           [w] "+r"(w0), [n] "+r"(k), [x] "=&r"(x), [y] "=&r"(y), [wa] "=&r"(wa), [t] "=&r"(t),
                           [u] "=&r"(u), [z] "=&r"(z)
                         : [off] "r"(off)
                         : "cc", "memory");
        sum[0] = s00;
        sum[1] = s01;
        sum[2] = s10;
        sum[3] = s11;
    }
    if (len & 3) {
        /* the tail: the pointers have advanced by 4 * (len >> 2) */
        trec_dot_s8_s8_2x2(a0, a0 + stride, w0, w0 + stride, len & 3, sum);
    }
#else
    trec_dot_s8_s8_2x2(a0, a0 + stride, w0, w0 + stride, len, sum);
#endif
}

static inline int32_t trec_dot_s8_s8_1x1(const int8_t *a0, const int8_t *w0, int32_t len, int32_t sum)
{
    int32_t k = len >> 2;
    while (k-- > 0) {
        const int32_t w = trec_read_s8x4(w0), x = trec_read_s8x4(a0);
        sum = trec_smlad(trec_sxtb16(w), trec_sxtb16(x), sum);
        sum = trec_smlad(trec_sxtb16_ror8(w), trec_sxtb16_ror8(x), sum);
        w0 += 4;
        a0 += 4;
    }
    k = len & 3;
    while (k-- > 0) {
        sum = (int32_t)((uint32_t)sum + (uint32_t)(*a0++ * *w0++));
    }
    return sum;
}

/*
 * Two patches against two int8 weight rows, the patches "pair-interleaved" (see convolve_s8.c):
 * for each group of four elements the reordered words of patch 0, (x0, x2) (x1, x3), then those of
 * patch 1, (y0, y2) (y1, y3), so that one post-incremented pointer walks both patches.
 * sum = {x.w0, x.w1, y.w0, y.w1} += over `groups` groups (4 * groups elements; groups >= 1).
 *
 * On the core it is one hand-scheduled loop: 4 activation words and 2 weight words loaded per
 * group (post-indexed, no pointer arithmetic), 4 SXTB16 and 8 SMLAD, and the loop counter; with
 * 14 registers live (4 sums, 3 pointers, the count and 6 temporaries) GCC's version of the same C
 * spilled a pointer to the stack inside the loop.
 */
static inline void trec_dot_q15x2i_s8_2x2(const int16_t *a, const int8_t *w0, const int8_t *w1, int32_t groups,
                                          int32_t sum[4])
{
    int32_t s00 = sum[0], s01 = sum[1], s10 = sum[2], s11 = sum[3];
#if TREC_NN_DSP_NATIVE
    int32_t x02, x13, y02, y13, w, t;
    /* an odd group alone, then two groups per loop trip */
    __asm__ volatile("tst %[n], #1\n\t"
                     "beq 1f\n\t"
                     "ldr %[x13], [%[a], #4]\n\t"
                     "ldr %[y02], [%[a], #8]\n\t"
                     "ldr %[y13], [%[a], #12]\n\t"
                     "ldr %[x02], [%[a]], #16\n\t"
                     "ldr %[w], [%[w0]], #4\n\t"
                     "sxtb16 %[t], %[w]\n\t"
                     "sxtb16 %[w], %[w], ror #8\n\t"
                     "smlad %[s00], %[t], %[x02], %[s00]\n\t"
                     "smlad %[s10], %[t], %[y02], %[s10]\n\t"
                     "smlad %[s00], %[w], %[x13], %[s00]\n\t"
                     "smlad %[s10], %[w], %[y13], %[s10]\n\t"
                     "ldr %[w], [%[w1]], #4\n\t"
                     "sxtb16 %[t], %[w]\n\t"
                     "sxtb16 %[w], %[w], ror #8\n\t"
                     "smlad %[s01], %[t], %[x02], %[s01]\n\t"
                     "smlad %[s11], %[t], %[y02], %[s11]\n\t"
                     "smlad %[s01], %[w], %[x13], %[s01]\n\t"
                     "smlad %[s11], %[w], %[y13], %[s11]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "ldr %[x13], [%[a], #4]\n\t"
                     "ldr %[y02], [%[a], #8]\n\t"
                     "ldr %[y13], [%[a], #12]\n\t"
                     "ldr %[x02], [%[a]], #16\n\t"
                     "ldr %[w], [%[w0]], #4\n\t"
                     "sxtb16 %[t], %[w]\n\t"
                     "sxtb16 %[w], %[w], ror #8\n\t"
                     "smlad %[s00], %[t], %[x02], %[s00]\n\t"
                     "smlad %[s10], %[t], %[y02], %[s10]\n\t"
                     "smlad %[s00], %[w], %[x13], %[s00]\n\t"
                     "smlad %[s10], %[w], %[y13], %[s10]\n\t"
                     "ldr %[w], [%[w1]], #4\n\t"
                     "sxtb16 %[t], %[w]\n\t"
                     "sxtb16 %[w], %[w], ror #8\n\t"
                     "smlad %[s01], %[t], %[x02], %[s01]\n\t"
                     "smlad %[s11], %[t], %[y02], %[s11]\n\t"
                     "smlad %[s01], %[w], %[x13], %[s01]\n\t"
                     "smlad %[s11], %[w], %[y13], %[s11]\n\t"
                     "ldr %[x13], [%[a], #4]\n\t"
                     "ldr %[y02], [%[a], #8]\n\t"
                     "ldr %[y13], [%[a], #12]\n\t"
                     "ldr %[x02], [%[a]], #16\n\t"
                     "ldr %[w], [%[w0]], #4\n\t"
                     "sxtb16 %[t], %[w]\n\t"
                     "sxtb16 %[w], %[w], ror #8\n\t"
                     "smlad %[s00], %[t], %[x02], %[s00]\n\t"
                     "smlad %[s10], %[t], %[y02], %[s10]\n\t"
                     "smlad %[s00], %[w], %[x13], %[s00]\n\t"
                     "smlad %[s10], %[w], %[y13], %[s10]\n\t"
                     "ldr %[w], [%[w1]], #4\n\t"
                     "sxtb16 %[t], %[w]\n\t"
                     "sxtb16 %[w], %[w], ror #8\n\t"
                     "smlad %[s01], %[t], %[x02], %[s01]\n\t"
                     "smlad %[s11], %[t], %[y02], %[s11]\n\t"
                     "smlad %[s01], %[w], %[x13], %[s01]\n\t"
                     "smlad %[s11], %[w], %[y13], %[s11]\n\t"
                     "subs %[n], %[n], #2\n\t"
                     "bne 1b\n"
                     "2:"
                     : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [a] "+r"(a),
                       [w0] "+r"(w0), [w1] "+r"(w1), [n] "+r"(groups), [x02] "=&r"(x02), [x13] "=&r"(x13),
                       [y02] "=&r"(y02), [y13] "=&r"(y13), [w] "=&r"(w), [t] "=&r"(t)
                     :
                     : "cc", "memory");
#else
    while (groups-- > 0) {
        const int32_t x02 = trec_read_q15x2(a), x13 = trec_read_q15x2(a + 2);
        const int32_t y02 = trec_read_q15x2(a + 4), y13 = trec_read_q15x2(a + 6);
        const int32_t wa = trec_read_s8x4(w0), wb = trec_read_s8x4(w1);
        s00 = trec_smlad(trec_sxtb16(wa), x02, s00);
        s10 = trec_smlad(trec_sxtb16(wa), y02, s10);
        s00 = trec_smlad(trec_sxtb16_ror8(wa), x13, s00);
        s10 = trec_smlad(trec_sxtb16_ror8(wa), y13, s10);
        s01 = trec_smlad(trec_sxtb16(wb), x02, s01);
        s11 = trec_smlad(trec_sxtb16(wb), y02, s11);
        s01 = trec_smlad(trec_sxtb16_ror8(wb), x13, s01);
        s11 = trec_smlad(trec_sxtb16_ror8(wb), y13, s11);
        a += 8;
        w0 += 4;
        w1 += 4;
    }
#endif
    sum[0] = s00;
    sum[1] = s01;
    sum[2] = s10;
    sum[3] = s11;
}

/*
 * dst = src + offset widened to int16 directly in the reordered-q15 layout (see
 * trec_q15_reorder): each full group of four int8 gives (v0, v2), (v1, v3) with two SXTAB16,
 * a tail of n % 4 stays in natural order.
 */
static inline void trec_q7_to_q15_reordered(const int8_t *src, int16_t *dst, int32_t n, int16_t offset)
{
    const int32_t offset2 = (int32_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    int32_t k = n >> 2;
    while (k-- > 0) {
        const int32_t x = trec_read_s8x4(src);
        trec_write_q15x2(dst, trec_sxtab16(offset2, x));
        trec_write_q15x2(dst + 2, trec_sxtab16_ror8(offset2, x));
        src += 4;
        dst += 4;
    }
    k = n & 3;
    while (k-- > 0) {
        *dst++ = (int16_t)(*src++ + offset);
    }
}

/*
 * Two reordered-q15 rows a0, a1 against four rows widened and interleaved by pair ("w4": for
 * pair l, the words of rows 0..3 at w[8l .. 8l + 8)): sum[4r + c] += a_r . w_c.
 */
static inline void trec_dot_q15_w4_2x4(const int16_t *a0, const int16_t *a1, const int16_t *w, int32_t pairs,
                                       int32_t sum[8])
{
    int32_t s0 = sum[0], s1 = sum[1], s2 = sum[2], s3 = sum[3];
    int32_t s4 = sum[4], s5 = sum[5], s6 = sum[6], s7 = sum[7];
    while (pairs-- > 0) {
        const int32_t x = trec_read_q15x2(a0), y = trec_read_q15x2(a1);
        int32_t p = trec_read_q15x2(w);
        s0 = trec_smlad(x, p, s0);
        s4 = trec_smlad(y, p, s4);
        p = trec_read_q15x2(w + 2);
        s1 = trec_smlad(x, p, s1);
        s5 = trec_smlad(y, p, s5);
        p = trec_read_q15x2(w + 4);
        s2 = trec_smlad(x, p, s2);
        s6 = trec_smlad(y, p, s6);
        p = trec_read_q15x2(w + 6);
        s3 = trec_smlad(x, p, s3);
        s7 = trec_smlad(y, p, s7);
        a0 += 2;
        a1 += 2;
        w += 8;
    }
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
    sum[3] = s3;
    sum[4] = s4;
    sum[5] = s5;
    sum[6] = s6;
    sum[7] = s7;
}

/*
 * The 2 x 4 block of trec_dot_q15_w4_2x4 with the two rows "pair-interleaved": word l of row 0,
 * then word l of row 1, at a[4l .. 4l + 4) (int16), so that one post-incremented pointer reads
 * both (trec_se_convolve_s8 writes its centroids in pairs this way). t_r[c] = a_r . w_c (pairs >= 1).
 * On the core a hand-scheduled loop with 14 registers live (8 sums, 3 pointers/counters, 3
 * temporaries); GCC spilled the second row pointer of the two-pointer form inside the loop.
 */
static inline void trec_dot_q15i_w4_2x4(const int16_t *a, const int16_t *w, int32_t pairs, int32_t *t0,
                                        int32_t *t1)
{
    int32_t s0, s1, s2, s3, s4, s5, s6, s7;
#if TREC_NN_DSP_NATIVE
    int32_t x, y, p;
    /* the first pair with SMUAD (no zeroing of the sums), then the SMLAD loop, unrolled twice */
    __asm__ volatile("ldr %[y], [%[a], #4]\n\t"
                     "ldr %[x], [%[a]], #8\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smuad %[s0], %[x], %[p]\n\t"
                     "smuad %[s4], %[y], %[p]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smuad %[s1], %[x], %[p]\n\t"
                     "smuad %[s5], %[y], %[p]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smuad %[s2], %[x], %[p]\n\t"
                     "smuad %[s6], %[y], %[p]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smuad %[s3], %[x], %[p]\n\t"
                     "smuad %[s7], %[y], %[p]\n\t"
                     "subs %[n], %[n], #1\n\t"      /* pairs left */
                     "beq 2f\n\t"
                     "tst %[n], #1\n\t"
                     "beq 1f\n\t"
                     "ldr %[y], [%[a], #4]\n\t"
                     "ldr %[x], [%[a]], #8\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s0], %[x], %[p], %[s0]\n\t"
                     "smlad %[s4], %[y], %[p], %[s4]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s1], %[x], %[p], %[s1]\n\t"
                     "smlad %[s5], %[y], %[p], %[s5]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s2], %[x], %[p], %[s2]\n\t"
                     "smlad %[s6], %[y], %[p], %[s6]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s3], %[x], %[p], %[s3]\n\t"
                     "smlad %[s7], %[y], %[p], %[s7]\n\t"
                     "subs %[n], %[n], #1\n\t"      /* an odd one alone, then two per trip */
                     "beq 2f\n"
                     "1:\n\t"
                     "ldr %[y], [%[a], #4]\n\t"
                     "ldr %[x], [%[a]], #8\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s0], %[x], %[p], %[s0]\n\t"
                     "smlad %[s4], %[y], %[p], %[s4]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s1], %[x], %[p], %[s1]\n\t"
                     "smlad %[s5], %[y], %[p], %[s5]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s2], %[x], %[p], %[s2]\n\t"
                     "smlad %[s6], %[y], %[p], %[s6]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s3], %[x], %[p], %[s3]\n\t"
                     "smlad %[s7], %[y], %[p], %[s7]\n\t"
                     "ldr %[y], [%[a], #4]\n\t"
                     "ldr %[x], [%[a]], #8\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s0], %[x], %[p], %[s0]\n\t"
                     "smlad %[s4], %[y], %[p], %[s4]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s1], %[x], %[p], %[s1]\n\t"
                     "smlad %[s5], %[y], %[p], %[s5]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s2], %[x], %[p], %[s2]\n\t"
                     "smlad %[s6], %[y], %[p], %[s6]\n\t"
                     "ldr %[p], [%[w]], #4\n\t"
                     "smlad %[s3], %[x], %[p], %[s3]\n\t"
                     "smlad %[s7], %[y], %[p], %[s7]\n\t"
                     "subs %[n], %[n], #2\n\t"
                     "bne 1b\n"
                     "2:"
                     : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [s4] "=&r"(s4),
                       [s5] "=&r"(s5), [s6] "=&r"(s6), [s7] "=&r"(s7), [a] "+r"(a), [w] "+r"(w), [n] "+r"(pairs),
                       [x] "=&r"(x), [y] "=&r"(y), [p] "=&r"(p)
                     :
                     : "cc", "memory");
#else
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0;
    while (pairs-- > 0) {
        const int32_t x = trec_read_q15x2(a), y = trec_read_q15x2(a + 2);
        s0 = trec_smlad(x, trec_read_q15x2(w), s0);
        s4 = trec_smlad(y, trec_read_q15x2(w), s4);
        s1 = trec_smlad(x, trec_read_q15x2(w + 2), s1);
        s5 = trec_smlad(y, trec_read_q15x2(w + 2), s5);
        s2 = trec_smlad(x, trec_read_q15x2(w + 4), s2);
        s6 = trec_smlad(y, trec_read_q15x2(w + 4), s6);
        s3 = trec_smlad(x, trec_read_q15x2(w + 6), s3);
        s7 = trec_smlad(y, trec_read_q15x2(w + 6), s7);
        a += 4;
        w += 8;
    }
#endif
    t0[0] = s0;
    t0[1] = s1;
    t0[2] = s2;
    t0[3] = s3;
    t1[0] = s4;
    t1[1] = s5;
    t1[2] = s6;
    t1[3] = s7;
}

static inline void trec_dot_q15_w4_1x4(const int16_t *a0, const int16_t *w, int32_t pairs, int32_t sum[4])
{
    int32_t s0 = sum[0], s1 = sum[1], s2 = sum[2], s3 = sum[3];
    while (pairs-- > 0) {
        const int32_t x = trec_read_q15x2(a0);
        s0 = trec_smlad(x, trec_read_q15x2(w), s0);
        s1 = trec_smlad(x, trec_read_q15x2(w + 2), s1);
        s2 = trec_smlad(x, trec_read_q15x2(w + 4), s2);
        s3 = trec_smlad(x, trec_read_q15x2(w + 6), s3);
        a0 += 2;
        w += 8;
    }
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
    sum[3] = s3;
}

/*
 * Row blocks of the recovery: four words of t (LDM), then per row LDM/4 ops/STM; the loop runs two
 * blocks per trip (an odd block first), which halves its SUBS/BNE overhead.
 */
#if TREC_NN_DSP_NATIVE
/* four words of t into r4-r7 */
#define TREC_ADD4_T "ldmia %[t]!, {r4, r5, r6, r7}\n\t"
/* four words of the row at operand `row` op= r4-r7 (op: QADD16 for saturating int16 lanes), the
 * pointer stepped past them */
#define TREC_OP4_ROW(op, row)                       \
    "ldmia %[" row "], {r8, r9, r10, r12}\n\t"      \
    op " r8, r8, r4\n\t"                            \
    op " r9, r9, r5\n\t"                            \
    op " r10, r10, r6\n\t"                          \
    op " r12, r12, r7\n\t"                          \
    "stmia %[" row "]!, {r8, r9, r10, r12}\n\t"
#define TREC_QADD16_ROW(row) TREC_OP4_ROW("qadd16", row)
/* n4 blocks: an odd one alone, then two per trip */
#define TREC_ADD4_LOOP(block)                       \
    "tst %[n], #1\n\t"                              \
    "beq 1f\n\t"                                    \
    block                                           \
    "subs %[n], %[n], #1\n\t"                       \
    "beq 2f\n"                                      \
    "1:\n\t"                                        \
    block                                           \
    block                                           \
    "subs %[n], %[n], #2\n\t"                       \
    "bne 1b\n"                                      \
    "2:"
#endif

/*
 * int16 recovery rows: acc[i] = sat16(acc[i] + t[i]) for i < 8 * n8, n8 > 0, one to three rows
 * sharing t, all 4-byte aligned. On the core the row blocks above with QADD16 (8 lanes per
 * LDM/4 QADD16/STM), elsewhere the same saturating sums in C.
 */
static inline int16_t trec_qadd16_lane(int16_t a, int16_t b)
{
    int32_t s = (int32_t)a + (int32_t)b;
    return (int16_t)(s > 32767 ? 32767 : (s < -32768 ? -32768 : s));
}
#if !TREC_NN_DSP_NATIVE
static inline void trec_qadd16_rows(int16_t *acc0, int16_t *acc1, int16_t *acc2, const int16_t *t, int32_t n8)
{
    int32_t i;
    for (i = 0; i < 8 * n8; i++) {
        acc0[i] = trec_qadd16_lane(acc0[i], t[i]);
        if (acc1) {
            acc1[i] = trec_qadd16_lane(acc1[i], t[i]);
        }
        if (acc2) {
            acc2[i] = trec_qadd16_lane(acc2[i], t[i]);
        }
    }
}
#endif
static inline void trec_add_q15x8(int16_t *acc, const int16_t *t, int32_t n8)
{
#if TREC_NN_DSP_NATIVE
    __asm__ volatile(TREC_ADD4_LOOP(TREC_ADD4_T TREC_QADD16_ROW("a"))
                     : [a] "+r"(acc), [t] "+r"(t), [n] "+r"(n8)
                     :
                     : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r12", "cc", "memory");
#else
    trec_qadd16_rows(acc, 0, 0, t, n8);
#endif
}
static inline void trec_add_q15x8_2(int16_t *acc0, int16_t *acc1, const int16_t *t, int32_t n8)
{
#if TREC_NN_DSP_NATIVE
    __asm__ volatile(TREC_ADD4_LOOP(TREC_ADD4_T TREC_QADD16_ROW("a") TREC_QADD16_ROW("b"))
                     : [a] "+r"(acc0), [b] "+r"(acc1), [t] "+r"(t), [n] "+r"(n8)
                     :
                     : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r12", "cc", "memory");
#else
    trec_qadd16_rows(acc0, acc1, 0, t, n8);
#endif
}
static inline void trec_add_q15x8_3(int16_t *acc0, int16_t *acc1, int16_t *acc2, const int16_t *t, int32_t n8)
{
#if TREC_NN_DSP_NATIVE
    __asm__ volatile(TREC_ADD4_LOOP(TREC_ADD4_T TREC_QADD16_ROW("a") TREC_QADD16_ROW("b") TREC_QADD16_ROW("c"))
                     : [a] "+r"(acc0), [b] "+r"(acc1), [c] "+r"(acc2), [t] "+r"(t), [n] "+r"(n8)
                     :
                     : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r12", "cc", "memory");
#else
    trec_qadd16_rows(acc0, acc1, acc2, t, n8);
#endif
}

/*
 * Cluster sums over a pair-interleaved chunk row (word l, the int16 pair (v[2l], v[2l + 1]), at
 * v + 4l; see trec_se_convolve_s8.c), pairs > 0 words, sum 4-byte aligned:
 *   trec_sum_q15i_add: sum[i] += v[i], trec_sum_q15i_set: sum[i] = v[i], for i < 2 * pairs.
 * On the core two words per block (an odd word first): LDR/LDR (the second pipelined), LDM, SXTAH and
 * ADD ..., ASR #16 widen each half into its int32 (SXTH/ASR for set), STM; elsewhere the same in C.
 */
#if TREC_NN_DSP_NATIVE
static inline void trec_sum_q15i_add(int32_t *sum, const int16_t *v, int32_t pairs)
{
    int32_t x, y;
    __asm__ volatile("tst %[n], #1\n\t"
                     "beq 1f\n\t"
                     "ldr %[x], [%[v]], #8\n\t"
                     "ldmia %[s], {r4, r5}\n\t"
                     "sxtah r4, r4, %[x]\n\t"
                     "add r5, r5, %[x], asr #16\n\t"
                     "stmia %[s]!, {r4, r5}\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "ldr %[y], [%[v], #8]\n\t"
                     "ldr %[x], [%[v]], #16\n\t"
                     "ldmia %[s], {r4, r5, r6, r7}\n\t"
                     "sxtah r4, r4, %[x]\n\t"
                     "add r5, r5, %[x], asr #16\n\t"
                     "sxtah r6, r6, %[y]\n\t"
                     "add r7, r7, %[y], asr #16\n\t"
                     "stmia %[s]!, {r4, r5, r6, r7}\n\t"
                     "subs %[n], %[n], #2\n\t"
                     "bne 1b\n"
                     "2:"
                     : [s] "+r"(sum), [v] "+r"(v), [n] "+r"(pairs), [x] "=&r"(x), [y] "=&r"(y)
                     :
                     : "r4", "r5", "r6", "r7", "cc", "memory");
}

static inline void trec_sum_q15i_set(int32_t *sum, const int16_t *v, int32_t pairs)
{
    int32_t x, y;
    __asm__ volatile("tst %[n], #1\n\t"
                     "beq 1f\n\t"
                     "ldr %[x], [%[v]], #8\n\t"
                     "sxth r4, %[x]\n\t"
                     "asr r5, %[x], #16\n\t"
                     "stmia %[s]!, {r4, r5}\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "ldr %[y], [%[v], #8]\n\t"
                     "ldr %[x], [%[v]], #16\n\t"
                     "sxth r4, %[x]\n\t"
                     "asr r5, %[x], #16\n\t"
                     "sxth r6, %[y]\n\t"
                     "asr r7, %[y], #16\n\t"
                     "stmia %[s]!, {r4, r5, r6, r7}\n\t"
                     "subs %[n], %[n], #2\n\t"
                     "bne 1b\n"
                     "2:"
                     : [s] "+r"(sum), [v] "+r"(v), [n] "+r"(pairs), [x] "=&r"(x), [y] "=&r"(y)
                     :
                     : "r4", "r5", "r6", "r7", "cc", "memory");
}
#else
static inline void trec_sum_q15i_add(int32_t *sum, const int16_t *v, int32_t pairs)
{
    while (pairs-- > 0) {
        sum[0] += v[0];
        sum[1] += v[1];
        sum += 2;
        v += 4;
    }
}

static inline void trec_sum_q15i_set(int32_t *sum, const int16_t *v, int32_t pairs)
{
    while (pairs-- > 0) {
        sum[0] = v[0];
        sum[1] = v[1];
        sum += 2;
        v += 4;
    }
}
#endif

/*
 * int16 cluster sums (layers of at most 128 positions: |sum| <= 256 * 128), over the same
 * pair-interleaved chunk rows (word l of v at v + 4l int16) into contiguous int16 sums (word l at
 * sum + 2l), pairs > 0 words, sum 4-byte aligned:
 *   trec_sum16_q15i_add: sum[i] += v'[i] (16-bit wrapping lanes, SADD16), trec_sum16_q15i_set: sum[i] = v'[i].
 * On the core four words per block: four LDR of v (a stride of 8 bytes), LDM of the four sum words,
 * four SADD16, STM (set: the four LDR straight into the STM's registers); the last pairs % 4 words
 * one at a time; elsewhere the same in C.
 */
#if TREC_NN_DSP_NATIVE
static inline void trec_sum16_q15i_add(int16_t *sum, const int16_t *v, int32_t pairs)
{
    int32_t x0, x1, x2, x3;
    __asm__ volatile("subs %[n], %[n], #4\n\t"
                     "blt 2f\n"
                     "1:\n\t"
                     "ldr %[x0], [%[v]]\n\t"
                     "ldr %[x1], [%[v], #8]\n\t"
                     "ldr %[x2], [%[v], #16]\n\t"
                     "ldr %[x3], [%[v], #24]\n\t"
                     "ldmia %[s], {r4, r5, r6, r7}\n\t"
                     "sadd16 r4, r4, %[x0]\n\t"
                     "sadd16 r5, r5, %[x1]\n\t"
                     "sadd16 r6, r6, %[x2]\n\t"
                     "sadd16 r7, r7, %[x3]\n\t"
                     "stmia %[s]!, {r4, r5, r6, r7}\n\t"
                     "adds %[v], %[v], #32\n\t"
                     "subs %[n], %[n], #4\n\t"
                     "bge 1b\n"
                     "2:\n\t"
                     "adds %[n], %[n], #4\n\t"
                     "beq 4f\n"
                     "3:\n\t"
                     "ldr %[x0], [%[v]], #8\n\t"
                     "ldr r4, [%[s]]\n\t"
                     "sadd16 r4, r4, %[x0]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "str r4, [%[s]], #4\n\t"
                     "bne 3b\n"
                     "4:"
                     : [s] "+r"(sum), [v] "+r"(v), [n] "+r"(pairs), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2),
                       [x3] "=&r"(x3)
                     :
                     : "r4", "r5", "r6", "r7", "cc", "memory");
}

static inline void trec_sum16_q15i_set(int16_t *sum, const int16_t *v, int32_t pairs)
{
    __asm__ volatile("subs %[n], %[n], #4\n\t"
                     "blt 2f\n"
                     "1:\n\t"
                     "ldr r4, [%[v]]\n\t"
                     "ldr r5, [%[v], #8]\n\t"
                     "ldr r6, [%[v], #16]\n\t"
                     "ldr r7, [%[v], #24]\n\t"
                     "stmia %[s]!, {r4, r5, r6, r7}\n\t"
                     "adds %[v], %[v], #32\n\t"
                     "subs %[n], %[n], #4\n\t"
                     "bge 1b\n"
                     "2:\n\t"
                     "adds %[n], %[n], #4\n\t"
                     "beq 4f\n"
                     "3:\n\t"
                     "ldr r4, [%[v]], #8\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "str r4, [%[s]], #4\n\t"
                     "bne 3b\n"
                     "4:"
                     : [s] "+r"(sum), [v] "+r"(v), [n] "+r"(pairs)
                     :
                     : "r4", "r5", "r6", "r7", "cc", "memory");
}
#else
static inline void trec_sum16_q15i_add(int16_t *sum, const int16_t *v, int32_t pairs)
{
    while (pairs-- > 0) {
        sum[0] = (int16_t)(uint16_t)((uint32_t)(uint16_t)sum[0] + (uint32_t)(uint16_t)v[0]);
        sum[1] = (int16_t)(uint16_t)((uint32_t)(uint16_t)sum[1] + (uint32_t)(uint16_t)v[1]);
        sum += 2;
        v += 4;
    }
}

static inline void trec_sum16_q15i_set(int16_t *sum, const int16_t *v, int32_t pairs)
{
    while (pairs-- > 0) {
        sum[0] = v[0];
        sum[1] = v[1];
        sum += 2;
        v += 4;
    }
}
#endif

#endif /* TREC_NN_DSP_H */
