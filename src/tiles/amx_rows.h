/*
 * Entry points of the AMX dispatch-table rows (amx_q4_0, amx_q4_1, amx_q5_0,
 * amx_q5_1, amx_q8_0, amx_iq4_nl: amx_legacy.c; amx_q2_K, amx_q3_K, amx_q4_K,
 * amx_q5_K, amx_q6_K, amx_iq4_xs: amx_kquants.c; amx_bf16: amx_float.c).
 * Plain C: the core library calls them only for rows api.c chose, which it
 * does only after amxq_isa_usable(AMX_ISA_AMX) said yes.
 *
 * Each row shares its packed layout, packer, unpacker and activation
 * quantizer with its AVX-512 VNNI sibling, so a workspace quantized for a
 * handle is valid whichever path a call takes. Per call, m >= amx_min_m (the
 * resolved amx_call_opts) runs the tile kernels; smaller m runs the sibling's
 * VNNI kernels, with the sibling's work items.
 */
#ifndef AMXQ_TILES_AMX_ROWS_H
#define AMXQ_TILES_AMX_ROWS_H

#include <stdint.h>

#include "../kernel.h"

/*
 * Default smallest m run on tiles: one full A tile. Chosen by argument before
 * AMX hardware was reachable; the argument, in numbers:
 *   - below 16 rows a TDP uses m/16 of its tile, and the per-call fixed
 *     costs (LDTILECFG + TILERELEASE per thread; unpacking each weight panel,
 *     ~40 vector ops per 1,024 weights for Q4_0 and 160-260 for the
 *     K-quants) are shared by fewer rows;
 *   - the VNNI kernels already share each unpacked weight vector between 4
 *     (legacy) or 8 (K-quant) rows, and for m <= 8 a call is near the memory
 *     bandwidth bound anyway, where tiles cannot help;
 *   - peers: ggml switches at m = 2, ktransformers above ~4 rows per expert,
 *     ipex at 32; 16 sits between, at the first m that fills a tile.
 * Overridable per call (amx_gemm_opts.amx_min_m) and by AMXQ_AMX_MIN_M; the
 * threshold never changes a result (the tile and VNNI paths are bitwise
 * identical, which test_variants asserts).
 */
#define AMX_MIN_M_DEFAULT 16

/*
 * Q4_K and Q5_K: 32. Their tile kernels lose to their VNNI kernels at
 * m = 16 on both AMX machines measured. From m = 32 they win clearly on the
 * first and are even on the second (within 10 % on one thread, where Q4_K
 * still trails at 32 and 64, ahead on two threads), so 32 costs little there
 * and gains on the first
 * (`amxq-bench --variant all --shapes 4096x4096 --m 16,32,64`, one thread
 * unless said, GOPS AMX row / VNNI row):
 *   Xeon family 6 model 167 (KVM guest): Q4_K m=16 299/345, m=32 433/355;
 *     Q5_K m=16 295/294, m=32 429/299.
 *   Xeon family 6 model 207 (Emerald Rapids, KVM guest): Q4_K m=16 225/254
 *     (two threads 415/474), m=32 220/248 (468/445), m=64 258/264 (556/533);
 *     Q5_K m=16 209/234 (361/374), m=32 194/188 (388/382).
 * For the other types the two machines disagree at m = 16 (Q4_1: 239/313
 * on the first, 218/206 on the second; Q8_0 252/291 and 233/194), so they
 * keep 16 until more machines are measured. The threshold never changes a
 * result, only which kernel computes it.
 */
#define AMX_MIN_M_Q45_K 32

/* The rows' per-type descriptors (impl): the tile kernel and its VNNI sibling. */
typedef struct amx_legacy_kind amx_legacy_kind;
extern const amx_legacy_kind amxq_amx_legacy_q4_0, amxq_amx_legacy_q4_1, amxq_amx_legacy_q5_0, amxq_amx_legacy_q5_1,
    amxq_amx_legacy_q8_0, amxq_amx_legacy_iq4_nl;
typedef struct amx_kq_kind amx_kq_kind;
extern const amx_kq_kind amxq_amx_kq_q2_K, amxq_amx_kq_q3_K;
extern const amx_kq_kind amxq_amx_kq_q4_K, amxq_amx_kq_q5_K, amxq_amx_kq_q6_K, amxq_amx_kq_iq4_xs;

typedef struct amx_float_kind amx_float_kind;
extern const amx_float_kind amxq_amx_float_bf16; /* amx_float.c; F16 has no tile row */

/* m >= the resolved amx_min_m: the tile kernel's plan; else the sibling's. */
void amxq_amx_legacy_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);
void amxq_amx_kq_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);
void amxq_amx_float_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);

#if defined(AMXQ_TILE_EMULATOR)
/*
 * Vector work of the tile kernels, counted in the emulator builds only (the
 * instruction-mix model; tile instructions are counted by the emulator). Each
 * kernel step adds the AVX-512 instructions its source issues, one per
 * intrinsic: ALU ops (convert, multiply, FMA, shift, logic, blend, vpdpwssd)
 * and zmm memory ops (loads, broadcasts, stores) apart. `tile_blocks` counts
 * the (16 x 16 output tile, K block) steps the epilogues ran: K block = 32
 * for the legacy types, 256 for the K-quants. Threads add their counts to the
 * totals at the end of every compute call.
 */
typedef struct {
    uint64_t tile_blocks;
    uint64_t epi_alu, epi_mem;       /* scale epilogue, from the stored C tiles to the fp32 sums */
    uint64_t unpack_alu, unpack_mem; /* packed panel to tile-ready weights */
    uint64_t unpacks;                /* panel K-chunks unpacked */
} amx_op_counts;

void amxq_amx_op_counts_all(amx_op_counts *out);
void amxq_amx_op_counts_all_reset(void);

/* Tests: refuse = 1 makes every thread's unpack scratch allocation fail, so
 * the kernels take their stack-buffer fallback (small K chunks). */
void amxq_amx_test_refuse_scratch(int refuse);
#endif

#endif
