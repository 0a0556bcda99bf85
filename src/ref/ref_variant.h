/* Entry points of the scalar kernel family for the dispatch table. */
#ifndef AMXQ_REF_VARIANT_H
#define AMXQ_REF_VARIANT_H

#include "../dispatch.h"

#define REF_PACK_ROWS 16
size_t ref_packed_size(amx_type type, int64_t n, int64_t k);
void ref_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1);
void ref_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1);
size_t ref_act_size(const amx_weights *w, int64_t m);
void ref_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws, int64_t m0,
                  int64_t m1);
int64_t ref_n_items(const amx_weights *w, int64_t m, const void *opts);
void ref_compute(const amx_weights *w, int64_t m, const void *ws, float *y, int64_t ldy, int64_t it0,
                 int64_t it1, const void *opts);
const char *ref_kernel_name(const amx_weights *w, int64_t m);

#endif
