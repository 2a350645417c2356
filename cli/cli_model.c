/* cli_model.c — loading a model with the pipeline chosen by --pipeline. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_pipeline_arg(const char *name) {
    medsam_pipeline p;
    medsam_error err;
    if (!medsam_pipeline_parse(name, &p, &err)) return 0;
    fprintf(stderr, "medsam: --pipeline wants medsam, sam, lite or auto, got '%s'\n", name);
    return 2;
}

int cli_load_model(const char *path, const char *pipeline, medsam_model **out) {
    medsam_error err;
    medsam_pipeline p = MEDSAM_PIPELINE_AUTO;
    *out = NULL;
    if (pipeline && medsam_pipeline_parse(pipeline, &p, &err)) return cli_fail(&err);
    if (medsam_model_load(path, out, &err)) return cli_fail(&err);
    if (p != MEDSAM_PIPELINE_AUTO && medsam_model_set_pipeline(*out, p, &err)) {
        fprintf(stderr, "medsam: %s: %s\n", path, err.message);
        medsam_model_free(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}

int cli_box_zoom_arg(const char *s, double *out) {
    char *end = NULL;
    double k = strtod(s, &end);
    if (end == s || *end || !(k >= 0 && k <= 100)) {
        fprintf(stderr, "medsam: --box-zoom wants a factor from 0 (off) to 100, got '%s'\n", s);
        return 2;
    }
    *out = k;
    return 0;
}

void cli_set_box_zoom(medsam_model *m, double k) {
    if (k >= 0) medsam_model_set_box_zoom(m, k, NULL); /* in range: checked by cli_box_zoom_arg */
}

int cli_precision_arg(const char *name) {
    medsam_precision p;
    medsam_error err;
    if (!medsam_precision_parse(name, &p, &err)) return 0;
    fprintf(stderr, "medsam: --precision wants fp32 or bf16, got '%s'\n", name);
    return 2;
}

int cli_set_precision(medsam_model *m, const char *path, const char *precision, int verbose) {
    medsam_error err;
    medsam_precision p = MEDSAM_PRECISION_FP32;
    if (precision && medsam_precision_parse(precision, &p, &err)) return cli_fail(&err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (medsam_model_set_precision(m, p, &err)) {
        fprintf(stderr, "medsam: %s: %s\n", path, err.message);
        return 1;
    }
    if (verbose) {
        if (p == MEDSAM_PRECISION_BF16)
        {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            fprintf(stderr, "precision: bf16 encoder linears on %s (weights converted in %.3f s)\n",
                    medsam_bf16_kernel(), (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
        }
        else
            fprintf(stderr, "precision: fp32\n");
    }
    return 0;
}

struct cli_models {
    char *path, *pipeline, *precision; /* the key of the kept model (NULL fields: not given) */
    medsam_model *m;
};

cli_models *cli_models_new(void) { return calloc(1, sizeof(cli_models)); }

static void models_clear(cli_models *k) {
    medsam_model_free(k->m);
    free(k->path), free(k->pipeline), free(k->precision);
    k->m = NULL, k->path = k->pipeline = k->precision = NULL;
}

void cli_models_free(cli_models *keep) {
    if (!keep) return;
    models_clear(keep);
    free(keep);
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static char *dup_or_null(const char *s, int *oom) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

int cli_model_open(cli_models *keep, const char *path, const char *pipeline, const char *precision, int verbose,
                   medsam_model **out) {
    *out = NULL;
    if (keep && keep->m && same_str(keep->path, path) && same_str(keep->pipeline, pipeline) &&
        same_str(keep->precision, precision)) {
        *out = keep->m;
        return 0;
    }
    medsam_model *m;
    if (cli_load_model(path, pipeline, &m)) return 1;
    if (cli_set_precision(m, path, precision, verbose)) {
        medsam_model_free(m);
        return 1;
    }
    if (keep) {
        models_clear(keep);
        int oom = 0;
        keep->path = dup_or_null(path, &oom), keep->pipeline = dup_or_null(pipeline, &oom);
        keep->precision = dup_or_null(precision, &oom);
        if (oom) models_clear(keep); /* not kept: the caller still gets the model, freed on close */
        else keep->m = m;
    }
    *out = m;
    return 0;
}

void cli_model_close(cli_models *keep, medsam_model *m) {
    if (!m || (keep && keep->m == m)) return;
    medsam_model_free(m);
}
