/*
 * Runs inside the emulated arm64 guest (test/setup/make-arm64-fixtures.sh), on a stopped process:
 *
 *   guest-probe mem PID OUTDIR   writes every mapping of /proc/PID/maps as OUTDIR/PID-START.bin (pages that
 *                                cannot be read are zeros and listed in OUTDIR/PID-START.unreadable as
 *                                "start end" hex lines)
 *   guest-probe regs TID...      prints each thread's registers as ptrace gives them (NT_PRSTATUS,
 *                                NT_FPREGSET, NT_ARM_TLS), one "reg TID NAME 0xVALUE" line each; v0-v31 as
 *                                32 hex digits in memory order. The thread stays stopped and untraced.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <asm/ptrace.h>

static void die(const char *what, long id)
{
	fprintf(stderr, "guest-probe: %s %ld: %s\n", what, id, strerror(errno));
	exit(1);
}

static int dump_memory(const char *pid, const char *outdir)
{
	char path[256];
	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	FILE *maps = fopen(path, "r");
	if (!maps)
		die("open maps of", atol(pid));
	snprintf(path, sizeof(path), "/proc/%s/mem", pid);
	int mem = open(path, O_RDONLY);
	if (mem < 0)
		die("open mem of", atol(pid));
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *buf = malloc((size_t)page);
	char line[4096];
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end;
		if (sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		snprintf(path, sizeof(path), "%s/%s-%lx.bin", outdir, pid, start);
		FILE *out = fopen(path, "w");
		snprintf(path, sizeof(path), "%s/%s-%lx.unreadable", outdir, pid, start);
		FILE *bad = fopen(path, "w");
		if (!out || !bad)
			die("create output for", (long)start);
		setvbuf(out, NULL, _IOFBF, 1 << 20);
		for (unsigned long at = start; at < end; at += (unsigned long)page) {
			ssize_t n = pread(mem, buf, (size_t)page, (off_t)at);
			if (n != page) {
				memset(buf, 0, (size_t)page);
				fprintf(bad, "%lx %lx\n", at, at + (unsigned long)page);
			}
			fwrite(buf, 1, (size_t)page, out);
		}
		fclose(out);
		fclose(bad);
	}
	fclose(maps);
	close(mem);
	return 0;
}

static void print_hex128(long tid, const char *name, const void *bytes)
{
	const unsigned char *p = bytes;
	printf("reg %ld %s 0x", tid, name);
	for (int i = 0; i < 16; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int dump_registers(int count, char **tids)
{
	for (int i = 0; i < count; i++) {
		long tid = atol(tids[i]);
		int status;
		if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0)
			die("PTRACE_SEIZE", tid);
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
			die("PTRACE_INTERRUPT", tid);
		if (waitpid((pid_t)tid, &status, __WALL) != tid)
			die("waitpid", tid);
		struct user_pt_regs gp;
		struct iovec iov = { &gp, sizeof(gp) };
		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) != 0)
			die("NT_PRSTATUS", tid);
		for (int r = 0; r < 31; r++)
			printf("reg %ld x%d 0x%llx\n", tid, r, (unsigned long long)gp.regs[r]);
		printf("reg %ld sp 0x%llx\nreg %ld pc 0x%llx\nreg %ld pstate 0x%llx\n", tid, (unsigned long long)gp.sp, tid,
		       (unsigned long long)gp.pc, tid, (unsigned long long)gp.pstate);
		struct user_fpsimd_state fp;
		iov.iov_base = &fp;
		iov.iov_len = sizeof(fp);
		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_FPREGSET, &iov) != 0)
			die("NT_FPREGSET", tid);
		for (int r = 0; r < 32; r++) {
			char name[8];
			snprintf(name, sizeof(name), "v%d", r);
			print_hex128(tid, name, &fp.vregs[r]);
		}
		printf("reg %ld fpsr 0x%x\nreg %ld fpcr 0x%x\n", tid, fp.fpsr, tid, fp.fpcr);
		uint64_t tls[2] = { 0, 0 };
		iov.iov_base = tls;
		iov.iov_len = sizeof(tls);
		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_TLS, &iov) == 0) {
			printf("reg %ld tpidr 0x%llx\n", tid, (unsigned long long)tls[0]);
			if (iov.iov_len >= 16)
				printf("reg %ld tpidr2 0x%llx\n", tid, (unsigned long long)tls[1]);
		}
		if (ptrace(PTRACE_DETACH, tid, 0, 0) != 0)
			die("PTRACE_DETACH", tid);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "mem") == 0)
		return dump_memory(argv[2], argv[3]);
	if (argc >= 3 && strcmp(argv[1], "regs") == 0)
		return dump_registers(argc - 2, argv + 2);
	fprintf(stderr, "usage: guest-probe mem PID OUTDIR | guest-probe regs TID...\n");
	return 2;
}
