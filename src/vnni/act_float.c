/*
 * AVX-512 activation conversion for the float weight types (layout in
 * act_float.h), bit for bit the reference's amxq_ref_quantize_row_f16 /
 * _bf16: fp16 by vcvtps2ph with round-to-nearest-even, as ggml's
 * ggml_cpu_fp32_to_fp16 does on x86, widened back by vcvtph2ps; bf16 by
 * ggml's integer rounding (add 0x7fff plus the kept lowest bit, keep the top
 * half; NaN gets its quiet bit), 16 values per step. vcvtneps2bf16 is not
 * used: it flushes subnormal inputs to zero, which ggml's conversion does
 * not. The k tail is read with masked loads, so nothing past x[k - 1] is
 * touched.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__F16C__)
#error "act_float.c must be compiled with the AVX-512 flags (avx512_args in meson.build)"
#endif

#include "act_float.h"

#include <immintrin.h>

static inline __mmask16 lanes(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

void amxq_act_row_f16(const float *x, int64_t k, float *out) {
    const int64_t kp = float_kp(k);
    for (int64_t i = 0; i < kp; i += 16) {
        const __m512 v = i < k ? _mm512_maskz_loadu_ps(lanes(k - i), x + i) : _mm512_setzero_ps();
        const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(h));
    }
}

void amxq_act_row_bf16(const float *x, int64_t k, uint16_t *out) {
    const int64_t kp = float_kp(k);
    const __m512i one = _mm512_set1_epi32(1), round = _mm512_set1_epi32(0x7fff);
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    for (int64_t i = 0; i < kp; i += 16) {
        const __m512i u = i < k ? _mm512_maskz_loadu_epi32(lanes(k - i), x + i) : _mm512_setzero_si512();
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(round, odd)), 16);
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), quiet);
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(r));
    }
}
