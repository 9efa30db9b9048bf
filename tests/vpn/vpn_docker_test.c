/*
 * VPN mode against real containers: gluetun-sim started as a user would
 * (its control port and an engine port range published on 127.0.0.1),
 * the real orchestratord (argv[1]) as a subprocess, real engine
 * containers (acestream-sim) inside Gluetun's network namespace, all over
 * HTTP. Skipped unless ORCH_TEST_DOCKER is set; needs gluetun-sim:latest
 * and acestream-sim:latest from this tree's tools/build-images (the API
 * key and PUT /v1/portforward knobs).
 *
 * Isolation: every case has its own daemon (private directory, APP_PORT=0
 * with --port-file, RPC on ipc:// there), its own CONTAINER_LABEL
 * orchestrator.test=vpn-<run>-<case> and ENGINE_NAME_PREFIX, its own
 * Gluetun containers tvpn<run><case>-g<k> (labelled
 * orchestrator.test=vpn-<run>-x, which no daemon adopts) and its own
 * ports in 127.0.0.1:31100-31199 (below the kernel's ephemeral ports,
 * which a client socket may hold at any moment; HTTPS 47600-47699 inside
 * the namespaces). Teardown removes what carries the run's labels,
 * nothing else.
 *
 * Cases:
 *   1. single VPN: engines inside Gluetun reached through its ports and
 *      healthy, one forwarded with P2P_PORT; tunnel off -> the structured
 *      503 and a degraded status, engines still listed; a bounce under
 *      VPN_RECONNECT_STABLE_S -> resumed, nothing replaced; a longer drop
 *      -> resumed and the older engines replaced once; a forwarded-port
 *      change -> still exactly one forwarded engine, with the new port;
 *      the container stopped -> exited, started -> recovered; metrics;
 *   2. an API key: missing -> a configuration error (not "down"), given
 *      -> connected; basic auth likewise;
 *   3. two Gluetuns: engines spread, one down blocks only its own and its
 *      engines go last, both down -> refused;
 *   4. 200 provision/remove cycles (4 clients at once) -> no port leak.
 *
 * Waits are deadline loops on a condition; the one place where time must
 * pass (a drop longer than the window) waits on the daemon's own checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "src/runtime/docker.h"
#include "tests/gateway/gwtest.h"

#define ENGINE_IMAGE "acestream-sim:latest"
#define GLUETUN_IMAGE "gluetun-sim:latest"
#define LABEL_KEY "orchestrator.test"
#define WAIT_MS 30000 /* a condition's deadline on a loaded daemon */
#define MAX_ENV 48

static const char *daemon_arg; /* argv[1] */

static struct {
	char daemon[PATH_MAX];
	char run[32];
	char gl_label[64]; /* the test's own containers */
	char docker_host[256];
	char gluetun_image[96]; /* this tree's simulator (see below) */
	orch_docker *dk;
} G;

/* One orchestratord. */
typedef struct orchd {
	char dir[64];
	char label_val[64];
	pid_t pid;
	int port;
	gwt_client c;
} orchd;

/* ---- Docker ------------------------------------------------------------- */

static void
need_docker(void)
{
	if (getenv("ORCH_TEST_DOCKER") == NULL)
		skip();
	if (G.dk == NULL)
		fail_msg("no Docker handle (see the group setup)");
}

static void
remove_labelled(const char *val)
{
	orch_rt_kv labels[] = {{LABEL_KEY, (char *) val}};
	orch_rt_container *v = NULL;
	size_t n = 0;

	if (G.dk == NULL ||
	    orch_docker_list(G.dk, labels, 1, &v, &n, NULL) != ORCH_OK)
		return;
	for (size_t i = 0; i < n; i++)
		(void) orch_docker_remove(G.dk, v[i].id, true, NULL);
	orch_rt_container_list_free(v, n);
}

static int
count_labelled(const char *val)
{
	orch_rt_kv labels[] = {{LABEL_KEY, (char *) val}};
	orch_rt_container *v = NULL;
	size_t n = 0;

	if (orch_docker_list(G.dk, labels, 1, &v, &n, NULL) != ORCH_OK)
		return -1;
	orch_rt_container_list_free(v, n);
	return (int) n;
}

/* gluetun-sim as a user starts it: `-p 127.0.0.1:<ctl>:8000` and
 * `-p 127.0.0.1:<lo>-<hi>:<lo>-<hi>`, with env (NULL-terminated). */
static void
gluetun_start(const char *name, int ctl, int lo, int hi, const char **env)
{
	orch_rt_publish pub[32];
	orch_rt_kv label = {LABEL_KEY, G.gl_label};
	orch_rt_create_spec spec;
	orch_diag diag;
	char *id = NULL;
	size_t n = 0;

	pub[n++] = (orch_rt_publish){8000, ctl, "tcp"};
	for (int p = lo; p <= hi && n < 32; p++)
		pub[n++] = (orch_rt_publish){p, p, "tcp"};
	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.image = G.gluetun_image;
	spec.env = env;
	spec.labels = &label;
	spec.n_labels = 1;
	spec.ports = pub;
	spec.n_ports = n;
	spec.host_ip = "127.0.0.1";
	(void) orch_docker_remove(G.dk, name, true, NULL);
	if (orch_docker_create(G.dk, &spec, &id, &diag) != ORCH_OK ||
	    orch_docker_start(G.dk, id, &diag) != ORCH_OK) {
		free(id);
		fail_msg("gluetun-sim %s: %s", name, diag.msg);
	}
	free(id);
}

/* A control call on a Gluetun's published control port. */
static long
gluetun_put(int ctl, const char *path, const char *body)
{
	gwt_client c;
	gwt_resp r;
	gwt_req q = {.method = "PUT", .path = path, .body = body};
	long st;

	gwt_client_init(&c, ctl);
	st = gwt_do(&c, &q, &r);
	gwt_resp_fini(&r);
	gwt_client_fini(&c);
	return st;
}

static void
tunnel(int ctl, bool up, const char *key)
{
	gwt_client c;
	gwt_resp r;
	char hdr[128];
	gwt_req q = {.method = "PUT",
	    .path = "/v1/vpn/status",
	    .body =
	        up ? "{\"status\":\"running\"}" : "{\"status\":\"stopped\"}"};

	if (key != NULL) {
		snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key);
		q.extra = hdr;
	}
	gwt_client_init(&c, ctl);
	gwt_do(&c, &q, &r);
	gwt_expect_status(&r, 200);
	gwt_resp_fini(&r);
	gwt_client_fini(&c);
}

/* GET <path> of the Docker API (raw JSON for fields orch_rt_container
 * does not carry); NULL unless 200. */
static json_t *
docker_json(const char *path)
{
	CURL *e = curl_easy_init();
	char url[512];
	long status = 0;
	FILE *mem;
	char *buf = NULL;
	size_t len = 0;
	json_t *j = NULL;

	if (e == NULL || (mem = open_memstream(&buf, &len)) == NULL)
		return NULL;
	snprintf(url, sizeof(url), "http://localhost/v1.41%s", path);
	curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, G.docker_host + 7);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, mem);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	fclose(mem);
	if (status == 200)
		j = json_loadb(buf, len, 0, NULL);
	free(buf);
	return j;
}

/* An engine container's P2P_PORT (0: none), network mode, published
 * ports (as the inspect says). */
static int
engine_p2p(const char *id, char *netmode, size_t nlen, int *n_published)
{
	char path[160];
	json_t *j, *env, *x;
	size_t i;
	int p2p = 0;

	snprintf(path, sizeof(path), "/containers/%s/json", id);
	j = docker_json(path);
	if (j == NULL)
		fail_msg("inspect %s failed", id);
	env = json_object_get(json_object_get(j, "Config"), "Env");
	json_array_foreach(env, i, x)
	{
		if (strncmp(json_string_value(x), "P2P_PORT=", 9) == 0)
			p2p = atoi(json_string_value(x) + 9);
	}
	snprintf(netmode, nlen, "%s",
	    json_string_value(json_object_get(
	        json_object_get(j, "HostConfig"), "NetworkMode")));
	*n_published = (int) json_object_size(
	    json_object_get(json_object_get(j, "HostConfig"), "PortBindings"));
	json_decref(j);
	return p2p;
}

/*
 * The Gluetun image. gluetun-sim:latest is shared by every tree on the
 * daemon, and another tree's tools/build-images may put an older
 * simulator under that tag (without the API-key knob or PUT
 * /v1/portforward). So the cases run this tree's simulator: an image
 * built from the runfiles' static `sim` and Dockerfile.gluetun, tagged
 * by their content (built once, reused). Under --config=asan the sim is
 * dynamic and cannot run FROM scratch: then gluetun-sim:latest, which
 * tools/build-images made.
 */

/* Reads a whole file; NULL on failure (the caller frees). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t) n + 1))) {
		*len = fread(buf, 1, (size_t) n, f);
		if (*len != (size_t) n) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* One ustar member (mode 0755) into the stream. */
static void
tar_add(FILE *t, const char *name, const char *data, size_t len)
{
	unsigned char h[512];
	unsigned sum = 0;
	static const char zero[512];

	memset(h, 0, sizeof(h));
	snprintf((char *) h, 100, "%s", name);
	snprintf((char *) h + 100, 8, "%07o", 0755);
	snprintf((char *) h + 108, 8, "%07o", 0);
	snprintf((char *) h + 116, 8, "%07o", 0);
	snprintf((char *) h + 124, 12, "%011zo", len);
	snprintf((char *) h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *) h + 148, 8, "%06o", sum);
	h[155] = ' ';
	fwrite(h, 1, sizeof(h), t);
	fwrite(data, 1, len, t);
	fwrite(zero, 1, (512 - len % 512) % 512, t);
}

/* Whether an ELF64 image has a PT_INTERP program header (a loader). */
static bool
elf_dynamic(const char *b, size_t n)
{
	uint64_t phoff;
	uint16_t phentsize, phnum;

	if (n < 64 || memcmp(b, "\177ELF", 4) != 0 || b[4] != 2)
		return true; /* not what tools/sim builds: do not build */
	memcpy(&phoff, b + 0x20, 8);
	memcpy(&phentsize, b + 0x36, 2);
	memcpy(&phnum, b + 0x38, 2);
	for (uint16_t i = 0; i < phnum; i++) {
		uint64_t at = phoff + (uint64_t) i * phentsize;
		uint32_t type;

		if (at + 4 > n)
			return true;
		memcpy(&type, b + at, 4);
		if (type == 3) /* PT_INTERP */
			return true;
	}
	return false;
}

static uint64_t
fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char) p[i]) * 0x100000001b3ULL;
	return h;
}

/* POST /build with a tar of the context; true when Docker built it. */
static bool
docker_build(const char *tag, const char *tar, size_t len)
{
	CURL *e = curl_easy_init();
	struct curl_slist *hl =
	    curl_slist_append(NULL, "Content-Type: application/x-tar");
	char url[256], *out = NULL;
	size_t olen = 0;
	FILE *mem = open_memstream(&out, &olen);
	long status = 0;
	bool ok;

	snprintf(url, sizeof(url),
	    "http://localhost/v1.41/build?t=%s&rm=1&forcerm=1", tag);
	curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, G.docker_host + 7);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, tar);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) len);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 120000L);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, mem);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(hl);
	fclose(mem);
	ok = status == 200 && out != NULL && strstr(out, "\"error") == NULL;
	if (!ok)
		fprintf(stderr, "docker build %s: %ld %.400s\n", tag, status,
		    out != NULL ? out : "");
	free(out);
	return ok;
}

static bool
pick_gluetun_image(void)
{
	static const char end[1024];
	size_t blen = 0, dlen = 0, tlen = 0;
	char *bin = slurp("tools/sim/sim", &blen);
	char *df = slurp("tools/sim/Dockerfile.gluetun", &dlen);
	char *tar = NULL;
	FILE *t;
	bool ok = false;

	snprintf(
	    G.gluetun_image, sizeof(G.gluetun_image), "%s", GLUETUN_IMAGE);
	if (bin == NULL || df == NULL) {
		fprintf(stderr, "runfiles tools/sim/sim or its Dockerfile "
		                "missing\n");
		goto out;
	}
	/* A dynamic sim (ASan) needs its loader: no FROM scratch. */
	if (elf_dynamic(bin, blen)) {
		ok = true;
		goto out;
	}
	snprintf(G.gluetun_image, sizeof(G.gluetun_image),
	    "gluetun-sim:vpntest-%016llx",
	    (unsigned long long) fnv1a(
	        fnv1a(0xcbf29ce484222325ULL, bin, blen), df, dlen));
	if (orch_docker_image_inspect(G.dk, G.gluetun_image, NULL) ==
	    ORCH_OK) {
		ok = true;
		goto out;
	}
	if ((t = open_memstream(&tar, &tlen)) == NULL)
		goto out;
	tar_add(t, "Dockerfile", df, dlen);
	tar_add(t, "sim", bin, blen);
	fwrite(end, 1, sizeof(end), t);
	fclose(t);
	ok = docker_build(G.gluetun_image, tar, tlen);
out:
	free(bin);
	free(df);
	free(tar);
	return ok;
}

/* ---- the daemon ----------------------------------------------------------
 */

static void
log_tail(const orchd *d)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "tail -n 60 %s/daemon.log >&2", d->dir);
	fprintf(stderr, "---- orchestratord log (last lines) ----\n");
	(void) system(cmd);
}

static bool
read_port(const orchd *d, int *port)
{
	char path[128], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/http.port", d->dir);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	*port = atoi(buf);
	return *port > 0 && strchr(buf, '\n') != NULL;
}

/*
 * Starts orchestratord for case `tag` with the common VPN settings and
 * env (NULL-terminated "K=V"); returns once /healthz answers.
 */
static void
daemon_start(orchd *d, const char *tag, const char *const *env)
{
	static char e[MAX_ENV][512];
	char *envp[MAX_ENV + 1], portfile[128], logpath[128];
	char *argv[] = {
	    G.daemon, "--port-file", portfile, "--http-threads", "2", NULL};
	int n = 0;
	int64_t deadline;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/tvpn-XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(d->label_val, sizeof(d->label_val), "vpn-%s-%s", G.run, tag);
	snprintf(portfile, sizeof(portfile), "%s/http.port", d->dir);
	snprintf(logpath, sizeof(logpath), "%s/daemon.log", d->dir);
#define ENV(...) snprintf(e[n], sizeof(e[n]), __VA_ARGS__), envp[n] = e[n], n++
	ENV("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	ENV("APP_HOST=127.0.0.1");
	ENV("APP_PORT=0");
	ENV("RPC_LISTEN=ipc://%s/rpc.sock", d->dir);
	ENV("DOCKER_HOST=%s", G.docker_host);
	ENV("TARGET_IMAGE=%s", ENGINE_IMAGE);
	ENV("IMAGE_PULL=never");
	ENV("MIN_REPLICAS=0");
	ENV("AUTO_DELETE=false");
	ENV("CONTAINER_LABEL=%s=%s", LABEL_KEY, d->label_val);
	ENV("ENGINE_NAME_PREFIX=tvpn%s%s", G.run + strlen(G.run) - 6, tag);
	ENV("ACE_HTTPS_RANGE=47600-47699");
	ENV("PORT_RANGE_HOST=31100-31199");
	ENV("HEALTH_CHECK_INTERVAL_S=1");
	ENV("AUTOSCALE_INTERVAL_S=1");
	ENV("GLUETUN_HEALTH_CHECK_INTERVAL_S=1");
	ENV("GLUETUN_PORT_CACHE_TTL_S=1");
	ENV("DB_PATH=%s/orch.db", d->dir);
	ENV("LOG_LEVEL=info");
	for (size_t i = 0; env != NULL && env[i] != NULL && n < MAX_ENV; i++)
		ENV("%s", env[i]);
#undef ENV
	envp[n] = NULL;
	d->pid = fork();
	if (d->pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (chdir(d->dir) != 0)
			_exit(126);
		execve(G.daemon, argv, envp);
		_exit(127);
	}
	deadline = gwt_mono_ms() + WAIT_MS;
	while (!read_port(d, &d->port)) {
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid ||
		    gwt_mono_ms() > deadline) {
			log_tail(d);
			fail_msg("orchestratord did not come up");
		}
		usleep(20000);
	}
	gwt_client_init(&d->c, d->port);
	for (;;) {
		gwt_resp r;
		long st = gwt_get(&d->c, "/healthz", NULL, &r);

		gwt_resp_fini(&r);
		if (st == 200)
			break;
		if (gwt_mono_ms() > deadline) {
			log_tail(d);
			fail_msg("orchestratord does not answer /healthz");
		}
		usleep(20000);
	}
}

/* SIGTERM, the exit, and every engine of the case removed. */
static void
daemon_stop(orchd *d)
{
	int st;
	int64_t deadline = gwt_mono_ms() + 15000;

	if (d->c.h != NULL)
		gwt_client_fini(&d->c);
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		while (waitpid(d->pid, &st, WNOHANG) == 0 &&
		       gwt_mono_ms() < deadline)
			usleep(20000);
		if (gwt_mono_ms() >= deadline) {
			kill(d->pid, SIGKILL);
			(void) waitpid(d->pid, &st, 0);
		}
		d->pid = -1;
	}
	remove_labelled(d->label_val);
	if (d->dir[0] != '\0') {
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
		(void) system(cmd);
	}
}

/* ---- HTTP on the daemon --------------------------------------------------
 */

/* GET path as JSON (the caller decrefs); fails unless 200. */
static json_t *
get_json(orchd *d, const char *path)
{
	gwt_resp r;
	json_t *j;

	gwt_get(&d->c, path, NULL, &r);
	if (r.status != 200 || r.json == NULL) {
		log_tail(d);
		fail_msg("GET %s: %ld %s", path, r.status, r.body);
	}
	j = json_incref(r.json);
	gwt_resp_fini(&r);
	return j;
}

/* POST /provision/acestream: the status; *out (may be NULL) the body. */
static long
provision(orchd *d, json_t **out)
{
	gwt_resp r;
	long st = gwt_post(&d->c, "/provision/acestream", NULL, "{}", &r);

	if (out != NULL)
		*out = r.json != NULL ? json_incref(r.json) : NULL;
	gwt_resp_fini(&r);
	return st;
}

static json_t *
vpn_entry(orchd *d, const char *name)
{
	json_t *v = get_json(d, "/vpn/status"), *x, *found = NULL;
	size_t i;

	gwt_check_vpn(v, "/vpn/status");
	json_array_foreach(json_object_get(v, "vpns"), i, x)
	{
		if (strcmp(gwt_str(x, "name"), name) == 0)
			found = json_incref(x);
	}
	json_decref(v);
	if (found == NULL)
		fail_msg("no %s in /vpn/status", name);
	return found;
}

static bool
vpn_connected(orchd *d, const char *name)
{
	json_t *v = vpn_entry(d, name);
	bool up = json_is_true(json_object_get(v, "connected"));

	json_decref(v);
	return up;
}

static bool
vpn_field_is(orchd *d, const char *name, const char *field, const char *want)
{
	json_t *v = vpn_entry(d, name);
	bool is = strcmp(gwt_str(v, field), want) == 0;

	json_decref(v);
	return is;
}

static bool
can_provision(orchd *d)
{
	json_t *s = get_json(d, "/orchestrator/status");
	bool ok = json_is_true(json_object_get(
	    json_object_get(s, "provisioning"), "can_provision"));

	json_decref(s);
	return ok;
}

/* The daemon's last check of VPN name (its RFC 3339 string), for waits
 * that count rounds. */
static void
last_check(orchd *d, const char *name, char *out, size_t n)
{
	json_t *v = vpn_entry(d, name);
	const json_t *t = json_object_get(v, "last_check_at");

	snprintf(out, n, "%s", json_is_string(t) ? json_string_value(t) : "");
	json_decref(v);
}

/* Waits until the daemon has checked VPN name `rounds` more times. */
static void
wait_rounds(orchd *d, const char *name, int rounds)
{
	char prev[64], now[64];
	int64_t deadline = gwt_mono_ms() + WAIT_MS;

	last_check(d, name, prev, sizeof(prev));
	while (rounds > 0) {
		if (gwt_mono_ms() > deadline)
			fail_msg("%s: no new check", name);
		usleep(100000);
		last_check(d, name, now, sizeof(now));
		if (strcmp(now, prev) != 0) {
			rounds--;
			snprintf(prev, sizeof(prev), "%s", now);
		}
	}
}

#define WAIT_UNTIL(d, cond, what)                                             \
	do {                                                                  \
		int64_t wu_deadline_ = gwt_mono_ms() + WAIT_MS;               \
		while (!(cond)) {                                             \
			if (gwt_mono_ms() > wu_deadline_) {                   \
				log_tail(d);                                  \
				fail_msg("timed out waiting for %s", what);   \
			}                                                     \
			usleep(50000);                                        \
		}                                                             \
	} while (0)

/* Engines now: count, forwarded count (and its id and p2p label), how
 * many are healthy, and the ids (up to 16). */
typedef struct eview {
	int n, forwarded, healthy;
	char fwd_id[80];
	int fwd_p2p;
	char ids[16][80];
	char vpn[16][64];
	int port[16], host_port[16];
} eview;

static eview
engines(orchd *d)
{
	json_t *a = get_json(d, "/engines"), *e;
	eview v;
	size_t i;

	memset(&v, 0, sizeof(v));
	json_array_foreach(a, i, e)
	{
		const json_t *lab = json_object_get(e, "labels");
		const json_t *vpn = json_object_get(e, "vpn");

		gwt_check_engine(e, "/engines[]");
		if (i < 16) {
			snprintf(v.ids[i], sizeof(v.ids[i]), "%s",
			    gwt_str(e, "container_id"));
			snprintf(v.vpn[i], sizeof(v.vpn[i]), "%s",
			    json_is_string(vpn) ? json_string_value(vpn) : "");
			v.port[i] = (int) gwt_int(e, "port");
			v.host_port[i] = atoi(json_string_value(
			    json_object_get(lab, "host.http_port")));
		}
		v.n++;
		if (strcmp(gwt_str(e, "health_status"), "healthy") == 0)
			v.healthy++;
		if (json_is_true(json_object_get(e, "forwarded"))) {
			const json_t *p2p =
			    json_object_get(lab, "acestream.p2p_port");

			v.forwarded++;
			snprintf(v.fwd_id, sizeof(v.fwd_id), "%s",
			    gwt_str(e, "container_id"));
			v.fwd_p2p = json_is_string(p2p)
			                ? atoi(json_string_value(p2p))
			                : 0;
		}
	}
	json_decref(a);
	return v;
}

static bool
has_id(const eview *v, const char *id)
{
	for (int i = 0; i < v->n && i < 16; i++) {
		if (strcmp(v->ids[i], id) == 0)
			return true;
	}
	return false;
}

/* How many of before's engines are still listed in now. */
static int
kept(const eview *before, const eview *now)
{
	int k = 0;

	for (int i = 0; i < before->n && i < 16; i++)
		k += has_id(now, before->ids[i]);
	return k;
}

/* The engine answers its health probe at 127.0.0.1:<host port> (the
 * port Gluetun publishes for it). */
static long
engine_status(int host_port)
{
	gwt_client c;
	gwt_resp r;
	long st;

	gwt_client_init(&c, host_port);
	st = gwt_get(
	    &c, "/server/api?api_version=3&method=get_status", NULL, &r);
	gwt_resp_fini(&r);
	gwt_client_fini(&c);
	return st;
}

/* The structured VPN refusal, on a provision. */
static json_t *
expect_vpn_refusal(orchd *d)
{
	json_t *body = NULL, *det;
	long st = provision(d, &body);

	if (st != 503)
		fail_msg("provision: %ld, want 503", st);
	det = json_object_get(body, "detail");
	gwt_check_refusal(det, "refusal");
	if (strcmp(gwt_str(det, "code"), "vpn_disconnected") != 0)
		fail_msg("refusal code %s", gwt_str(det, "code"));
	return body;
}

/* ---- cases -------------------------------------------------------------- */

/* Ports of case 1. */
#define A_CTL 31100
#define A_LO 31101
#define A_HI 31108

static void
check_blocked_status(orchd *d)
{
	json_t *s = get_json(d, "/orchestrator/status");
	const json_t *p = json_object_get(s, "provisioning");
	const json_t *v = json_object_get(s, "vpn");

	gwt_check_status(s, "/orchestrator/status");
	assert_string_equal(gwt_str(s, "status"), "degraded");
	assert_true(json_is_false(json_object_get(v, "connected")));
	assert_true(json_is_false(json_object_get(p, "can_provision")));
	assert_string_equal(gwt_str(p, "blocked_reason"), "VPN not connected");
	assert_string_equal(
	    gwt_str(json_object_get(p, "blocked_reason_details"), "code"),
	    "vpn_disconnected");
	json_decref(s);
}

static void
case_gate_forward_reconnect(orchd *d, const char *g)
{
	eview v, before, after;
	json_t *res, *body;
	char netmode[128];
	int published, p2p;

	/* Connected; its pool is the engine ports it publishes. */
	WAIT_UNTIL(d, vpn_connected(d, g), "the VPN to connect");
	body = vpn_entry(d, g);
	assert_string_equal(gwt_str(body, "status"), "running");
	assert_string_equal(gwt_str(body, "control"), "ok");
	assert_int_equal(gwt_int(body, "ports_total"), A_HI - A_LO + 1);
	assert_int_equal(gwt_int(body, "forwarded_port"), 54321);
	json_decref(body);

	/* Exactly one engine owns the forwarded port (the monitor starts
	 * it); a provision adds a plain one. */
	WAIT_UNTIL(d, engines(d).forwarded == 1, "the forwarded engine");
	assert_int_equal(provision(d, &res), 200);
	gwt_check_provision_result(res, "ProvisionResult");
	assert_true(gwt_int(res, "host_http_port") >= A_LO &&
	            gwt_int(res, "host_http_port") <= A_HI);
	json_decref(res);
	WAIT_UNTIL(d, engines(d).healthy == 2, "two healthy engines");
	v = engines(d);
	assert_int_equal(v.n, 2);
	assert_int_equal(v.forwarded, 1);
	for (int i = 0; i < v.n; i++) {
		/* Inside Gluetun, no ports of their own, reached through
		 * Gluetun's; advertised as <gluetun>:<port>. */
		p2p =
		    engine_p2p(v.ids[i], netmode, sizeof(netmode), &published);
		assert_int_equal(strncmp(netmode, "container:", 10), 0);
		assert_int_equal(published, 0);
		assert_int_equal(
		    p2p, strcmp(v.ids[i], v.fwd_id) == 0 ? 54321 : 0);
		assert_string_equal(v.vpn[i], g);
		assert_int_equal(engine_status(v.host_port[i]), 200);
	}

	/* Tunnel off: refused within a round, degraded, engines listed. */
	tunnel(A_CTL, false, NULL);
	WAIT_UNTIL(d, !can_provision(d), "provisioning to be refused");
	json_decref(expect_vpn_refusal(d));
	check_blocked_status(d);
	assert_int_equal(engines(d).n, 2);

	/* Back at once (a bounce shorter than VPN_RECONNECT_STABLE_S):
	 * resumed, nothing replaced. */
	before = engines(d);
	tunnel(A_CTL, true, NULL);
	WAIT_UNTIL(d, can_provision(d), "provisioning to resume");
	assert_int_equal(provision(d, NULL), 200);
	wait_rounds(d, g, 3);
	after = engines(d);
	assert_int_equal(kept(&before, &after), before.n);
	assert_int_equal(after.n, 3);

	/* A drop longer than the window: the older engines are replaced,
	 * once (the idle ones, new one first). */
	before = after;
	tunnel(A_CTL, false, NULL);
	WAIT_UNTIL(d, !can_provision(d), "provisioning to be refused");
	/* Time must pass here: the drop has to outlast the window
	 * (VPN_RECONNECT_STABLE_S=5), counted in the daemon's checks. */
	for (int64_t t0 = gwt_mono_ms(); gwt_mono_ms() - t0 < 6500;)
		wait_rounds(d, g, 1);
	tunnel(A_CTL, true, NULL);
	WAIT_UNTIL(d, can_provision(d), "provisioning to resume");
	WAIT_UNTIL(d,
	    (after = engines(d), kept(&before, &after) == 0 && after.n == 3 &&
	                             after.forwarded == 1),
	    "the older engines to be replaced");
	wait_rounds(d, g, 3);
	before = after;
	after = engines(d);
	assert_int_equal(kept(&before, &after), 3); /* once */

	/* The forwarded port changes: one forwarded engine throughout,
	 * then the new one with the new port. */
	if (gluetun_put(A_CTL, "/v1/portforward", "{\"ports\":[41000]}") !=
	    200)
		fail_msg("gluetun-sim does not take PUT /v1/portforward: an "
		         "older image? (tools/build-images)");
	for (int64_t end = gwt_mono_ms() + WAIT_MS;;) {
		v = engines(d);
		if (v.forwarded > 1)
			fail_msg("two forwarded engines on one VPN");
		if (v.forwarded == 1 && v.fwd_p2p == 41000)
			break;
		if (gwt_mono_ms() > end)
			fail_msg("no engine took the new forwarded port");
		usleep(50000);
	}
	p2p = engine_p2p(v.fwd_id, netmode, sizeof(netmode), &published);
	assert_int_equal(p2p, 41000);
	body = vpn_entry(d, g);
	assert_int_equal(gwt_int(body, "forwarded_port"), 41000);
	json_decref(body);

	/* The container stopped: exited (seen through the events), then
	 * started again: recovered, engines healthy again. */
	assert_int_equal(orch_docker_stop(G.dk, g, 2, NULL), ORCH_OK);
	WAIT_UNTIL(d, vpn_field_is(d, g, "status", "exited"),
	    "the VPN to read exited");
	json_decref(expect_vpn_refusal(d));
	assert_true(engines(d).n > 0);
	assert_int_equal(orch_docker_start(G.dk, g, NULL), ORCH_OK);
	WAIT_UNTIL(
	    d, vpn_connected(d, g) && can_provision(d), "the VPN to recover");
	WAIT_UNTIL(d,
	    (v = engines(d), v.n > 0 && v.healthy == v.n && v.forwarded == 1),
	    "its engines to be healthy again");
}

static void
check_metrics(orchd *d, const char *g)
{
	gwt_resp r;
	gwt_prom p;
	char err[200], lab[128];
	int n = 0;

	gwt_get(&d->c, "/metrics", NULL, &r);
	gwt_expect_status(&r, 200);
	if (!gwt_prom_parse(r.body, r.len, &p, err, sizeof(err)))
		fail_msg("metrics: %s", err);
	snprintf(lab, sizeof(lab), "vpn=%s", g);
	assert_true(
	    gwt_prom_sum(&p, "orch_vpn_connected", lab, true, &n) == 1.0);
	assert_int_equal(n, 1);
	assert_true(
	    gwt_prom_sum(&p, "orch_vpn_forwarded_port", lab, true, &n) > 0);
	snprintf(lab, sizeof(lab), "vpn=%s,to=disconnected", g);
	assert_true(gwt_prom_sum(&p, "orch_vpn_transitions_total", lab, true,
	                &n) >= 3.0);
	gwt_prom_fini(&p);
	gwt_resp_fini(&r);
}

static void
test_single_vpn(void **state)
{
	char g[64], gv[96];
	const char *genv[] = {NULL};
	const char *denv[] = {
	    gv, "VPN_RECONNECT_STABLE_S=5", "MAX_REPLICAS=6", NULL};
	orchd d;

	(void) state;
	need_docker();
	snprintf(g, sizeof(g), "tvpn%sa-g1", G.run + strlen(G.run) - 6);
	snprintf(gv, sizeof(gv), "GLUETUN_CONTAINER_NAME=%s", g);
	gluetun_start(g, A_CTL, A_LO, A_HI, genv);
	daemon_start(&d, "a", denv);
	case_gate_forward_reconnect(&d, g);
	check_metrics(&d, g);
	daemon_stop(&d);
	assert_int_equal(count_labelled(d.label_val), 0);
	(void) orch_docker_remove(G.dk, g, true, NULL);
}

#define B_CTL 31120
#define B_LO 31121
#define B_HI 31124

static void
test_api_credentials(void **state)
{
	char g[64], gv[96], key[48], ke[96], skey[96];
	const char *genv[] = {skey, NULL};
	const char *no_key[] = {gv, NULL};
	const char *with_key[] = {gv, ke, NULL};
	const char *benv[] = {
	    "SIM_API_USER=orch", "SIM_API_PASSWORD=pw", NULL};
	const char *basic[] = {
	    gv, "GLUETUN_API_USER=orch", "GLUETUN_API_PASSWORD=pw", NULL};
	json_t *v, *body, *det;
	orchd d;

	(void) state;
	need_docker();
	snprintf(g, sizeof(g), "tvpn%sb-g1", G.run + strlen(G.run) - 6);
	snprintf(gv, sizeof(gv), "GLUETUN_CONTAINER_NAME=%s", g);
	snprintf(key, sizeof(key), "k-%s", G.run);
	snprintf(skey, sizeof(skey), "SIM_API_KEY=%s", key);
	snprintf(ke, sizeof(ke), "GLUETUN_API_KEY=%s", key);
	gluetun_start(g, B_CTL, B_LO, B_HI, genv);

	/* Without the key: a configuration error, said as such. */
	daemon_start(&d, "b1", no_key);
	WAIT_UNTIL(&d, vpn_field_is(&d, g, "control", "unauthorized"),
	    "the control server's 401");
	v = get_json(&d, "/vpn/status");
	assert_string_equal(gwt_str(v, "status"), "running");
	assert_true(json_is_false(json_object_get(v, "connected")));
	assert_non_null(strstr(gwt_str(v, "error"), "HTTP 401"));
	json_decref(v);
	body = expect_vpn_refusal(&d);
	det = json_object_get(body, "detail");
	assert_true(json_is_false(json_object_get(det, "should_wait")));
	assert_true(
	    json_is_null(json_object_get(det, "recovery_eta_seconds")));
	assert_non_null(strstr(gwt_str(det, "message"), "GLUETUN_API_KEY"));
	json_decref(body);
	daemon_stop(&d);

	/* With it: connected, provisioning open. */
	daemon_start(&d, "b2", with_key);
	WAIT_UNTIL(&d, vpn_connected(&d, g), "the VPN to connect");
	assert_int_equal(provision(&d, NULL), 200);
	daemon_stop(&d);

	/* Basic auth likewise. */
	gluetun_start(g, B_CTL, B_LO, B_HI, benv);
	daemon_start(&d, "b3", basic);
	WAIT_UNTIL(&d, vpn_connected(&d, g), "the VPN to connect");
	daemon_stop(&d);
	(void) orch_docker_remove(G.dk, g, true, NULL);
}

#define C_CTL1 31140
#define C_LO1 31141
#define C_HI1 31144
#define C_CTL2 31150
#define C_LO2 31151
#define C_HI2 31154

static int
engines_on(const eview *v, const char *g)
{
	int n = 0;

	for (int i = 0; i < v->n && i < 16; i++)
		n += strcmp(v->vpn[i], g) == 0;
	return n;
}

static void
test_two_vpns(void **state)
{
	char g1[64], g2[64], gv[160];
	const char *genv[] = {NULL};
	const char *denv[] = {gv, "MAX_REPLICAS=8", NULL};
	orchd d;
	eview v;
	json_t *sel;
	gwt_resp r;

	(void) state;
	need_docker();
	snprintf(g1, sizeof(g1), "tvpn%sc-g1", G.run + strlen(G.run) - 6);
	snprintf(g2, sizeof(g2), "tvpn%sc-g2", G.run + strlen(G.run) - 6);
	snprintf(gv, sizeof(gv), "GLUETUN_CONTAINER_NAME=%s,%s", g1, g2);
	gluetun_start(g1, C_CTL1, C_LO1, C_HI1, genv);
	gluetun_start(g2, C_CTL2, C_LO2, C_HI2, genv);
	daemon_start(&d, "c", denv);
	WAIT_UNTIL(&d, vpn_connected(&d, g1) && vpn_connected(&d, g2),
	    "both VPNs to connect");
	/* Each gets its forwarded engine; new ones spread. */
	WAIT_UNTIL(&d, engines(&d).forwarded == 2, "two forwarded engines");
	for (int i = 0; i < 2; i++)
		assert_int_equal(provision(&d, NULL), 200);
	v = engines(&d);
	assert_int_equal(engines_on(&v, g1), 2);
	assert_int_equal(engines_on(&v, g2), 2);

	/* g2 down: only its own provisioning stops; its engines are listed
	 * after g1's and chosen last. */
	tunnel(C_CTL2, false, NULL);
	WAIT_UNTIL(&d, !vpn_connected(&d, g2), "g2 to drop");
	assert_true(vpn_connected(&d, g1));
	assert_true(can_provision(&d));
	assert_int_equal(provision(&d, NULL), 200);
	WAIT_UNTIL(&d, (v = engines(&d), v.healthy == v.n), "healthy engines");
	assert_int_equal(engines_on(&v, g1), 3);
	assert_int_equal(engines_on(&v, g2), 2);
	for (int i = 0; i < v.n; i++)
		assert_string_equal(v.vpn[i], i < 3 ? g1 : g2);
	for (int i = 0; i < 3; i++) {
		gwt_post(
		    &d.c, "/engines/select", NULL, "{\"reserve\":true}", &r);
		gwt_expect_status(&r, 200);
		sel = json_object_get(r.json, "engine");
		assert_string_equal(gwt_str(sel, "vpn"), g1);
		gwt_resp_fini(&r);
	}
	/* Both down: refused. */
	tunnel(C_CTL1, false, NULL);
	WAIT_UNTIL(&d, !can_provision(&d), "provisioning to be refused");
	json_decref(expect_vpn_refusal(&d));
	daemon_stop(&d);
	(void) orch_docker_remove(G.dk, g1, true, NULL);
	(void) orch_docker_remove(G.dk, g2, true, NULL);
}

#define D_CTL 31170
#define D_LO 31171
#define D_HI 31176
#define CYCLES 200
#define CLIENTS 4

typedef struct cycler {
	int port;
	int n;
	int failed;
	char why[256];
} cycler;

static size_t
discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void) p;
	(void) arg;
	return size * nmemb;
}

static size_t
sink(char *p, size_t size, size_t nmemb, void *arg)
{
	FILE *f = arg;

	return fwrite(p, size, nmemb, f);
}

/* n provision + delete cycles on its own connection; no assertion off
 * the test's thread: failures are counted. */
static void *
cycle_main(void *arg)
{
	cycler *c = arg;
	CURL *h = curl_easy_init();
	char url[128];

	for (int i = 0; h != NULL && i < c->n; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		long st = 0;
		json_t *j = NULL;

		snprintf(url, sizeof(url),
		    "http://127.0.0.1:%d/provision/acestream", c->port);
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
		fclose(mem);
		if (st == 200)
			j = json_loadb(buf, len, 0, NULL);
		if (j == NULL) {
			c->failed++;
			snprintf(c->why, sizeof(c->why),
			    "provision %ld: %.200s", st,
			    buf != NULL ? buf : "");
			free(buf);
			continue;
		}
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/containers/%s",
		    c->port,
		    json_string_value(json_object_get(j, "container_id")));
		json_decref(j);
		free(buf);
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		st = 0;
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
		if (st != 200) {
			c->failed++;
			snprintf(c->why, sizeof(c->why), "delete %ld", st);
		}
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void
test_cycles_no_port_leak(void **state)
{
	char g[64], gv[96];
	const char *genv[] = {NULL};
	const char *denv[] = {gv, "MAX_REPLICAS=8", NULL};
	pthread_t t[CLIENTS];
	cycler c[CLIENTS];
	orchd d;
	json_t *v;
	eview e;

	(void) state;
	need_docker();
	snprintf(g, sizeof(g), "tvpn%sd-g1", G.run + strlen(G.run) - 6);
	snprintf(gv, sizeof(gv), "GLUETUN_CONTAINER_NAME=%s", g);
	gluetun_start(g, D_CTL, D_LO, D_HI, genv);
	daemon_start(&d, "d", denv);
	WAIT_UNTIL(&d, vpn_connected(&d, g), "the VPN to connect");
	WAIT_UNTIL(&d, engines(&d).forwarded == 1, "the forwarded engine");
	for (int i = 0; i < CLIENTS; i++) {
		c[i] = (cycler){d.port, CYCLES / CLIENTS, 0, ""};
		assert_int_equal(
		    pthread_create(&t[i], NULL, cycle_main, &c[i]), 0);
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(t[i], NULL);
		if (c[i].failed > 0)
			fail_msg("client %d: %d failed, last: %s", i,
			    c[i].failed, c[i].why);
	}
	/* Every port back but the forwarded engine's; nothing left. */
	e = engines(&d);
	assert_int_equal(e.n, 1);
	v = vpn_entry(&d, g);
	assert_int_equal(gwt_int(v, "ports_total"), D_HI - D_LO + 1);
	assert_int_equal(gwt_int(v, "ports_free"), D_HI - D_LO);
	assert_int_equal(gwt_int(v, "engines"), 1);
	json_decref(v);
	assert_int_equal(count_labelled(d.label_val), 1);
	daemon_stop(&d);
	(void) orch_docker_remove(G.dk, g, true, NULL);
}

/* ---- group -------------------------------------------------------------- */

static int
group_setup(void **state)
{
	const char *host = getenv("DOCKER_HOST");
	unsigned r = 0;
	orch_diag diag;

	(void) state;
	if (getenv("ORCH_TEST_DOCKER") == NULL)
		return 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r))
		r = (unsigned) time(NULL) ^ (unsigned) getpid();
	snprintf(G.run, sizeof(G.run), "%d%06x", (int) getpid() % 1000,
	    r & 0xffffffu);
	snprintf(G.gl_label, sizeof(G.gl_label), "vpn-%s-x", G.run);
	snprintf(G.docker_host, sizeof(G.docker_host), "%s",
	    host != NULL && strncmp(host, "unix://", 7) == 0
	        ? host
	        : ORCH_DOCKER_DEFAULT_HOST);
	if (daemon_arg == NULL || realpath(daemon_arg, G.daemon) == NULL) {
		fprintf(stderr, "orchestratord not found (argv[1])\n");
		return -1;
	}
	if (orch_docker_open(G.docker_host, 60000, &G.dk) != ORCH_OK)
		return -1;
	if (orch_docker_image_inspect(G.dk, ENGINE_IMAGE, &diag) != ORCH_OK) {
		fprintf(stderr, "%s is missing (tools/build-images)\n",
		    ENGINE_IMAGE);
		return -1;
	}
	if (!pick_gluetun_image())
		return -1;
	printf("run %s, Gluetun image %s\n", G.run, G.gluetun_image);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	if (G.dk != NULL) {
		char val[80];

		remove_labelled(G.gl_label);
		for (const char *t = "a b1 b2 b3 c d"; *t != '\0';) {
			char tag[4] = "";
			size_t n = strcspn(t, " ");

			snprintf(tag, sizeof(tag), "%.*s", (int) n, t);
			snprintf(val, sizeof(val), "vpn-%s-%s", G.run, tag);
			remove_labelled(val);
			t += n;
			while (*t == ' ')
				t++;
		}
		orch_docker_close(G.dk);
		G.dk = NULL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_vpn),
	    cmocka_unit_test(test_api_credentials),
	    cmocka_unit_test(test_two_vpns),
	    cmocka_unit_test(test_cycles_no_port_leak),
	};
	int rc;

	daemon_arg = argc > 1 ? argv[1] : NULL;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name(
	    "vpn against gluetun-sim", tests, group_setup, group_teardown);
	curl_global_cleanup();
	return rc;
}
