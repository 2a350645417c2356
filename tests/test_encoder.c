/* test_encoder.c — the ViT image encoder, stage by stage, against the official
 * PyTorch ImageEncoderViT (dumps from tools/ref/make_encoder_fixtures.py on the
 * tiny fixture model: 8x8 tokens, embed 48, 3 heads, windows of 3 with 8 -> 9
 * padding, global blocks 1 and 3), plus its kernels against plain references.
 *
 * Tolerances (|got-ref| <= atol + rtol*|ref| per element, and relative L2):
 *  - stages vs PyTorch: relL2 <= 1e-5; per element atol 2e-5 (stream, rms ~15)
 *    or 1e-5 (neck, rms ~1), rtol 1e-5. Block increments (block.N - previous
 *    stage, rms ~0.4, the part each block adds) relL2 <= 1e-5, atol 2e-5.
 *  - fast conv / attention vs the double-accumulating references:
 *    relL2 <= 1e-6; atol 1e-6 (conv) or 4e-6 (attention), rtol 1e-5.
 *  - softmax (vectorised exp, both paths) vs the expf softmax: rtol 4e-7
 *    (~3 ulp), relL2 <= 2e-7.
 *  - erf of the vectorised GELU vs double erf: <= 1.25 ulp on every 64th float in
 *    [0, 4.5] (exhaustively it is <= 1.18); GELU vs the erff gelu_forward:
 *    atol 4e-7 (one erf ulp times 0.5|x| where 1 + erf cancels), rtol 2.5e-7.
 *  - vectorised double-sum LayerNorm vs layernorm_forward: rtol 2.5e-7, atol 1e-7.
 *  - 1 vs 2 threads: bit-identical (encoder and attention). */
#include <stdint.h>

#include "core/npy.h"
#include "model/config.h"
#include "model/image_encoder.h"
#include "model/params.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/ops.h"
#include "ops/vecmath.h"
#include "test.h"

#define FIX "tests/fixtures/encoder/"

typedef struct {
    uint64_t s;
} rng;

static float rng_uniform(rng *r) {  // [-1, 1)
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(r->s >> 40) / (double)(1ULL << 23) - 1.0);
}

static float *alloc_rand(rng *r, long n, float scale) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; i < n; i++) p[i] = scale * rng_uniform(r);
    return p;
}

/* ---- kernels vs references ---- */

static void test_conv(void) {
    rng r = {7};
    { /* patchify: Cin 3, 24x40, P 8 -> (3x5 tokens, 5 channels) */
        const int Cin = 3, H = 24, W = 40, P = 8, Co = 5, Gh = H / P, Gw = W / P;
        float *in = alloc_rand(&r, (long)Cin * H * W, 1), *w = alloc_rand(&r, (long)Co * Cin * P * P, 0.1f);
        float *b = alloc_rand(&r, Co, 1), *col = malloc(sizeof(float) * conv_patchify_col_floats(Cin, H, W, P));
        float *got = malloc(sizeof(float) * Gh * Gw * Co), *ref = malloc(sizeof(float) * Gh * Gw * Co);
        float *refl = malloc(sizeof(float) * Gh * Gw * Co);
        conv_patchify_forward(got, in, w, b, Cin, H, W, Co, P, col, 2);
        conv2d_ref(ref, in, w, b, Cin, H, W, Co, P, P, 0);
        for (int o = 0; o < Co; o++)  // NCHW -> channels-last
            for (int t = 0; t < Gh * Gw; t++) refl[t * Co + o] = ref[o * Gh * Gw + t];
        t_close("conv patchify vs conv2d_ref", got, refl, (long)Gh * Gw * Co, 1e-6, 1e-5, 1e-6);
        free(in), free(w), free(b), free(col), free(got), free(ref), free(refl);
    }
    for (int variant = 0; variant < 4; variant++) { /* 3x3 pad 1 and 1x1 on a 5x7 grid */
        // Cin 6: the portable im2col; Cin 16: eight channels at a time where the CPU has AVX2
        const int with_bias = variant & 1, Cin = variant < 2 ? 6 : 16, H = 5, W = 7, Co = 4, N = H * W;
        float *in = alloc_rand(&r, (long)N * Cin, 1), *w3 = alloc_rand(&r, (long)Co * Cin * 9, 0.3f);
        float *w1 = alloc_rand(&r, (long)Co * Cin, 0.3f), *b = with_bias ? alloc_rand(&r, Co, 1) : NULL;
        float *col = malloc(sizeof(float) * conv3x3_col_floats(Cin, H, W)), *inc = malloc(sizeof(float) * N * Cin);
        float *got = malloc(sizeof(float) * N * Co), *ref = malloc(sizeof(float) * N * Co);
        float *refl = malloc(sizeof(float) * N * Co);
        for (int c = 0; c < Cin; c++)
            for (int t = 0; t < N; t++) inc[c * N + t] = in[t * Cin + c];
        conv3x3_forward(got, in, w3, b, H, W, Cin, Co, col, 2);
        conv2d_ref(ref, inc, w3, b, Cin, H, W, Co, 3, 1, 1);
        for (int o = 0; o < Co; o++)
            for (int t = 0; t < N; t++) refl[t * Co + o] = ref[o * N + t];
        char what[64];
        snprintf(what, sizeof what, "conv3x3 Cin %d%s vs conv2d_ref", Cin, with_bias ? " (bias)" : "");
        t_close(what, got, refl, (long)N * Co, 1e-6, 1e-5, 1e-6);
        conv1x1_forward(got, in, w1, b, N, Cin, Co, 2);
        conv2d_ref(ref, inc, w1, b, Cin, H, W, Co, 1, 1, 0);
        for (int o = 0; o < Co; o++)
            for (int t = 0; t < N; t++) refl[t * Co + o] = ref[o * N + t];
        snprintf(what, sizeof what, "conv1x1 Cin %d%s vs conv2d_ref", Cin, with_bias ? " (bias)" : "");
        t_close(what, got, refl, (long)N * Co, 1e-6, 1e-5, 1e-6);
        free(in), free(w3), free(w1), free(b), free(col), free(inc), free(got), free(ref), free(refl);
    }
}

/* conv3x3_im2col: every element against its definition (the 8-channel transposes where the
 * CPU has AVX2, Cin a multiple of 8, and the portable path otherwise), on whole images and on
 * pixel ranges that start and end inside a row (test_conv runs conv3x3_forward through it). */
static void test_im2col(void) {
    rng r = {11};
    const int sizes[][3] = {{8, 5, 7}, {16, 4, 9}, {24, 1, 1}, {12, 3, 3}};
    for (int sc = 0; sc < 4; sc++) {
        const int Cin = sizes[sc][0], H = sizes[sc][1], W = sizes[sc][2], N = H * W, K = 9 * Cin;
        float *in = alloc_rand(&r, (long)N * Cin, 1), *col = malloc(sizeof(float) * N * K);
        const long ranges[][2] = {{0, N}, {N / 3, N - 1 > N / 3 ? N - 1 : N}, {N - 1, N}};
        for (int rg = 0; rg < 3; rg++) {
            const long p0 = ranges[rg][0], p1 = ranges[rg][1];
            for (long i = 0; i < (p1 - p0) * K; i++) col[i] = NAN;
            conv3x3_im2col(col, in, H, W, Cin, p0, p1);
            long bad = 0;
            for (long p = p0; p < p1; p++)
                for (int c = 0; c < Cin; c++)
                    for (int o = 0; o < 9; o++) {
                        const int sy = (int)(p / W) + o / 3 - 1, sx = (int)(p % W) + o % 3 - 1;
                        const float want = sy < 0 || sy >= H || sx < 0 || sx >= W ? 0.0f : in[((long)sy * W + sx) * Cin + c];
                        const float got = col[(p - p0) * K + c * 9 + o];
                        bad += memcmp(&got, &want, sizeof got) != 0;
                    }
            CHECK(bad == 0, "im2col Cin %d, %dx%d, pixels [%ld, %ld): every element", Cin, H, W, p0, p1);
        }
        free(in), free(col);
    }
}

/* ngroups x (sh, sw) tokens, heads x hd, tile tq: fast vs reference, and 1 vs 2 threads. */
static void test_attention_case(const char *what, int ngroups, int sh, int sw, int heads, int hd, int tq) {
    rng r = {(uint64_t)(ngroups * 1000 + sh * 100 + sw * 10 + tq)};
    const int T = sh * sw, C = heads * hd;
    const long n_out = (long)ngroups * T * C;
    float *qkv = alloc_rand(&r, (long)ngroups * T * 3 * C, 1.5f);
    float *rph = alloc_rand(&r, (long)(2 * sh - 1) * hd, 0.5f), *rpw = alloc_rand(&r, (long)(2 * sw - 1) * hd, 0.5f);
    float *scratch = malloc(sizeof(float) * 2 * vit_attention_scratch_floats(sh, sw, tq));
    float *got1 = malloc(sizeof(float) * n_out), *got2 = malloc(sizeof(float) * n_out);
    float *ref = malloc(sizeof(float) * n_out);
    vit_attention_forward(got1, qkv, rph, rpw, ngroups, sh, sw, heads, hd, tq, scratch, 1);
    vit_attention_forward(got2, qkv, rph, rpw, ngroups, sh, sw, heads, hd, tq, scratch, 2);
    CHECK(vit_attention_ref(ref, qkv, rph, rpw, ngroups, sh, sw, heads, hd) == 0, "attention ref alloc");
    char name[96];
    snprintf(name, sizeof name, "attention %s vs ref", what);
    t_close(name, got1, ref, n_out, 4e-6, 1e-5, 1e-6);
    CHECK(memcmp(got1, got2, sizeof(float) * n_out) == 0, "attention %s: 1 and 2 threads differ", what);
    vit_attention_forward_portable(got2, qkv, rph, rpw, ngroups, sh, sw, heads, hd, tq, scratch, 2);
    snprintf(name, sizeof name, "attention %s portable vs ref", what);
    t_close(name, got2, ref, n_out, 4e-6, 1e-5, 1e-6);
    free(qkv), free(rph), free(rpw), free(scratch), free(got1), free(got2), free(ref);
}

/* Both softmax paths vs the scalar expf softmax of ops.h, lengths around the
 * 8- and 16-wide blocks; spread inputs so that some fall far below the row max.
 * The dispatched path (AVX-512 where present) must give the AVX2 path's bits. */
static void test_softmax(void) {
    rng r = {99};
    const int lens[] = {1, 3, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 64, 100, 196, 4096};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int n = lens[li];
        float *x = alloc_rand(&r, n, 60.0f), *ref = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
        memcpy(ref, x, sizeof(float) * n);
        softmax_rows_forward(ref, 1, n);
        for (int path = 0; path < 2; path++) {
            memcpy(got, x, sizeof(float) * n);
            vit_softmax_row(got, n, path);
            char what[64];
            snprintf(what, sizeof what, "softmax n=%d %s vs expf", n, path ? "portable" : "dispatched");
            t_close(what, got, ref, n, 1e-30, 4e-7, 2e-7);
        }
        float *avx2 = malloc(sizeof(float) * n);
        memcpy(got, x, sizeof(float) * n);
        memcpy(avx2, x, sizeof(float) * n);
        vit_softmax_row(got, n, 0);
        vit_softmax_row(avx2, n, 2);
        CHECK(memcmp(got, avx2, sizeof(float) * n) == 0, "softmax n=%d: dispatched and AVX2 paths differ", n);
        free(avx2);
        free(x), free(ref), free(got);
    }
}

/* Vectorised erf / GELU / LayerNorm of the encoder vs libm and the plain kernels. */
static void test_vec_kernels(void) {
    /* erf in ulps of the float nearest the double erf, every 64th float in [0, 4.5] */
    const long n = (long)(0x40900000u >> 6) + 1;  // 0x40900000 = 4.5f
    float *z = malloc(sizeof(float) * n), *e = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) {
        uint32_t b = (uint32_t)i << 6;
        memcpy(&z[i], &b, sizeof b);
    }
    vec_erf(e, z, n);
    double worst = 0;
    long worst_i = 0;
    for (long i = 0; i < n; i++) {
        const double ref = erf((double)z[i]);
        const float rf = (float)ref;
        const double ulp = (double)nextafterf(rf, INFINITY) - rf, d = fabs(e[i] - ref) / ulp;
        if (!(d <= worst)) worst = d, worst_i = i;
    }
    printf("     vec_erf: max %.3f ulp at %.9g (%ld points)\n", worst, z[worst_i], n);
    CHECK(worst <= 1.25, "vec_erf: %.3f ulp at %.9g", worst, z[worst_i]);
    const float special[8] = {NAN, INFINITY, -INFINITY, -0.0f, 1e-30f, -1.0f, 4.0f, -9.0f};
    float sp[8];
    vec_erf(sp, special, 8);
    CHECK(isnan(sp[0]) && sp[1] == 1.0f && sp[2] == -1.0f && sp[3] == 0.0f && signbit(sp[3]) && sp[4] > 0 &&
              fabsf(sp[5] + 0.8427008f) < 1e-7f && sp[6] == 1.0f && sp[7] == -1.0f,
          "vec_erf specials: %g %g %g %g %g %g %g %g", sp[0], sp[1], sp[2], sp[3], sp[4], sp[5], sp[6], sp[7]);
    free(z), free(e);

    /* GELU over [-12, 12] plus odd lengths for the scalar tail */
    rng r = {7};
    const long m = 300007;
    float *x = alloc_rand(&r, m, 12.0f), *ref = malloc(sizeof(float) * m);
    memcpy(ref, x, sizeof(float) * m);
    gelu_forward(ref, m, 1);
    float *x0 = malloc(sizeof(float) * m);
    memcpy(x0, x, sizeof(float) * m);
    vec_gelu_erf_forward(x, m);
    t_close("vec_gelu_erf vs erff gelu", x, ref, m, 4e-7, 2.5e-7, 1e-7);
    /* the dispatched GELU (AVX-512 where present) has the bits of 0.5 x (1 + erf(x / sqrt 2)) with vec_erf
     * (the AVX2 erf), NaN and infinities included */
    x0[0] = NAN, x0[1] = INFINITY, x0[2] = -INFINITY, x0[3] = -0.0f;
    memcpy(ref, x0, sizeof(float) * m);
    vec_gelu_erf_forward(x0, m);
    float *zz = malloc(sizeof(float) * m);
    for (long i = 0; i < m; i++) zz[i] = ref[i] * (float)M_SQRT1_2;
    vec_erf(zz, zz, m);
    long differ = 0;
    for (long i = 0; i < m; i++) {
        const float want = (0.5f * ref[i]) * (1.0f + zz[i]);
        differ += memcmp(&want, &x0[i], sizeof want) != 0 && !(isnan(want) && isnan(x0[i]));
    }
    CHECK(differ == 0, "vec_gelu_erf_forward vs the vec_erf formula: %ld of %ld values differ", differ, m);
    free(x), free(ref), free(x0), free(zz);

    /* LayerNorm: rows with a large mean, widths with and without a vector tail */
    const int widths[] = {768, 256, 13};
    for (int k = 0; k < 3; k++) {
        const int C = widths[k];
        const long R = 37;
        float *in = alloc_rand(&r, R * C, 3.0f), *w = alloc_rand(&r, C, 1.0f), *bias = alloc_rand(&r, C, 1.0f);
        for (long i = 0; i < R * C; i++) in[i] += 40.0f;
        float *got = malloc(sizeof(float) * R * C), *want = malloc(sizeof(float) * R * C);
        layernorm_forward(want, in, w, bias, R, C, 1e-6f, 1);
        vec_layernorm_f64_forward(got, in, w, bias, R, C, 1e-6f);
        char what[64];
        snprintf(what, sizeof what, "vec_layernorm_f64 C=%d vs layernorm", C);
        t_close(what, got, want, R * C, 1e-7, 2.5e-7, 1e-7);
        vec_layernorm_f64_forward(in, in, w, bias, R, C, 1e-6f);  // in place
        CHECK(memcmp(in, got, sizeof(float) * R * C) == 0, "vec_layernorm_f64 C=%d: in place differs", C);
        free(in), free(w), free(bias), free(got), free(want);
    }
}

/* Windows taken straight from the unpadded grid vs window_partition (zero rows
 * through the qkv linear = its bias) + the window-major attention + crop: the
 * same bits, for 1 and 2 threads; the portable path within rounding. */
static void test_window_attention_case(int G, int ws, int heads, int hd) {
    rng r = {(uint64_t)(G * 100 + ws)};
    const int C = heads * hd, nw = (G + ws - 1) / ws, Hp = nw * ws, T = ws * ws;
    const long N = (long)G * G, Np = (long)Hp * Hp;
    float *qkv = alloc_rand(&r, N * 3 * C, 1.5f), *bias = alloc_rand(&r, 3 * C, 1.5f);
    float *rph = alloc_rand(&r, (long)(2 * ws - 1) * hd, 0.5f), *rpw = alloc_rand(&r, (long)(2 * ws - 1) * hd, 0.5f);
    float *part = malloc(sizeof(float) * Np * 3 * C), *pout = malloc(sizeof(float) * Np * C);
    for (long row = 0; row < Np; row++) {  // window-major, padded tokens get the bias
        const int win = (int)(row / T), in = (int)(row % T);
        const int y = win / nw * ws + in / ws, x = win % nw * ws + in % ws;
        memcpy(part + row * 3 * C, y < G && x < G ? qkv + ((long)y * G + x) * 3 * C : bias, sizeof(float) * 3 * C);
    }
    float *scratch = malloc(sizeof(float) * 2 *
                            (vit_window_attention_scratch_floats(ws, hd) + vit_attention_scratch_floats(ws, ws, T)));
    vit_attention_forward(pout, part, rph, rpw, nw * nw, ws, ws, heads, hd, T, scratch, 1);
    float *want = malloc(sizeof(float) * N * C), *got = malloc(sizeof(float) * N * C);
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            const long row = (long)(y / ws * nw + x / ws) * T + (y % ws) * ws + x % ws;
            memcpy(want + ((long)y * G + x) * C, pout + row * C, sizeof(float) * C);
        }
    char what[96];
    for (int nt = 1; nt <= 2; nt++) {
        for (long i = 0; i < N * C; i++) got[i] = NAN;
        vit_window_attention_forward(got, qkv, bias, G, ws, rph, rpw, heads, hd, scratch, nt);
        CHECK(memcmp(got, want, sizeof(float) * N * C) == 0,
              "window attention G=%d ws=%d, %d thread(s): differs from partition + attention + crop", G, ws, nt);
    }
    vit_window_attention_forward_portable(got, qkv, bias, G, ws, rph, rpw, heads, hd, scratch, 2);
    snprintf(what, sizeof what, "window attention G=%d ws=%d portable", G, ws);
    t_close(what, got, want, N * C, 4e-6, 1e-5, 1e-6);
    free(qkv), free(bias), free(rph), free(rpw), free(part), free(pout), free(scratch), free(want), free(got);
}

static void test_attention(void) {
    test_attention_case("4 windows 3x3, 2 heads", 4, 3, 3, 2, 8, 9);
    test_attention_case("1 window 14x14, hd 64", 1, 14, 14, 1, 64, 196);
    test_attention_case("global 5x7, tiles of 8", 2, 5, 7, 3, 16, 8);
    test_attention_case("global 8x8, tiles of 64", 1, 8, 8, 2, 16, 64);
    test_attention_case("global 9x6, tiles of 5", 1, 9, 6, 2, 12, 5);
    test_window_attention_case(8, 3, 2, 8);   // 8 -> 9 padding, as the tiny model
    test_window_attention_case(12, 4, 3, 16); // no padding
    test_window_attention_case(15, 7, 2, 64); // 15 -> 21, hd as ViT-B
}

/* ---- the whole encoder vs PyTorch ---- */

typedef struct {
    long n;
    float *stage[MS_MAX_DEPTH + 2];  // patch_embed, block.0 .. block.depth-1 (copies)
    int depth;
    float *neck;
} captured;

static void capture(void *ctx, const char *stage, const float *data, long n) {
    captured *cap = ctx;
    float **slot = NULL;
    int b;
    if (strcmp(stage, "patch_embed") == 0)
        slot = &cap->stage[0];
    else if (sscanf(stage, "block.%d", &b) == 1 && b >= 0 && b < cap->depth)
        slot = &cap->stage[b + 1];
    else if (strcmp(stage, "neck") == 0)
        slot = &cap->neck;
    CHECK(slot != NULL, "unexpected trace stage '%s'", stage);
    if (!slot) return;
    free(*slot);
    *slot = malloc(sizeof(float) * (size_t)n);
    memcpy(*slot, data, sizeof(float) * (size_t)n);
    if (slot != &cap->neck) cap->n = n;
}

static float *load_fixture(const char *name, long want) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s.npy", name);
    ms_npy a;
    medsam_error err = {0};
    float *f = NULL;
    if (ms_npy_read(path, &a, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return NULL;
    }
    CHECK(a.count == want, "%s: %lld values, expected %ld", path, (long long)a.count, want);
    if (a.count == want && ms_npy_to_f32(&a, &f, &err) != MEDSAM_OK) CHECK(0, "%s", err.message);
    ms_npy_free(&a);
    return f;
}

static void test_encoder_tiny(void) {
    ms_config c;
    medsam_error err = {0};
    CHECK(ms_config_preset("tiny", &c, &err) == MEDSAM_OK, "%s", err.message);
    ms_param_table tab;
    CHECK(ms_param_table_build(&c, &tab) == 0, "param table");
    ms_npy pn;
    if (ms_npy_read("tests/fixtures/tiny/params.npy", &pn, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return;
    }
    CHECK(pn.dtype == MS_NPY_F32 && (size_t)pn.count == tab.total, "params.npy: %lld values, table has %zu",
          (long long)pn.count, tab.total);
    if (pn.dtype != MS_NPY_F32 || (size_t)pn.count != tab.total) return;
    ms_weights w;
    ms_weights_bind(&c, pn.data, &w);

    const int G = c.grid, C = c.embed_dim, O = c.out_chans;
    const long N = (long)G * G, n_img = 3L * c.img_size * c.img_size;
    float *img = malloc(sizeof(float) * n_img), *emb1 = malloc(sizeof(float) * O * N);
    float *emb2 = malloc(sizeof(float) * O * N);
    t_hash_input(img, n_img, 12345);
    size_t wsf = ms_image_encoder_workspace_floats(&c);
    CHECK(wsf > 0, "workspace size");
    float *work = malloc(sizeof(float) * wsf);
    for (size_t i = 0; i < wsf; i++) work[i] = NAN;  // nothing may depend on old workspace contents
    captured cap = {0};
    cap.depth = c.depth;
    CHECK(ms_image_encoder_forward(&c, &w.enc, img, emb1, work, 1, capture, &cap, &err) == MEDSAM_OK, "%s",
          err.message);
    CHECK(cap.n == N * C, "traced stage size %ld, expected %ld", cap.n, N * C);
    CHECK(cap.neck && memcmp(cap.neck, emb1, sizeof(float) * O * N) == 0, "trace 'neck' differs from the embedding");

    float *prev_ref = NULL, *prev_got = NULL;
    for (int s = 0; s <= c.depth; s++) {
        char name[32];
        if (s == 0)
            snprintf(name, sizeof name, "patch_embed");
        else
            snprintf(name, sizeof name, "block.%d", s - 1);
        float *ref = load_fixture(name, N * C), *got = cap.stage[s];
        CHECK(got != NULL, "stage %s not traced", name);
        if (ref && got) {
            char what[64];
            snprintf(what, sizeof what, "encoder %s vs torch", name);
            t_close(what, got, ref, N * C, 2e-5, 1e-5, 1e-5);
            if (prev_ref) { /* what this block added: attention + MLP */
                float *dg = malloc(sizeof(float) * N * C), *dr = malloc(sizeof(float) * N * C);
                for (long i = 0; i < N * C; i++) dg[i] = got[i] - prev_got[i], dr[i] = ref[i] - prev_ref[i];
                snprintf(what, sizeof what, "encoder %s increment vs torch", name);
                t_close(what, dg, dr, N * C, 2e-5, 1e-5, 1e-5);
                free(dg), free(dr);
            }
        }
        free(prev_ref);
        prev_ref = ref, prev_got = got;
    }
    free(prev_ref);
    float *neck = load_fixture("neck", (long)O * N);
    if (neck) t_close("encoder neck (embedding) vs torch", emb1, neck, (long)O * N, 1e-5, 1e-5, 1e-5);
    free(neck);

    CHECK(ms_image_encoder_forward(&c, &w.enc, img, emb2, work, 2, NULL, NULL, &err) == MEDSAM_OK, "%s",
          err.message);
    CHECK(memcmp(emb1, emb2, sizeof(float) * O * N) == 0, "encoder: 1 and 2 threads give different bits");

    ms_config bad = c;
    bad.num_heads = 5;  // 48 is not 5 x head_dim
    CHECK(ms_image_encoder_forward(&bad, &w.enc, img, emb2, work, 1, NULL, NULL, &err) == MEDSAM_ERR_ARG &&
              strstr(err.message, "heads 5"),
          "bad config not rejected: %s", err.message);
    CHECK(ms_image_encoder_workspace_floats(&bad) == 0, "workspace of a bad config");

    for (int s = 0; s <= c.depth; s++) free(cap.stage[s]);
    free(cap.neck), free(img), free(emb1), free(emb2), free(work);
    ms_npy_free(&pn);
    ms_param_table_free(&tab);
}

int main(void) {
    test_conv();
    test_im2col();
    test_softmax();
    test_vec_kernels();
    test_attention();
    test_encoder_tiny();
    return t_summary();
}
