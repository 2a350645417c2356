/* test_weights_layouts.c — the same weights in any container and naming give
 * bit-identical parameters, image embeddings and decoder logits: the tiny
 * fixture model as (a) the torch.save .pth, (b) safetensors with the official
 * names, (c) the transformers SamModel layout in safetensors, written by
 * Python (tools/ref/make_weights_fixtures.py, renaming as convert_sam_to_hf.py),
 * (d) the same layout as a pytorch_model.bin (torch zip, both tied names of the
 * positional matrix), (e) `medsam convert`'s own HF safetensors; the name
 * mapping against the Python renaming of every tensor; config.json beside HF
 * weights; a SlimSAM-shaped model (head dim 14, MLP 4.14 x dim, 4 decoder
 * heads from config.json) in the HF layout against the official modules'
 * outputs; refusals (misshapen, missing, conflicting tensors). */
#include <stdint.h>

#include "api/model_internal.h"
#include "core/npy.h"
#include "medsam.h"
#include "test.h"
#include "weights/hf_names.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

#define TINY "tests/fixtures/tiny/model.pth"
#define FIX "tests/fixtures/weights/"

typedef struct {
    float *emb;     /* (C, G, G) */
    float logits[2 * 32 * 32];
    float iou[2];
    long count;
} outputs;

/* Encodes a fixed synthetic input and decodes two boxes. */
static int run_model(const medsam_model *m, outputs *o) {
    const int S = m->cfg.img_size;
    float *in = malloc((size_t)S * S * 3 * sizeof *in);
    for (int i = 0; i < S * S * 3; i++) in[i] = (float)((i * 37) % 101) / 100.0f;
    medsam_embedding *e = NULL;
    medsam_error err;
    int ok = medsam_encode(m, in, 2, &e, &err) == MEDSAM_OK;
    free(in);
    if (!ok) return 0;
    const float *d = medsam_embedding_data(e, &o->count);
    o->emb = malloc((size_t)o->count * sizeof *o->emb);
    memcpy(o->emb, d, (size_t)o->count * sizeof *o->emb);
    medsam_box boxes[2] = {{10, 12, 90, 100}, {40, 5, 120, 60}};
    ok = 4 * m->cfg.grid == 32 && medsam_decode_boxes(m, e, 128, 128, boxes, 2, 2, o->logits, o->iou, NULL, &err) == MEDSAM_OK;
    medsam_embedding_free(e);
    return ok;
}

/* Loads `path` and holds its parameters, embedding and logits to the reference's, bit for bit. */
static void expect_identical(const medsam_model *ref, const outputs *ro, const char *path, const char *what) {
    medsam_model *m = NULL;
    medsam_error err = {0};
    medsam_status st = medsam_model_load(path, &m, &err);
    CHECK(st == MEDSAM_OK, "%s: load: %s", what, err.message);
    if (st) return;
    int same_params = m->table.total == ref->table.total && m->extra_tensors == 0 &&
                      memcmp(m->params, ref->params, ref->table.total * sizeof(float)) == 0;
    CHECK(same_params, "%s: parameters differ from the .pth", what);
    outputs o = {0};
    CHECK(run_model(m, &o), "%s: encode/decode", what);
    int same_out = o.count == ro->count && !memcmp(o.emb, ro->emb, (size_t)o.count * sizeof(float)) &&
                   !memcmp(o.logits, ro->logits, sizeof o.logits) && !memcmp(o.iou, ro->iou, sizeof o.iou);
    CHECK(same_out, "%s: embedding / logits / IoU differ", what);
    printf("%s %-48s %zu parameters, %ld embedding values, logits and IoU: %s\n", same_params && same_out ? "ok  " : "FAIL", what,
           m->table.total, o.count, same_params && same_out ? "bit-identical" : "DIFFERENT");
    free(o.emb);
    medsam_model_free(m);
}

static void expect_error(const char *path, const char *what, const char *needle) {
    medsam_model *m = NULL;
    medsam_error err = {0};
    medsam_status st = medsam_model_load(path, &m, &err);
    CHECK(st != MEDSAM_OK && m == NULL, "%s: loaded", what);
    CHECK(strstr(err.message, needle) && !strchr(err.message, '\n'), "%s: message '%s' lacks '%s'", what, err.message, needle);
    printf("%s %-48s %s\n", st ? "ok  " : "FAIL", what, err.message);
    medsam_model_free(m);
}

static ms_hf_heads heads_of(const medsam_model *m) {
    ms_hf_heads h = {0, 0};
    for (int i = 0; i < m->table.count; i++) ms_hf_heads_observe(&h, m->table.items[i].name, 0);
    return h;
}

typedef enum { HF_NAMES = 1, TIED_COPY = 2, BAD_TIED = 4, DROP_ONE = 8, SHRINK_ONE = 16 } variant;

/* The reference's tensors as safetensors (official or HF names). */
static int write_st(const medsam_model *ref, const char *path, int v) {
    st_out_tensor *t = calloc((size_t)ref->table.count + 1, sizeof *t);
    char (*names)[160] = calloc((size_t)ref->table.count + 1, sizeof *names);
    ms_hf_heads h = heads_of(ref);
    int n = 0;
    for (int i = 0; i < ref->table.count; i++) {
        const ms_param *p = &ref->table.items[i];
        if ((v & DROP_ONE) && !strcmp(p->name, "mask_decoder.iou_token.weight")) continue;
        if (v & HF_NAMES) ms_sam_to_hf(p->name, &h, names[n], sizeof names[n]);
        else snprintf(names[n], sizeof names[n], "%s", p->name);
        t[n] = (st_out_tensor){names[n], p->ndim, {0}, ref->params + p->offset};
        for (int d = 0; d < p->ndim; d++) t[n].shape[d] = p->shape[d];
        if ((v & SHRINK_ONE) && !strcmp(p->name, "image_encoder.blocks.1.mlp.lin1.weight")) t[n].shape[0]--;
        n++;
    }
    if (v & BAD_TIED) { /* a "tied" copy whose shape disagrees */
        snprintf(names[n], sizeof names[n], "prompt_encoder.shared_embedding.positional_embedding");
        t[n] = (st_out_tensor){names[n], 1, {4}, ref->params};
        n++;
    }
    medsam_error err;
    const char *meta[] = {"format", "pt"};
    int st = st_write_f32(path, t, n, meta, 1, &err);
    if (st) printf("write %s: %s\n", path, err.message);
    free(t);
    free(names);
    return st;
}

/* The reference as a transformers pytorch_model.bin: HF names, the positional matrix under both tied names. */
static int write_hf_bin(const medsam_model *ref, const char *path) {
    pth_writer *w = pth_writer_new();
    pth_value *sd = pth_writer_ordered_dict(w);
    ms_hf_heads h = heads_of(ref);
    for (int i = 0; i < ref->table.count; i++) {
        const ms_param *p = &ref->table.items[i];
        char name[160];
        ms_sam_to_hf(p->name, &h, name, sizeof name);
        pth_value *t = pth_writer_tensor_f32(w, ref->params + p->offset, p->ndim, p->shape);
        if (!strcmp(name, "shared_image_embedding.positional_embedding"))
            pth_writer_set(w, sd, "prompt_encoder.shared_embedding.positional_embedding", t);
        pth_writer_set(w, sd, name, t);
    }
    medsam_error err;
    int st = pth_writer_save(w, sd, path, &err);
    if (st) printf("write %s: %s\n", path, err.message);
    pth_writer_free(w);
    return st;
}

/* Every official name against the Python renaming (tools/ref/make_weights_fixtures.py), both ways. */
static void test_names(const medsam_model *ref) {
    FILE *fp = fopen(FIX "hf_names.txt", "r");
    CHECK(fp != NULL, "open hf_names.txt");
    if (!fp) return;
    ms_hf_heads h = heads_of(ref);
    CHECK(h.hyper_mid == 1 && h.iou_mid == 1, "heads' middle layers: %d %d", h.hyper_mid, h.iou_mid);
    char sam[256], hf[256], out[256];
    int n = 0, bad = 0;
    while (fscanf(fp, "%255s %255s", sam, hf) == 2) {
        n++;
        /* the positional matrix: replace_keys names it prompt_encoder.shared_embedding... and copies it to
         * shared_image_embedding..., the name save_pretrained keeps and the one medsam writes */
        const char *want = strcmp(hf, "prompt_encoder.shared_embedding.positional_embedding") ? hf
                                                                                              : "shared_image_embedding.positional_embedding";
        if (ms_sam_to_hf(sam, &h, out, sizeof out) != 1 || strcmp(out, want)) bad++, printf("sam->hf %s: %s, want %s\n", sam, out, want);
        if (ms_hf_to_sam(hf, &h, out, sizeof out) != 1 || strcmp(out, sam)) bad++, printf("hf->sam %s: %s, want %s\n", hf, out, sam);
    }
    fclose(fp);
    CHECK(n == ref->table.count && bad == 0, "%d names, %d mismatches with convert_sam_to_hf.py's renaming", n, bad);
    printf("%s %d tensor names map as convert_sam_to_hf.py renames them, both ways\n", bad ? "FAIL" : "ok  ", n);
    CHECK(ms_hf_to_sam("shared_image_embedding.positional_embedding", &h, out, sizeof out) == 1 &&
              !strcmp(out, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"), "shared_image_embedding");
    CHECK(ms_hf_to_sam("mask_decoder.iou_prediction_head.layers.1.weight", &h, out, sizeof out) == 0, "middle layer past the depth");
    CHECK(ms_sam_to_hf("pixel_mean", &h, out, sizeof out) == 0 && ms_hf_to_sam("vision_encoder.layers.01.x", &h, out, sizeof out) == 0,
          "names without a counterpart");
    CHECK(ms_sam_to_hf("image_encoder.blocks.3.attn.qkv.weight", &h, out, 10) == -1, "short buffer");
    ms_hf_heads deep = {1, 3}; /* an IoU head of depth 5 */
    CHECK(ms_sam_to_hf("mask_decoder.iou_prediction_head.layers.4.bias", &deep, out, sizeof out) == 1 &&
              !strcmp(out, "mask_decoder.iou_prediction_head.proj_out.bias"), "deeper IoU head: last layer");
    CHECK(ms_hf_to_sam("mask_decoder.iou_prediction_head.layers.2.bias", &deep, out, sizeof out) == 1 &&
              !strcmp(out, "mask_decoder.iou_prediction_head.layers.3.bias"), "deeper IoU head: middle layer");
}

/* ViT-H's 32 blocks (two-digit indices): every official name has an HF name, distinct, and maps back. */
static void test_names_vit_h(void) {
    ms_config cfg;
    ms_param_table t;
    medsam_error err;
    CHECK(ms_config_preset("vit_h", &cfg, &err) == MEDSAM_OK && ms_param_table_build(&cfg, &t) == 0, "vit_h table");
    ms_hf_heads h = {0, 0};
    for (int i = 0; i < t.count; i++) ms_hf_heads_observe(&h, t.items[i].name, 0);
    char (*hf)[160] = calloc(t.count > 0 ? (size_t)t.count : 1, sizeof *hf), back[160];
    int bad = 0, hf_only = 0;
    for (int i = 0; i < t.count; i++) {
        if (ms_sam_to_hf(t.items[i].name, &h, hf[i], sizeof hf[i]) != 1 || ms_hf_to_sam(hf[i], &h, back, sizeof back) != 1 ||
            strcmp(back, t.items[i].name))
            bad++, printf("vit_h name %s -> %s -> %s\n", t.items[i].name, hf[i], back);
        hf_only += ms_hf_name_is_hf(hf[i]) || !strncmp(hf[i], "mask_decoder.", 13) || !strncmp(hf[i], "prompt_encoder.", 15);
    }
    for (int i = 0; i < t.count && !bad; i++)
        for (int j = i + 1; j < t.count; j++) bad += !strcmp(hf[i], hf[j]);
    CHECK(bad == 0 && hf_only == t.count, "vit_h: %d of %d names fail the round trip or collide", bad, t.count);
    int found = 0;
    for (int i = 0; i < t.count; i++)
        found += !strcmp(hf[i], "vision_encoder.layers.31.layer_norm2.bias") || !strcmp(hf[i], "vision_encoder.layers.10.attn.rel_pos_w") ||
                 !strcmp(hf[i], "mask_decoder.output_hypernetworks_mlps.3.proj_out.weight");
    CHECK(found == 3, "vit_h: two-digit block names");
    printf("%s vit_h: %d names to the HF layout and back\n", bad || found != 3 ? "FAIL" : "ok  ", t.count);
    free(hf);
    ms_param_table_free(&t);
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (fp) fputs(text, fp), fclose(fp);
}

/* config.json beside HF weights: the decoder's head count, consistency checks. */
static void test_config(const medsam_model *ref, const char *dir) {
    char sub[300], path[400], cfg[400];
    snprintf(sub, sizeof sub, "%s/hf", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/model.safetensors", sub);
    snprintf(cfg, sizeof cfg, "%s/config.json", sub);
    CHECK(write_st(ref, path, HF_NAMES) == 0, "write HF safetensors");
    write_text(cfg, "{\"model_type\": \"sam\", \"vision_config\": {\"hidden_size\": 48, \"num_attention_heads\": 3, \"mlp_dim\": 192},"
                    " \"mask_decoder_config\": {\"num_attention_heads\": 4, \"hidden_size\": 64}}");
    medsam_model *m = NULL;
    medsam_error err;
    CHECK(medsam_model_load(path, &m, &err) == MEDSAM_OK && m->cfg.dec_heads == 4, "config.json sets 4 decoder heads: %s",
          m ? "" : err.message);
    medsam_model_free(m);
    m = NULL; /* the folder itself, as downloaded: its model.safetensors and config.json */
    CHECK(medsam_model_load(sub, &m, &err) == MEDSAM_OK && m->cfg.dec_heads == 4, "load the folder: %s", m ? "" : err.message);
    medsam_model_free(m);
    write_text(cfg, "{\"model_type\": \"sam\", \"vision_config\": {\"num_attention_heads\": 4}}");
    expect_error(path, "config.json contradicting the shapes", "vision_config.num_attention_heads is 4 but the weights have 3");
    write_text(cfg, "{\"model_type\": \"sam_hq\"}");
    expect_error(path, "config.json of another model type", "\"sam_hq\" is not supported");
    write_text(cfg, "{\"mask_decoder_config\": {\"num_attention_heads\": 5}}");
    expect_error(path, "decoder heads that do not divide", "num_attention_heads 5 does not divide");
    write_text(cfg, "{\"model_type\": \"sam\",}");
    expect_error(path, "broken config.json", "config.json: JSON:");
    remove(cfg);
    remove(path);
    expect_error(sub, "a folder without weights", "a folder without model.safetensors or pytorch_model.bin");
    rmdir(sub);
}

static float *load_npy(const char *path, long expect) {
    ms_npy a;
    medsam_error err;
    float *v = NULL;
    if (ms_npy_read(path, &a, &err) == MEDSAM_OK) {
        if (a.count == expect) ms_npy_to_f32(&a, &v, &err);
        ms_npy_free(&a);
    }
    CHECK(v != NULL, "%s: %ld float32 values expected", path, expect);
    return v;
}

/* SlimSAM-shaped HF checkpoint + config.json against the official modules. */
static void test_slim(void) {
    medsam_model *m = NULL;
    medsam_error err;
    CHECK(medsam_model_load(FIX "slim/model.safetensors", &m, &err) == MEDSAM_OK, "load slim: %s", err.message);
    if (!m) return;
    const ms_config *c = &m->cfg;
    CHECK(c->embed_dim == 28 && c->num_heads == 2 && c->head_dim == 14 && c->mlp_dim == 116 && c->dec_heads == 4 &&
              c->patch_size == 8 && c->img_size == 32, "slim config inferred: dim %d heads %d hd %d mlp %d dec heads %d",
          c->embed_dim, c->num_heads, c->head_dim, c->mlp_dim, c->dec_heads);
    const int S = c->img_size, G = c->grid, O = c->out_chans;
    float *chw = malloc(3 * S * S * sizeof *chw), *hwc = malloc(3 * S * S * sizeof *hwc);
    t_hash_input(chw, 3L * S * S, 12345);
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < S * S; i++) hwc[i * 3 + ch] = chw[ch * S * S + i];
    medsam_embedding *e = NULL;
    float *ref_emb = load_npy(FIX "slim/embedding.npy", (long)O * G * G), *ref_logits = load_npy(FIX "slim/logits.npy", 16L * G * G);
    float *ref_iou = load_npy(FIX "slim/iou.npy", 1);
    if (medsam_encode(m, hwc, 2, &e, &err) == MEDSAM_OK && ref_emb && ref_logits && ref_iou) {
        long n;
        t_close("slim (HF layout) embedding vs official", medsam_embedding_data(e, &n), ref_emb, (long)O * G * G, 1e-5, 1e-4, 1e-5);
        float logits[16 * 4 * 4], iou;
        medsam_box box = {4, 5, 25, 20};
        CHECK(medsam_decode_boxes(m, e, S, S, &box, 1, 2, logits, &iou, NULL, &err) == MEDSAM_OK, "slim decode: %s", err.message);
        t_close("slim (HF layout) logits vs official", logits, ref_logits, 16L * G * G, 1e-5, 1e-4, 1e-5);
        t_close("slim (HF layout) IoU vs official", &iou, ref_iou, 1, 1e-5, 1e-4, 1e-5);
    } else {
        CHECK(0, "slim encode: %s", err.message);
    }
    medsam_embedding_free(e);
    free(chw), free(hwc), free(ref_emb), free(ref_logits), free(ref_iou);
    medsam_model_free(m);
}

int main(void) {
    medsam_error err;
    medsam_model *ref = NULL;
    CHECK(medsam_model_load(TINY, &ref, &err) == MEDSAM_OK, "load %s: %s", TINY, err.message);
    if (!ref) return t_summary();
    outputs ro = {0};
    CHECK(run_model(ref, &ro), "reference encode/decode");
    char dir[] = "/tmp/medsam_layouts_XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");

    expect_identical(ref, &ro, TINY, "(a) .pth (torch.save)");
    snprintf(path, sizeof path, "%s/sam.safetensors", dir);
    CHECK(write_st(ref, path, 0) == 0, "write (b)");
    expect_identical(ref, &ro, path, "(b) safetensors, official names");
    expect_identical(ref, &ro, FIX "tiny_hf.safetensors", "(c) safetensors, HF layout (Python-made)");
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    CHECK(write_hf_bin(ref, path) == 0, "write (d)");
    expect_identical(ref, &ro, path, "(d) pytorch_model.bin, HF layout, tied copy");
    snprintf(path, sizeof path, "%s/hf.safetensors", dir);
    CHECK(write_st(ref, path, HF_NAMES) == 0, "write (e)");
    expect_identical(ref, &ro, path, "(e) safetensors, HF layout (C writer)");

    test_names(ref);
    test_names_vit_h();
    test_config(ref, dir);
    test_slim();

    snprintf(path, sizeof path, "%s/shrunk.safetensors", dir);
    write_st(ref, path, HF_NAMES | SHRINK_ONE);
    expect_error(path, "misshapen tensor (HF layout)", "tensor 'vision_encoder.layers.1.mlp.lin1.weight': expected shape (192,48), got (191,48)");
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    write_st(ref, path, DROP_ONE);
    expect_error(path, "missing tensor (safetensors)", "missing tensor 'mask_decoder.iou_token.weight'");
    snprintf(path, sizeof path, "%s/tied.safetensors", dir);
    write_st(ref, path, HF_NAMES | BAD_TIED);
    expect_error(path, "tied copy of another shape", "both stand for 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'");

    free(ro.emb);
    medsam_model_free(ref);
    t_rmtree(dir);
    return t_summary();
}
