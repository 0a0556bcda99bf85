/*
 * Model-like GGUF weights, made in-process so the benchmark needs no
 * downloads. Timing does not depend on the values, but scales that are
 * subnormal, huge or NaN could (denormal float paths), and "realistic" keeps
 * the decoded matrix close to what a quantizer makes from a trained model:
 *
 *   - each row has its own spread sigma ~ 0.02 * exp(0.25 N(0,1)), like the
 *     rows of Llama's projection matrices;
 *   - each block's (or sub-block's) absolute maximum is ~2.2..3 sigma, and
 *     its scale fields are derived from that maximum the way ggml's
 *     quantizers derive them (Q4_0: d = amax / 8, K-quants: 6-bit sub-scales
 *     against a super-block d of max/63, ...);
 *   - quants follow a bell shape around the zero point (a sum of small
 *     uniforms), as quantized Gaussian weights do.
 *
 * A 2-D GGUF tensor of shape (k, n) is n rows of k / block blocks.
 */
#include <math.h>
#include <string.h>

#include "bench.h"
#include "../src/formats.h"

typedef struct {
    uint64_t s;
} rng_t;

/* xorshift64*: fast, and good enough for benchmark data. */
static uint64_t next(rng_t *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

static rng_t rng_make(uint64_t seed, uint64_t stream) {
    rng_t r = {seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull};
    if (!r.s) r.s = 1;
    for (int i = 0; i < 4; i++) next(&r);
    return r;
}

static float unit(rng_t *r) { return (float)(next(r) >> 40) * (1.0f / 16777216.0f); }

/* Irwin-Hall of 4 uniforms, rescaled: close enough to N(0,1) for scales. */
static float gauss(rng_t *r) {
    const uint64_t v = next(r);
    const float s = (float)(v & 0xffff) + (float)((v >> 16) & 0xffff) + (float)((v >> 32) & 0xffff) +
                    (float)(v >> 48);
    return (s / 65535.0f - 2.0f) * 1.7320508f;
}

/* Bell-shaped values in [0, 2^bits), centred: two uniforms of bits-1 bits
 * plus one bit. */
static unsigned bell(uint64_t v, int bits) {
    const unsigned mask = (1u << (bits - 1)) - 1;
    return (unsigned)(v & mask) + (unsigned)((v >> (bits - 1)) & mask) + (unsigned)((v >> (2 * bits - 2)) & 1);
}

/* Bytes holding two bell-shaped nibbles each (4 bytes per 64-bit draw). */
static void nibbles(rng_t *r, uint8_t *q, int count) {
    for (int i = 0; i < count; i += 4) {
        uint64_t v = next(r);
        for (int j = 0; j < 4 && i + j < count; j++, v >>= 14)
            q[i + j] = (uint8_t)(bell(v, 4) | (bell(v >> 7, 4) << 4));
    }
}

/* Q5_0 / Q5_1: 32 bell-shaped 5-bit values, element j's low nibble in qs
 * (j < 16 low, else high nibble of qs[j - 16]) and its fifth bit at bit j of qh. */
static void q5_values(rng_t *r, uint8_t *qs, uint8_t *qh) {
    uint32_t bits = 0;
    for (int j = 0; j < 16; j++) {
        const uint64_t v = next(r);
        const unsigned v0 = bell(v, 5), v1 = bell(v >> 9, 5);
        qs[j] = (uint8_t)((v0 & 15) | ((v1 & 15) << 4));
        bits |= (uint32_t)(v0 >> 4) << j | (uint32_t)(v1 >> 4) << (j + 16);
    }
    for (int i = 0; i < 4; i++) qh[i] = (uint8_t)(bits >> (8 * i));
}

static float row_sigma(rng_t *r) { return 0.02f * expf(0.25f * gauss(r)); }
static float block_amax(rng_t *r, float sigma) { return sigma * (2.2f + 0.8f * unit(r)); }

/* Signed sub-block scales that map the largest quant (qmax) to the block's
 * absolute maximum; returns the largest magnitude. */
static float signed_scales(rng_t *r, float sigma, float qmax, float *s, int count) {
    float smax = 0;
    for (int j = 0; j < count; j++) {
        s[j] = (next(r) & 1 ? -1.0f : 1.0f) * block_amax(r, sigma) / qmax;
        smax = fmaxf(smax, fabsf(s[j]));
    }
    return smax;
}
static uint16_t h(float v) { return fp32_to_fp16(v); }
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j into the 12 packed bytes
 * (the inverse of kquant_scale_min). */
static void put_scale_min(uint8_t *q, int j, int sc, int mn) {
    if (j < 4) {
        q[j] = (uint8_t)((q[j] & 0xC0) | sc);
        q[j + 4] = (uint8_t)((q[j + 4] & 0xC0) | mn);
    } else {
        q[j + 4] = (uint8_t)((sc & 0xF) | ((mn & 0xF) << 4));
        q[j - 4] = (uint8_t)((q[j - 4] & 0x3F) | ((sc >> 4) << 6));
        q[j] = (uint8_t)((q[j] & 0x3F) | ((mn >> 4) << 6));
    }
}

/* The sub-block scales of a K-quant super-block: per sub-block (max - min)
 * over `levels` and the min, quantized to 6 bits against d = max / 63. */
static void kquant_scales(rng_t *r, float sigma, int levels, uint8_t *packed, uint16_t *d, uint16_t *dmin) {
    float sc[8], mn[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
        const float lo = block_amax(r, sigma), hi = block_amax(r, sigma);
        sc[j] = (lo + hi) / (float)levels;
        mn[j] = lo;
        smax = fmaxf(smax, sc[j]);
        mmax = fmaxf(mmax, mn[j]);
    }
    const float fd = smax / 63.0f, fm = mmax / 63.0f;
    memset(packed, 0, 12);
    for (int j = 0; j < 8; j++)
        put_scale_min(packed, j, clampi((int)lrintf(sc[j] / fd), 1, 63), clampi((int)lrintf(mn[j] / fm), 0, 63));
    *d = h(fd);
    *dmin = h(fm);
}

/* 0 for a type without a generator here (a type new to the library's table). */
static int gen_block(amx_type type, rng_t *r, float sigma, uint8_t *out) {
    switch (type) {
    case AMX_TYPE_Q4_0: {
        block_q4_0 *b = (block_q4_0 *)out;
        /* ggml: d = max / -8, with max the signed value of largest magnitude */
        b->d = h((next(r) & 1 ? -1.0f : 1.0f) * block_amax(r, sigma) / 8.0f);
        nibbles(r, b->qs, 16);
    } break;
    case AMX_TYPE_IQ4_NL: {
        block_iq4_nl *b = (block_iq4_nl *)out;
        /* the table spans -127..113: d = max / 127 */
        b->d = h(block_amax(r, sigma) / 127.0f);
        nibbles(r, b->qs, 16);
    } break;
    case AMX_TYPE_Q4_1: {
        block_q4_1 *b = (block_q4_1 *)out;
        const float lo = block_amax(r, sigma), hi = block_amax(r, sigma);
        b->d = h((lo + hi) / 15.0f);
        b->m = h(-lo);
        nibbles(r, b->qs, 16);
    } break;
    case AMX_TYPE_Q5_0: {
        block_q5_0 *b = (block_q5_0 *)out;
        /* ggml: d = max / -16, the signed value of largest magnitude */
        b->d = h((next(r) & 1 ? -1.0f : 1.0f) * block_amax(r, sigma) / 16.0f);
        q5_values(r, b->qs, b->qh);
    } break;
    case AMX_TYPE_Q5_1: {
        block_q5_1 *b = (block_q5_1 *)out;
        const float lo = block_amax(r, sigma), hi = block_amax(r, sigma);
        b->d = h((lo + hi) / 31.0f);
        b->m = h(-lo);
        q5_values(r, b->qs, b->qh);
    } break;
    case AMX_TYPE_Q8_0: {
        block_q8_0 *b = (block_q8_0 *)out;
        b->d = h(block_amax(r, sigma) / 127.0f);
        for (int i = 0; i < 32; i += 2) {
            /* sum of four 6-bit uniforms: -126..126, sd ~36 */
            const uint64_t v = next(r);
            for (int j = 0; j < 2; j++) {
                const uint64_t u = v >> (24 * j);
                b->qs[i + j] = (int8_t)((int)(u & 63) + (int)((u >> 6) & 63) + (int)((u >> 12) & 63) +
                                        (int)((u >> 18) & 63) - 126);
            }
        }
    } break;
    case AMX_TYPE_Q2_K: {
        block_q2_K *b = (block_q2_K *)out;
        /* per 16 elements (max - min) / 3 and the min, as 4-bit multiples of
         * d = max scale / 15 and dmin = max min / 15 */
        float sc[16], mn[16], smax = 0, mmax = 0;
        for (int g = 0; g < 16; g++) {
            const float lo = block_amax(r, sigma), hi = block_amax(r, sigma);
            sc[g] = (lo + hi) / 3.0f;
            mn[g] = lo;
            smax = fmaxf(smax, sc[g]);
            mmax = fmaxf(mmax, mn[g]);
        }
        const float fd = smax / 15.0f, fm = mmax / 15.0f;
        for (int g = 0; g < 16; g++)
            b->scales[g] = (uint8_t)(clampi((int)lrintf(sc[g] / fd), 1, 15) | (clampi((int)lrintf(mn[g] / fm), 0, 15) << 4));
        b->d = h(fd);
        b->dmin = h(fm);
        for (int i = 0; i < 64; i++) {
            const uint64_t v = next(r);
            b->qs[i] = (uint8_t)(bell(v, 2) | (bell(v >> 3, 2) << 2) | (bell(v >> 6, 2) << 4) | (bell(v >> 9, 2) << 6));
        }
    } break;
    case AMX_TYPE_Q3_K: {
        block_q3_K *b = (block_q3_K *)out;
        /* w = d * (sc - 32) * q, q = 3-bit value - 4: signed 6-bit scales per
         * 16 elements, d = max / 31 */
        float s[16];
        const float d = signed_scales(r, sigma, 4.0f, s, 16) / 31.0f;
        memset(b->scales, 0, sizeof b->scales);
        for (int g = 0; g < 16; g++) {
            const int ls = clampi((int)lrintf(s[g] / d), -32, 31) + 32;
            b->scales[g % 8] |= (uint8_t)((ls & 0xF) << (4 * (g / 8)));
            b->scales[8 + g % 4] |= (uint8_t)((ls >> 4) << (2 * (g / 4)));
        }
        b->d = h(d);
        /* element 128h + 32j + l: bits 2j of qs[32h + l], bit 4h + j of hmask[l] */
        memset(b->hmask, 0, sizeof b->hmask);
        memset(b->qs, 0, sizeof b->qs);
        for (int e = 0; e < 256; e++) {
            const unsigned q = bell(next(r), 3);
            const int hh = e / 128, j = (e % 128) / 32, l = e % 32;
            b->qs[32 * hh + l] |= (uint8_t)((q & 3) << (2 * j));
            b->hmask[l] |= (uint8_t)((q >> 2) << (4 * hh + j));
        }
    } break;
    case AMX_TYPE_Q4_K: {
        block_q4_K *b = (block_q4_K *)out;
        kquant_scales(r, sigma, 15, b->scales, &b->d, &b->dmin);
        nibbles(r, b->qs, 128);
    } break;
    case AMX_TYPE_Q5_K: {
        block_q5_K *b = (block_q5_K *)out;
        kquant_scales(r, sigma, 31, b->scales, &b->d, &b->dmin);
        /* 5-bit values: low nibbles in qs (elements l and l+32 of each
         * 64-element chunk c), high bits in qh bit 2c and 2c+1 */
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                const uint64_t v = next(r);
                const unsigned v1 = bell(v, 5), v2 = bell(v >> 9, 5);
                b->qs[c * 32 + l] = (uint8_t)((v1 & 15) | ((v2 & 15) << 4));
                b->qh[l] |= (uint8_t)(((v1 >> 4) << (2 * c)) | ((v2 >> 4) << (2 * c + 1)));
            }
    } break;
    case AMX_TYPE_Q6_K: {
        block_q6_K *b = (block_q6_K *)out;
        /* w = d * scale * (q - 32): signed 8-bit scales per 16 elements, the
         * largest near 127 in magnitude */
        float s[16];
        const float d = signed_scales(r, sigma, 32.0f, s, 16) / 127.0f;
        for (int j = 0; j < 16; j++) b->scales[j] = (int8_t)clampi((int)lrintf(s[j] / d), -127, 127);
        b->d = h(d);
        /* 6-bit values: per 128-element half, element l, l+32, l+64, l+96
         * take ql nibbles and two qh bits each */
        for (int half = 0; half < 2; half++)
            for (int l = 0; l < 32; l++) {
                const uint64_t v = next(r);
                unsigned q[4];
                for (int i = 0; i < 4; i++) q[i] = bell(v >> (11 * i), 6);
                uint8_t *ql = b->ql + 64 * half;
                ql[l] = (uint8_t)((q[0] & 15) | ((q[2] & 15) << 4));
                ql[l + 32] = (uint8_t)((q[1] & 15) | ((q[3] & 15) << 4));
                b->qh[32 * half + l] = (uint8_t)((q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6));
            }
    } break;
    case AMX_TYPE_F16:
    case AMX_TYPE_BF16: {
        /* one weight of the row's spread (a block is one value) */
        const float v = sigma * gauss(r);
        const uint16_t bits = type == AMX_TYPE_F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
        memcpy(out, &bits, 2);
    } break;
    case AMX_TYPE_IQ4_XS: {
        block_iq4_xs *b = (block_iq4_xs *)out;
        /* w = d * (ls - 32) * kvalue[q], kvalues in [-127, 113]: sub-block
         * scales ls - 32 of magnitude up to 31, d = max / (31 * 127) */
        float s[8];
        const float d = signed_scales(r, sigma, 127.0f, s, 8) / 31.0f;
        b->scales_h = 0;
        memset(b->scales_l, 0, sizeof b->scales_l);
        for (int j = 0; j < 8; j++) {
            const int ls = clampi((int)lrintf(s[j] / d), -32, 31) + 32;
            b->scales_l[j / 2] |= (uint8_t)((ls & 0xF) << (4 * (j % 2)));
            b->scales_h |= (uint16_t)((ls >> 4) << (2 * j));
        }
        b->d = h(d);
        nibbles(r, b->qs, 128);
    } break;
    default:
        return 0;
    }
    return 1;
}

int bench_gen_weights(amx_type type, int64_t n, int64_t k, uint64_t seed, void *out) {
    const int64_t bs = amx_type_block_size(type), bb = amx_type_block_bytes(type), kb = bs ? k / bs : 0;
    uint8_t *p = out;
    rng_t r = rng_make(seed, (uint64_t)type);
    for (int64_t row = 0; row < n; row++) {
        const float sigma = row_sigma(&r);
        /* a type without a generator fails at its first block, before any write */
        for (int64_t b = 0; b < kb; b++, p += bb)
            if (!gen_block(type, &r, sigma, p)) return 0;
    }
    return 1;
}

size_t bench_gguf_bytes(amx_type type, int64_t n, int64_t k) {
    const int64_t bs = amx_type_block_size(type);
    return bs ? (size_t)n * (size_t)(k / bs) * (size_t)amx_type_block_bytes(type) : 0;
}

void bench_gen_acts(size_t count, uint64_t seed, float *out) {
    rng_t r = rng_make(seed, 1000);
    for (size_t i = 0; i < count; i++) {
        out[i] = gauss(&r);
        if ((next(&r) & 1023) == 0) out[i] *= 20.0f; /* hidden states carry outliers */
    }
}

void bench_gen_bytes(size_t count, uint64_t seed, uint8_t *out, int lo, int hi) {
    rng_t r = rng_make(seed, 2000);
    const uint64_t span = (uint64_t)(hi - lo + 1);
    for (size_t i = 0; i < count; i++) out[i] = (uint8_t)(lo + (int)((next(&r) >> 32) % span));
}
