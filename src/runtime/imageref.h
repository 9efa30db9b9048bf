/*
 * Image references as Docker accepts them ("name[:tag][@digest]"), judged
 * before anything is sent: a reference Docker would refuse with "invalid
 * reference format" is the caller's mistake (422 naming the field), not a
 * failed container, so it must never reach the runtime or count against
 * a circuit breaker.
 *
 * The grammar is distribution/reference's: an optional domain (a first
 * component with '.' or ':' or "localhost", followed by '/'), then path
 * components of lowercase letters and digits joined by '.', '_', "__" or
 * runs of '-', an optional tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) and an
 * optional digest (algorithm ':' at least 32 hex digits). At most 255
 * characters for the name, as Docker limits it.
 */
#ifndef ORCH_RUNTIME_IMAGEREF_H
#define ORCH_RUNTIME_IMAGEREF_H

#include <stdbool.h>
#include <stddef.h>

/* Whether ref is a valid reference. When not, why (may be NULL) gets a
 * short reason ("uppercase letters in the repository name", ...). */
bool orch_rt_image_ref_valid(const char *ref, const char **why);

#endif
