/*
 * AVX-512 VNNI kernels for the legacy 32-element types Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0 and IQ4_NL (Q4_0's panels; each 4-bit index becomes its table
 * value + 128 by one vpshufb, then it runs as Q8_0 does). Q5_0 and Q5_1 are
 * Q4_0's nibble lines plus a line of fifth bits, set by one byte-masked add
 * per VNNI row (legacy_q5_decode.h); Q5_0 then runs as Q8_0 does (weights
 * + 128), Q5_1 as Q4_1 (unsigned weights, the min times Q8_1's s).
 *
 * Reads: the p16 panels of repack_legacy.h (one 64-byte line = one zmm of 16
 * columns x 4 K values; Q4 lines unpack to two VNNI rows by AND 0x0F and
 * shift + AND) and the activation workspace of act_q8.h.
 *
 * Per 32-block, per activation row and per 16 columns: the int32 accumulator
 * starts at -bias * sum(a) (a broadcast load: -8 sum for Q4_0, -128 sum for
 * Q8_0 stored as w + 128, IQ4_NL looked up as value + 128 and Q5_0 decoded
 * as q - 16 + 128, 0 for Q4_1 and Q5_1), takes 8 vpdpbusd (unsigned weights x
 * signed activations, exact), then leaves for float:
 *     t = float(acc) * d_w;  y_acc = fma(t, d_a, y_acc)      [+ fma(m_w, s_a, y_acc) for Q4_1, Q5_1]
 * That sequence is the same in every kernel below, whatever the row count,
 * the tile position or the thread, so results are bitwise independent of the
 * work split. No int32 accumulator spans more than one block, so nothing can
 * overflow for any K: |acc| <= 32 * 255 * 128 + 128 * 32 * 127 < 2^21.
 *
 * The float step costs 2 (Q4_1: 3) ops on the pipes vpdpbusd uses, per 8
 * vpdpbusd, so this scheme tops out at 8/10 (Q4_1 8/11) of the vpdpbusd peak;
 * the conversion and the unpacking run on other pipes. Measured on one Zen 4
 * core (vpdpbusd zmm 1 per cycle), a 4 x 32 tile with everything in L1 runs a
 * block in ~85 cycles against 80 for its 64 vpdpbusd + 16 float ops.
 *
 * Prefill (m > 4): tiles of MR <= 4 rows x 32 columns (two panels): 8 int32
 * + 8 float accumulators, one unpacked weight vector, the nibble mask: <= 18
 * zmm, and 8 independent vpdpbusd chains cover the 4-cycle latency at 2 per
 * cycle. Each weight line is loaded once per tile and used by MR rows; each
 * activation broadcast serves both panels. A work item is a pair of panels x
 * 64 rows; its weights (2 x 36 KiB for Q4_0 at K = 4096) stay in L2 while the
 * row quads pass over them, and items run rows fastest so a thread's next
 * item finds the same panels there. The first tile of an item prefetches the
 * next pair of panels into L2 as it goes (one prefetch per line, same
 * offset), so the next item does not start by waiting on L3 or DRAM: at
 * N = K = 4096 on one Zen 4 core this took M = 8 from 270 to 343 GOPS with
 * the weights in L3 and from 176 to 311 GOPS with them in DRAM, M = 32 from
 * 267 to 302. Unpacking nibbles costs nothing measurable: Q8_0 (no
 * unpacking, twice the bytes) runs at the same speed as Q4_0, so weights are
 * not converted to a byte buffer first.
 *
 * Q5_0 and Q5_1 prefill converts instead: their fifth bits cost a mask
 * load and a masked add per weight vector on top of Q4_0's nibble split, so
 * a work item with more than one row quad decodes its panels CONV_KC blocks
 * at a time into the VNNI rows (16 KiB, L1) and runs every row quad over
 * that chunk, the float sums passing through y between chunks (the same
 * bytes, integers and float operations as the direct tile, so the same
 * bits). Measured on one Zen 4 core (family 25 model 17, KVM guest),
 * amxq-bench M = 512, one thread, medians of 3-7 runs alternated with the
 * direct tiles, GOPS direct -> converted: 4096x4096 Q5_0 242 -> 241, Q5_1
 * 221 -> 229; 14336x4096 Q5_0 213 -> 236, Q5_1 227 -> 247; 4096x14336 Q5_0
 * 207 -> 211, Q5_1 203 -> 219 (two threads at 14336x4096: Q5_0 383 -> 466,
 * three runs). Q4_0, Q4_1 and IQ4_NL decode in 1-3 ops per vector (Q8_0
 * none) and stay direct; converting them was not measured.
 *
 * Decode (m <= 4): one tile of all m rows per panel (16 columns), so the
 * weights stream exactly once, front to back as one sequential run per
 * thread (a work item is one panel); the hardware prefetcher follows that
 * run, and the best runs reach the streaming-read bandwidth. Measured at
 * N = 14336, K = 4096 from DRAM on one core, best of 40-50 interleaved
 * rounds against the best read bandwidth: two panels per tile (two
 * interleaved runs) 0.78 where one panel gave 1.04, and software
 * prefetching one panel ahead 0.78 (into L2) or 0.67 (into L1) where none
 * gave 0.95 (that was a Zen 4; on an Intel Xeon, family 6 model 207, the
 * opposite: 0.59 without, 0.83-0.86 with the L2 prefetch, so whether m = 1
 * prefetches is a per-CPU choice, src/tuning.c). From m = 2 on the tile is slower per byte and the hardware
 * prefetchers alone no longer keep it fed: prefetching the next panel into
 * L2, as prefill does, took M = 2 / 3 / 4 Q4_0 from 17 / 13 / 11 GB/s to
 * 25 / 24 / 21 (Q4_1 alike; Q8_0, twice the bytes, M = 4 18 -> 22 and
 * M = 2, 3 unchanged within noise), medians of 3 interleaved runs of the
 * benchmark, N = 14336, K = 4096, one thread.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "vnni_legacy.c must be compiled with the AVX-512 flags (avx512_args in meson.build)"
#endif

#include "vnni_legacy.h"

#include <immintrin.h>
#include <string.h>

#include "../formats.h"
#include "../repack/repack_legacy.h"
#include "act_q8.h"
#include "kq_decode.h" /* the IQ4 value table, shared with IQ4_XS */
#include "legacy_q5_decode.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define MR_MAX 4      /* activation rows per tile */
#define NV_MAX 2      /* panels (16 columns each) per tile */
#define M_CHUNK 64    /* activation rows per prefill work item */
#define DECODE_PANELS 1 /* panels per decode tile */

typedef struct {
    const uint8_t *panel; /* first panel of the tile */
    size_t panel_bytes;
    int64_t kb;
    const int8_t *aq;     /* quants of the tile's first row */
    const float *ad;      /* d of the first row */
    const void *aux;      /* comp (int32) or s (float) of the first row */
    int64_t qs_stride, kb_stride;
    float *y;             /* output of the first row and column */
    int64_t ldy;
    int ncols;            /* valid columns, 1 .. 16 * NV */
    const uint8_t *next;  /* panels to prefetch into L2 along the way, or NULL */
    int next_nv;          /* how many */
    int64_t b0;           /* the panel block of the tile's first block (aq, ad, aux start there) */
    const uint8_t *cw;    /* converted tiles: the VNNI rows of blocks b0.. (CONV_BLOCK bytes each,
                             conv_panel bytes per panel) */
    size_t conv_panel;
    int first;            /* 0: the float sums continue from y (a later K chunk) */
} tile_args;

/* Converted prefill (Q5_0, Q5_1): a work item decodes each block of its
 * panels once, CONV_KC blocks at a time, into the 8 VNNI rows the direct
 * tile would build (conv_rows), and every row quad of the item runs over
 * that chunk; see the top of the file. */
#define CONV_BLOCK 512 /* 8 VNNI rows of 64 bytes */
#define CONV_KC 16     /* blocks per chunk: 2 panels x 16 x 512 B = 16 KiB, L1 */

ALWAYS_INLINE __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* One tile: MR rows x NV panels over blocks [b0, b0 + kb) (all of K but in
 * the converted path), the float sums from zero or (first = 0) from y. T is
 * the weight type; CONV reads the weights from a converted chunk. */
ALWAYS_INLINE void tile(const amx_type T, const int MR, const int NV, const int CONV, const tile_args *a) {
    const legacy_geom g = legacy_geometry(T, a->kb);
    const int has_min = T == AMX_TYPE_Q4_1 || T == AMX_TYPE_Q5_1; /* m * s instead of a compensation */
    const int q5 = T == AMX_TYPE_Q5_0 || T == AMX_TYPE_Q5_1;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i iq4 = T == AMX_TYPE_IQ4_NL ? kq_iq4_table() : _mm512_setzero_si512();
    __m512 facc[MR_MAX][NV_MAX];
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++) {
            const int left = a->ncols - 16 * c;
            const __mmask16 km = (__mmask16)(left >= 16 ? 0xFFFF : left > 0 ? (1u << left) - 1 : 0);
            facc[r][c] = a->first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(km, a->y + r * a->ldy + 16 * c);
        }

    for (int64_t b = 0; b < a->kb; b++) {
        const int64_t bb = a->b0 + b; /* the block in the panel */
        const uint8_t *wq = a->panel + legacy_qs_off(&g, bb);
        const int8_t *aq = a->aq + 32 * b;
        /* a group starts with its scale line */
        if (a->next && bb % g.group == 0)
            for (int c = 0; c < a->next_nv; c++)
                for (size_t l = 0; l < g.group_bytes; l += 64)
                    _mm_prefetch((const char *)a->next + c * a->panel_bytes + legacy_sc_off(&g, bb) + l, _MM_HINT_T1);
        /* scales first: the panel is then read in ascending order */
        __m512 dw[NV_MAX], mw[NV_MAX];
        for (int c = 0; c < NV; c++) {
            const uint8_t *sc = a->panel + c * a->panel_bytes + legacy_sc_off(&g, bb);
            dw[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
            if (has_min) mw[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 32)));
        }
        __m512i acc[MR_MAX][NV_MAX];
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NV; c++)
                acc[r][c] = has_min ? _mm512_setzero_si512()
                                               : _mm512_set1_epi32(((const int32_t *)a->aux)[r * a->kb_stride + b]);
        /* the block's 8 VNNI rows, v = 0..7, unrolled: v fixes each row's
         * line, nibble half, fifth-bit mask and activation offset (GCC stops
         * unrolling on its own once the Q5 decode makes the body longer, and
         * the rolled loop ran Q5_0 at half of Q4_0's speed) */
#pragma GCC unroll 8
        for (int v = 0; v < 8; v++) {
            for (int c = 0; c < NV; c++) {
                __m512i wv;
                if (CONV) {
                    wv = _mm512_load_si512(a->cw + c * a->conv_panel + CONV_BLOCK * b + 64 * v);
                } else if (T == AMX_TYPE_Q8_0) {
                    wv = _mm512_loadu_si512(wq + c * a->panel_bytes + 64 * v);
                } else if (q5) {
                    const uint8_t *q = wq + c * a->panel_bytes;
                    wv = q5_row(T, _mm512_loadu_si512(q + LEGACY_Q5_NIBBLES + 64 * (v / 2)), q, v);
                } else {
                    /* line L = v/2: v even takes its low nibbles (K = 4L..), v odd
                     * its high nibbles (K = 16 + 4L..) */
                    const __m512i line = _mm512_loadu_si512(wq + c * a->panel_bytes + 64 * (v / 2));
                    wv = v % 2 ? _mm512_and_si512(_mm512_srli_epi16(line, 4), m4) : _mm512_and_si512(line, m4);
                    /* IQ4_NL: the index's table value + 128 */
                    if (T == AMX_TYPE_IQ4_NL) wv = _mm512_shuffle_epi8(iq4, wv);
                }
                const int koff = T == AMX_TYPE_Q8_0 ? 4 * v : (v % 2 ? 16 : 0) + 4 * (v / 2);
                for (int r = 0; r < MR; r++)
                    acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], wv, bcast4(aq + r * a->qs_stride + koff));
            }
        }
        for (int c = 0; c < NV; c++) {
            for (int r = 0; r < MR; r++) {
                const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][c]), dw[c]);
                facc[r][c] = _mm512_fmadd_ps(t, _mm512_set1_ps(a->ad[r * a->kb_stride + b]), facc[r][c]);
            }
            if (has_min)
                for (int r = 0; r < MR; r++)
                    facc[r][c] = _mm512_fmadd_ps(mw[c], _mm512_set1_ps(((const float *)a->aux)[r * a->kb_stride + b]),
                                                 facc[r][c]);
        }
    }

    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++) {
            float *yp = a->y + r * a->ldy + 16 * c;
            const int left = a->ncols - 16 * c;
            if (left >= 16) _mm512_storeu_ps(yp, facc[r][c]);
            else if (left > 0) _mm512_mask_storeu_ps(yp, (__mmask16)((1u << left) - 1), facc[r][c]);
        }
}

typedef void (*tile_fn)(const tile_args *);

#define TILE_FN(T, tn, MR, NV, CONV, sfx) \
    static void tile_##tn##sfx##_##MR##x##NV(const tile_args *a) { tile(AMX_TYPE_##T, MR, NV, CONV, a); }
#define TILE_SET(T, tn, CONV, sfx)                                                                 \
    TILE_FN(T, tn, 1, 1, CONV, sfx) TILE_FN(T, tn, 2, 1, CONV, sfx) TILE_FN(T, tn, 3, 1, CONV, sfx) \
    TILE_FN(T, tn, 4, 1, CONV, sfx) TILE_FN(T, tn, 1, 2, CONV, sfx) TILE_FN(T, tn, 2, 2, CONV, sfx) \
    TILE_FN(T, tn, 3, 2, CONV, sfx) TILE_FN(T, tn, 4, 2, CONV, sfx)                                 \
    static const tile_fn k_tiles_##tn##sfx[MR_MAX][NV_MAX] = {                                     \
        {tile_##tn##sfx##_1x1, tile_##tn##sfx##_1x2}, {tile_##tn##sfx##_2x1, tile_##tn##sfx##_2x2}, \
        {tile_##tn##sfx##_3x1, tile_##tn##sfx##_3x2}, {tile_##tn##sfx##_4x1, tile_##tn##sfx##_4x2}};
#define TILE_FNS(T, tn) TILE_SET(T, tn, 0, )
#define TILE_FNS_CONV(T, tn) TILE_SET(T, tn, 0, ) TILE_SET(T, tn, 1, _conv)

TILE_FNS(Q4_0, q4_0)
TILE_FNS(Q4_1, q4_1)
TILE_FNS_CONV(Q5_0, q5_0)
TILE_FNS_CONV(Q5_1, q5_1)
TILE_FNS(Q8_0, q8_0)
TILE_FNS(IQ4_NL, iq4_nl)

/* Chunk [b0, b0 + nb) of `nv` panels (the first at `panel`) decoded into
 * the VNNI rows the direct tile builds: the same bytes, so the same sums. */
ALWAYS_INLINE void conv_rows(const amx_type T, const uint8_t *panel, size_t panel_bytes, int nv, int64_t b0,
                             int64_t nb, uint8_t *out, size_t conv_panel) {
    const legacy_geom g = legacy_geometry(T, b0 + nb);
    for (int c = 0; c < nv; c++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *q = panel + c * panel_bytes + legacy_qs_off(&g, b0 + b);
            uint8_t *o = out + c * conv_panel + CONV_BLOCK * b;
#pragma GCC unroll 8
            for (int v = 0; v < 8; v++)
                _mm512_store_si512(o + 64 * v, q5_row(T, _mm512_loadu_si512(q + LEGACY_Q5_NIBBLES + 64 * (v / 2)), q, v));
        }
}
typedef void (*conv_fn)(const uint8_t *panel, size_t panel_bytes, int nv, int64_t b0, int64_t nb, uint8_t *out,
                        size_t conv_panel);
static void conv_rows_q5_0(const uint8_t *panel, size_t panel_bytes, int nv, int64_t b0, int64_t nb, uint8_t *out,
                           size_t conv_panel) {
    conv_rows(AMX_TYPE_Q5_0, panel, panel_bytes, nv, b0, nb, out, conv_panel);
}
static void conv_rows_q5_1(const uint8_t *panel, size_t panel_bytes, int nv, int64_t b0, int64_t nb, uint8_t *out,
                           size_t conv_panel) {
    conv_rows(AMX_TYPE_Q5_1, panel, panel_bytes, nv, b0, nb, out, conv_panel);
}

struct vnni_legacy_kind {
    const tile_fn (*tiles)[NV_MAX];
    const tile_fn (*tiles_conv)[NV_MAX]; /* NULL: no converted prefill */
    conv_fn convert;
    const char *name_gemv, *name_gemm; /* m <= MR_MAX, larger m */
};
#define LEGACY_KIND(tn, conv_tiles, convert)                                                       \
    const vnni_legacy_kind amxq_vnni_legacy_##tn = {k_tiles_##tn, conv_tiles, convert,            \
                                                    "vnni512_gemv_" #tn "_4x16", "vnni512_gemm_" #tn "_4x32"};
LEGACY_KIND(q4_0, NULL, NULL)
LEGACY_KIND(q4_1, NULL, NULL)
LEGACY_KIND(q5_0, k_tiles_q5_0_conv, conv_rows_q5_0)
LEGACY_KIND(q5_1, k_tiles_q5_1_conv, conv_rows_q5_1)
LEGACY_KIND(q8_0, NULL, NULL)
LEGACY_KIND(iq4_nl, NULL, NULL)

/* ---- the dispatch-table entry points ------------------------------------- */

size_t amxq_vnni_legacy_act_size(const amx_weights *w, int64_t m) { return act_q8_layout_for(m, w->k).bytes; }

void amxq_vnni_legacy_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                          int64_t m0, int64_t m1) {
    const act_q8_layout l = act_q8_layout_for(m, w->k);
    const act_kind act = amxq_type_info(w->type)->act;
    const int32_t zero = legacy_geometry(w->type, w->kb).zero;
    uint8_t *base = ws;
    for (int64_t i = m0; i < m1; i++) {
        int8_t *qs = (int8_t *)base + i * l.qs_stride;
        float *d = (float *)(base + l.d_off) + i * l.kb_stride;
        void *aux = base + l.aux_off + (size_t)(i * l.kb_stride) * 4;
        switch (act) {
        case ACT_Q8_1: amxq_act_quantize_row_q8_1(x + i * ldx, w->k, l.qs_stride, qs, d, aux); break;
        case ACT_Q8_0: amxq_act_quantize_row_q8_0(x + i * ldx, w->k, l.qs_stride, qs, d, aux, zero); break;
        default: amxq_type_unreachable("amxq_vnni_legacy_quantize", w->type);
        }
    }
}

uint32_t amxq_vnni_legacy_act_format(const amx_weights *w) {
    return (uint32_t)amxq_type_info(w->type)->act << 16 | (uint32_t)legacy_geometry(w->type, w->kb).zero;
}

/* A row lives in the three arrays (act_q8.h): its quants, its scales, its aux. */
void amxq_vnni_legacy_act_copy_row(const amx_weights *w, const void *src, int64_t m_src, int64_t i_src,
                                   void *dst, int64_t m_dst, int64_t i_dst) {
    const act_q8_layout ls = act_q8_layout_for(m_src, w->k), ld = act_q8_layout_for(m_dst, w->k);
    const uint8_t *s = src;
    uint8_t *d = dst;
    const size_t kbb = (size_t)ls.kb_stride * 4;
    memcpy(d + i_dst * ld.qs_stride, s + i_src * ls.qs_stride, (size_t)ls.qs_stride);
    memcpy(d + ld.d_off + (size_t)i_dst * kbb, s + ls.d_off + (size_t)i_src * kbb, kbb);
    memcpy(d + ld.aux_off + (size_t)i_dst * kbb, s + ls.aux_off + (size_t)i_src * kbb, kbb);
}

static int64_t n_panels(const amx_weights *w) { return (w->n + LEGACY_PANEL_ROWS - 1) / LEGACY_PANEL_ROWS; }

/* Items: (group of panels) x (row chunk), rows fastest. Decode (m <= MR_MAX)
 * takes all rows in one chunk and DECODE_PANELS panels per item; prefill
 * NV_MAX panels and M_CHUNK rows. */
static void legacy_compute(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws, float *y,
                           int64_t ldy, int64_t item0, int64_t item1) {
    const vnni_legacy_kind *kind = p->impl;
    const act_q8_layout l = act_q8_layout_for(m, w->k);
    const legacy_geom g = legacy_geometry(w->type, w->kb);
    const uint8_t *base = ws;
    const int gp = (int)(p->cols_block / LEGACY_PANEL_ROWS);
    const int64_t mc = (m + p->rows_block - 1) / p->rows_block, np = n_panels(w);
    for (int64_t it = item0; it < item1; it++) {
        /* rows fastest: consecutive items reuse the same panels from L2 */
        const int64_t grp = it / mc, i0 = (it % mc) * p->rows_block;
        const int64_t i1 = i0 + p->rows_block < m ? i0 + p->rows_block : m;
        const int64_t p0 = grp * gp;
        const int nv = (int)(np - p0 < gp ? np - p0 : gp);
        const int64_t n0 = p0 * LEGACY_PANEL_ROWS;
        tile_args a = {
            .panel = w->data + (size_t)p0 * g.panel,
            .panel_bytes = g.panel,
            .kb = w->kb,
            .qs_stride = l.qs_stride,
            .kb_stride = l.kb_stride,
            .ldy = ldy,
            .ncols = (int)(w->n - n0 < 16 * nv ? w->n - n0 : 16 * nv),
        };
        /* the item's first tile pulls the next group's panels into L2; at
         * m = 1 only where tuning.c says the hardware prefetchers alone do not
         * keep up (see above) */
        const uint8_t *next = (m >= 2 || p->prefetch_m1) && p0 + gp < np ? w->data + (size_t)(p0 + gp) * g.panel : NULL;
        a.next_nv = (int)(np - p0 - gp < gp ? np - p0 - gp : gp);
        a.first = 1;
        if (kind->tiles_conv && i1 - i0 > MR_MAX) {
            /* converted: chunk by chunk, every row quad over each; the sums
             * pass through y between chunks */
            _Alignas(64) uint8_t cw[NV_MAX * CONV_KC * CONV_BLOCK];
            a.cw = cw;
            a.conv_panel = CONV_KC * CONV_BLOCK;
            for (int64_t b0 = 0; b0 < w->kb; b0 += CONV_KC) {
                const int64_t nb = w->kb - b0 < CONV_KC ? w->kb - b0 : CONV_KC;
                kind->convert(a.panel, g.panel, nv, b0, nb, cw, a.conv_panel);
                a.b0 = b0;
                a.kb = nb;
                a.first = b0 == 0;
                for (int64_t i = i0; i < i1; i += MR_MAX) {
                    const int mr = (int)(i1 - i < MR_MAX ? i1 - i : MR_MAX);
                    a.aq = (const int8_t *)base + i * l.qs_stride + 32 * b0;
                    a.ad = (const float *)(base + l.d_off) + i * l.kb_stride + b0;
                    a.aux = base + l.aux_off + (size_t)(i * l.kb_stride + b0) * 4;
                    a.y = y + i * ldy + n0;
                    a.next = i == i0 ? next : NULL;
                    kind->tiles_conv[mr - 1][nv - 1](&a);
                }
            }
            continue;
        }
        for (int64_t i = i0; i < i1; i += MR_MAX) {
            const int mr = (int)(i1 - i < MR_MAX ? i1 - i : MR_MAX);
            a.aq = (const int8_t *)base + i * l.qs_stride;
            a.ad = (const float *)(base + l.d_off) + i * l.kb_stride;
            a.aux = base + l.aux_off + (size_t)(i * l.kb_stride) * 4;
            a.y = y + i * ldy + n0;
            a.next = i == i0 ? next : NULL;
            kind->tiles[mr - 1][nv - 1](&a);
        }
    }
}

void amxq_vnni_legacy_plan(const amx_weights *w, const vnni_legacy_kind *kind, int64_t m, const amxq_call_opts *opts,
                           amxq_plan *out) {
    const int decode = m <= MR_MAX;
    const int gp = decode ? DECODE_PANELS : NV_MAX;
    const int64_t rows = decode ? m : M_CHUNK;
    *out = (amxq_plan){
        .kernel = decode ? kind->name_gemv : kind->name_gemm,
        .rows_block = rows,
        .cols_block = (int64_t)gp * LEGACY_PANEL_ROWS,
        .n_items = (n_panels(w) + gp - 1) / gp * ((m + rows - 1) / rows),
        .compute = legacy_compute,
        .impl = kind,
        .prefetch_m1 = opts->panel_decode_prefetch,
        .order = AMXQ_ITEMS_ROWS_FASTEST,
    };
}

void amxq_vnni_legacy_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out) {
    amxq_vnni_legacy_plan(w, w->impl, m, opts, out);
}
