/*
 * Just enough HTTP/1.1 for the clients that talk to an engine: request line,
 * a few headers, Content-Length bodies, keep-alive and pipelining. Chunked
 * request bodies are refused; no client of the engine sends one.
 */
#include "tools/sim/sim.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
sim_pct_decode(const char *in, size_t inlen, char *out, size_t outsz, int plus)
{
	size_t i, o = 0;

	for (i = 0; i < inlen; i++) {
		int ch = (unsigned char) in[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= inlen)
				return -1;
			hi = hexval((unsigned char) in[i + 1]);
			lo = hexval((unsigned char) in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = hi * 16 + lo;
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		}
		/* A decoded NUL would silently cut the string short. */
		if (ch == 0 || o + 1 >= outsz)
			return -1;
		out[o++] = (char) ch;
	}
	if (outsz == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int
sim_query_get(const char *query, const char *key, char *out, size_t outsz)
{
	const char *p = query;
	char name[128];

	while (*p != '\0') {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t) (end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);

		if (eq != NULL &&
		    sim_pct_decode(
		        p, (size_t) (eq - p), name, sizeof(name), 1) == 0 &&
		    strcmp(name, key) == 0) {
			size_t vlen = len - (size_t) (eq - p) - 1;

			if (sim_pct_decode(eq + 1, vlen, out, outsz, 1) != 0)
				return -1;
			return 1;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
}

int
sim_send_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t) w;
	}
	return 0;
}

int
sim_peer_gone(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char scratch[512];
	int64_t deadline = sim_now_ms() + timeout_ms;

	for (;;) {
		int64_t left = deadline - sim_now_ms();
		int n;
		ssize_t got;

		if (left < 0)
			left = 0;
		n = poll(&pfd, 1, (int) left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		if (n == 0)
			return 0;
		if (pfd.revents & (POLLERR | POLLNVAL))
			return 1;
		got = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (got == 0)
			return 1;
		if (got < 0 && errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK)
			return 1;
		if (left == 0)
			return 0;
	}
}

int
sim_hang(struct sim_conn *c)
{
	while (!sim_peer_gone(c->fd, 1000))
		;
	c->close = 1;
	return 0;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 301:
		return "Moved Permanently";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

int
sim_http_reply(struct sim_conn *c, const struct sim_req *r, int status,
    const char *ctype, const char *body)
{
	return sim_http_reply_h(c, r, status, ctype, NULL, body);
}

int
sim_http_reply_h(struct sim_conn *c, const struct sim_req *r, int status,
    const char *ctype, const char *headers, const char *body)
{
	char head[1024];
	size_t blen = strlen(body);
	int n;

	if (r == NULL || !r->keep_alive)
		c->close = 1;
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: %s\r\n"
	    "%s"
	    "\r\n",
	    status, reason(status), ctype, blen,
	    c->close ? "close" : "keep-alive", headers != NULL ? headers : "");
	if (n < 0 || (size_t) n >= sizeof(head))
		goto fail;
	if (sim_send_all(c->fd, head, (size_t) n) != 0 ||
	    sim_send_all(c->fd, body, blen) != 0)
		goto fail;
	return status;
fail:
	c->close = 1;
	return 0;
}

int
sim_json_reply(
    struct sim_conn *c, const struct sim_req *r, int status, const char *body)
{
	return sim_http_reply(c, r, status, "application/json", body);
}

/* Case-insensitive search for a token in a comma-separated header value. */
static int
has_token(const char *value, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = value;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, tlen) == 0 &&
		    (p[tlen] == '\0' || p[tlen] == ',' || p[tlen] == ' ' ||
		        p[tlen] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

static int
parse_request_line(char *line, struct sim_req *r)
{
	char *sp1 = strchr(line, ' ');
	char *sp2, *target, *q;
	size_t mlen;

	if (sp1 == NULL)
		return -1;
	sp2 = strchr(sp1 + 1, ' ');
	if (sp2 == NULL)
		return -1;
	mlen = (size_t) (sp1 - line);
	if (mlen == 0 || mlen >= sizeof(r->method))
		return -1;
	memcpy(r->method, line, mlen);
	r->method[mlen] = '\0';
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		r->minor = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		r->minor = 0;
	else
		return -1;
	*sp2 = '\0';
	target = sp1 + 1;
	/* Absolute form (proxies): keep only the path. */
	if (strncmp(target, "http://", 7) == 0) {
		target = strchr(target + 7, '/');
		if (target == NULL)
			target = "/";
	}
	if (target[0] != '/')
		return -1;
	q = strchr(target, '?');
	r->query[0] = '\0';
	if (q != NULL) {
		if (strlen(q + 1) >= sizeof(r->query))
			return -1;
		strcpy(r->query, q + 1);
		*q = '\0';
	}
	return sim_pct_decode(
	    target, strlen(target), r->path, sizeof(r->path), 0);
}

/*
 * Parses the head in c->buf[0..hlen) (hlen includes the blank line) into r.
 * Sets *clen to the Content-Length. Returns 0, or -1 when malformed.
 */
static int
parse_head(struct sim_conn *c, size_t hlen, struct sim_req *r, size_t *clen)
{
	char head[SIM_HEAD_MAX + 1];
	char *line, *next;
	int conn_close = 0, conn_keep = 0;

	memcpy(head, c->buf, hlen);
	head[hlen] = '\0';
	memset(r, 0, sizeof(*r));
	*clen = 0;

	line = head;
	next = strstr(line, "\r\n");
	if (next == NULL)
		return -1;
	*next = '\0';
	if (parse_request_line(line, r) != 0)
		return -1;
	for (line = next + 2; *line != '\0'; line = next + 2) {
		char *colon, *val, *end;

		next = strstr(line, "\r\n");
		if (next == NULL)
			return -1;
		*next = '\0';
		if (*line == '\0')
			break;
		colon = strchr(line, ':');
		if (colon == NULL)
			return -1;
		*colon = '\0';
		val = colon + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		end = val + strlen(val);
		while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (strcasecmp(line, "Host") == 0) {
			if (strlen(val) >= sizeof(r->host))
				return -1;
			strcpy(r->host, val);
		} else if (strcasecmp(line, "X-API-Key") == 0) {
			if (strlen(val) >= sizeof(r->api_key))
				return -1;
			strcpy(r->api_key, val);
		} else if (strcasecmp(line, "Authorization") == 0) {
			if (strlen(val) >= sizeof(r->authorization))
				return -1;
			strcpy(r->authorization, val);
		} else if (strcasecmp(line, "Connection") == 0) {
			conn_close |= has_token(val, "close");
			conn_keep |= has_token(val, "keep-alive");
		} else if (strcasecmp(line, "Content-Length") == 0) {
			char *e;
			unsigned long long v;

			errno = 0;
			v = strtoull(val, &e, 10);
			if (*val < '0' || *val > '9' || *e != '\0' ||
			    errno != 0)
				return -1;
			*clen =
			    v > SIM_BODY_MAX ? SIM_BODY_MAX + 1 : (size_t) v;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			if (strcasecmp(val, "identity") != 0)
				return -1;
		}
	}
	r->keep_alive = r->minor >= 1 ? !conn_close : conn_keep;
	return 0;
}

/* recv() more bytes into c->buf; 1 on data, 0 on EOF, -1 on error/full. */
static int
fill(struct sim_conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->len >= sizeof(c->buf))
			return -1;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		c->len += (size_t) n;
		return 1;
	}
}

enum sim_rd
sim_http_read(struct sim_conn *c, struct sim_req *r)
{
	char *end;
	size_t hlen, clen;
	int got;

	for (;;) {
		end =
		    c->len > 0 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
		if (end != NULL)
			break;
		if (c->len >= SIM_HEAD_MAX)
			return SIM_RD_TOOBIG;
		got = fill(c);
		if (got == 0 && c->len == 0)
			return SIM_RD_EOF;
		if (got <= 0)
			return SIM_RD_BAD;
	}
	hlen = (size_t) (end - c->buf) + 4;
	if (hlen > SIM_HEAD_MAX)
		return SIM_RD_TOOBIG;
	if (parse_head(c, hlen, r, &clen) != 0)
		return SIM_RD_BAD;
	if (clen > SIM_BODY_MAX)
		return SIM_RD_TOOBIG;
	while (c->len < hlen + clen) {
		if (fill(c) <= 0)
			return SIM_RD_BAD;
	}
	memcpy(r->body, c->buf + hlen, clen);
	r->body[clen] = '\0';
	r->body_len = clen;
	/* Keep any pipelined bytes for the next request. */
	c->len -= hlen + clen;
	memmove(c->buf, c->buf + hlen + clen, c->len);
	return SIM_RD_OK;
}
