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
 */
#if !defined(__AVX512F__) || !defined(__AVX512VNNI__)
#error "src/vnni must be compiled with the AVX-512 flags (see meson.build avx512_args)"
#endif

#include "vnni_kq.h"

#include "../formats.h"
#include "act_q8_K.h"

#define KQ_PG 4                         /* panels per work item */
#define KQ_ACT_L2 ((int64_t)512 << 10)  /* activation bytes per row block */
#define KQ_RB_MAX 128

static int64_t row_block(const amx_weights *w, int64_t m) {
    if (m <= KQ_MR) return m;
    int64_t rb = KQ_ACT_L2 / w->k / KQ_MR * KQ_MR;
    if (rb < KQ_MR) rb = KQ_MR;
    if (rb > KQ_RB_MAX) rb = KQ_RB_MAX;
    return rb;
}

static int64_t n_panel_groups(const amx_weights *w) {
    const int64_t panels = (w->n + 15) / 16;
    return (panels + KQ_PG - 1) / KQ_PG;
}

int64_t kq_n_items(const amx_weights *w, int64_t m, const void *opts) {
    (void)opts;
    const int64_t rb = row_block(w, m);
    return (m + rb - 1) / rb * n_panel_groups(w);
}

void kq_compute(const kq_family *f, const amx_weights *w, int64_t m, const void *ws, float *y,
                int64_t ldy, int64_t it0, int64_t it1) {
    const act_q8K_view a = act_q8K_layout((void *)ws, m, w->k);
    const int64_t rb = row_block(w, m), npg = n_panel_groups(w), panels = (w->n + 15) / 16;
    for (int64_t it = it0; it < it1; it++) {
        const int64_t r0 = it / npg * rb, r1 = r0 + rb < m ? r0 + rb : m;
        const int64_t p0 = it % npg * KQ_PG, p1 = p0 + KQ_PG < panels ? p0 + KQ_PG : panels;
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
                };
                f->tile[mr](&t);
            }
        }
    }
}

const char *kq_kernel_name(const kq_family *f, int64_t m) {
    return m >= 1 && m <= 4 ? f->name_gemv[m] : f->name_gemm;
}
