/* Block decoding, element for element as ggml's dequantize_row_* (same float
 * operations in the same order, so results are bitwise equal). */
#include "ref.h"

static void decode_q4_0(const block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            y[i * 32 + j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void decode_q4_1(const block_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = (float)(b[i].qs[j] & 0xF) * d + m;
            y[i * 32 + j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Q5_0 / Q5_1: the 5-bit value of element j (0..31): the low nibble of
 * qs[j] (j < 16) or the high one of qs[j - 16], with bit j of qh as bit 4. */
static int q5_value(const uint8_t qs[16], uint32_t qh, int j) {
    const int nibble = j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4;
    return nibble | (int)((qh >> j) & 1) << 4;
}

static void decode_q5_0(const block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d);
        const uint32_t qh = q5_high_bits(b[i].qh);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)(q5_value(b[i].qs, qh, j) - 16) * d;
    }
}

static void decode_q5_1(const block_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        const uint32_t qh = q5_high_bits(b[i].qh);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)q5_value(b[i].qs, qh, j) * d + m;
    }
}

static void decode_q8_0(const block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)b[i].qs[j] * d;
    }
}

static void decode_iq4_nl(const block_iq4_nl *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = d * (float)amxq_kvalues_iq4nl[b[i].qs[j] & 0xF];
            y[i * 32 + j + 16] = d * (float)amxq_kvalues_iq4nl[b[i].qs[j] >> 4];
        }
    }
}

/* Q2_K: each half (128 elements, 32 qs bytes) holds four 2-bit fields per
 * byte; field j of bytes 0-15 / 16-31 is 16-element group 2j / 2j+1 of the
 * half, with its own 4-bit scale and min. */
static void decode_q2_K(const block_q2_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j;
                for (int part = 0; part < 2; part++) {
                    const uint8_t sc = b[i].scales[is++];
                    const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * part + l] >> shift) & 3) - ml;
                }
            }
            q += 32;
        }
    }
}

/* Q3_K: as Q2_K's element order for the low 2 bits; hmask bit 4h + j of
 * byte l is the third bit of element 128h + 32j + l, and a clear bit
 * subtracts 4 (values -4..3). */
static void decode_q3_K(const block_q3_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d);
        const uint8_t *q = b[i].qs, *hm = b[i].hmask;
        int is = 0;
        uint8_t m = 1;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j;
                for (int part = 0; part < 2; part++) {
                    const float dl = d * (float)(q3k_scale(b[i].scales, is++) - 32);
                    for (int l = 16 * part; l < 16 * part + 16; l++)
                        *y++ = dl * (float)(((q[l] >> shift) & 3) - (hm[l] & m ? 0 : 4));
                }
                m = (uint8_t)(m << 1);
            }
            q += 32;
        }
    }
}

static void decode_q4_K(const block_q4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++) {
            uint8_t sc, mn;
            kquant_scale_min(2 * c, b[i].scales, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            kquant_scale_min(2 * c + 1, b[i].scales, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
        }
    }
}

static void decode_q5_K(const block_q5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        unsigned u1 = 1, u2 = 2;
        for (int c = 0; c < 4; c++) {
            uint8_t sc, mn;
            kquant_scale_min(2 * c, b[i].scales, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            kquant_scale_min(2 * c + 1, b[i].scales, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}

static void decode_q6_K(const block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

static void decode_iq4_xs(const block_iq4_xs *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(b[i].d);
        const uint8_t *qs = b[i].qs;
        for (int s = 0; s < 8; s++) {
            const float dl = d * (float)(iq4xs_scale(&b[i], s) - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * amxq_kvalues_iq4nl[qs[j] & 0xF];
                y[j + 16] = dl * amxq_kvalues_iq4nl[qs[j] >> 4];
            }
            y += 32;
            qs += 16;
        }
    }
}

/* F16 and BF16: widening, exact (ggml's fp16_to_fp32_row / bf16_to_fp32_row). */
static void decode_f16(const uint16_t *h, float *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) y[i] = fp16_to_fp32(h[i]);
}

static void decode_bf16(const uint16_t *h, float *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) y[i] = bf16_to_fp32(h[i]);
}

void amxq_ref_dequantize_row(amx_type type, const void *blocks, float *out, int64_t k) {
    switch (type) {
    case AMX_TYPE_F16: decode_f16(blocks, out, k); break;
    case AMX_TYPE_BF16: decode_bf16(blocks, out, k); break;
    case AMX_TYPE_Q4_0: decode_q4_0(blocks, out, k / QK32); break;
    case AMX_TYPE_Q4_1: decode_q4_1(blocks, out, k / QK32); break;
    case AMX_TYPE_Q5_0: decode_q5_0(blocks, out, k / QK32); break;
    case AMX_TYPE_Q5_1: decode_q5_1(blocks, out, k / QK32); break;
    case AMX_TYPE_Q8_0: decode_q8_0(blocks, out, k / QK32); break;
    case AMX_TYPE_IQ4_NL: decode_iq4_nl(blocks, out, k / QK32); break;
    case AMX_TYPE_Q2_K: decode_q2_K(blocks, out, k / QK_K); break;
    case AMX_TYPE_Q3_K: decode_q3_K(blocks, out, k / QK_K); break;
    case AMX_TYPE_Q4_K: decode_q4_K(blocks, out, k / QK_K); break;
    case AMX_TYPE_Q5_K: decode_q5_K(blocks, out, k / QK_K); break;
    case AMX_TYPE_Q6_K: decode_q6_K(blocks, out, k / QK_K); break;
    case AMX_TYPE_IQ4_XS: decode_iq4_xs(blocks, out, k / QK_K); break;
    }
}
