/*
 * The probe parsers (src/probe/engine.h), table-driven: good answers, the
 * simulator's own bodies, and hostile ones (bad JSON, wrong types, huge,
 * negative and nested values, empty bodies, non-objects, missing keys,
 * error statuses), plus orch_probe_stat_path() against URLs built to
 * escape the engine (userinfo, other hosts, dot segments, side-effecting
 * paths, escapes, control characters, fragments, very long ones).
 *
 * Bodies are copied into an exact-size buffer without a NUL, so ASan
 * catches a parser reading past len.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/probe/engine.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* An exact-size, unterminated copy of s (len bytes; -1: strlen). */
static char *
dup_exact(const char *s, long len, size_t *out_len)
{
	size_t n = len < 0 ? strlen(s) : (size_t) len;
	char *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	*out_len = n;
	return p;
}

/* "[[[...]]]" depth deep inside {"a":...,"error":null}; caller frees. */
static char *
nested_body(int depth)
{
	size_t n = (size_t) depth * 2 + 32, i;
	char *b = malloc(n), *p = b;

	assert_non_null(b);
	p += sprintf(p, "{\"a\":");
	for (i = 0; i < (size_t) depth; i++)
		*p++ = '[';
	for (i = 0; i < (size_t) depth; i++)
		*p++ = ']';
	sprintf(p, ",\"error\":null}");
	return b;
}

/* ------------------------------------------------------------------------ */
/* Health */

static const struct {
	long status;
	const char *body;
	bool healthy;
	const char *why; /* substring of why when not healthy */
} health_cases[] = {
    {200, "{\"result\":{\"status\":1},\"error\":null}", true, ""},
    {200, "{\"error\":null}", true, ""},
    {200, " \n{ \"error\" : null , \"x\": [1,2,{}] }\n", true, ""},
    {200, "{\"result\":{\"status\":1}}", false, "no \"error\""},
    {200, "{}", false, "no \"error\""},
    {200, "{\"result\":null,\"error\":\"boom\"}", false, "engine error: boom"},
    {200, "{\"error\":\"a\\nb\\u0001c\"}", false, "engine error: a?b?c"},
    {200, "{\"error\":42}", false, "not a string"},
    {200, "{\"error\":false}", false, "not a string"},
    {200, "{\"error\":{}}", false, "not a string"},
    {200, "{\"error\":[]}", false, "not a string"},
    {200, "{\"error\":\"\"}", false, "engine error: "},
    {500, "{\"result\":{\"status\":1},\"error\":null}", false, "HTTP 500"},
    {404, "{\"error\":null}", false, "HTTP 404"},
    {204, "", false, "HTTP 204"},
    {0, "", false, "HTTP 0"},
    {201, "{\"error\":null}", false, "HTTP 201"},
    {200, "", false, "empty body"},
    {200, "not json", false, "invalid JSON"},
    {200, "{\"error\":null", false, "invalid JSON"},
    {200, "{\"error\":nul}", false, "invalid JSON"},
    {200, "{\"error\":null}x", false, "invalid JSON"},
    {200, "{\"error\":null}{}", false, "invalid JSON"},
    {200, "{\"error\":null,\"error\":null}", false, "invalid JSON"},
    {200, "{\"error\":null,\"n\":99999999999999999999}", false,
        "invalid JSON"},
    {200, "{\"error\":null,\"n\":1e99999}", false, "invalid JSON"},
    {200, "{\"error\":null,\"s\":\"\\ud800\"}", false, "invalid JSON"},
    {200, "{\"error\":null,\"s\":\"\xff\"}", false, "invalid JSON"},
    {200, "{\"error\":null,\"s\":\"\\u0000\"}", false, "invalid JSON"},
    {200, "[]", false, "JSON"},
    {200, "[{\"error\":null}]", false, "not a JSON object"},
    {200, "null", false, "JSON"},
    {200, "\"error\"", false, "JSON"},
    {200, "1", false, "JSON"},
    {200, "<html>ok</html>", false, "invalid JSON"},
};

static void
test_health_table(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < N(health_cases); i++) {
		char why[128];
		size_t len;
		char *b = dup_exact(health_cases[i].body, -1, &len);
		bool got;

		memset(why, 'X', sizeof(why));
		got = orch_probe_parse_health(
		    health_cases[i].status, b, len, why, sizeof(why));
		if (got != health_cases[i].healthy ||
		    strstr(why, health_cases[i].why) == NULL)
			fail_msg("case %zu (%s): got %d why \"%s\"", i,
			    health_cases[i].body, got, why);
		if (got)
			assert_string_equal(why, "");
		free(b);
	}
}

static void
test_health_edges(void **state)
{
	char why[8], *deep;
	static const char nul_in[] = "{\"error\":null}\0";

	(void) state;
	/* NULL body, NULL why, a why too small for the text. */
	assert_false(orch_probe_parse_health(200, NULL, 0, why, sizeof(why)));
	assert_string_equal(why, "empty b");
	assert_false(orch_probe_parse_health(200, NULL, 5, NULL, 0));
	assert_true(
	    orch_probe_parse_health(200, "{\"error\":null}", 14, NULL, 0));
	assert_false(orch_probe_parse_health(500, "{}", 2, why, 0));
	/* Only len bytes count: a good prefix, a NUL inside. */
	assert_false(orch_probe_parse_health(
	    200, "{\"error\":null}", 13, why, sizeof(why)));
	assert_false(orch_probe_parse_health(
	    200, nul_in, sizeof(nul_in) - 1, why, sizeof(why)));
	/* Nesting: moderate is fine, absurd is refused, neither crashes. */
	deep = nested_body(100);
	assert_true(orch_probe_parse_health(200, deep, strlen(deep), NULL, 0));
	free(deep);
	deep = nested_body(100000);
	assert_false(
	    orch_probe_parse_health(200, deep, strlen(deep), NULL, 0));
	free(deep);
}

/* ------------------------------------------------------------------------ */
/* Stats */

#define ALL_BITS                                                              \
	(ORCH_STAT_PEERS | ORCH_STAT_SPEED_DOWN | ORCH_STAT_SPEED_UP |        \
	    ORCH_STAT_DOWNLOADED | ORCH_STAT_UPLOADED | ORCH_STAT_STATUS)

static const struct {
	long status;
	const char *body;
	orch_probe_result rc;
	unsigned has;
	int64_t peers, down, up, dl, ul; /* checked when their bit is set */
	const char *st;                  /* status, or why on failure */
} stat_cases[] = {
    /* The protocol page's answer, and the simulator's. */
    {200,
        "{\"response\":{\"status\":\"dl\",\"peers\":12,\"speed_down\":512,"
        "\"speed_up\":64,\"downloaded\":1048576,\"uploaded\":65536,"
        "\"total_progress\":0},\"error\":null}",
        ORCH_PROBE_OK, ALL_BITS, 12, 512, 64, 1048576, 65536, "dl"},
    /* Missing fields stay null; unknown ones are ignored. */
    {200, "{\"response\":{},\"error\":null}", ORCH_PROBE_OK, 0, 0, 0, 0, 0, 0,
        ""},
    {200, "{\"response\":{\"peers\":3,\"extra\":{\"a\":[1]}},\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_PEERS, 3, 0, 0, 0, 0, ""},
    /* Wrong types are null, each on its own. */
    {200,
        "{\"response\":{\"status\":5,\"peers\":\"12\",\"speed_down\":1.5,"
        "\"speed_up\":true,\"downloaded\":null,\"uploaded\":[1]},"
        "\"error\":null}",
        ORCH_PROBE_OK, 0, 0, 0, 0, 0, 0, ""},
    {200,
        "{\"response\":{\"peers\":{},\"speed_down\":512.0,\"speed_up\":64,"
        "\"status\":null},\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_SPEED_UP, 0, 0, 64, 0, 0, ""},
    /* Negative counters are nonsense: null. */
    {200,
        "{\"response\":{\"peers\":-1,\"speed_down\":-512,\"speed_up\":0,"
        "\"downloaded\":-9223372036854775808},\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_SPEED_UP, 0, 0, 0, 0, 0, ""},
    /* int64's edge fits; one past it makes the body invalid JSON. */
    {200, "{\"response\":{\"downloaded\":9223372036854775807},\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_DOWNLOADED, 0, 0, 0, INT64_MAX, 0, ""},
    {200, "{\"response\":{\"downloaded\":9223372036854775808},\"error\":null}",
        ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0, "invalid JSON"},
    {200, "{\"response\":{\"peers\":1e400},\"error\":null}", ORCH_PROBE_FAIL,
        0, 0, 0, 0, 0, 0, "invalid JSON"},
    /* Status strings: cut, cleaned, cut on a character boundary. */
    {200,
        "{\"response\":{\"status\":\"abcdefghijklmnopqrstuvwxyz\"},"
        "\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_STATUS, 0, 0, 0, 0, 0,
        "abcdefghijklmnopqrstuvw"},
    {200, "{\"response\":{\"status\":\"d\\nl\\t\\u007f\"},\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_STATUS, 0, 0, 0, 0, 0, "d?l??"},
    {200,
        "{\"response\":{\"status\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"},"
        "\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_STATUS, 0, 0, 0, 0, 0,
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9"},
    {200,
        "{\"response\":{\"status\":\"a\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\"},"
        "\"error\":null}",
        ORCH_PROBE_OK, ORCH_STAT_STATUS, 0, 0, 0, 0, 0,
        "a\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "\xe2\x82\xac\xe2\x82\xac"},
    {200, "{\"response\":{\"status\":\"\"},\"error\":null}", ORCH_PROBE_OK,
        ORCH_STAT_STATUS, 0, 0, 0, 0, 0, ""},
    /* The session is over. */
    {200, "{\"response\":null,\"error\":\"unknown playback session id\"}",
        ORCH_PROBE_GONE, 0, 0, 0, 0, 0, 0, "unknown playback session id"},
    {200, "{\"error\":\"Unknown Playback Session ID\"}", ORCH_PROBE_GONE, 0, 0,
        0, 0, 0, 0, "Unknown Playback Session ID"},
    /* Other refusals and contradictions are failures, not an end. */
    {200,
        "{\"response\":{\"peers\":1},\"error\":\"unknown playback session "
        "id\"}",
        ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0, "unknown playback"},
    {200, "{\"response\":null,\"error\":\"unknown playback session id!\"}",
        ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0, "session id!"},
    {200, "{\"response\":null,\"error\":\"simulated refusal\"}",
        ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0, "engine error: simulated refusal"},
    {200, "{\"response\":null,\"error\":7}", ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0,
        "not a string"},
    {200, "{\"response\":null,\"error\":null}", ORCH_PROBE_FAIL, 0, 0, 0, 0, 0,
        0, "not an object"},
    {200, "{\"error\":null}", ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0,
        "not an object"},
    {200, "{\"response\":\"ok\",\"error\":null}", ORCH_PROBE_FAIL, 0, 0, 0, 0,
        0, 0, "not an object"},
    {200, "{\"response\":[{\"peers\":1}],\"error\":null}", ORCH_PROBE_FAIL, 0,
        0, 0, 0, 0, 0, "not an object"},
    {200, "{\"response\":{\"peers\":1}}", ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0,
        "no \"error\""},
    /* Transport-level shapes. */
    {500, "{\"response\":{\"peers\":1},\"error\":null}", ORCH_PROBE_FAIL, 0, 0,
        0, 0, 0, 0, "HTTP 500"},
    {404, "{\"response\":null,\"error\":\"unknown playback session id\"}",
        ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0, "HTTP 404"},
    {200, "", ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0, "empty body"},
    {200, "{\"response\":{", ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0,
        "invalid JSON"},
    {200, "[]", ORCH_PROBE_FAIL, 0, 0, 0, 0, 0, 0, "not a JSON object"},
    {200, "{\"response\":{},\"response\":{},\"error\":null}", ORCH_PROBE_FAIL,
        0, 0, 0, 0, 0, 0, "invalid JSON"},
};

static void
test_stat_table(void **state)
{
	const int64_t now = 1700000000123456;
	size_t i;

	(void) state;
	for (i = 0; i < N(stat_cases); i++) {
		char why[128];
		orch_stat st;
		size_t len;
		char *b = dup_exact(stat_cases[i].body, -1, &len);
		orch_probe_result rc;

		memset(&st, 0x5a, sizeof(st));
		rc = orch_probe_parse_stat(
		    stat_cases[i].status, b, len, now, &st, why, sizeof(why));
		if (rc != stat_cases[i].rc)
			fail_msg("case %zu: rc %d why \"%s\"", i, rc, why);
		if (rc != ORCH_PROBE_OK) {
			orch_stat zero;

			memset(&zero, 0, sizeof(zero));
			assert_memory_equal(&st, &zero, sizeof(st));
			if (strstr(why, stat_cases[i].st) == NULL)
				fail_msg("case %zu: why \"%s\"", i, why);
			free(b);
			continue;
		}
		assert_string_equal(why, "");
		assert_int_equal(st.ts_us, now);
		if (st.has != stat_cases[i].has)
			fail_msg("case %zu: has %#x", i, st.has);
		if (st.has & ORCH_STAT_PEERS)
			assert_int_equal(st.peers, stat_cases[i].peers);
		if (st.has & ORCH_STAT_SPEED_DOWN)
			assert_int_equal(st.speed_down, stat_cases[i].down);
		if (st.has & ORCH_STAT_SPEED_UP)
			assert_int_equal(st.speed_up, stat_cases[i].up);
		if (st.has & ORCH_STAT_DOWNLOADED)
			assert_true(st.downloaded == stat_cases[i].dl);
		if (st.has & ORCH_STAT_UPLOADED)
			assert_int_equal(st.uploaded, stat_cases[i].ul);
		/* A field without its bit reads 0, never the old bytes. */
		if (!(st.has & ORCH_STAT_PEERS))
			assert_int_equal(st.peers, 0);
		assert_true(strlen(st.status) < ORCH_STAT_STATUS_MAX);
		assert_string_equal(st.status, stat_cases[i].st);
		free(b);
	}
}

static void
test_stat_edges(void **state)
{
	static const char gone[] =
	    "{\"response\":null,\"error\":\"unknown playback session id\"}";
	char why[64];
	orch_stat st;

	(void) state;
	assert_int_equal(
	    orch_probe_parse_stat(200, "{}", 2, 0, NULL, why, sizeof(why)),
	    ORCH_PROBE_FAIL);
	assert_int_equal(orch_probe_parse_stat(200, NULL, 0, 0, &st, NULL, 0),
	    ORCH_PROBE_FAIL);
	assert_int_equal(
	    orch_probe_parse_stat(200, gone, strlen(gone), 0, &st, NULL, 0),
	    ORCH_PROBE_GONE);
}

/* ------------------------------------------------------------------------ */
/* stat_url -> path */

#define URL_OK(u, p)                                                          \
	{                                                                     \
		u, ORCH_OK, p                                                 \
	}
#define URL_BAD(u)                                                            \
	{                                                                     \
		u, ORCH_EINVAL, ""                                            \
	}

static const struct {
	const char *url;
	orch_err err;
	const char *path;
} url_cases[] = {
    URL_OK("http://127.0.0.1:19000/ace/stat/0123abcd/9f8e",
        "/ace/stat/0123abcd/9f8e"),
    URL_OK("http://acestream-3:19001/ace/stat/a/b", "/ace/stat/a/b"),
    URL_OK("HTTPS://Engine.Example:443/ace/stat/a/b?x=1&y=%2F",
        "/ace/stat/a/b?x=1&y=%2F"),
    URL_OK("http://[::1]:8080/ace/stat/a/b", "/ace/stat/a/b"),
    /* Another host is fine: only the path is used, at the engine. */
    URL_OK("http://evil.example.com:6666/ace/stat/a/b", "/ace/stat/a/b"),
    URL_OK("http://169.254.169.254/ace/stat/a/b", "/ace/stat/a/b"),
    /* The fragment never leaves the client. */
    URL_OK("http://h/ace/stat/a/b#frag", "/ace/stat/a/b"),
    URL_OK("http://h/ace/stat/a/b?q=1#f?x=/../", "/ace/stat/a/b?q=1"),
    URL_OK("http://h/ace/stat/a/b?", "/ace/stat/a/b?"),
    URL_OK("http://h/ace/stat/a//b/", "/ace/stat/a//b/"),
    URL_OK("http://h/ace/stat/.../x", "/ace/stat/.../x"),
    URL_OK("http://h/ace/stat/a/b?u=http://x/y?z",
        "/ace/stat/a/b?u=http://x/y?z"),
    /* Not http(s). */
    URL_BAD("ftp://h/ace/stat/a/b"),
    URL_BAD("file:///ace/stat/a/b"),
    URL_BAD("javascript:alert(1)//ace/stat/a"),
    URL_BAD("gopher://h/ace/stat/a"),
    URL_BAD("httpx://h/ace/stat/a"),
    URL_BAD("http:/h/ace/stat/a"),
    URL_BAD("http:h/ace/stat/a"),
    URL_BAD("//h/ace/stat/a"),
    URL_BAD("/ace/stat/a/b"),
    URL_BAD("ace/stat/a/b"),
    URL_BAD(""),
    URL_BAD("http://"),
    /* No host, no path, a path not ours. */
    URL_BAD("http:///ace/stat/a/b"),
    URL_BAD("http://h"),
    URL_BAD("http://h?x=/ace/stat/a"),
    URL_BAD("http://h#/ace/stat/a"),
    URL_BAD("http://h/"),
    URL_BAD("http://h/ace/stat/"),
    URL_BAD("http://h/ace/stat"),
    URL_BAD("http://h/ace/statx/a"),
    URL_BAD("http://h/ACE/STAT/a"),
    URL_BAD("http://h/ace/cmd/a/b?method=stop"),
    URL_BAD("http://h/ace/r/a/b"),
    URL_BAD("http://h/server/api?method=get_status"),
    /* Userinfo and look-alike authorities. */
    URL_BAD("http://user:pass@h/ace/stat/a/b"),
    URL_BAD("http://h@evil/ace/stat/a/b"),
    URL_BAD("http://h\\@evil/ace/stat/a/b"),
    URL_BAD("http://h%2f@evil/ace/stat/a/b"),
    URL_BAD("http://h;evil/ace/stat/a/b"),
    /* Dot segments, plain and escaped. */
    URL_BAD("http://evil/../"),
    URL_BAD("http://h/ace/stat/../cmd/a/b?method=stop"),
    URL_BAD("http://h/ace/stat/a/.."),
    URL_BAD("http://h/ace/stat/a/../../cmd/a"),
    URL_BAD("http://h/ace/stat/./a"),
    URL_BAD("http://h/ace/stat/a/."),
    URL_BAD("http://h/ace/stat/%2e%2e/cmd/a?method=stop"),
    URL_BAD("http://h/ace/stat/%2E%2E/cmd/a"),
    URL_BAD("http://h/ace/stat/a%2fb"),
    URL_BAD("http://h/ace/stat/a\\..\\cmd"),
    /* Characters that have no business in a URL. */
    URL_BAD("http://h/ace/stat/a b"),
    URL_BAD("http://h/ace/stat/a\r\nHost: evil"),
    URL_BAD("http://h/ace/stat/a\tb"),
    URL_BAD("http://h/ace/stat/a\x7f"),
    URL_BAD("http://h/ace/stat/a\x80"),
    URL_BAD("http://h/ace/stat/\xc3\xa9"),
    URL_BAD("http://h/ace/stat/a\"b"),
    URL_BAD("http://h/ace/stat/a<b>"),
    URL_BAD("http://h/ace/stat/a?x=<script>"),
    URL_BAD("http://h/ace/stat/a?x=%zz"),
    URL_BAD("http://h/ace/stat/a?x=%4"),
    URL_BAD("http://h/ace/stat/a?x=%"),
    URL_BAD("http://h/ace/stat/a?x=1 2"),
    URL_BAD("http://h/ace/stat/a#x y"),
    URL_BAD("http://h\x01/ace/stat/a"),
    URL_BAD(" http://h/ace/stat/a"),
};

static void
test_stat_path_table(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < N(url_cases); i++) {
		char out[256];
		orch_err err;

		memset(out, 'X', sizeof(out));
		err = orch_probe_stat_path(url_cases[i].url, out, sizeof(out));
		if (err != url_cases[i].err ||
		    strcmp(out, url_cases[i].path) != 0)
			fail_msg("case %zu (%s): err %d out \"%.40s\"", i,
			    url_cases[i].url, err, out);
	}
}

static void
test_stat_path_lengths(void **state)
{
	char url[ORCH_PROBE_URL_MAX + 16], out[ORCH_PROBE_URL_MAX + 16];
	const char *head = "http://h/ace/stat/";
	size_t hl = strlen(head), plen;

	(void) state;
	/* Exactly the limit: accepted; one more: refused. */
	memset(url, 'a', sizeof(url));
	memcpy(url, head, hl);
	url[ORCH_PROBE_URL_MAX] = '\0';
	assert_int_equal(orch_probe_stat_path(url, out, sizeof(out)), ORCH_OK);
	plen = ORCH_PROBE_URL_MAX - strlen("http://h");
	assert_int_equal(strlen(out), plen);
	/* The output buffer: exactly enough, one short, none. */
	assert_int_equal(orch_probe_stat_path(url, out, plen + 1), ORCH_OK);
	memset(out, 'X', sizeof(out));
	assert_int_equal(orch_probe_stat_path(url, out, plen), ORCH_ERANGE);
	assert_string_equal(out, "");
	assert_int_equal(orch_probe_stat_path(url, out, 0), ORCH_ERANGE);
	url[ORCH_PROBE_URL_MAX] = 'a';
	url[ORCH_PROBE_URL_MAX + 1] = '\0';
	assert_int_equal(
	    orch_probe_stat_path(url, out, sizeof(out)), ORCH_EINVAL);
	/* A very long one never gets near the buffer. */
	{
		size_t big = 1 << 20;
		char *u = malloc(big + 1);

		assert_non_null(u);
		memset(u, 'a', big);
		memcpy(u, head, hl);
		u[big] = '\0';
		assert_int_equal(
		    orch_probe_stat_path(u, out, sizeof(out)), ORCH_EINVAL);
		free(u);
	}
	assert_int_equal(
	    orch_probe_stat_path(NULL, out, sizeof(out)), ORCH_EINVAL);
	assert_int_equal(
	    orch_probe_stat_path("http://h/ace/stat/a", NULL, 9), ORCH_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Gluetun */

static const struct {
	long status;
	const char *body;
	bool ok;
	bool running;
	const char *why;
} vpn_cases[] = {
    {200, "{\"status\":\"running\"}", true, true, ""},
    {200, "{\"status\":\"stopped\"}", true, false, ""},
    {200, "{\"status\":\"crashed\"}", true, false, ""},
    {200, "{\"status\":\"Running\"}", true, false, ""},
    {200, "{\"status\":\"\"}", true, false, ""},
    {200, "{\"status\":\"running\",\"other\":[1,{}]}", true, true, ""},
    {200, "{\"outcome\":\"running\"}", false, false, "no \"status\""},
    {200, "{\"status\":1}", false, false, "no \"status\""},
    {200, "{\"status\":true}", false, false, "no \"status\""},
    {200, "{\"status\":null}", false, false, "no \"status\""},
    {200, "{\"status\":[\"running\"]}", false, false, "no \"status\""},
    {200, "{\"status\":{\"status\":\"running\"}}", false, false,
        "no \"status\""},
    {200, "{}", false, false, "no \"status\""},
    {200, "[\"running\"]", false, false, "not a JSON object"},
    {200, "running", false, false, "invalid JSON"},
    {200, "", false, false, "empty"},
    {200, "{\"status\":\"running\"", false, false, "invalid JSON"},
    {200, "{\"status\":\"running\",\"status\":\"stopped\"}", false, false,
        "invalid JSON"},
    {500, "{\"status\":\"running\"}", false, false, "HTTP 500"},
    {401, "{\"status\":\"running\"}", false, false, "HTTP 401"},
};

static void
test_vpn_table(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < N(vpn_cases); i++) {
		char why[64];
		size_t len;
		char *b = dup_exact(vpn_cases[i].body, -1, &len);
		bool running = !vpn_cases[i].running, ok;

		ok = orch_probe_parse_vpn_status(
		    vpn_cases[i].status, b, len, &running, why, sizeof(why));
		if (ok != vpn_cases[i].ok ||
		    strstr(why, vpn_cases[i].why) == NULL)
			fail_msg("case %zu: ok %d why \"%s\"", i, ok, why);
		if (ok)
			assert_int_equal(running, vpn_cases[i].running);
		else /* untouched */
			assert_int_equal(running, !vpn_cases[i].running);
		free(b);
	}
	assert_true(orch_probe_parse_vpn_status(
	    200, "{\"status\":\"running\"}", 20, NULL, NULL, 0));
}

static const struct {
	long status;
	const char *body;
	bool ok;
	int port;
	const char *why;
} port_cases[] = {
    {200, "{\"port\":54321}", true, 54321, ""},
    {200, "{\"port\":0}", true, 0, ""},
    {200, "{\"port\":1}", true, 1, ""},
    {200, "{\"port\":65535}", true, 65535, ""},
    {200, "{\"port\":8000,\"x\":null}", true, 8000, ""},
    {200, "{\"port\":65536}", false, 0, "out of range"},
    {200, "{\"port\":-1}", false, 0, "out of range"},
    {200, "{\"port\":-9223372036854775808}", false, 0, "out of range"},
    {200, "{\"port\":9223372036854775807}", false, 0, "out of range"},
    {200, "{\"port\":4294967297}", false, 0, "out of range"},
    {200, "{\"port\":99999999999999999999}", false, 0, "invalid JSON"},
    {200, "{\"port\":54321.0}", false, 0, "no \"port\""},
    {200, "{\"port\":5e4}", false, 0, "no \"port\""},
    {200, "{\"port\":\"54321\"}", false, 0, "no \"port\""},
    {200, "{\"port\":null}", false, 0, "no \"port\""},
    {200, "{\"port\":true}", false, 0, "no \"port\""},
    {200, "{\"port\":[54321]}", false, 0, "no \"port\""},
    {200, "{\"ports\":[54321]}", false, 0, "no \"port\""},
    {200, "{}", false, 0, "no \"port\""},
    {200, "54321", false, 0, "JSON"},
    {200, "[{\"port\":1}]", false, 0, "not a JSON object"},
    {200, "", false, 0, "empty"},
    {200, "{\"port\":", false, 0, "invalid JSON"},
    {200, "{\"port\":1,\"port\":2}", false, 0, "invalid JSON"},
    {500, "{\"port\":54321}", false, 0, "HTTP 500"},
};

static void
test_port_table(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < N(port_cases); i++) {
		char why[64];
		size_t len;
		char *b = dup_exact(port_cases[i].body, -1, &len);
		int port = -77;
		bool ok;

		ok = orch_probe_parse_forwarded_port(
		    port_cases[i].status, b, len, &port, why, sizeof(why));
		if (ok != port_cases[i].ok ||
		    strstr(why, port_cases[i].why) == NULL)
			fail_msg("case %zu (%s): ok %d why \"%s\"", i,
			    port_cases[i].body, ok, why);
		assert_int_equal(port, ok ? port_cases[i].port : -77);
		free(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_table),
	    cmocka_unit_test(test_health_edges),
	    cmocka_unit_test(test_stat_table),
	    cmocka_unit_test(test_stat_edges),
	    cmocka_unit_test(test_stat_path_table),
	    cmocka_unit_test(test_stat_path_lengths),
	    cmocka_unit_test(test_vpn_table),
	    cmocka_unit_test(test_port_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
