/* bench_util.h — the clock and the median the benchmark programs share. */
#ifndef MS_BENCH_UTIL_H
#define MS_BENCH_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MEDIAN_MAX 64 /* values bench_median takes at most */

static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int bench_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values, 1 <= n <= BENCH_MEDIAN_MAX (sorts a copy). */
static inline double bench_median(const double *v, int n) {
    double s[BENCH_MEDIAN_MAX];
    if (n > BENCH_MEDIAN_MAX) n = BENCH_MEDIAN_MAX;
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, bench_cmp);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

#endif
