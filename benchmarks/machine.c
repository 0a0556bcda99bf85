/*
 * The machine's own limits, measured in the same run as the kernels so every
 * ratio compares figures taken side by side on a possibly shared machine:
 *
 *   read bandwidth: AVX-512 loads summed into 8 independent vpaddd
 *     accumulators, 512 bytes per iteration, over a buffer much larger than
 *     the last-level cache. With T threads each reads its own contiguous
 *     1/T of the same buffer (the split a matrix-vector product uses).
 *   the decode rounds' read probe: the same loop, T threads, but each call
 *     reads the next matrix-sized span of a ring larger than the cache, the
 *     threads meeting at a barrier between calls as the library's pool does,
 *     so a kernel call and a probe call differ only in what they compute.
 *   vpdpbusd zmm peak: 16 independent accumulator chains per thread (the
 *     instruction's latency is ~4 cycles at 2 per cycle on current cores, so
 *     8 chains are the minimum; 16 leave margin), GOPS = 2 * 64 MACs per
 *     instruction. The same for vfmadd231ps zmm (2 * 16 flops, the F16
 *     kernels' and the BF16 fallback's limit) and vdpbf16ps zmm (2 * 32
 *     flops, latency ~6: 12 chains needed; the BF16 kernels' limit, only
 *     where the CPU has AVX512-BF16).
 *
 *   TDPBSSD rate (AMX machines only): 4 independent C tiles, each updated by
 *     a 16x16x64 TDPBSSD from 2 A and 2 B tiles loaded once, so only the tile
 *     unit limits (2 * 16384 ops per TDP); and the TILELOADD rate of 1 KiB
 *     tiles from a 4 KiB L1-resident buffer. The AMX cells' %peak is a
 *     fraction of the first.
 *
 * Every probe's thread i runs pinned to share i's CPU (bench_threads.c), the
 * CPU the driver pins the kernels' share i to.
 *
 * Compiled with the AVX-512 flags; the driver calls it only when
 * amx_cpu_supports(AMX_ISA_AVX512_VNNI).
 */
/* (the AMX flags are checked by tile_ops.h, included below) */
#if !defined(__AVX512F__) || !defined(__AVX512VNNI__)
#error "machine.c needs the AVX-512 and AMX flags (amx_args)"
#endif

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "../src/tiles/tile_ops.h"

#define PEAK_CHAINS 16
/* loop iterations per repetition: 2^22 x 16 chains = 2^26 vpdpbusd per
 * thread, ~10 ms at 2 per cycle, long against timer and barrier costs */
#define PEAK_ITERS ((uint64_t)1 << 22)

typedef struct team team;
typedef void (*work_fn)(team *tm, int ith);

/* A barrier that spins, then yields (more threads than CPUs still
 * progress), as the library pool's does: a sleeping barrier's futex wake-ups
 * would cost a short probe call more than they cost the kernels. */
typedef struct {
    int n;
    int count;
    unsigned gen;
} spin_barrier;

static void barrier_wait(spin_barrier *b) {
    const unsigned gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->n) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b->gen, 1, __ATOMIC_RELEASE);
        return;
    }
    for (int spins = 0; __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen; spins++) {
        if (spins < 2000)
            _mm_pause();
        else
            sched_yield();
    }
}

/* T pinned threads that start each repetition together at a barrier; the
 * caller (thread 0) times from the start barrier to the end barrier and says
 * before each start whether there is one more. */
struct team {
    int nth;
    work_fn fn;
    void *ctx;
    int64_t call;   /* the repetition about to run (set by thread 0) */
    int stop;
    spin_barrier start, end;
};

static void *team_worker(void *arg) {
    void **a = arg;
    team *tm = a[0];
    const int ith = (int)(intptr_t)a[1];
    bench_pin_self(ith);
    for (;;) {
        barrier_wait(&tm->start);
        if (tm->stop) break;
        tm->fn(tm, ith);
        barrier_wait(&tm->end);
    }
    return NULL;
}

/* Runs fn on nth threads: p->warmup untimed repetitions, then timed ones
 * until p is met (bench_measure's rule); seconds per timed repetition into
 * secs (room for p->max_reps). Returns how many were timed. */
static int team_run(int nth, work_fn fn, void *ctx, const rep_policy *p, double *secs) {
    team tm = {.nth = nth, .fn = fn, .ctx = ctx, .start = {.n = nth}, .end = {.n = nth}};
    pthread_t *th = calloc((size_t)nth, sizeof *th);
    void *(*args)[2] = calloc((size_t)nth, sizeof *args);
    if (!th || !args) abort();
    cpu_set_t caller;
    const int restore = pthread_getaffinity_np(pthread_self(), sizeof caller, &caller) == 0;
    bench_pin_self(0);
    for (int i = 1; i < nth; i++) {
        args[i][0] = &tm;
        args[i][1] = (void *)(intptr_t)i;
        pthread_create(&th[i], NULL, team_worker, args[i]);
    }
    int n = 0;
    double total = 0;
    for (int64_t r = 0;; r++) {
        const int timed = r >= p->warmup;
        if (timed && ((n >= p->min_reps && total >= p->min_time) || (n >= 3 && total >= p->max_time) ||
                      n >= p->max_reps))
            tm.stop = 1;
        tm.call = r;
        barrier_wait(&tm.start);
        if (tm.stop) break;
        const double t0 = bench_now();
        fn(&tm, 0);
        barrier_wait(&tm.end);
        if (timed) {
            secs[n] = bench_now() - t0;
            total += secs[n++];
        }
    }
    for (int i = 1; i < nth; i++) pthread_join(th[i], NULL);
    if (restore) pthread_setaffinity_np(pthread_self(), sizeof caller, &caller);
    free(th);
    free(args);
    return n;
}

/* Exactly reps timed repetitions after one warm-up. */
static void team_reps(int nth, work_fn fn, void *ctx, int reps, double *secs) {
    const rep_policy p = {.min_time = 0, .min_reps = reps, .max_time = 1e30, .max_reps = reps, .warmup = 1};
    team_run(nth, fn, ctx, &p, secs);
}

/* ---- read bandwidth -------------------------------------------------------- */

typedef struct {
    const uint8_t *buf;   /* the whole buffer (ring) */
    size_t ring, bytes;   /* its size; bytes read per call */
    int sink;
} bw_ctx;

static void bw_work(team *tm, int ith) {
    bw_ctx *c = tm->ctx;
    const size_t lines = c->bytes / 512;
    /* the call's span: the next one of the ring, from its start if it does
     * not fit before the end (for whole-buffer passes: the buffer) */
    const size_t per_ring = c->ring / c->bytes;
    const uint8_t *base = c->buf + (size_t)(tm->call % (int64_t)per_ring) * c->bytes;
    const size_t l0 = lines * (size_t)ith / (size_t)tm->nth, l1 = lines * (size_t)(ith + 1) / (size_t)tm->nth;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = l0; i < l1; i++) {
        const __m512i *p = (const __m512i *)(base + i * 512);
        a0 = _mm512_add_epi32(a0, _mm512_load_si512(p + 0));
        a1 = _mm512_add_epi32(a1, _mm512_load_si512(p + 1));
        a2 = _mm512_add_epi32(a2, _mm512_load_si512(p + 2));
        a3 = _mm512_add_epi32(a3, _mm512_load_si512(p + 3));
        a4 = _mm512_add_epi32(a4, _mm512_load_si512(p + 4));
        a5 = _mm512_add_epi32(a5, _mm512_load_si512(p + 5));
        a6 = _mm512_add_epi32(a6, _mm512_load_si512(p + 6));
        a7 = _mm512_add_epi32(a7, _mm512_load_si512(p + 7));
    }
    a0 = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                          _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    __atomic_fetch_add(&c->sink, _mm512_reduce_add_epi32(a0), __ATOMIC_RELAXED); /* keeps the loads */
}

/* 2 MiB pages, as the library uses for packed weights, so the kernels' GB/s
 * and this read are measured under the same TLB conditions; touched here,
 * outside timing. bytes is rounded up to whole pages. */
static uint8_t *huge_buffer(size_t *bytes) {
    const size_t huge = (size_t)2 << 20;
    *bytes = (*bytes + huge - 1) & ~(huge - 1);
    uint8_t *buf = aligned_alloc(huge, *bytes);
    if (!buf) return NULL;
#if defined(MADV_HUGEPAGE)
    madvise(buf, *bytes, MADV_HUGEPAGE);
#endif
    memset(buf, 1, *bytes);
    return buf;
}

bw_result bench_read_bandwidth(int threads, size_t bytes, int reps) {
    bytes &= ~(size_t)511;
    bw_result r = {.threads = threads, .reps = reps};
    uint8_t *buf = huge_buffer(&bytes);
    r.bytes = bytes;
    double *secs = malloc((size_t)reps * sizeof *secs);
    if (!buf || !secs) abort();
    bw_ctx c = {.buf = buf, .ring = bytes, .bytes = bytes};
    team_reps(threads, bw_work, &c, reps, secs); /* the warm-up pass warms TLBs and threads */
    double best = secs[0];
    for (int i = 1; i < reps; i++) best = secs[i] < best ? secs[i] : best;
    r.median_gbps = (double)bytes / bench_median(secs, reps) * 1e-9;
    r.best_gbps = (double)bytes / best * 1e-9;
    free(secs);
    free(buf);
    return r;
}

struct bw_probe {
    uint8_t *buf;
    size_t bytes;
    int64_t next; /* calls so far: where the next span starts */
};

bw_probe *bench_bw_probe_new(size_t bytes) {
    bw_probe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->bytes = bytes;
    p->buf = huge_buffer(&p->bytes);
    if (!p->buf) {
        free(p);
        return NULL;
    }
    return p;
}

size_t bench_bw_probe_bytes(const bw_probe *p) { return p->bytes; }

/* team_run counts repetitions from 0 in each call: the ring position goes on
 * from where the previous slot stopped */
typedef struct {
    bw_ctx c;
    int64_t base;
} probe_ctx;

static void probe_work(team *tm, int ith) {
    probe_ctx *pc = tm->ctx;
    team t = *tm;
    t.ctx = &pc->c;
    t.call = pc->base + tm->call;
    bw_work(&t, ith);
}

timing bench_bw_probe_slot(bw_probe *p, int threads, size_t chunk, const rep_policy *pol) {
    chunk = (chunk + 511) & ~(size_t)511;
    if (chunk < 512) chunk = 512;
    if (chunk > p->bytes) chunk = p->bytes & ~(size_t)511;
    probe_ctx pc = {.c = {.buf = p->buf, .ring = p->bytes, .bytes = chunk}, .base = p->next};
    const int cap = pol->max_reps > 0 ? pol->max_reps : 1;
    double *secs = malloc((size_t)cap * sizeof *secs);
    if (!secs) abort();
    rep_policy q = *pol;
    q.max_reps = cap;
    const int n = team_run(threads, probe_work, &pc, &q, secs);
    p->next += pol->warmup + n;
    timing t = bench_summary(secs, n);
    t.warmup = pol->warmup;
    free(secs);
    return t;
}

void bench_bw_probe_free(bw_probe *p) {
    if (!p) return;
    free(p->buf);
    free(p);
}

/* ---- peaks: vpdpbusd, vfmadd231ps and vdpbf16ps, zmm ----------------------- */

typedef struct {
    int sink;
} peak_ctx;

/* 16 independent chains of INSN (AT&T operand order: b, a, accumulator),
 * in inline asm so that the compiler may neither merge nor reorder them (two
 * statements: an asm takes at most 30 operands). The chains are kept
 * integer-typed: only the bits matter, and FMA / vdpbf16ps chains of these
 * constant inputs stay finite (normal numbers of modest size). */
#define PEAK_WORK(fn, INSN, A_BITS, B_BITS)                                                              \
    static void fn(team *tm, int ith) {                                                                  \
        (void)ith;                                                                                       \
        peak_ctx *c = tm->ctx;                                                                           \
        const __m512i a = _mm512_set1_epi32(A_BITS), b = _mm512_set1_epi32(B_BITS);                     \
        __m512i z0 = _mm512_setzero_si512(), z1 = z0, z2 = z0, z3 = z0, z4 = z0, z5 = z0, z6 = z0, z7 = z0, \
                z8 = z0, z9 = z0, z10 = z0, z11 = z0, z12 = z0, z13 = z0, z14 = z0, z15 = z0;            \
        for (uint64_t i = 0; i < PEAK_ITERS; i++) {                                                      \
            __asm__ volatile(INSN " %[b], %[a], %[z0]\n\t" INSN " %[b], %[a], %[z1]\n\t"               \
                             INSN " %[b], %[a], %[z2]\n\t" INSN " %[b], %[a], %[z3]\n\t"               \
                             INSN " %[b], %[a], %[z4]\n\t" INSN " %[b], %[a], %[z5]\n\t"               \
                             INSN " %[b], %[a], %[z6]\n\t" INSN " %[b], %[a], %[z7]\n\t"               \
                             : [z0] "+v"(z0), [z1] "+v"(z1), [z2] "+v"(z2), [z3] "+v"(z3), [z4] "+v"(z4), \
                               [z5] "+v"(z5), [z6] "+v"(z6), [z7] "+v"(z7)                                \
                             : [a] "v"(a), [b] "v"(b));                                                  \
            __asm__ volatile(INSN " %[b], %[a], %[z8]\n\t" INSN " %[b], %[a], %[z9]\n\t"               \
                             INSN " %[b], %[a], %[z10]\n\t" INSN " %[b], %[a], %[z11]\n\t"             \
                             INSN " %[b], %[a], %[z12]\n\t" INSN " %[b], %[a], %[z13]\n\t"             \
                             INSN " %[b], %[a], %[z14]\n\t" INSN " %[b], %[a], %[z15]\n\t"             \
                             : [z8] "+v"(z8), [z9] "+v"(z9), [z10] "+v"(z10), [z11] "+v"(z11),          \
                               [z12] "+v"(z12), [z13] "+v"(z13), [z14] "+v"(z14), [z15] "+v"(z15)         \
                             : [a] "v"(a), [b] "v"(b));                                                  \
        }                                                                                                \
        const __m512i s = _mm512_xor_si512(                                                              \
            _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(z0, z1), _mm512_xor_si512(z2, z3)),       \
                             _mm512_xor_si512(_mm512_xor_si512(z4, z5), _mm512_xor_si512(z6, z7))),      \
            _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(z8, z9), _mm512_xor_si512(z10, z11)),     \
                             _mm512_xor_si512(_mm512_xor_si512(z12, z13), _mm512_xor_si512(z14, z15)))); \
        __atomic_fetch_add(&c->sink, _mm512_reduce_add_epi32(s), __ATOMIC_RELAXED);                      \
    }

PEAK_WORK(peak_vpdpbusd, "vpdpbusd", 0x01020304, 0x05060708)
/* 1.0f x 1e-30f: each chain grows by 1e-30 per FMA, far from overflow */
PEAK_WORK(peak_fma, "vfmadd231ps", 0x3f800000, 0x0da24260)
/* bf16 pairs (1.0, 1.0) x (2^-100, 2^-100): 2^-99 per instruction */
PEAK_WORK(peak_dpbf16, "vdpbf16ps", 0x3f803f80, 0x0d800d80)

static peak_result run_peak_n(work_fn fn, double ops_per_insn, uint64_t insns, int threads, int reps) {
    peak_result r = {.threads = threads, .chains = PEAK_CHAINS, .instructions = insns, .reps = reps};
    double *secs = malloc((size_t)reps * sizeof *secs);
    if (!secs) abort();
    peak_ctx c = {0};
    team_reps(threads, fn, &c, reps, secs);
    double best = secs[0];
    for (int i = 1; i < reps; i++) best = secs[i] < best ? secs[i] : best;
    const double ops = ops_per_insn * (double)r.instructions * threads;
    r.median_gops = ops / bench_median(secs, reps) * 1e-9;
    r.best_gops = ops / best * 1e-9;
    free(secs);
    return r;
}

static peak_result run_peak(work_fn fn, double ops_per_insn, int threads, int reps) {
    return run_peak_n(fn, ops_per_insn, PEAK_ITERS * PEAK_CHAINS, threads, reps);
}

/* GOPS: 2 x 64 int8 MACs per vpdpbusd, 2 x 16 flops per FMA, 2 x 32 per
 * vdpbf16ps (the kernels' GOPS count 2 M N K the same way). */
peak_result bench_vpdpbusd_peak(int threads, int reps) { return run_peak(peak_vpdpbusd, 128.0, threads, reps); }
peak_result bench_fma_peak(int threads, int reps) { return run_peak(peak_fma, 32.0, threads, reps); }
peak_result bench_dpbf16_peak(int threads, int reps) { return run_peak(peak_dpbf16, 64.0, threads, reps); }

/* ---- AMX: TDPBSSD and TILELOADD rates ------------------------------------- */

/* 2^18 x 4 TDPs at ~16 cycles each: ~1.7e7 cycles, ~7 ms per repetition at
 * 2.5 GHz, long against timer and barrier costs */
#define TDP_ITERS ((uint64_t)1 << 18)

/* Every tile 16 rows x 64 bytes, through the library's tile_ops.h: its
 * config type has the LDTILECFG layout and its macros keep the compiler
 * from dropping the stores that fill a config or a loaded buffer. */
static void tdp_begin(void) {
    amxq_tilecfg c;
    amxq_tilecfg_init(&c);
    for (int t = 0; t < 8; t++) amxq_tilecfg_set(&c, t, AMXQ_TILE_ROWS, AMXQ_TILE_COLSB);
    amxq_tile_begin(&c);
}

static void tdp_work(team *tm, int ith) {
    (void)ith;
    peak_ctx *c = tm->ctx;
    _Alignas(64) int8_t src[4096];
    for (int i = 0; i < 4096; i++) src[i] = (int8_t)(i * 7 + 3);
    _Alignas(64) int32_t out[256];
    tdp_begin();
    amxq_tile_loadd(4, src, 64);
    amxq_tile_loadd(5, src + 1024, 64);
    amxq_tile_loadd(6, src + 2048, 64);
    amxq_tile_loadd(7, src + 3072, 64);
    amxq_tile_zero(0);
    amxq_tile_zero(1);
    amxq_tile_zero(2);
    amxq_tile_zero(3);
    for (uint64_t i = 0; i < TDP_ITERS; i++) {
        amxq_tile_dpbssd(0, 4, 6);
        amxq_tile_dpbssd(1, 4, 7);
        amxq_tile_dpbssd(2, 5, 6);
        amxq_tile_dpbssd(3, 5, 7);
    }
    amxq_tile_stored(0, out, 64);
    amxq_tile_end();
    __atomic_fetch_add(&c->sink, out[0] + out[255], __ATOMIC_RELAXED);
}

static void tileload_work(team *tm, int ith) {
    (void)ith;
    peak_ctx *c = tm->ctx;
    _Alignas(64) int8_t src[4096];
    for (int i = 0; i < 4096; i++) src[i] = (int8_t)i;
    _Alignas(64) int32_t out[256];
    tdp_begin();
    for (uint64_t i = 0; i < TDP_ITERS; i++) {
        amxq_tile_loadd(4, src, 64);
        amxq_tile_loadd(5, src + 1024, 64);
        amxq_tile_loadd(6, src + 2048, 64);
        amxq_tile_loadd(7, src + 3072, 64);
    }
    amxq_tile_stored(7, out, 64);
    amxq_tile_end();
    __atomic_fetch_add(&c->sink, out[0], __ATOMIC_RELAXED);
}

/* chains = independent C tiles; instructions = TDPs (loads) per thread */
peak_result bench_tdp_peak(int threads, int reps) {
    peak_result r = run_peak_n(tdp_work, 2.0 * 16 * 16 * 64, 4 * TDP_ITERS, threads, reps);
    r.chains = 4;
    return r;
}

peak_result bench_tileload_rate(int threads, int reps) {
    peak_result r = run_peak_n(tileload_work, 1024.0, 4 * TDP_ITERS, threads, reps);
    r.chains = 4;
    return r;
}
