/*
 * What the system says about the machine amxq-bench runs on: the CPUs this
 * process may use, the last-level cache size (the decode rotation is sized
 * from it) and the CPU's model name with its family and model numbers. The
 * machine's measured limits come from machine.c's probes.
 */
#include <cpuid.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_driver.h"

int count_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int read_line(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok) buf[strcspn(buf, "\n")] = 0;
    return ok;
}

static size_t parse_size(const char *buf) {
    char *end;
    double sz = strtod(buf, &end);
    if (*end == 'K') sz *= 1024;
    else if (*end == 'M') sz *= 1048576;
    else if (*end == 'G') sz *= 1073741824.0;
    return sz > 0 ? (size_t)sz : 0;
}

/* The highest data/unified cache level sysfs lists for cpu0: one instance's
 * size, and the CPUs sharing it. */
static size_t llc_sysfs(char *shared, size_t len) {
    size_t best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char path[128], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        if (!strcmp(buf, "Instruction")) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        const int level = atoi(buf);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        const size_t sz = parse_size(buf);
        if (level > best_level && sz > 0) {
            best_level = level;
            best = sz;
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/shared_cpu_list", i);
            if (!read_line(path, shared, len)) snprintf(shared, len, "?");
        }
    }
    return best;
}

/* The deterministic cache parameters leaf (AMD 0x8000001D, Intel 4): the
 * highest data/unified level's size and how many logical CPUs share it.
 * *legacy: AMD's older L3 field (0x80000006 EDX), which can be a total over
 * several caches, 0 elsewhere. */
static size_t llc_cpuid(int *sharing, size_t *legacy) {
    unsigned a, b, c, d, leaf = 0;
    *sharing = 0;
    *legacy = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const unsigned max_basic = a;
    const int amd = b == 0x68747541; /* "Auth" */
    const unsigned max_ext = __get_cpuid_max(0x80000000, NULL);
    if (amd && max_ext >= 0x8000001D) leaf = 0x8000001D;
    else if (!amd && max_basic >= 4) leaf = 4;
    if (amd && max_ext >= 0x80000006) {
        __cpuid(0x80000006, a, b, c, d);
        *legacy = (size_t)(d >> 18) * 512 * 1024;
    }
    size_t best = 0;
    int best_level = 0;
    for (unsigned i = 0; leaf && i < 16; i++) {
        __cpuid_count(leaf, i, a, b, c, d);
        const unsigned type = a & 31, level = (a >> 5) & 7;
        if (type == 0) break;
        if (type == 2) continue; /* instruction cache */
        const size_t size = (size_t)(((b >> 22) & 0x3ff) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) *
                            ((size_t)c + 1);
        if ((int)level > best_level) {
            best_level = (int)level;
            best = size;
            *sharing = (int)((a >> 14) & 0xfff) + 1;
        }
    }
    return best;
}

static int in_guest(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) found = strstr(line, " hypervisor") != NULL;
    fclose(f);
    return found;
}

/* Size of the last-level cache, from the first of: sysfs's per-instance
 * figure for cpu0's highest level (one instance is what this core's reads
 * can fill; sysconf's figure can be the whole package's, or missing in
 * virtual machines), CPUID's deterministic cache leaf, sysconf, an
 * assumption. The others are kept to be reported beside it. */
void detect_llc(llc_info *l) {
    memset(l, 0, sizeof *l);
    l->sysfs = llc_sysfs(l->sysfs_shared, sizeof l->sysfs_shared);
    l->cpuid = llc_cpuid(&l->cpuid_sharing, &l->cpuid_legacy);
#ifdef _SC_LEVEL3_CACHE_SIZE
    long sc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (sc <= 0) sc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    l->sysconf_l3 = sc > 0 ? (size_t)sc : 0;
#endif
    l->hypervisor = in_guest();
    if (l->sysfs) {
        l->bytes = l->sysfs;
        snprintf(l->source, sizeof l->source, "from sysfs (cpu0's highest cache level, one instance, shared by CPUs %s)",
                 l->sysfs_shared);
    } else if (l->cpuid) {
        l->bytes = l->cpuid;
        snprintf(l->source, sizeof l->source, "from CPUID's cache leaf (one instance, shared by %d logical CPUs)",
                 l->cpuid_sharing);
    } else if (l->sysconf_l3) {
        l->bytes = l->sysconf_l3;
        snprintf(l->source, sizeof l->source, "from sysconf (neither sysfs nor CPUID list it)");
    } else {
        l->bytes = (size_t)32 << 20;
        snprintf(l->source, sizeof l->source, "assumed (not found in sysfs, CPUID or sysconf)");
    }
    /* the other figures, where they differ from the one used */
    char other[320] = "";
    const struct { const char *what; size_t v; } f[] = {
        {"CPUID cache leaf", l->cpuid}, {"CPUID 0x80000006 (a total over caches)", l->cpuid_legacy},
        {"sysconf", l->sysconf_l3}, {"sysfs", l->sysfs}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].v || f[i].v == l->bytes) continue;
        const size_t len = strlen(other);
        snprintf(other + len, sizeof other - len, "%s%s %.0f MiB", len ? ", " : "", f[i].what,
                 (double)f[i].v / 1048576.0);
    }
    size_t len = 0;
    if (other[0]) len += (size_t)snprintf(l->note, sizeof l->note, "other figures: %s. ", other);
    if (l->hypervisor && len < sizeof l->note)
        snprintf(l->note + len, sizeof l->note - len,
                 "A virtual machine (hypervisor flag): sysfs and CPUID show what the hypervisor presents, which may be "
                 "the host's cache rather than what this core can fill; the read probes, and the decode rotation unless "
                 "--rotate-mib is given, are at least %.0f MiB whatever the figure.",
                 (double)PROBE_MIN_BYTES / 1048576.0);
}

/* "model name (family F model M)": hypervisors often mask the model name
 * ("AMD EPYC"), and the family/model numbers tell e.g. Zen 4 from Zen 5, whose
 * 512-bit VNNI rates differ by 2x. */
void cpu_model(char *out, size_t len) {
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256], name[128] = "unknown";
    int family = -1, model = -1;
    while (fgets(line, sizeof line, f) && (family < 0 || model < 0 || !strcmp(name, "unknown"))) {
        const char *p = strchr(line, ':');
        if (!p) continue;
        for (p++; *p == ' '; p++) {}
        if (!strncmp(line, "model name", 10)) {
            snprintf(name, sizeof name, "%s", p);
            name[strcspn(name, "\n")] = 0;
        } else if (!strncmp(line, "cpu family", 10)) {
            family = atoi(p);
        } else if (!strncmp(line, "model\t", 6) || !strncmp(line, "model ", 6)) {
            model = atoi(p);
        }
    }
    fclose(f);
    snprintf(out, len, "%s (family %d model %d)", name, family, model);
}
