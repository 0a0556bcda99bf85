/* What the public entry points (api.c, api_weights.c) share. */
#ifndef AMXQ_API_INTERNAL_H
#define AMXQ_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

/* Largest n or k accepted: kernels index one row's blocks and bytes with
 * 32-bit integers. n * k is capped so every byte count fits comfortably. */
#define AMXQ_MAX_DIM ((int64_t)1 << 31)
#define AMXQ_MAX_ELEMS ((int64_t)1 << 50)
/* Most experts in one expert handle (n_expert * n * k is capped as above). */
#define AMXQ_MAX_EXPERTS ((int64_t)1 << 20)
/* The first published size of amx_pack_opts and amx_open_opts, and the
 * largest option struct we can check. */
#define AMXQ_PACK_OPTS_V0_SIZE 16u
#define AMXQ_OPEN_OPTS_V0_SIZE 12u
#define AMXQ_OPTS_MAX_SIZE 4096u

/* Copies a caller's option struct of `size` bytes into `dst` (`known` bytes,
 * pre-filled with defaults). Smaller than the first published size, larger
 * than we can check, or non-zero bytes we do not know: 0 (invalid). */
int amxq_copy_opts(void *dst, size_t known, const void *src, uint32_t v0_size);
amx_status amxq_read_pack_opts(const amx_pack_opts *o, amx_pack_opts *r);
int amxq_handle_ok(const amx_weights *w);

/* Expert e of an expert handle as a plain matrix handle (a copy on the
 * caller's stack, valid as long as w): what the kernels are given. */
static inline void amxq_expert_view(const amx_weights *w, int64_t e, amx_weights *view) {
    *view = *w;
    view->data = w->data + (size_t)e * w->expert_stride;
    view->gguf_bytes = w->gguf_bytes / (size_t)w->n_expert;
    view->n_expert = 0;
    view->expert_stride = 0;
}


/* ---- what the multiply entry points (api.c, api_experts.c) share ---------- */

/* Below this many activation values the caller's thread quantizes alone. */
#define AMXQ_PARALLEL_QUANTIZE_MIN ((int64_t)1 << 16)

/* amx_gemm_opts as read from the caller: defaults filled, checked. */
amx_status amxq_read_gemm_opts(const amx_gemm_opts *o, amx_gemm_opts *r);
/* The per-call options kernels see: amx_min_m from the call, else w's. */
amxq_call_opts amxq_call_opts_of(const amx_weights *w, const amx_gemm_opts *o);
/* An m-row operand with `cols` values per row and row stride ld: NULL is
 * fine only when there are no rows. */
amx_status amxq_check_operand(int64_t m, const void *p, int64_t ld, int64_t cols);
/* Share ith of nth of n items, balanced and contiguous, for any int32 nth. */
void amxq_share_range(int64_t n, int32_t ith, int32_t nth, int64_t *b, int64_t *e);

/* The rectangle of y that item `it` of plan p (m rows, n columns) writes:
 * rows [*r0, *r1), columns [*c0, *c1). The plan's order must be set. */
void amxq_item_rect(const amxq_plan *p, int64_t m, int64_t n, int64_t it, int64_t *r0, int64_t *r1,
                    int64_t *c0, int64_t *c1);

/* A plan that does not say how its items map to rectangles (order unset)
 * becomes one item covering all of y, run by the original compute over all
 * its items: the epilogue and the expert scatter then see its whole output
 * (less parallel, the same results). `inner` keeps the original and must
 * outlive p. The environment variable AMXQ_TEST_WHOLE_PLANS=1 does it to
 * every plan, so that the tests run this path on every row. */
void amxq_plan_normalize(amxq_plan *p, amxq_plan *inner, int64_t m, int64_t n);

/* The epilogue (amx_gemm_opts.bias, AMX_GEMM_ACCUMULATE) on one output:
 * the result r, then r + bias, then old + that, each step only if asked.
 * One definition, so every entry point rounds alike. */
static inline float amxq_epilogue(float r, const float *bias_j, const float *old) {
    if (bias_j) r = r + *bias_j;
    if (old) r = *old + r;
    return r;
}

#endif
