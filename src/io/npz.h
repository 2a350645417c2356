/* npz.h — NumPy .npz archives (np.savez / np.savez_compressed): a zip of
 * .npy members, read with the bounds-checked zip reader of src/weights/zip.h
 * and parsed with src/core/npy.h (so the dtypes are those of ms_npy: f32,
 * f64, u8, i16, u16, i32, i64, bool, u32, little-endian, C order).
 *
 * MedSAM's 3-D data comes as such files, e.g. {"imgs": (D, H, W) uint8,
 * "gts": (D, H, W) uint8, "spacing": (3,) float64}.
 *
 * Members are named without the ".npy" numpy adds. Each member is checked
 * (CRC-32, declared size against what its compressed bytes can hold, npy
 * header) when it is read. Error messages are one line and name the file
 * and the member. */
#ifndef MS_IO_NPZ_H
#define MS_IO_NPZ_H
#include <stddef.h>
#include <stdint.h>

#include "core/npy.h"
#include "medsam.h"

typedef struct ms_npz ms_npz;

medsam_status ms_npz_open(const char *path, ms_npz **out, medsam_error *err);
/* Same over a buffer that must outlive the ms_npz. */
/* ms_npz_open with a memory budget for each member read later (core/budget.h; 0: none). */
medsam_status ms_npz_open_budget(const char *path, uint64_t max_bytes, ms_npz **out, medsam_error *err);
medsam_status ms_npz_open_mem(const void *buf, size_t len, ms_npz **out, medsam_error *err);
void ms_npz_close(ms_npz *npz);

/* Members in archive order; names have ".npy" stripped. */
int ms_npz_count(const ms_npz *npz);
const char *ms_npz_name(const ms_npz *npz, int i);
int ms_npz_has(const ms_npz *npz, const char *name);

/* Reads member `name` (as given to np.savez, e.g. "imgs") into `arr`
 * (free with ms_npy_free). */
medsam_status ms_npz_get(const ms_npz *npz, const char *name, ms_npy *arr, medsam_error *err);

/* Writes arrays[i] as member names[i] (".npy" appended), stored or, when
 * `compress` is non-zero, deflated (zlib level 6, as savez_compressed).
 * Only dtype, ndim, shape and data of each ms_npy are used. Atomic. */
medsam_status ms_npz_write(const char *path, const char *const *names, const ms_npy *arrays, int n, int compress,
                           medsam_error *err);

#endif
