/* scene.c — the objects of a synthetic case: where they are, which label they
 * carry and how far their tissue property stands from their surroundings. */
#include <math.h>
#include <string.h>

#include "synth/synth_internal.h"

#define TWO_PI 6.283185307179586f

typedef struct {          /* a smooth star-shaped blob */
    float cx, cy, r0;     /* centre and base radius (pixels) */
    float aspect, rot;    /* y stretch and rotation */
    float amp[7], phase[7];  /* radius harmonics k = 2..6 */
} blob;

static void blob_random(syn_rng *r, blob *b, float cx, float cy, float r0, float wobble) {
    b->cx = cx, b->cy = cy, b->r0 = r0;
    b->aspect = (float)syn_uniform(r, 0.55, 1.0);
    b->rot = (float)syn_uniform(r, 0.0, TWO_PI);
    for (int k = 2; k <= 6; k++) {
        b->amp[k] = wobble * (float)syn_uniform(r, 0.0, 0.25) / (float)(k - 1);
        b->phase[k] = (float)syn_uniform(r, 0.0, TWO_PI);
    }
}

/* Signed radial margin: > 0 inside. */
static float blob_margin(const blob *b, float x, float y) {
    float dx = x - b->cx, dy = y - b->cy;
    float c = cosf(b->rot), s = sinf(b->rot);
    float u = c * dx + s * dy, v = (-s * dx + c * dy) / b->aspect;
    float d = sqrtf(u * u + v * v), th = atan2f(v, u), rr = 1.f;
    for (int k = 2; k <= 6; k++) rr += b->amp[k] * cosf(k * th + b->phase[k]);
    return b->r0 * rr - d;
}

/* Paints the blob: labels := label (when label >= 0), prop := value, dense := dense_flag. */
static void paint_blob(syn_scene *sc, const blob *b, int label, float value, int dense_flag) {
    const int S = sc->S;
    float ext = b->r0 * 1.7f / (b->aspect < 1.f ? b->aspect : 1.f);
    int x0 = (int)floorf(b->cx - ext), x1 = (int)ceilf(b->cx + ext);
    int y0 = (int)floorf(b->cy - ext), y1 = (int)ceilf(b->cy + ext);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > S - 1) x1 = S - 1;
    if (y1 > S - 1) y1 = S - 1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            if (!sc->body[(size_t)y * S + x] || blob_margin(b, x + 0.5f, y + 0.5f) <= 0.f) continue;
            size_t i = (size_t)y * S + x;
            if (label >= 0) sc->labels[i] = (uint8_t)label;
            sc->prop[i] = value;
            sc->dense[i] = (uint8_t)dense_flag;
        }
}

/* A smooth curve of given thickness (pixels), stamped as discs along its path. */
static void paint_vessel(syn_rng *r, syn_scene *sc, float x, float y, int label, float value) {
    const int S = sc->S;
    float th = (float)syn_uniform(r, 0.0, TWO_PI), turn = 0.f;
    float len = (float)syn_uniform(r, 0.25, 0.8) * S, step = 0.5f;
    float rad = 0.5f * (float)syn_uniform(r, 1.5, 7.0) * S / 256.f, taper = (float)syn_uniform(r, 0.5, 1.0);
    if (rad < 0.75f) rad = 0.75f;
    for (float t = 0.f; t < len; t += step) {
        turn += (float)syn_normal(r) * 0.004f;
        if (turn > 0.03f) turn = 0.03f;
        if (turn < -0.03f) turn = -0.03f;
        th += turn;
        x += step * cosf(th), y += step * sinf(th);
        float rr = rad * (1.f - (1.f - taper) * t / len);
        int bx0 = (int)floorf(x - rr), bx1 = (int)ceilf(x + rr), by0 = (int)floorf(y - rr), by1 = (int)ceilf(y + rr);
        for (int yy = by0; yy <= by1; yy++)
            for (int xx = bx0; xx <= bx1; xx++) {
                if (xx < 0 || yy < 0 || xx >= S || yy >= S) continue;
                float dx = xx + 0.5f - x, dy = yy + 0.5f - y;
                size_t i = (size_t)yy * S + xx;
                if (dx * dx + dy * dy > rr * rr || !sc->body[i]) continue;
                sc->labels[i] = (uint8_t)label, sc->prop[i] = value, sc->dense[i] = 0;
            }
    }
}

static void build_body(syn_rng *r, syn_scene *sc, int shape) {
    const int S = sc->S;
    float cx = S * (float)syn_uniform(r, 0.45, 0.55), cy = S * (float)syn_uniform(r, 0.45, 0.55);
    float ax = S * (float)syn_uniform(r, 0.40, 0.49), ay = S * (float)syn_uniform(r, 0.32, 0.47);
    float apex_y = -S * (float)syn_uniform(r, 0.02, 0.12), half = (float)syn_uniform(r, 0.45, 0.7);
    float rmin = S * 0.08f - apex_y, rmax = S * (float)syn_uniform(r, 0.9, 1.1) - apex_y;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float fx = x + 0.5f, fy = y + 0.5f;
            int in = 1;
            if (shape == 0) {
                float u = (fx - cx) / ax, v = (fy - cy) / ay;
                in = u * u + v * v <= 1.f;
            } else if (shape == 1) {
                float dx = fx - S * 0.5f, dy = fy - apex_y, d = sqrtf(dx * dx + dy * dy);
                in = d >= rmin && d <= rmax && fabsf(atan2f(dx, dy)) <= half;
            } else if (shape == 2) {
                float dx = fx - S * 0.5f, dy = fy - S * 0.5f;
                in = dx * dx + dy * dy <= 0.25f * S * S * 1.02f;
            }
            sc->body[(size_t)y * S + x] = (uint8_t)in;
        }
}

/* A random point inside label `lab` (or inside the body when lab == 0), with
 * its (x, y); 0 when none was found in a bounded number of tries. */
static int point_in(syn_rng *r, const syn_scene *sc, int lab, float *x, float *y) {
    const int S = sc->S;
    for (int t = 0; t < 4000; t++) {
        int xx = syn_int(r, 0, S - 1), yy = syn_int(r, 0, S - 1);
        size_t i = (size_t)yy * S + xx;
        if (!sc->body[i] || (lab > 0 && sc->labels[i] != lab) || (lab == 0 && sc->labels[i])) continue;
        *x = xx + 0.5f, *y = yy + 0.5f;
        return 1;
    }
    return 0;
}

/* Contrast drawn log-uniformly from faint (0.06) to strong (1). */
static float draw_contrast(syn_rng *r) { return expf((float)syn_uniform(r, logf(0.06f), 0.f)); }
static float draw_sign(syn_rng *r) { return syn_u64(r) & 1 ? 1.f : -1.f; }

void syn_scene_build(syn_rng *r, syn_scene *sc, int body_shape) {
    const int S = sc->S;
    const size_t n = (size_t)S * S;
    memset(sc->labels, 0, n);
    memset(sc->dense, 0, n);
    build_body(r, sc, body_shape);
    for (size_t i = 0; i < n; i++) sc->prop[i] = sc->body[i] ? 0.5f : 0.f;
    sc->nlabels = 0;

    /* unlabelled distractors: soft blobs and dense structures (bone, calcification) */
    int nd = syn_int(r, 0, 3);
    for (int d = 0; d < nd; d++) {
        float x, y;
        if (!point_in(r, sc, 0, &x, &y)) break;
        blob b;
        int dense = syn_int(r, 0, 2) == 0;
        blob_random(r, &b, x, y, S * (float)syn_uniform(r, 0.02, dense ? 0.06 : 0.12), 1.f);
        paint_blob(sc, &b, -1, dense ? 0.95f : 0.5f + 0.3f * draw_sign(r) * draw_contrast(r), dense);
    }

    blob organs[MS_SYNTH_MAX_LABELS + 1];
    float value[MS_SYNTH_MAX_LABELS + 1];
    const int want = syn_int(r, 1, 5);
    for (int tries = 0; sc->nlabels < want && tries < 40; tries++) {
        int lab = sc->nlabels + 1, roll = syn_int(r, 0, 99);
        ms_synth_kind kind = roll < 35 ? MS_SYNTH_ORGAN : roll < 55 ? MS_SYNTH_LESION : roll < 65 ? MS_SYNTH_WALL
                           : roll < 80 ? MS_SYNTH_TOUCHING : MS_SYNTH_VESSEL;
        int parent = 0;  /* an earlier blob label to nest in or touch */
        for (int k = 1; k <= sc->nlabels; k++)
            if (sc->kind[k] == MS_SYNTH_ORGAN || sc->kind[k] == MS_SYNTH_TOUCHING) parent = k;
        if ((kind == MS_SYNTH_LESION || kind == MS_SYNTH_TOUCHING) && !parent) kind = MS_SYNTH_ORGAN;
        if (kind == MS_SYNTH_WALL && lab + 1 > MS_SYNTH_MAX_LABELS) kind = MS_SYNTH_ORGAN;
        float c = draw_contrast(r), sgn = draw_sign(r), x, y;
        blob b;
        if (kind == MS_SYNTH_LESION) {
            if (!point_in(r, sc, parent, &x, &y)) continue;
            blob_random(r, &b, x, y, organs[parent].r0 * (float)syn_uniform(r, 0.15, 0.45), 1.f);
            value[lab] = value[parent] + sgn * 0.35f * c;
        } else if (kind == MS_SYNTH_TOUCHING) {
            const blob *p = &organs[parent];
            float th = (float)syn_uniform(r, 0.0, TWO_PI), r0 = S * (float)syn_uniform(r, 0.05, 0.15);
            float dist = (p->r0 * 0.85f + r0) * (float)syn_uniform(r, 0.85, 1.0);
            blob_random(r, &b, p->cx + dist * cosf(th), p->cy + dist * sinf(th), r0, 0.8f);
            value[lab] = value[parent] + sgn * 0.35f * c;  /* its contrast is against the neighbour */
        } else if (kind == MS_SYNTH_VESSEL) {
            if (!point_in(r, sc, 0, &x, &y)) continue;
            value[lab] = 0.5f + sgn * 0.35f * c;
            sc->kind[lab] = kind, sc->contrast[lab] = c, sc->nlabels = lab;
            paint_vessel(r, sc, x, y, lab, value[lab]);
            continue;
        } else {  /* organ, or the wall of a wall + lumen pair */
            if (!point_in(r, sc, 0, &x, &y)) continue;
            blob_random(r, &b, x, y, S * (float)syn_uniform(r, 0.06, kind == MS_SYNTH_WALL ? 0.16 : 0.22), 1.f);
            value[lab] = 0.5f + sgn * 0.35f * c;
        }
        organs[lab] = b;
        sc->kind[lab] = kind, sc->contrast[lab] = c, sc->nlabels = lab;
        paint_blob(sc, &b, lab, value[lab], 0);
        if (kind == MS_SYNTH_WALL) {  /* the lumen: the same shape, smaller, nested inside */
            int lum = lab + 1;
            blob in = b;
            in.r0 = b.r0 * (float)syn_uniform(r, 0.5, 0.8);
            float c2 = draw_contrast(r);
            value[lum] = value[lab] + draw_sign(r) * 0.35f * c2;
            organs[lum] = in;
            sc->kind[lum] = MS_SYNTH_LUMEN, sc->contrast[lum] = c2, sc->nlabels = lum;
            paint_blob(sc, &in, lum, value[lum], 0);
        }
    }

    /* drop labels that later objects covered almost entirely; renumber 1..n */
    long count[MS_SYNTH_MAX_LABELS + 1] = {0};
    for (size_t i = 0; i < n; i++) count[sc->labels[i]]++;
    uint8_t remap[MS_SYNTH_MAX_LABELS + 1] = {0};
    int kept = 0;
    const long min_pixels = 12 + (long)S * S / 20000;
    for (int k = 1; k <= sc->nlabels; k++)
        if (count[k] >= min_pixels) {
            remap[k] = (uint8_t)++kept;
            sc->kind[kept] = sc->kind[k], sc->contrast[kept] = sc->contrast[k];
        }
    for (size_t i = 0; i < n; i++) sc->labels[i] = remap[sc->labels[i]];
    sc->nlabels = kept;
}
