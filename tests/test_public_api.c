/* test_public_api.c — the public functions added for installing and for the
 * bindings: version macros and medsam_version(); medsam_image_read (its pixels
 * through medsam_preprocess_pixels give medsam_prepare_input's tensor bit for bit, and through
 * medsam_model_preprocess medsam_model_prepare_input's, a float .npy included);
 * medsam_volume_samples (values and scaling); medsam_eval_label on masks whose
 * metrics are known exactly, the empty-mask conventions and bad arguments. Runs
 * under ASan too (the Python tests, which cover the same calls, do not). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/npy.h"
#include "medsam.h"
#include "test.h"

static void test_version(void) {
    char v[64];
    snprintf(v, sizeof v, "%d.%d.%d", MEDSAM_VERSION_MAJOR, MEDSAM_VERSION_MINOR, MEDSAM_VERSION_PATCH);
    CHECK(!strcmp(v, MEDSAM_VERSION), "MEDSAM_VERSION %s vs the numbers %s", MEDSAM_VERSION, v);
    CHECK(!strcmp(medsam_version(), MEDSAM_VERSION), "medsam_version() %s vs %s", medsam_version(), MEDSAM_VERSION);
}

static void test_image_read(void) {
    const char *files[] = {"tests/fixtures/images/camera.png", "tests/fixtures/images/retina.jpg",
                           "tests/fixtures/images/chelsea.png"};
    medsam_error err;
    for (int f = 0; f < 3; f++) {
        void *pix = NULL;
        int w, h, c, bits;
        medsam_status st = medsam_image_read(files[f], &pix, &w, &h, &c, &bits, &err);
        CHECK(st == MEDSAM_OK && pix && w > 0 && h > 0 && c >= 1 && c <= 4 && bits == 8, "%s: %s", files[f],
              st ? err.message : "bad fields");
        if (st) continue;
        const int S = 64;
        float *a = malloc(sizeof(float) * S * S * 3), *b = NULL;
        int W = 0, H = 0;
        st = medsam_preprocess_pixels(pix, w, h, c, bits, S, 2, a, &err);
        CHECK(!st, "%s: preprocess_pixels: %s", files[f], err.message);
        st = medsam_prepare_input(files[f], S, 2, &b, &W, &H, &err);
        CHECK(!st && W == w && H == h, "%s: prepare_input: %s", files[f], err.message);
        CHECK(!st && !memcmp(a, b, sizeof(float) * S * S * 3), "%s: read + preprocess = prepare_input", files[f]);
        free(a);
        medsam_free(b);
        medsam_free(pix);
    }
    void *pix = (void *)1;
    int w, h, c, bits;
    medsam_status st = medsam_image_read("tests/fixtures/images/none.png", &pix, &w, &h, &c, &bits, &err);
    CHECK(st == MEDSAM_ERR_IO && pix == NULL && strstr(err.message, "none.png"), "missing file: %d %s", st,
          err.message);
}

/* The small LiteMedSAM fixture and its info, or NULL (a failed check) when it does not load. */
static medsam_model *load_lite(medsam_model_info *info) {
    medsam_error err;
    medsam_model *m;
    if (medsam_model_load("tests/fixtures/lite/model.pth", &m, &err)) {
        CHECK(0, "lite model: %s", err.message);
        return NULL;
    }
    medsam_model_get_info(m, info);
    return m;
}

/* medsam_image_read + medsam_model_preprocess = medsam_model_prepare_input (what `medsam segment`
 * does to read the image while the model loads), on images and on a preprocessed float .npy. */
static void test_model_preprocess(void) {
    medsam_error err;
    medsam_model_info info;
    medsam_model *m = load_lite(&info);
    if (!m) return;
    const int S = info.img_size;
    char npy[] = "/tmp/test_public_api_XXXXXX.npy";
    int fd = mkstemps(npy, 4);
    CHECK(fd >= 0, "mkstemps");
    if (fd >= 0) close(fd);
    float *pre = malloc(sizeof(float) * S * S * 3);
    for (int i = 0; i < S * S * 3; i++) pre[i] = (float)((i * 37 % 1001) / 1000.0);
    const int64_t shape[3] = {S, S, 3};
    CHECK(!ms_npy_write(npy, MS_NPY_F32, 3, shape, pre, &err), "write %s: %s", npy, err.message);
    const char *files[] = {"tests/fixtures/images/camera.png", "tests/fixtures/images/chelsea.png", npy};
    for (int f = 0; f < 3; f++) {
        void *pix = NULL;
        int w, h, c, bits, W = 0, H = 0;
        float *a = malloc(sizeof(float) * S * S * 3), *b = NULL;
        medsam_status st = medsam_image_read(files[f], &pix, &w, &h, &c, &bits, &err);
        CHECK(!st && bits == (f == 2 ? 32 : 8), "%s: read: %s (bits %d)", files[f], st ? err.message : "", bits);
        if (!st) st = medsam_model_preprocess(m, pix, w, h, c, bits, 2, a, &err);
        CHECK(!st, "%s: medsam_model_preprocess: %s", files[f], err.message);
        medsam_status st2 = medsam_model_prepare_input(m, files[f], 2, &b, &W, &H, &err);
        CHECK(!st && !st2 && W == w && H == h && !memcmp(a, b, sizeof(float) * S * S * 3),
              "%s: read + medsam_model_preprocess = medsam_model_prepare_input", files[f]);
        if (f == 2 && pix)  // the pipeline-independent preprocessing takes 8 / 16 bits only
            CHECK(medsam_preprocess_pixels(pix, w, h, c, bits, S, 2, a, &err) == MEDSAM_ERR_ARG,
                  "medsam_preprocess_pixels took 32-bit samples");
        free(a);
        medsam_free(b);
        medsam_free(pix);
    }
    remove(npy);
    free(pre);
    medsam_model_free(m);
}

/* A non-finite value in an encoder input or an embedding is reported with its index. */
static void test_nonfinite_inputs(void) {
    medsam_error err;
    medsam_model_info info;
    medsam_model *m = load_lite(&info);
    if (!m) return;
    const long n_in = (long)info.img_size * info.img_size * 3, n_emb = (long)info.emb_channels * info.emb_size * info.emb_size;
    float *x = calloc((size_t)(n_in > n_emb ? n_in : n_emb), sizeof(float));
    const long at[] = {0, 5, 64 * 3 + 7, n_in - 1};
    for (int k = 0; k < 4; k++) {
        medsam_embedding *e = NULL;
        x[at[k]] = k % 2 ? INFINITY : NAN;
        if (k == 2) x[n_in - 2] = NAN;  // a later one does not hide it
        char want[96];
        snprintf(want, sizeof want, "encoder input holds a non-finite value at index %ld", at[k]);
        medsam_status st = medsam_encode(m, x, 2, &e, &err);
        CHECK(st == MEDSAM_ERR_NUMERIC && strstr(err.message, want), "NaN/inf at %ld of the encoder input: %s", at[k],
              st ? err.message : "accepted");
        medsam_embedding_free(e);
        memset(x, 0, sizeof(float) * n_in);
    }
    x[n_emb - 3] = -INFINITY;
    medsam_embedding *e = NULL;
    char want[96];
    snprintf(want, sizeof want, "embedding holds a non-finite value at index %ld", n_emb - 3);
    medsam_status st = medsam_embedding_from_data(m, x, n_emb, &e, &err);
    CHECK(st == MEDSAM_ERR_NUMERIC && strstr(err.message, want), "-inf in an embedding: %s", st ? err.message : "accepted");
    medsam_embedding_free(e);
    free(x);
    medsam_model_free(m);
}

static void test_volume_samples(void) {
    medsam_error err;
    medsam_volume *v;
    medsam_volume_info vi;
    double slope = 0, inter = 9;
    if (medsam_volume_read("tests/fixtures/volume/intensity/scaled_int16.nii.gz", &v, &err)) {
        CHECK(0, "scaled_int16: %s", err.message);
        return;
    }
    medsam_volume_get_info(v, &vi);
    const int16_t *s = medsam_volume_samples(v, &slope, &inter);
    CHECK(s && vi.scaled && !strcmp(vi.dtype, "int16") && slope != 1.0, "scaled int16: slope %g inter %g", slope,
          inter);
    medsam_volume_free(v);
    if (medsam_volume_read("tests/fixtures/volume/ct_phantom.nii.gz", &v, &err)) {
        CHECK(0, "ct_phantom: %s", err.message);
        return;
    }
    medsam_volume_get_info(v, &vi);
    const void *p = medsam_volume_samples(v, &slope, &inter);
    CHECK(p && (vi.scaled || (slope == 1.0 && inter == 0.0)), "unscaled: slope %g inter %g", slope, inter);
    /* (nz, ny, nx) int16 samples, unscaled */
    CHECK(p && !strcmp(vi.dtype, "int16") && vi.nx == 72 && vi.ny == 60 && vi.nz == 14, "ct_phantom: %s %dx%dx%d",
          vi.dtype, vi.nx, vi.ny, vi.nz);
    medsam_volume_free(v);
}

/* A (6, 7) map: gt a 3x3 square, pred the same square shifted by one column. */
static void test_eval_label(void) {
    uint8_t gt[6 * 7] = {0}, pred[6 * 7] = {0}, none[6 * 7] = {0};
    uint16_t pred16[6 * 7] = {0};
    for (int y = 1; y < 4; y++)
        for (int x = 1; x < 4; x++) gt[y * 7 + x] = 2, pred[y * 7 + x + 1] = 2, pred16[y * 7 + x + 1] = 2;
    const long long shape[3] = {6, 7, 1};
    const double sp[3] = {1, 1, 1};
    medsam_metrics m;
    medsam_error err;
    medsam_status st = medsam_eval_label(pred, 1, gt, 1, shape, sp, 2.0, 2, 1, &m, &err);
    CHECK(!st && m.dsc == 2.0 * 6 / 18 && m.vol_gt == 9 && m.vol_pred == 9, "shifted square: DSC %g (2*6/18)", m.dsc);
    CHECK(!st && m.nsd == 1.0 && m.hd95 == 1.0, "shifted by 1, tolerance 2: NSD %g (1), HD95 %g (1)", m.nsd, m.hd95);
    medsam_metrics m16;
    st = medsam_eval_label(pred16, 2, gt, 1, shape, sp, 2.0, 2, 1, &m16, &err);
    CHECK(!st && !memcmp(&m, &m16, sizeof m), "uint16 prediction = uint8 prediction");
    st = medsam_eval_label(pred, 1, gt, 1, shape, sp, 2.0, 0, 1, &m16, &err);
    CHECK(!st && m16.dsc == m.dsc && m16.hd95 == m.hd95, "label 0 (any non-zero) = label 2 here");
    st = medsam_eval_label(pred, 1, gt, 1, shape, sp, 0.5, 2, 1, &m16, &err);
    CHECK(!st && m16.nsd < 1.0 && m16.dsc == m.dsc, "tolerance 0.5: NSD %g < 1", m16.nsd);
    st = medsam_eval_label(none, 1, none, 1, shape, sp, 2.0, 1, 1, &m, &err);
    CHECK(!st && isnan(m.dsc) && isnan(m.nsd) && isinf(m.hd95), "both empty: DSC NaN, NSD NaN, HD95 inf");
    st = medsam_eval_label(none, 1, gt, 1, shape, sp, 2.0, 2, 1, &m, &err);
    CHECK(!st && m.dsc == 0 && m.nsd == 0 && isinf(m.hd95), "empty prediction: 0, 0, inf");
    CHECK(medsam_eval_label(pred, 3, gt, 1, shape, sp, 2.0, 2, 1, &m, &err) == MEDSAM_ERR_ARG, "3 bytes per voxel");
    const double sp0[3] = {1, 0, 1};
    CHECK(medsam_eval_label(pred, 1, gt, 1, shape, sp0, 2.0, 2, 1, &m, &err) == MEDSAM_ERR_ARG &&
              strstr(err.message, "spacing[1]"),
          "zero spacing: %s", err.message);
    const long long bad[3] = {6, 0, 1};
    CHECK(medsam_eval_label(pred, 1, gt, 1, bad, sp, 2.0, 2, 1, &m, &err) == MEDSAM_ERR_SHAPE, "zero axis");
    CHECK(medsam_eval_label(NULL, 1, gt, 1, shape, sp, 2.0, 2, 1, &m, &err) == MEDSAM_ERR_ARG, "NULL prediction");
    CHECK(medsam_eval_label(pred, 1, gt, 1, shape, sp, NAN, 2, 1, &m, &err) == MEDSAM_ERR_ARG, "NaN tolerance");
    CHECK(medsam_eval_label(pred, 1, gt, 1, shape, sp, 2.0, 70000, 1, &m, &err) == MEDSAM_ERR_ARG, "label > 65535");
}

int main(void) {
    test_version();
    test_image_read();
    test_model_preprocess();
    test_nonfinite_inputs();
    test_volume_samples();
    test_eval_label();
    return t_summary();
}
