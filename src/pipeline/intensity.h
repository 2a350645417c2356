/* intensity.h — whole-volume intensity normalisation to uint8, as MedSAM's
 * pre_CT_MR.py does before slicing (ref: pre_CT_MR.py lines 97-118).
 *
 * CT window (level L, width W):
 *   x = clip(v, L - W/2, L + W/2); x = (x - min(x)) / (max(x) - min(x)) * 255; uint8(x)
 * MR / other (percentiles of the voxels > 0):
 *   lo, hi = np.percentile(v[v > 0], 0.5), np.percentile(v[v > 0], 99.5)   (method "linear")
 *   x = clip(v, lo, hi); x = (x - min(x)) / (max(x) - min(x)) * 255; x[v == 0] = 0; uint8(x)
 * min / max are over the WHOLE volume, uint8() truncates toward zero.
 *
 * Arithmetic follows NumPy 1.24's dtype rules for the array the script holds:
 *   MS_ARITH_F64  values as float64: integer volumes (np.clip of an int array with
 *                 float bounds gives float64) and scaled volumes (nibabel get_fdata);
 *   MS_ARITH_F32  unscaled float32 volumes: np.clip keeps float32 (the bounds are
 *                 rounded to float32) and every later step is float32 arithmetic.
 * np.percentile itself always returns float64: virtual index (n - 1) * q with
 * q = p / 100, neighbours a = sorted[floor], b = sorted[floor + 1] (the last value
 * when the index is at or past n - 1), d = b - a in the data's dtype, then
 * a + d * g, or b - d * (1 - g) when g >= 0.5 (numpy's _lerp), g = index - floor.
 * A volume whose clipped values are all equal gives 0/0 in NumPy (NaN, which
 * uint8() turns into 0 on x86-64): here every voxel becomes 0.
 * Non-finite voxels are refused (NaN would make NumPy's min/max NaN). */
#ifndef MS_INTENSITY_H
#define MS_INTENSITY_H
#include <stdint.h>

#include "io/volume.h"
#include "medsam.h"

/* CT window presets (level, width) in HU: soft tissue L40/W400 (pre_CT_MR.py's
 * default), lung L-600/W1500, brain L40/W80, bone L400/W1800. */
typedef struct {
    const char *name;
    double level, width;
} ms_window_preset;
/* The presets, NULL-name terminated: "soft", "lung", "brain", "bone". */
const ms_window_preset *ms_window_presets(void);

/* Parses a preset name or "L,W" (level, width > 0, finite). */
medsam_status ms_window_parse(const char *spec, double *level, double *width, medsam_error *err);

typedef enum { MS_ARITH_F64 = 0, MS_ARITH_F32 = 1 } ms_arith;

/* Reads the samples of a single-channel volume as the values pre_CT_MR.py sees:
 * raw * scl_slope + scl_inter when the volume is scaled (ms_volume_has_scaling),
 * else the stored values. */
typedef struct {
    const void *data;
    ms_voxel_type type;
    int scaled;
    double slope, inter;
    int64_t n;      /* samples */
    ms_arith arith; /* F32 for unscaled float32, else F64 */
} ms_samples;

/* Describes `v` (first volume of a 4-D one is not handled: nt must be 1, nchan 1). */
medsam_status ms_samples_of_volume(ms_samples *s, const ms_volume *v, medsam_error *err);
/* Value i (in the arithmetic's precision: a float32 sample is returned exactly). */
double ms_samples_get(const ms_samples *s, int64_t i);

/* CT window: out (n) uint8. */
medsam_status ms_intensity_window(const ms_samples *s, double level, double width, uint8_t *out, medsam_error *err);

/* MR percentiles: out (n) uint8; lo / hi (may be NULL) receive np.percentile's
 * float64 results. Fails when no voxel is > 0. */
medsam_status ms_intensity_percentile(const ms_samples *s, uint8_t *out, double *lo, double *hi, medsam_error *err);

/* The 0.5 / 99.5 percentiles of the voxels > 0 through a copy of them and quickselect (the
 * path before the copy-free radix selection that ms_intensity_percentile uses; tests). */
medsam_status ms_intensity_percentiles_copy(const ms_samples *s, double *lo, double *hi, medsam_error *err);

/* np.percentile(x, p) (method "linear") of n float64 values; reorders x. n >= 1. */
double ms_percentile_f64(double *x, int64_t n, double p);
/* Same for float32 data (d = b - a is a float32 subtraction, as NumPy does). */
double ms_percentile_f32(float *x, int64_t n, double p);

#endif
