/* test_intensity_select.c — the MR percentiles without a copy of the volume (radix selection
 * over the float64 bit patterns, intensity.c) against the former copy + quickselect path,
 * bit for bit, on float32, float64, int32 and scaled int16 volumes with ties, negatives,
 * zeros and single positive voxels. (tests/test_intensity.c holds both to NumPy's fixtures.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/intensity.h"
#include "test.h"

static uint64_t g_rng = 0x243F6A8885A308D3ULL;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}

static void check(const char *what, const void *data, ms_voxel_type t, int64_t n, int scaled, double slope,
                  double inter) {
    ms_samples s = {.data = data, .type = t, .scaled = scaled, .slope = slope, .inter = inter, .n = n,
                    .arith = (t == MS_VOX_FLOAT32 && !scaled) ? MS_ARITH_F32 : MS_ARITH_F64};
    uint8_t *out = malloc((size_t)n);
    double lo = 0, hi = 0, clo = 0, chi = 0;
    medsam_error e1, e2;
    medsam_status s1 = ms_intensity_percentile(&s, out, &lo, &hi, &e1);
    medsam_status s2 = ms_intensity_percentiles_copy(&s, &clo, &chi, &e2);
    int same = s1 == s2 && (s1 || (memcmp(&lo, &clo, sizeof lo) == 0 && memcmp(&hi, &chi, sizeof hi) == 0));
    CHECK(same, "%s: radix %d [%.17g, %.17g] vs copy %d [%.17g, %.17g]", what, s1, lo, hi, s2, clo, chi);
    printf("%s %-36s n=%-8lld p0.5 %.17g p99.5 %.17g%s\n", same ? "ok  " : "FAIL", what, (long long)n, lo, hi,
           same ? " (identical)" : "");
    free(out);
}

int main(void) {
    const int64_t n = 300001;
    float *f = malloc(sizeof(float) * n);
    double *d = malloc(sizeof(double) * n);
    int32_t *i32 = malloc(sizeof(int32_t) * n);
    int16_t *i16 = malloc(sizeof(int16_t) * n);
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = rnd();
        f[i] = (r % 5 == 0) ? 0.0f : (float)((double)(r % 100000) / 7.0 - 2000.0);  // zeros, negatives, ties
        d[i] = (r % 7 == 0) ? 0.0 : ((double)rnd() / 4294967296.0) * 1e6 - 1e5;
        i32[i] = (int32_t)(r % 200001) - 50000;
        i16[i] = (int16_t)((int)(r % 4000) - 1000);
    }
    check("float32 (float32 arithmetic)", f, MS_VOX_FLOAT32, n, 0, 0, 0);
    check("float64", d, MS_VOX_FLOAT64, n, 0, 0, 0);
    check("int32", i32, MS_VOX_INT32, n, 0, 0, 0);
    check("int16 scaled 0.37x + 12.5", i16, MS_VOX_INT16, n, 1, 0.37, 12.5);
    check("float32 scaled 2x - 1", f, MS_VOX_FLOAT32, n, 1, 2.0, -1.0);
    for (int64_t i = 0; i < n; i++) f[i] = i == n / 2 ? 3.25f : 0.0f;
    check("float32, one voxel > 0", f, MS_VOX_FLOAT32, n, 0, 0, 0);
    for (int64_t i = 0; i < n; i++) f[i] = (i % 3) ? 1.5f : 2.5f;
    check("float32, two values", f, MS_VOX_FLOAT32, n, 0, 0, 0);
    for (int64_t i = 0; i < n; i++) d[i] = -1.0;
    check("float64, nothing > 0 (refused)", d, MS_VOX_FLOAT64, 1000, 0, 0, 0);
    for (int64_t i = 0; i < 7; i++) d[i] = 1e-310 * (double)(i + 1);  // subnormals
    check("float64, 7 subnormals", d, MS_VOX_FLOAT64, 7, 0, 0, 0);
    free(f), free(d), free(i32), free(i16);
    return t_summary();
}
