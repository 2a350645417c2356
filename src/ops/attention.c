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

/* ---- fused score row: relative positions, max, exp, sum ----------------------
 * For one query's score row (sh, sw):
 *   row[kh*sw + kw] = (row[kh*sw + kw] + rhi[-kh]) + rw[kw]      (add_decomposed_rel_pos)
 *   row = exp(row - max(row))                                        (softmax numerator)
 * and the sum of the exponentials; the caller scales the attention output row
 * by 1/sum (softmax(S) V = (exp(S - max) V) / sum: one multiply per output value
 * instead of one per score, and one pass less over the scores). The AVX2 exp is
 * the Cephes expf polynomial (~1 ulp; inputs more than 87.3 below the max give
 * ~1e-38, not 0), the portable one libm's expf. */
typedef struct {
    /* adds the relative terms to row (sh*sw) in place, returns its max */
    float (*relpos_max)(float *row, const float *rhi, const float *rw, int sh, int sw);
    /* row (n) = exp(row - mx) in place, returns the sum */
    float (*exp_sum)(float *row, int n, float mx);
} attn_row_kernels;

static float attn_relpos_max_generic(float *row, const float *rhi, const float *rw, int sh, int sw) {
    float mx = -INFINITY;
    for (int kh = 0; kh < sh; kh++) {
        float *seg = row + (size_t)kh * sw;  // (sw)
        const float rh = rhi[-kh];
        for (int kw = 0; kw < sw; kw++) {
            seg[kw] = (seg[kw] + rh) + rw[kw];
            mx = seg[kw] > mx ? seg[kw] : mx;
        }
    }
    return mx;
}

static float attn_exp_sum_generic(float *row, int n, float mx) {
    double sum = 0.0;
    for (int j = 0; j < n; j++) sum += (row[j] = expf(row[j] - mx));
    return (float)sum;
}

static const attn_row_kernels attn_generic = {attn_relpos_max_generic, attn_exp_sum_generic};

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "ops/attn_exp.h"
#define ATTN_AVX2 __attribute__((target("avx2,fma")))

/* Lanes < n set (n clamped to 0..8). */
ATTN_AVX2 static inline __m256i attn_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The largest of the 8 lanes (exact: any order gives the same value). */
ATTN_AVX2 static inline float attn_hmax8(__m256 v) {
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    return _mm_cvtss_f32(m4);
}

/* Rows of at least 8 values end with one full vector that overlaps the previous
 * one (loaded before anything is stored, so the overlap gets the same values
 * twice); masked loads and stores, slow on some CPUs, only for rows under 8. */
ATTN_AVX2 static float attn_relpos_max_avx2(float *row, const float *rhi, const float *rw, int sh, int sw) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const int tail = sw % 8;
    const __m256i mt = attn_mask(tail);
    __m256 vmax = ninf;
    for (int kh = 0; kh < sh; kh++) {
        float *seg = row + (size_t)kh * sw;  // (sw)
        const __m256 rh = _mm256_set1_ps(rhi[-kh]);
        if (sw < 8) {
            const __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_maskload_ps(seg, mt), rh), _mm256_maskload_ps(rw, mt));
            _mm256_maskstore_ps(seg, mt, v);
            vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(mt)));
            continue;
        }
        const __m256 last = _mm256_loadu_ps(seg + sw - 8);
        int kw = 0;
        for (; kw + 8 <= sw; kw += 8) {
            const __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(seg + kw), rh), _mm256_loadu_ps(rw + kw));
            _mm256_storeu_ps(seg + kw, v);
            vmax = _mm256_max_ps(vmax, v);
        }
        if (tail) {
            const __m256 v = _mm256_add_ps(_mm256_add_ps(last, rh), _mm256_loadu_ps(rw + sw - 8));
            _mm256_storeu_ps(seg + sw - 8, v);
            vmax = _mm256_max_ps(vmax, v);
        }
    }
    return attn_hmax8(vmax);
}

/* The part of attn_exp_sum_avx2 after its 16-wide loop: row[j..n) with
 * accumulators acc0 (lanes of j mod 16 < 8) and acc1; `last` holds the row's
 * last 8 values as they were before any store (n >= 8). */
ATTN_AVX2 static float attn_exp_sum_finish_avx2(float *row, int n, int j, __m256 mx, __m256 acc0, __m256 acc1,
                                                __m256 last) {
    const int tail = n % 8;
    if (j + 8 <= n) {
        const __m256 e = attn_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), mx));
        _mm256_storeu_ps(row + j, e);
        acc0 = _mm256_add_ps(acc0, e);
        j += 8;
    }
    if (tail && n >= 8) {  // lanes 8-tail .. 7 of the last full vector are the tail
        const __m256 m = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                                _mm256_set1_epi32(7 - tail)));
        const __m256 e = attn_exp8(_mm256_sub_ps(last, mx));
        _mm256_storeu_ps(row + n - 8, _mm256_blendv_ps(_mm256_loadu_ps(row + n - 8), e, m));
        acc1 = _mm256_add_ps(acc1, _mm256_and_ps(e, m));
    } else if (tail) {
        const __m256i m = attn_mask(tail);
        const __m256 e = attn_exp8(_mm256_sub_ps(_mm256_maskload_ps(row, m), mx));
        _mm256_maskstore_ps(row, m, e);
        acc0 = _mm256_add_ps(acc0, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
    }
    acc0 = _mm256_add_ps(acc0, acc1);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
    return _mm_cvtss_f32(s4);
}

ATTN_AVX2 static float attn_exp_sum_avx2(float *row, int n, float mxs) {
    const __m256 mx = _mm256_set1_ps(mxs);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256 last = n >= 8 ? _mm256_loadu_ps(row + n - 8) : _mm256_setzero_ps();  // before any store
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m256 e0 = attn_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), mx));
        const __m256 e1 = attn_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j + 8), mx));
        _mm256_storeu_ps(row + j, e0);
        _mm256_storeu_ps(row + j + 8, e1);
        acc0 = _mm256_add_ps(acc0, e0);
        acc1 = _mm256_add_ps(acc1, e1);
    }
    return attn_exp_sum_finish_avx2(row, n, j, mx, acc0, acc1, last);
}

/* ---- AVX-512: the AVX2 row kernels 16 lanes at a time, same bits ----
 * exp is the same operation sequence per lane; in the sum, lanes 0-7 of the
 * 16-wide accumulator are the AVX2 acc0 and lanes 8-15 its acc1, so every
 * partial sum is the one the AVX2 kernel forms. */
#define ATTN_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

ATTN_AVX512 static float attn_exp_sum_avx512(float *row, int n, float mxs) {
    const __m512 mx = _mm512_set1_ps(mxs);
    __m512 acc = _mm512_setzero_ps();
    const __m256 last = n >= 8 ? _mm256_loadu_ps(row + n - 8) : _mm256_setzero_ps();  // before any store
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 e = attn_exp16(_mm512_sub_ps(_mm512_loadu_ps(row + j), mx));
        _mm512_storeu_ps(row + j, e);
        acc = _mm512_add_ps(acc, e);
    }
    return attn_exp_sum_finish_avx2(row, n, j, _mm512_castps512_ps256(mx), _mm512_castps512_ps256(acc),
                                    _mm512_extractf32x8_ps(acc, 1), last);
}

/* Rows with sw >= 16 (global blocks); shorter ones go to the AVX2 kernel. The
 * row max is exact, so any lane grouping gives the same value. */
ATTN_AVX512 static float attn_relpos_max_avx512(float *row, const float *rhi, const float *rw, int sh, int sw) {
    if (sw < 16) return attn_relpos_max_avx2(row, rhi, rw, sh, sw);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int kh = 0; kh < sh; kh++) {
        float *seg = row + (size_t)kh * sw;  // (sw)
        const __m512 rh = _mm512_set1_ps(rhi[-kh]);
        const __m512 last = _mm512_loadu_ps(seg + sw - 16);
        int kw = 0;
        for (; kw + 16 <= sw; kw += 16) {
            const __m512 v = _mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(seg + kw), rh), _mm512_loadu_ps(rw + kw));
            _mm512_storeu_ps(seg + kw, v);
            vmax = _mm512_max_ps(vmax, v);
        }
        if (sw % 16) {  // overlapping last vector, loaded before the stores above
            const __m512 v = _mm512_add_ps(_mm512_add_ps(last, rh), _mm512_loadu_ps(rw + sw - 16));
            _mm512_storeu_ps(seg + sw - 16, v);
            vmax = _mm512_max_ps(vmax, v);
        }
    }
    return _mm512_reduce_max_ps(vmax);
}

static const attn_row_kernels attn_avx512 = {attn_relpos_max_avx512, attn_exp_sum_avx512};

/* rows += bias, then each row's softmax (vit_softmax_rows_bias on AVX-512): the
 * add and the max in one pass, the kernel's exp + sum, the scale in one pass. */
ATTN_AVX512 static void attn_softmax_rows_bias_avx512(float *rows, const float *bias, int nrows, int n) {
    const int tail = n % 16;
    const __mmask16 mt = (__mmask16)((1u << tail) - 1u);
    for (int i = 0; i < nrows; i++) {
        float *row = rows + (size_t)i * n;
        const float *br = bias + (size_t)i * n;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        int j = 0;
        for (; j + 16 <= n; j += 16) {
            const __m512 v = _mm512_add_ps(_mm512_loadu_ps(row + j), _mm512_loadu_ps(br + j));
            _mm512_storeu_ps(row + j, v);
            vmax = _mm512_max_ps(vmax, v);
        }
        if (tail) {
            const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(mt, row + j), _mm512_maskz_loadu_ps(mt, br + j));
            _mm512_mask_storeu_ps(row + j, mt, v);
            vmax = _mm512_mask_max_ps(vmax, mt, vmax, v);
        }
        const float mx = _mm512_reduce_max_ps(vmax);  // exact: any lane order gives the scalar loop's value
        const __m512 inv = _mm512_set1_ps(1.0f / attn_exp_sum_avx512(row, n, mx));
        for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(row + j, _mm512_mul_ps(_mm512_loadu_ps(row + j), inv));
        if (tail) _mm512_mask_storeu_ps(row + j, mt, _mm512_mul_ps(_mm512_maskz_loadu_ps(mt, row + j), inv));
    }
}

static const attn_row_kernels attn_avx2 = {attn_relpos_max_avx2, attn_exp_sum_avx2};

/* attn_softmax_rows_bias_avx512 eight lanes at a time, the tail masked (same bits: the add,
 * the max and the scale are exact per element, the exp + sum is attn_exp_sum_avx2). */
ATTN_AVX2 static void attn_softmax_rows_bias_avx2(float *rows, const float *bias, int nrows, int n) {
    const int tail = n % 8;
    const __m256i mt = attn_mask(tail);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int i = 0; i < nrows; i++) {
        float *row = rows + (size_t)i * n;
        const float *br = bias + (size_t)i * n;
        __m256 vmax = ninf;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            const __m256 v = _mm256_add_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(br + j));
            _mm256_storeu_ps(row + j, v);
            vmax = _mm256_max_ps(vmax, v);
        }
        if (tail) {
            const __m256 v = _mm256_add_ps(_mm256_maskload_ps(row + j, mt), _mm256_maskload_ps(br + j, mt));
            _mm256_maskstore_ps(row + j, mt, v);
            vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(mt)));
        }
        const __m256 inv = _mm256_set1_ps(1.0f / attn_exp_sum_avx2(row, n, attn_hmax8(vmax)));
        for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
        if (tail) _mm256_maskstore_ps(row + j, mt, _mm256_mul_ps(_mm256_maskload_ps(row + j, mt), inv));
    }
}

static int attn_use_avx2(int path) {
    return (path == 0 || path == 2) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int attn_use_avx512(int path) {
    return path == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static const attn_row_kernels *attn_pick_row(int path) {
    if (path == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &attn_avx512;
    if ((path == 0 || path == 2) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &attn_avx2;
    return &attn_generic;
}
#else
static const attn_row_kernels *attn_pick_row(int path) {
    (void)path;
    return &attn_generic;
}
static int attn_use_avx512(int path) {
    (void)path;
    return 0;
}
static void attn_softmax_rows_bias_avx512(float *rows, const float *bias, int nrows, int n) {
    (void)rows, (void)bias, (void)nrows, (void)n;
}
static int attn_use_avx2(int path) {
    (void)path;
    return 0;
}
static void attn_softmax_rows_bias_avx2(float *rows, const float *bias, int nrows, int n) {
    (void)rows, (void)bias, (void)nrows, (void)n;
}
#endif

// ref: torch.softmax(dim=-1)
void vit_softmax_row(float *row, int n, int path) {
    const attn_row_kernels *k = attn_pick_row(path);
    float mx = row[0];
    for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    const float inv = 1.0f / k->exp_sum(row, n, mx);
    for (int j = 0; j < n; j++) row[j] *= inv;
}

void vit_softmax_rows_bias(float *rows, const float *bias, int nrows, int n, int path) {
    if (attn_use_avx512(path)) {
        attn_softmax_rows_bias_avx512(rows, bias, nrows, n);
        return;
    }
    if (attn_use_avx2(path)) {
        attn_softmax_rows_bias_avx2(rows, bias, nrows, n);
        return;
    }
    for (int i = 0; i < nrows; i++) {
        float *row = rows + (size_t)i * n;
        const float *br = bias + (size_t)i * n;
        for (int j = 0; j < n; j++) row[j] += br[j];
        vit_softmax_row(row, n, path);
    }
}

/* ---- one (group, head, query tile) item ------------------------------------ */

typedef struct {
    const float *qkv;              // (ngroups, T, 3C)
    const float *rel_pos_h;        // (2sh-1, hd)
    const float *rel_pos_w;        // (2sw-1, hd)
    const gemm_packed_b *rel;      // [rel_pos_h; rel_pos_w]^T packed: (hd, Lh+Lw), or NULL
    float *out;                    // (ngroups, T, C)
    int sh, sw, T, C, heads, hd, tq;
    float scale;
    const attn_row_kernels *row;
} attn_args;

size_t vit_attention_scratch_floats(int sh, int sw, int tile_q) {
    size_t T = (size_t)sh * sw, tq = (size_t)tile_q < T ? (size_t)tile_q : T;
    if (tq < 1) tq = 1;
    return tq * T + tq * (size_t)(2 * sh - 1 + 2 * sw - 1) + (size_t)sw + tq + 16;
}

/* Queries i0 .. i0+nq-1 of group g, head h. kT / vp: pre-packed K^T and V of
 * this (g, h), or NULL to let gemm pack them. scratch: vit_attention_scratch_floats. */
static void attn_tile(const attn_args *a, int g, int h, int i0, int nq, const gemm_packed_b *kT,
                      const gemm_packed_b *vp, float *scratch) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sw = a->sw;
    const int Lh = 2 * a->sh - 1, Lw = 2 * sw - 1, L = Lh + Lw;
    const float *grp = a->qkv + (size_t)g * T * ld;  // (T, 3C)
    const float *q = grp + (size_t)i0 * ld + h * hd;  // (nq, hd), row stride 3C
    const float *k = grp + C + h * hd;                // (T, hd), row stride 3C
    const float *v = grp + 2 * C + h * hd;            // (T, hd), row stride 3C
    float *S = scratch;                               // (nq, T)
    float *R = S + (size_t)nq * T;                    // (nq, Lh + Lw): [rel_h offsets | rel_w offsets]
    float *rw = R + (size_t)nq * L;                   // (sw)
    float *sums = rw + sw;                            // (nq)

    // ref: image_encoder.py:Attention.forward -- attn = (q * self.scale) @ k.transpose(-2, -1)
    if (kT)
        gemm_f32_packed(0, nq, a->scale, q, ld, kT, 0.0f, S, T, NULL, 1);
    else
        gemm_f32(0, 1, nq, T, hd, a->scale, q, ld, k, ld, 0.0f, S, T, 1);
    // ref: add_decomposed_rel_pos -- rel_h = einsum("bhwc,hkc->bhwk", q, Rh), Rh[qh, kh] = rel_pos_h[qh - kh + sh-1]
    // (q unscaled); computed as q @ rel_pos^T over all 2S-1 offsets of both tables, then gathered.
    if (a->rel) {
        gemm_f32_packed(0, nq, 1.0f, q, ld, a->rel, 0.0f, R, L, NULL, 1);
    } else {
        gemm_f32(0, 1, nq, Lh, hd, 1.0f, q, ld, a->rel_pos_h, hd, 0.0f, R, L, 1);
        gemm_f32(0, 1, nq, Lw, hd, 1.0f, q, ld, a->rel_pos_w, hd, 0.0f, R + Lh, L, 1);
    }
    for (int i = 0; i < nq; i++) {
        const int qh = (i0 + i) / sw, qw = (i0 + i) % sw;
        const float *rhi = R + (size_t)i * L + qh + a->sh - 1;   // rhi[-kh] = rel_h[kh]
        const float *rwi = R + (size_t)i * L + Lh + qw + sw - 1;  // rwi[-kw] = rel_w[kw]
        for (int kw = 0; kw < sw; kw++) rw[kw] = rwi[-kw];
        // ref: add_decomposed_rel_pos -- attn.view(...) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :];
        //      Attention.forward -- attn = attn.softmax(dim=-1) (numerator here, the sum below)
        float *row = S + (size_t)i * T;  // (sh, sw)
        const float mx = a->row->relpos_max(row, rhi, rw, a->sh, sw);
        sums[i] = a->row->exp_sum(row, T, mx);
    }
    // ref: Attention.forward -- (attn @ v).view(B, heads, H, W, -1).permute(0, 2, 3, 1, 4)
    float *o = a->out + ((size_t)g * T + i0) * C + h * hd;  // (nq, hd), row stride C
    if (vp)
        gemm_f32_packed(0, nq, 1.0f, S, T, vp, 0.0f, o, C, NULL, 1);
    else
        gemm_f32(0, 0, nq, hd, T, 1.0f, S, T, v, ld, 0.0f, o, C, 1);
    for (int i = 0; i < nq; i++) {
        const float inv = 1.0f / sums[i];
        float *oi = o + (size_t)i * C;  // (hd)
        for (int c = 0; c < hd; c++) oi[c] *= inv;
    }
}

static int attn_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* [rel_pos_h; rel_pos_w] (Lh + Lw, hd) packed as op(B) = its transpose, or NULL
 * when out of memory (attn_tile then multiplies the two tables separately). */
static gemm_packed_b *attn_pack_rel(const float *rel_pos_h, int Lh, const float *rel_pos_w, int Lw, int hd) {
    float *cat = malloc((size_t)(Lh + Lw) * hd * sizeof(float));  // (Lh + Lw, hd)
    if (!cat) return NULL;
    memcpy(cat, rel_pos_h, (size_t)Lh * hd * sizeof(float));
    memcpy(cat + (size_t)Lh * hd, rel_pos_w, (size_t)Lw * hd * sizeof(float));
    gemm_packed_b *pb = gemm_pack_b(1, hd, Lh + Lw, cat, hd);
    free(cat);
    return pb;
}

static void attn_forward(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w, int ngroups,
                         int sh, int sw, int heads, int hd, int tile_q, float *scratch, int nthreads, int path) {
    attn_args a = {qkv, rel_pos_h, rel_pos_w, NULL, out, sh, sw, sh * sw, heads * hd, heads, hd, 0, 0.0f, NULL};
    if (nthreads < 1) nthreads = 1;
    a.tq = tile_q < 1 ? 1 : tile_q < a.T ? tile_q : a.T;
    a.scale = (float)(1.0 / sqrt((double)hd));  // ref: Attention.__init__ -- head_dim**-0.5
    a.row = attn_pick_row(path);
    const size_t per_thread = vit_attention_scratch_floats(sh, sw, a.tq);
    const int ntiles = (a.T + a.tq - 1) / a.tq;
    gemm_packed_b *rel = attn_pack_rel(rel_pos_h, 2 * sh - 1, rel_pos_w, 2 * sw - 1, hd);
    a.rel = rel;

    if (ntiles == 1) {
        /* windows: one item per (group, head); K and V are small enough to pack per call */
        const long items = (long)ngroups * heads;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1 && items > 1)
        for (long it = 0; it < items; it++)
            attn_tile(&a, (int)(it / heads), (int)(it % heads), 0, a.T, NULL, NULL,
                      scratch + (size_t)attn_thread_id() * per_thread);
        gemm_packed_b_free(rel);
        return;
    }
    /* global: per group, pack every head's K^T and V once (in parallel), then spread
     * the (head, query tile) items over the threads, head by head */
    const int C = a.C, ld = 3 * C;
    gemm_packed_b **packs = calloc((size_t)2 * heads, sizeof *packs);  // [K^T, V] per head
    for (int g = 0; g < ngroups; g++) {
        const float *grp = qkv + (size_t)g * a.T * ld;  // (T, 3C)
        if (packs) {
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1)
            for (int i = 0; i < 2 * heads; i++)
                packs[i] = i % 2 == 0 ? gemm_pack_b(1, hd, a.T, grp + C + i / 2 * hd, ld)       // op(B) = K^T: (hd, T)
                                      : gemm_pack_b(0, a.T, hd, grp + 2 * C + i / 2 * hd, ld);  // V: (T, hd)
            for (int h = 0; h < heads; h++)
                if (!packs[2 * h] || !packs[2 * h + 1]) {  // out of memory: same bits via the unpacked path
                    gemm_packed_b_free(packs[2 * h]), gemm_packed_b_free(packs[2 * h + 1]);
                    packs[2 * h] = packs[2 * h + 1] = NULL;
                }
        }
        const long items = (long)heads * ntiles;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1)
        for (long it = 0; it < items; it++) {
            const int h = (int)(it / ntiles), t = (int)(it % ntiles);
            const int i0 = t * a.tq, nq = a.T - i0 < a.tq ? a.T - i0 : a.tq;
            attn_tile(&a, g, h, i0, nq, packs ? packs[2 * h] : NULL, packs ? packs[2 * h + 1] : NULL,
                      scratch + (size_t)attn_thread_id() * per_thread);
        }
        for (int i = 0; packs && i < 2 * heads; i++) {
            gemm_packed_b_free(packs[i]);
            packs[i] = NULL;
        }
    }
    free(packs);
    gemm_packed_b_free(rel);
}

void vit_attention_forward(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w, int ngroups,
                           int sh, int sw, int heads, int hd, int tile_q, float *scratch, int nthreads) {
    attn_forward(out, qkv, rel_pos_h, rel_pos_w, ngroups, sh, sw, heads, hd, tile_q, scratch, nthreads, 0);
}

void vit_attention_forward_portable(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w,
                                    int ngroups, int sh, int sw, int heads, int hd, int tile_q, float *scratch,
                                    int nthreads) {
    attn_forward(out, qkv, rel_pos_h, rel_pos_w, ngroups, sh, sw, heads, hd, tile_q, scratch, nthreads, 1);
}

/* ---- windows straight from the unpadded grid ---------------------------------- */

size_t vit_window_attention_scratch_floats(int ws, int hd) {
    const size_t T = (size_t)ws * ws;
    return T * 4 * (size_t)hd + vit_attention_scratch_floats(ws, ws, (int)T);
}

static void attn_window_forward(float *out, const float *qkv, const float *qkv_bias, int G, int ws,
                                const float *rel_pos_h, const float *rel_pos_w, int heads, int hd, float *scratch,
                                int nthreads, int path) {
    if (nthreads < 1) nthreads = 1;
    const int C = heads * hd, ld = 3 * C, T = ws * ws, nw = (G + ws - 1) / ws;
    /* one (window, head) at a time, as a single group of one head of width hd */
    attn_args a = {NULL, rel_pos_h, rel_pos_w, NULL, NULL, ws, ws, T, hd, 1, hd, T, 0.0f, NULL};
    a.scale = (float)(1.0 / sqrt((double)hd));  // ref: Attention.__init__ -- head_dim**-0.5
    a.row = attn_pick_row(path);
    gemm_packed_b *rel = attn_pack_rel(rel_pos_h, 2 * ws - 1, rel_pos_w, 2 * ws - 1, hd);
    a.rel = rel;
    const size_t per_thread = vit_window_attention_scratch_floats(ws, hd);
    const long items = (long)nw * nw * heads;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1 && items > 1)
    for (long it = 0; it < items; it++) {
        const int win = (int)(it / heads), h = (int)(it % heads), wy = win / nw, wx = win % nw;
        float *qkv_w = scratch + (size_t)attn_thread_id() * per_thread;  // (T, 3hd): [q | k | v] of head h
        float *o = qkv_w + (size_t)T * 3 * hd;                            // (T, hd)
        // ref: image_encoder.py:window_partition -- tokens past the grid are F.pad zeros, whose qkv is the bias
        for (int r = 0; r < T; r++) {
            const int y = wy * ws + r / ws, x = wx * ws + r % ws;
            const float *src = y < G && x < G ? qkv + ((size_t)y * G + x) * ld : qkv_bias;  // (3C)
            float *dst = qkv_w + (size_t)r * 3 * hd;
            memcpy(dst, src + h * hd, (size_t)hd * sizeof(float));
            memcpy(dst + hd, src + C + h * hd, (size_t)hd * sizeof(float));
            memcpy(dst + 2 * hd, src + 2 * C + h * hd, (size_t)hd * sizeof(float));
        }
        attn_args ai = a;
        ai.qkv = qkv_w;
        ai.out = o;
        attn_tile(&ai, 0, 0, 0, T, NULL, NULL, o + (size_t)T * hd);
        // ref: window_unpartition -- crop the padding; head h owns columns h*hd .. h*hd+hd-1
        for (int r = 0; r < T; r++) {
            const int y = wy * ws + r / ws, x = wx * ws + r % ws;
            if (y < G && x < G)
                memcpy(out + ((size_t)y * G + x) * C + h * hd, o + (size_t)r * hd, (size_t)hd * sizeof(float));
        }
    }
    gemm_packed_b_free(rel);
}

void vit_window_attention_forward(float *out, const float *qkv, const float *qkv_bias, int G, int ws,
                                  const float *rel_pos_h, const float *rel_pos_w, int heads, int hd, float *scratch,
                                  int nthreads) {
    attn_window_forward(out, qkv, qkv_bias, G, ws, rel_pos_h, rel_pos_w, heads, hd, scratch, nthreads, 0);
}

void vit_window_attention_forward_portable(float *out, const float *qkv, const float *qkv_bias, int G, int ws,
                                           const float *rel_pos_h, const float *rel_pos_w, int heads, int hd,
                                           float *scratch, int nthreads) {
    attn_window_forward(out, qkv, qkv_bias, G, ws, rel_pos_h, rel_pos_w, heads, hd, scratch, nthreads, 1);
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
