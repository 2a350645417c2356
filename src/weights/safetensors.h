/* safetensors.h — the safetensors format (Hugging Face): an 8-byte
 * little-endian header length N, N bytes of JSON
 *     {"__metadata__": {"k": "v", ...},
 *      "name": {"dtype": "F32", "shape": [3, 4], "data_offsets": [begin, end]}, ...}
 * then the data area, offsets relative to its start. Nothing is executed.
 *
 * st_open checks everything before any tensor is read: N >= 2, N <= 100 MB
 * and inside the file; the header is strict JSON (weights/json_min.h), an
 * object whose keys are unique; "__metadata__" maps strings to strings; each
 * tensor has exactly dtype, shape and data_offsets; dtype is one of F64 F32
 * F16 BF16 I64 I32 I16 I8 U8 BOOL (F8_*, U16/U32/U64 and others are refused);
 * rank <= 8, extents >= 0, numel * dtype size without overflow; begin <= end,
 * end - begin = numel * dtype size; and, as the reference implementation
 * requires, the tensors tile the data area exactly: sorted by offset, each
 * starts where the previous ends (so no overlap and no hole), the first at 0,
 * the last at the end of the file. Errors are one line starting with the file
 * name and naming the tensor.
 *
 * Reading uses pread on the open descriptor (safe from several threads at
 * once); float32 little-endian data is read straight into the destination. */
#ifndef MS_WEIGHTS_SAFETENSORS_H
#define MS_WEIGHTS_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"
#include "weights/pickle.h" /* pth_dtype */

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER ((uint64_t)100000000) /* bytes, as the reference implementation */
#define ST_MAX_NAME 1024                    /* bytes in a tensor name */

typedef struct {
    const char *name;
    pth_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end; /* byte offsets in the data area */
} st_tensor;

typedef struct st_file st_file;

medsam_status st_open(const char *path, st_file **out, medsam_error *err);
/* Same over a file image in memory (kept by the caller until st_close). */
medsam_status st_open_mem(const void *buf, size_t len, const char *name, st_file **out, medsam_error *err);
void st_close(st_file *f);

/* Tensors in header order. */
int st_tensor_count(const st_file *f);
const st_tensor *st_tensor_at(const st_file *f, int i);
/* Binary search by name; NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* "__metadata__" value for key, or NULL. */
const char *st_metadata(const st_file *f, const char *key);
/* Reads tensor t into dst as t->numel float32 values (converting F16, BF16,
 * F64 and integer types as pth_read_f32 does). */
medsam_status st_read_f32(const st_file *f, const st_tensor *t, float *dst, medsam_error *err);

/* "F32", "BF16", ... for a dtype. */
const char *st_dtype_name(pth_dtype dt);

/* ---- writer ---- */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data; /* numel float32 values, row-major */
} st_out_tensor;

/* Writes float32 tensors (in the given order, data 8-byte aligned after a
 * header padded with spaces) with metadata pairs meta[2k] -> meta[2k+1],
 * atomically (temp file + rename). Names must be unique. */
medsam_status st_write_f32(const char *path, const st_out_tensor *t, int n, const char *const *meta, int nmeta,
                           medsam_error *err);
/* The same with f16 != 0: stored as F16 (round to nearest even; a value beyond
 * float16's range or not finite fails naming the tensor, nothing written). */
medsam_status st_write(const char *path, const st_out_tensor *t, int n, const char *const *meta, int nmeta, int f16,
                       medsam_error *err);

#endif
