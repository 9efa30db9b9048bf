/*
 * The git revision the binaries were built from, generated at build time
 * from Bazel's stable workspace status (bazel/stamp.bzl,
 * tools/workspace-status). Linked only into the binaries: see
 * src/base/version.h for why.
 */
#ifndef ORCH_CMD_STAMP_H
#define ORCH_CMD_STAMP_H

/* "43b3a8fb1a12", with "-dirty" when the tree had uncommitted changes,
 * or "unknown". Static storage. */
const char *orch_stamp_revision(void);

#endif
