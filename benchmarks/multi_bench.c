/*
 * amxq-bench-multi: what quantizing x once for several handles saves.
 *
 * One Llama-3-8B layer's matrices that read the same x: QKV (Q 4096x4096,
 * K and V 1024x4096) and gate+up (14336x4096 each). For each M and thread
 * count, two candidates compute the same outputs:
 *   separate  one amx_gemm_q call per handle (x quantized once per handle)
 *   multi     one amx_gemm_q_multi call (x quantized once per sharing group)
 * They are interleaved in rounds (the order alternating from round to round),
 * so a change of machine load hits both; the ratio separate / multi is taken
 * within each round and its median (min-max over rounds) reported.
 *
 *   amxq-bench-multi [--types Q4_K | Q,K,V | Q,K,V,gate,up] [--m 1,512]
 *                    [--threads 1,2] [--rounds 7] [--isa auto|scalar|avx512_vnni|amx]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_W 5
#define MAX_LIST 16

typedef struct {
    const char *name;
    int count;
    int first; /* index into the layer's matrices */
} mat_set;

static const char *const mat_name[MAX_W] = {"Q", "K", "V", "gate", "up"};
static const int64_t mat_n[MAX_W] = {4096, 1024, 1024, 14336, 14336};
static const int64_t K_DIM = 4096;
static const mat_set sets[] = {{"QKV", 3, 0}, {"gate+up", 2, 3}};

typedef struct {
    const amx_weights *w[MAX_W];
    int count;
    int64_t m;
    const float *x;
    float *y[MAX_W];
    int64_t ldy[MAX_W];
    amx_gemm_opts opts;
} job;

static void die_status(const char *what, amx_status st) {
    fprintf(stderr, "amxq-bench-multi: %s: %s\n", what, amx_status_str(st));
    exit(1);
}

static void run_separate(void *ctx, int64_t i) {
    (void)i;
    job *j = ctx;
    for (int h = 0; h < j->count; h++) {
        const amx_status st = amx_gemm_q(j->w[h], j->m, j->x, K_DIM, j->y[h], j->ldy[h], &j->opts);
        if (st != AMX_OK) die_status("amx_gemm_q", st);
    }
}

static void run_multi(void *ctx, int64_t i) {
    (void)i;
    job *j = ctx;
    const amx_status st = amx_gemm_q_multi(j->w, j->count, j->m, j->x, K_DIM, j->y, j->ldy, &j->opts);
    if (st != AMX_OK) die_status("amx_gemm_q_multi", st);
}

typedef struct {
    int64_t v[MAX_LIST];
    int n;
} int_list;

static int add_int(const char *item, void *ctx) {
    int_list *l = ctx;
    char *end;
    const long long v = strtoll(item, &end, 10);
    if (*item == '\0' || *end != '\0' || v < 1 || v > 1 << 20 || l->n == MAX_LIST) return 0;
    l->v[l->n++] = v;
    return 1;
}

static void usage(FILE *f) {
    char names[512];
    bench_type_names(names, sizeof names, ", ");
    fprintf(f,
            "usage: amxq-bench-multi [--types T | Q,K,V | Q,K,V,gate,up] [--m LIST] [--threads LIST]\n"
            "                        [--rounds N] [--isa auto|scalar|avx512_vnni|amx]\n"
            "  one Llama-3-8B layer's QKV and gate+up, k = 4096: separate amx_gemm_q calls\n"
            "  against one amx_gemm_q_multi call, interleaved in rounds (defaults: Q4_K for all,\n"
            "  --m 1,512, --threads 1,2, --rounds 7)\n"
            "  types: %s\n",
            names);
}

static int parse_isa(const char *s, amx_isa *isa) {
    static const char *const names[] = {"auto", "scalar", "avx512_vnni", "amx"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *isa = (amx_isa)i;
            return 1;
        }
    return 0;
}

int main(int argc, char **argv) {
    type_list types = {.n = 0};
    int_list ms = {.v = {1, 512}, .n = 2}, ths = {.v = {1, 2}, .n = 2};
    int rounds = 7;
    amx_isa isa = AMX_ISA_AUTO;
    int types_set = 0, m_set = 0, th_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        char *copy = strdup(v);
        int ok = 1;
        if (strcmp(a, "--types") == 0 && !types_set) {
            ok = bench_each_item("amxq-bench-multi", copy, bench_add_type, &types);
            ok = ok && (types.n == 1 || types.n == 3 || types.n == 5);
            types_set = 1;
        } else if (strcmp(a, "--m") == 0 && !m_set) {
            ms.n = 0;
            ok = bench_each_item("amxq-bench-multi", copy, add_int, &ms);
            m_set = 1;
        } else if (strcmp(a, "--threads") == 0 && !th_set) {
            ths.n = 0;
            ok = bench_each_item("amxq-bench-multi", copy, add_int, &ths);
            th_set = 1;
        } else if (strcmp(a, "--rounds") == 0) {
            rounds = atoi(v);
            ok = rounds >= 1 && rounds <= 1000;
        } else if (strcmp(a, "--isa") == 0) {
            ok = parse_isa(v, &isa);
        } else {
            ok = 0;
        }
        free(copy);
        if (!ok) {
            fprintf(stderr, "amxq-bench-multi: bad option %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    /* one type: all five; three: Q, K, V (gate and up Q4_K); five: each */
    amx_type t[MAX_W];
    for (int i = 0; i < MAX_W; i++)
        t[i] = types.n == 0 ? AMX_TYPE_Q4_K : types.n == 1 ? types.t[0] : i < types.n ? types.t[i] : AMX_TYPE_Q4_K;

    int64_t max_m = 0;
    for (int i = 0; i < ms.n; i++)
        if (ms.v[i] > max_m) max_m = ms.v[i];
    float *x = malloc(sizeof *x * (size_t)(max_m * K_DIM));
    if (!x) return 1;
    bench_gen_acts((size_t)(max_m * K_DIM), 1, x);

    /* packed once: every call passes its own thread count in opts */
    amx_weights *w[MAX_W];
    for (int i = 0; i < MAX_W; i++) {
        const size_t bytes = bench_gguf_bytes(t[i], mat_n[i], K_DIM);
        void *gguf = malloc(bytes);
        if (!gguf || !bench_gen_weights(t[i], mat_n[i], K_DIM, 100 + (uint64_t)i, gguf)) {
            fprintf(stderr, "amxq-bench-multi: no weights for %s\n", amx_type_name(t[i]));
            return 1;
        }
        amx_pack_opts po = {.size = sizeof po, .isa = isa, .n_threads = 2};
        const amx_status st = amx_pack_weights(t[i], mat_n[i], K_DIM, gguf, bytes, &po, &w[i]);
        free(gguf);
        if (st != AMX_OK) die_status("amx_pack_weights", st);
    }
    float *y[MAX_W];
    for (int i = 0; i < MAX_W; i++) {
        y[i] = malloc(sizeof *y[i] * (size_t)(max_m * mat_n[i]));
        if (!y[i]) return 1;
    }

    printf("amxq-bench-multi: k = %lld; Q %lld, K %lld, V %lld, gate %lld, up %lld rows; %d rounds\n",
           (long long)K_DIM, (long long)mat_n[0], (long long)mat_n[1], (long long)mat_n[2], (long long)mat_n[3],
           (long long)mat_n[4], rounds);
    for (int i = 0; i < MAX_W; i++) {
        amx_weights_info info = {.size = sizeof info};
        amx_weights_query(w[i], &info);
        printf("  %-4s %-6s %s, kernel at M=1 %s, at M=512 %s\n", mat_name[i], amx_type_name(t[i]),
               amx_isa_name(info.isa), amx_weights_kernel(w[i], 1), amx_weights_kernel(w[i], 512));
    }
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
        const mat_set *ms_ = &sets[s];
        int groups = 0;
        for (int i = 0; i < ms_->count; i++) {
            int lead = 1;
            for (int j = 0; j < i; j++)
                if (amx_weights_share_activations(w[ms_->first + j], w[ms_->first + i])) lead = 0;
            groups += lead;
        }
        printf("  %s: %d handles, %d quantization%s of x in the multi call\n", ms_->name, ms_->count, groups,
               groups == 1 ? "" : "s");
    }
    printf("\n%-8s %5s %3s  %12s %12s  %-22s\n", "set", "M", "T", "separate ms", "multi ms",
           "separate/multi (min-max)");

    /* short turns: the candidates alternate often; M = 512 calls are long
     * enough that one or two timed calls per turn say it */
    const rep_policy pol = {.min_time = 0.05, .min_reps = 2, .max_time = 0.3, .max_reps = 200, .warmup = 1};
    double *tsep = malloc(sizeof(double) * (size_t)rounds), *tmul = malloc(sizeof(double) * (size_t)rounds),
           *ratio = malloc(sizeof(double) * (size_t)rounds);
    if (!tsep || !tmul || !ratio) return 1;
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
        for (int mi = 0; mi < ms.n; mi++) {
            for (int ti = 0; ti < ths.n; ti++) {
                job j = {.count = sets[s].count, .m = ms.v[mi], .x = x};
                j.opts = (amx_gemm_opts){.size = sizeof j.opts, .n_threads = (int32_t)ths.v[ti]};
                for (int h = 0; h < j.count; h++) {
                    j.w[h] = w[sets[s].first + h];
                    j.y[h] = y[sets[s].first + h];
                    j.ldy[h] = mat_n[sets[s].first + h];
                }
                for (int r = 0; r < rounds; r++) {
                    timing a, b;
                    if (r % 2 == 0) {
                        a = bench_measure(run_separate, &j, &pol);
                        b = bench_measure(run_multi, &j, &pol);
                    } else {
                        b = bench_measure(run_multi, &j, &pol);
                        a = bench_measure(run_separate, &j, &pol);
                    }
                    tsep[r] = a.median;
                    tmul[r] = b.median;
                    ratio[r] = a.median / b.median;
                }
                const timing rs = bench_summary(ratio, rounds);
                const double sep = bench_median(tsep, rounds), mul = bench_median(tmul, rounds);
                printf("%-8s %5lld %3lld  %12.3f %12.3f  %.3f (%.3f-%.3f)\n", sets[s].name, (long long)j.m,
                       (long long)ths.v[ti], sep * 1e3, mul * 1e3, rs.median, rs.min, rs.max);
                fflush(stdout);
            }
        }
    }
    free(tsep);
    free(tmul);
    free(ratio);
    for (int i = 0; i < MAX_W; i++) {
        amx_weights_free(w[i]);
        free(y[i]);
    }
    free(x);
    return 0;
}
