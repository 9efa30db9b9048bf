#include "tests/gateway/gwtest.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

int64_t
gwt_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- HTTP ------------------------------------------------------------- */

void
gwt_client_init(gwt_client *c, int port)
{
	memset(c, 0, sizeof(*c));
	c->h = curl_easy_init();
	assert_non_null(c->h);
	snprintf(c->base, sizeof(c->base), "http://127.0.0.1:%d", port);
}

void
gwt_client_fini(gwt_client *c)
{
	if (c->h != NULL)
		curl_easy_cleanup(c->h);
	c->h = NULL;
}

typedef struct sink {
	char *p;
	size_t len;
	size_t cap;
} sink;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	sink *s = arg;
	size_t n = size * nmemb;

	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 1024;
		char *p;

		while (cap < s->len + n + 1)
			cap *= 2;
		p = realloc(s->p, cap);
		if (p == NULL)
			return 0;
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->len, ptr, n);
	s->len += n;
	s->p[s->len] = '\0';
	return n;
}

long
gwt_do(gwt_client *c, const gwt_req *q, gwt_resp *r)
{
	char url[8192], line[1024];
	struct curl_slist *hl = NULL;
	sink body = {0}, hdr = {0};
	CURL *h = c->h;

	memset(r, 0, sizeof(*r));
	/* reset keeps the connection cache: the next request reuses it. */
	curl_easy_reset(h);
	snprintf(url, sizeof(url), "%s%s", c->base, q->path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    h, CURLOPT_TIMEOUT_MS, q->timeout_ms > 0 ? q->timeout_ms : 30000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdr);
	/* No proxy from the environment, ever: the gateway is local. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	/* Bodies over h2o's limit wait for the server's word first: h2o
	 * answers 413 from the Content-Length and closes, and a client still
	 * writing the body may see the reset instead of the answer (seen
	 * once in four runs under TSan). Others go at once. */
	if (q->body != NULL && q->body_len > 1024 * 1024) {
		hl = curl_slist_append(hl, "Expect: 100-continue");
		curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
	} else {
		hl = curl_slist_append(hl, "Expect:");
	}
	if (q->auth != NULL) {
		snprintf(line, sizeof(line), "Authorization: %s", q->auth);
		hl = curl_slist_append(hl, line);
	}
	if (q->origin != NULL) {
		snprintf(line, sizeof(line), "Origin: %s", q->origin);
		hl = curl_slist_append(hl, line);
	}
	if (q->extra != NULL)
		hl = curl_slist_append(hl, q->extra);
	if (q->body != NULL) {
		size_t n = q->body_len ? q->body_len : strlen(q->body);

		hl = curl_slist_append(hl, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(
		    h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) n);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	r->cc = curl_easy_perform(h);
	curl_slist_free_all(hl);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->num_connects);
	{
		double t = 0;

		curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &t);
		r->ms = t * 1000.0;
	}
	r->body = body.p != NULL ? body.p : strdup("");
	r->len = body.len;
	r->hdrs = hdr.p != NULL ? hdr.p : strdup("");
	r->hlen = hdr.len;
	if (r->len > 0 && (r->body[0] == '{' || r->body[0] == '['))
		r->json = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
	if (r->cc != CURLE_OK)
		r->status = 0;
	return r->status;
}

void
gwt_resp_fini(gwt_resp *r)
{
	free(r->body);
	free(r->hdrs);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

long
gwt_get(gwt_client *c, const char *path, const char *auth, gwt_resp *r)
{
	gwt_req q = {.method = "GET", .path = path, .auth = auth};

	return gwt_do(c, &q, r);
}

long
gwt_post(gwt_client *c, const char *path, const char *auth, const char *body,
    gwt_resp *r)
{
	gwt_req q = {
	    .method = "POST", .path = path, .auth = auth, .body = body};

	return gwt_do(c, &q, r);
}

long
gwt_delete(gwt_client *c, const char *path, const char *auth, gwt_resp *r)
{
	gwt_req q = {.method = "DELETE", .path = path, .auth = auth};

	return gwt_do(c, &q, r);
}

bool
gwt_header(const gwt_resp *r, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	bool found = false;

	for (const char *p = r->hdrs; p != NULL && *p != '\0';) {
		const char *e = strstr(p, "\r\n");
		size_t ll = e != NULL ? (size_t) (e - p) : strlen(p);

		if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			size_t vl = ll - nl - 1;

			while (vl > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			if (cap > 0) {
				snprintf(out, cap, "%.*s", (int) vl, v);
			}
			found = true;
		}
		p = e != NULL ? e + 2 : NULL;
	}
	return found;
}

void
gwt_expect_status(const gwt_resp *r, long status)
{
	if (r->status != status)
		fail_msg("HTTP %ld (curl: %s), want %ld; body: %.600s",
		    r->status, curl_easy_strerror(r->cc), status, r->body);
}

void
gwt_expect_detail(const gwt_resp *r, long status, const char *has)
{
	const json_t *d;

	gwt_expect_status(r, status);
	if (r->json == NULL || !json_is_object(r->json))
		fail_msg("HTTP %ld: body is not a JSON object: %.300s", status,
		    r->body);
	d = json_object_get(r->json, "detail");
	if (!json_is_string(d))
		fail_msg("HTTP %ld: \"detail\" is not a string: %.300s",
		    status, r->body);
	if (has != NULL && strstr(json_string_value(d), has) == NULL)
		fail_msg("HTTP %ld: detail \"%s\" does not contain \"%s\"",
		    status, json_string_value(d), has);
	{
		char ct[128] = "";

		if (!gwt_header(r, "content-type", ct, sizeof(ct)) ||
		    strncmp(ct, "application/json", 16) != 0)
			fail_msg("HTTP %ld: content-type \"%s\", want "
			         "application/json",
			    status, ct);
	}
}

/* ---- JSON shapes ------------------------------------------------------- */

static bool
digits(const char *s, int n)
{
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

bool
gwt_is_rfc3339_utc(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	/* YYYY-MM-DDTHH:MM:SS */
	if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' ||
	    !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
	    s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
	    !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return false;
	s += 19;
	if (*s == '.') {
		s++;
		for (n = 0; isdigit((unsigned char) s[n]); n++)
			;
		if (n < 1 || n > 9)
			return false;
		s += n;
	}
	return strcmp(s, "Z") == 0 || strcmp(s, "+00:00") == 0;
}

static const char *
json_type_name(const json_t *v)
{
	if (v == NULL)
		return "absent";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "null";
	}
}

void
gwt_shape(const json_t *o, const char *where, const char *spec)
{
	char buf[2048];
	char *save = NULL;

	if (!json_is_object(o))
		fail_msg("%s: expected an object, got %s", where,
		    json_type_name(o));
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *tok = strtok_r(buf, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(tok, ':');
		const char *t;
		bool nullable;
		const json_t *v;
		bool ok = false;

		assert_non_null(colon);
		*colon = '\0';
		t = colon + 1;
		nullable = strchr(t, '?') != NULL;
		v = json_object_get(o, tok);
		if (v == NULL)
			fail_msg("%s: field \"%s\" is missing", where, tok);
		if (json_is_null(v)) {
			if (nullable || t[0] == 'n')
				continue;
			fail_msg(
			    "%s.%s: null where %s is required", where, tok, t);
		}
		switch (t[0]) {
		case 's':
			ok = json_is_string(v);
			break;
		case 'i':
			ok = json_is_integer(v);
			break;
		case 'b':
			ok = json_is_boolean(v);
			break;
		case 't':
			ok = json_is_string(v) &&
			     gwt_is_rfc3339_utc(json_string_value(v));
			break;
		case 'o':
			ok = json_is_object(v);
			break;
		case 'a':
			ok = json_is_array(v);
			break;
		case 'L': {
			const char *k;
			json_t *x;

			ok = json_is_object(v);
			json_object_foreach((json_t *) v, k, x)
			{
				if (!json_is_string(x))
					fail_msg("%s.%s.%s: label value is "
					         "%s, want "
					         "string",
					    where, tok, k, json_type_name(x));
			}
			break;
		}
		case 'S': {
			size_t i;
			json_t *x;

			ok = json_is_array(v);
			json_array_foreach((json_t *) v, i, x)
			{
				if (!json_is_string(x))
					fail_msg("%s.%s[%zu]: %s, want string",
					    where, tok, i, json_type_name(x));
			}
			break;
		}
		case 'n':
			ok = false; /* only null, handled above */
			break;
		default:
			fail_msg("bad spec type %s", t);
		}
		if (!ok) {
			char *dump =
			    json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			fail_msg("%s.%s: got %s %s, want type '%s'", where,
			    tok, json_type_name(v), dump != NULL ? dump : "",
			    t);
			free(dump);
		}
	}
}

const char *
gwt_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg(
		    "\"%s\" is %s, want a string", key, json_type_name(v));
	return json_string_value(v);
}

long long
gwt_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg(
		    "\"%s\" is %s, want an integer", key, json_type_name(v));
	return (long long) json_integer_value(v);
}

static void
one_of(const char *where, const char *field, const char *v,
    const char *const *allowed)
{
	for (size_t i = 0; allowed[i] != NULL; i++) {
		if (strcmp(v, allowed[i]) == 0)
			return;
	}
	fail_msg("%s.%s: \"%s\" is not an allowed value", where, field, v);
}

void
gwt_check_engine(const json_t *e, const char *where)
{
	static const char *const health[] = {
	    "healthy", "unhealthy", "unknown", NULL};
	long long port;

	gwt_shape(e, where,
	    "container_id:s container_name:s host:s port:i labels:L "
	    "forwarded:b health_status:s first_seen:t last_seen:t "
	    "last_health_check:t? last_stream_usage:t? last_cache_cleanup:n "
	    "cache_size_bytes:n streams:S vpn:s?");
	one_of(where, "health_status", gwt_str(e, "health_status"), health);
	port = gwt_int(e, "port");
	if (port < 1 || port > 65535)
		fail_msg("%s.port: %lld out of range", where, port);
}

void
gwt_check_stat(const json_t *s, const char *where)
{
	gwt_shape(s, where,
	    "ts:t peers:i? speed_down:i? speed_up:i? downloaded:i? "
	    "uploaded:i? "
	    "status:s?");
}

void
gwt_check_stream(const json_t *s, const char *where)
{
	static const char *const kt[] = {
	    "content_id", "infohash", "url", "magnet", NULL};
	static const char *const st[] = {"started", "ended", NULL};
	const json_t *stats;
	char w[256];

	gwt_shape(s, where,
	    "id:s key_type:s key:s container_id:s playback_session_id:s? "
	    "stat_url:s? command_url:s? is_live:b started_at:t ended_at:t? "
	    "status:s end_reason:s? stats:o?");
	one_of(where, "key_type", gwt_str(s, "key_type"), kt);
	one_of(where, "status", gwt_str(s, "status"), st);
	/* started: no ended_at; ended: ended_at set. */
	if (strcmp(gwt_str(s, "status"), "started") == 0) {
		if (!json_is_null(json_object_get(s, "ended_at")))
			fail_msg("%s: an active stream has ended_at", where);
	} else if (json_is_null(json_object_get(s, "ended_at"))) {
		fail_msg("%s: an ended stream has ended_at null", where);
	}
	stats = json_object_get(s, "stats");
	if (json_is_object(stats)) {
		snprintf(w, sizeof(w), "%s.stats", where);
		gwt_check_stat(stats, w);
	}
}

void
gwt_check_refusal(const json_t *r, const char *where)
{
	gwt_shape(r, where,
	    "error:s code:s message:s recovery_eta_seconds:i? can_retry:b "
	    "should_wait:b");
}

const char *
gwt_expect_refusal(const gwt_resp *r)
{
	const json_t *d;

	gwt_expect_status(r, 503);
	if (!json_is_object(r->json))
		fail_msg("503 body is not a JSON object: %.300s", r->body);
	d = json_object_get(r->json, "detail");
	if (!json_is_object(d))
		fail_msg("503 detail is %s, want the refusal object: %.300s",
		    json_type_name(d), r->body);
	gwt_check_refusal(d, "detail");
	return gwt_str(d, "code");
}

static void
check_breaker(const json_t *b, const char *where)
{
	static const char *const states[] = {
	    "closed", "open", "half_open", NULL};

	gwt_shape(b, where,
	    "state:s failure_count:i failure_threshold:i recovery_timeout:i "
	    "last_failure_time:t? last_success_time:t?");
	one_of(where, "state", gwt_str(b, "state"), states);
}

void
gwt_check_status(const json_t *st, const char *where)
{
	static const char *const states[] = {
	    "healthy", "degraded", "unavailable", NULL};
	static const char *const breaker[] = {
	    "closed", "open", "half_open", NULL};
	static const char *const codes[] = {"vpn_disconnected",
	    "circuit_breaker", "max_capacity", "docker_unavailable",
	    "image_unavailable", NULL};
	static const char *const reasons[] = {"VPN not connected",
	    "Circuit breaker is open", "Maximum replicas reached",
	    "Docker unavailable", "Engine image unavailable", NULL};
	const json_t *p, *c;
	char w[256];

	gwt_shape(st, where,
	    "status:s engines:o streams:o capacity:o vpn:o provisioning:o "
	    "config:o");
	one_of(where, "status", gwt_str(st, "status"), states);
	snprintf(w, sizeof(w), "%s.engines", where);
	gwt_shape(json_object_get(st, "engines"), w,
	    "total:i running:i healthy:i unhealthy:i");
	snprintf(w, sizeof(w), "%s.streams", where);
	gwt_shape(json_object_get(st, "streams"), w, "active:i total:i");
	snprintf(w, sizeof(w), "%s.capacity", where);
	c = json_object_get(st, "capacity");
	gwt_shape(
	    c, w, "total:i used:i available:i max_replicas:i min_replicas:i");
	if (gwt_int(c, "available") !=
	    gwt_int(c, "total") - gwt_int(c, "used"))
		fail_msg("%s: available != total - used", w);
	snprintf(w, sizeof(w), "%s.vpn", where);
	gwt_shape(json_object_get(st, "vpn"), w,
	    "enabled:b connected:b health:s container:s? forwarded_port:i? "
	    "vpns:a");
	gwt_check_vpn_list(
	    json_object_get(json_object_get(st, "vpn"), "vpns"), w);
	snprintf(w, sizeof(w), "%s.provisioning", where);
	p = json_object_get(st, "provisioning");
	gwt_shape(p, w,
	    "can_provision:b circuit_breaker_state:s last_failure:t? "
	    "blocked_reason:s? blocked_reason_details:o?");
	one_of(w, "circuit_breaker_state", gwt_str(p, "circuit_breaker_state"),
	    breaker);
	if (json_is_true(json_object_get(p, "can_provision"))) {
		if (!json_is_null(json_object_get(p, "blocked_reason")) ||
		    !json_is_null(
		        json_object_get(p, "blocked_reason_details")))
			fail_msg("%s: can_provision with a blocked reason", w);
	} else {
		char w2[300];

		one_of(w, "blocked_reason", gwt_str(p, "blocked_reason"),
		    reasons);
		snprintf(w2, sizeof(w2), "%s.blocked_reason_details", w);
		gwt_check_refusal(
		    json_object_get(p, "blocked_reason_details"), w2);
		one_of(w2, "code",
		    gwt_str(
		        json_object_get(p, "blocked_reason_details"), "code"),
		    codes);
	}
	snprintf(w, sizeof(w), "%s.config", where);
	gwt_shape(json_object_get(st, "config"), w,
	    "auto_delete:b grace_period_s:i target_image:s");
}

void
gwt_check_vpn_list(const json_t *vpns, const char *where)
{
	size_t i;
	json_t *x;

	if (!json_is_array(vpns))
		fail_msg("%s.vpns: not an array", where);
	json_array_foreach((json_t *) vpns, i, x)
	{
		char w[300];

		snprintf(w, sizeof(w), "%s.vpns[%zu]", where, i);
		gwt_shape(x, w,
		    "name:s status:s health:s connected:b forwarded_port:i? "
		    "engines:i last_check_at:t? control:s error:s? "
		    "ports_total:i ports_free:i");
	}
}

void
gwt_check_vpn(const json_t *v, const char *where)
{
	gwt_shape(v, where,
	    "enabled:b status:s container:s? health:s connected:b "
	    "forwarded_port:i? last_check_at:t? error:s? vpns:a");
	gwt_check_vpn_list(json_object_get(v, "vpns"), where);
}

void
gwt_check_health(const json_t *h, const char *where)
{
	const json_t *cb;
	char w[256];

	gwt_shape(h, where,
	    "total_engines:i healthy_engines:i unhealthy_engines:i "
	    "marked_for_replacement:i minimum_required:i "
	    "health_check_interval:i circuit_breakers:o");
	cb = json_object_get(h, "circuit_breakers");
	snprintf(w, sizeof(w), "%s.circuit_breakers", where);
	gwt_shape(cb, w, "general:o replacement:o");
	snprintf(w, sizeof(w), "%s.circuit_breakers.general", where);
	check_breaker(json_object_get(cb, "general"), w);
	snprintf(w, sizeof(w), "%s.circuit_breakers.replacement", where);
	check_breaker(json_object_get(cb, "replacement"), w);
}

void
gwt_check_provision_result(const json_t *p, const char *where)
{
	gwt_shape(p, where,
	    "container_id:s container_name:s host_http_port:i "
	    "container_http_port:i container_https_port:i");
}

void
gwt_check_container_info(const json_t *c, const char *where)
{
	const char *k;
	json_t *v;

	gwt_shape(c, where,
	    "id:s name:s image:s created:t status:s labels:L "
	    "ports:o");
	json_object_foreach(json_object_get(c, "ports"), k, v)
	{
		size_t i;
		json_t *b;
		char w[256];

		if (strstr(k, "/") == NULL)
			fail_msg("%s.ports: key \"%s\" is not <port>/<proto>",
			    where, k);
		if (!json_is_array(v))
			fail_msg("%s.ports[\"%s\"]: %s, want an array", where,
			    k, json_type_name(v));
		json_array_foreach(v, i, b)
		{
			snprintf(w, sizeof(w), "%s.ports[\"%s\"][%zu]", where,
			    k, i);
			gwt_shape(b, w, "HostIp:s HostPort:s");
		}
	}
}

/* ---- Prometheus --------------------------------------------------------- */

static bool
metric_name_ok(const char *s, size_t n)
{
	if (n == 0 ||
	    !(isalpha((unsigned char) s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!(isalnum((unsigned char) s[i]) || s[i] == '_' ||
		        s[i] == ':'))
			return false;
	}
	return true;
}

static bool
label_name_ok(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char) s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!(isalnum((unsigned char) s[i]) || s[i] == '_'))
			return false;
	}
	/* __name__ and friends are reserved. */
	return !(n >= 2 && s[0] == '_' && s[1] == '_');
}

/* A float as Prometheus' text parser reads it (Go's ParseFloat, decimal). */
static bool
parse_value(const char *s, size_t n, double *v)
{
	char buf[64];
	char *end;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
		*v = INFINITY;
		return true;
	}
	if (strcmp(buf, "-Inf") == 0) {
		*v = -INFINITY;
		return true;
	}
	if (strcmp(buf, "NaN") == 0) {
		*v = NAN;
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(isdigit((unsigned char) buf[i]) || buf[i] == '.' ||
		        buf[i] == 'e' || buf[i] == 'E' || buf[i] == '+' ||
		        buf[i] == '-'))
			return false;
	}
	errno = 0;
	*v = strtod(buf, &end);
	return end == buf + n && errno != ERANGE;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static gwt_prom_family *
family_get(gwt_prom *p, const char *name, size_t n)
{
	for (size_t i = 0; i < p->nf; i++) {
		if (strlen(p->f[i].name) == n &&
		    memcmp(p->f[i].name, name, n) == 0)
			return &p->f[i];
	}
	return NULL;
}

static gwt_prom_family *
family_add(gwt_prom *p, const char *name, size_t n)
{
	gwt_prom_family *f;

	p->f = realloc(p->f, (p->nf + 1) * sizeof(*p->f));
	assert_non_null(p->f);
	f = &p->f[p->nf++];
	memset(f, 0, sizeof(*f));
	f->name = xstrndup(name, n);
	snprintf(f->type, sizeof(f->type), "untyped");
	return f;
}

const gwt_prom_family *
gwt_prom_family_get(const gwt_prom *p, const char *name)
{
	return family_get((gwt_prom *) p, name, strlen(name));
}

void
gwt_prom_fini(gwt_prom *p)
{
	for (size_t i = 0; i < p->n; i++) {
		for (size_t j = 0; j < p->s[i].n_labels; j++) {
			free(p->s[i].lname[j]);
			free(p->s[i].lvalue[j]);
		}
		free(p->s[i].lname);
		free(p->s[i].lvalue);
		free(p->s[i].name);
		free(p->s[i].family);
	}
	for (size_t i = 0; i < p->nf; i++)
		free(p->f[i].name);
	free(p->s);
	free(p->f);
	memset(p, 0, sizeof(*p));
}

static bool
has_suffix(const char *s, size_t n, const char *suf, size_t *base)
{
	size_t k = strlen(suf);

	if (n <= k || memcmp(s + n - k, suf, k) != 0)
		return false;
	*base = n - k;
	return true;
}

static const char *
label_of(const gwt_prom_sample *s, const char *name)
{
	for (size_t i = 0; i < s->n_labels; i++) {
		if (strcmp(s->lname[i], name) == 0)
			return s->lvalue[i];
	}
	return NULL;
}

/* The series key: name + sorted labels, for duplicate detection. */
static bool
same_series(const gwt_prom_sample *a, const gwt_prom_sample *b)
{
	if (strcmp(a->name, b->name) != 0 || a->n_labels != b->n_labels)
		return false;
	for (size_t i = 0; i < a->n_labels; i++) {
		const char *v = label_of(b, a->lname[i]);

		if (v == NULL || strcmp(v, a->lvalue[i]) != 0)
			return false;
	}
	return true;
}

#define PERR(...)                                                             \
	do {                                                                  \
		if (errlen > 0) {                                             \
			int o_ = snprintf(err, errlen, "line %d: ", lineno);  \
			if (o_ >= 0 && (size_t) o_ < errlen)                  \
				snprintf(err + o_, errlen - (size_t) o_,      \
				    __VA_ARGS__);                             \
		}                                                             \
		goto fail;                                                    \
	} while (0)

/* Histogram checks of family f over every parsed sample. */
static bool
check_histogram(
    const gwt_prom *p, const gwt_prom_family *f, char *err, size_t errlen)
{
	/* Group buckets by their labels minus le: one series set each. */
	for (size_t i = 0; i < p->n; i++) {
		const gwt_prom_sample *c = &p->s[i];
		size_t nb = strlen(f->name);
		char want_count[256], want_sum[256], want_bucket[256];
		double prev_le = -INFINITY, prev_v = -1, inf_v = -1,
		       count = -1;
		bool sum_seen = false;

		if (strcmp(c->family, f->name) != 0)
			continue;
		snprintf(want_count, sizeof(want_count), "%s_count", f->name);
		snprintf(want_sum, sizeof(want_sum), "%s_sum", f->name);
		snprintf(
		    want_bucket, sizeof(want_bucket), "%s_bucket", f->name);
		if (strncmp(c->name, f->name, nb) != 0 ||
		    (strcmp(c->name, want_count) != 0 &&
		        strcmp(c->name, want_sum) != 0 &&
		        strcmp(c->name, want_bucket) != 0)) {
			snprintf(err, errlen, "histogram %s: stray sample %s",
			    f->name, c->name);
			return false;
		}
		if (strcmp(c->name, want_count) != 0)
			continue;
		/* One _count per label set: check its buckets and _sum. */
		count = c->value;
		for (size_t j = 0; j < p->n; j++) {
			const gwt_prom_sample *b = &p->s[j];
			bool same = true;

			if (strcmp(b->family, f->name) != 0)
				continue;
			/* labels of b minus le == labels of c */
			for (size_t k = 0; k < b->n_labels; k++) {
				const char *v;

				if (strcmp(b->lname[k], "le") == 0)
					continue;
				v = label_of(c, b->lname[k]);
				if (v == NULL || strcmp(v, b->lvalue[k]) != 0)
					same = false;
			}
			if (!same ||
			    b->n_labels - (label_of(b, "le") != NULL) !=
			        c->n_labels)
				continue;
			if (strcmp(b->name, want_sum) == 0) {
				sum_seen = true;
			} else if (strcmp(b->name, want_bucket) == 0) {
				const char *le = label_of(b, "le");
				double lv;

				if (le == NULL ||
				    !parse_value(le, strlen(le), &lv) ||
				    isnan(lv)) {
					snprintf(err, errlen,
					    "%s: bucket without a valid "
					    "le",
					    f->name);
					return false;
				}
				if (lv <= prev_le) {
					snprintf(err, errlen,
					    "%s: le %s not increasing",
					    f->name, le);
					return false;
				}
				if (b->value < prev_v) {
					snprintf(err, errlen,
					    "%s: bucket le=%s count %g "
					    "below the previous %g",
					    f->name, le, b->value, prev_v);
					return false;
				}
				prev_le = lv;
				prev_v = b->value;
				if (isinf(lv))
					inf_v = b->value;
			}
		}
		if (inf_v < 0) {
			snprintf(
			    err, errlen, "%s: no le=\"+Inf\" bucket", f->name);
			return false;
		}
		if (inf_v != count) {
			snprintf(err, errlen,
			    "%s: +Inf bucket %g != _count %g", f->name, inf_v,
			    count);
			return false;
		}
		if (!sum_seen) {
			snprintf(err, errlen, "%s: no _sum", f->name);
			return false;
		}
	}
	/* A histogram with buckets must have a _count. */
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->s[i].family, f->name) == 0) {
			char want_count[256];
			bool found = false;

			snprintf(want_count, sizeof(want_count), "%s_count",
			    f->name);
			for (size_t j = 0; j < p->n; j++)
				found |= strcmp(p->s[j].name, want_count) == 0;
			if (!found) {
				snprintf(
				    err, errlen, "%s: no _count", f->name);
				return false;
			}
			break;
		}
	}
	return true;
}

bool
gwt_prom_parse(
    const char *text, size_t len, gwt_prom *out, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	int lineno = 0;
	const char *cur_family = NULL; /* of the last sample line */

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	if (len == 0 || text[len - 1] != '\n') {
		snprintf(
		    err, errlen, "the exposition must end with a newline");
		return false;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		const char *q = p;

		lineno++;
		if (memchr(p, '\0', (size_t) (eol - p)) != NULL)
			PERR("NUL byte");
		if (eol == p)
			PERR("empty line");
		if (*q == '#') {
			/* "# HELP name text", "# TYPE name type", or a
			 * comment. */
			const char *kw, *nm;
			size_t kwl, nml;
			gwt_prom_family *f;

			q++;
			while (q < eol && *q == ' ')
				q++;
			kw = q;
			while (q < eol && *q != ' ')
				q++;
			kwl = (size_t) (q - kw);
			if (!((kwl == 4 && memcmp(kw, "HELP", 4) == 0) ||
			        (kwl == 4 && memcmp(kw, "TYPE", 4) == 0))) {
				p = eol + 1;
				continue; /* a plain comment */
			}
			if (q >= eol || *q != ' ')
				PERR("%.*s without a metric name", (int) kwl,
				    kw);
			while (q < eol && *q == ' ')
				q++;
			nm = q;
			while (q < eol && *q != ' ')
				q++;
			nml = (size_t) (q - nm);
			if (!metric_name_ok(nm, nml))
				PERR(
				    "bad metric name \"%.*s\"", (int) nml, nm);
			f = family_get(out, nm, nml);
			if (f == NULL)
				f = family_add(out, nm, nml);
			if (kw[0] == 'H') {
				if (f->has_help)
					PERR("second HELP for %s", f->name);
				f->has_help = true;
				/* The text: only \\ and \n escapes. */
				if (q < eol)
					q++;
				for (; q < eol; q++) {
					if (*q == '\\') {
						if (q + 1 >= eol ||
						    (q[1] != '\\' &&
						        q[1] != 'n'))
							PERR("bad escape in "
							     "HELP of %s",
							    f->name);
						q++;
					}
				}
			} else {
				const char *ty;
				size_t tyl;

				if (f->has_type)
					PERR("second TYPE for %s", f->name);
				if (f->n_samples > 0)
					PERR("TYPE for %s after its samples",
					    f->name);
				if (q >= eol || *q != ' ')
					PERR(
					    "TYPE %s without a type", f->name);
				q++;
				ty = q;
				tyl = (size_t) (eol - q);
				if (!((tyl == 7 &&
				          memcmp(ty, "counter", 7) == 0) ||
				        (tyl == 5 &&
				            memcmp(ty, "gauge", 5) == 0) ||
				        (tyl == 9 &&
				            memcmp(ty, "histogram", 9) == 0) ||
				        (tyl == 7 &&
				            memcmp(ty, "summary", 7) == 0) ||
				        (tyl == 7 &&
				            memcmp(ty, "untyped", 7) == 0)))
					PERR("unknown type \"%.*s\"",
					    (int) tyl, ty);
				snprintf(f->type, sizeof(f->type), "%.*s",
				    (int) tyl, ty);
				f->has_type = true;
			}
			p = eol + 1;
			continue;
		}
		{
			/* A sample: name[{labels}] value [timestamp]. It is
			 * stored first, so that gwt_prom_fini() frees it
			 * whatever fails below. */
			const char *nm = q;
			size_t nml, base;
			gwt_prom_sample *s;
			gwt_prom_family *f = NULL;
			const char *vs;

			out->s =
			    realloc(out->s, (out->n + 1) * sizeof(*out->s));
			assert_non_null(out->s);
			s = &out->s[out->n++];
			memset(s, 0, sizeof(*s));
			while (q < eol && *q != '{' && *q != ' ' && *q != '\t')
				q++;
			nml = (size_t) (q - nm);
			if (!metric_name_ok(nm, nml))
				PERR(
				    "bad metric name \"%.*s\"", (int) nml, nm);
			s->name = xstrndup(nm, nml);
			if (q < eol && *q == '{') {
				q++;
				for (;;) {
					const char *ln;
					size_t lnl, vl = 0;
					char *val;

					while (q < eol &&
					       (*q == ' ' || *q == '\t'))
						q++;
					if (q < eol && *q == '}') {
						q++;
						break;
					}
					ln = q;
					while (
					    q < eol && *q != '=' && *q != ' ')
						q++;
					lnl = (size_t) (q - ln);
					if (!label_name_ok(ln, lnl))
						PERR("bad label name \"%.*s\"",
						    (int) lnl, ln);
					if (q >= eol || *q != '=' ||
					    q + 1 >= eol || q[1] != '"')
						PERR(
						    "label %.*s: expected =\"",
						    (int) lnl, ln);
					for (size_t k = 0; k < s->n_labels;
					     k++) {
						if (strlen(s->lname[k]) ==
						        lnl &&
						    memcmp(s->lname[k], ln,
						        lnl) == 0)
							PERR("duplicate label "
							     "%.*s",
							    (int) lnl, ln);
					}
					q += 2;
					s->lname = realloc(
					    s->lname, (s->n_labels + 1) *
					                  sizeof(char *));
					s->lvalue = realloc(
					    s->lvalue, (s->n_labels + 1) *
					                   sizeof(char *));
					assert_non_null(s->lname);
					assert_non_null(s->lvalue);
					val =
					    calloc(1, (size_t) (eol - q) + 1);
					assert_non_null(val);
					s->lname[s->n_labels] =
					    xstrndup(ln, lnl);
					s->lvalue[s->n_labels] = val;
					s->n_labels++;
					for (;;) {
						if (q >= eol)
							PERR("unterminated "
							     "label value");
						if (*q == '"')
							break;
						if (*q == '\\') {
							if (q + 1 >= eol ||
							    (q[1] != '\\' &&
							        q[1] != '"' &&
							        q[1] != 'n'))
								PERR(
								    "bad "
								    "escape "
								    "in label "
								    "value");
							val[vl++] = q[1] == 'n'
							                ? '\n'
							                : q[1];
							q += 2;
							continue;
						}
						val[vl++] = *q++;
					}
					val[vl] = '\0';
					q++; /* the closing quote */
					if (q < eol && *q == ',') {
						q++;
						continue;
					}
					if (q < eol && *q == '}') {
						q++;
						break;
					}
					PERR("expected , or } after a label");
				}
			}
			if (q >= eol || (*q != ' ' && *q != '\t'))
				PERR("%s: expected a space before the value",
				    s->name);
			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			vs = q;
			while (q < eol && *q != ' ' && *q != '\t')
				q++;
			if (!parse_value(vs, (size_t) (q - vs), &s->value))
				PERR("%s: bad value \"%.*s\"", s->name,
				    (int) (q - vs), vs);
			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			if (q < eol) {
				const char *ts = q;

				if (*q == '-')
					q++;
				while (q < eol && isdigit((unsigned char) *q))
					q++;
				if (q != eol || q == ts)
					PERR("%s: bad timestamp \"%.*s\"",
					    s->name, (int) (eol - ts), ts);
			}
			/* Its family: a histogram/summary base, else its name.
			 */
			if (has_suffix(nm, nml, "_bucket", &base) ||
			    has_suffix(nm, nml, "_sum", &base) ||
			    has_suffix(nm, nml, "_count", &base)) {
				gwt_prom_family *bf =
				    family_get(out, nm, base);

				if (bf != NULL &&
				    (strcmp(bf->type, "histogram") == 0 ||
				        (strcmp(bf->type, "summary") == 0 &&
				            nml - base != 7)))
					f = bf;
			}
			if (f == NULL)
				f = family_get(out, nm, nml);
			if (f == NULL)
				f = family_add(out, nm, nml);
			if ((strcmp(f->type, "histogram") == 0 ||
			        strcmp(f->type, "summary") == 0) &&
			    strcmp(f->name, s->name) == 0 &&
			    strcmp(f->type, "summary") != 0)
				PERR("histogram %s: a sample named as the "
				     "family",
				    f->name);
			s->family = strdup(f->name);
			if (cur_family == NULL ||
			    strcmp(cur_family, f->name) != 0) {
				if (f->n_samples > 0)
					PERR(
					    "samples of %s are not contiguous",
					    f->name);
			}
			cur_family = f->name;
			f->n_samples++;
			if (strcmp(f->type, "counter") == 0 &&
			    !(s->value >= 0))
				PERR("counter %s is negative or NaN", s->name);
			if (strcmp(f->type, "counter") == 0 && isinf(s->value))
				PERR("counter %s is infinite", s->name);
			for (size_t k = 0; k + 1 < out->n; k++) {
				if (same_series(&out->s[k], s))
					PERR("duplicate series %s", s->name);
			}
			if ((strcmp(f->type, "counter") == 0 ||
			        strcmp(f->type, "gauge") == 0) &&
			    label_of(s, "le") != NULL)
				PERR("%s: le label outside a histogram",
				    s->name);
		}
		p = eol + 1;
	}
	for (size_t i = 0; i < out->nf; i++) {
		if (strcmp(out->f[i].type, "histogram") == 0 &&
		    !check_histogram(out, &out->f[i], err, errlen))
			return false;
	}
	return true;
fail:
	return false;
}

double
gwt_prom_sum(const gwt_prom *p, const char *name, const char *labels,
    bool exact, int *n)
{
	char buf[512];
	char *pairs[16][2];
	size_t np = 0;
	double sum = 0;
	char *save = NULL;

	*n = 0;
	snprintf(buf, sizeof(buf), "%s", labels != NULL ? labels : "");
	for (char *t = strtok_r(buf, ",", &save); t != NULL && np < 16;
	     t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		assert_non_null(eq);
		*eq = '\0';
		pairs[np][0] = t;
		pairs[np][1] = eq + 1;
		np++;
	}
	for (size_t i = 0; i < p->n; i++) {
		const gwt_prom_sample *s = &p->s[i];
		bool ok = strcmp(s->name, name) == 0;

		for (size_t k = 0; ok && k < np; k++) {
			const char *v = label_of(s, pairs[k][0]);

			ok = v != NULL && strcmp(v, pairs[k][1]) == 0;
		}
		if (ok && exact)
			ok = s->n_labels == np;
		if (ok) {
			sum += s->value;
			(*n)++;
		}
	}
	return sum;
}

int
gwt_promtool(const char *text, size_t len, char *out, size_t cap)
{
	static const char *const where[] = {"/usr/bin/promtool",
	    "/usr/local/bin/promtool", "/bin/promtool", NULL};
	const char *tool = NULL;
	char in_path[] = "/tmp/gwt-prom-XXXXXX";
	char cmd[512];
	FILE *f;
	int fd, st;
	size_t n = 0;

	if (cap > 0)
		out[0] = '\0';
	for (size_t i = 0; where[i] != NULL; i++) {
		if (access(where[i], X_OK) == 0) {
			tool = where[i];
			break;
		}
	}
	if (tool == NULL)
		return -1;
	fd = mkstemp(in_path);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t) len) {
		close(fd);
		unlink(in_path);
		return -1;
	}
	close(fd);
	snprintf(
	    cmd, sizeof(cmd), "%s check metrics < %s 2>&1", tool, in_path);
	f = popen(cmd, "r");
	if (f == NULL) {
		unlink(in_path);
		return -1;
	}
	while (cap > 0 && n + 1 < cap) {
		size_t k = fread(out + n, 1, cap - 1 - n, f);

		if (k == 0)
			break;
		n += k;
	}
	if (cap > 0)
		out[n] = '\0';
	st = pclose(f);
	unlink(in_path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- API reference recorder --------------------------------------------- */

bool
gwt_doc_enabled(void)
{
	const char *p = getenv("ORCH_API_DOC");

	return p != NULL && p[0] != '\0';
}

/* Pretty JSON when it parses, else the text as it is. */
static void
doc_body(FILE *f, const char *body, size_t len)
{
	json_t *j = NULL;

	if (len > 4096 && !(len > 0 && body[0] == '#')) {
		/* Bulk bodies (the 413 case): describe, do not paste. */
		fprintf(f, "<%zu bytes: ", len);
		fwrite(body, 1, 60, f);
		fprintf(f, "...>\n");
		return;
	}
	if (len > 0 && (body[0] == '{' || body[0] == '['))
		j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	if (j != NULL) {
		char *s = json_dumps(
		    j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

		fprintf(f, "%s\n", s != NULL ? s : "");
		free(s);
		json_decref(j);
	} else {
		fwrite(body, 1, len, f);
		if (len == 0 || body[len - 1] != '\n')
			fputc('\n', f);
	}
}

static const char *
reason_of(long status)
{
	switch (status) {
	case 200:
		return "OK";
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
		return "Request Entity Too Large";
	case 422:
		return "Unprocessable Entity";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "";
	}
}

void
gwt_doc(
    const char *key, const char *title, const gwt_req *q, const gwt_resp *r)
{
	static const char *const shown[] = {"content-type",
	    "access-control-allow-origin", "access-control-allow-methods",
	    "access-control-allow-headers", "vary", "connection", NULL};
	const char *path = getenv("ORCH_API_DOC");
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return;
	f = fopen(path, "a");
	if (f == NULL)
		return;
	fprintf(f, "<!-- exchange: %s -->\n", key);
	fprintf(f, "#### %s\n\n", title);
	fprintf(f, "```http\n%s %s HTTP/1.1\n", q->method, q->path);
	if (q->auth != NULL)
		fprintf(f, "Authorization: %s\n", q->auth);
	if (q->origin != NULL)
		fprintf(f, "Origin: %s\n", q->origin);
	if (q->extra != NULL)
		fprintf(f, "%s\n", q->extra);
	if (q->body != NULL) {
		size_t n = q->body_len ? q->body_len : strlen(q->body);

		fprintf(f, "Content-Type: application/json\n\n");
		doc_body(f, q->body, n);
	}
	fprintf(f, "```\n\n");
	if (r->status == 0) {
		fprintf(f, "(no response: %s)\n\n", curl_easy_strerror(r->cc));
	} else {
		fprintf(f, "```http\nHTTP/1.1 %ld %s\n", r->status,
		    reason_of(r->status));
		for (size_t i = 0; shown[i] != NULL; i++) {
			char v[512];

			if (gwt_header(r, shown[i], v, sizeof(v)))
				fprintf(f, "%s: %s\n", shown[i], v);
		}
		fputc('\n', f);
		doc_body(f, r->body, r->len);
		fprintf(f, "```\n\n");
	}
	fclose(f);
}

/*
 * For every test that links these helpers and runs the gateway in its
 * process (gateway_test, snapshot_test): h2o keeps per-thread recycle caches
 * (h2o_mem_alloc_recycle: memory pool chunks, socket buffers) that h2o 2.2
 * offers no call to release when a loop thread exits, and a stop that finds a
 * client still mid-request leaves that context to the process exit
 * (docs/GATEWAY.md). Those allocation sites are suppressed so that
 * --config=asan judges the rest. (The multithread queue's socket once leaked
 * too: loop_main now runs the loop once more after h2o_context_dispose.)
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:h2o_mem_alloc_recycle\nleak:h2o_multithread_create_"
	       "queue\n";
}
