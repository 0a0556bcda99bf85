/*
 * Every row of the dispatch table against the fp64 oracle and the scalar
 * reference, on adversarial shapes: M in {1..5, 15, 16, 17, 33, 64, 130}, N below,
 * at, above and not a multiple of the panel width, K at one block and beyond
 * 4096, strides larger than the row, canaries after every output row; plus
 * -128 in Q8_0 weights, Q5_0 / Q5_1 blocks of all-31 and all-0 values (the ends
 * of their offset encodings), extreme and subnormal scales, NaN/Inf activations (only
 * the affected rows may turn non-finite) and NaN/Inf weight scales (the same
 * outputs as the reference turn non-finite).
 *
 *   test_variants [--isa scalar|avx512_vnni|amx] [--type Q4_0|...] [--quick]
 *
 * A row the machine cannot run is reported as NOT RUN with the reason; if no
 * selected row could run, the test exits 77 (skipped), never silently passes.
 *
 * AMX rows run every shape three ways: with the default threshold (small m
 * takes the VNNI kernels), with amx_min_m = 1 (tiles for every m, on two
 * threads) and with the threshold out of reach (VNNI for every m); the tile
 * and VNNI results must be bitwise identical, and a K beyond the unpack
 * scratch exercises K-chunked panels. In the emulator builds each AMX call
 * must leave no thread holding a tile config, the tile path must issue TDPs
 * and the VNNI path none, every call runs after simulate_foreign_use() (a
 * kernel relying on a stale config aborts), and each AMX row prints its
 * instruction mix.
 */
#include <string.h>

#include "common.h"
#include "../src/dispatch.h"
#if defined(AMXQ_TILE_EMULATOR)
#include "../src/tiles/amx_rows.h"
#include "../src/tiles/tile_emu.h"
#endif

static int g_quick = 0;

/* amx_min_m = 1: every m on tiles; INT32_MAX: every m on the VNNI kernels */
static const amx_gemm_opts k_tiles = {.size = sizeof(amx_gemm_opts), .n_threads = 2, .amx_min_m = 1};
static const amx_gemm_opts k_vnni = {.size = sizeof(amx_gemm_opts), .amx_min_m = INT32_MAX};

/* One multiply with the region checks (emulator builds): the call starts
 * after a simulated foreign use of the tiles, and no thread may hold a tile
 * config after it. Returns the TDPs the call issued. */
static uint64_t gemm(const amxq_variant *v, const amx_weights *h, int64_t m, const float *x, int64_t ldx, float *y,
                     int64_t ldy, const amx_gemm_opts *o) {
    tile_foreign_use();
    const uint64_t t0 = tile_tdp_count();
    const amx_status st = amx_gemm_q(h, m, x, ldx, y, ldy, o);
    CHECK(st == AMX_OK, "%s gemm m=%lld: %s", v->name, (long long)m, amx_status_str(st));
    CHECK(tile_regions_closed(), "%s m=%lld: a thread still holds a tile config", v->name, (long long)m);
    return tile_tdp_count() - t0;
}

static int extra_depth(const amxq_variant *v, int64_t k) {
    /* F16 / BF16: the oracle's depth already allows any fp32 summation order
     * of the k products; TDPBF16PS's rounding has no known exact model, and
     * the bound the tile tests use for it (test_tile_emu_model.c) is
     * (2k + 1) 2^-23 = (4k + 2) 2^-24 of the magnitudes: 3k more */
    if (amxq_type_is_float(v->type)) return v->isa == AMX_ISA_AMX ? (int)(3 * k) : 0;
    /* kernels may apply scales per 16 or 32 elements in float and reorder the
     * accumulation: at most one float update per 16 elements, plus the final
     * combination of partial sums */
    return (int)(k / 16) + 16;
}

static amx_weights *pack(const amxq_variant *v, int64_t n, int64_t k, const uint8_t *w) {
    amx_pack_opts po = {.size = sizeof po, .isa = v->isa, .n_threads = 2};
    amx_weights *h = NULL;
    const amx_status st = amx_pack_weights(v->type, n, k, w, gguf_bytes(v->type, n, k), &po, &h);
    CHECK(st == AMX_OK, "%s pack n=%lld k=%lld: %s", v->name, (long long)n, (long long)k, amx_status_str(st));
    return h;
}

static double run_shape(const amxq_variant *v, int64_t m, int64_t n, int64_t k, gen_mode mode) {
    const amx_type t = v->type;
    const int64_t ldx = k + 5, ldy = n + 3;
    uint8_t *w = malloc(gguf_bytes(t, n, k));
    gen_weights(t, n, k, w, mode);
    if (t == AMX_TYPE_Q8_0) /* -128 breaks +127/+128 bias tricks: plant it everywhere */
        for (int64_t b = 0; b < n * (k / 32); b++) ((block_q8_0 *)w)[b].qs[b % 32] = -128;
    if (t == AMX_TYPE_Q5_0 || t == AMX_TYPE_Q5_1) /* every fifth block all 31, the next all 0 */
        for (int64_t b = 0; b < n * (k / 32); b++)
            if (b % 5 < 2) {
                uint8_t *blk = w + (size_t)b * (size_t)amx_type_block_bytes(t);
                const size_t qh = t == AMX_TYPE_Q5_0 ? offsetof(block_q5_0, qh) : offsetof(block_q5_1, qh);
                memset(blk + qh, b % 5 ? 0x00 : 0xFF, 4 + 16); /* qh, then qs */
            }
    float *x = malloc((size_t)(m * ldx) * sizeof(float));
    gen_acts(m, k, ldx, x);
    double r = INFINITY;
    amx_weights *h = pack(v, n, k, w);
    if (h) {
        guarded_out g = guarded_alloc(m, n, ldy);
        gemm(v, h, m, x, ldx, g.y, ldy, NULL);
        CHECK(guarded_intact(&g), "%s m=%lld n=%lld k=%lld wrote outside the outputs", v->name, (long long)m,
              (long long)n, (long long)k);
        r = oracle_check(t, m, n, k, w, x, ldx, g.y, ldy, extra_depth(v, k), v->name);
        CHECK(r <= 1.0, "%s m=%lld n=%lld k=%lld: err/bound %.3g", v->name, (long long)m, (long long)n,
              (long long)k, r);
        if (v->isa == AMX_ISA_AMX) {
            /* tiles for this m, then VNNI for this m: bitwise the same */
            guarded_out gt = guarded_alloc(m, n, ldy), gv = guarded_alloc(m, n, ldy);
            const uint64_t tdp_tiles = gemm(v, h, m, x, ldx, gt.y, ldy, &k_tiles);
            const uint64_t tdp_vnni = gemm(v, h, m, x, ldx, gv.y, ldy, &k_vnni);
#if defined(AMXQ_TILE_EMULATOR)
            CHECK(tdp_tiles > 0 && tdp_vnni == 0, "%s m=%lld: %llu TDPs on the tile path, %llu on the VNNI path",
                  v->name, (long long)m, (unsigned long long)tdp_tiles, (unsigned long long)tdp_vnni);
#else
            (void)tdp_tiles, (void)tdp_vnni;
#endif
            CHECK(guarded_intact(&gt) && guarded_intact(&gv), "%s m=%lld n=%lld k=%lld wrote outside the outputs",
                  v->name, (long long)m, (long long)n, (long long)k);
            const double rt = oracle_check(t, m, n, k, w, x, ldx, gt.y, ldy, extra_depth(v, k), v->name);
            CHECK(rt <= 1.0, "%s tiles m=%lld n=%lld k=%lld: err/bound %.3g", v->name, (long long)m, (long long)n,
                  (long long)k, rt);
            if (rt > r) r = rt;
            /* float types: TDPBF16PS rounds as no known model does, so the
             * tiles are held to the oracle's bound above, not to VNNI's bits */
            const int64_t d = amxq_type_is_float(t) ? 0 : bitwise_diff(gt.y, gv.y, m, n, ldy, ldy);
            CHECK(d == 0, "%s m=%lld n=%lld k=%lld: %lld outputs differ between the tile and VNNI paths", v->name,
                  (long long)m, (long long)n, (long long)k, (long long)d);
            guarded_free(&gt);
            guarded_free(&gv);
        }
        /* packing is lossless */
        uint8_t *back = malloc(gguf_bytes(t, n, k));
        CHECK(amx_weights_unpack(h, back, gguf_bytes(t, n, k)) == AMX_OK &&
                  memcmp(back, w, gguf_bytes(t, n, k)) == 0,
              "%s n=%lld k=%lld: unpack does not give back the GGUF bytes", v->name, (long long)n, (long long)k);
        free(back);
        guarded_free(&g);
        amx_weights_free(h);
    }
    free(w);
    free(x);
    return r;
}

/* Rows 1 and 3 carry Inf / NaN: exactly those rows turn non-finite. */
static void run_nonfinite_acts(const amxq_variant *v, const amx_gemm_opts *o) {
    const amx_type t = v->type;
    const int64_t bs = amx_type_block_size(t);
    const int64_t m = 5, n = 37, k = bs == 1 ? 45 : 2 * bs + (bs == 32 ? 64 : 0);
    uint8_t *w = malloc(gguf_bytes(t, n, k));
    gen_weights(t, n, k, w, GEN_NORMAL);
    float *x = malloc((size_t)(m * k) * sizeof(float)), *y = malloc((size_t)(m * n) * sizeof(float));
    gen_acts(m, k, k, x);
    /* F16 / BF16: a finite float beyond the type's range, which ggml's rounding
     * makes infinite (65520 and up in fp16, near FLT_MAX in bf16) */
    x[1 * k + 7] = t == AMX_TYPE_F16 ? 70000.0f : t == AMX_TYPE_BF16 ? 3.4e38f : INFINITY;
    x[3 * k + k - 1] = NAN;
    amx_weights *h = pack(v, n, k, w);
    if (h) {
        gemm(v, h, m, x, k, y, n, o);
        for (int64_t i = 0; i < m; i++) {
            int nonfinite = 0;
            for (int64_t j = 0; j < n; j++) nonfinite += !isfinite(y[i * n + j]);
            if (i == 1 || i == 3) {
                CHECK(nonfinite == n, "%s: row %lld has Inf/NaN input but %d of %lld outputs are finite", v->name,
                      (long long)i, (int)(n - nonfinite), (long long)n);
            } else {
                const double r = oracle_check(t, 1, n, k, w, x + i * k, k, y + i * n, n, extra_depth(v, k), v->name);
                CHECK(r <= 1.0, "%s: finite row %lld next to Inf/NaN rows: err/bound %.3g", v->name, (long long)i, r);
            }
        }
        amx_weights_free(h);
    }
    free(w);
    free(x);
    free(y);
}

/* Columns 2 and 5 have a NaN / Inf scale in one block: the variant must turn
 * exactly the outputs non-finite that the reference does, and agree elsewhere.
 * m = 3 and m = 9 reach both the small-M and the large-M kernels. */
static void run_nonfinite_scales(const amxq_variant *v, int64_t m, const amx_gemm_opts *o) {
    const amx_type t = v->type;
    const int64_t n = 21, k = 2 * amx_type_block_size(t);
    const int bb = amx_type_block_bytes(t);
    uint8_t *w = malloc(gguf_bytes(t, n, k));
    gen_weights(t, n, k, w, GEN_NORMAL);
    const size_t d_off = t == AMX_TYPE_Q6_K ? offsetof(block_q6_K, d) : 0; /* d is first elsewhere */
    const uint16_t nan16 = 0x7e00, inf16 = 0x7c00;
    memcpy(w + (size_t)(2 * 2 + 1) * bb + d_off, &nan16, 2); /* column 2, block 1 */
    memcpy(w + (size_t)(5 * 2 + 0) * bb + d_off, &inf16, 2); /* column 5, block 0 */
    float *x = malloc((size_t)(m * k) * sizeof(float));
    float *y = malloc((size_t)(m * n) * sizeof(float)), *yr = malloc((size_t)(m * n) * sizeof(float));
    gen_acts(m, k, k, x);
    amx_weights *h = pack(v, n, k, w);
    amx_pack_opts ro = {.size = sizeof ro, .isa = AMX_ISA_SCALAR};
    amx_weights *hr = NULL;
    amx_pack_weights(t, n, k, w, gguf_bytes(t, n, k), &ro, &hr);
    if (h && hr) {
        gemm(v, h, m, x, k, y, n, o);
        CHECK(amx_gemm_q(hr, m, x, k, yr, n, NULL) == AMX_OK, "reference gemm");
        int mismatch = 0;
        for (int64_t i = 0; i < m * n; i++) mismatch += !isfinite(y[i]) != !isfinite(yr[i]);
        CHECK(mismatch == 0, "%s: %d outputs differ from the reference in being finite", v->name, mismatch);
        for (int64_t j = 0; j < n; j++) {
            if (j == 2 || j == 5) continue;
            const double r = oracle_check(t, m, 1, k, w + (size_t)j * 2 * bb, x, k, y + j, n, extra_depth(v, k), v->name);
            CHECK(r <= 1.0, "%s: column %lld next to NaN/Inf scales: err/bound %.3g", v->name, (long long)j, r);
        }
    }
    amx_weights_free(h);
    amx_weights_free(hr);
    free(w);
    free(x);
    free(y);
    free(yr);
}

/* The name the library reports for (w, m, opts) is the kernel that runs:
 * the per-call amx_min_m moves AMX rows between tiles and VNNI, and, where
 * tiles are emulated, a call issues TDPs exactly when the name says tiles. */
static void check_kernel_names(const amxq_variant *v, const amx_weights *h, int64_t k) {
    static const int64_t ms[] = {1, 3, 16, 33};
    static const int32_t mins[] = {0, 1, 4, 17, 64};
    float *x = malloc(sizeof(float) * 33 * (size_t)k), *y = malloc(sizeof(float) * 33 * 16);
    gen_acts(33, k, k, x);
    amx_weights_info info = {.size = sizeof info};
    CHECK(amx_weights_query(h, &info) == AMX_OK, "query");
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof mins / sizeof mins[0]; b++) {
            const amx_gemm_opts o = {.size = sizeof o, .amx_min_m = mins[b]};
            const char *name = amx_gemm_kernel(h, ms[a], &o);
            const int32_t min_m = mins[b] ? mins[b] : info.amx_min_m;
            const int tiles = strncmp(name, "amx_", 4) == 0;
            const int want_tiles = v->isa == AMX_ISA_AMX && ms[a] >= min_m;
            CHECK(tiles == want_tiles, "%s m=%lld amx_min_m=%d: kernel %s", v->name, (long long)ms[a], mins[b],
                  name);
            if (!mins[b])
                CHECK(strcmp(name, amx_weights_kernel(h, ms[a])) == 0, "%s: default options name the same kernel",
                      v->name);
            const uint64_t tdp0 = tile_tdp_count();
            CHECK(amx_gemm_q(h, ms[a], x, k, y, 16, &o) == AMX_OK, "%s: gemm", v->name);
            if (!tile_counts_available()) continue;
            const int ran_tiles = tile_tdp_count() > tdp0;
            CHECK(ran_tiles == tiles, "%s m=%lld amx_min_m=%d: named %s, %s", v->name, (long long)ms[a], mins[b],
                  name, ran_tiles ? "but ran on tiles" : "but issued no TDP");
        }
    if (v->type == AMX_TYPE_BF16 && v->isa != AMX_ISA_SCALAR) {
        /* vdpbf16ps where the probe found AVX512-BF16 (and the test switch
         * AMXQ_TEST_NO_AVX512_BF16 is off), the FMA fallback elsewhere */
        const int dp = strstr(amx_cpu_report(), "(BF16 kernels): vdpbf16ps") != NULL;
        for (int64_t m = 1; m <= 64; m *= 8) {
            const char *name = amx_gemm_kernel(h, m, &(amx_gemm_opts){.size = sizeof(amx_gemm_opts),
                                                                       .amx_min_m = INT32_MAX});
            CHECK((strstr(name, "bf16fma") == NULL) == dp, "%s m=%lld: kernel %s where the CPU report says %s",
                  v->name, (long long)m, name, dp ? "vdpbf16ps" : "the FMA fallback");
        }
    }
    CHECK(strcmp(amx_gemm_kernel(h, 0, NULL), "invalid") == 0 &&
              strcmp(amx_gemm_kernel(NULL, 1, NULL), "invalid") == 0,
          "kernel of m = 0 or no handle: invalid");
    free(x);
    free(y);
}

/* The packed form costs at most 5 % over the GGUF bytes on model shapes. */
static void check_packed_size(const amxq_variant *v) {
    static const int64_t shapes[][2] = {{4096, 4096}, {14336, 4096}, {4096, 14336}, {1024, 4096 + 256}};
    const amx_pack_opts po = {.size = sizeof po, .isa = v->isa};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        size_t bytes = 0, align = 0;
        const amx_status st = amx_pack_size(v->type, shapes[i][0], shapes[i][1], &po, &bytes, &align);
        const size_t gguf = gguf_bytes(v->type, shapes[i][0], shapes[i][1]);
        CHECK(st == AMX_OK && (double)bytes <= 1.05 * (double)gguf, "%s %lldx%lld: packed %zu bytes for %zu GGUF (%s)",
              v->name, (long long)shapes[i][0], (long long)shapes[i][1], bytes, gguf, amx_status_str(st));
    }
}

static void run_variant(const amxq_variant *v) {
    check_packed_size(v);
    const int64_t bs = amx_type_block_size(v->type);
    static const int64_t ms[] = {1, 2, 3, 4, 5, 15, 16, 17, 33, 64, 130};
    static const int64_t ns[] = {1, 15, 16, 17, 31, 32, 33, 48, 65, 100};
    double worst = 0;
#if defined(AMXQ_TILE_EMULATOR)
    amxq_tile_emu_counts_all_reset();
    amxq_amx_op_counts_all_reset();
#endif
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            if (g_quick && (a + b) % 3) continue;
            const double r = run_shape(v, ms[a], ns[b], bs, GEN_NORMAL);
            if (r > worst) worst = r;
        }
    /* long K, on fewer shapes (the fp64 oracle is the slow part) */
    const int64_t big_k = 4096 + bs;
    static const int64_t ms2[] = {1, 3, 16, 17, 64, 130};
    static const int64_t ns2[] = {17, 32, 100};
    for (size_t a = 0; a < sizeof ms2 / sizeof ms2[0]; a++)
        for (size_t b = 0; b < sizeof ns2 / sizeof ns2[0]; b++) {
            const double r = run_shape(v, ms2[a], ns2[b], g_quick ? 4 * bs : big_k, GEN_NORMAL);
            if (r > worst) worst = r;
        }
    for (int rep = 0; rep < 2; rep++) {
        const double r = run_shape(v, 17 + rep * 16, 33, bs == 1 ? 200 : 8 * bs, GEN_EXTREME);
        if (r > worst) worst = r;
    }
    if (amxq_type_is_float(v->type)) {
        /* any k: every remainder mod 32 of the panels' K padding, and k up
         * to 32k + 1 (the oracle's fp64 sum is the slow part) */
        for (int64_t k = 2; k <= 64; k += g_quick ? 7 : 1) {
            const double r = run_shape(v, k % 2 ? 3 : 9, 17, k, GEN_NORMAL);
            if (r > worst) worst = r;
        }
        /* packed size: the GGUF bytes exactly for model shapes (n % 16 == 0,
         * k % 32 == 0), at most 1.05 of them for the test model's vocab rows */
        static const int64_t sizes[][3] = {{4096, 4096, 100}, {14336, 4096, 100}, {260, 256, 105}};
        for (size_t a = 0; a < 3; a++) {
            size_t bytes = 0, align = 0;
            const amx_pack_opts po = {.size = sizeof po, .isa = v->isa};
            CHECK(amx_pack_size(v->type, sizes[a][0], sizes[a][1], &po, &bytes, &align) == AMX_OK, "pack_size");
            const double ratio = (double)(bytes - 128 /* image header */) / (double)gguf_bytes(v->type, sizes[a][0], sizes[a][1]);
            CHECK(ratio * 100 <= (double)sizes[a][2], "%s %lldx%lld: packed payload / GGUF = %.4f", v->name,
                  (long long)sizes[a][0], (long long)sizes[a][1], ratio);
        }
        static const int64_t ks[] = {1000, 32768, 32769};
        for (size_t a = 0; a < (g_quick ? 1 : 3); a++) {
            const double r = run_shape(v, a == 1 ? 17 : 1, 33, ks[a], GEN_NORMAL);
            if (r > worst) worst = r;
        }
    }
    run_nonfinite_acts(v, NULL);
    run_nonfinite_scales(v, 3, NULL);
    run_nonfinite_scales(v, 9, NULL);
    if (v->isa == AMX_ISA_AMX) {
        run_nonfinite_acts(v, &k_tiles);
        run_nonfinite_scales(v, 3, &k_tiles);
        run_nonfinite_scales(v, 9, &k_tiles);
        /* K beyond the unpack scratch (512 KiB) and the 1 MiB activation
         * budget: panels unpacked in K chunks, the sums passing through y */
        static const int64_t ms3[] = {17, 130};
        for (size_t a = 0; a < (g_quick ? 1 : 2); a++) {
            const double r = run_shape(v, ms3[a], 17, 32768 + bs, GEN_NORMAL);
            if (r > worst) worst = r;
        }
#if defined(AMXQ_TILE_EMULATOR)
        /* no scratch: the stack-buffer fallback, one superblock or 13-15
         * blocks per K chunk */
        amxq_amx_test_refuse_scratch(1);
        const double r = run_shape(v, 33, 33, 40 * bs, GEN_NORMAL);
        amxq_amx_test_refuse_scratch(0);
        if (r > worst) worst = r;
#endif
    }
    uint8_t *w = malloc(gguf_bytes(v->type, 16, bs));
    gen_weights(v->type, 16, bs, w, GEN_NORMAL);
    amx_weights *h = pack(v, 16, bs, w);
    printf("%-20s worst err/bound %.3f  kernels: m=1 %s, m=64 %s\n", v->name, worst,
           amx_weights_kernel(h, 1), amx_weights_kernel(h, 64));
    check_kernel_names(v, h, bs);
#if defined(AMXQ_TILE_EMULATOR)
    if (v->isa == AMX_ISA_AMX) {
        /* over all of this row's test shapes, tails included */
        amxq_tile_counts tc;
        amx_op_counts oc;
        char mix[256];
        amxq_tile_emu_counts_all(&tc);
        amxq_amx_op_counts_all(&oc);
        printf("  instruction mix over the test shapes: %s\n", amxq_tile_emu_mix(&tc, mix, sizeof mix));
        if (oc.tile_blocks)
            printf("  per 16x16 tile and %d-K block: epilogue %.1f vector ALU + %.1f memory ops; unpack %.1f + %.1f\n",
                   bs == 32 ? 32 : 256, (double)oc.epi_alu / oc.tile_blocks, (double)oc.epi_mem / oc.tile_blocks,
                   (double)oc.unpack_alu / oc.tile_blocks, (double)oc.unpack_mem / oc.tile_blocks);
    }
#endif
    amx_weights_free(h);
    free(w);
}

int main(int argc, char **argv) {
    const char *isa_filter = NULL, *type_filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa_filter = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) type_filter = argv[++i];
        else if (!strcmp(argv[i], "--quick")) g_quick = 1;
        else {
            fprintf(stderr, "usage: %s [--isa NAME] [--type NAME] [--quick]\n", argv[0]);
            return 2;
        }
    }
    rng_seed(2024);
    if (!isa_filter || !strcmp(isa_filter, "amx"))
#if defined(AMXQ_TILE_EMULATOR)
        printf("AMX rows run on the tile emulator (a build with AMXQ_TILE_EMULATOR)\n");
#else
        printf("AMX rows run on real AMX tiles, where the CPU and OS allow them\n");
#endif
    size_t nv;
    const amxq_variant *vs = amxq_variants(&nv);
    int ran = 0, selected = 0;
    for (size_t i = 0; i < nv; i++) {
        if (isa_filter && strcmp(amx_isa_name(vs[i].isa), isa_filter)) continue;
        if (type_filter && strcmp(amx_type_name(vs[i].type), type_filter)) continue;
        selected++;
        const char *why;
        if (!amx_cpu_supports(vs[i].isa, &why)) {
            printf("NOT RUN: %s on this machine: %s\n", vs[i].name, why);
            continue;
        }
        run_variant(&vs[i]);
        ran++;
    }
    if (selected == 0) {
        printf("no dispatch-table row matches the filter\n");
        return g_failures ? 1 : 77;
    }
    if (ran == 0) {
        printf("SKIPPED: none of the %d selected rows can run here (see NOT RUN lines)\n", selected);
        return 77;
    }
    printf("%d of %d selected rows ran\n", ran, selected);
    return test_finish("test_variants");
}
