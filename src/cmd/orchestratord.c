/*
 * orchestratord: the orchestrator's one binary. It runs the core, the engine
 * manager over Docker (adoption, events, control loop), the health monitor,
 * the VPN monitor (GLUETUN_CONTAINER_NAME),
 * the RPC server with the service's method table (src/service; on
 * inproc://orchestrator and every RPC_LISTEN / --rpc-listen URL) and the
 * REST gateway, which calls the same table in-process. At start it finds
 * out whether it runs in a container and tells the monitor where probes
 * go from there (src/engines/reach.h). `orchestratord healthcheck` is the
 * image's HEALTHCHECK (src/cmd/healthcheck.h); --version prints the
 * version, git revision and build mode.
 *
 * The SQLite store (src/store, DB_PATH) comes first: a database that
 * cannot be used stops the process with one line and exit status 2
 * (unless --reset-db), and what it holds is restored into the core before
 * the manager's first reconcile adopts the engines, so a restarted
 * orchestrator carries on with the same streams on the same engines.
 *
 * The main thread only starts the parts in order and waits for
 * SIGINT/SIGTERM; all work happens on their threads. Shutdown has a watchdog
 * because nng 1.5.2 can miss a wake-up in nng_close() (nng issue #1543): a
 * stuck close must not keep a stopped service alive.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/bounded.h"
#include "src/base/log.h"
#include "src/base/version.h"
#include "src/cmd/healthcheck.h"
#include "src/cmd/stamp.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/engines/manager.h"
#include "src/engines/monitor.h"
#include "src/engines/reach.h"
#include "src/engines/vpn.h"
#include "src/gateway/gateway.h"
#include "src/rpc/server.h"
#include "src/runtime/docker.h"
#include "src/runtime/self.h"
#include "src/service/service.h"
#include "src/store/store.h"

#define DEFAULT_RPC_LISTEN "tcp://127.0.0.1:7600" /* config default */
#define INPROC_URL "inproc://orchestrator"
#define MAX_URLS 8

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: orchestratord [--rpc-listen URL]... [--cleanup-on-exit] "
	    "[--reset-db]\n"
	    "       orchestratord --version\n"
	    "       orchestratord healthcheck   (exit 0 when its own "
	    "/healthz answers)\n"
	    "\n"
	    "  --rpc-listen URL   nng URL the RPC server listens on "
	    "(repeatable;\n"
	    "                     default: $RPC_LISTEN, comma-separated, "
	    "else\n"
	    "                     " DEFAULT_RPC_LISTEN ")\n"
	    "  --http-threads N   gateway event loops (default: one per CPU)\n"
	    "  --port-file PATH   write the gateway's port there once it\n"
	    "                     listens (APP_PORT=0 picks a free one)\n"
	    "  --cleanup-on-exit  stop and remove every managed engine on "
	    "exit\n"
	    "                     (by default engines outlive the "
	    "orchestrator\n"
	    "                     and are adopted at the next start)\n"
	    "  --reset-db         a database at DB_PATH that cannot be used\n"
	    "                     (corrupt, unreadable, from a newer "
	    "release) is\n"
	    "                     moved aside (<file>.broken-<time>, never\n"
	    "                     deleted) and a new one made; without it "
	    "such a\n"
	    "                     file stops orchestratord (exit status 2)\n"
	    "  --version          print the version, git revision and build\n"
	    "                     mode, and exit\n"
	    "\n"
	    "Configuration: the environment, then ./.env for variables the\n"
	    "environment does not set (CONTRACT.md's configuration table).\n");
}

/* The store's flush at exit: part of SIGTERM's 2 s. */
#define STORE_FLUSH_MS 1000
/* How long the RPC server's close may take: it waits for the handlers
 * running, and a DELETE of an engine that ignores SIGTERM waits out the
 * engine's stop timeout, then its kill and removal. The bound exists for
 * nng #1543 (a close that never returns), not for them: at 5 s a DELETE
 * taking 5.1 s lost its answer to the _exit. Within compose's 10 s
 * stop_grace_period and the unit's TimeoutStopSec=15. */
#define CLOSE_BOUND_MS (ORCH_MGR_STOP_TIMEOUT_S * 1000 + 3000)

static void
close_server(void *srv)
{
	orch_rpc_server_close(srv);
}

/*
 * LeakSanitizer (--config=asan): h2o 2.2 keeps per-thread recycle caches
 * (memory pool chunks, socket buffers) and its multithread queues' small
 * structs with no call to release them when a loop thread ends. Only
 * those two h2o allocation sites are exempt; everything of ours is still
 * checked.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:h2o_mem_alloc_recycle\nleak:h2o_multithread_create_"
	       "queue\n";
}

/* What the command line says. */
struct args {
	const char *urls[MAX_URLS];
	int nurls;
	int gw_threads;
	const char *port_file;
	bool cleanup;
	bool reset_db;
};

/* Everything main starts, in start order; stopped in reverse. */
struct daemon {
	orch_config cfg;
	orch_core core;
	bool core_up;
	orch_store *store;
	orch_docker *docker;
	orch_mgr *mgr;
	orch_monitor *mon;
	orch_vpnmon *vpn;
	orch_reach reach; /* where probes go, decided at start */
	orch_service svc;
	orch_rpc_server *srv;
	orch_gw *gw;
};

/* Returns -1 to go on, else the exit code. */
static int
parse_args(int argc, char **argv, struct args *a)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rpc-listen") == 0 && i + 1 < argc) {
			if (a->nurls >= MAX_URLS) {
				fprintf(stderr, "--rpc-listen: at most %d\n",
				    MAX_URLS);
				return 2;
			}
			a->urls[a->nurls++] = argv[++i];
		} else if (strcmp(argv[i], "--http-threads") == 0 &&
		           i + 1 < argc) {
			a->gw_threads = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--port-file") == 0 &&
		           i + 1 < argc) {
			a->port_file = argv[++i];
		} else if (strcmp(argv[i], "--cleanup-on-exit") == 0) {
			a->cleanup = true;
		} else if (strcmp(argv[i], "--reset-db") == 0) {
			a->reset_db = true;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("orchestratord %s (revision %s, build %s)\n",
			    orch_version(), orch_stamp_revision(),
			    orch_build_mode());
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 ||
		           strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "orchestratord: unknown argument %s\n",
			    argv[i]);
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* The health prober keeps one connection per engine in flight
 * (docs/PROBE.md): 1,000 engines need more than the usual soft limit of
 * 1,024 descriptors. Raise it to the hard limit. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A Docker socket this user may not open is the first thing a non-root
 * container meets: say which group it needs. */
static void
check_socket(const char *docker_host)
{
	const char *path;
	struct stat st;

	if (strncmp(docker_host, "unix://", 7) != 0)
		return;
	path = docker_host + 7;
	if (access(path, R_OK | W_OK) == 0 || errno != EACCES)
		return;
	if (stat(path, &st) != 0)
		st.st_gid = (gid_t) -1;
	ORCH_WARN("DOCKER_HOST %s: permission denied for uid %d gid %d; the "
	          "socket's group is %d: run with that group added "
	          "(docker run --group-add %d; compose: DOCKER_GID=%d)",
	    path, (int) getuid(), (int) getgid(), (int) st.st_gid,
	    (int) st.st_gid, (int) st.st_gid);
}

/* Where the probes go (engines and the Gluetun control servers), decided
 * once: on the host, or from inside a container (src/engines/reach.h);
 * said at start, as a warning when the probes cannot work. */
static void
set_reach(struct daemon *d, const orch_runtime *rt)
{
	orch_rt_self self;
	orch_reach *r = &d->reach;

	orch_rt_self_detect(rt, NULL, &self);
	orch_reach_decide(&d->cfg, &self, r);
	if (r->ok)
		ORCH_INFO(
		    "probes: %s: %s", orch_reach_mode_name(r->mode), r->why);
	else
		ORCH_WARN(
		    "probes: %s: %s", orch_reach_mode_name(r->mode), r->why);
	orch_monitor_set_reach(d->mon, r);
	orch_rt_self_fini(&self);
}

/* Docker, the manager and the monitor. The manager adopts the running
 * engines before the RPC server answers, so the first /engines already
 * lists them. Docker being down is not fatal: reads are answered and
 * provisioning is refused (docker_unavailable) until it comes back. */
static bool
start_engines(struct daemon *d)
{
	orch_mgr_opts mo = {0};
	orch_vpnmon_opts vo = {0};
	orch_runtime rt;

	check_socket(d->cfg.docker_host);
	if (orch_docker_open(d->cfg.docker_host, 0, &d->docker) != ORCH_OK) {
		fprintf(stderr, "orchestratord: DOCKER_HOST %s: cannot open\n",
		    d->cfg.docker_host);
		return false;
	}
	/* The manager sees Docker only as a runtime ops table (copied). */
	orch_docker_runtime(d->docker, &rt);
	mo.core = &d->core;
	mo.rt = &rt;
	if (orch_mgr_open(&mo, &d->mgr) != ORCH_OK ||
	    orch_mgr_start(d->mgr) != ORCH_OK) {
		fprintf(stderr, "orchestratord: cannot start the engine "
		                "manager\n");
		return false;
	}
	if (orch_monitor_open(&d->core, &d->mon) != ORCH_OK) {
		fprintf(stderr, "orchestratord: cannot start the health "
		                "monitor\n");
		return false;
	}
	set_reach(d, &rt);
	if (orch_monitor_start(d->mon) != ORCH_OK) {
		fprintf(stderr, "orchestratord: cannot start the health "
		                "monitor\n");
		return false;
	}
	/* VPN mode: the first check runs here, so the first request is
	 * already gated on what Gluetun says. */
	vo.core = &d->core;
	vo.mgr = d->mgr;
	vo.reach = &d->reach;
	if (orch_vpnmon_open(&vo, &d->vpn) != ORCH_OK ||
	    orch_vpnmon_start(d->vpn) != ORCH_OK) {
		fprintf(stderr, "orchestratord: cannot start the VPN "
		                "monitor\n");
		return false;
	}
	return true;
}

/* The RPC server over the service's table, on inproc and every URL. */
static bool
start_rpc(struct daemon *d, const struct args *a)
{
	orch_rpc_server_opts opts = {0};

	d->svc.core = &d->core;
	d->svc.mgr = d->mgr;
	d->svc.store = d->store;
	d->svc.revision = orch_stamp_revision();
	opts.service = &orch__orchestrator__descriptor;
	opts.methods = orch_service_methods(&opts.n_methods);
	opts.arg = &d->svc;
	opts.authorize = orch_service_authorize;
	if (orch_rpc_server_open(&opts, &d->srv) != ORCH_OK ||
	    orch_rpc_server_listen(d->srv, INPROC_URL) != ORCH_OK)
		return false;
	for (int i = 0; i < a->nurls; i++) {
		if (orch_rpc_server_listen(d->srv, a->urls[i]) != ORCH_OK) {
			fprintf(stderr,
			    "orchestratord: cannot listen on %s "
			    "(RPC_LISTEN / --rpc-listen)\n",
			    a->urls[i]);
			return false;
		}
		ORCH_INFO("rpc: listening on %s", a->urls[i]);
	}
	return true;
}

/* The REST gateway, in this process: direct calls into the same dispatch
 * table, no socket hop (docs/GATEWAY.md). */
static bool
start_gateway(struct daemon *d, const struct args *a)
{
	orch_gw_opts go = {0};

	go.host = d->cfg.app_host;
	go.port = d->cfg.app_port;
	go.threads = a->gw_threads;
	go.cors_origins = d->cfg.cors_origins;
	go.direct = d->srv;
	/* Polled reads are rendered once per change (docs/GATEWAY.md). */
	go.generation = orch_core_generation_cb;
	go.generation_arg = &d->core;
	if (orch_gw_start(&go, &d->gw) != ORCH_OK) {
		fprintf(stderr,
		    "orchestratord: cannot listen on %s:%d "
		    "(APP_HOST / APP_PORT)\n",
		    d->cfg.app_host, d->cfg.app_port);
		return false;
	}
	/* Once listening, so that APP_PORT=0 shows the port it took. */
	if (d->cfg.api_key == NULL)
		ORCH_WARN(
		    "API_KEY is not set: the mutating API (provision, "
		    "scale, gc, delete, stream events, breaker reset) is "
		    "open to every client that can reach %s:%d "
		    "(APP_HOST:APP_PORT) or the RPC listeners",
		    d->cfg.app_host, orch_gw_port(d->gw));
	if (a->port_file != NULL) {
		FILE *f = fopen(a->port_file, "w");

		if (f != NULL) {
			fprintf(f, "%d\n", orch_gw_port(d->gw));
			fclose(f);
		}
	}
	return true;
}

/* DB_PATH: opened (created, migrated) before anything else runs. Returns
 * false with the one line already printed. */
static bool
open_store(struct daemon *d, const struct args *a)
{
	orch_store_opts so = {0};
	orch_diag diag;

	so.path = d->cfg.db_path;
	so.cfg = &d->cfg;
	so.reset = a->reset_db;
	if (orch_store_open(&so, &d->store, &diag) != ORCH_OK) {
		fprintf(stderr, "orchestratord: %s\n", diag.msg);
		return false;
	}
	return true;
}

/* The configuration at start, for the event log (no secret in it). */
static void
log_config(struct daemon *d)
{
	const orch_config *c = &d->cfg;
	char minr[16], maxr[16], per[16], grace[16], ret[16], hist[16];
	orch_kv kv[] = {
	    {"TARGET_IMAGE", c->target_image},
	    {"MIN_REPLICAS", minr},
	    {"MAX_REPLICAS", maxr},
	    {"MAX_STREAMS_PER_ENGINE", per},
	    {"AUTO_DELETE", c->auto_delete ? "true" : "false"},
	    {"ENGINE_GRACE_PERIOD_S", grace},
	    {"GLUETUN_CONTAINER_NAME", c->gluetun_container_name != NULL
	                                   ? c->gluetun_container_name
	                                   : ""},
	    {"DB_PATH", c->db_path},
	    {"STATS_RETENTION_S", ret},
	    {"HISTORY_RETENTION_S", hist},
	    {"API_KEY", c->api_key != NULL ? "set" : "unset"},
	    {"READ_API_KEY", c->read_api_key != NULL ? "set" : "unset"},
	};

	snprintf(minr, sizeof(minr), "%d", c->min_replicas);
	snprintf(maxr, sizeof(maxr), "%d", c->max_replicas);
	snprintf(per, sizeof(per), "%d", c->max_streams_per_engine);
	snprintf(grace, sizeof(grace), "%d", c->engine_grace_period_s);
	snprintf(ret, sizeof(ret), "%d", c->stats_retention_s);
	snprintf(hist, sizeof(hist), "%d", c->history_retention_s);
	orch_core_log(&d->core, ORCH_LOG_CONFIG, NULL, NULL, kv,
	    sizeof(kv) / sizeof(kv[0]));
}

/* What the database holds goes back into the core, then the store
 * listens to it. Before the manager: its first reconcile's adoptions
 * take their streams back (src/core/restore.h). */
static bool
restore_store(struct daemon *d)
{
	orch_restore_counts c;
	orch_diag diag;
	char pid[16], ended[24], pending[24], res[24];
	orch_kv kv[] = {{"pid", pid}, {"streams_waiting", pending},
	    {"streams_ended", ended}, {"reservations_waiting", res}};

	if (orch_store_restore(d->store, &d->core, &c, &diag) != ORCH_OK) {
		fprintf(stderr, "orchestratord: %s\n", diag.msg);
		return false;
	}
	if (orch_store_start(d->store, &d->core) != ORCH_OK) {
		fprintf(stderr, "orchestratord: cannot start the store's "
		                "writer\n");
		return false;
	}
	ORCH_INFO("store: %s: %zu active streams waiting for their engines, "
	          "%zu ended restored",
	    d->cfg.db_path, c.streams_pending + c.streams_active,
	    c.streams_ended);
	snprintf(pid, sizeof(pid), "%d", (int) getpid());
	snprintf(pending, sizeof(pending), "%zu",
	    c.streams_pending + c.streams_active);
	snprintf(ended, sizeof(ended), "%zu", c.streams_ended);
	snprintf(res, sizeof(res), "%zu", c.reservations_pending);
	log_config(d);
	orch_core_log(&d->core, ORCH_LOG_STARTED, NULL, NULL, kv,
	    sizeof(kv) / sizeof(kv[0]));
	return true;
}

/* Stops what started, in reverse; exits at once (rv) when nng's close
 * hangs. */
static void
stop_all(struct daemon *d, const struct args *a, int rv)
{
	/* No new HTTP request calls in; then the server closes: queued
	 * calls are answered at once (ECLOSED), running ones finish and its
	 * workers are joined, every answer reaching a gateway loop that
	 * still runs; only then are the loops freed. (The other order let a
	 * slow DELETE answer into freed loops.) nng #1543: give the close
	 * CLOSE_BOUND_MS, then leave it to process exit. */
	orch_gw_quiesce(d->gw);
	if (d->srv != NULL &&
	    !orch_run_bounded(close_server, d->srv, CLOSE_BOUND_MS)) {
		ORCH_WARN("rpc: close timed out; exiting");
		_exit(rv);
	}
	orch_gw_stop(d->gw);
	/* The server first (no handler runs after it), then the manager's
	 * threads; engines keep running unless --cleanup-on-exit. */
	if (d->mgr != NULL && a->cleanup) {
		ORCH_INFO("--cleanup-on-exit: removing managed engines");
		orch_mgr_cleanup(d->mgr);
	}
	orch_vpnmon_close(d->vpn);
	orch_monitor_close(d->mon);
	orch_mgr_close(d->mgr);
	orch_docker_close(d->docker);
	/* Nothing changes the core any more: what is queued is committed
	 * (well within SIGTERM's 2 s), then the file is closed. */
	orch_store_close(d->store, STORE_FLUSH_MS);
	if (d->core_up)
		orch_core_fini(&d->core);
	orch_config_fini(&d->cfg);
}

int
main(int argc, char **argv)
{
	extern char **environ;
	struct args a = {0};
	struct daemon d = {0};
	int sig = 0, rv;
	orch_diag diag;
	sigset_t set;

	/* The image's HEALTHCHECK: a process of its own, never the daemon. */
	if (argc == 2 && strcmp(argv[1], "healthcheck") == 0)
		return orch_cmd_healthcheck();
	if ((rv = parse_args(argc, argv, &a)) >= 0)
		return rv;
	/* A bad value stops the process with one line naming it. */
	if (orch_config_load(&d.cfg, (const char *const *) environ, ".env",
	        &diag) != ORCH_OK) {
		fprintf(stderr, "orchestratord: %s\n", diag.msg);
		return 2;
	}
	orch_log_set_level(d.cfg.log_level);
	/* The database before anything else: a bad one is one line, exit
	 * 2, and nothing started. */
	if (!open_store(&d, &a)) {
		orch_config_fini(&d.cfg);
		return 2;
	}
	if (a.nurls == 0) {
		for (size_t i = 0; i < d.cfg.rpc_listen_n && i < MAX_URLS; i++)
			a.urls[a.nurls++] = d.cfg.rpc_listen[i];
	}
	raise_nofile();
	/* Block the signals before any thread starts, so that only sigwait()
	 * below receives them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A peer that closes its HTTP or RPC connection must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	rv = 1;
	if (orch_core_init(&d.core, &d.cfg, orch_clock_system(), NULL) !=
	    ORCH_OK) {
		fprintf(stderr, "orchestratord: out of memory\n");
		goto out;
	}
	d.core_up = true;
	if (!restore_store(&d)) {
		rv = 2;
		goto out;
	}
	if (!start_engines(&d) || !start_rpc(&d, &a) || !start_gateway(&d, &a))
		goto out;
	ORCH_INFO("orchestratord ready (pid %d)", (int) getpid());
	while (sigwait(&set, &sig) != 0)
		;
	ORCH_INFO("signal %d: shutting down", sig);
	{
		char sn[16];
		orch_kv kv[] = {{"signal", sn}};

		snprintf(sn, sizeof(sn), "%d", sig);
		orch_core_log(&d.core, ORCH_LOG_STOPPING, NULL, NULL, kv, 1);
	}
	rv = 0;
out:
	stop_all(&d, &a, rv);
	return rv;
}
