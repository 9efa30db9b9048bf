/*
 * A plain main() for the Docker reply fuzz target (docker_reply_fuzz.c):
 * with gcc this is docker_reply_corpus_test, run on every `bazel test`;
 * it also replays a libFuzzer crash file without clang:
 *
 *   bazel-bin/tests/fuzz/docker_reply_corpus_test crash-<sha1>
 *
 * For every file named (or every file of a directory): the file, every
 * prefix of it (about 512 spread prefixes of files over 2 KiB, plus the
 * last 64), and for files up to 2 KiB every one-byte corruption and, when
 * it is JSON, every structural mutation: each value anywhere in the
 * document replaced by one of a set of wrong-typed values, and each object
 * member deleted (the type confusions a parser of Docker replies must
 * survive). Then built-in hostile inputs: deep nesting, huge numbers, bad
 * escapes and UTF-8, long strings.
 *
 * Options: --expect-corpus fails when no file was read; --no-builtin runs
 * the files only, unmutated.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long n_inputs, n_files;

static void
run(const void *data, size_t size)
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

static void
run_str(const char *s)
{
	run(s, strlen(s));
}

/* ------------------------------------------------------------------------ */
/* Structural mutations of a JSON document. */

static const char *const replacements[] = {
    "null",
    "true",
    "0",
    "-1",
    "65536",
    "1.5",
    "1e308",
    "9223372036854775807",
    "\"\"",
    "\"x\"",
    "\"/\"",
    "[]",
    "{}",
    "[null]",
    "[[]]",
    "{\"a\":1}",
    "{\"a\":null}",
    "[\"\"]",
};

static void
run_doc(json_t *root)
{
	char *s = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s != NULL) {
		run_str(s);
		free(s);
	}
}

static void
replace_all(json_t *root, json_t *node, const char *key, size_t i)
{
	for (size_t r = 0; r < sizeof(replacements) / sizeof(replacements[0]);
	     r++) {
		json_t *v = json_loads(replacements[r], JSON_DECODE_ANY, NULL);

		if (key != NULL)
			json_object_set_new(node, key, v);
		else
			json_array_set_new(node, i, v);
		run_doc(root);
	}
}

/* Replaces every value below node (in root's document) in turn. Keys are
 * copied first: deleting and re-adding one reorders the object. */
static void
mutate_tree(json_t *root, json_t *node)
{
	json_t *child, *keep;
	const char *key;
	char **keys;
	size_t i, n;

	if (json_is_object(node)) {
		n = json_object_size(node);
		if ((keys = calloc(n + 1, sizeof(*keys))) == NULL)
			exit(2);
		i = 0;
		json_object_foreach(node, key, child)
		{
			if ((keys[i++] = strdup(key)) == NULL)
				exit(2);
		}
		for (i = 0; i < n; i++) {
			keep = json_incref(json_object_get(node, keys[i]));
			replace_all(root, node, keys[i], 0);
			json_object_del(
			    node, keys[i]); /* the member missing */
			run_doc(root);
			json_object_set(node, keys[i], keep);
			mutate_tree(root, keep);
			json_decref(keep);
			free(keys[i]);
		}
		free(keys);
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, child)
		{
			keep = json_incref(child);
			replace_all(root, node, NULL, i);
			json_array_set(node, i, keep);
			mutate_tree(root, keep);
			json_decref(keep);
		}
	}
}

static void
mutate_json(const uint8_t *buf, size_t n)
{
	json_t *root =
	    json_loadb((const char *) buf, n, JSON_DECODE_ANY, NULL);

	if (root == NULL)
		return;
	for (size_t r = 0; r < sizeof(replacements) / sizeof(replacements[0]);
	     r++)
		run_str(replacements[r]); /* the whole document replaced */
	mutate_tree(root, root);
	json_decref(root);
}

/* ------------------------------------------------------------------------ */
/* Files. */

static int
run_file(const char *path, int mutate)
{
	static const uint8_t vals[] = {0x00, 0x22, 0x7b, 0x5d, 0xff};
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
	if (mutate) {
		/* Every proper prefix; for big files (quadratic work) about
		 * 512 of them spread out, and every one of the last 64. */
		long step = n > 2048 ? n / 512 : 1;

		for (long i = 0; i < n; i += (i >= n - 64 ? 1 : step))
			run(buf, (size_t) i);
		for (long i = 0; n <= 2048 && i < n; i++) {
			uint8_t keep = buf[i];

			for (size_t v = 0; v < sizeof(vals); v++) {
				buf[i] = vals[v];
				run(buf, (size_t) n);
			}
			buf[i] = keep;
		}
		if (n <= 2048)
			mutate_json(buf, (size_t) n);
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
	if ((d = opendir(path)) == NULL) {
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
/* Built-in hostile inputs. */

static void
run_nested(char open, char close, size_t depth, const char *inner)
{
	size_t n = strlen(inner), len = 2 * depth + n;
	char *s = malloc(len + 1);

	if (s == NULL)
		exit(2);
	memset(s, open, depth);
	memcpy(s + depth, inner, n);
	memset(s + depth + n, close, depth);
	s[len] = '\0';
	run(s, len);
	free(s);
}

static void
builtin(void)
{
	static const char *const docs[] = {
	    "",
	    " ",
	    "\n",
	    "\r\n",
	    "\xef\xbb\xbf{}",
	    "{",
	    "}",
	    "[",
	    "]",
	    "\"",
	    "\"\\",
	    "\"\\u",
	    "\"\\ud800\"",
	    "\"\\udc00\\ud800\"",
	    "{\"Id\":\"\\ud800\"}",
	    "{\"Id\":\"a\\u0000b\"}",
	    "{\"Id\":\"\xc3\x28\"}",
	    "{\"Id\":\"\xf8\x88\x80\x80\x80\"}",
	    "{\"Id\":\"x\"}{\"Id\":\"y\"}",
	    "{\"Id\":\"x\"}\n{\"Id\":\"y\"}",
	    "{\"Id\":\"x\",\"Id\":\"y\"}",
	    "{\"Id\":\"x\"}\x00",
	    "[{\"Id\":\"x\"},]",
	    "{\"Created\":1e400}",
	    "[{\"Id\":\"x\",\"Created\":9223372036854775807}]",
	    "[{\"Id\":\"x\",\"Created\":9223372036854775808}]",
	    "[{\"Id\":\"x\",\"Created\":-9223372036854775808}]",
	    "[{\"Id\":\"x\",\"Created\":253402300799}]",
	    "[{\"Id\":\"x\",\"Created\":253402300800}]",
	    "[{\"Id\":\"x\",\"Created\":-0}]",
	    "[{\"Id\":\"x\",\"Ports\":[{\"PrivatePort\":65535,\"PublicPort\":"
	    "65535,\"Type\":\"tcp\",\"IP\":\"::\"}]}]",
	    "[{\"Id\":\"x\",\"Ports\":[{\"PrivatePort\":1,\"Type\":\""
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}"
	    "]",
	    "{\"Action\":\"x\",\"time\":9000000000}",
	    "{\"Action\":\"x\",\"time\":9000000001}",
	    "{\"Action\":\"x\",\"timeNano\":9223372036854775807}",
	    "{\"Action\":\"x\",\"timeNano\":-1}",
	    "{\"Action\":\"x\",\"Actor\":{\"Attributes\":{\"name\":\"\"}}}",
	    "{\"status\":\"x\"}",
	    "{\"status\":null,\"Action\":null}",
	    "{\"error\":\"\"}",
	    "{\"errorDetail\":null,\"error\":null}",
	    "{\"message\":\"\\u0001\\u001f\\u007f\"}",
	    "0.0",
	    "1.41",
	    "01.041",
	    "1.4100",
	    "1..41",
	    ".41",
	    "1.41 x",
	    "\t1.41\t",
	    "1.41\r\n\r\n",
	    "12345.1",
	    "1.12345",
	};
	static const char *const inners[] = {
	    "", "1", "{\"Id\":\"x\"}", "\"x\""};
	static const size_t depths[] = {1, 2, 64, 2047, 2048, 2049, 100000};
	char *big;
	size_t n;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		run_str(docs[i]);
	run("{\"Id\":\"x\"}\0garbage", 18);
	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		for (size_t i = 0; i < sizeof(inners) / sizeof(inners[0]);
		     i++) {
			run_nested('[', ']', depths[d], inners[i]);
			run_nested(
			    '{', '}', depths[d], inners[i]); /* invalid */
		}
	}
	/* A 2 MiB string value, and 20,000 labels. */
	n = 2u << 20;
	big = malloc(n + 64);
	if (big == NULL)
		exit(2);
	strcpy(big, "{\"Id\":\"");
	memset(big + 7, 'a', n);
	strcpy(big + 7 + n, "\"}");
	run_str(big);
	free(big);
	big = malloc(20000 * 16 + 64);
	if (big == NULL)
		exit(2);
	n = (size_t) sprintf(big, "{\"Id\":\"x\",\"Config\":{\"Labels\":{");
	for (int i = 0; i < 20000; i++)
		n += (size_t) sprintf(
		    big + n, "%s\"k%d\":\"v\"", i ? "," : "", i);
	strcpy(big + n, "}}}");
	run_str(big);
	free(big);
}

int
main(int argc, char **argv)
{
	int expect_corpus = 0, mutate = 1, rv = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--expect-corpus") == 0)
			expect_corpus = 1;
		else if (strcmp(argv[i], "--no-builtin") == 0)
			mutate = 0;
	}
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-' && run_path(argv[i], mutate) != 0)
			rv = 1;
	}
	if (expect_corpus && n_files == 0) {
		fprintf(stderr, "no corpus file was read\n");
		rv = 1;
	}
	if (mutate)
		builtin();
	printf("%lu files, %lu inputs run%s\n", n_files, n_inputs,
	    rv == 0 ? "" : " (errors above)");
	return rv;
}
