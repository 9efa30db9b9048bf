#include "src/gateway/routes.h"

#include <string.h>

#include "src/base/version.h"

/* While the process serves; CONTRACT.md: always open. The version lets a
 * deployment check what answers without a key (CHANGELOG.md). */
#define HEALTHZ "{\"status\":\"ok\",\"version\":\"" ORCH_VERSION "\"}"

const orch_route orch_routes[] = {
    {"GET", "/engines", "ListEngines", false, false, {NULL}, NULL, ""},
    {"GET", "/engines/{container_id}", "GetEngine", false, false, {NULL}, NULL,
        NULL},
    {"POST", "/engines/select", "SelectEngine", true, false, {NULL}, NULL,
        NULL},
    {"GET", "/streams", "ListStreams", false, false,
        {"container_id", "status", "limit", "before", NULL}, NULL,
        "status=started"},
    {"GET", "/streams/{stream_id}/stats", "GetStreamStats", false, false,
        {"since", NULL}, NULL, NULL},
    {"POST", "/provision/acestream", "ProvisionEngine", true, false, {NULL},
        NULL, NULL},
    {"POST", "/provision", "ProvisionContainer", true, false, {NULL}, NULL,
        NULL},
    {"POST", "/scale/{n}", "Scale", false, false, {NULL}, NULL, NULL},
    {"POST", "/gc", "CollectGarbage", false, false, {NULL}, NULL, NULL},
    {"DELETE", "/containers/{id}", "DeleteContainer", false, false, {NULL},
        NULL, NULL},
    {"GET", "/containers/{id}", "InspectContainer", false, false, {NULL}, NULL,
        NULL},
    {"GET", "/by-label", "FindByLabel", false, false, {"key", "value", NULL},
        NULL, NULL},
    {"POST", "/events/stream_started", "StreamStarted", true, false, {NULL},
        NULL, NULL},
    {"POST", "/events/stream_ended", "StreamEnded", true, false, {NULL}, NULL,
        NULL},
    {"GET", "/events/log", "GetEventLog", false, false,
        {"since", "limit", "type", NULL}, NULL, NULL},
    {"GET", "/orchestrator/status", "GetStatus", false, false, {NULL}, NULL,
        ""},
    {"GET", "/vpn/status", "GetVpnStatus", false, false, {NULL}, NULL, ""},
    {"GET", "/health/status", "GetHealth", false, false, {NULL}, NULL, ""},
    {"POST", "/health/circuit-breaker/reset", "ResetCircuitBreaker", false,
        false, {"operation_type", NULL}, NULL, NULL},
    {"GET", "/metrics", "GetMetrics", false, true, {NULL}, NULL, NULL},
    {"GET", "/healthz", NULL, false, false, {NULL}, HEALTHZ, NULL},
    {"HEAD", "/healthz", NULL, false, false, {NULL}, HEALTHZ, NULL},
};

const size_t orch_n_routes = sizeof(orch_routes) / sizeof(orch_routes[0]);

/* Matches one pattern against a path; fills params. */
static bool
match(const char *pat, const char *path, size_t len, orch_route_param *params,
    size_t *n)
{
	const char *p = path, *end = path + len;

	*n = 0;
	while (*pat != '\0') {
		if (*pat == '{') {
			const char *close = strchr(pat, '}');
			const char *seg_end = p;

			while (seg_end < end && *seg_end != '/')
				seg_end++;
			if (seg_end == p || *n >= ORCH_ROUTE_MAX_PARAMS)
				return false;
			params[*n].name = pat + 1;
			params[*n].name_len = (size_t) (close - pat - 1);
			params[*n].value = p;
			params[*n].value_len = (size_t) (seg_end - p);
			(*n)++;
			pat = close + 1;
			p = seg_end;
		} else {
			if (p >= end || *p != *pat)
				return false;
			pat++;
			p++;
		}
	}
	/* One trailing slash is tolerated ("/engines/"). */
	return p == end || (p + 1 == end && *p == '/');
}

orch_route_result
orch_route_match(const char *method, size_t method_len, const char *path,
    size_t path_len, const orch_route **route, orch_route_param *params,
    size_t *n_params)
{
	orch_route_result rv = ORCH_ROUTE_NO_PATH;

	*route = NULL;
	for (size_t i = 0; i < orch_n_routes; i++) {
		const orch_route *r = &orch_routes[i];

		if (!match(r->pattern, path, path_len, params, n_params))
			continue;
		if (strlen(r->method) == method_len &&
		    memcmp(r->method, method, method_len) == 0) {
			*route = r;
			return ORCH_ROUTE_FOUND;
		}
		rv = ORCH_ROUTE_NO_METHOD;
	}
	*n_params = 0;
	return rv;
}

int
orch_http_status(orch_err status)
{
	switch (status) {
	case ORCH_OK:
		return 200;
	case ORCH_EINVAL:
		return 422;
	case ORCH_EUNAUTH:
		return 401;
	case ORCH_EPERM:
		return 403;
	case ORCH_ENOTFOUND:
		return 404;
	case ORCH_EEXIST:
		return 409;
	case ORCH_EEXHAUSTED:
	case ORCH_EPRECOND:
	case ORCH_EUNAVAIL:
	case ORCH_ECLOSED:
		return 503;
	case ORCH_ENOTSUP:
		return 501;
	case ORCH_ETIMEDOUT:
		return 504;
	default:
		return 500;
	}
}

const char *
orch_http_reason(int status)
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
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Entity";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Internal Server Error";
	}
}
