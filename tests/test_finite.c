/* test_finite.c — ms_first_nonfinite against a value-by-value search: every length 0..300,
 * one or two of NaN, +inf, -inf at every position, denormals and the largest floats (finite). */
#include "core/finite.h"
#include "test.h"

static long by_value(const float *v, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (!isfinite(v[k])) return (long)k;
    return -1;
}

int main(void) {
    float v[301];
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 301; i++) v[i] = i % 3 == 0 ? 3.4028235e38f : i % 3 == 1 ? -1.4e-45f : (float)i;
    long wrong = 0, checks = 0;
    for (size_t n = 0; n <= 300; n++) {
        wrong += ms_first_nonfinite(v, n) != -1, checks++;
        for (size_t p = 0; p < n; p++) {
            const float keep = v[p], keep2 = v[n - 1];
            v[p] = bad[p % 3];
            if (p + 70 < n) v[n - 1] = bad[(p + 1) % 3];  // a later one too
            wrong += ms_first_nonfinite(v, n) != by_value(v, n) || by_value(v, n) != (long)p, checks++;
            v[n - 1] = keep2, v[p] = keep;
        }
    }
    CHECK(wrong == 0, "ms_first_nonfinite: %ld of %ld searches wrong", wrong, checks);
    CHECK(ms_first_nonfinite(NULL, 0) == -1, "empty array");
    return t_summary();
}
