/*
 * Comma lists on the command line, and the weight types as the library's
 * table lists them (amx_type_count / amx_type_at), so a type added there is
 * accepted by --types, named in the usage texts and included in "all"
 * without an edit here.
 */
#include <string.h>
#include <strings.h>

#include "bench.h"

int bench_each_item(const char *prog, char *list, int (*fn)(const char *item, void *ctx), void *ctx) {
    for (char *save = NULL, *it = strtok_r(list, ",", &save); it; it = strtok_r(NULL, ",", &save))
        if (!fn(it, ctx)) {
            fprintf(stderr, "%s: cannot use '%s'\n", prog, it);
            return 0;
        }
    return 1;
}

int bench_add_type(const char *item, void *list) {
    type_list *l = list;
    if (!strcasecmp(item, "all")) {
        const int32_t n = amx_type_count();
        if (n > BENCH_MAX_TYPES) return 0;
        for (int32_t i = 0; i < n; i++) l->t[i] = amx_type_at(i);
        l->n = (int)n;
        return 1;
    }
    const amx_type t = amx_type_from_name(item);
    if ((int)t < 0 || l->n >= BENCH_MAX_TYPES) return 0;
    l->t[l->n++] = t;
    return 1;
}

void bench_type_names(char *out, size_t len, const char *sep) {
    size_t used = 0;
    if (len) out[0] = 0;
    for (int32_t i = 0; i < amx_type_count() && used < len; i++) {
        const int w = snprintf(out + used, len - used, "%s%s", i ? sep : "", amx_type_name(amx_type_at(i)));
        if (w < 0) break;
        used += (size_t)w;
    }
}
