/*
 * Loads known patterns into the vector registers (zmm0-31 and k0-k7 with AVX-512, else ymm0-15 with AVX2)
 * and into most general registers, then blocks in a raw pause() syscall loop written in assembly, so no
 * libc code runs after the registers are loaded and the values are still there at dump time.
 *
 * Facts (bytes are in memory order, i.e. byte 0 of the register first):
 *   avx.mode avx512|avx2, avx.kmov q|w, zmm.N.bytes, ymm.N.bytes, xmm.N.bytes, k.N (hex), gpr.NAME (hex)
 */
#include "common.h"
#include <stdint.h>

#define STR2(x) #x
#define STR(x) STR2(x)

/* Values for the general registers the pause loop does not touch (syscall clobbers rax, rcx, r11). */
#define RBX_VAL 0xb0b0b0b0b0b0b0b1
#define RDX_VAL 0xd0d0d0d0d0d0d0d2
#define RSI_VAL 0x5151515151515153
#define RDI_VAL 0xd1d1d1d1d1d1d1d4
#define R8_VAL 0x0808080808080805
#define R9_VAL 0x0909090909090906
#define R10_VAL 0x1010101010101017
#define R12_VAL 0x1212121212121218
#define R13_VAL 0x1313131313131319
#define R14_VAL 0x141414141414141a
#define R15_VAL 0x151515151515151b

static uint32_t g_zmm_pattern[32][16] __attribute__((aligned(64)));
static uint64_t g_k_pattern[8] __attribute__((aligned(64)));
char g_ready_line[64];

static int cpu_has_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	int found = 0;
	if (!f)
		fail("open /proc/cpuinfo");
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		for (char *tok = strtok(colon + 1, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
			if (strcmp(tok, flag) == 0)
				found = 1;
		break;
	}
	fclose(f);
	return found;
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

#define Z(n) "vmovdqu64 " #n "*64(%%rbx), %%zmm" #n "\n\t"
#define Y(n) "vmovdqu " #n "*64(%%rbx), %%ymm" #n "\n\t"
#define KQ(n) "kmovq " #n "*8(%%rdi), %%k" #n "\n\t"
#define KW(n) "kmovw " #n "*8(%%rdi), %%k" #n "\n\t"
#define Z8(a, b, c, d, e, f, g, h) Z(a) Z(b) Z(c) Z(d) Z(e) Z(f) Z(g) Z(h)
#define Y8(a, b, c, d, e, f, g, h) Y(a) Y(b) Y(c) Y(d) Y(e) Y(f) Y(g) Y(h)
#define ALL_ZMM Z8(0, 1, 2, 3, 4, 5, 6, 7) Z8(8, 9, 10, 11, 12, 13, 14, 15) \
	Z8(16, 17, 18, 19, 20, 21, 22, 23) Z8(24, 25, 26, 27, 28, 29, 30, 31)
#define ALL_YMM Y8(0, 1, 2, 3, 4, 5, 6, 7) Y8(8, 9, 10, 11, 12, 13, 14, 15)

/* write(1, rsi, rdx) the ready line, load the known general registers, then pause() forever. */
#define READY_GPRS_AND_PAUSE \
	"mov $1, %%eax\n\t" \
	"mov $1, %%edi\n\t" \
	"syscall\n\t" \
	"movabs $" STR(RBX_VAL) ", %%rbx\n\t" \
	"movabs $" STR(RDX_VAL) ", %%rdx\n\t" \
	"movabs $" STR(RSI_VAL) ", %%rsi\n\t" \
	"movabs $" STR(RDI_VAL) ", %%rdi\n\t" \
	"movabs $" STR(R8_VAL) ", %%r8\n\t" \
	"movabs $" STR(R9_VAL) ", %%r9\n\t" \
	"movabs $" STR(R10_VAL) ", %%r10\n\t" \
	"movabs $" STR(R12_VAL) ", %%r12\n\t" \
	"movabs $" STR(R13_VAL) ", %%r13\n\t" \
	"movabs $" STR(R14_VAL) ", %%r14\n\t" \
	"movabs $" STR(R15_VAL) ", %%r15\n\t" \
	"1:\n\t" \
	"mov $34, %%eax\n\t" \
	"syscall\n\t" \
	"jmp 1b\n\t"

static void __attribute__((noinline, noreturn)) hold_avx512_q(size_t len)
{
	__asm__ volatile(ALL_ZMM KQ(0) KQ(1) KQ(2) KQ(3) KQ(4) KQ(5) KQ(6) KQ(7) READY_GPRS_AND_PAUSE
			 :
			 : "b"(g_zmm_pattern), "D"(g_k_pattern), "S"(g_ready_line), "d"(len)
			 : "memory", "rax", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
	__builtin_unreachable();
}

static void __attribute__((noinline, noreturn)) hold_avx512_w(size_t len)
{
	__asm__ volatile(ALL_ZMM KW(0) KW(1) KW(2) KW(3) KW(4) KW(5) KW(6) KW(7) READY_GPRS_AND_PAUSE
			 :
			 : "b"(g_zmm_pattern), "D"(g_k_pattern), "S"(g_ready_line), "d"(len)
			 : "memory", "rax", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
	__builtin_unreachable();
}

static void __attribute__((noinline, noreturn)) hold_avx2(size_t len)
{
	__asm__ volatile(ALL_YMM READY_GPRS_AND_PAUSE
			 :
			 : "b"(g_zmm_pattern), "S"(g_ready_line), "d"(len)
			 : "memory", "rax", "rcx", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
	__builtin_unreachable();
}

static void fact_hex64(const char *key, uint64_t value)
{
	fact(key, "0x%016llx", (unsigned long long)value);
}

int main(void)
{
	uint64_t xcr0 = xgetbv0();
	int avx512 = cpu_has_flag("avx512f") && (xcr0 & 0xe6) == 0xe6;
	int kmovq = avx512 && cpu_has_flag("avx512bw");
	int avx2 = cpu_has_flag("avx") && cpu_has_flag("avx2") && (xcr0 & 0x6) == 0x6;
	char hex[2 * 64 + 1];
	char key[32];

	if (!avx512 && !avx2) {
		errno = ENOTSUP;
		fail("neither AVX-512 nor AVX2 is usable");
	}
	int nregs = avx512 ? 32 : 16;
	for (int i = 0; i < 32; i++)
		for (int k = 0; k < 16; k++)
			g_zmm_pattern[i][k] = 0xc0000000u | ((uint32_t)i << 16) | ((uint32_t)k << 8) | 0x5au;
	for (int i = 0; i < 8; i++) {
		uint64_t v = 0xa000000000000000ull | ((uint64_t)(i + 1) << 32) | (0x1111ull * (uint64_t)(i + 1));
		g_k_pattern[i] = kmovq ? v : (v & 0xffff);
	}

	fact("avx.mode", "%s", avx512 ? "avx512" : "avx2");
	fact("avx.kmov", "%s", avx512 ? (kmovq ? "q" : "w") : "none");
	fact_hex64("avx.xcr0", xcr0);
	for (int i = 0; i < nregs; i++) {
		if (avx512) {
			snprintf(key, sizeof(key), "zmm.%d.bytes", i);
			hex_bytes(g_zmm_pattern[i], 64, hex);
			fact(key, "%s", hex);
		}
		snprintf(key, sizeof(key), "ymm.%d.bytes", i);
		hex_bytes(g_zmm_pattern[i], 32, hex);
		fact(key, "%s", hex);
		snprintf(key, sizeof(key), "xmm.%d.bytes", i);
		hex_bytes(g_zmm_pattern[i], 16, hex);
		fact(key, "%s", hex);
	}
	if (avx512) {
		for (int i = 0; i < 8; i++) {
			snprintf(key, sizeof(key), "k.%d", i);
			fact_hex64(key, g_k_pattern[i]);
		}
	}
	fact_hex64("gpr.rbx", RBX_VAL);
	fact_hex64("gpr.rdx", RDX_VAL);
	fact_hex64("gpr.rsi", RSI_VAL);
	fact_hex64("gpr.rdi", RDI_VAL);
	fact_hex64("gpr.r8", R8_VAL);
	fact_hex64("gpr.r9", R9_VAL);
	fact_hex64("gpr.r10", R10_VAL);
	fact_hex64("gpr.r12", R12_VAL);
	fact_hex64("gpr.r13", R13_VAL);
	fact_hex64("gpr.r14", R14_VAL);
	fact_hex64("gpr.r15", R15_VAL);
	fact("function.hold.name", "%s", avx512 ? (kmovq ? "hold_avx512_q" : "hold_avx512_w") : "hold_avx2");

	size_t len = (size_t)snprintf(g_ready_line, sizeof(g_ready_line), "ready %d\n", (int)getpid());
	if (avx512 && kmovq)
		hold_avx512_q(len);
	else if (avx512)
		hold_avx512_w(len);
	else
		hold_avx2(len);
}
