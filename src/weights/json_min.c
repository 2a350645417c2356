/* json_min.c — strict bounded JSON parser: one pass over the text with an
 * explicit container stack, nodes in one growing array, decoded strings in
 * one growing arena. ref: RFC 8259 sections 2-8 (grammar, numbers, strings,
 * UTF-8). */
#include "weights/json_min.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    json_type type;
    int first, last, next, count; /* children (arrays/objects); sibling link */
    int has_key, is_int;
    size_t key_off, key_len;      /* in the arena */
    size_t str_off, str_len;      /* STRING: decoded text; NUMBER: the number's own text */
} json_node;

struct json_doc {
    json_node *nodes;
    int n, cap;
    char *arena;
    size_t used, acap;
};

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    json_doc *d;
    const json_limits *lim;
    medsam_error *err;
} parser;

json_limits json_default_limits(void) {
    json_limits l = {64, 1 << 20, 1};
    return l;
}

static medsam_status fail(parser *p, const char *what) {
    return ms_error(p->err, MEDSAM_ERR_FORMAT, "JSON: %s at byte %zu", what, p->pos);
}

static medsam_status nomem(parser *p) { return ms_error(p->err, MEDSAM_ERR_NOMEM, "JSON: out of memory"); }

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Reserves n bytes in the arena; returns their offset or (size_t)-1. */
static size_t arena_reserve(json_doc *d, size_t n) {
    if (n > ((size_t)-1) / 4 - d->used) return (size_t)-1;
    if (d->used + n > d->acap) {
        size_t cap = d->acap ? d->acap : 256;
        while (cap < d->used + n) cap *= 2;
        char *a = realloc(d->arena, cap);
        if (!a) return (size_t)-1;
        d->arena = a;
        d->acap = cap;
    }
    size_t off = d->used;
    d->used += n;
    return off;
}

/* Adds a node under container `parent` (-1 for the root); returns its index or -1. */
static int new_node(parser *p, json_type type, int parent) {
    json_doc *d = p->d;
    if (d->n >= p->lim->max_nodes) return -2;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 64;
        json_node *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        d->nodes = nn;
        d->cap = cap;
    }
    int i = d->n++;
    json_node *x = &d->nodes[i];
    memset(x, 0, sizeof *x);
    x->type = type;
    x->first = x->last = x->next = -1;
    if (parent >= 0) {
        json_node *par = &d->nodes[parent];
        if (par->last >= 0) d->nodes[par->last].next = i;
        else par->first = i;
        par->last = i;
        par->count++;
    }
    return i;
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], h;
        if (c >= '0' && c <= '9') h = c - '0';
        else if (c >= 'a' && c <= 'f') h = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') h = c - 'A' + 10;
        else return 0;
        v = v * 16 + h;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c >= 0xE0 && c <= 0xEF) { k = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { k = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

/* Parses the string at p->pos (on the opening quote) into the arena. */
static medsam_status parse_string(parser *p, size_t *off, size_t *slen) {
    size_t start = ++p->pos, end = start;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) return fail(p, "unterminated string");
    size_t o = arena_reserve(p->d, end - start + 1); /* decoding never grows the text */
    if (o == (size_t)-1) return nomem(p);
    char *out = p->d->arena + o;
    size_t w = 0;
    while (p->pos < end) {
        unsigned char c = p->s[p->pos];
        if (c < 0x20) return fail(p, "control character in a string");
        if (c == '\\') {
            unsigned char e = p->s[p->pos + 1];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                out[w++] = map[simple - "\"\\/bfnrt"];
                p->pos += 2;
                continue;
            }
            if (e != 'u') return fail(p, "invalid escape in a string");
            unsigned cp, lo;
            if (p->pos + 6 > end || !hex4(p->s + p->pos + 2, &cp)) return fail(p, "invalid \\u escape");
            p->pos += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 6 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' || !hex4(p->s + p->pos + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, "high surrogate without its low half");
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            w += put_utf8(out + w, cp);
            continue;
        }
        if (c < 0x80) {
            out[w++] = (char)c;
            p->pos++;
            continue;
        }
        size_t k = utf8_seq(p->s + p->pos, end - p->pos);
        if (!k) return fail(p, "invalid UTF-8 in a string");
        memcpy(out + w, p->s + p->pos, k);
        w += k;
        p->pos += k;
    }
    out[w] = 0;
    p->pos = end + 1;
    p->d->used = o + w + 1; /* give back what decoding saved */
    *off = o;
    *slen = w;
    return MEDSAM_OK;
}

static int is_digit(parser *p) { return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9'; }

static medsam_status parse_number(parser *p, int node) {
    size_t start = p->pos;
    int is_int = 1;
    if (p->s[p->pos] == '-') p->pos++;
    if (!is_digit(p)) return fail(p, "invalid number");
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (is_digit(p)) return fail(p, "leading zero in a number");
    } else {
        while (is_digit(p)) p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        is_int = 0;
        if (!is_digit(p)) return fail(p, "digit expected after '.'");
        while (is_digit(p)) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        is_int = 0;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (!is_digit(p)) return fail(p, "digit expected in an exponent");
        while (is_digit(p)) p->pos++;
    }
    size_t n = p->pos - start, o = arena_reserve(p->d, n + 1);
    if (o == (size_t)-1) return nomem(p);
    memcpy(p->d->arena + o, p->s + start, n);
    p->d->arena[o + n] = 0;
    json_node *x = &p->d->nodes[node];
    x->str_off = o;
    x->str_len = n;
    x->is_int = is_int;
    return MEDSAM_OK;
}

/* Parses one value at p->pos under `parent`; containers are pushed, not descended into. */
static medsam_status parse_value(parser *p, int parent, int has_key, size_t koff, size_t klen, int *node, int *opened) {
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "value expected");
    unsigned char c = p->s[p->pos];
    json_type t;
    static const struct { const char *word; json_type type; } lits[] = {
        {"true", JSON_TRUE}, {"false", JSON_FALSE}, {"null", JSON_NULL}};
    int lit = -1;
    if (c == '{') t = JSON_OBJECT;
    else if (c == '[') t = JSON_ARRAY;
    else if (c == '"') t = JSON_STRING;
    else if (c == '-' || (c >= '0' && c <= '9')) t = JSON_NUMBER;
    else {
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(lits[i].word);
            if (p->len - p->pos >= n && memcmp(p->s + p->pos, lits[i].word, n) == 0) lit = i;
        }
        if (lit < 0) return fail(p, "unexpected character");
        t = lits[lit].type;
    }
    int i = new_node(p, t, parent);
    if (i == -2) return fail(p, "too many values");
    if (i < 0) return nomem(p);
    json_node *x = &p->d->nodes[i];
    x->has_key = has_key;
    x->key_off = koff;
    x->key_len = klen;
    *node = i;
    *opened = t == JSON_OBJECT || t == JSON_ARRAY;
    medsam_status st = MEDSAM_OK;
    if (t == JSON_OBJECT || t == JSON_ARRAY) p->pos++;
    else if (t == JSON_STRING) {
        size_t o, n;
        st = parse_string(p, &o, &n);
        p->d->nodes[i].str_off = o;
        p->d->nodes[i].str_len = n;
    } else if (t == JSON_NUMBER) st = parse_number(p, i);
    else p->pos += strlen(lits[lit].word);
    return st;
}

/* Reads `"key" :` of an object member. */
static medsam_status parse_key(parser *p, size_t *off, size_t *len) {
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "object key (a string) expected");
    medsam_status st = parse_string(p, off, len);
    if (st) return st;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "':' expected after an object key");
    p->pos++;
    return MEDSAM_OK;
}

typedef struct {
    const char *key;
    size_t len;
} key_ref;

static int cmp_key(const void *a, const void *b) {
    const key_ref *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->key, y->key, x->len);
}

static medsam_status check_duplicates(json_doc *d, medsam_error *err) {
    key_ref *keys = NULL;
    int cap = 0;
    medsam_status st = MEDSAM_OK;
    for (int o = 0; o < d->n && !st; o++) {
        const json_node *obj = &d->nodes[o];
        if (obj->type != JSON_OBJECT || obj->count < 2) continue;
        if (obj->count > cap) {
            key_ref *k = realloc(keys, (size_t)obj->count * sizeof *k);
            if (!k) { st = ms_error(err, MEDSAM_ERR_NOMEM, "JSON: out of memory"); break; }
            keys = k;
            cap = obj->count;
        }
        int n = 0;
        for (int c = obj->first; c >= 0; c = d->nodes[c].next)
            keys[n++] = (key_ref){d->arena + d->nodes[c].key_off, d->nodes[c].key_len};
        qsort(keys, (size_t)n, sizeof *keys, cmp_key);
        for (int i = 1; i < n; i++)
            if (cmp_key(&keys[i - 1], &keys[i]) == 0) {
                st = ms_error(err, MEDSAM_ERR_FORMAT, "JSON: duplicate key \"%.200s\"", keys[i].key);
                break;
            }
    }
    free(keys);
    return st;
}

medsam_status json_parse(const char *text, size_t len, const json_limits *lim, json_doc **out, medsam_error *err) {
    *out = NULL;
    json_limits dl = json_default_limits();
    if (!lim) lim = &dl;
    if (!text) return ms_error(err, MEDSAM_ERR_ARG, "JSON: no text");
    if (lim->max_depth < 1 || lim->max_nodes < 1) return ms_error(err, MEDSAM_ERR_ARG, "JSON: invalid limits");
    json_doc *d = calloc(1, sizeof *d);
    int *stack = malloc((size_t)lim->max_depth * sizeof *stack);
    if (!d || !stack) {
        free(d);
        free(stack);
        return ms_error(err, MEDSAM_ERR_NOMEM, "JSON: out of memory");
    }
    parser p = {(const unsigned char *)text, len, 0, d, lim, err};
    int depth = 0, node, opened;
    medsam_status st = parse_value(&p, -1, 0, 0, 0, &node, &opened);
    while (!st) {
        if (opened) { /* a container was just opened: its first member, or its end */
            if (depth >= lim->max_depth) { st = fail(&p, "nesting too deep"); break; }
            stack[depth++] = node;
            json_type t = d->nodes[node].type;
            skip_ws(&p);
            if (p.pos < p.len && p.s[p.pos] == (t == JSON_OBJECT ? '}' : ']')) {
                p.pos++;
                depth--;
                opened = 0;
                continue;
            }
            size_t ko = 0, kl = 0;
            if (t == JSON_OBJECT && (st = parse_key(&p, &ko, &kl))) break;
            st = parse_value(&p, node, t == JSON_OBJECT, ko, kl, &node, &opened);
            continue;
        }
        /* a value is complete: the next member of the innermost container, its end, or the end of input */
        skip_ws(&p);
        if (depth == 0) {
            if (p.pos != p.len) st = fail(&p, "content after the JSON value");
            break;
        }
        int top = stack[depth - 1];
        json_type tt = d->nodes[top].type;
        if (p.pos >= p.len) { st = fail(&p, "unexpected end of input"); break; }
        if (p.s[p.pos] == ',') {
            p.pos++;
            size_t ko = 0, kl = 0;
            if (tt == JSON_OBJECT && (st = parse_key(&p, &ko, &kl))) break;
            st = parse_value(&p, top, tt == JSON_OBJECT, ko, kl, &node, &opened);
        } else if (p.s[p.pos] == (tt == JSON_OBJECT ? '}' : ']')) {
            p.pos++;
            depth--;
        } else {
            st = fail(&p, tt == JSON_OBJECT ? "',' or '}' expected" : "',' or ']' expected");
        }
    }
    free(stack);
    if (!st && lim->reject_duplicate_keys) st = check_duplicates(d, err);
    if (st) {
        json_free(d);
        return st;
    }
    *out = d;
    return MEDSAM_OK;
}

void json_free(json_doc *d) {
    if (!d) return;
    free(d->nodes);
    free(d->arena);
    free(d);
}

static const json_node *at(const json_doc *d, int node) {
    return d && node >= 0 && node < d->n ? &d->nodes[node] : NULL;
}

int json_root(const json_doc *d) { return d && d->n > 0 ? 0 : -1; }
int json_node_count(const json_doc *d) { return d ? d->n : 0; }
json_type json_node_type(const json_doc *d, int node) { const json_node *x = at(d, node); return x ? x->type : JSON_NULL; }
int json_len(const json_doc *d, int node) { const json_node *x = at(d, node); return x ? x->count : 0; }
int json_first(const json_doc *d, int node) { const json_node *x = at(d, node); return x ? x->first : -1; }
int json_next(const json_doc *d, int node) { const json_node *x = at(d, node); return x ? x->next : -1; }

const char *json_key(const json_doc *d, int node, size_t *len) {
    const json_node *x = at(d, node);
    if (!x || !x->has_key) return NULL;
    if (len) *len = x->key_len;
    return d->arena + x->key_off;
}

int json_get(const json_doc *d, int obj, const char *key) {
    const json_node *o = at(d, obj);
    if (!o || o->type != JSON_OBJECT || !key) return -1;
    size_t n = strlen(key);
    for (int c = o->first; c >= 0; c = d->nodes[c].next)
        if (d->nodes[c].key_len == n && memcmp(d->arena + d->nodes[c].key_off, key, n) == 0) return c;
    return -1;
}

const char *json_str(const json_doc *d, int node, size_t *len) {
    const json_node *x = at(d, node);
    if (!x || x->type != JSON_STRING) return NULL;
    if (len) *len = x->str_len;
    return d->arena + x->str_off;
}

int json_as_i64(const json_doc *d, int node, int64_t *out) {
    const json_node *x = at(d, node);
    if (!x || x->type != JSON_NUMBER || !x->is_int) return 0;
    const char *s = d->arena + x->str_off;
    int neg = *s == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (s += neg; *s; s++) {
        unsigned dg = (unsigned)(*s - '0');
        if (v > (limit - dg) / 10) return 0;
        v = v * 10 + dg;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

int json_as_double(const json_doc *d, int node, double *out) {
    const json_node *x = at(d, node);
    if (!x || x->type != JSON_NUMBER) return 0;
    *out = strtod(d->arena + x->str_off, NULL);
    return 1;
}
