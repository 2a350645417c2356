/* crc32.h — CRC-32 as zip and zlib define it (polynomial 0xEDB88320, reflected, inverted in
 * and out), for checking checkpoint entries: carry-less multiplication (PCLMULQDQ) where the CPU
 * has it, zlib's crc32() otherwise and for the last < 16 bytes. Thread-safe, no state. */
#ifndef MS_CRC32_H
#define MS_CRC32_H
#include <stddef.h>
#include <stdint.h>

/* ms_crc32(0, p, n) is the CRC of p[0..n); ms_crc32(ms_crc32(0, a, na), b, nb) that of a then b
 * (the same as zlib's crc32(crc, p, n)). */
uint32_t ms_crc32(uint32_t crc, const void *p, size_t n);

/* The same through zlib alone (the tests' reference). */
uint32_t ms_crc32_zlib(uint32_t crc, const void *p, size_t n);

#endif
