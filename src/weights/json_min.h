/* json_min.h — a small strict JSON (RFC 8259) parser with bounds, for
 * untrusted input (safetensors headers, config.json, HTTP request bodies).
 *
 * The whole text is parsed at once into a flat array of nodes (no recursion:
 * an explicit stack bounded by max_depth); strings and keys are decoded
 * (escapes, surrogate pairs) into one arena and NUL-terminated, with their
 * byte length kept (a decoded string may hold U+0000). Refused: anything
 * outside the grammar (comments, trailing commas, single quotes, NaN, leading
 * zeros, '+' signs, raw control characters in strings, invalid or overlong
 * UTF-8, lone surrogates), content after the value, more than max_nodes
 * values or max_depth nesting, and (optionally) duplicate keys in an object.
 * Errors are one line naming the byte offset: "JSON: <problem> at byte N".
 *
 * Nodes are ints: the root is 0, "none" is -1. Children of an array or object
 * are walked with json_first / json_next; an object member's key is read from
 * the value node with json_key.
 *
 *     json_doc *d; json_limits lim = json_default_limits();
 *     if (json_parse(text, len, &lim, &d, err)) return err->code;
 *     int v = json_get(d, json_root(d), "dtype");
 *     const char *s = json_str(d, v, NULL);          // NULL unless a string
 *     json_free(d); */
#ifndef MS_WEIGHTS_JSON_MIN_H
#define MS_WEIGHTS_JSON_MIN_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct {
    int max_depth;           /* nesting of arrays/objects (root container = 1) */
    int max_nodes;           /* values in the whole document */
    int reject_duplicate_keys;
} json_limits;

typedef struct json_doc json_doc;

/* depth 64, 1M nodes, duplicate keys refused */
json_limits json_default_limits(void);

medsam_status json_parse(const char *text, size_t len, const json_limits *lim, json_doc **out, medsam_error *err);
void json_free(json_doc *d);

int json_root(const json_doc *d);                /* 0, or -1 for a NULL doc */
int json_node_count(const json_doc *d);
json_type json_node_type(const json_doc *d, int node); /* JSON_NULL for -1 */
int json_len(const json_doc *d, int node);       /* children of an array/object, else 0 */
int json_first(const json_doc *d, int node);     /* first child or -1 */
int json_next(const json_doc *d, int node);      /* next sibling or -1 */
/* Key of an object member (the value node), or NULL when `node` is not one. */
const char *json_key(const json_doc *d, int node, size_t *len);
/* Member of `obj` whose key equals `key` (NUL-terminated), or -1. With
 * duplicate keys allowed, the first one. */
int json_get(const json_doc *d, int obj, const char *key);
/* Decoded string, or NULL when `node` is not a string. */
const char *json_str(const json_doc *d, int node, size_t *len);
/* A number written as an integer (no fraction or exponent) that fits int64:
 * 1 and *out set; else 0. */
int json_as_i64(const json_doc *d, int node, int64_t *out);
/* Any number as a double (strtod rounding): 1 and *out set; else 0. */
int json_as_double(const json_doc *d, int node, double *out);

#endif
