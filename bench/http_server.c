/*
 * The server side of bench/http/run: the same in-process stack as
 * orchestratord (the core, the RPC server with orch_service_methods(), the
 * REST gateway calling the server's dispatch
 * table directly) without Docker, the engine manager or the prober, and
 * with engines put in state directly:
 *
 *   --engines N (default 10) managed engines, each with a 64-hex container
 *   id, the name acestream-<i>, the labels a provisioned engine carries,
 *   advertised and published on 127.0.0.1:<port-base + i>, and marked
 *   healthy by one probe. Docker and the image are reported available.
 *
 * It listens on 127.0.0.1 (port 0: the kernel's choice), prints
 * "port <n>" on stdout once the gateway answers, and serves until
 * SIGTERM or SIGINT. A watchdog (--max-seconds, default 300) ends it if
 * the script that started it never stops it.
 *
 *   bazel build -c opt //bench:http_server
 *   http_server [--engines N] [--port-base P] [--http-threads N]
 *               [--max-seconds S]
 *
 * See bench/README.md ("http").
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/engines.h"
#include "proto/orchestrator.pb-c.h"
#include "src/core/clock.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/core/state.h"
#include "src/gateway/gateway.h"
#include "src/rpc/server.h"
#include "src/service/service.h"

#define INPROC_URL "inproc://bench-http"

static int
put_engines(orch_core *core, const orch_config *cfg, int n, int port_base)
{
	orch_state *st = &core->state;
	int64_t now;
	int bad = 0;

	orch_core_lock(core);
	now = orch_core_now(core);
	for (int i = 0; i < n && !bad; i++) {
		orch_engine *e = bench_put_engine_locked(
		    core, (uint64_t) i, i + 1, port_base + i);

		if (e == NULL)
			bad = 1;
		else
			(void) orch_state_engine_probe(
			    st, e, true, cfg->health_failure_threshold, now);
	}
	if (!bad && (st->counts.engines != n || st->counts.healthy != n))
		bad = 1;
	orch_core_unlock(core);
	return bad ? -1 : 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: http_server [--engines N] [--port-base P] "
	           "[--http-threads N] [--max-seconds S]\n");
}

int
main(int argc, char **argv)
{
	int n_engines = 10, port_base = 19000, threads = 2, max_s = 300;
	orch_config cfg;
	orch_core core;
	bool core_up = false;
	orch_rpc_server *srv = NULL;
	orch_rpc_server_opts so = {0};
	orch_service svc = {0};
	orch_gw *gw = NULL;
	orch_gw_opts go = {0};
	orch_env env = {0};
	sigset_t set;
	int sig = 0, rv = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--engines") == 0 && i + 1 < argc)
			n_engines = atoi(argv[++i]);
		else if (strcmp(argv[i], "--port-base") == 0 && i + 1 < argc)
			port_base = atoi(argv[++i]);
		else if (strcmp(argv[i], "--http-threads") == 0 &&
		         i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc)
			max_s = atoi(argv[++i]);
		else {
			usage(stderr);
			return 2;
		}
	}
	if (n_engines < 1 || n_engines > 1000 || port_base < 1 ||
	    port_base + n_engines > 65535 || threads < 1 || max_s < 1) {
		usage(stderr);
		return 2;
	}

	/* Only sigwait() below takes these; the watchdog (SIGALRM) is left
	 * to its default action. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned) max_s);

	orch_config_defaults(&cfg);
	cfg.max_replicas =
	    n_engines > cfg.max_replicas ? n_engines : cfg.max_replicas;
	cfg.port_range_host.lo = port_base;
	cfg.port_range_host.hi = port_base + 999;
	if (orch_core_init(&core, &cfg, orch_clock_system(), NULL) !=
	    ORCH_OK) {
		fprintf(stderr, "http_server: orch_core_init failed\n");
		goto out;
	}
	core_up = true;
	env.docker_ok = true;
	env.image_ok = true;
	orch_core_set_env(&core, &env);
	if (put_engines(&core, &cfg, n_engines, port_base) != 0) {
		fprintf(
		    stderr, "http_server: cannot put %d engines\n", n_engines);
		goto out;
	}
	svc.core = &core; /* no runtime: its methods answer UNAVAILABLE */
	so.methods = orch_service_methods(&so.n_methods);
	so.authorize = orch_service_authorize;
	so.service = &orch__orchestrator__descriptor;
	so.arg = &svc;
	if (orch_rpc_server_open(&so, &srv) != ORCH_OK ||
	    orch_rpc_server_listen(srv, INPROC_URL) != ORCH_OK) {
		fprintf(stderr, "http_server: cannot start the RPC server\n");
		goto out;
	}
	go.host = "127.0.0.1";
	go.port = 0;
	go.threads = threads;
	go.direct = srv;
	go.generation = orch_core_generation_cb; /* as orchestratord */
	go.generation_arg = &core;
	if (orch_gw_start(&go, &gw) != ORCH_OK) {
		fprintf(stderr, "http_server: cannot start the gateway\n");
		goto out;
	}
	printf("port %d\n", orch_gw_port(gw));
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	rv = 0;
out:
	orch_gw_stop(gw);
	orch_rpc_server_close(srv);
	if (core_up)
		orch_core_fini(&core);
	orch_config_fini(&cfg);
	return rv;
}
