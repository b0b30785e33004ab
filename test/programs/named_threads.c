/*
 * Main thread plus four pthreads named with pthread_setname_np, each blocking in its own function
 * in a different way: pause(), read() on an empty pipe, pthread_cond_wait(), nanosleep().
 * Every worker has a thread-local value (so fs_base matters) and a known local.
 */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#define WORKERS 4

__thread long t_worker_value;
int g_worker_count = WORKERS;
atomic_int g_started;
static int empty_pipe[2];
static pthread_mutex_t never_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_cond = PTHREAD_COND_INITIALIZER;

static void describe_self(int index, const char *blocking_in, const void *local)
{
	char key[64];
	char name[16];
	pthread_getname_np(pthread_self(), name, sizeof(name));
	snprintf(key, sizeof(key), "thread.%s.tid", name);
	fact(key, "%ld", (long)syscall(SYS_gettid));
	snprintf(key, sizeof(key), "thread.%s.index", name);
	fact(key, "%d", index);
	snprintf(key, sizeof(key), "thread.%s.function", name);
	fact(key, "%s", blocking_in);
	snprintf(key, sizeof(key), "thread.%s.t_worker_value", name);
	fact(key, "%ld", t_worker_value);
	snprintf(key, sizeof(key), "thread.%s.t_worker_value.addr", name);
	fact(key, "%p", (void *)&t_worker_value);
	snprintf(key, sizeof(key), "thread.%s.local.addr", name);
	fact(key, "%p", local);
}

static void __attribute__((noinline)) block_in_pause(int index)
{
	int pause_local = 1001;
	describe_self(index, "block_in_pause", &pause_local);
	atomic_fetch_add(&g_started, 1);
	for (;;)
		pause();
}

static void __attribute__((noinline)) block_in_read(int index)
{
	int read_local = 1002;
	char byte;
	describe_self(index, "block_in_read", &read_local);
	atomic_fetch_add(&g_started, 1);
	for (;;)
		if (read(empty_pipe[0], &byte, 1) < 0 && errno != EINTR)
			fail("read");
}

static void __attribute__((noinline)) block_in_cond_wait(int index)
{
	int cond_local = 1003;
	describe_self(index, "block_in_cond_wait", &cond_local);
	pthread_mutex_lock(&never_mutex);
	atomic_fetch_add(&g_started, 1);
	for (;;)
		pthread_cond_wait(&never_cond, &never_mutex);
}

static void __attribute__((noinline)) block_in_nanosleep(int index)
{
	int sleep_local = 1004;
	struct timespec ts = { 100000, 0 };
	describe_self(index, "block_in_nanosleep", &sleep_local);
	atomic_fetch_add(&g_started, 1);
	for (;;)
		nanosleep(&ts, NULL);
}

static void *worker_main(void *arg)
{
	int index = (int)(long)arg;
	char name[16];
	snprintf(name, sizeof(name), "worker-%d", index);
	pthread_setname_np(pthread_self(), name);
	t_worker_value = 1000L * index + 7;
	switch (index) {
	case 1:
		block_in_pause(index);
		break;
	case 2:
		block_in_read(index);
		break;
	case 3:
		block_in_cond_wait(index);
		break;
	default:
		block_in_nanosleep(index);
		break;
	}
	return NULL;
}

static void __attribute__((noinline)) main_wait(void)
{
	int main_local = 1000;
	fact("thread.main.local.addr", "%p", (void *)&main_local);
	ready();
	for (;;)
		pause();
}

int main(void)
{
	pthread_t threads[WORKERS];
	if (pipe(empty_pipe) < 0)
		fail("pipe");
	t_worker_value = 7;
	fact("thread.main.tid", "%d", (int)getpid());
	fact("thread.main.t_worker_value", "%ld", t_worker_value);
	fact("thread.main.t_worker_value.addr", "%p", (void *)&t_worker_value);
	fact("global.g_worker_count", "%d", g_worker_count);
	fact("global.g_worker_count.addr", "%p", (void *)&g_worker_count);
	for (long i = 0; i < WORKERS; i++)
		if (pthread_create(&threads[i], NULL, worker_main, (void *)(i + 1)) != 0)
			fail("pthread_create");
	while (atomic_load(&g_started) < WORKERS)
		sched_yield();
	main_wait();
	return 0;
}
