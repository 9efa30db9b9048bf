/*
 * orchestratord: the orchestrator's one binary. Today it runs the RPC server
 * (on inproc://orchestrator for an in-process gateway, and on every
 * RPC_LISTEN / --rpc-listen URL) with the stub handler set; the core,
 * runtime and gateway join it as their issues land.
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
#include <time.h>
#include <unistd.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/log.h"
#include "src/cmd/stub_service.h"
#include "src/rpc/server.h"

#define DEFAULT_RPC_LISTEN "tcp://127.0.0.1:7600"
#define INPROC_URL "inproc://orchestrator"
#define MAX_URLS 8

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: orchestratord [--rpc-listen URL]...\n"
	    "\n"
	    "  --rpc-listen URL  nng URL the RPC server listens on (repeatable;\n"
	    "                    default: $RPC_LISTEN, comma-separated, else\n"
	    "                    " DEFAULT_RPC_LISTEN ")\n"
	    "\n"
	    "Environment: LOG_LEVEL (debug|info|warn|error), RPC_LISTEN, and the\n"
	    "variables of CONTRACT.md's configuration table.\n");
}

/* Splits a comma-separated list into urls (pointers into s, modified). */
static int
split_urls(char *s, const char **urls, int n, int max)
{
	for (char *tok = strtok(s, ","); tok != NULL; tok = strtok(NULL, ",")) {
		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if (n >= max)
			return -1;
		urls[n++] = tok;
	}
	return n;
}

static void *
close_main(void *arg)
{
	orch_rpc_server_close(arg);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *urls[MAX_URLS];
	char *env_copy = NULL;
	int nurls = 0, sig = 0, rv = 1;
	orch_rpc_server *srv = NULL;
	orch_rpc_server_opts opts = {0};
	orch_log_level lvl;
	const char *level = getenv("LOG_LEVEL");
	sigset_t set;
	pthread_t closer;
	struct timespec deadline;

	if (level != NULL && *level != '\0') {
		if (orch_log_parse_level(level, &lvl) != 0) {
			fprintf(stderr, "LOG_LEVEL: expected debug, info, warn or "
			                "error, got \"%s\"\n",
			    level);
			return 2;
		}
		orch_log_set_level(lvl);
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rpc-listen") == 0 && i + 1 < argc) {
			if (nurls >= MAX_URLS) {
				fprintf(stderr, "--rpc-listen: at most %d\n",
				    MAX_URLS);
				return 2;
			}
			urls[nurls++] = argv[++i];
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
	if (nurls == 0) {
		const char *env = getenv("RPC_LISTEN");

		env_copy = strdup(env != NULL && *env != '\0' ? env
		                                              : DEFAULT_RPC_LISTEN);
		nurls = env_copy != NULL
		    ? split_urls(env_copy, urls, 0, MAX_URLS)
		    : -1;
		if (nurls <= 0) {
			fprintf(stderr, "RPC_LISTEN: expected 1 to %d "
			                "comma-separated nng URLs\n",
			    MAX_URLS);
			goto out;
		}
	}

	/* Block the signals before any thread starts, so that only sigwait()
	 * below receives them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	opts.service = &orch__orchestrator__descriptor;
	opts.methods = orch_stub_methods(&opts.n_methods);
	if (orch_rpc_server_open(&opts, &srv) != ORCH_OK ||
	    orch_rpc_server_listen(srv, INPROC_URL) != ORCH_OK)
		goto out;
	for (int i = 0; i < nurls; i++) {
		if (orch_rpc_server_listen(srv, urls[i]) != ORCH_OK) {
			fprintf(stderr, "RPC_LISTEN: cannot listen on %s\n",
			    urls[i]);
			goto out;
		}
		ORCH_INFO("rpc: listening on %s", urls[i]);
	}
	ORCH_WARN("stub handler set: no engines are managed yet");
	ORCH_INFO("orchestratord ready (pid %d)", (int) getpid());

	while (sigwait(&set, &sig) != 0)
		;
	ORCH_INFO("signal %d: shutting down", sig);
	rv = 0;
out:
	if (srv != NULL) {
		/* nng #1543: give close 5 s, then leave it to process exit. */
		if (pthread_create(&closer, NULL, close_main, srv) == 0) {
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_sec += 5;
			if (pthread_timedjoin_np(closer, NULL, &deadline) != 0) {
				ORCH_WARN("rpc: close timed out; exiting");
				_exit(rv);
			}
		}
	}
	free(env_copy);
	return rv;
}
