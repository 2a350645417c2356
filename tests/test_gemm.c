/* test_gemm.c — the packed SGEMM (AVX-512, AVX2 and generic paths, pre-packed
 * B, the allocation-free fallback) against the plain double-accumulating
 * reference.
 *
 * Tolerance, per element: |got - ref| <= 1e-5 * (|alpha| * sum_k |a_ik b_kj|
 * + |beta c_ij| + |bias_j|) + 1e-30. Bit-exact checks: 1 vs 2 vs 3 threads,
 * pre-packed vs unpacked B, fallback vs normal buffers, AVX2 vs generic
 * packers, AVX-512 packers vs the layout definition, AVX-512 vs AVX2 results;
 * C outside (M, N) must keep its bits. Kernels the CPU lacks are skipped. */
#include <float.h>
#include <stdint.h>

#include "ops/gemm.h"
#include "ops/gemm_internal.h"
#include "test.h"

#define TOL 1e-5

typedef struct {
    uint64_t s;
} rng;

static float rng_uniform(rng *r) {  // [-1, 1)
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(r->s >> 40) / (double)(1ULL << 23) - 1.0);
}

static float *alloc_fill(rng *r, long n) {
    float *p = malloc(sizeof(float) * (n > 0 ? n : 1));
    for (long i = 0; i < n; i++) p[i] = rng_uniform(r);
    return p;
}

/* A stored matrix of rows x cols with row stride ld >= cols; the padding
 * columns hold NaN so that reading them shows up in the result. */
static float *alloc_mat(rng *r, int rows, int cols, int ld) {
    float *p = alloc_fill(r, (long)rows * ld);
    for (int i = 0; i < rows; i++)
        for (int j = cols; j < ld; j++) p[(long)i * ld + j] = NAN;
    return p;
}

static int bits_equal(const float *a, const float *b, long n) { return memcmp(a, b, sizeof(float) * n) == 0; }

/* One problem: operands laid out as stored, C's initial content, bias. */
typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0, *bias;  // C0: (M, ldc) initial C, padding = sentinel
} problem;

static const float SENTINEL = -12345.678f;

static problem make_problem(rng *r, int ta, int tb, int M, int N, int K, int pad, float alpha, float beta,
                            int with_bias) {
    problem p = {ta, tb, M, N, K, 0, 0, 0, alpha, beta, NULL, NULL, NULL, NULL};
    p.lda = (ta ? M : K) + pad;
    p.ldb = (tb ? K : N) + pad;
    p.ldc = N + pad;
    if (p.lda < 1) p.lda = 1;
    if (p.ldb < 1) p.ldb = 1;
    p.A = ta ? alloc_mat(r, K, M, p.lda) : alloc_mat(r, M, K, p.lda);
    p.B = tb ? alloc_mat(r, N, K, p.ldb) : alloc_mat(r, K, N, p.ldb);
    p.C0 = alloc_fill(r, (long)M * p.ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < p.ldc; j++)
            if (j >= N) p.C0[(long)i * p.ldc + j] = SENTINEL;
            else if (beta == 0.0f && (i + j) % 3 == 0) p.C0[(long)i * p.ldc + j] = NAN;  // must be ignored
    p.bias = with_bias ? alloc_fill(r, N) : NULL;
    return p;
}

static void free_problem(problem *p) {
    free(p->A), free(p->B), free(p->C0), free(p->bias);
}

static float *copy_c(const problem *p) {
    float *c = malloc(sizeof(float) * ((long)p->M * p->ldc + 1));
    memcpy(c, p->C0, sizeof(float) * (long)p->M * p->ldc);
    return c;
}

static double op_a(const problem *p, int i, int k) {
    return p->ta ? p->A[(long)k * p->lda + i] : p->A[(long)i * p->lda + k];
}
static double op_b(const problem *p, int k, int j) {
    return p->tb ? p->B[(long)j * p->ldb + k] : p->B[(long)k * p->ldb + j];
}

/* Checks rows `rows` (all when NULL) of got against the reference. */
static void check_vs_ref(const char *what, const problem *p, const float *got, const int *rows, int nrows) {
    float *ref = copy_c(p);
    gemm_f32_bias_ref(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, ref, p->ldc,
                      p->bias);
    double worst = 0;
    int wi = 0, wj = 0, bad = 0, pad_ok = 1;
    int n = rows ? nrows : p->M;
    for (int r = 0; r < n; r++) {
        int i = rows ? rows[r] : r;
        for (int j = 0; j < p->N; j++) {
            double s = 0;
            if (p->alpha != 0.0f)
                for (int k = 0; k < p->K; k++) s += fabs(op_a(p, i, k) * op_b(p, k, j));
            double scale = fabs(p->alpha) * s + (p->beta != 0.0f ? fabs(p->beta * p->C0[(long)i * p->ldc + j]) : 0) +
                           (p->bias ? fabs(p->bias[j]) : 0);
            double g = got[(long)i * p->ldc + j], f = ref[(long)i * p->ldc + j];
            double ratio = fabs(g - f) / (TOL * scale + 1e-30);
            if (!(ratio <= 1.0)) bad++;
            if (!(ratio <= worst)) worst = ratio, wi = i, wj = j;
        }
        for (int j = p->N; j < p->ldc; j++)
            if (!bits_equal(&got[(long)i * p->ldc + j], &SENTINEL, 1)) pad_ok = 0;
    }
    CHECK(bad == 0 && pad_ok,
          "%s: ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g bias=%d: %d elements out of tol, worst |err|/tol=%.3g at "
          "(%d,%d) got %.9g ref %.9g; padding kept=%d",
          what, p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->beta, p->bias != NULL, bad, worst, wi, wj,
          got[(long)wi * p->ldc + wj], ref[(long)wi * p->ldc + wj], pad_ok);
    free(ref);
}

static void run_fast(const problem *p, float *c, int nthreads) {
    gemm_f32_bias(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, c, p->ldc, p->bias,
                  nthreads);
}

static void run_kernel(const problem *p, float *c, const gemm_kernel *k, int nthreads, int small,
                       const gemm_packed_b *pb) {
    gemm_call call = {p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->beta, p->A, p->lda, pb ? NULL : p->B,
                      p->ldb, pb, c, p->ldc, p->bias};
    gemm_run(&call, k, nthreads, small);
}

/* The reference itself, on a product worked out by hand. */
static void test_reference_by_hand(void) {
    const float A[6] = {1, 2, 3, 4, 5, 6};        // (2, 3)
    const float B[6] = {7, 8, 9, 10, 11, 12};     // (3, 2)
    float C[4] = {1, 1, NAN, 1};                  // (2, 2)
    const float bias[2] = {0.5f, -0.5f};
    gemm_f32_bias_ref(0, 0, 2, 2, 3, 2.0f, A, 3, B, 2, 0.0f, C, 2, bias);
    // A*B = [[58, 64], [139, 154]]
    CHECK(C[0] == 116.5f && C[1] == 127.5f && C[2] == 278.5f && C[3] == 307.5f, "ref by hand: %g %g %g %g", C[0],
          C[1], C[2], C[3]);
    float D[4] = {1, 2, 3, 4};
    // A stored (3, 2) -> op(A) = [[1,3,5],[2,4,6]]; B stored (2, 3) -> op(B) = [[7,10],[8,11],[9,12]];
    // op(A)op(B) = [[76, 103], [100, 136]], plus 0.5 * D
    gemm_f32_ref(1, 1, 2, 2, 3, 1.0f, A, 2, B, 3, 0.5f, D, 2);
    CHECK(D[0] == 76.5f && D[1] == 104.0f && D[2] == 101.5f && D[3] == 138.0f, "ref by hand (transposed): %g %g %g %g",
          D[0], D[1], D[2], D[3]);
}

/* Every kernel this CPU can run: generic first, then AVX2, AVX-512. */
static int usable_kernels(const gemm_kernel *out[3]) {
    int n = 0;
    out[n++] = gemm_kernel_generic();
    if (gemm_kernel_avx2()) out[n++] = gemm_kernel_avx2();
    if (gemm_kernel_avx512()) out[n++] = gemm_kernel_avx512();
    return n;
}

/* The kernel without its direct micro-kernel: the driver then packs every A and never takes the
 * transposed small-M route. */
static gemm_kernel packed_only_of(const gemm_kernel *k) {
    gemm_kernel p = *k;
    p.ukernel_direct = NULL;
    return p;
}

/* c (p's product on k) has the bits of the same product on k without its direct micro-kernel. */
static void check_same_as_packed(const char *what, const problem *p, const float *c, const gemm_kernel *k) {
    const gemm_kernel packed_only = packed_only_of(k);
    float *cp = copy_c(p);
    run_kernel(p, cp, &packed_only, 1, 0, NULL);
    CHECK(bits_equal(c, cp, (long)p->M * p->ldc), "%s vs packed A bits: ta=%d tb=%d M=%d N=%d K=%d", what, p->ta, p->tb,
          p->M, p->N, p->K);
    free(cp);
}

/* The transposed small-M route (a few rows of A, B transposed) keeps signed zeros and NaN of
 * C, bias and A as the direct product does: C and bias hold -0 and +0, A rows are zero or NaN. */
static void test_small_m_zeros(void) {
    const gemm_kernel *avx2 = gemm_kernel_avx2();
    if (!avx2) return;
    enum { M = 7, N = 70, K = 9 };
    float A[M * K], B[N * K], bias[N], C0[M * N], c1[M * N], c2[M * N];
    for (int i = 0; i < M * K; i++) A[i] = (i / K) % 3 == 0 ? -0.0f : (i / K) == 4 ? NAN : 0.0f;
    for (int i = 0; i < N * K; i++) B[i] = (float)((i * 7) % 5) - 2.0f;
    for (int j = 0; j < N; j++) bias[j] = j % 2 ? -0.0f : 0.0f;
    for (int i = 0; i < M * N; i++) C0[i] = i % 3 == 0 ? -0.0f : i % 3 == 1 ? 0.0f : 1.5f;
    const gemm_kernel packed_only = packed_only_of(avx2);
    const float betas[] = {0.0f, 1.0f, -1.0f};
    for (int k = 0; k < 6; k++)  // alpha -1: alpha * (+0) = -0, where t's sign shows
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            memcpy(c1, C0, sizeof c1), memcpy(c2, C0, sizeof c2);
            gemm_call call = {0, 1, M, N, K, k < 3 ? 1.0f : -1.0f, betas[k % 3], A, K, B, K, NULL, c1, N,
                              with_bias ? bias : NULL};
            gemm_run(&call, avx2, 1, 0);
            call.C = c2;
            gemm_run(&call, &packed_only, 1, 0);
            CHECK(bits_equal(c1, c2, M * N), "small M, zeros: alpha %g beta %g bias %d: bits differ", call.alpha,
                  betas[k % 3], with_bias);
        }
}

/* Many small and edge shapes, every kernel, all transposes and betas; the
 * AVX-512 kernel must give the AVX2 kernel's bits, and the same bits whether
 * it reads a row-major A in place or packs it. */
static void test_shape_sweep(rng *r) {
    static const int Ms[] = {1, 2, 5, 6, 7, 11, 12, 13, 25, 31, 150};
    static const int Ns[] = {1, 3, 15, 16, 17, 31, 32, 33, 64, 100, 130};
    static const int Ks[] = {0, 1, 7, 8, 9, 64, 255, 257, 600};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    static const float alphas[] = {1.0f, -0.75f, 2.0f};
    const gemm_kernel *avx2 = gemm_kernel_avx2(), *avx512 = gemm_kernel_avx512();
    int n = 0, same512 = 0;
    for (int mi = 0; mi < (int)(sizeof Ms / sizeof *Ms); mi++)
        for (int ni = 0; ni < (int)(sizeof Ns / sizeof *Ns); ni++)
            for (int ki = 0; ki < (int)(sizeof Ks / sizeof *Ks); ki++, n++) {
                int ta = n & 1, tb = (n >> 1) & 1, pad = (n % 5 == 0) ? 0 : n % 4;
                float beta = betas[n % 3], alpha = alphas[(n / 3) % 3];
                int with_bias = n % 4 == 1;
                problem p = make_problem(r, ta, tb, Ms[mi], Ns[ni], Ks[ki], pad, alpha, beta, with_bias);
                float *c = copy_c(&p);
                run_fast(&p, c, 1);
                check_vs_ref("auto", &p, c, NULL, 0);
                memcpy(c, p.C0, sizeof(float) * (long)p.M * p.ldc);
                run_kernel(&p, c, gemm_kernel_generic(), 1, 0, NULL);
                check_vs_ref("generic", &p, c, NULL, 0);
                if (avx2) {
                    memcpy(c, p.C0, sizeof(float) * (long)p.M * p.ldc);
                    run_kernel(&p, c, avx2, 1, 0, NULL);
                    check_vs_ref("avx2", &p, c, NULL, 0);
                    check_same_as_packed("avx2 direct A / small M", &p, c, avx2);
                }
                if (avx512) {
                    float *c5 = copy_c(&p);
                    run_kernel(&p, c5, avx512, 1, 0, NULL);
                    check_vs_ref("avx512", &p, c5, NULL, 0);
                    check_same_as_packed("avx512 direct A", &p, c5, avx512);
                    if (avx2) {
                        int same = bits_equal(c, c5, (long)p.M * p.ldc);
                        same512 += same;
                        CHECK(same, "avx512 vs avx2 bits: ta=%d tb=%d M=%d N=%d K=%d", ta, tb, p.M, p.N, p.K);
                    }
                    free(c5);
                }
                free(c);
                free_problem(&p);
            }
    printf("shape sweep: %d problems x %d kernels; avx512 == avx2 bit for bit on %d\n", n,
           2 + (avx2 != NULL) + (avx512 != NULL), same512);
}

/* The public entry points without bias, and gemm_f32_generic. */
static void test_plain_entry_points(rng *r) {
    problem p = make_problem(r, 0, 1, 37, 45, 70, 3, 1.5f, 0.0f, 0);
    float *c = copy_c(&p);
    gemm_f32(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, c, p.ldc, 2);
    check_vs_ref("gemm_f32", &p, c, NULL, 0);
    memcpy(c, p.C0, sizeof(float) * (long)p.M * p.ldc);
    gemm_f32_generic(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, c, p.ldc, 2);
    check_vs_ref("gemm_f32_generic", &p, c, NULL, 0);
    free(c);
    free_problem(&p);
    CHECK(strlen(gemm_kernel_name()) > 0, "kernel name");
    printf("kernel: %s\n", gemm_kernel_name());
}

/* Encoder and attention shapes (M cut down), checked on sampled rows. */
static void test_model_shapes(rng *r) {
    static const struct {
        int ta, tb, M, N, K;
        const char *what;
    } shapes[] = {
        {0, 1, 150, 2304, 768, "qkv"},       {0, 1, 97, 768, 768, "proj"},   {0, 1, 64, 3072, 768, "lin1"},
        {0, 1, 61, 768, 3072, "lin2"},       {0, 1, 64, 4096, 64, "q.k^T"},  {0, 0, 64, 64, 4096, "p.v"},
        {0, 1, 196, 196, 64, "window q.k^T"}, {0, 0, 196, 64, 196, "window p.v"}, {0, 1, 7, 256, 256, "decoder"},
    };
    for (int s = 0; s < (int)(sizeof shapes / sizeof *shapes); s++) {
        problem p = make_problem(r, shapes[s].ta, shapes[s].tb, shapes[s].M, shapes[s].N, shapes[s].K, 0, 1.0f,
                                 s % 2 ? 0.0f : 1.0f, s % 3 == 0);
        int rows[8];
        for (int i = 0; i < 8; i++) rows[i] = (int)((long)(p.M - 1) * i / 7);
        float *c = copy_c(&p);
        run_fast(&p, c, 2);
        check_vs_ref(shapes[s].what, &p, c, rows, 8);
        free(c);
        free_problem(&p);
    }
}

/* 1, 2 and 3 threads (M split and N split), bit for bit. */
static void test_thread_independence(rng *r) {
    static const struct {
        int ta, tb, M, N, K;
    } shapes[] = {
        {0, 1, 301, 770, 300}, {1, 0, 160, 333, 513}, {0, 0, 7, 3000, 300}, {1, 1, 5, 2049, 700}, {0, 1, 64, 4096, 64},
    };
    const gemm_kernel *kernels[3];
    const int nk = usable_kernels(kernels);
    for (int s = 0; s < (int)(sizeof shapes / sizeof *shapes); s++) {
        problem p = make_problem(r, shapes[s].ta, shapes[s].tb, shapes[s].M, shapes[s].N, shapes[s].K, 1, 0.5f,
                                 s % 2 ? 0.0f : 0.5f, s % 2);
        for (int kk = 0; kk < nk; kk++) {
            float *c1 = copy_c(&p), *c2 = copy_c(&p), *c3 = copy_c(&p);
            run_kernel(&p, c1, kernels[kk], 1, 0, NULL);
            run_kernel(&p, c2, kernels[kk], 2, 0, NULL);
            run_kernel(&p, c3, kernels[kk], 3, 0, NULL);
            long n = (long)p.M * p.ldc;
            CHECK(bits_equal(c1, c2, n) && bits_equal(c1, c3, n), "%s M=%d N=%d K=%d: 1/2/3 threads differ",
                  kernels[kk]->name, p.M, p.N, p.K);
            if (s == 0) check_vs_ref("2 threads", &p, c2, NULL, 0);
            free(c1), free(c2), free(c3);
        }
        free_problem(&p);
    }
}

/* Pre-packed B equals packing on the fly, bit for bit, on both kernels;
 * the allocation-free fallback also gives the same bits. */
static void test_packed_and_fallback(rng *r) {
    static const struct {
        int ta, tb, M, N, K;
    } shapes[] = {{0, 1, 130, 200, 600}, {1, 0, 33, 17, 257}, {0, 0, 9, 4100, 130}, {0, 1, 1, 1, 1}, {1, 1, 20, 47, 1000}};
    // (the first splits M between 2 threads, the third N)
    const gemm_kernel *kernels[3];
    const int nk = usable_kernels(kernels);
    for (int s = 0; s < (int)(sizeof shapes / sizeof *shapes); s++) {
        problem p = make_problem(r, shapes[s].ta, shapes[s].tb, shapes[s].M, shapes[s].N, shapes[s].K, 2, 1.0f,
                                 s % 2 ? 1.0f : 0.0f, s != 1);
        gemm_packed_b *pb = gemm_pack_b(p.tb, p.K, p.N, p.B, p.ldb);
        CHECK(pb && gemm_packed_b_rows(pb) == p.K && gemm_packed_b_cols(pb) == p.N, "gemm_pack_b");
        if (!pb) continue;
        float *c_plain = copy_c(&p), *c_packed = copy_c(&p), *c_small = copy_c(&p);
        long n = (long)p.M * p.ldc;
        run_fast(&p, c_plain, 1);
        gemm_f32_packed(p.ta, p.M, p.alpha, p.A, p.lda, pb, p.beta, c_packed, p.ldc, p.bias, 2);
        CHECK(bits_equal(c_plain, c_packed, n), "packed vs unpacked B (auto) M=%d N=%d K=%d", p.M, p.N, p.K);
        check_vs_ref("packed", &p, c_packed, NULL, 0);
        for (int kk = 0; kk < nk; kk++) {
            gemm_packed_b *pbk = gemm_pack_b_with(kernels[kk], p.tb, p.K, p.N, p.B, p.ldb);
            memcpy(c_plain, p.C0, sizeof(float) * n);
            memcpy(c_packed, p.C0, sizeof(float) * n);
            memcpy(c_small, p.C0, sizeof(float) * n);
            run_kernel(&p, c_plain, kernels[kk], 1, 0, NULL);
            run_kernel(&p, c_packed, kernels[kk], 2, 0, pbk);
            gemm_packed_b_free(pbk);
            run_kernel(&p, c_small, kernels[kk], 2, 1, NULL);
            CHECK(bits_equal(c_plain, c_packed, n), "%s packed vs unpacked M=%d N=%d K=%d", kernels[kk]->name, p.M,
                  p.N, p.K);
            CHECK(bits_equal(c_plain, c_small, n), "%s small-buffer fallback M=%d N=%d K=%d", kernels[kk]->name, p.M,
                  p.N, p.K);
        }
        free(c_plain), free(c_packed), free(c_small);
        gemm_packed_b_free(pb);
        free_problem(&p);
    }
    CHECK(gemm_pack_b(0, -1, 5, NULL, 5) == NULL, "negative K refused");
    gemm_packed_b *empty = gemm_pack_b(0, 0, 0, NULL, 1);
    CHECK(empty != NULL, "empty pack");
    gemm_packed_b_free(empty);
    gemm_packed_b_free(NULL);
}

/* The AVX2 packers write the same bytes as the generic ones. */
static void test_packers_agree(rng *r) {
    const gemm_kernel *g = gemm_kernel_generic(), *v = gemm_kernel_avx2();
    if (!v) {
        printf("no AVX2: packer comparison skipped\n");
        return;
    }
    static const int dims[][2] = {{1, 1}, {6, 8}, {7, 9}, {13, 17}, {16, 16}, {23, 40}, {144, 256}, {5, 3}};
    for (int d = 0; d < (int)(sizeof dims / sizeof *dims); d++)
        for (int t = 0; t < 2; t++) {
            int mn = dims[d][0], kc = dims[d][1], ld = (t ? kc : mn) + 3;
            float *src = alloc_mat(r, t ? mn : kc, t ? kc : mn, ld);  // as op(B) trans_b=t or op(A)^T
            float *srca = alloc_mat(r, t ? kc : mn, t ? mn : kc, t ? mn + 3 : kc + 3);
            long panels_b = (mn + GEMM_NR - 1) / GEMM_NR, panels_a = (mn + GEMM_MR - 1) / GEMM_MR;
            long nb = panels_b * kc * GEMM_NR, na = panels_a * kc * GEMM_MR;
            float *b1 = malloc(sizeof(float) * nb), *b2 = malloc(sizeof(float) * nb);
            float *a1 = malloc(sizeof(float) * (na + 8)), *a2 = malloc(sizeof(float) * (na + 8));
            g->pack_b(t, src, ld, kc, mn, b1, (long)kc * GEMM_NR);
            v->pack_b(t, src, ld, kc, mn, b2, (long)kc * GEMM_NR);
            CHECK(bits_equal(b1, b2, nb), "pack_b trans=%d n=%d k=%d", t, mn, kc);
            g->pack_a(t, srca, t ? mn + 3 : kc + 3, mn, kc, a1);
            v->pack_a(t, srca, t ? mn + 3 : kc + 3, mn, kc, a2);
            CHECK(bits_equal(a1, a2, na), "pack_a trans=%d m=%d k=%d", t, mn, kc);
            free(src), free(srca), free(b1), free(b2), free(a1), free(a2);
        }
}

/* The AVX-512 packers against the layout's definition (gemm_internal.h). */
static void test_avx512_packers(rng *r) {
    const gemm_kernel *k = gemm_kernel_avx512();
    if (!k) {
        printf("no AVX-512: its packer check skipped\n");
        return;
    }
    const int MR = k->mr, NR = k->nr;
    static const int dims[][2] = {{1, 1}, {12, 8}, {13, 9}, {31, 17}, {32, 16}, {40, 40}, {144, 256}, {5, 3}};
    for (int d = 0; d < (int)(sizeof dims / sizeof *dims); d++)
        for (int t = 0; t < 2; t++) {
            int mn = dims[d][0], kc = dims[d][1];
            int ldb = (t ? kc : mn) + 3, lda = (t ? mn : kc) + 3;
            float *srcb = alloc_mat(r, t ? mn : kc, t ? kc : mn, ldb);  // op(B) (kc, mn), stored transposed if t
            float *srca = alloc_mat(r, t ? kc : mn, t ? mn : kc, lda);  // op(A) (mn, kc), stored transposed if t
            long panels_b = (mn + NR - 1) / NR, panels_a = (mn + MR - 1) / MR;
            float *b = malloc(sizeof(float) * panels_b * kc * NR), *a = malloc(sizeof(float) * panels_a * kc * MR);
            k->pack_b(t, srcb, ldb, kc, mn, b, (long)kc * NR);
            k->pack_a(t, srca, lda, mn, kc, a);
            int bad_b = 0, bad_a = 0;
            for (int q = 0; q < panels_b; q++)
                for (int p = 0; p < kc; p++)
                    for (int j = 0; j < NR; j++) {
                        int col = q * NR + j;
                        float want = col >= mn ? 0.0f : t ? srcb[(long)col * ldb + p] : srcb[(long)p * ldb + col];
                        bad_b += !bits_equal(&b[((long)q * kc + p) * NR + j], &want, 1);
                    }
            for (int q = 0; q < panels_a; q++)
                for (int p = 0; p < kc; p++)
                    for (int i = 0; i < MR; i++) {
                        int row = q * MR + i;
                        float want = row >= mn ? 0.0f : t ? srca[(long)p * lda + row] : srca[(long)row * lda + p];
                        bad_a += !bits_equal(&a[((long)q * kc + p) * MR + i], &want, 1);
                    }
            CHECK(bad_b == 0 && bad_a == 0, "avx512 packers trans=%d mn=%d kc=%d: %d B and %d A values wrong", t, mn,
                  kc, bad_b, bad_a);
            free(srca), free(srcb), free(a), free(b);
        }
}

/* K == 0 and alpha == 0 (A and B not read, even NaN), beta == 0 over NaN. */
static void test_degenerate(rng *r) {
    for (int kk = 0; kk < 2; kk++) {
        problem p = make_problem(r, 0, 0, 9, 21, kk ? 0 : 5, 1, kk ? 1.0f : 0.0f, 0.5f, 1);
        for (long i = 0; i < (long)p.M * p.lda; i++) p.A[i] = NAN;
        float *c = copy_c(&p);
        run_fast(&p, c, 2);
        int ok = 1;
        for (int i = 0; i < p.M; i++)
            for (int j = 0; j < p.N; j++) {
                float want = 0.5f * p.C0[(long)i * p.ldc + j] + p.bias[j];
                if (fabsf(c[(long)i * p.ldc + j] - want) > 1e-6f) ok = 0;
            }
        CHECK(ok, "%s: C = beta*C + bias without reading A", kk ? "K == 0" : "alpha == 0");
        check_vs_ref(kk ? "K == 0" : "alpha == 0", &p, c, NULL, 0);
        free(c);
        free_problem(&p);
    }
    problem p = make_problem(r, 1, 0, 40, 50, 30, 0, 1.0f, 0.0f, 0);
    for (long i = 0; i < (long)p.M * p.ldc; i++) p.C0[i] = NAN;
    float *c = copy_c(&p);
    run_fast(&p, c, 1);
    int finite = 1;
    for (long i = 0; i < (long)p.M * p.ldc; i++) finite &= isfinite(c[i]);
    CHECK(finite, "beta == 0 over an all-NaN C leaves no NaN");
    free(c);
    free_problem(&p);
    gemm_f32(0, 0, 0, 5, 5, 1.0f, NULL, 5, NULL, 5, 0.0f, NULL, 5, 2);  // M == 0: nothing touched
    gemm_f32(0, 0, 5, 0, 5, 1.0f, NULL, 5, NULL, 1, 0.0f, NULL, 1, 2);  // N == 0
    CHECK(1, "empty products return");
}

/* Callers' own parallel loops with nthreads = 1 (the attention pattern). */
static void test_inside_parallel_region(rng *r) {
    enum { T = 6, M = 37, N = 70, K = 64 };
    float *A = alloc_fill(r, (long)T * M * K), *B = alloc_fill(r, (long)T * N * K);
    float *c_serial = calloc((size_t)T * M * N, sizeof(float)), *c_par = calloc((size_t)T * M * N, sizeof(float));
    for (int t = 0; t < T; t++)
        gemm_f32(0, 1, M, N, K, 0.125f, A + (long)t * M * K, K, B + (long)t * N * K, K, 0.0f, c_serial + (long)t * M * N,
                 N, 1);
#pragma omp parallel for num_threads(2) schedule(dynamic)
    for (int t = 0; t < T; t++)
        gemm_f32(0, 1, M, N, K, 0.125f, A + (long)t * M * K, K, B + (long)t * N * K, K, 0.0f, c_par + (long)t * M * N,
                 N, 1);
    CHECK(bits_equal(c_serial, c_par, (long)T * M * N), "gemm inside a parallel loop equals serial");
    /* nthreads > 1 inside a parallel region still computes every block. */
    memset(c_par, 0, sizeof(float) * T * M * N);
#pragma omp parallel for num_threads(2)
    for (int t = 0; t < T; t++)
        gemm_f32(0, 1, M, N, K, 0.125f, A + (long)t * M * K, K, B + (long)t * N * K, K, 0.0f, c_par + (long)t * M * N,
                 N, 4);
    CHECK(bits_equal(c_serial, c_par, (long)T * M * N), "nested nthreads=4 equals serial");
    free(A), free(B), free(c_serial), free(c_par);
}

int main(void) {
    rng r = {20240611};
    test_reference_by_hand();
    test_shape_sweep(&r);
    test_small_m_zeros();
    test_plain_entry_points(&r);
    test_model_shapes(&r);
    test_thread_independence(&r);
    test_packed_and_fallback(&r);
    test_packers_agree(&r);
    test_avx512_packers(&r);
    test_degenerate(&r);
    test_inside_parallel_region(&r);
    return t_summary();
}
