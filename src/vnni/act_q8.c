/*
 * AVX-512 activation quantizers for Q8_0 and Q8_1 (workspace layout in
 * act_q8.h). They reproduce src/ref/amxq_ref_quantize.c bit for bit:
 *   amax = max |x| over the block, d = amax / 127, id = 127 / amax (0 when
 *   amax is 0), q = round-half-even(x * id); d is rounded to fp16 as ggml
 *   stores it (vcvtps2ph, round to nearest even, which equals the software
 *   fp32_to_fp16); Q8_1's s = fp16(d * sum(q)) with the unrounded d; a block
 *   holding Inf or NaN gets d = NaN and q = 0.
 * The same float operations as the reference run in the same order (two
 * IEEE divisions per block, one multiply per element); x * id is rounded to
 * an integer by vcvtps2dq with embedded round-to-nearest-even, which is what
 * round_nearest_even computes for |v| < 2^22.
 *
 * Cost: one block of 32 is two zmm loads, two horizontal reductions (max,
 * sum) and two scalar divisions. Measured on one Zen 4 core, a 512 x 4096
 * activation (8 MiB of floats, read from L3/DRAM) takes 0.63 ms, ~35 cycles
 * per block, about 1 % of the 512 x 4096 x 4096 multiply that follows, so
 * the blocks are not batched further.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__F16C__)
#error "act_q8.c must be compiled with the AVX-512 flags (avx512_args in meson.build)"
#endif

#include "act_q8.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* Quantizes 32 values into q; returns the unrounded d (NaN for non-finite
 * input) and sets *sum = sum(q). */
static inline float quantize_block(const float *x, int8_t *q, int32_t *sum) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const __m512 a0 = _mm512_and_ps(x0, absmask), a1 = _mm512_and_ps(x1, absmask);
    const __m512 inf = _mm512_set1_ps(INFINITY);
    /* ordered less-than: false for Inf and for NaN */
    const __mmask16 f0 = _mm512_cmp_ps_mask(a0, inf, _CMP_LT_OQ);
    const __mmask16 f1 = _mm512_cmp_ps_mask(a1, inf, _CMP_LT_OQ);
    if ((f0 & f1) != 0xFFFF) {
        memset(q, 0, 32);
        *sum = 0;
        return NAN;
    }
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(x0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(x1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* Truncating narrowing, as the reference's (int8_t) cast: |x * id| <= 127
     * except when 127 / amax overflows (amax < 2^-121), where every x * id is
     * Inf or NaN, vcvtps2dq gives 0x80000000 and both sides keep the low byte
     * 0. The sum is taken over the stored bytes, as the reference does. */
    const __m128i n0 = _mm512_cvtepi32_epi8(q0), n1 = _mm512_cvtepi32_epi8(q1);
    _mm_storeu_si128((__m128i *)q, n0);
    _mm_storeu_si128((__m128i *)(q + 16), n1);
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(n0), _mm512_cvtepi8_epi32(n1)));
    return d;
}

/* fp32 -> fp16 (round to nearest even) -> fp32: the value ggml stores. */
static inline float through_fp16(float v) { return _cvtsh_ss(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT)); }

static void zero_tail(int8_t *qs, int64_t k, int64_t qs_stride) {
    if (qs_stride > k) memset(qs + k, 0, (size_t)(qs_stride - k));
}

void amxq_act_quantize_row_q8_0(const float *x, int64_t k, int64_t qs_stride, int8_t *qs, float *d,
                           int32_t *comp, int32_t bias) {
    for (int64_t b = 0; b < k / 32; b++) {
        int32_t sum;
        d[b] = through_fp16(quantize_block(x + 32 * b, qs + 32 * b, &sum));
        comp[b] = -bias * sum;
    }
    zero_tail(qs, k, qs_stride);
}

void amxq_act_quantize_row_q8_1(const float *x, int64_t k, int64_t qs_stride, int8_t *qs, float *d, float *s) {
    for (int64_t b = 0; b < k / 32; b++) {
        int32_t sum;
        const float dv = quantize_block(x + 32 * b, qs + 32 * b, &sum);
        d[b] = through_fp16(dv);
        s[b] = through_fp16(dv * (float)sum);
    }
    zero_tail(qs, k, qs_stride);
}
