/*
 * The tests' shared helpers (see testlib.h).
 */
#include "tests/testlib/testlib.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void
tl_set_str(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? strdup(v) : NULL;
}

void
tl_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}
