/*
 * amxq-bench: the measurements behind every speed figure of amxq.
 *
 * For each weight type, model shape (N x K), batch M and thread count it
 * packs model-like weights made in-process and times amx_gemm_q() on every
 * selected row of the dispatch table, and, in the same run and on the same
 * shapes, the machine's read bandwidth and vpdpbusd peak, the scalar
 * reference, oneDNN's int8 matmul and OpenBLAS sgemm, so every comparison is
 * a ratio of figures taken side by side. Output: a table on stdout, JSON for
 * scripts (--json), and plot.py turns the JSON into a PNG.
 *
 * The dispatch table (src/dispatch.h) is read directly because the public API
 * does not list kernel variants; everything else goes through amxq.h, so new
 * rows (VNNI, AMX) are measured as soon as they exist; the weight types are
 * the library's table (amx_type_at), so new types are too.
 *
 * This file: main and the run loop. The options, the machine facts, the
 * records with the table, and the JSON are in the files bench_driver.h lists.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_driver.h"
#include "../src/cpu.h"
#include "../src/dispatch.h"

#define MAX_VARIANTS 8      /* table rows measured per type: one per ISA today */
#define MAX_COPIES 65536    /* rotation copies of one matrix, whatever its size */
#define SCALAR_MIN_ROWS 32  /* smallest row subset the scalar variant is timed on */

/* ---- amxq cells ------------------------------------------------------------ */

/* One kernel variant as measured for a type: the table row, how it is
 * packed (AUTO for --variant auto: what a user gets), and whether it was
 * selected or is the scalar comparison. */
typedef struct {
    const amxq_variant *v;
    amx_isa pack_isa;
    int primary;
} choice;

/* Packed copies of the first `rows` rows. */
typedef struct {
    amx_weights **h;
    int copies;
    int64_t rows;
    size_t packed_bytes; /* of one copy */
} handle_set;

static void free_set(handle_set *s) {
    for (int i = 0; i < s->copies; i++) amx_weights_free(s->h[i]);
    free(s->h);
    memset(s, 0, sizeof *s);
}

/* Packs copies of rows [0, rows) until they total `target` bytes (at least
 * `min_copies`); pack times into secs (may be NULL). 0 on failure (printed). */
static int pack_set(handle_set *s, const choice *c, amx_type type, const uint8_t *gguf, int64_t rows, int64_t k,
                    double target, int min_copies, int threads, double **secs) {
    memset(s, 0, sizeof *s);
    s->rows = rows;
    const size_t bytes = bench_gguf_bytes(type, rows, k);
    const amx_pack_opts po = {.size = sizeof po, .isa = c->pack_isa, .n_threads = threads};
    int want = min_copies, cap = 0;
    for (int i = 0; i < want; i++) {
        if (i >= cap) {
            cap = cap ? 2 * cap : 16;
            s->h = realloc(s->h, (size_t)cap * sizeof *s->h);
            if (secs) *secs = realloc(*secs, (size_t)cap * sizeof **secs);
            if (!s->h || (secs && !*secs)) {
                fprintf(stderr, "amxq-bench: out of memory\n");
                exit(1);
            }
        }
        const double t0 = bench_now();
        const amx_status st = amx_pack_weights(type, rows, k, gguf, bytes, &po, &s->h[i]);
        if (secs) (*secs)[i] = bench_now() - t0;
        bench_pin_new_threads(BENCH_POOL_AMXQ); /* packing runs on the library's pool */
        if (st != AMX_OK) {
            printf("  pack %s %lldx%lld failed: %s\n", c->v->name, (long long)rows, (long long)k, amx_status_str(st));
            s->copies = i;
            free_set(s);
            return 0;
        }
        s->copies = i + 1;
        if (i == 0) {
            amx_weights_info info = {.size = sizeof info};
            amx_weights_query(s->h[0], &info);
            s->packed_bytes = info.packed_bytes;
            /* enough copies that a decode run reads each from memory, not cache */
            const double need = ceil(target / (double)info.packed_bytes);
            want = (int)fmin(fmax(need, (double)min_copies), MAX_COPIES);
        }
    }
    return 1;
}

typedef struct {
    amx_weights **h;
    int copies;
    int64_t m, k;
    const float *x;
    float *y;
    int64_t ldy;
    amx_gemm_opts o;
    amx_status st;
} gemm_call;

static void gemm_fn(void *ctx, int64_t i) {
    gemm_call *c = ctx;
    const amx_status st = amx_gemm_q(c->h[i % c->copies], c->m, c->x, c->k, c->y, c->ldy, &c->o);
    if (st != AMX_OK) c->st = st;
}

/* Rows the scalar variant is timed on for m: all of them if one call stays
 * under the op budget, else a multiple of SCALAR_MIN_ROWS that does. */
static int64_t scalar_rows(const options *o, int64_t n, int64_t k, int64_t m) {
    const double per_row = 2.0 * (double)m * (double)k;
    if (per_row * (double)n <= o->scalar_ops) return n;
    int64_t rows = (int64_t)(o->scalar_ops / per_row) / SCALAR_MIN_ROWS * SCALAR_MIN_ROWS;
    if (rows < SCALAR_MIN_ROWS) rows = SCALAR_MIN_ROWS;
    return rows < n ? rows : n;
}

static double rms_rows(const float *y, int64_t m, int64_t cols, int64_t ld, int64_t i) {
    (void)m;
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += (double)y[i * ld + j] * y[i * ld + j];
    return sqrt(s / (double)cols);
}

/* Largest |y - ys| / rms(ys row) over the rows both computed; NAN if any
 * output is not finite. A benchmark that timed a wrong kernel would mislead. */
static double compare_outputs(const float *y, int64_t ldy, const float *ys, int64_t ldys, int64_t m, int64_t cols) {
    double worst = 0;
    for (int64_t i = 0; i < m; i++) {
        const double rms = rms_rows(ys, m, cols, ldys, i) + 1e-30;
        for (int64_t j = 0; j < cols; j++) {
            const double d = fabs((double)y[i * ldy + j] - (double)ys[i * ldys + j]) / rms;
            if (!isfinite(d)) return NAN;
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

/* ---- one shape ------------------------------------------------------------- */

typedef struct {
    const options *o;
    int64_t n, k, max_m;
    float *x;             /* max_m x k activations */
    float *y, *y_scalar;  /* max_m x n outputs */
    double target;        /* rotation bytes */
    int any_decode;
    int peers_ready;      /* peers set up (by the first type that runs) */
    onednn_peer *dnn;
    openblas_peer *blas;
    int dnn_copies, blas_copies;
    bw_probe *probe;      /* the decode rounds' read probe, NULL without one */
} shape_ctx;

typedef struct {
    onednn_peer *p;
    int rotate;
} dnn_call;

static void dnn_fn(void *ctx, int64_t i) {
    dnn_call *c = ctx;
    onednn_run(c->p, c->rotate ? (int)(i % 1000000) : 0);
}

typedef struct {
    openblas_peer *p;
    int64_t m;
    int threads;
    int rotate;
} blas_call;

static void blas_fn(void *ctx, int64_t i) {
    blas_call *c = ctx;
    openblas_run(c->p, c->m, c->threads, c->rotate ? (int)(i % 1000000) : 0);
}

static void peers_setup(shape_ctx *s, amx_type type, const uint8_t *gguf) {
    const options *o = s->o;
    const int64_t n = s->n, k = s->k;
    if (o->peer_onednn && R.onednn_ok) {
        s->dnn = onednn_create(n, k, s->max_m, o->seed + 7);
        s->dnn_copies = s->any_decode ? (int)fmin(fmax(ceil(s->target / (double)(n * k)), 1), MAX_COPIES) : 1;
        if (!s->dnn) skip("oneDNN", "setup failed for %lldx%lld", (long long)n, (long long)k);
    }
    if (o->peer_openblas && R.openblas_ok) {
        const size_t bytes = (size_t)(n * k) * sizeof(float);
        float *w = malloc(bytes);
        if (!w || amx_dequantize(type, n * k, gguf, bench_gguf_bytes(type, n, k), w) != AMX_OK) {
            free(w);
            skip("OpenBLAS", "could not dequantize %s weights %lldx%lld", amx_type_name(type), (long long)n,
                 (long long)k);
            return;
        }
        s->blas_copies = s->any_decode ? (int)fmin(fmax(ceil(s->target / (double)bytes), 1), MAX_COPIES) : 1;
        s->blas = openblas_create(w, n, k, s->blas_copies, s->x, s->max_m);
        if (!s->blas) skip("OpenBLAS", "setup failed for %lldx%lld", (long long)n, (long long)k);
    }
}

static void fill_rates(result *r, double weight_bytes) {
    r->gops = 2.0 * (double)r->m * (double)r->n_meas * (double)r->k / r->t.median * 1e-9;
    r->weight_bytes = weight_bytes;
    if (r->m <= DECODE_MAX_M) r->gbps = weight_bytes / r->t.median * 1e-9;
}

/* Decode cells are measured in rounds unless --rounds 0. */
static int rounds_cell(const options *o, int64_t m) { return o->rounds > 0 && m <= DECODE_MAX_M; }

static void measure_peers(shape_ctx *s, int64_t m, int threads) {
    const options *o = s->o;
    const int rotate = m <= DECODE_MAX_M;
    /* oneDNN's decode cells are its turns in the first type's rounds */
    if (s->dnn && !rounds_cell(o, m)) {
        char impl[96];
        double t0 = bench_now();
        const int ok = onednn_prepare(s->dnn, m, threads, s->dnn_copies, impl, sizeof impl);
        bench_pin_new_threads(BENCH_POOL_OMP); /* the weight reorder may have started its team */
        if (ok) {
            R.phase[PH_ONEDNN] += bench_now() - t0;
            t0 = bench_now();
            dnn_call c = {s->dnn, rotate};
            result *r = new_result();
            r->kind = R_ONEDNN;
            snprintf(r->variant, sizeof r->variant, "oneDNN u8s8->f32 matmul");
            snprintf(r->kernel, sizeof r->kernel, "%s", impl);
            snprintf(r->isa, sizeof r->isa, "-");
            r->n = r->n_meas = s->n;
            r->k = s->k;
            r->m = m;
            r->threads = threads;
            r->copies = rotate ? s->dnn_copies : 1;
            quiet_before_timing();
            r->t = bench_measure(dnn_fn, &c, &o->pol);
            bench_pin_new_threads(BENCH_POOL_OMP);
            fill_rates(r, (double)onednn_weight_bytes(s->dnn));
            print_result(r);
        } else {
            skip("oneDNN", "%s (m=%lld, %d threads)", impl, (long long)m, threads);
        }
        R.phase[PH_ONEDNN] += bench_now() - t0;
    }
    if (s->blas) {
        const double t0 = bench_now();
        blas_call c = {s->blas, m, threads, rotate};
        result *r = new_result();
        r->kind = R_OPENBLAS;
        snprintf(r->variant, sizeof r->variant, "OpenBLAS sgemm (F32 W)");
        snprintf(r->kernel, sizeof r->kernel, "sgemm NT, core %s", openblas_core());
        snprintf(r->isa, sizeof r->isa, "-");
        r->n = r->n_meas = s->n;
        r->k = s->k;
        r->m = m;
        r->threads = threads;
        r->copies = rotate ? s->blas_copies : 1;
        quiet_before_timing();
        r->t = bench_measure(blas_fn, &c, &o->pol);
        bench_pin_new_threads(-1); /* OpenBLAS started its workers when it loaded: none expected */
        fill_rates(r, (double)(s->n * s->k) * sizeof(float));
        print_result(r);
        R.phase[PH_OPENBLAS] += bench_now() - t0;
    }
}

/* The variants measured for a type (at most MAX_VARIANTS): the selected
 * ones, then the scalar comparison unless it is already among them. */
static int choose_variants(const options *o, amx_type type, choice *out) {
    size_t nv;
    const amxq_variant *tab = amxq_variants(&nv);
    int n = 0, have_scalar = 0;
    const char *why;
    if (o->sel == SEL_AUTO) {
        /* what amx_pack_weights' AUTO picks: the library's preference order */
        const amxq_variant *best = NULL;
        size_t nf;
        const amx_isa *pref = amxq_isa_preference(&nf);
        for (size_t i = 0; i < nf && !best; i++)
            if (amx_cpu_supports(pref[i], NULL)) best = amxq_find_variant(type, pref[i]);
        if (best) out[n++] = (choice){best, AMX_ISA_AUTO, 1};
        else skip(amx_type_name(type), "no row of the dispatch table can run here");
    } else {
        for (size_t i = 0; i < nv; i++) {
            if (tab[i].type != type || (o->sel == SEL_ISA && tab[i].isa != o->sel_isa)) continue;
            if (!amx_cpu_supports(tab[i].isa, &why)) {
                skip(tab[i].name, "%s: %s", amx_isa_name(tab[i].isa), why);
                continue;
            }
            if (n < MAX_VARIANTS - 1) out[n++] = (choice){&tab[i], tab[i].isa, 1};
        }
        if (o->sel == SEL_ISA && !amxq_find_variant(type, o->sel_isa))
            skip(amx_type_name(type), "the dispatch table has no %s row for it yet", amx_isa_name(o->sel_isa));
    }
    for (int i = 0; i < n; i++) have_scalar |= out[i].v->isa == AMX_ISA_SCALAR;
    const amxq_variant *ref = amxq_find_variant(type, AMX_ISA_SCALAR);
    if (o->peer_scalar && !have_scalar && ref) out[n++] = (choice){ref, AMX_ISA_SCALAR, 0};
    /* scalar first: its outputs check the others' */
    for (int i = 0; i < n; i++)
        if (out[i].v->isa == AMX_ISA_SCALAR && i > 0) {
            const choice t = out[0];
            out[0] = out[i];
            out[i] = t;
        }
    return n;
}

/* The identity of an amxq row: variant, kernel, shape, cell. */
static void amxq_row(result *r, const choice *ch, int pack_rec, const handle_set *hs, amx_type type, int64_t n,
                     int64_t k, int64_t rows, int64_t m, int threads, int copies) {
    r->kind = R_AMXQ;
    r->primary = ch->primary;
    r->pack = pack_rec;
    snprintf(r->variant, sizeof r->variant, "%s", ch->v->name);
    snprintf(r->kernel, sizeof r->kernel, "%s", amx_weights_kernel(hs->h[0], m));
    snprintf(r->isa, sizeof r->isa, "%s", amx_isa_name(ch->v->isa));
    r->type = type;
    r->n = n;
    r->k = k;
    r->n_meas = rows;
    r->m = m;
    r->threads = threads;
    r->copies = copies;
}

/* Compares r's output (in s->y) with the scalar row's (in s->y_scalar). */
static void check_row(const shape_ctx *s, result *r, const result *scalar_res) {
    const int64_t cols = scalar_res->n_meas < s->n ? scalar_res->n_meas : s->n;
    r->checked = 1;
    r->check = compare_outputs(s->y, s->n, s->y_scalar, scalar_res->n_meas, r->m, cols);
}

/*
 * One decode cell (m <= DECODE_MAX_M, threads) of one type, in rounds
 * (bench_rounds.c): every selected non-scalar variant, the read probe and
 * oneDNN take turns. oneDNN's weights are s8 whatever the type, so its turns
 * are the same work for every type; they are run with each type all the
 * same, so each type's ratio to it is formed within rounds, and the first
 * type's turns give oneDNN's own row. OpenBLAS is not a candidate: its F32
 * sgemm reads 4-8x the bytes at tens of ms a call, so it keeps its own cell.
 */
static void measure_rounds(shape_ctx *s, amx_type type, int64_t m, int threads, const choice *ch, int nc,
                           const handle_set *full, const int *packed, const int *pack_rec_of, int with_peers,
                           int64_t scalar_idx, size_t row_bytes) {
    const options *o = s->o;
    const int64_t n = s->n, k = s->k;
    const double t0 = bench_now();
    round_cand c[MAX_VARIANTS + 2];
    gemm_call g[MAX_VARIANTS];
    int var_of[MAX_VARIANTS + 2], ncand = 0, n_amxq = 0;
    memset(c, 0, sizeof c);
    for (int v = 0; v < nc; v++) {
        if (!packed[v] || ch[v].v->isa == AMX_ISA_SCALAR) continue;
        g[v] = (gemm_call){full[v].h, full[v].copies, m, k, s->x, s->y, n,
                           {.size = sizeof(amx_gemm_opts), .n_threads = threads}, AMX_OK};
        c[ncand] = (round_cand){.label = ch[v].v->name, .role = CAND_AMXQ, .fn = gemm_fn, .ctx = &g[v],
                                .pool = BENCH_POOL_AMXQ, .bytes = (double)row_bytes * (double)n};
        var_of[ncand++] = v;
        n_amxq++;
    }
    /* nothing to measure: no amxq kernel but the scalar one (timed on its
     * own), and oneDNN's row comes from another type's rounds */
    if (!n_amxq && !(with_peers && s->dnn)) return;
    if (s->probe) {
        /* a probe call reads as much as one kernel call: the packed matrix
         * (oneDNN's s8 matrix when no amxq kernel takes part) */
        const size_t chunk = n_amxq ? full[var_of[0]].packed_bytes : onednn_weight_bytes(s->dnn);
        c[ncand] = (round_cand){.label = "read probe", .role = CAND_PROBE, .pool = -1, .bytes = (double)chunk};
        var_of[ncand++] = -1;
    }
    dnn_call dc = {s->dnn, 1};
    char impl[96] = "";
    if (s->dnn) {
        const int ok = onednn_prepare(s->dnn, m, threads, s->dnn_copies, impl, sizeof impl);
        bench_pin_new_threads(BENCH_POOL_OMP); /* the weight reorder may have started its team */
        if (ok) {
            c[ncand] = (round_cand){.label = "oneDNN", .role = CAND_ONEDNN, .fn = dnn_fn, .ctx = &dc,
                                    .pool = BENCH_POOL_OMP, .bytes = (double)onednn_weight_bytes(s->dnn)};
            var_of[ncand++] = -1;
        } else if (with_peers) {
            skip("oneDNN", "%s (m=%lld, %d threads)", impl, (long long)m, threads);
        }
    }
    if (!n_amxq && ncand == (s->probe != NULL)) return; /* oneDNN could not be prepared either */
    rounds_cfg cfg = {.rounds = o->rounds, .threads = threads, .turn = &o->turn_pol, .probe = s->probe};
    run_rounds(c, ncand, &cfg);

    for (int i = 0; i < ncand; i++) {
        if (c[i].role != CAND_ONEDNN || !with_peers) continue;
        result *r = new_result();
        r->kind = R_ONEDNN;
        snprintf(r->variant, sizeof r->variant, "oneDNN u8s8->f32 matmul");
        snprintf(r->kernel, sizeof r->kernel, "%s", impl);
        snprintf(r->isa, sizeof r->isa, "-");
        r->n = r->n_meas = n;
        r->k = k;
        r->m = m;
        r->threads = threads;
        r->copies = s->dnn_copies;
        rounds_fill(r, c, ncand, i, &cfg);
        fill_rates(r, c[i].bytes);
        print_result(r);
    }
    for (int i = 0; i < ncand; i++) {
        if (c[i].role != CAND_AMXQ) continue;
        const int v = var_of[i];
        gemm_fn(&g[v], 0); /* the output the check compares: copy 0, as every copy is the same */
        if (g[v].st != AMX_OK) {
            printf("  amx_gemm_q failed for %s: %s\n", ch[v].v->name, amx_status_str(g[v].st));
            continue;
        }
        result *r = new_result();
        amxq_row(r, &ch[v], pack_rec_of[v], &full[v], type, n, k, n, m, threads, full[v].copies);
        rounds_fill(r, c, ncand, i, &cfg);
        fill_rates(r, c[i].bytes);
        if (scalar_idx >= 0) check_row(s, r, &R.r[scalar_idx]);
        print_result(r);
    }
    R.phase[PH_ROUNDS] += bench_now() - t0;
}

static void run_type(shape_ctx *s, amx_type type) {
    const options *o = s->o;
    const int64_t n = s->n, k = s->k, kb = k / amx_type_block_size(type);
    const size_t row_bytes = (size_t)kb * (size_t)amx_type_block_bytes(type), gguf_bytes = row_bytes * (size_t)n;
    int pack_threads = 1; /* packing happens at load time: with every thread the run uses */
    for (int i = 0; i < o->n_threads; i++) pack_threads = o->threads[i] > pack_threads ? o->threads[i] : pack_threads;
    char what[64];

    if (k % amx_type_block_size(type)) {
        snprintf(what, sizeof what, "%s %lldx%lld", amx_type_name(type), (long long)n, (long long)k);
        skip(what, "K is not a multiple of the block size %d", amx_type_block_size(type));
        return;
    }
    double t0 = bench_now();
    uint8_t *gguf = malloc(gguf_bytes);
    float *row = malloc((size_t)k * sizeof(float));
    if (!gguf || !row) {
        fprintf(stderr, "amxq-bench: out of memory\n");
        exit(1);
    }
    if (!bench_gen_weights(type, n, k, o->seed, gguf)) {
        free(gguf);
        free(row);
        skip(amx_type_name(type), "gen_weights.c has no generator for this type yet");
        return;
    }
    amx_dequantize(type, k, gguf, row_bytes, row);
    double rms = 0;
    for (int64_t j = 0; j < k; j++) rms += (double)row[j] * row[j];
    rms = sqrt(rms / (double)k);
    free(row);
    R.phase[PH_GEN] += bench_now() - t0;
    if (!isfinite(rms) || rms <= 0) {
        fprintf(stderr, "amxq-bench: generated %s weights are not finite\n", amx_type_name(type));
        exit(1);
    }
    /* peers depend on the shape only: measured once, next to the first type */
    const int with_peers = !s->peers_ready;
    if (with_peers) peers_setup(s, type, gguf);
    s->peers_ready = 1;

    choice ch[MAX_VARIANTS];
    const int nc = choose_variants(o, type, ch);
    handle_set full[MAX_VARIANTS];
    int packed[MAX_VARIANTS] = {0}, pack_rec_of[MAX_VARIANTS];
    memset(full, 0, sizeof full);
    for (int v = 0; v < nc; v++) {
        /* the full matrix, with the decode rotation copies; the pack time is
         * the median over those copies (at least 3). The scalar variant may
         * time only row subsets: then the full copies serve the pack time
         * alone and are dropped at once. */
        int full_used = ch[v].v->isa != AMX_ISA_SCALAR;
        for (int mi = 0; mi < o->n_ms; mi++) full_used |= scalar_rows(o, n, k, o->ms[mi]) == n;
        t0 = bench_now();
        double *secs = NULL;
        packed[v] = pack_set(&full[v], &ch[v], type, gguf, n, k, s->any_decode && full_used ? s->target : 0, 3,
                             pack_threads, &secs);
        R.phase[PH_PACK] += bench_now() - t0;
        if (!packed[v]) {
            free(secs);
            continue;
        }
        amx_weights_info info = {.size = sizeof info};
        amx_weights_query(full[v].h[0], &info);
        if (strcmp(info.kernel, ch[v].v->name) != 0)
            printf("  note: %s packed as %s, not the expected %s\n", amx_type_name(type), info.kernel, ch[v].v->name);
        pack_rec *p = new_pack();
        pack_rec_of[v] = (int)R.np - 1;
        snprintf(p->variant, sizeof p->variant, "%s", info.kernel);
        snprintf(p->layout, sizeof p->layout, "%s", info.layout);
        snprintf(p->isa, sizeof p->isa, "%s", amx_isa_name(info.isa));
        p->type = type;
        p->n = n;
        p->k = k;
        p->gguf_bytes = info.gguf_bytes;
        p->packed_bytes = info.packed_bytes;
        p->threads = pack_threads;
        p->reps = full[v].copies;
        p->copies = s->any_decode && full_used ? full[v].copies : 0;
        p->rms = rms;
        p->median_s = bench_median(secs, full[v].copies);
        p->min_s = secs[0];
        free(secs);
        print_pack(p);
        if (!full_used) free_set(&full[v]);
    }

    for (int mi = 0; mi < o->n_ms; mi++) {
        const int64_t m = o->ms[mi];
        const int rotate = m <= DECODE_MAX_M;
        /* scalar row subsets depend on m only: pack them once per m */
        handle_set sub[MAX_VARIANTS];
        memset(sub, 0, sizeof sub);
        for (int ti = 0; ti < o->n_threads; ti++) {
            const int threads = o->threads[ti];
            if (with_peers) measure_peers(s, m, threads);
            int64_t scalar_idx = -1; /* the scalar row's index in R.r (rows move as R.r grows) */
            for (int v = 0; v < nc; v++) {
                if (!packed[v]) continue;
                const int scalar = ch[v].v->isa == AMX_ISA_SCALAR;
                const int64_t rows = scalar ? scalar_rows(o, n, k, m) : n;
                handle_set *hs = &full[v];
                if (rows < n) {
                    if (!sub[v].h) {
                        t0 = bench_now();
                        pack_set(&sub[v], &ch[v], type, gguf, rows, k, rotate ? s->target : 0, 1, pack_threads, NULL);
                        R.phase[PH_PACK] += bench_now() - t0;
                    }
                    hs = &sub[v];
                    if (!hs->h) continue;
                }
                if (!scalar && rounds_cell(o, m)) continue; /* measured in the rounds below */
                t0 = bench_now();
                float *y = scalar ? s->y_scalar : s->y;
                gemm_call c = {hs->h, rotate ? hs->copies : 1, m, k, s->x, y, rows, {.size = sizeof(amx_gemm_opts), .n_threads = threads}, AMX_OK};
                result *r = new_result();
                amxq_row(r, &ch[v], pack_rec_of[v], hs, type, n, k, rows, m, threads, c.copies);
                quiet_before_timing();
                r->t = bench_measure(gemm_fn, &c, scalar ? &o->scalar_pol : &o->pol);
                bench_pin_new_threads(BENCH_POOL_AMXQ);
                fill_rates(r, (double)row_bytes * (double)rows);
                if (c.st != AMX_OK) {
                    printf("  amx_gemm_q failed for %s: %s\n", r->variant, amx_status_str(c.st));
                    R.n--;
                    continue;
                }
                /*
                 * Instruction mix of the AMX rows: not here (this binary runs
                 * real tiles only) but in amxq-amx-mix, which runs the same
                 * kernels on the tile emulator and counts their tile and
                 * vector instructions per type; scripts/bench runs it after
                 * this benchmark (bench-results/amx-mix.json).
                 */
                if (scalar) {
                    scalar_idx = (int64_t)(r - R.r);
                } else if (scalar_idx >= 0) {
                    check_row(s, r, &R.r[scalar_idx]);
                }
                print_result(r);
                R.phase[scalar ? PH_SCALAR : PH_AMXQ] += bench_now() - t0;
            }
            if (rounds_cell(o, m))
                measure_rounds(s, type, m, threads, ch, nc, full, packed, pack_rec_of, with_peers, scalar_idx,
                               row_bytes);
        }
        for (int v = 0; v < nc; v++) free_set(&sub[v]);
    }
    for (int v = 0; v < nc; v++) free_set(&full[v]);
    free(gguf);
}

static void run_shape(const options *o, int64_t n, int64_t k, double target, bw_probe *probe) {
    shape_ctx s = {.o = o, .n = n, .k = k, .target = target, .probe = probe};
    for (int i = 0; i < o->n_ms; i++) {
        s.max_m = o->ms[i] > s.max_m ? o->ms[i] : s.max_m;
        s.any_decode |= o->ms[i] <= DECODE_MAX_M;
    }
    s.x = malloc((size_t)(s.max_m * k) * sizeof(float));
    s.y = malloc((size_t)(s.max_m * n) * sizeof(float));
    s.y_scalar = malloc((size_t)(s.max_m * n) * sizeof(float));
    if (!s.x || !s.y || !s.y_scalar) {
        fprintf(stderr, "amxq-bench: out of memory\n");
        exit(1);
    }
    bench_gen_acts((size_t)(s.max_m * k), o->seed, s.x);
    printf("\n== weights N x K = %lld x %lld ==\n", (long long)n, (long long)k);
    print_table_head();
    for (int t = 0; t < o->types.n; t++) run_type(&s, o->types.t[t]);
    onednn_free(s.dnn);
    openblas_free(s.blas);
    free(s.x);
    free(s.y);
    free(s.y_scalar);
}

/* ---- machine limits -------------------------------------------------------- */

/* The read probes' buffer: much larger than the LLC, so the read streams
 * from memory, and never under PROBE_MIN_BYTES, in case the LLC figure is
 * smaller than what this core can fill. */
static size_t probe_bytes(size_t llc) { return 8 * llc > PROBE_MIN_BYTES ? 8 * llc : PROBE_MIN_BYTES; }

/* Measures the limits for every selected thread count; at_end: the second
 * time, into the _end arrays, with a warning if the machine changed speed. */
static void measure_limits(const options *o, size_t llc, int at_end) {
    const char *why = NULL;
    if (at_end && !R.n_limits) return;
    if (!o->limits) {
        snprintf(R.limits_why, sizeof R.limits_why, "skipped (--no-limits)");
    } else if (!amx_cpu_supports(AMX_ISA_AVX512_VNNI, &why)) {
        snprintf(R.limits_why, sizeof R.limits_why, "not measured: the AVX-512 probes need avx512_vnni (%s)", why);
    }
    if (R.limits_why[0]) {
        printf("\nmachine limits: %s\n", R.limits_why);
        return;
    }
    const double t0 = bench_now();
    const size_t bytes = probe_bytes(llc);
    const int reps = o->quick ? 5 : 11;
    bw_result *bw = at_end ? R.bw_end : R.bw;
    peak_result *peak = at_end ? R.peak_end : R.peak;
    printf("\nmachine limits %s (median of %d, best in brackets):\n",
           at_end ? "again at the end of the run (the ratios above use the first measurement)" : "measured now", reps);
    const int dpbf16 = __builtin_cpu_supports("avx512bf16");
    printf("  %7s  %-48s  %-34s", "threads", "read bandwidth (AVX-512 loads)", "vpdpbusd zmm peak");
    const int amx = amx_cpu_supports(AMX_ISA_AMX, NULL);
    if (!at_end) printf("  %-22s  %-22s", "vfmadd231ps zmm peak", dpbf16 ? "vdpbf16ps zmm peak" : "(no AVX512-BF16)");
    if (!at_end && amx) printf("  %-18s  %s", "TDPBSSD 16x16x64", "TILELOADD 1 KiB, L1");
    putchar('\n');
    int drift = 0;
    for (int i = 0; i < o->n_threads; i++) {
        bw[i] = bench_read_bandwidth(o->threads[i], bytes, reps);
        peak[i] = bench_vpdpbusd_peak(o->threads[i], reps);
        *(at_end ? &R.n_limits_end : &R.n_limits) = i + 1;
        char a[64], b[64];
        snprintf(a, sizeof a, "%.1f GB/s (%.1f) over %.0f MiB", bw[i].median_gbps, bw[i].best_gbps,
                 (double)bytes / 1048576.0);
        snprintf(b, sizeof b, "%.0f GOPS (%.0f), %d chains", peak[i].median_gops, peak[i].best_gops, peak[i].chains);
        printf("  %7d  %-48s  %-34s", o->threads[i], a, b);
        if (!at_end) {
            R.peak_fma[i] = bench_fma_peak(o->threads[i], reps);
            if (dpbf16) R.peak_dpbf16[i] = bench_dpbf16_peak(o->threads[i], reps);
            char c[64], d[64] = "";
            snprintf(c, sizeof c, "%.0f GFLOPS (%.0f)", R.peak_fma[i].median_gops, R.peak_fma[i].best_gops);
            if (dpbf16)
                snprintf(d, sizeof d, "%.0f GFLOPS (%.0f)", R.peak_dpbf16[i].median_gops, R.peak_dpbf16[i].best_gops);
            printf("  %-22s  %-22s", c, d);
            if (amx) {
                R.peak_tdp[i] = bench_tdp_peak(o->threads[i], reps);
                R.tileload[i] = bench_tileload_rate(o->threads[i], reps);
                char e[64], f[64];
                snprintf(e, sizeof e, "%.0f GOPS (%.0f)", R.peak_tdp[i].median_gops, R.peak_tdp[i].best_gops);
                snprintf(f, sizeof f, "%.0f GB/s (%.0f)", R.tileload[i].median_gops, R.tileload[i].best_gops);
                printf("  %-18s  %s", e, f);
            }
        }
        putchar('\n');
        if (at_end)
            drift |= fabs(bw[i].median_gbps / R.bw[i].median_gbps - 1) > 0.25 ||
                     fabs(peak[i].median_gops / R.peak[i].median_gops - 1) > 0.25;
    }
    if (drift)
        printf("  WARNING: more than 25%% away from the start of the run: the machine is shared or throttling;\n"
               "  ratios to the limits (and between figures taken minutes apart) are uncertain\n");
    R.phase[PH_LIMITS] += bench_now() - t0;
}

/* ---- main ------------------------------------------------------------------ */

static void print_list(void) {
    size_t nv;
    const amxq_variant *tab = amxq_variants(&nv);
    printf("%s\n%-18s %-8s %-12s %-12s %s\n", amx_cpu_report(), "variant", "type", "isa", "layout", "runs here");
    for (size_t i = 0; i < nv; i++) {
        const char *why;
        const int ok = amx_cpu_supports(tab[i].isa, &why);
        printf("%-18s %-8s %-12s %-12s %s\n", tab[i].name, amx_type_name(tab[i].type), amx_isa_name(tab[i].isa),
               tab[i].layout, ok ? "yes" : why);
    }
}

int main(int argc, char **argv) {
    options o;
    int list = 0;
    const int pr = parse_options(argc, argv, count_cpus(), &o, &list);
    if (pr) return pr == 1 ? 0 : 2;
    if (list) {
        print_list();
        return 0;
    }
    const double t_start = bench_now();
    bench_threads_init();
    cpu_sample run_a, run_b;
    bench_cpu_sample(&run_a);
    llc_info llc;
    detect_llc(&llc);
    /* the decode rotation: 4x the LLC figure, and never under the probes'
     * floor: a guest's cache figure may be too small as well as too large */
    double target = 4.0 * (double)llc.bytes;
    if (target < (double)PROBE_MIN_BYTES) target = (double)PROBE_MIN_BYTES;
    if (o.rotate_bytes > 0) target = o.rotate_bytes;
    char cpu[128];
    cpu_model(cpu, sizeof cpu);

    printf("amxq-bench %s: F32 activations x GGUF weights, y = x . W^T\n", amx_version_str());
    printf("cpu: %s, %d CPUs available; last-level cache %.0f MiB, %s\n", cpu, o.nproc,
           (double)llc.bytes / 1048576.0, llc.source);
    if (llc.note[0]) printf("  %s\n", llc.note);
    printf("%s", amx_cpu_report());
    printf("timing: median over repeated calls after %d warm-up; each cell >= %d calls and >= %.2f s, "
           "or >= 3 calls once %.2f s are spent\n",
           o.pol.warmup, o.pol.min_reps, o.pol.min_time, o.pol.max_time);
    printf("scalar variant: rows of W limited so one call stays under %.2g ops, >= %d calls and >= %.2f s "
           "(or 3 calls once %.2f s); its table rows say which rows were timed\n",
           o.scalar_ops, o.scalar_pol.min_reps, o.scalar_pol.min_time, o.scalar_pol.max_time);
    printf("decode (M <= %d): each call reads the next of several packed weight copies totalling >= %.0f MiB "
           "(%.1fx LLC), so weights come from memory as in a model's layers; larger M reuse one copy\n",
           DECODE_MAX_M, target / 1048576.0, target / (double)llc.bytes);
    if (o.n_numa) return bench_numa_run(&o, target);
    R.onednn_ok = o.peer_onednn && onednn_available(R.onednn_desc, sizeof R.onednn_desc);
    R.openblas_ok = o.peer_openblas && openblas_available(R.openblas_desc, sizeof R.openblas_desc);
    if (!o.peer_onednn) snprintf(R.onednn_desc, sizeof R.onednn_desc, "off (--peers)");
    if (!o.peer_openblas) snprintf(R.openblas_desc, sizeof R.openblas_desc, "off (--peers)");
    printf("peer oneDNN: %s\n", R.onednn_desc);
    if (R.onednn_ok) printf("  u8 activations x s8 weights -> f32, per-column scales; activation quantization not timed\n");
    printf("peer OpenBLAS: %s\n", R.openblas_desc);
    if (R.openblas_ok) {
        printf("  sgemm C = A * W^T on the dequantized F32 weights of each shape's first type\n");
        if (getenv("OPENBLAS_CORETYPE"))
            printf("  note: OPENBLAS_CORETYPE in the environment forces OpenBLAS's kernels; unset it to let OpenBLAS\n"
                   "  pick the best ones for this CPU (on AVX-512 machines a forced older core can be ~2x slower)\n");
    }
    printf("peer scalar: %s\n", o.peer_scalar ? "on (the reference kernels, same amx_gemm_q path)" : "off (--peers)");
    const char *why = NULL;
    bw_probe *probe = NULL;
    int any_decode = 0;
    for (int i = 0; i < o.n_ms; i++) any_decode |= o.ms[i] <= DECODE_MAX_M;
    if (o.rounds > 0 && any_decode && o.limits && amx_cpu_supports(AMX_ISA_AVX512_VNNI, &why)) {
        probe = bench_bw_probe_new(probe_bytes(llc.bytes));
        if (!probe) why = "out of memory for its buffer";
    } else if (!o.limits) {
        why = "--no-limits";
    }
    R.probe_bytes = probe ? bench_bw_probe_bytes(probe) : 0;
    if (o.rounds > 0 && any_decode) {
        int max_threads = 1;
        for (int i = 0; i < o.n_threads; i++) max_threads = o.threads[i] > max_threads ? o.threads[i] : max_threads;
        char cpus[128] = "";
        for (int i = 0; i < max_threads && i < o.nproc && strlen(cpus) + 8 < sizeof cpus; i++)
            snprintf(cpus + strlen(cpus), sizeof cpus - strlen(cpus), "%s%d", i ? "," : "", bench_cpu_of_share(i));
        printf("decode rounds: each decode cell is %d rounds; in each, amxq's kernel(s), the read probe%s take one "
               "turn each\n  (>= %d calls and >= %.0f ms after %d warm-up), back to back, the order rotating; the "
               "row gives the median round,\n  the line under it each per-round ratio's median [min-max]; threads "
               "pinned: share i of every candidate on the i-th of CPUs %s\n",
               o.rounds, R.onednn_ok ? " and oneDNN" : "", o.turn_pol.min_reps, 1e3 * o.turn_pol.min_time,
               o.turn_pol.warmup, cpus);
        if (probe)
            printf("  read probe: AVX-512 loads as in the limits below, the same threads, each call the next span of "
                   "one packed matrix\n  from a %.0f MiB ring (2 MiB pages)\n",
                   (double)R.probe_bytes / 1048576.0);
        else
            printf("  read probe: not run (%s): no fraction of read bandwidth\n", why ? why : "?");
    } else if (any_decode) {
        printf("decode rounds: off (--rounds 0): decode cells are timed one after another like larger M\n");
    }
    printf("idle workers: before every timed cell or turn the run waits (at most %.1f s) until /proc/self/task shows "
           "no other thread\n  of this process running (OpenMP's and OpenBLAS's workers spin for a while after a "
           "call)\n", QUIESCE_MAX_S);
    printf("ratios: xscalar / xoneDNN / xOpenBLAS = amxq GOPS / peer GOPS (> 1: amxq faster); %%peak = GOPS / "
           "vpdpbusd peak (F16: FMA peak; BF16: vdpbf16ps peak, FMA for the bf16fma fallback; amx_* rows: TDPBSSD rate), %%bw = decode GB/s / read bandwidth, both at the same thread count;\n"
           "  decode rows measured in rounds: %%bw and xoneDNN are medians of the per-round ratios to the read probe "
           "and oneDNN\n  of the same rounds, other rows compare with the limits measured at the start and the "
           "peer's own cell\n");

    measure_limits(&o, llc.bytes, 0);
    for (int i = 0; i < o.n_shapes; i++) run_shape(&o, o.shape_n[i], o.shape_k[i], target, probe);
    measure_limits(&o, llc.bytes, 1);
    bench_bw_probe_free(probe);
    print_reference();

    const double total = bench_now() - t_start;
    bench_cpu_sample(&run_b);
    bench_cpu_others(&run_a, &run_b, &R.others_cpu, &R.steal_cpu);
    printf("\nrun time %.1f s:", total);
    for (int i = 0; i < PH_N; i++) printf(" %s %.1f s%s", k_phase_names[i], R.phase[i], i + 1 < PH_N ? "," : "\n");
    size_t failed = 0;
    for (size_t i = 0; i < R.n; i++) failed += R.r[i].checked && !(R.r[i].check <= CHECK_TOLERANCE);
    printf("other processes had %.0f%% of this run's CPUs' time, other guests (steal) %.0f%%%s\n", 100 * R.others_cpu,
           100 * R.steal_cpu,
           R.others_cpu >= OTHERS_WARN || R.steal_cpu >= OTHERS_WARN
               ? ": WARNING: figures taken on CPUs shared with other work (rows flagged DISTURBED)"
               : "");
    printf("idle workers: longest wait for the other threads to sleep %.1f ms", 1e3 * R.quiesce_max_s);
    if (R.quiesce_busy)
        printf("; WARNING: %d timed cells or turns began with another thread of the process still running",
               R.quiesce_busy);
    putchar('\n');
    if (failed) printf("WARNING: %zu results differ from the scalar reference (see CHECK FAILED)\n", failed);
    if (o.json) {
        if (!write_json(&o, argc, argv, &llc, target, total, cpu)) return 1;
        printf("JSON: %s\n", o.json);
    }
    return failed ? 3 : 0;
}
