/* rng.h — a random generator that reproduces PyTorch's CPU generator (the
 * practice "random numbers from a generator that matches PyTorch's"):
 * torch.manual_seed(seed) followed by tensor.uniform_(a, b) / tensor.normal_(m, s)
 * / torch.rand / torch.randn on float32 tensors gives the same bits here.
 *
 * What is reproduced (PyTorch 1.13 CPU, checked against Debian's torch 1.13.1 in
 * tests/test_init.c with fixtures from tools/ref/make_init_fixtures.py):
 *  - the engine: mt19937 seeded with the low 32 bits of the seed (init_genrand);
 *  - uniform_: one 32-bit draw per element, x = (r & 0xFFFFFF) * 2^-24, then
 *    fmaf(x, to - from, from) in float (from and to rounded to float first; the
 *    fused multiply-add is what GCC made of torch's AVX2 kernel);
 *  - normal_ on a contiguous float32 tensor of >= 16 elements: all elements first
 *    drawn as uniform [0,1) floats, then Box-Muller on blocks of 16 (element j
 *    pairs with j + 8: cos into j, sin into j + 8); when n is not a multiple of 16,
 *    the last 16 elements are drawn again and transformed again. log/sin/cos are
 *    the Cephes single-precision polynomials that PyTorch's AVX2 kernel uses
 *    (ATen's avx_mathfun.h), evaluated here in scalar float arithmetic with the
 *    same roundings and fused multiply-adds as torch's binary, which is
 *    what torch 1.13 runs on x86-64 CPUs with AVX2 (its default dispatch level);
 *    its non-AVX2 scalar kernel (glibc logf/cosf/sinf) can differ in the last bit;
 *  - normal_ on fewer than 16 elements: the double-precision Box-Muller sampler
 *    (53-bit uniforms from two 32-bit draws, log/cos/sin in double), including
 *    the cached second sample that the next such call uses first.
 * A seed resets the cache, as torch.manual_seed does.
 *
 * The generator is a plain value: no global state, one per thread if needed. */
#ifndef MS_RNG_H
#define MS_RNG_H
#include <stddef.h>
#include <stdint.h>

#define MS_RNG_MT_N 624

typedef struct {
    uint32_t state[MS_RNG_MT_N]; /* mt19937 state words */
    int next;                    /* index of the next word to temper; MS_RNG_MT_N = regenerate */
    int has_normal;              /* 1 when `cached_normal` holds a pending double sample */
    double cached_normal;        /* second Box-Muller output of the last double normal draw */
} ms_rng;

/* torch.manual_seed(seed): only the low 32 bits of the seed are used. */
void ms_rng_seed(ms_rng *rng, uint64_t seed);

/* One raw 32-bit draw (generator->random()). */
uint32_t ms_rng_u32(ms_rng *rng);
/* Two draws combined as (first << 32) | second (generator->random64()). */
uint64_t ms_rng_u64(ms_rng *rng);

/* tensor.uniform_(from, to) on `n` contiguous float32 values. */
void ms_rng_uniform(ms_rng *rng, float *dst, size_t n, double from, double to); // dst: (n)

/* tensor.normal_(mean, std) on `n` contiguous float32 values (torch.randn when 0, 1). */
void ms_rng_normal(ms_rng *rng, float *dst, size_t n, double mean, double std); // dst: (n)

/* The single-precision log and sin/cos used by ms_rng_normal (exposed for tests). */
float ms_rng_logf(float x);
void ms_rng_sincosf(float x, float *s, float *c);

#endif
