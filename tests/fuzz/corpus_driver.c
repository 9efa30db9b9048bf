/*
 * A plain main() for the envelope fuzz target: runs files (or every file of
 * directories) named on the command line, then a built-in set of hostile
 * frames, through LLVMFuzzerTestOneInput. With gcc this is the CI
 * regression test of the target (envelope_corpus_test); it also replays a
 * libFuzzer crash file without clang:
 *
 *   bazel-bin/tests/fuzz/envelope_corpus_test crash-<sha1>
 *
 * Options: --expect-corpus fails when no file was read (so the test cannot
 * pass vacuously when the corpus glob comes up empty); --no-builtin skips
 * the built-in inputs. A crash or a broken invariant aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/orchestrator.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long n_inputs;

static void
run(const uint8_t *data, size_t size)
{
	/* A private copy, sized exactly, so ASan sees any overread. */
	uint8_t *copy = malloc(size > 0 ? size : 1);

	if (copy == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	if (size > 0)
		memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
	n_inputs++;
}

/* ------------------------------------------------------------------------ */
/* Files. */

static unsigned long n_files;

/* Runs one file, and every prefix of it, and every one-byte corruption. */
static int
run_file(const char *path, int mutate)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	int rv = -1;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "%s: cannot size\n", path);
		goto out;
	}
	buf = malloc(n > 0 ? (size_t) n : 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
		fprintf(stderr, "%s: cannot read\n", path);
		goto out;
	}
	run(buf, (size_t) n);
	n_files++;
	/* Mutations only for small files: the seeds are tens of bytes. */
	if (mutate && n <= 4096) {
		static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

		for (long i = 0; i < n; i++)
			run(buf, (size_t) i); /* every proper prefix */
		for (long i = 0; i < n; i++) {
			uint8_t keep = buf[i];

			for (size_t v = 0; v < sizeof(vals); v++) {
				buf[i] = vals[v];
				run(buf, (size_t) n);
			}
			buf[i] = keep;
		}
	}
	rv = 0;
out:
	free(buf);
	fclose(f);
	return rv;
}

static int
run_path(const char *path, int mutate)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char sub[4096];
	int rv = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, mutate);
	d = opendir(path);
	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode) &&
		    run_file(sub, mutate) != 0)
			rv = -1;
	}
	closedir(d);
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Built-in hostile frames, built with a tiny wire-format writer. */

struct wbuf {
	uint8_t b[8192];
	size_t n;
};

static void
w_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (n > sizeof(w->b) - w->n)
		n = sizeof(w->b) - w->n; /* never happens with these inputs */
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
w_byte(struct wbuf *w, uint8_t c)
{
	w_bytes(w, &c, 1);
}

static void
w_varint(struct wbuf *w, uint64_t v)
{
	while (v >= 0x80) {
		w_byte(w, (uint8_t) (v | 0x80));
		v >>= 7;
	}
	w_byte(w, (uint8_t) v);
}

static void
w_tag(struct wbuf *w, uint32_t field, unsigned wt)
{
	w_varint(w, ((uint64_t) field << 3) | wt);
}

/* A length-delimited field holding inner. */
static void
w_ld(struct wbuf *w, uint32_t field, const void *inner, size_t n)
{
	w_tag(w, field, 2);
	w_varint(w, n);
	w_bytes(w, inner, n);
}

static void
w_str(struct wbuf *w, uint32_t field, const char *s)
{
	w_ld(w, field, s, strlen(s));
}

static void
runw(const struct wbuf *w)
{
	run(w->b, w->n);
}

/* A request envelope head: method (field 1) and request_id (field 2). */
static void
w_req_head(struct wbuf *w, const char *method, uint64_t id)
{
	w->n = 0;
	w_str(w, 1, method);
	w_tag(w, 2, 0);
	w_varint(w, id);
}

static void
builtin_small(void)
{
	uint8_t two[2];

	run((const uint8_t *) "", 0);
	/* Every input of one and two bytes. */
	for (unsigned a = 0; a < 256; a++) {
		two[0] = (uint8_t) a;
		run(two, 1);
		for (unsigned b = 0; b < 256; b++) {
			two[1] = (uint8_t) b;
			run(two, 2);
		}
	}
}

static void
builtin_varints(void)
{
	struct wbuf w;

	/* Truncated and overlong varints, in a value and in a tag. */
	for (size_t k = 0; k <= 12; k++) {
		w.n = 0;
		w_str(&w, 1, "Ping");
		w_byte(&w, 0x10); /* request_id, varint */
		for (size_t i = 0; i < k; i++)
			w_byte(&w, 0xff);
		runw(&w);
		w_byte(&w, 0x01); /* now terminated (too long when k > 9) */
		runw(&w);
		w.n = 0;
		for (size_t i = 0; i < k; i++)
			w_byte(&w, 0x80);
		runw(&w);
		w_byte(&w, 0x00);
		runw(&w);
	}
	/* Field number 0, the largest field number, and one past it. */
	for (unsigned wt = 0; wt < 8; wt++) {
		uint32_t fields[] = {0, 6, 15, 16, 2047, (1u << 29) - 1};

		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]);
		     i++) {
			w_req_head(&w, "Ping", 1);
			w_tag(&w, fields[i], wt);
			w_varint(&w, 3);
			w_bytes(&w, "abc", 3);
			runw(&w);
		}
		w_req_head(&w, "Ping", 1);
		w_varint(&w, (((uint64_t) 1 << 32) << 3) | wt);
		w_byte(&w, 0);
		runw(&w);
		/* Field number 0 as an overlong varint (0x80 0x00): protobuf-c
		 * keeps it as an unknown field (see envelope_fuzz.c). */
		w_req_head(&w, "Ping", 1);
		w_byte(&w, (uint8_t) (0x80 | wt));
		w_byte(&w, 0x00);
		w_bytes(&w, "\x01\x01\x01\x01\x01\x01\x01\x01", 8);
		runw(&w);
	}
	/* The same inside a payload, two levels down (GetStreamStats.since,
	 * a Timestamp). */
	{
		struct wbuf ts, req;

		ts.n = 0;
		w_tag(&ts, 1, 0);
		w_varint(&ts, 42);
		w_byte(&ts, 0x80);
		w_byte(&ts, 0x00);
		w_byte(&ts, 0x05);
		req.n = 0;
		w_ld(&req, 2, ts.b, ts.n);
		w_req_head(&w, "GetStreamStats", 3);
		w_ld(&w, 5, req.b, req.n);
		runw(&w);
	}
}

static void
builtin_lengths(void)
{
	static const uint64_t lens[] = {
	    1,
	    2,
	    64,
	    65,
	    0x7fffffffu,
	    0x80000000u,
	    0xffffffffu,
	    0x100000000ull,
	    0x100000001ull,
	    (uint64_t) 1 << 62,
	    (uint64_t) 1 << 63,
	    UINT64_MAX,
	    UINT64_MAX - 1,
	};
	struct wbuf w;

	/* Every length-delimited field of both envelopes, claiming more bytes
	 * than there are (or exactly as many), in every position. */
	for (uint32_t field = 1; field <= 5; field++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			w_req_head(&w, "GetEngine", 7);
			w_tag(&w, field, 2);
			w_varint(&w, lens[i]);
			w_bytes(&w, "xyz", 3);
			runw(&w);
			w.n = 0;
			w_tag(&w, field, 2);
			w_varint(&w, lens[i]);
			runw(&w);
		}
	}
	/* A 10-byte varint length with bits beyond 64. */
	w_req_head(&w, "GetEngine", 7);
	w_tag(&w, 5, 2);
	for (int i = 0; i < 9; i++)
		w_byte(&w, 0xff);
	w_byte(&w, 0x7f);
	w_bytes(&w, "xyz", 3);
	runw(&w);
}

static void
builtin_method_names(void)
{
	static const char *names[] = {
	    "",
	    " ",
	    "Ping ",
	    "Pi ng",
	    "Ping\x7f",
	    "Ping\x80",
	    "\xc3\xa9t\xc3\xa9",
	    "ping",
	    "PING",
	    "Pin",
	    "Pingg",
	    "ZZZZ",
	    "A",
	    "GetMetrics",
	    "SelectEngine",
	    "Scale",
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4",
	};
	static const char nul[] = {'P', 'i', 'n', 'g', '\0', 'x'};
	struct wbuf w;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		w_req_head(&w, names[i], 9);
		runw(&w);
		w_ld(&w, 5, "", 0);
		runw(&w);
	}
	/* An embedded NUL, and the method field twice. */
	w.n = 0;
	w_ld(&w, 1, nul, sizeof(nul));
	w_tag(&w, 2, 0);
	w_varint(&w, 1);
	runw(&w);
	w_req_head(&w, "Ping", 1);
	w_str(&w, 1, "GetEngine");
	w_str(&w, 1, "Scale");
	runw(&w);
	/* No request_id (required), no method (required). */
	w.n = 0;
	w_str(&w, 1, "Ping");
	runw(&w);
	w.n = 0;
	w_tag(&w, 2, 0);
	w_varint(&w, 1);
	runw(&w);
}

/*
 * Garbage nested depth deep: each level is a length-delimited field (the
 * field number cycling through 1..6) around the level below, junk at the
 * bottom.
 */
static size_t
nested(uint8_t *out, size_t cap, int depth, uint8_t junk)
{
	struct wbuf a, b;
	struct wbuf *in = &a, *up = &b, *t;

	a.n = 0;
	for (int i = 0; i < 5; i++)
		w_byte(&a, (uint8_t) (junk + i * 37));
	for (int d = 0; d < depth; d++) {
		up->n = 0;
		w_ld(up, (uint32_t) (d % 6) + 1, in->b, in->n);
		t = in;
		in = up;
		up = t;
	}
	if (in->n > cap)
		in->n = cap;
	memcpy(out, in->b, in->n);
	return in->n;
}

static void
builtin_nested(void)
{
	static const int depths[] = {1, 2, 3, 8, 64, 500};
	const ProtobufCServiceDescriptor *svc =
	    &orch__orchestrator__descriptor;
	uint8_t inner[4096];
	struct wbuf w;
	size_t n;

	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		for (unsigned junk = 0; junk < 256; junk += 51) {
			n = nested(
			    inner, sizeof(inner), depths[d], (uint8_t) junk);
			/* As the payload of every method's request... */
			for (unsigned m = 0; m < svc->n_methods; m++) {
				w_req_head(&w, svc->methods[m].name, m);
				w_ld(&w, 5, inner, n);
				runw(&w);
			}
			/* ...as a reply's payload and error detail... */
			for (unsigned m = 0; m < svc->n_methods; m++) {
				w.n = 0;
				w_tag(&w, 1, 0);
				w_varint(&w, m);
				w_tag(&w, 2, 0);
				w_varint(&w, 0);
				w_ld(&w, 5, inner, n);
				runw(&w);
			}
			w.n = 0;
			w_tag(&w, 1, 0);
			w_varint(&w, 1);
			w_tag(&w, 2, 0);
			w_varint(&w, 9);
			w_ld(&w, 4, inner, n);
			runw(&w);
			/* ...and bare. */
			run(inner, n);
		}
	}
}

static void
builtin_replies(void)
{
	static const uint64_t statuses[] = {
	    0, 3, 16, 17, 99, 0x7fffffff, 0xffffffffu, UINT64_MAX};
	struct wbuf w, det, ref;

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		w.n = 0;
		w_tag(&w, 1, 0);
		w_varint(&w, 5);
		w_tag(&w, 2, 0);
		w_varint(&w, statuses[i]);
		w_str(&w, 3, "message");
		runw(&w);
	}
	/* A detail whose refusal lacks required fields, then has them, then
	 * twice (merged). */
	ref.n = 0;
	w_str(&ref, 1, "provisioning_blocked");
	det.n = 0;
	w_ld(&det, 2, ref.b, ref.n);
	w.n = 0;
	w_tag(&w, 1, 0);
	w_varint(&w, 5);
	w_tag(&w, 2, 0);
	w_varint(&w, 14);
	w_ld(&w, 4, det.b, det.n);
	runw(&w);
	w_str(&ref, 2, "max_capacity");
	w_str(&ref, 3, "full");
	w_tag(&ref, 5, 0);
	w_varint(&ref, 1);
	w_tag(&ref, 6, 0);
	w_varint(&ref, 0);
	det.n = 0;
	w_str(&det, 1, "field");
	w_ld(&det, 2, ref.b, ref.n);
	w.n = 0;
	w_tag(&w, 1, 0);
	w_varint(&w, 5);
	w_tag(&w, 2, 0);
	w_varint(&w, 14);
	w_ld(&w, 4, det.b, det.n);
	runw(&w);
	w_ld(&w, 4, det.b, det.n);
	w_str(&w, 3, "a");
	w_str(&w, 3, "b");
	runw(&w);
}

int
main(int argc, char **argv)
{
	int expect_corpus = 0, builtin = 1, rv = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--expect-corpus") == 0)
			expect_corpus = 1;
		else if (strcmp(argv[i], "--no-builtin") == 0)
			builtin = 0;
		else if (run_path(argv[i], builtin) != 0)
			rv = 1;
	}
	if (expect_corpus && n_files == 0) {
		fprintf(stderr, "no corpus file was read\n");
		rv = 1;
	}
	if (builtin) {
		builtin_small();
		builtin_varints();
		builtin_lengths();
		builtin_method_names();
		builtin_nested();
		builtin_replies();
	}
	printf("%lu files, %lu inputs run%s\n", n_files, n_inputs,
	    rv == 0 ? "" : " (errors above)");
	return rv;
}
