#include "src/engines/reach.h"

#include "src/core/vpncfg.h"
#include "src/probe/gluetun.h"

#include <stdio.h>
#include <string.h>

const char *
orch_reach_mode_name(orch_reach_mode mode)
{
	switch (mode) {
	case ORCH_REACH_NETWORK:
		return "network";
	case ORCH_REACH_GATEWAY:
		return "gateway";
	default:
		return "host";
	}
}

/* "a (gateway 172.18.0.1), b" into out; the first gateway to *gw. */
static void
list_networks(
    const orch_rt_container *c, char *out, size_t len, const char **gw)
{
	size_t n = 0;

	*gw = NULL;
	out[0] = '\0';
	for (size_t i = 0; i < c->n_networks && n < len; i++) {
		const char *g = c->networks[i].value;

		n += (size_t) snprintf(out + n, len - n, "%s%s", i ? ", " : "",
		    c->networks[i].key);
		if (g[0] != '\0' && n < len)
			n += (size_t) snprintf(
			    out + n, len - n, " (gateway %s)", g);
		if (g[0] != '\0' && *gw == NULL)
			*gw = g;
	}
	if (out[0] == '\0')
		snprintf(out, len, "none");
}

static bool
attached(const orch_rt_container *c, const char *network)
{
	for (size_t i = 0; i < c->n_networks; i++) {
		if (strcmp(c->networks[i].key, network) == 0)
			return true;
	}
	return false;
}

/* Not inspected: no container of this runtime, or one it could not
 * tell us about. */
static void
decide_uninspected(
    const orch_config *cfg, const orch_rt_self *self, orch_reach *r)
{
	if (self == NULL || !self->in_container) {
		snprintf(r->why, sizeof(r->why),
		    "not in a container: engines probed at "
		    "127.0.0.1:<published "
		    "port>");
	} else if (self->id[0] == '\0') {
		/* A marker file alone (an image built from a container, say):
		 * the runtime knows no such container, so this is its host. */
		snprintf(r->why, sizeof(r->why),
		    "a container marker but no container of this runtime "
		    "(%s): engines probed at 127.0.0.1:<published port>",
		    self->why);
	} else if (cfg->docker_network != NULL) {
		r->mode = ORCH_REACH_NETWORK;
		snprintf(r->why, sizeof(r->why),
		    "in container %.12s (could not inspect it: %s): engines "
		    "probed by name on DOCKER_NETWORK=%s",
		    self->id, self->why, cfg->docker_network);
	} else {
		r->ok = false;
		snprintf(r->why, sizeof(r->why),
		    "in container %.12s, which the runtime did not describe "
		    "(%s), without DOCKER_NETWORK: probes go to "
		    "127.0.0.1:<published port>, this container's own "
		    "loopback, and fail unless it runs with network_mode: "
		    "host; set DOCKER_NETWORK to a network it shares with the "
		    "engines",
		    self->id, self->why);
	}
}

void
orch_reach_decide(
    const orch_config *cfg, const orch_rt_self *self, orch_reach *out)
{
	const orch_rt_container *c;
	const char *gw, *me;
	char nets[300];

	memset(out, 0, sizeof(*out));
	out->mode = ORCH_REACH_HOST;
	out->ok = true;
	if (self == NULL || !self->inspected) {
		decide_uninspected(cfg, self, out);
		return;
	}
	c = &self->c;
	me = c->name[0] != '\0' ? c->name : self->id;
	list_networks(c, nets, sizeof(nets), &gw);
	if (strcmp(c->network_mode, "host") == 0) {
		snprintf(out->why, sizeof(out->why),
		    "in container %s on the host's network: engines probed at "
		    "127.0.0.1:<published port>",
		    me);
	} else if (cfg->docker_network != NULL) {
		out->mode = ORCH_REACH_NETWORK;
		out->ok = attached(c, cfg->docker_network);
		snprintf(out->why, sizeof(out->why),
		    out->ok
		        ? "in container %s on DOCKER_NETWORK=%s: engines "
		          "probed by container name on it (networks: %s)"
		        : "in container %s, which is not attached to "
		          "DOCKER_NETWORK=%s (its networks: %s): probes by "
		          "name on it cannot reach the engines; attach it "
		          "(docker network connect)",
		    me, cfg->docker_network, nets);
	} else if (gw != NULL &&
	           (cfg->engine_host != NULL || orch_vpn_enabled(cfg))) {
		out->mode = ORCH_REACH_GATEWAY;
		snprintf(out->gateway, sizeof(out->gateway), "%s", gw);
		snprintf(out->why, sizeof(out->why),
		    "in container %s without DOCKER_NETWORK (networks: %s): "
		    "engines probed through the host gateway at %s:<published "
		    "port> (%s publishes them on the host)",
		    me, nets, gw,
		    cfg->engine_host != NULL
		        ? "ENGINE_HOST set: the orchestrator"
		        : "VPN mode: Gluetun");
	} else {
		out->ok = false;
		snprintf(out->why, sizeof(out->why),
		    "in container %s without DOCKER_NETWORK (networks: %s): "
		    "engines publish their ports on the host's 127.0.0.1, "
		    "which this container cannot reach, so every probe would "
		    "fail and every engine go unhealthy. Set DOCKER_NETWORK "
		    "to "
		    "a network of this container (deploy/docker-compose.yml "
		    "does), or ENGINE_HOST (ports then publish on 0.0.0.0 and "
		    "are probed through the host gateway), or run it with "
		    "network_mode: host",
		    me, nets);
	}
}

int
orch_reach_engine_base(
    const orch_reach *r, const orch_engine *e, char *out, size_t len)
{
	orch_reach_mode mode = r != NULL ? r->mode : ORCH_REACH_HOST;
	int cport = e->container_http_port;

	/* An engine inside a Gluetun listens in Gluetun's namespace: on
	 * the network it is Gluetun's name that answers, at the port the
	 * engine listens on there. */
	if (mode == ORCH_REACH_NETWORK && cport > 0)
		return snprintf(out, len, "http://%s:%d",
		    e->vpn != NULL ? e->vpn : e->container_name, cport);
	if (mode == ORCH_REACH_GATEWAY && e->host_http_port > 0)
		return snprintf(
		    out, len, "http://%s:%d", r->gateway, e->host_http_port);
	if (e->host_http_port > 0)
		return snprintf(
		    out, len, "http://127.0.0.1:%d", e->host_http_port);
	return snprintf(out, len, "http://%s:%d", e->host, e->port);
}

void
orch_reach_gluetun_base(const orch_reach *r, const orch_vpn_cfg *v,
    int api_port, int published, char *out, size_t len)
{
	orch_reach_mode mode = r != NULL ? r->mode : ORCH_REACH_HOST;

	if (v->api_url == NULL && mode == ORCH_REACH_NETWORK)
		snprintf(out, len, "http://%s:%d", v->name, api_port);
	else if (v->api_url == NULL && mode == ORCH_REACH_GATEWAY &&
	         published > 0)
		snprintf(out, len, "http://%s:%d", r->gateway, published);
	else
		orch_gluetun_base_url(v, api_port, published, out, len);
}
