/* test_init.c — the PyTorch-compatible generator (src/core/rng.c) and the
 * default initialisation behind `medsam init` (src/model/init.c):
 *  - mt19937 against the C++ standard's check value;
 *  - uniform_/normal_ sequences bit for bit against torch 1.13.1 (fixture);
 *  - tiny (seeds 0, 7) and ViT-B (seed 0) initialisations bit for bit against
 *    the official modules built after torch.manual_seed (per-tensor checksums);
 *  - layer-type rules and bounds, distributions (bounds, mean, variance with
 *    6-sigma tolerances), determinism per seed;
 *  - the written checkpoint read back through medsam_model_load, and errors.
 * Fixtures: tools/ref/make_init_fixtures.py. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/model_internal.h"
#include "core/npy.h"
#include "core/rng.h"
#include "medsam.h"
#include "model/init.h"
#include "test.h"

#define FIX "tests/fixtures/init/"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The checksum of make_init_fixtures.py: sum_i bits_i * (2i + 1) mod 2^64. */
static uint64_t checksum(const float *v, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) h += (uint64_t)bits_of(v[i]) * (2 * (uint64_t)i + 1);
    return h;
}

static void test_mt19937(void) {
    /* C++ [rand.predef]: the 10000th output of a default-constructed std::mt19937 (seed 5489) */
    ms_rng r;
    ms_rng_seed(&r, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = ms_rng_u32(&r);
    CHECK(v == 4123659995u, "mt19937 10000th draw: got %u, expected 4123659995", v);
    /* only the low 32 bits of a seed count, as in torch.manual_seed */
    ms_rng a, b;
    ms_rng_seed(&a, 7);
    ms_rng_seed(&b, (UINT64_C(5) << 32) | 7);
    CHECK(ms_rng_u32(&a) == ms_rng_u32(&b), "seed 7 and 5*2^32+7 differ");
}

/* Replays the SEQUENCE of make_init_fixtures.py and compares bits. */
static void test_rng_vs_torch(void) {
    ms_npy ref;
    medsam_error err;
    if (ms_npy_read(FIX "rng_torch.npy", &ref, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    static const struct { char op; uint64_t n; double a, b; } seq[] = {
        {'s', 0, 0, 0},         {'u', 1000, -0.036084391824351615, 0.036084391824351615},
        {'u', 100, -3.0, 5.0},  {'n', 4099, 0.0, 1.0}, {'n', 37, 0.3, 0.7}, {'n', 5, 0.0, 1.0},
        {'n', 3, 0.3, 0.7},     {'n', 16, 0.0, 1.0},   {'s', 123456789012345ull, 0, 0},
        {'n', 7, 0.0, 1.0},     {'u', 10, 0.0, 1.0},
    };
    float *got = calloc((size_t)ref.count, sizeof(float)); // (count) the replayed sequence
    ms_rng r;
    size_t at = 0;
    int overflow = 0;
    for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++) {
        if (seq[k].op == 's') { ms_rng_seed(&r, seq[k].n); continue; }
        if (at + seq[k].n > (size_t)ref.count) { overflow = 1; break; }
        if (seq[k].op == 'u') ms_rng_uniform(&r, got + at, seq[k].n, seq[k].a, seq[k].b);
        else ms_rng_normal(&r, got + at, seq[k].n, seq[k].a, seq[k].b);
        at += seq[k].n;
    }
    CHECK(!overflow && at == (size_t)ref.count, "sequence length %zu, fixture %lld", at, (long long)ref.count);
    const float *want = ref.data;
    long differ = 0, first = -1;
    for (size_t i = 0; i < at; i++)
        if (bits_of(got[i]) != bits_of(want[i])) { differ++; if (first < 0) first = (long)i; }
    CHECK(differ == 0, "%ld of %zu values differ from torch (first at %ld: %.9g vs %.9g)", differ, at, first,
          first >= 0 ? got[first] : 0.0, first >= 0 ? want[first] : 0.0);
    printf("     rng vs torch 1.13: %zu values, %ld differ in any bit\n", at, differ);
    free(got);
    ms_npy_free(&ref);
}

/* The Cephes polynomials stay close to libm (they only need to match torch,
 * but a wrong constant would show up here too). */
static void test_math(void) {
    double worst_log = 0, worst_sc = 0;
    for (int i = 1; i <= 100000; i++) {
        float x = (float)i / 100000.0f; /* (0, 1]: the range Box-Muller uses */
        double d = fabs((double)ms_rng_logf(x) - log((double)x));
        if (d > worst_log) worst_log = d;
        float t = (float)(i - 50000) * 1.3e-4f; /* [-6.5, 6.5] covers [0, 2pi) */
        float s, c;
        ms_rng_sincosf(t, &s, &c);
        d = fmax(fabs(s - sin((double)t)), fabs(c - cos((double)t)));
        if (d > worst_sc) worst_sc = d;
    }
    CHECK(worst_log < 1e-6, "ms_rng_logf max |error| %.3g on (0,1]", worst_log);
    CHECK(worst_sc < 1e-6, "ms_rng_sincosf max |error| %.3g on [-6.5,6.5]", worst_sc);
    CHECK(isnan(ms_rng_logf(0.0f)) && isnan(ms_rng_logf(-1.0f)), "log of x <= 0 is not NaN");
}

/* 1M standard normal samples: mean, variance and P(|x|<1), each within 6 sigma. */
static void test_normal_distribution(void) {
    const size_t n = 1000000;
    float *v = malloc(n * sizeof(float)); // (n)
    ms_rng r;
    ms_rng_seed(&r, 99);
    ms_rng_normal(&r, v, n, 0.0, 1.0);
    double s = 0, s2 = 0;
    size_t inside = 0;
    for (size_t i = 0; i < n; i++) { s += v[i]; s2 += (double)v[i] * v[i]; inside += fabsf(v[i]) < 1.0f; }
    double mean = s / n, var = s2 / n - mean * mean, p = (double)inside / n;
    CHECK(fabs(mean) < 6 / sqrt((double)n), "normal mean %.5f", mean);
    CHECK(fabs(var - 1) < 6 * sqrt(2.0 / n), "normal variance %.5f", var);
    CHECK(fabs(p - 0.682689492) < 6 * sqrt(0.2167 / n), "normal P(|x|<1) = %.5f, expected 0.68269", p);
    free(v);
}

typedef struct {
    ms_config cfg;
    ms_param_table table;
    float *params; // (table.total)
} inited;

static int init_arch(const char *arch, uint64_t seed, inited *m) {
    medsam_error err;
    memset(m, 0, sizeof *m);
    if (ms_config_preset(arch, &m->cfg, &err) || ms_param_table_build(&m->cfg, &m->table)) return -1;
    m->params = malloc(m->table.total * sizeof(float));
    if (!m->params) return -1;
    medsam_status st = ms_init_params(&m->table, seed, m->params, &err);
    CHECK(st == MEDSAM_OK, "ms_init_params %s: %s", arch, err.message);
    return st ? -1 : 0;
}

static void inited_free(inited *m) {
    free(m->params);
    ms_param_table_free(&m->table);
}

/* Per-tensor checksums against the official modules' init after torch.manual_seed. */
static void test_matches_torch(const char *arch, uint64_t seed) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s_seed%llu_sums.npy", arch, (unsigned long long)seed);
    ms_npy ref;
    medsam_error err;
    inited m;
    if (ms_npy_read(path, &ref, &err)) { CHECK(0, "%s", err.message); return; }
    if (init_arch(arch, seed, &m)) { CHECK(0, "init %s failed", arch); ms_npy_free(&ref); return; }
    CHECK(ref.dtype == MS_NPY_I64 && ref.count == m.table.count, "%s: %lld checksums for %d tensors", path,
          (long long)ref.count, m.table.count);
    int differ = 0;
    for (int i = 0; i < m.table.count && i < ref.count; i++) {
        const ms_param *p = &m.table.items[i];
        uint64_t h = checksum(m.params + p->offset, p->numel);
        if (h != (uint64_t)((const int64_t *)ref.data)[i]) {
            if (differ++ < 5) printf("FAIL %s seed %llu: tensor %s differs from torch\n", arch,
                                     (unsigned long long)seed, p->name);
        }
    }
    CHECK(differ == 0, "%s seed %llu: %d of %d tensors differ from the torch init", arch, (unsigned long long)seed,
          differ, m.table.count);
    printf("     %s seed %llu: %d tensors, %zu values vs torch.manual_seed + official build: %d tensors differ\n",
           arch, (unsigned long long)seed, m.table.count, m.table.total, differ);
    inited_free(&m);
    ms_npy_free(&ref);
}

/* Layer-type rules, bounds and value distributions of one initialised model. */
static void test_rules_and_distributions(void) {
    inited m;
    if (init_arch("vit_b", 0, &m)) { CHECK(0, "init vit_b failed"); return; }
    int count[5] = {0};
    int bad_range = 0, bad_stats = 0, bad_const = 0, unknown = 0;
    double normal_s = 0, normal_s2 = 0;
    size_t normal_n = 0;
    for (int i = 0; i < m.table.count; i++) {
        const ms_param *p = &m.table.items[i];
        const float *v = m.params + p->offset; // (numel)
        ms_init_kind kind;
        double b;
        if (ms_init_kind_of(&m.table, i, &kind, &b)) { unknown++; continue; }
        count[kind]++;
        if (kind == MS_INIT_ZEROS || kind == MS_INIT_ONES) {
            for (size_t k = 0; k < p->numel; k++) bad_const += v[k] != (kind == MS_INIT_ONES ? 1.0f : 0.0f);
            continue;
        }
        double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < p->numel; k++) {
            s += v[k], s2 += (double)v[k] * v[k];
            lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
        }
        const double n = (double)p->numel;
        if (kind == MS_INIT_NORMAL) { normal_s += s; normal_s2 += s2; normal_n += p->numel; continue; }
        /* U(-b, b): |v| <= b (as float); mean 0 +- 6 b/sqrt(3n); E[v^2] = b^2/3 +- 6 sqrt(4/45) b^2/sqrt(n) */
        if (lo < -(float)b || hi > (float)b) {
            bad_range++;
            printf("FAIL %s: values in [%g, %g], bound %g\n", p->name, lo, hi, b);
        }
        if (n >= 1000 && (fabs(s / n) > 6 * b / sqrt(3 * n) ||
                          fabs(s2 / n - b * b / 3) > 6 * sqrt(4.0 / 45) * b * b / sqrt(n))) {
            bad_stats++;
            printf("FAIL %s: mean %g, E[v^2] %g, expected 0 and %g\n", p->name, s / n, s2 / n, b * b / 3);
        }
    }
    CHECK(unknown == 0, "%d parameters without a rule", unknown);
    CHECK(bad_const == 0, "%d zero/one-initialised values are not 0/1", bad_const);
    CHECK(bad_range == 0, "%d uniform tensors exceed their bound", bad_range);
    CHECK(bad_stats == 0, "%d uniform tensors with mean/variance off by > 6 sigma", bad_stats);
    /* ViT-B: 9 N(0,1) tensors (PE gaussian, 4 point embeddings, not_a_point, no_mask, iou_token, mask_tokens) */
    CHECK(count[MS_INIT_NORMAL] == 9, "%d normal tensors, expected 9", count[MS_INIT_NORMAL]);
    const double nn = (double)normal_n, mean = normal_s / nn, var = normal_s2 / nn - mean * mean;
    CHECK(normal_n == 3072 && fabs(mean) < 6 / sqrt(nn) && fabs(var - 1) < 6 * sqrt(2 / nn),
          "N(0,1) tensors: %zu values, mean %.4f, variance %.4f", normal_n, mean, var);
    /* zeros: pos_embed + 24 rel_pos + 24 encoder LN + 2 neck LN2d + 2 mask LN2d + 9 decoder LN + 1 upscaling LN2d */
    CHECK(count[MS_INIT_ZEROS] == 1 + 24 + 24 + 2 + 2 + 9 + 1, "%d zero tensors", count[MS_INIT_ZEROS]);
    CHECK(count[MS_INIT_ONES] == 24 + 2 + 2 + 9 + 1, "%d one tensors", count[MS_INIT_ONES]);
    /* bounds: Linear 768 -> 1/sqrt(768); Conv 3x16x16 -> 1/sqrt(768); ConvTranspose (256,64,2,2) uses
     * weight.size(1)*k*k = 256; neck 3x3 conv -> 1/sqrt(2304); their biases use the same fan_in */
    static const struct { const char *name; int kind; double fan; } want[] = {
        {"image_encoder.blocks.0.attn.qkv.weight", MS_INIT_KAIMING, 768},
        {"image_encoder.blocks.0.mlp.lin2.bias", MS_INIT_BIAS, 3072},
        {"image_encoder.patch_embed.proj.weight", MS_INIT_KAIMING, 768},
        {"image_encoder.neck.2.weight", MS_INIT_KAIMING, 2304},
        {"mask_decoder.output_upscaling.0.weight", MS_INIT_KAIMING, 256},
        {"mask_decoder.output_upscaling.0.bias", MS_INIT_BIAS, 256},
        {"mask_decoder.output_upscaling.3.weight", MS_INIT_KAIMING, 128},
        {"prompt_encoder.mask_downscaling.0.bias", MS_INIT_BIAS, 4},
        {"mask_decoder.transformer.layers.0.cross_attn_token_to_image.out_proj.weight", MS_INIT_KAIMING, 128},
        {"mask_decoder.mask_tokens.weight", MS_INIT_NORMAL, 0},
        {"prompt_encoder.point_embeddings.3.weight", MS_INIT_NORMAL, 0},
        {"image_encoder.neck.3.bias", MS_INIT_ZEROS, 0},
        {"mask_decoder.transformer.norm_final_attn.weight", MS_INIT_ONES, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const ms_param *p = ms_param_find(&m.table, want[k].name);
        ms_init_kind kind = MS_INIT_ZEROS;
        double b = -1;
        int ok = p && ms_init_kind_of(&m.table, (int)(p - m.table.items), &kind, &b) == 0 && (int)kind == want[k].kind;
        if (ok && want[k].fan > 0) ok = fabs(b - 1 / sqrt(want[k].fan)) <= 1e-15 / sqrt(want[k].fan);
        CHECK(ok, "%s: kind %d bound %.17g, expected kind %d bound 1/sqrt(%g)", want[k].name, (int)kind, b,
              want[k].kind, want[k].fan);
    }
    inited_free(&m);
}

static void test_determinism(void) {
    inited a, b, c;
    if (init_arch("tiny", 5, &a) || init_arch("tiny", 5, &b) || init_arch("tiny", 6, &c)) {
        CHECK(0, "init tiny failed");
        return;
    }
    CHECK(memcmp(a.params, b.params, a.table.total * sizeof(float)) == 0, "seed 5 twice gives different values");
    size_t same = 0, random_vals = 0;
    for (int i = 0; i < a.table.count; i++) {
        ms_init_kind kind;
        double bound;
        ms_init_kind_of(&a.table, i, &kind, &bound);
        if (kind == MS_INIT_ZEROS || kind == MS_INIT_ONES) continue;
        const ms_param *p = &a.table.items[i];
        for (size_t k = 0; k < p->numel; k++) same += a.params[p->offset + k] == c.params[p->offset + k];
        random_vals += p->numel;
    }
    CHECK(same * 1000 < random_vals, "seeds 5 and 6 share %zu of %zu random values", same, random_vals);
    inited_free(&a);
    inited_free(&b);
    inited_free(&c);
}

/* ms_init_save -> medsam_model_load: same names/shapes (the loader checks them) and same bits. */
static void test_round_trip(void) {
    char path[] = "/tmp/medsam_test_init_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { CHECK(0, "mkstemp failed"); return; }
    close(fd);
    medsam_error err;
    medsam_status st = ms_init_save("tiny", 11, path, &err);
    CHECK(st == MEDSAM_OK, "ms_init_save: %s", err.message);
    medsam_model *model = NULL;
    st = st ? st : medsam_model_load(path, &model, &err);
    CHECK(st == MEDSAM_OK, "medsam_model_load of the init checkpoint: %s", err.message);
    inited m;
    if (model && init_arch("tiny", 11, &m) == 0) {
        CHECK(model->table.total == m.table.total && model->table.count == m.table.count &&
                  model->extra_tensors == 0,
              "loaded %d tensors / %zu values (+%d extra), expected %d / %zu", model->table.count,
              model->table.total, model->extra_tensors, m.table.count, m.table.total);
        CHECK(model->table.total == m.table.total &&
                  memcmp(model->params, m.params, m.table.total * sizeof(float)) == 0,
              "loaded parameters differ from ms_init_params");
        medsam_model_info info;
        medsam_model_get_info(model, &info);
        CHECK(info.embed_dim == 48 && info.depth == 4 && info.img_size == 128 && info.num_params == 342248,
              "tiny info: embed %d depth %d img %d params %lld", info.embed_dim, info.depth, info.img_size,
              info.num_params);
        inited_free(&m);
    }
    medsam_model_free(model);
    unlink(path);
}

static void test_errors(void) {
    medsam_error err;
    medsam_status st = ms_init_save("vit_x", 0, "/tmp/never_written_init.pth", &err);
    CHECK(st == MEDSAM_ERR_ARG && strstr(err.message, "vit_x") && access("/tmp/never_written_init.pth", F_OK) != 0,
          "unknown arch: status %d, '%s'", (int)st, err.message);
    st = ms_init_save("tiny", 0, "/nonexistent_dir/x/model.pth", &err);
    CHECK(st == MEDSAM_ERR_IO && strstr(err.message, "/nonexistent_dir/x/model.pth"),
          "unwritable path: status %d, '%s'", (int)st, err.message);
}

int main(void) {
    test_mt19937();
    test_rng_vs_torch();
    test_math();
    test_normal_distribution();
    test_matches_torch("tiny", 0);
    test_matches_torch("tiny", 7);
    test_matches_torch("vit_b", 0);
    test_rules_and_distributions();
    test_determinism();
    test_round_trip();
    test_errors();
    return t_summary();
}
