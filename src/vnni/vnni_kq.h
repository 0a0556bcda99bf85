/*
 * The work-item driver shared by the VNNI kernels of the 256-element types
 * (vnni_q4_K.c: Q4_K and Q5_K, vnni_q6_K.c, vnni_iq4_xs.c, vnni_q23_K.c: Q2_K
 * and Q3_K) and the tile
 * interface those kernels implement.
 *
 * A tile is MR activation rows (1..KQ_MR) x one 16-column panel over the whole
 * K. Every output element is produced by exactly one tile call whose float
 * operations per superblock do not depend on MR, on the tile's position or on
 * the thread, so results are bitwise independent of the work split.
 */
#ifndef AMXQ_VNNI_KQ_H
#define AMXQ_VNNI_KQ_H

#include <stdint.h>

#include "../kernel.h"

#define KQ_MR 8 /* rows per tile, at most */

typedef struct {
    const uint8_t *w;  /* the panel's superblock 0 */
    int64_t kb;        /* superblocks */
    const int8_t *q;   /* quants of the tile's first row */
    const float *d;    /* d of the first row, superblock 0 */
    const uint8_t *s;  /* sums record of the first row, superblock 0 */
    int64_t q_stride;  /* bytes between rows' quants */
    int64_t d_stride;  /* floats between rows' d */
    int64_t s_stride;  /* bytes between rows' records */
    float *y;          /* output of the first row, the panel's first column */
    int64_t ldy;
    int ncols;         /* columns to write, 1..16 */
    int prefetch;      /* first tile over this panel in the row block: prefetch it */
    /* converted-weight tiles (kq_family.convert) only: */
    const uint8_t *cw; /* the converted superblocks, conv_bytes each */
    int first;         /* 1: start from 0; 0: continue the sums already in y */
} kq_tile;

typedef void (*kq_tile_fn)(const kq_tile *t);

typedef struct {
    size_t psb;                       /* bytes per panel superblock */
    kq_tile_fn tile[KQ_MR + 1];       /* tile[mr] handles mr rows; [0] unused */
    /* Optional: a panel superblock converted once per row block to 8-bit
     * weight lines (conv_bytes), and the tiles that read them over a chunk of
     * K, carrying their float sums through y between chunks (exact). */
    void (*convert)(const uint8_t *psb, uint8_t *out);
    size_t conv_bytes;
    kq_tile_fn tile_conv[KQ_MR + 1];
    const char *name_gemv[5];         /* kernel names for m = 1..4 */
    const char *name_gemm;            /* m > 4 */
} kq_family;

/* The rows' descriptors (impl), one per type: vnni_q4_K.c (Q4_K, Q5_K),
 * vnni_q6_K.c, vnni_iq4_xs.c. */
extern const kq_family amxq_vnni_kq_q4_K, amxq_vnni_kq_q5_K, amxq_vnni_kq_q6_K, amxq_vnni_kq_iq4_xs;
extern const kq_family amxq_vnni_kq_q2_K, amxq_vnni_kq_q3_K; /* vnni_q23_K.c */

void amxq_vnni_kq_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);
/* The plan with an explicit descriptor: the AMX rows' path for small m. */
void amxq_vnni_kq_plan(const amx_weights *w, const kq_family *f, int64_t m, const amxq_call_opts *opts,
                       amxq_plan *out);

#endif
