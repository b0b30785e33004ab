/*
 * Single-threaded PIE with known globals, a heap string and a call chain
 * main -> level_one -> level_two -> level_three, where level_three blocks in pause() with known locals.
 */
#include "common.h"
#include <signal.h>

struct record {
	int id;
	short flags;
	char tag[12];
	double ratio;
	long long big;
};

int g_answer = 42;
long g_counter = -1234567890123L;
char g_message[32] = "hello from criu-gdb";
const char g_const_text[] = "read-only text";
struct record g_record = { 7, 0x55, "record-tag", 2.5, 0x0123456789abcdefLL };
char *g_heap_string;
int g_bss_array[16];
volatile int g_depth_reached;

static const char HEAP_TEXT[] = "heap string for criu-gdb";

static void __attribute__((noinline)) level_three(int depth, const char *who)
{
	long l3_magic = 0x1122334455667788L;
	int l3_depth = depth;
	char l3_name[16] = "level-three";

	fact("local.level_three.l3_magic", "%ld", l3_magic);
	fact("local.level_three.l3_magic.addr", "%p", (void *)&l3_magic);
	fact("local.level_three.l3_depth", "%d", l3_depth);
	fact("local.level_three.l3_depth.addr", "%p", (void *)&l3_depth);
	fact("local.level_three.l3_name", "%s", l3_name);
	fact("local.level_three.l3_name.addr", "%p", (void *)l3_name);
	fact("local.level_three.who", "%s", who);
	g_depth_reached = 3;
	ready();
	for (;;)
		pause();
}

static void __attribute__((noinline)) level_two(int l1_value)
{
	int l2_value = l1_value * 3;
	fact("local.level_two.l2_value", "%d", l2_value);
	fact("local.level_two.l2_value.addr", "%p", (void *)&l2_value);
	level_three(l2_value, "level_two");
}

void __attribute__((noinline)) level_one(int start)
{
	int l1_value = start + 1;
	fact("local.level_one.l1_value", "%d", l1_value);
	fact("local.level_one.l1_value.addr", "%p", (void *)&l1_value);
	level_two(l1_value);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	g_heap_string = malloc(sizeof(HEAP_TEXT));
	if (!g_heap_string)
		fail("malloc");
	memcpy(g_heap_string, HEAP_TEXT, sizeof(HEAP_TEXT));
	for (int i = 0; i < 16; i++)
		g_bss_array[i] = i * i;

	fact("global.g_answer", "%d", g_answer);
	fact("global.g_answer.addr", "%p", (void *)&g_answer);
	fact("global.g_counter", "%ld", g_counter);
	fact("global.g_counter.addr", "%p", (void *)&g_counter);
	fact("global.g_message", "%s", g_message);
	fact("global.g_message.addr", "%p", (void *)g_message);
	fact("global.g_const_text", "%s", g_const_text);
	fact("global.g_const_text.addr", "%p", (void *)g_const_text);
	fact("global.g_record.id", "%d", g_record.id);
	fact("global.g_record.flags", "%d", g_record.flags);
	fact("global.g_record.tag", "%s", g_record.tag);
	fact("global.g_record.ratio", "%.17g", g_record.ratio);
	fact("global.g_record.big", "%lld", g_record.big);
	fact("global.g_record.addr", "%p", (void *)&g_record);
	fact("global.g_record.size", "%zu", sizeof(g_record));
	fact("global.g_heap_string", "%s", g_heap_string);
	fact("global.g_heap_string.addr", "%p", (void *)&g_heap_string);
	fact("heap.string.addr", "%p", (void *)g_heap_string);
	fact("global.g_bss_array", "0 1 4 9 16 25 36 49 64 81 100 121 144 169 196 225");
	fact("global.g_bss_array.addr", "%p", (void *)g_bss_array);
	fact("function.main.addr", "%p", (void *)main);
	fact("function.level_one.addr", "%p", (void *)level_one);
	fact("function.level_two.addr", "%p", (void *)level_two);
	fact("function.level_three.addr", "%p", (void *)level_three);
	level_one(10);
	return 0;
}
