/*
 * `sim healthcheck`: the image's HEALTHCHECK. A FROM scratch image has no
 * curl or shell, so the binary probes itself over loopback. Everything runs
 * under one 2 s deadline, because a hung engine is what this must catch.
 */
#include "tools/sim/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEADLINE_MS 2000

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

/*
 * GETs path from 127.0.0.1:port into resp (NUL-terminated, truncated to
 * respsz), with the extra header lines in extra ("" for none). Returns 0
 * when a response arrived before the deadline.
 */
static int
fetch(int port, const char *path, const char *extra, char *resp, size_t respsz,
    int64_t deadline)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char req[1536];
	size_t got = 0;
	int fd, n, rc = -1, err = 0;
	socklen_t errlen = sizeof(err);

	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "%sConnection: close\r\n\r\n",
	    path, port, extra);
	if (n < 0 || (size_t) n >= sizeof(req))
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS)
		goto out;
	if (!wait_fd(fd, POLLOUT, deadline) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 ||
	    err != 0)
		goto out;
	/* The request is tiny: one send fits in a fresh socket buffer. */
	if (send(fd, req, (size_t) n, MSG_NOSIGNAL) != n)
		goto out;
	while (got + 1 < respsz) {
		ssize_t r;

		if (!wait_fd(fd, POLLIN, deadline))
			goto out;
		r = recv(fd, resp + got, respsz - 1 - got, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		got += (size_t) r;
	}
	resp[got] = '\0';
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The credentials a protected control server wants (SIM_API_KEY, else
 * SIM_API_USER/SIM_API_PASSWORD), as header lines into out. */
static void
gluetun_credentials(char *out, size_t outsz)
{
	const char *key = sim_gluetun_api_key();
	char basic[700];

	out[0] = '\0';
	if (key != NULL)
		snprintf(out, outsz, "X-API-Key: %s\r\n", key);
	else if (sim_gluetun_basic(basic, sizeof(basic)))
		snprintf(out, outsz, "Authorization: %s\r\n", basic);
}

int
sim_healthcheck_main(void)
{
	const char *mode = getenv("SIM_MODE");
	int64_t deadline = sim_now_ms() + DEADLINE_MS;
	int gluetun = mode != NULL && strcmp(mode, "gluetun") == 0;
	int acexy = mode != NULL && strcmp(mode, "acexy") == 0;
	const char *path = gluetun ? sim_gluetun_status_path()
	                   : acexy
	                       ? "/ace/status"
	                       : "/server/api?api_version=3&method=get_status";
	char extra[1024] = "";
	const char *want = gluetun ? "\"status\":\"running\""
	                   : acexy ? "\"status\":\"ok\""
	                           : "\"status\":1";
	int port = gluetun ? sim_gluetun_port()
	           : acexy ? sim_acexy_port()
	                   : sim_engine_port();
	char resp[4096];

	if (port <= 0) {
		fprintf(stderr, "healthcheck: no usable port\n");
		return 1;
	}
	if (gluetun)
		gluetun_credentials(extra, sizeof(extra));
	if (fetch(port, path, extra, resp, sizeof(resp), deadline) != 0) {
		fprintf(stderr,
		    "healthcheck: no answer on port %d within %d ms\n", port,
		    DEADLINE_MS);
		return 1;
	}
	if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0 ||
	    strstr(resp, want) == NULL) {
		const char *body = strstr(resp, "\r\n\r\n");

		/* Status line and body: what `docker inspect` should show. */
		fprintf(stderr, "healthcheck: unhealthy: %.*s %.200s\n",
		    (int) strcspn(resp, "\r\n"), resp, body ? body + 4 : "");
		return 1;
	}
	return 0;
}
