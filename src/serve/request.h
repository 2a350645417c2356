/* request.h — the server's request grammar: URL routes and the JSON body of
 * a segment request, parsed strictly (unknown fields, wrong types, values
 * out of range are errors). Pure functions: no I/O, no server state, so the
 * fuzzer (fuzz/fuzz_serve_json.c) can drive them directly. */
#ifndef MS_SERVE_REQUEST_H
#define MS_SERVE_REQUEST_H
#include <stddef.h>

#include "medsam.h"

#define MS_SERVE_ID_LEN 32    /* ids are 32 lowercase hex digits */
#define MS_SERVE_MAX_BOXES 255
#define MS_SERVE_MAX_COORD 1e6 /* |coordinate| bound before any image check */

typedef enum {
    MS_ROUTE_NONE = 0,     /* unknown path: 404 */
    MS_ROUTE_ASSET,        /* GET a page file; asset = its name */
    MS_ROUTE_HEALTH,       /* GET /api/health */
    MS_ROUTE_IMAGES,       /* POST /api/images */
    MS_ROUTE_IMAGE,        /* GET | DELETE /api/images/{id} */
    MS_ROUTE_SLICE,        /* GET /api/images/{id}/slices/{z} */
    MS_ROUTE_SEGMENT,      /* POST /api/images/{id}/segment */
    MS_ROUTE_LABELS,       /* POST /api/images/{id}/labels */
    MS_ROUTE_JOB,          /* GET | DELETE /api/jobs/{id} */
    MS_ROUTE_JOB_LABELS,   /* GET /api/jobs/{id}/labels */
    MS_ROUTE_JOB_RESULT,   /* GET /api/jobs/{id}/result */
} ms_route_kind;

typedef enum { MS_M_GET = 1, MS_M_POST = 2, MS_M_DELETE = 4, MS_M_OTHER = 8 } ms_method;

typedef struct {
    ms_route_kind kind;
    unsigned allowed; /* methods the path takes (ms_method bits) */
    char id[MS_SERVE_ID_LEN + 1];
    int z;
    const char *asset; /* MS_ROUTE_ASSET: "index.html", "app.js", ... (points into url) */
} ms_route;

/* Maps a method name and a URL path (no query) to a route. Returns 0 and
 * fills r when the path is known (r->allowed then says whether the method
 * fits: 405 otherwise), -1 for an unknown path (404). */
int ms_serve_route(const char *method, const char *url, ms_route *r);
ms_method ms_serve_method(const char *method);

typedef struct {
    int n;                                  /* boxes, 1..MS_SERVE_MAX_BOXES */
    int dims;                               /* 4: x0,y0,x1,y1; 6: x0,y0,z0,x1,y1,z1 */
    double box[MS_SERVE_MAX_BOXES][6];
    int has_slice, slice;                   /* "slice": z (2-D boxes only) */
    int has_margin;
    double margin;                          /* "margin": pixels (3-D boxes only) */
} ms_segment_req;

/* {"boxes": [[x0,y0,x1,y1], ...], "slice": z} or {"boxes": [[x0,y0,z0,x1,y1,z1], ...], "margin": m}.
 * z0 / z1 / slice must be integers. err says what is wrong (one line). */
medsam_status ms_serve_parse_segment(const char *body, size_t len, ms_segment_req *out, medsam_error *err);

#endif
