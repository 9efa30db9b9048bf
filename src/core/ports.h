/*
 * A pool of ports over one inclusive range [lo, hi] (CONTRACT.md "Ports").
 * The core keeps three of these: the host HTTP range (PORT_RANGE_HOST), the
 * HTTPS range (ACE_HTTPS_RANGE) and the VPN pool.
 *
 * A bitmap sized to the range records which ports are handed out; the used
 * count is kept alongside, so orch_ports_used() is O(1).
 *
 * Allocation is round-robin: the search starts just after the port handed
 * out last and wraps around, so a port that was just released is not reused
 * at once (a stopped container may still hold its binding for a moment).
 * The caller's probe (see orch_port_probe_fn) may refuse a port that looks
 * free in the pool but is bound on the host; such a port is skipped but
 * stays free in the pool, to be tried again by a later allocation.
 *
 * No sockets here: the probe that checks the host is supplied by the
 * runtime; the core does no OS networking.
 *
 * Not thread-safe: the caller serializes every call on one pool (the core's
 * state lock covers it). Distinct pools are independent.
 */
#ifndef ORCH_CORE_PORTS_H
#define ORCH_CORE_PORTS_H

#include <stdbool.h>
#include <stdint.h>

#include "src/base/err.h"

/* Lowest and highest port a range may hold. */
#define ORCH_PORTS_MIN 1
#define ORCH_PORTS_MAX 65535

/*
 * Whether `port` is usable right now (not bound on the host, not published
 * by another container). Return false to skip it; it remains free in the
 * pool. `arg` is passed through from orch_ports_alloc().
 */
typedef bool (*orch_port_probe_fn)(void *arg, int port);

/* The fields are private; the struct is public only so it can be embedded. */
typedef struct orch_ports {
	int lo;         /* first port of the range */
	int cap;        /* number of ports, hi - lo + 1 */
	int used;       /* ports marked used */
	int next;       /* index (port - lo) where the next search starts */
	uint64_t *bits; /* bit i set = port lo + i used; NULL when finalized */
} orch_ports;

/*
 * Initialize an empty pool for [lo, hi]. ORCH_EINVAL unless
 * ORCH_PORTS_MIN <= lo <= hi <= ORCH_PORTS_MAX; ORCH_ENOMEM. On failure *p
 * holds no memory and orch_ports_fini() on it is a no-op.
 */
orch_err orch_ports_init(orch_ports *p, int lo, int hi);

/* Free the pool's memory. Safe on a zeroed or already finalized pool. */
void orch_ports_fini(orch_ports *p);

/*
 * Hand out the next free port for which probe(arg, port) returns true
 * (probe NULL = every free port is usable), searching round-robin from just
 * after the last port handed out. On success marks it used and stores it in
 * *out. ORCH_EEXHAUSTED when no free port is usable (*out untouched);
 * ORCH_EINVAL if out is NULL.
 */
orch_err orch_ports_alloc(
    orch_ports *p, orch_port_probe_fn probe, void *arg, int *out);

/*
 * Mark a specific port used (adopting a running container's port from its
 * labels). ORCH_ERANGE outside the range, ORCH_EEXIST if already used. Does
 * not move the round-robin position.
 */
orch_err orch_ports_reserve(orch_ports *p, int port);

/*
 * Return a port to the pool. ORCH_ERANGE outside the range, ORCH_ENOTFOUND
 * if it was not used (a double release is reported, not ignored).
 */
orch_err orch_ports_release(orch_ports *p, int port);

/* Whether port is used; false outside the range. */
bool orch_ports_in_use(const orch_ports *p, int port);

/* Ports currently used (O(1)). */
int orch_ports_used(const orch_ports *p);

/* Ports in the range, hi - lo + 1. */
int orch_ports_capacity(const orch_ports *p);

#endif
