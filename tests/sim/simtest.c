#include "tests/sim/simtest.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_KIDS 64
#define MAX_ENV 64
#define MAX_BODY (1 << 20)

static pid_t kids[MAX_KIDS];

int64_t
simtest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(long ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

const char *
simtest_sim_path(void)
{
	static char path[4096];
	const char *roots[] = {getenv("TEST_SRCDIR"), getenv("RUNFILES_DIR")};
	size_t i;

	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		if (roots[i] == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/orchestrator/tools/sim/sim",
		    roots[i]);
		if (access(path, X_OK) == 0)
			return path;
	}
	/* bazel runs tests from the workspace's runfiles directory. */
	snprintf(path, sizeof(path), "tools/sim/sim");
	return path;
}

void
simtest_tmp_path(char *buf, size_t bufsz, const char *name)
{
	static unsigned seq;
	const char *dir = getenv("TEST_TMPDIR");

	snprintf(buf, bufsz, "%s/simtest-%d-%u-%s", dir ? dir : "/tmp",
	    (int) getpid(), seq++, name);
}

int
simtest_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int
simtest_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd;

	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
simtest_can_connect(int port)
{
	int fd = simtest_connect(port);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static void
kid_add(pid_t pid)
{
	size_t i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
}

static void
kid_del(pid_t pid)
{
	size_t i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

void
simtest_reap_all(void)
{
	size_t i;

	for (i = 0; i < MAX_KIDS; i++) {
		if (kids[i] == 0)
			continue;
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
		kids[i] = 0;
	}
}

/* Builds a NULL-terminated envp into out from env plus extras. */
static void
build_env(const char **out, const char *const *env, const char *const *extra)
{
	static const char *pass[] = {
	    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	static char passbuf[3][1024];
	size_t n = 0, i;

	for (i = 0; env != NULL && env[i] != NULL && n < MAX_ENV - 8; i++)
		out[n++] = env[i];
	for (i = 0; extra != NULL && extra[i] != NULL && n < MAX_ENV - 4; i++)
		out[n++] = extra[i];
	/* Sanitizer settings of the test apply to the (asan) sim as well. */
	for (i = 0; i < 3; i++) {
		const char *v = getenv(pass[i]);

		if (v == NULL)
			continue;
		snprintf(passbuf[i], sizeof(passbuf[i]), "%s=%s", pass[i], v);
		out[n++] = passbuf[i];
	}
	out[n] = NULL;
}

static pid_t
spawn(const char *const *argv, const char *const *envp)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* Die with the test, even when it crashes mid-assertion. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(126);
	execve(argv[0], (char *const *) argv, (char *const *) envp);
	_exit(127);
}

int
simtest_start(struct simtest_proc *p, const char *mode, const char *const *env,
    int port, int wait_ms)
{
	const char *envp[MAX_ENV];
	const char *argv[] = {simtest_sim_path(), mode, NULL};
	char portfile_env[600];
	const char *extra[4] = {"SIM_LISTEN_ADDR=127.0.0.1", NULL, NULL, NULL};

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->port = port;
	if (port == 0) {
		simtest_tmp_path(p->port_file, sizeof(p->port_file), "port");
		unlink(p->port_file);
		snprintf(portfile_env, sizeof(portfile_env),
		    "SIM_PORT_FILE=%s", p->port_file);
		extra[1] = strcmp(mode, "gluetun") == 0 ? "GLUETUN_API_PORT=0"
		                                        : "HTTP_PORT=0";
		extra[2] = portfile_env;
	}
	build_env(envp, env, extra);
	p->pid = spawn(argv, envp);
	if (p->pid < 0)
		return -1;
	kid_add(p->pid);
	if (wait_ms > 0 && simtest_wait_ready(p, wait_ms) != 0) {
		simtest_stop(p);
		return -1;
	}
	return 0;
}

static int
read_port_file(const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

int
simtest_wait_ready(struct simtest_proc *p, int wait_ms)
{
	int64_t deadline = simtest_now_ms() + wait_ms;

	do {
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			kid_del(p->pid);
			p->pid = -1;
			return -1;
		}
		if (p->port == 0)
			p->port = read_port_file(p->port_file);
		if (p->port > 0 && simtest_can_connect(p->port))
			return 0;
		nap_ms(10);
	} while (simtest_now_ms() < deadline);
	return -1;
}

int
simtest_stop_sig(
    struct simtest_proc *p, int sig, int timeout_ms, int64_t *elapsed_ms)
{
	int64_t start = simtest_now_ms();
	int status, rc = -1;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	for (;;) {
		pid_t w = waitpid(p->pid, &status, WNOHANG);

		if (w == p->pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status)
			                       : 128 + WTERMSIG(status);
			break;
		}
		if (simtest_now_ms() - start > timeout_ms) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			break;
		}
		nap_ms(2);
	}
	if (elapsed_ms != NULL)
		*elapsed_ms = simtest_now_ms() - start;
	kid_del(p->pid);
	p->pid = -1;
	if (p->port_file[0] != '\0')
		unlink(p->port_file);
	return rc;
}

void
simtest_stop(struct simtest_proc *p)
{
	(void) simtest_stop_sig(p, SIGTERM, 2000, NULL);
}

int
simtest_run(const char *const *argv, const char *const *env, int timeout_ms,
    int64_t *elapsed_ms)
{
	const char *envp[MAX_ENV];
	int64_t start = simtest_now_ms();
	int status, rc = -1;
	pid_t pid;

	build_env(envp, env, NULL);
	pid = spawn(argv, envp);
	if (pid < 0)
		return -1;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			break;
		}
		if (simtest_now_ms() - start > timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		nap_ms(5);
	}
	if (elapsed_ms != NULL)
		*elapsed_ms = simtest_now_ms() - start;
	return rc;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct simtest_resp *r = arg;
	size_t n = size * nmemb;
	char *grown;

	if (r->len + n > MAX_BODY)
		return 0;
	grown = realloc(r->body, r->len + n + 1);
	if (grown == NULL)
		return 0;
	r->body = grown;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct simtest_resp *r = arg;
	size_t n = size * nmemb;
	static const char te[] = "transfer-encoding: chunked";
	static const char wa[] = "www-authenticate:";

	if (n >= sizeof(te) - 1 && strncasecmp(data, te, sizeof(te) - 1) == 0)
		r->chunked = 1;
	if (n >= sizeof(wa) - 1 &&
	    strncasecmp(data, wa, sizeof(wa) - 1) == 0) {
		size_t k = n - (sizeof(wa) - 1);
		const char *v = data + sizeof(wa) - 1;

		while (k > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			k--;
		}
		while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == '\n'))
			k--;
		snprintf(r->www_authenticate, sizeof(r->www_authenticate),
		    "%.*s", (int) k, v);
	}
	return n;
}

int
simtest_http(struct simtest_resp *r, const char *method, const char *url,
    const char *req_body, const char *const *headers, long timeout_ms)
{
	struct curl_slist *hl = NULL;
	CURL *h;
	char *ct = NULL;
	long conns = 0;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->body = calloc(1, 1);
	r->curl_code = CURLE_FAILED_INIT;
	h = curl_easy_init();
	if (h == NULL || r->body == NULL)
		goto out;
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		struct curl_slist *nl = curl_slist_append(hl, headers[i]);

		if (nl == NULL)
			goto out;
		hl = nl;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (hl != NULL)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	if (req_body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req_body);
		curl_easy_setopt(
		    h, CURLOPT_POSTFIELDSIZE, (long) strlen(req_body));
	}
	r->curl_code = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
	    ct != NULL)
		snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
	if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK)
		r->connect_count = (int) conns;
out:
	curl_slist_free_all(hl);
	if (h != NULL)
		curl_easy_cleanup(h);
	return r->curl_code;
}

void
simtest_resp_free(struct simtest_resp *r)
{
	free(r->body);
	r->body = NULL;
}

json_t *
simtest_get_json(int port, const char *path, long *status)
{
	struct simtest_resp r;
	char url[4096];
	json_t *j = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	*status = 0;
	if (simtest_http(&r, "GET", url, NULL, NULL, 3000) == CURLE_OK) {
		*status = r.status;
		j = json_loads(r.body, 0, NULL);
	}
	simtest_resp_free(&r);
	return j;
}

int
simtest_rd_more(struct simtest_rd *r, int timeout_ms)
{
	struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
	ssize_t n;

	if (r->len >= sizeof(r->buf))
		return -1;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	r->len += (size_t) n;
	return 1;
}

static void
rd_consume(struct simtest_rd *r, size_t n)
{
	r->len -= n;
	memmove(r->buf, r->buf + n, r->len);
}

int
simtest_rd_line(struct simtest_rd *r, char *line, size_t sz, int timeout_ms)
{
	int64_t deadline = simtest_now_ms() + timeout_ms;

	for (;;) {
		char *crlf =
		    r->len > 0 ? memmem(r->buf, r->len, "\r\n", 2) : NULL;

		if (crlf != NULL) {
			size_t n = (size_t) (crlf - r->buf);

			if (n >= sz)
				return -1;
			memcpy(line, r->buf, n);
			line[n] = '\0';
			rd_consume(r, n + 2);
			return 0;
		}
		if (simtest_now_ms() >= deadline ||
		    simtest_rd_more(r, (int) (deadline - simtest_now_ms())) !=
		        1)
			return -1;
	}
}

int
simtest_rd_exact(struct simtest_rd *r, void *out, size_t n, int timeout_ms)
{
	int64_t deadline = simtest_now_ms() + timeout_ms;

	while (r->len < n) {
		if (simtest_now_ms() >= deadline ||
		    simtest_rd_more(r, (int) (deadline - simtest_now_ms())) !=
		        1)
			return -1;
	}
	if (out != NULL)
		memcpy(out, r->buf, n);
	rd_consume(r, n);
	return 0;
}

int
simtest_send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t) w;
	}
	return 0;
}
