/*
 * AMX tile kernels for the 256-element types Q2_K, Q3_K, Q4_K, Q5_K, Q6_K
 * and IQ4_XS (dispatch rows amx_q2_K ... amx_iq4_xs), with the exact
 * "two-plane" sub-scale scheme (tech_brief 6.4).
 *
 * Q2_K and Q3_K (the VNNI side: vnni_q23_K.c). Q2_K's p = sc * q is at most
 * 45, so it needs one plane only: its TDPs do 16,384 useful MACs, the hi
 * tiles are neither loaded nor multiplied, and T = C_lo. To keep the float
 * operations the VNNI kernel's, the epilogue scales T by 64 (the VNNI sum
 * carries that factor) and the unit holds d / 64; its mins are 8 vpdpwssd of
 * (mn, mn) pairs against the per-16 activation sums. Q3_K unpacks 8 (q + 4)
 * with bias 32 as Q6_K does (|p| <= 32 * 32), two planes, and the unit's d is
 * d / 8, so T = 8 sum (sc - 32) sum(q a) as in the VNNI kernel.
 *
 * Reads: the p16 panel superblocks of repack_kquants.h (the VNNI sibling's
 * layout) and the Q8_K workspace of act_q8_K.h: quant rows of k bytes (a
 * multiple of 256, 64-byte aligned), so A tiles (16 rows x 64 bytes) load
 * straight from it; d per (row, superblock); the Q4_K/Q5_K record's per-32
 * sums for the mins.
 *
 * Unpack, once per panel and row block (amx_common.h): every weight is multiplied
 * by its sub-block scale, p = sc * q (Q4_K 0..945, Q5_K 0..1953; Q6_K
 * sc * (q - 32) and IQ4_XS (ls - 32) * value, |p| <= 4096), and split
 * p = 128 * hi + lo with lo in 0..127 and hi in -32..32: two int8 planes in
 * B-tile order (16 lines of 64 bytes per 64-K step). Per superblock the unit
 * is 8 KiB of planes, then d (and dmin, and the min pairs widened to int16
 * for vpdpwssd) of the 16 columns: 8,576 bytes (Q6_K, IQ4_XS 8,256). A
 * 64-byte plane pair costs 10 (Q4_K) to 16 (Q6_K) vector ops (the nibbles or
 * 6-bit values, vpmaddubsw by the column scale, even and odd bytes, two
 * blends for lo and hi), shared by the 32-row blocks of a work item's row
 * block (up to 8): 28-70 ALU ops per 16 x 16 tile and superblock at
 * M >= 256 (amxq-amx-mix counts them).
 *
 * Tiles: 2 A (rows 0-15, 16-31) + 2 B (lo, hi) + 4 C (each A x each plane):
 * a 32 x 16 output block. Per 64-K step: 4 tile loads, 4 full TDPBSSD
 * (16 x 16 x 64); the C tiles sum a whole superblock (4 steps), then
 *     T = 128 * C_hi + C_lo = sum over the sub-blocks of sc * sum(q * a)
 * exactly (ggml's integer: |T| <= 256 * 4096 * 127 < 2^31, and each
 * plane's sum is smaller), and the fp32 update per superblock is the VNNI
 * kernels' one, operation for operation:
 *     Q4_K, Q5_K:   mins = 4 vpdpwssd(min pairs, per-32 activation sums)
 *                   acc += (float(T) * d - float(mins) * dmin) * d_a
 *     Q6_K, IQ4_XS: acc += (float(T) * d) * d_a
 * so, as for the legacy types, the tile path is bitwise identical to the
 * VNNI path and the AMX threshold never changes a result.
 * Per 1,000 useful MACs (a TDP does 16,384 MACs of which 8,192 are useful: the two
 * planes double the work, the price of exact sub-scales in the tiles):
 * 0.122 TDP, 0.122 tile loads, 0.031 stores, 0.031 TILEZERO. Per superblock
 * and 16 x 16 tile the epilogue is 176 vector ALU ops (16 rows x: 2 to
 * combine the planes, 4 vpdpwssd and 5 float ops) for Q4_K and Q5_K, 80 for
 * Q6_K and IQ4_XS, i.e. 2.75 (1.25) per 64-K step and output row. ggml's
 * scheme (tech_brief 1.5) instead stores C after every 32-K sub-block (16
 * for Q6_K, whose TDPs then do 4,096 useful MACs) and multiplies it by the
 * scale in the vector unit: 8 (16) stores and vpmulld passes per superblock
 * and tile against our 2, ~300-560 ALU ops, with A copied and B unpacked
 * again for every 32-row block. Per 32 x 16 block and superblock both
 * schemes issue 16 TDPs: ~256 TMUL cycles at 16 per TDP (if ggml's K = 32
 * TDPs cost half, its TMUL time halves, but its stores and epilogue, 2-4x
 * ours, then bound it), against ~180 cycles of our epilogue at 2 vector
 * ops per cycle: these kernels are TMUL-bound if the epilogue overlaps the
 * tile work (below).
 *
 * The 4 C tiles are all in use, so there is no second set to alternate:
 * instead the next superblock's TILEZERO, loads and TDPs are issued right
 * after this superblock's TILESTOREDs and before its epilogue (which reads
 * the stored copy), so the TMUL runs while the vector units scale. The fp32
 * sums of 32 rows do not fit in registers next to the rest; they stay in the
 * item's L1 buffer, one load and one store per row and superblock.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VNNI__) || !defined(__F16C__)
#error "amx_kquants.c needs the AVX-512 flags (amx_args, or avx512_args in the emulator build)"
#endif

#include "../formats.h"
#include "../repack/repack_kquants.h"
#include "../vnni/act_q8_K.h"
#include "../vnni/kq_decode.h"
#include "../vnni/vnni_kq.h"
#include "amx_common.h"

#define KC0L 0 /* rows 0-15 x lo plane */
#define KC0H 1 /* rows 0-15 x hi plane */
#define KC1L 2 /* rows 16-31 x lo plane */
#define KC1H 3 /* rows 16-31 x hi plane */
#define KA0 4
#define KA1 5
#define KBL 6
#define KBH 7

/* the unpacked unit of one superblock and panel */
#define U_STEP 2048 /* per 64-K step: lo plane 1 KiB, then hi plane 1 KiB */
#define U_D 8192    /* d of the 16 columns, fp32 */
#define U_DMIN 8256 /* Q4_K, Q5_K: dmin, fp32 */
#define U_MNP 8320  /* Q4_K, Q5_K: min pairs (2p, 2p+1) as int16, 4 x 64 bytes; Q2_K: 8 x 64 */
_Static_assert(U_MNP + 8 * 64 <= AMX_FALLBACK_BYTES, "the driver's fallback buffer must hold one Q2_K unit");

/* How a type's C tiles become its fp32 update (see the top of the file). */
enum {
    EPI_PLAIN = 0, /* Q3_K, Q6_K, IQ4_XS: two planes, acc += (T d) d_a */
    EPI_MINS = 1,  /* Q4_K, Q5_K: two planes, mins from 4 pairs of per-32 sums */
    EPI_Q2 = 2,    /* Q2_K: one plane, T scaled by 64, mins from 8 pairs of per-16 sums */
};

typedef struct {
    const amx_weights *w;
    int epi; /* EPI_* */
    size_t psb, unit;
    act_q8K_view a;
} kq_ctx;

static void kq_config(amxq_tilecfg *c, int rows) {
    const int r0 = rows > 16 ? 16 : rows, r1 = rows > 16 ? rows - 16 : 16;
    amxq_tilecfg_init(c);
    amxq_tilecfg_dp(c, KC0L, KA0, KBL, r0, 16, 64);
    amxq_tilecfg_dp(c, KC0H, KA0, KBH, r0, 16, 64);
    amxq_tilecfg_dp(c, KC1L, KA1, KBL, r1, 16, 64);
    amxq_tilecfg_dp(c, KC1H, KA1, KBH, r1, 16, 64);
}

/* ---- unpack ---------------------------------------------------------------- */

/* The scale of the 16 columns for vpmaddubsw: `se` holds it (as int8) in
 * bytes 0 and 2 of each column's dword, `so` in bytes 1 and 3; `bsc` is
 * bias * scale as int16 in both words (bias_shift = log2 bias, 0: none). */
typedef struct {
    __m512i se, so, bsc;
} col_scale;

AMX_INLINE col_scale col_scale_of(const uint8_t *sc16, const int bias_shift) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)sc16);
    const __m512i v = _mm512_cvtepu8_epi32(raw);
    col_scale cs;
    cs.se = _mm512_or_si512(v, _mm512_slli_epi32(v, 16));
    cs.so = _mm512_slli_epi32(cs.se, 8);
    cs.bsc = _mm512_setzero_si512();
    if (bias_shift) {
        const __m512i t = _mm512_slli_epi32(_mm512_cvtepi8_epi32(raw), bias_shift);
        cs.bsc = _mm512_or_si512(_mm512_and_si512(t, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(t, 16));
    }
    AMX_COUNT(unpack_alu, bias_shift ? 9 : 4);
    AMX_COUNT(unpack_mem, 1);
    return cs;
}

/* One line of 64 unsigned weight bytes (16 columns x 4 K, each value + bias)
 * -> its lo and hi plane lines: p = scale * (u - bias) in 16-bit lanes (even
 * and odd bytes apart; vpmaddubsw with a zero partner cannot saturate:
 * |u * scale| <= 255 * 128), then lo = p & 127 and hi = p >> 7 as bytes. */
AMX_INLINE void split_line(__m512i u, const col_scale *cs, const int bias, uint8_t *lo, uint8_t *hi) {
    const __mmask64 odd = 0xAAAAAAAAAAAAAAAAull;
    __m512i pe = _mm512_maddubs_epi16(u, cs->se), po = _mm512_maddubs_epi16(u, cs->so);
    if (bias) {
        pe = _mm512_sub_epi16(pe, cs->bsc);
        po = _mm512_sub_epi16(po, cs->bsc);
    }
    /* lo: byte 0 of each word from pe, byte 1 from po (po << 8) */
    const __m512i l = _mm512_and_si512(_mm512_mask_blend_epi8(odd, pe, _mm512_slli_epi16(po, 8)),
                                       _mm512_set1_epi8(0x7F));
    /* hi: p >> 7; for po, bits 7..14 land in byte 1 after a shift left by 1 */
    const __m512i h = _mm512_mask_blend_epi8(odd, _mm512_srai_epi16(pe, 7), _mm512_slli_epi16(po, 1));
    _mm512_store_si512(lo, l);
    _mm512_store_si512(hi, h);
    AMX_COUNT(unpack_alu, bias ? 10 : 8);
    AMX_COUNT(unpack_mem, 2);
}

/* K-line kl (0..63) of the superblock: where its two plane lines go. */
#define LO_LINE(unit, kl) ((unit) + U_STEP * ((kl) / 16) + 64 * ((kl) % 16))
#define HI_LINE(unit, kl) (LO_LINE(unit, kl) + 1024)

/* Q2_K: sc * q <= 45, the lo plane only. Pair pp = 4h + j holds the scale
 * bytes of groups 2pp, 2pp + 1 (field j of qs lines 8h..8h+3 and
 * 8h+4..8h+7); group g is K-lines 4g..4g+3. */
AMX_INLINE void unpack_q2(const uint8_t *P, uint8_t *unit) {
    for (int pp = 0; pp < 8; pp++) {
        const int h = pp / 4, j = pp % 4;
        const __m512i raw = kq_q2_scale_words(P + Q2K_OFF_SC + 32 * pp), m4 = _mm512_set1_epi32(0xF);
        const kq_col_factor f[2] = {kq_col_factor_of(_mm512_and_si512(raw, m4)),
                                    kq_col_factor_of(_mm512_and_si512(_mm512_srli_epi32(raw, 16), m4))};
        _mm512_store_si512(unit + U_MNP + 64 * pp, _mm512_srli_epi16(raw, 4));
        AMX_COUNT(unpack_alu, 4 + 2 * KQ_COL_FACTOR_OPS);
        AMX_COUNT(unpack_mem, 2);
        for (int i = 0; i < 2; i++) {
            const int g = 2 * pp + i;
            for (int l = 0; l < 4; l++) {
                const __m512i u = kq_q2_field(_mm512_loadu_si512(P + Q2K_OFF_QS + 64 * (8 * h + 4 * i + l)), j);
                _mm512_store_si512(LO_LINE(unit, 4 * g + l), kq_col_factor_mul(u, &f[i]));
                AMX_COUNT(unpack_alu, KQ_Q2_FIELD_OPS(j) + KQ_COL_FACTOR_MUL_OPS);
                AMX_COUNT(unpack_mem, 2);
            }
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P + Q2K_OFF_D)));
    _mm512_store_ps(unit + U_D, _mm512_mul_ps(d, _mm512_set1_ps(1.0f / 64.0f)));
    _mm512_store_ps(unit + U_DMIN, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P + Q2K_OFF_DMIN))));
    AMX_COUNT(unpack_alu, 3);
    AMX_COUNT(unpack_mem, 4);
}

/* Q3_K: 8 (q + 4) with bias 32, scales sc - 32 (kq_decode.h). */
AMX_INLINE void unpack_q3(const uint8_t *P, uint8_t *unit) {
    _Alignas(64) uint8_t sc8[256];
    __m512i s4[4];
    kq_q3_scales(P + Q3K_OFF_SC, s4);
    for (int i = 0; i < 4; i++) _mm512_store_si512(sc8 + 64 * i, s4[i]);
    AMX_COUNT(unpack_alu, KQ_Q3_SCALES_OPS);
    AMX_COUNT(unpack_mem, 7);
    for (int g = 0; g < 16; g++) {
        const int h = g / 8, j = (g % 8) / 2, i = g % 2;
        const col_scale cs = col_scale_of(sc8 + 16 * g, 5);
        for (int l = 0; l < 4; l++) {
            const __m512i qs = _mm512_loadu_si512(P + Q3K_OFF_QS + 64 * (8 * h + 4 * i + l));
            const __m512i hm = _mm512_loadu_si512(P + Q3K_OFF_HM + 64 * (4 * i + l));
            const __m512i u = kq_q3_value8(qs, hm, j, 4 * h + j);
            AMX_COUNT(unpack_alu, KQ_Q3_VALUE8_OPS(4 * h + j));
            AMX_COUNT(unpack_mem, 2);
            split_line(u, &cs, 1, LO_LINE(unit, 4 * g + l), HI_LINE(unit, 4 * g + l));
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P + Q3K_OFF_D)));
    _mm512_store_ps(unit + U_D, _mm512_mul_ps(d, _mm512_set1_ps(0.125f)));
    AMX_COUNT(unpack_alu, 2);
    AMX_COUNT(unpack_mem, 2);
}

/* The weight bytes of each line come from the layout's decoders
 * (kq_decode.h), the ones the VNNI kernels use. */
AMX_INLINE void unpack_q45(const uint8_t *P, uint8_t *unit, const int q5) {
    const size_t off_qs = q5 ? Q5K_OFF_QS : Q4K_OFF_QS;
    for (int cc = 0; cc < 4; cc++) {
        /* lines 8cc..8cc+7: low nibbles sub-block 2cc (K-lines 16cc + L), high 2cc+1 (16cc + 8 + L) */
        const col_scale s0 = col_scale_of(P + Q4K_OFF_SC + 16 * (2 * cc), 0);
        const col_scale s1 = col_scale_of(P + Q4K_OFF_SC + 16 * (2 * cc + 1), 0);
        for (int l = 0; l < 8; l++) {
            const __m512i line = _mm512_loadu_si512(P + off_qs + 64 * (8 * cc + l));
            __m512i u0 = kq_nibbles(line, 0), u1 = kq_nibbles(line, 1);
            AMX_COUNT(unpack_alu, KQ_NIBBLES_OPS(0) + KQ_NIBBLES_OPS(1));
            AMX_COUNT(unpack_mem, 1);
            if (q5) {
                /* qh line l: the 5th bits of sub-blocks 2cc and 2cc + 1 */
                const __m512i h = _mm512_loadu_si512(P + Q5K_OFF_QH + 64 * l);
                u0 = kq_q5_merge(u0, h, 2 * cc);
                u1 = kq_q5_merge(u1, h, 2 * cc + 1);
                AMX_COUNT(unpack_alu, 2 * KQ_Q5_MERGE_OPS);
                AMX_COUNT(unpack_mem, 1);
            }
            split_line(u0, &s0, 0, LO_LINE(unit, 16 * cc + l), HI_LINE(unit, 16 * cc + l));
            split_line(u1, &s1, 0, LO_LINE(unit, 16 * cc + 8 + l), HI_LINE(unit, 16 * cc + 8 + l));
        }
    }
    _mm512_store_ps(unit + U_D, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P + Q4K_OFF_D))));
    _mm512_store_ps(unit + U_DMIN, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P + Q4K_OFF_DMIN))));
    for (int pp = 0; pp < 4; pp++)
        _mm512_store_si512(unit + U_MNP + 64 * pp,
                           _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(P + Q4K_OFF_MN + 32 * pp))));
    AMX_COUNT(unpack_alu, 6);
    AMX_COUNT(unpack_mem, 12);
}

AMX_INLINE void unpack_q6(const uint8_t *P, uint8_t *unit) {
    /* 16-element group gg = 8h + g covers K-lines 4gg..4gg+3 (see vnni_q6_K.c) */
    for (int gg = 0; gg < 16; gg++) {
        const int h = gg / 8, g = gg % 8;
        const col_scale cs = col_scale_of(P + Q6K_OFF_SC + 16 * gg, 5);
        for (int j = 0; j < 4; j++) {
            __m512i v = kq_nibbles(_mm512_loadu_si512(P + KQ_Q6_QL(h, g, j)), g >= 4);
            v = kq_q6_merge(v, _mm512_loadu_si512(P + KQ_Q6_QH(h, g, j)), g);
            AMX_COUNT(unpack_alu, KQ_NIBBLES_OPS(g >= 4) + KQ_Q6_MERGE_OPS(g));
            AMX_COUNT(unpack_mem, 2);
            split_line(v, &cs, 1, LO_LINE(unit, 4 * gg + j), HI_LINE(unit, 4 * gg + j));
        }
    }
    _mm512_store_ps(unit + U_D, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P + Q6K_OFF_D))));
    AMX_COUNT(unpack_alu, 1);
    AMX_COUNT(unpack_mem, 2);
}

AMX_INLINE void unpack_iq4(const uint8_t *P, uint8_t *unit, const __m512i table) {
    for (int s = 0; s < 8; s++) {
        /* lines 4s+L: low nibbles K-lines 8s + L, high 8s + 4 + L; values + 128 from the table */
        const col_scale cs = col_scale_of(P + IQ4XS_OFF_LS + 16 * s, 7);
        for (int l = 0; l < 4; l++) {
            const __m512i line = _mm512_loadu_si512(P + IQ4XS_OFF_QS + 64 * (4 * s + l));
            const __m512i u0 = kq_iq4_values(table, line, 0), u1 = kq_iq4_values(table, line, 1);
            AMX_COUNT(unpack_alu, KQ_IQ4_VALUES_OPS(0) + KQ_IQ4_VALUES_OPS(1));
            AMX_COUNT(unpack_mem, 1);
            split_line(u0, &cs, 1, LO_LINE(unit, 8 * s + l), HI_LINE(unit, 8 * s + l));
            split_line(u1, &cs, 1, LO_LINE(unit, 8 * s + 4 + l), HI_LINE(unit, 8 * s + 4 + l));
        }
    }
    _mm512_store_ps(unit + U_D, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P + IQ4XS_OFF_D))));
    AMX_COUNT(unpack_alu, 1);
    AMX_COUNT(unpack_mem, 2);
}

static const uint8_t *unit_src(const kq_ctx *c, int64_t p, int64_t b) {
    return c->w->data + (size_t)(p * c->w->kb + b) * c->psb;
}
static void tile_unpack_q2_K(const void *cv, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {
    const kq_ctx *c = cv;
    for (int64_t b = u0; b < u1; b++) unpack_q2(unit_src(c, p, b), dst + (size_t)(b - u0) * c->unit);
}
static void tile_unpack_q3_K(const void *cv, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {
    const kq_ctx *c = cv;
    for (int64_t b = u0; b < u1; b++) unpack_q3(unit_src(c, p, b), dst + (size_t)(b - u0) * c->unit);
}
static void tile_unpack_q4_K(const void *cv, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {
    const kq_ctx *c = cv;
    for (int64_t b = u0; b < u1; b++) unpack_q45(unit_src(c, p, b), dst + (size_t)(b - u0) * c->unit, 0);
}
static void tile_unpack_q5_K(const void *cv, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {
    const kq_ctx *c = cv;
    for (int64_t b = u0; b < u1; b++) unpack_q45(unit_src(c, p, b), dst + (size_t)(b - u0) * c->unit, 1);
}
static void tile_unpack_q6_K(const void *cv, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {
    const kq_ctx *c = cv;
    for (int64_t b = u0; b < u1; b++) unpack_q6(unit_src(c, p, b), dst + (size_t)(b - u0) * c->unit);
}
static void tile_unpack_iq4_xs(const void *cv, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {
    const kq_ctx *c = cv;
    const __m512i table = kq_iq4_table();
    for (int64_t b = u0; b < u1; b++) unpack_iq4(unit_src(c, p, b), dst + (size_t)(b - u0) * c->unit, table);
}

/* ---- the tile kernel ------------------------------------------------------- */

/* Superblock sb for rows [row, row + 16) (and [row + 16, row + 32) if two):
 * zero the C tiles, then 4 steps of A, lo and hi loads and 2 (4) TDPs; with
 * one plane (Q2_K) the hi tiles stay out. */
AMX_INLINE void issue(const kq_ctx *c, const uint8_t *unit, const int8_t *a0, const int two, const int hi) {
    const int64_t k = c->a.k;
    amxq_tile_zero(KC0L);
    if (hi) amxq_tile_zero(KC0H);
    if (two) {
        amxq_tile_zero(KC1L);
        if (hi) amxq_tile_zero(KC1H);
    }
    for (int j = 0; j < 4; j++) {
        amxq_tile_loadd(KA0, a0 + 64 * j, k);
        if (two) amxq_tile_loadd(KA1, a0 + 16 * k + 64 * j, k);
        amxq_tile_loadd(KBL, unit + U_STEP * j, 64);
        if (hi) amxq_tile_loadd(KBH, unit + U_STEP * j + 1024, 64);
        amxq_tile_dpbssd(KC0L, KA0, KBL);
        if (hi) amxq_tile_dpbssd(KC0H, KA0, KBH);
        if (two) {
            amxq_tile_dpbssd(KC1L, KA1, KBL);
            if (hi) amxq_tile_dpbssd(KC1H, KA1, KBH);
        }
    }
}

/* cb holds superblock sb's C tiles (rows 0-15 lo, hi; rows 16-31 lo, hi):
 * fold them into the rows' fp32 sums. */
AMX_INLINE void epilogue(const kq_ctx *c, const uint8_t *unit, const int32_t *cb, int64_t sb, int64_t row, int rows,
                         float *acc, const int epi) {
    const int mins = epi != EPI_PLAIN, npairs = epi == EPI_Q2 ? 8 : 4, rec_off = epi == EPI_Q2 ? 16 : 0;
    const __m512 dw = _mm512_load_ps(unit + U_D);
    const __m512 dm = mins ? _mm512_load_ps(unit + U_DMIN) : dw;
    __m512i mnp[8];
    for (int pp = 0; pp < npairs; pp++)
        mnp[pp] = mins ? _mm512_load_si512(unit + U_MNP + 64 * pp) : _mm512_setzero_si512();
    for (int r = 0; r < rows; r++) {
        const int32_t *cl = cb + 512 * (r / 16) + 16 * (r % 16);
        const __m512i t = epi == EPI_Q2 ? _mm512_slli_epi32(_mm512_load_si512(cl), 6)
                                        : _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(cl + 256), 7),
                                                           _mm512_load_si512(cl));
        const float da = c->a.d[(row + r) * c->a.kb + sb];
        __m512 u;
        if (mins) {
            const uint8_t *rec = c->a.s + (size_t)((row + r) * c->a.kb + sb) * Q8K_SUMS_BYTES + rec_off;
            __m512i mi = _mm512_setzero_si512();
            for (int pp = 0; pp < npairs; pp++) {
                int32_t pair;
                memcpy(&pair, rec + 4 * pp, 4);
                mi = _mm512_dpwssd_epi32(mi, mnp[pp], _mm512_set1_epi32(pair));
            }
            u = _mm512_fmsub_ps(_mm512_cvtepi32_ps(t), dw, _mm512_mul_ps(_mm512_cvtepi32_ps(mi), dm));
        } else {
            u = _mm512_mul_ps(_mm512_cvtepi32_ps(t), dw);
        }
        _mm512_store_ps(acc + 16 * r, _mm512_fmadd_ps(u, _mm512_set1_ps(da), _mm512_load_ps(acc + 16 * r)));
    }
    AMX_COUNT(tile_blocks, rows > 16 ? 2 : 1);
    AMX_COUNT(epi_alu, (mins ? 7 + npairs : 5) * rows);
    AMX_COUNT(epi_mem, (mins ? 5 + npairs : 5) * rows + (mins ? 2 + npairs : 1));
}

AMX_INLINE void run_block(const kq_ctx *c, const uint8_t *ub, int64_t u0, int64_t u1, int64_t row, int rows,
                          float *acc, const int two, const int epi) {
    _Alignas(64) int32_t cb[4 * 256];
    const int8_t *a0 = c->a.q + row * c->a.k;
    const int hi = epi != EPI_Q2;
    issue(c, ub, a0 + QK_K * u0, two, hi);
    for (int64_t sb = u0; sb < u1; sb++) {
        amxq_tile_stored(KC0L, cb, 64);
        if (hi) amxq_tile_stored(KC0H, cb + 256, 64);
        if (two) {
            amxq_tile_stored(KC1L, cb + 512, 64);
            if (hi) amxq_tile_stored(KC1H, cb + 768, 64);
        }
        if (sb + 1 < u1) issue(c, ub + (size_t)(sb + 1 - u0) * c->unit, a0 + QK_K * (sb + 1), two, hi);
        epilogue(c, ub + (size_t)(sb - u0) * c->unit, cb, sb, row, rows, acc, epi);
    }
}

#define RUN_EPI(two)                                                                                \
    switch (c->epi) {                                                                               \
    case EPI_MINS: run_block(c, ub, u0, u1, row, rows, acc, two, EPI_MINS); break;                  \
    case EPI_Q2: run_block(c, ub, u0, u1, row, rows, acc, two, EPI_Q2); break;                      \
    default: run_block(c, ub, u0, u1, row, rows, acc, two, EPI_PLAIN); break;                       \
    }
static void tile_run(const void *cv, const uint8_t *ub, int64_t u0, int64_t u1, int64_t row, int rows, float *acc) {
    const kq_ctx *c = cv;
    if (rows > 16) {
        RUN_EPI(1)
    } else {
        RUN_EPI(0)
    }
}

/* ---- the dispatch-table entry points --------------------------------------- */

struct amx_kq_kind {
    const kq_family *vnni; /* the sibling for m below the threshold */
    void (*unpack)(const void *ctx, int64_t p, int64_t u0, int64_t u1, uint8_t *dst);
    int epi;               /* EPI_*: which epilogue, and what the unit holds after d */
    const char *name;
};
#define AMX_KQ_KIND(tn, epi)                                                                        \
    const amx_kq_kind amxq_amx_kq_##tn = {&amxq_vnni_kq_##tn, tile_unpack_##tn, epi, "amx_gemm_" #tn "_32x16"};
AMX_KQ_KIND(q2_K, EPI_Q2)
AMX_KQ_KIND(q3_K, EPI_PLAIN)
AMX_KQ_KIND(q4_K, EPI_MINS)
AMX_KQ_KIND(q5_K, EPI_MINS)
AMX_KQ_KIND(q6_K, EPI_PLAIN)
AMX_KQ_KIND(iq4_xs, EPI_PLAIN)

/* The tile kernel of a handle (the plan's and the compute's geometry). */
static amx_kernel kq_kernel(const amx_weights *w, const amx_kq_kind *kind) {
    /* planes and d, then dmin and the min pairs (4 for Q4_K / Q5_K, 8 for Q2_K) */
    const size_t unit = kind->epi == EPI_Q2 ? U_MNP + 8 * 64 : kind->epi == EPI_MINS ? U_MNP + 4 * 64 : U_DMIN;
    return (amx_kernel){.m_block = 32, .units = w->kb, .unit_bytes = unit, .a_unit_bytes = QK_K,
                        .config = kq_config, .unpack = kind->unpack, .run = tile_run};
}

static void kq_tile_compute(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws, float *y,
                            int64_t ldy, int64_t item0, int64_t item1) {
    const amx_kq_kind *kind = p->impl;
    const amx_kernel k = kq_kernel(w, kind);
    const kq_ctx c = {
        .w = w,
        .epi = kind->epi,
        .psb = amxq_kq_psb_bytes(w->type),
        .unit = k.unit_bytes,
        .a = amxq_act_q8K_layout((void *)ws, m, w->k),
    };
    amxq_tile_drive(&k, p, &c, w, m, y, ldy, item0, item1);
}

void amxq_amx_kq_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out) {
    const amx_kq_kind *kind = w->impl;
    if (amx_use_tiles(w, m, opts)) {
        const amx_kernel k = kq_kernel(w, kind);
        amxq_tile_plan(w, m, opts, &k, kind->name, kq_tile_compute, kind, out);
    } else {
        amxq_vnni_kq_plan(w, kind->vnni, m, opts, out);
    }
}
