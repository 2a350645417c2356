/* test_attn_small.c — the small-window attention products (src/ops/attn_small.c) give
 * the bits of the gemm_f32 calls they replace, on TinyViT's shapes and odd ones
 * (token counts with and without a 16-, 8-, 6- and 4-row remainder, head widths that
 * take the AVX-512 or the AVX2 path and ones that fall back), zero products included;
 * the AVX2 kernels also on CPUs that have AVX-512. */
#include "ops/attn_small.h"
#include "ops/gemm.h"
#include "test.h"

static void check_shape(int T, int hd, uint32_t seed) {
    const int ld = 3 * hd + 5;  // [q | k | v] rows with a gap, as a gathered window is strided
    float *g = malloc(sizeof(float) * T * ld), *kt = malloc(sizeof(float) * attn_small_scratch_floats(T, hd));
    float *s1 = malloc(sizeof(float) * T * T), *s2 = malloc(sizeof(float) * T * T);
    float *o1 = malloc(sizeof(float) * T * (hd + 3)), *o2 = malloc(sizeof(float) * T * (hd + 3));
    t_hash_input(g, (long)T * ld, seed);
    for (long i = 0; i < (long)T * ld; i++) g[i] = 2.0f * g[i] - 1.0f;
    g[0] = 0.0f, g[hd] = -0.0f;  // a zero product: the -0 / +0 of the update must match too
    const float scale = 1.0f / sqrtf((float)hd);
    attn_small_scores(s1, g, g + hd, ld, T, hd, scale, kt);
    gemm_f32(0, 1, T, T, hd, scale, g, ld, g + hd, ld, 0.0f, s2, T, 1);
    CHECK(memcmp(s1, s2, sizeof(float) * T * T) == 0, "scores T %d hd %d: bits differ from gemm_f32", T, hd);
    attn_small_scores_avx2(s1, g, g + hd, ld, T, hd, scale, kt);
    CHECK(memcmp(s1, s2, sizeof(float) * T * T) == 0, "scores T %d hd %d (AVX2 kernels): bits differ from gemm_f32", T, hd);
    for (long i = 0; i < (long)T * T; i++) s1[i] = s1[i] > 0 ? s1[i] : 0.0f;  // probabilities-like, zeros included
    memset(o1, 0x7f, sizeof(float) * T * (hd + 3)), memset(o2, 0x7f, sizeof(float) * T * (hd + 3));
    attn_small_av(o1, hd + 3, s1, g + 2 * hd, ld, T, hd);
    gemm_f32(0, 0, T, hd, T, 1.0f, s1, T, g + 2 * hd, ld, 0.0f, o2, hd + 3, 1);
    CHECK(memcmp(o1, o2, sizeof(float) * T * (hd + 3)) == 0, "attn @ v T %d hd %d: bits differ from gemm_f32 (or a gap was written)",
          T, hd);
    memset(o1, 0x7f, sizeof(float) * T * (hd + 3));
    attn_small_av_avx2(o1, hd + 3, s1, g + 2 * hd, ld, T, hd);
    CHECK(memcmp(o1, o2, sizeof(float) * T * (hd + 3)) == 0,
          "attn @ v T %d hd %d (AVX2 kernels): bits differ from gemm_f32 (or a gap was written)", T, hd);
    free(g), free(kt), free(s1), free(s2), free(o1), free(o2);
}

int main(void) {
    const int shapes[][2] = {{49, 32}, {196, 32}, {64, 32}, {1, 32}, {7, 16}, {23, 48}, {50, 64}, {17, 8}, {256, 32}, {300, 32},
                              {16, 16}, {17, 16}, {15, 32}, {22, 32}, {197, 16}};
    uint32_t seed = 5;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(shapes[i][0], shapes[i][1], seed++);
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
