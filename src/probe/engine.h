/*
 * What the orchestrator reads from an engine and from Gluetun's control
 * server (ENGINE_PROTOCOL.md), as pure functions over one HTTP answer: the
 * status code and the body bytes. No I/O here; http_multi.h fetches, these
 * judge. Each parser is its own function so that the fuzz target
 * (tests/fuzz/probe_parse_fuzz.c) reaches every one.
 *
 * Common rules:
 * - body need not be NUL-terminated; len is its size. body may be NULL
 *   when len is 0.
 * - The body must be one JSON object (duplicate keys refused). An integer
 *   beyond int64 makes the whole body invalid JSON (jansson refuses it).
 * - why/whylen (why may be NULL) receive a one-line reason whenever the
 *   answer is not the good one, truncated to fit, always NUL-terminated;
 *   "" on success.
 */
#ifndef ORCH_PROBE_ENGINE_H
#define ORCH_PROBE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/err.h"
#include "src/core/state.h"

/* Paths the probes ask for. */
#define ORCH_PROBE_HEALTH_PATH "/server/api?api_version=3&method=get_status"
#define ORCH_PROBE_GLUETUN_STATUS_PATH "/v1/openvpn/status"
#define ORCH_PROBE_GLUETUN_PORT_PATH "/v1/openvpn/portforwarded"

/* The error text with which an engine says a stream's session is over. */
#define ORCH_PROBE_GONE_TEXT "unknown playback session id"

/* Longest stat_url orch_probe_stat_path() accepts (bytes, without NUL). */
#define ORCH_PROBE_URL_MAX 2048

/*
 * The health probe's answer (CONTRACT "Health"): healthy when status is
 * 200 and the body is a JSON object whose "error" key is present and null.
 * "error" must be present: a 200 `{}` from whatever else now listens on a
 * dead engine's port is not an engine saying it is well. "result" is not
 * looked at (the contract does not ask for it).
 */
bool orch_probe_parse_health(
    long status, const char *body, size_t len, char *why, size_t whylen);

typedef enum orch_probe_result {
	ORCH_PROBE_OK = 0,   /* parsed; *out filled */
	ORCH_PROBE_FAIL = 1, /* not a usable answer; why says what */
	ORCH_PROBE_GONE = 2, /* the engine no longer knows the session: the
	                        stream is over */
} orch_probe_result;

/*
 * A stat answer, `{"response":{"status":"dl","peers":12,"speed_down":512,
 * "speed_up":64,"downloaded":1048576,"uploaded":65536,...},"error":null}`,
 * into *out: ts_us = now_us; each counter's `has` bit is set only when
 * the field is a JSON integer >= 0 (anything else, negative included, is
 * null); status only when a JSON string, control characters replaced by
 * '?', cut to ORCH_STAT_STATUS_MAX - 1 bytes on a UTF-8 character
 * boundary. Unknown fields are ignored.
 *
 * ORCH_PROBE_GONE: `"response":null` with "error" equal (ignoring case) to
 * ORCH_PROBE_GONE_TEXT. ORCH_PROBE_FAIL: anything else that is not the
 * good shape: a status other than 200, bad JSON, "error" missing or not
 * null (why = the engine's text), "response" not an object. *out is
 * zeroed first whatever the result.
 */
orch_probe_result orch_probe_parse_stat(long status, const char *body,
    size_t len, int64_t now_us, orch_stat *out, char *why, size_t whylen);

/*
 * The path and query of a stream's stat_url, which the stats collector
 * then fetches from the stream's engine at its probe address: never from
 * the host in the URL (CONTRACT "Stats collection never connects where a
 * request told it to"). Accepted:
 *
 *   http[s]://<host[:port]>/ace/stat/<...>[?query][#fragment]
 *
 * - scheme http or https (any case); authority non-empty, of host-ish
 *   characters only (letters, digits, ".-_:[]"), so no userinfo;
 * - path starts with "/ace/stat/" (a stat_url is never anything else, and
 *   this keeps a hostile URL from making the collector GET a side-effecting
 *   path such as /ace/cmd/...?method=stop), made only of unreserved and
 *   sub-delim characters, with no "." or ".." segment and no percent
 *   escape (nothing the engine could decode into one);
 * - query: printable ASCII, no space;
 * - the fragment is dropped, as any HTTP client does;
 * - no control character, space, or non-ASCII byte anywhere; at most
 *   ORCH_PROBE_URL_MAX bytes.
 *
 * Writes the NUL-terminated path+query to out. ORCH_OK; ORCH_EINVAL for a
 * refused URL (out = ""); ORCH_ERANGE when it does not fit in outlen
 * (out = "" when outlen > 0).
 */
orch_err orch_probe_stat_path(const char *stat_url, char *out, size_t outlen);

/*
 * Gluetun's `{"status":"running"}` (GET /v1/openvpn/status or
 * /v1/vpn/status): true when parsed, with *running set only for exactly
 * "running" (Gluetun also reports "stopped", "starting", "stopping",
 * "crashed": all not running). false for a non-200 status, bad JSON, or a
 * "status" that is missing or not a string (*running untouched).
 */
bool orch_probe_parse_vpn_status(long status, const char *body, size_t len,
    bool *running, char *why, size_t whylen);

/*
 * Gluetun's `{"port":N}` (GET /v1/openvpn/portforwarded or
 * /v1/portforward): true with *port = N when N is a JSON integer in
 * 0..65535 (0 = no port forwarded); false otherwise (*port untouched).
 */
bool orch_probe_parse_forwarded_port(long status, const char *body, size_t len,
    int *port, char *why, size_t whylen);

#endif
