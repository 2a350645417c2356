/* test_segment3d.c — 3-D box segmentation by slice propagation.
 *
 * 1. The scheduler (src/pipeline/segment3d.c) against a literal, box-by-box
 *    transcription of LiteMedSAM's loop, with a deterministic fake decoder whose
 *    masks drift, shrink and vanish from slice to slice: identical labels, every
 *    slice encoded once (with the cache) or once per sweep (without), progress
 *    and cancellation, no embedding leaked, uint16 labels, box checks.
 * 2. The tiny model on phantoms against the official modules running the same
 *    loop (tools/ref/make_volume_seg_fixtures.py): normalised volumes identical,
 *    labels identical except at voxels where some reference probability on that
 *    slice lies within 1e-5 of 0.5 (fp32 reordering may flip those; counted).
 * 3. Outputs: the written NIfTI mask has the input's grid (dims, pixdim, qform /
 *    sform, codes, affine); npz segs round trip; --slice equals a one-slice box.
 * MS_SEG3D_KEEP_DIR=DIR keeps ct_mask.nii[.gz] there for
 * `make_volume_seg_fixtures.py --check DIR` (nibabel's view of the files). */
#include <stdint.h>
#include <unistd.h>

#include "core/error.h"
#include "io/nifti.h"
#include "io/npz.h"
#include "medsam.h"
#include "pipeline/segment3d.h"
#include "test.h"

#define FIX "tests/fixtures/volume/"

/* ---- 1. scheduler with a fake decoder ------------------------------------- */

typedef struct {
    int nx, ny, nz;
    int alive;         /* embeddings not yet released */
    int encodes[64];   /* per slice */
    int last_done, calls, cancel_at, monotonic;
} fake;

static medsam_status fake_encode(void *ctx, int z, void **emb, medsam_error *err) {
    fake *f = ctx;
    int *e = malloc(sizeof *e);
    *e = z;
    f->alive++;
    f->encodes[z]++;
    *emb = e;
    return MEDSAM_OK;
}

static void fake_release(void *ctx, void *emb) {
    ((fake *)ctx)->alive--;
    free(emb);
}

/* Mask = inside the box (shrunk by 1 px on the left/top) and inside an "organ"
 * ellipse whose centre drifts with z and whose radius vanishes on some slices. */
static void fake_mask(const fake *f, int z, const medsam_box *b, uint8_t *mask) {
    double cx = 20 + 1.5 * z, cy = 14 + (z % 5), r = (z % 6 == 5) ? 0 : 6 + (z % 3) * 2.5;
    for (int y = 0; y < f->ny; y++)
        for (int x = 0; x < f->nx; x++) {
            int in_box = x >= b->x0 + 1 && x <= b->x1 && y >= b->y0 + 1 && y <= b->y1;
            double dx = (x - cx) / r, dy = (y - cy) / (0.7 * r);
            mask[y * f->nx + x] = (uint8_t)(in_box && r > 0 && dx * dx + dy * dy <= 1);
        }
}

static medsam_status fake_decode(void *ctx, const void *emb, int z, const medsam_box *box, uint8_t *mask,
                                 medsam_error *err) {
    fake *f = ctx;
    if (*(const int *)emb != z) return ms_error(err, MEDSAM_ERR_ARG, "embedding of slice %d used on %d", *(const int *)emb, z);
    fake_mask(f, z, box, mask);
    return MEDSAM_OK;
}

static int fake_progress(void *user, int done, int total) {
    fake *f = user;
    if (done < f->last_done || done > total) f->monotonic = 0;
    f->last_done = done;
    f->calls++;
    return f->cancel_at >= 0 && done >= f->cancel_at;
}

/* ref: CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D, box by box, as written there. */
static void literal_loop(fake *f, const medsam_box3d *boxes, int n, double margin, uint16_t *segs) {
    const int nx = f->nx, ny = f->ny, nz = f->nz;
    const size_t plane = (size_t)nx * ny;
    uint8_t *temp = malloc(plane * nz);
    memset(segs, 0, plane * nz * sizeof *segs);
    for (int idx = 1; idx <= n; idx++) {
        const medsam_box3d *b = &boxes[idx - 1];
        const medsam_box own = {b->x0, b->y0, b->x1, b->y1};
        memset(temp, 0, plane * nz);
        int z_middle = (int)((b->z1 - b->z0) / 2.0 + b->z0);
        for (int z = z_middle; z < (b->z1 + 1 < nz ? b->z1 + 1 : nz); z++) {
            medsam_box box = own;
            if (z != z_middle && !ms_seg3d_mask_box(temp + (z - 1) * plane, nx, ny, margin, &box)) box = own;
            fake_mask(f, z, &box, temp + z * plane);
        }
        for (int z = z_middle - 1; z > (b->z0 - 1 > -1 ? b->z0 - 1 : -1); z--) {
            medsam_box box = own;
            if (!ms_seg3d_mask_box(temp + (z + 1) * plane, nx, ny, margin, &box)) box = own;
            fake_mask(f, z, &box, temp + z * plane);
        }
        for (size_t p = 0; p < plane * nz; p++)
            if (temp[p]) segs[p] = (uint16_t)idx;
    }
    free(temp);
}

static void scheduler_tests(void) {
    medsam_error err;
    fake f = {.nx = 48, .ny = 36, .nz = 30, .cancel_at = -1};
    const size_t nvox = (size_t)f.nx * f.ny * f.nz;
    medsam_box3d boxes[] = {
        {4, 3, 40, 30, 2, 17},  {10, 5, 44, 33, 9, 26}, {0, 0, 48, 36, 0, 29}, /* whole volume */
        {12, 8, 30, 25, 14, 14},                                              /* one slice */
        {6, 4, 28, 24, 27, 29}, {20, 10, 46, 34, 3, 4},
    };
    const int n = sizeof boxes / sizeof boxes[0];
    uint16_t *want = malloc(nvox * 2), *got16 = malloc(nvox * 2);
    uint8_t *got8 = malloc(nvox);
    const double margin = ms_seg3d_default_margin(f.nx, f.ny);
    CHECK(margin == 3.0 * 48 / 256, "default margin %g", margin);
    literal_loop(&f, boxes, n, margin, want);

    ms_seg3d_backend be = {fake_encode, fake_release, fake_decode, &f};
    for (int variant = 0; variant < 3; variant++) {
        memset(f.encodes, 0, sizeof f.encodes);
        f.last_done = 0, f.calls = 0, f.monotonic = 1;
        ms_seg3d_opts o = {.max_cached = variant == 0 ? -1 : variant == 1 ? 0 : 3, .progress = fake_progress,
                           .progress_user = &f};
        ms_seg3d_stats st;
        medsam_status s = ms_segment3d(&be, f.nx, f.ny, f.nz, boxes, n, &o, got8, 1, &st, &err);
        CHECK(s == MEDSAM_OK, "segment3d: %s", err.message);
        long diff = 0, fg = 0;
        for (size_t p = 0; p < nvox; p++) diff += got8[p] != want[p], fg += want[p] != 0;
        int max_enc = 0, sum_enc = 0;
        for (int z = 0; z < f.nz; z++) max_enc = f.encodes[z] > max_enc ? f.encodes[z] : max_enc, sum_enc += f.encodes[z];
        int decodes = 0;
        for (int i = 0; i < n; i++) decodes += boxes[i].z1 - boxes[i].z0 + 1;
        CHECK(diff == 0 && fg > 0, "cache %d: %ld of %zu labels differ from the box-by-box loop (%ld foreground)",
              o.max_cached, diff, nvox, fg);
        CHECK(st.decodes == decodes, "cache %d: %d decodes, expected %d", o.max_cached, st.decodes, decodes);
        CHECK(f.alive == 0, "cache %d: %d embeddings leaked", o.max_cached, f.alive);
        CHECK(f.monotonic && f.last_done == st.total && f.calls == st.total + 1 && st.encodes == st.total,
              "cache %d: progress %d calls, last %d of %d", o.max_cached, f.calls, f.last_done, st.total);
        if (variant == 0)
            CHECK(max_enc == 1 && sum_enc == f.nz, "unbounded cache: each slice encoded once (max %d, %d encodes)",
                  max_enc, sum_enc);
        else
            CHECK(max_enc <= 2 && st.cache_hits <= o.max_cached, "cache %d: at most once per sweep (max %d)",
                  o.max_cached, max_enc);
        printf("ok   scheduler, cache %2d: labels as box by box, %d encodes (%d cache hits), %d decodes\n", o.max_cached,
               st.encodes, st.cache_hits, st.decodes);
    }
    /* uint16 labels give the same map */
    ms_seg3d_opts o = {.max_cached = -1};
    CHECK(!ms_segment3d(&be, f.nx, f.ny, f.nz, boxes, n, &o, got16, 2, NULL, &err) &&
              !memcmp(got16, want, nvox * 2), "uint16 labels");
    /* a custom margin changes the propagation, and the literal loop agrees */
    o.margin = 4.5;
    literal_loop(&f, boxes, n, 4.5, want);
    CHECK(!ms_segment3d(&be, f.nx, f.ny, f.nz, boxes, n, &o, got16, 2, NULL, &err) &&
              !memcmp(got16, want, nvox * 2), "margin 4.5");
    /* cancellation */
    f.cancel_at = 3, f.last_done = 0, f.monotonic = 1;
    ms_seg3d_opts oc = {.max_cached = -1, .progress = fake_progress, .progress_user = &f};
    medsam_status s = ms_segment3d(&be, f.nx, f.ny, f.nz, boxes, n, &oc, got8, 1, NULL, &err);
    CHECK(s != MEDSAM_OK && strstr(err.message, "cancelled") && f.last_done == 3 && f.alive == 0,
          "cancel after 3 slices: status %d, last %d, %d alive", (int)s, f.last_done, f.alive);
    f.cancel_at = -1;

    /* boxes are checked */
    medsam_box3d bad[] = {{0, 0, 49, 10, 0, 3}, {0, 0, 10, 10, 5, 4}, {5, 0, 5, 10, 0, 1}, {0, 0, 10, 10, -1, 3},
                          {0, 0, 10, 10, 0, 30}, {0, NAN, 10, 10, 0, 3}};
    const char *why[] = {"outside", "z0 <= z1", "x0 < x1", "outside", "outside", "non-finite"};
    for (int i = 0; i < 6; i++)
        CHECK(ms_segment3d(&be, f.nx, f.ny, f.nz, &bad[i], 1, &o, got8, 1, NULL, &err) == MEDSAM_ERR_ARG &&
                  strstr(err.message, why[i]), "bad box %d refused: %s", i, err.message);

    /* mask_box: inclusive extremes, margin, clamping, empty */
    uint8_t m[6 * 5] = {0};
    medsam_box b = {-1, -1, -1, -1};
    CHECK(!ms_seg3d_mask_box(m, 6, 5, 1.5, &b) && b.x0 == -1, "empty mask: no box");
    m[1 * 6 + 2] = m[3 * 6 + 5] = 1;
    CHECK(ms_seg3d_mask_box(m, 6, 5, 1.5, &b) && b.x0 == 0.5f && b.y0 == 0 && b.x1 == 6 && b.y1 == 4.5f,
          "mask box (%g,%g,%g,%g)", b.x0, b.y0, b.x1, b.y1);
    medsam_box3d mb = {0, 0, 1, 1, 3, 8};
    CHECK(ms_seg3d_mid_slice(&mb) == 5, "middle slice of 3..8 is 5");
    free(want), free(got16), free(got8);
}

/* ---- 2. the tiny model against the official modules ---------------------- */

static int load(const ms_npz *z, const char *name, ms_npy *a) {
    medsam_error err;
    if (ms_npz_get(z, name, a, &err)) {
        CHECK(0, "%s", err.message);
        return 0;
    }
    return 1;
}

/* labels vs reference; differences allowed only where `near`. Returns differing voxels. */
static long compare_labels(const char *what, const uint8_t *got, const uint8_t *want, const uint8_t *near, size_t n) {
    long diff = 0, outside = 0, band = 0, fg = 0;
    for (size_t p = 0; p < n; p++) {
        diff += got[p] != want[p];
        outside += got[p] != want[p] && !near[p];
        band += near[p] != 0;
        fg += want[p] != 0;
    }
    CHECK(outside == 0 && fg > 0, "%s: %ld voxels differ away from the 0.5 band", what, outside);
    printf("%s %-34s %zu voxels, %ld labelled, %ld differ (%ld within 1e-5 of 0.5)\n", outside ? "FAIL" : "ok  ", what,
           n, fg, diff, band);
    return diff;
}

static void boxes_of(const ms_npy *a, medsam_box3d *b, int *n) {
    const int64_t *v = a->data;
    *n = (int)a->shape[0];
    for (int i = 0; i < *n; i++)
        b[i] = (medsam_box3d){(float)v[6 * i], (float)v[6 * i + 1], (float)v[6 * i + 3], (float)v[6 * i + 4],
                              (int)v[6 * i + 2], (int)v[6 * i + 5]};
}

static int same_geometry(const ms_volume *a, const ms_volume *b) {
    int ok = a->nx == b->nx && a->ny == b->ny && a->nz == b->nz && a->qform_code == b->qform_code &&
             a->sform_code == b->sform_code && a->xyzt_units == b->xyzt_units;
    for (int i = 0; i < 4; i++) ok &= (float)a->pixdim[i] == (float)b->pixdim[i];
    ok &= (float)a->quatern_b == (float)b->quatern_b && (float)a->quatern_c == (float)b->quatern_c &&
          (float)a->quatern_d == (float)b->quatern_d && (float)a->qoffset_x == (float)b->qoffset_x &&
          (float)a->qoffset_y == (float)b->qoffset_y && (float)a->qoffset_z == (float)b->qoffset_z;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) ok &= (float)a->srow[r][c] == (float)b->srow[r][c];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) ok &= a->affine[r][c] == b->affine[r][c];
    return ok;
}

static void volume_case(const medsam_model *m, const char *input, const char *expected, const char *labels_key,
                        medsam_intensity_mode want_mode, int write_nifti) {
    medsam_error err;
    medsam_volume *vol;
    char path[256];
    snprintf(path, sizeof path, FIX "%s", input);
    if (medsam_volume_read(path, &vol, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    medsam_volume_info vi;
    medsam_volume_get_info(vol, &vi);
    const size_t n = (size_t)vi.nx * vi.ny * vi.nz;
    ms_npz *z;
    snprintf(path, sizeof path, FIX "%s", expected);
    if (ms_npz_open(path, &z, &err)) {
        CHECK(0, "%s", err.message);
        medsam_volume_free(vol);
        return;
    }
    ms_npy lab = {0}, near = {0}, bx = {0}, norm = {0};
    medsam_box3d boxes[8];
    int nb = 0;
    uint8_t *u8 = malloc(n), *labels = malloc(n), *again = malloc(n);
    medsam_intensity_applied ap;
    medsam_intensity how = {want_mode == MEDSAM_INTENSITY_WINDOW ? MEDSAM_INTENSITY_WINDOW : MEDSAM_INTENSITY_AUTO,
                            40, 400};
    medsam_status st = medsam_volume_normalize(vol, &how, u8, &ap, &err);
    CHECK(st == MEDSAM_OK && ap.mode == want_mode, "%s: normalise (mode %d): %s", input, (int)ap.mode, err.message);
    if (!load(z, labels_key, &lab) || !load(z, "near", &near)) goto done;
    if (ms_npz_has(z, "norm") && load(z, "norm", &norm))
        CHECK(norm.count == (int64_t)n && !memcmp(norm.data, u8, n), "%s: normalised volume identical to NumPy's",
              input);
    if (ms_npz_has(z, "lohi")) {
        ms_npy lh;
        if (load(z, "lohi", &lh)) {
            const double *v = lh.data;
            CHECK(v[0] == ap.lo && v[1] == ap.hi, "%s: percentiles %.17g %.17g, numpy %.17g %.17g", input, ap.lo,
                  ap.hi, v[0], v[1]);
            ms_npy_free(&lh);
        }
    }
    if (ms_npz_has(z, "boxes")) {
        if (!load(z, "boxes", &bx)) goto done;
        boxes_of(&bx, boxes, &nb);
    } else { /* the CVPR24 case keeps its boxes in the input */
        ms_npz *c;
        ms_npy b2;
        snprintf(path, sizeof path, FIX "%s", input);
        if (!ms_npz_open(path, &c, &err)) {
            if (load(c, "boxes", &b2)) boxes_of(&b2, boxes, &nb), ms_npy_free(&b2);
            ms_npz_close(c);
        }
    }
    medsam_volume_opts o = {.nthreads = 2};
    st = medsam_segment_volume(m, u8, vi.nx, vi.ny, vi.nz, boxes, nb, &o, labels, 1, &err);
    CHECK(st == MEDSAM_OK, "%s: segment: %s", input, err.message);
    if (st) goto done;
    compare_labels(input, labels, lab.data, near.data, n);
    int first = o.slices_encoded;
    medsam_volume_opts nocache = {.nthreads = 1, .cache_bytes = -1};
    st = medsam_segment_volume(m, u8, vi.nx, vi.ny, vi.nz, boxes, nb, &nocache, again, 1, &err);
    CHECK(st == MEDSAM_OK && !memcmp(labels, again, n) && nocache.slices_encoded >= first,
          "%s: without the cache (and 1 thread) the same labels (%d vs %d encodes)", input, nocache.slices_encoded,
          first);
    printf("ok   %-34s %d boxes, %d slices encoded (%d without the cache)\n", input, nb, first, nocache.slices_encoded);

    if (write_nifti) {
        const char *keep = getenv("MS_SEG3D_KEEP_DIR");
        char dir[256];
        snprintf(dir, sizeof dir, "%s", keep ? keep : "/tmp/medsam_seg3d_XXXXXX");
        if (!keep && !mkdtemp(dir)) return;
        const char *names[] = {"ct_mask.nii.gz", "ct_mask.nii"};
        ms_volume src, back;
        snprintf(path, sizeof path, FIX "%s", input);
        ms_nifti_read(path, &src, &err);
        for (int k = 0; k < 2; k++) {
            char out[512];
            snprintf(out, sizeof out, "%s/%s", dir, names[k]);
            st = medsam_volume_write_labels(out, vol, labels, 1, &err);
            CHECK(st == MEDSAM_OK, "write %s: %s", out, err.message);
            if (st || ms_nifti_read(out, &back, &err)) continue;
            CHECK(same_geometry(&src, &back), "%s: grid (dims, pixdim, qform/sform, codes, affine) as the input", out);
            CHECK(back.datatype == MS_VOX_UINT8 && !ms_volume_has_scaling(&back) && !memcmp(back.data, labels, n),
                  "%s: uint8 labels read back", out);
            printf("ok   %-34s grid as %s, qform %d sform %d\n", names[k], input, back.qform_code, back.sform_code);
            ms_volume_free(&back);
            if (!keep) remove(out);
        }
        ms_volume_free(&src);
        if (!keep) rmdir(dir);
    }
done:
    ms_npy_free(&lab), ms_npy_free(&near), ms_npy_free(&bx), ms_npy_free(&norm);
    free(u8), free(labels), free(again);
    ms_npz_close(z);
    medsam_volume_free(vol);
}

/* The CVPR24 2-D case through the steps cli/cmd_npz.c takes. */
static void case2d(const medsam_model *m) {
    medsam_error err;
    ms_npz *c, *e;
    if (ms_npz_open(FIX "case2d.npz", &c, &err) || ms_npz_open(FIX "case2d_expected.npz", &e, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    ms_npy imgs, bx, segs, near;
    if (load(c, "imgs", &imgs) && load(c, "boxes", &bx) && load(e, "segs", &segs) && load(e, "near", &near)) {
        const int H = (int)imgs.shape[0], W = (int)imgs.shape[1];
        medsam_model_info info;
        medsam_model_get_info(m, &info);
        float *x = malloc((size_t)info.img_size * info.img_size * 3 * sizeof(float));
        uint8_t *mask = malloc((size_t)W * H);
        medsam_box b[2];
        const int64_t *v = bx.data;
        for (int i = 0; i < 2; i++) b[i] = (medsam_box){(float)v[4 * i], (float)v[4 * i + 1], (float)v[4 * i + 2], (float)v[4 * i + 3]};
        medsam_embedding *emb = NULL;
        medsam_status st = medsam_preprocess_pixels(imgs.data, W, H, 3, 8, info.img_size, 2, x, &err);
        if (!st) st = medsam_encode(m, x, 2, &emb, &err);
        if (!st) st = medsam_decode_boxes(m, emb, W, H, b, 2, 2, NULL, NULL, mask, &err);
        CHECK(st == MEDSAM_OK, "case2d: %s", err.message);
        if (!st) compare_labels("case2d.npz (2-D)", mask, segs.data, near.data, (size_t)W * H);
        /* segs round trip through an npz */
        char path[] = "/tmp/medsam_seg3d_XXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) close(fd);
        ms_npy a = {MS_NPY_U8, 2, {H, W}, (int64_t)W * H, mask};
        const char *name = "segs";
        ms_npz *r;
        ms_npy back;
        st = ms_npz_write(path, &name, &a, 1, 1, &err);
        CHECK(!st && !ms_npz_open(path, &r, &err), "npz write / open: %s", err.message);
        if (!st) {
            CHECK(!ms_npz_get(r, "segs", &back, &err) && back.dtype == MS_NPY_U8 && back.ndim == 2 &&
                      back.shape[0] == H && back.shape[1] == W && !memcmp(back.data, mask, (size_t)W * H),
                  "segs npz round trip");
            ms_npy_free(&back);
            ms_npz_close(r);
        }
        remove(path);
        medsam_embedding_free(emb);
        free(x), free(mask);
    }
    ms_npy_free(&imgs), ms_npy_free(&bx), ms_npy_free(&segs), ms_npy_free(&near);
    ms_npz_close(c), ms_npz_close(e);
}

/* --slice z with 2-D boxes equals 3-D boxes with z0 = z1 = z; npz spacing. */
static void slice_mode(const medsam_model *m) {
    medsam_error err;
    medsam_volume *vol;
    if (medsam_volume_read(FIX "case3d.npz", &vol, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    medsam_volume_info vi;
    medsam_volume_get_info(vol, &vi);
    CHECK(vi.nx == 64 && vi.ny == 50 && vi.nz == 8 && vi.spacing[0] == 0.7 && vi.spacing[2] == 3.0 &&
              !strcmp(vi.format, "npz"), "npz volume: (D,H,W) (8,50,64) -> 64x50x8, spacing (x,y,z) from the file");
    const size_t plane = (size_t)vi.nx * vi.ny, n = plane * vi.nz;
    uint8_t *u8 = malloc(n), *lab = malloc(n), *one = malloc(plane);
    medsam_volume_normalize(vol, NULL, u8, NULL, &err);
    medsam_box b2[2] = {{10, 10, 40, 34}, {38, 19, 56, 41}};
    medsam_box3d b3[2] = {{10, 10, 40, 34, 5, 5}, {38, 19, 56, 41, 5, 5}};
    medsam_status st = medsam_segment_slice(m, u8, vi.nx, vi.ny, vi.nz, 5, b2, 2, 2, one, &err);
    CHECK(st == MEDSAM_OK, "segment_slice: %s", err.message);
    st = medsam_segment_volume(m, u8, vi.nx, vi.ny, vi.nz, b3, 2, NULL, lab, 1, &err);
    CHECK(st == MEDSAM_OK, "segment_volume: %s", err.message);
    long other = 0;
    for (size_t p = 0; p < n; p++) other += (p / plane != 5) && lab[p];
    CHECK(!memcmp(one, lab + 5 * plane, plane) && other == 0, "--slice 5 equals boxes with z0 = z1 = 5");
    CHECK(medsam_segment_slice(m, u8, vi.nx, vi.ny, vi.nz, 8, b2, 1, 1, one, &err) == MEDSAM_ERR_ARG,
          "slice past the volume refused");
    free(u8), free(lab), free(one);
    medsam_volume_free(vol);
}

/* DICOM series in: CT gets the soft-tissue window by default, and the mask's
 * affine is the one the DICOM geometry gave the volume. */
static void dicom_case(const medsam_model *m) {
    const char *dir = "tests/fixtures/dicom/ct_series";
    medsam_error err;
    medsam_volume *vol;
    if (access(dir, F_OK) != 0) {
        printf("skip DICOM: %s not present\n", dir);
        return;
    }
    medsam_status st = medsam_volume_read(dir, &vol, &err);
    CHECK(st == MEDSAM_OK, "%s", err.message);
    if (st) return;
    medsam_volume_info vi;
    medsam_volume_get_info(vol, &vi);
    CHECK(!strcmp(vi.format, "dicom") && !strcmp(vi.modality, "CT"), "DICOM CT series: format %s, modality %s",
          vi.format, vi.modality);
    const size_t n = (size_t)vi.nx * vi.ny * vi.nz;
    uint8_t *u8 = malloc(n), *lab = malloc(n);
    medsam_intensity_applied ap;
    st = medsam_volume_normalize(vol, NULL, u8, &ap, &err);
    CHECK(st == MEDSAM_OK && ap.mode == MEDSAM_INTENSITY_WINDOW && ap.lo == -160 && ap.hi == 240,
          "DICOM CT: AUTO is the soft-tissue window (mode %d, [%g, %g])", (int)ap.mode, ap.lo, ap.hi);
    if (vi.has_window) {
        medsam_intensity dw = {MEDSAM_INTENSITY_DICOM_WINDOW, 0, 0};
        st = medsam_volume_normalize(vol, &dw, u8, &ap, &err);
        CHECK(st == MEDSAM_OK && ap.lo == vi.window_center - vi.window_width / 2 &&
                  ap.hi == vi.window_center + vi.window_width / 2, "--window dicom uses the file's L%g/W%g",
              vi.window_center, vi.window_width);
    }
    medsam_box3d b = {2, 2, (float)vi.nx - 2, (float)vi.ny - 2, 0, vi.nz - 1};
    st = medsam_segment_volume(m, u8, vi.nx, vi.ny, vi.nz, &b, 1, NULL, lab, 1, &err);
    CHECK(st == MEDSAM_OK, "DICOM segment: %s", err.message);
    char path[] = "/tmp/medsam_seg3d_dcm_XXXXXX.nii.gz";
    int fd = mkstemps(path, 7);
    if (fd >= 0) close(fd);
    ms_volume back;
    if (!st && !medsam_volume_write_labels(path, vol, lab, 1, &err) && !ms_nifti_read(path, &back, &err)) {
        int same = back.nx == vi.nx && back.ny == vi.ny && back.nz == vi.nz;
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) same &= fabs(back.affine[r][c] - vi.affine[r][c]) <= 1e-4 * (1 + fabs(vi.affine[r][c]));
        CHECK(same && back.sform_code == 1, "DICOM mask: sform (code %d) is the DICOM geometry", back.sform_code);
        printf("ok   DICOM CT series %dx%dx%d: soft-tissue window by default, mask on the DICOM grid\n", vi.nx, vi.ny,
               vi.nz);
        ms_volume_free(&back);
    } else {
        CHECK(0, "DICOM mask write/read: %s", err.message);
    }
    remove(path);
    free(u8), free(lab);
    medsam_volume_free(vol);
}

int main(void) {
    scheduler_tests();
    medsam_error err;
    medsam_model *m = NULL;
    medsam_status st = medsam_model_load("tests/fixtures/tiny/model.pth", &m, &err);
    CHECK(st == MEDSAM_OK, "load tiny model: %s", err.message);
    if (st) return t_summary();
    volume_case(m, "ct_phantom.nii.gz", "ct_expected.npz", "labels", MEDSAM_INTENSITY_WINDOW, 1);
    volume_case(m, "mr_phantom.nii.gz", "mr_expected.npz", "labels", MEDSAM_INTENSITY_PERCENTILE, 0);
    volume_case(m, "case3d.npz", "case3d_expected.npz", "segs", MEDSAM_INTENSITY_AS_IS, 0);
    case2d(m);
    slice_mode(m);
    dicom_case(m);
    medsam_model_free(m);
    return t_summary();
}
