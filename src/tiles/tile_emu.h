/*
 * The AMX tile emulator: eight 16 x 64-byte tile registers and a palette-1
 * configuration per thread, with LDTILECFG, TILELOADD(T1), TILESTORED,
 * TILEZERO, TDPBSSD/TDPBSUD/TDPBUSD/TDPBUUD, TDPBF16PS and TILERELEASE as
 * Intel's instruction reference defines them. Anything the hardware would
 * fault on aborts with a message naming the instruction, the tile and the
 * rule broken.
 *
 * Exact where it matters: the int8 TDPs, loads, stores, TILEZERO and config
 * zeroing are compared bit for bit with real tiles on random operands and
 * every shape class (test_tile_hw_vs_emu, on a machine with AMX).
 * Approximate: TDPBF16PS. The emulator follows the published pseudo-code
 * (per k, the pair's products summed and added to C, each step rounded to
 * nearest even, denormals flushed); real AMX matches no such simple order bit
 * for bit, so no kernel uses TDPBF16PS and its tests bound the error instead
 * of comparing bits.
 *
 * Exists only in the builds compiled with AMXQ_TILE_EMULATOR (the `_emu` and
 * `_san` library configurations and their tests). Kernels never call these
 * functions by name: they use the macros of tile_ops.h, which map here or to
 * the real instructions. Tests may call the inspection and counting functions
 * below directly; a test that runs the emulator beside real tiles in one
 * program defines AMXQ_TILE_EMU_DECLARE to see these declarations and links
 * tile_emu.c built with AMXQ_TILE_EMULATOR.
 */
#ifndef AMXQ_TILE_EMU_H
#define AMXQ_TILE_EMU_H

#include <stddef.h>
#include <stdint.h>

#if defined(AMXQ_TILE_EMULATOR) || defined(AMXQ_TILE_EMU_DECLARE)

/* The instructions. Tile numbers are 0..7; `cfg` points to 64 bytes. */
void amxq_tile_emu_ldtilecfg(const void *cfg);
void amxq_tile_emu_sttilecfg(void *cfg);
void amxq_tile_emu_tilerelease(void);
void amxq_tile_emu_tileloadd(int t, const void *base, ptrdiff_t stride);
void amxq_tile_emu_tileloaddt1(int t, const void *base, ptrdiff_t stride);
void amxq_tile_emu_tilestored(int t, void *base, ptrdiff_t stride);
void amxq_tile_emu_tilezero(int t);
void amxq_tile_emu_tdpbssd(int c, int a, int b);
void amxq_tile_emu_tdpbsud(int c, int a, int b);
void amxq_tile_emu_tdpbusd(int c, int a, int b);
void amxq_tile_emu_tdpbuud(int c, int a, int b);
void amxq_tile_emu_tdpbf16ps(int c, int a, int b);

/* Instruction counts of one thread (or summed over threads), the model of
 * AMX cost that tests and the benchmark report. `macs` counts the
 * multiply-adds the TDP* instructions performed on their configured shapes
 * (int8: rows(C) x colsb(C)/4 x colsb(A); bf16: half that); a full
 * 16 x 16 x 64 TDPBSSD is 16,384. */
typedef struct {
    uint64_t ldtilecfg;   /* every LDTILECFG, palette 0 included */
    uint64_t tilerelease;
    uint64_t tileloadd;   /* TILELOADD and TILELOADDT1 */
    uint64_t tileloaddt1; /* of which streaming */
    uint64_t tilestored;
    uint64_t tilezero;
    uint64_t tdpb_int8;   /* TDPBSSD, TDPBSUD, TDPBUSD, TDPBUUD */
    uint64_t tdpbf16ps;
    uint64_t macs;
} amxq_tile_counts;

/* The calling thread's counts since its last reset, and the reset. */
void amxq_tile_emu_counts(amxq_tile_counts *out);
void amxq_tile_emu_counts_reset(void);
/* Counts of all threads: each thread adds what it counted to this total when
 * its tile state returns to init (TILERELEASE, or LDTILECFG of palette 0),
 * which every AMX region does at its end. */
void amxq_tile_emu_counts_all(amxq_tile_counts *out);
void amxq_tile_emu_counts_all_reset(void);
/* "per 1000 MACs: 12.5 tile loads, 0.98 stores, 1.95 TDP (512 MACs each), ..."
 * into buf; returns buf. */
const char *amxq_tile_emu_mix(const amxq_tile_counts *c, char *buf, size_t len);

/* Inspection for tests: the raw 16 x 64 bytes of tile t of the calling thread
 * (peek), and overwriting them (poke, e.g. with garbage to show what an
 * instruction zeroes). Neither is an instruction; neither faults or counts. */
void amxq_tile_emu_peek(int t, uint8_t out[16 * 64]);
void amxq_tile_emu_poke(int t, const uint8_t in[16 * 64]);

/* Region discipline checks.
 * simulate_foreign_use(): as if another library had used AMX on every thread
 * since its last LDTILECFG: each thread's next tile instruction other than
 * LDTILECFG and TILERELEASE aborts unless the thread loaded a config first.
 * This catches kernels that skip LDTILECFG at the start of a region (e.g.
 * behind a thread-local "already configured" flag).
 * threads_configured(): how many threads hold a tile config right now; it is
 * 0 after every AMX region has ended with TILERELEASE (a thread that exits
 * holding a config stays counted: that, too, is a region left open). */
void amxq_tile_emu_simulate_foreign_use(void);
int amxq_tile_emu_threads_configured(void);

#endif /* AMXQ_TILE_EMULATOR || AMXQ_TILE_EMU_DECLARE */
#endif
