/*
 * AVX-512 kernels for the float weight types: F16 with F16C + FMA, and the
 * BF16 fallback for CPUs without AVX512-BF16 (its vdpbf16ps kernels are in
 * vnni_bf16.c; which one runs is decided per call from the CPU probe).
 *
 * Reads the f16p16 / bf16p16 panels of repack_float.h and the activation
 * rows of act_float.h, both zero-padded to kp (a multiple of 32), and keeps
 * two partial sums per output (even and odd K step, vnni_float_tile.h).
 *
 * F16: per 64-byte line (k, k + 1 of 16 columns) and panel, two vcvtph2ps
 * make the weights exact floats; per row, the two fp16-rounded activations
 * (stored as floats) are broadcast and
 *     s0 = fma(w_k, x_k, s0);  s1 = fma(w_k+1, x_k+1, s1)
 * Products of two fp16 values are exact in float, so each FMA rounds once.
 * BF16 without vdpbf16ps: per line the bf16 pair of each column becomes two
 * floats by shift (even k) and mask (odd k), exact, and per row the
 * broadcast activation pair likewise; per step
 *     s = fma(w_odd, x_odd, s);  s = fma(w_even, x_even, s)
 * in the order of VDPBF16PS's definition, without its DAZ/FTZ.
 *
 * Decode (m <= 8): one tile of all m rows per panel, so the weights stream
 * exactly once, front to back (a work item is one panel), as in the legacy
 * kernels (vnni_legacy.c has the measurements behind that choice); from
 * m = 2 on, and at m = 1 where tuning.c says so, the next panel is
 * prefetched into L2 along the way. Prefill:
 * tiles of 4 rows x 2 panels (16 accumulators, two weight vectors per
 * line), items of 2 panels x 64 rows, rows fastest, so the pair of panels
 * (2 x 128 KiB at K = 4096) stays in L2 while the row quads pass over it.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__F16C__) || !defined(__FMA__)
#error "vnni_float.c must be compiled with the AVX-512 flags (avx512_args in meson.build)"
#endif

#include "vnni_float.h"

#include <immintrin.h>
#include <string.h>

#include "../formats.h"
#include "../repack/repack_float.h"
#include "act_float.h"
#include "vnni_float_tile.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define DECODE_M_MAX FT_MR_MAX /* m up to this: one tile of all rows per panel */
#define PREFILL_MR 4
#define M_CHUNK 64             /* activation rows per prefill work item */

ALWAYS_INLINE void tile_f16(const int MR, const int NV, const ftile_args *a) {
    ftile_sums s0, s1;
    ftile_zero(MR, NV, s0, s1);
    const int64_t lines = a->kp / 2;
    for (int64_t l = 0; l < lines; l++) {
        const size_t off = (size_t)l * 64;
        ftile_prefetch(a, off, 1);
        __m512 w0[FT_NV_MAX], w1[FT_NV_MAX];
        for (int c = 0; c < NV; c++) {
            const uint8_t *p = a->panel + c * a->panel_bytes + off;
            w0[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            w1[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
        }
        for (int r = 0; r < MR; r++) {
            const float *xr = (const float *)(a->x + r * a->x_stride) + 2 * l;
            const __m512 x0 = _mm512_set1_ps(xr[0]), x1 = _mm512_set1_ps(xr[1]);
            for (int c = 0; c < NV; c++) {
                s0[r][c] = _mm512_fmadd_ps(w0[c], x0, s0[r][c]);
                s1[r][c] = _mm512_fmadd_ps(w1[c], x1, s1[r][c]);
            }
        }
    }
    ftile_store(MR, NV, a, s0, s1);
}

/* One bf16 pair per dword -> the even-k and odd-k values as floats. */
ALWAYS_INLINE __m512 bf16_even(__m512i v) { return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)); }
ALWAYS_INLINE __m512 bf16_odd(__m512i v) {
    return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int32_t)0xffff0000u)));
}

ALWAYS_INLINE void tile_bf16_fma(const int MR, const int NV, const ftile_args *a) {
    ftile_sums s0, s1;
    ftile_zero(MR, NV, s0, s1);
    const int64_t lines = a->kp / 2;
    for (int64_t l = 0; l < lines; l += 2) {
        const size_t off = (size_t)l * 64;
        ftile_prefetch(a, off, 2);
        __m512 we0[FT_NV_MAX], wo0[FT_NV_MAX], we1[FT_NV_MAX], wo1[FT_NV_MAX];
        for (int c = 0; c < NV; c++) {
            const __m512i v0 = _mm512_loadu_si512(a->panel + c * a->panel_bytes + off);
            const __m512i v1 = _mm512_loadu_si512(a->panel + c * a->panel_bytes + off + 64);
            we0[c] = bf16_even(v0), wo0[c] = bf16_odd(v0), we1[c] = bf16_even(v1), wo1[c] = bf16_odd(v1);
        }
        for (int r = 0; r < MR; r++) {
            const uint8_t *xr = a->x + r * a->x_stride + 4 * l;
            int32_t p0, p1;
            memcpy(&p0, xr, 4);
            memcpy(&p1, xr + 4, 4);
            const __m512i x0 = _mm512_set1_epi32(p0), x1 = _mm512_set1_epi32(p1);
            const __m512 xe0 = bf16_even(x0), xo0 = bf16_odd(x0), xe1 = bf16_even(x1), xo1 = bf16_odd(x1);
            for (int c = 0; c < NV; c++) {
                s0[r][c] = _mm512_fmadd_ps(wo0[c], xo0, s0[r][c]);
                s0[r][c] = _mm512_fmadd_ps(we0[c], xe0, s0[r][c]);
                s1[r][c] = _mm512_fmadd_ps(wo1[c], xo1, s1[r][c]);
                s1[r][c] = _mm512_fmadd_ps(we1[c], xe1, s1[r][c]);
            }
        }
    }
    ftile_store(MR, NV, a, s0, s1);
}

FT_TILE_TABLE(tile_f16, static const ftile_fn k_f16_tiles[FT_MR_MAX][FT_NV_MAX])
FT_TILE_TABLE(tile_bf16_fma, static const ftile_fn k_bf16_fma_tiles[FT_MR_MAX][FT_NV_MAX])

/* What a plan runs: one tile table (the plan's impl). */
typedef struct {
    const ftile_fn (*tiles)[FT_NV_MAX];
} float_run;
static const float_run k_run_f16 = {k_f16_tiles}, k_run_bf16_fma = {k_bf16_fma_tiles},
                       k_run_bf16_dp = {amxq_bf16_dp_tiles};

struct vnni_float_kind {
    const float_run *fma;               /* F16, or BF16 without vdpbf16ps */
    const float_run *dp;                /* BF16 with vdpbf16ps; NULL for F16 */
    const char *name_gemv, *name_gemm;  /* FMA kernels: m <= DECODE_M_MAX, larger m */
    const char *name_gemv_dp, *name_gemm_dp;
};
const vnni_float_kind amxq_vnni_float_f16 = {&k_run_f16, NULL, "vnni512_gemv_f16_8x16", "vnni512_gemm_f16_4x32",
                                             NULL, NULL};
const vnni_float_kind amxq_vnni_float_bf16 = {&k_run_bf16_fma, &k_run_bf16_dp, "vnni512_gemv_bf16fma_8x16",
                                              "vnni512_gemm_bf16fma_4x32", "vnni512_gemv_bf16_8x16",
                                              "vnni512_gemm_bf16_4x32"};

/* ---- the dispatch-table entry points ------------------------------------- */

static int is_bf16(const amx_weights *w) {
    switch (w->type) {
    case AMX_TYPE_F16: return 0;
    case AMX_TYPE_BF16: return 1;
    default: amxq_type_unreachable("vnni_float", w->type);
    }
}

size_t amxq_vnni_float_act_size(const amx_weights *w, int64_t m) {
    return (size_t)m * act_float_row_bytes(is_bf16(w), w->k);
}

void amxq_vnni_float_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                              int64_t m0, int64_t m1) {
    (void)m;
    const int bf = is_bf16(w);
    const size_t rb = act_float_row_bytes(bf, w->k);
    for (int64_t i = m0; i < m1; i++) {
        uint8_t *row = (uint8_t *)ws + (size_t)i * rb;
        if (bf) amxq_act_row_bf16(x + i * ldx, w->k, (uint16_t *)row);
        else amxq_act_row_f16(x + i * ldx, w->k, (float *)row);
    }
}

uint32_t amxq_vnni_float_act_format(const amx_weights *w) { return (uint32_t)amxq_type_info(w->type)->act; }

static int64_t n_panels(const amx_weights *w) { return (w->n + FLOAT_PANEL_ROWS - 1) / FLOAT_PANEL_ROWS; }

/* Items: (group of panels) x (row chunk), rows fastest. Decode takes all
 * rows in one chunk and one panel per item; prefill 2 panels and M_CHUNK
 * rows. */
static void float_compute(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws, float *y,
                          int64_t ldy, int64_t item0, int64_t item1) {
    const float_run *run = p->impl;
    const size_t pb = float_panel_bytes(w->k), xs = act_float_row_bytes(is_bf16(w), w->k);
    const int gp = (int)(p->cols_block / FLOAT_PANEL_ROWS);
    const int mr_max = m <= DECODE_M_MAX ? (int)m : PREFILL_MR;
    const int64_t mc = (m + p->rows_block - 1) / p->rows_block, np = n_panels(w);
    for (int64_t it = item0; it < item1; it++) {
        const int64_t grp = it / mc, i0 = (it % mc) * p->rows_block;
        const int64_t i1 = i0 + p->rows_block < m ? i0 + p->rows_block : m;
        const int64_t p0 = grp * gp;
        const int nv = (int)(np - p0 < gp ? np - p0 : gp);
        const int64_t n0 = p0 * FLOAT_PANEL_ROWS;
        ftile_args a = {
            .panel = w->data + (size_t)p0 * pb,
            .panel_bytes = pb,
            .kp = float_kp(w->k),
            .x_stride = xs,
            .ldy = ldy,
            .ncols = (int)(w->n - n0 < 16 * nv ? w->n - n0 : 16 * nv),
        };
        /* the item's first tile pulls the next group's panels into L2; at
         * m = 1 only where tuning.c says the hardware prefetchers alone do not
         * keep up */
        const uint8_t *next = (m >= 2 || p->prefetch_m1) && p0 + gp < np ? w->data + (size_t)(p0 + gp) * pb : NULL;
        a.next_nv = (int)(np - p0 - gp < gp ? np - p0 - gp : gp);
        for (int64_t i = i0; i < i1; i += mr_max) {
            const int mr = (int)(i1 - i < mr_max ? i1 - i : mr_max);
            a.x = (const uint8_t *)ws + (size_t)i * xs;
            a.y = y + i * ldy + n0;
            a.next = i == i0 ? next : NULL;
            run->tiles[mr - 1][nv - 1](&a);
        }
    }
}

void amxq_vnni_float_plan(const amx_weights *w, const vnni_float_kind *kind, int64_t m, const amxq_call_opts *opts,
                          amxq_plan *out) {
    const int decode = m <= DECODE_M_MAX;
    const int gp = decode ? 1 : FT_NV_MAX;
    const int64_t rows = decode ? m : M_CHUNK;
    const int dp = kind->dp && opts->avx512_bf16;
    *out = (amxq_plan){
        .kernel = decode ? (dp ? kind->name_gemv_dp : kind->name_gemv) : (dp ? kind->name_gemm_dp : kind->name_gemm),
        .rows_block = rows,
        .cols_block = (int64_t)gp * FLOAT_PANEL_ROWS,
        .n_items = (n_panels(w) + gp - 1) / gp * ((m + rows - 1) / rows),
        .compute = float_compute,
        .impl = dp ? kind->dp : kind->fma,
        .prefetch_m1 = opts->panel_decode_prefetch,
        .order = AMXQ_ITEMS_ROWS_FASTEST, /* float_compute: item = panel group * row blocks + row block */
    };
}

void amxq_vnni_float_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out) {
    amxq_vnni_float_plan(w, w->impl, m, opts, out);
}
