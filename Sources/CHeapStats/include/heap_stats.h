#ifndef EVALENGINE_HEAP_STATS_H
#define EVALENGINE_HEAP_STATS_H
#include <stddef.h>

/// Bytes the process's malloc has handed out and not had back, over every arena (glibc's
/// malloc_info totals); 0 where it is not known. Unlike RSS it does not move with
/// fragmentation or with pages the allocator keeps, so a leak shows in it and nothing else does.
size_t evalengine_heap_in_use_bytes(void);

#endif
