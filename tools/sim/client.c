/*
 * A small blocking HTTP/1.0 client for the mode that calls out: the
 * Acexy stand-in (the orchestrator and engines by name on a Docker
 * network; health.c keeps its own loopback-only probe). HTTP/1.0 so that no
 * server answers chunked: the body is what arrives until the peer closes.
 * Everything runs under one deadline, connect and name lookup included
 * (getaddrinfo from a static binary: glibc 2.34+ has files and dns
 * built in, so it works in a FROM scratch image).
 */
#include "tools/sim/sim.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits for events on fd until deadline; 1 ready, 0 timeout or error. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - sim_now_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(&pfd, 1, (int) left);
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0;
	}
}

/* A connected non-blocking socket to host:port, or -1. */
static int
dial(const char *host, int port, int64_t deadline)
{
	struct addrinfo hints = {
	    .ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char service[16];
	int fd = -1, err = 0;
	socklen_t errlen = sizeof(err);

	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0 &&
	    (!wait_fd(fd, POLLOUT, deadline) ||
	        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 ||
	        err != 0)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int
send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w;

		if (!wait_fd(fd, POLLOUT, deadline))
			return -1;
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t) w;
	}
	return 0;
}

int
sim_http_call(const struct sim_call *call, struct sim_resp *resp)
{
	int64_t deadline = sim_now_ms() + call->timeout_ms;
	const char *body = call->body != NULL ? call->body : "";
	char head[SIM_PATH_MAX + 1024];
	size_t got = 0;
	int fd, n, rc = -1;
	char *sep;

	memset(resp, 0, sizeof(*resp));
	n = snprintf(head, sizeof(head),
	    "%s %s HTTP/1.0\r\nHost: %s:%d\r\n%s%s%s"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    call->method, call->path, call->host, call->port,
	    call->auth != NULL ? "Authorization: " : "",
	    call->auth != NULL ? call->auth : "",
	    call->auth != NULL ? "\r\n" : "", strlen(body));
	if (n < 0 || (size_t) n >= sizeof(head))
		return -1;
	if ((fd = dial(call->host, call->port, deadline)) < 0)
		return -1;
	if (send_all(fd, head, (size_t) n, deadline) != 0 ||
	    send_all(fd, body, strlen(body), deadline) != 0)
		goto out;
	while (got + 1 < sizeof(resp->raw)) {
		ssize_t r;

		if (!wait_fd(fd, POLLIN, deadline))
			goto out;
		r = recv(fd, resp->raw + got, sizeof(resp->raw) - 1 - got, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		got += (size_t) r;
	}
	resp->raw[got] = '\0';
	/* "HTTP/1.x NNN ..." */
	if (got < 12 || strncmp(resp->raw, "HTTP/1.", 7) != 0)
		goto out;
	resp->status = atoi(resp->raw + 9);
	sep = strstr(resp->raw, "\r\n\r\n");
	resp->body = sep != NULL ? sep + 4 : resp->raw + got;
	rc = 0;
out:
	close(fd);
	return rc;
}
