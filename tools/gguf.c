/*
 * GGUF reader; see gguf.h. The layout (all little-endian):
 *
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x   { string key, u32 value_type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to `alignment` (general.alignment, default 32), then the data
 *   section; each tensor's bytes start at data_offset + offset.
 *
 * A string is u64 length + bytes; an array is u32 element type, u64 count,
 * then the elements. Work is linear in the file size: every count is checked
 * against the bytes left before anything is allocated or looped over, array
 * nesting is bounded, and the tensor table grows only as entries are read.
 */
#include "gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32
#define MAX_NAME_LEN 1024     /* ggml's own limit is 63; longer is not a real file */
#define MAX_ARRAY_DEPTH 8
#define MAX_ALIGNMENT (1u << 30)

/* ggml's type table (ggml.c type_traits); removed ids (4, 5, 31-33, 36-38) are absent. */
static const gguf_type_info k_types[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},       {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},       {9, "Q8_1", 32, 36},       {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},    {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},   {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},    {21, "IQ3_S", 256, 110},   {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136},  {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},         {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},    {39, "MXFP4", 32, 17},     {40, "NVFP4", 64, 36},
    {41, "Q1_0", 128, 18},
};

const gguf_type_info *gguf_types(size_t *count) {
    *count = sizeof k_types / sizeof k_types[0];
    return k_types;
}

const gguf_type_info *gguf_type(uint32_t id) {
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].id == id) return &k_types[i];
    return NULL;
}

/* Metadata value types. */
enum { V_UINT8, V_INT8, V_UINT16, V_INT16, V_UINT32, V_INT32, V_FLOAT32, V_BOOL, V_STRING, V_ARRAY,
       V_UINT64, V_INT64, V_FLOAT64, V_COUNT };
static const uint8_t k_value_size[V_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    char *err;
    size_t err_len;
} reader;

static int fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(reader *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->err_len, fmt, ap);
    va_end(ap);
    return -1;
}

const char *gguf_printable(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0, i = 0;
    for (; i < n && o + 4 < cap; i++) buf[o++] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    if (i < n) buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    buf[o] = 0;
    return buf;
}

static int need(reader *r, uint64_t n, const char *what) {
    if (n > r->len - r->pos)
        return fail(r, "truncated: %s at byte %zu needs %llu bytes, the file has %zu", what, r->pos,
                    (unsigned long long)n, r->len);
    return 0;
}

static int rd_u32(reader *r, uint32_t *v, const char *what) {
    if (need(r, 4, what)) return -1;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int rd_u64(reader *r, uint64_t *v, const char *what) {
    if (need(r, 8, what)) return -1;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return 0;
}

static int rd_str(reader *r, const char **s, uint64_t *n, const char *what) {
    if (rd_u64(r, n, what) || need(r, *n, what)) return -1;
    *s = (const char *)r->p + r->pos;
    r->pos += (size_t)*n;
    return 0;
}

static int skip_value(reader *r, uint32_t type, int depth) {
    if (type >= V_COUNT) return fail(r, "metadata value type %u at byte %zu is not a GGUF type", type, r->pos - 4);
    if (type == V_STRING) {
        const char *s;
        uint64_t n;
        return rd_str(r, &s, &n, "metadata string");
    }
    if (type != V_ARRAY) {
        if (need(r, k_value_size[type], "metadata value")) return -1;
        r->pos += k_value_size[type];
        return 0;
    }
    if (depth >= MAX_ARRAY_DEPTH) return fail(r, "metadata arrays nested deeper than %d", MAX_ARRAY_DEPTH);
    uint32_t et;
    uint64_t count;
    if (rd_u32(r, &et, "array type") || rd_u64(r, &count, "array length")) return -1;
    if (et >= V_COUNT) return fail(r, "metadata array element type %u is not a GGUF type", et);
    /* the smallest element: a fixed-size value, an empty string (8 bytes) or an empty array (12) */
    const uint64_t min_size = et == V_STRING ? 8 : et == V_ARRAY ? 12 : k_value_size[et];
    if (count > (r->len - r->pos) / min_size)
        return fail(r, "metadata array of %llu elements at byte %zu cannot fit in the file",
                    (unsigned long long)count, r->pos);
    if (et != V_STRING && et != V_ARRAY) {
        r->pos += (size_t)(count * min_size);
        return 0;
    }
    for (uint64_t i = 0; i < count; i++)
        if (skip_value(r, et, depth + 1)) return -1;
    return 0;
}

static int key_is(const char *k, uint64_t n, const char *want) { return n == strlen(want) && !memcmp(k, want, n); }

/* A string value copied (printable, truncated) into dst; any other type is skipped. */
static int read_string_into(reader *r, uint32_t type, char *dst, size_t cap) {
    if (type != V_STRING) return skip_value(r, type, 0);
    const char *s;
    uint64_t n;
    if (rd_str(r, &s, &n, "metadata string")) return -1;
    gguf_printable(s, (size_t)n, dst, cap);
    return 0;
}

static int read_kv(reader *r, gguf_file *f) {
    const char *key;
    uint64_t klen;
    uint32_t type;
    if (rd_str(r, &key, &klen, "metadata key") || rd_u32(r, &type, "metadata value type")) return -1;
    if (key_is(key, klen, "general.alignment")) {
        uint32_t a;
        if (type != V_UINT32) return fail(r, "general.alignment has value type %u, GGUF requires uint32", type);
        if (rd_u32(r, &a, "general.alignment")) return -1;
        if (a == 0 || (a & (a - 1)) != 0 || a > MAX_ALIGNMENT)
            return fail(r, "general.alignment %u is not a power of two up to 2^30", a);
        f->alignment = a;
        return 0;
    }
    if (key_is(key, klen, "general.architecture")) return read_string_into(r, type, f->arch, sizeof f->arch);
    if (key_is(key, klen, "general.name")) return read_string_into(r, type, f->model_name, sizeof f->model_name);
    return skip_value(r, type, 0);
}

/* a * b into *out unless it exceeds INT64_MAX. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > (uint64_t)INT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

static int read_tensor_info(reader *r, gguf_tensor *t, uint64_t index) {
    const char *name;
    uint64_t nlen;
    char nb[80];
    if (rd_str(r, &name, &nlen, "tensor name")) return -1;
    if (nlen > MAX_NAME_LEN)
        return fail(r, "tensor %llu has a %llu-byte name", (unsigned long long)index, (unsigned long long)nlen);
    t->name = name;
    t->name_len = (uint32_t)nlen;
    gguf_printable(name, (size_t)nlen, nb, sizeof nb);
    if (rd_u32(r, &t->n_dims, "tensor dimension count")) return -1;
    if (t->n_dims > GGUF_MAX_DIMS) return fail(r, "tensor %s has %u dimensions (at most 4)", nb, t->n_dims);
    /* ggml writes 1 to 4; 0 is what zero bytes (padding read as one more
     * tensor info, e.g. after a wrong tensor count) look like */
    if (t->n_dims == 0) return fail(r, "tensor %s has 0 dimensions (at least 1)", nb);
    uint64_t elems = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < t->n_dims && rd_u64(r, &ne, "tensor dimensions")) return -1;
        if (ne > (uint64_t)INT64_MAX || !mul_ok(elems, ne, &elems))
            return fail(r, "tensor %s has absurd dimensions (dimension %d is %llu)", nb, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    if (rd_u32(r, &t->type, "tensor type") || rd_u64(r, &t->offset, "tensor offset")) return -1;
    const gguf_type_info *ti = gguf_type(t->type);
    if (!ti) return fail(r, "tensor %s has unknown type %u", nb, t->type);
    if (t->ne[0] % ti->block != 0)
        return fail(r, "tensor %s: row length %lld is not a multiple of %s's block size %u", nb,
                    (long long)t->ne[0], ti->name, ti->block);
    if (!mul_ok(elems / ti->block, ti->bytes, &t->nbytes))
        return fail(r, "tensor %s has an absurd size (%llu elements)", nb, (unsigned long long)elems);
    return 0;
}

static int name_cmp(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
    return memcmp(x->name, y->name, x->name_len);
}

/* Two tensors with one name: ggml refuses such files, and so do we. */
static int check_unique_names(reader *r, gguf_file *f) {
    if (f->n_tensors < 2) return 0;
    const gguf_tensor **idx = malloc((size_t)f->n_tensors * sizeof *idx);
    if (!idx) return fail(r, "out of memory");
    for (uint64_t i = 0; i < f->n_tensors; i++) idx[i] = &f->tensors[i];
    qsort(idx, (size_t)f->n_tensors, sizeof *idx, name_cmp);
    int rc = 0;
    for (uint64_t i = 1; i < f->n_tensors && rc == 0; i++)
        if (name_cmp(&idx[i - 1], &idx[i]) == 0) {
            char nb[80];
            rc = fail(r, "tensor name %s appears twice",
                      gguf_printable(idx[i]->name, idx[i]->name_len, nb, sizeof nb));
        }
    free(idx);
    return rc;
}

static int parse(reader *r, gguf_file *f) {
    if (r->len < 4 || memcmp(r->p, "GGUF", 4) != 0) return fail(r, "not a GGUF file (no GGUF magic)");
    r->pos = 4;
    if (rd_u32(r, &f->version, "version")) return -1;
    if (f->version == 1) return fail(r, "GGUF version 1 is not supported (only 2 and 3)");
    if (f->version != 2 && f->version != 3)
        return fail(r, "unsupported GGUF version %u (only 2 and 3, little-endian)", f->version);
    if (rd_u64(r, &f->n_tensors, "tensor count") || rd_u64(r, &f->n_kv, "metadata count")) return -1;
    /* the smallest tensor info is 24 bytes, the smallest key/value 13 */
    if (f->n_tensors > (r->len - r->pos) / 24)
        return fail(r, "tensor count %llu cannot fit in a %zu-byte file", (unsigned long long)f->n_tensors, r->len);
    if (f->n_kv > (r->len - r->pos) / 13)
        return fail(r, "metadata count %llu cannot fit in a %zu-byte file", (unsigned long long)f->n_kv, r->len);
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (read_kv(r, f)) return -1;

    uint64_t cap = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        if (i == cap) {
            cap = cap ? 2 * cap : 64;
            gguf_tensor *t = realloc(f->tensors, (size_t)cap * sizeof *t);
            if (!t) return fail(r, "out of memory");
            f->tensors = t;
        }
        if (read_tensor_info(r, &f->tensors[i], i)) return -1;
    }
    if (check_unique_names(r, f)) return -1;

    const uint64_t a = f->alignment;
    f->data_offset = (r->pos + a - 1) / a * a; /* pos < 2^63 and a <= 2^30: no overflow */
    const uint64_t data_len = f->data_offset <= r->len ? r->len - f->data_offset : 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char nb[80];
        gguf_printable(t->name, t->name_len, nb, sizeof nb);
        if (t->offset % a != 0)
            return fail(r, "tensor %s: data offset %llu is not a multiple of the alignment %llu", nb,
                        (unsigned long long)t->offset, (unsigned long long)a);
        if (t->offset > data_len || t->nbytes > data_len - t->offset)
            return fail(r, "tensor %s: data [%llu, +%llu) lies beyond the end of the file (%llu data bytes)", nb,
                        (unsigned long long)t->offset, (unsigned long long)t->nbytes, (unsigned long long)data_len);
        t->data = t->nbytes ? r->p + f->data_offset + t->offset : r->p;
    }
    return 0;
}

int gguf_parse(const uint8_t *buf, size_t len, gguf_file *f, char *err, size_t err_len) {
    memset(f, 0, sizeof *f);
    reader r = {buf, len, 0, err, err_len};
    if (err_len) err[0] = 0;
    if (parse(&r, f) != 0) {
        gguf_free(f);
        return -1;
    }
    return 0;
}

void gguf_free(gguf_file *f) {
    free(f->tensors);
    f->tensors = NULL;
}
