/* cmd_convert.c — `medsam convert IN OUT.safetensors [--layout sam|hf] [--dtype f32|f16] [--box-zoom K]`:
 * any model file the library loads, written as float32 (or float16) safetensors under the
 * official names or the transformers SamModel names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipeline/zoom.h"
#include "weights/hf_names.h"
#include "weights/safetensors.h"
#include "weights/tensor_source.h"

static void convert_usage(void) {
    puts("usage: medsam convert IN OUT.safetensors [--layout sam|hf] [--dtype f32|f16] [--box-zoom K]\n"
         "\n"
         "Writes the tensors of a model file as float32 safetensors (a format that\n"
         "holds data only, safe to share). IN is anything `-m` accepts: an official\n"
         ".pth, a transformers pytorch_model.bin or model.safetensors, a safetensors\n"
         "file in the official layout. IN must load as a model first.\n"
         "\n"
         "  --layout sam   official segment-anything names (default): image_encoder.blocks.N...\n"
         "  --layout hf    transformers SamModel names: vision_encoder.layers.N..., loadable\n"
         "                 with SamModel.from_pretrained next to a config.json\n"
         "\n"
         "  --dtype f16    store float16 (half the size; round to nearest even, a value\n"
         "                 beyond float16's range fails); loading widens it to float32.\n"
         "                 The bundled default model is stored this way.\n"
         "\n"
         "  --box-zoom K   record in the file (metadata medsam.box_zoom) that the model is\n"
         "                 meant to run with box zoom K (README \"Box zoom\"); 0 records nothing.\n"
         "                 Default: IN's own record (safetensors), else none.\n"
         "\n"
         "The output is written atomically; with f32 values are copied exactly (float16 /\n"
         "bfloat16 inputs are widened to float32).");
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n > k && strcmp(s + n - k, suf) == 0;
}

/* Reads every tensor and names it for the output layout; fills out[] (data owned by the caller). */
static int collect(const ms_tensor_source *src, int hf, st_out_tensor *out, int *nout, medsam_error *err) {
    ms_hf_heads heads = {0, 0};
    for (int i = 0; i < ms_source_count(src); i++) ms_hf_heads_observe(&heads, ms_source_at(src, i)->name, 0);
    int n = 0;
    for (int i = 0; i < ms_source_count(src); i++) {
        const ms_source_tensor *t = ms_source_at(src, i);
        char name[512];
        if (hf) {
            int r = ms_sam_to_hf(t->name, &heads, name, sizeof name);
            if (r == 0 && (!strcmp(t->name, "pixel_mean") || !strcmp(t->name, "pixel_std"))) continue; /* as convert_sam_to_hf.py */
            if (r <= 0) return cli_failf("%s: tensor '%s' has no transformers SamModel name (--layout hf is for SAM ViT models)",
                                         ms_source_path(src), t->name);
        } else {
            snprintf(name, sizeof name, "%s", t->name);
        }
        st_out_tensor *o = &out[n];
        float *data = malloc((t->numel > 0 ? (size_t)t->numel : 1) * sizeof *data);
        if (!data || !(o->name = strdup(name))) {
            free(data);
            return cli_failf("out of memory");
        }
        o->data = data;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        *nout = ++n;
        if (ms_source_read_f32(src, t, data, err)) return cli_fail(err);
    }
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *layout = "sam", *dtype = "f32";
    double box_zoom = -1; /* not given: IN's own */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            convert_usage();
            return 0;
        }
        if (!strcmp(a, "--layout")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "medsam: option '--layout' needs a value\n");
                return 2;
            }
            layout = argv[++i];
        } else if (!strcmp(a, "--dtype")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "medsam: option '--dtype' needs a value\n");
                return 2;
            }
            dtype = argv[++i];
        } else if (!strcmp(a, "--box-zoom")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "medsam: option '--box-zoom' needs a value\n");
                return 2;
            }
            if (cli_box_zoom_arg(argv[++i], &box_zoom)) return 2;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "medsam: unknown option '%s' (see -h)\n", a);
            return 2;
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "medsam: unexpected argument '%s' (see -h)\n", a);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "medsam: convert needs IN and OUT.safetensors (see -h)\n");
        return 2;
    }
    if (strcmp(layout, "sam") && strcmp(layout, "hf")) {
        fprintf(stderr, "medsam: --layout wants sam or hf, got '%s'\n", layout);
        return 2;
    }
    if (strcmp(dtype, "f32") && strcmp(dtype, "f16")) {
        fprintf(stderr, "medsam: --dtype wants f32 or f16, got '%s'\n", dtype);
        return 2;
    }
    if (!has_suffix(out, ".safetensors")) {
        fprintf(stderr, "medsam: %s: the output name must end in .safetensors\n", out);
        return 2;
    }
    medsam_error err;
    medsam_model *model = NULL;
    if (medsam_model_load(in, &model, &err)) return cli_fail(&err); /* only files that load as a model */
    if (box_zoom < 0) box_zoom = medsam_model_get_box_zoom(model);
    medsam_model_free(model);
    ms_tensor_source *src = NULL;
    if (ms_source_open(in, &src, &err)) return cli_fail(&err);
    int n = 0, count = ms_source_count(src);
    st_out_tensor *t = calloc(count > 0 ? (size_t)count : 1, sizeof *t);
    int rc = t ? collect(src, !strcmp(layout, "hf"), t, &n, &err) : cli_failf("out of memory");
    long long numel = 0;
    for (int i = 0; i < n; i++) {
        long long k = 1;
        for (int d = 0; d < t[i].ndim; d++) k *= t[i].shape[d];
        numel += k;
    }
    char zoom_text[32];
    snprintf(zoom_text, sizeof zoom_text, "%g", box_zoom);
    const char *const meta[] = {"format", "pt", MS_BOX_ZOOM_METADATA, zoom_text};
    int f16 = !strcmp(dtype, "f16");
    if (!rc && st_write(out, t, n, meta, box_zoom > 0 ? 2 : 1, f16, &err)) rc = cli_fail(&err);
    if (!rc)
        printf("%s: %d tensors, %lld values, %s, %s layout (from %s: %s)\n", out, n, numel, f16 ? "float16" : "float32",
               strcmp(layout, "hf") ? "official" : "transformers SamModel", in, ms_source_describe(src));
    for (int i = 0; t && i < n; i++) {
        free((char *)t[i].name);
        free((float *)t[i].data);
    }
    free(t);
    ms_source_close(src);
    return rc;
}
