/* test_resize_area.c — src/pipeline/resize_area.c against OpenCV 4.6's
 * cv2.resize(..., interpolation=cv2.INTER_AREA), bit for bit: 780 cases of
 * tests/fixtures/lite/resize_area.txt (tools/ref/make_lite_pipeline_fixtures.py),
 * images generated here from the same integer hash, outputs compared by CRC-32, on 1, 2 and 3
 * threads (the exact-area path splits the destination rows; a team of 7 made clang's OpenMP
 * runtime keep allocations that LeakSanitizer reports at exit). */
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "lite_gen.h"
#include "pipeline/resize_area.h"
#include "test.h"

static void test_cases(void) {
    FILE *f = fopen("tests/fixtures/lite/resize_area.txt", "r");
    CHECK(f != NULL, "tests/fixtures/lite/resize_area.txt missing");
    if (!f) return;
    char line[256];
    int n = 0, bad = 0, paths[3] = {0};
    while (fgets(line, sizeof line, f)) {
        int sw, sh, cn, kind, seed, dw, dh;
        unsigned long crc;
        if (line[0] == '#' || sscanf(line, "%d %d %d %d %d %d %d %lu", &sw, &sh, &cn, &kind, &seed, &dw, &dh, &crc) != 8)
            continue;
        uint8_t *in = malloc((size_t)sw * sh * cn), *out = malloc((size_t)dw * dh * cn);
        gen_image(in, sw, sh, cn, kind, seed);
        static const int threads[3] = {1, 2, 3};
        for (int t = 0; t < 3; t++) {
            medsam_error err = {0};
            memset(out, 0xA5, (size_t)dw * dh * cn);
            medsam_status st = ms_resize_area_u8(in, sw, sh, cn, out, dw, dh, threads[t], &err);
            unsigned long got = st ? 0 : crc32(crc32(0L, Z_NULL, 0), out, (uInt)((size_t)dw * dh * cn));
            if (st || got != crc) {
                if (bad++ < 10)
                    printf("FAIL resize %dx%dx%d kind %d seed %d -> %dx%d on %d threads: crc %lu, OpenCV %lu %s\n",
                           sw, sh, cn, kind, seed, dw, dh, threads[t], got, crc, err.message);
            }
        }
        paths[(double)sw / dw < 1 || (double)sh / dh < 1 ? 2 : (sw % dw == 0 && sh % dh == 0) ? 0 : 1]++;
        n++;
        free(in), free(out);
    }
    fclose(f);
    printf("resize INTER_AREA: %d cases x 3 thread counts (%d integer-factor, %d fractional, %d upscaling), %d differ\n", n, paths[0],
           paths[1], paths[2], bad);
    CHECK(n >= 700 && bad == 0, "%d of %d cases differ from OpenCV", bad, n);
}

static void test_longest_side(void) {
    int w, h;
    ms_resize_longest_side_size(512, 384, 256, &w, &h);
    CHECK(w == 256 && h == 192, "512x384 -> %dx%d", w, h);
    ms_resize_longest_side_size(90, 70, 256, &w, &h); // 70 * 256/90 = 199.1 -> 199
    CHECK(w == 256 && h == 199, "90x70 -> %dx%d", w, h);
    ms_resize_longest_side_size(301, 512, 256, &w, &h); // 150.5 + 0.5 -> 151
    CHECK(w == 151 && h == 256, "301x512 -> %dx%d", w, h);
    ms_resize_longest_side_size(200, 1, 256, &w, &h);
    CHECK(w == 256 && h == 1, "200x1 -> %dx%d", w, h);
}

static void test_bad_args(void) {
    uint8_t px[4] = {0};
    medsam_error err = {0};
    CHECK(ms_resize_area_u8(px, 2, 2, 5, px, 1, 1, 1, &err) == MEDSAM_ERR_ARG, "5 channels accepted");
    CHECK(ms_resize_area_u8(px, 2, 2, 1, px, 0, 1, 1, &err) == MEDSAM_ERR_ARG, "zero width accepted");
}

int main(void) {
    test_cases();
    test_longest_side();
    test_bad_args();
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
