/* attention.c — tiled ViT attention with decomposed relative positions (see attention.h). */
#include "ops/attention.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/gemm.h"

/* ---- softmax with a vectorised exp ------------------------------------------
 * exp(x) for x <= 0 (scores minus the row max): Cephes expf (round-to-nearest
 * range reduction with a two-part ln2, degree-6 polynomial, 2^n by exponent
 * add), about 1 ulp. x below -87.3 gives ~1e-38 instead of a denormal/zero. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define ATTN_INLINE static inline __attribute__((always_inline))

/* p[0..7] = exp(p[0..7] - mx); adds the results to *acc. Pointers only, so
 * that no 32-byte vector crosses a function boundary (ABI). */
ATTN_INLINE void attn_exp8(float *p, float mx, v8f *acc) {
    v8f x;
    memcpy(&x, p, sizeof x);
    x = x - mx;
    const v8f lo = {-87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f};
    v8i below = x < lo;  // -1 where x < lo
    x = (v8f)(((v8i)lo & below) | ((v8i)x & ~below));
    const v8f magic = {12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f,  // 1.5 * 2^23: adding it
                       12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f}; // rounds to an integer
    v8f t = x * 1.44269504088896341f + magic;
    v8f n = t - magic;             // round(x / ln2), exact
    v8i ni = (v8i)t - (v8i)magic;  // the same integer, from the low mantissa bits
    v8f r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    v8f q = 1.9875691500e-4f * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    v8f y = q * (r * r) + r + 1.0f;
    y = (v8f)((v8i)y + (ni << 23));
    memcpy(p, &y, sizeof y);
    *acc += y;
}

/* In place softmax of one row: max, exp(x - max) with the sum, scale by 1/sum.
 * ref: torch.softmax(dim=-1). row: (n), n >= 1 */
ATTN_INLINE void attn_softmax_row_body(float *row, int n) {
    float mx = row[0];
    int j = 0;
    if (n >= 8) {
        v8f m8;
        memcpy(&m8, row, sizeof m8);
        for (j = 8; j + 8 <= n; j += 8) {
            v8f x;
            memcpy(&x, row + j, sizeof x);
            v8i gt = x > m8;
            m8 = (v8f)(((v8i)x & gt) | ((v8i)m8 & ~gt));
        }
        for (int k = 0; k < 8; k++) mx = m8[k] > mx ? m8[k] : mx;
    }
    for (; j < n; j++) mx = row[j] > mx ? row[j] : mx;

    v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
    j = 0;
    for (; j + 8 <= n; j += 8) attn_exp8(row + j, mx, &acc);
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    if (j < n) {
        float tail[8] = {mx, mx, mx, mx, mx, mx, mx, mx};
        v8f tacc = {0, 0, 0, 0, 0, 0, 0, 0};
        memcpy(tail, row + j, (size_t)(n - j) * sizeof(float));
        attn_exp8(tail, mx, &tacc);
        memcpy(row + j, tail, (size_t)(n - j) * sizeof(float));
        for (int k = 0; k < n - j; k++) sum += tail[k];
    }
    const float inv = 1.0f / sum;
    for (j = 0; j + 8 <= n; j += 8) {
        v8f x;
        memcpy(&x, row + j, sizeof x);
        x = x * inv;
        memcpy(row + j, &x, sizeof x);
    }
    for (; j < n; j++) row[j] *= inv;
}

__attribute__((target("avx2"))) static void attn_softmax_row_avx2(float *row, int n) { attn_softmax_row_body(row, n); }
static void attn_softmax_row_generic(float *row, int n) { attn_softmax_row_body(row, n); }

typedef void (*attn_softmax_row_fn)(float *row, int n);

static attn_softmax_row_fn attn_pick_softmax_row(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2")) return attn_softmax_row_avx2;
#endif
    return attn_softmax_row_generic;
}

void vit_softmax_row(float *row, int n, int path) {
    (path == 1 ? attn_softmax_row_generic : attn_pick_softmax_row())(row, n);
}

/* ---- one (group, head, query tile) item ------------------------------------ */

typedef struct {
    const float *qkv;              // (ngroups, T, 3C)
    const float *rel_pos_h;        // (2sh-1, hd)
    const float *rel_pos_w;        // (2sw-1, hd)
    float *out;                    // (ngroups, T, C)
    int sh, sw, T, C, heads, hd, tq;
    float scale;
    attn_softmax_row_fn softmax_row;
} attn_args;

size_t vit_attention_scratch_floats(int sh, int sw, int tile_q) {
    size_t T = (size_t)sh * sw, tq = (size_t)tile_q < T ? (size_t)tile_q : T;
    return tq * T + tq * (size_t)(2 * sh - 1 + 2 * sw - 1) + (size_t)sw + 16;
}

/* Queries i0 .. i0+nq-1 of group g, head h. kT / vp: pre-packed K^T and V of
 * this (g, h), or NULL to let gemm pack them. scratch: vit_attention_scratch_floats. */
static void attn_tile(const attn_args *a, int g, int h, int i0, int nq, const gemm_packed_b *kT,
                      const gemm_packed_b *vp, float *scratch) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sw = a->sw;
    const int Lh = 2 * a->sh - 1, Lw = 2 * sw - 1;
    const float *grp = a->qkv + (size_t)g * T * ld;  // (T, 3C)
    const float *q = grp + (size_t)i0 * ld + h * hd;  // (nq, hd), row stride 3C
    const float *k = grp + C + h * hd;                // (T, hd), row stride 3C
    const float *v = grp + 2 * C + h * hd;            // (T, hd), row stride 3C
    float *S = scratch;                               // (nq, T)
    float *RH = S + (size_t)nq * T;                   // (nq, Lh)
    float *RW = RH + (size_t)nq * Lh;                 // (nq, Lw)
    float *rw = RW + (size_t)nq * Lw;                 // (sw)

    // ref: image_encoder.py:Attention.forward -- attn = (q * self.scale) @ k.transpose(-2, -1)
    if (kT)
        gemm_f32_packed(0, nq, a->scale, q, ld, kT, 0.0f, S, T, NULL, 1);
    else
        gemm_f32(0, 1, nq, T, hd, a->scale, q, ld, k, ld, 0.0f, S, T, 1);
    // ref: add_decomposed_rel_pos -- rel_h = einsum("bhwc,hkc->bhwk", q, Rh), Rh[qh, kh] = rel_pos_h[qh - kh + sh-1]
    // (q unscaled); computed as q @ rel_pos^T over all 2S-1 offsets, then gathered.
    gemm_f32(0, 1, nq, Lh, hd, 1.0f, q, ld, a->rel_pos_h, hd, 0.0f, RH, Lh, 1);
    gemm_f32(0, 1, nq, Lw, hd, 1.0f, q, ld, a->rel_pos_w, hd, 0.0f, RW, Lw, 1);

    for (int i = 0; i < nq; i++) {
        const int qh = (i0 + i) / sw, qw = (i0 + i) % sw;
        float *row = S + (size_t)i * T;  // (sh, sw)
        const float *rhi = RH + (size_t)i * Lh + qh + a->sh - 1;  // rhi[-kh] = rel_h[kh]
        const float *rwi = RW + (size_t)i * Lw + qw + sw - 1;     // rwi[-kw] = rel_w[kw]
        for (int kw = 0; kw < sw; kw++) rw[kw] = rwi[-kw];
        // ref: add_decomposed_rel_pos -- attn.view(...) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
        for (int kh = 0; kh < a->sh; kh++) {
            float *seg = row + (size_t)kh * sw;  // (sw)
            const float rh = rhi[-kh];
#pragma omp simd
            for (int kw = 0; kw < sw; kw++) seg[kw] = (seg[kw] + rh) + rw[kw];
        }
        // ref: Attention.forward -- attn = attn.softmax(dim=-1)
        a->softmax_row(row, T);
    }
    // ref: Attention.forward -- (attn @ v).view(B, heads, H, W, -1).permute(0, 2, 3, 1, 4)
    float *o = a->out + ((size_t)g * T + i0) * C + h * hd;  // (nq, hd), row stride C
    if (vp)
        gemm_f32_packed(0, nq, 1.0f, S, T, vp, 0.0f, o, C, NULL, 1);
    else
        gemm_f32(0, 0, nq, hd, T, 1.0f, S, T, v, ld, 0.0f, o, C, 1);
}

static int attn_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void vit_attention_forward(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w, int ngroups,
                           int sh, int sw, int heads, int hd, int tile_q, float *scratch, int nthreads) {
    attn_args a = {qkv, rel_pos_h, rel_pos_w, out, sh, sw, sh * sw, heads * hd, heads, hd, 0, 0.0f, NULL};
    if (nthreads < 1) nthreads = 1;
    a.tq = tile_q < 1 ? 1 : tile_q < a.T ? tile_q : a.T;
    a.scale = (float)(1.0 / sqrt((double)hd));  // ref: Attention.__init__ -- head_dim**-0.5
    a.softmax_row = attn_pick_softmax_row();
    const size_t per_thread = vit_attention_scratch_floats(sh, sw, tile_q);
    const int ntiles = (a.T + a.tq - 1) / a.tq;

    if (ntiles == 1) {
        /* windows: one item per (group, head); K and V are small enough to pack per call */
        const long items = (long)ngroups * heads;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1 && items > 1)
        for (long it = 0; it < items; it++)
            attn_tile(&a, (int)(it / heads), (int)(it % heads), 0, a.T, NULL, NULL,
                      scratch + (size_t)attn_thread_id() * per_thread);
        return;
    }
    /* global: per (group, head), pack K^T and V once, then spread the query tiles */
    const int C = a.C, ld = 3 * C;
    for (int g = 0; g < ngroups; g++) {
        for (int h = 0; h < heads; h++) {
            const float *grp = qkv + (size_t)g * a.T * ld;
            gemm_packed_b *kT = gemm_pack_b(1, hd, a.T, grp + C + h * hd, ld);  // op(B) = K^T: (hd, T)
            gemm_packed_b *vp = kT ? gemm_pack_b(0, a.T, hd, grp + 2 * C + h * hd, ld) : NULL;  // (T, hd)
            if (!vp) {  // out of memory for the packed copies: same bits via the unpacked path
                gemm_packed_b_free(kT);
                kT = NULL;
            }
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1)
            for (int t = 0; t < ntiles; t++) {
                const int i0 = t * a.tq, nq = a.T - i0 < a.tq ? a.T - i0 : a.tq;
                attn_tile(&a, g, h, i0, nq, kT, vp, scratch + (size_t)attn_thread_id() * per_thread);
            }
            gemm_packed_b_free(kT);
            gemm_packed_b_free(vp);
        }
    }
}

/* ---- plain reference ------------------------------------------------------- */

// ref: image_encoder.py:get_rel_pos (q_size == k_size, no interpolation) and add_decomposed_rel_pos, literally
int vit_attention_ref(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w, int ngroups,
                      int sh, int sw, int heads, int hd) {
    const int T = sh * sw, C = heads * hd, ld = 3 * C;
    double *S = malloc((size_t)T * T * sizeof *S);  // (T, T)
    if (!S) return -1;
    const double scale = 1.0 / sqrt((double)hd);
    for (int g = 0; g < ngroups; g++) {
        const float *grp = qkv + (size_t)g * T * ld;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < T; i++) {
                const float *q = grp + (size_t)i * ld + h * hd;
                const int qh = i / sw, qw = i % sw;
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    const float *k = grp + (size_t)j * ld + C + h * hd;
                    const int kh = j / sw, kw = j % sw;
                    const float *Rh = rel_pos_h + (size_t)(qh - kh + sh - 1) * hd;
                    const float *Rw = rel_pos_w + (size_t)(qw - kw + sw - 1) * hd;
                    double qk = 0, rh = 0, rw = 0;
                    for (int c = 0; c < hd; c++) {
                        qk += (double)q[c] * k[c];
                        rh += (double)q[c] * Rh[c];
                        rw += (double)q[c] * Rw[c];
                    }
                    S[(size_t)i * T + j] = qk * scale + rh + rw;
                    if (S[(size_t)i * T + j] > mx) mx = S[(size_t)i * T + j];
                }
                double sum = 0;
                for (int j = 0; j < T; j++) sum += (S[(size_t)i * T + j] = exp(S[(size_t)i * T + j] - mx));
                for (int c = 0; c < hd; c++) {
                    double acc = 0;
                    for (int j = 0; j < T; j++) acc += S[(size_t)i * T + j] * grp[(size_t)j * ld + 2 * C + h * hd + c];
                    out[((size_t)g * T + i) * C + h * hd + c] = (float)(acc / sum);
                }
            }
        }
    }
    free(S);
    return 0;
}
