/*
 * src/runtime/self.h: the container id in /proc/self/mountinfo (Docker on
 * cgroup v1 and v2, Docker with its data root on a file system of its
 * own, Podman, none), and detection over files of the test's own and the
 * fake runtime: an id found and inspected, an id the runtime does not
 * know, a marker file alone (this machine's own case: an image built from
 * a container), the hostname fallback and a hostname naming another
 * container. The real thing, from inside a container on a real daemon,
 * is tests/deploy:image_test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/runtime/runtime.h"
#include "src/runtime/self.h"
#include "tests/runtime/fake_runtime.h"

#define ID "4f9a5e2c1b7d8e3f6a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f"

static const char v2_line[] =
    "24 20 0:22 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n"
    "771 752 254:1 /var/lib/docker/containers/" ID "/resolv.conf "
    "/etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n"
    "772 752 254:1 /var/lib/docker/containers/" ID "/hostname "
    "/etc/hostname rw,relatime - ext4 /dev/vda1 rw\n";

/* /var/lib/docker on its own file system: the root is shorter. */
static const char own_fs[] =
    "800 752 8:17 /containers/" ID "/hosts /etc/hosts rw - xfs /dev/sdb1 rw\n";

static const char podman[] =
    "900 880 0:45 /containers/storage/overlay-containers/" ID
    "/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n";

/* An id on a mount point that is not one of Docker's three: not ours
 * (a volume named by a hash, a bind mount of another container's dir). */
static const char elsewhere[] =
    "901 880 254:1 /var/lib/docker/volumes/" ID
    "/_data /data rw - ext4 /dev/vda1 rw\n"
    "902 880 254:1 / /etc/hostname rw - ext4 /dev/vda1 rw\n";

static void
test_parse(void **state)
{
	char id[ORCH_RT_SELF_ID_MAX + 1];
	char upper[sizeof(podman)];

	(void) state;
	assert_true(
	    orch_rt_self_parse_mountinfo(v2_line, strlen(v2_line), id));
	assert_string_equal(id, ID);
	assert_true(orch_rt_self_parse_mountinfo(own_fs, strlen(own_fs), id));
	assert_string_equal(id, ID);
	assert_true(orch_rt_self_parse_mountinfo(podman, strlen(podman), id));
	assert_string_equal(id, ID);
	/* Upper-case hex is the same id, written lower case. */
	memcpy(upper, podman, sizeof(podman));
	for (char *p = strstr(upper, ID); p < strstr(upper, ID) + 64; p++)
		*p = (char) (*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	assert_true(orch_rt_self_parse_mountinfo(upper, strlen(upper), id));
	assert_string_equal(id, ID);
	assert_false(
	    orch_rt_self_parse_mountinfo(elsewhere, strlen(elsewhere), id));
	assert_string_equal(id, "");
	/* Short, long, non-hex and cut lines. */
	assert_false(orch_rt_self_parse_mountinfo("", 0, id));
	assert_false(orch_rt_self_parse_mountinfo(
	    "1 2 3:4 /containers/abc/hostname /etc/hostname\n", 48, id));
	assert_false(orch_rt_self_parse_mountinfo("1 2 3:4 /containers/" ID
	                                          "0/hostname /etc/hostname\n",
	    strlen("1 2 3:4 /containers/" ID "0/hostname /etc/hostname\n"),
	    id));
	assert_false(orch_rt_self_parse_mountinfo(
	    "1 2 3:4 /containers/" ID "/hostname", 30, id));
	/* len bounds the text: the id past it is not read. */
	assert_false(orch_rt_self_parse_mountinfo(v2_line, 60, id));
}

/* Files of this test: mountinfo text and a marker that exists or not. */
typedef struct files {
	char dir[64];
	char mountinfo[96];
	char marker[96];
	char none[96];
} files;

static void
files_make(files *f, const char *mountinfo, bool marker)
{
	FILE *fp;

	snprintf(f->dir, sizeof(f->dir), "/tmp/self-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", f->dir);
	snprintf(f->marker, sizeof(f->marker), "%s/.dockerenv", f->dir);
	snprintf(f->none, sizeof(f->none), "%s/absent", f->dir);
	fp = fopen(f->mountinfo, "w");
	assert_non_null(fp);
	fputs(mountinfo, fp);
	fclose(fp);
	if (marker) {
		fp = fopen(f->marker, "w");
		assert_non_null(fp);
		fclose(fp);
	}
}

static void
files_rm(files *f)
{
	unlink(f->mountinfo);
	unlink(f->marker);
	rmdir(f->dir);
}

/* A running container in the fake on network net; its id to *id. */
static void
add_container(orch_fake_rt *fk, const char *name, const char *net, char **id)
{
	orch_rt_create_spec spec = {
	    .name = name, .image = "img:1", .network = net};

	assert_int_equal(orch_fake_rt_add(fk, &spec, true, id), ORCH_OK);
}

static void
test_detect(void **state)
{
	orch_fake_rt *fk;
	orch_runtime rt;
	orch_rt_self s;
	files f;
	char *id = NULL, *other = NULL, mi[512], host[16];

	(void) state;
	assert_int_equal(orch_fake_rt_open(&fk), ORCH_OK);
	orch_fake_rt_image_add(fk, "img:1");
	orch_fake_rt_runtime(fk, &rt);
	add_container(fk, "orch", "orch-net", &id);
	snprintf(mi, sizeof(mi),
	    "1 2 3:4 /var/lib/docker/containers/%s/hostname /etc/hostname "
	    "rw - ext4 /dev/x rw\n",
	    id);

	/* The id in mountinfo, known to the runtime: inspected. */
	files_make(&f, mi, false);
	{
		orch_rt_self_paths p = {f.mountinfo, {f.none, f.none}, NULL};

		orch_rt_self_detect(&rt, &p, &s);
		assert_true(s.in_container);
		assert_true(s.inspected);
		assert_string_equal(s.id, id);
		assert_string_equal(s.c.name, "orch");
		assert_string_equal(s.c.network_mode, "orch-net");
		assert_int_equal(s.c.n_networks, 1);
		assert_string_equal(s.c.networks[0].key, "orch-net");
		orch_rt_self_fini(&s);
		/* No runtime to ask: in a container, not inspected. */
		orch_rt_self_detect(NULL, &p, &s);
		assert_true(s.in_container);
		assert_false(s.inspected);
		assert_string_equal(s.id, id);
		assert_string_not_equal(s.why, "");
		orch_rt_self_fini(&s);
	}
	files_rm(&f);

	/* An id the runtime does not know: in a container, why says so. */
	files_make(&f, v2_line, false);
	{
		orch_rt_self_paths p = {f.mountinfo, {f.none, f.none}, NULL};

		orch_rt_self_detect(&rt, &p, &s);
		assert_true(s.in_container);
		assert_false(s.inspected);
		assert_string_equal(s.id, ID);
		assert_non_null(strstr(s.why, "No such container"));
		orch_rt_self_fini(&s);
	}
	files_rm(&f);

	/* A marker alone and a hostname nobody has (this very machine):
	 * the runtime knows no such container. */
	files_make(&f, elsewhere, true);
	{
		orch_rt_self_paths p = {
		    f.mountinfo, {f.marker, f.none}, "vm-nobody"};

		orch_rt_self_detect(&rt, &p, &s);
		assert_true(s.in_container);
		assert_false(s.inspected);
		assert_string_equal(s.id, "");
		orch_rt_self_fini(&s);
		/* The hostname Docker sets, the id's first 12 digits. */
		snprintf(host, sizeof(host), "%.12s", id);
		p.hostname = host;
		orch_rt_self_detect(&rt, &p, &s);
		assert_true(s.inspected);
		assert_string_equal(s.id, id);
		orch_rt_self_fini(&s);
		/* A hostname that is another container's name: not us. */
		add_container(fk, "other-name", NULL, &other);
		p.hostname = "other-name";
		orch_rt_self_detect(&rt, &p, &s);
		assert_false(s.inspected);
		assert_non_null(strstr(s.why, "another container"));
		orch_rt_self_fini(&s);
	}
	files_rm(&f);

	/* Nothing: not in a container, nothing asked. */
	files_make(&f, elsewhere, false);
	{
		orch_rt_self_paths p = {f.mountinfo, {f.none, f.none}, "x"};

		orch_rt_self_detect(&rt, &p, &s);
		assert_false(s.in_container);
		assert_false(s.inspected);
		assert_null(s.c.id);
		orch_rt_self_fini(&s);
	}
	files_rm(&f);
	free(other);
	free(id);
	orch_fake_rt_close(fk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_detect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
