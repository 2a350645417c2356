/* fuzz_serve_json.c — libFuzzer target for what `medsam serve` parses from a
 * request: the JSON parser (src/serve/json.c), the segment-request grammar
 * and the URL routes (src/serve/request.c). The input is used whole as a JSON
 * body, and its first line (up to 300 bytes) as a URL path.
 *
 * Checks beyond "no crash": a parse succeeds or leaves a one-line message;
 * a parsed document's links stay inside it and counts match; an accepted
 * segment request has 1..255 boxes of 4 or 6 finite coordinates.
 *
 * Build and run by hand (not part of `make`): */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc fuzz/fuzz_serve_json.c src/serve/json.c src/serve/request.c src/core/error.c -lm \
//     -o build/fuzz_serve_json
// mkdir -p build/fuzz_serve_json_corpus && printf '{"boxes": [[1,2,3,4]], "slice": 3}' >build/fuzz_serve_json_corpus/a
// nice -n 5 build/fuzz_serve_json -max_len=4096 -timeout=10 -max_total_time=300 build/fuzz_serve_json_corpus
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/json.h"
#include "serve/request.h"

static void one_line(const medsam_error *err) {
    if (!err->message[0] || strchr(err->message, '\n')) abort();
}

static void check_doc(const ms_json_doc *d) {
    if (d->n < 1 || d->n > MS_JSON_MAX_NODES) abort();
    for (int i = 0; i < d->n; i++) {
        const ms_json_node *x = &d->nodes[i];
        if (x->next >= d->n || x->first >= d->n) abort();
        if (x->type == MS_JSON_NUMBER && !isfinite(x->num)) abort();
        if (x->type == MS_JSON_STRING && strlen(x->str) != (size_t)x->len) abort();
        if (x->type == MS_JSON_ARRAY || x->type == MS_JSON_OBJECT) {
            int c = 0;
            for (int k = x->first; k >= 0; k = d->nodes[k].next) {
                if (k <= i) abort(); /* children come after their parent */
                if ((x->type == MS_JSON_OBJECT) != (d->nodes[k].key != NULL)) abort();
                c++;
            }
            if (c != x->count) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    medsam_error err = {0};
    ms_json_doc doc;
    if (ms_json_parse((const char *)data, size, &doc, &err) == MEDSAM_OK) {
        check_doc(&doc);
        ms_json_free(&doc);
    } else {
        one_line(&err);
    }
    static ms_segment_req req; /* 12 KB: keep it off the stack */
    memset(&err, 0, sizeof err);
    if (ms_serve_parse_segment((const char *)data, size, &req, &err) == MEDSAM_OK) {
        if (req.n < 1 || req.n > MS_SERVE_MAX_BOXES || (req.dims != 4 && req.dims != 6)) abort();
        for (int b = 0; b < req.n; b++)
            for (int k = 0; k < req.dims; k++)
                if (!isfinite(req.box[b][k])) abort();
    } else {
        one_line(&err);
    }
    char url[301];
    size_t n = 0;
    while (n < size && n < 300 && data[n] != '\n' && data[n]) n++;
    memcpy(url, data, n);
    url[n] = 0;
    ms_route r;
    if (ms_serve_route("GET", url, &r) == 0) {
        if (!r.allowed) abort();
        if (r.kind == MS_ROUTE_ASSET && !r.asset) abort();
    }
    return 0;
}
