#include "src/gateway/query.h"
#include "src/base/utf8.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int
hex_value(unsigned char ch)
{
	int v = -1;

	if (ch >= '0' && ch <= '9')
		v = ch - '0';
	else if (ch >= 'a' && ch <= 'f')
		v = ch - 'a' + 10;
	else if (ch >= 'A' && ch <= 'F')
		v = ch - 'A' + 10;
	return v;
}

/*
 * Percent-decodes s[0..n) into out (cap bytes), NUL-terminated; *outlen is
 * the decoded length. Returns NULL, or why it refused.
 */
static const char *
decode(const char *s, size_t n, bool plus_is_space, char *out, size_t cap,
    size_t *outlen)
{
	const char *why = NULL;
	size_t o = 0;

	for (size_t i = 0; why == NULL && i < n; i++) {
		unsigned char ch = (unsigned char) s[i];

		if (ch == '%') {
			int hi = i + 2 < n
			             ? hex_value((unsigned char) s[i + 1])
			             : -1;
			int lo =
			    hi >= 0 ? hex_value((unsigned char) s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				why = "invalid percent escape";
				break;
			}
			ch = (unsigned char) (hi << 4 | lo);
			i += 2;
		} else if (ch == '+' && plus_is_space) {
			ch = ' ';
		}
		if (ch == '\0')
			why = "NUL byte";
		else if (o + 1 >= cap)
			why = "too long";
		else
			out[o++] = (char) ch;
	}
	if (why == NULL && !orch_utf8_valid((const unsigned char *) out, o))
		why = "not valid UTF-8";
	if (cap > 0)
		out[why == NULL ? o : 0] = '\0';
	*outlen = why == NULL ? o : 0;
	return why;
}

orch_err
orch_query_parse(const char *qs, size_t len, orch_query *out, orch_diag *diag)
{
	size_t used = 0, i = 0;
	orch_err rv = ORCH_EINVAL;

	out->n = 0;
	orch_diag_clear(diag);
	if (len > ORCH_QUERY_MAX_LEN) {
		orch_diag_set(diag, "query string longer than %d bytes",
		    ORCH_QUERY_MAX_LEN);
		goto out;
	}
	while (i < len) {
		const char *seg = qs + i, *amp = memchr(seg, '&', len - i);
		size_t seg_len = amp != NULL ? (size_t) (amp - seg) : len - i;
		const char *eq = memchr(seg, '=', seg_len);
		size_t klen = eq != NULL ? (size_t) (eq - seg) : seg_len;
		size_t kout, vout;
		char *key, *value;
		const char *why;

		i += seg_len + 1;
		if (seg_len == 0)
			continue;
		if (out->n == ORCH_QUERY_MAX_PAIRS) {
			orch_diag_set(diag, "more than %d query parameters",
			    ORCH_QUERY_MAX_PAIRS);
			goto out;
		}
		/* Decoding never grows: the store has room (see query.h). */
		key = out->store + used;
		why = decode(
		    seg, klen, true, key, sizeof(out->store) - used, &kout);
		if (why == NULL && kout == 0)
			why = "empty parameter name";
		else if (why == NULL && kout > ORCH_QUERY_MAX_KEY)
			why = "parameter name too long";
		if (why != NULL) {
			orch_diag_set(diag, "query parameter name: %s", why);
			goto out;
		}
		if (orch_query_get(out, key) != NULL) {
			orch_diag_set(
			    diag, "query parameter \"%s\" given twice", key);
			goto out;
		}
		value = key + kout + 1;
		why = eq != NULL
		          ? decode(eq + 1, seg_len - klen - 1, true, value,
		                sizeof(out->store) - used - kout - 1, &vout)
		          : decode("", 0, true, value, 1, &vout);
		if (why != NULL) {
			orch_diag_set(
			    diag, "query parameter \"%s\": %s", key, why);
			goto out;
		}
		out->pairs[out->n].key = (uint16_t) used;
		out->pairs[out->n].value = (uint16_t) (used + kout + 1);
		out->n++;
		used += kout + 1 + vout + 1;
	}
	rv = ORCH_OK;
out:
	if (rv != ORCH_OK)
		out->n = 0;
	return rv;
}

const char *
orch_query_get(const orch_query *q, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; v == NULL && i < q->n; i++) {
		if (strcmp(q->store + q->pairs[i].key, key) == 0)
			v = q->store + q->pairs[i].value;
	}
	return v;
}

const char *
orch_query_key(const orch_query *q, size_t i)
{
	return q->store + q->pairs[i].key;
}

const char *
orch_query_value(const orch_query *q, size_t i)
{
	return q->store + q->pairs[i].value;
}

orch_err
orch_path_decode(
    const char *seg, size_t len, char *out, size_t cap, orch_diag *diag)
{
	const char *w;
	size_t n = 0;

	if (len > 0 && memchr(seg, '/', len) != NULL)
		w = "'/' in a path segment";
	else if (cap == 0)
		w = "too long";
	else
		w = decode(seg, len, false, out, cap, &n);
	if (w != NULL && cap > 0)
		out[0] = '\0';
	orch_diag_clear(diag);
	if (w != NULL)
		orch_diag_set(diag, "%s", w);
	return w == NULL ? ORCH_OK : ORCH_EINVAL;
}
