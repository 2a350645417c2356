/* test.h — tiny test harness: each test binary counts its checks and ends
 * with "N passed, N failed"; tests/run_tests.sh adds the binaries up. */
#ifndef MS_TEST_H
#define MS_TEST_H
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int t_passed, t_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            t_passed++;                                                    \
        } else {                                                           \
            t_failed++;                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                    \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* Compares arrays with |a-b| <= atol + rtol*|ref| and also reports relative L2
 * error; prints the worst element. Returns 1 when within tolerance. */
static inline int t_close(const char *what, const float *got, const float *ref, long n, double atol,
                          double rtol, double max_rel_l2) {
    double num = 0, den = 0, worst = -1;
    long worst_i = 0, bad = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= atol + rtol * fabs(ref[i]))) bad++;
        if (!(d <= worst)) { worst = d; worst_i = i; }
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    int ok = bad == 0 && rel <= max_rel_l2 && n > 0;
    printf("%s %-40s n=%ld relL2=%.2e maxabs=%.2e at %ld (got %.7g ref %.7g)%s\n", ok ? "ok  " : "FAIL", what, n,
           rel, worst, worst_i, n ? got[worst_i] : 0.0, n ? ref[worst_i] : 0.0, bad ? " [elements out of tol]" : "");
    if (ok) t_passed++; else t_failed++;
    return ok;
}

/* Whole file into a new buffer (NULL when it cannot be opened); *len gets its size. */
static inline unsigned char *t_slurp(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

/* Writes len bytes to path (best effort: tests check what they read back). */
static inline void t_spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b, 1, len, f);
        fclose(f);
    }
}

/* Removes dir and everything below it (a test's scratch folder). */
static inline void t_rmtree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%.700s/%.255s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) t_rmtree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The fixtures' deterministic input, tools/ref/make_encoder_fixtures.py:hash_input
 * (flat index i, e.g. CHW), values in [0, 1). x: (n) */
static inline void t_hash_input(float *x, long n, uint32_t seed) {
    for (long i = 0; i < n; i++) {
        uint32_t v = (uint32_t)i + seed;
        v = (v ^ (v >> 16)) * 0x7FEB352Du;
        v = (v ^ (v >> 15)) * 0x846CA68Bu;
        v ^= v >> 16;
        x[i] = (float)((double)(v >> 8) / 16777216.0);
    }
}

static inline int t_summary(void) {
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}
#endif
