/* test_baseline.c — the classical box baseline (src/pipeline/baseline.c): Otsu's
 * threshold against skimage.filters.threshold_otsu (tests/fixtures/baseline/otsu.txt,
 * tools/ref/make_baseline_otsu.py), and exact masks on drawn scenes: a bright disk, a
 * dark square, a ring whose hole is filled, the larger of two blobs, an object filling a
 * tight box, a flat box. */
#include <stdint.h>

#include "pipeline/baseline.h"
#include "test.h"

enum { W = 64, H = 48 };

static void test_otsu(void) {
    FILE *f = fopen("tests/fixtures/baseline/otsu.txt", "r");
    CHECK(f != NULL, "tests/fixtures/baseline/otsu.txt");
    if (!f) return;
    char line[8192];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        long hist[256] = {0};
        char *p = line, *end;
        int want = (int)strtol(p, &end, 10);
        for (p = end;;) {
            long v = strtol(p, &end, 10);
            if (end == p || *end != ':') break;
            hist[v] = strtol(end + 1, &p, 10);
        }
        int got = ms_otsu_threshold(hist);
        CHECK(got == want, "case %d: otsu %d, skimage %d", cases, got, want);
        cases++;
    }
    fclose(f);
    CHECK(cases == 5, "5 cases, read %d", cases);
    long one[256] = {0};
    one[7] = 100;
    CHECK(ms_otsu_threshold(one) == -1, "one value: no threshold");
}

static int count_diff(const uint8_t *a, const uint8_t *b) {
    int d = 0;
    for (int p = 0; p < W * H; p++) d += a[p] != b[p];
    return d;
}

static void test_scenes(void) {
    static uint8_t img[W * H], mask[W * H], want[W * H];
    medsam_error err;
    /* 1: a bright disk (r 8 at 30,20) on a dark ramp: exactly the disk */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = (x - 30) * (x - 30) + (y - 20) * (y - 20) <= 64;
            img[y * W + x] = in ? 200 : (uint8_t)(20 + x / 4);
            want[y * W + x] = in ? 3 : 0;
        }
    memset(mask, 0, sizeof mask);
    CHECK(!ms_baseline_box(img, W, H, 15, 5, 46, 36, 3, mask, &err), "disk: %s", err.message);
    CHECK(count_diff(mask, want) == 0, "bright disk: %d pixels differ", count_diff(mask, want));
    /* 2: a dark square on bright: the dark side is the object (the border is bright) */
    for (int p = 0; p < W * H; p++) img[p] = 180, want[p] = 0;
    for (int y = 10; y < 25; y++)
        for (int x = 20; x < 40; x++) img[y * W + x] = 30, want[y * W + x] = 1;
    memset(mask, 0, sizeof mask);
    ms_baseline_box(img, W, H, 12, 4, 50, 33, 1, mask, &err);
    CHECK(count_diff(mask, want) == 0, "dark square: %d pixels differ", count_diff(mask, want));
    /* 3: a bright ring (radii 5..10) around a dark hole: the filled disk */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int r2 = (x - 32) * (x - 32) + (y - 24) * (y - 24);
            img[y * W + x] = r2 <= 100 && r2 > 25 ? 220 : 10;
            want[y * W + x] = r2 <= 100;
        }
    memset(mask, 0, sizeof mask);
    ms_baseline_box(img, W, H, 16, 8, 49, 41, 1, mask, &err);
    CHECK(count_diff(mask, want) == 0, "ring filled: %d pixels differ", count_diff(mask, want));
    /* 4: two bright blobs, 6x6 and 9x9: only the larger; outside the box untouched (value 9) */
    for (int p = 0; p < W * H; p++) img[p] = 50, want[p] = 9;
    for (int y = 5; y < 11; y++)
        for (int x = 5; x < 11; x++) img[y * W + x] = 250;
    for (int y = 20; y < 29; y++)
        for (int x = 30; x < 39; x++) img[y * W + x] = 240;
    for (int y = 2; y < 40; y++)
        for (int x = 2; x < 50; x++) want[y * W + x] = 0;
    for (int y = 20; y < 29; y++)
        for (int x = 30; x < 39; x++) want[y * W + x] = 2;
    memset(mask, 9, sizeof mask);
    ms_baseline_box(img, W, H, 2, 2, 50, 40, 2, mask, &err);
    for (int y = 2; y < 40; y++) /* inside the box the baseline writes only its object */
        for (int x = 2; x < 50; x++)
            if (mask[y * W + x] == 9) mask[y * W + x] = 0;
    CHECK(count_diff(mask, want) == 0, "largest of two blobs: %d pixels differ", count_diff(mask, want));
    /* 5: a tight box: a rounded rectangle (30x20, corner radius 6) filling its box, so the object
       holds most of the box's border and only the four corners are background: the rectangle */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = x >= 10 && x < 40 && y >= 10 && y < 30;
            int cx = x < 16 ? 16 : x > 33 ? 33 : x, cy = y < 16 ? 16 : y > 23 ? 23 : y;
            in = in && (x - cx) * (x - cx) + (y - cy) * (y - cy) <= 36;
            img[y * W + x] = in ? 150 : 90;
            want[y * W + x] = in;
        }
    memset(mask, 0, sizeof mask);
    ms_baseline_box(img, W, H, 10, 10, 40, 30, 1, mask, &err);
    CHECK(count_diff(mask, want) == 0, "tight box, object on the border: %d pixels differ", count_diff(mask, want));
    /* 6: a flat box gives nothing; a box outside the image is refused */
    memset(img, 77, sizeof img);
    memset(mask, 0, sizeof mask);
    CHECK(!ms_baseline_box(img, W, H, 0, 0, W, H, 1, mask, &err), "flat box runs");
    int any = 0;
    for (int p = 0; p < W * H; p++) any |= mask[p];
    CHECK(!any, "flat box: empty mask");
    CHECK(ms_baseline_box(img, W, H, 10, 10, W + 1, 20, 1, mask, &err) == MEDSAM_ERR_ARG &&
              strstr(err.message, "outside"),
          "box outside refused: %s", err.message);
}

int main(void) {
    test_otsu();
    test_scenes();
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
