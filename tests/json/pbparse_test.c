/*
 * The JSON -> protobuf parser (src/json/pbparse.h), checked against the
 * writer it mirrors: every request type of the service and every reply
 * type, filled in by their descriptors, are written, parsed back and
 * written again, byte for byte the same. Then the contract's cases one by
 * one: the seed's stream_started body, unknown keys, nulls, every kind of
 * wrongly typed field with its exact path and message, malformed bodies,
 * integer edges, timestamps, set_field, and every allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/json/pbjson.h"
#include "src/json/pbparse.h"

/* ------------------------------------------------------------------------ */
/* Helpers. */

/* Writes m as JSON; the caller frees the string. */
static char *
write_json(const ProtobufCMessage *m)
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

static ProtobufCMessage *
parse_ok(const ProtobufCMessageDescriptor *d, const char *json)
{
	ProtobufCMessage *m = NULL;
	orch_diag err;
	orch_err rv = orch_pbparse(d, json, strlen(json), NULL, &m, &err);

	if (rv != ORCH_OK)
		fail_msg("%s: %s refused: %s", d->name, json, err.msg);
	assert_non_null(m);
	assert_ptr_equal(m->descriptor, d);
	assert_string_equal(err.msg, "");
	assert_string_equal(err.field, "");
	return m;
}

/* Parses json into d and writes it back: must equal want. */
static void
check_rewrite(
    const ProtobufCMessageDescriptor *d, const char *json, const char *want)
{
	ProtobufCMessage *m = parse_ok(d, json);
	char *s = write_json(m);

	assert_string_equal(s, want);
	free(s);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ------------------------------------------------------------------------ */
/* Filling any message from its descriptor. */

enum fill_mode {
	FILL_FULL,   /* every field, two elements per repeated field */
	FILL_SPARSE, /* every other field left unset */
	FILL_ZERO, /* optional scalars set to zero, strings "", no elements */
};

static const char *const sample_strings[] = {
    "plain",
    "quote\" back\\ slash/ nl\n cr\r tab\t ctl\x01\x1f del\x7f",
    "utf8 \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
    "</script><!--",
    "",
    "x",
};
#define N_SAMPLES (sizeof(sample_strings) / sizeof(sample_strings[0]))

static const int64_t sample_times[] = {
    1704110400000000LL,   /* 2024-01-01T12:00:00Z */
    1704110400123456LL,   /* with microseconds */
    -1LL,                 /* 1969-12-31T23:59:59.999999Z */
    0LL,                  /* the epoch */
    -62167219200000000LL, /* 0000-01-01T00:00:00Z */
    253402300799999999LL, /* 9999-12-31T23:59:59.999999Z */
};
#define N_TIMES (sizeof(sample_times) / sizeof(sample_times[0]))

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	assert_non_null(p);
	return p;
}

static void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	assert_non_null(p);
	return p;
}

static void fill(ProtobufCMessage *m, enum fill_mode mode, unsigned seed);

static ProtobufCMessage *
new_filled(
    const ProtobufCMessageDescriptor *d, enum fill_mode mode, unsigned seed)
{
	ProtobufCMessage *m = xcalloc(1, d->sizeof_message);

	protobuf_c_message_init(d, m);
	fill(m, mode, seed);
	return m;
}

/* One value of f at p. */
static void
fill_value(const ProtobufCFieldDescriptor *f, void *p, enum fill_mode mode,
    unsigned seed)
{
	bool zero = mode == FILL_ZERO;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: {
		static const int32_t v[] = {
		    19000, INT32_MIN, INT32_MAX, -1, 0};

		*(int32_t *) p = zero ? 0 : v[seed % 5];
		break;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *) p = zero ? 0 : seed % 2 ? UINT32_MAX : 7;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		static const int64_t v[] = {
		    1LL << 40, INT64_MIN, INT64_MAX, -1, 0};

		*(int64_t *) p = zero ? 0 : v[seed % 5];
		break;
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		/* JSON via jansson ends at INT64_MAX. */
		*(uint64_t *) p = zero ? 0 : seed % 2 ? INT64_MAX : 42;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *) p = zero ? 0.0f : 0.1f * (float) seed;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *) p = zero ? 0.0 : 0.1 * seed;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *) p = zero ? 0 : seed % 2 == 0;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;

		*(int *) p = ed->values[zero ? 0 : seed % ed->n_values].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		*(char **) p =
		    xstrdup(zero ? "" : sample_strings[seed % N_SAMPLES]);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		size_t n = zero ? 0 : 1 + seed % 5;

		b->len = n;
		b->data = n > 0 ? xcalloc(1, n) : NULL;
		for (size_t i = 0; i < n; i++)
			b->data[i] = (uint8_t) (seed * 37 + i * 101);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *sub;

		if (d == &orch__timestamp__descriptor) {
			Orch__Timestamp *t = xcalloc(1, sizeof(*t));

			orch__timestamp__init(t);
			t->unix_micros = sample_times[seed % N_TIMES];
			sub = &t->base;
		} else {
			sub = new_filled(d, mode, seed + 1);
		}
		*(ProtobufCMessage **) p = sub;
		break;
	}
	}
}

static const char *const map_keys[] = {
    "team", "6878/tcp", "a.b", "\xc3\xa9t\xc3\xa9", "quote\"", ""};

static void
fill(ProtobufCMessage *m, enum fill_mode mode, unsigned seed)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	char *base = (char *) m;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		unsigned s = seed + i;

		if (mode == FILL_SPARSE &&
		    f->label != PROTOBUF_C_LABEL_REQUIRED &&
		    (seed + i) % 2 == 1)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = mode == FILL_ZERO ? 0 : 2;
			size_t sz =
			    f->type == PROTOBUF_C_TYPE_MESSAGE ||
			            f->type == PROTOBUF_C_TYPE_STRING
			        ? sizeof(void *)
			    : f->type == PROTOBUF_C_TYPE_BYTES
			        ? sizeof(ProtobufCBinaryData)
			    : f->type == PROTOBUF_C_TYPE_INT64 ||
			            f->type == PROTOBUF_C_TYPE_UINT64 ||
			            f->type == PROTOBUF_C_TYPE_DOUBLE
			        ? 8
			        : 4;
			char *arr = n > 0 ? xcalloc(n, sz) : NULL;
			const ProtobufCMessageDescriptor *ed = f->descriptor;
			bool map = f->type == PROTOBUF_C_TYPE_MESSAGE &&
			           strstr(ed->name, "Entry") != NULL;

			for (size_t k = 0; k < n; k++) {
				if (map) {
					ProtobufCMessage *e =
					    xcalloc(1, ed->sizeof_message);

					protobuf_c_message_init(ed, e);
					*(char **) ((char *) e +
					            ed->fields[0].offset) =
					    xstrdup(map_keys[(s + k) % 6]);
					fill_value(&ed->fields[1],
					    (char *) e + ed->fields[1].offset,
					    mode, s + (unsigned) k);
					*(ProtobufCMessage **) (arr + k * sz) =
					    e;
				} else {
					fill_value(f, arr + k * sz, mode,
					    s + (unsigned) k);
				}
			}
			*(size_t *) (base + f->quantifier_offset) = n;
			*(char **) (base + f->offset) = arr;
			continue;
		}
		fill_value(f, base + f->offset, mode, s);
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
		    f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *) (base + f->quantifier_offset) =
			    1;
	}
}

/* write -> parse -> write: the two JSON texts are the same bytes. */
static void
roundtrip(const ProtobufCMessage *m)
{
	char *j1 = write_json(m), *j2;
	ProtobufCMessage *back = parse_ok(m->descriptor, j1);

	j2 = write_json(back);
	if (strcmp(j1, j2) != 0)
		fail_msg("%s: round trip differs:\n%s\n%s",
		    m->descriptor->name, j1, j2);
	free(j1);
	free(j2);
	protobuf_c_message_free_unpacked(back, NULL);
}

static void
roundtrip_type(const ProtobufCMessageDescriptor *d)
{
	static const enum fill_mode modes[] = {
	    FILL_FULL, FILL_SPARSE, FILL_ZERO};

	for (size_t k = 0; k < 3; k++) {
		for (unsigned seed = 0; seed < 6; seed++) {
			ProtobufCMessage *m = new_filled(d, modes[k], seed);

			roundtrip(m);
			protobuf_c_message_free_unpacked(m, NULL);
		}
	}
	/* And the empty message, as INIT leaves it. */
	{
		ProtobufCMessage *m = xcalloc(1, d->sizeof_message);

		protobuf_c_message_init(d, m);
		roundtrip(m);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void
test_roundtrip_every_request(void **state)
{
	const ProtobufCServiceDescriptor *svc =
	    &orch__orchestrator__descriptor;

	(void) state;
	assert_int_equal(svc->n_methods, 20);
	for (unsigned i = 0; i < svc->n_methods; i++)
		roundtrip_type(svc->methods[i].input);
}

static void
test_roundtrip_every_reply(void **state)
{
	const ProtobufCServiceDescriptor *svc =
	    &orch__orchestrator__descriptor;

	(void) state;
	for (unsigned i = 0; i < svc->n_methods; i++)
		roundtrip_type(svc->methods[i].output);
	/* Bytes, enums and uint64 live only in the envelopes. */
	roundtrip_type(&orch__request_envelope__descriptor);
	roundtrip_type(&orch__reply_envelope__descriptor);
	roundtrip_type(&orch__error_detail__descriptor);
}

/* The filler really fills (a round trip of nulls would prove nothing). */
static void
test_roundtrip_sample_is_what_we_think(void **state)
{
	ProtobufCMessage *m;
	char *j;

	(void) state;
	m = new_filled(
	    &orch__provision_container_request__descriptor, FILL_FULL, 0);
	j = write_json(m);
	assert_string_equal(j,
	    "{\"image\":\"plain\",\"env\":{\"6878/tcp\":\"quote\\\" back"
	    "\\\\ slash/ nl\\n cr\\r tab\\t ctl\\u0001\\u001f del\x7f\","
	    "\"a.b\":\"utf8 \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98"
	    "\x80\"},\"labels\":{\"a.b\":\"utf8 \xc3\xa9 \xe6\x97\xa5\xe6"
	    "\x9c\xac \xf0\x9f\x98\x80\",\"\xc3\xa9t\xc3\xa9\":\"</script>"
	    "<!--\"},\"ports\":{\"\xc3\xa9t\xc3\xa9\":-1,\"quote\\\"\":0},"
	    "\"name_prefix\":\"\"}");
	free(j);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ------------------------------------------------------------------------ */
/* The seed's body and the contract's rules. */

static void
test_seed_stream_started(void **state)
{
	/* Verbatim from seeds/000_17e04a0b901f1d4e.txt. */
	static const char body[] = "{\n"
	                           "  \"container_id\": \"abc123...\",\n"
	                           "  \"engine\": {\n"
	                           "    \"host\": \"gluetun\",\n"
	                           "    \"port\": 19000\n"
	                           "  },\n"
	                           "  \"stream\": {\n"
	                           "    \"key_type\": \"infohash\",\n"
	                           "    \"key\": \"abc123...\"\n"
	                           "  },\n"
	                           "  \"session\": {\n"
	                           "    \"playback_session_id\": \"xyz789\",\n"
	                           "    \"stat_url\": \"http://...\",\n"
	                           "    \"command_url\": \"http://...\",\n"
	                           "    \"is_live\": 1\n"
	                           "  }\n"
	                           "}";
	Orch__StreamStartedRequest *r =
	    (Orch__StreamStartedRequest *) parse_ok(
	        &orch__stream_started_request__descriptor, body);

	(void) state;
	assert_string_equal(r->container_id, "abc123...");
	assert_non_null(r->engine);
	assert_string_equal(r->engine->host, "gluetun");
	assert_true(r->engine->has_port);
	assert_int_equal(r->engine->port, 19000);
	assert_non_null(r->stream);
	assert_string_equal(r->stream->key_type, "infohash");
	assert_string_equal(r->stream->key, "abc123...");
	assert_non_null(r->session);
	assert_string_equal(r->session->playback_session_id, "xyz789");
	assert_string_equal(r->session->stat_url, "http://...");
	assert_string_equal(r->session->command_url, "http://...");
	assert_true(r->session->has_is_live);
	assert_int_equal(r->session->is_live, 1);
	assert_int_equal(r->n_labels, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* stream_ended's and provision's seed bodies too. */
	check_rewrite(&orch__stream_ended_request__descriptor,
	    "{\n  \"stream_id\": \"stream1\",\n  \"reason\": "
	    "\"client_disconnect\"\n}",
	    "{\"stream_id\":\"stream1\",\"container_id\":null,"
	    "\"reason\":\"client_disconnect\"}");
	check_rewrite(&orch__provision_engine_request__descriptor,
	    "{\n  \"labels\": {},\n  \"env\": {}\n}",
	    "{\"labels\":{},\"env\":{},\"image\":null,\"host_port\":null}");
}

static void
test_unknown_keys_ignored(void **state)
{
	(void) state;
	check_rewrite(&orch__stream_started_request__descriptor,
	    "{\"future\":{\"a\":[1,2.5,{\"b\":null}],\"c\":\"d\"},"
	    "\"container_id\":\"x\",\"engine\":{\"host\":\"h\",\"port\":1,"
	    "\"tls\":true},\"stream\":{\"key\":\"k\",\"extra\":[]},"
	    "\"Container_id\":5}",
	    "{\"container_id\":\"x\",\"engine\":{\"host\":\"h\",\"port\":1},"
	    "\"stream\":{\"key_type\":null,\"key\":\"k\"},\"session\":null,"
	    "\"labels\":{}}");
	/* A body of nothing but unknown keys is an empty request. */
	check_rewrite(&orch__scale_request__descriptor, "{\"m\":1,\"N\":2}",
	    "{\"n\":null}");
	check_rewrite(&orch__ping_request__descriptor, "{\"x\":{}}", "{}");
}

static void
test_null_is_unset(void **state)
{
	Orch__StreamStartedRequest *r;
	Orch__ProvisionEngineRequest *p;

	(void) state;
	r = (Orch__StreamStartedRequest *) parse_ok(
	    &orch__stream_started_request__descriptor,
	    "{\"container_id\":null,\"engine\":null,\"labels\":null,"
	    "\"session\":{\"is_live\":null,\"stat_url\":null}}");
	assert_null(r->container_id);
	assert_null(r->engine);
	assert_int_equal(r->n_labels, 0);
	assert_non_null(r->session);
	assert_false(r->session->has_is_live);
	assert_null(r->session->stat_url);
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* The contract's provision body. */
	p = (Orch__ProvisionEngineRequest *) parse_ok(
	    &orch__provision_engine_request__descriptor,
	    "{\"labels\":{},\"env\":{},\"image\":null,\"host_port\":null}");
	assert_null(p->image);
	assert_false(p->has_host_port);
	assert_int_equal(p->n_labels, 0);
	assert_int_equal(p->n_env, 0);
	protobuf_c_message_free_unpacked(&p->base, NULL);

	/* Zero and false are values, not null. */
	check_rewrite(&orch__select_engine_request__descriptor,
	    "{\"reserve\":false}", "{\"reserve\":false}");
	check_rewrite(&orch__select_engine_request__descriptor,
	    "{\"reserve\":null}", "{\"reserve\":null}");
	check_rewrite(
	    &orch__scale_request__descriptor, "{\"n\":0}", "{\"n\":0}");
	check_rewrite(&orch__collect_garbage_reply__descriptor,
	    "{\"stopped\":null}", "{\"stopped\":[]}");
}

static void
test_maps_keep_order(void **state)
{
	Orch__StreamStartedRequest *r;

	(void) state;
	r = (Orch__StreamStartedRequest *) parse_ok(
	    &orch__stream_started_request__descriptor,
	    "{\"labels\":{\"z\":\"1\",\"a\":\"2\",\"reservation_id\":\"r-1\","
	    "\"\":\"\"}}");
	assert_int_equal(r->n_labels, 4);
	assert_string_equal(r->labels[0]->key, "z");
	assert_string_equal(r->labels[0]->value, "1");
	assert_string_equal(r->labels[1]->key, "a");
	assert_string_equal(r->labels[2]->key, "reservation_id");
	assert_string_equal(r->labels[2]->value, "r-1");
	assert_string_equal(r->labels[3]->key, "");
	protobuf_c_message_free_unpacked(&r->base, NULL);
	check_rewrite(&orch__provision_container_request__descriptor,
	    "{\"ports\":{\"6878/tcp\":19000,\"8621/tcp\":-1},\"image\":\"i\"}",
	    "{\"image\":\"i\",\"env\":{},\"labels\":{},\"ports\":{\"6878/"
	    "tcp\":"
	    "19000,\"8621/tcp\":-1},\"name_prefix\":null}");
	/* A map of lists (ContainerInfo.ports) and a bare list at the top. */
	check_rewrite(&orch__container_info_list__descriptor,
	    "[{\"id\":\"i\",\"ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\","
	    "\"HostPort\":\"19000\"}],\"443/tcp\":[]}}]",
	    "[{\"id\":\"i\",\"name\":null,\"image\":null,\"created\":null,"
	    "\"status\":null,\"labels\":{},\"ports\":{\"80/tcp\":[{\"HostIp\":"
	    "\"0.0.0.0\",\"HostPort\":\"19000\"}],\"443/tcp\":[]}}]");
}

/* ------------------------------------------------------------------------ */
/* Wrong types: 422 with the field's path. */

struct type_case {
	const ProtobufCMessageDescriptor *d;
	const char *json;
	const char *field;
	const char *message;
};

static void
test_wrong_types(void **state)
{
	static const struct type_case cases[] = {
	    {&orch__stream_started_request__descriptor,
	        "{\"session\":{\"is_live\":true}}", "session.is_live",
	        "session.is_live: expected int32, got boolean"},
	    {&orch__stream_started_request__descriptor,
	        "{\"session\":{\"is_live\":\"1\"}}", "session.is_live",
	        "session.is_live: expected int32, got string"},
	    {&orch__stream_started_request__descriptor,
	        "{\"session\":{\"is_live\":1.0}}", "session.is_live",
	        "session.is_live: expected int32, got number"},
	    {&orch__stream_started_request__descriptor,
	        "{\"session\":{\"is_live\":2147483648}}", "session.is_live",
	        "session.is_live: expected int32, got integer out of "
	        "range"},
	    {&orch__stream_started_request__descriptor,
	        "{\"session\":{\"is_live\":-2147483649}}", "session.is_live",
	        "session.is_live: expected int32, got integer out of "
	        "range"},
	    {&orch__stream_started_request__descriptor, "{\"session\":[]}",
	        "session", "session: expected object, got array"},
	    {&orch__stream_started_request__descriptor,
	        "{\"engine\":\"gluetun:19000\"}", "engine",
	        "engine: expected object, got string"},
	    {&orch__stream_started_request__descriptor,
	        "{\"engine\":{\"host\":\"h\",\"port\":\"19000\"}}",
	        "engine.port", "engine.port: expected int32, got string"},
	    {&orch__stream_started_request__descriptor, "{\"container_id\":5}",
	        "container_id", "container_id: expected string, got integer"},
	    {&orch__stream_started_request__descriptor,
	        "{\"stream\":{\"key\":{}}}", "stream.key",
	        "stream.key: expected string, got object"},
	    {&orch__stream_started_request__descriptor,
	        "{\"labels\":{\"team\":1}}", "labels.team",
	        "labels.team: expected string, got integer"},
	    {&orch__stream_started_request__descriptor,
	        "{\"labels\":{\"ok\":\"1\",\"team\":null}}", "labels.team",
	        "labels.team: expected string, got null"},
	    {&orch__stream_started_request__descriptor,
	        "{\"labels\":{\"team\":true}}", "labels.team",
	        "labels.team: expected string, got boolean"},
	    {&orch__stream_started_request__descriptor,
	        "{\"labels\":[\"team\"]}", "labels",
	        "labels: expected object, got array"},
	    {&orch__stream_started_request__descriptor,
	        "{\"labels\":\"team=a\"}", "labels",
	        "labels: expected object, got string"},
	    {&orch__provision_container_request__descriptor,
	        "{\"ports\":{\"6878/tcp\":\"19000\"}}", "ports.6878/tcp",
	        "ports.6878/tcp: expected int32, got string"},
	    {&orch__provision_container_request__descriptor,
	        "{\"ports\":{\"6878/tcp\":19000.5}}", "ports.6878/tcp",
	        "ports.6878/tcp: expected int32, got number"},
	    {&orch__provision_container_request__descriptor,
	        "{\"ports\":{\"6878/tcp\":[{\"HostPort\":\"1\"}]}}",
	        "ports.6878/tcp", "ports.6878/tcp: expected int32, got array"},
	    {&orch__provision_container_request__descriptor,
	        "{\"env\":{\"A\":\"1\"},\"image\":[\"x\"]}", "image",
	        "image: expected string, got array"},
	    {&orch__select_engine_request__descriptor, "{\"reserve\":1}",
	        "reserve", "reserve: expected bool, got integer"},
	    {&orch__select_engine_request__descriptor,
	        "{\"reserve\":\"true\"}", "reserve",
	        "reserve: expected bool, got string"},
	    {&orch__scale_request__descriptor, "{\"n\":1e3}", "n",
	        "n: expected int32, got number"},
	    {&orch__list_streams_request__descriptor, "{\"limit\":-1.5}",
	        "limit", "limit: expected int32, got number"},
	    {&orch__get_stream_stats_request__descriptor,
	        "{\"since\":\"2024-01-01T12:00:00\"}", "since",
	        "since: expected RFC 3339 time with zone, got string"},
	    {&orch__get_stream_stats_request__descriptor,
	        "{\"since\":\"yesterday\"}", "since",
	        "since: expected RFC 3339 time with zone, got string"},
	    {&orch__get_stream_stats_request__descriptor,
	        "{\"since\":1704110400}", "since",
	        "since: expected RFC 3339 time with zone, got integer"},
	    {&orch__get_stream_stats_request__descriptor,
	        "{\"since\":{\"unix_micros\":1}}", "since",
	        "since: expected RFC 3339 time with zone, got object"},
	    {&orch__get_stream_stats_request__descriptor,
	        "{\"since\":\"0000-01-01T00:00:00+00:01\"}", "since",
	        "since: expected RFC 3339 time with zone, got string"},
	    {&orch__get_stream_stats_request__descriptor,
	        "{\"since\":\"2024-02-30T00:00:00Z\"}", "since",
	        "since: expected RFC 3339 time with zone, got string"},
	    /* Replies: arrays, their elements, nested lists. */
	    {&orch__collect_garbage_reply__descriptor, "{\"stopped\":\"a\"}",
	        "stopped", "stopped: expected array, got string"},
	    {&orch__collect_garbage_reply__descriptor,
	        "{\"stopped\":[\"a\",1]}", "stopped[1]",
	        "stopped[1]: expected string, got integer"},
	    {&orch__collect_garbage_reply__descriptor, "{\"stopped\":[null]}",
	        "stopped[0]", "stopped[0]: expected string, got null"},
	    {&orch__engine_list__descriptor, "[{\"port\":1},{\"port\":\"x\"}]",
	        "[1].port", "[1].port: expected int32, got string"},
	    {&orch__engine_list__descriptor, "[{},[]]", "[1]",
	        "[1]: expected object, got array"},
	    {&orch__container_info__descriptor,
	        "{\"ports\":{\"80/tcp\":[{\"HostIp\":1}]}}",
	        "ports.80/tcp[0].HostIp",
	        "ports.80/tcp[0].HostIp: expected string, got integer"},
	    {&orch__container_info__descriptor, "{\"ports\":{\"80/tcp\":{}}}",
	        "ports.80/tcp", "ports.80/tcp: expected array, got object"},
	    {&orch__orchestrator_status__descriptor,
	        "{\"vpn\":{\"enabled\":\"yes\"}}", "vpn.enabled",
	        "vpn.enabled: expected bool, got string"},
	    {&orch__reply_envelope__descriptor, "{\"status\":\"NOPE\"}",
	        "status", "status: expected enum name, got unknown name"},
	    {&orch__reply_envelope__descriptor, "{\"payload\":\"abc\"}",
	        "payload", "payload: expected base64 string, got string"},
	    {&orch__reply_envelope__descriptor, "{\"payload\":\"ab==\"}",
	        "payload", "payload: expected base64 string, got string"},
	    {&orch__request_envelope__descriptor, "{\"request_id\":-1}",
	        "request_id",
	        "request_id: expected uint64, got integer out of range"},
	    {&orch__request_envelope__descriptor,
	        "{\"timeout_ms\":4294967296}", "timeout_ms",
	        "timeout_ms: expected uint32, got integer out of range"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct type_case *tc = &cases[i];
		ProtobufCMessage *m = (ProtobufCMessage *) 1;
		orch_diag err;
		orch_err rv;

		rv = orch_pbparse(
		    tc->d, tc->json, strlen(tc->json), NULL, &m, &err);
		if (rv != ORCH_EINVAL)
			fail_msg("case %zu (%s) accepted", i, tc->json);
		assert_null(m);
		assert_string_equal(err.field, tc->field); /* 422, not 400 */
		assert_string_equal(err.msg, tc->message);
	}
}

/* A path longer than the error's field is cut, never overrun. */
static void
test_long_path_truncated(void **state)
{
	char json[512];
	char key[300];
	ProtobufCMessage *m = NULL;
	orch_diag err;

	(void) state;
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"labels\":{\"%s\":1}}", key);
	assert_int_equal(
	    orch_pbparse(&orch__provision_engine_request__descriptor, json,
	        strlen(json), NULL, &m, &err),
	    ORCH_EINVAL);
	assert_int_equal(strlen(err.field), ORCH_DIAG_FIELD_MAX - 1);
	assert_memory_equal(err.field, "labels.kkk", 10);
	assert_memory_equal(err.msg, err.field, strlen(err.field));
	/* Within the 256 bytes the message had before orch_diag: what the
	 * gateway answers is unchanged. */
	assert_true(strlen(err.msg) < 256);
	/* And err may be NULL. */
	assert_int_equal(
	    orch_pbparse(&orch__provision_engine_request__descriptor, json,
	        strlen(json), NULL, &m, NULL),
	    ORCH_EINVAL);
	assert_null(m);
}

/* ------------------------------------------------------------------------ */
/* Malformed: 400. */

/* {"k": <open * depth> inner <close * depth>} */
static char *
nested(size_t depth, const char *open, const char *close, const char *inner)
{
	size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
	char *s = xcalloc(1, depth * (lo + lc) + li + 8);
	char *p = s;

	memcpy(p, "{\"k\":", 5);
	p += 5;
	for (size_t i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, inner, li);
	p += li;
	for (size_t i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	*p++ = '}';
	return s;
}

static void
expect_malformed(
    const ProtobufCMessageDescriptor *d, const char *json, size_t len)
{
	ProtobufCMessage *m = (ProtobufCMessage *) 1;
	orch_diag err;

	if (orch_pbparse(d, json, len, NULL, &m, &err) != ORCH_EINVAL)
		fail_msg("accepted: %.*s", (int) (len > 80 ? 80 : len), json);
	assert_null(m);
	/* Malformed (400) is ORCH_EINVAL with no field. */
	if (err.field[0] != '\0')
		fail_msg("not malformed: %.*s: %s",
		    (int) (len > 80 ? 80 : len), json, err.msg);
	assert_true(err.msg[0] != '\0');
}

static void
test_malformed(void **state)
{
	static const char *const bodies[] = {
	    "",
	    " ",
	    "[]",
	    "1",
	    "\"x\"",
	    "null",
	    "true",
	    "{",
	    "}",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\":1,}",
	    "{} x",
	    "{}{}",
	    "{} []",
	    "{\"a\":1,\"a\":2}",
	    "{\"labels\":{\"x\":\"1\",\"x\":\"2\"}}",
	    "{\"container_id\":\"a\",\"container_id\":\"a\"}",
	    "{'a':1}",
	    "{a:1}",
	    "{\"a\":01}",
	    "{\"a\":.5}",
	    "{\"a\":NaN}",
	    "{\"a\":\"\\u0000\"}",
	    "{\"a\":\"\\ud800\"}",
	    "{\"container_id\":\"\xff\"}",
	    "{\"a\":\"\x01\"}",
	    "\xef\xbb\xbf{}",
	    "{\"n\":99999999999999999999}",
	    "{\"a\":1e999}",
	    "{\"a\":[1,2}",
	    "/* c */{}",
	};
	static const char nul_inside[] = "{\"a\":\"x\0y\"}";
	static const char nul_after[] = "{}\0";
	char *deep;

	(void) state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		expect_malformed(&orch__stream_started_request__descriptor,
		    bodies[i], strlen(bodies[i]));
	expect_malformed(&orch__stream_started_request__descriptor, nul_inside,
	    sizeof(nul_inside) - 1);
	expect_malformed(&orch__stream_started_request__descriptor, nul_after,
	    sizeof(nul_after) - 1);
	/* A list wrapper's body is an array, and only that. */
	expect_malformed(&orch__engine_list__descriptor, "{}", 2);
	check_rewrite(&orch__engine_list__descriptor, "[]", "[]");

	/* 1000 levels, in arrays and in objects, under an unknown key. */
	deep = nested(1000, "[", "]", "1");
	expect_malformed(&orch__scale_request__descriptor, deep, strlen(deep));
	free(deep);
	deep = nested(1000, "{\"a\":", "}", "1");
	expect_malformed(&orch__scale_request__descriptor, deep, strlen(deep));
	free(deep);
	/* The limit is ORCH_PBPARSE_MAX_DEPTH levels, the body's included. */
	deep = nested(ORCH_PBPARSE_MAX_DEPTH - 1, "{\"x\":", "}", "[]");
	expect_malformed(&orch__scale_request__descriptor, deep, strlen(deep));
	free(deep);
	deep = nested(ORCH_PBPARSE_MAX_DEPTH - 2, "{\"x\":", "}", "[]");
	protobuf_c_message_free_unpacked(
	    parse_ok(&orch__scale_request__descriptor, deep), NULL);
	free(deep);
	/* Brackets inside strings do not count. */
	deep = nested(0, "", "",
	    "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"
	    "{{{{{{{{{{{{{{{\"");
	protobuf_c_message_free_unpacked(
	    parse_ok(&orch__scale_request__descriptor, deep), NULL);
	free(deep);

	/* Over the size limit. */
	{
		size_t n = ORCH_PBPARSE_MAX_LEN + 1;
		char *big = xcalloc(1, n + 1);

		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		expect_malformed(&orch__scale_request__descriptor, big, n);
		big[n - 2] = '}';
		big[n - 1] = '\0';
		protobuf_c_message_free_unpacked(
		    parse_ok(&orch__scale_request__descriptor, big), NULL);
		free(big);
	}
}

/* ------------------------------------------------------------------------ */
/* Numbers and times. */

static void
test_numbers(void **state)
{
	Orch__ListStreamsRequest *l;
	Orch__StatSnapshot *s;

	(void) state;
	l = (Orch__ListStreamsRequest *) parse_ok(
	    &orch__list_streams_request__descriptor, "{\"limit\":-1}");
	assert_true(l->has_limit);
	assert_int_equal(l->limit, -1);
	protobuf_c_message_free_unpacked(&l->base, NULL);
	check_rewrite(&orch__list_streams_request__descriptor,
	    "{\"limit\":2147483647}",
	    "{\"container_id\":null,\"status\":null,\"limit\":2147483647,"
	    "\"before\":null}");
	check_rewrite(&orch__list_streams_request__descriptor,
	    "{\"limit\":-2147483648}",
	    "{\"container_id\":null,\"status\":null,\"limit\":-2147483648,"
	    "\"before\":null}");
	check_rewrite(&orch__list_streams_request__descriptor,
	    "{\"limit\":-0}",
	    "{\"container_id\":null,\"status\":null,\"limit\":0,\"before\":"
	    "null}");
	s = (Orch__StatSnapshot *) parse_ok(&orch__stat_snapshot__descriptor,
	    "{\"peers\":9223372036854775807,\"speed_down\":"
	    "-9223372036854775808,\"speed_up\":0}");
	assert_true(s->has_peers);
	assert_true(s->peers == INT64_MAX);
	assert_true(s->speed_down == INT64_MIN);
	assert_true(s->has_speed_up);
	assert_false(s->has_downloaded);
	protobuf_c_message_free_unpacked(&s->base, NULL);
	/* Past int64, jansson itself refuses the number: malformed. */
	expect_malformed(&orch__stat_snapshot__descriptor,
	    "{\"peers\":9223372036854775808}", 29);
	check_rewrite(&orch__reply_envelope__descriptor,
	    "{\"request_id\":9223372036854775807,\"status\":3}",
	    "{\"request_id\":9223372036854775807,\"status\":"
	    "\"INVALID_ARGUMENT\",\"message\":null,\"detail\":null,"
	    "\"payload\":null}");
	check_rewrite(&orch__reply_envelope__descriptor,
	    "{\"status\":99,\"payload\":\"AAEC/w==\"}",
	    "{\"request_id\":0,\"status\":99,\"message\":null,\"detail\":null,"
	    "\"payload\":\"AAEC/w==\"}");
}

static int64_t
parse_since(const char *when)
{
	char json[128];
	Orch__GetStreamStatsRequest *r;
	int64_t us;

	snprintf(json, sizeof(json), "{\"since\":\"%s\"}", when);
	r = (Orch__GetStreamStatsRequest *) parse_ok(
	    &orch__get_stream_stats_request__descriptor, json);
	assert_non_null(r->since);
	us = r->since->unix_micros;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return us;
}

static void
test_timestamps(void **state)
{
	(void) state;
	assert_true(parse_since("2024-01-01T12:00:00Z") == 1704110400000000LL);
	assert_true(
	    parse_since("2024-01-01T12:00:00.123456Z") == 1704110400123456LL);
	assert_true(
	    parse_since("2024-01-01T12:00:00.5Z") == 1704110400500000LL);
	assert_true(parse_since("2024-01-01T12:00:00.123456789Z") ==
	            1704110400123456LL);
	assert_true(
	    parse_since("2024-01-01T14:00:00+02:00") == 1704110400000000LL);
	assert_true(parse_since("2024-01-01T10:30:00.000001-01:30") ==
	            1704110400000001LL);
	assert_true(parse_since("2024-01-01t12:00:00z") == 1704110400000000LL);
	assert_true(parse_since("1970-01-01T00:00:00Z") == 0);
	assert_true(
	    parse_since("0000-01-01T00:00:00Z") == -62167219200000000LL);
	assert_true(parse_since("9999-12-31T23:59:59.999999Z") ==
	            253402300799999999LL);
	/* Offsets are folded into UTC when written back. */
	check_rewrite(&orch__get_stream_stats_request__descriptor,
	    "{\"since\":\"2024-01-01T14:00:00.250+02:00\",\"stream_id\":"
	    "\"s\"}",
	    "{\"stream_id\":\"s\",\"since\":\"2024-01-01T12:00:00.250000Z\"}");
	check_rewrite(&orch__get_stream_stats_request__descriptor,
	    "{\"since\":\"9999-12-31T23:59:59.999999-00:00\"}",
	    "{\"stream_id\":null,\"since\":\"9999-12-31T23:59:59.999999Z\"}");
}

/* ------------------------------------------------------------------------ */
/* set_field: path parameters and query strings. */

struct set_case {
	const ProtobufCMessageDescriptor *d;
	const char *field;
	const char *text;
	orch_err rv;
	const char *json; /* the message written after (OK), or the error */
};

static void
test_set_field(void **state)
{
	static const struct set_case cases[] = {
	    {&orch__list_streams_request__descriptor, "limit", "10", ORCH_OK,
	        "{\"container_id\":null,\"status\":null,\"limit\":10,"
	        "\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "limit", "-1", ORCH_OK,
	        "{\"container_id\":null,\"status\":null,\"limit\":-1,"
	        "\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "limit", "007", ORCH_OK,
	        "{\"container_id\":null,\"status\":null,\"limit\":7,"
	        "\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "limit", "-0", ORCH_OK,
	        "{\"container_id\":null,\"status\":null,\"limit\":0,"
	        "\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "limit", "2147483647",
	        ORCH_OK,
	        "{\"container_id\":null,\"status\":null,"
	        "\"limit\":2147483647,\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "limit", "-2147483648",
	        ORCH_OK,
	        "{\"container_id\":null,\"status\":null,"
	        "\"limit\":-2147483648,\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "limit", "2147483648",
	        ORCH_EINVAL,
	        "limit: expected int32, got \"2147483648\" (out of range)"},
	    {&orch__list_streams_request__descriptor, "limit", "-2147483649",
	        ORCH_EINVAL,
	        "limit: expected int32, got \"-2147483649\" (out of range)"},
	    {&orch__list_streams_request__descriptor, "limit",
	        "99999999999999999999999", ORCH_EINVAL,
	        "limit: expected int32, got \"99999999999999999999999\" "
	        "(out of range)"},
	    {&orch__list_streams_request__descriptor, "limit", "abc",
	        ORCH_EINVAL, "limit: expected int32, got \"abc\""},
	    {&orch__list_streams_request__descriptor, "limit", "", ORCH_EINVAL,
	        "limit: expected int32, got \"\""},
	    {&orch__list_streams_request__descriptor, "limit", "-",
	        ORCH_EINVAL, "limit: expected int32, got \"-\""},
	    {&orch__list_streams_request__descriptor, "limit", "+1",
	        ORCH_EINVAL, "limit: expected int32, got \"+1\""},
	    {&orch__list_streams_request__descriptor, "limit", " 1",
	        ORCH_EINVAL, "limit: expected int32, got \" 1\""},
	    {&orch__list_streams_request__descriptor, "limit", "1 ",
	        ORCH_EINVAL, "limit: expected int32, got \"1 \""},
	    {&orch__list_streams_request__descriptor, "limit", "1.0",
	        ORCH_EINVAL, "limit: expected int32, got \"1.0\""},
	    {&orch__list_streams_request__descriptor, "limit", "0x10",
	        ORCH_EINVAL, "limit: expected int32, got \"0x10\""},
	    {&orch__list_streams_request__descriptor, "limit", "1e3",
	        ORCH_EINVAL, "limit: expected int32, got \"1e3\""},
	    {&orch__list_streams_request__descriptor, "limit", "--1",
	        ORCH_EINVAL, "limit: expected int32, got \"--1\""},
	    {&orch__list_streams_request__descriptor, "limit", "\xc3\xa9",
	        ORCH_EINVAL, "limit: expected int32, got other text"},
	    {&orch__list_streams_request__descriptor, "status", "started",
	        ORCH_OK,
	        "{\"container_id\":null,\"status\":\"started\","
	        "\"limit\":null,\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "status", "", ORCH_OK,
	        "{\"container_id\":null,\"status\":\"\",\"limit\":null,"
	        "\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "container_id",
	        "a\"b \xc3\xa9", ORCH_OK,
	        "{\"container_id\":\"a\\\"b \xc3\xa9\",\"status\":null,"
	        "\"limit\":null,\"before\":null}"},
	    {&orch__list_streams_request__descriptor, "container_id", "\xff",
	        ORCH_EINVAL,
	        "container_id: expected UTF-8 text, got other text"},
	    {&orch__list_streams_request__descriptor, "container_id", "\xc3",
	        ORCH_EINVAL,
	        "container_id: expected UTF-8 text, got other text"},
	    {&orch__list_streams_request__descriptor, "container_id",
	        "\xed\xa0\x80", ORCH_EINVAL,
	        "container_id: expected UTF-8 text, got other text"},
	    {&orch__list_streams_request__descriptor, "container_id",
	        "\xc0\xaf", ORCH_EINVAL,
	        "container_id: expected UTF-8 text, got other text"},
	    {&orch__select_engine_request__descriptor, "reserve", "true",
	        ORCH_OK, "{\"reserve\":true}"},
	    {&orch__select_engine_request__descriptor, "reserve", "1", ORCH_OK,
	        "{\"reserve\":true}"},
	    {&orch__select_engine_request__descriptor, "reserve", "false",
	        ORCH_OK, "{\"reserve\":false}"},
	    {&orch__select_engine_request__descriptor, "reserve", "0", ORCH_OK,
	        "{\"reserve\":false}"},
	    {&orch__select_engine_request__descriptor, "reserve", "TRUE",
	        ORCH_EINVAL,
	        "reserve: expected bool (true, false, 1, 0), got \"TRUE\""},
	    {&orch__select_engine_request__descriptor, "reserve", "yes",
	        ORCH_EINVAL,
	        "reserve: expected bool (true, false, 1, 0), got \"yes\""},
	    {&orch__select_engine_request__descriptor, "reserve", "",
	        ORCH_EINVAL,
	        "reserve: expected bool (true, false, 1, 0), got \"\""},
	    {&orch__get_stream_stats_request__descriptor, "since",
	        "2024-01-01T12:00:00Z", ORCH_OK,
	        "{\"stream_id\":null,\"since\":\"2024-01-01T12:00:00Z\"}"},
	    {&orch__get_stream_stats_request__descriptor, "since",
	        "2024-01-01T13:00:00.000001+01:00", ORCH_OK,
	        "{\"stream_id\":null,"
	        "\"since\":\"2024-01-01T12:00:00.000001Z\"}"},
	    {&orch__get_stream_stats_request__descriptor, "since",
	        "2024-01-01T12:00:00", ORCH_EINVAL,
	        "since: expected RFC 3339 time with zone, got "
	        "\"2024-01-01T12:00:00\""},
	    {&orch__get_stream_stats_request__descriptor, "since",
	        "2024-01-01", ORCH_EINVAL,
	        "since: expected RFC 3339 time with zone, got "
	        "\"2024-01-01\""},
	    {&orch__stat_snapshot__descriptor, "peers", "-9223372036854775808",
	        ORCH_OK, NULL},
	    {&orch__stat_snapshot__descriptor, "peers", "9223372036854775807",
	        ORCH_OK, NULL},
	    {&orch__stat_snapshot__descriptor, "peers", "9223372036854775808",
	        ORCH_EINVAL,
	        "peers: expected int64, got \"9223372036854775808\" (out of "
	        "range)"},
	    {&orch__stat_snapshot__descriptor, "peers", "-9223372036854775809",
	        ORCH_EINVAL,
	        "peers: expected int64, got \"-9223372036854775809\" (out "
	        "of range)"},
	    {&orch__request_envelope__descriptor, "request_id",
	        "18446744073709551615", ORCH_OK, NULL},
	    {&orch__request_envelope__descriptor, "request_id",
	        "18446744073709551616", ORCH_EINVAL,
	        "request_id: expected uint64, got \"18446744073709551616\" "
	        "(out of range)"},
	    {&orch__request_envelope__descriptor, "request_id", "-1",
	        ORCH_EINVAL, "request_id: expected uint64, got \"-1\""},
	    {&orch__request_envelope__descriptor, "timeout_ms", "4294967295",
	        ORCH_OK, NULL},
	    {&orch__request_envelope__descriptor, "timeout_ms", "4294967296",
	        ORCH_EINVAL,
	        "timeout_ms: expected uint32, got \"4294967296\" (out of "
	        "range)"},
	    /* Not settable from text: a bug in the route table. */
	    {&orch__list_streams_request__descriptor, "nope", "1",
	        ORCH_EINTERNAL, NULL},
	    {&orch__stream_started_request__descriptor, "labels", "a",
	        ORCH_EINTERNAL, NULL},
	    {&orch__stream_started_request__descriptor, "engine", "a",
	        ORCH_EINTERNAL, NULL},
	    {&orch__request_envelope__descriptor, "payload", "a",
	        ORCH_EINTERNAL, NULL},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct set_case *tc = &cases[i];
		ProtobufCMessage *m = NULL;
		orch_diag err;
		char *before, *after;
		orch_err rv;

		assert_int_equal(orch_pbparse_new(tc->d, NULL, &m), ORCH_OK);
		before = write_json(m);
		rv =
		    orch_pbparse_set_field(m, tc->field, tc->text, NULL, &err);
		if (rv != tc->rv)
			fail_msg("case %zu (%s=%s): %d, %s", i, tc->field,
			    tc->text, rv, err.msg);
		after = write_json(m);
		if (rv == ORCH_OK) {
			if (tc->json != NULL)
				assert_string_equal(after, tc->json);
			assert_string_equal(err.msg, "");
		} else {
			assert_string_equal(after, before); /* unchanged */
			if (rv == ORCH_EINVAL) {
				assert_string_equal(err.field, tc->field);
				assert_string_equal(err.msg, tc->json);
			} else {
				assert_string_equal(err.field, "");
				assert_true(err.msg[0] != '\0');
			}
		}
		free(before);
		free(after);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

/* Setting a field twice replaces (and frees) the old value. */
static void
test_set_field_replaces(void **state)
{
	ProtobufCMessage *m = NULL;
	char *j;

	(void) state;
	m = parse_ok(&orch__get_stream_stats_request__descriptor,
	    "{\"stream_id\":\"from-body\",\"since\":\"2020-01-01T00:00:"
	    "00Z\"}");
	assert_int_equal(
	    orch_pbparse_set_field(m, "stream_id", "from-path", NULL, NULL),
	    ORCH_OK);
	assert_int_equal(orch_pbparse_set_field(
	                     m, "since", "2024-01-01T12:00:00Z", NULL, NULL),
	    ORCH_OK);
	assert_int_equal(orch_pbparse_set_field(m, "since", "bad", NULL, NULL),
	    ORCH_EINVAL);
	j = write_json(m);
	assert_string_equal(j, "{\"stream_id\":\"from-path\",\"since\":\"2024-"
	                       "01-01T12:00:00Z\"}");
	free(j);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ------------------------------------------------------------------------ */
/* Dotted paths: orchctl's --engine.port 6878. */

struct path_case {
	const ProtobufCMessageDescriptor *d;
	const char *path;
	const char *text;
	orch_err rv;
	const char *want;  /* OK: a substring of the JSON; else the message */
	const char *field; /* not OK: diag.field */
};

static void
test_set_path(void **state)
{
	static const struct path_case cases[] = {
	    /* Nested messages, created on the way. */
	    {&orch__stream_started_request__descriptor, "engine.host", "h",
	        ORCH_OK, "\"engine\":{\"host\":\"h\",\"port\":null}", NULL},
	    {&orch__stream_started_request__descriptor, "engine.port", "6878",
	        ORCH_OK, "\"engine\":{\"host\":null,\"port\":6878}", NULL},
	    {&orch__stream_started_request__descriptor, "session.is_live", "1",
	        ORCH_OK, "\"is_live\":1}", NULL},
	    {&orch__stream_started_request__descriptor, "stream.key_type",
	        "url", ORCH_OK,
	        "\"stream\":{\"key_type\":\"url\",\"key\":null}", NULL},
	    {&orch__stream_started_request__descriptor, "container_id", "c",
	        ORCH_OK, "{\"container_id\":\"c\",", NULL},
	    /* Maps: the rest of the path, dots included, is the key. */
	    {&orch__stream_started_request__descriptor,
	        "labels.reservation_id", "r1", ORCH_OK,
	        "\"labels\":{\"reservation_id\":\"r1\"}", NULL},
	    {&orch__stream_started_request__descriptor,
	        "labels.com.example.team", "a", ORCH_OK,
	        "\"labels\":{\"com.example.team\":\"a\"}", NULL},
	    {&orch__stream_started_request__descriptor, "labels.", "e",
	        ORCH_OK, "\"labels\":{\"\":\"e\"}", NULL},
	    {&orch__provision_container_request__descriptor, "ports.6878/tcp",
	        "19000", ORCH_OK, "\"ports\":{\"6878/tcp\":19000}", NULL},
	    {&orch__get_stream_stats_request__descriptor, "since",
	        "2024-01-01T12:00:00+02:00", ORCH_OK,
	        "\"since\":\"2024-01-01T10:00:00Z\"", NULL},
	    /* A repeated scalar appends. */
	    {&orch__engine__descriptor, "streams", "s1", ORCH_OK,
	        "\"streams\":[\"s1\"]", NULL},
	    /* Values: the same messages as orch_pbparse_set_field, whole path
	     * for the name; nothing created on the way is left behind. */
	    {&orch__stream_started_request__descriptor, "engine.port", "x",
	        ORCH_EINVAL, "engine.port: expected int32, got \"x\"",
	        "engine.port"},
	    {&orch__stream_started_request__descriptor, "engine.port",
	        "99999999999", ORCH_EINVAL,
	        "engine.port: expected int32, got \"99999999999\" (out of "
	        "range)",
	        "engine.port"},
	    {&orch__provision_container_request__descriptor, "ports.6878/tcp",
	        "x", ORCH_EINVAL, "ports.6878/tcp: expected int32, got \"x\"",
	        "ports.6878/tcp"},
	    {&orch__stream_started_request__descriptor, "labels.a", "\xff",
	        ORCH_EINVAL, "labels.a: expected UTF-8 text, got other text",
	        "labels.a"},
	    {&orch__select_engine_request__descriptor, "reserve", "yes",
	        ORCH_EINVAL,
	        "reserve: expected bool (true, false, 1, 0), got \"yes\"",
	        "reserve"},
	    /* Paths that lead nowhere. */
	    {&orch__stream_started_request__descriptor, "nope", "x",
	        ORCH_EINVAL, "nope: no such field in StreamStartedRequest",
	        "nope"},
	    {&orch__stream_started_request__descriptor, "engine.hots", "h",
	        ORCH_EINVAL, "engine.hots: no such field in EngineAddress",
	        "engine.hots"},
	    {&orch__stream_started_request__descriptor, "engine..host", "h",
	        ORCH_EINVAL, "engine..host: empty field name", "engine..host"},
	    {&orch__stream_started_request__descriptor, ".host", "h",
	        ORCH_EINVAL, ".host: empty field name", ".host"},
	    {&orch__stream_started_request__descriptor, "", "h", ORCH_EINVAL,
	        "empty field name", ""},
	    {&orch__stream_started_request__descriptor, "engine", "h",
	        ORCH_EINVAL,
	        "engine: a message: set its fields as "
	        "engine.<field>",
	        "engine"},
	    {&orch__stream_started_request__descriptor, "labels", "h",
	        ORCH_EINVAL, "labels: a map: set its entries as labels.<key>",
	        "labels"},
	    {&orch__stream_started_request__descriptor, "container_id.x", "h",
	        ORCH_EINVAL,
	        "container_id: not a message, so it has no field \"x\"",
	        "container_id"},
	    {&orch__get_stream_stats_request__descriptor, "since.unix_micros",
	        "1", ORCH_EINVAL,
	        "since: not a message, so it has no field \"unix_micros\"",
	        "since"},
	    /* Types text cannot carry: JSON can. */
	    {&orch__request_envelope__descriptor, "payload", "AAEC",
	        ORCH_EINVAL,
	        "payload: cannot be set from text (expected base64 string); "
	        "give the request as JSON",
	        "payload"},
	    {&orch__reply_envelope__descriptor, "status", "OK", ORCH_EINVAL,
	        "status: cannot be set from text (expected enum name); give "
	        "the request as JSON",
	        "status"},
	    {&orch__engine_list__descriptor, "engines", "e", ORCH_EINVAL,
	        "engines: cannot be set from text (expected repeated object); "
	        "give the request as JSON",
	        "engines"},
	    {&orch__container_info__descriptor, "ports.80/tcp", "1",
	        ORCH_EINVAL,
	        "ports.80/tcp: cannot be set from text (expected array); give "
	        "the request as JSON",
	        "ports.80/tcp"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct path_case *tc = &cases[i];
		ProtobufCMessage *m = NULL;
		orch_diag err;
		char *before, *after;
		orch_err rv;

		assert_int_equal(orch_pbparse_new(tc->d, NULL, &m), ORCH_OK);
		before = write_json(m);
		rv = orch_pbparse_set_path(m, tc->path, tc->text, NULL, &err);
		if (rv != tc->rv)
			fail_msg("case %zu (%s=%s): %d, %s", i, tc->path,
			    tc->text, rv, err.msg);
		after = write_json(m);
		if (rv == ORCH_OK) {
			if (strstr(after, tc->want) == NULL)
				fail_msg("case %zu: %s lacks %s", i, after,
				    tc->want);
			assert_string_equal(err.msg, "");
			assert_string_equal(err.field, "");
			free(before);
			before = after;
			after = NULL;
			/* What was set parses back from its JSON. */
			protobuf_c_message_free_unpacked(m, NULL);
			m = parse_ok(tc->d, before);
		} else {
			assert_string_equal(after, before); /* unchanged */
			assert_string_equal(err.msg, tc->want);
			assert_string_equal(err.field, tc->field);
		}
		free(before);
		free(after);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

/* Setting again replaces a field or a map entry and appends to a list;
 * a JSON body and paths combine, as orchctl's --json and --field do. */
static void
test_set_path_sequence(void **state)
{
	ProtobufCMessage *m;
	char *j;

	(void) state;
	m = parse_ok(&orch__stream_started_request__descriptor,
	    "{\"engine\":{\"host\":\"a\"},\"labels\":{\"x\":\"1\"}}");
	assert_int_equal(
	    orch_pbparse_set_path(m, "engine.port", "1", NULL, NULL), ORCH_OK);
	assert_int_equal(
	    orch_pbparse_set_path(m, "engine.host", "b", NULL, NULL), ORCH_OK);
	assert_int_equal(
	    orch_pbparse_set_path(m, "labels.y", "2", NULL, NULL), ORCH_OK);
	assert_int_equal(
	    orch_pbparse_set_path(m, "labels.x", "3", NULL, NULL), ORCH_OK);
	/* A failure in an existing message leaves it there, unchanged. */
	assert_int_equal(
	    orch_pbparse_set_path(m, "engine.port", "p", NULL, NULL),
	    ORCH_EINVAL);
	assert_int_equal(
	    orch_pbparse_set_path(m, "labels.x", "\xc3", NULL, NULL),
	    ORCH_EINVAL);
	j = write_json(m);
	assert_string_equal(j,
	    "{\"container_id\":null,\"engine\":{\"host\":\"b\",\"port\":1},"
	    "\"stream\":null,\"session\":null,\"labels\":{\"x\":\"3\","
	    "\"y\":\"2\"}}");
	free(j);
	protobuf_c_message_free_unpacked(m, NULL);

	m = NULL;
	assert_int_equal(
	    orch_pbparse_new(&orch__engine__descriptor, NULL, &m), ORCH_OK);
	for (int i = 0; i < 3; i++) {
		char v[8];

		snprintf(v, sizeof(v), "s%d", i);
		assert_int_equal(
		    orch_pbparse_set_path(m, "streams", v, NULL, NULL),
		    ORCH_OK);
	}
	assert_int_equal(orch_pbparse_set_path(m, "first_seen",
	                     "2024-01-01T00:00:00Z", NULL, NULL),
	    ORCH_OK);
	j = write_json(m);
	assert_non_null(strstr(j, "\"streams\":[\"s0\",\"s1\",\"s2\"]"));
	assert_non_null(strstr(j, "\"first_seen\":\"2024-01-01T00:00:00Z\""));
	free(j);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ------------------------------------------------------------------------ */
/* Allocators: a counting one, and one that fails the n-th allocation. */

struct counting {
	long allocs, frees, fail_at; /* fail_at < 0: never */
};

static void *
count_alloc(void *data, size_t n)
{
	struct counting *c = data;
	void *p = NULL;

	if (c->fail_at < 0 || c->allocs < c->fail_at) {
		p = malloc(n);
		if (p != NULL)
			c->allocs++;
	} else {
		c->fail_at = -2; /* failed once: the next ones succeed */
	}
	return p;
}

static void
count_free(void *data, void *p)
{
	struct counting *c = data;

	if (p != NULL)
		c->frees++;
	free(p);
}

static void
test_allocator_and_oom(void **state)
{
	static const struct {
		const ProtobufCMessageDescriptor *d;
		const char *json;
	} bodies[] = {
	    {&orch__stream_started_request__descriptor,
	        "{\"container_id\":\"c\",\"engine\":{\"host\":\"h\",\"port\":"
	        "1},\"stream\":{\"key_type\":\"url\",\"key\":\"k\"},"
	        "\"session\":{\"playback_session_id\":\"p\",\"is_live\":1},"
	        "\"labels\":{\"a\":\"1\",\"b\":\"2\"}}"},
	    {&orch__container_info_list__descriptor,
	        "[{\"id\":\"i\",\"labels\":{\"x\":\"y\"},\"ports\":{\"80/"
	        "tcp\":"
	        "[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"1\"}]}},{}]"},
	    {&orch__request_envelope__descriptor,
	        "{\"method\":\"Ping\",\"payload\":\"AAEC\"}"},
	    /* Fails late, with much allocated already. */
	    {&orch__container_info_list__descriptor,
	        "[{\"id\":\"i\",\"labels\":{\"x\":\"y\"},\"ports\":{\"80/"
	        "tcp\":"
	        "[{\"HostIp\":\"0.0.0.0\",\"HostPort\":1}]}}]"},
	};

	(void) state;
	for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
		struct counting c = {0, 0, -1};
		ProtobufCAllocator a = {count_alloc, count_free, &c};
		ProtobufCMessage *m = NULL;
		const char *json = bodies[b].json;
		orch_err want;
		long total;

		want = orch_pbparse(
		    bodies[b].d, json, strlen(json), &a, &m, NULL);
		total = c.allocs;
		assert_true(total > 0);
		if (m != NULL)
			protobuf_c_message_free_unpacked(m, &a);
		assert_int_equal(c.allocs, c.frees);
		/* Every allocation, failed in turn. */
		for (long k = 0; k < total; k++) {
			orch_diag err;
			orch_err rv;

			c.allocs = c.frees = 0;
			c.fail_at = k;
			m = (ProtobufCMessage *) 1;
			rv = orch_pbparse(
			    bodies[b].d, json, strlen(json), &a, &m, &err);
			if (want == ORCH_OK || rv != want) {
				assert_int_equal(rv, ORCH_ENOMEM);
				assert_string_equal(err.msg, "out of memory");
				assert_string_equal(err.field, "");
			}
			assert_null(m);
			assert_int_equal(c.allocs, c.frees);
		}
	}
	/* set_field with a failing allocator leaves the message as it was. */
	{
		struct counting c = {0, 0, -1};
		ProtobufCAllocator a = {count_alloc, count_free, &c};
		ProtobufCMessage *m = NULL;

		assert_int_equal(
		    orch_pbparse_new(
		        &orch__get_stream_stats_request__descriptor, &a, &m),
		    ORCH_OK);
		c.fail_at = c.allocs;
		assert_int_equal(
		    orch_pbparse_set_field(m, "stream_id", "s", &a, NULL),
		    ORCH_ENOMEM);
		c.fail_at = c.allocs;
		assert_int_equal(orch_pbparse_set_field(m, "since",
		                     "2024-01-01T12:00:00Z", &a, NULL),
		    ORCH_ENOMEM);
		assert_int_equal(
		    orch_pbparse_set_field(m, "stream_id", "s", &a, NULL),
		    ORCH_OK);
		assert_int_equal(orch_pbparse_set_field(m, "since",
		                     "2024-01-01T12:00:00Z", &a, NULL),
		    ORCH_OK);
		protobuf_c_message_free_unpacked(m, &a);
		assert_int_equal(c.allocs, c.frees);
		c.fail_at = c.allocs;
		m = (ProtobufCMessage *) 1;
		assert_int_equal(
		    orch_pbparse_new(&orch__scale_request__descriptor, &a, &m),
		    ORCH_ENOMEM);
		assert_null(m);
	}
}

/* set_path: every allocation failed in turn leaves the message as it was
 * (what it created on the way is gone again). */
static void
test_set_path_oom(void **state)
{
	(void) state;
	{
		static const char *const paths[][2] = {
		    {"engine.host", "h"}, {"session.stat_url", "http://x/"},
		    {"labels.k", "v"},
		    {"labels.k", "w"}, /* replaces: the entry exists */
		};
		struct counting c = {0, 0, -1};
		ProtobufCAllocator a = {count_alloc, count_free, &c};
		ProtobufCMessage *m = NULL;

		assert_int_equal(
		    orch_pbparse_new(
		        &orch__stream_started_request__descriptor, &a, &m),
		    ORCH_OK);
		for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
			char *before = write_json(m), *after;
			long start = c.allocs;

			for (long k = 0;; k++) {
				orch_diag err;
				orch_err rv;

				c.fail_at = start + k;
				rv = orch_pbparse_set_path(
				    m, paths[p][0], paths[p][1], &a, &err);
				if (rv == ORCH_OK)
					break;
				assert_int_equal(rv, ORCH_ENOMEM);
				assert_string_equal(err.msg, "out of memory");
				assert_string_equal(err.field, "");
				after = write_json(m);
				assert_string_equal(after, before);
				free(after);
				start = c.allocs;
			}
			free(before);
		}
		c.fail_at = -1;
		protobuf_c_message_free_unpacked(m, &a);
		assert_int_equal(c.allocs, c.frees);
	}
	/* Appends to a list, failed the same way. */
	{
		struct counting c = {0, 0, -1};
		ProtobufCAllocator a = {count_alloc, count_free, &c};
		ProtobufCMessage *m = NULL;

		assert_int_equal(
		    orch_pbparse_new(&orch__engine__descriptor, &a, &m),
		    ORCH_OK);
		for (int i = 0; i < 3; i++) {
			for (long k = 0;; k++) {
				c.fail_at = c.allocs + k;
				if (orch_pbparse_set_path(m, "streams", "s",
				        &a, NULL) == ORCH_OK)
					break;
			}
		}
		assert_int_equal(((Orch__Engine *) m)->n_streams, 3);
		c.fail_at = -1;
		protobuf_c_message_free_unpacked(m, &a);
		assert_int_equal(c.allocs, c.frees);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_every_request),
	    cmocka_unit_test(test_roundtrip_every_reply),
	    cmocka_unit_test(test_roundtrip_sample_is_what_we_think),
	    cmocka_unit_test(test_seed_stream_started),
	    cmocka_unit_test(test_unknown_keys_ignored),
	    cmocka_unit_test(test_null_is_unset),
	    cmocka_unit_test(test_maps_keep_order),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_long_path_truncated),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_timestamps),
	    cmocka_unit_test(test_set_field),
	    cmocka_unit_test(test_set_field_replaces),
	    cmocka_unit_test(test_set_path),
	    cmocka_unit_test(test_set_path_sequence),
	    cmocka_unit_test(test_allocator_and_oom),
	    cmocka_unit_test(test_set_path_oom),
	};

	return cmocka_run_group_tests_name("pbparse", tests, NULL, NULL);
}
