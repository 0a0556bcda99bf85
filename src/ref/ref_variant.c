/*
 * The scalar kernel family: the handle keeps the GGUF blocks as they are,
 * activations become ggml blocks (block_q8_0 / q8_1 / q8_K) and every output
 * is one amxq_ref_vec_dot. Slow and obviously right; everything else is checked
 * against it.
 */
#include <string.h>

#include "../kernel.h"
#include "../formats.h"
#include "ref.h"
#include "ref_variant.h"

#define REF_ROWS_PER_UNIT REF_PACK_ROWS /* pack unit and column chunk */
#define REF_M_CHUNK 64       /* activation rows per work item */

static size_t row_bytes(const amx_weights *w) {
    return (size_t)w->kb * (size_t)amxq_type_info(w->type)->bytes;
}

size_t amxq_ref_packed_size(const amx_weights *w) {
    return (size_t)w->n * row_bytes(w);
}

void amxq_ref_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1) {
    const size_t rb = row_bytes(w);
    const int64_t r0 = u0 * REF_ROWS_PER_UNIT;
    int64_t r1 = u1 * REF_ROWS_PER_UNIT;
    if (r1 > w->n) r1 = w->n;
    if (r1 > r0) memcpy(dst + (size_t)r0 * rb, (const uint8_t *)src + (size_t)r0 * rb, (size_t)(r1 - r0) * rb);
}

void amxq_ref_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1) {
    const size_t rb = row_bytes(w);
    const int64_t r0 = u0 * REF_ROWS_PER_UNIT;
    int64_t r1 = u1 * REF_ROWS_PER_UNIT;
    if (r1 > w->n) r1 = w->n;
    if (r1 > r0) memcpy((uint8_t *)dst + (size_t)r0 * rb, w->data + (size_t)r0 * rb, (size_t)(r1 - r0) * rb);
}

size_t amxq_ref_act_size(const amx_weights *w, int64_t m) {
    return (size_t)m * amxq_ref_act_row_bytes(w->type, w->k);
}

void amxq_ref_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws, int64_t m0,
                  int64_t m1) {
    (void)m;
    const size_t ab = amxq_ref_act_row_bytes(w->type, w->k);
    for (int64_t i = m0; i < m1; i++)
        amxq_ref_quantize_row_for(w->type, x + i * ldx, (uint8_t *)ws + (size_t)i * ab, w->k);
}

static int64_t n_chunks(const amx_weights *w) { return (w->n + REF_ROWS_PER_UNIT - 1) / REF_ROWS_PER_UNIT; }

/* ggml's activation blocks for the type: Q8_0, Q8_1 or Q8_K. */
uint32_t amxq_ref_act_format(const amx_weights *w) { return (uint32_t)amxq_type_info(w->type)->act; }

/* Rows of ggml's activation blocks, one after the other. */
void amxq_ref_act_copy_row(const amx_weights *w, const void *src, int64_t m_src, int64_t i_src, void *dst,
                           int64_t m_dst, int64_t i_dst) {
    (void)m_src;
    (void)m_dst;
    const size_t ab = amxq_ref_act_row_bytes(w->type, w->k);
    memcpy((uint8_t *)dst + (size_t)i_dst * ab, (const uint8_t *)src + (size_t)i_src * ab, ab);
}

/* Items: (REF_M_CHUNK rows) x (REF_ROWS_PER_UNIT columns), columns fastest. */
static void ref_compute(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws, float *y,
                        int64_t ldy, int64_t it0, int64_t it1) {
    const size_t ab = amxq_ref_act_row_bytes(w->type, w->k), rb = row_bytes(w);
    const int64_t nc = n_chunks(w);
    for (int64_t it = it0; it < it1; it++) {
        const int64_t mc = it / nc, ncol = it % nc;
        const int64_t i0 = mc * p->rows_block, i1 = i0 + p->rows_block < m ? i0 + p->rows_block : m;
        const int64_t j0 = ncol * p->cols_block;
        const int64_t j1 = j0 + p->cols_block < w->n ? j0 + p->cols_block : w->n;
        for (int64_t j = j0; j < j1; j++)
            for (int64_t i = i0; i < i1; i++)
                y[i * ldy + j] = amxq_ref_vec_dot(w->type, w->k, w->data + (size_t)j * rb,
                                                  (const uint8_t *)ws + (size_t)i * ab);
    }
}

void amxq_ref_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out) {
    (void)opts;
    const ref_kind *kind = w->impl;
    *out = (amxq_plan){
        .kernel = kind->kernel,
        .rows_block = REF_M_CHUNK,
        .cols_block = REF_ROWS_PER_UNIT,
        .n_items = n_chunks(w) * ((m + REF_M_CHUNK - 1) / REF_M_CHUNK),
        .compute = ref_compute,
        .impl = kind,
        .order = AMXQ_ITEMS_COLS_FASTEST,
    };
}
