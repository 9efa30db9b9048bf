/*
 * The helpers on the runtime-neutral types: one release path for what any
 * implementation returns (everything malloc'd), so a caller never needs
 * to know which runtime filled a container or an event.
 */
#include "src/runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

static void
kv_free(orch_rt_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void
ports_free(orch_rt_port *ports, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < ports[i].n_bindings; j++) {
			free(ports[i].bindings[j].host_ip);
			free(ports[i].bindings[j].host_port);
		}
		free(ports[i].bindings);
		free(ports[i].port);
	}
	free(ports);
}

void
orch_rt_container_fini(orch_rt_container *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->name);
	free(c->image);
	free(c->created);
	free(c->state);
	free(c->health);
	kv_free(c->labels, c->n_labels);
	ports_free(c->ports, c->n_ports);
	for (size_t i = 0; i < c->n_env; i++)
		free(c->env[i]);
	free(c->env);
	free(c->network_mode);
	kv_free(c->networks, c->n_networks);
	memset(c, 0, sizeof(*c));
}

void
orch_rt_container_list_free(orch_rt_container *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		orch_rt_container_fini(&v[i]);
	free(v);
}

static const char *
kv_get(const orch_rt_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	}
	return NULL;
}

const char *
orch_rt_container_label(const orch_rt_container *c, const char *key)
{
	if (c == NULL || key == NULL)
		return NULL;
	return kv_get(c->labels, c->n_labels, key);
}

const orch_rt_port *
orch_rt_container_port(const orch_rt_container *c, const char *port)
{
	if (c == NULL || port == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_ports; i++) {
		if (strcmp(c->ports[i].port, port) == 0)
			return &c->ports[i];
	}
	return NULL;
}

bool
orch_rt_labels_match(const orch_rt_kv *labels, size_t n_labels,
    const orch_rt_kv *match, size_t n_match)
{
	for (size_t i = 0; i < n_match; i++) {
		const char *v = kv_get(labels, n_labels, match[i].key);

		if (v == NULL ||
		    (match[i].value != NULL && strcmp(v, match[i].value) != 0))
			return false;
	}
	return true;
}

void
orch_rt_event_fini(orch_rt_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->type);
	free(ev->action);
	free(ev->id);
	free(ev->name);
	kv_free(ev->attrs, ev->n_attrs);
	memset(ev, 0, sizeof(*ev));
}

const char *
orch_rt_event_attr(const orch_rt_event *ev, const char *key)
{
	if (ev == NULL || key == NULL)
		return NULL;
	return kv_get(ev->attrs, ev->n_attrs, key);
}
