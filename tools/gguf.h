/*
 * A small, strict GGUF (v2, v3) reader over a byte buffer (usually an mmap'd
 * file): header, metadata (skipped, except the few keys the tool shows),
 * tensor infos, alignment and the data offset. Every length, count, offset
 * and size is checked against the buffer before it is used, so any input,
 * however corrupt, gives either a parsed file whose tensors all lie inside
 * the buffer or a one-line error; the parser never reads outside the buffer.
 */
#ifndef AMXQ_TOOLS_GGUF_H
#define AMXQ_TOOLS_GGUF_H

#include <stddef.h>
#include <stdint.h>

#define GGUF_MAX_DIMS 4

/* A ggml tensor type: name, elements per block, bytes per block. */
typedef struct {
    uint32_t id;
    const char *name;
    uint32_t block;
    uint32_t bytes;
} gguf_type_info;

/* NULL for ids ggml does not define (or no longer defines). */
const gguf_type_info *gguf_type(uint32_t id);
/* The table itself, for listings and tests. */
const gguf_type_info *gguf_types(size_t *count);

typedef struct {
    const char *name; /* points into the buffer; not NUL-terminated */
    uint32_t name_len;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
    uint32_t type;
    uint64_t offset;           /* from the start of the data section */
    uint64_t nbytes;
    const uint8_t *data;       /* inside the buffer: data[0 .. nbytes) */
} gguf_tensor;

typedef struct {
    uint32_t version;
    uint64_t n_kv;
    uint64_t n_tensors;
    uint64_t alignment;
    uint64_t data_offset;      /* from the start of the buffer */
    char arch[64];             /* general.architecture, "" when absent */
    char model_name[64];       /* general.name, "" when absent */
    gguf_tensor *tensors;      /* n_tensors entries (malloc'd) */
} gguf_file;

/* Parses buf[0 .. len). Returns 0 and fills *f (free it with gguf_free), or
 * -1 with a one-line reason (no newline) in err. */
int gguf_parse(const uint8_t *buf, size_t len, gguf_file *f, char *err, size_t err_len);
void gguf_free(gguf_file *f);
/* A name from a file, fit for a message: printable ASCII only (other bytes
 * as '?'), cut to fit cap bytes with "..."; returns buf. */
const char *gguf_printable(const char *s, size_t n, char *buf, size_t cap);

#endif
