/*
 * Helpers small enough for any test package to share, with no fixture
 * and no assertion behind them: the cases' own fixtures (tests/core/fx.h,
 * tests/engines/fx.h, tests/store/storetest.h) build on these.
 */
#ifndef ORCH_TESTS_TESTLIB_TESTLIB_H
#define ORCH_TESTS_TESTLIB_TESTLIB_H

/* Replaces a configuration string: frees *field and stores a malloc'd
 * copy of v (NULL: none), which the configuration's fini frees. */
void tl_set_str(char **field, const char *v);

#endif
