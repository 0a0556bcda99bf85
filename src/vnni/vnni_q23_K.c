/*
 * AVX-512 VNNI kernels for Q2_K and Q3_K (layouts q2_Kp16 / q3_Kp16,
 * src/repack/repack_q23_K.h) against Q8_K activations (act_q8_K.h).
 *
 * Both formats split a superblock into 16 groups of 16 elements with their
 * own scale; group g = 8h + 2j + i reads field j of qs lines 8h + 4i + l
 * (l = 0..3, its four VNNI rows) against activation bytes 16g + 4l.
 *
 * Q2_K: w = d sc q - dmin mn (q 0..3, sc and mn 4 bits). The field is taken
 * in place, one AND: 4^j q (0..192, unsigned for vpdpbusd). So group sums
 * carry a factor 4^j, and the group's scale is multiplied by 4^(3 - j) to
 * bring every group to 64: the superblock ends with T = 64 sum_g sc_g
 * sum(q a), exact (|T| <= 64 * 15 * 3 * 127 * 256 < 2^27), and is scaled
 * by d / 64 (exact: a power of two, and fp16 d >= 2^-24), so float(T) *
 * (d / 64) is bitwise float(T / 64) * d. The mins term Mn = sum_g mn_g
 * bs16_g comes from 8 vpdpwssd of the packed (mn, mn) pairs against the
 * activation's 16-element sums, and per superblock
 *     acc += (T * d/64 - Mn * dmin) * d_a       (Q4_K's float update)
 * Multiply-pipe cost per superblock, row and 16 columns: 64 vpdpbusd + 16
 * vpmulld + 8 vpdpwssd + 3 float = 91 (70% of the vpdpbusd peak at best);
 * unpacking costs 1 op per weight vector, shared by the MR rows. Converting
 * panels once per row block to sc * q bytes (at most 45, so the 16 vpmulld
 * go) was tried and was slower: M = 512, N = K = 4096, one thread on a
 * loaded Zen 5, 0.49-0.60 of Q4_K's speed converted against 0.88 direct.
 *
 * Q3_K: w = d (sc - 32) q with q = low + 4 hbit - 4 (-4..3). The kernel uses
 * u = 8 (q + 4) (kq_q3_value8: 0..56), whose bias 32 is Q6_K's, so a group
 * sum starts at -32 bs16 (the Q6_K activation record, a broadcast load) and
 * ends at 8 sum(q a); vpmulld by the int8 scale (decoded for the 16 groups
 * and 16 columns at once, kq_q3_scales) and vpaddd give T = 8 sum_g (sc_g -
 * 32) sum(q a) (|T| <= 8 * 32 * 4 * 128 * 256 < 2^25), and
 *     acc += (T * d/8) * d_a                    (Q6_K's float update)
 * Unpacking is ~5 ops per weight vector (two shifts, two ANDs, an OR), so
 * row blocks of more than 8 rows convert each panel to 8-bit lines once
 * (q3_convert, vnni_kq.c) as Q6_K does.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "src/vnni must be compiled with the AVX-512 flags (see meson.build avx512_args)"
#endif

#include "../formats.h"
#include "../repack/repack_kquants.h"
#include "act_q8_K.h"
#include "vnni_kq_simd.h"

/* ---- Q2_K ------------------------------------------------------------------ */

KQ_INLINE void q2_tile(const kq_tile *t, const int mr) {
    __m512 acc[KQ_MR];
    for (int r = 0; r < mr; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *p = t->w + (size_t)b * Q2K_PSB;
        const int8_t *qa = t->q + b * QK_K;
        __m512i tot[KQ_MR], mi[KQ_MR];
        for (int r = 0; r < mr; r++) tot[r] = mi[r] = _mm512_setzero_si512();
        kq_touch_lines(p, Q2K_OFF_QS / 64);
#pragma GCC unroll 8
        for (int pp = 0; pp < 8; pp++) {
            const int h = pp / 4, j = pp % 4, s = 2 * (3 - j);
            kq_prefetch_part(t, p, Q2K_PSB, pp, 8);
            const __m512i raw = kq_q2_scale_words(p + Q2K_OFF_SC + 32 * pp);
            const __m512i mnp = _mm512_srli_epi16(raw, 4);
            const __m512i sc[2] = {
                _mm512_and_si512(_mm512_slli_epi32(raw, s), _mm512_set1_epi32(0xF << s)),
                _mm512_and_si512(_mm512_srli_epi32(raw, 16 - s), _mm512_set1_epi32(0xF << s)),
            };
            for (int r = 0; r < mr; r++)
                mi[r] = _mm512_dpwssd_epi32(mi[r], mnp, kq_bcast32(t->s + r * t->s_stride + b * Q8K_SUMS_BYTES + 16 + 4 * pp));
#pragma GCC unroll 2
            for (int i = 0; i < 2; i++) {
                const int g = 8 * h + 2 * j + i;
                __m512i is[KQ_MR];
                for (int r = 0; r < mr; r++) is[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int l = 0; l < 4; l++) {
                    const __m512i v = kq_q2_field_inplace(_mm512_loadu_si512(p + Q2K_OFF_QS + 64 * (8 * h + 4 * i + l)), j);
                    for (int r = 0; r < mr; r++)
                        is[r] = kq_dpbusd_bcast(is[r], v, qa + r * t->q_stride + 16 * g + 4 * l);
                }
                for (int r = 0; r < mr; r++) tot[r] = kq_scale_add(tot[r], is[r], sc[i]);
            }
        }
        const __m512 dw = _mm512_mul_ps(kq_load_fp16x16(p + Q2K_OFF_D), _mm512_set1_ps(1.0f / 64.0f));
        const __m512 dm = kq_load_fp16x16(p + Q2K_OFF_DMIN);
        for (int r = 0; r < mr; r++) {
            const __m512 u = _mm512_fmsub_ps(_mm512_cvtepi32_ps(tot[r]), dw, _mm512_mul_ps(_mm512_cvtepi32_ps(mi[r]), dm));
            acc[r] = _mm512_fmadd_ps(u, _mm512_set1_ps(t->d[r * t->d_stride + b]), acc[r]);
        }
    }
    kq_store(t, acc, mr);
}

#define Q2K_BODY(t, mr) q2_tile(t, mr)
KQ_TILES(q2k, Q2K_BODY)

const kq_family amxq_vnni_kq_q2_K = {
    .psb = Q2K_PSB,
    .tile = KQ_TILE_TABLE(q2k),
    KQ_NAMES("q2_K"),
};

/* ---- Q3_K ------------------------------------------------------------------ */

/* Weight vector l (0..3) of group g: 8 (q + 4) as bytes. `p` is the
 * superblock as kq_group_base hides it once per group (the hm lines, which
 * 8 groups share, are reloaded per group rather than held in registers). */
KQ_INLINE __m512i q3_unpack(const uint8_t *p, int g, int l) {
    const int h = g / 8, j = (g % 8) / 2, i = g % 2;
    const __m512i qs = _mm512_loadu_si512(p + Q3K_OFF_QS + 64 * (8 * h + 4 * i + l));
    const __m512i hm = _mm512_loadu_si512(p + Q3K_OFF_HM + 64 * (4 * i + l));
    return kq_q3_value8(qs, hm, j, 4 * h + j);
}


/* One superblock as 64 lines of 8-bit weights, line 4g + l. */
static void q3_convert(const uint8_t *p, uint8_t *out) {
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++)
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) _mm512_store_si512(out + 64 * (4 * g + l), q3_unpack(kq_group_base(p), g, l));
}
#define Q3K_CONV_BYTES 4096

/* conv = 0: unpack from the panel, sums from 0, over all of K.
 * conv = 1: weights from t->cw (q3_convert), sums continued from y. */
KQ_INLINE void q3_tile(const kq_tile *t, const int mr, const int conv) {
    __m512 acc[KQ_MR];
    const __mmask16 km = (__mmask16)((1u << t->ncols) - 1u);
    for (int r = 0; r < mr; r++)
        acc[r] = conv && !t->first ? _mm512_maskz_loadu_ps(km, t->y + r * t->ldy) : _mm512_setzero_ps();
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *p = t->w + (size_t)b * Q3K_PSB;
        const uint8_t *cw = conv ? t->cw + (size_t)b * Q3K_CONV_BYTES : NULL;
        const int8_t *qa = t->q + b * QK_K;
        __m512i tot[KQ_MR];
        for (int r = 0; r < mr; r++) tot[r] = _mm512_setzero_si512();
        if (!conv) kq_touch_lines(p, Q3K_OFF_QS / 64);
        _Alignas(64) int8_t sc8[256];
        {
            __m512i s4[4];
            kq_q3_scales(p + Q3K_OFF_SC, s4);
            for (int i = 0; i < 4; i++) _mm512_store_si512(sc8 + 64 * i, s4[i]);
        }
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            if (!conv) kq_prefetch_part(t, p, Q3K_PSB, g, 16);
            const uint8_t *pg = kq_group_base(p);
            const __m512i sc = _mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(sc8 + 16 * g)));
            __m512i is[KQ_MR];
            for (int r = 0; r < mr; r++) is[r] = kq_bcast32(t->s + r * t->s_stride + b * Q8K_SUMS_BYTES + 4 * g);
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) {
                const __m512i v = conv ? _mm512_load_si512(cw + 64 * (4 * g + l)) : q3_unpack(pg, g, l);
                for (int r = 0; r < mr; r++)
                    is[r] = _mm512_dpbusd_epi32(is[r], v, kq_bcast32(qa + r * t->q_stride + 16 * g + 4 * l));
            }
            for (int r = 0; r < mr; r++) tot[r] = kq_scale_add(tot[r], is[r], sc);
        }
        const __m512 dw = _mm512_mul_ps(kq_load_fp16x16(p + Q3K_OFF_D), _mm512_set1_ps(0.125f));
        for (int r = 0; r < mr; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(tot[r]), dw),
                                     _mm512_set1_ps(t->d[r * t->d_stride + b]), acc[r]);
    }
    kq_store(t, acc, mr);
}

#define Q3K_BODY(t, mr) q3_tile(t, mr, 0)
#define Q3K_CONV_BODY(t, mr) q3_tile(t, mr, 1)
KQ_TILES(q3k, Q3K_BODY)
KQ_TILES(q3kc, Q3K_CONV_BODY)

const kq_family amxq_vnni_kq_q3_K = {
    .psb = Q3K_PSB,
    .tile = KQ_TILE_TABLE(q3k),
    .convert = q3_convert,
    .conv_bytes = Q3K_CONV_BYTES,
    .tile_conv = KQ_TILE_TABLE(q3kc),
    KQ_NAMES("q3_K"),
};
