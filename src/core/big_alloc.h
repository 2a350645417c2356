/* big_alloc.h — large buffers that are worked on hard right after allocation
 * (the encoder's input and workspace), which the kernel may back with
 * transparent huge pages.
 *
 * A fresh multi-megabyte malloc is mapped page by page: every 4 KB page costs a
 * page fault the first time it is written (25,000 for the encoder buffers), and
 * the GEMMs then walk it through 4 KB TLB entries. Memory from ms_big_alloc is
 * 2 MB aligned and, on Linux, marked MADV_HUGEPAGE, so with transparent huge
 * pages in "always" or "madvise" mode it faults in 2 MB at a time.
 * A fresh huge page is zeroed whole, which was slow on one test VM: for the model
 * parameters (written once, by reads) the 4 KB path measured faster there (load
 * 0.16 s vs 0.42-0.5 s in a fresh process) and on a Zen 3 VM the huge pages made
 * the load bimodal (0.066 or 0.14 s), so they use plain malloc. The decoder's
 * per-call scratch measured faster in huge pages on the Zen 3 VM (3.5 ms vs 12-16 ms
 * to map 29 MB). Contents are uninitialised; free with free().
 * Thread-safe, no state. */
#ifndef MS_CORE_BIG_ALLOC_H
#define MS_CORE_BIG_ALLOC_H
#include <stddef.h>

/* bytes > 0; NULL when out of memory. */
void *ms_big_alloc(size_t bytes);

/* Maps every page of [p, p + bytes) now, in one system call (Linux 5.14+
 * MADV_POPULATE_WRITE; elsewhere, or when refused, nothing happens): the pages a
 * buffer is about to be written through then cost no page fault each. */
void ms_prefault(void *p, size_t bytes);

/* ms_prefault split over up to nthreads threads (the kernel zeroes each fresh page: for a
 * buffer of tens of MB that is milliseconds a thread). */
void ms_prefault_threads(void *p, size_t bytes, int nthreads);

#endif
