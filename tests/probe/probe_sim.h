/*
 * Simulator processes for the probe tests, after tests/sim/simtest.c's
 * approach (whose library is private to tests/sim): `sim <mode>` runs as a
 * child on a kernel-chosen loopback port, which it reports through
 * SIM_PORT_FILE; every child gets PR_SET_PDEATHSIG, and psim_reap_all()
 * (each group's teardown) kills whatever a failed assertion left running.
 */
#ifndef PROBE_SIM_H
#define PROBE_SIM_H

#include <stdint.h>
#include <sys/types.h>

typedef struct psim {
	pid_t pid;
	int port; /* 0 until known */
	char port_file[512];
} psim;

/* Monotonic milliseconds. */
int64_t psim_now_ms(void);

/*
 * Starts `sim mode` with env (NULL-terminated "K=V" list, may be NULL)
 * plus SIM_LISTEN_ADDR=127.0.0.1 and a port-file port 0. Does not wait.
 * Returns 0 or -1.
 */
int psim_spawn(psim *p, const char *mode, const char *const *env);

/* Waits until p accepts TCP connections or deadline_ms (psim_now_ms
 * based) passes; 0 or -1. */
int psim_wait_ready(psim *p, int64_t deadline_ms);

/* Spawns and waits up to wait_ms. */
int psim_start(psim *p, const char *mode, const char *const *env, int wait_ms);

/* SIGTERM, then SIGKILL after 2 s; reaps. */
void psim_stop(psim *p);

/* SIGKILLs and reaps every child still running. */
void psim_reap_all(void);

/*
 * A loopback port bound but not listening, so a connect is refused at
 * once and nobody else can take it meanwhile. *fd holds it; close it when
 * done. Returns the port or -1.
 */
int psim_closed_port(int *fd);

#endif
