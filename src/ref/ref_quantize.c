/*
 * Activation quantizers: the normative definitions every kernel family must
 * reproduce bit for bit.
 *
 * Q8_0 and Q8_1 follow ggml's x86 SIMD quantizers (quantize_row_q8_0/_q8_1 in
 * ggml-cpu/arch/x86/quants.c), which is what ggml actually runs on AVX/AVX2
 * machines: d = amax / 127 stored as fp16, id = 127 / amax (0 when amax is 0),
 * q = round-to-nearest-even(x * id). Q8_1 also stores s = fp16(d * sum(q))
 * with the unrounded float d. (ggml's portable reference instead uses
 * id = 1 / d and rounds ties away from zero; the two differ only when x * id
 * lands within an ulp of a .5 tie.)
 *
 * Q8_K follows ggml's quantize_row_q8_K_ref, which x86 uses as is: the scale
 * comes from the element of largest magnitude *with its sign*, so d can be
 * negative; q = min(127, nearest_even(-127 / max * x)); bsums are sums of 16.
 *
 * F16 and BF16 weights take activations rounded to their own type, as
 * ggml's from_float for its vec_dot_type: fp16 by round to nearest even
 * (ggml_cpu_fp32_to_fp16: vcvtps2ph with imm 0 on x86; beyond 65504 gives
 * infinity), bf16 by ggml's GGML_FP32_TO_BF16 (formats.h: nearest even,
 * subnormals kept, NaN made quiet). Inf and NaN pass through as values and
 * propagate through the float sums; the extension below is for the integer
 * formats only.
 *
 * One deliberate extension: a block holding Inf or NaN gets d = NaN and all
 * quants 0, so the non-finite value reaches every output of that row as NaN
 * instead of vanishing into an order-dependent integer (which is what ggml's
 * code does with such input).
 */
#include <math.h>

#include "ref.h"

static int block_is_finite(const float *x, int n) {
    for (int j = 0; j < n; j++)
        if (!isfinite(x[j])) return 0;
    return 1;
}

/* Shared by Q8_0 and Q8_1: quantizes 32 values, returns d (float, unrounded)
 * and writes the quants; *sum receives sum(q). Non-finite input: d = NaN. */
static float quantize_block32(const float *x, int8_t *q, int *sum) {
    *sum = 0;
    if (!block_is_finite(x, 32)) {
        memset(q, 0, 32);
        return NAN;
    }
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float ax = fabsf(x[j]);
        amax = ax > amax ? ax : amax;
    }
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; j++) {
        const float v = x[j] * id;
        q[j] = (int8_t)round_nearest_even(v);
        *sum += q[j];
    }
    return d;
}

void amxq_ref_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t k) {
    for (int64_t i = 0; i < k / QK32; i++) {
        int sum;
        const float d = quantize_block32(x + i * QK32, y[i].qs, &sum);
        y[i].d = fp32_to_fp16(d);
    }
}

void amxq_ref_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t k) {
    for (int64_t i = 0; i < k / QK32; i++) {
        int sum;
        const float d = quantize_block32(x + i * QK32, y[i].qs, &sum);
        y[i].d = fp32_to_fp16(d);
        y[i].s = fp32_to_fp16(d * (float)sum);
    }
}

void amxq_ref_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        memset(y[i].bsums, 0, sizeof(y[i].bsums));
        if (!block_is_finite(x, QK_K)) {
            y[i].d = NAN;
            memset(y[i].qs, 0, QK_K);
            continue;
        }
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, QK_K);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = round_nearest_even(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[i].qs[g * 16 + j];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

void amxq_ref_quantize_row_f16(const float *x, uint16_t *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) y[i] = fp32_to_fp16(x[i]);
}

void amxq_ref_quantize_row_bf16(const float *x, uint16_t *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) y[i] = fp32_to_bf16(x[i]);
}

size_t amxq_ref_act_row_bytes(amx_type type, int64_t k) {
    switch (amxq_type_info(type)->act) {
    case ACT_F16:
    case ACT_BF16: return (size_t)k * sizeof(uint16_t);
    case ACT_Q8_0: return (size_t)(k / QK32) * sizeof(block_q8_0);
    case ACT_Q8_1: return (size_t)(k / QK32) * sizeof(block_q8_1);
    case ACT_Q8_K: return (size_t)(k / QK_K) * sizeof(block_q8_K);
    }
    return 0;
}

size_t amxq_ref_quantize_row_for(amx_type type, const float *x, void *y, int64_t k) {
    switch (amxq_type_info(type)->act) {
    case ACT_Q8_0: amxq_ref_quantize_row_q8_0(x, y, k); break;
    case ACT_Q8_1: amxq_ref_quantize_row_q8_1(x, y, k); break;
    case ACT_Q8_K: amxq_ref_quantize_row_q8_K(x, y, k); break;
    case ACT_F16: amxq_ref_quantize_row_f16(x, y, k); break;
    case ACT_BF16: amxq_ref_quantize_row_bf16(x, y, k); break;
    }
    return amxq_ref_act_row_bytes(type, k);
}
