/*
 * A program linked with musl, which exports no libthread_db descriptors: its thread-local variables cannot
 * be located the glibc way. The main thread and one named worker each hold a distinct `__thread` value.
 */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

__thread int tls_musl_value = 5;
static atomic_int worker_ready;

static void *worker_main(void *arg)
{
	(void)arg;
	tls_musl_value = 77;
	fact("thread.worker.tid", "%ld", (long)syscall(SYS_gettid));
	fact("thread.worker.tls_musl_value", "%d", tls_musl_value);
	atomic_store(&worker_ready, 1);
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	pthread_t thread;
	tls_musl_value = 42;
	fact("thread.main.tid", "%d", (int)getpid());
	fact("thread.main.tls_musl_value", "%d", tls_musl_value);
	if (pthread_create(&thread, NULL, worker_main, NULL) != 0)
		fail("pthread_create");
	while (!atomic_load(&worker_ready))
		;
	ready();
	for (;;)
		pause();
	return 0;
}
