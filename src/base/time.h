/*
 * Time helpers. Monotonic time is for deadlines and intervals; wall time
 * (microseconds since the Unix epoch, UTC) is what state and the API carry.
 */
#ifndef ORCH_BASE_TIME_H
#define ORCH_BASE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
int64_t orch_mono_ms(void);

/* Monotonic nanoseconds, for latency measurement. */
int64_t orch_mono_ns(void);

/* Wall clock, microseconds since the epoch. */
int64_t orch_wall_us(void);

/*
 * Writes us (microseconds since the epoch) as RFC 3339 UTC with a zone,
 * "2024-01-01T12:00:00Z", or with ".uuuuuuZ" when the microseconds are not
 * zero. buf must hold at least ORCH_RFC3339_MAX bytes. Returns the length.
 */
#define ORCH_RFC3339_MAX 40
size_t orch_rfc3339_format(int64_t us, char *buf);

/*
 * Parses an RFC 3339 time with a zone ("Z" or "+hh:mm"), fractional seconds
 * optional (up to 9 digits, kept to microseconds). Returns 0 and sets *us,
 * or -1 when s is not such a time (a zoneless time is refused).
 */
int orch_rfc3339_parse(const char *s, size_t len, int64_t *us);

#endif
