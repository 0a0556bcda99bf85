/* Entry points of the AVX-512 VNNI kernels for Q4_0, Q4_1 and Q8_0 (the
 * dispatch-table rows vnni512_q4_0, vnni512_q4_1, vnni512_q8_0). Plain C: the
 * core library calls them only after the CPU probe allowed AVX-512 VNNI. */
#ifndef AMXQ_VNNI_LEGACY_H
#define AMXQ_VNNI_LEGACY_H

#include "../dispatch.h"

size_t vnni_legacy_act_size(const amx_weights *w, int64_t m);
void vnni_legacy_quantize(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                          int64_t m0, int64_t m1);
int64_t vnni_legacy_n_items(const amx_weights *w, int64_t m, const void *opts);
void vnni_legacy_compute(const amx_weights *w, int64_t m, const void *ws, float *y, int64_t ldy,
                         int64_t item0, int64_t item1, const void *opts);
const char *vnni_legacy_kernel_name(const amx_weights *w, int64_t m);

#endif
