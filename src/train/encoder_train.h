/* encoder_train.h — training forward and backward of the ViT image encoder.
 *
 * ref: segment_anything/modeling/image_encoder.py:ImageEncoderViT.forward, Block, Attention
 *
 * The forward computes what ms_image_encoder_forward computes (same kernels up
 * to the inference path's vectorised LayerNorm/GELU variants) and keeps, per
 * block: the block input, LayerNorm statistics, the norm1 output, qkv
 * (window-partitioned in windowed blocks, where the qkv and proj linears run on
 * the real tokens only and padded tokens' qkv is the bias), the attention output,
 * the mid-block residual, norm2's output and the MLP hidden layer before and
 * after GELU. Attention scores are never stored: vit_attention_backward_cached
 * recomputes them per tile.
 * ViT-B at 1024: about 2.6 GB for one image.
 *
 * Layout: token-major, channels-last (tokens, C); the embedding is kept
 * channels-last (G*G, out_chans) (the official (out_chans, G, G) transposed).
 * Gradients are ACCUMULATED (+=) into the views of `g` (bound with ms_weights_bind
 * to a gradient buffer laid out like the parameters); one image per call.
 */
#ifndef MS_TRAIN_ENCODER_TRAIN_H
#define MS_TRAIN_ENCODER_TRAIN_H
#include <stddef.h>

#include "model/config.h"
#include "model/params.h"

typedef struct {       /* saved activations of one block */
    float *x_in;       // (N, C) block input
    float *mean1, *rstd1; // (N)
    float *lnw;        // (N, C) norm1 output
    float *qkv;        // (R, 3C) window-partitioned (R = Hp*Hp, padded tokens = the bias) or not (R = N)
    float *att;        // (R, C) attention output before proj
    float *lse;        // (heads, R) log-sum-exp of each score row (global blocks; NULL in windowed ones)
    float *x_mid;      // (N, C) x_in + attention branch
    float *mean2, *rstd2; // (N)
    float *ln2;        // (N, C)
    float *h_pre;      // (N, M) lin1 output
    float *h_act;      // (N, M) gelu(h_pre)
} ms_enc_block_cache;

typedef struct {
    long N;            /* G*G tokens */
    int Hp;            /* padded grid for windowed blocks (G when none) */
    ms_enc_block_cache blk[MS_MAX_DEPTH];
    float *x_final;    // (N, C) last block output
    float *neck_a;     // (N, O) conv1x1 output
    float *neck_m1, *neck_r1; // (N)
    float *neck_a1;    // (N, O) LayerNorm2d output
    float *neck_b;     // (N, O) conv3x3 output
    float *neck_m2, *neck_r2; // (N)
    float *emb;        // (N, O) the image embedding, channels-last
    /* scratch */
    float *dx;         // (N, C) gradient of the residual stream
    float *dA, *dB;    // (Npad, max(C, O)) each
    float *dqkv;       // (Npad, 3C)
    float *dH1, *dH2;  // (N, M) each
    float *col;        // im2col for patch embed / conv3x3
    float *attn_fwd;   // forward attention scratch (nthreads)
    float *attn_bwd;   // backward attention scratch
    int nthreads;      /* thread count the scratch was sized for */
} ms_enc_train;

/* Floats of ms_enc_train_carve's buffer; 0 for an unsupported configuration. */
size_t ms_enc_train_floats(const ms_config *c, int nthreads);
/* Points e's fields into buf (ms_enc_train_floats(c, nthreads) floats). 0 on success, -1 unsupported. */
int ms_enc_train_carve(ms_enc_train *e, const ms_config *c, int nthreads, float *buf);

/* image: (3, S, S) CHW. Output: e->emb (N, O). */
void ms_enc_train_forward(ms_enc_train *e, const ms_config *c, const ms_image_encoder_w *w, const float *image,
                          int nthreads);
/* demb: (N, O) gradient of the loss w.r.t. e->emb (read only).
 * g: gradient views, accumulated. image: the forward's input. */
void ms_enc_train_backward(ms_enc_train *e, const ms_config *c, const ms_image_encoder_w *w, ms_image_encoder_w *g,
                           const float *image, const float *demb, int nthreads);

#endif
