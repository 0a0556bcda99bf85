/*
 * The one header through which AMX kernels issue tile operations.
 *
 * Normal build (files compiled with amx_args): the macros below are Intel's
 * `_tile_*` intrinsics. Test builds (AMXQ_TILE_EMULATOR, the `_emu` and `_san`
 * library configurations): the same macros call the C tile emulator
 * (tile_emu.c), which aborts on anything the hardware would fault on. A kernel
 * source compiles both ways unchanged.
 *
 * Tile numbers are instruction immediates: pass a literal 0..7, or a macro
 * that expands to one (`#define TA0 4`). Variables, enums, `const int` and
 * expressions are rejected at compile time in both builds, and a TDP* whose
 * C, A and B are not three different tiles fails a static assertion.
 *
 * Per-thread discipline. Tile state (config and data) belongs to the OS
 * thread and other libraries in the process may use AMX on the same thread
 * between our calls. So every AMX region (one compute call on one thread)
 * begins with amxq_tile_begin(&cfg), which loads the config, and ends with
 * amxq_tile_end(), which releases the tiles (TILERELEASE: cheaper context
 * switches and signal frames, and nothing left behind for the next user).
 * Build the config in an automatic variable of the region; never share a
 * config object between threads and never skip the load behind a
 * thread-local "already configured" flag. LDTILECFG zeroes all tile data, so
 * loading a different config inside a region (for edge shapes) is fine
 * between output blocks but loses every accumulator.
 *
 * Compiler barriers. GCC's tile intrinsics tell the compiler that TILELOADD
 * reads no memory and that LDTILECFG reads only 8 bytes, so stores that fill
 * an unpack buffer or a config can be deleted or moved past the instruction
 * (gcc 12 -O2 drops both: the whole unpack loop before a `_tile_loadd` of a
 * local buffer disappears). The macros wrap those instructions in memory
 * barriers; TILESTORED already clobbers memory.
 */
#ifndef AMXQ_TILE_OPS_H
#define AMXQ_TILE_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(AMXQ_TILE_EMULATOR)
#include "tile_emu.h"
#else
/* GCC defines __AMX_TILE__, __AMX_INT8__, __AMX_BF16__ for the flags; clang
 * (14 at least) spells them __AMXTILE__, __AMXINT8__, __AMXBF16__ */
#if !(defined(__AMX_TILE__) || defined(__AMXTILE__)) || !(defined(__AMX_INT8__) || defined(__AMXINT8__)) || \
    !(defined(__AMX_BF16__) || defined(__AMXBF16__))
#error "tile_ops.h: compile with amx_args (-mamx-tile -mamx-int8 -mamx-bf16) or define AMXQ_TILE_EMULATOR"
#endif
#include <immintrin.h>
#endif

/* The 64-byte palette-1 configuration read by LDTILECFG. */
typedef struct amxq_tilecfg {
    _Alignas(64) uint8_t palette_id; /* 1 */
    uint8_t start_row;               /* 0 */
    uint8_t reserved[14];            /* 0 */
    uint16_t colsb[16];              /* bytes per row of tile i (i < 8 only, <= 64) */
    uint8_t rows[16];                /* rows of tile i (i < 8 only, <= 16) */
} amxq_tilecfg;
_Static_assert(sizeof(amxq_tilecfg) == 64 && offsetof(amxq_tilecfg, colsb) == 16 &&
                   offsetof(amxq_tilecfg, rows) == 48,
               "the LDTILECFG memory layout");

#define AMXQ_TILE_ROWS 16  /* max rows of a tile */
#define AMXQ_TILE_COLSB 64 /* max bytes per tile row */

/* Palette 1, every tile unconfigured. */
static inline void amxq_tilecfg_init(amxq_tilecfg *c) {
    memset(c, 0, sizeof *c);
    c->palette_id = 1;
}

/* Tile t holds `rows` rows of `colsb` bytes (both 0: unused). */
static inline void amxq_tilecfg_set(amxq_tilecfg *c, int t, int rows, int colsb) {
    c->rows[t] = (uint8_t)rows;
    c->colsb[t] = (uint16_t)colsb;
}

/* The three shapes of one TDP*: C = m rows x n dwords, A = m rows x kbytes,
 * B = kbytes/4 rows x n dwords (kbytes a multiple of 4, <= 64; m, n <= 16).
 * For int8, kbytes = K; for bf16, kbytes = 2K. */
static inline void amxq_tilecfg_dp(amxq_tilecfg *c, int tc, int ta, int tb, int m, int n,
                                   int kbytes) {
    amxq_tilecfg_set(c, tc, m, 4 * n);
    amxq_tilecfg_set(c, ta, m, kbytes);
    amxq_tilecfg_set(c, tb, kbytes / 4, 4 * n);
}

/* Tile numbers: AMXQ_TMM(t) is t if t is (or expands to) a literal 0..7, and
 * a compile error otherwise (undeclared AMXQ_TMM_x_, or an invalid suffix
 * for an expression). */
#define AMXQ_TMM(t) AMXQ_TMM_I(t)
#define AMXQ_TMM_I(t) AMXQ_TMM_##t##_
#define AMXQ_TMM_0_ 0
#define AMXQ_TMM_1_ 1
#define AMXQ_TMM_2_ 2
#define AMXQ_TMM_3_ 3
#define AMXQ_TMM_4_ 4
#define AMXQ_TMM_5_ 5
#define AMXQ_TMM_6_ 6
#define AMXQ_TMM_7_ 7

#define AMXQ_TILE_DISTINCT(c, a, b)                                                          \
    _Static_assert(AMXQ_TMM(c) != AMXQ_TMM(a) && AMXQ_TMM(c) != AMXQ_TMM(b) &&                \
                       AMXQ_TMM(a) != AMXQ_TMM(b),                                            \
                   "TDP*: C, A and B must be three different tiles")

#if defined(AMXQ_TILE_EMULATOR)

#define amxq_tile_loadconfig(cfg)                                                            \
    do {                                                                                     \
        const amxq_tilecfg *amxq_cfg_ = (cfg);                                               \
        amxq_tile_emu_ldtilecfg(amxq_cfg_);                                                  \
    } while (0)
/* Statements, not expressions, as the intrinsics are. */
#define amxq_tile_release()                                                                  \
    do {                                                                                     \
        amxq_tile_emu_tilerelease();                                                         \
    } while (0)
#define amxq_tile_loadd(t, base, stride)                                                     \
    do {                                                                                     \
        amxq_tile_emu_tileloadd(AMXQ_TMM(t), (base), (stride));                              \
    } while (0)
#define amxq_tile_stream_loadd(t, base, stride)                                              \
    do {                                                                                     \
        amxq_tile_emu_tileloaddt1(AMXQ_TMM(t), (base), (stride));                            \
    } while (0)
#define amxq_tile_stored(t, base, stride)                                                    \
    do {                                                                                     \
        amxq_tile_emu_tilestored(AMXQ_TMM(t), (base), (stride));                             \
    } while (0)
#define amxq_tile_zero(t)                                                                    \
    do {                                                                                     \
        amxq_tile_emu_tilezero(AMXQ_TMM(t));                                                 \
    } while (0)
#define AMXQ_TILE_DP_(op, c, a, b)                                                           \
    do {                                                                                     \
        AMXQ_TILE_DISTINCT(c, a, b);                                                         \
        amxq_tile_emu_t##op(AMXQ_TMM(c), AMXQ_TMM(a), AMXQ_TMM(b));                          \
    } while (0)

#else /* real instructions */

#define AMXQ_TILE_MEM_BARRIER() __asm__ volatile("" ::: "memory")
#define amxq_tile_loadconfig(cfg)                                                            \
    do {                                                                                     \
        const amxq_tilecfg *amxq_cfg_ = (cfg);                                               \
        AMXQ_TILE_MEM_BARRIER();                                                             \
        _tile_loadconfig(amxq_cfg_);                                                         \
        AMXQ_TILE_MEM_BARRIER();                                                             \
    } while (0)
#define amxq_tile_release()                                                                  \
    do {                                                                                     \
        _tile_release();                                                                     \
    } while (0)
#define amxq_tile_loadd(t, base, stride)                                                     \
    do {                                                                                     \
        AMXQ_TILE_MEM_BARRIER();                                                             \
        _tile_loadd(AMXQ_TMM(t), (base), (stride));                                          \
        AMXQ_TILE_MEM_BARRIER();                                                             \
    } while (0)
#define amxq_tile_stream_loadd(t, base, stride)                                              \
    do {                                                                                     \
        AMXQ_TILE_MEM_BARRIER();                                                             \
        _tile_stream_loadd(AMXQ_TMM(t), (base), (stride));                                   \
        AMXQ_TILE_MEM_BARRIER();                                                             \
    } while (0)
#define amxq_tile_stored(t, base, stride) _tile_stored(AMXQ_TMM(t), (base), (stride))
#define amxq_tile_zero(t) _tile_zero(AMXQ_TMM(t))
#define AMXQ_TILE_DP_(op, c, a, b)                                                           \
    do {                                                                                     \
        AMXQ_TILE_DISTINCT(c, a, b);                                                         \
        _tile_##op(AMXQ_TMM(c), AMXQ_TMM(a), AMXQ_TMM(b));                                   \
    } while (0)

#endif

/* C (int32) += A x B (bytes, VNNI order); first letter A's signedness,
 * second B's: s = signed, u = unsigned. Products and sums wrap. */
#define amxq_tile_dpbssd(c, a, b) AMXQ_TILE_DP_(dpbssd, c, a, b)
#define amxq_tile_dpbsud(c, a, b) AMXQ_TILE_DP_(dpbsud, c, a, b)
#define amxq_tile_dpbusd(c, a, b) AMXQ_TILE_DP_(dpbusd, c, a, b)
#define amxq_tile_dpbuud(c, a, b) AMXQ_TILE_DP_(dpbuud, c, a, b)
/* C (fp32) += A x B (bf16 pairs). Its rounding on hardware follows no known
 * exact model (see tile_emu.h): results are bounded, not bit-reproducible
 * against the emulator or another kernel family. */
#define amxq_tile_dpbf16ps(c, a, b) AMXQ_TILE_DP_(dpbf16ps, c, a, b)

/* Region begin (load this region's config) and end (TILERELEASE). */
#define amxq_tile_begin(cfg) amxq_tile_loadconfig(cfg)
#define amxq_tile_end() amxq_tile_release()

#endif
