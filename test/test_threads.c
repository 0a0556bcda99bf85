/* Results and packed bytes do not depend on the thread count: every row of the
 * dispatch table, packed with 1 and several threads, multiplied with
 * n_threads in {1, 2, 3, 4, 7}, bitwise. Also concurrent calls on one handle. */
#include <pthread.h>
#include <string.h>

#include "common.h"
#include "../src/dispatch.h"

static void check_variant(const amxq_variant *v) {
    const amx_type t = v->type;
    const int64_t bs = amx_type_block_size(t);
    const int64_t n = 100, k = (bs == 32 ? 1024 : 1024);
    const size_t sz = gguf_bytes(t, n, k);
    uint8_t *w = malloc(sz);
    gen_weights(t, n, k, w, GEN_NORMAL);
    amx_weights *h1 = NULL, *h4 = NULL;
    amx_pack_opts po = {.size = sizeof po, .isa = v->isa, .n_threads = 1};
    CHECK(amx_pack_weights(t, n, k, w, sz, &po, &h1) == AMX_OK, "%s pack 1 thread", v->name);
    po.n_threads = 4;
    CHECK(amx_pack_weights(t, n, k, w, sz, &po, &h4) == AMX_OK, "%s pack 4 threads", v->name);
    if (!h1 || !h4) goto out;
    CHECK(h1->packed_bytes == h4->packed_bytes && memcmp(h1->image, h4->image, h1->packed_bytes) == 0,
          "%s packed bytes independent of threads", v->name);

    static const int64_t ms[] = {1, 5, 64, 130};
    static const int threads[] = {2, 3, 4, 7};
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++) {
        const int64_t m = ms[a];
        float *x = malloc((size_t)(m * k) * sizeof(float));
        gen_acts(m, k, k, x);
        float *y1 = malloc((size_t)(m * n) * sizeof(float)), *yt = malloc((size_t)(m * n) * sizeof(float));
        amx_gemm_opts go = {.size = sizeof go, .n_threads = 1};
        CHECK(amx_gemm_q(h1, m, x, k, y1, n, &go) == AMX_OK, "%s gemm", v->name);
        for (size_t b = 0; b < sizeof threads / sizeof threads[0]; b++) {
            go.n_threads = threads[b];
            memset(yt, 0, (size_t)(m * n) * sizeof(float));
            tile_foreign_use(); /* each pool thread must load its own config again */
            CHECK(amx_gemm_q(h4, m, x, k, yt, n, &go) == AMX_OK, "%s gemm threads", v->name);
            CHECK(tile_regions_closed(), "%s m=%lld: a thread still holds a tile config", v->name, (long long)m);
            const int64_t d = bitwise_diff(y1, yt, m, n, n, n);
            CHECK(d == 0, "%s m=%lld: %lld outputs differ between 1 and %d threads", v->name, (long long)m,
                  (long long)d, threads[b]);
        }
        free(x);
        free(y1);
        free(yt);
    }
out:
    amx_weights_free(h1);
    amx_weights_free(h4);
    free(w);
}

typedef struct {
    const amx_weights *h;
    const float *x;
    const float *want;
    int64_t m, n, k;
    int ok;
} conc_arg;

static void *conc_main(void *p) {
    conc_arg *a = p;
    float *y = malloc((size_t)(a->m * a->n) * sizeof(float));
    a->ok = 1;
    for (int rep = 0; rep < 20; rep++) {
        amx_gemm_opts go = {.size = sizeof go, .n_threads = 2};
        if (amx_gemm_q(a->h, a->m, a->x, a->k, y, a->n, &go) != AMX_OK ||
            bitwise_diff(y, a->want, a->m, a->n, a->n, a->n) != 0)
            a->ok = 0;
    }
    free(y);
    return NULL;
}

/* Several threads multiply with one handle at once, each also asking for pool
 * threads: results identical to a lone call. */
static void check_concurrent(void) {
    const amx_type t = AMX_TYPE_Q4_K;
    const int64_t n = 64, k = 512, m = 9;
    const size_t sz = gguf_bytes(t, n, k);
    uint8_t *w = malloc(sz);
    gen_weights(t, n, k, w, GEN_NORMAL);
    amx_weights *h = NULL;
    CHECK(amx_pack_weights(t, n, k, w, sz, NULL, &h) == AMX_OK, "pack");
    float *x = malloc((size_t)(m * k) * sizeof(float)), *want = malloc((size_t)(m * n) * sizeof(float));
    gen_acts(m, k, k, x);
    CHECK(amx_gemm_q(h, m, x, k, want, n, NULL) == AMX_OK, "gemm");
    pthread_t th[4];
    conc_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (conc_arg){h, x, want, m, n, k, 0};
        pthread_create(&th[i], NULL, conc_main, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].ok, "concurrent caller %d got a different result", i);
    }
    amx_weights_free(h);
    free(w);
    free(x);
    free(want);
}

int main(void) {
    rng_seed(99);
    for_each_runnable_variant(check_variant, "thread-count independent");
    check_concurrent();
    return test_finish("test_threads");
}
