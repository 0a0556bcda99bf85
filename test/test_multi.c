/*
 * One activation quantization for several handles: amx_gemm_q_multi and the
 * sharing rule (amx_weights_share_activations) that it and the split API
 * follow. For every family this machine runs (AMX on the emulator in the
 * `_emu` build): handles of every type with the same k and different n,
 * multiplied at once, each output bitwise equal to its own amx_gemm_q; the
 * sharing matrix equal to the documented table; a workspace quantized for one
 * handle computing another exactly when they share; bad input refused with
 * every output untouched.
 */
#include <string.h>

#include "common.h"

#define K 512
#define MAXH 64

/* The documented classes (amxq.h): handles share iff same class and family
 * group (VNNI and AMX together, scalar apart). */
static int act_class(amx_type t, amx_isa isa) {
    if (isa == AMX_ISA_SCALAR) {
        switch (t) {
        case AMX_TYPE_Q4_1: case AMX_TYPE_Q5_1: return 101;      /* Q8_1 */
        case AMX_TYPE_Q4_0: case AMX_TYPE_Q5_0: case AMX_TYPE_Q8_0: case AMX_TYPE_IQ4_NL: return 100; /* Q8_0 */
        case AMX_TYPE_F16: return 103;                           /* fp16 values */
        case AMX_TYPE_BF16: return 104;                          /* bf16 values */
        default: return 102;                                     /* Q8_K */
        }
    }
    switch (t) {
    case AMX_TYPE_Q8_0: case AMX_TYPE_IQ4_NL: case AMX_TYPE_Q5_0: return 1;
    case AMX_TYPE_Q4_0: return 2;
    case AMX_TYPE_Q4_1: case AMX_TYPE_Q5_1: return 3;
    case AMX_TYPE_Q4_K: case AMX_TYPE_Q5_K: case AMX_TYPE_Q2_K: return 4;
    case AMX_TYPE_Q6_K: case AMX_TYPE_Q3_K: return 5;
    case AMX_TYPE_IQ4_XS: return 6;
    case AMX_TYPE_F16: return 7;
    case AMX_TYPE_BF16: return 8;
    default: return 1000 + (int)t; /* a type new to the table: alone until documented */
    }
}

static void run(const amx_isa *isas, int n_isas, int64_t m, int threads) {
    amx_weights *h[MAXH];
    amx_type types[MAXH];
    amx_isa fam[MAXH];
    int64_t ns[MAXH];
    int nh = 0;
    for (int f = 0; f < n_isas; f++)
        for (int i = 0; i < N_TYPES && nh < MAXH; i++) {
            const amx_type t = k_all_types_at(i);
            const int64_t n = 17 + 16 * ((nh * 7) % 5);
            uint8_t *g = malloc(gguf_bytes(t, n, K));
            gen_weights(t, n, K, g, GEN_NORMAL);
            const amx_pack_opts po = {.size = sizeof po, .isa = isas[f]};
            if (amx_pack_weights(t, n, K, g, gguf_bytes(t, n, K), &po, &h[nh]) == AMX_OK) {
                types[nh] = t, fam[nh] = isas[f], ns[nh] = n;
                nh++;
            }
            free(g);
        }
    /* the sharing matrix is the documented one */
    for (int a = 0; a < nh; a++)
        for (int b = 0; b < nh; b++) {
            const int want = act_class(types[a], fam[a]) == act_class(types[b], fam[b]) &&
                             (fam[a] == AMX_ISA_SCALAR) == (fam[b] == AMX_ISA_SCALAR);
            CHECK(amx_weights_share_activations(h[a], h[b]) == want, "share(%s/%s, %s/%s) = %d", amx_type_name(types[a]),
                  amx_isa_name(fam[a]), amx_type_name(types[b]), amx_isa_name(fam[b]), !want);
        }
    float *x = malloc(sizeof(float) * (size_t)m * K);
    gen_acts(m, K, K, x);
    float *ys[MAXH], *ref[MAXH];
    int64_t ldy[MAXH];
    for (int i = 0; i < nh; i++) {
        ldy[i] = ns[i] + 3;
        ys[i] = malloc(sizeof(float) * (size_t)(m * ldy[i]));
        ref[i] = malloc(sizeof(float) * (size_t)(m * ldy[i]));
        memset(ys[i], 0x7F, sizeof(float) * (size_t)(m * ldy[i]));
        memset(ref[i], 0x7F, sizeof(float) * (size_t)(m * ldy[i]));
    }
    const amx_gemm_opts o = {.size = sizeof o, .n_threads = threads};
    for (int i = 0; i < nh; i++) CHECK(amx_gemm_q(h[i], m, x, K, ref[i], ldy[i], &o) == AMX_OK, "gemm %d", i);
    CHECK(amx_gemm_q_multi((const amx_weights *const *)h, nh, m, x, K, ys, ldy, &o) == AMX_OK, "multi");
    for (int i = 0; i < nh; i++)
        CHECK(memcmp(ys[i], ref[i], sizeof(float) * (size_t)(m * ldy[i])) == 0,
              "multi m=%lld threads=%d: %s/%s differs from its own amx_gemm_q (padding included)", (long long)m,
              threads, amx_type_name(types[i]), amx_isa_name(fam[i]));

    /* the split API: a workspace quantized for a computes b exactly when they share */
    for (int a = 0; a < nh; a++)
        for (int b = 0; b < nh; b++) {
            if (!amx_weights_share_activations(h[a], h[b])) continue;
            size_t bytes;
            amx_gemm_workspace_size(h[a], m, &bytes);
            void *ws = aligned_alloc(64, (bytes + 63) / 64 * 64);
            CHECK(amx_gemm_quantize(h[a], m, x, K, ws, bytes, 0, 1) == AMX_OK, "quantize");
            memset(ys[b], 0x7F, sizeof(float) * (size_t)(m * ldy[b]));
            CHECK(amx_gemm_compute(h[b], m, ws, bytes, ys[b], ldy[b], 0, 1, NULL) == AMX_OK, "compute");
            CHECK(memcmp(ys[b], ref[b], sizeof(float) * (size_t)(m * ldy[b])) == 0,
                  "workspace of %s/%s used for %s/%s: differs", amx_type_name(types[a]), amx_isa_name(fam[a]),
                  amx_type_name(types[b]), amx_isa_name(fam[b]));
            free(ws);
        }

    /* bad input: nothing written anywhere */
    for (int i = 0; i < nh; i++) memset(ys[i], 0x55, sizeof(float) * (size_t)(m * ldy[i]));
    const amx_weights *bad[3] = {h[0], NULL, h[1]};
    float *ybad[3] = {ys[0], ys[1], ys[1]};
    int64_t ldbad[3] = {ldy[0], ldy[1], ldy[1]};
    CHECK(amx_gemm_q_multi(bad, 3, m, x, K, ybad, ldbad, NULL) == AMX_ERR_INVALID_ARG, "NULL handle");
    int64_t ldshort[3] = {ldy[0], ldy[1], ns[1] - 1};
    const amx_weights *two[3] = {h[0], h[1], h[1]};
    CHECK(amx_gemm_q_multi(two, 3, m, x, K, ybad, ldshort, NULL) == AMX_ERR_INVALID_ARG, "ldy < n of the last");
    CHECK(amx_gemm_q_multi(two, 0, m, x, K, ybad, ldbad, NULL) == AMX_ERR_INVALID_ARG, "count 0");
    int untouched = 1;
    for (int i = 0; i < 2; i++)
        for (int64_t e = 0; e < m * ldy[i]; e++) {
            uint32_t u;
            memcpy(&u, &ys[i][e], 4);
            untouched &= u == 0x55555555u;
        }
    CHECK(untouched, "a refused multi call wrote an output");
    /* a different k */
    uint8_t *g = malloc(gguf_bytes(AMX_TYPE_Q8_0, 16, K + 32));
    gen_weights(AMX_TYPE_Q8_0, 16, K + 32, g, GEN_NORMAL);
    amx_weights *hk = NULL;
    amx_pack_weights(AMX_TYPE_Q8_0, 16, K + 32, g, gguf_bytes(AMX_TYPE_Q8_0, 16, K + 32), NULL, &hk);
    const amx_weights *mixed[2] = {h[0], hk};
    float *xk = calloc((size_t)m * (K + 32), sizeof(float)); /* rows long enough for both */
    CHECK(amx_gemm_q_multi(mixed, 2, m, xk, K + 32, ybad, ldbad, NULL) == AMX_ERR_BAD_SHAPE, "different k");
    free(xk);
    CHECK(amx_weights_share_activations(h[0], hk) == 0 && amx_weights_share_activations(h[0], NULL) == 0,
          "no sharing across k or with NULL");
    amx_weights_free(hk);
    free(g);

    for (int i = 0; i < nh; i++) amx_weights_free(h[i]), free(ys[i]), free(ref[i]);
    free(x);
}

int main(void) {
    rng_seed(21);
    amx_isa isas[3];
    int n = 0;
    const amx_isa all[3] = {AMX_ISA_SCALAR, AMX_ISA_AVX512_VNNI, AMX_ISA_AMX};
    for (int i = 0; i < 3; i++) {
        const char *why;
        if (amx_cpu_supports(all[i], &why))
            isas[n++] = all[i];
        else
            printf("NOT RUN: %s handles (%s)\n", amx_isa_name(all[i]), why);
    }
    static const int64_t ms[] = {1, 3, 17, 70};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        run(isas, n, ms[i], 1);
        run(isas, n, ms[i], 2);
    }
    return test_finish("test_multi");
}
