/*
 * The tests' shared helpers (see testlib.h).
 */
#include "tests/testlib/testlib.h"

#include <stdlib.h>
#include <string.h>

void
tl_set_str(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? strdup(v) : NULL;
}
