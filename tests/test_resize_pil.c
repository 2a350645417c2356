/* test_resize_pil.c — ms_resize_pil_bilinear against Pillow 9.4's Image.resize(BILINEAR)
 * (tools/ref/make_pil_resize_fixtures.py): every output byte identical on 18 synthetic
 * cases (grey and RGB, up, down, mixed, 1-pixel sides), and the FNV-1a hash of what
 * SAM's ResizeLongestSide.apply_image returns for the fixture images at 128, 256 and
 * 1024; the result does not depend on the thread count. */
#include <stdint.h>

#include "core/npy.h"
#include "io/image.h"
#include "io/npz.h"
#include "pipeline/resize_pil.h"
#include "test.h"

#define FIX "tests/fixtures/pil_resize/"

static const int CASES[][5] = {
    {7, 5, 13, 11, 1}, {7, 5, 13, 11, 3}, {16, 16, 5, 5, 1}, {33, 17, 8, 40, 3},
    {1, 1, 3, 4, 1}, {1, 9, 1, 3, 3}, {9, 1, 4, 1, 1}, {20, 30, 20, 7, 3},
    {20, 30, 9, 30, 1}, {41, 23, 64, 36, 3}, {100, 64, 32, 20, 1}, {64, 100, 41, 64, 3},
    {37, 29, 111, 87, 1}, {50, 51, 51, 50, 3}, {3, 200, 2, 128, 1}, {127, 3, 128, 3, 3},
    {255, 191, 64, 48, 3}, {60, 90, 91, 137, 1},
};
static const int TARGETS[] = {128, 1024, 256};
static const char *IMAGES[] = {"camera", "cell", "chelsea", "horse", "medsam_demo"};

static uint64_t fnv1a64(const uint8_t *b, size_t n) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

/* The fixture script's xorshift32 bytes. */
static void xorshift_fill(uint32_t seed, uint8_t *out, size_t n) {
    uint32_t x = (uint32_t)(seed * 2654435761u + 1u);
    if (!x) x = 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (uint8_t)(x >> 24);
    }
}

// ref: segment_anything/utils/transforms.py:ResizeLongestSide.get_preprocess_shape
static void preprocess_shape(int h, int w, int T, int *nh, int *nw) {
    double scale = T * 1.0 / (h > w ? h : w);
    *nh = (int)(h * scale + 0.5);
    *nw = (int)(w * scale + 0.5);
}

static void check_cases(void) {
    medsam_error err;
    ms_npz *z = NULL;
    medsam_status st = ms_npz_open(FIX "cases.npz", &z, &err);
    CHECK(st == MEDSAM_OK, "open cases.npz: %s", err.message);
    if (st) return;
    for (int i = 0; i < (int)(sizeof CASES / sizeof CASES[0]); i++) {
        const int ih = CASES[i][0], iw = CASES[i][1], oh = CASES[i][2], ow = CASES[i][3], ch = CASES[i][4];
        char name[32];
        ms_npy ref = {0}, inh = {0};
        snprintf(name, sizeof name, "out_%d", i);
        st = ms_npz_get(z, name, &ref, &err);
        snprintf(name, sizeof name, "inhash_%d", i);
        if (!st) st = ms_npz_get(z, name, &inh, &err);
        CHECK(st == MEDSAM_OK, "case %d: %s", i, err.message);
        if (st) {
            ms_npy_free(&ref), ms_npy_free(&inh);
            continue;
        }
        const size_t nin = (size_t)ih * iw * ch, nout = (size_t)oh * ow * ch;
        uint8_t *in = malloc(nin), *out = malloc(nout), *out1 = malloc(nout);
        xorshift_fill((uint32_t)(i + 1), in, nin);
        CHECK((int64_t)fnv1a64(in, nin) == ((int64_t *)inh.data)[0], "case %d: generated input differs", i);
        CHECK(ref.dtype == MS_NPY_U8 && (size_t)ref.count == nout, "case %d: fixture shape", i);
        st = ms_resize_pil_bilinear(in, ih, iw, ch, oh, ow, out, 2, &err);
        CHECK(st == MEDSAM_OK, "case %d: %s", i, err.message);
        ms_resize_pil_bilinear(in, ih, iw, ch, oh, ow, out1, 1, &err);
        if (!st && (size_t)ref.count == nout) {
            long diff = 0;
            for (size_t k = 0; k < nout; k++) diff += out[k] != ((uint8_t *)ref.data)[k];
            CHECK(diff == 0, "case %d (%dx%dx%d -> %dx%d): %ld of %zu bytes differ from Pillow", i, iw, ih, ch, ow, oh,
                  diff, nout);
            CHECK(memcmp(out, out1, nout) == 0, "case %d: 1 and 2 threads differ", i);
        }
        free(in), free(out), free(out1);
        ms_npy_free(&ref), ms_npy_free(&inh);
    }
    ms_npz_close(z);
}

static void check_images(void) {
    medsam_error err;
    ms_npz *z = NULL;
    medsam_status st = ms_npz_open(FIX "images.npz", &z, &err);
    CHECK(st == MEDSAM_OK, "open images.npz: %s", err.message);
    if (st) return;
    for (size_t i = 0; i < sizeof IMAGES / sizeof IMAGES[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/images/%s.png", IMAGES[i]);
        ms_image img;
        st = ms_image_read(path, &img, &err);
        CHECK(st == MEDSAM_OK && img.bit_depth == 8, "%s: %s", path, err.message);
        if (st) continue;
        const int W = img.width, H = img.height, ch = img.channels >= 3 ? 3 : 1;
        uint8_t *in = malloc((size_t)W * H * ch);
        for (size_t p = 0; p < (size_t)W * H; p++)
            for (int c = 0; c < ch; c++) in[p * ch + c] = img.u8[p * img.channels + c];  // alpha dropped
        for (size_t t = 0; t < sizeof TARGETS / sizeof TARGETS[0]; t++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%d", IMAGES[i], TARGETS[t]);
            ms_npy ref = {0};
            st = ms_npz_get(z, name, &ref, &err);
            CHECK(st == MEDSAM_OK && ref.count == 4, "%s: %s", name, err.message);
            if (st) continue;
            const int64_t *r = ref.data;
            int nh, nw;
            preprocess_shape(H, W, TARGETS[t], &nh, &nw);
            CHECK(nh == r[0] && nw == r[1] && ch == r[2], "%s: shape %dx%dx%d, Pillow %lldx%lldx%lld", name, nh, nw, ch,
                  (long long)r[0], (long long)r[1], (long long)r[2]);
            uint8_t *out = malloc((size_t)nh * nw * ch);
            st = ms_resize_pil_bilinear(in, H, W, ch, nh, nw, out, 2, &err);
            CHECK(st == MEDSAM_OK, "%s: %s", name, err.message);
            if (!st) {
                uint64_t h = fnv1a64(out, (size_t)nh * nw * ch);
                CHECK((int64_t)h == r[3], "%s: %dx%d -> %dx%d differs from torchvision/Pillow (hash)", name, W, H, nw,
                      nh);
                if ((int64_t)h == r[3]) printf("ok   %-20s %4dx%-4d -> %4dx%-4d x%d identical\n", name, W, H, nw, nh, ch);
            }
            free(out);
            ms_npy_free(&ref);
        }
        free(in);
        ms_image_free(&img);
    }
    ms_npz_close(z);
}

static void check_errors(void) {
    uint8_t px[12] = {0}, out[12];
    medsam_error err;
    CHECK(ms_resize_pil_bilinear(px, 2, 2, 2, 2, 2, out, 1, &err) == MEDSAM_ERR_ARG, "2 channels refused");
    CHECK(ms_resize_pil_bilinear(px, 0, 2, 1, 2, 2, out, 1, &err) == MEDSAM_ERR_ARG, "empty input refused");
    CHECK(ms_resize_pil_bilinear(px, 2, 2, 3, 2, 2, out, 1, &err) == MEDSAM_OK && !memcmp(px, out, 12),
          "same size copies");
}

int main(void) {
    check_cases();
    check_images();
    check_errors();
    return t_summary();
}
