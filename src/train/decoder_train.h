/* decoder_train.h — training forward and backward of the mask decoder for
 * MedSAM's training step: one prompt set per image, multimask_output=False
 * (only mask 0 reaches the loss), the IoU head skipped (it is not in the loss
 * graph, so its parameters get no gradient, as PyTorch leaves their .grad None).
 *
 * ref: segment_anything/modeling/mask_decoder.py:MaskDecoder.predict_masks,
 *      segment_anything/modeling/transformer.py:TwoWayTransformer, TwoWayAttentionBlock
 * Written like mask_decoder_ref.c (plain attention via mha_forward_train),
 * keeping every intermediate the backward needs. Token-major (rows, D) layouts;
 * the upscaling runs channels-first as in PyTorch, its LayerNorm2d channels-last.
 * Gradients are ACCUMULATED into the views of `g`.
 */
#ifndef MS_TRAIN_DECODER_TRAIN_H
#define MS_TRAIN_DECODER_TRAIN_H
#include <stddef.h>

#include "model/config.h"
#include "model/params.h"

typedef struct {           /* saved activations of one TwoWayAttentionBlock */
    float *q_in;           // (Nt, D) queries in (layer 0: the tokens)
    float *keys_in;        // (N, D)
    float *qp0;            // (Nt, D) q_in + tokens (layers > 0)
    float *sa_cache;       // mha_cache_floats(Nt, Nt, D, h)
    float *q1_pre, *m1, *r1, *q1;  // (Nt, D), (Nt), (Nt), (Nt, D)
    float *qp1;            // (Nt, D) q1 + tokens
    float *kp;             // (N, D) keys_in + key_pe
    float *t2i_cache;      // mha_cache_floats(Nt, N, I, h)
    float *q2_pre, *m2, *r2, *q2;
    float *hid;            // (Nt, F) relu(lin1(q2))
    float *q3_pre, *m3, *r3, *q3;
    float *qp3;            // (Nt, D) q3 + tokens
    float *i2t_cache;      // mha_cache_floats(N, Nt, I, h)
    float *keys_pre, *m4, *r4; // (N, D), (N), (N)
} ms_dec_layer_cache;

typedef struct {
    int Nt, Ns;            /* tokens = 1 + T + Ns */
    long N;                /* G*G */
    float *tok;            // (Nt, D) [iou_token, mask_tokens, sparse]
    float *src;            // (N, D) image embedding + dense
    const float *pos;      // (N, D) image_pe (caller's, token-major)
    ms_dec_layer_cache L[MS_MAX_DEC_DEPTH];
    float *qf_in, *keys_f; // (Nt, D), (N, D) inputs of the final attention
    float *qpf, *kpf;      // (Nt, D), (N, D)
    float *fin_cache;      // mha_cache_floats(Nt, N, I, h)
    float *qf_pre, *mf, *rf, *qf; // (Nt, D), (Nt), (Nt), (Nt, D)
    float *keys_cf;        // (D, G, G) final keys, channels-first
    float *up1_cl;         // (4N, O1) conv-transpose 1 output, channels-last
    float *up1_m, *up1_r;  // (4N)
    float *up1_ln;         // (4N, O1)
    float *up1_act;        // (O1, 2G, 2G) gelu output, channels-first
    float *up2_pre, *up2;  // (O2, 4G, 4G) before / after gelu
    float *h1, *h2, *hyper0; // (D), (D), (O2) hypernetwork MLP 0
    float *mask;           // (4G, 4G) low-res logits of mask 0: the forward's output
    /* backward scratch */
    float *dtok, *dq, *dqa, *dqb, *dqc; // (Nt, D)
    float *dkeys, *dkeys2, *dkp;        // (N, D)
    float *dhid, *dhid2;                // (Nt, F)
    float *dup_a, *dup_b;               // (max(O2*16N, D*N, O1*4N))
    float *mha_scratch;
    float *dh;                          // (3 * D) hypernetwork scratch
} ms_dec_train;

size_t ms_dec_train_floats(const ms_config *c, int Ns);
/* 0 on success, -1 for sizes this code cannot run. */
int ms_dec_train_carve(ms_dec_train *d, const ms_config *c, int Ns, float *buf);

/* emb: (N, D) image embedding, token-major; dense, pos: (N, D) token-major (frozen
 * prompt encoder outputs); sparse: (Ns, D). Output: d->mask (4G, 4G). pos is kept by pointer. */
void ms_dec_train_forward(ms_dec_train *d, const ms_config *c, const ms_mask_decoder_w *w, const float *emb,
                          const float *dense, const float *pos, const float *sparse, int nthreads);
/* dmask: (4G, 4G) gradient w.r.t. d->mask; demb: (N, D) gradient w.r.t. emb, ACCUMULATED. */
void ms_dec_train_backward(ms_dec_train *d, const ms_config *c, const ms_mask_decoder_w *w, ms_mask_decoder_w *g,
                           const float *dmask, float *demb, int nthreads);

#endif
