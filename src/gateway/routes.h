/*
 * The REST surface as data: one row per endpoint of CONTRACT.md, saying
 * which RPC method serves it and where each request field comes from.
 * Adding an endpoint whose RPC exists is one row here.
 *
 *   method, pattern   "GET", "/engines/{container_id}": a {name} segment
 *                     matches one path segment, percent-decoded, and sets
 *                     the request field `name`;
 *   rpc               the Orchestrator method;
 *   body              the JSON body is the request message (unknown keys
 *                     ignored; an empty body is {});
 *   query             query keys copied into the same-named fields;
 *   text              the reply's `text` field is the body (text/plain),
 *                     not the reply as JSON;
 *   fixed             a body the gateway answers itself, 200, with no
 *                     call (rpc NULL): /healthz says the process serves.
 *   snap              pre-rendered (snap.h): with this exact query string
 *                     ("" = none), a 200 is rendered once per state
 *                     version and served from those bytes until the
 *                     state changes; NULL = every request calls.
 *
 * And the one table mapping RPC statuses to HTTP (CONTRACT.md).
 */
#ifndef ORCH_GATEWAY_ROUTES_H
#define ORCH_GATEWAY_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "src/base/err.h"

#define ORCH_ROUTE_MAX_QUERY 6
#define ORCH_ROUTE_MAX_PARAMS 2

typedef struct orch_route {
	const char *method;
	const char *pattern;
	const char *rpc;
	bool body;
	bool text;
	const char *query[ORCH_ROUTE_MAX_QUERY];
	const char *fixed;
	const char *snap;
} orch_route;

extern const orch_route orch_routes[];
extern const size_t orch_n_routes;

/* A matched path parameter, pointing into the request path (not decoded). */
typedef struct orch_route_param {
	const char *name; /* the field name (into the pattern) */
	size_t name_len;
	const char *value;
	size_t value_len;
} orch_route_param;

typedef enum orch_route_result {
	ORCH_ROUTE_FOUND = 0,
	ORCH_ROUTE_NO_PATH = 1, /* 404 */
	ORCH_ROUTE_NO_METHOD =
	    2, /* 405: the path exists with another method */
} orch_route_result;

/*
 * Finds the route for method + path (path without the query string).
 * On FOUND, *route is the row and params[0..*n_params) its parameters.
 */
orch_route_result orch_route_match(const char *method, size_t method_len,
    const char *path, size_t path_len, const orch_route **route,
    orch_route_param *params, size_t *n_params);

/* The HTTP status for an RPC status (CONTRACT.md "RPC status → HTTP"). */
int orch_http_status(orch_err status);

/* The reason phrase for an HTTP status we send. */
const char *orch_http_reason(int status);

#endif
