/* test_bmp.c — BMP decoding against what skimage.io.imread returns for the same
 * files (tools/ref/make_bmp_fixtures.py), plus malformed files. */
#include <stdint.h>

#include "core/npy.h"
#include "io/image.h"
#include "test.h"

#define FIX "tests/fixtures/bmp/"

static void check_file(const char *name) {
    char path[256];
    medsam_error err;
    ms_image img;
    ms_npy ref;
    snprintf(path, sizeof path, FIX "%s.bmp", name);
    medsam_status st = ms_image_read(path, &img, &err);
    CHECK(st == MEDSAM_OK, "%s: %s", name, err.message);
    snprintf(path, sizeof path, FIX "%s.expected.npy", name);
    medsam_status rs = ms_npy_read(path, &ref, &err);
    CHECK(rs == MEDSAM_OK, "%s", err.message);
    if (st || rs) return;
    int rc = ref.ndim == 3 ? (int)ref.shape[2] : 1;
    int same_size = ref.shape[0] == img.height && ref.shape[1] == img.width;
    /* imread gives RGBA for palette images (alpha 255); the pipeline drops alpha, so colour channels are compared */
    int cmp = rc < img.channels ? rc : img.channels;
    CHECK(same_size && (rc == img.channels || (rc == 4 && img.channels == 3) || (rc == 3 && img.channels == 4)),
          "%s: %dx%dx%d, imread %lldx%lldx%d", name, img.width, img.height, img.channels, (long long)ref.shape[1],
          (long long)ref.shape[0], rc);
    long diff = 0;
    if (same_size)
        for (long p = 0; p < (long)img.width * img.height; p++)
            for (int c = 0; c < cmp; c++) diff += img.u8[p * img.channels + c] != ((uint8_t *)ref.data)[p * rc + c];
    CHECK(diff == 0, "%s: %ld samples differ from skimage.io.imread", name, diff);
    printf("%s %-20s %dx%d, %d channel(s), %ld samples differ from imread\n", diff ? "FAIL" : "ok  ", name, img.width,
           img.height, img.channels, diff);
    ms_image_free(&img);
    ms_npy_free(&ref);
}

static void expect_fail(const char *what, const uint8_t *buf, size_t len, medsam_status code) {
    medsam_error err;
    ms_image img;
    medsam_status st = ms_image_decode(buf, len, what, NULL, &img, &err);
    CHECK(st == code, "%s: status %s, expected %s (%s)", what, medsam_status_name(st), medsam_status_name(code),
          st ? err.message : "");
    if (st) printf("ok   %-20s %s\n", what, err.message);
    else ms_image_free(&img);
}

int main(void) {
    const char *names[] = {"rgb24_odd", "grey8", "palette8", "bw1", "rgba32", "rgb555_topdown", "rgb565"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) check_file(names[i]);

    FILE *fp = fopen(FIX "rgb24_odd.bmp", "rb");
    uint8_t buf[4096];
    size_t len = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    CHECK(len > 100, "read rgb24_odd.bmp");
    for (size_t cut = 0; cut < len; cut += 37) expect_fail("truncated", buf, cut, MEDSAM_ERR_FORMAT);
    uint8_t bad[4096];
    memcpy(bad, buf, len);
    bad[30] = 1; /* BI_RLE8 */
    expect_fail("RLE8", bad, len, MEDSAM_ERR_UNSUPPORTED);
    memcpy(bad, buf, len);
    bad[18] = 0xff, bad[19] = 0xff, bad[20] = 0xff, bad[21] = 0x7f; /* width 2^31-1 */
    expect_fail("absurd width", bad, len, MEDSAM_ERR_FORMAT);
    memcpy(bad, buf, len);
    bad[28] = 7; /* 7 bits per pixel */
    expect_fail("7 bpp", bad, len, MEDSAM_ERR_UNSUPPORTED);
    memcpy(bad, buf, len);
    bad[10] = 0xf0, bad[11] = 0xff; /* pixel data offset past the end */
    expect_fail("offset past end", bad, len, MEDSAM_ERR_FORMAT);
    return t_summary();
}
