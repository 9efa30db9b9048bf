/*
 * The listener: one detached thread per connection, a route table for
 * dispatch. Threads never outlive their socket; the process ends by a
 * signal (main.c), so there is no orderly shutdown to coordinate.
 */
#include "tools/sim/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Far above what a test opens; it bounds threads if a client misbehaves. */
#define MAX_CONNS 1024
/* An idle keep-alive connection is dropped after this long. */
#define IDLE_TIMEOUT_S 60
/* A stream whose reader stops reading is dropped after this long. */
#define SEND_TIMEOUT_S 30

struct conn_arg {
	int fd;
	const struct sim_route *routes;
};

static atomic_int active_conns;
int sim_bound_port;

static int
route_matches(const struct sim_route *rt, const char *path)
{
	if (rt->prefix)
		return strncmp(path, rt->path, strlen(rt->path)) == 0;
	return strcmp(path, rt->path) == 0;
}

static int
dispatch(const struct sim_route *routes, struct sim_conn *c,
    const struct sim_req *r)
{
	const struct sim_route *rt;
	int path_known = 0;

	for (rt = routes; rt->path != NULL; rt++) {
		if (!route_matches(rt, r->path))
			continue;
		if (strcmp(rt->method, r->method) == 0)
			return rt->handler(c, r);
		path_known = 1;
	}
	if (path_known)
		return sim_json_reply(
		    c, r, 405, "{\"error\":\"method not allowed\"}");
	return sim_json_reply(c, r, 404, "{\"error\":\"not found\"}");
}

static void *
conn_main(void *arg)
{
	struct conn_arg *ca = arg;
	struct sim_conn *c = NULL;
	struct sim_req *r = NULL;

	c = calloc(1, sizeof(*c));
	r = calloc(1, sizeof(*r));
	if (c == NULL || r == NULL)
		goto out;
	c->fd = ca->fd;
	while (!c->close) {
		enum sim_rd rd = sim_http_read(c, r);
		int status;

		if (rd == SIM_RD_EOF)
			break;
		if (rd == SIM_RD_BAD || rd == SIM_RD_TOOBIG) {
			c->close = 1;
			status = sim_json_reply(c, NULL,
			    rd == SIM_RD_BAD ? 400 : 413,
			    "{\"error\":\"bad request\"}");
			if (sim_log_enabled)
				fprintf(stderr,
				    "sim: (unparsable request) %d\n", status);
			break;
		}
		status = dispatch(ca->routes, c, r);
		if (sim_log_enabled)
			fprintf(stderr, "sim: %s %s%s%s %d\n", r->method,
			    r->path, r->query[0] ? "?" : "", r->query, status);
	}
out:
	close(ca->fd);
	free(r);
	free(c);
	free(ca);
	atomic_fetch_sub(&active_conns, 1);
	return NULL;
}

static void
tune_socket(int fd)
{
	struct timeval rcv = {.tv_sec = IDLE_TIMEOUT_S};
	struct timeval snd = {.tv_sec = SEND_TIMEOUT_S};
	int one = 1;

	/* Failures only cost the timeouts; the connection still works. */
	(void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
	(void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
spawn(int fd, const struct sim_route *routes, pthread_attr_t *attr)
{
	struct conn_arg *ca;
	pthread_t tid;

	if (atomic_fetch_add(&active_conns, 1) >= MAX_CONNS)
		goto fail;
	ca = malloc(sizeof(*ca));
	if (ca == NULL)
		goto fail;
	ca->fd = fd;
	ca->routes = routes;
	if (pthread_create(&tid, attr, conn_main, ca) != 0) {
		free(ca);
		goto fail;
	}
	return 0;
fail:
	atomic_fetch_sub(&active_conns, 1);
	close(fd);
	return -1;
}

/* Written via a temporary file so a reader never sees a partial number. */
static int
write_port_file(const char *path, int port)
{
	char tmp[4096];
	FILE *f;
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	if (fprintf(f, "%d\n", port) < 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	return rc;
}

static int
open_listener(int port, int *bound)
{
	const char *addr = getenv("SIM_LISTEN_ADDR");
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	int fd, one = 1;

	if (addr == NULL || *addr == '\0')
		addr = "0.0.0.0";
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "sim: bad SIM_LISTEN_ADDR %s\n", addr);
		return -1;
	}
	sa.sin_port = htons((uint16_t) port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
	    listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *) &sa, &salen) != 0)
		goto err;
	*bound = ntohs(sa.sin_port);
	return fd;
err:
	fprintf(
	    stderr, "sim: listen on %s:%d: %s\n", addr, port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int
sim_serve(const struct sim_route *routes, int port)
{
	const char *port_file = getenv("SIM_PORT_FILE");
	pthread_attr_t attr;
	int lfd, bound = 0;

	lfd = open_listener(port, &bound);
	if (lfd < 0)
		return 1;
	sim_bound_port = bound;
	if (port_file != NULL && *port_file != '\0' &&
	    write_port_file(port_file, bound) != 0) {
		fprintf(stderr, "sim: cannot write %s: %s\n", port_file,
		    strerror(errno));
		close(lfd);
		return 1;
	}
	if (pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
	    pthread_attr_setstacksize(&attr, 256 * 1024) != 0) {
		fprintf(stderr, "sim: pthread attributes failed\n");
		close(lfd);
		return 1;
	}
	if (sim_log_enabled)
		fprintf(stderr, "sim: listening on port %d\n", bound);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			/* EMFILE and friends pass; back off instead of
			 * spinning. */
			if (errno != EINTR && errno != ECONNABORTED)
				sim_sleep_ms(10);
			continue;
		}
		tune_socket(fd);
		(void) spawn(fd, routes, &attr);
	}
}
