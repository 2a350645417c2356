/* preprocess.h — MedSAM_Inference.py's image preprocessing, up to the encoder input.
 *
 * ref: MedSAM_Inference.py (main) lines 114-130:
 *   img_np  = skimage.io.imread(path)
 *   img_3c  = np.repeat(img_np[:, :, None], 3, -1) if img_np.ndim == 2 else img_np
 *   img_1024 = transform.resize(img_3c, (1024, 1024), order=3, preserve_range=True,
 *                               anti_aliasing=True).astype(np.uint8)
 *   img_1024 = (img_1024 - img_1024.min()) / np.clip(img_1024.max() - img_1024.min(), 1e-8, None)
 *   -> float32, (1024, 1024, 3) HWC (the encoder wants it as NCHW: ms_preprocess_hwc_to_chw).
 *
 * What imread hands over (skimage 0.19.3 -> imageio -> Pillow), and so what this uses:
 *   8-bit grey            -> (H, W) uint8, replicated to 3 channels
 *   grey+alpha, palette, RGBA -> Pillow gives 4 channels, on which the official script
 *                           crashes (issue #298); here alpha is dropped (grey+alpha -> grey)
 *   16-bit grey           -> (H, W) uint16 kept in 0..65535 through the resize; astype(uint8)
 *                           then keeps the low 8 bits (value mod 256), as NumPy does on x86-64.
 *                           That is MS_U16_OFFICIAL. MS_U16_RESCALE instead applies
 *                           utils/pre_grey_rgb.py's rule first: if max > 255,
 *                           uint8((v - min) / (max - min) * 255).
 *   16-bit RGB/RGBA/grey+alpha -> Pillow reduces to 8 bits by taking the high byte (v >> 8)
 *   float .npy (T, T, 3)  -> taken as already preprocessed (values must be in [0, 1]):
 *                           copied, no resize, no quantisation. */
#ifndef MS_PREPROCESS_H
#define MS_PREPROCESS_H
#include <stdint.h>

#include "io/image.h"
#include "medsam.h"
#include "pipeline/resize.h"

typedef enum {
    MS_U16_OFFICIAL = 0, /* 16-bit grey wraps modulo 256 after the resize, as the official script does */
    MS_U16_RESCALE = 1,  /* 16-bit grey with max > 255 is min-max scaled to uint8 first (pre_grey_rgb.py) */
} ms_u16_policy;

typedef struct {
    int target;             /* output side; 0 means 1024 */
    ms_u16_policy u16;      /* 16-bit grey handling, see above */
    ms_resize_exp exp_kind; /* which NumPy exp the anti-aliasing weights reproduce (resize.h) */
    int threads;            /* OpenMP threads for the resize; <= 0: OpenMP default */
    int whole_image;        /* nonzero: resize the whole float64 img_3c at once (the older path, ~70 bytes
                               per input pixel; tests); else in bands of rows from the image's own
                               samples (same bits, O(sqrt(H) * W) working memory) */
} ms_preprocess_opts;

/* The array the official resize receives: img_3c as float64 (H, W, 3), newly allocated
 * into *out (free with free()). Refuses float images (bit_depth 32). */
medsam_status ms_preprocess_rgb_input(double **out, const ms_image *img, ms_u16_policy u16, medsam_error *err);

/* Runs the whole pipeline. out_hwc: (T, T, 3) float32 in [0, 1]. out_u8 (may be NULL):
 * (T, T, 3) the uint8 stage (img_1024 after astype); for an already preprocessed float
 * input it gets round(255 * v) as a display copy. `opts` may be NULL (defaults). */
medsam_status ms_preprocess_medsam(float *out_hwc, uint8_t *out_u8, const ms_image *img, const ms_preprocess_opts *opts,
                                   medsam_error *err);

/* (h, w, c) -> (c, h, w), i.e. the .permute(2, 0, 1) before the encoder. */
void ms_preprocess_hwc_to_chw(float *out_chw, const float *in_hwc, int h, int w, int c);

#endif
