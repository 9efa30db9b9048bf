/*
 * Gluetun's control server, as the VPN monitor asks it: where it is, the
 * requests (with the credentials newer Gluetun wants) and how to read the
 * answers, for both API generations.
 *
 *   tunnel          GET /v1/vpn/status, on an older Gluetun
 *                   GET /v1/openvpn/status: {"status":"running"}
 *   forwarded port  GET /v1/portforward, on an older Gluetun
 *                   GET /v1/openvpn/portforwarded: {"port":N}
 *   credentials     GLUETUN_API_KEY as X-API-Key, or GLUETUN_API_USER /
 *                   GLUETUN_API_PASSWORD as HTTP basic auth; Gluetun
 *                   answers 401 (403 behind some proxies) otherwise
 *
 * Why separate from the monitor: the reading rules (what is an answer,
 * what means "this Gluetun lacks that route", what is a configuration
 * error) are pure and fuzzed; the monitor only runs the requests (a
 * libcurl multi batch, src/probe/http_multi.h) and reports.
 *
 * Ownership: a prepared request borrows its orch_gluetun_bufs and the
 * cfg's strings, which must outlive the run; the caller owns the request
 * (orch_http_req_fini()).
 */
#ifndef ORCH_PROBE_GLUETUN_H
#define ORCH_PROBE_GLUETUN_H

#include <stdbool.h>
#include <stddef.h>

#include "src/base/err.h"
#include "src/core/config.h"
#include "src/probe/http_multi.h"

#define ORCH_GLUETUN_URL_MAX 600

/* The two generations of the routes. */
#define ORCH_GLUETUN_STATUS_NEW "/v1/vpn/status"
#define ORCH_GLUETUN_STATUS_OLD "/v1/openvpn/status"
#define ORCH_GLUETUN_PORT_NEW "/v1/portforward"
#define ORCH_GLUETUN_PORT_OLD "/v1/openvpn/portforwarded"

/* How one answer reads. */
typedef enum orch_gluetun_verdict {
	ORCH_GLUETUN_OK = 0,      /* read; the value is set */
	ORCH_GLUETUN_AUTH = 1,    /* 401 or 403: credentials (configuration) */
	ORCH_GLUETUN_MISSING = 2, /* 400, 404 or 405: this Gluetun does not
	                             have the route (try the other one) */
	ORCH_GLUETUN_BAD = 3,     /* an answer that is not Gluetun's */
	ORCH_GLUETUN_DOWN = 4,    /* no answer (refused, timed out, ...) */
} orch_gluetun_verdict;

/*
 * The control server's base URL (no trailing '/') into out: the cfg's
 * GLUETUN_API_URL; else http://127.0.0.1:<published> when the container
 * publishes GLUETUN_API_PORT on the host (published > 0); else
 * http://<name>:<api_port> on the shared Docker network.
 */
void orch_gluetun_base_url(const orch_vpn_cfg *cfg, int api_port,
    int published, char *out, size_t outlen);

/* A request's buffers: its URL and credential header. */
typedef struct orch_gluetun_bufs {
	char url[ORCH_GLUETUN_URL_MAX];
	char key_header[320]; /* "X-API-Key: ..." */
	const char *headers[2];
} orch_gluetun_bufs;

/*
 * Readies req for a run: GET base + path with cfg's credentials and a
 * total timeout of timeout_ms. req borrows b and cfg's strings until the
 * run returns. ORCH_EINVAL when the URL does not fit or the key holds a
 * control character (it would end the header line).
 */
orch_err orch_gluetun_prepare(orch_http_req *req, orch_gluetun_bufs *b,
    const orch_vpn_cfg *cfg, const char *base, const char *path,
    int timeout_ms);

/* The tunnel status answer: *running for exactly "running". why gets a
 * one-line reason unless OK. */
orch_gluetun_verdict orch_gluetun_read_status(
    const orch_http_req *req, bool *running, char *why, size_t whylen);

/* The forwarded port answer: *port in 0..65535 (0: none). */
orch_gluetun_verdict orch_gluetun_read_port(
    const orch_http_req *req, int *port, char *why, size_t whylen);

/* The same rules over a status and a body, for the fuzzer. */
orch_gluetun_verdict orch_gluetun_classify(long status, const char *body,
    size_t len, bool is_port, int *value, char *why, size_t whylen);

#endif
