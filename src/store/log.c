/*
 * The event log's query (GET /events/log, orchctl events): parsing the
 * caller's `since`, `limit` and `type` (outside input: tests/fuzz has a
 * target for it), and reading the entries on the store's reader
 * connection. WAL mode lets that read run beside the writer without
 * either waiting for the other. An entry's data is a JSON object; a row
 * whose data is anything else (a damaged file) shows no data rather than
 * failing the query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/time.h"
#include "src/store/impl.h"

/* ---- parsing ---------------------------------------------------------- */

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/* One type of a comma-separated list [b, e). */
static bool
add_type(orch_store_query *q, const char *b, const char *e)
{
	char name[64];
	size_t n = (size_t) (e - b);
	orch_log_type t;

	if (n == 0 || n >= sizeof(name))
		return false;
	memcpy(name, b, n);
	name[n] = '\0';
	t = orch_log_type_from_name(name);
	if (t == ORCH_LOG_NONE)
		return false;
	for (size_t i = 0; i < q->n_types; i++) {
		if (q->types[i] == (int) t)
			return true;
	}
	q->types[q->n_types++] = (int) t;
	return true;
}

orch_err
orch_store_query_parse(const char *since, bool has_limit, int64_t limit,
    const char *types, orch_store_query *q, orch_diag *d)
{
	memset(q, 0, sizeof(*q));
	q->limit = ORCH_STORE_LOG_LIMIT_DEFAULT;
	if (since != NULL) {
		size_t len = strlen(since);

		if (all_digits(since) && len <= 18) {
			q->has_since_id = true;
			q->since_id = strtoll(since, NULL, 10);
		} else if (orch_rfc3339_parse(since, len, &q->since_us) == 0) {
			q->has_since_ts = true;
		} else {
			orch_diag_field(d, "since",
			    "since: expected an event id or an RFC 3339 time "
			    "with a zone, got \"%.64s\"",
			    since);
			return ORCH_EINVAL;
		}
	}
	if (has_limit) {
		if (limit < 1 || limit > ORCH_STORE_LOG_LIMIT_MAX) {
			orch_diag_field(d, "limit",
			    "limit: expected an integer from 1 to %d, got "
			    "%lld",
			    ORCH_STORE_LOG_LIMIT_MAX, (long long) limit);
			return ORCH_EINVAL;
		}
		q->limit = (int) limit;
	}
	if (types != NULL) {
		const char *b = types;

		for (;;) {
			const char *e = strchr(b, ',');

			if (e == NULL)
				e = b + strlen(b);
			if (!add_type(q, b, e)) {
				orch_diag_field(d, "type",
				    "type: expected event types separated by "
				    "commas (docs/STORE.md lists them), got "
				    "\"%.64s\"",
				    types);
				return ORCH_EINVAL;
			}
			if (*e == '\0')
				break;
			b = e + 1;
		}
	}
	return ORCH_OK;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct log_mem {
	char **strings;
	size_t n_strings, cap_strings;
	orch_kv *kv;
	size_t n_kv, cap_kv;
	size_t *kv_first; /* per entry, into kv (kv moves as it grows) */
} log_mem;

static bool
grow(void **v, size_t *cap, size_t need, size_t sz)
{
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return true;
	ncap = *cap != 0 ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*v, ncap * sz);
	if (nv == NULL)
		return false;
	*v = nv;
	*cap = ncap;
	return true;
}

/* A copy of column col (NULL stays NULL); *ok false when out of memory. */
static const char *
copy_col(log_mem *m, sqlite3_stmt *s, int col, bool *ok)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n;
	char *c;

	if (t == NULL)
		return NULL;
	n = (size_t) sqlite3_column_bytes(s, col);
	if (!grow((void **) &m->strings, &m->cap_strings, m->n_strings + 1,
	        sizeof(char *)) ||
	    (c = malloc(n + 1)) == NULL) {
		*ok = false;
		return NULL;
	}
	memcpy(c, t, n);
	c[n] = '\0';
	m->strings[m->n_strings++] = c;
	return c;
}

static void
mem_free(log_mem *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_strings; i++)
		free(m->strings[i]);
	free(m->strings);
	free(m->kv);
	free(m->kv_first);
	free(m);
}

void
orch_store_log_fini(orch_store_log *log)
{
	mem_free(log->mem);
	free(log->v);
	memset(log, 0, sizeof(*log));
}

/* The query's SQL: the entries (newest first without since), each row
 * joined with the pairs of its data. */
static void
build_sql(const orch_store_query *q, char *sql, size_t len)
{
	size_t n;
	const char *dir = (q->has_since_id || q->has_since_ts) ? "" : " DESC";

	n = (size_t) snprintf(sql, len,
	    "SELECT e.id, e.ts, e.type, e.container_id, e.stream_id, j.key, "
	    "CAST(j.value AS TEXT) FROM (SELECT * FROM events WHERE 1");
	if (q->has_since_id)
		n += (size_t) snprintf(sql + n, len - n, " AND id > ?1");
	if (q->has_since_ts)
		n += (size_t) snprintf(sql + n, len - n, " AND ts >= ?2");
	if (q->n_types != 0) {
		n += (size_t) snprintf(sql + n, len - n, " AND type IN (");
		for (size_t i = 0; i < q->n_types; i++)
			n += (size_t) snprintf(sql + n, len - n, "%s?%zu",
			    i != 0 ? ", " : "", i + 10);
		n += (size_t) snprintf(sql + n, len - n, ")");
	}
	snprintf(sql + n, len - n,
	    " ORDER BY id%s LIMIT ?3) e LEFT JOIN json_each(CASE WHEN "
	    "json_valid(e.data) THEN CASE WHEN json_type(e.data) = 'object' "
	    "THEN e.data END END) j ORDER BY e.id%s, j.id",
	    dir, dir);
}

static int
open_reader(orch_store *st)
{
	int rc;

	if (st->rdb != NULL)
		return SQLITE_OK;
	rc = sqlite3_open_v2(st->path, &st->rdb,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		(void) sqlite3_busy_timeout(st->rdb, 2000);
	else {
		sqlite3_close(st->rdb);
		st->rdb = NULL;
	}
	return rc;
}

/* Reads the rows of s into out. */
static int
read_rows(sqlite3_stmt *s, orch_store_log *out, log_mem *m)
{
	size_t cap = 0, cap_first = 0;
	bool ok = true;
	int rc;

	while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		orch_store_entry *e;

		if (out->n == 0 || out->v[out->n - 1].id != id) {
			if (!grow((void **) &out->v, &cap, out->n + 1,
			        sizeof(*out->v)) ||
			    !grow((void **) &m->kv_first, &cap_first,
			        out->n + 1, sizeof(size_t))) {
				ok = false;
				break;
			}
			e = &out->v[out->n];
			memset(e, 0, sizeof(*e));
			e->id = id;
			e->ts_us = sqlite3_column_int64(s, 1);
			e->type = copy_col(m, s, 2, &ok);
			e->container_id = copy_col(m, s, 3, &ok);
			e->stream_id = copy_col(m, s, 4, &ok);
			if (e->type == NULL)
				e->type = "";
			m->kv_first[out->n++] = m->n_kv;
		}
		e = &out->v[out->n - 1];
		if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
			const char *k = copy_col(m, s, 5, &ok);
			const char *v = copy_col(m, s, 6, &ok);

			if (!grow((void **) &m->kv, &m->cap_kv, m->n_kv + 1,
			        sizeof(orch_kv))) {
				ok = false;
				break;
			}
			m->kv[m->n_kv].key = k != NULL ? k : "";
			m->kv[m->n_kv].value = v != NULL ? v : "";
			m->n_kv++;
			e->n_data++;
		}
	}
	if (!ok)
		return SQLITE_NOMEM;
	for (size_t i = 0; i < out->n; i++)
		out->v[i].data =
		    out->v[i].n_data != 0 ? m->kv + m->kv_first[i] : NULL;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

orch_err
orch_store_query_log(orch_store *st, const orch_store_query *q,
    orch_store_log *out, orch_diag *diag)
{
	char sql[1024];
	sqlite3_stmt *s = NULL;
	log_mem *m = calloc(1, sizeof(*m));
	int rc = m != NULL ? SQLITE_OK : SQLITE_NOMEM;

	memset(out, 0, sizeof(*out));
	build_sql(q, sql, sizeof(sql));
	pthread_mutex_lock(&st->rmu);
	if (rc == SQLITE_OK)
		rc = open_reader(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->rdb, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		if (q->has_since_id)
			sqlite3_bind_int64(s, 1, q->since_id);
		if (q->has_since_ts)
			sqlite3_bind_int64(s, 2, q->since_us);
		sqlite3_bind_int(s, 3, q->limit);
		for (size_t i = 0; i < q->n_types; i++)
			sqlite3_bind_text(s, (int) i + 10,
			    orch_log_type_name((orch_log_type) q->types[i]),
			    -1, SQLITE_STATIC);
		rc = read_rows(s, out, m);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_OK)
		store_diag(diag, st->path, st->rdb, rc);
	pthread_mutex_unlock(&st->rmu);
	out->mem = m;
	if (rc != SQLITE_OK) {
		orch_store_log_fini(out);
		return ORCH_EINTERNAL;
	}
	/* Newest first without since: oldest first for the caller. */
	if (!q->has_since_id && !q->has_since_ts) {
		for (size_t i = 0; i < out->n / 2; i++) {
			orch_store_entry t = out->v[i];

			out->v[i] = out->v[out->n - 1 - i];
			out->v[out->n - 1 - i] = t;
		}
	}
	return ORCH_OK;
}
