/*
 * Tile operations (src/tiles/tile_ops.h) and the tile emulator.
 *
 * Emulated builds (AMXQ_TILE_EMULATOR: `_emu`, `_san`): every check below,
 * including each fault case in a forked child (it must abort with a message
 * naming the instruction, the tile and the rule), the instruction counters
 * and the region-discipline checks.
 * Normal build (compiled with amx_args): the semantic checks run on the real
 * tile instructions where the CPU has AMX, which checks the emulator's model
 * against hardware; elsewhere the test skips and says why.
 *
 * Expected values are either worked out by hand (in the comments) or come
 * from plain C written straight from the instruction definitions, never from
 * the emulator itself.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xmmintrin.h>

#include "common.h"
#include "../src/cpu.h"
#include "../src/tiles/tile_ops.h"

#if defined(AMXQ_TILE_EMULATOR)
#define EMULATED 1
#else
#define EMULATED 0
#endif

/* Tiles of the single-op tests. */
#define TC 0
#define TA 1
#define TB 2

enum { SS, SU, US, UU, N_KINDS, BF16 = N_KINDS };
static const char *const k_kind_name[N_KINDS] = {"TDPBSSD", "TDPBSUD", "TDPBUSD", "TDPBUUD"};

static void dp_kind(int kind) {
    switch (kind) {
    case SS: amxq_tile_dpbssd(TC, TA, TB); break;
    case SU: amxq_tile_dpbsud(TC, TA, TB); break;
    case US: amxq_tile_dpbusd(TC, TA, TB); break;
    case UU: amxq_tile_dpbuud(TC, TA, TB); break;
    default: amxq_tile_dpbf16ps(TC, TA, TB); break;
    }
}

/* One AMX region with one TDP: C (m x n dwords) loaded from c, += A (m x kb
 * bytes) . B (kb/4 rows x n dwords) by `kind`, stored to out. Strides in
 * bytes; A may be loaded with the streaming hint. */
static void one_dp(int kind, int m, int n, int kb, const void *c, int ldc, const void *a, int lda,
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
    dp_kind(kind);
    amxq_tile_stored(TC, out, ldo);
    amxq_tile_end();
}

static void *xalloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) abort();
    return p;
}

static void fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_u64();
}

/* The definition, literally: C.dword[m][n] += sum_i ext(A[m][4k+i]) ext(B[k][4n+i]),
 * wrapping (done in uint32). A, B are byte matrices with row strides; C int32. */
static void ref_dp_int8(int kind, int M, int N, int kbytes, const uint8_t *A, int lda, const uint8_t *B,
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
        dp_kind(kind);
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
        uint8_t *A = xalloc((size_t)m * lda), *B = xalloc((size_t)(k / 4) * ldb);
        int32_t *C0 = xalloc((size_t)m * ldc * 4), *C = xalloc((size_t)m * ldc * 4),
                *R = xalloc((size_t)m * ldc * 4);
        fill(A, (size_t)m * lda);
        fill(B, (size_t)(k / 4) * ldb);
        fill((uint8_t *)C0, (size_t)m * ldc * 4);
        memset(C, 0xA5, (size_t)m * ldc * 4);
        memcpy(R, C, (size_t)m * ldc * 4);
        for (int r = 0; r < m; r++) memcpy(&R[r * ldc], &C0[r * ldc], (size_t)n * 4);
        ref_dp_int8(kind, m, n, k, A, lda, B, ldb, R, ldc);

        one_dp(kind, m, n, k, C0, ldc * 4, A, lda, it % 2, B, ldb, C, ldc * 4);
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
    fill(src, sizeof src);
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
    fill(src, sizeof src);
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

#if EMULATED
/* Bytes beyond a tile's shape are only visible through the emulator's peek:
 * fill the registers with garbage (poke) and see what each instruction
 * leaves there. */
static void test_zeroing_beyond_shape(void) {
    uint8_t junk[16 * 64], src[16 * 64], t[16 * 64];
    fill(junk, sizeof junk);
    fill(src, sizeof src);
    amxq_tilecfg cfg;
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, 5, 3, 20); /* C 5x12, A 5x20, B 5x12 */
    amxq_tile_begin(&cfg);

    amxq_tile_emu_poke(TA, junk);
    amxq_tile_loadd(TA, src, 64);
    amxq_tile_emu_peek(TA, t);
    int ok = 1;
    for (int r = 0; r < 16; r++)
        for (int j = 0; j < 64; j++) ok &= t[64 * r + j] == (r < 5 && j < 20 ? src[64 * r + j] : 0);
    CHECK(ok, "TILELOADD: rows x colsb from memory, everything else zero");

    /* TDP: C keeps its in-shape values as the accumulator, the rest is zeroed */
    uint8_t c_in[16 * 64];
    memcpy(c_in, junk, sizeof c_in);
    amxq_tile_emu_poke(TC, c_in);
    amxq_tile_loadd(TB, src + 512, 64);
    amxq_tile_dpbsud(TC, TA, TB);
    amxq_tile_emu_peek(TC, t);
    int32_t want[5 * 3];
    for (int r = 0; r < 5; r++) memcpy(&want[3 * r], c_in + 64 * r, 12);
    ref_dp_int8(SU, 5, 3, 20, src, 64, src + 512, 64, want, 3);
    ok = 1;
    for (int r = 0; r < 16; r++)
        for (int j = 0; j < 64; j++)
            ok &= t[64 * r + j] == (r < 5 && j < 12 ? ((const uint8_t *)want)[12 * r + j] : 0);
    CHECK(ok, "TDPBSUD: C accumulates in shape and is zero beyond it");

    amxq_tile_emu_poke(TC, junk);
    amxq_tile_loadd(TB, src + 512, 64);
    amxq_tile_emu_poke(TA, junk); /* in-shape garbage in A is fine input */
    amxq_tile_dpbf16ps(TC, TA, TB);
    amxq_tile_emu_peek(TC, t);
    ok = 1;
    for (int r = 0; r < 16; r++)
        for (int j = 0; j < 64; j++)
            if (!(r < 5 && j < 12)) ok &= t[64 * r + j] == 0;
    CHECK(ok, "TDPBF16PS: C is zero beyond its shape");

    amxq_tile_emu_poke(5, junk); /* tmm5 is unused in this config */
    amxq_tile_emu_poke(TB, junk);
    amxq_tile_zero(TB);
    amxq_tile_emu_peek(TB, t);
    ok = 1;
    for (size_t j = 0; j < sizeof t; j++) ok &= t[j] == 0;
    CHECK(ok, "TILEZERO clears all 1024 bytes");

    amxq_tile_end();
    uint8_t cfg_out[64], zero[64] = {0};
    amxq_tile_emu_sttilecfg(cfg_out);
    CHECK(memcmp(cfg_out, zero, 64) == 0, "after TILERELEASE the config reads back as zeros");
    ok = 1;
    for (int tt = 0; tt < 8; tt++) {
        amxq_tile_emu_peek(tt, t);
        for (size_t j = 0; j < sizeof t; j++) ok &= t[j] == 0;
    }
    CHECK(ok, "TILERELEASE zeroes every tile");
    CHECK(amxq_tile_emu_threads_configured() == 0, "no thread holds a config after release");
}
#endif

/* ---------------------------------------------------------------- bf16 */

static uint16_t to_bf16_exact(float f) {
    const uint32_t u = f32_bits(f);
    if (u & 0xFFFF) {
        fprintf(stderr, "test bug: %a is not a bf16 value\n", (double)f);
        abort();
    }
    return (uint16_t)(u >> 16);
}

/* One TDPBF16PS of C (1x1, fp32 c0) += sum over k < K2 of the pairs
 * (a[2k], a[2k+1]) . (b[2k], b[2k+1]); operands given as bf16 bit patterns. */
static uint32_t bf16_dp_bits(uint32_t c0, const uint16_t *a, const uint16_t *b, int K2) {
    uint32_t c;
    /* B is one column: row k holds the pair (b[2k], b[2k+1]) */
    one_dp(BF16, 1, 1, 4 * K2, &c0, 4, a, 4 * K2, 0, b, 4, &c, 4);
    return c;
}

static uint32_t bf16_dp(float c0, const float *a, const float *b, int K2) {
    uint16_t ah[32], bh[32];
    for (int i = 0; i < 2 * K2; i++) ah[i] = to_bf16_exact(a[i]), bh[i] = to_bf16_exact(b[i]);
    return bf16_dp_bits(f32_bits(c0), ah, bh, K2);
}

static void test_bf16_chosen(void) {
    const float u12 = 0x1p-12f, one = 1.0f;
    /* The pair is summed before it meets C: 1 + (2^-24 + 2^-24) = 1 + 2^-23.
     * Two sequential FMAs would round each 2^-24 away (ties to even) -> 1. */
    {
        const float a[2] = {u12, u12}, b[2] = {u12, u12};
        CHECK(bf16_dp(one, a, b, 1) == f32_bits(1.0f + 0x1p-23f), "pair summed first: got %a",
              (double)f32_from_bits(bf16_dp(one, a, b, 1)));
    }
    /* Round to nearest, ties to even: 1 + 2^-24 -> 1; (1 + 2^-23) + 2^-24 -> 1 + 2^-22. */
    {
        const float a[2] = {u12, 0.0f}, b[2] = {u12, 0.0f};
        CHECK(bf16_dp(one, a, b, 1) == f32_bits(1.0f), "tie to even (down)");
        CHECK(bf16_dp(1.0f + 0x1p-23f, a, b, 1) == f32_bits(1.0f + 0x1p-22f), "tie to even (up)");
    }
    /* Pairs are added to C one k at a time: k0 gives 2^-24 + 2^-24, k1 gives
     * 1 + (-1) -> 2^-23. (Summing all even and all odd products over k first
     * would give (2^-24 + 1) + (2^-24 - 1) = 1 - (1 - 2^-24) = 2^-24.) */
    {
        const float a[4] = {u12, u12, one, one}, b[4] = {u12, u12, one, -one};
        CHECK(bf16_dp(0.0f, a, b, 2) == f32_bits(0x1p-23f), "per-k accumulation order: got %a",
              (double)f32_from_bits(bf16_dp(0.0f, a, b, 2)));
    }
    /* Denormal bf16 inputs read as zero: 0x0001 (2^-133) * 2^100 would be 2^-33. */
    {
        const uint16_t a[2] = {0x0001, 0}, b[2] = {to_bf16_exact(0x1p100f), 0};
        CHECK(bf16_dp_bits(0, a, b, 1) == 0, "denormal A reads as zero");
        CHECK(bf16_dp_bits(0, b, a, 1) == 0, "denormal B reads as zero");
        const uint16_t a2[2] = {0x8040, 0}; /* negative denormal */
        CHECK(bf16_dp_bits(0, a2, b, 1) == 0, "negative denormal reads as zero");
        const uint16_t ao[2] = {0x3F80, 0x0001}, bo[2] = {0, to_bf16_exact(0x1p100f)}; /* odd elements */
        CHECK(bf16_dp_bits(0, ao, bo, 1) == 0, "denormal odd A element reads as zero");
        const uint16_t ao2[2] = {0, to_bf16_exact(0x1p100f)}, bo2[2] = {0x3F80, 0x0001};
        CHECK(bf16_dp_bits(0, ao2, bo2, 1) == 0, "denormal odd B element reads as zero");
    }
    /* A denormal accumulator reads as zero: 2^-127 + 2^-126 -> 2^-126 (not 1.5 * 2^-126). */
    {
        const float a[2] = {0x1p-63f, 0.0f}, b[2] = {0x1p-63f, 0.0f};
        CHECK(bf16_dp(0x1p-127f, a, b, 1) == f32_bits(0x1p-126f), "denormal C reads as zero");
    }
    /* Denormal results are flushed, at each step:
     * product: 2^-63 * 2^-64 = 2^-127 -> 0, so 0 + 2^-126 = 2^-126 (not 1.5 * 2^-126);
     * pair sum: 2^-126 - 1.5 * 2^-126 = -2^-127 -> -0, so C = 2^-126 stays (not 2^-127 -> 0),
     *   and from C = -0 the result is -0;
     * accumulation: 1.5 * 2^-126 - 2^-126 = 2^-127 -> 0. */
    {
        const float a[2] = {0x1p-63f, 0x1p-63f}, b[2] = {0x1p-64f, 0x1p-63f};
        CHECK(bf16_dp(0.0f, a, b, 1) == f32_bits(0x1p-126f), "denormal product flushed: got %a",
              (double)f32_from_bits(bf16_dp(0.0f, a, b, 1)));
        const float a1[2] = {0x1p-63f, 0x1p-63f}, b1[2] = {0x1p-63f, 0x1p-64f};
        CHECK(bf16_dp(0.0f, a1, b1, 1) == f32_bits(0x1p-126f), "denormal odd product flushed");
        const float a2[2] = {0x1p-60f, 0x1.8p-63f}, b2[2] = {0x1p-66f, -0x1p-63f};
        CHECK(bf16_dp(0x1p-126f, a2, b2, 1) == f32_bits(0x1p-126f), "denormal pair sum flushed: got %a",
              (double)f32_from_bits(bf16_dp(0x1p-126f, a2, b2, 1)));
        CHECK(bf16_dp(-0.0f, a2, b2, 1) == 0x80000000u, "flushed pair sum keeps its sign");
        const float a3[2] = {0x1p-63f, 0.0f}, b3[2] = {-0x1p-63f, 0.0f};
        CHECK(bf16_dp(0x1.8p-126f, a3, b3, 1) == 0, "denormal accumulation result flushed");
    }
    /* Overflow gives infinity. */
    {
        const float a[2] = {0x1p100f, 0.0f}, b[2] = {0x1p100f, 0.0f};
        CHECK(bf16_dp(0.0f, a, b, 1) == f32_bits(__builtin_inff()), "overflow to +inf");
    }
    /* MXCSR is ignored and left as it was: with round-toward-zero and FTZ/DAZ
     * off in MXCSR, 1 + 3 * 2^-25 still rounds to nearest (1 + 2^-23). */
    {
        const unsigned saved = _mm_getcsr();
        const unsigned rz = (saved & ~0x6000u) | 0x6000u; /* RC = toward zero */
        _mm_setcsr(rz);
        const float a[2] = {0x1.8p-12f, 0.0f}, b[2] = {u12, 0.0f};
        const uint32_t c = bf16_dp(one, a, b, 1);
        const unsigned after = _mm_getcsr();
        _mm_setcsr(saved);
        CHECK(c == f32_bits(1.0f + 0x1p-23f), "rounding ignores MXCSR.RC: got %a", (double)f32_from_bits(c));
        CHECK(after == rz, "MXCSR unchanged by TDPBF16PS (0x%x -> 0x%x)", rz, after);
    }
}

/* Written from the definition: per (m, n), per k: even and odd products
 * (inputs denormal -> 0), their sum, added to C; denormal results -> 0. */
static float ftz(float x) {
    return (x != 0.0f && x > -0x1p-126f && x < 0x1p-126f) ? (x < 0 ? -0.0f : 0.0f) : x;
}
static float bf16f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ftz(f32_from_bits((uint32_t)h << 16));
}

static void test_bf16_random(void) {
    int bad = 0;
    for (int it = 0; it < 200; it++) {
        const int M = 1 + (int)(rng_u64() % 16), N = 1 + (int)(rng_u64() % 16),
                  K2 = 1 + (int)(rng_u64() % 16);
        uint8_t A[16 * 64], B[16 * 64];
        float C[16 * 16], out[16 * 16], want[16 * 16];
        for (int i = 0; i < 16 * 32; i++) {
            const int e = (int)(rng_u64() % 40) - 20;
            float v = ldexpf(rng_normal(), e);
            uint32_t u = f32_bits(v) >> 16;
            if (rng_u64() % 50 == 0) u = (uint32_t)(rng_u64() & 0x807F); /* denormal or zero */
            const uint16_t h = (uint16_t)u;
            memcpy(&A[2 * i], &h, 2);
            const int e2 = (int)(rng_u64() % 40) - 20;
            const uint16_t h2 = (uint16_t)(f32_bits(ldexpf(rng_normal(), e2)) >> 16);
            memcpy(&B[2 * i], &h2, 2);
        }
        for (int i = 0; i < 16 * 16; i++) C[i] = rng_normal() * 4.0f;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float c = ftz(C[m * 16 + n]);
                for (int k = 0; k < K2; k++) {
                    const float e = ftz(bf16f(&A[m * 64 + 4 * k]) * bf16f(&B[k * 64 + 4 * n]));
                    const float o = ftz(bf16f(&A[m * 64 + 4 * k + 2]) * bf16f(&B[k * 64 + 4 * n + 2]));
                    c = ftz(c + ftz(e + o));
                }
                want[m * 16 + n] = c;
            }
        one_dp(BF16, M, N, 4 * K2, C, 64, A, 64, 0, B, 64, out, 64);
        for (int m = 0; m < M; m++)
            if (memcmp(&out[m * 16], &want[m * 16], (size_t)N * 4) != 0) {
                if (bad++ < 5) CHECK(0, "TDPBF16PS M=%d N=%d K=%d row %d differs", M, N, 2 * K2, m);
                break;
            }
    }
    CHECK(bad == 0, "%d of 200 random TDPBF16PS cases differ from the definition", bad);
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
    ref_dp_int8(kind, M, N, K, A, 64, B, 64, R, 16);
#if EMULATED
    amxq_tile_emu_counts_reset();
#endif
    amxq_tilecfg cfg; /* per thread, on its own stack */
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, M, N, K);
    amxq_tile_begin(&cfg);
    pthread_barrier_wait(t->bar);
    amxq_tile_loadd(TC, C0, 64);
    amxq_tile_loadd(TA, A, 64);
    amxq_tile_loadd(TB, B, 64);
    pthread_barrier_wait(t->bar);
    dp_kind(kind);
    pthread_barrier_wait(t->bar);
    memset(C, 0, sizeof C);
    amxq_tile_stored(TC, C, 64);
    int ok = 1;
    for (int m = 0; m < M; m++) ok &= memcmp(&C[m * 16], &R[m * 16], (size_t)N * 4) == 0;
    if (t->id == 1) amxq_tile_end();
    pthread_barrier_wait(t->bar);
    if (t->id == 0) { /* still configured, tiles intact: accumulate once more */
#if EMULATED
        ok &= amxq_tile_emu_threads_configured() == 1;
#endif
        dp_kind(kind);
        amxq_tile_stored(TC, C, 64);
        ref_dp_int8(kind, M, N, K, A, 64, B, 64, R, 16);
        for (int m = 0; m < M; m++) ok &= memcmp(&C[m * 16], &R[m * 16], (size_t)N * 4) == 0;
        amxq_tile_end();
    }
#if EMULATED
    amxq_tile_counts n;
    amxq_tile_emu_counts(&n);
    const uint64_t dps = t->id ? 1 : 2;
    ok &= n.ldtilecfg == 1 && n.tileloadd == 3 && n.tdpb_int8 == dps && n.tilestored == dps &&
          n.tilerelease == 1 && n.macs == dps * (uint64_t)(M * N * K);
#endif
    t->ok = ok;
    return NULL;
}

static void test_threads(void) {
#if EMULATED
    amxq_tile_emu_counts_all_reset();
#endif
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    thr_arg args[2] = {{.id = 0, .bar = &bar}, {.id = 1, .bar = &bar}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_body, &args[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    CHECK(args[0].ok, "thread 0 (16x16x64 TDPBSSD) computed with its own config");
    CHECK(args[1].ok, "thread 1 (3x2x12 TDPBUUD) computed with its own config");
#if EMULATED
    amxq_tile_counts all;
    amxq_tile_emu_counts_all(&all);
    CHECK(all.ldtilecfg == 2 && all.tilerelease == 2 && all.tdpb_int8 == 3 &&
              all.macs == 2ull * 16 * 16 * 64 + 3 * 2 * 12,
          "process-wide counts are the two threads' sums (tdp %llu, macs %llu)",
          (unsigned long long)all.tdpb_int8, (unsigned long long)all.macs);
    CHECK(amxq_tile_emu_threads_configured() == 0, "both threads released their tiles");
#endif
}

/* ------------------------------------------- int8 GEMM, as kernels will */

/* B (K x N int8, element (k, n) at b[k * ldb + n]) packed for tiles: panel p
 * (16 columns) holds K/4 VNNI rows of 64 bytes, row r at (p * K/4 + r) * 64,
 * byte 4j + i = B(4r + i, 16p + j); columns >= N are zero. */
static uint8_t *pack_b_vnni(const int8_t *b, int ldb, int K, int N) {
    const int np = (N + 15) / 16, K4 = K / 4;
    uint8_t *p = xalloc((size_t)np * K4 * 64);
    memset(p, 0, (size_t)np * K4 * 64);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            p[((size_t)(n / 16) * K4 + k / 4) * 64 + 4 * (n % 16) + k % 4] = (uint8_t)b[k * ldb + n];
    return p;
}

/* C[16 x 16] += A[16 x 64] . B: one TDPBSSD. */
static void test_gemm_one_tile(void) {
    int8_t A[16 * 64], B[64 * 16];
    int32_t C[16 * 16], R[16 * 16];
    fill((uint8_t *)A, sizeof A);
    fill((uint8_t *)B, sizeof B);
    for (int i = 0; i < 256; i++) C[i] = R[i] = (int32_t)(rng_u64() % 2001) - 1000;
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 16; n++)
            for (int k = 0; k < 64; k++) R[m * 16 + n] += A[m * 64 + k] * B[k * 16 + n];
    uint8_t *bp = pack_b_vnni(B, 16, 64, 16);
    one_dp(SS, 16, 16, 64, C, 64, A, 64, 1, bp, 64, C, 64);
    CHECK(memcmp(C, R, sizeof C) == 0, "16x16x64 tile GEMM equals plain C");
    free(bp);
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

/* C (M x N int32, row stride ldc) += A (M x K int8, row stride lda) . B
 * (packed by pack_b_vnni); K a multiple of 4. One AMX region. */
static void tile_gemm_s8(int M, int N, int K, const int8_t *A, int lda, const uint8_t *bp, int32_t *C,
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

static void test_gemm_looped(void) {
    static const int shapes[][3] = {{32, 32, 256}, {29, 23, 232}, {45, 50, 100}, {17, 33, 68},
                                    {1, 1, 4},     {16, 16, 64},  {64, 48, 192}, {3, 40, 36}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        const int lda = (K + 63) / 64 * 64; /* the workspace layout: 64-byte rows */
        int8_t *A = xalloc((size_t)M * lda), *B = xalloc((size_t)K * N);
        int32_t *C = xalloc((size_t)M * N * 4), *R = xalloc((size_t)M * N * 4);
        fill((uint8_t *)A, (size_t)M * lda);
        fill((uint8_t *)B, (size_t)K * N);
        for (int i = 0; i < M * N; i++) C[i] = R[i] = (int32_t)(rng_u64() % 100001) - 50000;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                int32_t acc = 0;
                for (int k = 0; k < K; k++) acc += A[m * lda + k] * B[k * N + n];
                R[m * N + n] += acc;
            }
        uint8_t *bp = pack_b_vnni(B, N, K, N);
#if EMULATED
        amxq_tile_emu_counts_reset();
#endif
        tile_gemm_s8(M, N, K, A, lda, bp, C, N);
        CHECK(memcmp(C, R, (size_t)M * N * 4) == 0, "looped tile GEMM %dx%dx%d equals plain C", M, N, K);
#if EMULATED
        amxq_tile_counts n;
        amxq_tile_emu_counts(&n);
        const uint64_t tdp = (uint64_t)((M + 15) / 16) * ((N + 15) / 16) * ((K + 63) / 64);
        CHECK(n.tdpb_int8 == tdp && n.macs == (uint64_t)M * N * K,
              "%dx%dx%d: %llu TDP / %llu MACs counted, want %llu / %llu", M, N, K,
              (unsigned long long)n.tdpb_int8, (unsigned long long)n.macs, (unsigned long long)tdp,
              (unsigned long long)M * N * K);
        char mix[256];
        if (s == 0)
            printf("  tile GEMM 32x32x256 instruction mix: %s\n", amxq_tile_emu_mix(&n, mix, sizeof mix));
#endif
        free(A), free(B), free(C), free(R), free(bp);
    }
}

#if EMULATED
/* ------------------------------------------------------------ counters */

static void test_counters(void) {
    uint8_t buf[16 * 64] = {0};
    amxq_tilecfg cfg;
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, 16, 16, 64);
    amxq_tilecfg_dp(&cfg, 3, 4, 5, 5, 3, 12);
    amxq_tile_emu_counts_reset();
    amxq_tile_emu_counts_all_reset();
    amxq_tile_begin(&cfg);
    amxq_tile_loadd(TA, buf, 64);
    amxq_tile_stream_loadd(TB, buf, 64);
    amxq_tile_zero(TC);
    amxq_tile_dpbssd(TC, TA, TB); /* 16 * 16 * 64 = 16384 MACs */
    amxq_tile_loadd(4, buf, 64);
    amxq_tile_loadd(5, buf, 64);
    amxq_tile_zero(3);
    amxq_tile_dpbuud(3, 4, 5);   /* 5 * 3 * 12 = 180 */
    amxq_tile_dpbf16ps(3, 4, 5); /* 5 * 3 * 6 = 90 */
    amxq_tile_stored(TC, buf, 64);
    amxq_tile_counts n, all;
    amxq_tile_emu_counts_all(&all);
    CHECK(all.ldtilecfg == 0 && all.macs == 0, "nothing reaches the process total before release");
    amxq_tile_end();
    amxq_tile_emu_counts(&n);
    CHECK(n.ldtilecfg == 1 && n.tilerelease == 1 && n.tileloadd == 4 && n.tileloaddt1 == 1 &&
              n.tilestored == 1 && n.tilezero == 2 && n.tdpb_int8 == 2 && n.tdpbf16ps == 1 &&
              n.macs == 16384 + 180 + 90,
          "thread counts: cfg %llu rel %llu ld %llu ldt1 %llu st %llu zero %llu int8 %llu bf16 %llu "
          "macs %llu",
          (unsigned long long)n.ldtilecfg, (unsigned long long)n.tilerelease, (unsigned long long)n.tileloadd,
          (unsigned long long)n.tileloaddt1, (unsigned long long)n.tilestored, (unsigned long long)n.tilezero,
          (unsigned long long)n.tdpb_int8, (unsigned long long)n.tdpbf16ps, (unsigned long long)n.macs);
    amxq_tile_emu_counts_all(&all);
    CHECK(memcmp(&all, &n, sizeof n) == 0, "process total after release equals this thread's counts");
    /* a second region adds to both; a palette-0 LDTILECFG also flushes */
    amxq_tile_begin(&cfg);
    amxq_tile_zero(TC);
    amxq_tilecfg none = {0};
    amxq_tile_loadconfig(&none);
    amxq_tile_emu_counts_all(&all);
    CHECK(all.ldtilecfg == 3 && all.tilezero == 3, "palette 0 flushes counts like TILERELEASE");
    amxq_tile_emu_counts_reset();
    amxq_tile_emu_counts(&n);
    CHECK(n.ldtilecfg == 0 && n.macs == 0, "thread counts reset");
    char mix[256];
    const amxq_tile_counts c = {.tileloadd = 3, .tilestored = 1, .tdpb_int8 = 2, .macs = 2000};
    amxq_tile_emu_mix(&c, mix, sizeof mix);
    CHECK(strstr(mix, "1.500 tile loads") && strstr(mix, "0.500 tile stores") &&
              strstr(mix, "1.000 TDP (1000 MACs each)"),
          "mix string: %s", mix);

    /* speed: the emulator must be usable for kernel tests */
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, 16, 16, 64);
    amxq_tile_begin(&cfg);
    fill(buf, sizeof buf);
    amxq_tile_loadd(TA, buf, 64);
    amxq_tile_loadd(TB, buf, 64);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int reps = 20000;
    for (int i = 0; i < reps; i++) amxq_tile_dpbssd(TC, TA, TB);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    amxq_tile_end();
    const double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / reps;
    printf("  emulated 16x16x64 TDPBSSD: %.0f ns (%.2f GMAC/s)\n", ns, 16384.0 / ns);
}

/* --------------------------------------------------------------- faults */

/* Runs fn in a child; it must abort with every needle in its stderr. */
static void expect_fault(const char *what, void (*fn)(void), const char *n1, const char *n2, const char *n3) {
    fflush(stdout);
    fflush(stderr);
    int fd[2];
    if (pipe(fd) != 0) abort();
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        fn();
        _exit(0);
    }
    close(fd[1]);
    char msg[4096];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd[0], msg + len, sizeof msg - 1 - len)) > 0) len += (size_t)r;
    msg[len] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s: must abort (status 0x%x, stderr: %s)", what, st,
          msg);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i])
            CHECK(strstr(msg, needles[i]) != NULL, "%s: message lacks \"%s\": %s", what, needles[i], msg);
}

static void expect_no_fault(const char *what, void (*fn)(void)) {
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: must run without a fault (status 0x%x)", what, st);
}

static uint8_t g_buf[16 * 64];

/* C = tmm0 16x64, A = tmm1 16x64, B = tmm2 16x64; tmm3..7 unused. */
static void cfg_std(amxq_tilecfg *c) {
    amxq_tilecfg_init(c);
    amxq_tilecfg_dp(c, TC, TA, TB, 16, 16, 64);
}

static void load_cfg(const amxq_tilecfg *c) {
    amxq_tile_release(); /* the child starts from the init state */
    amxq_tile_loadconfig(c);
}

/* the child's state: cfg_std loaded */
static void std_loaded(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    load_cfg(&c);
}

/* LDTILECFG (#GP) */
static void f_palette2(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    c.palette_id = 2;
    load_cfg(&c);
}
static void f_reserved(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    c.reserved[5] = 1;
    load_cfg(&c);
}
static void f_rows17(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    amxq_tilecfg_set(&c, 3, 17, 64);
    load_cfg(&c);
}
static void f_colsb68(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    amxq_tilecfg_set(&c, 5, 16, 68);
    load_cfg(&c);
}
static void f_colsb_tile9(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    c.colsb[9] = 4;
    load_cfg(&c);
}
static void f_rows_tile12(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    c.rows[12] = 1;
    load_cfg(&c);
}
static void f_rows_only(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    amxq_tilecfg_set(&c, 6, 4, 0);
    load_cfg(&c);
}
static void f_colsb_only(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    amxq_tilecfg_set(&c, 7, 0, 16);
    load_cfg(&c);
}
static void f_start_row(void) {
    amxq_tilecfg c;
    cfg_std(&c);
    c.start_row = 3;
    load_cfg(&c);
}

/* memory operations and TILEZERO (#UD) */
static void f_load_init(void) {
    amxq_tile_release();
    amxq_tile_loadd(TA, g_buf, 64);
}
static void f_load_released(void) {
    std_loaded();
    amxq_tile_release();
    amxq_tile_loadd(TA, g_buf, 64);
}
static void f_load_palette0(void) {
    std_loaded();
    amxq_tilecfg c;
    memset(&c, 0x11, sizeof c);
    c.palette_id = 0; /* the init state, whatever the other bytes say */
    amxq_tile_loadconfig(&c);
    amxq_tile_loadd(TA, g_buf, 64);
}
static void f_load_unconf(void) {
    std_loaded();
    amxq_tile_loadd(6, g_buf, 64);
}
static void f_stream_unconf(void) {
    std_loaded();
    amxq_tile_stream_loadd(7, g_buf, 64);
}
static void f_store_unconf(void) {
    std_loaded();
    amxq_tile_stored(4, g_buf, 64);
}
static void f_zero_unconf(void) {
    std_loaded();
    amxq_tile_zero(5);
}
static void f_store_init(void) {
    amxq_tile_release();
    amxq_tile_stored(TC, g_buf, 64);
}
static void f_zero_init(void) {
    amxq_tile_release();
    amxq_tile_zero(TC);
}
static void f_tile_number(void) {
    std_loaded();
    amxq_tile_emu_tilezero(8);
}

/* TDP* (#UD) */
static void f_dp_init(void) {
    amxq_tile_release();
    amxq_tile_dpbssd(TC, TA, TB);
}
static void f_bf16_init(void) {
    amxq_tile_release();
    amxq_tile_dpbf16ps(TC, TA, TB);
}
/* (the macros reject repeated tiles at compile time; call the emulator) */
static void f_c_is_a(void) {
    std_loaded();
    amxq_tile_emu_tdpbssd(0, 0, 2);
}
static void f_c_is_b(void) {
    std_loaded();
    amxq_tile_emu_tdpbsud(2, 1, 2);
}
static void f_a_is_b(void) {
    std_loaded();
    amxq_tile_emu_tdpbf16ps(0, 1, 1);
}
static void f_c_unconf(void) {
    std_loaded();
    amxq_tile_dpbuud(3, 1, 2);
}
static void f_a_unconf(void) {
    std_loaded();
    amxq_tile_dpbusd(0, 4, 2);
}
static void f_b_unconf(void) {
    std_loaded();
    amxq_tile_dpbf16ps(0, 1, 5);
}
/* One TDP on C, A, B shaped rows x colsb as in g_shape (set before forking). */
static struct { int mc, cc, ma, ca, mb, cb, bf16; } g_shape;
static void f_dp_shape(void) {
    amxq_tilecfg c;
    amxq_tilecfg_init(&c);
    amxq_tilecfg_set(&c, TC, g_shape.mc, g_shape.cc);
    amxq_tilecfg_set(&c, TA, g_shape.ma, g_shape.ca);
    amxq_tilecfg_set(&c, TB, g_shape.mb, g_shape.cb);
    load_cfg(&c);
    if (g_shape.bf16)
        amxq_tile_dpbf16ps(TC, TA, TB);
    else
        amxq_tile_dpbssd(TC, TA, TB);
}

/* accepted edge cases */
static void ok_palette0_garbage(void) {
    amxq_tilecfg c;
    memset(&c, 0xFF, sizeof c);
    c.palette_id = 0; /* the other bytes are not read */
    amxq_tile_loadconfig(&c);
    amxq_tile_release();
}
static void ok_max_shapes(void) {
    amxq_tilecfg c;
    amxq_tilecfg_init(&c);
    for (int t = 0; t < 8; t++) amxq_tilecfg_set(&c, t, 16, 64);
    load_cfg(&c);
    amxq_tile_dpbssd(7, 6, 5);
    amxq_tile_dpbf16ps(0, 3, 4);
    amxq_tile_end();
}
static void ok_odd_memory_shapes(void) { /* colsb need not be a multiple of 4 for loads/stores */
    amxq_tilecfg c;
    amxq_tilecfg_init(&c);
    amxq_tilecfg_set(&c, 3, 1, 1);
    amxq_tilecfg_set(&c, 4, 16, 63);
    load_cfg(&c);
    amxq_tile_loadd(3, g_buf, 1);
    amxq_tile_loadd(4, g_buf, 64);
    amxq_tile_stored(4, g_buf, 64);
    amxq_tile_zero(3);
    amxq_tile_end();
}
static void ok_release_twice(void) {
    amxq_tile_release();
    amxq_tile_release();
}
static void ok_minimal_dp(void) {
    amxq_tilecfg c;
    amxq_tilecfg_init(&c);
    amxq_tilecfg_dp(&c, TC, TA, TB, 1, 1, 4);
    load_cfg(&c);
    amxq_tile_dpbssd(TC, TA, TB);
    amxq_tile_dpbf16ps(TC, TA, TB);
    amxq_tile_end();
}

/* region discipline: another AMX user between regions */
static void f_foreign(void) {
    std_loaded();
    amxq_tile_emu_simulate_foreign_use();
    amxq_tile_zero(TC);
}
static void ok_foreign_reloaded(void) {
    std_loaded();
    amxq_tile_emu_simulate_foreign_use();
    std_loaded(); /* (TILERELEASE, then LDTILECFG) */
    amxq_tile_zero(TC);
    amxq_tile_end();
}
/* The pattern this catches: config loaded once per thread behind a flag. */
static void flagged_region(void) {
    static _Thread_local int configured;
    if (!configured) {
        amxq_tilecfg c;
        cfg_std(&c);
        amxq_tile_loadconfig(&c);
        configured = 1;
    }
    amxq_tile_zero(TC);
    amxq_tile_loadd(TA, g_buf, 64);
}
static void f_foreign_flag(void) {
    amxq_tile_release();
    flagged_region();
    amxq_tile_emu_simulate_foreign_use();
    flagged_region();
}

static void test_faults(void) {
    expect_fault("palette 2", f_palette2, "LDTILECFG", "#GP", "palette_id = 2");
    expect_fault("reserved byte", f_reserved, "LDTILECFG", "#GP", "reserved byte 7 = 0x01");
    expect_fault("rows 17", f_rows17, "LDTILECFG", "tmm3", "rows = 17 > 16");
    expect_fault("colsb 68", f_colsb68, "LDTILECFG", "tmm5", "colsb = 68 > 64");
    expect_fault("colsb of tile 9", f_colsb_tile9, "#GP", "colsb entry of tile 9", "tmm0..tmm7");
    expect_fault("rows of tile 12", f_rows_tile12, "#GP", "rows entry of tile 12", "tmm0..tmm7");
    expect_fault("rows without colsb", f_rows_only, "#GP", "tmm6: rows = 4, colsb = 0", "both");
    expect_fault("colsb without rows", f_colsb_only, "#GP", "tmm7: rows = 0, colsb = 16", "both");
    expect_fault("start_row", f_start_row, "LDTILECFG", "start_row = 3", "must be 0");

    expect_fault("load, never configured", f_load_init, "TILELOADD tmm1", "#UD", "not configured");
    expect_fault("load after TILERELEASE", f_load_released, "TILELOADD tmm1", "#UD", "not configured");
    expect_fault("load after palette 0", f_load_palette0, "TILELOADD tmm1", "#UD", "not configured");
    expect_fault("load of an unused tile", f_load_unconf, "TILELOADD tmm6", "#UD", "tmm6 is not configured");
    expect_fault("stream load of an unused tile", f_stream_unconf, "TILELOADDT1 tmm7", "#UD",
                 "tmm7 is not configured");
    expect_fault("store of an unused tile", f_store_unconf, "TILESTORED tmm4", "#UD",
                 "tmm4 is not configured");
    expect_fault("zero of an unused tile", f_zero_unconf, "TILEZERO tmm5", "#UD", "tmm5 is not configured");
    expect_fault("store, not configured", f_store_init, "TILESTORED tmm0", "#UD", "not configured");
    expect_fault("zero, not configured", f_zero_init, "TILEZERO tmm0", "#UD", "not configured");
    expect_fault("tile number 8", f_tile_number, "TILEZERO tmm8", "#UD", "out of range");

    expect_fault("TDPBSSD, not configured", f_dp_init, "TDPBSSD tmm0, tmm1, tmm2", "#UD", "not configured");
    expect_fault("TDPBF16PS, not configured", f_bf16_init, "TDPBF16PS tmm0, tmm1, tmm2", "#UD",
                 "not configured");
    expect_fault("C is A", f_c_is_a, "TDPBSSD tmm0, tmm0, tmm2", "#UD", "three different tiles");
    expect_fault("C is B", f_c_is_b, "TDPBSUD tmm2, tmm1, tmm2", "#UD", "three different tiles");
    expect_fault("A is B", f_a_is_b, "TDPBF16PS tmm0, tmm1, tmm1", "#UD", "three different tiles");
    expect_fault("C unused", f_c_unconf, "TDPBUUD tmm3, tmm1, tmm2", "#UD", "tmm3 (C) is not configured");
    expect_fault("A unused", f_a_unconf, "TDPBUSD tmm0, tmm4, tmm2", "#UD", "tmm4 (A) is not configured");
    expect_fault("B unused", f_b_unconf, "TDPBF16PS tmm0, tmm1, tmm5", "#UD", "tmm5 (B) is not configured");
    static const struct {
        const char *what, *insn, *rule;
        int mc, cc, ma, ca, mb, cb, bf16;
    } shapes[] = {
        {"colsb(C) != colsb(B)", "TDPBSSD", "colsb(C) = 64 != colsb(B) = 32", 16, 64, 16, 64, 16, 32, 0},
        {"rows(C) != rows(A)", "TDPBSSD", "rows(C) = 16 != rows(A) = 8", 16, 64, 8, 64, 16, 64, 0},
        {"colsb(A)/4 != rows(B)", "TDPBSSD", "colsb(A)/4 = 16 != rows(B) = 8", 16, 64, 16, 64, 8, 64, 0},
        {"colsb(C) % 4", "TDPBSSD", "colsb(C) = colsb(tmm0) = 6 is not a multiple of 4", 4, 6, 4, 8, 2, 6, 0},
        {"colsb(A) % 4", "TDPBSSD", "colsb(A) = colsb(tmm1) = 10 is not a multiple of 4", 4, 8, 4, 10, 2, 8,
         0},
        {"colsb(B) % 4", "TDPBSSD", "colsb(B) = colsb(tmm2) = 6 is not a multiple of 4", 4, 8, 4, 8, 2, 6, 0},
        {"TDPBF16PS rows", "TDPBF16PS", "rows(C) = 16 != rows(A) = 15", 16, 64, 15, 64, 16, 64, 1},
        {"TDPBF16PS K", "TDPBF16PS", "colsb(A)/4 = 8 != rows(B) = 16", 16, 64, 16, 32, 16, 64, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        g_shape.mc = shapes[i].mc, g_shape.cc = shapes[i].cc, g_shape.ma = shapes[i].ma;
        g_shape.ca = shapes[i].ca, g_shape.mb = shapes[i].mb, g_shape.cb = shapes[i].cb;
        g_shape.bf16 = shapes[i].bf16;
        expect_fault(shapes[i].what, f_dp_shape, shapes[i].insn, "#UD", shapes[i].rule);
    }

    expect_fault("foreign AMX use", f_foreign, "TILEZERO tmm0", "another AMX user", "LDTILECFG");
    expect_fault("thread-local configured flag", f_foreign_flag, "TILEZERO tmm0", "already configured", NULL);

    expect_no_fault("palette 0 ignores the other bytes", ok_palette0_garbage);
    expect_no_fault("eight 16x64 tiles", ok_max_shapes);
    expect_no_fault("loads/stores with colsb 1 and 63", ok_odd_memory_shapes);
    expect_no_fault("TILERELEASE when not configured", ok_release_twice);
    expect_no_fault("1x1x4 TDPBSSD and 1x1x2 TDPBF16PS", ok_minimal_dp);
    expect_no_fault("config reloaded after foreign use", ok_foreign_reloaded);
}
#endif /* EMULATED */

int main(void) {
#if !EMULATED
    const char *why = NULL;
    if (!amxq_isa_usable(AMX_ISA_AMX, &why)) {
        printf("SKIP: real tile instructions cannot run here (%s); the emulated build (suite amx, "
               "test tile_emu) runs these checks\n",
               why);
        return 77;
    }
    printf("running on real AMX tiles\n");
#endif
    rng_seed(0x7173);
    test_signedness();
    test_random_shapes();
    test_strides();
    test_config_zeroes();
    test_bf16_chosen();
    test_bf16_random();
    test_threads();
    test_gemm_one_tile();
    test_gemm_looped();
#if EMULATED
    test_zeroing_beyond_shape();
    test_counters();
    test_faults();
#endif
    return test_finish("test_tile_emu");
}
