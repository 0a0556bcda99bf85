/*
 * The epilogue options (amx_gemm_opts.bias, AMX_GEMM_ACCUMULATE): for every
 * type and family this machine runs (AMX on the tile emulator in the `_emu`
 * build, at its default threshold and with tiles from m = 1), on awkward
 * shapes, through amx_gemm_q (1 and 3 threads), the split API (several
 * share counts) and amx_gemm_q_multi (one bias for all handles, end to end):
 * every output bitwise equal to the separate passes the header defines
 * (y = x . W^T; y += bias; y = y_old + y), y's padding untouched; NaN in the
 * bias propagates to its column only; older, smaller option structs keep
 * working; unknown flags are refused with nothing written.
 */
#include <string.h>

#include "common.h"

static int g_cases;

/* The separate passes, from a plain result r. */
static void expected(const float *r, const float *old, const float *bias, int acc, int64_t m, int64_t n,
                     int64_t ldy, float *out) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float t = r[i * ldy + j];
            if (bias) t += bias[j];
            if (acc) t = old[i * ldy + j] + t;
            out[i * ldy + j] = t;
        }
}

static void fill_old(float *y, int64_t m, int64_t ldy) {
    for (int64_t i = 0; i < m * ldy; i++) y[i] = rng_uniform(-3.0f, 3.0f);
}

/* y (m x ldy) equal to want on the m x n outputs, padding as pad_of. */
static int same(const float *y, const float *want, const float *pad_of, int64_t m, int64_t n, int64_t ldy) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldy; j++) {
            const float *a = &y[i * ldy + j], *b = j < n ? &want[i * ldy + j] : &pad_of[i * ldy + j];
            if (memcmp(a, b, sizeof(float)) != 0) return 0;
        }
    return 1;
}

static void one(amx_type t, amx_isa isa, int64_t m, int64_t n, int64_t k, int32_t amx_min_m) {
    uint8_t *g = malloc(gguf_bytes(t, n, k));
    gen_weights(t, n, k, g, GEN_NORMAL);
    const amx_pack_opts po = {.size = sizeof po, .isa = isa};
    amx_weights *w = NULL;
    if (!family_has_type(isa, t)) {
        CHECK(amx_pack_weights(t, n, k, g, gguf_bytes(t, n, k), &po, &w) == AMX_ERR_UNSUPPORTED_TYPE,
              "pack %s/%s: not refused", amx_type_name(t), amx_isa_name(isa));
        free(g);
        return;
    }
    if (amx_pack_weights(t, n, k, g, gguf_bytes(t, n, k), &po, &w) != AMX_OK) {
        CHECK(0, "pack %s/%s", amx_type_name(t), amx_isa_name(isa));
        free(g);
        return;
    }
    const int64_t ldy = n + 3, sz = m * ldy;
    float *x = malloc(sizeof(float) * (size_t)(m * k));
    gen_acts(m, k, k, x);
    float *bias = malloc(sizeof(float) * (size_t)n);
    for (int64_t j = 0; j < n; j++) bias[j] = rng_uniform(-2.0f, 2.0f);
    float *r = malloc(sizeof(float) * (size_t)sz), *old = malloc(sizeof(float) * (size_t)sz);
    float *want = malloc(sizeof(float) * (size_t)sz), *y = malloc(sizeof(float) * (size_t)sz);
    memset(r, 0, sizeof(float) * (size_t)sz);
    const amx_gemm_opts plain = {.size = sizeof plain, .amx_min_m = amx_min_m};
    CHECK(amx_gemm_q(w, m, x, k, r, ldy, &plain) == AMX_OK, "plain gemm");
    fill_old(old, m, ldy);

    for (int variant = 1; variant < 4; variant++) {
        const int use_bias = variant & 1, acc = (variant >> 1) & 1;
        expected(r, old, use_bias ? bias : NULL, acc, m, n, ldy, want);
        const amx_gemm_opts o = {.size = sizeof o, .amx_min_m = amx_min_m, .flags = acc ? AMX_GEMM_ACCUMULATE : 0,
                                 .bias = use_bias ? bias : NULL};
        for (int threads = 1; threads <= 3; threads += 2) {
            amx_gemm_opts ot = o;
            ot.n_threads = threads;
            memcpy(y, old, sizeof(float) * (size_t)sz);
            CHECK(amx_gemm_q(w, m, x, k, y, ldy, &ot) == AMX_OK, "gemm");
            CHECK(same(y, want, old, m, n, ldy), "%s/%s m=%lld n=%lld k=%lld bias=%d acc=%d threads=%d min_m=%d: "
                  "not the separate passes", amx_type_name(t), amx_isa_name(isa), (long long)m, (long long)n,
                  (long long)k, use_bias, acc, threads, amx_min_m);
            g_cases++;
        }
        /* the split API, a different share count in each step */
        size_t bytes;
        amx_gemm_workspace_size(w, m, &bytes);
        void *ws = aligned_alloc(64, (bytes + 63) / 64 * 64);
        static const int32_t nths[] = {1, 3, 7};
        for (size_t s = 0; s < 3; s++) {
            memcpy(y, old, sizeof(float) * (size_t)sz);
            for (int32_t i = 0; i < 2; i++) amx_gemm_quantize(w, m, x, k, ws, bytes, i, 2);
            amx_status st = AMX_OK;
            for (int32_t i = nths[s] - 1; i >= 0 && st == AMX_OK; i--) /* any order */
                st = amx_gemm_compute(w, m, ws, bytes, y, ldy, i, nths[s], &o);
            CHECK(st == AMX_OK && same(y, want, old, m, n, ldy), "%s/%s m=%lld bias=%d acc=%d split nth=%d: differs",
                  amx_type_name(t), amx_isa_name(isa), (long long)m, use_bias, acc, nths[s]);
        }
        free(ws);
    }
    /* NaN in the bias: its column is NaN in every row, the others are finite
     * where the plain result is */
    bias[n / 2] = NAN;
    const amx_gemm_opts ob = {.size = sizeof ob, .amx_min_m = amx_min_m, .bias = bias};
    CHECK(amx_gemm_q(w, m, x, k, y, ldy, &ob) == AMX_OK, "gemm NaN bias");
    int nan_ok = 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            nan_ok &= (j == n / 2) == (isnan(y[i * ldy + j]) != 0) || isnan(r[i * ldy + j]);
    CHECK(nan_ok, "%s/%s: NaN in the bias did not stay in its column", amx_type_name(t), amx_isa_name(isa));

    free(x), free(bias), free(r), free(old), free(want), free(y), free(g);
    amx_weights_free(w);
}

/* amx_gemm_q_multi: bias is every handle's n floats one after the other. */
static void multi(amx_isa isa) {
    enum { H = 3, K = 512 };
    const amx_type types[H] = {AMX_TYPE_Q8_0, AMX_TYPE_Q4_K, AMX_TYPE_Q8_0};
    const int64_t ns[H] = {17, 40, 33};
    const int64_t m = 19;
    amx_weights *w[H];
    float *y[H], *want[H];
    int64_t ldy[H];
    float bias[17 + 40 + 33], *x = malloc(sizeof(float) * m * K);
    gen_acts(m, K, K, x);
    for (size_t j = 0; j < sizeof bias / sizeof bias[0]; j++) bias[j] = rng_uniform(-1.0f, 1.0f);
    const amx_pack_opts po = {.size = sizeof po, .isa = isa};
    int64_t at = 0;
    for (int h = 0; h < H; h++) {
        uint8_t *g = malloc(gguf_bytes(types[h], ns[h], K));
        gen_weights(types[h], ns[h], K, g, GEN_NORMAL);
        amx_pack_weights(types[h], ns[h], K, g, gguf_bytes(types[h], ns[h], K), &po, &w[h]);
        free(g);
        ldy[h] = ns[h] + 1;
        y[h] = malloc(sizeof(float) * (size_t)(m * ldy[h]));
        want[h] = malloc(sizeof(float) * (size_t)(m * ldy[h]));
        float *r = malloc(sizeof(float) * (size_t)(m * ldy[h]));
        fill_old(y[h], m, ldy[h]);
        memcpy(r, y[h], sizeof(float) * (size_t)(m * ldy[h]));
        amx_gemm_q(w[h], m, x, K, r, ldy[h], NULL);
        expected(r, y[h], bias + at, 1, m, ns[h], ldy[h], want[h]);
        for (int64_t i = 0; i < m; i++) /* padding as the old y */
            for (int64_t j = ns[h]; j < ldy[h]; j++) want[h][i * ldy[h] + j] = y[h][i * ldy[h] + j];
        at += ns[h];
        free(r);
    }
    const amx_gemm_opts o = {.size = sizeof o, .n_threads = 2, .flags = AMX_GEMM_ACCUMULATE, .bias = bias};
    CHECK(amx_gemm_q_multi((const amx_weights *const *)w, H, m, x, K, y, ldy, &o) == AMX_OK, "multi");
    for (int h = 0; h < H; h++) {
        CHECK(memcmp(y[h], want[h], sizeof(float) * (size_t)(m * ldy[h])) == 0,
              "multi %s handle %d: not bias[its n] + accumulate", amx_isa_name(isa), h);
        amx_weights_free(w[h]), free(y[h]), free(want[h]);
    }
    free(x);
}

/* Old callers and bad flags. */
static void options(void) {
    const int64_t n = 20, k = 64, m = 2;
    uint8_t *g = malloc(gguf_bytes(AMX_TYPE_Q8_0, n, k));
    gen_weights(AMX_TYPE_Q8_0, n, k, g, GEN_NORMAL);
    amx_weights *w;
    amx_pack_weights(AMX_TYPE_Q8_0, n, k, g, gguf_bytes(AMX_TYPE_Q8_0, n, k), NULL, &w);
    float x[2 * 64], y[2 * 20], r[2 * 20];
    gen_acts(m, k, k, x);
    amx_gemm_q(w, m, x, k, r, n, NULL);
    /* a 0.1 caller's 16-byte struct: no bias, whatever lies beyond it */
    struct {
        amx_gemm_opts o;
        float pad[8];
    } big;
    memset(&big, 0x41, sizeof big);
    big.o.size = 16, big.o.n_threads = 1, big.o.flags = 0, big.o.amx_min_m = 0;
    CHECK(amx_gemm_q(w, m, x, k, y, n, &big.o) == AMX_OK && memcmp(y, r, sizeof y) == 0,
          "a 16-byte amx_gemm_opts: the plain product");
    big.o.size = 12;
    CHECK(amx_gemm_q(w, m, x, k, y, n, &big.o) == AMX_OK && memcmp(y, r, sizeof y) == 0, "a 12-byte amx_gemm_opts");
    memset(y, 0x55, sizeof y);
    const amx_gemm_opts bad = {.size = sizeof bad, .flags = 2};
    CHECK(amx_gemm_q(w, m, x, k, y, n, &bad) == AMX_ERR_INVALID_ARG, "unknown flag refused");
    int untouched = 1;
    for (size_t i = 0; i < sizeof y / sizeof y[0]; i++) {
        uint32_t u;
        memcpy(&u, &y[i], 4);
        untouched &= u == 0x55555555u;
    }
    CHECK(untouched, "a refused call wrote y");
    amx_weights_free(w);
    free(g);
}

int main(int argc, char **argv) {
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    rng_seed(77);
    const amx_isa all[3] = {AMX_ISA_SCALAR, AMX_ISA_AVX512_VNNI, AMX_ISA_AMX};
    static const int64_t ms[] = {1, 3, 17, 40};
    static const int64_t nsz[] = {1, 17, 40};
    for (int f = 0; f < 3; f++) {
        const char *why;
        if (!amx_cpu_supports(all[f], &why)) {
            printf("NOT RUN: %s (%s)\n", amx_isa_name(all[f]), why);
            continue;
        }
        for (int i = 0; i < N_TYPES; i++) {
            const amx_type t = k_all_types_at(i);
            const int64_t blk = amx_type_block_size(t);
            for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
                for (size_t b = 0; b < sizeof nsz / sizeof nsz[0]; b++) {
                    if (quick && (a + b) % 3 != 0) continue;
                    const int64_t k = (a + b) % 2 ? blk : blk * 4;
                    one(t, all[f], ms[a], nsz[b], k, 0);
                    if (all[f] == AMX_ISA_AMX) one(t, all[f], ms[a], nsz[b], k, 1); /* tiles from m = 1 */
                }
        }
        multi(all[f]);
    }
    options();
    printf("%d epilogue cases\n", g_cases);
    return test_finish("test_epilogue");
}
