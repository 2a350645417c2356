/* test_preprocess.c — resize, MedSAM preprocessing and postprocessing against the
 * official Python pipeline (fixtures from tools/ref/make_preprocess_fixtures.py).
 *
 * Tolerances: resize results (float64) must match SciPy to 1e-9 absolute (they are
 * expected to be bit-identical; the count of non-identical values is printed); the
 * uint8 stage may differ by at most 1 grey level on at most 0.1% of the values (the
 * largest difference and the count are printed for every case); probabilities after
 * sigmoid + bilinear within 2.4e-7 and masks identical except where the reference
 * probability lies within 2.4e-7 of 0.5. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/npy.h"
#include "io/image.h"
#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "pipeline/resize.h"
#include "test.h"

#define FIX "tests/fixtures/preprocess/"

static int load(const char *name, ms_npy *a) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    medsam_error err;
    if (ms_npy_read(path, a, &err)) {
        CHECK(0, "%s: %s", name, err.message);
        return 0;
    }
    return 1;
}

/* Compares uint8 arrays; prints the largest difference and the number of differing values. */
static long compare_u8(const char *what, const uint8_t *got, const uint8_t *ref, long n) {
    long diff = 0;
    int maxd = 0;
    for (long i = 0; i < n; i++) {
        int d = abs((int)got[i] - (int)ref[i]);
        diff += d != 0;
        maxd = d > maxd ? d : maxd;
    }
    int ok = maxd <= 1 && diff * 1000 <= n;
    CHECK(ok, "%s: %ld of %ld values differ, largest difference %d", what, diff, n, maxd);
    printf("%s %-44s %ld values, %ld differ, largest difference %d%s\n", ok ? "ok  " : "FAIL", what, n, diff, maxd,
           diff == 0 ? " (identical)" : "");
    return diff;
}

static void test_kernels(void) {
    ms_npy sig, ker;
    if (!load("kernel_sigmas.npy", &sig) || !load("kernels.npy", &ker)) return;
    const double *s = sig.data, *k = ker.data;
    long off = 0, bad_numpy = 0, bad_libm = 0;
    double w[512];
    for (long i = 0; i < sig.count; i++) {
        int r = ms_resize_gaussian_kernel(w, s[i], MS_EXP_NUMPY_AVX512);
        CHECK(off + 2 * r + 1 <= ker.count, "kernel radius for sigma %g", s[i]);
        if (off + 2 * r + 1 > ker.count) break;
        for (int j = 0; j <= 2 * r; j++) bad_numpy += w[j] != k[off + j];
        ms_resize_gaussian_kernel(w, s[i], MS_EXP_LIBM);
        for (int j = 0; j <= 2 * r; j++) bad_libm += w[j] != k[off + j];
        off += 2 * r + 1;
    }
    CHECK(off == ker.count, "kernel lengths add up (%ld of %lld)", off, (long long)ker.count);
    CHECK(bad_numpy == 0, "%ld Gaussian weights differ from NumPy's", bad_numpy);
    printf("%s Gaussian kernels (%lld sigmas, %ld weights): %ld differ with the AVX-512 exp, %ld with libm exp\n",
           bad_numpy ? "FAIL" : "ok  ", (long long)sig.count, off, bad_numpy, bad_libm);
    ms_npy_free(&sig);
    ms_npy_free(&ker);
}

static void test_resize_case(const char *src_name, const char *ref_name, int oh, int ow, int order, int aa) {
    ms_npy src, ref;
    if (!load(src_name, &src)) return;
    if (!load(ref_name, &ref)) {
        ms_npy_free(&src);
        return;
    }
    int c = src.ndim == 3 ? (int)src.shape[2] : 0;
    long n = (long)oh * ow * (c ? c : 1);
    double *out = malloc(n * sizeof(double));
    medsam_error err;
    ms_resize_opts o = {.order = order, .anti_aliasing = aa, .clip = 1, .threads = 1};
    medsam_status st = ms_resize_skimage(out, src.data, (int)src.shape[0], (int)src.shape[1], c, oh, ow, &o, &err);
    CHECK(st == MEDSAM_OK && ref.count == n, "%s: %s", ref_name, err.message);
    if (st == MEDSAM_OK && ref.count == n) {
        const double *r = ref.data;
        long inexact = 0;
        double maxd = 0;
        for (long i = 0; i < n; i++) {
            double d = fabs(out[i] - r[i]);
            inexact += out[i] != r[i];
            maxd = d > maxd ? d : maxd;
        }
        CHECK(maxd <= 1e-9, "%s: max |diff| %g", ref_name, maxd);
        printf("%s resize %-37s %ld values, %ld not bit-identical, max |diff| %.3g\n", maxd <= 1e-9 ? "ok  " : "FAIL",
               ref_name, n, inexact, maxd);
        // threads must not change anything
        double *out3 = malloc(n * sizeof(double));
        o.threads = 3;
        ms_resize_skimage(out3, src.data, (int)src.shape[0], (int)src.shape[1], c, oh, ow, &o, &err);
        CHECK(memcmp(out, out3, n * sizeof(double)) == 0, "%s: 3 threads differ from 1", ref_name);
        // the plain one-pixel-at-a-time kernel must give the same bits as the blocked one
        o.threads = 1, o.plain = 1;
        ms_resize_skimage(out3, src.data, (int)src.shape[0], (int)src.shape[1], c, oh, ow, &o, &err);
        CHECK(memcmp(out, out3, n * sizeof(double)) == 0, "%s: plain kernel differs from blocked", ref_name);
        free(out3);
    }
    free(out);
    ms_npy_free(&src);
    ms_npy_free(&ref);
}

static void test_resize_errors(void) {
    double in[4] = {0, 1, 2, 3}, out[4];
    medsam_error err;
    ms_resize_opts o = {.order = 2, .anti_aliasing = 0, .clip = 1, .threads = 1};
    CHECK(ms_resize_skimage(out, in, 2, 2, 0, 2, 2, &o, &err) == MEDSAM_ERR_ARG, "order 2 refused");
    o.order = 3;
    CHECK(ms_resize_skimage(out, in, 0, 2, 0, 2, 2, &o, &err) == MEDSAM_ERR_ARG, "zero height refused");
    CHECK(ms_resize_skimage(out, in, 2, 2, 0, 70000, 2, &o, &err) == MEDSAM_ERR_ARG, "70000 rows refused");
    o.order = 0, o.anti_aliasing = 1;
    CHECK(ms_resize_skimage(out, in, 2, 2, 0, 1, 1, &o, &err) == MEDSAM_ERR_ARG, "order 0 + anti-aliasing refused");
}

/* One fixture image through the whole pipeline at `target`. */
static void test_pipeline_case(const char *file, int target, ms_u16_policy u16, const char *ref_suffix) {
    char path[512], what[160];
    snprintf(path, sizeof path, FIX "%s", file);
    ms_image im;
    medsam_error err;
    medsam_status st = ms_image_read(path, &im, &err);
    CHECK(st == MEDSAM_OK, "%s", err.message);
    if (st) return;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", file);
    *strrchr(stem, '.') = 0;
    snprintf(path, sizeof path, "%s.%s_%d.npy", stem, ref_suffix, target);
    ms_npy ref;
    if (!load(path, &ref)) {
        ms_image_free(&im);
        return;
    }
    long n = (long)target * target * 3;
    float *x = malloc(n * sizeof(float));
    uint8_t *q = malloc(n);
    ms_preprocess_opts o = {.target = target, .u16 = u16, .threads = 1};
    st = ms_preprocess_medsam(x, q, &im, &o, &err);
    CHECK(st == MEDSAM_OK && ref.count == n, "%s: %s", file, err.message);
    if (st == MEDSAM_OK && ref.count == n) {
        snprintf(what, sizeof what, "%s -> %d (%s)", file, target, ref_suffix);
        long diff = compare_u8(what, q, ref.data, n);
        // the float stage is (u8 - min) / (max - min) of the reference's own uint8 stage:
        // exact when the uint8 stages agree, else within one grey level
        const uint8_t *r = ref.data;
        uint8_t lo = 255, hi = 0;
        for (long i = 0; i < n; i++) lo = r[i] < lo ? r[i] : lo, hi = r[i] > hi ? r[i] : hi;
        float *xf = malloc(n * sizeof(float));
        for (long i = 0; i < n; i++) xf[i] = (float)((double)(r[i] - lo) / (hi > lo ? hi - lo : 1e-8));
        snprintf(what, sizeof what, "%s -> %d float stage", file, target);
        t_close(what, x, xf, n, diff ? 1.0 / 255 + 1e-7 : 0, 0, diff ? 2e-3 : 0);
        free(xf);
    }
    free(x);
    free(q);
    ms_npy_free(&ref);
    ms_image_free(&im);
}

/* Integer-only synthetic image; make_preprocess_fixtures.py:synthetic computes the same. */
static uint8_t synth_val(long y, long x, int k) {
    long v = ((x * x * (k + 1) + 3 * y * y) / 97 + (x / 64) * (y / 64) * 13) % 256;
    if ((x / 128 + y / 96) % 3 == 0) v = 77 + 40 * ((x / 128) % 3) + 10 * k;
    return (uint8_t)v;
}

static void row_crc_check(const char *what, const uint8_t *q, const char *crc_name) {
    ms_npy crc;
    if (!load(crc_name, &crc)) return;
    long rows_bad = 0;
    for (long y = 0; y < 1024 && y < crc.count; y++)
        rows_bad += (int64_t)crc32(0L, q + y * 1024 * 3, 1024 * 3) != ((int64_t *)crc.data)[y];
    CHECK(crc.count == 1024 && crc.dtype == MS_NPY_I64 && rows_bad * 1000 <= 1024, "%s: %ld of 1024 rows differ", what, rows_bad);
    printf("%s %-44s %ld of 1024 rows differ from the official result%s\n", rows_bad * 1000 <= 1024 ? "ok  " : "FAIL",
           what, rows_bad, rows_bad ? "" : " (all identical)");
    ms_npy_free(&crc);
}

static void test_synthetic(int h, int w, int c) {
    ms_image im = {.width = w, .height = h, .channels = c ? c : 1, .bit_depth = 8, .format = MS_IMAGE_NPY};
    im.u8 = malloc((size_t)h * w * im.channels);
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++)
            for (int k = 0; k < im.channels; k++) im.u8[(y * w + x) * im.channels + k] = synth_val(y, x, k);
    long n = 1024L * 1024 * 3;
    float *xf = malloc(n * sizeof(float));
    uint8_t *q = malloc(n);
    medsam_error err;
    ms_preprocess_opts o = {.target = 1024, .threads = 2};
    medsam_status st = ms_preprocess_medsam(xf, q, &im, &o, &err);
    CHECK(st == MEDSAM_OK, "synthetic %dx%dx%d: %s", h, w, c, err.message);
    char name[128], what[128];
    snprintf(what, sizeof what, "synthetic %dx%dx%d -> 1024", h, w, c);
    if (!st) {
        snprintf(name, sizeof name, "synth_%dx%dx%d.rowcrc.npy", h, w, c);
        row_crc_check(what, q, name);
        snprintf(name, sizeof name, "synth_%dx%dx%d.sub16.npy", h, w, c);
        ms_npy sub;
        if (load(name, &sub)) {
            uint8_t *mine = malloc(sub.count);
            long m = 0;
            for (long y = 5; y < 1024; y += 16)
                for (long x = 5; x < 1024; x += 16)
                    for (int k = 0; k < 3; k++) mine[m++] = q[(y * 1024 + x) * 3 + k];
            CHECK(m == sub.count, "subsample size");
            snprintf(what, sizeof what, "synthetic %dx%dx%d, every 16th pixel", h, w, c);
            if (m == sub.count) compare_u8(what, mine, sub.data, m);
            free(mine);
            ms_npy_free(&sub);
        }
    }
    free(xf);
    free(q);
    ms_image_free(&im);
}

static void test_img_demo(void) {
    const char *dir = getenv("SAM_REF_DIR");
    char path[600];
    snprintf(path, sizeof path, "%s/assets/img_demo.png", dir ? dir : "/work/ref/MedSAM");
    ms_image im;
    medsam_error err;
    if (ms_image_read(path, &im, &err)) {
        printf("skip img_demo.png (set SAM_REF_DIR to a MedSAM checkout): %s\n", err.message);
        return;
    }
    long n = 1024L * 1024 * 3;
    float *xf = malloc(n * sizeof(float));
    uint8_t *q = malloc(n);
    CHECK(ms_preprocess_medsam(xf, q, &im, NULL, &err) == MEDSAM_OK, "img_demo: %s", err.message);
    row_crc_check("img_demo.png -> 1024", q, "img_demo.rowcrc.npy");
    free(xf);
    free(q);
    ms_image_free(&im);
}

static void test_float_input(void) {
    enum { T = 16 };
    float data[T * T * 3], out[T * T * 3];
    uint8_t q[T * T * 3];
    for (int i = 0; i < T * T * 3; i++) data[i] = (float)i / (T * T * 3 - 1);
    ms_image im = {.width = T, .height = T, .channels = 3, .bit_depth = 32, .format = MS_IMAGE_NPY, .f32 = data};
    ms_preprocess_opts o = {.target = T};
    medsam_error err;
    CHECK(ms_preprocess_medsam(out, q, &im, &o, &err) == MEDSAM_OK && memcmp(out, data, sizeof data) == 0 &&
              q[T * T * 3 - 1] == 255,
          "preprocessed float input copied unchanged: %s", err.message);
    data[7] = 1.5f;
    CHECK(ms_preprocess_medsam(out, NULL, &im, &o, &err) == MEDSAM_ERR_NUMERIC, "value 1.5 refused");
    data[7] = 0.5f;
    o.target = 32;
    CHECK(ms_preprocess_medsam(out, NULL, &im, &o, &err) == MEDSAM_ERR_SHAPE && strstr(err.message, "(32, 32, 3)"),
          "wrong-size float input refused: %s", err.message);
    float chw[T * T * 3];
    ms_preprocess_hwc_to_chw(chw, data, T, T, 3);
    CHECK(chw[1 * T * T + 5] == data[5 * 3 + 1] && chw[2 * T * T + T * T - 1] == data[(T * T - 1) * 3 + 2],
          "HWC -> CHW");
    printf("ok   preprocessed float input, range and shape checks, HWC -> CHW\n");
}

static void test_postprocess(void) {
    ms_npy lg;
    if (!load("post_logits_40x40.npy", &lg)) return;
    int sizes[4][2] = {{45, 70}, {37, 29}, {40, 40}, {23, 97}};
    for (int s = 0; s < 4; s++) {
        int oh = sizes[s][0], ow = sizes[s][1];
        char name[64], what[96];
        snprintf(name, sizeof name, "post_prob_%dx%d.npy", oh, ow);
        ms_npy ref;
        if (!load(name, &ref)) continue;
        float *p = malloc((size_t)oh * ow * sizeof(float));
        uint8_t *m = malloc((size_t)oh * ow);
        ms_postprocess_prob(lg.data, 40, 40, oh, ow, p);
        ms_postprocess_mask(lg.data, 40, 40, oh, ow, m);
        const float *r = ref.data;
        long exact = 0, mask_bad = 0, fg = 0;
        for (long i = 0; i < (long)oh * ow; i++) {
            exact += p[i] == r[i];
            int want = r[i] > 0.5f;
            fg += want;
            if (m[i] != want && fabsf(r[i] - 0.5f) > 2.4e-7f) mask_bad++;
        }
        snprintf(what, sizeof what, "sigmoid+bilinear 40x40 -> %dx%d", oh, ow);
        t_close(what, p, r, (long)oh * ow, 2.4e-7, 0, 1e-6);
        CHECK(mask_bad == 0, "%s: %ld mask pixels differ", what, mask_bad);
        printf("     %-44s %ld of %d probabilities bit-identical, %ld foreground, %ld mask pixels differ\n", what,
               exact, oh * ow, fg, mask_bad);
        free(p);
        free(m);
        ms_npy_free(&ref);
    }
    ms_npy_free(&lg);
    // a smooth 256x256 field of logits, exact in float32, to 300x500
    float *smooth = malloc(256 * 256 * sizeof(float));
    for (long i = 0; i < 256; i++)
        for (long j = 0; j < 256; j++) smooth[i * 256 + j] = (float)(((i - 128) * (i - 128) + (j - 100) * (j - 100) - 4000) / 512.0);
    uint8_t *m = malloc(300 * 500);
    float *p = malloc(300 * 500 * sizeof(float));
    ms_postprocess_mask(smooth, 256, 256, 300, 500, m);
    ms_postprocess_prob(smooth, 256, 256, 300, 500, p);
    ms_npy bits, sub;
    if (load("post_smooth_mask_300x500.npy", &bits) && load("post_smooth_prob_sub_300x500.npy", &sub)) {
        const uint8_t *b = bits.data;
        long bad = 0;
        for (long i = 0; i < 300 * 500; i++) bad += m[i] != ((b[i / 8] >> (7 - i % 8)) & 1);
        CHECK(bad == 0, "smooth 256 -> 300x500: %ld mask pixels differ", bad);
        float *mine = malloc(sub.count * sizeof(float));
        long k = 0;
        for (long y = 0; y < 300; y += 7)
            for (long x = 0; x < 500; x += 7) mine[k++] = p[y * 500 + x];
        CHECK(k == sub.count, "probability subsample size");
        if (k == sub.count) t_close("sigmoid+bilinear 256 -> 300x500 (1/49)", mine, sub.data, k, 2.4e-7, 0, 1e-6);
        printf("%s mask 256x256 -> 300x500: %ld of 150000 pixels differ\n", bad ? "FAIL" : "ok  ", bad);
        free(mine);
        ms_npy_free(&bits);
        ms_npy_free(&sub);
    }
    free(smooth);
    free(m);
    free(p);
}

int main(void) {
    test_kernels();
    test_resize_case("resize_src2d_23x41.npy", "r2d_o3_50x20.npy", 50, 20, 3, 1);
    test_resize_case("resize_src2d_23x41.npy", "r2d_o3_9x100.npy", 9, 100, 3, 1);
    test_resize_case("resize_src3d_31x17x3.npy", "r3d_o3_13x29.npy", 13, 29, 3, 1);
    test_resize_case("resize_src3d_31x17x3.npy", "r3d_o3_7x5.npy", 7, 5, 3, 1);
    test_resize_case("resize_src3d_31x17x3.npy", "r3d_o1_20x11.npy", 20, 11, 1, 1);
    test_resize_case("resize_src3d_31x17x3.npy", "r3d_o0_20x11.npy", 20, 11, 0, 0);
    test_resize_errors();
    test_pipeline_case("grey8_37x53.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("rgb8_60x45.png", 80, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("rgba8_40x56.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("ga8_30x40.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("pal8_45x30.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("grey16_40x33.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("grey16_40x33.png", 48, MS_U16_RESCALE, "rescale_u8");
    test_pipeline_case("rgb16_20x24.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("grey2_25x19.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("rgb8_adam7_31x29.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("rgb8_75x110.png", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("rgb_64x48.jpg", 48, MS_U16_OFFICIAL, "u8");
    test_pipeline_case("grey_40x36_progressive.jpg", 48, MS_U16_OFFICIAL, "u8");
    test_synthetic(1411, 1411, 0);
    test_synthetic(2048, 1536, 3);
    test_synthetic(300, 500, 0);
    test_synthetic(1500, 900, 3);
    test_img_demo();
    test_float_input();
    test_postprocess();
    return t_summary();
}
