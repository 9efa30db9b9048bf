/*
 * Entry point: signals, then the mode named by argv[1] (engine by default,
 * as the engine image passes no arguments of its own).
 *
 * As PID 1 the kernel gives us no default action for SIGTERM, so without a
 * handler every `docker stop` would wait out its timeout. Nothing needs
 * flushing on the way out, so the handler just calls _exit(0).
 */
#include "tools/sim/sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t sim_usr1_fail;
int sim_log_enabled;

int64_t
sim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sim_sleep_ms(int64_t ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

long
sim_env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return dflt;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return dflt;
	return v;
}

static void
on_term(int sig)
{
	(void) sig;
	_exit(0);
}

static void
on_usr1(int sig)
{
	(void) sig;
	sim_usr1_fail = !sim_usr1_fail;
}

static int
install_signals(void)
{
	struct sigaction term = {.sa_handler = on_term};
	struct sigaction usr1 = {
	    .sa_handler = on_usr1, .sa_flags = SA_RESTART};
	struct sigaction ign = {.sa_handler = SIG_IGN};

	sigemptyset(&term.sa_mask);
	sigemptyset(&usr1.sa_mask);
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGTERM, &term, NULL) != 0 ||
	    sigaction(SIGINT, &term, NULL) != 0 ||
	    sigaction(SIGUSR1, &usr1, NULL) != 0 ||
	    sigaction(SIGPIPE, &ign, NULL) != 0)
		return -1;
	return 0;
}

static const struct {
	const char *name;
	int (*run)(void);
	const char *help;
} modes[] = {
    {"engine", sim_engine_main, "AceStream engine HTTP API"},
    {"gluetun", sim_gluetun_main, "Gluetun control server"},
    {"acexy", sim_acexy_main, "Acexy stand-in (the orchestrator's calls)"},
    {"healthcheck", sim_healthcheck_main,
        "probe the local server (SIM_MODE=engine|gluetun|acexy)"},
};

static int
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: sim [mode]\nmodes:\n");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(stderr, "  %-12s %s\n", modes[i].name, modes[i].help);
	fprintf(stderr, "see tools/sim/README.md for the environment knobs\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "engine";
	size_t i;

	if (install_signals() != 0) {
		perror("sim: sigaction");
		return 1;
	}
	sim_log_enabled = sim_env_long("SIM_LOG", 0) == 1;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i].name) == 0)
			return modes[i].run();
	return usage();
}
