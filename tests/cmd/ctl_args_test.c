/*
 * orchctl's request building (src/cmd/ctl_args.h) without a daemon: the
 * generic --FIELD VALUE / --json form on every method of the service, the
 * human commands' syntaxes, every error and its one line, and the field
 * listing of `orchctl methods` checked against what can really be set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/cmd/ctl_args.h"
#include "src/json/pbjson.h"

#define ARGS(...) ((char *const[]){__VA_ARGS__})
#define NARGS(...) ((int) (sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define BUILD(d, syn, ...)                                                    \
	build_json(d, syn, NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), NULL)

static orch_diag diag;
static bool usage;

static char *
json_of(const ProtobufCMessage *m)
{
	orch_buf b = ORCH_BUF_INIT;
	char *s;

	orch_pbjson_write(&b, m);
	assert_non_null(orch_buf_cstr(&b));
	s = strdup(orch_buf_cstr(&b));
	assert_non_null(s);
	orch_buf_fini(&b);
	return s;
}

/* Builds and returns the request's JSON, or NULL with diag/usage set. */
static char *
build_json(const ProtobufCMessageDescriptor *d, const orch_ctl_syntax *syn,
    int argc, char *const *argv, FILE *in)
{
	ProtobufCMessage *m = (ProtobufCMessage *) 1;
	char *j = NULL;
	orch_err rv;

	memset(&diag, 'x', sizeof(diag));
	rv = orch_ctl_build(d, syn, argc, argv, in, &m, &usage, &diag);
	if (rv == ORCH_OK) {
		assert_non_null(m);
		assert_ptr_equal(m->descriptor, d);
		assert_string_equal(diag.msg, "");
		assert_false(usage);
		j = json_of(m);
		protobuf_c_message_free_unpacked(m, NULL);
	} else {
		assert_null(m);
		assert_true(diag.msg[0] != '\0');
		assert_null(strchr(diag.msg, '\n'));
	}
	return j;
}

static void
expect_json(char *j, const char *want)
{
	if (j == NULL)
		fail_msg("refused: %s", diag.msg);
	if (strstr(j, want) == NULL)
		fail_msg("%s lacks %s", j, want);
	free(j);
}

static void
expect_refusal(char *j, bool want_usage, const char *field, const char *msg)
{
	if (j != NULL)
		fail_msg("accepted: %s", j);
	assert_int_equal(usage, want_usage);
	assert_string_equal(diag.field, field);
	assert_string_equal(diag.msg, msg);
}

/* ------------------------------------------------------------------------ */

static void
test_generic_fields(void **state)
{
	const ProtobufCMessageDescriptor *ss =
	    &orch__stream_started_request__descriptor;

	(void) state;
	expect_json(BUILD(ss, NULL, "--stream.key_type", "url", "--stream.key",
	                "k", "--engine.host", "h", "--engine.port", "6878",
	                "--session.is_live", "1", "--labels.reservation_id",
	                "r1", "--labels.com.example.team", "a"),
	    "{\"container_id\":null,\"engine\":{\"host\":\"h\",\"port\":6878},"
	    "\"stream\":{\"key_type\":\"url\",\"key\":\"k\"},\"session\":{"
	    "\"playback_session_id\":null,\"stat_url\":null,\"command_url\":"
	    "null,\"is_live\":1},\"labels\":{\"reservation_id\":\"r1\","
	    "\"com.example.team\":\"a\"}}");
	/* Later wins, for a field and for a map entry. */
	expect_json(BUILD(&orch__provision_container_request__descriptor, NULL,
	                "--image", "a", "--ports.6878/tcp", "1", "--image",
	                "b", "--ports.6878/tcp", "2"),
	    "{\"image\":\"b\",\"env\":{},\"labels\":{},\"ports\":{\"6878/"
	    "tcp\":2},");
	/* No arguments: the empty request, for every method. */
	for (unsigned i = 0; i < orch__orchestrator__descriptor.n_methods;
	     i++) {
		const ProtobufCMethodDescriptor *md =
		    &orch__orchestrator__descriptor.methods[i];
		char *j = build_json(md->input, NULL, 0, NULL, NULL);

		if (j == NULL)
			fail_msg("%s: %s", md->name, diag.msg);
		free(j);
	}
}

static void
test_json_body(void **state)
{
	const ProtobufCMessageDescriptor *ss =
	    &orch__stream_started_request__descriptor;
	const char *dir = getenv("TEST_TMPDIR");
	char path[512], at[520];
	FILE *f;

	(void) state;
	/* The body first, the fields over it, wherever --json stands. */
	expect_json(BUILD(ss, NULL, "--engine.port", "2", "--json",
	                "{\"engine\":{\"host\":\"h\",\"port\":1},\"labels\":{"
	                "\"a\":\"1\"}}",
	                "--labels.b", "2"),
	    "\"engine\":{\"host\":\"h\",\"port\":2},");
	expect_json(BUILD(ss, NULL, "--json", "{\"labels\":{\"a\":\"1\"}}",
	                "--labels.a", "3"),
	    "\"labels\":{\"a\":\"3\"}");
	/* - reads the input stream. */
	f = fmemopen((void *) "{\"n\": 7}", 8, "r");
	assert_non_null(f);
	expect_json(build_json(&orch__scale_request__descriptor, NULL, 2,
	                ARGS("--json", "-"), f),
	    "{\"n\":7}");
	fclose(f);
	/* @FILE reads a file. */
	snprintf(
	    path, sizeof(path), "%s/body.json", dir != NULL ? dir : "/tmp");
	snprintf(at, sizeof(at), "@%s", path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"key\":\"k\",\"value\":\"v\"}\n", f);
	fclose(f);
	expect_json(build_json(&orch__find_by_label_request__descriptor, NULL,
	                2, ARGS("--json", at), NULL),
	    "{\"key\":\"k\",\"value\":\"v\"}");
	unlink(path);
	/* Refusals: the transcoder's words behind "--json: ". */
	expect_refusal(BUILD(ss, NULL, "--json", "{\"engine\":"), false, "",
	    "--json: malformed JSON: line 1 column 10: unexpected token near "
	    "end of file");
	expect_refusal(BUILD(ss, NULL, "--json", "[]"), false, "",
	    "--json: the body is not a JSON object");
	expect_refusal(
	    BUILD(ss, NULL, "--json", "{\"engine\":{\"port\":\"x\"}}"), false,
	    "engine.port", "--json: engine.port: expected int32, got string");
}

/* A body that cannot be read: ORCH_ESYS, one line. */
static void
test_json_unreadable(void **state)
{
	ProtobufCMessage *m = NULL;

	(void) state;
	assert_int_equal(orch_ctl_build(&orch__scale_request__descriptor, NULL,
	                     2, ARGS("--json", "@/nonexistent/body.json"),
	                     NULL, &m, &usage, &diag),
	    ORCH_ESYS);
	assert_null(m);
	assert_string_equal(diag.msg, "--json @/nonexistent/body.json: cannot "
	                              "read: No such file or directory");
}

static void
test_generic_errors(void **state)
{
	const ProtobufCMessageDescriptor *ss =
	    &orch__stream_started_request__descriptor;

	(void) state;
	expect_refusal(BUILD(ss, NULL, "--engine.hots", "h"), false,
	    "engine.hots", "engine.hots: no such field in EngineAddress");
	expect_refusal(BUILD(ss, NULL, "--nope", "h"), false, "nope",
	    "nope: no such field in StreamStartedRequest");
	expect_refusal(BUILD(ss, NULL, "--engine.port", "x"), false,
	    "engine.port", "engine.port: expected int32, got \"x\"");
	expect_refusal(BUILD(ss, NULL, "--engine", "x"), false, "engine",
	    "engine: a message: set its fields as engine.<field>");
	expect_refusal(BUILD(&orch__select_engine_request__descriptor, NULL,
	                   "--reserve", "maybe"),
	    false, "reserve",
	    "reserve: expected bool (true, false, 1, 0), got \"maybe\"");
	expect_refusal(BUILD(ss, NULL, "--engine.port"), true, "engine.port",
	    "--engine.port: expected a value after it");
	expect_refusal(BUILD(ss, NULL, "extra"), true, "",
	    "unexpected argument \"extra\" (fields are given as --NAME "
	    "VALUE)");
	expect_refusal(BUILD(ss, NULL, "--json"), true, "",
	    "--json: expected a request body ('{...}', @FILE or -); for JSON "
	    "output, put --json before the command");
	expect_refusal(
	    BUILD(ss, NULL, "--", "x"), false, "", "empty field name");
	/* A good field before a bad one: nothing is sent, nothing leaks. */
	expect_refusal(BUILD(ss, NULL, "--engine.host", "h", "--engine.port",
	                   "99999999999"),
	    false, "engine.port",
	    "engine.port: expected int32, got \"99999999999\" (out of range)");
}

/* The human commands' syntaxes, as orchctl.c declares them. */
static const orch_ctl_syntax start_syn = {{"stream.key_type", "stream.key"}, 2,
    {{"--host", "engine.host", NULL}, {"--port", "engine.port", NULL},
        {"--reservation", "labels.reservation_id", NULL},
        {"--live", "session.is_live", NULL}},
    {{NULL}}};
static const orch_ctl_syntax end_syn = {
    {"stream_id", "reason"}, 1, {{NULL}}, {{"reason", "orchctl"}}};
static const orch_ctl_syntax select_syn = {
    {NULL}, 0, {{"--reserve", "reserve", "true"}}, {{NULL}}};

static void
test_syntax(void **state)
{
	const ProtobufCMessageDescriptor *ss =
	    &orch__stream_started_request__descriptor;
	const ProtobufCMessageDescriptor *se =
	    &orch__stream_ended_request__descriptor;

	(void) state;
	expect_json(BUILD(ss, &start_syn, "content_id", "abc", "--host", "h",
	                "--port", "1", "--reservation", "r", "--live", "1"),
	    "\"engine\":{\"host\":\"h\",\"port\":1},\"stream\":{\"key_type\":"
	    "\"content_id\",\"key\":\"abc\"}");
	/* The generic form works alongside a command's own flags. */
	expect_json(BUILD(ss, &start_syn, "url", "k", "--session.stat_url",
	                "http://x/", "--labels.stream_id", "s"),
	    "\"stat_url\":\"http://x/\"");
	expect_json(BUILD(se, &end_syn, "s1"),
	    "{\"stream_id\":\"s1\",\"container_id\":null,\"reason\":"
	    "\"orchctl\"}");
	expect_json(BUILD(se, &end_syn, "s1", "gone"), "\"reason\":\"gone\"}");
	expect_json(BUILD(&orch__select_engine_request__descriptor,
	                &select_syn, "--reserve"),
	    "{\"reserve\":true}");
	expect_json(build_json(&orch__select_engine_request__descriptor,
	                &select_syn, 0, NULL, NULL),
	    "{\"reserve\":null}");
	expect_refusal(
	    BUILD(ss, &start_syn, "url"), true, "", "missing arguments");
	expect_refusal(BUILD(se, &end_syn, "a", "b", "c"), true, "",
	    "unexpected argument \"c\"");
	expect_refusal(BUILD(ss, &start_syn, "url", "k", "--port"), true,
	    "engine.port", "--port: expected a value after it");
	expect_refusal(BUILD(ss, &start_syn, "url", "k", "--port", "p"), false,
	    "engine.port", "engine.port: expected int32, got \"p\"");
}

/* A value of the type `orchctl methods` names, for any field it lists. */
static const char *
sample(const char *type)
{
	const char *v = "x";

	if (strncmp(type, "int", 3) == 0 || strncmp(type, "uint", 4) == 0)
		v = "1";
	else if (strcmp(type, "bool") == 0)
		v = "true";
	else if (strncmp(type, "RFC 3339", 8) == 0)
		v = "2024-01-01T00:00:00Z";
	return v;
}

/* Every line `orchctl methods` prints for a method can be given as it
 * says: the listing and the setter agree on the whole schema. */
static void
test_describe_is_settable(void **state)
{
	const ProtobufCServiceDescriptor *svc =
	    &orch__orchestrator__descriptor;
	int lines = 0;

	(void) state;
	for (unsigned i = 0; i < svc->n_methods; i++) {
		orch_buf b = ORCH_BUF_INIT;
		char *text, *save = NULL;

		orch_ctl_describe(svc->methods[i].input, &b);
		assert_false(b.oom);
		text = strdup(orch_buf_cstr(&b));
		assert_non_null(text);
		for (char *line = strtok_r(text, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			char path[256], flag[260], *sp, *key, *argv[2];
			const char *type;
			char *j;

			assert_memory_equal(line, "    --", 6);
			snprintf(path, sizeof(path), "%s", line + 6);
			sp = strchr(path, ' ');
			assert_non_null(sp);
			*sp = '\0';
			type = sp + 1;
			if (strstr(type, "JSON only") != NULL)
				continue;
			key = strstr(path, ".<key>");
			if (key != NULL)
				strcpy(key, ".k");
			snprintf(flag, sizeof(flag), "--%s", path);
			argv[0] = flag;
			argv[1] = (char *) sample(type);
			j = build_json(
			    svc->methods[i].input, NULL, 2, argv, NULL);
			if (j == NULL)
				fail_msg("%s %s: %s", svc->methods[i].name,
				    flag, diag.msg);
			free(j);
			lines++;
		}
		free(text);
		orch_buf_fini(&b);
	}
	/* The schema's requests have this many text-settable fields at
	 * least (the point is that the loop ran, not the number). */
	assert_true(lines >= 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generic_fields),
	    cmocka_unit_test(test_json_body),
	    cmocka_unit_test(test_json_unreadable),
	    cmocka_unit_test(test_generic_errors),
	    cmocka_unit_test(test_syntax),
	    cmocka_unit_test(test_describe_is_settable),
	};

	return cmocka_run_group_tests_name("ctl_args", tests, NULL, NULL);
}
