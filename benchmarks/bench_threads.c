/*
 * The benchmark's threads. Two jobs:
 *
 *   pinning: thread i of every candidate (amxq's pool, oneDNN's OpenMP team,
 *     the read probe's team) runs on the i-th CPU of the mask the process
 *     started with, so the probe reads from the same CPUs the kernels read
 *     from. The library's pool and OpenMP do not pin, so the driver pins
 *     their workers by thread id right after the call that created them
 *     (bench_pin_new_threads); the calling thread is share 0 of every
 *     candidate and is pinned while the decode rounds run (bench_pin_self).
 *   quiet: OpenMP's and OpenBLAS's idle workers spin for a while after a
 *     call (libgomp ~300000 spins, OpenBLAS up to 2^28 cycles), amxq's for
 *     AMXQ_SPIN_US. On a 2-core machine a spinning worker takes a core, and
 *     memory bandwidth, from the next measurement, so before each timed cell
 *     bench_quiesce waits until /proc/self/task shows every other thread of
 *     the process asleep.
 *   others: what else ran on the process's CPUs meanwhile. Other processes
 *     (in this machine) take the CPUs from the run, the hypervisor takes
 *     them for other guests (steal time), and neither shows in a figure; a
 *     cell reports both as fractions of its CPUs' time (bench_cpu_sample).
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_KNOWN 1024

static struct {
    int ready;
    cpu_set_t start_mask;   /* the process's mask when the run began */
    int cpus[CPU_SETSIZE];  /* its CPUs in order */
    int ncpus;
    pid_t known[MAX_KNOWN]; /* threads seen so far */
    int nknown;
    int next[BENCH_POOLS];  /* workers pinned per pool: the next one is share next + 1 */
} TH;

static pid_t self_tid(void) { return (pid_t)syscall(SYS_gettid); }

static int is_known(pid_t t) {
    for (int i = 0; i < TH.nknown; i++)
        if (TH.known[i] == t) return 1;
    return 0;
}

/* Thread ids of this process, ascending; returns how many (at most cap). */
static int list_threads(pid_t *out, int cap) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        const pid_t t = (pid_t)atoi(e->d_name);
        if (t > 0) out[n++] = t;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* a handful of threads: insertion sort */
        for (int j = i; j > 0 && out[j] < out[j - 1]; j--) {
            const pid_t x = out[j];
            out[j] = out[j - 1];
            out[j - 1] = x;
        }
    return n;
}

void bench_threads_init(void) {
    if (TH.ready) return;
    TH.ready = 1;
    if (sched_getaffinity(0, sizeof TH.start_mask, &TH.start_mask) != 0) {
        CPU_ZERO(&TH.start_mask);
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < n && i < CPU_SETSIZE; i++) CPU_SET((int)i, &TH.start_mask);
    }
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &TH.start_mask)) TH.cpus[TH.ncpus++] = c;
    if (!TH.ncpus) TH.cpus[TH.ncpus++] = 0;
    /* threads that exist before the run (OpenBLAS starts its workers when it
     * loads) belong to no candidate: they are left where they are */
    TH.nknown = list_threads(TH.known, MAX_KNOWN);
}

int bench_cpu_of_share(int ith) {
    bench_threads_init();
    return TH.cpus[ith % TH.ncpus];
}

static int pin_tid(pid_t tid, int ith) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(bench_cpu_of_share(ith), &set);
    return sched_setaffinity(tid, sizeof set, &set) == 0;
}

int bench_pin_self(int ith) { return pin_tid(0, ith); }

void bench_unpin_self(void) {
    bench_threads_init();
    sched_setaffinity(0, sizeof TH.start_mask, &TH.start_mask);
}

int bench_pin_new_threads(int pool) {
    bench_threads_init();
    pid_t now[MAX_KNOWN];
    const int n = list_threads(now, MAX_KNOWN);
    int added = 0;
    for (int i = 0; i < n; i++) {
        if (is_known(now[i])) continue;
        if (TH.nknown < MAX_KNOWN) TH.known[TH.nknown++] = now[i];
        /* a pool creates its workers in share order, so ascending ids are
         * shares 1, 2, ... */
        if (pool >= 0 && pool < BENCH_POOLS) pin_tid(now[i], 1 + TH.next[pool]++);
        added++;
    }
    return added;
}

/* 1 if thread tid is running or runnable ('R' in its stat line). */
static int thread_running(pid_t tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0; /* gone */
    const size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    return p && p[1] == ' ' && p[2] == 'R';
}

int bench_quiesce(double max_s, double *waited) {
    const pid_t self = self_tid();
    const double t0 = bench_now();
    for (;;) {
        pid_t t[MAX_KNOWN];
        const int n = list_threads(t, MAX_KNOWN);
        int busy = 0;
        for (int i = 0; i < n; i++) busy += t[i] != self && thread_running(t[i]);
        const double dt = bench_now() - t0;
        if (!busy || dt >= max_s) {
            if (waited) *waited = dt;
            return busy;
        }
        const struct timespec ts = {0, 200 * 1000}; /* 0.2 ms: our own poll must not be the load */
        nanosleep(&ts, NULL);
    }
}

/* ---- CPU time of others ---------------------------------------------------- */

void bench_cpu_sample(cpu_sample *s) {
    bench_threads_init();
    memset(s, 0, sizeof *s);
    s->wall = bench_now();
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            int cpu;
            unsigned long long v[10] = {0};
            if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9') continue;
            if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3],
                       &v[4], &v[5], &v[6], &v[7]) < 9)
                continue;
            if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &TH.start_mask)) continue;
            /* user nice system idle iowait irq softirq steal: busy = all but idle, iowait, steal */
            s->busy += v[0] + v[1] + v[2] + v[5] + v[6];
            s->steal += v[7];
        }
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        const size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = 0;
        const char *p = strrchr(buf, ')');
        unsigned long long ut = 0, st = 0;
        /* after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            s->self = ut + st;
    }
}

void bench_cpu_others(const cpu_sample *a, const cpu_sample *b, double *others, double *steal) {
    const double hz = (double)sysconf(_SC_CLK_TCK);
    const double avail = (b->wall - a->wall) * hz * (double)TH.ncpus;
    *others = *steal = NAN;
    if (!(avail > 0) || b->busy < a->busy) return;
    const double o = ((double)(b->busy - a->busy) - (double)(b->self - a->self)) / avail;
    *others = o > 0 ? o : 0;
    *steal = (double)(b->steal - a->steal) / avail;
}
