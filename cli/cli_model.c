/* cli_model.c — loading a model with the pipeline chosen by --pipeline. */
#include <stdio.h>

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
