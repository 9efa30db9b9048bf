#include "src/base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = ORCH_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
orch_log_set_level(orch_log_level level)
{
	atomic_store(&log_level, (int) level);
}

orch_log_level
orch_log_get_level(void)
{
	return (orch_log_level) atomic_load(&log_level);
}

int
orch_log_parse_level(const char *s, orch_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (s != NULL && strcmp(s, level_names[i]) == 0) {
			*out = (orch_log_level) i;
			return 0;
		}
	}
	return -1;
}

void
orch_log(orch_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;
	int r;

	if ((int) level < atomic_load(&log_level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ",
	    ts.tv_nsec / 1000000L, level_names[level]);
	if (r > 0)
		n += (size_t) r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t) r < sizeof(line) - n - 1 ? (size_t) r
		                                       : sizeof(line) - n - 2;
	line[n++] = '\n';
	/* One write per line keeps lines from different threads whole. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
