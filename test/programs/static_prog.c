/* A statically linked, non-PIE program: main -> static_outer -> static_wait, blocking in pause(). */
#include "common.h"

unsigned int g_static_value = 0x5a5a5a5au;
char g_static_name[24] = "static program";
long g_static_bss;

static void __attribute__((noinline)) static_wait(int rounds)
{
	int sw_rounds = rounds;
	fact("local.static_wait.sw_rounds", "%d", sw_rounds);
	fact("local.static_wait.sw_rounds.addr", "%p", (void *)&sw_rounds);
	ready();
	for (;;)
		pause();
}

static void __attribute__((noinline)) static_outer(void)
{
	g_static_bss = 0x7777;
	static_wait(5);
}

int main(void)
{
	fact("global.g_static_value", "%u", g_static_value);
	fact("global.g_static_value.addr", "%p", (void *)&g_static_value);
	fact("global.g_static_name", "%s", g_static_name);
	fact("global.g_static_name.addr", "%p", (void *)g_static_name);
	fact("global.g_static_bss", "%ld", 0x7777L);
	fact("global.g_static_bss.addr", "%p", (void *)&g_static_bss);
	fact("function.main.addr", "%p", (void *)main);
	fact("function.static_wait.addr", "%p", (void *)static_wait);
	static_outer();
	return 0;
}
