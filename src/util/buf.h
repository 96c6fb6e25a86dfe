/* Growable byte buffer with a hard cap (curl dynbuf style). */
#ifndef TALLY_UTIL_BUF_H
#define TALLY_UTIL_BUF_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; appending past it fails with TALLY_ETOOBIG */
};

/* Initialise an empty buffer that may grow to max bytes. No allocation. */
void buf_init(struct buf *b, size_t max);
/* Free the storage; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);
/* Make room for n more bytes. Errors: TALLY_ENOMEM, TALLY_ETOOBIG. */
TALLY_WUR int buf_reserve(struct buf *b, size_t n);
/* Append bytes. Errors: TALLY_ENOMEM, TALLY_ETOOBIG. */
TALLY_WUR int buf_append(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string (without the NUL). Same errors. */
TALLY_WUR int buf_puts(struct buf *b, const char *s);
/* printf-style append. Same errors. */
TALLY_WUR int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Take ownership of the storage (caller frees with free()); b becomes empty. */
uint8_t *buf_detach(struct buf *b, size_t *len);

#endif
