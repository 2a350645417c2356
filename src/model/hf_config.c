/* hf_config.c — config.json of a transformers SamModel checkpoint.
 * ref: transformers models/sam/configuration_sam.py (SamVisionConfig,
 * SamMaskDecoderConfig, SamConfig). */
#include "model/hf_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "weights/json_min.h"

#define HF_CONFIG_MAX_BYTES (1 << 20)

/* An integer member of `obj`: returns 1 and sets *v when present. */
static int get_int(const json_doc *d, int obj, const char *key, int64_t *v) {
    int n = json_get(d, obj, key);
    return n >= 0 && json_as_i64(d, n, v);
}

/* A config value that the tensor shapes already fixed must agree with them (absent: fine). */
static medsam_status check(const json_doc *d, int obj, const char *sect, const char *key, int have, medsam_error *err) {
    int64_t v;
    if (obj < 0 || !get_int(d, obj, key, &v) || v == have) return MEDSAM_OK;
    return ms_error(err, MEDSAM_ERR_SHAPE, "%s.%s is %lld but the weights have %d", sect, key, (long long)v, have);
}

static medsam_status apply(const json_doc *d, ms_config *c, medsam_error *err) {
    int root = json_root(d);
    if (json_node_type(d, root) != JSON_OBJECT) return ms_error(err, MEDSAM_ERR_FORMAT, "not a JSON object");
    const char *type = json_str(d, json_get(d, root, "model_type"), NULL);
    if (type && strcmp(type, "sam") != 0)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "model_type \"%.40s\" is not supported (only \"sam\")", type);
    int vis = json_get(d, root, "vision_config"), dec = json_get(d, root, "mask_decoder_config");
    if (vis >= 0 && json_node_type(d, vis) != JSON_OBJECT) vis = -1;
    if (dec >= 0 && json_node_type(d, dec) != JSON_OBJECT) dec = -1;
    medsam_status st;
    if ((st = check(d, vis, "vision_config", "hidden_size", c->embed_dim, err)) ||
        (st = check(d, vis, "vision_config", "num_attention_heads", c->num_heads, err)) ||
        (st = check(d, vis, "vision_config", "mlp_dim", c->mlp_dim, err)) ||
        (st = check(d, vis, "vision_config", "num_hidden_layers", c->depth, err)) ||
        (st = check(d, vis, "vision_config", "output_channels", c->out_chans, err)) ||
        (st = check(d, dec, "mask_decoder_config", "hidden_size", c->prompt_dim, err)) ||
        (st = check(d, dec, "mask_decoder_config", "num_hidden_layers", c->dec_depth, err)) ||
        (st = check(d, dec, "mask_decoder_config", "mlp_dim", c->dec_mlp_dim, err)))
        return st;
    int64_t h;
    if (dec >= 0 && get_int(d, dec, "num_attention_heads", &h)) {
        /* ref: SamTwoWayTransformerAttention: internal_dim % num_attention_heads == 0 */
        const int I = c->prompt_dim / c->dec_attn_down;
        if (h < 1 || h > c->prompt_dim || c->prompt_dim % h || I % h)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "mask_decoder_config.num_attention_heads %lld does not divide %d and %d",
                            (long long)h, c->prompt_dim, I);
        c->dec_heads = (int)h;
    }
    return MEDSAM_OK;
}

medsam_status ms_hf_config_apply(const char *weights_path, ms_config *cfg, medsam_error *err) {
    char path[4096];
    const char *slash = strrchr(weights_path, '/');
    int dir = slash ? (int)(slash - weights_path) + 1 : 0;
    if (snprintf(path, sizeof path, "%.*sconfig.json", dir, weights_path) >= (int)sizeof path) return MEDSAM_OK;
    FILE *fp = fopen(path, "rb");
    if (!fp) return errno == ENOENT ? MEDSAM_OK : ms_error(err, MEDSAM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *text = malloc(HF_CONFIG_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, HF_CONFIG_MAX_BYTES + 1, fp) : 0;
    int bad = ferror(fp);
    fclose(fp);
    medsam_status st = MEDSAM_OK;
    if (!text) st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    else if (bad) st = ms_error(err, MEDSAM_ERR_IO, "read error");
    else if (n > HF_CONFIG_MAX_BYTES) st = ms_error(err, MEDSAM_ERR_FORMAT, "larger than %d bytes", HF_CONFIG_MAX_BYTES);
    json_doc *d = NULL;
    if (!st) st = json_parse(text, n, NULL, &d, err);
    if (!st) st = apply(d, cfg, err);
    json_free(d);
    free(text);
    if (st) ms_error_prefix(err, path);
    return st;
}
