/* test_metrics.c — src/metrics against MedSAM's official evaluation code.
 *
 * Fixtures (tools/ref/make_metrics_fixtures.py) hold cases and the numbers that
 * utils/SurfaceDice.py and LiteMedSAM's evaluation/compute_metrics.py give for them.
 * Every metric must agree to 1e-6 (absolute; NaN and inf must match as such);
 * surfel counts exactly; sorted surfel lists and the area table to 1e-12. The EDT is
 * also held against a brute-force minimum over all features. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "metrics/edt.h"
#include "metrics/metrics.h"
#include "metrics/surface.h"
#include "test.h"

#define FIX "tests/fixtures/metrics/"
#define TOL 1e-6

static double worst_metric_diff;

/* Same value, NaN matching NaN and inf matching inf of the same sign. */
static int same(double got, double ref, double tol) {
    if (isnan(ref)) return isnan(got);
    if (isinf(ref)) return got == ref;
    double d = fabs(got - ref);
    if (d > worst_metric_diff && tol == TOL) worst_metric_diff = d;
    return d <= tol;
}

#define CHECK_SAME(what, case_name, got, ref, tol) \
    CHECK(same(got, ref, tol), "%s %s: got %.17g, official %.17g", case_name, what, (double)(got), (double)(ref))

/* Splits a whitespace-separated line into tokens (in place). */
static int split(char *line, char **tok, int max) {
    int n = 0;
    for (char *p = strtok(line, " \t\r\n"); p && n < max; p = strtok(NULL, " \t\r\n")) tok[n++] = p;
    return n;
}

/* Reads case_<name>.npy: uint8 (2, n0, n1, n2) or (2, H, W) -> shape (H, W, 1). */
static int load_case(const char *name, ms_npy *arr, int64_t shape[3]) {
    char path[512];
    medsam_error err;
    snprintf(path, sizeof path, FIX "case_%s.npy", name);
    if (ms_npy_read(path, arr, &err)) {
        CHECK(0, "%s", err.message);
        return 0;
    }
    if (arr->dtype != MS_NPY_U8 || (arr->ndim != 3 && arr->ndim != 4) || arr->shape[0] != 2) {
        CHECK(0, "%s: unexpected array", path);
        ms_npy_free(arr);
        return 0;
    }
    shape[0] = arr->shape[1], shape[1] = arr->shape[2], shape[2] = arr->ndim == 4 ? arr->shape[3] : 1;
    return 1;
}

/* ---- EDT against brute force ---------------------------------------------- */

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void test_edt_brute(void) {
    uint32_t seed = 12345;
    uint8_t lut[256] = {0};
    lut[1] = 1;
    const double spacings[][3] = {{1, 1, 1}, {0.7, 0.7, 5.0}, {5.0, 0.7, 0.7}, {1.3, 0.6, 2.2}, {0.5, 2.0, 1.0}};
    int cases = 0, bad_full = 0, bad_at = 0, bad_threads = 0;
    double worst = 0;
    for (int t = 0; t < 120; t++) {
        int64_t shape[3] = {1 + lcg(&seed) % 9, 1 + lcg(&seed) % 11, 1 + lcg(&seed) % 10};
        if (t % 10 == 0) shape[2] = 1; /* 2-D */
        if (t % 17 == 0) shape[0] = 1, shape[1] = 1; /* one line */
        const double *sp = spacings[t % 5];
        int64_t n = shape[0] * shape[1] * shape[2];
        uint8_t *map = malloc(n), *q = malloc(n);
        uint32_t density = t % 4 == 0 ? 2 : t % 4 == 1 ? 10 : t % 4 == 2 ? 50 : 97; /* percent */
        if (t % 23 == 5) density = 0;                                                /* no features */
        for (int64_t i = 0; i < n; i++) {
            map[i] = lcg(&seed) % 100 < density;
            q[i] = lcg(&seed) % 3 == 0;
        }
        double *d = malloc(sizeof(double) * n), *ref = malloc(sizeof(double) * n), *d2 = malloc(sizeof(double) * n);
        double *at = malloc(sizeof(double) * (n + 1));
        medsam_error err;
        int ok = !ms_edt(map, lut, shape, sp, 1, d, &err) && !ms_edt_brute(map, lut, shape, sp, ref, &err) &&
                 !ms_edt(map, lut, shape, sp, 2, d2, &err) && !ms_edt_at(map, lut, shape, sp, q, lut, 2, at, &err);
        CHECK(ok, "edt case %d: %s", t, err.message);
        for (int64_t i = 0, m = 0; ok && i < n; i++) {
            double diff = isinf(ref[i]) ? (d[i] == ref[i] ? 0 : INFINITY) : fabs(d[i] - ref[i]);
            if (diff > worst) worst = diff;
            if (!(diff <= 1e-12 * (1 + ref[i]))) bad_full++;
            if (memcmp(&d[i], &d2[i], sizeof(double))) bad_threads++;
            if (q[i] && memcmp(&at[m++], &d[i], sizeof(double))) bad_at++;
        }
        cases++;
        free(map), free(q), free(d), free(ref), free(d2), free(at);
    }
    CHECK(bad_full == 0, "edt vs brute force: %d voxels differ", bad_full);
    CHECK(bad_at == 0, "ms_edt_at vs ms_edt: %d voxels differ", bad_at);
    CHECK(bad_threads == 0, "edt 1 vs 2 threads: %d voxels differ", bad_threads);
    printf("ok   edt vs brute force: %d random grids (1-D, 2-D, 3-D, 5 spacings), worst |diff| %.2e\n", cases, worst);

    /* invalid arguments */
    medsam_error err;
    uint8_t m1[8] = {0};
    double out[8];
    int64_t bad_shape[3] = {2, 2, 0};
    double bad_sp[3] = {1, 0, 1}, sp1[3] = {1, 1, 1};
    int64_t ok_shape[3] = {2, 2, 2};
    CHECK(ms_edt(m1, lut, bad_shape, sp1, 1, out, &err) == MEDSAM_ERR_ARG, "edt accepts an empty axis");
    CHECK(ms_edt(m1, lut, ok_shape, bad_sp, 1, out, &err) == MEDSAM_ERR_ARG, "edt accepts spacing 0");
    CHECK(strstr(err.message, "spacing") != NULL, "edt spacing message: %s", err.message);
}

/* Grids above the one-thread threshold: 1 and 2 threads give the same bits, and
 * sampled voxels equal the brute-force minimum. */
static void test_edt_threads_large(void) {
    uint32_t seed = 777;
    const int64_t shape[3] = {40, 50, 60}, n = 40 * 50 * 60;
    const double sp[3] = {0.7, 0.7, 5.0};
    uint8_t lut[256] = {0};
    lut[1] = 1;
    uint8_t *map = malloc(n), *q = malloc(n);
    double *d1 = malloc(sizeof(double) * n), *d2 = malloc(sizeof(double) * n), *at = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) map[i] = lcg(&seed) % 1000 < 3, q[i] = lcg(&seed) % 2;
    medsam_error err;
    int ok = !ms_edt(map, lut, shape, sp, 1, d1, &err) && !ms_edt(map, lut, shape, sp, 2, d2, &err) &&
             !ms_edt_at(map, lut, shape, sp, q, lut, 2, at, &err);
    CHECK(ok, "large edt: %s", err.message);
    int64_t diff_threads = 0, diff_at = 0, bad = 0;
    for (int64_t i = 0, m = 0; ok && i < n; i++) {
        diff_threads += memcmp(&d1[i], &d2[i], sizeof(double)) != 0;
        if (q[i]) diff_at += memcmp(&at[m++], &d1[i], sizeof(double)) != 0;
    }
    for (int s = 0; ok && s < 400; s++) { /* brute force at sampled voxels */
        int64_t i = lcg(&seed) % n, p0 = i / 3000, p1 = i / 60 % 50, p2 = i % 60;
        double best = INFINITY;
        for (int64_t f = 0; f < n; f++) {
            if (!map[f]) continue;
            double a0 = (double)(f / 3000 - p0) * sp[0], a1 = (double)(f / 60 % 50 - p1) * sp[1];
            double a2 = (double)(f % 60 - p2) * sp[2], d = (a0 * a0 + a1 * a1) + a2 * a2;
            if (d < best) best = d;
        }
        bad += !(fabs(sqrt(best) - d1[i]) <= 1e-12 * (1 + sqrt(best)));
    }
    CHECK(diff_threads == 0 && diff_at == 0 && bad == 0,
          "large edt: %lld differ between threads, %lld between edt_at and edt, %lld of 400 from brute force",
          (long long)diff_threads, (long long)diff_at, (long long)bad);
    if (ok && !diff_threads && !diff_at && !bad)
        printf("ok   edt 40x50x60: 1 and 2 threads bit-identical, edt_at = edt, 400 sampled voxels = brute force\n");
    free(map), free(q), free(d1), free(d2), free(at);
}

/* Two overlapping ellipsoids on a grid big enough for threads: the same numbers,
 * bit for bit, with 1 and 2 threads. */
static void test_metrics_threads(void) {
    const int64_t shape[3] = {48, 64, 64}, n = 48 * 64 * 64;
    uint8_t *g = malloc(n), *p = malloc(n);
    for (int64_t i = 0; i < n; i++) {
        double z = (double)(i / 4096) - 23, y = (double)(i / 64 % 64) - 31, x = (double)(i % 64) - 30;
        g[i] = z * z / 400 + y * y / 700 + x * x / 800 < 1;
        p[i] = (z - 1) * (z - 1) / 380 + y * y / 760 + (x + 2) * (x + 2) / 790 < 1;
    }
    ms_mask_view gv = {g, MS_LABELS_U8, MS_MASK_NONZERO}, pv = {p, MS_LABELS_U8, MS_MASK_NONZERO};
    ms_metrics_opts o;
    ms_metrics_opts_default(&o);
    o.spacing[0] = 2.5, o.spacing[1] = 0.8, o.spacing[2] = 0.8;
    ms_metrics_result r1, r2;
    medsam_error err;
    o.threads = 1;
    int ok = !ms_metrics_compute(&gv, &pv, shape, &o, &r1, &err);
    o.threads = 2;
    ok = ok && !ms_metrics_compute(&gv, &pv, shape, &o, &r2, &err);
    CHECK(ok && !memcmp(&r1, &r2, sizeof r1) && r1.surfels_gt > 1000 && r1.nsd > 0.5 && r1.nsd < 1,
          "metrics with 1 and 2 threads differ (nsd %.17g vs %.17g)", r1.nsd, r2.nsd);
    printf("ok   48x64x64 ellipsoids: 1 and 2 threads give identical metrics (dsc %.6f nsd %.6f hd95 %.4f)\n", r1.dsc,
           r1.nsd, r1.hd);
    free(g), free(p);
}

/* ---- area table ------------------------------------------------------------ */

static void test_area_table(void) {
    FILE *fp = fopen(FIX "areas.txt", "r");
    CHECK(fp != NULL, "cannot open areas.txt");
    if (!fp) return;
    static char line[65536];
    int rows = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *tok[300];
        if (split(line, tok, 300) != 259) continue;
        double sp[3] = {strtod(tok[0], NULL), strtod(tok[1], NULL), strtod(tok[2], NULL)}, area[256], worst = 0;
        ms_surfel_area_table(sp, area);
        int bad = 0;
        for (int c = 0; c < 256; c++) {
            double d = fabs(area[c] - strtod(tok[3 + c], NULL));
            if (d > worst) worst = d;
            bad += !(d <= 1e-12);
        }
        CHECK(bad == 0, "area table at spacing %g,%g,%g: %d codes differ (worst %.3g)", sp[0], sp[1], sp[2], bad,
              worst);
        printf("ok   area table, spacing %g,%g,%g: 256 codes, worst |diff| %.2e\n", sp[0], sp[1], sp[2], worst);
        rows++;
    }
    fclose(fp);
    CHECK(rows == 3, "areas.txt: %d rows", rows);
}

/* ---- binary cases ------------------------------------------------------------ */

static void check_surfel_dump(const char *name, const char *side, const double *dist, const double *area, int64_t n) {
    char path[512];
    snprintf(path, sizeof path, FIX "surfels_%s_%s.npy", name, side);
    FILE *fp = fopen(path, "rb");
    if (!fp) return; /* only some cases have dumps */
    fclose(fp);
    ms_npy ref;
    medsam_error err;
    if (ms_npy_read(path, &ref, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    CHECK(ref.dtype == MS_NPY_F64 && ref.ndim == 2 && ref.shape[0] == n && ref.shape[1] == 2,
          "%s: %lld surfels, expected %lld", path, (long long)ref.shape[0], (long long)n);
    if (ref.shape[0] == n && ref.dtype == MS_NPY_F64) {
        const double *r = ref.data;
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += !same(dist[i], r[2 * i], 1e-12) || !same(area[i], r[2 * i + 1], 1e-12);
        CHECK(bad == 0, "%s %s: %d sorted surfels differ from the official list", name, side, bad);
        printf("ok   %-18s %-4s surfels: %lld sorted (distance, area) pairs equal to 1e-12\n", name, side,
               (long long)n);
    }
    ms_npy_free(&ref);
}

/* Runs one case with a view builder; returns 0 if anything failed to run. */
static void run_binary_case(char **tok, const ms_mask_view *g, const ms_mask_view *p, const int64_t shape[3],
                            int threads, int verbose) {
    const char *name = tok[0];
    double sp[3] = {strtod(tok[1], NULL), strtod(tok[2], NULL), strtod(tok[3], NULL)};
    double ref[15];
    for (int i = 0; i < 15; i++) ref[i] = strtod(tok[4 + i], NULL);
    ms_surface_distances sd;
    medsam_error err;
    medsam_status st = ms_surface_distances_compute(g, p, shape, sp, threads, NULL, &sd, &err);
    CHECK(st == MEDSAM_OK, "%s: %s", name, err.message);
    if (st) return;
    CHECK(sd.n_gt == (int64_t)ref[0] && sd.n_pred == (int64_t)ref[1], "%s: surfels %lld/%lld, official %.0f/%.0f",
          name, (long long)sd.n_gt, (long long)sd.n_pred, ref[0], ref[1]);
    CHECK_SAME("sum area gt", name, ms_np_sum(sd.area_gt, sd.n_gt), ref[2], TOL);
    CHECK_SAME("sum area pred", name, ms_np_sum(sd.area_pred, sd.n_pred), ref[3], TOL);
    CHECK_SAME("dsc", name, ms_dice(g, p, shape, threads), ref[4], TOL);
    CHECK_SAME("nsd@1", name, ms_surface_dice(&sd, 1.0), ref[5], TOL);
    CHECK_SAME("nsd@2", name, ms_surface_dice(&sd, 2.0), ref[6], TOL);
    CHECK_SAME("nsd@5", name, ms_surface_dice(&sd, 5.0), ref[7], TOL);
    double og, op, ag, ap;
    ms_surface_overlap(&sd, 2.0, &og, &op);
    CHECK_SAME("overlap gt@2", name, og, ref[8], TOL);
    CHECK_SAME("overlap pred@2", name, op, ref[9], TOL);
    ms_average_surface_distance(&sd, &ag, &ap);
    CHECK_SAME("asd gt->pred", name, ag, ref[10], TOL);
    CHECK_SAME("asd pred->gt", name, ap, ref[11], TOL);
    CHECK_SAME("hd95", name, ms_robust_hausdorff(&sd, 95), ref[12], TOL);
    CHECK_SAME("hd100", name, ms_robust_hausdorff(&sd, 100), ref[13], TOL);
    CHECK_SAME("hd50", name, ms_robust_hausdorff(&sd, 50), ref[14], TOL);
    if (verbose) {
        check_surfel_dump(name, "gt", sd.dist_gt_to_pred, sd.area_gt, sd.n_gt);
        check_surfel_dump(name, "pred", sd.dist_pred_to_gt, sd.area_pred, sd.n_pred);
        printf("ok   %-18s surfels %lld/%lld dsc %.6f nsd@2 %.6f hd95 %g\n", name, (long long)sd.n_gt,
               (long long)sd.n_pred, ref[4], ref[6], ref[12]);
    }
    /* ms_metrics_compute gives the same numbers in one call */
    ms_metrics_opts o;
    ms_metrics_opts_default(&o);
    memcpy(o.spacing, sp, sizeof sp);
    o.threads = threads;
    ms_metrics_result r;
    st = ms_metrics_compute(g, p, shape, &o, &r, &err);
    CHECK(st == MEDSAM_OK && same(r.dsc, ref[4], TOL) && same(r.nsd, ref[6], TOL) && same(r.hd, ref[12], TOL) &&
              same(r.asd_gt_to_pred, ref[10], TOL) && same(r.asd_pred_to_gt, ref[11], TOL),
          "%s: ms_metrics_compute differs", name);
    ms_surface_distances_free(&sd);
}

static void test_binary_cases(void) {
    FILE *fp = fopen(FIX "binary.txt", "r");
    CHECK(fp != NULL, "cannot open binary.txt");
    if (!fp) return;
    char line[4096];
    int ncase = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *tok[32];
        if (split(line, tok, 32) != 19) continue;
        ms_npy arr;
        int64_t shape[3];
        if (!load_case(tok[0], &arr, shape)) continue;
        const int64_t n = shape[0] * shape[1] * shape[2];
        const uint8_t *gt = arr.data, *pred = gt + n;
        ms_mask_view g = {gt, MS_LABELS_U8, MS_MASK_NONZERO}, p = {pred, MS_LABELS_U8, MS_MASK_NONZERO};
        run_binary_case(tok, &g, &p, shape, 1, 1);
        run_binary_case(tok, &g, &p, shape, 2, 0);
        /* the same masks as uint16 label 300 / label 7 with noise of other labels */
        uint16_t *g16 = malloc(sizeof(uint16_t) * n), *p16 = malloc(sizeof(uint16_t) * n);
        uint8_t *g8 = malloc(n), *p8 = malloc(n);
        for (int64_t i = 0; i < n; i++) {
            g16[i] = gt[i] ? 300 : (uint16_t)(i % 3 == 0 ? 301 : 0);
            p16[i] = pred[i] ? 300 : (uint16_t)(i % 5 == 0 ? 299 : 0);
            g8[i] = gt[i] ? 7 : (uint8_t)(i % 4 == 0 ? 3 : 0);
            p8[i] = pred[i] ? 7 : (uint8_t)(i % 7 == 0 ? 255 : 0);
        }
        ms_mask_view g16v = {g16, MS_LABELS_U16, 300}, p16v = {p16, MS_LABELS_U16, 300};
        ms_mask_view g8v = {g8, MS_LABELS_U8, 7}, p8v = {p8, MS_LABELS_U8, 7};
        run_binary_case(tok, &g16v, &p16v, shape, 2, 0);
        run_binary_case(tok, &g8v, &p16v, shape, 1, 0);
        run_binary_case(tok, &g16v, &p8v, shape, 1, 0);
        free(g16), free(p16), free(g8), free(p8);
        ms_npy_free(&arr);
        ncase++;
    }
    fclose(fp);
    CHECK(ncase >= 20, "binary.txt: only %d cases", ncase);
    printf("ok   %d binary cases (u8 nonzero, u8/u16 labels, 1 and 2 threads), worst metric |diff| %.2e\n", ncase,
           worst_metric_diff);
}

/* ---- challenge aggregation ------------------------------------------------- */

static void test_challenge_cases(void) {
    FILE *fp = fopen(FIX "challenge.txt", "r");
    CHECK(fp != NULL, "cannot open challenge.txt");
    if (!fp) return;
    char line[1024];
    int ncase = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *tok[16];
        if (split(line, tok, 16) != 6) continue;
        char name[300];
        snprintf(name, sizeof name, "ch_%s", tok[0]);
        ms_npy arr;
        int64_t shape[3];
        if (!load_case(name, &arr, shape)) continue;
        const int64_t n = shape[0] * shape[1] * shape[2];
        double sp[3] = {strtod(tok[1], NULL), strtod(tok[2], NULL), strtod(tok[3], NULL)};
        double dsc_ref = strtod(tok[4], NULL), nsd_ref = strtod(tok[5], NULL);
        ms_challenge_result r;
        medsam_error err;
        double ld[16], ln[16];
        medsam_status st = ms_metrics_challenge(arr.data, MS_LABELS_U8, (uint8_t *)arr.data + n, MS_LABELS_U8, shape,
                                                sp, 2.0, 2, &r, ld, ln, 16, &err);
        CHECK(st == MEDSAM_OK, "%s: %s", name, err.message);
        CHECK_SAME("challenge dsc", name, r.dsc, dsc_ref, TOL);
        CHECK_SAME("challenge nsd", name, r.nsd, nsd_ref, TOL);
        printf("ok   challenge %-22s labels %u dsc %-10.6g nsd %-10.6g%s\n", tok[0], r.nlabels, r.dsc, r.nsd,
               r.nsd_computed ? "" : " (not computed: DSC <= 0.2)");
        ms_npy_free(&arr);
        ncase++;
    }
    fclose(fp);
    CHECK(ncase >= 8, "challenge.txt: only %d cases", ncase);
}

/* ---- small hand-checked facts ------------------------------------------------ */

static void test_small_facts(void) {
    /* NumPy's pairwise sum: np.sum of ten 0.1 is 1.0 (eight partial sums, then the
     * tail), while summing them one by one gives 0.9999999999999999 */
    double a[10];
    for (int i = 0; i < 10; i++) a[i] = 0.1;
    CHECK(ms_np_sum(a, 10) == 1.0, "np.sum of ten 0.1: %.17g", ms_np_sum(a, 10));
    CHECK(ms_np_sum(a, 0) == 0.0, "np.sum of nothing");
    CHECK(isnan(ms_dice_from_counts(0, 0, 0)), "dice of two empty masks is NaN");
    CHECK(ms_dice_from_counts(3, 1, 1) == 0.5, "dice 2*1/4");
    /* one voxel vs the same voxel: 8 surfels each side at distance 0 */
    uint8_t m[27] = {0};
    m[13] = 1;
    int64_t shape[3] = {3, 3, 3};
    ms_mask_view v = {m, MS_LABELS_U8, MS_MASK_NONZERO};
    ms_surface_distances sd;
    double sp[3] = {1, 1, 1};
    medsam_error err;
    CHECK(ms_surface_distances_compute(&v, &v, shape, sp, 1, NULL, &sd, &err) == MEDSAM_OK, "one voxel");
    CHECK(sd.n_gt == 8 && sd.n_pred == 8, "one voxel: %lld surfels", (long long)sd.n_gt);
    CHECK(ms_surface_dice(&sd, 0.0) == 1.0 && ms_robust_hausdorff(&sd, 95) == 0.0, "one voxel against itself");
    ms_surface_distances_free(&sd);
    double bad_sp[3] = {1, -1, 1};
    CHECK(ms_surface_distances_compute(&v, &v, shape, bad_sp, 1, NULL, &sd, &err) == MEDSAM_ERR_ARG,
          "negative spacing accepted");
}

int main(void) {
    test_small_facts();
    test_edt_brute();
    test_edt_threads_large();
    test_metrics_threads();
    test_area_table();
    test_binary_cases();
    test_challenge_cases();
    return t_summary();
}
