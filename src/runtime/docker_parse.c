#include "src/runtime/docker_parse.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/time.h"

/* Latest Created epoch accepted (9999-12-31T23:59:59Z): keeps the
 * microsecond arithmetic far from overflow. */
#define MAX_EPOCH_S 253402300799LL
/* Largest "time" in seconds that still fits in nanoseconds. */
#define MAX_EVENT_S 9000000000LL

/* Copies s into out (truncating), control characters made blanks, so a
 * message from the wire is safe in one log line. */
static void
copy_text(char *out, size_t out_len, const char *s)
{
	size_t i;

	if (out == NULL || out_len == 0)
		return;
	for (i = 0; i + 1 < out_len && s[i] != '\0'; i++)
		out[i] =
		    ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
	out[i] = '\0';
}

static void
kv_free(orch_rt_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* ------------------------------------------------------------------------ */
/* Field readers. Each returns ORCH_OK, ORCH_EINTERNAL (diag set) or
 * ORCH_ENOMEM; what they store is owned by the caller's struct. */

/* A JSON value that is absent or null counts as absent. */
static json_t *
field(json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_null(v) ? NULL : v;
}

static orch_err
dup_cstr(const char *s, char **out)
{
	*out = strdup(s);
	return *out == NULL ? ORCH_ENOMEM : ORCH_OK;
}

/* A string field; absent or null -> "" unless required. */
static orch_err
get_str(
    json_t *obj, const char *key, bool required, char **out, orch_diag *diag)
{
	json_t *v = field(obj, key);

	if (v == NULL) {
		if (required) {
			orch_diag_set(diag, "%s missing", key);
			return ORCH_EINTERNAL;
		}
		return dup_cstr("", out);
	}
	if (!json_is_string(v)) {
		orch_diag_set(diag, "%s is not a string", key);
		return ORCH_EINTERNAL;
	}
	return dup_cstr(json_string_value(v), out);
}

/* An object of strings -> key/value array (labels, attributes). */
static orch_err
get_kv(json_t *obj, const char *key, orch_rt_kv **out, size_t *n_out,
    orch_diag *diag)
{
	json_t *v = field(obj, key), *val;
	const char *k;
	orch_rt_kv *kv = NULL;
	size_t n = 0;
	orch_err rv = ORCH_OK;

	*out = NULL;
	*n_out = 0;
	if (v == NULL)
		goto out;
	if (!json_is_object(v)) {
		orch_diag_set(diag, "%s is not an object", key);
		rv = ORCH_EINTERNAL;
		goto out;
	}
	if (json_object_size(v) == 0)
		goto out;
	kv = calloc(json_object_size(v), sizeof(*kv));
	if (kv == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	json_object_foreach(v, k, val)
	{
		if (!json_is_string(val)) {
			orch_diag_set(diag, "%s.%s is not a string", key, k);
			rv = ORCH_EINTERNAL;
			goto out;
		}
		kv[n].key = strdup(k);
		kv[n].value = strdup(json_string_value(val));
		n++;
		if (kv[n - 1].key == NULL || kv[n - 1].value == NULL) {
			rv = ORCH_ENOMEM;
			goto out;
		}
	}
out:
	if (rv == ORCH_OK) {
		*out = kv;
		*n_out = n;
	} else {
		kv_free(kv, n);
	}
	return rv;
}

/* An array of strings (Env). */
static orch_err
get_strv(
    json_t *obj, const char *key, char ***out, size_t *n_out, orch_diag *diag)
{
	json_t *v = field(obj, key), *s;
	char **sv = NULL;
	size_t n = 0, i;
	orch_err rv = ORCH_OK;

	*out = NULL;
	*n_out = 0;
	if (v == NULL)
		goto out;
	if (!json_is_array(v)) {
		orch_diag_set(diag, "%s is not an array", key);
		rv = ORCH_EINTERNAL;
		goto out;
	}
	if (json_array_size(v) == 0)
		goto out;
	sv = calloc(json_array_size(v), sizeof(*sv));
	if (sv == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	json_array_foreach(v, i, s)
	{
		if (!json_is_string(s)) {
			orch_diag_set(diag, "%s[%zu] is not a string", key, i);
			rv = ORCH_EINTERNAL;
			goto out;
		}
		sv[n] = strdup(json_string_value(s));
		if (sv[n++] == NULL) {
			rv = ORCH_ENOMEM;
			goto out;
		}
	}
out:
	if (rv == ORCH_OK) {
		*out = sv;
		*n_out = n;
	} else {
		for (i = 0; i < n; i++)
			free(sv[i]);
		free(sv);
	}
	return rv;
}

/*
 * NetworkSettings.Networks: {"<name>": {"Gateway": "172.18.0.1", ...}}
 * -> name/gateway pairs ("" when Gateway is absent or null).
 */
static orch_err
get_networks(json_t *netset, orch_rt_container *c, orch_diag *diag)
{
	json_t *v = field(netset, "Networks"), *net, *gw;
	const char *name;
	orch_rt_kv *kv = NULL;
	size_t n = 0;
	orch_err rv = ORCH_OK;

	if (v == NULL || json_object_size(v) == 0) {
		if (v != NULL && !json_is_object(v))
			goto bad;
		goto out;
	}
	if (!json_is_object(v))
		goto bad;
	kv = calloc(json_object_size(v), sizeof(*kv));
	if (kv == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	json_object_foreach(v, name, net)
	{
		gw = field(net, "Gateway");
		if (!json_is_object(net) ||
		    (gw != NULL && !json_is_string(gw))) {
			orch_diag_set(diag,
			    "NetworkSettings.Networks.%s is not an object "
			    "with a string Gateway",
			    name);
			rv = ORCH_EINTERNAL;
			goto out;
		}
		kv[n].key = strdup(name);
		kv[n].value = strdup(gw != NULL ? json_string_value(gw) : "");
		n++;
		if (kv[n - 1].key == NULL || kv[n - 1].value == NULL) {
			rv = ORCH_ENOMEM;
			goto out;
		}
	}
	goto out;
bad:
	orch_diag_set(diag, "NetworkSettings.Networks is not an object");
	rv = ORCH_EINTERNAL;
out:
	if (rv == ORCH_OK) {
		c->networks = kv;
		c->n_networks = n;
	} else {
		kv_free(kv, n);
	}
	return rv;
}

/* Strips one leading '/' (Docker's container names carry it). */
static orch_err
dup_name(const char *s, char **out)
{
	return dup_cstr(s[0] == '/' ? s + 1 : s, out);
}

/* Appends a binding to port p. Takes neither string on failure. */
static orch_err
port_add_binding(orch_rt_port *p, const char *ip, const char *hp)
{
	orch_rt_binding *b;

	b = realloc(p->bindings, (p->n_bindings + 1) * sizeof(*b));
	if (b == NULL)
		return ORCH_ENOMEM;
	p->bindings = b;
	b[p->n_bindings].host_ip = strdup(ip);
	b[p->n_bindings].host_port = strdup(hp);
	p->n_bindings++;
	if (b[p->n_bindings - 1].host_ip == NULL ||
	    b[p->n_bindings - 1].host_port == NULL)
		return ORCH_ENOMEM;
	return ORCH_OK;
}

/* The entry for port name in c, added when absent; NULL on ENOMEM. */
static orch_rt_port *
port_get(orch_rt_container *c, const char *name)
{
	orch_rt_port *p;

	for (size_t i = 0; i < c->n_ports; i++) {
		if (strcmp(c->ports[i].port, name) == 0)
			return &c->ports[i];
	}
	p = realloc(c->ports, (c->n_ports + 1) * sizeof(*p));
	if (p == NULL)
		return NULL;
	c->ports = p;
	p = &c->ports[c->n_ports];
	memset(p, 0, sizeof(*p));
	p->port = strdup(name);
	if (p->port == NULL)
		return NULL;
	c->n_ports++;
	return p;
}

/*
 * Inspect's port map: {"6878/tcp": null | [{"HostIp": s, "HostPort": s}]}.
 * where names the field for messages.
 */
static orch_err
get_port_map(
    json_t *map, const char *where, orch_rt_container *c, orch_diag *diag)
{
	const char *name;
	json_t *list, *b;
	orch_rt_port *p;
	size_t i;
	orch_err rv = ORCH_OK;

	if (map == NULL)
		return ORCH_OK;
	if (!json_is_object(map)) {
		orch_diag_set(diag, "%s is not an object", where);
		return ORCH_EINTERNAL;
	}
	json_object_foreach(map, name, list)
	{
		if (!json_is_null(list) && !json_is_array(list)) {
			orch_diag_set(
			    diag, "%s[%s] is not an array", where, name);
			return ORCH_EINTERNAL;
		}
		if ((p = port_get(c, name)) == NULL)
			return ORCH_ENOMEM;
		json_array_foreach(list, i, b)
		{
			json_t *ip = field(b, "HostIp"),
			       *hp = field(b, "HostPort");

			if (!json_is_object(b) ||
			    (ip != NULL && !json_is_string(ip)) ||
			    (hp != NULL && !json_is_string(hp))) {
				orch_diag_set(diag, "%s[%s][%zu] is malformed",
				    where, name, i);
				return ORCH_EINTERNAL;
			}
			rv = port_add_binding(p,
			    ip != NULL ? json_string_value(ip) : "",
			    hp != NULL ? json_string_value(hp) : "");
			if (rv != ORCH_OK)
				return rv;
		}
	}
	return ORCH_OK;
}

/* An integer field in [lo, hi]; absent -> *present false. */
static orch_err
get_int(json_t *obj, const char *key, long long lo, long long hi,
    long long *out, bool *present, orch_diag *diag)
{
	json_t *v = field(obj, key);

	*present = false;
	if (v == NULL)
		return ORCH_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		orch_diag_set(
		    diag, "%s is not an integer in [%lld, %lld]", key, lo, hi);
		return ORCH_EINTERNAL;
	}
	*out = json_integer_value(v);
	*present = true;
	return ORCH_OK;
}

/* List's Ports: [{"IP": s, "PrivatePort": n, "PublicPort": n, "Type": s}],
 * grouped per "PrivatePort/Type" (Docker lists IPv4 and IPv6 apart). */
static orch_err
get_port_list(json_t *obj, orch_rt_container *c, orch_diag *diag)
{
	json_t *list = field(obj, "Ports"), *e;
	size_t i;
	orch_err rv;

	if (list == NULL)
		return ORCH_OK;
	if (!json_is_array(list)) {
		orch_diag_set(diag, "Ports is not an array");
		return ORCH_EINTERNAL;
	}
	json_array_foreach(list, i, e)
	{
		long long priv, pub;
		bool has_priv, has_pub;
		json_t *type = field(e, "Type"), *ip = field(e, "IP");
		char name[32], hp[16];
		orch_rt_port *p;

		if (!json_is_object(e) || !json_is_string(type) ||
		    (ip != NULL && !json_is_string(ip))) {
			orch_diag_set(diag, "Ports[%zu] is malformed", i);
			return ORCH_EINTERNAL;
		}
		rv = get_int(
		    e, "PrivatePort", 0, 65535, &priv, &has_priv, diag);
		if (rv == ORCH_OK)
			rv = get_int(
			    e, "PublicPort", 0, 65535, &pub, &has_pub, diag);
		if (rv != ORCH_OK)
			return rv;
		if (!has_priv) {
			orch_diag_set(
			    diag, "Ports[%zu].PrivatePort missing", i);
			return ORCH_EINTERNAL;
		}
		snprintf(name, sizeof(name), "%lld/%.16s", priv,
		    json_string_value(type));
		if ((p = port_get(c, name)) == NULL)
			return ORCH_ENOMEM;
		if (!has_pub)
			continue;
		snprintf(hp, sizeof(hp), "%lld", pub);
		rv = port_add_binding(
		    p, ip != NULL ? json_string_value(ip) : "", hp);
		if (rv != ORCH_OK)
			return rv;
	}
	return ORCH_OK;
}

/* Parses buf as one JSON value; NULL (diag set) when it is not one. */
static json_t *
load(const char *buf, size_t len, orch_diag *diag)
{
	json_error_t jerr;
	json_t *root;

	if (buf == NULL) {
		orch_diag_set(diag, "no body");
		return NULL;
	}
	root = json_loadb(buf, len, 0, &jerr);
	if (root == NULL)
		orch_diag_set(
		    diag, "bad JSON at byte %d: %s", jerr.position, jerr.text);
	return root;
}

/* ------------------------------------------------------------------------ */
/* Replies. */

/* State.Health.Status ("" without a healthcheck) and State.StartedAt
 * (Docker writes 0001-01-01T00:00:00Z for a container never started). */
static orch_err
get_state_extras(json_t *state, orch_rt_container *c, orch_diag *diag)
{
	json_t *health = field(state, "Health");
	char *started = NULL;
	orch_err rv;

	if (health != NULL && !json_is_object(health)) {
		orch_diag_set(diag, "State.Health is not an object");
		return ORCH_EINTERNAL;
	}
	if ((rv = get_str(health, "Status", false, &c->health, diag)) !=
	        ORCH_OK ||
	    (rv = get_str(state, "StartedAt", false, &started, diag)) !=
	        ORCH_OK)
		goto out;
	if (orch_rfc3339_parse(started, strlen(started), &c->started_us) !=
	        0 ||
	    c->started_us < 0)
		c->started_us = 0;
out:
	free(started);
	return rv;
}

orch_err
orch_docker_parse_inspect(
    const char *buf, size_t len, orch_rt_container *out, orch_diag *diag)
{
	orch_rt_container c;
	json_t *root = NULL, *state, *config, *hostcfg, *netset, *ports,
	       *image;
	orch_err rv = ORCH_EINTERNAL;
	char *name = NULL;

	orch_diag_clear(diag);
	memset(&c, 0, sizeof(c));
	if (out == NULL)
		return ORCH_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((root = load(buf, len, diag)) == NULL)
		goto out;
	if (!json_is_object(root)) {
		orch_diag_set(diag, "not an object");
		goto out;
	}
	state = field(root, "State");
	config = field(root, "Config");
	hostcfg = field(root, "HostConfig");
	netset = field(root, "NetworkSettings");
	if ((state != NULL && !json_is_object(state)) ||
	    (config != NULL && !json_is_object(config)) ||
	    (hostcfg != NULL && !json_is_object(hostcfg)) ||
	    (netset != NULL && !json_is_object(netset))) {
		orch_diag_set(diag, "State, Config, HostConfig or "
		                    "NetworkSettings is not an object");
		goto out;
	}
	if ((rv = get_str(root, "Id", true, &c.id, diag)) != ORCH_OK ||
	    (rv = get_str(root, "Name", false, &name, diag)) != ORCH_OK ||
	    (rv = dup_name(name, &c.name)) != ORCH_OK ||
	    (rv = get_str(root, "Created", false, &c.created, diag)) !=
	        ORCH_OK ||
	    (rv = get_str(state, "Status", false, &c.state, diag)) !=
	        ORCH_OK ||
	    (rv = get_kv(config, "Labels", &c.labels, &c.n_labels, diag)) !=
	        ORCH_OK ||
	    (rv = get_strv(config, "Env", &c.env, &c.n_env, diag)) != ORCH_OK)
		goto out;
	/* The name it was created from; the top-level Image is an id. */
	image = field(config, "Image");
	rv = get_str(
	    image != NULL ? config : root, "Image", false, &c.image, diag);
	if (rv != ORCH_OK)
		goto out;
	if (field(state, "Running") != NULL) {
		if (!json_is_boolean(field(state, "Running"))) {
			orch_diag_set(diag, "State.Running is not a boolean");
			rv = ORCH_EINTERNAL;
			goto out;
		}
		c.running = json_is_true(field(state, "Running"));
	}
	if (orch_rfc3339_parse(c.created, strlen(c.created), &c.created_us) !=
	    0)
		c.created_us = 0;
	if ((rv = get_str(hostcfg, "NetworkMode", false, &c.network_mode,
	         diag)) != ORCH_OK ||
	    (rv = get_networks(netset, &c, diag)) != ORCH_OK ||
	    (rv = get_state_extras(state, &c, diag)) != ORCH_OK)
		goto out;
	/* Live bindings while it runs, the configured ones otherwise. */
	ports = field(netset, "Ports");
	if (ports != NULL && !json_is_object(ports)) {
		orch_diag_set(diag, "NetworkSettings.Ports is not an object");
		rv = ORCH_EINTERNAL;
	} else if (ports != NULL && json_object_size(ports) > 0) {
		rv = get_port_map(ports, "NetworkSettings.Ports", &c, diag);
	} else {
		rv = get_port_map(field(hostcfg, "PortBindings"),
		    "HostConfig.PortBindings", &c, diag);
	}
out:
	if (rv == ORCH_OK)
		*out = c;
	else
		orch_rt_container_fini(&c);
	free(name);
	json_decref(root);
	return rv;
}

/* One entry of GET /containers/json. */
static orch_err
parse_list_entry(json_t *e, orch_rt_container *c, orch_diag *diag)
{
	json_t *names = field(e, "Names"), *first;
	long long created = 0;
	bool has_created;
	char ts[ORCH_RFC3339_MAX];
	orch_err rv;

	if (!json_is_object(e)) {
		orch_diag_set(diag, "not an object");
		return ORCH_EINTERNAL;
	}
	if ((rv = get_str(e, "Id", true, &c->id, diag)) != ORCH_OK ||
	    (rv = get_str(e, "Image", false, &c->image, diag)) != ORCH_OK ||
	    (rv = get_str(e, "State", false, &c->state, diag)) != ORCH_OK ||
	    (rv = get_kv(e, "Labels", &c->labels, &c->n_labels, diag)) !=
	        ORCH_OK ||
	    (rv = get_int(e, "Created", 0, MAX_EPOCH_S, &created, &has_created,
	         diag)) != ORCH_OK ||
	    (rv = get_port_list(e, c, diag)) != ORCH_OK)
		return rv;
	if (names != NULL && !json_is_array(names)) {
		orch_diag_set(diag, "Names is not an array");
		return ORCH_EINTERNAL;
	}
	first = json_array_get(names, 0);
	if (first != NULL && !json_is_string(first)) {
		orch_diag_set(diag, "Names[0] is not a string");
		return ORCH_EINTERNAL;
	}
	rv = dup_name(first != NULL ? json_string_value(first) : "", &c->name);
	if (rv != ORCH_OK)
		return rv;
	c->created_us = created * 1000000LL;
	if (has_created)
		orch_rfc3339_format(c->created_us, ts);
	else
		ts[0] = '\0';
	/* Alive as inspect's State.Running says it: a container in restart
	 * back-off keeps its ports (Docker brings it back), a paused one
	 * still exists (it is unhealthy, not gone). */
	c->running = strcmp(c->state, "running") == 0 ||
	             strcmp(c->state, "restarting") == 0 ||
	             strcmp(c->state, "paused") == 0;
	/* Inspect's alone; never NULL in what an op returns. */
	if ((rv = dup_cstr("", &c->network_mode)) != ORCH_OK ||
	    (rv = dup_cstr("", &c->health)) != ORCH_OK)
		return rv;
	return dup_cstr(ts, &c->created);
}

orch_err
orch_docker_parse_list(const char *buf, size_t len, orch_rt_container **out,
    size_t *n_out, orch_diag *diag)
{
	json_t *root = NULL, *e;
	orch_rt_container *v = NULL;
	size_t n = 0, i;
	orch_err rv = ORCH_EINTERNAL;
	orch_diag sub;

	orch_diag_clear(diag);
	if (out == NULL || n_out == NULL)
		return ORCH_EINVAL;
	*out = NULL;
	*n_out = 0;
	if ((root = load(buf, len, diag)) == NULL)
		goto out;
	if (!json_is_array(root)) {
		orch_diag_set(diag, "not an array");
		goto out;
	}
	rv = ORCH_OK;
	if (json_array_size(root) == 0)
		goto out;
	v = calloc(json_array_size(root), sizeof(*v));
	if (v == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	json_array_foreach(root, i, e)
	{
		orch_diag_clear(&sub);
		rv = parse_list_entry(e, &v[n++], &sub);
		if (rv != ORCH_OK) {
			orch_diag_set(diag, "[%zu]: %s", i, sub.msg);
			goto out;
		}
	}
out:
	if (rv == ORCH_OK) {
		*out = v;
		*n_out = n;
	} else {
		orch_rt_container_list_free(v, n);
	}
	json_decref(root);
	return rv;
}

orch_err
orch_docker_parse_event(
    const char *buf, size_t len, orch_rt_event *out, orch_diag *diag)
{
	orch_rt_event ev;
	json_t *root = NULL, *actor;
	const char *name;
	long long t = 0, tn = 0;
	bool has_t, has_tn;
	orch_err rv = ORCH_EINTERNAL;

	orch_diag_clear(diag);
	memset(&ev, 0, sizeof(ev));
	if (out == NULL)
		return ORCH_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((root = load(buf, len, diag)) == NULL)
		goto out;
	if (!json_is_object(root)) {
		orch_diag_set(diag, "not an object");
		goto out;
	}
	actor = field(root, "Actor");
	if (actor != NULL && !json_is_object(actor)) {
		orch_diag_set(diag, "Actor is not an object");
		goto out;
	}
	/* API < 1.22 had only "status" and "id"; they are still sent. */
	if ((rv = get_str(root, "Type", false, &ev.type, diag)) != ORCH_OK ||
	    (rv = get_str(root,
	         field(root, "Action") != NULL ? "Action" : "status", true,
	         &ev.action, diag)) != ORCH_OK ||
	    (rv = get_str(actor != NULL ? actor : root,
	         actor != NULL ? "ID" : "id", false, &ev.id, diag)) !=
	        ORCH_OK ||
	    (rv = get_kv(actor, "Attributes", &ev.attrs, &ev.n_attrs, diag)) !=
	        ORCH_OK ||
	    (rv = get_int(root, "time", 0, MAX_EVENT_S, &t, &has_t, diag)) !=
	        ORCH_OK ||
	    (rv = get_int(root, "timeNano", 0, INT64_MAX, &tn, &has_tn,
	         diag)) != ORCH_OK)
		goto out;
	ev.time_ns = has_tn ? tn : (has_t ? t * 1000000000LL : 0);
	if ((name = orch_rt_event_attr(&ev, "name")) != NULL &&
	    (ev.name = strdup(name)) == NULL)
		rv = ORCH_ENOMEM;
out:
	if (rv == ORCH_OK)
		*out = ev;
	else
		orch_rt_event_fini(&ev);
	json_decref(root);
	return rv;
}

orch_err
orch_docker_parse_create(
    const char *buf, size_t len, char **id, orch_diag *diag)
{
	json_t *root = NULL;
	orch_err rv = ORCH_EINTERNAL;

	orch_diag_clear(diag);
	if (id == NULL)
		return ORCH_EINVAL;
	*id = NULL;
	if ((root = load(buf, len, diag)) == NULL)
		goto out;
	if (!json_is_object(root)) {
		orch_diag_set(diag, "not an object");
		goto out;
	}
	rv = get_str(root, "Id", true, id, diag);
	if (rv == ORCH_OK && (*id)[0] == '\0') {
		orch_diag_set(diag, "Id is empty");
		free(*id);
		*id = NULL;
		rv = ORCH_EINTERNAL;
	}
out:
	json_decref(root);
	return rv;
}

orch_err
orch_docker_parse_pull_line(const char *buf, size_t len, orch_diag *diag)
{
	json_t *root = NULL, *err, *detail;
	size_t i;
	orch_err rv = ORCH_EINTERNAL;

	orch_diag_clear(diag);
	for (i = 0; i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r')
			break;
	}
	if (i == len)
		return ORCH_OK;
	if ((root = load(buf, len, diag)) == NULL)
		goto out;
	if (!json_is_object(root)) {
		orch_diag_set(diag, "progress line is not an object");
		goto out;
	}
	err = field(root, "error");
	detail = field(field(root, "errorDetail"), "message");
	if (json_is_string(err))
		copy_text(diag != NULL ? diag->msg : NULL, ORCH_DIAG_MSG_MAX,
		    json_string_value(err));
	else if (json_is_string(detail))
		copy_text(diag != NULL ? diag->msg : NULL, ORCH_DIAG_MSG_MAX,
		    json_string_value(detail));
	else if (err != NULL || field(root, "errorDetail") != NULL)
		orch_diag_set(diag, "pull failed (no message)");
	else
		rv = ORCH_OK;
out:
	json_decref(root);
	return rv;
}

void
orch_docker_parse_message(
    const char *buf, size_t len, char *msg, size_t msg_len)
{
	json_t *root, *m;

	if (msg == NULL || msg_len == 0)
		return;
	msg[0] = '\0';
	if (buf == NULL || len == 0)
		return;
	root = json_loadb(buf, len, 0, NULL);
	m = field(root, "message");
	if (json_is_string(m))
		copy_text(msg, msg_len, json_string_value(m));
	json_decref(root);
}

/* Reads 1..4 decimal digits at s[*i]. */
static int
small_number(const char *s, size_t len, size_t *i, int *out)
{
	int v = 0, n = 0;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9' && n < 5) {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		n++;
	}
	if (n == 0 || n > 4)
		return -1;
	*out = v;
	return 0;
}

orch_err
orch_docker_parse_api_version(
    const char *s, size_t len, int *major, int *minor)
{
	size_t i = 0;
	int ma, mi;

	if (s == NULL || major == NULL || minor == NULL)
		return ORCH_EINVAL;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	                      s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if (small_number(s, len, &i, &ma) != 0 || i >= len || s[i++] != '.' ||
	    small_number(s, len, &i, &mi) != 0 || i != len)
		return ORCH_EINTERNAL;
	*major = ma;
	*minor = mi;
	return ORCH_OK;
}
