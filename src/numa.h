/*
 * NUMA placement of packed weights, and which memory each share of a
 * multiply reads. Part of the core (beside api.c and pool.c).
 *
 * A placed handle keeps one image the kernels can read as a whole (the
 * primary: saving, unpacking and plain splits use it) and, by policy:
 *   MIRROR      a full copy of the image on each node; a share reads the copy
 *               of the node it runs on (getcpu), else the first copy;
 *   PARTITION   one image whose pages are bound, range by range, to the node
 *               of the part they hold: part p is output columns
 *               [col[p], col[p + 1]) (whole pack units), and a share of part p
 *               runs the kernels on a view of the handle restricted to those
 *               columns (packed layouts are panel-major, so the view is a
 *               valid handle of fewer columns);
 *   INTERLEAVE  one image, pages interleaved across the nodes.
 * Views never change a result: every output element is computed by the same
 * instructions whatever the split (kernel.h).
 *
 * Everything below the policy goes through amxq_numa_ops: libnuma and the
 * kernel's NUMA syscalls, or a topology a test injects.
 */
#ifndef AMXQ_NUMA_H
#define AMXQ_NUMA_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"
#include "pool.h"

#define AMXQ_NUMA_MAX_NODES 64

/* The nodes a packing (or pinning) thread may use, now. */
typedef struct {
    int32_t count;
    int32_t node[AMXQ_NUMA_MAX_NODES];      /* node numbers, ascending */
    int32_t cpus[AMXQ_NUMA_MAX_NODES];      /* CPUs of the caller's mask on that node */
    uint64_t free_bytes[AMXQ_NUMA_MAX_NODES];
} amxq_numa_nodes;

typedef struct amxq_numa_ops {
    /* The caller's nodes: those of its CPU affinity mask that its memory
     * policy allows. 0 entries or 1: no placement. */
    void (*nodes)(amxq_numa_nodes *out);
    /* Page-aligned memory, not yet touched; NULL on failure. */
    void *(*map)(size_t bytes);
    void (*unmap)(void *p, size_t bytes);
    /* Binds [p, p + bytes) (page-aligned start) to one node, or interleaves
     * it across `count` nodes; 0 on success. */
    int (*bind)(void *p, size_t bytes, const int32_t *node, int32_t count);
    /* Allocates the pages of [p, p + bytes) where they are bound; 0 on
     * success, -1 when a node has no room (the placement falls back). */
    int (*populate)(void *p, size_t bytes);
    /* The node the calling thread runs on, -1 if unknown. */
    int32_t (*current_node)(void);
    /* Restricts the calling thread (a library pool worker) to `node`'s CPUs
     * within its current mask; 0 on success, -1 when none of them is in it. */
    int (*pin)(int32_t node);
    /* Fills where[i] with the node of the page at pages[i] (-1 unknown); for
     * tests and the benchmark. */
    void (*where)(void *const *pages, int32_t count, int32_t *where);
    size_t page_bytes;
} amxq_numa_ops;

/* The ops in use: libnuma's (or one node, when the kernel or the build has no
 * NUMA), unless a test injected its own. NULL restores the system's. Tests
 * only; not thread-safe against running multiplies. */
const amxq_numa_ops *amxq_numa_ops_get(void);
void amxq_numa_ops_set(const amxq_numa_ops *ops);

/* A handle's placement (amx_weights.place). */
typedef struct amxq_place {
    amx_numa_policy requested, policy;
    uint32_t flags;                         /* AMX_NUMA_FELL_BACK */
    int32_t count;                          /* replicas, parts or interleave nodes */
    int32_t node[AMXQ_NUMA_MAX_NODES];
    uint64_t bytes[AMXQ_NUMA_MAX_NODES];    /* this handle's bytes on node[i] */
    uint8_t *image[AMXQ_NUMA_MAX_NODES];    /* MIRROR: replica i; else image[0] only */
    int64_t col[AMXQ_NUMA_MAX_NODES + 1];   /* PARTITION: part i = columns [col[i], col[i+1]) */
    size_t off[AMXQ_NUMA_MAX_NODES + 1];    /* PARTITION: payload offset of column col[i] */
    size_t map_bytes;                       /* bytes of each mapping */
} amxq_place;

/* Places w's image (w->packed_bytes) by `policy` (AUTO resolved here) before
 * it is packed: returns the memory to pack the image into and sets w->place,
 * or returns NULL with w->place NULL when the handle is to be placed as
 * today (NONE, one node, or every fallback failed). Never fails otherwise. */
uint8_t *amxq_numa_place(amx_weights *w, amx_numa_policy policy);
/* After packing into the returned memory: copies the image to the other
 * replicas. */
void amxq_numa_finish(amx_weights *w);
void amxq_numa_free(amxq_place *pl);

/* Share ith of nth of a placed handle's compute step: which view of the
 * handle it runs (the full handle on some replica, or one part), its first
 * output column, and its index among the view's shares. `node` is the node
 * the share runs on (-1: ask getcpu). */
typedef struct {
    amx_weights view;
    int64_t col0;
    int32_t ith, nth;
    int32_t part;       /* PARTITION: the part (-1 for a plain split) */
    int32_t replica;    /* MIRROR: the replica read */
    int32_t node;       /* the node it runs on, when known (MIRROR: always) */
} amxq_numa_share;
void amxq_numa_share_of(const amx_weights *w, int32_t ith, int32_t nth, int32_t node, amxq_numa_share *s);
/* The node share ith of nth should run on (amx_gemm_share_node). */
int32_t amxq_numa_share_node(const amx_weights *w, int32_t ith, int32_t nth);

/* The library pool: worker t (t >= 1) is pinned to amxq_numa_worker_node(t)
 * when the pool starts on several nodes (the nodes of the mask of the thread
 * that started it, which the workers inherit); -1 when not pinned. A worker
 * whose node is not in its inherited mask stays unpinned, and the split
 * counts it as on no node. */
int32_t amxq_numa_worker_node(int32_t t);
void amxq_numa_worker_start(int32_t t);
/* What pool thread t of nth computes: sub-share ith of nth of part `part`,
 * (part -1) share ith of nth as amx_gemm_compute would, or nothing
 * (AMXQ_NUMA_IDLE). The caller's
 * thread is t = 0. */
typedef struct {
    int32_t part, ith, nth;
} amxq_numa_slot;
#define AMXQ_NUMA_IDLE (-2) /* slot.part: nothing to do */
void amxq_numa_pool_slots(const amx_weights *w, int32_t nth, amxq_numa_slot *slot);
#define AMXQ_MAX_POOL_ORDER AMXQ_MAX_THREADS
/* The calling thread's pool index (0: not a pool worker). */
int32_t amxq_numa_thread_worker(void);

/* What share ith of nth of a multiply on a placed handle (or the pool's
 * `slot` when not NULL) runs: the view of the handle in *s (its outputs start
 * at column s->col0), the plan for that view in *vp (plan itself, re-made for
 * a part's view), and the plan's items [*i0, *i1). 0 when it has nothing to
 * do. The caller runs those items as it runs any share (api.c), epilogue
 * included. */
int amxq_numa_resolve(const amx_weights *w, const amxq_plan *plan, const amxq_call_opts *call, int64_t m,
                      int32_t ith, int32_t nth, const amxq_numa_slot *slot, amxq_numa_share *s, amxq_plan *vp,
                      int64_t *i0, int64_t *i1);

/* Optional observer, for tests: called by every share of a placed handle
 * with the node it ran on and what it read. */
extern void (*amxq_numa_observer)(const amx_weights *w, int32_t node, const amxq_numa_share *s);

#endif
