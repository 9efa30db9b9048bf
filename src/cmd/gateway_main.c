/*
 * orchestrator-gateway: the REST gateway alone, translating HTTP/JSON into
 * RPC calls to a remote core over nng:
 *
 *   orchestrator-gateway --rpc-connect tcp://core:7600 [--http-threads N]
 *
 * APP_HOST, APP_PORT, CORS_ORIGINS and LOG_LEVEL come from the environment
 * (and ./.env) as for orchestratord; the API keys are not needed here:
 * the core judges the Authorization header the gateway forwards.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/base/log.h"
#include "src/base/version.h"
#include "src/cmd/stamp.h"
#include "src/core/config.h"
#include "src/gateway/gateway.h"

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

int
main(int argc, char **argv)
{
	extern char **environ;
	const char *connect = NULL;
	int threads = 0, sig = 0, rv = 1;
	orch_config cfg = {0};
	orch_gw_opts go = {0};
	orch_gw *gw = NULL;
	orch_diag diag;
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rpc-connect") == 0 && i + 1 < argc) {
			connect = argv[++i];
		} else if (strcmp(argv[i], "--http-threads") == 0 &&
		           i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("orchestrator-gateway %s (revision %s, build "
			       "%s)\n",
			    orch_version(), orch_stamp_revision(),
			    orch_build_mode());
			return 0;
		} else {
			fprintf(stderr,
			    "usage: orchestrator-gateway --rpc-connect "
			    "URL [--http-threads N] | --version\n");
			return 2;
		}
	}
	if (connect == NULL) {
		fprintf(stderr, "orchestrator-gateway: --rpc-connect URL is "
		                "required\n");
		return 2;
	}
	if (orch_config_load(&cfg, (const char *const *) environ, ".env",
	        &diag) != ORCH_OK) {
		fprintf(stderr, "orchestrator-gateway: %s\n", diag.msg);
		return 2;
	}
	orch_log_set_level(cfg.log_level);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	go.host = cfg.app_host;
	go.port = cfg.app_port;
	go.threads = threads;
	go.cors_origins = cfg.cors_origins;
	go.rpc_connect = connect;
	if (orch_gw_start(&go, &gw) != ORCH_OK) {
		fprintf(stderr,
		    "orchestrator-gateway: cannot start on %s:%d "
		    "against %s\n",
		    cfg.app_host, cfg.app_port, connect);
		goto out;
	}
	while (sigwait(&set, &sig) != 0)
		;
	ORCH_INFO("signal %d: shutting down", sig);
	rv = 0;
out:
	orch_gw_stop(gw);
	orch_config_fini(&cfg);
	return rv;
}
