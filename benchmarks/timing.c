/*
 * One benchmark cell: warm-up calls, then timed calls until the policy is
 * met, each call timed on its own so the median ignores the spikes a shared
 * machine produces (a median over many short calls is steadier than the mean
 * of one long loop).
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics of sorted v. */
static double quantile(const double *v, int n, double q) {
    const double pos = q * (n - 1);
    const int i = (int)pos;
    return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return quantile(v, n, 0.5);
}

timing bench_measure(timed_fn fn, void *ctx, const rep_policy *p) {
    int64_t call = 0;
    double first = 0;
    for (int i = 0; i < p->warmup; i++) {
        const double t0 = bench_now();
        fn(ctx, call++);
        first = bench_now() - t0;
        /* one warm-up is enough for calls long enough to dominate any
         * start-up effect */
        if (first > 0.25 * p->max_time) break;
    }
    int cap = p->max_reps > 0 ? p->max_reps : 1;
    double *t = malloc((size_t)cap * sizeof *t);
    timing r = {.warmup = (int)call};
    if (!t) abort();
    double total = 0;
    int n = 0;
    while (n < cap) {
        const double t0 = bench_now();
        fn(ctx, call++);
        const double dt = bench_now() - t0;
        t[n++] = dt;
        total += dt;
        if (n >= p->min_reps && total >= p->min_time) break;
        if (n >= 3 && total >= p->max_time) break;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    r.reps = n;
    r.total = total;
    r.min = t[0];
    r.max = t[n - 1];
    r.median = quantile(t, n, 0.5);
    r.q1 = quantile(t, n, 0.25);
    r.q3 = quantile(t, n, 0.75);
    free(t);
    return r;
}

timing bench_summary(double *v, int n) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (v[i] == v[i]) v[m++] = v[i]; /* drop NaNs */
    timing r = {.reps = m, .median = NAN, .min = NAN, .q1 = NAN, .q3 = NAN, .max = NAN};
    if (!m) return r;
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    for (int i = 0; i < m; i++) r.total += v[i];
    r.min = v[0];
    r.max = v[m - 1];
    r.median = quantile(v, m, 0.5);
    r.q1 = quantile(v, m, 0.25);
    r.q3 = quantile(v, m, 0.75);
    return r;
}
