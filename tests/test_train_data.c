/* test_train_data.c — training data from NIfTI pairs and npz files
 * (train/dataset_volume.h) on tiny volumes written here, and the dust removal
 * (train/label_dust.h).
 *
 * Checked: which slices become samples (foreground after dust, in file then z
 * order, nnU-Net _0000 image names); each sample's image equals, bit for bit, what
 * the inference path gives for that slice (medsam_volume_read +
 * medsam_volume_normalize + medsam_preprocess_pixels, as src/api/volume.c does;
 * for a 2-D npz medsam_preprocess_pixels on imgs as `segment --npz`); the mask is
 * the chosen label of the nearest-neighbour resized slice (index
 * floor((k + 0.5) * in / out), checked against skimage.transform.resize(order=0)
 * for every in 1..79 and out 16/32/64/128) and the box (shift 0) its tight bounding
 * box; ms_dataset_draw makes load's generator draws; reloading after another pair
 * gives the same sample; the dust removal keeps a 26-connected diagonal chain and
 * drops smaller objects; one-line errors that name the file. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/npy.h"
#include "io/nifti.h"
#include "io/npz.h"
#include "io/volume.h"
#include "pipeline/zoom.h"
#include "test.h"
#include "train/dataset.h"
#include "train/label_dust.h"

#define S 32 /* model input size for these tests */
enum { NX = 40, NY = 30, NZ = 6 };

static char tmp[256];

static void path(char *out, const char *a, const char *b) { snprintf(out, 512, "%s/%s/%s", tmp, a, b); }

static void mkdirs(const char *sub) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp, sub);
    mkdir(p, 0777);
}

/* int16 CT-like image: smooth ramp over -1000..1000 HU that differs per slice */
static void write_ct(const char *file, int nz, medsam_error *err) {
    ms_volume v;
    ms_volume_init(&v);
    ms_volume_alloc(&v, NX, NY, nz, 1, MS_VOX_INT16, err);
    int16_t *d = v.data; // (nz, NY, NX)
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++) d[(z * NY + y) * NX + x] = (int16_t)(-1000 + 50 * x + 17 * y * (z + 1) % 900);
    ms_nifti_write(file, &v, err);
    ms_volume_free(&v);
}

/* labels: z0 empty; z1 label 1 block; z2 labels 1 and 2; z3 empty; z4 label 3 (3 voxels); z5 label 1 block */
static void fill_labels(uint8_t *g, int nz) {
    memset(g, 0, (size_t)nz * NY * NX);
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++) {
                uint8_t *p = &g[(z * NY + y) * NX + x];
                if ((z == 1 || z == 2 || z == 5) && y >= 5 && y < 15 && x >= 8 && x < 20) *p = 1;
                if (z == 2 && y >= 18 && y < 26 && x >= 25 && x < 37) *p = 2;
                if (z == 4 && y == 3 && x >= 30 && x < 33) *p = 3;
            }
}

static void write_labels(const char *file, int nz, medsam_error *err) {
    ms_volume v;
    ms_volume_init(&v);
    ms_volume_alloc(&v, NX, NY, nz, 1, MS_VOX_UINT8, err);
    fill_labels(v.data, nz);
    ms_nifti_write(file, &v, err);
    ms_volume_free(&v);
}

/* nearest-neighbour resize of a label slice (skimage order 0, grid mode) */
static void nn_resize(const uint8_t *in, int h, int w, int32_t *out) {
    for (int i = 0; i < S; i++) {
        int sy = (int)floor((i + 0.5) * h / S);
        sy = sy > h - 1 ? h - 1 : sy;
        for (int j = 0; j < S; j++) {
            int sx = (int)floor((j + 0.5) * w / S);
            sx = sx > w - 1 ? w - 1 : sx;
            out[i * S + j] = in[sy * w + sx];
        }
    }
}

/* Checks sample k of ds against the inference preprocessing of slice (u8 (ny, nx, C)) and its labels. */
static void check_sample(const ms_dataset *ds, int k, const uint8_t *px, int nx, int ny, int C, const uint8_t *lab,
                         const char *what) {
    medsam_error err;
    float *img = malloc(3 * S * S * sizeof *img), *gt = malloc(S * S * sizeof *gt), *ref = malloc(3 * S * S * 4);
    int32_t rl[S * S];
    float box[4];
    pyrandom r;
    pyrandom_seed(&r, 5);
    medsam_status st = ms_dataset_load(ds, k, 0, &r, img, gt, box, &err);
    CHECK(st == MEDSAM_OK, "%s: load: %s", what, err.message);
    if (st) goto done;
    CHECK(medsam_preprocess_pixels(px, nx, ny, C, 8, S, 1, ref, &err) == MEDSAM_OK, "ref: %s", err.message);
    long diff = 0;
    for (int p = 0; p < S * S; p++)
        for (int c = 0; c < 3; c++) diff += memcmp(&img[c * S * S + p], &ref[p * 3 + c], sizeof(float)) != 0;
    CHECK(diff == 0, "%s: image differs from the inference preprocessing in %ld of %d values", what, diff, 3 * S * S);
    nn_resize(lab, ny, nx, rl);
    int32_t chosen = -1;
    for (int p = 0; p < S * S; p++)
        if (gt[p] == 1.0f) chosen = rl[p];
    int bad = chosen <= 0, x0 = S, y0 = S, x1 = -1, y1 = -1;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int on = rl[y * S + x] == chosen;
            bad += gt[y * S + x] != (on ? 1.0f : 0.0f);
            if (on) x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
        }
    CHECK(!bad, "%s: mask is not label %d of the nearest-neighbour resized slice (%d pixels)", what, chosen, bad);
    CHECK(box[0] == x0 && box[1] == y0 && box[2] == x1 && box[3] == y1,
          "%s: box %g,%g,%g,%g, tight box %d,%d,%d,%d", what, box[0], box[1], box[2], box[3], x0, y0, x1, y1);
done:
    free(img), free(gt), free(ref);
}

static void test_dust(void) {
    medsam_error err;
    /* 4 x 4 x 3: a diagonal chain of label 1 across the 3 slices (26-connected only), label 2 single voxels */
    int32_t l[3 * 16] = {0};
    l[0 * 16 + 0] = 1, l[1 * 16 + 5] = 1, l[2 * 16 + 10] = 1; /* (0,0,0), (1,1,1), (2,2,2) */
    l[0 * 16 + 3] = 2, l[0 * 16 + 7] = 2;                    /* two face-adjacent voxels of label 2 */
    l[2 * 16 + 15] = 1;                                       /* touches (2,2,2) diagonally in-plane: same object */
    l[0 * 16 + 12] = 3;                                       /* one voxel of label 3 */
    int32_t a[48];
    memcpy(a, l, sizeof a);
    CHECK(ms_label_dust(a, 4, 4, 3, 4, 26, &err) == MEDSAM_OK && a[0] == 1 && a[21] == 1 && a[42] == 1 && a[47] == 1 &&
              a[3] == 0 && a[7] == 0 && a[12] == 0,
          "dust 26: a 4-voxel diagonal object is kept at threshold 4, smaller ones go");
    memcpy(a, l, sizeof a);
    ms_label_dust(a, 4, 4, 3, 5, 26, &err);
    int left = 0;
    for (int i = 0; i < 48; i++) left += a[i] != 0;
    CHECK(left == 0, "dust 26: threshold 5 removes everything (%d left)", left);
    memcpy(a, l, sizeof a);
    ms_label_dust(a, 4, 4, 3, 2, 8, &err);
    CHECK(a[0] == 0 && a[21] == 0 && a[42] == 1 && a[47] == 1 && a[3] == 2 && a[7] == 2 && a[12] == 0,
          "dust 8: per slice, 8-connected (the chain falls apart, in-plane pairs stay)");
    /* different labels touching are different objects */
    int32_t b[4] = {1, 2, 1, 2};
    ms_label_dust(b, 2, 2, 1, 2, 8, &err);
    CHECK(b[0] == 1 && b[1] == 2 && b[2] == 1 && b[3] == 2, "dust: two 2-voxel objects of labels 1 and 2 kept");
    ms_label_dust(b, 2, 2, 1, 3, 8, &err);
    CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0, "dust: labels are not merged");
    CHECK(ms_label_dust(b, 2, 2, 1, 3, 6, &err) == MEDSAM_ERR_ARG, "dust: connectivity 6 refused");
}

static ms_dataset_opts opts(int64_t v3, int64_t p2) {
    ms_dataset_opts o = ms_dataset_default_opts();
    o.intensity = (medsam_intensity){MEDSAM_INTENSITY_WINDOW, 40, 400};
    o.min_voxels_3d = v3, o.min_pixels_2d = p2;
    return o;
}

static void test_nifti(void) {
    medsam_error err;
    char p[512], q[512];
    mkdirs("nii"), mkdirs("nii/imgs"), mkdirs("nii/gts");
    path(p, "nii/imgs", "a.nii.gz"), write_ct(p, NZ, &err);
    path(p, "nii/gts", "a.nii.gz"), write_labels(p, NZ, &err);
    path(p, "nii/imgs", "b_0000.nii"), write_ct(p, 3, &err); /* nnU-Net image name, plain .nii */
    path(p, "nii/gts", "b.nii"), write_labels(p, 3, &err);
    path(p, "nii/gts", "c.nii.gz"), write_labels(p, 3, &err); /* no image: not a pair */
    snprintf(q, sizeof q, "%s/nii", tmp);

    ms_dataset ds;
    ms_dataset_opts o = opts(0, 0);
    medsam_status st = ms_dataset_open_opts(q, S, &o, &ds, &err);
    CHECK(st == MEDSAM_OK, "open NIfTI: %s", err.message);
    if (st) return;
    /* a: z 1, 2, 4, 5; b: z 1, 2 (z 4 of a holds a 3-voxel object: 3 x 1 pixels, kept by the resize) */
    const char *want[] = {"a.nii.gz:1", "a.nii.gz:2", "a.nii.gz:4", "a.nii.gz:5", "b.nii:1", "b.nii:2"};
    int same = ds.count == 6 && ds.layout == MS_DATA_NIFTI && ds.files == 2 && ds.files_skipped == 0;
    for (int i = 0; same && i < 6; i++) same = !strcmp(ds.names[i], want[i]);
    CHECK(same, "NIfTI samples: %d (%s ... ), want the 6 slices with labels in file, z order", ds.count,
          ds.count ? ds.names[0] : "");

    /* the inference path on the same volume */
    medsam_volume *vol = NULL;
    medsam_intensity how = {MEDSAM_INTENSITY_WINDOW, 40, 400};
    uint8_t *u8 = malloc(NX * NY * NZ), *lab = malloc(NX * NY * NZ);
    path(p, "nii/imgs", "a.nii.gz");
    CHECK(medsam_volume_read(p, &vol, &err) == MEDSAM_OK && medsam_volume_normalize(vol, &how, u8, NULL, &err) == MEDSAM_OK,
          "inference path: %s", err.message);
    fill_labels(lab, NZ);
    const int zs[4] = {1, 2, 4, 5};
    for (int k = 0; k < 4; k++) {
        char what[64];
        snprintf(what, sizeof what, "NIfTI sample %d (z %d)", k, zs[k]);
        check_sample(&ds, k, u8 + zs[k] * NX * NY, NX, NY, 1, lab + zs[k] * NX * NY, what);
    }
    /* another pair, then back: the cache gives the same sample */
    check_sample(&ds, 5, u8 + 2 * NX * NY, NX, NY, 1, lab + 2 * NX * NY, "NIfTI pair b z 2 (same image as a's)");
    check_sample(&ds, 1, u8 + 2 * NX * NY, NX, NY, 1, lab + 2 * NX * NY, "NIfTI pair a z 2 again");
    medsam_volume_free(vol);

    /* draw = load's generator draws, label choice included (z 2 has two labels) */
    {
        float *img = malloc(3 * S * S * sizeof *img), *gt = malloc(S * S * sizeof *gt);
        int eq = 1;
        pyrandom a, b;
        pyrandom_seed(&a, 11), pyrandom_seed(&b, 11);
        int seen1 = 0, seen2 = 0;
        for (int rep = 0; rep < 8; rep++)
            for (int i = 0; i < ds.count; i++) {
                float ba[4], bb[4];
                eq &= ms_dataset_load(&ds, i, 3, &a, img, gt, ba, &err) == MEDSAM_OK;
                eq &= ms_dataset_draw(&ds, i, 3, &b, bb, &err) == MEDSAM_OK;
                eq &= !memcmp(ba, bb, sizeof ba);
                if (i == 1) *(gt[8 * S + 10] == 1.0f ? &seen1 : &seen2) = 1; /* (8, 10): inside label 1 */
            }
        eq &= !memcmp(&a, &b, sizeof a);
        CHECK(eq, "draw makes load's draws (boxes and generator state)");
        CHECK(seen1 && seen2, "both labels of a slice get chosen");
        free(img), free(gt);
    }
    ms_dataset_free(&ds);

    /* dust at pre_CT_MR.py's rule, scaled down: 3-D objects under 50 voxels, then per slice under 4 pixels */
    o = opts(50, 4);
    st = ms_dataset_open_opts(q, S, &o, &ds, &err);
    CHECK(st == MEDSAM_OK && ds.count == 5 && !strcmp(ds.names[2], "a.nii.gz:5"),
          "dust: the 3-voxel object's slice is gone (%d samples)", ds.count);
    if (!st) ms_dataset_free(&ds);
    o = opts(1000, 100); /* the defaults: every object here has at most 240 voxels */
    st = ms_dataset_open_opts(q, S, &o, &ds, &err);
    CHECK(st != MEDSAM_OK && strstr(err.message, "no slice keeps a label"), "all dusted away: %s", err.message);
    if (!st) ms_dataset_free(&ds);

    free(u8), free(lab);
}

static void write_npz2(const char *file, int C) {
    medsam_error err;
    enum { H = 20, W = 24 };
    uint8_t img[H * W * 3], gt[H * W];
    for (int i = 0; i < H * W * C; i++) img[i] = (uint8_t)(i * 7 % 251);
    memset(gt, 0, sizeof gt);
    for (int y = 4; y < 12; y++)
        for (int x = 6; x < 18; x++) gt[y * W + x] = 5;
    ms_npy a[2] = {{MS_NPY_U8, C == 3 ? 3 : 2, {H, W, 3}, H * W * C, img}, {MS_NPY_U8, 2, {H, W}, H * W, gt}};
    const char *names[2] = {"imgs", "gts"};
    ms_npz_write(file, names, a, 2, 1, &err);
}

static void test_npz(void) {
    medsam_error err;
    char p[512], q[512];
    mkdirs("npz");
    /* 3-D: imgs (D, H, W) uint8 (used as it is, as `medsam segment` does), gts (D, H, W) */
    uint8_t *img = malloc(NX * NY * NZ), *gt = malloc(NX * NY * NZ);
    for (int i = 0; i < NX * NY * NZ; i++) img[i] = (uint8_t)(i * 13 % 256);
    fill_labels(gt, NZ);
    ms_npy a[2] = {{MS_NPY_U8, 3, {NZ, NY, NX}, NX * NY * NZ, img}, {MS_NPY_U8, 3, {NZ, NY, NX}, NX * NY * NZ, gt}};
    const char *names[2] = {"imgs", "gts"};
    path(p, "npz", "CT_x.npz");
    CHECK(ms_npz_write(p, names, a, 2, 1, &err) == MEDSAM_OK, "write npz: %s", err.message);
    path(p, "npz", "2D_rgb.npz"), write_npz2(p, 3);
    path(p, "npz", "2D_grey.npz"), write_npz2(p, 1);
    snprintf(q, sizeof q, "%s/npz", tmp);
    ms_dataset ds;
    ms_dataset_opts o = ms_dataset_default_opts(); /* intensity AUTO */
    o.min_voxels_3d = 0, o.min_pixels_2d = 0;
    medsam_status st = ms_dataset_open_opts(q, S, &o, &ds, &err);
    CHECK(st == MEDSAM_OK, "open npz: %s", err.message);
    if (st) goto out;
    const char *want[] = {"2D_grey.npz", "2D_rgb.npz", "CT_x.npz:1", "CT_x.npz:2", "CT_x.npz:4", "CT_x.npz:5"};
    int same = ds.count == 6 && ds.layout == MS_DATA_NPZ && ds.files == 3;
    for (int i = 0; same && i < 6; i++) same = !strcmp(ds.names[i], want[i]);
    CHECK(same, "npz samples: %d, want 2 images and 4 slices", ds.count);
    /* 2-D: imgs through medsam_preprocess_pixels as they are */
    uint8_t i2[20 * 24 * 3], g2[20 * 24];
    for (int c = 1; c <= 3; c += 2) {
        for (int i = 0; i < 20 * 24 * c; i++) i2[i] = (uint8_t)(i * 7 % 251);
        memset(g2, 0, sizeof g2);
        for (int y = 4; y < 12; y++)
            for (int x = 6; x < 18; x++) g2[y * 24 + x] = 5;
        check_sample(&ds, c == 1 ? 0 : 1, i2, 24, 20, c, g2, c == 1 ? "2-D grey npz" : "2-D RGB npz");
    }
    check_sample(&ds, 3, img + 2 * NX * NY, NX, NY, 1, gt + 2 * NX * NY, "3-D npz slice 2 (uint8 as it is)");
    ms_dataset_free(&ds);
out:
    free(img), free(gt);
}

/* --box-zoom: a small object's sample is its zoom window preprocessed as an image, its mask resized (nearest) from
 * the window and its box scaled from the window; a large object's sample is the whole image, box scaled likewise. */
static void test_npz_zoom(void) {
    enum { ZW = 120, ZH = 100 };
    medsam_error err;
    char p[512], q[512];
    mkdirs("zoom");
    static uint8_t img[ZH * ZW], small[ZH * ZW], large[ZH * ZW];
    for (int i = 0; i < ZW * ZH; i++) img[i] = (uint8_t)(i * 29 % 253);
    for (int y = 40; y < 46; y++)
        for (int x = 50; x < 58; x++) small[y * ZW + x] = 3;
    for (int y = 10; y < 90; y++)
        for (int x = 5; x < 100; x++) large[y * ZW + x] = 1;
    const char *names[2] = {"imgs", "gts"};
    ms_npy a[2] = {{MS_NPY_U8, 2, {ZH, ZW}, ZW * ZH, img}, {MS_NPY_U8, 2, {ZH, ZW}, ZW * ZH, small}};
    path(p, "zoom", "a_small.npz"), ms_npz_write(p, names, a, 2, 1, &err);
    a[1].data = large;
    path(p, "zoom", "b_large.npz"), ms_npz_write(p, names, a, 2, 1, &err);
    snprintf(q, sizeof q, "%s/zoom", tmp);
    ms_dataset ds;
    ms_dataset_opts o = ms_dataset_default_opts();
    o.box_zoom = 3;
    CHECK(ms_dataset_open_opts(q, S, &o, &ds, &err) == MEDSAM_OK && ds.count == 2, "open: %s", err.message);
    float *x = malloc(3 * S * S * sizeof *x), *gt = malloc(S * S * sizeof *gt), *ref = malloc(3 * S * S * sizeof *ref);
    static uint8_t crop[ZH * ZW];
    for (int k = 0; k < 2; k++) {
        const uint8_t *lab = k ? large : small;
        const float tight[4] = {k ? 5.f : 50.f, k ? 10.f : 40.f, k ? 99.f : 57.f, k ? 89.f : 45.f};
        ms_zoom_window w;
        CHECK(ms_box_zoom_window(tight, ZW, ZH, 3, &w) == !k, "sample %d zooms: %d", k, !k);
        float box[4];
        pyrandom r;
        pyrandom_seed(&r, 9);
        CHECK(ms_dataset_load(&ds, k, 0, &r, x, gt, box, &err) == MEDSAM_OK, "load %d: %s", k, err.message);
        ms_zoom_crop(img, ZW, 1, 1, &w, crop);
        medsam_preprocess_pixels(crop, w.w, w.h, 1, 8, S, 1, ref, &err);
        long diff = 0;
        for (int i = 0; i < S * S; i++)
            for (int c = 0; c < 3; c++) diff += x[c * S * S + i] != ref[i * 3 + c];
        CHECK(diff == 0, "sample %d: image = the window preprocessed (%ld differ)", k, diff);
        const float want[4] = {(tight[0] - w.x0) / w.w * S, (tight[1] - w.y0) / w.h * S, (tight[2] - w.x0) / w.w * S,
                               (tight[3] - w.y0) / w.h * S};
        CHECK(!memcmp(box, want, sizeof want), "sample %d: box %g,%g,%g,%g want %g,%g,%g,%g", k, box[0], box[1], box[2],
              box[3], want[0], want[1], want[2], want[3]);
        int bad = 0, on = 0;
        for (int i = 0; i < S; i++) {
            int sy = (int)floor((i + 0.5) * w.h / S);
            for (int j = 0; j < S; j++) {
                int sx = (int)floor((j + 0.5) * w.w / S);
                int want_on = lab[(w.y0 + sy) * ZW + w.x0 + sx] != 0;
                bad += gt[i * S + j] != (float)want_on;
                on += want_on;
            }
        }
        CHECK(bad == 0 && on > 0, "sample %d: mask = the window's label resized (%d differ, %d on)", k, bad, on);
    }
    free(x), free(gt), free(ref);
    ms_dataset_free(&ds);
}

/* expect_error: DIR made by `make`, one line naming `name` */
static void expect_error(const char *dir, const char *name, const char *text, const char *what) {
    medsam_error err = {0};
    ms_dataset ds;
    ms_dataset_opts o = opts(0, 0);
    char q[512];
    snprintf(q, sizeof q, "%s/%s", tmp, dir);
    medsam_status st = ms_dataset_open_opts(q, S, &o, &ds, &err);
    CHECK(st != MEDSAM_OK && strstr(err.message, name) && strstr(err.message, text) && !strchr(err.message, '\n'),
          "%s: rc %d, message '%s' (want '%s' and '%s')", what, st, err.message, name, text);
    if (st == MEDSAM_OK) ms_dataset_free(&ds);
    else printf("ok   %s: %s\n", what, err.message);
}

static void test_errors(void) {
    medsam_error err;
    char p[512];
    /* image and labels of different shapes */
    mkdirs("e1"), mkdirs("e1/imgs"), mkdirs("e1/gts");
    path(p, "e1/imgs", "m.nii.gz"), write_ct(p, 5, &err);
    path(p, "e1/gts", "m.nii.gz"), write_labels(p, 6, &err);
    expect_error("e1", "e1/imgs/m.nii.gz", "image is 40x30x5", "shape mismatch");
    /* no foreground */
    mkdirs("e2"), mkdirs("e2/imgs"), mkdirs("e2/gts");
    path(p, "e2/imgs", "z.nii.gz"), write_ct(p, 2, &err);
    path(p, "e2/gts", "z.nii.gz"), write_labels(p, 1, &err);
    path(p, "e2/imgs", "z.nii.gz"), write_ct(p, 1, &err);
    expect_error("e2", "e2/gts/z.nii.gz", "no foreground", "no foreground");
    /* unreadable label file */
    mkdirs("e3"), mkdirs("e3/imgs"), mkdirs("e3/gts");
    path(p, "e3/imgs", "u.nii.gz"), write_ct(p, 2, &err);
    path(p, "e3/gts", "u.nii.gz"), t_spit(p, "not a nifti file at all", 23);
    expect_error("e3", "e3/gts/u.nii.gz", "", "unreadable labels");
    /* non-integer labels */
    mkdirs("e4"), mkdirs("e4/imgs"), mkdirs("e4/gts");
    path(p, "e4/imgs", "f.nii.gz"), write_ct(p, 2, &err);
    {
        ms_volume v;
        ms_volume_init(&v);
        ms_volume_alloc(&v, NX, NY, 2, 1, MS_VOX_FLOAT32, &err);
        ((float *)v.data)[7] = 0.5f;
        path(p, "e4/gts", "f.nii.gz"), ms_nifti_write(p, &v, &err);
        ms_volume_free(&v);
    }
    expect_error("e4", "e4/gts/f.nii.gz", "not an integer", "fractional label");
    /* npz: gts of wrong dimensions, missing gts */
    mkdirs("e5");
    {
        uint8_t d[8] = {0, 1, 0, 1, 0, 1, 0, 1};
        ms_npy a[2] = {{MS_NPY_U8, 2, {2, 4}, 8, d}, {MS_NPY_U8, 1, {8}, 8, d}};
        const char *names[2] = {"imgs", "gts"};
        path(p, "e5", "bad.npz"), ms_npz_write(p, names, a, 2, 0, &err);
    }
    expect_error("e5", "e5/bad.npz", "gts has 1 dimensions", "npz gts (8,)");
    mkdirs("e6");
    {
        uint8_t d[8] = {0};
        ms_npy a[1] = {{MS_NPY_U8, 2, {2, 4}, 8, d}};
        const char *names[1] = {"imgs"};
        path(p, "e6", "nogts.npz"), ms_npz_write(p, names, a, 1, 0, &err);
    }
    expect_error("e6", "e6/nogts.npz", "'imgs' and 'gts'", "npz without gts");
    /* 2-D npz image of another size than its labels */
    mkdirs("e7");
    {
        uint8_t d[24] = {0}, g[8] = {0, 1, 1, 0, 0, 1, 1, 0};
        ms_npy a[2] = {{MS_NPY_U8, 2, {4, 6}, 24, d}, {MS_NPY_U8, 2, {2, 4}, 8, g}};
        const char *names[2] = {"imgs", "gts"};
        path(p, "e7", "m.npz"), ms_npz_write(p, names, a, 2, 0, &err);
    }
    expect_error("e7", "e7/m.npz", "imgs is 4x6", "2-D npz size mismatch");
    /* a CT volume without --window: the percentiles of voxels > 0 (here none) */
    mkdirs("e8"), mkdirs("e8/imgs"), mkdirs("e8/gts");
    {
        ms_volume v;
        ms_volume_init(&v);
        ms_volume_alloc(&v, NX, NY, 2, 1, MS_VOX_INT16, &err);
        for (int i = 0; i < NX * NY * 2; i++) ((int16_t *)v.data)[i] = -5;
        path(p, "e8/imgs", "n.nii.gz"), ms_nifti_write(p, &v, &err);
        ms_volume_free(&v);
    }
    path(p, "e8/gts", "n.nii.gz"), write_labels(p, 2, &err);
    medsam_error e = {0};
    ms_dataset ds;
    ms_dataset_opts o = ms_dataset_default_opts();
    char q[512];
    snprintf(q, sizeof q, "%s/e8", tmp);
    medsam_status st = ms_dataset_open_opts(q, S, &o, &ds, &e);
    CHECK(st != MEDSAM_OK && strstr(e.message, "e8/imgs/n.nii.gz"), "percentiles without voxels > 0: '%s'", e.message);
    if (!st) ms_dataset_free(&ds);
    /* nothing there */
    mkdirs("e9");
    expect_error("e9", "e9", "no gts/ folder and no NAME.npz", "empty folder");
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/test_train_data.XXXXXX");
    if (!mkdtemp(tmp)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    test_dust();
    test_nifti();
    test_npz();
    test_npz_zoom();
    test_errors();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmp);
    return t_summary();
}
