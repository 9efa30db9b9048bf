/*
 * `sim acexy`: a stand-in for the Acexy proxy in the simulator compose
 * stack (deploy/docker-compose.sim.yml), whose image cannot be pulled
 * here. It makes a proxy's calls to the orchestrator with Acexy's
 * variables, so that the stack's wiring (service names, the API key,
 * engines reachable by name on the network) is proven the way a proxy
 * meets it; it does not proxy the MPEG-TS itself.
 *
 *   GET /ace/getstream?id=<content id>   select an engine (POST
 *       /engines/select, reserving); when none is free, provision one
 *       (POST /provision/acestream) and, as Acexy does, use
 *       localhost:<host_http_port>, waiting for it to answer; start the
 *       session on the engine (getstream format=json); report
 *       stream_started; answer {"stream_id","container_id","engine":
 *       {"host","port"},"playback_url"}. 502 naming the step that failed.
 *   GET /ace/stop?stream_id=<id>   report stream_ended.
 *   GET /ace/status   200 {"status":"ok",...} while the orchestrator's
 *       /orchestrator/status answers 200, else 503 (the healthcheck's
 *       probe, SIM_MODE=acexy).
 *
 * Environment: ACEXY_ORCH_URL (http://host:port, required),
 * ACEXY_ORCH_APIKEY (sent as a Bearer token when set),
 * ACEXY_MAX_STREAMS_PER_ENGINE (reported; the orchestrator's selection
 * applies its own MAX_STREAMS_PER_ENGINE), ACEXY_LISTEN_ADDR (":8080").
 */
#include "tools/sim/sim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_MS 5000
#define ENGINE_WAIT_MS 15000

static char orch_host[256];
static int orch_port;
static char auth[512];
static long max_streams;
static atomic_uint pid_seq;

int
sim_acexy_port(void)
{
	const char *a = getenv("ACEXY_LISTEN_ADDR");
	const char *colon = a != NULL ? strrchr(a, ':') : NULL;
	char *end;
	long v;

	if (a == NULL || *a == '\0')
		return 8080;
	v = strtol(colon != NULL ? colon + 1 : a, &end, 10);
	return *end != '\0' || v < 0 || v > 65535 ? -1 : (int) v;
}

/* "http://host:port" (no path) into orch_host/orch_port. */
static int
parse_orch_url(const char *url)
{
	const char *h, *colon;
	char *end;
	size_t n;

	if (url == NULL || strncmp(url, "http://", 7) != 0)
		return -1;
	h = url + 7;
	colon = strchr(h, ':');
	n = colon != NULL ? (size_t) (colon - h) : strcspn(h, "/");
	if (n == 0 || n >= sizeof(orch_host))
		return -1;
	memcpy(orch_host, h, n);
	orch_host[n] = '\0';
	orch_port = 80;
	if (colon != NULL) {
		orch_port = (int) strtol(colon + 1, &end, 10);
		if ((*end != '\0' && *end != '/') || orch_port <= 0 ||
		    orch_port > 65535)
			return -1;
	}
	return 0;
}

/* The first "key": in body, as a string (simple escapes) into out. */
static int
json_str(const char *body, const char *key, char *out, size_t outsz)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(body, pat)) == NULL)
		return -1;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p++ != '"')
		return -1;
	for (; *p != '\0' && *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (n + 1 >= outsz)
			return -1;
		out[n++] = *p;
	}
	out[n] = '\0';
	return *p == '"' ? 0 : -1;
}

/* The first "key": in body, as an integer. */
static int
json_int(const char *body, const char *key, long *out)
{
	char pat[64];
	const char *p;
	char *end;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(body, pat)) == NULL)
		return -1;
	*out = strtol(p + strlen(pat), &end, 10);
	return end == p + strlen(pat) ? -1 : 0;
}

/* One call to the orchestrator. */
static int
orch(const char *method, const char *path, const char *body,
    struct sim_resp *resp)
{
	struct sim_call c = {orch_host, orch_port, method, path,
	    auth[0] != '\0' ? auth : NULL, body, CALL_MS};

	return sim_http_call(&c, resp);
}

struct pick {
	char container_id[128];
	char host[256];
	long port;
	char reservation[128];
};

/* An engine for a new stream: the orchestrator's choice, else a new one
 * at localhost:<host_http_port> (Acexy's way: see docs/DEPLOY.md). */
static const char *
pick_engine(struct pick *p, struct sim_resp *resp)
{
	memset(p, 0, sizeof(*p));
	if (orch("POST", "/engines/select", "{\"reserve\":true}", resp) != 0)
		return "orchestrator unreachable (select)";
	if (resp->status == 200) {
		if (json_str(resp->body, "container_id", p->container_id,
		        sizeof(p->container_id)) != 0 ||
		    json_str(resp->body, "host", p->host, sizeof(p->host)) !=
		        0 ||
		    json_int(resp->body, "port", &p->port) != 0)
			return "select: unexpected reply";
		(void) json_str(resp->body, "reservation_id", p->reservation,
		    sizeof(p->reservation));
		return NULL;
	}
	if (resp->status != 503)
		return "select refused";
	if (orch("POST", "/provision/acestream", "{}", resp) != 0)
		return "orchestrator unreachable (provision)";
	if (resp->status != 200 ||
	    json_str(resp->body, "container_id", p->container_id,
	        sizeof(p->container_id)) != 0 ||
	    json_int(resp->body, "host_http_port", &p->port) != 0)
		return "provision refused";
	snprintf(p->host, sizeof(p->host), "localhost");
	for (int64_t end = sim_now_ms() + ENGINE_WAIT_MS;;) {
		struct sim_call c = {p->host, (int) p->port, "GET",
		    "/server/api?api_version=3&method=get_status", NULL, NULL,
		    1000};

		if (sim_http_call(&c, resp) == 0 && resp->status == 200)
			return NULL;
		if (sim_now_ms() >= end)
			return "provisioned engine never answered at "
			       "localhost:<host_http_port>";
		sim_sleep_ms(250);
	}
}

/* Starts the session on the engine; fills the event's session part. */
static const char *
start_session(const struct pick *p, const char *id, char *event,
    size_t event_sz, char *playback, size_t playback_sz, char *stream_id,
    size_t sid_sz, struct sim_resp *resp)
{
	char path[SIM_PATH_MAX], psid[128], stat_url[1024], cmd_url[1024];
	struct sim_call c = {
	    p->host, (int) p->port, "GET", path, NULL, NULL, CALL_MS};
	long live = 0;

	snprintf(path, sizeof(path),
	    "/ace/getstream?id=%s&format=json&pid=acexy-sim-%u", id,
	    atomic_fetch_add(&pid_seq, 1));
	if (sim_http_call(&c, resp) != 0 || resp->status != 200)
		return "engine unreachable (getstream)";
	if (json_str(resp->body, "playback_session_id", psid, sizeof(psid)) !=
	        0 ||
	    json_str(resp->body, "stat_url", stat_url, sizeof(stat_url)) !=
	        0 ||
	    json_str(resp->body, "command_url", cmd_url, sizeof(cmd_url)) !=
	        0 ||
	    json_str(resp->body, "playback_url", playback, playback_sz) != 0)
		return "engine refused the stream";
	(void) json_int(resp->body, "is_live", &live);
	snprintf(stream_id, sid_sz, "%s|%s", id, psid);
	snprintf(event, event_sz,
	    "{\"container_id\":\"%s\",\"engine\":{\"host\":\"%s\","
	    "\"port\":%ld},\"stream\":{\"key_type\":\"content_id\","
	    "\"key\":\"%s\"},\"session\":{\"playback_session_id\":\"%s\","
	    "\"stat_url\":\"%s\",\"command_url\":\"%s\",\"is_live\":%ld},"
	    "\"labels\":{%s%s%s}}",
	    p->container_id, p->host, p->port, id, psid, stat_url, cmd_url,
	    live, p->reservation[0] != '\0' ? "\"reservation_id\":\"" : "",
	    p->reservation, p->reservation[0] != '\0' ? "\"" : "");
	return NULL;
}

/* Content ids are hex (or plain words in tests): nothing to escape. */
static int
plain(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		        (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_'))
			return 0;
	}
	return 1;
}

static int
h_getstream(struct sim_conn *c, const struct sim_req *r)
{
	static __thread struct sim_resp resp;
	char id[128], event[4096], playback[1024], sid[300], out[2048];
	const char *why;
	struct pick p;

	if (sim_query_get(r->query, "id", id, sizeof(id)) != 1 ||
	    id[0] == '\0' || !plain(id))
		return sim_json_reply(c, r, 400, "{\"error\":\"id\"}");
	if ((why = pick_engine(&p, &resp)) == NULL)
		why = start_session(&p, id, event, sizeof(event), playback,
		    sizeof(playback), sid, sizeof(sid), &resp);
	if (why == NULL &&
	    (orch("POST", "/events/stream_started", event, &resp) != 0 ||
	        resp.status != 200))
		why = "stream_started refused";
	if (why != NULL) {
		snprintf(out, sizeof(out), "{\"error\":\"%s\",\"status\":%d}",
		    why, resp.status);
		return sim_json_reply(c, r, 502, out);
	}
	snprintf(out, sizeof(out),
	    "{\"stream_id\":\"%s\",\"container_id\":\"%s\",\"engine\":"
	    "{\"host\":\"%s\",\"port\":%ld},\"playback_url\":\"%s\"}",
	    sid, p.container_id, p.host, p.port, playback);
	return sim_json_reply(c, r, 200, out);
}

static int
h_stop(struct sim_conn *c, const struct sim_req *r)
{
	static __thread struct sim_resp resp;
	char sid[300], body[512];

	if (sim_query_get(r->query, "stream_id", sid, sizeof(sid)) != 1 ||
	    strchr(sid, '"') != NULL || strchr(sid, '\\') != NULL)
		return sim_json_reply(c, r, 400, "{\"error\":\"stream_id\"}");
	snprintf(body, sizeof(body),
	    "{\"stream_id\":\"%s\",\"reason\":\"client_disconnect\"}", sid);
	if (orch("POST", "/events/stream_ended", body, &resp) != 0 ||
	    resp.status != 200)
		return sim_json_reply(
		    c, r, 502, "{\"error\":\"stream_ended refused\"}");
	return sim_json_reply(c, r, 200, resp.body);
}

static int
h_status(struct sim_conn *c, const struct sim_req *r)
{
	static __thread struct sim_resp resp;
	char body[512];
	int up = orch("GET", "/orchestrator/status", NULL, &resp) == 0 &&
	         resp.status == 200;

	snprintf(body, sizeof(body),
	    "{\"status\":\"%s\",\"orchestrator\":\"%s:%d\","
	    "\"max_streams_per_engine\":%ld}",
	    up ? "ok" : "orchestrator unreachable", orch_host, orch_port,
	    max_streams);
	return sim_json_reply(c, r, up ? 200 : 503, body);
}

static const struct sim_route acexy_routes[] = {
    {"GET", "/ace/getstream", 0, h_getstream},
    {"GET", "/ace/stop", 0, h_stop},
    {"GET", "/ace/status", 0, h_status},
    {NULL, NULL, 0, NULL},
};

int
sim_acexy_main(void)
{
	const char *key = getenv("ACEXY_ORCH_APIKEY");
	int port = sim_acexy_port();

	if (port < 0) {
		fprintf(stderr, "sim: bad ACEXY_LISTEN_ADDR\n");
		return 2;
	}
	if (parse_orch_url(getenv("ACEXY_ORCH_URL")) != 0) {
		fprintf(
		    stderr, "sim: ACEXY_ORCH_URL must be http://host:port\n");
		return 2;
	}
	if (key != NULL && *key != '\0')
		snprintf(auth, sizeof(auth), "Bearer %s", key);
	max_streams = sim_env_long("ACEXY_MAX_STREAMS_PER_ENGINE", 1);
	return sim_serve(acexy_routes, port);
}
