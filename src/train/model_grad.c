/* model_grad.c — one MedSAM training step's loss and gradients (see model_grad.h). */
#include "train/model_grad.h"

#include <stdlib.h>
#include <string.h>

#include "core/big_alloc.h"
#include "core/error.h"
#include "model/prompt_encoder.h"
#include "ops/backward.h"
#include "pipeline/postprocess.h"
#include "train/decoder_train.h"
#include "train/encoder_train.h"
#include "train/loss.h"

#define MG_NS 2 /* sparse tokens of one box prompt */

struct ms_grad_ctx {
    ms_config cfg;
    int batch, nthreads;
    size_t floats;
    float *buf;          // one allocation
    ms_enc_train enc;
    ms_dec_train dec;
    float *pos;          // (N, D) image_pe, token-major
    float *dense;        // (N, D) no_mask_embed broadcast, token-major
    float *tmp_cf;       // (D, N)
    float *sparse;       // (MG_NS, D)
    float *logits;       // (S, S)
    float *dlogits;      // (S, S)
    float *dmask;        // (4G, 4G)
    float *demb;         // (N, D)
};

int ms_param_gets_grad(const ms_param *p) {
    return p->trainable && strncmp(p->name, "mask_decoder.iou_prediction_head.", 33) != 0;
}

ms_grad_ctx *ms_grad_ctx_new(const ms_config *c, int batch, int nthreads, medsam_error *err) {
    if (!c || batch < 1) {
        ms_error(err, MEDSAM_ERR_ARG, "grad ctx: NULL config or batch < 1");
        return NULL;
    }
    if (c->encoder != MS_ENC_VIT) {
        ms_error(err, MEDSAM_ERR_UNSUPPORTED, "training is implemented for the SAM ViT family only");
        return NULL;
    }
    if (nthreads < 1) nthreads = 1;
    const size_t fe = ms_enc_train_floats(c, nthreads), fd = ms_dec_train_floats(c, MG_NS);
    if (!fe || !fd || c->out_chans != c->prompt_dim) {
        ms_error(err, MEDSAM_ERR_UNSUPPORTED, "grad ctx: unsupported configuration (embed %d, out %d, prompt %d)",
                 c->embed_dim, c->out_chans, c->prompt_dim);
        return NULL;
    }
    const long N = (long)c->grid * c->grid, D = c->prompt_dim, S = c->img_size, L = 4L * c->grid;
    const size_t extra = (size_t)(4 * N * D + MG_NS * D + 2 * S * S + L * L) + 16 * 8;
    ms_grad_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        ms_error(err, MEDSAM_ERR_NOMEM, "grad ctx: out of memory");
        return NULL;
    }
    ctx->floats = fe + fd + extra;
    ctx->buf = ms_big_alloc(ctx->floats * sizeof(float));
    if (!ctx->buf) {
        ms_error(err, MEDSAM_ERR_NOMEM, "grad ctx: cannot allocate %zu MB of activations",
                 ctx->floats * sizeof(float) >> 20);
        free(ctx);
        return NULL;
    }
    ctx->cfg = *c;
    ctx->batch = batch;
    ctx->nthreads = nthreads;
    ms_enc_train_carve(&ctx->enc, c, nthreads, ctx->buf);
    ms_dec_train_carve(&ctx->dec, c, MG_NS, ctx->buf + fe);
    float *p = ctx->buf + fe + fd;
    ctx->pos = p, p += N * D;
    ctx->dense = p, p += N * D;
    ctx->tmp_cf = p, p += N * D;
    ctx->demb = p, p += N * D;
    ctx->sparse = p, p += MG_NS * D;
    ctx->logits = p, p += S * S;
    ctx->dlogits = p, p += S * S;
    ctx->dmask = p;
    return ctx;
}

void ms_grad_ctx_free(ms_grad_ctx *ctx) {
    if (!ctx) return;
    free(ctx->buf);
    free(ctx);
}

size_t ms_grad_ctx_bytes(const ms_grad_ctx *ctx) { return ctx ? ctx->floats * sizeof(float) + sizeof *ctx : 0; }

static void mg_to_token_major(float *dst, const float *src, long D, long N) {
    for (long n = 0; n < N; n++)
        for (long k = 0; k < D; k++) dst[n * D + k] = src[k * N + n];
}

medsam_status ms_model_loss_grad(ms_grad_ctx *ctx, const ms_config *c, const ms_weights *w, float *grads,
                                 const float *images, const float *boxes, const float *gt, int B, double loss_out[3],
                                 medsam_error *err) {
    if (!ctx || !c || !w || !grads || !images || !boxes || !gt)
        return ms_error(err, MEDSAM_ERR_ARG, "model grad: NULL argument");
    if (B < 1 || B > ctx->batch)
        return ms_error(err, MEDSAM_ERR_ARG, "model grad: batch %d outside 1..%d", B, ctx->batch);
    if (memcmp(c, &ctx->cfg, sizeof *c) != 0)
        return ms_error(err, MEDSAM_ERR_ARG, "model grad: configuration differs from the context's");
    const int nt = ctx->nthreads, S = c->img_size, L = 4 * c->grid;
    const long N = (long)c->grid * c->grid, D = c->prompt_dim, SS = (long)S * S;
    ms_weights g;
    ms_weights_bind(c, grads, &g);
    // ref: MedSAM.forward -- prompt encoder under no_grad: image_pe and the dense (no mask) embedding
    ms_prompt_dense_pe(c, &w->pe, ctx->tmp_cf);
    mg_to_token_major(ctx->pos, ctx->tmp_cf, D, N);
    ms_prompt_dense_embed(c, &w->pe, NULL, ctx->tmp_cf, NULL, nt);
    mg_to_token_major(ctx->dense, ctx->tmp_cf, D, N);
    double sum[3] = {0, 0, 0};
    for (int b = 0; b < B; b++) {
        const float *img = images + (size_t)b * 3 * SS;  // (3, S, S)
        const float *gtb = gt + (size_t)b * SS;          // (S, S)
        for (int k = 0; k < 4; k++)
            if (!(boxes[b * 4 + k] == boxes[b * 4 + k]))
                return ms_error(err, MEDSAM_ERR_NUMERIC, "model grad: box %d is not finite", b);
        int Ns = 0;
        ms_prompt_encode(c, &w->pe, NULL, NULL, 0, boxes + b * 4, ctx->sparse, &Ns);
        // ref: MedSAM.forward -- image_encoder, mask_decoder(multimask_output=False), F.interpolate
        ms_enc_train_forward(&ctx->enc, c, &w->enc, img, nt);
        ms_dec_train_forward(&ctx->dec, c, &w->dec, ctx->enc.emb, ctx->dense, ctx->pos, ctx->sparse, nt);
        ms_upsample_bilinear_f32(ctx->dec.mask, L, L, S, S, ctx->logits);
        // ref: train_one_gpu.py -- seg_loss + ce_loss; per image, each weighted 1/B
        double l[3];
        loss_dice_bce_stats st;
        loss_dice_bce_forward(l, &st, ctx->logits, gtb, 1, SS);
        for (int k = 0; k < 3; k++) sum[k] += l[k];
        memset(ctx->dlogits, 0, sizeof(float) * (size_t)SS);
        loss_dice_bce_backward(ctx->dlogits, &st, ctx->logits, gtb, 1.0f / (float)B, 1, SS, nt);
        memset(ctx->dmask, 0, sizeof(float) * (size_t)L * L);
        upsample_bilinear_backward(ctx->dmask, ctx->dlogits, 1, L, L, S, S, nt);
        memset(ctx->demb, 0, sizeof(float) * (size_t)(N * D));
        ms_dec_train_backward(&ctx->dec, c, &w->dec, &g.dec, ctx->dmask, ctx->demb, nt);
        ms_enc_train_backward(&ctx->enc, c, &w->enc, &g.enc, img, ctx->demb, nt);
    }
    if (loss_out)
        for (int k = 0; k < 3; k++) loss_out[k] = sum[k] / B;
    return MEDSAM_OK;
}
