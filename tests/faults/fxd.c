/*
 * The fault suite's harness (see fxd.h). A case's daemon is a subprocess
 * exactly as a deployment runs it (the binary, its environment, a port
 * file), so what the cases see is what a proxy sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "tests/faults/fxd.h"

static struct {
	bool ok;
	char daemon[PATH_MAX];
	char host[256]; /* unix://... */
	char sock[256];
	char run[32];
	orch_docker *dk;
} G;

void
fxd_global(const char *daemon_arg)
{
	const char *host = getenv("DOCKER_HOST");
	unsigned r = 0;
	orch_diag diag;

	if (getenv("ORCH_TEST_DOCKER") == NULL)
		return;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r))
		r = (unsigned) time(NULL) ^ (unsigned) getpid();
	snprintf(
	    G.run, sizeof(G.run), "%d-%06x", (int) getpid(), r & 0xffffffu);
	snprintf(G.host, sizeof(G.host), "%s",
	    host != NULL && strncmp(host, "unix://", 7) == 0
	        ? host
	        : ORCH_DOCKER_DEFAULT_HOST);
	snprintf(G.sock, sizeof(G.sock), "%s", G.host + 7);
	if (daemon_arg == NULL || realpath(daemon_arg, G.daemon) == NULL) {
		fprintf(stderr, "orchestratord not found (argv[1] %s)\n",
		    daemon_arg != NULL ? daemon_arg : "missing");
		return;
	}
	if (orch_docker_open(G.host, 60000, &G.dk) != ORCH_OK)
		return;
	if (orch_docker_image_inspect(G.dk, FXD_IMAGE, &diag) != ORCH_OK) {
		fprintf(stderr, "%s is missing (run tools/build-images): %s\n",
		    FXD_IMAGE, diag.msg);
		return;
	}
	G.ok = true;
}

bool
fxd_enabled(void)
{
	return G.ok;
}

const char *
fxd_run(void)
{
	return G.run;
}

orch_docker *
fxd_docker(void)
{
	return G.dk;
}

/* ---- Docker ------------------------------------------------------------ */

static size_t
sink(char *p, size_t sz, size_t n, void *arg)
{
	gwt_resp *b = arg;
	char *nb = realloc(b->body, b->len + sz * n + 1);

	if (nb == NULL)
		return 0;
	memcpy(nb + b->len, p, sz * n);
	b->len += sz * n;
	nb[b->len] = '\0';
	b->body = nb;
	return sz * n;
}

long
fxd_dk(const char *method, const char *path, const char *body, char **out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hd = NULL;
	gwt_resp b = {0};
	char url[2048];
	long st = 0;

	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, G.sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
	if (body != NULL) {
		hd = curl_slist_append(hd, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	} else if (strcmp(method, "POST") == 0) {
		/* No body and no form content type (Docker wants JSON or
		 * nothing). */
		hd = curl_slist_append(hd, "Content-Type:");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	if (out != NULL)
		*out = b.body != NULL ? b.body : strdup("");
	else
		free(b.body);
	return st;
}

void
fxd_dk_ok(const char *method, const char *path)
{
	char *out = NULL;
	long st = fxd_dk(method, path, NULL, &out);

	if (st < 200 || st > 299)
		fail_msg("docker %s %s: HTTP %ld %s", method, path, st, out);
	free(out);
}

int
fxd_dk_events(const char *id, const char *event, long since, const char *attr)
{
	char path[512], *out = NULL, *p;
	int n = 0;

	/* until is exclusive at whole seconds: one more, so an event of
	 * this second is in (the call returns then). */
	snprintf(path, sizeof(path),
	    "/events?since=%ld&until=%ld&filters=%%7B%%22container%%22%%3A%%5B"
	    "%%22%s%%22%%5D%%2C%%22event%%22%%3A%%5B%%22%s%%22%%5D%%7D",
	    since, (long) time(NULL) + 1, id, event);
	(void) fxd_dk("GET", path, NULL, &out);
	/* One JSON object a line. */
	for (p = out; p != NULL && *p != '\0';) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		n += *p == '{' && (attr == NULL || strstr(p, attr) != NULL);
		p = nl != NULL ? nl + 1 : NULL;
	}
	free(out);
	return n;
}

int
fxd_count(fxd *f, const char *state)
{
	orch_rt_kv labels[] = {{FXD_LABEL_KEY, f->label_val}};
	orch_rt_container *v = NULL;
	size_t n = 0;
	int k = 0;

	if (orch_docker_list(G.dk, labels, 1, &v, &n, NULL) != ORCH_OK)
		return -1;
	for (size_t i = 0; i < n; i++)
		k += state == NULL ||
		     (v[i].state != NULL && strcmp(v[i].state, state) == 0);
	orch_rt_container_list_free(v, n);
	return k;
}

static int
remove_ours(fxd *f)
{
	orch_rt_kv labels[] = {{FXD_LABEL_KEY, f->label_val}};
	orch_rt_container *v = NULL;
	size_t n = 0;
	int removed = 0;

	if (G.dk == NULL ||
	    orch_docker_list(G.dk, labels, 1, &v, &n, NULL) != ORCH_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (orch_docker_remove(G.dk, v[i].id, true, NULL) == ORCH_OK)
			removed++;
	}
	orch_rt_container_list_free(v, n);
	return removed;
}

/* ---- the daemon -------------------------------------------------------- */

void
fxd_init_iso(fxd *f, const char *name, const fxd_iso *iso)
{
	memset(f, 0, sizeof(*f));
	f->pid = -1;
	f->slot = -1;
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->label_val, sizeof(f->label_val), "%s", iso->label_val);
	snprintf(
	    f->label, sizeof(f->label), "%s=%s", FXD_LABEL_KEY, f->label_val);
	snprintf(f->prefix, sizeof(f->prefix), "%s", iso->prefix);
	f->http_lo = iso->http_lo;
	f->http_hi = iso->http_hi;
	f->https_lo = iso->https_lo;
	f->https_hi = iso->https_hi;
	snprintf(f->api_key, sizeof(f->api_key), "%s", iso->api_key);
	snprintf(f->bearer, sizeof(f->bearer), "Bearer %s", f->api_key);
	snprintf(f->dir_tag, sizeof(f->dir_tag), "%s", iso->dir_tag);
}

void
fxd_init(fxd *f, int slot, const char *name)
{
	char label_val[80], prefix[32];
	fxd_iso iso = {
	    .label_val = label_val,
	    .prefix = prefix,
	    .http_lo = FXD_HTTP_BASE + slot * FXD_SLICE,
	    .http_hi = FXD_HTTP_BASE + slot * FXD_SLICE + FXD_SLICE - 1,
	    .https_lo = FXD_HTTPS_BASE + slot * FXD_SLICE,
	    .https_hi = FXD_HTTPS_BASE + slot * FXD_SLICE + FXD_SLICE - 1,
	    .api_key = FXD_API_KEY,
	    .dir_tag = "faults",
	};

	snprintf(label_val, sizeof(label_val), "faults-%s-%d", G.run, slot);
	snprintf(prefix, sizeof(prefix), "tflt%.6s%d", strchr(G.run, '-') + 1,
	    slot);
	fxd_init_iso(f, name, &iso);
	f->slot = slot;
}

static bool
read_port_file(fxd *f)
{
	char path[128], buf[32] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/http.port", f->dir);
	fp = fopen(path, "r");
	if (fp == NULL)
		return false;
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	f->port = atoi(buf);
	return f->port > 0 && strchr(buf, '\n') != NULL;
}

/* Whether env names kv's variable, as "K=V" or as a bare "K". */
static bool
env_has(const char *const *env, const char *kv)
{
	size_t n = strcspn(kv, "=");

	for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], kv, n) == 0 &&
		    (env[i][n] == '=' || env[i][n] == '\0'))
			return true;
	}
	return false;
}

/* The defaults a case does not override; the case's env comes first. */
static void
fill_env(fxd *f, const char *const *env, char (*e)[512], char **envp)
{
	char d[24][512];
	int n = 0, k = 0;

#define ENV(...) snprintf(d[n++], sizeof(d[0]), __VA_ARGS__)
	ENV("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/"
	    "bin");
	ENV("APP_HOST=127.0.0.1");
	ENV("APP_PORT=0");
	ENV("RPC_LISTEN=ipc://%s/rpc.sock", f->dir);
	ENV("API_KEY=%s", f->api_key);
	ENV("DOCKER_HOST=%s", G.host);
	ENV("TARGET_IMAGE=%s", FXD_IMAGE);
	ENV("IMAGE_PULL=never");
	ENV("MIN_REPLICAS=0");
	ENV("MAX_REPLICAS=2");
	ENV("CONTAINER_LABEL=%s", f->label);
	ENV("ENGINE_NAME_PREFIX=%s", f->prefix);
	ENV("PORT_RANGE_HOST=%d-%d", f->http_lo, f->http_hi);
	ENV("ACE_HTTPS_RANGE=%d-%d", f->https_lo, f->https_hi);
	ENV("ENGINE_GRACE_PERIOD_S=600");
	ENV("HEALTH_CHECK_INTERVAL_S=1");
	ENV("COLLECT_INTERVAL_S=1");
	ENV("AUTOSCALE_INTERVAL_S=1");
	ENV("MONITOR_INTERVAL_S=1");
	ENV("DB_PATH=%s/orch.db", f->dir);
	ENV("LOG_LEVEL=info");
#undef ENV
	for (int i = 0; env != NULL && env[i] != NULL && k < 40; i++) {
		if (strchr(env[i], '=') == NULL)
			continue; /* a default dropped */
		snprintf(e[k], 512, "%s", env[i]);
		envp[k] = e[k];
		k++;
	}
	for (int i = 0; i < n && k < 47; i++) {
		if (env_has(env, d[i]))
			continue;
		snprintf(e[k], 512, "%s", d[i]);
		envp[k] = e[k];
		k++;
	}
	envp[k] = NULL;
}

static pid_t
spawn(fxd *f, const char *const *env)
{
	static char e[48][512];
	char *envp[49];
	char portfile[128];
	char *argv[] = {
	    G.daemon, "--port-file", portfile, "--http-threads", "2", NULL};
	pid_t pid;

	snprintf(portfile, sizeof(portfile), "%s/http.port", f->dir);
	snprintf(f->log_path, sizeof(f->log_path), "%s/daemon.log", f->dir);
	fill_env(f, env, e, envp);
	pid = fork();
	if (pid == 0) {
		int fd =
		    open(f->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (chdir(f->dir) != 0)
			_exit(126);
		execve(G.daemon, argv, envp);
		_exit(127);
	}
	return pid;
}

static bool
healthz(fxd *f, void *arg)
{
	gwt_resp r;
	long st;

	(void) arg;
	if (f->port <= 0 && !read_port_file(f))
		return false;
	if (f->c.h == NULL)
		gwt_client_init(&f->c, f->port);
	st = gwt_get(&f->c, "/healthz", NULL, &r);
	gwt_resp_fini(&r);
	return st == 200;
}

static bool
can_provision(fxd *f, void *arg)
{
	gwt_resp r;
	bool ok;

	(void) arg;
	fxd_get(f, "/orchestrator/status", &r);
	ok = r.status == 200 &&
	     json_is_true(json_object_get(
	         json_object_get(r.json, "provisioning"), "can_provision"));
	gwt_resp_fini(&r);
	return ok;
}

void
fxd_start(fxd *f, const char *const *env, bool ready)
{
	if (f->dir[0] == '\0') {
		snprintf(f->dir, sizeof(f->dir), "/tmp/%s-XXXXXX", f->dir_tag);
		if (mkdtemp(f->dir) == NULL)
			fail_msg("mkdtemp: %s", strerror(errno));
	}
	{
		char pf[128];

		snprintf(pf, sizeof(pf), "%s/http.port", f->dir);
		(void) unlink(pf);
	}
	f->port = 0;
	f->ready_ms = gwt_mono_ms();
	f->pid = spawn(f, env);
	if (f->pid < 0)
		fail_msg("fork: %s", strerror(errno));
	f->up = true;
	(void) fxd_wait(f, 30000, healthz, NULL, "the daemon's /healthz");
	if (ready)
		(void) fxd_wait(
		    f, 30000, can_provision, NULL, "can_provision");
	f->ready_ms = gwt_mono_ms() - f->ready_ms;
	printf("[%s] orchestratord pid %d on 127.0.0.1:%d, label %s, "
	       "prefix %s, ports %d-%d\n",
	    f->name, (int) f->pid, f->port, f->label, f->prefix, f->http_lo,
	    f->http_hi);
	/* The same run's baseline for the start-up figures. */
	printf("baseline: %-13s %-44s %6lld ms\n", f->name,
	    ready ? "start to can_provision" : "start to /healthz",
	    (long long) f->ready_ms);
}

static int
wait_exit(pid_t pid, int ms)
{
	int64_t end = gwt_mono_ms() + ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st)
			                     : 128 + WTERMSIG(st);
		if (r < 0 || gwt_mono_ms() > end)
			return -1;
		usleep(20000);
	}
}

int
fxd_stop(fxd *f, int ms)
{
	int st;

	if (f->pid <= 0)
		return -1;
	kill(f->pid, SIGTERM);
	st = wait_exit(f->pid, ms);
	if (st < 0) {
		kill(f->pid, SIGKILL);
		(void) wait_exit(f->pid, 5000);
	}
	f->pid = -1;
	f->up = false;
	if (f->c.h != NULL)
		gwt_client_fini(&f->c);
	return st;
}

void
fxd_log_tail(const fxd *f)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "tail -n 60 %s >&2", f->log_path);
	fprintf(stderr, "---- [%s] orchestratord log ----\n", f->name);
	(void) system(cmd);
}

void
fxd_fini(fxd *f)
{
	char cmd[128];
	int n;

	if (f->pid > 0 && fxd_stop(f, 15000) != 0)
		fxd_log_tail(f);
	if (f->c.h != NULL)
		gwt_client_fini(&f->c);
	n = remove_ours(f);
	if (n > 0)
		printf("[%s] teardown removed %d container(s)\n", f->name, n);
	if (f->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
		(void) system(cmd);
	}
}

/* ---- REST -------------------------------------------------------------- */

long
fxd_get(fxd *f, const char *path, gwt_resp *r)
{
	gwt_req q = {.method = "GET", .path = path, .auth = f->bearer};

	return gwt_do(&f->c, &q, r);
}

long
fxd_post(fxd *f, const char *path, const char *body, gwt_resp *r)
{
	gwt_req q = {
	    .method = "POST", .path = path, .auth = f->bearer, .body = body};

	return gwt_do(&f->c, &q, r);
}

long
fxd_delete(fxd *f, const char *path, gwt_resp *r)
{
	gwt_req q = {.method = "DELETE", .path = path, .auth = f->bearer};

	return gwt_do(&f->c, &q, r);
}

double
fxd_metric(fxd *f, const char *name, const char *labels)
{
	gwt_resp r;
	gwt_prom p;
	char err[256];
	double v;
	int n = 0;

	fxd_get(f, "/metrics", &r);
	gwt_expect_status(&r, 200);
	if (!gwt_prom_parse(r.body, r.len, &p, err, sizeof(err)))
		fail_msg("/metrics: %s", err);
	v = gwt_prom_sum(&p, name, labels, true, &n);
	gwt_prom_fini(&p);
	gwt_resp_fini(&r);
	if (n != 1)
		fail_msg("/metrics: %d series %s{%s}", n, name, labels);
	return v;
}

long
fxd_breaker(fxd *f, char *st, size_t cap)
{
	gwt_resp r;
	const json_t *b;
	long n;

	fxd_get(f, "/health/status", &r);
	gwt_expect_status(&r, 200);
	gwt_check_health(r.json, "health");
	b = json_object_get(
	    json_object_get(r.json, "circuit_breakers"), "general");
	snprintf(st, cap, "%s", gwt_str(b, "state"));
	n = (long) gwt_int(b, "failure_count");
	gwt_resp_fini(&r);
	return n;
}

int
fxd_engines(fxd *f, char (*ids)[80], int cap)
{
	gwt_resp r;
	size_t i;
	json_t *e;
	int n;

	fxd_get(f, "/engines", &r);
	gwt_expect_status(&r, 200);
	if (!json_is_array(r.json))
		fail_msg("/engines: %s", r.body);
	json_array_foreach(r.json, i, e)
	{
		gwt_check_engine(e, "engine");
		if (ids != NULL && (int) i < cap)
			snprintf(ids[i], 80, "%s", gwt_str(e, "container_id"));
	}
	n = (int) json_array_size(r.json);
	gwt_resp_fini(&r);
	return n;
}

void
fxd_engine_health(fxd *f, const char *id, char *out, size_t cap)
{
	char path[160];
	gwt_resp r;

	snprintf(path, sizeof(path), "/engines/%s", id);
	fxd_get(f, path, &r);
	out[0] = '\0';
	if (r.status == 200)
		snprintf(out, cap, "%s",
		    gwt_str(
		        json_object_get(r.json, "engine"), "health_status"));
	gwt_resp_fini(&r);
}

int
fxd_active_streams(fxd *f, const char *id)
{
	char path[200];
	gwt_resp r;
	int n;

	snprintf(
	    path, sizeof(path), "/streams?container_id=%s&status=started", id);
	fxd_get(f, path, &r);
	gwt_expect_status(&r, 200);
	n = (int) json_array_size(r.json);
	gwt_resp_fini(&r);
	return n;
}

long
fxd_provision(fxd *f, const char *body, char *id, size_t cap, int *port)
{
	gwt_resp r;
	long st = fxd_post(f, "/provision/acestream", body, &r);

	if (st == 200) {
		gwt_check_provision_result(r.json, "provision");
		snprintf(id, cap, "%s", gwt_str(r.json, "container_id"));
		*port = (int) gwt_int(r.json, "host_http_port");
	}
	gwt_resp_fini(&r);
	return st;
}

void
fxd_stream_on(
    fxd *f, const char *id, int port, const char *key, char *sid, size_t cap)
{
	char path[256], body[2048];
	gwt_client c;
	gwt_req q = {.method = "GET", .path = path, .timeout_ms = 5000};
	gwt_resp r;
	const json_t *resp;
	int64_t deadline = gwt_mono_ms() + 20000;

	snprintf(path, sizeof(path),
	    "/ace/getstream?id=%s&format=json&pid=faults", key);
	gwt_client_init(&c, port);
	for (;;) {
		gwt_do(&c, &q, &r);
		resp = r.json != NULL ? json_object_get(r.json, "response")
		                      : NULL;
		if (r.status == 200 && json_is_object(resp))
			break;
		gwt_resp_fini(&r);
		if (gwt_mono_ms() > deadline)
			fail_msg(
			    "engine on %d never answered getstream", port);
		usleep(100000);
	}
	snprintf(body, sizeof(body),
	    "{\"container_id\":\"%s\",\"stream\":{\"key_type\":"
	    "\"content_id\",\"key\":\"%s\"},\"session\":{"
	    "\"playback_session_id\":\"%s\",\"stat_url\":\"%s\","
	    "\"command_url\":\"%s\",\"is_live\":1}}",
	    id, key, gwt_str(resp, "playback_session_id"),
	    gwt_str(resp, "stat_url"), gwt_str(resp, "command_url"));
	gwt_resp_fini(&r);
	gwt_client_fini(&c);
	fxd_post(f, "/events/stream_started", body, &r);
	gwt_expect_status(&r, 200);
	snprintf(sid, cap, "%s", gwt_str(r.json, "id"));
	gwt_resp_fini(&r);
}

/* ---- waiting ----------------------------------------------------------- */

int64_t
fxd_wait(fxd *f, int ms, fxd_cond cond, void *arg, const char *what)
{
	int64_t t0 = gwt_mono_ms();

	for (;;) {
		if (f->pid > 0 && waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			f->pid = -1;
			fxd_log_tail(f);
			fail_msg("[%s] the daemon died waiting for %s",
			    f->name, what);
		}
		if (cond(f, arg))
			return gwt_mono_ms() - t0;
		if (gwt_mono_ms() - t0 > ms) {
			fxd_log_tail(f);
			fail_msg(
			    "[%s] %s: not within %d ms", f->name, what, ms);
		}
		usleep(100000);
	}
}
