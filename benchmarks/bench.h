/*
 * What the benchmark programs' files share: amxq-bench, amxq-amx-mix
 * (amx_mix.c) and amxq-bench-multi (multi_bench.c). One job per file:
 *
 *   all three programs
 *     cmdline.c        comma lists, and the weight types from the library's table
 *     gen_weights.c    model-like GGUF blocks, made in-process
 *     timing.c         the repetition policy and the statistics of one cell
 *     json.c           a small JSON writer
 *   amxq-bench
 *     bench.c          main and the run loop
 *     bench_options.c  the command line
 *     bench_sysinfo.c  CPUs, last-level cache, CPU model
 *     bench_report.c   the results, their ratios, the stdout table
 *     bench_json.c     the JSON report
 *                      (these six share bench_driver.h as well)
 *     bench_rounds.c   decode cells: candidates interleaved in rounds, per-round ratios
 *     bench_threads.c  pinning the candidates' threads, waiting for idle workers to sleep
 *     machine.c        read bandwidth, vpdpbusd / FMA / vdpbf16ps peaks (AVX-512, own flags)
 *     peer_onednn.c    oneDNN int8 matmul (optional at build time)
 *     peer_openblas.c  OpenBLAS sgemm (optional at build time)
 *     reference.c      published figures of other libraries on one machine
 *   amxq-bench-multi
 *     multi_bench.c    QKV and gate+up: separate amx_gemm_q calls against one
 *                      amx_gemm_q_multi call, interleaved in rounds
 */
#ifndef AMXQ_BENCH_H
#define AMXQ_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "amxq.h"

/* ---- gen_weights.c ------------------------------------------------------- */

/* Fills n rows of k weights of `type` with valid GGUF blocks that look like a
 * trained transformer's: per-row scales around 0.02, bell-shaped quants. The
 * same (seed, type, n, k) gives the same bytes. 0 (out untouched) for a type
 * it has no generator for. */
int bench_gen_weights(amx_type type, int64_t n, int64_t k, uint64_t seed, void *out);

/* GGUF bytes of n rows of k weights of `type` (k a multiple of its block). */
size_t bench_gguf_bytes(amx_type type, int64_t n, int64_t k);

/* Activations: n values around N(0, 1) with a few outliers, as hidden states. */
void bench_gen_acts(size_t count, uint64_t seed, float *out);

/* Random bytes from the same generator (peers' int8 weights). */
void bench_gen_bytes(size_t count, uint64_t seed, uint8_t *out, int lo, int hi);

/* ---- cmdline.c ----------------------------------------------------------- */

/* Splits a comma list in place and calls fn on each item; 0, with the item
 * named on stderr after prog, if fn rejects one. */
int bench_each_item(const char *prog, char *list, int (*fn)(const char *item, void *ctx), void *ctx);

#define BENCH_MAX_TYPES 64

typedef struct {
    amx_type t[BENCH_MAX_TYPES];
    int n;
} type_list;

/* bench_each_item's fn for a type_list: appends the type amx_type_name calls
 * `item` (any case), or for "all" puts every type of the library's table, in
 * its order, in place of the list so far. 0 for other names or a full list. */
int bench_add_type(const char *item, void *list);

/* The library's type names in table order, joined with sep (usage texts). */
void bench_type_names(char *out, size_t len, const char *sep);

/* ---- timing.c ------------------------------------------------------------ */

typedef struct {
    double min_time;   /* keep repeating until this many seconds are timed ... */
    int min_reps;      /* ... and at least this many calls */
    double max_time;   /* but stop after this many seconds once 3 calls are in */
    int max_reps;
    int warmup;        /* untimed calls first */
} rep_policy;

typedef struct {
    int reps;
    int warmup;
    double median, min, q1, q3, max; /* seconds per call */
    double total;                    /* seconds timed */
} timing;

/* fn(ctx, i) runs call number i (warm-up calls included, counting from 0;
 * decode runs use i to pick the next weight copy). */
typedef void (*timed_fn)(void *ctx, int64_t i);
timing bench_measure(timed_fn fn, void *ctx, const rep_policy *p);

double bench_now(void);               /* monotonic seconds */
double bench_median(double *v, int n); /* sorts v */

/* Median, min, quartiles and max of v (sorted in place; NAN entries are
 * left out); reps = how many were finite, total = their sum. */
timing bench_summary(double *v, int n);

/* ---- bench_threads.c (amxq-bench) ------------------------------------------ */

/* Whose workers a call may create: each pool's j-th worker is pinned to the
 * same CPU as every other candidate's share j. */
enum { BENCH_POOL_AMXQ, BENCH_POOL_OMP, BENCH_POOLS };

void bench_threads_init(void);        /* at the start of main: the CPU mask, the threads already there */
int bench_cpu_of_share(int ith);      /* the i-th CPU of the process's starting mask (cyclic) */
int bench_pin_self(int ith);          /* pins the calling thread to share ith's CPU; 0 on failure */
void bench_unpin_self(void);          /* back to the starting mask */
/* Pins the threads that appeared since the last call to pool's next shares
 * (pool -1: records them, leaves them unpinned); returns how many appeared. */
int bench_pin_new_threads(int pool);
/* Waits until no other thread of the process is running, polling
 * /proc/self/task, at most max_s; returns how many still ran then (0: quiet),
 * the seconds waited in *waited. */
int bench_quiesce(double max_s, double *waited);

/* CPU time of the process's CPUs (the starting mask) and of this process,
 * in clock ticks, at one moment. */
typedef struct {
    double wall;
    unsigned long long busy, steal, self;
} cpu_sample;
void bench_cpu_sample(cpu_sample *s);
/* Between two samples: the fraction of those CPUs' time other processes
 * were running on them (busy time not this process's), and the fraction the
 * hypervisor gave to others (steal); NAN where /proc/stat says nothing.
 * Clock ticks (1/100 s): meaningful over a second or more. */
void bench_cpu_others(const cpu_sample *a, const cpu_sample *b, double *others, double *steal);

/* ---- machine.c (AVX-512: call only if amx_cpu_supports(AMX_ISA_AVX512_VNNI)) */

typedef struct {
    int threads;
    size_t bytes;           /* buffer read per pass */
    int reps;
    double median_gbps, best_gbps;
} bw_result;

typedef struct {
    int threads;
    int chains;             /* independent accumulators per thread */
    uint64_t instructions;  /* vpdpbusd per thread per repetition */
    int reps;
    double median_gops, best_gops;
} peak_result;

/* Both run `threads` threads pinned as the kernels' shares are
 * (bench_cpu_of_share). */
bw_result bench_read_bandwidth(int threads, size_t bytes, int reps);
peak_result bench_vpdpbusd_peak(int threads, int reps);
/* The float peaks: vfmadd231ps zmm, and vdpbf16ps zmm (call only where the
 * CPU has AVX512-BF16). */
peak_result bench_fma_peak(int threads, int reps);
peak_result bench_dpbf16_peak(int threads, int reps);
/* AMX (call only if amx_cpu_supports(AMX_ISA_AMX)): TDPBSSD 16x16x64 into 4
 * independent C tiles (GOPS, 2 * 16384 per TDP), and TILELOADD of 1 KiB
 * tiles from L1 (its "GOPS" are GB/s). */
peak_result bench_tdp_peak(int threads, int reps);
peak_result bench_tileload_rate(int threads, int reps);

/* The read probe of the decode rounds: a ring buffer larger than the cache,
 * on 2 MiB pages like packed weights, touched once. Each probe call reads the
 * ring's next `chunk` bytes (one weight matrix's worth), each of `threads`
 * pinned threads its contiguous 1/T, with the same AVX-512 loop as
 * bench_read_bandwidth; the threads meet at a barrier between calls, as the
 * library's pool does. */
typedef struct bw_probe bw_probe;
bw_probe *bench_bw_probe_new(size_t bytes); /* NULL if out of memory */
size_t bench_bw_probe_bytes(const bw_probe *p);
/* One round's turn: p->warmup untimed calls, then calls until the policy is
 * met; seconds per call as bench_measure gives them. */
timing bench_bw_probe_slot(bw_probe *p, int threads, size_t chunk, const rep_policy *pol);
void bench_bw_probe_free(bw_probe *p);

/* ---- peers --------------------------------------------------------------- */

/* oneDNN: u8 activations [m, k] x s8 weights [k, n] -> f32 [m, n] with
 * per-column scales. Weights are reordered once, outside timing, into the
 * format the primitive prefers. */
typedef struct onednn_peer onednn_peer;
int onednn_available(char *desc, size_t len); /* 1 and a description, or 0 and why */
onednn_peer *onednn_create(int64_t n, int64_t k, int64_t max_m, uint64_t seed);
/* Creates the primitive for (m, threads) and `copies` reordered weight
 * copies; fills impl with oneDNN's implementation name. 0 on failure (why in impl). */
int onednn_prepare(onednn_peer *p, int64_t m, int threads, int copies, char *impl, size_t len);
void onednn_run(onednn_peer *p, int copy);
size_t onednn_weight_bytes(const onednn_peer *p); /* s8 bytes of one weight copy */
void onednn_free(onednn_peer *p);

/* OpenBLAS: C[m, n] = A[m, k] . W[n, k]^T, cblas_sgemm on F32 weights. */
typedef struct openblas_peer openblas_peer;
int openblas_available(char *desc, size_t len);
const char *openblas_core(void); /* the core type OpenBLAS picked at load */
/* Takes ownership of the F32 weights w (n x k, malloc'd; freed by
 * openblas_free, or at once on failure) and makes `copies` - 1 more copies. */
openblas_peer *openblas_create(float *w, int64_t n, int64_t k, int copies, const float *x, int64_t max_m);
void openblas_run(openblas_peer *p, int64_t m, int threads, int copy);
void openblas_free(openblas_peer *p);

/* ---- reference.c --------------------------------------------------------- */

typedef struct {
    const char *source;   /* "ggml d99724f", ... */
    const char *variant;  /* "" or "plain" / "rtr" */
    amx_type type;
    int64_t n, k, m;
    int threads;
    double value;
    const char *unit;     /* "GB/s" (weight bytes, M=1, cold) or "GOPS" */
} ref_figure;

/* The recorded figures, one per published table cell. */
const ref_figure *bench_reference(size_t *count);
extern const char *const bench_reference_note;
extern const char *const bench_reference_cpu; /* "(family F model M)" of that machine */

/* ---- json.c -------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const char *path, *prog; /* json_open's, for json_close's message */
    int depth;
    int first[32];  /* whether the open container at each depth is still empty */
    char closer[32]; /* '}' or ']' for the container open at each depth */
} json_w;

void json_begin(json_w *j, FILE *f);
/* Opens path for writing and begins there; 0, and why on stderr after prog,
 * if it cannot. */
int json_open(json_w *j, const char *path, const char *prog);
/* Closes json_open's file; 0, said on stderr, if any of it was not written. */
int json_close(json_w *j);
void json_obj(json_w *j, const char *key);  /* key NULL inside arrays */
void json_arr(json_w *j, const char *key);
void json_end(json_w *j);                    /* closes the innermost object/array */
void json_str(json_w *j, const char *key, const char *v);
void json_num(json_w *j, const char *key, double v); /* non-finite -> null */
void json_int(json_w *j, const char *key, int64_t v);
void json_bool(json_w *j, const char *key, int v);
void json_null(json_w *j, const char *key);

#endif
