/* test_intensity.c — CT windows and MR percentile normalisation against
 * pre_CT_MR.py's NumPy code (tools/ref/make_volume_seg_fixtures.py):
 * every uint8 output identical, the np.percentile values bit for bit (float64),
 * on small arrays of several dtypes, on large generated arrays (CRC-32 of the
 * outputs), and on a NIfTI with scl_slope / scl_inter; plus window parsing,
 * the AUTO choices of medsam_volume_normalize and the error cases. */
#include <stdint.h>
#include <zlib.h>

#include "core/npy.h"
#include "io/nifti.h"
#include "io/npz.h"
#include "medsam.h"
#include "pipeline/intensity.h"
#include "test.h"

#define FIX "tests/fixtures/volume/intensity/"

static const char *OUTS[] = {"soft", "lung", "brain", "bone", "custom"};
static const double LW[][2] = {{40, 400}, {-600, 1500}, {40, 80}, {400, 1800}, {55.5, 333.3}};

static ms_voxel_type vox_of(ms_npy_dtype t) {
    switch (t) {
    case MS_NPY_F32: return MS_VOX_FLOAT32;
    case MS_NPY_F64: return MS_VOX_FLOAT64;
    case MS_NPY_U8: return MS_VOX_UINT8;
    case MS_NPY_I16: return MS_VOX_INT16;
    case MS_NPY_U16: return MS_VOX_UINT16;
    case MS_NPY_I32: return MS_VOX_INT32;
    default: return MS_VOX_INT64;
    }
}

static void samples_of(ms_samples *s, const void *data, ms_voxel_type t, int64_t n) {
    *s = (ms_samples){data, t, 0, 1, 0, n, t == MS_VOX_FLOAT32 ? MS_ARITH_F32 : MS_ARITH_F64};
}

/* Checks every output of a case against the fixture arrays. */
static void check_outputs(const char *name, const ms_samples *s, const ms_npz *z) {
    medsam_error err;
    uint8_t *out = malloc((size_t)s->n);
    for (int w = 0; w < 5; w++) {
        ms_npy ref;
        CHECK(!ms_npz_get(z, OUTS[w], &ref, &err), "%s: %s", name, err.message);
        medsam_status st = ms_intensity_window(s, LW[w][0], LW[w][1], out, &err);
        CHECK(st == MEDSAM_OK, "%s window %s: %s", name, OUTS[w], err.message);
        long bad = 0;
        for (int64_t i = 0; i < s->n && !st; i++) bad += out[i] != ((uint8_t *)ref.data)[i];
        CHECK(bad == 0 && ref.count == s->n, "%s window %s: %ld of %lld values differ", name, OUTS[w], bad,
              (long long)s->n);
        ms_npy_free(&ref);
    }
    if (ms_npz_has(z, "mr")) {
        ms_npy ref, lohi;
        ms_npz_get(z, "mr", &ref, &err);
        ms_npz_get(z, "mr_lohi", &lohi, &err);
        double lo = 0, hi = 0;
        medsam_status st = ms_intensity_percentile(s, out, &lo, &hi, &err);
        CHECK(st == MEDSAM_OK, "%s percentiles: %s", name, err.message);
        const double *rl = lohi.data;
        CHECK(lo == rl[0] && hi == rl[1], "%s percentiles %.17g %.17g, numpy %.17g %.17g", name, lo, hi, rl[0], rl[1]);
        long bad = 0;
        for (int64_t i = 0; i < s->n && !st; i++) bad += out[i] != ((uint8_t *)ref.data)[i];
        CHECK(bad == 0, "%s percentiles: %ld of %lld values differ", name, bad, (long long)s->n);
        printf("ok   %-14s n=%-5lld windows and percentiles identical (p0.5 %.9g, p99.5 %.9g)\n", name,
               (long long)s->n, lo, hi);
        ms_npy_free(&ref);
        ms_npy_free(&lohi);
    }
    free(out);
}

static void fixture_case(const char *name) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s.npz", name);
    medsam_error err;
    ms_npz *z;
    if (ms_npz_open(path, &z, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    ms_npy x;
    CHECK(!ms_npz_get(z, "x", &x, &err), "%s", err.message);
    ms_samples s;
    samples_of(&s, x.data, vox_of(x.dtype), x.count);
    check_outputs(name, &s, z);
    ms_npy_free(&x);
    ms_npz_close(z);
}

/* The arrays of make_volume_seg_fixtures.py:generated, rebuilt here. */
static void *generated(const char *kind, int64_t n, ms_voxel_type *t) {
    int seed = !strcmp(kind, "f32") ? 1 : !strcmp(kind, "f64") ? 2 : !strcmp(kind, "i16") ? 3 : 4;
    void *buf = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = ((uint64_t)i * 2654435761ULL + (uint64_t)seed * 40503ULL) % (1ULL << 32);
        double h = (double)u / 4294967296.0;
        if (seed == 1) ((float *)buf)[i] = (float)(h < 0.25 ? 0.0 : (h - 0.27) * 4000.0 + (h > 0.99 ? 50000.0 : 0.0));
        else if (seed == 2) ((double *)buf)[i] = (h * 3000.0 - 1200.0) * 1.0000001;
        else if (seed == 3) ((int16_t *)buf)[i] = (int16_t)floor(h * 3500.0 - 1100.0);
        else ((uint16_t *)buf)[i] = (uint16_t)floor(h * 65535.0 * h);
    }
    *t = seed == 1 ? MS_VOX_FLOAT32 : seed == 2 ? MS_VOX_FLOAT64 : seed == 3 ? MS_VOX_INT16 : MS_VOX_UINT16;
    return buf;
}

static void generated_cases(void) {
    FILE *fp = fopen(FIX "generated.txt", "r");
    CHECK(fp != NULL, "open generated.txt");
    if (!fp) return;
    char line[1024];
    medsam_error err;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char kind[8];
        long long n;
        double plo, phi;
        int off = 0;
        if (sscanf(line, "%7s %lld %lf %lf %n", kind, &n, &plo, &phi, &off) != 4) continue;
        ms_voxel_type t;
        void *x = generated(kind, n, &t);
        ms_samples s;
        samples_of(&s, x, t, n);
        uint8_t *out = malloc((size_t)n);
        const char *p = line + off;
        char key[16];
        unsigned crc_ref;
        int used;
        while (sscanf(p, " %15[^=]=%x%n", key, &crc_ref, &used) == 2) {
            p += used;
            medsam_status st;
            double lo = 0, hi = 0;
            int w = -1;
            for (int k = 0; k < 5; k++)
                if (!strcmp(key, OUTS[k])) w = k;
            if (w >= 0) st = ms_intensity_window(&s, LW[w][0], LW[w][1], out, &err);
            else st = ms_intensity_percentile(&s, out, &lo, &hi, &err);
            unsigned crc = (unsigned)crc32(crc32(0L, Z_NULL, 0), out, (uInt)n);
            CHECK(st == MEDSAM_OK && crc == crc_ref, "generated %s n=%lld %s: crc %08x, numpy %08x", kind, n, key, crc,
                  crc_ref);
            if (w < 0)
                CHECK(lo == plo && hi == phi, "generated %s percentiles %.17g %.17g, numpy %.17g %.17g", kind, lo, hi,
                      plo, phi);
        }
        printf("ok   generated %-4s n=%lld: outputs' CRC-32 and percentiles as numpy's\n", kind, n);
        free(out);
        free(x);
    }
    fclose(fp);
}

static void scaled_nifti(void) {
    medsam_error err;
    ms_volume v;
    medsam_status st = ms_nifti_read(FIX "scaled_int16.nii.gz", &v, &err);
    CHECK(st == MEDSAM_OK, "%s", err.message);
    if (st) return;
    ms_samples s;
    CHECK(!ms_samples_of_volume(&s, &v, &err) && s.scaled && s.arith == MS_ARITH_F64, "scaled samples");
    ms_npz *z;
    if (!ms_npz_open(FIX "scaled_int16.npz", &z, &err)) {
        check_outputs("scaled_int16", &s, z);
        ms_npz_close(z);
    }
    ms_volume_free(&v);
}

static void parsing_and_errors(void) {
    medsam_error err;
    double l = 0, w = 0;
    CHECK(!ms_window_parse("lung", &l, &w, &err) && l == -600 && w == 1500, "lung preset");
    CHECK(!ms_window_parse("brain", &l, &w, &err) && l == 40 && w == 80, "brain preset");
    CHECK(!ms_window_parse("-40.5,350", &l, &w, &err) && l == -40.5 && w == 350, "custom window");
    const char *bad[] = {"abc", "40", "40,0", "40,-5", "40,nan", "40,400x", ",400", "inf,400", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(ms_window_parse(bad[i], &l, &w, &err) == MEDSAM_ERR_ARG && strstr(err.message, "window"),
              "window '%s' refused", bad[i]);
    medsam_intensity in;
    CHECK(!medsam_intensity_parse("dicom", &in, &err) && in.mode == MEDSAM_INTENSITY_DICOM_WINDOW, "dicom window");
    CHECK(!medsam_intensity_parse("bone", &in, &err) && in.mode == MEDSAM_INTENSITY_WINDOW && in.level == 400,
          "bone window");

    int16_t neg[4] = {0, -5, -1, 0};
    uint8_t out[4];
    ms_samples s;
    samples_of(&s, neg, MS_VOX_INT16, 4);
    CHECK(ms_intensity_percentile(&s, out, NULL, NULL, &err) == MEDSAM_ERR_ARG && strstr(err.message, "> 0"),
          "percentiles without positive voxels refused: %s", err.message);
    float nan[3] = {1, NAN, 2};
    samples_of(&s, nan, MS_VOX_FLOAT32, 3);
    CHECK(ms_intensity_window(&s, 40, 400, out, &err) == MEDSAM_ERR_NUMERIC, "NaN voxel refused");
    CHECK(ms_intensity_percentile(&s, out, NULL, NULL, &err) == MEDSAM_ERR_NUMERIC, "NaN voxel refused (MR)");
}

/* medsam_volume_normalize's AUTO rules on real files. */
static void auto_modes(void) {
    medsam_error err;
    medsam_volume *v;
    medsam_intensity_applied ap;
    struct {
        const char *path, *what;
        medsam_intensity_mode want;
    } cases[] = {
        {"tests/fixtures/volume/case3d.npz", "uint8 npz", MEDSAM_INTENSITY_AS_IS},
        {"tests/fixtures/volume/mr_phantom.nii.gz", "float32 NIfTI", MEDSAM_INTENSITY_PERCENTILE},
        {"tests/fixtures/volume/ct_phantom.nii.gz", "int16 NIfTI (no modality)", MEDSAM_INTENSITY_PERCENTILE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        medsam_status st = medsam_volume_read(cases[i].path, &v, &err);
        CHECK(st == MEDSAM_OK, "%s", err.message);
        if (st) continue;
        medsam_volume_info vi;
        medsam_volume_get_info(v, &vi);
        uint8_t *u = malloc((size_t)vi.nx * vi.ny * vi.nz);
        st = medsam_volume_normalize(v, NULL, u, &ap, &err);
        CHECK(st == MEDSAM_OK && ap.mode == cases[i].want, "%s: AUTO gives mode %d, want %d (%s)", cases[i].what,
              (int)ap.mode, (int)cases[i].want, st ? err.message : "");
        medsam_intensity dw = {MEDSAM_INTENSITY_DICOM_WINDOW, 0, 0};
        CHECK(medsam_volume_normalize(v, &dw, u, NULL, &err) == MEDSAM_ERR_ARG && strstr(err.message, "DICOM"),
              "%s: --window dicom refused", cases[i].what);
        medsam_intensity as_is = {MEDSAM_INTENSITY_AS_IS, 0, 0};
        if (cases[i].want != MEDSAM_INTENSITY_AS_IS)
            CHECK(medsam_volume_normalize(v, &as_is, u, NULL, &err) == MEDSAM_ERR_ARG, "%s: as-is refused",
                  cases[i].what);
        free(u);
        medsam_volume_free(v);
    }
}

int main(void) {
    const char *cases[] = {"ct_int16", "mr_float32", "mr_float64", "uint8", "uint16", "int32",
                           "ties_int16", "one_positive", "constant", "float32_fine"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) fixture_case(cases[i]);
    generated_cases();
    scaled_nifti();
    parsing_and_errors();
    auto_modes();
    return t_summary();
}
