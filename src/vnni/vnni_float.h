/* Entry points of the AVX-512 kernels for the float weight types F16 and
 * BF16 (the dispatch-table rows vnni512_f16, vnni512_bf16). Plain C: the core
 * library calls them only after the CPU probe allowed AVX-512. */
#ifndef AMXQ_VNNI_FLOAT_H
#define AMXQ_VNNI_FLOAT_H

#include "../kernel.h"

/* The family's per-type descriptors (the rows' impl): kernels and names. */
typedef struct vnni_float_kind vnni_float_kind;
extern const vnni_float_kind amxq_vnni_float_f16, amxq_vnni_float_bf16;

size_t amxq_vnni_float_act_size(const amx_weights *w, int64_t m);
void amxq_vnni_float_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                              int64_t m0, int64_t m1);
/* fp16 values as floats, or bf16 pairs (act_float.h). */
uint32_t amxq_vnni_float_act_format(const amx_weights *w);
void amxq_vnni_float_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);
/* The plan with an explicit descriptor: the AMX BF16 row's path for small m. */
void amxq_vnni_float_plan(const amx_weights *w, const vnni_float_kind *kind, int64_t m, const amxq_call_opts *opts,
                          amxq_plan *out);

#endif
