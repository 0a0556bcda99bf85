/*
 * amxq-gguf: packs every 2-D tensor of a supported type in a GGUF model file
 * with amxq, in parallel, and reports what it did; writes the packed tensors
 * to one file, and opens such a file in place (mmap, no copy):
 *
 *   amxq-gguf [options] MODEL.gguf                       pack in memory and report
 *   amxq-gguf [options] --save OUT.amxq MODEL.gguf       pack into one packed model file
 *   amxq-gguf [options] PACKED.amxq                      open every tensor in place and report
 *   amxq-gguf [options] --check PACKED.amxq MODEL.gguf   open and check against the GGUF
 *   amxq-gguf --list MODEL.gguf|PACKED.amxq, --types, --help
 *
 *     --save OUT        write every packed tensor to OUT (format below)
 *     --check           one multiply per tensor and m on random activations, the
 *                       kernel that ran (named in the report) against the scalar
 *                       reference; prints the worst relative difference, exits 3
 *                       if it is large. With PACKED.amxq MODEL.gguf it also checks
 *                       that the blocks unpacked from each image are MODEL's
 *     --check-m M[,M..] activation rows for --check (default 4, and each AMX
 *                       handle's tile threshold amx_min_m, so that both its VNNI
 *                       and its tile kernels run)
 *     --no-verify       open packed images without their checksums (AMX_OPEN_NO_VERIFY)
 *     --isa auto|scalar|avx512_vnni|amx   kernel family to pack for (default auto)
 *     --threads N       packing / opening threads (default: all online CPUs)
 *     --bench           times M=1 and M=512 per distinct (type, n, k) of MODEL
 *     --progress / --no-progress   progress bar on stderr (default: if a terminal)
 *     --list            only lists the tensors (name, type, dims, file offset, bytes)
 *     --types           only lists the ggml types the reader knows
 *
 * Without --check, packing in memory and opening a packed file end with one
 * multiply (m = 1, the first tensor in file order) and say how long after the
 * start it returned: the time to first multiply.
 *
 * The files are mapped read-only; the GGUF parser (gguf.c) and pk_parse below
 * check every offset and size against the file before anything is read, so a
 * bad file ends with a one-line error and exit status 1. Tensors the library
 * cannot pack (F32 norms, other quantization types, 1-D or 4-D tensors)
 * are counted and listed as skipped. A 3-D tensor of ne = {k, n, n_expert}
 * (a mixture-of-experts layer's experts) is packed as one expert handle
 * (amx_pack_experts); --check multiplies it with every row routed to every
 * expert (amx_gemm_q_experts), so that each expert runs with --check's m.
 *
 * Packed model file (.amxq), format version 1: every integer little-endian,
 * every field at a fixed offset.
 *   header, 64 bytes:
 *     0   char[8]  magic "AMXQMODL"
 *     8   uint32   format version (1)
 *     12  uint32   header bytes (64); the index follows the header
 *     16  uint64   tensor count
 *     24  uint64   index bytes
 *     32  uint64   data offset: where the images start (a multiple of 64, at or
 *                  after the index's end; zero bytes between)
 *     40  uint64   file bytes (the file's exact size)
 *     48  uint64   checksum: FNV-1a 64 of every byte before the data offset
 *                  (header, this field read as 0; index; padding)
 *     56  uint32   image alignment (64)
 *     60  uint32   0
 *   index: one entry per tensor, in the GGUF's order, each right after the last:
 *     0   uint64   image offset from the start of the file (a multiple of 64)
 *     8   uint64   image bytes
 *     16  int64    n (rows: the GGUF tensor's ne[1]; one expert's for a 3-D tensor,
 *                  whose expert count its image's header holds)
 *     24  int64    k (row length: ne[0])
 *     32  uint32   type (ggml type = amx_type)
 *     36  uint32   name bytes L (at most 1024)
 *     40  char[L]  the GGUF tensor's name, not NUL-terminated
 *   images: each tensor's packed-weights image (include/amxq.h, "Packed weights
 *   in caller memory and in files") at its offset, in index order, ascending,
 *   never overlapping, zero bytes between them and after the last. A reader
 *   maps the file, checks the index, and passes (map + offset, bytes) to
 *   amx_weights_open_memory: page alignment of the map and 64-byte offsets
 *   give the image the alignment it needs. The images carry their own
 *   checksums, the header's covers the bytes before them, and the bytes
 *   between them must be zero: no byte of the file goes unchecked.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "amxq.h"
#include "gguf.h"

#define CHECK_LIMIT 1e-3 /* variants differ from the reference by float reordering only */
#define MAX_THREADS 256
#define MAX_CHECK_M 8      /* values of --check-m */
#define MAX_CHECK_ROWS 4096
#define DEFAULT_CHECK_M 4

/* The packed model file (see the top of this file). */
#define PK_MAGIC "AMXQMODL"
#define PK_VERSION 1
#define PK_HEADER 64
#define PK_ENTRY 40 /* an index entry without its name */
#define PK_ALIGN 64
#define PK_MAX_NAME 1024
#define PK_MIN_IMAGE 128 /* an image's header */

typedef struct {
    amx_isa isa;
    int threads, check, bench, progress, list, types, no_verify;
    int check_m[MAX_CHECK_M], n_check_m; /* --check-m; none given: the default */
    const char *save;   /* --save OUT.amxq */
    const char *path;   /* MODEL.gguf; NULL when only a packed file is given */
    const char *packed; /* PACKED.amxq */
} options;

/* One index entry of a packed model file. */
typedef struct {
    uint64_t offset, bytes;
    int64_t n, k;
    uint32_t type, name_len;
    const char *name; /* in the mapped file; not NUL-terminated */
} pk_entry;

typedef struct {
    uint64_t n_tensors, index_bytes, data_offset, file_bytes;
    pk_entry *e;
} pk_file;

/* One multiply of --check. */
typedef struct {
    int m;
    const char *kernel; /* amx_gemm_kernel for (handle, m, defaults): what ran */
    double rel_diff;    /* max|y - ref| / max|ref|; NAN when not finite */
    int bad;
} check_result;

/* One tensor's fate. */
typedef struct {
    const gguf_tensor *t;  /* its GGUF tensor; NULL when only a packed file is given */
    const pk_entry *e;     /* its image in a packed file being opened; NULL when packing */
    size_t index;          /* in file order */
    char name[80];         /* printable */
    uint32_t type;
    int64_t n, k;
    int64_t n_expert;      /* a 3-D tensor's experts (ne[2]); 0 for a matrix */
    const char *skip;      /* why it was not packed; NULL if it was */
    char skip_buf[96];
    const char *fail;      /* a bad image, or a failed write to --save: exit 1 */
    char fail_buf[200];
    uint64_t work_bytes;   /* what the progress bar counts */
    uint64_t gguf_bytes, packed_bytes;
    uint64_t offset;       /* --save: where its image goes */
    double time_s;         /* packing or opening */
    amx_isa isa;           /* kernel family the handle got */
    int n_checks, check_bad, blocks_differ;
    check_result checks[MAX_CHECK_M + 1];
    amx_weights *keep;     /* the first tensor's handle, for the first multiply */
} item;

typedef enum { MODE_PACK, MODE_SAVE, MODE_OPEN } mode;

typedef struct {
    const options *o;
    mode mode;
    uint8_t *out;          /* MODE_SAVE: the output file, mapped for writing */
    const uint8_t *pk_map; /* MODE_OPEN: the packed file */
    const item *first;     /* whose handle to keep */
    item **items;          /* the tensors to pack or open, biggest first */
    size_t n_items;
    atomic_size_t next;
    pthread_mutex_t mu;
    size_t done;
    uint64_t bytes_done, bytes_total;
} job;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *path, const char *msg) {
    fprintf(stderr, "amxq-gguf: %s: %s\n", path, msg);
    exit(1);
}

static const char *type_name(uint32_t id) {
    const gguf_type_info *ti = gguf_type(id);
    return ti ? ti->name : "?";
}

static void dims_str(const gguf_tensor *t, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, d ? ", %lld" : "%lld", (long long)t->ne[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Maps path read-only, or ends with a one-line error; NULL for an empty file. */
static const uint8_t *map_file(const char *path, size_t *len) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) die(path, strerror(errno));
    if (!S_ISREG(st.st_mode)) die(path, "not a regular file");
    *len = (size_t)st.st_size;
    if (*len == 0) {
        close(fd);
        return NULL;
    }
    const uint8_t *map = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
    const int err = errno;
    close(fd);
    if (map == MAP_FAILED) die(path, strerror(err));
    return map;
}

/* ---- the packed model file ------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The checksum field's value for the file at b: the bytes before the images. */
static uint64_t pk_checksum(const uint8_t *b, uint64_t data_offset) {
    uint8_t h[PK_HEADER];
    memcpy(h, b, sizeof h);
    memset(h + 48, 0, 8);
    return fnv1a(fnv1a(0xcbf29ce484222325ull, h, sizeof h), b + PK_HEADER, (size_t)(data_offset - PK_HEADER));
}

static int all_zero(const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static int entry_name_cmp(const void *a, const void *b) {
    const pk_entry *x = *(const pk_entry *const *)a, *y = *(const pk_entry *const *)b;
    if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
    return memcmp(x->name, y->name, x->name_len);
}

__attribute__((format(printf, 3, 4))) static int pk_fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static void pk_free(pk_file *f) {
    free(f->e);
    f->e = NULL;
}

typedef unsigned long long ull;

/* The entries of the index of the packed file b[0 .. len), each checked
 * against the file before the next is read: 0 and *f filled (pk_free it), or
 * -1 with a one-line reason in err. Never reads outside b[0 .. len). */
static int pk_parse_entries(const uint8_t *b, size_t len, pk_file *f, char *err, size_t cap) {
    const uint64_t index_end = PK_HEADER + f->index_bytes;
    uint64_t pos = PK_HEADER, prev_end = f->data_offset;
    size_t have = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        if (index_end - pos < PK_ENTRY)
            return pk_fail(err, cap, "index entry %llu of %llu runs past the index's end", (ull)i, (ull)f->n_tensors);
        if (i == have) { /* grows with what was read, not with what the header claims */
            have = have ? 2 * have : 64;
            pk_entry *e = realloc(f->e, have * sizeof *e);
            if (!e) return pk_fail(err, cap, "out of memory");
            f->e = e;
        }
        const uint8_t *p = b + pos;
        pk_entry *e = &f->e[i];
        *e = (pk_entry){.offset = get_u64(p), .bytes = get_u64(p + 8), .n = (int64_t)get_u64(p + 16),
                        .k = (int64_t)get_u64(p + 24), .type = get_u32(p + 32), .name_len = get_u32(p + 36),
                        .name = (const char *)p + PK_ENTRY};
        if (e->name_len > PK_MAX_NAME)
            return pk_fail(err, cap, "index entry %llu: a %u-byte name (at most %d)", (ull)i, e->name_len, PK_MAX_NAME);
        if (index_end - pos - PK_ENTRY < e->name_len)
            return pk_fail(err, cap, "index entry %llu: its name runs past the index's end", (ull)i);
        char nb[80];
        gguf_printable(e->name, e->name_len, nb, sizeof nb);
        if (e->offset % PK_ALIGN)
            return pk_fail(err, cap, "tensor %s: image offset %llu is not a multiple of %d", nb, (ull)e->offset,
                           PK_ALIGN);
        if (e->offset < prev_end)
            return pk_fail(err, cap, "tensor %s: image offset %llu is before %llu, the end of the %s", nb,
                           (ull)e->offset, (ull)prev_end, i ? "previous image" : "index");
        if (e->offset > len || e->bytes > len - e->offset)
            return pk_fail(err, cap,
                           "tensor %s: image of %llu bytes at offset %llu runs past the end of the file (%zu bytes)",
                           nb, (ull)e->bytes, (ull)e->offset, len);
        if (e->bytes < PK_MIN_IMAGE || e->bytes % PK_ALIGN)
            return pk_fail(err, cap, "tensor %s: %llu image bytes are not a whole image", nb, (ull)e->bytes);
        if (e->n <= 0 || e->k <= 0)
            return pk_fail(err, cap, "tensor %s: shape %lld x %lld", nb, (long long)e->n, (long long)e->k);
        if (!all_zero(b + prev_end, e->offset - prev_end))
            return pk_fail(err, cap, "tensor %s: the bytes before its image (offset %llu) are not zero", nb,
                           (ull)e->offset);
        prev_end = e->offset + e->bytes;
        pos += PK_ENTRY + e->name_len;
    }
    if (pos != index_end)
        return pk_fail(err, cap, "%llu bytes in the index after its last entry", (ull)(index_end - pos));
    if (!all_zero(b + prev_end, len - prev_end))
        return pk_fail(err, cap, "the bytes after the last image (offset %llu) are not zero", (ull)prev_end);
    return 0;
}

/* Parses the packed model file b[0 .. len): header, then every index entry,
 * then the index checksum (after the entries, so that a bad offset is named
 * as such), then unique names. 0 and *f filled (pk_free it), or -1 with a
 * one-line reason in err. The images themselves are checked by
 * amx_weights_open_memory. */
static int pk_parse(const uint8_t *b, size_t len, pk_file *f, char *err, size_t cap) {
    memset(f, 0, sizeof *f);
    if (len < PK_HEADER)
        return pk_fail(err, cap, "too short for a packed model file (%zu bytes; the header alone is %d)", len,
                       PK_HEADER);
    if (memcmp(b, PK_MAGIC, 8) != 0) return pk_fail(err, cap, "not a packed model file (no %s magic)", PK_MAGIC);
    const uint32_t version = get_u32(b + 8);
    if (version != PK_VERSION)
        return pk_fail(err, cap, "packed model format version %u; this tool reads version %d", version, PK_VERSION);
    if (get_u32(b + 12) != PK_HEADER || get_u32(b + 56) != PK_ALIGN || get_u32(b + 60) != 0)
        return pk_fail(err, cap, "bad header (header bytes %u, image alignment %u)", get_u32(b + 12), get_u32(b + 56));
    f->n_tensors = get_u64(b + 16);
    f->index_bytes = get_u64(b + 24);
    f->data_offset = get_u64(b + 32);
    f->file_bytes = get_u64(b + 40);
    if (f->file_bytes > len)
        return pk_fail(err, cap, "truncated: the file has %zu of the %llu bytes its header says", len,
                       (ull)f->file_bytes);
    if (f->file_bytes < len)
        return pk_fail(err, cap, "%llu bytes longer than its header says (%llu)", (ull)(len - f->file_bytes),
                       (ull)f->file_bytes);
    if (f->index_bytes > len - PK_HEADER)
        return pk_fail(err, cap, "the index (%llu bytes) runs past the end of the file", (ull)f->index_bytes);
    if (f->data_offset % PK_ALIGN || f->data_offset < PK_HEADER + f->index_bytes || f->data_offset > len)
        return pk_fail(err, cap,
                       "data offset %llu is not a multiple of %d between the index's end (%llu) and the file's",
                       (ull)f->data_offset, PK_ALIGN, (ull)(PK_HEADER + f->index_bytes));
    if (f->n_tensors > f->index_bytes / PK_ENTRY)
        return pk_fail(err, cap, "%llu tensors cannot fit in a %llu-byte index", (ull)f->n_tensors,
                       (ull)f->index_bytes);
    if (pk_parse_entries(b, len, f, err, cap) != 0) {
        pk_free(f);
        return -1;
    }
    if (pk_checksum(b, f->data_offset) != get_u64(b + 48)) {
        pk_free(f);
        return pk_fail(err, cap, "index checksum mismatch: the header or the index is corrupt");
    }
    int rc = 0;
    if (f->n_tensors > 1) {
        const pk_entry **idx = malloc((size_t)f->n_tensors * sizeof *idx);
        if (!idx) rc = pk_fail(err, cap, "out of memory");
        for (uint64_t i = 0; idx && i < f->n_tensors; i++) idx[i] = &f->e[i];
        if (idx) qsort(idx, (size_t)f->n_tensors, sizeof *idx, entry_name_cmp);
        for (uint64_t i = 1; idx && i < f->n_tensors && rc == 0; i++)
            if (entry_name_cmp(&idx[i - 1], &idx[i]) == 0) {
                char nb[80];
                gguf_printable(idx[i]->name, idx[i]->name_len, nb, sizeof nb);
                rc = pk_fail(err, cap, "tensor %s appears twice", nb);
            }
        free(idx);
    }
    if (rc) pk_free(f);
    return rc;
}

/* Writes the header and index for the tensors to save (file order) at b;
 * their offsets and image sizes are set. */
static void pk_write_index(uint8_t *b, item *const *v, size_t n, uint64_t index_bytes, uint64_t data_offset,
                           uint64_t file_bytes) {
    memset(b, 0, PK_HEADER);
    memcpy(b, PK_MAGIC, 8);
    put_u32(b + 8, PK_VERSION);
    put_u32(b + 12, PK_HEADER);
    put_u64(b + 16, n);
    put_u64(b + 24, index_bytes);
    put_u64(b + 32, data_offset);
    put_u64(b + 40, file_bytes);
    put_u32(b + 56, PK_ALIGN);
    uint8_t *p = b + PK_HEADER;
    for (size_t i = 0; i < n; i++) {
        const item *it = v[i];
        put_u64(p, it->offset);
        put_u64(p + 8, it->packed_bytes);
        put_u64(p + 16, (uint64_t)it->n);
        put_u64(p + 24, (uint64_t)it->k);
        put_u32(p + 32, it->type);
        put_u32(p + 36, it->t->name_len);
        memcpy(p + PK_ENTRY, it->t->name, it->t->name_len);
        p += PK_ENTRY + it->t->name_len;
    }
    memset(p, 0, (size_t)(data_offset - PK_HEADER - index_bytes));
    put_u64(b + 48, pk_checksum(b, data_offset));
}

/* ---- checking one tensor -------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_x(float *x, int64_t count, uint64_t seed) {
    for (int64_t i = 0; i < count; i++)
        x[i] = (float)((int64_t)(xorshift(&seed) >> 40) - (1 << 23)) / (float)(1 << 23);
}

/* y = x . W^T for a matrix handle (n_expert 0); for an expert handle, every
 * row of x to every expert (ids i * n_expert + e = e), y then holding
 * m * n_expert rows of n. */
static amx_status multiply(const amx_weights *h, int64_t n_expert, int64_t m, const float *x, int64_t k, float *y,
                           int64_t n, const amx_gemm_opts *go) {
    if (n_expert == 0) return amx_gemm_q(h, m, x, k, y, n, go);
    if (n_expert > 4096) return AMX_ERR_INVALID_ARG; /* more ids per row than the call takes */
    int32_t *ids = malloc(sizeof *ids * (size_t)(m * n_expert));
    if (!ids) return AMX_ERR_NO_MEMORY;
    for (int64_t i = 0; i < m * n_expert; i++) ids[i] = (int32_t)(i % n_expert);
    const amx_status st = amx_gemm_q_experts(h, m, x, k, ids, (int32_t)n_expert, y, n, go);
    free(ids);
    return st;
}

/* The rows --check multiplies with on h: --check-m as given, else 4 and, on
 * an AMX handle, its tile threshold, so that the tiles run too. */
static int check_rows(const options *o, const amx_weights *h, int *ms) {
    if (o->n_check_m) {
        memcpy(ms, o->check_m, (size_t)o->n_check_m * sizeof *ms);
        return o->n_check_m;
    }
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(h, &info);
    int n = 0;
    ms[n++] = DEFAULT_CHECK_M;
    if (info.amx_min_m > DEFAULT_CHECK_M) ms[n++] = info.amx_min_m < MAX_CHECK_ROWS ? info.amx_min_m : MAX_CHECK_ROWS;
    return n;
}

/* Multiplies with h and with the scalar reference packed from the GGUF
 * blocks, on random activations in [-1, 1), at each of --check's m; a
 * relative difference normalized by the largest reference output. */
static void check_tensor(item *it, const amx_weights *h, const options *o, uint64_t seed) {
    const gguf_tensor *t = it->t;
    const int64_t n = it->n, k = it->k, ne = it->n_expert, rows = ne > 0 ? ne : 1;
    int ms[MAX_CHECK_M];
    int64_t m_max = 0;
    it->n_checks = check_rows(o, h, ms);
    for (int c = 0; c < it->n_checks; c++) {
        it->checks[c] =
            (check_result){.m = ms[c], .kernel = amx_gemm_kernel(h, ms[c], NULL), .rel_diff = NAN, .bad = 1};
        if (ms[c] > m_max) m_max = ms[c];
    }
    amx_weights *ref = NULL;
    const amx_pack_opts ro = {.size = sizeof ro, .isa = AMX_ISA_SCALAR, .n_threads = 1};
    float *x = malloc((size_t)(m_max * k) * sizeof *x);
    float *y = malloc((size_t)(m_max * rows * n) * sizeof *y), *r = malloc((size_t)(m_max * rows * n) * sizeof *r);
    it->check_bad = 1;
    if (!x || !y || !r ||
        (ne ? amx_pack_experts((amx_type)t->type, ne, n, k, t->data, t->nbytes, &ro, &ref)
            : amx_pack_weights((amx_type)t->type, n, k, t->data, t->nbytes, &ro, &ref)) != AMX_OK)
        goto out;
    random_x(x, m_max * k, seed);
    it->check_bad = 0;
    for (int c = 0; c < it->n_checks; c++) {
        check_result *cr = &it->checks[c];
        const int64_t m = cr->m;
        if (multiply(h, ne, m, x, k, y, n, NULL) != AMX_OK || multiply(ref, ne, m, x, k, r, n, NULL) != AMX_OK) {
            it->check_bad = 1;
            continue;
        }
        double worst = 0, scale = 0;
        int nonfinite = 0;
        for (int64_t i = 0; i < m * rows * n; i++) {
            if (!isfinite(r[i]) || !isfinite(y[i])) {
                /* the same non-finite value in both is agreement (e.g. Inf scales) */
                if (memcmp(&r[i], &y[i], sizeof r[i]) != 0 && !(isnan(r[i]) && isnan(y[i]))) nonfinite = 1;
                continue;
            }
            const double d = fabs((double)y[i] - (double)r[i]);
            if (d > worst) worst = d;
            if (fabs((double)r[i]) > scale) scale = fabs((double)r[i]);
        }
        cr->rel_diff = nonfinite ? NAN : scale > 0 ? worst / scale : worst;
        cr->bad = nonfinite || !(cr->rel_diff <= CHECK_LIMIT);
        if (cr->bad) it->check_bad = 1;
    }
out:
    amx_weights_free(ref);
    free(x);
    free(y);
    free(r);
}

/* Whether the blocks an opened image holds are its GGUF tensor's, byte for byte. */
static int blocks_equal(const amx_weights *h, const gguf_tensor *t) {
    uint8_t *buf = malloc(t->nbytes ? t->nbytes : 1);
    const int eq = buf && amx_weights_unpack(h, buf, t->nbytes) == AMX_OK && memcmp(buf, t->data, t->nbytes) == 0;
    free(buf);
    return eq;
}

/* ---- parallel packing and opening ---------------------------------------- */

static void progress(job *j, int final) {
    if (!j->o->progress) return;
    const int width = 30;
    const int fill = j->n_items ? (int)(width * j->done / j->n_items) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %zu/%zu tensors, %.1f/%.1f MiB%s", bar, j->done, j->n_items,
            (double)j->bytes_done / 1048576.0, (double)j->bytes_total / 1048576.0, final ? "\n" : "");
    fflush(stderr);
}

/* Packs (into library memory, or into the output file at the item's offset)
 * or opens in place (the item's image in the packed file): the handle, or
 * NULL with the item's skip or fail set. */
static amx_weights *make_handle(const job *j, item *it) {
    const options *o = j->o;
    const gguf_tensor *t = it->t;
    const amx_pack_opts po = {.size = sizeof po, .isa = o->isa, .n_threads = 1};
    const amx_open_opts oo = {.size = sizeof oo, .flags = o->no_verify ? AMX_OPEN_NO_VERIFY : 0, .n_threads = 1};
    amx_weights *h = NULL;
    amx_status st;
    const double t0 = now_s();
    if (j->mode == MODE_OPEN)
        st = amx_weights_open_memory(j->pk_map + it->e->offset, it->e->bytes, &oo, &h);
    else if (j->mode == MODE_SAVE && it->n_expert)
        st = amx_pack_experts_into((amx_type)it->type, it->n_expert, it->n, it->k, t->data, t->nbytes, &po,
                                   j->out + it->offset, it->packed_bytes, &h);
    else if (j->mode == MODE_SAVE)
        st = amx_pack_weights_into((amx_type)it->type, it->n, it->k, t->data, t->nbytes, &po, j->out + it->offset,
                                   it->packed_bytes, &h);
    else if (it->n_expert)
        st = amx_pack_experts((amx_type)it->type, it->n_expert, it->n, it->k, t->data, t->nbytes, &po, &h);
    else
        st = amx_pack_weights((amx_type)it->type, it->n, it->k, t->data, t->nbytes, &po, &h);
    it->time_s = now_s() - t0;
    if (st == AMX_OK) return h;
    if (j->mode == MODE_PACK) {
        snprintf(it->skip_buf, sizeof it->skip_buf, "%s: %s", it->n_expert ? "amx_pack_experts" : "amx_pack_weights",
                 amx_status_str(st));
        it->skip = it->skip_buf;
    } else if (j->mode == MODE_SAVE) {
        snprintf(it->fail_buf, sizeof it->fail_buf, "%s: %s",
                 it->n_expert ? "amx_pack_experts_into" : "amx_pack_weights_into", amx_status_str(st));
        it->fail = it->fail_buf;
    } else if (st == AMX_ERR_ISA_UNAVAILABLE) {
        const amx_isa isa = (amx_isa)get_u32(j->pk_map + it->e->offset + 20); /* the image header's family */
        const char *why = "not available";
        amx_cpu_supports(isa, &why);
        snprintf(it->fail_buf, sizeof it->fail_buf, "image at offset %llu: packed for %s, which cannot run here (%s)",
                 (ull)it->e->offset, amx_isa_name(isa), why);
        it->fail = it->fail_buf;
    } else {
        snprintf(it->fail_buf, sizeof it->fail_buf, "image at offset %llu: %s", (ull)it->e->offset, amx_status_str(st));
        it->fail = it->fail_buf;
    }
    return NULL;
}

static void *worker(void *arg) {
    job *j = arg;
    const options *o = j->o;
    for (;;) {
        const size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n_items) break;
        item *it = j->items[i];
        amx_weights *h = make_handle(j, it);
        if (h) {
            amx_weights_info info = {.size = sizeof info};
            amx_weights_query(h, &info);
            it->packed_bytes = info.packed_bytes;
            it->gguf_bytes = info.gguf_bytes;
            it->isa = info.isa;
            if (j->mode == MODE_OPEN && ((uint32_t)info.type != it->type || info.n != it->n || info.k != it->k)) {
                snprintf(it->fail_buf, sizeof it->fail_buf,
                         "image at offset %llu holds %s %lld x %lld, the index says %s %lld x %lld", (ull)it->e->offset,
                         amx_type_name(info.type), (long long)info.n, (long long)info.k, type_name(it->type),
                         (long long)it->n, (long long)it->k);
                it->fail = it->fail_buf;
            } else if (j->mode == MODE_OPEN && it->t && info.n_expert != it->n_expert) {
                snprintf(it->fail_buf, sizeof it->fail_buf, "image at offset %llu holds %lld experts, the GGUF %lld",
                         (ull)it->e->offset, (long long)info.n_expert, (long long)it->n_expert);
                it->fail = it->fail_buf;
            } else if (o->check) {
                if (j->mode == MODE_OPEN && !blocks_equal(h, it->t)) it->blocks_differ = 1;
                check_tensor(it, h, o, 0x9e3779b97f4a7c15ull ^ (uint64_t)(it->index + 1));
            }
            if (j->mode == MODE_OPEN && !it->t) it->n_expert = info.n_expert; /* the image says */
            if (it == j->first && !it->fail) it->keep = h;
            else amx_weights_free(h);
        }
        pthread_mutex_lock(&j->mu);
        j->done++;
        j->bytes_done += it->work_bytes;
        progress(j, 0);
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

/* Biggest first, so the last tensors to finish are small ones. */
static int by_size_desc(const void *a, const void *b) {
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    return x->work_bytes < y->work_bytes ? 1 : x->work_bytes > y->work_bytes ? -1 : 0;
}

/* Runs the job's items on the --threads threads; the wall time. */
static double run_job(job *j) {
    qsort(j->items, j->n_items, sizeof *j->items, by_size_desc);
    const double t0 = now_s();
    const int threads = j->o->threads;
    const int nth = threads < (int)j->n_items ? threads : (j->n_items ? (int)j->n_items : 1);
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (; started < nth - 1; started++)
        if (pthread_create(&th[started], NULL, worker, j) != 0) break;
    worker(j);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    progress(j, 1);
    return now_s() - t0;
}

/* ---- reports -------------------------------------------------------------- */

typedef struct {
    uint32_t type;
    int tensors;
    uint64_t gguf, packed;
    double time_s;
} type_row;

typedef struct {
    uint32_t type;
    int m;
    const char *kernel;
    int checked, bad;
    double worst;
    const char *worst_name;
} check_row;

static int done_ok(const item *it) { return !it->skip && !it->fail; }

/* The kernel families the handles got, e.g. "avx512_vnni, scalar". */
static void families(const item *items, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (int isa = AMX_ISA_AMX; isa >= AMX_ISA_SCALAR; isa--)
        for (size_t i = 0; i < n; i++)
            if (done_ok(&items[i]) && items[i].isa == (amx_isa)isa) {
                o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", amx_isa_name((amx_isa)isa));
                break;
            }
    if (o == 0) snprintf(buf, cap, "none");
}

static void print_types(const job *j, const gguf_file *f, const pk_file *pk, item *items, size_t n, double wall) {
    const options *o = j->o;
    type_row rows[64];
    int n_rows = 0, n_done = 0;
    uint64_t tot_gguf = 0, tot_packed = 0;
    double tot_s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!done_ok(&items[i])) continue;
        int r = 0;
        while (r < n_rows && rows[r].type != items[i].type) r++;
        if (r == 64) continue; /* cannot be: a type is one of the library's */
        if (r == n_rows) rows[n_rows++] = (type_row){.type = items[i].type};
        rows[r].tensors++;
        rows[r].gguf += items[i].gguf_bytes;
        rows[r].packed += items[i].packed_bytes;
        rows[r].time_s += items[i].time_s;
        n_done++;
    }
    if (pk)
        printf("%s: packed model file v%d, %llu tensors, %llu bytes, images from offset %llu\n", o->packed, PK_VERSION,
               (ull)pk->n_tensors, (ull)pk->file_bytes, (ull)pk->data_offset);
    if (f)
        printf("%s: GGUF v%u, %llu tensors, %llu metadata keys, alignment %llu%s%s%s%s\n", o->path, f->version,
               (ull)f->n_tensors, (ull)f->n_kv, (ull)f->alignment, f->arch[0] ? ", architecture " : "", f->arch,
               f->model_name[0] ? ", name " : "", f->model_name);
    char fams[64] = "";
    families(items, n, fams, sizeof fams);
    if (j->mode == MODE_OPEN)
        printf("opened %d of %llu tensors in place (kernel families: %s; checksums %s) in %.3f s with %d threads\n\n",
               n_done, (ull)pk->n_tensors, fams, o->no_verify ? "not verified" : "verified", wall, o->threads);
    else
        printf("packed %d of %zu tensors (kernel families: %s; --isa %s) in %.3f s with %d threads\n\n", n_done, n,
               fams, amx_isa_name(o->isa), wall, o->threads);
    printf("%-8s %7s %14s %14s %7s %12s\n", "type", "tensors", "GGUF bytes", "packed bytes", "ratio",
           j->mode == MODE_OPEN ? "open time" : "pack time");
    for (int r = 0; r < n_rows; r++) {
        printf("%-8s %7d %14llu %14llu %7.3f %9.2f ms\n", type_name(rows[r].type), rows[r].tensors, (ull)rows[r].gguf,
               (ull)rows[r].packed, rows[r].gguf ? (double)rows[r].packed / (double)rows[r].gguf : 0.0,
               rows[r].time_s * 1e3);
        tot_gguf += rows[r].gguf;
        tot_packed += rows[r].packed;
        tot_s += rows[r].time_s;
    }
    printf("%-8s %7d %14llu %14llu %7.3f %9.2f ms  (summed over threads)\n", "total", n_done, (ull)tot_gguf,
           (ull)tot_packed, tot_gguf ? (double)tot_packed / (double)tot_gguf : 0.0, tot_s * 1e3);
}

static void print_skipped(const item *items, size_t n) {
    int n_skipped = 0;
    for (size_t i = 0; i < n; i++) n_skipped += items[i].skip != NULL;
    printf("\nskipped %d tensors:\n", n_skipped);
    for (size_t i = 0; i < n; i++) {
        if (!items[i].skip) continue;
        char dims[96];
        dims_str(items[i].t, dims, sizeof dims);
        printf("  %-32s %-8s %-20s %s\n", items[i].name, type_name(items[i].type), dims, items[i].skip);
    }
}

/* --check's report, by (type, m, kernel); 1 if anything failed. */
static int print_checks(const job *j, const item *items, size_t n, int n_missing) {
    const options *o = j->o;
    check_row *rows = calloc(n * (MAX_CHECK_M + 1) + 1, sizeof *rows);
    if (!rows) die(o->path, "out of memory");
    size_t n_rows = 0;
    int n_checked = 0, n_bad = 0, n_differ = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const item *it = &items[i];
        if (!done_ok(it)) continue;
        n_checked++;
        n_bad += it->check_bad;
        n_differ += it->blocks_differ;
        for (int c = 0; c < it->n_checks; c++) {
            const check_result *cr = &it->checks[c];
            size_t r = 0;
            while (r < n_rows &&
                   !(rows[r].type == it->type && rows[r].m == cr->m && !strcmp(rows[r].kernel, cr->kernel)))
                r++;
            if (r == n_rows) rows[n_rows++] = (check_row){.type = it->type, .m = cr->m, .kernel = cr->kernel};
            check_row *row = &rows[r];
            row->checked++;
            row->bad += cr->bad;
            if (!row->worst_name || !(cr->rel_diff <= row->worst))
                row->worst = cr->rel_diff, row->worst_name = it->name;
            if (!(cr->rel_diff <= worst)) worst = cr->rel_diff;
        }
    }
    char ms[96] = "4 (and the tile threshold amx_min_m on AMX handles)";
    if (o->n_check_m)
        for (int c = 0, w = 0; c < o->n_check_m; c++)
            w += snprintf(ms + w, sizeof ms - (size_t)w, "%s%d", c ? ", " : "", o->check_m[c]);
    printf("\ncheck: one multiply per tensor and m, against the scalar reference; m = %s\n", ms);
    printf("%-8s %5s  %-32s %7s %16s  %s\n", "type", "m", "kernel", "checked", "worst rel diff", "worst tensor");
    for (size_t r = 0; r < n_rows; r++)
        printf("%-8s %5d  %-32s %7d %16.3g  %s%s\n", type_name(rows[r].type), rows[r].m, rows[r].kernel,
               rows[r].checked, rows[r].worst, rows[r].worst_name ? rows[r].worst_name : "-",
               rows[r].bad ? "  FAILED" : "");
    free(rows);
    printf("check: %d tensors %s and checked, worst relative difference %.3g (limit %g): %s\n", n_checked,
           j->mode == MODE_OPEN ? "opened" : "packed", worst, CHECK_LIMIT, n_bad ? "FAILED" : "ok");
    if (j->mode == MODE_OPEN) {
        if (n_differ) {
            printf("check: FAILED: the blocks of %d tensors differ from %s's:", n_differ, o->path);
            for (size_t i = 0; i < n; i++)
                if (items[i].blocks_differ) printf(" %s", items[i].name);
            printf("\n");
        } else {
            printf("check: the blocks of every image are %s's: ok\n", o->path);
        }
        if (n_missing) printf("check: FAILED: %d tensors that amxq-gguf packs are not in %s\n", n_missing, o->packed);
    }
    return n_bad || n_differ || n_missing;
}

/* Median of reps timed runs after one warm-up. */
static double time_gemm(const amx_weights *h, int64_t m, const float *x, float *y, int threads, int *reps_out) {
    const amx_gemm_opts go = {.size = sizeof go, .n_threads = threads};
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(h, &info);
    amx_gemm_q(h, m, x, info.k, y, info.n, &go);
    double t[15];
    int reps = 0;
    const double start = now_s();
    while (reps < 15 && (reps < 3 || now_s() - start < 0.5)) {
        const double t0 = now_s();
        amx_gemm_q(h, m, x, info.k, y, info.n, &go);
        t[reps++] = now_s() - t0;
    }
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            const double s = t[j];
            t[j] = t[j - 1];
            t[j - 1] = s;
        }
    *reps_out = reps;
    return t[reps / 2];
}

static void bench(const options *o, item *items, size_t n) {
    printf("\nbench: amx_gemm_q, %d threads, median of 3-15 runs per figure\n", o->threads);
    printf("%-8s %7s %7s  %-28s %10s %8s  %-28s %10s %8s\n", "type", "n", "k", "kernel m=1", "m=1 ms", "GB/s",
           "kernel m=512", "m=512 ms", "GOPS");
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *t = items[i].t;
        if (!done_ok(&items[i]) || items[i].n_expert) continue; /* matrices only; amxq-bench-experts times experts */
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = done_ok(&items[j]) && items[j].t->type == t->type && items[j].t->ne[0] == t->ne[0] &&
                   items[j].t->ne[1] == t->ne[1];
        if (seen) continue;
        const int64_t nn = t->ne[1], k = t->ne[0];
        amx_weights *h = NULL;
        const amx_pack_opts po = {.size = sizeof po, .isa = o->isa, .n_threads = o->threads};
        float *x = calloc((size_t)(512 * k), sizeof *x), *y = malloc((size_t)(512 * nn) * sizeof *y);
        if (!x || !y || amx_pack_weights((amx_type)t->type, nn, k, t->data, t->nbytes, &po, &h) != AMX_OK) {
            printf("%-8s %7lld %7lld  not run (out of memory or pack failed)\n", type_name(t->type), (long long)nn,
                   (long long)k);
            free(x);
            free(y);
            continue;
        }
        random_x(x, 512 * k, 12345);
        int r1, r512;
        const double t1 = time_gemm(h, 1, x, y, o->threads, &r1);
        const double t512 = time_gemm(h, 512, x, y, o->threads, &r512);
        printf("%-8s %7lld %7lld  %-28s %10.4f %8.2f  %-28s %10.3f %8.2f\n", type_name(t->type), (long long)nn,
               (long long)k, amx_weights_kernel(h, 1), t1 * 1e3, (double)t->nbytes / t1 / 1e9,
               amx_weights_kernel(h, 512), t512 * 1e3, 2.0 * 512 * (double)nn * (double)k / t512 / 1e9);
        amx_weights_free(h);
        free(x);
        free(y);
    }
}

/* The time to first multiply: one m = 1 multiply on the kept handle, right
 * after every tensor was packed or opened; the line to report, in line. */
static void first_multiply(const options *o, item *it, double t_start, char *line, size_t cap) {
    line[0] = 0;
    if (!it || !it->keep) return;
    const amx_gemm_opts go = {.size = sizeof go, .n_threads = o->threads};
    const int64_t rows = it->n_expert > 0 ? it->n_expert : 1; /* an expert tensor: the row to every expert */
    float *x = malloc((size_t)it->k * sizeof *x), *y = malloc((size_t)(rows * it->n) * sizeof *y);
    if (!x || !y) die(o->path ? o->path : o->packed, "out of memory");
    random_x(x, it->k, 42);
    const double t0 = now_s();
    const amx_status st = multiply(it->keep, it->n_expert, 1, x, it->k, y, it->n, &go);
    const double t1 = now_s();
    if (st != AMX_OK)
        snprintf(line, cap, "first multiply: m=1 on %s failed: %s\n", it->name, amx_status_str(st));
    else
        snprintf(line, cap,
                 "first multiply: m=1 on %s (%s, %lld x %lld, %s) took %.2f ms, done %.3f s after the start\n",
                 it->name, type_name(it->type), (long long)it->n, (long long)it->k, amx_gemm_kernel(it->keep, 1, &go),
                 (t1 - t0) * 1e3, t1 - t_start);
    amx_weights_free(it->keep);
    it->keep = NULL;
    free(x);
    free(y);
}

/* ---- writing a packed model file -------------------------------------------- */

typedef struct {
    char *tmp;    /* written here, renamed to --save's name when complete */
    int fd;
    uint8_t *map; /* the whole file, mapped for writing */
    uint64_t bytes, data_offset;
} out_file;

/* Lays out the file for the tensors to save (file order), creates it under a
 * temporary name with all its blocks allocated (so that no write into the
 * mapping can fail for want of space) and writes the header and index. */
static void save_create(const options *o, item *const *v, size_t n, out_file *of) {
    struct stat in, out;
    if (stat(o->save, &out) == 0 && stat(o->path, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
        die(o->save, "is the model file itself; refusing to replace it");
    uint64_t index_bytes = 0;
    for (size_t i = 0; i < n; i++) index_bytes += PK_ENTRY + v[i]->t->name_len;
    of->data_offset = (PK_HEADER + index_bytes + PK_ALIGN - 1) / PK_ALIGN * PK_ALIGN;
    uint64_t end = of->data_offset;
    for (size_t i = 0; i < n; i++) {
        v[i]->offset = end;
        end += (v[i]->packed_bytes + PK_ALIGN - 1) / PK_ALIGN * PK_ALIGN;
    }
    of->bytes = end;
    const size_t len = strlen(o->save) + 32;
    of->tmp = malloc(len);
    if (!of->tmp) die(o->save, "out of memory");
    snprintf(of->tmp, len, "%s.tmp%ld", o->save, (long)getpid());
    of->fd = open(of->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (of->fd < 0) die(o->save, strerror(errno));
    int err = posix_fallocate(of->fd, 0, (off_t)of->bytes);
    if (err == 0) {
        of->map = mmap(NULL, of->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, of->fd, 0);
        if (of->map == MAP_FAILED) err = errno;
    }
    if (err) {
        unlink(of->tmp);
        die(o->save, strerror(err));
    }
    pk_write_index(of->map, v, n, index_bytes, of->data_offset, of->bytes);
}

/* Closes the file and gives it its name; or removes it (ok = 0). 1 if saved. */
static int save_finish(const options *o, out_file *of, int ok) {
    munmap(of->map, of->bytes);
    if (close(of->fd) != 0 && ok) {
        fprintf(stderr, "amxq-gguf: %s: %s\n", o->save, strerror(errno));
        ok = 0;
    }
    if (ok && rename(of->tmp, o->save) != 0) {
        fprintf(stderr, "amxq-gguf: %s: %s\n", o->save, strerror(errno));
        ok = 0;
    }
    if (!ok) unlink(of->tmp);
    free(of->tmp);
    return ok;
}

/* ---- main ------------------------------------------------------------------- */

static const char synopsis[] =
    "usage: amxq-gguf [options] MODEL.gguf                       pack in memory and report\n"
    "       amxq-gguf [options] --save OUT.amxq MODEL.gguf       pack into one packed model file\n"
    "       amxq-gguf [options] PACKED.amxq                      open a packed file in place and report\n"
    "       amxq-gguf [options] --check PACKED.amxq MODEL.gguf   open it and check it against MODEL\n"
    "       amxq-gguf --list MODEL.gguf|PACKED.amxq\n"
    "       amxq-gguf --types\n"
    "       amxq-gguf --help\n";

static const char options_help[] =
    "\n"
    "Packs every 2-D tensor of a supported type in a GGUF model with amxq, in parallel, and\n"
    "reports per type what it packed and in how long; lists what it skipped. --save writes the\n"
    "packed tensors to one file (a small index, then each tensor's 64-byte aligned image) that\n"
    "later runs, and engines, map and use in place with amx_weights_open_memory.\n"
    "\n"
    "options:\n"
    "  --save OUT.amxq      write every packed tensor to OUT.amxq (written under a temporary\n"
    "                       name, then renamed)\n"
    "  --check              one multiply per tensor and m on random activations, against the\n"
    "                       scalar reference; the report names the kernel that ran. Exit 3 if\n"
    "                       a relative difference exceeds 1e-3. With PACKED.amxq MODEL.gguf:\n"
    "                       the packed file's tensors, opened in place, and their blocks\n"
    "                       compared with MODEL's\n"
    "  --check-m M[,M...]   activation rows for --check, up to 8 values from 1 to 4096\n"
    "                       (default 4, and on AMX handles their tile threshold amx_min_m,\n"
    "                       so that both the VNNI and the tile kernels run)\n"
    "  --no-verify          open packed images without their checksums (AMX_OPEN_NO_VERIFY)\n"
    "  --isa auto|scalar|avx512_vnni|amx\n"
    "                       kernel family to pack for (default auto: the best one here)\n"
    "  --threads N          packing / opening threads, 1 to 256 (default: the online CPUs)\n"
    "  --bench              time M=1 and M=512 per distinct (type, n, k) of MODEL.gguf\n"
    "  --progress           progress bar on stderr (default: when stderr is a terminal)\n"
    "  --no-progress        no progress bar\n"
    "  --list               list the tensors (name, type, dims, file offset, bytes) and exit\n"
    "  --types              list the ggml types the reader knows and exit\n"
    "  -h, --help           this text\n"
    "\n"
    "Without --check, packing in memory and opening a packed file end with one m=1 multiply\n"
    "on the first tensor and report when it returned: the time to first multiply.\n"
    "Exit status: 0 ok, 1 a bad or unreadable file, 2 bad usage, 3 --check found a difference.\n";

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "amxq-gguf: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: amxq-gguf [options] [--save OUT.amxq | --check PACKED.amxq] MODEL.gguf | PACKED.amxq\n"
                    "       (amxq-gguf --help lists every option)\n");
    exit(2);
}

static int parse_int(const char *opt, const char *s, int lo, int hi) {
    char *end;
    errno = 0;
    const long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || errno || *end || v < lo || v > hi)
        usage_error("%s takes a number from %d to %d%s%s", opt, lo, hi, s ? ", not " : "", s ? s : "");
    return (int)v;
}

static void parse_check_m(options *o, const char *s) {
    if (!s) usage_error("--check-m takes up to %d numbers, M[,M...]", MAX_CHECK_M);
    o->n_check_m = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char tok[16];
        if (o->n_check_m == MAX_CHECK_M || len >= sizeof tok)
            usage_error("--check-m takes up to %d numbers from 1 to %d, M[,M...], not %s", MAX_CHECK_M,
                        MAX_CHECK_ROWS, s);
        memcpy(tok, p, len);
        tok[len] = 0;
        o->check_m[o->n_check_m++] = parse_int("--check-m", tok, 1, MAX_CHECK_ROWS);
        if (!comma) break;
        p = comma + 1;
    }
}

static options parse_args(int argc, char **argv) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {.isa = AMX_ISA_AUTO, .threads = cpus > 0 ? (int)(cpus < MAX_THREADS ? cpus : MAX_THREADS) : 1,
                 .progress = isatty(2)};
    const char *files[2];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(synopsis, stdout);
            fputs(options_help, stdout);
            exit(0);
        } else if (!strcmp(a, "--check")) o.check = 1;
        else if (!strcmp(a, "--bench")) o.bench = 1;
        else if (!strcmp(a, "--progress")) o.progress = 1;
        else if (!strcmp(a, "--no-progress")) o.progress = 0;
        else if (!strcmp(a, "--list")) o.list = 1;
        else if (!strcmp(a, "--types")) o.types = 1;
        else if (!strcmp(a, "--no-verify")) o.no_verify = 1;
        else if (!strcmp(a, "--threads")) o.threads = parse_int(a, next, 1, MAX_THREADS), i++;
        else if (!strcmp(a, "--check-m")) parse_check_m(&o, next), i++;
        else if (!strcmp(a, "--save")) {
            if (!next || !*next) usage_error("--save needs the name of the file to write");
            o.save = next;
            i++;
        } else if (!strcmp(a, "--isa")) {
            int found = 0;
            for (int isa = AMX_ISA_AUTO; isa <= AMX_ISA_AMX && next; isa++)
                if (!strcmp(next, amx_isa_name((amx_isa)isa))) o.isa = (amx_isa)isa, found = 1;
            if (!found)
                usage_error("--isa takes auto, scalar, avx512_vnni or amx%s%s", next ? ", not " : "", next ? next : "");
            i++;
        } else if (a[0] == '-' && a[1]) usage_error("unknown option %s", a);
        else if (n_files == 2) usage_error("too many files (%s)", a);
        else files[n_files++] = a;
    }
    if (o.types) return o;
    if (n_files == 0) usage_error("no model file given");
    if (n_files == 2) {
        if (!o.check || o.save || o.list) usage_error("two files are for --check PACKED.amxq MODEL.gguf");
        o.packed = files[0];
    }
    o.path = files[n_files - 1];
    return o;
}

static void list_types(void) {
    size_t n;
    const gguf_type_info *t = gguf_types(&n);
    for (size_t i = 0; i < n; i++)
        printf("%u %s %u %u %s\n", t[i].id, t[i].name, t[i].block, t[i].bytes,
               amx_type_block_size((amx_type)t[i].id) ? "supported" : "-");
}

static void list_tensors(const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        char dims[96];
        dims_str(t, dims, sizeof dims);
        printf("%.*s\t%s\t%s\t%llu\t%llu\n", (int)t->name_len, t->name, type_name(t->type), dims,
               (ull)(f->data_offset + t->offset), (ull)t->nbytes);
    }
}

/* The packed file's index, in --list's form: dims as GGUF has them (k, n),
 * the image's offset and size. */
static void list_packed(const pk_file *pk) {
    for (uint64_t i = 0; i < pk->n_tensors; i++) {
        const pk_entry *e = &pk->e[i];
        printf("%.*s\t%s\t[%lld, %lld]\t%llu\t%llu\n", (int)e->name_len, e->name, type_name(e->type), (long long)e->k,
               (long long)e->n, (ull)e->offset, (ull)e->bytes);
    }
}

/* Why amxq-gguf does not pack a GGUF tensor; NULL if it does. */
static const char *why_skip(const gguf_tensor *t, char *buf, size_t cap) {
    if (amx_type_block_size((amx_type)t->type) == 0) {
        snprintf(buf, cap, "type %s not supported", type_name(t->type));
        return buf;
    }
    if (t->n_dims < 2 || (t->n_dims > 3 && t->ne[3] != 1)) {
        snprintf(buf, cap, "%u-D, not a matrix or an expert tensor", t->n_dims);
        return buf;
    }
    if (t->ne[0] == 0 || t->ne[1] == 0) return "empty";
    return NULL;
}

static int item_name_cmp(const void *a, const void *b) {
    const gguf_tensor *x = (*(item *const *)a)->t, *y = (*(item *const *)b)->t;
    if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
    return memcmp(x->name, y->name, x->name_len);
}

/* --check PACKED MODEL: gives each GGUF tensor its image, by name. A tensor
 * of the packed file that MODEL lacks, has with another type or shape, or
 * would not pack, ends the run (the files do not belong together); a tensor
 * MODEL has and the packed file lacks is a failed check. The missing count. */
static int match_entries(const options *o, const pk_file *pk, item *items, size_t n) {
    item **by_name = malloc((n ? n : 1) * sizeof *by_name);
    if (!by_name) die(o->packed, "out of memory");
    for (size_t i = 0; i < n; i++) by_name[i] = &items[i];
    qsort(by_name, n, sizeof *by_name, item_name_cmp);
    char msg[512], nb[80];
    for (uint64_t i = 0; i < pk->n_tensors; i++) {
        const pk_entry *e = &pk->e[i];
        const gguf_tensor key = {.name = e->name, .name_len = e->name_len};
        const item probe = {.t = &key}, *pp = &probe;
        item **hit = bsearch(&pp, by_name, n, sizeof *by_name, item_name_cmp);
        gguf_printable(e->name, e->name_len, nb, sizeof nb);
        if (!hit) {
            snprintf(msg, sizeof msg, "tensor %s is not in %s", nb, o->path);
            die(o->packed, msg);
        }
        item *it = *hit;
        if (it->skip) {
            snprintf(msg, sizeof msg, "tensor %s is not one amxq-gguf packs (in %s: %s)", nb, o->path, it->skip);
            die(o->packed, msg);
        }
        if (it->type != e->type || it->n != e->n || it->k != e->k) {
            snprintf(msg, sizeof msg, "tensor %s is %s %lld x %lld here and %s %lld x %lld in %s", nb,
                     type_name(e->type), (long long)e->n, (long long)e->k, type_name(it->type), (long long)it->n,
                     (long long)it->k, o->path);
            die(o->packed, msg);
        }
        it->e = e;
        it->work_bytes = e->bytes;
    }
    free(by_name);
    int missing = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].skip && !items[i].e) {
            items[i].skip = "not in the packed file";
            missing++;
        }
    return missing;
}

int main(int argc, char **argv) {
    const double t_start = now_s();
    options o = parse_args(argc, argv);
    if (o.types) {
        list_types();
        return 0;
    }

    size_t len = 0, pk_len = 0;
    const uint8_t *map = NULL, *pk_map = NULL;
    if (o.packed) pk_map = map_file(o.packed, &pk_len);
    map = map_file(o.path, &len);
    if (!o.packed && len >= 8 && memcmp(map, PK_MAGIC, 8) == 0) { /* the one file is a packed one */
        o.packed = o.path, pk_map = map, pk_len = len;
        o.path = NULL, map = NULL, len = 0;
        if (o.check) usage_error("--check of a packed file needs its model: --check PACKED.amxq MODEL.gguf");
        if (o.save) usage_error("--save packs MODEL.gguf; %s is a packed file already", o.packed);
        if (o.bench) usage_error("--bench needs MODEL.gguf");
    }
    const mode md = o.packed ? MODE_OPEN : o.save ? MODE_SAVE : MODE_PACK;
    const char *why;
    if (md != MODE_OPEN && o.isa != AMX_ISA_AUTO && !amx_cpu_supports(o.isa, &why)) {
        fprintf(stderr, "amxq-gguf: --isa %s: not available here: %s\n", amx_isa_name(o.isa), why);
        return 1;
    }

    char err[256];
    pk_file pk = {0};
    gguf_file f = {0};
    if (o.packed && pk_parse(pk_map, pk_len, &pk, err, sizeof err) != 0) {
        if (pk_len >= 4 && memcmp(pk_map, "GGUF", 4) == 0) /* the two files the wrong way round */
            snprintf(err, sizeof err, "a GGUF file, not a packed one (--check PACKED.amxq MODEL.gguf)");
        die(o.packed, err);
    }
    if (o.path) {
        if (len < 24) die(o.path, "too short to be a GGUF file");
        if (gguf_parse(map, len, &f, err, sizeof err) != 0) die(o.path, err);
    }
    if (o.list) {
        if (o.path) list_tensors(&f);
        else list_packed(&pk);
        gguf_free(&f);
        pk_free(&pk);
        return 0;
    }

    /* one item per GGUF tensor; per index entry when only a packed file is given */
    const size_t n = o.path ? (size_t)f.n_tensors : (size_t)pk.n_tensors;
    item *items = calloc(n ? n : 1, sizeof *items);
    item **order = calloc(n ? n : 1, sizeof *order);
    if (!items || !order) die(o.path ? o.path : o.packed, "out of memory");
    for (size_t i = 0; i < n; i++) {
        item *it = &items[i];
        if (o.path) {
            const gguf_tensor *t = &f.tensors[i];
            *it = (item){.t = t, .index = i, .type = t->type, .n = t->ne[1], .k = t->ne[0], .work_bytes = t->nbytes,
                         .n_expert = t->n_dims >= 3 && t->ne[2] > 1 ? (int64_t)t->ne[2] : 0};
            gguf_printable(t->name, t->name_len, it->name, sizeof it->name);
            it->skip = why_skip(t, it->skip_buf, sizeof it->skip_buf);
        } else {
            const pk_entry *e = &pk.e[i];
            *it = (item){.e = e, .index = i, .type = e->type, .n = e->n, .k = e->k, .work_bytes = e->bytes};
            gguf_printable(e->name, e->name_len, it->name, sizeof it->name);
        }
    }
    const int n_missing = o.packed && o.path ? match_entries(&o, &pk, items, n) : 0;

    job j = {.o = &o, .mode = md, .pk_map = pk_map, .mu = PTHREAD_MUTEX_INITIALIZER};
    for (size_t i = 0; i < n; i++) {
        item *it = &items[i];
        if (it->skip) continue;
        if (md == MODE_SAVE) { /* the image size, for the file's layout */
            const amx_pack_opts po = {.size = sizeof po, .isa = o.isa, .n_threads = 1};
            size_t bytes, align;
            const amx_status st =
                it->n_expert ? amx_pack_experts_size((amx_type)it->type, it->n_expert, it->n, it->k, &po, &bytes, &align)
                             : amx_pack_size((amx_type)it->type, it->n, it->k, &po, &bytes, &align);
            if (st != AMX_OK || align > PK_ALIGN) {
                snprintf(it->skip_buf, sizeof it->skip_buf, "amx_pack_size: %s",
                         st != AMX_OK ? amx_status_str(st) : "alignment beyond 64 bytes");
                it->skip = it->skip_buf;
                continue;
            }
            it->packed_bytes = bytes;
        }
        order[j.n_items++] = it;
        j.bytes_total += it->work_bytes;
    }
    j.items = order;
    if (!o.check && md != MODE_SAVE && j.n_items) j.first = order[0];

    out_file of = {0};
    if (md == MODE_SAVE) {
        save_create(&o, order, j.n_items, &of);
        j.out = of.map;
    }
    const size_t n_saved = j.n_items;
    const double wall = run_job(&j);
    char first_line[512];
    first_multiply(&o, (item *)j.first, t_start, first_line, sizeof first_line);

    int n_fail = 0;
    for (size_t i = 0; i < n; i++) n_fail += items[i].fail != NULL;
    int saved = 0;
    if (md == MODE_SAVE) saved = save_finish(&o, &of, n_fail == 0);

    print_types(&j, o.path ? &f : NULL, o.packed ? &pk : NULL, items, n, wall);
    if (o.path) print_skipped(items, n);
    if (saved)
        printf("\nsaved %zu tensors to %s: %llu bytes, images from offset %llu\n", n_saved, o.save, (ull)of.bytes,
               (ull)of.data_offset);
    int rc = 0;
    if (o.check && print_checks(&j, items, n, n_missing)) rc = 3;
    if (first_line[0]) printf("\n%s", first_line);
    if (o.bench && o.path) bench(&o, items, n);
    fflush(stdout);
    for (size_t i = 0; i < n; i++)
        if (items[i].fail)
            fprintf(stderr, "amxq-gguf: %s: tensor %s: %s\n", md == MODE_SAVE ? o.save : o.packed, items[i].name,
                    items[i].fail);
    if (n_fail || (md == MODE_SAVE && !saved)) rc = 1;

    free(order);
    free(items);
    gguf_free(&f);
    pk_free(&pk);
    if (map) munmap((void *)map, len);
    if (pk_map) munmap((void *)pk_map, pk_len);
    return rc;
}
