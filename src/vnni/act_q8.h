/*
 * Activation workspace of the legacy types (Q4_0 and Q8_0 weights take Q8_0
 * activations, Q4_1 takes Q8_1), filled by AVX-512 quantizers that are
 * bit-identical to amxq_ref_quantize_row_q8_0 / _q8_1 (src/ref/amxq_ref_quantize.c).
 *
 * For m rows of k values (kb = k / 32 blocks), three arrays:
 *   qs   m rows of qs_stride bytes (k rounded up to 64, the tail zeroed): the
 *        int8 quants, row i at i * qs_stride; 64-byte aligned, so an AMX
 *        kernel can TILELOADD 16 rows x 64 bytes straight from it.
 *   d    m rows of kb_stride floats (kb rounded up to 16): the block scale,
 *        the fp16 value ggml stores widened to float (exact; NaN for blocks
 *        holding Inf or NaN).
 *   aux  m rows of kb_stride 32-bit values:
 *        Q8_0: int32 -bias * sum(q), the accumulator start that removes the
 *              weights' unsigned bias (8 for Q4_0 nibbles, 128 for Q8_0
 *              stored as q + 128) exactly;
 *        Q8_1: float s = fp16(d * sum(q)) widened, for Q4_1's m * s term.
 *
 * This header is plain C: the core library sizes the workspace with it.
 */
#ifndef AMXQ_VNNI_ACT_Q8_H
#define AMXQ_VNNI_ACT_Q8_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t qs_stride; /* bytes between rows of quants, a multiple of 64 */
    int64_t kb_stride; /* entries between rows of d and aux, a multiple of 16 */
    size_t d_off;      /* byte offset of d from the workspace start */
    size_t aux_off;    /* byte offset of aux */
    size_t bytes;      /* whole workspace */
} act_q8_layout;

static inline act_q8_layout act_q8_layout_for(int64_t m, int64_t k) {
    act_q8_layout l;
    l.qs_stride = (k + 63) & ~(int64_t)63;
    l.kb_stride = (k / 32 + 15) & ~(int64_t)15;
    l.d_off = (size_t)m * (size_t)l.qs_stride;
    l.aux_off = l.d_off + (size_t)m * (size_t)l.kb_stride * 4;
    l.bytes = l.aux_off + (size_t)m * (size_t)l.kb_stride * 4;
    return l;
}

/* One row of k values (a multiple of 32) into qs (qs_stride bytes, the tail
 * past k zeroed), d and comp = -bias * sum(q) per block. */
void amxq_act_quantize_row_q8_0(const float *x, int64_t k, int64_t qs_stride, int8_t *qs, float *d,
                           int32_t *comp, int32_t bias);
/* The same for Q8_1: s = fp16(d * sum(q)) widened, per block. */
void amxq_act_quantize_row_q8_1(const float *x, int64_t k, int64_t qs_stride, int8_t *qs, float *d, float *s);

#endif
