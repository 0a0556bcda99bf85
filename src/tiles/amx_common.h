/*
 * What the AMX kernel families (amx_legacy.c, amx_kquants.c) share: the
 * per-call choice between tiles and the VNNI sibling, the work items, and
 * the driver that walks a thread's items (amxq_tile_drive). Include only from files
 * compiled with the tile flags (amx_args, or the emulator build).
 *
 * Work items: (16-column weight panel) x (AMX_M_CHUNK activation rows), rows
 * fastest, so a thread's contiguous range of items visits each panel once
 * and sweeps all its rows over it. For every item the driver
 *   1. unpacks the panel's K range into the thread's scratch (the family's
 *      unpack: tile-ready int8 B tiles plus fp32 scales), unless the scratch
 *      already holds exactly that panel range from the previous item;
 *   2. runs the family's tile kernel on each M block of the item's rows
 *      (16 rows legacy, 32 K-quants), the fp32 sums of those rows living in
 *      an item-sized buffer (AMX_M_CHUNK x 16 floats, 4 KiB, L1);
 *   3. writes the item's outputs, only the panel's real columns.
 * The scratch holds at most AMX_SCRATCH_MAX bytes (a quarter of a Sapphire
 * Rapids L2, which also holds the activation rows streaming past): a panel
 * fits whole up to K = 29k (legacy, 18-20 unpacked bytes per K) or 15k
 * (K-quants, 33.5); beyond that the K range is cut into chunks, each
 * unpacked once per item. If the scratch cannot be allocated the driver uses
 * a stack buffer of AMX_FALLBACK_BYTES, the same code with smaller chunks.
 * Every output element's float operations run in K order whatever the chunk,
 * item or thread, so results do not depend on the split.
 *
 * The price of unpacking each panel once: the activation rows stream past
 * every panel, M * K bytes each time (M = 512, K = 4096: 2 MiB per panel,
 * ~32 bytes per TMUL cycle at 16 cycles per TDP), from L2 for small M and
 * from L3 beyond. Not measured (no AMX machine); if it limits on hardware,
 * items of two or more panels sharing one pass of the rows divide it at the
 * cost of a larger scratch.
 *
 * Tile state: one region per call and thread: amxq_tile_begin with the full
 * config first, amxq_tile_end last; a tail M block loads its own config (and
 * the next full block the full one again) between output blocks, where no
 * accumulator is live.
 */
#ifndef AMXQ_TILES_AMX_COMMON_H
#define AMXQ_TILES_AMX_COMMON_H

#if !defined(__AVX512F__) || !defined(__AVX512BW__)
#error "src/tiles kernels need the AVX-512 flags (amx_args, or avx512_args in the emulator build)"
#endif

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "../kernel.h"
#include "amx_rows.h"
#include "tile_ops.h"

#define AMX_INLINE static inline __attribute__((always_inline))

#define AMX_PANEL 16                    /* output columns per weight panel */
#define AMX_M_CHUNK 64                  /* activation rows per work item */
#define AMX_SCRATCH_MAX ((size_t)512 << 10)
/* Must hold one unpack unit of every family (each family _Static_asserts it):
 * a smaller buffer makes the driver's K chunk 0 and its K loop never ends.
 * The largest unit is Q2_K's, 8832 B (planes, d, dmin, 8 min pairs). */
#define AMX_FALLBACK_BYTES 8832

/* Tiles or the VNNI sibling: the one place the threshold is read (the core
 * resolves amx_min_m; a zero falls back to the handle's default). */
static inline int amx_use_tiles(const amx_weights *w, int64_t m, const amxq_call_opts *o) {
    const int32_t min_m = o && o->amx_min_m > 0 ? o->amx_min_m : w->amx_min_m;
    return m >= min_m;
}

static inline int64_t amx_panels(const amx_weights *w) { return (w->n + AMX_PANEL - 1) / AMX_PANEL; }

static inline int64_t amx_tile_items(const amx_weights *w, int64_t m) {
    return amx_panels(w) * ((m + AMX_M_CHUNK - 1) / AMX_M_CHUNK);
}

/* One family's tile kernel, as the driver sees it. `ctx` is the family's
 * per-call context (activation view, weights). */
typedef struct {
    int m_block;       /* rows per run() call at most: 16 or 32 */
    int64_t units;     /* unpack units along K (blocks or superblocks) */
    size_t unit_bytes; /* unpacked bytes per unit and panel, a multiple of 64 */
    /* the tile config for an M block of `rows` rows (1..m_block) */
    void (*config)(amxq_tilecfg *cfg, int rows);
    /* panel p, units [u0, u1) -> dst (unit u at dst + (u - u0) * unit_bytes) */
    void (*unpack)(const void *ctx, int64_t p, int64_t u0, int64_t u1, uint8_t *dst);
    /* rows [row, row + rows) x the panel over units [u0, u1) of the unpacked
     * buffer `ub`: acc (rows x 16 floats, row stride 16) += their products */
    void (*run)(const void *ctx, const uint8_t *ub, int64_t u0, int64_t u1, int64_t row, int rows, float *acc);
} amx_kernel;

void amxq_tile_drive(const amx_kernel *k, const void *ctx, const amx_weights *w, int64_t m, float *y, int64_t ldy,
               int64_t item0, int64_t item1);

/* The tile plan: items of one panel x AMX_M_CHUNK rows (amxq_tile_drive's order). */
static inline void amx_tile_plan(const amx_weights *w, int64_t m, const char *kernel, amxq_compute_fn compute,
                                 const void *impl, amxq_plan *out) {
    *out = (amxq_plan){
        .kernel = kernel,
        .rows_block = AMX_M_CHUNK,
        .cols_block = AMX_PANEL,
        .n_items = amx_tile_items(w, m),
        .compute = compute,
        .impl = impl,
        .order = AMXQ_ITEMS_ROWS_FASTEST,
    };
}

/* ---- vector-work counters (emulator builds; nothing in the normal build) -- */

#if defined(AMXQ_TILE_EMULATOR)
extern _Thread_local amx_op_counts amxq_amx_ops_tl;
#define AMX_COUNT(field, n) (amxq_amx_ops_tl.field += (uint64_t)(n))
#else
#define AMX_COUNT(field, n) ((void)0)
#endif

#endif
