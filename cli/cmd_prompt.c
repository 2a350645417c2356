/* cmd_prompt.c — `medsam segment` with points, one box, a mask input and
 * multimask output in one prompt set (see cmd_prompt.h). */
#define _POSIX_C_SOURCE 200809L
#include "cmd_prompt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmd_volume.h"
#include "core/atomic_file.h"
#include "core/npy.h"
#include "io/image.h"

int cli_prompt_add_point(cli_prompt_opts *p, const char *arg) {
    if (p->npoints >= MEDSAM_MAX_POINTS) {
        fprintf(stderr, "medsam: -p %s: at most %d points\n", arg, MEDSAM_MAX_POINTS);
        return 2;
    }
    char *end;
    const char *s = arg;
    float v[2];
    for (int i = 0; i < 2; i++) {
        v[i] = strtof(s, &end);
        if (end == s || !isfinite(v[i]) || (i == 0 && *end != ',')) {
            fprintf(stderr, "medsam: -p '%s' is not x,y or x,y,label\n", arg);
            return 2;
        }
        s = end + (i == 0);
    }
    long label = 1;
    if (*s == ',') {
        const char *t = s + 1;
        label = strtol(t, &end, 10);
        if (end == t || *end) {
            fprintf(stderr, "medsam: -p '%s' is not x,y or x,y,label\n", arg);
            return 2;
        }
        if (label != 0 && label != 1) {
            fprintf(stderr, "medsam: -p '%s': label %ld, expected 1 (foreground) or 0 (background)\n", arg, label);
            return 2;
        }
    } else if (*s) {
        fprintf(stderr, "medsam: -p '%s' is not x,y or x,y,label\n", arg);
        return 2;
    }
    p->points[2 * p->npoints] = v[0];
    p->points[2 * p->npoints + 1] = v[1];
    p->labels[p->npoints++] = (int)label;
    return 0;
}

int cli_prompt_wanted(const cli_prompt_opts *p) {
    return p->npoints > 0 || p->multimask || p->scores || p->mask_input;
}

static const char *dtype_name(ms_npy_dtype t) {
    static const char *names[] = {"float32", "float64", "uint8", "int16", "uint16", "int32", "int64", "bool", "uint32"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* --mask-input: float32 (L, L), (1, L, L) or (1, 1, L, L), finite. */
static int read_mask_input(const char *path, int L, float **out) {
    ms_npy a;
    medsam_error err;
    if (ms_npy_read(path, &a, &err)) return cli_failf("--mask-input %s", err.message);
    int rc = 0, lead_ones = 1;
    for (int d = 0; d + 2 < a.ndim; d++) lead_ones &= a.shape[d] == 1;
    if (a.dtype != MS_NPY_F32 || a.ndim < 2 || a.ndim > 4 || !lead_ones || a.shape[a.ndim - 1] != L ||
        a.shape[a.ndim - 2] != L) {
        char shape[96] = "(";
        for (int d = 0; d < a.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), d ? ",%lld" : "%lld", (long long)a.shape[d]);
        strncat(shape, ")", sizeof shape - strlen(shape) - 1);
        rc = cli_failf("--mask-input %s: expected float32 low-resolution logits (1,1,%d,%d) or (%d,%d), got %s %s",
                       path, L, L, L, L, dtype_name(a.dtype), shape);
    }
    for (long i = 0; !rc && i < (long)L * L; i++)
        if (!isfinite(((const float *)a.data)[i]))
            rc = cli_failf("--mask-input %s: holds a non-finite value at index %ld", path, i);
    if (!rc) {
        *out = a.data; // (L, L): the leading dimensions are ones
        a.data = NULL;
    }
    ms_npy_free(&a);
    return rc;
}

int cli_prompt_check(const cli_prompt_opts *p, const char *input, int W, int H, int L, float **mask_in) {
    *mask_in = NULL;
    for (int i = 0; i < p->npoints; i++) {
        const float x = p->points[2 * i], y = p->points[2 * i + 1];
        if (x < 0 || y < 0 || x > W || y > H)
            return cli_failf("-p %g,%g,%d: point %d lies outside the %dx%d image %s", x, y, p->labels[i], i + 1, W, H,
                             input);
    }
    return p->mask_input ? read_mask_input(p->mask_input, L, mask_in) : 0;
}

/* {"iou": [...], "best": k} through a temporary file and a rename. */
static int write_scores(const char *path, const float *iou, int nm, int best) {
    ms_atomic_file af;
    medsam_error err;
    if (ms_atomic_open(&af, path, &err)) return cli_fail(&err);
    fprintf(af.fp, "{\"iou\": [");
    for (int i = 0; i < nm; i++) fprintf(af.fp, i ? ", %.9g" : "%.9g", (double)iou[i]);
    fprintf(af.fp, "], \"best\": %d}\n", best);
    return ms_atomic_commit(&af, &err) ? cli_fail(&err) : 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// ref: predictor.py:SamPredictor.predict (one prompt set; the mask written is the highest-IoU one)
int cli_prompt_run(const medsam_model *m, const medsam_embedding *emb, const cli_prompt_opts *p, const medsam_box *box,
                   const float *mask_in, const char *input, int W, int H, const char *output, const char *logits_path,
                   const char *overlay, int threads, int verbose) {
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    const int L = info.mask_size, nm = p->multimask ? 3 : 1;
    medsam_prompt pr = {.points = p->points, .labels = p->labels, .n_points = p->npoints, .has_box = box != NULL,
                        .mask_input = mask_in};
    if (box) pr.box = *box;
    float *logits = malloc((size_t)nm * L * L * sizeof(float)), iou[3] = {0};
    uint8_t *mask = malloc((size_t)W * H);
    medsam_error err;
    int rc = (!logits || !mask) ? cli_failf("out of memory") : 0;
    const double t0 = now_s();
    if (!rc && medsam_decode_prompt(m, emb, W, H, &pr, p->multimask, threads, logits, iou, mask, &err))
        rc = cli_fail(&err);
    if (!rc && verbose)
        fprintf(stderr, "decoder: %.1f ms for %d point(s)%s%s, %d mask(s)\n", (now_s() - t0) * 1e3, p->npoints,
                box ? " + box" : "", mask_in ? " + mask input" : "", nm);
    int best = 0;
    for (int i = 1; i < nm; i++)
        if (iou[i] > iou[best]) best = i;
    int wrote_logits = 0, wrote_scores = 0;
    if (!rc && logits_path) {
        int64_t shape[4] = {1, nm, L, L};
        rc = ms_npy_write(logits_path, MS_NPY_F32, 4, shape, logits, &err) ? cli_fail(&err) : 0;
        wrote_logits = !rc;
    }
    if (!rc && p->scores) wrote_scores = !(rc = write_scores(p->scores, iou, nm, best));
    if (!rc) {
        for (long q = 0; q < (long)W * H; q++) mask[q] = mask[q] ? 255 : 0;
        if (ms_png_write_gray8(output, mask, W, H, &err)) rc = cli_fail(&err);
    }
    if (!rc && overlay) {
        for (long q = 0; q < (long)W * H; q++) mask[q] = mask[q] ? 1 : 0;
        if ((rc = cli_overlay_image_file(overlay, input, mask, W, H, box, box ? 1 : 0))) remove(output);
    }
    if (rc && wrote_logits) remove(logits_path); // all outputs or none
    if (rc && wrote_scores) remove(p->scores);
    free(logits);
    free(mask);
    return rc;
}
