/* test_image.c — PNG/JPEG/.npy reading against what skimage.io.imread returns for the
 * same files (tools/ref/make_preprocess_fixtures.py), corrupt and oversized inputs,
 * and PNG writing round trips. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/npy.h"
#include "io/image.h"
#include "test.h"

#define FIX "tests/fixtures/preprocess/"

/* What imread would return at (y, x, k), from our decoded samples:
 * grey+alpha becomes RGBA in Pillow, 16-bit colour becomes 8-bit (high byte). */
static long imread_view(const ms_image *im, int y, int x, int k) {
    int ch = im->channels;
    size_t base = ((size_t)y * im->width + x) * ch;
    int src = k;
    if (ch == 2) src = k < 3 ? 0 : 1;  // (grey, grey, grey, alpha)
    long v = im->bit_depth == 8 ? im->u8[base + src] : im->u16[base + src];
    if (im->bit_depth == 16 && ch != 1) v >>= 8;
    return v;
}

static void check_decoded(const char *file, const char *stem, int want_channels, int want_depth) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s", file);
    ms_image im;
    medsam_error err;
    medsam_status st = ms_image_read(path, &im, &err);
    CHECK(st == MEDSAM_OK, "%s: %s", file, err.message);
    if (st) return;
    CHECK(im.channels == want_channels && im.bit_depth == want_depth, "%s: got %d channels at %d bits", file,
          im.channels, im.bit_depth);
    snprintf(path, sizeof path, FIX "%s.decoded.npy", stem);
    ms_npy ref;
    st = ms_npy_read(path, &ref, &err);
    CHECK(st == MEDSAM_OK, "%s: %s", path, err.message);
    if (st) {
        ms_image_free(&im);
        return;
    }
    int rc = ref.ndim == 3 ? (int)ref.shape[2] : 1;
    CHECK(ref.shape[0] == im.height && ref.shape[1] == im.width, "%s: size %dx%d vs %lldx%lld", file, im.width,
          im.height, (long long)ref.shape[1], (long long)ref.shape[0]);
    long bad = 0, n = 0;
    if (ref.shape[0] == im.height && ref.shape[1] == im.width) {
        for (int y = 0; y < im.height; y++)
            for (int x = 0; x < im.width; x++)
                for (int k = 0; k < rc; k++) {
                    size_t i = ((size_t)y * im.width + x) * rc + k;
                    long want = ref.dtype == MS_NPY_U16 ? ((uint16_t *)ref.data)[i] : ((uint8_t *)ref.data)[i];
                    long got = imread_view(&im, y, x, k);
                    bad += want != got;
                    n++;
                }
    }
    CHECK(bad == 0, "%s: %ld of %ld samples differ from imread", file, bad, n);
    printf("%s %-34s %dx%dx%d %2d-bit: %ld samples equal to imread\n", bad ? "FAIL" : "ok  ", file, im.width,
           im.height, im.channels, im.bit_depth, n - bad);
    ms_npy_free(&ref);
    ms_image_free(&im);
}

/* Every truncation and a sweep of byte corruptions must return (OK or an error naming
 * the file), never crash; truncations inside the pixel data must be errors. */
static void check_corrupt(const char *file) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s", file);
    size_t len = 0;
    uint8_t *buf = t_slurp(path, &len);
    CHECK(buf != NULL, "%s: cannot read fixture", file);
    if (!buf) return;
    uint8_t *copy = malloc(len);
    int trunc_ok = 1, named = 1, corrupt_runs = 0;
    size_t cuts[] = {0, 1, 5, 9, 20, 33, len / 3, len / 2, 2 * len / 3};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        ms_image im;
        medsam_error err = {0};
        medsam_status st = ms_image_decode(buf, cuts[c], file, NULL, &im, &err);
        if (st == MEDSAM_OK) {
            trunc_ok = 0;
            ms_image_free(&im);
        } else if (strncmp(err.message, file, strlen(file)) != 0 || strchr(err.message, '\n')) {
            named = 0;
        }
    }
    CHECK(trunc_ok, "%s: a truncated file decoded without error", file);
    CHECK(named, "%s: an error message does not start with the file name or spans lines", file);
    for (size_t pos = 8; pos < len; pos += 1 + len / 97) {
        for (int flip = 0; flip < 3; flip++) {
            memcpy(copy, buf, len);
            copy[pos] ^= (uint8_t)(flip == 0 ? 0xFF : flip == 1 ? 0x01 : 0x80);
            ms_image im;
            medsam_error err;
            if (ms_image_decode(copy, len, file, NULL, &im, &err) == MEDSAM_OK) ms_image_free(&im);
            corrupt_runs++;
        }
    }
    printf("ok   %-34s %zu truncations refused, %d corrupted copies survived\n", file,
           sizeof cuts / sizeof cuts[0], corrupt_runs);
    free(copy);
    free(buf);
}

static void check_limits(void) {
    // a valid IHDR claiming 70000 x 10 pixels
    uint8_t png[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                       0, 1, 0x11, 0x70, 0, 0, 0, 10, 8, 0, 0, 0, 0};
    ms_image im;
    medsam_error err;
    medsam_status st = ms_image_decode(png, 33, "wide.png", NULL, &im, &err);
    CHECK(st == MEDSAM_ERR_NOMEM && strstr(err.message, "wide.png") && strstr(err.message, "70000x10"),
          "70000-pixel-wide PNG: %d %s", st, err.message);
    // 40000 x 40000 is within the side limit but over 2^30 pixels
    png[16] = 0, png[17] = 0, png[18] = 0x9c, png[19] = 0x40, png[20] = 0, png[21] = 0, png[22] = 0x9c, png[23] = 0x40;
    st = ms_image_decode(png, 33, "big.png", NULL, &im, &err);
    CHECK(st == MEDSAM_ERR_NOMEM && strstr(err.message, "over the size limit"), "40000^2 PNG: %d %s", st, err.message);
    // caller limits apply to JPEG too
    size_t len;
    uint8_t *jpg = t_slurp(FIX "rgb_64x48.jpg", &len);
    ms_image_limits lim = {.max_side = 32, .max_pixels = 0};
    st = jpg ? ms_image_decode(jpg, len, "small-limit.jpg", &lim, &im, &err) : MEDSAM_ERR_IO;
    CHECK(st == MEDSAM_ERR_NOMEM && strstr(err.message, "64x48"), "JPEG over a 32-pixel limit: %d %s", st,
          err.message);
    free(jpg);
    st = ms_image_decode((const uint8_t *)"hello world", 11, "text.png", NULL, &im, &err);
    CHECK(st == MEDSAM_ERR_FORMAT && strstr(err.message, "text.png: not a PNG"), "unknown signature: %s",
          err.message);
    st = ms_image_read("tests/fixtures/preprocess/does-not-exist.png", &im, &err);
    CHECK(st == MEDSAM_ERR_IO && strstr(err.message, "does-not-exist.png"), "missing file: %s", err.message);
    printf("ok   size limits, unknown signature, missing file\n");
}

static void check_npy_and_write(void) {
    char dir[] = "/tmp/ms_test_image_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[600];
    medsam_error err;
    // grey and RGB PNG round trips
    enum { W = 37, H = 23 };
    uint8_t grey[H * W], rgb[H * W * 3];
    for (int i = 0; i < H * W; i++) grey[i] = (uint8_t)(i * 7 + (i / W) * 3);
    for (int i = 0; i < H * W * 3; i++) rgb[i] = (uint8_t)(i * 11 + 5);
    snprintf(path, sizeof path, "%s/grey.png", dir);
    CHECK(ms_png_write_gray8(path, grey, W, H, &err) == MEDSAM_OK, "write grey: %s", err.message);
    ms_image im;
    CHECK(ms_image_read(path, &im, &err) == MEDSAM_OK && im.width == W && im.height == H && im.channels == 1 &&
              im.bit_depth == 8 && memcmp(im.u8, grey, sizeof grey) == 0,
          "grey PNG round trip");
    ms_image_free(&im);
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    CHECK(ms_png_write_rgb8(path, rgb, W, H, &err) == MEDSAM_OK, "write rgb: %s", err.message);
    CHECK(ms_image_read(path, &im, &err) == MEDSAM_OK && im.channels == 3 && memcmp(im.u8, rgb, sizeof rgb) == 0,
          "RGB PNG round trip");
    ms_image_free(&im);
    snprintf(path, sizeof path, "%s/no-such-dir/x.png", dir);
    CHECK(ms_png_write_gray8(path, grey, W, H, &err) == MEDSAM_ERR_IO && strstr(err.message, "x.png"),
          "write into a missing directory: %s", err.message);
    CHECK(ms_png_write_gray8(path, grey, 0, H, &err) == MEDSAM_ERR_ARG, "zero-width PNG refused");
    // .npy: uint8 (H, W, 3) is an image, float (H, W, 3) is kept as float
    int64_t shape[3] = {H, W, 3};
    snprintf(path, sizeof path, "%s/img.npy", dir);
    CHECK(ms_npy_write(path, MS_NPY_U8, 3, shape, rgb, &err) == MEDSAM_OK, "npy write: %s", err.message);
    CHECK(ms_image_read(path, &im, &err) == MEDSAM_OK && im.format == MS_IMAGE_NPY && im.bit_depth == 8 &&
              im.channels == 3 && im.width == W && memcmp(im.u8, rgb, sizeof rgb) == 0,
          "uint8 .npy image");
    ms_image_free(&im);
    float f[H * W * 3];
    for (int i = 0; i < H * W * 3; i++) f[i] = (float)i / (H * W * 3);
    snprintf(path, sizeof path, "%s/float.npy", dir);
    CHECK(ms_npy_write(path, MS_NPY_F32, 3, shape, f, &err) == MEDSAM_OK, "npy write: %s", err.message);
    CHECK(ms_image_read(path, &im, &err) == MEDSAM_OK && im.bit_depth == 32 && im.f32 &&
              memcmp(im.f32, f, sizeof f) == 0,
          "float .npy image");
    ms_image_free(&im);
    int64_t bad_shape[3] = {H, W * 3, 1};
    CHECK(ms_npy_write(path, MS_NPY_F32, 2, bad_shape, f, &err) == MEDSAM_OK, "npy write");
    CHECK(ms_image_read(path, &im, &err) == MEDSAM_OK && im.channels == 1, "2-D float .npy");
    ms_image_free(&im);
    int64_t five[3] = {H, W / 5, 5};
    CHECK(ms_npy_write(path, MS_NPY_U8, 3, five, rgb, &err) == MEDSAM_OK, "npy write");
    CHECK(ms_image_read(path, &im, &err) == MEDSAM_ERR_SHAPE && strstr(err.message, "float.npy"),
          "5-channel .npy refused: %s", err.message);
    // no temp files are left next to the outputs
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp > /dev/null", dir);
    CHECK(system(cmd) != 0, "temporary files left in %s", dir);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    printf("ok   PNG write round trips, .npy images, atomic writes\n");
}

int main(void) {
    check_decoded("grey8_37x53.png", "grey8_37x53", 1, 8);
    check_decoded("rgba8_40x56.png", "rgba8_40x56", 4, 8);
    check_decoded("ga8_30x40.png", "ga8_30x40", 2, 8);
    check_decoded("pal8_45x30.png", "pal8_45x30", 4, 8);  // palette + tRNS -> RGBA
    check_decoded("grey16_40x33.png", "grey16_40x33", 1, 16);
    check_decoded("rgb16_20x24.png", "rgb16_20x24", 3, 16);
    check_decoded("grey2_25x19.png", "grey2_25x19", 1, 8);
    check_decoded("rgb8_adam7_31x29.png", "rgb8_adam7_31x29", 3, 8);
    check_decoded("rgb_64x48.jpg", "rgb_64x48", 3, 8);
    check_decoded("grey_40x36_progressive.jpg", "grey_40x36_progressive", 1, 8);
    check_corrupt("rgb8_adam7_31x29.png");
    check_corrupt("grey16_40x33.png");
    check_corrupt("rgb_64x48.jpg");
    check_corrupt("grey_40x36_progressive.jpg");
    check_limits();
    check_npy_and_write();
    return t_summary();
}
