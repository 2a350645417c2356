/* intensity.c — CT windows and MR percentile normalisation (pre_CT_MR.py). */
#include "pipeline/intensity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static const ms_window_preset PRESETS[] = {
    {"soft", 40, 400}, {"lung", -600, 1500}, {"brain", 40, 80}, {"bone", 400, 1800}, {NULL, 0, 0},
};

const ms_window_preset *ms_window_presets(void) { return PRESETS; }

medsam_status ms_window_parse(const char *spec, double *level, double *width, medsam_error *err) {
    for (const ms_window_preset *p = PRESETS; p->name; p++)
        if (!strcmp(spec, p->name)) {
            *level = p->level, *width = p->width;
            return MEDSAM_OK;
        }
    char *end;
    double l = strtod(spec, &end);
    if (end != spec && *end == ',') {
        const char *w0 = end + 1;
        double w = strtod(w0, &end);
        if (end != w0 && !*end && isfinite(l) && isfinite(w) && w > 0) {
            *level = l, *width = w;
            return MEDSAM_OK;
        }
    }
    return ms_error(err, MEDSAM_ERR_ARG,
                    "window '%s': expected soft, lung, brain, bone or LEVEL,WIDTH with WIDTH > 0", spec);
}

/* ---- samples ----------------------------------------------------------- */

medsam_status ms_samples_of_volume(ms_samples *s, const ms_volume *v, medsam_error *err) {
    memset(s, 0, sizeof *s);
    if (v->nchan != 1)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s volumes (%d samples per voxel) cannot be normalised",
                        ms_voxel_type_name(v->datatype), v->nchan);
    if (v->nt != 1)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "4-D volume (%d volumes): extract one 3-D volume first", v->nt);
    if (!ms_voxel_type_size(v->datatype))
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s volumes are not supported", ms_voxel_type_name(v->datatype));
    s->data = v->data;
    s->type = v->datatype;
    s->scaled = ms_volume_has_scaling(v);
    s->slope = v->scl_slope;
    s->inter = v->scl_inter;
    if (s->scaled && !isfinite(s->inter))
        return ms_error(err, MEDSAM_ERR_FORMAT, "scl_inter %g is not finite", v->scl_inter);
    s->n = ms_volume_voxels(v);
    s->arith = (v->datatype == MS_VOX_FLOAT32 && !s->scaled) ? MS_ARITH_F32 : MS_ARITH_F64;
    return MEDSAM_OK;
}

static double raw_get(const ms_samples *s, int64_t i) {
    switch (s->type) {
    case MS_VOX_UINT8: return ((const uint8_t *)s->data)[i];
    case MS_VOX_INT8: return ((const int8_t *)s->data)[i];
    case MS_VOX_INT16: return ((const int16_t *)s->data)[i];
    case MS_VOX_UINT16: return ((const uint16_t *)s->data)[i];
    case MS_VOX_INT32: return ((const int32_t *)s->data)[i];
    case MS_VOX_UINT32: return ((const uint32_t *)s->data)[i];
    case MS_VOX_INT64: return (double)((const int64_t *)s->data)[i];
    case MS_VOX_UINT64: return (double)((const uint64_t *)s->data)[i];
    case MS_VOX_FLOAT32: return ((const float *)s->data)[i];
    case MS_VOX_FLOAT64: return ((const double *)s->data)[i];
    default: return 0;
    }
}

// ref: nibabel get_fdata (volume.h: ms_volume_to_f64): raw * slope + inter, each step skipped when trivial
double ms_samples_get(const ms_samples *s, int64_t i) {
    double v = raw_get(s, i);
    if (!s->scaled) return v;
    if (s->slope != 1.0) v *= s->slope;
    if (s->inter != 0.0) v += s->inter;
    return v;
}

static medsam_status check_finite(const ms_samples *s, medsam_error *err) {
    if (!s->scaled && s->type != MS_VOX_FLOAT32 && s->type != MS_VOX_FLOAT64) return MEDSAM_OK;
    for (int64_t i = 0; i < s->n; i++)
        if (!isfinite(ms_samples_get(s, i)))
            return ms_error(err, MEDSAM_ERR_NUMERIC, "voxel %lld holds a non-finite value", (long long)i);
    return MEDSAM_OK;
}

/* ---- order statistics -------------------------------------------------- */

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static int cmp_f32(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Reorders a[0..n) so that a[k] is the k-th smallest and nothing before it is
 * larger: quickselect (median of three), finishing with qsort after too many
 * rounds so that the worst case stays O(n log n). */
#define DEFINE_SELECT(NAME, T, CMP)                                                                 \
    static void NAME(T *a, int64_t n, int64_t k) {                                                 \
        int64_t lo = 0, hi = n - 1;                                                                \
        int budget = 64;                                                                           \
        while (hi > lo) {                                                                          \
            if (budget-- == 0) {                                                                   \
                qsort(a + lo, (size_t)(hi - lo + 1), sizeof(T), CMP);                              \
                return;                                                                            \
            }                                                                                      \
            int64_t mid = lo + (hi - lo) / 2;                                                      \
            T x = a[lo], y = a[mid], z = a[hi], t;                                                 \
            T pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));       \
            int64_t i = lo, j = hi;                                                                \
            while (i <= j) {                                                                       \
                while (a[i] < pivot) i++;                                                          \
                while (pivot < a[j]) j--;                                                          \
                if (i <= j) {                                                                      \
                    t = a[i], a[i] = a[j], a[j] = t;                                               \
                    i++, j--;                                                                      \
                }                                                                                  \
            }                                                                                      \
            if (k <= j) hi = j;                                                                    \
            else if (k >= i) lo = i;                                                               \
            else return; /* j < k < i: a[k] == pivot, in place */                                 \
        }                                                                                          \
    }
DEFINE_SELECT(select_f64, double, cmp_f64)
DEFINE_SELECT(select_f32, float, cmp_f32)

/* numpy _get_indexes for method "linear": neighbours of the virtual index and gamma. */
static void percentile_index(int64_t n, double p, int64_t *prev, int64_t *next, double *gamma) {
    double q = p / 100.0;            /* np.true_divide(q, 100) */
    double vi = (double)(n - 1) * q; /* (n - 1) * quantiles */
    double fl = floor(vi);
    if (vi >= (double)(n - 1)) {     /* both become index -1; gamma = vi - (-1) */
        *prev = *next = n - 1;
        *gamma = vi + 1.0;
    } else {
        *prev = (int64_t)fl;
        *next = *prev + 1;
        *gamma = vi - fl;
    }
}

static double kth_f64(double *x, int64_t n, int64_t k) {
    select_f64(x, n, k);
    return x[k];
}
static float kth_f32(float *x, int64_t n, int64_t k) {
    select_f32(x, n, k);
    return x[k];
}

// ref: numpy/lib/function_base.py:_lerp
static double lerp(double a, double b, double d, double g) {
    return g >= 0.5 ? b - d * (1.0 - g) : a + d * g;
}

double ms_percentile_f64(double *x, int64_t n, double p) {
    int64_t i0, i1;
    double g;
    percentile_index(n, p, &i0, &i1, &g);
    double a = kth_f64(x, n, i0), b = kth_f64(x, n, i1);
    return lerp(a, b, b - a, g);
}

double ms_percentile_f32(float *x, int64_t n, double p) {
    int64_t i0, i1;
    double g;
    percentile_index(n, p, &i0, &i1, &g);
    float a = kth_f32(x, n, i0), b = kth_f32(x, n, i1);
    float d = b - a; /* float32 subtraction, then float64 products */
    return lerp(a, b, d, g);
}

/* Percentiles of the voxels > 0 over a histogram for small integer types. */
static int has_histogram(const ms_samples *s) {
    return !s->scaled && (s->type == MS_VOX_UINT8 || s->type == MS_VOX_INT8 || s->type == MS_VOX_INT16 ||
                          s->type == MS_VOX_UINT16);
}

static medsam_status histogram_percentiles(const ms_samples *s, double *lo, double *hi, medsam_error *err) {
    int64_t *count = calloc(65536, sizeof(int64_t)); /* count[v] for v = 1..65535 */
    if (!count) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate a histogram");
    int64_t n = 0;
    for (int64_t i = 0; i < s->n; i++) {
        double v = raw_get(s, i);
        if (v > 0) count[(int)v]++, n++;
    }
    if (!n) {
        free(count);
        return ms_error(err, MEDSAM_ERR_ARG, "percentile normalisation needs voxels > 0 and there are none");
    }
    double ps[2] = {0.5, 99.5}, *res[2] = {lo, hi};
    for (int q = 0; q < 2; q++) {
        int64_t idx[2];
        double g, val[2];
        percentile_index(n, ps[q], &idx[0], &idx[1], &g);
        for (int e = 0; e < 2; e++) {
            int64_t seen = 0;
            int v = 1;
            while (seen + count[v] <= idx[e]) seen += count[v++];
            val[e] = v;
        }
        *res[q] = lerp(val[0], val[1], val[1] - val[0], g);
    }
    free(count);
    return MEDSAM_OK;
}

/* The ranks[q]-th smallest (0-based) of the values > 0, q < nq <= 4, without a copy of them:
 * for positive doubles the IEEE bit pattern orders like the value, so a radix selection over
 * its four 16-bit digits (most significant first, one pass over the volume per digit) finds
 * each order statistic exactly: the same value a sort would put there. */
static medsam_status radix_order_stats(const ms_samples *s, const int64_t *ranks, int nq, double *vals,
                                       medsam_error *err) {
    int64_t *hist = malloc(sizeof(int64_t) * 65536 * (size_t)nq);
    if (!hist) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate the percentile histograms");
    uint64_t prefix[4] = {0};
    int64_t rank[4];
    for (int q = 0; q < nq; q++) rank[q] = ranks[q];
    for (int pass = 0; pass < 4; pass++) {
        const int shift = 48 - 16 * pass;
        const uint64_t known = pass ? ~(uint64_t)0 << (shift + 16) : 0; /* digits fixed so far */
        memset(hist, 0, sizeof(int64_t) * 65536 * (size_t)nq);
        for (int64_t i = 0; i < s->n; i++) {
            double v = ms_samples_get(s, i);
            if (!(v > 0)) continue;
            uint64_t key;
            memcpy(&key, &v, sizeof key);
            for (int q = 0; q < nq; q++)
                if ((key & known) == prefix[q]) hist[(size_t)q * 65536 + ((key >> shift) & 0xFFFF)]++;
        }
        for (int q = 0; q < nq; q++) {
            const int64_t *h = hist + (size_t)q * 65536;
            int d = 0;
            while (rank[q] >= h[d]) rank[q] -= h[d++];
            prefix[q] |= (uint64_t)d << shift;
        }
    }
    for (int q = 0; q < nq; q++) memcpy(&vals[q], &prefix[q], sizeof vals[q]);
    free(hist);
    return MEDSAM_OK;
}

// ref: numpy/lib/function_base.py:_quantile (method "linear") on v[v > 0], by order statistics
static medsam_status sample_percentiles(const ms_samples *s, double *lo, double *hi, medsam_error *err) {
    if (has_histogram(s)) return histogram_percentiles(s, lo, hi, err);
    int64_t n = 0;
    for (int64_t i = 0; i < s->n; i++) n += ms_samples_get(s, i) > 0;
    if (!n) return ms_error(err, MEDSAM_ERR_ARG, "percentile normalisation needs voxels > 0 and there are none");
    int64_t ranks[4];
    double g[2], val[4];
    percentile_index(n, 0.5, &ranks[0], &ranks[1], &g[0]);
    percentile_index(n, 99.5, &ranks[2], &ranks[3], &g[1]);
    medsam_status st = radix_order_stats(s, ranks, 4, val, err);
    if (st) return st;
    double *res[2] = {lo, hi};
    for (int q = 0; q < 2; q++) {
        double a = val[2 * q], b = val[2 * q + 1];
        if (s->arith == MS_ARITH_F32) {
            float fa = (float)a, fb = (float)b, d = fb - fa; /* float32 subtraction, then float64 products */
            *res[q] = lerp(fa, fb, d, g[q]);
        } else {
            *res[q] = lerp(a, b, b - a, g[q]);
        }
    }
    return MEDSAM_OK;
}

/* The former path: a copy of the values > 0 and quickselect (kept for the test that holds
 * the two equal). */
medsam_status ms_intensity_percentiles_copy(const ms_samples *s, double *lo, double *hi, medsam_error *err) {
    int64_t n = 0;
    for (int64_t i = 0; i < s->n; i++) n += ms_samples_get(s, i) > 0;
    if (!n) return ms_error(err, MEDSAM_ERR_ARG, "percentile normalisation needs voxels > 0 and there are none");
    size_t esz = s->arith == MS_ARITH_F32 ? sizeof(float) : sizeof(double);
    void *buf = malloc((size_t)n * esz);
    if (!buf) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %lld values for the percentiles", (long long)n);
    int64_t j = 0;
    for (int64_t i = 0; i < s->n; i++) {
        double v = ms_samples_get(s, i);
        if (!(v > 0)) continue;
        if (s->arith == MS_ARITH_F32) ((float *)buf)[j++] = (float)v;
        else ((double *)buf)[j++] = v;
    }
    if (s->arith == MS_ARITH_F32) {
        *lo = ms_percentile_f32(buf, n, 0.5);
        *hi = ms_percentile_f32(buf, n, 99.5);
    } else {
        *lo = ms_percentile_f64(buf, n, 0.5);
        *hi = ms_percentile_f64(buf, n, 99.5);
    }
    free(buf);
    return MEDSAM_OK;
}

/* ---- clip, min-max, uint8 ----------------------------------------------- */

/* x = clip(v, lo, hi); (x - min) / (max - min) * 255; zero_back: v == 0 -> 0; uint8. */
static void clip_scale(const ms_samples *s, double lo, double hi, int zero_back, uint8_t *out) {
    const int64_t n = s->n;
    if (s->arith == MS_ARITH_F32) {
        const float l = (float)lo, h = (float)hi; /* np.clip casts the bounds to float32 */
        float mn = INFINITY, mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            float v = (float)ms_samples_get(s, i);
            float c = v < l ? l : v;
            c = c > h ? h : c;
            if (c < mn) mn = c;
            if (c > mx) mx = c;
        }
        const float range = mx - mn;
        for (int64_t i = 0; i < n; i++) {
            float v = (float)ms_samples_get(s, i);
            float c = v < l ? l : v;
            c = c > h ? h : c;
            float t = range > 0 ? (c - mn) / range * 255.0f : 0.0f;
            out[i] = (zero_back && v == 0) ? 0 : (uint8_t)t;
        }
        return;
    }
    double mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = ms_samples_get(s, i);
        double c = v < lo ? lo : v;
        c = c > hi ? hi : c;
        if (c < mn) mn = c;
        if (c > mx) mx = c;
    }
    const double range = mx - mn;
    for (int64_t i = 0; i < n; i++) {
        double v = ms_samples_get(s, i);
        double c = v < lo ? lo : v;
        c = c > hi ? hi : c;
        double t = range > 0 ? (c - mn) / range * 255.0 : 0.0;
        out[i] = (zero_back && v == 0) ? 0 : (uint8_t)t;
    }
}

// ref: pre_CT_MR.py:97-106 (modality == "CT")
medsam_status ms_intensity_window(const ms_samples *s, double level, double width, uint8_t *out, medsam_error *err) {
    if (!isfinite(level) || !isfinite(width) || !(width > 0))
        return ms_error(err, MEDSAM_ERR_ARG, "window L%g/W%g: needs a finite level and a width > 0", level, width);
    medsam_status st = check_finite(s, err);
    if (st) return st;
    clip_scale(s, level - width / 2, level + width / 2, 0, out);
    return MEDSAM_OK;
}

// ref: pre_CT_MR.py:107-116 (else branch: MR and others)
medsam_status ms_intensity_percentile(const ms_samples *s, uint8_t *out, double *lo, double *hi, medsam_error *err) {
    medsam_status st = check_finite(s, err);
    if (st) return st;
    double l = 0, h = 0;
    st = sample_percentiles(s, &l, &h, err);
    if (st) return st;
    clip_scale(s, l, h, 1, out);
    if (lo) *lo = l;
    if (hi) *hi = h;
    return MEDSAM_OK;
}
