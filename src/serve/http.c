/* http.c — the HTTP side of `medsam serve` on libmicrohttpd: routing, the
 * security checks (Host header on loopback, bearer token / cookie, content
 * types that a foreign page cannot send without a CORS preflight), streamed
 * request bodies with the upload limit, and JSON / binary answers. What a
 * request does is in store.c and worker.c. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "serve/json.h"
#include "serve/mhd.h"
#include "serve/server.h"
#include "serve/store.h"

/* A libmicrohttpd function: the table ms_server_start loaded (serve/mhd.h). */
#define MHD(fn) (ms_mhd_load(NULL)->fn)

struct ms_server {
    struct MHD_Daemon *d;
    ms_store *store;
    ms_serve_opts o;
    char tmpdir[400];
    char host[64];
    int port, loopback;
    size_t max_upload;
    unsigned long long seq;
    pthread_mutex_t mu;
};

enum { BODY_NONE, BODY_MEM, BODY_FILE };

typedef struct {
    ms_route route;
    ms_method method;
    int body, fd, too_big;
    char *buf;
    size_t len, cap, limit, total;
    char path[512];
    struct timespec t0;
} req;

int ms_serve_is_loopback(const char *host) {
    struct in_addr a;
    if (!strcmp(host, "localhost")) return 1;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static double ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) * 1e-6;
}

/* ---- answers ---------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *mime, void *buf, size_t len,
                             int must_free, const char *h1, const char *v1, const char *h2, const char *v2) {
    struct MHD_Response *r =
        MHD(create_response_from_buffer)(len, buf, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free) free(buf);
        return MHD_NO;
    }
    MHD(add_response_header)(r, "Content-Type", mime);
    MHD(add_response_header)(r, "Cache-Control", "no-store");
    MHD(add_response_header)(r, "X-Content-Type-Options", "nosniff");
    MHD(add_response_header)(r, "Referrer-Policy", "no-referrer");
    if (!strncmp(mime, "text/html", 9))
        MHD(add_response_header)(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'");
    if (h1) MHD(add_response_header)(r, h1, v1);
    if (h2) MHD(add_response_header)(r, h2, v2);
    enum MHD_Result ret = MHD(queue_response)(c, status, r);
    MHD(destroy_response)(r);
    return ret;
}

/* Appends s as a JSON string (quotes included) to out (size n); control bytes become spaces. */
static void json_str(char *out, size_t n, const char *s) {
    size_t k = strlen(out);
    if (k + 2 >= n) return;
    out[k++] = '"';
    for (; *s && k + 8 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') out[k++] = '\\', out[k++] = (char)ch;
        else if (ch < 0x20 || ch == 0x7f) out[k++] = ' ';
        else out[k++] = (char)ch;
    }
    out[k++] = '"';
    out[k] = 0;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, const char *json) {
    char *copy = strdup(json);
    if (!copy) return MHD_NO;
    return reply(c, status, "application/json", copy, strlen(copy), 1, NULL, NULL, NULL, NULL);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg) {
    char buf[700] = "{\"error\": ";
    json_str(buf, sizeof buf - 2, msg);
    strcat(buf, "}");
    char *copy = strdup(buf);
    if (!copy) return MHD_NO;
    const char *h = NULL, *v = NULL;
    if (status == 429 || status == 503) h = "Retry-After", v = "1";
    if (status == 401) h = "WWW-Authenticate", v = "Bearer";
    return reply(c, status, "application/json", copy, strlen(copy), 1, h, v, NULL, NULL);
}

/* ---- checks ----------------------------------------------------------------- */

static int ct_equal(const char *given, const char *secret) {
    size_t lg = strlen(given), ls = strlen(secret);
    unsigned d = (unsigned)(lg != ls);
    for (size_t i = 0; i < ls; i++) d |= (unsigned char)(i < lg ? given[i] : 0) ^ (unsigned char)secret[i];
    return d == 0;
}

static int authorized(ms_server *srv, struct MHD_Connection *c) {
    if (!srv->o.token) return 1;
    const char *a = MHD(lookup_connection_value)(c, MHD_HEADER_KIND, "Authorization");
    if (a && !strncmp(a, "Bearer ", 7) && ct_equal(a + 7, srv->o.token)) return 1;
    const char *k = MHD(lookup_connection_value)(c, MHD_COOKIE_KIND, "medsam_token");
    return k && ct_equal(k, srv->o.token);
}

/* On a loopback address, a Host header that is not a loopback name means a
 * page reached us by DNS rebinding: refuse. */
static int host_ok(ms_server *srv, struct MHD_Connection *c) {
    if (!srv->loopback) return 1;
    const char *h = MHD(lookup_connection_value)(c, MHD_HEADER_KIND, "Host");
    if (!h) return 1;
    char name[80];
    const char *colon = h[0] == '[' ? strchr(h, ']') : strrchr(h, ':');
    size_t n = colon ? (size_t)(colon - h) + (h[0] == '[') : strlen(h);
    if (n >= sizeof name) return 0;
    memcpy(name, h, n);
    name[n] = 0;
    return !strcmp(name, "localhost") || !strcmp(name, "[::1]") || !strcmp(name, srv->host) || ms_serve_is_loopback(name);
}

static int content_type_is(struct MHD_Connection *c, const char *want) {
    const char *t = MHD(lookup_connection_value)(c, MHD_HEADER_KIND, "Content-Type");
    size_t n = strlen(want);
    return t && !strncasecmp(t, want, n) && (t[n] == 0 || t[n] == ';' || t[n] == ' ');
}

/* ---- the request's body ----------------------------------------------------- */

static int body_start(ms_server *srv, req *r) {
    if (r->body == BODY_MEM) {
        r->cap = 4096;
        return (r->buf = malloc(r->cap)) ? 0 : -1;
    }
    pthread_mutex_lock(&srv->mu);
    unsigned long long k = ++srv->seq;
    pthread_mutex_unlock(&srv->mu);
    snprintf(r->path, sizeof r->path, "%s/upload%llu", srv->tmpdir, k);
    r->fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r->fd < 0) r->path[0] = 0;
    return r->fd < 0 ? -1 : 0;
}

static int body_add(req *r, const char *data, size_t n) {
    if (r->body == BODY_MEM) {
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap;
            while (r->len + n + 1 > cap) cap *= 2;
            char *nb = realloc(r->buf, cap);
            if (!nb) return -1;
            r->buf = nb, r->cap = cap;
        }
        memcpy(r->buf + r->len, data, n);
        r->len += n;
        return 0;
    }
    while (n) {
        ssize_t w = write(r->fd, data, n);
        if (w <= 0) return -1;
        data += w, n -= (size_t)w, r->len += (size_t)w;
    }
    return 0;
}

static void body_drop(req *r) {
    free(r->buf);
    r->buf = NULL;
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    if (r->path[0]) unlink(r->path);
    r->path[0] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    req *r = *con_cls;
    if (!r) return;
    body_drop(r);
    free(r);
    *con_cls = NULL;
}

/* ---- handlers ---------------------------------------------------------------- */

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static unsigned code_status(ms_store_code rc) { return rc ? (unsigned)rc : 200; }

static enum MHD_Result info_reply(struct MHD_Connection *c, unsigned status, const ms_session_info *in) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"id\": \"%s\", \"kind\": \"%s\", \"format\": \"%s\", \"width\": %d, \"height\": %d, \"depth\": %d, "
             "\"spacing\": [%.9g, %.9g, %.9g], \"window\": {\"level\": %.9g, \"width\": %.9g}, \"modality\": ",
             in->id, in->is_volume ? "volume" : "image", in->format, in->width, in->height, in->depth, in->spacing[0],
             in->spacing[1], in->spacing[2], in->level, in->width_w);
    json_str(buf, sizeof buf - 2, in->modality);
    strcat(buf, "}");
    return reply_json(c, status, buf);
}

static enum MHD_Result do_upload(ms_server *srv, struct MHD_Connection *c, req *r) {
    close(r->fd);
    r->fd = -1;
    const char *window = MHD(lookup_connection_value)(c, MHD_GET_ARGUMENT_KIND, "window");
    medsam_error err = {0};
    ms_session_info info;
    char path[512];
    memcpy(path, r->path, sizeof path);
    r->path[0] = 0; /* the store owns the file now */
    ms_store_code rc = ms_store_add(srv->store, path, window, &info, &err);
    if (rc) return reply_error(c, code_status(rc), err.message);
    return info_reply(c, 201, &info);
}

static enum MHD_Result do_segment(ms_server *srv, struct MHD_Connection *c, req *r, ms_session *ss) {
    medsam_error err = {0};
    ms_segment_req q;
    if (ms_serve_parse_segment(r->buf ? r->buf : "", r->len, &q, &err)) return reply_error(c, 400, err.message);
    ms_store_code rc;
    if (q.dims == 6) {
        char id[MS_SERVE_ID_LEN + 1], buf[128];
        if ((rc = ms_store_job_start(srv->store, ss, &q, id, &err))) return reply_error(c, code_status(rc), err.message);
        snprintf(buf, sizeof buf, "{\"job\": \"%s\"}", id);
        return reply_json(c, 202, buf);
    }
    void *png;
    size_t len;
    int encoded;
    if ((rc = ms_session_segment(srv->store, ss, &q, &png, &len, &encoded, &err)))
        return reply_error(c, code_status(rc), err.message);
    char ms[32];
    snprintf(ms, sizeof ms, "%.2f", ms_since(&r->t0));
    return reply(c, 200, "image/png", png, len, 1, "X-Medsam-Encoded", encoded ? "1" : "0", "X-Medsam-Ms", ms);
}

static enum MHD_Result do_image(ms_server *srv, struct MHD_Connection *c, req *r) {
    const ms_route *rt = &r->route;
    if (rt->kind == MS_ROUTE_IMAGE && r->method == MS_M_DELETE) {
        if (ms_store_delete(srv->store, rt->id)) return reply_error(c, 404, "unknown image id");
        char buf[96];
        snprintf(buf, sizeof buf, "{\"deleted\": \"%s\"}", rt->id);
        return reply_json(c, 200, buf);
    }
    ms_session *ss = ms_session_get(srv->store, rt->id);
    if (!ss) return reply_error(c, 404, "unknown image id");
    medsam_error err = {0};
    enum MHD_Result ret;
    ms_store_code rc;
    void *out;
    size_t len;
    const char *mime;
    ms_session_info in;
    ms_session_get_info(ss, &in);
    if (rt->kind == MS_ROUTE_IMAGE) {
        ret = info_reply(c, 200, &in);
    } else if (rt->kind == MS_ROUTE_SLICE) {
        if ((rc = ms_session_slice(ss, rt->z, &out, &len, &mime, &err))) ret = reply_error(c, code_status(rc), err.message);
        else {
            char wh[48];
            snprintf(wh, sizeof wh, "%d %d", in.width, in.height);
            ret = reply(c, 200, mime, out, len, 1, "X-Medsam-Size", wh, NULL, NULL);
        }
    } else if (rt->kind == MS_ROUTE_SEGMENT) {
        ret = do_segment(srv, c, r, ss);
    } else { /* MS_ROUTE_LABELS */
        if ((rc = ms_session_labels_file(srv->store, ss, (const uint8_t *)r->buf, r->len, &out, &len, &mime, &err)))
            ret = reply_error(c, code_status(rc), err.message);
        else
            ret = reply(c, 200, mime, out, len, 1, "Content-Disposition",
                        in.is_volume ? "attachment; filename=\"labels.nii.gz\"" : "attachment; filename=\"labels.png\"",
                        NULL, NULL);
    }
    ms_session_put(srv->store, ss);
    return ret;
}

static enum MHD_Result do_job(ms_server *srv, struct MHD_Connection *c, req *r) {
    const ms_route *rt = &r->route;
    medsam_error err = {0};
    if (rt->kind == MS_ROUTE_JOB && r->method == MS_M_DELETE) {
        if (ms_store_job_cancel(srv->store, rt->id)) return reply_error(c, 404, "unknown job id");
        return reply_json(c, 200, "{\"cancelled\": true}");
    }
    if (rt->kind == MS_ROUTE_JOB) {
        ms_job_status st;
        if (ms_store_job_status(srv->store, rt->id, &st)) return reply_error(c, 404, "unknown job id");
        char buf[900];
        snprintf(buf, sizeof buf, "{\"job\": \"%s\", \"image\": \"%s\", \"state\": \"%s\", \"done\": %d, \"total\": %d",
                 rt->id, st.image, st.state, st.done, st.total);
        if (st.error[0]) {
            strcat(buf, ", \"error\": ");
            json_str(buf, sizeof buf - 2, st.error);
        }
        strcat(buf, "}");
        return reply_json(c, 200, buf);
    }
    void *out;
    size_t len;
    const int nifti = rt->kind == MS_ROUTE_JOB_RESULT;
    ms_store_code rc = ms_store_job_result(srv->store, rt->id, nifti, &out, &len, &err);
    if (rc) return reply_error(c, code_status(rc), err.message);
    return reply(c, 200, nifti ? "application/gzip" : "application/octet-stream", out, len, 1,
                 nifti ? "Content-Disposition" : NULL, "attachment; filename=\"labels.nii.gz\"", NULL, NULL);
}

static enum MHD_Result do_asset(ms_server *srv, struct MHD_Connection *c, req *r) {
    for (int i = 0; i < ms_web_asset_count; i++) {
        const ms_web_asset *a = &ms_web_assets[i];
        if (strcmp(a->name, r->route.asset)) continue;
        /* ?token=T on the page sets the cookie the page's API calls then carry */
        const char *t = MHD(lookup_connection_value)(c, MHD_GET_ARGUMENT_KIND, "token");
        char cookie[400];
        const char *h = NULL;
        if (t && srv->o.token && ct_equal(t, srv->o.token) && strlen(t) < 300) {
            snprintf(cookie, sizeof cookie, "medsam_token=%s; HttpOnly; SameSite=Strict; Path=/", t);
            h = "Set-Cookie";
        }
        return reply(c, 200, a->mime, (void *)a->data, a->len, 0, h, cookie, NULL, NULL);
    }
    return reply_error(c, 404, "no such page file");
}

/* ---- the access handler ------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls) {
    ms_server *srv = cls;
    req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->fd = -1;
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        *con_cls = r;
        if (ms_serve_route(method, url, &r->route)) return reply_error(c, 404, "no such path");
        r->method = ms_serve_method(method);
        if (!(r->method & r->route.allowed)) {
            unsigned a = r->route.allowed;
            char allow[40] = "";
            snprintf(allow, sizeof allow, "%s%s%s", a & MS_M_GET ? "GET, HEAD " : "", a & MS_M_POST ? "POST " : "",
                     a & MS_M_DELETE ? "DELETE" : "");
            char *buf = strdup("{\"error\": \"method not allowed on this path\"}");
            if (!buf) return MHD_NO;
            return reply(c, 405, "application/json", buf, strlen(buf), 1, "Allow", allow, NULL, NULL);
        }
        if (!host_ok(srv, c)) return reply_error(c, 403, "the Host header is not a loopback name");
        if (r->route.kind != MS_ROUTE_ASSET && !authorized(srv, c))
            return reply_error(c, 401, "missing or wrong token (Authorization: Bearer TOKEN or the medsam_token cookie)");
        if (r->method == MS_M_POST) {
            const int json = r->route.kind == MS_ROUTE_SEGMENT;
            if (!content_type_is(c, json ? "application/json" : "application/octet-stream"))
                return reply_error(c, 415, json ? "send the request as Content-Type: application/json"
                                                : "send the file's bytes as Content-Type: application/octet-stream");
            r->body = r->route.kind == MS_ROUTE_IMAGES ? BODY_FILE : BODY_MEM;
            r->limit = json ? MS_JSON_MAX_TEXT : srv->max_upload;
            const char *cl = MHD(lookup_connection_value)(c, MHD_HEADER_KIND, "Content-Length");
            if (cl && strtoull(cl, NULL, 10) > r->limit) {
                char msg[128];
                snprintf(msg, sizeof msg, "the body is over the %zu-byte limit", r->limit);
                return reply_error(c, 413, msg);
            }
            if (body_start(srv, r)) return reply_error(c, 503, "cannot store the upload");
        }
        return MHD_YES;
    }
    if (*size) {
        if (r->body == BODY_NONE) r->too_big = 2; /* a body where none belongs */
        else if (!r->too_big && r->total + *size > r->limit) r->too_big = 1, body_drop(r);
        else if (!r->too_big && body_add(r, data, *size)) r->too_big = 3, body_drop(r);
        r->total += *size;
        *size = 0;
        /* a client that keeps sending far past the limit is cut off */
        return r->total > r->limit + ((size_t)64 << 20) ? MHD_NO : MHD_YES;
    }
    if (r->too_big == 1) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is over the %zu-byte limit", r->limit);
        return reply_error(c, 413, msg);
    }
    if (r->too_big == 2) return reply_error(c, 400, "this request takes no body");
    if (r->too_big == 3) return reply_error(c, 503, "cannot store the upload");
    if (r->body == BODY_MEM && r->buf) r->buf[r->len] = 0;
    switch (r->route.kind) {
    case MS_ROUTE_ASSET: return do_asset(srv, c, r);
    case MS_ROUTE_HEALTH: return reply_json(c, 200, "{\"status\": \"ok\"}");
    case MS_ROUTE_IMAGES: return do_upload(srv, c, r);
    case MS_ROUTE_IMAGE:
    case MS_ROUTE_SLICE:
    case MS_ROUTE_SEGMENT:
    case MS_ROUTE_LABELS: return do_image(srv, c, r);
    case MS_ROUTE_JOB:
    case MS_ROUTE_JOB_LABELS:
    case MS_ROUTE_JOB_RESULT: return do_job(srv, c, r);
    default: return reply_error(c, 404, "no such path");
    }
}

/* MHD's own unescaping turns "%00" into a NUL that silently cuts the path
 * ("/%00" would read as "/"): decode every other %XX, keep "%00" as it is
 * (no route has it: 404). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    char *o = s;
    for (const char *i = s; *i; i++) {
        int hi, lo;
        if (i[0] == '%' && (hi = hexval(i[1])) >= 0 && (lo = hexval(i[2])) >= 0 && (hi | lo)) {
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = *i;
        }
    }
    *o = 0;
    return (size_t)(o - s);
}

/* ---- start / stop ---------------------------------------------------------------- */

static void rm_tmpdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[700];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name), unlink(p);
        closedir(d);
    }
    rmdir(dir);
}

medsam_status ms_server_start(const ms_serve_opts *o, ms_server **out, medsam_error *err) {
    *out = NULL;
    const char *host = o->host ? o->host : "127.0.0.1";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, !strcmp(host, "localhost") ? "127.0.0.1" : host, &sa.sin_addr) != 1)
        return ms_error(err, MEDSAM_ERR_ARG, "--host %s: not an IPv4 address", host);
    const int loopback = ms_serve_is_loopback(host);
    if (!loopback && (!o->token || !o->token[0]))
        return ms_error(err, MEDSAM_ERR_ARG, "--host %s is reachable from other machines: pass --token T as well", host);
    if (!ms_mhd_load(err)) return MEDSAM_ERR_IO;  // before the model is loaded: the message names the library
    ms_server *srv = calloc(1, sizeof *srv);
    if (!srv) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    srv->o = *o;
    srv->loopback = loopback;
    snprintf(srv->host, sizeof srv->host, "%s", host);
    srv->max_upload = (size_t)o->max_upload_mb << 20;
    pthread_mutex_init(&srv->mu, NULL);
    const char *td = getenv("TMPDIR");
    snprintf(srv->tmpdir, sizeof srv->tmpdir, "%s/medsam-serve-XXXXXX", td && *td ? td : "/tmp");
    if (!mkdtemp(srv->tmpdir)) {
        pthread_mutex_destroy(&srv->mu);
        free(srv);
        return ms_error(err, MEDSAM_ERR_IO, "cannot create a private temporary folder");
    }
    ms_store_opts so = {.threads = o->threads < 1 ? 1 : o->threads,
                        .cache_bytes = o->cache_mb << 20,
                        .queue_max = o->queue,
                        .max_sessions = 64,
                        .decode_slots = o->threads < 1 ? 1 : o->threads,
                        .tmpdir = srv->tmpdir,
                        .max_extract = (unsigned long long)srv->max_upload * 4,
                        .max_memory = o->max_memory,
                        .max_memory_total = o->max_memory_total > 0 ? o->max_memory_total : medsam_memory_default()};
    medsam_status st = ms_store_create(o->model, &so, &srv->store, err);
    if (!st) {
        srv->d = MHD(start_daemon)(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
                                  0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o->max_connections > 0 ? o->max_connections : 64),
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                                  srv, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
        if (!srv->d) st = ms_error(err, MEDSAM_ERR_IO, "cannot listen on %s:%d (in use, or not allowed)", host, o->port);
    }
    if (st) {
        ms_server_stop(srv);
        return st;
    }
    const union MHD_DaemonInfo *di = MHD(get_daemon_info)(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : o->port;
    *out = srv;
    return MEDSAM_OK;
}

int ms_server_port(const ms_server *srv) { return srv->port; }

void ms_server_stop(ms_server *srv) {
    if (!srv) return;
    if (srv->d) MHD(stop_daemon)(srv->d);
    ms_store_free(srv->store);
    rm_tmpdir(srv->tmpdir);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
