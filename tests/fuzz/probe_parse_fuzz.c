/*
 * libFuzzer target for the probe parsers (src/probe/engine.h): what an
 * engine or Gluetun answers, and the stat_url a client hands in.
 *
 * Input layout:
 *   byte 0   parser: % 7 -> health, stat, vpn status, forwarded port,
 *            stat_url path, Gluetun's answers as the VPN monitor reads
 *            them (src/probe/gluetun.h: a status, a port)
 *   byte 1   bit 7 set: HTTP status from a table (500, 404, 0, ...), else
 *            200; bits 3..5: why / out buffer size (a few tiny ones, 0)
 *   the rest the body (or the URL, NUL-terminated at its first NUL)
 *
 * Invariants (abort when broken): nothing written past the buffer size
 * given; why always NUL-terminated; a good answer only with HTTP 200; a
 * stat snapshot only holds what its `has` bits say (non-negative counters,
 * a short, clean, valid UTF-8 status) and is all zero otherwise; a port is
 * 0..65535 or untouched; a Gluetun answer reads OK only with 200, as a
 * configuration error only with 401/403, as a missing route only with
 * 400/404/405, and says why otherwise; an accepted stat_url yields a path
 * under /ace/stat/ of plain printable characters, with no dot segment and no
 * fragment, that parses again to itself.
 *
 * The same file links into corpus_driver.c for probe_corpus_test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/probe/engine.h"
#include "src/probe/gluetun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

#define BUF 4200 /* > ORCH_PROBE_URL_MAX + room, and > any why */
#define CANARY 0xa5

static const long statuses[] = {500, 404, 0, 401, 403, 302, 400, -1};
static const size_t sizes[] = {128, 128, 4096, 64, 0, 1, 2, 11};

static uint8_t buf[BUF];

static void
canary_fill(void)
{
	memset(buf, CANARY, sizeof(buf));
}

/* Nothing at or past len was written; a NUL within len when len > 0. */
static void
check_bounded(size_t len)
{
	for (size_t i = len; i < sizeof(buf); i++)
		FUZZ_CHECK(buf[i] == CANARY);
	if (len > 0)
		FUZZ_CHECK(memchr(buf, '\0', len) != NULL);
}

static bool
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p != '\0') {
		size_t n = *p < 0x80             ? 0
		           : (*p & 0xe0) == 0xc0 ? 1
		           : (*p & 0xf0) == 0xe0 ? 2
		           : (*p & 0xf8) == 0xf0 ? 3
		                                 : 4;

		if (n == 4)
			return false;
		p++;
		for (; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

static void
fuzz_health(long status, const char *body, size_t len, size_t whylen)
{
	bool ok;

	canary_fill();
	ok = orch_probe_parse_health(status, body, len, (char *) buf, whylen);
	check_bounded(whylen);
	if (ok) {
		FUZZ_CHECK(status == 200);
		FUZZ_CHECK(whylen == 0 || buf[0] == '\0');
	} else {
		FUZZ_CHECK(whylen <= 1 || buf[0] != '\0');
	}
}

static const struct {
	unsigned bit;
	size_t off;
} counters[] = {
    {ORCH_STAT_PEERS, offsetof(orch_stat, peers)},
    {ORCH_STAT_SPEED_DOWN, offsetof(orch_stat, speed_down)},
    {ORCH_STAT_SPEED_UP, offsetof(orch_stat, speed_up)},
    {ORCH_STAT_DOWNLOADED, offsetof(orch_stat, downloaded)},
    {ORCH_STAT_UPLOADED, offsetof(orch_stat, uploaded)},
};

static void
fuzz_stat(long status, const char *body, size_t len, size_t whylen)
{
	const unsigned all = ORCH_STAT_PEERS | ORCH_STAT_SPEED_DOWN |
	                     ORCH_STAT_SPEED_UP | ORCH_STAT_DOWNLOADED |
	                     ORCH_STAT_UPLOADED | ORCH_STAT_STATUS;
	const int64_t now = 1700000000000001;
	orch_stat st, zero;
	orch_probe_result rc;

	memset(&st, 0x5a, sizeof(st));
	memset(&zero, 0, sizeof(zero));
	canary_fill();
	rc = orch_probe_parse_stat(
	    status, body, len, now, &st, (char *) buf, whylen);
	check_bounded(whylen);
	FUZZ_CHECK(rc == ORCH_PROBE_OK || rc == ORCH_PROBE_FAIL ||
	           rc == ORCH_PROBE_GONE);
	if (rc != ORCH_PROBE_OK) {
		FUZZ_CHECK(memcmp(&st, &zero, sizeof(st)) == 0);
		FUZZ_CHECK(whylen <= 1 || buf[0] != '\0');
		if (rc == ORCH_PROBE_GONE)
			FUZZ_CHECK(status == 200);
		return;
	}
	FUZZ_CHECK(status == 200);
	FUZZ_CHECK(whylen == 0 || buf[0] == '\0');
	FUZZ_CHECK(st.ts_us == now);
	FUZZ_CHECK((st.has & ~all) == 0);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		int64_t v;

		memcpy(&v, (const char *) &st + counters[i].off, sizeof(v));
		FUZZ_CHECK((st.has & counters[i].bit) ? v >= 0 : v == 0);
	}
	FUZZ_CHECK(memchr(st.status, '\0', sizeof(st.status)) != NULL);
	if (!(st.has & ORCH_STAT_STATUS))
		FUZZ_CHECK(st.status[0] == '\0');
	for (const char *p = st.status; *p != '\0'; p++)
		FUZZ_CHECK((unsigned char) *p >= 0x20 && *p != 0x7f);
	FUZZ_CHECK(utf8_ok(st.status));
}

static void
fuzz_vpn(long status, const char *body, size_t len, size_t whylen)
{
	bool running = false, ok;

	canary_fill();
	ok = orch_probe_parse_vpn_status(
	    status, body, len, &running, (char *) buf, whylen);
	check_bounded(whylen);
	FUZZ_CHECK(!ok || status == 200);
	FUZZ_CHECK(!running || ok);
}

static void
fuzz_port(long status, const char *body, size_t len, size_t whylen)
{
	int port = -77;
	bool ok;

	canary_fill();
	ok = orch_probe_parse_forwarded_port(
	    status, body, len, &port, (char *) buf, whylen);
	check_bounded(whylen);
	if (ok)
		FUZZ_CHECK(status == 200 && port >= 0 && port <= 65535);
	else
		FUZZ_CHECK(port == -77);
}

static void
fuzz_stat_path(long status, const char *body, size_t len, size_t outlen)
{
	char *url = malloc(len + 1), again[BUF + 16], out2[BUF];
	const char *p;
	orch_err err;
	size_t n;

	(void) status;
	FUZZ_CHECK(url != NULL);
	memcpy(url, body, len);
	url[len] = '\0';
	canary_fill();
	err = orch_probe_stat_path(url, (char *) buf, outlen);
	check_bounded(outlen);
	if (err != ORCH_OK) {
		FUZZ_CHECK(err == ORCH_EINVAL || err == ORCH_ERANGE);
		FUZZ_CHECK(outlen == 0 || buf[0] == '\0');
		free(url);
		return;
	}
	FUZZ_CHECK(strncasecmp(url, "http://", 7) == 0 ||
	           strncasecmp(url, "https://", 8) == 0);
	p = (const char *) buf;
	n = strlen(p);
	FUZZ_CHECK(n < outlen && n <= ORCH_PROBE_URL_MAX);
	FUZZ_CHECK(strncmp(p, "/ace/stat/", 10) == 0);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(p[i] > 0x20 && p[i] < 0x7f && p[i] != '#');
	/* Before the query: no escape, no dot segment. */
	n = strcspn(p, "?");
	FUZZ_CHECK(memchr(p, '%', n) == NULL);
	for (size_t i = 0; i < n; i++) {
		size_t seg;

		if (p[i] != '/')
			continue;
		seg = strcspn(p + i + 1, "/?");
		FUZZ_CHECK(!(seg == 1 && p[i + 1] == '.'));
		FUZZ_CHECK(!(seg == 2 && p[i + 1] == '.' && p[i + 2] == '.'));
	}
	/* The path, under any host, parses again to itself. */
	memcpy(again, "http://h", 8);
	memcpy(again + 8, p, strlen(p) + 1);
	FUZZ_CHECK(orch_probe_stat_path(again, out2, sizeof(out2)) == ORCH_OK);
	FUZZ_CHECK(strcmp(out2, p) == 0);
	free(url);
}

static void
fuzz_gluetun(
    long status, const char *body, size_t len, size_t whylen, bool is_port)
{
	int value = -77;
	orch_gluetun_verdict v;

	canary_fill();
	v = orch_gluetun_classify(
	    status, body, len, is_port, &value, (char *) buf, whylen);
	check_bounded(whylen);
	switch (v) {
	case ORCH_GLUETUN_OK:
		FUZZ_CHECK(status == 200);
		FUZZ_CHECK(is_port ? value >= 0 && value <= 65535
		                   : value == 0 || value == 1);
		break;
	case ORCH_GLUETUN_AUTH:
		FUZZ_CHECK(status == 401 || status == 403);
		FUZZ_CHECK(value == -77);
		break;
	case ORCH_GLUETUN_MISSING:
		FUZZ_CHECK(status == 400 || status == 404 || status == 405);
		FUZZ_CHECK(value == -77);
		break;
	case ORCH_GLUETUN_BAD:
		FUZZ_CHECK(value == -77);
		break;
	default:
		FUZZ_CHECK(false); /* DOWN is for requests without an answer */
	}
	if (v != ORCH_GLUETUN_OK)
		FUZZ_CHECK(whylen <= 1 || buf[0] != '\0');
}

static void
fuzz_gluetun_status(long status, const char *body, size_t len, size_t whylen)
{
	fuzz_gluetun(status, body, len, whylen, false);
}

static void
fuzz_gluetun_port(long status, const char *body, size_t len, size_t whylen)
{
	fuzz_gluetun(status, body, len, whylen, true);
}

/* Indexed by the first byte, modulo its size. */
static void (*const parsers[])(long, const char *, size_t, size_t) = {
    fuzz_health,
    fuzz_stat,
    fuzz_vpn,
    fuzz_port,
    fuzz_stat_path,
    fuzz_gluetun_status,
    fuzz_gluetun_port,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t n_parsers = sizeof(parsers) / sizeof(parsers[0]);
	long status;

	if (size < 2)
		return 0;
	status = (data[1] & 0x80) ? statuses[data[1] & 7] : 200;
	parsers[data[0] % n_parsers](status, (const char *) data + 2, size - 2,
	    sizes[(data[1] >> 3) & 7]);
	return 0;
}
