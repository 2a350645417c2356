/* test_resize_stream.c — the banded resize (ms_resize_skimage_rows, and the MedSAM
 * preprocessing that uses it) against the whole-image path (ms_resize_skimage, itself
 * checked against SciPy in test_preprocess.c), bit for bit (memcmp of the float64
 * results): orders 1 and 3, with and without anti-aliasing, 2-D and channel arrays,
 * up- and downsampling, heights on both sides of the ~570-row threshold where the
 * spline recursion becomes banded, one row, and an image of 2400 x 1600. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/preprocess.h"
#include "pipeline/resize.h"
#include "test.h"

typedef struct {
    const double *data;
    long len; /* values per row */
} rows_src;

static void src_row(void *ctx, long y, double *row) {
    const rows_src *r = ctx;
    memcpy(row, r->data + y * r->len, sizeof(double) * r->len);
}

static uint64_t rnd_state = 88172645463325252ULL;
static uint32_t rnd(void) {
    rnd_state ^= rnd_state << 13, rnd_state ^= rnd_state >> 7, rnd_state ^= rnd_state << 17;
    return (uint32_t)(rnd_state >> 11);
}

/* Smooth-ish integer image (blobs + noise), as natural images are, with flat zero areas. */
static void fill(double *a, long h, long w, long cc, int maxv) {
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++)
            for (long k = 0; k < cc; k++) {
                double v = (double)((x * 7 + y * 3 + k * 50) % (maxv + 1));
                if ((x / 37 + y / 23) % 3 == 0) v = 0;
                else v = (double)(((uint32_t)v + rnd() % 9) % (maxv + 1));
                a[(y * w + x) * cc + k] = v;
            }
}

static void compare_case(int h, int w, int c, int oh, int ow, int order, int aa, int threads) {
    long cc = c ? c : 1;
    double *in = malloc(sizeof(double) * h * w * cc);
    double *a = malloc(sizeof(double) * oh * ow * cc), *b = malloc(sizeof(double) * oh * ow * cc);
    fill(in, h, w, cc, 255);
    ms_resize_opts o = {.order = order, .anti_aliasing = aa, .clip = 1, .threads = threads};
    medsam_error e1, e2;
    medsam_status s1 = ms_resize_skimage(a, in, h, w, c, oh, ow, &o, &e1);
    rows_src src = {in, (long)w * cc};
    medsam_status s2 = ms_resize_skimage_rows(b, src_row, &src, h, w, c, oh, ow, &o, &e2);
    int same = s1 == MEDSAM_OK && s2 == MEDSAM_OK && memcmp(a, b, sizeof(double) * oh * ow * cc) == 0;
    long diff = 0;
    if (s1 == MEDSAM_OK && s2 == MEDSAM_OK)
        for (long i = 0; i < (long)oh * ow * cc; i++) diff += memcmp(&a[i], &b[i], sizeof(double)) != 0;
    CHECK(same, "%dx%dx%d -> %dx%d order %d aa %d threads %d: %s / %s, %ld values differ", h, w, c, oh, ow, order, aa,
          threads, s1 ? e1.message : "ok", s2 ? e2.message : "ok", diff);
    printf("%s banded vs whole %5dx%-5dx%d -> %4dx%-4d order %d aa %d threads %d: %s\n", same ? "ok  " : "FAIL", h, w,
           c, oh, ow, order, aa, threads, same ? "bit-identical" : "DIFFERENT");
    free(in), free(a), free(b);
}

static void test_resize_cases(void) {
    compare_case(40, 30, 0, 17, 13, 3, 1, 1);     // small: one band
    compare_case(40, 30, 3, 90, 70, 3, 1, 2);     // upsampling (no Gaussian)
    compare_case(565, 20, 0, 100, 20, 3, 1, 1);   // just under the banded threshold
    compare_case(600, 20, 0, 100, 20, 3, 1, 3);   // banded recursion
    compare_case(1300, 50, 3, 256, 40, 3, 1, 2);  // banded, channels, both axes smoothed
    compare_case(1300, 50, 3, 256, 40, 3, 0, 1);  // no anti-aliasing
    compare_case(1300, 50, 0, 1024, 80, 3, 1, 2); // banded and upsampled
    compare_case(1300, 50, 1, 256, 40, 1, 1, 2);  // order 1: independent bands
    compare_case(701, 33, 0, 700, 33, 3, 1, 1);   // almost the same size
    compare_case(1, 300, 3, 1, 100, 3, 1, 1);     // one row
    compare_case(2000, 1, 0, 300, 1, 3, 1, 2);    // one column
    compare_case(200, 3000, 0, 50, 100, 3, 1, 2);  // wide row Gaussian (radius 58)
    compare_case(100, 300, 3, 20, 5, 3, 1, 1);     // row Gaussian wider than the row (radius 118)
}

/* A grey source (one value a pixel) standing for 3 equal channels, against the whole-image
 * resize of the replicated array. */
static void compare_grey(int h, int w, int oh, int ow, int threads) {
    double *g = malloc(sizeof(double) * h * w), *in = malloc(sizeof(double) * h * w * 3);
    double *a = malloc(sizeof(double) * oh * ow * 3), *b = malloc(sizeof(double) * oh * ow * 3);
    fill(g, h, w, 1, 255);
    for (long i = 0; i < (long)h * w; i++) in[i * 3] = in[i * 3 + 1] = in[i * 3 + 2] = g[i];
    ms_resize_opts o = {.order = 3, .anti_aliasing = 1, .clip = 1, .threads = threads};
    medsam_error e1, e2;
    medsam_status s1 = ms_resize_skimage(a, in, h, w, 3, oh, ow, &o, &e1);
    rows_src src = {g, w};
    o.src_grey = 1;
    medsam_status s2 = ms_resize_skimage_rows(b, src_row, &src, h, w, 3, oh, ow, &o, &e2);
    int same = s1 == MEDSAM_OK && s2 == MEDSAM_OK && memcmp(a, b, sizeof(double) * oh * ow * 3) == 0;
    CHECK(same, "grey %dx%d -> %dx%d: %s / %s", h, w, oh, ow, s1 ? e1.message : "ok", s2 ? e2.message : "ok");
    printf("%s banded grey source vs whole RGB %5dx%-5d -> %4dx%-4d threads %d: %s\n", same ? "ok  " : "FAIL", h, w,
           oh, ow, threads, same ? "bit-identical" : "DIFFERENT");
    free(g), free(in), free(a), free(b);
}

static void test_negative_zero(void) {
    enum { H = 700, W = 4 };
    static double in[H * W], out[70 * W];
    for (int i = 0; i < H * W; i++) in[i] = i % 5;
    for (int i = 0; i < 100 * W; i++) in[i] = -0.0;  // -0 rows at the top stay -0 through the Gaussian
    ms_resize_opts o = {.order = 3, .anti_aliasing = 1, .clip = 1, .threads = 1};
    rows_src src = {in, W};
    medsam_error err;
    medsam_status st = ms_resize_skimage_rows(out, src_row, &src, H, W, 0, 70, W, &o, &err);
    CHECK(st == MEDSAM_ERR_UNSUPPORTED && strstr(err.message, "-0"), "a -0 input is refused: %d %s", st, err.message);
}

/* The MedSAM preprocessing, banded (default) against whole_image, on decoded-image layouts. */
static void preprocess_case(int h, int w, int ch, int bits, ms_u16_policy u16, int target) {
    size_t n = (size_t)h * w * ch;
    ms_image im = {.width = w, .height = h, .channels = ch, .bit_depth = bits, .format = MS_IMAGE_PNG};
    double *tmp = malloc(sizeof(double) * n);
    fill(tmp, h, w, ch, bits == 8 ? 255 : 4000);
    if (bits == 8) {
        im.u8 = malloc(n);
        for (size_t i = 0; i < n; i++) im.u8[i] = (uint8_t)tmp[i];
    } else {
        im.u16 = malloc(n * 2);
        for (size_t i = 0; i < n; i++) im.u16[i] = (uint16_t)(tmp[i] * 16);
    }
    free(tmp);
    size_t m = (size_t)target * target * 3;
    float *fa = malloc(m * 4), *fb = malloc(m * 4);
    uint8_t *qa = malloc(m), *qb = malloc(m);
    ms_preprocess_opts o = {.target = target, .u16 = u16, .threads = 2, .whole_image = 1};
    medsam_error e1, e2;
    medsam_status s1 = ms_preprocess_medsam(fa, qa, &im, &o, &e1);
    o.whole_image = 0;
    medsam_status s2 = ms_preprocess_medsam(fb, qb, &im, &o, &e2);
    int same = s1 == MEDSAM_OK && s2 == MEDSAM_OK && memcmp(fa, fb, m * 4) == 0 && memcmp(qa, qb, m) == 0;
    CHECK(same, "preprocess %dx%dx%d %d-bit: %s / %s", h, w, ch, bits, s1 ? e1.message : "ok", s2 ? e2.message : "ok");
    printf("%s preprocess banded vs whole %5dx%-5dx%d %2d-bit u16 policy %d -> %d: %s\n", same ? "ok  " : "FAIL", h, w,
           ch, bits, (int)u16, target, same ? "identical uint8 and float" : "DIFFERENT");
    ms_image_free(&im);
    free(fa), free(fb), free(qa), free(qb);
}

int main(void) {
    test_resize_cases();
    test_negative_zero();
    compare_grey(300, 200, 64, 64, 1);
    compare_grey(1300, 90, 256, 30, 2);
    compare_grey(700, 500, 1024, 1024, 2);
    preprocess_case(300, 200, 1, 8, MS_U16_OFFICIAL, 256);
    preprocess_case(900, 700, 3, 8, MS_U16_OFFICIAL, 256);
    preprocess_case(800, 650, 4, 8, MS_U16_OFFICIAL, 256);
    preprocess_case(700, 900, 1, 16, MS_U16_OFFICIAL, 256);
    preprocess_case(700, 900, 1, 16, MS_U16_RESCALE, 256);
    preprocess_case(650, 700, 3, 16, MS_U16_OFFICIAL, 256);
    preprocess_case(2400, 1600, 1, 8, MS_U16_OFFICIAL, 1024);  // the large one
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
