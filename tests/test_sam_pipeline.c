/* test_sam_pipeline.c — the "sam" pipeline against segment_anything's own SamPredictor
 * (tools/ref/make_sam_pipeline_fixtures.py, tiny CI model, random weights; a full ViT-B
 * with tools/ref/check_sam_vit_b.sh):
 *  - Sam.postprocess_masks on random logits, 1 and 3 masks, 12 geometries: every value
 *    bit-identical (torch 1.13's channels-last and generic bilinear kernels);
 *  - set_image on two real images: apply_image's uint8 output and the float32 encoder input
 *    bit-identical (hashes), the embedding within relative L2 1e-5;
 *  - predict with a box, one point (multimask), three points, points + box (multimask), a
 *    mask input (the refinement loop) and a whole-image box (multimask), through
 *    medsam_decode_prompt: low-res logits within relative L2 1e-5 and IoU within 1e-5, both
 *    from the official embedding and end to end from ours; the official low-res logits
 *    through our postprocessing give predict's masks bit for bit (hash); our masks equal
 *    them except at pixels whose upscaled logit is within 1e-5 of 0 (counted, printed). */
#include <stdint.h>

#include "core/npy.h"
#include "io/image.h"
#include "io/npz.h"
#include "medsam.h"
#include "pipeline/sam_predictor.h"
#include "test.h"

#define FIX_DIR "tests/fixtures/sam_pipeline"
static const char *FIX = FIX_DIR; // MS_SAM_FIX overrides (tools/ref/check_sam_vit_b.sh)
#define NEAR 1e-5f

static uint64_t fnv1a64(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

static void check_postprocess(void) {
    medsam_error err;
    ms_npz *z;
    medsam_status st = ms_npz_open(FIX_DIR "/postprocess.npz", &z, &err);
    CHECK(st == MEDSAM_OK, "%s", err.message);
    if (st) return;
    int ncases = 0;
    for (int i = 0;; i++, ncases++) {
        char n[64];
        ms_npy in = {0}, out = {0}, geom = {0};
        snprintf(n, sizeof n, "pp%d_in", i);
        if (!ms_npz_has(z, n)) break;
        st = ms_npz_get(z, n, &in, &err);
        snprintf(n, sizeof n, "pp%d_out", i);
        if (!st) st = ms_npz_get(z, n, &out, &err);
        snprintf(n, sizeof n, "pp%d_geom", i);
        if (!st) st = ms_npz_get(z, n, &geom, &err);
        CHECK(st == MEDSAM_OK, "pp%d: %s", i, err.message);
        if (!st) {
            const int64_t *g = geom.data;
            const int C = (int)g[0], L = (int)g[1], S = (int)g[2], nh = (int)g[3], nw = (int)g[4], H = (int)g[5],
                      W = (int)g[6];
            int rh, rw;
            ms_sam_preprocess_shape(H, W, S, &rh, &rw);
            CHECK(rh == nh && rw == nw, "pp%d: preprocess shape %dx%d, official %dx%d", i, rh, rw, nh, nw);
            const ms_sam_kernels k = ms_sam_postprocess_kernels(C, S, nw);
            float *o = calloc((size_t)H * W, sizeof(float));
            uint8_t *lab = calloc((size_t)H * W, 1);
            long diff = 0, labdiff = 0;
            for (int c = 0; c < C; c++) {
                const float *lo = (const float *)in.data + (size_t)c * L * L, *ref = (const float *)out.data + (size_t)c * H * W;
                // in three row bands, as threads would split it
                for (int b = 0; b < 3; b++)
                    ms_sam_postprocess_rows(lo, L, S, nh, nw, H, W, k, H * b / 3, H * (b + 1) / 3, o, 0, NULL);
                memset(lab, 0, (size_t)H * W);
                ms_sam_postprocess_rows(lo, L, S, nh, nw, H, W, k, 0, H, NULL, 1, lab);
                for (long p = 0; p < (long)H * W; p++) {
                    diff += o[p] != ref[p];
                    labdiff += lab[p] != (ref[p] > 0.0f);
                }
            }
            CHECK(diff == 0 && labdiff == 0, "pp%d (C=%d, %dx%d crop of %d -> %dx%d): %ld values, %ld mask pixels differ",
                  i, C, nw, nh, S, W, H, diff, labdiff);
            free(o), free(lab);
        }
        ms_npy_free(&in), ms_npy_free(&out), ms_npy_free(&geom);
    }
    printf("ok   postprocess_masks: %d geometries bit-identical\n", ncases);
    CHECK(ncases >= 12, "postprocess cases: %d", ncases);
    ms_npz_close(z);
}

typedef struct {
    char name[32], mask_from[32];
    int multimask, has_box, np;
    medsam_box box;
    float pts[2 * 8];
    int labels[8];
} prompt_case;

static int parse_case(const char *line, prompt_case *c) {
    char box[128], pts[256];
    memset(c, 0, sizeof *c);
    if (sscanf(line, "%31s multimask %d box %127s points %255s mask %31s", c->name, &c->multimask, box, pts,
               c->mask_from) != 5)
        return 0;
    if (strcmp(box, "-")) {
        c->has_box = sscanf(box, "%f,%f,%f,%f", &c->box.x0, &c->box.y0, &c->box.x1, &c->box.y1) == 4;
        if (!c->has_box) return 0;
    }
    for (char *p = strcmp(pts, "-") ? pts : NULL; p && c->np < 8;) {
        if (sscanf(p, "%f,%f,%d", &c->pts[2 * c->np], &c->pts[2 * c->np + 1], &c->labels[c->np]) != 3) return 0;
        c->np++;
        p = strchr(p, ';');
        if (p) p++;
    }
    if (!strcmp(c->mask_from, "-")) c->mask_from[0] = 0;
    return 1;
}

static float *npz_f32(const ms_npz *z, const char *name, long *count) {
    ms_npy a;
    float *f = NULL;
    medsam_error err;
    if (ms_npz_get(z, name, &a, &err) || ms_npy_to_f32(&a, &f, &err)) {
        printf("FAIL cannot read %s: %s\n", name, err.message);
        t_failed++;
        return NULL;
    }
    if (count) *count = (long)a.count;
    ms_npy_free(&a);
    return f;
}

/* One prompt case: decode from emb, compare logits / IoU with the fixture, masks with
 * predict's (through the official logits), return the low-res logits (caller frees). */
static float *run_case(const medsam_model *m, const medsam_embedding *emb, const char *tag, const ms_npz *z,
                       const prompt_case *c, const float *mask_in, int W, int H, int S, int check_masks) {
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    const int L = info.mask_size, nm = c->multimask ? 3 : 1;
    char n[96], what[128];
    snprintf(n, sizeof n, "%.31s_lowres", c->name);
    float *ref_low = npz_f32(z, n, NULL);
    snprintf(n, sizeof n, "%.31s_iou", c->name);
    float *ref_iou = npz_f32(z, n, NULL);
    medsam_prompt p = {.points = c->pts, .labels = c->labels, .n_points = c->np, .has_box = c->has_box,
                       .box = c->box, .mask_input = mask_in};
    float *low = malloc((size_t)nm * L * L * sizeof(float)), iou[3];
    uint8_t *mask = malloc((size_t)W * H);
    medsam_error err;
    medsam_status st = medsam_decode_prompt(m, emb, W, H, &p, c->multimask, 2, low, iou, mask, &err);
    CHECK(st == MEDSAM_OK, "%s %s: %s", tag, c->name, err.message);
    if (st || !ref_low || !ref_iou) goto done;
    snprintf(what, sizeof what, "%.20s %.31s low-res logits", tag, c->name);
    t_close(what, low, ref_low, (long)nm * L * L, 1e-3, 1e-3, 1e-5);
    snprintf(what, sizeof what, "%.20s %.31s iou", tag, c->name);
    t_close(what, iou, ref_iou, nm, 1e-5, 1e-5, 1e-5);
    if (check_masks) {
        int newh, neww;
        ms_sam_preprocess_shape(H, W, S, &newh, &neww);
        const ms_sam_kernels k = ms_sam_postprocess_kernels(nm, S, neww);
        const size_t npix = (size_t)W * H;
        uint8_t *ref_masks = calloc(npix * nm, 1), *ours = calloc(npix, 1);
        float *up = malloc(npix * sizeof(float));
        long flips = 0, far = 0;
        float worst = 0;
        for (int i = 0; i < nm; i++) {
            ms_sam_postprocess_rows(ref_low + (size_t)i * L * L, L, S, newh, neww, H, W, k, 0, H, NULL, 1,
                                    ref_masks + npix * i);
            memset(ours, 0, npix);
            ms_sam_postprocess_rows(low + (size_t)i * L * L, L, S, newh, neww, H, W, k, 0, H, up, 1, ours);
            for (size_t q = 0; q < npix; q++)
                if (ours[q] != ref_masks[npix * i + q]) {
                    flips++;
                    if (fabsf(up[q]) > NEAR) far++;
                    if (fabsf(up[q]) > worst) worst = fabsf(up[q]);
                }
        }
        ms_npy hh;
        snprintf(n, sizeof n, "%.31s_masks_hash", c->name);
        if (!ms_npz_get(z, n, &hh, &err)) {
            const int64_t *h = hh.data;
            CHECK((int64_t)fnv1a64(ref_masks, npix * nm) == h[0] && h[1] == (int64_t)(npix * nm),
                  "%s %s: official logits through our postprocess_masks differ from predict's masks", tag, c->name);
            ms_npy_free(&hh);
        }
        CHECK(far == 0, "%s %s: %ld mask pixels differ with |logit| > %g", tag, c->name, far, (double)NEAR);
        printf("%s %s %s masks: %ld of %zu pixels differ (all with |logit| <= %.1e)\n", far ? "FAIL" : "ok  ", tag,
               c->name, flips, npix * nm, (double)worst);
        // the API's mask is the highest-IoU mask through the same postprocessing
        int best = 0;
        for (int i = 1; i < nm; i++)
            if (iou[i] > iou[best]) best = i;
        memset(ours, 0, npix);
        ms_sam_postprocess_rows(low + (size_t)best * L * L, L, S, newh, neww, H, W, k, 0, H, NULL, 1, ours);
        CHECK(memcmp(ours, mask, npix) == 0, "%s %s: API mask is not the best mask", tag, c->name);
        free(ref_masks), free(ours), free(up);
    }
done:
    free(ref_low), free(ref_iou), free(mask);
    if (st) {
        free(low);
        return NULL;
    }
    return low;
}

static void check_image(const medsam_model *m, const char *name) {
    char path[256];
    medsam_error err;
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    const int S = info.img_size;
    snprintf(path, sizeof path, "%s/%s.npz", FIX, name);
    ms_npz *z;
    medsam_status st = ms_npz_open(path, &z, &err);
    CHECK(st == MEDSAM_OK, "%s", err.message);
    if (st) return;
    snprintf(path, sizeof path, "tests/fixtures/images/%s.png", name);
    ms_image img;
    st = ms_image_read(path, &img, &err);
    CHECK(st == MEDSAM_OK, "%s", err.message);
    if (st) {
        ms_npz_close(z);
        return;
    }
    const int W = img.width, H = img.height;
    int newh, neww;
    ms_sam_preprocess_shape(H, W, S, &newh, &neww);
    uint8_t *resized = malloc((size_t)newh * neww * 3);
    float *x = malloc((size_t)S * S * 3 * sizeof(float)), *chw = malloc((size_t)S * S * 3 * sizeof(float));
    st = ms_sam_preprocess(&img, S, 2, x, resized, &err);
    CHECK(st == MEDSAM_OK, "%s: preprocess: %s", name, err.message);
    ms_npy hashes;
    if (!st && !ms_npz_get(z, "hashes", &hashes, &err)) {
        const int64_t *h = hashes.data;
        for (int k = 0; k < 3; k++)
            for (long p = 0; p < (long)S * S; p++) chw[k * (long)S * S + p] = x[p * 3 + k];
        CHECK((int64_t)fnv1a64(resized, (size_t)newh * neww * 3) == h[0], "%s: apply_image output differs", name);
        CHECK((int64_t)fnv1a64(chw, (size_t)S * S * 3 * sizeof(float)) == h[1], "%s: encoder input differs", name);
        if ((int64_t)fnv1a64(chw, (size_t)S * S * 3 * sizeof(float)) == h[1])
            printf("ok   %s: %dx%d -> %dx%d, apply_image and the encoder input bit-identical\n", name, W, H, neww, newh);
        ms_npy_free(&hashes);
    }
    // the official embedding, and ours
    long nref = 0;
    float *ref = npz_f32(z, "features", &nref);
    medsam_embedding *emb_ref = NULL, *emb = NULL;
    if (ref) CHECK(!medsam_embedding_from_data(m, ref, nref, &emb_ref, &err), "%s: %s", name, err.message);
    float *x2 = NULL;
    int W2, H2;
    st = medsam_model_prepare_input(m, path, 2, &x2, &W2, &H2, &err);
    CHECK(st == MEDSAM_OK && !memcmp(x2, x, (size_t)S * S * 3 * sizeof(float)),
          "%s: medsam_model_prepare_input differs from ms_sam_preprocess", name);
    if (!st) st = medsam_encode(m, x2, 2, &emb, &err);
    CHECK(st == MEDSAM_OK, "%s: encode: %s", name, err.message);
    if (!st && ref) {
        char what[96];
        snprintf(what, sizeof what, "%s embedding", name);
        t_close(what, medsam_embedding_data(emb, NULL), ref, nref, 1e-4, 1e-4, 1e-5);
    }
    // prompt cases, from the official embedding and from ours
    snprintf(path, sizeof path, "%s/prompts_%s.txt", FIX, name);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "open %s", path);
    char line[512];
    prompt_case cases[8];
    int nc = 0;
    while (fp && nc < 8 && fgets(line, sizeof line, fp)) CHECK(parse_case(line, &cases[nc]) && ++nc, "parse %s", line);
    if (fp) fclose(fp);
    for (int pass = 0; pass < 2 && emb_ref && emb; pass++) {
        float *lows[8] = {0};
        for (int i = 0; i < nc; i++) {
            const float *mask_in = NULL;
            char n[96];
            float *ref_prev = NULL;
            if (cases[i].mask_from[0]) { // the official best low-res mask of that case, as predict returned it
                snprintf(n, sizeof n, "%s_lowres", cases[i].mask_from);
                ref_prev = npz_f32(z, n, NULL);
                snprintf(n, sizeof n, "%s_iou", cases[i].mask_from);
                float *ri = npz_f32(z, n, NULL);
                int best = 0;
                for (int k = 1; ri && k < 3; k++)
                    if (ri[k] > ri[best]) best = k;
                mask_in = ref_prev ? ref_prev + (size_t)best * info.mask_size * info.mask_size : NULL;
                free(ri);
            }
            lows[i] = run_case(m, pass ? emb : emb_ref, pass ? "ours" : "official-emb", z, &cases[i], mask_in, W, H, S,
                               pass == 1);
            free(ref_prev);
        }
        for (int i = 0; i < nc; i++) free(lows[i]);
    }
    medsam_embedding_free(emb_ref), medsam_embedding_free(emb);
    free(ref), free(x), free(x2), free(chw), free(resized);
    ms_image_free(&img);
    ms_npz_close(z);
}

static void check_errors(const medsam_model *m) {
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    float *data = calloc((size_t)info.emb_channels * info.emb_size * info.emb_size, sizeof(float));
    medsam_embedding *emb = NULL;
    medsam_error err;
    medsam_embedding_from_data(m, data, (long)info.emb_channels * info.emb_size * info.emb_size, &emb, &err);
    float pts[4] = {10, 10, 200, 5};
    int labels[2] = {1, 2};
    uint8_t mask[100 * 50];
    medsam_prompt p = {.points = pts, .labels = labels, .n_points = 1};
    CHECK(medsam_decode_prompt(m, emb, 100, 50, &p, 0, 1, NULL, NULL, mask, &err) == MEDSAM_OK, "one point: %s",
          err.message);
    p.n_points = 2;
    labels[1] = 1;
    CHECK(medsam_decode_prompt(m, emb, 100, 50, &p, 0, 1, NULL, NULL, mask, &err) == MEDSAM_ERR_ARG &&
              strstr(err.message, "point 2"),
          "point outside the image refused: %s", err.message);
    pts[2] = 20, labels[1] = 2;
    CHECK(medsam_decode_prompt(m, emb, 100, 50, &p, 0, 1, NULL, NULL, mask, &err) == MEDSAM_ERR_ARG &&
              strstr(err.message, "label 2"),
          "label 2 refused: %s", err.message);
    medsam_prompt empty = {0};
    CHECK(medsam_decode_prompt(m, emb, 100, 50, &empty, 0, 1, NULL, NULL, mask, &err) == MEDSAM_ERR_ARG,
          "empty prompt refused");
    float *mi = calloc((size_t)info.mask_size * info.mask_size, sizeof(float));
    mi[7] = NAN;
    medsam_prompt pm = {.mask_input = mi};
    CHECK(medsam_decode_prompt(m, emb, 100, 50, &pm, 0, 1, NULL, NULL, mask, &err) == MEDSAM_ERR_NUMERIC,
          "NaN mask input refused");
    mi[7] = 0;
    float logits[3 * 64 * 64], iou[3];
    CHECK(info.mask_size <= 64 && medsam_decode_prompt(m, emb, 100, 50, &pm, 1, 2, logits, iou, mask, &err) == MEDSAM_OK,
          "mask input alone, multimask: %s", err.message);
    medsam_prompt pb = {.has_box = 1, .box = {10, 10, 5, 20}};
    CHECK(medsam_decode_prompt(m, emb, 100, 50, &pb, 0, 1, NULL, NULL, mask, &err) == MEDSAM_ERR_ARG, "empty box refused");
    free(mi), free(data);
    medsam_embedding_free(emb);
}

/* MS_SAM_FIX=DIR MS_SAM_MODEL=M.pth MS_SAM_IMAGE=NAME: the image checks on fixtures that
 * make_sam_pipeline_fixtures.py wrote for another checkpoint (e.g. a random ViT-B). */
int main(void) {
    const char *fix = getenv("MS_SAM_FIX"), *model = getenv("MS_SAM_MODEL"), *image = getenv("MS_SAM_IMAGE");
    if (fix && model && image) FIX = fix;
    else check_postprocess();
    medsam_error err;
    medsam_model *m = NULL;
    medsam_status st = medsam_model_load(FIX != fix ? "tests/fixtures/tiny/model.pth" : model, &m, &err);
    CHECK(st == MEDSAM_OK, "load tiny model: %s", err.message);
    if (st) return t_summary();
    st = medsam_model_set_pipeline(m, MEDSAM_PIPELINE_SAM, &err);
    CHECK(st == MEDSAM_OK && medsam_model_get_pipeline(m) == MEDSAM_PIPELINE_SAM, "set pipeline sam: %s", err.message);
    if (FIX == fix) {
        check_image(m, image);
    } else {
        check_image(m, "chelsea");
        check_image(m, "cell");
        check_errors(m);
    }
    medsam_model_free(m);
    return t_summary();
}
