/*
 * Image references (src/runtime/imageref.h) against a table of what
 * Docker accepts and refuses ("invalid reference format"): the references
 * the orchestrator must refuse with 422 before any runtime call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/runtime/imageref.h"

static void
test_table(void **state)
{
	static const struct {
		const char *ref;
		bool ok;
	} cases[] = {
	    {"acestream-sim:latest", true},
	    {"acestream-sim", true},
	    {"ubuntu", true},
	    {"library/ubuntu:22.04", true},
	    {"ghcr.io/javinator9889/acexy:latest", true},
	    {"localhost:5000/a/b_c__d-e.f:v1.2-rc_3", true},
	    {"registry.example.com:443/x", true},
	    {"Registry.Example.com/x", true}, /* a domain may have capitals */
	    {"a---b", true},
	    {"img@sha256:"
	     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	     "f",
	        true},
	    {"img:tag@sha256:"
	     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	     "f",
	        true},
	    {"", false},
	    {"A", false},
	    {"Upper/case", false},
	    {"ubuntu:", false},
	    {":tag", false},
	    {"img:-tag", false},
	    {"img:.tag", false},
	    {"a b", false},
	    {"a\nb", false},
	    {"/img", false},
	    {"img/", false},
	    {"a//b", false},
	    {"a_-b", false},
	    {"a___b", false},
	    {"-a", false},
	    {"a.", false},
	    {"img@sha256:12", false},
	    {"img@:0123456789abcdef0123456789abcdef", false},
	    {"host:port/x", false},
	    {"-host.com/x", false},
	};
	char longname[300], longtag[200];

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = "unset";
		bool got = orch_rt_image_ref_valid(cases[i].ref, &why);

		if (got != cases[i].ok)
			fail_msg("\"%s\": got %s, want %s", cases[i].ref,
			    got ? "valid" : "invalid",
			    cases[i].ok ? "valid" : "invalid");
		if (got)
			assert_null(why);
		else
			assert_non_null(why);
	}
	assert_false(orch_rt_image_ref_valid(NULL, NULL));
	/* 255 characters of name at most; 128 of tag. */
	memset(longname, 'a', sizeof(longname));
	longname[255] = '\0';
	assert_true(orch_rt_image_ref_valid(longname, NULL));
	longname[256] = '\0';
	longname[255] = 'a';
	assert_false(orch_rt_image_ref_valid(longname, NULL));
	memset(longtag, 't', sizeof(longtag));
	memcpy(longtag, "i:", 2);
	longtag[130] = '\0';
	assert_true(orch_rt_image_ref_valid(longtag, NULL));
	longtag[131] = '\0';
	longtag[130] = 't';
	assert_false(orch_rt_image_ref_valid(longtag, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
