/* A small streaming JSON writer: enough for the benchmarks' reports, with
 * string escaping and non-finite numbers written as null (JSON has no NaN). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void indent(json_w *j) {
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
}

static void put_escaped(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Separator, indentation and key before a value. */
static void head(json_w *j, const char *key) {
    if (j->depth > 0) {
        if (!j->first[j->depth]) fputc(',', j->f);
        j->first[j->depth] = 0;
        indent(j);
    }
    if (key) {
        put_escaped(j->f, key);
        fputs(": ", j->f);
    }
}

void json_begin(json_w *j, FILE *f) {
    j->f = f;
    j->path = j->prog = NULL;
    j->depth = 0;
    j->first[0] = 1;
}

int json_open(json_w *j, const char *path, const char *prog) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        return 0;
    }
    json_begin(j, f);
    j->path = path;
    j->prog = prog;
    return 1;
}

int json_close(json_w *j) {
    const int ok = !ferror(j->f);
    if (fclose(j->f) == 0 && ok) return 1;
    fprintf(stderr, "%s: could not write all of %s\n", j->prog ? j->prog : "json", j->path ? j->path : "the JSON file");
    return 0;
}

static void open_container(json_w *j, const char *key, char c) {
    head(j, key);
    fputc(c, j->f);
    if (j->depth + 1 >= (int)(sizeof j->first / sizeof j->first[0])) abort(); /* deeper than any report */
    j->depth++;
    j->first[j->depth] = 1;
    j->closer[j->depth] = c == '{' ? '}' : ']';
}

void json_obj(json_w *j, const char *key) { open_container(j, key, '{'); }
void json_arr(json_w *j, const char *key) { open_container(j, key, '['); }

void json_end(json_w *j) {
    const int empty = j->first[j->depth];
    const char c = j->closer[j->depth];
    j->depth--;
    if (!empty) indent(j);
    fputc(c, j->f);
    if (j->depth == 0) fputc('\n', j->f);
}

void json_str(json_w *j, const char *key, const char *v) {
    head(j, key);
    if (v)
        put_escaped(j->f, v);
    else
        fputs("null", j->f);
}

void json_num(json_w *j, const char *key, double v) {
    head(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.6g", v);
    else
        fputs("null", j->f);
}

void json_int(json_w *j, const char *key, int64_t v) {
    head(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void json_bool(json_w *j, const char *key, int v) {
    head(j, key);
    fputs(v ? "true" : "false", j->f);
}

void json_null(json_w *j, const char *key) {
    head(j, key);
    fputs("null", j->f);
}
