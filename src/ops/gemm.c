/* gemm.c — SGEMM driver: BLIS loop nest (NC / KC / MC blocks around an
 * MR x NR micro-kernel), thread partition of C, run-time kernel dispatch,
 * pre-packed B. Kernels and packers live in gemm_generic.c / gemm_avx2.c /
 * gemm_avx512.c; MR and NR below are the running kernel's micro-tile. */
#include "ops/gemm.h"

#include "core/big_alloc.h"

#include <math.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/gemm_internal.h"

/* Cache blocking. KC: a (KC, NR) B micro-panel (16 KB for NR 16, 32 KB for
 * NR 32) stays in L1 while the MR-row A panels stream past it; MC: the (MC, KC)
 * A block (144 KB) stays in L2; NC: the (KC, NC) B block (3 MB) stays in L3.
 * MC is a multiple of every kernel's MR (6, 12), NC of every NR (16, 32). Sized for Zen 3 (32 KB L1d, 512 KB L2); on the Zen 5 test
 * machine (48 KB / 1 MB) KC 384 or MC 96..240 measured the same within noise.
 * Only KC affects the arithmetic (how K is chunked), and the chunks depend on
 * K alone, never on the thread count or on MC/NC. */
#ifndef GEMM_KC /* overridable with -D for tuning experiments */
#define GEMM_KC 256
#endif
#ifndef GEMM_MC
#define GEMM_MC 144
#endif
#ifndef GEMM_NC
#define GEMM_NC 3072
#endif
/* Below this many multiply-adds a call runs on one thread. */
#define GEMM_MIN_PARALLEL_MACS 4.0e6

static int gemm_min(int a, int b) { return a < b ? a : b; }
static int gemm_ceil_div(int a, int b) { return (a + b - 1) / b; }

/* K chunk length: K split into ceil(K/KC) nearly equal chunks. */
static int gemm_k_step(int K) {
    int nk = gemm_ceil_div(K, GEMM_KC);
    return nk > 0 ? gemm_ceil_div(K, nk) : 0;
}

static const float *gemm_op_a(const gemm_call *c, int i, int p) {
    return c->trans_a ? c->A + (long)p * c->lda + i : c->A + (long)i * c->lda + p;
}

static const float *gemm_op_b(const gemm_call *c, int p, int j) {
    return c->trans_b ? c->B + (long)j * c->ldb + p : c->B + (long)p * c->ldb + j;
}

/* alpha == 0 or K == 0: C = beta*C + bias without touching A or B. */
static void gemm_scale_block(const gemm_call *c, int m0, int m1, int n0, int n1) {
    for (int i = m0; i < m1; i++) {
        float *row = c->C + (long)i * c->ldc;  // (N)
        for (int j = n0; j < n1; j++) {
            float t = c->beta == 0.0f ? 0.0f : c->beta * row[j];
            row[j] = c->bias ? t + c->bias[j] : t;
        }
    }
}

/* C(m0:m1, n0:n1) with blocks of at most mcb rows and ncb columns; n0 is a
 * multiple of NR. abuf holds an (mcb, KC) A block, bbuf a (KC, ncb) B block
 * (unused with pre-packed B). */
static void gemm_block(const gemm_call *c, const gemm_kernel *kern, int m0, int m1, int n0, int n1, int mcb,
                       int ncb, float *abuf, float *bbuf) {
    const int K = c->K, kstep = gemm_k_step(K), MR = kern->mr, NR = kern->nr;
    const int direct_ok = kern->ukernel_direct && !c->trans_a;  // A row-major: whole tiles need no packing
    for (int jc = n0; jc < n1; jc += ncb) {
        const int nc = gemm_min(ncb, n1 - jc);
        for (int pc = 0; pc < K; pc += kstep) {
            const int kc = gemm_min(kstep, K - pc);
            const float *bblock;  // (ceil(nc/NR), bstride)
            long bstride;
            if (c->pb) {
                bstride = (long)K * NR;
                bblock = c->pb->data + (long)(jc / NR) * bstride + (long)pc * NR;
            } else {
                bstride = (long)kc * NR;
                kern->pack_b(c->trans_b, gemm_op_b(c, pc, jc), c->ldb, kc, nc, bbuf, bstride);
                bblock = bbuf;
            }
            gemm_update u = {c->alpha, c->beta, NULL, pc == 0};
            for (int ic = m0; ic < m1; ic += mcb) {
                const int mc = gemm_min(mcb, m1 - ic);
                // rows [0, direct) are read in place (whole tiles); the rest are packed into abuf
                const int direct = direct_ok ? mc / MR * MR : 0;
                if (direct < mc) kern->pack_a(c->trans_a, gemm_op_a(c, ic + direct, pc), c->lda, mc - direct, kc, abuf);
                for (int jr = 0; jr < nc; jr += NR) {
                    const float *bpanel = bblock + (long)(jr / NR) * bstride;  // (kc, NR)
                    const int nr = gemm_min(NR, nc - jr);
                    u.bias = (u.first && c->bias) ? c->bias + jc + jr : NULL;
                    float *ctile = c->C + (long)ic * c->ldc + jc + jr;  // (mc, nr)
                    for (int ir = 0; ir < direct; ir += MR)
                        kern->ukernel_direct(kc, gemm_op_a(c, ic + ir, pc), c->lda, bpanel, ctile + (long)ir * c->ldc,
                                             c->ldc, nr, &u);
                    for (int ir = direct; ir < mc; ir += MR)
                        kern->ukernel(kc, abuf + (long)(ir - direct) * kc, bpanel, ctile + (long)ir * c->ldc, c->ldc,
                                      gemm_min(MR, mc - ir), nr, &u);
                }
            }
        }
    }
}

/* Allocation-free variant of gemm_block: one micro-tile per block. */
static void gemm_block_small(const gemm_call *c, const gemm_kernel *kern, int m0, int m1, int n0, int n1) {
    _Alignas(64) float abuf[GEMM_MR_MAX * GEMM_KC];  // (1, KC, MR)
    _Alignas(64) float bbuf[GEMM_KC * GEMM_NR_MAX];  // (1, KC, NR)
    gemm_block(c, kern, m0, m1, n0, n1, kern->mr, kern->nr, abuf, bbuf);
}

/* Thread t of nt gets the rows/columns [lo, hi) of C. Splits go along M in
 * whole MR blocks (each thread packs its own copy of B) unless M is too short,
 * then along N in whole NR blocks. */
typedef struct {
    int nt, split_m, blocks, mr, nr;
} gemm_plan;

static gemm_plan gemm_make_plan(const gemm_call *c, const gemm_kernel *kern, int nthreads) {
    gemm_plan p = {1, 1, gemm_ceil_div(c->M, kern->mr), kern->mr, kern->nr};
    // the multiply-adds the kernel does: N in whole NR-column panels (a 7-column product costs a 16-column one)
    const double macs = (double)c->M * gemm_ceil_div(c->N, kern->nr) * kern->nr * (c->K > 0 ? c->K : 1);
    if (nthreads <= 1 || macs < GEMM_MIN_PARALLEL_MACS) return p;
    int bm = p.blocks, bn = gemm_ceil_div(c->N, kern->nr);
    if (bm < 2 * nthreads && bn > bm) {
        p.split_m = 0;
        p.blocks = bn;
    }
    p.nt = gemm_min(nthreads, p.blocks);
    return p;
}

static void gemm_range(const gemm_call *c, const gemm_plan *p, int t, int *m0, int *m1, int *n0, int *n1) {
    int b0 = (int)((long)p->blocks * t / p->nt), b1 = (int)((long)p->blocks * (t + 1) / p->nt);
    *m0 = 0, *m1 = c->M, *n0 = 0, *n1 = c->N;
    if (p->split_m) {
        *m0 = b0 * p->mr;
        *m1 = gemm_min(b1 * p->mr, c->M);
    } else {
        *n0 = b0 * p->nr;
        *n1 = gemm_min(b1 * p->nr, c->N);
    }
}

typedef struct {
    const gemm_call *c;
    const gemm_kernel *kern;
    const gemm_plan *plan;
    int no_product, mcb, ncb;
    size_t a_len, b_len; /* floats per thread in work */
    float *work;         /* (nt, a_len + b_len), or NULL: use stack buffers */
} gemm_task;

static void gemm_thread(const gemm_task *k, int t) {
    int m0, m1, n0, n1;
    gemm_range(k->c, k->plan, t, &m0, &m1, &n0, &n1);
    if (k->no_product) {
        gemm_scale_block(k->c, m0, m1, n0, n1);
    } else if (k->work) {
        float *abuf = k->work + (k->a_len + k->b_len) * (size_t)t;
        gemm_block(k->c, k->kern, m0, m1, n0, n1, k->mcb, k->ncb, abuf, abuf + k->a_len);
    } else {
        gemm_block_small(k->c, k->kern, m0, m1, n0, n1);
    }
}

/* Products with a few rows of A and a transposed B, such as a Linear on the decoder's 7 prompt
 * tokens (C (M, N) = A W^T + bias, W (N, K) row-major), would pack all of W into panels to use
 * it once: a copy (with 8x8 transposes) as costly as the product. They run as the transposed
 * product C^T (N, M) = W A^T instead, whose A = W is read in place by the kernel's direct
 * micro-kernel (only the few columns of A^T are packed), on a C^T that starts as the first
 * K chunk's t = beta*C + bias of gemm_update, updated with beta 1 and a -0 bias (t + -0 = t
 * for every t, signed zeros included). Each element then gets the same FMAs in the same order
 * and the same updates as in the direct product (a*b and b*a are the same product), so the
 * same bits. */
#define GEMM_SMALL_M 16  /* at most this many rows of A */
#define GEMM_SMALL_M_MIN_N 64

static int gemm_small_m_applies(const gemm_call *c, const gemm_kernel *kern) {
    return kern->ukernel_direct && !c->trans_a && c->trans_b && !c->pb && c->M <= GEMM_SMALL_M &&
           c->N >= GEMM_SMALL_M_MIN_N && c->K > 0 && c->alpha != 0.0f;
}

/* 0 when done, -1 when out of memory (the caller runs the direct product). */
static int gemm_small_m(const gemm_call *c, const gemm_kernel *kern, int nthreads) {
    static const float neg_zero[GEMM_SMALL_M] = {-0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f,
                                                 -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f};
    const int M = c->M, N = c->N;
    float *ct = malloc((size_t)N * M * sizeof(float));  // (N, M) C^T
    if (!ct) return -1;
    for (int j = 0; j < N; j++) {  // ct(j, i) = t(i, j) of the direct product's first chunk
        const float b = c->bias ? c->bias[j] : 0.0f;
        for (int i = 0; i < M; i++) ct[(long)j * M + i] = c->beta == 0.0f ? b : fmaf(c->beta, c->C[(long)i * c->ldc + j], b);
    }
    // op(A') = W: W = B (trans_b: op(B)(p, j) = B[j*ldb + p]), row-major (N, K); op(B') = A^T: B' = A, trans_b
    gemm_call t = {0, 1, N, M, c->K, c->alpha, 1.0f, c->B, c->ldb, c->A, c->lda, NULL, ct, M, neg_zero};
    gemm_run(&t, kern, nthreads, 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) c->C[(long)i * c->ldc + j] = ct[(long)j * M + i];
    free(ct);
    return 0;
}

void gemm_run(const gemm_call *c, const gemm_kernel *kern, int nthreads, int small_buffers) {
    if (c->M <= 0 || c->N <= 0) return;
    if (gemm_small_m_applies(c, kern) && !small_buffers && gemm_small_m(c, kern, nthreads) == 0) return;
    const gemm_plan plan = gemm_make_plan(c, kern, nthreads);
    const int MR = kern->mr, NR = kern->nr;
    const int no_product = c->K <= 0 || c->alpha == 0.0f;
    /* Per-thread buffer sizes, in floats, for the largest range a thread gets. */
    const int kstep = gemm_k_step(c->K);
    const int rows = plan.split_m ? gemm_ceil_div(plan.blocks, plan.nt) * MR : c->M;
    const int cols = plan.split_m ? c->N : gemm_ceil_div(plan.blocks, plan.nt) * NR;
    const int mcb = gemm_min(GEMM_MC, gemm_ceil_div(rows, MR) * MR);
    const int ncb = gemm_min(GEMM_NC, gemm_ceil_div(cols, NR) * NR);
    size_t a_len = ((size_t)mcb * kstep + 15) & ~(size_t)15;  // keeps each buffer 64-byte aligned
    size_t b_len = c->pb ? 0 : (size_t)kstep * ncb;
    float *work = NULL;
    if (!no_product && !small_buffers) {
        size_t bytes = (a_len + b_len) * sizeof(float) * plan.nt;
        work = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    }
    gemm_task task = {c, kern, &plan, no_product, mcb, ncb, a_len, b_len, work};
    if (plan.nt == 1) {
        gemm_thread(&task, 0);
    } else {
#pragma omp parallel num_threads(plan.nt)
        {
            /* The team may be smaller than asked (nested regions, thread
             * limits): each member takes every team_size-th range. */
#ifdef _OPENMP
            int first = omp_get_thread_num(), step = omp_get_num_threads();
#else
            int first = 0, step = 1;
#endif
            for (int t = first; t < plan.nt; t += step) gemm_thread(&task, t);
        }
    }
    free(work);
}

/* ---- public entry points ---- */

const gemm_kernel *gemm_kernel_best(void) {
    const gemm_kernel *k = gemm_kernel_avx512();
    if (!k) k = gemm_kernel_avx2();
    return k ? k : gemm_kernel_generic();
}

const char *gemm_kernel_name(void) { return gemm_kernel_best()->name; }

static gemm_call gemm_make_call(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                                const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
    gemm_call c = {trans_a != 0, trans_b != 0, M, N, K, alpha, beta, A, lda, B, ldb, NULL, C, ldc, bias};
    return c;
}

void gemm_f32_bias(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int nthreads) {
    gemm_call c = gemm_make_call(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
    gemm_run(&c, gemm_kernel_best(), nthreads, 0);
}

void gemm_f32(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc, int nthreads) {
    gemm_f32_bias(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, nthreads);
}

void gemm_f32_generic(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, int nthreads) {
    gemm_call c = gemm_make_call(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
    gemm_run(&c, gemm_kernel_generic(), nthreads, 0);
}

static long gemm_packed_bytes_for(const gemm_kernel *kern, int K, int N) {
    if (K < 0 || N < 0) return -1;
    long panels = (N + kern->nr - 1) / kern->nr;
    return (panels * K * kern->nr * (long)sizeof(float) + 63) & ~63L;
}

long gemm_packed_b_bytes(int K, int N) { return gemm_packed_bytes_for(gemm_kernel_best(), K, N); }

/* Packs op(B) (K, N) into data in kern's layout, panels split between threads. */
static void gemm_pack_b_panels(const gemm_kernel *kern, int trans_b, int K, int N, const float *B, int ldb,
                               float *data, int nthreads) {
    if (K <= 0 || N <= 0) return;
    const int NR = kern->nr, panels = gemm_ceil_div(N, NR);
    const int nt = gemm_min(nthreads < 1 ? 1 : nthreads, panels);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < nt; t++) {
        const int q0 = (int)((long)panels * t / nt), q1 = (int)((long)panels * (t + 1) / nt);
        const int j0 = q0 * NR, cols = gemm_min(q1 * NR, N) - j0;
        const float *src = trans_b ? B + (long)j0 * ldb : B + j0;  // op(B)(0, j0)
        if (cols > 0) kern->pack_b(trans_b, src, ldb, K, cols, data + (long)q0 * K * NR, (long)K * NR);
    }
}

gemm_packed_b *gemm_pack_b_with(const gemm_kernel *kern, int trans_b, int K, int N, const float *B, int ldb) {
    long bytes = gemm_packed_bytes_for(kern, K, N);
    if (bytes < 0) return NULL;
    gemm_packed_b *pb = malloc(sizeof *pb);
    if (!pb) return NULL;
    pb->K = K;
    pb->N = N;
    pb->kern = kern;
    pb->owned = 1;
    pb->data = aligned_alloc(64, bytes > 0 ? (size_t)bytes : 64);
    if (!pb->data) {
        free(pb);
        return NULL;
    }
    ms_prefault(pb->data, (size_t)bytes);  // written whole right away: its pages in one call, not one fault each
    gemm_pack_b_panels(kern, trans_b != 0, K, N, B, ldb, pb->data, 1);
    return pb;
}

/* The object's header, rounded up so that the data after it stays 64-byte aligned. */
#define GEMM_PACKED_HEADER ((sizeof(gemm_packed_b) + 63) & ~(size_t)63)

size_t gemm_pack_b_into_bytes(int K, int N) {
    long bytes = gemm_packed_b_bytes(K, N);
    return bytes < 0 ? 0 : GEMM_PACKED_HEADER + (size_t)bytes;
}

gemm_packed_b *gemm_pack_b_into(void *mem, size_t mem_bytes, int trans_b, int K, int N, const float *B, int ldb,
                                int nthreads) {
    size_t need = gemm_pack_b_into_bytes(K, N);
    if (!mem || need == 0 || mem_bytes < need || ((unsigned long)(size_t)mem & 63)) return NULL;
    gemm_packed_b *pb = mem;
    pb->K = K;
    pb->N = N;
    pb->kern = gemm_kernel_best();
    pb->owned = 0;
    pb->data = (float *)((char *)mem + GEMM_PACKED_HEADER);
    gemm_pack_b_panels(pb->kern, trans_b != 0, K, N, B, ldb, pb->data, nthreads);
    return pb;
}

gemm_packed_b *gemm_pack_b(int trans_b, int K, int N, const float *B, int ldb) {
    return gemm_pack_b_with(gemm_kernel_best(), trans_b, K, N, B, ldb);
}

void gemm_packed_b_free(gemm_packed_b *pb) {
    if (!pb || !pb->owned) return;
    free(pb->data);
    free(pb);
}

int gemm_packed_b_rows(const gemm_packed_b *pb) { return pb->K; }
int gemm_packed_b_cols(const gemm_packed_b *pb) { return pb->N; }

void gemm_f32_packed(int trans_a, int M, float alpha, const float *A, int lda, const gemm_packed_b *pb, float beta,
                     float *C, int ldc, const float *bias, int nthreads) {
    gemm_call c = gemm_make_call(trans_a, 0, M, pb->N, pb->K, alpha, A, lda, NULL, 0, beta, C, ldc, bias);
    c.pb = pb;
    gemm_run(&c, pb->kern, nthreads, 0);
}
