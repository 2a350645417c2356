/* vecmath.h — AVX2 (run-time detected) versions of the row-wise kernels that
 * dominate the mask decoder once its products are on the packed gemm: GELU,
 * softmax and LayerNorm. Each has a portable scalar path with the same formula;
 * the two agree to rounding. Single-threaded; callers partition rows. */
#ifndef MS_OPS_VECMATH_H
#define MS_OPS_VECMATH_H

/* In place GELU, 0.5 x (1 + erf(x / sqrt 2)), with erf from Abramowitz & Stegun
 * 7.1.26 (|error| <= 1.5e-7): the formula PyTorch's own vectorised CPU erf uses.
 * Within 2e-7 absolute of the exact-erf gelu_forward. x: (n) */
void vec_gelu_forward(float *x, long n);

/* In place GELU with an erf accurate to about 1 ulp (AVX2: two fitted polynomials
 * and an exp; otherwise libm erff): gelu_forward's formula operation for
 * operation, so the two differ only where erf rounds differently. x: (n) */
void vec_gelu_erf_forward(float *x, long n);

/* dinp += dout * GELU'(in) (exact-erf GELU), with vec_gelu_erf_forward's erf
 * and a ~1 ulp exp. dinp, dout, in: (n) */
void vec_gelu_backward(float *dinp, const float *dout, const float *in, long n);

/* y = erf(z), the erf of vec_gelu_erf_forward. y, z: (n); y may alias z. */
void vec_erf(float *y, const float *z, long n);

/* In place softmax over each row of C contiguous values (exp accurate to about
 * 1 ulp, sums in double). x: (R, C) */
void vec_softmax_rows_forward(float *x, long R, int C);

/* In place softmax down each column c in [c0, c1) of x (R, C), i.e. over the R
 * rows (the token->image attention with scores stored image-major). Column sums
 * are taken in double. Disjoint column ranges may run concurrently. */
void vec_softmax_cols_forward(float *x, long R, int C, int c0, int c1);

/* Rows n0 <= n < n1 of dst (N, D) = (a + b)^T for a, b (D, N) channels-first;
 * b may be NULL. */
void vec_transpose_add(float *dst, const float *a, const float *b, int D, long N, long n0, long n1);

/* LayerNorm over the last dim with float accumulation (two passes).
 * out, in: (N, C); weight, bias: (C). out may alias in. */
void vec_layernorm_forward(float *out, const float *in, const float *weight, const float *bias, long N, int C,
                           float eps);

/* LayerNorm with layernorm_forward's arithmetic (sums and variance in double,
 * two passes, the same float output formula), the sums taken in another order:
 * the two agree to the last bit but for rare double-rounding cases.
 * out, in: (N, C); weight, bias: (C). out may alias in. */
void vec_layernorm_f64_forward(float *out, const float *in, const float *weight, const float *bias, long N, int C,
                               float eps);

/* dst = a + b. dst, a, b: (n); dst may alias a or b. */
void vec_add(float *dst, const float *a, const float *b, long n);

/* vec_add in nthreads contiguous chunks (one thread below 64K values). */
void vec_add_threads(float *dst, const float *a, const float *b, long n, int nthreads);

/* The same, always on the portable scalar path (for tests). */
void vec_gelu_forward_generic(float *x, long n);
void vec_softmax_rows_forward_generic(float *x, long R, int C);
void vec_softmax_cols_forward_generic(float *x, long R, int C, int c0, int c1);
void vec_layernorm_forward_generic(float *out, const float *in, const float *weight, const float *bias, long N, int C,
                                   float eps);

/* 1 when the AVX2+FMA paths are in use on this CPU. */
int vec_has_avx2(void);

#endif
