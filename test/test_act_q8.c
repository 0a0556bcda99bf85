/*
 * The AVX-512 Q8_0 / Q8_1 activation quantizers (src/vnni/act_q8.c) against
 * the normative scalar ones (src/ref/amxq_ref_quantize.c), bit for bit: quants,
 * d, Q8_1's s and the -bias * sum(q) accumulator starts, on rows built to
 * hit every corner: exact .5 ties and their neighbours, zero and signed-zero
 * blocks, huge values (d overflows fp16), tiny ones (127 / amax overflows
 * float), fp16-subnormal scales, Inf / NaN blocks and random bit patterns.
 * Also the workspace layout's alignment promises.
 */
#include <float.h>
#include <string.h>

#include "common.h"
#include "../src/ref/ref.h"
#include "../src/vnni/act_q8.h"

#define K_MAX 1024

/* A block of 32 values of one kind. */
static void fill_block(float *x, int kind) {
    switch (kind) {
    case 0: { /* model-like, random magnitude */
        const float s = powf(10.0f, rng_uniform(-6.0f, 6.0f));
        for (int j = 0; j < 32; j++) x[j] = s * rng_normal();
    } break;
    case 1: { /* exact ties: amax = 127 * 2^e, so id = 2^-e and x * id = n + 0.5 */
        const int e = (int)(rng_u64() % 40) - 20;
        for (int j = 0; j < 32; j++) x[j] = ldexpf((float)((int)(rng_u64() % 254) - 127) + 0.5f, e);
        x[rng_u64() % 32] = ldexpf(rng_u64() % 2 ? 127.0f : -127.0f, e);
    } break;
    case 2: { /* neighbours of ties, where an inexact id decides */
        const float amax = rng_uniform(0.5f, 300.0f);
        for (int j = 0; j < 32; j++) {
            const float tie = ((float)((int)(rng_u64() % 254) - 127) + 0.5f) * (amax / 127.0f);
            const int step = (int)(rng_u64() % 3) - 1;
            x[j] = step == 0 ? tie : nextafterf(tie, step > 0 ? INFINITY : -INFINITY);
        }
        x[rng_u64() % 32] = amax;
    } break;
    case 3: /* zero, with signed zeros */
        for (int j = 0; j < 32; j++) x[j] = (rng_u64() % 2) ? 0.0f : -0.0f;
        break;
    case 4: /* huge: d = amax / 127 overflows fp16, some near FLT_MAX */
        for (int j = 0; j < 32; j++) x[j] = rng_uniform(-1.0f, 1.0f) * (rng_u64() % 2 ? FLT_MAX : 1e7f);
        break;
    case 5: { /* tiny: subnormal floats, and amax around 2^-121 where 127 / amax overflows */
        const float s = (rng_u64() % 2) ? 1e-40f : ldexpf(1.0f, -121 + (int)(rng_u64() % 3) - 1);
        for (int j = 0; j < 32; j++) x[j] = s * rng_uniform(-1.0f, 1.0f);
    } break;
    case 6: { /* scales whose fp16 d is subnormal */
        const float s = rng_uniform(1e-7f, 6e-3f);
        for (int j = 0; j < 32; j++) x[j] = s * rng_uniform(-1.0f, 1.0f);
    } break;
    case 7: { /* one non-finite value */
        fill_block(x, 0);
        const float bad[3] = {INFINITY, -INFINITY, NAN};
        x[rng_u64() % 32] = bad[rng_u64() % 3];
    } break;
    case 8: /* random bit patterns: any float, NaN payloads included */
        for (int j = 0; j < 32; j++) x[j] = f32_from_bits((uint32_t)rng_u64());
        break;
    default: { /* one outlier over small values */
        for (int j = 0; j < 32; j++) x[j] = 1e-3f * rng_normal();
        x[rng_u64() % 32] = 40.0f;
    } break;
    }
}
#define N_KINDS 10

static int same_bits(float a, float b) { return f32_bits(a) == f32_bits(b); }

/* One row through both quantizers; returns the number of differing fields. */
static int compare_row(const float *x, int64_t k) {
    const int64_t kb = k / 32, stride = (k + 63) & ~(int64_t)63;
    static block_q8_0 r0[K_MAX / 32];
    static block_q8_1 r1[K_MAX / 32];
    static int8_t qs[K_MAX + 64];
    static float d[K_MAX / 32], s[K_MAX / 32];
    static int32_t comp[K_MAX / 32];
    int bad = 0;
    amxq_ref_quantize_row_q8_0(x, r0, k);
    amxq_ref_quantize_row_q8_1(x, r1, k);
    static const int32_t biases[2] = {8, 128};
    for (int bi = 0; bi < 2; bi++) {
        memset(qs, 0x5a, sizeof qs);
        amxq_act_quantize_row_q8_0(x, k, stride, qs, d, comp, biases[bi]);
        for (int64_t b = 0; b < kb; b++) {
            int sum = 0;
            for (int j = 0; j < 32; j++) sum += r0[b].qs[j];
            bad += memcmp(qs + 32 * b, r0[b].qs, 32) != 0;
            bad += !same_bits(d[b], fp16_to_fp32(r0[b].d));
            bad += comp[b] != -biases[bi] * sum;
        }
        for (int64_t j = k; j < stride; j++) bad += qs[j] != 0;
    }
    memset(qs, 0x5a, sizeof qs);
    amxq_act_quantize_row_q8_1(x, k, stride, qs, d, s);
    for (int64_t b = 0; b < kb; b++) {
        bad += memcmp(qs + 32 * b, r1[b].qs, 32) != 0;
        bad += !same_bits(d[b], fp16_to_fp32(r1[b].d));
        bad += !same_bits(s[b], fp16_to_fp32(r1[b].s));
    }
    for (int64_t j = k; j < stride; j++) bad += qs[j] != 0;
    return bad;
}

static void test_rows(void) {
    static float x[K_MAX];
    int rows = 0, bad_rows = 0;
    for (int rep = 0; rep < 3000; rep++) {
        /* k = 32 .. 1024, odd block counts included (a tail past k to zero) */
        const int64_t k = 32 * (1 + (int64_t)(rng_u64() % (K_MAX / 32)));
        const int mixed = rep % 2; /* mix kinds within a row, or one kind per row */
        const int kind = (int)(rng_u64() % N_KINDS);
        for (int64_t b = 0; b < k / 32; b++) fill_block(x + 32 * b, mixed ? (int)(rng_u64() % N_KINDS) : kind);
        const int bad = compare_row(x, k);
        rows++;
        if (bad) {
            bad_rows++;
            if (bad_rows <= 5) fprintf(stderr, "  row %d (k=%lld, kind %d%s): %d fields differ\n", rep, (long long)k,
                                       kind, mixed ? ", mixed" : "", bad);
        }
    }
    CHECK(bad_rows == 0, "AVX-512 Q8_0/Q8_1 quantizers differ from the reference on %d of %d rows", bad_rows, rows);
}

/* Every kind once per block position, for a deterministic floor of coverage. */
static void test_each_kind(void) {
    float x[32 * N_KINDS];
    for (int kind = 0; kind < N_KINDS; kind++) {
        for (int b = 0; b < N_KINDS; b++) fill_block(x + 32 * b, (kind + b) % N_KINDS);
        CHECK(compare_row(x, 32 * N_KINDS) == 0, "block kinds starting at %d", kind);
    }
}

static void test_layout(void) {
    static const int64_t ms[] = {1, 3, 17};
    static const int64_t ks[] = {32, 96, 4096, 4128};
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 4; b++) {
            const act_q8_layout l = act_q8_layout_for(ms[a], ks[b]);
            CHECK(l.qs_stride % 64 == 0 && l.qs_stride >= ks[b] && l.kb_stride % 16 == 0 &&
                      l.kb_stride >= ks[b] / 32 && l.d_off % 64 == 0 && l.aux_off % 64 == 0 &&
                      l.d_off >= (size_t)(ms[a] * l.qs_stride) &&
                      l.aux_off >= l.d_off + (size_t)(ms[a] * l.kb_stride) * 4 &&
                      l.bytes >= l.aux_off + (size_t)(ms[a] * l.kb_stride) * 4,
                  "act_q8 layout m=%lld k=%lld", (long long)ms[a], (long long)ks[b]);
        }
}

int main(void) {
    test_layout();
    const char *why;
    if (!amx_cpu_supports(AMX_ISA_AVX512_VNNI, &why)) {
        printf("SKIPPED: the AVX-512 quantizers cannot run here: %s\n", why);
        return g_failures ? 1 : 77;
    }
    rng_seed(4242);
    test_each_kind();
    test_rows();
    return test_finish("test_act_q8");
}
