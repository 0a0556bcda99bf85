/*
 * Run-time ISA detection, once per process.
 *
 * AVX-512 VNNI needs CPUID.7.0 bits (EBX: F 16, DQ 17, BW 30, VL 31; ECX:
 * VNNI 11) and the OS saving opmask/ZMM state (XCR0 bits 1, 2, 5, 6, 7).
 * AMX additionally needs AMX-TILE/AMX-INT8 (CPUID.7.0:EDX bits 24, 25),
 * XCR0 bits 17-18, a usable palette 1 in CPUID leaf 0x1D (some hypervisors
 * set the feature bits but report no palette), and, on Linux, process
 * permission for the dynamic tile-data state: arch_prctl GET_XCOMP_PERM,
 * REQ_XCOMP_PERM(18) if needed, then GET again to confirm. Without that
 * permission the first tile instruction raises SIGILL, so any failure turns
 * AMX off and records why.
 *
 * Environment (read once):
 *   AMXQ_MAX_ISA=scalar|avx512_vnni|amx   caps what AUTO and forced ISAs may use.
 *   AMXQ_TEST_DENY_AMX_PERM=1             behaves as if the kernel refused the
 *                                         tile permission (for fallback tests).
 *   AMXQ_TEST_NO_AVX512_BF16=1            behaves as if the CPU lacked AVX512-BF16
 *                                         (the BF16 kernels' FMA fallback, for tests).
 *
 * Within a family, one extension changes which kernel a type runs, never
 * whether the family runs: AVX512-BF16 (CPUID.7.1:EAX bit 5, vdpbf16ps) for
 * the BF16 kernels of the AVX-512 family, which fall back to FMA without it,
 * and AMX-BF16 (CPUID.7.0:EDX bit 22, TDPBF16PS) for the BF16 tile kernel,
 * whose handles run the AVX-512 kernels for every m without it.
 */

#include "cpu.h"
#include "tuning.h"
#include "version.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define ARCH_GET_XCOMP_SUPP 0x1021
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static struct {
    int vnni_ok, amx_ok;
    int avx512_bf16_ok, amx_bf16_ok;
    amx_isa cap;
    const char *vnni_why, *amx_why;
    char amx_why_buf[160];
    char report[1536];
} g;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

static amx_isa parse_cap(const char *s, int *bad) {
    *bad = 0;
    if (!s || !*s) return AMX_ISA_AMX;
    if (!strcmp(s, "scalar")) return AMX_ISA_SCALAR;
    if (!strcmp(s, "avx512_vnni") || !strcmp(s, "vnni")) return AMX_ISA_AVX512_VNNI;
    if (!strcmp(s, "amx")) return AMX_ISA_AMX;
    *bad = 1;
    return AMX_ISA_AMX;
}

#if defined(__x86_64__) && defined(__linux__) && !defined(AMXQ_TILE_EMULATOR)
/* GET, REQ, GET: the tile-data permission is per process and sticky. */
static int request_tile_permission(char *why, size_t len) {
    unsigned long bits = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_SUPP, &bits) != 0) {
        snprintf(why, len, "arch_prctl(ARCH_GET_XCOMP_SUPP) failed (%s): kernel older than 5.16?",
                 strerror(errno));
        return 0;
    }
    if (!(bits & (1ul << XFEATURE_XTILEDATA))) {
        snprintf(why, len, "the kernel does not offer AMX tile data (ARCH_GET_XCOMP_SUPP)");
        return 0;
    }
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) == 0 &&
        (bits & (1ul << XFEATURE_XTILEDATA)))
        return 1;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
        snprintf(why, len,
                 "arch_prctl(ARCH_REQ_XCOMP_PERM, 18) refused (%s); a too-small sigaltstack "
                 "can cause this",
                 strerror(errno));
        return 0;
    }
    bits = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) != 0 ||
        !(bits & (1ul << XFEATURE_XTILEDATA))) {
        snprintf(why, len, "tile permission not granted after ARCH_REQ_XCOMP_PERM");
        return 0;
    }
    return 1;
}
#endif

static const amx_isa k_preference[] = {AMX_ISA_AMX, AMX_ISA_AVX512_VNNI, AMX_ISA_SCALAR};
static int usable_after_probe(amx_isa isa);

/* The first family of the preference list this machine runs. */
static amx_isa best_of_probe(void) {
    for (size_t i = 0; i < sizeof k_preference / sizeof k_preference[0]; i++)
        if (usable_after_probe(k_preference[i])) return k_preference[i];
    return AMX_ISA_SCALAR;
}

static void probe(void) {
    int bad_cap = 0;
    const char *cap_env = getenv("AMXQ_MAX_ISA");
    g.cap = parse_cap(cap_env, &bad_cap);
    const int deny_perm = getenv("AMXQ_TEST_DENY_AMX_PERM") && getenv("AMXQ_TEST_DENY_AMX_PERM")[0] == '1';

    const int no_bf16 = getenv("AMXQ_TEST_NO_AVX512_BF16") && getenv("AMXQ_TEST_NO_AVX512_BF16")[0] == '1';
    int f = 0, dq = 0, bw = 0, vl = 0, vnni = 0, tile = 0, int8 = 0, osxsave = 0, avx512_bf16 = 0, amx_bf16 = 0;
    unsigned long long xcr0 = 0;
    unsigned max_palette = 0, pal_names = 0, pal_bytes = 0, pal_rows = 0;
    g.vnni_why = g.amx_why = "not probed";
#if defined(__x86_64__)
    unsigned r[4];
    cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    cpuid(1, 0, r);
    osxsave = (r[2] >> 27) & 1;
    if (max_leaf >= 7) {
        cpuid(7, 0, r);
        f = (r[1] >> 16) & 1;
        dq = (r[1] >> 17) & 1;
        bw = (r[1] >> 30) & 1;
        vl = (r[1] >> 31) & 1;
        vnni = (r[2] >> 11) & 1;
        tile = (r[3] >> 24) & 1;
        int8 = (r[3] >> 25) & 1;
        amx_bf16 = (r[3] >> 22) & 1;
        const unsigned max_sub = r[0];
        if (max_sub >= 1) {
            cpuid(7, 1, r);
            avx512_bf16 = (r[0] >> 5) & 1;
        }
    }
    if (osxsave) xcr0 = xgetbv0();
    if (max_leaf >= 0x1d && tile) {
        cpuid(0x1d, 0, r);
        max_palette = r[0];
        if (max_palette >= 1) {
            cpuid(0x1d, 1, r);
            pal_names = r[1] >> 16;
            pal_bytes = r[1] & 0xffff;
            pal_rows = r[2] & 0xffff;
        }
    }

    const int zmm_os = osxsave && (xcr0 & 0xe6) == 0xe6;
    if (!(f && dq && bw && vl && vnni))
        g.vnni_why = "CPU lacks AVX-512 F/DQ/BW/VL/VNNI (CPUID.7.0)";
    else if (!zmm_os)
        g.vnni_why = "OS has not enabled AVX-512 state (XCR0 bits 5-7)";
    else {
        g.vnni_ok = 1;
        g.vnni_why = "available";
    }

    if (!g.vnni_ok)
        g.amx_why = "AMX kernels also need AVX-512 VNNI, which is unavailable";
#if defined(AMXQ_TILE_EMULATOR)
    /* Test build: tile instructions run on the C emulator, so only the
     * AVX-512 epilogues need hardware. The permission path still applies so
     * the fallback can be tested. */
    else if (deny_perm)
        g.amx_why = "arch_prctl(ARCH_REQ_XCOMP_PERM, 18) refused (simulated by AMXQ_TEST_DENY_AMX_PERM)";
    else {
        g.amx_ok = 1;
        g.amx_why = "available (tile emulator)";
    }
#else
    else if (!(tile && int8))
        g.amx_why = "CPU lacks AMX-TILE/AMX-INT8 (CPUID.7.0:EDX bits 24-25)";
    else if (!osxsave || (xcr0 & 0x60000) != 0x60000)
        g.amx_why = "OS has not enabled tile state (XCR0 bits 17-18)";
    else if (max_palette < 1 || pal_names < 8 || pal_bytes < 64 || pal_rows < 16)
        g.amx_why = "CPUID leaf 0x1D reports no usable palette 1 (hypervisor hides AMX?)";
    else if (deny_perm)
        g.amx_why = "arch_prctl(ARCH_REQ_XCOMP_PERM, 18) refused (simulated by AMXQ_TEST_DENY_AMX_PERM)";
    else {
#if defined(__linux__)
        if (request_tile_permission(g.amx_why_buf, sizeof g.amx_why_buf)) {
            g.amx_ok = 1;
            g.amx_why = "available";
        } else {
            g.amx_why = g.amx_why_buf;
        }
#else
        g.amx_why = "AMX tile permission is only implemented for Linux";
#endif
    }
#endif
#else
    g.vnni_why = "not an x86-64 build";
    g.amx_why = "not an x86-64 build";
    (void)deny_perm;
#endif

    /* Extensions used by some types' kernels inside a family. The tile
     * emulator models TDPBF16PS, so emulated AMX has AMX-BF16. */
    g.avx512_bf16_ok = avx512_bf16 && !no_bf16;
#if defined(AMXQ_TILE_EMULATOR)
    g.amx_bf16_ok = 1;
#else
    g.amx_bf16_ok = amx_bf16;
#endif

    /* The cap applies last so the report still shows what the hardware has. */
    if (g.cap < AMX_ISA_AMX && g.amx_ok) {
        g.amx_ok = 0;
        g.amx_why = "capped by AMXQ_MAX_ISA";
    }
    if (g.cap < AMX_ISA_AVX512_VNNI && g.vnni_ok) {
        g.vnni_ok = 0;
        g.vnni_why = "capped by AMXQ_MAX_ISA";
    }

    snprintf(g.report, sizeof g.report,
             "amxq %s\n"
             "cpu: avx512f=%d dq=%d bw=%d vl=%d vnni=%d avx512_bf16=%d amx_tile=%d amx_int8=%d amx_bf16=%d "
             "osxsave=%d xcr0=0x%llx\n"
             "amx palette: max=%u tiles=%u bytes_per_row=%u rows=%u\n"
             "AMXQ_MAX_ISA=%s%s\n"
             "scalar: available\n"
             "avx512_vnni: %s\n"
             "avx512_bf16 (BF16 kernels): %s\n"
             "amx: %s\n"
             "best: %s\n",
             AMXQ_VERSION_STRING, f, dq, bw, vl, vnni, avx512_bf16, tile, int8, amx_bf16, osxsave, xcr0, max_palette,
             pal_names, pal_bytes, pal_rows, cap_env ? cap_env : "(unset)",
             bad_cap ? " (not understood: use scalar, avx512_vnni or amx; ignored)" : "",
             g.vnni_why,
             g.avx512_bf16_ok ? "vdpbf16ps"
             : avx512_bf16    ? "FMA fallback (AMXQ_TEST_NO_AVX512_BF16)"
                              : "FMA fallback (CPU lacks AVX512-BF16, CPUID.7.1:EAX bit 5)",
             g.amx_why, amxq_isa_name(best_of_probe()));
    const size_t used = strlen(g.report);
    const amxq_tuning *t = amxq_tuning_get();
    snprintf(g.report + used, sizeof g.report - used,
             "decode prefetch at m = 1: K-quants %s, 32-element types, F16 and BF16 %s (%s)\n", t->kq_decode_prefetch ? "on" : "off",
             t->panel_decode_prefetch ? "on" : "off", t->basis);
}

static int usable_after_probe(amx_isa isa) {
    switch (isa) {
    case AMX_ISA_AUTO:
    case AMX_ISA_SCALAR: return 1;
    case AMX_ISA_AVX512_VNNI: return g.vnni_ok;
    case AMX_ISA_AMX: return g.amx_ok;
    }
    return 0;
}

int amxq_isa_usable(amx_isa isa, const char **why) {
    pthread_once(&g_once, probe);
    const char *w = "unknown ISA";
    int ok = 0;
    switch (isa) {
    case AMX_ISA_AUTO:
    case AMX_ISA_SCALAR: ok = 1; w = "available"; break;
    case AMX_ISA_AVX512_VNNI: ok = g.vnni_ok; w = g.vnni_why; break;
    case AMX_ISA_AMX: ok = g.amx_ok; w = g.amx_why; break;
    }
    if (why) *why = w;
    return ok;
}

amx_isa amxq_best_isa(void) {
    pthread_once(&g_once, probe);
    return best_of_probe();
}

const amx_isa *amxq_isa_preference(size_t *count) {
    *count = sizeof k_preference / sizeof k_preference[0];
    return k_preference;
}

const char *amxq_isa_name(amx_isa isa) {
    switch (isa) {
    case AMX_ISA_AUTO: return "auto";
    case AMX_ISA_SCALAR: return "scalar";
    case AMX_ISA_AVX512_VNNI: return "avx512_vnni";
    case AMX_ISA_AMX: return "amx";
    }
    return "unknown";
}

int amxq_cpu_avx512_bf16(void) {
    pthread_once(&g_once, probe);
    return g.avx512_bf16_ok;
}

int amxq_cpu_amx_bf16(void) {
    pthread_once(&g_once, probe);
    return g.amx_bf16_ok;
}

const char *amxq_cpu_report(void) {
    pthread_once(&g_once, probe);
    return g.report;
}
