/*
 * What the AMX kernel families (amx_legacy.c, amx_kquants.c, amx_float.c)
 * share: the per-call choice between tiles and the VNNI sibling, the work
 * items, and the driver that walks a thread's items (amxq_tile_drive).
 * Include only from files compiled with the tile flags (amx_args, or the
 * emulator build).
 *
 * Work items: (row block of up to amx_rows_block activation rows, 256 by
 * default) x (one 16-column weight panel), panels fastest. A thread's
 * contiguous range of items thus takes a row block and sweeps the weight
 * panels past it: the row block's activations are what stays in L2, and
 * each weight panel is read once per row block. The other order (one panel
 * held, every row streaming past it) re-reads all M x K activation bytes for
 * every 16 columns; measured with a plain int8 GEMM probe on a Xeon with AMX
 * (family 6 model 167), M = 512, N = K = 4096: 1.38-1.46 TOPS streaming the
 * rows, 1.97 with 256 rows x K held in L2 (128 rows: 1.94, 512: 1.39).
 *
 * K is cut into chunks so that a row block's activations over one chunk fit
 * the L2 budget (amx_a_l2_kib, 1 MiB by default: half a Sapphire Rapids L2,
 * the other half for the unpacked panel and the stream of packed weights).
 * Per chunk the thread walks its panels; for each it
 *   1. unpacks the panel's chunk into the thread's scratch (the family's
 *      unpack: tile-ready int8 B tiles plus fp32 scales);
 *   2. runs the family's tile kernel on each M block of the row block (16
 *      rows legacy and BF16, 32 K-quants), inner units at a time (all M
 *      blocks of the row block over each inner step before the next), the fp32 sums of the
 *      row block in an item-sized buffer (rows x 16 floats, 16 KiB at most,
 *      L1);
 *   3. writes the sums to the item's outputs (only the panel's real
 *      columns); a later chunk reads them back from there.
 * So a panel is unpacked once per row block: ceil(M / rows) times per call
 * (M / 256 with the default blocking).
 * Every output element's float operations run in K order whatever the chunk,
 * item or thread (the sums pass through y unchanged between chunks), so
 * results do not depend on the split or the blocking.
 *
 * If the scratch cannot be allocated the driver uses a stack buffer of
 * AMX_FALLBACK_BYTES, the same code with smaller chunks.
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
#define AMX_SCRATCH_MAX ((size_t)512 << 10) /* the unpacked chunk of one panel, at most */
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

/* One family's tile kernel, as the driver sees it. `ctx` is the family's
 * per-call context (activation view, weights). */
typedef struct {
    int m_block;         /* rows per run() call at most: 16 or 32 */
    int64_t units;       /* unpack units along K (blocks, superblocks or K steps) */
    size_t unit_bytes;   /* unpacked bytes per unit and panel, a multiple of 64 */
    size_t a_unit_bytes; /* activation bytes per row and unit the tiles read */
    /* the tile config for an M block of `rows` rows (1..m_block) */
    void (*config)(amxq_tilecfg *cfg, int rows);
    /* panel p, units [u0, u1) -> dst (unit u at dst + (u - u0) * unit_bytes) */
    void (*unpack)(const void *ctx, int64_t p, int64_t u0, int64_t u1, uint8_t *dst);
    /* rows [row, row + rows) x the panel over units [u0, u1) of the unpacked
     * buffer `ub`: acc (rows x 16 floats, row stride 16) += their products */
    void (*run)(const void *ctx, const uint8_t *ub, int64_t u0, int64_t u1, int64_t row, int rows, float *acc);
} amx_kernel;

void amxq_tile_drive(const amx_kernel *k, const amxq_plan *plan, const void *ctx, const amx_weights *w, int64_t m,
                     float *y, int64_t ldy, int64_t item0, int64_t item1);

/* The tile plan (amxq_tile_drive's items and K chunks) for kernel `k`. */
void amxq_tile_plan(const amx_weights *w, int64_t m, const amxq_call_opts *o, const amx_kernel *k, const char *kernel,
                    amxq_compute_fn compute, const void *impl, amxq_plan *out);

/* ---- vector-work counters (emulator builds; nothing in the normal build) -- */

#if defined(AMXQ_TILE_EMULATOR)
extern _Thread_local amx_op_counts amxq_amx_ops_tl;
#define AMX_COUNT(field, n) (amxq_amx_ops_tl.field += (uint64_t)(n))
#else
#define AMX_COUNT(field, n) ((void)0)
#endif

#endif
