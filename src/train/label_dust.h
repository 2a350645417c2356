/* label_dust.h — cc3d.dust as MedSAM's pre_CT_MR.py uses it: remove connected
 * objects smaller than a threshold from a multi-label map.
 *
 * ref: pre_CT_MR.py:74-85
 *   gt = cc3d.dust(gt, threshold=1000, connectivity=26, in_place=True)      (whole volume)
 *   gt[z] = cc3d.dust(gt[z], threshold=100, connectivity=8, in_place=True)  (each slice)
 * A component is a maximal set of voxels holding the SAME non-zero value,
 * connected through faces, edges or corners (26 neighbours in 3-D, 8 in 2-D);
 * components with fewer than `threshold` voxels are set to 0 (cc3d keeps a
 * component of exactly `threshold` voxels). */
#ifndef MS_TRAIN_LABEL_DUST_H
#define MS_TRAIN_LABEL_DUST_H
#include <stdint.h>

#include "medsam.h"

/* labels (nz, ny, nx), changed in place. connectivity 26 (3-D) or 8 (each z
 * separately, 2-D). threshold <= 1 changes nothing. nx * ny * nz < 2^31. */
medsam_status ms_label_dust(int32_t *labels, int nx, int ny, int nz, int64_t threshold, int connectivity,
                            medsam_error *err);

#endif
