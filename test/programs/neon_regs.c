/*
 * aarch64 only. Loads every FP/SIMD register v0-v31, FPCR, FPSR and the callee-saved general registers
 * x19-x28 with known values, prints them as facts, then blocks in ppoll(2) from inline assembly so that no
 * library code runs between the loads and the checkpoint.
 *   fact PID vN <32 hex digits>   the 16 bytes of vN in memory order (lane 0 first)
 *   fact PID xN 0x...             x19..x28
 *   fact PID fpcr 0x... / fpsr 0x...
 */
#include "common.h"
#include <stdint.h>

#ifndef __aarch64__
#error "neon_regs.c is for aarch64"
#endif

#define FPCR_VALUE 0x00c00000UL /* RMode = round towards zero */
#define FPSR_VALUE 0x08000000UL /* QC, the cumulative saturation bit */

static unsigned char g_vector_bytes[32][16] __attribute__((aligned(16)));
static uint64_t g_general[10];

static void fill_values(void)
{
	for (int reg = 0; reg < 32; reg++)
		for (int lane = 0; lane < 16; lane++)
			g_vector_bytes[reg][lane] = (unsigned char)(reg * 17 + lane * 3 + 0x21);
	/* v30: the doubles 1.5 and -2.25; v31: the floats 1, 2, 3, 4 */
	double doubles[2] = { 1.5, -2.25 };
	float floats[4] = { 1.0f, 2.0f, 3.0f, 4.0f };
	memcpy(g_vector_bytes[30], doubles, sizeof(doubles));
	memcpy(g_vector_bytes[31], floats, sizeof(floats));
	for (int i = 0; i < 10; i++)
		g_general[i] = 0x0101010101010101ULL * (uint64_t)(0x19 + i) ^ 0xa5a50000a5a50000ULL;
}

static void report_values(void)
{
	char key[16];
	char hex[33];
	for (int reg = 0; reg < 32; reg++) {
		snprintf(key, sizeof(key), "v%d", reg);
		hex_bytes(g_vector_bytes[reg], 16, hex);
		fact(key, "%s", hex);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "x%d", 19 + i);
		fact(key, "0x%llx", (unsigned long long)g_general[i]);
	}
	fact("fpcr", "0x%lx", FPCR_VALUE);
	fact("fpsr", "0x%lx", FPSR_VALUE);
}

static void __attribute__((noinline, noreturn)) load_and_block(void)
{
	const unsigned char *vectors = &g_vector_bytes[0][0];
	const uint64_t *general = g_general;
	__asm__ volatile(
		"ldp x19, x20, [%[gen], #0]\n\t"
		"ldp x21, x22, [%[gen], #16]\n\t"
		"ldp x23, x24, [%[gen], #32]\n\t"
		"ldp x25, x26, [%[gen], #48]\n\t"
		"ldp x27, x28, [%[gen], #64]\n\t"
		"mov x9, %[fpcr]\n\t"
		"msr fpcr, x9\n\t"
		"mov x9, %[fpsr]\n\t"
		"msr fpsr, x9\n\t"
		"mov x9, %[vec]\n\t"
		"ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [x9], #64\n\t"
		"ld1 {v4.16b, v5.16b, v6.16b, v7.16b}, [x9], #64\n\t"
		"ld1 {v8.16b, v9.16b, v10.16b, v11.16b}, [x9], #64\n\t"
		"ld1 {v12.16b, v13.16b, v14.16b, v15.16b}, [x9], #64\n\t"
		"ld1 {v16.16b, v17.16b, v18.16b, v19.16b}, [x9], #64\n\t"
		"ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [x9], #64\n\t"
		"ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [x9], #64\n\t"
		"ld1 {v28.16b, v29.16b, v30.16b, v31.16b}, [x9], #64\n\t"
		"1:\n\t"
		"mov x0, #0\n\t" /* ppoll(NULL, 0, NULL, NULL, 0): blocks until a signal */
		"mov x1, #0\n\t"
		"mov x2, #0\n\t"
		"mov x3, #0\n\t"
		"mov x4, #0\n\t"
		"mov x8, #73\n\t" /* __NR_ppoll */
		"svc #0\n\t"
		"b 1b\n\t"
		:
		: [gen] "r"(general), [vec] "r"(vectors), [fpcr] "r"(FPCR_VALUE), [fpsr] "r"(FPSR_VALUE)
		: "x0", "x1", "x2", "x3", "x4", "x8", "x9", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27",
		  "x28", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
		  "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30",
		  "v31", "memory");
	__builtin_unreachable();
}

int main(void)
{
	fill_values();
	report_values();
	fact("load_and_block", "%p", (void *)load_and_block);
	ready();
	load_and_block();
}
