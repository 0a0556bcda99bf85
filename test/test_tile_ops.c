/*
 * What the tile operations do, checked against plain C written from the
 * instruction definitions (or values worked out by hand in the comments),
 * never against the emulator itself.
 *
 * One source, two programs: the hardware build (compiled with amx_args) runs
 * every check on the real tile instructions where the CPU has AMX and skips,
 * saying why, elsewhere; the `_emu` and `_san` builds run the same checks on
 * the tile emulator. Only what the hardware is known to do is asserted: the
 * int8 TDPs bit for bit, and TDPBF16PS within an error bound (its summation
 * order on hardware is not documented and matches no simple model; see
 * tile_emu.h). The emulator's own model, faults and counters are tested in
 * test_tile_emu_model.c, and test_tile_hw_vs_emu.c compares emulator and
 * hardware bit for bit.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <xmmintrin.h>

#include "common.h"
#include "tile_test_kit.h"
#include "../src/cpu.h"
#include "../src/tiles/tile_ops.h"

/* ------------------------------------------------------------ signedness */

/* One row of A against two columns of B, K = 4, from C = {100, -100}:
 *   A        = FF 02 80 03          (signed -1 2 -128 3, unsigned 255 2 128 3)
 *   B col 0  = FE 03 05 81          (signed -2 3 5 -127, unsigned 254 3 5 129)
 *   B col 1  = 01 FF 7F 00          (signed 1 -1 127 0,  unsigned 1 255 127 0)
 * col 0: SS  2+6-640-381 = -1013   SU -254+6-640+387 = -501
 *        US -510+6+640-381 = -245  UU 64770+6+640+387 = 65803
 * col 1: SS -1-2-16256 = -16259    SU -1+510-16256 = -15747
 *        US 255-2+16256 = 16509    UU 255+510+16256 = 17021 */
static void test_signedness(void) {
    static const int32_t want[N_KINDS][2] = {{100 - 1013, -100 - 16259},
                                             {100 - 501, -100 - 15747},
                                             {100 - 245, -100 + 16509},
                                             {100 + 65803, -100 + 17021}};
    const uint8_t a[4] = {0xFF, 0x02, 0x80, 0x03};
    const uint8_t b[8] = {0xFE, 0x03, 0x05, 0x81, 0x01, 0xFF, 0x7F, 0x00};
    const int32_t c0[2] = {100, -100};
    amxq_tilecfg cfg;
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, 1, 2, 4);
    amxq_tile_begin(&cfg);
    for (int kind = 0; kind < N_KINDS; kind++) {
        int32_t c[2];
        amxq_tile_loadd(TC, c0, 8);
        amxq_tile_loadd(TA, a, 4);
        amxq_tile_loadd(TB, b, 8);
        kit_dp_kind(kind);
        amxq_tile_stored(TC, c, 8);
        CHECK(c[0] == want[kind][0] && c[1] == want[kind][1], "%s: got %d %d, want %d %d", k_kind_name[kind],
              c[0], c[1], want[kind][0], want[kind][1]);
    }

    /* int32 wrap-around, no saturation:
     * UU: 0x7FFFFFFA + 4 * 255 * 255 (= 260100) = 2147743742 -> -2147223554
     * SS: -2147483645 + 4 * (-128 * 127) (= -65024) = -2147548669 -> 2147418627 */
    const uint8_t ff[4] = {0xFF, 0xFF, 0xFF, 0xFF}, m128[4] = {0x80, 0x80, 0x80, 0x80},
                  p127[4] = {0x7F, 0x7F, 0x7F, 0x7F};
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, 1, 1, 4);
    amxq_tile_loadconfig(&cfg);
    int32_t c = 0x7FFFFFFA;
    amxq_tile_loadd(TC, &c, 4);
    amxq_tile_loadd(TA, ff, 4);
    amxq_tile_loadd(TB, ff, 4);
    amxq_tile_dpbuud(TC, TA, TB);
    amxq_tile_stored(TC, &c, 4);
    CHECK(c == -2147223554, "TDPBUUD wrap: got %d", c);
    c = -2147483645;
    amxq_tile_loadd(TC, &c, 4);
    amxq_tile_loadd(TA, m128, 4);
    amxq_tile_loadd(TB, p127, 4);
    amxq_tile_dpbssd(TC, TA, TB);
    amxq_tile_stored(TC, &c, 4);
    CHECK(c == 2147418627, "TDPBSSD wrap: got %d", c);
    amxq_tile_end();
}

/* ------------------------------------------- random shapes, strides, kinds */

/* Random M, N, K (partial and full), strides wider than the rows with
 * garbage in the gaps (the instruction must not read it), C stored into a
 * canary-filled buffer (the bytes outside rows x colsb must survive). */
static void test_random_shapes(void) {
    int bad = 0;
    for (int it = 0; it < 400; it++) {
        const int kind = it % N_KINDS;
        const int M = 1 + (int)(rng_u64() % 16), N = 1 + (int)(rng_u64() % 16);
        const int kb = 4 * (1 + (int)(rng_u64() % 16));
        const int full = it < 8; /* a few full 16 x 16 x 64 */
        const int m = full ? 16 : M, n = full ? 16 : N, k = full ? 64 : kb;
        const int lda = k + (int)(rng_u64() % 3) * 4 + (int)(rng_u64() % 2); /* bytes */
        const int ldb = 4 * n + (int)(rng_u64() % 9);
        const int ldc = n + (int)(rng_u64() % 3); /* int32 */
        uint8_t *A = kit_alloc((size_t)m * lda), *B = kit_alloc((size_t)(k / 4) * ldb);
        int32_t *C0 = kit_alloc((size_t)m * ldc * 4), *C = kit_alloc((size_t)m * ldc * 4),
                *R = kit_alloc((size_t)m * ldc * 4);
        kit_fill(A, (size_t)m * lda);
        kit_fill(B, (size_t)(k / 4) * ldb);
        kit_fill((uint8_t *)C0, (size_t)m * ldc * 4);
        memset(C, 0xA5, (size_t)m * ldc * 4);
        memcpy(R, C, (size_t)m * ldc * 4);
        for (int r = 0; r < m; r++) memcpy(&R[r * ldc], &C0[r * ldc], (size_t)n * 4);
        kit_ref_dp_int8(kind, m, n, k, A, lda, B, ldb, R, ldc);

        kit_one_dp(kind, m, n, k, C0, ldc * 4, A, lda, it % 2, B, ldb, C, ldc * 4);
        if (memcmp(C, R, (size_t)m * ldc * 4) != 0 && bad++ < 5)
            CHECK(0, "%s M=%d N=%d K=%d lda=%d ldb=%d ldc=%d: result or canary differs", k_kind_name[kind], m,
                  n, k, lda, ldb, ldc);
        free(A), free(B), free(C0), free(C), free(R);
    }
    CHECK(bad == 0, "%d of 400 random TDPB cases differ from the definition", bad);
}

/* Stride 0 broadcasts one row; a negative stride walks memory backwards. */
static void test_strides(void) {
    uint8_t src[4 * 24], out[4 * 24];
    kit_fill(src, sizeof src);
    amxq_tilecfg cfg;
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_set(&cfg, TA, 4, 20);
    amxq_tile_begin(&cfg);
    amxq_tile_loadd(TA, src + 24, 0);
    memset(out, 0x5A, sizeof out);
    amxq_tile_stored(TA, out, 24);
    int ok = 1;
    for (int r = 0; r < 4; r++) ok &= memcmp(out + 24 * r, src + 24, 20) == 0;
    for (int r = 0; r < 4; r++)
        for (int j = 20; j < 24; j++) ok &= out[24 * r + j] == 0x5A;
    CHECK(ok, "stride 0 load broadcasts row 1; store leaves the 4-byte gaps alone");
    amxq_tile_loadd(TA, src + 3 * 24, -24);
    amxq_tile_stored(TA, out, 24);
    ok = 1;
    for (int r = 0; r < 4; r++) ok &= memcmp(out + 24 * r, src + 24 * (3 - r), 20) == 0;
    CHECK(ok, "negative stride loads rows in reverse");
    /* a store with a negative stride writes rows backwards */
    memset(out, 0x5A, sizeof out);
    amxq_tile_loadd(TA, src, 24);
    amxq_tile_stored(TA, out + 3 * 24, -24);
    ok = 1;
    for (int r = 0; r < 4; r++) ok &= memcmp(out + 24 * (3 - r), src + 24 * r, 20) == 0;
    CHECK(ok, "negative stride store");
    amxq_tile_end();
}

/* ------------------------------------------------------ zeroing, release */

/* LDTILECFG zeroes all tile data (both a reload and after TILERELEASE). */
static void test_config_zeroes(void) {
    uint8_t src[16 * 64], out[16 * 64], zero[16 * 64] = {0};
    kit_fill(src, sizeof src);
    amxq_tilecfg cfg;
    amxq_tilecfg_init(&cfg);
    for (int t = 0; t < 8; t++) amxq_tilecfg_set(&cfg, t, 16, 64);
    amxq_tile_begin(&cfg);
    amxq_tile_loadd(3, src, 64);
    amxq_tile_loadconfig(&cfg);
    amxq_tile_stored(3, out, 64);
    CHECK(memcmp(out, zero, sizeof out) == 0, "LDTILECFG of a new config zeroes the tiles");
    amxq_tile_loadd(5, src, 64);
    amxq_tile_release();
    amxq_tile_loadconfig(&cfg);
    amxq_tile_stored(5, out, 64);
    CHECK(memcmp(out, zero, sizeof out) == 0, "after TILERELEASE, a new config starts from zero");
    amxq_tile_end();
}

/* ---------------------------------------------------------------- bf16 */

/* What TDPBF16PS does that does not depend on its summation order, as the
 * published definition states and real AMX was seen to do. */
static void test_bf16_order_free(void) {
    /* Denormal bf16 inputs read as zero: 0x0001 (2^-133) * 2^100 would be 2^-33. */
    const uint16_t a[2] = {0x0001, 0}, b[2] = {kit_to_bf16_exact(0x1p100f), 0};
    CHECK(kit_bf16_dp_bits(0, a, b, 1) == 0, "denormal A reads as zero");
    CHECK(kit_bf16_dp_bits(0, b, a, 1) == 0, "denormal B reads as zero");
    const uint16_t a2[2] = {0x8040, 0}; /* negative denormal */
    CHECK(kit_bf16_dp_bits(0, a2, b, 1) == 0, "negative denormal reads as zero");
    const uint16_t ao[2] = {0x3F80, 0x0001}, bo[2] = {0, kit_to_bf16_exact(0x1p100f)}; /* odd elements */
    CHECK(kit_bf16_dp_bits(0, ao, bo, 1) == 0, "denormal odd A element reads as zero");
    const uint16_t ao2[2] = {0, kit_to_bf16_exact(0x1p100f)}, bo2[2] = {0x3F80, 0x0001};
    CHECK(kit_bf16_dp_bits(0, ao2, bo2, 1) == 0, "denormal odd B element reads as zero");
    /* Overflow gives infinity. */
    const float ov[2] = {0x1p100f, 0.0f};
    CHECK(kit_bf16_dp(0.0f, ov, ov, 1) == f32_bits(__builtin_inff()), "overflow to +inf");
    /* MXCSR is left as it was, whatever it holds. */
    const unsigned saved = _mm_getcsr();
    const unsigned rz = saved | 0x6000u; /* RC = toward zero */
    _mm_setcsr(rz);
    const float x[2] = {0x1.8p-12f, 0.5f}, y[2] = {0x1p-12f, 2.0f};
    const uint32_t c = kit_bf16_dp(1.0f, x, y, 1);
    const unsigned after = _mm_getcsr();
    _mm_setcsr(saved);
    CHECK(after == rz, "MXCSR unchanged by TDPBF16PS (0x%x -> 0x%x)", rz, after);
    CHECK(fabs((double)f32_from_bits(c) - 2.0) <= 0x1p-22, "1 + 0.5 * 2 + tiny: got %a",
          (double)f32_from_bits(c));
}

static uint16_t random_bf16(int emin, int emax) {
    const int e = emin + (int)(rng_u64() % (uint64_t)(emax - emin + 1));
    return (uint16_t)(f32_bits(ldexpf(rng_normal(), e)) >> 16);
}

/* Random tiles of normal bf16 values (no denormal can arise, so flushing
 * plays no part): each C element must be within the bound that holds for
 * every order of fp32 additions, rounded either to nearest or toward zero:
 * |c - exact| <= n * 2^-23 * (|c0| + sum |a b|), n = 2K + 1 terms. The exact
 * value is formed in double (bf16 products are exact there). */
static void test_bf16_bounded(void) {
    int bad = 0;
    double worst = 0.0;
    for (int it = 0; it < 300; it++) {
        const int M = 1 + (int)(rng_u64() % 16), N = 1 + (int)(rng_u64() % 16),
                  K2 = 1 + (int)(rng_u64() % 16);
        uint16_t A[16 * 32], B[16 * 32];
        float C[16 * 16], out[16 * 16];
        const int wide = it % 3 == 0; /* magnitudes over 2^+-20, else similar */
        for (int i = 0; i < 16 * 32; i++) {
            A[i] = random_bf16(wide ? -20 : -2, wide ? 20 : 2);
            B[i] = random_bf16(wide ? -20 : -2, wide ? 20 : 2);
        }
        for (int i = 0; i < 16 * 16; i++) C[i] = rng_normal() * 4.0f;
        kit_one_dp(BF16, M, N, 4 * K2, C, 64, A, 64, 0, B, 64, out, 64);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double exact = C[m * 16 + n], mag = fabs(exact);
                for (int k = 0; k < 2 * K2; k++) {
                    const double p = (double)f32_from_bits((uint32_t)A[m * 32 + k] << 16) *
                                     (double)f32_from_bits((uint32_t)B[(k / 2) * 32 + 2 * n + k % 2] << 16);
                    exact += p;
                    mag += fabs(p);
                }
                const double bound = (2 * K2 + 1) * 0x1p-23 * mag;
                const double err = fabs((double)out[m * 16 + n] - exact);
                if (err / bound > worst) worst = err / bound;
                if (!(err <= bound) && bad++ < 5)
                    CHECK(0, "TDPBF16PS M=%d N=%d K=%d (%d,%d): %a, exact %a, bound %a", M, N, 2 * K2, m, n,
                          (double)out[m * 16 + n], exact, bound);
            }
    }
    CHECK(bad == 0, "%d TDPBF16PS results outside the summation-order bound", bad);
    printf("  TDPBF16PS: worst error / bound %.3f over 300 random tiles\n", worst);
}

/* ------------------------------------------------------------- threads */

typedef struct {
    int id;
    pthread_barrier_t *bar;
    int ok;
} thr_arg;

/* Two threads hold different configs at the same time; each computes with its
 * own shapes, and one releasing its tiles does not touch the other's. */
static void *thread_body(void *p) {
    thr_arg *t = p;
    const int M = t->id ? 3 : 16, N = t->id ? 2 : 16, K = t->id ? 12 : 64, kind = t->id ? UU : SS;
    uint8_t A[16 * 64], B[16 * 64];
    int32_t C0[16 * 16], C[16 * 16], R[16 * 16];
    for (int i = 0; i < 16 * 64; i++) A[i] = (uint8_t)(i * 7 + t->id * 13), B[i] = (uint8_t)(i * 11 + 5);
    for (int i = 0; i < 16 * 16; i++) C0[i] = i * (t->id ? -3 : 5);
    memcpy(R, C0, sizeof R);
    kit_ref_dp_int8(kind, M, N, K, A, 64, B, 64, R, 16);
    amxq_tilecfg cfg; /* per thread, on its own stack */
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, M, N, K);
    amxq_tile_begin(&cfg);
    pthread_barrier_wait(t->bar);
    amxq_tile_loadd(TC, C0, 64);
    amxq_tile_loadd(TA, A, 64);
    amxq_tile_loadd(TB, B, 64);
    pthread_barrier_wait(t->bar);
    kit_dp_kind(kind);
    pthread_barrier_wait(t->bar);
    memset(C, 0, sizeof C);
    amxq_tile_stored(TC, C, 64);
    int ok = 1;
    for (int m = 0; m < M; m++) ok &= memcmp(&C[m * 16], &R[m * 16], (size_t)N * 4) == 0;
    if (t->id == 1) amxq_tile_end();
    pthread_barrier_wait(t->bar);
    if (t->id == 0) { /* still configured, tiles intact: accumulate once more */
        kit_dp_kind(kind);
        amxq_tile_stored(TC, C, 64);
        kit_ref_dp_int8(kind, M, N, K, A, 64, B, 64, R, 16);
        for (int m = 0; m < M; m++) ok &= memcmp(&C[m * 16], &R[m * 16], (size_t)N * 4) == 0;
        amxq_tile_end();
    }
    t->ok = ok;
    return NULL;
}

static void test_threads(void) {
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    thr_arg args[2] = {{.id = 0, .bar = &bar}, {.id = 1, .bar = &bar}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_body, &args[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    CHECK(args[0].ok, "thread 0 (16x16x64 TDPBSSD) computed with its own config");
    CHECK(args[1].ok, "thread 1 (3x2x12 TDPBUUD) computed with its own config");
}

/* ------------------------------------------- int8 GEMM, as kernels will */

/* C[16 x 16] += A[16 x 64] . B: one TDPBSSD. */
static void test_gemm_one_tile(void) {
    int8_t A[16 * 64], B[64 * 16];
    int32_t C[16 * 16], R[16 * 16];
    kit_fill((uint8_t *)A, sizeof A);
    kit_fill((uint8_t *)B, sizeof B);
    for (int i = 0; i < 256; i++) C[i] = R[i] = (int32_t)(rng_u64() % 2001) - 1000;
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 16; n++)
            for (int k = 0; k < 64; k++) R[m * 16 + n] += A[m * 64 + k] * B[k * 16 + n];
    uint8_t *bp = kit_pack_b_vnni(B, 16, 64, 16);
    kit_one_dp(SS, 16, 16, 64, C, 64, A, 64, 1, bp, 64, C, 64);
    CHECK(memcmp(C, R, sizeof C) == 0, "16x16x64 tile GEMM equals plain C");
    free(bp);
}

static void test_gemm_looped(void) {
    static const int shapes[][3] = {{32, 32, 256}, {29, 23, 232}, {45, 50, 100}, {17, 33, 68},
                                    {1, 1, 4},     {16, 16, 64},  {64, 48, 192}, {3, 40, 36}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        const int lda = (K + 63) / 64 * 64; /* the workspace layout: 64-byte rows */
        int8_t *A = kit_alloc((size_t)M * lda), *B = kit_alloc((size_t)K * N);
        int32_t *C = kit_alloc((size_t)M * N * 4), *R = kit_alloc((size_t)M * N * 4);
        kit_fill((uint8_t *)A, (size_t)M * lda);
        kit_fill((uint8_t *)B, (size_t)K * N);
        for (int i = 0; i < M * N; i++) C[i] = R[i] = (int32_t)(rng_u64() % 100001) - 50000;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                int32_t acc = 0;
                for (int k = 0; k < K; k++) acc += A[m * lda + k] * B[k * N + n];
                R[m * N + n] += acc;
            }
        uint8_t *bp = kit_pack_b_vnni(B, N, K, N);
        kit_tile_gemm_s8(M, N, K, A, lda, bp, C, N);
        CHECK(memcmp(C, R, (size_t)M * N * 4) == 0, "looped tile GEMM %dx%dx%d equals plain C", M, N, K);
        free(A), free(B), free(C), free(R), free(bp);
    }
}

int main(void) {
#if !defined(AMXQ_TILE_EMULATOR)
    const char *why = NULL;
    if (!amxq_isa_usable(AMX_ISA_AMX, &why)) {
        printf("SKIP: real tile instructions cannot run here (%s); the emulated build (suite amx, "
               "test tile_ops_emulated) runs these checks\n",
               why);
        return 77;
    }
    printf("running on real AMX tiles\n");
#else
    printf("running on the tile emulator\n");
#endif
    rng_seed(0x7173);
    test_signedness();
    test_random_shapes();
    test_strides();
    test_config_zeroes();
    test_bf16_order_free();
    test_bf16_bounded();
    test_threads();
    test_gemm_one_tile();
    test_gemm_looped();
    return test_finish("test_tile_ops");
}
