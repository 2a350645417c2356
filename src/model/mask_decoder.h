/* mask_decoder.h — SAM/MedSAM mask decoder: two-way transformer between the
 * prompt tokens and the image embedding, transposed-conv upscaling, hypernetwork
 * mask heads and the IoU head, for one prompt set at a time.
 *
 * ref: segment_anything/modeling/mask_decoder.py:MaskDecoder,
 *      segment_anything/modeling/transformer.py:TwoWayTransformer
 *
 * Layouts: image tensors at the embedding grid are channels-first (D, G, G) as
 * in PyTorch; low-res masks are (nm, 4G, 4G) logits (256 x 256 for ViT-B).
 * nm = T - 1 with multimask_output (masks 1..T-1), else 1 (mask 0, MedSAM's
 * default). Ns sparse tokens come from ms_prompt_encode.
 *
 * The fast path is mathematically the PyTorch computation with products
 * re-associated so that no (G*G, internal-dim) projection is formed per prompt
 * for the token->image and image->token attentions:
 *   token->image: softmax((Q_h Wk_h) X^T) X Wv_h^T + bv_h  (the Q_h.bk_h shift
 *                 is constant along the softmax row and drops out);
 *   image->token: softmax(X (K_h Wq_h)^T + K_h bq_h) (V_h Wout_h^T).
 * ms_mask_decoder_forward_ref (mask_decoder_ref.c) is the literal version.
 *
 * Threads: nthreads > 1 runs OpenMP regions and threaded gemm; results do not
 * depend on the thread count. No allocation except on the trace path and in
 * the _ref function; no state.
 */
#ifndef MS_MASK_DECODER_H
#define MS_MASK_DECODER_H
#include <stddef.h>

#include "medsam.h"
#include "model/config.h"
#include "model/params.h"
#include "model/trace.h"
#include "ops/gemm.h"

/* Token-side weights of the decoder in gemm B panels (views into the prepare
 * buffer), so that prompts decoded against one image do not each repack them.
 * Any pointer may be NULL: that product then packs its weight per call (same bits). */
typedef struct {
    const gemm_packed_b *t2i_q, *t2i_out;  // cross_attn_token_to_image q_proj, out_proj
    const gemm_packed_b *i2t_k, *i2t_v;    // cross_attn_image_to_token k_proj, v_proj
    const gemm_packed_b *lin1, *lin2;      // mlp.lin1, mlp.lin2
} ms_dec_layer_packed;

typedef struct {
    ms_dec_layer_packed layers[MS_MAX_DEC_DEPTH];
    const gemm_packed_b *final_q, *final_out;           // final_attn_token_to_image q_proj, out_proj
    const gemm_packed_b *hyper[MS_MAX_MASK_TOKENS][3];  // output_hypernetworks_mlps.t.layers.l
    const gemm_packed_b *iou[MS_MAX_HEAD_DEPTH];        // iou_prediction_head.layers.l
} ms_dec_packed;

/* Per-image decoder input, computed once and shared (read-only) by every prompt
 * decoded against that image: token-major copies of the embedding, and, when
 * `precomputed`, the layer-0 projections that do not depend on the prompt (valid
 * only while the dense embedding is the same for every prompt, e.g. no mask input),
 * and the token-side weights packed once (`packed`, on nthreads threads). */
typedef struct {
    int precomputed;  /* 1: k0, v0, q0 are set */
    ms_dec_packed packed;  /* all NULL when prepare's buffer is not 64-byte aligned */
    const float *src; // (N, D) image_emb + dense, N = G*G
    const float *pos; // (N, D) image_pe
    const float *k0;  // (N, I) layer 0 cross_attn_token_to_image k_proj(src + pos), I = D / dec_attn_down
    const float *v0;  // (N, I) layer 0 cross_attn_token_to_image v_proj(src)
    const float *q0;  // (N, I) layer 0 cross_attn_image_to_token q_proj(src + pos)
} ms_dec_image;

/* The per-model part of the decoder's input, the same for every image: image_pe
 * token-major and the token-side weights packed. A model computes it once at load
 * (ms_mask_decoder_prepare_static) so that each decode call only transposes its own
 * embedding (ms_mask_decoder_prepare_shared): the same bits as ms_mask_decoder_prepare. */
typedef struct {
    const float *pos;     // (N, D) image_pe token-major
    ms_dec_packed packed; // token-side weights
} ms_dec_static;

/* Floats ms_mask_decoder_prepare_static needs in `buf` (any alignment: the packed weights are aligned inside). */
size_t ms_mask_decoder_static_floats(const ms_config *c);
void ms_mask_decoder_prepare_static(const ms_config *c, const ms_mask_decoder_w *w,
                                    const float *image_pe,  // (D, G, G)
                                    float *buf, ms_dec_static *st, int nthreads);
/* Floats ms_mask_decoder_prepare_shared needs in `buf`. */
size_t ms_mask_decoder_image_floats_shared(const ms_config *c, int precompute);
/* ms_mask_decoder_prepare with the per-model part taken from st (kept by reference). */
void ms_mask_decoder_prepare_shared(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_static *st,
                                    const float *image_emb,  // (D, G, G)
                                    const float *dense,      // (D, G, G)
                                    int precompute, float *buf, ms_dec_image *img, int nthreads);

/* Floats ms_mask_decoder_prepare needs in `buf`. */
size_t ms_mask_decoder_image_floats(const ms_config *c, int precompute);

/* Fills `img` with views into buf (ms_mask_decoder_image_floats(c, precompute)).
 * image_emb, image_pe, dense: (D, G, G) (dense from ms_prompt_dense_embed).
 * precompute = 1 pays three (N, D) x (D, I) products once so that each prompt
 * skips its layer-0 token<->image projections: worth it from 2 prompts on.
 * Prepare also packs the token-side weights (about 3M floats for ViT-B) on
 * nthreads threads, once for all prompts instead of once per prompt and
 * product, when buf is 64-byte aligned (else they stay unpacked: same results). */
void ms_mask_decoder_prepare(const ms_config *c, const ms_mask_decoder_w *w,
                             const float *image_emb,  // (D, G, G)
                             const float *image_pe,   // (D, G, G)
                             const float *dense,      // (D, G, G)
                             int precompute, float *buf, ms_dec_image *img, int nthreads);

/* ms_mask_decoder_prepare with the token-side weights left unpacked (each product
 * then packs its own B panels in a small buffer of its own as it runs): the same bits,
 * and for a single prompt faster, since every weight is read once either way and the
 * ~3M floats of packed copies (fresh memory to map and write) are not made. */
size_t ms_mask_decoder_image_floats_unpacked(const ms_config *c, int precompute);
void ms_mask_decoder_prepare_unpacked(const ms_config *c, const ms_mask_decoder_w *w, const float *image_emb,
                                      const float *image_pe, const float *dense, int precompute, float *buf,
                                      ms_dec_image *img, int nthreads);

/* Floats of workspace for ms_mask_decoder_run with up to max_sparse tokens. */
size_t ms_mask_decoder_run_workspace_floats(const ms_config *c, int max_sparse, int nthreads);

/* Decodes one prompt set against a prepared image. Ns must be <= the max_sparse
 * the workspace was sized for. Trace stages (all with layouts as PyTorch's batch 0):
 *   "dec.tokens" (Nt, D), Nt = 1 + T + Ns; "dec.layer<l>.queries" (Nt, D);
 *   "dec.layer<l>.keys" (N, D); "dec.final_queries" (Nt, D); "dec.upscaled"
 *   (D/8, 4G, 4G); "dec.hyper_in" (T, D/8); "dec.iou_all" (T).
 * Returns MEDSAM_ERR_ARG on a bad prompt count or multimask request,
 * MEDSAM_ERR_UNSUPPORTED on dims the heads do not divide, MEDSAM_ERR_NOMEM only
 * when tracing (the upscaled trace is allocated). */
medsam_status ms_mask_decoder_run(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_image *img,
                                  const float *sparse,  // (Ns, D)
                                  int Ns, int multimask_output,
                                  float *masks,  // (nm, 4G, 4G)
                                  float *iou,    // (nm)
                                  float *workspace, int nthreads, ms_trace_fn trace, void *trace_ctx,
                                  medsam_error *err);

/* Floats of workspace for ms_mask_decoder_forward: image part + run part. */
size_t ms_mask_decoder_workspace_floats(const ms_config *c, int max_sparse, int nthreads);

/* One prompt set, from scratch: prepare (no precompute) + run. */
medsam_status ms_mask_decoder_forward(const ms_config *c, const ms_mask_decoder_w *w,
                                      const float *image_emb,  // (D, G, G)
                                      const float *image_pe,   // (D, G, G)
                                      const float *sparse,     // (Ns, D)
                                      int Ns,
                                      const float *dense,      // (D, G, G)
                                      int multimask_output,
                                      float *masks,  // (nm, 4G, 4G)
                                      float *iou,    // (nm)
                                      float *workspace, int nthreads, ms_trace_fn trace, void *trace_ctx,
                                      medsam_error *err);

/* Floats of workspace for ms_mask_decoder_run_batch with B prompt sets (at most B). */
size_t ms_mask_decoder_batch_workspace_floats(const ms_config *c, int Ns, int B, int nthreads);

/* B prompt sets with Ns tokens each against one prepared image (e.g. many boxes:
 * prepare with precompute = 1). Prompts are spread over the threads, one thread
 * each (a single prompt uses all threads). Same results as B calls of run.
 * sparse: (B, Ns, D); masks: (B, nm, 4G, 4G); iou: (B, nm). */
medsam_status ms_mask_decoder_run_batch(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_image *img,
                                        const float *sparse, int Ns, int B, int multimask_output, float *masks,
                                        float *iou, float *workspace, int nthreads, medsam_error *err);

/* Literal transcription of the PyTorch code (plain attention, channels-first
 * upscaling), allocating its own temporaries: the reference the fast path is
 * tested against. Same arguments and trace stages as ms_mask_decoder_forward. */
medsam_status ms_mask_decoder_forward_ref(const ms_config *c, const ms_mask_decoder_w *w, const float *image_emb,
                                          const float *image_pe, const float *sparse, int Ns, const float *dense,
                                          int multimask_output, float *masks, float *iou, int nthreads,
                                          ms_trace_fn trace, void *trace_ctx, medsam_error *err);

#endif
