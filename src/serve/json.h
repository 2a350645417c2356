/* json.h — a small, strict, bounded JSON parser for the server's requests.
 *
 * RFC 8259 only: no comments, no trailing commas, no NaN / Infinity, no
 * leading zeros, no bare control characters in strings, valid UTF-8, no
 * duplicate keys in one object, nothing but white space after the value.
 * Bounds: at most MS_JSON_MAX_DEPTH nested arrays/objects, MS_JSON_MAX_NODES
 * values, MS_JSON_MAX_TEXT bytes of input, numbers that are finite doubles
 * with at most 64 characters. The parsed document is a flat array of nodes
 * linked by index; strings are decoded (escapes resolved) into the document's
 * own buffer and NUL-terminated. */
#ifndef MS_SERVE_JSON_H
#define MS_SERVE_JSON_H
#include <stddef.h>

#include "medsam.h"

#define MS_JSON_MAX_DEPTH 16
#define MS_JSON_MAX_NODES 8192
#define MS_JSON_MAX_TEXT (1 << 20)

typedef enum { MS_JSON_NULL, MS_JSON_FALSE, MS_JSON_TRUE, MS_JSON_NUMBER, MS_JSON_STRING, MS_JSON_ARRAY, MS_JSON_OBJECT } ms_json_type;

typedef struct {
    ms_json_type type;
    int first;       /* first child (array element / object member value), -1 when none */
    int next;        /* next sibling, -1 when last */
    int count;       /* children of an array or object */
    double num;      /* MS_JSON_NUMBER */
    const char *str; /* MS_JSON_STRING: decoded, NUL-terminated */
    int len;         /* its length in bytes */
    const char *key; /* member name when the parent is an object, else NULL */
} ms_json_node;

typedef struct {
    ms_json_node *nodes; /* nodes[0] is the root */
    int n;
    char *strings;       /* decoded strings and keys */
} ms_json_doc;

/* Parses text[0..len) (need not be NUL-terminated). On failure `doc` is empty
 * and err says what is wrong and at which byte. */
medsam_status ms_json_parse(const char *text, size_t len, ms_json_doc *doc, medsam_error *err);
void ms_json_free(ms_json_doc *doc);

/* Member `key` of object node `obj`, or NULL. */
const ms_json_node *ms_json_get(const ms_json_doc *doc, const ms_json_node *obj, const char *key);
/* Child i of an array (walks the sibling links), or NULL. */
const ms_json_node *ms_json_at(const ms_json_doc *doc, const ms_json_node *arr, int i);

#endif
