/* test_lite_pipeline.c — the lite pipeline's steps (src/pipeline/pipeline_lite.c,
 * postprocess_lite.c) one by one against CVPR24_LiteMedSAM_infer.py's own functions
 * on generated inputs (tests/fixtures/lite/steps.txt, tools/ref/make_lite_pipeline_fixtures.py),
 * bit for bit: the encoder input (resize_longest_side + min-max + pad_image), boxes
 * (resize_box_to_256), logits -> F.interpolate of the crop (both torch kernels),
 * sigmoid and mask, and the 3-D box rule (resize + pad + get_bbox256). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <zlib.h>

#include "lite_gen.h"
#include "pipeline/pipeline.h"
#include "pipeline/postprocess_lite.h"
#include "test.h"

static unsigned long crc(const void *p, size_t n) { return crc32(crc32(0L, Z_NULL, 0), p, (uInt)n); }

static const ms_config *lite_config(void) {
    static ms_config c; // only img_size and grid matter to the pipeline
    c.img_size = 256, c.grid = 64;
    return &c;
}

static void check_pre(const char *line) {
    int w, h, cn, kind, seed;
    unsigned long want;
    if (sscanf(line, "pre %d %d %d %d %d %lu", &w, &h, &cn, &kind, &seed, &want) != 6) return;
    uint8_t *img = malloc((size_t)w * h * cn);
    float *x = malloc((size_t)256 * 256 * 3 * sizeof(float));
    gen_image(img, w, h, cn, kind, seed);
    ms_image im = {.width = w, .height = h, .channels = cn, .bit_depth = 8, .u8 = img};
    medsam_error err = {0};
    medsam_status st = ms_pipeline_lite.preprocess(lite_config(), &im, 1, x, &err);
    const unsigned long got = st ? 0 : crc(x, (size_t)256 * 256 * 3 * sizeof(float));
    CHECK(got == want, "encoder input of %dx%dx%d kind %d: crc %lu, official %lu %s", w, h, cn, kind, got, want,
          err.message);
    free(img), free(x);
}

static void check_box(const char *line) {
    int w, h, b[4], want[4];
    if (sscanf(line, "box %d %d %d %d %d %d %d %d %d %d", &w, &h, &b[0], &b[1], &b[2], &b[3], &want[0], &want[1],
               &want[2], &want[3]) != 10)
        return;
    ms_pipe_geom g;
    ms_pipeline_lite.geometry(lite_config(), w, h, &g);
    float out[4];
    ms_pipeline_lite.box_to_input(&g, &(medsam_box){(float)b[0], (float)b[1], (float)b[2], (float)b[3]}, out);
    CHECK(out[0] == want[0] && out[1] == want[1] && out[2] == want[2] && out[3] == want[3],
          "box %d,%d,%d,%d in %dx%d -> %g,%g,%g,%g, official %d,%d,%d,%d", b[0], b[1], b[2], b[3], w, h, out[0], out[1],
          out[2], out[3], want[0], want[1], want[2], want[3]);
}

static void check_post(const char *line) {
    int w, h, seed;
    unsigned long want[3];
    if (sscanf(line, "post %d %d %d %lu %lu %lu", &w, &h, &seed, &want[0], &want[1], &want[2]) != 6) return;
    ms_pipe_geom g;
    ms_pipeline_lite.geometry(lite_config(), w, h, &g);
    const size_t n = (size_t)w * h;
    float *low = malloc((size_t)256 * 256 * sizeof(float)), *up = malloc(n * sizeof(float)),
          *prob = malloc(n * sizeof(float));
    uint8_t *mask = calloc(n, 1);
    gen_logits(low, 256, seed);
    ms_lite_upsample_rows(low, 256, g.new_h, g.new_w, h, w, 0, h, up);
    ms_pipeline_lite.prob(&g, low, 256, prob);
    ms_pipeline_lite.label_rows(&g, low, 256, 0, h / 3, 1, mask); // two row bands, as threads split them
    ms_pipeline_lite.label_rows(&g, low, 256, h / 3, h, 1, mask);
    // the probabilities torch computes with its vectorised sigmoid (the last n % 32 take libm's expf there)
    const unsigned long got[3] = {crc(up, n * sizeof(float)), crc(prob, (n - n % 32) * sizeof(float)), crc(mask, n)};
    CHECK(got[0] == want[0], "%dx%d (crop %dx%d, %s kernel): F.interpolate differs", w, h, g.new_w, g.new_h,
          g.new_w < 256 ? "generic" : "channels-last");
    CHECK(got[1] == want[1], "%dx%d: torch.sigmoid differs", w, h);
    CHECK(got[2] == want[2], "%dx%d: mask differs", w, h);
    free(low), free(up), free(prob), free(mask);
}

static void check_bbox(const char *line) {
    int w, h, label, want[4];
    char none[8] = "";
    int k = sscanf(line, "bbox %d %d %d %d %d %d %d", &w, &h, &label, &want[0], &want[1], &want[2], &want[3]);
    if (k != 7 && !(k == 3 && sscanf(line, "bbox %*d %*d %*d %7s", none) == 1)) return;
    uint8_t *m = malloc((size_t)w * h);
    gen_image(m, w, h, 1, 3, label);
    ms_pipe_geom g;
    ms_pipeline_lite.geometry(lite_config(), w, h, &g);
    float out[4];
    const int found = ms_pipeline_lite.box3d_next(&g, m, label, 0, out);
    if (k == 3)
        CHECK(!found, "bbox %dx%d label %d: found a box where the official rule falls back", w, h, label);
    else
        CHECK(found && out[0] == want[0] && out[1] == want[1] && out[2] == want[2] && out[3] == want[3],
              "bbox of a %dx%d mask, label %d: %d %g,%g,%g,%g, official %d,%d,%d,%d", w, h, label, found, out[0],
              out[1], out[2], out[3], want[0], want[1], want[2], want[3]);
    free(m);
}

/* label_rows takes the sigmoid only where it can differ from logit > 0 (postprocess_lite.c:
 * lite_above_half): the same labels as thresholding every interpolated probability, on
 * logits full of values at and around its bounds (0, -0, 1e-4, subnormals, +-inf, NaN,
 * FLT_MAX), both torch kernels, several output sizes. */
static void check_label_shortcut(void) {
    static const float special[] = {0.0f, -0.0f, 1e-3f, 1.0001e-3f, 9.999e-4f, 1e-4f, -1e-4f, 1.4e-45f, -1.4e-45f,
                                    INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, 2e-4f, 5e-5f};
    static const int sizes[][2] = {{1411, 1411}, {300, 200}, {256, 256}, {77, 500}, {1000, 37}, {256, 100}};
    float *low = malloc((size_t)256 * 256 * sizeof(float));
    int bad = 0, cases = 0;
    for (int seed = 0; seed < 4; seed++) {
        uint32_t r = 2463534242u + (uint32_t)seed;
        for (int i = 0; i < 256 * 256; i++) {
            r ^= r << 13, r ^= r >> 17, r ^= r << 5;
            const int y = i / 256, x = i % 256;
            // smooth field crossing zero often, scaled so that many taps sit near the bounds
            float v = (float)(sin(x * 0.11 + seed) * cos(y * 0.07) * (seed % 2 ? 3e-3 : 4.0));
            if (r % 7 == 0) v = special[(r >> 8) % (sizeof special / sizeof special[0])];
            low[i] = v;
        }
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            const int w = sizes[k][0], h = sizes[k][1];
            ms_pipe_geom g;
            ms_pipeline_lite.geometry(lite_config(), w, h, &g);
            const size_t n = (size_t)w * h;
            float *prob = malloc(n * sizeof(float));
            uint8_t *mask = calloc(n, 1);
            ms_pipeline_lite.prob(&g, low, 256, prob);
            ms_pipeline_lite.label_rows(&g, low, 256, 0, h, 3, mask);
            for (size_t p = 0; p < n; p++)
                if ((mask[p] == 3) != (prob[p] > 0.5f)) {
                    if (bad++ < 5) printf("FAIL label rows seed %d %dx%d pixel %zu: %d vs prob %.9g\n", seed, w, h,
                                          p, mask[p], (double)prob[p]);
                }
            cases++;
            free(prob), free(mask);
        }
    }
    free(low);
    CHECK(bad == 0, "label_rows: %d pixels differ from thresholding the probabilities (%d cases)", bad, cases);
}

int main(void) {
    check_label_shortcut();
    FILE *f = fopen("tests/fixtures/lite/steps.txt", "r");
    CHECK(f != NULL, "tests/fixtures/lite/steps.txt missing");
    char line[256];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        const int before = t_passed + t_failed;
        check_pre(line), check_box(line), check_post(line), check_bbox(line);
        n += t_passed + t_failed > before;
    }
    if (f) fclose(f);
    printf("lite steps: %d official cases checked\n", n);
    CHECK(n == 40, "%d cases read, expected 40", n);
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
