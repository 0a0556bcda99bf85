/*
 * AVX-512 VNNI kernels for Q4_K and Q5_K (layouts q4_Kp16 / q5_Kp16, see
 * src/repack/repack_kquants.h) against Q8_K activations (act_q8_K.h).
 *
 * A tile is MR rows (1..8) x 16 columns over all of K. Per superblock and
 * sub-block s (32 K values = 8 VNNI rows): each 64-byte qs line is unpacked
 * once and fed to MR vpdpbusd (unsigned weight x signed activation,
 * broadcast from memory), giving the exact int32 sum(q*a) per (row, column).
 * It is scaled in int32 (vpmulld by the 6-bit scale, vpaddd), so a
 * superblock ends with T = sum_s sc_s*sum(q*a) and, from 4 vpdpwssd of the
 * min pairs against the activation's per-32 sums, Mn = sum_s mn_s*bs32_s.
 * The float update per superblock is
 *     acc += (T*d - Mn*dmin) * d_a       (cvt, mul, fmsub, fma)
 * Unpacking: Q5_K takes the low nibbles by AND 0x0F, the high ones by shift
 * + AND, and adds the 5th bit from the qh line (shift + AND 0x10 + OR; the
 * decoders of kq_decode.h, shared with the AMX unpack).
 * Q4_K saves the shift: high nibbles are used in place, AND 0xF0, i.e. 16 q,
 * and the even sub-blocks' scales are multiplied by 16 instead, so the
 * superblock sum is exactly 16 T and is scaled by d/16. Both are exact
 * (int32 room below; d/16 is an exact float, fp16 d being >= 2^-24), and
 * float(16 T) * (d/16) is the same real number as float(T) * d, so the
 * rounded result is bitwise the one of the unscaled form.
 * Integer ranges: a sub-block's scaled sum is at most 32*15*128*(16*63) <
 * 2^26 for Q4_K (32*31*128*63 for Q5_K), so |16 T| < 2^29 (Q5_K |T| <
 * 2^26), and Mn <= 63*4096*8 < 2^22. Both restart every superblock, so no
 * K (up to 2^31) can overflow them.
 *
 * Cost per superblock, row and 16 columns, on the two multiply pipes (which
 * vpdpbusd, vpmulld, vpdpwssd and float mul/FMA share): 64 vpdpbusd + 8 vpmulld
 * + 4 vpdpwssd + 3 float = 79, so 81% of the vpdpbusd peak at best. Unpacking
 * (1 op per weight vector for Q4_K, ~4 for Q5_K) and vpaddd/cvt run on the
 * other pipes and are shared by the MR rows; at MR = 8 they stay below the
 * multiply pipes' time even for Q5_K. Registers at MR = 8: 8 sub-block sums +
 * 8 superblock sums + 8 float accumulators + constants and the weight vector.
 * For MR <= 2 the sub-block sum is split over two accumulators so that the
 * 4-cycle vpdpbusd latency does not serialize the 8 updates.
 *
 * Measured on a Zen 4 core (zmm vpdpbusd 1/cycle, peak ~460 GOPS), N = K =
 * 4096, one thread: M = 512 Q4_K ~305 GOPS (0.66 of peak), Q5_K ~290 (0.63);
 * M = 32: 334 / 318. MR = 6 and MR = 8 measured the same (the multiply pipes,
 * not the shared unpacking, are the limit), so MR = 8 keeps fewer tiles.
 * M = 1, N = 14336, K = 4096 from DRAM: 0.85-1.0 of the machine's
 * streaming-read bandwidth (no software prefetching there, and Q5_K's qh
 * lines touched with the header so that first touches ascend: vnni_kq.c,
 * "Decode").
 */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "src/vnni must be compiled with the AVX-512 flags (see meson.build avx512_args)"
#endif

#include "../formats.h"
#include "../repack/repack_kquants.h"
#include "act_q8_K.h"
#include "vnni_kq_simd.h"

KQ_INLINE void q45_tile(const kq_tile *t, const int mr, const int q5) {
    const size_t psb = q5 ? Q5K_PSB : Q4K_PSB, off_qs = q5 ? Q5K_OFF_QS : Q4K_OFF_QS;
    const int na = mr <= 2 ? 2 : 1;
    const __m512i lo4 = _mm512_set1_epi8(0x0F), hi4 = _mm512_set1_epi8((char)0xF0);
    __m512 acc[KQ_MR];
    for (int r = 0; r < mr; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < t->kb; b++) {
        const uint8_t *p = t->w + (size_t)b * psb;
        const int8_t *qa = t->q + b * QK_K;
        __m512i tot[KQ_MR];
        for (int r = 0; r < mr; r++) tot[r] = _mm512_setzero_si512();
        kq_touch_lines(p, (int)(off_qs / 64));
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) {
            kq_prefetch_part(t, p, psb, s, 8);
            __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + Q4K_OFF_SC + 16 * s)));
            if (!q5 && s % 2 == 0) sc = _mm512_slli_epi32(sc, 4); /* Q4_K sums 16 x T, see above */
            const uint8_t *ln = p + off_qs + 64 * 8 * (s / 2);
            __m512i is[2][KQ_MR];
            for (int r = 0; r < mr; r++) is[0][r] = is[1][r] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                __m512i v = _mm512_loadu_si512(ln + 64 * j);
                if (!q5) {
                    v = _mm512_and_si512(v, s & 1 ? hi4 : lo4);
                } else {
                    v = kq_q5_merge(kq_nibbles(v, s & 1), _mm512_loadu_si512(p + Q5K_OFF_QH + 64 * j), s);
                }
                const int a = j % na;
                for (int r = 0; r < mr; r++)
                    is[a][r] = kq_dpbusd_bcast(is[a][r], v, qa + r * t->q_stride + 32 * s + 4 * j);
            }
            for (int r = 0; r < mr; r++) {
                const __m512i sum = na == 2 ? _mm512_add_epi32(is[0][r], is[1][r]) : is[0][r];
                tot[r] = kq_scale_add(tot[r], sum, sc);
            }
        }
        __m512 dw = kq_load_fp16x16(p + Q4K_OFF_D);
        if (!q5) dw = _mm512_mul_ps(dw, _mm512_set1_ps(0.0625f));
        const __m512 dm = kq_load_fp16x16(p + Q4K_OFF_DMIN);
        __m512i mnp[4];
        for (int pp = 0; pp < 4; pp++)
            mnp[pp] = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(p + Q4K_OFF_MN + 32 * pp)));
        for (int r = 0; r < mr; r++) {
            const uint8_t *rec = t->s + r * t->s_stride + b * Q8K_SUMS_BYTES;
            __m512i mi = _mm512_setzero_si512();
            for (int pp = 0; pp < 4; pp++) mi = _mm512_dpwssd_epi32(mi, mnp[pp], kq_bcast32(rec + 4 * pp));
            const __m512 u = _mm512_fmsub_ps(_mm512_cvtepi32_ps(tot[r]), dw,
                                             _mm512_mul_ps(_mm512_cvtepi32_ps(mi), dm));
            acc[r] = _mm512_fmadd_ps(u, _mm512_set1_ps(t->d[r * t->d_stride + b]), acc[r]);
        }
    }
    kq_store(t, acc, mr);
}

#define Q4K_BODY(t, mr) q45_tile(t, mr, 0)
#define Q5K_BODY(t, mr) q45_tile(t, mr, 1)
KQ_TILES(q4k, Q4K_BODY)
KQ_TILES(q5k, Q5K_BODY)

const kq_family amxq_vnni_kq_q4_K = {
    .psb = Q4K_PSB,
    .tile = KQ_TILE_TABLE(q4k),
    KQ_NAMES("q4_K"),
};

const kq_family amxq_vnni_kq_q5_K = {
    .psb = Q5K_PSB,
    .tile = KQ_TILE_TABLE(q5k),
    KQ_NAMES("q5_K"),
};

