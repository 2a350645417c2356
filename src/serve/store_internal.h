/* store_internal.h — the structures behind store.h, shared by store.c
 * (sessions, files) and worker.c (embedding cache, encode queue, jobs). */
#ifndef MS_SERVE_STORE_INTERNAL_H
#define MS_SERVE_STORE_INTERNAL_H
#include <pthread.h>

#include "serve/store.h"

struct ms_session {
    ms_session_info info;
    char path[512];          /* 2-D: the uploaded file, kept for display and encoding */
    const char *mime;        /* 2-D display type */
    medsam_volume *vol;      /* volumes: the input (the grid of the labels we write) */
    uint8_t *u8;             /* volumes: (nz, ny, nx) normalised as `medsam segment` does */
    long long held_bytes;    /* volumes: decoded + normalised bytes, counted against max_memory_total */
    int refs, deleted;
    struct ms_session *next;
};

enum { ENT_PENDING, ENT_READY, ENT_FAILED };

typedef struct cache_ent {
    char sid[MS_SERVE_ID_LEN + 1]; /* "" once its session is gone */
    int z, state, refs;
    medsam_embedding *emb;
    medsam_error err;
    unsigned long long used;       /* LRU tick */
    struct cache_ent *next;
} cache_ent;

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED };

typedef struct ms_job {
    char id[MS_SERVE_ID_LEN + 1];
    ms_session *ss;                /* held until the job ends */
    medsam_box3d *boxes;
    int n, state, done, total, cancel;
    double margin;
    uint8_t *labels;               /* (nz, ny, nx) when done */
    medsam_error err;
    unsigned long long seq;
    struct ms_job *next;
} ms_job;

typedef struct work {
    cache_ent *ent; /* an encode ... */
    ms_session *ss;
    ms_job *job;    /* ... or a propagation */
    struct work *next;
} work;

struct ms_store {
    const medsam_model *model;
    medsam_model_info minfo;
    ms_store_opts o;
    char tmpdir[400];
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* cache entries and jobs changed */
    pthread_cond_t work_cv;  /* work queued or stopping */
    pthread_cond_t slot_cv;  /* a decode slot came free */
    int decoding;            /* decode slots taken */
    unsigned long long slot_next, slot_serving; /* tickets: decodes start in arrival order */
    pthread_t worker;
    int worker_started, stopping;
    ms_session *sessions;
    int nsessions;
    cache_ent *cache;
    long long cache_used;    /* bytes of READY embeddings */
    unsigned long long tick, file_seq;
    work *queue, *queue_tail;
    int queued;              /* items waiting or running */
    ms_job *jobs;
    int njobs;
};

/* worker.c */
int ms_worker_start(ms_store *s);
void ms_worker_stop(ms_store *s);
/* Holds the embedding of (ss, z), encoding it first when needed (waits for
 * the queue). *ent is released with ms_cache_put. */
ms_store_code ms_cache_get(ms_store *s, ms_session *ss, int z, cache_ent **ent, int *encoded, medsam_error *err);
void ms_cache_put(ms_store *s, cache_ent *e);
/* Queues an encode nobody waits for (a 2-D image right after upload); 0 when queued. */
int ms_cache_prefetch_locked(ms_store *s, ms_session *ss, int z);
/* Drops the cache entries and queued work of a deleted session (mutex held). */
void ms_cache_forget_locked(ms_store *s, const char *sid);
void ms_session_put_locked(ms_store *s, ms_session *ss);
void ms_random_id(char *id);
void ms_store_tmp_path(ms_store *s, char *buf, size_t n, const char *suffix);

#endif
