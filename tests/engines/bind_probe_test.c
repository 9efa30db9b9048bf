/*
 * The manager's default host-port probe (orch_mgr_host_port_free) against
 * real sockets on loopback: what Docker's publisher can bind.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/engines/manager.h"

/* Defect 17: a port whose last connection is in TIME_WAIT is free for
 * Docker's publisher (it binds with SO_REUSEADDR), so the probe says free;
 * a port someone listens on is taken. (Without SO_REUSEADDR the probe
 * called such a port taken for up to a minute.) */
static void
test_bind_probe_time_wait(void **state)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1, lfd, cfd, sfd, port;

	(void) state;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	(void) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *) &a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *) &a, &alen), 0);
	port = ntohs(a.sin_port);
	/* Listening: taken. */
	assert_false(orch_mgr_host_port_free(NULL, port));
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *) &a, sizeof(a)), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	/* The server side closes first: its end (bound to port) goes to
	 * TIME_WAIT once the client closes too. */
	close(sfd);
	close(lfd);
	{
		char c;

		assert_true(read(cfd, &c, 1) == 0); /* FIN seen */
	}
	close(cfd);
	assert_true(orch_mgr_host_port_free(NULL, port));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bind_probe_time_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
