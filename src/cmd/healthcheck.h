/*
 * `orchestratord healthcheck`: the image's HEALTHCHECK (exec form: FROM
 * scratch has no shell, no curl). The binary asks its own /healthz, at
 * the address its configuration says it listens on, and exits 0 when it
 * answers 200 {"status":"ok",...} within the deadline, 1 otherwise, with
 * one line saying why (Docker keeps it in State.Health.Log).
 */
#ifndef ORCH_CMD_HEALTHCHECK_H
#define ORCH_CMD_HEALTHCHECK_H

#define ORCH_HEALTHCHECK_TIMEOUT_MS 2000

/* Reads APP_HOST / APP_PORT as orchestratord does (the environment, then
 * ./.env) and asks http://<host>:<port>/healthz, 127.0.0.1 standing for a
 * wildcard APP_HOST. Returns the exit status. */
int orch_cmd_healthcheck(void);

#endif
