/* commands.c — info, embed, segment, preprocess. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmd_prompt.h"
#include "cmd_volume.h"
#include "core/npy.h"
#include "io/image.h"

#define MAX_BOXES 255

typedef struct {
    const char *model, *input, *output, *logits, *embedding, *overlay, *pipeline;
    const char *precision; /* --precision fp32|bf16, or NULL */
    int threads, verbose, help;
    double box_zoom;      /* --box-zoom K; -1: not given (the model file's own) */
    medsam_budget budget; /* --max-memory; 0: the default */
    medsam_box boxes[MAX_BOXES];
    int nboxes;
    cli_prompt_opts prompt; /* -p, --multimask, --scores, --mask-input (cmd_prompt.h) */
} cli_opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse_box(const char *s, medsam_box *b) {
    char *end;
    float v[4];
    const char *p = s;
    if (*p == '[') p++;
    for (int i = 0; i < 4; i++) {
        v[i] = strtof(p, &end);
        if (end == p) return 0;
        p = end;
        while (*p == ' ') p++;
        if (i < 3) {
            if (*p != ',') return 0;
            p++;
        }
    }
    if (*p == ']') p++;
    if (*p) return 0;
    b->x0 = v[0], b->y0 = v[1], b->x1 = v[2], b->y1 = v[3];
    return 1;
}

/* Parses the options shared by the subcommands; `allowed` lists the flags the
 * subcommand takes (e.g. "mioblet"). Returns 0 on success, 2 on a usage error. */
static int parse_opts(int argc, char **argv, const char *allowed, cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->threads = cli_default_threads();
    o->box_zoom = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        char flag = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { o->help = 1; return 0; }
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { flag = 'v'; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) flag = 'm';
        else if (!strcmp(a, "-i") || !strcmp(a, "--input")) flag = 'i';
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) flag = 'o';
        else if (!strcmp(a, "-b") || !strcmp(a, "--box")) flag = 'b';
        else if (!strcmp(a, "--logits")) flag = 'l';
        else if (!strcmp(a, "--embedding")) flag = 'e';
        else if (!strcmp(a, "--overlay")) flag = 'O';
        else if (!strcmp(a, "--pipeline")) flag = 'p';
        else if (!strcmp(a, "--precision")) flag = 'r';
        else if (!strcmp(a, "--progress")) flag = 'P';
        else if (!strcmp(a, "-p") || !strcmp(a, "--point")) flag = 'x';
        else if (!strcmp(a, "--multimask")) flag = 'M';
        else if (!strcmp(a, "--scores")) flag = 's';
        else if (!strcmp(a, "--mask-input")) flag = 'k';
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) flag = 't';
        else if (!strcmp(a, "--max-memory")) flag = 'X';
        else if (!strcmp(a, "--box-zoom")) flag = 'z';
        if (!flag || (flag != 't' && flag != 'v' && flag != 'X' && !strchr(allowed, flag))) {
            fprintf(stderr, "medsam: unknown option '%s' (see -h)\n", a);
            return 2;
        }
        if (flag == 'v') { o->verbose = 1; continue; }
        if (flag == 'P') continue; /* progress lines are for volumes; one image has nothing to report */
        if (flag == 'M') { o->prompt.multimask = 1; continue; }
        if (!val) {
            fprintf(stderr, "medsam: option '%s' needs a value\n", a);
            return 2;
        }
        i++;
        switch (flag) {
        case 'm': o->model = val; break;
        case 'i': o->input = val; break;
        case 'o': o->output = val; break;
        case 'l': o->logits = val; break;
        case 'e': o->embedding = val; break;
        case 'O': o->overlay = val; break;
        case 'x':
            if (cli_prompt_add_point(&o->prompt, val)) return 2;
            break;
        case 's': o->prompt.scores = val; break;
        case 'k': o->prompt.mask_input = val; break;
        case 'p':
            if (cli_pipeline_arg(val)) return 2;
            o->pipeline = val;
            break;
        case 'r':
            if (cli_precision_arg(val)) return 2;
            o->precision = val;
            break;
        case 't':
            if (!(o->threads = cli_threads(val))) {
                fprintf(stderr, "medsam: --threads wants a positive integer, got '%s'\n", val);
                return 2;
            }
            break;
        case 'z':
            if (cli_box_zoom_arg(val, &o->box_zoom)) return 2;
            break;
        case 'X': {
            medsam_error e;
            if (medsam_memory_parse(val, &o->budget.max_bytes, &e)) {
                fprintf(stderr, "medsam: %s\n", e.message);
                return 2;
            }
            break;
        }
        case 'b':
            if (o->nboxes >= MAX_BOXES) {
                fprintf(stderr, "medsam: at most %d boxes\n", MAX_BOXES);
                return 2;
            }
            if (!parse_box(val, &o->boxes[o->nboxes++])) {
                fprintf(stderr, "medsam: box '%s' is not x0,y0,x1,y1\n", val);
                return 2;
            }
            break;
        }
    }
    return 0;
}

static int need(const char *v, const char *flag) {
    if (v) return 1;
    fprintf(stderr, "medsam: missing %s (see -h)\n", flag);
    return 0;
}

int cmd_info(int argc, char **argv) {
    cli_opts o;
    int rc = parse_opts(argc, argv, "m", &o);
    if (rc) return rc;
    if (o.help) {
        puts("usage: medsam info [-m MODEL.pth]\n\nPrints the architecture inferred from the checkpoint's tensor shapes.\n"
             "Without -m: the bundled default model (models/medsam-small.safetensors, see docs/default-model.md).");
        return 0;
    }
    char defbuf[4096];
    if (cli_default_model(&o.model, defbuf, sizeof defbuf)) return 1;
    medsam_error err;
    medsam_model *m;
    if (medsam_model_load(o.model, &m, &err)) return cli_fail(&err);
    char buf[2048];
    medsam_model_describe(m, buf, sizeof buf);
    printf("%s\n%s\npipeline: %s (default; --pipeline medsam|sam|lite)\n", o.model, buf,
           medsam_pipeline_name(medsam_model_get_pipeline(m)));
    printf("precision: fp32 (default; --precision bf16 runs the encoder's linears on %s)\n",
           medsam_bf16_kernel());
    const double zoom = medsam_model_get_box_zoom(m);
    if (zoom > 0)
        printf("box zoom: %g (the file asks for it: a small box is segmented on a window %g times its size; "
               "--box-zoom 0 turns it off)\n", zoom, zoom);
    else
        printf("box zoom: off (the official pipelines; --box-zoom K turns it on)\n");
    medsam_model_free(m);
    return 0;
}

int cmd_preprocess(int argc, char **argv) {
    cli_opts o;
    int rc = parse_opts(argc, argv, "io", &o);
    if (rc) return rc;
    if (o.help) {
        puts("usage: medsam preprocess -i IMAGE -o X.npy [--threads N]\n\n"
             "Writes the float32 (1024,1024,3) tensor that enters the encoder, exactly as\n"
             "MedSAM_Inference.py builds it (skimage resize order 3 with anti-aliasing,\n"
             "uint8 truncation, global min-max to [0,1]).");
        return 0;
    }
    if (!need(o.input, "-i IMAGE") || !need(o.output, "-o X.npy")) return 2;
    medsam_error err;
    float *x;
    int W, H;
    const int S = 1024;
    if (medsam_prepare_input_budget(o.input, S, o.threads, &o.budget, &x, &W, &H, &err)) return cli_fail(&err);
    int64_t shape[3] = {S, S, 3};
    rc = ms_npy_write(o.output, MS_NPY_F32, 3, shape, x, &err) ? cli_fail(&err) : 0;
    free(x);
    return rc;
}

/* Loads the model and produces an embedding: from --embedding if given, else by encoding. */
static int get_embedding(const cli_opts *o, medsam_model *m, float *input, medsam_embedding **emb) {
    medsam_error err;
    if (o->embedding) {
        ms_npy a;
        float *f = NULL;
        if (ms_npy_read(o->embedding, &a, &err) || ms_npy_to_f32(&a, &f, &err)) {
            ms_npy_free(&a);
            return cli_fail(&err);
        }
        long count = (long)a.count;
        ms_npy_free(&a);
        medsam_status st = medsam_embedding_from_data(m, f, count, emb, &err);
        free(f);
        if (st) {
            fprintf(stderr, "medsam: %s: %s\n", o->embedding, err.message);
            return 1;
        }
        return 0;
    }
    double t0 = now_s();
    if (medsam_encode(m, input, o->threads, emb, &err)) return cli_fail(&err);
    if (o->verbose) fprintf(stderr, "encoder: %.3f s (%d threads)\n", now_s() - t0, o->threads);
    return 0;
}

/* The input image as medsam_image_read_budget reads it, on a thread of its own while the
 * model loads: the load leaves a core idle part of the time, and a large PNG, JPEG or DICOM
 * takes tens of milliseconds to decode. */
typedef struct {
    const char *path;
    const medsam_budget *budget;
    void *px; /* (H, W, C) samples of `bits` bits; free with medsam_free */
    int W, H, C, bits;
    medsam_status st;
    medsam_error err;
    pthread_t thread;
    int threaded; /* read on `thread` (else by image_job_wait) */
} image_job;

static void *image_job_run(void *arg) {
    image_job *j = arg;
    j->st = medsam_image_read_budget(j->path, j->budget, &j->px, &j->W, &j->H, &j->C, &j->bits, &j->err);
    return NULL;
}

/* Starts reading `path` on a thread of its own. */
static void image_job_start(image_job *j, const char *path, const medsam_budget *budget) {
    *j = (image_job){.path = path, .budget = budget};
    j->threaded = pthread_create(&j->thread, NULL, image_job_run, j) == 0;
}

/* Waits for the image; without a thread it is read here when `wanted`. */
static void image_job_wait(image_job *j, int wanted) {
    if (j->threaded) pthread_join(j->thread, NULL);
    else if (wanted) image_job_run(j);
}

/* The encoder input of the image read by `img`, through m's pipeline: (img_size, img_size, 3). */
static int preprocess_image(const cli_opts *o, const medsam_model *m, const image_job *img, float **x) {
    medsam_error err;
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    *x = malloc((size_t)info.img_size * info.img_size * 3 * sizeof(float));
    if (!*x) return cli_failf("%s: cannot allocate the encoder input", o->input);
    if (!medsam_model_preprocess(m, img->px, img->W, img->H, img->C, img->bits, o->threads, *x, &err)) return 0;
    free(*x);
    *x = NULL;
    if (strstr(err.message, o->input)) return cli_fail(&err);
    fprintf(stderr, "medsam: %s: %s\n", o->input, err.message);
    return 1;
}

int cmd_embed(int argc, char **argv) {
    cli_opts o;
    int rc = parse_opts(argc, argv, "miopr", &o);
    if (rc) return rc;
    if (o.help) {
        puts("usage: medsam embed [-m MODEL.pth] -i IMAGE -o EMB.npy [--pipeline medsam|sam|lite]\n"
             "                    [--precision fp32|bf16] [--threads N] [-v]\n\n"
             "Encodes the image and writes the float32 embedding, (1,256,64,64) for ViT-B.\n"
             "IMAGE is a PNG/JPEG, or a preprocessed (1024,1024,3) .npy in [0,1] (medsam pipeline).\n"
             "--pipeline: the preprocessing (default: the model's own, ViT -> medsam, TinyViT -> lite).\n"
             "--precision bf16: the ViT encoder's linears in bf16 (fp32 accumulation; faster, not exact).\n"
             "Without -m: the bundled default model (models/medsam-small.safetensors).");
        return 0;
    }
    if (!need(o.input, "-i IMAGE") || !need(o.output, "-o EMB.npy")) return 2;
    char defbuf[4096];
    if (cli_default_model(&o.model, defbuf, sizeof defbuf)) return 1;
    medsam_error err;
    medsam_model *m;
    double t0 = now_s();
    image_job img;
    image_job_start(&img, o.input, &o.budget);
    rc = cli_load_model(o.model, o.pipeline, &m);
    image_job_wait(&img, !rc);
    if (rc) {
        medsam_free(img.px);
        return 1;
    }
    if (o.verbose) fprintf(stderr, "load: %.3f s (image read beside it)\n", now_s() - t0);
    if (cli_set_precision(m, o.model, o.precision, o.verbose)) return medsam_model_free(m), medsam_free(img.px), 1;
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    float *x = NULL;
    medsam_embedding *emb = NULL;
    t0 = now_s();
    rc = img.st ? cli_fail(&img.err) : preprocess_image(&o, m, &img, &x);
    medsam_free(img.px);
    if (!rc && o.verbose) fprintf(stderr, "preprocess: %.3f s\n", now_s() - t0);
    if (!rc) rc = get_embedding(&o, m, x, &emb);
    if (!rc) {
        int64_t shape[4] = {1, info.emb_channels, info.emb_size, info.emb_size};
        t0 = now_s();
        if (ms_npy_write(o.output, MS_NPY_F32, 4, shape, medsam_embedding_data(emb, NULL), &err)) rc = cli_fail(&err);
        if (!rc && o.verbose) fprintf(stderr, "write: %.3f s\n", now_s() - t0);
    }
    free(x);
    medsam_embedding_free(emb);
    medsam_model_free(m);
    return rc;
}

/* Box checks shared by both segment paths: 0, or the message printed and 1. */
static int check_boxes(const cli_opts *o, int W, int H) {
    for (int i = 0; i < o->nboxes; i++) {
        medsam_box b = o->boxes[i];
        if (!(b.x1 > b.x0) || !(b.y1 > b.y0))
            return cli_failf("%s: box %d (%g,%g,%g,%g) is empty: needs x0 < x1 and y0 < y1", o->input, i + 1, b.x0, b.y0,
                             b.x1, b.y1);
        if (b.x0 < 0 || b.y0 < 0 || b.x1 > W || b.y1 > H)
            return cli_failf("%s: box %d (%g,%g,%g,%g) lies outside the %dx%d image", o->input, i + 1, b.x0, b.y0, b.x1,
                             b.y1, W, H);
    }
    return 0;
}

/* The mask (0/255 for one box, labels otherwise) and the overlay; all outputs or none. */
static int write_mask_outputs(const cli_opts *o, uint8_t *mask, int W, int H) {
    medsam_error err;
    if (o->nboxes == 1)
        for (long p = 0; p < (long)W * H; p++) mask[p] = mask[p] ? 255 : 0;
    if (ms_png_write_gray8(o->output, mask, W, H, &err)) {
        if (o->logits) remove(o->logits);
        return cli_fail(&err);
    }
    if (o->overlay) {
        if (o->nboxes == 1)
            for (long p = 0; p < (long)W * H; p++) mask[p] = mask[p] ? 1 : 0;
        if (cli_overlay_image_file(o->overlay, o->input, mask, W, H, o->boxes, o->nboxes)) {
            remove(o->output);
            if (o->logits) remove(o->logits);
            return 1;
        }
    }
    return 0;
}

/* medsam segment with the model's box zoom (pipeline/zoom.h): medsam_segment_pixels on the image's pixels. */
static int segment_zoomed(const cli_opts *o, const medsam_model *m, double zoom, const image_job *img) {
    medsam_error err;
    const int W = img->W, H = img->H;
    double t0 = now_s();
    int rc = check_boxes(o, W, H);
    uint8_t *mask = rc ? NULL : malloc((size_t)W * H);
    if (!rc && !mask) rc = cli_failf("out of memory");
    int encodes = 0;
    if (!rc && medsam_segment_pixels(m, img->px, W, H, img->C, img->bits, o->boxes, o->nboxes, o->threads, mask,
                                     &encodes, &err)) {
        fprintf(stderr, "medsam: %s: %s\n", o->input, err.message);
        rc = 1;
    }
    if (!rc && o->verbose)
        fprintf(stderr, "box zoom %g: %d box(es), %d encode(s), %.3f s\n", zoom, o->nboxes, encodes, now_s() - t0);
    if (!rc) rc = write_mask_outputs(o, mask, W, H);
    free(mask);
    return rc;
}

int cmd_segment(int argc, char **argv) {
    if (cli_segment_is_batch(argc, argv)) return cmd_segment_batch(argc, argv);
    return cli_segment(argc, argv, NULL);
}

int cli_segment(int argc, char **argv, cli_models *keep) {
    if (cli_segment_is_volume(argc, argv)) return cmd_segment_volume(argc, argv, keep);
    cli_opts o;
    int rc = parse_opts(argc, argv, "mioblehOPpxMskrz", &o);
    if (rc) return rc;
    if (o.help) {
        puts("usage: medsam segment [-m MODEL.pth] -i IMAGE -b x0,y0,x1,y1 [-b ...] -o MASK.png\n"
             "                      [--logits LOGITS.npy] [--embedding EMB.npy] [--overlay OUT.png]\n"
             "                      [--pipeline medsam|sam|lite] [--precision fp32|bf16] [--box-zoom K]\n"
             "                      [--threads N] [--max-memory SIZE] [-v]\n"
             "       medsam segment -m MODEL.pth -i IMAGE [-p x,y[,label] ...] [-b x0,y0,x1,y1] -o MASK.png\n"
             "                      [--multimask] [--scores IOU.json] [--mask-input LOGITS.npy] [--logits ...]\n\n"
             "Segments each box (pixel coordinates of IMAGE) as MedSAM_Inference.py does and\n"
             "writes a mask of the image's size: 0 background, 255 with one box, k for the\n"
             "k-th box with several (a later box wins where masks overlap). --logits writes the\n"
             "low-resolution logits, float32 (N,1,256,256). --embedding reuses an embedding\n"
             "written by `medsam embed` for the same image instead of encoding again.\n"
             "--overlay writes the image with each mask blended in its colour and the boxes outlined.\n"
             "--pipeline (here and for volumes / --npz): medsam = MedSAM_Inference.py, lite =\n"
             "CVPR24_LiteMedSAM_infer.py, sam = SamPredictor (ResizeLongestSide, pixel mean/std,\n"
             "logits > 0); default: the model's own (ViT -> medsam, TinyViT -> lite).\n"
             "Prompts (SamPredictor.predict): -p x,y[,label] adds a point (label 1 foreground,\n"
             "the default, 0 background; repeatable), all points and at most one -b form one\n"
             "prompt; --mask-input takes the float32 (1,1,256,256) or (256,256) low-resolution\n"
             "logits of a previous run (--logits) to refine; --multimask predicts 3 masks and\n"
             "writes the one with the highest predicted IoU (--logits then holds all 3, as\n"
             "(1,3,256,256)); --scores writes {\"iou\": [...], \"best\": k}. The mask is 0 / 255.\n"
             "--max-memory SIZE (8G, 512M): the largest decoded image the reader may allocate;\n"
             "default half of the available memory (README \"Memory\").\n"
             "--precision bf16 (images, volumes, --npz): the ViT encoder's linears in bf16, fp32 accumulation.\n"
             "--box-zoom K (images, 2-D --npz): a box whose side x K is under the image's is segmented on\n"
             "a window K times its size (at least 32 px) and pasted back; 0 = off. Default: the model\n"
             "file's record (the bundled model: 3; official models: off). See README \"Box zoom\".\n"
             "Without -m: the bundled default model (models/medsam-small.safetensors, see\n"
             "docs/default-model.md; $MEDSAM_DEFAULT_MODEL names another file).\n");
        cli_segment_volume_help();
        return 0;
    }
    if (!need(o.input, "-i IMAGE") || !need(o.output, "-o MASK.png")) return 2;
    const int prompt = cli_prompt_wanted(&o.prompt);
    if (o.nboxes == 0 && !o.prompt.npoints && !o.prompt.mask_input)
        return fprintf(stderr, "medsam: missing -b x0,y0,x1,y1 or -p x,y (see -h)\n"), 2;
    if (prompt && o.nboxes > 1)
        return fprintf(stderr, "medsam: -p, --multimask, --scores and --mask-input take at most one -b\n"), 2;
    if (cli_output_kind(o.output) == OUT_DICOM_SEG)
        return fprintf(stderr, "medsam: -o %s: DICOM SEG needs a DICOM input (file or series folder)\n", o.output), 2;
    char defbuf[4096];
    if (cli_default_model(&o.model, defbuf, sizeof defbuf)) return 1;
    float *mask_in = NULL;
    medsam_error err;
    medsam_model *m = NULL;
    float *x = NULL, *logits = NULL;
    uint8_t *mask = NULL;
    medsam_embedding *emb = NULL;
    int W = 0, H = 0;
    double t0 = now_s();
    image_job img;
    image_job_start(&img, o.input, &o.budget);
    rc = cli_model_open(keep, o.model, o.pipeline, o.precision, o.verbose, &m);
    image_job_wait(&img, !rc);
    if (rc) {
        medsam_free(img.px);
        return 1;
    }
    if (o.verbose) fprintf(stderr, "load: %.3f s (image read beside it)\n", now_s() - t0);
    cli_set_box_zoom(m, o.box_zoom);
    const double zoom = medsam_model_get_box_zoom(m);
    if (zoom > 0 && !prompt && (o.logits || o.embedding)) {
        cli_model_close(keep, m);
        medsam_free(img.px);
        return fprintf(stderr, "medsam: %s: %s needs the whole image's embedding, but %s asks for box zoom %g: add "
                       "--box-zoom 0\n", o.input, o.logits ? "--logits" : "--embedding", o.model, zoom), 2;
    }
    if (img.st) {
        cli_model_close(keep, m);
        return cli_fail(&img.err);
    }
    if (zoom > 0 && !prompt) {
        rc = segment_zoomed(&o, m, zoom, &img);
        cli_model_close(keep, m);
        medsam_free(img.px);
        return rc;
    }
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    W = img.W, H = img.H;
    rc = preprocess_image(&o, m, &img, &x);
    medsam_free(img.px);
    img.px = NULL;
    if (!rc) rc = check_boxes(&o, W, H); /* before the (slow) encoder runs */
    if (!rc && prompt) rc = cli_prompt_check(&o.prompt, o.input, W, H, info.mask_size, &mask_in);
    if (!rc) rc = get_embedding(&o, m, x, &emb);
    if (!rc && prompt) {
        rc = cli_prompt_run(m, emb, &o.prompt, o.nboxes ? &o.boxes[0] : NULL, mask_in, o.input, W, H, o.output,
                            o.logits, o.overlay, o.threads, o.verbose);
        goto done;
    }
    long L = info.mask_size;
    if (!rc) {
        logits = o.logits ? malloc((size_t)o.nboxes * L * L * sizeof(float)) : NULL;
        mask = malloc((size_t)W * H);
        if (!mask || (o.logits && !logits)) rc = cli_failf("out of memory");
    }
    if (!rc) {
        double t1 = now_s();
        if (medsam_decode_boxes(m, emb, W, H, o.boxes, o.nboxes, o.threads, logits, NULL, mask, &err)) rc = cli_fail(&err);
        else if (o.verbose)
            fprintf(stderr, "decoder: %.1f ms for %d box(es)\n", (now_s() - t1) * 1e3, o.nboxes);
    }
    if (!rc && o.logits) {
        int64_t shape[4] = {o.nboxes, 1, L, L};
        if (ms_npy_write(o.logits, MS_NPY_F32, 4, shape, logits, &err)) rc = cli_fail(&err);
    }
    if (!rc) rc = write_mask_outputs(&o, mask, W, H);
done:
    free(mask_in);
    free(x);
    free(logits);
    free(mask);
    medsam_embedding_free(emb);
    cli_model_close(keep, m);
    return rc;
}
