/* tinyvit.c — LiteMedSAM's TinyViT: recognition, configuration from tensor
 * shapes, the parameter walk, and BatchNorm folding at load (see tinyvit.h). */
#include "model/tinyvit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/big_alloc.h"
#include "core/error.h"
#include "ops/dwconv.h"

#define PRE "image_encoder."

int ms_tinyvit_detect(ms_shape_lookup lookup, void *ctx) {
    int64_t s[8];
    return lookup(ctx, PRE "patch_embed.seq.0.c.weight", s) >= 0;
}

/* Looks name up, checks its rank and fills s. */
static medsam_status need(ms_shape_lookup lookup, void *ctx, const char *name, int rank, int64_t s[8],
                          medsam_error *err) {
    int r = lookup(ctx, name, s);
    if (r < 0) return ms_error(err, MEDSAM_ERR_SHAPE, "missing tensor '%s' (TinyViT checkpoint)", name);
    if (r != rank) return ms_error(err, MEDSAM_ERR_SHAPE, "tensor '%s' has rank %d, expected %d", name, r, rank);
    return MEDSAM_OK;
}

static int exists(ms_shape_lookup lookup, void *ctx, const char *name) {
    int64_t s[8];
    return lookup(ctx, name, s) >= 0;
}

/* ref: tiny_vit_sam.py:PatchMerging.__init__ -- stride_c = 1 if out_dim in (320, 448, 576) else 2 */
static int merge_stride(int out_dim) { return out_dim == 320 || out_dim == 448 || out_dim == 576 ? 1 : 2; }

int ms_tinyvit_resolutions(const ms_config *c, int res[MS_TV_STAGES]) {
    const int img = c->img_size;
    if (img <= 0) return -1;
    res[0] = img;  // patch_embed: two 1x1 stride-1 convolutions (LiteMedSAM's variant)
    for (int i = 0; i + 1 < MS_TV_STAGES; i++) {
        const int s = c->tv.stride[i];
        if (s < 1) return -1;
        res[i + 1] = (res[i] + 2 - 3) / s + 1;  // depthwise 3x3, padding 1
    }
    // ref: TinyViT.__init__ -- input_resolution = img // 2**(i-1 if i == 3 else i)
    for (int i = 0; i < MS_TV_STAGES; i++)
        if (res[i] != img / (1 << (i == 3 ? 2 : i))) return -1;
    return res[MS_TV_STAGES - 1];
}

medsam_status ms_tinyvit_infer(ms_shape_lookup lookup, void *ctx, ms_config *c, medsam_error *err) {
    ms_tinyvit_config *t = &c->tv;
    int64_t s[8];
    char name[160];
    medsam_status st;
    c->encoder = MS_ENC_TINYVIT;
    memset(t, 0, sizeof *t);
    t->bn_eps = 1e-5f;  // torch.nn.BatchNorm2d default
    t->ln_eps = 1e-5f;  // torch.nn.LayerNorm default (Attention.norm, Mlp.norm)

    // ref: PatchEmbed.__init__ (LiteMedSAM: Conv2d_BN(in, n//2, 1, 1, 0), GELU, Conv2d_BN(n//2, n, 1, 1, 0))
    if ((st = need(lookup, ctx, PRE "patch_embed.seq.0.c.weight", 4, s, err))) return st;
    if (s[2] != 1 || s[3] != 1)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "patch_embed.seq.0.c.weight is %lldx%lld: a TinyViT with a strided %lldx%lld patch embedding "
                        "(MobileSAM) is not supported, only LiteMedSAM's 1x1 one",
                        (long long)s[2], (long long)s[3], (long long)s[2], (long long)s[3]);
    if (s[1] != 3)
        return ms_error(err, MEDSAM_ERR_SHAPE, "patch_embed.seq.0.c.weight has %lld input channels, expected 3",
                        (long long)s[1]);
    c->in_chans = 3;
    t->stem_mid = (int)s[0];
    if ((st = need(lookup, ctx, PRE "patch_embed.seq.2.c.weight", 4, s, err))) return st;
    if (s[1] != t->stem_mid || s[2] != 1 || s[3] != 1)
        return ms_error(err, MEDSAM_ERR_SHAPE, "patch_embed.seq.2.c.weight has shape (%lld,%lld,%lld,%lld), expected (C,%d,1,1)",
                        (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], t->stem_mid);
    t->dims[0] = (int)s[0];

    // PatchMerging after stages 0..2 give the other widths; the last stage has none.
    for (int i = 0; i + 1 < MS_TV_STAGES; i++) {
        snprintf(name, sizeof name, PRE "layers.%d.downsample.conv1.c.weight", i);
        if ((st = need(lookup, ctx, name, 4, s, err))) return st;
        if (s[1] != t->dims[i] || s[2] != 1 || s[3] != 1)
            return ms_error(err, MEDSAM_ERR_SHAPE, "%s has shape (%lld,%lld,%lld,%lld), expected (C,%d,1,1)", name,
                            (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], t->dims[i]);
        t->dims[i + 1] = (int)s[0];
        t->stride[i] = merge_stride(t->dims[i + 1]);
    }
    snprintf(name, sizeof name, PRE "layers.%d.downsample.conv1.c.weight", MS_TV_STAGES - 1);
    if (exists(lookup, ctx, name) || exists(lookup, ctx, PRE "layers.4.blocks.0.attn.qkv.weight"))
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "TinyViT with more than %d stages (LiteMedSAM has 4)", MS_TV_STAGES);

    // ref: ConvLayer / MBConv.__init__ (hidden = in_chans * expand_ratio)
    while (t->depths[0] <= MS_TV_MAX_BLOCKS) {
        snprintf(name, sizeof name, PRE "layers.0.blocks.%d.conv1.c.weight", t->depths[0]);
        if (!exists(lookup, ctx, name)) break;
        if ((st = need(lookup, ctx, name, 4, s, err))) return st;
        if (s[1] != t->dims[0] || s[2] != 1 || (t->depths[0] && s[0] != t->mbconv_hidden))
            return ms_error(err, MEDSAM_ERR_SHAPE, "%s has shape (%lld,%lld,%lld,%lld)", name, (long long)s[0],
                            (long long)s[1], (long long)s[2], (long long)s[3]);
        t->mbconv_hidden = (int)s[0];
        t->depths[0]++;
    }
    // ref: BasicLayer / TinyViTBlock / Attention.__init__ (key_dim = dim // heads, attn_ratio 1)
    for (int i = 1; i < MS_TV_STAGES; i++) {
        const int C = t->dims[i];
        while (t->depths[i] <= MS_TV_MAX_BLOCKS) {
            const int k = t->depths[i];
            snprintf(name, sizeof name, PRE "layers.%d.blocks.%d.attn.attention_biases", i, k);
            if (!exists(lookup, ctx, name)) break;
            if ((st = need(lookup, ctx, name, 2, s, err))) return st;
            const int heads = (int)s[0], ws = (int)lround(sqrt((double)s[1]));
            if (heads <= 0 || (int64_t)ws * ws != s[1] || C % heads != 0 || (k && (heads != t->heads[i] || ws != t->windows[i])))
                return ms_error(err, MEDSAM_ERR_SHAPE, "%s has shape (%lld,%lld): expected (heads, window^2) with "
                                "heads dividing %d, the same in every block of the stage",
                                name, (long long)s[0], (long long)s[1], C);
            t->heads[i] = heads, t->windows[i] = ws;
            snprintf(name, sizeof name, PRE "layers.%d.blocks.%d.attn.qkv.weight", i, k);
            if ((st = need(lookup, ctx, name, 2, s, err))) return st;
            if (s[0] != 3 * C || s[1] != C)
                return ms_error(err, MEDSAM_ERR_SHAPE, "%s has shape (%lld,%lld), expected (%d,%d)", name,
                                (long long)s[0], (long long)s[1], 3 * C, C);
            snprintf(name, sizeof name, PRE "layers.%d.blocks.%d.mlp.fc1.weight", i, k);
            if ((st = need(lookup, ctx, name, 2, s, err))) return st;
            if (s[1] != C || s[0] <= 0 || (k && s[0] != t->mlp_hidden[i]))
                return ms_error(err, MEDSAM_ERR_SHAPE, "%s has shape (%lld,%lld)", name, (long long)s[0], (long long)s[1]);
            t->mlp_hidden[i] = (int)s[0];
            snprintf(name, sizeof name, PRE "layers.%d.blocks.%d.local_conv.c.weight", i, k);
            if ((st = need(lookup, ctx, name, 4, s, err))) return st;
            if (s[0] != C || s[1] != 1 || s[2] != s[3] || s[2] % 2 == 0 || (t->local_conv && s[2] != t->local_conv))
                return ms_error(err, MEDSAM_ERR_SHAPE, "%s has shape (%lld,%lld,%lld,%lld), expected (%d,1,k,k), k odd",
                                name, (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], C);
            t->local_conv = (int)s[2];
            t->depths[i]++;
        }
    }
    for (int i = 0; i < MS_TV_STAGES; i++)
        if (t->depths[i] > MS_TV_MAX_BLOCKS)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "TinyViT stage %d has more than %d blocks", i, MS_TV_MAX_BLOCKS);
    if (!t->local_conv) t->local_conv = 3;
    if (t->local_conv > DWCONV_MAX_K)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "TinyViT local_conv of %dx%d (at most %dx%d supported)", t->local_conv,
                        t->local_conv, DWCONV_MAX_K, DWCONV_MAX_K);

    // widths from the file: each must be a sensible positive size before anything is allocated
    int sizes[] = {t->stem_mid, t->dims[0], t->dims[1], t->dims[2], t->dims[3], t->depths[0] ? t->mbconv_hidden : 1,
                   t->depths[1] ? t->mlp_hidden[1] : 1, t->depths[2] ? t->mlp_hidden[2] : 1,
                   t->depths[3] ? t->mlp_hidden[3] : 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i] < 1 || sizes[i] > 65536)
            return ms_error(err, MEDSAM_ERR_SHAPE, "TinyViT width %d out of range (widths %d,%d,%d,%d)", sizes[i],
                            t->dims[0], t->dims[1], t->dims[2], t->dims[3]);

    // ref: CVPR24_LiteMedSAM_infer.py:323 -- TinyViT(img_size=256, ...); no tensor depends on it
    c->img_size = 256;
    c->grid = ms_tinyvit_resolutions(c, t->res);
    if (c->grid <= 0)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "TinyViT widths %d,%d,%d,%d give stage resolutions the official model cannot run (the last "
                        "PatchMerging keeps the resolution only for a width of 320, 448 or 576)",
                        t->dims[0], t->dims[1], t->dims[2], t->dims[3]);
    if ((st = need(lookup, ctx, PRE "neck.0.weight", 4, s, err))) return st;
    if (s[1] != t->dims[3] || s[2] != 1 || s[3] != 1)
        return ms_error(err, MEDSAM_ERR_SHAPE, "neck.0.weight has shape (%lld,%lld,%lld,%lld), expected (O,%d,1,1)",
                        (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], t->dims[3]);
    c->out_chans = (int)s[0];
    if (s[0] < 1 || s[0] > 65536) return ms_error(err, MEDSAM_ERR_SHAPE, "neck.0.weight has %lld outputs", (long long)s[0]);
    c->patch_size = 0;  // ViT fields stay 0: nothing ViT-specific runs on this config
    return MEDSAM_OK;
}

/* ---- the parameter walk, in state_dict order ---- */

static void reg_conv_bn(ms_param_walker *W, ms_conv_bn_w *v, int co, int ci, int k, const char *prefix) {
    ms_conv_bn_w dummy;
    if (!v) v = &dummy;
    ms_param_set_trainable(W, 1);
    ms_param_reg(W, &v->w, 4, co, ci, k, k, "%s.c.weight", prefix);
    ms_param_reg(W, &v->bn_w, 1, co, 0, 0, 0, "%s.bn.weight", prefix);
    ms_param_reg(W, &v->bn_b, 1, co, 0, 0, 0, "%s.bn.bias", prefix);
    ms_param_set_trainable(W, 0);  // buffers
    ms_param_reg(W, &v->bn_mean, 1, co, 0, 0, 0, "%s.bn.running_mean", prefix);
    ms_param_reg(W, &v->bn_var, 1, co, 0, 0, 0, "%s.bn.running_var", prefix);
    ms_param_set_trainable(W, 1);
}

static void reg_merge(ms_param_walker *W, ms_tinyvit_w *v, const ms_tinyvit_config *t, int i) {
    // ref: PatchMerging.__init__ -- conv1 1x1, conv2 depthwise 3x3, conv3 1x1
    char pre[96];
    const int ci = t->dims[i], co = t->dims[i + 1];
    snprintf(pre, sizeof pre, PRE "layers.%d.downsample.conv1", i);
    reg_conv_bn(W, v ? &v->merge[i][0] : NULL, co, ci, 1, pre);
    snprintf(pre, sizeof pre, PRE "layers.%d.downsample.conv2", i);
    reg_conv_bn(W, v ? &v->merge[i][1] : NULL, co, 1, 3, pre);
    snprintf(pre, sizeof pre, PRE "layers.%d.downsample.conv3", i);
    reg_conv_bn(W, v ? &v->merge[i][2] : NULL, co, co, 1, pre);
}

void ms_tinyvit_walk(const ms_config *c, ms_param_walker *W, void *views) {
    const ms_tinyvit_config *t = &c->tv;
    ms_tinyvit_w *v = views;
    char pre[96];
#define S(field) (v ? &v->field : NULL)
    // ref: TinyViT.__init__ -- patch_embed, layers, neck (registration order = state_dict order)
    reg_conv_bn(W, S(stem[0]), t->stem_mid, c->in_chans, 1, PRE "patch_embed.seq.0");
    reg_conv_bn(W, S(stem[1]), t->dims[0], t->stem_mid, 1, PRE "patch_embed.seq.2");
    for (int k = 0; k < t->depths[0]; k++) {  // ref: MBConv.__init__
        const int C = t->dims[0], Hd = t->mbconv_hidden;
        snprintf(pre, sizeof pre, PRE "layers.0.blocks.%d.conv1", k);
        reg_conv_bn(W, S(mbconv[k][0]), Hd, C, 1, pre);
        snprintf(pre, sizeof pre, PRE "layers.0.blocks.%d.conv2", k);
        reg_conv_bn(W, S(mbconv[k][1]), Hd, 1, 3, pre);
        snprintf(pre, sizeof pre, PRE "layers.0.blocks.%d.conv3", k);
        reg_conv_bn(W, S(mbconv[k][2]), C, Hd, 1, pre);
    }
    reg_merge(W, v, t, 0);
    for (int i = 1; i < MS_TV_STAGES; i++) {
        const int C = t->dims[i], M = t->mlp_hidden[i], T = t->windows[i] * t->windows[i];
        for (int k = 0; k < t->depths[i]; k++) {  // ref: TinyViTBlock.__init__, Attention.__init__, Mlp.__init__
            ms_tv_block_w *b = v ? &v->blocks[i][k] : NULL;
#define B(field) (b ? &b->field : NULL)
            const char *L = PRE "layers";
            ms_param_reg(W, B(attn_biases), 2, t->heads[i], T, 0, 0, "%s.%d.blocks.%d.attn.attention_biases", L, i, k);
            ms_param_reg(W, B(norm_w), 1, C, 0, 0, 0, "%s.%d.blocks.%d.attn.norm.weight", L, i, k);
            ms_param_reg(W, B(norm_b), 1, C, 0, 0, 0, "%s.%d.blocks.%d.attn.norm.bias", L, i, k);
            ms_param_reg(W, B(qkv_w), 2, 3 * C, C, 0, 0, "%s.%d.blocks.%d.attn.qkv.weight", L, i, k);
            ms_param_reg(W, B(qkv_b), 1, 3 * C, 0, 0, 0, "%s.%d.blocks.%d.attn.qkv.bias", L, i, k);
            ms_param_reg(W, B(proj_w), 2, C, C, 0, 0, "%s.%d.blocks.%d.attn.proj.weight", L, i, k);
            ms_param_reg(W, B(proj_b), 1, C, 0, 0, 0, "%s.%d.blocks.%d.attn.proj.bias", L, i, k);
            ms_param_reg(W, B(mlp_norm_w), 1, C, 0, 0, 0, "%s.%d.blocks.%d.mlp.norm.weight", L, i, k);
            ms_param_reg(W, B(mlp_norm_b), 1, C, 0, 0, 0, "%s.%d.blocks.%d.mlp.norm.bias", L, i, k);
            ms_param_reg(W, B(fc1_w), 2, M, C, 0, 0, "%s.%d.blocks.%d.mlp.fc1.weight", L, i, k);
            ms_param_reg(W, B(fc1_b), 1, M, 0, 0, 0, "%s.%d.blocks.%d.mlp.fc1.bias", L, i, k);
            ms_param_reg(W, B(fc2_w), 2, C, M, 0, 0, "%s.%d.blocks.%d.mlp.fc2.weight", L, i, k);
            ms_param_reg(W, B(fc2_b), 1, C, 0, 0, 0, "%s.%d.blocks.%d.mlp.fc2.bias", L, i, k);
            snprintf(pre, sizeof pre, "%s.%d.blocks.%d.local_conv", L, i, k);
            reg_conv_bn(W, B(local_conv), C, 1, t->local_conv, pre);
#undef B
        }
        if (i + 1 < MS_TV_STAGES) reg_merge(W, v, t, i);
    }
    // ref: TinyViT.__init__ -- neck (the same modules as SAM's)
    const int O = c->out_chans, C3 = t->dims[MS_TV_STAGES - 1];
    ms_param_reg(W, S(neck_conv1_w), 4, O, C3, 1, 1, PRE "neck.0.weight");
    ms_param_reg(W, S(neck_ln1_w), 1, O, 0, 0, 0, PRE "neck.1.weight");
    ms_param_reg(W, S(neck_ln1_b), 1, O, 0, 0, 0, PRE "neck.1.bias");
    ms_param_reg(W, S(neck_conv2_w), 4, O, O, 3, 3, PRE "neck.2.weight");
    ms_param_reg(W, S(neck_ln2_w), 1, O, 0, 0, 0, PRE "neck.3.weight");
    ms_param_reg(W, S(neck_ln2_b), 1, O, 0, 0, 0, PRE "neck.3.bias");
#undef S
}

/* ---- BatchNorm folding ---- */

/* Floats of the folded copy of one Conv2d_BN (weight + bias), 16-float aligned. */
static size_t fold_floats(int co, int ci, int k) { return ((size_t)co * ci * k * k + 15) / 16 * 16 + ((size_t)co + 15) / 16 * 16; }

/* ref: tiny_vit_sam.py:Conv2d_BN.fuse -- w * (gamma / sqrt(var + eps)), beta - mean * gamma / sqrt(var + eps)
 * (the per-channel factor in double, as torch's eval BatchNorm takes it). A depthwise
 * weight (C, 1, k, k) is stored tap-major (k*k, C). Returns the floats used at *mem. */
static size_t fold(ms_tv_conv *out, const ms_conv_bn_w *v, int co, int ci, int k, int depthwise, float eps, float *mem) {
    const size_t wn = (size_t)co * ci * k * k;
    out->w = mem;
    out->b = mem + (wn + 15) / 16 * 16;
    for (int o = 0; o < co; o++) {
        const double a = (double)v->bn_w[o] / sqrt((double)v->bn_var[o] + (double)eps);
        out->b[o] = (float)((double)v->bn_b[o] - (double)v->bn_mean[o] * a);
        for (int j = 0; j < ci * k * k; j++) {
            const float x = (float)((double)v->w[(size_t)o * ci * k * k + j] * a);
            if (depthwise)
                out->w[(size_t)j * co + o] = x;  // (k*k, C)
            else
                out->w[(size_t)o * ci * k * k + j] = x;
        }
    }
    return fold_floats(co, ci, k);
}

/* An eval BatchNorm needs running_var + eps > 0 (else the official model divides by
 * zero or takes the root of a negative). Names the first bad buffer found. */
static medsam_status check_bn(const ms_conv_bn_w *v, int co, float eps, medsam_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static medsam_status check_bn(const ms_conv_bn_w *v, int co, float eps, medsam_error *err, const char *fmt, ...) {
    for (int o = 0; o < co; o++)
        if (!((double)v->bn_var[o] + (double)eps > 0.0)) {
            char name[96];
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(name, sizeof name, fmt, ap);
            va_end(ap);
            return ms_error(err, MEDSAM_ERR_NUMERIC, "tensor 'image_encoder.%s.bn.running_var' holds %g at index %d: "
                            "a variance must be > -eps", name, (double)v->bn_var[o], o);
        }
    return MEDSAM_OK;
}

/* Everything prepare allocates, as a float count (walks the same convolutions). */
static size_t state_floats(const ms_tinyvit_config *t, int in_chans) {
    size_t n = fold_floats(t->stem_mid, in_chans, 1) + fold_floats(t->dims[0], t->stem_mid, 1);
    n += (size_t)t->depths[0] *
         (fold_floats(t->mbconv_hidden, t->dims[0], 1) + fold_floats(t->mbconv_hidden, 1, 3) + fold_floats(t->dims[0], t->mbconv_hidden, 1));
    for (int i = 0; i + 1 < MS_TV_STAGES; i++)
        n += fold_floats(t->dims[i + 1], t->dims[i], 1) + fold_floats(t->dims[i + 1], 1, 3) +
             fold_floats(t->dims[i + 1], t->dims[i + 1], 1);
    for (int i = 1; i < MS_TV_STAGES; i++) {
        const size_t T = (size_t)t->windows[i] * t->windows[i];
        n += (size_t)t->depths[i] * (fold_floats(t->dims[i], 1, t->local_conv) + ((size_t)t->heads[i] * T * T + 15) / 16 * 16);
    }
    return n;
}

void ms_tinyvit_each_linear(const ms_config *c, ms_tinyvit_state *s, ms_tinyvit_bf16 *h, ms_tv_linear_fn fn,
                            void *ctx) {
    const ms_tinyvit_config *t = &c->tv;
    const ms_tinyvit_w *v = &s->v;
#define LIN(f32, f16, wt, in, out) fn(ctx, &s->f32, h ? &h->f16 : NULL, (wt), (in), (out))
    LIN(stem1, stem1, s->stem[1].w, t->stem_mid, t->dims[0]);
    for (int k = 0; k < t->depths[0]; k++) {
        LIN(mbconv_pk[k][0], mbconv[k][0], s->mbconv[k][0].w, t->dims[0], t->mbconv_hidden);
        LIN(mbconv_pk[k][1], mbconv[k][1], s->mbconv[k][2].w, t->mbconv_hidden, t->dims[0]);
    }
    for (int i = 0; i + 1 < MS_TV_STAGES; i++) {
        LIN(merge_pk[i][0], merge[i][0], s->merge[i][0].w, t->dims[i], t->dims[i + 1]);
        LIN(merge_pk[i][1], merge[i][1], s->merge[i][2].w, t->dims[i + 1], t->dims[i + 1]);
    }
    for (int i = 1; i < MS_TV_STAGES; i++)
        for (int k = 0; k < t->depths[i]; k++) {
            const ms_tv_block_w *b = &v->blocks[i][k];
            const int C = t->dims[i], M = t->mlp_hidden[i];
            LIN(blocks[i][k].qkv, blocks[i][k].qkv, b->qkv_w, C, 3 * C);
            LIN(blocks[i][k].proj, blocks[i][k].proj, b->proj_w, C, C);
            LIN(blocks[i][k].fc1, blocks[i][k].fc1, b->fc1_w, C, M);
            LIN(blocks[i][k].fc2, blocks[i][k].fc2, b->fc2_w, M, C);
        }
    LIN(neck1, neck1, v->neck_conv1_w, t->dims[MS_TV_STAGES - 1], c->out_chans);
    LIN(neck2, neck2, v->neck_conv2_w, 9 * c->out_chans, c->out_chans);  // the 3x3 conv on im2col rows (O, 9 O)
#undef LIN
}

/* The linears to pack, listed first and then packed on all threads. */
#define TV_MAX_LINEARS (2 + 2 * MS_TV_MAX_BLOCKS + 2 * MS_TV_STAGES + 4 * MS_TV_STAGES * MS_TV_MAX_BLOCKS + 2)
typedef struct {
    int n;
    struct {
        gemm_packed_b **dst;
        const float *w;
        int in, out;
    } item[TV_MAX_LINEARS];
} tv_pack_list;

static void list_f32(void *ctx, gemm_packed_b **f32, gemm_bf16_b **bf16, const float *w, int in, int out) {
    (void)bf16;
    tv_pack_list *l = ctx;
    if (l->n < TV_MAX_LINEARS) l->item[l->n].dst = f32, l->item[l->n].w = w, l->item[l->n].in = in, l->item[l->n].out = out;
    l->n++;
}

medsam_status ms_tinyvit_prepare(const ms_config *c, float *params, ms_weights *w, void **state, medsam_error *err) {
    (void)w;
    *state = NULL;
    const ms_tinyvit_config *t = &c->tv;
    ms_tinyvit_state *s = calloc(1, sizeof *s);
    const size_t total = state_floats(t, c->in_chans);
    float *mem = s ? aligned_alloc(64, (total * sizeof(float) + 63) / 64 * 64) : NULL;
    if (!s || !mem) {
        free(s);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate the folded TinyViT weights (%zu floats)", total);
    }
    s->folded = mem;
    ms_prefault(mem, total * sizeof(float));  // written whole by the folding below
    ms_weights_bind_encoder(c, params, &s->v);
    const float eps = t->bn_eps;
    const ms_tinyvit_w *v = &s->v;
    medsam_status st = MEDSAM_OK;
#define FOLD(dst, view, co, ci, k, dw, ...)                                 \
    do {                                                                    \
        if (!st) st = check_bn((view), (co), eps, err, __VA_ARGS__);        \
        mem += fold((dst), (view), (co), (ci), (k), (dw), eps, mem);       \
    } while (0)
    FOLD(&s->stem[0], &v->stem[0], t->stem_mid, c->in_chans, 1, 0, "patch_embed.seq.0");
    FOLD(&s->stem[1], &v->stem[1], t->dims[0], t->stem_mid, 1, 0, "patch_embed.seq.2");
    for (int k = 0; k < t->depths[0]; k++) {
        FOLD(&s->mbconv[k][0], &v->mbconv[k][0], t->mbconv_hidden, t->dims[0], 1, 0, "layers.0.blocks.%d.conv1", k);
        FOLD(&s->mbconv[k][1], &v->mbconv[k][1], t->mbconv_hidden, 1, 3, 1, "layers.0.blocks.%d.conv2", k);
        FOLD(&s->mbconv[k][2], &v->mbconv[k][2], t->dims[0], t->mbconv_hidden, 1, 0, "layers.0.blocks.%d.conv3", k);
    }
    for (int i = 0; i + 1 < MS_TV_STAGES; i++) {
        const int ci = t->dims[i], co = t->dims[i + 1];
        FOLD(&s->merge[i][0], &v->merge[i][0], co, ci, 1, 0, "layers.%d.downsample.conv1", i);
        FOLD(&s->merge[i][1], &v->merge[i][1], co, 1, 3, 1, "layers.%d.downsample.conv2", i);
        FOLD(&s->merge[i][2], &v->merge[i][2], co, co, 1, 0, "layers.%d.downsample.conv3", i);
    }
    for (int i = 1; i < MS_TV_STAGES; i++) {
        const int ws = t->windows[i], T = ws * ws, H = t->heads[i];
        for (int k = 0; k < t->depths[i]; k++) {
            FOLD(&s->local[i][k], &v->blocks[i][k].local_conv, t->dims[i], 1, t->local_conv, 1,
                 "layers.%d.blocks.%d.local_conv", i, k);
            // ref: Attention.train(False) -- self.ab = attention_biases[:, attention_bias_idxs],
            // idxs[i][j] = index of (|yi-yj|, |xi-xj|) in first-seen order = |dy|*ws + |dx|
            float *ab = mem;
            const float *bias = v->blocks[i][k].attn_biases;
            for (int h = 0; h < H; h++)
                for (int p = 0; p < T; p++)
                    for (int q = 0; q < T; q++)
                        ab[((size_t)h * T + p) * T + q] = bias[(size_t)h * T + abs(p / ws - q / ws) * ws + abs(p % ws - q % ws)];
            s->bias_table[i][k] = ab;
            mem += ((size_t)H * T * T + 15) / 16 * 16;
        }
    }
#undef FOLD
    if (st) {
        ms_tinyvit_release(s);
        return st;
    }
    // every dense 1x1 convolution and linear, packed once: op(B) = W^T (in, out), on all threads
    tv_pack_list *list = malloc(sizeof *list);
    int ok = list != NULL;
    if (list) {
        list->n = 0;
        ms_tinyvit_each_linear(c, s, NULL, list_f32, list);
        ok = list->n <= TV_MAX_LINEARS;
    }
    if (ok) {
#pragma omp parallel for schedule(dynamic, 1) reduction(&& : ok)
        for (int j = 0; j < list->n; j++)
            ok = (*list->item[j].dst = gemm_pack_b(1, list->item[j].in, list->item[j].out, list->item[j].w,
                                                   list->item[j].in)) != NULL && ok;
    }
    free(list);
    if (!ok) {
        ms_tinyvit_release(s);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate the packed TinyViT weights");
    }
    *state = s;
    return MEDSAM_OK;
}

void ms_tinyvit_release(void *state) {
    ms_tinyvit_state *s = state;
    if (!s) return;
    ms_tinyvit_set_bf16(NULL, s, 0, GEMM_BF16_AUTO, NULL);
    gemm_packed_b_free(s->stem1);
    gemm_packed_b_free(s->neck1);
    gemm_packed_b_free(s->neck2);
    for (int k = 0; k < MS_TV_MAX_BLOCKS; k++) gemm_packed_b_free(s->mbconv_pk[k][0]), gemm_packed_b_free(s->mbconv_pk[k][1]);
    for (int i = 0; i + 1 < MS_TV_STAGES; i++) gemm_packed_b_free(s->merge_pk[i][0]), gemm_packed_b_free(s->merge_pk[i][1]);
    for (int i = 0; i < MS_TV_STAGES; i++)
        for (int k = 0; k < MS_TV_MAX_BLOCKS; k++) {
            ms_tv_block_packed *p = &s->blocks[i][k];
            gemm_packed_b_free(p->qkv), gemm_packed_b_free(p->proj), gemm_packed_b_free(p->fc1), gemm_packed_b_free(p->fc2);
        }
    free(s->folded);
    free(s);
}

/* ---- description ---- */

void ms_tinyvit_describe(const ms_config *c, char *buf, int len) {
    const ms_tinyvit_config *t = &c->tv;
    snprintf(buf, len,
             "image encoder: LiteMedSAM (TinyViT img %d, 1x1 patch embed, dims [%d,%d,%d,%d], depths [%d,%d,%d,%d], "
             "heads [-,%d,%d,%d], windows [-,%d,%d,%d], stage sides [%d,%d,%d,%d], MBConv hidden %d, mlp [-,%d,%d,%d], "
             "local conv %d, BatchNorm folded at load), neck %d, grid %dx%d",
             c->img_size, t->dims[0], t->dims[1], t->dims[2], t->dims[3], t->depths[0], t->depths[1], t->depths[2],
             t->depths[3], t->heads[1], t->heads[2], t->heads[3], t->windows[1], t->windows[2], t->windows[3], t->res[0],
             t->res[1], t->res[2], t->res[3], t->mbconv_hidden, t->mlp_hidden[1], t->mlp_hidden[2], t->mlp_hidden[3],
             t->local_conv, c->out_chans, c->grid, c->grid);
}

void ms_tinyvit_info(const ms_config *c, medsam_model_info *info) {
    const ms_tinyvit_config *t = &c->tv;
    info->img_size = c->img_size;                        // 256: encoder input and prompt coordinates
    info->embed_dim = t->dims[MS_TV_STAGES - 1];         // the width the neck sees (320)
    info->depth = t->depths[0] + t->depths[1] + t->depths[2] + t->depths[3];
    info->num_heads = t->heads[MS_TV_STAGES - 1];
    info->window_size = t->windows[MS_TV_STAGES - 1];
    info->patch_size = c->grid > 0 ? c->img_size / c->grid : 0;  // 4: input pixels per embedding cell
}
