/*
 * UTF-8 validation, shared by the parsers of outside text (JSON bodies,
 * query strings, path segments): strict RFC 3629, so no overlong forms,
 * no surrogates, nothing above U+10FFFF.
 */
#ifndef ORCH_BASE_UTF8_H
#define ORCH_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..n) is valid UTF-8 (NUL bytes are the caller's concern). */
bool orch_utf8_valid(const unsigned char *s, size_t n);

#endif
