#include "src/base/version.h"

/* Bazel's $(COMPILATION_MODE), set by this target's copts. */
#ifndef ORCH_COMPILATION_MODE
#define ORCH_COMPILATION_MODE "unknown"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ORCH_SANITIZER "+asan"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ORCH_SANITIZER "+asan"
#endif
#endif
#ifndef ORCH_SANITIZER
#define ORCH_SANITIZER ""
#endif

const char *
orch_version(void)
{
	return ORCH_VERSION;
}

const char *
orch_build_mode(void)
{
	return ORCH_COMPILATION_MODE ORCH_SANITIZER;
}
