/* parity_lite.c — the C TinyViT encoder on a full-size LiteMedSAM against the
 * official PyTorch modules, stage by stage, plus box -> logits (data written by
 * tools/ref/check_lite_encoder.py). Not run by `make test` (a 39 MB checkpoint
 * made by PyTorch); build and run by hand:
 *
 *   /usr/bin/python3 tools/ref/check_lite_encoder.py /tmp/medsam_lite
 *   make build/libmedsam.a && cc -std=c11 -D_DEFAULT_SOURCE -O2 -fopenmp -Iinclude -Isrc -Itests \
 *       tests/parity_lite.c build/libmedsam.a -o build/parity_lite -lpng -ljpeg -lz -lm
 *   ./build/parity_lite /tmp/medsam_lite [threads]
 *
 * Passes when every stage, the embedding and the logits are within relL2 1e-5
 * (per element |d| <= 1e-4 + 1e-4 |ref|). Prints the encoder time of one run. */
#include <time.h>

#include "api/model_internal.h"
#include "core/npy.h"
#include "model/tinyvit.h"
#include "test.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *dir;
    double last, last_cpu;
} ctx_t;

/* Process CPU time (less sensitive than wall time to other load on a shared machine). */
static double cpu_s(void) { return (double)clock() / CLOCKS_PER_SEC; }

static float *read_f32(const char *dir, const char *name, long want) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ms_npy a;
    medsam_error err = {0};
    float *f = NULL;
    if (ms_npy_read(path, &a, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return NULL;
    }
    if (a.count != want) CHECK(0, "%s: %lld values, expected %ld", path, (long long)a.count, want);
    else if (ms_npy_to_f32(&a, &f, &err) != MEDSAM_OK) CHECK(0, "%s", err.message);
    ms_npy_free(&a);
    return f;
}

/* Trace hook: compares each stage with DIR/stage/NAME.npy (the time spent here is excluded). */
static void compare_stage(void *vctx, const char *stage, const float *data, long n) {
    ctx_t *c = vctx;
    const double t = now_s(), tc = cpu_s();
    printf("  %-20s %6.3f s (cpu %6.3f s)  ", stage, t - c->last, tc - c->last_cpu);
    char name[96];
    snprintf(name, sizeof name, "stage/%s.npy", stage);
    float *ref = read_f32(c->dir, name, n);
    if (ref) t_close(stage, data, ref, n, 1e-4, 1e-4, 1e-5);
    free(ref);
    c->last = now_s();
    c->last_cpu = cpu_s();
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/medsam_lite";
    const int nthreads = argc > 2 ? atoi(argv[2]) : 2;
    char path[1024];
    snprintf(path, sizeof path, "%s/model.pth", dir);
    medsam_model *m = NULL;
    medsam_error err = {0};
    if (medsam_model_load(path, &m, &err) != MEDSAM_OK) return printf("%s\n", err.message), 1;
    char desc[2048];
    medsam_model_describe(m, desc, sizeof desc);
    printf("%s\n", desc);
    const ms_config *c = &m->cfg;
    const long S = c->img_size, ne = (long)c->out_chans * c->grid * c->grid;
    float *img = read_f32(dir, "input.npy", 3 * S * S), *ref = read_f32(dir, "embedding.npy", ne);
    float *emb = malloc(sizeof(float) * ne), *emb2 = malloc(sizeof(float) * ne);
    float *work = malloc(sizeof(float) * m->enc_ops->workspace_floats(c));
    if (!img || !ref || !emb || !work) return printf("missing data\n"), 1;
    ctx_t cx = {dir, now_s(), cpu_s()};
    CHECK(ms_tinyvit_encode(c, m->enc_state, img, emb, work, nthreads, compare_stage, &cx, &err) == MEDSAM_OK, "%s",
          err.message);
    t_close("embedding vs torch", emb, ref, ne, 1e-4, 1e-4, 1e-5);
    const double t0 = now_s(), c0 = cpu_s();
    CHECK(ms_tinyvit_encode(c, m->enc_state, img, emb2, work, nthreads, NULL, NULL, &err) == MEDSAM_OK, "%s",
          err.message);
    printf("encoder: %.3f s with %d threads, %.3f s of CPU (one run)\n", now_s() - t0, nthreads, cpu_s() - c0);
    CHECK(memcmp(emb, emb2, sizeof(float) * ne) == 0, "traced and untraced runs differ");

    medsam_embedding *e = NULL;
    float *box = read_f32(dir, "box.npy", 4), *lref = read_f32(dir, "logits.npy", 256L * 256);
    if (box && lref && medsam_embedding_from_data(m, emb, ne, &e, &err) == MEDSAM_OK) {
        medsam_box b = {box[0], box[1], box[2], box[3]};
        float *logits = malloc(sizeof(float) * 256 * 256);
        CHECK(medsam_decode_boxes(m, e, 256, 256, &b, 1, nthreads, logits, NULL, NULL, &err) == MEDSAM_OK, "%s",
              err.message);
        t_close("logits (box) vs torch", logits, lref, 256L * 256, 1e-4, 1e-4, 1e-5);
        free(logits);
    }
    medsam_embedding_free(e);
    free(box), free(lref), free(img), free(ref), free(emb), free(emb2), free(work);
    medsam_model_free(m);
    return t_summary();
}
