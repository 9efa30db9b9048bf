/*
 * Helpers for the simulator's conformance tests: start `sim` as a child on
 * a loopback port, talk HTTP to it with libcurl, stop it again.
 *
 * Children are registered so simtest_reap_all() (called from every group
 * teardown) kills whatever a failed assertion left running, and each child
 * asks the kernel for SIGKILL when the test process dies, so nothing is
 * orphaned even on a crash.
 */
#ifndef SIMTEST_H
#define SIMTEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct simtest_proc {
	pid_t pid;
	int port;
	char port_file[512];
};

/* Path of the sim binary in the test's runfiles (static storage). */
const char *simtest_sim_path(void);

/* Monotonic milliseconds. */
int64_t simtest_now_ms(void);

/* A loopback port that was free a moment ago. */
int simtest_free_port(void);

/*
 * Starts `sim <mode>` with a clean environment: env (NULL-terminated "K=V"
 * list, may be NULL) plus SIM_LISTEN_ADDR=127.0.0.1. With port 0 the sim
 * binds a kernel-chosen port and reports it through SIM_PORT_FILE; with
 * port > 0 the caller's env already names that port (HTTP_PORT, CONF...).
 * Waits up to wait_ms for it to accept connections (0: do not wait).
 * Returns 0, or -1 (nothing left running).
 */
int simtest_start(struct simtest_proc *p, const char *mode,
    const char *const *env, int port, int wait_ms);

/* Waits until the sim accepts a TCP connection; 0 or -1 on timeout. */
int simtest_wait_ready(struct simtest_proc *p, int wait_ms);

/* 1 when a TCP connect to 127.0.0.1:port succeeds now. */
int simtest_can_connect(int port);

/*
 * Sends sig, waits up to timeout_ms for exit. Returns the exit status
 * (WEXITSTATUS) or 128+signal, or -1 when it had to be killed. *elapsed_ms
 * (may be NULL) gets the time the exit took.
 */
int simtest_stop_sig(
    struct simtest_proc *p, int sig, int timeout_ms, int64_t *elapsed_ms);
void simtest_stop(struct simtest_proc *p);

/* SIGKILLs and reaps every child still registered. */
void simtest_reap_all(void);

/*
 * Runs argv (argv[0] a path) with env, waits up to timeout_ms. Returns the
 * exit status, or -1 on timeout/failure. *elapsed_ms may be NULL.
 */
int simtest_run(const char *const *argv, const char *const *env,
    int timeout_ms, int64_t *elapsed_ms);

/* One HTTP exchange. body and ctype are owned by the struct. */
struct simtest_resp {
	int curl_code; /* CURLcode; 0 on success */
	long status;
	char *body; /* NUL-terminated, never NULL after simtest_http */
	size_t len;
	char ctype[128];
	int chunked;                /* Transfer-Encoding: chunked seen */
	char www_authenticate[256]; /* that header's value, "" when none */
	int connect_count;
};

/*
 * method "GET"/"PUT"; req_body may be NULL; headers a NULL-terminated list
 * of extra request headers or NULL. Returns r->curl_code. Free with
 * simtest_resp_free.
 */
int simtest_http(struct simtest_resp *r, const char *method, const char *url,
    const char *req_body, const char *const *headers, long timeout_ms);
void simtest_resp_free(struct simtest_resp *r);

/*
 * GET http://127.0.0.1:<port><path>, parse JSON. Returns a new reference or
 * NULL; *status gets the HTTP status (0 on transport failure).
 */
json_t *simtest_get_json(int port, const char *path, long *status);

/* Connected blocking TCP socket to 127.0.0.1:port, or -1. */
int simtest_connect(int port);

/*
 * Raw-socket reader for checks below libcurl (chunk framing, keep-alive).
 * fd is owned by the caller.
 */
struct simtest_rd {
	int fd;
	char buf[65536];
	size_t len;
};

/* Reads more bytes; 1 data, 0 EOF, -1 timeout, error or buffer full. */
int simtest_rd_more(struct simtest_rd *r, int timeout_ms);

/* Takes one CRLF-terminated line (CRLF stripped); 0 or -1. */
int simtest_rd_line(
    struct simtest_rd *r, char *line, size_t sz, int timeout_ms);

/* Takes exactly n bytes (out may be NULL to discard); 0 or -1. */
int simtest_rd_exact(
    struct simtest_rd *r, void *out, size_t n, int timeout_ms);

/* Sends the whole string; 0 or -1. */
int simtest_send_str(int fd, const char *s);

/* Writes a temp file path unique to this process into buf. */
void simtest_tmp_path(char *buf, size_t bufsz, const char *name);

#endif
