/*
 * What amxq-bench collects and how it shows it: the result, pack and not-run
 * records of one run (R), the lookups that turn them into ratios (to the
 * scalar variant, the peers, the machine's limits), the stdout table, and the
 * published figures as small grids beside this run's figures.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench_driver.h"

run_record R;

const char *const k_phase_names[PH_N] = {"machine limits", "weight generation", "packing",
                                         "amxq", "scalar", "oneDNN", "OpenBLAS", "decode rounds"};

/* ---- the records ----------------------------------------------------------- */

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    *cap = *cap ? *cap * 2 : 64;
    if (*cap < need) *cap = need;
    p = realloc(p, *cap * elem);
    if (!p) {
        fprintf(stderr, "amxq-bench: out of memory\n");
        exit(1);
    }
    return p;
}

result *new_result(void) {
    R.r = grow(R.r, &R.cap, R.n + 1, sizeof *R.r);
    result *r = &R.r[R.n++];
    memset(r, 0, sizeof *r);
    r->gbps = NAN;
    r->pack = -1;
    return r;
}

pack_rec *new_pack(void) {
    R.p = grow(R.p, &R.capp, R.np + 1, sizeof *R.p);
    pack_rec *p = &R.p[R.np++];
    memset(p, 0, sizeof *p);
    return p;
}

void skip(const char *what, const char *fmt, ...) {
    R.s = grow(R.s, &R.caps, R.ns + 1, sizeof *R.s);
    skip_rec *s = &R.s[R.ns++];
    snprintf(s->what, sizeof s->what, "%s", what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    printf("  not run: %s: %s\n", s->what, s->why);
}

static const result *find_result(result_kind kind, int scalar, amx_type type, int64_t n, int64_t k, int64_t m,
                                 int threads) {
    for (size_t i = 0; i < R.n; i++) {
        const result *r = &R.r[i];
        if (r->kind != kind || r->n != n || r->k != k || r->m != m || r->threads != threads) continue;
        if (kind == R_AMXQ && (r->type != type || (strcmp(r->isa, "scalar") == 0) != scalar)) continue;
        return r;
    }
    return NULL;
}

double limit_bw(int threads) {
    for (int i = 0; i < R.n_limits; i++)
        if (R.bw[i].threads == threads) return R.bw[i].median_gbps;
    return NAN;
}

double limit_peak(int threads) {
    for (int i = 0; i < R.n_limits; i++)
        if (R.peak[i].threads == threads) return R.peak[i].median_gops;
    return NAN;
}

static double peak_at(const peak_result *p, int threads) {
    for (int i = 0; i < R.n_limits; i++)
        if (p[i].threads == threads && p[i].median_gops > 0) return p[i].median_gops;
    return NAN;
}

double limit_peak_of(const result *r) {
    /* the kernel name says which instruction ran: amx_* tiles (their integer
     * TDPs: TDPBSSD's rate; BF16's TDPBF16PS has no probe), vnni512_*_bf16_*
     * vdpbf16ps, *_bf16fma_* and F16 FMA */
    if (r->kind == R_AMXQ && !strncmp(r->kernel, "amx_", 4))
        return r->type == AMX_TYPE_BF16 ? NAN : peak_at(R.peak_tdp, r->threads);
    if (r->kind != R_AMXQ || (r->type != AMX_TYPE_F16 && r->type != AMX_TYPE_BF16)) return limit_peak(r->threads);
    if (r->type == AMX_TYPE_BF16 && !strstr(r->kernel, "bf16fma") && strncmp(r->kernel, "ref_", 4))
        return peak_at(R.peak_dpbf16, r->threads);
    return peak_at(R.peak_fma, r->threads);
}

/* amxq / peer as a speed ratio (GOPS over GOPS: the scalar variant may have
 * been timed on fewer rows). */
double ratio_to(const result *r, result_kind kind, int scalar) {
    const result *p = find_result(kind, scalar, r->type, r->n, r->k, r->m, r->threads);
    return p && p != r && p->gops > 0 ? r->gops / p->gops : NAN;
}

double pct_bw_of(const result *r) {
    if (r->rr.n) return 100.0 * round_stats(r->rr.bw_ratio, r->rr.n).median;
    return 100.0 * r->gbps / limit_bw(r->threads);
}

double x_onednn_of(const result *r) {
    if (r->kind != R_AMXQ || !r->primary) return NAN;
    if (r->rr.n) {
        const double x = round_stats(r->rr.x_onednn, r->rr.n).median;
        if (isfinite(x)) return x;
    }
    return ratio_to(r, R_ONEDNN, 0);
}

/* ---- table output ---------------------------------------------------------- */

static void fmt_time(char *buf, size_t len, double s) {
    if (s < 1e-3) snprintf(buf, len, "%.1f us", s * 1e6);
    else if (s < 1) snprintf(buf, len, "%.2f ms", s * 1e3);
    else snprintf(buf, len, "%.2f s", s);
}

static void fmt_num(char *buf, size_t len, double v, const char *f) {
    if (isfinite(v)) snprintf(buf, len, f, v);
    else snprintf(buf, len, "-");
}

void print_table_head(void) {
    printf("%-6s %-11s %4s %3s  %-30s %-34s %-11s %6s %10s %8s %6s %7s %6s %8s %8s %8s\n", "type", "N x K", "M",
           "thr", "variant / peer", "kernel", "isa", "reps", "median", "GOPS", "%peak", "GB/s", "%bw", "xscalar",
           "xoneDNN", "xOpenBLAS");
}

/* "median [min-max]" of a per-round series, "-" if it has no finite value. */
static void fmt_spread(char *buf, size_t len, const double *v, int n, double scale, const char *f) {
    const timing s = round_stats(v, n);
    if (!s.reps) {
        snprintf(buf, len, "-");
        return;
    }
    char a[24], b[24], c[24];
    snprintf(a, sizeof a, f, scale * s.median);
    snprintf(b, sizeof b, f, scale * s.min);
    snprintf(c, sizeof c, f, scale * s.max);
    snprintf(buf, len, "%s [%s-%s]", a, b, c);
}

/* The line under a row measured in rounds: its medians and spreads. */
static void print_rounds(const result *r) {
    const rounds_rec *rr = &r->rr;
    char g[80], p[80], b[80], d[80];
    fmt_spread(g, sizeof g, rr->gbps, rr->n, 1, "%.1f");
    fmt_spread(p, sizeof p, rr->probe_gbps, rr->n, 1, "%.1f");
    fmt_spread(b, sizeof b, rr->bw_ratio, rr->n, 1, "%.2f");
    fmt_spread(d, sizeof d, rr->x_onednn, rr->n, 1, "%.2f");
    printf("      %d rounds: GB/s %s, read probe %s GB/s, x read bw %s", rr->n, g, p, b);
    if (r->kind == R_AMXQ && strcmp(d, "-")) printf(", x oneDNN %s", d);
    if (rr->quiesce_busy) printf("; %d turns began with another thread still running", rr->quiesce_busy);
    if (rr->others_cpu >= OTHERS_WARN || rr->steal_cpu >= OTHERS_WARN)
        printf("; DISTURBED: other processes took %.0f%% of the CPUs' time, other guests (steal) %.0f%%",
               100 * rr->others_cpu, 100 * rr->steal_cpu);
    putchar('\n');
}

void print_result(const result *r) {
    char shape[48], what[128], med[24], gops[16], peak[16], gbps[16], bw[16], xs[16], xd[16], xb[16];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)r->n, (long long)r->k);
    if (r->n_meas < r->n)
        snprintf(what, sizeof what, "%s [rows %lld/%lld]", r->variant, (long long)r->n_meas, (long long)r->n);
    else
        snprintf(what, sizeof what, "%s", r->variant);
    fmt_time(med, sizeof med, r->t.median);
    fmt_num(gops, sizeof gops, r->gops, "%.1f");
    fmt_num(peak, sizeof peak, r->kind == R_OPENBLAS ? NAN : 100.0 * r->gops / limit_peak_of(r), "%.1f%%");
    fmt_num(gbps, sizeof gbps, r->gbps, "%.1f");
    fmt_num(bw, sizeof bw, pct_bw_of(r), "%.0f%%");
    const int cmp = r->kind == R_AMXQ && r->primary && strcmp(r->isa, "scalar") != 0;
    fmt_num(xs, sizeof xs, cmp ? ratio_to(r, R_AMXQ, 1) : NAN, "%.2f");
    fmt_num(xd, sizeof xd, x_onednn_of(r), "%.2f");
    fmt_num(xb, sizeof xb, r->kind == R_AMXQ && r->primary ? ratio_to(r, R_OPENBLAS, 0) : NAN, "%.2f");
    const char *type = r->kind == R_AMXQ ? amx_type_name(r->type) : r->kind == R_ONEDNN ? "s8" : "f32";
    printf("%-6s %-11s %4lld %3d  %-30s %-34s %-11s %6d %10s %8s %6s %7s %6s %8s %8s %8s", type, shape,
           (long long)r->m, r->threads, what, r->kernel, r->isa, r->t.reps, med, gops, peak, gbps, bw, xs, xd, xb);
    if (r->checked && !(r->check <= CHECK_TOLERANCE))
        printf("  CHECK FAILED: differs from the scalar output by %.2g x row rms", r->check);
    putchar('\n');
    if (r->rr.n) print_rounds(r);
    fflush(stdout);
}

void print_pack(const pack_rec *p) {
    char tm[24];
    fmt_time(tm, sizeof tm, p->median_s);
    printf("  pack %-14s %-6s layout %-10s GGUF %.2f MB -> packed %.2f MB (x%.3f); %s median of %d packs, "
           "%d thread(s), first touch of the new memory included; weights rms %.4f",
           p->variant, p->isa, p->layout, p->gguf_bytes * 1e-6, p->packed_bytes * 1e-6,
           (double)p->packed_bytes / (double)p->gguf_bytes, tm, p->reps, p->threads, p->rms);
    if (p->copies)
        printf("; decode rotates %d copies = %.0f MiB", p->copies,
               (double)p->copies * (double)p->packed_bytes / 1048576.0);
    putchar('\n');
}

/* ---- reference figures ----------------------------------------------------- */

/* The fastest selected (non-scalar unless only scalar ran) amxq figure for a
 * reference cell, in the cell's unit. */
const result *best_amxq(amx_type type, int64_t n, int64_t k, int64_t m, int threads) {
    const result *best = NULL;
    for (size_t i = 0; i < R.n; i++) {
        const result *r = &R.r[i];
        if (r->kind != R_AMXQ || !r->primary || r->type != type || r->n != n || r->k != k || r->m != m ||
            r->threads != threads)
            continue;
        if (!best || r->gops > best->gops) best = r;
    }
    return best;
}

double ref_value(const result *r, const ref_figure *f) {
    return !strcmp(f->unit, "GB/s") ? r->gbps : r->gops;
}

/* The recorded figures as one small grid per source (columns = its cells,
 * listed in a legend), each type's row followed by amxq's ratio to it where
 * this run measured the same cell. */
void print_reference(void) {
    size_t nf;
    const ref_figure *f = bench_reference(&nf);
    printf("\nPublished figures, for comparison: RECORDED, NOT MEASURED BY THIS RUN\n  %s\n", bench_reference_note);
    {
        char here[192];
        cpu_model(here, sizeof here);
        if (!strstr(here, bench_reference_cpu))
            printf("  WARNING: this machine is %s, not the %s the figures were recorded on:\n"
                   "  compare with them only as fractions of each machine's own peak and bandwidth\n",
                   here, bench_reference_cpu);
    }
    for (size_t g0 = 0; g0 < nf;) {
        size_t g1 = g0;
        while (g1 < nf && !strcmp(f[g1].source, f[g0].source) && !strcmp(f[g1].variant, f[g0].variant)) g1++;
        /* the group's columns, in order of first appearance */
        const ref_figure *cols[16];
        int nc = 0;
        for (size_t i = g0; i < g1; i++) {
            int seen = 0;
            for (int c = 0; c < nc; c++)
                seen |= cols[c]->m == f[i].m && cols[c]->n == f[i].n && cols[c]->k == f[i].k &&
                        cols[c]->threads == f[i].threads;
            if (!seen && nc < 16) cols[nc++] = &f[i];
        }
        printf("\n%s%s%s\n", f[g0].source, f[g0].variant[0] ? ", " : "", f[g0].variant);
        for (int c = 0; c < nc; c++)
            printf("  c%-2d M=%-4lld %lldx%lld %dT %s%s\n", c + 1, (long long)cols[c]->m, (long long)cols[c]->n,
                   (long long)cols[c]->k, cols[c]->threads, cols[c]->unit, cols[c]->m == 1 ? " (cold)" : "");
        printf("  %-16s", "type");
        for (int c = 0; c < nc; c++) {
            char label[8];
            snprintf(label, sizeof label, "c%d", c + 1);
            printf(" %8s", label);
        }
        putchar('\n');
        for (size_t i = g0; i < g1;) {
            size_t e = i;
            while (e < g1 && f[e].type == f[i].type) e++;
            double val[16], mine[16];
            int any_mine = 0;
            for (int c = 0; c < nc; c++) val[c] = mine[c] = NAN;
            for (size_t x = i; x < e; x++)
                for (int c = 0; c < nc; c++)
                    if (cols[c]->m == f[x].m && cols[c]->n == f[x].n && cols[c]->k == f[x].k &&
                        cols[c]->threads == f[x].threads) {
                        val[c] = f[x].value;
                        const result *r = best_amxq(f[x].type, f[x].n, f[x].k, f[x].m, f[x].threads);
                        if (r) {
                            mine[c] = ref_value(r, &f[x]) / f[x].value;
                            any_mine = 1;
                        }
                    }
            printf("  %-16s", amx_type_name(f[i].type));
            for (int c = 0; c < nc; c++) {
                char b[16];
                fmt_num(b, sizeof b, val[c], "%.1f");
                printf(" %8s", b);
            }
            putchar('\n');
            if (any_mine) {
                printf("  %-16s", "  amxq/ref");
                for (int c = 0; c < nc; c++) {
                    char b[16];
                    fmt_num(b, sizeof b, mine[c], "%.3f");
                    printf(" %8s", b);
                }
                putchar('\n');
            }
            i = e;
        }
        g0 = g1;
    }
}
