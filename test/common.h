/* Shared test helpers: random GGUF blocks, activations, the fp64 oracle with
 * an error bound derived from K and the scales, and canary-guarded outputs. */
#ifndef AMXQ_TEST_COMMON_H
#define AMXQ_TEST_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "amxq.h"
#include "../src/formats.h"

extern int g_failures;
extern int g_checks;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        g_checks++;                                                            \
        if (!(cond)) {                                                         \
            g_failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

/* Prints a summary; returns the process exit code. */
int test_finish(const char *name);

/* Deterministic xorshift RNG. */
void rng_seed(uint64_t s);
uint64_t rng_u64(void);
float rng_uniform(float lo, float hi);
float rng_normal(void);

/* All implemented types, from the library's own table. */
#define N_TYPES ((int)amx_type_count())
#define k_all_types_at(i) amx_type_at(i)

/* Scale ranges for generated blocks. */
typedef enum {
    GEN_NORMAL,   /* model-like: small positive scales, some negative */
    GEN_EXTREME,  /* fp16 scales near the top of the range, and tiny/subnormal ones */
} gen_mode;

size_t gguf_bytes(amx_type t, int64_t n, int64_t k);
/* Random but valid GGUF blocks for an n x k matrix. */
void gen_weights(amx_type t, int64_t n, int64_t k, uint8_t *out, gen_mode mode);
/* Activations: rows of varied magnitude, some rows with outliers. */
void gen_acts(int64_t m, int64_t k, int64_t ldx, float *x);

/* An output buffer m x ldy whose padding columns and a tail region hold
 * canary bytes that must survive the call. */
typedef struct {
    float *y;
    int64_t m, n, ldy;
    unsigned char *raw;
    size_t raw_len;
} guarded_out;
guarded_out guarded_alloc(int64_t m, int64_t n, int64_t ldy);
int guarded_intact(const guarded_out *g); /* 1 if every canary byte is intact */
void guarded_free(guarded_out *g);

/*
 * Compares y (m x n, row stride ldy) with the fp64 product of the decoded
 * weights and the decoded quantized activations (the library's reference
 * quantizer, so both sides see the same activation values). The allowed error
 * per output is gamma(depth) * (sum|w_k a_k| + 2 sum|mu_k a_k|) plus, for
 * Q4_1, the fp16 rounding of the activation block sums; mu_k is the "min"
 * part of the weight (Q4_1, Q4_K, Q5_K). `extra_depth` adds float operations
 * per element a kernel family performs beyond the reference's.
 * Returns the largest err/bound ratio seen (> 1 means failure).
 */
double oracle_check(amx_type t, int64_t m, int64_t n, int64_t k, const uint8_t *w, const float *x,
                    int64_t ldx, const float *y, int64_t ldy, int extra_depth, const char *what);

/* Runs check(v) on every row of the dispatch table this machine can run,
 * printing `what` after each, and says loudly which rows it cannot run. */
/* 0 where the library documents that a kernel family has no kernel for a
 * type (F16 on AMX: AMX-FP16 is not AMX-BF16), so forcing it is
 * AMX_ERR_UNSUPPORTED_TYPE; 1 elsewhere. */
static inline int family_has_type(amx_isa isa, amx_type t) { return !(isa == AMX_ISA_AMX && t == AMX_TYPE_F16); }

struct amxq_variant;
void for_each_runnable_variant(void (*check)(const struct amxq_variant *v), const char *what);

/* AMX region checks, in the builds where tiles run on the emulator (no-ops
 * returning "fine" elsewhere): tile_foreign_use() acts as if another library
 * had used the tiles on every thread (a kernel relying on a stale config
 * then aborts); tile_regions_closed() is 1 when no thread holds a tile
 * config, as after every AMX region; tile_tdp_count() is the TDPs all
 * threads issued in finished regions. */
void tile_foreign_use(void);
int tile_regions_closed(void);
uint64_t tile_tdp_count(void);
/* 1 where tile_tdp_count() counts (the emulator builds). */
int tile_counts_available(void);

/* Bitwise comparison of two m x n results. Returns number of mismatches. */
int64_t bitwise_diff(const float *a, const float *b, int64_t m, int64_t n, int64_t lda, int64_t ldb);

#endif
