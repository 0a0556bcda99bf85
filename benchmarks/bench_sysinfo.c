/*
 * What the system says about the machine amxq-bench runs on: the CPUs this
 * process may use, the last-level cache size (the decode rotation is sized
 * from it) and the CPU's model name with its family and model numbers. The
 * machine's measured limits come from machine.c's probes.
 */
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

/* Size of the last-level cache: the highest data/unified cache level sysfs
 * lists for cpu0 (sysconf's figure can be the whole package's, or missing
 * in virtual machines), then sysconf, then an assumption. */
size_t detect_llc(const char **source) {
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
        char *end;
        double sz = strtod(buf, &end);
        if (*end == 'K') sz *= 1024;
        else if (*end == 'M') sz *= 1048576;
        else if (*end == 'G') sz *= 1073741824.0;
        if (level > best_level && sz > 0) {
            best_level = level;
            best = (size_t)sz;
        }
    }
    if (best) {
        *source = "sysfs";
        return best;
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    long s = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (s <= 0) s = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (s > 0) {
        *source = "sysconf";
        return (size_t)s;
    }
#endif
    *source = "assumed (not found in sysfs or sysconf)";
    return (size_t)32 << 20;
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
