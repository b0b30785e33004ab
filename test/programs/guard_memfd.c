/*
 * Two mappings whose bytes CRIU keeps in unusual places:
 * - an anonymous mapping of 8 pages, page i filled with byte 0x11 * (i + 1), with guard pages
 *   (madvise MADV_GUARD_INSTALL, Linux 6.13 and later) installed over pages 2 and 3; CRIU 4.2 records them
 *   as an extra VMA entry over the real one;
 * - a memfd of 8 pages written through its fd (page i filled with 'a' + i) and mapped MAP_PRIVATE; only
 *   pages 1 and 5 are written through the mapping (their first byte becomes 'X'), the others are never
 *   touched there, so their bytes are the memfd's.
 * The memfd stays open (fd fact memfd.fd).
 */
#include "common.h"
#include <sys/mman.h>

#define PAGE 4096
#define PAGES 8
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

unsigned char *g_guarded;
unsigned char *g_memfd_private;

int main(void)
{
	g_guarded = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_guarded == MAP_FAILED)
		fail("mmap anonymous");
	for (int i = 0; i < PAGES; i++)
		memset(g_guarded + i * PAGE, 0x11 * (i + 1), PAGE);
	int guarded = madvise(g_guarded + 2 * PAGE, 2 * PAGE, MADV_GUARD_INSTALL) == 0;
	fact("guard.supported", "%d", guarded);
	fact("guard.map.addr", "%p", (void *)g_guarded);
	fact("guard.start", "%p", (void *)(g_guarded + 2 * PAGE));
	fact("guard.end", "%p", (void *)(g_guarded + 4 * PAGE));

	int fd = memfd_create("criu-gdb-private", 0);
	if (fd < 0)
		fail("memfd_create");
	char page[PAGE];
	for (int i = 0; i < PAGES; i++) {
		memset(page, 'a' + i, PAGE);
		write_all(fd, page, PAGE);
	}
	g_memfd_private = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (g_memfd_private == MAP_FAILED)
		fail("mmap memfd");
	g_memfd_private[1 * PAGE] = 'X';
	g_memfd_private[5 * PAGE] = 'X';
	fact("memfd.fd", "%d", fd);
	fact("memfd.addr", "%p", (void *)g_memfd_private);
	fact("memfd.touched", "1,5");
	ready();
	for (;;)
		pause();
}
