/* crc32.c — CRC-32 with carry-less multiplication where the CPU has it (see crc32.h).
 *
 * The folding method: the message is kept as four 128-bit accumulators; every 64 bytes each
 * accumulator A is replaced by A.lo * K1 ^ A.hi * K2 ^ next 16 bytes (carry-less products),
 * K1, K2 = x^(4*128+32) and x^(4*128-32) mod P (bit-reflected, 33 bits), which keeps the
 * remainder mod P unchanged; the four are then folded into one with the 128-bit constants
 * K3, K4, the 128 bits reduced to 64 and 32 (K5), and a Barrett reduction (mu = x^64 / P,
 * P' = P) leaves the 32-bit remainder. The constants are those of the CRC-32 polynomial
 * published with the method (Intel, "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ Instruction", 2009). Checked against zlib on every length 0..2048 and larger
 * buffers at every alignment (tests/test_crc32.c). */
#include "core/crc32.h"

#include <zlib.h>

uint32_t ms_crc32_zlib(uint32_t crc, const void *p, size_t n) {
    const unsigned char *b = p;
    uLong c = crc;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return (uint32_t)c;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* PCLMULQDQ and SSE4.1 (pextrd), from the runtime's CPU record (no CPUID per call: in a VM
 * each one traps to the hypervisor). */
static int cpu_has_pclmul(void) { return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"); }

#define CRC_PCLMUL __attribute__((target("pclmul,sse4.1")))

/* a.lo * k.lo ^ a.hi * k.hi ^ d: one accumulator moved forward past d's 16 bytes. */
CRC_PCLMUL static inline __m128i fold(__m128i a, __m128i k, __m128i d) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)), d);
}

/* The raw (not inverted) CRC register after n bytes from `crc`; n >= 64, a multiple of 16. */
CRC_PCLMUL static uint32_t crc32_fold(uint32_t crc, const unsigned char *p, size_t n) {
    const __m128i k12 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);  // lo K1, hi K2: 64 bytes ahead
    const __m128i k34 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);  // lo K3, hi K4: 16 bytes ahead
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124LL);
    const __m128i mu_p = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);  // lo P', hi mu
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
#define LD(q) _mm_loadu_si128((const __m128i *)(q))
    __m128i x0 = _mm_xor_si128(LD(p), _mm_cvtsi32_si128((int)crc)), x1 = LD(p + 16), x2 = LD(p + 32), x3 = LD(p + 48);
    p += 64, n -= 64;
    for (; n >= 64; p += 64, n -= 64) {
        x0 = fold(x0, k12, LD(p));
        x1 = fold(x1, k12, LD(p + 16));
        x2 = fold(x2, k12, LD(p + 32));
        x3 = fold(x3, k12, LD(p + 48));
    }
    x0 = fold(fold(fold(x0, k34, x1), k34, x2), k34, x3);
    for (; n >= 16; p += 16, n -= 16) x0 = fold(x0, k34, LD(p));
#undef LD
    // 128 -> 64 bits: x.lo * K4 ^ x.hi
    __m128i t = _mm_xor_si128(_mm_clmulepi64_si128(x0, k34, 0x10), _mm_srli_si128(x0, 8));
    // 64 -> 32 bits: (t & 0xffffffff) * K5 ^ (t >> 32)
    t = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(t, mask32), k5, 0x00), _mm_srli_si128(t, 4));
    // Barrett: q = (t.lo32 * mu).lo32, t ^= q * P'; the remainder is bits 32..63
    __m128i q = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(t, mask32), mu_p, 0x10), mask32);
    t = _mm_xor_si128(t, _mm_clmulepi64_si128(q, mu_p, 0x00));
    return (uint32_t)_mm_extract_epi32(t, 1);
}

uint32_t ms_crc32(uint32_t crc, const void *p, size_t n) {
    const unsigned char *b = p;
    if (n >= 64 && cpu_has_pclmul()) {
        const size_t m = n & ~(size_t)15;
        crc = ~crc32_fold(~crc, b, m);
        b += m, n -= m;
    }
    return ms_crc32_zlib(crc, b, n);
}
#else
uint32_t ms_crc32(uint32_t crc, const void *p, size_t n) { return ms_crc32_zlib(crc, p, n); }
#endif
