/*
 * An 8 MiB anonymous region for incremental dumps. Every page starts as "page N gen 0" followed by a
 * filler byte. On SIGUSR1 the program rewrites pages 0, 4, 8, ... (every 4th page, 512 in all) to
 * "page N gen 1" with another filler, writes the file <scratch>/ack, and blocks again.
 *
 * argv[1]: an existing scratch directory.
 */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>

#define PAGE 4096
#define REGION_PAGES 2048
#define CHANGE_EVERY 4

char *g_region;
int g_generation;
static volatile sig_atomic_t change_requested;

static void on_usr1(int sig)
{
	(void)sig;
	change_requested = 1;
}

static void fill_region(int generation)
{
	for (int i = 0; i < REGION_PAGES; i++) {
		if (generation > 0 && i % CHANGE_EVERY != 0)
			continue;
		char *page = g_region + (size_t)i * PAGE;
		memset(page, generation == 0 ? 'g' : 'G', PAGE);
		int n = snprintf(page, 64, "page %d gen %d", i, generation);
		page[n] = '\0';
	}
	g_generation = generation;
}

static void __attribute__((noinline)) wait_for_signal(const char *ack_path)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	for (;;) {
		sigprocmask(SIG_BLOCK, &block, &old);
		while (!change_requested)
			sigsuspend(&old);
		change_requested = 0;
		sigprocmask(SIG_SETMASK, &old, NULL);
		fill_region(g_generation + 1);
		fact("generation", "%d", g_generation);
		int fd = open(ack_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			fail(ack_path);
		char line[32];
		int n = snprintf(line, sizeof(line), "%d\n", g_generation);
		write_all(fd, line, (size_t)n);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	char ack_path[4096];
	if (argc < 2) {
		errno = EINVAL;
		fail("usage: incremental SCRATCH_DIR");
	}
	snprintf(ack_path, sizeof(ack_path), "%s/ack", argv[1]);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		fail("sigaction");

	g_region = mmap(NULL, (size_t)REGION_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_region == MAP_FAILED)
		fail("mmap");
	fill_region(0);
	fact("region.addr", "%p", (void *)g_region);
	fact("region.size", "%d", REGION_PAGES * PAGE);
	fact("region.pages", "%d", REGION_PAGES);
	fact("region.change_every", "%d", CHANGE_EVERY);
	fact("region.page_format", "%s", "page %d gen %d\\0 then filler");
	fact("region.filler.gen0", "%c", 'g');
	fact("region.filler.gen1", "%c", 'G');
	fact("ack.path", "%s", ack_path);
	fact("generation", "%d", g_generation);
	ready();
	wait_for_signal(ack_path);
	return 0;
}
