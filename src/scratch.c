/* Grow-only per-thread scratch buffers (scratch.h). */
#include "scratch.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static pthread_key_t g_key[AMXQ_SCRATCH_SLOTS];
static int g_key_ok[AMXQ_SCRATCH_SLOTS];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local void *t_buf[AMXQ_SCRATCH_SLOTS];
static _Thread_local size_t t_size[AMXQ_SCRATCH_SLOTS];

/* Each key's value is its slot's buffer, so the thread's exit frees it. */
static void keys_init(void) {
    for (int i = 0; i < AMXQ_SCRATCH_SLOTS; i++) g_key_ok[i] = pthread_key_create(&g_key[i], free) == 0;
}

void *amxq_scratch_get(amxq_scratch_slot slot, size_t bytes, size_t align) {
    if (bytes <= t_size[slot]) return t_buf[slot];
    pthread_once(&g_once, keys_init);
    /* without its key the buffer would leak at thread exit */
    if (!g_key_ok[slot] || bytes > SIZE_MAX - align) return NULL;
    const size_t sz = (bytes + align - 1) & ~(align - 1);
    void *p = aligned_alloc(align, sz);
    if (!p) return NULL;
    free(t_buf[slot]);
    t_buf[slot] = p;
    t_size[slot] = sz;
    pthread_setspecific(g_key[slot], p);
    return p;
}

void amxq_scratch_trim(amxq_scratch_slot slot, size_t keep_max) {
    if (t_size[slot] <= keep_max) return;
    free(t_buf[slot]);
    t_buf[slot] = NULL;
    t_size[slot] = 0;
    pthread_setspecific(g_key[slot], NULL);
}
