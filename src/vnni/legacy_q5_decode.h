/*
 * Q5_0 / Q5_1 lines of the p16 legacy layout (src/repack/repack_legacy.h) to
 * 64 unsigned weight bytes (16 columns x 4 K, VNNI order). The one copy for
 * both kernel families: the VNNI kernels (vnni_legacy.c) feed the bytes to
 * vpdpbusd, the AMX unpack (src/tiles/amx_legacy.c) turns them into signed
 * tile weights.
 *
 * A block's VNNI row v = 2L + h is nibble line L, low nibbles (h = 0) or
 * high nibbles (h = 1), plus the fifth bits of mask v of the block's
 * fifth-bit line. The fifth bit is set with one byte-masked add per row (no
 * bit gathering at run time: the packer put each row's 64 bits where a
 * __mmask64 load finds them):
 *   Q5_1: q = nibble + 16 * bit, 0..31 (its offset is the min, m * s);
 *   Q5_0: q - 16 + 128 = nibble | (bit ? 0x80 : 0x70), 112..143, so Q5_0
 *         runs on Q8_0's activation workspace (compensation -128 sum(a)).
 * 2 ALU ops per row for low nibbles, 3 for high ones (the shift).
 * AVX-512 F/BW only (avx512_args or amx_args).
 */
#ifndef AMXQ_VNNI_LEGACY_Q5_DECODE_H
#define AMXQ_VNNI_LEGACY_Q5_DECODE_H

#if !defined(__AVX512F__) || !defined(__AVX512BW__)
#error "legacy_q5_decode.h needs the AVX-512 flags (avx512_args or amx_args)"
#endif

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../formats.h"
#include "../repack/repack_legacy.h"

/* Vector ALU ops per row (low, high nibbles), for the AMX instruction-mix model. */
#define Q5_ROW_OPS_LO 2
#define Q5_ROW_OPS_HI 3

/* The fifth-bit mask of VNNI row v (0..7) of the block whose quants start at q. */
static inline __attribute__((always_inline)) __mmask64 q5_fifth_bits(const uint8_t *q, int v) {
    uint64_t bits;
    memcpy(&bits, q + 8 * v, 8);
    return _cvtu64_mask64(bits);
}

/* VNNI row v of the block whose quants start at q: nibble line v / 2 is
 * `line` (already loaded). T is AMX_TYPE_Q5_0 or AMX_TYPE_Q5_1. */
static inline __attribute__((always_inline)) __m512i q5_row(const amx_type T, __m512i line, const uint8_t *q,
                                                           const int v) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(0x10);
    if (v % 2) line = _mm512_srli_epi16(line, 4);
    __m512i u;
    if (T == AMX_TYPE_Q5_0) /* (line & 0x0F) | 0x70: the nibble + 112, one vpternlogd */
        u = _mm512_ternarylogic_epi32(line, m4, _mm512_set1_epi8(0x70), 0xEA);
    else
        u = _mm512_and_si512(line, m4);
    return _mm512_mask_add_epi8(u, q5_fifth_bits(q, v), u, sixteen);
}

#endif
