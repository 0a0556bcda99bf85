/*
 * Decoders on hand-made blocks with known values. Each block is built by this
 * test's own encoder from the integer values we want (written from the GGUF
 * format description, not from the library), decoded by amx_dequantize, and
 * compared with scale * value computed here. Covers -128 in Q8_0, all-zero
 * blocks, negative and zero scales, every nibble and high-bit position
 * (Q5_0 / Q5_1 and Q5_K's fifth bits, Q6_K's two high bits).
 */
#include <string.h>

#include "common.h"

static float h(float v) { return fp16_to_fp32(fp32_to_fp16(v)); } /* representable value */

static void check_equal(const char *what, const float *got, const float *want, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], 4) != 0 && !(got[i] == want[i])) {
            if (bad++ < 4)
                fprintf(stderr, "  %s[%d]: got %.9g want %.9g\n", what, i, got[i], want[i]);
        }
    }
    CHECK(bad == 0, "%s: %d of %d values differ", what, bad, n);
}

static void decode(amx_type t, const void *blk, size_t bytes, float *out, int n) {
    const amx_status st = amx_dequantize(t, n, blk, bytes, out);
    CHECK(st == AMX_OK, "amx_dequantize %s: %s", amx_type_name(t), amx_status_str(st));
}

static void test_q4_0(void) {
    block_q4_0 b[2];
    int q[2][32];
    const float d[2] = {h(0.5f), h(-2.0f)};
    for (int i = 0; i < 2; i++) {
        b[i].d = fp32_to_fp16(d[i]);
        for (int j = 0; j < 32; j++) q[i][j] = (j * 7 + i) % 16;
        for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)(q[i][j] | (q[i][j + 16] << 4));
    }
    float got[64], want[64];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 32; j++) want[i * 32 + j] = (float)(q[i][j] - 8) * d[i];
    decode(AMX_TYPE_Q4_0, b, sizeof b, got, 64);
    check_equal("Q4_0", got, want, 64);
}

static void test_q4_1(void) {
    block_q4_1 b;
    int q[32];
    const float d = h(0.25f), m = h(-1.5f);
    b.d = fp32_to_fp16(d);
    b.m = fp32_to_fp16(m);
    for (int j = 0; j < 32; j++) q[j] = 15 - (j % 16);
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    float got[32], want[32];
    for (int j = 0; j < 32; j++) want[j] = (float)q[j] * d + m;
    decode(AMX_TYPE_Q4_1, &b, sizeof b, got, 32);
    check_equal("Q4_1", got, want, 32);
}

/* Q5_0 / Q5_1: element j's low 4 bits in the nibble of qs[j % 16] (low
 * for j < 16, high otherwise), its 5th bit at bit j of the little-endian
 * 32-bit qh. Two blocks whose values run over 0..31 in different orders, so
 * every qh bit is set in one and clear in the other somewhere. */
static void test_q5(int one) {
    uint8_t raw[2][24];
    int q[2][32];
    const float d[2] = {h(0.5f), h(-0.75f)}, m[2] = {h(-3.0f), h(0.125f)};
    const size_t bb = one ? sizeof(block_q5_1) : sizeof(block_q5_0), qh_at = one ? 4 : 2;
    for (int i = 0; i < 2; i++) {
        uint16_t d16 = fp32_to_fp16(d[i]), m16 = fp32_to_fp16(m[i]);
        memcpy(raw[i], &d16, 2);
        if (one) memcpy(raw[i] + 2, &m16, 2);
        uint32_t qh = 0;
        for (int j = 0; j < 32; j++) {
            q[i][j] = i ? 31 - (j * 5) % 32 : (j * 11 + 3) % 32;
            qh |= (uint32_t)(q[i][j] >> 4) << j;
        }
        for (int b = 0; b < 4; b++) raw[i][qh_at + b] = (uint8_t)(qh >> (8 * b));
        for (int j = 0; j < 16; j++)
            raw[i][qh_at + 4 + j] = (uint8_t)((q[i][j] & 15) | ((q[i][j + 16] & 15) << 4));
    }
    uint8_t blocks[48];
    memcpy(blocks, raw[0], bb);
    memcpy(blocks + bb, raw[1], bb);
    float got[64], want[64];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 32; j++)
            want[i * 32 + j] = one ? (float)q[i][j] * d[i] + m[i] : (float)(q[i][j] - 16) * d[i];
    decode(one ? AMX_TYPE_Q5_1 : AMX_TYPE_Q5_0, blocks, 2 * bb, got, 64);
    check_equal(one ? "Q5_1" : "Q5_0", got, want, 64);
}

static void test_q8_0(void) {
    block_q8_0 b[3];
    b[0].d = fp32_to_fp16(1.0f);
    for (int j = 0; j < 32; j++) b[0].qs[j] = (int8_t)(j == 0 ? -128 : j == 1 ? 127 : j - 16);
    b[1].d = fp32_to_fp16(-0.125f);
    for (int j = 0; j < 32; j++) b[1].qs[j] = (int8_t)(-128 + j * 8);
    b[2].d = 0; /* all-zero block */
    memset(b[2].qs, 0, 32);
    float got[96], want[96];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 32; j++) want[i * 32 + j] = (float)b[i].qs[j] * fp16_to_fp32(b[i].d);
    CHECK(want[0] == -128.0f, "Q8_0 -128 expected value");
    decode(AMX_TYPE_Q8_0, b, sizeof b, got, 96);
    check_equal("Q8_0", got, want, 96);
    CHECK(got[0] == -128.0f && got[1] == 127.0f, "Q8_0 extremes decode to -128 and 127");
}

/* 6-bit scales and mins of 8 sub-blocks into the 12 K-quant scale bytes:
 * bytes 0-3: scale 0-3 (low 6 bits) with bits 4-5 of scales 4-7 on top;
 * bytes 4-7: min 0-3 likewise with mins 4-7's top bits; bytes 8-11: low
 * nibbles of scales 4-7 and, above them, low nibbles of mins 4-7. */
static void encode_kscales(const int sc[8], const int mn[8], uint8_t out[12]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

/* Q4_K/Q5_K element order: chunk c (64 elements) = low nibbles of qs[32c..]
 * then high nibbles; Q5_K's 5th bit of element 64c+l is bit 2c of qh[l], of
 * element 64c+32+l bit 2c+1. */
static void test_kquant45(int five) {
    const amx_type t = five ? AMX_TYPE_Q5_K : AMX_TYPE_Q4_K;
    int sc[8], mn[8], q[256];
    for (int s = 0; s < 8; s++) {
        sc[s] = (s * 9 + 5) % 64;
        mn[s] = (s * 13 + 63) % 64;
    }
    sc[7] = 63;
    mn[6] = 63;
    for (int e = 0; e < 256; e++) q[e] = (e * 11 + e / 32) % (five ? 32 : 16);
    const float d = h(0.0625f), dmin = h(-0.03125f); /* negative dmin is legal */
    uint8_t qs[128] = {0}, qh[32] = {0}, scales[12];
    encode_kscales(sc, mn, scales);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
            qs[32 * c + l] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
            qh[l] |= (uint8_t)(((lo >> 4) & 1) << (2 * c));
            qh[l] |= (uint8_t)(((hi >> 4) & 1) << (2 * c + 1));
        }
    float got[256], want[256];
    for (int e = 0; e < 256; e++) want[e] = (d * (float)sc[e / 32]) * (float)q[e] - dmin * (float)mn[e / 32];
    if (five) {
        block_q5_K b;
        b.d = fp32_to_fp16(d);
        b.dmin = fp32_to_fp16(dmin);
        memcpy(b.scales, scales, 12);
        memcpy(b.qh, qh, 32);
        memcpy(b.qs, qs, 128);
        decode(t, &b, sizeof b, got, 256);
    } else {
        block_q4_K b;
        b.d = fp32_to_fp16(d);
        b.dmin = fp32_to_fp16(dmin);
        memcpy(b.scales, scales, 12);
        memcpy(b.qs, qs, 128);
        decode(t, &b, sizeof b, got, 256);
    }
    check_equal(five ? "Q5_K" : "Q4_K", got, want, 256);
}

/* Q6_K: half h (128 elements): element 128h+l (l<32) = low nibble of
 * ql[64h+l] with bits 0-1 of qh[32h+l]; +32: ql[64h+32+l] low, qh bits 2-3;
 * +64: ql[64h+l] high, bits 4-5; +96: ql[64h+32+l] high, bits 6-7. */
static void test_q6_K(void) {
    int q[256], sc[16];
    for (int e = 0; e < 256; e++) q[e] = (e * 37 + 3) % 64; /* 0..63, value q-32 */
    for (int g = 0; g < 16; g++) sc[g] = g * 17 - 128;       /* -128 .. 127 */
    block_q6_K b;
    memset(&b, 0, sizeof b);
    for (int hh = 0; hh < 2; hh++)
        for (int l = 0; l < 32; l++) {
            const int e0 = q[128 * hh + l], e1 = q[128 * hh + 32 + l], e2 = q[128 * hh + 64 + l],
                      e3 = q[128 * hh + 96 + l];
            b.ql[64 * hh + l] = (uint8_t)((e0 & 15) | ((e2 & 15) << 4));
            b.ql[64 * hh + 32 + l] = (uint8_t)((e1 & 15) | ((e3 & 15) << 4));
            b.qh[32 * hh + l] = (uint8_t)((e0 >> 4) | ((e1 >> 4) << 2) | ((e2 >> 4) << 4) | ((e3 >> 4) << 6));
        }
    for (int g = 0; g < 16; g++) b.scales[g] = (int8_t)sc[g];
    const float d = h(0.01f);
    b.d = fp32_to_fp16(d);
    float got[256], want[256];
    for (int e = 0; e < 256; e++) want[e] = d * (float)sc[e / 16] * (float)(q[e] - 32);
    decode(AMX_TYPE_Q6_K, &b, sizeof b, got, 256);
    check_equal("Q6_K", got, want, 256);
}

/* Q2_K: element 128h + 32j + l (l < 32) = bits 2j, 2j+1 of qs[32h + l];
 * group e / 16 has scale byte scales[e / 16] = min << 4 | scale, and the
 * value is d * scale * q - dmin * min. */
static void test_q2_K(void) {
    int q[256], sc[16], mn[16];
    for (int e = 0; e < 256; e++) q[e] = (e * 7 + e / 64) % 4;
    for (int g = 0; g < 16; g++) sc[g] = (g * 5 + 3) % 16, mn[g] = (g * 11 + 1) % 16;
    sc[0] = 0, mn[1] = 0, sc[15] = 15, mn[15] = 15;
    block_q2_K b;
    memset(&b, 0, sizeof b);
    for (int e = 0; e < 256; e++) b.qs[32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
    for (int g = 0; g < 16; g++) b.scales[g] = (uint8_t)(sc[g] | (mn[g] << 4));
    const float d = h(0.03f), dmin = h(-0.0125f);
    b.d = fp32_to_fp16(d);
    b.dmin = fp32_to_fp16(dmin);
    float got[256], want[256];
    for (int e = 0; e < 256; e++)
        want[e] = (d * (float)sc[e / 16]) * (float)q[e] - dmin * (float)mn[e / 16];
    decode(AMX_TYPE_Q2_K, &b, sizeof b, got, 256);
    check_equal("Q2_K", got, want, 256);
}

/* Q3_K: low 2 bits as Q2_K's; bit 4h + j of hmask[l] is the third bit of
 * element 128h + 32j + l, and value = (low | bit << 2) - 4. Group g's 6-bit
 * scale: low 4 bits in nibble g / 8 of scales[g % 8], high 2 bits at bits
 * 2 (g / 4) of scales[8 + g % 4]; weight = d * (scale - 32) * value. */
static void test_q3_K(void) {
    int v[256], ls[16];
    for (int e = 0; e < 256; e++) v[e] = (e * 5 + e / 32) % 8; /* value + 4 */
    for (int g = 0; g < 16; g++) ls[g] = (g * 29 + 7) % 64;
    ls[0] = 0, ls[1] = 32, ls[2] = 63;
    block_q3_K b;
    memset(&b, 0, sizeof b);
    for (int e = 0; e < 256; e++) {
        const int hh = e / 128, j = (e % 128) / 32, l = e % 32;
        b.qs[32 * hh + l] |= (uint8_t)((v[e] & 3) << (2 * j));
        b.hmask[l] |= (uint8_t)((v[e] >> 2) << (4 * hh + j));
    }
    for (int g = 0; g < 16; g++) {
        b.scales[g % 8] |= (uint8_t)((ls[g] & 15) << (4 * (g / 8)));
        b.scales[8 + g % 4] |= (uint8_t)((ls[g] >> 4) << (2 * (g / 4)));
    }
    const float d = h(0.02f);
    b.d = fp32_to_fp16(d);
    float got[256], want[256];
    for (int e = 0; e < 256; e++) want[e] = (d * (float)(ls[e / 16] - 32)) * (float)(v[e] - 4);
    decode(AMX_TYPE_Q3_K, &b, sizeof b, got, 256);
    check_equal("Q3_K", got, want, 256);
}

static const int k_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* IQ4_XS: sub-block s has a 6-bit scale, low 4 bits in nibble s%2 of
 * scales_l[s/2], high 2 bits at bits 2s of scales_h; value = d*(ls-32)*table. */
static void test_iq4_xs(void) {
    int ls[8], idx[256];
    for (int s = 0; s < 8; s++) ls[s] = (s * 23 + 1) % 64;
    ls[0] = 0;  /* -32 */
    ls[1] = 32; /* zero scale */
    ls[2] = 63;
    for (int e = 0; e < 256; e++) idx[e] = (e * 5 + e / 16) % 16;
    block_iq4_xs b;
    memset(&b, 0, sizeof b);
    for (int s = 0; s < 8; s++) {
        b.scales_l[s / 2] |= (uint8_t)((ls[s] & 15) << (4 * (s % 2)));
        b.scales_h |= (uint16_t)((ls[s] >> 4) << (2 * s));
        for (int j = 0; j < 16; j++)
            b.qs[16 * s + j] = (uint8_t)(idx[32 * s + j] | (idx[32 * s + 16 + j] << 4));
    }
    const float d = h(-0.75f);
    b.d = fp32_to_fp16(d);
    float got[256], want[256];
    for (int e = 0; e < 256; e++) want[e] = (d * (float)(ls[e / 32] - 32)) * (float)k_iq4nl[idx[e]];
    decode(AMX_TYPE_IQ4_XS, &b, sizeof b, got, 256);
    check_equal("IQ4_XS", got, want, 256);
}

static void test_zero_blocks(void) {
    for (int ti = 0; ti < N_TYPES; ti++) {
        const amx_type t = k_all_types_at(ti);
        const int bs = amx_type_block_size(t), bb = amx_type_block_bytes(t);
        uint8_t *blk = calloc(1, (size_t)bb);
        float *out = malloc((size_t)bs * sizeof(float));
        decode(t, blk, (size_t)bb, out, bs);
        int nonzero = 0;
        for (int i = 0; i < bs; i++) nonzero += out[i] != 0.0f;
        CHECK(nonzero == 0, "%s all-zero block decodes to zeros (%d nonzero)", amx_type_name(t), nonzero);
        free(blk);
        free(out);
    }
}

int main(void) {
    test_q4_0();
    test_q4_1();
    test_q5(0);
    test_q5(1);
    test_q8_0();
    test_kquant45(0);
    test_kquant45(1);
    test_q6_K();
    test_iq4_xs();
    test_q2_K();
    test_q3_K();
    test_zero_blocks();
    return test_finish("test_decode");
}
