/* prompt_encoder.h — SAM/MedSAM prompt encoder: points and boxes become sparse
 * tokens, an optional low-resolution mask becomes the dense embedding, and the
 * random-Fourier positional encoding of the image grid (get_dense_pe).
 *
 * ref: segment_anything/modeling/prompt_encoder.py:PromptEncoder,
 *      PositionEmbeddingRandom
 *
 * Coordinates are in the model-input frame (img_size, e.g. 1024 for ViT-B), as
 * (x, y) pairs; boxes are (x0, y0, x1, y1), floats, unrounded (MedSAM_Inference.py
 * scales the user box to 1024 and passes it on as float). One prompt set per call
 * (PyTorch batch size 1). Every function is pure: no allocation, no state.
 */
#ifndef MS_PROMPT_ENCODER_H
#define MS_PROMPT_ENCODER_H
#include <stddef.h>

#include "model/config.h"
#include "model/params.h"

/* Number of sparse tokens a prompt set yields: the points, plus one padding point
 * when points come without a box, plus two box corners.
 * ref: prompt_encoder.py:PromptEncoder.forward (pad=(boxes is None)) */
int ms_prompt_num_sparse(int Np, int has_box);

/* Sparse embeddings: tokens in the order [points..., (pad point), box TL, box BR].
 * points: (Np, 2) or NULL when Np == 0; labels: (Np), 1 positive, 0 negative,
 * -1 not-a-point (any other value adds no label embedding, as in PyTorch);
 * box: (4) or NULL. sparse: (Ns, D) with Ns = ms_prompt_num_sparse(Np, box != NULL);
 * *Ns receives that count (0 when there is neither point nor box). */
void ms_prompt_encode(const ms_config *c, const ms_prompt_encoder_w *w,
                      const float *points,  // (Np, 2) or NULL
                      const int *labels,    // (Np) or NULL
                      int Np,
                      const float *box,     // (4) or NULL
                      float *sparse,        // (Ns, D)
                      int *Ns);

/* Positional encoding of the G x G embedding grid at cell centres (i + 0.5) / G.
 * ref: prompt_encoder.py:PromptEncoder.get_dense_pe. pe: (D, G, G) */
void ms_prompt_dense_pe(const ms_config *c, const ms_prompt_encoder_w *w, float *pe);

/* Floats of scratch ms_prompt_dense_embed needs when given a mask: mask_in_chans * G * G. */
size_t ms_prompt_dense_scratch_floats(const ms_config *c);

/* Dense embedding: no_mask_embed broadcast when mask_in is NULL (scratch unused,
 * may be NULL), else mask_downscaling(mask_in): conv2x2/2 -> LayerNorm2d -> GELU ->
 * conv2x2/2 -> LayerNorm2d -> GELU -> conv1x1.
 * mask_in: (4G, 4G) logits or NULL; dense: (D, G, G);
 * scratch: ms_prompt_dense_scratch_floats(c) floats. */
void ms_prompt_dense_embed(const ms_config *c, const ms_prompt_encoder_w *w,
                           const float *mask_in,  // (4G, 4G) or NULL
                           float *dense,          // (D, G, G)
                           float *scratch,        // (mask_in_chans, G, G)
                           int nthreads);

#endif
