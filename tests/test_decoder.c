/* test_decoder.c — prompt encoder and mask decoder against the official PyTorch
 * modules, stage by stage (dumps from tools/ref/make_decoder_fixtures.py on the
 * tiny fixture model), plus the fast decoder against the literal one.
 *
 * Tolerances: every stage within rel L2 <= 1e-5 of PyTorch, and elementwise
 * |got - ref| <= 1e-4 + 1e-4 |ref| (values are O(1); masks and keys are logits /
 * LayerNorm outputs). The fast path must equal itself bit for bit across
 * thread counts.
 *
 * Optional: MS_DECODER_VITB_DIR=<dir written by make_decoder_fixtures.py --vitb>
 * also checks a ViT-B-size decoder (random weights) and prints its time.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/npy.h"
#include "model/mask_decoder.h"
#include "model/prompt_encoder.h"
#include "ops/ops.h"
#include "ops/vecmath.h"
#include "test.h"

#define FIX "tests/fixtures/decoder/"
#define ATOL 1e-4
#define RTOL 1e-4
#define REL_L2 1e-5

static float *load(const char *dir, const char *name, long expect) {
    char path[512];
    snprintf(path, sizeof path, "%s%s.npy", dir, name);
    ms_npy a;
    medsam_error err;
    float *f = NULL;
    if (ms_npy_read(path, &a, &err) != MEDSAM_OK) {
        printf("FAIL cannot read %s: %s\n", path, err.message);
        exit(1);
    }
    if ((expect >= 0 && a.count != expect) || ms_npy_to_f32(&a, &f, &err) != MEDSAM_OK) {
        printf("FAIL %s: %lld values, expected %ld\n", path, (long long)a.count, expect);
        exit(1);
    }
    ms_npy_free(&a);
    return f;
}

/* ---- trace collector ---- */
typedef struct {
    char name[64];
    float *data;
    long n;
} stage_t;
typedef struct {
    stage_t s[32];
    int count;
} stages_t;

static void collect(void *ctx, const char *stage, const float *data, long n) {
    stages_t *st = ctx;
    if (st->count >= 32) return;
    stage_t *s = &st->s[st->count++];
    snprintf(s->name, sizeof s->name, "%s", stage);
    s->data = malloc(sizeof(float) * n);
    memcpy(s->data, data, sizeof(float) * n);
    s->n = n;
}

static const stage_t *find_stage(const stages_t *st, const char *name) {
    for (int i = 0; i < st->count; i++)
        if (strcmp(st->s[i].name, name) == 0) return &st->s[i];
    return NULL;
}

static void stages_free(stages_t *st) {
    for (int i = 0; i < st->count; i++) free(st->s[i].data);
    st->count = 0;
}

/* Compares a traced stage with a PyTorch dump. */
static void check_stage(const stages_t *st, const char *stage, const char *dump, const char *label) {
    const stage_t *s = find_stage(st, stage);
    CHECK(s != NULL, "%s: stage %s not traced", label, stage);
    if (!s) return;
    float *ref = load(FIX, dump, s->n);
    char what[128];
    snprintf(what, sizeof what, "%s %s", label, stage);
    t_close(what, s->data, ref, s->n, ATOL, RTOL, REL_L2);
    free(ref);
}

typedef struct {
    ms_config c;
    ms_weights w;
    float *params;
} model_t;

static void load_tiny(model_t *m) {
    medsam_error err;
    ms_param_table tab;
    if (ms_config_preset("tiny", &m->c, &err) != MEDSAM_OK || ms_param_table_build(&m->c, &tab) != 0) {
        printf("FAIL tiny config\n");
        exit(1);
    }
    m->params = load("tests/fixtures/tiny/", "params", (long)tab.total);
    ms_weights_bind(&m->c, m->params, &m->w);
    ms_param_table_free(&tab);
}

/* Runs the C prompt encoder for a fixture case; returns Ns. */
static int encode_case(const model_t *m, const char *name, int has_points, int np, int has_box, float *sparse) {
    char key[64];
    float *pts = NULL, *lab = NULL, *box = NULL;
    int labels[16];
    if (has_points) {
        snprintf(key, sizeof key, "%s_points", name), pts = load(FIX, key, 2 * np);
        snprintf(key, sizeof key, "%s_labels", name), lab = load(FIX, key, np);
        for (int i = 0; i < np; i++) labels[i] = (int)lab[i];
    }
    if (has_box) snprintf(key, sizeof key, "%s_box", name), box = load(FIX, key, 4);
    int Ns = -1;
    ms_prompt_encode(&m->c, &m->w.pe, pts, has_points ? labels : NULL, has_points ? np : 0, box, sparse, &Ns);
    free(pts), free(lab), free(box);
    return Ns;
}

static void test_prompt_encoder(const model_t *m) {
    const ms_config *c = &m->c;
    const int D = c->prompt_dim, G = c->grid;
    const long N = (long)G * G;
    float *pe = malloc(sizeof(float) * D * N), *ref;
    ms_prompt_dense_pe(c, &m->w.pe, pe);
    ref = load(FIX, "dense_pe", D * N);
    t_close("dense_pe", pe, ref, D * N, ATOL, RTOL, REL_L2);
    free(ref), free(pe);

    struct { const char *name; int has_points, np, has_box, Ns; } cases[] = {
        {"box", 0, 0, 1, 2}, {"points", 1, 3, 0, 4}, {"pointsbox", 1, 2, 1, 4}, {"mask", 0, 0, 1, 2}};
    float sparse[8 * 256];
    char key[64];
    for (int k = 0; k < 4; k++) {
        int Ns = encode_case(m, cases[k].name, cases[k].has_points, cases[k].np, cases[k].has_box, sparse);
        CHECK(Ns == cases[k].Ns, "%s: Ns %d, expected %d", cases[k].name, Ns, cases[k].Ns);
        CHECK(Ns == ms_prompt_num_sparse(cases[k].np, cases[k].has_box), "%s: ms_prompt_num_sparse", cases[k].name);
        snprintf(key, sizeof key, "%s_sparse", cases[k].name);
        ref = load(FIX, key, (long)cases[k].Ns * D);
        t_close(key, sparse, ref, (long)cases[k].Ns * D, ATOL, RTOL, REL_L2);
        free(ref);
    }
    int Ns = -1;
    ms_prompt_encode(c, &m->w.pe, NULL, NULL, 0, NULL, sparse, &Ns);
    CHECK(Ns == 0, "no prompt: Ns %d", Ns);

    float *dense = malloc(sizeof(float) * D * N), *scratch = malloc(sizeof(float) * ms_prompt_dense_scratch_floats(c));
    ms_prompt_dense_embed(c, &m->w.pe, NULL, dense, NULL, 1);
    ref = load(FIX, "box_dense", D * N);
    t_close("dense (no mask)", dense, ref, D * N, 0, 0, 0);
    free(ref);
    float *mask_in = load(FIX, "mask_mask_in", 16 * N);
    ref = load(FIX, "mask_dense", D * N);
    for (int nt = 1; nt <= 2; nt++) {
        ms_prompt_dense_embed(c, &m->w.pe, mask_in, dense, scratch, nt);
        t_close(nt == 1 ? "dense (mask input, 1 thread)" : "dense (mask input, 2 threads)", dense, ref, D * N, ATOL,
                RTOL, REL_L2);
    }
    free(ref), free(mask_in), free(dense), free(scratch);
}

/* Decodes one fixture case with the fast path (and the reference path), compares
 * masks and IoU in both multimask modes; the "box" case also every stage. */
static void test_decoder_case(const model_t *m, const char *name, int has_points, int np, int has_box, int has_mask) {
    const ms_config *c = &m->c;
    const int D = c->prompt_dim, G = c->grid, T = c->num_mask_tokens, S = 4 * G;
    const long N = (long)G * G, SS = (long)S * S;
    float sparse[8 * 256], iou[8], iou_ref_path[8];
    char key[96], what[128];
    int Ns = encode_case(m, name, has_points, np, has_box, sparse);
    float *emb = load(FIX, "image_emb", D * N), *pe = malloc(sizeof(float) * D * N);
    float *dense = malloc(sizeof(float) * D * N);
    ms_prompt_dense_pe(c, &m->w.pe, pe);
    if (has_mask) {
        float *mask_in = load(FIX, "mask_mask_in", SS), *scratch = malloc(sizeof(float) * ms_prompt_dense_scratch_floats(c));
        ms_prompt_dense_embed(c, &m->w.pe, mask_in, dense, scratch, 1);
        free(mask_in), free(scratch);
    } else {
        ms_prompt_dense_embed(c, &m->w.pe, NULL, dense, NULL, 1);
    }
    float *ws = malloc(sizeof(float) * ms_mask_decoder_workspace_floats(c, Ns, 2));
    float *masks = malloc(sizeof(float) * T * SS), *masks2 = malloc(sizeof(float) * T * SS);
    float *masks_ref_path = malloc(sizeof(float) * T * SS);
    medsam_error err;
    for (int multi = 0; multi <= 1; multi++) {
        const int nm = multi ? T - 1 : 1;
        const char *tag = multi ? "multi" : "single";
        stages_t st = {0}, st_ref = {0};
        medsam_status s1 = ms_mask_decoder_forward(c, &m->w.dec, emb, pe, sparse, Ns, dense, multi, masks, iou, ws, 1,
                                                   collect, &st, &err);
        CHECK(s1 == MEDSAM_OK, "%s: forward failed: %s", name, err.message);
        snprintf(key, sizeof key, "%s_masks_%s", name, tag);
        float *ref = load(FIX, key, nm * SS);
        snprintf(what, sizeof what, "%s masks (%s)", name, tag);
        t_close(what, masks, ref, nm * SS, ATOL, RTOL, REL_L2);
        free(ref);
        snprintf(key, sizeof key, "%s_iou_%s", name, tag);
        ref = load(FIX, key, nm);
        snprintf(what, sizeof what, "%s iou (%s)", name, tag);
        t_close(what, iou, ref, nm, ATOL, RTOL, REL_L2);
        free(ref);
        if (strcmp(name, "box") == 0 && multi) {
            check_stage(&st, "dec.layer0.queries", "box_layer0_queries", "fast");
            check_stage(&st, "dec.layer0.keys", "box_layer0_keys", "fast");
            check_stage(&st, "dec.layer1.queries", "box_layer1_queries", "fast");
            check_stage(&st, "dec.layer1.keys", "box_layer1_keys", "fast");
            check_stage(&st, "dec.final_queries", "box_final_queries", "fast");
            check_stage(&st, "dec.upscaled", "box_upscaled", "fast");
        }
        // same bits with 2 threads, without tracing
        float iou2[8];
        ms_mask_decoder_forward(c, &m->w.dec, emb, pe, sparse, Ns, dense, multi, masks2, iou2, ws, 2, NULL, NULL, &err);
        CHECK(memcmp(masks, masks2, sizeof(float) * nm * SS) == 0 && memcmp(iou, iou2, sizeof(float) * nm) == 0,
              "%s (%s): 1 and 2 threads differ", name, tag);
        // the literal reference path: against PyTorch stage by stage, and against the fast path
        medsam_status s2 = ms_mask_decoder_forward_ref(c, &m->w.dec, emb, pe, sparse, Ns, dense, multi,
                                                       masks_ref_path, iou_ref_path, 1, collect, &st_ref, &err);
        CHECK(s2 == MEDSAM_OK, "%s: ref forward failed: %s", name, err.message);
        if (strcmp(name, "box") == 0 && multi) {
            check_stage(&st_ref, "dec.layer0.keys", "box_layer0_keys", "ref");
            check_stage(&st_ref, "dec.layer1.queries", "box_layer1_queries", "ref");
            check_stage(&st_ref, "dec.final_queries", "box_final_queries", "ref");
            check_stage(&st_ref, "dec.upscaled", "box_upscaled", "ref");
        }
        snprintf(what, sizeof what, "%s masks (%s) fast vs ref", name, tag);
        t_close(what, masks, masks_ref_path, nm * SS, ATOL, RTOL, REL_L2);
        stages_free(&st), stages_free(&st_ref);
    }
    free(ws), free(masks), free(masks2), free(masks_ref_path), free(emb), free(pe), free(dense);
}

/* Prepared image with the layer-0 projections precomputed, batch of 3 boxes on
 * 2 threads: boxes 0 and 2 are the fixture box (PyTorch dump), box 1 another one
 * checked against a separate un-prepared forward. No prompt at all: fast vs ref. */
static void test_batch_and_empty(const model_t *m) {
    const ms_config *c = &m->c;
    const int D = c->prompt_dim, G = c->grid, T = c->num_mask_tokens, S = 4 * G;
    const long N = (long)G * G, SS = (long)S * S;
    float *emb = load(FIX, "image_emb", D * N), *pe = malloc(sizeof(float) * D * N);
    float *dense = malloc(sizeof(float) * D * N);
    ms_prompt_dense_pe(c, &m->w.pe, pe);
    ms_prompt_dense_embed(c, &m->w.pe, NULL, dense, NULL, 1);
    float *box0 = load(FIX, "box_box", 4), box1[4] = {3.0f, 60.0f, 50.0f, 127.0f};
    float sparse[3 * 2 * 256];
    int Ns;
    ms_prompt_encode(c, &m->w.pe, NULL, NULL, 0, box0, sparse, &Ns);
    ms_prompt_encode(c, &m->w.pe, NULL, NULL, 0, box1, sparse + 2 * D, &Ns);
    memcpy(sparse + 4 * D, sparse, sizeof(float) * 2 * D);
    float *img_buf = malloc(sizeof(float) * ms_mask_decoder_image_floats(c, 1));
    ms_dec_image img;
    ms_mask_decoder_prepare(c, &m->w.dec, emb, pe, dense, 1, img_buf, &img, 2);
    float *ws = malloc(sizeof(float) * ms_mask_decoder_batch_workspace_floats(c, 2, 3, 2));
    float *masks = malloc(sizeof(float) * 3 * (T - 1) * SS), iou[3 * 8];
    medsam_error err;
    medsam_status st = ms_mask_decoder_run_batch(c, &m->w.dec, &img, sparse, 2, 3, 1, masks, iou, ws, 2, &err);
    CHECK(st == MEDSAM_OK, "run_batch: %s", err.message);
    float *ref = load(FIX, "box_masks_multi", (T - 1) * SS), *ref_iou = load(FIX, "box_iou_multi", T - 1);
    t_close("batch[0] masks (precomputed layer 0)", masks, ref, (T - 1) * SS, ATOL, RTOL, REL_L2);
    t_close("batch[2] masks (precomputed layer 0)", masks + 2 * (T - 1) * SS, ref, (T - 1) * SS, ATOL, RTOL, REL_L2);
    t_close("batch[0] iou", iou, ref_iou, T - 1, ATOL, RTOL, REL_L2);
    float *ws1 = malloc(sizeof(float) * ms_mask_decoder_workspace_floats(c, 2, 1));
    float *m1 = malloc(sizeof(float) * (T - 1) * SS), iou1[8];
    ms_mask_decoder_forward(c, &m->w.dec, emb, pe, sparse + 2 * D, 2, dense, 1, m1, iou1, ws1, 1, NULL, NULL, &err);
    t_close("batch[1] masks vs plain forward", masks + (T - 1) * SS, m1, (T - 1) * SS, ATOL, RTOL, REL_L2);
    t_close("batch[1] iou vs plain forward", iou + (T - 1), iou1, T - 1, ATOL, RTOL, REL_L2);

    // no sparse prompt at all (Ns = 0)
    float *m2 = malloc(sizeof(float) * SS), iou2, iou3;
    st = ms_mask_decoder_forward(c, &m->w.dec, emb, pe, NULL, 0, dense, 0, m1, &iou1[0], ws1, 1, NULL, NULL, &err);
    CHECK(st == MEDSAM_OK, "Ns = 0: %s", err.message);
    st = ms_mask_decoder_forward_ref(c, &m->w.dec, emb, pe, NULL, 0, dense, 0, m2, &iou2, 1, NULL, NULL, &err);
    iou3 = iou1[0];
    t_close("no prompt: masks fast vs ref", m1, m2, SS, ATOL, RTOL, REL_L2);
    t_close("no prompt: iou fast vs ref", &iou3, &iou2, 1, ATOL, RTOL, REL_L2);
    // bad arguments are reported, not crashed on
    st = ms_mask_decoder_forward(c, &m->w.dec, emb, pe, NULL, -1, dense, 0, m1, iou1, ws1, 1, NULL, NULL, &err);
    CHECK(st == MEDSAM_ERR_ARG && strlen(err.message) > 0, "Ns = -1 not rejected");
    free(m2), free(m1), free(ws1), free(ref), free(ref_iou), free(masks), free(ws), free(img_buf), free(box0);
    free(emb), free(pe), free(dense);
}

/* The vectorised row kernels (both paths) against the plain ops. */
static void test_vecmath(void) {
    enum { R = 37, C = 264, NT = 56 };
    float *x = malloc(sizeof(float) * R * C), *a = malloc(sizeof(float) * R * C), *b = malloc(sizeof(float) * R * C);
    float *ref = malloc(sizeof(float) * R * C), w[C], bias[C];
    unsigned s = 12345;
    for (int i = 0; i < R * C; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ((s >> 8) / 16777216.0f - 0.5f) * 24.0f;  // [-12, 12)
    }
    for (int c = 0; c < C; c++) w[c] = 1.0f + 0.01f * c, bias[c] = 0.1f - 0.002f * c;
    printf("vecmath: AVX2 path %s\n", vec_has_avx2() ? "on" : "off");
    // GELU: A&S erf is within 1.5e-7 of erf, so gelu within 0.5 |x| 1.5e-7 + rounding
    memcpy(ref, x, sizeof(float) * R * C), gelu_forward(ref, R * C, 1);
    memcpy(a, x, sizeof(float) * R * C), vec_gelu_forward(a, R * C);
    memcpy(b, x, sizeof(float) * R * C), vec_gelu_forward_generic(b, R * C);
    t_close("vec_gelu vs erff gelu", a, ref, R * C, 1e-6, 1e-6, 1e-6);
    t_close("vec_gelu generic vs erff gelu", b, ref, R * C, 1e-6, 1e-6, 1e-6);
    // softmax over rows, long (C) and short (7) rows
    for (int pass = 0; pass < 2; pass++) {
        const long rows = pass ? (long)R * C / 7 : R;
        const int cols = pass ? 7 : C;
        memcpy(ref, x, sizeof(float) * rows * cols), softmax_rows_forward(ref, rows, cols);
        memcpy(a, x, sizeof(float) * rows * cols), vec_softmax_rows_forward(a, rows, cols);
        memcpy(b, x, sizeof(float) * rows * cols), vec_softmax_rows_forward_generic(b, rows, cols);
        t_close(pass ? "vec_softmax short rows" : "vec_softmax rows", a, ref, rows * cols, 1e-9, 1e-6, 1e-6);
        t_close(pass ? "vec_softmax short rows generic" : "vec_softmax rows generic", b, ref, rows * cols, 1e-9, 1e-6,
                1e-6);
    }
    // softmax down columns == softmax of the transposed rows
    {
        const long rows = (long)R * C / NT;
        for (long r = 0; r < rows; r++)
            for (int c = 0; c < NT; c++) ref[c * rows + r] = x[r * NT + c];
        softmax_rows_forward(ref, NT, (int)rows);
        memcpy(a, x, sizeof(float) * rows * NT), vec_softmax_cols_forward(a, rows, NT, 0, 24);
        vec_softmax_cols_forward(a, rows, NT, 24, NT);
        memcpy(b, x, sizeof(float) * rows * NT), vec_softmax_cols_forward_generic(b, rows, NT, 0, NT);
        float *back = malloc(sizeof(float) * rows * NT);  // the reference, back in (rows, NT) layout
        for (long r = 0; r < rows; r++)
            for (int c = 0; c < NT; c++) back[r * NT + c] = ref[c * rows + r];
        t_close("vec_softmax cols", a, back, rows * NT, 1e-9, 1e-6, 1e-6);
        t_close("vec_softmax cols generic", b, back, rows * NT, 1e-9, 1e-6, 1e-6);
        free(back);
    }
    // LayerNorm (float accumulation) vs the double-accumulating one
    layernorm_forward(ref, x, w, bias, R, C, 1e-5f, 1);
    vec_layernorm_forward(a, x, w, bias, R, C, 1e-5f);
    vec_layernorm_forward_generic(b, x, w, bias, R, C, 1e-5f);
    t_close("vec_layernorm", a, ref, R * C, 1e-5, 1e-5, 1e-6);
    t_close("vec_layernorm generic", b, ref, R * C, 1e-5, 1e-5, 1e-6);
    // transpose (+ add) is exact, including ragged edges
    {
        const int D = 20;
        const long N = (long)R * C / (2 * D);
        vec_transpose_add(a, x, x + D * N, D, N, 0, 17);
        vec_transpose_add(a, x, x + D * N, D, N, 17, N);
        int bad = 0;
        for (long n = 0; n < N; n++)
            for (int d = 0; d < D; d++) bad += a[n * D + d] != x[d * N + n] + x[D * N + d * N + n];
        CHECK(bad == 0, "vec_transpose_add: %d wrong", bad);
    }
    free(x), free(a), free(b), free(ref);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ViT-B-size decoder with random weights (make_decoder_fixtures.py --vitb DIR). */
static void test_vitb(const char *dir_in) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/", dir_in);
    ms_config c;
    ms_param_table tab;
    medsam_error err;
    if (ms_config_preset("vit_b", &c, &err) != MEDSAM_OK || ms_param_table_build(&c, &tab) != 0) {
        CHECK(0, "vit_b config");
        return;
    }
    const ms_param *first = ms_param_find(&tab, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    float *tail = load(dir, "tail_params", (long)(tab.total - first->offset));
    float *params = calloc(tab.total, sizeof(float));
    memcpy(params + first->offset, tail, sizeof(float) * (tab.total - first->offset));
    free(tail);
    ms_weights w;
    ms_weights_bind(&c, params, &w);
    const int D = c.prompt_dim, G = c.grid, S = 4 * G;
    const long N = (long)G * G, SS = (long)S * S;
    float *emb = load(dir, "image_emb", D * N), *box = load(dir, "box", 4);
    float *ref = load(dir, "masks_single", SS), *ref_iou = load(dir, "iou_single", 1);
    float *pe = malloc(sizeof(float) * D * N), *dense = malloc(sizeof(float) * D * N);
    float *masks = malloc(sizeof(float) * SS), iou, sparse[2 * 256];
    float *ws = malloc(sizeof(float) * ms_mask_decoder_workspace_floats(&c, 2, 2));
    int Ns;
    double best = 1e30, t0 = now_ms();
    ms_prompt_dense_pe(&c, &w.pe, pe);
    ms_prompt_dense_embed(&c, &w.pe, NULL, dense, NULL, 2);
    double t_pe = now_ms() - t0;
    for (int rep = 0; rep < 5; rep++) {
        t0 = now_ms();
        ms_prompt_encode(&c, &w.pe, NULL, NULL, 0, box, sparse, &Ns);
        ms_mask_decoder_forward(&c, &w.dec, emb, pe, sparse, Ns, dense, 0, masks, &iou, ws, 2, NULL, NULL, &err);
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    t_close("vit_b masks (1 box, single)", masks, ref, SS, 1e-3, 1e-3, REL_L2);
    // one value near 0: elementwise tolerance only (a relative L2 of one tiny scalar says little)
    t_close("vit_b iou", &iou, ref_iou, 1, 1e-6, 1e-4, 1.0);
    printf("vit_b decoder, 1 box, 2 threads: %.1f ms (best of 5; dense PE once: %.1f ms)\n", best, t_pe);
    // many boxes against one prepared image
    enum { NB = 8 };
    float *img_buf = malloc(sizeof(float) * ms_mask_decoder_image_floats(&c, 1));
    float *bws = malloc(sizeof(float) * ms_mask_decoder_batch_workspace_floats(&c, 2, NB, 2));
    float *bmasks = malloc(sizeof(float) * NB * SS), biou[NB], bsparse[NB * 2 * 256];
    for (int b = 0; b < NB; b++) ms_prompt_encode(&c, &w.pe, NULL, NULL, 0, box, bsparse + b * 2 * D, &Ns);
    ms_dec_image img;
    t0 = now_ms();
    ms_mask_decoder_prepare(&c, &w.dec, emb, pe, dense, 1, img_buf, &img, 2);
    double t_prep = now_ms() - t0;
    t0 = now_ms();
    ms_mask_decoder_run_batch(&c, &w.dec, &img, bsparse, 2, NB, 0, bmasks, biou, bws, 2, &err);
    double t_batch = now_ms() - t0;
    t_close("vit_b batch[7] masks (precomputed)", bmasks + 7 * SS, ref, SS, 1e-3, 1e-3, REL_L2);
    printf("vit_b decoder, %d boxes on one prepared image, 2 threads: prepare %.1f ms + %.1f ms (%.1f ms/box)\n", NB,
           t_prep, t_batch, t_batch / NB);
    free(img_buf), free(bws), free(bmasks);
    free(ws), free(masks), free(pe), free(dense), free(emb), free(box), free(ref), free(ref_iou), free(params);
    ms_param_table_free(&tab);
}

int main(void) {
    model_t m;
    load_tiny(&m);
    test_vecmath();
    test_prompt_encoder(&m);
    test_decoder_case(&m, "box", 0, 0, 1, 0);
    test_decoder_case(&m, "points", 1, 3, 0, 0);
    test_decoder_case(&m, "pointsbox", 1, 2, 1, 0);
    test_decoder_case(&m, "mask", 0, 0, 1, 1);
    test_batch_and_empty(&m);
    const char *vitb = getenv("MS_DECODER_VITB_DIR");
    if (vitb && *vitb) test_vitb(vitb);
    free(m.params);
    return t_summary();
}
