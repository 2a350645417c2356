/* cmd_volume.c — `medsam segment` on volumes: options, 3-D boxes with slice
 * propagation, a single slice, NIfTI / npz outputs on the input's grid,
 * overlays, progress and SIGINT. */
#define _POSIX_C_SOURCE 200809L
#include "cmd_volume.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/error.h"
#include "core/npy.h"
#include "io/image.h"
#include "io/npz.h"
#include "io/volume_read.h"
#include "pipeline/overlay.h"
#include "pipeline/segment3d.h"

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

out_kind cli_output_kind(const char *p) {
    if (ends_with(p, ".nii") || ends_with(p, ".nii.gz")) return OUT_NIFTI;
    if (ends_with(p, ".npz")) return OUT_NPZ;
    if (ends_with(p, ".png")) return OUT_PNG;
    if (ends_with(p, ".dcm")) return OUT_DICOM_SEG;
    return OUT_BAD;
}

/* ---- progress and SIGINT ------------------------------------------------ */

static volatile sig_atomic_t g_interrupted; /* set by the SIGINT handler (the CLI's only global) */
static struct sigaction g_old_sigint;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1; /* SA_RESETHAND: a second Ctrl-C kills at once */
}

int cli_interrupted(void) { return g_interrupted != 0; }

void cli_progress_begin(cli_progress *p, int requested) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    p->on = requested || p->tty;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, NULL, &g_old_sigint);
    if (g_old_sigint.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL); /* keep an inherited "ignore" (nohup, &) */
}

int cli_progress_cb(void *user, int done, int total) {
    cli_progress *p = user;
    double t = cli_now();
    if (done == 0) p->t0 = t;
    if (p->on && done > 0) {
        double per = (t - p->t0) / done;
        long eta = lround(per * (total - done));
        fprintf(stderr, "%smedsam: slice %d/%d, %.2f s/slice, ETA %ld:%02ld%s", p->tty ? "\r" : "", done, total, per,
                eta / 60, eta % 60, p->tty ? "   " : "\n");
        fflush(stderr);
        p->printed = 1;
    }
    return g_interrupted != 0;
}

void cli_progress_end(cli_progress *p) {
    if (p->on && p->tty && p->printed) fputc('\n', stderr);
    sigaction(SIGINT, &g_old_sigint, NULL);
}

/* ---- options ------------------------------------------------------------ */

/* "a,b,c,..." (optionally in [ ]) into n doubles. */
static int parse_numbers(const char *s, double *v, int n) {
    const char *p = s;
    char *end;
    if (*p == '[') p++;
    for (int i = 0; i < n; i++) {
        while (*p == ' ') p++;
        v[i] = strtod(p, &end);
        if (end == p || !isfinite(v[i])) return 0;
        p = end;
        while (*p == ' ') p++;
        if (i < n - 1) {
            if (*p != ',') return 0;
            p++;
        }
    }
    if (*p == ']') p++;
    return *p == 0;
}

static int parse_box3d(const char *s, medsam_box3d *b) {
    double v[6];
    if (!parse_numbers(s, v, 6)) return 0;
    if (v[2] != floor(v[2]) || v[5] != floor(v[5]) || fabs(v[2]) > 1e9 || fabs(v[5]) > 1e9) return 0;
    *b = (medsam_box3d){(float)v[0], (float)v[1], (float)v[3], (float)v[4], (int)v[2], (int)v[5]};
    return 1;
}

static int usage_err(const char *fmt, const char *arg) {
    fputs("medsam: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

static const char *const VOLUME_FLAGS[] = {"-B", "--box3d", "--slice", "--window", "--mr", "--npz", "--margin",
                                           "--cache-mb", "--dicom-seg", NULL};

int cli_segment_is_volume(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        for (int f = 0; VOLUME_FLAGS[f]; f++)
            if (!strcmp(argv[i], VOLUME_FLAGS[f])) return 1;
        if ((!strcmp(argv[i], "-i") || !strcmp(argv[i], "--input")) && i + 1 < argc) {
            const char *p = argv[i + 1];
            struct stat sb;
            if (ends_with(p, ".nii") || ends_with(p, ".nii.gz") || ends_with(p, ".npz") || ends_with(p, ".dcm")) return 1;
            if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) return 1;
            if (ms_volume_sniff(p) != MS_VOLFMT_NONE) return 1;
        }
    }
    return 0;
}

void cli_segment_volume_help(void) {
    puts("Volumes (NIfTI .nii/.nii.gz, DICOM file or series folder, npz with imgs (D,H,W)):\n"
         "  medsam segment -m MODEL.pth -i VOLUME -B x0,y0,z0,x1,y1,z1 [-B ...] -o MASK.nii.gz\n"
         "  medsam segment -m MODEL.pth -i VOLUME --slice Z -b x0,y0,x1,y1 [-b ...] -o MASK.png|.nii.gz\n"
         "  medsam segment -m MODEL.pth --npz CASE.npz -o OUT.npz        (CVPR24 \"MedSAM on laptop\")\n"
         "  options: [--window soft|lung|brain|bone|dicom|L,W | --mr] [--overlay OUT.png] [--progress]\n"
         "           [--margin PX] [--cache-mb MB] [--pipeline medsam|sam|lite] [--precision fp32|bf16] [--threads N]\n"
         "           [--max-memory SIZE] [-v]\n\n"
         "Slices are taken along the volume's third axis (z, voxel space); slice z is an image of ny\n"
         "rows (y) and nx columns (x), and box x/y are pixel coordinates of that image\n"
         "(0 <= x0 < x1 <= nx, 0 <= y0 < y1 <= ny), z0 <= z1 inclusive slice indices (< nz).\n"
         "Each 3-D box is segmented on its middle slice z0+(z1-z0)/2 with its x/y, then propagated\n"
         "up to z1 and down to z0: each next slice's box is the previous slice's mask bounding box\n"
         "grown by --margin pixels (default 3*max(nx,ny)/256, LiteMedSAM's 3 px at 256), or the\n"
         "box's own x/y where that mask is empty. Box k writes label k (a later box wins). Each\n"
         "slice is encoded once for all boxes (--cache-mb bounds the embeddings kept, default 1024).\n"
         "With the lite pipeline (a LiteMedSAM model) slices and boxes follow CVPR24_LiteMedSAM_infer.py\n"
         "instead: the next box is get_bbox256 of the previous mask resized to the 256 frame, grown by\n"
         "--margin pixels of that frame (default 3).\n"
         "--max-memory SIZE (8G, 512M) bounds the decoded volume the reader may allocate (default\n"
         "half of the available memory); larger volumes and decompression bombs are refused.\n\n"
         "Intensities (whole volume, as MedSAM's pre_CT_MR.py): --window clips to the CT window\n"
         "[L-W/2, L+W/2] (soft L40/W400, lung L-600/W1500, brain L40/W80, bone L400/W1800, dicom:\n"
         "the file's WindowCenter/Width) and scales to 0..255; --mr clips to the 0.5/99.5\n"
         "percentiles of the voxels > 0, scales to 0..255 and keeps zeros at 0. Default: DICOM CT\n"
         "gets the soft-tissue window, uint8 volumes are used as they are, anything else gets the\n"
         "percentiles (NIfTI and npz carry no modality: pass --window for CT).\n\n"
         "-o: .nii/.nii.gz (labels on the input's grid: same dimensions, voxel sizes, qform/sform),\n"
         ".npz (segs (D,H,W)), .png with --slice (255 for one box, k for several), or .dcm: a DICOM\n"
         "Segmentation (SEG) of a DICOM input, one segment per box (also --dicom-seg OUT.dcm beside\n"
         "another -o). A one-slice input (CR/DX image, one CT slice) takes -b boxes without --slice;\n"
         "a one-slice colour DICOM (RGB/YBR) is segmented as the RGB image it holds, as a PNG would be.\n"
         "--overlay\n"
         "draws the chosen slice (--slice, else the first box's middle slice) with the masks and\n"
         "boxes. A progress line goes to stderr when it is a terminal (or with --progress);\n"
         "Ctrl-C stops cleanly without writing any output.\n\n"
         "--npz CASE.npz: imgs (H,W,3) with boxes (N,4), or imgs (D,H,W) with boxes (N,6) as\n"
         "[x_min,y_min,z_min,x_max,y_max,z_max]; writes segs (box index as label) to OUT.npz.");
}

static int parse_vol_opts(int argc, char **argv, vol_opts *o) {
    memset(o, 0, sizeof *o);
    o->threads = cli_default_threads();
    o->cache_mb = -1;
    o->box_zoom = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { o->help = 1; return 0; }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { o->verbose = 1; continue; }
        if (!strcmp(a, "--mr")) { o->mr = 1; continue; }
        if (!strcmp(a, "--progress")) { o->progress = 1; continue; }
        static const char *const WITH_VALUE[] = {"-m", "--model", "-i", "--input", "-o", "--output", "-b", "--box",
                                                 "-B", "--box3d", "--slice", "--window", "--overlay", "--npz",
                                                 "--margin", "--cache-mb", "-t", "--threads", "--dicom-seg", "--pipeline",
                                                 "--max-memory", "--precision", "--box-zoom", NULL};
        int known = 0;
        for (int f = 0; WITH_VALUE[f]; f++) known |= !strcmp(a, WITH_VALUE[f]);
        if (!known) return usage_err("unknown option '%s' (see -h)", a);
        if (!val) return usage_err("option '%s' needs a value", a);
        i++;
        char *end;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = val;
        else if (!strcmp(a, "-i") || !strcmp(a, "--input")) o->input = val;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->output = val;
        else if (!strcmp(a, "--overlay")) o->overlay = val;
        else if (!strcmp(a, "--dicom-seg")) o->dicom_seg = val;
        else if (!strcmp(a, "--npz")) o->npz = val;
        else if (!strcmp(a, "--window")) o->window = val;
        else if (!strcmp(a, "--pipeline")) {
            if (cli_pipeline_arg(val)) return 2;
            o->pipeline = val;
        } else if (!strcmp(a, "--max-memory")) {
            medsam_error e;
            if (medsam_memory_parse(val, &o->budget.max_bytes, &e)) return usage_err("%s", e.message);
        } else if (!strcmp(a, "--precision")) {
            if (cli_precision_arg(val)) return 2;
            o->precision = val;
        } else if (!strcmp(a, "--box-zoom")) {
            if (cli_box_zoom_arg(val, &o->box_zoom)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(o->threads = cli_threads(val))) return usage_err("--threads wants a positive integer, got '%s'", val);
        } else if (!strcmp(a, "--slice")) {
            long z = strtol(val, &end, 10);
            if (!*val || *end || z < 0 || z > 1000000000L) return usage_err("--slice wants a slice index >= 0, got '%s'", val);
            o->slice = (int)z, o->has_slice = 1;
        } else if (!strcmp(a, "--margin")) {
            o->margin = strtod(val, &end);
            if (!*val || *end || !isfinite(o->margin) || !(o->margin > 0))
                return usage_err("--margin wants a number of pixels > 0, got '%s'", val);
        } else if (!strcmp(a, "--cache-mb")) {
            long long mb = strtoll(val, &end, 10);
            if (!*val || *end || mb < 0 || mb > (1LL << 40)) return usage_err("--cache-mb wants megabytes >= 0, got '%s'", val);
            o->cache_mb = mb;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--box")) {
            double v[4];
            if (o->n2 >= 255) return usage_err("at most %s boxes per slice", "255");
            if (!parse_numbers(val, v, 4)) return usage_err("box '%s' is not x0,y0,x1,y1", val);
            o->boxes2[o->n2++] = (medsam_box){(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
        } else { /* -B */
            if (o->n3 >= 65535) return usage_err("at most %s 3-D boxes", "65535");
            medsam_box3d *nb = realloc(o->boxes3, (size_t)(o->n3 + 1) * sizeof *nb);
            if (!nb) return usage_err("out of memory%s", "");
            o->boxes3 = nb;
            if (!parse_box3d(val, &o->boxes3[o->n3++]))
                return usage_err("3-D box '%s' is not x0,y0,z0,x1,y1,z1 (z0, z1 integer slice indices)", val);
        }
    }
    return 0;
}

int cli_intensity(const vol_opts *o, medsam_intensity *how) {
    medsam_error err;
    memset(how, 0, sizeof *how);
    if (o->mr) how->mode = MEDSAM_INTENSITY_PERCENTILE;
    if (o->window && medsam_intensity_parse(o->window, how, &err)) return cli_fail(&err);
    return 0;
}

/* ---- overlays ----------------------------------------------------------- */

int cli_write_overlay(const char *path, const uint8_t *image, int w, int h, int channels, const void *labels,
                      int label_bytes, const medsam_box *boxes, int n) {
    uint8_t *rgb = malloc((size_t)w * h * 3);
    if (!rgb) return cli_failf("out of memory for the overlay");
    ms_overlay_render(rgb, image, w, h, channels, labels, label_bytes, boxes, n, 0);
    medsam_error err;
    int rc = ms_png_write_rgb8(path, rgb, w, h, &err) ? cli_fail(&err) : 0;
    free(rgb);
    return rc;
}

int cli_overlay_image_file(const char *path, const char *image_path, const uint8_t *labels, int w, int h,
                           const medsam_box *boxes, int n) {
    medsam_error err;
    ms_image img;
    if (ms_image_read(image_path, &img, &err)) return cli_fail(&err);
    if (img.width != w || img.height != h) {
        ms_image_free(&img);
        return cli_failf("%s: image is %dx%d, the mask %dx%d", image_path, img.width, img.height, w, h);
    }
    const int C = img.channels >= 3 ? 3 : 1;
    uint8_t *pix = malloc((size_t)w * h * C);
    int rc = pix ? 0 : cli_failf("out of memory for the overlay");
    if (!rc) {
        double lo = INFINITY, hi = -INFINITY;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < C; c++) {
                    double v = ms_image_sample(&img, y, x, c);
                    lo = v < lo ? v : lo, hi = v > hi ? v : hi;
                }
        const int scale = img.bit_depth != 8; /* 16-bit / float: min-max to 0..255 for display */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < C; c++) {
                    double v = ms_image_sample(&img, y, x, c);
                    if (scale) v = hi > lo ? (v - lo) / (hi - lo) * 255.0 : 0;
                    pix[((size_t)y * w + x) * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + (scale ? 0.5 : 0));
                }
        rc = cli_write_overlay(path, pix, w, h, C, labels, 1, boxes, n);
    }
    free(pix);
    ms_image_free(&img);
    return rc;
}

/* Overlay of slice z: the boxes whose z range holds z are drawn. */
static int volume_overlay(const char *path, const uint8_t *vol, const void *labels, int label_bytes, int nx, int ny,
                          int z, const medsam_box3d *b3, int n3, const medsam_box *b2, int n2) {
    const size_t plane = (size_t)nx * ny;
    int n = b3 ? n3 : n2;
    medsam_box *boxes = malloc((size_t)n * sizeof *boxes);
    if (!boxes) return cli_failf("out of memory for the overlay");
    for (int i = 0; i < n; i++) {
        if (!b3) boxes[i] = b2[i];
        else if (z >= b3[i].z0 && z <= b3[i].z1) boxes[i] = (medsam_box){b3[i].x0, b3[i].y0, b3[i].x1, b3[i].y1};
        else boxes[i] = (medsam_box){NAN, NAN, NAN, NAN};
    }
    int rc = cli_write_overlay(path, vol + z * plane, nx, ny, 1, (const uint8_t *)labels + z * plane * label_bytes,
                               label_bytes, boxes, n);
    free(boxes);
    return rc;
}

/* ---- outputs ------------------------------------------------------------ */

static int write_labels(const char *path, const medsam_volume *ref, const void *labels, int label_bytes, int nx,
                        int ny, int nz) {
    medsam_error err;
    if (cli_output_kind(path) == OUT_NPZ) {
        ms_npy a = {label_bytes == 1 ? MS_NPY_U8 : MS_NPY_U16, 3, {nz, ny, nx}, (int64_t)nx * ny * nz, (void *)labels};
        const char *name = "segs";
        return ms_npz_write(path, &name, &a, 1, 1, &err) ? cli_fail(&err) : 0;
    }
    return medsam_volume_write_labels(path, ref, labels, label_bytes, &err) ? cli_fail(&err) : 0;
}

/* ---- the command -------------------------------------------------------- */

int cli_run_volume(const vol_opts *o_in) {
    medsam_error err;
    vol_opts one = *o_in; /* a one-slice input takes -b as --slice 0 */
    const vol_opts *o = &one;
    const out_kind kind = cli_output_kind(o->output);
    if (kind == OUT_BAD)
        return usage_err("-o %s: a volume result is written as .nii, .nii.gz or .npz, or .dcm for DICOM SEG (.png only "
                         "with --slice)", o->output);
    const char *seg_path = kind == OUT_DICOM_SEG ? o->output : o->dicom_seg;
    if (o->dicom_seg && cli_output_kind(o->dicom_seg) != OUT_DICOM_SEG)
        return usage_err("--dicom-seg %s: the SEG file name ends in .dcm", o->dicom_seg);
    medsam_intensity how;
    int rc = cli_intensity(o, &how);
    if (rc) return rc;
    double t0 = cli_now();
    medsam_volume *vol = NULL;
    if (medsam_volume_read_budget(o->input, &o->budget, &vol, &err)) return cli_fail(&err);
    medsam_volume_info vi;
    medsam_volume_get_info(vol, &vi);
    const int nx = vi.nx, ny = vi.ny, nz = vi.nz;
    const size_t nvox = (size_t)nx * ny * nz, plane = (size_t)nx * ny;
    if (!o->has_slice && o->n2 && nz == 1) one.has_slice = 1, one.slice = 0; /* a 2-D image (CR/DX, one slice) */
    if (!o->has_slice && o->n2) rc = usage_err("%s", "-b on a volume needs --slice Z (or use -B x0,y0,z0,x1,y1,z1)");
    else if (kind == OUT_PNG && !o->has_slice)
        rc = usage_err("-o %s: a volume result is written as .nii, .nii.gz or .npz, or .dcm for DICOM SEG (.png only "
                       "with --slice)", o->output);
    else if (seg_path && strcmp(vi.format, "dicom"))
        rc = usage_err("-o %s: DICOM SEG needs a DICOM input (file or series folder)", seg_path);
    if (rc) {
        medsam_volume_free(vol);
        return rc;
    }
    if (o->verbose)
        fprintf(stderr, "%s: %s %s %dx%dx%d, spacing %g x %g x %g%s%s (%.3f s)\n", o->input, vi.format, vi.dtype, nx, ny,
                nz, vi.spacing[0], vi.spacing[1], vi.spacing[2], vi.modality[0] ? ", modality " : "", vi.modality,
                cli_now() - t0);
    /* boxes against the volume, before anything slow */
    if (o->has_slice) {
        if (o->slice >= nz) rc = cli_failf("%s: --slice %d is outside the volume (0..%d)", o->input, o->slice, nz - 1);
        for (int i = 0; i < o->n2 && !rc; i++) {
            medsam_box3d b = {o->boxes2[i].x0, o->boxes2[i].y0, o->boxes2[i].x1, o->boxes2[i].y1, o->slice, o->slice};
            if (ms_seg3d_check_boxes(&b, 1, nx, ny, nz, &err)) rc = cli_failf("%s: box %d: %s", o->input, i + 1, err.message);
        }
    } else if (ms_seg3d_check_boxes(o->boxes3, o->n3, nx, ny, nz, &err)) {
        rc = cli_failf("%s: %s", o->input, err.message);
    }
    uint8_t *u8 = NULL;
    void *labels = NULL;
    medsam_model *m = NULL;
    const int n = o->has_slice ? o->n2 : o->n3;
    const int label_bytes = n <= 255 ? 1 : 2;
    if (!rc) {
        u8 = malloc(nvox);
        labels = calloc(nvox, (size_t)label_bytes);
        if (!u8 || !labels) rc = cli_failf("%s: out of memory for a %dx%dx%d volume", o->input, nx, ny, nz);
    }
    medsam_intensity_applied ap;
    if (!rc) {
        t0 = cli_now();
        if (medsam_volume_normalize(vol, &how, u8, &ap, &err)) rc = cli_failf("%s: %s", o->input, err.message);
        else medsam_volume_release_voxels(vol); /* only the geometry is needed from here on */
        if (!rc && o->verbose) {
            static const char *const MODE[] = {"auto", "as is", "window", "percentiles", "dicom window"};
            fprintf(stderr, "intensity: %s [%g, %g] (%.3f s)\n", MODE[ap.mode], ap.lo, ap.hi, cli_now() - t0);
        }
    }
    if (!rc) {
        t0 = cli_now();
        if (cli_model_open(o->keep, o->model, o->pipeline, o->precision, o->verbose, &m)) rc = 1;
        else if (o->verbose) fprintf(stderr, "load: %.3f s\n", cli_now() - t0);
    }
    cli_progress prog;
    int prog_on = 0;  // the SIGINT handler stays until every output is written (a Ctrl-C then leaves no temporary file)
    if (!rc) {
        cli_progress_begin(&prog, o->progress);
        prog_on = 1;
        t0 = cli_now();
        medsam_status st;
        int encoded = 1;
        if (o->has_slice) {
            st = cli_progress_cb(&prog, 0, 1) ? (medsam_status)ms_error(&err, MEDSAM_ERR_CANCELLED, "cancelled")
                                              : medsam_segment_slice(m, u8, nx, ny, nz, o->slice, o->boxes2, o->n2, o->threads,
                                        (uint8_t *)labels + o->slice * plane, &err);
            if (!st) cli_progress_cb(&prog, 1, 1);
        } else {
            medsam_volume_opts vo = {.nthreads = o->threads,
                                     .margin = o->margin,
                                     .cache_bytes = o->cache_mb < 0 ? 0 : o->cache_mb == 0 ? -1 : o->cache_mb << 20,
                                     .progress = cli_progress_cb,
                                     .progress_user = &prog};
            st = medsam_segment_volume(m, u8, nx, ny, nz, o->boxes3, o->n3, &vo, labels, label_bytes, &err);
            encoded = vo.slices_encoded;
        }
        if (cli_interrupted()) rc = cli_failf("interrupted: no output written"), rc = 130;
        else if (st) rc = cli_failf("%s: %s", o->input, err.message);
        else if (o->verbose)
            fprintf(stderr, "segmentation: %.3f s, %d slice(s) encoded, %d box(es)\n", cli_now() - t0, encoded, n);
    }
    if (!rc) {
        if (kind == OUT_PNG) {
            uint8_t *s = (uint8_t *)labels + o->slice * plane;
            if (n == 1)
                for (size_t p = 0; p < plane; p++) s[p] = s[p] ? 255 : 0;
            rc = ms_png_write_gray8(o->output, s, nx, ny, &err) ? cli_fail(&err) : 0;
            if (!rc && n == 1)
                for (size_t p = 0; p < plane; p++) s[p] = s[p] ? 1 : 0;
        } else if (kind != OUT_DICOM_SEG) {
            rc = write_labels(o->output, vol, labels, label_bytes, nx, ny, nz);
        }
    }
    if (!rc && seg_path) {
        rc = cli_write_dicom_seg(seg_path, o->input, o->model, labels, label_bytes, nx, ny, nz, n);
        if (rc && kind != OUT_DICOM_SEG) remove(o->output);
    }
    if (!rc && o->overlay) {
        int z = o->has_slice ? o->slice : ms_seg3d_mid_slice(&o->boxes3[0]);
        rc = volume_overlay(o->overlay, u8, labels, label_bytes, nx, ny, z, o->has_slice ? NULL : o->boxes3, o->n3,
                            o->boxes2, o->n2);
        if (rc && kind != OUT_DICOM_SEG) remove(o->output); /* all outputs or none */
        if (rc && seg_path) remove(seg_path);
    }
    if (prog_on) {
        cli_progress_end(&prog);
        if (!rc && cli_interrupted()) rc = cli_failf("interrupted while writing: the outputs were completed and kept"), rc = 130;
    }
    free(u8);
    free(labels);
    cli_model_close(o->keep, m);
    medsam_volume_free(vol);
    return rc;
}

int cmd_segment_volume(int argc, char **argv, cli_models *keep) {
    vol_opts o;
    int rc = parse_vol_opts(argc, argv, &o);
    o.keep = keep;
    if (!rc && o.help) {
        puts("usage: medsam segment (volumes)\n");
        cli_segment_volume_help();
    } else if (!rc) {
        char defbuf[4096];
        if (!o.output) rc = usage_err("missing %s (see -h)", "-o OUTPUT");
        else if (o.window && o.mr) rc = usage_err("%s", "--window and --mr exclude each other");
        else if (cli_default_model(&o.model, defbuf, sizeof defbuf)) rc = 1;
        else if (o.npz) {
            if (o.input || o.n3 || o.n2 || o.has_slice)
                rc = usage_err("%s", "--npz takes its image and boxes from the file: no -i, -b, -B or --slice");
            else rc = cli_segment_npz(&o);
        } else if (!o.input) rc = usage_err("missing %s (see -h)", "-i VOLUME");
        else if (o.has_slice && (o.n3 || !o.n2)) rc = usage_err("%s", "--slice Z takes 2-D boxes: -b x0,y0,x1,y1");
        else if (!o.has_slice && o.n2 && o.n3) rc = usage_err("%s", "-b and -B exclude each other (-b with --slice Z)");
        else if (!o.has_slice && !o.n3 && !o.n2) rc = usage_err("%s", "missing -B x0,y0,z0,x1,y1,z1 (see -h)");
        else if (!o.has_slice && o.n2 && (rc = cli_segment_dicom_rgb(&o)) >= 0) { /* a one-slice colour DICOM: done */
        } else rc = cli_run_volume(&o);
    }
    free(o.boxes3);
    return rc;
}
