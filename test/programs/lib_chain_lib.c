/*
 * Shared library of lib_chain.c (built as libcriugdbchain.so). chain_sort() sorts with libc's qsort, whose
 * comparison callback (in the program) blocks, so a backtrace runs program -> this library -> libc ->
 * program.
 */
#include <stdlib.h>

long chain_lib_calls = 0;
static const char chain_lib_label[] = "criu-gdb chain library";

const char *chain_lib_name(void)
{
	return chain_lib_label;
}

int __attribute__((noinline)) chain_sort(int *values, int count, int (*compare)(const void *, const void *))
{
	int lib_local_count = count;
	chain_lib_calls++;
	qsort(values, (size_t)lib_local_count, sizeof(values[0]), compare);
	return lib_local_count;
}
