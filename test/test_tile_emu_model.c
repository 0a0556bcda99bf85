/*
 * The tile emulator's own behaviour, in the `_emu` and `_san` builds only:
 * what only the emulator can show (bytes beyond a tile's shape, through
 * peek/poke), its TDPBF16PS model, its instruction counters, every fault
 * (each in a forked child that must abort with a message naming the
 * instruction, the tile and the rule) and the region-discipline checks.
 *
 * TDPBF16PS: the emulator models it as the published pseudo-code reads (per
 * k, the pair's products summed, then added to C, each step rounded to
 * nearest even, denormals flushed). Real AMX does not match that bit for bit
 * and no exact model is known, so the model is approximate; the checks below
 * pin the model down so it does not drift, and say nothing about hardware.
 * What hardware is known to do is checked in test_tile_ops.c, on both.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xmmintrin.h>

#include "common.h"
#include "tile_test_kit.h"
#include "../src/tiles/tile_ops.h"

#if !defined(AMXQ_TILE_EMULATOR)
#error "test_tile_emu_model.c tests the emulator: build it with AMXQ_TILE_EMULATOR"
#endif

/* ------------------------------------------- beyond the shape (peek/poke) */

/* Bytes beyond a tile's shape are only visible through the emulator's peek:
 * fill the registers with garbage (poke) and see what each instruction
 * leaves there. */
/* Bytes beyond a tile's shape are only visible through the emulator's peek:
 * kit_fill the registers with garbage (poke) and see what each instruction
 * leaves there. */
static void test_zeroing_beyond_shape(void) {
    uint8_t junk[16 * 64], src[16 * 64], t[16 * 64];
    kit_fill(junk, sizeof junk);
    kit_fill(src, sizeof src);
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
    kit_ref_dp_int8(SU, 5, 3, 20, src, 64, src + 512, 64, want, 3);
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

/* ------------------------------------------------------- TDPBF16PS model */

/* The model's choices, each pinned by a case that tells it apart from the
 * alternatives. */
static void test_bf16_model_chosen(void) {
    const float u12 = 0x1p-12f, one = 1.0f;
    /* The pair is summed before it meets C: 1 + (2^-24 + 2^-24) = 1 + 2^-23.
     * Two sequential FMAs would round each 2^-24 away (ties to even) -> 1. */
    {
        const float a[2] = {u12, u12}, b[2] = {u12, u12};
        CHECK(kit_bf16_dp(one, a, b, 1) == f32_bits(1.0f + 0x1p-23f), "pair summed first: got %a",
              (double)f32_from_bits(kit_bf16_dp(one, a, b, 1)));
    }
    /* Round to nearest, ties to even: 1 + 2^-24 -> 1; (1 + 2^-23) + 2^-24 -> 1 + 2^-22. */
    {
        const float a[2] = {u12, 0.0f}, b[2] = {u12, 0.0f};
        CHECK(kit_bf16_dp(one, a, b, 1) == f32_bits(1.0f), "tie to even (down)");
        CHECK(kit_bf16_dp(1.0f + 0x1p-23f, a, b, 1) == f32_bits(1.0f + 0x1p-22f), "tie to even (up)");
    }
    /* Pairs are added to C one k at a time: k0 gives 2^-24 + 2^-24, k1 gives
     * 1 + (-1) -> 2^-23. (Summing all even and all odd products over k first
     * would give (2^-24 + 1) + (2^-24 - 1) = 1 - (1 - 2^-24) = 2^-24.) */
    {
        const float a[4] = {u12, u12, one, one}, b[4] = {u12, u12, one, -one};
        CHECK(kit_bf16_dp(0.0f, a, b, 2) == f32_bits(0x1p-23f), "per-k accumulation order: got %a",
              (double)f32_from_bits(kit_bf16_dp(0.0f, a, b, 2)));
    }
    /* A denormal accumulator reads as zero: 2^-127 + 2^-126 -> 2^-126 (not 1.5 * 2^-126). */
    {
        const float a[2] = {0x1p-63f, 0.0f}, b[2] = {0x1p-63f, 0.0f};
        CHECK(kit_bf16_dp(0x1p-127f, a, b, 1) == f32_bits(0x1p-126f), "denormal C reads as zero");
    }
    /* Denormal results are flushed, at each step:
     * product: 2^-63 * 2^-64 = 2^-127 -> 0, so 0 + 2^-126 = 2^-126 (not 1.5 * 2^-126);
     * pair sum: 2^-126 - 1.5 * 2^-126 = -2^-127 -> -0, so C = 2^-126 stays (not 2^-127 -> 0),
     *   and from C = -0 the result is -0;
     * accumulation: 1.5 * 2^-126 - 2^-126 = 2^-127 -> 0. */
    {
        const float a[2] = {0x1p-63f, 0x1p-63f}, b[2] = {0x1p-64f, 0x1p-63f};
        CHECK(kit_bf16_dp(0.0f, a, b, 1) == f32_bits(0x1p-126f), "denormal product flushed: got %a",
              (double)f32_from_bits(kit_bf16_dp(0.0f, a, b, 1)));
        const float a1[2] = {0x1p-63f, 0x1p-63f}, b1[2] = {0x1p-63f, 0x1p-64f};
        CHECK(kit_bf16_dp(0.0f, a1, b1, 1) == f32_bits(0x1p-126f), "denormal odd product flushed");
        const float a2[2] = {0x1p-60f, 0x1.8p-63f}, b2[2] = {0x1p-66f, -0x1p-63f};
        CHECK(kit_bf16_dp(0x1p-126f, a2, b2, 1) == f32_bits(0x1p-126f), "denormal pair sum flushed: got %a",
              (double)f32_from_bits(kit_bf16_dp(0x1p-126f, a2, b2, 1)));
        CHECK(kit_bf16_dp(-0.0f, a2, b2, 1) == 0x80000000u, "flushed pair sum keeps its sign");
        const float a3[2] = {0x1p-63f, 0.0f}, b3[2] = {-0x1p-63f, 0.0f};
        CHECK(kit_bf16_dp(0x1.8p-126f, a3, b3, 1) == 0, "denormal accumulation result flushed");
    }
    /* MXCSR is ignored and left as it was: with round-toward-zero and FTZ/DAZ
     * off in MXCSR, 1 + 3 * 2^-25 still rounds to nearest (1 + 2^-23). */
    {
        const unsigned saved = _mm_getcsr();
        const unsigned rz = (saved & ~0x6000u) | 0x6000u; /* RC = toward zero */
        _mm_setcsr(rz);
        const float a[2] = {0x1.8p-12f, 0.0f}, b[2] = {u12, 0.0f};
        const uint32_t c = kit_bf16_dp(one, a, b, 1);
        const unsigned after = _mm_getcsr();
        _mm_setcsr(saved);
        CHECK(c == f32_bits(1.0f + 0x1p-23f), "rounding ignores MXCSR.RC: got %a", (double)f32_from_bits(c));
        CHECK(after == rz, "MXCSR unchanged by TDPBF16PS (0x%x -> 0x%x)", rz, after);
    }
}

/* The model, written out: per (m, n), per k: even and odd products (inputs
 * denormal -> 0), their sum, added to C; denormal results -> 0. */
static float ftz(float x) {
    return (x != 0.0f && x > -0x1p-126f && x < 0x1p-126f) ? (x < 0 ? -0.0f : 0.0f) : x;
}
static float bf16f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ftz(f32_from_bits((uint32_t)h << 16));
}

static void test_bf16_model_random(void) {
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
        kit_one_dp(BF16, M, N, 4 * K2, C, 64, A, 64, 0, B, 64, out, 64);
        for (int m = 0; m < M; m++)
            if (memcmp(&out[m * 16], &want[m * 16], (size_t)N * 4) != 0) {
                if (bad++ < 5) CHECK(0, "TDPBF16PS M=%d N=%d K=%d row %d differs", M, N, 2 * K2, m);
                break;
            }
    }
    CHECK(bad == 0, "%d of 200 random TDPBF16PS cases differ from the model", bad);
}

/* ------------------------------------------------- counts across threads */

typedef struct {
    int id;
    int ok;
} cnt_arg;

/* Each thread: one region of its own shape, counted per thread. */
static void *count_body(void *p) {
    cnt_arg *t = p;
    const int M = t->id ? 3 : 16, N = t->id ? 2 : 16, K = t->id ? 12 : 64;
    uint8_t buf[16 * 64] = {0};
    amxq_tile_emu_counts_reset();
    amxq_tilecfg cfg;
    amxq_tilecfg_init(&cfg);
    amxq_tilecfg_dp(&cfg, TC, TA, TB, M, N, K);
    amxq_tile_begin(&cfg);
    amxq_tile_loadd(TC, buf, 64);
    amxq_tile_loadd(TA, buf, 64);
    amxq_tile_loadd(TB, buf, 64);
    for (int i = 0; i <= 1 - t->id; i++) kit_dp_kind(t->id ? UU : SS);
    amxq_tile_stored(TC, buf, 64);
    amxq_tile_end();
    amxq_tile_counts n;
    amxq_tile_emu_counts(&n);
    const uint64_t dps = t->id ? 1 : 2;
    t->ok = n.ldtilecfg == 1 && n.tileloadd == 3 && n.tdpb_int8 == dps && n.tilestored == 1 &&
            n.tilerelease == 1 && n.macs == dps * (uint64_t)(M * N * K);
    return NULL;
}

static void test_thread_counts(void) {
    amxq_tile_emu_counts_all_reset();
    cnt_arg args[2] = {{.id = 0}, {.id = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, count_body, &args[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK(args[0].ok && args[1].ok, "each thread counts its own instructions");
    amxq_tile_counts all;
    amxq_tile_emu_counts_all(&all);
    CHECK(all.ldtilecfg == 2 && all.tilerelease == 2 && all.tdpb_int8 == 3 &&
              all.macs == 2ull * 16 * 16 * 64 + 3 * 2 * 12,
          "process-wide counts are the two threads' sums (tdp %llu, macs %llu)",
          (unsigned long long)all.tdpb_int8, (unsigned long long)all.macs);
    CHECK(amxq_tile_emu_threads_configured() == 0, "both threads released their tiles");
}

/* The looped GEMM issues one TDP per 16 x 16 x 64 block, partial ones included. */
static void test_gemm_counts(void) {
    static const int shapes[][3] = {{32, 32, 256}, {29, 23, 232}, {17, 33, 68}, {1, 1, 4}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        const int lda = (K + 63) / 64 * 64;
        int8_t *A = kit_alloc((size_t)M * lda), *B = kit_alloc((size_t)K * N);
        int32_t *C = kit_alloc((size_t)M * N * 4);
        kit_fill((uint8_t *)A, (size_t)M * lda);
        kit_fill((uint8_t *)B, (size_t)K * N);
        memset(C, 0, (size_t)M * N * 4);
        uint8_t *bp = kit_pack_b_vnni(B, N, K, N);
        amxq_tile_emu_counts_reset();
        kit_tile_gemm_s8(M, N, K, A, lda, bp, C, N);
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
        free(A), free(B), free(C), free(bp);
    }
}

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
    kit_fill(buf, sizeof buf);
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
/* Loads and stores need colsb a multiple of 4 (real tiles raise #UD for
 * every other colsb); TILEZERO takes any. tmm3 is 1 x 1 byte, tmm4 16 x 63,
 * tmm5 1 x 4, tmm6 16 x 60. */
static void odd_cfg(void) {
    amxq_tilecfg c;
    amxq_tilecfg_init(&c);
    amxq_tilecfg_set(&c, 3, 1, 1);
    amxq_tilecfg_set(&c, 4, 16, 63);
    amxq_tilecfg_set(&c, 5, 1, 4);
    amxq_tilecfg_set(&c, 6, 16, 60);
    load_cfg(&c);
}
static void f_load_colsb1(void) {
    odd_cfg();
    amxq_tile_loadd(3, g_buf, 1);
}
static void f_stream_colsb63(void) {
    odd_cfg();
    amxq_tile_stream_loadd(4, g_buf, 64);
}
static void f_store_colsb63(void) {
    odd_cfg();
    amxq_tile_zero(4);
    amxq_tile_stored(4, g_buf, 64);
}
static void ok_small_memory_shapes(void) {
    odd_cfg();
    amxq_tile_zero(3);
    amxq_tile_zero(4);
    amxq_tile_loadd(5, g_buf, 4);
    amxq_tile_stream_loadd(6, g_buf, 64);
    amxq_tile_stored(5, g_buf, 4);
    amxq_tile_stored(6, g_buf, 64);
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
    expect_fault("load of colsb 1", f_load_colsb1, "TILELOADD tmm3", "#UD", "colsb(tmm3) = 1 is not a multiple of 4");
    expect_fault("stream load of colsb 63", f_stream_colsb63, "TILELOADDT1 tmm4", "#UD",
                 "colsb(tmm4) = 63 is not a multiple of 4");
    expect_fault("store of colsb 63", f_store_colsb63, "TILESTORED tmm4", "#UD", "colsb(tmm4) = 63");

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
    expect_no_fault("TILEZERO with colsb 1 and 63, loads/stores with colsb 4 and 60", ok_small_memory_shapes);
    expect_no_fault("TILERELEASE when not configured", ok_release_twice);
    expect_no_fault("1x1x4 TDPBSSD and 1x1x2 TDPBF16PS", ok_minimal_dp);
    expect_no_fault("config reloaded after foreign use", ok_foreign_reloaded);
}

int main(void) {
    rng_seed(0x7174);
    test_zeroing_beyond_shape();
    test_bf16_model_chosen();
    test_bf16_model_random();
    test_thread_counts();
    test_gemm_counts();
    test_counters();
    test_faults();
    return test_finish("test_tile_emu_model");
}
