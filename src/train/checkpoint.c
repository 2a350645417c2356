/* checkpoint.c — see checkpoint.h. */
#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "weights/pth.h"

void ms_train_progress_free(ms_train_progress *p) {
    if (!p) return;
    free(p->order);
    p->order = NULL;
    p->norder = 0;
}

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int ms_ckpt_optimizer_params(const ms_param_table *t, int *idx) {
    // ref: train_one_gpu.py:main — list(image_encoder.parameters()) + list(mask_decoder.parameters())
    int n = 0;
    for (int i = 0; i < t->count; i++)
        if (has_prefix(t->items[i].name, "image_encoder.")) idx[n++] = i;
    for (int i = 0; i < t->count; i++)
        if (has_prefix(t->items[i].name, "mask_decoder.")) idx[n++] = i;
    return n;
}

medsam_status ms_ckpt_save(const char *path, const ms_param_table *t, const float *params, const ms_adamw *opt,
                           const int *opt_param, const ms_train_progress *prog, medsam_error *err) {
    pth_writer *w = pth_writer_new();
    if (!w) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
    int64_t rng_state[PYRANDOM_N + 1];
    int64_t *order = NULL;
    pth_value *root = pth_writer_dict(w);
    pth_value *model = pth_writer_ordered_dict(w);
    for (int i = 0; i < t->count; i++) {
        const ms_param *p = &t->items[i];
        pth_writer_set(w, model, p->name, pth_writer_tensor_f32(w, params + p->offset, p->ndim, p->shape));
    }
    pth_writer_set(w, root, "model", model);
    if (opt) {
        // ref: torch/optim/optimizer.py:Optimizer.state_dict (1.13) with AdamW's defaults
        pth_value *osd = pth_writer_dict(w), *state = pth_writer_dict(w), *groups = pth_writer_list(w);
        pth_value *g = pth_writer_dict(w), *plist = pth_writer_list(w);
        for (int i = 0; i < opt->nseg; i++) {
            pth_writer_append(w, plist, pth_writer_int(w, i));
            const ms_adamw_segment *s = &opt->seg[i];
            if (!s->has_state) continue;
            const ms_param *p = &t->items[opt_param[i]];
            pth_value *st = pth_writer_dict(w);
            pth_writer_set(w, st, "step", pth_writer_tensor_f32(w, &s->step, 0, NULL));
            pth_writer_set(w, st, "exp_avg", pth_writer_tensor_f32(w, opt->exp_avg + s->offset, p->ndim, p->shape));
            pth_writer_set(w, st, "exp_avg_sq",
                           pth_writer_tensor_f32(w, opt->exp_avg_sq + s->offset, p->ndim, p->shape));
            pth_writer_set_value(w, state, pth_writer_int(w, i), st);
        }
        pth_value *betas[2] = {pth_writer_float(w, opt->hp.beta1), pth_writer_float(w, opt->hp.beta2)};
        pth_writer_set(w, g, "lr", pth_writer_float(w, opt->hp.lr));
        pth_writer_set(w, g, "betas", pth_writer_tuple(w, betas, 2));
        pth_writer_set(w, g, "eps", pth_writer_float(w, opt->hp.eps));
        pth_writer_set(w, g, "weight_decay", pth_writer_float(w, opt->hp.weight_decay));
        pth_writer_set(w, g, "amsgrad", pth_writer_bool(w, 0));
        pth_writer_set(w, g, "foreach", pth_writer_none(w));
        pth_writer_set(w, g, "maximize", pth_writer_bool(w, 0));
        pth_writer_set(w, g, "capturable", pth_writer_bool(w, 0));
        pth_writer_set(w, g, "params", plist);
        pth_writer_append(w, groups, g);
        pth_writer_set(w, osd, "state", state);
        pth_writer_set(w, osd, "param_groups", groups);
        pth_writer_set(w, root, "optimizer", osd);
    }
    pth_writer_set(w, root, "epoch", pth_writer_int(w, prog ? prog->epoch : -1));
    if (prog) {
        pth_value *ts = pth_writer_dict(w);
        pyrandom_get_state(&prog->rng, rng_state);
        int64_t nrng = PYRANDOM_N + 1, nord = prog->norder;
        order = malloc((size_t)(nord > 0 ? nord : 1) * sizeof *order);
        if (!order) { pth_writer_free(w); return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path); }
        for (int i = 0; i < prog->norder; i++) order[i] = prog->order[i];
        pth_writer_set(w, ts, "format", pth_writer_int(w, 1));
        pth_writer_set(w, ts, "step_in_epoch", pth_writer_int(w, prog->step_in_epoch));
        pth_writer_set(w, ts, "global_step", pth_writer_int(w, prog->global_step));
        pth_writer_set(w, ts, "best_val", pth_writer_float(w, prog->best_val));
        pth_writer_set(w, ts, "epoch_loss_sum", pth_writer_float(w, prog->epoch_loss_sum));
        pth_writer_set(w, ts, "seed", pth_writer_int(w, prog->seed));
        pth_writer_set(w, ts, "batch", pth_writer_int(w, prog->batch));
        pth_writer_set(w, ts, "rng", pth_writer_tensor(w, PTH_I64, rng_state, 1, &nrng));
        pth_writer_set(w, ts, "order", pth_writer_tensor(w, PTH_I64, order, 1, &nord));
        pth_writer_set(w, root, "medsam_train", ts);
    }
    medsam_status st = pth_writer_save(w, root, path, err);
    pth_writer_free(w);
    free(order);
    return st;
}

static medsam_status check_shape(const char *path, const char *what, const pth_tensor *x, const ms_param *p,
                                 medsam_error *err) {
    int same = x->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = x->shape[d] == p->shape[d];
    if (same) return MEDSAM_OK;
    char got[128], want[128] = "(";
    pth_shape_str(x, got, sizeof got);
    for (int d = 0; d < p->ndim; d++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "", (long long)p->shape[d]);
    strncat(want, ")", sizeof want - strlen(want) - 1);
    return ms_error(err, MEDSAM_ERR_SHAPE, "%s: %s %s: expected shape %s, got %s (a checkpoint of another architecture?)",
                    path, what, p->name, want, got);
}

static medsam_status load_optimizer(const char *path, pth_file *f, const ms_param_table *t, ms_adamw *opt,
                                    const int *opt_param, medsam_error *err) {
    const pth_value *osd = pth_dict_get(pth_root(f), "optimizer");
    const pth_value *groups = pth_dict_get(osd, "param_groups"), *state = pth_dict_get(osd, "state");
    const pth_value *g = pth_value_item(groups, 0), *plist = pth_dict_get(g, "params");
    if (!osd || pth_value_type(state) != PTH_VAL_DICT || pth_value_len(groups) != 1 ||
        pth_value_type(plist) != PTH_VAL_LIST)
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: no AdamW optimizer state (not a training checkpoint)", path);
    if ((int)pth_value_len(plist) != opt->nseg)
        return ms_error(err, MEDSAM_ERR_SHAPE, "%s: optimizer holds %zu parameters, this model trains %d", path,
                        pth_value_len(plist), opt->nseg);
    ms_adamw_hparams hp;
    const pth_value *betas = pth_dict_get(g, "betas");
    if (!pth_value_as_float(pth_dict_get(g, "lr"), &hp.lr) || !pth_value_as_float(pth_dict_get(g, "eps"), &hp.eps) ||
        !pth_value_as_float(pth_dict_get(g, "weight_decay"), &hp.weight_decay) || pth_value_len(betas) != 2 ||
        !pth_value_as_float(pth_value_item(betas, 0), &hp.beta1) ||
        !pth_value_as_float(pth_value_item(betas, 1), &hp.beta2))
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: optimizer param_groups lack lr/betas/eps/weight_decay", path);
    opt->hp = hp;
    for (int i = 0; i < opt->nseg; i++) opt->seg[i].has_state = 0, opt->seg[i].step = 0.0f;
    memset(opt->exp_avg, 0, opt->total * sizeof(float));
    memset(opt->exp_avg_sq, 0, opt->total * sizeof(float));
    for (size_t k = 0; k < pth_value_len(state); k++) {
        int64_t i;
        const pth_value *st = pth_dict_value(state, k);
        if (!pth_value_as_int(pth_dict_key(state, k), &i) || i < 0 || i >= opt->nseg)
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: optimizer state key out of range", path);
        const ms_param *p = &t->items[opt_param[i]];
        const pth_tensor *step = pth_value_tensor(pth_dict_get(st, "step"));
        const pth_tensor *m = pth_value_tensor(pth_dict_get(st, "exp_avg"));
        const pth_tensor *v = pth_value_tensor(pth_dict_get(st, "exp_avg_sq"));
        if (!step || step->numel != 1 || !m || !v)
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: optimizer state %lld lacks step/exp_avg/exp_avg_sq", path,
                            (long long)i);
        medsam_status s;
        if ((s = check_shape(path, "optimizer state of", m, p, err)) || (s = check_shape(path, "optimizer state of", v, p, err)))
            return s;
        ms_adamw_segment *seg = &opt->seg[i];
        if ((s = pth_read_f32(f, step, &seg->step, err)) || (s = pth_read_f32(f, m, opt->exp_avg + seg->offset, err)) ||
            (s = pth_read_f32(f, v, opt->exp_avg_sq + seg->offset, err)))
            return s;
        seg->has_state = 1;
    }
    return MEDSAM_OK;
}

static medsam_status load_progress(const char *path, pth_file *f, ms_train_progress *prog, medsam_error *err) {
    memset(prog, 0, sizeof *prog);
    prog->epoch = -1;
    prog->best_val = 1e10;
    const pth_value *root = pth_root(f), *ts = pth_dict_get(root, "medsam_train");
    if (pth_dict_get(root, "epoch") && !pth_value_as_int(pth_dict_get(root, "epoch"), &prog->epoch))
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: \"epoch\" is not an int", path);
    if (!ts) return MEDSAM_OK;
    const pth_tensor *rng = pth_value_tensor(pth_dict_get(ts, "rng"));
    const pth_tensor *order = pth_value_tensor(pth_dict_get(ts, "order"));
    int64_t fmt = 0;
    if (!pth_value_as_int(pth_dict_get(ts, "format"), &fmt) || fmt != 1 ||
        !pth_value_as_int(pth_dict_get(ts, "step_in_epoch"), &prog->step_in_epoch) ||
        !pth_value_as_int(pth_dict_get(ts, "global_step"), &prog->global_step) ||
        !pth_value_as_int(pth_dict_get(ts, "seed"), &prog->seed) ||
        !pth_value_as_int(pth_dict_get(ts, "batch"), &prog->batch) ||
        !pth_value_as_float(pth_dict_get(ts, "best_val"), &prog->best_val) ||
        !pth_value_as_float(pth_dict_get(ts, "epoch_loss_sum"), &prog->epoch_loss_sum) || !rng ||
        rng->numel != PYRANDOM_N + 1 || !order || order->numel > (1 << 30))
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: malformed \"medsam_train\" entry", path);
    int64_t st[PYRANDOM_N + 1];
    medsam_status s = pth_read_i64(f, rng, st, err);
    if (s) return s;
    if (pyrandom_set_state(&prog->rng, st) != 0)
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: invalid random generator state", path);
    int64_t *o = malloc((size_t)(order->numel ? order->numel : 1) * sizeof *o);
    prog->order = malloc((size_t)(order->numel ? order->numel : 1) * sizeof *prog->order);
    if (!o || !prog->order) { free(o); return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path); }
    if ((s = pth_read_i64(f, order, o, err))) { free(o); return s; }
    prog->norder = (int)order->numel;
    for (int i = 0; i < prog->norder; i++) prog->order[i] = (int)o[i];
    free(o);
    prog->has_train_state = 1;
    return MEDSAM_OK;
}

medsam_status ms_ckpt_load(const char *path, const ms_param_table *t, float *params, ms_adamw *opt,
                           const int *opt_param, ms_train_progress *prog, medsam_error *err) {
    pth_file *f;
    medsam_status s = pth_open(path, &f, err);
    if (s) return s;
    for (int i = 0; i < t->count && !s; i++) {
        const ms_param *p = &t->items[i];
        const pth_tensor *x = pth_find(f, p->name);
        if (!x)
            s = ms_error(err, MEDSAM_ERR_SHAPE, "%s: tensor %s missing (not a checkpoint of this architecture)", path,
                         p->name);
        else if (!(s = check_shape(path, "tensor", x, p, err)))
            s = pth_read_f32(f, x, params + p->offset, err);
    }
    if (!s && opt) s = load_optimizer(path, f, t, opt, opt_param, err);
    if (!s && prog) {
        s = load_progress(path, f, prog, err);
        if (s) ms_train_progress_free(prog);
    }
    pth_close(f);
    return s;
}
