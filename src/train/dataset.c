/* dataset.c — see dataset.h. */
#include "train/dataset.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/npy.h"
#include "train/dataset_volume.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *join3(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s/%s", a, b, c);
    return s;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

ms_dataset_opts ms_dataset_default_opts(void) {
    ms_dataset_opts o = {.intensity = {MEDSAM_INTENSITY_AUTO, 0, 0}, .min_voxels_3d = 1000, .min_pixels_2d = 100,
                         .nthreads = 1};
    return o;
}

medsam_status ms_dataset_open(const char *dir, int size, ms_dataset *ds, medsam_error *err) {
    return ms_dataset_open_opts(dir, size, NULL, ds, err);
}

/* The npy layout: names present in both DIR/gts/ and DIR/imgs/; *has_gts: the gts/ folder opened. */
static medsam_status list_npy(const char *dir, ms_dataset *ds, int *has_gts, medsam_error *err) {
    char *gts = join3(dir, "gts", "");
    if (!gts) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    DIR *d = opendir(gts);
    free(gts);
    *has_gts = d != NULL;
    if (!d) return MEDSAM_OK;
    int cap = 0;
    medsam_status st = MEDSAM_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".npy") != 0) continue;
        char *img = join3(dir, "imgs", e->d_name), *gt = join3(dir, "gts", e->d_name);
        int ok = img && gt && is_file(img) && is_file(gt);
        free(img);
        free(gt);
        if (!ok) continue;
        if (ds->count == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(ds->names, (size_t)cap * sizeof *nn);
            if (!nn) { st = MEDSAM_ERR_NOMEM; break; }
            ds->names = nn;
        }
        if (!(ds->names[ds->count] = strdup(e->d_name))) { st = MEDSAM_ERR_NOMEM; break; }
        ds->count++;
    }
    closedir(d);
    return st ? ms_error(err, st, "out of memory listing %s", dir) : MEDSAM_OK;
}

medsam_status ms_dataset_open_opts(const char *dir, int size, const ms_dataset_opts *o, ms_dataset *ds,
                                   medsam_error *err) {
    memset(ds, 0, sizeof *ds);
    ms_dataset_opts def = ms_dataset_default_opts();
    int has_gts = 0, found = 0;
    medsam_status st = list_npy(dir, ds, &has_gts, err);
    if (!st && ds->count > 0) {
        if (!(ds->dir = strdup(dir))) st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory listing %s", dir);
        if (st) { ms_dataset_free(ds); return st; }
        qsort(ds->names, (size_t)ds->count, sizeof *ds->names, cmp_str);
        ds->size = size;
        ds->layout = MS_DATA_NPY;
        ds->files = ds->count;
        return MEDSAM_OK;
    }
    ms_dataset_free(ds);
    if (st) return st;
    if ((st = ms_voldata_open(dir, size, o ? o : &def, ds, &found, err)) || found) return st;
    if (!has_gts)
        return ms_error(err, MEDSAM_ERR_IO, "%s: no gts/ folder and no NAME.npz files (expected DIR/gts/ + DIR/imgs/ "
                        "with NAME.npy, NAME.nii.gz or NAME.nii pairs, or DIR/NAME.npz with imgs and gts)", dir);
    return ms_error(err, MEDSAM_ERR_IO, "%s: no NAME.npy present in both gts/ and imgs/ (nor NAME.nii.gz / NAME.nii "
                    "pairs)", dir);
}

void ms_dataset_free(ms_dataset *ds) {
    if (!ds) return;
    ms_voldata_free(ds->vol);
    for (int i = 0; i < ds->count; i++) free(ds->names[i]);
    free(ds->names);
    free(ds->dir);
    memset(ds, 0, sizeof *ds);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

medsam_status ms_dataset_pick_box(const int32_t *labels, int H, int W, int bbox_shift, pyrandom *rng, int32_t *label,
                                  float box[4], float *mask, medsam_error *err) {
    size_t n = (size_t)H * W;
    int32_t *u = malloc(n * sizeof *u);
    if (!u) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    memcpy(u, labels, n * sizeof *u);
    qsort(u, n, sizeof *u, cmp_i32);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++)
        if (nu == 0 || u[nu - 1] != u[i]) u[nu++] = u[i];
    // ref: train_one_gpu.py:NpyDataset.__getitem__ — label_ids = np.unique(gt)[1:]; random.choice(label_ids)
    if (nu < 2) {
        free(u);
        return ms_error(err, MEDSAM_ERR_FORMAT, "label map holds a single value (%d): no foreground label to train on",
                        n ? labels[0] : 0);
    }
    int32_t lab = u[1 + pyrandom_below(rng, nu - 1)];
    free(u);
    int x0 = W, x1 = -1, y0 = H, y1 = -1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int on = labels[(size_t)y * W + x] == lab;
            if (mask) mask[(size_t)y * W + x] = on ? 1.0f : 0.0f;
            if (!on) continue;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    // ref: train_one_gpu.py:NpyDataset.__getitem__ — box perturbation, in this order
    int64_t v;
    v = x0 - pyrandom_randint(rng, 0, bbox_shift); x0 = (int)(v < 0 ? 0 : v);
    v = x1 + pyrandom_randint(rng, 0, bbox_shift); x1 = (int)(v > W ? W : v);
    v = y0 - pyrandom_randint(rng, 0, bbox_shift); y0 = (int)(v < 0 ? 0 : v);
    v = y1 + pyrandom_randint(rng, 0, bbox_shift); y1 = (int)(v > H ? H : v);
    box[0] = (float)x0, box[1] = (float)y0, box[2] = (float)x1, box[3] = (float)y1;
    *label = lab;
    return MEDSAM_OK;
}

/* DIR/gts/NAME.npy of sample `index` as int32 labels (S, S); *gp_out: its path (caller frees both). */
static medsam_status read_labels(const ms_dataset *ds, int index, char **gp_out, int32_t **lab_out, medsam_error *err) {
    const int S = ds->size;
    const size_t plane = (size_t)S * S;
    char *gp = join3(ds->dir, "gts", ds->names[index]);
    ms_npy g = {0};
    float *f = NULL;
    int32_t *lab = NULL;
    medsam_status st;
    *gp_out = gp;
    *lab_out = NULL;
    if (!gp) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    if ((st = ms_npy_read(gp, &g, err))) goto done;
    if (g.ndim != 2 || g.shape[0] != S || g.shape[1] != S || g.dtype == MS_NPY_F32 || g.dtype == MS_NPY_F64) {
        st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: expected an integer label map of shape (%d,%d)", gp, S, S);
        goto done;
    }
    if ((st = ms_npy_to_f32(&g, &f, err))) { ms_error_prefix(err, gp); goto done; }
    if (!(lab = malloc(plane * sizeof *lab))) { st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < plane; i++) lab[i] = (int32_t)f[i];
    *lab_out = lab;
done:
    free(f);
    ms_npy_free(&g);
    return st;
}

medsam_status ms_dataset_load(const ms_dataset *ds, int index, int bbox_shift, pyrandom *rng, float *image, float *gt,
                              float box[4], medsam_error *err) {
    if (ds->vol) return ms_voldata_load(ds, index, bbox_shift, rng, image, gt, box, err);
    const int S = ds->size;
    const size_t plane = (size_t)S * S;
    char *ip = join3(ds->dir, "imgs", ds->names[index]), *gp = NULL;
    ms_npy a = {0};
    float *f = NULL;
    int32_t *lab = NULL;
    medsam_status st;
    if (!ip) { st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"); goto done; }
    if ((st = ms_npy_read(ip, &a, err))) goto done;
    if (a.ndim != 3 || a.shape[0] != S || a.shape[1] != S || a.shape[2] != 3 ||
        (a.dtype != MS_NPY_F32 && a.dtype != MS_NPY_F64)) {
        st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: expected a float array of shape (%d,%d,3)", ip, S, S);
        goto done;
    }
    if ((st = ms_npy_to_f32(&a, &f, err))) { ms_error_prefix(err, ip); goto done; }
    for (size_t i = 0; i < plane * 3; i++)
        if (!(f[i] >= 0.0f && f[i] <= 1.0f)) {
            st = ms_error(err, MEDSAM_ERR_NUMERIC, "%s: image should be normalized to [0, 1] (value %g)", ip, f[i]);
            goto done;
        }
    // ref: train_one_gpu.py:NpyDataset.__getitem__ — np.transpose(img_1024, (2, 0, 1))
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) image[c * plane + p] = f[p * 3 + c];
    if ((st = read_labels(ds, index, &gp, &lab, err))) goto done;
    int32_t chosen;
    if ((st = ms_dataset_pick_box(lab, S, S, bbox_shift, rng, &chosen, box, gt, err))) ms_error_prefix(err, gp);
done:
    free(ip);
    free(gp);
    free(f);
    free(lab);
    ms_npy_free(&a);
    return st;
}

medsam_status ms_dataset_draw(const ms_dataset *ds, int index, int bbox_shift, pyrandom *rng, float box[4],
                              medsam_error *err) {
    if (ds->vol) return ms_voldata_load(ds, index, bbox_shift, rng, NULL, NULL, box, err);
    char *gp = NULL;
    int32_t *lab = NULL, chosen;
    medsam_status st = read_labels(ds, index, &gp, &lab, err);
    if (!st && (st = ms_dataset_pick_box(lab, ds->size, ds->size, bbox_shift, rng, &chosen, box, NULL, err)))
        ms_error_prefix(err, gp);
    free(gp);
    free(lab);
    return st;
}

void ms_dataset_split(int n, double val_fraction, int64_t seed, int *train_idx, int *ntrain, int *val_idx, int *nval) {
    int nv = (int)floor(val_fraction * n + 0.5);
    if (nv > n - 1) nv = n - 1;
    if (nv < 0) nv = 0;
    int *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
    char *is_val = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!perm || !is_val) nv = 0; /* out of memory: no validation split */
    if (perm && is_val && nv > 0) {
        for (int i = 0; i < n; i++) perm[i] = i;
        pyrandom r;
        pyrandom_seed(&r, seed);
        pyrandom_shuffle(&r, perm, (size_t)n);
        for (int i = 0; i < nv; i++) is_val[perm[i]] = 1;
    }
    int nt = 0, k = 0;
    for (int i = 0; i < n; i++) {
        if (is_val && is_val[i]) val_idx[k++] = i;
        else train_idx[nt++] = i;
    }
    *ntrain = nt;
    *nval = k;
    free(perm);
    free(is_val);
}
