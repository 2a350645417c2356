/* finite.c — the first inf or NaN of a float array (see finite.h). */
#include "core/finite.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Blocks of 64 values take the largest exponent field (a fixed-length loop of unsigned max,
 * which the compiler vectorises; an or of per-value compares stayed scalar); the first block
 * holding an all-ones exponent (inf or NaN) is searched value by value. */
long ms_first_nonfinite(const float *v, size_t n) {
    size_t k0 = 0;
    for (; k0 + 64 <= n; k0 += 64) {
        uint32_t top = 0;
        for (int j = 0; j < 64; j++) {
            uint32_t b;
            memcpy(&b, v + k0 + j, sizeof b);
            b &= 0x7F800000u;
            top = b > top ? b : top;
        }
        if (top == 0x7F800000u) break;
    }
    for (size_t k = k0; k < n; k++)
        if (!isfinite(v[k])) return (long)k;
    return -1;
}
