#include "src/probe/engine.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * Copies src into dst (dstlen >= 1), control characters replaced by '?',
 * cut to dstlen - 1 bytes without splitting a UTF-8 character (jansson
 * hands out valid UTF-8 only).
 */
static void
copy_clean(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src), i;

	if (n > dstlen - 1) {
		n = dstlen - 1;
		while (n > 0 && ((unsigned char) src[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char) src[i];

		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char) c;
	}
	dst[n] = '\0';
}

/* The body as a JSON object (new reference), or NULL with why set. */
static json_t *
load_object(
    long status, const char *body, size_t len, char *why, size_t whylen)
{
	json_error_t e;
	json_t *j;

	if (status != 200) {
		say(why, whylen, "HTTP %ld", status);
		return NULL;
	}
	if (len == 0 || body == NULL) {
		say(why, whylen, "empty body");
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL) {
		char text[JSON_ERROR_TEXT_LENGTH];

		copy_clean(text, sizeof(text), e.text);
		say(why, whylen, "invalid JSON: %s", text);
		return NULL;
	}
	if (!json_is_object(j)) {
		say(why, whylen, "not a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* "engine error: <text>" for an "error" member that is not null. */
static void
say_engine_error(char *why, size_t whylen, const json_t *e)
{
	char text[160];

	if (json_is_string(e)) {
		copy_clean(text, sizeof(text), json_string_value(e));
		say(why, whylen, "engine error: %s", text);
	} else {
		say(why, whylen, "engine error (not a string)");
	}
}

bool
orch_probe_parse_health(
    long status, const char *body, size_t len, char *why, size_t whylen)
{
	json_t *j = load_object(status, body, len, why, whylen);
	json_t *e;
	bool ok = false;

	if (j == NULL)
		return false;
	e = json_object_get(j, "error");
	if (e == NULL) {
		say(why, whylen, "no \"error\" member");
	} else if (!json_is_null(e)) {
		say_engine_error(why, whylen, e);
	} else {
		say(why, whylen, "%s", "");
		ok = true;
	}
	json_decref(j);
	return ok;
}

/* The counters of a stat answer: JSON name, slot in orch_stat, bit. */
static const struct {
	const char *name;
	size_t off;
	unsigned bit;
} stat_fields[] = {
    {"peers", offsetof(orch_stat, peers), ORCH_STAT_PEERS},
    {"speed_down", offsetof(orch_stat, speed_down), ORCH_STAT_SPEED_DOWN},
    {"speed_up", offsetof(orch_stat, speed_up), ORCH_STAT_SPEED_UP},
    {"downloaded", offsetof(orch_stat, downloaded), ORCH_STAT_DOWNLOADED},
    {"uploaded", offsetof(orch_stat, uploaded), ORCH_STAT_UPLOADED},
};

static void
fill_stat(const json_t *r, int64_t now_us, orch_stat *out)
{
	const json_t *v;
	size_t i;

	out->ts_us = now_us;
	for (i = 0; i < sizeof(stat_fields) / sizeof(stat_fields[0]); i++) {
		json_int_t n;

		v = json_object_get(r, stat_fields[i].name);
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 0)
			continue;
		*(int64_t *) (void *) ((char *) out + stat_fields[i].off) =
		    (int64_t) n;
		out->has |= stat_fields[i].bit;
	}
	v = json_object_get(r, "status");
	if (json_is_string(v)) {
		copy_clean(
		    out->status, sizeof(out->status), json_string_value(v));
		out->has |= ORCH_STAT_STATUS;
	}
}

orch_probe_result
orch_probe_parse_stat(long status, const char *body, size_t len,
    int64_t now_us, orch_stat *out, char *why, size_t whylen)
{
	orch_probe_result rc = ORCH_PROBE_FAIL;
	json_t *j, *e, *r;

	if (out == NULL) {
		say(why, whylen, "no output");
		return ORCH_PROBE_FAIL;
	}
	memset(out, 0, sizeof(*out));
	j = load_object(status, body, len, why, whylen);
	if (j == NULL)
		return ORCH_PROBE_FAIL;
	e = json_object_get(j, "error");
	r = json_object_get(j, "response");
	if (e == NULL) {
		say(why, whylen, "no \"error\" member");
	} else if (!json_is_null(e)) {
		say_engine_error(why, whylen, e);
		if (json_is_string(e) &&
		    strcasecmp(json_string_value(e), ORCH_PROBE_GONE_TEXT) ==
		        0 &&
		    (r == NULL || json_is_null(r)))
			rc = ORCH_PROBE_GONE;
	} else if (!json_is_object(r)) {
		say(why, whylen, "\"response\" is not an object");
	} else {
		fill_stat(r, now_us, out);
		say(why, whylen, "%s", "");
		rc = ORCH_PROBE_OK;
	}
	json_decref(j);
	return rc;
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* A host, an IPv6 literal in brackets, a port: nothing else. */
static bool
authority_char(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr(".-_:[]", c) != NULL);
}

/* RFC 3986 pchar without pct-encoded: unreserved, sub-delims, ':' '@'. */
static bool
path_char(unsigned char c)
{
	return is_alnum(c) ||
	       (c != '\0' && strchr("-._~!$&'()*+,;=:@", c) != NULL);
}

static const char stat_prefix[] = "/ace/stat/";

/* Checks the path [p, end): shape, characters, no dot segment. */
static bool
path_ok(const char *p, const char *end)
{
	const char *seg;

	if ((size_t) (end - p) <= sizeof(stat_prefix) - 1 ||
	    strncmp(p, stat_prefix, sizeof(stat_prefix) - 1) != 0)
		return false;
	for (seg = p + 1; seg <= end;) {
		const char *q = seg;

		while (q < end && *q != '/') {
			if (!path_char((unsigned char) *q))
				return false;
			q++;
		}
		if ((q - seg == 1 && seg[0] == '.') ||
		    (q - seg == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		seg = q + 1;
	}
	return true;
}

/* Checks the query [p, end): pchar, '/', '?', and well-formed escapes. */
static bool
query_ok(const char *p, const char *end)
{
	for (; p < end; p++) {
		unsigned char c = (unsigned char) *p;

		if (c == '%') {
			if (end - p < 3 || !is_hex((unsigned char) p[1]) ||
			    !is_hex((unsigned char) p[2]))
				return false;
			p += 2;
		} else if (!path_char(c) && c != '/' && c != '?') {
			return false;
		}
	}
	return true;
}

orch_err
orch_probe_stat_path(const char *stat_url, char *out, size_t outlen)
{
	const char *p, *auth, *path, *query, *end;
	size_t n, i;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (stat_url == NULL || out == NULL)
		return ORCH_EINVAL;
	n = strnlen(stat_url, ORCH_PROBE_URL_MAX + 1);
	if (n == 0 || n > ORCH_PROBE_URL_MAX)
		return ORCH_EINVAL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char) stat_url[i];

		if (c <= 0x20 || c >= 0x7f)
			return ORCH_EINVAL;
	}
	if (strncasecmp(stat_url, "http://", 7) == 0)
		p = stat_url + 7;
	else if (strncasecmp(stat_url, "https://", 8) == 0)
		p = stat_url + 8;
	else
		return ORCH_EINVAL;
	for (auth = p; *p != '\0' && *p != '/' && *p != '?' && *p != '#'; p++)
		if (!authority_char((unsigned char) *p))
			return ORCH_EINVAL;
	if (p == auth || *p != '/')
		return ORCH_EINVAL;
	path = p;
	query = path + strcspn(path, "?#");
	end = query;
	if (*query == '?')
		end = query + strcspn(query, "#");
	if (!path_ok(path, query) ||
	    (*query == '?' && !query_ok(query + 1, end)))
		return ORCH_EINVAL;
	n = (size_t) (end - path);
	if (n + 1 > outlen)
		return ORCH_ERANGE;
	memcpy(out, path, n);
	out[n] = '\0';
	return ORCH_OK;
}

static json_t *
gluetun_member(long status, const char *body, size_t len, const char *key,
    char *why, size_t whylen, json_t **obj)
{
	*obj = load_object(status, body, len, why, whylen);
	return *obj != NULL ? json_object_get(*obj, key) : NULL;
}

bool
orch_probe_parse_vpn_status(long status, const char *body, size_t len,
    bool *running, char *why, size_t whylen)
{
	json_t *j,
	    *v = gluetun_member(status, body, len, "status", why, whylen, &j);
	bool ok = false;

	if (j == NULL)
		return false;
	if (!json_is_string(v)) {
		say(why, whylen, "no \"status\" string");
	} else {
		if (running != NULL)
			*running =
			    strcmp(json_string_value(v), "running") == 0;
		say(why, whylen, "%s", "");
		ok = true;
	}
	json_decref(j);
	return ok;
}

bool
orch_probe_parse_forwarded_port(long status, const char *body, size_t len,
    int *port, char *why, size_t whylen)
{
	json_t *j,
	    *v = gluetun_member(status, body, len, "port", why, whylen, &j);
	bool ok = false;

	if (j == NULL)
		return false;
	if (!json_is_integer(v)) {
		say(why, whylen, "no \"port\" integer");
	} else if (json_integer_value(v) < 0 ||
	           json_integer_value(v) > 65535) {
		say(why, whylen, "port %" JSON_INTEGER_FORMAT " out of range",
		    json_integer_value(v));
	} else {
		if (port != NULL)
			*port = (int) json_integer_value(v);
		say(why, whylen, "%s", "");
		ok = true;
	}
	json_decref(j);
	return ok;
}
