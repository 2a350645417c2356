/* trainer.c — see trainer.h. */
#include "train/trainer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

typedef struct {
    const ms_train_options *o;
    const ms_param_table *t;
    const ms_dataset *ds;
    const ms_train_hooks *h;
    float *params;          // (t->total)
    float *grads;           // (t->total)
    ms_adamw *opt;
    int *opt_param;         // (opt->nseg) table index of each optimizer parameter
    int *train_idx, ntrain; // dataset indices of the training split
    int *val_idx, nval;
    ms_train_progress prog;
    int rank, world;        /* data parallel (trainer.h); 0, 1 for a single process */
    int stop_agreed;        /* world > 1: the stop flag ORed over processes at the last step */
    char *log;              /* log.csv text */
    size_t log_len, log_cap;
    char latest[4096], best[4096], log_path[4096];
} trainer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int log_add(trainer *T, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int log_add(trainer *T, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof line) return -1;
    if (T->log_len + (size_t)n + 1 > T->log_cap) {
        size_t cap = T->log_cap ? 2 * T->log_cap : 65536;
        while (cap < T->log_len + (size_t)n + 1) cap *= 2;
        char *nl = realloc(T->log, cap);
        if (!nl) return -1;
        T->log = nl, T->log_cap = cap;
    }
    memcpy(T->log + T->log_len, line, (size_t)n + 1);
    T->log_len += (size_t)n;
    return 0;
}

static medsam_status log_write(trainer *T, medsam_error *err) {
    if (T->rank != 0) return MEDSAM_OK; /* only rank 0 writes */
    ms_atomic_file af;
    medsam_status s = ms_atomic_open(&af, T->log_path, err);
    if (s) return s;
    if (fwrite(T->log, 1, T->log_len, af.fp) != T->log_len) {
        ms_atomic_abort(&af);
        return ms_error(err, MEDSAM_ERR_IO, "%s: write failed", T->log_path);
    }
    return ms_atomic_commit(&af, err);
}

#define LOG_HEADER "kind,epoch,step,global_step,loss,dice,bce,val_dsc\n"

/* On resume: keep the lines of log.csv up to the checkpoint's global step. */
static void log_reload(trainer *T) {
    FILE *f = fopen(T->log_path, "r");
    log_add(T, LOG_HEADER);
    if (!f) return;
    char line[512];
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (first) { first = 0; continue; }
        /* kind,epoch,step,global_step,... (step empty on epoch and val lines) */
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL, *c3 = c2 ? strchr(c2 + 1, ',') : NULL;
        if (!c3) continue;
        long long ep = strtoll(c1 + 1, NULL, 10), gs = strtoll(c3 + 1, NULL, 10);
        int keep = strncmp(line, "step,", 5) == 0 ? gs <= T->prog.global_step : ep <= T->prog.epoch;
        if (keep) log_add(T, "%s", line);
    }
    fclose(f);
}

static medsam_status save(trainer *T, const char *path, medsam_error *err) {
    if (T->rank != 0) return MEDSAM_OK; /* only rank 0 writes */
    return ms_ckpt_save(path, T->t, T->params, T->opt, T->opt_param, &T->prog, err);
}

static medsam_status validate(trainer *T, int64_t epoch, double *val_loss, medsam_error *err) {
    const int S = T->ds->size;
    const size_t plane = (size_t)S * S;
    float *img = malloc(3 * plane * sizeof *img), *gt = malloc(plane * sizeof *gt);
    if (!img || !gt) { free(img); free(gt); return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"); }
    pyrandom vr;
    pyrandom_seed(&vr, T->o->seed + 1);
    double sum[3] = {0, 0, 0}, dsc_sum = 0;
    medsam_status s = MEDSAM_OK;
    for (int i = 0; i < T->nval && !s; i++) {
        float box[4];
        double l[3], dsc;
        s = ms_dataset_load(T->ds, T->val_idx[i], 0, &vr, img, gt, box, err);
        if (!s) s = T->h->evaluate(T->h->ctx, T->params, img, box, gt, l, &dsc, err);
        for (int k = 0; k < 3 && !s; k++) sum[k] += l[k];
        dsc_sum += dsc;
    }
    free(img);
    free(gt);
    if (s) return s;
    ms_train_report r = {1, epoch, T->o->epochs, 0, 0, T->prog.global_step, 0, {0, 0, 0}, 0, 0, 0};
    for (int k = 0; k < 3; k++) r.loss[k] = sum[k] / T->nval;
    r.val_dsc = dsc_sum / T->nval;
    *val_loss = r.loss[0];
    if (T->h->progress) T->h->progress(T->h->progress_ctx, &r);
    if (log_add(T, "val,%lld,,%lld,%.9g,%.9g,%.9g,%.9g\n", (long long)epoch, (long long)T->prog.global_step, r.loss[0],
                r.loss[1], r.loss[2], r.val_dsc))
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    return MEDSAM_OK;
}

static medsam_status setup(trainer *T, medsam_error *err) {
    const ms_train_options *o = T->o;
    const ms_param_table *t = T->t;
    if (T->rank == 0 && mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        return ms_error(err, MEDSAM_ERR_IO, "%s: cannot create the run folder: %s", o->out_dir, strerror(errno));
    snprintf(T->latest, sizeof T->latest, "%s/latest.pth", o->out_dir);
    snprintf(T->best, sizeof T->best, "%s/best.pth", o->out_dir);
    snprintf(T->log_path, sizeof T->log_path, "%s/log.csv", o->out_dir);
    int n = T->ds->count;
    T->opt_param = malloc((size_t)t->count * sizeof *T->opt_param);
    T->train_idx = malloc((size_t)n * sizeof *T->train_idx);
    T->val_idx = malloc((size_t)n * sizeof *T->val_idx);
    T->grads = calloc(t->total ? t->total : 1, sizeof *T->grads);
    ms_adamw_segment *seg = malloc((size_t)t->count * sizeof *seg);
    if (!T->opt_param || !T->train_idx || !T->val_idx || !T->grads || !seg) {
        free(seg);
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for %zu gradient values", t->total);
    }
    int nseg = ms_ckpt_optimizer_params(t, T->opt_param);
    for (int i = 0; i < nseg; i++) {
        const ms_param *p = &t->items[T->opt_param[i]];
        seg[i].offset = p->offset;
        seg[i].numel = p->numel;
        seg[i].has_grad = T->h->gets_grad ? T->h->gets_grad(p) : 1;
    }
    ms_adamw_hparams hp = ms_adamw_defaults(o->lr, o->weight_decay);
    T->opt = ms_adamw_new(&hp, seg, nseg, t->total, err);
    free(seg);
    if (!T->opt) return err->code;
    ms_dataset_split(n, o->val_fraction, o->seed, T->train_idx, &T->ntrain, T->val_idx, &T->nval);
    T->prog.epoch = -1;
    T->prog.best_val = 1e10;
    T->prog.seed = o->seed;
    const int64_t G = (int64_t)o->batch * T->world; /* steps are counted in global batches */
    T->prog.batch = G;
    pyrandom_seed(&T->prog.rng, o->seed);
    if (o->resume) {
        medsam_status s = ms_ckpt_load(o->resume, t, T->params, T->opt, T->opt_param, &T->prog, err);
        if (s) return s;
        if (!T->prog.has_train_state) { /* an official checkpoint: next epoch, fresh generator */
            T->prog.seed = o->seed;
            pyrandom_seed(&T->prog.rng, o->seed + T->prog.epoch + 1);
        } else if (T->prog.step_in_epoch > 0 && T->prog.batch != G) {
            if (T->world > 1)
                return ms_error(err, MEDSAM_ERR_ARG, "%s: saved mid-epoch with a global batch of %lld, resumed with "
                                "--batch %d x %d processes", o->resume, (long long)T->prog.batch, o->batch, T->world);
            return ms_error(err, MEDSAM_ERR_ARG, "%s: saved mid-epoch with --batch %lld, resumed with --batch %d",
                            o->resume, (long long)T->prog.batch, o->batch);
        } else if (T->prog.step_in_epoch > 0 && T->prog.norder != T->ntrain) {
            return ms_error(err, MEDSAM_ERR_ARG,
                            "%s: saved mid-epoch over %d training samples, the data now gives %d (same --data, "
                            "--val-fraction and --seed needed)", o->resume, T->prog.norder, T->ntrain);
        }
        if (T->prog.seed != o->seed)
            return ms_error(err, MEDSAM_ERR_ARG, "%s: saved with --seed %lld, resumed with --seed %lld", o->resume,
                            (long long)T->prog.seed, (long long)o->seed);
        T->prog.batch = G;
        if (o->lr_on_resume) T->opt->hp.lr = o->lr; /* the next stage of a step schedule (--lr given) */
        log_reload(T);
    } else {
        log_add(T, LOG_HEADER);
    }
    if (!T->prog.order || T->prog.norder != T->ntrain) {
        free(T->prog.order);
        T->prog.order = malloc((size_t)(T->ntrain ? T->ntrain : 1) * sizeof *T->prog.order);
        T->prog.norder = T->ntrain;
        if (!T->prog.order) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        if (T->prog.step_in_epoch == 0) memcpy(T->prog.order, T->train_idx, (size_t)T->ntrain * sizeof(int));
    }
    return MEDSAM_OK;
}

static medsam_status train_epochs(trainer *T, medsam_error *err) {
    const ms_train_options *o = T->o;
    const int S = T->ds->size, B = o->batch, G = B * T->world; /* G: the global batch */
    const size_t plane = (size_t)S * S;
    float *images = malloc((size_t)B * 3 * plane * sizeof(float)); // (B, 3, S, S)
    float *gts = malloc((size_t)B * plane * sizeof(float));         // (B, S, S)
    float *boxes = malloc((size_t)B * 4 * sizeof(float));           // (B, 4)
    if (!images || !gts || !boxes) {
        free(images), free(gts), free(boxes);
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for a batch of %d images of %dx%d", B, S, S);
    }
    const int64_t steps_per_epoch = (T->ntrain + G - 1) / G;
    const int64_t total_steps = steps_per_epoch * o->epochs;
    const int64_t first_step = T->prog.global_step;
    const double t0 = now_s();
    medsam_status s = MEDSAM_OK;
    for (int64_t epoch = T->prog.epoch + 1; epoch < o->epochs && !s; epoch++) {
        if (T->prog.step_in_epoch == 0) {
            // ref: train_one_gpu.py:main — DataLoader(shuffle=True), here random.shuffle
            memcpy(T->prog.order, T->train_idx, (size_t)T->ntrain * sizeof(int));
            pyrandom_shuffle(&T->prog.rng, T->prog.order, (size_t)T->ntrain);
        }
        if (T->prog.step_in_epoch == 0) T->prog.epoch_loss_sum = 0;
        for (int64_t step = T->prog.step_in_epoch; step < steps_per_epoch && !s; step++) {
            int b0 = (int)(step * G), nb = T->ntrain - b0 < G ? T->ntrain - b0 : G;
            /* this process's part of the global batch: [lo, hi) (all of it for a single process) */
            int lo = (int)((int64_t)T->rank * nb / T->world), hi = (int)((int64_t)(T->rank + 1) * nb / T->world);
            for (int b = 0; b < nb && !s; b++) {
                float other_box[4];
                if (b < lo || b >= hi) /* another process's sample: the same generator draws, no image */
                    s = ms_dataset_draw(T->ds, T->prog.order[b0 + b], o->bbox_shift, &T->prog.rng, other_box, err);
                else
                    s = ms_dataset_load(T->ds, T->prog.order[b0 + b], o->bbox_shift, &T->prog.rng,
                                        images + (b - lo) * 3 * plane, gts + (b - lo) * plane, boxes + 4 * (b - lo), err);
            }
            if (s) break;
            // ref: train_one_gpu.py:main — zero_grad, forward, loss.backward(), optimizer.step()
            double loss[3] = {0, 0, 0};
            memset(T->grads, 0, T->t->total * sizeof(float));
            if (hi > lo && (s = T->h->loss_grad(T->h->ctx, T->params, T->grads, images, boxes, gts, hi - lo, loss, err)))
                break;
            int interrupted = o->stop && *o->stop;
            if (T->world > 1) { /* weight by this process's share; the hook sums over processes */
                const float share = (float)(hi - lo) / (float)nb;
                if (share != 1.0f)
                    for (size_t i = 0; i < T->t->total; i++) T->grads[i] *= share;
                for (int k = 0; k < 3; k++) loss[k] *= (double)(hi - lo) / nb;
            }
            if (T->h->allreduce &&
                (s = T->h->allreduce(T->h->allreduce_ctx, T->grads, T->t->total, loss, &interrupted, err)))
                break;
            T->stop_agreed = interrupted;
            ms_adamw_step(T->opt, T->params, T->grads, o->nthreads);
            T->prog.global_step++;
            T->prog.step_in_epoch = step + 1;
            T->prog.epoch_loss_sum += loss[0];
            double el = now_s() - t0;
            int64_t done = T->prog.global_step - first_step;
            ms_train_report r = {0, epoch, o->epochs, step + 1, steps_per_epoch, T->prog.global_step, total_steps,
                                 {loss[0], loss[1], loss[2]}, 0, 0, 0};
            r.samples_per_s = el > 0 ? (double)done * G / el : 0;
            r.eta_s = done > 0 ? el / done * (double)(total_steps - T->prog.global_step) : 0;
            if (T->h->progress) T->h->progress(T->h->progress_ctx, &r);
            if (log_add(T, "step,%lld,%lld,%lld,%.9g,%.9g,%.9g,\n", (long long)epoch, (long long)(step + 1),
                        (long long)T->prog.global_step, loss[0], loss[1], loss[2])) {
                s = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
                break;
            }
            int last = step + 1 == steps_per_epoch;
            if (T->world <= 1) interrupted = o->stop && *o->stop;
            if (!last && (interrupted || (o->save_every > 0 && T->prog.global_step % o->save_every == 0))) {
                /* latest.pth last: it is the commit point (a kill -9 before it leaves a log that
                 * log_reload trims back to the older checkpoint) */
                if ((s = log_write(T, err)) || (s = save(T, T->latest, err))) break;
            }
            if (interrupted && !last) {
                s = ms_error(err, MEDSAM_ERR_IO, "interrupted after step %lld: %s holds the state to --resume",
                             (long long)T->prog.global_step, T->latest);
                break;
            }
        }
        if (s) break;
        /* epoch done */
        T->prog.epoch = epoch;
        T->prog.step_in_epoch = 0;
        /* mean step loss (the official script divides by the last step index instead) */
        double score = T->prog.epoch_loss_sum / (double)steps_per_epoch;
        if (log_add(T, "epoch,%lld,,%lld,%.9g,,,\n", (long long)epoch, (long long)T->prog.global_step, score)) {
            s = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
            break;
        }
        /* validation on rank 0 only (the only one that writes best.pth) */
        if (T->nval > 0 && T->rank == 0 && (s = validate(T, epoch, &score, err))) break;
        int is_best = score < T->prog.best_val;
        if (is_best) T->prog.best_val = score;
        // ref: train_one_gpu.py:main — save latest, and best when the loss improved
        /* order: log.csv, best.pth, then latest.pth, the commit point: killed before it, a resume
         * redoes the epoch from the older latest.pth and rewrites the same log lines and best.pth */
        if ((s = log_write(T, err))) break;
        if (is_best && (s = save(T, T->best, err))) break;
        if ((s = save(T, T->latest, err))) break;
        /* processes stop together: on the flag they agreed on at the epoch's last step */
        int stop_now = T->world > 1 ? T->stop_agreed : o->stop && *o->stop;
        if (stop_now && epoch + 1 < o->epochs)
            s = ms_error(err, MEDSAM_ERR_IO, "interrupted after epoch %lld: %s holds the state to --resume",
                         (long long)epoch, T->latest);
    }
    free(images);
    free(gts);
    free(boxes);
    return s;
}

medsam_status ms_train_run(const ms_train_options *o, const ms_param_table *table, float *params,
                           const ms_dataset *ds, const ms_train_hooks *h, medsam_error *err) {
    if (o->batch < 1 || o->epochs < 1 || !h->loss_grad || (!h->evaluate && o->val_fraction > 0) || !o->out_dir)
        return ms_error(err, MEDSAM_ERR_ARG, "train: batch and epochs must be >= 1 and the hooks set");
    const int world = o->world > 1 ? o->world : 1;
    if (world > 1 && (!h->allreduce || o->rank < 0 || o->rank >= world || (int64_t)o->batch * world > 1 << 20))
        return ms_error(err, MEDSAM_ERR_ARG, "train: %d processes need rank in 0..%d, the allreduce hook set and "
                        "batch * processes <= 2^20", world, world - 1);
    trainer T;
    memset(&T, 0, sizeof T);
    T.o = o, T.t = table, T.ds = ds, T.h = h, T.params = params;
    T.rank = world > 1 ? o->rank : 0, T.world = world;
    medsam_status s = setup(&T, err);
    if (!s && T.ntrain < 1) s = ms_error(err, MEDSAM_ERR_ARG, "%s: no training samples left after the split", ds->dir);
    if (!s) s = train_epochs(&T, err);
    ms_adamw_free(T.opt);
    ms_train_progress_free(&T.prog);
    free(T.grads);
    free(T.opt_param);
    free(T.train_idx);
    free(T.val_idx);
    free(T.log);
    return s;
}
