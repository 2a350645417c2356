/* cmd_eval.c — `medsam eval`: DSC / NSD (and ASD, HD95) of predicted label maps
 * against ground truth, as MedSAM's utils/SurfaceDice.py and the challenge's
 * evaluation/compute_metrics.py compute them (see src/metrics/metrics.h).
 *
 * How spacing is mapped to array axes (spacing[a] = voxel size along array axis a):
 *   PNG / 2-D .npy / 2-D npz: the (H, W) map is evaluated as (H, W, 1) with spacing
 *     1,1,1, exactly like compute_metrics.py does for 2-D cases.
 *   3-D npz: the `spacing` array of the gt npz is applied as stored, spacing[a] to
 *     axis a of the (z, y, x) arrays — what compute_metrics.py does. MedSAM's
 *     preprocessing stores SimpleITK's GetSpacing(), i.e. (x, y, z), so the official
 *     numbers apply the x spacing to z and the z spacing to x (a latent mismatch);
 *     --npz-spacing-xyz reverses the vector to give physically placed spacing.
 *   NIfTI: arrays are (z, y, x) (x fastest on disk), spacing (pixdim[3], pixdim[2],
 *     pixdim[1]) from the gt header: physically right.
 *   --spacing a,b[,c] overrides all of this, per array axis in that order. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "eval_load.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "metrics/metrics.h"

typedef struct {
    const char *pred, *gt, *csv, *json;
    const char *pred_key, *gt_key;
    double tolerance;
    double spacing[3];
    int nspacing; /* 0: from the files */
    uint32_t *labels;
    int nlabels; /* 0: the labels present in gt or pred */
    int challenge, npz_xyz, threads, quiet;
} eval_opts;

typedef struct {
    uint32_t label;
    double dsc, nsd, asd_gp, asd_pg, hd95;
    int64_t vol_gt, vol_pred;
} label_row;

typedef struct {
    char *name;
    int ndim;
    int64_t shape[3];
    double spacing[3];
    const char *spacing_from;
    label_row *rows;
    int nrows;
    label_row mean; /* np.mean over the rows (challenge: the case's dsc, nsd) */
} case_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* np.mean of n values: NaN for none, NaN/inf propagate. */
static double np_mean(const double *v, int n) { return n ? ms_np_sum(v, n) / (double)n : NAN; }

/* np.nanmean: the mean of the non-NaN values (compacts v); *nans gets their count. */
static double nan_mean(double *v, int n, int *nans) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    if (nans) *nans = n - m;
    return np_mean(v, m);
}

static int parse_doubles(const char *s, double *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p && n < max) {
        char *end;
        out[n++] = strtod(p, &end);
        if (end == p) return 0;
        p = end;
        if (*p == ',') p++;
        else if (*p) return 0;
    }
    return *p ? 0 : n;
}

static int parse_labels(const char *s, eval_opts *o) {
    int cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    o->labels = malloc(sizeof(uint32_t) * cap);
    if (!o->labels) return 0;
    const char *p = s;
    o->nlabels = 0;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 65535) return 0;
        o->labels[o->nlabels++] = (uint32_t)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return 0;
    }
    return o->nlabels > 0;
}

static void usage(FILE *fp) {
    fputs("usage: medsam eval --pred P --gt G [--tolerance MM] [--spacing a,b[,c]] [--labels 1,2,...]\n"
          "                   [--challenge] [--csv OUT.csv] [--json OUT.json] [--threads N] [-q]\n"
          "\n"
          "DSC and NSD (normalized surface Dice at a tolerance), plus average surface distance and\n"
          "95% robust Hausdorff, computed exactly as MedSAM's utils/SurfaceDice.py does.\n"
          "P and G are label-map files (PNG 8/16-bit, .npy, .npz, .nii/.nii.gz) or two folders:\n"
          "then every file present under the same name in both is evaluated (one row per case).\n"
          "npz: the prediction is the member 'segs', the ground truth 'gts' (and 'spacing').\n"
          "\n"
          "options:\n"
          "  --tolerance MM     NSD tolerance in spacing units (default 2, MedSAM's value)\n"
          "  --spacing a,b[,c]  voxel size per ARRAY axis, in array order: (z,y,x) for volumes,\n"
          "                     (y,x[,1]) for 2-D maps. Default: 2-D 1,1,1; 3-D npz the gt's\n"
          "                     'spacing' as stored (as compute_metrics.py; see --npz-spacing-xyz);\n"
          "                     NIfTI the gt's pixdim as (z,y,x); 1,1,1 when none is known\n"
          "  --npz-spacing-xyz  read an npz 'spacing' as (x,y,z) (SimpleITK order, what MedSAM's\n"
          "                     preprocessing stores) and apply it to the (z,y,x) arrays\n"
          "                     physically; the challenge script does not (default: as stored)\n"
          "  --labels 1,2,...   labels to evaluate (default: every non-zero value found in the\n"
          "                     prediction or the ground truth; --challenge: 1..max(gt))\n"
          "  --challenge        compute_metrics.py exactly: labels 1..max(gt), DSC = mean over\n"
          "                     labels (NaN if a label is in neither map), NSD (tolerance 2 unless\n"
          "                     given) only when that mean DSC > 0.2, else 0; 2-D cases use spacing\n"
          "                     1,1,1 and 3-D npz their 'spacing' as stored. The CSV is the\n"
          "                     official one: case,dsc,nsd rounded to 4 decimals, sorted by case\n"
          "  --csv FILE         per case and label: dsc, nsd, asd both ways, hd95, voxel counts,\n"
          "                     and a 'mean' row per multi-label case (full precision)\n"
          "  --json FILE        everything, per label, with the spacing used (NaN/inf as null)\n"
          "  --pred-key/--gt-key NAME   npz members (default segs / gts)\n"
          "  --threads N        threads for the distance transforms (default: all CPUs)\n"
          "  -q, --quiet        no table on stdout\n"
          "\n"
          "Conventions (SurfaceDice.py): both masks empty: DSC NaN, NSD NaN, HD95 inf; one empty:\n"
          "DSC 0, NSD 0, HD95 inf. 2-D maps are one voxel thick volumes, so their 'surface'\n"
          "includes both faces, as in the official evaluation.\n",
          fp);
}

static int parse_eval_opts(int argc, char **argv, eval_opts *o, int *help) {
    memset(o, 0, sizeof *o);
    o->tolerance = 2.0;
    o->threads = cli_default_threads();
    o->pred_key = "segs", o->gt_key = "gts";
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { *help = 1; return 0; }
        if (!strcmp(a, "--challenge")) { o->challenge = 1; continue; }
        if (!strcmp(a, "--npz-spacing-xyz")) { o->npz_xyz = 1; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        int known = !strcmp(a, "--pred") || !strcmp(a, "--gt") || !strcmp(a, "--csv") || !strcmp(a, "--json") ||
                    !strcmp(a, "--tolerance") || !strcmp(a, "--spacing") || !strcmp(a, "--labels") ||
                    !strcmp(a, "--threads") || !strcmp(a, "-t") || !strcmp(a, "--pred-key") ||
                    !strcmp(a, "--gt-key");
        if (!known) return cli_failf("unknown option '%s' (see medsam eval -h)", a) + 1;
        if (!val) return cli_failf("option '%s' needs a value", a) + 1;
        i++;
        if (!strcmp(a, "--pred")) o->pred = val;
        else if (!strcmp(a, "--gt")) o->gt = val;
        else if (!strcmp(a, "--csv")) o->csv = val;
        else if (!strcmp(a, "--json")) o->json = val;
        else if (!strcmp(a, "--pred-key")) o->pred_key = val;
        else if (!strcmp(a, "--gt-key")) o->gt_key = val;
        else if (!strcmp(a, "--tolerance")) {
            char *end;
            o->tolerance = strtod(val, &end);
            if (end == val || *end || !(o->tolerance >= 0) || isinf(o->tolerance))
                return cli_failf("--tolerance wants a number >= 0, got '%s'", val) + 1;
        } else if (!strcmp(a, "--spacing")) {
            o->nspacing = parse_doubles(val, o->spacing, 3);
            int ok = o->nspacing >= 2;
            for (int k = 0; k < o->nspacing; k++) ok &= o->spacing[k] > 0 && !isinf(o->spacing[k]);
            if (!ok) return cli_failf("--spacing wants 2 or 3 positive numbers a,b[,c], got '%s'", val) + 1;
            if (o->nspacing == 2) o->spacing[2] = 1.0;
        } else if (!strcmp(a, "--labels")) {
            if (!parse_labels(val, o)) return cli_failf("--labels wants labels 1..65535 like 1,2,5, got '%s'", val) + 1;
        } else if (!(o->threads = cli_threads(val))) {
            return cli_failf("--threads wants a positive integer, got '%s'", val) + 1;
        }
    }
    if (!o->pred || !o->gt) return cli_failf("eval needs --pred and --gt (see medsam eval -h)") + 1;
    if (o->challenge && o->nlabels) return cli_failf("--labels cannot be combined with --challenge") + 1;
    return 0;
}

/* Chooses the spacing of a case (see the top of this file). */
static void case_spacing(const eval_opts *o, const eval_labels *gt, case_result *cr) {
    cr->spacing[0] = cr->spacing[1] = cr->spacing[2] = 1.0;
    cr->spacing_from = "default 1,1,1";
    if (o->nspacing) {
        memcpy(cr->spacing, o->spacing, sizeof cr->spacing);
        cr->spacing_from = "--spacing";
        return;
    }
    if (gt->ndim == 2) {
        cr->spacing_from = "2-D: 1,1,1 (compute_metrics.py)";
        return;
    }
    if (gt->spacing_kind == EVAL_SPACING_NPZ) {
        if (o->npz_xyz && !o->challenge) {
            for (int a = 0; a < 3; a++) cr->spacing[a] = gt->spacing[2 - a];
            cr->spacing_from = "npz spacing read as (x,y,z), applied to (z,y,x)";
        } else {
            memcpy(cr->spacing, gt->spacing, sizeof cr->spacing);
            cr->spacing_from = "npz spacing as stored, spacing[a] on axis a (compute_metrics.py)";
        }
    } else if (gt->spacing_kind == EVAL_SPACING_NIFTI) {
        memcpy(cr->spacing, gt->spacing, sizeof cr->spacing);
        cr->spacing_from = "NIfTI pixdim as (z,y,x)";
    }
}

/* The non-zero values found in either map, ascending. */
static uint32_t *labels_present(const eval_labels *a, const eval_labels *b, uint32_t *n) {
    uint8_t *seen = calloc(65536, 1);
    uint32_t *out = NULL;
    if (!seen) return NULL;
    const eval_labels *v[2] = {a, b};
    const int64_t count = a->shape[0] * a->shape[1] * a->shape[2];
    for (int k = 0; k < 2; k++) {
        if (v[k]->type == MS_LABELS_U8)
            for (int64_t i = 0; i < count; i++) seen[((const uint8_t *)v[k]->data)[i]] = 1;
        else
            for (int64_t i = 0; i < count; i++) seen[((const uint16_t *)v[k]->data)[i]] = 1;
    }
    *n = 0;
    for (int l = 1; l < 65536; l++) *n += seen[l];
    out = malloc(sizeof(uint32_t) * (*n ? *n : 1));
    if (out)
        for (uint32_t l = 1, j = 0; l < 65536; l++)
            if (seen[l]) out[j++] = l;
    free(seen);
    return out;
}

static int evaluate_case(const eval_opts *o, const char *name, const char *pred_path, const char *gt_path,
                         case_result *cr, medsam_error *err) {
    memset(cr, 0, sizeof *cr);
    cr->name = strdup(name);
    eval_labels gt, pred;
    if (eval_load_labels(gt_path, o->gt_key, 1, &gt, err)) return 1;
    if (eval_load_labels(pred_path, o->pred_key, 0, &pred, err)) {
        eval_labels_free(&gt);
        return 1;
    }
    int rc = 1;
    if (memcmp(gt.shape, pred.shape, sizeof gt.shape) || gt.ndim != pred.ndim) {
        ms_error(err, MEDSAM_ERR_SHAPE, "%s: prediction is %s but the ground truth is %s", pred_path, pred.shape_text,
                 gt.shape_text);
        goto out;
    }
    if (o->challenge && gt.ndim == 3 && gt.spacing_kind == EVAL_SPACING_NONE && !o->nspacing) {
        ms_error(err, MEDSAM_ERR_FORMAT, "%s: 3-D case without a spacing (compute_metrics.py reads 'spacing')",
                 gt_path);
        goto out;
    }
    cr->ndim = gt.ndim;
    memcpy(cr->shape, gt.shape, sizeof cr->shape);
    case_spacing(o, &gt, cr);
    const int64_t n = gt.shape[0] * gt.shape[1] * gt.shape[2];
    if (o->challenge) {
        ms_challenge_result chal;
        uint32_t nl = ms_label_max(gt.data, gt.type, n);
        double *ld = malloc(sizeof(double) * (nl ? nl : 1)), *ln = malloc(sizeof(double) * (nl ? nl : 1));
        cr->rows = calloc(nl ? nl : 1, sizeof(label_row));
        if (!ld || !ln || !cr->rows) {
            free(ld), free(ln);
            ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (ms_metrics_challenge(gt.data, gt.type, pred.data, pred.type, gt.shape, cr->spacing, o->tolerance,
                                 o->threads, &chal, ld, ln, nl, err)) {
            free(ld), free(ln);
            goto out;
        }
        for (uint32_t l = 0; l < nl; l++) {
            label_row *r = &cr->rows[l];
            r->label = l + 1, r->dsc = ld[l], r->nsd = ln[l];
            r->asd_gp = r->asd_pg = r->hd95 = NAN;
            r->vol_gt = r->vol_pred = -1;
        }
        cr->nrows = (int)nl;
        cr->mean.dsc = chal.dsc, cr->mean.nsd = chal.nsd;
        cr->mean.asd_gp = cr->mean.asd_pg = cr->mean.hd95 = NAN;
        cr->mean.vol_gt = cr->mean.vol_pred = -1;
        free(ld), free(ln);
        rc = 0;
        goto out;
    }
    uint32_t *present = NULL, nl = (uint32_t)o->nlabels;
    if (!o->nlabels && !(present = labels_present(&gt, &pred, &nl))) {
        ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        goto out;
    }
    const uint32_t *labels = o->nlabels ? o->labels : present;
    cr->rows = calloc(nl ? nl : 1, sizeof(label_row));
    double *col = malloc(sizeof(double) * 5 * (nl ? nl : 1));
    if (!cr->rows || !col) {
        free(col), free(present);
        ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        goto out;
    }
    ms_metrics_opts mo;
    ms_metrics_opts_default(&mo);
    memcpy(mo.spacing, cr->spacing, sizeof mo.spacing);
    mo.tolerance = o->tolerance, mo.threads = o->threads;
    for (uint32_t i = 0; i < nl; i++) {
        uint32_t label = labels[i];
        ms_mask_view g = {gt.data, gt.type, label}, p = {pred.data, pred.type, label};
        ms_metrics_result m;
        if (ms_metrics_compute(&g, &p, gt.shape, &mo, &m, err)) {
            ms_error_prefix(err, name);
            free(col), free(present);
            goto out;
        }
        label_row *r = &cr->rows[i];
        r->label = label, r->dsc = m.dsc, r->nsd = m.nsd, r->asd_gp = m.asd_gt_to_pred, r->asd_pg = m.asd_pred_to_gt;
        r->hd95 = m.hd, r->vol_gt = m.vol_gt, r->vol_pred = m.vol_pred;
        col[i] = r->dsc, col[nl + i] = r->nsd, col[2 * nl + i] = r->asd_gp, col[3 * nl + i] = r->asd_pg;
        col[4 * nl + i] = r->hd95;
    }
    cr->nrows = (int)nl;
    cr->mean.dsc = np_mean(col, nl), cr->mean.nsd = np_mean(col + nl, nl);
    cr->mean.asd_gp = np_mean(col + 2 * nl, nl), cr->mean.asd_pg = np_mean(col + 3 * nl, nl);
    cr->mean.hd95 = np_mean(col + 4 * nl, nl);
    cr->mean.vol_gt = cr->mean.vol_pred = -1;
    free(col), free(present);
    rc = 0;
out:
    eval_labels_free(&gt);
    eval_labels_free(&pred);
    return rc;
}

/* ---- output ------------------------------------------------------------------- */

/* Python's repr() of a float (shortest round-trip), "nan"/"inf" for the others. */
static void py_repr(char *buf, size_t len, double x) {
    if (isnan(x)) { snprintf(buf, len, "nan"); return; }
    if (isinf(x)) { snprintf(buf, len, x > 0 ? "inf" : "-inf"); return; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (!strpbrk(buf, ".en")) strncat(buf, ".0", len - strlen(buf) - 1);
}

/* pandas' to_csv of np.round(x, 4): NaN as an empty field. */
static void pandas_round4(char *buf, size_t len, double x) {
    if (isnan(x)) { buf[0] = 0; return; }
    py_repr(buf, len, rint(x * 10000.0) / 10000.0);
}

static void json_num(FILE *fp, double x) {
    char b[40];
    if (!isfinite(x)) { fputs("null", fp); return; }
    py_repr(b, sizeof b, x);
    fputs(b, fp);
}

static void json_str(FILE *fp, const char *s) {
    fputc('"', fp);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(fp, "\\%c", c);
        else if (c < 0x20) fprintf(fp, "\\u%04x", c);
        else fputc(c, fp);
    }
    fputc('"', fp);
}

static void csv_name(FILE *fp, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, fp); return; }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

static void csv_row(FILE *fp, const char *name, const char *label, const label_row *r) {
    char b[5][40];
    py_repr(b[0], 40, r->dsc), py_repr(b[1], 40, r->nsd), py_repr(b[2], 40, r->asd_gp);
    py_repr(b[3], 40, r->asd_pg), py_repr(b[4], 40, r->hd95);
    csv_name(fp, name);
    fprintf(fp, ",%s,%s,%s,%s,%s,%s,", label, b[0], b[1], b[2], b[3], b[4]);
    if (r->vol_gt >= 0) fprintf(fp, "%lld,%lld\n", (long long)r->vol_gt, (long long)r->vol_pred);
    else fputs(",\n", fp);
}

static int cmp_case(const void *a, const void *b) {
    return strcmp(((const case_result *)a)->name, ((const case_result *)b)->name);
}

static medsam_status write_csv(const eval_opts *o, const case_result *cases, int nc, medsam_error *err) {
    ms_atomic_file af;
    if (ms_atomic_open(&af, o->csv, err)) return err->code;
    FILE *fp = af.fp;
    if (o->challenge) { /* compute_metrics.py: DataFrame(case, dsc, nsd) rounded, sorted by case */
        fputs("case,dsc,nsd\n", fp);
        for (int i = 0; i < nc; i++) {
            char d[40], s[40];
            pandas_round4(d, sizeof d, cases[i].mean.dsc);
            pandas_round4(s, sizeof s, cases[i].mean.nsd);
            csv_name(fp, cases[i].name);
            fprintf(fp, ",%s,%s\n", d, s);
        }
    } else {
        fputs("case,label,dsc,nsd,asd_gt_to_pred,asd_pred_to_gt,hd95,gt_voxels,pred_voxels\n", fp);
        for (int i = 0; i < nc; i++) {
            for (int r = 0; r < cases[i].nrows; r++) {
                char lab[16];
                snprintf(lab, sizeof lab, "%u", cases[i].rows[r].label);
                csv_row(fp, cases[i].name, lab, &cases[i].rows[r]);
            }
            if (cases[i].nrows != 1) csv_row(fp, cases[i].name, "mean", &cases[i].mean);
        }
    }
    if (ferror(fp)) {
        ms_atomic_abort(&af);
        return ms_error(err, MEDSAM_ERR_IO, "%s: write failed", o->csv);
    }
    return ms_atomic_commit(&af, err);
}

static void json_metrics(FILE *fp, const label_row *r) {
    fputs("\"dsc\": ", fp), json_num(fp, r->dsc);
    fputs(", \"nsd\": ", fp), json_num(fp, r->nsd);
    fputs(", \"asd_gt_to_pred\": ", fp), json_num(fp, r->asd_gp);
    fputs(", \"asd_pred_to_gt\": ", fp), json_num(fp, r->asd_pg);
    fputs(", \"hd95\": ", fp), json_num(fp, r->hd95);
    if (r->vol_gt >= 0) fprintf(fp, ", \"gt_voxels\": %lld, \"pred_voxels\": %lld", (long long)r->vol_gt,
                                (long long)r->vol_pred);
}

static medsam_status write_json(const eval_opts *o, const case_result *cases, int nc, const label_row *all,
                                medsam_error *err) {
    ms_atomic_file af;
    if (ms_atomic_open(&af, o->json, err)) return err->code;
    FILE *fp = af.fp;
    fprintf(fp, "{\n  \"challenge\": %s,\n  \"tolerance\": ", o->challenge ? "true" : "false");
    json_num(fp, o->tolerance);
    fputs(",\n  \"cases\": [\n", fp);
    for (int i = 0; i < nc; i++) {
        const case_result *c = &cases[i];
        fputs("    {\"case\": ", fp), json_str(fp, c->name);
        if (c->ndim == 2) fprintf(fp, ", \"shape\": [%lld, %lld]", (long long)c->shape[0], (long long)c->shape[1]);
        else fprintf(fp, ", \"shape\": [%lld, %lld, %lld]", (long long)c->shape[0], (long long)c->shape[1],
                     (long long)c->shape[2]);
        fputs(", \"spacing\": [", fp);
        for (int a = 0; a < 3; a++) json_num(fp, c->spacing[a]), fputs(a < 2 ? ", " : "]", fp);
        fputs(", \"spacing_from\": ", fp), json_str(fp, c->spacing_from);
        fputs(",\n     \"labels\": [", fp);
        for (int r = 0; r < c->nrows; r++) {
            fprintf(fp, "%s\n       {\"label\": %u, ", r ? "," : "", c->rows[r].label);
            json_metrics(fp, &c->rows[r]);
            fputc('}', fp);
        }
        fputs("],\n     \"mean\": {", fp);
        json_metrics(fp, &c->mean);
        fprintf(fp, "}}%s\n", i + 1 < nc ? "," : "");
    }
    fputs("  ],\n  \"mean_over_cases_nan_skipped\": {", fp);
    json_metrics(fp, all);
    fputs("}\n}\n", fp);
    if (ferror(fp)) {
        ms_atomic_abort(&af);
        return ms_error(err, MEDSAM_ERR_IO, "%s: write failed", o->json);
    }
    return ms_atomic_commit(&af, err);
}

static void print_table(const eval_opts *o, const case_result *cases, int nc) {
    printf("%-32s %6s %8s %8s %9s\n", "case", "label", "dsc", "nsd", o->challenge ? "" : "hd95");
    for (int i = 0; i < nc; i++) {
        const case_result *c = &cases[i];
        for (int r = 0; r < c->nrows; r++) {
            const label_row *x = &c->rows[r];
            printf("%-32s %6u %8.4f %8.4f", c->name, x->label, x->dsc, x->nsd);
            if (!o->challenge) printf(" %9.4f", x->hd95);
            putchar('\n');
        }
        if (c->nrows != 1 || o->challenge) {
            printf("%-32s %6s %8.4f %8.4f", c->name, "mean", c->mean.dsc, c->mean.nsd);
            if (!o->challenge) printf(" %9.4f", c->mean.hd95);
            putchar('\n');
        }
    }
}

/* ---- folders ---------------------------------------------------------------- */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the label-map files in a folder. */
static char **list_dir(const char *dir, int *n) {
    DIR *d = opendir(dir);
    *n = 0;
    if (!d) return NULL;
    int cap = 64;
    char **names = malloc(sizeof(char *) * cap);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !eval_is_label_file(e->d_name)) continue;
        if (*n == cap) {
            char **t = realloc(names, sizeof(char *) * (cap *= 2));
            if (!t) break;
            names = t;
        }
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (names) qsort(names, *n, sizeof(char *), cmp_str);
    return names;
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int cmd_eval(int argc, char **argv) {
    eval_opts o;
    int help, rc = parse_eval_opts(argc, argv, &o, &help);
    if (help) {
        usage(stdout);
        return 0;
    }
    if (rc) {
        free(o.labels);
        return 2;
    }
    medsam_error err = {0};
    int folder = is_dir(o.pred);
    if (folder != is_dir(o.gt)) {
        free(o.labels);
        return cli_failf("--pred and --gt must both be files or both be folders");
    }
    char **names = NULL;
    int nnames = 0, nc = 0, skipped = 0;
    case_result *cases = NULL;
    double t0 = now_s();
    if (folder) {
        names = list_dir(o.gt, &nnames);
        if (!names) {
            free(o.labels);
            return cli_failf("%s: cannot read the folder", o.gt);
        }
    }
    cases = calloc(folder ? (nnames ? nnames : 1) : 1, sizeof(case_result));
    rc = cases ? 0 : cli_failf("out of memory");
    if (!folder && !rc) {
        const char *base = strrchr(o.gt, '/');
        if (evaluate_case(&o, base ? base + 1 : o.gt, o.pred, o.gt, &cases[0], &err)) rc = cli_fail(&err);
        else nc = 1;
    }
    for (int i = 0; folder && !rc && i < nnames; i++) {
        char *gp = join_path(o.gt, names[i]), *pp = join_path(o.pred, names[i]);
        struct stat st;
        if (!gp || !pp) rc = cli_failf("out of memory");
        else if (stat(pp, &st) != 0) {
            fprintf(stderr, "medsam: warning: %s has no %s (skipped)\n", o.pred, names[i]);
            skipped++;
        } else if (evaluate_case(&o, names[i], pp, gp, &cases[nc], &err)) {
            rc = cli_fail(&err);
        } else {
            nc++;
        }
        free(gp), free(pp);
    }
    if (!rc && nc == 0) rc = cli_failf("%s and %s have no label-map file in common", o.pred, o.gt);
    if (!rc) {
        qsort(cases, nc, sizeof *cases, cmp_case);
        /* mean over cases of the per-case (mean) values, NaN cases left out (np.nanmean) */
        label_row all = {0};
        int nan_dsc = 0, nan_nsd = 0;
        double *v = malloc(sizeof(double) * 5 * nc);
        if (v) {
            for (int i = 0; i < nc; i++) {
                v[i] = cases[i].mean.dsc, v[nc + i] = cases[i].mean.nsd, v[2 * nc + i] = cases[i].mean.asd_gp;
                v[3 * nc + i] = cases[i].mean.asd_pg, v[4 * nc + i] = cases[i].mean.hd95;
            }
            all.dsc = nan_mean(v, nc, &nan_dsc), all.nsd = nan_mean(v + nc, nc, &nan_nsd);
            all.asd_gp = nan_mean(v + 2 * nc, nc, NULL), all.asd_pg = nan_mean(v + 3 * nc, nc, NULL);
            all.hd95 = nan_mean(v + 4 * nc, nc, NULL);
            all.vol_gt = all.vol_pred = -1;
            free(v);
        }
        if (!o.quiet) print_table(&o, cases, nc);
        if (o.csv && write_csv(&o, cases, nc, &err)) rc = cli_fail(&err);
        if (!rc && o.json && write_json(&o, cases, nc, &all, &err)) rc = cli_fail(&err);
        if (!rc && !o.quiet) {
            printf("%d case%s: mean dsc %.4f nsd %.4f (tolerance %g%s) in %.2f s", nc, nc == 1 ? "" : "s", all.dsc,
                   all.nsd, o.tolerance, o.challenge ? ", challenge" : "", now_s() - t0);
            if (nan_dsc || nan_nsd) printf("; NaN left out of the means: %d dsc, %d nsd", nan_dsc, nan_nsd);
            if (skipped) printf("; %d skipped", skipped);
            putchar('\n');
        }
    }
    for (int i = 0; i < nc; i++) free(cases[i].name), free(cases[i].rows);
    if (cases && nc < (folder ? nnames : 1)) free(cases[nc].name), free(cases[nc].rows);
    free(cases);
    for (int i = 0; i < nnames; i++) free(names[i]);
    free(names);
    free(o.labels);
    return rc;
}
