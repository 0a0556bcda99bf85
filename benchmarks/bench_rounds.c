/*
 * Decode cells measured in rounds.
 *
 * Decode (M <= DECODE_MAX_M) streams the weights from memory once per call,
 * so its speed is the memory system's, and on a shared machine neighbours
 * move that by up to 2x from one minute to the next. A figure taken alone,
 * or a ratio of two figures taken seconds apart, carries that swing. Here
 * the candidates of one cell (amxq's kernel(s), the read probe, the peer)
 * take turns, back to back, in R rounds whose order rotates, and every ratio
 * is formed within a round, between turns a fraction of a second apart; the
 * report gives the median of the per-round ratios and their spread.
 *
 * Before each turn the process's other threads must be asleep
 * (bench_quiesce): an OpenMP or OpenBLAS worker still spinning after the
 * previous turn would take a core and bandwidth from this one. The calling
 * thread, share 0 of every candidate, is pinned to share 0's CPU for the
 * rounds; the workers a candidate's first call creates are pinned to the
 * CPUs of shares 1, 2, ... and the probe's team pins itself the same way.
 *
 * What the rounds cancel is what moves all candidates alike within a round:
 * memory bandwidth taken by neighbours. Other processes on the same CPUs
 * (or the hypervisor giving them to other guests) slow compute-bound turns
 * more than the read probe's, so each cell also reports how much of its
 * CPUs' time went to others while it ran.
 */
#include <math.h>
#include <string.h>

#include "bench_driver.h"

int quiet_before_timing(void) {
    double waited = 0;
    const int busy = bench_quiesce(QUIESCE_MAX_S, &waited);
    if (waited > R.quiesce_max_s) R.quiesce_max_s = waited;
    R.quiesce_busy += busy > 0;
    return busy;
}

static void cand_call(void *ctx, int64_t i) {
    round_cand *c = ctx;
    (void)i; /* the candidate's own count: the weight copies rotate across turns */
    c->fn(c->ctx, c->next++);
}

static void turn(round_cand *c, int round, rounds_cfg *cfg) {
    double waited = 0;
    const int busy = bench_quiesce(QUIESCE_MAX_S, &waited);
    cfg->quiesce_busy += busy > 0;
    if (waited > cfg->quiesce_max_s) cfg->quiesce_max_s = waited;
    if (waited > R.quiesce_max_s) R.quiesce_max_s = waited;
    R.quiesce_busy += busy > 0;
    timing t;
    if (c->role == CAND_PROBE) {
        t = bench_bw_probe_slot(cfg->probe, cfg->threads, (size_t)c->bytes, cfg->turn);
    } else {
        t = bench_measure(cand_call, c, cfg->turn);
        /* a call that made new workers (none should, after priming) */
        bench_pin_new_threads(c->pool);
    }
    c->sec[round] = t.median;
    c->calls += t.reps;
    c->warm += t.warmup;
    c->timed += t.total;
}

void run_rounds(round_cand *c, int nc, rounds_cfg *cfg) {
    cfg->quiesce_busy = 0;
    cfg->quiesce_max_s = 0;
    cpu_sample a, b;
    bench_pin_self(0);
    for (int i = 0; i < nc; i++) {
        c[i].calls = c[i].warm = 0;
        c[i].timed = 0;
        if (!c[i].fn) continue;
        c[i].fn(c[i].ctx, c[i].next++); /* creates the candidate's workers (with our mask) ... */
        bench_pin_new_threads(c[i].pool); /* ... which then get their own CPUs */
    }
    bench_cpu_sample(&a);
    for (int r = 0; r < cfg->rounds; r++)
        for (int j = 0; j < nc; j++) turn(&c[(j + r) % nc], r, cfg);
    bench_cpu_sample(&b);
    bench_cpu_others(&a, &b, &cfg->others_cpu, &cfg->steal_cpu);
    bench_unpin_self();
}

timing round_stats(const double *v, int n) {
    double tmp[MAX_ROUNDS];
    if (n > MAX_ROUNDS) n = MAX_ROUNDS;
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    return bench_summary(tmp, n);
}

void rounds_fill(result *r, const round_cand *c, int nc, int i, const rounds_cfg *cfg) {
    const round_cand *me = &c[i], *probe = NULL, *dnn = NULL;
    rounds_rec *rr = &r->rr;
    memset(rr, 0, sizeof *rr);
    rr->n = cfg->rounds;
    for (int j = 0; j < nc; j++) {
        if (c[j].role == CAND_PROBE) probe = &c[j];
        if (c[j].role == CAND_ONEDNN) dnn = &c[j];
        const size_t len = strlen(rr->who);
        snprintf(rr->who + len, sizeof rr->who - len, "%s%s", j ? ", " : "", c[j].label);
    }
    rr->probe_chunk = probe ? probe->bytes : NAN;
    rr->quiesce_max_s = cfg->quiesce_max_s;
    rr->quiesce_busy = cfg->quiesce_busy;
    rr->others_cpu = cfg->others_cpu;
    rr->steal_cpu = cfg->steal_cpu;
    for (int k = 0; k < rr->n; k++) {
        rr->gbps[k] = me->bytes / me->sec[k] * 1e-9;
        rr->probe_gbps[k] = probe ? probe->bytes / probe->sec[k] * 1e-9 : NAN;
        rr->bw_ratio[k] = rr->gbps[k] / rr->probe_gbps[k];
        rr->x_onednn[k] = me->role == CAND_AMXQ && dnn ? dnn->sec[k] / me->sec[k] : NAN;
    }
    /* the row's time: over the per-round figures, so its median is the
     * median round's and GOPS and GB/s follow from it */
    r->t = round_stats(me->sec, rr->n);
    r->t.reps = me->calls;
    r->t.warmup = me->warm;
    r->t.total = me->timed;
}
