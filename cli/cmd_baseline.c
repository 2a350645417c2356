/* cmd_baseline.c — `medsam baseline`: the classical box baseline of the default
 * model's card (src/pipeline/baseline.h), written like `medsam segment` so that
 * `medsam eval` compares the two: -i IMAGE -b BOX... -o MASK.png, or
 * --npz CASE.npz -o OUT.npz (imgs + boxes in, segs out). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_volume.h"
#include "core/error.h"
#include "core/npy.h"
#include "io/image.h"
#include "io/npz.h"
#include "pipeline/baseline.h"

#define MAX_BOXES 255

static void baseline_usage(void) {
    puts("usage: medsam baseline -i IMAGE -b x0,y0,x1,y1 [-b ...] -o MASK.png [--overlay OUT.png]\n"
         "       medsam baseline --npz CASE.npz -o OUT.npz\n"
         "\n"
         "The classical baseline the default model is compared with (docs/default-model.md):\n"
         "the image as grey (mean of the colour channels, alpha dropped), min-max scaled to\n"
         "0..255 over the whole image; inside each box (pixels floor(x0)..ceil(x1), x1\n"
         "inclusive as MedSAM's boxes, clipped to the image) Otsu's threshold, the class\n"
         "nearer the box's centre as the object, its largest 4-connected component, holes\n"
         "filled. Output as `medsam segment`: 0 background, 255 with one\n"
         "box, k for the k-th box with several (later boxes win); --npz reads imgs (H,W) or\n"
         "(H,W,3) uint8 and boxes (N,4) and writes segs (box i -> label i), for `medsam eval`.\n"
         "No model, no threads.");
}

static int parse_box(const char *s, medsam_box *b) {
    float v[4];
    char tail;
    const char *p = *s == '[' ? s + 1 : s;
    int n = sscanf(p, "%f ,%f ,%f ,%f%c", &v[0], &v[1], &v[2], &v[3], &tail);
    if (n < 4 || (n == 5 && !(tail == ']' && p[strlen(p) - 1] == ']'))) return 0;
    *b = (medsam_box){v[0], v[1], v[2], v[3]};
    return 1;
}

/* grey (H,W) uint8 from (H,W,C) samples: mean of up to 3 channels, global min-max to 0..255. */
static uint8_t *to_grey(int W, int H, int C, double (*sample)(const void *, int, int, int), const void *src) {
    const long n = (long)W * H;
    const int cc = C >= 3 ? 3 : 1; /* grey(+alpha) -> channel 0; RGB(A) -> mean of R,G,B */
    double *g = malloc((size_t)n * sizeof *g);
    uint8_t *out = malloc((size_t)n);
    if (!g || !out) {
        free(g);
        free(out);
        return NULL;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double s = 0;
            for (int c = 0; c < cc; c++) s += sample(src, y, x, c);
            s /= cc;
            g[(long)y * W + x] = s;
            if (s < lo) lo = s;
            if (s > hi) hi = s;
        }
    for (long p = 0; p < n; p++) out[p] = hi > lo ? (uint8_t)floor((g[p] - lo) / (hi - lo) * 255 + 0.5) : 0;
    free(g);
    return out;
}

static double sample_image(const void *img, int y, int x, int c) { return ms_image_sample(img, y, x, c); }

typedef struct {
    const uint8_t *data;
    int W, C;
} u8_view;

static double sample_u8(const void *v, int y, int x, int c) {
    const u8_view *u = v;
    return u->data[((long)y * u->W + x) * u->C + c];
}

/* Runs every box into labels (H,W), zeroed first; box i gets label i+1. */
static int run_boxes(const char *name, const uint8_t *grey, int W, int H, const medsam_box *b, int n, uint8_t *labels) {
    medsam_error err;
    memset(labels, 0, (size_t)W * H);
    for (int i = 0; i < n; i++) {
        if (!(b[i].x1 > b[i].x0) || !(b[i].y1 > b[i].y0) || b[i].x0 < 0 || b[i].y0 < 0 || b[i].x1 > W || b[i].y1 > H)
            return cli_failf("%s: box %d (%g,%g,%g,%g) must satisfy 0 <= x0 < x1 <= %d, 0 <= y0 < y1 <= %d", name,
                             i + 1, b[i].x0, b[i].y0, b[i].x1, b[i].y1, W, H);
        int x0 = (int)floorf(b[i].x0), y0 = (int)floorf(b[i].y0);
        int x1 = (int)ceilf(b[i].x1) + 1, y1 = (int)ceilf(b[i].y1) + 1;
        if (x1 > W) x1 = W;
        if (y1 > H) y1 = H;
        if (ms_baseline_box(grey, W, H, x0, y0, x1, y1, (uint8_t)(i + 1), labels, &err)) {
            ms_error_prefix(&err, name);
            return cli_fail(&err);
        }
    }
    return 0;
}

static int baseline_npz(const char *path, const char *out) {
    medsam_error err;
    ms_npz *z;
    if (ms_npz_open(path, &z, &err)) return cli_fail(&err);
    ms_npy imgs = {0}, boxes = {0};
    float *bf = NULL;
    uint8_t *grey = NULL, *segs = NULL;
    medsam_box *b = NULL;
    int rc = 0;
    if (!ms_npz_has(z, "imgs") || !ms_npz_has(z, "boxes"))
        rc = cli_failf("%s: a case holds the arrays 'imgs' and 'boxes'", path);
    if (!rc && (ms_npz_get(z, "boxes", &boxes, &err) || ms_npy_to_f32(&boxes, &bf, &err))) rc = cli_fail(&err);
    if (!rc && (boxes.ndim != 2 || boxes.shape[1] != 4 || boxes.shape[0] < 1 || boxes.shape[0] > MAX_BOXES))
        rc = cli_failf("%s: boxes must be (N,4) with 1 <= N <= %d (2-D cases only)", path, MAX_BOXES);
    if (!rc && ms_npz_get(z, "imgs", &imgs, &err)) rc = cli_fail(&err);
    if (!rc && (imgs.dtype != MS_NPY_U8 || (imgs.ndim != 2 && !(imgs.ndim == 3 && imgs.shape[2] == 3)) ||
                imgs.shape[0] < 1 || imgs.shape[1] < 1 || imgs.shape[0] > 65536 || imgs.shape[1] > 65536))
        rc = cli_failf("%s: imgs must be uint8 (H,W) or (H,W,3)", path);
    const int n = rc ? 0 : (int)boxes.shape[0];
    const int H = rc ? 0 : (int)imgs.shape[0], W = rc ? 0 : (int)imgs.shape[1];
    if (!rc) {
        u8_view v = {imgs.data, W, imgs.ndim == 3 ? 3 : 1};
        grey = to_grey(W, H, v.C, sample_u8, &v);
        segs = malloc((size_t)W * H);
        b = malloc((size_t)n * sizeof *b);
        if (!grey || !segs || !b) rc = cli_failf("out of memory");
    }
    for (int i = 0; i < n && !rc; i++) {
        const float *q = bf + 4 * i;
        if (!isfinite(q[0]) || !isfinite(q[1]) || !isfinite(q[2]) || !isfinite(q[3]))
            rc = cli_failf("%s: boxes hold a non-finite value", path);
        b[i] = (medsam_box){q[0], q[1], q[2], q[3]};
    }
    if (!rc) rc = run_boxes(path, grey, W, H, b, n, segs);
    if (!rc) {
        ms_npy a = {MS_NPY_U8, 2, {H, W}, (int64_t)W * H, segs};
        const char *name = "segs";
        if (ms_npz_write(out, &name, &a, 1, 1, &err)) rc = cli_fail(&err);
    }
    free(b);
    free(grey);
    free(segs);
    free(bf);
    ms_npy_free(&imgs);
    ms_npy_free(&boxes);
    ms_npz_close(z);
    return rc;
}

int cmd_baseline(int argc, char **argv) {
    const char *input = NULL, *output = NULL, *npz = NULL, *overlay = NULL;
    medsam_box boxes[MAX_BOXES];
    int nb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            baseline_usage();
            return 0;
        }
        int known = !strcmp(a, "-i") || !strcmp(a, "--input") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
                    !strcmp(a, "-b") || !strcmp(a, "--box") || !strcmp(a, "--npz") || !strcmp(a, "--overlay");
        if (!known) return fprintf(stderr, "medsam: unknown option '%s' (see -h)\n", a), 2;
        if (!v) return fprintf(stderr, "medsam: option '%s' needs a value\n", a), 2;
        i++;
        if (a[1] == 'i' || !strcmp(a, "--input")) input = v;
        else if (a[1] == 'o' || !strcmp(a, "--output")) output = v;
        else if (!strcmp(a, "--npz")) npz = v;
        else if (!strcmp(a, "--overlay")) overlay = v;
        else {
            if (nb >= MAX_BOXES) return fprintf(stderr, "medsam: at most %d boxes\n", MAX_BOXES), 2;
            if (!parse_box(v, &boxes[nb++])) return fprintf(stderr, "medsam: box '%s' is not x0,y0,x1,y1\n", v), 2;
        }
    }
    if (!output) return fprintf(stderr, "medsam: missing -o OUTPUT (see -h)\n"), 2;
    if (npz) {
        if (input || nb || overlay)
            return fprintf(stderr, "medsam: --npz takes its image and boxes from the file: no -i, -b or --overlay\n"), 2;
        if (cli_output_kind(output) != OUT_NPZ)
            return fprintf(stderr, "medsam: --npz writes an .npz (segs): -o %s\n", output), 2;
        return baseline_npz(npz, output);
    }
    if (!input) return fprintf(stderr, "medsam: missing -i IMAGE (see -h)\n"), 2;
    if (!nb) return fprintf(stderr, "medsam: missing -b x0,y0,x1,y1 (see -h)\n"), 2;
    if (cli_output_kind(output) != OUT_PNG) return fprintf(stderr, "medsam: -o %s: the mask is a .png\n", output), 2;
    medsam_error err;
    ms_image img;
    if (ms_image_read(input, &img, &err)) return cli_fail(&err);
    const int W = img.width, H = img.height;
    uint8_t *grey = to_grey(W, H, img.channels, sample_image, &img);
    uint8_t *mask = malloc((size_t)W * H);
    int rc = (!grey || !mask) ? cli_failf("out of memory") : run_boxes(input, grey, W, H, boxes, nb, mask);
    if (!rc && nb == 1)
        for (long p = 0; p < (long)W * H; p++) mask[p] = mask[p] ? 255 : 0;
    if (!rc && ms_png_write_gray8(output, mask, W, H, &err)) rc = cli_fail(&err);
    if (!rc && overlay) {
        if (nb == 1)
            for (long p = 0; p < (long)W * H; p++) mask[p] = mask[p] ? 1 : 0;
        if ((rc = cli_overlay_image_file(overlay, input, mask, W, H, boxes, nb))) remove(output);
    }
    free(grey);
    free(mask);
    ms_image_free(&img);
    return rc;
}
