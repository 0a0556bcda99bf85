/*
 * NUMA placement with an injected topology (src/numa.h's amxq_numa_ops): 1, 2
 * and 4 fake nodes with uneven CPU counts and sparse node numbers, memory that
 * runs out on chosen nodes. For every runnable row of the dispatch table:
 *   - MIRROR: one replica per node, each bound to its node and a copy of the
 *     image; a caller thread (and each pool thread) reads its own node's
 *     replica, the first one where its node has none;
 *   - PARTITION: part boundaries in whole pack units, in proportion to the
 *     nodes' CPUs; every page of a part bound to its node; the share split
 *     amx_gemm_share_node documents (contiguous, at least one share per part,
 *     proportional), and pool threads running the shares of their own node;
 *   - INTERLEAVE, AUTO's rule, and the fallbacks when a node lacks memory
 *     (one replica fewer, MIRROR -> PARTITION -> INTERLEAVE -> NONE), reported
 *     by amx_weights_query;
 *   - results bitwise equal to the unplaced handle's for every policy, node
 *     count, share count and pool size; saved images and unpacked blocks
 *     identical; caller memory and opened images never placed.
 * Then the same calls on the system's own topology (one node here: exactly as
 * without NUMA).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "../src/dispatch.h"
#include "../src/image.h"
#include "../src/numa.h"

/* ---- the fake machine ---------------------------------------------------- */

#define PAGE 4096
#define MAX_REGIONS 4096

typedef struct {
    uint8_t *p;
    size_t bytes;
    int32_t *page_node; /* bound node per page; -2 interleaved; -1 unbound */
    int populated;
} region;

static struct {
    int32_t count;
    int32_t node[8], cpus[8];
    int64_t avail[8];      /* bytes each node can still hold */
    int64_t reported[8];   /* extra free bytes nodes() claims beyond avail (a lying free count) */
    int fail_map;          /* map() fails */
    region r[MAX_REGIONS];
    int32_t pinned[AMXQ_MAX_THREADS]; /* node each pool worker was pinned to; -1 never */
} F;

static _Thread_local int32_t tl_node; /* the node the calling (non-pool) thread "runs" on */
static _Thread_local int tl_placed;   /* it runs on the node amx_gemm_share_node named */

static int node_index(int32_t node) {
    for (int32_t i = 0; i < F.count; i++)
        if (F.node[i] == node) return i;
    return -1;
}

static void fake_nodes(amxq_numa_nodes *out) {
    memset(out, 0, sizeof *out);
    out->count = F.count;
    for (int32_t i = 0; i < F.count; i++) {
        out->node[i] = F.node[i];
        out->cpus[i] = F.cpus[i];
        out->free_bytes[i] = (uint64_t)(F.avail[i] + F.reported[i]);
    }
}

static region *find(const void *p) {
    for (int i = 0; i < MAX_REGIONS; i++)
        if (F.r[i].p && (const uint8_t *)p >= F.r[i].p && (const uint8_t *)p < F.r[i].p + F.r[i].bytes)
            return &F.r[i];
    return NULL;
}

static void *fake_map(size_t bytes) {
    if (F.fail_map || bytes % PAGE) return NULL;
    for (int i = 0; i < MAX_REGIONS; i++) {
        if (F.r[i].p) continue;
        F.r[i] = (region){aligned_alloc(PAGE, bytes), bytes, malloc(sizeof(int32_t) * (bytes / PAGE)), 0};
        for (size_t k = 0; k < bytes / PAGE; k++) F.r[i].page_node[k] = -1;
        memset(F.r[i].p, 0xEE, bytes); /* what a kernel never hands out: packing must overwrite it */
        return F.r[i].p;
    }
    return NULL;
}

/* Charges (sign 1) or refunds (-1) a region's pages to their nodes. */
static void charge(const region *r, int sign) {
    const int64_t pages = (int64_t)(r->bytes / PAGE);
    for (int64_t k = 0; k < pages; k++) {
        const int32_t n = r->page_node[k];
        if (n >= 0) F.avail[node_index(n)] -= sign * PAGE;
        if (n == -2) F.avail[k % F.count] -= sign * PAGE;
    }
}

static void fake_unmap(void *p, size_t bytes) {
    region *r = find(p);
    CHECK(r && r->p == p && r->bytes == bytes, "unmap of a region that was not mapped as such");
    if (!r) return;
    if (r->populated) charge(r, -1);
    free(r->p);
    free(r->page_node);
    *r = (region){0};
}

static int fake_bind(void *p, size_t bytes, const int32_t *node, int32_t count) {
    region *r = find(p);
    CHECK(r && ((uint8_t *)p - r->p) % PAGE == 0 && (uint8_t *)p + bytes <= r->p + r->bytes && !r->populated,
          "bind outside a mapped, unpopulated region");
    if (!r) return -1;
    for (int32_t i = 0; i < count; i++) CHECK(node_index(node[i]) >= 0, "bind to node %d, not one of ours", node[i]);
    const size_t k0 = (size_t)((uint8_t *)p - r->p) / PAGE;
    for (size_t k = k0; k < k0 + (bytes + PAGE - 1) / PAGE; k++) r->page_node[k] = count == 1 ? node[0] : -2;
    return 0;
}

static int fake_populate(void *p, size_t bytes) {
    region *r = find(p);
    CHECK(r && r->p == p && r->bytes == bytes, "populate of a part of a region");
    if (!r) return -1;
    charge(r, 1);
    for (int32_t i = 0; i < F.count; i++)
        if (F.avail[i] < 0) {
            charge(r, -1);
            return -1;
        }
    r->populated = 1;
    return 0;
}

static int32_t fake_current_node(void) {
    const int32_t t = amxq_numa_thread_worker();
    return t > 0 ? amxq_numa_worker_node(t) : tl_node;
}

static int fake_pin(int32_t node) {
    F.pinned[amxq_numa_thread_worker()] = node;
    return 0;
}

static void fake_where(void *const *pages, int32_t count, int32_t *where) {
    for (int32_t i = 0; i < count; i++) {
        const region *r = find(pages[i]);
        where[i] = r ? r->page_node[(size_t)((const uint8_t *)pages[i] - r->p) / PAGE] : -1;
    }
}

static const amxq_numa_ops k_fake = {
    .nodes = fake_nodes, .map = fake_map, .unmap = fake_unmap, .bind = fake_bind, .populate = fake_populate,
    .current_node = fake_current_node, .pin = fake_pin, .where = fake_where, .page_bytes = PAGE,
};

static void machine(int32_t count, const int32_t *node, const int32_t *cpus, int64_t avail) {
    F.count = count;
    for (int32_t i = 0; i < count; i++) {
        F.node[i] = node[i];
        F.cpus[i] = cpus[i];
        F.avail[i] = avail;
        F.reported[i] = 0;
    }
    F.fail_map = 0;
    amxq_numa_ops_set(&k_fake);
}

static int regions_live(void) {
    int n = 0;
    for (int i = 0; i < MAX_REGIONS; i++) n += F.r[i].p != NULL;
    return n;
}

/* ---- observing the shares ------------------------------------------------ */

static atomic_int g_seen, g_wrong_replica, g_wrong_node, g_worker_parts;

static void observe(const amx_weights *w, int32_t node, const amxq_numa_share *s) {
    const amxq_place *pl = w->place;
    atomic_fetch_add(&g_seen, 1);
    if (pl->policy == AMX_NUMA_MIRROR) {
        int32_t want = 0;
        for (int32_t i = 0; i < pl->count; i++)
            if (pl->node[i] == node) want = i;
        if (s->replica != want || s->view.data != pl->image[want] + sizeof(amxq_image_header))
            atomic_fetch_add(&g_wrong_replica, 1);
    }
    /* pool workers and caller threads placed as amx_gemm_share_node says
     * read their own node's part (a one-thread multiply runs on the
     * caller's thread wherever it is) */
    if (s->part >= 0 && pl->node[s->part] != node && (amxq_numa_thread_worker() > 0 || tl_placed))
        atomic_fetch_add(&g_wrong_node, 1);
    if (s->part >= 0 && amxq_numa_thread_worker() > 0) atomic_fetch_add(&g_worker_parts, 1);
}

/* ---- helpers -------------------------------------------------------------- */

typedef struct {
    amx_type type;
    amx_isa isa;
    int64_t n, k;
    uint8_t *gguf;
    size_t gguf_size;
} case_t;

static amx_weights *pack(const case_t *c, amx_numa_policy numa, int32_t threads) {
    const amx_pack_opts o = {.size = sizeof o, .isa = c->isa, .n_threads = threads, .numa = numa};
    amx_weights *w = NULL;
    const amx_status st = amx_pack_weights(c->type, c->n, c->k, c->gguf, c->gguf_size, &o, &w);
    CHECK(st == AMX_OK, "pack %s/%s n=%lld numa=%d: %s", amx_type_name(c->type), amx_isa_name(c->isa),
          (long long)c->n, numa, amx_status_str(st));
    return w;
}

static amx_weights_info query(const amx_weights *w) {
    amx_weights_info info = {.size = sizeof info};
    CHECK(amx_weights_query(w, &info) == AMX_OK, "query");
    return info;
}

/* The node of every page of [p, p + bytes) is `node`. */
static int pages_on(const uint8_t *p, size_t bytes, int32_t node) {
    const amxq_numa_ops *ops = amxq_numa_ops_get();
    for (size_t off = 0; off < bytes; off += PAGE) {
        void *pg = (void *)(p + off);
        int32_t where;
        ops->where(&pg, 1, &where);
        if (where != node) return 0;
    }
    return 1;
}

/* y of an m-row multiply on the library's pool with nth threads. */
static void gemm_pool(const amx_weights *w, int64_t m, const float *x, float *y, int32_t nth) {
    const amx_gemm_opts o = {.size = sizeof o, .n_threads = nth};
    CHECK(amx_gemm_q(w, m, x, w->k, y, w->n, &o) == AMX_OK, "gemm");
}

/* y with the split API, share ith run on a thread of node `node_of(ith)`
 * (the node amx_gemm_share_node names, or `any` where it names none). */
static void gemm_split_opts(const amx_weights *w, int64_t m, const float *x, float *y, int32_t nth, int32_t any,
                            const amx_gemm_opts *opts) {
    size_t bytes;
    CHECK(amx_gemm_workspace_size(w, m, &bytes) == AMX_OK, "workspace size");
    void *ws = aligned_alloc(64, (bytes / 64 + 1) * 64);
    CHECK(amx_gemm_quantize(w, m, x, w->k, ws, bytes, 0, 1) == AMX_OK, "quantize");
    for (int32_t i = nth - 1; i >= 0; i--) {
        const int32_t node = amx_gemm_share_node(w, i, nth);
        tl_node = node >= 0 ? node : any;
        tl_placed = 1;
        CHECK(amx_gemm_compute(w, m, ws, bytes, y, w->n, i, nth, opts) == AMX_OK, "compute");
        tl_placed = 0;
    }
    tl_node = F.node[0];
    free(ws);
}

static void gemm_split(const amx_weights *w, int64_t m, const float *x, float *y, int32_t nth, int32_t any) {
    gemm_split_opts(w, m, x, y, nth, any, NULL);
}

static void check_image_same(const amx_weights *a, const amx_weights *b, const char *what) {
    size_t na = 0, nb = 0;
    amx_weights_save_to(a, NULL, 0, &na);
    amx_weights_save_to(b, NULL, 0, &nb);
    uint8_t *ia = malloc(na), *ib = malloc(nb);
    CHECK(na == nb && amx_weights_save_to(a, ia, na, &na) == AMX_OK && amx_weights_save_to(b, ib, nb, &nb) == AMX_OK &&
              memcmp(ia, ib, na) == 0,
          "%s: saved image differs from the unplaced handle's", what);
    free(ia);
    free(ib);
}

/* ---- the checks of one (case, machine) ------------------------------------ */

static const int64_t k_ms[] = {1, 3, 17};
static const int32_t k_nths[] = {1, 2, 3, 5, 16};
#define N_MS ((int)(sizeof k_ms / sizeof k_ms[0]))
#define N_NTHS ((int)(sizeof k_nths / sizeof k_nths[0]))

/* The epilogue (bias, accumulate) on a placed handle: each share adds the
 * bias of its own columns and accumulates into its own outputs, whatever
 * part or replica it reads; bitwise the unplaced handle's result. */
static void check_epilogue(const case_t *c, const amx_weights *w, const amx_weights *ref, const char *what) {
    const int64_t m = 17, n = c->n;
    const size_t ybytes = sizeof(float) * (size_t)(m * n);
    float *x = malloc(sizeof(float) * (size_t)(m * c->k)), *bias = malloc(sizeof(float) * (size_t)n);
    float *y_old = malloc(ybytes), *y0 = malloc(ybytes), *y = malloc(ybytes);
    gen_acts(m, c->k, c->k, x);
    gen_acts(1, n, n, bias);
    gen_acts(m, n, n, y_old);
    for (int mode = 0; mode < 3; mode++) { /* bias; accumulate; both */
        amx_gemm_opts o = {.size = sizeof o, .n_threads = 1, .bias = mode != 1 ? bias : NULL,
                           .flags = mode != 0 ? AMX_GEMM_ACCUMULATE : 0};
        memcpy(y0, y_old, ybytes);
        CHECK(amx_gemm_q(ref, m, x, c->k, y0, n, &o) == AMX_OK, "%s: epilogue on the unplaced handle", what);
        for (int ti = 0; ti < N_NTHS; ti++) {
            o.n_threads = k_nths[ti];
            memcpy(y, y_old, ybytes);
            CHECK(amx_gemm_q(w, m, x, c->k, y, n, &o) == AMX_OK && !memcmp(y, y0, ybytes),
                  "%s: epilogue %d, pool of %d: not bitwise equal", what, mode, k_nths[ti]);
            memcpy(y, y_old, ybytes);
            gemm_split_opts(w, m, x, y, k_nths[ti], F.node[0], &o);
            CHECK(!memcmp(y, y0, ybytes), "%s: epilogue %d, %d caller shares: not bitwise equal", what, mode,
                  k_nths[ti]);
        }
    }
    free(x);
    free(bias);
    free(y_old);
    free(y0);
    free(y);
}

/* Every multiply of a placed handle against the unplaced one's y, bitwise. */
static void check_results(const case_t *c, const amx_weights *w, const amx_weights *ref, const char *what) {
    for (int mi = 0; mi < N_MS; mi++) {
        const int64_t m = k_ms[mi];
        float *x = malloc(sizeof(float) * (size_t)(m * c->k));
        float *y0 = malloc(sizeof(float) * (size_t)(m * c->n)), *y = malloc(sizeof(float) * (size_t)(m * c->n));
        gen_acts(m, c->k, c->k, x);
        gemm_pool(ref, m, x, y0, 1);
        for (int ti = 0; ti < N_NTHS; ti++) {
            memset(y, 0xCD, sizeof(float) * (size_t)(m * c->n));
            gemm_pool(w, m, x, y, k_nths[ti]);
            CHECK(!memcmp(y, y0, sizeof(float) * (size_t)(m * c->n)), "%s: pool of %d, m=%lld: not bitwise equal",
                  what, k_nths[ti], (long long)m);
            for (int32_t any = 0; any < F.count; any += F.count > 1 ? F.count - 1 : 1) {
                memset(y, 0xCD, sizeof(float) * (size_t)(m * c->n));
                gemm_split(w, m, x, y, k_nths[ti], F.node[any]);
                CHECK(!memcmp(y, y0, sizeof(float) * (size_t)(m * c->n)),
                      "%s: %d caller shares (others on node %d), m=%lld: not bitwise equal", what, k_nths[ti],
                      F.node[any], (long long)m);
            }
        }
        /* one quantization for the placed and the unplaced handle */
        float *y2 = malloc(sizeof(float) * (size_t)(m * c->n));
        const amx_weights *pair[2] = {w, ref};
        float *outs[2] = {y, y2};
        const int64_t lds[2] = {c->n, c->n};
        const amx_gemm_opts mo = {.size = sizeof mo, .n_threads = 3};
        CHECK(amx_gemm_q_multi(pair, 2, m, x, c->k, outs, lds, &mo) == AMX_OK &&
                  !memcmp(y, y0, sizeof(float) * (size_t)(m * c->n)) && !memcmp(y2, y0, sizeof(float) * (size_t)(m * c->n)),
              "%s: amx_gemm_q_multi, m=%lld: not bitwise equal", what, (long long)m);
        free(y2);
        free(x);
        free(y0);
        free(y);
    }
    uint8_t *back = malloc(c->gguf_size);
    CHECK(amx_weights_unpack(w, back, c->gguf_size) == AMX_OK && !memcmp(back, c->gguf, c->gguf_size),
          "%s: unpack differs from the packed blocks", what);
    free(back);
    check_image_same(w, ref, what);
    check_epilogue(c, w, ref, what);
}

static void check_mirror(const case_t *c, const amx_weights *ref, const char *what) {
    amx_weights *w = pack(c, AMX_NUMA_MIRROR, 3);
    if (!w) return;
    const amx_weights_info info = query(w);
    const amxq_place *pl = w->place;
    CHECK(info.numa_policy == AMX_NUMA_MIRROR && info.numa_requested == AMX_NUMA_MIRROR && info.numa_flags == 0 &&
              info.numa_node_count == F.count,
          "%s: mirror reports policy %d (asked %d), flags %u, %d nodes", what, info.numa_policy,
          info.numa_requested, info.numa_flags, info.numa_node_count);
    for (int32_t i = 0; i < info.numa_node_count && i < F.count; i++) {
        CHECK(info.numa_nodes[i] == F.node[i] && info.numa_node_bytes[i] == (w->packed_bytes + PAGE - 1) / PAGE * PAGE,
              "%s: replica %d on node %d with %llu bytes", what, i, info.numa_nodes[i],
              (unsigned long long)info.numa_node_bytes[i]);
        CHECK(pages_on(pl->image[i], pl->map_bytes, F.node[i]), "%s: replica %d not all on node %d", what, i, F.node[i]);
        CHECK(!memcmp(pl->image[i], pl->image[0], w->packed_bytes), "%s: replica %d is not a copy", what, i);
    }
    check_results(c, w, ref, what);
    amx_weights_free(w);
}

static void check_partition(const case_t *c, const amx_weights *ref, const char *what) {
    amx_weights *w = pack(c, AMX_NUMA_PARTITION, 2);
    if (!w) return;
    const amx_weights_info info = query(w);
    const amxq_place *pl = w->place;
    const int64_t rows = w->v->pack_rows, units = (c->n + rows - 1) / rows;
    int32_t total = 0;
    for (int32_t i = 0; i < F.count; i++) total += F.cpus[i];
    /* the documented boundaries: whole units, in proportion to the CPUs */
    int32_t parts = 0, before = 0;
    int64_t col[9];
    int32_t node[8];
    for (int32_t i = 0; i < F.count; i++) {
        const int64_t u0 = units * before / total, u1 = units * (before + F.cpus[i]) / total;
        before += F.cpus[i];
        if (u1 > u0) col[parts] = u0 * rows, node[parts++] = F.node[i];
    }
    col[parts] = c->n;
    CHECK(info.numa_policy == AMX_NUMA_PARTITION && info.numa_flags == 0 && info.numa_node_count == parts,
          "%s: partition reports policy %d, flags %u, %d parts (want %d)", what, info.numa_policy, info.numa_flags,
          info.numa_node_count, parts);
    uint64_t sum = 0;
    for (int32_t p = 0; p < parts && p < info.numa_node_count; p++) {
        CHECK(pl->col[p] == col[p] && pl->col[p + 1] == col[p + 1] && info.numa_nodes[p] == node[p],
              "%s: part %d is columns [%lld, %lld) on node %d, want [%lld, %lld) on %d", what, p,
              (long long)pl->col[p], (long long)pl->col[p + 1], info.numa_nodes[p], (long long)col[p],
              (long long)col[p + 1], node[p]);
        /* part p's pages: from the page of its first byte to the next part's */
        const size_t hdr = sizeof(amxq_image_header);
        const size_t s0 = p ? (hdr + pl->off[p]) / PAGE * PAGE : 0;
        const size_t s1 = p + 1 < parts ? (hdr + pl->off[p + 1]) / PAGE * PAGE : pl->map_bytes;
        CHECK(info.numa_node_bytes[p] == s1 - s0, "%s: part %d reports %llu bytes, holds %zu", what, p,
              (unsigned long long)info.numa_node_bytes[p], s1 - s0);
        CHECK(pages_on(pl->image[0] + s0, s1 - s0, node[p]), "%s: part %d not all on node %d", what, p, node[p]);
        /* the part's payload starts where a matrix of its first columns ends */
        amx_weights head = *w;
        head.n = col[p];
        CHECK(pl->off[p] == (p ? w->v->packed_size(&head) : 0), "%s: part %d payload offset", what, p);
        sum += info.numa_node_bytes[p];
    }
    CHECK(sum == pl->map_bytes, "%s: parts hold %llu of %zu bytes", what, (unsigned long long)sum, pl->map_bytes);
    /* the share split: contiguous, every part at least one share, the rest
     * in proportion to its columns; fewer shares than parts: no node */
    for (int ti = 0; ti < N_NTHS; ti++) {
        const int32_t nth = k_nths[ti];
        int32_t last = -1, count[8] = {0}, ok = 1;
        for (int32_t i = 0; i < nth; i++) {
            const int32_t nd = amx_gemm_share_node(w, i, nth);
            if (nth < parts) {
                ok &= nd == -1;
                continue;
            }
            int32_t p = 0;
            while (p < parts && node[p] != nd) p++;
            ok &= p < parts && p >= last;
            if (p < parts) count[p]++;
            last = p;
        }
        for (int32_t p = 0; nth >= parts && p < parts; p++) {
            const int64_t want = 1 + (int64_t)(nth - parts) * col[p + 1] / c->n - (int64_t)(nth - parts) * col[p] / c->n;
            ok &= count[p] == want;
        }
        CHECK(ok, "%s: share split of %d shares over %d parts", what, nth, parts);
    }
    CHECK(amx_gemm_share_node(w, -1, 2) == -1 && amx_gemm_share_node(w, 2, 2) == -1 && amx_gemm_share_node(NULL, 0, 1) == -1,
          "%s: share_node of bad arguments", what);
    check_results(c, w, ref, what);
    amx_weights_free(w);
}

static void check_interleave_and_auto(const case_t *c, const amx_weights *ref, const char *what) {
    amx_weights *w = pack(c, AMX_NUMA_INTERLEAVE, 1);
    if (w) {
        const amx_weights_info info = query(w);
        CHECK(info.numa_policy == AMX_NUMA_INTERLEAVE && info.numa_node_count == F.count, "%s: interleave reports %d",
              what, info.numa_policy);
        CHECK(pages_on(w->place->image[0], w->place->map_bytes, -2), "%s: interleaved pages", what);
        check_results(c, w, ref, what);
        amx_weights_free(w);
    }
    /* AUTO: a replica when it takes at most a quarter of every node's free memory */
    const int64_t bytes = (int64_t)(ref->packed_bytes + PAGE - 1) / PAGE * PAGE;
    int64_t saved[8];
    for (int32_t i = 0; i < F.count; i++) saved[i] = F.avail[i], F.avail[i] = 4 * bytes;
    w = pack(c, AMX_NUMA_AUTO, 1);
    CHECK(w && query(w).numa_policy == AMX_NUMA_MIRROR && query(w).numa_requested == AMX_NUMA_MIRROR,
          "%s: AUTO with 4 replicas' room on every node is not MIRROR", what);
    amx_weights_free(w);
    F.avail[F.count - 1] = 4 * bytes - 1;
    w = pack(c, AMX_NUMA_AUTO, 1);
    CHECK(w && query(w).numa_policy == AMX_NUMA_PARTITION && query(w).numa_requested == AMX_NUMA_PARTITION &&
              query(w).numa_flags == 0,
          "%s: AUTO with less room on one node is not PARTITION", what);
    amx_weights_free(w);
    for (int32_t i = 0; i < F.count; i++) F.avail[i] = saved[i];
}

/* Nodes that run out: each policy falls back and says so. */
static void check_fallbacks(const case_t *c, const amx_weights *ref, const char *what) {
    const int64_t bytes = (int64_t)(ref->packed_bytes + PAGE - 1) / PAGE * PAGE;
    const int32_t last = F.count - 1;
    int64_t saved[8];
    for (int32_t i = 0; i < F.count; i++) saved[i] = F.avail[i];

    /* the last node has no room for a replica: one replica fewer */
    F.avail[last] = bytes - PAGE;
    amx_weights *w = pack(c, AMX_NUMA_MIRROR, 1);
    amx_weights_info info = query(w);
    CHECK(info.numa_policy == AMX_NUMA_MIRROR && info.numa_requested == AMX_NUMA_MIRROR &&
              info.numa_flags == AMX_NUMA_FELL_BACK && info.numa_node_count == F.count - 1 &&
              info.numa_nodes[info.numa_node_count - 1] != F.node[last],
          "%s: mirror without room on node %d: policy %d, flags %u, %d replicas", what, F.node[last],
          info.numa_policy, info.numa_flags, info.numa_node_count);
    /* a thread of the node without a replica reads the first */
    check_results(c, w, ref, what);
    amx_weights_free(w);

    /* the node says it has room but runs out while its pages are allocated */
    F.reported[last] = PAGE;
    w = pack(c, AMX_NUMA_MIRROR, 1);
    info = query(w);
    CHECK(info.numa_policy == AMX_NUMA_MIRROR && info.numa_flags == AMX_NUMA_FELL_BACK &&
              info.numa_node_count == F.count - 1,
          "%s: mirror that runs out while populating: policy %d, %d replicas", what, info.numa_policy,
          info.numa_node_count);
    amx_weights_free(w);
    F.reported[last] = 0;

    /* where the parts go with room everywhere */
    for (int32_t i = 0; i < F.count; i++) F.avail[i] = saved[i];
    w = pack(c, AMX_NUMA_PARTITION, 1);
    int64_t part_bytes[8] = {0}, most = 0;
    int32_t most_node = F.node[0];
    for (int32_t p = 0; w && p < w->place->count; p++) {
        part_bytes[node_index(w->place->node[p])] = (int64_t)w->place->bytes[p];
        if ((int64_t)w->place->bytes[p] > most) most = (int64_t)w->place->bytes[p], most_node = w->place->node[p];
    }
    amx_weights_free(w);

    /* no node has room for a replica, every node for its part: PARTITION */
    if (most < bytes) {
        for (int32_t i = 0; i < F.count; i++) F.avail[i] = part_bytes[i];
        w = pack(c, AMX_NUMA_MIRROR, 1);
        info = query(w);
        CHECK(info.numa_policy == AMX_NUMA_PARTITION && info.numa_requested == AMX_NUMA_MIRROR &&
                  info.numa_flags == AMX_NUMA_FELL_BACK,
              "%s: mirror without room anywhere: policy %d, asked %d, flags %u", what, info.numa_policy,
              info.numa_requested, info.numa_flags);
        check_results(c, w, ref, what);
        amx_weights_free(w);
    }

    /* the node of the largest part lacks room for it, not for its share of
     * interleaved pages: INTERLEAVE */
    const int64_t pages = bytes / PAGE, mi = node_index(most_node);
    const int64_t spread = (pages / F.count + (mi < pages % F.count)) * PAGE;
    if (spread <= most - PAGE) {
        for (int32_t i = 0; i < F.count; i++) F.avail[i] = saved[i];
        F.avail[mi] = most - PAGE;
        w = pack(c, AMX_NUMA_PARTITION, 1);
        info = query(w);
        CHECK(info.numa_policy == AMX_NUMA_INTERLEAVE && info.numa_requested == AMX_NUMA_PARTITION &&
                  info.numa_flags == AMX_NUMA_FELL_BACK,
              "%s: partition without room for a part: policy %d, flags %u", what, info.numa_policy, info.numa_flags);
        check_results(c, w, ref, what);
        amx_weights_free(w);
    }

    /* no room at all: NONE, placed as without NUMA, and still a handle */
    for (int32_t i = 0; i < F.count; i++) F.avail[i] = 0;
    w = pack(c, AMX_NUMA_MIRROR, 1);
    info = query(w);
    CHECK(w && info.numa_policy == AMX_NUMA_NONE && info.numa_requested == AMX_NUMA_MIRROR &&
              info.numa_flags == AMX_NUMA_FELL_BACK && info.numa_node_count == 0,
          "%s: no memory on any node: policy %d, flags %u", what, info.numa_policy, info.numa_flags);
    check_results(c, w, ref, what);
    amx_weights_free(w);

    /* mapping itself fails: NONE */
    for (int32_t i = 0; i < F.count; i++) F.avail[i] = saved[i];
    F.fail_map = 1;
    w = pack(c, AMX_NUMA_PARTITION, 1);
    CHECK(w && query(w).numa_policy == AMX_NUMA_NONE && query(w).numa_flags == AMX_NUMA_FELL_BACK,
          "%s: map failing: policy %d", what, query(w).numa_policy);
    amx_weights_free(w);
    F.fail_map = 0;
    for (int32_t i = 0; i < F.count; i++) CHECK(F.avail[i] == saved[i], "%s: node %d memory leaked", what, F.node[i]);
}

/* Caller memory and opened images are never placed, whatever is asked. */
static void check_caller_memory(const case_t *c, const char *what) {
    const amx_pack_opts o = {.size = sizeof o, .isa = c->isa, .numa = AMX_NUMA_MIRROR};
    size_t bytes, align;
    CHECK(amx_pack_size(c->type, c->n, c->k, &o, &bytes, &align) == AMX_OK, "pack_size");
    void *buf = aligned_alloc(align, (bytes + align - 1) / align * align);
    amx_weights *w = NULL;
    CHECK(amx_pack_weights_into(c->type, c->n, c->k, c->gguf, c->gguf_size, &o, buf, bytes, &w) == AMX_OK &&
              query(w).numa_policy == AMX_NUMA_NONE && query(w).numa_node_count == 0 && !w->place,
          "%s: pack_into placed", what);
    amx_weights *m = NULL;
    CHECK(amx_weights_open_memory(buf, bytes, NULL, &m) == AMX_OK && !m->place &&
              query(m).numa_policy == AMX_NUMA_NONE,
          "%s: open_memory placed", what);
    amx_weights_free(m);
    amx_weights_free(w);
    free(buf);
}

static void run_case(const case_t *c, const char *machine_name) {
    char what[160];
    snprintf(what, sizeof what, "%s %s/%s n=%lld k=%lld", machine_name, amx_type_name(c->type), amx_isa_name(c->isa),
             (long long)c->n, (long long)c->k);
    const int live = regions_live();
    amx_weights *ref = pack(c, AMX_NUMA_NONE, 1);
    if (!ref) return;
    CHECK(!ref->place && query(ref).numa_policy == AMX_NUMA_NONE, "%s: NONE placed", what);
    if (F.count < 2) {
        /* one node: every policy is NONE, exactly as without NUMA */
        for (int p = AMX_NUMA_AUTO; p <= AMX_NUMA_INTERLEAVE; p++) {
            amx_weights *w = pack(c, (amx_numa_policy)p, 1);
            CHECK(w && !w->place && query(w).numa_policy == AMX_NUMA_NONE && query(w).numa_requested == AMX_NUMA_NONE &&
                      query(w).numa_node_count == 0 && query(w).numa_nodes == NULL,
                  "%s: policy %d placed on one node", what, p);
            if (w) check_results(c, w, ref, what);
            amx_weights_free(w);
        }
    } else {
        check_mirror(c, ref, what);
        check_partition(c, ref, what);
        check_interleave_and_auto(c, ref, what);
        check_fallbacks(c, ref, what);
    }
    check_caller_memory(c, what);
    amx_weights_free(ref);
    CHECK(regions_live() == live, "%s: %d mappings left", what, regions_live() - live);
}

/* ---- machines -------------------------------------------------------------- */

typedef struct {
    const char *name;
    int32_t count;
    int32_t node[8], cpus[8];
} fake_machine;

static const fake_machine k_machines[] = {
    {"2 nodes (1+3 CPUs)", 2, {0, 1}, {1, 3}}, /* first: the pool starts here */
    {"1 node", 1, {0}, {2}},
    {"4 nodes (2+1+4+1 CPUs, numbered 0,2,5,7)", 4, {0, 2, 5, 7}, {2, 1, 4, 1}},
};

static void check_options(void) {
    uint8_t gguf[18 * 16] = {0};
    amx_weights *w = NULL;
    amx_pack_opts o = {.size = sizeof o, .numa = (amx_numa_policy)5};
    CHECK(amx_pack_weights(AMX_TYPE_Q4_0, 16, 32, gguf, sizeof gguf, &o, &w) == AMX_ERR_INVALID_ARG && !w,
          "numa = 5 accepted");
    o.numa = (amx_numa_policy)-1;
    CHECK(amx_pack_weights(AMX_TYPE_Q4_0, 16, 32, gguf, sizeof gguf, &o, &w) == AMX_ERR_INVALID_ARG && !w,
          "numa = -1 accepted");
    /* a caller of 0.2 passes 16 bytes: AUTO */
    o = (amx_pack_opts){.size = 16, .numa = (amx_numa_policy)77};
    CHECK(amx_pack_weights(AMX_TYPE_Q4_0, 16, 32, gguf, sizeof gguf, &o, &w) == AMX_OK && w, "16-byte options");
    amx_weights_free(w);
    /* a caller of 0.2 asks for the 0.2 info: the new fields are not written */
    unsigned char raw[sizeof(amx_weights_info)];
    memset(raw, 0x5A, sizeof raw);
    amx_weights_info *small = (amx_weights_info *)raw;
    small->size = (uint32_t)offsetof(amx_weights_info, numa_policy);
    CHECK(amx_pack_weights(AMX_TYPE_Q4_0, 16, 32, gguf, sizeof gguf, NULL, &w) == AMX_OK &&
              amx_weights_query(w, small) == AMX_OK && raw[offsetof(amx_weights_info, numa_policy)] == 0x5A,
          "query of a 0.2 struct wrote past it");
    amx_weights_free(w);
}

int main(int argc, char **argv) {
    const int quick = argc > 1 && !strcmp(argv[1], "--quick");
    check_options();
    for (int32_t t = 0; t < AMXQ_MAX_THREADS; t++) F.pinned[t] = -1;
    amxq_numa_observer = observe;

    static const int64_t shapes[][2] = {{37, 256}, {300, 512}, {16, 256}};
    for (size_t mi = 0; mi < sizeof k_machines / sizeof k_machines[0]; mi++) {
        const fake_machine *fm = &k_machines[mi];
        machine(fm->count, fm->node, fm->cpus, (int64_t)1 << 40);
        tl_node = fm->node[0];
        atomic_store(&g_seen, 0);
        atomic_store(&g_wrong_replica, 0);
        atomic_store(&g_wrong_node, 0);
        atomic_store(&g_worker_parts, 0);
        int cases = 0;
        for (int ti = 0; ti < N_TYPES; ti++) {
            const amx_type t = amx_type_at(ti);
            for (amx_isa isa = AMX_ISA_SCALAR; isa <= AMX_ISA_AMX; isa++) {
                if (!amx_cpu_supports(isa, NULL) || !amxq_find_variant(t, isa)) continue;
                for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                    if (quick && si > 0) continue;
                    case_t c = {t, isa, shapes[si][0], shapes[si][1] / amx_type_block_size(t) * amx_type_block_size(t),
                                NULL, 0};
                    if (c.k == 0) c.k = amx_type_block_size(t);
                    c.gguf_size = gguf_bytes(t, c.n, c.k);
                    c.gguf = malloc(c.gguf_size);
                    gen_weights(t, c.n, c.k, c.gguf, GEN_NORMAL);
                    run_case(&c, fm->name);
                    free(c.gguf);
                    cases++;
                }
            }
        }
        printf("%s: %d cases, %d shares observed, %d of them parts on pool workers\n", fm->name, cases,
               atomic_load(&g_seen), atomic_load(&g_worker_parts));
        CHECK(fm->count < 2 || atomic_load(&g_seen) > 0, "%s: no share of a placed handle observed", fm->name);
        CHECK(fm->count < 2 || atomic_load(&g_worker_parts) > 0, "%s: no pool worker computed a part", fm->name);
        CHECK(atomic_load(&g_wrong_replica) == 0, "%s: %d shares read another node's replica", fm->name,
              atomic_load(&g_wrong_replica));
        CHECK(atomic_load(&g_wrong_node) == 0, "%s: %d partition shares ran off their part's node", fm->name,
              atomic_load(&g_wrong_node));
    }
    /* pool workers were pinned to the node the split expects of them (the
     * pool started under the 2-node machine: pinning happens once) */
    int pinned = 0;
    for (int32_t t = 1; t < AMXQ_MAX_THREADS; t++) {
        if (F.pinned[t] < 0) continue;
        pinned++;
        const int32_t want[] = {0, 1, 1, 1}; /* interleaved CPUs of 1+3: node 0, 1, 1, 1 */
        CHECK(F.pinned[t] == want[t % 4], "pool worker %d pinned to node %d, want %d", t, F.pinned[t], want[t % 4]);
    }
    CHECK(pinned > 0, "no pool worker was pinned");
    amxq_numa_observer = NULL;

    /* the system's own topology: one node here (and then nothing is placed),
     * whatever the policy; on a machine with several, see the numa suite */
    amxq_numa_ops_set(NULL);
    amxq_numa_nodes nd;
    amxq_numa_ops_get()->nodes(&nd);
    printf("this machine: %d node(s) usable for placement\n", nd.count);
    if (nd.count < 2) {
        uint8_t *gguf = malloc(gguf_bytes(AMX_TYPE_Q4_K, 64, 512));
        gen_weights(AMX_TYPE_Q4_K, 64, 512, gguf, GEN_NORMAL);
        const case_t c = {AMX_TYPE_Q4_K, AMX_ISA_AUTO, 64, 512, gguf, gguf_bytes(AMX_TYPE_Q4_K, 64, 512)};
        amx_weights *ref = pack(&c, AMX_NUMA_NONE, 1);
        for (int p = AMX_NUMA_AUTO; p <= AMX_NUMA_INTERLEAVE; p++) {
            amx_weights *w = pack(&c, (amx_numa_policy)p, 2);
            CHECK(w && !w->place && query(w).numa_policy == AMX_NUMA_NONE, "system, one node: policy %d placed", p);
            if (w) check_results(&c, w, ref, "system topology");
            amx_weights_free(w);
        }
        amx_weights_free(ref);
        free(gguf);
    }
    return test_finish("test_numa");
}
