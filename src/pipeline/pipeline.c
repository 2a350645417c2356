/* pipeline.c — the pipeline kinds: lookup, names, the model's default (see pipeline.h). */
#include "pipeline/pipeline.h"

#include <string.h>

#include "core/error.h"

const ms_pipeline_ops *ms_pipeline_get(medsam_pipeline kind) {
    switch (kind) {
    case MEDSAM_PIPELINE_MEDSAM: return &ms_pipeline_medsam;
    case MEDSAM_PIPELINE_SAM: return &ms_pipeline_sam;
    case MEDSAM_PIPELINE_LITE: return &ms_pipeline_lite;
    default: return NULL;
    }
}

medsam_pipeline ms_pipeline_default(const ms_config *c) {
    return c->encoder == MS_ENC_TINYVIT ? MEDSAM_PIPELINE_LITE : MEDSAM_PIPELINE_MEDSAM;
}

const char *medsam_pipeline_name(medsam_pipeline p) {
    const ms_pipeline_ops *ops = ms_pipeline_get(p);
    return ops ? ops->name : p == MEDSAM_PIPELINE_AUTO ? "auto" : "?";
}

medsam_status medsam_pipeline_parse(const char *name, medsam_pipeline *out, medsam_error *err) {
    static const medsam_pipeline KINDS[] = {MEDSAM_PIPELINE_MEDSAM, MEDSAM_PIPELINE_SAM, MEDSAM_PIPELINE_LITE};
    if (name && !strcmp(name, "auto")) {
        *out = MEDSAM_PIPELINE_AUTO;
        return MEDSAM_OK;
    }
    for (size_t i = 0; name && i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (!strcmp(name, ms_pipeline_get(KINDS[i])->name)) {
            *out = KINDS[i];
            return MEDSAM_OK;
        }
    return ms_error(err, MEDSAM_ERR_ARG, "pipeline '%s': expected medsam, sam, lite or auto", name ? name : "(null)");
}
