/*
 * A growable byte buffer. Appends never fail silently: once an allocation
 * fails the buffer is marked (oom) and further appends are dropped, so a
 * writer checks once at the end instead of after every append.
 */
#ifndef ORCH_BASE_BUF_H
#define ORCH_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct orch_buf {
	char *data; /* NUL-terminated when len > 0 or after orch_buf_cstr */
	size_t len;
	size_t cap;
	bool oom;
} orch_buf;

#define ORCH_BUF_INIT {NULL, 0, 0, false}

void orch_buf_append(orch_buf *b, const void *p, size_t n);
void orch_buf_puts(orch_buf *b, const char *s);
void orch_buf_putc(orch_buf *b, char c);
void orch_buf_printf(orch_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The contents as a C string ("" when empty); NULL after an oom. */
const char *orch_buf_cstr(orch_buf *b);

/* Releases the memory; b is empty and reusable afterwards. */
void orch_buf_fini(orch_buf *b);

#endif
