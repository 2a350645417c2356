/* test_pipeline.c — end to end through the public API on real images with the
 * tiny fixture model, against the official MedSAM_Inference.py pipeline
 * (tools/ref/make_pipeline_fixtures.py): embedding and low-res logits within
 * relative L2 1e-5; the official logits through our postprocessing give the
 * official mask exactly; and our masks equal the official ones at every pixel
 * whose official probability is more than 1e-6 away from the 0.5 threshold
 * (closer than that, fp32 reordering may flip a pixel: such pixels are counted). */
#include <stdint.h>

#include "core/npy.h"
#include "io/image.h"
#include "pipeline/postprocess.h"
#include "medsam.h"
#include "test.h"

#define FIX "tests/fixtures/pipeline/"

static const char *CASES[] = {"camera", "cell", "chelsea", "retina", "horse", "demo"};

static float *load_f32(const char *path, long *count) {
    ms_npy a;
    float *f = NULL;
    medsam_error err;
    if (ms_npy_read(path, &a, &err) || ms_npy_to_f32(&a, &f, &err)) {
        printf("cannot read %s: %s\n", path, err.message);
        return NULL;
    }
    *count = (long)a.count;
    ms_npy_free(&a);
    return f;
}

static void run_case(const medsam_model *m, const char *name) {
    char path[512], image[256];
    medsam_box boxes[8];
    int n = 0;
    snprintf(path, sizeof path, FIX "%s/boxes.txt", name);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "open %s", path);
    if (!fp) return;
    CHECK(fscanf(fp, "%255s", image) == 1, "image name in %s", path);
    while (n < 8 && fscanf(fp, " %f,%f,%f,%f", &boxes[n].x0, &boxes[n].y0, &boxes[n].x1, &boxes[n].y1) == 4) n++;
    fclose(fp);

    medsam_error err;
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    float *x = NULL;
    int W, H;
    snprintf(path, sizeof path, "tests/fixtures/images/%s", image);
    medsam_status st = medsam_prepare_input(path, info.img_size, 2, &x, &W, &H, &err);
    CHECK(st == MEDSAM_OK, "%s: prepare: %s", name, err.message);
    if (st) return;
    medsam_embedding *emb = NULL;
    st = medsam_encode(m, x, 2, &emb, &err);
    CHECK(st == MEDSAM_OK, "%s: encode: %s", name, err.message);
    free(x);
    if (st) return;

    char what[128];
    long ne, nref;
    const float *e = medsam_embedding_data(emb, &ne);
    snprintf(path, sizeof path, FIX "%s/embedding.npy", name);
    float *eref = load_f32(path, &nref);
    snprintf(what, sizeof what, "%s embedding", name);
    CHECK(eref && nref == ne, "%s: embedding size", name);
    if (eref && nref == ne) t_close(what, e, eref, ne, 1e-5, 1e-4, 1e-5);

    long L = info.mask_size, plane = L * L;
    float *logits = malloc((size_t)n * plane * sizeof(float));
    uint8_t *mask = malloc((size_t)W * H);
    st = medsam_decode_boxes(m, emb, W, H, boxes, n, 2, logits, NULL, mask, &err);
    CHECK(st == MEDSAM_OK, "%s: decode: %s", name, err.message);
    snprintf(path, sizeof path, FIX "%s/logits.npy", name);
    float *lref = load_f32(path, &nref);
    snprintf(what, sizeof what, "%s logits (%d boxes)", name, n);
    CHECK(lref && nref == n * plane, "%s: logits size", name);
    if (!st && lref && nref == n * plane) t_close(what, logits, lref, n * plane, 1e-6, 1e-4, 1e-5);

    ms_image ref;
    snprintf(path, sizeof path, FIX "%s/mask.png", name);
    st = ms_image_read(path, &ref, &err);
    CHECK(st == MEDSAM_OK && ref.width == W && ref.height == H && ref.channels == 1, "%s: reference mask", name);
    if (st == MEDSAM_OK && ref.width == W && ref.height == H && lref) {
        long diff = 0, fg = 0, band = 0, exact_bad = 0;
        float *prob = malloc((size_t)W * H * sizeof(float));
        uint8_t *label = calloc((size_t)W * H, 1);
        uint8_t *near = calloc((size_t)W * H, 1); /* official probability within 1e-6 of 0.5 for some box */
        for (int b = 0; b < n; b++) {
            ms_postprocess_prob(lref + b * plane, (int)L, (int)L, H, W, prob);
            for (long p = 0; p < (long)W * H; p++) {
                if (prob[p] > 0.5f) label[p] = (uint8_t)(b + 1);
                if (fabsf(prob[p] - 0.5f) <= 1e-6f) near[p] = 1;
            }
        }
        long flips_outside = 0;
        for (long p = 0; p < (long)W * H; p++) {
            uint8_t want = ref.u8[p], got = n == 1 ? (mask[p] ? 255 : 0) : mask[p];
            uint8_t mine = n == 1 ? (label[p] ? 255 : 0) : label[p];
            exact_bad += mine != want;
            fg += want != 0;
            diff += want != got;
            band += near[p];
            flips_outside += want != got && !near[p];
        }
        CHECK(exact_bad == 0, "%s: official logits + our postprocessing: %ld pixels differ from the official mask", name,
              exact_bad);
        CHECK(flips_outside == 0, "%s: %ld mask pixels differ away from the threshold", name, flips_outside);
        printf("%s %-40s %dx%d, %ld foreground px, %ld differ (%ld px within 1e-6 of 0.5)\n",
               (exact_bad || flips_outside) ? "FAIL" : "ok  ", name, W, H, fg, diff, band);
        free(prob);
        free(label);
        free(near);
        ms_image_free(&ref);
    }
    free(eref);
    free(lref);
    free(logits);
    free(mask);
    medsam_embedding_free(emb);
}

/* medsam_model_keep_decoder_input changes no bit: logits and masks of 1 and 3 boxes
 * (threads 1 and 2) on one embedding, from a model without and one with it. */
static void test_keep_decoder_input(const medsam_model *plain) {
    medsam_error err;
    medsam_model *kept = NULL;
    CHECK(medsam_model_load("tests/fixtures/tiny/model.pth", &kept, &err) == MEDSAM_OK, "load: %s", err.message);
    if (!kept) return;
    CHECK(medsam_model_keep_decoder_input(kept, 2, &err) == MEDSAM_OK &&
              medsam_model_keep_decoder_input(kept, 1, &err) == MEDSAM_OK, "keep_decoder_input (twice)");
    medsam_model_info info;
    medsam_model_get_info(plain, &info);
    const long ne = (long)info.emb_channels * info.emb_size * info.emb_size, plane = (long)info.mask_size * info.mask_size;
    float *data = malloc(ne * sizeof(float));
    uint32_t s = 12345;
    for (long i = 0; i < ne; i++) s = s * 1664525u + 1013904223u, data[i] = (float)((int)(s >> 9) - (1 << 22)) / (1 << 22);
    medsam_embedding *e1 = NULL, *e2 = NULL;
    medsam_embedding_from_data(plain, data, ne, &e1, &err);
    medsam_embedding_from_data(kept, data, ne, &e2, &err);
    const int W = 300, H = 200;
    const medsam_box boxes[3] = {{10, 20, 150, 120}, {100, 50, 290, 190}, {0, 0, 300, 200}};
    float *l1 = malloc(3 * plane * sizeof(float)), *l2 = malloc(3 * plane * sizeof(float));
    uint8_t *m1 = malloc(W * H), *m2 = malloc(W * H);
    for (int n = 1; n <= 3; n += 2)
        for (int t = 1; t <= 2; t++) {
            int ok = e1 && e2 && !medsam_decode_boxes(plain, e1, W, H, boxes, n, t, l1, NULL, m1, &err) &&
                     !medsam_decode_boxes(kept, e2, W, H, boxes, n, t, l2, NULL, m2, &err);
            CHECK(ok && !memcmp(l1, l2, n * plane * sizeof(float)) && !memcmp(m1, m2, (size_t)W * H),
                  "kept decoder input: %d box(es), %d thread(s): logits and mask identical", n, t);
        }
    free(l1), free(l2), free(m1), free(m2), free(data);
    medsam_embedding_free(e1);
    medsam_embedding_free(e2);
    medsam_model_free(kept);
}

int main(void) {
    medsam_error err;
    medsam_model *m = NULL;
    medsam_status st = medsam_model_load("tests/fixtures/tiny/model.pth", &m, &err);
    CHECK(st == MEDSAM_OK, "load tiny model: %s", err.message);
    if (st) return t_summary();
    test_keep_decoder_input(m);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(m, CASES[i]);
    medsam_model_free(m);
    return t_summary();
}
