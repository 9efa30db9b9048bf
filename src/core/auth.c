#include "src/core/auth.h"

#include <stddef.h>
#include <string.h>

int
orch_auth_equal(const char *a, const char *b)
{
	size_t la, lb, n;
	unsigned diff;

	if (a == NULL || b == NULL)
		return 0;
	la = strlen(a);
	lb = strlen(b);
	n = la > lb ? la : lb;
	diff = (unsigned) (la ^ lb);
	/* Walk the longer length whatever happens; past a string's end
	 * compare against 0 so the loop's work does not depend on content. */
	for (size_t i = 0; i < n; i++) {
		unsigned ca = i < la ? (unsigned char) a[i] : 0;
		unsigned cb = i < lb ? (unsigned char) b[i] : 0;

		diff |= ca ^ cb;
	}
	return diff == 0;
}

static orch_err
refuse(orch_err code, orch_diag *why)
{
	orch_diag_set(why, "%s",
	    code == ORCH_EUNAUTH ? "missing bearer token" : "invalid token");
	return code;
}

orch_err
orch_auth_check(orch_auth_class cls, const char *authorization,
    const char *api_key, const char *read_api_key, orch_diag *why)
{
	static const char bearer[] = "Bearer ";
	const char *token;

	orch_diag_clear(why);
	if (cls == ORCH_AUTH_OPEN)
		return ORCH_OK;
	if (cls == ORCH_AUTH_MUTATE && api_key == NULL)
		return ORCH_OK;
	if (cls == ORCH_AUTH_READ && read_api_key == NULL)
		return ORCH_OK;
	if (authorization == NULL ||
	    strncmp(authorization, bearer, sizeof(bearer) - 1) != 0)
		return refuse(ORCH_EUNAUTH, why);
	token = authorization + sizeof(bearer) - 1;
	if (cls == ORCH_AUTH_READ) {
		/* Both compares run, so timing does not tell which key. */
		int r = orch_auth_equal(token, read_api_key);
		int w = orch_auth_equal(token, api_key);

		return r | w ? ORCH_OK : refuse(ORCH_EPERM, why);
	}
	return orch_auth_equal(token, api_key) ? ORCH_OK
	                                       : refuse(ORCH_EPERM, why);
}
