/* test_model_load.c — medsam_model_load on the layouts users have (plain
 * state_dict, {"model": ...} training checkpoint, DDP "module." keys, fp16) and
 * on broken ones (wrong shape, missing tensor, NaN): checkpoints are written
 * with the project's own .pth writer from the tiny fixture model. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "api/model_internal.h"
#include "medsam.h"
#include "test.h"
#include "weights/pth.h"

#define TINY "tests/fixtures/tiny/model.pth"

typedef enum { PLAIN, WRAPPED, DDP, HALF, WRONG_SHAPE, MISSING, NAN_VALUE, INF_VALUE, EXTRA } variant;

/* Writes the tiny model's parameters in the given layout; returns 0 on success. */
static int write_variant(const medsam_model *m, variant v, const char *path) {
    pth_writer *w = pth_writer_new();
    pth_value *sd = pth_writer_ordered_dict(w);
    uint16_t *half = NULL;
    float *nan_copy = NULL;
    if (v == HALF) half = malloc(m->table.total * sizeof(uint16_t));
    for (int i = 0; i < m->table.count; i++) {
        const ms_param *p = &m->table.items[i];
        const float *data = m->params + p->offset;
        int64_t shape[4];
        for (int d = 0; d < p->ndim; d++) shape[d] = p->shape[d];
        char name[128];
        snprintf(name, sizeof name, "%s%s", v == DDP ? "module." : "", p->name);
        if (v == MISSING && i == 7) continue;
        if (v == WRONG_SHAPE && !strcmp(p->name, "image_encoder.blocks.1.mlp.lin1.weight")) shape[0] -= 1;
        if (v == NAN_VALUE && !strcmp(p->name, "mask_decoder.iou_token.weight")) {
            nan_copy = malloc(p->numel * sizeof(float));
            memcpy(nan_copy, data, p->numel * sizeof(float));
            nan_copy[3] = NAN;
            data = nan_copy;
        }
        if (v == INF_VALUE && !strcmp(p->name, "image_encoder.blocks.1.mlp.lin1.weight")) {  // in the third 64-value block
            nan_copy = malloc(p->numel * sizeof(float));
            memcpy(nan_copy, data, p->numel * sizeof(float));
            nan_copy[130] = INFINITY, nan_copy[p->numel - 1] = -INFINITY;
            data = nan_copy;
        }
        pth_value *t;
        if (v == HALF) {
            uint16_t *h = half + p->offset;
            for (size_t k = 0; k < p->numel; k++) { /* round to nearest even, values here are normal */
                uint32_t b;
                memcpy(&b, &data[k], 4);
                uint32_t sign = (b >> 16) & 0x8000, exp = (b >> 23) & 0xff, man = b & 0x7fffff;
                int e = (int)exp - 127 + 15;
                uint16_t r;
                if (exp == 0 || e <= 0) r = (uint16_t)sign;
                else {
                    uint32_t mant = man >> 13, rest = man & 0x1fff;
                    uint32_t out = ((uint32_t)e << 10) | mant;
                    if (rest > 0x1000 || (rest == 0x1000 && (mant & 1))) out++;
                    r = (uint16_t)(sign | out);
                }
                h[k] = r;
            }
            t = pth_writer_tensor(w, PTH_F16, h, p->ndim, shape);
        } else {
            t = pth_writer_tensor_f32(w, data, p->ndim, shape);
        }
        pth_writer_set(w, sd, name, t);
    }
    if (v == EXTRA) {
        int64_t s1[1] = {3};
        static const float extra[3] = {1, 2, 3};
        pth_writer_set(w, sd, "pixel_mean", pth_writer_tensor_f32(w, extra, 1, s1));
    }
    pth_value *root = sd;
    if (v == WRAPPED) {
        root = pth_writer_dict(w);
        pth_writer_set(w, root, "model", sd);
        pth_writer_set(w, root, "epoch", pth_writer_int(w, 3));
        pth_writer_set(w, root, "optimizer", pth_writer_dict(w));
    }
    medsam_error err;
    medsam_status st = pth_writer_save(w, root, path, &err);
    if (st) printf("write %s: %s\n", path, err.message);
    pth_writer_free(w);
    free(half);
    free(nan_copy);
    return st;
}

/* Every parameter within |got - ref| <= rtol*|ref| + atol. */
static void expect_same(const medsam_model *ref, const char *path, const char *what, double rtol, double atol) {
    medsam_error err;
    medsam_model *m = NULL;
    medsam_status st = medsam_model_load(path, &m, &err);
    CHECK(st == MEDSAM_OK, "%s: load: %s", what, err.message);
    if (st) return;
    CHECK(m->table.total == ref->table.total, "%s: parameter count", what);
    double worst = 0;
    for (size_t i = 0; i < ref->table.total; i++) {
        double d = fabs((double)m->params[i] - ref->params[i]) / (rtol * fabs(ref->params[i]) + atol);
        if (d > worst) worst = d;
    }
    CHECK(worst <= 1.0, "%s: parameters differ by %g of the tolerance", what, worst);
    printf("ok   %-36s largest difference %.3g of the tolerance\n", what, worst);
    medsam_model_free(m);
}

static void expect_error(const char *path, const char *what, medsam_status code, const char *needle) {
    medsam_error err = {0};
    medsam_model *m = NULL;
    medsam_status st = medsam_model_load(path, &m, &err);
    CHECK(st == code && m == NULL, "%s: status %s, expected %s", what, medsam_status_name(st), medsam_status_name(code));
    CHECK(strstr(err.message, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.message, needle);
    CHECK(strstr(err.message, path) != NULL, "%s: message '%s' does not name the file", what, err.message);
    printf("%s %-36s %s\n", st == code ? "ok  " : "FAIL", what, err.message);
    medsam_model_free(m);
}

int main(void) {
    medsam_error err;
    medsam_model *ref = NULL;
    medsam_status st = medsam_model_load(TINY, &ref, &err);
    CHECK(st == MEDSAM_OK, "load %s: %s", TINY, err.message);
    if (st) return t_summary();
    char dir[] = "/tmp/medsam_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    static const struct { variant v; const char *name; } OK[] = {
        {PLAIN, "plain state_dict (C writer)"}, {WRAPPED, "{\"model\": state_dict, ...}"},
        {DDP, "DDP module. prefixes"}, {EXTRA, "extra non-model tensor"},
    };
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        snprintf(path, sizeof path, "%s/ok%zu.pth", dir, i);
        CHECK(write_variant(ref, OK[i].v, path) == 0, "write %s", OK[i].name);
        expect_same(ref, path, OK[i].name, 0.0, 1e-30); /* bit-exact */
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/half.pth", dir);
    CHECK(write_variant(ref, HALF, path) == 0, "write fp16");
    expect_same(ref, path, "float16 tensors converted", 4.9e-4, 6.2e-5); /* half precision */
    unlink(path);

    snprintf(path, sizeof path, "%s/shape.pth", dir);
    write_variant(ref, WRONG_SHAPE, path);
    expect_error(path, "wrong shape", MEDSAM_ERR_SHAPE, "image_encoder.blocks.1.mlp.lin1.weight': expected shape (192,48), got (191,48)");
    unlink(path);
    snprintf(path, sizeof path, "%s/missing.pth", dir);
    write_variant(ref, MISSING, path);
    expect_error(path, "missing tensor", MEDSAM_ERR_SHAPE, "missing tensor 'image_encoder.blocks.0.attn.qkv.weight'");
    unlink(path);
    snprintf(path, sizeof path, "%s/nan.pth", dir);
    write_variant(ref, NAN_VALUE, path);
    expect_error(path, "NaN in a tensor", MEDSAM_ERR_NUMERIC, "'mask_decoder.iou_token.weight' holds a non-finite value at index 3");
    unlink(path);
    snprintf(path, sizeof path, "%s/inf.pth", dir);
    write_variant(ref, INF_VALUE, path);
    expect_error(path, "inf in a tensor", MEDSAM_ERR_NUMERIC,
                 "'image_encoder.blocks.1.mlp.lin1.weight' holds a non-finite value at index 130");
    unlink(path);
    expect_error("tests/fixtures/pth/malicious_reduce.pth", "malicious pickle", MEDSAM_ERR_UNSAFE, "posix.system");
    expect_error("tests/fixtures/images/camera.png", "not a checkpoint", MEDSAM_ERR_FORMAT, "not");
    rmdir(dir);

    medsam_model_info info;
    medsam_model_get_info(ref, &info);
    CHECK(info.img_size == 128 && info.embed_dim == 48 && info.depth == 4 && info.emb_channels == 64 &&
              info.emb_size == 8 && info.mask_size == 32 && info.num_params == 342248,
          "tiny model info");
    medsam_model_free(ref);
    return t_summary();
}
