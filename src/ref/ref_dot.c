/*
 * Dot products of one weight row with one quantized activation row, with
 * ggml's generic kernels' integer sums and float operations in their order
 * (ggml-cpu/quants.c, ggml_vec_dot_*_generic), so the scalar family can be
 * compared with ggml bit for bit.
 */
#include "ref.h"

static float dot_q4_0(int64_t nb, const block_q4_0 *x, const block_q8_0 *y) {
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < 16; j++) {
            sumi0 += ((x[ib].qs[j] & 0x0F) - 8) * y[ib].qs[j];
            sumi1 += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + 16];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (float)sumi * fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d);
    }
    return sumf;
}

static float dot_q4_1(int64_t nb, const block_q4_1 *x, const block_q8_1 *y) {
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < 16; j++) {
            sumi0 += (x[ib].qs[j] & 0x0F) * y[ib].qs[j];
            sumi1 += (x[ib].qs[j] >> 4) * y[ib].qs[j + 16];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d)) * (float)sumi +
                fp16_to_fp32(x[ib].m) * fp16_to_fp32(y[ib].s);
    }
    return sumf;
}

/* Q5_0 / Q5_1: one block's sum of (q - offset) * a over its 32 elements,
 * q the 5-bit value (the nibble, and bit j of qh for element j), as ggml's
 * two 16-element halves. */
static int q5_block_sum(const uint8_t qs[16], const uint8_t qh4[4], int offset, const int8_t *a) {
    const uint32_t qh = q5_high_bits(qh4);
    int sumi0 = 0, sumi1 = 0;
    for (int j = 0; j < 16; j++) {
        const int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)((qh >> (j + 12)) & 0x10);
        sumi0 += (((qs[j] & 0x0F) | h0) - offset) * a[j];
        sumi1 += (((qs[j] >> 4) | h1) - offset) * a[j + 16];
    }
    return sumi0 + sumi1;
}

/* Q5_0: values q - 16; the two scales are multiplied first (unlike Q4_0),
 * as ggml does. */
static float dot_q5_0(int64_t nb, const block_q5_0 *x, const block_q8_0 *y) {
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        const int sumi = q5_block_sum(x[ib].qs, x[ib].qh, 16, y[ib].qs);
        sumf += (fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d)) * (float)sumi;
    }
    return sumf;
}

/* Q5_1: unsigned values; the min meets Q8_1's s as in Q4_1. */
static float dot_q5_1(int64_t nb, const block_q5_1 *x, const block_q8_1 *y) {
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        const int sumi = q5_block_sum(x[ib].qs, x[ib].qh, 0, y[ib].qs);
        sumf += (fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d)) * (float)sumi +
                fp16_to_fp32(x[ib].m) * fp16_to_fp32(y[ib].s);
    }
    return sumf;
}

static float dot_q8_0(int64_t nb, const block_q8_0 *x, const block_q8_0 *y) {
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += (float)sumi * (fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d));
    }
    return sumf;
}

static float dot_iq4_nl(int64_t nb, const block_iq4_nl *x, const block_q8_0 *y) {
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        const float d = fp16_to_fp32(y[ib].d) * fp16_to_fp32(x[ib].d);
        int sumi1 = 0, sumi2 = 0;
        for (int j = 0; j < 16; j++) {
            sumi1 += y[ib].qs[j] * amxq_kvalues_iq4nl[x[ib].qs[j] & 0xF];
            sumi2 += y[ib].qs[j + 16] * amxq_kvalues_iq4nl[x[ib].qs[j] >> 4];
        }
        sumf += d * (float)(sumi1 + sumi2);
    }
    return sumf;
}

/* The part Q4_K, Q5_K and Q6_K share: per-lane int32 sums of scale * (q * a)
 * over groups of `group` elements (32 for Q4_K/Q5_K, 16 for Q6_K), eight
 * lanes wide as in ggml's aux32[8]. */
static void kquant_lanes(const int8_t *q, const int8_t *a, const int *scales, int group,
                         int32_t aux32[8]) {
    for (int i = 0; i < 8; i++) aux32[i] = 0;
    for (int g = 0; g < QK_K / group; g++) {
        for (int part = 0; part < group / 8; part++) {
            int16_t aux16[8];
            for (int l = 0; l < 8; l++) aux16[l] = (int16_t)(a[l] * q[l]);
            for (int l = 0; l < 8; l++) aux32[l] += scales[g] * aux16[l];
            q += 8;
            a += 8;
        }
    }
}

/* Q4_K and Q5_K: q holds the 256 unsigned quants of one superblock. */
static void kquant45_block(const int8_t *q, const uint8_t *scales12, const block_q8_K *y,
                           float dw, float dminw, float sums[8], float *sumf) {
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        kquant_scale_min(j, scales12, &s, &m);
        sc[j] = s;
        mn[j] = m;
    }
    int sumi = 0;
    for (int j = 0; j < QK_K / 16; j++) sumi += y->bsums[j] * mn[j / 2];
    int32_t aux32[8];
    kquant_lanes(q, y->qs, sc, 32, aux32);
    const float d = dw * y->d;
    for (int l = 0; l < 8; l++) sums[l] += d * (float)aux32[l];
    const float dmin = dminw * y->d;
    *sumf -= dmin * (float)sumi;
}

static float dot_q4_K(int64_t nb, const block_q4_K *x, const block_q8_K *y) {
    float sums[8] = {0}, sumf = 0.0f;
    int8_t aux8[QK_K];
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q4 = x[i].qs;
        int8_t *a = aux8;
        for (int c = 0; c < 4; c++, q4 += 32) {
            for (int l = 0; l < 32; l++) *a++ = (int8_t)(q4[l] & 0xF);
            for (int l = 0; l < 32; l++) *a++ = (int8_t)(q4[l] >> 4);
        }
        kquant45_block(aux8, x[i].scales, &y[i], fp16_to_fp32(x[i].d), fp16_to_fp32(x[i].dmin),
                       sums, &sumf);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

static float dot_q5_K(int64_t nb, const block_q5_K *x, const block_q8_K *y) {
    float sums[8] = {0}, sumf = 0.0f;
    int8_t aux8[QK_K];
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q4 = x[i].qs, *hm = x[i].qh;
        int8_t *a = aux8;
        unsigned m = 1;
        for (int c = 0; c < 4; c++, q4 += 32) {
            for (int l = 0; l < 32; l++) *a++ = (int8_t)((q4[l] & 0xF) + (hm[l] & m ? 16 : 0));
            m <<= 1;
            for (int l = 0; l < 32; l++) *a++ = (int8_t)((q4[l] >> 4) + (hm[l] & m ? 16 : 0));
            m <<= 1;
        }
        kquant45_block(aux8, x[i].scales, &y[i], fp16_to_fp32(x[i].d), fp16_to_fp32(x[i].dmin),
                       sums, &sumf);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* Q2_K (ggml_vec_dot_q2_K_q8_K_generic): the mins enter once per superblock
 * through the activation's 16-element sums (bsums), the scales per group in
 * one int sum; sumf += dall * isum - dmin * summs. */
static float dot_q2_K(int64_t nb, const block_q2_K *x, const block_q8_K *y) {
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q2 = x[i].qs, *sc = x[i].scales;
        const int8_t *q8 = y[i].qs;
        int summs = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * fp16_to_fp32(x[i].d);
        const float dmin = y[i].d * fp16_to_fp32(x[i].dmin);
        int isum = 0, is = 0;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j;
                for (int part = 0; part < 2; part++) {
                    const int d = sc[is++] & 0xF;
                    int isuml = 0;
                    for (int l = 16 * part; l < 16 * part + 16; l++) isuml += q8[l] * ((q2[l] >> shift) & 3);
                    isum += d * isuml;
                }
                q8 += 32;
            }
            q2 += 32;
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

/* Q3_K (ggml_vec_dot_q3_K_q8_K_generic): values -4..3, scales - 32 per 16
 * elements, ggml's eight int32 lanes. */
static float dot_q3_K(int64_t nb, const block_q3_K *x, const block_q8_K *y) {
    float sums[8] = {0}, sumf = 0.0f;
    int8_t aux8[QK_K];
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q3 = x[i].qs, *hm = x[i].hmask;
        int8_t *a = aux8;
        uint8_t m = 1;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int l = 0; l < 32; l++) a[l] = (int8_t)(((q3[l] >> (2 * j)) & 3) - (hm[l] & m ? 0 : 4));
                a += 32;
                m = (uint8_t)(m << 1);
            }
            q3 += 32;
        }
        int sc[16];
        for (int j = 0; j < 16; j++) sc[j] = q3k_scale(x[i].scales, j) - 32;
        int32_t aux32[8];
        kquant_lanes(aux8, y[i].qs, sc, 16, aux32);
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)aux32[l];
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

static float dot_q6_K(int64_t nb, const block_q6_K *x, const block_q8_K *y) {
    float sums[8] = {0}, sumf = 0.0f;
    int8_t aux8[QK_K];
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q4 = x[i].ql, *qh = x[i].qh;
        int8_t *a = aux8;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                a[l + 0] = (int8_t)(((q4[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                a[l + 32] = (int8_t)(((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                a[l + 64] = (int8_t)(((q4[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                a[l + 96] = (int8_t)(((q4[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
            a += 128;
            q4 += 64;
            qh += 32;
        }
        int sc[16];
        for (int j = 0; j < 16; j++) sc[j] = x[i].scales[j];
        int32_t aux32[8];
        kquant_lanes(aux8, y[i].qs, sc, 16, aux32);
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)aux32[l];
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

static float dot_iq4_xs(int64_t nb, const block_iq4_xs *x, const block_q8_K *y) {
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < nb; ibl++) {
        const float d4d8 = fp16_to_fp32(x[ibl].d) * y[ibl].d;
        const uint8_t *qs = x[ibl].qs;
        const int8_t *q8 = y[ibl].qs;
        for (int ib = 0; ib < 8; ib++) {
            const float dl = d4d8 * (float)(iq4xs_scale(&x[ibl], ib) - 32);
            int sumi1 = 0, sumi2 = 0;
            for (int j = 0; j < 16; j++) {
                sumi1 += q8[j] * amxq_kvalues_iq4nl[qs[j] & 0xF];
                sumi2 += q8[j + 16] * amxq_kvalues_iq4nl[qs[j] >> 4];
            }
            sumf += dl * (float)(sumi1 + sumi2);
            qs += 16;
            q8 += 32;
        }
    }
    return sumf;
}

/*
 * F16 and BF16: ggml_vec_dot_f16 / ggml_vec_dot_bf16 as their portable code
 * (the scalar loop every build runs for the elements its SIMD part leaves)
 * writes them: each product of two widened values is taken in float, summed
 * in ggml_float (double) from k = 0 up, and the sum rounded to float once.
 * An fp16 x fp16 product is exact in float (22 significant bits, exponents
 * within float's normal range); a bf16 x bf16 product has 16 significant
 * bits, exact unless it leaves float's range (overflow to infinity,
 * underflow into subnormals), which the float product reproduces as ggml
 * does. ggml's SIMD paths (F16C/FMA accumulators, vdpbf16ps) sum in float in
 * their own orders; this definition is the most exact of them, and every
 * other kernel family is held to it within the bound of any fp32 summation
 * of the k exact products.
 */
static float dot_f16(int64_t k, const uint16_t *x, const uint16_t *y) {
    double sumf = 0.0;
    for (int64_t i = 0; i < k; i++) sumf += (double)(fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]));
    return (float)sumf;
}

static float dot_bf16(int64_t k, const uint16_t *x, const uint16_t *y) {
    double sumf = 0.0;
    for (int64_t i = 0; i < k; i++) sumf += (double)(bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]));
    return (float)sumf;
}

float amxq_ref_vec_dot(amx_type type, int64_t k, const void *w, const void *a) {
    switch (type) {
    case AMX_TYPE_F16: return dot_f16(k, w, a);
    case AMX_TYPE_BF16: return dot_bf16(k, w, a);
    case AMX_TYPE_Q4_0: return dot_q4_0(k / QK32, w, a);
    case AMX_TYPE_Q4_1: return dot_q4_1(k / QK32, w, a);
    case AMX_TYPE_Q5_0: return dot_q5_0(k / QK32, w, a);
    case AMX_TYPE_Q5_1: return dot_q5_1(k / QK32, w, a);
    case AMX_TYPE_Q8_0: return dot_q8_0(k / QK32, w, a);
    case AMX_TYPE_IQ4_NL: return dot_iq4_nl(k / QK32, w, a);
    case AMX_TYPE_Q2_K: return dot_q2_K(k / QK_K, w, a);
    case AMX_TYPE_Q3_K: return dot_q3_K(k / QK_K, w, a);
    case AMX_TYPE_Q4_K: return dot_q4_K(k / QK_K, w, a);
    case AMX_TYPE_Q5_K: return dot_q5_K(k / QK_K, w, a);
    case AMX_TYPE_Q6_K: return dot_q6_K(k / QK_K, w, a);
    case AMX_TYPE_IQ4_XS: return dot_iq4_xs(k / QK_K, w, a);
    }
    return 0.0f;
}
