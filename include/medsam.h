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

/* Version of this header; medsam_version() gives the library's. Semantic
 * versioning: the shared library's SONAME is libmedsam.so.MAJOR (see the
 * README's "C API" for what counts as a break). */
#define MEDSAM_VERSION_MAJOR 0
#define MEDSAM_VERSION_MINOR 1
#define MEDSAM_VERSION_PATCH 0
#define MEDSAM_VERSION "0.1.0"

/* libmedsam.so is built with -fvisibility=hidden: what this header declares is
 * exported, nothing else (mk/medsam.map keeps the export list to medsam_*). */
#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility push(default)
#endif

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
    MEDSAM_ERR_CANCELLED,   /* a progress callback asked to stop */
} medsam_status;

typedef struct {
    medsam_status code;
    char message[512];
} medsam_error;

const char *medsam_status_name(medsam_status s);

/* "MAJOR.MINOR.PATCH" of the library actually linked (MEDSAM_VERSION is the header's). */
const char *medsam_version(void);

/* Frees memory the library allocated for the caller (medsam_prepare_input's
 * input, medsam_image_read's pixels); the same as free() in this build. */
void medsam_free(void *p);

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
    int img_size;     /* model input side, 1024 for SAM/MedSAM, 256 for LiteMedSAM */
    int embed_dim;    /* 768 (ViT-B), 1024 (ViT-L), 1280 (ViT-H); LiteMedSAM: last stage width 320 */
    int depth, num_heads, window_size, patch_size;
    int emb_channels; /* 256 */
    int emb_size;     /* 64: the embedding is (emb_channels, emb_size, emb_size) */
    int mask_size;    /* 256: low-resolution logits are (mask_size, mask_size) */
    long long num_params;
    const char *encoder; /* encoder kind: "vit" (SAM / MedSAM) or "tinyvit" (LiteMedSAM); static string */
    const char *family;  /* "SAM ViT" or "LiteMedSAM (TinyViT)"; static string */
} medsam_model_info;
void medsam_model_get_info(const medsam_model *model, medsam_model_info *info);
/* Multi-line human description of the inferred configuration. */
void medsam_model_describe(const medsam_model *model, char *buf, int len);

/* ---- pipelines ---------------------------------------------------------- */

/* How images become the encoder input, prompts map to the model's frame and
 * logits become masks (and the 3-D protocol's per-slice box rule). */
typedef enum {
    MEDSAM_PIPELINE_AUTO = 0, /* the model's own: ViT encoder -> MEDSAM, TinyViT -> LITE */
    MEDSAM_PIPELINE_MEDSAM,   /* MedSAM_Inference.py: skimage resize to img_size, box / [W,H,W,H] * img_size,
                                 sigmoid, bilinear to the image, > 0.5 */
    MEDSAM_PIPELINE_SAM,      /* segment_anything SamPredictor: Pillow bilinear resize of the longest side to
                                 img_size, pixel mean/std, zero pad, coordinates * new/old, logits upscaled
                                 to img_size, cropped, resized to the image, > 0 */
    MEDSAM_PIPELINE_LITE,     /* CVPR24_LiteMedSAM_infer.py: OpenCV INTER_AREA to the longest side, min-max,
                                 zero pad, int boxes, crop + bilinear of the logits, sigmoid, > 0.5 */
} medsam_pipeline;

/* Chooses the model's pipeline (AUTO: its default). It applies to
 * medsam_model_preprocess, medsam_model_prepare_input, medsam_decode_boxes,
 * medsam_decode_prompt and the volume functions. Call before sharing the model
 * between threads. Fails (model unchanged) when the pipeline cannot run this model. */
medsam_status medsam_model_set_pipeline(medsam_model *model, medsam_pipeline pipeline, medsam_error *err);
medsam_pipeline medsam_model_get_pipeline(const medsam_model *model);
/* "medsam", "sam", "lite" ("auto" for AUTO, "?" otherwise). */
const char *medsam_pipeline_name(medsam_pipeline pipeline);
/* "medsam" | "sam" | "lite" | "auto" -> *out. */
medsam_status medsam_pipeline_parse(const char *name, medsam_pipeline *out, medsam_error *err);

/* ---- precision ------------------------------------------------------------ */

/* Arithmetic of the image encoder. FP32 (default) is the exact path. BF16 runs
 * the ViT encoder's qkv, proj and MLP linears as bf16 x bf16 products with
 * fp32 accumulation (weights converted once, by medsam_model_set_precision;
 * activations rounded to nearest even); the rest of the model stays fp32.
 * It uses AVX512_BF16 (vdpbf16ps) where the CPU has it, else an emulation
 * that gives the same results, chosen at run time. */
typedef enum {
    MEDSAM_PRECISION_FP32 = 0,
    MEDSAM_PRECISION_BF16,
} medsam_precision;

/* Chooses the encoder's precision; BF16 converts the weights now (ViT-B:
 * ~170 MB more memory). Call before sharing the model between threads. Fails
 * (model unchanged) with MEDSAM_ERR_UNSUPPORTED for a LiteMedSAM (TinyViT)
 * model, MEDSAM_ERR_NOMEM when the copy cannot be allocated. */
medsam_status medsam_model_set_precision(medsam_model *model, medsam_precision precision, medsam_error *err);
medsam_precision medsam_model_get_precision(const medsam_model *model);
/* "fp32" | "bf16" -> *out (MEDSAM_ERR_ARG otherwise). */
medsam_status medsam_precision_parse(const char *name, medsam_precision *out, medsam_error *err);
/* "fp32", "bf16" ("?" otherwise). */
const char *medsam_precision_name(medsam_precision precision);
/* Which bf16 kernel runs on this CPU: "avx512bf16 (native vdpbf16ps)",
 * "avx512f (emulated)" or "portable C (emulated)"; static string. */
const char *medsam_bf16_kernel(void);

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

/* Reads an image file as it stores its samples (the decoding rules of
 * medsam_prepare_input, which is this + medsam_preprocess_pixels): PNG, JPEG,
 * BMP, or a .npy array. pixels (height, width, channels) interleaved, channels
 * 1..4 (grey, grey+alpha, RGB, RGBA), bit_depth 8 (uint8_t), 16 (uint16_t) or
 * 32 (float, .npy float arrays only). Free *pixels with medsam_free. */
medsam_status medsam_image_read(const char *path, void **pixels, int *width, int *height, int *channels,
                                int *bit_depth, medsam_error *err);
/* The model's pipeline preprocessing (see medsam_model_set_pipeline) of pixels
 * as medsam_preprocess_pixels takes them, or of what medsam_image_read returns
 * (bit_depth 32: a float (img_size, img_size, 3) array in [0,1], taken as already
 * preprocessed): out (img_size, img_size, 3) HWC. medsam_image_read followed by this
 * is medsam_model_prepare_input. */
medsam_status medsam_model_preprocess(const medsam_model *model, const void *pixels, int width, int height,
                                      int channels, int bit_depth, int nthreads, float *out, medsam_error *err);
/* medsam_prepare_input through the model's pipeline (input side img_size). */
medsam_status medsam_model_prepare_input(const medsam_model *model, const char *path, int nthreads, float **input_hwc,
                                         int *width, int *height, medsam_error *err);
/* ---- memory budget ------------------------------------------------------ */

/* The most memory a reader may allocate for one decoded input (the pixels of an image,
 * the voxels of a volume). Every reader computes the decoded size from the header and
 * refuses, before allocating, an input over the budget (MEDSAM_ERR_NOMEM, one line with
 * the file, the decoded size and the budget); inflating readers (PNG, JPEG, gzip NIfTI,
 * npz members, deflated DICOM) never decode more than the header promised. A plain value:
 * a server may hold one per request. max_bytes <= 0 (or a NULL budget) means
 * medsam_memory_default(). */
typedef struct {
    long long max_bytes;
} medsam_budget;

/* Half of the memory available now (Linux MemAvailable; half the physical memory
 * elsewhere), at least 256 MiB. */
long long medsam_memory_default(void);
/* Parses "8G", "512M", "1.5GiB", "300000000" (bytes; K/M/G/T are powers of 1024). */
medsam_status medsam_memory_parse(const char *spec, long long *bytes, medsam_error *err);

/* medsam_prepare_input under a budget (NULL: the default). medsam_prepare_input
 * itself uses the default. */
medsam_status medsam_prepare_input_budget(const char *path, int size, int nthreads, const medsam_budget *budget,
                                          float **input_hwc, int *width, int *height, medsam_error *err);
/* medsam_image_read under a budget (NULL: the default). */
medsam_status medsam_image_read_budget(const char *path, const medsam_budget *budget, void **pixels, int *width,
                                       int *height, int *channels, int *bit_depth, medsam_error *err);
/* medsam_model_prepare_input under a budget (NULL: the default). */
medsam_status medsam_model_prepare_input_budget(const medsam_model *model, const char *path, int nthreads,
                                                const medsam_budget *budget, float **input_hwc, int *width,
                                                int *height, medsam_error *err);

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
 * inside [0,W]x[0,H]); mapped to the model's frame by its pipeline (medsam:
 * scaled by img_size/[W,H,W,H] as MedSAM_Inference.py does). */
typedef struct { float x0, y0, x1, y1; } medsam_box;

/* Decodes n boxes against one embedding (multimask_output=False, as MedSAM).
 * logits: (n, mask_size, mask_size) low-resolution logits, may be NULL.
 * iou:    (n) predicted IoU, may be NULL.
 * mask:   (image_h, image_w) labels: 0 background, k for the k-th box (1-based;
 *         a later box wins where boxes overlap), may be NULL. */
medsam_status medsam_decode_boxes(const medsam_model *model, const medsam_embedding *emb, int image_w, int image_h,
                                  const medsam_box *boxes, int n, int nthreads, float *logits, float *iou,
                                  uint8_t *mask, medsam_error *err);

/* ---- box zoom -------------------------------------------------------------- */

/* Box zoom (not part of the official pipelines; see README "Box zoom"): a box whose
 * longer side times `factor` is smaller than the image's shorter side is segmented on
 * the square window of that side (at least 32 px) centred on it, encoded as an image of
 * its own, and its mask pasted back. 0 = off (every official model). A model file may
 * ask for it (safetensors metadata "medsam.box_zoom", the bundled default model does);
 * medsam_model_set_box_zoom overrides that. Only medsam_segment_pixels applies it. */
double medsam_model_get_box_zoom(const medsam_model *model);
medsam_status medsam_model_set_box_zoom(medsam_model *model, double factor, medsam_error *err);

/* Preprocess + encode + decode in one call, with the model's box zoom: pixels as
 * medsam_preprocess_pixels takes them, n boxes in pixel coordinates, mask
 * (height, width) labels as medsam_decode_boxes writes them (0, k for the k-th box, a
 * later box wins). Without zoom (or when no box is small) this is exactly
 * medsam_model_preprocess + medsam_encode + medsam_decode_boxes; a zoomed box costs
 * one more encode. *encodes (may be NULL): how many encodes ran. */
medsam_status medsam_segment_pixels(const medsam_model *model, const void *pixels, int width, int height, int channels,
                                    int bit_depth, const medsam_box *boxes, int n, int nthreads, uint8_t *mask,
                                    int *encodes, medsam_error *err);

/* For interactive use (many prompts on few images): computes the decoder's
 * per-model input once (the positional encoding token-major and the decoder's
 * weights packed for the GEMM; 16 MB for SAM's decoder) and keeps it with the
 * model, so that each later decode call skips that work. Same results, bit for
 * bit. One-shot programs need not call it (it would only add to their peak
 * memory). Not thread-safe: call it before decoding from several threads; a
 * second call does nothing. `medsam serve` calls it at start. */
medsam_status medsam_model_keep_decoder_input(medsam_model *model, int nthreads, medsam_error *err);

/* ---- point, box and mask prompts (SAM's interactive prompts) ----------- */

#define MEDSAM_MAX_POINTS 64

/* One prompt set, as SamPredictor.predict takes it: any of points, one box and a
 * low-resolution mask (at least a point or a box, or a mask input). Coordinates
 * are the ORIGINAL image's pixels, inside [0,W]x[0,H], mapped to the model's frame
 * by its pipeline exactly as boxes are. */
typedef struct {
    const float *points;     /* (n_points, 2) x, y; may be NULL when n_points == 0 */
    const int *labels;       /* (n_points) 1 foreground, 0 background */
    int n_points;            /* 0 .. MEDSAM_MAX_POINTS */
    int has_box;             /* non-zero: `box` is part of the prompt */
    medsam_box box;
    const float *mask_input; /* (mask_size, mask_size) low-resolution logits, e.g. the best mask of a
                                previous call's `logits` (SAM's refinement loop), or NULL */
} medsam_prompt;

/* Decodes one prompt set against one embedding.
 * multimask: 0 -> one mask (mask token 0), non-zero -> 3 masks (tokens 1..3), as
 *            SamPredictor.predict's multimask_output.
 * logits: (nm, mask_size, mask_size) low-resolution logits, nm = 3 or 1, may be NULL.
 * iou:    (nm) predicted IoU, may be NULL.
 * mask:   (image_h, image_w) 0 / 1: the mask with the highest predicted IoU (the first
 *         of equals), through the model's pipeline's postprocessing, may be NULL. */
medsam_status medsam_decode_prompt(const medsam_model *model, const medsam_embedding *emb, int image_w, int image_h,
                                   const medsam_prompt *prompt, int multimask, int nthreads, float *logits,
                                   float *iou, uint8_t *mask, medsam_error *err);

/* ==== volumes (3-D): NIfTI / DICOM / npz in, label volumes out ===========
 *
 * Slices are taken along the volume's third array axis (k, "z") in voxel
 * space. Slice z is a 2-D image of ny rows and nx columns: pixel (row y,
 * column x) is voxel (x, y, z), exactly as NIfTI stores it and as MedSAM's
 * npz files hold it (imgs[z] is (H, W) = (ny, nx)). Box x / y coordinates are
 * pixel coordinates of that image, with the same rules as medsam_box.
 *
 * Pipeline (LiteMedSAM's 3-D protocol on MedSAM's 2-D pipeline):
 *  1. intensities of the whole volume to uint8 (pre_CT_MR.py): a CT window or
 *     the 0.5 / 99.5 percentiles of the voxels > 0 (see medsam_intensity);
 *  2. each slice goes through MedSAM_Inference.py's 2-D preprocessing (grey to
 *     3 channels, skimage resize to img_size, uint8, min-max) and the encoder;
 *  3. for each 3-D box, the middle slice z0 + (z1 - z0) / 2 is segmented with
 *     the box's x / y; segmentation then propagates up to z1 and down to z0:
 *     each next slice's box is the bounding box of the previous slice's mask
 *     (inclusive pixel indices, as MedSAM's get_bbox) grown by `margin` pixels
 *     on every side and clamped to the slice, or the box's own x / y when the
 *     previous mask is empty;
 *  4. box k (1-based) writes label k; where boxes overlap the later box wins.
 * Every slice is encoded once: all boxes on a slice share its embedding.
 * Steps 2 and 3 are the model's pipeline's (medsam_model_set_pipeline): the above
 * is MEDSAM's; LITE (CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D exactly) encodes
 * slices through its own preprocessing and takes each next box from the previous
 * mask (holding the box index as a byte) resized with INTER_AREA to the 256 frame,
 * get_bbox256 with bbox_shift 3 there, clamped to [0, 256]; the middle box is
 * resize_box_to_256's (int truncation). */

typedef struct medsam_volume medsam_volume; /* a volume read from a file, with its geometry */

typedef struct {
    int nx, ny, nz;          /* voxels; slices are (ny, nx) images along z */
    double spacing[3];       /* voxel size along x, y, z (NIfTI pixdim[1..3]) */
    double affine[4][4];     /* voxel (x, y, z, 1) -> world: NIfTI's best affine, or DICOM's geometry */
    const char *format;      /* "nifti", "dicom" or "npz" */
    const char *dtype;       /* stored sample type, e.g. "int16" */
    int scaled;              /* values are stored * slope + intercept */
    char modality[17];       /* DICOM Modality ("CT", "MR", ...), "" when the file has none */
    int has_window;          /* DICOM WindowCenter / WindowWidth present */
    double window_center, window_width;
} medsam_volume_info;

/* Reads a NIfTI (.nii, .nii.gz), a DICOM file or series folder, or an npz
 * with imgs (D, H, W) [+ spacing (x, y, z)]; the format comes from the content.
 * Only single-channel 3-D volumes (or 4-D with one volume) can be segmented. */
medsam_status medsam_volume_read(const char *path, medsam_volume **out, medsam_error *err);
/* The same under a budget (NULL: the default, which medsam_volume_read uses too). */
medsam_status medsam_volume_read_budget(const char *path, const medsam_budget *budget, medsam_volume **out,
                                        medsam_error *err);
void medsam_volume_get_info(const medsam_volume *vol, medsam_volume_info *info);
void medsam_volume_free(medsam_volume *vol);
/* The voxels as stored: (nz, ny, nx) samples of info.dtype in the host's byte
 * order, owned by vol; the values are sample * slope + inter (slope 1, inter 0
 * when info.scaled is 0); NULL after medsam_volume_release_voxels. */
const void *medsam_volume_samples(const medsam_volume *vol, double *slope, double *inter);
/* Frees the voxels of a volume once they are normalised (medsam_volume_normalize), keeping
 * its info and geometry, which is all medsam_volume_write_labels needs: the decoded volume
 * and the uint8 one are then not held together while segmenting. */
void medsam_volume_release_voxels(medsam_volume *vol);

typedef enum {
    MEDSAM_INTENSITY_AUTO = 0,     /* DICOM CT: soft-tissue window; uint8 volumes (unscaled): as they are;
                                      anything else: percentiles. NIfTI and npz carry no modality: pass a
                                      window for CT. */
    MEDSAM_INTENSITY_AS_IS,        /* uint8 volumes only: no change */
    MEDSAM_INTENSITY_WINDOW,       /* CT: clip to [level - width/2, level + width/2], min-max to 0..255 */
    MEDSAM_INTENSITY_PERCENTILE,   /* MR: clip to the 0.5 / 99.5 percentiles of voxels > 0, min-max to
                                      0..255, voxels that were 0 stay 0 */
    MEDSAM_INTENSITY_DICOM_WINDOW, /* the DICOM file's own WindowCenter / WindowWidth as a window */
} medsam_intensity_mode;

typedef struct {
    medsam_intensity_mode mode;
    double level, width; /* MEDSAM_INTENSITY_WINDOW */
} medsam_intensity;

/* Parses "soft" (L40/W400), "lung" (L-600/W1500), "brain" (L40/W80),
 * "bone" (L400/W1800), "dicom" (the file's window) or "LEVEL,WIDTH". */
medsam_status medsam_intensity_parse(const char *spec, medsam_intensity *out, medsam_error *err);

/* What medsam_volume_normalize applied: the resolved mode and the clip bounds
 * (window edges, or the two percentiles; 0 for AS_IS). */
typedef struct {
    medsam_intensity_mode mode;
    double lo, hi;
} medsam_intensity_applied;

/* The uint8 volume the segmentation works on: out (nz, ny, nx). `how` may be
 * NULL (AUTO); `applied` may be NULL. */
medsam_status medsam_volume_normalize(const medsam_volume *vol, const medsam_intensity *how, uint8_t *out,
                                      medsam_intensity_applied *applied, medsam_error *err);

/* A 3-D box: x / y as medsam_box on every slice, z0 <= z1 the inclusive slice
 * range (0 <= z0 <= z1 < nz), as the CVPR24 npz's [x_min, y_min, z_min, x_max, y_max, z_max]. */
typedef struct {
    float x0, y0, x1, y1;
    int z0, z1;
} medsam_box3d;

/* Progress: `done` of `total` slices encoded so far (called with done = 0
 * first). Returning non-zero stops the work: the call then returns
 * MEDSAM_ERR_IO with the message "cancelled" and writes nothing else. */
typedef int (*medsam_progress_fn)(void *user, int done, int total);

typedef struct {
    int nthreads;            /* <= 0: 1 */
    double margin;           /* pixels added around the previous mask's box; <= 0: 3 * max(nx, ny) / 256,
                                LiteMedSAM's 3 px of its 256-pixel longest side mapped back to the slice
                                (LITE pipeline: get_bbox256's bbox_shift in its 256 frame, <= 0: 3) */
    long long cache_bytes;   /* bound on embeddings kept for reuse between the downward and upward sweeps;
                                0: 1 GiB; < 0: none (slices needed twice are then encoded twice) */
    medsam_progress_fn progress; /* may be NULL */
    void *progress_user;
    /* filled by the call */
    int slices_encoded;      /* encoder runs */
    int boxes_decoded;       /* decoder runs (one per box per slice) */
} medsam_volume_opts;

/* Segments n 3-D boxes in a normalised uint8 volume vol (nz, ny, nx).
 * labels (nz, ny, nx): label_bytes 1 (uint8_t, n <= 255) or 2 (uint16_t,
 * n <= 65535); 0 background, k for box k. `opts` may be NULL (defaults). */
medsam_status medsam_segment_volume(const medsam_model *model, const uint8_t *vol, int nx, int ny, int nz,
                                    const medsam_box3d *boxes, int n, medsam_volume_opts *opts, void *labels,
                                    int label_bytes, medsam_error *err);

/* One slice z of vol (nz, ny, nx) with 2-D boxes: mask (ny, nx) labels 1..n
 * (later box wins); the same result as medsam_segment_volume with z0 = z1 = z. */
medsam_status medsam_segment_slice(const medsam_model *model, const uint8_t *vol, int nx, int ny, int nz, int z,
                                   const medsam_box *boxes, int n, int nthreads, uint8_t *mask, medsam_error *err);

/* The values of slice z as float (ny, nx), scaled (raw * slope + intercept)
 * as medsam_volume_normalize sees them: for display (a viewer's own window). */
medsam_status medsam_volume_slice_values(const medsam_volume *vol, int z, float *out, medsam_error *err);

/* Writes labels (nz, ny, nx) on the grid of `ref` (same dimensions, voxel
 * sizes, qform / sform and codes: it overlays the input in any viewer) as
 * NIfTI-1, gzip-compressed when `path` ends in ".gz"; atomic. */
medsam_status medsam_volume_write_labels(const char *path, const medsam_volume *ref, const void *labels,
                                         int label_bytes, medsam_error *err);

/* ==== evaluation: DSC, NSD, surface distances (utils/SurfaceDice.py) ==== */

typedef struct {
    double dsc;            /* Dice; NaN when both masks are empty, 0 when one is */
    double nsd;            /* normalised surface Dice at the tolerance; NaN both empty, 0 one empty */
    double asd_gt_to_pred; /* average surface distance, gt surfels to the prediction's surface */
    double asd_pred_to_gt;
    double hd95;           /* 95 % robust Hausdorff distance; +inf when a mask is empty */
    long long vol_gt, vol_pred; /* voxels of the label in each map */
} medsam_metrics;

/* The metrics of one label between two label maps of the same shape
 * (n0, n1, n2) in C order (a 2-D (H, W) map is (H, W, 1), as MedSAM's
 * compute_metrics.py evaluates it). pred_bytes / gt_bytes: 1 (uint8_t) or 2
 * (uint16_t) per voxel. spacing[a] is the voxel size along array axis a
 * (NIfTI (z, y, x) arrays: pixdim 3, 2, 1); tolerance is the NSD tolerance in
 * the same unit (MedSAM: 2). label 0 compares "any non-zero" (binary masks).
 * The numbers equal `medsam eval`'s for that label. */
medsam_status medsam_eval_label(const void *pred, int pred_bytes, const void *gt, int gt_bytes,
                                const long long shape[3], const double spacing[3], double tolerance,
                                unsigned label, int nthreads, medsam_metrics *out, medsam_error *err);

#ifdef __cplusplus
}
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility pop
#endif
#endif
