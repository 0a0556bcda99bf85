/*
 * The expert multiply (ggml's mul_mat_id): amx_gemm_q_experts on the
 * library's pool and the two split steps for the caller's threads.
 *
 * One multiply, whoever runs it:
 *   1. Routing: a stable counting sort of the m * n_ids (row, slot) pairs by
 *      expert. Gathered row g of expert e is the off[e] + r-th entry; slot[g]
 *      is its (row, slot) index s = i * n_ids + j, which is also the output
 *      row in y; pos[s] = g. Cheap (O(n_expert + m * n_ids)), so each step
 *      and each share of the split API builds its own instead of sharing one
 *      through the workspace.
 *   2. Quantize (shares: rows of x): row i is quantized once, into its first
 *      slot's place in that expert's activation rows, and copied to the places
 *      of its other slots (the row's act_copy_row; a row of the table without
 *      one quantizes again, which gives the same bytes).
 *   3. Compute (shares: work items): every expert with rows has its own plan,
 *      chosen by its row count exactly as amx_gemm_q would; the items of all
 *      experts are numbered expert after expert, so threads split the experts
 *      and, within one, its columns. An item's products go to the expert's
 *      rows of the workspace's output block; then the item's rectangle is
 *      scattered to the output rows of y with the epilogue.
 *
 * Workspace: per expert with rows, its activation workspace (act_size for its
 * row count, 64-byte aligned); then the output block, one row of ldt floats
 * per gathered row. The kernels never see the expert handle, only one
 * expert's view (amxq_expert_view).
 */
#include <stdlib.h>
#include <string.h>

#include "amxq.h"
#include "api_internal.h"
#include "pool.h"
#include "scratch.h"

#define IDS_PER_ROW_MAX 4096
/* Workspaces larger than this are released after a pool call. */
#define WORKSPACE_KEEP_MAX ((size_t)64 << 20)

static size_t align64(size_t v) { return (v + 63) & ~(size_t)63; }

typedef struct {
    const amx_weights *w;
    int64_t m, n_ids, t; /* rows of x, ids per row, t = m * n_ids */
    const int32_t *ids;
    /* routing (step 1) */
    int64_t *off;  /* n_expert + 1 */
    int32_t *slot; /* t */
    int32_t *pos;  /* t */
    /* workspace layout */
    size_t *act_off; /* n_expert: offset of the expert's activation rows */
    size_t out_off;  /* the output block */
    int64_t ldt;     /* its row stride in floats */
    size_t ws_bytes;
    void *mem;       /* what the arrays above live in */
} route;

static void route_free(route *r) { free(r->mem); }

/* Builds the routing and the workspace layout of ids (already checked).
 * AMX_ERR_NO_MEMORY, or AMX_OK. */
static amx_status route_build(const amx_weights *w, int64_t m, const int32_t *ids, int64_t n_ids, route *r) {
    const int64_t ne = w->n_expert, t = m * n_ids;
    *r = (route){.w = w, .m = m, .n_ids = n_ids, .t = t, .ids = ids};
    const size_t bytes = sizeof(int64_t) * (size_t)(ne + 1) + sizeof(size_t) * (size_t)ne +
                         2 * sizeof(int32_t) * (size_t)t;
    r->mem = malloc(bytes);
    if (!r->mem) return AMX_ERR_NO_MEMORY;
    r->off = r->mem;
    r->act_off = (size_t *)(r->off + ne + 1);
    r->slot = (int32_t *)(r->act_off + ne);
    r->pos = r->slot + t;
    memset(r->off, 0, sizeof(int64_t) * (size_t)(ne + 1));
    for (int64_t s = 0; s < t; s++) r->off[ids[s] + 1]++;
    for (int64_t e = 0; e < ne; e++) r->off[e + 1] += r->off[e];
    /* stable: an expert's rows in order of (row, slot); pos counts up from off */
    for (int64_t s = 0; s < t; s++) {
        const int64_t g = r->off[ids[s]]++;
        r->slot[g] = (int32_t)s;
        r->pos[s] = (int32_t)g;
    }
    for (int64_t e = ne; e > 0; e--) r->off[e] = r->off[e - 1];
    r->off[0] = 0;
    size_t at = 0;
    for (int64_t e = 0; e < ne; e++) {
        r->act_off[e] = at;
        const int64_t c = r->off[e + 1] - r->off[e];
        if (c > 0) {
            amx_weights view;
            amxq_expert_view(w, e, &view);
            at = align64(at + w->v->act_size(&view, c));
        }
    }
    r->out_off = at;
    r->ldt = (w->n + 15) & ~(int64_t)15;
    r->ws_bytes = at + sizeof(float) * (size_t)t * (size_t)r->ldt;
    return AMX_OK;
}

static int64_t rows_of(const route *r, int64_t e) { return r->off[e + 1] - r->off[e]; }

/* ---- step 2: quantize -------------------------------------------------------- */

typedef struct {
    const route *r;
    const float *x;
    int64_t ldx;
    uint8_t *ws;
} quantize_job;

static void quantize_rows(const quantize_job *j, int64_t i0, int64_t i1) {
    const route *r = j->r;
    const amx_weights *w = r->w;
    for (int64_t i = i0; i < i1; i++) {
        int64_t e0 = -1, g0 = 0; /* where this row was quantized first */
        for (int64_t s = i * r->n_ids; s < (i + 1) * r->n_ids; s++) {
            const int64_t e = r->ids[s], g = r->pos[s];
            amx_weights view;
            amxq_expert_view(w, e, &view);
            uint8_t *ws = j->ws + r->act_off[e];
            const int64_t c = rows_of(r, e), row = g - r->off[e];
            if (e0 >= 0 && w->v->act_copy_row) {
                w->v->act_copy_row(&view, j->ws + r->act_off[e0], rows_of(r, e0), g0 - r->off[e0], ws, c, row);
                continue;
            }
            /* row stride 0: the quantizer reads row i of x as row `row` of its m = c */
            w->v->quantize(&view, j->x + i * j->ldx, 0, c, ws, row, row + 1);
            e0 = e;
            g0 = g;
        }
    }
}

static void quantize_task(void *ctx, int ith, int nth) {
    const quantize_job *j = ctx;
    int64_t i0, i1;
    amxq_share_range(j->r->m, ith, nth, &i0, &i1);
    quantize_rows(j, i0, i1);
}

/* ---- step 3: compute --------------------------------------------------------- */

typedef struct {
    const route *r;
    const uint8_t *ws; /* activations (read); the output block lies after them */
    float *out;        /* the workspace's output block (written) */
    float *y;
    int64_t ldy;
    const float *bias;
    int accumulate;
    amxq_call_opts call;
    amxq_plan *plans;      /* per expert (rows > 0) */
    amxq_plan *inner;      /* per expert: the kernel's own plan where plans[e] wraps it */
    int64_t *item_off;     /* n_expert + 1: first global item of each expert */
} compute_job;

/* Plans for every expert with rows, and the global numbering of their items. */
static void plan_all(compute_job *j, amxq_plan *plans, amxq_plan *inner, int64_t *item_off) {
    const route *r = j->r;
    const amx_weights *w = r->w;
    j->plans = plans;
    j->inner = inner;
    j->item_off = item_off;
    item_off[0] = 0;
    for (int64_t e = 0; e < w->n_expert; e++) {
        const int64_t c = rows_of(r, e);
        item_off[e + 1] = item_off[e];
        if (c == 0) continue;
        amx_weights view;
        amxq_expert_view(w, e, &view);
        w->v->select(&view, c, &j->call, &plans[e]);
        amxq_plan_normalize(&plans[e], &inner[e], c, w->n); /* the scatter needs its rectangles */
        item_off[e + 1] += plans[e].n_items;
    }
}

/* Global items [g0, g1): each expert's share computed into the output block,
 * then its rectangles scattered to y. */
static void compute_items(const compute_job *j, int64_t g0, int64_t g1) {
    const route *r = j->r;
    const amx_weights *w = r->w;
    const int64_t n = w->n;
    /* the first expert whose items reach past g0 */
    int64_t lo = 0, hi = w->n_expert - 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (j->item_off[mid + 1] <= g0) lo = mid + 1;
        else hi = mid;
    }
    for (int64_t e = lo; e < w->n_expert && j->item_off[e] < g1; e++) {
        const int64_t a = (g0 > j->item_off[e] ? g0 : j->item_off[e]) - j->item_off[e];
        const int64_t b = (g1 < j->item_off[e + 1] ? g1 : j->item_off[e + 1]) - j->item_off[e];
        if (b <= a) continue;
        const amxq_plan *p = &j->plans[e];
        const int64_t c = rows_of(r, e);
        amx_weights view;
        amxq_expert_view(w, e, &view);
        float *t = j->out + r->off[e] * r->ldt;
        p->compute(p, &view, c, j->ws + r->act_off[e], t, r->ldt, a, b);
        const float *bias = j->bias ? j->bias + e * n : NULL;
        for (int64_t it = a; it < b; it++) {
            int64_t r0, r1, c0, c1;
            amxq_item_rect(p, c, n, it, &r0, &r1, &c0, &c1);
            for (int64_t row = r0; row < r1; row++) {
                const float *tr = t + row * r->ldt;
                float *yr = j->y + (int64_t)r->slot[r->off[e] + row] * j->ldy;
                if (!bias && !j->accumulate) {
                    memcpy(yr + c0, tr + c0, sizeof(float) * (size_t)(c1 - c0));
                    continue;
                }
                for (int64_t col = c0; col < c1; col++)
                    yr[col] = amxq_epilogue(tr[col], bias ? bias + col : NULL, j->accumulate ? yr + col : NULL);
            }
        }
    }
}

static void compute_task(void *ctx, int ith, int nth) {
    const compute_job *j = ctx;
    int64_t g0, g1;
    amxq_share_range(j->item_off[j->r->w->n_expert], ith, nth, &g0, &g1);
    if (g1 > g0) compute_items(j, g0, g1);
}

/* ---- checks and entry points ------------------------------------------------- */

/* Every check, in the documented order, before anything is written. */
static amx_status check_experts(const amx_weights *w, int64_t m, const float *x, int64_t ldx, int has_x,
                                const int32_t *ids, int32_t n_ids, float *y, int64_t ldy, int has_y,
                                const amx_gemm_opts *opts, amx_gemm_opts *o) {
    if (!amxq_handle_ok(w) || w->n_expert < 1) return AMX_ERR_INVALID_ARG;
    amx_status st = amxq_read_gemm_opts(opts, o);
    if (st != AMX_OK) return st;
    if (m < 0 || n_ids < 1 || n_ids > IDS_PER_ROW_MAX || m > (int64_t)INT32_MAX / n_ids) return AMX_ERR_INVALID_ARG;
    if (has_x && (st = amxq_check_operand(m, x, ldx, w->k)) != AMX_OK) return st;
    if (m > 0 && !ids) return AMX_ERR_INVALID_ARG;
    if (has_y && (st = amxq_check_operand(m * n_ids, y, ldy, w->n)) != AMX_OK) return st;
    for (int64_t s = 0; s < m * n_ids; s++)
        if (ids[s] < 0 || ids[s] >= w->n_expert) return AMX_ERR_INVALID_ARG;
    return AMX_OK;
}

static amx_status check_share(int32_t ith, int32_t nth) {
    return nth >= 1 && ith >= 0 && ith < nth ? AMX_OK : AMX_ERR_INVALID_ARG;
}

static amx_status check_ws(const route *r, const void *ws, size_t ws_size) {
    if (!ws) return AMX_ERR_INVALID_ARG;
    return ((uintptr_t)ws & 63) == 0 && ws_size >= r->ws_bytes ? AMX_OK : AMX_ERR_WORKSPACE;
}

/* The plans of a compute step: they and the item numbering in one allocation. */
static amx_status compute_setup(compute_job *j, const route *r, const amx_gemm_opts *o, void *ws,
                                float *y, int64_t ldy, void **mem) {
    const int64_t ne = r->w->n_expert;
    *j = (compute_job){.r = r, .ws = ws, .out = (float *)((uint8_t *)ws + r->out_off), .y = y, .ldy = ldy,
                       .bias = o->bias, .accumulate = (o->flags & AMX_GEMM_ACCUMULATE) != 0,
                       .call = amxq_call_opts_of(r->w, o)};
    *mem = malloc(2 * sizeof(amxq_plan) * (size_t)ne + sizeof(int64_t) * (size_t)(ne + 1));
    if (!*mem) return AMX_ERR_NO_MEMORY;
    amxq_plan *plans = *mem;
    plan_all(j, plans, plans + ne, (int64_t *)(plans + 2 * ne));
    return AMX_OK;
}

amx_status amx_gemm_q_experts(const amx_weights *w, int64_t m, const float *x, int64_t ldx, const int32_t *ids,
                              int32_t n_ids_per_row, float *y, int64_t ldy, const amx_gemm_opts *opts) {
    amx_gemm_opts o;
    amx_status st = check_experts(w, m, x, ldx, 1, ids, n_ids_per_row, y, ldy, 1, opts, &o);
    if (st != AMX_OK || m == 0) return st;
    route r;
    if ((st = route_build(w, m, ids, n_ids_per_row, &r)) != AMX_OK) return st;
    uint8_t *ws = amxq_scratch_get(AMXQ_SCRATCH_WORKSPACE, r.ws_bytes, 4096);
    compute_job cj;
    void *plans = NULL;
    if (!ws) st = AMX_ERR_NO_MEMORY;
    if (st == AMX_OK) st = compute_setup(&cj, &r, &o, ws, y, ldy, &plans);
    if (st == AMX_OK) {
        const quantize_job qj = {&r, x, ldx, ws};
        int nth = o.n_threads < m ? o.n_threads : (int)m;
        if (nth > 1 && m * w->k >= AMXQ_PARALLEL_QUANTIZE_MIN) amxq_pool_run(nth, quantize_task, NULL, (void *)&qj);
        else quantize_rows(&qj, 0, m);
        const int64_t items = cj.item_off[w->n_expert];
        nth = o.n_threads < items ? o.n_threads : (int)items;
        amxq_pool_run(nth, compute_task, NULL, &cj);
    }
    free(plans);
    route_free(&r);
    amxq_scratch_trim(AMXQ_SCRATCH_WORKSPACE, WORKSPACE_KEEP_MAX);
    return st;
}

amx_status amx_gemm_experts_workspace_size(const amx_weights *w, int64_t m, const int32_t *ids,
                                           int32_t n_ids_per_row, size_t *bytes) {
    amx_gemm_opts o;
    amx_status st = check_experts(w, m, NULL, 0, 0, ids, n_ids_per_row, NULL, 0, 0, NULL, &o);
    if (st == AMX_OK && !bytes) st = AMX_ERR_INVALID_ARG;
    if (st != AMX_OK) return st;
    if (m == 0) {
        *bytes = 0;
        return AMX_OK;
    }
    route r;
    if ((st = route_build(w, m, ids, n_ids_per_row, &r)) != AMX_OK) return st;
    *bytes = r.ws_bytes;
    route_free(&r);
    return AMX_OK;
}

amx_status amx_gemm_experts_quantize(const amx_weights *w, int64_t m, const float *x, int64_t ldx,
                                     const int32_t *ids, int32_t n_ids_per_row, void *ws, size_t ws_size,
                                     int32_t ith, int32_t nth) {
    amx_gemm_opts o;
    amx_status st = check_experts(w, m, x, ldx, 1, ids, n_ids_per_row, NULL, 0, 0, NULL, &o);
    if (st == AMX_OK) st = check_share(ith, nth);
    if (st != AMX_OK || m == 0) return st;
    route r;
    if ((st = route_build(w, m, ids, n_ids_per_row, &r)) != AMX_OK) return st;
    st = check_ws(&r, ws, ws_size);
    if (st == AMX_OK) {
        const quantize_job qj = {&r, x, ldx, ws};
        int64_t i0, i1;
        amxq_share_range(m, ith, nth, &i0, &i1);
        quantize_rows(&qj, i0, i1);
    }
    route_free(&r);
    return st;
}

amx_status amx_gemm_experts_compute(const amx_weights *w, int64_t m, const int32_t *ids, int32_t n_ids_per_row,
                                    void *ws, size_t ws_size, float *y, int64_t ldy, int32_t ith,
                                    int32_t nth, const amx_gemm_opts *opts) {
    amx_gemm_opts o;
    amx_status st = check_experts(w, m, NULL, 0, 0, ids, n_ids_per_row, y, ldy, 1, opts, &o);
    if (st == AMX_OK) st = check_share(ith, nth);
    if (st != AMX_OK || m == 0) return st;
    route r;
    if ((st = route_build(w, m, ids, n_ids_per_row, &r)) != AMX_OK) return st;
    st = check_ws(&r, ws, ws_size);
    compute_job cj;
    void *plans = NULL;
    if (st == AMX_OK) st = compute_setup(&cj, &r, &o, ws, y, ldy, &plans);
    if (st == AMX_OK) compute_task(&cj, ith, nth);
    free(plans);
    route_free(&r);
    return st;
}
