/*
 * Fuzz target for the GGUF parser (libFuzzer's entry point). Beyond "no
 * crash, no out-of-bounds read" (the sanitizers' job) it checks the parser's
 * promises: a failure leaves a one-line, non-empty message; a success leaves
 * every tensor's bytes inside the input, which it reads to prove it.
 *
 * Built with -DGGUF_REPLAY_MAIN it gets a main() that runs the target over
 * the files named on the command line (for compilers without libFuzzer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the bytes read from each tensor end here, so the reads cannot be optimized away */
static volatile unsigned g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file f;
    char err[256];
    if (gguf_parse(data, size, &f, err, sizeof err) != 0) {
        if (err[0] == 0 || strchr(err, '\n')) abort();
        return 0;
    }
    unsigned sum = 0;
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const gguf_tensor *t = &f.tensors[i];
        if (t->data < data || t->nbytes > size || (size_t)(t->data - data) > size - t->nbytes) abort();
        if (t->nbytes) sum += t->data[0] + t->data[t->nbytes - 1];
        if (t->name_len) sum += (unsigned char)t->name[0] + (unsigned char)t->name[t->name_len - 1];
    }
    gguf_free(&f);
    g_sink += sum;
    return 0;
}

#ifdef GGUF_REPLAY_MAIN
#include "read_file.h"

int main(int argc, char **argv) {
    int parsed = 0, refused = 0;
    for (int i = 1; i < argc; i++) {
        size_t n;
        uint8_t *buf = amxq_read_file(argv[i], &n);
        if (!buf) return 2;
        /* an exact-size copy, so any over-read leaves the allocation */
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        free(buf);
        gguf_file f;
        char err[256];
        if (gguf_parse(exact, n, &f, err, sizeof err) == 0) {
            parsed++;
            gguf_free(&f);
        } else {
            refused++;
        }
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    printf("%d files: %d parsed, %d refused\n", argc - 1, parsed, refused);
    return 0;
}
#endif
