/*
 * The descriptor-driven JSON writer, checked by parsing its output back with
 * jansson (a strict parser) and looking at every JSON type the contract
 * pins: null for unset optionals, RFC 3339 strings for timestamps, objects
 * for maps, bare arrays for *List wrappers, numbers for ints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/json/pbjson.h"

static json_t *
render(const ProtobufCMessage *m)
{
	orch_buf b = ORCH_BUF_INIT;
	json_error_t err;
	json_t *j;

	orch_pbjson_write(&b, m);
	assert_non_null(orch_buf_cstr(&b));
	j = json_loads(orch_buf_cstr(&b), JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		fail_msg("not JSON: %s: %s", err.text, orch_buf_cstr(&b));
	orch_buf_fini(&b);
	return j;
}

static void
test_engine_fields_and_nulls(void **state)
{
	Orch__Engine e = ORCH__ENGINE__INIT;
	Orch__Timestamp seen = ORCH__TIMESTAMP__INIT;
	Orch__Engine__LabelsEntry l1 = ORCH__ENGINE__LABELS_ENTRY__INIT;
	Orch__Engine__LabelsEntry *labels[] = {&l1};
	char *streams[] = {"s1", "s2"};
	json_t *j;

	(void) state;
	e.container_id = "abc";
	e.container_name = "acestream-1";
	e.host = "127.0.0.1";
	e.port = 19000;
	e.health_status = "unknown";
	seen.unix_micros = 1704110400000000LL; /* 2024-01-01T12:00:00Z */
	e.first_seen = &seen;
	l1.key = "managed";
	l1.value = "false";
	e.n_labels = 1;
	e.labels = labels;
	e.n_streams = 2;
	e.streams = streams;
	j = render(&e.base);
	assert_string_equal(
	    json_string_value(json_object_get(j, "host")), "127.0.0.1");
	assert_true(json_is_integer(json_object_get(j, "port")));
	assert_int_equal(
	    json_integer_value(json_object_get(j, "port")), 19000);
	assert_true(json_is_false(json_object_get(j, "forwarded")));
	assert_string_equal(
	    json_string_value(json_object_get(j, "first_seen")),
	    "2024-01-01T12:00:00Z");
	assert_true(json_is_null(json_object_get(j, "last_seen")));
	assert_true(json_is_null(json_object_get(j, "last_stream_usage")));
	assert_true(json_is_null(json_object_get(j, "cache_size_bytes")));
	assert_true(json_is_object(json_object_get(j, "labels")));
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "labels"), "managed")),
	    "false");
	assert_int_equal(json_array_size(json_object_get(j, "streams")), 2);
	json_decref(j);

	/* Set to zero is not null. */
	e.has_cache_size_bytes = 1;
	e.cache_size_bytes = 0;
	j = render(&e.base);
	assert_true(json_is_integer(json_object_get(j, "cache_size_bytes")));
	json_decref(j);
}

static void
test_list_wrapper_is_bare_array(void **state)
{
	Orch__EngineList list = ORCH__ENGINE_LIST__INIT;
	Orch__Engine e = ORCH__ENGINE__INIT;
	Orch__Engine *ptrs[] = {&e, &e};
	json_t *j;

	(void) state;
	j = render(&list.base);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	list.n_engines = 2;
	list.engines = ptrs;
	j = render(&list.base);
	assert_int_equal(json_array_size(j), 2);
	assert_true(json_is_object(json_array_get(j, 1)));
	json_decref(j);
}

static void
test_strings_are_escaped(void **state)
{
	Orch__MessageReply m = ORCH__MESSAGE_REPLY__INIT;
	json_t *j;

	(void) state;
	m.message = "quote\" back\\ nl\n tab\t ctl\x01 utf8 \xc3\xa9";
	j = render(&m.base);
	assert_string_equal(
	    json_string_value(json_object_get(j, "message")), m.message);
	json_decref(j);
}

static void
test_timestamp_micros_and_map_of_lists(void **state)
{
	Orch__ContainerInfo ci = ORCH__CONTAINER_INFO__INIT;
	Orch__ContainerInfo__PortsEntry pe =
	    ORCH__CONTAINER_INFO__PORTS_ENTRY__INIT;
	Orch__ContainerInfo__PortsEntry *pes[] = {&pe};
	Orch__PortBindingList pl = ORCH__PORT_BINDING_LIST__INIT;
	Orch__PortBinding pb = ORCH__PORT_BINDING__INIT;
	Orch__PortBinding *pbs[] = {&pb};
	Orch__StatSnapshot st = ORCH__STAT_SNAPSHOT__INIT;
	Orch__Timestamp t = ORCH__TIMESTAMP__INIT;
	json_t *j, *ports;

	(void) state;
	pb.hostip = "0.0.0.0";
	pb.hostport = "19000";
	pl.n_bindings = 1;
	pl.bindings = pbs;
	pe.key = "19000/tcp";
	pe.value = &pl;
	ci.n_ports = 1;
	ci.ports = pes;
	j = render(&ci.base);
	ports = json_object_get(json_object_get(j, "ports"), "19000/tcp");
	assert_true(json_is_array(ports));
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(ports, 0), "HostPort")),
	    "19000");
	json_decref(j);

	t.unix_micros = 1704110400123456LL;
	st.ts = &t;
	st.has_peers = 1;
	st.peers = 12;
	j = render(&st.base);
	assert_string_equal(json_string_value(json_object_get(j, "ts")),
	    "2024-01-01T12:00:00.123456Z");
	assert_int_equal(json_integer_value(json_object_get(j, "peers")), 12);
	assert_true(json_is_null(json_object_get(j, "speed_down")));
	assert_true(json_is_null(json_object_get(j, "status")));
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_engine_fields_and_nulls),
	    cmocka_unit_test(test_list_wrapper_is_bare_array),
	    cmocka_unit_test(test_strings_are_escaped),
	    cmocka_unit_test(test_timestamp_micros_and_map_of_lists),
	};

	return cmocka_run_group_tests_name("pbjson", tests, NULL, NULL);
}
