#include "src/cmd/healthcheck.h"

#include <stdio.h>
#include <string.h>

#include "src/core/config.h"
#include "src/probe/http_multi.h"

int
orch_cmd_healthcheck(void)
{
	extern char **environ;
	orch_config cfg = {0};
	orch_http_req req = ORCH_HTTP_REQ_INIT;
	orch_diag diag;
	const char *host;
	char url[320];
	int rv = 1;

	if (orch_config_load(&cfg, (const char *const *) environ, ".env",
	        &diag) != ORCH_OK) {
		printf("unhealthy: configuration: %s\n", diag.msg);
		return 1;
	}
	if (cfg.app_port == 0) {
		printf("unhealthy: APP_PORT=0 (any free port) cannot be "
		       "checked from outside\n");
		goto out;
	}
	/* A wildcard listens on loopback too; anything else is asked as
	 * given (an IPv6 literal in brackets). */
	host = cfg.app_host;
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	    host[0] == '\0')
		host = "127.0.0.1";
	snprintf(url, sizeof(url),
	    strchr(host, ':') != NULL ? "http://[%s]:%d/healthz"
	                              : "http://%s:%d/healthz",
	    host, cfg.app_port);
	req.url = url;
	req.timeout_ms = ORCH_HEALTHCHECK_TIMEOUT_MS;
	if (orch_http_run(&req, 1, 1, NULL, NULL) != ORCH_OK ||
	    req.err != ORCH_OK) {
		printf("unhealthy: %s: %s\n", url,
		    req.error[0] != '\0' ? req.error : "no answer");
	} else if (req.status != 200 || req.body.len == 0 ||
	           strstr((const char *) req.body.data, "\"status\":\"ok\"") ==
	               NULL) {
		printf("unhealthy: %s answered %ld\n", url, req.status);
	} else {
		printf("healthy: %s\n", url);
		rv = 0;
	}
out:
	orch_http_req_fini(&req);
	orch_config_fini(&cfg);
	return rv;
}
