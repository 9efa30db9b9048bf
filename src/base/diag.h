/*
 * Why an operation failed: the project's one diagnostics type.
 *
 * A function that can fail for a reason worth telling takes an
 * `orch_diag *` (caller's storage, may be NULL) next to its orch_err
 * return code and fills it on failure: a one-line message, and when the
 * fault lies in one input field, that field's dotted name ("labels",
 * "session.stat_url", "MAX_REPLICAS"), so the API can answer "422 naming
 * the field" without parsing the message. `status` carries a peer's own
 * status code when a peer answered (Docker's HTTP status), else 0.
 *
 * Before this type there were six shapes (char *why + length, const char
 * **why, a Docker diag, a parser error struct, ...); one type means a
 * layer passes its callee's reason up without copying it into another
 * shape.
 */
#ifndef ORCH_BASE_DIAG_H
#define ORCH_BASE_DIAG_H

#include <stdarg.h>

/* Long enough for Docker's longest one-line errors (a port conflict
 * names two 64-hex ids, an endpoint and an address). */
#define ORCH_DIAG_MSG_MAX 1024
#define ORCH_DIAG_FIELD_MAX 128

typedef struct orch_diag {
	char msg[ORCH_DIAG_MSG_MAX];     /* "" until something failed */
	char field[ORCH_DIAG_FIELD_MAX]; /* "" = not about one field */
	long status;                     /* a peer's status code, or 0 */
} orch_diag;

/* Empties d (NULL no-op). */
void orch_diag_clear(orch_diag *d);

/* Sets the message (printf-style, truncated to fit); field unchanged.
 * NULL d is a no-op. */
void orch_diag_set(orch_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void orch_diag_vset(orch_diag *d, const char *fmt, va_list ap);

/* Sets the field (NULL or "" clears it) and the message. */
void orch_diag_field(orch_diag *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* d's message, or `fallback` when d is NULL or its message is empty. */
const char *orch_diag_msg(const orch_diag *d, const char *fallback);

#endif
