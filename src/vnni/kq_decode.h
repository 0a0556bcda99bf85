/*
 * Line decoders of the p16 K-quant layouts (src/repack/repack_kquants.h):
 * how a 64-byte line of a panel superblock becomes 64 unsigned weight bytes
 * (16 columns x 4 K, VNNI order). The one copy for both kernel families:
 * the VNNI kernels (vnni_q4_K.c, vnni_q6_K.c, vnni_iq4_xs.c) feed the bytes
 * to vpdpbusd, the AMX unpack (src/tiles/amx_kquants.c) splits them into
 * tile planes.
 *
 * The decoders take lines the caller has loaded: the callers load them
 * their own way (vnni_q6_K.c and vnni_q23_K.c from a base that
 * kq_group_base hides from GCC) and in their own order. AVX-512 F/BW only, so the header can be
 * included from src/vnni (avx512_args) and src/tiles (amx_args, or
 * avx512_args in the emulator build).
 *
 * Next to each decoder, KQ_*_OPS: the vector ALU ops it issues (its
 * constants are hoisted out of the callers' loops and not counted), which
 * amx_kquants.c counts for its instruction-mix model (AMX_COUNT).
 */
#ifndef AMXQ_VNNI_KQ_DECODE_H
#define AMXQ_VNNI_KQ_DECODE_H

#if !defined(__AVX512F__) || !defined(__AVX512BW__)
#error "kq_decode.h needs the AVX-512 flags (avx512_args or amx_args)"
#endif

#include <immintrin.h>
#include <stdint.h>

#include "../formats.h"
#include "../repack/repack_kquants.h"

#define KQ_INLINE static inline __attribute__((always_inline))

/* ---- 4-bit payloads (Q4_K, Q5_K, Q6_K's ql lines, IQ4_XS's indices) ------ */

/* The low (hi = 0) or high (hi = 1) nibble of every byte, as 0..15. (The
 * VNNI Q4_K kernel takes its high nibbles in place, AND 0xF0, as 16 q: see
 * vnni_q4_K.c.) */
KQ_INLINE __m512i kq_nibbles(__m512i line, const int hi) {
    if (hi) line = _mm512_srli_epi16(line, 4);
    return _mm512_and_si512(line, _mm512_set1_epi8(0x0F));
}
#define KQ_NIBBLES_OPS(hi) (1 + !!(hi))

/* ---- Q5_K: the 5th bit -------------------------------------------------- */

/* v (sub-block s's nibbles, kq_nibbles) with the 5th bit of sub-block s
 * (0..7) merged in as bit 4: qh line L holds it as bit s of each byte, for
 * the K values of qs line L of that sub-block. The shift is by 0 for s = 4:
 * no instruction where s is a constant (the unrolled VNNI loop), one where
 * it is not (the AMX unpack's loop), so it is counted. */
KQ_INLINE __m512i kq_q5_merge(__m512i v, __m512i qh, const int s) {
    qh = s < 4 ? _mm512_slli_epi16(qh, 4 - s) : _mm512_srli_epi16(qh, s - 4);
    return _mm512_or_si512(v, _mm512_and_si512(qh, _mm512_set1_epi8(0x10)));
}
#define KQ_Q5_MERGE_OPS 3

/* ---- Q6_K: the 6-bit value ---------------------------------------------- */

/* VNNI row j (0..3) of 16-element group g (0..7) of half h (0, 1) reads ql
 * line 4(g & 3) + j (its high nibbles for g >= 4) and qh line 4(g & 1) + j,
 * field g >> 1 of each qh byte (ggml's element order, see vnni_q6_K.c).
 * Byte offsets in the panel superblock: */
#define KQ_Q6_QL(h, g, j) Q6K_QL_LINE(h, 4 * ((g) & 3) + (j))
#define KQ_Q6_QH(h, g, j) Q6K_QH_LINE(h, 4 * ((g) & 1) + (j))

/* v (the group's nibbles of its ql line, kq_nibbles(ql, g >= 4)) with the
 * 2 high bits of group g from its qh line (field g >> 1 of each byte) merged
 * in as bits 4-5: q + 32 (0..63) of the 64 weights. */
KQ_INLINE __m512i kq_q6_merge(__m512i v, __m512i qh, const int g) {
    switch (g >> 1) {
    case 0: qh = _mm512_slli_epi16(qh, 4); break;
    case 1: qh = _mm512_slli_epi16(qh, 2); break;
    case 3: qh = _mm512_srli_epi16(qh, 2); break;
    default: break;
    }
    return _mm512_or_si512(v, _mm512_and_si512(qh, _mm512_set1_epi8(0x30)));
}
#define KQ_Q6_MERGE_OPS(g) (2 + ((g) >> 1 != 2))

/* ---- Q2_K / Q3_K: 2-bit fields (repack_q23_K.h) ------------------------- */

/* Field j (0..3: bits 2j, 2j+1 of every byte) of a qs line as 0..3. */
KQ_INLINE __m512i kq_q2_field(__m512i line, const int j) {
    if (j) line = _mm512_srli_epi16(line, 2 * j);
    return _mm512_and_si512(line, _mm512_set1_epi8(3));
}
#define KQ_Q2_FIELD_OPS(j) (1 + !!(j))

/* Field j left in place: 4^j q (0..192), one AND (the VNNI Q2_K kernel
 * scales the group sums by 4^(3 - j) instead, see vnni_q23_K.c). */
KQ_INLINE __m512i kq_q2_field_inplace(__m512i line, const int j) {
    return _mm512_and_si512(line, _mm512_set1_epi8((char)(3 << (2 * j))));
}

/* Q2_K's scale bytes of groups 2pp and 2pp + 1 (the 32 bytes of pair pp in a
 * q2_Kp16 superblock): dword n holds column n's two bytes as 16-bit words,
 * so AND 0xF / shift by 16 give the scales, and a 16-bit shift by 4 the
 * (mn, mn) pair for vpdpwssd. */
KQ_INLINE __m512i kq_q2_scale_words(const uint8_t *sc32) {
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)sc32));
}

/* Unsigned weight bytes times a per-column factor, for products below 256
 * (the AMX Q2_K unpack folds sc into q: sc * q <= 45): the factor's dword v
 * (0..127) spread for vpmaddubsw over the even (se) and odd (so) bytes of
 * each column. */
typedef struct {
    __m512i se, so;
} kq_col_factor;

KQ_INLINE kq_col_factor kq_col_factor_of(__m512i v) {
    kq_col_factor f;
    f.se = _mm512_or_si512(v, _mm512_slli_epi32(v, 16));
    f.so = _mm512_slli_epi32(f.se, 8);
    return f;
}
#define KQ_COL_FACTOR_OPS 3

KQ_INLINE __m512i kq_col_factor_mul(__m512i u, const kq_col_factor *f) {
    const __m512i pe = _mm512_maddubs_epi16(u, f->se), po = _mm512_maddubs_epi16(u, f->so);
    return _mm512_mask_blend_epi8((__mmask64)0xAAAAAAAAAAAAAAAAull, pe, _mm512_slli_epi16(po, 8));
}
#define KQ_COL_FACTOR_MUL_OPS 4

/* Q3_K: 8 (q + 4) = 8 (low + 4 hbit), 0..56, from field j of a qs line and
 * bit b (= 4h + j) of its hm line: the low bits moved to bits 3-4, the high
 * bit to bit 5. Its bias, 32, is Q6_K's, so both read the same activation
 * sums (act_q8_K.h). */
KQ_INLINE __m512i kq_q3_value8(__m512i qs, __m512i hm, const int j, const int b) {
    const int sl = 3 - 2 * j, sh = 5 - b;
    qs = sl > 0 ? _mm512_slli_epi16(qs, sl) : _mm512_srli_epi16(qs, -sl);
    if (sh > 0) hm = _mm512_slli_epi16(hm, sh);
    if (sh < 0) hm = _mm512_srli_epi16(hm, -sh);
    return _mm512_or_si512(_mm512_and_si512(qs, _mm512_set1_epi8(0x18)), _mm512_and_si512(hm, _mm512_set1_epi8(0x20)));
}
#define KQ_Q3_VALUE8_OPS(b) (5 - ((b) == 5))

/* Q3_K's 16 x 16 6-bit scales minus 32 as int8, group g of column n at byte
 * 16g + n of out[4] (4 zmm: groups 0-3, 4-7, 8-11, 12-15), from the 192
 * scale bytes of a q3_Kp16 superblock. */
KQ_INLINE void kq_q3_scales(const uint8_t *sc, __m512i out[4]) {
    const __m512i lo0 = _mm512_loadu_si512(sc), lo1 = _mm512_loadu_si512(sc + 64);
    const __m512i hb = _mm512_loadu_si512(sc + 128), m4 = _mm512_set1_epi8(0x0F);
    const __m512i m30 = _mm512_set1_epi8(0x30), b32 = _mm512_set1_epi8(32);
    out[0] = _mm512_or_si512(_mm512_and_si512(lo0, m4), _mm512_and_si512(_mm512_slli_epi16(hb, 4), m30));
    out[1] = _mm512_or_si512(_mm512_and_si512(lo1, m4), _mm512_and_si512(_mm512_slli_epi16(hb, 2), m30));
    out[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(lo0, 4), m4), _mm512_and_si512(hb, m30));
    out[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(lo1, 4), m4),
                             _mm512_and_si512(_mm512_srli_epi16(hb, 2), m30));
    for (int i = 0; i < 4; i++) out[i] = _mm512_sub_epi8(out[i], b32);
}
#define KQ_Q3_SCALES_OPS 21

/* ---- IQ4_XS: the value table -------------------------------------------- */

/* kvalues_iq4nl + 128 (1..241, unsigned for vpdpbusd) in each 128-bit lane:
 * the vpshufb table of kq_iq4_values. */
KQ_INLINE __m512i kq_iq4_table(void) {
    uint8_t tb[64];
    for (int i = 0; i < 64; i++) tb[i] = (uint8_t)(amxq_kvalues_iq4nl[i % 16] + 128);
    return _mm512_loadu_si512(tb);
}

/* The values + 128 that the low (hi = 0) or high (hi = 1) nibbles of a qs
 * line index. */
KQ_INLINE __m512i kq_iq4_values(__m512i table, __m512i line, const int hi) {
    return _mm512_shuffle_epi8(table, kq_nibbles(line, hi));
}
#define KQ_IQ4_VALUES_OPS(hi) (KQ_NIBBLES_OPS(hi) + 1)

#endif
