/* gemm_bf16.c — bf16 GEMM driver, B packing, the portable emulated kernel and
 * run-time path choice (see gemm_bf16.h; kernels in gemm_bf16_avx512.c). */
#include "ops/gemm_bf16.h"

#include <stdlib.h>
#include <string.h>

#include "ops/gemm_bf16_internal.h"

#define MR GEMM_BF16_MR
#define NR GEMM_BF16_NR
#define KC GEMM_BF16_KC
#define MC GEMM_BF16_MC
#define NC GEMM_BF16_NC

uint16_t gemm_bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);               // zero, subnormal
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);        // NaN, quiet
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                        // nearest even
}

float gemm_bf16_to_f32(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void bf16_convert_c(const float *in, uint16_t *out, long n) {
    for (long i = 0; i < n; i++) out[i] = gemm_bf16_from_f32(in[i]);
}

/* ref: Intel SDM VDPBF16PS -- per lane: acc += odd pair product, then += even. */
static void bf16_ukernel_c(int kp, const uint16_t *a, const uint16_t *b, float *c, long ldc, int first) {
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = first ? 0.0f : c[i * ldc + j];
    for (int p = 0; p < kp; p++) {
        const uint16_t *ap = a + (long)p * MR * 2, *bp = b + (long)p * NR * 2;
        for (int i = 0; i < MR; i++) {
            const float a0 = gemm_bf16_to_f32(ap[2 * i]), a1 = gemm_bf16_to_f32(ap[2 * i + 1]);
            for (int j = 0; j < NR; j++) {
                const float p1 = a1 * gemm_bf16_to_f32(bp[2 * j + 1]);  // exact: 8-bit x 8-bit significands
                const float p0 = a0 * gemm_bf16_to_f32(bp[2 * j]);
                acc[i][j] = acc[i][j] + p1;
                acc[i][j] = acc[i][j] + p0;
            }
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = acc[i][j];
}

static const gemm_bf16_kernel PORTABLE = {bf16_ukernel_c, bf16_convert_c};

static const gemm_bf16_kernel *bf16_kernel_of(gemm_bf16_path path) {
    const gemm_bf16_kernel *k = NULL;
    if (path == GEMM_BF16_PORTABLE) return &PORTABLE;
    if (path == GEMM_BF16_EMU_AVX512) k = gemm_bf16_kernel_emu_avx512();
    if (path == GEMM_BF16_EMU_AVX2) k = gemm_bf16_kernel_emu_avx2();
    if (path == GEMM_BF16_NATIVE) k = gemm_bf16_kernel_native();
    if (k) return k;
    if ((k = gemm_bf16_kernel_native())) return k;
    if ((k = gemm_bf16_kernel_emu_avx512())) return k;
    if ((k = gemm_bf16_kernel_emu_avx2())) return k;
    return &PORTABLE;
}

int gemm_bf16_path_supported(gemm_bf16_path path) {
    switch (path) {
    case GEMM_BF16_AMX: return gemm_bf16_kernel_emu_avx512() && gemm_bf16_amx_available();
    case GEMM_BF16_AUTO:
    case GEMM_BF16_PORTABLE: return 1;
    case GEMM_BF16_NATIVE: return gemm_bf16_kernel_native() != NULL;
    case GEMM_BF16_EMU_AVX512: return gemm_bf16_kernel_emu_avx512() != NULL;
    case GEMM_BF16_EMU_AVX2: return gemm_bf16_kernel_emu_avx2() != NULL;
    }
    return 0;
}

gemm_bf16_path gemm_bf16_best_path(void) {
    if (gemm_bf16_path_supported(GEMM_BF16_AMX)) return GEMM_BF16_AMX;
    if (gemm_bf16_kernel_native()) return GEMM_BF16_NATIVE;
    if (gemm_bf16_kernel_emu_avx512()) return GEMM_BF16_EMU_AVX512;
    if (gemm_bf16_kernel_emu_avx2()) return GEMM_BF16_EMU_AVX2;
    return GEMM_BF16_PORTABLE;
}

const char *gemm_bf16_path_name(gemm_bf16_path path) {
    if (path == GEMM_BF16_AUTO) path = gemm_bf16_best_path();
    switch (path) {
    case GEMM_BF16_AMX: return "amx-bf16 (tdpbf16ps tiles)";
    case GEMM_BF16_NATIVE: return "avx512bf16 (native vdpbf16ps)";
    case GEMM_BF16_EMU_AVX512: return "avx512f (emulated)";
    case GEMM_BF16_EMU_AVX2: return "avx2-fma (emulated)";
    default: return "portable C (emulated)";
    }
}

/* ---- packing ---- */

gemm_bf16_b *gemm_bf16_pack_b(int trans_b, int K, int N, const float *B, int ldb) {
    if (K < 1 || N < 1 || !B) return NULL;
    gemm_bf16_b *pb = calloc(1, sizeof *pb);
    if (!pb) return NULL;
    pb->K = K, pb->N = N, pb->Kp = K + (K & 1);
    const long np = (N + NR - 1) / NR, panel = (long)pb->Kp * NR;
    const size_t bytes = ((size_t)np * panel * sizeof(uint16_t) + 63) & ~(size_t)63;
    pb->data = aligned_alloc(64, bytes);
    if (!pb->data) {
        free(pb);
        return NULL;
    }
    memset(pb->data, 0, bytes);
    for (long q = 0; q < np; q++)
        for (int j = 0; j < NR && q * NR + j < N; j++)
            for (int k = 0; k < K; k++) {
                const long n = q * NR + j;
                const float v = trans_b ? B[n * ldb + k] : B[(long)k * ldb + n];
                pb->data[q * panel + (long)(k / 2) * NR * 2 + j * 2 + (k & 1)] = gemm_bf16_from_f32(v);
            }
    return pb;
}

void gemm_bf16_b_free(gemm_bf16_b *pb) {
    if (!pb) return;
    free(pb->data);
    free(pb);
}

int gemm_bf16_b_rows(const gemm_bf16_b *pb) { return pb ? pb->K : 0; }
int gemm_bf16_b_cols(const gemm_bf16_b *pb) { return pb ? pb->N : 0; }
size_t gemm_bf16_b_bytes(const gemm_bf16_b *pb) {
    return pb ? (size_t)((pb->N + NR - 1) / NR) * pb->Kp * NR * sizeof(uint16_t) : 0;
}

/* A(0:mc, 0:kc) -> buf in the packed A layout (gemm_bf16_internal.h). */
static void bf16_pack_a(const gemm_bf16_kernel *kern, const float *A, long lda, int mc, int kc, uint16_t *buf) {
    const int kp = (kc + 1) / 2;
    uint16_t row[KC + 2];
    const int panels = (mc + MR - 1) / MR;
    for (int i = 0; i < panels * MR; i++) {
        uint16_t *dst = buf + (long)(i / MR) * kp * MR * 2 + (i % MR) * 2;
        if (i < mc) {
            kern->convert(A + (long)i * lda, row, kc);
            row[kc] = 0;
        } else {
            memset(row, 0, sizeof(uint16_t) * (size_t)(2 * kp));
        }
        for (int p = 0; p < kp; p++) memcpy(dst + (long)p * MR * 2, row + 2 * p, 2 * sizeof(uint16_t));
    }
}

/* Rows [r0, r0+rows) x columns [n0, n0+nc) of C, A blocks of at most cap rows. */
static void bf16_task(const gemm_bf16_kernel *kern, const float *A, long lda, const gemm_bf16_b *pb, float *C,
                      long ldc, const float *bias, int r0, int rows, int n0, int nc, uint16_t *buf, int cap) {
    const int K = pb->K;
    for (int rr = r0; rr < r0 + rows; rr += cap) {
        const int mc = r0 + rows - rr < cap ? r0 + rows - rr : cap;
        for (int pc = 0; pc < K; pc += KC) {
            const int kc = K - pc < KC ? K - pc : KC, kp = (kc + 1) / 2;
            bf16_pack_a(kern, A + (long)rr * lda + pc, lda, mc, kc, buf);
            for (int n = n0; n < n0 + nc; n += NR) {
                const uint16_t *bp = pb->data + (long)(n / NR) * pb->Kp * NR + (long)pc * NR;
                const int nr = n0 + nc - n < NR ? n0 + nc - n : NR;
                for (int i = 0; i < mc; i += MR) {
                    const int mr = mc - i < MR ? mc - i : MR;
                    const uint16_t *ap = buf + (long)(i / MR) * kp * MR * 2;
                    float *c = C + (long)(rr + i) * ldc + n;
                    if (mr == MR && nr == NR) {
                        kern->ukernel(kp, ap, bp, c, ldc, pc == 0);
                        continue;
                    }
                    float t[MR * NR] = {0};
                    if (pc > 0)
                        for (int y = 0; y < mr; y++) memcpy(t + y * NR, c + y * ldc, sizeof(float) * (size_t)nr);
                    kern->ukernel(kp, ap, bp, t, NR, pc == 0);
                    for (int y = 0; y < mr; y++) memcpy(c + y * ldc, t + y * NR, sizeof(float) * (size_t)nr);
                }
            }
        }
        if (bias)
            for (int y = 0; y < mc; y++) {
                float *c = C + (long)(rr + y) * ldc;
                for (int j = n0; j < n0 + nc; j++) c[j] = c[j] + bias[j];
            }
    }
}

void gemm_bf16_packed(gemm_bf16_path path, int M, const float *A, int lda, const gemm_bf16_b *pb, float *C, int ldc,
                      const float *bias, int nthreads) {
    if (M < 1 || !pb) return;
    const int amx = path == GEMM_BF16_AMX && gemm_bf16_path_supported(GEMM_BF16_AMX);
    const gemm_bf16_kernel *kern = amx ? gemm_bf16_kernel_emu_avx512() : bf16_kernel_of(path);
    const int N = pb->N;
    if (nthreads < 1) nthreads = 1;
    const int mblocks = (M + MC - 1) / MC;
    const int nblocks = (nthreads == 1 || mblocks >= 2 * nthreads) ? 1 : (N + NC - 1) / NC;
    const int ncol = nblocks == 1 ? N : NC, tasks = mblocks * nblocks;
    const int nt = nthreads < tasks ? nthreads : tasks;
    const size_t buf_bytes = ((size_t)MC * (KC + 2) * sizeof(uint16_t) + 63) & ~(size_t)63;  // aligned_alloc: a multiple of 64
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        uint16_t *buf = aligned_alloc(64, buf_bytes);
        _Alignas(64) uint16_t small[32 * (KC + 2)];  // fallback: 32 rows at a time
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) {
            const int r0 = (t / nblocks) * MC, n0 = (t % nblocks) * ncol;
            const int rows = M - r0 < MC ? M - r0 : MC, nc = N - n0 < ncol ? N - n0 : ncol;
            if (amx)
                gemm_bf16_amx_task(kern->convert, A, lda, pb, C, ldc, bias, r0, rows, n0, nc, buf ? buf : small,
                                   buf ? MC : 32);
            else
                bf16_task(kern, A, lda, pb, C, ldc, bias, r0, rows, n0, nc, buf ? buf : small, buf ? MC : 2 * MR);
        }
        free(buf);
    }
}

#if !defined(__x86_64__)
const gemm_bf16_kernel *gemm_bf16_kernel_native(void) { return NULL; }
const gemm_bf16_kernel *gemm_bf16_kernel_emu_avx512(void) { return NULL; }
const gemm_bf16_kernel *gemm_bf16_kernel_emu_avx2(void) { return NULL; }
#endif
