/*
 * A program checkpointed twice (before and after it changes known things), for `criu-gdb diff`.
 *
 * Set up: a 64-page private region filled with known bytes; a 4-page mapping `gone` and an 8-page
 * mapping `shrink`, each with a free gap around it (so no mapping merges with another); fds 10
 * (kept.txt), 11 (closed-later.txt) and 13 (a listening TCP socket on 127.0.0.1); threads "worker-a"
 * (renamed later) and "doomed" (exits later).
 *
 * On SIGUSR1 it changes exactly: region pages 3, 10, 11 and 40 (one byte each); unmaps `gone`; unmaps
 * the upper half of `shrink`; maps `added` (2 pages); closes fd 11; opens opened-after.txt as fd 12;
 * writes 5 bytes to fd 10 (its position moves); opens a second listening socket as fd 14; renames
 * "worker-a" to "worker-b"; lets "doomed" exit; starts thread "late". Then it writes <scratch>/ack and
 * blocks again. Every address and tid is printed as a fact.
 *
 * argv[1]: an existing scratch directory.
 */
#include "common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define PAGE 4096
#define REGION_PAGES 64
#define GONE_PAGES 4
#define SHRINK_PAGES 8
#define ADDED_PAGES 2
/* Offsets in pages inside the reservation: each mapping has a free gap around it. */
#define REGION_AT 16
#define GONE_AT 96
#define SHRINK_AT 112
#define ADDED_AT 136
#define RESERVE_PAGES 160

static const int changed_pages[] = { 3, 10, 11, 40 };

char *g_region;
char *g_gone;
char *g_shrink;
char *g_added;
static char *g_base;
static volatile sig_atomic_t change_requested;
static pthread_t worker;
static pthread_t doomed;
static pthread_t late;
static int doomed_pipe[2];
static atomic_int g_started;

static void on_usr1(int sig)
{
	(void)sig;
	change_requested = 1;
}

static void *map_at(int page, int pages, char fill)
{
	char *want = g_base + (size_t)page * PAGE;
	char *got = mmap(want, (size_t)pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (got == MAP_FAILED || got != want)
		fail("mmap fixed");
	memset(got, fill, (size_t)pages * PAGE);
	return got;
}

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "worker-a");
	fact("thread.worker.tid", "%ld", (long)syscall(SYS_gettid));
	atomic_fetch_add(&g_started, 1);
	for (;;)
		pause();
	return NULL;
}

static void *doomed_main(void *arg)
{
	(void)arg;
	char byte;
	pthread_setname_np(pthread_self(), "doomed");
	fact("thread.doomed.tid", "%ld", (long)syscall(SYS_gettid));
	atomic_fetch_add(&g_started, 1);
	while (read(doomed_pipe[0], &byte, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void *late_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "late");
	fact("thread.late.tid", "%ld", (long)syscall(SYS_gettid));
	atomic_fetch_add(&g_started, 1);
	for (;;)
		pause();
	return NULL;
}

static void open_at(const char *dir, const char *name, int fd)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int got = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (got < 0)
		fail(path);
	if (dup2(got, fd) < 0)
		fail("dup2");
	close(got);
}

static void listen_at(int fd)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		fail("socket");
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 4) < 0)
		fail("bind/listen");
	if (dup2(s, fd) < 0)
		fail("dup2");
	close(s);
	socklen_t len = sizeof(addr);
	getsockname(fd, (struct sockaddr *)&addr, &len);
	char key[32];
	snprintf(key, sizeof(key), "fd.%d.port", fd);
	fact(key, "%d", ntohs(addr.sin_port));
}

static void start_thread(pthread_t *thread, void *(*main_fn)(void *))
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int before = atomic_load(&g_started);
	if (pthread_create(thread, NULL, main_fn, NULL) != 0)
		fail("pthread_create");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (atomic_load(&g_started) == before)
		usleep(1000);
}

static void change(const char *scratch)
{
	char list[256] = "";
	for (size_t i = 0; i < sizeof(changed_pages) / sizeof(changed_pages[0]); i++) {
		char *page = g_region + (size_t)changed_pages[i] * PAGE;
		page[100] = 'X';
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%p", i ? " " : "", (void *)page);
	}
	fact("changed.pages", "%s", list);
	if (munmap(g_gone, (size_t)GONE_PAGES * PAGE) < 0)
		fail("munmap gone");
	if (munmap(g_shrink + (size_t)(SHRINK_PAGES / 2) * PAGE, (size_t)(SHRINK_PAGES / 2) * PAGE) < 0)
		fail("munmap shrink");
	g_added = map_at(ADDED_AT, ADDED_PAGES, 'a');
	fact("added.addr", "%p", (void *)g_added);
	fact("added.size", "%d", ADDED_PAGES * PAGE);
	fact("shrink.size.after", "%d", SHRINK_PAGES / 2 * PAGE);
	close(11);
	open_at(scratch, "opened-after.txt", 12);
	write_all(10, "hello", 5);
	listen_at(14);
	pthread_setname_np(worker, "worker-b");
	write_all(doomed_pipe[1], "x", 1);
	pthread_join(doomed, NULL);
	start_thread(&late, late_main);
}

int main(int argc, char **argv)
{
	char ack_path[4096];
	if (argc < 2) {
		errno = EINVAL;
		fail("usage: diff_subject SCRATCH_DIR");
	}
	snprintf(ack_path, sizeof(ack_path), "%s/ack", argv[1]);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		fail("sigaction");
	if (pipe(doomed_pipe) < 0)
		fail("pipe");

	start_thread(&worker, worker_main);
	start_thread(&doomed, doomed_main);

	/* Find a free area, give it back, then map inside it at fixed offsets. */
	g_base = mmap(NULL, (size_t)RESERVE_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_base == MAP_FAILED)
		fail("mmap reserve");
	munmap(g_base, (size_t)RESERVE_PAGES * PAGE);
	g_region = map_at(REGION_AT, REGION_PAGES, 'r');
	for (int i = 0; i < REGION_PAGES; i++)
		snprintf(g_region + (size_t)i * PAGE, 32, "region page %d", i);
	g_gone = map_at(GONE_AT, GONE_PAGES, 'g');
	g_shrink = map_at(SHRINK_AT, SHRINK_PAGES, 's');
	fact("region.addr", "%p", (void *)g_region);
	fact("region.size", "%d", REGION_PAGES * PAGE);
	fact("gone.addr", "%p", (void *)g_gone);
	fact("gone.size", "%d", GONE_PAGES * PAGE);
	fact("shrink.addr", "%p", (void *)g_shrink);
	fact("shrink.size.before", "%d", SHRINK_PAGES * PAGE);

	open_at(argv[1], "kept.txt", 10);
	open_at(argv[1], "closed-later.txt", 11);
	listen_at(13);
	ready();

	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	for (;;) {
		sigprocmask(SIG_BLOCK, &block, &old);
		while (!change_requested)
			sigsuspend(&old);
		change_requested = 0;
		sigprocmask(SIG_SETMASK, &old, NULL);
		change(argv[1]);
		int fd = open(ack_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			fail(ack_path);
		write_all(fd, "1\n", 2);
		close(fd);
	}
	return 0;
}
