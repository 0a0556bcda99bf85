/*
 * AVX-512 VNNI kernel for IQ4_XS (layout iq4_xsp16,
 * src/repack/repack_kquants.h) against Q8_K activations (act_q8_K.h).
 *
 * The 4-bit indices select from kvalues_iq4nl (-127..113); the kernel looks
 * them up with vpshufb in a table holding value + 128 (1..241, so unsigned
 * for vpdpbusd) in every 128-bit lane: AND 0x0F (high nibble: shift first),
 * then the shuffle, 2.5 ops per weight vector shared by the MR rows. (vpermb
 * would save the AND but needs AVX512-VBMI, which the ISA probe does not
 * require: Cascade Lake has VNNI without it.)
 * The +128 is removed exactly: each 32-element sub-block's int32 sum starts
 * at -128 * bs32 (broadcast from the activation record), so after 8 vpdpbusd
 * it is sum(value * a); vpmulld by (ls - 32) and vpaddd give
 * T = sum_s (ls_s - 32) * sum(value * a), and acc += (T * d) * d_a once per
 * superblock. |T| <= 32*127*127*256 < 2^27, restarted every superblock.
 *
 * Multiply-pipe cost per superblock, row and 16 columns: 64 vpdpbusd + 8
 * vpmulld + 2 float = 74 (86% of peak at best); ggml's order (a float update
 * per sub-block) would cost 8 more FMAs and 8 more multiplies. Measured (Zen 4
 * core, peak ~460 GOPS, N = K = 4096, one thread): M = 512 ~305-320 GOPS
 * (0.66-0.69), M = 32 ~330; M = 1 from DRAM 0.85-1.0 of the streaming-read
 * bandwidth (vnni_kq.c, "Decode").
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "src/vnni must be compiled with the AVX-512 flags (see meson.build avx512_args)"
#endif

#include "../formats.h"
#include "../repack/repack_kquants.h"
#include "act_q8_K.h"
#include "vnni_kq_simd.h"

KQ_INLINE void iq4xs_tile(const kq_tile *t, const int mr, const __m512i table) {
    const int na = mr <= 2 ? 2 : 1;
    __m512 acc[KQ_MR];
    for (int r = 0; r < mr; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *p = t->w + (size_t)b * IQ4XS_PSB;
        const int8_t *qa = t->q + b * QK_K;
        __m512i tot[KQ_MR];
        for (int r = 0; r < mr; r++) tot[r] = _mm512_setzero_si512();
        kq_touch_lines(p, IQ4XS_OFF_QS / 64);
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) {
            kq_prefetch_part(t, p, IQ4XS_PSB, s, 8);
            const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + IQ4XS_OFF_LS + 16 * s)));
            __m512i is[2][KQ_MR];
            for (int r = 0; r < mr; r++) {
                is[0][r] = kq_bcast32(t->s + r * t->s_stride + b * Q8K_SUMS_BYTES + 4 * s);
                is[1][r] = _mm512_setzero_si512();
            }
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) {
                const __m512i line = _mm512_loadu_si512(p + IQ4XS_OFF_QS + 64 * (4 * s + l));
                const __m512i vlo = kq_iq4_values(table, line, 0), vhi = kq_iq4_values(table, line, 1);
                const int a = l % na;
                for (int r = 0; r < mr; r++) {
                    const int8_t *ar = qa + r * t->q_stride + 32 * s + 4 * l;
                    is[a][r] = _mm512_dpbusd_epi32(is[a][r], vlo, kq_bcast32(ar));
                    is[a][r] = _mm512_dpbusd_epi32(is[a][r], vhi, kq_bcast32(ar + 16));
                }
            }
            for (int r = 0; r < mr; r++) {
                const __m512i sum = na == 2 ? _mm512_add_epi32(is[0][r], is[1][r]) : is[0][r];
                tot[r] = kq_scale_add(tot[r], sum, sc);
            }
        }
        const __m512 dw = kq_load_fp16x16(p + IQ4XS_OFF_D);
        for (int r = 0; r < mr; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(tot[r]), dw),
                                     _mm512_set1_ps(t->d[r * t->d_stride + b]), acc[r]);
    }
    kq_store(t, acc, mr);
}

#define IQ4XS_BODY(t, mr) iq4xs_tile(t, mr, kq_iq4_table())
KQ_TILES(iq4xs, IQ4XS_BODY)

const kq_family amxq_vnni_kq_iq4_xs = {
    .psb = IQ4XS_PSB,
    .tile = KQ_TILE_TABLE(iq4xs),
    KQ_NAMES("iq4_xs"),
};

