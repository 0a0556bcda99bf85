/* The scalar reference against an independent fp64 product, on every type and
 * the shapes that break kernels: M in {1,2,3,17,33}, N in {1,15,16,17,33,100},
 * K from one block to beyond 4096, strides larger than the row, canaries after
 * every output row. */
#include <string.h>

#include "common.h"

static void run_case(amx_type t, int64_t m, int64_t n, int64_t k, gen_mode mode, double *worst) {
    const int64_t ldx = k + 3, ldy = n + 5;
    uint8_t *w = malloc(gguf_bytes(t, n, k));
    gen_weights(t, n, k, w, mode);
    float *x = malloc((size_t)(m * ldx) * sizeof(float));
    gen_acts(m, k, ldx, x);
    amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_SCALAR};
    amx_weights *h = NULL;
    amx_status st = amx_pack_weights(t, n, k, w, gguf_bytes(t, n, k), &po, &h);
    CHECK(st == AMX_OK, "pack %s n=%lld k=%lld: %s", amx_type_name(t), (long long)n, (long long)k,
          amx_status_str(st));
    if (st == AMX_OK) {
        guarded_out g = guarded_alloc(m, n, ldy);
        st = amx_gemm_q(h, m, x, ldx, g.y, ldy, NULL);
        CHECK(st == AMX_OK, "gemm: %s", amx_status_str(st));
        CHECK(guarded_intact(&g), "canary overwritten %s m=%lld n=%lld k=%lld", amx_type_name(t),
              (long long)m, (long long)n, (long long)k);
        const double r = oracle_check(t, m, n, k, w, x, ldx, g.y, ldy, 0, "scalar");
        CHECK(r <= 1.0, "scalar vs fp64 %s m=%lld n=%lld k=%lld: err/bound %.3g", amx_type_name(t),
              (long long)m, (long long)n, (long long)k, r);
        if (r > *worst) *worst = r;
        guarded_free(&g);
        amx_weights_free(h);
    }
    free(w);
    free(x);
}

int main(void) {
    rng_seed(12345);
    static const int64_t ms[] = {1, 2, 3, 17, 33};
    static const int64_t ns[] = {1, 15, 16, 17, 33, 100};
    for (int ti = 0; ti < N_TYPES; ti++) {
        const amx_type t = k_all_types_at(ti);
        const int64_t bs = amx_type_block_size(t);
        const int64_t ks[] = {bs, 2 * bs, 3 * bs, 4096, 4096 + bs};
        double worst = 0.0;
        for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
                for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++) {
                    /* the largest K on every shape is slow in fp64; keep it to a subset */
                    if (ks[c] >= 4096 && ms[a] * ns[b] > 600) continue;
                    run_case(t, ms[a], ns[b], ks[c], GEN_NORMAL, &worst);
                }
        /* large-magnitude, subnormal and zero scales */
        run_case(t, 17, 33, 4 * bs, GEN_EXTREME, &worst);
        run_case(t, 3, 100, 4096, GEN_EXTREME, &worst);
        printf("%-6s scalar vs fp64: worst err/bound = %.3f\n", amx_type_name(t), worst);
    }
    return test_finish("test_ref");
}
