/*
 * A tiny fake Docker daemon on a unix socket, for tests of the client's
 * handling of replies Docker would never send (or not on demand).
 *
 * One thread accepts connections one at a time, reads one request and
 * answers it: GET /_ping with a canned ping (Api-Version as configured),
 * anything else with the next step of a script (the last step repeats).
 * A step is raw bytes (status line, headers and body, exactly as sent),
 * optionally written in small pieces, then the connection is closed or
 * held open (and never answered further) until fake_stop().
 */
#ifndef TESTS_RUNTIME_FAKEDOCKER_H
#define TESTS_RUNTIME_FAKEDOCKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum fake_after {
	FAKE_CLOSE = 0, /* close after writing */
	FAKE_HOLD = 1,  /* keep the connection open, say nothing more */
};

struct fake_step {
	const char *bytes; /* NULL: write nothing */
	size_t len;        /* 0: strlen(bytes) */
	int after;         /* enum fake_after */
	size_t piece;      /* > 0: write in pieces this big, 2 ms apart */
};

#define FAKE_MAX_STEPS 16
#define FAKE_MAX_HELD 64

struct fake {
	char path[108];
	char dir[64]; /* the mkdtemp directory we made, or "" */
	int lfd;
	pthread_t thread;
	pthread_mutex_t mu;
	atomic_int stop;
	/* Under mu. */
	const char *ping_version; /* NULL: no Api-Version header */
	struct fake_step steps[FAKE_MAX_STEPS];
	size_t n_steps, next;
	int n_requests; /* non-ping requests seen */
	int n_pings;
	char last_req[8192]; /* request line and headers of the last one */
	char *last_body;     /* its body (malloc'd) or NULL */
	int held[FAKE_MAX_HELD];
	int n_held;
};

/* Starts the fake listening on path (NULL: a fresh directory under /tmp,
 * removed by fake_stop). Asserts on failure. */
void fake_start(struct fake *f, const char *path);

/* Replaces the script (steps and their bytes are copied). */
void fake_script(struct fake *f, const struct fake_step *steps, size_t n);

/* One step that closes: the canned reply for the next requests (len 0:
 * strlen). */
void fake_reply(struct fake *f, const char *bytes, size_t len);

void fake_set_ping(struct fake *f, const char *version);

/* Copies of what the fake saw (caller frees the body). */
int fake_requests(struct fake *f);
void fake_last(struct fake *f, char *req, size_t req_len, char **body);

/* Stops the thread, closes every connection, removes the socket. */
void fake_stop(struct fake *f);

/* "HTTP/1.1 <status>" with Content-Length and Connection: close around
 * body; malloc'd, the caller frees. */
char *fake_http(const char *status, const char *body);

#endif
