/*
 * Packed-weight images: header, checksum, and the checks on images from
 * outside (files, caller memory). See image.h and include/amxq.h.
 */
#include "image.h"

#include <string.h>

#include "cpu.h"
#include "formats.h"
#include "pool.h"

/* Largest n or k a handle accepts (api.c checks the same bounds on packing). */
#define IMAGE_MAX_DIM ((int64_t)1 << 31)
#define IMAGE_MAX_ELEMS ((int64_t)1 << 50)
#define IMAGE_MAX_EXPERTS ((int64_t)1 << 20)

size_t amxq_image_matrix_bytes(const amx_weights *w) {
    return (w->v->packed_size(w) + AMXQ_IMAGE_ALIGN - 1) & ~(size_t)(AMXQ_IMAGE_ALIGN - 1);
}

size_t amxq_image_payload_bytes(const amx_weights *w) {
    return amxq_image_matrix_bytes(w) * (size_t)(w->n_expert > 0 ? w->n_expert : 1);
}

void amxq_image_header_init(amxq_image_header *h, const amx_weights *w, size_t payload_bytes) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, "AMXQPACK", 8);
    h->format_version = w->n_expert > 0 ? AMXQ_IMAGE_FORMAT_EXPERTS : AMXQ_IMAGE_FORMAT_VERSION;
    h->n_expert = w->n_expert;
    h->layout_version = AMXQ_PACK_LAYOUT_VERSION;
    h->type = (uint32_t)w->type;
    h->isa = (uint32_t)w->v->isa;
    h->n = w->n;
    h->k = w->k;
    strncpy(h->layout, w->v->layout, sizeof h->layout - 1);
    h->header_bytes = sizeof *h;
    h->payload_bytes = payload_bytes;
    h->alignment = AMXQ_IMAGE_ALIGN;
}

/* ---- the checksum ---------------------------------------------------------- */

/* A 64-bit hash in the style of xxHash64 (four independent multiply-rotate
 * lanes over 32-byte stripes, then a final avalanche): about 10 GB/s on one
 * core, so checking an image costs a small fraction of packing it. */
#define H1 0x9E3779B185EBCA87ull
#define H2 0xC2B2AE3D27D4EB4Full
#define H3 0x165667B19E3779F9ull
#define H4 0x85EBCA77C2B2AE63ull

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t lane(uint64_t acc, uint64_t v) { return rotl64(acc + v * H2, 31) * H1; }
static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t hash64(const uint8_t *p, size_t len, uint64_t seed) {
    uint64_t a0 = seed + H1 + H2, a1 = seed + H2, a2 = seed, a3 = seed - H1;
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        a0 = lane(a0, load64(p + i));
        a1 = lane(a1, load64(p + i + 8));
        a2 = lane(a2, load64(p + i + 16));
        a3 = lane(a3, load64(p + i + 24));
    }
    uint64_t h = rotl64(a0, 1) + rotl64(a1, 7) + rotl64(a2, 12) + rotl64(a3, 18) + (uint64_t)len;
    for (; i + 8 <= len; i += 8) h = rotl64(h ^ lane(0, load64(p + i)), 27) * H1 + H4;
    for (; i < len; i++) h = rotl64(h ^ (p[i] * H3), 11) * H1;
    h ^= h >> 33;
    h *= H2;
    h ^= h >> 29;
    h *= H3;
    h ^= h >> 32;
    return h;
}

typedef struct {
    const uint8_t *payload;
    size_t bytes, chunks;
    uint64_t *hashes;
} hash_job;

static void hash_task(void *ctx, int ith, int nth) {
    const hash_job *j = ctx;
    int64_t c0, c1;
    amxq_split((int64_t)j->chunks, ith, nth, &c0, &c1);
    for (int64_t c = c0; c < c1; c++) {
        const size_t off = (size_t)c * AMXQ_IMAGE_CHUNK;
        const size_t len = j->bytes - off < AMXQ_IMAGE_CHUNK ? j->bytes - off : AMXQ_IMAGE_CHUNK;
        j->hashes[c] = hash64(j->payload + off, len, (uint64_t)c);
    }
}

uint64_t amxq_image_checksum(const amxq_image_header *h, const uint8_t *payload, size_t payload_bytes,
                             int n_threads) {
    amxq_image_header hc = *h;
    hc.checksum = 0;
    uint64_t acc = hash64((const uint8_t *)&hc, sizeof hc, 0x414d5851);
    const size_t chunks = (payload_bytes + AMXQ_IMAGE_CHUNK - 1) / AMXQ_IMAGE_CHUNK;
    /* chunk hashes in batches, so the scratch stays small for any size */
    enum { BATCH = 256 };
    uint64_t hashes[BATCH];
    for (size_t b0 = 0; b0 < chunks; b0 += BATCH) {
        const size_t nb = chunks - b0 < BATCH ? chunks - b0 : BATCH;
        const size_t off = b0 * AMXQ_IMAGE_CHUNK;
        const size_t len = payload_bytes - off < nb * AMXQ_IMAGE_CHUNK ? payload_bytes - off : nb * AMXQ_IMAGE_CHUNK;
        hash_job j = {payload + off, len, nb, hashes};
        /* (a chunk's own hash is seeded with its index in the batch; the
         * combination below takes its index in the payload) */
        int nth = n_threads < 1 ? 1 : n_threads;
        if ((size_t)nth > nb) nth = (int)nb;
        amxq_pool_run(nth, hash_task, NULL, &j);
        for (size_t c = 0; c < nb; c++) acc = lane(acc ^ (uint64_t)(b0 + c), hashes[c]);
    }
    return hash64((const uint8_t *)&acc, sizeof acc, payload_bytes);
}

/* ---- checking an image from outside ---------------------------------------- */

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

amx_status amxq_image_check(const void *p, size_t size, int verify, int n_threads, amxq_image_view *out) {
    const uint8_t *b = p;
    if (size < 12 || memcmp(b, "AMXQPACK", 8) != 0) return AMX_ERR_BAD_FORMAT;
    uint32_t format;
    memcpy(&format, b + 8, 4);
    if (format != AMXQ_IMAGE_FORMAT_VERSION && format != AMXQ_IMAGE_FORMAT_EXPERTS) return AMX_ERR_VERSION;
    if (size < sizeof(amxq_image_header)) return AMX_ERR_TRUNCATED;
    if (((uintptr_t)p & (AMXQ_IMAGE_ALIGN - 1)) != 0) return AMX_ERR_BUFFER;
    const amxq_image_header *h = p;
    if (h->layout_version != AMXQ_PACK_LAYOUT_VERSION) return AMX_ERR_VERSION;
    /* the layout name: NUL-terminated, NUL-padded */
    const char *nul = memchr(h->layout, 0, sizeof h->layout);
    if (h->header_bytes != sizeof *h || h->alignment != AMXQ_IMAGE_ALIGN || h->reserved0 != 0 ||
        !all_zero(h->reserved, sizeof h->reserved) || !nul ||
        !all_zero((const uint8_t *)nul, sizeof h->layout - (size_t)(nul - h->layout)))
        return AMX_ERR_BAD_FORMAT;
    if (h->isa != AMX_ISA_SCALAR && h->isa != AMX_ISA_AVX512_VNNI && h->isa != AMX_ISA_AMX)
        return AMX_ERR_BAD_FORMAT;
    const type_info *ti = amxq_type_info((amx_type)h->type);
    const amxq_variant *v = ti ? amxq_find_variant((amx_type)h->type, (amx_isa)h->isa) : NULL;
    if (!v) return AMX_ERR_UNSUPPORTED_TYPE;
    if (h->n <= 0 || h->k <= 0 || h->k % ti->block != 0 || h->n > IMAGE_MAX_DIM || h->k > IMAGE_MAX_DIM ||
        h->n > IMAGE_MAX_ELEMS / h->k || strcmp(h->layout, v->layout) != 0)
        return AMX_ERR_BAD_FORMAT;
    /* format 1 holds one matrix (the field is reserved there, so zero);
     * format 2 at least one expert, all of them indexable */
    if (format == AMXQ_IMAGE_FORMAT_VERSION ? h->n_expert != 0
                                            : h->n_expert < 1 || h->n_expert > IMAGE_MAX_EXPERTS ||
                                                  h->n_expert > IMAGE_MAX_ELEMS / (h->n * h->k))
        return AMX_ERR_BAD_FORMAT;
    const amx_weights shape = {.v = v, .impl = v->impl, .type = (amx_type)h->type, .n = h->n, .k = h->k,
                               .kb = h->k / ti->block, .n_expert = h->n_expert};
    if (h->payload_bytes != amxq_image_payload_bytes(&shape)) return AMX_ERR_BAD_FORMAT;
    const size_t need = sizeof *h + (size_t)h->payload_bytes;
    if (size < need) return AMX_ERR_TRUNCATED;
    if (size > need) return AMX_ERR_SIZE_MISMATCH;
    const uint8_t *payload = b + sizeof *h;
    if (verify && amxq_image_checksum(h, payload, (size_t)h->payload_bytes, n_threads) != h->checksum)
        return AMX_ERR_CHECKSUM;
    *out = (amxq_image_view){h, v, payload, h->n_expert};
    return AMX_OK;
}
