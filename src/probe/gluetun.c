#include "src/probe/gluetun.h"

#include <stdio.h>
#include <string.h>

#include "src/probe/engine.h"

void
orch_gluetun_base_url(const orch_vpn_cfg *cfg, int api_port, int published,
    char *out, size_t outlen)
{
	if (cfg->api_url != NULL)
		snprintf(out, outlen, "%s", cfg->api_url);
	else if (published > 0)
		snprintf(out, outlen, "http://127.0.0.1:%d", published);
	else
		snprintf(out, outlen, "http://%s:%d", cfg->name, api_port);
}

static bool
header_safe(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			return false;
	}
	return true;
}

orch_err
orch_gluetun_prepare(orch_http_req *req, orch_gluetun_bufs *b,
    const orch_vpn_cfg *cfg, const char *base, const char *path,
    int timeout_ms)
{
	int n = snprintf(b->url, sizeof(b->url), "%s%s", base, path);

	req->url = b->url;
	req->method = "GET";
	req->send = NULL;
	req->timeout_ms = timeout_ms;
	req->connect_timeout_ms = timeout_ms < 2000 ? timeout_ms : 2000;
	req->headers = NULL;
	req->username = NULL;
	req->password = NULL;
	if (n < 0 || (size_t) n >= sizeof(b->url))
		return ORCH_EINVAL;
	if (cfg->api_key != NULL) {
		n = snprintf(b->key_header, sizeof(b->key_header),
		    "X-API-Key: %s", cfg->api_key);
		if (n < 0 || (size_t) n >= sizeof(b->key_header) ||
		    !header_safe(cfg->api_key))
			return ORCH_EINVAL;
		b->headers[0] = b->key_header;
		b->headers[1] = NULL;
		req->headers = b->headers;
	}
	if (cfg->api_user != NULL) {
		req->username = cfg->api_user;
		req->password = cfg->api_password;
	}
	return ORCH_OK;
}

orch_gluetun_verdict
orch_gluetun_classify(long status, const char *body, size_t len, bool is_port,
    int *value, char *why, size_t whylen)
{
	bool running = false;
	int port = 0;

	if (status == 401 || status == 403) {
		snprintf(why, whylen,
		    "HTTP %ld: the control server refused the credentials "
		    "(GLUETUN_API_KEY, or GLUETUN_API_USER and "
		    "GLUETUN_API_PASSWORD)",
		    status);
		return ORCH_GLUETUN_AUTH;
	}
	if (status == 400 || status == 404 || status == 405) {
		snprintf(why, whylen, "HTTP %ld: no such route", status);
		return ORCH_GLUETUN_MISSING;
	}
	if (is_port) {
		if (!orch_probe_parse_forwarded_port(
		        status, body, len, &port, why, whylen))
			return ORCH_GLUETUN_BAD;
		*value = port;
	} else {
		if (!orch_probe_parse_vpn_status(
		        status, body, len, &running, why, whylen))
			return ORCH_GLUETUN_BAD;
		*value = running;
	}
	return ORCH_GLUETUN_OK;
}

static orch_gluetun_verdict
read_one(const orch_http_req *req, bool is_port, int *value, char *why,
    size_t whylen)
{
	if (req->err != ORCH_OK) {
		snprintf(why, whylen, "%s",
		    req->error[0] != '\0' ? req->error
		                          : orch_strerror(req->err));
		return ORCH_GLUETUN_DOWN;
	}
	return orch_gluetun_classify(req->status, req->body.data,
	    req->body.len, is_port, value, why, whylen);
}

orch_gluetun_verdict
orch_gluetun_read_status(
    const orch_http_req *req, bool *running, char *why, size_t whylen)
{
	int v = 0;
	orch_gluetun_verdict r = read_one(req, false, &v, why, whylen);

	if (r == ORCH_GLUETUN_OK)
		*running = v != 0;
	return r;
}

orch_gluetun_verdict
orch_gluetun_read_port(
    const orch_http_req *req, int *port, char *why, size_t whylen)
{
	return read_one(req, true, port, why, whylen);
}
