/* Entry points of the AVX-512 VNNI kernels for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
 * and IQ4_NL (the dispatch-table rows vnni512_q4_0, _q4_1, _q5_0, _q5_1,
 * _q8_0, _iq4_nl). Plain C: the
 * core library calls them only after the CPU probe allowed AVX-512 VNNI. */
#ifndef AMXQ_VNNI_LEGACY_H
#define AMXQ_VNNI_LEGACY_H

#include "../kernel.h"

/* The family's per-type descriptors (the rows' impl): tiles and names. */
typedef struct vnni_legacy_kind vnni_legacy_kind;
extern const vnni_legacy_kind amxq_vnni_legacy_q4_0, amxq_vnni_legacy_q4_1, amxq_vnni_legacy_q5_0,
    amxq_vnni_legacy_q5_1, amxq_vnni_legacy_q8_0, amxq_vnni_legacy_iq4_nl;

size_t amxq_vnni_legacy_act_size(const amx_weights *w, int64_t m);
void amxq_vnni_legacy_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                          int64_t m0, int64_t m1);
/* Q8_0 or Q8_1 blocks, and the zero point the compensation sums use. */
uint32_t amxq_vnni_legacy_act_format(const amx_weights *w);
void amxq_vnni_legacy_act_copy_row(const amx_weights *w, const void *src, int64_t m_src, int64_t i_src,
                                   void *dst, int64_t m_dst, int64_t i_dst);
void amxq_vnni_legacy_select(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);
/* The plan with an explicit descriptor: the AMX rows' path for small m. */
void amxq_vnni_legacy_plan(const amx_weights *w, const vnni_legacy_kind *kind, int64_t m, const amxq_call_opts *opts,
                           amxq_plan *out);

#endif
