/*
 * GGUF block formats: sizes, field offsets as C structs, fp16 conversion.
 *
 * The structs mirror ggml's on-disk block layouts byte for byte (checked by
 * static asserts), so a pointer into a GGUF tensor can be read through them.
 */
#ifndef AMXQ_FORMATS_H
#define AMXQ_FORMATS_H

#include <stdint.h>
#include <string.h>

#include "amxq.h"

#define QK32 32
#define QK_K 256

typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;              /* 18 B */
typedef struct { uint16_t d; uint8_t qs[16]; } block_iq4_nl;            /* 18 B: indices into amxq_kvalues_iq4nl */
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;           /* 20 B */
/* Q5_0 / Q5_1: qh holds the 5th bit of element j at bit j (a little-endian uint32) */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;    /* 22 B */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1; /* 24 B */
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;               /* 34 B */
typedef struct { uint16_t d, s; int8_t qs[32]; } block_q8_1;            /* 36 B, s = d * sum(qs) */
/* Q2_K: 16 bytes of (4-bit min << 4 | 4-bit scale) per 16 elements, 2-bit quants, then d and dmin */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } block_q2_K;                /* 84 B */
/* Q3_K: the high bit of each 3-bit quant, the low 2 bits, 16 6-bit scales packed in 12 bytes, d */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } block_q3_K;   /* 110 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;            /* 144 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } block_q5_K; /* 176 B */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;   /* 210 B */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } block_q8_K;                      /* 292 B */
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } block_iq4_xs; /* 136 B */

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K");
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs");

/* Q5_0 / Q5_1: the 32 fifth bits of a block, bit j for element j. */
static inline uint32_t q5_high_bits(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* The 16 values an IQ4_NL / IQ4_XS index selects. */
extern const int8_t amxq_kvalues_iq4nl[16];

/* Q4_K / Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12
 * packed scale bytes. */
static inline void kquant_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: the 6-bit scale of 16-element group j (0..15), before ggml
 * subtracts 32. Bytes 0-7 hold the low 4 bits (groups 0-7 in the low
 * nibbles, 8-15 in the high ones), bytes 8-11 the high 2 bits (group j in
 * byte 8 + j % 4, bits 2 * (j / 4)). */
static inline int q3k_scale(const uint8_t *s12, int j) {
    const int lo = (s12[j % 8] >> (4 * (j / 8))) & 0xF;
    const int hi = (s12[8 + j % 4] >> (2 * (j / 4))) & 3;
    return lo | (hi << 4);
}

/* IQ4_XS: the 6-bit scale of sub-block j (0..7), before ggml subtracts 32. */
static inline int iq4xs_scale(const block_iq4_xs *b, int j) {
    return ((b->scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((b->scales_h >> (2 * j)) & 3) << 4);
}

/* F16 and BF16 weights are plain arrays of 2-byte floats: a "block" is one
 * element, so k can be anything. */
#define QK_FLOAT 1

/* Activation format ggml's CPU backend uses against each weight type: its
 * vec_dot_type (F16 and BF16 weights take activations rounded to their own
 * type). */
typedef enum { ACT_Q8_0, ACT_Q8_1, ACT_Q8_K, ACT_F16, ACT_BF16 } act_kind;

/* 1 for the float weight types (F16, BF16), whose kernels sum in float and
 * are compared with the reference within a bound, not bit for bit. */
static inline int amxq_type_is_float(amx_type t) { return t == AMX_TYPE_F16 || t == AMX_TYPE_BF16; }

typedef struct {
    amx_type type;
    const char *name;
    int32_t block;       /* elements per block */
    int32_t bytes;       /* bytes per block */
    act_kind act;        /* activation quantization */
} type_info;

/* NULL for types the library does not implement. */
const type_info *amxq_type_info(amx_type type);
/* Code reached for a type it has no case for: a table error (a row bound
 * to a type its family does not implement), reported loudly instead of
 * running another type's code. */
_Noreturn void amxq_type_unreachable(const char *where, amx_type type);

/* The table itself: amxq_type_count() entries, NULL past the end. */
int32_t amxq_type_count(void);
const type_info *amxq_type_info_at(int32_t index);

/* ---- fp16 <-> fp32, exact and independent of CPU features ---------------- */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Exact widening (every fp16 value is a float), NaN payloads kept. */
static inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu;
    if (e == 0) {
        /* zero or subnormal: m * 2^-24, exact in float */
        const float v = (float)m * 5.9604644775390625e-8f;
        return f32_from_bits(f32_bits(v) | sign);
    }
    if (e == 31) return f32_from_bits(sign | 0x7f800000u | (m << 13));
    return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

/* Round to nearest even, as F16C's vcvtps2ph with imm 0 (what ggml uses on x86).
 * Overflow gives infinity, NaN stays NaN (quiet). */
static inline uint16_t fp32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {
        /* below the smallest normal half (2^-14): adding 0.5 puts the half's
         * subnormal unit (2^-24) at the float's last mantissa bit, so the FPU
         * does the round-to-nearest-even for us. */
        const float t = f32_from_bits(ax) + 0.5f;
        return (uint16_t)(sign | (f32_bits(t) - 0x3f000000u));
    }
    const uint32_t odd = (ax >> 13) & 1u;
    ax += 0xc8000fffu + odd; /* rebias exponent by -112 and round the 13 dropped bits */
    return (uint16_t)(sign | (ax >> 13));
}

/* bfloat16 is the top half of a float: widening is a shift, exact. */
static inline float bf16_to_fp32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* ggml's GGML_FP32_TO_BF16 (ggml_compute_fp32_to_bf16), which its CPU
 * backend's from_float for BF16 runs element by element: round to nearest
 * even on the dropped 16 bits (so values near FLT_MAX round to infinity),
 * subnormals kept (no DAZ, unlike vcvtneps2bf16), NaN kept and made quiet. */
static inline uint16_t fp32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Round to nearest, ties to even, for |v| < 2^22: the float addition of
 * 1.5 * 2^23 leaves the rounded integer in the low mantissa bits. This is
 * ggml's nearest_int and matches vcvtps2dq / vroundps in the default mode. */
static inline int32_t round_nearest_even(float v) {
    const float t = v + 12582912.0f;
    return (int32_t)(f32_bits(t) & 0x007fffffu) - 0x00400000;
}

#endif
