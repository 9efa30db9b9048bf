/*
 * libFuzzer target for the JSON request parser (src/json/pbparse.h): a
 * REST body as the gateway hands it over.
 *
 * Input layout:
 *   byte 0    the message type: bits 0..6 pick a method of the service
 *             (% n_methods); bit 7 clear = its request type (what the
 *             gateway parses), set = its reply type (the *List wrappers,
 *             maps of lists, bools: the writer's other shapes)
 *   the rest  the JSON body
 *
 * Invariants (abort when broken):
 * - the answer is ORCH_OK or ORCH_EINVAL, with *out set exactly on OK;
 * - a refusal (ORCH_EINVAL with an orch_diag) says why: malformed with no
 *   field, or a field path that the message starts with ("<path>:
 *   expected ..."), within the 256 bytes the gateway's detail had before
 *   orch_diag (so the bytes it answers cannot have changed);
 * - what was accepted writes (orch_pbjson_write) as JSON that parses again
 *   and writes again to the same bytes;
 * - a request also survives protobuf: packed, unpacked and written, it is
 *   the same JSON (so the core sees what the gateway parsed).
 * Everything is freed, so LeakSanitizer checks the error paths too.
 *
 * The same file links into corpus_driver.c for pbparse_corpus_test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/json/pbjson.h"
#include "src/json/pbparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

/* Writes m into a fresh buffer (the caller finis it). */
static void
write_to(orch_buf *b, const ProtobufCMessage *m)
{
	orch_pbjson_write(b, m);
	FUZZ_CHECK(!b->oom && orch_buf_cstr(b) != NULL);
}

static void
check_refusal(orch_err rv, const ProtobufCMessage *m, const orch_diag *err)
{
	size_t fl = strnlen(err->field, sizeof(err->field));
	size_t ml = strnlen(err->msg, sizeof(err->msg));

	FUZZ_CHECK(rv == ORCH_EINVAL);
	FUZZ_CHECK(m == NULL);
	FUZZ_CHECK(fl < sizeof(err->field) && ml < 256);
	FUZZ_CHECK(ml > 0);
	FUZZ_CHECK(err->status == 0);
	if (fl > 0) { /* a field's fault: 422 */
		FUZZ_CHECK(strncmp(err->msg, err->field, fl) == 0);
		FUZZ_CHECK(
		    strstr(err->msg + fl, ": expected ") == err->msg + fl);
	}
}

/* A request packed and unpacked writes the same JSON as before. */
static void
check_protobuf(const ProtobufCMessage *m, const char *json)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n > 0 ? n : 1);
	ProtobufCMessage *back;
	orch_buf b = ORCH_BUF_INIT;

	FUZZ_CHECK(buf != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(m, buf) == n);
	back = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
	FUZZ_CHECK(back != NULL);
	write_to(&b, back);
	FUZZ_CHECK(strcmp(orch_buf_cstr(&b), json) == 0);
	orch_buf_fini(&b);
	protobuf_c_message_free_unpacked(back, NULL);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCServiceDescriptor *svc =
	    &orch__orchestrator__descriptor;
	const ProtobufCMethodDescriptor *md;
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m = (ProtobufCMessage *) 1, *again = NULL;
	orch_diag err;
	orch_buf w1 = ORCH_BUF_INIT, w2 = ORCH_BUF_INIT;
	bool request;
	orch_err rv;

	if (size < 1)
		return 0;
	md = &svc->methods[(data[0] & 0x7f) % svc->n_methods];
	request = (data[0] & 0x80) == 0;
	d = request ? md->input : md->output;
	rv =
	    orch_pbparse(d, (const char *) data + 1, size - 1, NULL, &m, &err);
	if (rv != ORCH_OK) {
		check_refusal(rv, m, &err);
		return 0;
	}
	FUZZ_CHECK(m != NULL && m->descriptor == d);
	FUZZ_CHECK(err.msg[0] == '\0' && err.field[0] == '\0');
	write_to(&w1, m);
	rv = orch_pbparse(d, orch_buf_cstr(&w1), w1.len, NULL, &again, &err);
	FUZZ_CHECK(rv == ORCH_OK);
	write_to(&w2, again);
	FUZZ_CHECK(w1.len == w2.len && memcmp(orch_buf_cstr(&w1),
	                                   orch_buf_cstr(&w2), w1.len) == 0);
	if (request)
		check_protobuf(m, orch_buf_cstr(&w1));
	orch_buf_fini(&w1);
	orch_buf_fini(&w2);
	protobuf_c_message_free_unpacked(again, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
