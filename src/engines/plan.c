#include "src/engines/plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/runtime/imageref.h"

const char *
orch_label_get(const orch_label *l, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(l[i].key, key) == 0)
			return l[i].value;
	}
	return NULL;
}

static bool
is_ours(const orch_config *cfg, const char *key)
{
	return strcmp(key, cfg->container_label_key) == 0 ||
	       strcmp(key, ORCH_LABEL_HTTP_PORT) == 0 ||
	       strcmp(key, ORCH_LABEL_HTTPS_PORT) == 0 ||
	       strcmp(key, ORCH_LABEL_HOST_HTTP_PORT) == 0 ||
	       strcmp(key, ORCH_LABEL_HOST_HTTPS_PORT) == 0 ||
	       strcmp(key, ORCH_LABEL_VPN) == 0 ||
	       strcmp(key, ORCH_LABEL_P2P_PORT) == 0;
}

/* Environment names the orchestrator sets itself; CONF is the caller's
 * when given (kept verbatim), these never are. */
static bool
env_ours(const char *name)
{
	return strcmp(name, "HTTP_PORT") == 0 ||
	       strcmp(name, "HTTPS_PORT") == 0 ||
	       strcmp(name, "BIND_ALL") == 0 || strcmp(name, "P2P_PORT") == 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static bool
add_label(orch_engine_plan *p, const char *k, char *v_owned)
{
	char *k2 = strdup(k);

	if (k2 == NULL || v_owned == NULL) {
		free(k2);
		free(v_owned);
		return false;
	}
	p->labels[p->n_labels].key = k2;
	p->labels[p->n_labels].value = v_owned;
	p->n_labels++;
	return true;
}

static bool
add_env(orch_engine_plan *p, char *kv_owned)
{
	if (kv_owned == NULL)
		return false;
	p->env[p->n_env++] = kv_owned;
	return true;
}

static bool
bad_name(const char *n)
{
	return n == NULL || n[0] == '\0' || strchr(n, '=') != NULL;
}

/* Printable text: no control character (a CR/LF in a label reaches
 * Docker's JSON and every log line that names it). */
static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A key the caller may not set: one of ours, or under our prefixes. */
static bool
reserved(const orch_config *cfg, const char *key)
{
	return is_ours(cfg, key) || strncmp(key, "orchestrator.", 13) == 0 ||
	       strncmp(key, "acestream.", 10) == 0 ||
	       strncmp(key, "host.", 5) == 0;
}

orch_err
orch_engine_request_check(
    const orch_config *cfg, const orch_engine_request *req, orch_diag *diag)
{
	const char *why;

	orch_diag_clear(diag);
	if (req->image != NULL && !orch_rt_image_ref_valid(req->image, &why)) {
		orch_diag_field(
		    diag, "image", "image: not a valid reference (%s)", why);
		return ORCH_EINVAL;
	}
	for (size_t i = 0; i < req->n_env; i++) {
		if (bad_name(req->env[i].key) || req->env[i].value == NULL ||
		    !printable(req->env[i].key)) {
			orch_diag_field(diag, "env",
			    "env: a variable name must "
			    "be non-empty and contain no '='");
			return ORCH_EINVAL;
		}
	}
	for (size_t i = 0; i < req->n_labels; i++) {
		const char *k = req->labels[i].key;

		if (bad_name(k) || req->labels[i].value == NULL ||
		    !printable(k) || !printable(req->labels[i].value)) {
			orch_diag_field(diag, "labels",
			    "labels: a label key must be non-empty and "
			    "contain no '=' or control character");
			return ORCH_EINVAL;
		}
		if (reserved(cfg, k)) {
			orch_diag_field(diag, "labels",
			    "labels: \"%s\" is reserved for the orchestrator "
			    "(keys under orchestrator., acestream., host. "
			    "and %s)",
			    k, cfg->container_label_key);
			return ORCH_EINVAL;
		}
	}
	return ORCH_OK;
}

orch_err
orch_engine_plan_build(const orch_config *cfg, const orch_engine_request *req,
    const orch_engine_slot *slot, orch_engine_plan *p, orch_diag *diag)
{
	bool vpn = slot->vpn != NULL;
	int host_http = vpn ? slot->host_http_port : slot->http_port;
	int host_https = vpn                  ? slot->host_https_port
	                 : cfg->ace_map_https ? slot->https_port
	                                      : 0;
	bool ok = true;
	bool caller_conf = false;
	orch_err rv;

	memset(p, 0, sizeof(*p));
	if ((rv = orch_engine_request_check(cfg, req, diag)) != ORCH_OK)
		return rv;
	for (size_t i = 0; i < req->n_env; i++)
		caller_conf |= strcmp(req->env[i].key, "CONF") == 0;
	p->restart_policy = "unless-stopped";
	p->name = fmt("%s-%d", cfg->engine_name_prefix, slot->number);
	p->image = strdup(req->image != NULL ? req->image : cfg->target_image);
	p->labels = calloc(req->n_labels + 7, sizeof(*p->labels));
	p->env = calloc(req->n_env + 6, sizeof(*p->env));
	ok = p->name != NULL && p->image != NULL && p->labels != NULL &&
	     p->env != NULL;

	/* Ours first; the caller's cannot override them. */
	ok = ok && add_label(p, cfg->container_label_key,
	               strdup(cfg->container_label_value));
	ok = ok &&
	     add_label(p, ORCH_LABEL_HTTP_PORT, fmt("%d", slot->http_port));
	ok = ok &&
	     add_label(p, ORCH_LABEL_HTTPS_PORT, fmt("%d", slot->https_port));
	if (ok && host_http != 0)
		ok = add_label(
		    p, ORCH_LABEL_HOST_HTTP_PORT, fmt("%d", host_http));
	if (ok && host_https != 0)
		ok = add_label(
		    p, ORCH_LABEL_HOST_HTTPS_PORT, fmt("%d", host_https));
	if (ok && vpn)
		ok = add_label(p, ORCH_LABEL_VPN, strdup(slot->vpn));
	if (ok && slot->forwarded && slot->p2p_port > 0)
		ok = add_label(
		    p, ORCH_LABEL_P2P_PORT, fmt("%d", slot->p2p_port));
	for (size_t i = 0; ok && i < req->n_labels; i++) {
		if (is_ours(cfg, req->labels[i].key) ||
		    orch_label_get(p->labels, p->n_labels, req->labels[i].key))
			continue;
		ok = add_label(
		    p, req->labels[i].key, strdup(req->labels[i].value));
	}

	for (size_t i = 0; ok && i < req->n_env; i++) {
		if (env_ours(req->env[i].key))
			continue;
		ok = add_env(
		    p, fmt("%s=%s", req->env[i].key, req->env[i].value));
	}
	if (ok && !caller_conf)
		ok = add_env(p, fmt("CONF=--http-port=%d\n--https-port=%d\n"
		                    "--bind-all",
		                    slot->http_port, slot->https_port));
	ok = ok && add_env(p, fmt("HTTP_PORT=%d", slot->http_port));
	ok = ok && add_env(p, fmt("HTTPS_PORT=%d", slot->https_port));
	ok = ok && add_env(p, strdup("BIND_ALL=true"));
	if (ok && slot->forwarded && slot->p2p_port > 0)
		ok = add_env(p, fmt("P2P_PORT=%d", slot->p2p_port));

	if (ok && vpn) {
		/* Inside Gluetun's network namespace: its ports are
		 * Gluetun's, published by it. */
		p->network_mode = fmt("container:%s", slot->vpn);
		ok = p->network_mode != NULL;
	} else if (ok) {
		/* decision: the container listens on the port number it is
		 * published on (CONTRACT.md ProvisionResult). */
		p->publish[p->n_publish].container_port = slot->http_port;
		p->publish[p->n_publish++].host_port = slot->http_port;
		if (cfg->ace_map_https) {
			p->publish[p->n_publish].container_port =
			    slot->https_port;
			p->publish[p->n_publish++].host_port =
			    slot->https_port;
		}
		if (cfg->docker_network != NULL) {
			p->network = strdup(cfg->docker_network);
			ok = p->network != NULL;
		}
	}
	if (!ok) {
		orch_engine_plan_fini(p);
		orch_diag_set(diag, "out of memory");
		return ORCH_ENOMEM;
	}
	return ORCH_OK;
}

void
orch_engine_plan_fini(orch_engine_plan *p)
{
	free(p->name);
	free(p->image);
	for (size_t i = 0; p->env != NULL && i < p->n_env; i++)
		free(p->env[i]);
	free(p->env);
	for (size_t i = 0; p->labels != NULL && i < p->n_labels; i++) {
		free(p->labels[i].key);
		free(p->labels[i].value);
	}
	free(p->labels);
	free(p->network_mode);
	free(p->network);
	memset(p, 0, sizeof(*p));
}

void
orch_engine_advertised(const orch_config *cfg, const char *name,
    const char *vpn, int container_port, int host_port, const char **host,
    int *port)
{
	if (cfg->engine_host != NULL) {
		*host = cfg->engine_host;
		*port = host_port;
	} else if (vpn != NULL) {
		*host = vpn;
		*port = container_port;
	} else if (cfg->docker_network != NULL) {
		*host = name;
		*port = container_port;
	} else {
		*host = "127.0.0.1";
		*port = host_port;
	}
}

/* A label value as a port, or 0 when absent or not a port. */
static int
label_port(const orch_container_view *c, const char *key)
{
	const char *v = orch_label_get(c->labels, c->n_labels, key);
	char *end;
	long p;

	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	p = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return 0;
	return (int) p;
}

orch_err
orch_engine_adopt(const orch_config *cfg, const orch_container_view *c,
    orch_engine_spec *spec)
{
	int http = label_port(c, ORCH_LABEL_HTTP_PORT);
	int https = label_port(c, ORCH_LABEL_HTTPS_PORT);
	int host_http = label_port(c, ORCH_LABEL_HOST_HTTP_PORT);
	const char *vpn =
	    orch_label_get(c->labels, c->n_labels, ORCH_LABEL_VPN);

	memset(spec, 0, sizeof(*spec));
	if (http == 0 || c->id == NULL || c->name == NULL)
		return ORCH_EINVAL;
	if (vpn != NULL && vpn[0] == '\0')
		vpn = NULL;
	/* Engines made before the label existed ran in the one Gluetun. */
	if (vpn == NULL && cfg->n_vpns > 0)
		vpn = cfg->vpns[0].name;
	spec->vpn = vpn;
	spec->p2p_port = vpn != NULL ? label_port(c, ORCH_LABEL_P2P_PORT) : 0;
	spec->forwarded = spec->p2p_port != 0;
	spec->container_id = c->id;
	spec->container_name = c->name;
	spec->container_http_port = http;
	spec->container_https_port = https;
	spec->host_http_port = host_http;
	spec->host_https_port = label_port(c, ORCH_LABEL_HOST_HTTPS_PORT);
	spec->labels = c->labels;
	spec->n_labels = c->n_labels;
	spec->running = c->running;
	orch_engine_advertised(cfg, c->name, vpn, http,
	    host_http != 0 ? host_http : http, &spec->host, &spec->port);
	return ORCH_OK;
}

int
orch_engine_name_number(const char *prefix, const char *name)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(name, prefix, n) != 0 || name[n] != '-' ||
	    name[n + 1] < '0' || name[n + 1] > '9')
		return -1;
	errno = 0;
	v = strtol(name + n + 1, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 1000000000)
		return -1;
	return (int) v;
}
