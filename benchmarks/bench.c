/*
 * amxq-bench: the measurements behind every speed figure of amxq.
 *
 * For each weight type, model shape (N x K), batch M and thread count it
 * packs model-like weights made in-process and times amx_gemm_q() on every
 * selected row of the dispatch table, and, in the same run and on the same
 * shapes, the machine's read bandwidth and vpdpbusd peak, the scalar
 * reference, oneDNN's int8 matmul and OpenBLAS sgemm, so every comparison is
 * a ratio of figures taken side by side. Output: a table on stdout, JSON for
 * scripts (--json), and plot.py turns the JSON into a PNG.
 *
 * The dispatch table (src/dispatch.h) is read directly because the public API
 * does not list kernel variants; everything else goes through amxq.h, so new
 * rows (VNNI, AMX) are measured as soon as they exist; the weight types are
 * the library's table (amx_type_at), so new types are too.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "../src/dispatch.h"

#define MAX_LIST 64
#define MAX_VARIANTS 8   /* table rows measured per type: one per ISA today */
#define DECODE_MAX_M 8      /* M up to this is decode-shaped: rotate weight copies, report GB/s */
#define MAX_COPIES 65536    /* rotation copies of one matrix, whatever its size */
#define SCALAR_MIN_ROWS 32  /* smallest row subset the scalar variant is timed on */
#define CHECK_TOLERANCE 1e-3 /* max |y - y_scalar| / rms(y_scalar row) before a row is flagged */

/* ---- options ------------------------------------------------------------- */

typedef enum { SEL_AUTO, SEL_ISA, SEL_ALL } variant_sel;

typedef struct {
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

static void usage(FILE *f) {
    char names[512];
    bench_type_names(names, sizeof names, ",");
    fprintf(f,
        "usage: amxq-bench [options]\n"
        "\n"
        "Times amx_gemm_q() on Llama-3-8B-shaped weights (made in-process, no downloads) for every\n"
        "selected kernel variant, next to the machine's read bandwidth and vpdpbusd peak, the scalar\n"
        "reference, oneDNN int8 matmul and OpenBLAS sgemm measured in the same run.\n"
        "\n"
        "  --types LIST      weight types: %s or all (default all)\n"
        "  --shapes LIST     N x K of the weights, e.g. 4096x4096,14336x4096 (default\n"
        "                    4096x4096,14336x4096,4096x14336: attention/output, FFN up/gate, FFN down)\n"
        "  --m LIST          activation rows M (default 1,8,32,128,512); M <= %d is decode-shaped:\n"
        "                    weight copies rotate beyond the last-level cache and GB/s is reported\n"
        "  --threads LIST    thread counts, numbers or 'max' (= CPUs available) or 'all' (1..max)\n"
        "                    (default 1,max)\n"
        "  --variant V       auto (what amx_pack_weights picks), scalar, avx512_vnni, amx, or all\n"
        "                    (every row of the dispatch table this machine can run) (default auto)\n"
        "  --peers LIST      scalar,onednn,openblas, all or none (default all)\n"
        "  --no-limits       skip the machine's bandwidth and vpdpbusd peak\n"
        "  --min-time S      time each cell for at least S seconds (default 0.2; quick 0.05) ...\n"
        "  --min-reps N      ... and at least N calls (default 5; quick 3), the median is reported;\n"
        "  --max-time S      but stop after S seconds once 3 calls are in (default 1; quick 0.3)\n"
        "  --scalar-ops X    the scalar variant is timed on the first rows of W, as many as keep one\n"
        "                    call under X ops (2 per multiply-add, default 2e7), with 3+ calls per cell\n"
        "  --rotate-mib X    decode runs rotate weight copies totalling at least X MiB\n"
        "                    (default 4 x the last-level cache)\n"
        "  --quick           4096x4096 only, M = 1,32, shorter cells; options given explicitly\n"
        "                    override these choices\n"
        "  --seed N          weights and activations seed (default 1)\n"
        "  --json FILE       write every measured number, with units, to FILE\n"
        "  --list            print the dispatch table and the CPU report, then exit\n"
        "  -h, --help        this text\n"
        "\n"
        "The default run is the full sweep at thread counts 1 and max: %d types x 3 shapes x 5 M,\n"
        "auto variant, all peers (a few minutes on 2 cores with the AVX-512 kernels, most of it\n"
        "in the peers and the M=512 cells). A full run on a larger machine adds --threads all\n"
        "--variant all (every thread count, every row of the table the CPU can run). Peer figures\n"
        "depend only on the shape, so they are measured once per (shape, M, threads) and compared\n"
        "with every type. plot.py draws the JSON:\n"
        "  amxq-bench --json out.json && python3 benchmarks/plot.py out.json -o out.png\n"
        "Exit status: 0 done, 1 error, 2 bad usage, 3 some kernel's output differed from the scalar\n"
        "reference (CHECK FAILED in the table).\n",
        names, DECODE_MAX_M, (int)amx_type_count());
}

static int each_item(char *list, int (*fn)(const char *item, void *ctx), void *ctx) {
    return bench_each_item("amxq-bench", list, fn, ctx);
}

static int add_shape(const char *s, void *ctx) {
    options *o = ctx;
    char *end;
    const long long n = strtoll(s, &end, 10);
    if (*end != 'x' && *end != 'X') return 0;
    const long long k = strtoll(end + 1, &end, 10);
    if (*end || n <= 0 || k <= 0 || o->n_shapes >= MAX_LIST) return 0;
    o->shape_n[o->n_shapes] = n;
    o->shape_k[o->n_shapes++] = k;
    return 1;
}

static int add_m(const char *s, void *ctx) {
    options *o = ctx;
    char *end;
    const long long m = strtoll(s, &end, 10);
    if (*end || m <= 0 || m > 65536 || o->n_ms >= MAX_LIST) return 0;
    o->ms[o->n_ms++] = m;
    return 1;
}

static int g_nproc = 1;

static int add_threads(const char *s, void *ctx) {
    options *o = ctx;
    int lo, hi;
    if (!strcmp(s, "all")) {
        lo = 1;
        hi = g_nproc;
    } else if (!strcmp(s, "max")) {
        lo = hi = g_nproc;
    } else {
        char *end;
        const long t = strtol(s, &end, 10);
        if (*end || t <= 0 || t > 1024) return 0;
        lo = hi = (int)t;
    }
    for (int t = lo; t <= hi; t++) {
        int dup = 0;
        for (int i = 0; i < o->n_threads; i++) dup |= o->threads[i] == t;
        if (dup) continue;
        if (o->n_threads >= MAX_LIST) return 0;
        o->threads[o->n_threads++] = t;
    }
    return 1;
}

static int add_peer(const char *s, void *ctx) {
    options *o = ctx;
    const int all = !strcmp(s, "all");
    if (!strcmp(s, "none")) {
        o->peer_scalar = o->peer_onednn = o->peer_openblas = 0;
        return 1;
    }
    if (all || !strcmp(s, "scalar")) o->peer_scalar = 1;
    if (all || !strcmp(s, "onednn")) o->peer_onednn = 1;
    if (all || !strcmp(s, "openblas")) o->peer_openblas = 1;
    return all || !strcmp(s, "scalar") || !strcmp(s, "onednn") || !strcmp(s, "openblas");
}

static int parse_double(const char *s, double lo, double *out) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (*end || errno || !(v >= lo)) {
        fprintf(stderr, "amxq-bench: bad number '%s'\n", s);
        return 0;
    }
    *out = v;
    return 1;
}

static int count_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Returns 0 to run, 1 to exit successfully (help, list), 2 on a usage error. */
static int parse_options(int argc, char **argv, options *o, int *list) {
    enum { O_TYPES = 256, O_SHAPES, O_M, O_THREADS, O_VARIANT, O_PEERS, O_NOLIMITS, O_MINTIME, O_MINREPS,
           O_MAXTIME, O_SCALAROPS, O_ROTATE, O_QUICK, O_SEED, O_JSON, O_LIST };
    static const struct option lo[] = {
        {"types", required_argument, 0, O_TYPES},       {"shapes", required_argument, 0, O_SHAPES},
        {"m", required_argument, 0, O_M},               {"threads", required_argument, 0, O_THREADS},
        {"variant", required_argument, 0, O_VARIANT},   {"peers", required_argument, 0, O_PEERS},
        {"no-limits", no_argument, 0, O_NOLIMITS},      {"min-time", required_argument, 0, O_MINTIME},
        {"min-reps", required_argument, 0, O_MINREPS},  {"max-time", required_argument, 0, O_MAXTIME},
        {"scalar-ops", required_argument, 0, O_SCALAROPS}, {"rotate-mib", required_argument, 0, O_ROTATE},
        {"quick", no_argument, 0, O_QUICK},             {"seed", required_argument, 0, O_SEED},
        {"json", required_argument, 0, O_JSON},         {"list", no_argument, 0, O_LIST},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    double min_time = -1, max_time = -1, min_reps = -1, v;
    int peers_given = 0;
    *o = (options){.sel = SEL_AUTO, .limits = 1, .scalar_ops = 2e7, .seed = 1};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_TYPES: o->types.n = 0; if (!each_item(optarg, bench_add_type, &o->types)) return 2; break;
        case O_SHAPES: o->n_shapes = 0; if (!each_item(optarg, add_shape, o)) return 2; break;
        case O_M: o->n_ms = 0; if (!each_item(optarg, add_m, o)) return 2; break;
        case O_THREADS: o->n_threads = 0; if (!each_item(optarg, add_threads, o)) return 2; break;
        case O_VARIANT:
            if (!strcmp(optarg, "auto")) o->sel = SEL_AUTO;
            else if (!strcmp(optarg, "all")) o->sel = SEL_ALL;
            else if (!strcmp(optarg, "scalar")) o->sel = SEL_ISA, o->sel_isa = AMX_ISA_SCALAR;
            else if (!strcmp(optarg, "avx512_vnni") || !strcmp(optarg, "vnni")) o->sel = SEL_ISA, o->sel_isa = AMX_ISA_AVX512_VNNI;
            else if (!strcmp(optarg, "amx")) o->sel = SEL_ISA, o->sel_isa = AMX_ISA_AMX;
            else { fprintf(stderr, "amxq-bench: unknown variant '%s'\n", optarg); return 2; }
            break;
        case O_PEERS:
            peers_given = 1;
            o->peer_scalar = o->peer_onednn = o->peer_openblas = 0;
            if (!each_item(optarg, add_peer, o)) return 2;
            break;
        case O_NOLIMITS: o->limits = 0; break;
        case O_MINTIME: if (!parse_double(optarg, 0, &min_time)) return 2; break;
        case O_MAXTIME: if (!parse_double(optarg, 0, &max_time)) return 2; break;
        case O_MINREPS: if (!parse_double(optarg, 1, &min_reps)) return 2; break;
        case O_SCALAROPS: if (!parse_double(optarg, 1, &o->scalar_ops)) return 2; break;
        case O_ROTATE: if (!parse_double(optarg, 0, &v)) return 2; o->rotate_bytes = v * 1048576.0; break;
        case O_QUICK: o->quick = 1; break;
        case O_SEED: if (!parse_double(optarg, 0, &v)) return 2; o->seed = (uint64_t)v; break;
        case O_JSON: o->json = optarg; break;
        case O_LIST: *list = 1; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amxq-bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    /* defaults for whatever was not given, the quick ones where --quick */
    if (!o->types.n) bench_add_type("all", &o->types);
    if (!o->n_shapes) {
        char s[] = "4096x4096,14336x4096,4096x14336", q[] = "4096x4096";
        each_item(o->quick ? q : s, add_shape, o);
    }
    if (!o->n_ms) {
        char s[] = "1,8,32,128,512", q[] = "1,32";
        each_item(o->quick ? q : s, add_m, o);
    }
    if (!o->n_threads) {
        char s[] = "1,max";
        each_item(s, add_threads, o);
    }
    if (!peers_given) o->peer_scalar = o->peer_onednn = o->peer_openblas = 1;
    o->pol = o->quick ? (rep_policy){0.05, 3, 0.3, 100000, 2} : (rep_policy){0.2, 5, 1.0, 100000, 2};
    o->scalar_pol = o->quick ? (rep_policy){0.02, 3, 0.15, 1000, 1} : (rep_policy){0.03, 3, 0.3, 1000, 1};
    if (min_time >= 0) o->pol.min_time = min_time;
    if (max_time >= 0) o->pol.max_time = max_time;
    if (min_reps >= 1) o->pol.min_reps = (int)min_reps;
    if (o->pol.max_time < o->pol.min_time) o->pol.max_time = o->pol.min_time;
    return 0;
}

/* ---- machine facts --------------------------------------------------------- */

static int read_line(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok) buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* Size of the last-level cache: the highest data/unified cache level sysfs
 * lists for cpu0 (sysconf's figure can be the whole package's, or missing
 * in virtual machines), then sysconf, then an assumption. */
static size_t detect_llc(const char **source) {
    size_t best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char path[128], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        if (!strcmp(buf, "Instruction")) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        const int level = atoi(buf);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        char *end;
        double sz = strtod(buf, &end);
        if (*end == 'K') sz *= 1024;
        else if (*end == 'M') sz *= 1048576;
        else if (*end == 'G') sz *= 1073741824.0;
        if (level > best_level && sz > 0) {
            best_level = level;
            best = (size_t)sz;
        }
    }
    if (best) {
        *source = "sysfs";
        return best;
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    long s = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (s <= 0) s = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (s > 0) {
        *source = "sysconf";
        return (size_t)s;
    }
#endif
    *source = "assumed (not found in sysfs or sysconf)";
    return (size_t)32 << 20;
}

/* "model name (family F model M)": hypervisors often mask the model name
 * ("AMD EPYC"), and the family/model numbers tell e.g. Zen 4 from Zen 5, whose
 * 512-bit VNNI rates differ by 2x. */
static void cpu_model(char *out, size_t len) {
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256], name[128] = "unknown";
    int family = -1, model = -1;
    while (fgets(line, sizeof line, f) && (family < 0 || model < 0 || !strcmp(name, "unknown"))) {
        const char *p = strchr(line, ':');
        if (!p) continue;
        for (p++; *p == ' '; p++) {}
        if (!strncmp(line, "model name", 10)) {
            snprintf(name, sizeof name, "%s", p);
            name[strcspn(name, "\n")] = 0;
        } else if (!strncmp(line, "cpu family", 10)) {
            family = atoi(p);
        } else if (!strncmp(line, "model\t", 6) || !strncmp(line, "model ", 6)) {
            model = atoi(p);
        }
    }
    fclose(f);
    snprintf(out, len, "%s (family %d model %d)", name, family, model);
}

/* ---- results ------------------------------------------------------------- */

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

static struct {
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
    double phase[8];
} R;

enum { PH_LIMITS, PH_GEN, PH_PACK, PH_AMXQ, PH_SCALAR, PH_ONEDNN, PH_OPENBLAS, PH_N };
static const char *const k_phase_names[PH_N] = {"machine limits", "weight generation", "packing",
                                                 "amxq", "scalar", "oneDNN", "OpenBLAS"};

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    *cap = *cap ? *cap * 2 : 64;
    if (*cap < need) *cap = need;
    p = realloc(p, *cap * elem);
    if (!p) {
        fprintf(stderr, "amxq-bench: out of memory\n");
        exit(1);
    }
    return p;
}

static result *new_result(void) {
    R.r = grow(R.r, &R.cap, R.n + 1, sizeof *R.r);
    result *r = &R.r[R.n++];
    memset(r, 0, sizeof *r);
    r->gbps = NAN;
    r->pack = -1;
    return r;
}

static void skip(const char *what, const char *fmt, ...) {
    R.s = grow(R.s, &R.caps, R.ns + 1, sizeof *R.s);
    skip_rec *s = &R.s[R.ns++];
    snprintf(s->what, sizeof s->what, "%s", what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    printf("  not run: %s: %s\n", s->what, s->why);
}

static const result *find_result(result_kind kind, int scalar, amx_type type, int64_t n, int64_t k, int64_t m,
                                 int threads) {
    for (size_t i = 0; i < R.n; i++) {
        const result *r = &R.r[i];
        if (r->kind != kind || r->n != n || r->k != k || r->m != m || r->threads != threads) continue;
        if (kind == R_AMXQ && (r->type != type || (strcmp(r->isa, "scalar") == 0) != scalar)) continue;
        return r;
    }
    return NULL;
}

static double limit_bw(int threads) {
    for (int i = 0; i < R.n_limits; i++)
        if (R.bw[i].threads == threads) return R.bw[i].median_gbps;
    return NAN;
}

static double limit_peak(int threads) {
    for (int i = 0; i < R.n_limits; i++)
        if (R.peak[i].threads == threads) return R.peak[i].median_gops;
    return NAN;
}

/* amxq / peer as a speed ratio (GOPS over GOPS: the scalar variant may have
 * been timed on fewer rows). */
static double ratio_to(const result *r, result_kind kind, int scalar) {
    const result *p = find_result(kind, scalar, r->type, r->n, r->k, r->m, r->threads);
    return p && p != r && p->gops > 0 ? r->gops / p->gops : NAN;
}

/* ---- table output ---------------------------------------------------------- */

static void fmt_time(char *buf, size_t len, double s) {
    if (s < 1e-3) snprintf(buf, len, "%.1f us", s * 1e6);
    else if (s < 1) snprintf(buf, len, "%.2f ms", s * 1e3);
    else snprintf(buf, len, "%.2f s", s);
}

static void fmt_num(char *buf, size_t len, double v, const char *f) {
    if (isfinite(v)) snprintf(buf, len, f, v);
    else snprintf(buf, len, "-");
}

static void print_table_head(void) {
    printf("%-6s %-11s %4s %3s  %-30s %-34s %-11s %6s %10s %8s %6s %7s %6s %8s %8s %8s\n", "type", "N x K", "M",
           "thr", "variant / peer", "kernel", "isa", "reps", "median", "GOPS", "%peak", "GB/s", "%bw", "xscalar",
           "xoneDNN", "xOpenBLAS");
}

static void print_result(const result *r) {
    char shape[48], what[128], med[24], gops[16], peak[16], gbps[16], bw[16], xs[16], xd[16], xb[16];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)r->n, (long long)r->k);
    if (r->n_meas < r->n)
        snprintf(what, sizeof what, "%s [rows %lld/%lld]", r->variant, (long long)r->n_meas, (long long)r->n);
    else
        snprintf(what, sizeof what, "%s", r->variant);
    fmt_time(med, sizeof med, r->t.median);
    fmt_num(gops, sizeof gops, r->gops, "%.1f");
    fmt_num(peak, sizeof peak, r->kind == R_OPENBLAS ? NAN : 100.0 * r->gops / limit_peak(r->threads), "%.1f%%");
    fmt_num(gbps, sizeof gbps, r->gbps, "%.1f");
    fmt_num(bw, sizeof bw, 100.0 * r->gbps / limit_bw(r->threads), "%.0f%%");
    const int cmp = r->kind == R_AMXQ && r->primary && strcmp(r->isa, "scalar") != 0;
    fmt_num(xs, sizeof xs, cmp ? ratio_to(r, R_AMXQ, 1) : NAN, "%.2f");
    fmt_num(xd, sizeof xd, r->kind == R_AMXQ && r->primary ? ratio_to(r, R_ONEDNN, 0) : NAN, "%.2f");
    fmt_num(xb, sizeof xb, r->kind == R_AMXQ && r->primary ? ratio_to(r, R_OPENBLAS, 0) : NAN, "%.2f");
    const char *type = r->kind == R_AMXQ ? amx_type_name(r->type) : r->kind == R_ONEDNN ? "s8" : "f32";
    printf("%-6s %-11s %4lld %3d  %-30s %-34s %-11s %6d %10s %8s %6s %7s %6s %8s %8s %8s", type, shape,
           (long long)r->m, r->threads, what, r->kernel, r->isa, r->t.reps, med, gops, peak, gbps, bw, xs, xd, xb);
    if (r->checked && !(r->check <= CHECK_TOLERANCE))
        printf("  CHECK FAILED: differs from the scalar output by %.2g x row rms", r->check);
    putchar('\n');
    fflush(stdout);
}

/* ---- amxq cells ------------------------------------------------------------ */

/* One kernel variant as measured for a type: the table row, how it is
 * packed (AUTO for --variant auto: what a user gets), and whether it was
 * selected or is the scalar comparison. */
typedef struct {
    const amx_variant *v;
    amx_isa pack_isa;
    int primary;
} choice;

/* Packed copies of the first `rows` rows. */
typedef struct {
    amx_weights **h;
    int copies;
    int64_t rows;
    size_t packed_bytes; /* of one copy */
} handle_set;

static void free_set(handle_set *s) {
    for (int i = 0; i < s->copies; i++) amx_weights_free(s->h[i]);
    free(s->h);
    memset(s, 0, sizeof *s);
}

/* Packs copies of rows [0, rows) until they total `target` bytes (at least
 * `min_copies`); pack times into secs (may be NULL). 0 on failure (printed). */
static int pack_set(handle_set *s, const choice *c, amx_type type, const uint8_t *gguf, int64_t rows, int64_t k,
                    double target, int min_copies, int threads, double **secs) {
    memset(s, 0, sizeof *s);
    s->rows = rows;
    const size_t bytes = bench_gguf_bytes(type, rows, k);
    const amx_pack_opts po = {.size = sizeof po, .isa = c->pack_isa, .n_threads = threads};
    int want = min_copies, cap = 0;
    for (int i = 0; i < want; i++) {
        if (i >= cap) {
            cap = cap ? 2 * cap : 16;
            s->h = realloc(s->h, (size_t)cap * sizeof *s->h);
            if (secs) *secs = realloc(*secs, (size_t)cap * sizeof **secs);
            if (!s->h || (secs && !*secs)) {
                fprintf(stderr, "amxq-bench: out of memory\n");
                exit(1);
            }
        }
        const double t0 = bench_now();
        const amx_status st = amx_pack_weights(type, rows, k, gguf, bytes, &po, &s->h[i]);
        if (secs) (*secs)[i] = bench_now() - t0;
        if (st != AMX_OK) {
            printf("  pack %s %lldx%lld failed: %s\n", c->v->name, (long long)rows, (long long)k, amx_status_str(st));
            s->copies = i;
            free_set(s);
            return 0;
        }
        s->copies = i + 1;
        if (i == 0) {
            amx_weights_info info = {.size = sizeof info};
            amx_weights_query(s->h[0], &info);
            s->packed_bytes = info.packed_bytes;
            /* enough copies that a decode run reads each from memory, not cache */
            const double need = ceil(target / (double)info.packed_bytes);
            want = (int)fmin(fmax(need, (double)min_copies), MAX_COPIES);
        }
    }
    return 1;
}

typedef struct {
    amx_weights **h;
    int copies;
    int64_t m, k;
    const float *x;
    float *y;
    int64_t ldy;
    amx_gemm_opts o;
    amx_status st;
} gemm_call;

static void gemm_fn(void *ctx, int64_t i) {
    gemm_call *c = ctx;
    const amx_status st = amx_gemm_q(c->h[i % c->copies], c->m, c->x, c->k, c->y, c->ldy, &c->o);
    if (st != AMX_OK) c->st = st;
}

/* Rows the scalar variant is timed on for m: all of them if one call stays
 * under the op budget, else a multiple of SCALAR_MIN_ROWS that does. */
static int64_t scalar_rows(const options *o, int64_t n, int64_t k, int64_t m) {
    const double per_row = 2.0 * (double)m * (double)k;
    if (per_row * (double)n <= o->scalar_ops) return n;
    int64_t rows = (int64_t)(o->scalar_ops / per_row) / SCALAR_MIN_ROWS * SCALAR_MIN_ROWS;
    if (rows < SCALAR_MIN_ROWS) rows = SCALAR_MIN_ROWS;
    return rows < n ? rows : n;
}

static double rms_rows(const float *y, int64_t m, int64_t cols, int64_t ld, int64_t i) {
    (void)m;
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += (double)y[i * ld + j] * y[i * ld + j];
    return sqrt(s / (double)cols);
}

/* Largest |y - ys| / rms(ys row) over the rows both computed; NAN if any
 * output is not finite. A benchmark that timed a wrong kernel would mislead. */
static double compare_outputs(const float *y, int64_t ldy, const float *ys, int64_t ldys, int64_t m, int64_t cols) {
    double worst = 0;
    for (int64_t i = 0; i < m; i++) {
        const double rms = rms_rows(ys, m, cols, ldys, i) + 1e-30;
        for (int64_t j = 0; j < cols; j++) {
            const double d = fabs((double)y[i * ldy + j] - (double)ys[i * ldys + j]) / rms;
            if (!isfinite(d)) return NAN;
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

/* ---- one shape ------------------------------------------------------------- */

typedef struct {
    const options *o;
    int64_t n, k, max_m;
    float *x;             /* max_m x k activations */
    float *y, *y_scalar;  /* max_m x n outputs */
    double target;        /* rotation bytes */
    int any_decode;
    int peers_ready;      /* peers set up (by the first type that runs) */
    onednn_peer *dnn;
    openblas_peer *blas;
    int dnn_copies, blas_copies;
} shape_ctx;

typedef struct {
    onednn_peer *p;
    int rotate;
} dnn_call;

static void dnn_fn(void *ctx, int64_t i) {
    dnn_call *c = ctx;
    onednn_run(c->p, c->rotate ? (int)(i % 1000000) : 0);
}

typedef struct {
    openblas_peer *p;
    int64_t m;
    int threads;
    int rotate;
} blas_call;

static void blas_fn(void *ctx, int64_t i) {
    blas_call *c = ctx;
    openblas_run(c->p, c->m, c->threads, c->rotate ? (int)(i % 1000000) : 0);
}

/* Idle thread pools of the previous measurement (OpenMP's, OpenBLAS's) may
 * still spin for a while; let them go to sleep before the next one. */
static void settle(void) {
    const struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void peers_setup(shape_ctx *s, amx_type type, const uint8_t *gguf) {
    const options *o = s->o;
    const int64_t n = s->n, k = s->k;
    if (o->peer_onednn && R.onednn_ok) {
        s->dnn = onednn_create(n, k, s->max_m, o->seed + 7);
        s->dnn_copies = s->any_decode ? (int)fmin(fmax(ceil(s->target / (double)(n * k)), 1), MAX_COPIES) : 1;
        if (!s->dnn) skip("oneDNN", "setup failed for %lldx%lld", (long long)n, (long long)k);
    }
    if (o->peer_openblas && R.openblas_ok) {
        const size_t bytes = (size_t)(n * k) * sizeof(float);
        float *w = malloc(bytes);
        if (!w || amx_dequantize(type, n * k, gguf, bench_gguf_bytes(type, n, k), w) != AMX_OK) {
            free(w);
            skip("OpenBLAS", "could not dequantize %s weights %lldx%lld", amx_type_name(type), (long long)n,
                 (long long)k);
            return;
        }
        s->blas_copies = s->any_decode ? (int)fmin(fmax(ceil(s->target / (double)bytes), 1), MAX_COPIES) : 1;
        s->blas = openblas_create(w, n, k, s->blas_copies, s->x, s->max_m);
        if (!s->blas) skip("OpenBLAS", "setup failed for %lldx%lld", (long long)n, (long long)k);
    }
}

static void fill_rates(result *r, double weight_bytes) {
    r->gops = 2.0 * (double)r->m * (double)r->n_meas * (double)r->k / r->t.median * 1e-9;
    r->weight_bytes = weight_bytes;
    if (r->m <= DECODE_MAX_M) r->gbps = weight_bytes / r->t.median * 1e-9;
}

static void measure_peers(shape_ctx *s, int64_t m, int threads) {
    const options *o = s->o;
    const int rotate = m <= DECODE_MAX_M;
    if (s->dnn) {
        char impl[96];
        double t0 = bench_now();
        if (onednn_prepare(s->dnn, m, threads, s->dnn_copies, impl, sizeof impl)) {
            R.phase[PH_ONEDNN] += bench_now() - t0;
            t0 = bench_now();
            dnn_call c = {s->dnn, rotate};
            result *r = new_result();
            r->kind = R_ONEDNN;
            snprintf(r->variant, sizeof r->variant, "oneDNN u8s8->f32 matmul");
            snprintf(r->kernel, sizeof r->kernel, "%s", impl);
            snprintf(r->isa, sizeof r->isa, "-");
            r->n = r->n_meas = s->n;
            r->k = s->k;
            r->m = m;
            r->threads = threads;
            r->copies = rotate ? s->dnn_copies : 1;
            r->t = bench_measure(dnn_fn, &c, &o->pol);
            fill_rates(r, (double)onednn_weight_bytes(s->dnn));
            print_result(r);
            settle();
        } else {
            skip("oneDNN", "%s (m=%lld, %d threads)", impl, (long long)m, threads);
        }
        R.phase[PH_ONEDNN] += bench_now() - t0;
    }
    if (s->blas) {
        const double t0 = bench_now();
        blas_call c = {s->blas, m, threads, rotate};
        result *r = new_result();
        r->kind = R_OPENBLAS;
        snprintf(r->variant, sizeof r->variant, "OpenBLAS sgemm (F32 W)");
        snprintf(r->kernel, sizeof r->kernel, "sgemm NT, core %s", openblas_core());
        snprintf(r->isa, sizeof r->isa, "-");
        r->n = r->n_meas = s->n;
        r->k = s->k;
        r->m = m;
        r->threads = threads;
        r->copies = rotate ? s->blas_copies : 1;
        r->t = bench_measure(blas_fn, &c, &o->pol);
        fill_rates(r, (double)(s->n * s->k) * sizeof(float));
        print_result(r);
        settle();
        R.phase[PH_OPENBLAS] += bench_now() - t0;
    }
}

/* The variants measured for a type (at most MAX_VARIANTS): the selected
 * ones, then the scalar comparison unless it is already among them. */
static int choose_variants(const options *o, amx_type type, choice *out) {
    size_t nv;
    const amx_variant *tab = amxq_variants(&nv);
    int n = 0, have_scalar = 0;
    const char *why;
    if (o->sel == SEL_AUTO) {
        const amx_variant *best = NULL;
        for (size_t i = 0; i < nv; i++)
            if (tab[i].type == type && amx_cpu_supports(tab[i].isa, NULL) && (!best || tab[i].isa > best->isa))
                best = &tab[i];
        if (best) out[n++] = (choice){best, AMX_ISA_AUTO, 1};
        else skip(amx_type_name(type), "no row of the dispatch table can run here");
    } else {
        for (size_t i = 0; i < nv; i++) {
            if (tab[i].type != type || (o->sel == SEL_ISA && tab[i].isa != o->sel_isa)) continue;
            if (!amx_cpu_supports(tab[i].isa, &why)) {
                skip(tab[i].name, "%s: %s", amx_isa_name(tab[i].isa), why);
                continue;
            }
            if (n < MAX_VARIANTS - 1) out[n++] = (choice){&tab[i], tab[i].isa, 1};
        }
        if (o->sel == SEL_ISA && !amxq_find_variant(type, o->sel_isa))
            skip(amx_type_name(type), "the dispatch table has no %s row for it yet", amx_isa_name(o->sel_isa));
    }
    for (int i = 0; i < n; i++) have_scalar |= out[i].v->isa == AMX_ISA_SCALAR;
    const amx_variant *ref = amxq_find_variant(type, AMX_ISA_SCALAR);
    if (o->peer_scalar && !have_scalar && ref) out[n++] = (choice){ref, AMX_ISA_SCALAR, 0};
    /* scalar first: its outputs check the others' */
    for (int i = 0; i < n; i++)
        if (out[i].v->isa == AMX_ISA_SCALAR && i > 0) {
            const choice t = out[0];
            out[0] = out[i];
            out[i] = t;
        }
    return n;
}

static void run_type(shape_ctx *s, amx_type type) {
    const options *o = s->o;
    const int64_t n = s->n, k = s->k, kb = k / amx_type_block_size(type);
    const size_t row_bytes = (size_t)kb * (size_t)amx_type_block_bytes(type), gguf_bytes = row_bytes * (size_t)n;
    int pack_threads = 1; /* packing happens at load time: with every thread the run uses */
    for (int i = 0; i < o->n_threads; i++) pack_threads = o->threads[i] > pack_threads ? o->threads[i] : pack_threads;
    char what[64];

    if (k % amx_type_block_size(type)) {
        snprintf(what, sizeof what, "%s %lldx%lld", amx_type_name(type), (long long)n, (long long)k);
        skip(what, "K is not a multiple of the block size %d", amx_type_block_size(type));
        return;
    }
    double t0 = bench_now();
    uint8_t *gguf = malloc(gguf_bytes);
    float *row = malloc((size_t)k * sizeof(float));
    if (!gguf || !row) {
        fprintf(stderr, "amxq-bench: out of memory\n");
        exit(1);
    }
    if (!bench_gen_weights(type, n, k, o->seed, gguf)) {
        free(gguf);
        free(row);
        skip(amx_type_name(type), "gen_weights.c has no generator for this type yet");
        return;
    }
    amx_dequantize(type, k, gguf, row_bytes, row);
    double rms = 0;
    for (int64_t j = 0; j < k; j++) rms += (double)row[j] * row[j];
    rms = sqrt(rms / (double)k);
    free(row);
    R.phase[PH_GEN] += bench_now() - t0;
    if (!isfinite(rms) || rms <= 0) {
        fprintf(stderr, "amxq-bench: generated %s weights are not finite\n", amx_type_name(type));
        exit(1);
    }
    /* peers depend on the shape only: measured once, next to the first type */
    const int with_peers = !s->peers_ready;
    if (with_peers) peers_setup(s, type, gguf);
    s->peers_ready = 1;

    choice ch[MAX_VARIANTS];
    const int nc = choose_variants(o, type, ch);
    handle_set full[MAX_VARIANTS];
    int packed[MAX_VARIANTS] = {0}, pack_rec_of[MAX_VARIANTS];
    memset(full, 0, sizeof full);
    for (int v = 0; v < nc; v++) {
        /* the full matrix, with the decode rotation copies; the pack time is
         * the median over those copies (at least 3). The scalar variant may
         * time only row subsets: then the full copies serve the pack time
         * alone and are dropped at once. */
        int full_used = ch[v].v->isa != AMX_ISA_SCALAR;
        for (int mi = 0; mi < o->n_ms; mi++) full_used |= scalar_rows(o, n, k, o->ms[mi]) == n;
        t0 = bench_now();
        double *secs = NULL;
        packed[v] = pack_set(&full[v], &ch[v], type, gguf, n, k, s->any_decode && full_used ? s->target : 0, 3,
                             pack_threads, &secs);
        R.phase[PH_PACK] += bench_now() - t0;
        if (!packed[v]) {
            free(secs);
            continue;
        }
        amx_weights_info info = {.size = sizeof info};
        amx_weights_query(full[v].h[0], &info);
        if (strcmp(info.kernel, ch[v].v->name) != 0)
            printf("  note: %s packed as %s, not the expected %s\n", amx_type_name(type), info.kernel, ch[v].v->name);
        R.p = grow(R.p, &R.capp, R.np + 1, sizeof *R.p);
        pack_rec_of[v] = (int)R.np;
        pack_rec *p = &R.p[R.np++];
        memset(p, 0, sizeof *p);
        snprintf(p->variant, sizeof p->variant, "%s", info.kernel);
        snprintf(p->layout, sizeof p->layout, "%s", info.layout);
        snprintf(p->isa, sizeof p->isa, "%s", amx_isa_name(info.isa));
        p->type = type;
        p->n = n;
        p->k = k;
        p->gguf_bytes = info.gguf_bytes;
        p->packed_bytes = info.packed_bytes;
        p->threads = pack_threads;
        p->reps = full[v].copies;
        p->copies = s->any_decode && full_used ? full[v].copies : 0;
        p->rms = rms;
        p->median_s = bench_median(secs, full[v].copies);
        p->min_s = secs[0];
        free(secs);
        char tm[24];
        fmt_time(tm, sizeof tm, p->median_s);
        printf("  pack %-14s %-6s layout %-10s GGUF %.2f MB -> packed %.2f MB (x%.3f); %s median of %d packs, "
               "%d thread(s), first touch of the new memory included; weights rms %.4f",
               p->variant, p->isa, p->layout, p->gguf_bytes * 1e-6, p->packed_bytes * 1e-6,
               (double)p->packed_bytes / (double)p->gguf_bytes, tm, p->reps, p->threads, p->rms);
        if (p->copies)
            printf("; decode rotates %d copies = %.0f MiB", full[v].copies,
                   (double)full[v].copies * (double)p->packed_bytes / 1048576.0);
        putchar('\n');
        if (!full_used) free_set(&full[v]);
    }

    for (int mi = 0; mi < o->n_ms; mi++) {
        const int64_t m = o->ms[mi];
        const int rotate = m <= DECODE_MAX_M;
        /* scalar row subsets depend on m only: pack them once per m */
        handle_set sub[MAX_VARIANTS];
        memset(sub, 0, sizeof sub);
        for (int ti = 0; ti < o->n_threads; ti++) {
            const int threads = o->threads[ti];
            if (with_peers) measure_peers(s, m, threads);
            const result *scalar_res = NULL;
            for (int v = 0; v < nc; v++) {
                if (!packed[v]) continue;
                const int scalar = ch[v].v->isa == AMX_ISA_SCALAR;
                const int64_t rows = scalar ? scalar_rows(o, n, k, m) : n;
                handle_set *hs = &full[v];
                if (rows < n) {
                    if (!sub[v].h) {
                        t0 = bench_now();
                        pack_set(&sub[v], &ch[v], type, gguf, rows, k, rotate ? s->target : 0, 1, pack_threads, NULL);
                        R.phase[PH_PACK] += bench_now() - t0;
                    }
                    hs = &sub[v];
                    if (!hs->h) continue;
                }
                t0 = bench_now();
                float *y = scalar ? s->y_scalar : s->y;
                gemm_call c = {hs->h, rotate ? hs->copies : 1, m, k, s->x, y, rows, {.size = sizeof(amx_gemm_opts), .n_threads = threads}, AMX_OK};
                result *r = new_result();
                r->kind = R_AMXQ;
                r->primary = ch[v].primary;
                r->pack = pack_rec_of[v];
                snprintf(r->variant, sizeof r->variant, "%s", ch[v].v->name);
                snprintf(r->kernel, sizeof r->kernel, "%s", amx_weights_kernel(hs->h[0], m));
                snprintf(r->isa, sizeof r->isa, "%s", amx_isa_name(ch[v].v->isa));
                r->type = type;
                r->n = n;
                r->k = k;
                r->n_meas = rows;
                r->m = m;
                r->threads = threads;
                r->copies = c.copies;
                r->t = bench_measure(gemm_fn, &c, scalar ? &o->scalar_pol : &o->pol);
                fill_rates(r, (double)row_bytes * (double)rows);
                if (c.st != AMX_OK) {
                    printf("  amx_gemm_q failed for %s: %s\n", r->variant, amx_status_str(c.st));
                    R.n--;
                    continue;
                }
                /*
                 * Instruction mix of the AMX rows: not here (this binary runs
                 * real tiles only) but in amxq-amx-mix, which runs the same
                 * kernels on the tile emulator and counts their tile and
                 * vector instructions per type; scripts/bench runs it after
                 * this benchmark (bench-results/amx-mix.json).
                 */
                if (scalar) {
                    scalar_res = r;
                } else if (scalar_res) {
                    const int64_t cols = scalar_res->n_meas < n ? scalar_res->n_meas : n;
                    r->checked = 1;
                    r->check = compare_outputs(s->y, n, s->y_scalar, scalar_res->n_meas, m, cols);
                }
                print_result(r);
                R.phase[scalar ? PH_SCALAR : PH_AMXQ] += bench_now() - t0;
            }
        }
        for (int v = 0; v < nc; v++) free_set(&sub[v]);
    }
    for (int v = 0; v < nc; v++) free_set(&full[v]);
    free(gguf);
}

static void run_shape(const options *o, int64_t n, int64_t k, double target) {
    shape_ctx s = {.o = o, .n = n, .k = k, .target = target};
    for (int i = 0; i < o->n_ms; i++) {
        s.max_m = o->ms[i] > s.max_m ? o->ms[i] : s.max_m;
        s.any_decode |= o->ms[i] <= DECODE_MAX_M;
    }
    s.x = malloc((size_t)(s.max_m * k) * sizeof(float));
    s.y = malloc((size_t)(s.max_m * n) * sizeof(float));
    s.y_scalar = malloc((size_t)(s.max_m * n) * sizeof(float));
    if (!s.x || !s.y || !s.y_scalar) {
        fprintf(stderr, "amxq-bench: out of memory\n");
        exit(1);
    }
    bench_gen_acts((size_t)(s.max_m * k), o->seed, s.x);
    printf("\n== weights N x K = %lld x %lld ==\n", (long long)n, (long long)k);
    print_table_head();
    for (int t = 0; t < o->types.n; t++) run_type(&s, o->types.t[t]);
    onednn_free(s.dnn);
    openblas_free(s.blas);
    free(s.x);
    free(s.y);
    free(s.y_scalar);
}

/* ---- machine limits -------------------------------------------------------- */

/* Measures the limits for every selected thread count; at_end: the second
 * time, into the _end arrays, with a warning if the machine changed speed. */
static void measure_limits(const options *o, size_t llc, int at_end) {
    const char *why = NULL;
    if (at_end && !R.n_limits) return;
    if (!o->limits) {
        snprintf(R.limits_why, sizeof R.limits_why, "skipped (--no-limits)");
    } else if (!amx_cpu_supports(AMX_ISA_AVX512_VNNI, &why)) {
        snprintf(R.limits_why, sizeof R.limits_why, "not measured: the AVX-512 probes need avx512_vnni (%s)", why);
    }
    if (R.limits_why[0]) {
        printf("\nmachine limits: %s\n", R.limits_why);
        return;
    }
    const double t0 = bench_now();
    /* much larger than the LLC, so the read streams from memory */
    size_t bytes = 8 * llc;
    if (bytes < ((size_t)256 << 20)) bytes = (size_t)256 << 20;
    const int reps = o->quick ? 5 : 11;
    bw_result *bw = at_end ? R.bw_end : R.bw;
    peak_result *peak = at_end ? R.peak_end : R.peak;
    printf("\nmachine limits %s (median of %d, best in brackets):\n",
           at_end ? "again at the end of the run (the ratios above use the first measurement)" : "measured now", reps);
    printf("  %7s  %-48s  %-40s\n", "threads", "read bandwidth (AVX-512 loads)", "vpdpbusd zmm peak");
    int drift = 0;
    for (int i = 0; i < o->n_threads; i++) {
        bw[i] = bench_read_bandwidth(o->threads[i], bytes, reps);
        peak[i] = bench_vpdpbusd_peak(o->threads[i], reps);
        *(at_end ? &R.n_limits_end : &R.n_limits) = i + 1;
        char a[64], b[64];
        snprintf(a, sizeof a, "%.1f GB/s (%.1f) over %.0f MiB", bw[i].median_gbps, bw[i].best_gbps,
                 (double)bytes / 1048576.0);
        snprintf(b, sizeof b, "%.0f GOPS (%.0f), %d chains", peak[i].median_gops, peak[i].best_gops, peak[i].chains);
        printf("  %7d  %-48s  %-40s\n", o->threads[i], a, b);
        if (at_end)
            drift |= fabs(bw[i].median_gbps / R.bw[i].median_gbps - 1) > 0.25 ||
                     fabs(peak[i].median_gops / R.peak[i].median_gops - 1) > 0.25;
    }
    if (drift)
        printf("  WARNING: more than 25%% away from the start of the run: the machine is shared or throttling;\n"
               "  ratios to the limits (and between figures taken minutes apart) are uncertain\n");
    R.phase[PH_LIMITS] += bench_now() - t0;
}

/* ---- reference figures ----------------------------------------------------- */

/* The fastest selected (non-scalar unless only scalar ran) amxq figure for a
 * reference cell, in the cell's unit. */
static const result *best_amxq(amx_type type, int64_t n, int64_t k, int64_t m, int threads) {
    const result *best = NULL;
    for (size_t i = 0; i < R.n; i++) {
        const result *r = &R.r[i];
        if (r->kind != R_AMXQ || !r->primary || r->type != type || r->n != n || r->k != k || r->m != m ||
            r->threads != threads)
            continue;
        if (!best || r->gops > best->gops) best = r;
    }
    return best;
}

static double ref_value(const result *r, const ref_figure *f) {
    return !strcmp(f->unit, "GB/s") ? r->gbps : r->gops;
}

/* The recorded figures as one small grid per source (columns = its cells,
 * listed in a legend), each type's row followed by amxq's ratio to it where
 * this run measured the same cell. */
static void print_reference(void) {
    size_t nf;
    const ref_figure *f = bench_reference(&nf);
    printf("\nPublished figures, for comparison: RECORDED, NOT MEASURED BY THIS RUN\n  %s\n", bench_reference_note);
    {
        char here[192];
        cpu_model(here, sizeof here);
        if (!strstr(here, bench_reference_cpu))
            printf("  WARNING: this machine is %s, not the %s the figures were recorded on:\n"
                   "  compare with them only as fractions of each machine's own peak and bandwidth\n",
                   here, bench_reference_cpu);
    }
    for (size_t g0 = 0; g0 < nf;) {
        size_t g1 = g0;
        while (g1 < nf && !strcmp(f[g1].source, f[g0].source) && !strcmp(f[g1].variant, f[g0].variant)) g1++;
        /* the group's columns, in order of first appearance */
        const ref_figure *cols[16];
        int nc = 0;
        for (size_t i = g0; i < g1; i++) {
            int seen = 0;
            for (int c = 0; c < nc; c++)
                seen |= cols[c]->m == f[i].m && cols[c]->n == f[i].n && cols[c]->k == f[i].k &&
                        cols[c]->threads == f[i].threads;
            if (!seen && nc < 16) cols[nc++] = &f[i];
        }
        printf("\n%s%s%s\n", f[g0].source, f[g0].variant[0] ? ", " : "", f[g0].variant);
        for (int c = 0; c < nc; c++)
            printf("  c%-2d M=%-4lld %lldx%lld %dT %s%s\n", c + 1, (long long)cols[c]->m, (long long)cols[c]->n,
                   (long long)cols[c]->k, cols[c]->threads, cols[c]->unit, cols[c]->m == 1 ? " (cold)" : "");
        printf("  %-16s", "type");
        for (int c = 0; c < nc; c++) {
            char label[8];
            snprintf(label, sizeof label, "c%d", c + 1);
            printf(" %8s", label);
        }
        putchar('\n');
        for (size_t i = g0; i < g1;) {
            size_t e = i;
            while (e < g1 && f[e].type == f[i].type) e++;
            double val[16], mine[16];
            int any_mine = 0;
            for (int c = 0; c < nc; c++) val[c] = mine[c] = NAN;
            for (size_t x = i; x < e; x++)
                for (int c = 0; c < nc; c++)
                    if (cols[c]->m == f[x].m && cols[c]->n == f[x].n && cols[c]->k == f[x].k &&
                        cols[c]->threads == f[x].threads) {
                        val[c] = f[x].value;
                        const result *r = best_amxq(f[x].type, f[x].n, f[x].k, f[x].m, f[x].threads);
                        if (r) {
                            mine[c] = ref_value(r, &f[x]) / f[x].value;
                            any_mine = 1;
                        }
                    }
            printf("  %-16s", amx_type_name(f[i].type));
            for (int c = 0; c < nc; c++) {
                char b[16];
                fmt_num(b, sizeof b, val[c], "%.1f");
                printf(" %8s", b);
            }
            putchar('\n');
            if (any_mine) {
                printf("  %-16s", "  amxq/ref");
                for (int c = 0; c < nc; c++) {
                    char b[16];
                    fmt_num(b, sizeof b, mine[c], "%.3f");
                    printf(" %8s", b);
                }
                putchar('\n');
            }
            i = e;
        }
        g0 = g1;
    }
}

/* ---- JSON ------------------------------------------------------------------ */

static void json_timing(json_w *j, const timing *t) {
    json_obj(j, "time_s");
    json_num(j, "median", t->median);
    json_num(j, "min", t->min);
    json_num(j, "q1", t->q1);
    json_num(j, "q3", t->q3);
    json_num(j, "max", t->max);
    json_num(j, "total", t->total);
    json_end(j);
    json_int(j, "reps", t->reps);
    json_int(j, "warmup", t->warmup);
}

static void json_policy(json_w *j, const char *key, const rep_policy *p) {
    json_obj(j, key);
    json_num(j, "min_time_s", p->min_time);
    json_int(j, "min_reps", p->min_reps);
    json_num(j, "max_time_s", p->max_time);
    json_int(j, "max_reps", p->max_reps);
    json_int(j, "warmup", p->warmup);
    json_end(j);
}

static void json_limit_list(json_w *j, const char *bw_key, const char *peak_key, const bw_result *bw,
                            const peak_result *peak, int n) {
    json_arr(j, bw_key);
    for (int i = 0; i < n; i++) {
        json_obj(j, NULL);
        json_str(j, "what", "AVX-512 read-only sum, 8 vpaddd accumulators, each thread its 1/T of one buffer");
        json_int(j, "threads", bw[i].threads);
        json_int(j, "buffer_bytes", (int64_t)bw[i].bytes);
        json_int(j, "reps", bw[i].reps);
        json_num(j, "median_gbps", bw[i].median_gbps);
        json_num(j, "best_gbps", bw[i].best_gbps);
        json_end(j);
    }
    json_end(j);
    json_arr(j, peak_key);
    for (int i = 0; i < n; i++) {
        json_obj(j, NULL);
        json_str(j, "what", "vpdpbusd zmm, independent accumulator chains per thread, 2*64 ops per instruction");
        json_int(j, "threads", peak[i].threads);
        json_int(j, "chains", peak[i].chains);
        json_int(j, "instructions_per_thread", (int64_t)peak[i].instructions);
        json_int(j, "reps", peak[i].reps);
        json_num(j, "median_gops", peak[i].median_gops);
        json_num(j, "best_gops", peak[i].best_gops);
        json_end(j);
    }
    json_end(j);
}

static int write_json(const options *o, int argc, char **argv, size_t llc, const char *llc_src, double target,
                      double total, const char *cpu) {
    json_w j;
    if (!json_open(&j, o->json, "amxq-bench")) return 0;
    json_obj(&j, NULL);
    json_str(&j, "schema", "amxq-bench/1");
    json_obj(&j, "units");
    json_str(&j, "time_s", "seconds per amx_gemm_q (or peer) call: median, min, quartiles, max over 'reps' timed calls after 'warmup' untimed ones");
    json_str(&j, "gops", "2*m*n_measured*k / median time, 1e9 per second (int8 ops for amxq and oneDNN, flops for OpenBLAS)");
    json_str(&j, "gbps", "weight bytes one call reads (GGUF bytes of the measured rows for amxq, s8 bytes for oneDNN, f32 bytes for OpenBLAS) / median time, 1e9 bytes per second; only for m <= 8");
    json_str(&j, "pct_peak", "gops / vpdpbusd zmm median peak at the same thread count, percent");
    json_str(&j, "pct_bw", "gbps / read bandwidth median at the same thread count, percent");
    json_str(&j, "x_scalar", "amxq gops / scalar variant gops, same type, shape, m, threads");
    json_str(&j, "x_onednn", "amxq gops / oneDNN u8s8->f32 matmul gops, same shape, m, threads");
    json_str(&j, "x_openblas", "amxq gops / OpenBLAS sgemm gflops, same shape, m, threads");
    json_str(&j, "check", "if checked: max |y - y_scalar| / rms(y_scalar row) over the rows both computed (null: non-finite output)");
    json_str(&j, "packed_over_gguf", "packed bytes of the full N x K matrix (header included) / its GGUF bytes");
    json_str(&j, "pack_median_s", "seconds per amx_pack_weights of the full N x K matrix, median over pack_reps packs, first touch of the new memory included");
    json_str(&j, "bytes", "bytes");
    json_end(&j);

    json_obj(&j, "run");
    json_str(&j, "amxq_version", amx_version_str());
    json_arr(&j, "argv");
    for (int i = 0; i < argc; i++) json_str(&j, NULL, argv[i]);
    json_end(&j);
    char date[64];
    const time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_str(&j, "date_utc", date);
    json_bool(&j, "quick", o->quick);
    json_num(&j, "total_s", total);
    json_obj(&j, "phase_s");
    for (int i = 0; i < PH_N; i++) json_num(&j, k_phase_names[i], R.phase[i]);
    json_end(&j);
    json_policy(&j, "rep_policy", &o->pol);
    json_policy(&j, "scalar_rep_policy", &o->scalar_pol);
    json_num(&j, "scalar_ops_per_call", o->scalar_ops);
    json_int(&j, "decode_max_m", DECODE_MAX_M);
    json_int(&j, "seed", (int64_t)o->seed);
    json_end(&j);

    json_obj(&j, "machine");
    json_str(&j, "cpu_model", cpu);
    json_str(&j, "cpu_report", amx_cpu_report());
    json_str(&j, "best_isa", amx_isa_name(amx_cpu_best_isa()));
    json_int(&j, "cpus", g_nproc);
    json_int(&j, "llc_bytes", (int64_t)llc);
    json_str(&j, "llc_source", llc_src);
    json_num(&j, "rotation_bytes", target);
    json_end(&j);

    json_obj(&j, "limits");
    json_bool(&j, "measured", R.n_limits > 0);
    json_str(&j, "why", R.limits_why[0] ? R.limits_why : NULL);
    json_limit_list(&j, "read_bandwidth", "vpdpbusd_zmm", R.bw, R.peak, R.n_limits);
    json_limit_list(&j, "read_bandwidth_end", "vpdpbusd_zmm_end", R.bw_end, R.peak_end, R.n_limits_end);
    json_end(&j);

    json_obj(&j, "peers");
    json_obj(&j, "onednn");
    json_bool(&j, "enabled", o->peer_onednn);
    json_bool(&j, "available", R.onednn_ok);
    json_str(&j, "description", R.onednn_desc);
    json_str(&j, "what", "u8 activations x s8 weights (reordered once, outside timing) -> f32 with per-column scales; activation quantization not timed");
    json_end(&j);
    json_obj(&j, "openblas");
    json_bool(&j, "enabled", o->peer_openblas);
    json_bool(&j, "available", R.openblas_ok);
    json_str(&j, "description", R.openblas_desc);
    json_str(&j, "core", R.openblas_ok ? openblas_core() : NULL);
    json_str(&j, "env_OPENBLAS_CORETYPE", getenv("OPENBLAS_CORETYPE"));
    json_str(&j, "what", "cblas_sgemm row-major, C = A * W^T on the dequantized F32 weights of the shape's first type");
    json_end(&j);
    json_bool(&j, "scalar", o->peer_scalar);
    json_end(&j);

    json_arr(&j, "packs");
    for (size_t i = 0; i < R.np; i++) {
        const pack_rec *p = &R.p[i];
        json_obj(&j, NULL);
        json_str(&j, "variant", p->variant);
        json_str(&j, "isa", p->isa);
        json_str(&j, "layout", p->layout);
        json_str(&j, "type", amx_type_name(p->type));
        json_int(&j, "n", p->n);
        json_int(&j, "k", p->k);
        json_int(&j, "gguf_bytes", (int64_t)p->gguf_bytes);
        json_int(&j, "packed_bytes", (int64_t)p->packed_bytes);
        json_num(&j, "packed_over_gguf", (double)p->packed_bytes / (double)p->gguf_bytes);
        json_int(&j, "pack_threads", p->threads);
        json_int(&j, "pack_reps", p->reps);
        json_num(&j, "pack_median_s", p->median_s);
        json_num(&j, "pack_min_s", p->min_s);
        json_int(&j, "decode_copies", p->copies);
        json_num(&j, "weights_rms", p->rms);
        json_end(&j);
    }
    json_end(&j);

    json_arr(&j, "results");
    for (size_t i = 0; i < R.n; i++) {
        const result *r = &R.r[i];
        json_obj(&j, NULL);
        json_str(&j, "what", r->kind == R_AMXQ ? "amxq" : r->kind == R_ONEDNN ? "onednn" : "openblas");
        if (r->kind == R_AMXQ) json_str(&j, "role", r->primary ? "selected" : "scalar_comparison");
        json_str(&j, "variant", r->variant);
        json_str(&j, "kernel", r->kernel);
        json_str(&j, "isa", r->isa);
        json_str(&j, "type", r->kind == R_AMXQ ? amx_type_name(r->type) : NULL);
        json_int(&j, "n", r->n);
        json_int(&j, "k", r->k);
        json_int(&j, "n_measured", r->n_meas);
        json_int(&j, "m", r->m);
        json_int(&j, "threads", r->threads);
        json_timing(&j, &r->t);
        json_num(&j, "gops", r->gops);
        json_num(&j, "gbps", r->gbps);
        json_num(&j, "weight_bytes", r->weight_bytes);
        json_int(&j, "weight_copies", r->copies);
        if (r->pack >= 0) {
            const pack_rec *p = &R.p[r->pack];
            json_num(&j, "packed_over_gguf", (double)p->packed_bytes / (double)p->gguf_bytes);
            json_num(&j, "pack_median_s", p->median_s);
        }
        json_num(&j, "pct_peak", r->kind == R_OPENBLAS ? NAN : 100.0 * r->gops / limit_peak(r->threads));
        json_num(&j, "pct_bw", 100.0 * r->gbps / limit_bw(r->threads));
        if (r->kind == R_AMXQ && r->primary) {
            json_num(&j, "x_scalar", strcmp(r->isa, "scalar") ? ratio_to(r, R_AMXQ, 1) : NAN);
            json_num(&j, "x_onednn", ratio_to(r, R_ONEDNN, 0));
            json_num(&j, "x_openblas", ratio_to(r, R_OPENBLAS, 0));
        }
        if (r->kind == R_AMXQ) {
            json_bool(&j, "checked", r->checked);
            json_num(&j, "check", r->check);
        }
        json_end(&j);
    }
    json_end(&j);

    json_arr(&j, "not_run");
    for (size_t i = 0; i < R.ns; i++) {
        json_obj(&j, NULL);
        json_str(&j, "what", R.s[i].what);
        json_str(&j, "why", R.s[i].why);
        json_end(&j);
    }
    json_end(&j);

    size_t nf;
    const ref_figure *fig = bench_reference(&nf);
    json_obj(&j, "reference");
    json_str(&j, "note", bench_reference_note);
    json_arr(&j, "figures");
    for (size_t i = 0; i < nf; i++) {
        const result *r = best_amxq(fig[i].type, fig[i].n, fig[i].k, fig[i].m, fig[i].threads);
        json_obj(&j, NULL);
        json_str(&j, "source", fig[i].source);
        json_str(&j, "path", fig[i].variant);
        json_str(&j, "type", amx_type_name(fig[i].type));
        json_int(&j, "n", fig[i].n);
        json_int(&j, "k", fig[i].k);
        json_int(&j, "m", fig[i].m);
        json_int(&j, "threads", fig[i].threads);
        json_num(&j, "value", fig[i].value);
        json_str(&j, "unit", fig[i].unit);
        json_num(&j, "amxq_value", r ? ref_value(r, &fig[i]) : NAN);
        json_str(&j, "amxq_variant", r ? r->variant : NULL);
        json_num(&j, "amxq_over_ref", r ? ref_value(r, &fig[i]) / fig[i].value : NAN);
        json_end(&j);
    }
    json_end(&j);
    json_end(&j);
    json_end(&j);
    return json_close(&j);
}

/* ---- main ------------------------------------------------------------------ */

static void print_list(void) {
    size_t nv;
    const amx_variant *tab = amxq_variants(&nv);
    printf("%s\n%-18s %-8s %-12s %-12s %s\n", amx_cpu_report(), "variant", "type", "isa", "layout", "runs here");
    for (size_t i = 0; i < nv; i++) {
        const char *why;
        const int ok = amx_cpu_supports(tab[i].isa, &why);
        printf("%-18s %-8s %-12s %-12s %s\n", tab[i].name, amx_type_name(tab[i].type), amx_isa_name(tab[i].isa),
               tab[i].layout, ok ? "yes" : why);
    }
}

int main(int argc, char **argv) {
    g_nproc = count_cpus();
    options o;
    int list = 0;
    const int pr = parse_options(argc, argv, &o, &list);
    if (pr) return pr == 1 ? 0 : 2;
    if (list) {
        print_list();
        return 0;
    }
    const double t_start = bench_now();
    const char *llc_src;
    const size_t llc = detect_llc(&llc_src);
    const double target = o.rotate_bytes > 0 ? o.rotate_bytes : 4.0 * (double)llc;
    char cpu[128];
    cpu_model(cpu, sizeof cpu);

    printf("amxq-bench %s: F32 activations x GGUF weights, y = x . W^T\n", amx_version_str());
    printf("cpu: %s, %d CPUs available; last-level cache %.0f MiB (%s)\n", cpu, g_nproc, (double)llc / 1048576.0,
           llc_src);
    printf("%s", amx_cpu_report());
    printf("timing: median over repeated calls after %d warm-up; each cell >= %d calls and >= %.2f s, "
           "or >= 3 calls once %.2f s are spent\n",
           o.pol.warmup, o.pol.min_reps, o.pol.min_time, o.pol.max_time);
    printf("scalar variant: rows of W limited so one call stays under %.2g ops, >= %d calls and >= %.2f s "
           "(or 3 calls once %.2f s); its table rows say which rows were timed\n",
           o.scalar_ops, o.scalar_pol.min_reps, o.scalar_pol.min_time, o.scalar_pol.max_time);
    printf("decode (M <= %d): each call reads the next of several packed weight copies totalling >= %.0f MiB "
           "(%.1fx LLC), so weights come from memory as in a model's layers; larger M reuse one copy\n",
           DECODE_MAX_M, target / 1048576.0, target / (double)llc);
    R.onednn_ok = o.peer_onednn && onednn_available(R.onednn_desc, sizeof R.onednn_desc);
    R.openblas_ok = o.peer_openblas && openblas_available(R.openblas_desc, sizeof R.openblas_desc);
    if (!o.peer_onednn) snprintf(R.onednn_desc, sizeof R.onednn_desc, "off (--peers)");
    if (!o.peer_openblas) snprintf(R.openblas_desc, sizeof R.openblas_desc, "off (--peers)");
    printf("peer oneDNN: %s\n", R.onednn_desc);
    if (R.onednn_ok) printf("  u8 activations x s8 weights -> f32, per-column scales; activation quantization not timed\n");
    printf("peer OpenBLAS: %s\n", R.openblas_desc);
    if (R.openblas_ok) {
        printf("  sgemm C = A * W^T on the dequantized F32 weights of each shape's first type\n");
        if (getenv("OPENBLAS_CORETYPE"))
            printf("  note: OPENBLAS_CORETYPE in the environment forces OpenBLAS's kernels; unset it to let OpenBLAS\n"
                   "  pick the best ones for this CPU (on AVX-512 machines a forced older core can be ~2x slower)\n");
    }
    printf("peer scalar: %s\n", o.peer_scalar ? "on (the reference kernels, same amx_gemm_q path)" : "off (--peers)");
    printf("ratios: xscalar / xoneDNN / xOpenBLAS = amxq GOPS / peer GOPS (> 1: amxq faster); %%peak = GOPS / "
           "vpdpbusd peak, %%bw = decode GB/s / read bandwidth, both at the same thread count\n");

    measure_limits(&o, llc, 0);
    for (int i = 0; i < o.n_shapes; i++) run_shape(&o, o.shape_n[i], o.shape_k[i], target);
    measure_limits(&o, llc, 1);
    print_reference();

    const double total = bench_now() - t_start;
    printf("\nrun time %.1f s:", total);
    for (int i = 0; i < PH_N; i++) printf(" %s %.1f s%s", k_phase_names[i], R.phase[i], i + 1 < PH_N ? "," : "\n");
    size_t failed = 0;
    for (size_t i = 0; i < R.n; i++) failed += R.r[i].checked && !(R.r[i].check <= CHECK_TOLERANCE);
    if (failed) printf("WARNING: %zu results differ from the scalar reference (see CHECK FAILED)\n", failed);
    if (o.json) {
        if (!write_json(&o, argc, argv, llc, llc_src, target, total, cpu)) return 1;
        printf("JSON: %s\n", o.json);
    }
    return failed ? 3 : 0;
}
