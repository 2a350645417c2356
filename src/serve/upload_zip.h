/* upload_zip.h — zip uploads: a DICOM series in a zip, CVPR24 2-D npz cases. */
#ifndef MS_SERVE_UPLOAD_ZIP_H
#define MS_SERVE_UPLOAD_ZIP_H
#include <stdint.h>

#include "medsam.h"

enum { MS_ZIP_OTHER = 0, MS_ZIP_DICOM, MS_ZIP_NPZ, MS_ZIP_NPZ_2D };

/* What a zip file holds: .npy members (an npz; MS_ZIP_NPZ_2D when imgs is
 * (H, W, 3) uint8), anything else (taken as a DICOM series), or no zip. */
int ms_upload_zip_kind(const char *path);
/* imgs of a 2-D npz case as an RGB PNG. */
medsam_status ms_upload_npz_to_png(const char *npz_path, const char *png_path, medsam_error *err);
/* Extracts every file member into the new folder `dir` as m00000, m00001, ...
 * (at most max_total bytes in all). */
medsam_status ms_upload_unzip(const char *zip_path, const char *dir, uint64_t max_total, medsam_error *err);
/* Removes what ms_upload_unzip wrote. */
void ms_upload_rmdir(const char *dir);

#endif
