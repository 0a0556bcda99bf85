/* See tile_test_kit.h. Compiled once per tile test program, with its flags. */
#include "tile_test_kit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../src/tiles/tile_ops.h"

const char *const k_kind_name[N_KINDS + 1] = {"TDPBSSD", "TDPBSUD", "TDPBUSD", "TDPBUUD", "TDPBF16PS"};

void kit_dp_kind(int kind) {
    switch (kind) {
    case SS: amxq_tile_dpbssd(TC, TA, TB); break;
    case SU: amxq_tile_dpbsud(TC, TA, TB); break;
    case US: amxq_tile_dpbusd(TC, TA, TB); break;
    case UU: amxq_tile_dpbuud(TC, TA, TB); break;
    default: amxq_tile_dpbf16ps(TC, TA, TB); break;
    }
}

void kit_one_dp(int kind, int m, int n, int kb, const void *c, int ldc, const void *a, int lda,
                int stream_a, const void *b, int ldb, void *out, int ldo) {
    amxq_tilecfg cfg;
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, m, n, kb);
    amxq_tile_begin(&cfg);
    amxq_tile_loadd(TC, c, ldc);
    if (stream_a)
        amxq_tile_stream_loadd(TA, a, lda);
    else
        amxq_tile_loadd(TA, a, lda);
    amxq_tile_loadd(TB, b, ldb);
    kit_dp_kind(kind);
    amxq_tile_stored(TC, out, ldo);
    amxq_tile_end();
}

void *kit_alloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) abort();
    return p;
}

void kit_fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_u64();
}

void kit_ref_dp_int8(int kind, int M, int N, int kbytes, const uint8_t *A, int lda, const uint8_t *B,
                     int ldb, int32_t *C, int ldc) {
    const int as = kind == SS || kind == SU, bs = kind == SS || kind == US;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            uint32_t acc = (uint32_t)C[m * ldc + n];
            for (int k = 0; k < kbytes / 4; k++)
                for (int i = 0; i < 4; i++) {
                    const uint8_t a = A[m * lda + 4 * k + i], b = B[k * ldb + 4 * n + i];
                    const int32_t av = as ? (int8_t)a : a, bv = bs ? (int8_t)b : b;
                    acc += (uint32_t)(av * bv);
                }
            memcpy(&C[m * ldc + n], &acc, sizeof acc);
        }
}

/* ---------------------------------------------------------------- bf16 */

uint16_t kit_to_bf16_exact(float f) {
    const uint32_t u = f32_bits(f);
    if (u & 0xFFFF) {
        fprintf(stderr, "test bug: %a is not a bf16 value\n", (double)f);
        abort();
    }
    return (uint16_t)(u >> 16);
}

uint32_t kit_bf16_dp_bits(uint32_t c0, const uint16_t *a, const uint16_t *b, int K2) {
    uint32_t c;
    /* B is one column: row k holds the pair (b[2k], b[2k+1]) */
    kit_one_dp(BF16, 1, 1, 4 * K2, &c0, 4, a, 4 * K2, 0, b, 4, &c, 4);
    return c;
}

uint32_t kit_bf16_dp(float c0, const float *a, const float *b, int K2) {
    uint16_t ah[32], bh[32];
    for (int i = 0; i < 2 * K2; i++) ah[i] = kit_to_bf16_exact(a[i]), bh[i] = kit_to_bf16_exact(b[i]);
    return kit_bf16_dp_bits(f32_bits(c0), ah, bh, K2);
}

/* ------------------------------------------- int8 GEMM, as kernels will */

uint8_t *kit_pack_b_vnni(const int8_t *b, int ldb, int K, int N) {
    const int np = (N + 15) / 16, K4 = K / 4;
    uint8_t *p = kit_alloc((size_t)np * K4 * 64);
    memset(p, 0, (size_t)np * K4 * 64);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            p[((size_t)(n / 16) * K4 + k / 4) * 64 + 4 * (n % 16) + k % 4] = (uint8_t)b[k * ldb + n];
    return p;
}

/* The 2-2-4 blocking: per 32 x 32 output block, A0/A1 (16-row halves), B0/B1
 * (16-column panels), C00..C11 accumulate over K in steps of 64. Edge blocks
 * get a config with the partial shapes (unused tiles stay unconfigured); a K
 * tail (K % 64) gets its own config, so C goes through memory around it. */
#define G_C00 0
#define G_C01 1
#define G_C10 2
#define G_C11 3
#define G_A0 4
#define G_A1 5
#define G_B0 6
#define G_B1 7

static void gemm_config(amxq_tilecfg *cfg, int m0, int m1, int n0, int n1, int kb) {
    amxq_tilecfg_init(cfg);
    amxq_tilecfg_dp(cfg, G_C00, G_A0, G_B0, m0, n0, kb);
    if (n1) amxq_tilecfg_dp(cfg, G_C01, G_A0, G_B1, m0, n1, kb);
    if (m1) amxq_tilecfg_dp(cfg, G_C10, G_A1, G_B0, m1, n0, kb);
    if (m1 && n1) amxq_tilecfg_dp(cfg, G_C11, G_A1, G_B1, m1, n1, kb);
}

static void gemm_c(int store, int m1, int n1, int32_t *c, int ldc) {
    const ptrdiff_t s = (ptrdiff_t)ldc * 4;
    if (store) {
        amxq_tile_stored(G_C00, c, s);
        if (n1) amxq_tile_stored(G_C01, c + 16, s);
        if (m1) amxq_tile_stored(G_C10, c + 16 * ldc, s);
        if (m1 && n1) amxq_tile_stored(G_C11, c + 16 * ldc + 16, s);
    } else {
        amxq_tile_loadd(G_C00, c, s);
        if (n1) amxq_tile_loadd(G_C01, c + 16, s);
        if (m1) amxq_tile_loadd(G_C10, c + 16 * ldc, s);
        if (m1 && n1) amxq_tile_loadd(G_C11, c + 16 * ldc + 16, s);
    }
}

static void gemm_step(int m1, int n1, const int8_t *a, int lda, const uint8_t *b0, const uint8_t *b1) {
    amxq_tile_loadd(G_A0, a, lda);
    amxq_tile_loadd(G_B0, b0, 64);
    amxq_tile_dpbssd(G_C00, G_A0, G_B0);
    if (n1) {
        amxq_tile_loadd(G_B1, b1, 64);
        amxq_tile_dpbssd(G_C01, G_A0, G_B1);
    }
    if (m1) {
        amxq_tile_loadd(G_A1, a + 16 * lda, lda);
        amxq_tile_dpbssd(G_C10, G_A1, G_B0);
        if (n1) amxq_tile_dpbssd(G_C11, G_A1, G_B1);
    }
}

/* How much of a 16-wide tile x remaining rows (or columns) fill: 0..16. */
static int rows16(int x) {
    return x < 0 ? 0 : x > 16 ? 16 : x;
}

void kit_tile_gemm_s8(int M, int N, int K, const int8_t *A, int lda, const uint8_t *bp, int32_t *C,
                      int ldc) {
    const int K4 = K / 4, ksteps = K / 64, kt = K % 64;
    amxq_tilecfg cfg; /* this region's configs, on this thread's stack */
    for (int i = 0; i < M; i += 32)
        for (int j = 0; j < N; j += 32) {
            const int m0 = rows16(M - i), m1 = rows16(M - i - 16);
            const int n0 = rows16(N - j), n1 = rows16(N - j - 16);
            const uint8_t *b0 = bp + (size_t)(j / 16) * K4 * 64, *b1 = n1 ? b0 + (size_t)K4 * 64 : b0;
            const int8_t *a = A + (size_t)i * lda;
            int32_t *c = C + (size_t)i * ldc + j;
            gemm_config(&cfg, m0, m1, n0, n1, ksteps ? 64 : kt);
            amxq_tile_loadconfig(&cfg); /* the first of these begins the region */
            gemm_c(0, m1, n1, c, ldc);
            for (int s = 0; s < ksteps; s++) gemm_step(m1, n1, a + 64 * s, lda, b0 + 1024 * s, b1 + 1024 * s);
            if (kt) {
                if (ksteps) {
                    gemm_c(1, m1, n1, c, ldc);
                    gemm_config(&cfg, m0, m1, n0, n1, kt);
                    amxq_tile_loadconfig(&cfg);
                    gemm_c(0, m1, n1, c, ldc);
                }
                gemm_step(m1, n1, a + 64 * ksteps, lda, b0 + 1024 * ksteps, b1 + 1024 * ksteps);
            }
            gemm_c(1, m1, n1, c, ldc);
        }
    amxq_tile_end();
}
