/* worker.c — the embedding cache (LRU, bounded in bytes), the bounded encode
 * queue with its one worker thread (encodes and 3-D propagation jobs run one
 * at a time: the encoder uses every core), and the job table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "serve/store_internal.h"

#define MAX_JOBS 32

/* ---- queue ----------------------------------------------------------------- */

static int enqueue_locked(ms_store *s, cache_ent *ent, ms_session *ss, ms_job *job) {
    if (s->queued >= s->o.queue_max) return -1;
    work *w = calloc(1, sizeof *w);
    if (!w) return -1;
    *w = (work){ent, ss, job, NULL};
    if (ss) ss->refs++;
    if (s->queue_tail) s->queue_tail->next = w;
    else s->queue = w;
    s->queue_tail = w;
    s->queued++;
    pthread_cond_signal(&s->work_cv);
    return 0;
}

/* ---- cache ----------------------------------------------------------------- */

static void unlink_ent_locked(ms_store *s, cache_ent *e) {
    cache_ent **pp = &s->cache;
    while (*pp && *pp != e) pp = &(*pp)->next;
    if (*pp) *pp = e->next;
}

static long long emb_bytes(const ms_store *s) {
    return (long long)s->minfo.emb_channels * s->minfo.emb_size * s->minfo.emb_size * (long long)sizeof(float);
}

/* Frees least-recently-used idle embeddings while over the bound. */
static void evict_locked(ms_store *s) {
    while (s->cache_used > s->o.cache_bytes) {
        cache_ent *victim = NULL;
        for (cache_ent *e = s->cache; e; e = e->next)
            if (e->state == ENT_READY && e->refs == 0 && (!victim || e->used < victim->used)) victim = e;
        if (!victim) return;
        unlink_ent_locked(s, victim);
        s->cache_used -= emb_bytes(s);
        medsam_embedding_free(victim->emb);
        free(victim);
    }
}

static void drop_if_idle_locked(ms_store *s, cache_ent *e) {
    if (e->refs > 0 || e->state == ENT_PENDING) return;
    if (e->state == ENT_READY && e->sid[0]) return; /* stays cached */
    unlink_ent_locked(s, e);
    if (e->state == ENT_READY) s->cache_used -= emb_bytes(s);
    medsam_embedding_free(e->emb);
    free(e);
}

int ms_cache_prefetch_locked(ms_store *s, ms_session *ss, int z) {
    cache_ent *e = calloc(1, sizeof *e);
    if (!e) return -1;
    snprintf(e->sid, sizeof e->sid, "%s", ss->info.id);
    e->z = z, e->state = ENT_PENDING;
    if (enqueue_locked(s, e, ss, NULL)) {
        free(e);
        return -1;
    }
    e->next = s->cache, s->cache = e;
    return 0;
}

ms_store_code ms_cache_get(ms_store *s, ms_session *ss, int z, cache_ent **out, int *encoded, medsam_error *err) {
    pthread_mutex_lock(&s->mu);
    cache_ent *e = s->cache;
    while (e && (e->z != z || strcmp(e->sid, ss->info.id))) e = e->next;
    if (!e) {
        if (ms_cache_prefetch_locked(s, ss, z)) {
            pthread_mutex_unlock(&s->mu);
            return ms_error(err, MEDSAM_ERR_NOMEM, "the encode queue is full (%d): try again shortly", s->o.queue_max),
                   MS_STORE_QUEUE_FULL;
        }
        e = s->cache;
    }
    e->refs++;
    if (e->state == ENT_PENDING) *encoded = 1;
    while (e->state == ENT_PENDING) pthread_cond_wait(&s->cv, &s->mu);
    ms_store_code rc = MS_STORE_OK;
    if (e->state == ENT_FAILED) {
        if (err) *err = e->err;
        rc = e->err.code == MEDSAM_ERR_CANCELLED ? MS_STORE_NOT_FOUND : MS_STORE_FAILED;
        e->refs--;
        drop_if_idle_locked(s, e);
        e = NULL;
    } else {
        e->used = ++s->tick;
    }
    pthread_mutex_unlock(&s->mu);
    *out = e;
    return rc;
}

void ms_cache_put(ms_store *s, cache_ent *e) {
    pthread_mutex_lock(&s->mu);
    e->refs--;
    drop_if_idle_locked(s, e);
    evict_locked(s);
    pthread_mutex_unlock(&s->mu);
}

void ms_cache_forget_locked(ms_store *s, const char *sid) {
    cache_ent *e = s->cache;
    while (e) {
        cache_ent *next = e->next;
        if (!strcmp(e->sid, sid)) {
            e->sid[0] = 0;
            drop_if_idle_locked(s, e);
        }
        e = next;
    }
}

/* ---- work ------------------------------------------------------------------ */

static medsam_status encode(ms_store *s, ms_session *ss, int z, medsam_embedding **emb, medsam_error *err) {
    const int S = s->minfo.img_size;
    float *x = NULL;
    medsam_status st;
    if (!ss->info.is_volume) {
        int W, H;
        const medsam_budget budget = {s->o.max_memory};
        st = medsam_model_prepare_input_budget(s->model, ss->path, s->o.threads, &budget, &x, &W, &H, err);
    } else {
        const ms_session_info *in = &ss->info;
        x = malloc((size_t)S * S * 3 * sizeof(float));
        st = !x ? ms_error(err, MEDSAM_ERR_NOMEM, "out of memory")
                : medsam_model_preprocess(s->model, ss->u8 + (size_t)z * in->width * in->height, in->width, in->height, 1,
                                          8, s->o.threads, x, err);
    }
    if (!st) st = medsam_encode(s->model, x, s->o.threads, emb, err);
    free(x);
    return st;
}

static void run_encode(ms_store *s, work *w) {
    cache_ent *e = w->ent;
    medsam_embedding *emb = NULL;
    medsam_error err = {0};
    pthread_mutex_lock(&s->mu);
    int gone = w->ss->deleted || (e->refs == 0 && !e->sid[0]);
    pthread_mutex_unlock(&s->mu);
    medsam_status st = gone ? ms_error(&err, MEDSAM_ERR_CANCELLED, "the image was deleted") : encode(s, w->ss, e->z, &emb, &err);
    pthread_mutex_lock(&s->mu);
    if (st) {
        e->state = ENT_FAILED, e->err = err;
    } else {
        e->state = ENT_READY, e->emb = emb, e->used = ++s->tick;
        s->cache_used += emb_bytes(s);
    }
    drop_if_idle_locked(s, e);
    evict_locked(s);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int job_progress(void *user, int done, int total) {
    void **ctx = user;
    ms_store *s = ctx[0];
    ms_job *j = ctx[1];
    pthread_mutex_lock(&s->mu);
    j->done = done, j->total = total;
    int stop = j->cancel || s->stopping;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void run_job(ms_store *s, work *w) {
    ms_job *j = w->job;
    const ms_session_info *in = &w->ss->info;
    pthread_mutex_lock(&s->mu);
    int cancel = j->cancel;
    if (!cancel) j->state = JOB_RUNNING;
    pthread_mutex_unlock(&s->mu);
    medsam_error err = {0};
    medsam_status st = MEDSAM_ERR_CANCELLED;
    uint8_t *labels = NULL;
    if (!cancel) {
        labels = calloc((size_t)in->width * in->height * in->depth, 1);
        void *ctx[2] = {s, j};
        medsam_volume_opts vo = {.nthreads = s->o.threads,
                                 .margin = j->margin,
                                 .cache_bytes = s->o.cache_bytes,
                                 .progress = job_progress,
                                 .progress_user = ctx};
        st = !labels ? ms_error(&err, MEDSAM_ERR_NOMEM, "out of memory for the labels")
                     : medsam_segment_volume(s->model, w->ss->u8, in->width, in->height, in->depth, j->boxes, j->n, &vo,
                                             labels, 1, &err);
    }
    pthread_mutex_lock(&s->mu);
    if (!st) j->state = JOB_DONE, j->labels = labels, labels = NULL;
    else if (j->cancel || st == MEDSAM_ERR_CANCELLED) j->state = JOB_CANCELLED;
    else j->state = JOB_FAILED, j->err = err;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    free(labels);
}

static void *worker_main(void *arg) {
    ms_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->queue && !s->stopping) pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->stopping) break;
        work *w = s->queue;
        s->queue = w->next;
        if (!s->queue) s->queue_tail = NULL;
        pthread_mutex_unlock(&s->mu);
        if (w->job) run_job(s, w);
        else run_encode(s, w);
        pthread_mutex_lock(&s->mu);
        s->queued--;
        ms_session_put_locked(s, w->ss);
        free(w);
    }
    /* stopping: fail what is still queued so that no waiter hangs */
    while (s->queue) {
        work *w = s->queue;
        s->queue = w->next;
        if (w->ent) {
            w->ent->state = ENT_FAILED;
            ms_error(&w->ent->err, MEDSAM_ERR_CANCELLED, "the server is stopping");
        }
        if (w->job) w->job->state = JOB_CANCELLED;
        ms_session_put_locked(s, w->ss);
        free(w);
    }
    s->queue_tail = NULL;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int ms_worker_start(ms_store *s) {
    if (pthread_create(&s->worker, NULL, worker_main, s)) return -1;
    s->worker_started = 1;
    return 0;
}

void ms_worker_stop(ms_store *s) {
    if (!s->worker_started) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->worker, NULL);
    s->worker_started = 0;
}

/* ---- jobs ------------------------------------------------------------------ */

static ms_job *find_job_locked(ms_store *s, const char *id) {
    ms_job *j = s->jobs;
    while (j && strcmp(j->id, id)) j = j->next;
    return j;
}

/* Makes room in the job table: drops the oldest finished job. */
static int trim_jobs_locked(ms_store *s) {
    if (s->njobs < MAX_JOBS) return 0;
    ms_job **oldest = NULL;
    for (ms_job **pp = &s->jobs; *pp; pp = &(*pp)->next)
        if ((*pp)->state >= JOB_DONE && (!oldest || (*pp)->seq < (*oldest)->seq)) oldest = pp;
    if (!oldest) return -1;
    ms_job *j = *oldest;
    *oldest = j->next;
    ms_session_put_locked(s, j->ss);
    free(j->boxes);
    free(j->labels);
    free(j);
    s->njobs--;
    return 0;
}

ms_store_code ms_store_job_start(ms_store *s, ms_session *ss, const ms_segment_req *req, char *job_id, medsam_error *err) {
    const ms_session_info *in = &ss->info;
    if (!in->is_volume) return ms_error(err, MEDSAM_ERR_ARG, "3-D boxes need a volume; this is a 2-D image"), MS_STORE_BAD;
    ms_job *j = calloc(1, sizeof *j);
    medsam_box3d *b = calloc((size_t)req->n, sizeof *b);
    if (!j || !b) {
        free(j), free(b);
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"), MS_STORE_BUSY;
    }
    for (int i = 0; i < req->n; i++) {
        const double *v = req->box[i];
        b[i] = (medsam_box3d){(float)v[0], (float)v[1], (float)v[3], (float)v[4], (int)v[2], (int)v[5]};
        medsam_box3d q = b[i];
        const char *why = !(q.x1 > q.x0) || !(q.y1 > q.y0) ? "is empty: needs x0 < x1 and y0 < y1"
                          : q.x0 < 0 || q.y0 < 0 || q.x1 > in->width || q.y1 > in->height ? "lies outside the image"
                          : q.z0 < 0 || q.z1 < q.z0 || q.z1 >= in->depth ? "has z0..z1 outside the volume or z1 < z0"
                                                                          : NULL;
        if (why) {
            free(j), free(b);
            return ms_error(err, MEDSAM_ERR_ARG, "box %d %s (%dx%dx%d volume)", i + 1, why, in->width, in->height,
                            in->depth), MS_STORE_BAD;
        }
    }
    j->boxes = b, j->n = req->n, j->margin = req->has_margin ? req->margin : 0;
    j->state = JOB_QUEUED, j->total = 1;
    ms_random_id(j->id);
    pthread_mutex_lock(&s->mu);
    ms_store_code rc = MS_STORE_OK;
    if (trim_jobs_locked(s) || enqueue_locked(s, NULL, ss, j)) {
        rc = MS_STORE_QUEUE_FULL;
        ms_error(err, MEDSAM_ERR_NOMEM, "the encode queue (or the job table) is full: try again shortly");
        free(j->boxes), free(j);
    } else {
        j->ss = ss, ss->refs++;
        j->seq = ++s->tick;
        j->next = s->jobs, s->jobs = j, s->njobs++;
        memcpy(job_id, j->id, MS_SERVE_ID_LEN + 1);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ms_store_code ms_store_job_status(ms_store *s, const char *id, ms_job_status *st) {
    static const char *const NAMES[] = {"queued", "running", "done", "failed", "cancelled"};
    pthread_mutex_lock(&s->mu);
    ms_job *j = find_job_locked(s, id);
    if (j) {
        memset(st, 0, sizeof *st);
        st->state = NAMES[j->state], st->done = j->done, st->total = j->total;
        memcpy(st->image, j->ss->info.id, sizeof st->image);
        if (j->state == JOB_FAILED) snprintf(st->error, sizeof st->error, "%s", j->err.message);
    }
    pthread_mutex_unlock(&s->mu);
    return j ? MS_STORE_OK : MS_STORE_NOT_FOUND;
}

ms_store_code ms_store_job_result(ms_store *s, const char *id, int as_nifti, void **out, size_t *len, medsam_error *err) {
    pthread_mutex_lock(&s->mu);
    ms_job *j = find_job_locked(s, id);
    ms_session *ss = NULL;
    ms_store_code rc = MS_STORE_OK;
    if (!j) rc = (ms_error(err, MEDSAM_ERR_ARG, "unknown job"), MS_STORE_NOT_FOUND);
    else if (j->state != JOB_DONE) rc = (ms_error(err, MEDSAM_ERR_ARG, "the job has not finished"), MS_STORE_CONFLICT);
    else ss = j->ss, ss->refs++;
    size_t n = 0;
    uint8_t *copy = NULL;
    if (!rc) {
        n = (size_t)ss->info.width * ss->info.height * ss->info.depth;
        if ((copy = malloc(n))) memcpy(copy, j->labels, n);
        else rc = (ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"), MS_STORE_BUSY);
    }
    pthread_mutex_unlock(&s->mu);
    if (!rc && !as_nifti) {
        *out = copy, *len = n, copy = NULL;
    } else if (!rc) {
        const char *mime;
        rc = ms_session_labels_file(s, ss, copy, n, out, len, &mime, err);
    }
    free(copy);
    ms_session_put(s, ss);
    return rc;
}

ms_store_code ms_store_job_cancel(ms_store *s, const char *id) {
    pthread_mutex_lock(&s->mu);
    ms_job *j = find_job_locked(s, id);
    if (j) j->cancel = 1;
    pthread_mutex_unlock(&s->mu);
    return j ? MS_STORE_OK : MS_STORE_NOT_FOUND;
}
