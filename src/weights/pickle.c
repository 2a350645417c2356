/* pickle.c — restricted unpickler for torch checkpoints (protocols 2-5).
 *
 * A stack machine over the opcode stream that builds pth_value nodes. It
 * never imports or calls anything: GLOBAL / STACK_GLOBAL resolve against a
 * fixed allow list, and REDUCE / NEWOBJ on an allowed global construct the
 * value that global would have produced (a dict, a set, a tensor view over a
 * storage reference). Every length is checked against the bytes left, the
 * memo index against the pickle size, and the node count against a limit, so
 * a malformed pickle ends in an error, never in a crash or an allocation
 * larger than a small multiple of its size. The machine is iterative: nesting
 * depth does not grow the C stack. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "weights/pickle.h"

enum {
    G_ORDERED_DICT = 1,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_TENSOR,
    G_REBUILD_PARAMETER,
    G_REBUILD_PARAMETER_WITH_STATE,
    G_STORAGE,
    G_SET,
    G_FROZENSET,
    G_CODECS_ENCODE,
};

static const struct {
    const char *module, *name;
    int id;
    pth_dtype dtype; /* for G_STORAGE */
} ALLOWED[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, PTH_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, PTH_F32},
    {"torch._utils", "_rebuild_tensor", G_REBUILD_TENSOR, PTH_F32},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, PTH_F32},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAMETER_WITH_STATE, PTH_F32},
    {"torch", "FloatStorage", G_STORAGE, PTH_F32},
    {"torch", "HalfStorage", G_STORAGE, PTH_F16},
    {"torch", "BFloat16Storage", G_STORAGE, PTH_BF16},
    {"torch", "DoubleStorage", G_STORAGE, PTH_F64},
    {"torch", "LongStorage", G_STORAGE, PTH_I64},
    {"torch", "IntStorage", G_STORAGE, PTH_I32},
    {"torch", "ShortStorage", G_STORAGE, PTH_I16},
    {"torch", "CharStorage", G_STORAGE, PTH_I8},
    {"torch", "ByteStorage", G_STORAGE, PTH_U8},
    {"torch", "BoolStorage", G_STORAGE, PTH_BOOL},
    {"builtins", "set", G_SET, PTH_F32},
    {"__builtin__", "set", G_SET, PTH_F32},
    {"builtins", "frozenset", G_FROZENSET, PTH_F32},
    {"__builtin__", "frozenset", G_FROZENSET, PTH_F32},
    {"_codecs", "encode", G_CODECS_ENCODE, PTH_F32},
};

#define MAX_GLOBAL_NAME 256
#define MAX_MEMO_INDEX ((size_t)1 << 26)

typedef struct {
    const uint8_t *buf;
    size_t len, pos, op_pos;
    pth_heap *h;
    pth_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    pth_value **memo;
    size_t memo_cap, memo_count;
    medsam_error *err;
} unpickler;

static medsam_status fail(unpickler *u, medsam_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static medsam_status fail(unpickler *u, medsam_status code, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ms_error(u->err, code, "pickle byte %zu (opcode 0x%02x): %s", u->op_pos, u->buf[u->op_pos], msg);
}

static medsam_status bad(unpickler *u, const char *msg) { return fail(u, MEDSAM_ERR_FORMAT, "%s", msg); }

static medsam_status oom(unpickler *u) {
    return fail(u, MEDSAM_ERR_NOMEM, "out of memory or more than %zu objects", (size_t)PTH_PICKLE_MAX_NODES);
}

/* Returns a pointer to the next n bytes and advances, or NULL when fewer remain. */
static const uint8_t *take(unpickler *u, size_t n) {
    if (n > u->len - u->pos) return NULL;
    const uint8_t *p = u->buf + u->pos;
    u->pos += n;
    return p;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static size_t frame_base(const unpickler *u) { return u->nmarks ? u->marks[u->nmarks - 1] : 0; }

static medsam_status push(unpickler *u, pth_value *v) {
    if (!v) return oom(u);
    if (u->sp == u->stack_cap) {
        size_t cap = u->stack_cap ? 2 * u->stack_cap : 64;
        pth_value **s = realloc(u->stack, cap * sizeof *s);
        if (!s) return oom(u);
        u->stack = s;
        u->stack_cap = cap;
    }
    u->stack[u->sp++] = v;
    return MEDSAM_OK;
}

static pth_value *pop(unpickler *u) { return u->sp > frame_base(u) ? u->stack[--u->sp] : NULL; }
static pth_value *top(unpickler *u) { return u->sp > frame_base(u) ? u->stack[u->sp - 1] : NULL; }

/* Removes the innermost mark; *start is where the items above it begin. */
static medsam_status pop_mark(unpickler *u, size_t *start) {
    if (!u->nmarks) return bad(u, "no MARK on the stack");
    *start = u->marks[--u->nmarks];
    return MEDSAM_OK;
}

static medsam_status memo_put(unpickler *u, size_t idx, pth_value *v) {
    if (!v) return bad(u, "memo store from an empty stack");
    if (idx >= MAX_MEMO_INDEX || idx > u->len) return bad(u, "memo index out of range");
    if (idx >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        pth_value **m = realloc(u->memo, cap * sizeof *m);
        if (!m) return oom(u);
        memset(m + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *m);
        u->memo = m;
        u->memo_cap = cap;
    }
    if (!u->memo[idx]) u->memo_count++;
    u->memo[idx] = v;
    return MEDSAM_OK;
}

static medsam_status memo_get(unpickler *u, uint64_t idx) {
    if (idx >= u->memo_cap || !u->memo[idx]) return bad(u, "memo lookup of an unset index");
    return push(u, u->memo[idx]);
}

/* Reads a '\n'-terminated text argument of at most max bytes into out. */
static medsam_status read_line(unpickler *u, char *out, size_t max) {
    const uint8_t *start = u->buf + u->pos;
    size_t avail = u->len - u->pos, n = 0;
    while (n < avail && n < max && start[n] != '\n') n++;
    if (n >= avail || start[n] != '\n') return bad(u, "unterminated or overlong text argument");
    if (memchr(start, 0, n)) return bad(u, "NUL byte in text argument");
    memcpy(out, start, n);
    out[n] = 0;
    u->pos += n + 1;
    return MEDSAM_OK;
}

static medsam_status read_text_int(unpickler *u, int64_t *out) {
    char line[64];
    medsam_status st = read_line(u, line, sizeof line - 1);
    if (st) return st;
    size_t n = strlen(line);
    if (n && line[n - 1] == 'L') line[--n] = 0; /* protocol-0 LONG suffix */
    char *end;
    long long v = strtoll(line, &end, 10);
    if (!n || *end) return bad(u, "bad text integer");
    *out = v;
    return MEDSAM_OK;
}

/* Two's-complement little-endian integer of n bytes (LONG1 / LONG4). */
static medsam_status push_long(unpickler *u, const uint8_t *p, size_t n) {
    if (n == 0) return push(u, pth_new_int(u->h, 0));
    size_t keep = n < 8 ? n : 8;
    uint8_t fill = (p[n - 1] & 0x80) ? 0xFF : 0x00;
    for (size_t i = 8; i < n; i++)
        if (p[i] != fill) return fail(u, MEDSAM_ERR_UNSUPPORTED, "integer does not fit in 64 bits");
    if (n > 8 && ((p[7] & 0x80) ? 0xFF : 0x00) != fill)
        return fail(u, MEDSAM_ERR_UNSUPPORTED, "integer does not fit in 64 bits");
    uint64_t v = le(p, (int)keep);
    if (keep < 8 && (p[keep - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * keep);
    return push(u, pth_new_int(u->h, (int64_t)v));
}

/* Copies a printable version of s for messages. */
static void printable(char *dst, size_t cap, const char *s) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) dst[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    dst[i] = 0;
}

static medsam_status resolve_global(unpickler *u, const char *module, const char *name) {
    for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++) {
        if (strcmp(ALLOWED[i].module, module) == 0 && strcmp(ALLOWED[i].name, name) == 0) {
            pth_value *g = pth_new_node(u->h, PTH_VAL_GLOBAL);
            if (g) { g->kind = ALLOWED[i].id; g->i = ALLOWED[i].dtype; }
            return push(u, g);
        }
    }
    char m[120], n[120];
    printable(m, sizeof m, module);
    printable(n, sizeof n, name);
    size_t nl = strlen(name);
    if (strcmp(module, "torch") == 0 && nl > 7 && strcmp(name + nl - 7, "Storage") == 0)
        return ms_error(u->err, MEDSAM_ERR_UNSUPPORTED, "tensor storage type torch.%s is not supported", n);
    return ms_error(u->err, MEDSAM_ERR_UNSAFE,
                    "refusing pickle global '%s.%s' (only tensors and state dicts can be loaded)", m, n);
}

static int is_int(const pth_value *v) { return v && v->type == PTH_VAL_INT; }

/* A storage reference from the persistent id ('storage', torch.XStorage, key, location, numel). */
static medsam_status persistent_load(unpickler *u, pth_value *pid) {
    if (!pid || pid->type != PTH_VAL_TUPLE || pid->len != 5) return bad(u, "persistent id is not a 5-tuple");
    pth_value **it = pid->items;
    if (it[0]->type != PTH_VAL_STR || strcmp(it[0]->str, "storage") != 0)
        return bad(u, "persistent id is not a storage");
    if (it[1]->type != PTH_VAL_GLOBAL || it[1]->kind != G_STORAGE) return bad(u, "persistent id has no storage type");
    if (it[2]->type != PTH_VAL_STR || it[2]->len == 0 || it[2]->len > 64) return bad(u, "bad storage key");
    for (size_t i = 0; i < it[2]->len; i++) {
        char c = it[2]->str[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            return bad(u, "storage key has characters other than [A-Za-z0-9_]");
    }
    if (it[3]->type != PTH_VAL_STR) return bad(u, "storage location is not a string");
    if (!is_int(it[4]) || it[4]->i < 0 || it[4]->i > INT64_MAX / 8) return bad(u, "bad storage element count");
    pth_value *s = pth_new_node(u->h, PTH_VAL_STORAGE);
    if (!s) return oom(u);
    s->kind = (int)it[1]->i;
    s->i = it[4]->i;
    s->str = malloc(it[2]->len + 1);
    if (!s->str) return oom(u);
    memcpy(s->str, it[2]->str, it[2]->len + 1);
    s->len = it[2]->len;
    return push(u, s);
}

/* Reads a tuple of non-negative ints (a size or stride) of at most PTH_MAX_DIMS. */
static int int_tuple(const pth_value *v, int64_t *out, int *n) {
    if (!v || v->type != PTH_VAL_TUPLE || v->len > PTH_MAX_DIMS) return 0;
    for (size_t i = 0; i < v->len; i++) {
        if (!is_int(v->items[i]) || v->items[i]->i < 0 || v->items[i]->i > ((int64_t)1 << 50)) return 0;
        out[i] = v->items[i]->i;
    }
    *n = (int)v->len;
    return 1;
}

/* torch._utils._rebuild_tensor[_v2](storage, storage_offset, size, stride, ...) */
static medsam_status rebuild_tensor(unpickler *u, pth_value *const *a) {
    pth_value *storage = a[0];
    if (storage->type != PTH_VAL_STORAGE) return bad(u, "tensor rebuilt from something other than a storage");
    if (!is_int(a[1]) || a[1]->i < 0 || a[1]->i > ((int64_t)1 << 60)) return bad(u, "bad tensor storage offset");
    int64_t shape[PTH_MAX_DIMS], stride[PTH_MAX_DIMS];
    int nd, ns;
    if (!int_tuple(a[2], shape, &nd))
        return fail(u, MEDSAM_ERR_UNSUPPORTED, "tensor size is not a tuple of at most %d ints", PTH_MAX_DIMS);
    if (!int_tuple(a[3], stride, &ns) || ns != nd) return bad(u, "tensor stride does not match its size");
    pth_value *v = pth_new_node(u->h, PTH_VAL_TENSOR);
    pth_tensor *t = v ? calloc(1, sizeof *t) : NULL;
    if (!t) return oom(u);
    v->tensor = t;
    t->dtype = (pth_dtype)storage->kind;
    t->ndim = nd;
    t->storage_offset = a[1]->i;
    t->numel = 1;
    int64_t reach = t->storage_offset; /* last element index the view touches */
    for (int d = 0; d < nd; d++) {
        t->shape[d] = shape[d];
        t->stride[d] = stride[d];
        if (shape[d] && t->numel > ((int64_t)1 << 60) / shape[d]) return bad(u, "tensor too large");
        t->numel *= shape[d];
        int64_t span;
        if (shape[d] && (__builtin_mul_overflow(shape[d] - 1, stride[d], &span) ||
                         __builtin_add_overflow(reach, span, &reach) || reach > ((int64_t)1 << 60)))
            return bad(u, "tensor view too large");
    }
    t->storage_key = storage->str;
    t->storage_numel = storage->i;
    t->storage_entry = -1;
    return push(u, v);
}

/* Bytes from a UTF-8 string whose code points are all < 256 (latin-1). */
static medsam_status latin1_bytes(unpickler *u, const pth_value *s) {
    uint8_t *out = malloc(s->len + 1);
    if (!out) return oom(u);
    size_t n = 0;
    for (size_t i = 0; i < s->len; i++) {
        uint8_t c = (uint8_t)s->str[i];
        if (c < 0x80) {
            out[n++] = c;
        } else if ((c == 0xC2 || c == 0xC3) && i + 1 < s->len && ((uint8_t)s->str[i + 1] & 0xC0) == 0x80) {
            out[n++] = (uint8_t)(((c & 0x03) << 6) | ((uint8_t)s->str[++i] & 0x3F));
        } else {
            free(out);
            return bad(u, "_codecs.encode: text is not latin-1");
        }
    }
    pth_value *b = pth_new_bytes(u->h, out, n);
    free(out);
    return push(u, b);
}

/* Builds what calling allowed global g with args would return; nothing is executed. */
static medsam_status call_global(unpickler *u, pth_value *g, pth_value *args, int is_class_call) {
    if (!g || g->type != PTH_VAL_GLOBAL) return bad(u, "call of something that is not an allowed global");
    if (!args || args->type != PTH_VAL_TUPLE) return bad(u, "call arguments are not a tuple");
    size_t n = args->len;
    pth_value *const *a = args->items;
    int id = g->kind;
    if (is_class_call && id != G_ORDERED_DICT && id != G_SET && id != G_FROZENSET)
        return bad(u, "NEWOBJ on a global that is not a class");
    switch (id) {
    case G_ORDERED_DICT:
        if (n != 0) return fail(u, MEDSAM_ERR_UNSUPPORTED, "OrderedDict called with arguments");
        return push(u, pth_new_dict(u->h, 1));
    case G_SET:
    case G_FROZENSET: {
        if (n > 1 || (n == 1 && a[0]->type != PTH_VAL_LIST && a[0]->type != PTH_VAL_TUPLE))
            return bad(u, "set() arguments must be empty or one list");
        pth_value *s = pth_new_set(u->h, id == G_FROZENSET);
        for (size_t i = 0; s && n == 1 && i < a[0]->len; i++)
            if (pth_list_append(u->h, s, a[0]->items[i])) return oom(u);
        return push(u, s);
    }
    case G_CODECS_ENCODE:
        if (n < 1 || n > 2 || a[0]->type != PTH_VAL_STR) return bad(u, "bad _codecs.encode arguments");
        if (n == 1) return push(u, pth_new_bytes(u->h, a[0]->str, a[0]->len)); /* utf-8 */
        if (a[1]->type != PTH_VAL_STR ||
            (strcmp(a[1]->str, "latin1") != 0 && strcmp(a[1]->str, "latin-1") != 0))
            return fail(u, MEDSAM_ERR_UNSUPPORTED, "_codecs.encode with an encoding other than latin1");
        return latin1_bytes(u, a[0]);
    case G_REBUILD_TENSOR_V2:
        if (n != 6 && n != 7) return bad(u, "_rebuild_tensor_v2 takes 6 or 7 arguments");
        return rebuild_tensor(u, a);
    case G_REBUILD_TENSOR:
        if (n != 4) return bad(u, "_rebuild_tensor takes 4 arguments");
        return rebuild_tensor(u, a);
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_WITH_STATE:
        if (n != (id == G_REBUILD_PARAMETER ? 3u : 4u) || a[0]->type != PTH_VAL_TENSOR)
            return bad(u, "bad _rebuild_parameter arguments");
        return push(u, a[0]); /* a Parameter loads as its tensor */
    case G_STORAGE:
        return fail(u, MEDSAM_ERR_UNSUPPORTED, "constructing a storage object directly is not supported");
    }
    return bad(u, "unknown global");
}

/* Pops MARK and the items above it into a new tuple / list / set / dict. */
static medsam_status collect(unpickler *u, pth_vtype type) {
    size_t start = 0;
    medsam_status st = pop_mark(u, &start);
    if (st) return st;
    size_t n = u->sp - start;
    pth_value *v;
    if (type == PTH_VAL_TUPLE) {
        v = pth_new_tuple(u->h, n ? u->stack + start : NULL, n);
    } else if (type == PTH_VAL_DICT) {
        if (n % 2) return bad(u, "odd number of items for a dict");
        v = pth_new_dict(u->h, 0);
        for (size_t i = 0; v && i < n; i += 2)
            if (pth_dict_append(u->h, v, u->stack[start + i], u->stack[start + i + 1])) return oom(u);
    } else {
        v = type == PTH_VAL_SET ? pth_new_set(u->h, 1) : pth_new_list(u->h);
        for (size_t i = 0; v && i < n; i++)
            if (pth_list_append(u->h, v, u->stack[start + i])) return oom(u);
    }
    u->sp = start;
    return push(u, v);
}

/* APPENDS / SETITEMS / ADDITEMS: adds the items above MARK to the container below it. */
static medsam_status extend(unpickler *u, pth_vtype want) {
    size_t start = 0;
    medsam_status st = pop_mark(u, &start);
    if (st) return st;
    size_t n = u->sp - start;
    pth_value *c = start > frame_base(u) ? u->stack[start - 1] : NULL;
    if (!c || c->type != want) return bad(u, "items added to an object of the wrong type");
    if (want == PTH_VAL_DICT && n % 2) return bad(u, "odd number of items for SETITEMS");
    for (size_t i = 0; i < n; i += (want == PTH_VAL_DICT ? 2 : 1)) {
        int r = want == PTH_VAL_DICT ? pth_dict_append(u->h, c, u->stack[start + i], u->stack[start + i + 1])
                                     : pth_list_append(u->h, c, u->stack[start + i]);
        if (r) return oom(u);
    }
    u->sp = start;
    return MEDSAM_OK;
}

static medsam_status push_blob(unpickler *u, pth_vtype type, int len_bytes, int is_signed) {
    const uint8_t *p = take(u, (size_t)len_bytes);
    if (!p) return bad(u, "truncated length");
    uint64_t n = le(p, len_bytes);
    if (is_signed && (n & 0x80000000u)) return bad(u, "negative string length");
    const uint8_t *s = n <= u->len - u->pos ? take(u, (size_t)n) : NULL;
    if (!s) return bad(u, "string or bytes run past the end of the pickle");
    return push(u, type == PTH_VAL_STR ? pth_new_str(u->h, (const char *)s, (size_t)n)
                                       : pth_new_bytes(u->h, s, (size_t)n));
}

/* Executes one opcode; *done is set by STOP. */
static medsam_status step(unpickler *u, int *done, pth_value **root) {
    u->op_pos = u->pos;
    uint8_t op = u->buf[u->pos++];
    const uint8_t *p;
    pth_value *a, *b, *c;
    int64_t iv;
    size_t start = 0;
    medsam_status st;
    char mod[MAX_GLOBAL_NAME + 1], name[MAX_GLOBAL_NAME + 1];
#define NEED(n) do { if (!(p = take(u, (n)))) return bad(u, "truncated argument"); } while (0)
    switch (op) {
    case 0x80: /* PROTO */
        NEED(1);
        if (p[0] > 5) return fail(u, MEDSAM_ERR_UNSUPPORTED, "pickle protocol %d is not supported", p[0]);
        return MEDSAM_OK;
    case 0x95: /* FRAME */
        NEED(8);
        if (le(p, 8) > u->len - u->pos) return bad(u, "frame runs past the end of the pickle");
        return MEDSAM_OK;
    case '.': /* STOP */
        if (!(*root = top(u))) return bad(u, "STOP with an empty stack");
        *done = 1;
        return MEDSAM_OK;
    case '(': /* MARK */
        if (u->nmarks == u->marks_cap) {
            size_t cap = u->marks_cap ? 2 * u->marks_cap : 16;
            size_t *m = realloc(u->marks, cap * sizeof *m);
            if (!m) return oom(u);
            u->marks = m;
            u->marks_cap = cap;
        }
        u->marks[u->nmarks++] = u->sp;
        return MEDSAM_OK;
    case '0': /* POP: an item, or the mark when the frame is empty */
        if (pop(u)) return MEDSAM_OK;
        return pop_mark(u, &start);
    case '1': /* POP_MARK */
        if ((st = pop_mark(u, &start))) return st;
        u->sp = start;
        return MEDSAM_OK;
    case '2': /* DUP */
        if (!(a = top(u))) return bad(u, "DUP of an empty stack");
        return push(u, a);
    case 'N': return push(u, pth_new_none(u->h));
    case 0x88: return push(u, pth_new_bool(u->h, 1));
    case 0x89: return push(u, pth_new_bool(u->h, 0));
    case 'J': NEED(4); return push(u, pth_new_int(u->h, (int32_t)(uint32_t)le(p, 4)));
    case 'K': NEED(1); return push(u, pth_new_int(u->h, p[0]));
    case 'M': NEED(2); return push(u, pth_new_int(u->h, (int64_t)le(p, 2)));
    case 0x8a: /* LONG1 */
        NEED(1);
        start = p[0];
        NEED(start);
        return push_long(u, p, start);
    case 0x8b: /* LONG4 */
        NEED(4);
        if (p[3] & 0x80) return bad(u, "negative LONG4 length");
        start = (size_t)le(p, 4);
        NEED(start);
        return push_long(u, p, start);
    case 'I': /* INT (text); I00/I01 are False/True */
        if (u->len - u->pos >= 3 && u->buf[u->pos] == '0' && u->buf[u->pos + 2] == '\n' &&
            (u->buf[u->pos + 1] == '0' || u->buf[u->pos + 1] == '1')) {
            int t = u->buf[u->pos + 1] == '1';
            u->pos += 3;
            return push(u, pth_new_bool(u->h, t));
        }
        /* fall through */
    case 'L': /* LONG (text) */
        if ((st = read_text_int(u, &iv))) return st;
        return push(u, pth_new_int(u->h, iv));
    case 'G': { /* BINFLOAT, big-endian */
        NEED(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = (bits << 8) | p[i];
        double d;
        memcpy(&d, &bits, sizeof d);
        return push(u, pth_new_float(u->h, d));
    }
    case 'F': { /* FLOAT (text) */
        char line[64], *end;
        if ((st = read_line(u, line, sizeof line - 1))) return st;
        double d = strtod(line, &end);
        if (end == line || *end) return bad(u, "bad text float");
        return push(u, pth_new_float(u->h, d));
    }
    case 'X': return push_blob(u, PTH_VAL_STR, 4, 0);  /* BINUNICODE */
    case 0x8c: return push_blob(u, PTH_VAL_STR, 1, 0); /* SHORT_BINUNICODE */
    case 0x8d: return push_blob(u, PTH_VAL_STR, 8, 0); /* BINUNICODE8 */
    case 'T': return push_blob(u, PTH_VAL_STR, 4, 1);  /* BINSTRING */
    case 'U': return push_blob(u, PTH_VAL_STR, 1, 0);  /* SHORT_BINSTRING */
    case 'B': return push_blob(u, PTH_VAL_BYTES, 4, 0);  /* BINBYTES */
    case 'C': return push_blob(u, PTH_VAL_BYTES, 1, 0);  /* SHORT_BINBYTES */
    case 0x8e: return push_blob(u, PTH_VAL_BYTES, 8, 0); /* BINBYTES8 */
    case 0x96: return push_blob(u, PTH_VAL_BYTES, 8, 0); /* BYTEARRAY8 */
    case ')': return push(u, pth_new_tuple(u->h, NULL, 0));
    case ']': return push(u, pth_new_list(u->h));
    case '}': return push(u, pth_new_dict(u->h, 0));
    case 0x8f: return push(u, pth_new_set(u->h, 0)); /* EMPTY_SET */
    case 't': return collect(u, PTH_VAL_TUPLE);
    case 'l': return collect(u, PTH_VAL_LIST);
    case 'd': return collect(u, PTH_VAL_DICT);
    case 0x91: return collect(u, PTH_VAL_SET); /* FROZENSET */
    case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
        size_t n = (size_t)(op - 0x84);
        if (u->sp - frame_base(u) < n) return bad(u, "stack underflow");
        u->sp -= n;
        return push(u, pth_new_tuple(u->h, u->stack + u->sp, n));
    }
    case 'a': /* APPEND */
        b = pop(u);
        a = top(u);
        if (!b || !a || a->type != PTH_VAL_LIST) return bad(u, "APPEND to something that is not a list");
        return pth_list_append(u->h, a, b) ? oom(u) : MEDSAM_OK;
    case 'e': return extend(u, PTH_VAL_LIST);  /* APPENDS */
    case 'u': return extend(u, PTH_VAL_DICT);  /* SETITEMS */
    case 0x90: return extend(u, PTH_VAL_SET);  /* ADDITEMS */
    case 's': /* SETITEM */
        c = pop(u);
        b = pop(u);
        a = top(u);
        if (!c || !b || !a || a->type != PTH_VAL_DICT) return bad(u, "SETITEM on something that is not a dict");
        return pth_dict_append(u->h, a, b, c) ? oom(u) : MEDSAM_OK;
    case 'b': /* BUILD: state of a dict (e.g. state_dict._metadata) or tensor is dropped */
        b = pop(u);
        a = top(u);
        if (!b || !a) return bad(u, "BUILD with an empty stack");
        if (a->type != PTH_VAL_DICT && a->type != PTH_VAL_TENSOR)
            return fail(u, MEDSAM_ERR_UNSUPPORTED, "BUILD on a value of type %d", (int)a->type);
        return MEDSAM_OK;
    case 'h': NEED(1); return memo_get(u, p[0]);              /* BINGET */
    case 'j': NEED(4); return memo_get(u, le(p, 4));          /* LONG_BINGET */
    case 'q': NEED(1); return memo_put(u, p[0], top(u));      /* BINPUT */
    case 'r': NEED(4); return memo_put(u, (size_t)le(p, 4), top(u)); /* LONG_BINPUT */
    case 0x94: return memo_put(u, u->memo_count, top(u));    /* MEMOIZE */
    case 'g': /* GET (text) */
        if ((st = read_text_int(u, &iv))) return st;
        return iv < 0 ? bad(u, "negative memo index") : memo_get(u, (uint64_t)iv);
    case 'p': /* PUT (text) */
        if ((st = read_text_int(u, &iv))) return st;
        return iv < 0 ? bad(u, "negative memo index") : memo_put(u, (size_t)iv, top(u));
    case 'c': /* GLOBAL */
        if ((st = read_line(u, mod, MAX_GLOBAL_NAME)) || (st = read_line(u, name, MAX_GLOBAL_NAME))) return st;
        return resolve_global(u, mod, name);
    case 0x93: /* STACK_GLOBAL */
        b = pop(u);
        a = pop(u);
        if (!a || !b || a->type != PTH_VAL_STR || b->type != PTH_VAL_STR || a->len > MAX_GLOBAL_NAME ||
            b->len > MAX_GLOBAL_NAME || strlen(a->str) != a->len || strlen(b->str) != b->len)
            return bad(u, "STACK_GLOBAL needs two strings");
        return resolve_global(u, a->str, b->str);
    case 'i': /* INST: names a class and instantiates it */
        if ((st = read_line(u, mod, MAX_GLOBAL_NAME)) || (st = read_line(u, name, MAX_GLOBAL_NAME))) return st;
        if ((st = resolve_global(u, mod, name))) return st;
        return fail(u, MEDSAM_ERR_UNSUPPORTED, "INST opcode is not supported");
    case 'o': return fail(u, MEDSAM_ERR_UNSUPPORTED, "OBJ opcode is not supported");
    case 0x82: case 0x83: case 0x84:
        return ms_error(u->err, MEDSAM_ERR_UNSAFE,
                        "refusing pickle extension-registry code (only tensors and state dicts can be loaded)");
    case 'R': /* REDUCE */
        b = pop(u);
        a = pop(u);
        if (!a || !b) return bad(u, "REDUCE with too few stack items");
        return call_global(u, a, b, 0);
    case 0x81: /* NEWOBJ */
        b = pop(u);
        a = pop(u);
        if (!a || !b) return bad(u, "NEWOBJ with too few stack items");
        return call_global(u, a, b, 1);
    case 0x92: /* NEWOBJ_EX */
        c = pop(u);
        b = pop(u);
        a = pop(u);
        if (!a || !b || !c) return bad(u, "NEWOBJ_EX with too few stack items");
        if (c->type != PTH_VAL_DICT || c->len) return fail(u, MEDSAM_ERR_UNSUPPORTED, "NEWOBJ_EX with keywords");
        return call_global(u, a, b, 1);
    case 'Q': /* BINPERSID */
        return persistent_load(u, pop(u));
    case 'P': return fail(u, MEDSAM_ERR_UNSUPPORTED, "text persistent ids are not supported");
    case 'S': case 'V': return fail(u, MEDSAM_ERR_UNSUPPORTED, "protocol-0 text strings are not supported");
    case 0x97: return fail(u, MEDSAM_ERR_UNSUPPORTED, "out-of-band pickle buffers are not supported");
    case 0x98: return top(u) ? MEDSAM_OK : bad(u, "READONLY_BUFFER with an empty stack");
    }
#undef NEED
    return bad(u, "unknown opcode");
}

medsam_status pth_unpickle(const uint8_t *buf, size_t len, pth_heap *h, pth_value **root, medsam_error *err) {
    unpickler u;
    memset(&u, 0, sizeof u);
    u.buf = buf;
    u.len = len;
    u.h = h;
    u.err = err;
    *root = NULL;
    medsam_status st = MEDSAM_OK;
    int done = 0;
    while (!done && st == MEDSAM_OK) {
        if (u.pos >= u.len) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "pickle ends without a STOP opcode (%zu bytes)", len);
            break;
        }
        st = step(&u, &done, root);
    }
    if (st) *root = NULL;
    free(u.stack);
    free(u.marks);
    free(u.memo);
    return st;
}
