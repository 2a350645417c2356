/* field.c — random numbers and smooth fields for the synthetic generator. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "synth/synth_internal.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void syn_rng_seed(syn_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t syn_u64(syn_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double syn_uniform(syn_rng *r, double lo, double hi) {
    return lo + (hi - lo) * ((syn_u64(r) >> 11) * 0x1.0p-53);
}

int syn_int(syn_rng *r, int lo, int hi) {
    return lo + (int)(syn_u64(r) % (uint64_t)(hi - lo + 1));
}

double syn_normal(syn_rng *r) {
    double u = syn_uniform(r, 1e-12, 1.0), v = syn_uniform(r, 0.0, 1.0);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static inline float smooth(float t) { return t * t * (3.f - 2.f * t); }

void syn_noise(syn_rng *r, float *out, int S, int cells, int octaves) {
    memset(out, 0, (size_t)S * S * sizeof *out);
    float amp = 1.f, norm = 0.f;
    for (int o = 0; o < octaves; o++, cells *= 2, amp *= 0.5f) {
        const int n = cells + 1;
        float *lat = malloc((size_t)n * n * sizeof *lat);  // (n, n) lattice values
        if (!lat) return;
        for (int i = 0; i < n * n; i++) lat[i] = (float)syn_uniform(r, -1.0, 1.0);
        const float step = (float)cells / S;
        for (int y = 0; y < S; y++) {
            float fy = (y + 0.5f) * step;
            int iy = (int)fy;
            if (iy >= cells) iy = cells - 1;
            float ty = smooth(fy - iy);
            for (int x = 0; x < S; x++) {
                float fx = (x + 0.5f) * step;
                int ix = (int)fx;
                if (ix >= cells) ix = cells - 1;
                float tx = smooth(fx - ix);
                const float *l0 = lat + (size_t)iy * n + ix, *l1 = l0 + n;
                float a = l0[0] + (l0[1] - l0[0]) * tx, b = l1[0] + (l1[1] - l1[0]) * tx;
                out[(size_t)y * S + x] += amp * (a + (b - a) * ty);
            }
        }
        norm += amp;
        free(lat);
    }
    if (norm > 0.f)
        for (long i = 0; i < (long)S * S; i++) out[i] /= norm;
}

void syn_blur(float *f, int w, int h, float sigma, float *scratch) {
    if (sigma <= 0.05f) return;
    int rad = (int)ceilf(3.f * sigma);
    if (rad > 64) rad = 64;
    float k[129], sum = 0.f;
    for (int i = -rad; i <= rad; i++) sum += k[i + rad] = expf(-0.5f * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * rad; i++) k[i] /= sum;
    for (int y = 0; y < h; y++)  // rows into scratch
        for (int x = 0; x < w; x++) {
            float acc = 0.f;
            for (int i = -rad; i <= rad; i++) {
                int xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                acc += k[i + rad] * f[(size_t)y * w + xx];
            }
            scratch[(size_t)y * w + x] = acc;
        }
    for (int y = 0; y < h; y++)  // columns back into f
        for (int x = 0; x < w; x++) {
            float acc = 0.f;
            for (int i = -rad; i <= rad; i++) {
                int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                acc += k[i + rad] * scratch[(size_t)yy * w + x];
            }
            f[(size_t)y * w + x] = acc;
        }
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float syn_quantile(const float *v, long n, double q, float *scratch) {
    if (n <= 0) return 0.f;
    memcpy(scratch, v, (size_t)n * sizeof *v);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_float);
    long i = (long)(q * (n - 1) + 0.5);
    return scratch[i < 0 ? 0 : i >= n ? n - 1 : i];
}
