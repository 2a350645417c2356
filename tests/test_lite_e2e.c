/* test_lite_e2e.c — LiteMedSAM's pipeline end to end against the official
 * CVPR24_LiteMedSAM_infer.py (MedSAM_infer_npz_2D / _3D run as they are on the
 * tiny checkpoint tests/fixtures/lite/model.pth; tools/ref/make_lite_e2e_fixtures.py):
 * each CVPR24 npz case goes through the calls cli/cmd_npz.c makes (2-D: the model's
 * pipeline preprocessing, encoder, all boxes in one decoder call; 3-D:
 * medsam_segment_volume on the uint8 imgs as they are) and its segs must equal the
 * official ones except where the official probability was within 1e-6 of 0.5, with
 * Dice >= 0.999 per label. Also: the pipeline chosen by default and by hand. */
#include <stdint.h>
#include <string.h>

#include "core/npy.h"
#include "io/npz.h"
#include "medsam.h"
#include "test.h"

#define MODEL "tests/fixtures/lite/model.pth"
#define E2E "tests/fixtures/lite/e2e/"

static int load(const ms_npz *z, const char *name, ms_npy *a) {
    medsam_error err;
    memset(a, 0, sizeof *a);
    if (ms_npz_get(z, name, a, &err)) {
        CHECK(0, "%s: %s", name, err.message);
        return 0;
    }
    return 1;
}

/* got vs ref labels (n): differences only where near != 0, Dice >= 0.999 per label. */
static void compare(const char *name, const void *got, int got_bytes, const uint8_t *ref, const uint8_t *near,
                    size_t n) {
    long diff = 0, outside = 0, inter[256] = {0}, cg[256] = {0}, cr[256] = {0};
    for (size_t p = 0; p < n; p++) {
        const unsigned g = got_bytes == 1 ? ((const uint8_t *)got)[p] : ((const uint16_t *)got)[p], r = ref[p];
        if (g > 255) {
            outside++;
            continue;
        }
        cg[g]++, cr[r]++;
        if (g == r) inter[g]++;
        else diff++, outside += !near[p];
    }
    double worst = 1.0;
    int labels = 0;
    for (int l = 1; l < 256; l++)
        if (cg[l] + cr[l]) {
            const double dice = 2.0 * inter[l] / (double)(cg[l] + cr[l]);
            worst = dice < worst ? dice : worst;
            labels++;
        }
    printf("%-22s %8zu px, %d label(s): %ld differ (%ld outside the |p-0.5| < 1e-6 band), min Dice %.6f\n", name, n,
           labels, diff, outside, worst);
    CHECK(outside == 0, "%s: %ld pixels differ outside the near-0.5 band", name, outside);
    CHECK(worst >= 0.999, "%s: Dice %.6f < 0.999", name, worst);
}

static void case_2d(const medsam_model *m, const char *name, const char *input) {
    char path[256];
    snprintf(path, sizeof path, E2E "%s_expected.npz", name);
    medsam_error err;
    ms_npz *c = NULL, *e = NULL;
    if (ms_npz_open(input, &c, &err) || ms_npz_open(path, &e, &err)) {
        CHECK(0, "%s", err.message);
        ms_npz_close(c);
        return;
    }
    ms_npy imgs, bx, segs, near;
    if (load(c, "imgs", &imgs) && load(c, "boxes", &bx) && load(e, "segs", &segs) && load(e, "near", &near)) {
        const int H = (int)imgs.shape[0], W = (int)imgs.shape[1], n = (int)bx.shape[0];
        medsam_box *b = malloc((size_t)n * sizeof *b);
        const int64_t *v = bx.data;
        for (int i = 0; i < n; i++)
            b[i] = (medsam_box){(float)v[4 * i], (float)v[4 * i + 1], (float)v[4 * i + 2], (float)v[4 * i + 3]};
        float *x = malloc((size_t)256 * 256 * 3 * sizeof(float));
        uint8_t *mask = malloc((size_t)W * H);
        medsam_embedding *emb = NULL;
        medsam_status st = medsam_model_preprocess(m, imgs.data, W, H, 3, 8, 2, x, &err);
        if (!st) st = medsam_encode(m, x, 2, &emb, &err);
        if (!st) st = medsam_decode_boxes(m, emb, W, H, b, n, 2, NULL, NULL, mask, &err);
        CHECK(st == MEDSAM_OK, "%s: %s", name, err.message);
        if (!st) compare(name, mask, 1, segs.data, near.data, (size_t)W * H);
        medsam_embedding_free(emb);
        free(b), free(x), free(mask);
    }
    ms_npy_free(&imgs), ms_npy_free(&bx), ms_npy_free(&segs), ms_npy_free(&near);
    ms_npz_close(c), ms_npz_close(e);
}

static void case_3d(const medsam_model *m, const char *name, const char *input) {
    char path[256];
    snprintf(path, sizeof path, E2E "%s_expected.npz", name);
    medsam_error err;
    ms_npz *c = NULL, *e = NULL;
    if (ms_npz_open(input, &c, &err) || ms_npz_open(path, &e, &err)) {
        CHECK(0, "%s", err.message);
        ms_npz_close(c);
        return;
    }
    ms_npy imgs, bx, segs, near;
    if (load(c, "imgs", &imgs) && load(c, "boxes", &bx) && load(e, "segs", &segs) && load(e, "near", &near)) {
        const int D = (int)imgs.shape[0], H = (int)imgs.shape[1], W = (int)imgs.shape[2], n = (int)bx.shape[0];
        medsam_box3d *b = malloc((size_t)n * sizeof *b);
        const int64_t *v = bx.data; // [x_min, y_min, z_min, x_max, y_max, z_max]
        for (int i = 0; i < n; i++)
            b[i] = (medsam_box3d){(float)v[6 * i], (float)v[6 * i + 1], (float)v[6 * i + 3], (float)v[6 * i + 4],
                                  (int)v[6 * i + 2], (int)v[6 * i + 5]};
        uint8_t *labels = malloc((size_t)W * H * D);
        medsam_volume_opts o = {.nthreads = 2};
        medsam_status st = medsam_segment_volume(m, imgs.data, W, H, D, b, n, &o, labels, 1, &err);
        CHECK(st == MEDSAM_OK, "%s: %s", name, err.message);
        if (!st) compare(name, labels, 1, segs.data, near.data, (size_t)W * H * D);
        int want = 0; // every slice of the union of the boxes' ranges, once
        for (int z = 0; z < D; z++)
            for (int i = 0; i < n; i++)
                if (z >= b[i].z0 && z <= b[i].z1) {
                    want++;
                    break;
                }
        CHECK(!st && o.slices_encoded == want, "%s: %d slices encoded, want %d (each once)", name, o.slices_encoded,
              want);
        free(b), free(labels);
    }
    ms_npy_free(&imgs), ms_npy_free(&bx), ms_npy_free(&segs), ms_npy_free(&near);
    ms_npz_close(c), ms_npz_close(e);
}

static void pipelines(medsam_model *m) {
    medsam_error err;
    CHECK(medsam_model_get_pipeline(m) == MEDSAM_PIPELINE_LITE, "a TinyViT model defaults to %s",
          medsam_pipeline_name(medsam_model_get_pipeline(m)));
    CHECK(medsam_model_set_pipeline(m, MEDSAM_PIPELINE_MEDSAM, &err) == MEDSAM_OK &&
              medsam_model_get_pipeline(m) == MEDSAM_PIPELINE_MEDSAM,
          "medsam pipeline on a TinyViT model: %s", err.message);
    CHECK(medsam_model_set_pipeline(m, MEDSAM_PIPELINE_SAM, &err) == MEDSAM_OK &&
              medsam_model_get_pipeline(m) == MEDSAM_PIPELINE_SAM,
          "sam pipeline on a TinyViT model (SamPredictor takes any Sam): %s", err.message);
    CHECK(medsam_model_set_pipeline(m, MEDSAM_PIPELINE_AUTO, &err) == MEDSAM_OK &&
              medsam_model_get_pipeline(m) == MEDSAM_PIPELINE_LITE,
          "auto -> lite");
    medsam_pipeline p;
    CHECK(medsam_pipeline_parse("lite", &p, &err) == MEDSAM_OK && p == MEDSAM_PIPELINE_LITE, "parse lite");
    CHECK(medsam_pipeline_parse("Lite", &p, &err) == MEDSAM_ERR_ARG && strstr(err.message, "'Lite'"), "parse Lite");
    CHECK(!strcmp(medsam_pipeline_name(MEDSAM_PIPELINE_MEDSAM), "medsam"), "name");
    medsam_model *vit = NULL;
    if (medsam_model_load("tests/fixtures/tiny/model.pth", &vit, &err) == MEDSAM_OK) {
        CHECK(medsam_model_get_pipeline(vit) == MEDSAM_PIPELINE_MEDSAM, "a ViT model defaults to medsam");
        CHECK(medsam_model_set_pipeline(vit, MEDSAM_PIPELINE_LITE, &err) == MEDSAM_ERR_UNSUPPORTED &&
                  strstr(err.message, "lite"),
              "lite on the tiny ViT (input 128, masks 32) refused: %s", err.message);
        medsam_model_free(vit);
    }
    // 16-bit pixels: the lite pipeline takes 8-bit only
    uint16_t px[16] = {0};
    float *x = malloc((size_t)256 * 256 * 3 * sizeof(float));
    CHECK(medsam_model_preprocess(m, px, 4, 4, 1, 16, 1, x, &err) == MEDSAM_ERR_UNSUPPORTED, "16-bit refused");
    free(x);
}

int main(void) {
    medsam_error err;
    medsam_model *m = NULL;
    if (medsam_model_load(MODEL, &m, &err)) {
        CHECK(0, "%s", err.message);
        printf("%d passed, %d failed\n", t_passed, t_failed);
        return 1;
    }
    pipelines(m);
    case_2d(m, "case2d", "tests/fixtures/volume/case2d.npz");
    case_2d(m, "lite2d_odd", E2E "lite2d_odd.npz");
    case_2d(m, "lite2d_up", E2E "lite2d_up.npz");
    case_2d(m, "lite2d_512", E2E "lite2d_512.npz");
    case_3d(m, "case3d", "tests/fixtures/volume/case3d.npz");
    case_3d(m, "3D_lite_blob", E2E "3D_lite_blob.npz");
    case_3d(m, "3D_lite_wide", E2E "3D_lite_wide.npz");
    medsam_model_free(m);
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
