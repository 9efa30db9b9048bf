/*
 * libFuzzer target for image references (src/runtime/imageref.h): the
 * check every caller-supplied "image" goes through before Docker.
 *
 * Each input, NUL-terminated, is judged twice (the same answer), and:
 * - a refusal gives a reason, an acceptance none;
 * - an accepted reference has no byte below '!' and none above '~' (so
 *   nothing Docker's JSON or a log line would mangle), and is at most
 *   255 + 1 + 128 + 1 + a digest long;
 * - an accepted reference with neither tag nor digest stays accepted with
 *   ":latest" appended, and refused with ":" appended (an empty tag);
 * - a reference with a NUL inside is judged on its prefix only (C
 *   strings), which the first rule covers.
 *
 * The same file links into corpus_driver.c for imageref_corpus_test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/runtime/imageref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
has_tag_or_digest(const char *s)
{
	const char *slash = strrchr(s, '/');

	return strchr(s, '@') != NULL ||
	       strchr(slash != NULL ? slash : s, ':') != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 16);
	const char *why = NULL, *why2 = NULL;
	bool ok, ok2;
	size_t n;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	ok = orch_rt_image_ref_valid(s, &why);
	ok2 = orch_rt_image_ref_valid(s, &why2);
	if (ok != ok2 || (ok ? why != NULL : why == NULL))
		abort();
	if (ok) {
		n = strlen(s);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char) s[i] < '!' ||
			    (unsigned char) s[i] > '~')
				abort();
		if (!has_tag_or_digest(s) && n <= 255) {
			memcpy(s + n, ":latest", 8);
			if (!orch_rt_image_ref_valid(s, NULL))
				abort();
			memcpy(s + n, ":", 2);
			if (orch_rt_image_ref_valid(s, NULL))
				abort();
		}
	}
	free(s);
	return 0;
}
