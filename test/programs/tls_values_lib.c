/*
 * The shared library that tls_values loads with dlopen(): thread-local variables of a module loaded after
 * the process started, so their blocks live in the dynamic TLS area and exist only in the threads that
 * touched them.
 */
#include <string.h>

__thread int lib_tls_value = 11;
__thread char lib_tls_label[16] = "lib-initial";

/* Sets this thread's values, which allocates its block of the library's TLS. */
void lib_tls_set(int value, const char *label)
{
	lib_tls_value = value;
	strncpy(lib_tls_label, label, sizeof(lib_tls_label) - 1);
}

/* Address of this thread's lib_tls_value (allocates the block too). */
void *lib_tls_value_address(void)
{
	return &lib_tls_value;
}
