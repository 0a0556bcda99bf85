/*
 * Published figures the project compares against: ggml's CPU backend (the
 * kernels inside llama.cpp) and ik_llama.cpp, both measured on the project's
 * development machine (AMD Zen 5 "Turin", 2 vCPUs of a KVM guest, AVX-512
 * with VNNI, no AMX). They are recorded here, not measured by this run, and
 * a ratio to them means something only on that machine.
 *
 * Method of those measurements: F32 activations quantized inside each
 * multiply (cost included), GOPS = 2*M*N*K/t, GB/s = GGUF weight bytes / t,
 * M=1 rows "cold" (weight copies rotated beyond the last-level cache), each
 * figure the best per-pass median over 4-5 passes. ik_llama.cpp "plain"
 * keeps the GGUF type, "rtr" repacks at load (its -rtr option).
 */
#include <math.h>

#include "bench.h"

const char *const bench_reference_cpu = "(family 26 model 2)";
const char *const bench_reference_note =
    "recorded on the development machine (AMD Zen 5 = family 26 model 2, 2 vCPUs, KVM guest, AVX-512 VNNI, "
    "no AMX; vpdpbusd zmm peak ~966 GOPS per core): "
    "ggml d99724f (= llama.cpp d3cf1f14) and ik_llama.cpp 8337e4cd, best of 4-5 passes; "
    "NOT measured by this run, ratios are meaningful on that machine only";

/* short names keep the table readable */
#define Q4_0 AMX_TYPE_Q4_0
#define Q4_1 AMX_TYPE_Q4_1
#define Q8_0 AMX_TYPE_Q8_0
#define Q4_K AMX_TYPE_Q4_K
#define Q5_K AMX_TYPE_Q5_K
#define Q6_K AMX_TYPE_Q6_K
#define IQ4_XS AMX_TYPE_IQ4_XS
#define NA NAN

/* The one table: each source lists its columns (M, N, K, threads) and, per
 * weight type, one value per column (NAN where the source has none). */
typedef struct {
    int64_t m, n, k;
    int threads;
} ref_col;

#define MAX_COLS 10
static const struct ref_source {
    const char *source, *variant;
    int n_cols;
    ref_col cols[MAX_COLS];
    struct {
        amx_type type;
        double v[MAX_COLS];
    } rows[7];
} k_sources[] = {
    {"ggml d99724f", "", 10,
     {{1, 14336, 4096, 1}, {1, 14336, 4096, 2}, {1, 4096, 14336, 1}, {1, 4096, 14336, 2}, {32, 4096, 4096, 1},
      {32, 4096, 4096, 2}, {512, 4096, 4096, 1}, {512, 4096, 4096, 2}, {512, 14336, 4096, 1}, {512, 14336, 4096, 2}},
     {{Q4_0, {23.5, 40.4, 22.3, 37.3, 287, 538, 274, 525, 275, 538}},
      {Q4_1, {16.3, 27.3, 7.5, 14.9, 56, 111, 59, 110, 55, 107}},
      {Q8_0, {26.8, 45.5, 21.6, 32.6, 128, 241, 140, 277, 142, 274}},
      {Q4_K, {28.1, 42.4, 25.1, 44.9, 204, 414, 219, 442, 198, 411}},
      {Q5_K, {21.3, 27.6, 13.1, 24.1, 65, 128, 66, 120, 66, 127}},
      {Q6_K, {27.7, 40.5, 16.5, 29.4, 87, 165, 88, 161, 83, 168}},
      {IQ4_XS, {16.2, 25.7, 13.8, 24.1, 63, 104, 63, 118, 65, 113}}}},
#define IK_COLS                                                                                                   \
    8, {{1, 14336, 4096, 1}, {1, 14336, 4096, 2}, {1, 4096, 4096, 1}, {1, 4096, 4096, 2}, {32, 4096, 4096, 1},     \
        {32, 4096, 4096, 2}, {512, 4096, 4096, 1}, {512, 4096, 4096, 2}}
    {"ik_llama.cpp 8337e4cd",
     "plain",
     IK_COLS,
     {{Q4_0, {16.5, 32.4, 19.7, 35.7, 290, 483, 406, 678}},
      {Q8_0, {29.8, 54.6, 29.7, 52.7, 278, 589, 416, 805}},
      {Q4_1, {22.7, 39.7, 21.8, 41.5, 302, 504, 424, 820}},
      {Q4_K, {22.4, 38.0, 22.8, 44.1, 302, 496, 428, 802}},
      {Q5_K, {22.9, 41.4, 22.5, 42.9, 291, 542, 426, 796}},
      {Q6_K, {24.2, 48.2, 24.5, 43.3, 111, 217, 386, 737}},
      {IQ4_XS, {24.7, 46.9, 24.8, 36.5, 225, 444, 582, 1120}}}},
    {"ik_llama.cpp 8337e4cd",
     "rtr",
     IK_COLS,
     {{Q4_0, {28.9, 35.0, 26.9, 50.2, 361, 676, 424, 650}},
      {Q8_0, {32.9, 60.5, 33.0, 42.6, 336, 604, 417, 793}},
      {Q4_1, {NA, NA, NA, NA, NA, NA, NA, NA}},
      {Q4_K, {28.8, 51.8, 29.6, 47.7, 224, 475, 245, 450}},
      {Q5_K, {29.0, 44.7, 25.4, 40.7, 217, 369, 210, 413}},
      {Q6_K, {29.7, 56.6, 29.9, 38.9, 178, 335, 214, 420}},
      {IQ4_XS, {29.1, 52.6, 30.5, 52.8, 275, 581, 289, 576}}}},
};

/* Flattened on first use; the benchmark is single-threaded when it asks. */
static ref_figure g_flat[3 * 7 * MAX_COLS];
static size_t g_count;

const ref_figure *bench_reference(size_t *count) {
    if (!g_count) {
        for (size_t s = 0; s < sizeof k_sources / sizeof k_sources[0]; s++) {
            const struct ref_source *src = &k_sources[s];
            for (int r = 0; r < 7; r++)
                for (int c = 0; c < src->n_cols; c++) {
                    if (isnan(src->rows[r].v[c])) continue;
                    const ref_col *col = &src->cols[c];
                    g_flat[g_count++] = (ref_figure){src->source, src->variant, src->rows[r].type, col->n, col->k,
                                                     col->m, col->threads, src->rows[r].v[c],
                                                     col->m == 1 ? "GB/s" : "GOPS"};
                }
        }
    }
    *count = g_count;
    return g_flat;
}
