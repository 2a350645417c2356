/* store.c — sessions: uploads read by content, display slices, 2-D segment
 * requests answered exactly as `medsam segment` answers them, label maps
 * written back as PNG / NIfTI. The cache, queue and jobs are in worker.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/image.h"
#include "pipeline/zoom.h"
#include "serve/store_internal.h"
#include "serve/upload_zip.h"

void ms_random_id(char *id) {
    unsigned char b[MS_SERVE_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r > 0) got += (size_t)r;
        else if (errno != EINTR) break;
    }
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof b; i++) id[2 * i] = HEX[b[i] >> 4], id[2 * i + 1] = HEX[b[i] & 15];
    id[MS_SERVE_ID_LEN] = 0;
}

void ms_store_tmp_path(ms_store *s, char *buf, size_t n, const char *suffix) {
    pthread_mutex_lock(&s->mu);
    unsigned long long k = ++s->file_seq;
    pthread_mutex_unlock(&s->mu);
    snprintf(buf, n, "%s/f%llu%s", s->tmpdir, k, suffix);
}

medsam_status ms_read_file(const char *path, size_t max, void **out, size_t *len, medsam_error *err) {
    *out = NULL, *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ms_error(err, MEDSAM_ERR_IO, "cannot open a result file");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap >= max) { free(buf), buf = NULL; break; }
        char *nb = realloc(buf, cap * 2);
        if (!nb) { free(buf), buf = NULL; break; }
        buf = nb, cap *= 2;
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot read a result file");
    }
    *out = buf, *len = n;
    return MEDSAM_OK;
}

/* The reader's message names our private file: say "upload" instead. */
static void scrub(medsam_error *err, const char *path) {
    if (!err) return;
    char *p = strstr(err->message, path);
    if (!p) return;
    char tmp[sizeof err->message];
    snprintf(tmp, sizeof tmp, "%.*supload%s", (int)(p - err->message), err->message, p + strlen(path));
    snprintf(err->message, sizeof err->message, "%s", tmp);
}

medsam_status ms_store_create(const medsam_model *model, const ms_store_opts *o, ms_store **out, medsam_error *err) {
    *out = NULL;
    ms_store *s = calloc(1, sizeof *s);
    if (!s) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    s->model = model;
    medsam_model_get_info(model, &s->minfo);
    s->o = *o;
    snprintf(s->tmpdir, sizeof s->tmpdir, "%s", o->tmpdir);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->slot_cv, NULL);
    if (s->o.decode_slots < 1) s->o.decode_slots = 1;
    if (ms_worker_start(s)) {
        ms_store_free(s);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot start the encoder thread");
    }
    *out = s;
    return MEDSAM_OK;
}

static void session_free(ms_session *ss) {
    if (ss->path[0]) unlink(ss->path);
    medsam_volume_free(ss->vol);
    free(ss->u8);
    free(ss);
}

void ms_store_free(ms_store *s) {
    if (!s) return;
    ms_worker_stop(s);
    while (s->jobs) {
        ms_job *j = s->jobs;
        s->jobs = j->next;
        free(j->boxes);
        free(j->labels);
        free(j);
    }
    while (s->cache) {
        cache_ent *e = s->cache;
        s->cache = e->next;
        medsam_embedding_free(e->emb);
        free(e);
    }
    while (s->sessions) {
        ms_session *ss = s->sessions;
        s->sessions = ss->next;
        session_free(ss);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->slot_cv);
    free(s);
}

/* ---- uploads -------------------------------------------------------------- */

static const char *sniff_2d(const unsigned char *h, size_t n, const char **format) {
    if (n >= 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8)) return *format = "png", "image/png";
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return *format = "jpeg", "image/jpeg";
    if (n >= 2 && h[0] == 'B' && h[1] == 'M') return *format = "bmp", "image/bmp";
    return NULL;
}

static ms_store_code add_2d(ms_store *s, ms_session *ss, const char *path, medsam_error *err) {
    float *x = NULL;
    int W, H;
    const medsam_budget budget = {s->o.max_memory};
    if (medsam_model_prepare_input_budget(s->model, path, 1, &budget, &x, &W, &H, err)) {
        scrub(err, path);
        return err && err->code == MEDSAM_ERR_NOMEM ? MS_STORE_TOO_LARGE : MS_STORE_UNREADABLE;
    }
    free(x); /* checked readable; the encoder reads the file again */
    char kept[512];
    ms_store_tmp_path(s, kept, sizeof kept, ".image"); /* the session's file from now on */
    if (rename(path, kept)) return ms_error(err, MEDSAM_ERR_IO, "cannot keep the upload"), MS_STORE_BUSY;
    path = kept;
    ss->info.width = W, ss->info.height = H, ss->info.depth = 1;
    ss->info.spacing[0] = ss->info.spacing[1] = ss->info.spacing[2] = 1;
    ss->info.level = 127.5, ss->info.width_w = 255;
    snprintf(ss->path, sizeof ss->path, "%s", path);
    return MS_STORE_OK;
}

/* Bytes per stored sample of a volume's dtype (medsam_volume_info.dtype). */
static int sample_bytes(const char *dtype) {
    if (!dtype) return 8;
    if (strstr(dtype, "int8")) return 1;
    if (strstr(dtype, "16")) return 2;
    if (!strcmp(dtype, "rgb24")) return 3;
    if (strstr(dtype, "32")) return 4;
    return 8;
}

static ms_store_code add_volume(ms_store *s, ms_session *ss, const char *path, const char *window, medsam_error *err) {
    medsam_intensity how = {MEDSAM_INTENSITY_AUTO, 0, 0};
    if (window && medsam_intensity_parse(window, &how, err)) return MS_STORE_BAD;
    const medsam_budget budget = {s->o.max_memory};
    if (medsam_volume_read_budget(path, &budget, &ss->vol, err)) {
        scrub(err, path);
        return err && err->code == MEDSAM_ERR_NOMEM ? MS_STORE_TOO_LARGE : MS_STORE_UNREADABLE;
    }
    medsam_volume_info vi;
    medsam_volume_get_info(ss->vol, &vi);
    size_t nvox = (size_t)vi.nx * vi.ny * vi.nz;
    /* all held volumes together stay within max_memory_total: the decoded samples and the uint8 copy */
    const long long need = (long long)nvox * (sample_bytes(vi.dtype) + 1);
    const long long total = s->o.max_memory_total > 0 ? s->o.max_memory_total : medsam_memory_default();
    pthread_mutex_lock(&s->mu);
    long long held = 0;
    for (const ms_session *o = s->sessions; o; o = o->next) held += o->held_bytes;
    if (held + need > total) {
        pthread_mutex_unlock(&s->mu);
        return ms_error(err, MEDSAM_ERR_NOMEM, "the server holds %.1f MiB of volumes and this one needs %.1f MiB more "
                        "(limit %.1f MiB, --max-memory-total): delete an image first", held / 1048576.0,
                        need / 1048576.0, total / 1048576.0), MS_STORE_BUSY;
    }
    ss->held_bytes = need;  /* counted from now on (the session is listed when this returns) */
    pthread_mutex_unlock(&s->mu);
    if (!(ss->u8 = malloc(nvox))) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for the volume"), MS_STORE_BUSY;
    medsam_intensity_applied ap;
    if (medsam_volume_normalize(ss->vol, &how, ss->u8, &ap, err)) return MS_STORE_UNREADABLE;
    ms_session_info *in = &ss->info;
    in->is_volume = 1;
    in->width = vi.nx, in->height = vi.ny, in->depth = vi.nz;
    memcpy(in->spacing, vi.spacing, sizeof in->spacing);
    if (ap.mode == MEDSAM_INTENSITY_AS_IS || !(ap.hi > ap.lo)) in->level = 127.5, in->width_w = 255;
    else in->level = (ap.lo + ap.hi) / 2, in->width_w = ap.hi - ap.lo;
    snprintf(in->format, sizeof in->format, "%s", vi.format);
    memcpy(in->modality, vi.modality, sizeof in->modality);
    unlink(path); /* everything is in memory now */
    return MS_STORE_OK;
}

/* A zip: a CVPR24 2-D npz case becomes a PNG (then a 2-D image), a DICOM
 * series is extracted into a folder, an npz volume is read as it is. */
static ms_store_code add_zip(ms_store *s, ms_session *ss, const char *path, const char *window, medsam_error *err) {
    int kind = ms_upload_zip_kind(path);
    char tmp[512];
    ms_store_code rc;
    if (kind == MS_ZIP_NPZ_2D) {
        if (window) return ms_error(err, MEDSAM_ERR_ARG, "window= applies to volumes, not to 2-D images"), MS_STORE_BAD;
        ms_store_tmp_path(s, tmp, sizeof tmp, ".png");
        if (ms_upload_npz_to_png(path, tmp, err)) {
            unlink(tmp);
            ms_error_prefix(err, "upload");
            return MS_STORE_UNREADABLE;
        }
        unlink(path);
        if ((rc = add_2d(s, ss, tmp, err))) unlink(tmp);
        ss->mime = "image/png";
        snprintf(ss->info.format, sizeof ss->info.format, "npz");
        return rc;
    }
    if (kind != MS_ZIP_DICOM) return add_volume(s, ss, path, window, err);
    ms_store_tmp_path(s, tmp, sizeof tmp, ".d");
    if (ms_upload_unzip(path, tmp, s->o.max_extract, err)) {
        ms_upload_rmdir(tmp);
        ms_error_prefix(err, "upload");
        return MS_STORE_UNREADABLE;
    }
    unlink(path);
    rc = add_volume(s, ss, tmp, window, err);
    ms_upload_rmdir(tmp);
    if (rc && err) { /* name the upload, not our folder */
        char *p = strstr(err->message, tmp);
        if (p) scrub(err, tmp);
    }
    return rc;
}

ms_store_code ms_store_add(ms_store *s, const char *path, const char *window, ms_session_info *info, medsam_error *err) {
    unsigned char head[16] = {0};
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (f) n = fread(head, 1, sizeof head, f), fclose(f);
    ms_session *ss = calloc(1, sizeof *ss);
    if (!ss) {
        unlink(path);
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"), MS_STORE_BUSY;
    }
    ms_store_code rc;
    const char *format = NULL;
    if (n == 0) rc = (ms_error(err, MEDSAM_ERR_FORMAT, "upload: the body is empty"), MS_STORE_UNREADABLE);
    else if ((ss->mime = sniff_2d(head, n, &format))) {
        rc = window ? (ms_error(err, MEDSAM_ERR_ARG, "window= applies to volumes, not to 2-D images"), MS_STORE_BAD)
                    : add_2d(s, ss, path, err);
        if (!rc) snprintf(ss->info.format, sizeof ss->info.format, "%s", format);
    } else if (n >= 6 && !memcmp(head, "\x93NUMPY", 6)) {
        rc = (ms_error(err, MEDSAM_ERR_UNSUPPORTED, "upload: a .npy array is not supported here: send PNG, JPEG, BMP or a volume"),
              MS_STORE_UNREADABLE);
    } else if (n >= 4 && !memcmp(head, "PK\3\4", 4)) {
        rc = add_zip(s, ss, path, window, err);
    } else {
        rc = add_volume(s, ss, path, window, err);
    }
    if (rc) {
        if (!ss->path[0]) unlink(path);
        session_free(ss);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    if (s->nsessions >= s->o.max_sessions) {
        pthread_mutex_unlock(&s->mu);
        session_free(ss);
        return ms_error(err, MEDSAM_ERR_NOMEM, "%d images are open: delete one first", s->o.max_sessions), MS_STORE_BUSY;
    }
    ms_random_id(ss->info.id);
    ss->next = s->sessions, s->sessions = ss, s->nsessions++;
    if (!ss->info.is_volume) ms_cache_prefetch_locked(s, ss, 0);
    *info = ss->info;
    pthread_mutex_unlock(&s->mu);
    return MS_STORE_OK;
}

ms_session *ms_session_get(ms_store *s, const char *id) {
    pthread_mutex_lock(&s->mu);
    ms_session *ss = s->sessions;
    while (ss && strcmp(ss->info.id, id)) ss = ss->next;
    if (ss) ss->refs++;
    pthread_mutex_unlock(&s->mu);
    return ss;
}

void ms_session_put_locked(ms_store *s, ms_session *ss) {
    if (--ss->refs == 0 && ss->deleted) session_free(ss);
}

void ms_session_put(ms_store *s, ms_session *ss) {
    if (!ss) return;
    pthread_mutex_lock(&s->mu);
    ms_session_put_locked(s, ss);
    pthread_mutex_unlock(&s->mu);
}

void ms_session_get_info(const ms_session *ss, ms_session_info *info) { *info = ss->info; }

ms_store_code ms_store_delete(ms_store *s, const char *id) {
    pthread_mutex_lock(&s->mu);
    ms_session **pp = &s->sessions;
    while (*pp && strcmp((*pp)->info.id, id)) pp = &(*pp)->next;
    ms_session *ss = *pp;
    if (ss) {
        *pp = ss->next;
        s->nsessions--;
        ss->deleted = 1;
        ms_cache_forget_locked(s, id);
        for (ms_job *j = s->jobs; j; j = j->next)
            if (j->ss == ss) j->cancel = 1;
        if (ss->refs == 0) session_free(ss);
    }
    pthread_mutex_unlock(&s->mu);
    return ss ? MS_STORE_OK : MS_STORE_NOT_FOUND;
}

/* ---- display and segmentation -------------------------------------------- */

ms_store_code ms_session_slice(ms_session *ss, int z, void **out, size_t *len, const char **mime, medsam_error *err) {
    const ms_session_info *in = &ss->info;
    if (z >= in->depth)
        return ms_error(err, MEDSAM_ERR_ARG, "slice %d is outside the image (0..%d)", z, in->depth - 1), MS_STORE_NOT_FOUND;
    if (!in->is_volume) {
        *mime = ss->mime;
        return ms_read_file(ss->path, (size_t)1 << 31, out, len, err) ? MS_STORE_FAILED : MS_STORE_OK;
    }
    size_t plane = (size_t)in->width * in->height;
    float *v = malloc(plane * sizeof(float));
    if (!v) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"), MS_STORE_BUSY;
    if (medsam_volume_slice_values(ss->vol, z, v, err)) {
        free(v);
        return MS_STORE_FAILED;
    }
    *out = v, *len = plane * sizeof(float), *mime = "application/octet-stream";
    return MS_STORE_OK;
}

static ms_store_code png_bytes(const uint8_t *pix, int w, int h, void **png, size_t *len, medsam_error *err) {
    uint8_t *buf;
    if (ms_png_encode_gray8(pix, w, h, &buf, len, err)) return MS_STORE_FAILED; /* the bytes `medsam segment` writes */
    *png = buf;
    return MS_STORE_OK;
}

/* 1 when the model's box zoom (pipeline/zoom.h) cuts a window for one of the boxes. */
static int any_box_zooms(const medsam_model *m, const medsam_box *boxes, int n, int W, int H) {
    const double k = medsam_model_get_box_zoom(m);
    ms_zoom_window w;
    for (int i = 0; k > 0 && i < n; i++) {
        const float b[4] = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
        if (ms_box_zoom_window(b, W, H, k, &w)) return 1;
    }
    return 0;
}

ms_store_code ms_session_segment(ms_store *s, ms_session *ss, const ms_segment_req *req, void **png, size_t *len,
                                 int *encoded, medsam_error *err) {
    const ms_session_info *in = &ss->info;
    const int W = in->width, H = in->height;
    *encoded = 0;
    if (req->dims != 4) return ms_error(err, MEDSAM_ERR_ARG, "3-D boxes start a job (internal)"), MS_STORE_BAD;
    if (req->has_slice && req->slice >= in->depth)
        return ms_error(err, MEDSAM_ERR_ARG, "slice %d is outside the image (0..%d)", req->slice, in->depth - 1), MS_STORE_BAD;
    if (!req->has_slice && in->depth > 1)
        return ms_error(err, MEDSAM_ERR_ARG, "a volume needs \"slice\" with 2-D boxes"), MS_STORE_BAD;
    const int z = req->has_slice ? req->slice : 0;
    medsam_box boxes[MS_SERVE_MAX_BOXES];
    for (int i = 0; i < req->n; i++) {
        const double *b = req->box[i];
        boxes[i] = (medsam_box){(float)b[0], (float)b[1], (float)b[2], (float)b[3]};
        medsam_box q = boxes[i];
        if (!(q.x1 > q.x0) || !(q.y1 > q.y0))
            return ms_error(err, MEDSAM_ERR_ARG, "box %d (%g,%g,%g,%g) is empty: needs x0 < x1 and y0 < y1", i + 1, q.x0,
                            q.y0, q.x1, q.y1), MS_STORE_BAD;
        if (q.x0 < 0 || q.y0 < 0 || q.x1 > W || q.y1 > H)
            return ms_error(err, MEDSAM_ERR_ARG, "box %d (%g,%g,%g,%g) lies outside the %dx%d image", i + 1, q.x0, q.y0,
                            q.x1, q.y1, W, H), MS_STORE_BAD;
    }
    cache_ent *ent;
    ms_store_code rc = ms_cache_get(s, ss, z, &ent, encoded, err);
    if (rc) return rc;
    /* decode slots: a lone request takes every free one (its threads), a busy server gives one each */
    pthread_mutex_lock(&s->mu);
    const unsigned long long ticket = s->slot_next++;
    while (ticket != s->slot_serving || s->decoding >= s->o.decode_slots) pthread_cond_wait(&s->slot_cv, &s->mu);
    s->slot_serving++;
    const int nth = s->slot_next == s->slot_serving ? s->o.decode_slots - s->decoding : 1; /* all, when nobody waits */
    s->decoding += nth;
    pthread_cond_broadcast(&s->slot_cv); /* the next ticket may fit in a free slot */
    pthread_mutex_unlock(&s->mu);
    size_t plane = (size_t)W * H;
    uint8_t *mask = malloc(plane), *one = in->is_volume ? malloc(plane) : NULL;
    if (!mask || (in->is_volume && !one)) rc = (ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"), MS_STORE_BUSY);
    if (!rc && !in->is_volume && any_box_zooms(s->model, boxes, req->n, W, H)) {
        // ref: `medsam segment -i IMAGE -b ...` with the model's box zoom (api/zoom.c): windows encoded here
        void *px = NULL;
        int w, h, c, bits;
        if (medsam_image_read_budget(ss->path, NULL, &px, &w, &h, &c, &bits, err) ||
            medsam_segment_pixels(s->model, px, w, h, c, bits, boxes, req->n, nth, mask, NULL, err))
            rc = MS_STORE_BAD;
        medsam_free(px);
    } else if (!rc && !in->is_volume) {
        // ref: `medsam segment -i IMAGE -b ...` (cli/commands.c): all boxes in one decoder call
        if (medsam_decode_boxes(s->model, ent->emb, W, H, boxes, req->n, nth, NULL, NULL, mask, err)) rc = MS_STORE_BAD;
    } else if (!rc) {
        // ref: medsam_segment_slice: one decoder call per box, a later box wins
        memset(mask, 0, plane);
        for (int i = 0; i < req->n && !rc; i++) {
            if (medsam_decode_boxes(s->model, ent->emb, W, H, &boxes[i], 1, nth, NULL, NULL, one, err)) rc = MS_STORE_BAD;
            for (size_t p = 0; !rc && p < plane; p++)
                if (one[p]) mask[p] = (uint8_t)(i + 1);
        }
    }
    pthread_mutex_lock(&s->mu);
    s->decoding -= nth;
    pthread_cond_broadcast(&s->slot_cv);
    pthread_mutex_unlock(&s->mu);
    ms_cache_put(s, ent);
    if (!rc && req->n == 1)
        for (size_t p = 0; p < plane; p++) mask[p] = mask[p] ? 255 : 0;
    if (!rc) rc = png_bytes(mask, W, H, png, len, err);
    free(mask);
    free(one);
    return rc;
}

ms_store_code ms_session_labels_file(ms_store *s, ms_session *ss, const uint8_t *labels, size_t n, void **out,
                                     size_t *len, const char **mime, medsam_error *err) {
    const ms_session_info *in = &ss->info;
    size_t want = (size_t)in->width * in->height * in->depth;
    if (n != want)
        return ms_error(err, MEDSAM_ERR_ARG, "labels: %zu bytes, want width*height*depth = %zu", n, want), MS_STORE_BAD;
    if (!in->is_volume) {
        *mime = "image/png";
        return png_bytes(labels, in->width, in->height, out, len, err);
    }
    char path[512];
    ms_store_tmp_path(s, path, sizeof path, ".nii.gz");
    if (medsam_volume_write_labels(path, ss->vol, labels, 1, err)) return MS_STORE_FAILED;
    medsam_status st = ms_read_file(path, (size_t)1 << 33, out, len, err);
    unlink(path);
    *mime = "application/gzip";
    return st ? MS_STORE_FAILED : MS_STORE_OK;
}
