/* request.c — routes and segment-request bodies (see request.h). */
#include "serve/request.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "serve/json.h"

ms_method ms_serve_method(const char *m) {
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) return MS_M_GET;
    if (!strcmp(m, "POST")) return MS_M_POST;
    if (!strcmp(m, "DELETE")) return MS_M_DELETE;
    return MS_M_OTHER;
}

/* Copies a 32-hex-digit id segment ending at '/' or NUL; returns the rest or NULL. */
static const char *take_id(const char *s, char *id) {
    for (int i = 0; i < MS_SERVE_ID_LEN; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return NULL;
        id[i] = c;
    }
    id[MS_SERVE_ID_LEN] = 0;
    s += MS_SERVE_ID_LEN;
    return (*s == '/' || *s == 0) ? s : NULL;
}

static int take_int(const char *s, int *z) {
    long v = 0;
    if (!*s || (s[0] == '0' && s[1])) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000) return 0;
        v = v * 10 + (*s - '0');
    }
    *z = (int)v;
    return 1;
}

int ms_serve_route(const char *method, const char *url, ms_route *r) {
    (void)method;
    memset(r, 0, sizeof *r);
    static const char *const ASSETS[] = {"index.html", "app.js", "app.css"};
    if (!strcmp(url, "/")) url = "/index.html";
    for (size_t i = 0; i < sizeof ASSETS / sizeof *ASSETS; i++)
        if (url[0] == '/' && !strcmp(url + 1, ASSETS[i])) {
            *r = (ms_route){.kind = MS_ROUTE_ASSET, .allowed = MS_M_GET, .asset = ASSETS[i]};
            return 0;
        }
    if (!strcmp(url, "/api/health")) {
        r->kind = MS_ROUTE_HEALTH, r->allowed = MS_M_GET;
        return 0;
    }
    if (!strcmp(url, "/api/images")) {
        r->kind = MS_ROUTE_IMAGES, r->allowed = MS_M_POST;
        return 0;
    }
    const char *rest;
    if (!strncmp(url, "/api/images/", 12) && (rest = take_id(url + 12, r->id))) {
        if (!*rest) r->kind = MS_ROUTE_IMAGE, r->allowed = MS_M_GET | MS_M_DELETE;
        else if (!strcmp(rest, "/segment")) r->kind = MS_ROUTE_SEGMENT, r->allowed = MS_M_POST;
        else if (!strcmp(rest, "/labels")) r->kind = MS_ROUTE_LABELS, r->allowed = MS_M_POST;
        else if (!strncmp(rest, "/slices/", 8) && take_int(rest + 8, &r->z)) r->kind = MS_ROUTE_SLICE, r->allowed = MS_M_GET;
        else return -1;
        return 0;
    }
    if (!strncmp(url, "/api/jobs/", 10) && (rest = take_id(url + 10, r->id))) {
        if (!*rest) r->kind = MS_ROUTE_JOB, r->allowed = MS_M_GET | MS_M_DELETE;
        else if (!strcmp(rest, "/labels")) r->kind = MS_ROUTE_JOB_LABELS, r->allowed = MS_M_GET;
        else if (!strcmp(rest, "/result")) r->kind = MS_ROUTE_JOB_RESULT, r->allowed = MS_M_GET;
        else return -1;
        return 0;
    }
    return -1;
}

static medsam_status bad(medsam_error *err, const char *what) { return ms_error(err, MEDSAM_ERR_ARG, "%s", what); }

static int is_int(double v) { return v == floor(v) && fabs(v) <= MS_SERVE_MAX_COORD; }

medsam_status ms_serve_parse_segment(const char *body, size_t len, ms_segment_req *out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    ms_json_doc doc;
    medsam_status st = ms_json_parse(body, len, &doc, err);
    if (st) return st == MEDSAM_ERR_NOMEM ? st : MEDSAM_ERR_ARG;
    const ms_json_node *root = &doc.nodes[0];
    if (root->type != MS_JSON_OBJECT) {
        ms_json_free(&doc);
        return bad(err, "the request body must be a JSON object");
    }
    st = MEDSAM_OK;
    for (int c = root->first; c >= 0 && !st; c = doc.nodes[c].next) {
        const ms_json_node *v = &doc.nodes[c];
        if (!strcmp(v->key, "boxes")) {
            if (v->type != MS_JSON_ARRAY || v->count < 1 || v->count > MS_SERVE_MAX_BOXES) {
                st = ms_error(err, MEDSAM_ERR_ARG, "\"boxes\" must be an array of 1 to %d boxes", MS_SERVE_MAX_BOXES);
                break;
            }
            for (int b = v->first; b >= 0 && !st; b = doc.nodes[b].next) {
                const ms_json_node *box = &doc.nodes[b];
                if (box->type != MS_JSON_ARRAY || (box->count != 4 && box->count != 6)) {
                    st = bad(err, "each box must be [x0,y0,x1,y1] or [x0,y0,z0,x1,y1,z1]");
                    break;
                }
                if (out->dims && box->count != out->dims) {
                    st = bad(err, "all boxes must have the same number of coordinates");
                    break;
                }
                out->dims = box->count;
                int k = 0;
                for (int e = box->first; e >= 0; e = doc.nodes[e].next, k++) {
                    const ms_json_node *x = &doc.nodes[e];
                    if (x->type != MS_JSON_NUMBER || fabs(x->num) > MS_SERVE_MAX_COORD) {
                        st = ms_error(err, MEDSAM_ERR_ARG, "box %d: coordinates must be numbers within +-%g", out->n + 1,
                                      MS_SERVE_MAX_COORD);
                        break;
                    }
                    if (box->count == 6 && (k == 2 || k == 5) && !is_int(x->num)) {
                        st = ms_error(err, MEDSAM_ERR_ARG, "box %d: z0 and z1 must be integers", out->n + 1);
                        break;
                    }
                    out->box[out->n][k] = x->num;
                }
                out->n++;
            }
        } else if (!strcmp(v->key, "slice")) {
            if (v->type != MS_JSON_NUMBER || !is_int(v->num) || v->num < 0) st = bad(err, "\"slice\" must be an integer >= 0");
            else out->has_slice = 1, out->slice = (int)v->num;
        } else if (!strcmp(v->key, "margin")) {
            if (v->type != MS_JSON_NUMBER || v->num < 0 || v->num > 1e4) st = bad(err, "\"margin\" must be a number in 0..10000");
            else out->has_margin = 1, out->margin = v->num;
        } else {
            st = ms_error(err, MEDSAM_ERR_ARG, "unknown field \"%.40s\" (boxes, slice, margin)", v->key);
        }
    }
    if (!st && !out->n) st = bad(err, "missing \"boxes\"");
    if (!st && out->dims == 6 && out->has_slice) st = bad(err, "\"slice\" goes with 2-D boxes; 3-D boxes carry z0 and z1");
    if (!st && out->dims == 4 && out->has_margin) st = bad(err, "\"margin\" goes with 3-D boxes");
    ms_json_free(&doc);
    return st;
}
