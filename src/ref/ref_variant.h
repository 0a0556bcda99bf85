/* Entry points of the scalar kernel family for the dispatch table. */
#ifndef AMXQ_REF_VARIANT_H
#define AMXQ_REF_VARIANT_H

#include "../kernel.h"

#define REF_PACK_ROWS 16
/* The family's per-type descriptor (the row's impl). */
typedef struct {
    const char *kernel; /* "ref_gemm_<type>_1x1" */
} ref_kind;

size_t amxq_ref_packed_size(const amx_weights *w);
void amxq_ref_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1);
void amxq_ref_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1);
size_t amxq_ref_act_size(const amx_weights *w, int64_t m);
void amxq_ref_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws, int64_t m0,
                  int64_t m1);
uint32_t amxq_ref_act_format(const amx_weights *w);
void amxq_ref_act_copy_row(const amx_weights *w, const void *src, int64_t m_src, int64_t i_src, void *dst,
                           int64_t m_dst, int64_t i_dst);
void amxq_ref_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);

#endif
