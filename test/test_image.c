/*
 * Packed weights in caller memory and in files: amx_pack_size,
 * amx_pack_weights_into, amx_weights_save / _save_to, amx_weights_open /
 * _open_memory. For every row of the table this machine runs: the sizes
 * agree, every way of making a handle gives the same image bytes and the
 * same results bit for bit, the memory owner is reported, bad buffers are
 * refused without a byte written, and every corruption of an image (each
 * truncation at a section boundary, each header bit, payload bits, a longer
 * file) gives one status and no handle.
 *
 * `test_image repack FILE` (run by the test itself in a child with
 * AMXQ_MAX_ISA=scalar) opens a VNNI image on a machine capped below VNNI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "../src/dispatch.h"

#define M 5

static char g_dir[64];

static void gemm_both(amx_weights *a, amx_weights *b, int64_t n, int64_t k, const char *what) {
    float *x = malloc(sizeof(float) * M * (size_t)k), *ya = malloc(sizeof(float) * M * (size_t)n),
          *yb = malloc(sizeof(float) * M * (size_t)n);
    gen_acts(M, k, k, x);
    CHECK(amx_gemm_q(a, M, x, k, ya, n, NULL) == AMX_OK && amx_gemm_q(b, M, x, k, yb, n, NULL) == AMX_OK,
          "%s: gemm", what);
    CHECK(bitwise_diff(ya, yb, M, n, n, n) == 0, "%s: results differ from the packed handle's", what);
    free(x), free(ya), free(yb);
}

static amx_memory memory_of(const amx_weights *w) {
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(w, &info);
    return info.memory;
}

/* Opens the image (size bytes at img, 64-aligned) and expects `want`. */
static void expect_open(const uint8_t *img, size_t size, uint32_t flags, amx_status want, const char *what) {
    const amx_open_opts o = {.size = sizeof o, .flags = flags};
    amx_weights *h = (amx_weights *)(uintptr_t)1;
    const amx_status st = amx_weights_open_memory(img, size, &o, &h);
    CHECK(st == want, "%s: open = %s, want %s", what, amx_status_str(st), amx_status_str(want));
    CHECK(st == AMX_OK ? h != NULL : h == NULL, "%s: handle on failure", what);
    if (st == AMX_OK) amx_weights_free(h);
}

/* Corrupted copies: truncations at each section boundary, every header bit,
 * payload bits, one byte more. */
static void check_corruptions(const uint8_t *image, size_t size, const char *name) {
    uint8_t *c = aligned_alloc(64, (size + 64 + 63) / 64 * 64);
    const size_t cuts[] = {0, 1, 7, 8, 11, 12, 40, 95, 127, 128, 129, size - 64, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (cuts[i] >= size) continue;
        memcpy(c, image, cuts[i]);
        const amx_open_opts o = {.size = sizeof o};
        amx_weights *h = (amx_weights *)(uintptr_t)1;
        const amx_status st = amx_weights_open_memory(cuts[i] ? c : image, cuts[i], &o, &h);
        const amx_status want = cuts[i] < 12 ? AMX_ERR_BAD_FORMAT : AMX_ERR_TRUNCATED;
        CHECK(st == want && h == NULL, "%s cut at %zu: %s, want %s", name, cuts[i], amx_status_str(st),
              amx_status_str(want));
    }
    memcpy(c, image, size);
    c[size] = 0;
    expect_open(c, size + 1, 0, AMX_ERR_SIZE_MISMATCH, "one byte more");
    /* every bit of the header: never accepted (the checksum covers it) */
    int accepted = 0;
    for (size_t bit = 0; bit < 128 * 8; bit++) {
        memcpy(c, image, 128);
        c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        amx_weights *h = NULL;
        const amx_status st = amx_weights_open_memory(c, size, NULL, &h);
        if (st == AMX_OK) {
            accepted++;
            amx_weights_free(h);
        }
    }
    memcpy(c, image, 128);
    CHECK(accepted == 0, "%s: %d header bit flips accepted", name, accepted);
    /* the status each field gives */
    static const struct {
        size_t off;
        amx_status want;
        const char *field;
    } fields[] = {{0, AMX_ERR_BAD_FORMAT, "magic"},          {8, AMX_ERR_VERSION, "format version"},
                  {12, AMX_ERR_VERSION, "layout version"},   {24, AMX_ERR_BAD_FORMAT, "n"},
                  {32, AMX_ERR_BAD_FORMAT, "k"},             {41, AMX_ERR_BAD_FORMAT, "layout name"},
                  {72, AMX_ERR_BAD_FORMAT, "header bytes"},  {80, AMX_ERR_BAD_FORMAT, "payload bytes"},
                  {88, AMX_ERR_BAD_FORMAT, "alignment"},     {92, AMX_ERR_BAD_FORMAT, "reserved"},
                  {96, AMX_ERR_CHECKSUM, "checksum"},        {110, AMX_ERR_BAD_FORMAT, "reserved tail"}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        memcpy(c, image, size);
        c[fields[i].off] ^= 0x40;
        char what[64];
        snprintf(what, sizeof what, "%s: %s", name, fields[i].field);
        expect_open(c, size, 0, fields[i].want, what);
    }
    memcpy(c, image, size);
    c[16] = 16; /* type 16 (IQ2_XXS): not implemented */
    expect_open(c, size, 0, AMX_ERR_UNSUPPORTED_TYPE, "type");
    memcpy(c, image, size);
    c[20] = 0; /* AUTO is never a packed family */
    expect_open(c, size, 0, AMX_ERR_BAD_FORMAT, "family AUTO");
    /* payload bits */
    int missed = 0;
    for (int r = 0; r < 64; r++) {
        memcpy(c, image, size);
        const size_t at = 128 + (size_t)(rng_u64() % (size - 128));
        c[at] ^= (uint8_t)(1u << (rng_u64() % 8));
        amx_weights *h = NULL;
        const amx_status st = amx_weights_open_memory(c, size, NULL, &h);
        missed += st != AMX_ERR_CHECKSUM;
        amx_weights_free(h);
    }
    CHECK(missed == 0, "%s: %d payload bit flips not caught by the checksum", name, missed);
    /* without verification a payload flip goes through, as documented */
    c[size - 1] ^= 1;
    expect_open(c, size, AMX_OPEN_NO_VERIFY, AMX_OK, "payload flip, NO_VERIFY");
    /* misaligned */
    uint8_t *odd = malloc(size + 1);
    memcpy(odd + 1, image, size);
    expect_open(odd + 1, size, 0, ((uintptr_t)(odd + 1) & 63) ? AMX_ERR_BUFFER : AMX_OK, "misaligned");
    free(odd);
    free(c);
}

static void check_row(const amxq_variant *v) {
    const int64_t bs = amx_type_block_size(v->type), n = 37, k = 3 * bs;
    const size_t gsz = gguf_bytes(v->type, n, k);
    uint8_t *g = malloc(gsz);
    gen_weights(v->type, n, k, g, GEN_NORMAL);
    const amx_pack_opts po = {.size = sizeof po, .isa = v->isa};
    amx_weights *a = NULL;
    CHECK(amx_pack_weights(v->type, n, k, g, gsz, &po, &a) == AMX_OK, "%s: pack", v->name);
    CHECK(memory_of(a) == AMX_MEMORY_LIBRARY, "%s: packed memory is the library's", v->name);
    size_t bytes = 0, align = 0;
    CHECK(amx_pack_size(v->type, n, k, &po, &bytes, &align) == AMX_OK && align == 64, "%s: size", v->name);
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(a, &info);
    CHECK(bytes == info.packed_bytes, "%s: pack_size %zu, handle %llu", v->name, bytes,
          (unsigned long long)info.packed_bytes);

    /* pack_into: refused buffers stay untouched */
    uint8_t *buf = aligned_alloc(64, bytes + 128);
    memset(buf, 0xA5, bytes + 128);
    amx_weights *b = (amx_weights *)(uintptr_t)1;
    CHECK(amx_pack_weights_into(v->type, n, k, g, gsz, &po, buf + 8, bytes + 64, &b) == AMX_ERR_BUFFER &&
              b == NULL,
          "%s: misaligned dst refused", v->name);
    CHECK(amx_pack_weights_into(v->type, n, k, g, gsz, &po, buf, bytes - 1, &b) == AMX_ERR_BUFFER,
          "%s: short dst refused", v->name);
    CHECK(amx_pack_weights_into(v->type, n, k, g, gsz - 1, &po, buf, bytes, &b) == AMX_ERR_SIZE_MISMATCH,
          "%s: bad data size refused before dst", v->name);
    int untouched = 1;
    for (size_t i = 0; i < bytes + 128; i++) untouched &= buf[i] == 0xA5;
    CHECK(untouched, "%s: refused pack_into wrote its buffer", v->name);
    CHECK(amx_pack_weights_into(v->type, n, k, g, gsz, &po, buf, bytes, &b) == AMX_OK, "%s: pack_into", v->name);
    CHECK(memory_of(b) == AMX_MEMORY_CALLER, "%s: pack_into memory is the caller's", v->name);
    for (size_t i = bytes; i < bytes + 128; i++) untouched &= buf[i] == 0xA5;
    CHECK(untouched, "%s: pack_into wrote past the image", v->name);
    gemm_both(a, b, n, k, "pack_into");

    /* save_to: the same bytes as pack_into wrote */
    size_t written = 0;
    CHECK(amx_weights_save_to(a, NULL, 0, &written) == AMX_ERR_BUFFER && written == bytes, "%s: size query",
          v->name);
    uint8_t *img = aligned_alloc(64, bytes);
    memset(img, 0x5A, bytes);
    CHECK(amx_weights_save_to(a, img, bytes - 1, &written) == AMX_ERR_BUFFER && img[0] == 0x5A,
          "%s: short save_to refused untouched", v->name);
    CHECK(amx_weights_save_to(a, img, bytes, &written) == AMX_OK && memcmp(img, buf, bytes) == 0,
          "%s: save_to image equals pack_into image", v->name);

    /* open_memory, in place */
    amx_weights *c = NULL;
    CHECK(amx_weights_open_memory(img, bytes, NULL, &c) == AMX_OK && memory_of(c) == AMX_MEMORY_CALLER,
          "%s: open_memory", v->name);
    gemm_both(a, c, n, k, "open_memory");
    uint8_t *back = malloc(gsz);
    CHECK(amx_weights_unpack(c, back, gsz) == AMX_OK && memcmp(back, g, gsz) == 0,
          "%s: opened image unpacks to the GGUF bytes", v->name);
    free(back);
    amx_weights_free(c);

    /* a file, mapped */
    char path[128];
    snprintf(path, sizeof path, "%s/%s.amxq", g_dir, v->name);
    CHECK(amx_weights_save(a, path) == AMX_OK, "%s: save", v->name);
    amx_weights *d = NULL;
    const amx_open_opts oo = {.size = sizeof oo, .n_threads = 2};
    CHECK(amx_weights_open(path, &oo, &d) == AMX_OK && memory_of(d) == AMX_MEMORY_MAPPED, "%s: open", v->name);
    gemm_both(a, d, n, k, "open");
    amx_weights_free(d);
    unlink(path);

    check_corruptions(img, bytes, v->name);
    amx_weights_free(a);
    amx_weights_free(b);
    free(buf), free(img), free(g);
}

/* A VNNI image opened where VNNI is capped away: refused, or repacked for
 * the scalar family on request (with the same GGUF blocks inside). */
static int run_repack(const char *path) {
    amx_weights *h = (amx_weights *)(uintptr_t)1;
    CHECK(amx_weights_open(path, NULL, &h) == AMX_ERR_ISA_UNAVAILABLE && h == NULL,
          "VNNI image under AMXQ_MAX_ISA=scalar: ISA_UNAVAILABLE");
    const amx_open_opts o = {.size = sizeof o, .flags = AMX_OPEN_REPACK};
    CHECK(amx_weights_open(path, &o, &h) == AMX_OK, "REPACK opens it");
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(h, &info);
    CHECK(info.isa == AMX_ISA_SCALAR && info.memory == AMX_MEMORY_LIBRARY, "repacked for scalar, library memory");
    uint8_t *g = malloc(info.gguf_bytes), *want = malloc(info.gguf_bytes);
    rng_seed(77);
    gen_weights(info.type, info.n, info.k, want, GEN_NORMAL);
    CHECK(amx_weights_unpack(h, g, info.gguf_bytes) == AMX_OK && memcmp(g, want, info.gguf_bytes) == 0,
          "repacked handle holds the original blocks");
    free(g), free(want);
    amx_weights_free(h);
    return test_finish("test_image repack");
}

static void check_repack(const char *argv0) {
    if (!amx_cpu_supports(AMX_ISA_AVX512_VNNI, NULL)) {
        printf("NOT RUN: repack of a VNNI image (no AVX-512 VNNI here to make one)\n");
        return;
    }
    const int64_t n = 20, k = 256;
    rng_seed(77);
    uint8_t *g = malloc(gguf_bytes(AMX_TYPE_Q4_K, n, k));
    gen_weights(AMX_TYPE_Q4_K, n, k, g, GEN_NORMAL);
    const amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_AVX512_VNNI};
    amx_weights *w = NULL;
    CHECK(amx_pack_weights(AMX_TYPE_Q4_K, n, k, g, gguf_bytes(AMX_TYPE_Q4_K, n, k), &po, &w) == AMX_OK, "pack");
    char path[128];
    snprintf(path, sizeof path, "%s/vnni.amxq", g_dir);
    CHECK(amx_weights_save(w, path) == AMX_OK, "save");
    amx_weights_free(w);
    free(g);
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        setenv("AMXQ_MAX_ISA", "scalar", 1);
        execl(argv0, argv0, "repack", path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the capped child (status 0x%x)", st);
    unlink(path);
}

static void check_io_errors(void) {
    amx_weights *h = (amx_weights *)(uintptr_t)1;
    errno = 0;
    CHECK(amx_weights_open("/nonexistent-dir/x.amxq", NULL, &h) == AMX_ERR_IO && h == NULL && errno == ENOENT,
          "missing file: AMX_ERR_IO, ENOENT");
    CHECK(amx_weights_open(g_dir, NULL, &h) == AMX_ERR_IO && h == NULL, "a directory: AMX_ERR_IO");
    char path[128];
    snprintf(path, sizeof path, "%s/empty", g_dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    CHECK(amx_weights_open(path, NULL, &h) == AMX_ERR_BAD_FORMAT && h == NULL, "empty file: BAD_FORMAT");
    unlink(path);
    const amx_open_opts bad = {.size = sizeof bad, .flags = 4};
    CHECK(amx_weights_open_memory(g_dir, 1, &bad, &h) == AMX_ERR_INVALID_ARG, "unknown open flag");
    size_t b, a;
    CHECK(amx_pack_size(AMX_TYPE_Q4_0, 4, 33, NULL, &b, &a) == AMX_ERR_BAD_SHAPE, "pack_size: bad shape");
    CHECK(amx_pack_size((amx_type)16, 4, 32, NULL, &b, &a) == AMX_ERR_UNSUPPORTED_TYPE, "pack_size: type");
    CHECK(amx_pack_size(AMX_TYPE_Q4_0, 4, 32, NULL, NULL, &a) == AMX_ERR_INVALID_ARG, "pack_size: NULL");
    CHECK(amx_weights_save(NULL, path) == AMX_ERR_INVALID_ARG, "save: no handle");
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "repack") == 0) return run_repack(argv[2]);
    snprintf(g_dir, sizeof g_dir, "/tmp/amxq-test-image-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    rng_seed(11);
    size_t nv;
    const amxq_variant *vs = amxq_variants(&nv);
    for (size_t i = 0; i < nv; i++) {
        if (!amx_cpu_supports(vs[i].isa, NULL)) {
            printf("NOT RUN: %s (its family cannot run here)\n", vs[i].name);
            continue;
        }
        check_row(&vs[i]);
        printf("%s: images checked\n", vs[i].name);
    }
    check_repack(argv[0]);
    check_io_errors();
    rmdir(g_dir);
    return test_finish("test_image");
}
