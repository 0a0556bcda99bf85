/*
 * AVX-512 VNNI kernel for Q6_K (layout q6_Kp16, src/repack/repack_kquants.h)
 * against Q8_K activations (act_q8_K.h).
 *
 * ggml's element order: in half h (128 values) with ql' = ql + 64h and
 * qh' = qh + 32h, value e < 32 is ql'[e] & 15 | (qh'[e] & 3) << 4, 32 + e uses
 * ql'[32+e] & 15 and qh' bits 2-3, 64 + e ql'[e] >> 4 and bits 4-5, 96 + e
 * ql'[32+e] >> 4 and bits 6-7. So the 16-element group g (0..7) of half h
 * reads ql lines 4(g&3) + j (high nibbles for g >= 4) and qh lines
 * 4(g&1) + j of half h, field g>>1 of each byte (j = 0..3 the group's VNNI
 * rows); the layout stores those lines in the order of first use.
 * Unpacking one weight vector: nibble (AND, or shift + AND), field moved to
 * bits 4-5 (shift + AND 0x30), OR: about 4 ops, all off the multiply pipes.
 *
 * The 6-bit value q = v + 32 is used unsigned in vpdpbusd; the int32 sum of a
 * group starts at -32 * bs16 (a broadcast load from the activation record),
 * so after the group's 4 vpdpbusd it is exactly sum((q - 32) * a); vpmulld by
 * the int8 group scale and vpaddd accumulate T over the superblock, and the
 * float update is acc += (T * d) * d_a. |T| <= 128*32*127*256 < 2^27 and T
 * restarts every superblock: no overflow for any K.
 *
 * Multiply-pipe cost per superblock, row and 16 columns: 64 vpdpbusd + 16
 * vpmulld + 2 float = 82 (78% of peak at best); the group scale in float
 * instead would be cvt + mul + FMA per group (worse). MR = 8 rows share each
 * unpacked vector. The gap to the 0.78 bound is issue width (Zen 4: about 2
 * zmm ops per cycle): ~14 vector ops per 4 vpdpbusd per row (broadcasts,
 * group init, scale, add, 3 for the shared unpack). So row blocks of more
 * than 8 rows unpack each panel once into 8-bit lines (q6_convert, see
 * vnni_kq.c) and their tiles read those, saving the 3. Measured (Zen 4 core,
 * peak ~460 GOPS, N = K = 4096, one thread), before the conversion: M = 512
 * ~230-265 GOPS (0.49-0.57 of peak), M = 32 264; the conversion adds 10-13%.
 * M = 1 from DRAM: 0.85-1.0 of the streaming-read bandwidth (vnni_kq.c,
 * "Decode"; 0.70-0.79 with layout version 1).
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "src/vnni must be compiled with the AVX-512 flags (see meson.build avx512_args)"
#endif

#include "../formats.h"
#include "../repack/repack_kquants.h"
#include "act_q8_K.h"
#include "vnni_kq_simd.h"

/* Weight vector j (0..3) of group g (0..7) of half h: q + 32 as bytes
 * (kq_decode.h). */
KQ_INLINE __m512i q6_unpack(const uint8_t *p, int h, int g, int j) {
    const __m512i v = kq_nibbles(_mm512_loadu_si512(p + KQ_Q6_QL(h, g, j)), g >= 4);
    return kq_q6_merge(v, _mm512_loadu_si512(p + KQ_Q6_QH(h, g, j)), g);
}

/* One superblock as 64 lines of 8-bit weights, line 4gg + j. */
static void q6_convert(const uint8_t *p, uint8_t *out) {
#pragma GCC unroll 16
    for (int gg = 0; gg < 16; gg++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            _mm512_store_si512(out + 64 * (4 * gg + j), q6_unpack(kq_group_base(p), gg / 8, gg % 8, j));
}
#define Q6K_CONV_BYTES 4096

/* conv = 0: unpack from the panel, sums from 0, over all of K.
 * conv = 1: weights from t->cw (q6_convert), sums continued from y. */
KQ_INLINE void q6_tile(const kq_tile *t, const int mr, const int conv) {
    __m512 acc[KQ_MR];
    kq_start(t, acc, mr, conv && !t->first);
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *p = t->w + (size_t)b * Q6K_PSB;
        const uint8_t *cw = conv ? t->cw + (size_t)b * Q6K_CONV_BYTES : NULL;
        const int8_t *qa = t->q + b * QK_K;
        __m512i tot[KQ_MR];
        for (int r = 0; r < mr; r++) tot[r] = _mm512_setzero_si512();
        if (!conv) kq_touch_lines(p, Q6K_OFF_HALF / 64);
        const kq_rows8 rr = kq_rows8_of(qa, t->q_stride);
#pragma GCC unroll 16
        for (int gg = 0; gg < 16; gg++) {
            const int h = gg / 8, g = gg % 8;
            if (!conv) kq_prefetch_part(t, p, Q6K_PSB, gg, 16);
            const uint8_t *pg = kq_group_base(p);
            const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + Q6K_OFF_SC + 16 * gg)));
            __m512i is[KQ_MR];
            for (int r = 0; r < mr; r++) is[r] = kq_bcast32(t->s + r * t->s_stride + b * Q8K_SUMS_BYTES + 4 * gg);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m512i v = conv ? _mm512_load_si512(cw + 64 * (4 * gg + j)) : q6_unpack(pg, h, g, j);
                for (int r = 0; r < mr; r++)
                    is[r] = conv ? kq_dpbusd_row8(is[r], v, &rr, r, 128 * h + 16 * g + 4 * j)
                                 : _mm512_dpbusd_epi32(is[r], v, kq_bcast32(qa + r * t->q_stride + 128 * h + 16 * g + 4 * j));
            }
            for (int r = 0; r < mr; r++) tot[r] = kq_scale_add(tot[r], is[r], sc);
        }
        const __m512 dw = kq_load_fp16x16(p + Q6K_OFF_D);
        for (int r = 0; r < mr; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(tot[r]), dw),
                                     _mm512_set1_ps(t->d[r * t->d_stride + b]), acc[r]);
    }
    kq_store(t, acc, mr);
}

#define Q6K_BODY(t, mr) q6_tile(t, mr, 0)
#define Q6K_CONV_BODY(t, mr) q6_tile(t, mr, 1)
KQ_TILES(q6k, Q6K_BODY)
KQ_TILES(q6kc, Q6K_CONV_BODY)

const kq_family amxq_vnni_kq_q6_K = {
    .psb = Q6K_PSB,
    .tile = KQ_TILE_TABLE(q6k),
    .convert = q6_convert,
    .conv_bytes = Q6K_CONV_BYTES,
    .tile_conv = KQ_TILE_TABLE(q6kc),
    KQ_NAMES("q6_K"),
};

