/* hf_names.c — prefix rules between the transformers SamModel names and the
 * official segment-anything names. A rule is a pair of prefixes in which '#'
 * stands for a decimal index copied across; rules are tried in order, the
 * more specific ones first (in both directions), and the rest of the name
 * after the prefix is kept. ref: convert_sam_to_hf.py KEYS_TO_MODIFY_MAPPING. */
#include "weights/hf_names.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *hf, *sam; } RULES[] = {
    /* ref: modeling_sam.py SamVisionEncoder, SamPatchEmbeddings, SamVisionLayer, SamVisionNeck */
    {"vision_encoder.patch_embed.projection.", "image_encoder.patch_embed.proj."},
    {"vision_encoder.pos_embed", "image_encoder.pos_embed"},
    {"vision_encoder.layers.#.layer_norm1.", "image_encoder.blocks.#.norm1."},
    {"vision_encoder.layers.#.layer_norm2.", "image_encoder.blocks.#.norm2."},
    {"vision_encoder.layers.#.", "image_encoder.blocks.#."}, /* attn.qkv, attn.proj, attn.rel_pos_*, mlp.lin* */
    {"vision_encoder.neck.conv1.", "image_encoder.neck.0."},
    {"vision_encoder.neck.layer_norm1.", "image_encoder.neck.1."},
    {"vision_encoder.neck.conv2.", "image_encoder.neck.2."},
    {"vision_encoder.neck.layer_norm2.", "image_encoder.neck.3."},
    /* ref: SamModel.shared_image_embedding (SamPositionalEmbedding), SamPromptEncoder, SamMaskEmbedding */
    {"shared_image_embedding.positional_embedding", "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"},
    {"prompt_encoder.shared_embedding.positional_embedding", "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"},
    {"prompt_encoder.point_embed.#.", "prompt_encoder.point_embeddings.#."},
    {"prompt_encoder.not_a_point_embed.", "prompt_encoder.not_a_point_embed."},
    {"prompt_encoder.no_mask_embed.", "prompt_encoder.no_mask_embed."},
    {"prompt_encoder.mask_embed.conv1.", "prompt_encoder.mask_downscaling.0."},
    {"prompt_encoder.mask_embed.layer_norm1.", "prompt_encoder.mask_downscaling.1."},
    {"prompt_encoder.mask_embed.conv2.", "prompt_encoder.mask_downscaling.3."},
    {"prompt_encoder.mask_embed.layer_norm2.", "prompt_encoder.mask_downscaling.4."},
    {"prompt_encoder.mask_embed.conv3.", "prompt_encoder.mask_downscaling.6."},
    /* ref: SamMaskDecoder, SamTwoWayTransformer, SamTwoWayAttentionBlock */
    {"mask_decoder.transformer.layers.#.layer_norm#.", "mask_decoder.transformer.layers.#.norm#."},
    {"mask_decoder.transformer.layers.#.", "mask_decoder.transformer.layers.#."}, /* *_attn*, mlp.lin* */
    {"mask_decoder.transformer.final_attn_token_to_image.", "mask_decoder.transformer.final_attn_token_to_image."},
    {"mask_decoder.transformer.layer_norm_final_attn.", "mask_decoder.transformer.norm_final_attn."},
    {"mask_decoder.iou_token.", "mask_decoder.iou_token."},
    {"mask_decoder.mask_tokens.", "mask_decoder.mask_tokens."},
    {"mask_decoder.upscale_conv1.", "mask_decoder.output_upscaling.0."},
    {"mask_decoder.upscale_layer_norm.", "mask_decoder.output_upscaling.1."},
    {"mask_decoder.upscale_conv2.", "mask_decoder.output_upscaling.3."},
};

/* The MLP heads (ref: SamFeedForward): same prefix in both layouts. */
static const char *const HEADS[2] = {"mask_decoder.output_hypernetworks_mlps.#.", "mask_decoder.iou_prediction_head."};

#define MAX_CAPS 2

/* Matches pattern `pat` against the start of `name`; '#' takes a decimal
 * index (no leading zeros). Returns the bytes of name consumed, or 0. */
static size_t match(const char *pat, const char *name, long caps[MAX_CAPS], int *ncap) {
    const char *n = name;
    *ncap = 0;
    for (; *pat; pat++) {
        if (*pat != '#') {
            if (*n++ != *pat) return 0;
            continue;
        }
        if (*n < '0' || *n > '9' || (n[0] == '0' && n[1] >= '0' && n[1] <= '9') || *ncap == MAX_CAPS) return 0;
        long v = 0;
        int digits = 0;
        while (*n >= '0' && *n <= '9' && digits < 9) v = v * 10 + (*n++ - '0'), digits++;
        if (*n >= '0' && *n <= '9') return 0;
        caps[(*ncap)++] = v;
    }
    return (size_t)(n - name);
}

/* Writes pattern `pat` with its '#' replaced by caps, then `rest`. */
static int emit(const char *pat, const long *caps, const char *rest, char *out, size_t cap) {
    size_t w = 0;
    int k = 0;
    for (; *pat; pat++) {
        int n = *pat == '#' ? snprintf(out + w, cap - w, "%ld", caps[k++]) : snprintf(out + w, cap - w, "%c", *pat);
        if (n < 0 || (size_t)n >= cap - w) return -1;
        w += (size_t)n;
    }
    int n = snprintf(out + w, cap - w, "%s", rest);
    return n < 0 || (size_t)n >= cap - w ? -1 : 1;
}

int ms_hf_name_is_hf(const char *name) {
    static const char *const only_hf[] = {"vision_encoder.", "shared_image_embedding.", "prompt_encoder.mask_embed.",
                                          "mask_decoder.upscale_"};
    for (size_t i = 0; i < sizeof only_hf / sizeof only_hf[0]; i++)
        if (strncmp(name, only_hf[i], strlen(only_hf[i])) == 0) return 1;
    return 0;
}

/* For a head name: which head (0 hyper, 1 iou), the prefix length and captures; -1 if none. */
static int head_of(const char *name, size_t *plen, long caps[MAX_CAPS], int *ncap) {
    for (int h = 0; h < 2; h++)
        if ((*plen = match(HEADS[h], name, caps, ncap)) > 0) return h;
    return -1;
}

void ms_hf_heads_observe(ms_hf_heads *h, const char *name, int hf) {
    size_t plen;
    long caps[MAX_CAPS], k[MAX_CAPS];
    int ncap, nk, which = head_of(name, &plen, caps, &ncap);
    if (which < 0 || !match("layers.#.", name + plen, k, &nk)) return;
    int mid = hf ? (int)k[0] + 1 : (int)k[0] - 1;
    int *slot = which == 0 ? &h->hyper_mid : &h->iou_mid;
    if (mid > *slot) *slot = mid;
}

/* A head's layer, renamed in either direction. */
static int rename_head(const char *name, const ms_hf_heads *h, int to_sam, char *out, size_t cap) {
    size_t plen;
    long caps[MAX_CAPS], k[MAX_CAPS];
    int ncap, nk, which = head_of(name, &plen, caps, &ncap);
    if (which < 0) return 0;
    const int mid = which == 0 ? h->hyper_mid : h->iou_mid;
    const char *r = name + plen, *rest;
    char layer[32];
    size_t n;
    if (to_sam) {
        if ((n = match("proj_in.", r, k, &nk))) snprintf(layer, sizeof layer, "layers.0.");
        else if ((n = match("proj_out.", r, k, &nk))) snprintf(layer, sizeof layer, "layers.%d.", mid + 1);
        else if ((n = match("layers.#.", r, k, &nk)) && k[0] < mid) snprintf(layer, sizeof layer, "layers.%ld.", k[0] + 1);
        else return 0;
    } else {
        if (!(n = match("layers.#.", r, k, &nk)) || k[0] > mid + 1) return 0;
        if (k[0] == 0) snprintf(layer, sizeof layer, "proj_in.");
        else if (k[0] == mid + 1) snprintf(layer, sizeof layer, "proj_out.");
        else snprintf(layer, sizeof layer, "layers.%ld.", k[0] - 1);
    }
    rest = r + n;
    char pre[128];
    if (emit(HEADS[which], caps, "", pre, sizeof pre) < 0) return -1;
    int w = snprintf(out, cap, "%s%s%s", pre, layer, rest);
    return w < 0 || (size_t)w >= cap ? -1 : 1;
}

static int rename_by_rules(const char *name, const ms_hf_heads *h, int to_sam, char *out, size_t cap) {
    int r = rename_head(name, h, to_sam, out, cap);
    if (r) return r;
    long caps[MAX_CAPS];
    int ncap;
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        const char *from = to_sam ? RULES[i].hf : RULES[i].sam, *to = to_sam ? RULES[i].sam : RULES[i].hf;
        size_t n = match(from, name, caps, &ncap);
        if (n) return emit(to, caps, name + n, out, cap);
    }
    return 0;
}

int ms_hf_to_sam(const char *hf, const ms_hf_heads *h, char *out, size_t cap) { return rename_by_rules(hf, h, 1, out, cap); }
int ms_sam_to_hf(const char *sam, const ms_hf_heads *h, char *out, size_t cap) { return rename_by_rules(sam, h, 0, out, cap); }
