/* image_encoder_bf16.c — the ViT encoder's bf16 weights (see image_encoder.h):
 * qkv, proj, lin1 and lin2 of every block converted once to the bf16 GEMM's
 * packed panels. ref: image_encoder.py:Attention.qkv / .proj, common.py:MLPBlock.lin1 / .lin2 */
#include <stdlib.h>

#include "core/error.h"
#include "model/image_encoder.h"

void ms_vit_bf16_free(ms_vit_bf16 *lp) {
    if (!lp) return;
    for (int b = 0; b < lp->depth && b < MS_MAX_DEPTH; b++) {
        gemm_bf16_b_free(lp->blocks[b].qkv);
        gemm_bf16_b_free(lp->blocks[b].proj);
        gemm_bf16_b_free(lp->blocks[b].lin1);
        gemm_bf16_b_free(lp->blocks[b].lin2);
    }
    free(lp);
}

ms_vit_bf16 *ms_vit_bf16_make(const ms_config *c, const ms_image_encoder_w *w, gemm_bf16_path path, medsam_error *err) {
    if (c->depth < 1 || c->depth > MS_MAX_DEPTH) {
        ms_error(err, MEDSAM_ERR_ARG, "bf16 encoder: unsupported depth %d", c->depth);
        return NULL;
    }
    ms_vit_bf16 *lp = calloc(1, sizeof *lp);
    if (!lp) {
        ms_error(err, MEDSAM_ERR_NOMEM, "bf16 encoder: out of memory");
        return NULL;
    }
    lp->depth = c->depth;
    lp->path = path == GEMM_BF16_AUTO ? gemm_bf16_best_path() : path;
    const int C = c->embed_dim, M = c->mlp_dim;
    int ok = 1;
    for (int b = 0; b < c->depth && ok; b++) {
        const ms_vit_block_w *bw = &w->blocks[b];
        ms_vit_block_bf16 *lb = &lp->blocks[b];
        lb->qkv = gemm_bf16_pack_b(1, C, 3 * C, bw->qkv_w, C);   // qkv_w (3C, C) -> (C, 3C)
        lb->proj = gemm_bf16_pack_b(1, C, C, bw->proj_w, C);     // proj_w (C, C)
        lb->lin1 = gemm_bf16_pack_b(1, C, M, bw->lin1_w, C);     // lin1_w (M, C) -> (C, M)
        lb->lin2 = gemm_bf16_pack_b(1, M, C, bw->lin2_w, M);     // lin2_w (C, M) -> (M, C)
        ok = lb->qkv && lb->proj && lb->lin1 && lb->lin2;
    }
    if (!ok) {
        ms_vit_bf16_free(lp);
        ms_error(err, MEDSAM_ERR_NOMEM, "bf16 encoder: out of memory converting the weights");
        return NULL;
    }
    return lp;
}
