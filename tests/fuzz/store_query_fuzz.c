/*
 * libFuzzer target for the event log's query parser
 * (orch_store_query_parse, src/store/store.h): GET /events/log's since,
 * limit and type, all outside input.
 *
 * Input layout:
 *   byte 0       bit 0: limit given; bit 1: since given; bit 2: type given
 *   bytes 1..8   the limit (int64, little endian)
 *   the rest     since, then type, split at the first NUL
 *
 * Invariants (abort when broken): an accepted query has a limit in
 * 1..ORCH_STORE_LOG_LIMIT_MAX (the default without one), at most one kind
 * of since (none without one; an id is never negative), and only known
 * type names, each once at most, none without a type; a refused one is
 * INVALID_ARGUMENT naming since, limit or type.
 *
 * The same file links into corpus_driver.c for store_query_corpus_test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/sink.h"
#include "src/store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

static void
check_ok(const orch_store_query *q, bool has_limit, int64_t limit,
    bool has_since, bool has_type)
{
	bool seen[ORCH_LOG_TYPE_COUNT] = {false};

	FUZZ_CHECK(q->limit >= 1 && q->limit <= ORCH_STORE_LOG_LIMIT_MAX);
	FUZZ_CHECK(has_limit ? q->limit == limit
	                     : q->limit == ORCH_STORE_LOG_LIMIT_DEFAULT);
	FUZZ_CHECK(!(q->has_since_id && q->has_since_ts));
	FUZZ_CHECK(has_since || (!q->has_since_id && !q->has_since_ts));
	FUZZ_CHECK(!q->has_since_id || q->since_id >= 0);
	FUZZ_CHECK(has_type || q->n_types == 0);
	FUZZ_CHECK(q->n_types <= ORCH_LOG_TYPE_COUNT);
	for (size_t i = 0; i < q->n_types; i++) {
		int t = q->types[i];

		FUZZ_CHECK(t > 0 && t < ORCH_LOG_TYPE_COUNT);
		FUZZ_CHECK(orch_log_type_name((orch_log_type) t) != NULL);
		FUZZ_CHECK(!seen[t]);
		seen[t] = true;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	orch_store_query q;
	orch_diag d;
	bool has_limit, has_since, has_type;
	int64_t limit = 0;
	char *buf, *since = NULL, *type = NULL, *nul;
	orch_err rv;

	if (size < 9)
		return 0;
	has_limit = (data[0] & 1) != 0;
	has_since = (data[0] & 2) != 0;
	has_type = (data[0] & 4) != 0;
	for (int i = 0; i < 8; i++)
		limit |= (int64_t) ((uint64_t) data[1 + i] << (8 * i));
	buf = malloc(size - 9 + 2);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 9, size - 9);
	buf[size - 9] = '\0';
	buf[size - 9 + 1] = '\0';
	nul = memchr(buf, '\0', size - 9 + 1);
	if (has_since)
		since = buf;
	if (has_type)
		type = nul + 1;
	memset(&q, 0xa5, sizeof(q));
	rv = orch_store_query_parse(since, has_limit, limit, type, &q, &d);
	if (rv == ORCH_OK) {
		check_ok(&q, has_limit, limit, has_since, has_type);
	} else {
		FUZZ_CHECK(rv == ORCH_EINVAL);
		FUZZ_CHECK(strcmp(d.field, "since") == 0 ||
		           strcmp(d.field, "limit") == 0 ||
		           strcmp(d.field, "type") == 0);
		FUZZ_CHECK(d.msg[0] != '\0');
	}
	free(buf);
	return 0;
}
