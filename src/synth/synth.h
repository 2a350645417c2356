/* synth.h — procedural training images with exact masks (the data behind the
 * bundled default model, issue 12). Each case is a function of (seed, index)
 * alone, so any case can be regenerated without the ones before it, on any
 * number of threads, and a data set is reproduced by its seed.
 *
 * A case is a scene — organ-like smooth blobs, lesions inside organs, nested
 * wall/lumen pairs, touching objects, vessels and other thin curved
 * structures, plus unlabelled distractors — rendered with the look of one
 * modality MedSAM covers:
 *   ct    Hounsfield-like values, correlated Gaussian noise, a CT window
 *   mr    multiplicative bias field, Rician noise, percentile normalisation
 *   us    fan-shaped field, speckle, depth attenuation, acoustic shadows
 *   xray  projection-like densities, blur, sometimes inverted
 *   endo  RGB mucosa, tinted lesions, specular highlights, vignetting
 *   path  H&E stains by Beer-Lambert optical densities, nuclei texture
 * Object-to-surrounding contrast is drawn per object from strong to faint.
 * Every case has at least one label. Labels are 1..nlabels in paint order (a later object wins where they
 * overlap); distractors never carry a label. */
#ifndef MS_SYNTH_H
#define MS_SYNTH_H
#include <stdint.h>

#include "medsam.h"

#define MS_SYNTH_MAX_LABELS 6

typedef enum { MS_SYNTH_CT, MS_SYNTH_MR, MS_SYNTH_US, MS_SYNTH_XRAY, MS_SYNTH_ENDO, MS_SYNTH_PATH, MS_SYNTH_NMOD } ms_synth_modality;

typedef enum { MS_SYNTH_ORGAN, MS_SYNTH_LESION, MS_SYNTH_WALL, MS_SYNTH_LUMEN, MS_SYNTH_TOUCHING, MS_SYNTH_VESSEL } ms_synth_kind;

typedef struct {
    int size;                        /* S: the image is S x S */
    ms_synth_modality modality;
    int channels;                    /* 1 (ct, mr, us, xray) or 3 (endo, path) */
    uint8_t *image;                  /* (S, S, channels) */
    uint8_t *labels;                 /* (S, S): 0 background, 1..nlabels */
    int nlabels;
    ms_synth_kind kind[MS_SYNTH_MAX_LABELS + 1];  /* kind[k] of label k (k >= 1) */
    float contrast[MS_SYNTH_MAX_LABELS + 1];      /* contrast[k] in (0, 1]: 1 strong, small faint */
} ms_synth_case;

const char *ms_synth_modality_name(ms_synth_modality m);
const char *ms_synth_kind_name(ms_synth_kind k);
/* "ct", "mr", "us", "xray", "endo", "path" -> modality; -1 otherwise. */
int ms_synth_modality_parse(const char *s);

/* Case `index` of the data set `seed`, S = size (64..2048). modality < 0 picks
 * index % MS_SYNTH_NMOD. Free with ms_synth_free. */
medsam_status ms_synth_make(uint64_t seed, uint64_t index, int size, int modality, ms_synth_case *out,
                            medsam_error *err);
void ms_synth_free(ms_synth_case *c);

#endif
