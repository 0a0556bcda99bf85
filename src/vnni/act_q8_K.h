/*
 * Q8_K activations for the 256-element weight types (Q4_K, Q5_K, Q6_K,
 * IQ4_XS), in the layout the VNNI kernels (and later the AMX kernels) read.
 *
 * Numerics are ggml's quantize_row_q8_K_ref exactly (src/ref/amxq_ref_quantize.c):
 * per 256-superblock d = 1/iscale with iscale = -127/max (max = the first
 * element of largest magnitude, with its sign), q = min(127, rne(iscale*x));
 * zero blocks give d = 0 and q = 0; blocks holding Inf/NaN give d = NaN and
 * q = 0. test_act_q8_K checks this bit for bit against the reference.
 *
 * Workspace for m rows of k elements (kb = k/256 superblocks), one allocation:
 *
 *   quants  m rows x k int8; row i at byte i*k (64-byte aligned, stride a
 *           multiple of 64, so 16 rows x 64 bytes load as one AMX A tile)
 *   d       m x kb float; row i at element i*kb
 *   sums    m x kb records of 64 bytes; record (i, b) at byte (i*kb + b)*64.
 *           What a record holds depends on the weight type (act_q8K_sums):
 *           integer sums over the block's quants, premultiplied where a
 *           kernel uses them as the initial value of an int32 accumulator
 *           (a broadcast load instead of an ALU op).
 */
#ifndef AMXQ_VNNI_ACT_Q8_K_H
#define AMXQ_VNNI_ACT_Q8_K_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel.h"

#define Q8K_SUMS_BYTES 64

typedef enum {
    /* Q4_K, Q5_K, Q2_K: int16 bs32[8] at byte 0 (dword p = the pair of
     * sub-blocks 2p, 2p+1 for vpdpwssd against the packed min pairs), int16
     * bs16[16] at byte 16 (Q2_K's min pairs per 16), zero from byte 48 */
    Q8K_SUMS_MIN,
    /* Q6_K, Q3_K: int32 -32*bs16[16] (the bias of q+32 per 16-element group;
     * Q3_K's kernels use 8 (q + 4), whose bias is 32 too) */
    Q8K_SUMS_BIAS16,
    /* IQ4_XS: int32 -128*bs32[8] at byte 0 (the bias of value+128 per 32),
     * int16 bs16[16] at byte 32 */
    Q8K_SUMS_BIAS32,
} act_q8K_sums;

/* bs16 = sums of 16 consecutive quants, bs32 = of 32 (ggml's bsums and their pairs). */

typedef struct {
    int8_t *q;
    float *d;
    uint8_t *s;
    int64_t k, kb;
} act_q8K_view;

/* Bytes of the workspace for m rows of k elements. */
size_t amxq_act_q8K_size(int64_t m, int64_t k);
/* Where the three arrays of a workspace for m rows start. */
act_q8K_view amxq_act_q8K_layout(void *ws, int64_t m, int64_t k);

/* Quantizes rows [m0, m1) of x (row stride ldx floats) into the workspace. */
void amxq_act_q8K_quantize(const float *x, int64_t ldx, int64_t m, int64_t k, void *ws, int64_t m0,
                      int64_t m1, act_q8K_sums kind);

/* One row of k elements, for tests: quants, scales and sum records. */
void amxq_act_q8K_quantize_row(const float *x, int64_t k, int8_t *q, float *d, uint8_t *sums,
                          act_q8K_sums kind);

/* The sums kind the kernels of a weight type read. */
act_q8K_sums amxq_act_q8K_sums_for(amx_type type);

/* dispatch-table entry points (act_size / quantize) */
size_t amxq_vnni_q8K_act_size(const amx_weights *w, int64_t m);
/* The sums records the type's kernels read (act_q8K_sums). */
uint32_t amxq_vnni_q8K_act_format(const amx_weights *w);
void amxq_vnni_q8K_act_copy_row(const amx_weights *w, const void *src, int64_t m_src, int64_t i_src, void *dst,
                                int64_t m_dst, int64_t i_dst);
void amxq_vnni_q8K_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                       int64_t m0, int64_t m1);

#endif
