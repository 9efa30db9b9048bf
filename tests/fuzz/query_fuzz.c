/*
 * libFuzzer target for query strings and path segments
 * (src/gateway/query.h), and for what the gateway does with their values:
 * orch_pbparse_set_field() on the request fields that come from a URL.
 *
 * Every input is used whole, three ways:
 * - as a query string: on success every pair has a non-empty key of at
 *   most ORCH_QUERY_MAX_KEY bytes, keys are distinct, keys and values are
 *   valid UTF-8 without NUL, orch_query_get() finds each value, and the
 *   pairs, percent-encoded again, parse back to the same pairs; on failure
 *   no pair is left and the diag says why;
 * - as a path segment, into buffers of several sizes: nothing is written
 *   at or past cap, success means no raw '/', a NUL-terminated UTF-8
 *   result, which encodes and decodes back to itself;
 * - each decoded value is set into an int32, an int64, a string, a bool
 *   and a Timestamp field: it succeeds or fails with the field named, and
 *   a success writes as JSON that parses back;
 * - each decoded key is also a dotted path (orchctl's --engine.port) set
 *   to its value in a StreamStartedRequest, a ProvisionContainerRequest
 *   and an Engine, twice: a refusal names a non-empty prefix of the path
 *   (the path "" aside) that the message starts with, and leaves the
 *   message's JSON as it was; a success writes as JSON that parses back
 *   to the same JSON.
 *
 * The same file links into corpus_driver.c for query_corpus_test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/gateway/query.h"
#include "src/json/pbjson.h"
#include "src/json/pbparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

#define CANARY 0x5a

static bool
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	bool ok = true;

	while (ok && *p != '\0') {
		size_t k = *p < 0x80                  ? 0
		           : *p >= 0xc2 && *p <= 0xdf ? 1
		           : *p >= 0xe0 && *p <= 0xef ? 2
		           : *p >= 0xf0 && *p <= 0xf4 ? 3
		                                      : 99;
		uint32_t cp = k == 0 ? *p : *p & (0x3f >> k);

		if (k == 99)
			ok = false;
		for (size_t j = 1; ok && j <= k; j++) {
			ok = (p[j] & 0xc0) == 0x80;
			cp = cp << 6 | (p[j] & 0x3f);
		}
		if (ok && k > 0)
			ok = cp >= (k == 1      ? 0x80u
			               : k == 2 ? 0x800u
			                        : 0x10000u) &&
			     cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
		p += ok ? k + 1 : 0;
	}
	return ok;
}

/* Percent-encodes every byte of s but [A-Za-z0-9]; returns the length. */
static size_t
encode(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9')) {
			out[o++] = (char) c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

/* Sets field of a new message of type d from text. */
static void
try_set(
    const ProtobufCMessageDescriptor *d, const char *field, const char *text)
{
	ProtobufCMessage *m = NULL, *back = NULL;
	orch_diag err;
	orch_buf b = ORCH_BUF_INIT;
	orch_err rv;

	FUZZ_CHECK(orch_pbparse_new(d, NULL, &m) == ORCH_OK);
	rv = orch_pbparse_set_field(m, field, text, NULL, &err);
	if (rv != ORCH_OK) {
		FUZZ_CHECK(rv == ORCH_EINVAL);
		FUZZ_CHECK(strcmp(err.field, field) == 0);
		FUZZ_CHECK(strncmp(err.msg, field, strlen(field)) == 0);
	} else {
		orch_pbjson_write(&b, m);
		FUZZ_CHECK(!b.oom);
		FUZZ_CHECK(orch_pbparse(d, orch_buf_cstr(&b), b.len, NULL,
		               &back, &err) == ORCH_OK);
		protobuf_c_message_free_unpacked(back, NULL);
		orch_buf_fini(&b);
	}
	protobuf_c_message_free_unpacked(m, NULL);
}

static char *
json_of(const ProtobufCMessage *m)
{
	orch_buf b = ORCH_BUF_INIT;
	char *s;

	orch_pbjson_write(&b, m);
	FUZZ_CHECK(!b.oom && orch_buf_cstr(&b) != NULL);
	s = strdup(orch_buf_cstr(&b));
	FUZZ_CHECK(s != NULL);
	orch_buf_fini(&b);
	return s;
}

/* Sets path to text in m, twice (a map entry or a field replaced, a list
 * appended): what orchctl does with --path text. */
static void
try_path(ProtobufCMessage *m, const char *path, const char *text)
{
	for (int round = 0; round < 2; round++) {
		char *before = json_of(m), *after;
		ProtobufCMessage *back = NULL;
		orch_diag err;
		orch_err rv;
		size_t fl;

		rv = orch_pbparse_set_path(m, path, text, NULL, &err);
		after = json_of(m);
		if (rv != ORCH_OK) {
			fl = strlen(err.field);
			FUZZ_CHECK(rv == ORCH_EINVAL);
			FUZZ_CHECK(strcmp(before, after) == 0);
			FUZZ_CHECK(err.msg[0] != '\0');
			FUZZ_CHECK(fl > 0 || path[0] == '\0');
			FUZZ_CHECK(strncmp(err.field, path, fl) == 0);
			FUZZ_CHECK(strncmp(err.msg, err.field, fl) == 0);
		} else {
			FUZZ_CHECK(err.msg[0] == '\0' && err.field[0] == '\0');
			FUZZ_CHECK(
			    orch_pbparse(m->descriptor, after, strlen(after),
			        NULL, &back, NULL) == ORCH_OK);
			free(before);
			before = json_of(back);
			FUZZ_CHECK(strcmp(before, after) == 0);
			protobuf_c_message_free_unpacked(back, NULL);
		}
		free(before);
		free(after);
	}
}

static void
fuzz_query(const char *s, size_t n)
{
	static orch_query q, q2; /* 4.5 KiB each: off the stack */
	static char enc[3 * ORCH_QUERY_MAX_LEN + ORCH_QUERY_MAX_PAIRS * 2 + 8];
	static const ProtobufCMessageDescriptor *const path_types[] = {
	    &orch__stream_started_request__descriptor,
	    &orch__provision_container_request__descriptor,
	    &orch__engine__descriptor,
	};
	ProtobufCMessage *pm[3] = {NULL, NULL, NULL};
	orch_diag d;
	size_t e = 0;

	if (orch_query_parse(s, n, &q, &d) != ORCH_OK) {
		FUZZ_CHECK(q.n == 0);
		FUZZ_CHECK(d.msg[0] != '\0' && d.field[0] == '\0');
		return;
	}
	FUZZ_CHECK(d.msg[0] == '\0');
	for (size_t t = 0; t < 3; t++)
		FUZZ_CHECK(
		    orch_pbparse_new(path_types[t], NULL, &pm[t]) == ORCH_OK);
	FUZZ_CHECK(q.n <= ORCH_QUERY_MAX_PAIRS);
	for (size_t i = 0; i < q.n; i++) {
		const char *k = orch_query_key(&q, i);
		const char *v = orch_query_value(&q, i);

		FUZZ_CHECK(k[0] != '\0' && strlen(k) <= ORCH_QUERY_MAX_KEY);
		FUZZ_CHECK(utf8_ok(k) && utf8_ok(v));
		FUZZ_CHECK(orch_query_get(&q, k) == v); /* so keys differ */
		if (i > 0)
			enc[e++] = '&';
		e += encode(k, enc + e);
		enc[e++] = '=';
		e += encode(v, enc + e);
		try_set(&orch__list_streams_request__descriptor, "limit", v);
		try_set(&orch__list_streams_request__descriptor, "status", v);
		try_set(
		    &orch__get_stream_stats_request__descriptor, "since", v);
		try_set(
		    &orch__select_engine_request__descriptor, "reserve", v);
		try_set(&orch__stat_snapshot__descriptor, "peers", v);
		for (size_t t = 0; t < 3; t++)
			try_path(pm[t], k, v);
	}
	for (size_t t = 0; t < 3; t++)
		protobuf_c_message_free_unpacked(pm[t], NULL);
	/* Encoded again (longer, maybe past the limit), it parses back. */
	if (e <= ORCH_QUERY_MAX_LEN) {
		FUZZ_CHECK(orch_query_parse(enc, e, &q2, NULL) == ORCH_OK);
		FUZZ_CHECK(q2.n == q.n);
		for (size_t i = 0; i < q.n; i++) {
			FUZZ_CHECK(strcmp(orch_query_key(&q, i),
			               orch_query_key(&q2, i)) == 0);
			FUZZ_CHECK(strcmp(orch_query_value(&q, i),
			               orch_query_value(&q2, i)) == 0);
		}
	}
}

static void
fuzz_path(const char *s, size_t n)
{
	static const size_t caps[] = {0, 1, 2, 16, 256, 4096};
	static char out[4096 + 64], enc[3 * 4096 + 1], again[4096 + 64];

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		size_t cap = caps[c], e;
		orch_diag d;
		orch_err rv;

		memset(out, CANARY, sizeof(out));
		rv = orch_path_decode(s, n, out, cap, &d);
		for (size_t i = cap; i < sizeof(out); i++)
			FUZZ_CHECK((unsigned char) out[i] == CANARY);
		FUZZ_CHECK(d.field[0] == '\0');
		if (rv != ORCH_OK) {
			FUZZ_CHECK(rv == ORCH_EINVAL && d.msg[0] != '\0');
			FUZZ_CHECK(cap == 0 || out[0] == '\0');
			continue;
		}
		FUZZ_CHECK(d.msg[0] == '\0');
		FUZZ_CHECK(n == 0 || memchr(s, '/', n) == NULL);
		FUZZ_CHECK(memchr(out, '\0', cap) != NULL);
		FUZZ_CHECK(utf8_ok(out));
		e = encode(out, enc);
		FUZZ_CHECK(orch_path_decode(
		               enc, e, again, sizeof(again), NULL) == ORCH_OK);
		FUZZ_CHECK(strcmp(out, again) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_query((const char *) data, size);
	fuzz_path((const char *) data, size);
	return 0;
}
