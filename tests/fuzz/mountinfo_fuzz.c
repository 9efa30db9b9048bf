/*
 * libFuzzer target for the container-id finder of src/runtime/self.h,
 * which reads /proc/self/mountinfo: text the kernel writes, but from
 * mounts anyone in the container's set-up may have named.
 *
 * Input: the mountinfo text, as is (not NUL-terminated).
 *
 * Invariants (abort when broken): nothing read past the input (ASan, the
 * input is copied to a buffer of exactly its size); the id buffer always
 * NUL-terminated within its 65 bytes; a found id is 64 lower-case hex
 * digits that occur in the input (in any case) on a line whose mount
 * point is /etc/hostname, /etc/hosts or /etc/resolv.conf; not found
 * leaves "".
 *
 * The same file links into corpus_driver.c for mountinfo_corpus_test.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/runtime/self.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

/* Whether the id occurs, case-insensitively, on a line that names one
 * of the three mount points. */
static bool
on_a_mount_line(const char *buf, size_t len, const char *id)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		size_t n;
		bool has_id = false, has_mnt = false;

		if (eol == NULL)
			eol = end;
		n = (size_t) (eol - p);
		for (size_t i = 0; i + 64 <= n && !has_id; i++)
			has_id = strncasecmp(p + i, id, 64) == 0;
		for (size_t i = 0; i + 10 <= n && !has_mnt; i++)
			has_mnt =
			    memcmp(p + i, " /etc/host", 10) == 0 ||
			    (i + 17 <= n &&
			        memcmp(p + i, " /etc/resolv.conf", 17) == 0);
		if (has_id && has_mnt)
			return true;
		p = eol + 1;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	char id[ORCH_RT_SELF_ID_MAX + 1];
	bool found;

	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	memset(id, 'x', sizeof(id));
	found = orch_rt_self_parse_mountinfo(buf, size, id);
	FUZZ_CHECK(memchr(id, '\0', sizeof(id)) != NULL);
	if (found) {
		FUZZ_CHECK(strlen(id) == ORCH_RT_SELF_ID_MAX);
		for (size_t i = 0; i < ORCH_RT_SELF_ID_MAX; i++)
			FUZZ_CHECK(isxdigit((unsigned char) id[i]) &&
			           !isupper((unsigned char) id[i]));
		FUZZ_CHECK(on_a_mount_line(buf, size, id));
	} else {
		FUZZ_CHECK(id[0] == '\0');
	}
	free(buf);
	return 0;
}
