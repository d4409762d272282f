#define _GNU_SOURCE
#include "heap_stats.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>

// The totals at the end of malloc_info's XML cover every arena (mallinfo2 covers only the main
// one, and a threaded server allocates in many): in use = obtained from the system - free chunks
// + mmap'd chunks.
size_t evalengine_heap_in_use_bytes(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return 0;
    if (malloc_info(0, f) != 0) { fclose(f); free(buf); return 0; }
    fclose(f);
    unsigned long long fast = 0, rest = 0, mmapped = 0, current = 0;
    // The last </heap> ends the per-arena part; the totals follow it.
    char *totals = buf;
    for (char *p = strstr(buf, "</heap>"); p != NULL; p = strstr(p + 1, "</heap>")) totals = p;
    char *p;
    if ((p = strstr(totals, "<total type=\"fast\""))) sscanf(p, "<total type=\"fast\" count=\"%*u\" size=\"%llu\"", &fast);
    if ((p = strstr(totals, "<total type=\"rest\""))) sscanf(p, "<total type=\"rest\" count=\"%*u\" size=\"%llu\"", &rest);
    if ((p = strstr(totals, "<total type=\"mmap\""))) sscanf(p, "<total type=\"mmap\" count=\"%*u\" size=\"%llu\"", &mmapped);
    if ((p = strstr(totals, "<system type=\"current\""))) sscanf(p, "<system type=\"current\" size=\"%llu\"", &current);
    free(buf);
    unsigned long long used = current > fast + rest ? current - fast - rest : 0;
    return (size_t)(used + mmapped);
}
#else
size_t evalengine_heap_in_use_bytes(void) { return 0; }
#endif
