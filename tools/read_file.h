/* The whole of a small file in a malloc'd buffer, for the fuzz targets'
 * replay modes (tools/gguf_fuzz.c, test/fuzz_image.c). Returns NULL (perror
 * says why) if it cannot be opened or memory runs out; *len gets its size. */
#ifndef AMXQ_TOOLS_READ_FILE_H
#define AMXQ_TOOLS_READ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint8_t *amxq_read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, fp)) > 0;)
        if ((n += r) == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown) free(buf);
            buf = grown;
        }
    fclose(fp);
    if (!buf) perror(path);
    *len = n;
    return buf;
}

#endif
