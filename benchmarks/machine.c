/*
 * The machine's own limits, measured in the same run as the kernels so every
 * ratio compares figures taken side by side on a possibly shared machine:
 *
 *   read bandwidth: AVX-512 loads summed into 8 independent vpaddd
 *     accumulators, 512 bytes per iteration, over a buffer much larger than
 *     the last-level cache. With T threads each reads its own contiguous
 *     1/T of the same buffer (the split a matrix-vector product uses).
 *   vpdpbusd zmm peak: 16 independent accumulator chains per thread (the
 *     instruction's latency is ~4 cycles at 2 per cycle on current cores, so
 *     8 chains are the minimum; 16 leave margin), GOPS = 2 * 64 MACs per
 *     instruction.
 *
 * Compiled with the AVX-512 flags; the driver calls it only when
 * amx_cpu_supports(AMX_ISA_AVX512_VNNI).
 */
#if !defined(__AVX512F__) || !defined(__AVX512VNNI__)
#error "machine.c needs the AVX-512 flags (avx512_args)"
#endif

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define PEAK_CHAINS 16
/* loop iterations per repetition: 2^22 x 16 chains = 2^26 vpdpbusd per
 * thread, ~10 ms at 2 per cycle, long against timer and barrier costs */
#define PEAK_ITERS ((uint64_t)1 << 22)

typedef struct team team;
typedef void (*work_fn)(team *tm, int ith);

/* T threads that start each repetition together at a barrier; the caller
 * (thread 0) times from the start barrier to the end barrier. */
struct team {
    int nth;
    work_fn fn;
    void *ctx;
    int reps;
    pthread_barrier_t start, end;
};

static void *team_worker(void *arg) {
    void **a = arg;
    team *tm = a[0];
    const int ith = (int)(intptr_t)a[1];
    for (int r = 0; r < tm->reps; r++) {
        pthread_barrier_wait(&tm->start);
        tm->fn(tm, ith);
        pthread_barrier_wait(&tm->end);
    }
    return NULL;
}

/* Runs fn on nth threads `reps` times; seconds per repetition into secs. */
static void team_run(int nth, work_fn fn, void *ctx, int reps, double *secs) {
    team tm = {.nth = nth, .fn = fn, .ctx = ctx, .reps = reps};
    pthread_barrier_init(&tm.start, NULL, (unsigned)nth);
    pthread_barrier_init(&tm.end, NULL, (unsigned)nth);
    pthread_t *th = calloc((size_t)nth, sizeof *th);
    void *(*args)[2] = calloc((size_t)nth, sizeof *args);
    if (!th || !args) abort();
    for (int i = 1; i < nth; i++) {
        args[i][0] = &tm;
        args[i][1] = (void *)(intptr_t)i;
        pthread_create(&th[i], NULL, team_worker, args[i]);
    }
    for (int r = 0; r < reps; r++) {
        pthread_barrier_wait(&tm.start);
        const double t0 = bench_now();
        fn(&tm, 0);
        pthread_barrier_wait(&tm.end);
        secs[r] = bench_now() - t0;
    }
    for (int i = 1; i < nth; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&tm.start);
    pthread_barrier_destroy(&tm.end);
    free(th);
    free(args);
}

/* ---- read bandwidth -------------------------------------------------------- */

typedef struct {
    const uint8_t *buf;
    size_t bytes;
    int sink;
} bw_ctx;

static void bw_work(team *tm, int ith) {
    bw_ctx *c = tm->ctx;
    const size_t lines = c->bytes / 512;
    const size_t l0 = lines * (size_t)ith / (size_t)tm->nth, l1 = lines * (size_t)(ith + 1) / (size_t)tm->nth;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = l0; i < l1; i++) {
        const __m512i *p = (const __m512i *)(c->buf + i * 512);
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

bw_result bench_read_bandwidth(int threads, size_t bytes, int reps) {
    bytes &= ~(size_t)511;
    bw_result r = {.threads = threads, .bytes = bytes, .reps = reps};
    /* 2 MiB pages, as the library uses for packed weights, so the kernels'
     * GB/s and this read are measured under the same TLB conditions */
    const size_t huge = (size_t)2 << 20;
    bytes = (bytes + huge - 1) & ~(huge - 1);
    r.bytes = bytes;
    uint8_t *buf = aligned_alloc(huge, bytes);
#if defined(MADV_HUGEPAGE)
    if (buf) madvise(buf, bytes, MADV_HUGEPAGE);
#endif
    double *secs = malloc((size_t)(reps + 1) * sizeof *secs);
    if (!buf || !secs) abort();
    memset(buf, 1, bytes); /* first touch outside timing */
    bw_ctx c = {.buf = buf, .bytes = bytes};
    team_run(threads, bw_work, &c, reps + 1, secs); /* the first pass warms TLBs and threads */
    double best = secs[1];
    for (int i = 2; i <= reps; i++) best = secs[i] < best ? secs[i] : best;
    r.median_gbps = (double)bytes / bench_median(secs + 1, reps) * 1e-9;
    r.best_gbps = (double)bytes / best * 1e-9;
    free(secs);
    free(buf);
    return r;
}

/* ---- vpdpbusd zmm peak ----------------------------------------------------- */

typedef struct {
    int sink;
} peak_ctx;

static void peak_work(team *tm, int ith) {
    (void)ith;
    peak_ctx *c = tm->ctx;
    const __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
    __m512i z0 = _mm512_setzero_si512(), z1 = z0, z2 = z0, z3 = z0, z4 = z0, z5 = z0, z6 = z0, z7 = z0,
            z8 = z0, z9 = z0, z10 = z0, z11 = z0, z12 = z0, z13 = z0, z14 = z0, z15 = z0;
    for (uint64_t i = 0; i < PEAK_ITERS; i++) {
        /* inline asm: the compiler may neither merge nor reorder the chains
         * (two statements: an asm takes at most 30 operands) */
        __asm__ volatile(
            "vpdpbusd %[b], %[a], %[z0]\n\tvpdpbusd %[b], %[a], %[z1]\n\t"
            "vpdpbusd %[b], %[a], %[z2]\n\tvpdpbusd %[b], %[a], %[z3]\n\t"
            "vpdpbusd %[b], %[a], %[z4]\n\tvpdpbusd %[b], %[a], %[z5]\n\t"
            "vpdpbusd %[b], %[a], %[z6]\n\tvpdpbusd %[b], %[a], %[z7]\n\t"
            : [z0] "+v"(z0), [z1] "+v"(z1), [z2] "+v"(z2), [z3] "+v"(z3), [z4] "+v"(z4), [z5] "+v"(z5),
              [z6] "+v"(z6), [z7] "+v"(z7)
            : [a] "v"(a), [b] "v"(b));
        __asm__ volatile(
            "vpdpbusd %[b], %[a], %[z8]\n\tvpdpbusd %[b], %[a], %[z9]\n\t"
            "vpdpbusd %[b], %[a], %[z10]\n\tvpdpbusd %[b], %[a], %[z11]\n\t"
            "vpdpbusd %[b], %[a], %[z12]\n\tvpdpbusd %[b], %[a], %[z13]\n\t"
            "vpdpbusd %[b], %[a], %[z14]\n\tvpdpbusd %[b], %[a], %[z15]\n\t"
            : [z8] "+v"(z8), [z9] "+v"(z9), [z10] "+v"(z10), [z11] "+v"(z11), [z12] "+v"(z12),
              [z13] "+v"(z13), [z14] "+v"(z14), [z15] "+v"(z15)
            : [a] "v"(a), [b] "v"(b));
    }
    const __m512i s = _mm512_add_epi32(
        _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(z0, z1), _mm512_add_epi32(z2, z3)),
                         _mm512_add_epi32(_mm512_add_epi32(z4, z5), _mm512_add_epi32(z6, z7))),
        _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(z8, z9), _mm512_add_epi32(z10, z11)),
                         _mm512_add_epi32(_mm512_add_epi32(z12, z13), _mm512_add_epi32(z14, z15))));
    __atomic_fetch_add(&c->sink, _mm512_reduce_add_epi32(s), __ATOMIC_RELAXED);
}

peak_result bench_vpdpbusd_peak(int threads, int reps) {
    peak_result r = {.threads = threads, .chains = PEAK_CHAINS, .instructions = PEAK_ITERS * PEAK_CHAINS, .reps = reps};
    double *secs = malloc((size_t)(reps + 1) * sizeof *secs);
    if (!secs) abort();
    peak_ctx c = {0};
    team_run(threads, peak_work, &c, reps + 1, secs);
    double best = secs[1];
    for (int i = 2; i <= reps; i++) best = secs[i] < best ? secs[i] : best;
    const double ops = 2.0 * 64.0 * (double)r.instructions * threads;
    r.median_gops = ops / bench_median(secs + 1, reps) * 1e-9;
    r.best_gops = ops / best * 1e-9;
    free(secs);
    return r;
}
