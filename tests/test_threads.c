/* test_threads.c — one loaded model used from several threads at once: every
 * thread encodes and decodes on its own and must get the serial result, bit
 * for bit (the model is read-only after loading; all scratch is per call). */
#include <pthread.h>
#include <stdint.h>

#include "medsam.h"
#include "test.h"

#define NTHREADS 4

typedef struct {
    const medsam_model *model;
    const float *input; // (S, S, 3)
    int W, H;
    float logits[2 * 32 * 32];
    uint8_t *mask;      // (H, W)
    medsam_status st;
} job;

static const medsam_box BOXES[2] = {{100, 80, 400, 420}, {10, 20, 200, 300}};

static void *run(void *arg) {
    job *j = arg;
    medsam_error err;
    medsam_embedding *emb = NULL;
    j->st = medsam_encode(j->model, j->input, 1 + (j->W & 1), &emb, &err);
    if (!j->st) j->st = medsam_decode_boxes(j->model, emb, j->W, j->H, BOXES, 2, 1, j->logits, NULL, j->mask, &err);
    medsam_embedding_free(emb);
    return NULL;
}

/* Overlapping boxes: the label mask (last covering box wins) must not depend on
 * how many threads postprocess the boxes. */
static void test_labels_threads(const medsam_model *m, const float *x, int W, int H) {
    static const medsam_box boxes[5] = {
        {100, 80, 400, 420}, {10, 20, 200, 300}, {150, 100, 300, 250}, {0, 0, 511, 511}, {200, 200, 260, 230}};
    medsam_error err;
    medsam_embedding *emb = NULL;
    uint8_t *ref = malloc((size_t)W * H), *got = malloc((size_t)W * H);
    CHECK(medsam_encode(m, x, 1, &emb, &err) == MEDSAM_OK, "encode: %s", err.message);
    if (!emb) return;
    CHECK(medsam_decode_boxes(m, emb, W, H, boxes, 5, 1, NULL, NULL, ref, &err) == MEDSAM_OK, "%s", err.message);
    int labels[6] = {0};
    for (long p = 0; p < (long)W * H; p++) labels[ref[p] < 6 ? ref[p] : 0]++;
    for (int nt = 2; nt <= 3; nt++) {
        CHECK(medsam_decode_boxes(m, emb, W, H, boxes, 5, nt, NULL, NULL, got, &err) == MEDSAM_OK, "%s", err.message);
        CHECK(memcmp(got, ref, (size_t)W * H) == 0, "5 boxes: labels with %d threads differ from 1 thread", nt);
    }
    printf("ok   5 overlapping boxes: labels identical with 1, 2, 3 threads (pixels per label %d %d %d %d %d %d)\n",
           labels[0], labels[1], labels[2], labels[3], labels[4], labels[5]);
    medsam_embedding_free(emb);
    free(ref), free(got);
}

int main(void) {
    medsam_error err;
    medsam_model *m = NULL;
    CHECK(medsam_model_load("tests/fixtures/tiny/model.pth", &m, &err) == MEDSAM_OK, "load: %s", err.message);
    float *x = NULL;
    int W = 0, H = 0;
    CHECK(medsam_prepare_input("tests/fixtures/images/camera.png", 128, 1, &x, &W, &H, &err) == MEDSAM_OK, "prepare: %s",
          err.message);
    if (!m || !x) return t_summary();
    job serial = {.model = m, .input = x, .W = W, .H = H, .mask = malloc((size_t)W * H)};
    run(&serial);
    CHECK(serial.st == MEDSAM_OK, "serial run");
    job jobs[NTHREADS];
    pthread_t tid[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        jobs[i] = (job){.model = m, .input = x, .W = W, .H = H, .mask = malloc((size_t)W * H)};
        pthread_create(&tid[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(tid[i], NULL);
        CHECK(jobs[i].st == MEDSAM_OK, "thread %d status", i);
        CHECK(memcmp(jobs[i].logits, serial.logits, sizeof serial.logits) == 0, "thread %d logits differ", i);
        CHECK(memcmp(jobs[i].mask, serial.mask, (size_t)W * H) == 0, "thread %d mask differs", i);
        free(jobs[i].mask);
    }
    printf("ok   %d threads sharing one model: logits and masks identical to the serial run\n", NTHREADS);
    test_labels_threads(m, x, W, H);
    free(serial.mask);
    free(x);
    medsam_model_free(m);
    return t_summary();
}
