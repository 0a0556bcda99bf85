/*
 * An engine that owns its threads runs amxq multiplies on them.
 *
 * The "engine" here is a team of nth pthreads that lives for the whole run
 * and meets at a pthread barrier, as llama.cpp's or an OpenMP pool does. For
 * each multiply every thread quantizes its share of the activation rows,
 * the team waits at the barrier, then every thread computes its share of the
 * output panels. amxq starts no thread of its own.
 *
 * The program checks that the result is bitwise identical to amx_gemm_q() on
 * the same inputs, for a decode-shaped (m = 1) and a prefill-shaped (m = 77)
 * multiply, and exits non-zero otherwise.
 *
 *     cc -O2 examples/engine_threads.c -Iinclude -Lbuild -lamxq -lpthread -o engine_threads
 *     LD_LIBRARY_PATH=build ./engine_threads 7
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amxq.h"

#define N 300 /* weight rows (outputs); not a multiple of any panel width */
#define K 512 /* weight columns: 16 Q4_0 blocks per row */

/* What the team shares for one multiply. */
typedef struct {
    const amx_weights *w;
    int64_t m;
    const float *x;
    float *y;
    void *ws;
    size_t ws_size;
    int nth;
    pthread_barrier_t barrier;
    int failed; /* set by any thread whose call did not return AMX_OK */
} team_job;

static void *team_member(void *arg) {
    team_job *j = ((void **)arg)[0];
    const int ith = (int)(intptr_t)((void **)arg)[1];
    if (amx_gemm_quantize(j->w, j->m, j->x, K, j->ws, j->ws_size, ith, j->nth) != AMX_OK) j->failed = 1;
    /* the one synchronization point: all activation rows are quantized */
    pthread_barrier_wait(&j->barrier);
    if (amx_gemm_compute(j->w, j->m, j->ws, j->ws_size, j->y, N, ith, j->nth, NULL) != AMX_OK) j->failed = 1;
    return NULL;
}

/* One multiply on the caller's team of nth threads (thread 0 is this one). */
static int team_gemm(const amx_weights *w, int64_t m, const float *x, float *y, int nth) {
    team_job j = {.w = w, .m = m, .x = x, .y = y, .nth = nth};
    if (amx_gemm_workspace_size(w, m, &j.ws_size) != AMX_OK) return -1;
    /* the caller allocates: 64-byte aligned (aligned_alloc wants a size that
     * is a non-zero multiple of the alignment) */
    j.ws = aligned_alloc(64, (j.ws_size / 64 + 1) * 64);
    pthread_t *threads = calloc((size_t)nth, sizeof *threads);
    void *(*args)[2] = calloc((size_t)nth, sizeof *args);
    if (!j.ws || !threads || !args) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    pthread_barrier_init(&j.barrier, NULL, (unsigned)nth);
    for (int i = 0; i < nth; i++) {
        args[i][0] = &j;
        args[i][1] = (void *)(intptr_t)i;
        if (i > 0 && pthread_create(&threads[i], NULL, team_member, args[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    team_member(args[0]);
    for (int i = 1; i < nth; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&j.barrier);
    free(args);
    free(threads);
    free(j.ws);
    return j.failed ? -1 : 0;
}

/* Random Q4_0 blocks: an fp16 scale 2^-e (e in 5..8) and random nibbles. */
static void make_q4_0(uint8_t *blocks, size_t n_blocks, uint64_t *seed) {
    for (size_t b = 0; b < n_blocks; b++) {
        uint8_t *blk = blocks + b * 18;
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        const uint16_t d = (uint16_t)((15 - 5 - (*seed >> 60) % 4) << 10);
        memcpy(blk, &d, 2);
        for (int i = 0; i < 16; i++) blk[2 + i] = (uint8_t)(*seed >> (4 * (i % 14)));
    }
}

int main(int argc, char **argv) {
    const int nth = argc > 1 ? atoi(argv[1]) : 4;
    if (nth < 1 || nth > 4096) {
        fprintf(stderr, "usage: %s [threads]\n", argv[0]);
        return 2;
    }
    uint64_t seed = 42;
    const size_t bytes = (size_t)N * (K / 32) * 18;
    uint8_t *blocks = malloc(bytes);
    make_q4_0(blocks, bytes / 18, &seed);

    amx_weights *w = NULL;
    amx_status st = amx_pack_weights(AMX_TYPE_Q4_0, N, K, blocks, bytes, NULL, &w);
    free(blocks); /* the handle keeps its own copy */
    if (st != AMX_OK) {
        fprintf(stderr, "amx_pack_weights: %s\n", amx_status_str(st));
        return 1;
    }

    int bad = 0;
    const int64_t ms[] = {1, 77};
    for (int t = 0; t < 2; t++) {
        const int64_t m = ms[t];
        float *x = malloc((size_t)m * K * sizeof *x);
        float *y = malloc((size_t)m * N * sizeof *y), *want = malloc((size_t)m * N * sizeof *want);
        for (int64_t i = 0; i < m * K; i++) x[i] = (float)((int)(i * 7919 % 2001) - 1000) / 250.0f;
        memset(y, 0xff, (size_t)m * N * sizeof *y);
        if (team_gemm(w, m, x, y, nth) != 0 || amx_gemm_q(w, m, x, K, want, N, NULL) != AMX_OK) {
            fprintf(stderr, "a multiply failed\n");
            return 1;
        }
        const int same = memcmp(y, want, (size_t)m * N * sizeof *y) == 0;
        printf("m=%-3lld nth=%-3d kernel %-24s y[0]=%-12g %s amx_gemm_q\n", (long long)m, nth,
               amx_weights_kernel(w, m), (double)y[0], same ? "bitwise identical to" : "DIFFERS from");
        bad += !same;
        free(x);
        free(y);
        free(want);
    }
    amx_weights_free(w);
    return bad ? 1 : 0;
}
