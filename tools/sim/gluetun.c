/*
 * Gluetun's control server, the part the orchestrator reads: VPN status
 * (which a test flips with PUT to simulate a tunnel drop) and the forwarded
 * port (which a test changes with PUT /v1/portforward, as Gluetun's own
 * API allows). The forwarded port reads 0 while the VPN is stopped, as
 * Gluetun has no forwarded port without a tunnel.
 *
 * Newer Gluetun protects every route of its control server with roles
 * (an API key in X-API-Key or ?api_key=, or HTTP basic auth) and answers
 * anything else 401 "Unauthorized"; SIM_API_KEY and SIM_API_USER /
 * SIM_API_PASSWORD turn that on here. SIM_GLUETUN_API picks the API
 * generation: "old" Gluetun has only the /v1/openvpn/ routes, so a client
 * can be tested on its fallback.
 */
#include "tools/sim/sim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT 8000

static atomic_int vpn_running;
static atomic_long forwarded_port;
static int old_api; /* SIM_GLUETUN_API=old: /v1/openvpn/ routes only */

int
sim_gluetun_port(void)
{
	long v = sim_env_long("GLUETUN_API_PORT", DEFAULT_PORT);

	return v < 0 || v > 65535 ? -1 : (int) v;
}

static const char *
nonempty_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

const char *
sim_gluetun_api_key(void)
{
	return nonempty_env("SIM_API_KEY");
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 of in into out (NUL-terminated); -1 when it does not
 * fit. */
static int
b64_encode(const char *in, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char) in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char) in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char) in[i + 2];
		if (o + 5 > outsz)
			return -1;
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	if (o + 1 > outsz)
		return -1;
	out[o] = '\0';
	return 0;
}

int
sim_gluetun_basic(char *out, size_t outsz)
{
	const char *user = nonempty_env("SIM_API_USER");
	const char *pass = nonempty_env("SIM_API_PASSWORD");
	char plain[512];
	int n;

	if (user == NULL || pass == NULL || outsz < 7)
		return 0;
	n = snprintf(plain, sizeof(plain), "%s:%s", user, pass);
	if (n < 0 || (size_t) n >= sizeof(plain))
		return 0;
	memcpy(out, "Basic ", 6);
	return b64_encode(plain, (size_t) n, out + 6, outsz - 6) == 0;
}

const char *
sim_gluetun_status_path(void)
{
	const char *g = getenv("SIM_GLUETUN_API");

	return g != NULL && strcmp(g, "old") == 0 ? "/v1/openvpn/status"
	                                          : "/v1/vpn/status";
}

/* Whether r carries credentials of a configured role (no role: open).
 * Comparisons need not be constant-time: this is a test double. */
static int
authorized(const struct sim_req *r)
{
	const char *key = sim_gluetun_api_key();
	char basic[700], qkey[256];
	int has_basic = sim_gluetun_basic(basic, sizeof(basic));

	if (key == NULL && !has_basic)
		return 1;
	if (key != NULL && r->api_key[0] != '\0')
		return strcmp(r->api_key, key) == 0;
	if (key != NULL &&
	    sim_query_get(r->query, "api_key", qkey, sizeof(qkey)) == 1 &&
	    strcmp(qkey, key) == 0)
		return 1;
	return has_basic && strcmp(r->authorization, basic) == 0;
}

/* Gluetun's http.Error(w, "Unauthorized", 401), with the basic-auth
 * challenge when that role exists. */
static int
unauthorized(struct sim_conn *c, const struct sim_req *r)
{
	char basic[700];

	return sim_http_reply_h(c, r, 401, "text/plain; charset=utf-8",
	    sim_gluetun_basic(basic, sizeof(basic))
	        ? "WWW-Authenticate: Basic realm=\"restricted\", "
	          "charset=\"UTF-8\"\r\n"
	        : NULL,
	    "Unauthorized\n");
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

/* A port in 0..65535 at p; the character after it in *end. -1 if none. */
static long
read_port(const char *p, const char **end)
{
	long v = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 6) {
		v = v * 10 + (*p++ - '0');
		digits++;
	}
	*end = p;
	return digits == 0 || digits > 5 || v > 65535 ? -1 : v;
}

/*
 * Gluetun's PUT /v1/portforward body, {"ports":[N,...]}: the first port
 * (0 for an empty list), or -1 for anything else (a 400).
 */
static long
parse_ports_body(const char *body)
{
	const char *p = skip_ws(body);
	char key[16];
	long first = 0;
	int n = 0;

	if (*p++ != '{')
		return -1;
	p = read_string(skip_ws(p), key, sizeof(key));
	if (p == NULL || strcmp(key, "ports") != 0)
		return -1;
	p = skip_ws(p);
	if (*p++ != ':')
		return -1;
	p = skip_ws(p);
	if (*p++ != '[')
		return -1;
	p = skip_ws(p);
	while (*p != ']') {
		long v = read_port(p, &p);

		if (v < 0)
			return -1;
		if (n++ == 0)
			first = v;
		p = skip_ws(p);
		if (*p == ',') {
			p = skip_ws(p + 1);
			if (*p == ']')
				return -1; /* a trailing comma */
		} else if (*p != ']') {
			return -1;
		}
	}
	p = skip_ws(p + 1);
	if (*p++ != '}' || *skip_ws(p) != '\0')
		return -1;
	return first;
}

static int
h_status_get(struct sim_conn *c, const struct sim_req *r)
{
	if (!authorized(r))
		return unauthorized(c, r);
	return sim_json_reply(c, r, 200,
	    atomic_load(&vpn_running) ? "{\"status\":\"running\"}"
	                              : "{\"status\":\"stopped\"}");
}

static int
h_status_put(struct sim_conn *c, const struct sim_req *r)
{
	int want;

	if (!authorized(r))
		return unauthorized(c, r);
	want = parse_status_body(r->body);
	if (want < 0)
		return sim_json_reply(c, r, 400,
		    "{\"error\":\"body must be {\\\"status\\\":"
		    "\\\"running\\\"|\\\"stopped\\\"}\"}");
	atomic_store(&vpn_running, want);
	/* Gluetun answers with the outcome of the change. */
	return sim_json_reply(c, r, 200,
	    want ? "{\"outcome\":\"running\"}" : "{\"outcome\":\"stopped\"}");
}

static long
current_port(void)
{
	return atomic_load(&vpn_running) ? atomic_load(&forwarded_port) : 0L;
}

/* The old route: {"port":N}. */
static int
h_port_old(struct sim_conn *c, const struct sim_req *r)
{
	char body[64];

	if (!authorized(r))
		return unauthorized(c, r);
	snprintf(body, sizeof(body), "{\"port\":%ld}", current_port());
	return sim_json_reply(c, r, 200, body);
}

/* The new route: {"port":N,"ports":[N]}, "ports" null when none (Go
 * encodes a nil slice so). */
static int
h_port_new(struct sim_conn *c, const struct sim_req *r)
{
	long port = current_port();
	char body[96];

	if (!authorized(r))
		return unauthorized(c, r);
	if (port != 0)
		snprintf(body, sizeof(body), "{\"port\":%ld,\"ports\":[%ld]}",
		    port, port);
	else
		snprintf(body, sizeof(body), "{\"port\":0,\"ports\":null}");
	return sim_json_reply(c, r, 200, body);
}

/* What a test calls to make the VPN provider forward another port. */
static int
h_port_put(struct sim_conn *c, const struct sim_req *r)
{
	long want;

	if (!authorized(r))
		return unauthorized(c, r);
	want = parse_ports_body(r->body);
	if (want < 0)
		return sim_json_reply(c, r, 400,
		    "{\"error\":\"body must be {\\\"ports\\\":[N,...]}\"}");
	atomic_store(&forwarded_port, want);
	return sim_http_reply(c, r, 200, "text/plain; charset=utf-8", "");
}

static const struct sim_route both_routes[] = {
    {"GET", "/v1/openvpn/status", 0, h_status_get},
    {"PUT", "/v1/openvpn/status", 0, h_status_put},
    {"GET", "/v1/vpn/status", 0, h_status_get},
    {"PUT", "/v1/vpn/status", 0, h_status_put},
    {"GET", "/v1/openvpn/portforwarded", 0, h_port_old},
    {"GET", "/v1/portforward", 0, h_port_new},
    {"PUT", "/v1/portforward", 0, h_port_put},
    {NULL, NULL, 0, NULL},
};

/* Gluetun before the /v1/vpn and /v1/portforward routes. */
static const struct sim_route old_routes[] = {
    {"GET", "/v1/openvpn/status", 0, h_status_get},
    {"PUT", "/v1/openvpn/status", 0, h_status_put},
    {"GET", "/v1/openvpn/portforwarded", 0, h_port_old},
    {NULL, NULL, 0, NULL},
};

int
sim_gluetun_main(void)
{
	const char *st = getenv("SIM_VPN_STATUS");
	const char *gen = getenv("SIM_GLUETUN_API");
	int port = sim_gluetun_port();
	long fwd;

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
	if (gen != NULL && strcmp(gen, "old") == 0)
		old_api = 1;
	else if (gen != NULL && *gen != '\0' && strcmp(gen, "both") != 0) {
		fprintf(stderr, "sim: SIM_GLUETUN_API must be old|both\n");
		return 2;
	}
	fwd = sim_env_long("SIM_FORWARDED_PORT", 54321);
	atomic_store(&forwarded_port, fwd < 0 || fwd > 65535 ? 54321L : fwd);
	return sim_serve(old_api ? old_routes : both_routes, port);
}
