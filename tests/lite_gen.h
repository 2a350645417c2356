/* lite_gen.h — the generated inputs of tools/ref/make_lite_pipeline_fixtures.py
 * (hash32, gen_image, gen_logits), mirrored for tests/test_resize_area.c and
 * tests/test_lite_pipeline.c. */
#ifndef MS_TEST_LITE_GEN_H
#define MS_TEST_LITE_GEN_H
#include <stddef.h>
#include <stdint.h>

// mirror of make_lite_pipeline_fixtures.py:hash32
static inline uint32_t hash32(uint32_t x, uint32_t y, uint32_t c, uint32_t seed) {
    uint32_t u = x * 0x9E3779B1u + y * 0x85EBCA77u + c * 0xC2B2AE3Du + seed * 0x27D4EB2Fu;
    u ^= u >> 15;
    u *= 0x2C1B3C6Du;
    u ^= u >> 12;
    u *= 0x297A2D39u;
    u ^= u >> 15;
    return u;
}

// mirror of make_lite_pipeline_fixtures.py:gen_image. img: (h, w, cn)
static inline void gen_image(uint8_t *img, int w, int h, int cn, int kind, int seed) {
    const long long cx = (2LL * w) / 5, cy = (11LL * h) / 20, ax = (3LL * w) / 10 + 1, ay = h / 4 + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < cn; c++) {
                uint32_t v;
                if (kind == 0) v = hash32(x, y, c, seed) & 255;
                else if (kind == 1) v = hash32(x, y, c, seed) % 3;
                else if (kind == 2) v = (uint32_t)(((3 * y + 5 * x) / 4 + 40 * c + seed) % 256);
                else v = (x - cx) * (x - cx) * ay * ay + (y - cy) * (y - cy) * ax * ax <= ax * ax * ay * ay ? (uint32_t)seed : 0;
                img[((size_t)y * w + x) * cn + c] = (uint8_t)v;
            }
}

// mirror of make_lite_pipeline_fixtures.py:gen_logits. out: (L, L)
static inline void gen_logits(float *out, int L, int seed) {
    for (int y = 0; y < L; y++)
        for (int x = 0; x < L; x++) {
            const double noise = (double)((long long)(hash32(x, y, 0, seed) % 20001) - 10000) / 1000.0;
            const double bump = ((x - 100) * (x - 100) + (y - 90) * (y - 90) < 60 * 60) ? 4.0 : -4.0;
            out[(size_t)y * L + x] = (float)(noise + bump);
        }
}

#endif
