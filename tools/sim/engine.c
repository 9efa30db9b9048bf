/*
 * The AceStream engine's HTTP API as ENGINE_PROTOCOL.md lists it, plus the
 * fault knobs tests use to make an engine slow, sick or hung. Sessions live
 * in one mutex-guarded list; a stream thread looks its session up again on
 * every tick instead of holding a pointer, so stopping a session can free it
 * at once.
 */
#include "tools/sim/sim.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DEFAULT_PORT 6878
#define MAX_SESSIONS 4096
#define IH_MAX 64   /* infohash: 40 hex in practice, any alnum accepted */
#define PSID_LEN 32 /* playback session id: 16 random bytes in hex */
#define TS_PACKET 188
#define TICK_MS 20
#define BURST_PACKETS 64 /* per write; bounds the stack buffer */

struct session {
	struct session *next;
	char ih[IH_MAX + 1];
	char psid[PSID_LEN + 1];
	int64_t created_ms;
};

enum health { HEALTH_OK, HEALTH_FAIL, HEALTH_HANG };

/* Read once at start; constant afterwards, so threads read it unlocked. */
static struct {
	int port;
	long bitrate_kbps;
	long fail_after_s; /* < 0: never */
	long hang_after_s; /* < 0: never */
	const char *fault_file;
	int refuse;
	int64_t start_ms; /* when the API began answering */
} cfg;

static pthread_mutex_t sess_mu = PTHREAD_MUTEX_INITIALIZER;
static struct session *sessions;
static size_t session_count;

/* ---- configuration ---- */

static int
parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || (*end != '\0' && !isspace((unsigned char) *end)) ||
	    errno != 0 || v < 0 || v > 65535)
		return -1;
	return (int) v;
}

int
sim_engine_port(void)
{
	const char *env = getenv("HTTP_PORT");
	const char *conf = getenv("CONF");
	const char *p;

	if (env != NULL && *env != '\0')
		return parse_port(env);
	/* CONF holds engine arguments, one per line (or space-separated). */
	for (p = conf; p != NULL && *p != '\0';) {
		while (isspace((unsigned char) *p))
			p++;
		if (strncmp(p, "--http-port=", 12) == 0)
			return parse_port(p + 12);
		while (*p != '\0' && !isspace((unsigned char) *p))
			p++;
	}
	return DEFAULT_PORT;
}

/* ---- health and fault knobs ---- */

/* SIM_FAULT_FILE holds "fail" or "hang" while a test wants that fault. */
static enum health
fault_file_health(void)
{
	char buf[16];
	ssize_t n;
	int fd;

	if (cfg.fault_file == NULL || *cfg.fault_file == '\0')
		return HEALTH_OK;
	fd = open(cfg.fault_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return HEALTH_OK;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return HEALTH_OK;
	buf[n] = '\0';
	if (strncmp(buf, "hang", 4) == 0)
		return HEALTH_HANG;
	if (strncmp(buf, "fail", 4) == 0)
		return HEALTH_FAIL;
	return HEALTH_OK;
}

static enum health
health_now(void)
{
	int64_t up = sim_now_ms() - cfg.start_ms;
	enum health file = fault_file_health();

	if (file == HEALTH_HANG ||
	    (cfg.hang_after_s >= 0 && up >= cfg.hang_after_s * 1000))
		return HEALTH_HANG;
	if (file == HEALTH_FAIL || sim_usr1_fail ||
	    (cfg.fail_after_s >= 0 && up >= cfg.fail_after_s * 1000))
		return HEALTH_FAIL;
	return HEALTH_OK;
}

/* ---- sessions ---- */

/* Caller holds sess_mu. */
static struct session *
session_find_locked(const char *ih, const char *psid)
{
	struct session *s;

	for (s = sessions; s != NULL; s = s->next)
		if (strcmp(s->psid, psid) == 0 && strcmp(s->ih, ih) == 0)
			return s;
	return NULL;
}

/* Copies the session's creation time out; 0 when there is no such one. */
static int
session_created(const char *ih, const char *psid, int64_t *created)
{
	struct session *s;
	int found = 0;

	pthread_mutex_lock(&sess_mu);
	s = session_find_locked(ih, psid);
	if (s != NULL) {
		*created = s->created_ms;
		found = 1;
	}
	pthread_mutex_unlock(&sess_mu);
	return found;
}

static void
random_hex(char *out, size_t nbytes)
{
	unsigned char raw[32];
	static uint64_t fallback;
	size_t i;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	if (getrandom(raw, nbytes, 0) != (ssize_t) nbytes) {
		/* No entropy source: unique is all a session id needs. */
		uint64_t x = (uint64_t) sim_now_ms() ^ (uint64_t) getpid()
		                                           << 32;

		x += __atomic_add_fetch(
		    &fallback, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED);
		for (i = 0; i < nbytes; i++) {
			x ^= x >> 33;
			x *= 0xff51afd7ed558ccdULL;
			raw[i] = (unsigned char) (x >> 56);
		}
	}
	for (i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
}

/* Registers a session; writes its id to psid. -1 when the table is full. */
static int
session_add(const char *ih, char psid[PSID_LEN + 1])
{
	struct session *s;
	int rc = -1;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	snprintf(s->ih, sizeof(s->ih), "%s", ih);
	random_hex(s->psid, PSID_LEN / 2);
	s->created_ms = sim_now_ms();
	pthread_mutex_lock(&sess_mu);
	if (session_count < MAX_SESSIONS) {
		s->next = sessions;
		sessions = s;
		session_count++;
		memcpy(psid, s->psid, PSID_LEN + 1);
		s = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&sess_mu);
	free(s);
	return rc;
}

static int
session_remove(const char *ih, const char *psid)
{
	struct session **pp, *dead = NULL;

	pthread_mutex_lock(&sess_mu);
	for (pp = &sessions; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->psid, psid) == 0 &&
		    strcmp((*pp)->ih, ih) == 0) {
			dead = *pp;
			*pp = dead->next;
			session_count--;
			break;
		}
	}
	pthread_mutex_unlock(&sess_mu);
	free(dead);
	return dead != NULL;
}

/* ---- helpers ---- */

/* FNV-1a, remixed per word: the same id always gives the same infohash. */
static void
derive_infohash(const char *id, char out[41])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;
	int i;

	for (p = (const unsigned char *) id; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	for (i = 0; i < 5; i++) {
		h ^= (uint64_t) (i + 1);
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
		h *= 0xbf58476d1ce4e5b9ULL;
		sprintf(out + 8 * i, "%08" PRIx32, (uint32_t) (h >> 32));
	}
}

static int
valid_infohash(const char *ih)
{
	size_t n = strlen(ih), i;

	if (n == 0 || n > IH_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char) ih[i]))
			return 0;
	return 1;
}

/*
 * The Host header goes into JSON and URLs unescaped, so only host-ish
 * characters are taken; anything else falls back to the local address.
 */
static void
url_host(const struct sim_req *r, char *out, size_t outsz)
{
	const char *h = r->host;
	size_t i;

	for (i = 0; h[i] != '\0'; i++)
		if (!isalnum((unsigned char) h[i]) && !strchr(".-_:[]", h[i]))
			break;
	if (h[0] == '\0' || h[i] != '\0')
		snprintf(out, outsz, "127.0.0.1:%d", sim_bound_port);
	else
		snprintf(out, outsz, "%s", h);
}

/*
 * Splits "<prefix><ih>/<psid>" into its parts. Returns 0, or -1 when the
 * path has another shape.
 */
static int
split_session_path(const char *path, const char *prefix, char *ih, char *psid)
{
	const char *p = path + strlen(prefix);
	const char *slash = strchr(p, '/');
	size_t ihlen;

	if (slash == NULL)
		return -1;
	ihlen = (size_t) (slash - p);
	if (ihlen == 0 || ihlen > IH_MAX || strlen(slash + 1) == 0 ||
	    strlen(slash + 1) > PSID_LEN || strchr(slash + 1, '/') != NULL)
		return -1;
	memcpy(ih, p, ihlen);
	ih[ihlen] = '\0';
	strcpy(psid, slash + 1);
	return 0;
}

/* ---- handlers ---- */

static int
h_server_api(struct sim_conn *c, const struct sim_req *r)
{
	char method[64];

	if (sim_query_get(r->query, "method", method, sizeof(method)) != 1)
		method[0] = '\0';
	if (strcmp(method, "get_status") == 0) {
		switch (health_now()) {
		case HEALTH_HANG:
			return sim_hang(c);
		case HEALTH_FAIL:
			return sim_json_reply(c, r, 500,
			    "{\"result\":null,\"error\":\"simulated "
			    "failure\"}");
		case HEALTH_OK:
			break;
		}
		return sim_json_reply(
		    c, r, 200, "{\"result\":{\"status\":1},\"error\":null}");
	}
	if (strcmp(method, "get_network_connection_status") == 0)
		return sim_json_reply(c, r, 200,
		    "{\"result\":{\"connected\":true},\"error\":null}");
	return sim_json_reply(
	    c, r, 200, "{\"result\":null,\"error\":\"unknown method\"}");
}

static int
h_webui(struct sim_conn *c, const struct sim_req *r)
{
	char method[64];

	if (sim_query_get(r->query, "method", method, sizeof(method)) == 1 &&
	    strcmp(method, "get_status") == 0)
		return sim_json_reply(c, r, 200,
		    "{\"result\":{\"status\":1,\"version\":\"sim\"},"
		    "\"error\":null}");
	return sim_json_reply(
	    c, r, 200, "{\"result\":null,\"error\":\"unknown method\"}");
}

static int stream_session(struct sim_conn *c, const struct sim_req *r,
    const char *ih, const char *psid);

/* /ace/getstream and /ace/manifest.m3u8. */
static int
h_getstream(struct sim_conn *c, const struct sim_req *r)
{
	char id[512], ih[IH_MAX + 1], fmt[16], host[256];
	char psid[PSID_LEN + 1], body[2048];
	int has_ih, has_id;

	if (cfg.refuse)
		return sim_json_reply(c, r, 200,
		    "{\"response\":null,"
		    "\"error\":\"simulated refusal (SIM_REFUSE_GETSTREAM)\"}");
	has_ih = sim_query_get(r->query, "infohash", ih, sizeof(ih));
	has_id = sim_query_get(r->query, "id", id, sizeof(id));
	if (has_ih < 0 || has_id < 0 || (has_ih == 1 && !valid_infohash(ih)))
		return sim_json_reply(c, r, 200,
		    "{\"response\":null,\"error\":\"invalid content id\"}");
	if (has_ih != 1 && has_id != 1)
		return sim_json_reply(c, r, 200,
		    "{\"response\":null,\"error\":\"missing id or "
		    "infohash\"}");
	if (has_ih != 1)
		derive_infohash(id, ih);
	if (session_add(ih, psid) != 0)
		return sim_json_reply(c, r, 200,
		    "{\"response\":null,\"error\":\"too many sessions\"}");
	/* Without format=json the real engine streams at once. */
	if (sim_query_get(r->query, "format", fmt, sizeof(fmt)) != 1 ||
	    strcmp(fmt, "json") != 0) {
		if (strcmp(r->path, "/ace/getstream") == 0)
			return stream_session(c, r, ih, psid);
	}
	url_host(r, host, sizeof(host));
	snprintf(body, sizeof(body),
	    "{\"response\":{"
	    "\"playback_url\":\"http://%s/ace/r/%s/%s\","
	    "\"stat_url\":\"http://%s/ace/stat/%s/%s\","
	    "\"command_url\":\"http://%s/ace/cmd/%s/%s\","
	    "\"infohash\":\"%s\",\"playback_session_id\":\"%s\","
	    "\"is_live\":1,\"is_encrypted\":0,\"client_session_id\":-1},"
	    "\"error\":null}",
	    host, ih, psid, host, ih, psid, host, ih, psid, ih, psid);
	return sim_json_reply(c, r, 200, body);
}

/* Fills n TS packets: PID 0x100, payload only, continuity counter runs. */
static void
fill_packets(unsigned char *p, size_t n, unsigned *cc)
{
	size_t i;

	for (i = 0; i < n; i++, p += TS_PACKET) {
		p[0] = 0x47;
		p[1] = 0x01;
		p[2] = 0x00;
		p[3] = (unsigned char) (0x10 | (*cc & 0x0f));
		memset(p + 4, 0xff, TS_PACKET - 4);
		(*cc)++;
	}
}

/* Sends n packets as one chunk (or raw for HTTP/1.0). 0 or -1. */
static int
send_packets(struct sim_conn *c, int chunked, size_t n, unsigned *cc)
{
	unsigned char buf[16 + BURST_PACKETS * TS_PACKET + 2];
	size_t len = n * TS_PACKET, off = 0;

	if (chunked)
		off = (size_t) sprintf((char *) buf, "%zx\r\n", len);
	fill_packets(buf + off, n, cc);
	off += len;
	if (chunked) {
		buf[off++] = '\r';
		buf[off++] = '\n';
	}
	return sim_send_all(c->fd, buf, off);
}

/*
 * Streams until the session is stopped (clean end of the chunked body) or
 * the client goes away. Pacing follows the clock, not the send rate, so a
 * slow reader does not slow the bitrate down later.
 */
static int
stream_session(struct sim_conn *c, const struct sim_req *r, const char *ih,
    const char *psid)
{
	int chunked = r->minor >= 1;
	int64_t start = sim_now_ms(), created;
	uint64_t sent = 0;
	unsigned cc = 0;
	char head[256];
	int n;

	c->close = 1;
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: video/MP2T\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n",
	    chunked ? "Transfer-Encoding: chunked\r\n" : "");
	if (sim_send_all(c->fd, head, (size_t) n) != 0)
		return 0;
	for (;;) {
		uint64_t bytes = (uint64_t) cfg.bitrate_kbps * 125 *
		                 (uint64_t) (sim_now_ms() - start) / 1000;
		/* The first packets go out at once so a reader starts fast. */
		uint64_t due = bytes / TS_PACKET + 7;

		while (sent < due) {
			size_t batch = due - sent > BURST_PACKETS
			                   ? BURST_PACKETS
			                   : (size_t) (due - sent);

			if (send_packets(c, chunked, batch, &cc) != 0)
				return 200;
			sent += batch;
		}
		if (!session_created(ih, psid, &created)) {
			if (chunked)
				(void) sim_send_all(c->fd, "0\r\n\r\n", 5);
			return 200;
		}
		if (sim_peer_gone(c->fd, TICK_MS))
			return 200;
	}
}

static int
h_stream(struct sim_conn *c, const struct sim_req *r)
{
	char ih[IH_MAX + 1], psid[PSID_LEN + 1];
	int64_t created;

	if (split_session_path(r->path, "/ace/r/", ih, psid) != 0 ||
	    !session_created(ih, psid, &created))
		return sim_json_reply(c, r, 404,
		    "{\"response\":null,"
		    "\"error\":\"unknown playback session id\"}");
	return stream_session(c, r, ih, psid);
}

static int
h_stat(struct sim_conn *c, const struct sim_req *r)
{
	char ih[IH_MAX + 1], psid[PSID_LEN + 1], body[512];
	int64_t created, age;
	long long down, speed;

	if (split_session_path(r->path, "/ace/stat/", ih, psid) != 0 ||
	    !session_created(ih, psid, &created))
		return sim_json_reply(c, r, 200,
		    "{\"response\":null,"
		    "\"error\":\"unknown playback session id\"}");
	/* Counters follow the session's age so consecutive polls grow. */
	age = sim_now_ms() - created;
	down = 1048576LL + (long long) cfg.bitrate_kbps * 125 * age / 1000;
	speed = cfg.bitrate_kbps / 8; /* KB/s, as the engine reports */
	snprintf(body, sizeof(body),
	    "{\"response\":{\"status\":\"dl\",\"peers\":12,"
	    "\"speed_down\":%lld,\"speed_up\":%lld,"
	    "\"downloaded\":%lld,\"uploaded\":%lld,\"total_progress\":0},"
	    "\"error\":null}",
	    speed, speed / 8, down, down / 16);
	return sim_json_reply(c, r, 200, body);
}

static int
h_cmd(struct sim_conn *c, const struct sim_req *r)
{
	char ih[IH_MAX + 1], psid[PSID_LEN + 1], method[32];

	if (sim_query_get(r->query, "method", method, sizeof(method)) != 1 ||
	    strcmp(method, "stop") != 0)
		return sim_json_reply(c, r, 200,
		    "{\"response\":null,\"error\":\"unknown method\"}");
	if (split_session_path(r->path, "/ace/cmd/", ih, psid) != 0 ||
	    !session_remove(ih, psid))
		return sim_json_reply(c, r, 200,
		    "{\"response\":null,"
		    "\"error\":\"unknown playback session id\"}");
	return sim_json_reply(
	    c, r, 200, "{\"response\":\"ok\",\"error\":null}");
}

static const struct sim_route engine_routes[] = {
    {"GET", "/server/api", 0, h_server_api},
    {"GET", "/webui/api/service", 0, h_webui},
    {"GET", "/ace/getstream", 0, h_getstream},
    {"GET", "/ace/manifest.m3u8", 0, h_getstream},
    {"GET", "/ace/r/", 1, h_stream},
    {"GET", "/ace/stat/", 1, h_stat},
    {"GET", "/ace/cmd/", 1, h_cmd},
    {NULL, NULL, 0, NULL},
};

int
sim_engine_main(void)
{
	long delay = sim_env_long("SIM_STARTUP_DELAY_MS", 0);

	cfg.port = sim_engine_port();
	if (cfg.port < 0) {
		fprintf(stderr, "sim: bad HTTP_PORT or --http-port in CONF\n");
		return 2;
	}
	cfg.bitrate_kbps = sim_env_long("SIM_BITRATE_KBPS", 2000);
	if (cfg.bitrate_kbps <= 0 || cfg.bitrate_kbps > 1000000)
		cfg.bitrate_kbps = 2000;
	cfg.fail_after_s = sim_env_long("SIM_HEALTH_FAIL_AFTER_S", -1);
	cfg.hang_after_s = sim_env_long("SIM_HEALTH_HANG_AFTER_S", -1);
	cfg.fault_file = getenv("SIM_FAULT_FILE");
	cfg.refuse = sim_env_long("SIM_REFUSE_GETSTREAM", 0) != 0;
	/* Not even listening during the delay, like an engine booting. */
	if (delay > 0)
		sim_sleep_ms(delay);
	cfg.start_ms = sim_now_ms();
	return sim_serve(engine_routes, cfg.port);
}
