#include "tests/probe/probe_sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_KIDS 128
#define MAX_ENV 32

static pid_t kids[MAX_KIDS];

int64_t
psim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(long ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const char *
sim_path(void)
{
	static char path[4096];
	const char *roots[] = {getenv("TEST_SRCDIR"), getenv("RUNFILES_DIR")};
	size_t i;

	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		if (roots[i] == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/orchestrator/tools/sim/sim",
		    roots[i]);
		if (access(path, X_OK) == 0)
			return path;
	}
	snprintf(path, sizeof(path), "tools/sim/sim");
	return path;
}

static void
kid_set(pid_t old, pid_t new)
{
	size_t i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == old) {
			kids[i] = new;
			return;
		}
}

int
psim_spawn(psim *p, const char *mode, const char *const *env)
{
	static unsigned seq;
	static const char *pass[] = {
	    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	char passbuf[3][1024], portfile_env[600];
	const char *envp[MAX_ENV], *argv[] = {sim_path(), mode, NULL};
	const char *dir = getenv("TEST_TMPDIR");
	pid_t parent = getpid();
	size_t n = 0, i;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	snprintf(p->port_file, sizeof(p->port_file), "%s/psim-%d-%u.port",
	    dir != NULL ? dir : "/tmp", (int) parent, seq++);
	unlink(p->port_file);
	snprintf(portfile_env, sizeof(portfile_env), "SIM_PORT_FILE=%s",
	    p->port_file);
	for (i = 0; env != NULL && env[i] != NULL && n < MAX_ENV - 8; i++)
		envp[n++] = env[i];
	envp[n++] = "SIM_LISTEN_ADDR=127.0.0.1";
	envp[n++] = strcmp(mode, "gluetun") == 0 ? "GLUETUN_API_PORT=0"
	                                         : "HTTP_PORT=0";
	envp[n++] = portfile_env;
	for (i = 0; i < 3; i++) {
		const char *v = getenv(pass[i]);

		if (v == NULL)
			continue;
		snprintf(passbuf[i], sizeof(passbuf[i]), "%s=%s", pass[i], v);
		envp[n++] = passbuf[i];
	}
	envp[n] = NULL;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		/* Die with the test, even when it crashes mid-assertion. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
		    getppid() != parent)
			_exit(126);
		execve(argv[0], (char *const *) argv, (char *const *) envp);
		_exit(127);
	}
	kid_set(0, p->pid);
	return 0;
}

static int
can_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, ok;

	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int
psim_wait_ready(psim *p, int64_t deadline_ms)
{
	for (;;) {
		if (p->pid <= 0 || waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			kid_set(p->pid, 0);
			p->pid = -1;
			return -1;
		}
		if (p->port == 0) {
			FILE *f = fopen(p->port_file, "r");

			if (f != NULL) {
				if (fscanf(f, "%d", &p->port) != 1)
					p->port = 0;
				fclose(f);
			}
		}
		if (p->port > 0 && can_connect(p->port))
			return 0;
		if (psim_now_ms() >= deadline_ms)
			return -1;
		nap_ms(5);
	}
}

int
psim_start(psim *p, const char *mode, const char *const *env, int wait_ms)
{
	if (psim_spawn(p, mode, env) != 0)
		return -1;
	if (psim_wait_ready(p, psim_now_ms() + wait_ms) != 0) {
		psim_stop(p);
		return -1;
	}
	return 0;
}

void
psim_stop(psim *p)
{
	int64_t deadline = psim_now_ms() + 2000;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	while (waitpid(p->pid, NULL, WNOHANG) != p->pid) {
		if (psim_now_ms() >= deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			break;
		}
		nap_ms(2);
	}
	kid_set(p->pid, 0);
	p->pid = -1;
	unlink(p->port_file);
}

void
psim_reap_all(void)
{
	size_t i;

	for (i = 0; i < MAX_KIDS; i++) {
		if (kids[i] <= 0)
			continue;
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
		kids[i] = 0;
	}
}

int
psim_closed_port(int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -1;
	if (bind(*fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
	    getsockname(*fd, (struct sockaddr *) &sa, &len) != 0) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	return ntohs(sa.sin_port);
}
