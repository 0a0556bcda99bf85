/*
 * NUMA placement (numa.h): the policy, its fallbacks, the shares of a placed
 * handle, and the pinning of the library's pool workers. The system calls
 * live in numa_sys.c behind amxq_numa_ops, so tests can inject a topology.
 */
#include "numa.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "image.h"

void (*amxq_numa_observer)(const amx_weights *w, int32_t node, const amxq_numa_share *s);

/* ---- ops ------------------------------------------------------------------- */

const amxq_numa_ops *amxq_numa_sys_ops(void); /* numa_sys.c */

static const amxq_numa_ops *g_injected;

const amxq_numa_ops *amxq_numa_ops_get(void) { return g_injected ? g_injected : amxq_numa_sys_ops(); }

/* The pool's view of the nodes: taken once, when the first worker starts (or
 * again when a test injects a topology). */
static amxq_numa_nodes g_pool_nodes;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;
static void pool_nodes_init(void) { amxq_numa_sys_ops()->nodes(&g_pool_nodes); }

static void repin_started_workers(void);

void amxq_numa_ops_set(const amxq_numa_ops *ops) {
    pthread_once(&g_pool_once, pool_nodes_init);
    g_injected = ops;
    amxq_numa_ops_get()->nodes(&g_pool_nodes);
    repin_started_workers();
}

static const amxq_numa_nodes *pool_nodes(void) {
    pthread_once(&g_pool_once, pool_nodes_init);
    return &g_pool_nodes;
}

/* ---- placement ------------------------------------------------------------- */

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* AUTO: a replica per node when it takes at most a quarter of every node's
 * free memory (the rest of the model, the KV cache and the engine need it
 * more than a second copy does); else one part per node. */
static amx_numa_policy auto_policy(const amxq_numa_nodes *nd, size_t bytes) {
    for (int32_t i = 0; i < nd->count; i++)
        if (nd->free_bytes[i] / 4 < bytes) return AMX_NUMA_PARTITION;
    return AMX_NUMA_MIRROR;
}

/* Memory bound to `node` (or interleaved over `count` nodes) with every page
 * allocated, or NULL. */
static uint8_t *map_on(const amxq_numa_ops *ops, size_t bytes, const int32_t *node, int32_t count) {
    uint8_t *p = ops->map(bytes);
    if (!p) return NULL;
    if (ops->bind(p, bytes, node, count) != 0 || ops->populate(p, bytes) != 0) {
        ops->unmap(p, bytes);
        return NULL;
    }
    return p;
}

/* A replica on each node that has room for one; NULL when none has. */
static uint8_t *place_mirror(const amxq_numa_ops *ops, amxq_place *pl, const amxq_numa_nodes *nd) {
    int32_t c = 0;
    for (int32_t i = 0; i < nd->count; i++) {
        uint8_t *p = nd->free_bytes[i] >= pl->map_bytes ? map_on(ops, pl->map_bytes, &nd->node[i], 1) : NULL;
        if (!p) {
            pl->flags |= AMX_NUMA_FELL_BACK;
            continue;
        }
        pl->image[c] = p;
        pl->node[c] = nd->node[i];
        pl->bytes[c] = pl->map_bytes;
        c++;
    }
    pl->count = c;
    return c ? pl->image[0] : NULL;
}

/* Payload bytes before column unit u: packed layouts are panel-major, so the
 * first u units of a matrix are laid out as a matrix of u units alone. */
static size_t unit_offset(const amx_weights *w, int64_t u) {
    const int64_t rows = (int64_t)w->v->pack_rows * u;
    if (rows >= w->n) return w->v->packed_size(w);
    amx_weights part = *w;
    part.n = rows;
    return u ? w->v->packed_size(&part) : 0;
}

/* The columns split over the nodes in proportion to their CPUs, in whole
 * pack units; part i's pages (from the page holding its first byte, the
 * header on part 0's) bound to its node. NULL when a node lacks room. */
static uint8_t *place_partition(const amxq_numa_ops *ops, amxq_place *pl, const amx_weights *w,
                                const amxq_numa_nodes *nd) {
    const int64_t units = (w->n + w->v->pack_rows - 1) / w->v->pack_rows;
    int64_t cpus = 0;
    for (int32_t i = 0; i < nd->count; i++) cpus += nd->cpus[i];
    const size_t page = ops->page_bytes, hdr = sizeof(amxq_image_header);
    size_t start[AMXQ_NUMA_MAX_NODES + 1];
    int32_t c = 0;
    int64_t before = 0;
    for (int32_t i = 0; i < nd->count; i++) {
        const int64_t u0 = units * before / cpus, u1 = units * (before + nd->cpus[i]) / cpus;
        before += nd->cpus[i];
        if (u1 == u0) continue; /* fewer units than nodes: this node gets none */
        pl->node[c] = nd->node[i];
        pl->col[c] = u0 * w->v->pack_rows;
        pl->off[c] = unit_offset(w, u0);
        start[c] = c ? (hdr + pl->off[c]) / page * page : 0;
        c++;
    }
    pl->col[c] = w->n;
    pl->off[c] = w->v->packed_size(w);
    start[c] = pl->map_bytes;
    pl->count = c;
    for (int32_t p = 0; p < c; p++) {
        pl->bytes[p] = start[p + 1] - start[p];
        int32_t i = 0;
        while (nd->node[i] != pl->node[p]) i++;
        if (pl->bytes[p] > nd->free_bytes[i]) return NULL;
    }
    uint8_t *mem = ops->map(pl->map_bytes);
    if (!mem) return NULL;
    int ok = 1;
    for (int32_t p = 0; p < c && ok; p++)
        if (pl->bytes[p]) ok = ops->bind(mem + start[p], pl->bytes[p], &pl->node[p], 1) == 0;
    if (!ok || ops->populate(mem, pl->map_bytes) != 0) {
        ops->unmap(mem, pl->map_bytes);
        return NULL;
    }
    pl->image[0] = mem;
    return mem;
}

/* One copy, its pages spread round-robin over the nodes. */
static uint8_t *place_interleave(const amxq_numa_ops *ops, amxq_place *pl, const amxq_numa_nodes *nd) {
    const size_t pages = pl->map_bytes / ops->page_bytes;
    for (int32_t i = 0; i < nd->count; i++) {
        pl->node[i] = nd->node[i];
        pl->bytes[i] = (pages / (size_t)nd->count + ((size_t)i < pages % (size_t)nd->count)) * ops->page_bytes;
        if (pl->bytes[i] > nd->free_bytes[i]) return NULL;
    }
    pl->count = nd->count;
    pl->image[0] = map_on(ops, pl->map_bytes, nd->node, nd->count);
    return pl->image[0];
}

uint8_t *amxq_numa_place(amx_weights *w, amx_numa_policy policy) {
    w->place = NULL;
    if (policy == AMX_NUMA_NONE) return NULL;
    const amxq_numa_ops *ops = amxq_numa_ops_get();
    amxq_numa_nodes nd;
    ops->nodes(&nd);
    if (nd.count < 2) return NULL; /* one node: exactly as without NUMA */
    amxq_place *pl = calloc(1, sizeof *pl);
    if (!pl) return NULL;
    pl->map_bytes = round_up(w->packed_bytes, ops->page_bytes);
    if (policy == AMX_NUMA_AUTO) policy = auto_policy(&nd, pl->map_bytes);
    pl->requested = policy;
    uint8_t *mem = NULL;
    /* each policy falls back to the next when a node lacks the memory */
    if (policy == AMX_NUMA_MIRROR) {
        mem = place_mirror(ops, pl, &nd);
        if (!mem) policy = AMX_NUMA_PARTITION;
    }
    if (policy == AMX_NUMA_PARTITION && !mem) {
        mem = place_partition(ops, pl, w, &nd);
        if (!mem) policy = AMX_NUMA_INTERLEAVE;
    }
    if (policy == AMX_NUMA_INTERLEAVE && !mem) {
        mem = place_interleave(ops, pl, &nd);
        if (!mem) policy = AMX_NUMA_NONE;
    }
    if (policy != pl->requested) pl->flags |= AMX_NUMA_FELL_BACK;
    pl->policy = policy;
    if (!mem) {
        /* NONE after all: the caller allocates as usual; the handle keeps
         * the record of what was asked, for the query */
        memset(pl->node, 0, sizeof pl->node);
        memset(pl->bytes, 0, sizeof pl->bytes);
        pl->count = 0;
    }
    w->place = pl;
    return mem;
}

void amxq_numa_finish(amx_weights *w) {
    const amxq_place *pl = w->place;
    if (!pl || pl->policy != AMX_NUMA_MIRROR) return;
    for (int32_t i = 1; i < pl->count; i++) memcpy(pl->image[i], pl->image[0], w->packed_bytes);
}

void amxq_numa_free(amxq_place *pl) {
    if (!pl) return;
    const amxq_numa_ops *ops = amxq_numa_ops_get();
    const int32_t maps = pl->policy == AMX_NUMA_MIRROR ? pl->count : pl->policy == AMX_NUMA_NONE ? 0 : 1;
    for (int32_t i = 0; i < maps; i++) ops->unmap(pl->image[i], pl->map_bytes);
    free(pl);
}

/* ---- shares ---------------------------------------------------------------- */

/* PARTITION with nth >= parts: part p owns shares [first(p), first(p + 1)),
 * at least one each and the rest in proportion to its columns. */
static int64_t part_first_share(const amxq_place *pl, int32_t p, int32_t nth) {
    return p + (int64_t)(nth - pl->count) * pl->col[p] / pl->col[pl->count];
}

static int32_t part_of_share(const amxq_place *pl, int32_t ith, int32_t nth) {
    int32_t p = 0;
    while (p + 1 < pl->count && part_first_share(pl, p + 1, nth) <= ith) p++;
    return p;
}

static int partitioned(const amxq_place *pl, int32_t nth) {
    return pl && pl->policy == AMX_NUMA_PARTITION && nth >= pl->count;
}

/* Sub-share ith of nth of part p. */
static void part_share(const amx_weights *w, int32_t p, int32_t ith, int32_t nth, amxq_numa_share *s) {
    const amxq_place *pl = w->place;
    s->part = p;
    s->ith = ith;
    s->nth = nth;
    s->col0 = pl->col[p];
    s->view.n = pl->col[p + 1] - pl->col[p];
    s->view.data = w->data + pl->off[p];
}

void amxq_numa_share_of(const amx_weights *w, int32_t ith, int32_t nth, int32_t node, amxq_numa_share *s) {
    const amxq_place *pl = w->place;
    *s = (amxq_numa_share){.view = *w, .ith = ith, .nth = nth, .part = -1, .replica = -1, .node = node};
    if (!pl) return;
    if (pl->policy == AMX_NUMA_MIRROR) {
        if (node < 0) s->node = node = amxq_numa_ops_get()->current_node();
        s->replica = 0; /* a node without a replica reads the first */
        for (int32_t i = 0; i < pl->count; i++)
            if (pl->node[i] == node) s->replica = i;
        s->view.image = pl->image[s->replica];
        s->view.data = pl->image[s->replica] + sizeof(amxq_image_header);
    } else if (partitioned(pl, nth)) {
        const int32_t p = part_of_share(pl, ith, nth);
        const int64_t first = part_first_share(pl, p, nth), last = part_first_share(pl, p + 1, nth);
        part_share(w, p, (int32_t)(ith - first), (int32_t)(last - first), s);
    }
}

int32_t amxq_numa_share_node(const amx_weights *w, int32_t ith, int32_t nth) {
    if (!partitioned(w->place, nth)) return -1;
    return w->place->node[part_of_share(w->place, ith, nth)];
}

/* ---- the library's pool ---------------------------------------------------- */

/* Worker t's node: the pool's CPUs taken one per node in turn (node 0's
 * first CPU, node 1's first, ..., node 0's second, ...), the caller's
 * thread standing for the first; so nth threads spread over the nodes in
 * proportion to their CPUs. */
int32_t amxq_numa_worker_node(int32_t t) {
    const amxq_numa_nodes *nd = pool_nodes();
    if (nd->count < 2) return -1;
    int64_t total = 0;
    for (int32_t i = 0; i < nd->count; i++) total += nd->cpus[i];
    int64_t at = t % total;
    for (int32_t round = 0;; round++)
        for (int32_t i = 0; i < nd->count; i++)
            if (nd->cpus[i] > round && at-- == 0) return nd->node[i];
}

static _Thread_local int32_t tl_worker; /* this thread's pool index; 0 elsewhere */

/* Where each started worker is: node + 1 when pinned, -1 when started
 * unpinned, 0 before it starts. */
static atomic_int g_worker_at[AMXQ_MAX_THREADS];

int32_t amxq_numa_thread_worker(void) { return tl_worker; }

void amxq_numa_worker_start(int32_t t) {
    tl_worker = t;
    const int32_t node = amxq_numa_worker_node(t);
    const int pinned = node >= 0 && amxq_numa_ops_get()->pin(node) == 0;
    atomic_store(&g_worker_at[t], pinned ? node + 1 : -1);
}

/* A test's new topology: the workers already started count as pinned where
 * it would have pinned them (the injected ops decide where they run). */
static void repin_started_workers(void) {
    for (int32_t t = 1; t < AMXQ_MAX_THREADS; t++) {
        if (atomic_load(&g_worker_at[t]) == 0) continue;
        const int32_t node = amxq_numa_worker_node(t);
        atomic_store(&g_worker_at[t], node >= 0 ? node + 1 : -1);
    }
}

/* The node pool thread t runs on, as far as the split can count on it. */
static int32_t pool_thread_node(int32_t t, int32_t here) {
    if (t == 0) return here;
    const int at = atomic_load(&g_worker_at[t]);
    return at > 0 ? at - 1 : -1;
}

/* The pool's threads and their nodes are known before a multiply starts:
 * when every part has threads on its node and every thread is on a part's
 * node, each part is split among its own node's threads (all reads local);
 * else the documented split of amx_gemm_share_node, each share given to a
 * free thread of its part's node where there is one. */
void amxq_numa_pool_slots(const amx_weights *w, int32_t nth, amxq_numa_slot *slot) {
    const amxq_place *pl = w->place;
    for (int32_t t = 0; t < nth; t++) slot[t] = (amxq_numa_slot){-1, t, nth};
    if (!partitioned(pl, nth) || nth > AMXQ_MAX_POOL_ORDER) return;
    int32_t thread_part[AMXQ_MAX_POOL_ORDER], count[AMXQ_NUMA_MAX_NODES] = {0};
    const int32_t here = amxq_numa_ops_get()->current_node();
    int local = 1;
    for (int32_t t = 0; t < nth; t++) {
        const int32_t node = pool_thread_node(t, here);
        thread_part[t] = -1;
        for (int32_t p = 0; p < pl->count; p++)
            if (pl->node[p] == node) thread_part[t] = p;
        if (thread_part[t] >= 0) slot[t] = (amxq_numa_slot){thread_part[t], count[thread_part[t]]++, 0};
    }
    for (int32_t p = 0; p < pl->count; p++) local &= count[p] > 0;
    if (local) { /* threads of nodes without a part (a small matrix) rest */
        for (int32_t t = 0; t < nth; t++)
            if (thread_part[t] >= 0)
                slot[t].nth = count[slot[t].part];
            else
                slot[t] = (amxq_numa_slot){AMXQ_NUMA_IDLE, 0, 0};
        return;
    }
    int32_t order[AMXQ_MAX_POOL_ORDER], spill[AMXQ_MAX_POOL_ORDER], n_spill = 0;
    int32_t cursor[AMXQ_NUMA_MAX_NODES] = {0};
    for (int32_t t = 0; t < nth; t++) order[t] = -1;
    for (int32_t s = 0; s < nth; s++) {
        const int32_t p = part_of_share(pl, s, nth);
        while (cursor[p] < nth && (thread_part[cursor[p]] != p || order[cursor[p]] >= 0)) cursor[p]++;
        if (cursor[p] < nth)
            order[cursor[p]] = s;
        else
            spill[n_spill++] = s;
    }
    for (int32_t t = 0, k = 0; t < nth; t++) slot[t] = (amxq_numa_slot){-1, order[t] >= 0 ? order[t] : spill[k++], nth};
}

/* ---- compute --------------------------------------------------------------- */

int amxq_numa_resolve(const amx_weights *w, const amxq_plan *plan, const amxq_call_opts *call, int64_t m,
                      int32_t ith, int32_t nth, const amxq_numa_slot *slot, amxq_numa_share *s, amxq_plan *vp,
                      int64_t *i0, int64_t *i1) {
    if (slot && slot->part == AMXQ_NUMA_IDLE) return 0;
    if (slot && slot->part >= 0) {
        amxq_numa_share_of(w, 0, 1, -1, s); /* the plain view, then the part */
        part_share(w, slot->part, slot->ith, slot->nth, s);
    } else {
        amxq_numa_share_of(w, slot ? slot->ith : ith, slot ? slot->nth : nth, -1, s);
    }
    if (amxq_numa_observer) amxq_numa_observer(w, s->node >= 0 ? s->node : amxq_numa_ops_get()->current_node(), s);
    *vp = *plan;
    if (s->part >= 0) {
        if (s->view.n <= 0) return 0;
        s->view.v->select(&s->view, m, call, vp);
    }
    const int64_t n = vp->n_items;
    *i0 = (int64_t)((__int128)n * s->ith / s->nth);
    *i1 = (int64_t)((__int128)n * (s->ith + 1) / s->nth);
    return *i1 > *i0;
}
