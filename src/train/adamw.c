/* adamw.c — see adamw.h. */
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

ms_adamw_hparams ms_adamw_defaults(double lr, double weight_decay) {
    ms_adamw_hparams hp = {lr, 0.9, 0.999, 1e-8, weight_decay};
    return hp;
}

ms_adamw *ms_adamw_new(const ms_adamw_hparams *hp, const ms_adamw_segment *segments, int nseg, size_t total,
                       medsam_error *err) {
    for (int i = 0; i < nseg; i++)
        if (segments[i].offset + segments[i].numel > total) {
            ms_error(err, MEDSAM_ERR_ARG, "adamw: segment %d lies outside the parameter buffer", i);
            return NULL;
        }
    ms_adamw *o = calloc(1, sizeof *o);
    if (o) {
        o->seg = malloc((size_t)(nseg > 0 ? nseg : 1) * sizeof *o->seg);
        o->exp_avg = calloc(total ? total : 1, sizeof(float));
        o->exp_avg_sq = calloc(total ? total : 1, sizeof(float));
    }
    if (!o || !o->seg || !o->exp_avg || !o->exp_avg_sq) {
        ms_adamw_free(o);
        ms_error(err, MEDSAM_ERR_NOMEM, "adamw: out of memory for %zu optimizer values", 2 * total);
        return NULL;
    }
    o->hp = *hp;
    o->nseg = nseg;
    o->total = total;
    for (int i = 0; i < nseg; i++) {
        o->seg[i] = segments[i];
        o->seg[i].has_state = 0;
        o->seg[i].step = 0.0f;
    }
    return o;
}

void ms_adamw_free(ms_adamw *o) {
    if (!o) return;
    free(o->seg);
    free(o->exp_avg);
    free(o->exp_avg_sq);
    free(o);
}

/* ref: torch/optim/adamw.py:_single_tensor_adamw (1.13) for one tensor */
static void adamw_segment(const ms_adamw_hparams *hp, ms_adamw_segment *s, float *p, float *m, float *v, const float *g,
                          int nthreads) {
    s->step += 1.0f;
    s->has_state = 1;
    const double step = s->step;
    const float decay = (float)(1.0 - hp->lr * hp->weight_decay);
    const float b1 = (float)hp->beta1, one_m_b1 = (float)(1.0 - hp->beta1);
    const float b2 = (float)hp->beta2, one_m_b2 = (float)(1.0 - hp->beta2);
    const double bc1 = 1.0 - pow(hp->beta1, step);
    const double bc2 = 1.0 - pow(hp->beta2, step);
    const float neg_step_size = (float)(-(hp->lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)hp->eps;
    const long n = (long)s->numel;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (n > 65536 && nthreads > 1)
    for (long i = 0; i < n; i++) {
        float pi = p[i] * decay;                         // param.mul_(1 - lr * weight_decay)
        float gi = g[i];
        float mi = fmaf(gi, one_m_b1, m[i] * b1);        // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        float vi = fmaf(one_m_b2 * gi, gi, v[i] * b2);      // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        float denom = sqrtf(vi) / bc2_sqrt + eps;        // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        p[i] = pi + neg_step_size * mi / denom;          // param.addcdiv_(exp_avg, denom, value=-step_size)
        m[i] = mi;
        v[i] = vi;
    }
}

void ms_adamw_step(ms_adamw *o, float *params, const float *grads, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    for (int i = 0; i < o->nseg; i++) {
        ms_adamw_segment *s = &o->seg[i];
        if (!s->has_grad) continue;
        adamw_segment(&o->hp, s, params + s->offset, o->exp_avg + s->offset, o->exp_avg_sq + s->offset,
                      grads + s->offset, nthreads);
    }
}
