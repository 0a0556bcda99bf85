/*
 * The work-item driver of the AMX kernel families, the per-thread unpack
 * scratch and the vector-work counters (see amx_common.h).
 */
#include "amx_common.h"

#include <string.h>

#include "../scratch.h"

/* ---- per-thread scratch ---------------------------------------------------- */

static int scratch_refused(void);

/* The thread's unpack scratch: grow-only, at most AMX_SCRATCH_MAX bytes (the
 * driver's chunks), freed when the thread exits (scratch.h). */
static uint8_t *scratch_get(size_t bytes) {
    if (scratch_refused()) return NULL;
    return amxq_scratch_get(AMXQ_SCRATCH_TILES, bytes, 64);
}

/* ---- counters -------------------------------------------------------------- */

#if defined(AMXQ_TILE_EMULATOR)
#include <stdatomic.h>

_Thread_local amx_op_counts amxq_amx_ops_tl;
#define N_OPS (sizeof(amx_op_counts) / sizeof(uint64_t))
static atomic_uint_fast64_t g_ops[N_OPS];

static void flush_counts(void) {
    uint64_t v[N_OPS];
    memcpy(v, &amxq_amx_ops_tl, sizeof v);
    for (size_t i = 0; i < N_OPS; i++) atomic_fetch_add_explicit(&g_ops[i], v[i], memory_order_relaxed);
    memset(&amxq_amx_ops_tl, 0, sizeof amxq_amx_ops_tl);
}

void amxq_amx_op_counts_all(amx_op_counts *out) {
    uint64_t v[N_OPS];
    for (size_t i = 0; i < N_OPS; i++) v[i] = atomic_load_explicit(&g_ops[i], memory_order_relaxed);
    memcpy(out, v, sizeof v);
}

void amxq_amx_op_counts_all_reset(void) {
    for (size_t i = 0; i < N_OPS; i++) atomic_store_explicit(&g_ops[i], 0, memory_order_relaxed);
}

static atomic_int g_refuse;
void amxq_amx_test_refuse_scratch(int refuse) { atomic_store(&g_refuse, refuse); }
static int scratch_refused(void) { return atomic_load(&g_refuse); }
#else
static void flush_counts(void) {}
static int scratch_refused(void) { return 0; }
#endif

/* ---- the plan ------------------------------------------------------------- */

void amxq_tile_plan(const amx_weights *w, int64_t m, const amxq_call_opts *o, const amx_kernel *k, const char *kernel,
                    amxq_compute_fn compute, const void *impl, amxq_plan *out) {
    /* rows: m rounded up to whole 32-row blocks, at most the tuned row block */
    int64_t rows = o->amx_rows_block >= 32 && o->amx_rows_block <= AMX_ROWS_BLOCK_MAX ? o->amx_rows_block
                                                                                      : AMX_ROWS_BLOCK_DEFAULT;
    rows -= rows % 32;
    const int64_t m32 = (m + 31) / 32 * 32;
    if (m32 < rows) rows = m32;
    /* K chunk: the row block's activations over it within the L2 budget, its
     * unpacked panel within the scratch; then even chunks */
    const size_t budget = (size_t)(o->amx_a_l2_kib > 0 ? o->amx_a_l2_kib : AMX_A_L2_KIB_DEFAULT) << 10;
    int64_t chunk = (int64_t)(budget / ((size_t)rows * k->a_unit_bytes));
    if (chunk > (int64_t)(AMX_SCRATCH_MAX / k->unit_bytes)) chunk = (int64_t)(AMX_SCRATCH_MAX / k->unit_bytes);
    if (chunk < 1) chunk = 1;
    if (chunk > k->units) chunk = k->units;
    const int64_t nchunks = (k->units + chunk - 1) / chunk;
    chunk = (k->units + nchunks - 1) / nchunks;
    const int64_t inner = o->amx_inner_units > 0 && o->amx_inner_units < chunk ? o->amx_inner_units : chunk;
    *out = (amxq_plan){
        .kernel = kernel,
        .rows_block = rows,
        .cols_block = AMX_PANEL,
        .n_items = amx_panels(w) * ((m + rows - 1) / rows),
        .compute = compute,
        .impl = impl,
        .order = AMXQ_ITEMS_COLS_FASTEST,
        .k_units_block = chunk,
        .k_units_inner = inner,
    };
}

/* ---- the driver ------------------------------------------------------------ */

/* Rows [0, rows) of acc (16 floats each) to y, the first `cols` columns. */
static void store_rows(const float *acc, int64_t rows, float *y, int64_t ldy, int cols) {
    const __mmask16 k = (__mmask16)((1u << cols) - 1u);
    for (int64_t r = 0; r < rows; r++) _mm512_mask_storeu_ps(y + r * ldy, k, _mm512_load_ps(acc + 16 * r));
}

/* The sums of an earlier K chunk back from y (the other columns zero). */
static void load_rows(float *acc, int64_t rows, const float *y, int64_t ldy, int cols) {
    const __mmask16 k = (__mmask16)((1u << cols) - 1u);
    for (int64_t r = 0; r < rows; r++) _mm512_store_ps(acc + 16 * r, _mm512_maskz_loadu_ps(k, y + r * ldy));
}

void amxq_tile_drive(const amx_kernel *k, const amxq_plan *plan, const void *ctx, const amx_weights *w, int64_t m,
                     float *y, int64_t ldy, int64_t item0, int64_t item1) {
    if (item1 <= item0) return;
    const int64_t panels = amx_panels(w), rb_rows = plan->rows_block;
    int64_t chunk = plan->k_units_block, inner = plan->k_units_inner;
    _Alignas(64) uint8_t fallback[AMX_FALLBACK_BYTES];
    uint8_t *ub = scratch_get((size_t)chunk * k->unit_bytes);
    if (!ub) {
        ub = fallback;
        chunk = (int64_t)(sizeof fallback / k->unit_bytes);
        if (inner > chunk) inner = chunk;
    }
    _Alignas(64) float acc[AMX_ROWS_BLOCK_MAX * 16];

    amxq_tilecfg cfg, want;
    k->config(&cfg, k->m_block);
    amxq_tile_begin(&cfg);
    for (int64_t it = item0; it < item1;) {
        /* the run of panels [p0, p1) of row block rb in this range */
        const int64_t rb = it / panels, p0 = it % panels;
        const int64_t p1 = p0 + (item1 - it) < panels ? p0 + (item1 - it) : panels;
        const int64_t r0 = rb * rb_rows, r1 = r0 + rb_rows < m ? r0 + rb_rows : m;
        for (int64_t u0 = 0; u0 < k->units; u0 += chunk) {
            const int64_t u1 = u0 + chunk < k->units ? u0 + chunk : k->units;
            for (int64_t p = p0; p < p1; p++) {
                const int64_t left = w->n - p * AMX_PANEL;
                const int cols = left < AMX_PANEL ? (int)left : AMX_PANEL;
                float *yo = y + r0 * ldy + p * AMX_PANEL;
                if (u0 == 0)
                    memset(acc, 0, (size_t)(r1 - r0) * 16 * sizeof(float));
                else
                    load_rows(acc, r1 - r0, yo, ldy, cols);
                k->unpack(ctx, p, u0, u1, ub);
                AMX_COUNT(unpacks, 1);
                for (int64_t s0 = u0; s0 < u1; s0 += inner) {
                    const int64_t s1 = s0 + inner < u1 ? s0 + inner : u1;
                    for (int64_t r = r0; r < r1; r += k->m_block) {
                        const int rows = (int)(r1 - r < k->m_block ? r1 - r : k->m_block);
                        k->config(&want, rows);
                        if (memcmp(&want, &cfg, sizeof cfg) != 0) {
                            cfg = want;
                            amxq_tile_loadconfig(&cfg);
                        }
                        k->run(ctx, ub + (size_t)(s0 - u0) * k->unit_bytes, s0, s1, r, rows, acc + (r - r0) * 16);
                    }
                }
                store_rows(acc, r1 - r0, yo, ldy, cols);
            }
        }
        it += p1 - p0;
    }
    amxq_tile_end();
    flush_counts();
}
