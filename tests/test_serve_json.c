/* test_serve_json.c — the server's strict JSON parser and request grammar
 * (src/serve/json.c, src/serve/request.c): exact expectations for what is
 * accepted, what each accepted document holds, and what is refused. */
#include <string.h>

#include "serve/json.h"
#include "serve/request.h"
#include "test.h"

static int parses(const char *s) {
    ms_json_doc d;
    medsam_error err = {0};
    if (ms_json_parse(s, strlen(s), &d, &err)) return 0;
    ms_json_free(&d);
    return 1;
}

int main(void) {
    /* accepted */
    const char *good[] = {"0", "-0", "1.5e-3", "-12E+2", "true", "false", "null", "\"\"", "[]", "{}", " [ 1 , [2] ] ",
                          "{\"a\": {\"b\": [null]}}", "\"\\u00e9\\ud83d\\ude00\\n\\\\\"", "\"h\xc3\xa9\""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK(parses(good[i]), "accepted: %s", good[i]);
    /* refused */
    const char *bad[] = {"", " ", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity", "1e400", "nul", "tru", "[1,]",
                         "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "[1] x", "\"abc", "\"\\x\"", "\"\\ud800\"",
                         "\"\\udc00\"", "\"\\u0000\"", "\"a\x01\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                         "{\"a\":1,\"a\":2}", "[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", "0x10", "[1 2]", "{\"a\":}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(!parses(bad[i]), "refused: %s", bad[i]);

    /* a document's structure */
    const char *s = "{\"boxes\": [[1, 2.5, 3, 4]], \"k\": \"v\\\"w\"}";
    ms_json_doc d;
    medsam_error err = {0};
    CHECK(!ms_json_parse(s, strlen(s), &d, &err), "parse: %s", err.message);
    const ms_json_node *root = &d.nodes[0], *boxes = ms_json_get(&d, root, "boxes"), *k = ms_json_get(&d, root, "k");
    CHECK(root->type == MS_JSON_OBJECT && root->count == 2, "root object of 2");
    CHECK(boxes && boxes->type == MS_JSON_ARRAY && boxes->count == 1, "boxes array of 1");
    const ms_json_node *b0 = ms_json_at(&d, boxes, 0);
    CHECK(b0 && b0->count == 4 && ms_json_at(&d, b0, 1)->num == 2.5, "box values");
    CHECK(k && k->type == MS_JSON_STRING && !strcmp(k->str, "v\"w") && k->len == 3, "escaped string");
    CHECK(!ms_json_get(&d, root, "nope") && !ms_json_at(&d, boxes, 1), "absent member / element");
    ms_json_free(&d);

    /* segment requests */
    ms_segment_req q;
    const char *r1 = "{\"boxes\": [[10, 20.5, 30, 40], [1, 2, 3, 4]], \"slice\": 7}";
    CHECK(!ms_serve_parse_segment(r1, strlen(r1), &q, &err) && q.n == 2 && q.dims == 4 && q.has_slice && q.slice == 7 &&
              q.box[0][1] == 20.5 && q.box[1][3] == 4,
          "2-D request: %s", err.message);
    const char *r2 = "{\"margin\": 2.5, \"boxes\": [[1, 2, 0, 3, 4, 5]]}";
    CHECK(!ms_serve_parse_segment(r2, strlen(r2), &q, &err) && q.n == 1 && q.dims == 6 && q.has_margin && q.margin == 2.5,
          "3-D request: %s", err.message);
    const char *badreq[] = {"[]", "{}", "{\"boxes\": []}", "{\"boxes\": [[1,2,3]]}", "{\"boxes\": [[1,2,3,4]], \"x\": 1}",
                            "{\"boxes\": [[1,2,3,4],[1,2,0,3,4,5]]}", "{\"boxes\": [[1,2,3,\"4\"]]}",
                            "{\"boxes\": [[1,2,3,4]], \"slice\": 1.5}", "{\"boxes\": [[1,2,3,4]], \"slice\": -1}",
                            "{\"boxes\": [[1,2,0.5,3,4,5]]}", "{\"boxes\": [[1,2,3,4]], \"margin\": 1}",
                            "{\"boxes\": [[1,2,0,3,4,5]], \"slice\": 0}", "{\"boxes\": [[1e7,2,3,4]]}", "{\"boxes\": 3}"};
    for (size_t i = 0; i < sizeof badreq / sizeof *badreq; i++) {
        memset(&err, 0, sizeof err);
        CHECK(ms_serve_parse_segment(badreq[i], strlen(badreq[i]), &q, &err) == MEDSAM_ERR_ARG && err.message[0] &&
                  !strchr(err.message, '\n'),
              "refused request %s (%s)", badreq[i], err.message);
    }

    /* routes */
    ms_route r;
    const char *id = "0123456789abcdef0123456789abcdef";
    char u[128];
    snprintf(u, sizeof u, "/api/images/%s/slices/12", id);
    CHECK(!ms_serve_route("GET", u, &r) && r.kind == MS_ROUTE_SLICE && r.z == 12 && !strcmp(r.id, id), "slice route");
    snprintf(u, sizeof u, "/api/jobs/%s/result", id);
    CHECK(!ms_serve_route("GET", u, &r) && r.kind == MS_ROUTE_JOB_RESULT, "job result route");
    CHECK(!ms_serve_route("GET", "/", &r) && r.kind == MS_ROUTE_ASSET && !strcmp(r.asset, "index.html"), "/ is the page");
    CHECK(!ms_serve_route("POST", "/api/images", &r) && r.allowed == MS_M_POST, "upload route");
    const char *nope[] = {"/api/images/0123", "/api/images/../etc/passwd", "/api/images/0123456789ABCDEF0123456789abcdef",
                          "/x", "/api/images/0123456789abcdef0123456789abcdef/slices/01",
                          "/api/images/0123456789abcdef0123456789abcdef/slices/-1", "/app.js/", "//index.html"};
    for (size_t i = 0; i < sizeof nope / sizeof *nope; i++) CHECK(ms_serve_route("GET", nope[i], &r) == -1, "404: %s", nope[i]);
    return t_summary();
}
