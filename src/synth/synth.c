/* synth.c — one synthetic case: scene + modality renderer. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "synth/synth_internal.h"

typedef void (*syn_renderer)(syn_rng *, const syn_scene *, uint8_t *, float *);

static const struct {
    const char *name;
    int channels, body_shape;
    syn_renderer render;
} modalities[MS_SYNTH_NMOD] = {
    [MS_SYNTH_CT] = {"ct", 1, 0, syn_render_ct},       [MS_SYNTH_MR] = {"mr", 1, 0, syn_render_mr},
    [MS_SYNTH_US] = {"us", 1, 1, syn_render_us},       [MS_SYNTH_XRAY] = {"xray", 1, 0, syn_render_xray},
    [MS_SYNTH_ENDO] = {"endo", 3, 2, syn_render_endo}, [MS_SYNTH_PATH] = {"path", 3, 3, syn_render_path},
};

static const char *const kind_names[] = {"organ", "lesion", "wall", "lumen", "touching", "vessel"};

const char *ms_synth_modality_name(ms_synth_modality m) {
    return m >= 0 && m < MS_SYNTH_NMOD ? modalities[m].name : "?";
}

const char *ms_synth_kind_name(ms_synth_kind k) {
    return k >= 0 && k <= MS_SYNTH_VESSEL ? kind_names[k] : "?";
}

int ms_synth_modality_parse(const char *s) {
    for (int m = 0; m < MS_SYNTH_NMOD; m++)
        if (!strcmp(s, modalities[m].name)) return m;
    return -1;
}

medsam_status ms_synth_make(uint64_t seed, uint64_t index, int size, int modality, ms_synth_case *out,
                            medsam_error *err) {
    memset(out, 0, sizeof *out);
    if (size < 64 || size > 2048) return ms_error(err, MEDSAM_ERR_ARG, "synthetic image size %d is outside 64..2048", size);
    if (modality >= MS_SYNTH_NMOD) return ms_error(err, MEDSAM_ERR_ARG, "unknown synthetic modality %d", modality);
    const ms_synth_modality m = modality < 0 ? (ms_synth_modality)(index % MS_SYNTH_NMOD) : (ms_synth_modality)modality;
    const size_t n = (size_t)size * size;
    syn_scene sc = {.S = size};
    sc.labels = malloc(n), sc.body = malloc(n), sc.dense = malloc(n);
    sc.prop = malloc(n * sizeof(float));
    float *scratch = malloc(4 * n * sizeof(float));
    uint8_t *image = malloc(n * modalities[m].channels);
    if (!sc.labels || !sc.body || !sc.dense || !sc.prop || !scratch || !image) {
        free(sc.labels), free(sc.body), free(sc.dense), free(sc.prop), free(scratch), free(image);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate a %dx%d synthetic case", size, size);
    }
    syn_rng rng;
    syn_rng_seed(&rng, seed, index);
    do syn_scene_build(&rng, &sc, modalities[m].body_shape);  /* again, rarely, until a label survives */
    while (sc.nlabels == 0);
    modalities[m].render(&rng, &sc, image, scratch);
    free(sc.body), free(sc.dense), free(sc.prop), free(scratch);
    out->size = size, out->modality = m, out->channels = modalities[m].channels;
    out->image = image, out->labels = sc.labels, out->nlabels = sc.nlabels;
    memcpy(out->kind, sc.kind, sizeof out->kind);
    memcpy(out->contrast, sc.contrast, sizeof out->contrast);
    return MEDSAM_OK;
}

void ms_synth_free(ms_synth_case *c) {
    if (!c) return;
    free(c->image), free(c->labels);
    memset(c, 0, sizeof *c);
}
