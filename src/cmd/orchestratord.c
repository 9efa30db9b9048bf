/*
 * orchestratord: the orchestrator's one binary. Today it runs the RPC server
 * (on inproc://orchestrator for an in-process gateway, and on every
 * RPC_LISTEN / --rpc-listen URL) with the core's handler set
 * (src/core/service.c); the runtime and gateway join it as their issues
 * land.
 *
 * The main thread only waits for SIGINT/SIGTERM; all work happens on the
 * RPC server's threads. Shutdown has a watchdog because nng 1.5.2 can miss a
 * wake-up in nng_close() (nng issue #1543): a stuck close must not keep a
 * stopped service alive.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/bounded.h"
#include "src/base/log.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/core/service.h"
#include "src/engines/manager.h"
#include "src/engines/monitor.h"
#include "src/engines/service.h"
#include "src/gateway/gateway.h"
#include "src/runtime/docker.h"
#include "src/rpc/server.h"

#define DEFAULT_RPC_LISTEN "tcp://127.0.0.1:7600" /* config default */
#define INPROC_URL "inproc://orchestrator"
#define MAX_URLS 8

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: orchestratord [--rpc-listen URL]... [--cleanup-on-exit]\n"
	    "\n"
	    "  --rpc-listen URL   nng URL the RPC server listens on (repeatable;\n"
	    "                     default: $RPC_LISTEN, comma-separated, else\n"
	    "                     " DEFAULT_RPC_LISTEN ")\n"
	    "  --http-threads N   gateway event loops (default: one per CPU)\n"
	    "  --port-file PATH   write the gateway's port there once it\n"
	    "                     listens (APP_PORT=0 picks a free one)\n"
	    "  --cleanup-on-exit  stop and remove every managed engine on exit\n"
	    "                     (by default engines outlive the orchestrator\n"
	    "                     and are adopted at the next start)\n"
	    "\n"
	    "Configuration: the environment, then ./.env for variables the\n"
	    "environment does not set (CONTRACT.md's configuration table).\n");
}

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
	return "leak:h2o_mem_alloc_recycle\nleak:h2o_multithread_create_queue\n";
}

int
main(int argc, char **argv)
{
	extern char **environ;
	const char *urls[MAX_URLS];
	int nurls = 0, sig = 0, rv = 1;
	orch_rpc_server *srv = NULL;
	orch_rpc_server_opts opts = {0};
	orch_config cfg = {0};
	orch_core core;
	bool core_up = false, cleanup = false;
	orch_docker *docker = NULL;
	orch_mgr *mgr = NULL;
	orch_monitor *mon = NULL;
	orch_gw *gw = NULL;
	int gw_threads = 0;
	const char *port_file = NULL;
	orch_rpc_method *methods = NULL;
	char err[512];
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rpc-listen") == 0 && i + 1 < argc) {
			if (nurls >= MAX_URLS) {
				fprintf(stderr, "--rpc-listen: at most %d\n",
				    MAX_URLS);
				return 2;
			}
			urls[nurls++] = argv[++i];
		} else if (strcmp(argv[i], "--http-threads") == 0 && i + 1 < argc) {
			gw_threads = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
			port_file = argv[++i];
		} else if (strcmp(argv[i], "--cleanup-on-exit") == 0) {
			cleanup = true;
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
	/* A bad value stops the process with one line naming it. */
	if (orch_config_load(&cfg, (const char *const *) environ, ".env", err,
	        sizeof(err)) != ORCH_OK) {
		fprintf(stderr, "orchestratord: %s\n", err);
		return 2;
	}
	orch_log_set_level(cfg.log_level);
	if (cfg.api_key == NULL)
		ORCH_WARN("API_KEY is not set: mutating calls are not "
		          "authenticated");
	if (nurls == 0) {
		for (size_t i = 0; i < cfg.rpc_listen_n && i < MAX_URLS; i++)
			urls[nurls++] = cfg.rpc_listen[i];
	}

	/* The health prober keeps one connection per engine in flight
	 * (docs/PROBE.md): 1,000 engines need more than the usual soft limit
	 * of 1,024 descriptors. Raise it to the hard limit. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void) setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	/* Block the signals before any thread starts, so that only sigwait()
	 * below receives them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A peer that closes its HTTP or RPC connection must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	opts.service = &orch__orchestrator__descriptor;
	if (orch_core_init(&core, &cfg, orch_clock_system(), NULL) != ORCH_OK) {
		fprintf(stderr, "orchestratord: out of memory\n");
		goto out;
	}
	core_up = true;
	/* Docker: the manager adopts the running engines before the RPC
	 * server answers, so the first /engines already lists them. Docker
	 * being down is not fatal: reads are answered and provisioning is
	 * refused (docker_unavailable) until it comes back. */
	if (orch_docker_open(cfg.docker_host, 0, &docker) != ORCH_OK) {
		fprintf(stderr, "orchestratord: DOCKER_HOST %s: cannot open\n",
		    cfg.docker_host);
		goto out;
	}
	{
		orch_mgr_opts mo = {0};
		orch_runtime rt;

		/* The manager sees Docker only as a runtime ops table. */
		orch_docker_runtime(docker, &rt);
		mo.core = &core;
		mo.rt = &rt;
		if (orch_mgr_open(&mo, &mgr) != ORCH_OK ||
		    orch_mgr_start(mgr) != ORCH_OK) {
			fprintf(stderr, "orchestratord: cannot start the engine "
			                "manager\n");
			goto out;
		}
		core.runtime = mgr;
	}
	if (orch_monitor_open(&core, &mon) != ORCH_OK ||
	    orch_monitor_start(mon) != ORCH_OK) {
		fprintf(stderr, "orchestratord: cannot start the health "
		                "monitor\n");
		goto out;
	}
	{
		size_t nc, ne;
		const orch_rpc_method *cm = orch_core_methods(&nc);
		const orch_rpc_method *em = orch_engines_methods(&ne);

		methods = calloc(nc + ne, sizeof(*methods));
		if (methods == NULL)
			goto out;
		memcpy(methods, cm, nc * sizeof(*methods));
		memcpy(methods + nc, em, ne * sizeof(*methods));
		opts.methods = methods;
		opts.n_methods = nc + ne;
	}
	opts.arg = &core;
	if (orch_rpc_server_open(&opts, &srv) != ORCH_OK ||
	    orch_rpc_server_listen(srv, INPROC_URL) != ORCH_OK)
		goto out;
	for (int i = 0; i < nurls; i++) {
		if (orch_rpc_server_listen(srv, urls[i]) != ORCH_OK) {
			fprintf(stderr, "orchestratord: cannot listen on %s "
			                "(RPC_LISTEN / --rpc-listen)\n",
			    urls[i]);
			goto out;
		}
		ORCH_INFO("rpc: listening on %s", urls[i]);
	}
	{
		/* The REST gateway, in this process: direct calls into the
		 * same dispatch table, no socket hop (docs/GATEWAY.md). */
		orch_gw_opts go = {0};

		go.host = cfg.app_host;
		go.port = cfg.app_port;
		go.threads = gw_threads;
		go.cors_origins = cfg.cors_origins;
		go.direct = srv;
		if (orch_gw_start(&go, &gw) != ORCH_OK) {
			fprintf(stderr, "orchestratord: cannot listen on %s:%d "
			                "(APP_HOST / APP_PORT)\n",
			    cfg.app_host, cfg.app_port);
			goto out;
		}
		if (port_file != NULL) {
			FILE *f = fopen(port_file, "w");

			if (f != NULL) {
				fprintf(f, "%d\n", orch_gw_port(gw));
				fclose(f);
			}
		}
	}
	ORCH_INFO("orchestratord ready (pid %d)", (int) getpid());

	while (sigwait(&set, &sig) != 0)
		;
	ORCH_INFO("signal %d: shutting down", sig);
	rv = 0;
out:
	/* The gateway first: no call may start once the server closes. */
	orch_gw_stop(gw);
	if (srv != NULL) {
		/* nng #1543: give close 5 s, then leave it to process exit. */
		if (!orch_run_bounded(close_server, srv, 5000)) {
			ORCH_WARN("rpc: close timed out; exiting");
			_exit(rv);
		}
	}
	/* The server first (no handler runs after it), then the manager's
	 * threads; engines keep running unless --cleanup-on-exit. */
	if (mgr != NULL && cleanup) {
		ORCH_INFO("--cleanup-on-exit: removing managed engines");
		orch_mgr_cleanup(mgr);
	}
	orch_monitor_close(mon);
	orch_mgr_close(mgr);
	orch_docker_close(docker);
	free(methods);
	if (core_up)
		orch_core_fini(&core);
	orch_config_fini(&cfg);
	return rv;
}
