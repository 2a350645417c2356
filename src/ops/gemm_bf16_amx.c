/* gemm_bf16_amx.c — the AMX-BF16 path of the bf16 GEMM (see gemm_bf16.h):
 * 32x32 tiles of C in four tile registers, tdpbf16ps on 16-row A tiles
 * (row-major bf16, 32 k per row) and 16-pair B tiles read straight from the
 * packed B panels (16 columns of pairs, 128-byte row stride).
 *
 * Arithmetic: per element, k pairs in order, each pair as the instruction
 * does it (Intel SDM TDPBF16PS: even k, then odd k, fp32 sums, round to
 * nearest even, subnormals flushed) — the pair order differs from
 * vdpbf16ps (odd first), so this path's last bits differ from the others;
 * results still do not depend on nthreads.
 *
 * Linux gives a process the AMX tile state only after
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); gemm_bf16_kernel_amx
 * asks for it and reports the path unavailable when refused. */
#include "ops/gemm_bf16_internal.h"

#if defined(__x86_64__) && defined(__linux__)
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NR GEMM_BF16_NR
#define KC GEMM_BF16_KC

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* Tile instructions by hand ("memory" clobbers: they read buffers this code writes). */
#define TILE_LOAD(t, base, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"((const void *)(base)), "r"((long)(stride)) : "memory")
#define TILE_STORE(t, base, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"((void *)(base)), "r"((long)(stride)) : "memory")
#define TILE_ZERO(t) __asm__ volatile("tilezero %%tmm" #t ::: "memory")
#define TILE_DP(c, a, b) __asm__ volatile("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::: "memory")

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;

static void amx_configure(void) {
    _Alignas(64) amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;  // every tile 16 x 64 bytes
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

static void amx_release(void) { __asm__ volatile("tilerelease" ::: "memory"); }

int gemm_bf16_amx_available(void) {
    if (!__builtin_cpu_supports("avx512f")) return 0;
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((d >> 22) & 1) || !((d >> 24) & 1)) return 0;  // AMX-BF16, AMX-TILE
    unsigned long bits = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) || !((bits >> XFEATURE_XTILEDATA) & 1)) return 0;
    return 1;
}

/* One 32x32 tile of C over a k chunk of kt 32-k steps: a (32, lda16) bf16
 * rows, b the B panel at the chunk (kt*16 pairs, 128-byte rows). */
static void amx_tile(int kt, const uint16_t *a, long lda16, const uint16_t *b, float *c, long ldc, int first) {
    if (first) {
        TILE_ZERO(0);
        TILE_ZERO(1);
        TILE_ZERO(2);
        TILE_ZERO(3);
    } else {
        TILE_LOAD(0, c, ldc * 4);
        TILE_LOAD(1, c + 16, ldc * 4);
        TILE_LOAD(2, c + 16 * ldc, ldc * 4);
        TILE_LOAD(3, c + 16 * ldc + 16, ldc * 4);
    }
    for (int t = 0; t < kt; t++) {
        const uint16_t *at = a + t * 32, *bt = b + (long)t * 16 * NR * 2;
        TILE_LOAD(4, at, lda16 * 2);
        TILE_LOAD(5, at + 16 * lda16, lda16 * 2);
        TILE_LOAD(6, bt, NR * 4);
        TILE_LOAD(7, bt + 32, NR * 4);
        TILE_DP(0, 4, 6);
        TILE_DP(1, 4, 7);
        TILE_DP(2, 5, 6);
        TILE_DP(3, 5, 7);
    }
    TILE_STORE(0, c, ldc * 4);
    TILE_STORE(1, c + 16, ldc * 4);
    TILE_STORE(2, c + 16 * ldc, ldc * 4);
    TILE_STORE(3, c + 16 * ldc + 16, ldc * 4);
}

void gemm_bf16_amx_task(gemm_bf16_convert_fn convert, const float *A, long lda, const gemm_bf16_b *pb, float *C,
                        long ldc, const float *bias, int r0, int rows, int n0, int nc, uint16_t *buf, int cap) {
    const int K = pb->K;
    _Alignas(64) uint16_t btail[16 * NR * 2];  // a last partial k step of B, zero-padded
    _Alignas(64) float ct[32 * 32];            // an edge tile of C
    amx_configure();
    for (int rr = r0; rr < r0 + rows; rr += cap) {
        const int mc = r0 + rows - rr < cap ? r0 + rows - rr : cap, mc32 = (mc + 31) & ~31;
        for (int pc = 0; pc < K; pc += KC) {
            const int kc = K - pc < KC ? K - pc : KC, kt = (kc + 31) / 32, ld = kt * 32;
            for (int i = 0; i < mc32; i++) {  // A rows as bf16, k padded with zeros to ld
                uint16_t *row = buf + (long)i * ld;
                if (i < mc) convert(A + (long)(rr + i) * lda + pc, row, kc);
                memset(row + (i < mc ? kc : 0), 0, sizeof(uint16_t) * (size_t)(i < mc ? ld - kc : ld));
            }
            const int full_kt = kc / 32, pairs_left = (kc - full_kt * 32 + 1) / 2;
            for (int n = n0; n < n0 + nc; n += NR) {
                const uint16_t *bp = pb->data + (long)(n / NR) * pb->Kp * NR + (long)pc * NR;
                const int nr = n0 + nc - n < NR ? n0 + nc - n : NR;
                if (full_kt < kt) {
                    memset(btail, 0, sizeof btail);
                    memcpy(btail, bp + (long)full_kt * 16 * NR * 2, sizeof(uint16_t) * (size_t)pairs_left * NR * 2);
                }
                for (int i = 0; i < mc; i += 32) {
                    const int mr = mc - i < 32 ? mc - i : 32, full = mr == 32 && nr == NR;
                    float *c = C + (long)(rr + i) * ldc + n, *t = full ? c : ct;
                    const long ldt = full ? ldc : 32;
                    if (!full && pc > 0)
                        for (int y = 0; y < mr; y++) memcpy(ct + y * 32, c + y * ldc, sizeof(float) * (size_t)nr);
                    amx_tile(full_kt, buf + (long)i * ld, ld, bp, t, ldt, pc == 0);
                    if (full_kt < kt) {  // the tail step: A at its column, B from btail
                        amx_tile(1, buf + (long)i * ld + full_kt * 32, ld, btail, t, ldt, pc == 0 && full_kt == 0);
                    }
                    if (!full)
                        for (int y = 0; y < mr; y++) memcpy(c + y * ldc, ct + y * 32, sizeof(float) * (size_t)nr);
                }
            }
        }
        if (bias)
            for (int y = 0; y < mc; y++) {
                float *c = C + (long)(rr + y) * ldc;
                for (int j = n0; j < n0 + nc; j++) c[j] = c[j] + bias[j];
            }
    }
    amx_release();
}
#else
int gemm_bf16_amx_available(void) { return 0; }
void gemm_bf16_amx_task(gemm_bf16_convert_fn convert, const float *A, long lda, const gemm_bf16_b *pb, float *C,
                        long ldc, const float *bias, int r0, int rows, int n0, int nc, uint16_t *buf, int cap) {
    (void)convert, (void)A, (void)lda, (void)pb, (void)C, (void)ldc, (void)bias, (void)r0, (void)rows, (void)n0,
        (void)nc, (void)buf, (void)cap;
}
#endif
