/* prompt_encoder.c — points/boxes -> sparse tokens, mask -> dense embedding,
 * and the dense positional encoding. See prompt_encoder.h. */
#include "model/prompt_encoder.h"

#include <math.h>
#include <string.h>

#include "ops/gemm.h"

int ms_prompt_num_sparse(int Np, int has_box) {
    int n = Np > 0 ? Np : 0;
    if (n > 0 && !has_box) n += 1; /* padding point */
    if (has_box) n += 2;
    return n;
}

// ref: prompt_encoder.py:PositionEmbeddingRandom._pe_encoding
// (x, y) already normalised to [0, 1]; out = [sin(2pi (2c-1) @ gauss), cos(...)]
static void pe_encode(float *out,          // (D)
                      const float *gauss,  // (2, D/2)
                      int half, float x, float y) {
    const float cx = 2.0f * x - 1.0f, cy = 2.0f * y - 1.0f;
    const float two_pi = (float)(2.0 * M_PI);
    for (int j = 0; j < half; j++) {
        float v = cx * gauss[j] + cy * gauss[half + j];
        v = two_pi * v;
        out[j] = sinf(v);
        out[half + j] = cosf(v);
    }
}

// ref: prompt_encoder.py:PositionEmbeddingRandom.forward_with_coords (x / W, y / H)
static void pe_encode_point(float *out, const ms_config *c, const ms_prompt_encoder_w *w, float px, float py) {
    const float size = (float)c->img_size;
    pe_encode(out, w->pe_gaussian, c->prompt_dim / 2, px / size, py / size);
}

static void add_row(float *dst, const float *src, int n) {
    for (int i = 0; i < n; i++) dst[i] += src[i];
}

void ms_prompt_encode(const ms_config *c, const ms_prompt_encoder_w *w, const float *points, const int *labels,
                      int Np, const float *box, float *sparse, int *Ns) {
    const int D = c->prompt_dim;
    if (Np < 0 || !points || !labels) Np = 0;
    int n = 0;
    // ref: prompt_encoder.py:PromptEncoder._embed_points
    if (Np > 0) {
        const int pad = box == NULL;
        for (int i = 0; i < Np + pad; i++) {
            float *tok = sparse + (long)n * D;  // (D)
            const int label = i < Np ? labels[i] : -1;
            if (label == -1) {
                /* point_embedding[labels == -1] = 0.0; += not_a_point_embed */
                memcpy(tok, w->not_a_point_embed, sizeof(float) * D);
            } else {
                pe_encode_point(tok, c, w, points[2 * i] + 0.5f, points[2 * i + 1] + 0.5f);
                if (label == 0) add_row(tok, w->point_embed[0], D);
                if (label == 1) add_row(tok, w->point_embed[1], D);
            }
            n++;
        }
    }
    // ref: prompt_encoder.py:PromptEncoder._embed_boxes
    if (box) {
        for (int k = 0; k < 2; k++) {
            float *tok = sparse + (long)n * D;  // (D)
            pe_encode_point(tok, c, w, box[2 * k] + 0.5f, box[2 * k + 1] + 0.5f);
            add_row(tok, w->point_embed[2 + k], D);
            n++;
        }
    }
    *Ns = n;
}

// ref: prompt_encoder.py:PositionEmbeddingRandom.forward (cell centres, x then y)
void ms_prompt_dense_pe(const ms_config *c, const ms_prompt_encoder_w *w, float *pe) {
    const int D = c->prompt_dim, G = c->grid, half = D / 2;
    const long N = (long)G * G;
    // rows of the grid on every thread (the model's load; sinf / cosf give the same bits on any thread),
    // 16 tokens at a time, then each channel's 16 values stored together (a cache line, not 16 pages)
    enum { PE_RUN = 16 };
#pragma omp parallel for schedule(static)
    for (int i = 0; i < G; i++) {
        float run[PE_RUN * D];  // (PE_RUN, D) consecutive tokens of row i
        for (int j0 = 0; j0 < G; j0 += PE_RUN) {
            const int n = G - j0 < PE_RUN ? G - j0 : PE_RUN;
            for (int j = 0; j < n; j++) {
                const float x = ((float)(j0 + j) + 0.5f) / (float)G, y = ((float)i + 0.5f) / (float)G;
                pe_encode(run + (long)j * D, w->pe_gaussian, half, x, y);
            }
            for (int d = 0; d < D; d++)
                for (int j = 0; j < n; j++) pe[d * N + (long)i * G + j0 + j] = run[(long)j * D + d];
        }
    }
}

size_t ms_prompt_dense_scratch_floats(const ms_config *c) {
    return (size_t)c->mask_in_chans * c->grid * c->grid;
}

// ref: common.py:LayerNorm2d.forward followed by nn.GELU, on one pixel's channels
static void layernorm2d_gelu_pixel(float *x, int C, const float *weight, const float *bias, float eps) {
    double sum = 0.0;
    for (int k = 0; k < C; k++) sum += x[k];
    const float u = (float)(sum / C);
    double var = 0.0;
    for (int k = 0; k < C; k++) var += (double)(x[k] - u) * (x[k] - u);
    const float rstd = (float)(1.0 / sqrt(var / C + eps));
    for (int k = 0; k < C; k++) {
        float y = (x[k] - u) * rstd * weight[k] + bias[k];
        x[k] = 0.5f * y * (1.0f + erff(y * (float)M_SQRT1_2));
    }
}

void ms_prompt_dense_embed(const ms_config *c, const ms_prompt_encoder_w *w, const float *mask_in, float *dense,
                           float *scratch, int nthreads) {
    const int D = c->prompt_dim, G = c->grid, mc = c->mask_in_chans, mq = mc / 4, S = 4 * G;
    const long N = (long)G * G;
    if (!mask_in) {
        // ref: prompt_encoder.py:PromptEncoder.forward (no_mask_embed broadcast)
        for (int d = 0; d < D; d++)
            for (long p = 0; p < N; p++) dense[d * N + p] = w->no_mask_embed[d];
        return;
    }
    // ref: prompt_encoder.py:PromptEncoder._embed_masks (mask_downscaling.0 .. .5)
    // Each output cell (I, J) depends only on the 4x4 input block at (4I, 4J).
    float *hid = scratch;  // (mc, G, G)
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int I = 0; I < G; I++) {
        for (int J = 0; J < G; J++) {
            float l1[4][mq];  // level-1 pixels (2I+a, 2J+b), mq channels each
            for (int a = 0; a < 2; a++) {
                for (int b = 0; b < 2; b++) {
                    const int y1 = 2 * I + a, x1 = 2 * J + b;
                    for (int o = 0; o < mq; o++) {
                        const float *k = w->mask_conv1_w + o * 4;  // (1, 2, 2)
                        float acc = w->mask_conv1_b[o];
                        for (int u = 0; u < 2; u++)
                            for (int v = 0; v < 2; v++) acc += k[u * 2 + v] * mask_in[(2 * y1 + u) * S + 2 * x1 + v];
                        l1[a * 2 + b][o] = acc;
                    }
                    layernorm2d_gelu_pixel(l1[a * 2 + b], mq, w->mask_ln1_w, w->mask_ln1_b, c->ln2d_eps);
                }
            }
            float l2[mc];
            for (int o = 0; o < mc; o++) {
                const float *k = w->mask_conv2_w + (long)o * mq * 4;  // (mq, 2, 2)
                float acc = w->mask_conv2_b[o];
                for (int ci = 0; ci < mq; ci++)
                    for (int ab = 0; ab < 4; ab++) acc += k[ci * 4 + ab] * l1[ab][ci];
                l2[o] = acc;
            }
            layernorm2d_gelu_pixel(l2, mc, w->mask_ln2_w, w->mask_ln2_b, c->ln2d_eps);
            for (int o = 0; o < mc; o++) hid[o * N + (long)I * G + J] = l2[o];
        }
    }
    // ref: mask_downscaling.6 (1x1 conv): dense (D, N) = W (D, mc) @ hid (mc, N) + b
    gemm_f32(0, 0, D, (int)N, mc, 1.0f, w->mask_conv3_w, mc, hid, (int)N, 0.0f, dense, (int)N, nthreads);
    for (int d = 0; d < D; d++)
        for (long p = 0; p < N; p++) dense[d * N + p] += w->mask_conv3_b[d];
}
