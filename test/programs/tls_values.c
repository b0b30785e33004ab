/*
 * Thread-local storage in every form gdb reaches through libthread_db or qGetTLSAddr: `__thread` int,
 * array and struct variables of the executable (static TLS), each thread's `errno` (libc's static TLS),
 * and the variables of a library loaded with dlopen() (dynamic TLS), touched by only some threads.
 *
 * Threads (each named, each with distinct values, each blocked in pause()):
 *   main         touches the library; errno ENOENT (open of a missing file)
 *   early-lib    created before the dlopen, touches the library afterwards; errno EBADF (close(-1))
 *   early-plain  created before the dlopen, never touches it (its dtv is older than the module); EEXIST (mkdir)
 *   late-lib     created after the dlopen, touches it; errno ENOTDIR (open below a regular file)
 *   late-plain   created after the dlopen, never touches it (its dtv slot is unallocated); ECHILD (waitpid)
 *
 * argv[1] is a scratch directory, argv[2] the library to load.
 */
#include "common.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct tls_record {
	int id;
	char tag[12];
	double ratio;
};

__thread int tls_counter = 5;
__thread long tls_array[4];
__thread struct tls_record tls_record;
__thread char tls_name[16];

static const char *scratch_dir;
static void (*lib_set)(int, const char *);
static void *(*lib_value_address)(void);
static atomic_int library_loaded;
static atomic_int reported;

enum errno_cause { CAUSE_MISSING_FILE, CAUSE_BAD_FD, CAUSE_EXISTING_DIR, CAUSE_NOT_A_DIR, CAUSE_NO_CHILD };

struct thread_plan {
	const char *name;
	int index;
	int touches_library;
	enum errno_cause cause;
};

static const struct thread_plan plans[] = {
	{ "early-lib", 1, 1, CAUSE_BAD_FD },
	{ "early-plain", 2, 0, CAUSE_EXISTING_DIR },
	{ "late-lib", 3, 1, CAUSE_NOT_A_DIR },
	{ "late-plain", 4, 0, CAUSE_NO_CHILD },
};
#define WORKERS 4

/* Fails a real system call so that errno holds the value a debugger should show. */
static void fail_syscall(enum errno_cause cause)
{
	char path[4096];
	switch (cause) {
	case CAUSE_MISSING_FILE:
		snprintf(path, sizeof(path), "%s/no-such-file", scratch_dir);
		if (open(path, O_RDONLY) >= 0)
			fail("open of a missing file succeeded");
		break;
	case CAUSE_BAD_FD:
		if (close(-1) == 0)
			fail("close(-1) succeeded");
		break;
	case CAUSE_EXISTING_DIR:
		if (mkdir(scratch_dir, 0700) == 0)
			fail("mkdir of an existing directory succeeded");
		break;
	case CAUSE_NOT_A_DIR:
		if (open("/proc/self/exe/below", O_RDONLY) >= 0)
			fail("open below a file succeeded");
		break;
	case CAUSE_NO_CHILD:
		if (waitpid(-1, NULL, WNOHANG) >= 0)
			fail("waitpid without children succeeded");
		break;
	}
}

/* Sets this thread's own TLS values from its index, and reports them. */
static void set_and_report(const char *name, int index, int touches_library)
{
	char key[96];
	tls_counter = 100 * index + 42;
	for (int i = 0; i < 4; i++)
		tls_array[i] = 1000L * index + i;
	tls_record.id = 7 + index;
	snprintf(tls_record.tag, sizeof(tls_record.tag), "rec-%s", name);
	tls_record.ratio = index + 0.25;
	snprintf(tls_name, sizeof(tls_name), "%s", name);

	snprintf(key, sizeof(key), "thread.%s.tid", name);
	fact(key, "%ld", (long)syscall(SYS_gettid));
	snprintf(key, sizeof(key), "thread.%s.tls_counter", name);
	fact(key, "%d", tls_counter);
	snprintf(key, sizeof(key), "thread.%s.tls_counter.addr", name);
	fact(key, "%p", (void *)&tls_counter);
	snprintf(key, sizeof(key), "thread.%s.tls_array", name);
	fact(key, "%ld %ld %ld %ld", tls_array[0], tls_array[1], tls_array[2], tls_array[3]);
	snprintf(key, sizeof(key), "thread.%s.tls_record", name);
	fact(key, "%d %s %.2f", tls_record.id, tls_record.tag, tls_record.ratio);
	snprintf(key, sizeof(key), "thread.%s.tls_name", name);
	fact(key, "%s", tls_name);
	snprintf(key, sizeof(key), "thread.%s.errno.addr", name);
	fact(key, "%p", (void *)&errno);
	snprintf(key, sizeof(key), "thread.%s.touches_library", name);
	fact(key, "%d", touches_library);
	if (touches_library) {
		char label[16];
		snprintf(label, sizeof(label), "lib-%s", name);
		lib_set(10 * index + 3, label);
		snprintf(key, sizeof(key), "thread.%s.lib_tls_value", name);
		fact(key, "%d", 10 * index + 3);
		snprintf(key, sizeof(key), "thread.%s.lib_tls_label", name);
		fact(key, "%s", label);
		snprintf(key, sizeof(key), "thread.%s.lib_tls_value.addr", name);
		fact(key, "%p", lib_value_address());
	}
}

/* Fails the thread's system call and reports errno; nothing after this may touch errno. */
static void set_errno_and_report(const char *name, enum errno_cause cause)
{
	char key[96];
	fail_syscall(cause);
	int seen = errno;
	snprintf(key, sizeof(key), "thread.%s.errno", name);
	fact(key, "%d", seen);
}

static void *worker_main(void *arg)
{
	const struct thread_plan *plan = arg;
	pthread_setname_np(pthread_self(), plan->name);
	if (plan->touches_library)
		while (!atomic_load(&library_loaded))
			sched_yield();
	set_and_report(plan->name, plan->index, plan->touches_library);
	set_errno_and_report(plan->name, plan->cause);
	atomic_fetch_add(&reported, 1);
	for (;;)
		pause();
	return NULL;
}

static void start_worker(const struct thread_plan *plan)
{
	pthread_t thread;
	if (pthread_create(&thread, NULL, worker_main, (void *)plan) != 0)
		fail("pthread_create");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		errno = EINVAL;
		fail("usage: tls_values SCRATCH LIBRARY");
	}
	scratch_dir = argv[1];
	start_worker(&plans[0]);
	start_worker(&plans[1]);

	void *library = dlopen(argv[2], RTLD_NOW);
	if (!library) {
		errno = ENOENT;
		fail(dlerror());
	}
	*(void **)&lib_set = dlsym(library, "lib_tls_set");
	*(void **)&lib_value_address = dlsym(library, "lib_tls_value_address");
	if (!lib_set || !lib_value_address)
		fail("dlsym");
	fact("library.path", "%s", argv[2]);
	atomic_store(&library_loaded, 1);

	start_worker(&plans[2]);
	start_worker(&plans[3]);
	set_and_report("main", 0, 1);
	while (atomic_load(&reported) < WORKERS)
		sched_yield();
	set_errno_and_report("main", CAUSE_MISSING_FILE);
	ready();
	for (;;)
		pause();
	return 0;
}
