/*
 * The public entry points: argument validation, variant selection, workspace
 * and threading. Every check happens before anything is written, so a failed
 * call leaves the caller's memory exactly as it was.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amxq.h"
#include "cpu.h"
#include "tuning.h"
#include "dispatch.h"
#include "formats.h"
#include "api_internal.h"
#include "numa.h"
#include "pool.h"
#include "scratch.h"
#include "version.h"
#include "ref/ref.h"


/* The first published size of amx_gemm_opts. */
#define GEMM_OPTS_V0_SIZE 12u
#define PARALLEL_QUANTIZE_MIN AMXQ_PARALLEL_QUANTIZE_MIN
/* Accumulating compute shares save the outputs they overwrite in pieces of
 * at most this many floats (one item more when an item is larger). */
#define EPILOGUE_PIECE ((int64_t)1 << 16)
/* Workspaces larger than this are released after the call. */
#define WORKSPACE_KEEP_MAX ((size_t)64 << 20)

const char *amx_status_str(amx_status s) {
    switch (s) {
    case AMX_OK: return "success";
    case AMX_ERR_INVALID_ARG: return "invalid argument";
    case AMX_ERR_UNSUPPORTED_TYPE: return "unsupported weight type";
    case AMX_ERR_BAD_SHAPE: return "bad shape: k must be a positive multiple of the block size and n*k indexable";
    case AMX_ERR_SIZE_MISMATCH: return "data size does not match n, k and the type";
    case AMX_ERR_NO_MEMORY: return "out of memory";
    case AMX_ERR_ISA_UNAVAILABLE: return "requested ISA is not available on this CPU/OS";
    case AMX_ERR_WORKSPACE: return "workspace too small or misaligned";
    case AMX_ERR_BUFFER: return "buffer too small or not aligned as required";
    case AMX_ERR_BAD_FORMAT: return "not a packed-weights image, or its header is inconsistent";
    case AMX_ERR_VERSION: return "packed-weights image of a format or layout version this library does not read";
    case AMX_ERR_TRUNCATED: return "packed-weights image shorter than its header says";
    case AMX_ERR_CHECKSUM: return "packed-weights image checksum does not match its bytes";
    case AMX_ERR_IO: return "file could not be opened, read, mapped or written";
    }
    return "unknown status";
}

const char *amx_isa_name(amx_isa isa) { return amxq_isa_name(isa); }

const char *amx_type_name(amx_type type) {
    const type_info *ti = amxq_type_info(type);
    return ti ? ti->name : "unknown";
}

int32_t amx_type_count(void) {
    return amxq_type_count();
}

amx_type amx_type_at(int32_t index) {
    const type_info *ti = amxq_type_info_at(index);
    return ti ? ti->type : (amx_type)-1;
}

amx_type amx_type_from_name(const char *name) {
    if (!name) return (amx_type)-1;
    for (int32_t i = 0; i < amxq_type_count(); i++)
        if (strcasecmp(name, amxq_type_info_at(i)->name) == 0) return amxq_type_info_at(i)->type;
    return (amx_type)-1;
}

int32_t amx_type_block_size(amx_type type) {
    const type_info *ti = amxq_type_info(type);
    return ti ? ti->block : 0;
}

int32_t amx_type_block_bytes(amx_type type) {
    const type_info *ti = amxq_type_info(type);
    return ti ? ti->bytes : 0;
}

uint32_t amx_version(void) {
    return AMXQ_VERSION_MAJOR * 10000u + AMXQ_VERSION_MINOR * 100u + AMXQ_VERSION_PATCH;
}

const char *amx_version_str(void) {
    return AMXQ_VERSION_STRING;
}

amx_isa amx_cpu_best_isa(void) { return amxq_best_isa(); }

int32_t amx_cpu_supports(amx_isa isa, const char **why) { return amxq_isa_usable(isa, why); }

const char *amx_cpu_report(void) { return amxq_cpu_report(); }

/* ---- option structs -------------------------------------------------------- */

/* Copies a caller's option struct of `size` bytes into `dst` (`known` bytes,
 * pre-filled with defaults). Smaller than the first published size, larger
 * than we can check, or non-zero bytes we do not know: invalid. */
int amxq_copy_opts(void *dst, size_t known, const void *src, uint32_t v0_size) {
    uint32_t size;
    memcpy(&size, src, sizeof size);
    if (size < v0_size || size > AMXQ_OPTS_MAX_SIZE) return 0;
    const size_t n = size < known ? size : known;
    memcpy(dst, src, n);
    for (size_t i = known; i < size; i++)
        if (((const unsigned char *)src)[i] != 0) return 0;
    return 1;
}

static int isa_valid(amx_isa isa) { return isa >= AMX_ISA_AUTO && isa <= AMX_ISA_AMX; }

amx_status amxq_read_pack_opts(const amx_pack_opts *o, amx_pack_opts *r) {
    *r = (amx_pack_opts){.size = sizeof *r, .isa = AMX_ISA_AUTO};
    if (!o) return AMX_OK;
    if (!amxq_copy_opts(r, sizeof *r, o, AMXQ_PACK_OPTS_V0_SIZE)) return AMX_ERR_INVALID_ARG;
    if (!isa_valid(r->isa) || r->n_threads < 0 || r->n_threads > AMXQ_MAX_THREADS || r->flags ||
        r->numa < AMX_NUMA_AUTO || r->numa > AMX_NUMA_INTERLEAVE)
        return AMX_ERR_INVALID_ARG;
    if (r->n_threads == 0) r->n_threads = 1;
    return AMX_OK;
}

amx_status amxq_read_gemm_opts(const amx_gemm_opts *o, amx_gemm_opts *r) {
    *r = (amx_gemm_opts){.size = sizeof *r};
    if (o && !amxq_copy_opts(r, sizeof *r, o, GEMM_OPTS_V0_SIZE)) return AMX_ERR_INVALID_ARG;
    if (r->n_threads < 0 || r->n_threads > AMXQ_MAX_THREADS || (r->flags & ~AMX_GEMM_ACCUMULATE) ||
        r->amx_min_m < 0)
        return AMX_ERR_INVALID_ARG;
    if (r->n_threads == 0) r->n_threads = 1;
    return AMX_OK;
}
#define read_gemm_opts amxq_read_gemm_opts

/* The per-call options as kernels see them: amx_min_m from the call, else
 * the handle's default. */
amxq_call_opts amxq_call_opts_of(const amx_weights *w, const amx_gemm_opts *o) {
    return (amxq_call_opts){.amx_min_m = o->amx_min_m ? o->amx_min_m : w->amx_min_m,
                            .kq_decode_prefetch = amxq_tuning_get()->kq_decode_prefetch,
                            .panel_decode_prefetch = amxq_tuning_get()->panel_decode_prefetch,
                            .avx512_bf16 = amxq_cpu_avx512_bf16(),
                            .amx_bf16 = amxq_cpu_amx_bf16(),
                            .amx_rows_block = amxq_tuning_get()->amx_rows_block,
                            .amx_a_l2_kib = amxq_tuning_get()->amx_a_l2_kib,
                            .amx_inner_units = amxq_tuning_get()->amx_inner_units};
}
#define call_opts amxq_call_opts_of

const char *amx_gemm_kernel(const amx_weights *w, int64_t m, const amx_gemm_opts *opts) {
    amx_gemm_opts o;
    if (!amxq_handle_ok(w) || m < 1 || read_gemm_opts(opts, &o) != AMX_OK) return "invalid";
    const amxq_call_opts call = call_opts(w, &o);
    amxq_plan plan;
    w->v->select(w, m, &call, &plan);
    return plan.kernel;
}

const char *amx_weights_kernel(const amx_weights *w, int64_t m) { return amx_gemm_kernel(w, m, NULL); }

amx_status amx_dequantize(amx_type type, int64_t n_elements, const void *data, size_t data_size,
                          float *out) {
    if (!data || !out || n_elements <= 0) return AMX_ERR_INVALID_ARG;
    const type_info *ti = amxq_type_info(type);
    if (!ti) return AMX_ERR_UNSUPPORTED_TYPE;
    if (n_elements % ti->block != 0 || n_elements > AMXQ_MAX_ELEMS) return AMX_ERR_BAD_SHAPE;
    if (data_size != (size_t)(n_elements / ti->block) * (size_t)ti->bytes) return AMX_ERR_SIZE_MISMATCH;
    amxq_ref_dequantize_row(type, data, out, n_elements);
    return AMX_OK;
}

/* ---- multiply -------------------------------------------------------------- */

/* A grow-only activation workspace per calling thread, page-aligned, freed
 * at thread exit (scratch.h; the tile kernels' unpack scratch is another
 * slot: both are live in the same call). */
static void *workspace_get(size_t bytes) { return amxq_scratch_get(AMXQ_SCRATCH_WORKSPACE, bytes, 4096); }

static void workspace_trim(void) { amxq_scratch_trim(AMXQ_SCRATCH_WORKSPACE, WORKSPACE_KEEP_MAX); }

typedef struct {
    const amx_weights *w;
    int64_t m;
    const float *x;
    int64_t ldx;
    float *y;
    int64_t ldy;
    void *ws;
    int32_t n_threads; /* library pool threads (amx_gemm_q only) */
    amxq_plan plan;    /* the one kernel decision of this call */
    amxq_plan inner;   /* the kernel's own plan when plan wraps it (amxq_plan_normalize) */
    const float *bias; /* n floats, or NULL */
    int accumulate;    /* y = y_old + result */
    float *saved;      /* pool calls that accumulate: where the shares save the
                          outputs they overwrite, an m x saved_ld matrix (row r,
                          column c at r * saved_ld + c); NULL: each share uses
                          its thread's scratch */
    int64_t saved_ld;
    amxq_call_opts call;
    const amxq_numa_slot *slots; /* pool thread t computes slots[t] (placed handles); NULL: share t */
} gemm_job;

/* Share ith of nth of n work items: amxq_split's balanced contiguous ranges,
 * computed without overflow for any int32 nth (amx_gemm_q's nth is small, the
 * caller's can be anything). */
void amxq_share_range(int64_t n, int32_t ith, int32_t nth, int64_t *b, int64_t *e) {
    if (n <= INT64_MAX / nth) {
        amxq_split(n, ith, nth, b, e);
    } else {
        *b = (int64_t)((__int128)n * ith / nth);
        *e = (int64_t)((__int128)n * (ith + 1) / nth);
    }
}

#define share_range amxq_share_range

void amxq_item_rect(const amxq_plan *p, int64_t m, int64_t n, int64_t it, int64_t *r0, int64_t *r1,
                    int64_t *c0, int64_t *c1) {
    const int64_t rbs = (m + p->rows_block - 1) / p->rows_block, cbs = (n + p->cols_block - 1) / p->cols_block;
    const int64_t rb = p->order == AMXQ_ITEMS_ROWS_FASTEST ? it % rbs : it / cbs;
    const int64_t cb = p->order == AMXQ_ITEMS_ROWS_FASTEST ? it / rbs : it % cbs;
    *r0 = rb * p->rows_block;
    *r1 = *r0 + p->rows_block < m ? *r0 + p->rows_block : m;
    *c0 = cb * p->cols_block;
    *c1 = *c0 + p->cols_block < n ? *c0 + p->cols_block : n;
}

static void whole_compute(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws, float *y,
                          int64_t ldy, int64_t i0, int64_t i1) {
    const amxq_plan *in = p->impl;
    if (i1 > i0) in->compute(in, w, m, ws, y, ldy, 0, in->n_items);
}

static int g_whole_plans = -1; /* AMXQ_TEST_WHOLE_PLANS, read once */

void amxq_plan_normalize(amxq_plan *p, amxq_plan *inner, int64_t m, int64_t n) {
    int whole = __atomic_load_n(&g_whole_plans, __ATOMIC_RELAXED);
    if (whole < 0) {
        const char *e = getenv("AMXQ_TEST_WHOLE_PLANS");
        whole = e && strcmp(e, "1") == 0;
        __atomic_store_n(&g_whole_plans, whole, __ATOMIC_RELAXED);
    }
    if (p->order != AMXQ_ITEMS_UNSET && !whole) return;
    *inner = *p;
    *p = (amxq_plan){.kernel = inner->kernel, .rows_block = m, .cols_block = n, .n_items = 1,
                     .compute = whole_compute, .impl = inner, .order = AMXQ_ITEMS_ROWS_FASTEST};
}

/* Outputs items [i0, i1) write. */
static int64_t items_area(const gemm_job *j, int64_t i0, int64_t i1) {
    int64_t a = 0, r0, r1, c0, c1;
    for (int64_t it = i0; it < i1; it++) {
        amxq_item_rect(&j->plan, j->m, j->w->n, it, &r0, &r1, &c0, &c1);
        a += (r1 - r0) * (c1 - c0);
    }
    return a;
}

/* Items [i0, i1) with the epilogue: the outputs they will overwrite saved
 * (accumulate), the kernel's results written, then each output made
 * amxq_epilogue of them. saved_ld > 0: `saved` is a matrix like y (row r,
 * column c at r * saved_ld + c, the pool's buffer); 0: the items' rectangles
 * one after another, in item order (a share's scratch). */
static void compute_items_epilogue(const gemm_job *j, int64_t i0, int64_t i1, float *saved, int64_t saved_ld) {
    int64_t r0, r1, c0, c1;
    float *o = saved;
    for (int64_t it = i0; it < i1 && j->accumulate; it++) {
        amxq_item_rect(&j->plan, j->m, j->w->n, it, &r0, &r1, &c0, &c1);
        for (int64_t r = r0; r < r1; r++) {
            float *dst = saved_ld ? saved + r * saved_ld + c0 : o;
            memcpy(dst, j->y + r * j->ldy + c0, sizeof(float) * (size_t)(c1 - c0));
            o += c1 - c0;
        }
    }
    j->plan.compute(&j->plan, j->w, j->m, j->ws, j->y, j->ldy, i0, i1);
    o = saved;
    for (int64_t it = i0; it < i1; it++) {
        amxq_item_rect(&j->plan, j->m, j->w->n, it, &r0, &r1, &c0, &c1);
        for (int64_t r = r0; r < r1; r++) {
            float *yr = j->y + r * j->ldy;
            const float *old = !j->accumulate ? NULL : saved_ld ? saved + r * saved_ld + c0 : o;
            for (int64_t c = c0; c < c1; c++)
                yr[c] = amxq_epilogue(yr[c], j->bias ? j->bias + c : NULL, old ? old + (c - c0) : NULL);
            o += c1 - c0;
        }
    }
}

/* Items [i0, i1) of a call. Without an epilogue the kernel writes y and that
 * is all. Accumulating shares save what they overwrite: in the call's buffer
 * (pool calls, which took it before writing anything), else in the thread's
 * scratch, taken before this share writes anything (AMX_ERR_NO_MEMORY if it
 * cannot be), piece by piece so that it stays small. */
static amx_status compute_items(const gemm_job *j, int64_t i0, int64_t i1) {
    if (!j->bias && !j->accumulate) {
        j->plan.compute(&j->plan, j->w, j->m, j->ws, j->y, j->ldy, i0, i1);
        return AMX_OK;
    }
    if (!j->accumulate) {
        compute_items_epilogue(j, i0, i1, NULL, 0);
        return AMX_OK;
    }
    if (j->saved) {
        compute_items_epilogue(j, i0, i1, j->saved, j->saved_ld);
        return AMX_OK;
    }
    /* the largest piece first, so the one allocation happens before any write */
    int64_t piece_max = 0;
    for (int64_t a = i0, b; a < i1; a = b) {
        int64_t area = 0;
        for (b = a; b < i1 && (b == a || area + items_area(j, b, b + 1) <= EPILOGUE_PIECE); b++)
            area += items_area(j, b, b + 1);
        if (area > piece_max) piece_max = area;
    }
    float *saved = amxq_scratch_get(AMXQ_SCRATCH_EPILOGUE, sizeof(float) * (size_t)piece_max, 64);
    if (!saved) return AMX_ERR_NO_MEMORY;
    for (int64_t a = i0, b; a < i1; a = b) {
        int64_t area = 0;
        for (b = a; b < i1 && (b == a || area + items_area(j, b, b + 1) <= EPILOGUE_PIECE); b++)
            area += items_area(j, b, b + 1);
        compute_items_epilogue(j, a, b, saved, 0);
    }
    amxq_scratch_trim(AMXQ_SCRATCH_EPILOGUE, WORKSPACE_KEEP_MAX);
    return AMX_OK;
}

static void quantize_share(const gemm_job *j, int32_t ith, int32_t nth) {
    int64_t m0, m1;
    share_range(j->m, ith, nth, &m0, &m1);
    if (m1 > m0) j->w->v->quantize(j->w, j->x, j->ldx, j->m, j->ws, m0, m1);
}

static amx_status compute_share_slot(const gemm_job *j, int32_t ith, int32_t nth, const amxq_numa_slot *slot) {
    int64_t i0, i1;
    if (j->w->place) { /* each share reads its node's replica or part */
        amxq_numa_share s;
        gemm_job sub = *j;
        if (!amxq_numa_resolve(j->w, &j->plan, &j->call, j->m, ith, nth, slot, &s, &sub.plan, &i0, &i1))
            return AMX_OK;
        /* the share's view: its own columns of y, bias and the saved outputs */
        sub.w = &s.view;
        sub.y = j->y + s.col0;
        if (sub.bias) sub.bias += s.col0;
        if (sub.saved) sub.saved += s.col0;
        if (s.part >= 0 && (sub.bias || sub.accumulate)) {
            amxq_plan_normalize(&sub.plan, &sub.inner, j->m, s.view.n);
            if (sub.plan.n_items == 1 && i0 > 0) return AMX_OK; /* made whole: share 0 runs it */
            if (sub.plan.n_items == 1) i1 = 1;
        }
        return compute_items(&sub, i0, i1);
    }
    share_range(j->plan.n_items, ith, nth, &i0, &i1);
    return i1 > i0 ? compute_items(j, i0, i1) : AMX_OK;
}

static amx_status compute_share(const gemm_job *j, int32_t ith, int32_t nth) {
    return compute_share_slot(j, ith, nth, NULL);
}

static void quantize_task(void *ctx, int ith, int nth) { quantize_share(ctx, ith, nth); }
/* (pool calls give every accumulating share its saved buffer: no failure) */
static void compute_task(void *ctx, int ith, int nth) {
    const gemm_job *j = ctx;
    (void)compute_share_slot(j, ith, nth, j->slots ? &j->slots[ith] : NULL);
}

/* Runs j's compute step (after its quantize step, when `quantize`) on nth
 * pool threads; on a placed handle each thread reads its node's replica or
 * part (numa.h). */
static void pool_gemm(gemm_job *j, int nth, int quantize) {
    amxq_numa_slot slots[AMXQ_MAX_POOL_ORDER];
    if (j->w->place && nth > 1) {
        amxq_numa_pool_slots(j->w, nth, slots);
        j->slots = slots;
    }
    amxq_pool_run(nth, quantize ? quantize_task : compute_task, quantize ? compute_task : NULL, j);
    j->slots = NULL;
}

/* (rows - 1) * ld + cols must be addressable. */
static int extent_ok(int64_t rows, int64_t ld, int64_t cols) {
    return rows <= 1 || (rows - 1) <= (INT64_MAX / 8 - cols) / ld;
}

amx_status amxq_check_operand(int64_t m, const void *p, int64_t ld, int64_t cols) {
    if (ld < cols) return AMX_ERR_INVALID_ARG;
    if (m > 0 && (!p || !extent_ok(m, ld, cols))) return AMX_ERR_INVALID_ARG;
    return AMX_OK;
}
#define check_operand amxq_check_operand

/* The checks every multiply entry point shares, in amx_gemm_q's order:
 * handle, options, m, then x and y (each only where the call takes it).
 * Fills *job on success. */
static amx_status check_gemm(const amx_weights *w, int64_t m, const float *x, int64_t ldx, int has_x,
                             float *y, int64_t ldy, int has_y, const amx_gemm_opts *opts, gemm_job *job) {
    if (!amxq_handle_ok(w) || w->n_expert != 0) return AMX_ERR_INVALID_ARG;
    amx_gemm_opts o;
    amx_status st = read_gemm_opts(opts, &o);
    if (st != AMX_OK) return st;
    if (m < 0) return AMX_ERR_INVALID_ARG;
    if (has_x && (st = check_operand(m, x, ldx, w->k)) != AMX_OK) return st;
    if (has_y && (st = check_operand(m, y, ldy, w->n)) != AMX_OK) return st;
    *job = (gemm_job){w, m, x, ldx, y, ldy, NULL, o.n_threads, {0}, {0}, o.bias,
                      (o.flags & AMX_GEMM_ACCUMULATE) != 0, NULL, w->n, call_opts(w, &o), NULL};
    if (m > 0) {
        w->v->select(w, m, &job->call, &job->plan);
        /* the epilogue finds its outputs by the plan's item order */
        if (job->bias || job->accumulate) amxq_plan_normalize(&job->plan, &job->inner, m, w->n);
    }
    return AMX_OK;
}

amx_status amx_gemm_q(const amx_weights *w, int64_t m, const float *x, int64_t ldx, float *y,
                      int64_t ldy, const amx_gemm_opts *opts) {
    gemm_job job;
    const amx_status st = check_gemm(w, m, x, ldx, 1, y, ldy, 1, opts, &job);
    if (st != AMX_OK || m == 0) return st;
    const size_t act = (w->v->act_size(w, m) + 63) & ~(size_t)63;
    const size_t saved = job.accumulate ? sizeof(float) * (size_t)m * (size_t)w->n : 0;
    job.ws = workspace_get(act + saved);
    if (!job.ws) return AMX_ERR_NO_MEMORY;
    if (saved) job.saved = (float *)((uint8_t *)job.ws + act);

    int nth = job.n_threads;
    if (nth > job.plan.n_items) nth = (int)job.plan.n_items;
    if (nth > 1 && m * w->k >= PARALLEL_QUANTIZE_MIN) {
        pool_gemm(&job, nth, 1);
    } else {
        quantize_task(&job, 0, 1);
        pool_gemm(&job, nth, 0);
    }
    workspace_trim();
    return AMX_OK;
}

/* ---- one quantization for several handles ---------------------------------- */

int32_t amx_weights_share_activations(const amx_weights *a, const amx_weights *b) {
    if (!amxq_handle_ok(a) || !amxq_handle_ok(b) || a->n_expert || b->n_expert) return 0;
    return a->k == b->k && a->v->quantize == b->v->quantize && a->v->act_size == b->v->act_size &&
           a->v->act_format(a) == b->v->act_format(b);
}

#define MULTI_MAX 4096 /* handles per multi call */

amx_status amx_gemm_q_multi(const amx_weights *const *w, int32_t count, int64_t m, const float *x,
                            int64_t ldx, float *const *y, const int64_t *ldy, const amx_gemm_opts *opts) {
    if (!w || !y || !ldy || count < 1 || count > MULTI_MAX) return AMX_ERR_INVALID_ARG;
    gemm_job *jobs = malloc(sizeof *jobs * (size_t)count);
    int32_t *group = malloc(sizeof *group * (size_t)count);
    if (!jobs || !group) {
        free(jobs);
        free(group);
        return AMX_ERR_NO_MEMORY;
    }
    /* the handles, then their common k, then each call's own checks */
    amx_status st = AMX_OK;
    for (int32_t i = 0; i < count && st == AMX_OK; i++)
        if (!amxq_handle_ok(w[i])) st = AMX_ERR_INVALID_ARG;
    for (int32_t i = 0; i < count && st == AMX_OK; i++)
        if (w[i]->k != w[0]->k) st = AMX_ERR_BAD_SHAPE;
    for (int32_t i = 0; i < count && st == AMX_OK; i++)
        st = check_gemm(w[i], m, x, ldx, 1, y[i], ldy[i], 1, opts, &jobs[i]);
    /* the bias of handle i follows those of the handles before it */
    for (int32_t i = 1; i < count && st == AMX_OK; i++)
        if (jobs[i].bias) jobs[i].bias = jobs[i - 1].bias + w[i - 1]->n;
    if (st != AMX_OK || m == 0) {
        free(jobs);
        free(group);
        return st;
    }
    /* a group is led by its first handle; each group quantizes once */
    for (int32_t i = 0; i < count; i++) {
        group[i] = i;
        for (int32_t j = 0; j < i; j++)
            if (group[j] == j && amx_weights_share_activations(w[j], w[i])) {
                group[i] = j;
                break;
            }
    }
    /* one workspace, reused group after group, taken before any output is
     * written (a failure leaves every y as it was) */
    size_t ws_bytes = 0, saved_bytes = 0;
    for (int32_t g = 0; g < count; g++) {
        if (group[g] == g && w[g]->v->act_size(w[g], m) > ws_bytes) ws_bytes = w[g]->v->act_size(w[g], m);
        if (jobs[g].accumulate && sizeof(float) * (size_t)m * (size_t)w[g]->n > saved_bytes)
            saved_bytes = sizeof(float) * (size_t)m * (size_t)w[g]->n;
    }
    ws_bytes = (ws_bytes + 63) & ~(size_t)63;
    uint8_t *ws = workspace_get(ws_bytes + saved_bytes);
    if (!ws) st = AMX_ERR_NO_MEMORY;
    for (int32_t g = 0; g < count && st == AMX_OK; g++) {
        if (group[g] != g) continue;
        for (int32_t i = g; i < count; i++) {
            if (group[i] != g) continue;
            gemm_job *j = &jobs[i];
            j->ws = ws;
            if (j->accumulate) j->saved = (float *)(ws + ws_bytes);
            int nth = j->n_threads;
            if (nth > j->plan.n_items) nth = (int)j->plan.n_items;
            if (i == g) {
                if (nth > 1 && m * w[i]->k >= PARALLEL_QUANTIZE_MIN) {
                    pool_gemm(j, nth, 1);
                    continue;
                }
                quantize_task(j, 0, 1);
            }
            pool_gemm(j, nth, 0);
        }
    }
    workspace_trim();
    free(jobs);
    free(group);
    return st;
}

/* ---- caller-managed threads ------------------------------------------------ */

static amx_status check_share(int32_t ith, int32_t nth) {
    return nth >= 1 && ith >= 0 && ith < nth ? AMX_OK : AMX_ERR_INVALID_ARG;
}

/* The workspace an m-row multiply needs; m must already be checked. */
static size_t workspace_bytes(const amx_weights *w, int64_t m) { return m > 0 ? w->v->act_size(w, m) : 0; }

static amx_status check_workspace(const gemm_job *j, const void *ws, size_t ws_size) {
    if (j->m == 0) return AMX_OK;
    if (!ws) return AMX_ERR_INVALID_ARG;
    if (((uintptr_t)ws & 63) != 0 || ws_size < workspace_bytes(j->w, j->m)) return AMX_ERR_WORKSPACE;
    return AMX_OK;
}

amx_status amx_gemm_workspace_size(const amx_weights *w, int64_t m, size_t *bytes) {
    if (!amxq_handle_ok(w) || w->n_expert || !bytes || m < 0 || !extent_ok(m, w->k, w->k)) return AMX_ERR_INVALID_ARG;
    *bytes = workspace_bytes(w, m);
    return AMX_OK;
}

amx_status amx_gemm_quantize(const amx_weights *w, int64_t m, const float *x, int64_t ldx, void *ws,
                             size_t ws_size, int32_t ith, int32_t nth) {
    gemm_job job;
    amx_status st = check_gemm(w, m, x, ldx, 1, NULL, 0, 0, NULL, &job);
    if (st == AMX_OK) st = check_share(ith, nth);
    if (st == AMX_OK) st = check_workspace(&job, ws, ws_size);
    if (st != AMX_OK || m == 0) return st;
    job.ws = ws;
    quantize_share(&job, ith, nth);
    return AMX_OK;
}

amx_status amx_gemm_compute(const amx_weights *w, int64_t m, const void *ws, size_t ws_size, float *y,
                            int64_t ldy, int32_t ith, int32_t nth, const amx_gemm_opts *opts) {
    gemm_job job;
    amx_status st = check_gemm(w, m, NULL, 0, 0, y, ldy, 1, opts, &job);
    if (st == AMX_OK) st = check_share(ith, nth);
    if (st == AMX_OK) st = check_workspace(&job, ws, ws_size);
    if (st != AMX_OK || m == 0) return st;
    job.ws = (void *)ws; /* the compute step only reads it */
    return compute_share(&job, ith, nth);
}

int32_t amx_gemm_share_node(const amx_weights *w, int32_t ith, int32_t nth) {
    if (!amxq_handle_ok(w) || check_share(ith, nth) != AMX_OK) return -1;
    return amxq_numa_share_node(w, ith, nth);
}
