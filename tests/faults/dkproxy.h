/*
 * A unix-socket relay in front of Docker's socket, for the fault suite's
 * "Docker unreachable and back" case: the daemon under test is given
 * DOCKER_HOST=unix://<path>; dkproxy_down() makes Docker vanish for it
 * (the socket stops accepting, every relayed connection, the events
 * stream included, is cut) and dkproxy_up() brings it back on the same
 * path. Only the daemon under test goes through it; the shared Docker
 * daemon is never touched.
 *
 * One relay per process (its state is static, so detached connection
 * threads never outlive it). Relayed bytes are not looked at.
 */
#ifndef ORCH_TESTS_FAULTS_DKPROXY_H
#define ORCH_TESTS_FAULTS_DKPROXY_H

#include <stdbool.h>

/* Listens on path, relaying to the unix socket target. */
bool dkproxy_start(const char *path, const char *target);
/* Stops accepting and cuts every relayed connection; returns once the
 * socket is gone. */
void dkproxy_down(void);
/* Listens again; returns once it accepts. */
void dkproxy_up(void);
/* Down, and the accept thread joined. */
void dkproxy_stop(void);

#endif
