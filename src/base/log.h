/*
 * Minimal leveled logging to stderr, one line per call, with a UTC
 * timestamp. The level is process-wide (LOG_LEVEL); logging is thread-safe
 * because each line is formatted into a buffer and written with one write().
 */
#ifndef ORCH_BASE_LOG_H
#define ORCH_BASE_LOG_H

typedef enum orch_log_level {
	ORCH_LOG_DEBUG = 0,
	ORCH_LOG_INFO = 1,
	ORCH_LOG_WARN = 2,
	ORCH_LOG_ERROR = 3,
} orch_log_level;

void orch_log_set_level(orch_log_level level);
orch_log_level orch_log_get_level(void);

/* Parses "debug" | "info" | "warn" | "error"; returns 0 on success. */
int orch_log_parse_level(const char *s, orch_log_level *out);

void orch_log(orch_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ORCH_DEBUG(...) orch_log(ORCH_LOG_DEBUG, __VA_ARGS__)
#define ORCH_INFO(...) orch_log(ORCH_LOG_INFO, __VA_ARGS__)
#define ORCH_WARN(...) orch_log(ORCH_LOG_WARN, __VA_ARGS__)
#define ORCH_ERROR(...) orch_log(ORCH_LOG_ERROR, __VA_ARGS__)

#endif
