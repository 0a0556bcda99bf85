/*
 * Activation workspace of the float weight types: each row of x rounded to
 * the weight's type, as ggml's from_float for F16 / BF16 does it
 * (src/ref/ref_quantize.c), and zero-padded to kp = k rounded up to 32 (the
 * panels' padding, repack_float.h), so kernels run whole 32-K steps.
 *
 *   F16:  m rows of kp floats: the fp16-rounded values widened back to
 *         float (exact), so the kernels broadcast them straight into FMAs.
 *   BF16: m rows of kp bf16 values: each dword a pair (k = 2j, 2j + 1),
 *         low half first, the activation operand of vdpbf16ps; 16 rows of
 *         64 bytes at a 32-K step are one AMX A tile.
 * Rows start 64-byte aligned (kp * 2 bytes is a multiple of 64).
 *
 * This header is plain C: the core library sizes the workspace with it.
 */
#ifndef AMXQ_VNNI_ACT_FLOAT_H
#define AMXQ_VNNI_ACT_FLOAT_H

#include <stddef.h>
#include <stdint.h>

#include "../repack/repack_float.h"

/* Bytes between workspace rows: kp elements of 4 (F16) or 2 (BF16) bytes. */
static inline size_t act_float_row_bytes(int is_bf16, int64_t k) {
    return (size_t)float_kp(k) * (is_bf16 ? 2 : 4);
}

/* One row of k values into kp floats, each rounded to fp16 (vcvtps2ph,
 * nearest even), the tail past k zero. */
void amxq_act_row_f16(const float *x, int64_t k, float *out);
/* One row of k values into kp bf16 values (ggml's rounding), the tail zero. */
void amxq_act_row_bf16(const float *x, int64_t k, uint16_t *out);

#endif
