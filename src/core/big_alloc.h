/* big_alloc.h — allocations of many megabytes (model parameters, encoder and
 * decoder workspaces) that the kernel may back with transparent huge pages.
 *
 * A fresh multi-megabyte malloc is mapped page by page: every 4 KB page costs a
 * page fault the first time it is written (5,000 faults, about 9 ms, for the
 * 20 MB a one-box decode touches; 26,000 for the encoder workspace). Memory from
 * ms_big_alloc is 2 MB aligned and, on Linux, marked MADV_HUGEPAGE, so with
 * transparent huge pages in "always" or "madvise" mode it faults in 2 MB at a
 * time; elsewhere it is ordinary aligned memory. Contents are uninitialised.
 * Free with free(). Thread-safe, no state. */
#ifndef MS_CORE_BIG_ALLOC_H
#define MS_CORE_BIG_ALLOC_H
#include <stddef.h>

/* bytes > 0; NULL when out of memory. */
void *ms_big_alloc(size_t bytes);

#endif
