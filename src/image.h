/*
 * The packed-weight image (format: include/amxq.h, "Packed weights in caller
 * memory and in files"): its header, its checksum, and the checks an image
 * from outside must pass before any of its bytes are trusted.
 */
#ifndef AMXQ_IMAGE_H
#define AMXQ_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

/* Format 1: one matrix. Format 2: an expert tensor, n_expert matrices of the
 * same row, type and shape, their payloads one after the other; format 1
 * readers refuse it by its version instead of misreading it. A library
 * writes format 1 for every matrix, so older readers keep reading those. */
#define AMXQ_IMAGE_FORMAT_VERSION 1
#define AMXQ_IMAGE_FORMAT_EXPERTS 2
#define AMXQ_IMAGE_ALIGN 64
#define AMXQ_IMAGE_CHUNK ((size_t)1 << 20) /* payload bytes per chunk hash */

typedef struct {
    char magic[8];           /* "AMXQPACK" */
    uint32_t format_version; /* AMXQ_IMAGE_FORMAT_VERSION */
    uint32_t layout_version; /* AMXQ_PACK_LAYOUT_VERSION */
    uint32_t type;           /* amx_type */
    uint32_t isa;            /* amx_isa the payload is laid out for */
    int64_t n, k;
    char layout[32];         /* NUL-padded */
    uint64_t header_bytes;   /* sizeof(amxq_image_header) */
    uint64_t payload_bytes;  /* a multiple of AMXQ_IMAGE_ALIGN */
    uint32_t alignment;      /* AMXQ_IMAGE_ALIGN */
    uint32_t reserved0;
    uint64_t checksum;       /* amxq_image_checksum with this field zero */
    int64_t n_expert;        /* format 2: experts (>= 1); format 1: 0 */
    uint8_t reserved[16];
} amxq_image_header;
_Static_assert(sizeof(amxq_image_header) == 128 && offsetof(amxq_image_header, checksum) == 96 &&
                   offsetof(amxq_image_header, layout) == 40 && offsetof(amxq_image_header, alignment) == 88 &&
                   offsetof(amxq_image_header, n_expert) == 104,
               "the image header layout documented in amxq.h");

/* Payload bytes of one matrix of w's row and shape: its packed size rounded
 * up to the image alignment (the rounding is written as zeros). An expert
 * handle's experts are this far apart. */
size_t amxq_image_matrix_bytes(const amx_weights *w);
/* Payload bytes of the whole handle: one matrix, or n_expert of them. */
size_t amxq_image_payload_bytes(const amx_weights *w);

/* Fills the header of an image of w's row, type and shape (checksum 0). */
void amxq_image_header_init(amxq_image_header *h, const amx_weights *w, size_t payload_bytes);

/* The checksum of a header (its checksum field read as zero) and payload,
 * hashed on up to n_threads of the library's pool. */
uint64_t amxq_image_checksum(const amxq_image_header *h, const uint8_t *payload, size_t payload_bytes,
                             int n_threads);

/* What an image from outside describes, once its header passed every check. */
typedef struct {
    const amxq_image_header *h;
    const amxq_variant *v;   /* the row it was packed for */
    const uint8_t *payload;
    int64_t n_expert;        /* 0: a matrix image (format 1) */
} amxq_image_view;

/* Checks the image at p (size bytes): magic, versions, every header field,
 * sizes against the row's layout for (n, k), alignment, and (verify) the
 * checksum. Reads nothing outside [p, p + size). AMX_OK and *out filled, or
 * the status naming the first problem found. */
amx_status amxq_image_check(const void *p, size_t size, int verify, int n_threads, amxq_image_view *out);

#endif
