/*
 * Which container this process runs in, if any, and how that container is
 * networked, as the runtime reports it.
 *
 * Why: run in a container (the compose deployment, issue 13), the
 * orchestrator's probes to 127.0.0.1:<published port> reach the
 * container itself, not the host, and every engine would go unhealthy.
 * The engine layer (src/engines/reach.h) decides where to probe from
 * what is found here; this module only finds it.
 *
 * How: Docker bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf
 * from its per-container directory (.../containers/<64 hex id>/...;
 * Podman from .../overlay-containers/<id>/userdata/...), so
 * /proc/self/mountinfo names the container's id on cgroup v1 and v2
 * alike, in host network mode too. /.dockerenv (Docker) and
 * /run/.containerenv (Podman) say "in a container" even when no id shows;
 * then the hostname, which Docker sets to the id's first 12 characters,
 * is tried. The id is then inspected through the runtime for its network
 * mode and networks.
 */
#ifndef ORCH_RUNTIME_SELF_H
#define ORCH_RUNTIME_SELF_H

#include <stdbool.h>
#include <stddef.h>

#include "src/runtime/runtime.h"

#define ORCH_RT_SELF_ID_MAX 64

typedef struct orch_rt_self {
	bool in_container; /* a marker file, or an id in mountinfo */
	/* the container's id (64 hex, or the hostname tried), "" unknown */
	char id[ORCH_RT_SELF_ID_MAX + 1];
	bool inspected;      /* the runtime answered for id: c is set */
	orch_rt_container c; /* its inspect (name, network_mode, networks) */
	char why[320];       /* in_container && !inspected: why not */
} orch_rt_self;

/* Where detection looks; NULL fields take the defaults below (tests
 * point them at files of their own). */
typedef struct orch_rt_self_paths {
	const char *mountinfo;  /* "/proc/self/mountinfo" */
	const char *markers[2]; /* "/.dockerenv", "/run/.containerenv" */
	const char *hostname;   /* NULL: gethostname() */
} orch_rt_self_paths;

/*
 * Finds a container id in mountinfo text (len bytes, need not be
 * NUL-terminated): on a line whose mount point is /etc/hostname,
 * /etc/hosts or /etc/resolv.conf, the last path segment of its root that
 * is exactly 64 hex digits. Returns true and writes the id (lower case,
 * NUL-terminated) to id; false leaves id "".
 */
bool orch_rt_self_parse_mountinfo(
    const char *buf, size_t len, char id[ORCH_RT_SELF_ID_MAX + 1]);

/*
 * Fills *out (previous contents ignored): whether this process runs in a
 * container and, when it does and rt is not NULL, that container's
 * inspect. Never fails: what could not be learnt is said in out->why.
 * Release with orch_rt_self_fini(). rt is borrowed for the call; it makes
 * at most two inspect calls.
 */
void orch_rt_self_detect(const orch_runtime *rt,
    const orch_rt_self_paths *paths, orch_rt_self *out);

/* Frees what s holds and zeroes it. NULL no-op. */
void orch_rt_self_fini(orch_rt_self *s);

#endif
