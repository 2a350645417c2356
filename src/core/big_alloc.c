/* big_alloc.c — 2 MB aligned allocations advised for transparent huge pages (see big_alloc.h). */
#include "core/big_alloc.h"

#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define MS_BIG_ALIGN ((size_t)2 << 20)

void *ms_big_alloc(size_t bytes) {
    if (bytes == 0 || bytes > (size_t)-1 - MS_BIG_ALIGN) return NULL;
    if (bytes < MS_BIG_ALIGN) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    const size_t rounded = (bytes + MS_BIG_ALIGN - 1) & ~(MS_BIG_ALIGN - 1);
    void *p = aligned_alloc(MS_BIG_ALIGN, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}
