/*
 * The other two inputs of a REST request besides its body: the query
 * string (`a=1&b=x%20y+z`) and path parameters (`/engines/{container_id}`),
 * decoded into plain C strings for orch_pbparse_set_field().
 *
 * Both are strict, because what they produce becomes protobuf strings and,
 * echoed in error details, JSON: an invalid percent escape, a NUL byte
 * (raw or %00) or a result that is not valid UTF-8 is refused, as are
 * oversized inputs. Nothing here allocates.
 */
#ifndef ORCH_GATEWAY_QUERY_H
#define ORCH_GATEWAY_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/diag.h"
#include "src/base/err.h"

#define ORCH_QUERY_MAX_PAIRS 32 /* key=value pairs */
#define ORCH_QUERY_MAX_LEN 4096 /* bytes of the query string, encoded */
#define ORCH_QUERY_MAX_KEY 64   /* bytes of one key, decoded */

/*
 * A parsed query string. Self-contained (offsets, no pointers into
 * itself), so it may be copied; about 4.5 KiB, fine on a stack.
 */
typedef struct orch_query {
	size_t n; /* pairs, in query order */
	struct {
		uint16_t key; /* offsets into store, NUL-terminated */
		uint16_t value;
	} pairs[ORCH_QUERY_MAX_PAIRS];
	char store[ORCH_QUERY_MAX_LEN + 2 * ORCH_QUERY_MAX_PAIRS];
} orch_query;

/*
 * Parses qs (len bytes, the part after '?', no NUL needed) into *out:
 * pairs split on '&' (empty pieces skipped), key and value split on the
 * first '=' (no '=': the value is ""), '+' read as a space, %XX decoded.
 *
 * Returns ORCH_OK, or ORCH_EINVAL with out->n = 0 and diag->msg saying
 * why: longer than ORCH_QUERY_MAX_LEN, more than ORCH_QUERY_MAX_PAIRS
 * pairs, an empty key or one longer than ORCH_QUERY_MAX_KEY, the same key
 * twice (one value per key: which one would win is ambiguous), a bad
 * escape, a NUL byte, invalid UTF-8. diag->field is "" (the query string
 * as a whole is at fault). An empty qs is OK with no pairs. diag may be
 * NULL; otherwise it is cleared first.
 */
orch_err orch_query_parse(
    const char *qs, size_t len, orch_query *out, orch_diag *diag);

/* The value of key (decoded; "" when given without '='), or NULL when the
 * query has no such key. Points into q: valid while q is. */
const char *orch_query_get(const orch_query *q, const char *key);

/* The i-th pair (i < q->n), for callers that look at every key. */
const char *orch_query_key(const orch_query *q, size_t i);
const char *orch_query_value(const orch_query *q, size_t i);

/*
 * Percent-decodes one path segment (seg, len bytes, no NUL needed) into
 * out (cap bytes), NUL-terminated. '+' stays '+' (only query strings read
 * it as a space). A raw '/' is refused: it would be two segments; an
 * escaped one (%2F) decodes to '/', since ids may hold one (a stream id
 * built from a URL key).
 *
 * Returns ORCH_OK, or ORCH_EINVAL with out "" (when cap > 0) and diag->msg
 * saying why: a bad escape, a NUL byte, a raw '/', invalid UTF-8, or a
 * result that does not fit in cap - 1 bytes. diag->field is "": only the
 * caller knows which parameter the segment is. diag may be NULL;
 * otherwise it is cleared first.
 */
orch_err orch_path_decode(
    const char *seg, size_t len, char *out, size_t cap, orch_diag *diag);

#endif
