/*
 * Work items and cache blocking for the 256-element VNNI kernels.
 *
 * An item is (row block) x (KQ_PG panels); items are numbered with the panel
 * group fastest, so the contiguous item range a thread gets walks all panels
 * of one row block before the next: the row block's activations (at most
 * KQ_ACT_L2 bytes of quants, 128 KiB to 512 KiB, in the 1 MiB L2) are read from
 * L2 for every panel, and each panel (K=4096: 38 KiB of Q4_K) is read from L2
 * by every 8-row tile of the block after its first pass. The weights come
 * from L3/DRAM once per row block: M=512, K=4096 has 4 row blocks, i.e. 4
 * reads of 9.4 MB per call (2.4 MB per 10 ms of compute), far below what L3
 * gives. For m <= KQ_MR there is one row block and an item is KQ_PG panels:
 * decode streams every weight byte exactly once.
 *
 * Converting panels to 8-bit weights once per row block (the ik_llama.cpp
 * prefill trick) pays only where unpacking is a large share of the vector
 * ops: Q6_K needs ~6 ops per weight vector (two planes), 3 of its ~14 ops
 * per 4 vpdpbusd per row at MR = 8, and Zen 4 issues about 2 zmm ops per
 * cycle; converted, Q6_K runs 10-13% faster (M = 256, K = 4096: 222 -> 249
 * GOPS). Q4_K / IQ4_XS unpack in 1.5-2.5 ops shared by 8 rows and stay
 * direct; converting Q4_K and Q5_K was measured too and was no faster
 * (M = 256, K = 4096: 264 / 259 GOPS direct, 233-260 converted). Q2_K and
 * Q3_K convert to bytes with the group scale folded in (vnni_q23_K.c), so
 * their converted tiles do no per-group scaling at all. The
 * converted chunk is KQ_KC = 4 superblocks (16 KiB, it stays in L1 next to
 * the 8 rows' activations; 8 superblocks measured 6% slower).
 *
 * Decode: from m = 2 on the tiles prefetch in software (kq_prefetch_part);
 * at m = 1 only where the CPU needs it (src/tuning.c chooses, per
 * microarchitecture). A software prefetch that goes to DRAM holds one of
 * the core's few L1 miss buffers for the whole DRAM latency, so a stream
 * fetched that way stops near 0.7 of the streaming-read bandwidth; the
 * hardware prefetchers fetch into L2 without that limit, and they follow a
 * kernel whose first touches of a panel go in ascending address order (the
 * q6_Kp16 line order and the header touches in the kernels are for that).
 * Measured at N = 14336, K = 4096 from DRAM, one thread, in one process with
 * calls interleaved on shared weight copies (3 processes, medians of 40
 * rounds against the read bandwidth measured between the rounds): Q4_K
 * 0.97-1.01 without against 0.68-0.72 with, Q5_K 0.93-1.01 / 0.71-0.74,
 * Q6_K 0.96-1.02 / 0.69-0.74, IQ4_XS 0.89-0.96 / 0.75-0.77. At m = 2 and 4
 * the tiles do more work per byte and the hardware prefetchers alone fall
 * behind: without software prefetching they ran at 0.33-0.81 against
 * 0.71-0.90 with. (Those were on Zen 4. On Zen 5 the hardware prefetchers
 * do not keep up even at m = 1: 0.41-0.52 without, 0.79-0.85 with; see
 * tuning.c.)
 */
#if !defined(__AVX512F__) || !defined(__AVX512VNNI__)
#error "src/vnni must be compiled with the AVX-512 flags (see meson.build avx512_args)"
#endif

#include "vnni_kq.h"

#include <immintrin.h>

#include "../formats.h"
#include "act_q8_K.h"

#define KQ_PG 4                         /* panels per work item */
#define KQ_ACT_L2 ((int64_t)512 << 10)  /* activation bytes per row block */
#define KQ_RB_MAX 128

static int64_t row_block(const amx_weights *w, const kq_family *f, int64_t m) {
    if (m <= KQ_MR) return m;
    if (f->convert) return KQ_RB_MAX; /* convert_rows keeps a chunk's activations in L2 */
    int64_t rb = KQ_ACT_L2 / w->k / KQ_MR * KQ_MR;
    if (rb < KQ_MR) rb = KQ_MR;
    if (rb > KQ_RB_MAX) rb = KQ_RB_MAX;
    return rb;
}

static int64_t n_panel_groups(const amx_weights *w) {
    const int64_t panels = (w->n + 15) / 16;
    return (panels + KQ_PG - 1) / KQ_PG;
}



/* Row blocks of more than one tile, for families with a converter: each
 * panel is converted KQ_KC superblocks at a time into a stack buffer and
 * every tile of the block runs over the converted chunk, so the unpacking is
 * paid once per row block instead of once per 8 rows. The tiles carry their
 * float sums through y from chunk to chunk; a float store and reload is
 * exact, so the per-element operations equal the direct tiles' and results
 * do not depend on which path a row block takes. */
#define KQ_KC 4
#define KQ_CONV_MAX 4096

/* Panel p's chunk of superblocks b0 .. b0 + nb - 1: converted into buf, then
 * every tile of rows r0 .. r1 - 1 over it. */
static void convert_chunk(const kq_family *f, const amx_weights *w, const act_q8K_view *a, float *y, int64_t ldy,
                          int64_t r0, int64_t r1, int64_t p, int64_t b0, int64_t nb, uint8_t *buf) {
    const int64_t left = w->n - 16 * p;
    const uint8_t *panel = w->data + (size_t)p * (size_t)w->kb * f->psb;
    for (int64_t b = 0; b < nb; b++) {
        /* the chunk after this one into L2 (the panel comes from L3 or
         * DRAM; without this M = 32 Q6_K lost a third of its speed) */
        const uint8_t *next = panel + (size_t)(b0 + KQ_KC + b) * f->psb;
        for (size_t off = 0; off < f->psb; off += 64) _mm_prefetch((const char *)(next + off), _MM_HINT_T1);
        f->convert(panel + (size_t)(b0 + b) * f->psb, buf + b * f->conv_bytes);
    }
    for (int64_t r = r0; r < r1; r += KQ_MR) {
        const int mr = (int)(r1 - r < KQ_MR ? r1 - r : KQ_MR);
        const kq_tile t = {
            .w = panel + (size_t)b0 * f->psb,
            .kb = nb,
            .q = a->q + r * w->k + b0 * QK_K,
            .d = a->d + r * a->kb + b0,
            .s = a->s + (size_t)(r * a->kb + b0) * Q8K_SUMS_BYTES,
            .q_stride = w->k,
            .d_stride = a->kb,
            .s_stride = a->kb * Q8K_SUMS_BYTES,
            .y = y + r * ldy + 16 * p,
            .ldy = ldy,
            .ncols = left < 16 ? (int)left : 16,
            .cw = buf,
            .first = b0 == 0,
        };
        f->tile_conv[mr](&t);
    }
}

/* Where the row block's activations fit KQ_ACT_L2, each panel runs through
 * all of K in turn (one sequential stream of weights). Where they do not
 * (large K: the direct tiles' row blocks would shrink to fit, 32 rows at
 * K = 14336, and the conversion would be paid 4 times as often), the item's
 * panels take turns per chunk, so only a chunk's activations (1 KiB a row)
 * need to stay in L2 across the panels. Zen 5, M = 512, N = 4096, K =
 * 14336, one thread, 3 alternated runs: 32-row blocks -> 128-row blocks
 * this way, Q2_K 0.53-0.55 -> 0.59-0.60 of the vpdpbusd peak, Q3_K
 * 0.50-0.51 -> 0.59-0.61, Q6_K 0.40-0.41 -> 0.50; M = 32 and K = 4096
 * unchanged. Chunk-major at K = 4096 too was 2-8% slower there than
 * panel-major (one stream per panel), so it is for large K only. */
static void convert_rows(const kq_family *f, const amx_weights *w, const act_q8K_view *a, float *y,
                         int64_t ldy, int64_t r0, int64_t r1, int64_t p0, int64_t p1) {
    _Alignas(64) uint8_t buf[KQ_KC * KQ_CONV_MAX];
    if ((r1 - r0) * w->k <= KQ_ACT_L2) {
        for (int64_t p = p0; p < p1; p++)
            for (int64_t b0 = 0; b0 < w->kb; b0 += KQ_KC)
                convert_chunk(f, w, a, y, ldy, r0, r1, p, b0, w->kb - b0 < KQ_KC ? w->kb - b0 : KQ_KC, buf);
    } else {
        for (int64_t b0 = 0; b0 < w->kb; b0 += KQ_KC)
            for (int64_t p = p0; p < p1; p++)
                convert_chunk(f, w, a, y, ldy, r0, r1, p, b0, w->kb - b0 < KQ_KC ? w->kb - b0 : KQ_KC, buf);
    }
}

/* Items: (row block) x (KQ_PG panels), panel groups fastest. */
static void kq_compute(const amxq_plan *pl, const amx_weights *w, int64_t m, const void *ws, float *y,
                       int64_t ldy, int64_t it0, int64_t it1) {
    const kq_family *f = pl->impl;
    const act_q8K_view a = amxq_act_q8K_layout((void *)ws, m, w->k);
    const int64_t rb = pl->rows_block, npg = n_panel_groups(w), panels = (w->n + 15) / 16;
    for (int64_t it = it0; it < it1; it++) {
        const int64_t r0 = it / npg * rb, r1 = r0 + rb < m ? r0 + rb : m;
        const int64_t p0 = it % npg * KQ_PG, p1 = p0 + KQ_PG < panels ? p0 + KQ_PG : panels;
        if (f->convert && r1 - r0 > KQ_MR) {
            convert_rows(f, w, &a, y, ldy, r0, r1, p0, p1);
            continue;
        }
        for (int64_t p = p0; p < p1; p++) {
            const int64_t left = w->n - 16 * p;
            for (int64_t r = r0; r < r1; r += KQ_MR) {
                const int mr = (int)(r1 - r < KQ_MR ? r1 - r : KQ_MR);
                const kq_tile t = {
                    .w = w->data + (size_t)p * (size_t)w->kb * f->psb,
                    .kb = w->kb,
                    .q = a.q + r * w->k,
                    .d = a.d + r * a.kb,
                    .s = a.s + (size_t)(r * a.kb) * Q8K_SUMS_BYTES,
                    .q_stride = w->k,
                    .d_stride = a.kb,
                    .s_stride = a.kb * Q8K_SUMS_BYTES,
                    .y = y + r * ldy + 16 * p,
                    .ldy = ldy,
                    .ncols = left < 16 ? (int)left : 16,
                    /* at m = 1 only where the CPU needs it: "Decode" above */
                    .prefetch = r == r0 && (m > 1 || pl->prefetch_m1),
                };
                f->tile[mr](&t);
            }
        }
    }
}

void amxq_vnni_kq_plan(const amx_weights *w, const kq_family *f, int64_t m, const amxq_call_opts *opts,
                       amxq_plan *out) {
    const int64_t rb = row_block(w, f, m);
    *out = (amxq_plan){
        .kernel = m >= 1 && m <= 4 ? f->name_gemv[m] : f->name_gemm,
        .rows_block = rb,
        .cols_block = 16 * KQ_PG,
        .n_items = (m + rb - 1) / rb * n_panel_groups(w),
        .compute = kq_compute,
        .impl = f,
        .prefetch_m1 = opts->kq_decode_prefetch,
        .order = AMXQ_ITEMS_COLS_FASTEST,
    };
}

void amxq_vnni_kq_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out) {
    amxq_vnni_kq_plan(w, w->impl, m, opts, out);
}
