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

medsam_status ms_tinyvit_set_bf16(const ms_config *c, void *state, int on, gemm_bf16_path path, medsam_error *err) {
    ms_tinyvit_state *s = state;
    if (!s) return ms_error(err, MEDSAM_ERR_ARG, "TinyViT bf16: no encoder state");
    tv_bf16_free(s->bf16);
    s->bf16 = NULL;
    if (!on) return MEDSAM_OK;
    const ms_tinyvit_config *t = &c->tv;
    const ms_tinyvit_w *v = &s->v;
    ms_tinyvit_bf16 *h = calloc(1, sizeof *h);
    if (!h) return ms_error(err, MEDSAM_ERR_NOMEM, "TinyViT bf16: out of memory");
    h->path = path == GEMM_BF16_AUTO ? gemm_bf16_best_path() : path;
    int ok = 1;
    // ref: the PACK list of ms_tinyvit_prepare, one for one
#define PACK(dst, wt, in, out) ok = ok && ((dst) = gemm_bf16_pack_b(1, (in), (out), (wt), (in))) != NULL
    PACK(h->stem1, s->stem[1].w, t->stem_mid, t->dims[0]);
    for (int k = 0; k < t->depths[0]; k++) {
        PACK(h->mbconv[k][0], s->mbconv[k][0].w, t->dims[0], t->mbconv_hidden);
        PACK(h->mbconv[k][1], s->mbconv[k][2].w, t->mbconv_hidden, t->dims[0]);
    }
    for (int i = 0; i + 1 < MS_TV_STAGES; i++) {
        PACK(h->merge[i][0], s->merge[i][0].w, t->dims[i], t->dims[i + 1]);
        PACK(h->merge[i][1], s->merge[i][2].w, t->dims[i + 1], t->dims[i + 1]);
    }
    for (int i = 1; i < MS_TV_STAGES; i++)
        for (int k = 0; k < t->depths[i]; k++) {
            const ms_tv_block_w *b = &v->blocks[i][k];
            const int C = t->dims[i], M = t->mlp_hidden[i];
            PACK(h->blocks[i][k].qkv, b->qkv_w, C, 3 * C);
            PACK(h->blocks[i][k].proj, b->proj_w, C, C);
            PACK(h->blocks[i][k].fc1, b->fc1_w, C, M);
            PACK(h->blocks[i][k].fc2, b->fc2_w, M, C);
        }
    PACK(h->neck1, v->neck_conv1_w, t->dims[MS_TV_STAGES - 1], c->out_chans);
    PACK(h->neck2, v->neck_conv2_w, 9 * c->out_chans, c->out_chans);  // (O, O, 3, 3) = (O, 9*O): im2col's K order
#undef PACK
    if (!ok) {
        tv_bf16_free(h);
        return ms_error(err, MEDSAM_ERR_NOMEM, "TinyViT bf16: out of memory converting the weights");
    }
    s->bf16 = h;
    return MEDSAM_OK;
}
