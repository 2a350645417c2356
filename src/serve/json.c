/* json.c — strict bounded JSON parsing (see json.h). Recursive descent over
 * the text with an explicit depth bound; nodes go into one array. */
#include "serve/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    ms_json_doc *doc;
    size_t str_used;
    int max_nodes;
    medsam_error *err;
} parser;

static medsam_status fail(parser *p, const char *what) {
    return ms_error(p->err, MEDSAM_ERR_FORMAT, "JSON: %s at byte %zu", what, p->pos);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int new_node(parser *p, ms_json_type t) {
    if (p->doc->n >= p->max_nodes) return -1;
    int i = p->doc->n++;
    p->doc->nodes[i] = (ms_json_node){.type = t, .first = -1, .next = -1};
    return i;
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned v = c & (0xFF >> (len + 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return len;
}

static char *put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) *o++ = (char)cp;
    else if (cp < 0x800) *o++ = (char)(0xC0 | cp >> 6), *o++ = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        *o++ = (char)(0xE0 | cp >> 12), *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *o++ = (char)(0x80 | (cp & 0x3F));
    else
        *o++ = (char)(0xF0 | cp >> 18), *o++ = (char)(0x80 | ((cp >> 12) & 0x3F)),
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *o++ = (char)(0x80 | (cp & 0x3F));
    return o;
}

/* Parses a string at p->pos (the opening quote); *out points into doc->strings. */
static medsam_status parse_string(parser *p, const char **out, int *out_len) {
    p->pos++; /* opening quote */
    char *start = p->doc->strings + p->str_used, *o = start;
    for (;;) {
        if (p->pos >= p->len) return fail(p, "unterminated string");
        unsigned c = p->s[p->pos];
        if (c == '"') break;
        if (c < 0x20) return fail(p, "control character in a string");
        if (c == '\\') {
            if (p->pos + 1 >= p->len) return fail(p, "unterminated escape");
            unsigned e = p->s[p->pos + 1];
            p->pos += 2;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (p->pos + 4 > p->len || !hex4(p->s + p->pos, &cp)) return fail(p, "bad \\u escape");
                p->pos += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "lone low surrogate");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (p->pos + 6 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                        !hex4(p->s + p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return fail(p, "lone high surrogate");
                    p->pos += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) return fail(p, "\\u0000 in a string");
                o = put_utf8(o, cp);
                break;
            }
            default: p->pos -= 1; return fail(p, "unknown escape");
            }
            continue;
        }
        int n = utf8_len(p->s + p->pos, p->len - p->pos);
        if (!n) return fail(p, "invalid UTF-8");
        memcpy(o, p->s + p->pos, (size_t)n);
        o += n;
        p->pos += (size_t)n;
    }
    p->pos++; /* closing quote */
    *o++ = 0;
    *out = start;
    *out_len = (int)(o - start - 1);
    p->str_used += (size_t)(o - start);
    return MEDSAM_OK;
}

static medsam_status parse_number(parser *p, double *out) {
    size_t b = p->pos, i = p->pos;
    const unsigned char *s = p->s;
    if (i < p->len && s[i] == '-') i++;
    if (i >= p->len || !(s[i] >= '0' && s[i] <= '9')) return fail(p, "bad number");
    if (s[i] == '0') i++;
    else
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || !(s[i] >= '0' && s[i] <= '9')) return fail(p, "bad number");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->len || !(s[i] >= '0' && s[i] <= '9')) return fail(p, "bad number");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i - b > 64) return fail(p, "number longer than 64 characters");
    char buf[72];
    memcpy(buf, s + b, i - b);
    buf[i - b] = 0;
    double v = strtod(buf, NULL);
    if (!isfinite(v)) return fail(p, "number out of range");
    *out = v;
    p->pos = i;
    return MEDSAM_OK;
}

static medsam_status parse_value(parser *p, int depth, int *out);

static medsam_status parse_container(parser *p, int depth, int idx, int is_obj) {
    const char close = is_obj ? '}' : ']';
    p->pos++; /* [ or { */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return MEDSAM_OK;
    }
    int prev = -1;
    for (;;) {
        const char *key = NULL;
        int klen = 0;
        medsam_status st;
        skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a member name");
            if ((st = parse_string(p, &key, &klen))) return st;
            for (int c = p->doc->nodes[idx].first; c >= 0; c = p->doc->nodes[c].next)
                if (!strcmp(p->doc->nodes[c].key, key)) return fail(p, "duplicate member name");
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':'");
            p->pos++;
        }
        int child;
        if ((st = parse_value(p, depth + 1, &child))) return st;
        ms_json_node *nodes = p->doc->nodes;
        nodes[child].key = key;
        if (prev < 0) nodes[idx].first = child;
        else nodes[prev].next = child;
        prev = child;
        nodes[idx].count++;
        skip_ws(p);
        if (p->pos >= p->len) return fail(p, "unterminated array or object");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            return MEDSAM_OK;
        }
        return fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static medsam_status parse_value(parser *p, int depth, int *out) {
    if (depth > MS_JSON_MAX_DEPTH) return fail(p, "nested too deeply");
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "expected a value");
    unsigned c = p->s[p->pos];
    int idx;
    medsam_status st;
    static const struct { const char *word; ms_json_type t; } WORDS[] = {
        {"null", MS_JSON_NULL}, {"false", MS_JSON_FALSE}, {"true", MS_JSON_TRUE}};
    for (int w = 0; w < 3; w++) {
        size_t n = strlen(WORDS[w].word);
        if (c == (unsigned char)WORDS[w].word[0]) {
            if (p->len - p->pos < n || memcmp(p->s + p->pos, WORDS[w].word, n)) return fail(p, "bad literal");
            if ((idx = new_node(p, WORDS[w].t)) < 0) return fail(p, "too many values");
            p->pos += n;
            *out = idx;
            return MEDSAM_OK;
        }
    }
    if (c == '"') {
        if ((idx = new_node(p, MS_JSON_STRING)) < 0) return fail(p, "too many values");
        const char *s;
        int len;
        if ((st = parse_string(p, &s, &len))) return st;
        p->doc->nodes[idx].str = s, p->doc->nodes[idx].len = len;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if ((idx = new_node(p, MS_JSON_NUMBER)) < 0) return fail(p, "too many values");
        double v = 0;
        if ((st = parse_number(p, &v))) return st;
        p->doc->nodes[idx].num = v;
    } else if (c == '[' || c == '{') {
        if ((idx = new_node(p, c == '{' ? MS_JSON_OBJECT : MS_JSON_ARRAY)) < 0) return fail(p, "too many values");
        if ((st = parse_container(p, depth, idx, c == '{'))) return st;
    } else {
        return fail(p, "unexpected character");
    }
    *out = idx;
    return MEDSAM_OK;
}

medsam_status ms_json_parse(const char *text, size_t len, ms_json_doc *doc, medsam_error *err) {
    memset(doc, 0, sizeof *doc);
    int p_max_nodes;
    if (len > MS_JSON_MAX_TEXT) return ms_error(err, MEDSAM_ERR_NOMEM, "JSON: %zu bytes, over the %d-byte limit", len, MS_JSON_MAX_TEXT);
    /* every value takes at least one byte of text: len + 1 nodes always suffice */
    p_max_nodes = len + 1 < MS_JSON_MAX_NODES ? (int)len + 1 : MS_JSON_MAX_NODES;
    doc->nodes = malloc(sizeof *doc->nodes * (size_t)p_max_nodes);
    doc->strings = malloc(len + 1);
    if (!doc->nodes || !doc->strings) {
        ms_json_free(doc);
        return ms_error(err, MEDSAM_ERR_NOMEM, "JSON: out of memory");
    }
    parser p = {(const unsigned char *)text, len, 0, doc, 0, p_max_nodes, err};
    int root;
    medsam_status st = parse_value(&p, 0, &root);
    if (!st) {
        skip_ws(&p);
        if (p.pos != len) st = fail(&p, "text after the value");
    }
    if (st) ms_json_free(doc);
    return st;
}

void ms_json_free(ms_json_doc *doc) {
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

const ms_json_node *ms_json_get(const ms_json_doc *doc, const ms_json_node *obj, const char *key) {
    if (!obj || obj->type != MS_JSON_OBJECT) return NULL;
    for (int c = obj->first; c >= 0; c = doc->nodes[c].next)
        if (!strcmp(doc->nodes[c].key, key)) return &doc->nodes[c];
    return NULL;
}

const ms_json_node *ms_json_at(const ms_json_doc *doc, const ms_json_node *arr, int i) {
    if (!arr || arr->type != MS_JSON_ARRAY) return NULL;
    for (int c = arr->first; c >= 0; c = doc->nodes[c].next, i--)
        if (i == 0) return &doc->nodes[c];
    return NULL;
}
