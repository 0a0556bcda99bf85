/*
 * amxq-bench's command line: the usage text, the parsing of every option and
 * the defaults (full sweep, or --quick) for whatever was not given. The
 * weight types come from the library's table (cmdline.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bench_driver.h"

static int each_item(char *list, int (*fn)(const char *item, void *ctx), void *ctx) {
    return bench_each_item("amxq-bench", list, fn, ctx);
}

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
        "  --no-limits       skip the machine's bandwidth and vpdpbusd peak (and the decode rounds'\n"
        "                    read probe)\n"
        "  --min-time S      time each cell for at least S seconds (default 0.2; quick 0.05) ...\n"
        "  --min-reps N      ... and at least N calls (default 5; quick 3), the median is reported;\n"
        "  --max-time S      but stop after S seconds once 3 calls are in (default 1; quick 0.3)\n"
        "  --scalar-ops X    the scalar variant is timed on the first rows of W, as many as keep one\n"
        "                    call under X ops (2 per multiply-add, default 2e7), with 3+ calls per cell\n"
        "  --rotate-mib X    decode runs rotate weight copies totalling at least X MiB\n"
        "                    (default 4 x the last-level cache, at least 256 MiB)\n"
        "  --rounds N        decode cells (M <= %d): N rounds in which amxq's kernel(s), the read probe\n"
        "                    and oneDNN take turns back to back, the order rotating; the table gives the\n"
        "                    median round and the median [min-max] of the per-round ratios (default 7;\n"
        "                    quick 3; 0: time decode cells one after another, as larger M)\n"
        "  --round-time S    each candidate's turn in a round: >= S seconds and >= 3 calls after one\n"
        "                    warm-up (default 0.025; quick 0.015)\n"
        "  --quick           4096x4096 only, M = 1,32, shorter cells; options given explicitly\n"
        "                    override these choices\n"
        "  --seed N          weights and activations seed (default 1)\n"
        "  --numa LIST       compare NUMA placements instead (none,mirror,partition,interleave,auto):\n"
        "                    decode and prefill per policy in rounds, the bytes each puts on each node;\n"
        "                    the library pool's threads, no peers, no JSON\n"
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
        names, DECODE_MAX_M, DECODE_MAX_M, (int)amx_type_count());
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

static int add_threads(const char *s, void *ctx) {
    options *o = ctx;
    int lo, hi;
    if (!strcmp(s, "all")) {
        lo = 1;
        hi = o->nproc;
    } else if (!strcmp(s, "max")) {
        lo = hi = o->nproc;
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

int parse_options(int argc, char **argv, int nproc, options *o, int *list) {
    enum { O_TYPES = 256, O_SHAPES, O_M, O_THREADS, O_VARIANT, O_PEERS, O_NOLIMITS, O_MINTIME, O_MINREPS,
           O_MAXTIME, O_SCALAROPS, O_ROTATE, O_QUICK, O_SEED, O_JSON, O_LIST, O_ROUNDS, O_ROUNDTIME,
           O_NUMA };
    static const struct option lo[] = {
        {"types", required_argument, 0, O_TYPES},       {"shapes", required_argument, 0, O_SHAPES},
        {"m", required_argument, 0, O_M},               {"threads", required_argument, 0, O_THREADS},
        {"variant", required_argument, 0, O_VARIANT},   {"peers", required_argument, 0, O_PEERS},
        {"no-limits", no_argument, 0, O_NOLIMITS},      {"min-time", required_argument, 0, O_MINTIME},
        {"min-reps", required_argument, 0, O_MINREPS},  {"max-time", required_argument, 0, O_MAXTIME},
        {"scalar-ops", required_argument, 0, O_SCALAROPS}, {"rotate-mib", required_argument, 0, O_ROTATE},
        {"quick", no_argument, 0, O_QUICK},             {"seed", required_argument, 0, O_SEED},
        {"json", required_argument, 0, O_JSON},         {"list", no_argument, 0, O_LIST},
        {"rounds", required_argument, 0, O_ROUNDS},     {"round-time", required_argument, 0, O_ROUNDTIME},
        {"numa", required_argument, 0, O_NUMA},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    double min_time = -1, max_time = -1, min_reps = -1, rounds = -1, round_time = -1, v;
    int peers_given = 0;
    *o = (options){.nproc = nproc, .sel = SEL_AUTO, .limits = 1, .scalar_ops = 2e7, .seed = 1};
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
        case O_NUMA: o->n_numa = 0; if (!each_item(optarg, bench_add_numa, o)) return 2; break;
        case O_ROUNDS:
            if (!parse_double(optarg, 0, &rounds)) return 2;
            if (rounds > MAX_ROUNDS || rounds != (int)rounds) {
                fprintf(stderr, "amxq-bench: --rounds takes a whole number from 0 to %d\n", MAX_ROUNDS);
                return 2;
            }
            break;
        case O_ROUNDTIME: if (!parse_double(optarg, 0, &round_time)) return 2; break;
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
    o->rounds = rounds >= 0 ? (int)rounds : o->quick ? 3 : 7;
    /* a turn: one warm-up call (the first after another candidate's turn
     * finds cold TLBs and caches), then >= 3 calls and >= the turn time, at
     * most 4x that once 3 calls are in */
    const double turn = round_time >= 0 ? round_time : o->quick ? 0.015 : 0.025;
    o->turn_pol = (rep_policy){turn, 3, 4 * turn, 100000, 1};
    return 0;
}
