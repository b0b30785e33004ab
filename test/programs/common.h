/*
 * Shared helpers for criu-gdb's checkpoint test programs.
 *
 * Protocol with test/setup/make-checkpoints.ts (stdout is a regular file):
 *   fact <pid> <key> <value...>   a known value the tests can check (value runs to the end of the line)
 *   ready <pid>                   the program (its whole process tree) is set up; printed by the root process
 * Every line is written with a single write(2), so lines of different processes never interleave.
 */
#ifndef CRIU_GDB_TEST_COMMON_H
#define CRIU_GDB_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __attribute__((unused)) void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(120);
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void __attribute__((unused, format(printf, 2, 3))) fact(const char *key, const char *fmt, ...)
{
	char line[8192];
	int n = snprintf(line, sizeof(line) - 1, "fact %d %s ", (int)getpid(), key);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	write_all(1, line, (size_t)n);
}

/* Writes `len` bytes as lowercase hex (memory order) into `out`, which must hold 2 * len + 1 bytes. */
static __attribute__((unused)) void hex_bytes(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)data;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

static __attribute__((unused)) void ready(void)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "ready %d\n", (int)getpid());
	write_all(1, line, (size_t)n);
}

static void __attribute__((unused, noreturn)) fail(const char *what)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "error %d %s: %s\n", (int)getpid(), what, strerror(errno));
	write_all(2, line, (size_t)n);
	exit(1);
}

#endif
