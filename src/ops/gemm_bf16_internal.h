/* gemm_bf16_internal.h — pieces shared by the bf16 GEMM driver (gemm_bf16.c)
 * and its x86 kernels (gemm_bf16_avx512.c, gemm_bf16_avx2.c).
 *
 * Packed layouts (uint16 bf16 bits; a k pair (2p, 2p+1) is one 32-bit word,
 * the even k in the low half, as vdpbf16ps reads it):
 *   A block (mc, kc) -> ceil(mc/MR) panels of kp = ceil(kc/2) pairs, panel r
 *       at buf + r*kp*MR*2, holding A(r*MR + i, k) at [(k/2)*MR*2 + i*2 + k%2];
 *       rows past mc and a missing last odd k are zero.
 *   B (K, N) -> ceil(N/NR) panels, panel q at data + q*Kp*NR (Kp = K rounded
 *       up to even), holding B(k, q*NR + j) at [(k/2)*NR*2 + j*2 + k%2];
 *       columns past N and k = K (odd K) are zero.
 */
#ifndef MS_OPS_GEMM_BF16_INTERNAL_H
#define MS_OPS_GEMM_BF16_INTERNAL_H

#include <string.h>

#include "ops/gemm_bf16.h"

#define GEMM_BF16_MR 12  /* micro-tile rows */
#define GEMM_BF16_NR 32  /* micro-tile columns (two 16-float vectors) */
#define GEMM_BF16_KC 512 /* k per chunk (even, a multiple of 32): a B panel chunk is 32 KB */
#define GEMM_BF16_MC 96  /* rows per packed A block (multiple of MR) */
#define GEMM_BF16_NC 512 /* columns per task when C is split by columns too */

struct gemm_bf16_b {
    int K, N, Kp;   /* Kp: K rounded up to even */
    uint16_t *data; /* (ceil(N/NR), Kp/2, NR, 2), 64-byte aligned */
};

/* The k pair at p (two bf16, the even k in the low half) as one 32-bit word. */
static inline int32_t gemm_bf16_pair(const uint16_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The full MR x NR tile: acc = first ? 0 : c; for p < kp: acc += the pair
 * (odd k first, then even k; see gemm_bf16.h); c = acc. */
typedef void (*gemm_bf16_ukernel_fn)(int kp, const uint16_t *a,  // (kp, MR, 2)
                                     const uint16_t *b,          // (kp, NR, 2)
                                     float *c, long ldc, int first);
/* out[i] = gemm_bf16_from_f32(in[i]) for i < n. */
typedef void (*gemm_bf16_convert_fn)(const float *in, uint16_t *out, long n);

typedef struct {
    gemm_bf16_ukernel_fn ukernel;
    gemm_bf16_convert_fn convert;
} gemm_bf16_kernel;

/* The x86 kernels, or NULL when the CPU (or this build) lacks them. */
const gemm_bf16_kernel *gemm_bf16_kernel_native(void);
const gemm_bf16_kernel *gemm_bf16_kernel_emu_avx512(void);
const gemm_bf16_kernel *gemm_bf16_kernel_emu_avx2(void); /* gemm_bf16_avx2.c */

/* AMX (gemm_bf16_amx.c): 1 when the CPU has AMX-BF16 and the OS granted
 * this process the tile state (asks for it). The task computes rows
 * [r0, r0+rows) x columns [n0, n0+nc) of C [+ bias], A blocks of cap rows
 * (a multiple of 32) in buf (cap * KC bf16). */
int gemm_bf16_amx_available(void);
void gemm_bf16_amx_task(gemm_bf16_convert_fn convert, const float *A, long lda, const gemm_bf16_b *pb, float *C,
                        long ldc, const float *bias, int r0, int rows, int n0, int nc, uint16_t *buf, int cap);

#endif
