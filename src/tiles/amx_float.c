/*
 * AMX-BF16 tile kernel for BF16 weights (dispatch row amx_bf16). F16 has no
 * tile row: TDPFP16PS (AMX-FP16) exists only on Granite Rapids and later,
 * so F16 handles run the AVX-512 kernels on every machine.
 *
 * Reads the bf16p16 panels (repack_float.h) and the BF16 activation rows
 * (act_float.h), the VNNI sibling's layout and workspace. Both are already
 * tile-ready: 16 lines of a panel (K = 32) are a 16 x 64-byte B tile
 * (pairs of k per dword, the VNNI order TDPBF16PS reads), and 16 activation
 * rows at a 32-K step are an A tile (64 bytes per row, row stride kp * 2, a
 * multiple of 64). So the driver's unpack step copies nothing: B tiles load
 * from the panel with stride 64.
 *
 * Per 16-row block and panel the C tile (fp32) starts from the item's sums,
 * takes one 16 x 16 x 32 TDPBF16PS per 32-K step (a full tile op: 8,192
 * MACs) and is stored back once per K chunk. No scale, no epilogue: the sums
 * stay in the tile.
 *
 * TDPBF16PS rounds in a way no known model reproduces bit for bit (measured
 * on a Sapphire Rapids class Xeon, see tiles/README.md), so this path is not
 * bitwise equal to the AVX-512 one; the tests bound both against the fp64
 * product. Neither path's result depends on the work split, and m below the
 * handle's amx_min_m runs the AVX-512 kernels.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__)
#error "amx_float.c needs the AVX-512 flags (amx_args, or avx512_args in the emulator build)"
#endif

#include <string.h>

#include "../formats.h"
#include "../repack/repack_float.h"
#include "../vnni/act_float.h"
#include "../vnni/vnni_float.h"
#include "amx_common.h"

#define TC 0
#define TA 1
#define TB 2

#define K_STEP 32                   /* k per TDPBF16PS: 16 pairs */
#define B_TILE_BYTES (K_STEP * 32)  /* 16 lines of 64 bytes */
_Static_assert(B_TILE_BYTES <= AMX_FALLBACK_BYTES, "the driver's fallback buffer must hold one B tile");

typedef struct {
    const amx_weights *w;
    size_t panel_bytes;
    const uint8_t *x;  /* bf16 activation rows */
    size_t x_stride;
} float_ctx;

static void bf16_config(amxq_tilecfg *c, int rows) {
    amxq_tilecfg_init(c);
    amxq_tilecfg_dp(c, TC, TA, TB, rows, 16, 2 * K_STEP);
}

/* The panels are already tile-ready: "unpacking" a K range is a plain copy
 * into the driver's per-thread scratch, which keeps the shared driver's one
 * interface (amx_common.h) and costs 2 zmm ops per 64 bytes, once per item
 * and K chunk (shared by the row block's 16-row blocks). */
static void bf16_unpack(const void *ctx, int64_t p, int64_t u0, int64_t u1, uint8_t *dst) {
    const float_ctx *c = ctx;
    memcpy(dst, c->w->data + (size_t)p * c->panel_bytes + (size_t)u0 * B_TILE_BYTES,
           (size_t)(u1 - u0) * B_TILE_BYTES);
    AMX_COUNT(unpack_mem, (u1 - u0) * B_TILE_BYTES / 32);
}

/* acc (rows x 16 floats) += rows [row, row + rows) x the panel over K steps
 * [u0, u1), whose B tiles are in ub. */
static void bf16_run(const void *ctx, const uint8_t *ub, int64_t u0, int64_t u1, int64_t row, int rows, float *acc) {
    const float_ctx *c = ctx;
    (void)rows; /* the config's row count */
    amxq_tile_loadd(TC, acc, 64);
    for (int64_t u = u0; u < u1; u++) {
        amxq_tile_loadd(TA, c->x + (size_t)row * c->x_stride + (size_t)u * 2 * K_STEP, (int64_t)c->x_stride);
        amxq_tile_loadd(TB, ub + (size_t)(u - u0) * B_TILE_BYTES, 64);
        amxq_tile_dpbf16ps(TC, TA, TB);
    }
    amxq_tile_stored(TC, acc, 64);
}

/* ---- the dispatch-table entry point ----------------------------------------- */

struct amx_float_kind {
    const vnni_float_kind *vnni; /* the sibling for m below the threshold */
    const char *name;
};
const amx_float_kind amxq_amx_float_bf16 = {&amxq_vnni_float_bf16, "amx_gemm_bf16_16x16"};

static amx_kernel bf16_kernel(const amx_weights *w) {
    return (amx_kernel){.m_block = 16, .units = float_kp(w->k) / K_STEP, .unit_bytes = B_TILE_BYTES,
                        .a_unit_bytes = 2 * K_STEP, .config = bf16_config, .unpack = bf16_unpack, .run = bf16_run};
}

static void bf16_tile_compute(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws, float *y,
                              int64_t ldy, int64_t item0, int64_t item1) {
    const float_ctx c = {
        .w = w,
        .panel_bytes = float_panel_bytes(w->k),
        .x = ws,
        .x_stride = act_float_row_bytes(1, w->k),
    };
    const amx_kernel k = bf16_kernel(w);
    amxq_tile_drive(&k, p, &c, w, m, y, ldy, item0, item1);
}

void amxq_amx_float_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out) {
    const amx_float_kind *kind = w->impl;
    if (w->type != AMX_TYPE_BF16) amxq_type_unreachable("amxq_amx_float_select", w->type);
    /* without AMX-BF16 (CPUID.7.0:EDX bit 22) the tiles cannot multiply bf16 */
    if (opts->amx_bf16 && amx_use_tiles(w, m, opts)) {
        const amx_kernel k = bf16_kernel(w);
        amxq_tile_plan(w, m, opts, &k, kind->name, bf16_tile_compute, kind, out);
    } else {
        amxq_vnni_float_plan(w, kind->vnni, m, opts, out);
    }
}
