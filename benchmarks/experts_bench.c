/*
 * amxq-bench-experts: the expert multiply (amx_gemm_q_experts) against what
 * an engine does without it.
 *
 * Two expert layers: Mixtral-8x7B-shaped (8 experts, top-2, n = 14336,
 * k = 4096) and Qwen3-30B-A3B-shaped (128 experts, top-8, n = 768,
 * k = 2048), with random top-k routing (distinct experts per row, a fixed
 * seed). For each M and thread count, two candidates compute the same
 * outputs, in ggml's mul_mat_id layout:
 *   loop     per expert with rows: gather its rows of x, one amx_gemm_q on
 *            that expert packed as its own matrix, scatter the products to
 *            their slots (x quantized once per expert it goes to)
 *   experts  one amx_gemm_q_experts call on the expert handle
 * They are interleaved in rounds (the order alternating), and the ratio
 * loop / experts is taken within each round; its median (min-max over the
 * rounds) is reported. Memory: each layer's weights twice (the handle and
 * the per-expert matrices), about 0.6 GB for Q4_K.
 *
 *   amxq-bench-experts [--type Q4_K] [--m 1,32,512] [--threads 1,2] [--rounds 7]
 *                      [--layers mixtral,qwen3] [--isa auto|scalar|avx512_vnni|amx]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_LIST 16

typedef struct {
    const char *name;
    int64_t n_expert, top, n, k;
} layer;

static const layer layers[] = {{"mixtral", 8, 2, 14336, 4096}, {"qwen3", 128, 8, 768, 2048}};

typedef struct {
    const layer *L;
    const amx_weights *h;     /* the expert handle */
    amx_weights **each;       /* each expert as a matrix */
    int64_t m;
    const float *x;
    const int32_t *ids;
    float *y;                 /* m * top rows of n */
    float *xs, *ys;           /* the loop's gather and product buffers */
    amx_gemm_opts opts;
} job;

static void die_status(const char *what, amx_status st) {
    fprintf(stderr, "amxq-bench-experts: %s: %s\n", what, amx_status_str(st));
    exit(1);
}

static void run_loop(void *ctx, int64_t i) {
    (void)i;
    job *j = ctx;
    const layer *L = j->L;
    const int64_t t = j->m * L->top;
    for (int64_t e = 0; e < L->n_expert; e++) {
        int64_t c = 0;
        for (int64_t s = 0; s < t; s++)
            if (j->ids[s] == e) memcpy(j->xs + c++ * L->k, j->x + s / L->top * L->k, sizeof(float) * (size_t)L->k);
        if (!c) continue;
        const amx_status st = amx_gemm_q(j->each[e], c, j->xs, L->k, j->ys, L->n, &j->opts);
        if (st != AMX_OK) die_status("amx_gemm_q", st);
        c = 0;
        for (int64_t s = 0; s < t; s++)
            if (j->ids[s] == e) memcpy(j->y + s * L->n, j->ys + c++ * L->n, sizeof(float) * (size_t)L->n);
    }
}

static void run_experts(void *ctx, int64_t i) {
    (void)i;
    job *j = ctx;
    const amx_status st =
        amx_gemm_q_experts(j->h, j->m, j->x, j->L->k, j->ids, (int32_t)j->L->top, j->y, j->L->n, &j->opts);
    if (st != AMX_OK) die_status("amx_gemm_q_experts", st);
}

typedef struct {
    int64_t v[MAX_LIST];
    int n;
} int_list;

static int add_int(const char *item, void *ctx) {
    int_list *l = ctx;
    char *end;
    const long long v = strtoll(item, &end, 10);
    if (*item == '\0' || *end != '\0' || v < 1 || v > 1 << 16 || l->n == MAX_LIST) return 0;
    l->v[l->n++] = v;
    return 1;
}

static int add_layer(const char *item, void *ctx) {
    int *mask = ctx;
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        if (strcmp(item, layers[i].name) == 0) {
            *mask |= 1 << i;
            return 1;
        }
    return 0;
}

static void usage(FILE *f) {
    char names[512];
    bench_type_names(names, sizeof names, ", ");
    fprintf(f,
            "usage: amxq-bench-experts [--type T] [--m LIST] [--threads LIST] [--rounds N]\n"
            "                          [--layers mixtral,qwen3] [--isa auto|scalar|avx512_vnni|amx]\n"
            "  expert layers (mixtral: 8 experts, top-2, 14336 x 4096; qwen3: 128 experts, top-8,\n"
            "  768 x 2048): a loop of amx_gemm_q calls (gather, multiply, scatter per expert)\n"
            "  against one amx_gemm_q_experts call, interleaved in rounds (defaults: Q4_K,\n"
            "  --m 1,32,512, --threads 1,2, --rounds 7, both layers)\n"
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

/* Top-k distinct experts per row, from a fixed seed. */
static void route(const layer *L, int64_t m, uint64_t seed, int32_t *ids) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t s = 0; s < L->top; s++) {
            int32_t v;
            int seen;
            do {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                v = (int32_t)((seed >> 33) % (uint64_t)L->n_expert);
                seen = 0;
                for (int64_t q = 0; q < s; q++) seen |= ids[i * L->top + q] == v;
            } while (seen);
            ids[i * L->top + s] = v;
        }
}

static void bench_layer(const layer *L, amx_type type, amx_isa isa, const int_list *ms, const int_list *ths,
                        int rounds) {
    const size_t per = bench_gguf_bytes(type, L->n, L->k);
    uint8_t *gguf = malloc(per * (size_t)L->n_expert);
    if (!gguf) die_status("weights", AMX_ERR_NO_MEMORY);
    for (int64_t e = 0; e < L->n_expert; e++)
        if (!bench_gen_weights(type, L->n, L->k, 300 + (uint64_t)e, gguf + per * (size_t)e)) {
            fprintf(stderr, "amxq-bench-experts: no weights for %s\n", amx_type_name(type));
            exit(1);
        }
    const amx_pack_opts po = {.size = sizeof po, .isa = isa, .n_threads = 2};
    amx_weights *h;
    amx_status st = amx_pack_experts(type, L->n_expert, L->n, L->k, gguf, per * (size_t)L->n_expert, &po, &h);
    if (st != AMX_OK) die_status("amx_pack_experts", st);
    amx_weights **each = calloc((size_t)L->n_expert, sizeof *each);
    for (int64_t e = 0; e < L->n_expert; e++)
        if ((st = amx_pack_weights(type, L->n, L->k, gguf + per * (size_t)e, per, &po, &each[e])) != AMX_OK)
            die_status("amx_pack_weights", st);
    free(gguf);

    int64_t max_m = 0;
    for (int i = 0; i < ms->n; i++)
        if (ms->v[i] > max_m) max_m = ms->v[i];
    const int64_t max_t = max_m * L->top;
    float *x = malloc(sizeof *x * (size_t)(max_m * L->k)), *xs = malloc(sizeof *xs * (size_t)(max_t * L->k));
    float *y = malloc(sizeof *y * (size_t)(max_t * L->n)), *ys = malloc(sizeof *ys * (size_t)(max_t * L->n));
    int32_t *ids = malloc(sizeof *ids * (size_t)max_t);
    if (!x || !xs || !y || !ys || !ids) die_status("buffers", AMX_ERR_NO_MEMORY);
    bench_gen_acts((size_t)(max_m * L->k), 7, x);

    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(h, &info);
    printf("\n%s: %lld experts of %s %lld x %lld, top-%lld, %s; %.1f MB packed\n", L->name, (long long)L->n_expert,
           amx_type_name(type), (long long)L->n, (long long)L->k, (long long)L->top, amx_isa_name(info.isa),
           (double)info.packed_bytes / 1e6);
    printf("%5s %3s  %-26s %12s %12s  %-22s\n", "M", "T", "kernel (rows per expert)", "loop ms", "experts ms",
           "loop/experts (min-max)");
    const rep_policy pol = {.min_time = 0.05, .min_reps = 2, .max_time = 0.3, .max_reps = 200, .warmup = 1};
    double *tl = malloc(sizeof(double) * (size_t)rounds), *te = malloc(sizeof(double) * (size_t)rounds),
           *ratio = malloc(sizeof(double) * (size_t)rounds);
    for (int mi = 0; mi < ms->n; mi++) {
        const int64_t m = ms->v[mi];
        route(L, m, 0x5eed + (uint64_t)m, ids);
        /* the rows the busiest expert gets, for the kernel name */
        int64_t most = 0;
        for (int64_t e = 0; e < L->n_expert; e++) {
            int64_t c = 0;
            for (int64_t s = 0; s < m * L->top; s++) c += ids[s] == e;
            if (c > most) most = c;
        }
        for (int ti = 0; ti < ths->n; ti++) {
            job j = {.L = L, .h = h, .each = each, .m = m, .x = x, .ids = ids, .y = y, .xs = xs, .ys = ys};
            j.opts = (amx_gemm_opts){.size = sizeof j.opts, .n_threads = (int32_t)ths->v[ti]};
            for (int r = 0; r < rounds; r++) {
                timing a, b;
                if (r % 2 == 0) {
                    a = bench_measure(run_loop, &j, &pol);
                    b = bench_measure(run_experts, &j, &pol);
                } else {
                    b = bench_measure(run_experts, &j, &pol);
                    a = bench_measure(run_loop, &j, &pol);
                }
                tl[r] = a.median;
                te[r] = b.median;
                ratio[r] = a.median / b.median;
            }
            const timing rs = bench_summary(ratio, rounds);
            char kern[64];
            snprintf(kern, sizeof kern, "%s (%lld)", amx_weights_kernel(each[0], most), (long long)most);
            printf("%5lld %3lld  %-26s %12.3f %12.3f  %.3f (%.3f-%.3f)\n", (long long)m, (long long)ths->v[ti], kern,
                   bench_median(tl, rounds) * 1e3, bench_median(te, rounds) * 1e3, rs.median, rs.min, rs.max);
            fflush(stdout);
        }
    }
    free(tl), free(te), free(ratio);
    free(x), free(xs), free(y), free(ys), free(ids);
    for (int64_t e = 0; e < L->n_expert; e++) amx_weights_free(each[e]);
    free(each);
    amx_weights_free(h);
}

int main(int argc, char **argv) {
    type_list types = {.n = 0};
    int_list ms = {.v = {1, 32, 512}, .n = 3}, ths = {.v = {1, 2}, .n = 2};
    int rounds = 7, layer_mask = 0;
    amx_isa isa = AMX_ISA_AUTO;
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
        if (strcmp(a, "--type") == 0 && types.n == 0) {
            ok = bench_each_item("amxq-bench-experts", copy, bench_add_type, &types) && types.n == 1;
        } else if (strcmp(a, "--m") == 0) {
            ms.n = 0;
            ok = bench_each_item("amxq-bench-experts", copy, add_int, &ms);
        } else if (strcmp(a, "--threads") == 0) {
            ths.n = 0;
            ok = bench_each_item("amxq-bench-experts", copy, add_int, &ths);
        } else if (strcmp(a, "--rounds") == 0) {
            rounds = atoi(v);
            ok = rounds >= 1 && rounds <= 1000;
        } else if (strcmp(a, "--layers") == 0) {
            ok = bench_each_item("amxq-bench-experts", copy, add_layer, &layer_mask);
        } else if (strcmp(a, "--isa") == 0) {
            ok = parse_isa(v, &isa);
        } else {
            ok = 0;
        }
        free(copy);
        if (!ok) {
            fprintf(stderr, "amxq-bench-experts: bad option %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    const amx_type type = types.n ? types.t[0] : AMX_TYPE_Q4_K;
    printf("amxq-bench-experts: %s, %d rounds, loop = gather + amx_gemm_q + scatter per expert\n",
           amx_type_name(type), rounds);
    for (size_t l = 0; l < sizeof layers / sizeof *layers; l++)
        if (!layer_mask || (layer_mask >> l & 1)) bench_layer(&layers[l], type, isa, &ms, &ths, rounds);
    return 0;
}
