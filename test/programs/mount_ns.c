/*
 * A process in a mount namespace of its own, so that CRIU dumps the namespace's mounts
 * (mountpoints-NSID.img): it unshares the mount namespace, makes every mount private, mounts a tmpfs on
 * SCRATCH/mnt, then reopens its output and executes itself again, so that nothing it holds (executable,
 * fds) still refers to a mount of the parent namespace, which CRIU could not name. Once running inside, it
 * reports every line of its own /proc/self/mountinfo as facts (mount.count, mount.N = "MOUNTPOINT TYPE
 * SOURCE") and waits.
 *
 * argv[1]: an existing scratch directory.
 */
#include "common.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* Globals the tests read: the tmpfs mount point and the number of mounts. */
char g_mount_point[4096];
int g_mount_count;

static void report_mounts(void)
{
	FILE *info = fopen("/proc/self/mountinfo", "r");
	if (!info)
		fail("mountinfo");
	char line[4096];
	int count = 0;
	while (fgets(line, sizeof(line), info)) {
		char mountpoint[1024], type[256], source[1024];
		/* id parent major:minor root mountpoint options [optional...] - type source superoptions */
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %1023s", mountpoint) != 1 || sscanf(dash + 3, "%255s %1023s", type, source) != 2)
			continue;
		char key[32];
		snprintf(key, sizeof(key), "mount.%d", count++);
		fact(key, "%s %s %s", mountpoint, type, source);
	}
	fclose(info);
	g_mount_count = count;
	fact("mount.count", "%d", count);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		fail("usage: mount_ns SCRATCH");
	if (argc > 2 && strcmp(argv[2], "inside") == 0) {
		snprintf(g_mount_point, sizeof(g_mount_point), "%s/mnt", argv[1]);
		report_mounts();
		ready();
		for (;;)
			pause();
	}
	char out[4096], exe[4096], point[4096];
	ssize_t n = readlink("/proc/self/fd/1", out, sizeof(out) - 1);
	ssize_t m = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0 || m < 0)
		fail("readlink");
	out[n] = exe[m] = '\0';
	snprintf(point, sizeof(point), "%s/mnt", argv[1]);
	if (unshare(CLONE_NEWNS) < 0)
		fail("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("mount --make-rprivate /");
	mkdir(point, 0700);
	if (mount("criu-gdb-tmpfs", point, "tmpfs", 0, "size=1m,mode=0700") < 0)
		fail("mount tmpfs");
	fact("mount.tmpfs", "%s", point);
	/* Output and stdin opened again from inside the namespace; nothing else kept. */
	int fd = open(out, O_WRONLY | O_APPEND);
	int null = open("/dev/null", O_RDONLY);
	if (fd < 0 || null < 0)
		fail("reopen");
	dup2(fd, 1);
	dup2(fd, 2);
	dup2(null, 0);
	for (int i = 3; i < 1024; i++)
		close(i);
	execl(exe, argv[0], argv[1], "inside", (char *)NULL);
	fail("exec");
}
