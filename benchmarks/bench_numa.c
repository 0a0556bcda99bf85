/*
 * amxq-bench --numa LIST: the same weights packed under each NUMA placement
 * policy (amx_pack_opts.numa), timed in rounds in which every policy takes a
 * turn, the order rotating, so that the ratios to the first policy compare
 * figures taken a fraction of a second apart. Decode rows (M <= DECODE_MAX_M)
 * rotate over weight copies totalling the decode target, so weights come
 * from memory; prefill rows reuse one copy. Each policy's row says what was
 * placed (a node short of memory makes placement fall back) and the bytes on
 * each node.
 *
 * Threads are the library pool's, which pins its workers per node on a
 * machine with several: the benchmark pins nothing in this mode. On one node
 * every policy places like none, and the rows only show the noise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_driver.h"

static const char *policy_name(amx_numa_policy p) {
    static const char *const names[] = {"auto", "none", "mirror", "partition", "interleave"};
    return p >= AMX_NUMA_AUTO && p <= AMX_NUMA_INTERLEAVE ? names[p] : "?";
}

int bench_add_numa(const char *item, void *ctx) {
    options *o = ctx;
    for (int p = AMX_NUMA_AUTO; p <= AMX_NUMA_INTERLEAVE; p++)
        if (!strcmp(item, policy_name((amx_numa_policy)p)) && o->n_numa < MAX_LIST) {
            o->numa[o->n_numa++] = (amx_numa_policy)p;
            return 1;
        }
    return 0;
}

typedef struct {
    amx_weights **w;
    int copies;
    int64_t m;
    const float *x;
    float *y;
    amx_gemm_opts opts;
} call_ctx;

static void one_call(void *ctx, int64_t i) {
    const call_ctx *c = ctx;
    const amx_weights *w = c->w[i % c->copies];
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(w, &info);
    amx_gemm_q(w, c->m, c->x, info.k, c->y, info.n, &c->opts);
}

static void print_placement(const amx_weights *w, amx_numa_policy asked) {
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(w, &info);
    printf("  %-10s placed %-10s", policy_name(asked), policy_name(info.numa_policy));
    if (info.numa_flags & AMX_NUMA_FELL_BACK)
        printf(" (fell back from %s: a node lacked memory)", policy_name(info.numa_requested));
    if (!info.numa_node_count) printf(" bytes per node: as the kernel places them (first touch)");
    for (int32_t i = 0; i < info.numa_node_count; i++)
        printf("%s node %d %.1f MiB", i ? "," : " bytes per node:", info.numa_nodes[i],
               (double)info.numa_node_bytes[i] / 1048576.0);
    printf("\n");
}

int bench_numa_run(const options *o, double target_bytes) {
    const int np = o->n_numa;
    printf("NUMA placement: policies %s", policy_name(o->numa[0]));
    for (int p = 1; p < np; p++) printf(",%s", policy_name(o->numa[p]));
    printf("; %d rounds of one turn per policy (>= %.3f s each), ratios to %s within each round\n",
           o->rounds > 0 ? o->rounds : 3, o->turn_pol.min_time, policy_name(o->numa[0]));
    int bad = 0;
    for (int ti = 0; ti < o->types.n; ti++) {
        const amx_type t = o->types.t[ti];
        for (int si = 0; si < o->n_shapes; si++) {
            const int64_t n = o->shape_n[si], k = o->shape_k[si];
            const int32_t block = amx_type_block_size(t);
            if (k % block) continue;
            const size_t gb = bench_gguf_bytes(t, n, k);
            uint8_t *g = malloc(gb);
            if (!g || !bench_gen_weights(t, n, k, o->seed, g)) {
                free(g);
                continue;
            }
            int64_t max_m = 1;
            for (int mi = 0; mi < o->n_ms; mi++) max_m = o->ms[mi] > max_m ? o->ms[mi] : max_m;
            const int copies = (int)fmin(64.0, fmax(1.0, ceil(target_bytes / (double)gb)));
            amx_weights **w = calloc((size_t)np * (size_t)copies, sizeof *w);
            float *x = malloc(sizeof(float) * (size_t)(max_m * k));
            float *y = malloc(sizeof(float) * (size_t)(max_m * n)), *y0 = malloc(sizeof(float) * (size_t)(max_m * n));
            bench_gen_acts((size_t)(max_m * k), o->seed + 1, x);
            printf("\n%s %lldx%lld (%.1f MiB of GGUF, %d copies for decode)\n", amx_type_name(t), (long long)n,
                   (long long)k, (double)gb / 1048576.0, copies);
            int ok = 1;
            for (int p = 0; p < np && ok; p++) {
                const amx_pack_opts po = {.size = sizeof po, .isa = o->sel == SEL_ISA ? o->sel_isa : AMX_ISA_AUTO,
                                          .n_threads = o->nproc, .numa = o->numa[p]};
                for (int c = 0; c < copies && ok; c++)
                    ok = amx_pack_weights(t, n, k, g, gb, &po, &w[p * copies + c]) == AMX_OK;
                if (ok) print_placement(w[p * copies], o->numa[p]);
            }
            if (!ok) {
                printf("  pack failed (out of memory?)\n");
                bad = 1;
            }
            for (int ci = 0; ok && ci < o->n_threads; ci++) {
                for (int mi = 0; mi < o->n_ms; mi++) {
                    const int64_t m = o->ms[mi];
                    const int decode = m <= DECODE_MAX_M, rounds = o->rounds > 0 ? o->rounds : 3;
                    double per[MAX_LIST][MAX_ROUNDS], ratio[MAX_LIST][MAX_ROUNDS];
                    for (int r = 0; r < rounds; r++) {
                        for (int j = 0; j < np; j++) {
                            const int p = (j + r) % np;
                            call_ctx c = {&w[p * copies], decode ? copies : 1, m, x, y,
                                          {.size = sizeof(amx_gemm_opts), .n_threads = o->threads[ci]}};
                            per[p][r] = bench_measure(one_call, &c, &o->turn_pol).median;
                        }
                        for (int p = 0; p < np; p++) ratio[p][r] = per[0][r] / per[p][r];
                    }
                    printf("  %s M=%lld, %d threads:", decode ? "decode " : "prefill", (long long)m, o->threads[ci]);
                    for (int p = 0; p < np; p++) {
                        const double s = bench_median(per[p], rounds);
                        const double v = decode ? (double)gb / s / 1e9 : 2.0 * (double)(m * n) * (double)k / s / 1e9;
                        printf("  %s %.1f %s", policy_name(o->numa[p]), v, decode ? "GB/s" : "GOPS");
                        if (p) printf(" (x%.2f)", bench_median(ratio[p], rounds));
                    }
                    printf("\n");
                    /* every policy's result is the unplaced one's, bit for bit */
                    for (int p = 0; p < np; p++) {
                        amx_weights_info info = {.size = sizeof info};
                        amx_weights_query(w[p * copies], &info);
                        const amx_gemm_opts go = {.size = sizeof go, .n_threads = o->threads[ci]};
                        amx_gemm_q(w[p * copies], m, x, k, p ? y : y0, n, &go);
                        if (p && memcmp(y, y0, sizeof(float) * (size_t)(m * n))) {
                            printf("  CHECK FAILED: %s differs from %s\n", policy_name(o->numa[p]),
                                   policy_name(o->numa[0]));
                            bad = 3;
                        }
                    }
                }
            }
            for (int i = 0; i < np * copies; i++) amx_weights_free(w[i]);
            free(w);
            free(g);
            free(x);
            free(y);
            free(y0);
        }
    }
    return bad;
}
