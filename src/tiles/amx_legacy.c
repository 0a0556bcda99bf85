/*
 * AMX tile kernels for the legacy 32-element types Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0 and IQ4_NL (dispatch rows amx_q4_0, amx_q4_1, amx_q5_0, amx_q5_1,
 * amx_q8_0, amx_iq4_nl).
 *
 * Reads: the p16 panels of repack_legacy.h (the VNNI sibling's layout) and
 * the Q8_0 / Q8_1 activation workspace of act_q8.h, whose quant rows are
 * 64-byte aligned with a 64-byte multiple stride, so A tiles load straight
 * from it (16 rows x 32 bytes, one block).
 *
 * Unpack, once per panel and row block (amx_common.h): each block becomes one
 * tile-ready record of 576 bytes (Q4_1, Q5_1: 640): the 8 x 64-byte B tile of
 * signed weights in VNNI order (row v = K 4v..4v+3 of the 16 columns; Q4_0
 * q - 8, Q4_1 q, Q8_0 the stored byte XOR 0x80, IQ4_NL the table value of
 * the index, Q5_1 q and Q5_0 q - 16: the VNNI kernels' decoded bytes, Q5_0's
 * XOR 0x80), then d (and Q4_1's or Q5_1's m) of the
 * 16 columns as fp32. Signed weights let TDPBSSD give the block's exact
 * integer sum(w * a) directly: Q8_0 could load its tiles from the panel as
 * they are (weight + 128) with TDPBSUD, but then every output row of every
 * block needs the -128 sum(a) correction in the epilogue (+1 op on 3), while
 * the XOR costs 8 ops per block and panel, shared by the 16-row blocks of a
 * work item's row block.
 *
 * Per block the scales (fp16 per 32 weights, per 32 activations) force the
 * sums out of the tiles, so a TDP is 16 x 16 x 32 (8,192 MACs, half a full
 * tile op: the same as ggml's kernels, tech_brief 1.2). The 16 x 16 output
 * tile keeps its fp32 sums in 16 zmm registers over all blocks, and per
 * block runs, as the VNNI kernels do,
 *     t = float(C) * d_w;  y_acc = fma(t, d_a, y_acc)      [+ fma(m_w, s_a, y_acc) for Q4_1, Q5_1]
 * so the tile path is bitwise identical to the VNNI path (the same integer,
 * the same float operations in the same order) and no result depends on the
 * AMX threshold, the tile position or the thread.
 * Two C tiles (and two A and B tiles) alternate: block b+1's TILEZERO, two
 * loads and TDP are issued before block b's TILESTORED and epilogue, so the
 * TMUL works while the vector units scale. Per block and 16 x 16 tile: 1 TDP,
 * 2 tile loads, 1 store, 1 TILEZERO (per 1,000 MACs: 0.122, 0.244, 0.122,
 * 0.122) and 3 vector ALU ops per output row (Q4_1: 4): 48 (64) ALU and 33
 * (50) memory ops per tile and block, as amxq-amx-mix counts them at
 * M = 512, N = K = 4096, where the unpack adds 0.6-1.8 ALU ops. ggml's
 * 2-2-4 scheme (tech_brief 1.5) issues the same TDPs with half the tile
 * loads but keeps its sums in memory: a load and a store of the output row
 * per block on top (~64 memory ops), and B unpacked again for every 32 rows.
 * At 2 vector ALU ops per cycle the 48 take ~24 cycles against 8-16 for
 * the TDP (16 per full 16 x 16 x 64 one; whether K = 32 halves it is not
 * published, tech_brief 1.8b): legacy types are bound by the epilogue,
 * which is why it is kept at the minimum the format allows (convert, scale,
 * accumulate).
 *
 * Why 16 x 16 and not 32 x 32: the fp32 sums of a 16 x 16 tile fill 16 of
 * the 32 zmm registers; 32 rows would spill them to memory every block (2
 * memory ops more per row), which costs more than the second A/B tile load
 * a 2 x 2 block would save.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__F16C__)
#error "amx_legacy.c needs the AVX-512 flags (amx_args, or avx512_args in the emulator build)"
#endif

#include "../formats.h"
#include "../repack/repack_legacy.h"
#include "../vnni/act_q8.h"
#include "../vnni/kq_decode.h"
#include "../vnni/legacy_q5_decode.h"
#include "../vnni/vnni_legacy.h"
#include "amx_common.h"

/* tile numbers: two sets (C, A, B) used for even and odd blocks */
#define TC0 0
#define TC1 1
#define TA0 2
#define TA1 3
#define TB0 4
#define TB1 5

#define REC_B 0    /* B tile: 8 rows x 64 bytes */
#define REC_D 512  /* d of the 16 columns, fp32 */
#define REC_M 576  /* Q4_1, Q5_1: m of the 16 columns, fp32 */
_Static_assert(REC_M + 64 <= AMX_FALLBACK_BYTES, "the driver's fallback buffer must hold one legacy record");

/* the types whose blocks carry a min (m * s in the epilogue) */
#define HAS_MIN(t) ((t) == AMX_TYPE_Q4_1 || (t) == AMX_TYPE_Q5_1)

/* Q4_1 and Q5_1 records carry m after d */
static size_t rec_bytes(amx_type t) { return HAS_MIN(t) ? 640 : 576; }

typedef struct {
    const amx_weights *w;
    legacy_geom g;
    size_t rec;
    const int8_t *qs; /* activation quants, row stride qs_stride */
    const float *d;   /* activation d, row stride kb_stride */
    const float *s;   /* Q8_1's s (Q4_1) */
    int64_t qs_stride, kb_stride;
} legacy_ctx;

static void legacy_config(amxq_tilecfg *c, int rows) {
    amxq_tilecfg_init(c);
    amxq_tilecfg_dp(c, TC0, TA0, TB0, rows, 16, 32);
    amxq_tilecfg_dp(c, TC1, TA1, TB1, rows, 16, 32);
}

/* ---- unpack ---------------------------------------------------------------- */

AMX_INLINE void unpack_blocks(const amx_type T, const legacy_ctx *c, int64_t p, int64_t u0, int64_t u1,
                              uint8_t *dst) {
    const uint8_t *panel = c->w->data + (size_t)p * c->g.panel;
    const __m512i m4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8), flip = _mm512_set1_epi8((char)0x80);
    const __m512i iq4 = T == AMX_TYPE_IQ4_NL ? kq_iq4_table() : _mm512_setzero_si512();
    for (int64_t b = u0; b < u1; b++) {
        uint8_t *rec = dst + (size_t)(b - u0) * c->rec;
        const uint8_t *q = panel + legacy_qs_off(&c->g, b), *sc = panel + legacy_sc_off(&c->g, b);
        if (T == AMX_TYPE_Q8_0) {
            for (int v = 0; v < 8; v++)
                _mm512_store_si512(rec + REC_B + 64 * v, _mm512_xor_si512(_mm512_loadu_si512(q + 64 * v), flip));
            AMX_COUNT(unpack_alu, 8);
            AMX_COUNT(unpack_mem, 16);
        } else if (T == AMX_TYPE_Q5_0 || T == AMX_TYPE_Q5_1) {
            /* VNNI row v = 2L + h (nibble line L, low or high) is B row 4h + L */
#pragma GCC unroll 8
            for (int v = 0; v < 8; v++) {
                const __m512i line = _mm512_loadu_si512(q + LEGACY_Q5_NIBBLES + 64 * (v / 2));
                __m512i u = q5_row(T, line, q, v);
                if (T == AMX_TYPE_Q5_0) u = _mm512_xor_si512(u, flip); /* q - 16 + 128 -> q - 16 */
                _mm512_store_si512(rec + REC_B + 64 * (4 * (v % 2) + v / 2), u);
            }
            AMX_COUNT(unpack_alu, 4 * (Q5_ROW_OPS_LO + Q5_ROW_OPS_HI) + (T == AMX_TYPE_Q5_0 ? 8 : 0));
            AMX_COUNT(unpack_mem, 24); /* 8 line loads (each line twice), 8 mask loads, 8 stores */
        } else {
            /* line L: low nibbles are K 4L.. (B row L), high nibbles K 16+4L.. (row 4+L) */
            for (int l = 0; l < 4; l++) {
                const __m512i line = _mm512_loadu_si512(q + 64 * l);
                __m512i lo = _mm512_and_si512(line, m4), hi = _mm512_and_si512(_mm512_srli_epi16(line, 4), m4);
                if (T == AMX_TYPE_Q4_0) {
                    lo = _mm512_sub_epi8(lo, eight);
                    hi = _mm512_sub_epi8(hi, eight);
                }
                if (T == AMX_TYPE_IQ4_NL) { /* the table value itself, signed */
                    lo = _mm512_xor_si512(_mm512_shuffle_epi8(iq4, lo), flip);
                    hi = _mm512_xor_si512(_mm512_shuffle_epi8(iq4, hi), flip);
                }
                _mm512_store_si512(rec + REC_B + 64 * l, lo);
                _mm512_store_si512(rec + REC_B + 64 * (4 + l), hi);
            }
            /* per line: 3 to split the nibbles, Q4_0 2 subtractions, IQ4_NL 2 lookups + 2 XOR */
            AMX_COUNT(unpack_alu, T == AMX_TYPE_Q4_1 ? 12 : T == AMX_TYPE_IQ4_NL ? 28 : 20);
            AMX_COUNT(unpack_mem, 12);
        }
        _mm512_store_ps(rec + REC_D, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc)));
        if (HAS_MIN(T))
            _mm512_store_ps(rec + REC_M, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 32))));
        AMX_COUNT(unpack_alu, HAS_MIN(T) ? 2 : 1);
        AMX_COUNT(unpack_mem, HAS_MIN(T) ? 4 : 2);
    }
}

/* ---- the tile kernel ------------------------------------------------------- */

/* Block b's C tile is in cb: fold it into the fp32 sums of the rows. */
AMX_INLINE void epilogue(const amx_type T, const legacy_ctx *c, const uint8_t *rec, const int32_t *cb, int64_t b,
                         const float *ad, const float *as, const int rows, __m512 *acc) {
    const __m512 dw = _mm512_load_ps(rec + REC_D);
    const __m512 mw = HAS_MIN(T) ? _mm512_load_ps(rec + REC_M) : dw;
    for (int r = 0; r < rows; r++) {
        const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * r)), dw);
        acc[r] = _mm512_fmadd_ps(t, _mm512_set1_ps(ad[r * c->kb_stride + b]), acc[r]);
        if (HAS_MIN(T)) acc[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(as[r * c->kb_stride + b]), acc[r]);
    }
    AMX_COUNT(tile_blocks, 1);
    AMX_COUNT(epi_alu, (HAS_MIN(T) ? 4 : 3) * rows);
    AMX_COUNT(epi_mem, HAS_MIN(T) ? 2 + 3 * rows : 1 + 2 * rows);
}

/* Zero C, load block b's A and B tiles, C += A x B. */
#define ISSUE(TC, TA, TB, b)                                                                        \
    do {                                                                                            \
        amxq_tile_zero(TC);                                                                         \
        amxq_tile_loadd(TA, aq + 32 * (b), c->qs_stride);                                           \
        amxq_tile_loadd(TB, ub + (size_t)((b) - u0) * c->rec + REC_B, 64);                          \
        amxq_tile_dpbssd(TC, TA, TB);                                                               \
    } while (0)

AMX_INLINE void run_rows(const amx_type T, const legacy_ctx *c, const uint8_t *ub, int64_t u0, int64_t u1,
                         int64_t row, const int rows, float *accm) {
    const int8_t *aq = c->qs + row * c->qs_stride;
    const float *ad = c->d + row * c->kb_stride, *as = HAS_MIN(T) ? c->s + row * c->kb_stride : NULL;
    _Alignas(64) int32_t cb0[16 * 16], cb1[16 * 16];
    __m512 acc[16];
    for (int r = 0; r < rows; r++) acc[r] = _mm512_load_ps(accm + 16 * r);
    ISSUE(TC0, TA0, TB0, u0);
    for (int64_t b = u0; b < u1; b += 2) {
        if (b + 1 < u1) ISSUE(TC1, TA1, TB1, b + 1);
        amxq_tile_stored(TC0, cb0, 64);
        epilogue(T, c, ub + (size_t)(b - u0) * c->rec, cb0, b, ad, as, rows, acc);
        if (b + 1 < u1) {
            if (b + 2 < u1) ISSUE(TC0, TA0, TB0, b + 2);
            amxq_tile_stored(TC1, cb1, 64);
            epilogue(T, c, ub + (size_t)(b + 1 - u0) * c->rec, cb1, b + 1, ad, as, rows, acc);
        }
    }
    for (int r = 0; r < rows; r++) _mm512_store_ps(accm + 16 * r, acc[r]);
}

/* Full 16-row blocks get a constant row count (the sums stay in registers). */
#define LEGACY_FUNCS(T, tn)                                                                         \
    static void unpack_##tn(const void *c, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {       \
        unpack_blocks(AMX_TYPE_##T, c, p, u0, u1, dst);                                             \
    }                                                                                               \
    static void run_##tn(const void *c, const uint8_t *ub, int64_t u0, int64_t u1, int64_t row,     \
                         int rows, float *acc) {                                                    \
        if (rows == 16) run_rows(AMX_TYPE_##T, c, ub, u0, u1, row, 16, acc);                        \
        else run_rows(AMX_TYPE_##T, c, ub, u0, u1, row, rows, acc);                                 \
    }
LEGACY_FUNCS(Q4_0, q4_0)
LEGACY_FUNCS(Q4_1, q4_1)
LEGACY_FUNCS(Q5_0, q5_0)
LEGACY_FUNCS(Q5_1, q5_1)
LEGACY_FUNCS(Q8_0, q8_0)
LEGACY_FUNCS(IQ4_NL, iq4_nl)

/* ---- the dispatch-table entry points --------------------------------------- */

struct amx_legacy_kind {
    const vnni_legacy_kind *vnni; /* the sibling for m below the threshold */
    void (*unpack)(const void *ctx, int64_t p, int64_t u0, int64_t u1, uint8_t *dst);
    void (*run)(const void *ctx, const uint8_t *ub, int64_t u0, int64_t u1, int64_t row, int rows, float *acc);
    const char *name;
};
#define AMX_LEGACY_KIND(tn)                                                                         \
    const amx_legacy_kind amxq_amx_legacy_##tn = {&amxq_vnni_legacy_##tn, unpack_##tn, run_##tn,               \
                                             "amx_gemm_" #tn "_16x16"};
AMX_LEGACY_KIND(q4_0)
AMX_LEGACY_KIND(q4_1)
AMX_LEGACY_KIND(q5_0)
AMX_LEGACY_KIND(q5_1)
AMX_LEGACY_KIND(q8_0)
AMX_LEGACY_KIND(iq4_nl)

static amx_kernel legacy_kernel(const amx_weights *w, const amx_legacy_kind *kind) {
    return (amx_kernel){.m_block = 16, .units = w->kb, .unit_bytes = rec_bytes(w->type), .a_unit_bytes = 32,
                        .config = legacy_config, .unpack = kind->unpack, .run = kind->run};
}

static void legacy_tile_compute(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws, float *y,
                                int64_t ldy, int64_t item0, int64_t item1) {
    const amx_legacy_kind *kind = p->impl;
    const act_q8_layout l = act_q8_layout_for(m, w->k);
    const uint8_t *base = ws;
    const legacy_ctx c = {
        .w = w,
        .g = legacy_geometry(w->type, w->kb),
        .rec = rec_bytes(w->type),
        .qs = (const int8_t *)base,
        .d = (const float *)(base + l.d_off),
        .s = (const float *)(base + l.aux_off),
        .qs_stride = l.qs_stride,
        .kb_stride = l.kb_stride,
    };
    const amx_kernel k = legacy_kernel(w, kind);
    amxq_tile_drive(&k, p, &c, w, m, y, ldy, item0, item1);
}

void amxq_amx_legacy_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out) {
    const amx_legacy_kind *kind = w->impl;
    if (amx_use_tiles(w, m, opts)) {
        const amx_kernel k = legacy_kernel(w, kind);
        amxq_tile_plan(w, m, opts, &k, kind->name, legacy_tile_compute, kind, out);
    } else {
        amxq_vnni_legacy_plan(w, kind->vnni, m, opts, out);
    }
}
