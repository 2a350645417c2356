/* edt.h — exact Euclidean distance transform of a 3-D voxel grid with anisotropic
 * spacing, in linear time: three separable passes (axis 0: nearest feature on the
 * line; axes 1 and 2: lower envelope of parabolas, Felzenszwalb & Huttenlocher
 * 2012), each parallel over lines with OpenMP.
 *
 * It gives what scipy.ndimage.distance_transform_edt(~feature, sampling=spacing)
 * gives: for every voxel the distance to the nearest feature voxel, computed like
 * SciPy does from the integer offsets to that feature as
 *     sqrt(((d0*s0)^2 + (d1*s1)^2) + (d2*s2)^2)
 * (so ties between equally near features give the same value). Where the grid has
 * no feature voxel at all, every distance is +inf (MedSAM's SurfaceDice.py uses
 * np.Inf there; SciPy itself would not be called).
 *
 * Feature voxels are those with lut[map[i]] != 0, so a code map can be used
 * directly (e.g. lut = "code is neither 0 nor 255"). 2-D grids are (H, W, 1).
 * Each side must be at most MS_EDT_MAX_SIDE (offsets are kept as int16). */
#ifndef MS_EDT_H
#define MS_EDT_H
#include <stdint.h>
#include "medsam.h"

#define MS_EDT_MAX_SIDE 32766

/* dist: (n0, n1, n2) distances for every voxel. */
medsam_status ms_edt(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3], const double spacing[3],
                     int threads, double *dist, medsam_error *err);

/* Distances only at the query voxels (qlut[qmap[i]] != 0), written to `dist` in
 * C order of those voxels; `dist` holds ms_edt_count(qmap, qlut, n) values. */
medsam_status ms_edt_at(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3], const double spacing[3],
                        const uint8_t *qmap, const uint8_t qlut[256], int threads, double *dist, medsam_error *err);

/* Number of voxels with lut[map[i]] != 0. */
int64_t ms_edt_count(const uint8_t *map, const uint8_t lut[256], int64_t n);

/* Obviously-correct reference: for every voxel the minimum over all feature
 * voxels, O(n * features). For tests on small grids. */
medsam_status ms_edt_brute(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3],
                           const double spacing[3], double *dist, medsam_error *err);

#endif
