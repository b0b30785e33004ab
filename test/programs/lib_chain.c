/*
 * PIE linked with its own shared library (lib_chain_lib.c, libcriugdbchain.so) and libc: main -> run_chain
 * -> chain_sort (the library) -> qsort (libc) -> compare_and_block (this program), which blocks in pause()
 * with known locals the first time it is called.
 */
#include "common.h"
#include <signal.h>

int chain_sort(int *values, int count, int (*compare)(const void *, const void *));
const char *chain_lib_name(void);
extern long chain_lib_calls;

int g_values[6] = { 42, 7, 19, 3, 88, 1 };
char g_chain_tag[24] = "lib-chain tag";

static int __attribute__((noinline)) compare_and_block(const void *a, const void *b)
{
	int left = *(const int *)a;
	int right = *(const int *)b;
	long compare_magic = 0x0c0ffee0c0ffeeL;
	static int blocked;
	if (!blocked) {
		blocked = 1;
		fact("compare.left", "%d", left);
		fact("compare.right", "%d", right);
		fact("compare.magic.addr", "%p", (void *)&compare_magic);
		fact("chain_lib_calls", "%ld", chain_lib_calls);
		fact("chain_lib_name", "%s", chain_lib_name());
		fact("chain_sort", "%p", (void *)chain_sort);
		ready();
		for (;;)
			pause();
	}
	return (left > right) - (left < right) + (int)(compare_magic & 0);
}

static int __attribute__((noinline)) run_chain(int count)
{
	int run_local = count * 100;
	fact("run_chain.run_local", "%d", run_local);
	return chain_sort(g_values, count, compare_and_block);
}

int main(void)
{
	fact("g_values.addr", "%p", (void *)g_values);
	return run_chain(6) == 6 ? 0 : 1;
}
