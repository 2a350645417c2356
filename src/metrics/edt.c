/* edt.c — exact anisotropic Euclidean distance transform in three separable passes.
 *
 * Pass 0 (axis 0): per line, the signed offset to the nearest feature (two scans);
 *                  offsets are kept as int16 in off0 (NONE when the line has none).
 * Pass 1 (axis 1): per line, f(q) = (off0(q)*s0)^2 and the lower envelope of the
 *                  parabolas f(q) + (s1*(p-q))^2 picks, for each p, the q that is
 *                  nearest; off0(p) <- off0(q), off1(p) <- q - p.
 * Pass 2 (axis 2): same with f(q) = (off0*s0)^2 + (off1*s1)^2 and s2; the distance
 *                  at p is sqrt(((d0*s0)^2 + (d1*s1)^2) + (d2*s2)^2) from the winner's
 *                  integer offsets, in SciPy's order of operations.
 * Lines are independent: OpenMP splits them, each thread writes only its lines. */
#include "metrics/edt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define OFF_NONE INT16_MIN
#define MS_EDT_PAR_MIN (1 << 16) /* grids smaller than this run on one thread */

typedef struct {
    double *f;      /* (len) parabola heights */
    double *z;      /* (len + 1) envelope boundaries */
    int32_t *v;     /* (len) envelope parabola positions */
    int32_t *near;  /* (len) winning q for each p, -1 when no feature */
    int16_t *o0;    /* (len) gathered off0 of the line */
    int32_t *last;  /* (n2) pass 0: last feature index per column */
    double *recip;  /* (len) recip[d] = 1 / d, so the envelope needs no division */
} edt_scratch;

static void scratch_free(edt_scratch *s) {
    free(s->f), free(s->z), free(s->v), free(s->near), free(s->o0), free(s->last), free(s->recip);
    memset(s, 0, sizeof *s);
}

static int scratch_alloc(edt_scratch *s, int64_t len, int64_t n2) {
    memset(s, 0, sizeof *s);
    s->f = malloc(sizeof(double) * len);
    s->z = malloc(sizeof(double) * (len + 1));
    s->v = malloc(sizeof(int32_t) * len);
    s->near = malloc(sizeof(int32_t) * len);
    s->o0 = malloc(sizeof(int16_t) * len);
    s->last = malloc(sizeof(int32_t) * n2);
    s->recip = malloc(sizeof(double) * len);
    if (!s->f || !s->z || !s->v || !s->near || !s->o0 || !s->last || !s->recip) {
        scratch_free(s);
        return 0;
    }
    s->recip[0] = 0;
    for (int64_t d = 1; d < len; d++) s->recip[d] = 1.0 / (double)d;
    return 1;
}

/* Lower envelope of parabolas y = f[q] + w2*(p-q)^2 over q with finite f[q]
 * (Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled Functions").
 * near[p] = the minimising q, or -1 for every p when no f[q] is finite. */
static void envelope_1d(const double *f, int32_t n, double w2, const double *recip, int32_t *v, double *z,
                        int32_t *near) {
    const double h = 0.5 / w2;
    int32_t k = -1;
    for (int32_t q = 0; q < n; q++) {
        if (isinf(f[q])) continue;
        if (k < 0) {
            k = 0, v[0] = q, z[0] = -INFINITY, z[1] = INFINITY;
            continue;
        }
        /* where the parabolas of v[k] < q meet: (f[q]-f[r]) / (2 w2 (q-r)) + (q+r)/2, the
         * stable form of the FH formula; z[0] is -inf, so the loop stops at k == 0 */
        int32_t r = v[k];
        double s = (f[q] - f[r]) * h * recip[q - r] + 0.5 * (double)(q + r);
        while (s <= z[k]) {
            r = v[--k];
            s = (f[q] - f[r]) * h * recip[q - r] + 0.5 * (double)(q + r);
        }
        k++;
        v[k] = q, z[k] = s, z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (int32_t p = 0; p < n; p++) near[p] = -1;
        return;
    }
    int32_t j = 0;
    for (int32_t p = 0; p < n; p++) {
        while (z[j + 1] < (double)p) j++;
        near[p] = v[j];
    }
}

static medsam_status check_args(const int64_t shape[3], const double spacing[3], medsam_error *err) {
    for (int a = 0; a < 3; a++) {
        if (shape[a] < 1 || shape[a] > MS_EDT_MAX_SIDE)
            return ms_error(err, shape[a] < 1 ? MEDSAM_ERR_ARG : MEDSAM_ERR_UNSUPPORTED,
                            "distance transform: axis %d has %lld voxels (must be 1..%d)", a, (long long)shape[a],
                            MS_EDT_MAX_SIDE);
        if (!(spacing[a] > 0) || isinf(spacing[a]))
            return ms_error(err, MEDSAM_ERR_ARG, "distance transform: spacing %g on axis %d (must be finite and > 0)",
                            spacing[a], a);
    }
    return MEDSAM_OK;
}

/* Passes 0 and 1: fills off0, off1 (n0, n1, n2). Returns 0 when scratch allocation fails. */
static int edt_passes01(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3], const double spacing[3],
                        int threads, int16_t *off0, int16_t *off1) {
    const int64_t n0 = shape[0], n1 = shape[1], n2 = shape[2];
    const int64_t len = n0 > n1 ? (n0 > n2 ? n0 : n2) : (n1 > n2 ? n1 : n2);
    const double s0 = spacing[0], w1 = spacing[1] * spacing[1];
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        edt_scratch sc;
        int ok = scratch_alloc(&sc, len, n2);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
        /* pass 0: for each j, scan i forward then backward across the whole k row */
#pragma omp for schedule(static)
        for (int64_t j = 0; j < n1; j++) {
            if (!ok) continue;
            for (int64_t k = 0; k < n2; k++) sc.last[k] = -1;
            for (int64_t i = 0; i < n0; i++) {
                const int64_t base = (i * n1 + j) * n2;
                for (int64_t k = 0; k < n2; k++) {
                    if (lut[map[base + k]]) sc.last[k] = (int32_t)i;
                    off0[base + k] = sc.last[k] >= 0 ? (int16_t)(sc.last[k] - i) : OFF_NONE;
                }
            }
            for (int64_t k = 0; k < n2; k++) sc.last[k] = -1;
            for (int64_t i = n0 - 1; i >= 0; i--) {
                const int64_t base = (i * n1 + j) * n2;
                for (int64_t k = 0; k < n2; k++) {
                    if (lut[map[base + k]]) sc.last[k] = (int32_t)i;
                    if (sc.last[k] < 0) continue;
                    int16_t d = (int16_t)(sc.last[k] - i), cur = off0[base + k];
                    if (cur == OFF_NONE || d < -cur) off0[base + k] = d;
                }
            }
        }
        /* pass 1: lines along axis 1, one (i, k) per iteration */
#pragma omp for schedule(static) collapse(2)
        for (int64_t i = 0; i < n0; i++) {
            for (int64_t k = 0; k < n2; k++) {
                if (!ok) continue;
                const int64_t base = i * n1 * n2 + k;
                for (int64_t j = 0; j < n1; j++) {
                    int16_t o = off0[base + j * n2];
                    double a = (double)o * s0;
                    sc.o0[j] = o;
                    sc.f[j] = o == OFF_NONE ? INFINITY : a * a;
                }
                envelope_1d(sc.f, (int32_t)n1, w1, sc.recip, sc.v, sc.z, sc.near);
                if (sc.near[0] < 0) continue; /* off0 is already NONE on the whole line */
                for (int64_t p = 0; p < n1; p++) {
                    int32_t q = sc.near[p];
                    off0[base + p * n2] = sc.o0[q];
                    off1[base + p * n2] = (int16_t)(q - p);
                }
            }
        }
        if (ok) scratch_free(&sc);
    }
    return !failed;
}

/* Pass 2 on one contiguous line: `near` gets the winning q of each p; returns 0 when
 * the grid slab this line sees has no feature (every distance is +inf). */
static int edt_line2(const int16_t *off0, const int16_t *off1, int64_t n2, const double spacing[3], edt_scratch *sc) {
    const double s0 = spacing[0], s1 = spacing[1];
    for (int64_t k = 0; k < n2; k++) {
        if (off0[k] == OFF_NONE) {
            sc->f[k] = INFINITY;
        } else {
            double a0 = (double)off0[k] * s0, a1 = (double)off1[k] * s1;
            sc->f[k] = a0 * a0 + a1 * a1;
        }
    }
    envelope_1d(sc->f, (int32_t)n2, spacing[2] * spacing[2], sc->recip, sc->v, sc->z, sc->near);
    return sc->near[0] >= 0;
}

static inline double line_dist(const edt_scratch *sc, int64_t p, double s2) {
    int32_t q = sc->near[p];
    double a2 = (double)(q - p) * s2;
    return sqrt(sc->f[q] + a2 * a2);
}

/* Runs the three passes; writes either every voxel (qmap == NULL) or the query
 * voxels in C order. */
static medsam_status edt_run(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3],
                             const double spacing[3], const uint8_t *qmap, const uint8_t qlut[256], int threads,
                             double *dist, medsam_error *err) {
    medsam_status st = check_args(shape, spacing, err);
    if (st) return st;
    const int64_t n0 = shape[0], n1 = shape[1], n2 = shape[2], n = n0 * n1 * n2;
    const int64_t nlines = n0 * n1;
    if (threads < 1 || n < MS_EDT_PAR_MIN) threads = 1; /* threads cost more than they save */
    int16_t *off0 = malloc(sizeof(int16_t) * n), *off1 = malloc(sizeof(int16_t) * n);
    int64_t *qstart = qmap ? malloc(sizeof(int64_t) * (nlines + 1)) : NULL;
    if (!off0 || !off1 || (qmap && !qstart)) {
        free(off0), free(off1), free(qstart);
        return ms_error(err, MEDSAM_ERR_NOMEM, "distance transform: out of memory for %lld voxels", (long long)n);
    }
    if (qmap) { /* where each line's query voxels start in `dist` */
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t l = 0; l < nlines; l++) {
            int64_t c = 0;
            for (int64_t k = 0; k < n2; k++) c += qlut[qmap[l * n2 + k]] != 0;
            qstart[l + 1] = c;
        }
        qstart[0] = 0;
        for (int64_t l = 0; l < nlines; l++) qstart[l + 1] += qstart[l];
    }
    int ok = edt_passes01(map, lut, shape, spacing, threads, off0, off1);
    int failed = !ok;
    if (ok) {
        const int64_t len = n0 > n1 ? (n0 > n2 ? n0 : n2) : (n1 > n2 ? n1 : n2);
#pragma omp parallel num_threads(threads)
        {
            edt_scratch sc;
            int mine = scratch_alloc(&sc, len, 1);
            if (!mine) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(static)
            for (int64_t l = 0; l < nlines; l++) {
                if (!mine) continue;
                const int64_t base = l * n2;
                if (qmap && qstart[l + 1] == qstart[l]) continue;
                int any = edt_line2(off0 + base, off1 + base, n2, spacing, &sc);
                if (!qmap) {
                    for (int64_t p = 0; p < n2; p++) dist[base + p] = any ? line_dist(&sc, p, spacing[2]) : INFINITY;
                } else {
                    double *out = dist + qstart[l];
                    for (int64_t p = 0; p < n2; p++)
                        if (qlut[qmap[base + p]]) *out++ = any ? line_dist(&sc, p, spacing[2]) : INFINITY;
                }
            }
            if (mine) scratch_free(&sc);
        }
    }
    free(off0), free(off1), free(qstart);
    if (failed) return ms_error(err, MEDSAM_ERR_NOMEM, "distance transform: out of memory for line buffers");
    return MEDSAM_OK;
}

medsam_status ms_edt(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3], const double spacing[3],
                     int threads, double *dist, medsam_error *err) {
    return edt_run(map, lut, shape, spacing, NULL, NULL, threads, dist, err);
}

medsam_status ms_edt_at(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3], const double spacing[3],
                        const uint8_t *qmap, const uint8_t qlut[256], int threads, double *dist, medsam_error *err) {
    if (!qmap || !qlut) return ms_error(err, MEDSAM_ERR_ARG, "distance transform: no query map");
    return edt_run(map, lut, shape, spacing, qmap, qlut, threads, dist, err);
}

int64_t ms_edt_count(const uint8_t *map, const uint8_t lut[256], int64_t n) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += lut[map[i]] != 0;
    return c;
}

medsam_status ms_edt_brute(const uint8_t *map, const uint8_t lut[256], const int64_t shape[3],
                           const double spacing[3], double *dist, medsam_error *err) {
    medsam_status st = check_args(shape, spacing, err);
    if (st) return st;
    const int64_t n1 = shape[1], n2 = shape[2], n = shape[0] * n1 * n2;
    int64_t nf = ms_edt_count(map, lut, n);
    int64_t *feat = malloc(sizeof(int64_t) * (nf ? nf : 1));
    if (!feat) return ms_error(err, MEDSAM_ERR_NOMEM, "distance transform: out of memory");
    for (int64_t i = 0, c = 0; i < n; i++)
        if (lut[map[i]]) feat[c++] = i;
    for (int64_t i = 0; i < n; i++) {
        int64_t p0 = i / (n1 * n2), p1 = i / n2 % n1, p2 = i % n2;
        double best = INFINITY;
        for (int64_t f = 0; f < nf; f++) {
            int64_t q = feat[f];
            double a0 = (double)(q / (n1 * n2) - p0) * spacing[0];
            double a1 = (double)(q / n2 % n1 - p1) * spacing[1];
            double a2 = (double)(q % n2 - p2) * spacing[2];
            double d2 = (a0 * a0 + a1 * a1) + a2 * a2;
            if (d2 < best) best = d2;
        }
        dist[i] = sqrt(best);
    }
    free(feat);
    return MEDSAM_OK;
}
