/* test_tinyvit.c — LiteMedSAM's TinyViT encoder (the MS_ENC_TINYVIT kind) against
 * the official PyTorch modules (tools/ref/make_lite_fixtures.py: TinyViT of the
 * LiteMedSAM branch with small widths, random weights, BatchNorm running
 * statistics and attention biases randomised), loaded through medsam_model_load
 * from the official state_dict file tests/fixtures/lite/model.pth.
 *
 *  - every stage on a 64x64 input (patch embed, each MBConv block, each
 *    PatchMerging, each TinyViT block, neck): relL2 <= 1e-5, per element
 *    |got-ref| <= 1e-5 + 1e-5 |ref| (stage rms 0.2 .. 1.1);
 *  - the 256x256 embedding through medsam_encode (the LiteMedSAM size): relL2 <= 1e-5;
 *  - box -> low-resolution logits and IoU through the shared prompt encoder and
 *    mask decoder with input size 256 (medsam_decode_boxes, box in 256x256
 *    coordinates): relL2 <= 1e-5;
 *  - 1 and 2 threads give the same bits; the architecture and info are reported
 *    truthfully; a bad configuration is refused. */
#include <stdint.h>

#include "api/model_internal.h"
#include "core/npy.h"
#include "model/encoder_kind.h"
#include "model/tinyvit.h"
#include "ops/attention.h"
#include "ops/dwconv.h"
#include "ops/vecmath.h"
#include "test.h"
#include "weights/pth.h"

#define FIX "tests/fixtures/lite/"

static float *load(const char *name, long want) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s.npy", name);
    ms_npy a;
    medsam_error err = {0};
    float *f = NULL;
    if (ms_npy_read(path, &a, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return NULL;
    }
    CHECK(a.count == want, "%s: %lld values, expected %ld", path, (long long)a.count, want);
    if (a.count == want && ms_npy_to_f32(&a, &f, &err) != MEDSAM_OK) CHECK(0, "%s", err.message);
    ms_npy_free(&a);
    return f;
}

#define MAX_STAGES 64
typedef struct {
    int n;
    char name[MAX_STAGES][40];
    long len[MAX_STAGES];
    float *data[MAX_STAGES];
} captured;

static void capture(void *ctx, const char *stage, const float *data, long n) {
    captured *cap = ctx;
    if (cap->n >= MAX_STAGES) return;
    snprintf(cap->name[cap->n], sizeof cap->name[0], "%s", stage);
    cap->len[cap->n] = n;
    cap->data[cap->n] = malloc(sizeof(float) * (size_t)n);
    memcpy(cap->data[cap->n], data, sizeof(float) * (size_t)n);
    cap->n++;
}

static void test_info(const medsam_model *m) {
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    CHECK(info.encoder && strcmp(info.encoder, "tinyvit") == 0, "encoder kind %s", info.encoder ? info.encoder : "(null)");
    CHECK(info.family && strstr(info.family, "LiteMedSAM"), "family %s", info.family ? info.family : "(null)");
    CHECK(info.img_size == 256 && info.emb_size == 64 && info.emb_channels == 32 && info.mask_size == 256 &&
              info.embed_dim == 320 && info.depth == 6 && info.patch_size == 4,
          "info: img %d emb %d x %d, mask %d, embed %d, depth %d, patch %d", info.img_size, info.emb_channels,
          info.emb_size, info.mask_size, info.embed_dim, info.depth, info.patch_size);
    CHECK(info.num_params == 284394, "num_params %lld (the official 284415 minus 21 num_batches_tracked)",
          info.num_params);
    char buf[2048];
    medsam_model_describe(m, buf, sizeof buf);
    CHECK(strstr(buf, "image encoder: LiteMedSAM (TinyViT img 256") && strstr(buf, "dims [16,32,48,320]") &&
              strstr(buf, "depths [2,2,2,0]") && strstr(buf, "windows [-,7,14,0]") && strstr(buf, "grid 64x64") &&
              strstr(buf, "plus ignored extra tensors"),
          "describe: %s", buf);
    const ms_tinyvit_config *t = &m->cfg.tv;
    CHECK(m->cfg.encoder == MS_ENC_TINYVIT && t->stride[0] == 2 && t->stride[1] == 2 && t->stride[2] == 1 &&
              t->heads[1] == 2 && t->heads[2] == 3 && t->mbconv_hidden == 64 && t->stem_mid == 8,
          "inferred TinyViT config");
}

/* Each stage at 64x64 (the weights do not depend on the input size). */
static void test_stages(const medsam_model *m) {
    ms_config c = m->cfg;
    c.img_size = 64, c.grid = 16;
    const long n_img = 3L * 64 * 64;
    float *img = malloc(sizeof(float) * n_img);
    t_hash_input(img, n_img, 12345);
    const size_t wsf = ms_tinyvit_workspace_floats(&c);
    CHECK(wsf > 0, "workspace at 64x64");
    float *work = malloc(sizeof(float) * wsf);
    for (size_t i = 0; i < wsf; i++) work[i] = NAN;  // nothing may depend on old workspace contents
    const long ne = (long)c.out_chans * 16 * 16;
    float *emb = malloc(sizeof(float) * ne), *emb2 = malloc(sizeof(float) * ne);
    captured cap = {0};
    medsam_error err = {0};
    CHECK(ms_tinyvit_encode(&c, m->enc_state, img, emb, work, 1, capture, &cap, &err) == MEDSAM_OK, "%s", err.message);
    const char *want[] = {"patch_embed",    "layer0.block.0", "layer0.block.1", "layer0.downsample",
                          "layer1.block.0", "layer1.block.1", "layer1.downsample", "layer2.block.0",
                          "layer2.block.1", "layer2.downsample", "neck"};
    const int nwant = (int)(sizeof want / sizeof want[0]);
    CHECK(cap.n == nwant, "%d stages traced, expected %d", cap.n, nwant);
    for (int k = 0; k < cap.n && k < nwant; k++) {
        CHECK(strcmp(cap.name[k], want[k]) == 0, "stage %d is '%s', expected '%s'", k, cap.name[k], want[k]);
        char name[64], what[80];
        snprintf(name, sizeof name, "stage/%s", want[k]);
        float *ref = load(name, cap.len[k]);
        snprintf(what, sizeof what, "tinyvit %s vs torch", want[k]);
        if (ref) t_close(what, cap.data[k], ref, cap.len[k], 1e-5, 1e-5, 1e-5);
        free(ref);
    }
    CHECK(cap.n > 0 && memcmp(cap.data[cap.n - 1], emb, sizeof(float) * ne) == 0, "trace 'neck' is the embedding");
    // 1 thread runs every block's attention window by window (tv_attention_windows); with 2 and 3
    // threads stage 2's 4 windows are fewer than 4 per thread, so its whole-image steps run
    // instead: the same bits. (More threads than CPUs here would leave libomp's per-thread
    // allocations to LeakSanitizer.)
    for (int nt = 2; nt <= 3; nt++) {
        CHECK(ms_tinyvit_encode(&c, m->enc_state, img, emb2, work, nt, NULL, NULL, &err) == MEDSAM_OK, "%s", err.message);
        CHECK(memcmp(emb, emb2, sizeof(float) * ne) == 0, "tinyvit: 1 and %d threads give different bits", nt);
    }

    ms_config bad = c;
    bad.grid = 17;
    CHECK(ms_tinyvit_encode(&bad, m->enc_state, img, emb2, work, 1, NULL, NULL, &err) == MEDSAM_ERR_ARG &&
              strstr(err.message, "unsupported configuration"),
          "bad grid not refused: %s", err.message);
    bad = c;
    bad.img_size = 62;  // 62 -> 31 -> 16 -> 16: stage 2 at 16, not 62 // 4 (the official blocks assert)
    bad.grid = 16;
    CHECK(ms_tinyvit_workspace_floats(&bad) == 0, "img 62 (stage 2 at 16, not 62/4) accepted");
    for (int k = 0; k < cap.n; k++) free(cap.data[k]);
    free(img), free(work), free(emb), free(emb2);
}

/* The LiteMedSAM size through the public API: encode, then box -> logits. */
static void test_full(const medsam_model *m) {
    const long S = 256, n_img = 3 * S * S, ne = 32L * 64 * 64;
    float *chw = malloc(sizeof(float) * n_img), *hwc = malloc(sizeof(float) * n_img);
    t_hash_input(chw, n_img, 12345);
    for (long p = 0; p < S * S; p++)
        for (int ch = 0; ch < 3; ch++) hwc[p * 3 + ch] = chw[ch * S * S + p];
    medsam_embedding *e1 = NULL;
    medsam_error err = {0};
    CHECK(medsam_encode(m, hwc, 2, &e1, &err) == MEDSAM_OK, "%s", err.message);  // (1 vs 2 threads: test_stages)
    float *ref = load("embedding", ne);
    if (e1 && ref) {
        long n = 0;
        const float *d = medsam_embedding_data(e1, &n);
        CHECK(n == ne, "embedding has %ld values", n);
        t_close("tinyvit embedding 256x256 vs torch", d, ref, ne, 1e-5, 1e-5, 1e-5);
    }
    float *box = load("box", 4), *lref = load("logits", 256L * 256), *iref = load("iou", 1);
    if (e1 && box && lref && iref) {
        medsam_box b = {box[0], box[1], box[2], box[3]};
        float *logits = malloc(sizeof(float) * 256 * 256), iou = 0;
        CHECK(medsam_decode_boxes(m, e1, 256, 256, &b, 1, 2, logits, &iou, NULL, &err) == MEDSAM_OK, "%s", err.message);
        t_close("lite decoder logits (box, 256) vs torch", logits, lref, 256L * 256, 1e-5, 1e-5, 1e-5);
        t_close("lite decoder IoU vs torch", &iou, iref, 1, 1e-6, 1e-5, 1e-5);
        free(logits);
    }
    medsam_embedding_free(e1);
    free(ref), free(box), free(lref), free(iref), free(chw), free(hwc);
}

/* The depthwise kernel (fast and portable paths) vs the double reference, on
 * widths with 16-, 8- and scalar tails, strides 1 and 2, kernels 3 and 5. */
static void test_dwconv(void) {
    const int cases[][5] = {{7, 9, 40, 3, 1}, {8, 8, 13, 3, 2}, {5, 6, 48, 5, 1}, {9, 7, 16, 3, 2}, {4, 4, 8, 3, 1}};
    uint32_t seed = 77;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int H = cases[ci][0], W = cases[ci][1], C = cases[ci][2], k = cases[ci][3], st = cases[ci][4];
        const int Ho = (H + 2 * (k / 2) - k) / st + 1, Wo = (W + 2 * (k / 2) - k) / st + 1;
        const long nin = (long)H * W * C, nout = (long)Ho * Wo * C;
        float *in = malloc(sizeof(float) * nin), *w = malloc(sizeof(float) * C * k * k), *b = malloc(sizeof(float) * C);
        float *wt = malloc(sizeof(float) * C * k * k), *inc = malloc(sizeof(float) * nin);
        float *ref = malloc(sizeof(float) * nout), *refl = malloc(sizeof(float) * nout);
        float *g1 = malloc(sizeof(float) * nout), *g2 = malloc(sizeof(float) * nout), *gp = malloc(sizeof(float) * nout);
        t_hash_input(in, nin, seed++), t_hash_input(w, (long)C * k * k, seed++), t_hash_input(b, C, seed++);
        for (long i = 0; i < (long)C * k * k; i++) w[i] -= 0.5f;
        for (int ch = 0; ch < C; ch++)
            for (int t = 0; t < k * k; t++) wt[t * C + ch] = w[ch * k * k + t];  // (C,1,k,k) -> (k*k, C)
        for (long p = 0; p < (long)H * W; p++)
            for (int ch = 0; ch < C; ch++) inc[ch * H * W + p] = in[p * C + ch];
        dwconv_ref(ref, inc, w, b, H, W, C, k, st);
        for (long p = 0; p < (long)Ho * Wo; p++)
            for (int ch = 0; ch < C; ch++) refl[p * C + ch] = ref[ch * Ho * Wo + p];
        dwconv_forward(g1, in, wt, b, H, W, C, k, st, 0, 1);
        dwconv_forward(g2, in, wt, b, H, W, C, k, st, 0, 2);
        dwconv_forward_portable(gp, in, wt, b, H, W, C, k, st, 0, 2);
        char what[96];
        snprintf(what, sizeof what, "dwconv %dx%dx%d k%d s%d vs ref", H, W, C, k, st);
        t_close(what, g1, refl, nout, 1e-6, 1e-6, 1e-6);
        snprintf(what, sizeof what, "dwconv %dx%dx%d k%d s%d portable vs ref", H, W, C, k, st);
        t_close(what, gp, refl, nout, 1e-6, 1e-6, 1e-6);
        CHECK(memcmp(g1, g2, sizeof(float) * nout) == 0, "dwconv case %zu: 1 and 2 threads differ", ci);
        dwconv_forward(g2, in, wt, b, H, W, C, k, st, 1, 2);  // with GELU = GELU of the plain output
        vec_gelu_erf_forward(g1, nout);
        CHECK(memcmp(g1, g2, sizeof(float) * nout) == 0, "dwconv case %zu: fused GELU differs", ci);
        free(in), free(w), free(b), free(wt), free(inc), free(ref), free(refl), free(g1), free(g2), free(gp);
    }
}

/* The 3x3 kernels that take four interior output pixels at a time (AVX-512 and AVX2, channels
 * a multiple of 16; other counts run per pixel) have the per-pixel AVX2 path's bits: widths with
 * and without a remainder of four, strides 1 and 2, rows in the padding, channels with a
 * remainder of 8, 1 and 2 threads, with and without GELU. */
static void test_dwconv_interior(void) {
    const int cases[][4] = {{5, 19, 32, 1}, {6, 21, 64, 2}, {3, 9, 16, 1},  {4, 2, 16, 1},
                            {7, 12, 48, 2}, {2, 40, 256, 1}, {5, 17, 24, 1}, {6, 11, 40, 2}, {3, 6, 8, 1}};
    uint32_t seed = 91;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int H = cases[ci][0], W = cases[ci][1], C = cases[ci][2], st = cases[ci][3];
        const int Ho = (H - 1) / st + 1, Wo = (W - 1) / st + 1;
        const long nin = (long)H * W * C, nout = (long)Ho * Wo * C;
        float *in = malloc(sizeof(float) * nin), *w = malloc(sizeof(float) * C * 9), *b = malloc(sizeof(float) * C);
        float *fast = malloc(sizeof(float) * nout), *slow = malloc(sizeof(float) * nout);
        t_hash_input(in, nin, seed++), t_hash_input(w, (long)C * 9, seed++), t_hash_input(b, C, seed++);
        for (long i = 0; i < nin; i++) in[i] = 4.0f * in[i] - 2.0f;  // GELU's both erf branches
        for (long i = 0; i < (long)C * 9; i++) w[i] -= 0.5f;
        for (int gelu = 0; gelu < 2; gelu++)
            for (int nt = 1; nt <= 2; nt++) {
                dwconv_forward(fast, in, w, b, H, W, C, 3, st, gelu, nt);
                dwconv_forward_avx2(slow, in, w, b, H, W, C, 3, st, gelu, 1);
                CHECK(memcmp(fast, slow, sizeof(float) * nout) == 0,
                      "dwconv %dx%dx%d s%d gelu %d, %d threads: the fast path's bits differ from the AVX2 path's", H, W,
                      C, st, gelu, nt);
                dwconv_forward_avx2_interior(fast, in, w, b, H, W, C, 3, st, gelu, nt);
                CHECK(memcmp(fast, slow, sizeof(float) * nout) == 0,
                      "dwconv %dx%dx%d s%d gelu %d, %d threads: the AVX2 four-pixel kernel's bits differ", H, W, C, st,
                      gelu, nt);
            }
        free(in), free(w), free(b), free(fast), free(slow);
    }
}

/* Rewrites the fixture checkpoint to dst with one change: tensor `name` dropped
 * (new_ndim < 0) or replaced by `fill` in the given shape, optionally the whole state dict
 * wrapped as {"model": ..., "epoch": 3} like a training checkpoint. */
static int rewrite(const char *dst, const char *name, int new_ndim, const int64_t *new_shape, float fill, int wrap) {
    pth_file *f = NULL;
    medsam_error err = {0};
    if (pth_open(FIX "model.pth", &f, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return -1;
    }
    pth_writer *w = pth_writer_new();
    pth_value *sd = pth_writer_ordered_dict(w);
    const int n = pth_tensor_count(f);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        const pth_tensor *t = pth_tensor_at(f, i);
        int ndim = t->ndim;
        int64_t shape[PTH_MAX_DIMS], numel = 1;
        memcpy(shape, t->shape, sizeof shape);
        if (name && strcmp(t->name, name) == 0) {
            if (new_ndim < 0) continue;
            ndim = new_ndim;
            memcpy(shape, new_shape, sizeof(int64_t) * (size_t)ndim);
        }
        for (int d = 0; d < ndim; d++) numel *= shape[d];
        bufs[i] = calloc((size_t)(numel > 0 ? numel : 1), sizeof(float));
        if (!(name && strcmp(t->name, name) == 0)) pth_read_f32(f, t, bufs[i], &err);
        else
            for (int64_t e = 0; e < numel; e++) bufs[i][e] = fill;  // the changed one
        pth_writer_set(w, sd, t->name, pth_writer_tensor_f32(w, bufs[i], ndim, shape));
    }
    pth_value *root = sd;
    if (wrap) {
        root = pth_writer_dict(w);
        pth_writer_set(w, root, "model", sd);
        pth_writer_set(w, root, "epoch", pth_writer_int(w, 3));
    }
    medsam_status st = pth_writer_save(w, root, dst, &err);
    CHECK(st == MEDSAM_OK, "%s", err.message);
    pth_writer_free(w);
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    pth_close(f);
    return st == MEDSAM_OK ? 0 : -1;
}

/* Loading: a training checkpoint loads the same model; broken TinyViT files get one line naming the problem. */
/* The window attention's fused bias + softmax gives the bits of the plain loop
 * (add the bias, vit_softmax_row) on every path, for window rows (49, 196) and tails. */
static void test_softmax_rows_bias(void) {
    const int ns[] = {1, 7, 8, 9, 16, 17, 49, 196};
    for (int path = 0; path < 3; path++)
        for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
            const int n = ns[t], rows = 5;
            float *a = malloc(sizeof(float) * rows * n), *b = malloc(sizeof(float) * rows * n);
            float *bias = malloc(sizeof(float) * rows * n);
            uint32_t h = 2166136261u + (uint32_t)n;
            for (int i = 0; i < rows * n; i++) {
                h = h * 1664525u + 1013904223u;
                a[i] = b[i] = ((float)(h >> 8) / 16777216.0f - 0.5f) * 12.0f;
                h = h * 1664525u + 1013904223u;
                bias[i] = ((float)(h >> 8) / 16777216.0f - 0.5f) * 4.0f;
            }
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < n; j++) b[r * n + j] += bias[r * n + j];
                vit_softmax_row(b + r * n, n, path);
            }
            vit_softmax_rows_bias(a, bias, rows, n, path);
            CHECK(!memcmp(a, b, sizeof(float) * rows * n), "softmax rows + bias, path %d, n %d: not the bits of the loop",
                  path, n);
            free(a), free(b), free(bias);
        }
}

static void test_load_errors(void) {
    char dir[] = "/tmp/test_tinyvit_XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/m.pth", dir);
    medsam_model *m = NULL;
    medsam_error err = {0};
    if (rewrite(path, NULL, 0, NULL, 0.0f, 1) == 0) {  // {"model": state_dict, "epoch": 3}
        CHECK(medsam_model_load(path, &m, &err) == MEDSAM_OK, "training checkpoint: %s", err.message);
        if (m) {
            medsam_model_info info;
            medsam_model_get_info(m, &info);
            CHECK(strcmp(info.encoder, "tinyvit") == 0 && info.num_params == 284394, "training checkpoint info");
        }
        medsam_model_free(m), m = NULL;
    }
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
        const char *expect;
        float fill;
    } cases[] = {
        {"image_encoder.layers.2.blocks.1.mlp.fc2.bias", -1, {0}, "missing tensor 'image_encoder.layers.2.blocks.1.mlp.fc2.bias'", 0.0f},
        {"image_encoder.patch_embed.seq.0.c.weight", 4, {8, 3, 3, 3}, "MobileSAM", 0.0f},
        {"image_encoder.layers.1.blocks.0.attn.attention_biases", 2, {2, 48}, "attention_biases has shape (2,48)", 0.0f},
        {"image_encoder.layers.2.downsample.conv1.c.weight", 4, {64, 48, 1, 1}, "stage resolutions", 0.0f},
        {"image_encoder.layers.1.blocks.1.local_conv.bn.running_var", 1, {31}, "running_var': expected shape (32), got (31)", 0.0f},
        {"image_encoder.neck.0.weight", 4, {32, 320, 3, 3}, "neck.0.weight has shape (32,320,3,3)", 0.0f},
        {"image_encoder.layers.0.blocks.1.conv2.bn.running_var", 1, {64},
         "'image_encoder.layers.0.blocks.1.conv2.bn.running_var' holds -1 at index 0", -1.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (rewrite(path, cases[i].name, cases[i].ndim, cases[i].shape, cases[i].fill, 0)) continue;
        medsam_status st = medsam_model_load(path, &m, &err);
        CHECK(st != MEDSAM_OK && m == NULL && strstr(err.message, cases[i].expect) && strstr(err.message, path) &&
                  !strchr(err.message, '\n'),
              "case %zu (%s): status %d, message '%s'", i, cases[i].name, (int)st, err.message);
        medsam_model_free(m), m = NULL;
    }
    unlink(path);
    rmdir(dir);
}

/* The SAM ViT kind is still what a ViT checkpoint loads as. */
static void test_vit_kind(void) {
    medsam_model *m = NULL;
    medsam_error err = {0};
    CHECK(medsam_model_load("tests/fixtures/tiny/model.pth", &m, &err) == MEDSAM_OK, "%s", err.message);
    if (!m) return;
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    CHECK(strcmp(info.encoder, "vit") == 0 && strcmp(info.family, "SAM ViT") == 0 && info.img_size == 128 &&
              info.patch_size == 16 && info.embed_dim == 48 && m->cfg.encoder == MS_ENC_VIT && m->enc_state == &m->w.enc,
          "ViT checkpoint: encoder %s, family %s, img %d", info.encoder, info.family, info.img_size);
    medsam_model_free(m);
}

int main(void) {
    test_dwconv();
    test_dwconv_interior();
    test_softmax_rows_bias();
    test_vit_kind();
    test_load_errors();
    medsam_model *m = NULL;
    medsam_error err = {0};
    CHECK(medsam_model_load(FIX "model.pth", &m, &err) == MEDSAM_OK, "%s", err.message);
    if (m) {
        test_info(m);
        test_stages(m);
        test_full(m);
        uint8_t vol[64] = {0}, mask[64];
        medsam_box b = {1, 1, 6, 6};
        medsam_status st = medsam_segment_slice(m, vol, 8, 8, 1, 0, &b, 1, 1, mask, &err);
        CHECK(st == MEDSAM_OK, "volume pipeline with a TinyViT model (lite pipeline): %d %s", (int)st, err.message);
        medsam_model_free(m);
    }
    return t_summary();
}
