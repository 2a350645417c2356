/* finite.h — where the first inf or NaN of a float array is (model tensors, encoder inputs,
 * embeddings are all checked before use). */
#ifndef MS_CORE_FINITE_H
#define MS_CORE_FINITE_H
#include <stddef.h>

/* Index of the first non-finite value of v, or -1. v: (n) */
long ms_first_nonfinite(const float *v, size_t n);

#endif
