/* synth_internal.h — pieces shared by the synthetic-case generator: a small
 * counter-seeded random generator, smooth noise fields, the scene (labels and
 * a tissue-property map) and the modality renderers. */
#ifndef MS_SYNTH_INTERNAL_H
#define MS_SYNTH_INTERNAL_H
#include <stdint.h>

#include "synth/synth.h"

/* xoshiro256** seeded through splitmix64: a plain value, one per case. */
typedef struct {
    uint64_t s[4];
} syn_rng;

void syn_rng_seed(syn_rng *r, uint64_t seed, uint64_t stream);
uint64_t syn_u64(syn_rng *r);
double syn_uniform(syn_rng *r, double lo, double hi); /* [lo, hi) */
int syn_int(syn_rng *r, int lo, int hi);              /* lo..hi inclusive */
double syn_normal(syn_rng *r);                        /* standard normal */

/* ---- fields over an S x S grid (row-major floats) ---- */

/* out (S, S) := sum over octaves of value noise on a (cells+1)^2 lattice with
 * smoothstep interpolation, amplitude halved per octave; roughly in [-1, 1]. */
void syn_noise(syn_rng *r, float *out, int S, int cells, int octaves);
/* In-place separable Gaussian blur of f (h, w) with standard deviation sigma (pixels);
 * scratch: (h * w) floats. Borders are clamped. */
void syn_blur(float *f, int w, int h, float sigma, float *scratch);
/* The q-quantile (0..1) of n values (copied, nth element). */
float syn_quantile(const float *v, long n, double q, float *scratch);

/* ---- the scene ---- */

typedef struct {
    int S;
    uint8_t *labels;    /* (S, S) 0..nlabels */
    float *prop;        /* (S, S) tissue property: body background ~0.5, objects differ by their contrast */
    uint8_t *body;      /* (S, S) 1 inside the imaged body / field of view */
    uint8_t *dense;     /* (S, S) 1 on unlabelled dense distractors (bone, calcification) */
    int nlabels;
    ms_synth_kind kind[MS_SYNTH_MAX_LABELS + 1];
    float contrast[MS_SYNTH_MAX_LABELS + 1];
} syn_scene;

/* Places the objects of one case and rasterises labels, prop, body and dense.
 * body_shape: 0 ellipse (ct, mr, xray), 1 fan (us), 2 disc (endo), 3 full (path). */
void syn_scene_build(syn_rng *r, syn_scene *sc, int body_shape);

/* Each renderer writes image (S, S, channels) from the scene. scratch: 4 * S * S floats. */
void syn_render_ct(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch);
void syn_render_mr(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch);
void syn_render_us(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch);
void syn_render_xray(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch);
void syn_render_endo(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch);
void syn_render_path(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch);

/* v clamped to 0..255 and rounded. */
static inline uint8_t syn_u8(float v) {
    return v <= 0.f ? 0 : v >= 255.f ? 255 : (uint8_t)(v + 0.5f);
}

#endif
