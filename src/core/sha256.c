/* sha256.c — SHA-256 as FIPS 180-4 specifies it (section 6.2), byte-oriented. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/sha256.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define SHA_HAVE_NI 1

/* CPUID leaf 7: EBX bit 29 = SHA extensions; leaf 1: ECX bit 19 = SSE4.1 (the blends below). */
static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19))) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1;
}

/* `nblocks` 64-byte blocks with SHA256RNDS2 / SHA256MSG1 / SHA256MSG2: the state kept as
 * (A,B,E,F) and (C,D,G,H) lanes, each 4-round group's message words from the schedule
 * W[t] = W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]) (MSG1 gives the first two terms, an
 * ALIGNR the third, MSG2 the last). The same compression function as block() above. */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t h[8], const unsigned char *p,
                                                                    size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);  // C D A B
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);  // E F G H
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                                       // A B E F
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);                                            // C D G H
    for (; nblocks > 0; nblocks--, p += 64) {
        const __m128i save0 = st0, save1 = st1;
        __m128i w[4];  // the last four groups of message words, group g in w[g % 4]
        for (int g = 0; g < 16; g++) {
            __m128i m;
            if (g < 4) {
                m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
            } else {
                m = _mm_sha256msg1_epu32(w[g % 4], w[(g + 1) % 4]);              // W[t-16] + s0(W[t-15])
                m = _mm_add_epi32(m, _mm_alignr_epi8(w[(g + 3) % 4], w[(g + 2) % 4], 4));  // + W[t-7]
                m = _mm_sha256msg2_epu32(m, w[(g + 3) % 4]);                     // + s1(W[t-2])
            }
            w[g % 4] = m;
            __m128i mk = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K[4 * g]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, mk);  // rounds 4g, 4g+1
            mk = _mm_shuffle_epi32(mk, 0x0E);
            st0 = _mm_sha256rnds2_epu32(st0, st1, mk);  // rounds 4g+2, 4g+3
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);        // F E B A
    st1 = _mm_shuffle_epi32(st1, 0xB1);        // D C H G
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);     // D C B A
    st1 = _mm_alignr_epi8(st1, tmp, 8);        // H G F E
    _mm_storeu_si128((__m128i *)&h[0], st0);
    _mm_storeu_si128((__m128i *)&h[4], st1);
}
#else
#define SHA_HAVE_NI 0
static int cpu_has_shani(void) { return 0; }
#endif

static void blocks(const ms_sha256 *s, uint32_t h[8], const unsigned char *p, size_t nblocks) {
#if SHA_HAVE_NI
    if (s->shani) {
        blocks_shani(h, p, nblocks);
        return;
    }
#endif
    (void)s;
    for (; nblocks > 0; nblocks--, p += 64) block(h, p);
}

void ms_sha256_init(ms_sha256 *s) {
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, H0, sizeof H0);
    s->bytes = 0;
    s->nbuf = 0;
    s->shani = cpu_has_shani();
}

void ms_sha256_update(ms_sha256 *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->bytes += n;
    if (s->nbuf > 0) {  // complete the buffered block first
        size_t k = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, k);
        s->nbuf += k, p += k, n -= k;
        if (s->nbuf < 64) return;
        blocks(s, s->h, s->buf, 1);
        s->nbuf = 0;
    }
    blocks(s, s->h, p, n / 64);  // whole blocks straight from the input
    p += n / 64 * 64, n %= 64;
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

void ms_sha256_final(ms_sha256 *s, unsigned char out[32]) {
    uint64_t bits = s->bytes * 8;
    unsigned char pad[72] = {0x80};
    size_t npad = (s->nbuf < 56 ? 56 : 120) - s->nbuf;
    for (int i = 0; i < 8; i++) pad[npad + i] = (unsigned char)(bits >> (56 - 8 * i));
    ms_sha256_update(s, pad, npad + 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(s->h[i] >> (24 - 8 * j));
}

medsam_status ms_sha256_file(const char *path, char hex[65], medsam_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return ms_error(err, MEDSAM_ERR_IO, "%s: %s", path, strerror(errno));
    ms_sha256 s;
    ms_sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) ms_sha256_update(&s, buf, n);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return ms_error(err, MEDSAM_ERR_IO, "%s: read error", path);
    unsigned char d[32];
    ms_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return MEDSAM_OK;
}
