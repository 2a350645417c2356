/* init.c — PyTorch's default initialisation of every SAM parameter, walking the
 * parameter table (see init.h), and the checkpoint writer of `medsam init`. */
#include "model/init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "weights/pth.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* fan_in as torch.nn.init._calculate_fan_in_and_fan_out: shape[1] * prod(shape[2:]). */
static int64_t fan_in_of(const ms_param *p) {
    int64_t fan = p->shape[1];
    for (int d = 2; d < p->ndim; d++) fan *= p->shape[d];
    return fan;
}

/* ref: torch/nn/init.py kaiming_uniform_(a=math.sqrt(5)), calculate_gain("leaky_relu", a),
 * in the same double operations as the Python code. */
static double kaiming_bound(int64_t fan_in) {
    const double a = sqrt(5.0);
    const double gain = sqrt(2.0 / (1 + pow(a, 2.0)));
    const double std = gain / sqrt((double)fan_in);
    return sqrt(3.0) * std;
}

/* The nn.Embedding modules of SAM (module path = parameter name minus ".weight"). */
static int is_embedding(const char *module) {
    static const char *const suffixes[] = {"prompt_encoder.not_a_point_embed", "prompt_encoder.no_mask_embed",
                                           "mask_decoder.iou_token", "mask_decoder.mask_tokens"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (strcmp(module, suffixes[i]) == 0) return 1;
    const char *pe = "prompt_encoder.point_embeddings.";
    if (strncmp(module, pe, strlen(pe)) != 0) return 0;
    const char *idx = module + strlen(pe);
    return *idx && strspn(idx, "0123456789") == strlen(idx);
}

int ms_init_kind_of(const ms_param_table *table, int i, ms_init_kind *kind, double *bound) {
    const ms_param *p = &table->items[i];
    const char *name = p->name;
    *bound = 0;
    /* ref: image_encoder.py:ImageEncoderViT.__init__ (pos_embed), Attention.__init__ (rel_pos): torch.zeros */
    if (strcmp(name, "image_encoder.pos_embed") == 0 || ends_with(name, ".rel_pos_h") || ends_with(name, ".rel_pos_w")) {
        *kind = MS_INIT_ZEROS;
        return 0;
    }
    /* ref: prompt_encoder.py:PositionEmbeddingRandom.__init__: scale (1.0) * torch.randn */
    if (ends_with(name, ".positional_encoding_gaussian_matrix")) {
        *kind = MS_INIT_NORMAL;
        return 0;
    }
    char module[sizeof p->name];
    if (ends_with(name, ".weight")) {
        snprintf(module, sizeof module, "%.*s", (int)(strlen(name) - strlen(".weight")), name);
        if (p->ndim == 2 && is_embedding(module)) {
            *kind = MS_INIT_NORMAL; /* nn.Embedding.reset_parameters: init.normal_ */
        } else if (p->ndim >= 2) {
            *kind = MS_INIT_KAIMING; /* _ConvNd / Linear .reset_parameters */
            *bound = kaiming_bound(fan_in_of(p));
        } else {
            *kind = MS_INIT_ONES; /* nn.LayerNorm, LayerNorm2d */
        }
        return 0;
    }
    if (ends_with(name, ".bias")) {
        char wname[sizeof p->name + 8];
        snprintf(wname, sizeof wname, "%.*s.weight", (int)(strlen(name) - strlen(".bias")), name);
        const ms_param *w = ms_param_find(table, wname);
        if (!w) return -1;
        if (w->ndim >= 2) {
            int64_t fan = fan_in_of(w);
            *kind = MS_INIT_BIAS;
            *bound = fan > 0 ? 1 / sqrt((double)fan) : 0;
        } else {
            *kind = MS_INIT_ZEROS;
        }
        return 0;
    }
    return -1;
}

medsam_status ms_init_params(const ms_param_table *table, uint64_t seed, float *params, medsam_error *err) {
    ms_rng rng;
    ms_rng_seed(&rng, seed);
    /* The table is in state_dict order, which is also the order in which the
     * official constructors draw random numbers (parameters without draws, like
     * pos_embed before patch_embed, can sit anywhere). */
    for (int i = 0; i < table->count; i++) {
        const ms_param *p = &table->items[i];
        float *dst = params + p->offset; // (numel) in the tensor's row-major order
        ms_init_kind kind;
        double bound;
        if (ms_init_kind_of(table, i, &kind, &bound) != 0)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "no initialisation rule for parameter '%s'", p->name);
        switch (kind) {
        case MS_INIT_ZEROS:
            for (size_t k = 0; k < p->numel; k++) dst[k] = 0.0f;
            break;
        case MS_INIT_ONES:
            for (size_t k = 0; k < p->numel; k++) dst[k] = 1.0f;
            break;
        case MS_INIT_NORMAL:
            ms_rng_normal(&rng, dst, p->numel, 0.0, 1.0);
            break;
        case MS_INIT_KAIMING:
        case MS_INIT_BIAS:
            ms_rng_uniform(&rng, dst, p->numel, -bound, bound);
            break;
        }
    }
    return MEDSAM_OK;
}

medsam_status ms_init_save(const char *arch, uint64_t seed, const char *path, medsam_error *err) {
    ms_config cfg;
    medsam_status st = ms_config_preset(arch, &cfg, err);
    if (st) return st;
    ms_param_table table;
    if (ms_param_table_build(&cfg, &table) != 0) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    float *params = malloc(table.total * sizeof(float)); // (table.total) all parameters in table order
    pth_writer *w = pth_writer_new();
    if (!params || !w) {
        st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for %zu parameters of %s", table.total, arch);
        goto done;
    }
    if ((st = ms_init_params(&table, seed, params, err))) goto done;
    /* ref: torch.save(sam.state_dict()): an OrderedDict name -> float32 tensor, state_dict order */
    pth_value *sd = pth_writer_ordered_dict(w);
    for (int i = 0; i < table.count; i++) {
        const ms_param *p = &table.items[i];
        pth_writer_set(w, sd, p->name, pth_writer_tensor_f32(w, params + p->offset, p->ndim, p->shape));
    }
    st = pth_writer_save(w, sd, path, err);
done:
    pth_writer_free(w);
    free(params);
    ms_param_table_free(&table);
    return st;
}
