/*
 * A growable byte buffer. Appends never fail silently: once an allocation
 * fails the buffer is marked (oom) and further appends are dropped, so a
 * writer checks once at the end instead of after every append.
 */
#ifndef ORCH_BASE_BUF_H
#define ORCH_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct orch_buf {
	char *data; /* NUL-terminated when len > 0 or after orch_buf_cstr */
	size_t len;
	size_t cap;
	bool oom;
} orch_buf;

#define ORCH_BUF_INIT                                                         \
	{                                                                     \
		NULL, 0, 0, false                                             \
	}

/* The growing path of orch_buf_append (not for direct use). */
void orch_buf_append_slow(orch_buf *b, const void *p, size_t n);

/* Appends n bytes. Inline when they fit: the JSON writer calls this for
 * every token, and a call per byte showed in the GET /engines profile. */
static inline void
orch_buf_append(orch_buf *b, const void *p, size_t n)
{
	if (!b->oom && b->len + n < b->cap) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	orch_buf_append_slow(b, p, n);
}

static inline void
orch_buf_putc(orch_buf *b, char c)
{
	orch_buf_append(b, &c, 1);
}
void orch_buf_puts(orch_buf *b, const char *s);
void orch_buf_printf(orch_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The contents as a C string ("" when empty); NULL after an oom. */
const char *orch_buf_cstr(orch_buf *b);

/* Releases the memory; b is empty and reusable afterwards. */
void orch_buf_fini(orch_buf *b);

#endif
