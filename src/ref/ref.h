/*
 * Scalar reference: ggml's numerics, written plainly, on the original GGUF
 * blocks. It is the AMX_ISA_SCALAR kernel family and the oracle every other
 * kernel is tested against.
 */
#ifndef AMXQ_REF_H
#define AMXQ_REF_H

#include <stdint.h>

#include "../formats.h"

/* Decode k elements (whole blocks) of one row, as ggml's dequantize_row_*. */
void amxq_ref_dequantize_row(amx_type type, const void *blocks, float *out, int64_t k);

/* Quantize k activations (a multiple of 32 or 256) into ggml blocks, the way
 * ggml's x86 CPU backend does (see amxq_ref_quantize.c for the exact definitions). */
void amxq_ref_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t k);
void amxq_ref_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t k);
void amxq_ref_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t k);
/* F16 / BF16 weights: activations rounded to fp16 / bf16 (any k). */
void amxq_ref_quantize_row_f16(const float *x, uint16_t *y, int64_t k);
void amxq_ref_quantize_row_bf16(const float *x, uint16_t *y, int64_t k);

/* Quantize one activation row into the format `type` multiplies against
 * (block_q8_0, block_q8_1, block_q8_K, or fp16 / bf16 values); returns bytes
 * written. */
size_t amxq_ref_quantize_row_for(amx_type type, const float *x, void *y, int64_t k);
/* Bytes amxq_ref_quantize_row_for writes for k elements. */
size_t amxq_ref_act_row_bytes(amx_type type, int64_t k);

/* One dot product of a weight row with a quantized activation row, in ggml's
 * generic order (ggml_vec_dot_<w>_<a>_generic). */
float amxq_ref_vec_dot(amx_type type, int64_t k, const void *w_row, const void *act_row);

#endif
