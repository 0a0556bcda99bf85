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
 * unpacking costs 1 op per weight vector, shared by the MR rows. Row blocks
 * of more than 8 rows convert each panel once to sc * q bytes (at most 45,
 * so the 16 vpmulld go; q2_convert below).
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
 * (q3_convert, vnni_kq.c) as Q6_K does, with the group scale folded in.
 *
 * The converted tiles of both types read their activation dwords as
 * vpdpbusd broadcast operands from three row bases (kq_dpbusd_row8).
 * Measured on one Zen 5 core (2-vCPU KVM guest), M = 512, amxq-bench
 * medians of 3 alternated runs, GOPS (fraction of the vpdpbusd peak), one /
 * two threads, before (scales applied per group in the tiles, Q2_K
 * unconverted) -> after:
 *   Q2_K 4096x4096  542 / 1045 (0.51 / 0.50) -> 605 / 1178 (0.57 / 0.57)
 *        14336x4096 544 / 1080 (0.53 / 0.52) -> 622 / 1203 (0.59 / 0.58)
 *        4096x14336 569 / 1082 (0.54 / 0.52) -> 578 / 1158 (0.56 / 0.55)
 *   Q3_K 4096x4096  506 /  974 (0.48 / 0.47) -> 611 / 1212 (0.59 / 0.58)
 *        14336x4096 515 / 1003 (0.50 / 0.48) -> 631 / 1269 (0.61 / 0.61)
 *        4096x14336 469 /  934 (0.45 / 0.45) -> 538 / 1060 (0.52 / 0.51)
 * Converting Q2_K alone, with the broadcasts as separate loads, was no
 * faster than its direct tiles (M = 512, N = K = 4096: 550-592 against
 * 554-565 GOPS); the operand broadcasts made the difference there.
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

/* The 64 lines of one converted superblock (q2_convert, q3_convert: line
 * 4g + l, the group scale already in the bytes) against the mr rows of
 * activations at qa: even groups add to s0, odd groups to s1 (two chains
 * 32 vpdpbusd deep, not 64; the caller adds them, exactly). */
KQ_INLINE void kq_conv_sums(const uint8_t *cw, const int8_t *qa, int64_t q_stride, const int mr, __m512i *s0,
                            __m512i *s1) {
    const kq_rows8 rr = kq_rows8_of(qa, q_stride);
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++)
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) {
            const __m512i v = _mm512_load_si512(cw + 64 * (4 * g + l));
            for (int r = 0; r < mr; r++) {
                if (g % 2) s1[r] = kq_dpbusd_row8(s1[r], v, &rr, r, 16 * g + 4 * l);
                else s0[r] = kq_dpbusd_row8(s0[r], v, &rr, r, 16 * g + 4 * l);
            }
        }
}

/* The converted path (row blocks of more than 8 rows, vnni_kq.c): line
 * 4g + l of a converted superblock holds u = sc_g q (0..45, the column's
 * scale folded in, as the AMX unpack does), so a row's superblock is 64
 * vpdpbusd into one sum T' = sum_g sc_g sum(q a) with no per-group vpmulld
 * or vpaddd; the direct tile's T is 64 T', and float(T') * d equals
 * float(64 T') * (d / 64) bit for bit, so both paths give the same floats.
 * The mins term is the direct tile's (the min pairs read from the panel). */
static void q2_convert(const uint8_t *p, uint8_t *out) {
#pragma GCC unroll 8
    for (int pp = 0; pp < 8; pp++) {
        const int h = pp / 4, j = pp % 4;
        const __m512i raw = kq_q2_scale_words(p + Q2K_OFF_SC + 32 * pp), m4 = _mm512_set1_epi32(0xF);
        const kq_col_factor f[2] = {kq_col_factor_of(_mm512_and_si512(raw, m4)),
                                    kq_col_factor_of(_mm512_and_si512(_mm512_srli_epi32(raw, 16), m4))};
        const uint8_t *pg = kq_group_base(p);
#pragma GCC unroll 2
        for (int i = 0; i < 2; i++)
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) {
                const __m512i u = kq_q2_field(_mm512_loadu_si512(pg + Q2K_OFF_QS + 64 * (8 * h + 4 * i + l)), j);
                _mm512_store_si512(out + 64 * (4 * (2 * pp + i) + l), kq_col_factor_mul(u, &f[i]));
            }
    }
}
#define Q2K_CONV_BYTES 4096

/* The converted tile: weights from t->cw (q2_convert), float sums continued
 * from y. */
KQ_INLINE void q2_conv_tile(const kq_tile *t, const int mr) {
    __m512 acc[KQ_MR];
    kq_start(t, acc, mr, !t->first);
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *p = t->w + (size_t)b * Q2K_PSB;
        const uint8_t *cw = t->cw + (size_t)b * Q2K_CONV_BYTES;
        const int8_t *qa = t->q + b * QK_K;
        __m512i s0[KQ_MR], s1[KQ_MR], mi[KQ_MR];
        for (int r = 0; r < mr; r++) s0[r] = s1[r] = mi[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int pp = 0; pp < 8; pp++) {
            const __m512i mnp = _mm512_srli_epi16(kq_q2_scale_words(p + Q2K_OFF_SC + 32 * pp), 4);
            for (int r = 0; r < mr; r++)
                mi[r] = _mm512_dpwssd_epi32(mi[r], mnp, kq_bcast32(t->s + r * t->s_stride + b * Q8K_SUMS_BYTES + 16 + 4 * pp));
        }
        kq_conv_sums(cw, qa, t->q_stride, mr, s0, s1);
        const __m512 dw = kq_load_fp16x16(p + Q2K_OFF_D);
        const __m512 dm = kq_load_fp16x16(p + Q2K_OFF_DMIN);
        for (int r = 0; r < mr; r++) {
            const __m512 u = _mm512_fmsub_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0[r], s1[r])), dw,
                                             _mm512_mul_ps(_mm512_cvtepi32_ps(mi[r]), dm));
            acc[r] = _mm512_fmadd_ps(u, _mm512_set1_ps(t->d[r * t->d_stride + b]), acc[r]);
        }
    }
    kq_store(t, acc, mr);
}

#define Q2K_BODY(t, mr) q2_tile(t, mr)
#define Q2K_CONV_BODY(t, mr) q2_conv_tile(t, mr)
KQ_TILES(q2k, Q2K_BODY)
KQ_TILES(q2kc, Q2K_CONV_BODY)

const kq_family amxq_vnni_kq_q2_K = {
    .psb = Q2K_PSB,
    .tile = KQ_TILE_TABLE(q2k),
    .convert = q2_convert,
    .conv_bytes = Q2K_CONV_BYTES,
    .tile_conv = KQ_TILE_TABLE(q2kc),
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


/* The converted path (row blocks of more than 8 rows, vnni_kq.c): each
 * weight with its group scale already applied, so a tile's superblock is 64
 * vpdpbusd per row into one sum, with no per-group vpmulld, vpaddd or
 * bias load (16 of each per row and superblock in the direct tile).
 *
 * s q (s = sc - 32 in -32..31, q in -4..3) lies in -124..128, one value too
 * many for int8; its negation -s q + 128 lies in 0..252, an unsigned byte.
 * So line 4g + l of a converted superblock holds u = 128 - s q, and a row's
 * sum starts at -128 sum(a) (4 times the sum of the record's 16 values
 * -32 bs16), ending at exactly -T' with T' = sum_g s_g sum(q a); the direct
 * tile's T is 8 T'. float(-T') * (-d) equals float(8 T') * (d / 8) bit for
 * bit (negation and scaling by a power of two are exact in both the
 * conversion and the product), so both paths give the same floats.
 *
 * u is built from the bits, bytewise modulo 256: u = (128 + 4s) - s lo0 -
 * 2s lo1 - 4s hbit (q = lo + 4 hbit - 4), one vptestmb and one masked vpaddb
 * per bit (the figures: the top of this file). */
/* 128-bit lane L of v in all four lanes (clang wants the immediate spelled
 * out, not computed from an unrolled loop index). */
KQ_INLINE __m512i q3_lane_bcast(__m512i v, const int L) {
    switch (L) {
    case 0: return _mm512_shuffle_i32x4(v, v, 0x00);
    case 1: return _mm512_shuffle_i32x4(v, v, 0x55);
    case 2: return _mm512_shuffle_i32x4(v, v, 0xAA);
    default: return _mm512_shuffle_i32x4(v, v, 0xFF);
    }
}

static void q3_convert(const uint8_t *p, uint8_t *out) {
    __m512i s4[4];
    kq_q3_scales(p + Q3K_OFF_SC, s4);
    /* byte i of lane L of a group's 16 scales spread: column 4L + i / 4 */
    const __m512i spread = _mm512_set_epi32(0x0f0f0f0f, 0x0e0e0e0e, 0x0d0d0d0d, 0x0c0c0c0c, 0x0b0b0b0b, 0x0a0a0a0a,
                                            0x09090909, 0x08080808, 0x07070707, 0x06060606, 0x05050505, 0x04040404,
                                            0x03030303, 0x02020202, 0x01010101, 0x00000000);
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        const int h = g / 8, j = (g % 8) / 2, i = g % 2, bit = 4 * h + j;
        const __m512i lane = q3_lane_bcast(s4[g / 4], g % 4);
        const __m512i sv = _mm512_shuffle_epi8(lane, spread);
        const __m512i n1 = _mm512_sub_epi8(_mm512_setzero_si512(), sv), n2 = _mm512_add_epi8(n1, n1),
                      n4 = _mm512_add_epi8(n2, n2);
        const __m512i base = _mm512_sub_epi8(_mm512_set1_epi8((char)0x80), n4);
        const uint8_t *pg = kq_group_base(p);
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) {
            const __m512i qs = _mm512_loadu_si512(pg + Q3K_OFF_QS + 64 * (8 * h + 4 * i + l));
            const __m512i hm = _mm512_loadu_si512(pg + Q3K_OFF_HM + 64 * (4 * i + l));
            __m512i u = _mm512_mask_add_epi8(base, _mm512_test_epi8_mask(qs, _mm512_set1_epi8((char)(1 << 2 * j))),
                                             base, n1);
            u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(qs, _mm512_set1_epi8((char)(2 << 2 * j))), u, n2);
            u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(hm, _mm512_set1_epi8((char)(1 << bit))), u, n4);
            _mm512_store_si512(out + 64 * (4 * g + l), u);
        }
    }
}
#define Q3K_CONV_BYTES 4096

/* -128 sum(a) of a superblock in every lane: 4 x the sum of its record's
 * 16 int32 (-32 bs16 each). */
KQ_INLINE __m512i q3_bias128(const uint8_t *rec) {
    __m512i v = _mm512_loadu_si512(rec);
    v = _mm512_add_epi32(v, _mm512_shuffle_i32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm512_add_epi32(v, _mm512_shuffle_i32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_slli_epi32(v, 2);
}

/* The direct tile: unpacks from the panel, sums from 0, over all of K. */
KQ_INLINE void q3_tile(const kq_tile *t, const int mr) {
    __m512 acc[KQ_MR];
    for (int r = 0; r < mr; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *p = t->w + (size_t)b * Q3K_PSB;
        const int8_t *qa = t->q + b * QK_K;
        __m512i tot[KQ_MR];
        for (int r = 0; r < mr; r++) tot[r] = _mm512_setzero_si512();
        kq_touch_lines(p, Q3K_OFF_QS / 64);
        _Alignas(64) int8_t sc8[256];
        {
            __m512i s4[4];
            kq_q3_scales(p + Q3K_OFF_SC, s4);
            for (int i = 0; i < 4; i++) _mm512_store_si512(sc8 + 64 * i, s4[i]);
        }
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            kq_prefetch_part(t, p, Q3K_PSB, g, 16);
            const uint8_t *pg = kq_group_base(p);
            const __m512i sc = _mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(sc8 + 16 * g)));
            __m512i is[KQ_MR];
            for (int r = 0; r < mr; r++) is[r] = kq_bcast32(t->s + r * t->s_stride + b * Q8K_SUMS_BYTES + 4 * g);
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) {
                const __m512i v = q3_unpack(pg, g, l);
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

/* The converted tile: weights from t->cw (q3_convert), float sums continued
 * from y. */
KQ_INLINE void q3_conv_tile(const kq_tile *t, const int mr) {
    __m512 acc[KQ_MR];
    kq_start(t, acc, mr, !t->first);
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *cw = t->cw + (size_t)b * Q3K_CONV_BYTES;
        const int8_t *qa = t->q + b * QK_K;
        __m512i s0[KQ_MR], s1[KQ_MR];
        for (int r = 0; r < mr; r++) {
            s0[r] = q3_bias128(t->s + r * t->s_stride + b * Q8K_SUMS_BYTES);
            s1[r] = _mm512_setzero_si512();
        }
        kq_conv_sums(cw, qa, t->q_stride, mr, s0, s1);
        const __m512 dn = _mm512_mul_ps(kq_load_fp16x16(t->w + (size_t)b * Q3K_PSB + Q3K_OFF_D), _mm512_set1_ps(-1.0f));
        for (int r = 0; r < mr; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0[r], s1[r])), dn),
                                     _mm512_set1_ps(t->d[r * t->d_stride + b]), acc[r]);
    }
    kq_store(t, acc, mr);
}

#define Q3K_BODY(t, mr) q3_tile(t, mr)
#define Q3K_CONV_BODY(t, mr) q3_conv_tile(t, mr)
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
