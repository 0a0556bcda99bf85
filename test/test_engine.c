/*
 * The caller-managed-thread entry points (amx_gemm_workspace_size,
 * amx_gemm_quantize, amx_gemm_compute) against amx_gemm_q, for every row of
 * the dispatch table:
 *   - bitwise identical results for every share count of either step (1, 2,
 *     3, 7, 64, more shares than work items), shares run in any order, on one
 *     thread or on real threads, with strided x and y (padding never touched);
 *   - the argument contract: the same status as amx_gemm_q for the same bad
 *     arguments, workspace and share checks, and a failing call writes nothing
 *     (neither the workspace nor y).
 */
#include <pthread.h>
#include <string.h>

#include "common.h"
#include "../src/dispatch.h"

static const int32_t k_nths[] = {1, 2, 3, 7, 64, 1000};
#define N_NTHS ((int)(sizeof k_nths / sizeof k_nths[0]))

/* A 64-byte aligned workspace with canary bytes after it. */
typedef struct {
    unsigned char *raw;
    void *ws;
    size_t size, alloc;
} workspace;

static workspace ws_alloc(size_t size) {
    workspace w = {.size = size, .alloc = (size / 64 + 2) * 64};
    w.raw = aligned_alloc(64, w.alloc);
    memset(w.raw, 0xA5, w.alloc);
    w.ws = w.raw;
    return w;
}
static int ws_tail_intact(const workspace *w) {
    for (size_t i = w->size; i < w->alloc; i++)
        if (w->raw[i] != 0xA5) return 0;
    return 1;
}

/* Quantize with nq shares, then compute with nc shares, each step running its
 * shares on this thread in reverse order (any order must do). */
static int split_gemm(const amx_weights *h, int64_t m, const float *x, int64_t ldx, float *y, int64_t ldy,
                      int32_t nq, int32_t nc, const amx_gemm_opts *opts, workspace *ws) {
    for (int32_t i = nq - 1; i >= 0; i--)
        if (amx_gemm_quantize(h, m, x, ldx, ws->ws, ws->size, i, nq) != AMX_OK) return 0;
    for (int32_t i = nc - 1; i >= 0; i--)
        if (amx_gemm_compute(h, m, ws->ws, ws->size, y, ldy, i, nc, opts) != AMX_OK) return 0;
    return 1;
}

/* ---- real threads with a barrier between the steps ---------------------- */

typedef struct {
    const amx_weights *h;
    int64_t m, ldx, ldy;
    const float *x;
    float *y;
    workspace *ws;
    int32_t nth;
    pthread_barrier_t bar;
    int failed;
} team;
typedef struct {
    team *t;
    int32_t ith;
} member;

static void *member_main(void *p) {
    const member *me = p;
    team *t = me->t;
    if (amx_gemm_quantize(t->h, t->m, t->x, t->ldx, t->ws->ws, t->ws->size, me->ith, t->nth) != AMX_OK)
        t->failed = 1;
    pthread_barrier_wait(&t->bar);
    if (amx_gemm_compute(t->h, t->m, t->ws->ws, t->ws->size, t->y, t->ldy, me->ith, t->nth, NULL) != AMX_OK)
        t->failed = 1;
    return NULL;
}

static int threaded_gemm(const amx_weights *h, int64_t m, const float *x, int64_t ldx, float *y, int64_t ldy,
                         int32_t nth, workspace *ws) {
    team t = {h, m, ldx, ldy, x, y, ws, nth, .failed = 0};
    pthread_barrier_init(&t.bar, NULL, (unsigned)nth);
    pthread_t th[8];
    member mem[8];
    for (int32_t i = 0; i < nth; i++) {
        mem[i] = (member){&t, i};
        pthread_create(&th[i], NULL, member_main, &mem[i]);
    }
    for (int32_t i = 0; i < nth; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&t.bar);
    return !t.failed;
}

/* ---- results ------------------------------------------------------------- */

/* Random weights of v's type packed for v's family; NULL (and a recorded
 * failure) if packing fails. */
static amx_weights *pack_random(const amxq_variant *v, int64_t n, int64_t k) {
    const size_t sz = gguf_bytes(v->type, n, k);
    uint8_t *wb = malloc(sz);
    gen_weights(v->type, n, k, wb, GEN_NORMAL);
    amx_weights *h = NULL;
    const amx_pack_opts po = {.size = sizeof po, .isa = v->isa};
    CHECK(amx_pack_weights(v->type, n, k, wb, sz, &po, &h) == AMX_OK, "%s pack", v->name);
    free(wb);
    return h;
}

static void check_variant(const amxq_variant *v) {
    const amx_type t = v->type;
    const int64_t bs = amx_type_block_size(t);
    static const int64_t ns[] = {1, 47, 100};
    static const int64_t ms[] = {1, 3, 17, 64, 65};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        const int64_t n = ns[a], k = bs == 32 ? 96 : 512;
        const int64_t ldx = k + 5, ldy = n + 3;
        amx_weights *h = pack_random(v, n, k);
        if (!h) continue;
        for (size_t b = 0; b < sizeof ms / sizeof ms[0]; b++) {
            const int64_t m = ms[b];
            float *x = malloc((size_t)(m * ldx) * sizeof(float));
            gen_acts(m, k, ldx, x);
            float *want = malloc((size_t)(m * n) * sizeof(float));
            CHECK(amx_gemm_q(h, m, x, ldx, want, n, NULL) == AMX_OK, "%s gemm_q", v->name);
            size_t bytes = 0;
            CHECK(amx_gemm_workspace_size(h, m, &bytes) == AMX_OK && bytes > 0, "%s workspace size", v->name);
            workspace ws = ws_alloc(bytes);
            for (int q = 0; q < N_NTHS; q++) {
                /* the compute step's share count differs from the quantize step's */
                const int32_t nq = k_nths[q], nc = k_nths[(q + 2) % N_NTHS];
                guarded_out g = guarded_alloc(m, n, ldy);
                tile_foreign_use();
                CHECK(split_gemm(h, m, x, ldx, g.y, ldy, nq, nc, NULL, &ws), "%s split calls", v->name);
                CHECK(tile_regions_closed(), "%s m=%lld: a share left a tile config loaded", v->name, (long long)m);
                const int64_t d = bitwise_diff(g.y, want, m, n, ldy, n);
                CHECK(d == 0, "%s n=%lld m=%lld quantize/%d compute/%d: %lld outputs differ from amx_gemm_q",
                      v->name, (long long)n, (long long)m, nq, nc, (long long)d);
                CHECK(guarded_intact(&g), "%s m=%lld: y padding written", v->name, (long long)m);
                CHECK(ws_tail_intact(&ws), "%s m=%lld: wrote past the workspace size", v->name, (long long)m);
                guarded_free(&g);
            }
            /* the per-call AMX threshold reaches the compute step as it reaches amx_gemm_q */
            const amx_gemm_opts go = {.size = sizeof go, .amx_min_m = 1};
            CHECK(amx_gemm_q(h, m, x, ldx, want, n, &go) == AMX_OK, "%s gemm_q opts", v->name);
            guarded_out g = guarded_alloc(m, n, ldy);
            CHECK(split_gemm(h, m, x, ldx, g.y, ldy, 3, 5, &go, &ws), "%s split with opts", v->name);
            CHECK(bitwise_diff(g.y, want, m, n, ldy, n) == 0, "%s amx_min_m=1: differs", v->name);
            guarded_free(&g);
            /* real threads meeting at a barrier */
            if (a == 2 && (m == 17 || m == 65)) {
                g = guarded_alloc(m, n, ldy);
                CHECK(amx_gemm_q(h, m, x, ldx, want, n, NULL) == AMX_OK, "%s gemm_q", v->name);
                tile_foreign_use();
                CHECK(threaded_gemm(h, m, x, ldx, g.y, ldy, 3, &ws), "%s threaded", v->name);
                CHECK(tile_regions_closed(), "%s m=%lld: a thread left a tile config loaded", v->name, (long long)m);
                CHECK(bitwise_diff(g.y, want, m, n, ldy, n) == 0, "%s threads: differs", v->name);
                guarded_free(&g);
            }
            free(ws.raw);
            free(x);
            free(want);
        }
        amx_weights_free(h);
    }
}

/* ---- portions -------------------------------------------------------------- */

/* Each compute share run ALONE (the others never run) writes exactly its own
 * outputs, bitwise equal to the full result, and nothing else; the shares'
 * outputs are disjoint and together cover every output once. A sentinel NaN
 * pattern marks what a share left alone. */
static void check_portions(const amxq_variant *v) {
    const amx_type t = v->type;
    const int64_t bs = amx_type_block_size(t);
    const int64_t n = 83, k = bs == 1 ? 37 : 2 * bs, m = 70, ldy = n + 2; /* F16/BF16: a K tail */
    amx_weights *h = pack_random(v, n, k);
    if (!h) return;
    float *x = malloc((size_t)(m * k) * sizeof(float)), *want = malloc((size_t)(m * n) * sizeof(float));
    gen_acts(m, k, k, x);
    CHECK(amx_gemm_q(h, m, x, k, want, n, NULL) == AMX_OK, "%s gemm_q", v->name);
    size_t bytes = 0;
    amx_gemm_workspace_size(h, m, &bytes);
    workspace ws = ws_alloc(bytes);
    CHECK(amx_gemm_quantize(h, m, x, k, ws.ws, bytes, 0, 1) == AMX_OK, "%s quantize", v->name);
    static const int32_t nths[] = {2, 5, 13};
    float *y = malloc((size_t)(m * ldy) * sizeof(float));
    unsigned char *owner = calloc((size_t)(m * n), 1);
    for (size_t q = 0; q < sizeof nths / sizeof nths[0]; q++) {
        const int32_t nth = nths[q];
        memset(owner, 0, (size_t)(m * n));
        int64_t wrong = 0, twice = 0;
        for (int32_t ith = 0; ith < nth; ith++) {
            memset(y, 0xA5, (size_t)(m * ldy) * sizeof(float));
            CHECK(amx_gemm_compute(h, m, ws.ws, bytes, y, ldy, ith, nth, NULL) == AMX_OK, "%s share", v->name);
            for (int64_t i = 0; i < m; i++) {
                for (int64_t j = 0; j < ldy; j++) {
                    uint32_t u;
                    memcpy(&u, &y[i * ldy + j], 4);
                    if (u == 0xA5A5A5A5u) continue;  /* left alone */
                    if (j >= n) { wrong++; continue; } /* padding written */
                    if (memcmp(&y[i * ldy + j], &want[i * n + j], 4) != 0) wrong++;
                    if (owner[i * n + j]++) twice++;
                }
            }
        }
        int64_t missing = 0;
        for (int64_t e = 0; e < m * n; e++) missing += owner[e] == 0;
        CHECK(wrong == 0 && twice == 0 && missing == 0,
              "%s nth=%d, shares run alone: %lld outputs wrong or in the padding, %lld written by two "
              "shares, %lld by none", v->name, nth, (long long)wrong, (long long)twice, (long long)missing);
    }
    free(owner);
    free(y);
    free(ws.raw);
    free(x);
    free(want);
    amx_weights_free(h);
}

/* ---- the argument contract ----------------------------------------------- */

#define YN 40
#define XK 64
#define XM 4

/* A split multiply (quantize then compute, one share each) with the
 * arguments amx_gemm_q got. *q_failed tells whether the quantize step was the
 * one that failed (then the workspace must be untouched). */
static amx_status split_status(const amx_weights *h, int64_t m, const float *x, int64_t ldx, float *y,
                               int64_t ldy, const amx_gemm_opts *o, void *ws, size_t ws_size, int *q_failed) {
    amx_status st = amx_gemm_quantize(h, m, x, ldx, ws, ws_size, 0, 1);
    *q_failed = st != AMX_OK;
    if (st == AMX_OK) st = amx_gemm_compute(h, m, ws, ws_size, y, ldy, 0, 1, o);
    return st;
}

static void check_contract(void) {
    const amx_type t = AMX_TYPE_Q4_0;
    const size_t sz = gguf_bytes(t, YN, XK);
    uint8_t *wb = malloc(sz);
    gen_weights(t, YN, XK, wb, GEN_NORMAL);
    amx_weights *h = NULL;
    CHECK(amx_pack_weights(t, YN, XK, wb, sz, NULL, &h) == AMX_OK, "pack");
    free(wb);
    float x[XM * XK], y[XM * YN];
    unsigned char y_copy[sizeof y];
    gen_acts(XM, XK, XK, x);
    size_t need = 0;
    CHECK(amx_gemm_workspace_size(h, XM, &need) == AMX_OK, "workspace size");
    workspace ws = ws_alloc(need + 64);

    /* workspace size queries */
    size_t sz0 = 123;
    CHECK(amx_gemm_workspace_size(h, 0, &sz0) == AMX_OK && sz0 == 0, "m = 0 needs no workspace");
    CHECK(amx_gemm_workspace_size(NULL, 1, &sz0) == AMX_ERR_INVALID_ARG, "NULL handle");
    CHECK(amx_gemm_workspace_size(h, -1, &sz0) == AMX_ERR_INVALID_ARG, "m < 0");
    CHECK(amx_gemm_workspace_size(h, 1, NULL) == AMX_ERR_INVALID_ARG, "NULL bytes");
    CHECK(amx_gemm_workspace_size(h, INT64_MAX / 2, &sz0) == AMX_ERR_INVALID_ARG, "absurd m");
    size_t s1 = 0, s2 = 0;
    CHECK(amx_gemm_workspace_size(h, 1, &s1) == AMX_OK && amx_gemm_workspace_size(h, 2, &s2) == AMX_OK &&
              s1 > 0 && s2 >= s1 && need >= s2,
          "workspace grows with m: %zu %zu %zu", s1, s2, need);

    /* the same bad arguments give amx_gemm_q's status, and nothing is written */
    const amx_gemm_opts bad_size = {.size = 4}, bad_flags = {.size = sizeof bad_flags, .flags = 1},
                        bad_threads = {.size = sizeof bad_threads, .n_threads = -2},
                        bad_min = {.size = sizeof bad_min, .amx_min_m = -1};
    amx_weights fake;
    memset(&fake, 0, sizeof fake);
    struct {
        const char *what;
        const amx_weights *h;
        int64_t m;
        const float *x;
        int64_t ldx;
        float *y;
        int64_t ldy;
        const amx_gemm_opts *o;
    } cases[] = {
        {"NULL handle", NULL, XM, x, XK, y, YN, NULL},
        {"invalid handle", &fake, XM, x, XK, y, YN, NULL},
        {"m < 0", h, -1, x, XK, y, YN, NULL},
        {"ldx < k", h, XM, x, XK - 1, y, YN, NULL},
        {"ldy < n", h, XM, x, XK, y, YN - 1, NULL},
        {"NULL x", h, XM, NULL, XK, y, YN, NULL},
        {"NULL y", h, XM, x, XK, NULL, YN, NULL},
        {"x extent overflows", h, INT64_MAX / 4, x, XK, y, YN, NULL},
        {"y extent overflows", h, 3, x, XK, y, INT64_MAX / 2, NULL},
        {"opts size", h, XM, x, XK, y, YN, &bad_size},
        {"opts flags", h, XM, x, XK, y, YN, &bad_flags},
        {"opts n_threads", h, XM, x, XK, y, YN, &bad_threads},
        {"opts amx_min_m", h, XM, x, XK, y, YN, &bad_min},
        {"m = 0 with NULL pointers", h, 0, NULL, XK, NULL, YN, NULL},
        {"valid", h, XM, x, XK, y, YN, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(y, 0x5A, sizeof y);
        const amx_status want = amx_gemm_q(cases[i].h, cases[i].m, cases[i].x, cases[i].ldx, cases[i].y,
                                           cases[i].ldy, cases[i].o);
        memset(y, 0x5A, sizeof y);
        memcpy(y_copy, y, sizeof y);
        memset(ws.raw, 0xA5, ws.alloc);
        int q_failed;
        const amx_status got = split_status(cases[i].h, cases[i].m, cases[i].x, cases[i].ldx, cases[i].y,
                                            cases[i].ldy, cases[i].o, ws.ws, ws.size, &q_failed);
        CHECK(got == want, "%s: split calls give %s, amx_gemm_q %s", cases[i].what, amx_status_str(got),
              amx_status_str(want));
        if (got != AMX_OK) {
            CHECK(memcmp(y, y_copy, sizeof y) == 0, "%s: failed but wrote y", cases[i].what);
            if (q_failed)
                CHECK(ws_tail_intact(&(workspace){ws.raw, ws.ws, 0, ws.alloc}), "%s: failed but wrote the workspace",
                      cases[i].what);
        }
    }

    /* workspace and share checks, each with untouched memory on failure */
    struct {
        const char *what;
        void *ws;
        size_t size;
        int32_t ith, nth;
        amx_status want;
    } wcases[] = {
        {"workspace one byte short", ws.ws, need - 1, 0, 1, AMX_ERR_WORKSPACE},
        {"workspace size 0", ws.ws, 0, 0, 1, AMX_ERR_WORKSPACE},
        {"workspace misaligned by 16", ws.raw + 16, need, 0, 1, AMX_ERR_WORKSPACE},
        {"workspace misaligned by 1", ws.raw + 1, need, 0, 1, AMX_ERR_WORKSPACE},
        {"NULL workspace", NULL, need, 0, 1, AMX_ERR_INVALID_ARG},
        {"nth = 0", ws.ws, need, 0, 0, AMX_ERR_INVALID_ARG},
        {"nth < 0", ws.ws, need, 0, -3, AMX_ERR_INVALID_ARG},
        {"ith < 0", ws.ws, need, -1, 2, AMX_ERR_INVALID_ARG},
        {"ith = nth", ws.ws, need, 2, 2, AMX_ERR_INVALID_ARG},
        {"largest share count", ws.ws, need, INT32_MAX - 1, INT32_MAX, AMX_OK},
        {"exact size", ws.ws, need, 0, 1, AMX_OK},
    };
    for (size_t i = 0; i < sizeof wcases / sizeof wcases[0]; i++) {
        memset(ws.raw, 0xA5, ws.alloc);
        memset(y, 0x5A, sizeof y);
        memcpy(y_copy, y, sizeof y);
        const amx_status q = amx_gemm_quantize(h, XM, x, XK, wcases[i].ws, wcases[i].size, wcases[i].ith, wcases[i].nth);
        const amx_status c = amx_gemm_compute(h, XM, wcases[i].ws, wcases[i].size, y, YN, wcases[i].ith, wcases[i].nth, NULL);
        CHECK(q == wcases[i].want && c == wcases[i].want, "%s: quantize %s, compute %s, want %s", wcases[i].what,
              amx_status_str(q), amx_status_str(c), amx_status_str(wcases[i].want));
        if (wcases[i].want != AMX_OK) {
            CHECK(ws_tail_intact(&(workspace){ws.raw, ws.ws, 0, ws.alloc}), "%s: wrote the workspace", wcases[i].what);
            CHECK(memcmp(y, y_copy, sizeof y) == 0, "%s: wrote y", wcases[i].what);
        }
    }
    free(ws.raw);
    amx_weights_free(h);
}

int main(void) {
    rng_seed(2718);
    for_each_runnable_variant(check_variant, "caller-managed shares bitwise identical to amx_gemm_q");
    for_each_runnable_variant(check_portions, "each share alone writes exactly its own outputs");
    check_contract();
    return test_finish("test_engine");
}
