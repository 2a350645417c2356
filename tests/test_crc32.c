/* test_crc32.c — src/core/crc32.c (carry-less multiplication where the CPU has it) against
 * zlib's crc32(): every length 0..2048 at three alignments, chained calls split at every
 * offset of a 300-byte message, a 3 MB buffer, and the check value of "123456789". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32.h"
#include "test.h"

int main(void) {
    const size_t big = 3u << 20;
    unsigned char *b = malloc(big + 64);
    uint32_t r = 2463534242u;
    for (size_t i = 0; i < big + 64; i++) r ^= r << 13, r ^= r >> 17, r ^= r << 5, b[i] = (unsigned char)r;
    int bad = 0;
    for (size_t n = 0; n <= 2048; n++)
        for (int off = 0; off < 3; off++) bad += ms_crc32((uint32_t)n * 7u, b + off, n) != ms_crc32_zlib((uint32_t)n * 7u, b + off, n);
    CHECK(bad == 0, "%d of %d (length, alignment) cases differ from zlib", bad, 2049 * 3);
    const uint32_t whole = ms_crc32_zlib(0, b, 300);
    bad = 0;
    for (size_t k = 0; k <= 300; k++) bad += ms_crc32(ms_crc32(0, b, k), b + k, 300 - k) != whole;
    CHECK(bad == 0, "%d of 301 split points give another CRC", bad);
    CHECK(ms_crc32(0, b + 5, big) == ms_crc32_zlib(0, b + 5, big), "3 MB buffer differs from zlib");
    CHECK(ms_crc32(0, "123456789", 9) == 0xCBF43926u, "check value of \"123456789\"");
    free(b);
    return t_summary();
}
