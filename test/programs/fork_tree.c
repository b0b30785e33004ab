/*
 * A process tree: parent -> child-a -> grandchild, and parent -> child-b.
 * Every process sets its own g_role / g_role_name and its name with prctl(PR_SET_NAME),
 * then blocks in pause() inside wait_here(). The parent prints "ready" once all are set up.
 */
#include "common.h"
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

int g_role = 1;
char g_role_name[16] = "ft-parent";
int g_shared_before_fork = 4242;

static int ready_pipe[2];

/* Records this process's facts, tells the parent (notify_fd >= 0) or prints "ready" (root), and blocks. */
static void __attribute__((noinline, noreturn)) wait_here(int notify_fd)
{
	int wait_local = g_role * 10;
	fact("local.wait_here.wait_local", "%d", wait_local);
	fact("local.wait_here.wait_local.addr", "%p", (void *)&wait_local);
	if (notify_fd >= 0) {
		char byte = 'r';
		write_all(notify_fd, &byte, 1);
		close(notify_fd);
	} else {
		ready();
	}
	for (;;)
		pause();
}

static void become(int role, const char *name)
{
	g_role = role;
	snprintf(g_role_name, sizeof(g_role_name), "%s", name);
	if (prctl(PR_SET_NAME, name, 0, 0, 0) < 0)
		fail("prctl");
	fact("role", "%s", name);
	fact("global.g_role", "%d", g_role);
	fact("global.g_role.addr", "%p", (void *)&g_role);
	fact("global.g_role_name", "%s", g_role_name);
	fact("global.g_role_name.addr", "%p", (void *)g_role_name);
	fact("global.g_shared_before_fork", "%d", g_shared_before_fork);
	fact("ppid", "%d", (int)getppid());
}

static void __attribute__((noreturn)) child_done(void)
{
	wait_here(ready_pipe[1]);
}

int main(void)
{
	if (pipe(ready_pipe) < 0)
		fail("pipe");
	pid_t a = fork();
	if (a < 0)
		fail("fork");
	if (a == 0) {
		close(ready_pipe[0]);
		become(2, "ft-child-a");
		pid_t g = fork();
		if (g < 0)
			fail("fork");
		if (g == 0) {
			become(4, "ft-grandchild");
			child_done();
		}
		fact("child.grandchild", "%d", (int)g);
		child_done();
	}
	pid_t b = fork();
	if (b < 0)
		fail("fork");
	if (b == 0) {
		close(ready_pipe[0]);
		become(3, "ft-child-b");
		child_done();
	}
	close(ready_pipe[1]);
	become(1, "ft-parent");
	fact("child.a", "%d", (int)a);
	fact("child.b", "%d", (int)b);
	for (int seen = 0; seen < 3;) {
		char byte;
		ssize_t n = read(ready_pipe[0], &byte, 1);
		if (n == 1)
			seen++;
		else if (n == 0 || errno != EINTR)
			fail("read ready pipe");
	}
	close(ready_pipe[0]);
	wait_here(-1);
}
