/*
 * C++ globals that gdb shows through libstdc++'s pretty printers: a vector, a long string (on the heap), a
 * shared pointer and a map. Live gdb prints `std::vector of length 5, capacity 5 = {1, 2, 3, 5, 8}`; a gdb
 * that did not load the printers prints the raw `_M_impl` members. main blocks in pause().
 */
#include "common.h"
#include <map>
#include <memory>
#include <string>
#include <vector>

std::vector<int> g_vec{1, 2, 3, 5, 8};
std::string g_str = "a std::string long enough to live on the heap, for criu-gdb";
std::shared_ptr<int> g_shared = std::make_shared<int>(42);
std::map<std::string, int> g_map{{"one", 1}, {"two", 2}};

int main()
{
	fact("global.g_vec.size", "%zu", g_vec.size());
	fact("global.g_str", "%s", g_str.c_str());
	fact("global.g_shared", "%d", *g_shared);
	fact("global.g_map.size", "%zu", g_map.size());
	ready();
	for (;;)
		pause();
}
