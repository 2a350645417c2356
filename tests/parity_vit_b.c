/* parity_vit_b.c — the C image encoder on a full-size ViT-B against the official
 * PyTorch embedding written by tools/ref/check_vit_b_encoder.py. Not run by
 * `make test` (375 MB of weights, ~10-20 s); build and run by hand:
 *
 *   /usr/bin/python3 tools/ref/check_vit_b_encoder.py /tmp/medsam_vit_b
 *   make build/libmedsam.a && cc -std=c11 -D_DEFAULT_SOURCE -O2 -fopenmp -Iinclude -Isrc -Itests \
 *       tests/parity_vit_b.c build/libmedsam.a -o build/parity_vit_b -lpng -ljpeg -lz -lm
 *   ./build/parity_vit_b /tmp/medsam_vit_b [threads]
 *
 * Reads DIR/params.npy (flat state_dict = the parameter table's buffer),
 * DIR/input.npy (3,1024,1024) and DIR/embedding.npy (256,64,64); prints the
 * encoder time, workspace size, peak RSS and the comparison. Passes when the
 * relative L2 error is <= 1e-5 (per element: |d| <= 1e-4 + 1e-4 |ref|). */
#include <sys/resource.h>
#include <time.h>

#include "core/npy.h"
#include "model/config.h"
#include "model/image_encoder.h"
#include "model/params.h"
#include "test.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Trace hook: prints how long each stage took (global blocks are 2, 5, 8, 11). */
static void stage_timer(void *ctx, const char *stage, const float *data, long n) {
    double *last = ctx, t = now_s();
    printf("  %-12s %6.3f s\n", stage, t - *last);
    *last = t;
}

static float *read_f32(const char *dir, const char *name, long want, ms_npy *keep) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    medsam_error err = {0};
    if (ms_npy_read(path, keep, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return NULL;
    }
    if (keep->dtype != MS_NPY_F32 || keep->count != want) {
        CHECK(0, "%s: expected %ld float32 values, got %lld", path, want, (long long)keep->count);
        return NULL;
    }
    return keep->data;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/medsam_vit_b";
    int nthreads = argc > 2 ? atoi(argv[2]) : 2;
    ms_config c;
    medsam_error err = {0};
    if (ms_config_preset("vit_b", &c, &err) != MEDSAM_OK) return printf("%s\n", err.message), 1;
    ms_param_table tab;
    if (ms_param_table_build(&c, &tab) != 0) return printf("param table\n"), 1;
    ms_npy pn = {0}, in = {0}, ref = {0};
    const long N = (long)c.grid * c.grid, n_emb = (long)c.out_chans * N;
    float *params = read_f32(dir, "params.npy", (long)tab.total, &pn);
    float *img = read_f32(dir, "input.npy", 3L * c.img_size * c.img_size, &in);
    float *want = read_f32(dir, "embedding.npy", n_emb, &ref);
    if (!params || !img || !want) return t_summary();
    ms_weights w;
    ms_weights_bind(&c, params, &w);

    size_t wsf = ms_image_encoder_workspace_floats(&c);
    float *work = malloc(sizeof(float) * wsf), *emb = malloc(sizeof(float) * n_emb);
    CHECK(work && emb, "allocation");
    if (!work || !emb) return t_summary();
    double t0 = now_s(), last = t0;
    medsam_status st = ms_image_encoder_forward(&c, &w.enc, img, emb, work, nthreads, stage_timer, &last, &err);
    double dt = now_s() - t0;
    CHECK(st == MEDSAM_OK, "%s", err.message);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("ViT-B encoder: %.2f s with %d threads; workspace %zu floats (%.1f MB); peak RSS %.0f MB "
           "(weights %.0f MB)\n",
           dt, nthreads, wsf, wsf * 4.0 / 1e6, ru.ru_maxrss / 1024.0, tab.total * 4.0 / 1e6);
    if (st == MEDSAM_OK) t_close("ViT-B embedding vs official PyTorch", emb, want, n_emb, 1e-4, 1e-4, 1e-5);
    free(work), free(emb);
    ms_npy_free(&pn), ms_npy_free(&in), ms_npy_free(&ref);
    ms_param_table_free(&tab);
    return t_summary();
}
