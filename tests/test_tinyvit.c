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
#include "test.h"

#define FIX "tests/fixtures/lite/"

/* tools/ref/make_encoder_fixtures.py:hash_input (flat CHW index i). x: (n) */
static void hash_input(float *x, long n, uint32_t seed) {
    for (long i = 0; i < n; i++) {
        uint32_t v = (uint32_t)i + seed;
        v = (v ^ (v >> 16)) * 0x7FEB352Du;
        v = (v ^ (v >> 15)) * 0x846CA68Bu;
        v ^= v >> 16;
        x[i] = (float)((double)(v >> 8) / 16777216.0);
    }
}

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
    hash_input(img, n_img, 12345);
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
    CHECK(ms_tinyvit_encode(&c, m->enc_state, img, emb2, work, 2, NULL, NULL, &err) == MEDSAM_OK, "%s", err.message);
    CHECK(memcmp(emb, emb2, sizeof(float) * ne) == 0, "tinyvit: 1 and 2 threads give different bits");

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
    hash_input(chw, n_img, 12345);
    for (long p = 0; p < S * S; p++)
        for (int ch = 0; ch < 3; ch++) hwc[p * 3 + ch] = chw[ch * S * S + p];
    medsam_embedding *e1 = NULL, *e2 = NULL;
    medsam_error err = {0};
    CHECK(medsam_encode(m, hwc, 2, &e1, &err) == MEDSAM_OK, "%s", err.message);
    CHECK(medsam_encode(m, hwc, 1, &e2, &err) == MEDSAM_OK, "%s", err.message);
    float *ref = load("embedding", ne);
    if (e1 && e2 && ref) {
        long n = 0;
        const float *d = medsam_embedding_data(e1, &n);
        CHECK(n == ne, "embedding has %ld values", n);
        t_close("tinyvit embedding 256x256 vs torch", d, ref, ne, 1e-5, 1e-5, 1e-5);
        CHECK(memcmp(d, medsam_embedding_data(e2, &n), sizeof(float) * ne) == 0, "embedding: 1 and 2 threads differ");
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
    medsam_embedding_free(e1), medsam_embedding_free(e2);
    free(ref), free(box), free(lref), free(iref), free(chw), free(hwc);
}

int main(void) {
    medsam_model *m = NULL;
    medsam_error err = {0};
    CHECK(medsam_model_load(FIX "model.pth", &m, &err) == MEDSAM_OK, "%s", err.message);
    if (m) {
        test_info(m);
        test_stages(m);
        test_full(m);
        medsam_model_free(m);
    }
    return t_summary();
}
