#include "tests/runtime/fakedocker.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

static void
nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
send_all(int fd, const char *p, size_t n, size_t piece)
{
	size_t k;
	ssize_t w;

	while (n > 0) {
		k = piece > 0 && piece < n ? piece : n;
		w = send(fd, p, k, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the client left: fine */
		p += w;
		n -= (size_t) w;
		if (piece > 0 && n > 0)
			nap_ms(2);
	}
}

/* Reads one request (headers + Content-Length body), 2 s at most. */
static int
read_request(int fd, char *hdr, size_t hdr_len, char **body)
{
	char buf[65536];
	size_t len = 0, need = 0, cl = 0;
	char *end = NULL, *p;
	struct pollfd pfd = {fd, POLLIN, 0};
	ssize_t r;

	*body = NULL;
	for (;;) {
		if (end != NULL && len >= need)
			break;
		if (len == sizeof(buf) - 1 || poll(&pfd, 1, 2000) <= 0)
			return -1;
		r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (r <= 0)
			return -1;
		len += (size_t) r;
		buf[len] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			for (p = buf; p < end; p = strstr(p, "\r\n") + 2) {
				if (strncasecmp(p, "Content-Length:", 15) == 0)
					cl = strtoul(p + 15, NULL, 10);
			}
			need = (size_t) (end - buf) + 4 + cl;
		}
	}
	snprintf(hdr, hdr_len, "%.*s", (int) (end - buf), buf);
	if (cl > 0 && (*body = malloc(cl + 1)) != NULL) {
		memcpy(*body, end + 4, cl);
		(*body)[cl] = '\0';
	}
	return 0;
}

static void
serve(struct fake *f, int fd)
{
	char hdr[8192], ping[256], *body = NULL, *copy = NULL;
	struct fake_step st;
	bool hold = false;

	if (read_request(fd, hdr, sizeof(hdr), &body) != 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&f->mu);
	if (strncmp(hdr, "GET /_ping ", 11) == 0) {
		f->n_pings++;
		if (f->ping_version != NULL)
			snprintf(ping, sizeof(ping),
			    "HTTP/1.1 200 OK\r\n"
			    "Api-Version: %s\r\nContent-Length: 2\r\n"
			    "Connection: close\r\n\r\nOK",
			    f->ping_version);
		else
			snprintf(ping, sizeof(ping),
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Length: 2\r\nConnection: "
			    "close\r\n\r\nOK");
		pthread_mutex_unlock(&f->mu);
		send_all(fd, ping, strlen(ping), 0);
		free(body);
		close(fd);
		return;
	}
	f->n_requests++;
	snprintf(f->last_req, sizeof(f->last_req), "%s", hdr);
	free(f->last_body);
	f->last_body = body;
	memset(&st, 0, sizeof(st));
	if (f->n_steps > 0) {
		st = f->steps[f->next];
		if (f->next + 1 < f->n_steps)
			f->next++;
	}
	/* Our own copy: the test may replace the script while we send. */
	if (st.bytes != NULL &&
	    (copy = malloc(st.len > 0 ? st.len : 1)) != NULL)
		memcpy(copy, st.bytes, st.len);
	pthread_mutex_unlock(&f->mu);
	if (copy != NULL)
		send_all(fd, copy, st.len, st.piece);
	free(copy);
	if (st.after == FAKE_HOLD) {
		pthread_mutex_lock(&f->mu);
		if (f->n_held < FAKE_MAX_HELD) {
			f->held[f->n_held++] = fd;
			hold = true;
		}
		pthread_mutex_unlock(&f->mu);
	}
	if (!hold)
		close(fd);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = {f->lfd, POLLIN, 0};
	int fd;

	while (!f->stop) {
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd >= 0)
			serve(f, fd);
	}
	return NULL;
}

void
fake_start(struct fake *f, const char *path)
{
	struct sockaddr_un sa;

	memset(f, 0, sizeof(*f));
	if (path != NULL) {
		snprintf(f->path, sizeof(f->path), "%s", path);
	} else {
		/* Bazel's TEST_TMPDIR is too long for sun_path (108 bytes). */
		snprintf(f->dir, sizeof(f->dir), "/tmp/orch-fake-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->path, sizeof(f->path), "%s/d.sock", f->dir);
	}
	f->ping_version = "1.41";
	assert_int_equal(pthread_mutex_init(&f->mu, NULL), 0);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	unlink(f->path);
	assert_int_equal(bind(f->lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void
free_steps(struct fake *f)
{
	for (size_t i = 0; i < f->n_steps; i++)
		free((char *) f->steps[i].bytes);
	f->n_steps = 0;
	f->next = 0;
}

void
fake_script(struct fake *f, const struct fake_step *steps, size_t n)
{
	assert_true(n <= FAKE_MAX_STEPS);
	pthread_mutex_lock(&f->mu);
	free_steps(f);
	for (size_t i = 0; i < n; i++) {
		struct fake_step *s = &f->steps[i];
		char *copy = NULL;

		*s = steps[i];
		if (s->bytes != NULL) {
			if (s->len == 0)
				s->len = strlen(s->bytes);
			copy = malloc(s->len > 0 ? s->len : 1);
			assert_non_null(copy);
			memcpy(copy, s->bytes, s->len);
		}
		s->bytes = copy;
	}
	f->n_steps = n;
	pthread_mutex_unlock(&f->mu);
}

void
fake_reply(struct fake *f, const char *bytes, size_t len)
{
	struct fake_step s = {bytes, len, FAKE_CLOSE, 0};

	fake_script(f, &s, 1);
}

void
fake_set_ping(struct fake *f, const char *version)
{
	pthread_mutex_lock(&f->mu);
	f->ping_version = version;
	pthread_mutex_unlock(&f->mu);
}

int
fake_requests(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->n_requests;
	pthread_mutex_unlock(&f->mu);
	return n;
}

void
fake_last(struct fake *f, char *req, size_t req_len, char **body)
{
	pthread_mutex_lock(&f->mu);
	if (req != NULL)
		snprintf(req, req_len, "%s", f->last_req);
	if (body != NULL)
		*body = f->last_body != NULL ? strdup(f->last_body) : NULL;
	pthread_mutex_unlock(&f->mu);
}

void
fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	for (int i = 0; i < f->n_held; i++)
		close(f->held[i]);
	close(f->lfd);
	unlink(f->path);
	if (f->dir[0] != '\0')
		rmdir(f->dir);
	free_steps(f);
	free(f->last_body);
	pthread_mutex_destroy(&f->mu);
}

char *
fake_http(const char *status, const char *body)
{
	size_t n = strlen(body) + strlen(status) + 160;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n,
	    "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, strlen(body), body);
	return s;
}
