/*
 * The AVX-512 Q8_K activation quantizer against the reference, bit for bit
 * (quants, d, and every sum record kind derived from the reference's bsums),
 * on many rows: random scales, exact .5 ties, ties for the largest magnitude
 * (the first one wins), zero and -0 blocks, huge, tiny and subnormal values,
 * Inf/NaN blocks. Then the 256-element VNNI kernels at the edges of their
 * integer ranges (every quant, scale and activation at its extreme), where
 * an int32 overflow or a wrong bias would show, against the fp64 oracle; and
 * an M that spans several row blocks (the kernels' L2 blocking: 128 rows at
 * K = 4096) with a ragged last 8-row tile, against the oracle and bitwise
 * across thread counts; and every row of such a product bitwise equal to the
 * same row multiplied alone (M = 1 runs the direct tiles, larger M the
 * converted-weight tiles of Q6_K: the two paths must agree to the bit).
 */
#include <string.h>

#include "common.h"
#include "../src/dispatch.h"
#include "../src/ref/ref.h"
#include "../src/vnni/act_q8_K.h"

/* One row of kb superblocks, each filled by a different generator. */
static void gen_row(float *x, int64_t kb, int row) {
    for (int64_t b = 0; b < kb; b++) {
        float *v = x + b * QK_K;
        const int kind = (int)((b + 7 * row) % 12);
        const float scale = powf(10.0f, rng_uniform(-6.0f, 6.0f));
        for (int j = 0; j < QK_K; j++) v[j] = scale * rng_normal();
        switch (kind) {
        case 0: /* iscale = -1 or 1: every value a candidate for an exact .5 tie */
            for (int j = 0; j < QK_K; j++) v[j] = (float)((int)(rng_u64() % 253) - 126) + ((rng_u64() & 1) ? 0.5f : 0.0f);
            v[rng_u64() % QK_K] = (rng_u64() & 1) ? 127.0f : -127.0f;
            for (int j = 0; j < QK_K; j++)
                if (fabsf(v[j]) > 127.0f) v[j] = 0.0f;
            break;
        case 1: memset(v, 0, QK_K * sizeof(float)); break;
        case 2:
            for (int j = 0; j < QK_K; j++) v[j] = -0.0f;
            break;
        case 3: v[rng_u64() % QK_K] = INFINITY; break;
        case 4: v[rng_u64() % QK_K] = -INFINITY; break;
        case 5: v[rng_u64() % QK_K] = NAN; break;
        case 6: /* the largest magnitude twice with opposite signs */
        {
            const int a = (int)(rng_u64() % QK_K), c = (int)(rng_u64() % QK_K);
            v[a] = 1000.0f * scale;
            v[c] = -1000.0f * scale;
        } break;
        case 7: /* huge */
            for (int j = 0; j < QK_K; j++) v[j] = rng_uniform(-3.0e38f, 3.0e38f);
            break;
        case 8: /* subnormal: -127/max overflows to -Inf */
            for (int j = 0; j < QK_K; j++) v[j] = rng_uniform(-1e-39f, 1e-39f);
            break;
        case 9: /* tiny normal */
            for (int j = 0; j < QK_K; j++) v[j] = rng_uniform(-1e-36f, 1e-36f);
            break;
        case 10: /* a single non-zero */
            memset(v, 0, QK_K * sizeof(float));
            v[rng_u64() % QK_K] = -scale;
            break;
        default: break;
        }
    }
}

static void expected_record(const block_q8_K *b, act_q8K_sums kind, uint8_t rec[Q8K_SUMS_BYTES]) {
    memset(rec, 0, Q8K_SUMS_BYTES);
    int16_t b32[8];
    int32_t v[16];
    for (int s = 0; s < 8; s++) b32[s] = (int16_t)(b->bsums[2 * s] + b->bsums[2 * s + 1]);
    switch (kind) {
    case Q8K_SUMS_MIN:
        memcpy(rec, b32, 16);
        memcpy(rec + 16, b->bsums, 32);
        break;
    case Q8K_SUMS_BIAS16:
        for (int g = 0; g < 16; g++) v[g] = -32 * b->bsums[g];
        memcpy(rec, v, 64);
        break;
    case Q8K_SUMS_BIAS32:
        for (int s = 0; s < 8; s++) v[s] = -128 * b32[s];
        memcpy(rec, v, 32);
        memcpy(rec + 32, b->bsums, 32);
        break;
    }
}

static void test_quantizer(void) {
    const int64_t kb = 12, k = kb * QK_K;
    float *x = malloc((size_t)k * sizeof(float));
    block_q8_K *ref = malloc((size_t)kb * sizeof(block_q8_K));
    int8_t *q = malloc((size_t)k);
    float *d = malloc((size_t)kb * sizeof(float));
    uint8_t *s = malloc((size_t)kb * Q8K_SUMS_BYTES);
    int64_t bad_q = 0, bad_d = 0, bad_s = 0, blocks = 0;
    for (int row = 0; row < 400; row++) {
        gen_row(x, kb, row);
        amxq_ref_quantize_row_q8_K(x, ref, k);
        for (int kind = Q8K_SUMS_MIN; kind <= Q8K_SUMS_BIAS32; kind++) {
            memset(q, 0x55, (size_t)k);
            memset(s, 0x55, (size_t)kb * Q8K_SUMS_BYTES);
            amxq_act_q8K_quantize_row(x, k, q, d, s, (act_q8K_sums)kind);
            for (int64_t b = 0; b < kb; b++) {
                blocks++;
                bad_q += memcmp(q + b * QK_K, ref[b].qs, QK_K) != 0;
                bad_d += memcmp(&d[b], &ref[b].d, 4) != 0;
                uint8_t want[Q8K_SUMS_BYTES];
                expected_record(&ref[b], (act_q8K_sums)kind, want);
                bad_s += memcmp(s + b * Q8K_SUMS_BYTES, want, Q8K_SUMS_BYTES) != 0;
            }
        }
    }
    CHECK(bad_q == 0, "Q8_K quants differ from the reference in %lld of %lld blocks", (long long)bad_q, (long long)blocks);
    CHECK(bad_d == 0, "Q8_K d differs from the reference in %lld of %lld blocks", (long long)bad_d, (long long)blocks);
    CHECK(bad_s == 0, "Q8_K sum records differ in %lld of %lld blocks", (long long)bad_s, (long long)blocks);
    free(x);
    free(ref);
    free(q);
    free(d);
    free(s);
}

/* Weights with every quant and scale at the top (or bottom) of its range,
 * activations whose quants are all +-127, so each per-superblock int32 sum
 * is at its largest magnitude; K long enough for a missed re-base to wrap. */
static void fill_extreme(amx_type t, uint8_t *w, int64_t nblocks, int variant) {
    const uint16_t d = fp32_to_fp16(variant ? -0.5f : 1.0f);
    for (int64_t i = 0; i < nblocks; i++) {
        switch (t) {
        case AMX_TYPE_Q4_K:
        case AMX_TYPE_Q5_K: {
            block_q4_K *b = (block_q4_K *)(w + i * amx_type_block_bytes(t));
            b->d = d;
            b->dmin = fp32_to_fp16(0.25f);
            memset(b->scales, 0xff, 12); /* every scale and min 63 */
            if (t == AMX_TYPE_Q4_K) memset(b->qs, variant ? 0x00 : 0xff, 128);
            else {
                block_q5_K *c = (block_q5_K *)b;
                memset(c->qh, variant ? 0x00 : 0xff, 32);
                memset(c->qs, variant ? 0x00 : 0xff, 128);
            }
        } break;
        case AMX_TYPE_Q6_K: {
            block_q6_K *b = (block_q6_K *)(w + i * amx_type_block_bytes(t));
            memset(b->ql, variant ? 0xff : 0x00, 128); /* q - 32 = -32 or +31 */
            memset(b->qh, variant ? 0xff : 0x00, 64);
            memset(b->scales, variant ? 0x7f : 0x80, 16); /* 127 or -128 */
            b->d = d;
        } break;
        case AMX_TYPE_IQ4_XS: {
            block_iq4_xs *b = (block_iq4_xs *)(w + i * amx_type_block_bytes(t));
            b->d = d;
            b->scales_h = 0; /* ls = 0: scale -32 */
            memset(b->scales_l, 0, 4);
            memset(b->qs, variant ? 0xff : 0x00, 128); /* value 113 or -127 */
        } break;
        case AMX_TYPE_Q2_K: {
            /* every scale and min 15 and every quant 3 (the kernel's 64 q a
             * per group at its largest), or every quant 0 (only the mins) */
            block_q2_K *b = (block_q2_K *)(w + i * amx_type_block_bytes(t));
            memset(b->scales, 0xff, 16);
            memset(b->qs, variant ? 0x00 : 0xff, 64);
            b->d = d;
            b->dmin = fp32_to_fp16(0.25f);
        } break;
        case AMX_TYPE_Q3_K: {
            /* every scale -32 (6-bit 0) with every value -4 (hmask clear,
             * low bits 0), or every scale 31 with every value 3 */
            block_q3_K *b = (block_q3_K *)(w + i * amx_type_block_bytes(t));
            memset(b->scales, variant ? 0xff : 0x00, 12);
            memset(b->hmask, variant ? 0xff : 0x00, 32);
            memset(b->qs, variant ? 0xff : 0x00, 64);
            b->d = d;
        } break;
        default: break;
        }
    }
}

static void test_extremes(void) {
    static const amx_type types[] = {AMX_TYPE_Q4_K, AMX_TYPE_Q5_K, AMX_TYPE_Q6_K, AMX_TYPE_IQ4_XS,
                                     AMX_TYPE_Q2_K, AMX_TYPE_Q3_K};
    const int64_t m = 9, n = 20, k = 64 * QK_K;
    float *x = malloc((size_t)(m * k) * sizeof(float));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < k; j++) x[i * k + j] = (i % 2 ? -1.0f : 1.0f) * (i == 4 && j % 3 ? -1.0f : 1.0f);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const amx_type t = types[ti];
        for (int variant = 0; variant < 2; variant++) {
            const size_t sz = gguf_bytes(t, n, k);
            uint8_t *w = malloc(sz);
            fill_extreme(t, w, n * (k / QK_K), variant);
            amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_AVX512_VNNI};
            amx_weights *h = NULL;
            CHECK(amx_pack_weights(t, n, k, w, sz, &po, &h) == AMX_OK, "%s pack", amx_type_name(t));
            float *y = malloc((size_t)(m * n) * sizeof(float));
            if (h && amx_gemm_q(h, m, x, k, y, n, NULL) == AMX_OK) {
                const double r = oracle_check(t, m, n, k, w, x, k, y, n, (int)(k / 16) + 16, "extreme");
                CHECK(r <= 1.0, "%s extreme variant %d: err/bound %.3g", amx_type_name(t), variant, r);
                /* m = 9 is one row block of more than one tile: the types
                 * with a converter run their converted tiles there, whose
                 * integer sums differ from the direct tiles' by exact factors
                 * only; each row alone (the direct tiles) gives the same bits */
                float *y1 = malloc((size_t)n * sizeof(float));
                int64_t differ = 0;
                for (int64_t i = 0; i < m; i++) {
                    CHECK(amx_gemm_q(h, 1, x + i * k, k, y1, n, NULL) == AMX_OK, "%s gemm m=1", amx_type_name(t));
                    differ += bitwise_diff(y + i * n, y1, 1, n, n, n);
                }
                CHECK(differ == 0, "%s extreme variant %d: %lld outputs differ between m=9 and rows alone",
                      amx_type_name(t), variant, (long long)differ);
                free(y1);
            } else {
                CHECK(0, "%s extreme: pack or gemm failed", amx_type_name(t));
            }
            amx_weights_free(h);
            free(y);
            free(w);
        }
    }
    free(x);
}

/* The decode prefetch policy (src/tuning.c) only moves bytes at another
 * time: every VNNI row's m = 1 plan, run with software prefetching on and
 * off, gives bitwise the product amx_gemm_q gives, whatever the policy this
 * CPU got. Each row runs through its own select with hand-made options, so
 * both paths run on every machine. */
static void test_decode_prefetch_policy(void) {
    size_t nv = 0;
    const amxq_variant *v = amxq_variants(&nv);
    const int64_t n = 53, k = 2048;
    float *x = malloc((size_t)k * sizeof(float)), *y = malloc((size_t)n * sizeof(float)),
          *yp = malloc((size_t)n * sizeof(float));
    gen_acts(1, k, k, x);
    int rows = 0;
    for (size_t i = 0; i < nv; i++) {
        if (v[i].isa != AMX_ISA_AVX512_VNNI) continue;
        const amx_type t = v[i].type;
        const size_t sz = gguf_bytes(t, n, k);
        uint8_t *w = malloc(sz);
        gen_weights(t, n, k, w, GEN_NORMAL);
        amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_AVX512_VNNI};
        amx_weights *h = NULL;
        CHECK(amx_pack_weights(t, n, k, w, sz, &po, &h) == AMX_OK, "%s pack", amx_type_name(t));
        if (h) {
            CHECK(amx_gemm_q(h, 1, x, k, y, n, NULL) == AMX_OK, "%s gemm", amx_type_name(t));
            void *ws = aligned_alloc(64, (v[i].act_size(h, 1) + 63) / 64 * 64);
            v[i].quantize(h, x, k, 1, ws, 0, 1);
            for (int pf = 0; pf <= 1; pf++) {
                const amxq_call_opts opts = {.amx_min_m = 0, .kq_decode_prefetch = pf};
                amxq_plan plan;
                v[i].select(h, 1, &opts, &plan);
                memset(yp, 0xff, (size_t)n * sizeof(float));
                plan.compute(&plan, h, 1, ws, yp, n, 0, plan.n_items);
                CHECK(bitwise_diff(y, yp, 1, n, n, n) == 0, "%s m=1 with decode prefetch %s differs from amx_gemm_q",
                      v[i].name, pf ? "on" : "off");
            }
            free(ws);
            rows++;
        }
        amx_weights_free(h);
        free(w);
    }
    CHECK(rows >= 8, "only %d VNNI rows checked", rows);
    free(x);
    free(y);
    free(yp);
}

/* k = 4096: 128-row blocks whose activations fit the kernels' L2 budget
 * (panel-major conversion); k = 8448: they do not, the converting types
 * take the panels in turns per chunk of superblocks, and 33 superblocks
 * leave a last chunk of one. */
static void test_row_blocks_k(const int64_t k) {
    static const amx_type types[] = {AMX_TYPE_Q4_K, AMX_TYPE_Q5_K, AMX_TYPE_Q6_K, AMX_TYPE_IQ4_XS,
                                     AMX_TYPE_Q2_K, AMX_TYPE_Q3_K};
    const int64_t m = 261, n = 40;
    float *x = malloc((size_t)(m * k) * sizeof(float));
    float *y1 = malloc((size_t)(m * n) * sizeof(float)), *y3 = malloc((size_t)(m * n) * sizeof(float));
    gen_acts(m, k, k, x);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const amx_type t = types[ti];
        const size_t sz = gguf_bytes(t, n, k);
        uint8_t *w = malloc(sz);
        gen_weights(t, n, k, w, GEN_NORMAL);
        amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_AVX512_VNNI, .n_threads = 3};
        amx_weights *h = NULL;
        CHECK(amx_pack_weights(t, n, k, w, sz, &po, &h) == AMX_OK, "%s pack", amx_type_name(t));
        if (h) {
            amx_gemm_opts g1 = {.size = sizeof g1, .n_threads = 1}, g3 = {.size = sizeof g3, .n_threads = 3};
            CHECK(amx_gemm_q(h, m, x, k, y1, n, &g1) == AMX_OK && amx_gemm_q(h, m, x, k, y3, n, &g3) == AMX_OK,
                  "%s gemm", amx_type_name(t));
            CHECK(bitwise_diff(y1, y3, m, n, n, n) == 0, "%s m=%lld: 1 and 3 threads differ", amx_type_name(t),
                  (long long)m);
            const double r = oracle_check(t, m, n, k, w, x, k, y1, n, (int)(k / 16) + 16, "row blocks");
            CHECK(r <= 1.0, "%s m=%lld k=%lld: err/bound %.3g", amx_type_name(t), (long long)m, (long long)k, r);
            int64_t differ = 0;
            for (int64_t i = 0; i < m; i += 37) {
                CHECK(amx_gemm_q(h, 1, x + i * k, k, y3, n, &g1) == AMX_OK, "%s gemm m=1", amx_type_name(t));
                differ += bitwise_diff(y1 + i * n, y3, 1, n, n, n);
            }
            CHECK(differ == 0, "%s k=%lld: %lld outputs of rows multiplied alone differ from the m=%lld product",
                  amx_type_name(t), (long long)k, (long long)differ, (long long)m);
        }
        amx_weights_free(h);
        free(w);
    }
    free(x);
    free(y1);
    free(y3);
}

int main(void) {
    const char *why;
    if (!amx_cpu_supports(AMX_ISA_AVX512_VNNI, &why)) {
        printf("SKIPPED: AVX-512 VNNI not available here: %s\n", why);
        return 77;
    }
    rng_seed(4242);
    test_quantizer();
    test_decode_prefetch_policy();
    test_extremes();
    test_row_blocks_k(4096);
    test_row_blocks_k(8448);
    return test_finish("test_vnni_kq");
}
