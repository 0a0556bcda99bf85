/*
 * amxq-bench's JSON report (schema "amxq-bench/1"): the units, the run's
 * settings, the machine, its limits, the peers, every pack and result with
 * its ratios, what was not run and why, and the published figures next to
 * this run's. smoke_test.py and plot.py read it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_driver.h"

static void json_timing(json_w *j, const timing *t) {
    json_obj(j, "time_s");
    json_num(j, "median", t->median);
    json_num(j, "min", t->min);
    json_num(j, "q1", t->q1);
    json_num(j, "q3", t->q3);
    json_num(j, "max", t->max);
    json_num(j, "total", t->total);
    json_end(j);
    json_int(j, "reps", t->reps);
    json_int(j, "warmup", t->warmup);
}

static void json_policy(json_w *j, const char *key, const rep_policy *p) {
    json_obj(j, key);
    json_num(j, "min_time_s", p->min_time);
    json_int(j, "min_reps", p->min_reps);
    json_num(j, "max_time_s", p->max_time);
    json_int(j, "max_reps", p->max_reps);
    json_int(j, "warmup", p->warmup);
    json_end(j);
}

static void json_peak_list(json_w *j, const char *peak_key, const char *what, const peak_result *peak, int n) {
    json_arr(j, peak_key);
    for (int i = 0; i < n; i++) {
        json_obj(j, NULL);
        json_str(j, "what", what);
        json_int(j, "threads", peak[i].threads);
        json_int(j, "chains", peak[i].chains);
        json_int(j, "instructions_per_thread", (int64_t)peak[i].instructions);
        json_int(j, "reps", peak[i].reps);
        json_num(j, "median_gops", peak[i].median_gops);
        json_num(j, "best_gops", peak[i].best_gops);
        json_end(j);
    }
    json_end(j);
}

static void json_limit_list(json_w *j, const char *bw_key, const char *peak_key, const bw_result *bw,
                            const peak_result *peak, int n) {
    json_arr(j, bw_key);
    for (int i = 0; i < n; i++) {
        json_obj(j, NULL);
        json_str(j, "what", "AVX-512 read-only sum, 8 vpaddd accumulators, each thread its 1/T of one buffer");
        json_int(j, "threads", bw[i].threads);
        json_int(j, "buffer_bytes", (int64_t)bw[i].bytes);
        json_int(j, "reps", bw[i].reps);
        json_num(j, "median_gbps", bw[i].median_gbps);
        json_num(j, "best_gbps", bw[i].best_gbps);
        json_end(j);
    }
    json_end(j);
    json_peak_list(j, peak_key, "vpdpbusd zmm, independent accumulator chains per thread, 2*64 ops per instruction",
                   peak, n);
}

/* A per-round series: its median, quartiles, min and max. */
static void json_spread(json_w *j, const char *key, const double *v, int n) {
    const timing s = round_stats(v, n);
    if (!s.reps) {
        json_null(j, key);
        return;
    }
    json_obj(j, key);
    json_num(j, "median", s.median);
    json_num(j, "q1", s.q1);
    json_num(j, "q3", s.q3);
    json_num(j, "min", s.min);
    json_num(j, "max", s.max);
    json_end(j);
}

static void json_rounds(json_w *j, const result *r) {
    const rounds_rec *rr = &r->rr;
    json_obj(j, "rounds");
    json_int(j, "n", rr->n);
    json_str(j, "candidates", rr->who);
    json_spread(j, "gbps", rr->gbps, rr->n);
    json_spread(j, "probe_gbps", rr->probe_gbps, rr->n);
    json_spread(j, "bw_ratio", rr->bw_ratio, rr->n);
    json_spread(j, "x_onednn", rr->x_onednn, rr->n);
    json_num(j, "probe_call_bytes", rr->probe_chunk);
    json_num(j, "quiesce_max_s", rr->quiesce_max_s);
    json_int(j, "turns_with_busy_threads", rr->quiesce_busy);
    json_num(j, "others_cpu", rr->others_cpu);
    json_num(j, "steal_cpu", rr->steal_cpu);
    json_arr(j, "per_round");
    for (int k = 0; k < rr->n; k++) {
        json_obj(j, NULL);
        json_num(j, "gbps", rr->gbps[k]);
        json_num(j, "probe_gbps", rr->probe_gbps[k]);
        json_num(j, "bw_ratio", rr->bw_ratio[k]);
        json_num(j, "x_onednn", rr->x_onednn[k]);
        json_end(j);
    }
    json_end(j);
    json_end(j);
}

int write_json(const options *o, int argc, char **argv, const llc_info *llc, double target, double total,
               const char *cpu) {
    json_w j;
    if (!json_open(&j, o->json, "amxq-bench")) return 0;
    json_obj(&j, NULL);
    json_str(&j, "schema", "amxq-bench/1");
    json_obj(&j, "units");
    json_str(&j, "time_s", "seconds per amx_gemm_q (or peer) call: median, min, quartiles, max over 'reps' timed calls after 'warmup' untimed ones; rows with a 'rounds' object: over the per-round figures (each the median call of that round's turn), 'reps' and 'warmup' counting the calls of every turn");
    json_str(&j, "gops", "2*m*n_measured*k / median time, 1e9 per second (int8 ops for amxq and oneDNN, flops for OpenBLAS)");
    json_str(&j, "gbps", "weight bytes one call reads (GGUF bytes of the measured rows for amxq, s8 bytes for oneDNN, f32 bytes for OpenBLAS) / median time, 1e9 bytes per second; only for m <= 8");
    json_str(&j, "pct_peak", "gops / the type's median peak at the same thread count, percent: vpdpbusd zmm for the integer types, vfmadd231ps zmm for F16 and the BF16 FMA fallback, vdpbf16ps zmm for BF16 kernels that use it");
    json_str(&j, "pct_bw", "gbps / read bandwidth median at the same thread count, percent; rows with 'rounds': 100 x rounds.bw_ratio.median");
    json_str(&j, "x_scalar", "amxq gops / scalar variant gops, same type, shape, m, threads");
    json_str(&j, "x_onednn", "amxq gops / oneDNN u8s8->f32 matmul gops, same shape, m, threads; rows with 'rounds': rounds.x_onednn.median when oneDNN took turns");
    json_str(&j, "rounds", "decode rows (m <= decode_max_m) measured in rounds: in each of n rounds every candidate (amxq's kernels, the read probe, oneDNN) took one turn, back to back, the order rotating; gbps: this row's per round; probe_gbps: the read probe's in the same round; bw_ratio: gbps / probe_gbps per round; x_onednn: oneDNN's turn time / this row's per round (a GOPS ratio); each as median, quartiles, min, max over the rounds, and per_round lists them; others_cpu / steal_cpu: fraction of the CPUs' time other processes / other guests took while the rounds ran (they slow compute-bound turns more than the probe's, which the ratios do not cancel)");
    json_str(&j, "x_openblas", "amxq gops / OpenBLAS sgemm gflops, same shape, m, threads");
    json_str(&j, "check", "if checked: max |y - y_scalar| / rms(y_scalar row) over the rows both computed (null: non-finite output)");
    json_str(&j, "packed_over_gguf", "packed bytes of the full N x K matrix (header included) / its GGUF bytes");
    json_str(&j, "pack_median_s", "seconds per amx_pack_weights of the full N x K matrix, median over pack_reps packs, first touch of the new memory included");
    json_str(&j, "bytes", "bytes");
    json_end(&j);

    json_obj(&j, "run");
    json_str(&j, "amxq_version", amx_version_str());
    json_arr(&j, "argv");
    for (int i = 0; i < argc; i++) json_str(&j, NULL, argv[i]);
    json_end(&j);
    char date[64];
    const time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_str(&j, "date_utc", date);
    json_bool(&j, "quick", o->quick);
    json_num(&j, "total_s", total);
    json_obj(&j, "phase_s");
    for (int i = 0; i < PH_N; i++) json_num(&j, k_phase_names[i], R.phase[i]);
    json_end(&j);
    json_policy(&j, "rep_policy", &o->pol);
    json_policy(&j, "scalar_rep_policy", &o->scalar_pol);
    json_num(&j, "scalar_ops_per_call", o->scalar_ops);
    json_int(&j, "decode_max_m", DECODE_MAX_M);
    json_obj(&j, "rounds");
    json_int(&j, "n", o->rounds);
    json_policy(&j, "turn_policy", &o->turn_pol);
    json_str(&j, "order", "rotating: round r starts with candidate r mod count");
    json_int(&j, "probe_ring_bytes", (int64_t)R.probe_bytes);
    json_str(&j, "probe", R.probe_bytes ? "AVX-512 loads, 8 vpaddd accumulators; each call reads the ring's next span of one packed matrix's bytes, each thread its contiguous 1/T, threads meeting at a barrier between calls" : NULL);
    json_str(&j, "pinning", "share i of every candidate (the calling thread = share 0, amxq's pool and oneDNN's OpenMP workers pinned by thread id after their first call, the probe's team) on the i-th CPU of the process's starting affinity mask");
    json_end(&j);
    json_obj(&j, "quiesce");
    json_str(&j, "what", "before every timed cell or turn: wait, polling /proc/self/task, until no other thread of the process is running");
    json_num(&j, "max_wait_allowed_s", QUIESCE_MAX_S);
    json_num(&j, "longest_wait_s", R.quiesce_max_s);
    json_int(&j, "cells_with_busy_threads", R.quiesce_busy);
    json_end(&j);
    json_obj(&j, "others");
    json_str(&j, "what", "fraction of the process's CPUs' time that other processes ran there (others_cpu) or the hypervisor gave to other guests (steal_cpu), from /proc/stat; per decode row in its 'rounds' too");
    json_num(&j, "others_cpu", R.others_cpu);
    json_num(&j, "steal_cpu", R.steal_cpu);
    json_end(&j);
    json_int(&j, "seed", (int64_t)o->seed);
    json_end(&j);

    json_obj(&j, "machine");
    json_str(&j, "cpu_model", cpu);
    json_str(&j, "cpu_report", amx_cpu_report());
    json_str(&j, "best_isa", amx_isa_name(amx_cpu_best_isa()));
    json_int(&j, "cpus", o->nproc);
    json_int(&j, "llc_bytes", (int64_t)llc->bytes);
    json_str(&j, "llc_source", llc->source);
    json_obj(&j, "llc_figures");
    json_int(&j, "sysfs_bytes", (int64_t)llc->sysfs);
    json_str(&j, "sysfs_shared_cpus", llc->sysfs ? llc->sysfs_shared : NULL);
    json_int(&j, "cpuid_cache_leaf_bytes", (int64_t)llc->cpuid);
    json_int(&j, "cpuid_cache_leaf_sharing", llc->cpuid_sharing);
    json_int(&j, "cpuid_0x80000006_bytes", (int64_t)llc->cpuid_legacy);
    json_int(&j, "sysconf_bytes", (int64_t)llc->sysconf_l3);
    json_str(&j, "note", llc->note[0] ? llc->note : NULL);
    json_end(&j);
    json_bool(&j, "hypervisor", llc->hypervisor);
    json_num(&j, "rotation_bytes", target);
    json_end(&j);

    json_obj(&j, "limits");
    json_bool(&j, "measured", R.n_limits > 0);
    json_str(&j, "why", R.limits_why[0] ? R.limits_why : NULL);
    json_limit_list(&j, "read_bandwidth", "vpdpbusd_zmm", R.bw, R.peak, R.n_limits);
    json_peak_list(&j, "vfmadd231ps_zmm", "vfmadd231ps zmm, independent chains per thread, 2*16 flops per instruction",
                   R.peak_fma, R.n_limits);
    json_peak_list(&j, "vdpbf16ps_zmm", "vdpbf16ps zmm, independent chains per thread, 2*32 flops per instruction",
                   R.peak_dpbf16, R.peak_dpbf16[0].reps ? R.n_limits : 0);
    json_peak_list(&j, "tdpbssd", "TDPBSSD 16x16x64 into 4 independent C tiles, 2*16384 ops per instruction",
                   R.peak_tdp, R.peak_tdp[0].reps ? R.n_limits : 0);
    json_peak_list(&j, "tileloadd_l1", "TILELOADD of 1 KiB tiles from L1; gops is GB/s",
                   R.tileload, R.tileload[0].reps ? R.n_limits : 0);
    json_limit_list(&j, "read_bandwidth_end", "vpdpbusd_zmm_end", R.bw_end, R.peak_end, R.n_limits_end);
    json_end(&j);

    json_obj(&j, "peers");
    json_obj(&j, "onednn");
    json_bool(&j, "enabled", o->peer_onednn);
    json_bool(&j, "available", R.onednn_ok);
    json_str(&j, "description", R.onednn_desc);
    json_str(&j, "what", "u8 activations x s8 weights (reordered once, outside timing) -> f32 with per-column scales; activation quantization not timed");
    json_end(&j);
    json_obj(&j, "openblas");
    json_bool(&j, "enabled", o->peer_openblas);
    json_bool(&j, "available", R.openblas_ok);
    json_str(&j, "description", R.openblas_desc);
    json_str(&j, "core", R.openblas_ok ? openblas_core() : NULL);
    json_str(&j, "env_OPENBLAS_CORETYPE", getenv("OPENBLAS_CORETYPE"));
    json_str(&j, "what", "cblas_sgemm row-major, C = A * W^T on the dequantized F32 weights of the shape's first type");
    json_end(&j);
    json_bool(&j, "scalar", o->peer_scalar);
    json_end(&j);

    json_arr(&j, "packs");
    for (size_t i = 0; i < R.np; i++) {
        const pack_rec *p = &R.p[i];
        json_obj(&j, NULL);
        json_str(&j, "variant", p->variant);
        json_str(&j, "isa", p->isa);
        json_str(&j, "layout", p->layout);
        json_str(&j, "type", amx_type_name(p->type));
        json_int(&j, "n", p->n);
        json_int(&j, "k", p->k);
        json_int(&j, "gguf_bytes", (int64_t)p->gguf_bytes);
        json_int(&j, "packed_bytes", (int64_t)p->packed_bytes);
        json_num(&j, "packed_over_gguf", (double)p->packed_bytes / (double)p->gguf_bytes);
        json_int(&j, "pack_threads", p->threads);
        json_int(&j, "pack_reps", p->reps);
        json_num(&j, "pack_median_s", p->median_s);
        json_num(&j, "pack_min_s", p->min_s);
        json_int(&j, "decode_copies", p->copies);
        json_num(&j, "weights_rms", p->rms);
        json_end(&j);
    }
    json_end(&j);

    json_arr(&j, "results");
    for (size_t i = 0; i < R.n; i++) {
        const result *r = &R.r[i];
        json_obj(&j, NULL);
        json_str(&j, "what", r->kind == R_AMXQ ? "amxq" : r->kind == R_ONEDNN ? "onednn" : "openblas");
        if (r->kind == R_AMXQ) json_str(&j, "role", r->primary ? "selected" : "scalar_comparison");
        json_str(&j, "variant", r->variant);
        json_str(&j, "kernel", r->kernel);
        json_str(&j, "isa", r->isa);
        json_str(&j, "type", r->kind == R_AMXQ ? amx_type_name(r->type) : NULL);
        json_int(&j, "n", r->n);
        json_int(&j, "k", r->k);
        json_int(&j, "n_measured", r->n_meas);
        json_int(&j, "m", r->m);
        json_int(&j, "threads", r->threads);
        json_timing(&j, &r->t);
        json_num(&j, "gops", r->gops);
        json_num(&j, "gbps", r->gbps);
        json_num(&j, "weight_bytes", r->weight_bytes);
        json_int(&j, "weight_copies", r->copies);
        if (r->pack >= 0) {
            const pack_rec *p = &R.p[r->pack];
            json_num(&j, "packed_over_gguf", (double)p->packed_bytes / (double)p->gguf_bytes);
            json_num(&j, "pack_median_s", p->median_s);
        }
        json_num(&j, "pct_peak", r->kind == R_OPENBLAS ? NAN : 100.0 * r->gops / limit_peak_of(r));
        json_num(&j, "pct_bw", pct_bw_of(r));
        if (r->kind == R_AMXQ && r->primary) {
            json_num(&j, "x_scalar", strcmp(r->isa, "scalar") ? ratio_to(r, R_AMXQ, 1) : NAN);
            json_num(&j, "x_onednn", x_onednn_of(r));
            json_num(&j, "x_openblas", ratio_to(r, R_OPENBLAS, 0));
        }
        if (r->kind == R_AMXQ) {
            json_bool(&j, "checked", r->checked);
            json_num(&j, "check", r->check);
        }
        if (r->rr.n) json_rounds(&j, r);
        json_end(&j);
    }
    json_end(&j);

    json_arr(&j, "not_run");
    for (size_t i = 0; i < R.ns; i++) {
        json_obj(&j, NULL);
        json_str(&j, "what", R.s[i].what);
        json_str(&j, "why", R.s[i].why);
        json_end(&j);
    }
    json_end(&j);

    size_t nf;
    const ref_figure *fig = bench_reference(&nf);
    json_obj(&j, "reference");
    json_str(&j, "note", bench_reference_note);
    json_arr(&j, "figures");
    for (size_t i = 0; i < nf; i++) {
        const result *r = best_amxq(fig[i].type, fig[i].n, fig[i].k, fig[i].m, fig[i].threads);
        json_obj(&j, NULL);
        json_str(&j, "source", fig[i].source);
        json_str(&j, "path", fig[i].variant);
        json_str(&j, "type", amx_type_name(fig[i].type));
        json_int(&j, "n", fig[i].n);
        json_int(&j, "k", fig[i].k);
        json_int(&j, "m", fig[i].m);
        json_int(&j, "threads", fig[i].threads);
        json_num(&j, "value", fig[i].value);
        json_str(&j, "unit", fig[i].unit);
        json_num(&j, "amxq_value", r ? ref_value(r, &fig[i]) : NAN);
        json_str(&j, "amxq_variant", r ? r->variant : NULL);
        json_num(&j, "amxq_over_ref", r ? ref_value(r, &fig[i]) / fig[i].value : NAN);
        json_end(&j);
    }
    json_end(&j);
    json_end(&j);
    json_end(&j);
    return json_close(&j);
}
