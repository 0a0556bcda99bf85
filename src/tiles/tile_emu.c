/*
 * The AMX tile emulator (test builds only; see tile_emu.h).
 *
 * State per thread (_Thread_local): tmm0..tmm7 as 16 x 64 bytes, the palette-1
 * shape of each, whether a palette-1 config is loaded, and the instruction
 * counts. The semantics follow Intel's instruction reference pseudocode:
 *   LDTILECFG: palette 0 returns to the init state (nothing else is checked);
 *     palette 1 is validated (reserved bytes 0, rows <= 16, colsb <= 64,
 *     entries for tiles 8..15 zero, a tile's rows and colsb both zero or both
 *     non-zero) and then zeroes all tile data; anything else is #GP.
 *     Stricter than hardware, on purpose: start_row must be 0 (hardware would
 *     silently resume the next load/store at that row).
 *   TILELOADD/TILESTORED/TILEZERO: #UD when tiles are not configured or the
 *     tile is; TILELOADD(T1) and TILESTORED also when the tile's colsb is not
 *     a multiple of 4 (the reference's pseudo-code does not say so; measured
 *     on an Emerald Rapids, family 6 model 207: every colsb 1..63 not a
 *     multiple of 4 faults, at rows 1, 3 and 16, and TILEZERO never does);
 *     loads zero the bytes beyond colsb and the rows beyond rows; stores write
 *     exactly rows x colsb bytes.
 *   TDP*: #UD when not configured, C/A/B not distinct or unconfigured, a
 *     colsb not a multiple of 4, colsb(C) != colsb(B), rows(C) != rows(A),
 *     colsb(A)/4 != rows(B); int32 sums wrap; C beyond its shape is zeroed.
 *   TDPBF16PS (an approximate model: real AMX rounds differently in about
 *     half of random cases and no exact model is known): per (m, k, n) the
 *     even and odd bf16 products are formed in fp32, summed, and added to C,
 *     each step rounded to nearest even, bf16 and C denormals read as zero,
 *     denormal results flushed to zero, MXCSR neither used nor changed. NaN
 *     payloads are not modeled (a NaN stays a NaN).
 *
 * Speed: a TDP* first widens B into 32-bit lanes [k][i][n] (at most 4 KiB),
 * then each row of C is 16 lanes of multiply-add per (k, i) step, which the
 * compiler vectorizes: a full 16 x 16 x 64 TDPBSSD is 1,024 16-lane steps,
 * about a microsecond, so kernel tests on model-sized shapes stay practical.
 */
/* (GCC spells the feature macro __AMX_TILE__, clang __AMXTILE__) */
#if !defined(AMXQ_TILE_EMULATOR) && !defined(__AMX_TILE__) && !defined(__AMXTILE__)
#error "src/tiles is compiled with amx_args, or with AMXQ_TILE_EMULATOR in the test builds"
#endif

#if !defined(AMXQ_TILE_EMULATOR)
/* Normal build: the kernels issue real tile instructions; no emulator. */
typedef int amxq_tile_emu_not_built;
#else

#include "tile_emu.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xmmintrin.h>

enum { NT = 8, ROWS = 16, COLSB = 64 };

typedef struct {
    _Alignas(64) uint8_t tile[NT][ROWS][COLSB];
    uint8_t rows[NT];
    uint16_t colsb[NT];
    int configured;           /* a palette-1 config is loaded */
    uint64_t epoch;           /* g_epoch at this thread's last LDTILECFG / TILERELEASE */
    amxq_tile_counts n;       /* since the thread's last counts reset */
    amxq_tile_counts flushed; /* the part of n already added to g_total */
} emu_state;

static _Thread_local emu_state s;

static atomic_uint_fast64_t g_epoch;  /* bumped by simulate_foreign_use */
static atomic_int g_configured;       /* threads holding a config */
#define N_COUNTS (sizeof(amxq_tile_counts) / sizeof(uint64_t))
static atomic_uint_fast64_t g_total[N_COUNTS];

typedef enum {
    OP_LDTILECFG, OP_TILELOADD, OP_TILELOADDT1, OP_TILESTORED, OP_TILEZERO,
    OP_TDPBSSD, OP_TDPBSUD, OP_TDPBUSD, OP_TDPBUUD, OP_TDPBF16PS,
} op_kind;
static const char *const k_op_name[] = {
    "LDTILECFG", "TILELOADD", "TILELOADDT1", "TILESTORED", "TILEZERO",
    "TDPBSSD", "TDPBSUD", "TDPBUSD", "TDPBUUD", "TDPBF16PS",
};

/* ---------------------------------------------------------------- faults */

static void describe_config(char *buf, size_t len) {
    if (!s.configured) {
        snprintf(buf, len, "none (init state)");
        return;
    }
    size_t used = (size_t)snprintf(buf, len, "palette 1:");
    for (int t = 0; t < NT && used < len; t++) {
        if (s.rows[t])
            used += (size_t)snprintf(buf + used, len - used, " tmm%d=%ux%u", t, s.rows[t], s.colsb[t]);
        else
            used += (size_t)snprintf(buf + used, len - used, " tmm%d=unused", t);
    }
}

/* Prints "amxq tile emulator: <insn> faults (<exception>): <rule>" and the
 * thread's config, then aborts. Tiles < 0 are not part of the instruction. */
static _Noreturn __attribute__((format(printf, 6, 7))) void
fault(op_kind op, int c, int a, int b, const char *exception, const char *fmt, ...) {
    char insn[64], rule[512], cfg[256];
    if (op >= OP_TDPBSSD)
        snprintf(insn, sizeof insn, "%s tmm%d, tmm%d, tmm%d", k_op_name[op], c, a, b);
    else if (c >= 0)
        snprintf(insn, sizeof insn, "%s tmm%d", k_op_name[op], c);
    else
        snprintf(insn, sizeof insn, "%s", k_op_name[op]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof rule, fmt, ap);
    va_end(ap);
    describe_config(cfg, sizeof cfg);
    fprintf(stderr, "amxq tile emulator: %s faults (%s): %s\n  thread's tile config: %s\n", insn,
            exception, rule, cfg);
    fflush(stderr);
    abort();
}

/* What every instruction that uses tiles checks first. */
static void check_configured(op_kind op, int c, int a, int b) {
    if (!s.configured)
        fault(op, c, a, b, "#UD",
              "tiles are not configured (no LDTILECFG on this thread, or TILERELEASE / palette 0 "
              "since)");
    if (s.epoch != atomic_load_explicit(&g_epoch, memory_order_relaxed))
        fault(op, c, a, b, "emulator check",
              "no LDTILECFG on this thread since another AMX user may have changed its tile "
              "state: load the config at the start of every AMX region, never rely on a "
              "thread-local \"already configured\" flag");
}

static void check_tile(op_kind op, int c, int a, int b, int t, const char *role) {
    if (t < 0 || t >= NT)
        fault(op, c, a, b, "#UD", "tile number %d%s out of range: palette 1 has tmm0..tmm7", t, role);
    if (!s.rows[t])
        fault(op, c, a, b, "#UD", "tmm%d%s is not configured (rows = colsb = 0 in the loaded config)",
              t, role);
}

/* ------------------------------------------------------- counts and state */

static void flush_counts(void) {
    const uint64_t *n = (const uint64_t *)&s.n, *f = (const uint64_t *)&s.flushed;
    for (size_t i = 0; i < N_COUNTS; i++)
        if (n[i] != f[i]) atomic_fetch_add_explicit(&g_total[i], n[i] - f[i], memory_order_relaxed);
    s.flushed = s.n;
}

static void to_init_state(void) {
    memset(s.tile, 0, sizeof s.tile);
    memset(s.rows, 0, sizeof s.rows);
    memset(s.colsb, 0, sizeof s.colsb);
    if (s.configured) atomic_fetch_sub_explicit(&g_configured, 1, memory_order_relaxed);
    s.configured = 0;
    flush_counts();
}

void amxq_tile_emu_counts(amxq_tile_counts *out) { *out = s.n; }

void amxq_tile_emu_counts_reset(void) {
    memset(&s.n, 0, sizeof s.n);
    memset(&s.flushed, 0, sizeof s.flushed);
}

void amxq_tile_emu_counts_all(amxq_tile_counts *out) {
    uint64_t v[N_COUNTS];
    for (size_t i = 0; i < N_COUNTS; i++) v[i] = atomic_load_explicit(&g_total[i], memory_order_relaxed);
    memcpy(out, v, sizeof *out);
}

void amxq_tile_emu_counts_all_reset(void) {
    for (size_t i = 0; i < N_COUNTS; i++) atomic_store_explicit(&g_total[i], 0, memory_order_relaxed);
}

const char *amxq_tile_emu_mix(const amxq_tile_counts *c, char *buf, size_t len) {
    if (!c->macs) {
        snprintf(buf, len, "no MACs (%llu tile loads, %llu stores)", (unsigned long long)c->tileloadd,
                 (unsigned long long)c->tilestored);
        return buf;
    }
    const double per = 1000.0 / (double)c->macs;
    const uint64_t tdp = c->tdpb_int8 + c->tdpbf16ps;
    snprintf(buf, len,
             "per 1000 MACs: %.3f tile loads, %.3f tile stores, %.3f TDP (%.0f MACs each), "
             "%.3f TILEZERO, %.4f LDTILECFG",
             (double)c->tileloadd * per, (double)c->tilestored * per, (double)tdp * per,
             tdp ? (double)c->macs / (double)tdp : 0.0, (double)c->tilezero * per,
             (double)c->ldtilecfg * per);
    return buf;
}

void amxq_tile_emu_peek(int t, uint8_t out[16 * 64]) { memcpy(out, s.tile[t & 7], sizeof s.tile[0]); }
void amxq_tile_emu_poke(int t, const uint8_t in[16 * 64]) { memcpy(s.tile[t & 7], in, sizeof s.tile[0]); }

void amxq_tile_emu_simulate_foreign_use(void) {
    atomic_fetch_add_explicit(&g_epoch, 1, memory_order_relaxed);
}

int amxq_tile_emu_threads_configured(void) {
    return atomic_load_explicit(&g_configured, memory_order_relaxed);
}

/* ------------------------------------------------------- configuration */

void amxq_tile_emu_ldtilecfg(const void *cfg) {
    uint8_t b[64];
    memcpy(b, cfg, sizeof b);
    s.n.ldtilecfg++;
    s.epoch = atomic_load_explicit(&g_epoch, memory_order_relaxed);
    if (b[0] == 0) { /* palette 0: the init state; the other bytes are not read */
        to_init_state();
        return;
    }
    if (b[0] > 1)
        fault(OP_LDTILECFG, -1, -1, -1, "#GP", "palette_id = %u: the maximum palette is 1", b[0]);
    if (b[1])
        fault(OP_LDTILECFG, -1, -1, -1, "emulator check",
              "start_row = %u must be 0 (hardware would start the next TILELOADD/TILESTORED at row %u)",
              b[1], b[1]);
    for (int i = 2; i < 16; i++)
        if (b[i])
            fault(OP_LDTILECFG, -1, -1, -1, "#GP", "reserved byte %d = 0x%02x must be 0", i, b[i]);
    uint16_t colsb[16];
    for (int t = 0; t < 16; t++) {
        colsb[t] = (uint16_t)(b[16 + 2 * t] | (b[17 + 2 * t] << 8));
        if (t >= NT && colsb[t])
            fault(OP_LDTILECFG, -1, -1, -1, "#GP",
                  "colsb entry of tile %d = %u must be 0: palette 1 has tmm0..tmm7", t, colsb[t]);
        if (colsb[t] > COLSB)
            fault(OP_LDTILECFG, -1, -1, -1, "#GP", "tmm%d: colsb = %u > 64 bytes per row", t, colsb[t]);
    }
    for (int t = 0; t < 16; t++) {
        const uint8_t r = b[48 + t];
        if (t >= NT && r)
            fault(OP_LDTILECFG, -1, -1, -1, "#GP",
                  "rows entry of tile %d = %u must be 0: palette 1 has tmm0..tmm7", t, r);
        if (r > ROWS) fault(OP_LDTILECFG, -1, -1, -1, "#GP", "tmm%d: rows = %u > 16", t, r);
        if (t < NT && (r == 0) != (colsb[t] == 0))
            fault(OP_LDTILECFG, -1, -1, -1, "#GP",
                  "tmm%d: rows = %u, colsb = %u: both must be 0 (unused) or both non-zero", t, r,
                  colsb[t]);
    }
    for (int t = 0; t < NT; t++) {
        s.rows[t] = b[48 + t];
        s.colsb[t] = colsb[t];
    }
    memset(s.tile, 0, sizeof s.tile);
    if (!s.configured) atomic_fetch_add_explicit(&g_configured, 1, memory_order_relaxed);
    s.configured = 1;
}

void amxq_tile_emu_sttilecfg(void *cfg) {
    uint8_t b[64] = {0};
    if (s.configured) {
        b[0] = 1;
        for (int t = 0; t < NT; t++) {
            b[16 + 2 * t] = (uint8_t)s.colsb[t];
            b[17 + 2 * t] = (uint8_t)(s.colsb[t] >> 8);
            b[48 + t] = s.rows[t];
        }
    }
    memcpy(cfg, b, sizeof b);
}

void amxq_tile_emu_tilerelease(void) {
    s.n.tilerelease++;
    s.epoch = atomic_load_explicit(&g_epoch, memory_order_relaxed);
    to_init_state();
}

/* ------------------------------------------------------ memory operations */

/* Loads and stores move whole dwords: real tiles raise #UD for any other
 * colsb (TILEZERO does not). */
static void check_dword_rows(op_kind op, int t) {
    if (s.colsb[t] % 4)
        fault(op, t, -1, -1, "#UD", "colsb(tmm%d) = %u is not a multiple of 4 (loads and stores move dwords)", t,
              s.colsb[t]);
}

static void tile_load(op_kind op, int t, const void *base, ptrdiff_t stride) {
    check_configured(op, t, -1, -1);
    check_tile(op, t, -1, -1, t, "");
    check_dword_rows(op, t);
    const unsigned rows = s.rows[t], colsb = s.colsb[t];
    const uint8_t *src = base;
    for (unsigned r = 0; r < rows; r++) {
        memcpy(s.tile[t][r], src + (ptrdiff_t)r * stride, colsb);
        memset(s.tile[t][r] + colsb, 0, COLSB - colsb);
    }
    if (rows < ROWS) memset((uint8_t *)s.tile[t] + rows * COLSB, 0, (ROWS - rows) * COLSB);
    s.n.tileloadd++;
}

void amxq_tile_emu_tileloadd(int t, const void *base, ptrdiff_t stride) {
    tile_load(OP_TILELOADD, t, base, stride);
}

void amxq_tile_emu_tileloaddt1(int t, const void *base, ptrdiff_t stride) {
    tile_load(OP_TILELOADDT1, t, base, stride);
    s.n.tileloaddt1++;
}

void amxq_tile_emu_tilestored(int t, void *base, ptrdiff_t stride) {
    check_configured(OP_TILESTORED, t, -1, -1);
    check_tile(OP_TILESTORED, t, -1, -1, t, "");
    check_dword_rows(OP_TILESTORED, t);
    uint8_t *dst = base;
    for (unsigned r = 0; r < s.rows[t]; r++) memcpy(dst + (ptrdiff_t)r * stride, s.tile[t][r], s.colsb[t]);
    s.n.tilestored++;
}

void amxq_tile_emu_tilezero(int t) {
    check_configured(OP_TILEZERO, t, -1, -1);
    check_tile(OP_TILEZERO, t, -1, -1, t, "");
    memset(s.tile[t], 0, sizeof s.tile[t]);
    s.n.tilezero++;
}

/* ------------------------------------------------------------ dot products */

/* The shape rules shared by all TDP*; returns nothing, faults on violation. */
static void check_dp(op_kind op, int c, int a, int b) {
    check_configured(op, c, a, b);
    if (c == a || c == b || a == b)
        fault(op, c, a, b, "#UD", "C, A and B must be three different tiles");
    check_tile(op, c, a, b, c, " (C)");
    check_tile(op, c, a, b, a, " (A)");
    check_tile(op, c, a, b, b, " (B)");
    const char *role[3] = {"C", "A", "B"};
    const int tt[3] = {c, a, b};
    for (int i = 0; i < 3; i++)
        if (s.colsb[tt[i]] % 4)
            fault(op, c, a, b, "#UD", "colsb(%s) = colsb(tmm%d) = %u is not a multiple of 4", role[i],
                  tt[i], s.colsb[tt[i]]);
    if (s.colsb[c] != s.colsb[b])
        fault(op, c, a, b, "#UD", "colsb(C) = %u != colsb(B) = %u (C and B must have the same N)",
              s.colsb[c], s.colsb[b]);
    if (s.rows[c] != s.rows[a])
        fault(op, c, a, b, "#UD", "rows(C) = %u != rows(A) = %u (C and A must have the same M)",
              s.rows[c], s.rows[a]);
    if (s.colsb[a] / 4 != s.rows[b])
        fault(op, c, a, b, "#UD", "colsb(A)/4 = %u != rows(B) = %u (A's K bytes / 4 must be B's rows)",
              s.colsb[a] / 4u, s.rows[b]);
}

/* write_row_and_zero for rows >= rows(C): the bytes of C beyond its shape. */
static void zero_c_beyond(int c) {
    const unsigned rows = s.rows[c], colsb = s.colsb[c];
    for (unsigned r = 0; r < rows; r++) memset(s.tile[c][r] + colsb, 0, COLSB - colsb);
    if (rows < ROWS) memset((uint8_t *)s.tile[c] + rows * COLSB, 0, (ROWS - rows) * COLSB);
}

static inline int32_t ext8(uint8_t v, int is_signed) { return is_signed ? (int32_t)(int8_t)v : (int32_t)v; }

/* C.dword[m][n] += sum_i ext(A[m].byte[4k+i]) * ext(B[k].byte[4n+i]), mod 2^32.
 * Inlined per signedness so the inner 16-lane loop has no branches. */
static inline __attribute__((always_inline)) void dp_int8(op_kind op, int c, int a, int b,
                                                          int a_signed, int b_signed) {
    check_dp(op, c, a, b);
    const int M = s.rows[c], N = s.colsb[c] / 4, K4 = s.colsb[a] / 4;
    int32_t bx[16][4][16]; /* [k][i][n], zero for n >= N */
    for (int k = 0; k < K4; k++)
        for (int i = 0; i < 4; i++)
            for (int n = 0; n < 16; n++) bx[k][i][n] = n < N ? ext8(s.tile[b][k][4 * n + i], b_signed) : 0;
    for (int m = 0; m < M; m++) {
        uint32_t acc[16];
        memcpy(acc, s.tile[c][m], sizeof acc);
        for (int k = 0; k < K4; k++)
            for (int i = 0; i < 4; i++) {
                const int32_t av = ext8(s.tile[a][m][4 * k + i], a_signed);
                /* |av * bx| <= 255 * 255: exact in int32; the sum wraps in uint32 */
                for (int n = 0; n < 16; n++) acc[n] += (uint32_t)(av * bx[k][i][n]);
            }
        memcpy(s.tile[c][m], acc, 4 * (size_t)N);
    }
    zero_c_beyond(c);
    s.n.tdpb_int8++;
    s.n.macs += (uint64_t)M * (uint64_t)N * (uint64_t)K4 * 4;
}

void amxq_tile_emu_tdpbssd(int c, int a, int b) { dp_int8(OP_TDPBSSD, c, a, b, 1, 1); }
void amxq_tile_emu_tdpbsud(int c, int a, int b) { dp_int8(OP_TDPBSUD, c, a, b, 1, 0); }
void amxq_tile_emu_tdpbusd(int c, int a, int b) { dp_int8(OP_TDPBUSD, c, a, b, 0, 1); }
void amxq_tile_emu_tdpbuud(int c, int a, int b) { dp_int8(OP_TDPBUUD, c, a, b, 0, 0); }

/* Denormal (or zero) -> zero of the same sign; everything else unchanged.
 * This is both DAZ for inputs and FTZ for results. */
static inline float flush_denormal(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }

static inline float bf16_to_f32(const uint8_t *p) {
    const uint32_t u = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 24);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void amxq_tile_emu_tdpbf16ps(int c, int a, int b) {
    check_dp(OP_TDPBF16PS, c, a, b);
    const int M = s.rows[c], N = s.colsb[c] / 4, K2 = s.colsb[a] / 4;
    /* The hardware ignores MXCSR and leaves it untouched: compute under
     * round-to-nearest-even with exceptions masked, then restore the caller's
     * MXCSR (flags included). DAZ and FTZ are applied explicitly. */
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(0x1f80);
    float be[16][16], bo[16][16]; /* [k][n]: even and odd element of B's pair */
    for (int k = 0; k < K2; k++)
        for (int n = 0; n < 16; n++) {
            be[k][n] = n < N ? flush_denormal(bf16_to_f32(&s.tile[b][k][4 * n])) : 0.0f;
            bo[k][n] = n < N ? flush_denormal(bf16_to_f32(&s.tile[b][k][4 * n + 2])) : 0.0f;
        }
    for (int m = 0; m < M; m++) {
        float acc[16];
        memcpy(acc, s.tile[c][m], sizeof acc);
        for (int n = 0; n < 16; n++) acc[n] = flush_denormal(acc[n]);
        for (int k = 0; k < K2; k++) {
            const float ae = flush_denormal(bf16_to_f32(&s.tile[a][m][4 * k]));
            const float ao = flush_denormal(bf16_to_f32(&s.tile[a][m][4 * k + 2]));
            for (int n = 0; n < 16; n++) {
                const float even = flush_denormal(ae * be[k][n]);
                const float odd = flush_denormal(ao * bo[k][n]);
                acc[n] = flush_denormal(acc[n] + flush_denormal(even + odd));
            }
        }
        memcpy(s.tile[c][m], acc, 4 * (size_t)N);
    }
    _mm_setcsr(csr);
    zero_c_beyond(c);
    s.n.tdpbf16ps++;
    s.n.macs += (uint64_t)M * (uint64_t)N * (uint64_t)K2 * 2;
}

#endif /* AMXQ_TILE_EMULATOR */
