/*
 * NUMA placement on a real multi-node kernel: run by test/numa_vm.py inside a
 * two-node virtual machine (statically linked, so the guest needs no shared
 * libraries). For every type, with the best kernel family the guest runs:
 *   - MIRROR, PARTITION, INTERLEAVE and AUTO are placed as asked (no
 *     fallback: the nodes have room), and the kernel says so: move_pages
 *     finds every page of each replica on its node, every page of each part
 *     on its part's node, interleaved pages on both nodes;
 *   - the library pool's workers read their own node's replica or part
 *     (getcpu), and so do caller threads pinned where amx_gemm_share_node
 *     says (PARTITION) or to each node in turn (MIRROR);
 *   - every result is bitwise the unplaced handle's, for pools of 2, 3 and 4
 *     threads and 2, 3 and 4 caller shares.
 * It also prints a hash of scalar-family results ("hash TYPE VALUE"), which
 * the runner compares with the same program's one-node run on the host:
 * `numa_guest hash` prints only those lines.
 */
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "../src/image.h"
#include "../src/numa.h"

#define N 200
#define K 512
#define M 5

static atomic_int g_wrong_replica, g_wrong_part, g_seen_workers;

static void observe(const amx_weights *w, int32_t node, const amxq_numa_share *s) {
    const amxq_place *pl = w->place;
    if (pl->policy == AMX_NUMA_MIRROR && pl->node[s->replica] != node) atomic_fetch_add(&g_wrong_replica, 1);
    if (s->part >= 0 && pl->node[s->part] != node) atomic_fetch_add(&g_wrong_part, 1);
    if (amxq_numa_thread_worker() > 0) atomic_fetch_add(&g_seen_workers, 1);
}

static uint64_t fnv(const void *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
    return h;
}

static int pin_to_node(int node) {
    struct bitmask *cpus = numa_allocate_cpumask();
    if (numa_node_to_cpus(node, cpus) != 0) return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned c = 0; c < cpus->size && c < CPU_SETSIZE; c++)
        if (numa_bitmask_isbitset(cpus, c)) CPU_SET(c, &set);
    numa_free_cpumask(cpus);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

typedef struct {
    const amx_weights *w;
    const void *ws;
    size_t ws_bytes;
    float *y;
    int32_t ith, nth, node;
    amx_status st;
} share_arg;

static void *share_main(void *p) {
    share_arg *a = p;
    if (a->node >= 0) CHECK(pin_to_node(a->node), "pin a caller thread to node %d", a->node);
    a->st = amx_gemm_compute(a->w, M, a->ws, a->ws_bytes, a->y, a->w->n, a->ith, a->nth, NULL);
    return NULL;
}

/* The compute step on nth caller threads, share i pinned to node_of(i). */
static void split_gemm(const amx_weights *w, const float *x, float *y, int32_t nth, const int32_t *nodes) {
    size_t bytes;
    amx_gemm_workspace_size(w, M, &bytes);
    void *ws = aligned_alloc(64, (bytes / 64 + 1) * 64);
    CHECK(amx_gemm_quantize(w, M, x, K, ws, bytes, 0, 1) == AMX_OK, "quantize");
    pthread_t t[8];
    share_arg a[8];
    for (int32_t i = 0; i < nth; i++) {
        const int32_t want = amx_gemm_share_node(w, i, nth);
        a[i] = (share_arg){w, ws, bytes, y, i, nth, want >= 0 ? want : nodes[i % 2], AMX_OK};
        pthread_create(&t[i], NULL, share_main, &a[i]);
    }
    for (int32_t i = 0; i < nth; i++) {
        pthread_join(t[i], NULL);
        CHECK(a[i].st == AMX_OK, "compute share %d: %s", i, amx_status_str(a[i].st));
    }
    free(ws);
}

/* Every page of [p, p + bytes) on `node` (-1: on any of the nodes, and each
 * node holding some). */
static int pages_on(const uint8_t *p, size_t bytes, int32_t node, const amxq_numa_nodes *nd) {
    const size_t page = amxq_numa_ops_get()->page_bytes, count = bytes / page;
    void **pages = malloc(sizeof *pages * count);
    int32_t *where = malloc(sizeof *where * count);
    for (size_t i = 0; i < count; i++) pages[i] = (void *)(p + i * page);
    amxq_numa_ops_get()->where(pages, (int32_t)count, where);
    int ok = 1, seen[2] = {0, 0};
    for (size_t i = 0; i < count; i++) {
        if (node >= 0) ok &= where[i] == node;
        for (int j = 0; j < 2; j++) seen[j] += where[i] == nd->node[j];
    }
    if (node < 0) ok &= seen[0] > 0 && seen[1] > 0 && (size_t)(seen[0] + seen[1]) == count;
    free(pages);
    free(where);
    return ok;
}

static void check_pages(const amx_weights *w, const amxq_numa_nodes *nd, const char *what) {
    const amxq_place *pl = w->place;
    if (pl->policy == AMX_NUMA_MIRROR)
        for (int32_t i = 0; i < pl->count; i++)
            CHECK(pages_on(pl->image[i], pl->map_bytes, pl->node[i], nd), "%s: replica %d not all on node %d", what,
                  i, pl->node[i]);
    if (pl->policy == AMX_NUMA_PARTITION) {
        const size_t page = amxq_numa_ops_get()->page_bytes, hdr = sizeof(amxq_image_header);
        for (int32_t p = 0; p < pl->count; p++) {
            const size_t s0 = p ? (hdr + pl->off[p]) / page * page : 0;
            const size_t s1 = p + 1 < pl->count ? (hdr + pl->off[p + 1]) / page * page : pl->map_bytes;
            CHECK(pages_on(pl->image[0] + s0, s1 - s0, pl->node[p], nd), "%s: part %d not all on node %d", what, p,
                  pl->node[p]);
        }
    }
    if (pl->policy == AMX_NUMA_INTERLEAVE)
        CHECK(pages_on(pl->image[0], pl->map_bytes, -1, nd), "%s: pages not spread over both nodes", what);
}

static void hashes(void) {
    for (int ti = 0; ti < N_TYPES; ti++) {
        const amx_type t = amx_type_at(ti);
        rng_seed(1000 + (uint64_t)t);
        const size_t gb = gguf_bytes(t, N, K);
        uint8_t *g = malloc(gb);
        float *x = malloc(sizeof(float) * M * K), *y = malloc(sizeof(float) * M * N);
        gen_weights(t, N, K, g, GEN_NORMAL);
        gen_acts(M, K, K, x);
        const amx_pack_opts o = {.size = sizeof o, .isa = AMX_ISA_SCALAR, .numa = AMX_NUMA_NONE};
        amx_weights *w = NULL;
        CHECK(amx_pack_weights(t, N, K, g, gb, &o, &w) == AMX_OK, "pack");
        CHECK(amx_gemm_q(w, M, x, K, y, N, NULL) == AMX_OK, "gemm");
        printf("hash %s %016llx\n", amx_type_name(t), (unsigned long long)fnv(y, sizeof(float) * M * N));
        amx_weights_free(w);
        free(g);
        free(x);
        free(y);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "hash")) {
        hashes();
        return test_finish("numa_guest hash");
    }
    amxq_numa_nodes nd;
    amxq_numa_ops_get()->nodes(&nd);
    printf("nodes:");
    for (int32_t i = 0; i < nd.count; i++)
        printf(" %d (%d CPUs, %llu MiB free)", nd.node[i], nd.cpus[i], (unsigned long long)(nd.free_bytes[i] >> 20));
    printf("\nfamily: %s\n", amx_isa_name(amx_cpu_best_isa()));
    CHECK(nd.count == 2, "want 2 nodes, see %d", nd.count);
    if (nd.count != 2) return test_finish("numa_guest");
    /* the pool starts here, from this thread's (whole) CPU mask: its workers
     * are pinned one node after the other */
    hashes();
    const amx_gemm_opts warm = {.size = sizeof warm, .n_threads = 4};
    static float xw[32], yw[256];
    static uint8_t gw[18 * 256];
    amx_weights *ww = NULL;
    CHECK(amx_pack_weights(AMX_TYPE_Q4_0, 256, 32, gw, sizeof gw, NULL, &ww) == AMX_OK &&
              amx_gemm_q(ww, 1, xw, 32, yw, 256, &warm) == AMX_OK,
          "start the pool");
    amx_weights_free(ww);
    cpu_set_t all;
    CHECK(pthread_getaffinity_np(pthread_self(), sizeof all, &all) == 0, "affinity");
    amxq_numa_observer = observe;

    static const amx_numa_policy policies[] = {AMX_NUMA_MIRROR, AMX_NUMA_PARTITION, AMX_NUMA_INTERLEAVE, AMX_NUMA_AUTO};
    static const char *const names[] = {"mirror", "partition", "interleave", "auto"};
    for (int ti = 0; ti < N_TYPES; ti++) {
        const amx_type t = amx_type_at(ti);
        rng_seed(2000 + (uint64_t)t);
        const size_t gb = gguf_bytes(t, N, K);
        uint8_t *g = malloc(gb);
        float *x = malloc(sizeof(float) * M * K), *y0 = malloc(sizeof(float) * M * N), *y = malloc(sizeof(float) * M * N);
        gen_weights(t, N, K, g, GEN_NORMAL);
        gen_acts(M, K, K, x);
        const amx_pack_opts none = {.size = sizeof none, .numa = AMX_NUMA_NONE};
        amx_weights *ref = NULL;
        CHECK(amx_pack_weights(t, N, K, g, gb, &none, &ref) == AMX_OK, "pack");
        CHECK(amx_gemm_q(ref, M, x, K, y0, N, NULL) == AMX_OK, "gemm");
        for (int pi = 0; pi < 4; pi++) {
            char what[64];
            snprintf(what, sizeof what, "%s %s", amx_type_name(t), names[pi]);
            const amx_pack_opts o = {.size = sizeof o, .n_threads = 2, .numa = policies[pi]};
            amx_weights *w = NULL;
            CHECK(amx_pack_weights(t, N, K, g, gb, &o, &w) == AMX_OK, "%s: pack", what);
            amx_weights_info info = {.size = sizeof info};
            amx_weights_query(w, &info);
            const amx_numa_policy want = policies[pi] == AMX_NUMA_AUTO ? AMX_NUMA_MIRROR : policies[pi];
            CHECK(info.numa_policy == want && info.numa_flags == 0 && info.numa_node_count == 2,
                  "%s: placed as %d (flags %u) on %d nodes", what, info.numa_policy, info.numa_flags,
                  info.numa_node_count);
            printf("%-18s policy %d:", what, info.numa_policy);
            for (int32_t i = 0; i < info.numa_node_count; i++)
                printf(" node %d %llu bytes", info.numa_nodes[i], (unsigned long long)info.numa_node_bytes[i]);
            printf("\n");
            if (w->place) check_pages(w, &nd, what);
            for (int32_t nth = 2; nth <= 4; nth++) {
                memset(y, 0xCD, sizeof(float) * M * N);
                /* this thread is the pool's thread 0: on the first node while
                 * it multiplies (packing used its whole mask) */
                const amx_gemm_opts go = {.size = sizeof go, .n_threads = nth};
                CHECK(pin_to_node(nd.node[0]), "pin the main thread");
                CHECK(amx_gemm_q(w, M, x, K, y, N, &go) == AMX_OK && !memcmp(y, y0, sizeof(float) * M * N),
                      "%s: pool of %d not bitwise equal", what, nth);
                pthread_setaffinity_np(pthread_self(), sizeof all, &all);
                memset(y, 0xCD, sizeof(float) * M * N);
                split_gemm(w, x, y, nth, nd.node);
                CHECK(!memcmp(y, y0, sizeof(float) * M * N), "%s: %d caller shares not bitwise equal", what, nth);
            }
            amx_weights_free(w);
        }
        amx_weights_free(ref);
        free(g);
        free(x);
        free(y0);
        free(y);
    }
    CHECK(atomic_load(&g_wrong_replica) == 0, "%d shares read another node's replica", atomic_load(&g_wrong_replica));
    CHECK(atomic_load(&g_wrong_part) == 0, "%d shares read a part of another node", atomic_load(&g_wrong_part));
    CHECK(atomic_load(&g_seen_workers) > 0, "no pool worker computed a share");
    printf("pool worker shares observed: %d\n", atomic_load(&g_seen_workers));
    return test_finish("numa_guest");
}
