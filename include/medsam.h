/* medsam.h — public C API of libmedsam: MedSAM / SAM box-prompted segmentation.
 *
 * Every function returns a medsam_status and, when `err` is not NULL, fills it
 * with a one-line message on failure. Nothing in the library calls exit() or
 * keeps global mutable state; one loaded model may be used from several
 * threads at once (the model is read-only after loading).
 */
#ifndef MEDSAM_H
#define MEDSAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MEDSAM_OK = 0,
    MEDSAM_ERR_IO,          /* file missing, unreadable, short read, write failed */
    MEDSAM_ERR_FORMAT,      /* malformed or truncated file */
    MEDSAM_ERR_UNSAFE,      /* pickle names a global outside the allow list */
    MEDSAM_ERR_SHAPE,       /* tensor or array has the wrong shape / dtype */
    MEDSAM_ERR_ARG,         /* bad argument (box outside image, x1 <= x0, ...) */
    MEDSAM_ERR_NOMEM,       /* allocation failed or size over a limit */
    MEDSAM_ERR_UNSUPPORTED, /* valid input that this build cannot handle */
    MEDSAM_ERR_NUMERIC,     /* NaN or Inf where finite values are required */
} medsam_status;

typedef struct {
    medsam_status code;
    char message[512];
} medsam_error;

const char *medsam_status_name(medsam_status s);

/* ---- model ------------------------------------------------------------ */

typedef struct medsam_model medsam_model;         /* read-only after loading */
typedef struct medsam_embedding medsam_embedding; /* one encoded image */

/* Loads an official checkpoint as it is: a torch.save zip holding a SAM-format
 * state_dict (medsam_vit_b.pth, sam_vit_{b,l,h}_*.pth), a training checkpoint
 * {"model": state_dict, ...}, or DDP "module."-prefixed keys. The architecture
 * is inferred from the tensor shapes. No pickle code is ever executed. */
medsam_status medsam_model_load(const char *path, medsam_model **out, medsam_error *err);
void medsam_model_free(medsam_model *model);

/* Architecture facts of a loaded model. */
typedef struct {
    int img_size;     /* model input side, 1024 for SAM/MedSAM */
    int embed_dim;    /* 768 (ViT-B), 1024 (ViT-L), 1280 (ViT-H) */
    int depth, num_heads, window_size, patch_size;
    int emb_channels; /* 256 */
    int emb_size;     /* 64: the embedding is (emb_channels, emb_size, emb_size) */
    int mask_size;    /* 256: low-resolution logits are (mask_size, mask_size) */
    long long num_params;
} medsam_model_info;
void medsam_model_get_info(const medsam_model *model, medsam_model_info *info);
/* Multi-line human description of the inferred configuration. */
void medsam_model_describe(const medsam_model *model, char *buf, int len);

/* ---- images and preprocessing ----------------------------------------- */

/* MedSAM_Inference.py preprocessing of pixels already in memory (e.g. from a
 * viewer): (height, width, channels) interleaved samples, channels 1 (grey),
 * 2 (grey+alpha), 3 (RGB) or 4 (RGBA; alpha dropped), bit_depth 8 (uint8_t
 * samples) or 16 (uint16_t samples, handled as the official script would).
 * Grey -> 3 channels, skimage resize (order 3, anti-aliased) to size x size,
 * uint8 truncation, global min-max to [0,1]. out: (size, size, 3) HWC. */
medsam_status medsam_preprocess_pixels(const void *pixels, int width, int height, int channels, int bit_depth, int size,
                                       int nthreads, float *out, medsam_error *err);

/* Reads an image file and returns the encoder input (size, size, 3) HWC plus the
 * original width and height: PNG/JPEG go through medsam_preprocess; a .npy of
 * shape (size, size, 3) with values in [0,1] (MedSAM's training format) is taken
 * as already preprocessed (no resize, no quantisation; W = H = size). */
medsam_status medsam_prepare_input(const char *path, int size, int nthreads, float **input_hwc, int *width, int *height,
                                   medsam_error *err);

/* ---- encode / decode ---------------------------------------------------- */

/* Runs the image encoder on a preprocessed (img_size, img_size, 3) HWC tensor. */
medsam_status medsam_encode(const medsam_model *model, const float *input_hwc, int nthreads,
                            medsam_embedding **out, medsam_error *err);
/* Wraps an existing embedding (emb_channels, emb_size, emb_size), e.g. one read from .npy. */
medsam_status medsam_embedding_from_data(const medsam_model *model, const float *data, long count,
                                         medsam_embedding **out, medsam_error *err);
const float *medsam_embedding_data(const medsam_embedding *emb, long *count);
void medsam_embedding_free(medsam_embedding *emb);

/* One box prompt in the ORIGINAL image's pixel coordinates (x0 < x1, y0 < y1,
 * inside [0,W]x[0,H]); scaled by img_size/[W,H,W,H] as MedSAM_Inference.py does. */
typedef struct { float x0, y0, x1, y1; } medsam_box;

/* Decodes n boxes against one embedding (multimask_output=False, as MedSAM).
 * logits: (n, mask_size, mask_size) low-resolution logits, may be NULL.
 * iou:    (n) predicted IoU, may be NULL.
 * mask:   (image_h, image_w) labels: 0 background, k for the k-th box (1-based;
 *         a later box wins where boxes overlap), may be NULL. */
medsam_status medsam_decode_boxes(const medsam_model *model, const medsam_embedding *emb, int image_w, int image_h,
                                  const medsam_box *boxes, int n, int nthreads, float *logits, float *iou,
                                  uint8_t *mask, medsam_error *err);

#ifdef __cplusplus
}
#endif
#endif
