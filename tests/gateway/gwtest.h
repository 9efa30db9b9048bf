/*
 * Helpers shared by the gateway's HTTP-level tests (gateway_test.c,
 * acexy_flow_test.c): a libcurl client that keeps one connection alive
 * across requests, JSON shape checks written from CONTRACT.md's object
 * definitions, a strict Prometheus text-format parser, and the API
 * reference recorder (ORCH_API_DOC).
 *
 * Everything here asserts with cmocka (fail_msg), so it is only for use
 * from the thread running a test case.
 */
#ifndef ORCH_TESTS_GATEWAY_GWTEST_H
#define ORCH_TESTS_GATEWAY_GWTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

/* ---- HTTP ------------------------------------------------------------- */

typedef struct gwt_client {
	CURL *h;        /* one handle: its connection is reused (keep-alive) */
	char base[128]; /* "http://127.0.0.1:<port>" */
} gwt_client;

void gwt_client_init(gwt_client *c, int port);
void gwt_client_fini(gwt_client *c);

/* One request. Unset fields: no header / no body. */
typedef struct gwt_req {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* with the query string, already encoded */
	const char *auth;   /* Authorization header value */
	const char *body;   /* sent verbatim */
	size_t body_len;    /* 0 = strlen(body) */
	const char *origin; /* Origin header */
	const char *extra;  /* one more header line "Name: value" */
	long timeout_ms;    /* 0 = 30 s */
} gwt_req;

typedef struct gwt_resp {
	CURLcode cc; /* CURLE_OK unless the transfer failed */
	long status; /* HTTP status; 0 when none arrived */
	char *body;  /* NUL-terminated (may hold NULs before len) */
	size_t len;
	char *hdrs; /* the raw header block(s) */
	size_t hlen;
	json_t *json;      /* the body parsed, when it is JSON; else NULL */
	long num_connects; /* CURLINFO_NUM_CONNECTS: new connections made */
	double ms;         /* total time of the transfer */
} gwt_resp;

/* Performs q on c into *r (always filled; release with gwt_resp_fini). */
long gwt_do(gwt_client *c, const gwt_req *q, gwt_resp *r);
void gwt_resp_fini(gwt_resp *r);

/* Shorthands. */
long gwt_get(gwt_client *c, const char *path, const char *auth, gwt_resp *r);
long gwt_post(gwt_client *c, const char *path, const char *auth,
    const char *body, gwt_resp *r);
long gwt_delete(
    gwt_client *c, const char *path, const char *auth, gwt_resp *r);

/* A response header's value (last occurrence, case-insensitive name),
 * copied into out; false when absent. */
bool gwt_header(const gwt_resp *r, const char *name, char *out, size_t cap);

/* Asserts status and {"detail": "<string>"} whose text contains `has`
 * (NULL: any text). */
void gwt_expect_detail(const gwt_resp *r, long status, const char *has);

/* Asserts the status, printing the body on a mismatch. */
void gwt_expect_status(const gwt_resp *r, long status);

/* ---- JSON shapes -------------------------------------------------------
 *
 * A spec is a space-separated list of key:type, each key required:
 *   s string   i integer   b bool   t RFC 3339 UTC time string ("...Z")
 *   o object   a array     L object of string values   S array of strings
 *   n null (only)
 * A trailing '?' also allows null ("t?" = time or null). */
void gwt_shape(const json_t *o, const char *where, const char *spec);

/* RFC 3339 with a zone, UTC: YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+00:00). */
bool gwt_is_rfc3339_utc(const char *s);

/* The contract's objects, field by field (CONTRACT.md "Objects"). */
void gwt_check_engine(const json_t *e, const char *where);
void gwt_check_stream(const json_t *s, const char *where);
void gwt_check_stat(const json_t *s, const char *where);
void gwt_check_refusal(const json_t *r, const char *where);
void gwt_check_status(const json_t *st, const char *where);
/* Each entry of a "vpns" array (docs/VPN.md). */
void gwt_check_vpn_list(const json_t *vpns, const char *where);
void gwt_check_vpn(const json_t *v, const char *where);
void gwt_check_health(const json_t *h, const char *where);
void gwt_check_provision_result(const json_t *p, const char *where);
void gwt_check_container_info(const json_t *c, const char *where);

/* A 503 whose "detail" is the structured refusal; returns its code. */
const char *gwt_expect_refusal(const gwt_resp *r);

/* Convenience: o[key] as a string / integer, failing when absent. */
const char *gwt_str(const json_t *o, const char *key);
long long gwt_int(const json_t *o, const char *key);

/* ---- Prometheus text format (0.0.4) ------------------------------------ */

typedef struct gwt_prom_sample {
	char *name;
	size_t n_labels;
	char **lname;
	char **lvalue;
	double value;
	char *family; /* the family the sample belongs to */
} gwt_prom_sample;

typedef struct gwt_prom_family {
	char *name;
	char type[16]; /* counter|gauge|histogram|summary|untyped */
	bool has_help;
	bool has_type;
	size_t n_samples;
} gwt_prom_family;

typedef struct gwt_prom {
	gwt_prom_sample *s;
	size_t n;
	gwt_prom_family *f;
	size_t nf;
} gwt_prom;

/*
 * Parses an exposition strictly: HELP/TYPE lines (at most one each per
 * name, TYPE before the family's samples), metric and label name syntax,
 * label values with only \\ \" \n escapes, no duplicate label or series,
 * float values, optional integer timestamps, a family's samples
 * contiguous, counters >= 0, histograms: _bucket with le (increasing),
 * cumulative counts non-decreasing, +Inf present and equal to _count,
 * _sum and _count present. Returns false with err ("line N: why").
 * Either way *out is the caller's to release with gwt_prom_fini().
 */
bool gwt_prom_parse(
    const char *text, size_t len, gwt_prom *out, char *err, size_t errlen);
void gwt_prom_fini(gwt_prom *p);

/* The family named name, or NULL. */
const gwt_prom_family *gwt_prom_family_get(
    const gwt_prom *p, const char *name);

/*
 * Sum of the samples called name whose labels include every pair of
 * `labels` ("k=v,k2=v2"; NULL or "" = any); *n counts them. With
 * exact=true a sample must have exactly those labels.
 */
double gwt_prom_sum(const gwt_prom *p, const char *name, const char *labels,
    bool exact, int *n);

/* Runs `promtool check metrics` on text when promtool is installed.
 * Returns -1 when it is not, else its exit status; its output goes to
 * out (NUL-terminated). */
int gwt_promtool(const char *text, size_t len, char *out, size_t cap);

/* ---- API reference recorder --------------------------------------------
 *
 * With ORCH_API_DOC=<path> in the environment, gwt_doc() appends one
 * exchange as markdown to that file, under a marker line naming the
 * endpoint (`key`, e.g. "POST /events/stream_started"), which
 * tests/gateway/gen_api_doc.py sorts into docs/API.md. */
bool gwt_doc_enabled(void);
void gwt_doc(
    const char *key, const char *title, const gwt_req *q, const gwt_resp *r);

/* ---- misc ------------------------------------------------------------- */

int64_t gwt_mono_ms(void);

#endif
