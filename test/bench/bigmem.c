/* Benchmark subject: maps SIZE_MIB of anonymous memory and fills every page with distinct data, maps
 * 256 MiB more that it never touches (zero pages), then waits to be checkpointed.
 * Usage: bigmem SIZE_MIB READY_FILE   (READY_FILE gets "DATA_ADDR SIZE ZERO_ADDR ZERO_SIZE") */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define ZERO_SIZE ((size_t)256 << 20)

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  size_t size = (size_t)strtoul(argv[1], NULL, 10) << 20;
  uint64_t *region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *zeros = mmap(NULL, ZERO_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED || zeros == MAP_FAILED) return 1;
  for (size_t i = 0; i < size / sizeof(uint64_t); i++) region[i] = i * 0x9e3779b97f4a7c15ull;
  int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 1;
  dprintf(fd, "%p %zu %p %zu\n", (void *)region, size, zeros, ZERO_SIZE);
  close(fd);
  for (;;) pause();
}
