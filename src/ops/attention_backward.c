/* attention_backward.c — backward of the tiled ViT attention with decomposed
 * relative positions, and of the window partition (see backward.h).
 *
 * Forward (per group g, head h; attention.h): for query i = (qh, qw), key j = (kh, kw)
 *     S_ij = scale q_i.k_j + q_i.Rh[qh-kh+sh-1] + q_i.Rw[qw-kw+sw-1]
 *     P = softmax_rows(S),  O = P V
 * Backward, with dO given:
 *     dP = dO V^T,  D_i = sum_j P_ij dP_ij,  dS = P * (dP - D)
 *     dV = P^T dO,  dK = scale dS^T Q
 *     dq_i = scale (dS K)_i + sum_kh dSh_i[kh] Rh[qh-kh+sh-1] + sum_kw dSw_i[kw] Rw[qw-kw+sw-1]
 *     dRh[r] = sum_{g,h,i,kh: qh-kh+sh-1=r} dSh_i[kh] q_i   (dSh_i[kh] = sum_kw dS_i,(kh,kw)), likewise dRw
 * Work items own their outputs: a query tile owns its dq rows, a key tile its
 * dk and dv rows, a row r of d rel_pos is reduced by one item over (g, h, i)
 * in order, so nothing depends on the thread count.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/backward.h"
#include "ops/gemm.h"

typedef struct {
    const float *qkv;        // (ngroups, T, 3C)
    const float *dout;       // (ngroups, T, C)
    const float *rel_pos_h;  // (Lh, hd)
    const float *rel_pos_w;  // (Lw, hd)
    float *dqkv;             // (ngroups, T, 3C)
    float *drel;             // (ngroups, heads, T, sh + sw): per query, dS summed over kw | over kh
    /* key-tile pass state of the current (g, h) (tiled path only) */
    float *RH;               // (T, Lh) q_i . rel_pos_h[r]
    float *RW;               // (T, Lw) q_i . rel_pos_w[r]
    float *mx, *inv, *D;     // (T) row max, 1 / row sum of exp, D_i
    int sh, sw, T, C, heads, hd, tq, Lh, Lw;
    float scale;
} attnb_args;

static int attnb_tile_rows(int tile_q, int T) { return tile_q < 1 ? 1 : tile_q < T ? tile_q : T; }

static size_t attnb_thread_floats(int sh, int sw, int tq) {
    const size_t T = (size_t)sh * sw, L = (size_t)(2 * sh - 1 + 2 * sw - 1);
    return 2 * (size_t)tq * T + 2 * (size_t)tq * L + 16;
}

size_t vit_attention_backward_scratch_floats(int ngroups, int sh, int sw, int heads, int tile_q, int nthreads) {
    const size_t T = (size_t)sh * sw, L = (size_t)(2 * sh - 1 + 2 * sw - 1);
    const int tq = attnb_tile_rows(tile_q, (int)T);
    size_t n = (size_t)ngroups * heads * T * (size_t)(sh + sw) + 16;
    if ((size_t)tq < T) n += T * L + 3 * T + 16;
    return n + (size_t)(nthreads < 1 ? 1 : nthreads) * attnb_thread_floats(sh, sw, tq);
}

static int attnb_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Query rows i0 .. i0+nq-1 of group g, head h: recomputes the scores and the
 * softmax, writes dq (and, when the tile is the whole group, dk and dv), the
 * per-query rel-pos sums into a->drel, and in the tiled path the row
 * statistics for the key-tile pass. scratch: attnb_thread_floats floats. */
static void attnb_query_tile(const attnb_args *a, int g, int h, int i0, int nq, float *scratch) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sh = a->sh, sw = a->sw, Lh = a->Lh, Lw = a->Lw;
    const int whole = (i0 == 0 && nq == T);
    const float *grp = a->qkv + (size_t)g * T * ld;                       // (T, 3C)
    const float *q = grp + (size_t)i0 * ld + h * hd;                      // (nq, hd), row stride 3C
    const float *k = grp + C + h * hd;                                    // (T, hd), row stride 3C
    const float *v = grp + 2 * C + h * hd;                                // (T, hd), row stride 3C
    const float *dO = a->dout + ((size_t)g * T + i0) * C + h * hd;        // (nq, hd), row stride C
    float *dq = a->dqkv + ((size_t)g * T + i0) * ld + h * hd;             // (nq, hd), row stride 3C
    float *drel = a->drel + (((size_t)g * a->heads + h) * T + i0) * (sh + sw);  // (nq, sh + sw)
    float *P = scratch;                        // (nq, T) scores, then probabilities
    float *dS = P + (size_t)nq * T;            // (nq, T) dP, then dS
    float *RH = dS + (size_t)nq * T;           // (nq, Lh)
    float *RW = RH + (size_t)nq * Lh;          // (nq, Lw)
    float *Gm = RW + (size_t)nq * Lw;          // (nq, Lh + Lw) dS sums scattered by offset
    if (!whole) {  // keep q.Rh, q.Rw for the key-tile pass
        RH = a->RH + (size_t)i0 * Lh;
        RW = a->RW + (size_t)i0 * Lw;
    }

    // ref: image_encoder.py:Attention.forward -- attn = (q * self.scale) @ k.transpose(-2, -1)
    gemm_f32(0, 1, nq, T, hd, a->scale, q, ld, k, ld, 0.0f, P, T, 1);
    // ref: add_decomposed_rel_pos -- rel_h / rel_w (q unscaled), over all 2S-1 offsets
    gemm_f32(0, 1, nq, Lh, hd, 1.0f, q, ld, a->rel_pos_h, hd, 0.0f, RH, Lh, 1);
    gemm_f32(0, 1, nq, Lw, hd, 1.0f, q, ld, a->rel_pos_w, hd, 0.0f, RW, Lw, 1);
    // dP = dO V^T
    gemm_f32(0, 1, nq, T, hd, 1.0f, dO, C, v, ld, 0.0f, dS, T, 1);

    memset(Gm, 0, (size_t)nq * (Lh + Lw) * sizeof(float));
    for (int i = 0; i < nq; i++) {
        const int qh = (i0 + i) / sw, qw = (i0 + i) % sw;
        float *p = P + (size_t)i * T;    // (sh, sw)
        float *ds = dS + (size_t)i * T;  // (sh, sw)
        const float *rhi = RH + (size_t)i * Lh + qh + sh - 1;  // rhi[-kh]
        const float *rwi = RW + (size_t)i * Lw + qw + sw - 1;  // rwi[-kw]
        // ref: add_decomposed_rel_pos -- attn + rel_h[..., None] + rel_w[..., None, :]; then softmax(dim=-1)
        float mx = -INFINITY;
        for (int kh = 0; kh < sh; kh++)
            for (int kw = 0; kw < sw; kw++) {
                float *s = p + kh * sw + kw;
                *s = (*s + rhi[-kh]) + rwi[-kw];
                mx = *s > mx ? *s : mx;
            }
        double sum = 0.0;
        for (int j = 0; j < T; j++) sum += (p[j] = expf(p[j] - mx));
        const float inv = (float)(1.0 / sum);
        double dsum = 0.0;
        for (int j = 0; j < T; j++) {
            p[j] *= inv;
            dsum += (double)p[j] * ds[j];
        }
        const float Di = (float)dsum;
        for (int j = 0; j < T; j++) ds[j] = p[j] * (ds[j] - Di);
        if (!whole) {
            a->mx[i0 + i] = mx;
            a->inv[i0 + i] = inv;
            a->D[i0 + i] = Di;
        }
        // rel-pos sums: over kw for each kh, over kh for each kw
        float *dr = drel + (size_t)i * (sh + sw);  // (sh + sw)
        float *gh = Gm + (size_t)i * (Lh + Lw) + qh + sh - 1;  // gh[-kh]
        float *gw = Gm + (size_t)i * (Lh + Lw) + Lh + qw + sw - 1;  // gw[-kw]
        for (int kh = 0; kh < sh; kh++) {
            double acc = 0.0;
            for (int kw = 0; kw < sw; kw++) acc += ds[kh * sw + kw];
            dr[kh] = (float)acc;
            gh[-kh] = (float)acc;
        }
        for (int kw = 0; kw < sw; kw++) {
            double acc = 0.0;
            for (int kh = 0; kh < sh; kh++) acc += ds[kh * sw + kw];
            dr[sh + kw] = (float)acc;
            gw[-kw] = (float)acc;
        }
    }
    // dq += scale dS K + Gh rel_pos_h + Gw rel_pos_w
    gemm_f32(0, 0, nq, hd, T, a->scale, dS, T, k, ld, 1.0f, dq, ld, 1);
    gemm_f32(0, 0, nq, hd, Lh, 1.0f, Gm, Lh + Lw, a->rel_pos_h, hd, 1.0f, dq, ld, 1);
    gemm_f32(0, 0, nq, hd, Lw, 1.0f, Gm + Lh, Lh + Lw, a->rel_pos_w, hd, 1.0f, dq, ld, 1);
    if (whole) {  // dk += scale dS^T Q, dv += P^T dO
        gemm_f32(1, 0, T, hd, T, a->scale, dS, T, q, ld, 1.0f, dq + C, ld, 1);
        gemm_f32(1, 0, T, hd, T, 1.0f, P, T, dO, C, 1.0f, dq + 2 * C, ld, 1);
    }
}

/* Key rows j0 .. j0+nk-1 of group g, head h (tiled path): recomputes the
 * scores of all queries against these keys, (T, nk), from the statistics of the
 * query pass (row by row, like the forward), and writes dk and dv. */
static void attnb_key_tile(const attnb_args *a, int g, int h, int j0, int nk, float *scratch) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sh = a->sh, sw = a->sw, Lh = a->Lh, Lw = a->Lw;
    const float *grp = a->qkv + (size_t)g * T * ld;               // (T, 3C)
    const float *q = grp + h * hd;                                // (T, hd), row stride 3C
    const float *kt = grp + (size_t)j0 * ld + C + h * hd;         // (nk, hd), row stride 3C
    const float *vt = grp + (size_t)j0 * ld + 2 * C + h * hd;     // (nk, hd), row stride 3C
    const float *dO = a->dout + (size_t)g * T * C + h * hd;       // (T, hd), row stride C
    float *dk = a->dqkv + ((size_t)g * T + j0) * ld + C + h * hd;  // (nk, hd), row stride 3C
    float *P = scratch;                      // (T, nk) scores, then probabilities
    float *dS = P + (size_t)T * nk;          // (T, nk) dP, then dS

    gemm_f32(0, 1, T, nk, hd, a->scale, q, ld, kt, ld, 0.0f, P, nk, 1);
    gemm_f32(0, 1, T, nk, hd, 1.0f, dO, C, vt, ld, 0.0f, dS, nk, 1);  // dP = dO V_t^T
    const int kh0 = j0 / sw, kw0 = j0 % sw;
    for (int i = 0; i < T; i++) {
        const int qh = i / sw, qw = i % sw;
        const float *rhi = a->RH + (size_t)i * Lh + qh + sh - 1;  // rhi[-kh]
        const float *rwi = a->RW + (size_t)i * Lw + qw + sw - 1;  // rwi[-kw]
        const float mx = a->mx[i], inv = a->inv[i], Di = a->D[i];
        float *p = P + (size_t)i * nk, *ds = dS + (size_t)i * nk;  // (nk) each
        for (int jj = 0, kh = kh0, kw = kw0; jj < nk; jj++) {
            p[jj] = expf(((p[jj] + rhi[-kh]) + rwi[-kw]) - mx) * inv;
            ds[jj] = p[jj] * (ds[jj] - Di);
            if (++kw == sw) kw = 0, kh++;
        }
    }
    gemm_f32(1, 0, nk, hd, T, a->scale, dS, nk, q, ld, 1.0f, dk, ld, 1);  // dk += scale dS^T Q
    gemm_f32(1, 0, nk, hd, T, 1.0f, P, nk, dO, C, 1.0f, dk + C, ld, 1);   // dv += P^T dO
}

/* Row r of drel_pos_h (r < Lh) or of drel_pos_w (r - Lh): the sum over groups,
 * heads and queries, in that order, of the per-query dS sums times q. */
static void attnb_rel_row(const attnb_args *a, int ngroups, int r, float *drow) {
    const int T = a->T, C = a->C, hd = a->hd, ld = 3 * C, sh = a->sh, sw = a->sw;
    const int is_h = r < a->Lh, rr = is_h ? r : r - a->Lh;
    for (int c0 = 0; c0 < hd; c0 += 64) {
        const int nc = hd - c0 < 64 ? hd - c0 : 64;
        double acc[64] = {0};
        for (int g = 0; g < ngroups; g++)
            for (int h = 0; h < a->heads; h++) {
                const float *drel = a->drel + ((size_t)g * a->heads + h) * T * (sh + sw);  // (T, sh + sw)
                const float *q = a->qkv + (size_t)g * T * ld + h * hd + c0;           // (T, nc), stride 3C
                for (int i = 0; i < T; i++) {
                    const int qh = i / sw, qw = i % sw;
                    // offset r = qh - kh + sh-1 (height) or qw - kw + sw-1 (width)
                    const int kk = is_h ? qh + sh - 1 - rr : qw + sw - 1 - rr;
                    if (kk < 0 || kk >= (is_h ? sh : sw)) continue;
                    const double coef = drel[(size_t)i * (sh + sw) + (is_h ? kk : sh + kk)];
                    const float *qi = q + (size_t)i * ld;
                    for (int c = 0; c < nc; c++) acc[c] += coef * qi[c];
                }
            }
        for (int c = 0; c < nc; c++) drow[c0 + c] += (float)acc[c];
    }
}

// ref: image_encoder.py:Attention.forward + add_decomposed_rel_pos, differentiated
void vit_attention_backward(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout, const float *qkv,
                            const float *rel_pos_h, const float *rel_pos_w, int ngroups, int sh, int sw, int heads,
                            int hd, int tile_q, float *scratch, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    attnb_args a = {0};
    a.qkv = qkv, a.dout = dout, a.rel_pos_h = rel_pos_h, a.rel_pos_w = rel_pos_w, a.dqkv = dqkv;
    a.sh = sh, a.sw = sw, a.T = sh * sw, a.C = heads * hd, a.heads = heads, a.hd = hd;
    a.Lh = 2 * sh - 1, a.Lw = 2 * sw - 1;
    a.tq = attnb_tile_rows(tile_q, a.T);
    a.scale = (float)(1.0 / sqrt((double)hd));  // ref: Attention.__init__ -- head_dim**-0.5
    const int T = a.T, ntiles = (T + a.tq - 1) / a.tq;

    float *p = scratch;
    a.drel = p, p += (size_t)ngroups * heads * T * (sh + sw) + 16;
    if (ntiles > 1) {
        a.RH = p, p += (size_t)T * a.Lh;
        a.RW = p, p += (size_t)T * a.Lw;
        a.mx = p, p += T;
        a.inv = p, p += T;
        a.D = p, p += T;
        p += 16;
    }
    float *thread_scratch = p;
    const size_t per_thread = attnb_thread_floats(sh, sw, a.tq);

    if (ntiles == 1) {
        /* windows: one item per (group, head) */
        const long items = (long)ngroups * heads;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1 && items > 1)
        for (long it = 0; it < items; it++)
            attnb_query_tile(&a, (int)(it / heads), (int)(it % heads), 0, T,
                             thread_scratch + (size_t)attnb_thread_id() * per_thread);
    } else {
        /* global: per (group, head), a query-tile pass then a key-tile pass */
        for (int g = 0; g < ngroups; g++)
            for (int h = 0; h < heads; h++) {
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1)
                for (int t = 0; t < ntiles; t++) {
                    const int i0 = t * a.tq, nq = T - i0 < a.tq ? T - i0 : a.tq;
                    attnb_query_tile(&a, g, h, i0, nq, thread_scratch + (size_t)attnb_thread_id() * per_thread);
                }
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1)
                for (int t = 0; t < ntiles; t++) {
                    const int j0 = t * a.tq, nk = T - j0 < a.tq ? T - j0 : a.tq;
                    attnb_key_tile(&a, g, h, j0, nk, thread_scratch + (size_t)attnb_thread_id() * per_thread);
                }
            }
    }

    /* d rel_pos: one item per table row */
    const int nrows = (drel_pos_h ? a.Lh : 0) + (drel_pos_w ? a.Lw : 0);
    if (!nrows) return;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1)
    for (int r = 0; r < a.Lh + a.Lw; r++) {
        if (r < a.Lh && drel_pos_h)
            attnb_rel_row(&a, ngroups, r, drel_pos_h + (size_t)r * hd);
        else if (r >= a.Lh && drel_pos_w)
            attnb_rel_row(&a, ngroups, r, drel_pos_w + (size_t)(r - a.Lh) * hd);
    }
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
