/* AVX-512 helpers shared by the 256-element VNNI kernels (include only from
 * files compiled with the AVX-512 flags). */
#ifndef AMXQ_VNNI_KQ_SIMD_H
#define AMXQ_VNNI_KQ_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kq_decode.h" /* KQ_INLINE and the line decoders */
#include "vnni_kq.h"

/* A dword from memory in all 16 lanes; vpdpbusd takes it as an embedded
 * broadcast operand, so it costs a load, not an ALU op. */
KQ_INLINE __m512i kq_bcast32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* acc += w . (a dword of activations in all 16 lanes), exact (vpdpbusd:
 * unsigned weight bytes x signed activation bytes). The dword is vpdpbusd's
 * embedded-broadcast memory operand: GCC 12 does not fold the set1 of
 * kq_bcast32 into it and emits a separate vpbroadcastd per product, one more
 * zmm op on the vector pipes for every vpdpbusd of an M = 1 tile. Used by
 * Q4_K / Q5_K; in Q6_K it made prefill 17-23% slower (more instructions
 * around the asm operands), and IQ4_XS gained nothing, so those two keep
 * kq_bcast32. With 8 rows, one pointer per row is more than the GPRs: GCC
 * spilled the pointers (Q6_K's converted tiles fell from 0.46 to 0.27 of
 * the vpdpbusd peak on Zen 5); kq_dpbusd_row8 below addresses the 8 rows
 * from 4 registers instead. */
KQ_INLINE __m512i kq_dpbusd_bcast(__m512i acc, __m512i w, const void *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)p));
    return acc;
}

/* acc += w . (the dword at row r, byte d of 8 activation rows), the dword
 * an embedded-broadcast operand addressed from three row bases (rows 0, 3
 * and 6) and the row stride as index register: 4 GPRs for the 8 rows. With
 * one pointer per row, GCC 12 ran out of GPRs and spilled the pointers.
 * Used by the converted tiles (weights from an L1 buffer, one vpdpbusd per
 * broadcast): Q2_K / Q3_K (vnni_q23_K.c, figures there) and Q6_K (M = 512,
 * Zen 5: 3-6% over separate vpbroadcastd loads). */
typedef struct {
    uintptr_t b0, b3, b6; /* integers: rows past a short tile's last are never read */
    int64_t s;
} kq_rows8;

KQ_INLINE kq_rows8 kq_rows8_of(const int8_t *q, int64_t stride) {
    const uintptr_t b = (uintptr_t)q;
    kq_rows8 rr = {b, b + 3 * (uintptr_t)stride, b + 6 * (uintptr_t)stride, stride};
    /* The vpdpbusd asm below reads memory that its operands do not name;
     * this barrier (the asm statements depend on its outputs) orders them
     * after every store the compiler knows of, such as the activations'. */
    __asm__("" : "+r"(rr.b0), "+r"(rr.b3), "+r"(rr.b6), "+r"(rr.s) : : "memory");
    return rr;
}

#define KQ_DP_ROW0(base, d) __asm__("vpdpbusd %c[o](%[b])%{1to16%}, %[w], %[a]" : [a] "+v"(acc) : [w] "v"(w), [b] "r"(base), [o] "i"(d))
#define KQ_DP_ROWS(base, sc, d)                                                                          \
    __asm__("vpdpbusd %c[o](%[b],%[s]," #sc ")%{1to16%}, %[w], %[a]"                                    \
            : [a] "+v"(acc)                                                                             \
            : [w] "v"(w), [b] "r"(base), [s] "r"(rr->s), [o] "i"(d))
KQ_INLINE __m512i kq_dpbusd_row8(__m512i acc, __m512i w, const kq_rows8 *rr, const int r, const int d) {
    switch (r) {
    case 0: KQ_DP_ROW0(rr->b0, d); break;
    case 1: KQ_DP_ROWS(rr->b0, 1, d); break;
    case 2: KQ_DP_ROWS(rr->b0, 2, d); break;
    case 3: KQ_DP_ROW0(rr->b3, d); break;
    case 4: KQ_DP_ROWS(rr->b3, 1, d); break;
    case 5: KQ_DP_ROWS(rr->b3, 2, d); break;
    case 6: KQ_DP_ROW0(rr->b6, d); break;
    default: KQ_DP_ROWS(rr->b6, 1, d); break;
    }
    return acc;
}

/* The first tile over a panel reads it from L3 or DRAM; without help the
 * hardware prefetchers let it run at ~60% of the speed of the later tiles,
 * which read the panel from L2 (M = 8, N = K = 4096, Q4_K: 205 -> 345 GOPS
 * with this; M = 32: 270 -> 338). So that tile prefetches the panel
 * superblock KQ_PF_DIST ahead into L2, spread over the sub-block loop (a few
 * lines per step rather than a burst: a burst at the start of each superblock
 * made M = 1 slower). Past the last panel the addresses leave the
 * allocation; prefetches never fault.
 *
 * At M = 1 only where the CPU needs it (vnni_kq.c "Decode", tuning.c): on
 * Zen 4 software prefetches from DRAM are limited by the L1 miss buffers to ~0.7 of the read bandwidth, whatever
 * the distance (1, 2, 4, 12 superblocks) or hint (T0 worse). They had looked
 * necessary for Q5_K and Q6_K only because those kernels first touched their
 * lines out of order (Q5_K's qh and qs lines alternately, Q6_K's layout
 * version 1), which the hardware prefetchers do not follow; with ascending
 * first touches all four types stream at 0.85-1.0 without them. */
#define KQ_PF_DIST 4
KQ_INLINE void kq_prefetch_part(const kq_tile *t, const uint8_t *p, size_t psb, int part, int parts) {
    if (!t->prefetch) return;
    const size_t lines = psb / 64, per = (lines + parts - 1) / parts;
    const uint8_t *q = p + KQ_PF_DIST * psb;
    for (size_t l = part * per; l < (part + 1) * per && l < lines; l++) _mm_prefetch((const char *)(q + 64 * l), _MM_HINT_T1);
}

/* Reads one byte of each of the first `lines` lines of a panel superblock:
 * its scale header (and Q5_K's qh lines, which the kernel reads alternately
 * with the qs lines), which the kernels otherwise first use later. With it
 * the superblock is first touched in ascending address order. With this
 * (and, for Q4_K / Q5_K, kq_dpbusd_bcast and Q4_K's shift-free unpacking)
 * M = 4 from DRAM ran 12-27% faster (benchmark medians of 3 interleaved runs,
 * one thread); at M = 1, Q5_K went from 0.67-0.70 to 0.88-0.89 of the read
 * bandwidth once its qh lines were touched here too. */
KQ_INLINE void kq_touch_lines(const uint8_t *p, int lines) {
    for (int l = 0; l < lines; l++) (void)*(volatile const uint8_t *)(p + 64 * l);
}

/* The superblock's address, hidden from GCC once per group of 16 weights;
 * the group's lines are then loaded as displacements from it. Unhidden, GCC
 * notices that Q6_K reads each ql line twice and each qh line four times per
 * superblock (Q3_K each hm line eight times), keeps them in registers
 * between the uses and spills accumulators to make room (Q6_K: 131 zmm
 * stores per superblock at MR = 8). Hiding each line's address instead, as
 * was done first, made GCC hold one pointer per line across the unrolled
 * superblock, more than the GPRs, shuttled through xmm registers: per
 * superblock at MR = 4, 352 vmovq in Q3_K and 118 in Q6_K against 256
 * vpdpbusd. Per group: none. Zen 5, 14336x4096, one thread, three
 * alternated runs, x read bandwidth: Q3_K M = 1 / 4 / 8 0.72-0.75 / 0.40-0.42
 * / 0.18-0.19 -> 0.82-0.94 / 0.52-0.64 / 0.25-0.27; Q6_K 0.75 / 0.68-0.71 /
 * 0.42-0.45 -> 0.78 / 0.74-0.75 / 0.46-0.51; prefill (converted panels)
 * unchanged. Q4_K / Q5_K load plainly: hiding made no difference or was
 * slower there (Q5_K reloads its qh lines per sub-block). */
KQ_INLINE const uint8_t *kq_group_base(const uint8_t *p) {
    __asm__("" : "+r"(p));
    return p;
}

/* tot += sum * scale, kept as a running register sum. Without the empty asm
 * GCC reassociates the 8 or 16 integer products of a superblock, stores each
 * one to the stack and adds them at the end (Q6_K at MR = 8: 157 zmm stores
 * per superblock, and zmm stores are costly on Zen 4). */
KQ_INLINE __m512i kq_scale_add(__m512i tot, __m512i sum, __m512i scale) {
    tot = _mm512_add_epi32(tot, _mm512_mullo_epi32(sum, scale));
    __asm__("" : "+v"(tot));
    return tot;
}

/* 16 fp16 values widened exactly. */
KQ_INLINE __m512 kq_load_fp16x16(const void *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* The tile's float accumulators at the start of its K range: zero, or (a
 * later chunk of a converted row block) the sums it stored to y. */
KQ_INLINE void kq_start(const kq_tile *t, __m512 *acc, int mr, const int from_y) {
    const __mmask16 k = (__mmask16)((1u << t->ncols) - 1u);
    for (int r = 0; r < mr; r++) acc[r] = from_y ? _mm512_maskz_loadu_ps(k, t->y + r * t->ldy) : _mm512_setzero_ps();
}

/* Writes the tile's float accumulators: only the first ncols columns. */
KQ_INLINE void kq_store(const kq_tile *t, const __m512 *acc, int mr) {
    const __mmask16 k = (__mmask16)((1u << t->ncols) - 1u);
    for (int r = 0; r < mr; r++) _mm512_mask_storeu_ps(t->y + r * t->ldy, k, acc[r]);
}

/* Instantiates name_<mr>(const kq_tile *) for mr = 1..8 from a body
 * body(t, mr) that is always_inline with mr a constant. */
#define KQ_TILES(name, body)                                                        \
    static void name##_1(const kq_tile *t) { body(t, 1); }                           \
    static void name##_2(const kq_tile *t) { body(t, 2); }                           \
    static void name##_3(const kq_tile *t) { body(t, 3); }                           \
    static void name##_4(const kq_tile *t) { body(t, 4); }                           \
    static void name##_5(const kq_tile *t) { body(t, 5); }                           \
    static void name##_6(const kq_tile *t) { body(t, 6); }                           \
    static void name##_7(const kq_tile *t) { body(t, 7); }                           \
    static void name##_8(const kq_tile *t) { body(t, 8); }
#define KQ_TILE_TABLE(name) {NULL, name##_1, name##_2, name##_3, name##_4, name##_5, name##_6, name##_7, name##_8}

/* kq_family.name_gemv / name_gemm of a type named `tname` ("q4_K"). */
#define KQ_NAMES(tname)                                                                        \
    .name_gemv = {NULL, "vnni512_gemv_" tname "_1x16", "vnni512_gemv_" tname "_2x16",          \
                  "vnni512_gemv_" tname "_3x16", "vnni512_gemv_" tname "_4x16"},               \
    .name_gemm = "vnni512_gemm_" tname "_8x16"

#endif
