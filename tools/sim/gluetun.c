/*
 * Gluetun's control server, the part the orchestrator reads: VPN status
 * (which a test flips with PUT to simulate a tunnel drop) and the forwarded
 * port. The forwarded port reads 0 while the VPN is stopped, as Gluetun has
 * no forwarded port without a tunnel.
 */
#include "tools/sim/sim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT 8000

static atomic_int vpn_running;
static long forwarded_port;

int
sim_gluetun_port(void)
{
	long v = sim_env_long("GLUETUN_API_PORT", DEFAULT_PORT);

	return v < 0 || v > 65535 ? -1 : (int) v;
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* Reads a JSON string without escapes (none is valid here) into out. */
static const char *
read_string(const char *p, char *out, size_t outsz)
{
	const char *end;

	if (*p != '"')
		return NULL;
	end = strpbrk(p + 1, "\"\\");
	if (end == NULL || *end != '"' || (size_t) (end - p - 1) >= outsz)
		return NULL;
	memcpy(out, p + 1, (size_t) (end - p - 1));
	out[end - p - 1] = '\0';
	return end + 1;
}

/*
 * Finds "status" in a flat JSON object of string values. Returns 1 running,
 * 0 stopped, -1 for anything else (which is a 400).
 */
static int
parse_status_body(const char *body)
{
	const char *p = skip_ws(body);
	char key[32], val[32];
	int result = -1;

	if (*p++ != '{')
		return -1;
	p = skip_ws(p);
	if (*p == '}')
		return -1;
	for (;;) {
		p = read_string(p, key, sizeof(key));
		if (p == NULL)
			return -1;
		p = skip_ws(p);
		if (*p++ != ':')
			return -1;
		p = read_string(skip_ws(p), val, sizeof(val));
		if (p == NULL)
			return -1;
		if (strcmp(key, "status") == 0) {
			if (strcmp(val, "running") == 0)
				result = 1;
			else if (strcmp(val, "stopped") == 0)
				result = 0;
			else
				return -1;
		}
		p = skip_ws(p);
		if (*p == '}')
			break;
		if (*p++ != ',')
			return -1;
		p = skip_ws(p);
	}
	if (*skip_ws(p + 1) != '\0')
		return -1;
	return result;
}

static int
h_status_get(struct sim_conn *c, const struct sim_req *r)
{
	return sim_json_reply(c, r, 200,
	    atomic_load(&vpn_running) ? "{\"status\":\"running\"}"
	                              : "{\"status\":\"stopped\"}");
}

static int
h_status_put(struct sim_conn *c, const struct sim_req *r)
{
	int want = parse_status_body(r->body);

	if (want < 0)
		return sim_json_reply(c, r, 400,
		    "{\"error\":\"body must be {\\\"status\\\":"
		    "\\\"running\\\"|\\\"stopped\\\"}\"}");
	atomic_store(&vpn_running, want);
	/* Gluetun answers with the outcome of the change. */
	return sim_json_reply(c, r, 200,
	    want ? "{\"outcome\":\"running\"}" : "{\"outcome\":\"stopped\"}");
}

static int
h_port(struct sim_conn *c, const struct sim_req *r)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"port\":%ld}",
	    atomic_load(&vpn_running) ? forwarded_port : 0L);
	return sim_json_reply(c, r, 200, body);
}

static const struct sim_route gluetun_routes[] = {
    {"GET", "/v1/openvpn/status", 0, h_status_get},
    {"PUT", "/v1/openvpn/status", 0, h_status_put},
    {"GET", "/v1/vpn/status", 0, h_status_get},
    {"PUT", "/v1/vpn/status", 0, h_status_put},
    {"GET", "/v1/openvpn/portforwarded", 0, h_port},
    {"GET", "/v1/portforward", 0, h_port},
    {NULL, NULL, 0, NULL},
};

int
sim_gluetun_main(void)
{
	const char *st = getenv("SIM_VPN_STATUS");
	int port = sim_gluetun_port();

	if (port < 0) {
		fprintf(stderr, "sim: bad GLUETUN_API_PORT\n");
		return 2;
	}
	if (st != NULL && strcmp(st, "stopped") == 0)
		atomic_store(&vpn_running, 0);
	else if (st == NULL || *st == '\0' || strcmp(st, "running") == 0)
		atomic_store(&vpn_running, 1);
	else {
		fprintf(
		    stderr, "sim: SIM_VPN_STATUS must be running|stopped\n");
		return 2;
	}
	forwarded_port = sim_env_long("SIM_FORWARDED_PORT", 54321);
	if (forwarded_port < 0 || forwarded_port > 65535)
		forwarded_port = 54321;
	return sim_serve(gluetun_routes, port);
}
