/*
 * The release version and the build mode, for --version, the RPC Ping,
 * /orchestrator/status and /healthz.
 *
 * Why two sources: the version comes from the VERSION file at the root
 * and changes with a release, so every library may include it; the git
 * revision changes with every commit, so it lives apart (src/cmd/stamp.h,
 * linked only into the binaries), and a commit relinks three binaries
 * instead of recompiling and retesting the tree.
 *
 * The version also versions the API (CHANGELOG.md): a minor release may
 * add fields, methods and endpoints; none is renamed or changes type
 * without a major one.
 */
#ifndef ORCH_BASE_VERSION_H
#define ORCH_BASE_VERSION_H

#include "src/base/version_gen.h" /* ORCH_VERSION, from VERSION */

/* "0.1.0": ORCH_VERSION. Static storage. */
const char *orch_version(void);

/* The compilation mode this library was built in: "opt", "fastbuild" or
 * "dbg", with "+asan" under AddressSanitizer. Static storage. */
const char *orch_build_mode(void);

#endif
