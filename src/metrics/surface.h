/* surface.h — masks, joint bounding box and surface elements ("surfels") as MedSAM's
 * utils/SurfaceDice.py (a port of DeepMind's surface-distance) defines them.
 *
 * A mask is read through an ms_mask_view over a label volume (uint8 or uint16,
 * C order (n0, n1, n2)): a voxel is inside when it equals `label`, or, with
 * label == MS_MASK_NONZERO, when it is not 0 (binary masks).
 *
 * Surfels: the masks are cropped to their joint bounding box and padded with one
 * zero voxel on the high side of every axis; the neighbour code of grid point
 * (i, j, k) of that crop is
 *     sum over a, b, c in {0,1} of  M[i-1+a, j-1+b, k-1+c] << (7 - (4a + 2b + c))
 * (scipy.ndimage.correlate with the kernel [[[128,64],[32,16]],[[8,4],[2,1]]],
 * zero outside), and a point is a surfel when its code is neither 0 nor 255. Its
 * area is the sum over the marching-cubes triangles of the code of
 * |(nx*s1*s2, ny*s0*s2, nz*s0*s1)| (surfel_normals.h, generated). */
#ifndef MS_SURFACE_H
#define MS_SURFACE_H
#include <stdint.h>
#include "medsam.h"

typedef enum { MS_LABELS_U8 = 1, MS_LABELS_U16 = 2 } ms_label_type;

#define MS_MASK_NONZERO UINT32_MAX

typedef struct {
    const void *data;   /* (n0, n1, n2) label volume */
    ms_label_type type;
    uint32_t label;     /* inside when value == label; MS_MASK_NONZERO: when value != 0 */
} ms_mask_view;

/* Voxel counts of both masks and of their intersection, and the joint bounding box
 * (inclusive; lo = hi = 0 and empty = 1 when both masks are empty). */
typedef struct {
    int64_t n_gt, n_pred, n_inter;
    int64_t lo[3], hi[3];
    int empty;
} ms_mask_stats;

void ms_mask_scan(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3], int threads,
                  ms_mask_stats *out);

/* area[code] for the 256 neighbour codes at this spacing (per array axis). */
void ms_surfel_area_table(const double spacing[3], double area[256]);

/* lut[code] = 1 when the code is a surfel (neither 0 nor 255). */
void ms_surfel_lut(uint8_t lut[256]);

/* Neighbour codes of the mask cropped to [lo, hi] and padded on the high side:
 * codes is (hi0-lo0+2, hi1-lo1+2, hi2-lo2+2). `pad` is scratch of
 * (hi0-lo0+3)*(hi1-lo1+3)*(hi2-lo2+3) bytes (the crop with a zero border). */
void ms_surface_codes(const ms_mask_view *mask, const int64_t shape[3], const int64_t lo[3], const int64_t hi[3],
                      int threads, uint8_t *pad, uint8_t *codes);

#endif
