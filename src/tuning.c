/*
 * Microarchitecture policies (tuning.h), probed once per process.
 *
 * Software prefetch in the 256-element VNNI kernels at m = 1 (decode):
 *
 * From m = 2 on those kernels prefetch each panel a few superblocks ahead
 * into L2 (vnni_kq_simd.h). At m = 1 whether that helps depends on the core,
 * because a software prefetch that misses to DRAM holds an L1 miss buffer for
 * the whole latency, while the hardware prefetchers, when they follow the
 * stream, fetch into L2 without that limit. Measured with
 * `amxq-bench --types Q4_K,Q6_K,IQ4_XS --shapes 14336x4096 --m 1 --threads 1
 * --peers none`, kernel GB/s over the read probe's in the same rounds:
 *
 *   AMD Zen 4 (family 25 model 17, KVM guest): without 0.89-1.02 (Q4_K
 *   0.97-1.01, Q6_K 0.96-1.02, IQ4_XS 0.89-0.96), with 0.68-0.77.
 *   AMD Zen 5 (family 26 model 2, KVM guest): without 0.41-0.52 (Q4_K 0.51,
 *   Q6_K 0.42, IQ4_XS 0.50), with 0.79-0.85 (two runs each, alternated).
 *
 *   Intel Xeon (family 6 model 207, Emerald Rapids, KVM guest), two runs
 *   of each, alternated, 1 / 2 threads: without Q4_K 0.80, 0.71 / 0.68,
 *   0.69, Q6_K 0.76, 0.75 / 0.76, 0.72, IQ4_XS 0.71, 0.65 / 0.70, 0.65;
 *   with Q4_K 0.88, 0.86 / 0.85, 0.85, Q6_K 0.89, 0.82 / 0.80, 0.81,
 *   IQ4_XS 0.88, 0.78 / 0.80, 0.78.
 *
 * So Zen 4 (and, untested, the earlier Zen cores of family 23/25) streams
 * without; every other CPU prefetches, Zen 5 and Intel on measurement.
 *
 * The legacy 32-element kernels (Q4_0 ... IQ4_NL) at m = 1, the same
 * command with --types Q4_0,Q4_1,Q8_0:
 *
 *   AMD Zen 5: prefetching gave Q4_0 0.80-0.84 against 0.82-0.88 without,
 *   so AMD streams without (Zen 4, earlier, measured the same way).
 *   Intel family 6 model 207, same runs as above, 1 / 2 threads: without
 *   Q4_0 0.59, 0.60 / 0.48, 0.59, Q4_1 0.65, 0.66 / 0.64, 0.56, Q8_0 0.72,
 *   0.71 / 0.67, 0.73; with Q4_0 0.83, 0.86 / 0.76, 0.77, Q4_1 0.88, 0.85 /
 *   0.88, 0.83, Q8_0 0.97, 0.91 / 0.92, 0.90. There the hardware
 *   prefetchers alone do not keep one sequential run fed, so Intel
 *   prefetches the next panel into L2, as every CPU does from m = 2 on.
 *   Other CPUs keep AMD's choice for these kernels (not measured).
 *
 * F16 and BF16 (vnni_float.c) stream panels the same way and follow the
 * same choice, measured with --types F16,BF16 --threads 1,2:
 *
 *   AMD Zen 5, two runs each, 1 / 2 threads: without F16 0.84, 0.85 / 0.91,
 *   0.91, BF16 0.94, 0.95 / 0.96, 0.94; with F16 0.85, 0.83 / 0.92, 0.97,
 *   BF16 1.00, 0.91 / 0.91, 1.03: no difference, so AMD keeps streaming.
 *   Intel family 6 model 207, one run each: without F16 0.64 / 0.54, BF16
 *   0.63 / 0.60; with F16 0.88 / 0.78, BF16 0.93 / 0.80.
 *
 * AMXQ_DECODE_PREFETCH=0|1 overrides the choice (to measure it on a new
 * machine, and so the tests run both paths anywhere).
 *
 * AMX blocking (src/tiles/amx_common.h): work items of up to 256 activation
 * rows x one weight panel, panels fastest, K cut so that a row block's
 * activations over a chunk stay within 1 MiB (of a 2 MiB L2), every inner
 * step the whole chunk. The same on every CPU with AMX so far: the figures
 * behind it come from two Intel Xeon KVM guests with 2 MiB of L2 per core.
 *   - Family 6 model 167, plain int8 GEMM probes (M = 512, N = K = 4096,
 *     one core): 256 rows held in L2 1.97 TOPS, 128 rows 1.94, 512 rows 1.39,
 *     every row streaming past each panel 1.38-1.46.
 *   - Family 6 model 207 (Emerald Rapids), `amxq-bench --types Q4_0,Q4_1,
 *     Q8_0,Q4_K,Q5_K,Q6_K,IQ4_XS --m 512 --threads 1,2 --peers none
 *     --variant amx` on the three model shapes, two runs of each order
 *     alternated (a shared host: its TDPBSSD probe read 1.97 and 4.6 TOPS
 *     in different runs): against the previous order (one panel held, every
 *     row streaming past it) the K-quants at 4096x14336 on one thread went
 *     from 198-305 to 285-538 GOPS (best of two runs 1.5-2.3x). Per shape,
 *     the geometric mean over the 7 types of the best-of-two ratios was
 *     1.16 (4096x4096), 1.12 (14336x4096) and 1.48 (4096x14336) on one
 *     thread, 0.92, 1.03 and 1.15 on two; single cells ranged 0.64-2.3x,
 *     much of it the host's noise. Row blocks of 64, 128
 *     and 512, budgets of 512 KiB and 2 MiB and inner steps of 2, 4 and 8
 *     units were tried there in one run each; none stood out of the noise
 *     (so the driver's stack buffer stops at 256 rows, 16 KiB of sums).
 * AMXQ_AMX_BLOCKING=rows,kib[,inner] overrides it (rows a multiple of 32,
 * 32..256), to measure on a new machine and to test the chunked paths.
 */
#include "tuning.h"

#include <pthread.h>
#include <errno.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static amxq_tuning g_tuning;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* A decimal in [lo, hi] at *s, which then points past it; 0 if there is none. */
static int parse_int(const char **s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    const long v = strtol(*s, &end, 10);
    if (end == *s || errno || v < lo || v > hi) return 0;
    *out = v;
    *s = end;
    return 1;
}

/* AMXQ_AMX_BLOCKING=rows,kib[,inner]: the AMX blocking, to measure it on a
 * new machine and so the tests run the chunked paths anywhere. All of it or
 * nothing: anything else (junk, out of range, rows not a multiple of 32)
 * leaves the defaults. */
static void amx_blocking_env(void) {
    const char *s = getenv("AMXQ_AMX_BLOCKING");
    long rows, kib, inner = 0;
    if (!s || !parse_int(&s, 32, AMX_ROWS_BLOCK_MAX, &rows) || rows % 32 || *s++ != ',' ||
        !parse_int(&s, 1, 1 << 20, &kib))
        return;
    if (*s == ',') {
        s++;
        if (!parse_int(&s, 0, 1 << 20, &inner)) return;
    }
    if (*s) return;
    g_tuning.amx_rows_block = (int)rows;
    g_tuning.amx_a_l2_kib = (int)kib;
    g_tuning.amx_inner_units = (int)inner;
}

static void choose(void) {
    unsigned family = 0, vendor_amd = 0, vendor_intel = 0;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        vendor_amd = b == 0x68747541u;   /* "Auth"enticAMD */
        vendor_intel = b == 0x756e6547u; /* "Genu"ineIntel */
    }
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        family = (a >> 8) & 0xf;
        if (family == 0xf) family += (a >> 20) & 0xff;
    }
#endif
    int kq = 1, panel = 0;
    const char *basis = "other CPUs: software prefetch at m = 1 for K-quants (not measured on this CPU)";
    if (vendor_amd && family >= 0x17 && family <= 0x19) {
        kq = 0;
        basis = "AMD family 23-25 (Zen 1-4): hardware prefetchers keep up at m = 1";
    } else if (vendor_amd && family == 0x1a) {
        basis = "AMD family 26 (Zen 5): measured faster with software prefetch at m = 1";
    } else if (vendor_intel) {
        panel = 1;
        basis = "Intel: measured faster with software prefetch at m = 1 (family 6 model 207)";
    }
    g_tuning = (amxq_tuning){.kq_decode_prefetch = kq,
                             .panel_decode_prefetch = panel,
                             .amx_rows_block = AMX_ROWS_BLOCK_DEFAULT,
                             .amx_a_l2_kib = AMX_A_L2_KIB_DEFAULT,
                             .amx_inner_units = 0,
                             .basis = basis};
    const char *env = getenv("AMXQ_DECODE_PREFETCH");
    if (env && (env[0] == '0' || env[0] == '1') && env[1] == '\0') {
        g_tuning.kq_decode_prefetch = g_tuning.panel_decode_prefetch = env[0] == '1';
        g_tuning.basis = env[0] == '1' ? "AMXQ_DECODE_PREFETCH=1" : "AMXQ_DECODE_PREFETCH=0";
    }
    amx_blocking_env();
}

const amxq_tuning *amxq_tuning_get(void) {
    pthread_once(&g_once, choose);
    return &g_tuning;
}
