/*
 * The scalar kernel family: the handle keeps the GGUF blocks as they are,
 * activations become ggml blocks (block_q8_0 / q8_1 / q8_K) and every output
 * is one ref_vec_dot. Slow and obviously right; everything else is checked
 * against it.
 */
#include <string.h>

#include "../dispatch.h"
#include "ref.h"
#include "ref_variant.h"

#define REF_ROWS_PER_UNIT REF_PACK_ROWS /* pack unit and column chunk */
#define REF_M_CHUNK 64       /* activation rows per work item */

static size_t row_bytes(const amx_weights *w) {
    return (size_t)w->kb * (size_t)amxq_type_info(w->type)->bytes;
}

size_t ref_packed_size(amx_type type, int64_t n, int64_t k) {
    const type_info *ti = amxq_type_info(type);
    return (size_t)n * (size_t)(k / ti->block) * (size_t)ti->bytes;
}

void ref_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1) {
    const size_t rb = row_bytes(w);
    const int64_t r0 = u0 * REF_ROWS_PER_UNIT;
    int64_t r1 = u1 * REF_ROWS_PER_UNIT;
    if (r1 > w->n) r1 = w->n;
    if (r1 > r0) memcpy(dst + (size_t)r0 * rb, (const uint8_t *)src + (size_t)r0 * rb, (size_t)(r1 - r0) * rb);
}

void ref_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1) {
    const size_t rb = row_bytes(w);
    const int64_t r0 = u0 * REF_ROWS_PER_UNIT;
    int64_t r1 = u1 * REF_ROWS_PER_UNIT;
    if (r1 > w->n) r1 = w->n;
    if (r1 > r0) memcpy((uint8_t *)dst + (size_t)r0 * rb, w->data + (size_t)r0 * rb, (size_t)(r1 - r0) * rb);
}

size_t ref_act_size(const amx_weights *w, int64_t m) {
    return (size_t)m * ref_act_row_bytes(w->type, w->k);
}

void ref_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws, int64_t m0,
                  int64_t m1) {
    (void)m;
    const size_t ab = ref_act_row_bytes(w->type, w->k);
    for (int64_t i = m0; i < m1; i++) ref_quantize_row_for(w->type, x + i * ldx, (uint8_t *)ws + (size_t)i * ab, w->k);
}

static int64_t n_chunks(const amx_weights *w) { return (w->n + REF_ROWS_PER_UNIT - 1) / REF_ROWS_PER_UNIT; }
static int64_t m_chunks(int64_t m) { return (m + REF_M_CHUNK - 1) / REF_M_CHUNK; }

int64_t ref_n_items(const amx_weights *w, int64_t m, const void *opts) {
    (void)opts;
    return n_chunks(w) * m_chunks(m);
}

const char *ref_kernel_name(const amx_weights *w, int64_t m) {
    (void)m;
    switch (w->type) {
    case AMX_TYPE_Q4_0: return "ref_gemm_q4_0_1x1";
    case AMX_TYPE_Q4_1: return "ref_gemm_q4_1_1x1";
    case AMX_TYPE_Q8_0: return "ref_gemm_q8_0_1x1";
    case AMX_TYPE_Q4_K: return "ref_gemm_q4_K_1x1";
    case AMX_TYPE_Q5_K: return "ref_gemm_q5_K_1x1";
    case AMX_TYPE_Q6_K: return "ref_gemm_q6_K_1x1";
    case AMX_TYPE_IQ4_XS: return "ref_gemm_iq4_xs_1x1";
    }
    return "ref_gemm";
}

void ref_compute(const amx_weights *w, int64_t m, const void *ws, float *y, int64_t ldy, int64_t it0,
                 int64_t it1, const void *opts) {
    (void)opts;
    const size_t ab = ref_act_row_bytes(w->type, w->k), rb = row_bytes(w);
    const int64_t nc = n_chunks(w);
    for (int64_t it = it0; it < it1; it++) {
        const int64_t mc = it / nc, ncol = it % nc;
        const int64_t i0 = mc * REF_M_CHUNK, i1 = i0 + REF_M_CHUNK < m ? i0 + REF_M_CHUNK : m;
        const int64_t j0 = ncol * REF_ROWS_PER_UNIT;
        const int64_t j1 = j0 + REF_ROWS_PER_UNIT < w->n ? j0 + REF_ROWS_PER_UNIT : w->n;
        for (int64_t j = j0; j < j1; j++)
            for (int64_t i = i0; i < i1; i++)
                y[i * ldy + j] = ref_vec_dot(w->type, w->k, w->data + (size_t)j * rb, (const uint8_t *)ws + (size_t)i * ab);
    }
}
