/*
 * Who may call what (CONTRACT.md "Authentication"). The gateway forwards the
 * Authorization header verbatim in the RPC envelope and the core judges it
 * here, so REST and RPC clients meet the same rule.
 *
 * - OPEN methods (Ping, i.e. /healthz) never need a key.
 * - MUTATE methods need `Bearer <API_KEY>` when API_KEY is set.
 * - READ methods need `Bearer <READ_API_KEY>` or `Bearer <API_KEY>` when
 *   READ_API_KEY is set, and nothing otherwise.
 *
 * Keys are compared in constant time (no early exit on the first differing
 * byte, lengths folded in), so response timing does not leak a key prefix.
 */
#ifndef ORCH_CORE_AUTH_H
#define ORCH_CORE_AUTH_H

#include "src/base/diag.h"
#include "src/base/err.h"

typedef enum orch_auth_class {
	ORCH_AUTH_OPEN = 0,
	ORCH_AUTH_READ = 1,
	ORCH_AUTH_MUTATE = 2,
} orch_auth_class;

/*
 * Judges `authorization` (the header value, NULL when absent) for a method
 * of class cls, given the configured keys (NULL = unset). Returns ORCH_OK
 * (why cleared), ORCH_EUNAUTH (missing or not a Bearer token; why's
 * message "missing bearer token") or ORCH_EPERM (wrong key; "invalid
 * token"). why may be NULL.
 */
orch_err orch_auth_check(orch_auth_class cls, const char *authorization,
    const char *api_key, const char *read_api_key, orch_diag *why);

/* Constant-time equality of two NUL-terminated strings (NULL never equal). */
int orch_auth_equal(const char *a, const char *b);

#endif
