/*
 * The relay of dkproxy.h. The accept thread alone owns the listening
 * socket: down/up set what is wanted and wait until it is so, which
 * keeps the socket's life on one thread. Each connection is relayed by a
 * detached thread with poll(); its two descriptors are in a table that
 * down() shuts down, which ends the thread.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/faults/dkproxy.h"

#define MAX_CONNS 64

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool running;
	bool want_up, is_up, quit;
	char path[108];
	char target[108];
	int conns[MAX_CONNS][2]; /* -1: free */
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int
unix_fd(const char *path, bool listen_on)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -1;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (listen_on) {
		(void) unlink(path);
		rc = bind(fd, (struct sockaddr *) &a, sizeof(a));
		rc = rc == 0 ? listen(fd, 64) : rc;
	} else {
		rc = connect(fd, (struct sockaddr *) &a, sizeof(a));
	}
	if (rc != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int
slot_put(int a, int b)
{
	int k = -1;

	pthread_mutex_lock(&P.mu);
	for (int i = 0; i < MAX_CONNS && k < 0; i++) {
		if (P.conns[i][0] < 0) {
			P.conns[i][0] = a;
			P.conns[i][1] = b;
			k = i;
		}
	}
	pthread_mutex_unlock(&P.mu);
	return k;
}

static void
slot_drop(int k)
{
	pthread_mutex_lock(&P.mu);
	close(P.conns[k][0]);
	close(P.conns[k][1]);
	P.conns[k][0] = P.conns[k][1] = -1;
	pthread_mutex_unlock(&P.mu);
}

/* Copies what is readable on from to to; false at the end or an error. */
static bool
pump(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	ssize_t off = 0;

	if (n <= 0)
		return false;
	while (off < n) {
		ssize_t w = write(to, buf + off, (size_t) (n - off));

		if (w <= 0)
			return false;
		off += w;
	}
	return true;
}

static void *
relay(void *arg)
{
	int k = (int) (intptr_t) arg;
	int a, b;
	bool ok = true;

	pthread_mutex_lock(&P.mu);
	a = P.conns[k][0];
	b = P.conns[k][1];
	pthread_mutex_unlock(&P.mu);
	while (ok) {
		struct pollfd pf[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};

		if (poll(pf, 2, -1) < 0) {
			ok = errno == EINTR;
			continue;
		}
		if (pf[0].revents != 0)
			ok = pump(a, b);
		if (ok && pf[1].revents != 0)
			ok = pump(b, a);
	}
	slot_drop(k);
	return NULL;
}

static void
accept_one(int lfd)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int d = c >= 0 ? unix_fd(P.target, false) : -1;
	int k = d >= 0 ? slot_put(c, d) : -1;
	pthread_t th;

	if (k < 0) {
		if (c >= 0)
			close(c);
		if (d >= 0)
			close(d);
		return;
	}
	if (pthread_create(&th, NULL, relay, (void *) (intptr_t) k) == 0)
		pthread_detach(th);
	else
		slot_drop(k);
}

static void *
acceptor(void *arg)
{
	int lfd = -1;
	bool quit = false;

	(void) arg;
	while (!quit) {
		bool want;

		pthread_mutex_lock(&P.mu);
		want = P.want_up;
		quit = P.quit;
		pthread_mutex_unlock(&P.mu);
		if (want && lfd < 0 && !quit)
			lfd = unix_fd(P.path, true);
		if ((!want || quit) && lfd >= 0) {
			close(lfd);
			(void) unlink(P.path);
			lfd = -1;
		}
		pthread_mutex_lock(&P.mu);
		P.is_up = lfd >= 0;
		pthread_cond_broadcast(&P.cv);
		pthread_mutex_unlock(&P.mu);
		if (lfd >= 0) {
			struct pollfd pf = {lfd, POLLIN, 0};

			if (poll(&pf, 1, 50) == 1)
				accept_one(lfd);
		} else if (!quit) {
			usleep(50000);
		}
	}
	return NULL;
}

static void
want(bool up)
{
	pthread_mutex_lock(&P.mu);
	P.want_up = up;
	while (P.is_up != up)
		pthread_cond_wait(&P.cv, &P.mu);
	if (!up) {
		for (int i = 0; i < MAX_CONNS; i++) {
			if (P.conns[i][0] >= 0) {
				shutdown(P.conns[i][0], SHUT_RDWR);
				shutdown(P.conns[i][1], SHUT_RDWR);
			}
		}
	}
	pthread_mutex_unlock(&P.mu);
}

bool
dkproxy_start(const char *path, const char *target)
{
	snprintf(P.path, sizeof(P.path), "%s", path);
	snprintf(P.target, sizeof(P.target), "%s", target);
	for (int i = 0; i < MAX_CONNS; i++)
		P.conns[i][0] = P.conns[i][1] = -1;
	P.quit = false;
	P.want_up = true;
	if (pthread_create(&P.th, NULL, acceptor, NULL) != 0)
		return false;
	P.running = true;
	want(true);
	return true;
}

void
dkproxy_down(void)
{
	want(false);
}

void
dkproxy_up(void)
{
	want(true);
}

void
dkproxy_stop(void)
{
	if (!P.running)
		return;
	want(false);
	pthread_mutex_lock(&P.mu);
	P.quit = true;
	pthread_mutex_unlock(&P.mu);
	pthread_join(P.th, NULL);
	P.running = false;
}
