/*
 * Fuzz target for the packed-weight image opener (libFuzzer's entry point):
 * amx_weights_open_memory and amx_weights_open on bytes from outside.
 * Beyond "no crash, no read outside the image" (the sanitizers' job: the
 * image is copied to an allocation that ends exactly where it ends) it checks
 * the opener's promises: every failure is one documented status and leaves
 * no handle; a misaligned or short image never opens; a handle that opens
 * describes the header's type and shape, saves back the exact bytes it was
 * opened from, and unpacks, multiplies (bitwise the same on 1 or 3 threads
 * and through the caller-managed-threads API, output padding untouched) and
 * frees cleanly, whatever its payload bytes are (AMX_OPEN_NO_VERIFY lets
 * mutated payloads through the checksum), and the blocks it unpacks to pack
 * and unpack again to themselves.
 *
 * Input: two control bytes, then the image.
 *   c0 bit 0   AMX_OPEN_NO_VERIFY
 *      bit 1   AMX_OPEN_REPACK (only matters when AMXQ_MAX_ISA caps the
 *              machine below the image's family)
 *      bit 2   through a file (amx_weights_open) instead of memory
 *      bit 3-5 the image's offset from 64-byte alignment: 0 (0-4), 8, 1, 32
 *      bit 6   open with n_threads = 2 (the checksum on the pool)
 *      bit 7   also the thread-count and caller-managed-threads checks
 *   c1 bit 0-1 m = 1 + (bits % 3)
 *      bit 2   amx_min_m = 1 (AMX handles multiply on tiles at any m)
 *      bit 3   activation rows padded (ldx = k + 3)
 *      bit 4-7 seed of the activations
 *
 * Other entry points, in the same source:
 *   FUZZ_IMAGE_SEEDS=DIR ./fuzz_image   (libFuzzer build) writes seed inputs:
 *     valid images of every type and family this machine runs, at a few
 *     shapes, with several control bytes, plus truncated and bit-flipped
 *     copies; then exits.
 *   Built with -DFUZZ_IMAGE_REPLAY_MAIN (no libFuzzer):
 *     fuzz_image_replay FILE...     runs the target over files (a finding's
 *                                   input, a corpus);
 *     fuzz_image_replay --generated [SEED]
 *                                   runs it over the seeds, generated in
 *                                   memory, and every truncation, header bit
 *                                   flip and some payload changes of each,
 *                                   then the AMX ones in a child capped at
 *                                   AVX-512 VNNI (where they need
 *                                   AMX_OPEN_REPACK); SEED varies the blocks
 *                                   and the payload changes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* posix_memalign */
#endif
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amxq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define HEADER_BYTES 128

#define FAIL(...)                                                 \
    do {                                                          \
        fprintf(stderr, "fuzz_image: " __VA_ARGS__);              \
        fputc('\n', stderr);                                      \
        abort();                                                  \
    } while (0)

static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* what the target saw, for the replay's summary */
static long g_opened, g_refused, g_repacked;

/* xorshift64: the activations' stream (reseeded per multiply) and the
 * generator's (blocks, corruption positions), kept apart so the generated
 * images do not depend on what the target did in between */
static uint64_t g_rng, g_gen;
static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static uint64_t rng(void) { return xorshift(&g_rng); }
static uint64_t gen(void) { return xorshift(&g_gen); }

/* ---- the target -------------------------------------------------------------- */

typedef struct {
    uint32_t flags;
    int via_file, n_threads, full_checks;
    size_t misalign;
    int64_t m;
    int32_t amx_min_m;
    int pad_x;
    unsigned act_seed;
} control;

static control decode_control(uint8_t c0, uint8_t c1) {
    static const size_t offsets[8] = {0, 0, 0, 0, 0, 8, 1, 32};
    return (control){
        .flags = (c0 & 1 ? AMX_OPEN_NO_VERIFY : 0) | (c0 & 2 ? AMX_OPEN_REPACK : 0),
        .via_file = (c0 >> 2) & 1,
        .misalign = offsets[(c0 >> 3) & 7],
        .n_threads = c0 & 64 ? 2 : 1,
        .full_checks = (c0 >> 7) & 1,
        .m = 1 + (c1 & 3) % 3,
        .amx_min_m = c1 & 4 ? 1 : 0,
        .pad_x = (c1 >> 3) & 1,
        .act_seed = c1 >> 4,
    };
}

static int open_status_documented(amx_status st, int via_file) {
    switch (st) {
    case AMX_OK:
    case AMX_ERR_BAD_FORMAT:
    case AMX_ERR_VERSION:
    case AMX_ERR_TRUNCATED:
    case AMX_ERR_SIZE_MISMATCH:
    case AMX_ERR_CHECKSUM:
    case AMX_ERR_UNSUPPORTED_TYPE:
    case AMX_ERR_ISA_UNAVAILABLE:
    case AMX_ERR_NO_MEMORY:
        return 1;
    case AMX_ERR_BUFFER: /* a misaligned start */
        return !via_file;
    case AMX_ERR_IO:
        return via_file;
    default:
        return 0;
    }
}

/* Activations of varied magnitude, finite: a NaN or Inf in y comes from the
 * weights' scales only. */
static void gen_acts(float *x, int64_t m, int64_t k, int64_t ldx, unsigned seed) {
    g_rng = 0x9E3779B97F4A7C15ull ^ (seed * 0x100000001B3ull) ^ (uint64_t)k;
    static const float scale[4] = {1.0f, 1e-3f, 37.0f, 0.0f};
    for (int64_t i = 0; i < m; i++) {
        const float s = scale[(seed + (unsigned)i) & 3];
        for (int64_t j = 0; j < ldx; j++)
            x[i * ldx + j] = j < k ? s * ((float)(int32_t)(rng() >> 32) / 2147483648.0f) : 1e30f;
        if (seed & 8) x[i * ldx + (int64_t)(rng() % (uint64_t)k)] = 1000.0f * (s ? s : 1.0f);
    }
}

#define CANARY 0x7fc0dead /* a NaN no kernel writes */

static float *alloc_y(int64_t m, int64_t ldy) {
    float *y = malloc(sizeof(float) * (size_t)(m * ldy));
    const uint32_t c = CANARY;
    for (int64_t i = 0; i < m * ldy; i++) memcpy(&y[i], &c, 4);
    return y;
}

static void check_padding(const float *y, int64_t m, int64_t n, int64_t ldy, const char *what) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = n; j < ldy; j++)
            if (rd32((const uint8_t *)&y[i * ldy + j]) != CANARY) FAIL("%s wrote y's padding", what);
}

static void multiply(const amx_weights *w, const amx_weights_info *info, const control *c) {
    const int64_t m = c->m, k = info->k, n = info->n;
    const int64_t ldx = k + (c->pad_x ? 3 : 0), ldy = n + 1;
    float *x = malloc(sizeof(float) * (size_t)(m * ldx));
    gen_acts(x, m, k, ldx, c->act_seed);
    const amx_gemm_opts o1 = {.size = sizeof o1, .n_threads = 1, .amx_min_m = c->amx_min_m};
    float *y1 = alloc_y(m, ldy);
    amx_status st = amx_gemm_q(w, m, x, ldx, y1, ldy, &o1);
    if (st != AMX_OK) FAIL("amx_gemm_q = %s", amx_status_str(st));
    check_padding(y1, m, n, ldy, "amx_gemm_q");
    const char *kname = amx_gemm_kernel(w, m, &o1);
    if (!kname || !strcmp(kname, "invalid")) FAIL("amx_gemm_kernel = %s", kname ? kname : "NULL");

    if (c->full_checks) {
        /* the same bits on three threads ... */
        const amx_gemm_opts o3 = {.size = sizeof o3, .n_threads = 3, .amx_min_m = c->amx_min_m};
        float *y3 = alloc_y(m, ldy);
        if ((st = amx_gemm_q(w, m, x, ldx, y3, ldy, &o3)) != AMX_OK)
            FAIL("amx_gemm_q(3 threads) = %s", amx_status_str(st));
        if (memcmp(y1, y3, sizeof(float) * (size_t)(m * ldy)) != 0) FAIL("amx_gemm_q: 1 and 3 threads differ");
        /* ... and through the caller-managed-threads API, in uneven shares */
        size_t bytes = 0;
        if ((st = amx_gemm_workspace_size(w, m, &bytes)) != AMX_OK) FAIL("workspace_size = %s", amx_status_str(st));
        void *ws = aligned_alloc(64, (bytes + 63) / 64 * 64);
        for (int ith = 0; ith < 2; ith++)
            if ((st = amx_gemm_quantize(w, m, x, ldx, ws, bytes, ith, 2)) != AMX_OK)
                FAIL("amx_gemm_quantize = %s", amx_status_str(st));
        float *ys = alloc_y(m, ldy);
        for (int ith = 0; ith < 3; ith++)
            if ((st = amx_gemm_compute(w, m, ws, bytes, ys, ldy, ith, 3, &o1)) != AMX_OK)
                FAIL("amx_gemm_compute = %s", amx_status_str(st));
        if (memcmp(y1, ys, sizeof(float) * (size_t)(m * ldy)) != 0)
            FAIL("amx_gemm_quantize/compute differ from amx_gemm_q");
        free(ws), free(ys), free(y3);
    }
    free(x), free(y1);
}

/* A handle that opened: everything a caller may do with it. */
static void exercise(amx_weights *w, const uint8_t *img, size_t size, const control *c) {
    amx_weights_info info = {.size = sizeof info};
    amx_status st = amx_weights_query(w, &info);
    if (st != AMX_OK) FAIL("amx_weights_query = %s", amx_status_str(st));
    const amx_type type = (amx_type)rd32(img + 16);
    const int64_t n = (int64_t)rd64(img + 24), k = (int64_t)rd64(img + 32);
    if (info.type != type || info.n != n || info.k != k)
        FAIL("the handle says %s %lldx%lld, the header %s %lldx%lld", amx_type_name(info.type),
             (long long)info.n, (long long)info.k, amx_type_name(type), (long long)n, (long long)k);
    const int32_t bs = amx_type_block_size(type), bb = amx_type_block_bytes(type);
    if (bs <= 0 || k % bs != 0 || info.gguf_bytes != (uint64_t)n * (uint64_t)(k / bs) * (uint64_t)bb)
        FAIL("gguf_bytes %llu for %s %lldx%lld", (unsigned long long)info.gguf_bytes, amx_type_name(type),
             (long long)n, (long long)k);
    const int in_place = info.memory != AMX_MEMORY_LIBRARY;
    g_repacked += !in_place;
    if (info.memory != (c->via_file ? AMX_MEMORY_MAPPED : AMX_MEMORY_CALLER) &&
        !(info.memory == AMX_MEMORY_LIBRARY && (c->flags & AMX_OPEN_REPACK)))
        FAIL("memory owner %d", (int)info.memory);
    if (in_place && (info.isa != (amx_isa)rd32(img + 20) || info.packed_bytes != size))
        FAIL("in place: isa %d, packed_bytes %llu, image %zu bytes", (int)info.isa,
             (unsigned long long)info.packed_bytes, size);

    /* saving: the size query, then the bytes (those it was opened from, when in place) */
    size_t written = 0;
    if (amx_weights_save_to(w, NULL, 0, &written) != AMX_ERR_BUFFER || written != info.packed_bytes)
        FAIL("amx_weights_save_to size query: %zu", written);
    uint8_t *saved = malloc(written);
    if ((st = amx_weights_save_to(w, saved, written, &written)) != AMX_OK)
        FAIL("amx_weights_save_to = %s", amx_status_str(st));
    if (in_place && memcmp(saved, img, size) != 0) FAIL("saved image differs from the opened one");

    /* unpacking: whatever the payload holds, the blocks it unpacks to pack
     * and unpack again to themselves (a payload with bytes packing never
     * writes, e.g. in the padding rows, need not give its own bytes back,
     * even with a matching checksum: libFuzzer learns checksums from the
     * comparison) */
    uint8_t *gguf = malloc(info.gguf_bytes ? info.gguf_bytes : 1);
    if ((st = amx_weights_unpack(w, gguf, info.gguf_bytes)) != AMX_OK)
        FAIL("amx_weights_unpack = %s", amx_status_str(st));
    {
        const amx_pack_opts po = {.size = sizeof po, .isa = info.isa};
        amx_weights *again = NULL;
        if ((st = amx_pack_weights(type, n, k, gguf, info.gguf_bytes, &po, &again)) != AMX_OK)
            FAIL("packing the unpacked blocks = %s", amx_status_str(st));
        uint8_t *gguf2 = malloc(info.gguf_bytes ? info.gguf_bytes : 1);
        if (amx_weights_unpack(again, gguf2, info.gguf_bytes) != AMX_OK ||
            memcmp(gguf, gguf2, info.gguf_bytes) != 0)
            FAIL("unpack, pack, unpack does not give the same blocks");
        free(gguf2);
        amx_weights_free(again);
    }
    free(gguf);
    free(saved);

    multiply(w, &info, c);
}

/* Opens through a file: written, opened (mapped), removed; the mapping keeps it. */
static amx_status open_via_file(const uint8_t *img, size_t size, const amx_open_opts *o, amx_weights **w) {
    static char path[256];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/amxq_fuzz_image.%ld", dir && dir[0] ? dir : "/tmp", (long)getpid());
    }
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) FAIL("cannot create %s", path);
    size_t done = 0;
    while (done < size) {
        const ssize_t r = write(fd, img + done, size - done);
        if (r <= 0) FAIL("cannot write %s", path);
        done += (size_t)r;
    }
    close(fd);
    const amx_status st = amx_weights_open(path, o, w);
    unlink(path);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const control c = decode_control(data[0], data[1]);
    const uint8_t *img = data + 2;
    const size_t n = size - 2;
    /* an allocation that ends where the image ends, so any read past it is
     * caught (posix_memalign, unlike aligned_alloc, takes any size) */
    void *mem = NULL;
    if (posix_memalign(&mem, 64, c.misalign + n + (c.misalign + n == 0)) != 0) return 0;
    uint8_t *at = (uint8_t *)mem + c.misalign;
    memcpy(at, img, n);
    const amx_open_opts o = {.size = sizeof o, .flags = c.flags, .n_threads = c.n_threads};
    amx_weights *w = (amx_weights *)(uintptr_t)1;
    const amx_status st = c.via_file ? open_via_file(at, n, &o, &w) : amx_weights_open_memory(at, n, &o, &w);
    if (!open_status_documented(st, c.via_file)) FAIL("open = %d (%s)", (int)st, amx_status_str(st));
    if ((st == AMX_OK) != (w != NULL)) FAIL("open = %s with handle %p", amx_status_str(st), (void *)w);
    if (st == AMX_ERR_ISA_UNAVAILABLE && (c.flags & AMX_OPEN_REPACK)) FAIL("ISA_UNAVAILABLE despite REPACK");
    if (st == AMX_OK && n < HEADER_BYTES) FAIL("a %zu-byte image opened", n);
    if (st == AMX_OK && c.misalign && !c.via_file) FAIL("an image %zu bytes off alignment opened", c.misalign);
    if (st == AMX_OK) {
        g_opened++;
        exercise(w, at, n, &c);
        amx_weights_free(w);
    } else {
        g_refused++;
    }
    free(mem);
    return 0;
}

/* ---- seeds ------------------------------------------------------------------- */

/* Valid images: every type and family this machine runs (the emulated AMX
 * included, in the fuzz and test builds), at a few small shapes, packed from
 * random blocks. Calls fn(image, size, ctx) for each; returns the count. */
typedef void (*image_fn)(const uint8_t *img, size_t size, amx_isa isa, void *ctx);

static uint64_t g_gen_seed = 7;

static int gen_images(image_fn fn, void *ctx) {
    static const amx_isa isas[] = {AMX_ISA_SCALAR, AMX_ISA_AVX512_VNNI, AMX_ISA_AMX};
    static const int64_t shapes[][2] = {{1, 1}, {17, 1}, {3, 2}}; /* n, k in blocks */
    int count = 0;
    g_gen = g_gen_seed;
    for (int32_t t = 0; t < amx_type_count(); t++) {
        const amx_type type = amx_type_at(t);
        const int32_t bs = amx_type_block_size(type), bb = amx_type_block_bytes(type);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t n = shapes[s][0], k = shapes[s][1] * bs;
            const size_t gb = (size_t)(n * shapes[s][1] * bb);
            uint8_t *blocks = malloc(gb);
            for (size_t i = 0; i < gb; i++) blocks[i] = (uint8_t)(gen() >> 24);
            for (size_t f = 0; f < sizeof isas / sizeof isas[0]; f++) {
                if (!amx_cpu_supports(isas[f], NULL)) continue;
                const amx_pack_opts po = {.size = sizeof po, .isa = isas[f]};
                amx_weights *w = NULL;
                amx_status st = amx_pack_weights(type, n, k, blocks, gb, &po, &w);
                if (isas[f] == AMX_ISA_AMX && type == AMX_TYPE_F16) {
                    /* F16 has no tile kernel (amxq.h): a forced AMX pack is refused */
                    if (st != AMX_ERR_UNSUPPORTED_TYPE) FAIL("packing F16 for amx: %s", amx_status_str(st));
                    continue;
                }
                if (st != AMX_OK)
                    FAIL("packing %s for %s: %s", amx_type_name(type), amx_isa_name(isas[f]), amx_status_str(st));
                size_t size = 0;
                amx_weights_save_to(w, NULL, 0, &size);
                uint8_t *img = malloc(size);
                if ((st = amx_weights_save_to(w, img, size, &size)) != AMX_OK) FAIL("saving: %s", amx_status_str(st));
                amx_weights_free(w);
                fn(img, size, isas[f], ctx);
                free(img);
                count++;
            }
            free(blocks);
        }
    }
    return count;
}

/* control bytes, then image */
static uint8_t *with_control(const uint8_t *img, size_t size, uint8_t c0, uint8_t c1) {
    if (size > ((size_t)1 << 30)) FAIL("a %zu-byte seed image", size);
    uint8_t *in = malloc(size + 2);
    in[0] = c0, in[1] = c1;
    memcpy(in + 2, img, size);
    return in;
}

/* Each image's seed inputs: every control bit set in one of them, a
 * truncation, a header bit flip and a payload byte flip. */
typedef void (*input_fn)(const uint8_t *in, size_t size, void *ctx);
static const uint8_t k_seed_controls[][2] = {
    {0x00, 0x00}, {0x01, 0x06}, {0x81, 0x15}, {0x04, 0x2a}, {0x30, 0x00}, {0x43, 0x3e}, {0x85, 0xcd},
};

static void seed_inputs(const uint8_t *img, size_t size, uint64_t salt, input_fn fn, void *ctx) {
    const size_t nc = sizeof k_seed_controls / sizeof k_seed_controls[0];
    for (size_t i = 0; i < nc; i++) {
        uint8_t *in = with_control(img, size, k_seed_controls[i][0], k_seed_controls[i][1]);
        fn(in, size + 2, ctx);
        free(in);
    }
    uint8_t *in = with_control(img, size, 0x01, 0x00);
    fn(in, 2 + HEADER_BYTES + (salt % (size - HEADER_BYTES)), ctx); /* truncated */
    in[2 + salt % HEADER_BYTES] ^= (uint8_t)(1u << (salt % 8)); /* a header bit */
    fn(in, size + 2, ctx);
    in[2 + salt % HEADER_BYTES] ^= (uint8_t)(1u << (salt % 8));
    in[2 + HEADER_BYTES + salt % (size - HEADER_BYTES)] ^= 0x5a; /* payload bytes */
    in[0] = 0x81;
    fn(in, size + 2, ctx);
    free(in);
}

typedef struct {
    const char *dir;
    int files;
    uint64_t salt;
} seed_dir;

static void write_file(const char *path, const uint8_t *p, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, size, f) != size || fclose(f) != 0) FAIL("cannot write %s", path);
}

static void write_seed(const uint8_t *in, size_t size, void *ctx) {
    seed_dir *d = ctx;
    char path[4096];
    snprintf(path, sizeof path, "%s/seed_%04d", d->dir, d->files++);
    write_file(path, in, size);
}

static void write_image_seeds(const uint8_t *img, size_t size, amx_isa isa, void *ctx) {
    (void)isa;
    seed_dir *d = ctx;
    seed_inputs(img, size, d->salt = d->salt * 6364136223846793005ull + 1442695040888963407ull, write_seed, d);
}

static int write_seeds(const char *dir) {
    seed_dir d = {dir, 0, 1};
    const int images = gen_images(write_image_seeds, &d);
    printf("fuzz_image: %d seed inputs from %d images in %s\n", d.files, images, dir);
    return 0;
}

#ifndef FUZZ_IMAGE_REPLAY_MAIN
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("FUZZ_IMAGE_SEEDS");
    if (dir && dir[0]) exit(write_seeds(dir));
    return 0;
}
#endif

/* ---- replay ------------------------------------------------------------------ */

#ifdef FUZZ_IMAGE_REPLAY_MAIN
#include <sys/wait.h>

#include "../tools/read_file.h"

/* an exact-size copy, so the target's own copy is the only one that matters */
static void run_input(const uint8_t *in, size_t size, void *ctx) {
    long *inputs = ctx;
    uint8_t *exact = malloc(size ? size : 1);
    memcpy(exact, in, size);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    (*inputs)++;
}

static int replay_files(int argc, char **argv) {
    long inputs = 0;
    for (int i = 0; i < argc; i++) {
        size_t n;
        uint8_t *buf = amxq_read_file(argv[i], &n);
        if (!buf) return 2;
        run_input(buf, n, &inputs);
        free(buf);
    }
    printf("fuzz_image_replay: %ld inputs: %ld opened (%ld repacked), %ld refused\n", inputs, g_opened,
           g_repacked, g_refused);
    return 0;
}

typedef struct {
    long inputs;
    uint64_t salt;
    const char *dir; /* inputs for the capped child */
    char **paths;
    int n_paths;
} gen_run;

static void child_input(gen_run *g, const uint8_t *in, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/repack_%04d", g->dir, g->n_paths);
    write_file(path, in, size);
    g->paths = realloc(g->paths, sizeof(char *) * (size_t)(g->n_paths + 2));
    g->paths[g->n_paths++] = strdup(path);
    g->paths[g->n_paths] = NULL;
}

/* The seeds of one image, every truncation at a section boundary, every
 * header bit, payload bytes (through NO_VERIFY), one byte more; AMX images
 * also go to the capped child, to be repacked. */
static void all_corruptions(const uint8_t *img, size_t size, amx_isa isa, void *ctx) {
    gen_run *g = ctx;
    g->salt = g->salt * 6364136223846793005ull + 1442695040888963407ull;
    {
        void *copy = NULL;
        if (posix_memalign(&copy, 64, size) != 0) FAIL("no memory");
        memcpy(copy, img, size);
        amx_weights *w = NULL;
        amx_status st = amx_weights_open_memory(copy, size, NULL, &w);
        if (st != AMX_OK) FAIL("a freshly saved image does not open: %s", amx_status_str(st));
        /* its blocks pack again to the same bytes */
        amx_weights_info info = {.size = sizeof info};
        amx_weights_query(w, &info);
        uint8_t *gguf = malloc(info.gguf_bytes), *again = malloc(size);
        const amx_pack_opts po = {.size = sizeof po, .isa = info.isa};
        amx_weights *w2 = NULL;
        size_t written = 0;
        if ((st = amx_weights_unpack(w, gguf, info.gguf_bytes)) != AMX_OK ||
            (st = amx_pack_weights(info.type, info.n, info.k, gguf, info.gguf_bytes, &po, &w2)) != AMX_OK ||
            (st = amx_weights_save_to(w2, again, size, &written)) != AMX_OK || memcmp(again, img, size) != 0)
            FAIL("unpack + pack does not give the image back (%s)", amx_status_str(st));
        amx_weights_free(w2);
        free(gguf), free(again);
        amx_weights_free(w);
        free(copy);
    }
    seed_inputs(img, size, g->salt >> 11, run_input, &g->inputs);
    uint8_t *in = with_control(img, size, 0x00, 0x00);
    const size_t cuts[] = {0, 1, 7, 8, 11, 12, 16, 40, 72, 95, 96, 127, 128, 129, size - 64, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        for (uint8_t c0 = 0; c0 < 2; c0++) {
            in[0] = c0;
            run_input(in, 2 + cuts[i], &g->inputs);
        }
    uint8_t *longer = malloc(size + 3);
    memcpy(longer, in, size + 2);
    longer[0] = 0x01, longer[size + 2] = 0;
    run_input(longer, size + 3, &g->inputs);
    free(longer);
    for (size_t bit = 0; bit < 8 * HEADER_BYTES; bit++) {
        in[0] = bit & 1 ? 0x01 : 0x00; /* verified and not */
        in[1] = (uint8_t)(bit >> 1);
        in[2 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        run_input(in, size + 2, &g->inputs);
        in[2 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (int i = 0; i < 16; i++) {
        const size_t at = 2 + HEADER_BYTES + (size_t)(gen() % (size - HEADER_BYTES));
        const uint8_t old = in[at];
        in[at] = (uint8_t)gen();
        in[0] = i == 0 ? 0x00 : 0x81; /* the checksum catches it; else the handle must still work */
        in[1] = (uint8_t)i * 17;
        run_input(in, size + 2, &g->inputs);
        if (isa == AMX_ISA_AMX && g->dir && i < 4) {
            in[0] = 0x83;
            child_input(g, in, size + 2);
        }
        in[at] = old;
    }
    if (isa == AMX_ISA_AMX && g->dir) {
        const uint8_t controls[][2] = {{0x02, 0x00}, {0x03, 0x05}, {0x82, 0x2e}, {0x00, 0x00}, {0x06, 0x01}};
        for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
            in[0] = controls[i][0], in[1] = controls[i][1];
            child_input(g, in, size + 2);
        }
    }
    free(in);
}

/* The generated corpus here, then its AMX images in a child capped at
 * AVX-512 VNNI, where they open only through AMX_OPEN_REPACK. */
static int replay_generated(void) {
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz_image_replay.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) FAIL("cannot create a directory in %s", tmp && tmp[0] ? tmp : "/tmp");
    gen_run g = {0, 7, dir, NULL, 0};
    const int images = gen_images(all_corruptions, &g);
    printf("fuzz_image_replay: %d images, %ld inputs: %ld opened, %ld refused\n", images, g.inputs, g_opened,
           g_refused);
    if (images == 0 || g_opened == 0 || g_refused == 0) FAIL("the generated corpus exercised nothing");
    int rc = 0;
    if (g.n_paths > 0) {
        fflush(stdout);
        const pid_t pid = fork();
        if (pid < 0) FAIL("fork");
        if (pid == 0) {
            setenv("AMXQ_MAX_ISA", "avx512_vnni", 1);
            char **args = malloc(sizeof(char *) * (size_t)(g.n_paths + 3));
            args[0] = "fuzz_image_replay";
            args[1] = "--expect-repack";
            memcpy(args + 2, g.paths, sizeof(char *) * (size_t)(g.n_paths + 1));
            execv("/proc/self/exe", args);
            perror("execv /proc/self/exe");
            _exit(127);
        }
        int ws = 0;
        if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            fprintf(stderr, "fuzz_image_replay: the child capped at avx512_vnni failed (status %#x)\n", ws);
            rc = 1;
        }
    } else {
        printf("fuzz_image_replay: no AMX images on this machine, so no repack pass\n");
    }
    for (int i = 0; i < g.n_paths; i++) {
        if (rc == 0) unlink(g.paths[i]);
        free(g.paths[i]);
    }
    free(g.paths);
    if (rc == 0) rmdir(dir);
    else fprintf(stderr, "fuzz_image_replay: inputs kept in %s\n", dir);
    return rc;
}

int main(int argc, char **argv) {
    if ((argc == 2 || argc == 3) && !strcmp(argv[1], "--generated")) {
        if (argc == 3) g_gen_seed = strtoull(argv[2], NULL, 0) | 1; /* xorshift needs a non-zero state */
        return replay_generated();
    }
    if (argc >= 3 && !strcmp(argv[1], "--seeds")) return write_seeds(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "--expect-repack")) {
        const int rc = replay_files(argc - 2, argv + 2);
        if (rc == 0 && g_repacked == 0) {
            fprintf(stderr, "fuzz_image_replay: no image was repacked\n");
            return 1;
        }
        return rc;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s FILE... | --generated [SEED] | --seeds DIR\n", argv[0]);
        return 2;
    }
    return replay_files(argc - 1, argv + 1);
}
#endif
