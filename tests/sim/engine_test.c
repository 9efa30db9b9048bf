/*
 * Conformance of `sim engine` with ENGINE_PROTOCOL.md, row by row: the
 * simulator is the oracle of the orchestrator's other tests, so every
 * answer the page lists is checked here against a running binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/sim/simtest.h"

static struct simtest_proc eng;

static int
group_setup(void **state)
{
	static const char *const env[] = {"SIM_BITRATE_KBPS=2000", NULL};

	(void) state;
	return simtest_start(&eng, "engine", env, 0, 5000);
}

static int
group_teardown(void **state)
{
	(void) state;
	simtest_stop(&eng);
	simtest_reap_all();
	return 0;
}

static void
nap_ms(long ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* GET path on the shared engine with optional extra headers, as JSON. */
static json_t *
get_json_hp(
    int port, const char *path, const char *const *headers, long *status)
{
	struct simtest_resp r;
	char url[2048];
	json_t *j = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	*status = 0;
	if (simtest_http(&r, "GET", url, NULL, headers, 3000) == CURLE_OK) {
		*status = r.status;
		assert_string_equal(r.ctype, "application/json");
		j = json_loads(r.body, 0, NULL);
	}
	simtest_resp_free(&r);
	return j;
}

static json_t *
get_json_h(const char *path, const char *const *headers, long *status)
{
	return get_json_hp(eng.port, path, headers, status);
}

static json_t *
get_json(const char *path, long *status)
{
	return get_json_hp(eng.port, path, NULL, status);
}

static void
assert_is_hex(const char *s, size_t len)
{
	size_t i;

	assert_int_equal(strlen(s), len);
	for (i = 0; i < len; i++)
		assert_true(isxdigit((unsigned char) s[i]));
}

/* A session made by getstream; strings copied out of the JSON. */
struct session {
	char ih[128];
	char psid[128];
	char playback[512];
	char stat[512];
	char cmd[512];
};

/* Checks one getstream answer fully and returns its session. */
static void
check_getstream(json_t *j, const char *host, struct session *s)
{
	json_t *resp;
	const char *ih, *psid;
	char want[512];

	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "error")));
	resp = json_object_get(j, "response");
	assert_true(json_is_object(resp));
	ih = json_string_value(json_object_get(resp, "infohash"));
	psid = json_string_value(json_object_get(resp, "playback_session_id"));
	assert_non_null(ih);
	assert_non_null(psid);
	assert_true(strlen(psid) >= 16);
	/* The three counters are ints, not bools or strings. */
	assert_true(json_is_integer(json_object_get(resp, "is_live")));
	assert_int_equal(
	    json_integer_value(json_object_get(resp, "is_live")), 1);
	assert_true(json_is_integer(json_object_get(resp, "is_encrypted")));
	assert_int_equal(
	    json_integer_value(json_object_get(resp, "is_encrypted")), 0);
	assert_true(
	    json_is_integer(json_object_get(resp, "client_session_id")));
	assert_int_equal(
	    json_integer_value(json_object_get(resp, "client_session_id")),
	    -1);

	snprintf(want, sizeof(want), "http://%s/ace/r/%s/%s", host, ih, psid);
	assert_string_equal(
	    json_string_value(json_object_get(resp, "playback_url")), want);
	snprintf(
	    want, sizeof(want), "http://%s/ace/stat/%s/%s", host, ih, psid);
	assert_string_equal(
	    json_string_value(json_object_get(resp, "stat_url")), want);
	snprintf(
	    want, sizeof(want), "http://%s/ace/cmd/%s/%s", host, ih, psid);
	assert_string_equal(
	    json_string_value(json_object_get(resp, "command_url")), want);

	snprintf(s->ih, sizeof(s->ih), "%s", ih);
	snprintf(s->psid, sizeof(s->psid), "%s", psid);
	snprintf(s->playback, sizeof(s->playback), "/ace/r/%s/%s", ih, psid);
	snprintf(s->stat, sizeof(s->stat), "/ace/stat/%s/%s", ih, psid);
	snprintf(s->cmd, sizeof(s->cmd), "/ace/cmd/%s/%s", ih, psid);
}

static void
local_host(char *buf, size_t sz)
{
	snprintf(buf, sz, "127.0.0.1:%d", eng.port);
}

static void
new_session_on(int port, const char *query, struct session *s)
{
	char path[512], host[64];
	long status;
	json_t *j;

	snprintf(path, sizeof(path), "/ace/getstream?%s", query);
	j = get_json_hp(port, path, NULL, &status);
	assert_int_equal(status, 200);
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	check_getstream(j, host, s);
	json_decref(j);
}

static void
new_session(const char *query, struct session *s)
{
	new_session_on(eng.port, query, s);
}

/* ---- probes ---- */

static void
test_status_probe(void **state)
{
	long status;
	json_t *j =
	    get_json("/server/api?api_version=3&method=get_status", &status);

	(void) state;
	assert_int_equal(status, 200);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "error")));
	assert_true(json_is_integer(
	    json_object_get(json_object_get(j, "result"), "status")));
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(j, "result"), "status")),
	    1);
	json_decref(j);
}

static void
test_network_probe(void **state)
{
	long status;
	json_t *j = get_json(
	    "/server/api?api_version=3&method=get_network_connection_status",
	    &status);

	(void) state;
	assert_int_equal(status, 200);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "error")));
	assert_true(json_is_true(
	    json_object_get(json_object_get(j, "result"), "connected")));
	json_decref(j);
}

static void
test_webui_probe(void **state)
{
	long status;
	json_t *j = get_json("/webui/api/service?method=get_status", &status);

	(void) state;
	assert_int_equal(status, 200);
	assert_true(json_is_object(j));
	json_decref(j);
}

/* ---- getstream ---- */

static void
test_getstream_by_id(void **state)
{
	struct session a, b;

	(void) state;
	new_session("id=0123abcdef&format=json&pid=11111111-2222-3333-4444-"
	            "555555555555",
	    &a);
	new_session("id=0123abcdef&format=json&pid=x", &b);
	/* The id maps to the same infohash each time; sessions differ. */
	assert_is_hex(a.ih, 40);
	assert_string_equal(a.ih, b.ih);
	assert_string_not_equal(a.psid, b.psid);
	new_session("id=another&format=json&pid=x", &b);
	assert_string_not_equal(a.ih, b.ih);
}

static void
test_getstream_by_infohash(void **state)
{
	struct session s;

	(void) state;
	new_session("infohash=a1b2c3d4e5f60718293a4b5c6d7e8f9012345678&"
	            "format=json&pid=p",
	    &s);
	assert_string_equal(s.ih, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678");
	/* Query values are %-decoded. */
	new_session("format=json&infohash=abc%31def&pid=p", &s);
	assert_string_equal(s.ih, "abc1def");
}

static void
test_manifest(void **state)
{
	struct session s;
	char host[64];
	long status;
	json_t *j =
	    get_json("/ace/manifest.m3u8?id=chan&format=json&pid=p", &status);

	(void) state;
	assert_int_equal(status, 200);
	local_host(host, sizeof(host));
	check_getstream(j, host, &s);
	json_decref(j);
}

static void
test_urls_follow_host_header(void **state)
{
	static const char *const hdr[] = {"Host: engine-7.example:6878", NULL};
	struct session s;
	long status;
	json_t *j =
	    get_json_h("/ace/getstream?id=x&format=json&pid=p", hdr, &status);

	(void) state;
	assert_int_equal(status, 200);
	check_getstream(j, "engine-7.example:6878", &s);
	json_decref(j);
}

static void
test_getstream_without_id(void **state)
{
	long status;
	json_t *j = get_json("/ace/getstream?format=json&pid=p", &status);

	(void) state;
	assert_int_equal(status, 200);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "response")));
	assert_true(json_is_string(json_object_get(j, "error")));
	json_decref(j);
}

/* ---- the stream ---- */

/* Opens the playback URL on a raw socket; checks the response head. */
static void
open_stream(struct simtest_rd *rd, int port, const struct session *s)
{
	char req[1024], line[512];
	int saw_ts = 0, saw_chunked = 0;

	rd->fd = simtest_connect(port);
	rd->len = 0;
	assert_true(rd->fd >= 0);
	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", s->playback,
	    port);
	assert_int_equal(simtest_send_str(rd->fd, req), 0);
	assert_int_equal(simtest_rd_line(rd, line, sizeof(line), 3000), 0);
	assert_string_equal(line, "HTTP/1.1 200 OK");
	for (;;) {
		assert_int_equal(
		    simtest_rd_line(rd, line, sizeof(line), 3000), 0);
		if (line[0] == '\0')
			break;
		if (strcasecmp(line, "Content-Type: video/MP2T") == 0)
			saw_ts = 1;
		if (strcasecmp(line, "Transfer-Encoding: chunked") == 0)
			saw_chunked = 1;
	}
	assert_true(saw_ts);
	assert_true(saw_chunked);
}

/*
 * Reads one chunk; checks it holds whole TS packets. Returns its payload
 * size, 0 for the last chunk.
 */
static size_t
read_ts_chunk(struct simtest_rd *rd, int timeout_ms)
{
	static unsigned char data[65536];
	char line[64];
	unsigned long size;
	size_t i;

	assert_int_equal(
	    simtest_rd_line(rd, line, sizeof(line), timeout_ms), 0);
	size = strtoul(line, NULL, 16);
	assert_true(size < sizeof(data));
	if (size > 0) {
		assert_int_equal(
		    simtest_rd_exact(rd, data, size, timeout_ms), 0);
		assert_int_equal(size % 188, 0);
		for (i = 0; i < size; i += 188)
			assert_int_equal(data[i], 0x47);
	}
	assert_int_equal(simtest_rd_exact(rd, line, 2, timeout_ms), 0);
	assert_memory_equal(line, "\r\n", 2);
	return size;
}

static void
test_stream_is_ts_and_ends_on_stop(void **state)
{
	struct simtest_rd *rd = calloc(1, sizeof(*rd));
	struct session s;
	char path[600];
	size_t total = 0;
	long status;
	json_t *j;
	int64_t deadline;

	(void) state;
	assert_non_null(rd);
	new_session("id=streamtest&format=json&pid=p", &s);
	open_stream(rd, eng.port, &s);
	while (total < 8 * 1024)
		total += read_ts_chunk(rd, 3000);
	/* Stop: the stream must finish cleanly and the session vanish. */
	snprintf(path, sizeof(path), "%s?method=stop", s.cmd);
	j = get_json(path, &status);
	json_decref(j);
	assert_int_equal(status, 200);
	deadline = simtest_now_ms() + 3000;
	while (read_ts_chunk(rd, 3000) != 0)
		assert_true(simtest_now_ms() < deadline);
	assert_int_equal(simtest_rd_more(rd, 2000), 0); /* EOF */
	close(rd->fd);
	free(rd);
}

static void
test_stream_bitrate(void **state)
{
	static const char *const env[] = {"SIM_BITRATE_KBPS=800", NULL};
	struct simtest_rd *rd = calloc(1, sizeof(*rd));
	struct simtest_proc p;
	struct session s;
	size_t total = 0;
	int64_t start;

	(void) state;
	assert_non_null(rd);
	assert_int_equal(simtest_start(&p, "engine", env, 0, 5000), 0);
	new_session_on(p.port, "id=rate&format=json&pid=p", &s);
	open_stream(rd, p.port, &s);
	/* 800 kbit/s is 100000 B/s; one second should carry about that. */
	start = simtest_now_ms();
	while (simtest_now_ms() - start < 1000)
		total += read_ts_chunk(rd, 3000);
	print_message("bytes in 1 s at 800 kbit/s: %zu\n", total);
	assert_in_range(total, 70000, 140000);
	close(rd->fd);
	free(rd);
	simtest_stop(&p);
}

static void
test_stream_via_curl(void **state)
{
	struct simtest_resp r;
	struct session s;
	char url[1024];
	size_t i;

	(void) state;
	new_session("id=curlstream&format=json&pid=p", &s);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d%s", eng.port, s.playback);
	/* Endless: the transfer can only end by our timeout. */
	assert_int_equal(simtest_http(&r, "GET", url, NULL, NULL, 400),
	    CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "video/MP2T");
	assert_true(r.chunked);
	assert_true(r.len >= 188 * 10);
	for (i = 0; i + 188 <= r.len; i += 188)
		assert_int_equal((unsigned char) r.body[i], 0x47);
	simtest_resp_free(&r);
}

static void
test_stream_unknown_session(void **state)
{
	long status;
	json_t *j = get_json("/ace/r/deadbeef/0000", &status);

	(void) state;
	assert_int_equal(status, 404);
	assert_true(json_is_null(json_object_get(j, "response")));
	json_decref(j);
}

/* ---- stat and cmd ---- */

static json_int_t
stat_field(json_t *resp, const char *key)
{
	json_t *v = json_object_get(resp, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void
test_stat_grows(void **state)
{
	struct session s;
	json_int_t first = 0;
	long status;
	int round;

	(void) state;
	new_session("id=stattest&format=json&pid=p", &s);
	for (round = 0; round < 2; round++) {
		json_t *j = get_json(s.stat, &status);
		json_t *resp = json_object_get(j, "response");

		assert_int_equal(status, 200);
		assert_true(json_is_null(json_object_get(j, "error")));
		assert_string_equal(
		    json_string_value(json_object_get(resp, "status")), "dl");
		assert_true(stat_field(resp, "peers") > 0);
		assert_true(stat_field(resp, "speed_down") > 0);
		assert_true(stat_field(resp, "speed_up") >= 0);
		assert_true(stat_field(resp, "uploaded") >= 0);
		assert_int_equal(stat_field(resp, "total_progress"), 0);
		if (round == 0)
			first = stat_field(resp, "downloaded");
		else
			assert_true(stat_field(resp, "downloaded") > first);
		json_decref(j);
		nap_ms(300);
	}
}

static void
assert_unknown_session(json_t *j)
{
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "response")));
	assert_string_equal(json_string_value(json_object_get(j, "error")),
	    "unknown playback session id");
}

static void
test_stop_then_stat_unknown(void **state)
{
	struct session s;
	char path[600];
	long status;
	json_t *j;

	(void) state;
	new_session("id=stoptest&format=json&pid=p", &s);
	snprintf(path, sizeof(path), "%s?method=stop", s.cmd);
	j = get_json(path, &status);
	assert_int_equal(status, 200);
	assert_string_equal(
	    json_string_value(json_object_get(j, "response")), "ok");
	assert_true(json_is_null(json_object_get(j, "error")));
	json_decref(j);

	j = get_json(s.stat, &status);
	assert_int_equal(status, 200);
	assert_unknown_session(j);
	json_decref(j);

	/* A second stop finds nothing to stop. */
	j = get_json(path, &status);
	assert_true(json_is_null(json_object_get(j, "response")));
	json_decref(j);
}

static void
test_stat_unknown(void **state)
{
	long status;
	json_t *j = get_json("/ace/stat/abcdef/0123456789abcdef", &status);

	(void) state;
	assert_int_equal(status, 200);
	assert_unknown_session(j);
	json_decref(j);
}

/* ---- HTTP behaviour ---- */

static void
test_unknown_path_404(void **state)
{
	long status;
	json_t *j = get_json("/no/such/thing", &status);

	(void) state;
	assert_int_equal(status, 404);
	assert_true(json_is_object(j));
	json_decref(j);
}

static int
count(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;
	int c = 0;

	for (i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			c++;
	return c;
}

/* Reads until EOF; fails if the server keeps the connection open. */
static void
read_to_eof(struct simtest_rd *rd)
{
	int64_t deadline = simtest_now_ms() + 3000;
	int got;

	while ((got = simtest_rd_more(rd, 3000)) == 1)
		assert_true(simtest_now_ms() < deadline);
	assert_int_equal(got, 0);
}

static void
test_keepalive_and_pipelining(void **state)
{
	struct simtest_rd *rd = calloc(1, sizeof(*rd));

	(void) state;
	assert_non_null(rd);
	rd->fd = simtest_connect(eng.port);
	assert_true(rd->fd >= 0);
	/* Two requests in one write; the connection outlives the first. */
	assert_int_equal(
	    simtest_send_str(rd->fd,
	        "GET /server/api?api_version=3&method=get_status HTTP/1.1\r\n"
	        "Host: x\r\n\r\n"
	        "GET /server/api?method=get_network_connection_status "
	        "HTTP/1.1\r\n"
	        "Host: x\r\nConnection: close\r\n\r\n"),
	    0);
	read_to_eof(rd);
	assert_int_equal(count(rd->buf, rd->len, "HTTP/1.1 200 OK\r\n"), 2);
	assert_int_equal(count(rd->buf, rd->len, "Connection: keep-alive"), 1);
	assert_int_equal(count(rd->buf, rd->len, "Connection: close"), 1);
	assert_int_equal(count(rd->buf, rd->len, "\"connected\":true"), 1);
	close(rd->fd);
	free(rd);
}

static void
test_http10_closes(void **state)
{
	struct simtest_rd *rd = calloc(1, sizeof(*rd));

	(void) state;
	assert_non_null(rd);
	rd->fd = simtest_connect(eng.port);
	assert_true(rd->fd >= 0);
	assert_int_equal(simtest_send_str(rd->fd,
	                     "GET /webui/api/service?method=get_status "
	                     "HTTP/1.0\r\n\r\n"),
	    0);
	read_to_eof(rd);
	assert_int_equal(count(rd->buf, rd->len, "200 OK"), 1);
	close(rd->fd);
	free(rd);
}

static void
test_bad_request(void **state)
{
	struct simtest_rd *rd = calloc(1, sizeof(*rd));

	(void) state;
	assert_non_null(rd);
	rd->fd = simtest_connect(eng.port);
	assert_true(rd->fd >= 0);
	assert_int_equal(simtest_send_str(rd->fd, "NONSENSE\r\n\r\n"), 0);
	read_to_eof(rd);
	assert_int_equal(count(rd->buf, rd->len, "HTTP/1.1 400 "), 1);
	close(rd->fd);
	free(rd);
}

/* ---- process behaviour ---- */

static void
test_port_from_conf(void **state)
{
	struct simtest_proc p;
	char conf[128];
	const char *env[] = {conf, NULL};
	int port = simtest_free_port();
	long status;
	json_t *j;

	(void) state;
	assert_true(port > 0);
	snprintf(conf, sizeof(conf),
	    "CONF=--client-console\n--http-port=%d\n--bind-all", port);
	assert_int_equal(simtest_start(&p, "engine", env, port, 5000), 0);
	j = simtest_get_json(port, "/server/api?method=get_status", &status);
	assert_int_equal(status, 200);
	json_decref(j);
	simtest_stop(&p);
}

static void
test_sigterm_exits_promptly(void **state)
{
	struct simtest_proc p;
	struct simtest_rd *rd = calloc(1, sizeof(*rd));
	struct session s;
	int64_t took;

	(void) state;
	assert_non_null(rd);
	assert_int_equal(simtest_start(&p, "engine", NULL, 0, 5000), 0);
	/* With a stream running, so a busy thread cannot delay the exit. */
	new_session_on(p.port, "id=term&format=json&pid=p", &s);
	open_stream(rd, p.port, &s);
	assert_true(read_ts_chunk(rd, 3000) > 0);
	assert_int_equal(simtest_stop_sig(&p, SIGTERM, 2000, &took), 0);
	assert_true(took < 1000);
	close(rd->fd);
	free(rd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_probe),
	    cmocka_unit_test(test_network_probe),
	    cmocka_unit_test(test_webui_probe),
	    cmocka_unit_test(test_getstream_by_id),
	    cmocka_unit_test(test_getstream_by_infohash),
	    cmocka_unit_test(test_manifest),
	    cmocka_unit_test(test_urls_follow_host_header),
	    cmocka_unit_test(test_getstream_without_id),
	    cmocka_unit_test(test_stream_is_ts_and_ends_on_stop),
	    cmocka_unit_test(test_stream_bitrate),
	    cmocka_unit_test(test_stream_via_curl),
	    cmocka_unit_test(test_stream_unknown_session),
	    cmocka_unit_test(test_stat_grows),
	    cmocka_unit_test(test_stop_then_stat_unknown),
	    cmocka_unit_test(test_stat_unknown),
	    cmocka_unit_test(test_unknown_path_404),
	    cmocka_unit_test(test_keepalive_and_pipelining),
	    cmocka_unit_test(test_http10_closes),
	    cmocka_unit_test(test_bad_request),
	    cmocka_unit_test(test_port_from_conf),
	    cmocka_unit_test(test_sigterm_exits_promptly),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests_name(
	    "sim engine conformance", tests, group_setup, group_teardown);
	curl_global_cleanup();
	return rc;
}
