/* The activation quantizers' definitions, on hand-made rows: scale choice,
 * round-to-nearest-even, Q8_1's s, Q8_K's signed scale and block sums, zero
 * blocks and non-finite input. Plus fp16 conversion against the hardware. */
#include <cpuid.h>
#include <string.h>

#include "common.h"
#include "../src/ref/ref.h"

static void test_q8_0_ties(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 127.0f; /* amax = 127: id = 1, every value stays put */
    x[1] = 62.5f;  /* tie: even is 62 (ggml's portable reference would give 63) */
    x[2] = 63.5f;  /* tie: 64 */
    x[3] = -62.5f; /* tie: -62 */
    x[4] = -0.5f;  /* tie: 0 */
    x[5] = 1.5f;   /* tie: 2 */
    x[6] = -127.0f;
    block_q8_0 b;
    amxq_ref_quantize_row_q8_0(x, &b, 32);
    CHECK(b.d == fp32_to_fp16(1.0f), "Q8_0 d = fp16(127/127)");
    CHECK(b.qs[0] == 127 && b.qs[6] == -127, "Q8_0 extremes");
    CHECK(b.qs[1] == 62 && b.qs[2] == 64 && b.qs[3] == -62 && b.qs[4] == 0 && b.qs[5] == 2,
          "Q8_0 rounds ties to even: %d %d %d %d %d", b.qs[1], b.qs[2], b.qs[3], b.qs[4], b.qs[5]);
}

static void test_q8_0_scale(void) {
    float x[64];
    for (int j = 0; j < 64; j++) x[j] = (float)(j - 20) * 0.37f;
    block_q8_0 b[2];
    amxq_ref_quantize_row_q8_0(x, b, 64);
    for (int i = 0; i < 2; i++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[i * 32 + j]));
        CHECK(b[i].d == fp32_to_fp16(amax / 127.0f), "Q8_0 block %d d", i);
        const float id = 127.0f / amax;
        int bad = 0;
        for (int j = 0; j < 32; j++) {
            const float v = x[i * 32 + j] * id;
            const float r = nearbyintf(v);
            bad += b[i].qs[j] != (int)r;
        }
        CHECK(bad == 0, "Q8_0 block %d quants = nearbyint(x*127/amax) (%d differ)", i, bad);
    }
}

static void test_q8_0_special(void) {
    float x[96] = {0};
    x[32 + 3] = INFINITY;
    x[64 + 7] = NAN;
    x[64 + 8] = 5.0f;
    block_q8_0 b[3];
    amxq_ref_quantize_row_q8_0(x, b, 96);
    int nz = 0;
    for (int j = 0; j < 32; j++) nz += b[0].qs[j] != 0;
    CHECK(b[0].d == 0 && nz == 0, "Q8_0 zero block: d = 0 and q = 0");
    CHECK(isnan(fp16_to_fp32(b[1].d)), "Q8_0 block with Inf: d is NaN");
    CHECK(isnan(fp16_to_fp32(b[2].d)), "Q8_0 block with NaN: d is NaN");
}

static void test_q8_1(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)j * 0.1f - 1.0f;
    block_q8_1 b;
    amxq_ref_quantize_row_q8_1(x, &b, 32);
    block_q8_0 b0;
    amxq_ref_quantize_row_q8_0(x, &b0, 32);
    CHECK(b.d == b0.d && !memcmp(b.qs, b0.qs, 32), "Q8_1 quants and d equal Q8_0's");
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += b.qs[j];
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    CHECK(b.s == fp32_to_fp16((amax / 127.0f) * (float)sum), "Q8_1 s = fp16(d * sum q) with unrounded d");
}

static void test_q8_K(void) {
    float x[512];
    for (int j = 0; j < 256; j++) x[j] = (float)((j * 37) % 19 - 9) * 0.5f;
    x[10] = 10.0f; /* largest magnitude, positive: d must come out negative */
    x[20] = -10.0f;
    for (int j = 256; j < 512; j++) x[j] = 0.0f;
    block_q8_K b[2];
    memset(b, 0x5a, sizeof b); /* bsums of the zero block must be written */
    amxq_ref_quantize_row_q8_K(x, b, 512);
    CHECK(b[0].d < 0.0f, "Q8_K: max element positive gives negative d (%g)", b[0].d);
    CHECK(b[0].d == 1.0f / (-127.0f / 10.0f), "Q8_K d = 1/iscale");
    CHECK(b[0].qs[10] == -127 && b[0].qs[20] == 127, "Q8_K extremes %d %d", b[0].qs[10], b[0].qs[20]);
    const float iscale = -127.0f / 10.0f;
    int bad = 0;
    for (int j = 0; j < 256; j++) bad += b[0].qs[j] != (int)nearbyintf(iscale * x[j]);
    CHECK(bad == 0, "Q8_K quants = nearest-even(iscale * x) (%d differ)", bad);
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += b[0].qs[16 * g + j];
        CHECK(b[0].bsums[g] == s, "Q8_K bsums[%d]", g);
    }
    int nz = 0;
    for (int j = 0; j < 256; j++) nz += b[1].qs[j] != 0;
    for (int g = 0; g < 16; g++) nz += b[1].bsums[g] != 0;
    CHECK(b[1].d == 0.0f && nz == 0, "Q8_K zero block: d, quants and bsums zero");

    /* first element of largest magnitude wins: -10 before +10 gives positive d */
    float y[256] = {0};
    y[3] = -10.0f;
    y[9] = 10.0f;
    block_q8_K c;
    amxq_ref_quantize_row_q8_K(y, &c, 256);
    CHECK(c.d > 0.0f && c.qs[3] == -127 && c.qs[9] == 127, "Q8_K sign from the first largest element");

    y[100] = NAN;
    amxq_ref_quantize_row_q8_K(y, &c, 256);
    CHECK(isnan(c.d), "Q8_K block with NaN: d is NaN");
}

/* The software fp16 conversions against the F16C instructions, on every
 * fp16 value and on many floats around the rounding boundaries. */
#if defined(__F16C__)
#include <immintrin.h>
static void test_fp16_hw(void) {
    int bad = 0;
    for (uint32_t hbits = 0; hbits < 65536; hbits++) {
        const float sw = fp16_to_fp32((uint16_t)hbits);
        const float hw = _cvtsh_ss((unsigned short)hbits);
        if (memcmp(&sw, &hw, 4) != 0 && !(isnan(sw) && isnan(hw))) bad++;
    }
    CHECK(bad == 0, "fp16_to_fp32 equals F16C on all 65536 values (%d differ)", bad);
    bad = 0;
    for (uint32_t i = 0; i < 4000000; i++) {
        uint32_t u = (uint32_t)rng_u64();
        if (i % 2) u = (u & 0x8001ffffu) | ((0x30u + (u >> 20) % 0x20u) << 23); /* fp16 range */
        const float f = f32_from_bits(u);
        const uint16_t sw = fp32_to_fp16(f), hw = _cvtss_sh(f, 0);
        if (sw != hw && !(isnan(f))) bad++;
        if (isnan(f) && (sw & 0x7c00) != 0x7c00) bad++;
    }
    /* exact ties and the overflow boundary */
    const float edge[] = {65504.0f, 65519.99f, 65520.0f, 6.0e-8f, 2.98e-8f, 2.9802322e-8f, 6.1035156e-5f,
                          6.1031434e-5f, -0.0f, 1.00048828125f, 1.00146484375f};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        if (fp32_to_fp16(edge[i]) != _cvtss_sh(edge[i], 0)) bad++;
    CHECK(bad == 0, "fp32_to_fp16 equals F16C round-to-nearest-even (%d differ)", bad);
}
#endif

#if defined(__F16C__)
/* CPUID.1:ECX bit 29 (clang 14's __builtin_cpu_supports does not know
 * "f16c"), and AVX usable, which includes the OS saving the ymm state */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

int main(void) {
    rng_seed(777);
    test_q8_0_ties();
    test_q8_0_scale();
    test_q8_0_special();
    test_q8_1();
    test_q8_K();
#if defined(__F16C__)
    if (cpu_has_f16c())
        test_fp16_hw();
    else
        printf("fp16 hardware comparison NOT RUN: this CPU has no F16C\n");
#else
    printf("fp16 hardware comparison NOT RUN: built without -mf16c\n");
#endif
    return test_finish("test_quantize");
}
