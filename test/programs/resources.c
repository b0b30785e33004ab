/*
 * Holds one of each kind of resource CRIU has to dump, with known contents:
 * a regular file (position 8), a pipe with unread data, a unix socketpair with unread data,
 * a TCP listener and a UDP socket on 127.0.0.1 (ephemeral ports), an eventfd (count 7),
 * a memfd written with known content and mapped MAP_SHARED, a MAP_SHARED|MAP_ANONYMOUS region,
 * a MAP_PRIVATE mapping of a regular file with pages 1 and 3 modified (0 and 2 not),
 * and a deleted-but-open file.
 *
 * argv[1]: an existing scratch directory for the files.
 */
#include "common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define PAGE 4096

static const char REGULAR_TEXT[] = "regular file contents: 0123456789\n";
static const char PIPE_TEXT[] = "pipe data waiting to be read\n";
static const char SOCKETPAIR_TEXT[] = "socketpair data waiting\n";
static const char DELETED_TEXT[] = "contents of a deleted but still open file\n";

void *g_memfd_map;
void *g_shared_anon;
void *g_private_file_map;
int g_fds[16];

static void fill_page(char *page, const char *head, char filler)
{
	memset(page, filler, PAGE);
	memcpy(page, head, strlen(head));
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail(path);
	write_all(fd, data, len);
	return fd;
}

static int bound_socket(int type, int *port)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, type, 0);
	if (fd < 0)
		fail("socket");
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail("bind");
	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		fail("getsockname");
	*port = ntohs(addr.sin_port);
	return fd;
}

int main(int argc, char **argv)
{
	char path[4096];
	char page[PAGE];
	if (argc < 2) {
		errno = EINVAL;
		fail("usage: resources SCRATCH_DIR");
	}
	const char *dir = argv[1];

	/* Regular file, left open at position 8. */
	snprintf(path, sizeof(path), "%s/regular.txt", dir);
	int regular = write_file(path, REGULAR_TEXT, strlen(REGULAR_TEXT));
	if (lseek(regular, 8, SEEK_SET) != 8)
		fail("lseek");
	fact("fd.regular", "%d", regular);
	fact("regular.path", "%s", path);
	fact("regular.content", "%s", "regular file contents: 0123456789");
	fact("regular.pos", "%d", 8);

	/* Pipe with unread data. */
	int pipefd[2];
	if (pipe(pipefd) < 0)
		fail("pipe");
	write_all(pipefd[1], PIPE_TEXT, strlen(PIPE_TEXT));
	fact("fd.pipe.read", "%d", pipefd[0]);
	fact("fd.pipe.write", "%d", pipefd[1]);
	fact("pipe.data", "%s", "pipe data waiting to be read");
	fact("pipe.data.length", "%zu", strlen(PIPE_TEXT));

	/* Unix socketpair with unread data queued for sv[1]. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		fail("socketpair");
	write_all(sv[0], SOCKETPAIR_TEXT, strlen(SOCKETPAIR_TEXT));
	fact("fd.socketpair.0", "%d", sv[0]);
	fact("fd.socketpair.1", "%d", sv[1]);
	fact("socketpair.data", "%s", "socketpair data waiting");
	fact("socketpair.data.length", "%zu", strlen(SOCKETPAIR_TEXT));

	/* TCP listener and UDP socket. */
	int tcp_port, udp_port;
	int tcp = bound_socket(SOCK_STREAM, &tcp_port);
	if (listen(tcp, 8) < 0)
		fail("listen");
	int udp = bound_socket(SOCK_DGRAM, &udp_port);
	fact("fd.tcp", "%d", tcp);
	fact("tcp.port", "%d", tcp_port);
	fact("tcp.address", "%s", "127.0.0.1");
	fact("fd.udp", "%d", udp);
	fact("udp.port", "%d", udp_port);

	/* eventfd with count 7. */
	int efd = eventfd(0, 0);
	if (efd < 0)
		fail("eventfd");
	unsigned long long seven = 7;
	write_all(efd, (const char *)&seven, sizeof(seven));
	fact("fd.eventfd", "%d", efd);
	fact("eventfd.count", "%d", 7);

	/* memfd: two pages of known content, mapped MAP_SHARED. */
	int mfd = memfd_create("criu-gdb-memfd", 0);
	if (mfd < 0)
		fail("memfd_create");
	for (int i = 0; i < 2; i++) {
		char head[64];
		snprintf(head, sizeof(head), "memfd page %d content", i);
		fill_page(page, head, (char)('M' + i));
		write_all(mfd, page, PAGE);
	}
	g_memfd_map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (g_memfd_map == MAP_FAILED)
		fail("mmap memfd");
	fact("fd.memfd", "%d", mfd);
	fact("memfd.name", "%s", "criu-gdb-memfd");
	fact("memfd.addr", "%p", g_memfd_map);
	fact("memfd.size", "%d", 2 * PAGE);
	fact("memfd.page.0", "%s", "memfd page 0 content");
	fact("memfd.page.0.filler", "%c", 'M');
	fact("memfd.page.1", "%s", "memfd page 1 content");
	fact("memfd.page.1.filler", "%c", 'N');

	/* Shared anonymous memory: three pages of known content. */
	g_shared_anon = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_shared_anon == MAP_FAILED)
		fail("mmap shared anonymous");
	for (int i = 0; i < 3; i++) {
		char head[64];
		snprintf(head, sizeof(head), "shared anon page %d", i);
		fill_page((char *)g_shared_anon + i * PAGE, head, (char)('S' + i));
	}
	fact("shared_anon.addr", "%p", g_shared_anon);
	fact("shared_anon.size", "%d", 3 * PAGE);
	fact("shared_anon.page.0", "%s", "shared anon page 0");
	fact("shared_anon.page.0.filler", "%c", 'S');
	fact("shared_anon.page.1", "%s", "shared anon page 1");
	fact("shared_anon.page.1.filler", "%c", 'T');
	fact("shared_anon.page.2", "%s", "shared anon page 2");
	fact("shared_anon.page.2.filler", "%c", 'U');

	/* Private file mapping: four pages, 1 and 3 modified in memory only. */
	snprintf(path, sizeof(path), "%s/private-mapped.bin", dir);
	int pfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (pfd < 0)
		fail(path);
	for (int i = 0; i < 4; i++) {
		char head[64];
		snprintf(head, sizeof(head), "file page %d original", i);
		fill_page(page, head, (char)('a' + i));
		write_all(pfd, page, PAGE);
	}
	g_private_file_map = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, pfd, 0);
	if (g_private_file_map == MAP_FAILED)
		fail("mmap private file");
	close(pfd);
	volatile char sink = 0;
	for (int i = 0; i < 4; i++)
		sink ^= ((volatile char *)g_private_file_map)[i * PAGE]; /* fault every page in */
	(void)sink;
	for (int i = 1; i < 4; i += 2) {
		char head[64];
		snprintf(head, sizeof(head), "modified page %d", i);
		memcpy((char *)g_private_file_map + i * PAGE, head, strlen(head));
	}
	fact("private_file.path", "%s", path);
	fact("private_file.addr", "%p", g_private_file_map);
	fact("private_file.size", "%d", 4 * PAGE);
	fact("private_file.modified_pages", "%s", "1 3");
	fact("private_file.page.0", "%s", "file page 0 original");
	fact("private_file.page.1", "%s", "modified page 1");
	fact("private_file.page.2", "%s", "file page 2 original");
	fact("private_file.page.3", "%s", "modified page 3");
	for (int i = 0; i < 4; i++) {
		char key[64];
		snprintf(key, sizeof(key), "private_file.page.%d.filler", i);
		fact(key, "%c", 'a' + i);
	}

	/* Deleted but still open file. */
	snprintf(path, sizeof(path), "%s/deleted.txt", dir);
	int dfd = write_file(path, DELETED_TEXT, strlen(DELETED_TEXT));
	if (unlink(path) < 0)
		fail("unlink");
	fact("fd.deleted", "%d", dfd);
	fact("deleted.path", "%s", path);
	fact("deleted.content", "%s", "contents of a deleted but still open file");
	fact("deleted.length", "%zu", strlen(DELETED_TEXT));

	int n = 0;
	g_fds[n++] = regular;
	g_fds[n++] = pipefd[0];
	g_fds[n++] = pipefd[1];
	g_fds[n++] = sv[0];
	g_fds[n++] = sv[1];
	g_fds[n++] = tcp;
	g_fds[n++] = udp;
	g_fds[n++] = efd;
	g_fds[n++] = mfd;
	g_fds[n++] = dfd;
	fact("global.g_fds.count", "%d", n);
	fact("global.g_memfd_map.addr", "%p", (void *)&g_memfd_map);
	ready();
	for (;;)
		pause();
}
