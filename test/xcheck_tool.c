/*
 * Exposes the library's decoders and reference activation quantizers on
 * stdin/stdout for cross-checks written in Python against gguf-py:
 *
 *   xcheck_tool dequantize TYPE    GGUF blocks in, float32 values out
 *   xcheck_tool quantize FMT       float32 values in, blocks out; FMT is
 *                                  q8_0, q8_1 or q8_K (ggml's block layouts)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amxq.h"
#include "../src/formats.h"
#include "../src/ref/ref.h"

static unsigned char *read_all(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        const size_t r = fread(buf + n, 1, cap - n, stdin);
        if (r == 0) break;
        n += r;
    }
    *len = n;
    return buf;
}

static amx_type type_by_name(const char *s) {
    const amx_type t = amx_type_from_name(s);
    if (t != (amx_type)-1) return t;
    fprintf(stderr, "unknown type %s\n", s);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s dequantize TYPE | quantize q8_0|q8_1|q8_K|f16|bf16\n", argv[0]);
        return 2;
    }
    size_t len;
    unsigned char *in = read_all(&len);
    if (!strcmp(argv[1], "dequantize")) {
        const amx_type t = type_by_name(argv[2]);
        const size_t bb = (size_t)amx_type_block_bytes(t), bs = (size_t)amx_type_block_size(t);
        if (len % bb) {
            fprintf(stderr, "input is not whole blocks\n");
            return 1;
        }
        const int64_t n = (int64_t)(len / bb * bs);
        float *out = malloc((size_t)n * sizeof(float) + 1);
        const amx_status st = amx_dequantize(t, n, in, len, out);
        if (st != AMX_OK) {
            fprintf(stderr, "amx_dequantize: %s\n", amx_status_str(st));
            return 1;
        }
        fwrite(out, sizeof(float), (size_t)n, stdout);
        free(out);
    } else if (!strcmp(argv[1], "quantize")) {
        const int64_t n = (int64_t)(len / sizeof(float));
        const float *x = (const float *)in;
        void *out;
        size_t bytes;
        if (!strcmp(argv[2], "q8_0") && n % 32 == 0) {
            bytes = (size_t)(n / 32) * sizeof(block_q8_0);
            out = malloc(bytes + 1);
            amxq_ref_quantize_row_q8_0(x, out, n);
        } else if (!strcmp(argv[2], "q8_1") && n % 32 == 0) {
            bytes = (size_t)(n / 32) * sizeof(block_q8_1);
            out = malloc(bytes + 1);
            amxq_ref_quantize_row_q8_1(x, out, n);
        } else if (!strcmp(argv[2], "q8_K") && n % 256 == 0) {
            bytes = (size_t)(n / 256) * sizeof(block_q8_K);
            out = malloc(bytes + 1);
            amxq_ref_quantize_row_q8_K(x, out, n);
        } else if (!strcmp(argv[2], "f16") || !strcmp(argv[2], "bf16")) {
            /* F16 / BF16 weights' activations: each value rounded to the type */
            bytes = (size_t)n * 2;
            out = malloc(bytes + 1);
            if (argv[2][0] == 'f') amxq_ref_quantize_row_f16(x, out, n);
            else amxq_ref_quantize_row_bf16(x, out, n);
        } else {
            fprintf(stderr, "bad format or length\n");
            return 1;
        }
        fwrite(out, 1, bytes, stdout);
        free(out);
    } else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        return 2;
    }
    free(in);
    return 0;
}
