/* big_alloc.h — allocations of many megabytes that live long or are used hard
 * (model parameters, the encoder workspace), which the kernel may back with
 * transparent huge pages.
 *
 * A fresh multi-megabyte malloc is mapped page by page: every 4 KB page costs a
 * page fault the first time it is written (92,000 for the ViT-B parameters,
 * 25,000 for the encoder buffers), and the GEMMs then walk it through 4 KB TLB
 * entries. Memory from ms_big_alloc is 2 MB aligned and, on Linux, marked
 * MADV_HUGEPAGE, so with transparent huge pages in "always" or "madvise" mode it
 * faults in 2 MB at a time. Not worth it for short-lived per-call scratch: a
 * fresh huge page is zeroed whole (measured slower than 4 KB faults for the
 * decoder's 20 MB per call on a VM). Contents are uninitialised; free with free().
 * Thread-safe, no state. */
#ifndef MS_CORE_BIG_ALLOC_H
#define MS_CORE_BIG_ALLOC_H
#include <stddef.h>

/* bytes > 0; NULL when out of memory. */
void *ms_big_alloc(size_t bytes);

#endif
