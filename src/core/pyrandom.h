/* pyrandom.h — Python's `random` module generator (CPython's _randommodule.c:
 * mt19937 seeded through init_by_array), so that the official training code's
 * random.randint / random.choice / random.shuffle draws can be reproduced:
 *   random.seed(n) for an int n  -> pyrandom_seed(r, n)
 *   random.getrandbits(k)        -> pyrandom_getrandbits(r, k)   (k <= 64)
 *   random.randint(a, b)         -> pyrandom_randint(r, a, b)
 *   random.choice(seq)           -> seq[pyrandom_below(r, len(seq))]
 *   random.shuffle(x)            -> pyrandom_shuffle(r, x, n)
 * Checked against CPython 3.11 in tests/test_train_infra.c (fixture from
 * tools/ref/make_train_fixtures.py). The generator is a plain value. */
#ifndef MS_PYRANDOM_H
#define MS_PYRANDOM_H
#include <stddef.h>
#include <stdint.h>

#define PYRANDOM_N 624

typedef struct {
    uint32_t state[PYRANDOM_N]; /* mt19937 words */
    int index;                  /* next word to temper; PYRANDOM_N = regenerate first */
} pyrandom;

/* random.seed(n): the key is |n| split into 32-bit words, least significant first. */
void pyrandom_seed(pyrandom *r, int64_t n);
/* One 32-bit output (genrand_uint32). */
uint32_t pyrandom_u32(pyrandom *r);
/* random.getrandbits(k), 1 <= k <= 64. */
uint64_t pyrandom_getrandbits(pyrandom *r, int k);
/* random._randbelow(n) (getrandbits of n's bit length, redrawn while >= n); n >= 1. */
uint64_t pyrandom_below(pyrandom *r, uint64_t n);
/* random.randint(a, b), a <= b. */
int64_t pyrandom_randint(pyrandom *r, int64_t a, int64_t b);
/* random.shuffle(x) in place. */
void pyrandom_shuffle(pyrandom *r, int *x, size_t n); // x: (n)

/* State as PYRANDOM_N + 1 integers (the words, then the index), for checkpoints;
 * pyrandom_set_state returns -1 (state unchanged) when the index is out of range. */
void pyrandom_get_state(const pyrandom *r, int64_t out[PYRANDOM_N + 1]);
int pyrandom_set_state(pyrandom *r, const int64_t in[PYRANDOM_N + 1]);

#endif
