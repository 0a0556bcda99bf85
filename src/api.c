/*
 * The public entry points: argument validation, variant selection, workspace
 * and threading. Every check happens before anything is written, so a failed
 * call leaves the caller's memory exactly as it was.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "amxq.h"
#include "cpu.h"
#include "dispatch.h"
#include "formats.h"
#include "pool.h"
#include "scratch.h"
#include "version.h"
#include "ref/ref.h"


/* Largest n or k accepted: kernels index one row's blocks and bytes with
 * 32-bit integers. n * k is capped so every byte count fits comfortably. */
#define AMXQ_MAX_DIM ((int64_t)1 << 31)
#define AMXQ_MAX_ELEMS ((int64_t)1 << 50)
/* The first published sizes of the option structs. */
#define PACK_OPTS_V0_SIZE 16u
#define GEMM_OPTS_V0_SIZE 12u
#define OPTS_MAX_SIZE 4096u
/* Below this many activation values the caller's thread quantizes alone. */
#define PARALLEL_QUANTIZE_MIN ((int64_t)1 << 16)
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
static int copy_opts(void *dst, size_t known, const void *src, uint32_t v0_size) {
    uint32_t size;
    memcpy(&size, src, sizeof size);
    if (size < v0_size || size > OPTS_MAX_SIZE) return 0;
    const size_t n = size < known ? size : known;
    memcpy(dst, src, n);
    for (size_t i = known; i < size; i++)
        if (((const unsigned char *)src)[i] != 0) return 0;
    return 1;
}

static int isa_valid(amx_isa isa) { return isa >= AMX_ISA_AUTO && isa <= AMX_ISA_AMX; }

static amx_status read_pack_opts(const amx_pack_opts *o, amx_pack_opts *r) {
    *r = (amx_pack_opts){.size = sizeof *r, .isa = AMX_ISA_AUTO};
    if (!o) return AMX_OK;
    if (!copy_opts(r, sizeof *r, o, PACK_OPTS_V0_SIZE)) return AMX_ERR_INVALID_ARG;
    if (!isa_valid(r->isa) || r->n_threads < 0 || r->n_threads > AMXQ_MAX_THREADS || r->flags)
        return AMX_ERR_INVALID_ARG;
    if (r->n_threads == 0) r->n_threads = 1;
    return AMX_OK;
}

static amx_status read_gemm_opts(const amx_gemm_opts *o, amx_gemm_opts *r) {
    *r = (amx_gemm_opts){.size = sizeof *r};
    if (o && !copy_opts(r, sizeof *r, o, GEMM_OPTS_V0_SIZE)) return AMX_ERR_INVALID_ARG;
    if (r->n_threads < 0 || r->n_threads > AMXQ_MAX_THREADS || r->flags || r->amx_min_m < 0)
        return AMX_ERR_INVALID_ARG;
    if (r->n_threads == 0) r->n_threads = 1;
    return AMX_OK;
}

/* ---- packing --------------------------------------------------------------- */

static int handle_ok(const amx_weights *w) { return w && w->magic == AMXQ_WEIGHTS_MAGIC; }

/* AUTO: the first family of cpu.c's preference list that has a row for the
 * type and runs here. */
static const amxq_variant *choose_variant(amx_type type, amx_isa isa, amx_status *st) {
    if (isa == AMX_ISA_AUTO) {
        size_t nf;
        const amx_isa *pref = amxq_isa_preference(&nf);
        for (size_t i = 0; i < nf; i++) {
            const amxq_variant *v = amxq_find_variant(type, pref[i]);
            if (v && amxq_isa_usable(pref[i], NULL)) return v;
        }
        *st = AMX_ERR_UNSUPPORTED_TYPE;
        return NULL;
    }
    if (!amxq_isa_usable(isa, NULL)) {
        *st = AMX_ERR_ISA_UNAVAILABLE;
        return NULL;
    }
    const amxq_variant *v = amxq_find_variant(type, isa);
    if (!v) *st = AMX_ERR_UNSUPPORTED_TYPE;
    return v;
}

/* Packed weights are streamed at memory speed by every decode call: on 2 MiB
 * pages the TLB covers a whole matrix (THP in "madvise" mode, a common
 * default, needs the hint). Measured on one Zen 4 core, Q4_0 decode from
 * DRAM went from 16-21 to 21-25 GB/s median. Small matrices keep 64-byte
 * alignment and no hint. */
#define HUGE_PAGE ((size_t)2 << 20)
static void *alloc_packed(size_t bytes) {
    if (bytes < HUGE_PAGE) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    const size_t sz = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = aligned_alloc(HUGE_PAGE, sz);
#if defined(MADV_HUGEPAGE)
    if (p) madvise(p, sz, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    return p;
}

typedef struct {
    amx_weights *w;
    const void *src;
    int64_t units;
} pack_job;

static void pack_task(void *ctx, int ith, int nth) {
    const pack_job *j = ctx;
    int64_t u0, u1;
    amxq_split(j->units, ith, nth, &u0, &u1);
    if (u1 > u0) j->w->v->pack(j->w, (uint8_t *)j->w->data, j->src, u0, u1);
}

amx_status amx_pack_weights(amx_type type, int64_t n, int64_t k, const void *data, size_t data_size,
                            const amx_pack_opts *opts, amx_weights **out) {
    if (!out) return AMX_ERR_INVALID_ARG;
    *out = NULL;
    amx_pack_opts o;
    amx_status st = read_pack_opts(opts, &o);
    if (st != AMX_OK) return st;
    if (!data || n <= 0 || k <= 0) return AMX_ERR_INVALID_ARG;
    const type_info *ti = amxq_type_info(type);
    if (!ti) return AMX_ERR_UNSUPPORTED_TYPE;
    if (k % ti->block != 0 || n > AMXQ_MAX_DIM || k > AMXQ_MAX_DIM || n > AMXQ_MAX_ELEMS / k)
        return AMX_ERR_BAD_SHAPE;
    const size_t gguf = (size_t)n * (size_t)(k / ti->block) * (size_t)ti->bytes;
    if (data_size != gguf) return AMX_ERR_SIZE_MISMATCH;
    const amxq_variant *v = choose_variant(type, o.isa, &st);
    if (!v) return st;

    amx_weights *w = calloc(1, sizeof *w);
    if (!w) return AMX_ERR_NO_MEMORY;
    w->v = v;
    w->impl = v->impl;
    w->type = type;
    w->n = n;
    w->k = k;
    w->kb = k / ti->block;
    w->gguf_bytes = gguf;
    w->amx_min_m = v->amx_min_m;
    if (v->amx_min_m > 0) {
        /* operators may move the AMX/VNNI crossover without rebuilding */
        const char *env = getenv("AMXQ_AMX_MIN_M");
        const long e = env ? strtol(env, NULL, 10) : 0;
        if (e > 0 && e <= INT32_MAX) w->amx_min_m = (int32_t)e;
    }
    const size_t used = v->packed_size(w);
    const size_t payload = (used + 63) & ~(size_t)63;
    w->packed_bytes = sizeof(amxq_pack_header) + payload;
    w->base = alloc_packed(w->packed_bytes);
    if (!w->base) {
        free(w);
        return AMX_ERR_NO_MEMORY;
    }
    amxq_pack_header *h = (amxq_pack_header *)w->base;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, "AMXQPACK", 8);
    h->version = AMXQ_PACK_LAYOUT_VERSION;
    h->type = (uint32_t)type;
    h->n = n;
    h->k = k;
    strncpy(h->layout, v->layout, sizeof h->layout - 1);
    w->data = w->base + sizeof(amxq_pack_header);
    /* the rounding to 64 bytes is never read, but the packed bytes must be a
     * function of the input alone */
    memset(w->base + sizeof(amxq_pack_header) + used, 0, payload - used);

    pack_job job = {w, data, (n + v->pack_rows - 1) / v->pack_rows};
    const int nth = (int64_t)o.n_threads < job.units ? o.n_threads : (int)job.units;
    amxq_pool_run(nth, pack_task, NULL, &job);
    w->magic = AMXQ_WEIGHTS_MAGIC;
    *out = w;
    return AMX_OK;
}

void amx_weights_free(amx_weights *w) {
    if (!w) return;
    w->magic = 0;
    free(w->base);
    free(w);
}

/* ---- queries --------------------------------------------------------------- */

amx_status amx_weights_query(const amx_weights *w, amx_weights_info *info) {
    if (!handle_ok(w) || !info) return AMX_ERR_INVALID_ARG;
    const uint32_t size = info->size;
    if (size < offsetof(amx_weights_info, k) + sizeof(int64_t) || size > OPTS_MAX_SIZE)
        return AMX_ERR_INVALID_ARG;
    const amx_weights_info full = {
        .size = size,
        .type = w->type,
        .n = w->n,
        .k = w->k,
        .isa = w->v->isa,
        .amx_min_m = w->amx_min_m,
        .packed_bytes = w->packed_bytes,
        .gguf_bytes = w->gguf_bytes,
        .kernel = w->v->name,
        .layout = w->v->layout,
    };
    memcpy(info, &full, size < sizeof full ? size : sizeof full);
    if (size > sizeof full) memset((char *)info + sizeof full, 0, size - sizeof full);
    return AMX_OK;
}

/* The per-call options as kernels see them: amx_min_m from the call, else
 * the handle's default. */
static amxq_call_opts call_opts(const amx_weights *w, const amx_gemm_opts *o) {
    return (amxq_call_opts){o->amx_min_m ? o->amx_min_m : w->amx_min_m};
}

const char *amx_gemm_kernel(const amx_weights *w, int64_t m, const amx_gemm_opts *opts) {
    amx_gemm_opts o;
    if (!handle_ok(w) || m < 1 || read_gemm_opts(opts, &o) != AMX_OK) return "invalid";
    const amxq_call_opts call = call_opts(w, &o);
    amxq_plan plan;
    w->v->select(w, m, &call, &plan);
    return plan.kernel;
}

const char *amx_weights_kernel(const amx_weights *w, int64_t m) { return amx_gemm_kernel(w, m, NULL); }

amx_status amx_weights_unpack(const amx_weights *w, void *data, size_t data_size) {
    if (!handle_ok(w) || !data) return AMX_ERR_INVALID_ARG;
    if (data_size != w->gguf_bytes) return AMX_ERR_SIZE_MISMATCH;
    w->v->unpack(w, data, 0, (w->n + w->v->pack_rows - 1) / w->v->pack_rows);
    return AMX_OK;
}

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
} gemm_job;

/* Share ith of nth of n work items: amxq_split's balanced contiguous ranges,
 * computed without overflow for any int32 nth (amx_gemm_q's nth is small, the
 * caller's can be anything). */
static void share_range(int64_t n, int32_t ith, int32_t nth, int64_t *b, int64_t *e) {
    if (n <= INT64_MAX / nth) {
        amxq_split(n, ith, nth, b, e);
    } else {
        *b = (int64_t)((__int128)n * ith / nth);
        *e = (int64_t)((__int128)n * (ith + 1) / nth);
    }
}

static void quantize_share(const gemm_job *j, int32_t ith, int32_t nth) {
    int64_t m0, m1;
    share_range(j->m, ith, nth, &m0, &m1);
    if (m1 > m0) j->w->v->quantize(j->w, j->x, j->ldx, j->m, j->ws, m0, m1);
}

static void compute_share(const gemm_job *j, int32_t ith, int32_t nth) {
    int64_t i0, i1;
    share_range(j->plan.n_items, ith, nth, &i0, &i1);
    if (i1 > i0) j->plan.compute(&j->plan, j->w, j->m, j->ws, j->y, j->ldy, i0, i1);
}

static void quantize_task(void *ctx, int ith, int nth) { quantize_share(ctx, ith, nth); }
static void compute_task(void *ctx, int ith, int nth) { compute_share(ctx, ith, nth); }

/* (rows - 1) * ld + cols must be addressable. */
static int extent_ok(int64_t rows, int64_t ld, int64_t cols) {
    return rows <= 1 || (rows - 1) <= (INT64_MAX / 8 - cols) / ld;
}

/* An m-row operand with `cols` values per row and row stride ld: NULL is fine
 * only when there are no rows. */
static amx_status check_operand(int64_t m, const float *p, int64_t ld, int64_t cols) {
    if (ld < cols) return AMX_ERR_INVALID_ARG;
    if (m > 0 && (!p || !extent_ok(m, ld, cols))) return AMX_ERR_INVALID_ARG;
    return AMX_OK;
}

/* The checks every multiply entry point shares, in amx_gemm_q's order:
 * handle, options, m, then x and y (each only where the call takes it).
 * Fills *job on success. */
static amx_status check_gemm(const amx_weights *w, int64_t m, const float *x, int64_t ldx, int has_x,
                             float *y, int64_t ldy, int has_y, const amx_gemm_opts *opts, gemm_job *job) {
    if (!handle_ok(w)) return AMX_ERR_INVALID_ARG;
    amx_gemm_opts o;
    amx_status st = read_gemm_opts(opts, &o);
    if (st != AMX_OK) return st;
    if (m < 0) return AMX_ERR_INVALID_ARG;
    if (has_x && (st = check_operand(m, x, ldx, w->k)) != AMX_OK) return st;
    if (has_y && (st = check_operand(m, y, ldy, w->n)) != AMX_OK) return st;
    *job = (gemm_job){w, m, x, ldx, y, ldy, NULL, o.n_threads, {0}};
    if (m > 0) {
        const amxq_call_opts call = call_opts(w, &o);
        w->v->select(w, m, &call, &job->plan);
    }
    return AMX_OK;
}

amx_status amx_gemm_q(const amx_weights *w, int64_t m, const float *x, int64_t ldx, float *y,
                      int64_t ldy, const amx_gemm_opts *opts) {
    gemm_job job;
    const amx_status st = check_gemm(w, m, x, ldx, 1, y, ldy, 1, opts, &job);
    if (st != AMX_OK || m == 0) return st;
    job.ws = workspace_get(w->v->act_size(w, m));
    if (!job.ws) return AMX_ERR_NO_MEMORY;

    int nth = job.n_threads;
    if (nth > job.plan.n_items) nth = (int)job.plan.n_items;
    if (nth > 1 && m * w->k >= PARALLEL_QUANTIZE_MIN) {
        amxq_pool_run(nth, quantize_task, compute_task, &job);
    } else {
        quantize_task(&job, 0, 1);
        amxq_pool_run(nth, compute_task, NULL, &job);
    }
    workspace_trim();
    return AMX_OK;
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
    if (!handle_ok(w) || !bytes || m < 0 || !extent_ok(m, w->k, w->k)) return AMX_ERR_INVALID_ARG;
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
    compute_share(&job, ith, nth);
    return AMX_OK;
}
