/* attention_backward.c — backward of the tiled ViT attention with decomposed
 * relative positions, and of the window partition (see backward.h).
 *
 * Forward (per group g, head h; attention.h): for query i = (qh, qw), key j = (kh, kw)
 *     S_ij = scale q_i.k_j + q_i.Rh[qh-kh+sh-1] + q_i.Rw[qw-kw+sw-1]
 *     P = softmax_rows(S),  O = P V
 * Backward, with dO given:
 *     dP = dO V^T,  D_i = sum_j P_ij dP_ij (= dO_i . O_i),  dS = P * (dP - D)
 *     dV = P^T dO,  dK = scale dS^T Q
 *     dq_i = scale (dS K)_i + sum_kh dSh_i[kh] Rh[qh-kh+sh-1] + sum_kw dSw_i[kw] Rw[qw-kw+sw-1]
 *     dRh[r] = sum_{g,h,i,kh: qh-kh+sh-1=r} dSh_i[kh] q_i   (dSh_i[kh] = sum_kw dS_i,(kh,kw)), likewise dRw
 *
 * One work item per (group, head), run by one thread with single-threaded GEMMs:
 *   pass 1, per query tile: S = scale Q_t K^T (+ rel terms), row max and sum of
 *     exponentials -> log-sum-exp lse_i; D_i from O (cached path) or from
 *     dP = dO_t V^T (one more GEMM).
 *   pass 2, per (key tile, query tile): S again, P = exp(S - lse), dP = dO V^T,
 *     dS = P (dP - D); dV_k += P^T dO_t, dK_k += scale dS^T Q_t, dQ_t += scale dS K_k
 *     (five GEMMs on tiles), and the dS sums per key row / key column of each query.
 *   When one tile covers the group (windows), pass 2 reuses pass 1's P and dP.
 *   Then dq += G [Rh; Rw] and the item's d rel_pos = G^T Q (GEMMs), G (T, Lh+Lw)
 *   holding the dS sums at their offsets.
 * Items own disjoint columns of dqkv; the per-item d rel_pos are summed over
 * items in (group, head) order at the end, so nothing depends on nthreads.
 * Row loops (relative terms, exp, dS, sums) are AVX-512 when the CPU has it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/backward.h"
#include "ops/gemm.h"

/* ---- row kernels ------------------------------------------------------------
 * A row of a (query, key-tile) block covers keys j0 .. j0+n-1 of an (sh, sw)
 * grid; it is walked in segments of constant kh. rhg (sh) and rwg (sw) are the
 * query's relative terms gathered by key position: rhg[kh] = q.Rh[qh-kh+sh-1],
 * rwg[kw] = q.Rw[qw-kw+sw-1]. */
typedef struct {
    /* s = (s + rhg[kh]) + rwg[kw] in place; returns max(s) */
    float (*relpos_max)(float *s, int n, int j0, int sw, const float *rhg, const float *rwg);
    /* s = exp(s - mx) in place; returns the sum */
    float (*exp_sum)(float *s, int n, float mx);
    /* sum a*b */
    float (*dot)(const float *a, const float *b, int n);
    /* p = exp(((p + rhg) + rwg) - lse) unless have_p; ds = p (ds - D);
     * rsum[kh] += sum of ds over the segment; csum[kw] += ds */
    void (*ds_row)(float *p, float *ds, int n, int j0, int sw, const float *rhg, const float *rwg, float lse, float D,
                   int have_p, float *rsum, float *csum);
} attnb_kernels;

static float attnb_relpos_max_generic(float *s, int n, int j0, int sw, const float *rhg, const float *rwg) {
    float mx = -INFINITY;
    for (int jj = 0, kh = j0 / sw, kw = j0 % sw; jj < n; jj++) {
        s[jj] = (s[jj] + rhg[kh]) + rwg[kw];
        mx = s[jj] > mx ? s[jj] : mx;
        if (++kw == sw) kw = 0, kh++;
    }
    return mx;
}

static float attnb_exp_sum_generic(float *s, int n, float mx) {
    float sum = 0.0f;
    for (int j = 0; j < n; j++) sum += (s[j] = expf(s[j] - mx));
    return sum;
}

static float attnb_dot_generic(const float *a, const float *b, int n) {
    float acc = 0.0f;
    for (int j = 0; j < n; j++) acc += a[j] * b[j];
    return acc;
}

static void attnb_ds_row_generic(float *p, float *ds, int n, int j0, int sw, const float *rhg, const float *rwg,
                                 float lse, float D, int have_p, float *rsum, float *csum) {
    for (int jj = 0, kh = j0 / sw, kw = j0 % sw; jj < n; jj++) {
        if (!have_p) p[jj] = expf(((p[jj] + rhg[kh]) + rwg[kw]) - lse);
        const float d = p[jj] * (ds[jj] - D);
        ds[jj] = d;
        rsum[kh] += d;
        csum[kw] += d;
        if (++kw == sw) kw = 0, kh++;
    }
}

static const attnb_kernels attnb_generic = {attnb_relpos_max_generic, attnb_exp_sum_generic, attnb_dot_generic,
                                            attnb_ds_row_generic};

#if defined(__x86_64__)
#include <immintrin.h>

#include "ops/attn_exp.h"
#define ATTNB_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

ATTNB_AVX512 static inline __mmask16 attnb_mask(int n) { return (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1u); }

ATTNB_AVX512 static float attnb_relpos_max_avx512(float *s, int n, int j0, int sw, const float *rhg,
                                                  const float *rwg) {
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int jj = 0, kh = j0 / sw, kw = j0 % sw; jj < n; kh++, kw = 0) {
        const int len = sw - kw < n - jj ? sw - kw : n - jj;
        const __m512 rh = _mm512_set1_ps(rhg[kh]);
        float *seg = s + jj;
        const float *rw = rwg + kw;
        for (int c = 0; c < len; c += 16) {
            const __mmask16 m = attnb_mask(len - c);
            const __m512 v =
                _mm512_add_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(m, seg + c), rh), _mm512_maskz_loadu_ps(m, rw + c));
            _mm512_mask_storeu_ps(seg + c, m, v);
            vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
        }
        jj += len;
    }
    return _mm512_reduce_max_ps(vmax);
}

ATTNB_AVX512 static float attnb_exp_sum_avx512(float *s, int n, float mxs) {
    const __m512 mx = _mm512_set1_ps(mxs);
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        const __mmask16 m = attnb_mask(n - j);
        const __m512 e = attn_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), mx));
        _mm512_mask_storeu_ps(s + j, m, e);
        acc = _mm512_mask_add_ps(acc, m, acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

ATTNB_AVX512 static float attnb_dot_avx512(const float *a, const float *b, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        const __mmask16 m = attnb_mask(n - j);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

ATTNB_AVX512 static void attnb_ds_row_avx512(float *p, float *ds, int n, int j0, int sw, const float *rhg,
                                             const float *rwg, float lse, float Ds, int have_p, float *rsum,
                                             float *csum) {
    const __m512 D = _mm512_set1_ps(Ds), L = _mm512_set1_ps(lse);
    for (int jj = 0, kh = j0 / sw, kw = j0 % sw; jj < n; kh++, kw = 0) {
        const int len = sw - kw < n - jj ? sw - kw : n - jj;
        const __m512 rh = _mm512_set1_ps(rhg[kh]);
        float *ps = p + jj, *dss = ds + jj, *cs = csum + kw;
        const float *rw = rwg + kw;
        __m512 racc = _mm512_setzero_ps();
        for (int c = 0; c < len; c += 16) {
            const __mmask16 m = attnb_mask(len - c);
            __m512 pv = _mm512_maskz_loadu_ps(m, ps + c);
            if (!have_p) {
                pv = _mm512_add_ps(_mm512_add_ps(pv, rh), _mm512_maskz_loadu_ps(m, rw + c));
                pv = attn_exp16(_mm512_sub_ps(pv, L));
                _mm512_mask_storeu_ps(ps + c, m, pv);
            }
            const __m512 d = _mm512_mul_ps(pv, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dss + c), D));
            _mm512_mask_storeu_ps(dss + c, m, d);
            racc = _mm512_mask_add_ps(racc, m, racc, d);
            _mm512_mask_storeu_ps(cs + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, cs + c), d));
        }
        rsum[kh] += _mm512_reduce_add_ps(racc);
        jj += len;
    }
}

static const attnb_kernels attnb_avx512 = {attnb_relpos_max_avx512, attnb_exp_sum_avx512, attnb_dot_avx512,
                                           attnb_ds_row_avx512};

static const attnb_kernels *attnb_pick(int path) {
    if (path == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return &attnb_avx512;
    return &attnb_generic;
}
#else
static const attnb_kernels *attnb_pick(int path) {
    (void)path;
    return &attnb_generic;
}
#endif

/* ---- per (group, head) item ------------------------------------------------ */

typedef struct {
    const float *qkv;        // (ngroups, T, 3C)
    const float *dout;       // (ngroups, T, C)
    const float *out;        // (ngroups, T, C) forward output, or NULL
    const float *lse_in;     // (ngroups, heads, T) log-sum-exp of each score row, or NULL
    const float *rel_pos_h;  // (Lh, hd)
    const float *rel_pos_w;  // (Lw, hd)
    float *dqkv;             // (ngroups, T, 3C)
    float *Gm;               // (heads, ngroups, T, Lh + Lw) dS sums at their rel-pos offsets
    int sh, sw, T, C, heads, hd, tq, Lh, Lw, ngroups;
    float scale;
    const attnb_kernels *k;
} attnb_args;

static int attnb_tile_rows(int tile_q, int T) { return tile_q < 1 ? 1 : tile_q < T ? tile_q : T; }
static size_t attnb_r16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Per-thread scratch, in floats. */
static size_t attnb_thread_floats(int sh, int sw, int tq) {
    const size_t T = (size_t)sh * sw, L = (size_t)(2 * sh - 1 + 2 * sw - 1);
    return attnb_r16(T * sh) + attnb_r16(T * sw)      // rhg, rwg
           + 2 * attnb_r16(T)                          // lse, D
           + attnb_r16(T * sh) + attnb_r16(T * sw)     // rsum, csum
           + attnb_r16((size_t)tq * L)                 // q.Rh | q.Rw of a tile
           + 2 * attnb_r16((size_t)tq * T) + 16;       // S / P and dP / dS
}

size_t vit_attention_backward_scratch_floats(int ngroups, int sh, int sw, int heads, int tile_q, int nthreads) {
    const size_t T = (size_t)sh * sw, L = (size_t)(2 * sh - 1 + 2 * sw - 1);
    const int tq = attnb_tile_rows(tile_q, (int)T);
    return attnb_r16((size_t)heads * ngroups * T * L) + (size_t)(nthreads < 1 ? 1 : nthreads) * attnb_thread_floats(sh, sw, tq) + 16;
}

static int attnb_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Pass 1 over query tile i0 .. i0+nq-1: relative terms, lse, D. With one tile
 * (nq == T) leaves P in P and dP in dPb when `out` is NULL. */
static void attnb_stats(const attnb_args *a, int g, int h, int i0, int nq, float *rhg, float *rwg, float *lse,
                        float *Dv, float *RR, float *P, float *dPb) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sh = a->sh, sw = a->sw, Lh = a->Lh, Lw = a->Lw;
    const int L = Lh + Lw;
    const float *grp = a->qkv + (size_t)g * T * ld;                 // (T, 3C)
    const float *q = grp + (size_t)i0 * ld + h * hd;                // (nq, hd), row stride 3C
    const float *k = grp + C + h * hd;                              // (T, hd), row stride 3C
    const float *v = grp + 2 * C + h * hd;                          // (T, hd), row stride 3C
    const float *dO = a->dout + ((size_t)g * T + i0) * C + h * hd;  // (nq, hd), row stride C
    // ref: add_decomposed_rel_pos -- rel_h / rel_w (q unscaled), over all 2S-1 offsets
    gemm_f32(0, 1, nq, Lh, hd, 1.0f, q, ld, a->rel_pos_h, hd, 0.0f, RR, L, 1);
    gemm_f32(0, 1, nq, Lw, hd, 1.0f, q, ld, a->rel_pos_w, hd, 0.0f, RR + Lh, L, 1);
    /* with the forward's log-sum-exp and output, only the relative terms and D are needed */
    const float *lse_in = a->lse_in && a->out && nq < T ? a->lse_in + ((size_t)g * a->heads + h) * T : NULL;
    // ref: image_encoder.py:Attention.forward -- attn = (q * self.scale) @ k.transpose(-2, -1)
    if (!lse_in) gemm_f32(0, 1, nq, T, hd, a->scale, q, ld, k, ld, 0.0f, P, T, 1);
    if (!a->out) gemm_f32(0, 1, nq, T, hd, 1.0f, dO, C, v, ld, 0.0f, dPb, T, 1);  // dP = dO V^T
    for (int i = 0; i < nq; i++) {
        const int qi = i0 + i, qh = qi / sw, qw = qi % sw;
        const float *rh = RR + (size_t)i * L + qh + sh - 1, *rw = RR + (size_t)i * L + Lh + qw + sw - 1;
        float *gh = rhg + (size_t)qi * sh, *gw = rwg + (size_t)qi * sw;  // (sh), (sw)
        for (int kh = 0; kh < sh; kh++) gh[kh] = rh[-kh];
        for (int kw = 0; kw < sw; kw++) gw[kw] = rw[-kw];
        if (lse_in) {
            lse[qi] = lse_in[qi];
            Dv[qi] = a->k->dot(dO + (size_t)i * C, a->out + ((size_t)g * T + qi) * C + h * hd, hd);
            continue;
        }
        float *s = P + (size_t)i * T;  // (T)
        // ref: add_decomposed_rel_pos -- attn + rel_h[..., None] + rel_w[..., None, :]; softmax(dim=-1)
        const float mx = a->k->relpos_max(s, T, 0, sw, gh, gw);
        const float sum = a->k->exp_sum(s, T, mx);
        lse[qi] = mx + logf(sum);
        if (a->out) {
            Dv[qi] = a->k->dot(dO + (size_t)i * C, a->out + ((size_t)g * T + qi) * C + h * hd, hd);
        } else {
            Dv[qi] = a->k->dot(s, dPb + (size_t)i * T, T) / sum;
        }
        if (nq == T) {  // keep P for pass 2
            const float inv = 1.0f / sum;
            for (int j = 0; j < T; j++) s[j] *= inv;
        }
    }
}

static void attnb_item(const attnb_args *a, int g, int h, float *scratch) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sh = a->sh, sw = a->sw, Lh = a->Lh, Lw = a->Lw;
    const int L = Lh + Lw, tq = a->tq, single = tq >= T;
    float *p = scratch;
    float *rhg = p;  p += attnb_r16((size_t)T * sh);   // (T, sh)
    float *rwg = p;  p += attnb_r16((size_t)T * sw);   // (T, sw)
    float *lse = p;  p += attnb_r16((size_t)T);        // (T)
    float *Dv = p;   p += attnb_r16((size_t)T);        // (T)
    float *rsum = p; p += attnb_r16((size_t)T * sh);   // (T, sh) dS summed over kw
    float *csum = p; p += attnb_r16((size_t)T * sw);   // (T, sw) dS summed over kh
    float *Gm = a->Gm + ((size_t)h * a->ngroups + g) * T * L;  // (T, Lh + Lw) the sums at their offsets
    float *RR = p;   p += attnb_r16((size_t)tq * L);   // (tq, Lh + Lw)
    float *P = p;    p += attnb_r16((size_t)tq * T);   // (tq, T) or (tq, tk)
    float *dS = p;                                     // (tq, T) or (tq, tk)
    const float *grp = a->qkv + (size_t)g * T * ld;    // (T, 3C)
    const float *Q = grp + h * hd;                     // (T, hd), row stride 3C
    const float *K = grp + C + h * hd;                 // (T, hd), row stride 3C
    const float *V = grp + 2 * C + h * hd;             // (T, hd), row stride 3C
    const float *dO = a->dout + (size_t)g * T * C + h * hd;  // (T, hd), row stride C
    float *dq = a->dqkv + (size_t)g * T * ld + h * hd;       // (T, hd), row stride 3C; dk at +C, dv at +2C

    for (int i0 = 0; i0 < T; i0 += tq) {
        const int nq = T - i0 < tq ? T - i0 : tq;
        attnb_stats(a, g, h, i0, nq, rhg, rwg, lse, Dv, RR, P, dS);
    }
    memset(rsum, 0, sizeof(float) * (size_t)T * sh);
    memset(csum, 0, sizeof(float) * (size_t)T * sw);
    const int tk = tq;
    for (int j0 = 0; j0 < T; j0 += tk) {
        const int nk = T - j0 < tk ? T - j0 : tk;
        const float *Kt = K + (size_t)j0 * ld, *Vt = V + (size_t)j0 * ld;  // (nk, hd), row stride 3C
        float *dk = dq + (size_t)j0 * ld + C, *dv = dk + C;                  // (nk, hd), row stride 3C
        for (int i0 = 0; i0 < T; i0 += tq) {
            const int nq = T - i0 < tq ? T - i0 : tq;
            const float *Qt = Q + (size_t)i0 * ld;    // (nq, hd), row stride 3C
            const float *dOt = dO + (size_t)i0 * C;  // (nq, hd), row stride C
            if (!single) {
                gemm_f32(0, 1, nq, nk, hd, a->scale, Qt, ld, Kt, ld, 0.0f, P, nk, 1);
                gemm_f32(0, 1, nq, nk, hd, 1.0f, dOt, C, Vt, ld, 0.0f, dS, nk, 1);  // dP
            } else if (a->out) {
                gemm_f32(0, 1, nq, nk, hd, 1.0f, dOt, C, Vt, ld, 0.0f, dS, nk, 1);  // dP (P kept from pass 1)
            }
            for (int i = 0; i < nq; i++) {
                const int qi = i0 + i;
                a->k->ds_row(P + (size_t)i * nk, dS + (size_t)i * nk, nk, j0, sw, rhg + (size_t)qi * sh,
                             rwg + (size_t)qi * sw, lse[qi], Dv[qi], single, rsum + (size_t)qi * sh,
                             csum + (size_t)qi * sw);
            }
            gemm_f32(1, 0, nk, hd, nq, 1.0f, P, nk, dOt, C, 1.0f, dv, ld, 1);          // dV += P^T dO
            gemm_f32(1, 0, nk, hd, nq, a->scale, dS, nk, Qt, ld, 1.0f, dk, ld, 1);     // dK += scale dS^T Q
            gemm_f32(0, 0, nq, hd, nk, a->scale, dS, nk, Kt, ld, 1.0f, dq + (size_t)i0 * ld, ld, 1);  // dQ
        }
    }
    // the dS sums at their rel-pos offsets: Gm[i][qh-kh+sh-1] = rsum[i][kh], Gm[i][Lh+qw-kw+sw-1] = csum[i][kw]
    memset(Gm, 0, sizeof(float) * (size_t)T * L);
    for (int i = 0; i < T; i++) {
        const int qh = i / sw, qw = i % sw;
        float *gh = Gm + (size_t)i * L + qh + sh - 1, *gw = Gm + (size_t)i * L + Lh + qw + sw - 1;
        for (int kh = 0; kh < sh; kh++) gh[-kh] = rsum[(size_t)i * sh + kh];
        for (int kw = 0; kw < sw; kw++) gw[-kw] = csum[(size_t)i * sw + kw];
    }
    // dq += Gh rel_pos_h + Gw rel_pos_w (d rel_pos = G^T Q comes after all items)
    gemm_f32(0, 0, T, hd, Lh, 1.0f, Gm, L, a->rel_pos_h, hd, 1.0f, dq, ld, 1);
    gemm_f32(0, 0, T, hd, Lw, 1.0f, Gm + Lh, L, a->rel_pos_w, hd, 1.0f, dq, ld, 1);
}

static void attnb_run(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout, const float *out,
                      const float *lse, const float *qkv, const float *rel_pos_h, const float *rel_pos_w, int ngroups, int sh, int sw,
                      int heads, int hd, int tile_q, float *scratch, int nthreads, int path) {
    if (nthreads < 1) nthreads = 1;
    attnb_args a = {0};
    a.qkv = qkv, a.dout = dout, a.out = out, a.lse_in = lse, a.rel_pos_h = rel_pos_h, a.rel_pos_w = rel_pos_w, a.dqkv = dqkv;
    a.sh = sh, a.sw = sw, a.T = sh * sw, a.C = heads * hd, a.heads = heads, a.hd = hd, a.ngroups = ngroups;
    a.Lh = 2 * sh - 1, a.Lw = 2 * sw - 1;
    a.tq = attnb_tile_rows(tile_q, a.T);
    a.scale = (float)(1.0 / sqrt((double)hd));  // ref: Attention.__init__ -- head_dim**-0.5
    a.k = attnb_pick(path);
    const int T = a.T, L = a.Lh + a.Lw, ld = 3 * a.C;
    a.Gm = scratch;
    float *thread_scratch = scratch + attnb_r16((size_t)heads * ngroups * T * L);
    const size_t per_thread = attnb_thread_floats(sh, sw, a.tq);
    const long items = (long)ngroups * heads;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1 && items > 1)
    for (long it = 0; it < items; it++)
        attnb_item(&a, (int)(it / heads), (int)(it % heads), thread_scratch + (size_t)attnb_thread_id() * per_thread);
    /* d rel_pos += G^T Q summed over heads (rows of all groups at once), heads in
     * order, into (L, hd) in the (now free) thread scratch, then added to the
     * caller's gradients with one rounding per element, so that a gradient
     * accumulated over calls (samples of a batch) is the sum of the calls'
     * contributions, as when processes add them (trainer.h, MPI). (L, hd) is small. */
    if (!drel_pos_h && !drel_pos_w) return;
    float *acc = malloc(sizeof(float) * (size_t)L * hd);  // (L, hd): rows Lh of rel_pos_h, then Lw of rel_pos_w
    if (!acc) {  // out of memory: straight into the caller's gradients (the same sum, rounded per K chunk)
        for (int h = 0; h < heads; h++) {
            const float *G = a.Gm + (size_t)h * ngroups * T * L, *Q = qkv + h * hd;
            if (drel_pos_h) gemm_f32(1, 0, a.Lh, hd, ngroups * T, 1.0f, G, L, Q, ld, 1.0f, drel_pos_h, hd, nthreads);
            if (drel_pos_w)
                gemm_f32(1, 0, a.Lw, hd, ngroups * T, 1.0f, G + a.Lh, L, Q, ld, 1.0f, drel_pos_w, hd, nthreads);
        }
        return;
    }
    for (int h = 0; h < heads; h++) {
        const float *G = a.Gm + (size_t)h * ngroups * T * L;  // (ngroups * T, L)
        const float *Q = qkv + h * hd;                        // (ngroups * T, hd), row stride 3C
        gemm_f32(1, 0, L, hd, ngroups * T, 1.0f, G, L, Q, ld, h ? 1.0f : 0.0f, acc, hd, nthreads);
    }
    if (drel_pos_h)
        for (long i = 0; i < (long)a.Lh * hd; i++) drel_pos_h[i] += acc[i];
    if (drel_pos_w)
        for (long i = 0; i < (long)a.Lw * hd; i++) drel_pos_w[i] += acc[(long)a.Lh * hd + i];
    free(acc);
}

// ref: image_encoder.py:Attention.forward + add_decomposed_rel_pos, differentiated
void vit_attention_backward(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout, const float *qkv,
                            const float *rel_pos_h, const float *rel_pos_w, int ngroups, int sh, int sw, int heads,
                            int hd, int tile_q, float *scratch, int nthreads) {
    attnb_run(dqkv, drel_pos_h, drel_pos_w, dout, NULL, NULL, qkv, rel_pos_h, rel_pos_w, ngroups, sh, sw, heads, hd, tile_q,
              scratch, nthreads, 0);
}

void vit_attention_backward_cached(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout,
                                   const float *out, const float *lse, const float *qkv, const float *rel_pos_h,
                                   const float *rel_pos_w, int ngroups, int sh, int sw, int heads, int hd, int tile_q,
                                   float *scratch, int nthreads) {
    attnb_run(dqkv, drel_pos_h, drel_pos_w, dout, out, lse, qkv, rel_pos_h, rel_pos_w, ngroups, sh, sw, heads, hd, tile_q,
              scratch, nthreads, 0);
}

void vit_attention_backward_portable(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout,
                                     const float *out, const float *lse, const float *qkv, const float *rel_pos_h,
                                     const float *rel_pos_w, int ngroups, int sh, int sw, int heads, int hd,
                                     int tile_q, float *scratch, int nthreads) {
    attnb_run(dqkv, drel_pos_h, drel_pos_w, dout, out, lse, qkv, rel_pos_h, rel_pos_w, ngroups, sh, sw, heads, hd, tile_q,
              scratch, nthreads, 1);
}

/* ---- training forward: the output and each score row's log-sum-exp ---------- */

size_t vit_attention_forward_train_scratch_floats(int sh, int sw, int tile_q, int nthreads) {
    const size_t T = (size_t)sh * sw, L = (size_t)(2 * sh - 1 + 2 * sw - 1);
    const size_t tq = (size_t)attnb_tile_rows(tile_q, (int)T);
    const size_t per = attnb_r16(tq * L) + attnb_r16(tq * sh) + attnb_r16(tq * sw) + attnb_r16(tq) + attnb_r16(tq * T);
    return (size_t)(nthreads < 1 ? 1 : nthreads) * per;
}

/* Pre-packed GEMM operands of the training forward; any may be NULL (gemm packs per call). */
typedef struct {
    gemm_packed_b **kv;      // (ngroups * heads * 2): K^T (hd, T) and V (T, hd) of each (group, head)
    gemm_packed_b *rh, *rw;  // rel_pos_h^T (hd, Lh), rel_pos_w^T (hd, Lw)
} attnf_packs;

/* C (M, N) = alpha op(A) B, B pre-packed when pb, else from (B, ldb, trans_b). */
static void attnf_gemm(int M, int N, int K, float alpha, const float *A, int lda, int trans_b, const float *B,
                       int ldb, const gemm_packed_b *pb, float *C, int ldc) {
    if (pb)
        gemm_f32_packed(0, M, alpha, A, lda, pb, 0.0f, C, ldc, NULL, 1);
    else
        gemm_f32(0, trans_b, M, N, K, alpha, A, lda, B, ldb, 0.0f, C, ldc, 1);
}

/* Queries i0 .. i0+nq-1 of group g, head h: out rows and lse. */
static void attnf_tile(const attnb_args *a, const attnf_packs *pk, float *out, float *lse, int g, int h, int i0,
                       int nq, float *scratch) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sh = a->sh, sw = a->sw, Lh = a->Lh, Lw = a->Lw;
    const int L = Lh + Lw;
    float *RR = scratch;                                    // (nq, L)
    float *rhg = RR + attnb_r16((size_t)a->tq * L);         // (nq, sh)
    float *rwg = rhg + attnb_r16((size_t)a->tq * sh);       // (nq, sw)
    float *inv = rwg + attnb_r16((size_t)a->tq * sw);       // (nq) 1 / sum of exponentials
    float *P = inv + attnb_r16((size_t)a->tq);              // (nq, T)
    const float *grp = a->qkv + (size_t)g * T * ld;         // (T, 3C)
    const float *q = grp + (size_t)i0 * ld + h * hd;        // (nq, hd), row stride 3C
    const float *k = grp + C + h * hd;                      // (T, hd), row stride 3C
    const float *v = grp + 2 * C + h * hd;                  // (T, hd), row stride 3C
    float *o = out + ((size_t)g * T + i0) * C + h * hd;     // (nq, hd), row stride C
    float *ls = lse + ((size_t)g * a->heads + h) * T + i0;  // (nq)
    gemm_packed_b *const *kv = pk->kv ? pk->kv + 2 * ((size_t)g * a->heads + h) : NULL;
    // ref: add_decomposed_rel_pos -- rel_h / rel_w (q unscaled)
    attnf_gemm(nq, Lh, hd, 1.0f, q, ld, 1, a->rel_pos_h, hd, pk->rh, RR, L);
    attnf_gemm(nq, Lw, hd, 1.0f, q, ld, 1, a->rel_pos_w, hd, pk->rw, RR + Lh, L);
    // ref: image_encoder.py:Attention.forward -- attn = (q * self.scale) @ k.transpose(-2, -1)
    attnf_gemm(nq, T, hd, a->scale, q, ld, 1, k, ld, kv ? kv[0] : NULL, P, T);
    for (int i = 0; i < nq; i++) {
        const int qi = i0 + i, qh = qi / sw, qw = qi % sw;
        const float *rh = RR + (size_t)i * L + qh + sh - 1, *rw = RR + (size_t)i * L + Lh + qw + sw - 1;
        float *gh = rhg + (size_t)i * sh, *gw = rwg + (size_t)i * sw;  // (sh), (sw)
        for (int kh = 0; kh < sh; kh++) gh[kh] = rh[-kh];
        for (int kw = 0; kw < sw; kw++) gw[kw] = rw[-kw];
        float *s = P + (size_t)i * T;  // (T)
        // ref: add_decomposed_rel_pos + softmax(dim=-1): exp(S - max), its sum kept as lse
        const float mx = a->k->relpos_max(s, T, 0, sw, gh, gw);
        const float sum = a->k->exp_sum(s, T, mx);
        ls[i] = mx + logf(sum);
        inv[i] = 1.0f / sum;
    }
    // ref: Attention.forward -- x = attn @ v, as (exp(S - max) V) / sum
    attnf_gemm(nq, hd, T, 1.0f, P, T, 0, v, ld, kv ? kv[1] : NULL, o, C);
    for (int i = 0; i < nq; i++)
        for (int c = 0; c < hd; c++) o[(size_t)i * C + c] *= inv[i];
}

// ref: image_encoder.py:Attention.forward + add_decomposed_rel_pos
void vit_attention_forward_train(float *out, float *lse, const float *qkv, const float *rel_pos_h,
                                 const float *rel_pos_w, int ngroups, int sh, int sw, int heads, int hd, int tile_q,
                                 float *scratch, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    attnb_args a = {0};
    a.qkv = qkv, a.rel_pos_h = rel_pos_h, a.rel_pos_w = rel_pos_w;
    a.sh = sh, a.sw = sw, a.T = sh * sw, a.C = heads * hd, a.heads = heads, a.hd = hd, a.ngroups = ngroups;
    a.Lh = 2 * sh - 1, a.Lw = 2 * sw - 1;
    a.tq = attnb_tile_rows(tile_q, a.T);
    a.scale = (float)(1.0 / sqrt((double)hd));  // ref: Attention.__init__ -- head_dim**-0.5
    a.k = attnb_pick(0);
    const int ntiles = (a.T + a.tq - 1) / a.tq, T = a.T, C = a.C, ld = 3 * C;
    const size_t per_thread = vit_attention_forward_train_scratch_floats(sh, sw, a.tq, 1);
    const long items = (long)ngroups * heads * ntiles, npk = 2L * ngroups * heads;
    /* operands reused by several query tiles, packed once (bits as gemm_f32's) */
    attnf_packs pk = {ntiles > 1 ? calloc((size_t)npk, sizeof *pk.kv) : NULL, NULL, NULL};
    if (pk.kv) {
        pk.rh = gemm_pack_b(1, hd, a.Lh, rel_pos_h, hd);
        pk.rw = gemm_pack_b(1, hd, a.Lw, rel_pos_w, hd);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1)
        for (long i = 0; i < npk; i++) {
            const float *grp = qkv + (size_t)(i / (2 * heads)) * T * ld + (i / 2 % heads) * hd;  // (T, 3C)
            pk.kv[i] = i % 2 == 0 ? gemm_pack_b(1, hd, T, grp + C, ld)       // op(B) = K^T: (hd, T)
                                  : gemm_pack_b(0, T, hd, grp + 2 * C, ld);  // V: (T, hd)
        }
    }
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1 && items > 1)
    for (long it = 0; it < items; it++) {
        const int t = (int)(it % ntiles), gh = (int)(it / ntiles), i0 = t * a.tq;
        attnf_tile(&a, &pk, out, lse, gh / heads, gh % heads, i0, T - i0 < a.tq ? T - i0 : a.tq,
                   scratch + (size_t)attnb_thread_id() * per_thread);
    }
    if (pk.kv)
        for (long i = 0; i < npk; i++) gemm_packed_b_free(pk.kv[i]);
    free(pk.kv);
    gemm_packed_b_free(pk.rh);
    gemm_packed_b_free(pk.rw);
}

/* ---- window partition ------------------------------------------------------ */

/* Row of the window-major (Hp*Hp, C) layout that holds grid token (y, x). */
static long attnb_window_row(int y, int x, int Hp, int ws) {
    const int nw = Hp / ws;
    return ((long)(y / ws) * nw + x / ws) * ws * ws + (long)(y % ws) * ws + x % ws;
}

// ref: image_encoder.py:window_partition (F.pad + view/permute), differentiated: the padding gets no gradient
void vit_window_partition_backward(float *dsrc, const float *dwin, int G, int Hp, int ws, int C, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            float *d = dsrc + ((long)y * G + x) * C;                     // (C)
            const float *s = dwin + attnb_window_row(y, x, Hp, ws) * C;  // (C)
            for (int c = 0; c < C; c++) d[c] += s[c];
        }
}

// ref: image_encoder.py:window_unpartition (view/permute + crop), differentiated: cropped rows get nothing
void vit_window_unpartition_backward(float *dwin, const float *dx, int G, int Hp, int ws, int C, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            float *d = dwin + attnb_window_row(y, x, Hp, ws) * C;  // (C)
            const float *s = dx + ((long)y * G + x) * C;           // (C)
            for (int c = 0; c < C; c++) d[c] += s[c];
        }
}
