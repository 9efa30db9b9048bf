#include "src/base/time.h"

#include <stdio.h>
#include <time.h>

int64_t
orch_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t
orch_mono_ms(void)
{
	return orch_mono_ns() / 1000000LL;
}

int64_t
orch_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

size_t
orch_rfc3339_format(int64_t us, char *buf)
{
	int64_t secs, frac, days, rem, y;
	int m, d, n;

	secs = us / 1000000;
	frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs -= 1;
	}
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	civil_from_days(days, &y, &m, &d);
	if (frac != 0)
		n = snprintf(buf, ORCH_RFC3339_MAX,
		    "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ", (long long) y,
		    m, d, (int) (rem / 3600), (int) (rem / 60 % 60),
		    (int) (rem % 60), (long long) frac);
	else
		n = snprintf(buf, ORCH_RFC3339_MAX,
		    "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long) y, m, d,
		    (int) (rem / 3600), (int) (rem / 60 % 60),
		    (int) (rem % 60));
	return n > 0 ? (size_t) n : 0;
}

/* Reads exactly n decimal digits at s[*i]; -1 when one is not a digit. */
static int
digits(const char *s, size_t len, size_t *i, int n, int *out)
{
	int v = 0;

	for (int k = 0; k < n; k++) {
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[*i] - '0');
		(*i)++;
	}
	*out = v;
	return 0;
}

static int
expect(const char *s, size_t len, size_t *i, const char *set)
{
	if (*i >= len)
		return -1;
	for (; *set != '\0'; set++) {
		if (s[*i] == *set) {
			(*i)++;
			return 0;
		}
	}
	return -1;
}

static int
days_in_month(int y, int m)
{
	static const int dm[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dm[m - 1];
}

int
orch_rfc3339_parse(const char *s, size_t len, int64_t *us)
{
	size_t i = 0;
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = 100000;

	if (digits(s, len, &i, 4, &y) || expect(s, len, &i, "-") ||
	    digits(s, len, &i, 2, &mo) || expect(s, len, &i, "-") ||
	    digits(s, len, &i, 2, &d) || expect(s, len, &i, "Tt ") ||
	    digits(s, len, &i, 2, &h) || expect(s, len, &i, ":") ||
	    digits(s, len, &i, 2, &mi) || expect(s, len, &i, ":") ||
	    digits(s, len, &i, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || se > 60)
		return -1;
	if (i < len && s[i] == '.') {
		int nd = 0;

		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (nd < 6) {
				frac += (s[i] - '0') * scale;
				scale /= 10;
			}
			nd++;
			i++;
		}
		if (nd == 0 || nd > 9)
			return -1;
	}
	if (i >= len)
		return -1; /* no zone: refused, as Go's time.Time would */
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '-' ? -1 : 1;
		i++;
		if (digits(s, len, &i, 2, &oh) || expect(s, len, &i, ":") ||
		    digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	if (se == 60)
		se = 59; /* leap second: clamp, as most parsers do */
	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) -
	          sign * (oh * 3600 + om * 60)) *
	          1000000LL +
	      frac;
	return 0;
}
