/*
 * The system beneath NUMA placement (amxq_numa_ops, numa.h): libnuma and the
 * kernel's mbind, move_pages and getcpu. Built without libnuma, or on a
 * kernel without NUMA support (numa_available() < 0), the machine is one
 * node and nothing is ever bound or pinned.
 */
#include "numa.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef AMXQ_HAVE_LIBNUMA
#include <numa.h>
#include <numaif.h>
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define HUGE_PAGE ((size_t)2 << 20)

static amxq_numa_ops g_ops;
static int g_available; /* libnuma usable: numa_available() >= 0, asked once */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void probe(void);
static int available(void) {
    pthread_once(&g_once, probe);
    return g_available;
}

static void sys_nodes(amxq_numa_nodes *out) {
    memset(out, 0, sizeof *out);
#ifdef AMXQ_HAVE_LIBNUMA
    if (!available()) return;
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) return;
    const int max_node = numa_max_node();
    if (max_node < 1) return;
    struct bitmask *mem = numa_get_membind(); /* the caller's memory policy */
    int32_t *cpus = calloc((size_t)max_node + 1, sizeof *cpus);
    if (mem && cpus) {
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (!CPU_ISSET(cpu, &mask)) continue;
            const int node = numa_node_of_cpu(cpu);
            if (node >= 0 && node <= max_node && numa_bitmask_isbitset(mem, (unsigned)node)) cpus[node]++;
        }
        for (int node = 0; node <= max_node && out->count < AMXQ_NUMA_MAX_NODES; node++) {
            if (!cpus[node]) continue;
            long long free_bytes = 0;
            if (numa_node_size64(node, &free_bytes) < 0) free_bytes = 0;
            out->node[out->count] = node;
            out->cpus[out->count] = cpus[node];
            out->free_bytes[out->count] = free_bytes > 0 ? (uint64_t)free_bytes : 0;
            out->count++;
        }
    }
    free(cpus);
    if (mem) numa_bitmask_free(mem);
#endif
}

static void *sys_map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_PAGE) madvise(p, bytes, MADV_HUGEPAGE); /* a hint, as for unplaced handles */
#endif
    return p;
}

static void sys_unmap(void *p, size_t bytes) { munmap(p, bytes); }

static int sys_bind(void *p, size_t bytes, const int32_t *node, int32_t count) {
#ifdef AMXQ_HAVE_LIBNUMA
    /* node numbers are below 1024 on any machine libnuma supports by default */
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    const unsigned bits = 8 * sizeof(unsigned long);
    for (int32_t i = 0; i < count; i++) {
        if (node[i] < 0 || node[i] >= 1024) return -1;
        mask[node[i] / bits] |= 1ul << (node[i] % bits);
    }
    /* MPOL_BIND: a node that runs out does not silently spill elsewhere, so
     * populate reports it and the placement falls back */
    return mbind(p, bytes, count == 1 ? MPOL_BIND : MPOL_INTERLEAVE, mask, 1024 + 1, 0) == 0 ? 0 : -1;
#else
    (void)p, (void)bytes, (void)node, (void)count;
    return -1;
#endif
}

static int sys_populate(void *p, size_t bytes) {
    if (madvise(p, bytes, MADV_POPULATE_WRITE) == 0) return 0;
    /* ENOMEM, EFAULT: no room on a bound node (the free-memory check made
     * before binding is the main guard: a kernel may run its OOM killer on
     * a bound node that runs dry before it returns this) */
    if (errno != EINVAL) return -1;
    /* kernels before 5.14: touch every page (the free-memory check made
     * before binding is then the only guard) */
    const long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < bytes; off += (size_t)page) ((volatile char *)p)[off] = 0;
    return 0;
}

static int32_t sys_current_node(void) {
    unsigned cpu = 0, node = 0;
    if (!available() || getcpu(&cpu, &node) != 0) return -1;
    return (int32_t)node;
}

static int sys_pin(int32_t node) {
#ifdef AMXQ_HAVE_LIBNUMA
    if (!available()) return -1;
    cpu_set_t mask, pin;
    if (pthread_getaffinity_np(pthread_self(), sizeof mask, &mask) != 0) return -1;
    CPU_ZERO(&pin);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &mask) && numa_node_of_cpu(cpu) == node) CPU_SET(cpu, &pin);
    if (CPU_COUNT(&pin) == 0) return -1;
    return pthread_setaffinity_np(pthread_self(), sizeof pin, &pin) == 0 ? 0 : -1;
#else
    (void)node;
    return -1;
#endif
}

static void sys_where(void *const *pages, int32_t count, int32_t *where) {
    for (int32_t i = 0; i < count; i++) where[i] = -1;
#ifndef AMXQ_HAVE_LIBNUMA
    (void)pages;
#else
    if (!available() || count <= 0) return;
    int *status = malloc(sizeof *status * (size_t)count);
    if (!status) return;
    if (move_pages(0, (unsigned long)count, (void **)pages, NULL, status, 0) == 0)
        for (int32_t i = 0; i < count; i++) where[i] = status[i] >= 0 ? status[i] : -1;
    free(status);
#endif
}

static void probe(void) {
#ifdef AMXQ_HAVE_LIBNUMA
    g_available = numa_available() >= 0;
#endif
    g_ops = (amxq_numa_ops){
        .nodes = sys_nodes,
        .map = sys_map,
        .unmap = sys_unmap,
        .bind = sys_bind,
        .populate = sys_populate,
        .current_node = sys_current_node,
        .pin = sys_pin,
        .where = sys_where,
        .page_bytes = (size_t)sysconf(_SC_PAGESIZE),
    };
}

const amxq_numa_ops *amxq_numa_sys_ops(void) {
    pthread_once(&g_once, probe);
    return &g_ops;
}
