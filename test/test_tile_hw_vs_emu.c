/*
 * The tile emulator against real AMX, bit for bit, in one program.
 *
 * Every AMX kernel test on a machine without AMX trusts the emulator, so where
 * the CPU has AMX this program runs the same instruction sequences twice, on
 * the real tiles and on the emulator (tile_emu.c built with
 * AMXQ_TILE_EMULATOR and linked beside the real-instruction code), and
 * requires the memory each leaves behind to be identical, canary bytes
 * included. Covered: all four int8 TDPs (SS, SU, US, UU), TILELOADD and its
 * streaming form, TILESTORED and TILEZERO, on random tiles and on every shape
 * class (1, partial and 16 rows; 1, partial and 16 dword columns; K of 4,
 * partial and 64 bytes), with loads and stores of every legal colsb (the
 * multiples of 4 up to 64), strides wider than a row, zero and negative, accumulation chains, extreme byte
 * values that make the int32 sums wrap, and the zeroing by LDTILECFG and
 * TILERELEASE.
 *
 * Faults agree too: a load or store of a tile whose colsb is not a multiple
 * of 4 must raise #UD (SIGILL) on the real tiles and abort the emulator, and
 * TILEZERO of such a tile must do neither.
 *
 * TDPBF16PS is not compared bit for bit: the emulator's model of it is
 * approximate (see tile_emu.h). The program reports how often the two agree,
 * for information, and test_tile_ops bounds the error on both.
 *
 * Where real tiles cannot run it skips (exit 77) and says why.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "../src/cpu.h"
#include "../src/tiles/tile_ops.h"
#define AMXQ_TILE_EMU_DECLARE
#include "../src/tiles/tile_emu.h"

#if defined(AMXQ_TILE_EMULATOR)
#error "test_tile_hw_vs_emu.c issues real tile instructions: build it with amx_args"
#endif

enum { SS, SU, US, UU, BF16, N_KINDS };
static const char *const k_kind[N_KINDS] = {"TDPBSSD", "TDPBSUD", "TDPBUSD", "TDPBUUD", "TDPBF16PS"};

/* Tile triples (C, A, B) the TDPs run on: tile numbers are instruction
 * immediates, so the real side needs a case per triple. Together they put
 * every tile in every role. */
#define TRIPLES(X)                                                                           \
    X(0, 0, 1, 2) X(1, 3, 4, 5) X(2, 6, 7, 0) X(3, 5, 2, 7) X(4, 1, 6, 3) X(5, 4, 0, 6)       \
    X(6, 7, 3, 1) X(7, 2, 5, 4)
#define N_TRIPLES 8
#define TRIPLE_ROW(i, c, a, b) {c, a, b},
static const int k_triple[N_TRIPLES][3] = {TRIPLES(TRIPLE_ROW)};

typedef enum { OP_LOAD, OP_STREAM, OP_STORE, OP_ZERO, OP_DP, OP_RECONFIG, OP_RELEASE_RECONFIG } op_kind;

typedef struct {
    op_kind op;
    int t;            /* tile (load, store, zero) */
    int trip, kind;   /* TDP */
    size_t off;       /* byte offset of row 0 in the input (loads) or output (stores) */
    ptrdiff_t stride; /* bytes */
} tile_op;

#define MAX_OPS 48
#define IN_BYTES (64 * 1024)
#define OUT_SLOT 2048 /* one store: 16 rows of up to 128 bytes */
#define OUT_BYTES (MAX_OPS * OUT_SLOT)

typedef struct {
    amxq_tilecfg cfg;
    tile_op ops[MAX_OPS];
    int n_ops, n_stores;
    char what[160];
} tile_case;

/* ---- the two executors --------------------------------------------------- */

#define HW_T_LOAD(t) case t: amxq_tile_loadd(t, p, s); break;
#define HW_T_STREAM(t) case t: amxq_tile_stream_loadd(t, p, s); break;
#define HW_T_STORE(t) case t: amxq_tile_stored(t, q, s); break;
#define HW_T_ZERO(t) case t: amxq_tile_zero(t); break;
#define ALL_TILES(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define HW_DP(i, c, a, b)                                                                    \
    case 8 * (i) + SS: amxq_tile_dpbssd(c, a, b); break;                                     \
    case 8 * (i) + SU: amxq_tile_dpbsud(c, a, b); break;                                     \
    case 8 * (i) + US: amxq_tile_dpbusd(c, a, b); break;                                     \
    case 8 * (i) + UU: amxq_tile_dpbuud(c, a, b); break;                                     \
    case 8 * (i) + BF16: amxq_tile_dpbf16ps(c, a, b); break;

/* The case and operation the real tiles are running: a fault there (#UD is
 * SIGILL, #GP SIGSEGV) means the emulator accepted what the hardware refuses,
 * and the handler names it instead of dying silently. */
static const tile_case *volatile g_hw_case;
static volatile int g_hw_op = -1; /* -1: the first LDTILECFG */

static const char *const k_op_name[] = {"TILELOADD", "TILELOADDT1", "TILESTORED", "TILEZERO", "TDP",
                                        "LDTILECFG", "TILERELEASE+LDTILECFG"};

static void on_hw_fault(int sig) {
    char b[1024];
    const tile_case *tc = g_hw_case;
    int n = snprintf(b, sizeof b, "FAIL: %s on real tiles", sig == SIGILL ? "SIGILL (#UD)" : "SIGSEGV/SIGBUS");
    if (tc) {
        n += snprintf(b + n, sizeof b - (size_t)n, " in case \"%s\", op %d", tc->what, g_hw_op);
        if (g_hw_op >= 0) {
            const tile_op *o = &tc->ops[g_hw_op];
            n += snprintf(b + n, sizeof b - (size_t)n, " (%s tile %d stride %td, triple %d kind %d)",
                          k_op_name[o->op], o->t, o->stride, o->trip, o->kind);
        }
        n += snprintf(b + n, sizeof b - (size_t)n, "; config rows/colsb:");
        for (int t = 0; t < 8; t++)
            n += snprintf(b + n, sizeof b - (size_t)n, " %d:%ux%u", t, tc->cfg.rows[t], tc->cfg.colsb[t]);
    }
    n += snprintf(b + n, sizeof b - (size_t)n, "\n");
    if (write(2, b, (size_t)n) < 0) _exit(2);
    _exit(1);
}

static void run_hw(const tile_case *tc, const uint8_t *in, uint8_t *out) {
    g_hw_case = tc;
    g_hw_op = -1;
    amxq_tile_loadconfig(&tc->cfg);
    for (int i = 0; i < tc->n_ops; i++) {
        const tile_op *o = &tc->ops[i];
        g_hw_op = i;
        const uint8_t *p = in + o->off;
        uint8_t *q = out + o->off;
        const ptrdiff_t s = o->stride;
        switch (o->op) {
        case OP_LOAD: switch (o->t) { ALL_TILES(HW_T_LOAD) } break;
        case OP_STREAM: switch (o->t) { ALL_TILES(HW_T_STREAM) } break;
        case OP_STORE: switch (o->t) { ALL_TILES(HW_T_STORE) } break;
        case OP_ZERO: switch (o->t) { ALL_TILES(HW_T_ZERO) } break;
        case OP_DP: switch (8 * o->trip + o->kind) { TRIPLES(HW_DP) } break;
        case OP_RECONFIG: amxq_tile_loadconfig(&tc->cfg); break;
        case OP_RELEASE_RECONFIG:
            amxq_tile_release();
            amxq_tile_loadconfig(&tc->cfg);
            break;
        }
    }
    amxq_tile_release();
    g_hw_case = NULL;
}

static void run_emu(const tile_case *tc, const uint8_t *in, uint8_t *out) {
    amxq_tile_emu_ldtilecfg(&tc->cfg);
    for (int i = 0; i < tc->n_ops; i++) {
        const tile_op *o = &tc->ops[i];
        const int *tr = k_triple[o->trip];
        switch (o->op) {
        case OP_LOAD: amxq_tile_emu_tileloadd(o->t, in + o->off, o->stride); break;
        case OP_STREAM: amxq_tile_emu_tileloaddt1(o->t, in + o->off, o->stride); break;
        case OP_STORE: amxq_tile_emu_tilestored(o->t, out + o->off, o->stride); break;
        case OP_ZERO: amxq_tile_emu_tilezero(o->t); break;
        case OP_DP:
            switch (o->kind) {
            case SS: amxq_tile_emu_tdpbssd(tr[0], tr[1], tr[2]); break;
            case SU: amxq_tile_emu_tdpbsud(tr[0], tr[1], tr[2]); break;
            case US: amxq_tile_emu_tdpbusd(tr[0], tr[1], tr[2]); break;
            case UU: amxq_tile_emu_tdpbuud(tr[0], tr[1], tr[2]); break;
            default: amxq_tile_emu_tdpbf16ps(tr[0], tr[1], tr[2]); break;
            }
            break;
        case OP_RECONFIG: amxq_tile_emu_ldtilecfg(&tc->cfg); break;
        case OP_RELEASE_RECONFIG:
            amxq_tile_emu_tilerelease();
            amxq_tile_emu_ldtilecfg(&tc->cfg);
            break;
        }
    }
    amxq_tile_emu_tilerelease();
}

/* ---- building cases ------------------------------------------------------ */

static int rnd(int lo, int hi) { /* lo..hi inclusive */
    return lo + (int)(rng_u64() % (uint64_t)(hi - lo + 1));
}

/* A load of tile t (rows x colsb as configured): a stride of the row or
 * wider, now and then 0 (one row broadcast) or negative (rows backwards). */
static void add_load(tile_case *tc, int t, int stream) {
    const int colsb = tc->cfg.colsb[t], rows = tc->cfg.rows[t];
    const int pick = rnd(0, 9);
    ptrdiff_t s = pick == 0 ? 0 : colsb + (pick < 5 ? 0 : rnd(1, 64));
    if (pick == 9) s = -s;
    size_t off = (size_t)rnd(4096, IN_BYTES - 4096 - 64);
    if (s < 0) off += (size_t)(-s) * (size_t)(rows - 1);
    tc->ops[tc->n_ops++] = (tile_op){.op = stream ? OP_STREAM : OP_LOAD, .t = t, .off = off, .stride = s};
}

/* A store of tile t into its own output slot (canary bytes around it). */
static void add_store(tile_case *tc, int t) {
    const int colsb = tc->cfg.colsb[t], rows = tc->cfg.rows[t];
    const int pick = rnd(0, 9);
    ptrdiff_t s = colsb + (pick < 5 ? 0 : rnd(1, 128 - colsb));
    if (pick == 9) s = -s;
    size_t off = (size_t)tc->n_stores++ * OUT_SLOT;
    if (s < 0) off += (size_t)(-s) * (size_t)(rows - 1);
    tc->ops[tc->n_ops++] = (tile_op){.op = OP_STORE, .t = t, .off = off, .stride = s};
}

static void add_op(tile_case *tc, op_kind op, int t) {
    tc->ops[tc->n_ops++] = (tile_op){.op = op, .t = t};
}

/* The three classes of a dimension: 1, a partial size, the full size. */
static int shape_class(int cls, int full) {
    return cls == 0 ? 1 : cls == 1 ? rnd(2, full - 1) : full;
}

/* TDP chains of `kind` on triple `trip` with C m x n dwords, A m x kb bytes:
 * C loaded (or zeroed), one to three TDPs with fresh A and B, then C, A and
 * B stored. Unused tiles get random memory-op shapes and a load/store. */
static void make_dp_case(tile_case *tc, int kind, int trip, int m, int n, int kb) {
    const int c = k_triple[trip][0], a = k_triple[trip][1], b = k_triple[trip][2];
    memset(tc, 0, sizeof *tc);
    amxq_tilecfg_init(&tc->cfg);
    amxq_tilecfg_dp(&tc->cfg, c, a, b, m, n, kb);
    for (int t = 0; t < 8; t++)
        if (t != c && t != a && t != b && rnd(0, 1)) amxq_tilecfg_set(&tc->cfg, t, rnd(1, 16), 4 * rnd(1, 16));
    if (rnd(0, 3) == 0)
        add_op(tc, OP_ZERO, c);
    else
        add_load(tc, c, 0);
    const int steps = rnd(1, 3);
    for (int i = 0; i < steps; i++) {
        add_load(tc, a, rnd(0, 1));
        add_load(tc, b, rnd(0, 1));
        tc->ops[tc->n_ops++] = (tile_op){.op = OP_DP, .trip = trip, .kind = kind};
    }
    add_store(tc, c);
    add_store(tc, a);
    add_store(tc, b);
    for (int t = 0; t < 8; t++)
        if (tc->cfg.rows[t] && t != c && t != a && t != b) {
            add_load(tc, t, rnd(0, 1));
            add_store(tc, t);
        }
    snprintf(tc->what, sizeof tc->what, "%s tmm%d += tmm%d . tmm%d, M=%d N=%d K=%d bytes, %d step(s)",
             k_kind[kind], c, a, b, m, n, kb, steps);
}

/* Memory operations only: every tile configured with any rows and any legal colsb,
 * loaded, some zeroed, some loaded again after a config reload (which must
 * zero them) or a release, all stored. */
static void make_mem_case(tile_case *tc, int variant) {
    memset(tc, 0, sizeof *tc);
    amxq_tilecfg_init(&tc->cfg);
    for (int t = 0; t < 8; t++) amxq_tilecfg_set(&tc->cfg, t, rnd(1, 16), 4 * rnd(1, 16));
    for (int t = 0; t < 8; t++) add_load(tc, t, rnd(0, 1));
    if (variant == 1) add_op(tc, OP_RECONFIG, 0);
    if (variant == 2) add_op(tc, OP_RELEASE_RECONFIG, 0);
    for (int t = 0; t < 8; t++)
        if (rnd(0, 3) == 0) add_op(tc, OP_ZERO, t);
    if (variant == 1)
        for (int t = 0; t < 8; t += 2) add_load(tc, t, 0); /* half reloaded */
    for (int t = 0; t < 8; t++) add_store(tc, t);
    snprintf(tc->what, sizeof tc->what, "loads/stores of 8 tiles%s",
             variant == 1 ? ", LDTILECFG in between" : variant == 2 ? ", TILERELEASE in between" : "");
}

/* Input bytes: uniform random, or only the extreme values (0, +-1, 0x7F,
 * 0x80, 0xFF) so the products are largest and int32 sums wrap. */
static void make_input(uint8_t *in, int extreme) {
    static const uint8_t ext[] = {0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF};
    for (size_t i = 0; i < IN_BYTES; i++)
        in[i] = extreme ? ext[rng_u64() % sizeof ext] : (uint8_t)rng_u64();
}

/* ---- running them -------------------------------------------------------- */

static uint8_t g_in[IN_BYTES], g_out_hw[OUT_BYTES], g_out_emu[OUT_BYTES];

/* 1 if both sides left the same bytes. */
static int compare_case(const tile_case *tc) {
    memset(g_out_hw, 0xA5, sizeof g_out_hw);
    memset(g_out_emu, 0xA5, sizeof g_out_emu);
    run_hw(tc, g_in, g_out_hw);
    run_emu(tc, g_in, g_out_emu);
    const size_t used = (size_t)tc->n_stores * OUT_SLOT;
    if (memcmp(g_out_hw, g_out_emu, used) == 0) return 1;
    size_t i = 0;
    while (g_out_hw[i] == g_out_emu[i]) i++;
    fprintf(stderr, "  %s: first difference at store %zu, byte %zu: hardware 0x%02x, emulator 0x%02x\n",
            tc->what, i / OUT_SLOT, i % OUT_SLOT, g_out_hw[i], g_out_emu[i]);
    return 0;
}

static void test_int8_dp(void) {
    int cases = 0, bad = 0;
    tile_case tc;
    for (int kind = SS; kind <= UU; kind++)
        for (int mc = 0; mc < 3; mc++)
            for (int nc = 0; nc < 3; nc++)
                for (int kc = 0; kc < 3; kc++)
                    for (int rep = 0; rep < 4; rep++) {
                        make_input(g_in, rep == 3);
                        make_dp_case(&tc, kind, (int)(rng_u64() % N_TRIPLES), shape_class(mc, 16),
                                     shape_class(nc, 16), 4 * shape_class(kc, 16));
                        cases++;
                        if (!compare_case(&tc)) bad++;
                    }
    /* every triple with every kind, full and random shapes */
    for (int trip = 0; trip < N_TRIPLES; trip++)
        for (int kind = SS; kind <= UU; kind++)
            for (int rep = 0; rep < 3; rep++) {
                make_input(g_in, rep == 2);
                make_dp_case(&tc, kind, trip, rep ? rnd(1, 16) : 16, rep ? rnd(1, 16) : 16,
                             rep ? 4 * rnd(1, 16) : 64);
                cases++;
                if (!compare_case(&tc)) bad++;
            }
    CHECK(bad == 0, "int8 TDPs: %d of %d cases differ between the emulator and real tiles", bad, cases);
    printf("int8 TDPs (SS, SU, US, UU): %d cases, every shape class and tile triple: %s\n", cases,
           bad ? "DIFFER" : "bitwise equal");
}

static void test_memory_ops(void) {
    int cases = 0, bad = 0;
    tile_case tc;
    for (int rep = 0; rep < 150; rep++) {
        make_input(g_in, 0);
        make_mem_case(&tc, rep % 3);
        cases++;
        if (!compare_case(&tc)) bad++;
    }
    CHECK(bad == 0, "loads/stores/zero: %d of %d cases differ between the emulator and real tiles", bad, cases);
    printf("TILELOADD(T1)/TILESTORED/TILEZERO, LDTILECFG and TILERELEASE zeroing: %d cases: %s\n", cases,
           bad ? "DIFFER" : "bitwise equal");
}

/* One memory operation on tile 0 configured rows x colsb, in a child
 * process, on the real tiles (hw) or the emulator: the signal it died of, or
 * 0. op: 0 TILELOADD, 1 TILELOADDT1, 2 TILEZERO + TILESTORED, 3 TILEZERO. */
static _Alignas(64) uint8_t g_fault_buf[4096];

static int fault_child(int hw, int op, int rows, int colsb) {
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        signal(SIGILL, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        /* the child dies on purpose: no core file or crash report for it */
        const struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        amxq_tilecfg c;
        amxq_tilecfg_init(&c);
        amxq_tilecfg_set(&c, 0, rows, colsb);
        if (hw) {
            amxq_tile_loadconfig(&c);
            switch (op) {
            case 0: amxq_tile_loadd(0, g_fault_buf, 64); break;
            case 1: amxq_tile_stream_loadd(0, g_fault_buf, 64); break;
            case 2: amxq_tile_zero(0); amxq_tile_stored(0, g_fault_buf, 64); break;
            default: amxq_tile_zero(0); break;
            }
            amxq_tile_release();
        } else {
            amxq_tile_emu_ldtilecfg(&c);
            switch (op) {
            case 0: amxq_tile_emu_tileloadd(0, g_fault_buf, 64); break;
            case 1: amxq_tile_emu_tileloaddt1(0, g_fault_buf, 64); break;
            case 2: amxq_tile_emu_tilezero(0); amxq_tile_emu_tilestored(0, g_fault_buf, 64); break;
            default: amxq_tile_emu_tilezero(0); break;
            }
            amxq_tile_emu_tilerelease();
        }
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st) ? 1000 + WEXITSTATUS(st) : 0;
}

static void test_fault_agreement(void) {
    static const char *const op_name[] = {"TILELOADD", "TILELOADDT1", "TILESTORED", "TILEZERO"};
    static const int colsbs[] = {1, 2, 3, 4, 21, 60, 62, 63, 64};
    static const int rowss[] = {1, 3, 16};
    int cases = 0, bad = 0;
    for (int op = 0; op < 4; op++)
        for (size_t i = 0; i < sizeof colsbs / sizeof colsbs[0]; i++)
            for (size_t r = 0; r < sizeof rowss / sizeof rowss[0]; r++) {
                const int colsb = colsbs[i], rows = rowss[r];
                const int must_fault = op != 3 && colsb % 4 != 0;
                const int hw = fault_child(1, op, rows, colsb), emu = fault_child(0, op, rows, colsb);
                const int ok = must_fault ? hw == SIGILL && emu == SIGABRT : hw == 0 && emu == 0;
                cases++;
                if (!ok) {
                    bad++;
                    fprintf(stderr, "  %s of a %d x %d-byte tile: expected %s, hardware gave %d, emulator %d\n",
                            op_name[op], rows, colsb, must_fault ? "#UD (SIGILL) and an emulator abort" : "no fault",
                            hw, emu);
                }
            }
    CHECK(bad == 0, "faults: %d of %d memory-operation shapes disagree (hardware, emulator, expectation)", bad,
          cases);
    printf("faults: loads/stores of colsb not a multiple of 4 raise #UD on both, TILEZERO never: %d cases: %s\n",
           cases, bad ? "DIFFER" : "agree");
}

/* Information only (not asserted): how often the emulator's approximate
 * TDPBF16PS model gives the hardware's bits, on normal bf16 values. */
static void report_bf16(void) {
    long same = 0, total = 0;
    tile_case tc;
    for (int rep = 0; rep < 100; rep++) {
        for (size_t i = 0; i < IN_BYTES; i += 2) {
            const float v = ldexpf(rng_normal(), rnd(-8, 8));
            const uint16_t h = (uint16_t)(f32_bits(v) >> 16);
            memcpy(&g_in[i], &h, 2);
        }
        const int m = rnd(1, 16), n = rnd(1, 16), kb = 4 * rnd(1, 16);
        make_dp_case(&tc, BF16, rep % N_TRIPLES, m, n, kb);
        memset(g_out_hw, 0xA5, sizeof g_out_hw);
        memset(g_out_emu, 0xA5, sizeof g_out_emu);
        run_hw(&tc, g_in, g_out_hw);
        run_emu(&tc, g_in, g_out_emu);
        /* C is the first store; compare its m x n floats */
        const tile_op *st = NULL;
        for (int i = 0; i < tc.n_ops && !st; i++)
            if (tc.ops[i].op == OP_STORE) st = &tc.ops[i];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++) {
                const size_t o = (size_t)((ptrdiff_t)st->off + r * st->stride) + 4 * (size_t)j;
                same += memcmp(&g_out_hw[o], &g_out_emu[o], 4) == 0;
                total++;
            }
    }
    printf("TDPBF16PS (approximate model, not asserted): emulator gives the hardware's bits for %ld of %ld "
           "results (%.1f %%)\n",
           same, total, 100.0 * (double)same / (double)total);
}

int main(void) {
    const char *why = NULL;
    if (!amxq_isa_usable(AMX_ISA_AMX, &why)) {
        printf("SKIP: real tile instructions cannot run here (%s), so there is nothing to compare the "
               "emulator with\n",
               why);
        return 77;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGILL, on_hw_fault);
    signal(SIGSEGV, on_hw_fault);
    signal(SIGBUS, on_hw_fault);
    printf("comparing the tile emulator with real AMX tiles\n");
    rng_seed(0x7175);
    test_int8_dp();
    test_memory_ops();
    test_fault_agreement();
    report_bf16();
    return test_finish("test_tile_hw_vs_emu");
}
