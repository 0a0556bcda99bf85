/*
 * What the float kernels' two files share (vnni_float.c: F16 and the BF16
 * FMA fallback; vnni_bf16.c: BF16 with vdpbf16ps, built with AVX512-BF16):
 * one tile's arguments, the tile function tables and the output store.
 *
 * Every tile keeps, per activation row and 16-column panel, two float
 * partial sums: one for the even and one for the odd K step (a step is one
 * k for F16, one pair of k for BF16), added once at the end. Every tile
 * shape runs this same sequence per output, so a result depends neither on
 * how many rows share a tile nor on the work split; the two chains per
 * output give decode (one row, one panel) two independent FMA chains per
 * 64-byte line, and larger tiles up to 16 (enough for FMA's 4-cycle and
 * vdpbf16ps's 6-cycle latency at two per cycle).
 */
#ifndef AMXQ_VNNI_FLOAT_TILE_H
#define AMXQ_VNNI_FLOAT_TILE_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define FT_MR_MAX 8 /* activation rows per tile (decode: all m <= 8 rows) */
#define FT_NV_MAX 2 /* panels per tile */

typedef struct {
    const uint8_t *panel;  /* first panel of the tile */
    size_t panel_bytes;
    int64_t kp;            /* padded K: a multiple of 32 */
    const uint8_t *x;      /* the tile's first activation row in the workspace */
    size_t x_stride;       /* bytes between activation rows */
    float *y;              /* output of the first row and column */
    int64_t ldy;
    int ncols;             /* valid columns, 1 .. 16 * NV */
    const uint8_t *next;   /* panels to prefetch into L2 along the way, or NULL */
    int next_nv;
} ftile_args;

typedef void (*ftile_fn)(const ftile_args *);

/* vnni_bf16.c: BF16 tiles with vdpbf16ps, [MR - 1][NV - 1]. Call only where
 * the CPU runs AVX512-BF16. */
extern const ftile_fn amxq_bf16_dp_tiles[FT_MR_MAX][FT_NV_MAX];

typedef __m512 ftile_sums[FT_MR_MAX][FT_NV_MAX]; /* one partial sum per (row, panel) */

static inline __attribute__((always_inline)) void ftile_zero(const int MR, const int NV, ftile_sums s0,
                                                             ftile_sums s1) {
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++) s0[r][c] = s1[r][c] = _mm512_setzero_ps();
}

/* Stores s0 + s1 of every row and panel: 16 columns, or the valid ones. */
static inline __attribute__((always_inline)) void ftile_store(const int MR, const int NV, const ftile_args *a,
                                                              ftile_sums s0, ftile_sums s1) {
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++) {
            const __m512 v = _mm512_add_ps(s0[r][c], s1[r][c]);
            float *y = a->y + r * a->ldy + 16 * c;
            const int left = a->ncols - 16 * c;
            if (left >= 16) _mm512_storeu_ps(y, v);
            else if (left > 0) _mm512_mask_storeu_ps(y, (__mmask16)((1u << left) - 1), v);
        }
}

/* The table of one kernel: every MR x NV shape of TILE(MR, NV, a). */
#define FT_TILE_FN(pfx, MR, NV) \
    static void pfx##_##MR##x##NV(const ftile_args *a) { pfx(MR, NV, a); }
#define FT_TILE_TABLE(pfx, table)                                                                  \
    FT_TILE_FN(pfx, 1, 1) FT_TILE_FN(pfx, 2, 1) FT_TILE_FN(pfx, 3, 1) FT_TILE_FN(pfx, 4, 1)        \
    FT_TILE_FN(pfx, 5, 1) FT_TILE_FN(pfx, 6, 1) FT_TILE_FN(pfx, 7, 1) FT_TILE_FN(pfx, 8, 1)        \
    FT_TILE_FN(pfx, 1, 2) FT_TILE_FN(pfx, 2, 2) FT_TILE_FN(pfx, 3, 2) FT_TILE_FN(pfx, 4, 2)        \
    table = {{pfx##_1x1, pfx##_1x2}, {pfx##_2x1, pfx##_2x2}, {pfx##_3x1, pfx##_3x2},                \
             {pfx##_4x1, pfx##_4x2}, {pfx##_5x1, NULL},      {pfx##_6x1, NULL},                     \
             {pfx##_7x1, NULL},      {pfx##_8x1, NULL}};

/* One prefetch per 64-byte line the tile is about to read (`lines` from
 * byte `off` of each panel): the same lines of the next panels, into L2. */
static inline __attribute__((always_inline)) void ftile_prefetch(const ftile_args *a, size_t off, int lines) {
    if (!a->next) return;
    for (int c = 0; c < a->next_nv; c++)
        for (int l = 0; l < lines; l++)
            _mm_prefetch((const char *)a->next + (size_t)c * a->panel_bytes + off + 64 * (size_t)l, _MM_HINT_T1);
}

#endif
