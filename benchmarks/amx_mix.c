/*
 * amxq-amx-mix: the instruction mix of the AMX kernels, per weight type, on a
 * model shape, run on the tile emulator (linked with the library's `_emu`
 * build, so it works on any AVX-512 machine; amxq-bench times the real tiles
 * where the CPU has them).
 *
 * For each type it packs model-like weights for the AMX row, runs one
 * amx_gemm_q() on one thread and reports what the call issued:
 *   - MACs per TDP: useful (M*N*K / TDPs) and performed (the tile shapes'
 *     rows x cols x K, so the two-plane K-quant TDPs show 2x);
 *   - per 1,000 useful MACs: TDPs, tile loads, tile stores, TILEZERO,
 *     LDTILECFG;
 *   - per 16 x 16 output tile and K block (32 legacy, 256 K-quants): the
 *     AVX-512 instructions of the scale epilogue and of the weight unpack
 *     (amortized over the call's row blocks), counted by the kernels.
 * Next to each, the same figures for ggml's AMX scheme as tech_brief 1.5
 * describes it (2-2-4 tiles, 16 x 16 x 32 TDPs, C stored every 32-K block, or
 * every sub-block for K-quants, sums in memory, B unpacked per 32-row
 * block): a model computed from that description, not a run.
 *
 * Under both, a timing model (amx_model.h) turns each mix into GOPS on one
 * core of the AMX machines measured so far, as a serial and an overlapped
 * bound, so designs can be compared where there are no tiles; only the
 * hardware's figures count.
 *
 * The measured tile counts are also checked against the kernels' design
 * (exit status 1 on a mismatch) when the shape has no M or N tail.
 *
 *   amxq-amx-mix [--shape MxNxK] [--types Q4_0,...] [--json FILE]
 *
 * The types: every type of the library's table that has an AMX row in the
 * dispatch table, or those --types names.
 *
 * Exit status 77 where the emulator build cannot run (it needs AVX-512).
 */
#include <stdlib.h>
#include <string.h>

#include "amxq.h"
#include "amx_model.h"
#include "bench.h"
#include "../src/dispatch.h"
#include "../src/tiles/amx_rows.h"
#include "../src/tiles/tile_emu.h"

typedef struct {
    double tdp, loads, stores, zero, cfg;  /* per 1,000 useful MACs */
    double useful_per_tdp, hw_per_tdp;
    double epi_alu, epi_mem, unpack_alu, unpack_mem; /* per 16x16 tile and K block */
} mix;

static int is_legacy(amx_type t) { return amx_type_block_size(t) == 32; }

/* ggml's AMX kernels (tech_brief 1.5 and 1.8b), per 16 x 16 output tile
 * and K block, with 2-2-4 tiling (a 32 x 32 block shares each A and B tile
 * load between two TDPs). Legacy: per 32-K block 1 TDP of 16x16x32, 1 tile
 * load, 1 store, 1 TILEZERO; epilogue per output row: load C, convert,
 * d_w * d_a, load y, FMA, store y (+1 FMA for Q4_1's m * s); B unpacked
 * again for every 32-row block (Q4: ~5 ops per 64-byte line, 4 lines per
 * tile, shared by 2 row tiles; Q8_0 loads B as packed). K-quants: per
 * sub-block (S = 8 per superblock, 16 for Q6_K whose 16-K sub-blocks fill
 * half the A tile) 1 TDP, 1 load, 1 store, 1 TILEZERO, per row load C,
 * vpmulld, add into an int32 sum kept in memory (load, store), then per
 * superblock and row convert, scale, FMA (+ the mins: 4 vpdpwssd, convert,
 * multiply, subtract); A rows copied into a scratch tile per sub-block (16
 * loads + 16 stores per A tile, shared by 2 column tiles), B unpacked per
 * sub-block and 32-row block (~3 ops per line for Q4_K, 6 Q5_K, 7 Q6_K,
 * 4 IQ4_XS; 8 lines of 32 K, shared by 2 row tiles). ggml has no AMX
 * kernel for Q5_0, Q5_1 or IQ4_NL (tech_brief 1.7): for them the model is
 * its Q4 scheme, Q5_1 with Q4_1's min term, and Q5's unpack at ~8 ops per
 * line (the fifth bit merged, as Q5_K's 6 against Q4_K's 3). Nor for Q2_K
 * and Q3_K: the model is the K-quant scheme with 16-K sub-blocks as Q6_K's,
 * Q2_K with the mins, ~3 ops per line (field shift, AND) and Q3_K ~6 (the
 * third bit merged). */
static mix ggml_model(amx_type t) {
    mix g = {0};
    if (is_legacy(t)) {
        const int has_min = t == AMX_TYPE_Q4_1 || t == AMX_TYPE_Q5_1, q5 = t == AMX_TYPE_Q5_0 || t == AMX_TYPE_Q5_1;
        g.useful_per_tdp = g.hw_per_tdp = 16 * 16 * 32;
        g.tdp = g.loads = g.stores = g.zero = 1000.0 / g.useful_per_tdp;
        g.epi_alu = 16 * (has_min ? 4 : 3);
        g.epi_mem = 16 * (has_min ? 5 : 4);
        g.unpack_alu = t == AMX_TYPE_Q8_0 ? 0 : 4 * (q5 ? 8 : 5) / 2.0;
        g.unpack_mem = t == AMX_TYPE_Q8_0 ? 0 : (4 + 8) / 2.0;
    } else {
        const int q6 = t == AMX_TYPE_Q6_K, q2 = t == AMX_TYPE_Q2_K, q3 = t == AMX_TYPE_Q3_K;
        const int mins = t == AMX_TYPE_Q4_K || t == AMX_TYPE_Q5_K || q2;
        const double s = q6 || q2 || q3 ? 16 : 8;
        const double per_line = t == AMX_TYPE_Q4_K || q2 ? 3 : t == AMX_TYPE_Q5_K || q3 ? 6 : q6 ? 7 : 4;
        g.hw_per_tdp = 16 * 16 * 32;
        g.useful_per_tdp = 16 * 16 * (256 / s);
        g.tdp = g.loads = g.stores = g.zero = 1000.0 / g.useful_per_tdp;
        g.epi_alu = 16 * (2 * s + (mins ? 8 : 3));
        g.epi_mem = 16 * (3 * s + (mins ? 7 : 3)) + 16 * s;
        g.unpack_alu = s * 8 * per_line / 2;
        g.unpack_mem = s * (8 + 8) / 2;
    }
    return g;
}

/* What the kernels are designed to issue for a shape without tails:
 * TDPs, tile loads, tile stores. */
static void design(amx_type t, int64_t m, int64_t n, int64_t k, uint64_t *tdp, uint64_t *loads, uint64_t *stores) {
    if (is_legacy(t)) {
        *tdp = (uint64_t)(m / 16) * (uint64_t)(n / 16) * (uint64_t)(k / 32); /* 16x16x32 per block */
        *loads = 2 * *tdp;                                                     /* A and B */
        *stores = *tdp;                                                        /* C per block */
    } else if (t == AMX_TYPE_Q2_K) {
        /* one plane (sc * q <= 45, amx_kquants.c) */
        *tdp = (uint64_t)(m / 32) * (uint64_t)(n / 16) * (uint64_t)(k / 64) * 2; /* 2 A x 1 plane per 64 K */
        *loads = *tdp / 2 * 3;                                                    /* 2 A + 1 B per 2 TDPs */
        *stores = *tdp / 4;                                                       /* 2 C per superblock */
    } else {
        *tdp = (uint64_t)(m / 32) * (uint64_t)(n / 16) * (uint64_t)(k / 64) * 4; /* 2 A x 2 planes per 64 K */
        *loads = *tdp;                                                            /* 2 A + 2 B per 4 TDPs */
        *stores = *tdp / 4;                                                       /* 4 C per superblock */
    }
}

static int parse_shape(const char *s, int64_t *m, int64_t *n, int64_t *k) {
    long long a, b, c;
    char tail;
    if (sscanf(s, "%lldx%lldx%lld%c", &a, &b, &c, &tail) != 3 || a < 1 || b < 1 || c < 256 || c % 256) return 0;
    *m = a, *n = b, *k = c;
    return 1;
}

static void json_mix(json_w *j, const char *key, const mix *x) {
    json_obj(j, key);
    json_num(j, "useful_macs_per_tdp", x->useful_per_tdp);
    json_num(j, "performed_macs_per_tdp", x->hw_per_tdp);
    json_obj(j, "per_1000_useful_macs");
    json_num(j, "tdp", x->tdp);
    json_num(j, "tile_loads", x->loads);
    json_num(j, "tile_stores", x->stores);
    json_num(j, "tilezero", x->zero);
    json_num(j, "ldtilecfg", x->cfg);
    json_end(j);
    json_obj(j, "per_tile_and_k_block");
    json_num(j, "epilogue_vector_alu", x->epi_alu);
    json_num(j, "epilogue_vector_mem", x->epi_mem);
    json_num(j, "unpack_vector_alu", x->unpack_alu);
    json_num(j, "unpack_vector_mem", x->unpack_mem);
    json_end(j);
    json_end(j);
}

static void print_mix(const char *who, const mix *x) {
    printf("  %-13s %7.0f %7.0f   %6.3f %6.3f %6.3f %6.3f %7.4f   %7.1f %7.1f %8.1f %7.1f\n", who, x->useful_per_tdp,
           x->hw_per_tdp, x->tdp, x->loads, x->stores, x->zero, x->cfg, x->epi_alu, x->epi_mem, x->unpack_alu,
           x->unpack_mem);
}

static amx_prediction predict(const amx_machine *mc, const mix *x, amx_type t) {
    const double block_macs = 16.0 * 16.0 * (is_legacy(t) ? 32 : 256);
    return amx_predict(mc, x->tdp, x->loads, x->stores, x->zero, x->cfg,
                       x->epi_alu + x->epi_mem + x->unpack_alu + x->unpack_mem, block_macs);
}

/* The model's GOPS on each calibrated machine: serial - overlapped. */
static void print_model(const mix *me, const mix *gg, amx_type t) {
    printf("  model GOPS, 1 core (serial - overlapped):");
    for (const amx_machine *mc = amx_machines; mc->name; mc++) {
        const amx_prediction a = predict(mc, me, t), g = predict(mc, gg, t);
        printf("  %s amxq %.0f-%.0f, ggml %.0f-%.0f;", mc->name, a.serial_gops, a.overlap_gops, g.serial_gops,
               g.overlap_gops);
    }
    putchar('\n');
}

static void json_model(json_w *j, const char *key, const mix *x, amx_type t) {
    json_obj(j, key);
    for (const amx_machine *mc = amx_machines; mc->name; mc++) {
        const amx_prediction p = predict(mc, x, t);
        json_obj(j, mc->name);
        json_num(j, "tile_ns_per_1000_macs", p.tile_ns);
        json_num(j, "vector_ns_per_1000_macs", p.vector_ns);
        json_num(j, "serial_gops", p.serial_gops);
        json_num(j, "overlapped_gops", p.overlap_gops);
        json_end(j);
    }
    json_end(j);
}

int main(int argc, char **argv) {
    int64_t m = 512, n = 4096, k = 4096;
    const char *json_path = NULL;
    type_list types = {.n = 0};
    int types_given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape") && i + 1 < argc && parse_shape(argv[i + 1], &m, &n, &k)) i++;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(argv[i], "--types") && i + 1 < argc) {
            types.n = 0;
            types_given = 1;
            if (!bench_each_item("amxq-amx-mix", argv[++i], bench_add_type, &types)) return 2;
        } else {
            fprintf(stderr,
                    "usage: amxq-amx-mix [--shape MxNxK] [--types Q4_0,Q4_K,...] [--json FILE]\n"
                    "  the AMX kernels' instruction mix on the tile emulator (default shape 512x4096x4096,\n"
                    "  K a multiple of 256); exit status 1 if a count differs from the kernels' design\n");
            return 2;
        }
    }
    const char *why;
    if (!amx_cpu_supports(AMX_ISA_AMX, &why)) {
        printf("amxq-amx-mix: the AMX rows cannot run here: %s\n", why);
        return 77;
    }
    if (!types_given) bench_add_type("all", &types);
    json_w j;
    const int jf = json_path != NULL;
    if (jf && !json_open(&j, json_path, "amxq-amx-mix")) return 1;
    if (jf) {
        json_obj(&j, NULL);
        json_str(&j, "source", "tile emulator (instruction counts), and a timing model of them (amx_model.h)");
        json_obj(&j, "shape");
        json_int(&j, "m", m);
        json_int(&j, "n", n);
        json_int(&j, "k", k);
        json_end(&j);
        json_int(&j, "threads", 1);
        json_arr(&j, "types");
    }
    printf("AMX instruction mix on the tile emulator: M=%lld N=%lld K=%lld, 1 thread\n", (long long)m, (long long)n,
           (long long)k);
    printf("  (ggml: a model of its scheme from tech_brief 1.5, not a run)\n");
    for (const amx_machine *mc = amx_machines; mc->name; mc++) printf("  timing model %s: %s\n", mc->name, mc->what);
    printf("  (the model's GOPS are a guide for comparing designs without tiles; only hardware figures count)\n");
    printf("  %-13s %-15s   %-35s   %s\n", "", "MACs per TDP", "per 1000 useful MACs",
           "vector ops per 16x16 tile and K block");
    printf("  %-13s %7s %7s   %6s %6s %6s %6s %7s   %7s %7s %8s %7s\n", "", "useful", "done", "TDP", "loads",
           "stores", "zero", "cfg", "epi alu", "epi mem", "unp alu", "unp mem");
    int bad = 0;
    float *x = malloc((size_t)(m * k) * sizeof(float)), *y = malloc((size_t)(m * n) * sizeof(float));
    if (!x || !y) {
        fprintf(stderr, "amxq-amx-mix: out of memory\n");
        return 1;
    }
    bench_gen_acts((size_t)(m * k), 7, x);
    for (int ti = 0; ti < types.n; ti++) {
        const amx_type t = types.t[ti];
        /* only the types with tile kernels; named ones say why they are left out */
        if (!amxq_find_variant(t, AMX_ISA_AMX)) {
            if (types_given) printf("%s: the dispatch table has no AMX row for it\n", amx_type_name(t));
            continue;
        }
        if (amx_type_block_size(t) == 1) {
            /* BF16's tile kernel has no integer TDP, scale epilogue or unpack
             * to count, and ggml no AMX BF16 kernel to model */
            if (types_given) printf("%s: a float type, outside this int8 instruction-mix model\n", amx_type_name(t));
            continue;
        }
        const size_t bytes = bench_gguf_bytes(t, n, k);
        uint8_t *w = malloc(bytes);
        if (!w) {
            fprintf(stderr, "amxq-amx-mix: out of memory\n");
            return 1;
        }
        if (!bench_gen_weights(t, n, k, 7, w)) {
            printf("%s: gen_weights.c has no generator for it yet\n", amx_type_name(t));
            free(w);
            continue;
        }
        amx_weights *h = NULL;
        const amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_AMX, .n_threads = 2};
        amx_status st = amx_pack_weights(t, n, k, w, bytes, &po, &h);
        free(w);
        if (st != AMX_OK) {
            printf("  %s: pack failed: %s\n", amx_type_name(t), amx_status_str(st));
            bad = 1;
            continue;
        }
        amxq_tile_emu_counts_all_reset();
        amxq_amx_op_counts_all_reset();
        const amx_gemm_opts go = {.size = sizeof go, .n_threads = 1, .amx_min_m = 1}; /* tiles for any M */
        const double t0 = bench_now();
        st = amx_gemm_q(h, m, x, k, y, n, &go);
        const double secs = bench_now() - t0;
        amxq_tile_counts c;
        amx_op_counts o;
        amxq_tile_emu_counts_all(&c);
        amxq_amx_op_counts_all(&o);
        if (st != AMX_OK || !c.tdpb_int8 || !o.tile_blocks) {
            printf("  %s: no tile work (%s)\n", amx_type_name(t), amx_status_str(st));
            bad = 1;
            amx_weights_free(h);
            continue;
        }
        const double useful = (double)m * (double)n * (double)k, per = 1000.0 / useful;
        const mix me = {
            .tdp = (double)c.tdpb_int8 * per,
            .loads = (double)c.tileloadd * per,
            .stores = (double)c.tilestored * per,
            .zero = (double)c.tilezero * per,
            .cfg = (double)c.ldtilecfg * per,
            .useful_per_tdp = useful / (double)c.tdpb_int8,
            .hw_per_tdp = (double)c.macs / (double)c.tdpb_int8,
            .epi_alu = (double)o.epi_alu / (double)o.tile_blocks,
            .epi_mem = (double)o.epi_mem / (double)o.tile_blocks,
            .unpack_alu = (double)o.unpack_alu / (double)o.tile_blocks,
            .unpack_mem = (double)o.unpack_mem / (double)o.tile_blocks,
        };
        const mix gg = ggml_model(t);
        /* the tile kernel's name (the handle names its VNNI kernel below the threshold) */
        amx_weights_info info = {.size = sizeof info};
        amx_weights_query(h, &info);
        const char *kname = amx_weights_kernel(h, m > info.amx_min_m ? m : info.amx_min_m);
        printf("%s  %s (%.1f s on the emulator)\n", amx_type_name(t), kname, secs);
        print_mix("amxq", &me);
        print_mix("ggml (model)", &gg);
        print_model(&me, &gg, t);
        if (m % 32 == 0 && n % 16 == 0) {
            uint64_t dt, dl, ds;
            design(t, m, n, k, &dt, &dl, &ds);
            if (c.tdpb_int8 != dt || c.tileloadd != dl || c.tilestored != ds) {
                printf("  MISMATCH with the design: %llu TDP, %llu loads, %llu stores; expected %llu, %llu, %llu\n",
                       (unsigned long long)c.tdpb_int8, (unsigned long long)c.tileloadd,
                       (unsigned long long)c.tilestored, (unsigned long long)dt, (unsigned long long)dl,
                       (unsigned long long)ds);
                bad = 1;
            }
        }
        if (jf) {
            json_obj(&j, NULL);
            json_str(&j, "type", amx_type_name(t));
            json_str(&j, "kernel", kname);
            json_int(&j, "k_block", is_legacy(t) ? 32 : 256);
            json_int(&j, "tdp", (int64_t)c.tdpb_int8);
            json_int(&j, "panel_unpacks", (int64_t)o.unpacks);
            json_mix(&j, "amxq", &me);
            json_model(&j, "amxq_timing_model", &me, t);
            json_mix(&j, "ggml_model", &gg);
            json_model(&j, "ggml_timing_model", &gg, t);
            json_end(&j);
        }
        amx_weights_free(h);
    }
    if (jf) {
        json_end(&j);
        json_end(&j);
        if (!json_close(&j)) bad = 1;
    }
    free(x);
    free(y);
    return bad;
}
