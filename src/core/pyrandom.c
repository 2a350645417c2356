/* pyrandom.c — see pyrandom.h. The constants are those of the published
 * mt19937 algorithm (Matsumoto & Nishimura, init_by_array of 2002-01-26). */
#include "core/pyrandom.h"

#define MT_M 397
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu
#define MT_MATRIX 0x9908b0dfu

static void init_genrand(pyrandom *r, uint32_t s) {
    r->state[0] = s;
    for (int i = 1; i < PYRANDOM_N; i++)
        r->state[i] = 1812433253u * (r->state[i - 1] ^ (r->state[i - 1] >> 30)) + (uint32_t)i;
    r->index = PYRANDOM_N;
}

static void init_by_array(pyrandom *r, const uint32_t *key, int len) {
    init_genrand(r, 19650218u);
    uint32_t *mt = r->state;
    int i = 1, j = 0;
    for (int k = PYRANDOM_N > len ? PYRANDOM_N : len; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++, j++;
        if (i >= PYRANDOM_N) { mt[0] = mt[PYRANDOM_N - 1]; i = 1; }
        if (j >= len) j = 0;
    }
    for (int k = PYRANDOM_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= PYRANDOM_N) { mt[0] = mt[PYRANDOM_N - 1]; i = 1; }
    }
    mt[0] = 0x80000000u;
    r->index = PYRANDOM_N;
}

void pyrandom_seed(pyrandom *r, int64_t n) {
    uint64_t a = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    uint32_t key[2] = {(uint32_t)a, (uint32_t)(a >> 32)};
    init_by_array(r, key, key[1] ? 2 : 1);
}

uint32_t pyrandom_u32(pyrandom *r) {
    uint32_t *mt = r->state;
    if (r->index >= PYRANDOM_N) {
        for (int k = 0; k < PYRANDOM_N; k++) {
            uint32_t y = (mt[k] & MT_UPPER) | (mt[(k + 1) % PYRANDOM_N] & MT_LOWER);
            mt[k] = mt[(k + MT_M) % PYRANDOM_N] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX : 0u);
        }
        r->index = 0;
    }
    uint32_t y = mt[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t pyrandom_getrandbits(pyrandom *r, int k) {
    if (k <= 0) return 0;
    if (k <= 32) return pyrandom_u32(r) >> (32 - k);
    /* ref: _randommodule.c:_random_Random_getrandbits_impl — words least significant first,
     * the last (most significant) word shifted down to the remaining bits */
    uint64_t lo = pyrandom_u32(r);
    uint64_t hi = pyrandom_u32(r) >> (64 - (k > 64 ? 64 : k));
    return lo | (hi << 32);
}

static int bit_length(uint64_t n) {
    int k = 0;
    while (n) { k++; n >>= 1; }
    return k;
}

uint64_t pyrandom_below(pyrandom *r, uint64_t n) {
    if (n == 0) return 0;
    int k = bit_length(n);
    uint64_t v = pyrandom_getrandbits(r, k);
    while (v >= n) v = pyrandom_getrandbits(r, k);
    return v;
}

int64_t pyrandom_randint(pyrandom *r, int64_t a, int64_t b) {
    return a + (int64_t)pyrandom_below(r, (uint64_t)(b - a) + 1);
}

void pyrandom_shuffle(pyrandom *r, int *x, size_t n) {
    /* ref: random.py:Random.shuffle */
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)pyrandom_below(r, (uint64_t)i + 1);
        int t = x[i]; x[i] = x[j]; x[j] = t;
    }
}

void pyrandom_get_state(const pyrandom *r, int64_t out[PYRANDOM_N + 1]) {
    for (int i = 0; i < PYRANDOM_N; i++) out[i] = r->state[i];
    out[PYRANDOM_N] = r->index;
}

int pyrandom_set_state(pyrandom *r, const int64_t in[PYRANDOM_N + 1]) {
    if (in[PYRANDOM_N] < 0 || in[PYRANDOM_N] > PYRANDOM_N) return -1;
    for (int i = 0; i < PYRANDOM_N; i++)
        if (in[i] < 0 || in[i] > 0xffffffffLL) return -1;
    for (int i = 0; i < PYRANDOM_N; i++) r->state[i] = (uint32_t)in[i];
    r->index = (int)in[PYRANDOM_N];
    return 0;
}
