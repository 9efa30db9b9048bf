/*
 * Provisioning benchmark against the real Docker daemon (bench/README.md):
 *
 *  1. ProvisionEngine through the RPC server (inproc) vs a raw Docker
 *     create+start of the same image with the same kind of spec, through
 *     the same client library, alternating A/B, N of each: the overhead
 *     the orchestrator adds (target: < 20 ms at p50).
 *  2. docker kill of an engine -> the engine leaves the running set in
 *     state (Docker's die event through the events stream), N samples.
 *  3. MIN_REPLICAS=50 from nothing: time until 50 engines are healthy
 *     (autoscaler + health prober, 1 s periods).
 *
 * Isolation: its own CONTAINER_LABEL (orchestrator.test=bench-<pid>),
 * name prefix and port range; it removes everything it created.
 *
 *   bazel run -c opt //bench:provision -- [--n 20] [--engines 50]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/core/core.h"
#include "src/engines/manager.h"
#include "src/engines/monitor.h"
#include "src/service/service.h"
#include "src/rpc/client.h"
#include "src/rpc/server.h"
#include "src/runtime/docker.h"

#define MAX_N 200

static char label_kv[128];

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

static double
pct(int64_t *v, int n, double p)
{
	int i;

	qsort(v, (size_t) n, sizeof(*v), cmp_i64);
	i = (int) (p * (n - 1) + 0.5);
	return v[i] / 1000.0; /* µs -> ms */
}

static void
remove_all(orch_docker *d)
{
	orch_rt_kv filter[] = {{"orchestrator.test", strchr(label_kv, '=') + 1}};
	orch_rt_container *v = NULL;
	size_t n = 0;

	if (orch_docker_list(d, filter, 1, &v, &n, NULL) != ORCH_OK)
		return;
	for (size_t i = 0; i < n; i++)
		(void) orch_docker_remove(d, v[i].id, true, NULL);
	orch_rt_container_list_free(v, n);
}

static void
config(orch_config *cfg, int min)
{
	char *eq;

	orch_config_defaults(cfg);
	free(cfg->container_label_key);
	free(cfg->container_label_value);
	eq = strchr(label_kv, '=');
	cfg->container_label_key = strndup(label_kv, (size_t) (eq - label_kv));
	cfg->container_label_value = strdup(eq + 1);
	free(cfg->engine_name_prefix);
	if (asprintf(&cfg->engine_name_prefix, "bench%d", (int) getpid()) < 0)
		exit(1);
	free(cfg->target_image);
	cfg->target_image = strdup("acestream-sim:latest");
	cfg->image_pull = ORCH_IMAGE_PULL_NEVER;
	cfg->port_range_host.lo = 29800;
	cfg->port_range_host.hi = 29999;
	cfg->ace_https_range.lo = 46800;
	cfg->ace_https_range.hi = 46999;
	cfg->min_replicas = min;
	cfg->max_replicas = 150;
	cfg->health_check_interval_s = 1;
	cfg->autoscale_interval_s = 1;
	cfg->monitor_interval_s = 30;
	cfg->auto_delete = false;
}

static int64_t
raw_create_start(orch_docker *d, int i, int port)
{
	char name[64], env1[64], env2[64], env3[64], lab2[16];
	const char *env[] = {env1, env2, env3, "BIND_ALL=true", NULL};
	orch_rt_kv labels[] = {{"orchestrator.test", strchr(label_kv, '=') + 1},
		{"bench.raw", lab2}};
	orch_rt_publish pub = {port, port, "tcp"};
	orch_rt_create_spec cs;
	char *id = NULL;
	int64_t t0, t1;
	orch_err rv;

	snprintf(name, sizeof(name), "bench%d-raw-%d", (int) getpid(), i);
	snprintf(env1, sizeof(env1), "CONF=--http-port=%d", port);
	snprintf(env2, sizeof(env2), "HTTP_PORT=%d", port);
	snprintf(env3, sizeof(env3), "HTTPS_PORT=%d", port + 17000);
	snprintf(lab2, sizeof(lab2), "%d", i);
	memset(&cs, 0, sizeof(cs));
	cs.name = name;
	cs.image = "acestream-sim:latest";
	cs.env = env;
	cs.labels = labels;
	cs.n_labels = 2;
	cs.ports = &pub;
	cs.n_ports = 1;
	cs.restart_policy = "unless-stopped";
	t0 = orch_mono_ns();
	rv = orch_docker_create(d, &cs, &id, NULL);
	if (rv == ORCH_OK)
		rv = orch_docker_start(d, id, NULL);
	t1 = orch_mono_ns();
	free(id);
	return rv == ORCH_OK ? (t1 - t0) / 1000 : -1;
}

int
main(int argc, char **argv)
{
	int n = 20, engines = 50;
	orch_config cfg;
	orch_core core;
	orch_docker *d = NULL;
	orch_mgr *mgr = NULL;
	orch_monitor *mon = NULL;
	orch_rpc_server *srv = NULL;
	orch_rpc_client *cli = NULL;
	orch_service svc = {&core, NULL, NULL};
	orch_rpc_server_opts so = {0};
	int64_t prov[MAX_N], raw[MAX_N], kill_ms[MAX_N];
	char url[64];
	int errors = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--n") == 0)
			n = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--engines") == 0)
			engines = atoi(argv[i + 1]);
	}
	if (n < 2 || n > MAX_N || engines < 1 || engines > 140) {
		fprintf(stderr, "usage: provision [--n 2..%d] [--engines 1..140]\n",
		    MAX_N);
		return 2;
	}
	alarm(600);
	orch_log_set_level(ORCH_LOG_WARN);
	snprintf(label_kv, sizeof(label_kv), "orchestrator.test=bench-%d",
	    (int) getpid());
	if (orch_docker_open(ORCH_DOCKER_DEFAULT_HOST, 0, &d) != ORCH_OK ||
	    orch_docker_ping(d, NULL) != ORCH_OK) {
		fprintf(stderr, "provision: Docker is not reachable\n");
		return 1;
	}
	config(&cfg, 0);
	if (orch_core_init(&core, &cfg, orch_clock_system(), NULL) != ORCH_OK)
		return 1;
	{
		orch_mgr_opts mo = {0};
		orch_runtime rt;

		mo.core = &core;
		orch_docker_runtime(d, &rt);
		mo.rt = &rt;
		mo.no_loops = true;
		if (orch_mgr_open(&mo, &mgr) != ORCH_OK ||
		    orch_mgr_start(mgr) != ORCH_OK)
			return 1;
		svc.mgr = mgr;
	}
	so.service = &orch__orchestrator__descriptor;
	so.methods = orch_service_methods(&so.n_methods);
	so.authorize = orch_service_authorize;
	so.arg = &svc;
	snprintf(url, sizeof(url), "inproc://bench-provision-%d", (int) getpid());
	if (orch_rpc_server_open(&so, &srv) != ORCH_OK ||
	    orch_rpc_server_listen(srv, url) != ORCH_OK ||
	    orch_rpc_client_open(url, &cli) != ORCH_OK)
		return 1;

	/* 1. ProvisionEngine vs raw create+start, alternating. */
	for (int i = 0; i < n; i++) {
		Orch__ProvisionEngineRequest req = ORCH__PROVISION_ENGINE_REQUEST__INIT;
		orch_rpc_call_opts co = {NULL, 30000};
		orch_rpc_result res;
		int64_t t0 = orch_mono_ns();

		if (orch_rpc_invoke(cli, "ProvisionEngine", &req.base, &co, &res) !=
		        ORCH_OK ||
		    res.status != ORCH_OK) {
			fprintf(stderr, "ProvisionEngine: %s\n",
			    res.message != NULL ? res.message : "?");
			errors++;
			prov[i] = 0;
		} else {
			prov[i] = (orch_mono_ns() - t0) / 1000;
		}
		orch_rpc_result_fini(&res);
		raw[i] = raw_create_start(d, i, 29950 + i);
		if (raw[i] < 0) {
			fprintf(stderr, "raw create+start %d failed\n", i);
			errors++;
			raw[i] = 0;
		}
	}

	/* 2. docker kill -> the engine leaves the running set. Events on. */
	orch_mgr_close(mgr);
	svc.mgr = NULL;
	{
		orch_mgr_opts mo = {0};
		orch_runtime rt;

		mo.core = &core;
		orch_docker_runtime(d, &rt);
		mo.rt = &rt;
		if (orch_mgr_open(&mo, &mgr) != ORCH_OK ||
		    orch_mgr_start(mgr) != ORCH_OK)
			return 1;
		svc.mgr = mgr;
	}
	{
		int k = 0;
		size_t cur = 0;
		orch_engine *e;
		char ids[MAX_N][80];

		orch_core_lock(&core);
		while (k < n && (e = orch_state_engine_next(&core.state, &cur)))
			if (e->managed && e->running)
				snprintf(ids[k++], 80, "%s", e->container_id);
		orch_core_unlock(&core);
		for (int i = 0; i < k; i++) {
			int64_t t0 = orch_mono_ns(), t1 = 0;

			if (orch_docker_kill(d, ids[i], NULL, NULL) != ORCH_OK) {
				errors++;
				kill_ms[i] = 0;
				continue;
			}
			while (orch_mono_ns() - t0 < 15000000000LL) {
				orch_core_lock(&core);
				e = orch_state_engine_get(&core.state, ids[i]);
				if (e == NULL || !e->running)
					t1 = orch_mono_ns();
				orch_core_unlock(&core);
				if (t1 != 0)
					break;
				usleep(500);
			}
			if (t1 == 0) {
				fprintf(stderr, "kill of %.12s not seen in 15 s\n",
				    ids[i]);
				errors++;
			}
			kill_ms[i] = t1 != 0 ? (t1 - t0) / 1000 : 15000000;
		}
		n = k < n ? k : n;
	}
	orch_rpc_client_close(cli);
	orch_rpc_server_close(srv);
	orch_mgr_close(mgr);
	svc.mgr = NULL;
	orch_core_fini(&core);
	remove_all(d);

	/* 3. MIN_REPLICAS engines from nothing to healthy. */
	int64_t up_ms = -1;

	orch_config_fini(&cfg);
	config(&cfg, engines);
	if (orch_core_init(&core, &cfg, orch_clock_system(), NULL) != ORCH_OK)
		return 1;
	{
		orch_mgr_opts mo = {0};
		orch_runtime rt;
		int64_t t0 = orch_mono_ns();

		mo.core = &core;
		orch_docker_runtime(d, &rt);
		mo.rt = &rt;
		if (orch_mgr_open(&mo, &mgr) != ORCH_OK ||
		    orch_monitor_open(&core, &mon) != ORCH_OK ||
		    orch_mgr_start(mgr) != ORCH_OK || orch_monitor_start(mon) != ORCH_OK)
			return 1;
		svc.mgr = mgr;
		while (orch_mono_ns() - t0 < 300000000000LL) {
			int healthy;

			orch_core_lock(&core);
			healthy = core.state.counts.healthy;
			orch_core_unlock(&core);
			if (healthy >= engines) {
				up_ms = (orch_mono_ns() - t0) / 1000000;
				break;
			}
			usleep(20000);
		}
		if (up_ms < 0) {
			fprintf(stderr, "%d engines not healthy within 300 s\n",
			    engines);
			errors++;
		}
	}
	orch_monitor_close(mon);
	orch_mgr_close(mgr);
	svc.mgr = NULL;
	orch_core_fini(&core);
	remove_all(d);
	orch_config_fini(&cfg);

	{
		double pp50, pp99, rp50, rp99, k50, k99;
		int64_t pc[MAX_N], rc[MAX_N];

		memcpy(pc, prov, sizeof(pc));
		memcpy(rc, raw, sizeof(rc));
		pp50 = pct(pc, n, 0.5);
		pp99 = pct(pc, n, 0.99);
		rp50 = pct(rc, n, 0.5);
		rp99 = pct(rc, n, 0.99);
		k50 = pct(kill_ms, n, 0.5);
		k99 = pct(kill_ms, n, 0.99);
		printf("provision: %d samples each, A/B alternating, acestream-sim:latest\n\n", n);
		printf("%-44s %10s %10s\n", "measure", "p50 ms", "p99 ms");
		printf("%-44s %10.1f %10.1f\n", "ProvisionEngine (RPC inproc, engine in state)",
		    pp50, pp99);
		printf("%-44s %10.1f %10.1f\n", "raw Docker create+start (baseline)", rp50,
		    rp99);
		printf("%-44s %10.1f %10s\n", "overhead at p50 (target < 20 ms)",
		    pp50 - rp50, "");
		printf("%-44s %10.2f %10s\n", "ratio ProvisionEngine / raw at p50",
		    rp50 > 0 ? pp50 / rp50 : 0.0, "");
		printf("%-44s %10.1f %10.1f\n", "docker kill -> engine leaves running set",
		    k50, k99);
		printf("%-44s %10lld %10s\n", "MIN_REPLICAS engines healthy from nothing",
		    (long long) up_ms, "");
		printf("  (%d engines; autoscaler and prober periods 1 s)\n", engines);
		printf("\ntargets: overhead %s; kill->state %s (2 s)\n",
		    pp50 - rp50 < 20.0 ? "met" : "MISSED",
		    k50 < 2000.0 ? "met" : "MISSED");
	}
	orch_docker_close(d);
	return errors == 0 ? 0 : 1;
}
