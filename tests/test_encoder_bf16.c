/* test_encoder_bf16.c — `--precision bf16` on the ViT encoder (the tiny
 * fixture model) and the LiteMedSAM TinyViT encoder (its fixture model), on
 * real images: every emulated/native vdpbf16ps path gives the same embedding
 * bits, the AMX path and all paths stay near fp32 (relative L2 printed), masks
 * agree with fp32, results do not depend on threads, going back to fp32 gives
 * today's bits, and an unknown precision is refused. */
#include <stdint.h>

#include "api/model_internal.h"
#include "medsam.h"
#include "model/image_encoder.h"
#include "model/tinyvit.h"
#include "test.h"

#define TINY "tests/fixtures/tiny/model.pth"
#define LITE "tests/fixtures/lite/model.pth"

static double rel_l2(const float *a, const float *b, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return sqrt(num / (den > 0 ? den : 1));
}

static float *encode(medsam_model *m, const float *x, int threads, long *n) {
    medsam_error err;
    medsam_embedding *e = NULL;
    if (medsam_encode(m, x, threads, &e, &err)) {
        printf("encode: %s\n", err.message);
        return NULL;
    }
    const float *d = medsam_embedding_data(e, n);
    float *copy = malloc(sizeof(float) * (size_t)*n);
    memcpy(copy, d, sizeof(float) * (size_t)*n);
    medsam_embedding_free(e);
    return copy;
}

static uint8_t *mask_of(medsam_model *m, const float *emb, long n, int W, int H, medsam_box box) {
    medsam_error err;
    medsam_embedding *e = NULL;
    uint8_t *mask = malloc((size_t)W * H);
    if (medsam_embedding_from_data(m, emb, n, &e, &err) ||
        medsam_decode_boxes(m, e, W, H, &box, 1, 1, NULL, NULL, mask, &err)) {
        printf("decode: %s\n", err.message);
        free(mask), mask = NULL;
    }
    medsam_embedding_free(e);
    return mask;
}

/* Points the model's bf16 products at `p` (ViT: beside the model; TinyViT: in its state). */
static void set_path(medsam_model *m, gemm_bf16_path p) {
    if (m->bf16) ((ms_vit_bf16 *)m->bf16)->path = p;
    else if (m->cfg.encoder == MS_ENC_TINYVIT) ((ms_tinyvit_state *)m->enc_state)->bf16->path = p;
}

static int bf16_on(const medsam_model *m) {
    return m->bf16 || (m->cfg.encoder == MS_ENC_TINYVIT && ((ms_tinyvit_state *)m->enc_state)->bf16);
}

static void test_image(medsam_model *m, const char *path) {
    medsam_error err;
    float *x = NULL;
    int W, H;
    if (medsam_model_prepare_input(m, path, 1, &x, &W, &H, &err)) {
        CHECK(0, "%s: %s", path, err.message);
        return;
    }
    long n = 0;
    CHECK(!medsam_model_set_precision(m, MEDSAM_PRECISION_FP32, &err), "fp32");
    float *e32 = encode(m, x, 2, &n);
    CHECK(!medsam_model_set_precision(m, MEDSAM_PRECISION_BF16, &err), "bf16: %s", err.message);
    CHECK(medsam_model_get_precision(m) == MEDSAM_PRECISION_BF16, "precision reads back bf16");
    const gemm_bf16_path paths[] = {GEMM_BF16_PORTABLE, GEMM_BF16_EMU_AVX2, GEMM_BF16_EMU_AVX512, GEMM_BF16_NATIVE,
                                    GEMM_BF16_AMX};
    float *ref = NULL; /* the portable emulation's embedding */
    for (int p = 0; p < 4; p++) {
        if (!gemm_bf16_path_supported(paths[p])) {
            printf("skip %s (not on this CPU)\n", gemm_bf16_path_name(paths[p]));
            continue;
        }
        set_path(m, paths[p]);
        long n1 = 0, n3 = 0;
        float *e1 = encode(m, x, 1, &n1), *e3 = encode(m, x, 3, &n3);
        CHECK(e1 && e3 && n1 == n && !memcmp(e1, e3, sizeof(float) * (size_t)n), "%s %s: 1 thread == 3 threads",
              path, gemm_bf16_path_name(paths[p]));
        const double r = e1 && e32 ? rel_l2(e1, e32, n) : 1;
        printf("%s %-32s embedding relative L2 vs fp32 %.2e\n", path, gemm_bf16_path_name(paths[p]), r);
        CHECK(r < 1e-2, "%s %s: relative L2 %.2e vs fp32 (want < 1e-2)", path, gemm_bf16_path_name(paths[p]), r);
        if (!ref) {
            ref = e1, e1 = NULL;
        } else if (paths[p] != GEMM_BF16_AMX) {
            CHECK(!memcmp(e1, ref, sizeof(float) * (size_t)n), "%s %s == portable emulation, bit for bit", path,
                  gemm_bf16_path_name(paths[p]));
        } else {
            CHECK(rel_l2(e1, ref, n) < 1e-2, "%s amx near the emulation", path);
        }
        free(e1), free(e3);
    }
    /* masks: a central box and an off-centre one, bf16 (best path) vs fp32 */
    set_path(m, gemm_bf16_best_path());
    long nb = 0;
    float *ebf = encode(m, x, 2, &nb);
    const medsam_box boxes[2] = {{W * 0.25f, H * 0.25f, W * 0.75f, H * 0.75f}, {W * 0.1f, H * 0.5f, W * 0.6f, H * 0.9f}};
    for (int b = 0; b < 2 && ebf && e32; b++) {
        uint8_t *m32 = mask_of(m, e32, n, W, H, boxes[b]), *mbf = mask_of(m, ebf, n, W, H, boxes[b]);
        long inter = 0, uni = 0;
        for (long i = 0; m32 && mbf && i < (long)W * H; i++) inter += m32[i] && mbf[i], uni += m32[i] || mbf[i];
        const double iou = uni ? (double)inter / uni : 1.0;
        printf("%s box %d: mask IoU bf16 vs fp32 %.5f (%ld px in the union)\n", path, b, iou, uni);
        CHECK(m32 && mbf && iou >= 0.99, "%s box %d: IoU %.5f >= 0.99", path, b, iou);
        free(m32), free(mbf);
    }
    /* back to fp32: today's bits */
    CHECK(!medsam_model_set_precision(m, MEDSAM_PRECISION_FP32, &err) && !bf16_on(m), "back to fp32");
    long n2 = 0;
    float *again = encode(m, x, 2, &n2);
    CHECK(again && e32 && !memcmp(again, e32, sizeof(float) * (size_t)n), "%s: fp32 after bf16 is bit-identical", path);
    free(again), free(ebf), free(ref), free(e32), free(x);
}

int main(void) {
    medsam_error err;
    medsam_model *m = NULL;
    if (medsam_model_load(TINY, &m, &err)) {
        printf("FAIL %s: %s\n0 passed, 1 failed\n", TINY, err.message);
        return 1;
    }
    printf("bf16 kernel: %s\n", medsam_bf16_kernel());
    const char *images[] = {"tests/fixtures/images/cell.png", "tests/fixtures/images/medsam_demo.png",
                            "tests/fixtures/images/retina.jpg", "tests/fixtures/images/camera.png"};
    for (int i = 0; i < 4; i++) test_image(m, images[i]);
    medsam_model_free(m);

    medsam_precision p;
    CHECK(medsam_precision_parse("int8", &p, &err) == MEDSAM_ERR_ARG && strstr(err.message, "int8"),
          "unknown precision refused: %s", err.message);
    CHECK(!medsam_precision_parse("bf16", &p, &err) && p == MEDSAM_PRECISION_BF16, "bf16 parses");
    CHECK(!strcmp(medsam_precision_name(MEDSAM_PRECISION_BF16), "bf16"), "name");
    if (!medsam_model_load(LITE, &m, &err)) {
        printf("LiteMedSAM fixture (%s)\n", m->enc_ops->family);
        test_image(m, images[1]);  // one image: the 256x256 MBConv stage is slow under qemu (make test-noavx2)
        medsam_model_free(m);
    } else {
        CHECK(0, "%s: %s", LITE, err.message);
    }
    return t_summary();
}
