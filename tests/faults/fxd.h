/*
 * The fault suite's harness (faults_test.c): one real orchestratord per
 * case, started in a private temporary directory with its own
 * CONTAINER_LABEL, ENGINE_NAME_PREFIX and a slice of the suite's port
 * ranges (PORT_RANGE_HOST 31500-31599, ACE_HTTPS_RANGE 47500-47599: no
 * other test uses them), plus the Docker Engine API calls the cases make
 * themselves (pause, signals, events, commit) over the daemon's unix
 * socket, and the counts a case compares before and after a fault.
 *
 * Everything asserts with cmocka, so it is only for the thread running a
 * case. A case owns one fxd (fxd_init in setup, fxd_fini in teardown);
 * fxd_fini removes every container carrying the case's label and nothing
 * else.
 *
 * The launcher serves other suites that run the real daemon too
 * (tests/gateway/acexy_flow_test): fxd_init_iso gives their daemon an
 * isolation of their own instead of one of the fault suite's slots.
 */
#ifndef ORCH_TESTS_FAULTS_FXD_H
#define ORCH_TESTS_FAULTS_FXD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "src/runtime/docker.h"
#include "tests/gateway/gwtest.h"

#define FXD_IMAGE "acestream-sim:latest"
#define FXD_LABEL_KEY "orchestrator.test"
#define FXD_API_KEY "faults-key"
#define FXD_BEARER "Bearer " FXD_API_KEY
/* Each case gets FXD_SLICE ports of each range, by its slot. */
#define FXD_HTTP_BASE 31500
#define FXD_HTTPS_BASE 47500
#define FXD_SLICE 12

typedef struct fxd {
	int slot; /* 0..7: which slice of the port ranges (-1: fxd_init_iso) */
	char name[24];
	char dir_tag[16]; /* the directory is /tmp/<dir_tag>-XXXXXX */
	char dir[64];
	char api_key[48];
	char bearer[64]; /* "Bearer <api_key>", for the REST calls below */
	char label_val[80];
	char label[128];
	char prefix[32];
	int http_lo, http_hi, https_lo, https_hi;
	pid_t pid;
	int port;
	gwt_client c;
	bool up;
	char log_path[128];
	int64_t ready_ms; /* fxd_start: spawn to /healthz (and ready) */
} fxd;

/* The daemon binary (argv[1]) and Docker's socket, once per process. */
void fxd_global(const char *daemon_arg);
bool fxd_enabled(void);    /* ORCH_TEST_DOCKER set and setup went well */
const char *fxd_run(void); /* "<pid>-<random>", unique per run */
orch_docker *fxd_docker(void);

void fxd_init(fxd *f, int slot, const char *name);

/* A daemon's isolation outside the fault suite's slots (strings copied):
 * CONTAINER_LABEL orchestrator.test=<label_val>, ENGINE_NAME_PREFIX, the
 * two port ranges, API_KEY, and the tag of its temporary directory (keep
 * it short: the ipc:// path there must fit sun_path). */
typedef struct fxd_iso {
	const char *label_val;
	const char *prefix;
	int http_lo, http_hi, https_lo, https_hi;
	const char *api_key;
	const char *dir_tag;
} fxd_iso;
void fxd_init_iso(fxd *f, const char *name, const fxd_iso *iso);

/* Starts the daemon with env (NULL-terminated "K=V", these win over the
 * defaults; a bare "K" drops the default K, leaving the daemon's own) and
 * waits for /healthz; with ready, also for can_provision. */
void fxd_start(fxd *f, const char *const *env, bool ready);
/* SIGTERM and the exit status (-1: it did not exit within ms). */
int fxd_stop(fxd *f, int ms);
void fxd_fini(fxd *f);
void fxd_log_tail(const fxd *f);

/* ---- REST ---- */
long fxd_get(fxd *f, const char *path, gwt_resp *r);
long fxd_post(fxd *f, const char *path, const char *body, gwt_resp *r);
long fxd_delete(fxd *f, const char *path, gwt_resp *r);
/* A metric's sum (gwt_prom_sum with exact labels). */
double fxd_metric(fxd *f, const char *name, const char *labels);
/* /health/status's general breaker: state copied into st, failures. */
long fxd_breaker(fxd *f, char *st, size_t cap);
/* GET /engines: the count; the ids into ids[cap][80] when not NULL. */
int fxd_engines(fxd *f, char (*ids)[80], int cap);
/* health_status of one engine ("" when not listed). */
void fxd_engine_health(fxd *f, const char *id, char *out, size_t cap);
/* Active streams of one engine. */
int fxd_active_streams(fxd *f, const char *id);
/* POST /provision/acestream with body; 200: the id and port. */
long fxd_provision(fxd *f, const char *body, char *id, size_t cap, int *port);
/* A real session on the engine and its stream_started; the stream id. */
void fxd_stream_on(
    fxd *f, const char *id, int port, const char *key, char *sid, size_t cap);

/* ---- Docker ---- */
/* Containers carrying the case's label (-1: the list failed); with
 * state, only those in that state ("exited", "running", ...). */
int fxd_count(fxd *f, const char *state);
/* A raw Engine API call; *out (may be NULL) the body, caller frees. */
long fxd_dk(
    const char *method, const char *path, const char *body, char **out);
void fxd_dk_ok(const char *method, const char *path);
/* Docker's events of one container named event (start, kill, ...)
 * since the Unix time since, up to now; with attr ("signal":"15"), only
 * those whose text holds it. */
int fxd_dk_events(
    const char *id, const char *event, long since, const char *attr);

/* ---- waiting ---- */
typedef bool (*fxd_cond)(fxd *f, void *arg);
/* Polls cond every 100 ms until it holds (returns the ms it took) or
 * the deadline passes (fails the case with what). */
int64_t fxd_wait(fxd *f, int ms, fxd_cond cond, void *arg, const char *what);

#endif
