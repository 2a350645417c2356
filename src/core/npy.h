/* npy.h — NumPy .npy arrays (format 1.0/2.0/3.0): read float32/float64/uint8
 * little-endian C-order arrays, write float32 and uint8 atomically. */
#ifndef MS_NPY_H
#define MS_NPY_H
#include <stddef.h>
#include <stdint.h>
#include "medsam.h"

#define MS_NPY_MAX_DIMS 8

typedef enum { MS_NPY_F32, MS_NPY_F64, MS_NPY_U8, MS_NPY_I16, MS_NPY_U16, MS_NPY_I32, MS_NPY_I64, MS_NPY_BOOL, MS_NPY_U32 } ms_npy_dtype;

typedef struct {
    ms_npy_dtype dtype;
    int ndim;
    int64_t shape[MS_NPY_MAX_DIMS];
    int64_t count;  /* product of shape */
    void *data;     /* count elements of dtype, owned; free with ms_npy_free */
} ms_npy;

/* Parses a complete .npy image held in memory (used for files and npz members). */
medsam_status ms_npy_parse(const uint8_t *buf, size_t len, ms_npy *out, medsam_error *err);
medsam_status ms_npy_read(const char *path, ms_npy *out, medsam_error *err);
/* The same under a memory budget for the array (core/budget.h; 0: none), checked from
 * the header before anything is allocated. */
medsam_status ms_npy_parse_budget(const uint8_t *buf, size_t len, uint64_t max_bytes, ms_npy *out, medsam_error *err);
/* ms_npy_parse_budget on a malloc'ed buffer that becomes the array's data (moved down in
 * place, no second copy); buf is freed on failure. */
medsam_status ms_npy_parse_take(uint8_t *buf, size_t len, uint64_t max_bytes, ms_npy *out, medsam_error *err);
medsam_status ms_npy_read_budget(const char *path, uint64_t max_bytes, ms_npy *out, medsam_error *err);
/* Converts any numeric dtype to a newly allocated float32 array of `count` values. */
medsam_status ms_npy_to_f32(const ms_npy *a, float **out, medsam_error *err);
void ms_npy_free(ms_npy *a);

medsam_status ms_npy_write(const char *path, ms_npy_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, medsam_error *err);

#endif
