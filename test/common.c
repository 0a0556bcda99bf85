#include "common.h"

#include <stddef.h>
#include <string.h>

#include "../src/dispatch.h"
#include "../src/ref/ref.h"
#if defined(AMXQ_TILE_EMULATOR)
#include "../src/tiles/tile_emu.h"
#endif

int g_failures = 0;
int g_checks = 0;

int test_finish(const char *name) {
    printf("%s: %d checks, %d failures\n", name, g_checks, g_failures);
    return g_failures ? 1 : 0;
}



static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
void rng_seed(uint64_t s) { g_rng = s ? s : 1; }
uint64_t rng_u64(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
float rng_uniform(float lo, float hi) { return lo + (hi - lo) * (float)((rng_u64() >> 40) * (1.0 / 16777216.0)); }
float rng_normal(void) {
    const double u1 = ((rng_u64() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    const double u2 = (rng_u64() >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

size_t gguf_bytes(amx_type t, int64_t n, int64_t k) {
    return (size_t)n * (size_t)(k / amx_type_block_size(t)) * (size_t)amx_type_block_bytes(t);
}

static uint16_t gen_scale(gen_mode mode, int allow_negative) {
    float v;
    if (mode == GEN_EXTREME) {
        switch (rng_u64() % 4) {
        case 0: v = rng_uniform(1000.0f, 60000.0f); break;   /* near fp16 max */
        case 1: v = rng_uniform(1e-7f, 6e-5f); break;        /* fp16 subnormal */
        case 2: v = 0.0f; break;
        default: v = rng_uniform(1e-3f, 0.1f); break;
        }
    } else {
        v = rng_uniform(1e-3f, 0.05f);
    }
    if (allow_negative && (rng_u64() % 8) == 0) v = -v;
    return fp32_to_fp16(v);
}

/* One F16 / BF16 weight: model-like values, or (GEN_EXTREME) values near
 * the top of the type's range, subnormals, signed zeros and ordinary ones.
 * BF16's top is kept at 1e30 so that products with the activations (up to
 * ~4e3) and their sums stay finite in float. */
static uint16_t gen_float_weight(amx_type t, gen_mode mode) {
    float v = rng_normal() * 0.05f;
    if (mode == GEN_EXTREME) {
        const int bf = t == AMX_TYPE_BF16;
        switch (rng_u64() % 5) {
        case 0: v = bf ? rng_uniform(1e20f, 1e30f) : rng_uniform(1000.0f, 65504.0f); break;
        case 1: v = bf ? rng_uniform(1e-40f, 1.1e-38f) : rng_uniform(1e-7f, 6e-5f); break; /* subnormal */
        case 2: v = 0.0f; break;
        default: v = rng_normal(); break;
        }
        if (rng_u64() % 2) v = -v;
    }
    return t == AMX_TYPE_BF16 ? fp32_to_bf16(v) : fp32_to_fp16(v);
}

static void fill_random(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_u64();
}

void gen_weights(amx_type t, int64_t n, int64_t k, uint8_t *out, gen_mode mode) {
    const int64_t nb = n * (k / amx_type_block_size(t));
    for (int64_t b = 0; b < nb; b++) {
        switch (t) {
        case AMX_TYPE_F16:
        case AMX_TYPE_BF16: ((uint16_t *)out)[b] = gen_float_weight(t, mode); break;
        case AMX_TYPE_Q4_0: {
            block_q4_0 *x = (block_q4_0 *)out + b;
            x->d = gen_scale(mode, 1);
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q4_1: {
            block_q4_1 *x = (block_q4_1 *)out + b;
            x->d = gen_scale(mode, 1);
            x->m = fp32_to_fp16(-fp16_to_fp32(gen_scale(mode, 1)) * (mode == GEN_EXTREME ? 1.0f : 8.0f));
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q5_0: {
            block_q5_0 *x = (block_q5_0 *)out + b;
            x->d = gen_scale(mode, 1);
            fill_random(x->qh, sizeof x->qh);
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q5_1: {
            block_q5_1 *x = (block_q5_1 *)out + b;
            x->d = gen_scale(mode, 1);
            x->m = fp32_to_fp16(-fp16_to_fp32(gen_scale(mode, 1)) * (mode == GEN_EXTREME ? 1.0f : 16.0f));
            fill_random(x->qh, sizeof x->qh);
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_IQ4_NL: {
            block_iq4_nl *x = (block_iq4_nl *)out + b;
            x->d = gen_scale(mode, 1);
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q8_0: {
            block_q8_0 *x = (block_q8_0 *)out + b;
            x->d = gen_scale(mode, 1);
            fill_random((uint8_t *)x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q2_K: {
            block_q2_K *x = (block_q2_K *)out + b;
            x->d = gen_scale(mode, 1);
            x->dmin = gen_scale(mode, 1);
            fill_random(x->scales, sizeof x->scales);
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q3_K: {
            block_q3_K *x = (block_q3_K *)out + b;
            fill_random(x->hmask, sizeof x->hmask);
            fill_random(x->qs, sizeof x->qs);
            fill_random(x->scales, sizeof x->scales);
            x->d = gen_scale(mode, 1);
        } break;
        case AMX_TYPE_Q4_K: {
            block_q4_K *x = (block_q4_K *)out + b;
            x->d = gen_scale(mode, 1);
            x->dmin = gen_scale(mode, 1);
            fill_random(x->scales, sizeof x->scales);
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q5_K: {
            block_q5_K *x = (block_q5_K *)out + b;
            x->d = gen_scale(mode, 1);
            x->dmin = gen_scale(mode, 1);
            fill_random(x->scales, sizeof x->scales);
            fill_random(x->qh, sizeof x->qh);
            fill_random(x->qs, sizeof x->qs);
        } break;
        case AMX_TYPE_Q6_K: {
            block_q6_K *x = (block_q6_K *)out + b;
            fill_random(x->ql, sizeof x->ql);
            fill_random(x->qh, sizeof x->qh);
            fill_random((uint8_t *)x->scales, sizeof x->scales);
            x->d = gen_scale(mode, 1);
        } break;
        case AMX_TYPE_IQ4_XS: {
            block_iq4_xs *x = (block_iq4_xs *)out + b;
            x->d = gen_scale(mode, 1);
            x->scales_h = (uint16_t)rng_u64();
            fill_random(x->scales_l, sizeof x->scales_l);
            fill_random(x->qs, sizeof x->qs);
        } break;
        }
    }
}

void gen_acts(int64_t m, int64_t k, int64_t ldx, float *x) {
    for (int64_t i = 0; i < m; i++) {
        const float scale = powf(10.0f, (float)((i % 5) - 2));
        for (int64_t j = 0; j < k; j++) x[i * ldx + j] = scale * rng_normal();
        if (i % 3 == 1) x[i * ldx + (int64_t)(rng_u64() % (uint64_t)k)] = scale * 40.0f; /* outlier */
        for (int64_t j = k; j < ldx; j++) x[i * ldx + j] = NAN; /* padding must never be read */
    }
}

#define CANARY 0xA5
#define TAIL_BYTES 256

guarded_out guarded_alloc(int64_t m, int64_t n, int64_t ldy) {
    guarded_out g = {0};
    g.m = m;
    g.n = n;
    g.ldy = ldy;
    g.raw_len = (size_t)(m > 0 ? m : 1) * (size_t)ldy * sizeof(float) + TAIL_BYTES;
    g.raw = malloc(g.raw_len);
    memset(g.raw, CANARY, g.raw_len);
    g.y = (float *)g.raw;
    return g;
}

int guarded_intact(const guarded_out *g) {
    for (int64_t i = 0; i < g->m; i++) {
        const unsigned char *row = (const unsigned char *)(g->y + i * g->ldy);
        for (size_t b = (size_t)g->n * sizeof(float); b < (size_t)g->ldy * sizeof(float); b++)
            if (row[b] != CANARY) return 0;
    }
    const size_t tail = (size_t)(g->m > 0 ? g->m : 1) * (size_t)g->ldy * sizeof(float);
    for (size_t b = tail; b < g->raw_len; b++)
        if (g->raw[b] != CANARY) return 0;
    return 1;
}

void guarded_free(guarded_out *g) {
    free(g->raw);
    g->raw = NULL;
}

/* Decoded weights of one row, and the "min" part -mu (decode with d = 0). */
static void decode_row_parts(amx_type t, const uint8_t *row, int64_t k, float *w, float *negmu) {
    amxq_ref_dequantize_row(t, row, w, k);
    const int bs = amx_type_block_size(t), bb = amx_type_block_bytes(t);
    const int64_t nb = k / bs;
    if (t != AMX_TYPE_Q4_1 && t != AMX_TYPE_Q5_1 && t != AMX_TYPE_Q4_K && t != AMX_TYPE_Q5_K && t != AMX_TYPE_Q2_K) {
        memset(negmu, 0, (size_t)k * sizeof(float));
        return;
    }
    uint8_t *tmp = malloc((size_t)nb * bb);
    memcpy(tmp, row, (size_t)nb * bb);
    for (int64_t b = 0; b < nb; b++) {
        /* d is the first fp16 of Q4_1, Q5_1, Q4_K and Q5_K; Q2_K keeps it after the quants */
        uint16_t *d = (uint16_t *)(tmp + b * bb + (t == AMX_TYPE_Q2_K ? offsetof(block_q2_K, d) : 0));
        *d = 0;
    }
    amxq_ref_dequantize_row(t, tmp, negmu, k);
    free(tmp);
}

/* The quantized activation row, decoded: value per element, plus for Q8_1 the
 * difference between the stored s and d * sum(q) per block. */
static void decode_act_row(amx_type t, const void *act, int64_t k, double *a, double *sdiff) {
    switch (amxq_type_info(t)->act) {
    case ACT_Q8_0: {
        const block_q8_0 *b = act;
        for (int64_t i = 0; i < k / 32; i++)
            for (int j = 0; j < 32; j++) a[i * 32 + j] = (double)fp16_to_fp32(b[i].d) * b[i].qs[j];
    } break;
    case ACT_Q8_1: {
        const block_q8_1 *b = act;
        for (int64_t i = 0; i < k / 32; i++) {
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                a[i * 32 + j] = (double)fp16_to_fp32(b[i].d) * b[i].qs[j];
                sum += b[i].qs[j];
            }
            sdiff[i] = (double)fp16_to_fp32(b[i].s) - (double)fp16_to_fp32(b[i].d) * sum;
        }
    } break;
    case ACT_Q8_K: {
        const block_q8_K *b = act;
        for (int64_t i = 0; i < k / 256; i++)
            for (int j = 0; j < 256; j++) a[i * 256 + j] = (double)b[i].d * b[i].qs[j];
    } break;
    case ACT_F16:
        for (int64_t i = 0; i < k; i++) a[i] = fp16_to_fp32(((const uint16_t *)act)[i]);
        break;
    case ACT_BF16:
        for (int64_t i = 0; i < k; i++) a[i] = bf16_to_fp32(((const uint16_t *)act)[i]);
        break;
    }
}

static int ref_depth(amx_type t, int64_t k) {
    const int64_t nb = k / amx_type_block_size(t);
    switch (t) {
    /* any fp32 summation of the k exact products takes at most k roundings
     * per output (vdpbf16ps: two per pair), plus the final sum of the two
     * partial sums; the reference's double sum rounded once is within one */
    case AMX_TYPE_F16:
    case AMX_TYPE_BF16: return (int)k + 2;
    case AMX_TYPE_Q4_0:
    case AMX_TYPE_Q5_0:
    case AMX_TYPE_IQ4_NL:
    case AMX_TYPE_Q8_0: return (int)nb + 3;
    case AMX_TYPE_Q4_1:
    case AMX_TYPE_Q5_1: return (int)nb + 4;
    case AMX_TYPE_IQ4_XS: return (int)(8 * nb) + 3;
    default: return (int)nb + 12;
    }
}

double oracle_check(amx_type t, int64_t m, int64_t n, int64_t k, const uint8_t *w, const float *x,
                    int64_t ldx, const float *y, int64_t ldy, int extra_depth, const char *what) {
    const size_t rowb = gguf_bytes(t, 1, k);
    const size_t actb = amxq_ref_act_row_bytes(t, k);
    float *wf = malloc((size_t)k * sizeof(float)), *negmu = malloc((size_t)k * sizeof(float));
    double *a = malloc((size_t)m * (size_t)k * sizeof(double));
    double *sdiff = calloc((size_t)m * (size_t)(k / 32 + 1), sizeof(double));
    void *act = malloc(actb);
    for (int64_t i = 0; i < m; i++) {
        amxq_ref_quantize_row_for(t, x + i * ldx, act, k);
        decode_act_row(t, act, k, a + i * k, sdiff + i * (k / 32 + 1));
    }
    const double u = ldexp(1.0, -24);
    const int depth = ref_depth(t, k) + extra_depth;
    const double gamma = depth * u / (1.0 - depth * u);
    double worst = 0.0;
    int reported = 0;
    for (int64_t j = 0; j < n; j++) {
        decode_row_parts(t, w + (size_t)j * rowb, k, wf, negmu);
        for (int64_t i = 0; i < m; i++) {
            const double *ai = a + i * k;
            double exact = 0.0, mag = 0.0, mumag = 0.0, extra = 0.0;
            for (int64_t kk = 0; kk < k; kk++) {
                exact += (double)wf[kk] * ai[kk];
                mag += fabs((double)wf[kk] * ai[kk]);
                mumag += fabs((double)negmu[kk] * ai[kk]);
            }
            if (t == AMX_TYPE_BF16) {
                /* bf16 products may fall below float's normal range (the
                 * reference's float product rounds them, vdpbf16ps and
                 * TDPBF16PS flush them, DAZ drops terms with a subnormal
                 * factor), and FTZ may flush a partial sum below 2^-126:
                 * each such term may be lost whole, and each of the depth
                 * operations may lose up to 2^-126 */
                for (int64_t kk = 0; kk < k; kk++) {
                    const double p = fabs((double)wf[kk] * ai[kk]);
                    if (p < 0x1p-126 || (wf[kk] != 0 && fabsf(wf[kk]) < 0x1p-126f) ||
                        (ai[kk] != 0 && fabs(ai[kk]) < 0x1p-126))
                        extra += p;
                }
                extra += (depth + 1) * 0x1p-126;
            }
            if (amxq_type_info(t)->act == ACT_Q8_1) {
                /* ggml uses m * s with s = fp16(d * sum q): account for that rounding */
                for (int64_t b = 0; b < k / 32; b++)
                    extra += fabs((double)negmu[b * 32] * sdiff[i * (k / 32 + 1) + b]);
            }
            const double bound = gamma * (mag + 2.0 * mumag) + extra * (1.0 + 4 * u) + 1e-37;
            const double got = y[i * ldy + j];
            double err = fabs(got - exact);
            if (isnan(got) || isnan(err)) err = INFINITY;
            const double ratio = err / bound;
            if (ratio > worst) worst = ratio;
            if (ratio > 1.0 && reported < 5) {
                reported++;
                fprintf(stderr,
                        "  %s %s m=%lld n=%lld k=%lld: y[%lld][%lld]=%.9g exact=%.9g err=%.3g bound=%.3g\n",
                        what, amx_type_name(t), (long long)m, (long long)n, (long long)k, (long long)i,
                        (long long)j, got, exact, err, bound);
            }
        }
    }
    free(wf);
    free(negmu);
    free(a);
    free(sdiff);
    free(act);
    return worst;
}

int64_t bitwise_diff(const float *a, const float *b, int64_t m, int64_t n, int64_t lda, int64_t ldb) {
    int64_t diff = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            if (memcmp(&a[i * lda + j], &b[i * ldb + j], sizeof(float)) != 0) diff++;
    return diff;
}

void for_each_runnable_variant(void (*check)(const amxq_variant *v), const char *what) {
    size_t nv;
    const amxq_variant *vs = amxq_variants(&nv);
    for (size_t i = 0; i < nv; i++) {
        const char *why;
        if (!amx_cpu_supports(vs[i].isa, &why)) {
            printf("NOT RUN: %s (%s)\n", vs[i].name, why);
            continue;
        }
        check(&vs[i]);
        printf("%s: %s\n", vs[i].name, what);
    }
}

#if defined(AMXQ_TILE_EMULATOR)
void tile_foreign_use(void) { amxq_tile_emu_simulate_foreign_use(); }
int tile_regions_closed(void) { return amxq_tile_emu_threads_configured() == 0; }
uint64_t tile_tdp_count(void) {
    amxq_tile_counts c;
    amxq_tile_emu_counts_all(&c);
    return c.tdpb_int8 + c.tdpbf16ps;
}
int tile_counts_available(void) { return 1; }
#else
void tile_foreign_use(void) {}
int tile_regions_closed(void) { return 1; }
uint64_t tile_tdp_count(void) { return 0; }
int tile_counts_available(void) { return 0; }
#endif
