/*
 * sim: a stand-in for the AceStream engine and for Gluetun's control server.
 *
 * The real engine image cannot be pulled here and Gluetun needs a VPN
 * account, so the orchestrator's tests talk to this program instead
 * (docs: /work/shared/ENGINE_PROTOCOL.md, tools/sim/README.md). It is one
 * static binary with no dependency beyond libc, so it can run as PID 1 in a
 * FROM scratch image. A thread serves each connection: the simulator must
 * keep answering while one connection hangs on purpose, and a blocking
 * thread is the simplest way to get that.
 *
 * It also stands in for Acexy (acexy.c) in the simulator compose stack
 * (deploy/docker-compose.sim.yml), where the real proxy's image cannot be
 * pulled: a proxy's calls to the orchestrator, not its streaming.
 *
 * Modules: http.c (request parsing, replies), server.c (listener, threads,
 * route dispatch), client.c (outgoing calls), engine.c, gluetun.c,
 * acexy.c, health.c (the healthcheck client), main.c (signals, mode
 * table).
 */
#ifndef SIM_H
#define SIM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_HEAD_MAX 8192 /* request line + headers */
#define SIM_BODY_MAX 4096 /* request body (only Gluetun's PUT has one) */
#define SIM_PATH_MAX 2048

/* One parsed request. Everything is NUL-terminated and owned by the struct. */
struct sim_req {
	char method[16];
	char path[SIM_PATH_MAX];  /* percent-decoded, query stripped */
	char query[SIM_PATH_MAX]; /* raw, without the '?' */
	char host[256];           /* Host header, "" when absent */
	char api_key[256];        /* X-API-Key header, "" when absent */
	char authorization[512];  /* Authorization header, "" when absent */
	int minor;                /* HTTP/1.<minor> */
	int keep_alive;           /* after the protocol default + Connection */
	char body[SIM_BODY_MAX + 1];
	size_t body_len;
};

/* One client connection; buf keeps bytes of pipelined requests. */
struct sim_conn {
	int fd;
	char buf[SIM_HEAD_MAX + SIM_BODY_MAX];
	size_t len;
	int close; /* set by a handler (or a reply) to end the connection */
};

/*
 * A handler answers r on c and returns the HTTP status it sent, for the log
 * (0 when it sent none, e.g. a simulated hang). Handlers may block: each
 * connection has its own thread.
 */
typedef int (*sim_handler)(struct sim_conn *c, const struct sim_req *r);

/* A route: exact path, or a path prefix when prefix is set. */
struct sim_route {
	const char *method;
	const char *path;
	int prefix;
	sim_handler handler;
};

/* http.c */
enum sim_rd {
	SIM_RD_OK,
	SIM_RD_EOF,    /* peer closed between requests */
	SIM_RD_BAD,    /* malformed request, or I/O error mid-request */
	SIM_RD_TOOBIG, /* head or body over the limits above */
};
enum sim_rd sim_http_read(struct sim_conn *c, struct sim_req *r);

/*
 * Finds key in a raw query string and writes its %-decoded value to out.
 * Returns 1 when found, 0 when absent, -1 when the value does not fit or is
 * not valid %-encoding.
 */
int sim_query_get(const char *query, const char *key, char *out, size_t outsz);

/* Decodes %XX (and '+' as space when plus is set); -1 on bad input/size. */
int sim_pct_decode(
    const char *in, size_t inlen, char *out, size_t outsz, int plus);

/*
 * Sends a complete response with Content-Length. Sets c->close when the
 * connection must end afterwards. Returns status, or 0 when sending failed.
 */
int sim_http_reply(struct sim_conn *c, const struct sim_req *r, int status,
    const char *ctype, const char *body);

/* As sim_http_reply, with extra header lines (each "Name: value\r\n";
 * NULL = none). */
int sim_http_reply_h(struct sim_conn *c, const struct sim_req *r, int status,
    const char *ctype, const char *headers, const char *body);

/* JSON reply shorthand. */
int sim_json_reply(
    struct sim_conn *c, const struct sim_req *r, int status, const char *body);

/* Writes all n bytes (no SIGPIPE); 0 on success, -1 on error. */
int sim_send_all(int fd, const void *p, size_t n);

/*
 * Waits up to timeout_ms for the peer to close, discarding what it sends.
 * Returns 1 when the peer is gone, 0 when it is still there.
 */
int sim_peer_gone(int fd, int timeout_ms);

/* Holds the connection open, answering nothing, until the peer leaves. */
int sim_hang(struct sim_conn *c);

/* server.c */
/*
 * Listens on SIM_LISTEN_ADDR (default 0.0.0.0) port and serves routes until
 * the process exits. Writes the bound port to SIM_PORT_FILE when set, so a
 * test can ask for port 0. Returns only on a setup error (exit code).
 */
int sim_serve(const struct sim_route *routes, int port);
extern int sim_bound_port; /* the port sim_serve listens on, once bound */

/* client.c: one blocking HTTP/1.0 call under a deadline. */
struct sim_call {
	const char *host; /* a name (getaddrinfo) or an IPv4 address */
	int port;
	const char *method; /* "GET", "POST" */
	const char *path;   /* with its query */
	const char *auth;   /* Authorization value, or NULL */
	const char *body;   /* JSON, or NULL */
	int timeout_ms;
};
struct sim_resp {
	int status;       /* of the status line */
	const char *body; /* into raw */
	char raw[16384];  /* the response as it came, cut at the size */
};
/* 0 when a response arrived (any status) before the deadline. */
int sim_http_call(const struct sim_call *call, struct sim_resp *resp);

/* Modes, each returning a process exit code. */
int sim_engine_main(void);
int sim_gluetun_main(void);
int sim_healthcheck_main(void);
int sim_acexy_main(void);

/* Ports the modes listen on, from their environment. -1 when invalid. */
int sim_engine_port(void);
int sim_gluetun_port(void);
int sim_acexy_port(void);

/* gluetun.c: the control server's credentials, for the healthcheck. The
 * X-API-Key value (SIM_API_KEY) or NULL; the Authorization value for
 * SIM_API_USER/SIM_API_PASSWORD ("Basic ...") into out, or 0 when unset. */
const char *sim_gluetun_api_key(void);
int sim_gluetun_basic(char *out, size_t outsz);
/* The status path the configured API generation answers. */
const char *sim_gluetun_status_path(void);

/* main.c: small shared helpers. */
int64_t sim_now_ms(void);
void sim_sleep_ms(int64_t ms);
/* Integer from the environment; dflt when unset, empty or not a number. */
long sim_env_long(const char *name, long dflt);
extern volatile sig_atomic_t sim_usr1_fail; /* toggled by SIGUSR1 */
extern int sim_log_enabled;                 /* SIM_LOG=1 */

#endif
