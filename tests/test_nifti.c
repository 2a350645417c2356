/* test_nifti.c — NIfTI reader/writer against values recorded with nibabel 5
 * (tests/fixtures/nifti/expected.txt, made by tools/ref/make_volume_fixtures.py):
 * the committed tiny fixtures always, nibabel's own test data files when
 * that directory exists (MS_NIBABEL_DATA, default the Debian python3-nibabel
 * path; skipped with a note otherwise). Then round trips through the writer,
 * label maps made on an image's grid, and malformed files.
 *
 * Tolerances: sizes, datatype, codes, pixdim, sform/base affines, raw samples
 * (CRC-32) and scaled values are compared exactly; the qform affine within
 * 1e-15 relative (nibabel computes it in long double); the sum of all scaled
 * values within 1e-12 of the sum of their magnitudes (summation order).
 *
 * MS_VOLUME_KEEP_DIR=DIR keeps the files written here in DIR, for
 * `make_volume_fixtures.py --check DIR` (nibabel reads them back). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "io/nifti.h"
#include "test.h"

#define FIX_DIR "tests/fixtures/nifti"
#define NIBABEL_DEFAULT "/usr/lib/python3/dist-packages/nibabel/tests/data"
#define MAX_VALUES 16

typedef struct {
    char where[16], name[128];
    int refused;
    int version, ndim, shape[4], datatype, qcode, scode, slope_none, qform_err;
    double pixdim[8], slope, inter, affine[16], qform[16], sform[16], sum, abssum;
    unsigned long crc;
    int nvalues;
    long idx[MAX_VALUES];
    double val[MAX_VALUES];
} expect_rec;

static char g_tmp[512];

/* ---- small file helpers ---- */

/* gzip (de)compression of whole buffers, for mutating .nii.gz fixtures */
static uint8_t *gz_inflate(const uint8_t *in, size_t len, size_t *out_len) {
    size_t cap = 1 << 20;
    uint8_t *out = malloc(cap);
    z_stream s;
    memset(&s, 0, sizeof s);
    inflateInit2(&s, 15 + 16);
    s.next_in = (Bytef *)in, s.avail_in = (uInt)len, s.next_out = out, s.avail_out = (uInt)cap;
    inflate(&s, Z_FINISH);
    *out_len = s.total_out;
    inflateEnd(&s);
    return out;
}

static uint8_t *gz_deflate(const uint8_t *in, size_t len, size_t *out_len) {
    size_t cap = len + 1024;
    uint8_t *out = malloc(cap);
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    s.next_in = (Bytef *)in, s.avail_in = (uInt)len, s.next_out = out, s.avail_out = (uInt)cap;
    deflate(&s, Z_FINISH);
    *out_len = s.total_out;
    deflateEnd(&s);
    return out;
}

static void put16(uint8_t *p, int v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32f(uint8_t *p, float f) { memcpy(p, &f, 4); } /* the test host is little-endian */

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
        char *v = strchr(line, ' ');
        v = v ? v + 1 : line + strlen(line);
        if (strncmp(line, "file ", 5) == 0) {
            if (n == cap) *recs = realloc(*recs, (size_t)(cap *= 2) * sizeof **recs);
            r = &(*recs)[n++];
            memset(r, 0, sizeof *r);
            sscanf(v, "%15s %127s", r->where, r->name);
        } else if (!r) {
            continue;
        } else if (strncmp(line, "error ", 6) == 0) {
            r->refused = 1;
        } else if (strncmp(line, "version ", 8) == 0) {
            r->version = atoi(v);
        } else if (strncmp(line, "ndim ", 5) == 0) {
            r->ndim = atoi(v);
        } else if (strncmp(line, "shape ", 6) == 0) {
            sscanf(v, "%d %d %d %d", &r->shape[0], &r->shape[1], &r->shape[2], &r->shape[3]);
        } else if (strncmp(line, "datatype ", 9) == 0) {
            r->datatype = atoi(v);
        } else if (strncmp(line, "pixdim ", 7) == 0) {
            read_doubles(v, r->pixdim, 8);
        } else if (strncmp(line, "slope_inter ", 12) == 0) {
            r->slope_none = strncmp(v, "none", 4) == 0;
            if (!r->slope_none) sscanf(v, "%lf %lf", &r->slope, &r->inter);
        } else if (strncmp(line, "codes ", 6) == 0) {
            sscanf(v, "%d %d", &r->qcode, &r->scode);
        } else if (strncmp(line, "affine ", 7) == 0) {
            read_doubles(v, r->affine, 16);
        } else if (strncmp(line, "qform ", 6) == 0) {
            r->qform_err = strncmp(v, "error", 5) == 0;
            if (!r->qform_err) read_doubles(v, r->qform, 16);
        } else if (strncmp(line, "sform ", 6) == 0) {
            read_doubles(v, r->sform, 16);
        } else if (strncmp(line, "crc32 ", 6) == 0) {
            r->crc = strtoul(v, NULL, 10);
        } else if (strncmp(line, "sum ", 4) == 0) {
            sscanf(v, "%lf %lf", &r->sum, &r->abssum);
        } else if (strncmp(line, "value ", 6) == 0 && r->nvalues < MAX_VALUES) {
            sscanf(v, "%ld %lf", &r->idx[r->nvalues], &r->val[r->nvalues]);
            r->nvalues++;
        }
    }
    fclose(f);
    return n;
}

/* ---- checks against nibabel ---- */

static double max_diff(const double A[4][4], const double *ref, int relative) {
    double worst = 0;
    for (int i = 0; i < 16; i++) {
        double d = fabs(A[i / 4][i % 4] - ref[i]);
        if (relative) d /= fabs(ref[i]) > 1 ? fabs(ref[i]) : 1;
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

static int same_value(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static unsigned long data_crc(const ms_volume *v) {
    size_t bytes = (size_t)ms_volume_samples(v) * (size_t)ms_voxel_type_size(v->datatype);
    uLong crc = crc32(0L, Z_NULL, 0);
    return crc32(crc, v->data, (uInt)bytes);
}

static void check_against_nibabel(const expect_rec *r, const char *path, const ms_volume *v) {
    const char *n = r->name;
    CHECK(v->nifti_version == r->version, "%s: version %d, nibabel %d", n, v->nifti_version, r->version);
    CHECK(v->ndim == r->ndim, "%s: ndim %d, nibabel %d", n, v->ndim, r->ndim);
    CHECK(v->nx == r->shape[0] && v->ny == r->shape[1] && v->nz == r->shape[2] && v->nt == r->shape[3],
          "%s: shape %dx%dx%dx%d, nibabel %dx%dx%dx%d", n, v->nx, v->ny, v->nz, v->nt, r->shape[0], r->shape[1],
          r->shape[2], r->shape[3]);
    CHECK((int)v->datatype == r->datatype, "%s: datatype %d, nibabel %d", n, v->datatype, r->datatype);
    int pix_ok = 1;
    for (int i = 0; i < 8; i++) pix_ok &= v->pixdim[i] == r->pixdim[i];
    CHECK(pix_ok, "%s: pixdim differs from nibabel's (after its load-time fixes)", n);
    CHECK(v->qform_code == r->qcode && v->sform_code == r->scode, "%s: codes %d %d, nibabel %d %d", n,
          v->qform_code, v->sform_code, r->qcode, r->scode);
    if (r->slope_none)
        CHECK(!ms_volume_has_scaling(v), "%s: scaling where nibabel has none", n);
    else
        CHECK(v->scl_slope == r->slope && v->scl_inter == r->inter, "%s: slope/inter %.17g %.17g, nibabel %.17g %.17g",
              n, v->scl_slope, v->scl_inter, r->slope, r->inter);

    double d_best = max_diff(v->affine, r->affine, 1);
    int via_qform = v->sform_code == 0 && v->qform_code != 0;
    CHECK(via_qform ? d_best <= 1e-15 : d_best == 0, "%s: best affine differs by %.3g (relative)", n, d_best);
    double S[4][4], Q[4][4];
    ms_volume_sform(v, S);
    CHECK(max_diff(S, r->sform, 0) == 0, "%s: sform differs", n);
    medsam_error err;
    medsam_status st = ms_volume_qform(v, Q, &err);
    if (r->qform_err) {
        CHECK(st != MEDSAM_OK, "%s: qform accepted where nibabel raises", n);
    } else {
        double dq = max_diff(Q, r->qform, 1);
        CHECK(st == MEDSAM_OK && dq <= 1e-15, "%s: qform differs by %.3g (relative)", n, dq);
        if (dq != 0) printf("note %s: qform not bit-identical (%.3g relative)\n", n, dq);
    }

    CHECK(data_crc(v) == r->crc, "%s: raw samples CRC-32 %lu, nibabel %lu", n, data_crc(v), r->crc);
    double *f64 = NULL;
    float *f32 = NULL;
    st = ms_volume_to_f64(v, &f64, &err);
    CHECK(st == MEDSAM_OK, "%s: to_f64: %s", n, err.message);
    if (st == MEDSAM_OK) {
        int64_t cnt = ms_volume_samples(v);
        double sum = 0;
        for (int64_t i = 0; i < cnt; i++) sum += f64[i];
        CHECK(isnan(r->sum) ? isnan(sum) : fabs(sum - r->sum) <= 1e-12 * r->abssum, "%s: sum %.17g, nibabel %.17g", n,
              sum, r->sum);
        int exact = 1;
        for (int i = 0; i < r->nvalues; i++) {
            if (r->idx[i] >= cnt || !same_value(f64[r->idx[i]], r->val[i])) {
                exact = 0;
                printf("  %s: value[%ld] = %.17g, nibabel %.17g\n", n, r->idx[i], r->idx[i] < cnt ? f64[r->idx[i]] : NAN,
                       r->val[i]);
            }
        }
        CHECK(exact, "%s: scaled values differ from nibabel's get_fdata()", n);
        if (ms_volume_to_f32(v, &f32, &err) == MEDSAM_OK) {
            int same = 1;
            for (int64_t i = 0; i < cnt; i++) same &= same_value(f32[i], (float)f64[i]);
            CHECK(same, "%s: to_f32 is not to_f64 rounded to float", n);
        }
    }
    free(f64);
    free(f32);

    ms_volume h;
    st = ms_nifti_read_header(path, &h, &err);
    CHECK(st == MEDSAM_OK && h.data == NULL && h.nx == v->nx && h.nt == v->nt && h.datatype == v->datatype,
          "%s: header-only read", n);
    ms_volume_free(&h);
}

/* ---- round trips through the writer ---- */

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_tmp, name); }

static void check_round_trip(const expect_rec *r, const ms_volume *v) {
    char path[1024], name[300];
    int gz = strstr(r->name, ".gz") != NULL;
    snprintf(name, sizeof name, "%s.rt.nii%s", r->name, gz ? ".gz" : "");
    tmp_path(path, sizeof path, name);
    medsam_error err;
    medsam_status st = ms_nifti_write(path, v, &err);
    CHECK(st == MEDSAM_OK, "%s: write: %s", name, err.message);
    ms_volume w;
    st = ms_nifti_read(path, &w, &err);
    CHECK(st == MEDSAM_OK, "%s: read back: %s", name, err.message);
    if (st) return;
    size_t bytes = (size_t)ms_volume_samples(v) * (size_t)ms_voxel_type_size(v->datatype);
    CHECK(w.datatype == v->datatype && w.nx == v->nx && w.ny == v->ny && w.nz == v->nz && w.nt == v->nt &&
              w.nchan == v->nchan && w.ndim == v->ndim,
          "%s: type/sizes changed", name);
    CHECK(w.nifti_version == 1, "%s: written as NIfTI-%d", name, w.nifti_version);
    CHECK(memcmp(w.data, v->data, bytes) == 0, "%s: samples changed", name);
    int same = w.qform_code == v->qform_code && w.sform_code == v->sform_code && w.xyzt_units == v->xyzt_units &&
               w.scl_slope == (float)v->scl_slope && w.scl_inter == (float)v->scl_inter &&
               strcmp(w.descrip, v->descrip) == 0;
    for (int i = 0; i < 8; i++) same &= w.pixdim[i] == (float)v->pixdim[i];
    CHECK(same, "%s: header fields changed", name);
    /* NIfTI-1 sources come back bit-identical; NIfTI-2 geometry is rounded to float32 */
    double d = max_diff(w.affine, &v->affine[0][0], 1);
    CHECK(v->nifti_version == 1 ? d == 0 : d <= 1e-6, "%s: affine changed by %.3g (relative)", name, d);
    ms_volume_free(&w);
}

static void check_mask_like(const expect_rec *r, const ms_volume *img) {
    char path[1024], name[300];
    snprintf(name, sizeof name, "mask_like_%s.mask.nii.gz", r->name);
    tmp_path(path, sizeof path, name);
    medsam_error err;
    ms_volume mask, back;
    medsam_status st = ms_volume_create_like(&mask, img, MS_VOX_UINT8, 1, &err);
    CHECK(st == MEDSAM_OK, "%s: create_like: %s", name, err.message);
    if (st) return;
    uint8_t *m = mask.data;
    for (int64_t i = 0; i < ms_volume_samples(&mask); i++) m[i] = (uint8_t)(i % 3 == 0);
    st = ms_nifti_write(path, &mask, &err);
    if (!st) st = ms_nifti_read(path, &back, &err);
    CHECK(st == MEDSAM_OK, "%s: %s", name, err.message);
    if (!st) {
        double d = max_diff(back.affine, &img->affine[0][0], 1);
        CHECK(img->nifti_version == 1 ? d == 0 : d <= 1e-6, "%s: mask affine differs from the image's by %.3g", name, d);
        CHECK(back.datatype == MS_VOX_UINT8 && back.nx == img->nx && back.ny == img->ny && back.nz == img->nz &&
                  back.nt == 1 && !ms_volume_has_scaling(&back),
              "%s: mask type/sizes/scaling", name);
        CHECK(memcmp(back.data, mask.data, (size_t)ms_volume_samples(&mask)) == 0, "%s: mask samples", name);
        ms_volume_free(&back);
    }
    ms_volume_free(&mask);
}

/* ---- malformed inputs ---- */

static int one_line(const char *s) { return s[0] && !strchr(s, '\n') && strlen(s) < sizeof(((medsam_error *)0)->message) - 1; }

static void expect_fail(const char *what, const uint8_t *b, size_t len, int gz, medsam_status code, const char *needle) {
    char path[1024], name[128];
    snprintf(name, sizeof name, "bad_%s.nii%s", what, gz ? ".gz" : "");
    tmp_path(path, sizeof path, name);
    t_spit(path, b, len);
    ms_volume v;
    medsam_error err = {0};
    medsam_status st = ms_nifti_read(path, &v, &err);
    CHECK(st == code && strstr(err.message, needle) && one_line(err.message) && strncmp(err.message, path, strlen(path)) == 0,
          "%s: status %d (want %d), message \"%s\" (want \"%s\")", what, st, code, err.message, needle);
    CHECK(v.data == NULL, "%s: data left behind", what);
    medsam_status st2 = ms_nifti_read_mem(b, len, &v, &err);
    CHECK(st2 == code, "%s: from memory: status %d (want %d): %s", what, st2, code, err.message);
    printf("ok   %-22s -> %s\n", what, err.message);
    remove(path);
}

static void mutate_plain(const char *what, const uint8_t *src, size_t len, size_t at, const void *bytes, size_t n,
                         medsam_status code, const char *needle) {
    uint8_t *b = malloc(len);
    memcpy(b, src, len);
    memcpy(b + at, bytes, n);
    expect_fail(what, b, len, 0, code, needle);
    free(b);
}

static void test_malformed(void) {
    size_t len = 0, glen = 0, rawlen = 0;
    uint8_t *b = t_slurp(FIX_DIR "/le_int16_scaled.nii", &len); /* 5x4x3 int16: 120 bytes at 352 */
    uint8_t *g = t_slurp(FIX_DIR "/labels_uint8.nii.gz", &glen);
    if (!b || !g) {
        CHECK(0, "fixtures missing");
        return;
    }
    uint8_t tmp[8];
    expect_fail("empty", b, 0, 0, MEDSAM_ERR_FORMAT, "only 0 bytes");
    expect_fail("short_header", b, 200, 0, MEDSAM_ERR_FORMAT, "truncated NIfTI-1 header: 200 of 348 bytes");
    expect_fail("truncated_data", b, len - 10, 0, MEDSAM_ERR_FORMAT, "expected 120 bytes at offset 352");
    mutate_plain("sizeof_hdr", b, len, 0, "\x5d\x01\0\0", 4, MEDSAM_ERR_FORMAT, "not a NIfTI file");
    put16(tmp, 0);
    mutate_plain("dim0_zero", b, len, 40, tmp, 2, MEDSAM_ERR_FORMAT, "dim[0] = 0");
    put16(tmp, 9);
    mutate_plain("dim0_nine", b, len, 40, tmp, 2, MEDSAM_ERR_FORMAT, "dim[0] = 9");
    put16(tmp, 0);
    mutate_plain("dim_zero", b, len, 44, tmp, 2, MEDSAM_ERR_FORMAT, "dim[2] = 0");
    put16(tmp, -5);
    mutate_plain("dim_negative", b, len, 42, tmp, 2, MEDSAM_ERR_FORMAT, "dim[1] = -5");
    uint8_t big[6];
    put16(big, 32767), put16(big + 2, 32767), put16(big + 4, 32767);
    mutate_plain("dims_absurd", b, len, 42, big, 6, MEDSAM_ERR_FORMAT, "exceed 2^31-1 voxels");
    put16(big, 1000), put16(big + 2, 1000), put16(big + 4, 100);
    mutate_plain("dims_vs_filesize", b, len, 42, big, 6, MEDSAM_ERR_FORMAT, "expected 200000000 bytes at offset 352");
    put32f(tmp, 1e6f);
    mutate_plain("vox_offset_past_eof", b, len, 108, tmp, 4, MEDSAM_ERR_FORMAT, "at offset 1000000, the file has 472");
    put32f(tmp, 100.0f);
    mutate_plain("vox_offset_in_header", b, len, 108, tmp, 4, MEDSAM_ERR_FORMAT, "inside the header");
    put32f(tmp, 352.5f);
    mutate_plain("vox_offset_fraction", b, len, 108, tmp, 4, MEDSAM_ERR_FORMAT, "bad vox_offset 352.5");
    put32f(tmp, -352.0f);
    mutate_plain("vox_offset_negative", b, len, 108, tmp, 4, MEDSAM_ERR_FORMAT, "bad vox_offset");
    put16(tmp, 32);
    mutate_plain("datatype_complex", b, len, 70, tmp, 2, MEDSAM_ERR_UNSUPPORTED, "datatype 32 (complex64)");
    put16(tmp, 7);
    mutate_plain("datatype_unknown", b, len, 70, tmp, 2, MEDSAM_ERR_UNSUPPORTED, "datatype 7 (unknown)");
    mutate_plain("pair_magic", b, len, 344, "ni1", 4, MEDSAM_ERR_UNSUPPORTED, ".hdr/.img pairs");
    mutate_plain("bad_magic", b, len, 344, "abc", 4, MEDSAM_ERR_FORMAT, "bad magic");
    put32f(tmp, 0.9f), put32f(tmp + 4, 0.9f);
    mutate_plain("qform_norm", b, len, 256, tmp, 8, MEDSAM_ERR_FORMAT, "has norm > 1");
    put32f(tmp, INFINITY);
    mutate_plain("scl_inter_inf", b, len, 116, tmp, 4, MEDSAM_ERR_FORMAT, "invalid scl_inter");
    uint8_t dims6[16];
    const int d6[8] = {6, 5, 4, 3, 1, 3, 1, 1};
    for (int i = 0; i < 8; i++) put16(dims6 + 2 * i, d6[i]);
    mutate_plain("dims_6d", b, len, 40, dims6, 16, MEDSAM_ERR_UNSUPPORTED, "6-D NIfTI (dim[5] = 3) is not supported");

    /* gzip: cut short, corrupted, and a header that claims more than deflate can hold */
    expect_fail("gz_truncated_header", g, glen / 2, 1, MEDSAM_ERR_FORMAT, "truncated NIfTI-1 header");
    expect_fail("gz_truncated_data", g, glen - 20, 1, MEDSAM_ERR_FORMAT, "truncated voxel data: expected 120 bytes");
    uint8_t *c = malloc(glen);
    memcpy(c, g, glen);
    for (size_t i = 40; i < 60; i++) c[i] ^= 0x5a;
    expect_fail("gz_corrupt", c, glen, 1, MEDSAM_ERR_FORMAT, "corrupt gzip data");
    memcpy(c, g, glen);
    c[glen - 6] ^= 0xff; /* CRC-32 in the trailer */
    expect_fail("gz_bad_crc", c, glen, 1, MEDSAM_ERR_FORMAT, "corrupt gzip data (incorrect data check)");
    free(c);
    uint8_t *raw = gz_inflate(g, glen, &rawlen);
    put16(raw + 42, 1000), put16(raw + 44, 1000), put16(raw + 46, 1000);
    size_t zlen = 0;
    uint8_t *z = gz_deflate(raw, rawlen, &zlen);
    expect_fail("gz_dims_vs_ratio", z, zlen, 1, MEDSAM_ERR_FORMAT, "compressed bytes can hold");
    free(z);
    put16(raw + 42, 6), put16(raw + 44, 5), put16(raw + 46, 4);
    put32f(raw + 108, 4000.0f);
    z = gz_deflate(raw, rawlen, &zlen);
    expect_fail("gz_vox_offset_past_end", z, zlen, 1, MEDSAM_ERR_FORMAT, "vox_offset 4000 is past its end");
    free(z);
    free(raw);

    ms_volume v;
    medsam_error err;
    medsam_status st = ms_nifti_read("/nonexistent/x.nii", &v, &err);
    CHECK(st == MEDSAM_ERR_IO && one_line(err.message) && strstr(err.message, "/nonexistent/x.nii"), "missing file: %s",
          err.message);
    free(b);
    free(g);
}

/* ---- writer argument checks and atomicity ---- */

static void test_writer_errors(void) {
    char path[1024];
    tmp_path(path, sizeof path, "keep.nii");
    t_spit(path, "old", 3);
    ms_volume v;
    medsam_error err;
    ms_volume_init(&v);
    CHECK(ms_volume_alloc(&v, 40000, 2, 2, 1, MS_VOX_UINT8, &err) == MEDSAM_OK, "alloc: %s", err.message);
    medsam_status st = ms_nifti_write(path, &v, &err);
    CHECK(st == MEDSAM_ERR_ARG && strstr(err.message, "does not fit NIfTI-1") && one_line(err.message), "too wide: %s",
          err.message);
    size_t len = 0;
    uint8_t *old = t_slurp(path, &len);
    CHECK(old && len == 3 && memcmp(old, "old", 3) == 0, "failed write touched the destination");
    free(old);
    ms_volume_free(&v);
    v.datatype = (ms_voxel_type)32;
    CHECK(ms_nifti_write(path, &v, &err) == MEDSAM_ERR_ARG, "unknown type accepted");
    ms_volume_init(&v);
    CHECK(ms_nifti_write(path, &v, &err) == MEDSAM_ERR_ARG && strstr(err.message, "no data"), "no data: %s", err.message);
    CHECK(ms_volume_alloc(&v, 2, 2, 2, 1, MS_VOX_INT16, &err) == MEDSAM_OK, "alloc");
    st = ms_nifti_write("/nonexistent/dir/x.nii.gz", &v, &err);
    CHECK(st == MEDSAM_ERR_IO && strstr(err.message, "/nonexistent/dir/x.nii.gz"), "unwritable dir: %s", err.message);
    CHECK(ms_volume_alloc(&v, 65536, 65536, 1, 1, MS_VOX_UINT8, &err) == MEDSAM_ERR_NOMEM, "2^32 voxels accepted");
    /* the layout of a written file: 352-byte header then the samples, and gzip when asked */
    tmp_path(path, sizeof path, "layout.nii");
    int16_t *d = v.data;
    for (int i = 0; i < 8; i++) d[i] = (int16_t)(i * 1000 - 3000);
    CHECK(ms_nifti_write(path, &v, &err) == MEDSAM_OK, "write: %s", err.message);
    uint8_t *f = t_slurp(path, &len);
    float off;
    memcpy(&off, f + 108, 4);
    CHECK(len == 352 + 16 && off == 352.0f && memcmp(f + 344, "n+1", 4) == 0 && memcmp(f + 352, d, 16) == 0,
          "plain layout (len %zu)", len);
    free(f);
    remove(path);
    tmp_path(path, sizeof path, "layout.NII.GZ");
    CHECK(ms_nifti_write(path, &v, &err) == MEDSAM_OK, "write gz: %s", err.message);
    f = t_slurp(path, &len);
    CHECK(f && len > 2 && f[0] == 0x1f && f[1] == 0x8b, "'.GZ' output is not gzip");
    free(f);
    remove(path);
    ms_volume_free(&v);
    tmp_path(path, sizeof path, "keep.nii");
    remove(path);
}

int main(void) {
    const char *keep = getenv("MS_VOLUME_KEEP_DIR");
    if (keep && *keep) {
        snprintf(g_tmp, sizeof g_tmp, "%s", keep);
        mkdir(g_tmp, 0755);
    } else {
        snprintf(g_tmp, sizeof g_tmp, "/tmp/ms_test_nifti_XXXXXX");
        if (!mkdtemp(g_tmp)) {
            printf("FAIL cannot make a temp dir\n");
            return 1;
        }
    }
    const char *nib = getenv("MS_NIBABEL_DATA");
    if (!nib || !*nib) nib = NIBABEL_DEFAULT;
    struct stat sb;
    int have_nib = stat(nib, &sb) == 0 && S_ISDIR(sb.st_mode);

    expect_rec *recs = NULL;
    int n = load_expected(&recs);
    CHECK(n > 0, "cannot read %s/expected.txt", FIX_DIR);
    int nib_seen = 0, nib_skipped = 0;
    for (int i = 0; i < n; i++) {
        expect_rec *r = &recs[i];
        int from_nib = strcmp(r->where, "nibabel") == 0;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", from_nib ? nib : FIX_DIR, r->name);
        if (from_nib && (!have_nib || access(path, R_OK) != 0)) {
            nib_skipped++;
            continue;
        }
        nib_seen += from_nib;
        ms_volume v;
        medsam_error err = {0};
        medsam_status st = ms_nifti_read(path, &v, &err);
        if (r->refused) {
            CHECK(st == MEDSAM_ERR_UNSUPPORTED && one_line(err.message), "%s: not refused (%d: %s)", r->name, st,
                  err.message);
            printf("ok   %-30s refused: %s\n", r->name, err.message);
            continue;
        }
        CHECK(st == MEDSAM_OK, "%s: %s", r->name, err.message);
        if (st) continue;
        int before = t_failed;
        check_against_nibabel(r, path, &v);
        check_round_trip(r, &v);
        if (v.nchan == 1 && i % 2 == 0) check_mask_like(r, &v);
        printf("%s %-30s %dx%dx%dx%d %-7s v%d\n", t_failed == before ? "ok  " : "FAIL", r->name, v.nx, v.ny, v.nz, v.nt,
               ms_voxel_type_name(v.datatype), v.nifti_version);
        ms_volume_free(&v);
    }
    if (nib_skipped) {
        printf("note: %d nibabel test data files skipped (not found under %s; install python3-nibabel or set "
               "MS_NIBABEL_DATA) — counted as passed\n",
               nib_skipped, nib);
        t_passed++;
    } else {
        printf("note: %d nibabel test data files checked from %s\n", nib_seen, nib);
    }
    free(recs);
    test_malformed();
    test_writer_errors();
    if (!(keep && *keep)) t_rmtree(g_tmp);
    return t_summary();
}
