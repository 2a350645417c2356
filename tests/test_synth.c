/* test_synth.c — the synthetic-case generator: reproducible from (seed, index)
 * alone, every modality gives the declared channels, labels 1..n each present,
 * a non-constant image, and the kinds the data set promises all occur. */
#include <stdlib.h>
#include <string.h>

#include "synth/synth.h"
#include "test.h"

static int same_case(const ms_synth_case *a, const ms_synth_case *b) {
    size_t n = (size_t)a->size * a->size;
    return a->size == b->size && a->channels == b->channels && a->nlabels == b->nlabels &&
           !memcmp(a->image, b->image, n * a->channels) && !memcmp(a->labels, b->labels, n);
}

int main(void) {
    medsam_error err;
    ms_synth_case a, b;
    /* reproducible from (seed, index), whatever was generated before */
    CHECK(!ms_synth_make(7, 5, 128, -1, &a, &err), "make: %s", err.message);
    for (int i = 0; i < 3; i++) {
        ms_synth_case x;
        ms_synth_make(7, (uint64_t)i, 128, -1, &x, &err);
        ms_synth_free(&x);
    }
    CHECK(!ms_synth_make(7, 5, 128, -1, &b, &err), "make again: %s", err.message);
    CHECK(same_case(&a, &b), "case (7, 5) regenerated identically");
    ms_synth_free(&b);
    CHECK(!ms_synth_make(8, 5, 128, -1, &b, &err) && !same_case(&a, &b), "another seed gives another case");
    ms_synth_free(&a), ms_synth_free(&b);

    int kinds_seen[MS_SYNTH_VESSEL + 1] = {0}, faint = 0, strong = 0;
    for (int m = 0; m < MS_SYNTH_NMOD; m++) {
        int bad = 0;
        for (int idx = 0; idx < 12; idx++) {
            ms_synth_case c;
            if (ms_synth_make(1, (uint64_t)idx, 96 + 32 * (idx % 3), m, &c, &err)) { bad++; continue; }
            const size_t n = (size_t)c.size * c.size;
            long count[256] = {0};
            for (size_t i = 0; i < n; i++) count[c.labels[i]]++;
            int ok = c.modality == (ms_synth_modality)m && c.nlabels >= 1 && c.nlabels <= MS_SYNTH_MAX_LABELS &&
                     c.channels == (m == MS_SYNTH_ENDO || m == MS_SYNTH_PATH ? 3 : 1);
            for (int l = 1; l <= c.nlabels; l++) ok &= count[l] >= 12;
            for (int l = c.nlabels + 1; l < 256; l++) ok &= count[l] == 0;
            uint8_t lo = 255, hi = 0;
            for (size_t i = 0; i < n * c.channels; i++) lo = c.image[i] < lo ? c.image[i] : lo, hi = c.image[i] > hi ? c.image[i] : hi;
            ok &= hi - lo > 40;
            for (int l = 1; l <= c.nlabels; l++) {
                kinds_seen[c.kind[l]]++;
                faint += c.contrast[l] < 0.15f, strong += c.contrast[l] > 0.6f;
                ok &= c.contrast[l] > 0.f && c.contrast[l] <= 1.f;
            }
            bad += !ok;
            ms_synth_free(&c);
        }
        CHECK(!bad, "%s: 12 cases with valid labels, channels and contrast (%d bad)", ms_synth_modality_name(m), bad);
    }
    for (int k = 0; k <= MS_SYNTH_VESSEL; k++) CHECK(kinds_seen[k] > 0, "kind %s occurs", ms_synth_kind_name(k));
    CHECK(faint > 0 && strong > 0, "faint (%d) and strong (%d) objects occur", faint, strong);
    CHECK(ms_synth_make(0, 0, 32, -1, &a, &err) == MEDSAM_ERR_ARG, "size 32 refused: %s", err.message);
    CHECK(ms_synth_modality_parse("us") == MS_SYNTH_US && ms_synth_modality_parse("pet") < 0, "modality names");
    return t_summary();
}
