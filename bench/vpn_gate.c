/*
 * How fast the VPN gate follows Gluetun (bench/README.md): a gluetun-sim
 * container (control port and two engine ports published on 127.0.0.1),
 * the core, the manager over Docker and the VPN monitor with its thread
 * and events stream, as orchestratord runs them. Then, N times each:
 *
 *   tunnel down -> refused   PUT {"status":"stopped"} to Gluetun's control
 *                            server, until the core refuses provisioning
 *                            (vpn_disconnected);
 *   tunnel up -> resumed     PUT {"status":"running"}, until it allows it;
 *   stop -> refused          docker stop of the Gluetun container (seen
 *                            through the events stream), and start ->
 *                            resumed.
 *
 * The baseline of the same run is the monitor's period,
 * GLUETUN_HEALTH_CHECK_INTERVAL_S: a drop that only the periodic check
 * can see is found within one period (uniformly in [0, period] for a
 * flip at a random moment), so p50/period near 0.5 is the periodic path
 * and far below it is the events path. Each flip comes at a random
 * moment of the period (a jitter before it). The gate is read with
 * orch_core_can_provision_locked, the same call every provision makes;
 * each refusal is confirmed by a real provision answering
 * vpn_disconnected.
 *
 *   bazel run -c opt //bench:vpn_gate -- [--n 10] [--interval 5]
 *       [--image gluetun-sim:latest] [--port 31190]
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/base/log.h"
#include "src/base/time.h"
#include "src/core/config.h"
#include "src/core/control.h"
#include "src/core/core.h"
#include "src/engines/manager.h"
#include "src/engines/vpn.h"
#include "src/runtime/docker.h"

#define MAX_N 100
#define LABEL_KEY "orchestrator.test"

static orch_docker *dk;
static char label_val[64], gname[64];

static size_t
discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void) p;
	(void) arg;
	return size * nmemb;
}

static long
put_status(int port, bool up)
{
	CURL *h = curl_easy_init();
	char url[96];
	long st = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/vpn/status", port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(h, CURLOPT_POSTFIELDS,
	    up ? "{\"status\":\"running\"}" : "{\"status\":\"stopped\"}");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_cleanup(h);
	return st;
}

static bool
allowed(orch_core *core)
{
	orch_refusal why;
	bool ok;

	orch_core_lock(core);
	ok = orch_core_can_provision_locked(core, &why);
	orch_core_unlock(core);
	return ok;
}

/* Waits (1 ms polls, 60 s at most) until the gate reads want; the time
 * from t0 in ms, or -1. */
static int64_t
until(orch_core *core, bool want, int64_t t0_us)
{
	int64_t end = orch_mono_ns() / 1000 + 60000000;

	while (allowed(core) != want) {
		if (orch_mono_ns() / 1000 > end)
			return -1;
		usleep(1000);
	}
	return orch_mono_ns() / 1000 - t0_us;
}

/* A provision now is refused with vpn_disconnected. */
static bool
confirm_refused(orch_mgr *m)
{
	orch_engine_request req;
	orch_provision_result res;
	orch_refusal ref;
	orch_diag d;

	memset(&req, 0, sizeof(req));
	return orch_mgr_provision(m, &req, 0, &res, &ref, &d) != ORCH_OK &&
	       ref.code == ORCH_REFUSE_VPN;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

static void
row(const char *what, int64_t *us, int n, int interval_s)
{
	qsort(us, (size_t) n, sizeof(*us), cmp_i64);
	printf("%-26s %8.1f %8.1f %8.1f %8.1f %10.3f\n", what, us[0] / 1000.0,
	    us[n / 2] / 1000.0, us[(n * 9) / 10] / 1000.0, us[n - 1] / 1000.0,
	    us[n / 2] / 1000.0 / (interval_s * 1000.0));
}

static void
jitter(int interval_s)
{
	usleep((useconds_t) (rand() % (interval_s * 1000)) * 1000);
}

static bool
start_gluetun(const char *image, int port)
{
	orch_rt_publish pub[3] = {{8000, port, "tcp"},
	    {port + 1, port + 1, "tcp"}, {port + 2, port + 2, "tcp"}};
	orch_rt_kv lab = {LABEL_KEY, label_val};
	orch_rt_create_spec spec;
	orch_diag d;
	char *id = NULL;

	memset(&spec, 0, sizeof(spec));
	spec.name = gname;
	spec.image = image;
	spec.labels = &lab;
	spec.n_labels = 1;
	spec.ports = pub;
	spec.n_ports = 3;
	spec.host_ip = "127.0.0.1";
	if (orch_docker_create(dk, &spec, &id, &d) != ORCH_OK ||
	    orch_docker_start(dk, id, &d) != ORCH_OK) {
		fprintf(stderr, "gluetun-sim: %s\n", d.msg);
		free(id);
		return false;
	}
	free(id);
	return true;
}

static void
remove_ours(void)
{
	orch_rt_kv lab = {LABEL_KEY, label_val};
	orch_rt_container *v = NULL;
	size_t n = 0;

	if (orch_docker_list(dk, &lab, 1, &v, &n, NULL) != ORCH_OK)
		return;
	for (size_t i = 0; i < n; i++)
		(void) orch_docker_remove(dk, v[i].id, true, NULL);
	orch_rt_container_list_free(v, n);
}

int
main(int argc, char **argv)
{
	int n = 10, interval = 5, port = 31190, rc = 1;
	const char *image = "gluetun-sim:latest";
	char e_name[96], e_int[64], e_label[128];
	const char *env[] = {e_name, e_int, e_label,
	    "TARGET_IMAGE=acestream-sim:latest", "IMAGE_PULL=never",
	    "MIN_REPLICAS=0", "ENGINE_NAME_PREFIX=benchvpn", "LOG_LEVEL=warn",
	    NULL};
	int64_t down[MAX_N], up[MAX_N], stop[MAX_N], start[MAX_N];
	orch_config cfg;
	orch_core core;
	orch_mgr *mgr = NULL;
	orch_vpnmon *mon = NULL;
	orch_mgr_opts mo;
	orch_vpnmon_opts vo;
	orch_runtime rt;
	orch_diag d;
	bool core_up = false;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--n") == 0)
			n = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--interval") == 0)
			interval = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--image") == 0)
			image = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
	}
	if (n < 2 || n > MAX_N || interval < 1) {
		fprintf(stderr, "--n 2..%d, --interval >= 1\n", MAX_N);
		return 2;
	}
	srand((unsigned) getpid());
	alarm((unsigned) (n * 4 * (interval + 30) + 120)); /* a watchdog */
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(label_val, sizeof(label_val), "bench-vpn-%d", (int) getpid());
	snprintf(gname, sizeof(gname), "benchvpn-%d-g", (int) getpid());
	snprintf(e_name, sizeof(e_name), "GLUETUN_CONTAINER_NAME=%s", gname);
	snprintf(e_int, sizeof(e_int), "GLUETUN_HEALTH_CHECK_INTERVAL_S=%d",
	    interval);
	snprintf(e_label, sizeof(e_label), "CONTAINER_LABEL=%s=%s", LABEL_KEY,
	    label_val);
	if (orch_config_load(&cfg, env, NULL, &d) != ORCH_OK) {
		fprintf(stderr, "config: %s\n", d.msg);
		return 1;
	}
	orch_log_set_level(cfg.log_level);
	if (orch_docker_open(cfg.docker_host, 60000, &dk) != ORCH_OK ||
	    !start_gluetun(image, port))
		goto out;
	if (orch_core_init(&core, &cfg, orch_clock_system(), NULL) != ORCH_OK)
		goto out;
	core_up = true;
	orch_docker_runtime(dk, &rt);
	memset(&mo, 0, sizeof(mo));
	mo.core = &core;
	mo.rt = &rt;
	mo.no_loops = true;
	memset(&vo, 0, sizeof(vo));
	vo.core = &core;
	if (orch_mgr_open(&mo, &mgr) != ORCH_OK ||
	    orch_mgr_start(mgr) != ORCH_OK)
		goto out;
	vo.mgr = mgr;
	if (orch_vpnmon_open(&vo, &mon) != ORCH_OK ||
	    orch_vpnmon_start(mon) != ORCH_OK)
		goto out;
	orch_core_set_image_present(&core, true);
	if (until(&core, true, orch_mono_ns() / 1000) < 0) {
		fprintf(stderr, "the VPN never connected\n");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int64_t t0;

		jitter(interval);
		t0 = orch_mono_ns() / 1000;
		if (put_status(port, false) != 200 ||
		    (down[i] = until(&core, false, t0)) < 0 ||
		    !confirm_refused(mgr))
			goto fail;
		jitter(interval);
		t0 = orch_mono_ns() / 1000;
		if (put_status(port, true) != 200 ||
		    (up[i] = until(&core, true, t0)) < 0)
			goto fail;
		jitter(interval);
		t0 = orch_mono_ns() / 1000;
		if (orch_docker_stop(dk, gname, 1, NULL) != ORCH_OK ||
		    (stop[i] = until(&core, false, t0)) < 0)
			goto fail;
		t0 = orch_mono_ns() / 1000;
		if (orch_docker_start(dk, gname, NULL) != ORCH_OK ||
		    (start[i] = until(&core, true, t0)) < 0)
			goto fail;
		fprintf(stderr, ".");
	}
	fprintf(stderr, "\n");
	printf("VPN gate: %d samples each, GLUETUN_HEALTH_CHECK_INTERVAL_S=%d "
	       "(the baseline)\n",
	    n, interval);
	printf("%-26s %8s %8s %8s %8s %10s\n", "transition", "min ms",
	    "p50 ms", "p90 ms", "max ms", "p50/period");
	row("tunnel down -> refused", down, n, interval);
	row("tunnel up -> resumed", up, n, interval);
	row("container stop -> refused", stop, n, interval);
	row("container start -> resumed", start, n, interval);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "a transition was not seen within 60 s\n");
out:
	orch_vpnmon_close(mon);
	orch_mgr_close(mgr);
	if (dk != NULL) {
		remove_ours();
		orch_docker_close(dk);
	}
	if (core_up)
		orch_core_fini(&core);
	orch_config_fini(&cfg);
	curl_global_cleanup();
	return rc;
}
