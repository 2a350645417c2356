/* big_alloc.c — 2 MB aligned allocations advised for transparent huge pages (see big_alloc.h). */
#include "core/big_alloc.h"

#include <stdint.h>
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

void ms_prefault(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    const uintptr_t page = 4096, a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + bytes) & ~(page - 1);
    if (p && b > a) (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE); /* advice only */
#else
    (void)p, (void)bytes;
#endif
}

void ms_prefault_threads(void *p, size_t bytes, int nthreads) {
    if (nthreads < 2 || bytes < 2 * MS_BIG_ALIGN) {
        ms_prefault(p, bytes);
        return;
    }
    // nthreads pieces, split on 2 MB boundaries (a huge page is mapped by one thread, whole)
    const uintptr_t a = (uintptr_t)p, b = a + bytes;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int t = 0; t < nthreads; t++) {
        uintptr_t lo = t == 0 ? a : (a + bytes / nthreads * t + MS_BIG_ALIGN - 1) & ~(uintptr_t)(MS_BIG_ALIGN - 1);
        uintptr_t hi = t == nthreads - 1 ? b : (a + bytes / nthreads * (t + 1) + MS_BIG_ALIGN - 1) & ~(uintptr_t)(MS_BIG_ALIGN - 1);
        if (lo > b) lo = b;
        if (hi > b) hi = b;
        if (hi > lo) ms_prefault((void *)lo, hi - lo);
    }
}
