/*
 * libFuzzer target for the Docker reply parsers (src/runtime/docker_parse.h):
 * every input is handed to each of them, as if it were a container inspect,
 * a container list, one events line, a create reply, one pull progress
 * line, an error body and an Api-Version header. Whatever a parser accepts
 * must be well-formed (no NULL strings, consistent counts, names without
 * their '/', running matching the state where the API ties them); whatever
 * it refuses must leave the out parameters empty and say why. Everything
 * is freed, so LeakSanitizer checks the error paths too. A broken
 * invariant calls abort().
 *
 * The same file links into a plain driver (docker_corpus_driver.c) for the
 * gcc regression test, docker_reply_corpus_test.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/runtime/docker_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

/* A refusal is ORCH_EINTERNAL with a reason (NUL-terminated, not empty),
 * or ORCH_ENOMEM (only under libFuzzer's -malloc_limit_mb). */
static void
check_why(orch_err rv, const orch_diag *why)
{
	FUZZ_CHECK(rv == ORCH_EINTERNAL || rv == ORCH_ENOMEM);
	FUZZ_CHECK(memchr(why->msg, '\0', sizeof(why->msg)) != NULL);
	FUZZ_CHECK(rv == ORCH_ENOMEM || why->msg[0] != '\0');
}

static void
check_kv(const orch_rt_kv *kv, size_t n)
{
	FUZZ_CHECK((n == 0) == (kv == NULL));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(kv[i].key != NULL && kv[i].value != NULL);
}

static void
check_container(const orch_rt_container *c, bool from_list)
{
	FUZZ_CHECK(c->id != NULL && c->name != NULL && c->image != NULL &&
	           c->created != NULL && c->state != NULL &&
	           c->health != NULL && c->started_us >= 0);
	if (from_list)
		FUZZ_CHECK(c->health[0] == '\0' && c->started_us == 0);
	if (from_list) {
		/* Alive as inspect says it (runtime.h): restarting and
		 * paused containers too. */
		FUZZ_CHECK(
		    c->running == (strcmp(c->state, "running") == 0 ||
		                      strcmp(c->state, "restarting") == 0 ||
		                      strcmp(c->state, "paused") == 0));
		FUZZ_CHECK(c->n_env == 0);
		FUZZ_CHECK(c->created_us % 1000000 == 0);
		FUZZ_CHECK(c->n_networks == 0);
	}
	check_kv(c->labels, c->n_labels);
	/* Never NULL in what an op returns; networks as pairs. */
	FUZZ_CHECK(c->network_mode != NULL);
	check_kv(c->networks, c->n_networks);
	FUZZ_CHECK((c->n_ports == 0) == (c->ports == NULL));
	for (size_t i = 0; i < c->n_ports; i++) {
		const orch_rt_port *p = &c->ports[i];

		FUZZ_CHECK(p->port != NULL);
		/* Lookups are linear: check a few, not n^2 of them. */
		FUZZ_CHECK(i >= 64 || orch_rt_container_port(c, p->port) == p);
		FUZZ_CHECK((p->n_bindings == 0) == (p->bindings == NULL));
		for (size_t j = 0; j < p->n_bindings; j++)
			FUZZ_CHECK(p->bindings[j].host_ip != NULL &&
			           p->bindings[j].host_port != NULL);
	}
	FUZZ_CHECK((c->n_env == 0) == (c->env == NULL));
	for (size_t i = 0; i < c->n_env; i++)
		FUZZ_CHECK(c->env[i] != NULL);
	for (size_t i = 0; i < c->n_labels && i < 64; i++)
		FUZZ_CHECK(
		    orch_rt_container_label(c, c->labels[i].key) != NULL);
}

static void
fuzz_inspect(const char *buf, size_t len)
{
	orch_rt_container c;
	orch_diag why;
	orch_err rv;

	orch_diag_set(&why, "stale");
	rv = orch_docker_parse_inspect(buf, len, &c, &why);
	if (rv != ORCH_OK) {
		FUZZ_CHECK(c.id == NULL && c.labels == NULL &&
		           c.ports == NULL && c.env == NULL &&
		           c.network_mode == NULL && c.networks == NULL);
		check_why(rv, &why);
		return;
	}
	check_container(&c, false);
	orch_rt_container_fini(&c);
	FUZZ_CHECK(c.id == NULL && c.n_ports == 0);
}

static void
fuzz_list(const char *buf, size_t len)
{
	orch_rt_container *v = NULL;
	size_t n = 99;
	orch_diag why;
	orch_err rv;

	orch_diag_set(&why, "stale");
	rv = orch_docker_parse_list(buf, len, &v, &n, &why);
	if (rv != ORCH_OK) {
		FUZZ_CHECK(v == NULL && n == 0);
		check_why(rv, &why);
		return;
	}
	FUZZ_CHECK((n == 0) == (v == NULL));
	for (size_t i = 0; i < n; i++)
		check_container(&v[i], true);
	orch_rt_container_list_free(v, n);
}

static void
fuzz_event(const char *buf, size_t len)
{
	orch_rt_event ev;
	const char *name;
	orch_diag why;
	orch_err rv;

	orch_diag_set(&why, "stale");
	rv = orch_docker_parse_event(buf, len, &ev, &why);
	if (rv != ORCH_OK) {
		FUZZ_CHECK(ev.action == NULL && ev.attrs == NULL);
		check_why(rv, &why);
		return;
	}
	FUZZ_CHECK(ev.type != NULL && ev.action != NULL && ev.id != NULL);
	FUZZ_CHECK(ev.time_ns >= 0);
	check_kv(ev.attrs, ev.n_attrs);
	name = orch_rt_event_attr(&ev, "name");
	FUZZ_CHECK((name == NULL) == (ev.name == NULL));
	FUZZ_CHECK(name == NULL || strcmp(name, ev.name) == 0);
	orch_rt_event_fini(&ev);
}

static void
fuzz_small_ones(const char *buf, size_t len)
{
	orch_diag why;
	char msg[ORCH_DIAG_MSG_MAX], *id = (char *) 1;
	int major = -1, minor = -1;
	orch_err rv;

	orch_diag_set(&why, "stale");
	rv = orch_docker_parse_create(buf, len, &id, &why);
	if (rv == ORCH_OK) {
		FUZZ_CHECK(id != NULL && id[0] != '\0');
		free(id);
	} else {
		FUZZ_CHECK(id == NULL);
		check_why(rv, &why);
	}

	orch_diag_set(&why, "stale");
	rv = orch_docker_parse_pull_line(buf, len, &why);
	FUZZ_CHECK(rv == ORCH_OK || rv == ORCH_EINTERNAL || rv == ORCH_ENOMEM);
	if (rv == ORCH_EINTERNAL)
		FUZZ_CHECK(memchr(why.msg, '\0', sizeof(why.msg)) != NULL);

	orch_docker_parse_message(buf, len, msg, sizeof(msg));
	FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
	for (size_t i = 0; msg[i] != '\0'; i++)
		FUZZ_CHECK((unsigned char) msg[i] >= 0x20 && msg[i] != 0x7f);

	if (orch_docker_parse_api_version(buf, len, &major, &minor) == ORCH_OK)
		FUZZ_CHECK(major >= 0 && major <= 9999 && minor >= 0 &&
		           minor <= 9999);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;

	fuzz_inspect(buf, size);
	fuzz_list(buf, size);
	fuzz_event(buf, size);
	fuzz_small_ones(buf, size);
	return 0;
}
