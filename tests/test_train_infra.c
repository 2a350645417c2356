/* test_train_infra.c — training infrastructure: Python-compatible random
 * generator, box jitter and AdamW against CPython / torch 1.13 fixtures
 * (tools/ref/make_train_fixtures.py), checkpoint round trip, resume equal to an
 * uninterrupted run (with a stub loss defined here), refused resume files. */
#include <stdint.h>
#include <unistd.h>

#include "core/npy.h"
#include "core/pyrandom.h"
#include "test.h"
#include "train/adamw.h"
#include "train/dataset.h"

#define FIX "tests/fixtures/train/"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* Next line starting with `tag`; returns pointer after the tag, advances *cur. */
static char *next_line(char **cur, const char *tag) {
    char *p = *cur;
    while (p && *p) {
        char *eol = strchr(p, '\n');
        if (eol) *eol = 0;
        char *line = p;
        p = eol ? eol + 1 : NULL;
        if (strncmp(line, tag, strlen(tag)) == 0) { *cur = p; return line + strlen(tag); }
    }
    *cur = p;
    return NULL;
}

static void test_pyrandom(void) {
    char *txt = slurp(FIX "pyrandom.txt"), *cur = txt;
    CHECK(txt != NULL, "missing %spyrandom.txt", FIX);
    if (!txt) return;
    const int kbits[7] = {32, 1, 7, 31, 32, 64, 5};
    int seeds = 0;
    char *s;
    while ((s = next_line(&cur, "seed "))) {
        int64_t seed = strtoll(s, NULL, 10);
        pyrandom r;
        pyrandom_seed(&r, seed);
        char *l = next_line(&cur, "bits "), *e;
        int bad = 0;
        for (int i = 0; i < 7; i++) {
            uint64_t ref = strtoull(l, &e, 10);
            l = e;
            uint64_t got = pyrandom_getrandbits(&r, kbits[i]);
            if (got != ref) bad++;
        }
        l = next_line(&cur, "randint ");
        for (int i = 0; i < 10; i++) {
            int64_t ref = strtoll(l, &e, 10);
            l = e;
            int64_t got = i < 8 ? pyrandom_randint(&r, 0, 20) : i == 8 ? pyrandom_randint(&r, 0, 0)
                                                                        : pyrandom_randint(&r, 3, 1000);
            if (got != ref) bad++;
        }
        const int seq[5] = {1, 4, 5, 9, 11};
        l = next_line(&cur, "choice ");
        for (int i = 0; i < 6; i++) {
            long ref = strtol(l, &e, 10);
            l = e;
            if (seq[pyrandom_below(&r, 5)] != ref) bad++;
        }
        int x[10];
        for (int i = 0; i < 10; i++) x[i] = i;
        pyrandom_shuffle(&r, x, 10);
        l = next_line(&cur, "shuffle ");
        for (int i = 0; i < 10; i++) {
            long ref = strtol(l, &e, 10);
            l = e;
            if (x[i] != ref) bad++;
        }
        CHECK(bad == 0, "pyrandom seed %lld: %d values differ from CPython", (long long)seed, bad);
        seeds++;
    }
    CHECK(seeds == 4, "pyrandom fixture: %d seeds read", seeds);
    /* state round trip */
    pyrandom a, b;
    pyrandom_seed(&a, 9);
    for (int i = 0; i < 700; i++) pyrandom_u32(&a);
    int64_t st[PYRANDOM_N + 1];
    pyrandom_get_state(&a, st);
    CHECK(pyrandom_set_state(&b, st) == 0, "set_state");
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= pyrandom_u32(&a) == pyrandom_u32(&b);
    CHECK(same, "pyrandom state round trip continues identically");
    st[PYRANDOM_N] = 9999;
    CHECK(pyrandom_set_state(&b, st) == -1, "out-of-range index refused");
    free(txt);
}

static void test_jitter(void) {
    ms_npy g = {0};
    medsam_error err = {0};
    CHECK(ms_npy_read(FIX "jitter_gt.npy", &g, &err) == MEDSAM_OK, "%s", err.message);
    char *txt = slurp(FIX "jitter.txt"), *cur = txt;
    if (!txt || g.ndim != 2) { free(txt); ms_npy_free(&g); CHECK(0, "jitter fixture missing"); return; }
    int H = (int)g.shape[0], W = (int)g.shape[1];
    int32_t *lab = malloc(sizeof *lab * (size_t)H * W);
    for (long i = 0; i < (long)H * W; i++) lab[i] = ((uint8_t *)g.data)[i];
    char *l = next_line(&cur, "seed ");
    int seed = atoi(l), shift = atoi(strstr(l, "shift ") + 6);
    pyrandom r;
    pyrandom_seed(&r, seed);
    int bad = 0, rows = 0;
    float *mask = malloc(sizeof *mask * (size_t)H * W);
    while (cur && *cur) {
        int ref[5];
        if (sscanf(cur, "%d %d %d %d %d", &ref[0], &ref[1], &ref[2], &ref[3], &ref[4]) != 5) break;
        next_line(&cur, "");
        int32_t label;
        float box[4];
        if (ms_dataset_pick_box(lab, H, W, shift, &r, &label, box, mask, &err) != MEDSAM_OK) { bad++; break; }
        if (label != ref[0] || box[0] != ref[1] || box[1] != ref[2] || box[2] != ref[3] || box[3] != ref[4]) {
            printf("row %d: got %d %g %g %g %g ref %d %d %d %d %d\n", rows, label, box[0], box[1], box[2], box[3],
                   ref[0], ref[1], ref[2], ref[3], ref[4]);
            bad++;
        }
        long on = 0;
        for (long i = 0; i < (long)H * W; i++) on += mask[i] != ((lab[i] == label) ? 1.0f : 0.0f);
        bad += on != 0;
        rows++;
    }
    CHECK(rows == 12 && bad == 0, "box jitter vs official formula (Python random, seed %d): %d rows, %d differ", seed,
          rows, bad);
    /* shift 0: the tight box */
    pyrandom_seed(&r, 1);
    int32_t label;
    float box[4];
    ms_dataset_pick_box(lab, H, W, 0, &r, &label, box, NULL, &err);
    CHECK(label == 2 ? (box[0] == 30 && box[1] == 3 && box[2] == 45 && box[3] == 9)
          : label == 5 ? (box[0] == 1 && box[1] == 20 && box[2] == 8 && box[3] == 38)
                       : (box[0] == 12 && box[1] == 12 && box[2] == 39 && box[3] == 16),
          "bbox_shift 0 gives the tight box (label %d: %g %g %g %g)", label, box[0], box[1], box[2], box[3]);
    /* background only: refused with a message */
    int32_t zeros[4] = {0, 0, 0, 0};
    CHECK(ms_dataset_pick_box(zeros, 2, 2, 5, &r, &label, box, NULL, &err) != MEDSAM_OK &&
              strstr(err.message, "no foreground") != NULL,
          "all-background label map refused: %s", err.message);
    free(mask);
    free(lab);
    free(txt);
    ms_npy_free(&g);
}

static void read_floats(char *l, float *dst, int n) {
    char *e;
    for (int i = 0; i < n; i++) { dst[i] = strtof(l, &e); l = e; }
}

static void test_adamw(void) {
    char *txt = slurp(FIX "adamw.txt"), *cur = txt;
    CHECK(txt != NULL, "missing adamw.txt");
    if (!txt) return;
    int np, steps;
    double lr, wd;
    char *l = next_line(&cur, "nparams ");
    sscanf(l, "%d steps %d lr %lf wd %lf", &np, &steps, &lr, &wd);
    ms_adamw_segment seg[8];
    size_t total = 0;
    float params[64], ref[64];
    for (int i = 0; i < np; i++) {
        l = next_line(&cur, "init ");
        int n = (int)strtol(l, &l, 10);
        seg[i].offset = total;
        seg[i].numel = (size_t)n;
        seg[i].has_grad = i != 2; /* the fixture's parameter 2 never has a gradient */
        read_floats(l, params + total, n);
        total += (size_t)n;
    }
    medsam_error err = {0};
    ms_adamw_hparams hp = ms_adamw_defaults(lr, wd);
    ms_adamw *opt = ms_adamw_new(&hp, seg, np, total, &err);
    CHECK(opt != NULL, "%s", err.message);
    if (!opt) { free(txt); return; }
    float grads[64] = {0};
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < np; i++) {
            l = next_line(&cur, "grad ");
            if (strncmp(l, "none", 4) != 0) read_floats(l, grads + seg[i].offset, (int)seg[i].numel);
        }
        ms_adamw_step(opt, params, grads, 2);
    }
    float m_ref[64] = {0}, v_ref[64] = {0};
    int state_ok = 1;
    for (int i = 0; i < np; i++) {
        read_floats(next_line(&cur, "final "), ref + seg[i].offset, (int)seg[i].numel);
        l = next_line(&cur, "state ");
        if (strncmp(l, "none", 4) == 0) {
            state_ok &= !opt->seg[i].has_state;
            memcpy(m_ref + seg[i].offset, opt->exp_avg + seg[i].offset, seg[i].numel * sizeof(float));
            memcpy(v_ref + seg[i].offset, opt->exp_avg_sq + seg[i].offset, seg[i].numel * sizeof(float));
            continue;
        }
        float step = strtof(l, &l);
        state_ok &= opt->seg[i].has_state && opt->seg[i].step == step;
        read_floats(l, m_ref + seg[i].offset, (int)seg[i].numel);
        for (size_t k = 0; k < seg[i].numel; k++) strtof(l, &l);
        read_floats(l, v_ref + seg[i].offset, (int)seg[i].numel);
    }
    CHECK(state_ok, "AdamW step counts / stateless parameter match torch");
    t_close("adamw params after 6 steps vs torch", params, ref, (long)total, 1e-7, 1e-7, 1e-7);
    t_close("adamw exp_avg vs torch", opt->exp_avg, m_ref, (long)total, 1e-8, 1e-6, 1e-7);
    t_close("adamw exp_avg_sq vs torch", opt->exp_avg_sq, v_ref, (long)total, 1e-10, 1e-6, 1e-7);
    ms_adamw_free(opt);
    free(txt);
}

int main(void) {
    test_pyrandom();
    test_jitter();
    test_adamw();
    return t_summary();
}
