/*
 * The Docker client without Docker: DOCKER_HOST forms, a daemon that is
 * not there (fast ORCH_EUNAVAIL, no retries), and a fake daemon on a unix
 * socket (tests/runtime/fakedocker.h) that answers what Docker never would
 * on demand: every version header, every status, malformed, truncated,
 * hung and huge replies, and an events stream that drops and replays.
 * Nothing here needs ORCH_TEST_DOCKER; nothing leaves the test's tmpdir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "src/base/time.h"
#include "src/runtime/docker.h"
#include "tests/runtime/fakedocker.h"

#define INSPECT_OK                                                            \
	"{\"Id\":\"abc\",\"Name\":\"/n\",\"Created\":"                        \
	"\"2024-01-02T03:04:05.123456789Z\",\"State\":{\"Status\":"           \
	"\"running\",\"Running\":true},\"Config\":{\"Image\":\"img:1\","      \
	"\"Labels\":{\"a\":\"b\"},\"Env\":[\"X=1\"]},\"NetworkSettings\":"    \
	"{\"Ports\":{\"6878/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":"   \
	"\"29001\"}],\"8080/tcp\":null},\"Networks\":{\"orch-net\":"          \
	"{\"Gateway\":\"172.18.0.1\",\"IPAddress\":\"172.18.0.2\"},"          \
	"\"other\":{\"Gateway\":null}}},\"HostConfig\":{\"NetworkMode\":"     \
	"\"orch-net\"}}"

static orch_docker *
open_unix(const char *path, int timeout_ms)
{
	char host[160];
	orch_docker *d = NULL;

	snprintf(host, sizeof(host), "unix://%s", path);
	assert_int_equal(orch_docker_open(host, timeout_ms, &d), ORCH_OK);
	assert_non_null(d);
	return d;
}

static bool
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------ */
/* DOCKER_HOST forms. */

static void
test_open_bad_hosts(void **state)
{
	static const char *bad[] = {
	    "",
	    "unix://",
	    "unix://relative.sock",
	    "unix:/x",
	    "tcp://",
	    "tcp://host",
	    "tcp://host:",
	    "tcp://:2375",
	    "tcp://host:0",
	    "tcp://host:65536",
	    "tcp://host:12ab",
	    "tcp://host:2375/path",
	    "tcp://a:b:2375",
	    "tcp://[::1]2375",
	    "tcp://[]:2375",
	    "tcp://ho st:2375",
	    "http://localhost:2375",
	    "npipe:////./pipe/docker_engine",
	    "ssh://user@host",
	    "/var/run/docker.sock",
	    "UNIX:///var/run/docker.sock",
	};
	char longpath[200];
	orch_docker *d;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = (orch_docker *) 1;
		assert_int_equal(
		    orch_docker_open(bad[i], 1000, &d), ORCH_EINVAL);
		assert_null(d);
	}
	d = (orch_docker *) 1;
	assert_int_equal(orch_docker_open(NULL, 1000, &d), ORCH_EINVAL);
	assert_null(d);
	assert_int_equal(
	    orch_docker_open(ORCH_DOCKER_DEFAULT_HOST, -1, &d), ORCH_EINVAL);
	assert_int_equal(
	    orch_docker_open(ORCH_DOCKER_DEFAULT_HOST, 1000, NULL),
	    ORCH_EINVAL);
	/* sun_path holds 108 bytes with the NUL. */
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:///", 8);
	longpath[7 + 108] = '\0';
	assert_int_equal(orch_docker_open(longpath, 1000, &d), ORCH_EINVAL);
	longpath[7 + 107] = '\0';
	assert_int_equal(orch_docker_open(longpath, 1000, &d), ORCH_OK);
	orch_docker_close(d);
	orch_docker_close(NULL);
}

static void
test_open_good_tcp_forms(void **state)
{
	static const char *good[] = {
	    "tcp://127.0.0.1:1",
	    "tcp://localhost:1",
	    "tcp://[::1]:1",
	};
	orch_docker *d;
	char v[16];

	(void) state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t t0 = orch_mono_ms();

		/* Nothing listens on port 1: open still succeeds, fast. */
		assert_int_equal(orch_docker_open(good[i], 2000, &d), ORCH_OK);
		assert_true(orch_mono_ms() - t0 < 3000);
		assert_int_equal(
		    orch_docker_api_version(d, v, sizeof(v)), ORCH_EUNAVAIL);
		assert_int_equal(orch_docker_ping(d, NULL), ORCH_EUNAVAIL);
		orch_docker_close(d);
	}
}

/* ------------------------------------------------------------------------ */
/* Docker is not there. */

static void
check_unavail(orch_err rv, int64_t t0, const orch_diag *diag, const char *call)
{
	int64_t ms = orch_mono_ms() - t0;

	if (rv != ORCH_EUNAVAIL || ms >= 3000 ||
	    strstr(diag->msg, call) == NULL)
		fail_msg("%s: rv %d after %lld ms, msg \"%s\"", call, rv,
		    (long long) ms, diag->msg);
	assert_int_equal(diag->status, 0);
}

static void
test_unreachable_fails_fast(void **state)
{
	char dir[64], path[128];
	orch_docker *d;
	orch_diag diag;
	orch_rt_container c, *list = NULL;
	orch_rt_create_spec spec = {.image = "acestream-sim:latest"};
	orch_rt_kv labels[] = {{"orchestrator.test", "x"}};
	char *id = (char *) 1;
	size_t n = 7;
	int64_t t0, total;

	(void) state;
	snprintf(dir, sizeof(dir), "/tmp/orch-rt-%d-%ld", (int) getpid(),
	    (long) (orch_wall_us() % 1000000));
	snprintf(path, sizeof(path), "%s/nothing.sock", dir);
	total = orch_mono_ms();
	d = open_unix(path, 10000);
	t0 = orch_mono_ms();
	check_unavail(orch_docker_ping(d, &diag), t0, &diag, "ping");
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_create(d, &spec, &id, &diag), t0, &diag, "ping");
	assert_null(id);
	t0 = orch_mono_ms();
	check_unavail(orch_docker_start(d, "abc", &diag), t0, &diag, "ping");
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_stop(d, "abc", 10, &diag), t0, &diag, "ping");
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_kill(d, "abc", NULL, &diag), t0, &diag, "ping");
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_remove(d, "abc", true, &diag), t0, &diag, "ping");
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_inspect(d, "abc", &c, &diag), t0, &diag, "ping");
	assert_null(c.id);
	t0 = orch_mono_ms();
	check_unavail(orch_docker_list(d, labels, 1, &list, &n, &diag), t0,
	    &diag, "ping");
	assert_null(list);
	assert_int_equal(n, 0);
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_image_inspect(d, "a:b", &diag), t0, &diag, "ping");
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_image_pull(d, "a:b", 0, &diag), t0, &diag, "ping");
	/* The message names the socket. */
	assert_non_null(strstr(diag.msg, path));
	orch_docker_close(d);
	/* A closed loopback port: refused at once too. */
	assert_int_equal(
	    orch_docker_open("tcp://127.0.0.1:1", 10000, &d), ORCH_OK);
	t0 = orch_mono_ms();
	check_unavail(
	    orch_docker_inspect(d, "abc", &c, &diag), t0, &diag, "ping");
	orch_docker_close(d);
	print_message("unreachable: 11 calls in %lld ms\n",
	    (long long) (orch_mono_ms() - total));
}

/* ------------------------------------------------------------------------ */
/* Version negotiation. */

static void
check_version(const char *offered, const char *want_prefix)
{
	struct fake f;
	orch_docker *d;
	orch_rt_container c;
	char *reply = fake_http("200 OK", INSPECT_OK), req[8192], v[16];

	fake_start(&f, NULL);
	fake_set_ping(&f, offered);
	fake_reply(&f, reply, 0);
	d = open_unix(f.path, 2000);
	assert_int_equal(orch_docker_inspect(d, "abc", &c, NULL), ORCH_OK);
	orch_rt_container_fini(&c);
	fake_last(&f, req, sizeof(req), NULL);
	if (strncmp(req, want_prefix, strlen(want_prefix)) != 0)
		fail_msg("offered %s: request \"%.60s\", want \"%s\"", offered,
		    req, want_prefix);
	assert_int_equal(orch_docker_api_version(d, v, sizeof(v)), ORCH_OK);
	assert_int_equal(orch_docker_api_version(d, v, 3), ORCH_EINVAL);
	orch_docker_close(d);
	fake_stop(&f);
	free(reply);
}

static void
test_version_capped_and_followed(void **state)
{
	(void) state;
	check_version("1.99", "GET /v1.41/containers/abc/json ");
	check_version("2.0", "GET /v1.41/containers/abc/json ");
	check_version("1.41", "GET /v1.41/containers/abc/json ");
	check_version(" 1.30 ", "GET /v1.30/containers/abc/json ");
	check_version("1.25", "GET /v1.25/containers/abc/json ");
}

static void
test_version_refused(void **state)
{
	static const struct {
		const char *offered;
		orch_err want;
	} cases[] = {
	    {"1.24", ORCH_EPRECOND},
	    {"0.99", ORCH_EPRECOND},
	    {NULL, ORCH_EINTERNAL},
	    {"abc", ORCH_EINTERNAL},
	    {"1", ORCH_EINTERNAL},
	    {"1.", ORCH_EINTERNAL},
	    {"1.41.2", ORCH_EINTERNAL},
	    {"99999.1", ORCH_EINTERNAL},
	    {"", ORCH_EINTERNAL},
	    {"-1.41", ORCH_EINTERNAL},
	};
	struct fake f;
	orch_docker *d;
	orch_diag diag;
	char v[16];

	(void) state;
	fake_start(&f, NULL);
	fake_reply(
	    &f, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_set_ping(&f, cases[i].offered);
		d = open_unix(f.path, 2000);
		if (orch_docker_start(d, "abc", &diag) != cases[i].want)
			fail_msg(
			    "offered \"%s\": %s", cases[i].offered, diag.msg);
		assert_true(strstr(diag.msg, "ping") != NULL);
		assert_int_equal(
		    orch_docker_api_version(d, v, sizeof(v)), ORCH_EUNAVAIL);
		orch_docker_close(d);
	}
	assert_int_equal(fake_requests(&f), 0); /* nothing past the ping */
	fake_stop(&f);
}

/* Docker comes up after the handle was opened: the next call negotiates. */
static void
test_version_negotiated_later(void **state)
{
	struct fake f;
	char dir[64], path[128], v[16];
	orch_docker *d;
	orch_rt_container c;
	char *reply = fake_http("200 OK", INSPECT_OK);

	(void) state;
	snprintf(dir, sizeof(dir), "/tmp/orch-rt-later-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/later.sock", dir);
	d = open_unix(path, 2000);
	assert_int_equal(
	    orch_docker_api_version(d, v, sizeof(v)), ORCH_EUNAVAIL);
	assert_int_equal(
	    orch_docker_inspect(d, "abc", &c, NULL), ORCH_EUNAVAIL);
	fake_start(&f, path);
	fake_set_ping(&f, "1.40");
	fake_reply(&f, reply, 0);
	assert_int_equal(orch_docker_inspect(d, "abc", &c, NULL), ORCH_OK);
	assert_string_equal(c.id, "abc");
	orch_rt_container_fini(&c);
	assert_int_equal(orch_docker_api_version(d, v, sizeof(v)), ORCH_OK);
	assert_string_equal(v, "1.40");
	orch_docker_close(d);
	fake_stop(&f);
	rmdir(dir);
	free(reply);
}

/* ------------------------------------------------------------------------ */
/* HTTP statuses. */

enum op { OP_CREATE, OP_START, OP_STOP, OP_REMOVE, OP_INSPECT, OP_IMAGE };

static orch_err
run_op(orch_docker *d, enum op op, orch_diag *diag)
{
	orch_rt_create_spec spec = {.image = "img:1", .name = "n"};
	orch_rt_container c;
	char *id = NULL;
	orch_err rv = ORCH_EUNKNOWN;

	switch (op) {
	case OP_CREATE:
		rv = orch_docker_create(d, &spec, &id, diag);
		break;
	case OP_START:
		rv = orch_docker_start(d, "abc", diag);
		break;
	case OP_STOP:
		rv = orch_docker_stop(d, "abc", 1, diag);
		break;
	case OP_REMOVE:
		rv = orch_docker_remove(d, "abc", false, diag);
		break;
	case OP_INSPECT:
		rv = orch_docker_inspect(d, "abc", &c, diag);
		orch_rt_container_fini(&c);
		break;
	case OP_IMAGE:
		rv = orch_docker_image_inspect(d, "img:1", diag);
		break;
	}
	free(id);
	return rv;
}

static void
test_status_mapping(void **state)
{
	static const struct {
		enum op op;
		const char *status, *body;
		orch_err want;
		const char *msg; /* expected in diag.msg */
	} cases[] = {
	    {OP_INSPECT, "404 Not Found",
	        "{\"message\":\"No such container: abc\"}", ORCH_ENOTFOUND,
	        "No such container: abc"},
	    {OP_IMAGE, "404 Not Found", "{\"message\":\"no such image\"}",
	        ORCH_ENOTFOUND, "no such image"},
	    {OP_IMAGE, "200 OK", "{\"Id\":\"sha256:1\"}", ORCH_OK, ""},
	    {OP_CREATE, "409 Conflict",
	        "{\"message\":\"Conflict. The container name \\\"/n\\\" is "
	        "already in use\"}",
	        ORCH_EEXIST, "already in use"},
	    {OP_CREATE, "404 Not Found", "{\"message\":\"No such image\"}",
	        ORCH_ENOTFOUND, "No such image"},
	    {OP_CREATE, "400 Bad Request",
	        "{\"message\":\"invalid restart policy\"}", ORCH_EINTERNAL,
	        "HTTP 400: invalid restart policy"},
	    {OP_REMOVE, "409 Conflict",
	        "{\"message\":\"You cannot remove a running container\"}",
	        ORCH_EPRECOND, "cannot remove"},
	    {OP_START, "304 Not Modified", "", ORCH_OK, ""},
	    {OP_STOP, "304 Not Modified", "", ORCH_OK, ""},
	    {OP_START, "204 No Content", "", ORCH_OK, ""},
	    {OP_START, "500 Internal Server Error",
	        "{\"message\":\"port is already allocated\"}", ORCH_EINTERNAL,
	        "start abc: HTTP 500: port is already allocated"},
	    {OP_START, "500 Internal Server Error", "<html>oops</html>",
	        ORCH_EINTERNAL, "HTTP 500: (no message)"},
	    {OP_START, "500 Internal Server Error", "{\"message\":42}",
	        ORCH_EINTERNAL, "(no message)"},
	    {OP_START, "503 Service Unavailable", "{}", ORCH_EUNAVAIL,
	        "HTTP 503"},
	    {OP_START, "403 Forbidden", "{\"message\":\"no\"}", ORCH_EPERM,
	        "HTTP 403"},
	    {OP_START, "418 I'm a teapot", "", ORCH_EINTERNAL, "HTTP 418"},
	    {OP_START, "500 Internal Server Error",
	        "{\"message\":\"line\\none\\ttab\"}", ORCH_EINTERNAL,
	        "line one tab"},
	};
	struct fake f;
	orch_docker *d;
	orch_diag diag;
	char *reply, want_status[4];

	(void) state;
	fake_start(&f, NULL);
	d = open_unix(f.path, 2000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_err rv;

		reply = fake_http(cases[i].status, cases[i].body);
		fake_reply(&f, reply, 0);
		free(reply);
		rv = run_op(d, cases[i].op, &diag);
		if (rv != cases[i].want ||
		    strstr(diag.msg, cases[i].msg) == NULL)
			fail_msg(
			    "case %zu: rv %d, msg \"%s\"", i, rv, diag.msg);
		snprintf(
		    want_status, sizeof(want_status), "%s", cases[i].status);
		assert_int_equal(diag.status, atol(want_status));
		if (rv == ORCH_OK)
			assert_string_equal(diag.msg, "");
	}
	orch_docker_close(d);
	fake_stop(&f);
}

/* ------------------------------------------------------------------------ */
/* Requests as sent. */

static void
test_create_request(void **state)
{
	const char *env[] = {"HTTP_PORT=29001", "CONF=--a b", NULL};
	/* Pairs: "a=b" is a key (it must not turn into a=("b=c")), and a key
	 * given twice keeps its first value. */
	orch_rt_kv labels[] = {{"orchestrator.managed", "true"}, {"k", "v=w"},
	    {"e", ""}, {"a=b", "c"}, {"k", "later"}};
	const char *cmd[] = {"/sim", "engine", NULL};
	orch_rt_publish ports[] = {{6878, 29001, NULL}, {8621, 0, "udp"}};
	orch_rt_create_spec spec = {
	    .name = "acestream-1",
	    .image = "acestream-sim:latest",
	    .env = env,
	    .labels = labels,
	    .n_labels = 5,
	    .cmd = cmd,
	    .ports = ports,
	    .n_ports = 2,
	    .host_ip = "0.0.0.0",
	    .restart_policy = "unless-stopped",
	    .network = "orch-net",
	};
	struct fake f;
	orch_docker *d;
	char *reply =
	    fake_http("201 Created", "{\"Id\":\"new1\",\"Warnings\":[]}");
	char req[8192], *body = NULL, *id = NULL;
	json_t *j, *hc;
	json_error_t jerr;
	int before;

	(void) state;
	fake_start(&f, NULL);
	fake_reply(&f, reply, 0);
	d = open_unix(f.path, 2000);
	assert_int_equal(orch_docker_create(d, &spec, &id, NULL), ORCH_OK);
	assert_string_equal(id, "new1");
	free(id);
	fake_last(&f, req, sizeof(req), &body);
	assert_true(starts(
	    req, "POST /v1.41/containers/create?name=acestream-1 HTTP/1.1"));
	assert_non_null(strstr(req, "Content-Type: application/json"));
	assert_non_null(body);
	j = json_loads(body, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Image")),
	    "acestream-sim:latest");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(j, "Env"), 1)),
	    "CONF=--a b");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(j, "Cmd"), 1)),
	    "engine");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "Labels"), "k")),
	    "v=w");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "Labels"), "e")),
	    "");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "Labels"), "a=b")),
	    "c");
	assert_null(json_object_get(json_object_get(j, "Labels"), "a"));
	assert_int_equal(json_object_size(json_object_get(j, "Labels")), 4);
	assert_non_null(
	    json_object_get(json_object_get(j, "ExposedPorts"), "6878/tcp"));
	assert_non_null(
	    json_object_get(json_object_get(j, "ExposedPorts"), "8621/udp"));
	hc = json_object_get(j, "HostConfig");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(
	            json_object_get(
	                json_object_get(hc, "PortBindings"), "6878/tcp"),
	            0),
	        "HostIp")),
	    "0.0.0.0");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(
	            json_object_get(
	                json_object_get(hc, "PortBindings"), "6878/tcp"),
	            0),
	        "HostPort")),
	    "29001");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(
	            json_object_get(
	                json_object_get(hc, "PortBindings"), "8621/udp"),
	            0),
	        "HostPort")),
	    "");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(hc, "RestartPolicy"), "Name")),
	    "unless-stopped");
	assert_string_equal(
	    json_string_value(json_object_get(hc, "NetworkMode")), "orch-net");
	json_decref(j);
	free(body);

	/* A minimal spec: no name, binding on 127.0.0.1 by default. */
	{
		orch_rt_create_spec min = {
		    .image = "img", .ports = ports, .n_ports = 1};

		assert_int_equal(
		    orch_docker_create(d, &min, &id, NULL), ORCH_OK);
		free(id);
		fake_last(&f, req, sizeof(req), &body);
		assert_true(starts(req, "POST /v1.41/containers/create HTTP"));
		assert_non_null(strstr(body, "\"HostIp\":\"127.0.0.1\""));
		assert_null(strstr(body, "RestartPolicy"));
		assert_null(strstr(body, "\"Cmd\""));
		free(body);
	}

	/* Refused before any I/O. */
	before = fake_requests(&f);
	{
		orch_rt_kv badlabels[] = {{"novalue", NULL}};
		orch_rt_kv badlabels2[] = {{"", "v"}};
		orch_rt_kv badutf8[] = {{"k", "\xff\xfe"}};
		orch_rt_publish badport[] = {{0, 1, NULL}};
		orch_rt_publish badport2[] = {{80, 70000, NULL}};
		orch_rt_publish badproto[] = {{80, 80, "icmp"}};
		orch_rt_create_spec s;

		s = (orch_rt_create_spec){.image = NULL};
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s = (orch_rt_create_spec){.image = "img", .name = "a/b"};
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s = (orch_rt_create_spec){.image = "img", .name = "a?b"};
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s = (orch_rt_create_spec){.image = "../x"};
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s = (orch_rt_create_spec){
		    .image = "img", .labels = badlabels, .n_labels = 1};
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s.labels = badlabels2;
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s.labels = badutf8;
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s = (orch_rt_create_spec){
		    .image = "img", .ports = badport, .n_ports = 1};
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s.ports = badport2;
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s.ports = badproto;
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s.ports = NULL;
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		s = (orch_rt_create_spec){.image = "img", .n_labels = 1};
		assert_int_equal(
		    orch_docker_create(d, &s, &id, NULL), ORCH_EINVAL);
		assert_null(id);
		assert_int_equal(
		    orch_docker_start(d, "a/b", NULL), ORCH_EINVAL);
		assert_int_equal(orch_docker_start(d, "", NULL), ORCH_EINVAL);
		assert_int_equal(
		    orch_docker_start(d, NULL, NULL), ORCH_EINVAL);
		assert_int_equal(
		    orch_docker_stop(d, "abc", -1, NULL), ORCH_EINVAL);
		assert_int_equal(
		    orch_docker_kill(d, "abc", "SIG KILL", NULL), ORCH_EINVAL);
		assert_int_equal(
		    orch_docker_image_inspect(d, "a b", NULL), ORCH_EINVAL);
		assert_int_equal(
		    orch_docker_image_pull(d, "", 0, NULL), ORCH_EINVAL);
	}
	assert_int_equal(fake_requests(&f), before);
	orch_docker_close(d);
	fake_stop(&f);
	free(reply);
}

static void
test_other_requests(void **state)
{
	static const struct {
		int op;
		const char *want;
	} cases[] = {
	    {0, "POST /v1.41/containers/abc/start HTTP"},
	    {1, "POST /v1.41/containers/abc/stop?t=7 HTTP"},
	    {2, "POST /v1.41/containers/abc/kill?signal=SIGKILL HTTP"},
	    {3, "POST /v1.41/containers/abc/kill?signal=SIGUSR1 HTTP"},
	    {4, "DELETE /v1.41/containers/abc?force=true&v=false HTTP"},
	    {5, "DELETE /v1.41/containers/abc?force=false&v=false HTTP"},
	    {6, "GET /v1.41/images/docker.io/library/img:1.0/json HTTP"},
	    {7, "GET /v1.41/containers/json?all=true&filters="
	        "%7B%22label%22%3A%5B%22orchestrator.test%3Dx%22%2C%22k%22"
	        "%5D%7D HTTP"},
	    {8, "GET /v1.41/containers/json?all=true&filters=%7B%7D HTTP"},
	};
	orch_rt_kv labels[] = {{"orchestrator.test", "x"}, {"k", NULL}};
	struct fake f;
	orch_docker *d;
	orch_rt_container *list = NULL;
	size_t n = 0;
	char req[8192], *reply = fake_http("200 OK", "[]");

	(void) state;
	fake_start(&f, NULL);
	fake_reply(&f, reply, 0);
	d = open_unix(f.path, 2000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		switch (cases[i].op) {
		case 0:
			assert_int_equal(
			    orch_docker_start(d, "abc", NULL), ORCH_OK);
			break;
		case 1:
			assert_int_equal(
			    orch_docker_stop(d, "abc", 7, NULL), ORCH_OK);
			break;
		case 2:
			assert_int_equal(
			    orch_docker_kill(d, "abc", NULL, NULL), ORCH_OK);
			break;
		case 3:
			assert_int_equal(
			    orch_docker_kill(d, "abc", "SIGUSR1", NULL),
			    ORCH_OK);
			break;
		case 4:
			assert_int_equal(
			    orch_docker_remove(d, "abc", true, NULL), ORCH_OK);
			break;
		case 5:
			assert_int_equal(
			    orch_docker_remove(d, "abc", false, NULL),
			    ORCH_OK);
			break;
		case 6:
			assert_int_equal(
			    orch_docker_image_inspect(
			        d, "docker.io/library/img:1.0", NULL),
			    ORCH_OK);
			break;
		case 7:
		case 8:
			assert_int_equal(
			    orch_docker_list(d,
			        cases[i].op == 7 ? labels : NULL,
			        cases[i].op == 7 ? 2 : 0, &list, &n, NULL),
			    ORCH_OK);
			assert_null(list);
			assert_int_equal(n, 0);
			break;
		}
		fake_last(&f, req, sizeof(req), NULL);
		if (strncmp(req, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: sent \"%.120s\"", i, req);
	}
	orch_docker_close(d);
	fake_stop(&f);
	free(reply);
}

/* ------------------------------------------------------------------------ */
/* Malformed replies. */

static void
test_malformed_inspect(void **state)
{
	static const char *bodies[] = {
	    "",
	    "{",
	    "[",
	    "null",
	    "42",
	    "\"x\"",
	    "[]",
	    "{}",
	    "{\"Id\":5}",
	    "{\"Id\":null}",
	    "{\"Id\":\"x\",\"State\":\"running\"}",
	    "{\"Id\":\"x\",\"State\":{\"Running\":\"yes\"}}",
	    "{\"Id\":\"x\",\"State\":{\"Status\":1}}",
	    "{\"Id\":\"x\",\"Name\":[]}",
	    "{\"Id\":\"x\",\"Config\":[]}",
	    "{\"Id\":\"x\",\"Config\":{\"Labels\":[]}}",
	    "{\"Id\":\"x\",\"Config\":{\"Labels\":{\"a\":1}}}",
	    "{\"Id\":\"x\",\"Config\":{\"Env\":\"A=1\"}}",
	    "{\"Id\":\"x\",\"Config\":{\"Env\":[1]}}",
	    "{\"Id\":\"x\",\"Config\":{\"Image\":7}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":5}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":[]}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"1/tcp\":\"x\"}}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"1/tcp\":[5]}}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"1/tcp\":"
	    "[{\"HostIp\":1}]}}}",
	    "{\"Id\":\"x\",\"HostConfig\":{\"PortBindings\":{\"1/tcp\":"
	    "[{\"HostPort\":80}]}}}",
	    "{\"Id\":\"x\",\"HostConfig\":\"y\"}",
	    "{\"Id\":\"x\",\"HostConfig\":{\"NetworkMode\":3}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Networks\":[]}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Networks\":5}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Networks\":{\"n\":5}}}",
	    "{\"Id\":\"x\",\"NetworkSettings\":{\"Networks\":{\"n\":"
	    "{\"Gateway\":1}}}}",
	    "{\"Id\":\"\xff\xfe\"}",
	    "{\"Id\":\"a\\u0000b\"}",
	    "{\"Id\":\"x\"} trailing",
	    "{\"Id\":\"x\",}",
	    "{\"Id\":\"x\",\"Created\":1e999}",
	};
	struct fake f;
	orch_docker *d;
	orch_rt_container c;
	orch_diag diag;
	char *reply;

	(void) state;
	fake_start(&f, NULL);
	d = open_unix(f.path, 2000);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		orch_err rv;

		reply = fake_http("200 OK", bodies[i]);
		fake_reply(&f, reply, 0);
		free(reply);
		rv = orch_docker_inspect(d, "x", &c, &diag);
		if (rv != ORCH_EINTERNAL)
			fail_msg("body %zu \"%s\": rv %d", i, bodies[i], rv);
		assert_non_null(strstr(diag.msg, "malformed reply"));
		assert_null(c.id);
		assert_null(c.labels);
	}
	/* The well-formed one, for contrast. */
	reply = fake_http("200 OK", INSPECT_OK);
	fake_reply(&f, reply, 0);
	free(reply);
	assert_int_equal(orch_docker_inspect(d, "x", &c, &diag), ORCH_OK);
	assert_string_equal(c.name, "n");
	assert_string_equal(c.image, "img:1");
	assert_true(c.running);
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(
	    orch_rt_container_port(&c, "8080/tcp")->n_bindings, 0);
	assert_string_equal(
	    orch_rt_container_port(&c, "6878/tcp")->bindings[0].host_port,
	    "29001");
	assert_int_equal(c.created_us, 1704164645123456LL);
	/* The network answer: mode, and each network's gateway ("" for
	 * a null one). */
	assert_string_equal(c.network_mode, "orch-net");
	assert_int_equal(c.n_networks, 2);
	for (size_t i = 0; i < c.n_networks; i++) {
		if (strcmp(c.networks[i].key, "orch-net") == 0)
			assert_string_equal(c.networks[i].value, "172.18.0.1");
		else
			assert_string_equal(c.networks[i].value, "");
	}
	orch_rt_container_fini(&c);
	orch_docker_close(d);
	fake_stop(&f);
}

static void
test_malformed_list_and_create(void **state)
{
	static const char *lists[] = {
	    "",
	    "{}",
	    "[1]",
	    "[null]",
	    "[{}]",
	    "[{\"Id\":1}]",
	    "[{\"Id\":\"x\",\"Names\":\"a\"}]",
	    "[{\"Id\":\"x\",\"Names\":[1]}]",
	    "[{\"Id\":\"x\",\"Ports\":{}}]",
	    "[{\"Id\":\"x\",\"Ports\":[{\"PrivatePort\":\"1\","
	    "\"Type\":\"tcp\"}]}]",
	    "[{\"Id\":\"x\",\"Ports\":[{\"PrivatePort\":70000,"
	    "\"Type\":\"tcp\"}]}]",
	    "[{\"Id\":\"x\",\"Ports\":[{\"PrivatePort\":1}]}]",
	    "[{\"Id\":\"x\",\"Ports\":[{\"PrivatePort\":1,\"Type\":\"tcp\","
	    "\"PublicPort\":-1}]}]",
	    "[{\"Id\":\"x\",\"Created\":\"yesterday\"}]",
	    "[{\"Id\":\"x\",\"Created\":-1}]",
	    "[{\"Id\":\"x\",\"Created\":99999999999999999}]",
	    "[{\"Id\":\"x\",\"Created\":1.5}]",
	    "[{\"Id\":\"x\",\"Labels\":{\"a\":null}}]",
	    "[{\"Id\":\"ok\"},{\"Id\":\"x\",\"State\":false}]",
	};
	static const char *creates[] = {
	    "",
	    "{}",
	    "{\"Id\":\"\"}",
	    "{\"Id\":null}",
	    "[\"x\"]",
	    "{\"Id\":[]}",
	};
	struct fake f;
	orch_docker *d;
	orch_rt_container *list = (orch_rt_container *) 1;
	orch_rt_create_spec spec = {.image = "img"};
	orch_diag diag;
	size_t n = 9;
	char *reply, *id = NULL;

	(void) state;
	fake_start(&f, NULL);
	d = open_unix(f.path, 2000);
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		reply = fake_http("200 OK", lists[i]);
		fake_reply(&f, reply, 0);
		free(reply);
		if (orch_docker_list(d, NULL, 0, &list, &n, &diag) !=
		    ORCH_EINTERNAL)
			fail_msg("list %zu \"%s\"", i, lists[i]);
		assert_null(list);
		assert_int_equal(n, 0);
	}
	for (size_t i = 0; i < sizeof(creates) / sizeof(creates[0]); i++) {
		reply = fake_http("201 Created", creates[i]);
		fake_reply(&f, reply, 0);
		free(reply);
		if (orch_docker_create(d, &spec, &id, &diag) != ORCH_EINTERNAL)
			fail_msg("create %zu \"%s\"", i, creates[i]);
		assert_null(id);
	}
	/* A good list: IPv4 and IPv6 bindings of one port are grouped. */
	reply = fake_http("200 OK",
	    "[{\"Id\":\"x\",\"Names\":[\"/a\",\"/b/a\"],"
	    "\"Image\":\"i\",\"Created\":1700000000,\"State\":\"running\","
	    "\"Labels\":null,\"Ports\":[{\"IP\":\"0.0.0.0\",\"PrivatePort\":"
	    "6878,\"PublicPort\":29001,\"Type\":\"tcp\"},{\"IP\":\"::\","
	    "\"PrivatePort\":6878,\"PublicPort\":29001,\"Type\":\"tcp\"},"
	    "{\"PrivatePort\":8621,\"Type\":\"udp\"}]},{\"Id\":\"y\"}]");
	fake_reply(&f, reply, 0);
	free(reply);
	assert_int_equal(
	    orch_docker_list(d, NULL, 0, &list, &n, &diag), ORCH_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "a");
	assert_string_equal(list[0].created, "2023-11-14T22:13:20Z");
	assert_true(list[0].running);
	assert_int_equal(list[0].n_ports, 2);
	assert_int_equal(list[0].ports[0].n_bindings, 2);
	assert_string_equal(list[0].ports[0].bindings[1].host_ip, "::");
	assert_string_equal(list[0].ports[1].port, "8621/udp");
	assert_string_equal(list[1].name, "");
	assert_string_equal(list[1].created, "");
	assert_false(list[1].running);
	orch_rt_container_list_free(list, n);
	orch_docker_close(d);
	fake_stop(&f);
}

/* Broken HTTP, not just broken JSON. */
static void
test_malformed_transport(void **state)
{
	static const struct {
		const char *bytes;
		orch_err want; /* ORCH_OK: any error will do */
	} cases[] = {
	    /* Truncated: fewer bytes than Content-Length, then close. */
	    {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Id\":",
	        ORCH_EUNAVAIL},
	    /* Nothing at all. */
	    {"", ORCH_EUNAVAIL},
	    /* Headers cut short. */
	    {"HTTP/1.1 200 OK\r\nContent-Len", ORCH_OK},
	    /* Not HTTP. */
	    {"HELLO WORLD\r\n\r\n", ORCH_OK},
	    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", ORCH_OK},
	    /* Bad chunk framing. */
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	     "chunked\r\n\r\nzz\r\n{}\r\n",
	        ORCH_OK},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "ffffffffffffffffff\r\n{}",
	        ORCH_OK},
	    /* Absurd status and length. */
	    {"HTTP/1.1 999999999999 X\r\nContent-Length: 2\r\n\r\n{}",
	        ORCH_OK},
	    {"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}", ORCH_OK},
	    {"HTTP/1.1 200 OK\r\nContent-Length: "
	     "99999999999999999999\r\n\r\n{}",
	        ORCH_OK},
	};
	struct fake f;
	orch_docker *d;
	orch_rt_container c;
	orch_diag diag;

	(void) state;
	fake_start(&f, NULL);
	d = open_unix(f.path, 2000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_err rv;
		int64_t t0 = orch_mono_ms();

		fake_reply(&f, cases[i].bytes, 0);
		rv = orch_docker_inspect(d, "x", &c, &diag);
		if (rv == ORCH_OK ||
		    (cases[i].want != ORCH_OK && rv != cases[i].want) ||
		    orch_mono_ms() - t0 > 2500)
			fail_msg("case %zu: rv %d (%s)", i, rv, diag.msg);
		assert_null(c.id);
	}
	orch_docker_close(d);
	fake_stop(&f);
}

static void
test_huge_and_deep(void **state)
{
	size_t huge = ORCH_DOCKER_MAX_REPLY + 4096, deep = 200000, n;
	orch_rt_container *list = NULL;
	char *body, *head, *reply;
	struct fake f;
	orch_docker *d;
	orch_rt_container c;
	orch_diag diag;

	(void) state;
	fake_start(&f, NULL);
	d = open_unix(f.path, 5000);
	/* Over the reply limit: refused, not buffered without end. */
	body = malloc(huge + 1);
	assert_non_null(body);
	memset(body, ' ', huge);
	body[0] = '[';
	body[huge - 1] = ']';
	body[huge] = '\0';
	reply = fake_http("200 OK", body);
	fake_reply(&f, reply, 0);
	free(reply);
	free(body);
	assert_int_equal(
	    orch_docker_inspect(d, "x", &c, &diag), ORCH_EINTERNAL);
	assert_non_null(strstr(diag.msg, "larger than"));
	/* Nested 200,000 deep: the parser's depth limit, no stack overflow. */
	body = malloc(2 * deep + 1);
	assert_non_null(body);
	memset(body, '[', deep);
	memset(body + deep, ']', deep);
	body[2 * deep] = '\0';
	reply = fake_http("200 OK", body);
	fake_reply(&f, reply, 0);
	assert_int_equal(
	    orch_docker_inspect(d, "x", &c, &diag), ORCH_EINTERNAL);
	assert_int_equal(
	    orch_docker_list(d, NULL, 0, &list, &n, &diag), ORCH_EINTERNAL);
	assert_null(list);
	free(reply);
	/* A 1 MB label value is fine. */
	head = malloc((1 << 20) + 64);
	assert_non_null(head);
	strcpy(head, "{\"Id\":\"x\",\"Config\":{\"Labels\":{\"big\":\"");
	n = strlen(head);
	memset(head + n, 'v', 1 << 20);
	strcpy(head + n + (1 << 20), "\"}}}");
	reply = fake_http("200 OK", head);
	fake_reply(&f, reply, 0);
	assert_int_equal(orch_docker_inspect(d, "x", &c, &diag), ORCH_OK);
	assert_int_equal(strlen(orch_rt_container_label(&c, "big")), 1 << 20);
	orch_rt_container_fini(&c);
	free(reply);
	free(head);
	free(body);
	orch_docker_close(d);
	fake_stop(&f);
}

/* A daemon that accepts and never answers: the total timeout, no retry. */
static void
test_hung_daemon_times_out(void **state)
{
	struct fake_step hang = {NULL, 0, FAKE_HOLD, 0};
	struct fake f;
	orch_docker *d;
	orch_rt_container c;
	orch_diag diag;
	int64_t t0, ms;

	(void) state;
	fake_start(&f, NULL);
	fake_script(&f, &hang, 1);
	d = open_unix(f.path, 400);
	t0 = orch_mono_ms();
	assert_int_equal(
	    orch_docker_inspect(d, "x", &c, &diag), ORCH_ETIMEDOUT);
	ms = orch_mono_ms() - t0;
	assert_true(ms >= 350 && ms < 2000);
	assert_int_equal(fake_requests(&f), 1);
	/* stop's timeout is t + the handle's: 1 s + 0.4 s. */
	t0 = orch_mono_ms();
	assert_int_equal(orch_docker_stop(d, "x", 1, &diag), ORCH_ETIMEDOUT);
	ms = orch_mono_ms() - t0;
	assert_true(ms >= 1350 && ms < 3000);
	assert_int_equal(fake_requests(&f), 2);
	orch_docker_close(d);
	fake_stop(&f);
}

/* ------------------------------------------------------------------------ */
/* Pull. */

#define PULL_HEAD                                                             \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"               \
	"Connection: close\r\n\r\n"

static void
test_pull(void **state)
{
	static const struct {
		const char *image, *want_req;
	} names[] = {
	    {"a/b:1.0", "POST /v1.41/images/create?fromImage=a%2Fb&tag=1.0 "},
	    {"img", "POST /v1.41/images/create?fromImage=img&tag=latest "},
	    {"localhost:5000/a", "POST /v1.41/images/create?fromImage="
	                         "localhost%3A5000%2Fa&tag=latest "},
	    {"localhost:5000/a:v2", "POST /v1.41/images/create?fromImage="
	                            "localhost%3A5000%2Fa&tag=v2 "},
	    {"a@sha256:abc", "POST /v1.41/images/create?fromImage=a&tag="
	                     "sha256%3Aabc "},
	};
	static const struct {
		const char *bytes; /* NULL: fake_http(status, body) */
		orch_err want;
		const char *msg;
		const char *status, *body;
	} streams[] = {
	    {PULL_HEAD "{\"status\":\"Pulling from a/b\",\"id\":\"1.0\"}\r\n"
	               "{\"status\":\"Downloading\",\"progressDetail\":{"
	               "\"current\":1,"
	               "\"total\":2},\"id\":\"x\"}\r\n{\"status\":\"Status: "
	               "Downloaded "
	               "newer image for a/b:1.0\"}\r\n",
	        ORCH_OK, "", NULL, NULL},
	    {PULL_HEAD
	        "{\"status\":\"Pulling\"}\r\n{\"errorDetail\":{\"message"
	        "\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\r\n",
	        ORCH_EINTERNAL, "manifest unknown", NULL, NULL},
	    {PULL_HEAD "{\"errorDetail\":{\"message\":\"only detail\"}}",
	        ORCH_EINTERNAL, "only detail", NULL, NULL},
	    {PULL_HEAD "{\"error\":{}}\n", ORCH_EINTERNAL, "no message", NULL,
	        NULL},
	    {PULL_HEAD "{\"status\":\"Pulling\"}\nthis is not json\n",
	        ORCH_EINTERNAL, "bad JSON", NULL, NULL},
	    {PULL_HEAD "[1,2]\n", ORCH_EINTERNAL, "not an object", NULL, NULL},
	    {PULL_HEAD "\n\n\r\n", ORCH_OK, "", NULL, NULL},
	    {NULL, ORCH_EINTERNAL, "HTTP 500: dial tcp",
	        "500 Internal Server Error",
	        "{\"message\":\"dial tcp: lookup registry: no\"}"},
	    {NULL, ORCH_ENOTFOUND, "repository does not exist",
	        "404 Not Found",
	        "{\"message\":\"repository does not exist\"}"},
	};
	struct fake f;
	orch_docker *d;
	orch_diag diag;
	char req[8192];

	(void) state;
	fake_start(&f, NULL);
	d = open_unix(f.path, 2000);
	fake_reply(&f, streams[0].bytes, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(
		    orch_docker_image_pull(d, names[i].image, 0, NULL),
		    ORCH_OK);
		fake_last(&f, req, sizeof(req), NULL);
		if (strncmp(req, names[i].want_req, strlen(names[i].want_req)))
			fail_msg(
			    "pull %s sent \"%.100s\"", names[i].image, req);
	}
	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		orch_err rv;
		char *made =
		    streams[i].bytes != NULL
		        ? NULL
		        : fake_http(streams[i].status, streams[i].body);
		struct fake_step s = {
		    made != NULL ? made : streams[i].bytes, 0, FAKE_CLOSE, 7};

		/* Written 7 bytes at a time: lines arrive in pieces. */
		fake_script(&f, &s, 1);
		free(made);
		rv = orch_docker_image_pull(d, "a/b:1.0", 3000, &diag);
		if (rv != streams[i].want ||
		    strstr(diag.msg, streams[i].msg) == NULL)
			fail_msg("stream %zu: rv %d \"%s\"", i, rv, diag.msg);
	}
	orch_docker_close(d);
	fake_stop(&f);
}

/* ------------------------------------------------------------------------ */
/* Events. */

struct seen {
	pthread_mutex_t mu;
	char ids[32][80];
	char actions[32][40];
	char names[32][40];
	int64_t times[32];
	int n;
	int ups, downs;
	orch_err last_err;
	char last_msg[256];
};

static void
on_event(void *arg, const orch_rt_event *ev)
{
	struct seen *s = arg;

	pthread_mutex_lock(&s->mu);
	if (s->n < 32) {
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", ev->id);
		snprintf(
		    s->actions[s->n], sizeof(s->actions[0]), "%s", ev->action);
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s",
		    ev->name != NULL ? ev->name : "(null)");
		s->times[s->n] = ev->time_ns;
		s->n++;
	}
	pthread_mutex_unlock(&s->mu);
}

static void
on_state(void *arg, bool connected, orch_err err, const char *msg)
{
	struct seen *s = arg;

	pthread_mutex_lock(&s->mu);
	if (connected) {
		s->ups++;
	} else {
		s->downs++;
		s->last_err = err;
		snprintf(s->last_msg, sizeof(s->last_msg), "%s", msg);
	}
	pthread_mutex_unlock(&s->mu);
}

/* Waits until cond(s) holds, 5 s at most. */
static bool
wait_for(struct seen *s, bool (*cond)(struct seen *, int), int arg)
{
	int64_t deadline = orch_mono_ms() + 5000;
	bool ok;

	do {
		pthread_mutex_lock(&s->mu);
		ok = cond(s, arg);
		pthread_mutex_unlock(&s->mu);
		if (ok)
			return true;
		sleep_ms(10);
	} while (orch_mono_ms() < deadline);
	return false;
}

static bool
n_events(struct seen *s, int n)
{
	return s->n >= n;
}

static bool
n_downs(struct seen *s, int n)
{
	return s->downs >= n;
}

static bool
n_ups(struct seen *s, int n)
{
	return s->ups >= n;
}

#define EV_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
#define EV(id, action, tn)                                                    \
	"{\"status\":\"" action "\",\"id\":\"" id                             \
	"\",\"Type\":\"container\","                                          \
	"\"Action\":\"" action "\",\"Actor\":{\"ID\":\"" id                   \
	"\",\"Attributes\""                                                   \
	":{\"name\":\"n-" id "\",\"orchestrator.test\":\"x\"}},\"scope\":"    \
	"\"local\",\"time\":1700000000,\"timeNano\":" tn "}\n"

static void
test_events_reconnect_and_replay(void **state)
{
	/* 1: two events and junk, then the connection drops. 2: the replay
	 * repeats the second one, then a new one; held open. */
	struct fake_step steps[] = {
	    {EV_HEAD EV("a1", "start",
	         "1700000000000000001") "not json at "
	                                "all\n{\"Action\":5}\n\n" EV("a1",
	                                    "die", "1700000000000000002"),
	        0, FAKE_CLOSE, 5},
	    {EV_HEAD EV("a1", "die", "1700000000000000002") EV("a2", "start",
	         "1700000000000000003") "{\"status\":\"destroy\",\"id\":"
	                                "\"old\",\"time\":1700000001}\n",
	        0, FAKE_HOLD, 0},
	};
	orch_rt_events_opts opts = {0};
	orch_rt_kv labels[] = {{"orchestrator.test", "x"}};
	struct seen s;
	struct fake f;
	orch_docker *d;
	orch_docker_events *ev;
	char req[8192];
	int64_t t0, ms;
	long long since;

	(void) state;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	fake_start(&f, NULL);
	fake_script(&f, steps, 2);
	d = open_unix(f.path, 2000);
	opts.labels = labels;
	opts.n_labels = 1;
	opts.type = "container";
	opts.on_event = on_event;
	opts.on_state = on_state;
	opts.arg = &s;
	opts.backoff_min_ms = 50;
	assert_int_equal(orch_docker_events_open(d, &opts, &ev), ORCH_OK);
	assert_true(wait_for(&s, n_events, 4));
	assert_true(wait_for(&s, n_ups, 2));
	pthread_mutex_lock(&s.mu);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.actions[0], "start");
	assert_string_equal(s.ids[0], "a1");
	assert_string_equal(s.names[0], "n-a1");
	assert_string_equal(s.actions[1], "die");
	assert_string_equal(
	    s.actions[2], "start"); /* the replay was skipped */
	assert_string_equal(s.ids[2], "a2");
	assert_string_equal(s.actions[3], "destroy"); /* the old format */
	assert_string_equal(s.ids[3], "old");
	assert_string_equal(s.names[3], "(null)");
	assert_int_equal(s.times[3], 1700000001000000000LL);
	assert_int_equal(s.downs, 1);
	assert_int_equal(s.last_err, ORCH_EUNAVAIL);
	pthread_mutex_unlock(&s.mu);
	/* The second request asked for the gap: since a second before what
	 * was covered, here the first connect (the fake's events are older).
	 */
	fake_last(&f, req, sizeof(req), NULL);
	assert_true(starts(req,
	    "GET /v1.41/events?filters=%7B%22label%22"
	    "%3A%5B%22orchestrator.test%3Dx%22%5D%2C%22type%22%3A%5B%22"
	    "container%22%5D%7D&since="));
	since = strtoll(strstr(req, "&since=") + 7, NULL, 10);
	assert_true(since <= orch_wall_us() / 1000000 - 1);
	assert_true(since >= orch_wall_us() / 1000000 - 15);
	/* Held open and idle: close must not wait for data. */
	t0 = orch_mono_ms();
	orch_docker_events_close(ev);
	ms = orch_mono_ms() - t0;
	print_message(
	    "events close on an idle stream: %lld ms\n", (long long) ms);
	assert_true(ms < 1000);
	orch_docker_close(d);
	fake_stop(&f);
	pthread_mutex_destroy(&s.mu);
}

static void
test_events_bad_streams(void **state)
{
	static char longline[(1 << 20) + 4096];
	struct fake_step steps[3];
	orch_rt_events_opts opts = {0};
	struct seen s;
	struct fake f;
	orch_docker *d;
	orch_docker_events *ev;
	size_t n;
	char *bad;

	(void) state;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	/* A line over the 1 MiB limit, a 400 refusal, then a good event. */
	strcpy(longline, EV_HEAD);
	n = strlen(longline);
	memset(longline + n, 'x', sizeof(longline) - n - 1);
	memset(steps, 0, sizeof(steps));
	steps[0] = (struct fake_step){longline, 0, FAKE_CLOSE, 0};
	bad = fake_http("400 Bad Request", "{\"message\":\"invalid filter\"}");
	steps[1] = (struct fake_step){bad, 0, FAKE_CLOSE, 0};
	steps[2] = (struct fake_step){
	    EV_HEAD EV("b1", "start", "5"), 0, FAKE_HOLD, 0};
	fake_start(&f, NULL);
	fake_script(&f, steps, 3);
	free(bad);
	d = open_unix(f.path, 2000);
	opts.on_event = on_event;
	opts.on_state = on_state;
	opts.arg = &s;
	opts.backoff_min_ms = 20;
	opts.backoff_max_ms = 40;
	assert_int_equal(orch_docker_events_open(d, &opts, &ev), ORCH_OK);
	assert_true(wait_for(&s, n_events, 1));
	pthread_mutex_lock(&s.mu);
	assert_string_equal(s.ids[0], "b1");
	assert_int_equal(s.downs, 2);
	assert_int_equal(s.last_err, ORCH_EINTERNAL);
	assert_non_null(strstr(s.last_msg, "invalid filter"));
	pthread_mutex_unlock(&s.mu);
	orch_docker_events_close(ev);
	orch_docker_close(d);
	fake_stop(&f);
	pthread_mutex_destroy(&s.mu);
}

/* No daemon: the stream keeps trying with a backoff and stops at once. */
static void
test_events_unreachable_stops_promptly(void **state)
{
	char path[128];
	orch_rt_events_opts opts = {0};
	struct seen s;
	orch_docker *d;
	orch_docker_events *ev;
	int64_t t0, ms;

	(void) state;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	snprintf(path, sizeof(path), "/tmp/orch-rt-%d-none/nothing.sock",
	    (int) getpid());
	d = open_unix(path, 2000);
	opts.on_event = on_event;
	opts.on_state = on_state;
	opts.arg = &s;
	opts.backoff_min_ms = 10;
	opts.backoff_max_ms = 10000;
	assert_int_equal(orch_docker_events_open(d, &opts, &ev), ORCH_OK);
	/* 10 + 20 + 40 + 80 ms: four failures within well under a second. */
	assert_true(wait_for(&s, n_downs, 4));
	pthread_mutex_lock(&s.mu);
	assert_int_equal(s.last_err, ORCH_EUNAVAIL);
	assert_int_equal(s.ups, 0);
	pthread_mutex_unlock(&s.mu);
	/* Now in a long backoff, or about to be: close at once anyway. */
	sleep_ms(300);
	t0 = orch_mono_ms();
	orch_docker_events_close(ev);
	ms = orch_mono_ms() - t0;
	assert_true(ms < 500);
	/* Opening with bad arguments. */
	opts.on_event = NULL;
	assert_int_equal(orch_docker_events_open(d, &opts, &ev), ORCH_EINVAL);
	assert_null(ev);
	opts.on_event = on_event;
	assert_int_equal(
	    orch_docker_events_open(NULL, &opts, &ev), ORCH_EINVAL);
	orch_docker_events_close(NULL);
	orch_docker_close(d);
	pthread_mutex_destroy(&s.mu);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_bad_hosts),
	    cmocka_unit_test(test_open_good_tcp_forms),
	    cmocka_unit_test(test_unreachable_fails_fast),
	    cmocka_unit_test(test_version_capped_and_followed),
	    cmocka_unit_test(test_version_refused),
	    cmocka_unit_test(test_version_negotiated_later),
	    cmocka_unit_test(test_status_mapping),
	    cmocka_unit_test(test_create_request),
	    cmocka_unit_test(test_other_requests),
	    cmocka_unit_test(test_malformed_inspect),
	    cmocka_unit_test(test_malformed_list_and_create),
	    cmocka_unit_test(test_malformed_transport),
	    cmocka_unit_test(test_huge_and_deep),
	    cmocka_unit_test(test_hung_daemon_times_out),
	    cmocka_unit_test(test_pull),
	    cmocka_unit_test(test_events_reconnect_and_replay),
	    cmocka_unit_test(test_events_bad_streams),
	    cmocka_unit_test(test_events_unreachable_stops_promptly),
	};

	return cmocka_run_group_tests_name("docker_fake", tests, NULL, NULL);
}
