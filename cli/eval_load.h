/* eval_load.h — label maps for `medsam eval`: PNG (8/16-bit grey), .npy, .npz and
 * NIfTI files read into uint8 or uint16 label volumes, with the spacing the file
 * carries. Integer types of any width are accepted when every label fits in
 * 0..65535 (negative values can never equal a label 1.. and become 0); float data
 * is accepted when every value is a whole number. The format is found from the
 * first bytes; JPEG is refused (lossy). */
#ifndef MS_CLI_EVAL_LOAD_H
#define MS_CLI_EVAL_LOAD_H
#include <stdint.h>

#include "medsam.h"
#include "metrics/surface.h"

typedef enum { EVAL_SPACING_NONE = 0, EVAL_SPACING_NPZ, EVAL_SPACING_NIFTI } eval_spacing_kind;

typedef struct {
    int ndim;              /* 2 or 3, as stored */
    int64_t shape[3];      /* (n0, n1, n2); 2-D maps are (H, W, 1) */
    char shape_text[64];   /* "(H, W)" or "(D, H, W)" for messages */
    ms_label_type type;
    void *data;            /* (n0, n1, n2) labels, owned */
    double spacing[3];     /* npz: the stored vector as is; NIfTI: (pixdim3, pixdim2, pixdim1) */
    eval_spacing_kind spacing_kind;
} eval_labels;

/* Whether a file name looks like a label map (.png .npy .npz .nii .nii.gz). */
int eval_is_label_file(const char *name);

/* Reads `path`; for an npz the member `npz_key` (and, when want_spacing, a
 * 'spacing' member if there is one). */
medsam_status eval_load_labels(const char *path, const char *npz_key, int want_spacing, eval_labels *out,
                               medsam_error *err);
void eval_labels_free(eval_labels *l);

#endif
