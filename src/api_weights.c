/*
 * The life of a packed-weight handle: packing (into library or caller
 * memory), saving its image, opening an image from a file or from memory,
 * queries, unpacking and freeing. Every check happens before anything is
 * written, so a failed call leaves the caller's memory exactly as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amxq.h"
#include "api_internal.h"
#include "cpu.h"
#include "formats.h"
#include "image.h"
#include "numa.h"
#include "pool.h"

int amxq_handle_ok(const amx_weights *w) { return w && w->magic == AMXQ_WEIGHTS_MAGIC; }

/* AUTO: the first family of cpu.c's preference list that has a row for the
 * type and runs here. */
static const amxq_variant *choose_variant(amx_type type, amx_isa isa, amx_status *st) {
    if (isa == AMX_ISA_AUTO) {
        size_t nf;
        const amx_isa *pref = amxq_isa_preference(&nf);
        for (size_t i = 0; i < nf; i++) {
            const amxq_variant *v = amxq_find_variant(type, pref[i]);
            if (v && amxq_isa_usable(pref[i], NULL)) return v;
        }
        *st = AMX_ERR_UNSUPPORTED_TYPE;
        return NULL;
    }
    if (!amxq_isa_usable(isa, NULL)) {
        *st = AMX_ERR_ISA_UNAVAILABLE;
        return NULL;
    }
    const amxq_variant *v = amxq_find_variant(type, isa);
    if (!v) *st = AMX_ERR_UNSUPPORTED_TYPE;
    return v;
}

/* Packed weights are streamed at memory speed by every decode call: on 2 MiB
 * pages the TLB covers a whole matrix (THP in "madvise" mode, a common
 * default, needs the hint). Measured on one Zen 4 core, Q4_0 decode from
 * DRAM went from 16-21 to 21-25 GB/s median. Small matrices keep 64-byte
 * alignment and no hint. */
#define HUGE_PAGE ((size_t)2 << 20)
static void *alloc_packed(size_t bytes) {
    if (bytes < HUGE_PAGE) return aligned_alloc(AMXQ_IMAGE_ALIGN, (bytes + 63) & ~(size_t)63);
    const size_t sz = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = aligned_alloc(HUGE_PAGE, sz);
#if defined(MADV_HUGEPAGE)
    if (p) madvise(p, sz, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    return p;
}

/* A handle for (row, type, n, k) and n_expert experts (0: a matrix), not
 * yet bound to any memory. */
static amx_weights *new_handle(const amxq_variant *v, amx_type type, int64_t n, int64_t k, int64_t n_expert) {
    const type_info *ti = amxq_type_info(type);
    amx_weights *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->v = v;
    w->impl = v->impl;
    w->type = type;
    w->n = n;
    w->k = k;
    w->kb = k / ti->block;
    w->n_expert = n_expert;
    w->gguf_bytes = (size_t)n * (size_t)w->kb * (size_t)ti->bytes * (size_t)(n_expert > 0 ? n_expert : 1);
    w->amx_min_m = v->amx_min_m;
    if (v->amx_min_m > 0) {
        /* operators may move the AMX/VNNI crossover without rebuilding */
        const char *env = getenv("AMXQ_AMX_MIN_M");
        const long e = env ? strtol(env, NULL, 10) : 0;
        if (e > 0 && e <= INT32_MAX) w->amx_min_m = (int32_t)e;
    }
    w->expert_stride = n_expert > 0 ? amxq_image_matrix_bytes(w) : 0;
    w->packed_bytes = sizeof(amxq_image_header) + amxq_image_payload_bytes(w);
    return w;
}

/* ---- packing --------------------------------------------------------------- */

/* The checks the packers and the size queries share, in that order:
 * options, shape, type, (data size), family. n_expert 0 is a matrix. */
static amx_status check_pack(amx_type type, int64_t n_expert, int64_t n, int64_t k, int has_data,
                             const void *data, size_t data_size, const amx_pack_opts *opts, amx_pack_opts *o,
                             const amxq_variant **v) {
    amx_status st = amxq_read_pack_opts(opts, o);
    if (st != AMX_OK) return st;
    if ((has_data && !data) || n <= 0 || k <= 0 || n_expert < 0) return AMX_ERR_INVALID_ARG;
    const type_info *ti = amxq_type_info(type);
    if (!ti) return AMX_ERR_UNSUPPORTED_TYPE;
    const int64_t ne = n_expert > 0 ? n_expert : 1;
    if (k % ti->block != 0 || n > AMXQ_MAX_DIM || k > AMXQ_MAX_DIM || n > AMXQ_MAX_ELEMS / k ||
        n_expert > AMXQ_MAX_EXPERTS || ne > AMXQ_MAX_ELEMS / (n * k))
        return AMX_ERR_BAD_SHAPE;
    if (has_data && data_size != (size_t)ne * (size_t)n * (size_t)(k / ti->block) * (size_t)ti->bytes)
        return AMX_ERR_SIZE_MISMATCH;
    *v = choose_variant(type, o->isa, &st);
    return *v ? AMX_OK : st;
}

typedef struct {
    amx_weights *w;
    uint8_t *payload;
    const void *src;
    int64_t units;  /* per matrix */
    int64_t total;  /* units * experts */
} pack_job;

/* Units are numbered expert by expert; a share may span several experts. */
static void pack_task(void *ctx, int ith, int nth) {
    const pack_job *j = ctx;
    int64_t u0, u1;
    amxq_split(j->total, ith, nth, &u0, &u1);
    if (j->w->n_expert == 0) {
        if (u1 > u0) j->w->v->pack(j->w, j->payload, j->src, u0, u1);
        return;
    }
    const size_t src_bytes = j->w->gguf_bytes / (size_t)j->w->n_expert;
    while (u0 < u1) {
        const int64_t e = u0 / j->units, end = (e + 1) * j->units < u1 ? (e + 1) * j->units : u1;
        amx_weights view;
        amxq_expert_view(j->w, e, &view);
        j->w->v->pack(&view, j->payload + (size_t)e * j->w->expert_stride,
                      (const uint8_t *)j->src + (size_t)e * src_bytes, u0 - e * j->units, end - e * j->units);
        u0 = end;
    }
}

/* Writes w's image (header, payload, checksum) at dst, packing data into it. */
static void write_image(amx_weights *w, uint8_t *dst, const void *data, int n_threads) {
    const size_t payload = w->packed_bytes - sizeof(amxq_image_header);
    amxq_image_header *h = (amxq_image_header *)dst;
    amxq_image_header_init(h, w, payload);
    uint8_t *p = dst + sizeof *h;
    /* the rounding to 64 bytes is never read, but an image must be a
     * function of the input alone */
    const size_t used = w->v->packed_size(w);
    if (w->n_expert == 0) {
        memset(p + used, 0, payload - used);
    } else {
        for (int64_t e = 0; e < w->n_expert; e++)
            memset(p + (size_t)e * w->expert_stride + used, 0, w->expert_stride - used);
    }
    w->data = p; /* the packers of expert views read it */
    const int64_t units = (w->n + w->v->pack_rows - 1) / w->v->pack_rows;
    pack_job job = {w, p, data, units, units * (w->n_expert > 0 ? w->n_expert : 1)};
    const int nth = (int64_t)n_threads < job.total ? n_threads : (int)job.total;
    amxq_pool_run(nth, pack_task, NULL, &job);
    h->checksum = amxq_image_checksum(h, p, payload, n_threads);
    w->image = dst;
    w->data = p;
}

static amx_status pack_size(amx_type type, int64_t n_expert, int64_t n, int64_t k, const amx_pack_opts *opts,
                            size_t *bytes, size_t *align) {
    if (!bytes || !align) return AMX_ERR_INVALID_ARG;
    amx_pack_opts o;
    const amxq_variant *v;
    const amx_status st = check_pack(type, n_expert, n, k, 0, NULL, 0, opts, &o, &v);
    if (st != AMX_OK) return st;
    amx_weights *w = new_handle(v, type, n, k, n_expert);
    if (!w) return AMX_ERR_NO_MEMORY;
    *bytes = w->packed_bytes;
    *align = AMXQ_IMAGE_ALIGN;
    free(w);
    return AMX_OK;
}

/* Packs into library memory (dst NULL) or into the caller's dst. */
static amx_status pack(amx_type type, int64_t n_expert, int64_t n, int64_t k, const void *data, size_t data_size,
                       const amx_pack_opts *opts, void *dst, size_t dst_size, int into, amx_weights **out) {
    if (!out) return AMX_ERR_INVALID_ARG;
    *out = NULL;
    amx_pack_opts o;
    const amxq_variant *v;
    if (into && !dst) return AMX_ERR_INVALID_ARG;
    amx_status st = check_pack(type, n_expert, n, k, 1, data, data_size, opts, &o, &v);
    if (st != AMX_OK) return st;
    amx_weights *w = new_handle(v, type, n, k, n_expert);
    if (!w) return AMX_ERR_NO_MEMORY;
    uint8_t *mem = dst;
    if (into) { /* caller memory is never placed */
        if (((uintptr_t)dst & (AMXQ_IMAGE_ALIGN - 1)) != 0 || dst_size < w->packed_bytes) {
            free(w);
            return AMX_ERR_BUFFER;
        }
        w->memory = AMX_MEMORY_CALLER;
    } else {
        /* expert handles are not placed either: their calls read the image
         * as a whole (amxq.h, amx_weights_info.numa_policy) */
        mem = n_expert == 0 ? amxq_numa_place(w, o.numa) : NULL; /* NULL: placed as without NUMA */
        if (!mem) {
            mem = alloc_packed(w->packed_bytes);
            if (!mem) {
                amxq_numa_free(w->place);
                free(w);
                return AMX_ERR_NO_MEMORY;
            }
            w->owned = mem;
        }
        w->memory = AMX_MEMORY_LIBRARY;
    }
    write_image(w, mem, data, o.n_threads);
    amxq_numa_finish(w);
    w->magic = AMXQ_WEIGHTS_MAGIC;
    *out = w;
    return AMX_OK;
}

amx_status amx_pack_size(amx_type type, int64_t n, int64_t k, const amx_pack_opts *opts, size_t *bytes,
                         size_t *align) {
    return pack_size(type, 0, n, k, opts, bytes, align);
}

amx_status amx_pack_weights(amx_type type, int64_t n, int64_t k, const void *data, size_t data_size,
                            const amx_pack_opts *opts, amx_weights **out) {
    return pack(type, 0, n, k, data, data_size, opts, NULL, 0, 0, out);
}

amx_status amx_pack_weights_into(amx_type type, int64_t n, int64_t k, const void *data, size_t data_size,
                                 const amx_pack_opts *opts, void *dst, size_t dst_size, amx_weights **out) {
    return pack(type, 0, n, k, data, data_size, opts, dst, dst_size, 1, out);
}

/* Expert tensors: n_expert >= 1 (0 would be a matrix, which these calls do
 * not make). */
amx_status amx_pack_experts_size(amx_type type, int64_t n_expert, int64_t n, int64_t k,
                                 const amx_pack_opts *opts, size_t *bytes, size_t *align) {
    if (n_expert < 1) return AMX_ERR_INVALID_ARG;
    return pack_size(type, n_expert, n, k, opts, bytes, align);
}

amx_status amx_pack_experts(amx_type type, int64_t n_expert, int64_t n, int64_t k, const void *data,
                            size_t data_size, const amx_pack_opts *opts, amx_weights **out) {
    if (out) *out = NULL;
    if (n_expert < 1) return AMX_ERR_INVALID_ARG;
    return pack(type, n_expert, n, k, data, data_size, opts, NULL, 0, 0, out);
}

amx_status amx_pack_experts_into(amx_type type, int64_t n_expert, int64_t n, int64_t k, const void *data,
                                 size_t data_size, const amx_pack_opts *opts, void *dst, size_t dst_size,
                                 amx_weights **out) {
    if (out) *out = NULL;
    if (n_expert < 1) return AMX_ERR_INVALID_ARG;
    return pack(type, n_expert, n, k, data, data_size, opts, dst, dst_size, 1, out);
}

void amx_weights_free(amx_weights *w) {
    if (!w) return;
    w->magic = 0;
    if (w->memory == AMX_MEMORY_LIBRARY) free(w->owned);
    amxq_numa_free(w->place);
    if (w->memory == AMX_MEMORY_MAPPED) munmap(w->owned, w->owned_bytes);
    free(w);
}

/* ---- saving ---------------------------------------------------------------- */

amx_status amx_weights_save_to(const amx_weights *w, void *buffer, size_t size, size_t *written) {
    if (!amxq_handle_ok(w) || !written || (!buffer && size)) return AMX_ERR_INVALID_ARG;
    *written = w->packed_bytes;
    if (size < w->packed_bytes) return AMX_ERR_BUFFER;
    memcpy(buffer, w->image, w->packed_bytes);
    return AMX_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        const ssize_t r = write(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

amx_status amx_weights_save(const amx_weights *w, const char *path) {
    if (!amxq_handle_ok(w) || !path || !path[0]) return AMX_ERR_INVALID_ARG;
    const size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    if (!tmp) return AMX_ERR_NO_MEMORY;
    snprintf(tmp, len + 32, "%s.tmp%ld", path, (long)getpid());
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(tmp);
        return AMX_ERR_IO;
    }
    int ok = write_all(fd, w->image, w->packed_bytes);
    int err = ok ? 0 : errno;
    if (close(fd) != 0 && ok) ok = 0, err = errno;
    if (ok && rename(tmp, path) != 0) ok = 0, err = errno;
    if (!ok) unlink(tmp);
    free(tmp);
    if (!ok) {
        errno = err;
        return AMX_ERR_IO;
    }
    return AMX_OK;
}

/* ---- opening --------------------------------------------------------------- */

/* The GGUF blocks of every matrix of w, expert after expert. */
static void unpack_all(const amx_weights *w, void *dst) {
    const int64_t units = (w->n + w->v->pack_rows - 1) / w->v->pack_rows;
    if (w->n_expert == 0) {
        w->v->unpack(w, dst, 0, units);
        return;
    }
    const size_t per = w->gguf_bytes / (size_t)w->n_expert;
    for (int64_t e = 0; e < w->n_expert; e++) {
        amx_weights view;
        amxq_expert_view(w, e, &view);
        w->v->unpack(&view, (uint8_t *)dst + (size_t)e * per, 0, units);
    }
}

static amx_status read_open_opts(const amx_open_opts *o, amx_open_opts *r) {
    *r = (amx_open_opts){.size = sizeof *r};
    if (!o) return AMX_OK;
    if (!amxq_copy_opts(r, sizeof *r, o, AMXQ_OPEN_OPTS_V0_SIZE)) return AMX_ERR_INVALID_ARG;
    if ((r->flags & ~(AMX_OPEN_REPACK | AMX_OPEN_NO_VERIFY)) || r->n_threads < 0 ||
        r->n_threads > AMXQ_MAX_THREADS)
        return AMX_ERR_INVALID_ARG;
    if (r->n_threads == 0) r->n_threads = 1;
    return AMX_OK;
}

/* An image that passed amxq_image_check, as a handle: used in place if its
 * family runs here; else repacked for the best family here (REPACK) from
 * the GGUF blocks its layout holds, or refused. */
static amx_status handle_of_image(const amxq_image_view *img, const amx_open_opts *o, amx_memory memory,
                                  amx_weights **out) {
    const amx_type type = (amx_type)img->h->type;
    amx_weights *w = new_handle(img->v, type, img->h->n, img->h->k, img->n_expert);
    if (!w) return AMX_ERR_NO_MEMORY;
    w->image = (const uint8_t *)img->h;
    w->data = img->payload;
    if (amxq_isa_usable(img->v->isa, NULL)) {
        w->memory = memory;
        w->magic = AMXQ_WEIGHTS_MAGIC;
        *out = w;
        return AMX_OK;
    }
    if (!(o->flags & AMX_OPEN_REPACK)) {
        free(w);
        return AMX_ERR_ISA_UNAVAILABLE;
    }
    /* unpack needs only the view (the rows' unpackers read w->data) */
    void *gguf = malloc(w->gguf_bytes);
    if (!gguf) {
        free(w);
        return AMX_ERR_NO_MEMORY;
    }
    unpack_all(w, gguf);
    const amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_AUTO, .n_threads = o->n_threads};
    const amx_status st = pack(type, w->n_expert, w->n, w->k, gguf, w->gguf_bytes, &po, NULL, 0, 0, out);
    free(gguf);
    free(w);
    return st;
}

amx_status amx_weights_open_memory(const void *ptr, size_t size, const amx_open_opts *opts, amx_weights **out) {
    if (!out) return AMX_ERR_INVALID_ARG;
    *out = NULL;
    amx_open_opts o;
    amx_status st = read_open_opts(opts, &o);
    if (st != AMX_OK) return st;
    if (!ptr) return AMX_ERR_INVALID_ARG;
    amxq_image_view img;
    st = amxq_image_check(ptr, size, !(o.flags & AMX_OPEN_NO_VERIFY), o.n_threads, &img);
    if (st != AMX_OK) return st;
    return handle_of_image(&img, &o, AMX_MEMORY_CALLER, out);
}

amx_status amx_weights_open(const char *path, const amx_open_opts *opts, amx_weights **out) {
    if (!out) return AMX_ERR_INVALID_ARG;
    *out = NULL;
    amx_open_opts o;
    amx_status st = read_open_opts(opts, &o);
    if (st != AMX_OK) return st;
    if (!path) return AMX_ERR_INVALID_ARG;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return AMX_ERR_IO;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        const int err = errno;
        close(fd);
        errno = err;
        return AMX_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        errno = EINVAL;
        return AMX_ERR_IO;
    }
    const size_t size = (size_t)sb.st_size;
    if (size < sizeof(amxq_image_header)) { /* too short to map usefully: read what is there */
        uint8_t buf[sizeof(amxq_image_header)] __attribute__((aligned(64)));
        ssize_t r;
        size_t got = 0;
        while (got < size && (r = read(fd, buf + got, size - got)) > 0) got += (size_t)r;
        close(fd);
        amxq_image_view img;
        st = amxq_image_check(buf, got, 1, 1, &img);
        return st == AMX_OK ? AMX_ERR_TRUNCATED : st; /* cannot pass: the header alone is larger */
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    const int err = errno;
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        errno = err;
        return AMX_ERR_IO;
    }
    amxq_image_view img;
    st = amxq_image_check(map, size, !(o.flags & AMX_OPEN_NO_VERIFY), o.n_threads, &img);
    if (st == AMX_OK) st = handle_of_image(&img, &o, AMX_MEMORY_MAPPED, out);
    if (st != AMX_OK) {
        munmap(map, size);
        return st;
    }
    if ((*out)->memory == AMX_MEMORY_MAPPED) {
        (*out)->owned = map;
        (*out)->owned_bytes = size;
    } else {
        munmap(map, size); /* repacked into library memory */
    }
    return AMX_OK;
}

/* ---- queries --------------------------------------------------------------- */

amx_status amx_weights_query(const amx_weights *w, amx_weights_info *info) {
    if (!amxq_handle_ok(w) || !info) return AMX_ERR_INVALID_ARG;
    const uint32_t size = info->size;
    if (size < offsetof(amx_weights_info, k) + sizeof(int64_t) || size > AMXQ_OPTS_MAX_SIZE)
        return AMX_ERR_INVALID_ARG;
    const amx_weights_info full = {
        .size = size,
        .type = w->type,
        .n = w->n,
        .k = w->k,
        .isa = w->v->isa,
        .amx_min_m = w->amx_min_m,
        .packed_bytes = w->packed_bytes,
        .gguf_bytes = w->gguf_bytes,
        .kernel = w->v->name,
        .layout = w->v->layout,
        .memory = w->memory,
        .n_expert = w->n_expert,
        .numa_policy = w->place ? w->place->policy : AMX_NUMA_NONE,
        .numa_requested = w->place ? w->place->requested : AMX_NUMA_NONE,
        .numa_flags = w->place ? w->place->flags : 0,
        .numa_node_count = w->place ? w->place->count : 0,
        .numa_nodes = w->place ? w->place->node : NULL,
        .numa_node_bytes = w->place ? w->place->bytes : NULL,
    };
    memcpy(info, &full, size < sizeof full ? size : sizeof full);
    if (size > sizeof full) memset((char *)info + sizeof full, 0, size - sizeof full);
    return AMX_OK;
}

amx_status amx_weights_unpack(const amx_weights *w, void *data, size_t data_size) {
    if (!amxq_handle_ok(w) || !data) return AMX_ERR_INVALID_ARG;
    if (data_size != w->gguf_bytes) return AMX_ERR_SIZE_MISMATCH;
    unpack_all(w, data);
    return AMX_OK;
}
