/*
 * AVX-512 BF16 kernels with vdpbf16ps (AVX512-BF16: Cooper Lake, Sapphire
 * Rapids and later, Zen 4 and later). Built on its own with -mavx512bf16 so
 * that no other code can pick up the instruction; the core selects these
 * tiles only where the CPU probe found AVX512-BF16 (amxq_call_opts).
 *
 * Reads bf16p16 panels (repack_float.h: one 64-byte line = 16 columns x one
 * pair of k) and the BF16 activation rows of act_float.h. Per line and row:
 * one broadcast of the row's activation pair and one vdpbf16ps per panel,
 *     s[line % 2] += w_odd * x_odd + w_even * x_even     (per column, fp32)
 * which multiplies exactly (bf16 x bf16 fits a float) and rounds, by the
 * instruction's definition, with DAZ and FTZ. The tests bound the result
 * against the reference (any fp32 summation order of the k products, plus
 * the terms DAZ/FTZ may drop), never bit for bit.
 *
 * A step is two lines (four k), so each of the two partial sums per output
 * gets one vdpbf16ps per step: a 4 x 2 tile issues 16 independent chains
 * (vdpbf16ps zmm: latency 6, two per cycle on Zen 5: 12 needed).
 */
#if !defined(__AVX512F__) || !defined(__AVX512BF16__)
#error "vnni_bf16.c must be compiled with the AVX-512 and AVX512-BF16 flags (bf16_args in meson.build)"
#endif

#include <immintrin.h>
#include <string.h>

#include "vnni_float_tile.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE __m512bh pair_bcast(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return (__m512bh)_mm512_set1_epi32(v);
}

ALWAYS_INLINE void tile_bf16_dp(const int MR, const int NV, const ftile_args *a) {
    ftile_sums s0, s1;
    ftile_zero(MR, NV, s0, s1);
    const int64_t lines = a->kp / 2;
    for (int64_t l = 0; l < lines; l += 2) {
        const size_t off = (size_t)l * 64;
        ftile_prefetch(a, off, 2);
        __m512bh w0[FT_NV_MAX], w1[FT_NV_MAX];
        for (int c = 0; c < NV; c++) {
            w0[c] = (__m512bh)_mm512_loadu_si512(a->panel + c * a->panel_bytes + off);
            w1[c] = (__m512bh)_mm512_loadu_si512(a->panel + c * a->panel_bytes + off + 64);
        }
        for (int r = 0; r < MR; r++) {
            const uint8_t *xr = a->x + r * a->x_stride + 4 * l;
            const __m512bh x0 = pair_bcast(xr), x1 = pair_bcast(xr + 4);
            for (int c = 0; c < NV; c++) {
                s0[r][c] = _mm512_dpbf16_ps(s0[r][c], w0[c], x0);
                s1[r][c] = _mm512_dpbf16_ps(s1[r][c], w1[c], x1);
            }
        }
    }
    ftile_store(MR, NV, a, s0, s1);
}

FT_TILE_TABLE(tile_bf16_dp, const ftile_fn amxq_bf16_dp_tiles[FT_MR_MAX][FT_NV_MAX])
