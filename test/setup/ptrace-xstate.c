/*
 * Ground truth for the vector and mask registers of stopped threads, independent of gdb.
 *
 * gdb 13 decodes the XSAVE area with Intel's fixed component offsets, which are wrong on CPUs without MPX
 * (AMD Zen 4 puts the AVX-512 components 256 bytes lower). This tool asks the kernel for each thread's
 * XSAVE area (PTRACE_GETREGSET NT_X86_XSTATE, standard format) and decodes it with the running CPU's own
 * offsets from CPUID leaf 0xD, as the kernel laid it out.
 *
 * Usage: ptrace-xstate TID...   (the threads must be stopped, e.g. by SIGSTOP; they stay stopped)
 * Prints one JSON object: the CPU's XCR0 and component offsets, and per thread XSTATE_BV and every
 * register as little-endian hex bytes (memory order): xmm0-15, ymm0-15, zmm0-31, k0-7, pkru. A register
 * whose component is not in XCR0 is left out; one whose component is in its initial state (XSTATE_BV bit
 * clear) reads as zeros, as XRSTOR would restore it.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

#define XSAVE_MAX 16384
#define XSTATE_BV_OFFSET 512
#define LEGACY_XMM_OFFSET 160
#define XCR0_OFFSET_IN_SW_BYTES 464

enum { C_AVX = 2, C_OPMASK = 5, C_ZMM_HI256 = 6, C_HI16_ZMM = 7, C_PKRU = 9, C_MAX = 10 };

struct component {
	uint32_t size, offset;
};

static struct component components[C_MAX];
static uint64_t cpu_xcr0;

static void die(const char *what, int tid)
{
	fprintf(stderr, "ptrace-xstate: %s (thread %d): %s\n", what, tid, strerror(errno));
	exit(1);
}

static void read_cpuid(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d)) {
		fprintf(stderr, "ptrace-xstate: CPUID leaf 0xD is not supported\n");
		exit(1);
	}
	cpu_xcr0 = ((uint64_t)d << 32) | a;
	for (unsigned i = 2; i < C_MAX; i++) {
		if (!((cpu_xcr0 >> i) & 1))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		components[i].size = a;
		components[i].offset = b;
	}
}

static int has(unsigned component)
{
	return (cpu_xcr0 >> component) & 1;
}

static void put_hex(const uint8_t *bytes, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++)
		printf("%02x", bytes[i]);
	putchar('"');
}

/* Copies `len` bytes of a component, or zeros when the component is in its initial state. */
static void component_bytes(const uint8_t *area, uint64_t xstate_bv, unsigned component, size_t at, size_t len, uint8_t *out)
{
	if ((xstate_bv >> component) & 1)
		memcpy(out, area + components[component].offset + at, len);
	else
		memset(out, 0, len);
}

static void print_register(int *first, const char *name, int index, const uint8_t *bytes, size_t len)
{
	printf("%s\"%s%d\":", *first ? "" : ",", name, index);
	put_hex(bytes, len);
	*first = 0;
}

static void print_thread(int tid, const uint8_t *area, size_t area_len)
{
	uint64_t xstate_bv, sw_xcr0;
	memcpy(&xstate_bv, area + XSTATE_BV_OFFSET, 8);
	memcpy(&sw_xcr0, area + XCR0_OFFSET_IN_SW_BYTES, 8);
	printf("{\"tid\":%d,\"size\":%zu,\"xcr0\":\"0x%llx\",\"xstateBv\":\"0x%llx\",\"registers\":{", tid, area_len,
	       (unsigned long long)sw_xcr0, (unsigned long long)xstate_bv);
	int first = 1;
	uint8_t reg[64];
	int avx512 = has(C_OPMASK) && has(C_ZMM_HI256) && has(C_HI16_ZMM);
	for (int i = 0; i < 16; i++) {
		/* SSE state is always in the legacy area (an init SSE component reads as zeros there too). */
		if ((xstate_bv >> 1) & 1)
			memcpy(reg, area + LEGACY_XMM_OFFSET + 16 * i, 16);
		else
			memset(reg, 0, 16);
		print_register(&first, "xmm", i, reg, 16);
		if (!has(C_AVX))
			continue;
		component_bytes(area, xstate_bv, C_AVX, 16 * (size_t)i, 16, reg + 16);
		print_register(&first, "ymm", i, reg, 32);
		if (!avx512)
			continue;
		component_bytes(area, xstate_bv, C_ZMM_HI256, 32 * (size_t)i, 32, reg + 32);
		print_register(&first, "zmm", i, reg, 64);
	}
	if (avx512) {
		for (int i = 16; i < 32; i++) {
			component_bytes(area, xstate_bv, C_HI16_ZMM, 64 * (size_t)(i - 16), 64, reg);
			print_register(&first, "zmm", i, reg, 64);
		}
		for (int i = 0; i < 8; i++) {
			component_bytes(area, xstate_bv, C_OPMASK, 8 * (size_t)i, 8, reg);
			print_register(&first, "k", i, reg, 8);
		}
	}
	if (has(C_PKRU)) {
		component_bytes(area, xstate_bv, C_PKRU, 0, 4, reg);
		printf("%s\"pkru\":", first ? "" : ",");
		put_hex(reg, 4);
	}
	printf("}}");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: ptrace-xstate TID...\n");
		return 2;
	}
	read_cpuid();
	static uint8_t area[XSAVE_MAX];
	printf("{\"cpuXcr0\":\"0x%llx\",\"components\":{", (unsigned long long)cpu_xcr0);
	int first = 1;
	for (unsigned i = 2; i < C_MAX; i++) {
		if (!has(i))
			continue;
		printf("%s\"%u\":{\"offset\":%u,\"size\":%u}", first ? "" : ",", i, components[i].offset, components[i].size);
		first = 0;
	}
	printf("},\"threads\":[");
	for (int t = 1; t < argc; t++) {
		int tid = atoi(argv[t]);
		int status;
		/* Seize and interrupt: the thread reports a ptrace stop and, after detach, goes back to its group stop. */
		if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0)
			die("PTRACE_SEIZE", tid);
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
			die("PTRACE_INTERRUPT", tid);
		if (waitpid(tid, &status, __WALL) != tid)
			die("waitpid", tid);
		memset(area, 0, sizeof(area));
		struct iovec iov = { area, sizeof(area) };
		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) != 0)
			die("PTRACE_GETREGSET NT_X86_XSTATE", tid);
		if (ptrace(PTRACE_DETACH, tid, 0, 0) != 0)
			die("PTRACE_DETACH", tid);
		if (t > 1)
			putchar(',');
		print_thread(tid, area, iov.iov_len);
	}
	printf("]}\n");
	return 0;
}
