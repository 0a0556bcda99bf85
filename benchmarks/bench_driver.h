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
 */
#ifndef AMXQ_BENCH_DRIVER_H
#define AMXQ_BENCH_DRIVER_H

#include "bench.h"

#define MAX_LIST 64          /* items of each option's list */
#define DECODE_MAX_M 8       /* M up to this is decode-shaped: rotate weight copies, report GB/s */
#define CHECK_TOLERANCE 1e-3 /* max |y - y_scalar| / rms(y_scalar row) before a row is flagged */

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
    double scalar_ops;
    double rotate_bytes;
    uint64_t seed;
    const char *json;
} options;

/* Fills o from the command line (nproc: the CPUs available) and sets *list
 * for --list. Returns 0 to run, 1 to exit successfully (help), 2 on a usage
 * error (said on stderr). */
int parse_options(int argc, char **argv, int nproc, options *o, int *list);

/* ---- bench_sysinfo.c ----------------------------------------------------- */

int count_cpus(void);                     /* in this process's affinity mask */
size_t detect_llc(const char **source);   /* last-level cache bytes, and where the figure came from */
void cpu_model(char *out, size_t len);    /* "model name (family F model M)" */

/* ---- bench_report.c: what the run collects ------------------------------- */

typedef enum { R_AMXQ, R_ONEDNN, R_OPENBLAS } result_kind;

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

enum { PH_LIMITS, PH_GEN, PH_PACK, PH_AMXQ, PH_SCALAR, PH_ONEDNN, PH_OPENBLAS, PH_N };
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
    int n_limits, n_limits_end;
    char limits_why[200];
    char onednn_desc[256], openblas_desc[256];
    int onednn_ok, openblas_ok;
    double phase[PH_N];             /* seconds spent per phase */
} run_record;

extern run_record R;

result *new_result(void);   /* zeroed, gbps NAN, no pack record */
pack_rec *new_pack(void);   /* zeroed; its index is R.np - 1 */
/* Records why something was not run, and says so on stdout. */
void skip(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

double limit_bw(int threads);   /* the first measurement's median, NAN if none */
double limit_peak(int threads);
/* r's GOPS over the same cell's peer (kind; for R_AMXQ: its scalar variant),
 * NAN if that was not measured. */
double ratio_to(const result *r, result_kind kind, int scalar);
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
int write_json(const options *o, int argc, char **argv, size_t llc, const char *llc_src, double target,
               double total, const char *cpu);

#endif
