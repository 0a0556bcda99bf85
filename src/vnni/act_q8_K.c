/*
 * AVX-512 Q8_K activation quantizer (layout and numerics: act_q8_K.h).
 *
 * One superblock is 16 zmm of floats, and each zmm is exactly one 16-element
 * group, so the group sums are 16 horizontal adds of the int32 quants. The
 * float operations are the reference's, one for one: |x| max, the division
 * -127/max, one multiply per element, round to nearest even (vcvtps2dq in the
 * default rounding mode equals ggml's 1.5*2^23 trick for |v| < 2^22, and the
 * products here never exceed 127.5 unless iscale overflowed to Inf, where both
 * give 0 after the int8 truncation), min(127), d = 1/iscale.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VNNI__)
#error "src/vnni must be compiled with the AVX-512 flags (see meson.build avx512_args)"
#endif

#include "act_q8_K.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../formats.h"

static size_t align64(size_t v) { return (v + 63) & ~(size_t)63; }

size_t amxq_act_q8K_size(int64_t m, int64_t k) {
    const size_t kb = (size_t)(k / QK_K);
    const size_t d_off = align64((size_t)m * (size_t)k);
    const size_t s_off = align64(d_off + (size_t)m * kb * sizeof(float));
    return s_off + (size_t)m * kb * Q8K_SUMS_BYTES;
}

act_q8K_view amxq_act_q8K_layout(void *ws, int64_t m, int64_t k) {
    const size_t kb = (size_t)(k / QK_K);
    const size_t d_off = align64((size_t)m * (size_t)k);
    const size_t s_off = align64(d_off + (size_t)m * kb * sizeof(float));
    uint8_t *base = ws;
    return (act_q8K_view){(int8_t *)base, (float *)(base + d_off), base + s_off, k, (int64_t)kb};
}

act_q8K_sums amxq_act_q8K_sums_for(amx_type type) {
    switch (type) {
    case AMX_TYPE_Q2_K: /* its mins read the bs16 pairs of the record */
    case AMX_TYPE_Q4_K:
    case AMX_TYPE_Q5_K: return Q8K_SUMS_MIN;
    case AMX_TYPE_Q3_K: /* 8 (q + 4), bias 32: see vnni_q23_K.c */
    case AMX_TYPE_Q6_K: return Q8K_SUMS_BIAS16;
    case AMX_TYPE_IQ4_XS: return Q8K_SUMS_BIAS32;
    default: amxq_type_unreachable("amxq_act_q8K_sums_for", type);
    }
}

/* The record of a superblock from its 16 group sums. */
static void write_sums(const int32_t bs16[16], uint8_t *rec, act_q8K_sums kind) {
    memset(rec, 0, Q8K_SUMS_BYTES);
    int16_t b16[16], b32[8];
    for (int g = 0; g < 16; g++) b16[g] = (int16_t)bs16[g];
    for (int s = 0; s < 8; s++) b32[s] = (int16_t)(bs16[2 * s] + bs16[2 * s + 1]);
    switch (kind) {
    case Q8K_SUMS_MIN:
        memcpy(rec, b32, sizeof b32);
        memcpy(rec + 16, b16, sizeof b16);
        break;
    case Q8K_SUMS_BIAS16: {
        int32_t v[16];
        for (int g = 0; g < 16; g++) v[g] = -32 * bs16[g];
        memcpy(rec, v, sizeof v);
    } break;
    case Q8K_SUMS_BIAS32: {
        int32_t v[8];
        for (int s = 0; s < 8; s++) v[s] = -128 * (bs16[2 * s] + bs16[2 * s + 1]);
        memcpy(rec, v, sizeof v);
        memcpy(rec + 32, b16, sizeof b16);
    } break;
    }
}

static void quantize_superblock(const float *x, int8_t *q, float *d, uint8_t *rec, act_q8K_sums kind) {
    __m512 v[16];
    __mmask16 bad = 0;
    __m512 amaxv = _mm512_setzero_ps();
    for (int g = 0; g < 16; g++) {
        v[g] = _mm512_loadu_ps(x + 16 * g);
        bad |= _mm512_fpclass_ps_mask(v[g], 0x99); /* QNaN | SNaN | +Inf | -Inf */
        amaxv = _mm512_max_ps(amaxv, _mm512_abs_ps(v[g]));
    }
    const int32_t zero16[16] = {0};
    if (bad) {
        memset(q, 0, QK_K);
        *d = NAN;
        write_sums(zero16, rec, kind);
        return;
    }
    const float amax = _mm512_reduce_max_ps(amaxv);
    if (amax == 0.0f) {
        memset(q, 0, QK_K);
        *d = 0.0f;
        write_sums(zero16, rec, kind);
        return;
    }
    /* the first element of largest magnitude, with its sign */
    float max = 0.0f;
    const __m512 am = _mm512_set1_ps(amax);
    for (int g = 0; g < 16; g++) {
        const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(v[g]), am, _CMP_EQ_OQ);
        if (hit) {
            max = x[16 * g + __builtin_ctz(hit)];
            break;
        }
    }
    const float iscale = -127.0f / max;
    const __m512 is = _mm512_set1_ps(iscale);
    const __m512i c127 = _mm512_set1_epi32(127);
    int32_t bs16[16];
    for (int g = 0; g < 16; g++) {
        __m512i qi = _mm512_cvtps_epi32(_mm512_mul_ps(v[g], is));
        qi = _mm512_min_epi32(qi, c127);
        /* truncation to int8 as the reference's (int8_t) cast; the sum is of
         * the stored bytes */
        const __m128i qb = _mm512_cvtepi32_epi8(qi);
        _mm_storeu_si128((__m128i *)(q + 16 * g), qb);
        bs16[g] = _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(qb));
    }
    *d = 1.0f / iscale;
    write_sums(bs16, rec, kind);
}

void amxq_act_q8K_quantize_row(const float *x, int64_t k, int8_t *q, float *d, uint8_t *sums,
                          act_q8K_sums kind) {
    for (int64_t b = 0; b < k / QK_K; b++)
        quantize_superblock(x + b * QK_K, q + b * QK_K, d + b, sums + b * Q8K_SUMS_BYTES, kind);
}

void amxq_act_q8K_quantize(const float *x, int64_t ldx, int64_t m, int64_t k, void *ws, int64_t m0,
                      int64_t m1, act_q8K_sums kind) {
    const act_q8K_view a = amxq_act_q8K_layout(ws, m, k);
    for (int64_t i = m0; i < m1; i++)
        amxq_act_q8K_quantize_row(x + i * ldx, k, a.q + i * k, a.d + i * a.kb,
                             a.s + (size_t)(i * a.kb) * Q8K_SUMS_BYTES, kind);
}

size_t amxq_vnni_q8K_act_size(const amx_weights *w, int64_t m) { return amxq_act_q8K_size(m, w->k); }

uint32_t amxq_vnni_q8K_act_format(const amx_weights *w) { return (uint32_t)amxq_act_q8K_sums_for(w->type); }

/* A row lives in the three arrays (act_q8_K.h): quants, scales, sum records. */
void amxq_vnni_q8K_act_copy_row(const amx_weights *w, const void *src, int64_t m_src, int64_t i_src, void *dst,
                                int64_t m_dst, int64_t i_dst) {
    const act_q8K_view s = amxq_act_q8K_layout((void *)src, m_src, w->k);
    const act_q8K_view d = amxq_act_q8K_layout(dst, m_dst, w->k);
    memcpy(d.q + i_dst * w->k, s.q + i_src * w->k, (size_t)w->k);
    memcpy(d.d + i_dst * d.kb, s.d + i_src * s.kb, (size_t)s.kb * sizeof(float));
    memcpy(d.s + (size_t)(i_dst * d.kb) * Q8K_SUMS_BYTES, s.s + (size_t)(i_src * s.kb) * Q8K_SUMS_BYTES,
           (size_t)s.kb * Q8K_SUMS_BYTES);
}

void amxq_vnni_q8K_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                       int64_t m0, int64_t m1) {
    amxq_act_q8K_quantize(x, ldx, m, w->k, ws, m0, m1, amxq_act_q8K_sums_for(w->type));
}
