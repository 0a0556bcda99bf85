/*
 * What amxq-bench's own files share (amxq-amx-mix uses none of it):
 *
 *   bench.c          main and the run loop: machine limits, shapes, types,
 *                    kernel variants and peers, each cell measured
 *   bench_options.c  the command line: usage text, parsing, defaults
 *   bench_sysinfo.c  what the system says about the machine: CPUs, last-level
 *                    cache, CPU model
 *   bench_report.c   the results the run collects, their lookups and ratios,
 *                    the stdout table and the published-figures grid
 *   bench_json.c     the JSON report (schema amxq-bench/1)
 *   bench_rounds.c   decode cells measured in rounds: amxq's kernels, the
 *                    read probe and the peer interleaved, per-round ratios
 */
#ifndef AMXQ_BENCH_DRIVER_H
#define AMXQ_BENCH_DRIVER_H

#include "bench.h"

#define MAX_LIST 64          /* items of each option's list */
#define DECODE_MAX_M 8       /* M up to this is decode-shaped: rotate weight copies, report GB/s */
#define CHECK_TOLERANCE 1e-3 /* max |y - y_scalar| / rms(y_scalar row) before a row is flagged */
#define MAX_ROUNDS 64        /* --rounds at most */
#define QUIESCE_MAX_S 0.5    /* longest wait for the other threads of the process to sleep */
#define OTHERS_WARN 0.05     /* a cell whose CPUs were this busy with others (or stolen) is flagged */
#define PROBE_MIN_BYTES ((size_t)256 << 20) /* the read probes' and the rotation's floor */

/* ---- bench_options.c ----------------------------------------------------- */

typedef enum { SEL_AUTO, SEL_ISA, SEL_ALL } variant_sel;

typedef struct {
    int nproc;              /* CPUs available: what 'max' means */
    type_list types;
    int64_t shape_n[MAX_LIST], shape_k[MAX_LIST];
    int n_shapes;
    int64_t ms[MAX_LIST];
    int n_ms;
    int threads[MAX_LIST];
    int n_threads;
    variant_sel sel;
    amx_isa sel_isa;
    int peer_scalar, peer_onednn, peer_openblas;
    int limits;
    int quick;
    rep_policy pol, scalar_pol;
    int rounds;             /* decode cells: rounds of interleaved turns (0: one cell each, as larger M) */
    rep_policy turn_pol;    /* one candidate's turn in a round */
    double scalar_ops;
    double rotate_bytes;
    uint64_t seed;
    const char *json;
    amx_numa_policy numa[MAX_LIST]; /* --numa: compare these placements (bench_numa.c) */
    int n_numa;
} options;

/* Fills o from the command line (nproc: the CPUs available) and sets *list
 * for --list. Returns 0 to run, 1 to exit successfully (help), 2 on a usage
 * error (said on stderr). */
int parse_options(int argc, char **argv, int nproc, options *o, int *list);

/* ---- bench_numa.c: --numa ------------------------------------------------ */

int bench_add_numa(const char *item, void *o); /* each_item's fn: none, mirror, ... into o->numa */
/* Runs the placement comparison; returns the exit status (3: results differ). */
int bench_numa_run(const options *o, double target_bytes);

/* ---- bench_sysinfo.c ----------------------------------------------------- */

/* The last-level cache figure the decode rotation and the read probes are
 * sized from, with every other figure the system gives for it. */
typedef struct {
    size_t bytes;               /* the figure used */
    char source[160];           /* where it came from */
    size_t sysfs, cpuid, cpuid_legacy, sysconf_l3; /* each source's figure, 0 if it has none */
    int cpuid_sharing;          /* logical CPUs sharing that cache, per CPUID (0: unknown) */
    char sysfs_shared[64];      /* sysfs shared_cpu_list of that cache */
    int hypervisor;             /* /proc/cpuinfo has the hypervisor flag: a guest */
    char note[480];             /* why this figure, and what the others are */
} llc_info;

int count_cpus(void);                     /* in this process's affinity mask */
void detect_llc(llc_info *l);
void cpu_model(char *out, size_t len);    /* "model name (family F model M)" */

/* ---- bench_report.c: what the run collects ------------------------------- */

typedef enum { R_AMXQ, R_ONEDNN, R_OPENBLAS } result_kind;

/* A decode cell measured in rounds: in each round every candidate had one
 * turn (warm-up, then calls for a few tens of ms; the turn's figure is its
 * median call), the order rotating from round to round, so each round's
 * ratios compare figures taken within a fraction of a second. */
typedef struct {
    int n;                          /* rounds; 0: measured as one cell */
    char who[160];                  /* the candidates of each round, in round 0's order */
    double gbps[MAX_ROUNDS];        /* this row's weight GB/s per round */
    double probe_gbps[MAX_ROUNDS];  /* the read probe's in the same round (NAN: no probe) */
    double bw_ratio[MAX_ROUNDS];    /* gbps / probe_gbps */
    double x_onednn[MAX_ROUNDS];    /* amxq rows: oneDNN's time / this row's = GOPS ratio (NAN: no peer) */
    double probe_chunk;             /* bytes one probe call read */
    double quiesce_max_s;           /* longest wait for the process's other threads to sleep before a turn */
    int quiesce_busy;               /* turns begun with another thread still running (the wait gave up) */
    double others_cpu, steal_cpu;   /* during the rounds: fraction of the CPUs' time other processes ran
                                       there, and the hypervisor gave to other guests (bench_cpu_others) */
} rounds_rec;

typedef struct {
    result_kind kind;
    int primary;            /* amxq: selected by --variant (else: the scalar comparison) */
    char variant[48];       /* table row, or the peer's name */
    char kernel[96];        /* amx_weights_kernel(), or the peer's implementation */
    char isa[24];
    amx_type type;          /* amxq only */
    int64_t n, k, n_meas, m;
    int threads;
    timing t;
    double gops, gbps;      /* gbps only for decode-shaped M */
    double weight_bytes;    /* weight bytes one call reads (measured rows) */
    int copies;             /* weight copies rotated */
    int pack;               /* amxq: index of the full matrix's pack record, -1 if none */
    int checked;            /* compared with the scalar variant's output */
    double check;           /* then max |dy| / rms over the shared rows; NAN: non-finite output */
    rounds_rec rr;          /* decode rows measured in rounds (rr.n > 0): t is over the rounds */
} result;

typedef struct {
    char variant[48], layout[32], isa[24];
    amx_type type;
    int64_t n, k;
    uint64_t gguf_bytes, packed_bytes;
    int threads, reps;
    double median_s, min_s;
    int copies;             /* decode rotation copies of the full matrix */
    double rms;             /* of the decoded first row: the weights are realistic */
} pack_rec;

typedef struct {
    char what[64], why[200];
} skip_rec;

enum { PH_LIMITS, PH_GEN, PH_PACK, PH_AMXQ, PH_SCALAR, PH_ONEDNN, PH_OPENBLAS, PH_ROUNDS, PH_N };
extern const char *const k_phase_names[PH_N];

/* Everything one run measured, in the order it was measured. */
typedef struct {
    result *r;
    size_t n, cap;
    pack_rec *p;
    size_t np, capp;
    skip_rec *s;
    size_t ns, caps;
    bw_result bw[MAX_LIST];         /* at the start: the ratios use these */
    peak_result peak[MAX_LIST];
    bw_result bw_end[MAX_LIST];     /* again at the end, to show drift on a shared machine */
    peak_result peak_end[MAX_LIST];
    peak_result peak_fma[MAX_LIST];   /* float peaks, at the start only */
    peak_result peak_dpbf16[MAX_LIST]; /* zero where the CPU lacks AVX512-BF16 */
    peak_result peak_tdp[MAX_LIST];    /* TDPBSSD rate, zero where AMX does not run */
    peak_result tileload[MAX_LIST];    /* TILELOADD GB/s from L1, the same */
    int n_limits, n_limits_end;
    char limits_why[200];
    char onednn_desc[256], openblas_desc[256];
    int onednn_ok, openblas_ok;
    double phase[PH_N];             /* seconds spent per phase */
    size_t probe_bytes;             /* the decode rounds' read probe ring (0: no probe) */
    double quiesce_max_s;           /* longest wait before any timed cell for the other threads to sleep */
    int quiesce_busy;               /* timed cells begun with another thread still running */
    double others_cpu, steal_cpu;   /* over the whole run, as in rounds_rec */
} run_record;

extern run_record R;

result *new_result(void);   /* zeroed, gbps NAN, no pack record */
pack_rec *new_pack(void);   /* zeroed; its index is R.np - 1 */
/* Records why something was not run, and says so on stdout. */
void skip(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

double limit_bw(int threads);   /* the first measurement's median, NAN if none */
double limit_peak(int threads);
/* The peak a result is held to: vpdpbusd for the integer types, FMA for F16
 * and the BF16 fallback, vdpbf16ps for BF16 kernels that use it; NAN if not
 * measured. */
double limit_peak_of(const result *r);
/* r's GOPS over the same cell's peer (kind; for R_AMXQ: its scalar variant),
 * NAN if that was not measured. */
double ratio_to(const result *r, result_kind kind, int scalar);
/* What the table and the JSON report: rows measured in rounds give the
 * median of their per-round ratios, other rows the ratio of their own cell
 * to the limits or the peer's cell. */
double pct_bw_of(const result *r);
double x_onednn_of(const result *r);
/* Median, spread of a per-round series (NAN entries left out). */
timing round_stats(const double *v, int n);
/* The fastest selected amxq result of a cell, NULL if none. */
const result *best_amxq(amx_type type, int64_t n, int64_t k, int64_t m, int threads);
/* r's figure in the reference figure's unit (GB/s or GOPS). */
double ref_value(const result *r, const ref_figure *f);

/* ---- bench_report.c: stdout ---------------------------------------------- */

void print_table_head(void);
void print_result(const result *r);
void print_pack(const pack_rec *p); /* the pack figures, as a line under the table head */
void print_reference(void);

/* ---- bench_json.c -------------------------------------------------------- */

/* Writes o->json; 0 if it could not (said on stderr). */
int write_json(const options *o, int argc, char **argv, const llc_info *llc, double target, double total,
               const char *cpu);

/* ---- bench_rounds.c ------------------------------------------------------ */

typedef enum { CAND_AMXQ, CAND_PROBE, CAND_ONEDNN } cand_role;

/* One candidate of a decode cell's rounds. */
typedef struct {
    const char *label;      /* in rounds_rec.who */
    cand_role role;
    timed_fn fn;            /* fn(ctx, i): call i (picks the weight copy); NULL for the probe */
    void *ctx;
    int pool;               /* BENCH_POOL_* whose workers its calls may create, -1 none */
    double bytes;           /* weight bytes one call reads (the probe: its span) */
    /* filled by run_rounds */
    int64_t next;           /* calls made, warm-ups included */
    double sec[MAX_ROUNDS]; /* median seconds per call of each round's turn */
    int calls, warm;        /* timed calls, untimed calls, all rounds */
    double timed;           /* seconds timed, all rounds */
} round_cand;

typedef struct {
    int rounds, threads;
    const rep_policy *turn;
    bw_probe *probe;        /* for CAND_PROBE */
    int quiesce_busy;       /* out: as rounds_rec's */
    double quiesce_max_s;
    double others_cpu, steal_cpu;
} rounds_cfg;

/* Waits, before a timed cell, until the process's other threads sleep
 * (at most QUIESCE_MAX_S; counted in R); returns how many still ran. */
int quiet_before_timing(void);

/* Primes every candidate once (its first call creates its workers, which
 * are then pinned), then runs cfg->rounds rounds, each candidate's turn after
 * bench_quiesce, the calling thread pinned to share 0 throughout. */
void run_rounds(round_cand *c, int nc, rounds_cfg *cfg);
/* Fills the row of candidate i: r->t over its per-round figures (reps: all
 * timed calls) and r->rr; the caller sets r->weight_bytes' basis with
 * fill_rates afterwards. */
void rounds_fill(result *r, const round_cand *c, int nc, int i, const rounds_cfg *cfg);

#endif
