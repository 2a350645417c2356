/* tinyvit_bf16.c — LiteMedSAM's TinyViT linears converted once to bf16 for
 * `--precision bf16` (see tinyvit.h: ms_tinyvit_bf16). The same matrices the
 * fp32 path packs in ms_tinyvit_prepare (BatchNorm already folded), op(B) = W^T. */
#include <stdlib.h>

#include "core/error.h"
#include "model/tinyvit.h"

static void tv_bf16_free(ms_tinyvit_bf16 *h) {
    if (!h) return;
    gemm_bf16_b_free(h->stem1);
    gemm_bf16_b_free(h->neck1);
    gemm_bf16_b_free(h->neck2);
    for (int k = 0; k < MS_TV_MAX_BLOCKS; k++) gemm_bf16_b_free(h->mbconv[k][0]), gemm_bf16_b_free(h->mbconv[k][1]);
    for (int i = 0; i + 1 < MS_TV_STAGES; i++) gemm_bf16_b_free(h->merge[i][0]), gemm_bf16_b_free(h->merge[i][1]);
    for (int i = 0; i < MS_TV_STAGES; i++)
        for (int k = 0; k < MS_TV_MAX_BLOCKS; k++) {
            ms_tv_block_bf16 *b = &h->blocks[i][k];
            gemm_bf16_b_free(b->qkv), gemm_bf16_b_free(b->proj), gemm_bf16_b_free(b->fc1), gemm_bf16_b_free(b->fc2);
        }
    free(h);
}

static void pack_bf16(void *ctx, gemm_packed_b **f32, gemm_bf16_b **bf16, const float *w, int in, int out) {
    (void)f32;
    int *ok = ctx;
    *ok = *ok && (*bf16 = gemm_bf16_pack_b(1, in, out, w, in)) != NULL;
}

medsam_status ms_tinyvit_set_bf16(const ms_config *c, void *state, int on, gemm_bf16_path path, medsam_error *err) {
    ms_tinyvit_state *s = state;
    if (!s) return ms_error(err, MEDSAM_ERR_ARG, "TinyViT bf16: no encoder state");
    tv_bf16_free(s->bf16);
    s->bf16 = NULL;
    if (!on) return MEDSAM_OK;
    ms_tinyvit_bf16 *h = calloc(1, sizeof *h);
    if (!h) return ms_error(err, MEDSAM_ERR_NOMEM, "TinyViT bf16: out of memory");
    h->path = path == GEMM_BF16_AUTO ? gemm_bf16_best_path() : path;
    int ok = 1;
    ms_tinyvit_each_linear(c, s, h, pack_bf16, &ok);  // the fp32 path's list, one for one
    if (!ok) {
        tv_bf16_free(h);
        return ms_error(err, MEDSAM_ERR_NOMEM, "TinyViT bf16: out of memory converting the weights");
    }
    s->bf16 = h;
    return MEDSAM_OK;
}
