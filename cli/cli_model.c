/* cli_model.c — loading a model with the pipeline chosen by --pipeline. */
#include <stdio.h>
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
