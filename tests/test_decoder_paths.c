/* test_decoder_paths.c — the decoder's speed paths give the same bits as the
 * plain ones: token-side weights packed once per prepared image vs packed per
 * product (ms_dec_image.packed), batched prompts on several threads vs one at a
 * time, and the AVX2 postprocessing rows (sigmoid, bilinear, threshold, label
 * map) vs the scalar formula of postprocess.h. Random weights on the "tiny"
 * config; no fixtures. Tolerance: exact (memcmp / 0 differing values). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/config.h"
#include "model/mask_decoder.h"
#include "model/params.h"
#include "pipeline/postprocess.h"
#include "test.h"

static void test_packed_weights(void) {
    ms_config c;
    ms_param_table tab;
    medsam_error err;
    if (ms_config_preset("tiny", &c, &err) != MEDSAM_OK || ms_param_table_build(&c, &tab) != 0) {
        CHECK(0, "tiny config");
        return;
    }
    float *params = malloc(sizeof(float) * tab.total);
    ms_rng rng;
    ms_rng_seed(&rng, 7);
    ms_rng_normal(&rng, params, tab.total, 0.0, 0.1);
    ms_weights w;
    ms_weights_bind(&c, params, &w);
    const int D = c.prompt_dim, G = c.grid, S = 4 * G, Ns = 2, B = 5;
    const long N = (long)G * G, SS = (long)S * S;
    float *emb = malloc(sizeof(float) * D * N), *pe = malloc(sizeof(float) * D * N);
    float *dense = malloc(sizeof(float) * D * N), *sparse = malloc(sizeof(float) * B * Ns * D);
    ms_rng_normal(&rng, emb, (size_t)D * N, 0.0, 1.0);
    ms_rng_normal(&rng, pe, (size_t)D * N, 0.0, 1.0);
    ms_rng_normal(&rng, dense, (size_t)D * N, 0.0, 0.1);
    ms_rng_normal(&rng, sparse, (size_t)B * Ns * D, 0.0, 1.0);
    /* 64-byte aligned so that the weights can be packed in place */
    const size_t img_n = (ms_mask_decoder_image_floats(&c, 1) + 15) & ~(size_t)15;
    float *img_buf = aligned_alloc(64, img_n * sizeof(float));
    float *ws = malloc(sizeof(float) * ms_mask_decoder_batch_workspace_floats(&c, Ns, B, 3));
    float *m_packed = malloc(sizeof(float) * B * SS), *m_plain = malloc(sizeof(float) * B * SS);
    float *m_threads = malloc(sizeof(float) * B * SS);
    float iou_packed[B], iou_plain[B], iou_threads[B];
    ms_dec_image img, plain;
    ms_mask_decoder_prepare(&c, &w.dec, emb, pe, dense, 1, img_buf, &img, 2);
    CHECK(img.precomputed && img.packed.layers[0].lin1 && img.packed.final_out && img.packed.hyper[0][2] &&
              img.packed.iou[c.iou_head_depth - 1],
          "prepare(precompute = 1) on an aligned buffer left weights unpacked");
    plain = img;
    memset(&plain.packed, 0, sizeof plain.packed);
    medsam_status s1 = ms_mask_decoder_run_batch(&c, &w.dec, &img, sparse, Ns, B, 0, m_packed, iou_packed, ws, 1, &err);
    medsam_status s2 = ms_mask_decoder_run_batch(&c, &w.dec, &plain, sparse, Ns, B, 0, m_plain, iou_plain, ws, 1, &err);
    medsam_status s3 =
        ms_mask_decoder_run_batch(&c, &w.dec, &img, sparse, Ns, B, 0, m_threads, iou_threads, ws, 3, &err);
    CHECK(s1 == MEDSAM_OK && s2 == MEDSAM_OK && s3 == MEDSAM_OK, "run_batch failed: %s", err.message);
    CHECK(memcmp(m_packed, m_plain, sizeof(float) * B * SS) == 0 && memcmp(iou_packed, iou_plain, sizeof iou_plain) == 0,
          "packed token-side weights change the masks or IoU");
    CHECK(memcmp(m_packed, m_threads, sizeof(float) * B * SS) == 0 &&
              memcmp(iou_packed, iou_threads, sizeof iou_plain) == 0,
          "5 prompts on 3 threads differ from 1 thread");
    /* the one-prompt preparation (segment.c: no packed copies) gives the same bits */
    float *un_buf = malloc(sizeof(float) * ms_mask_decoder_image_floats_unpacked(&c, 1));
    ms_dec_image un;
    ms_mask_decoder_prepare_unpacked(&c, &w.dec, emb, pe, dense, 1, un_buf, &un, 2);
    CHECK(un.precomputed && !un.packed.layers[0].lin1 && !un.packed.final_out && !un.packed.iou[0],
          "prepare_unpacked packed weights");
    medsam_status s4 = ms_mask_decoder_run_batch(&c, &w.dec, &un, sparse, Ns, B, 0, m_plain, iou_plain, ws, 2, &err);
    CHECK(s4 == MEDSAM_OK && memcmp(m_packed, m_plain, sizeof(float) * B * SS) == 0 &&
              memcmp(iou_packed, iou_plain, sizeof iou_plain) == 0,
          "prepare_unpacked changes the masks or IoU");
    free(un_buf);
    free(img_buf), free(ws), free(m_packed), free(m_plain), free(m_threads);
    free(emb), free(pe), free(dense), free(sparse), free(params);
    ms_param_table_free(&tab);
}

/* postprocess.h's formula, scalar, double sums; sig: sigmoid already applied. */
static float ref_bilinear(const float *sig, int ih, int iw, int oh, int ow, long y, long x) {
    float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
    long i[2][2];
    float l[2][2];  // [axis][tap]
    const long dst[2] = {y, x}, in[2] = {ih, iw}, out[2] = {oh, ow};
    const float sc[2] = {sy, sx};
    for (int a = 0; a < 2; a++) {
        if (in[a] == out[a]) {
            i[a][0] = i[a][1] = dst[a], l[a][0] = 1.0f, l[a][1] = 0.0f;
            continue;
        }
        double src = (double)sc[a] * ((double)dst[a] + 0.5) - 0.5;
        if (src < 0) src = 0;
        i[a][0] = (long)src;
        i[a][1] = i[a][0] + (i[a][0] < in[a] - 1 ? 1 : 0);
        l[a][1] = (float)(src - (double)i[a][0]);
        l[a][0] = 1.0f - l[a][1];
    }
    float w00 = l[0][0] * l[1][0], w01 = l[0][0] * l[1][1], w10 = l[0][1] * l[1][0], w11 = l[0][1] * l[1][1];
    double acc = (double)w00 * sig[i[0][0] * iw + i[1][0]] + (double)w01 * sig[i[0][0] * iw + i[1][1]];
    acc += (double)w10 * sig[i[0][1] * iw + i[1][0]];
    acc += (double)w11 * sig[i[0][1] * iw + i[1][1]];
    return (float)acc;
}

static void test_postprocess_rows(void) {
    const int sizes[][4] = {{256, 256, 512, 512}, {40, 40, 37, 61}, {256, 256, 300, 503}, {17, 23, 17, 9}};
    ms_rng rng;
    ms_rng_seed(&rng, 11);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int ih = sizes[k][0], iw = sizes[k][1], oh = sizes[k][2], ow = sizes[k][3];
        const long ni = (long)ih * iw, no = (long)oh * ow;
        float *lg = malloc(sizeof(float) * ni), *sig = malloc(sizeof(float) * ni), *one = malloc(sizeof(float));
        float *prob = malloc(sizeof(float) * no);
        uint8_t *mask = malloc(no), *lab = malloc(no);
        ms_rng_normal(&rng, lg, ni, 0.0, 4.0);
        lg[0] = -200.0f, lg[1] = 150.0f, lg[2] = 0.0f;  // sigmoid's clamped ends
        for (long i = 0; i < ni; i++) {  // reference sigmoid: a 1x1 postprocess is the sigmoid itself
            ms_postprocess_prob(lg + i, 1, 1, 1, 1, one);
            sig[i] = *one;
        }
        ms_postprocess_prob(lg, ih, iw, oh, ow, prob);
        ms_postprocess_mask(lg, ih, iw, oh, ow, mask);
        for (long p = 0; p < no; p++) lab[p] = (uint8_t)(p % 3 == 0 ? 5 : 1);  // labels to raise (1) or keep (5)
        ms_postprocess_label(lg, ih, iw, oh, ow, 3, lab);
        long bad_p = 0, bad_m = 0, bad_l = 0;
        for (long y = 0; y < oh; y++)
            for (long x = 0; x < ow; x++) {
                const long p = y * ow + x;
                const float r = ref_bilinear(sig, ih, iw, oh, ow, y, x);
                bad_p += memcmp(&r, &prob[p], sizeof r) != 0;
                bad_m += mask[p] != (r > 0.5f);
                bad_l += lab[p] != (p % 3 == 0 ? 5 : (r > 0.5f ? 3 : 1));
            }
        CHECK(bad_p == 0 && bad_m == 0 && bad_l == 0,
              "postprocess %dx%d -> %dx%d: %ld probabilities, %ld mask pixels, %ld labels differ from the scalar formula",
              ih, iw, oh, ow, bad_p, bad_m, bad_l);
        free(lg), free(sig), free(one), free(prob), free(mask), free(lab);
    }
}

int main(void) {
    test_packed_weights();
    test_postprocess_rows();
    return t_summary();
}
