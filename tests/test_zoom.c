/* test_zoom.c — box zoom (pipeline/zoom.h, api/zoom.c): the window rule, medsam_segment_pixels
 * against the steps done by hand (plain pipeline without zoom, crop + encode + decode + paste
 * with it), several boxes mixing both, and the model file's "medsam.box_zoom" metadata. */
#include "medsam.h"
#include "pipeline/zoom.h"
#include "test.h"
#include "weights/safetensors.h"
#include "weights/tensor_source.h"

static void test_window(void) {
    ms_zoom_window w;
    const float small[4] = {100, 50, 110, 58}; /* 10 x 8 */
    CHECK(ms_box_zoom_window(small, 400, 300, 3, &w) == 1, "small box zooms");
    CHECK(w.w == 32 && w.h == 32 && w.x0 == 105 - 16 && w.y0 == 54 - 16, "min side 32 centred: %d,%d %dx%d", w.x0,
          w.y0, w.w, w.h);
    const float mid[4] = {100, 50, 140, 70}; /* 40 x 20: side 120 */
    CHECK(ms_box_zoom_window(mid, 400, 300, 3, &w) == 1 && w.w == 120 && w.h == 120 && w.x0 == 60 && w.y0 == 0,
          "side 3 x 40, moved inside the top edge: %d,%d %dx%d", w.x0, w.y0, w.w, w.h);
    const float corner[4] = {380, 280, 400, 300};
    CHECK(ms_box_zoom_window(corner, 400, 300, 3, &w) == 1 && w.x0 == 340 && w.y0 == 240 && w.w == 60,
          "bottom-right corner: %d,%d %dx%d", w.x0, w.y0, w.w, w.h);
    CHECK(w.x0 <= 380 && w.x0 + w.w >= 400 && w.y0 <= 280 && w.y0 + w.h >= 300, "the box lies in its window");
    const float big[4] = {0, 0, 150, 20}; /* 3 x 150 > 300 */
    CHECK(ms_box_zoom_window(big, 400, 300, 3, &w) == 0 && w.x0 == 0 && w.y0 == 0 && w.w == 400 && w.h == 300,
          "a large box: the whole image");
    CHECK(ms_box_zoom_window(small, 400, 300, 0, &w) == 0 && w.w == 400, "factor 0: off");
    CHECK(ms_box_zoom_window(small, 30, 300, 3, &w) == 0, "image narrower than the minimum window: no zoom");
    const float nan[4] = {NAN, 0, 1, 1};
    CHECK(ms_box_zoom_window(nan, 400, 300, 3, &w) == 0 && w.w == 400 && w.h == 300, "NaN box: no zoom");
    const float huge[4] = {0, 0, 3e38f, 1};
    CHECK(ms_box_zoom_window(huge, 400, 300, 3, &w) == 0, "huge box: no zoom (no overflow)");
}

enum { W = 200, H = 160 };

/* The plain pipeline by hand: preprocess, encode, decode. */
static int plain(const medsam_model *m, const uint8_t *px, int w, int h, const medsam_box *b, int n, uint8_t *mask) {
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    float *x = malloc((size_t)info.img_size * info.img_size * 3 * sizeof *x);
    medsam_embedding *emb = NULL;
    medsam_error err;
    int st = medsam_model_preprocess(m, px, w, h, 1, 8, 2, x, &err) || medsam_encode(m, x, 2, &emb, &err) ||
             medsam_decode_boxes(m, emb, w, h, b, n, 2, NULL, NULL, mask, &err);
    free(x);
    medsam_embedding_free(emb);
    return st;
}

static void test_segment(void) {
    medsam_model *m = NULL;
    medsam_error err;
    if (medsam_model_load("tests/fixtures/tiny/model.pth", &m, &err)) {
        CHECK(0, "tiny model: %s", err.message);
        return;
    }
    CHECK(medsam_model_get_box_zoom(m) == 0, ".pth: no box zoom");
    static uint8_t px[H * W], got[H * W], want[H * W], one[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = (x - 70) * (x - 70) + (y - 60) * (y - 60) < 64;
            px[y * W + x] = (uint8_t)(in ? 200 : 40 + (x * 7 + y * 13) % 50);
        }
    const medsam_box boxes[2] = {{10, 10, 190, 150}, {62, 52, 78, 68}}; /* large, then small (16 px) */
    int enc = -1;
    /* off: exactly the plain pipeline, one encode */
    CHECK(!medsam_segment_pixels(m, px, W, H, 1, 8, boxes, 2, 2, got, &enc, &err), "off: %s", err.message);
    CHECK(!plain(m, px, W, H, boxes, 2, want), "plain pipeline");
    CHECK(!memcmp(got, want, sizeof got) && enc == 1, "off: the plain pipeline's labels, 1 encode (%d)", enc);
    /* on: the small box on its own window, the large one on the whole image */
    CHECK(!medsam_model_set_box_zoom(m, 3, &err) && medsam_model_get_box_zoom(m) == 3, "set 3");
    CHECK(medsam_model_set_box_zoom(m, -1, &err) == MEDSAM_ERR_ARG && medsam_model_get_box_zoom(m) == 3, "-1 refused");
    CHECK(!medsam_segment_pixels(m, px, W, H, 1, 8, boxes + 1, 1, 2, got, &enc, &err), "zoomed: %s", err.message);
    ms_zoom_window w;
    const float fb[4] = {62, 52, 78, 68};
    CHECK(ms_box_zoom_window(fb, W, H, 3, &w) == 1 && w.w == 48, "window 48");
    uint8_t *crop = malloc((size_t)w.w * w.h);
    ms_zoom_crop(px, W, 1, 1, &w, crop);
    const medsam_box shifted = {62.f - w.x0, 52.f - w.y0, 78.f - w.x0, 68.f - w.y0};
    CHECK(!plain(m, crop, w.w, w.h, &shifted, 1, one), "window by hand");
    memset(want, 0, sizeof want);
    for (int y = 0; y < w.h; y++)
        for (int x = 0; x < w.w; x++) want[(y + w.y0) * W + x + w.x0] = one[y * w.w + x] ? 1 : 0;
    CHECK(!memcmp(got, want, sizeof got) && enc == 1, "zoomed: crop + encode + decode + paste (%d encodes)", enc);
    /* both: box 1 on the whole image, box 2 (label 2) over it on its window, 2 encodes */
    CHECK(!medsam_segment_pixels(m, px, W, H, 1, 8, boxes, 2, 2, got, &enc, &err) && enc == 2, "mixed: %d encodes", enc);
    CHECK(!plain(m, px, W, H, boxes, 1, one), "box 1 alone");
    for (int i = 0; i < W * H; i++) want[i] = want[i] ? 2 : one[i];
    CHECK(!memcmp(got, want, sizeof got), "mixed: labels composed in box order");
    /* bad boxes are refused before anything runs */
    const medsam_box out = {190, 150, 210, 170};
    CHECK(medsam_segment_pixels(m, px, W, H, 1, 8, &out, 1, 2, got, &enc, &err) == MEDSAM_ERR_ARG && enc == 0 &&
              strstr(err.message, "box 1"),
          "box outside: %s", err.message);
    free(crop);
    medsam_model_free(m);
}

/* The tiny model re-written as safetensors with a metadata pair. */
static int write_with_meta(const char *path, const char *value) {
    ms_tensor_source *s = NULL;
    medsam_error err;
    if (ms_source_open("tests/fixtures/tiny/model.pth", &s, &err)) return 1;
    int n = ms_source_count(s), rc = 0;
    st_out_tensor *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n && !rc; i++) {
        const ms_source_tensor *a = ms_source_at(s, i);
        float *d = malloc((size_t)(a->numel ? a->numel : 1) * sizeof *d);
        t[i].name = a->name, t[i].ndim = a->ndim, t[i].data = d;
        memcpy(t[i].shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
        rc = ms_source_read_f32(s, a, d, &err);
    }
    const char *meta[] = {MS_BOX_ZOOM_METADATA, value};
    if (!rc) rc = st_write(path, t, n, meta, 1, 0, &err);
    for (int i = 0; i < n; i++) free((float *)t[i].data);
    free(t);
    ms_source_close(s);
    return rc;
}

static void test_metadata(void) {
    char dir[] = "/tmp/medsam_zoom_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    medsam_model *m = NULL;
    medsam_error err;
    CHECK(!write_with_meta(path, "2.5") && !medsam_model_load(path, &m, &err) && medsam_model_get_box_zoom(m) == 2.5,
          "metadata 2.5 read");
    medsam_model_free(m);
    const char *bad[] = {"abc", "0", "-3", "1e9", "3x", ""};
    for (int i = 0; i < 6; i++) {
        m = NULL;
        CHECK(!write_with_meta(path, bad[i]) && medsam_model_load(path, &m, &err) == MEDSAM_ERR_FORMAT && !m &&
                  strstr(err.message, MS_BOX_ZOOM_METADATA) && strstr(err.message, path),
              "metadata '%s' refused: %s", bad[i], err.message);
    }
    remove(path);
    rmdir(dir);
}

int main(void) {
    test_window();
    test_segment();
    test_metadata();
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
