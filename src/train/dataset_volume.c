/* dataset_volume.c — NIfTI and npz training data, see dataset_volume.h. */
#include "train/dataset_volume.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/nifti.h"
#include "io/npz.h"
#include "pipeline/intensity.h"
#include "pipeline/preprocess.h"
#include "pipeline/resize.h"
#include "pipeline/zoom.h"
#include "train/label_dust.h"

typedef struct {
    char *name;     /* gts/ file name or NAME.npz */
    char *img, *gt; /* paths (npz: both the npz) */
} vd_pair;

struct ms_voldata {
    ms_data_layout layout;
    ms_dataset_opts o;
    int S;
    vd_pair *pairs;            // (npairs)
    int npairs;
    int *sample_pair, *sample_z; // (count)
    /* the current pair */
    int cur;                   /* pair whose labels are held, -1: none */
    int nx, ny, nz, is_2d;     /* its label grid; is_2d: a 2-D npz (nz 1) */
    int32_t *labels;           // (nz, ny, nx) after the dust removal
    int img_cur;               /* pair whose image is held, -1: none */
    uint8_t *image;            // (nz, ny, nx) normalised volume, or (ny, nx, channels) for a 2-D npz
    int channels;
    /* scratch */
    double *rs_in, *rs_out;    // (ny * nx), (S * S) label slice before / after the resize
    float *hwc;                // (S, S, 3) preprocessed slice
};

static int cmp_pair(const void *a, const void *b) { return strcmp(((const vd_pair *)a)->name, ((const vd_pair *)b)->name); }

static char *path2(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    if (s) snprintf(s, n, *b ? "%s/%s/%s" : "%s%s/%s", a, b, c);
    return s;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n > m && !strcmp(s + n - m, suf);
}

static medsam_status add_pair(ms_voldata *v, int *cap, const char *name, char *img, char *gt, medsam_error *err) {
    if (v->npairs == *cap) {
        int nc = *cap ? 2 * *cap : 32;
        vd_pair *np = realloc(v->pairs, (size_t)nc * sizeof *np);
        if (!np) { free(img), free(gt); return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"); }
        v->pairs = np, *cap = nc;
    }
    vd_pair *p = &v->pairs[v->npairs];
    p->name = strdup(name), p->img = img, p->gt = gt;
    if (!p->name || !img || !gt) { free(p->name), free(img), free(gt); return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"); }
    v->npairs++;
    return MEDSAM_OK;
}

/* DIR/gts/NAME.nii[.gz] with DIR/imgs/NAME.nii[.gz] or DIR/imgs/STEM_0000.nii[.gz]. */
static medsam_status list_nifti(const char *dir, ms_voldata *v, medsam_error *err) {
    char *gdir = path2(dir, "gts", "");
    if (!gdir) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    DIR *d = opendir(gdir);
    free(gdir);
    if (!d) return MEDSAM_OK;
    int cap = 0;
    medsam_status st = MEDSAM_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        const char *ext = ends_with(e->d_name, ".nii.gz") ? ".nii.gz" : ends_with(e->d_name, ".nii") ? ".nii" : NULL;
        if (!ext) continue;
        char *gt = path2(dir, "gts", e->d_name), *img = path2(dir, "imgs", e->d_name);
        if (img && !is_file(img)) { /* nnU-Net naming: STEM_0000.nii.gz */
            size_t stem = strlen(e->d_name) - strlen(ext);
            char alt[1024];
            snprintf(alt, sizeof alt, "%.*s_0000%s", (int)stem, e->d_name, ext);
            free(img);
            img = path2(dir, "imgs", alt);
        }
        if (gt && img && (!is_file(gt) || !is_file(img))) { free(gt), free(img); continue; }
        st = add_pair(v, &cap, e->d_name, img, gt, err);
    }
    closedir(d);
    return st;
}

/* DIR/NAME.npz */
static medsam_status list_npz(const char *dir, ms_voldata *v, medsam_error *err) {
    DIR *d = opendir(dir);
    if (!d) return MEDSAM_OK;
    int cap = 0;
    medsam_status st = MEDSAM_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (!ends_with(e->d_name, ".npz")) continue;
        char *p = path2(dir, "", e->d_name);
        if (p && !is_file(p)) { free(p); continue; }
        st = add_pair(v, &cap, e->d_name, p, p ? strdup(p) : NULL, err);
    }
    closedir(d);
    return st;
}

/* npy dtype -> volume sample type (bool as uint8); 0 for float types kept as float */
static ms_voxel_type npy_vox(ms_npy_dtype t) {
    switch (t) {
    case MS_NPY_U8: case MS_NPY_BOOL: return MS_VOX_UINT8;
    case MS_NPY_I16: return MS_VOX_INT16;
    case MS_NPY_U16: return MS_VOX_UINT16;
    case MS_NPY_I32: return MS_VOX_INT32;
    case MS_NPY_U32: return MS_VOX_UINT32;
    case MS_NPY_I64: return MS_VOX_INT64;
    case MS_NPY_F32: return MS_VOX_FLOAT32;
    case MS_NPY_F64: return MS_VOX_FLOAT64;
    }
    return MS_VOX_UINT8;
}

/* Label values (integers >= 0) into v->labels. */
static medsam_status take_labels(ms_voldata *v, const ms_samples *s, const char *path, medsam_error *err) {
    free(v->labels);
    if (!(v->labels = malloc((size_t)s->n * sizeof *v->labels)))
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)s->n);
    for (int64_t i = 0; i < s->n; i++) {
        double x = ms_samples_get(s, i);
        if (!(x >= 0 && x <= INT32_MAX && x == floor(x)))
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: label value %g at voxel %lld is not an integer >= 0", path, x,
                            (long long)i);
        v->labels[i] = (int32_t)x;
    }
    return MEDSAM_OK;
}

/* Reads pair p's labels (pre_CT_MR.py:60-85) into v->labels and the grid; *any: a non-zero label
 * before the dust removal. */
static medsam_status read_labels(ms_voldata *v, int p, int *any, medsam_error *err) {
    const vd_pair *pr = &v->pairs[p];
    v->cur = -1;
    if (v->img_cur != p) { /* hold one pair at a time */
        free(v->image);
        v->image = NULL;
        v->img_cur = -1;
    }
    medsam_status st;
    ms_samples s;
    if (v->layout == MS_DATA_NIFTI) {
        ms_volume vol;
        if ((st = ms_nifti_read(pr->gt, &vol, err))) return st;
        if (vol.nchan != 1 || vol.nt != 1) {
            st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: a label volume must be one 3-D volume of single values (got %s, %d "
                          "volumes)", pr->gt, ms_voxel_type_name(vol.datatype), vol.nt);
        } else if (!(st = ms_samples_of_volume(&s, &vol, err))) {
            v->nx = vol.nx, v->ny = vol.ny, v->nz = vol.nz, v->is_2d = 0;
            st = take_labels(v, &s, pr->gt, err);
        } else {
            ms_error_prefix(err, pr->gt);
        }
        ms_volume_free(&vol);
    } else {
        ms_npz *z = NULL;
        ms_npy g = {0};
        if ((st = ms_npz_open(pr->gt, &z, err))) return st;
        if (!ms_npz_has(z, "imgs") || !ms_npz_has(z, "gts"))
            st = ms_error(err, MEDSAM_ERR_FORMAT, "%s: a training npz holds the arrays 'imgs' and 'gts'", pr->gt);
        else if (!(st = ms_npz_get(z, "gts", &g, err)) && (g.ndim != 2 && g.ndim != 3))
            st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: gts has %d dimensions: (H,W) or (D,H,W) expected", pr->gt, g.ndim);
        if (!st) {
            int d3 = g.ndim == 3;
            int64_t D = d3 ? g.shape[0] : 1, H = g.shape[d3], W = g.shape[d3 + 1];
            if (D < 1 || H < 1 || W < 1 || D > 32767 || H > 32767 || W > 32767 || D * H * W > INT32_MAX) {
                st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: gts has a bad size", pr->gt);
            } else {
                v->nx = (int)W, v->ny = (int)H, v->nz = (int)D, v->is_2d = !d3;
                s = (ms_samples){.data = g.data, .type = npy_vox(g.dtype), .scaled = 0, .slope = 1, .inter = 0,
                                 .n = g.count, .arith = g.dtype == MS_NPY_F32 ? MS_ARITH_F32 : MS_ARITH_F64};
                st = take_labels(v, &s, pr->gt, err);
            }
        }
        ms_npy_free(&g);
        ms_npz_close(z);
    }
    if (st) return st;
    const int64_t n = (int64_t)v->nx * v->ny * v->nz;
    *any = 0;
    for (int64_t i = 0; i < n && !*any; i++) *any = v->labels[i] != 0;
    // ref: pre_CT_MR.py:74-85 — cc3d.dust(gt, 1000, connectivity=26), then each slice cc3d.dust(gt_i, 100, connectivity=8)
    if (!v->is_2d) {
        if ((st = ms_label_dust(v->labels, v->nx, v->ny, v->nz, v->o.min_voxels_3d, 26, err)) ||
            (st = ms_label_dust(v->labels, v->nx, v->ny, v->nz, v->o.min_pixels_2d, 8, err))) {
            ms_error_prefix(err, pr->gt);
            return st;
        }
    }
    double *ri = realloc(v->rs_in, (size_t)v->nx * v->ny * sizeof *ri);
    if (!ri) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", pr->gt);
    v->rs_in = ri;
    v->cur = p;
    return MEDSAM_OK;
}

/* Reads and normalises pair p's image (labels of p already held). */
static medsam_status read_image(ms_voldata *v, int p, medsam_error *err) {
    const vd_pair *pr = &v->pairs[p];
    v->img_cur = -1;
    free(v->image);
    v->image = NULL;
    medsam_status st;
    if (v->is_2d) { /* as `medsam segment --npz` (cli/cmd_npz.c): uint8 (H,W) or (H,W,3) as they are */
        ms_npz *z = NULL;
        ms_npy a = {0};
        if ((st = ms_npz_open(pr->img, &z, err))) return st;
        if (!(st = ms_npz_get(z, "imgs", &a, err))) {
            int C = a.ndim == 3 ? (int)a.shape[2] : 1;
            if (a.dtype != MS_NPY_U8 || (a.ndim != 2 && a.ndim != 3) || (C != 1 && C != 3))
                st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: 2-D imgs must be uint8 (H,W) or (H,W,3)", pr->img);
            else if (a.shape[0] != v->ny || a.shape[1] != v->nx)
                st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: imgs is %lldx%lld (HxW), gts is %dx%d", pr->img,
                              (long long)a.shape[0], (long long)a.shape[1], v->ny, v->nx);
            else v->image = a.data, a.data = NULL, v->channels = C;
        }
        ms_npy_free(&a);
        ms_npz_close(z);
    } else { /* the inference path: src/api/volume.c */
        medsam_volume *vol = NULL;
        medsam_volume_info vi;
        if ((st = medsam_volume_read(pr->img, &vol, err))) return st;
        medsam_volume_get_info(vol, &vi);
        const size_t n = (size_t)vi.nx * vi.ny * vi.nz;
        if (vi.nx != v->nx || vi.ny != v->ny || vi.nz != v->nz)
            st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: image is %dx%dx%d (x,y,z), labels %s are %dx%dx%d", pr->img,
                          vi.nx, vi.ny, vi.nz, pr->gt, v->nx, v->ny, v->nz);
        else if (!(v->image = malloc(n)))
            st = ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory for the normalised volume", pr->img);
        else if ((st = medsam_volume_normalize(vol, &v->o.intensity, v->image, NULL, err)))
            ms_error_prefix(err, pr->img);
        v->channels = 1;
        medsam_volume_free(vol);
    }
    if (st) {
        free(v->image);
        v->image = NULL;
        return st;
    }
    v->img_cur = p;
    return MEDSAM_OK;
}

/* Slice z of the held labels resized to S x S (order 0) into out (S, S); returns a count
 * of non-zero labels in out via *fg (may be NULL). */
static medsam_status slice_labels(ms_voldata *v, int z, int32_t *out, int64_t *fg, medsam_error *err) {
    const size_t plane = (size_t)v->nx * v->ny, SS = (size_t)v->S * v->S;
    const int32_t *src = v->labels + (size_t)z * plane;
    for (size_t i = 0; i < plane; i++) v->rs_in[i] = src[i];
    // ref: pre_CT_MR.py:162-171 — transform.resize(gt_i, (S, S), order=0, preserve_range=True, anti_aliasing=False)
    ms_resize_opts ro = {.order = 0, .anti_aliasing = 0, .clip = 1, .threads = v->o.nthreads};
    medsam_status st = ms_resize_skimage(v->rs_out, v->rs_in, v->ny, v->nx, 0, v->S, v->S, &ro, err);
    if (st) return st;
    int64_t c = 0;
    for (size_t i = 0; i < SS; i++) {
        out[i] = (int32_t)v->rs_out[i];
        c += out[i] != 0;
    }
    if (fg) *fg = c;
    return MEDSAM_OK;
}

static medsam_status add_sample(ms_dataset *ds, int *cap, int p, int z, medsam_error *err) {
    ms_voldata *v = ds->vol;
    if (ds->count == *cap) {
        int nc = *cap ? 2 * *cap : 256;
        char **nn = realloc(ds->names, (size_t)nc * sizeof *nn);
        if (nn) ds->names = nn;
        int *a = realloc(v->sample_pair, (size_t)nc * sizeof *a);
        if (a) v->sample_pair = a;
        int *b = realloc(v->sample_z, (size_t)nc * sizeof *b);
        if (b) v->sample_z = b;
        if (!nn || !a || !b) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory listing samples");
        *cap = nc;
    }
    char name[1200];
    if (v->is_2d) snprintf(name, sizeof name, "%s", v->pairs[p].name);
    else snprintf(name, sizeof name, "%s:%d", v->pairs[p].name, z);
    if (!(ds->names[ds->count] = strdup(name))) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory listing samples");
    v->sample_pair[ds->count] = p, v->sample_z[ds->count] = z;
    ds->count++;
    return MEDSAM_OK;
}

medsam_status ms_voldata_open(const char *dir, int size, const ms_dataset_opts *o, ms_dataset *ds, int *found,
                              medsam_error *err) {
    *found = 0;
    if (size < 1) return ms_error(err, MEDSAM_ERR_ARG, "dataset: image size %d", size);
    ms_voldata *v = calloc(1, sizeof *v);
    if (!v) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    v->o = *o, v->S = size, v->cur = v->img_cur = -1;
    v->layout = MS_DATA_NIFTI;
    medsam_status st = list_nifti(dir, v, err);
    if (!st && v->npairs == 0) {
        v->layout = MS_DATA_NPZ;
        st = list_npz(dir, v, err);
    }
    if (st || v->npairs == 0) {
        ms_voldata_free(v);
        return st;
    }
    *found = 1;
    memset(ds, 0, sizeof *ds);
    ds->vol = v;
    ds->size = size;
    ds->layout = v->layout;
    qsort(v->pairs, (size_t)v->npairs, sizeof *v->pairs, cmp_pair);
    v->rs_out = malloc((size_t)size * size * sizeof *v->rs_out);
    v->hwc = malloc((size_t)size * size * 3 * sizeof *v->hwc);
    int32_t *lab = malloc((size_t)size * size * sizeof *lab); // (S, S)
    if (!(ds->dir = strdup(dir)) || !v->rs_out || !v->hwc || !lab) st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    int cap = 0;
    for (int p = 0; p < v->npairs && !st; p++) {
        int any = 0, before = ds->count;
        if ((st = read_labels(v, p, &any, err)) || (st = read_image(v, p, err))) break;
        if (!any) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "%s: no foreground: every label is 0", v->pairs[p].gt);
            break;
        }
        // ref: pre_CT_MR.py:87-92 — z_index = np.unique(np.where(gt_data_ori > 0)[0])
        const size_t plane = (size_t)v->nx * v->ny;
        for (int z = 0; z < v->nz && !st; z++) {
            const int32_t *sl = v->labels + (size_t)z * plane;
            size_t i = 0;
            while (i < plane && sl[i] == 0) i++;
            if (i == plane) continue;
            int64_t fg;
            if (!(st = slice_labels(v, z, lab, &fg, err)) && fg > 0) st = add_sample(ds, &cap, p, z, err);
        }
        if (!st && ds->count == before) ds->files_skipped++;
        else if (!st) ds->files++;
    }
    free(lab);
    if (!st && ds->count == 0)
        st = ms_error(err, MEDSAM_ERR_FORMAT, "%s: no slice keeps a label after removing objects under %lld voxels (3-D) "
                      "/ %lld pixels (per slice) and resizing to %d", dir, (long long)o->min_voxels_3d,
                      (long long)o->min_pixels_2d, size);
    if (st) ms_dataset_free(ds);
    return st;
}

void ms_voldata_free(ms_voldata *v) {
    if (!v) return;
    for (int p = 0; p < v->npairs; p++) free(v->pairs[p].name), free(v->pairs[p].img), free(v->pairs[p].gt);
    free(v->pairs);
    free(v->sample_pair);
    free(v->sample_z);
    free(v->labels);
    free(v->image);
    free(v->rs_in);
    free(v->rs_out);
    free(v->hwc);
    free(v);
}

/* A sample with the box zoom (pipeline/zoom.h), prepared as inference with --box-zoom prepares it: the label
 * and its jittered box are drawn at the slice's own resolution (the jitter scaled from S pixels to the slice's),
 * the zoom window of that box (the whole slice when the box is not small) is preprocessed as an image of its
 * own, the chosen label's mask in the window is resized to S (order 0) and the box is given in S pixels of the
 * window, as MedSAM_Inference.py scales a box: box / [w, h, w, h] * S. */
static medsam_status load_zoomed(ms_voldata *v, int p, int z, int bbox_shift, pyrandom *rng, float *image, float *gt,
                                 float box[4], medsam_error *err) {
    const int S = v->S, nx = v->nx, ny = v->ny;
    const int32_t *lab = v->labels + (size_t)z * nx * ny; // (ny, nx)
    const int big = nx > ny ? nx : ny;
    const int shift = (int)floor((double)bbox_shift * big / S + 0.5);
    int32_t chosen;
    float ob[4]; /* the box in slice pixels */
    medsam_status st = ms_dataset_pick_box(lab, ny, nx, shift, rng, &chosen, ob, NULL, err);
    if (st) return st;
    ms_zoom_window w;
    ms_box_zoom_window(ob, nx, ny, v->o.box_zoom, &w);
    box[0] = (ob[0] - w.x0) / w.w * S;
    box[1] = (ob[1] - w.y0) / w.h * S;
    box[2] = (ob[2] - w.x0) / w.w * S;
    box[3] = (ob[3] - w.y0) / w.h * S;
    if (image) {
        const size_t plane = (size_t)nx * ny;
        const uint8_t *px = v->is_2d ? v->image : v->image + (size_t)z * plane;
        uint8_t *crop = malloc((size_t)w.w * w.h * v->channels); // (w.h, w.w, channels)
        if (!crop) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        ms_zoom_crop(px, nx, v->channels, 1, &w, crop);
        // ref: MedSAM_Inference.py:114-130 on the window
        st = medsam_preprocess_pixels(crop, w.w, w.h, v->channels, 8, S, v->o.nthreads, v->hwc, err);
        free(crop);
        if (st) return st;
        ms_preprocess_hwc_to_chw(image, v->hwc, S, S, 3);
    }
    if (gt) {
        for (int y = 0; y < w.h; y++)
            for (int x = 0; x < w.w; x++)
                v->rs_in[(size_t)y * w.w + x] = lab[(size_t)(w.y0 + y) * nx + w.x0 + x] == chosen;
        ms_resize_opts ro = {.order = 0, .anti_aliasing = 0, .clip = 1, .threads = v->o.nthreads};
        if ((st = ms_resize_skimage(v->rs_out, v->rs_in, w.h, w.w, 0, S, S, &ro, err))) return st;
        for (size_t i = 0; i < (size_t)S * S; i++) gt[i] = v->rs_out[i] != 0;
    }
    return MEDSAM_OK;
}

medsam_status ms_voldata_load(const ms_dataset *ds, int index, int bbox_shift, pyrandom *rng, float *image, float *gt,
                              float box[4], medsam_error *err) {
    ms_voldata *v = ds->vol;
    if (index < 0 || index >= ds->count) return ms_error(err, MEDSAM_ERR_ARG, "%s: no sample %d", ds->dir, index);
    const int p = v->sample_pair[index], z = v->sample_z[index], S = v->S;
    medsam_status st = MEDSAM_OK;
    int any;
    if (v->cur != p && (st = read_labels(v, p, &any, err))) return st;
    if (v->o.box_zoom > 0) {
        if (image && v->img_cur != p && (st = read_image(v, p, err))) return st;
        if ((st = load_zoomed(v, p, z, bbox_shift, rng, image, gt, box, err))) {
            char where[1200];
            snprintf(where, sizeof where, "%s slice %d", v->pairs[p].gt, z);
            ms_error_prefix(err, where);
        }
        return st;
    }
    if (image) {
        if (v->img_cur != p && (st = read_image(v, p, err))) return st;
        const size_t plane = (size_t)v->nx * v->ny;
        const uint8_t *px = v->is_2d ? v->image : v->image + (size_t)z * plane;
        // ref: MedSAM_Inference.py:114-130 on the slice, as src/api/volume.c:be_encode does
        if ((st = medsam_preprocess_pixels(px, v->nx, v->ny, v->channels, 8, S, v->o.nthreads, v->hwc, err))) {
            ms_error_prefix(err, v->pairs[p].img);
            return st;
        }
        // ref: train_one_gpu.py:NpyDataset.__getitem__ — np.transpose(img_1024, (2, 0, 1))
        ms_preprocess_hwc_to_chw(image, v->hwc, S, S, 3);
    }
    int32_t *lab = malloc((size_t)S * S * sizeof *lab); // (S, S)
    if (!lab) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    int32_t chosen;
    if ((st = slice_labels(v, z, lab, NULL, err)) ||
        (st = ms_dataset_pick_box(lab, S, S, bbox_shift, rng, &chosen, box, gt, err))) {
        char where[1200];
        snprintf(where, sizeof where, "%s slice %d", v->pairs[p].gt, z);
        ms_error_prefix(err, where);
    }
    free(lab);
    return st;
}
