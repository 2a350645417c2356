/* dicom_series.c — a DICOM file or folder (or file images in memory) into one
 * ms_volume: file listing, series grouping, slice sorting along the normal,
 * consistency checks, the RAS+ affine (sform + nibabel-style qform), and the
 * pixel copy.
 *
 * Two passes over the files: the first parses every header and keeps only
 * the parsed values; the second parses each file again and decodes its
 * frames straight into the volume, so that memory stays at one volume plus
 * one file. A single file is read once. */
#define _POSIX_C_SOURCE 200809L
#include "io/dicom.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/budget.h"
#include "core/error.h"

#define NIFTI_UNITS_MM 2
#define POS_TOL_MM 1e-3   /* slices closer than this along the normal share a position */
#define IOP_TOL 1e-4      /* orientation cosines equal within this */
#define SPACING_REL_TOL 1e-4
#define UNEVEN_REL 0.01   /* meta.uneven_spacing above this relative deviation */
#define SHEAR_REL 1e-3    /* sideways slice step (relative) counted as a shear */

/* ---- sources: files on disk or images in memory ---- */

typedef struct {
    int n;
    char **paths;              /* (n) owned, disk sources */
    const void *const *bufs;   /* (n) memory sources */
    const size_t *lens;
    const char *const *names;
    int folder;                /* skip non-DICOM entries, series semantics */
    int nsubdirs;              /* folders inside the folder (not searched) */
    const char *where;         /* the folder (or "<memory>") for messages */
} dcm_sources;

static const char *src_name(const dcm_sources *s, int i) {
    if (s->paths) return s->paths[i];
    return s->names && s->names[i] ? s->names[i] : "<memory>";
}

static medsam_status read_whole_file(const char *path, uint8_t **out, size_t *len, medsam_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return ms_error(err, MEDSAM_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (unsigned long long)sb.st_size > (unsigned long long)(SIZE_MAX / 2)) {
        fclose(fp);
        return ms_error(err, MEDSAM_ERR_IO, "not a readable regular file");
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        fclose(fp);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %zu bytes", n);
    }
    size_t got = fread(b, 1, n, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad || got != n) {
        free(b);
        return ms_error(err, MEDSAM_ERR_IO, "read failed (%zu of %zu bytes)", got, n);
    }
    *out = b, *len = n;
    return MEDSAM_OK;
}

/* Bytes of source i: *owned is set when they were read from disk. */
static medsam_status load_source(const dcm_sources *s, int i, const uint8_t **buf, size_t *len, uint8_t **owned,
                                 medsam_error *err) {
    *owned = NULL;
    if (!s->paths) {
        *buf = s->bufs[i], *len = s->bufs[i] ? s->lens[i] : 0;
        return MEDSAM_OK;
    }
    medsam_status st = read_whole_file(s->paths[i], owned, len, err);
    *buf = *owned;
    return st;
}

static int src_is_dicom(const dcm_sources *s, int i) {
    if (s->paths) return ms_dicom_is_dicom(s->paths[i]);
    return ms_dicom_is_dicom_mem(s->bufs[i], s->bufs[i] ? s->lens[i] : 0);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Regular files of a folder (not recursive), sorted by name. */
static medsam_status list_folder(const char *dir, dcm_sources *s, medsam_error *err) {
    DIR *d = opendir(dir);
    if (!d) return ms_error(err, MEDSAM_ERR_IO, "cannot open folder: %s", strerror(errno));
    int cap = 0;
    struct dirent *e;
    medsam_status st = MEDSAM_OK;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory listing the folder");
            break;
        }
        snprintf(p, n, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            s->nsubdirs += stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
            free(p);
            continue;
        }
        if (s->n == MS_DICOM_MAX_FILES) {
            free(p);
            st = ms_error(err, MEDSAM_ERR_NOMEM, "more than %d files in the folder", MS_DICOM_MAX_FILES);
            break;
        }
        if (s->n == cap) {
            int nc = cap ? cap * 2 : 64;
            char **np = realloc(s->paths, (size_t)nc * sizeof *np);
            if (!np) {
                free(p);
                st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory listing the folder");
                break;
            }
            s->paths = np, cap = nc;
        }
        s->paths[s->n++] = p;
    }
    closedir(d);
    if (st == MEDSAM_OK && s->n) qsort(s->paths, (size_t)s->n, sizeof *s->paths, cmp_str);
    return st;
}

static void free_sources(dcm_sources *s) {
    if (s->paths)
        for (int i = 0; i < s->n; i++) free(s->paths[i]);
    free(s->paths);
    s->paths = NULL;
}

/* ---- images (parsed files) and slices (frames) ---- */

typedef struct {
    int src;             /* source index */
    ms_dicom_file hdr;   /* pixel pointers cleared after the first pass */
    int first_slice;     /* index of its frame 0 among all slices (file order) */
} dcm_image;

typedef struct {
    int img, frame;
    double pos[3];
    int has_pos;
    double dist;         /* pos . normal */
    double slope, inter;
    int instance;        /* Instance Number, INT_MAX when absent */
} dcm_slice;

typedef struct {
    dcm_sources src;
    dcm_image *img;
    int nimg;
    dcm_slice *sl;
    int nsl;
    int nskipped;
    /* parsed headers still point at their pixels (memory sources or a single
     * file, whose bytes are kept here) */
    uint8_t *keep_buf;
    int keep_valid;
    uint64_t max_bytes; /* memory budget (core/budget.h); 0: none */
} dcm_job;

static void job_free(dcm_job *j) {
    for (int i = 0; i < j->nimg; i++) ms_dicom_file_free(&j->img[i].hdr);
    free(j->img);
    free(j->sl);
    free(j->keep_buf);
    free_sources(&j->src);
}

static medsam_status with_name(medsam_error *err, medsam_status st, const char *name) {
    ms_error_prefix(err, name);
    return st;
}

/* First pass: parse every source, keep image headers. */
static medsam_status scan_sources(dcm_job *j, medsam_error *err) {
    const dcm_sources *s = &j->src;
    j->img = calloc((size_t)(s->n ? s->n : 1), sizeof *j->img);
    if (!j->img) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    j->keep_valid = !s->paths || s->n == 1; /* memory images, or one file: no second parse */
    for (int i = 0; i < s->n; i++) {
        if (s->folder && !src_is_dicom(s, i)) {
            j->nskipped++;
            continue;
        }
        const uint8_t *buf;
        size_t len;
        uint8_t *owned;
        medsam_status st = load_source(s, i, &buf, &len, &owned, err);
        if (st != MEDSAM_OK) return with_name(err, st, src_name(s, i));
        dcm_image *im = &j->img[j->nimg];
        st = ms_dicom_parse_budget(buf, len, j->max_bytes, &im->hdr, err);
        if (st != MEDSAM_OK) {
            free(owned);
            return with_name(err, st, src_name(s, i));
        }
        ms_dicom_file *h = &im->hdr;
        if (!h->has_pixel_data) {
            int looks_image = h->rows > 0 || h->columns > 0;
            char modality[sizeof h->modality];
            memcpy(modality, h->modality, sizeof modality);
            ms_dicom_file_free(h);
            free(owned);
            if (s->folder && !looks_image) {
                j->nskipped++;
                continue;
            }
            if (looks_image)
                return with_name(err, ms_error(err, MEDSAM_ERR_FORMAT, "Rows/Columns but no Pixel Data (truncated?)"),
                                 src_name(s, i));
            return with_name(err,
                             ms_error(err, MEDSAM_ERR_UNSUPPORTED, "no Pixel Data (7FE0,0010): not an image (modality %s)",
                                      modality[0] ? modality : "not given"),
                             src_name(s, i));
        }
        if (j->keep_valid) {
            j->keep_buf = owned; /* one source at most, when read from disk */
        } else {
            free(owned);
            free(h->owned);
            h->owned = NULL, h->pixel_data = NULL;
        }
        im->src = i;
        j->nimg++;
    }
    if (!j->nimg)
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: no DICOM image among %d file(s)%s", s->where, s->n,
                        s->nsubdirs ? " (subfolders are not searched: pass the folder of one series)" : "");
    return MEDSAM_OK;
}

/* One series, same image format in every file. */
static medsam_status check_series(dcm_job *j, medsam_error *err) {
    int nseries = 1;
    const char *uids[3] = {j->img[0].hdr.series_uid, NULL, NULL};
    for (int i = 1; i < j->nimg; i++) {
        const char *u = j->img[i].hdr.series_uid;
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = !strcmp(j->img[k].hdr.series_uid, u);
        if (!seen) {
            if (nseries < 3) uids[nseries] = u;
            nseries++;
        }
    }
    if (nseries > 1)
        return ms_error(err, MEDSAM_ERR_ARG,
                        "%s: %d series in one place (Series Instance UIDs %s, %s%s); mixed series refused: pass one "
                        "folder per series",
                        j->src.where, nseries, uids[0][0] ? uids[0] : "(none)", uids[1][0] ? uids[1] : "(none)",
                        nseries > 2 ? ", ..." : "");
    const ms_dicom_file *a = &j->img[0].hdr;
    int64_t total = 0;
    for (int i = 0; i < j->nimg; i++) {
        const ms_dicom_file *b = &j->img[i].hdr;
        const char *nb = src_name(&j->src, j->img[i].src), *na = src_name(&j->src, j->img[0].src);
        if (b->rows != a->rows || b->columns != a->columns)
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: %d x %d pixels, but %s has %d x %d", nb, b->rows, b->columns, na,
                            a->rows, a->columns);
        if (ms_dicom_file_voxel_type(b) != ms_dicom_file_voxel_type(a) || b->bits_stored != a->bits_stored ||
            strcmp(b->photometric, a->photometric))
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: pixel format (%d/%d bits, %s, %s) differs from %s's (%d/%d, %s, %s)",
                            nb, b->bits_allocated, b->bits_stored, b->pixel_representation ? "signed" : "unsigned",
                            b->photometric, na, a->bits_allocated, a->bits_stored,
                            a->pixel_representation ? "signed" : "unsigned", a->photometric);
        if (b->frames_vary)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: orientation or pixel spacing varies between frames", nb);
        if (b->has_rescale && b->samples_per_pixel == 1 && b->rescale_slope == 0)
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: Rescale Slope is 0", nb);
        j->img[i].first_slice = (int)total;
        total += b->nframes;
    }
    if (total > MS_DICOM_MAX_SLICES)
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: %lld slices, over the limit of %d", j->src.where, (long long)total,
                        MS_DICOM_MAX_SLICES);
    j->nsl = (int)total;
    return MEDSAM_OK;
}

/* ---- slice order ---- */

static int cmp_by_dist(const void *pa, const void *pb) {
    const dcm_slice *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    if (a->instance != b->instance) return a->instance < b->instance ? -1 : 1;
    if (a->img != b->img) return a->img < b->img ? -1 : 1;
    return (a->frame > b->frame) - (a->frame < b->frame);
}

static int cmp_by_instance(const void *pa, const void *pb) {
    const dcm_slice *a = pa, *b = pb;
    if (a->instance != b->instance) return a->instance < b->instance ? -1 : 1;
    if (a->img != b->img) return a->img < b->img ? -1 : 1;
    return (a->frame > b->frame) - (a->frame < b->frame);
}

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static void cross3(const double *a, const double *b, double *out) {
    out[0] = a[1] * b[2] - a[2] * b[1], out[1] = a[2] * b[0] - a[0] * b[2], out[2] = a[0] * b[1] - a[1] * b[0];
}

static int normalise3(double *v) {
    double n = sqrt(dot3(v, v));
    if (!(n > 1e-3)) return -1;
    for (int i = 0; i < 3; i++) v[i] /= n;
    return 0;
}

/* Spacing along k for a lone slice (or without geometry): Spacing Between
 * Slices, else Slice Thickness, else 1. */
static double nominal_spacing(const ms_dicom_file *h) {
    if (h->has_spacing_between_slices && h->spacing_between_slices > 0) return h->spacing_between_slices;
    if (h->has_slice_thickness && h->slice_thickness > 0) return h->slice_thickness;
    return 1.0;
}

typedef struct {
    int has_geometry;
    double r[3], c[3], n[3]; /* row cosine (along i), column cosine (along j), normal (LPS) */
} dcm_frame_of_ref;

/* Builds the slice list with positions and rescale; sorts it. */
static medsam_status order_slices(dcm_job *j, dcm_frame_of_ref *g, medsam_error *err) {
    j->sl = calloc((size_t)j->nsl, sizeof *j->sl);
    if (!j->sl) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for %d slices", j->nsl);
    const ms_dicom_file *h0 = &j->img[0].hdr;
    g->has_geometry = h0->has_iop;
    if (g->has_geometry) {
        memcpy(g->r, h0->iop, sizeof g->r), memcpy(g->c, h0->iop + 3, sizeof g->c);
        if (normalise3(g->r) || normalise3(g->c))
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: Image Orientation (Patient) is not made of unit vectors",
                            src_name(&j->src, j->img[0].src));
        cross3(g->r, g->c, g->n);
        if (normalise3(g->n))
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: Image Orientation (Patient) row and column are parallel",
                            src_name(&j->src, j->img[0].src));
    }
    int k = 0;
    for (int i = 0; i < j->nimg; i++) {
        const ms_dicom_file *h = &j->img[i].hdr;
        if (!h->has_iop) g->has_geometry = 0;
        else
            for (int q = 0; q < 6; q++)
                if (fabs(h->iop[q] - h0->iop[q]) > IOP_TOL)
                    return ms_error(err, MEDSAM_ERR_FORMAT, "%s: Image Orientation (Patient) differs from %s's",
                                    src_name(&j->src, j->img[i].src), src_name(&j->src, j->img[0].src));
        double step = h->nframes > 1 ? nominal_spacing(h) : 0;
        for (int f = 0; f < h->nframes; f++, k++) {
            dcm_slice *s = &j->sl[k];
            const ms_dicom_frame *fr = h->frames ? &h->frames[f] : NULL;
            s->img = i, s->frame = f;
            s->instance = h->has_instance_number ? h->instance_number : INT_MAX;
            if (fr && fr->has_ipp) {
                memcpy(s->pos, fr->ipp, sizeof s->pos), s->has_pos = 1;
            } else if (h->has_ipp && g->has_geometry) { /* frames without positions: stacked along n */
                for (int q = 0; q < 3; q++) s->pos[q] = h->ipp[q] + f * step * g->n[q];
                s->has_pos = 1;
            }
            if (!s->has_pos) g->has_geometry = 0;
            s->slope = fr && fr->has_rescale ? fr->slope : h->has_rescale ? h->rescale_slope : 1.0;
            s->inter = fr && fr->has_rescale ? fr->inter : h->has_rescale ? h->rescale_intercept : 0.0;
            if (h->samples_per_pixel != 1) s->slope = 1, s->inter = 0;
            if (s->slope == 0)
                return ms_error(err, MEDSAM_ERR_FORMAT, "%s: frame %d has Rescale Slope 0",
                                src_name(&j->src, j->img[i].src), f);
        }
    }
    if (!g->has_geometry) {
        qsort(j->sl, (size_t)j->nsl, sizeof *j->sl, cmp_by_instance);
        return MEDSAM_OK;
    }
    for (int q = 0; q < j->nsl; q++) j->sl[q].dist = dot3(j->sl[q].pos, g->n);
    qsort(j->sl, (size_t)j->nsl, sizeof *j->sl, cmp_by_dist);
    for (int q = 1; q < j->nsl; q++) {
        const dcm_slice *a = &j->sl[q - 1], *b = &j->sl[q];
        if (b->dist - a->dist < POS_TOL_MM) {
            const char *na = src_name(&j->src, j->img[a->img].src), *nb = src_name(&j->src, j->img[b->img].src);
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                            "%s%s%.0d and %s%s%.0d share a position (%.6g mm along the normal): the series holds several "
                            "volumes (echoes, phases or time points); split it first",
                            na, a->frame ? " frame " : "", a->frame, nb, b->frame ? " frame " : "", b->frame, b->dist);
        }
    }
    return MEDSAM_OK;
}

/* ---- geometry ---- */

static double det3(const double m[3][3]) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

/* Nearest rotation to m (det > 0): Newton's polar iteration X <- (X + X^-T)/2. */
static void polar_rotation(double m[3][3]) {
    for (int it = 0; it < 50; it++) {
        double d = det3(m);
        if (!(fabs(d) > 1e-12)) return;
        double inv_t[3][3]; /* (m^-1)^T = cofactor(m) / det */
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++) {
                int i1 = (i + 1) % 3, i2 = (i + 2) % 3, k1 = (k + 1) % 3, k2 = (k + 2) % 3;
                inv_t[i][k] = (m[i1][k1] * m[i2][k2] - m[i1][k2] * m[i2][k1]) / d;
            }
        double change = 0;
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++) {
                double v = 0.5 * (m[i][k] + inv_t[i][k]);
                change += fabs(v - m[i][k]);
                m[i][k] = v;
            }
        if (change < 1e-15) return;
    }
}

/* ref: nibabel/nifti1.py:Nifti1Header.set_qform (zooms = column norms, qfac
 * from the determinant, polar decomposition, quaternion with a >= 0). */
static void set_qform_from_affine(ms_volume *v, const double A[4][4]) {
    double R[3][3], zoom[3];
    for (int k = 0; k < 3; k++) {
        zoom[k] = sqrt(A[0][k] * A[0][k] + A[1][k] * A[1][k] + A[2][k] * A[2][k]);
        for (int i = 0; i < 3; i++) R[i][k] = zoom[k] > 0 ? A[i][k] / zoom[k] : (i == k);
    }
    double qfac = 1;
    if (det3(R) < 0) {
        qfac = -1;
        for (int i = 0; i < 3; i++) R[i][2] = -R[i][2];
    }
    polar_rotation(R);
    double w, x, y, z, tr = R[0][0] + R[1][1] + R[2][2]; /* Shepperd's method */
    if (tr > 0) {
        double s = 2 * sqrt(tr + 1);
        w = s / 4, x = (R[2][1] - R[1][2]) / s, y = (R[0][2] - R[2][0]) / s, z = (R[1][0] - R[0][1]) / s;
    } else if (R[0][0] > R[1][1] && R[0][0] > R[2][2]) {
        double s = 2 * sqrt(1 + R[0][0] - R[1][1] - R[2][2]);
        w = (R[2][1] - R[1][2]) / s, x = s / 4, y = (R[0][1] + R[1][0]) / s, z = (R[0][2] + R[2][0]) / s;
    } else if (R[1][1] > R[2][2]) {
        double s = 2 * sqrt(1 + R[1][1] - R[0][0] - R[2][2]);
        w = (R[0][2] - R[2][0]) / s, x = (R[0][1] + R[1][0]) / s, y = s / 4, z = (R[1][2] + R[2][1]) / s;
    } else {
        double s = 2 * sqrt(1 + R[2][2] - R[0][0] - R[1][1]);
        w = (R[1][0] - R[0][1]) / s, x = (R[0][2] + R[2][0]) / s, y = (R[1][2] + R[2][1]) / s, z = s / 4;
    }
    if (w < 0) x = -x, y = -y, z = -z;
    v->quatern_b = x, v->quatern_c = y, v->quatern_d = z;
    v->qoffset_x = A[0][3], v->qoffset_y = A[1][3], v->qoffset_z = A[2][3];
    v->pixdim[0] = qfac;
    for (int k = 0; k < 3; k++) v->pixdim[k + 1] = zoom[k];
}

/* Affine, pixdim, codes and spacing facts. */
static medsam_status set_geometry(dcm_job *j, const dcm_frame_of_ref *g, ms_volume *v, ms_dicom_meta *meta,
                                  medsam_error *err) {
    const ms_dicom_file *h0 = &j->img[j->sl[0].img].hdr;
    double ps[2] = {1, 1}; /* (row spacing, column spacing) */
    if (h0->has_pixel_spacing) {
        if (!(h0->pixel_spacing[0] > 0 && h0->pixel_spacing[1] > 0))
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: Pixel Spacing %g\\%g is not positive",
                            src_name(&j->src, j->img[j->sl[0].img].src), h0->pixel_spacing[0], h0->pixel_spacing[1]);
        ps[0] = h0->pixel_spacing[0], ps[1] = h0->pixel_spacing[1];
    }
    for (int i = 0; i < j->nimg; i++) {
        const ms_dicom_file *h = &j->img[i].hdr;
        double a = h->has_pixel_spacing ? h->pixel_spacing[0] : 1, b = h->has_pixel_spacing ? h->pixel_spacing[1] : 1;
        if (fabs(a - ps[0]) > SPACING_REL_TOL * ps[0] || fabs(b - ps[1]) > SPACING_REL_TOL * ps[1])
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: Pixel Spacing %g\\%g differs from %g\\%g",
                            src_name(&j->src, j->img[i].src), a, b, ps[0], ps[1]);
    }
    meta->pixel_spacing[0] = ps[0], meta->pixel_spacing[1] = ps[1];
    v->xyzt_units = NIFTI_UNITS_MM;
    int n = j->nsl;
    if (!g->has_geometry) {
        double sp = nominal_spacing(h0);
        v->pixdim[0] = 1, v->pixdim[1] = ps[1], v->pixdim[2] = ps[0], v->pixdim[3] = sp;
        v->qform_code = v->sform_code = 0;
        meta->slice_spacing = sp;
        return ms_volume_update_affine(v, err);
    }
    double step[3], spacing;
    if (n > 1) {
        const dcm_slice *a = &j->sl[0], *b = &j->sl[n - 1];
        for (int q = 0; q < 3; q++) step[q] = (b->pos[q] - a->pos[q]) / (n - 1);
        spacing = (b->dist - a->dist) / (n - 1);
        double worst = 0;
        for (int q = 1; q < n; q++) {
            double dev = fabs((j->sl[q].dist - j->sl[q - 1].dist) - spacing) / spacing;
            if (dev > worst) worst = dev;
        }
        meta->max_spacing_deviation = worst;
        meta->uneven_spacing = worst > UNEVEN_REL;
        double along = dot3(step, g->n), side[3];
        for (int q = 0; q < 3; q++) side[q] = step[q] - along * g->n[q];
        meta->sheared = sqrt(dot3(side, side)) > SHEAR_REL * sqrt(dot3(step, step));
    } else {
        spacing = nominal_spacing(h0);
        for (int q = 0; q < 3; q++) step[q] = g->n[q] * spacing;
    }
    meta->slice_spacing = spacing;
    meta->has_geometry = 1;
    /* LPS columns, then RAS = diag(-1, -1, 1) * LPS */
    double A[4][4] = {{0}};
    const double *p0 = j->sl[0].pos;
    for (int q = 0; q < 3; q++) {
        double sgn = q < 2 ? -1.0 : 1.0;
        A[q][0] = sgn * g->r[q] * ps[1];
        A[q][1] = sgn * g->c[q] * ps[0];
        A[q][2] = sgn * step[q];
        A[q][3] = sgn * p0[q];
    }
    A[3][3] = 1;
    for (int q = 0; q < 3; q++)
        for (int c = 0; c < 4; c++) v->srow[q][c] = A[q][c];
    set_qform_from_affine(v, A);
    v->qform_code = v->sform_code = 1;
    return ms_volume_update_affine(v, err);
}

/* ---- pixels ---- */

static void to_float(const void *raw, ms_voxel_type t, size_t n, double slope, double inter, float *out) {
    for (size_t i = 0; i < n; i++) {
        double x;
        switch (t) {
        case MS_VOX_INT8: x = ((const int8_t *)raw)[i]; break;
        case MS_VOX_UINT16: x = ((const uint16_t *)raw)[i]; break;
        case MS_VOX_INT16: x = ((const int16_t *)raw)[i]; break;
        case MS_VOX_UINT32: x = ((const uint32_t *)raw)[i]; break;
        case MS_VOX_INT32: x = ((const int32_t *)raw)[i]; break;
        default: x = ((const uint8_t *)raw)[i]; break;
        }
        out[i] = (float)(x * slope + inter);
    }
}

/* Second pass: decode every frame into its sorted slot. */
static medsam_status fill_volume(dcm_job *j, ms_volume *v, int as_float, medsam_error *err) {
    int *slot = malloc((size_t)j->nsl * sizeof *slot);
    if (!slot) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    for (int k = 0; k < j->nsl; k++) slot[j->img[j->sl[k].img].first_slice + j->sl[k].frame] = k;
    const ms_dicom_file *h0 = &j->img[0].hdr;
    ms_voxel_type raw_t = ms_dicom_file_voxel_type(h0);
    size_t frame_samples = (size_t)h0->rows * h0->columns * (size_t)h0->samples_per_pixel;
    size_t raw_bytes = frame_samples * (size_t)ms_voxel_type_size(raw_t);
    size_t out_bytes = frame_samples * (size_t)ms_voxel_type_size(v->datatype);
    void *tmp = as_float ? malloc(raw_bytes) : NULL;
    medsam_status st = as_float && !tmp ? ms_error(err, MEDSAM_ERR_NOMEM, "out of memory") : MEDSAM_OK;
    for (int i = 0; i < j->nimg && st == MEDSAM_OK; i++) {
        dcm_image *im = &j->img[i];
        const char *name = src_name(&j->src, im->src);
        ms_dicom_file again, *h = &im->hdr;
        uint8_t *owned = NULL;
        int reparsed = !j->keep_valid;
        if (reparsed) {
            const uint8_t *buf;
            size_t len;
            if ((st = load_source(&j->src, im->src, &buf, &len, &owned, err)) != MEDSAM_OK ||
                (st = ms_dicom_parse_budget(buf, len, j->max_bytes, &again, err)) != MEDSAM_OK) {
                free(owned);
                st = with_name(err, st, name);
                break;
            }
            h = &again;
            if (!again.has_pixel_data || again.rows != h0->rows || again.columns != h0->columns ||
                again.nframes != im->hdr.nframes || ms_dicom_file_voxel_type(&again) != raw_t ||
                again.bits_stored != im->hdr.bits_stored) {
                ms_dicom_file_free(&again);
                free(owned);
                st = ms_error(err, MEDSAM_ERR_IO, "%s: changed while it was being read", name);
                break;
            }
        }
        for (int f = 0; f < h->nframes && st == MEDSAM_OK; f++) {
            const dcm_slice *s = &j->sl[slot[im->first_slice + f]];
            void *dst = (char *)v->data + (size_t)slot[im->first_slice + f] * out_bytes;
            st = ms_dicom_decode_frame(h, f, as_float ? tmp : dst, err);
            if (st == MEDSAM_OK && as_float) to_float(tmp, raw_t, frame_samples, s->slope, s->inter, dst);
            if (st != MEDSAM_OK) st = with_name(err, st, name);
        }
        if (reparsed) ms_dicom_file_free(&again);
        free(owned);
    }
    free(tmp);
    free(slot);
    return st;
}

static void fill_meta(const dcm_job *j, int rescale_varies, ms_dicom_meta *m) {
    const ms_dicom_file *h = &j->img[j->sl[0].img].hdr;
    const dcm_slice *s = &j->sl[0];
    snprintf(m->modality, sizeof m->modality, "%s", h->modality);
    snprintf(m->photometric, sizeof m->photometric, "%s", h->photometric);
    snprintf(m->patient_position, sizeof m->patient_position, "%s", h->patient_position);
    snprintf(m->series_uid, sizeof m->series_uid, "%s", h->series_uid);
    snprintf(m->transfer_syntax, sizeof m->transfer_syntax, "%s", h->transfer_syntax);
    m->has_window = h->has_window, m->window_center = h->window_center, m->window_width = h->window_width;
    m->has_rescale = h->has_rescale || (h->frames && h->frames[s->frame].has_rescale);
    m->rescale_slope = s->slope, m->rescale_intercept = s->inter;
    m->rescale_varies = rescale_varies;
    m->nslices = j->nsl, m->nfiles = j->nimg, m->nskipped = j->nskipped;
    m->rows = h->rows, m->columns = h->columns, m->samples_per_pixel = h->samples_per_pixel;
    m->bits_allocated = h->bits_allocated, m->bits_stored = h->bits_stored;
    m->pixel_representation = h->pixel_representation;
}

static medsam_status run_job(dcm_job *j, ms_volume *out, ms_dicom_meta *meta, medsam_error *err) {
    ms_dicom_meta m;
    memset(&m, 0, sizeof m);
    dcm_frame_of_ref g;
    memset(&g, 0, sizeof g);
    medsam_status st = scan_sources(j, err);
    if (st == MEDSAM_OK) st = check_series(j, err);
    if (st == MEDSAM_OK) st = order_slices(j, &g, err);
    if (st == MEDSAM_OK) {
        int varies = 0;
        for (int k = 1; k < j->nsl; k++)
            if (j->sl[k].slope != j->sl[0].slope || j->sl[k].inter != j->sl[0].inter) varies = 1;
        const ms_dicom_file *h0 = &j->img[0].hdr;
        ms_voxel_type t = varies ? MS_VOX_FLOAT32 : ms_dicom_file_voxel_type(h0);
        fill_meta(j, varies, &m);
        char what[80];
        snprintf(what, sizeof what, "DICOM %dx%dx%d %s", h0->columns, h0->rows, j->nsl, ms_voxel_type_name(t));
        st = ms_budget_check(j->max_bytes,
                             (uint64_t)h0->columns * h0->rows * (uint64_t)j->nsl * (uint64_t)ms_voxel_type_size(t),
                             what, err);
        if (st != MEDSAM_OK) st = with_name(err, st, j->src.where);
        if (st == MEDSAM_OK) st = ms_volume_alloc(out, h0->columns, h0->rows, j->nsl, 1, t, err);
        if (st == MEDSAM_OK) {
            out->ndim = 3;
            out->scl_slope = varies ? 1.0 : j->sl[0].slope;
            out->scl_inter = varies ? 0.0 : j->sl[0].inter;
            snprintf(out->descrip, sizeof out->descrip, "DICOM %s", m.modality);
            st = set_geometry(j, &g, out, &m, err);
        }
        if (st == MEDSAM_OK) st = fill_volume(j, out, varies, err);
    }
    if (st != MEDSAM_OK) {
        ms_volume_free(out);
        memset(&m, 0, sizeof m);
    }
    if (meta) *meta = m;
    job_free(j);
    return st;
}

/* The sources of a path: one file, or a folder's files. On failure the job is freed. */
static medsam_status path_sources(const char *path, dcm_job *j, medsam_error *err) {
    memset(j, 0, sizeof *j);
    j->src.where = path ? path : "(null)";
    struct stat sb;
    if (!path || stat(path, &sb) != 0)
        return with_name(err, ms_error(err, MEDSAM_ERR_IO, "cannot open: %s", path ? strerror(errno) : "no path"),
                         j->src.where);
    if (S_ISDIR(sb.st_mode)) {
        j->src.folder = 1;
        medsam_status st = list_folder(path, &j->src, err);
        if (st != MEDSAM_OK) {
            job_free(j);
            return with_name(err, st, path);
        }
        if (!j->src.n) {
            int sub = j->src.nsubdirs;
            job_free(j);
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: no files in the folder%s", path,
                            sub ? " (subfolders are not searched: pass the folder of one series)" : "");
        }
    } else {
        j->src.paths = malloc(sizeof *j->src.paths);
        if (!j->src.paths || !(j->src.paths[0] = strdup(path))) {
            free(j->src.paths);
            return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        }
        j->src.n = 1;
    }
    return MEDSAM_OK;
}

medsam_status ms_dicom_read(const char *path, ms_volume *out, ms_dicom_meta *meta, medsam_error *err) {
    return ms_dicom_read_budget(path, 0, out, meta, err);
}

medsam_status ms_dicom_read_budget(const char *path, uint64_t max_bytes, ms_volume *out, ms_dicom_meta *meta,
                                   medsam_error *err) {
    ms_volume_init(out);
    if (meta) memset(meta, 0, sizeof *meta);
    dcm_job j;
    medsam_status st = path_sources(path, &j, err);
    if (st != MEDSAM_OK) return st;
    j.max_bytes = max_bytes;
    return run_job(&j, out, meta, err);
}

void ms_dicom_refs_free(ms_dicom_refs *r) {
    if (!r) return;
    free(r->slices);
    memset(r, 0, sizeof *r);
}

medsam_status ms_dicom_read_refs(const char *path, ms_dicom_refs *r, medsam_error *err) {
    memset(r, 0, sizeof *r);
    dcm_job j;
    dcm_frame_of_ref g;
    memset(&g, 0, sizeof g);
    medsam_status st = path_sources(path, &j, err);
    if (st != MEDSAM_OK) return st;
    st = scan_sources(&j, err);
    if (st == MEDSAM_OK) st = check_series(&j, err);
    if (st == MEDSAM_OK) st = order_slices(&j, &g, err);
    if (st == MEDSAM_OK && !(r->slices = calloc((size_t)j.nsl, sizeof *r->slices)))
        st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    if (st == MEDSAM_OK) {
        const ms_dicom_file *h = &j.img[j.sl[0].img].hdr;
        r->ids = h->ids;
        memcpy(r->series_uid, h->series_uid, sizeof r->series_uid), memcpy(r->modality, h->modality, sizeof r->modality);
        r->rows = h->rows, r->columns = h->columns, r->nslices = j.nsl;
        memcpy(r->iop, h->iop, sizeof r->iop), r->has_iop = h->has_iop;
        memcpy(r->pixel_spacing, h->pixel_spacing, sizeof r->pixel_spacing), r->has_pixel_spacing = h->has_pixel_spacing;
        r->slice_thickness = h->slice_thickness, r->has_slice_thickness = h->has_slice_thickness;
        r->spacing_between_slices = h->spacing_between_slices;
        r->has_spacing_between_slices = h->has_spacing_between_slices;
        for (int k = 0; k < j.nsl; k++) {
            const dcm_slice *s = &j.sl[k];
            const ms_dicom_file *f = &j.img[s->img].hdr;
            ms_dicom_slice_ref *o = &r->slices[k];
            memcpy(o->sop_class_uid, f->sop_class_uid, sizeof o->sop_class_uid);
            memcpy(o->sop_instance_uid, f->sop_instance_uid, sizeof o->sop_instance_uid);
            o->frame = f->nframes > 1 ? s->frame + 1 : 0;
            memcpy(o->ipp, s->pos, sizeof o->ipp), o->has_ipp = s->has_pos;
        }
    } else {
        ms_dicom_refs_free(r);
    }
    job_free(&j);
    return st;
}

medsam_status ms_dicom_read_mem(const void *buf, size_t len, const char *name, ms_volume *out, ms_dicom_meta *meta,
                                medsam_error *err) {
    const void *bufs[1] = {buf};
    const size_t lens[1] = {len};
    const char *names[1] = {name ? name : "<memory>"};
    ms_volume_init(out);
    if (meta) memset(meta, 0, sizeof *meta);
    dcm_job j;
    memset(&j, 0, sizeof j);
    j.src = (dcm_sources){.n = 1, .bufs = bufs, .lens = lens, .names = names, .where = names[0]};
    return run_job(&j, out, meta, err);
}

medsam_status ms_dicom_read_mem_series(int n, const void *const *bufs, const size_t *lens, const char *const *names,
                                       ms_volume *out, ms_dicom_meta *meta, medsam_error *err) {
    ms_volume_init(out);
    if (meta) memset(meta, 0, sizeof *meta);
    if (n < 1 || n > MS_DICOM_MAX_FILES || !bufs || !lens)
        return ms_error(err, MEDSAM_ERR_ARG, "<memory>: %d file images", n);
    dcm_job j;
    memset(&j, 0, sizeof j);
    j.src = (dcm_sources){.n = n, .bufs = bufs, .lens = lens, .names = names, .folder = 1, .where = "<memory>"};
    return run_job(&j, out, meta, err);
}
