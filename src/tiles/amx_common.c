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

/* ---- the driver ------------------------------------------------------------ */

/* Rows [0, rows) of acc (16 floats each) to y, the first `cols` columns. */
static void store_rows(const float *acc, int64_t rows, float *y, int64_t ldy, int cols) {
    const __mmask16 k = (__mmask16)((1u << cols) - 1u);
    for (int64_t r = 0; r < rows; r++) _mm512_mask_storeu_ps(y + r * ldy, k, _mm512_load_ps(acc + 16 * r));
}

void amxq_tile_drive(const amx_kernel *k, const void *ctx, const amx_weights *w, int64_t m, float *y, int64_t ldy,
               int64_t item0, int64_t item1) {
    if (item1 <= item0) return;
    const int64_t mchunks = (m + AMX_M_CHUNK - 1) / AMX_M_CHUNK;
    int64_t chunk = (int64_t)(AMX_SCRATCH_MAX / k->unit_bytes);
    if (chunk > k->units) chunk = k->units;
    _Alignas(64) uint8_t fallback[AMX_FALLBACK_BYTES];
    uint8_t *ub = scratch_get((size_t)chunk * k->unit_bytes);
    if (!ub) {
        ub = fallback;
        chunk = (int64_t)(sizeof fallback / k->unit_bytes);
    }
    _Alignas(64) float acc[AMX_M_CHUNK * 16];

    amxq_tilecfg cfg, want;
    k->config(&cfg, k->m_block);
    amxq_tile_begin(&cfg);
    int64_t held_p = -1, held_u0 = -1; /* what ub holds */
    for (int64_t it = item0; it < item1; it++) {
        const int64_t p = it / mchunks, r0 = it % mchunks * AMX_M_CHUNK;
        const int64_t r1 = r0 + AMX_M_CHUNK < m ? r0 + AMX_M_CHUNK : m;
        memset(acc, 0, (size_t)(r1 - r0) * 16 * sizeof(float));
        for (int64_t u0 = 0; u0 < k->units; u0 += chunk) {
            const int64_t u1 = u0 + chunk < k->units ? u0 + chunk : k->units;
            if (held_p != p || held_u0 != u0) {
                k->unpack(ctx, p, u0, u1, ub);
                AMX_COUNT(unpacks, 1);
                held_p = p;
                held_u0 = u0;
            }
            for (int64_t r = r0; r < r1; r += k->m_block) {
                const int rows = (int)(r1 - r < k->m_block ? r1 - r : k->m_block);
                k->config(&want, rows);
                if (memcmp(&want, &cfg, sizeof cfg) != 0) {
                    cfg = want;
                    amxq_tile_loadconfig(&cfg);
                }
                k->run(ctx, ub, u0, u1, r, rows, acc + (r - r0) * 16);
            }
        }
        const int64_t left = w->n - p * AMX_PANEL;
        store_rows(acc, r1 - r0, y + r0 * ldy + p * AMX_PANEL, ldy, left < AMX_PANEL ? (int)left : AMX_PANEL);
    }
    amxq_tile_end();
    flush_counts();
}
