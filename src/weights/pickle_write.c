/* pickle_write.c — serialises a pth_value tree as a protocol-2 pickle laid
 * out like torch.save's data.pkl: tensors become
 * torch._utils._rebuild_tensor_v2(persistent storage id, 0, size, stride,
 * False, OrderedDict()), dicts from pth_new_dict(h, 1) become OrderedDicts.
 * Containers and tensors are memoised (BINPUT / BINGET) like Python's
 * pickler, so a value reachable twice is written once and stays shared, and
 * the output is linear in the number of distinct nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "weights/pickle.h"

#define DUMP_MAX_DEPTH 200
#define SETITEMS_BATCH 1000

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int oom;
    const pth_value **tensors;
    size_t nt, tcap;
    const pth_value **memo_keys; /* open-addressing map node -> memo index */
    uint32_t *memo_vals;
    size_t memo_cap, memo_n;
    medsam_error *err;
} dumper;

static void emit(dumper *d, const void *p, size_t n) {
    if (d->oom) return;
    if (n > d->cap - d->len) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap - d->len < n) {
            if (cap > SIZE_MAX / 2) { d->oom = 1; return; }
            cap *= 2;
        }
        uint8_t *b = realloc(d->buf, cap);
        if (!b) { d->oom = 1; return; }
        d->buf = b;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

static void op(dumper *d, uint8_t c) { emit(d, &c, 1); }

static void emit_le(dumper *d, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    emit(d, b, (size_t)n);
}

static size_t memo_slot(const dumper *d, const pth_value *v) {
    size_t h = ((uintptr_t)v >> 4) * 0x9E3779B97F4A7C15ull;
    size_t i = h & (d->memo_cap - 1);
    while (d->memo_keys[i] && d->memo_keys[i] != v) i = (i + 1) & (d->memo_cap - 1);
    return i;
}

/* Memo index of v, or -1 when v has not been written yet. */
static long memo_find(const dumper *d, const pth_value *v) {
    if (!d->memo_cap) return -1;
    size_t i = memo_slot(d, v);
    return d->memo_keys[i] ? (long)d->memo_vals[i] : -1;
}

/* Stores the value on top of the pickle stack as v's memo entry (BINPUT / LONG_BINPUT). */
static void memo_put(dumper *d, const pth_value *v) {
    if (d->oom) return;
    if (2 * (d->memo_n + 1) > d->memo_cap) {
        size_t cap = d->memo_cap ? 2 * d->memo_cap : 256;
        const pth_value **keys = d->memo_keys;
        uint32_t *vals = d->memo_vals;
        size_t old = d->memo_cap;
        d->memo_keys = calloc(cap, sizeof *d->memo_keys);
        d->memo_vals = calloc(cap, sizeof *d->memo_vals);
        d->memo_cap = cap;
        if (!d->memo_keys || !d->memo_vals) { d->oom = 1; free(keys); free(vals); d->memo_cap = 0; return; }
        for (size_t i = 0; i < old; i++)
            if (keys[i]) {
                size_t j = memo_slot(d, keys[i]);
                d->memo_keys[j] = keys[i];
                d->memo_vals[j] = vals[i];
            }
        free(keys);
        free(vals);
    }
    if (d->memo_n >= 0xFFFFFFFFu) { d->oom = 1; return; }
    size_t i = memo_slot(d, v);
    d->memo_keys[i] = v;
    d->memo_vals[i] = (uint32_t)d->memo_n;
    if (d->memo_n < 256) { op(d, 'q'); op(d, (uint8_t)d->memo_n); }
    else { op(d, 'r'); emit_le(d, d->memo_n, 4); }
    d->memo_n++;
}

static void memo_get(dumper *d, long idx) {
    if (idx < 256) { op(d, 'h'); op(d, (uint8_t)idx); }
    else { op(d, 'j'); emit_le(d, (uint64_t)idx, 4); }
}

static void emit_global(dumper *d, const char *module, const char *name) {
    op(d, 'c');
    emit(d, module, strlen(module));
    op(d, '\n');
    emit(d, name, strlen(name));
    op(d, '\n');
}

static void emit_int(dumper *d, int64_t v) {
    if (v >= 0 && v < 256) { op(d, 'K'); emit_le(d, (uint64_t)v, 1); }
    else if (v >= 0 && v < 65536) { op(d, 'M'); emit_le(d, (uint64_t)v, 2); }
    else if (v >= INT32_MIN && v <= INT32_MAX) { op(d, 'J'); emit_le(d, (uint64_t)v, 4); }
    else {
        /* LONG1: shortest little-endian two's complement */
        int n = 8;
        while (n > 1) {
            int64_t hi = v >> (8 * (n - 1) - 1); /* bits that must be pure sign */
            if (hi != 0 && hi != -1) break;
            n--;
        }
        op(d, 0x8a);
        op(d, (uint8_t)n);
        emit_le(d, (uint64_t)v, n);
    }
}

static void emit_str(dumper *d, const char *s, size_t n) {
    op(d, 'X');
    emit_le(d, n, 4);
    emit(d, s, n);
}

static void emit_float(dumper *d, double f) {
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint8_t b[9] = {'G'};
    for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
    emit(d, b, 9);
}

static void emit_empty_ordered_dict(dumper *d) {
    emit_global(d, "collections", "OrderedDict");
    op(d, ')');
    op(d, 'R');
}

static const char *storage_class(pth_dtype dt) {
    static const char *const names[] = {"FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
                                        "LongStorage",  "IntStorage",  "ShortStorage",    "CharStorage",
                                        "ByteStorage",  "BoolStorage"};
    return names[dt];
}

static medsam_status dump_tensor(dumper *d, const pth_value *v) {
    const pth_tensor *t = v->tensor;
    if (t->numel && !t->data)
        return ms_error(d->err, MEDSAM_ERR_UNSUPPORTED,
                        "cannot write a tensor without in-memory data (tensors loaded from a file are not re-saved)");
    size_t key = 0;
    while (key < d->nt && d->tensors[key] != v) key++;
    if (key == d->nt) {
        if (d->nt == d->tcap) {
            size_t cap = d->tcap ? 2 * d->tcap : 64;
            const pth_value **tt = realloc(d->tensors, cap * sizeof *tt);
            if (!tt) return ms_error(d->err, MEDSAM_ERR_NOMEM, "out of memory");
            d->tensors = tt;
            d->tcap = cap;
        }
        d->tensors[d->nt++] = v;
    }
    char keytxt[24];
    int kl = snprintf(keytxt, sizeof keytxt, "%zu", key);
    emit_global(d, "torch._utils", "_rebuild_tensor_v2");
    op(d, '(');
    op(d, '(');
    emit_str(d, "storage", 7);
    emit_global(d, "torch", storage_class(t->dtype));
    emit_str(d, keytxt, (size_t)kl);
    emit_str(d, "cpu", 3);
    emit_int(d, t->storage_numel);
    op(d, 't');
    op(d, 'Q');
    emit_int(d, t->storage_offset);
    for (int pass = 0; pass < 2; pass++) {
        op(d, '(');
        for (int i = 0; i < t->ndim; i++) emit_int(d, pass ? t->stride[i] : t->shape[i]);
        op(d, 't');
    }
    op(d, 0x89);
    emit_empty_ordered_dict(d);
    op(d, 't');
    op(d, 'R');
    return MEDSAM_OK;
}

static medsam_status dump(dumper *d, const pth_value *v, int depth) {
    if (!v) return ms_error(d->err, MEDSAM_ERR_ARG, "NULL value in the tree");
    if (depth > DUMP_MAX_DEPTH)
        return ms_error(d->err, MEDSAM_ERR_ARG, "value tree nested deeper than %d (cyclic?)", DUMP_MAX_DEPTH);
    medsam_status st = MEDSAM_OK;
    int shareable = v->type >= PTH_VAL_TUPLE && v->type <= PTH_VAL_TENSOR;
    long idx = shareable ? memo_find(d, v) : -1;
    if (idx >= 0) { memo_get(d, idx); return d->oom ? ms_error(d->err, MEDSAM_ERR_NOMEM, "out of memory") : MEDSAM_OK; }
    switch (v->type) {
    case PTH_VAL_NONE: op(d, 'N'); break;
    case PTH_VAL_BOOL: op(d, v->i ? 0x88 : 0x89); break;
    case PTH_VAL_INT: emit_int(d, v->i); break;
    case PTH_VAL_FLOAT: emit_float(d, v->f); break;
    case PTH_VAL_STR:
        if (v->len > 0xFFFFFFFFu) return ms_error(d->err, MEDSAM_ERR_ARG, "string too long");
        emit_str(d, v->str, v->len);
        break;
    case PTH_VAL_BYTES: /* protocol 2: _codecs.encode(<latin-1 text>, 'latin1') */
        if (v->len > 0x7FFFFFFFu) return ms_error(d->err, MEDSAM_ERR_ARG, "bytes too long");
        emit_global(d, "_codecs", "encode");
        op(d, 'X');
        size_t n = 0;
        for (size_t i = 0; i < v->len; i++) n += (uint8_t)v->str[i] < 0x80 ? 1 : 2;
        emit_le(d, n, 4);
        for (size_t i = 0; i < v->len; i++) {
            uint8_t c = (uint8_t)v->str[i];
            if (c < 0x80) op(d, c);
            else { op(d, (uint8_t)(0xC0 | (c >> 6))); op(d, (uint8_t)(0x80 | (c & 0x3F))); }
        }
        emit_str(d, "latin1", 6);
        op(d, 0x86);
        op(d, 'R');
        break;
    case PTH_VAL_TUPLE:
        if (v->len == 0) { op(d, ')'); break; }
        if (v->len > 3) op(d, '(');
        for (size_t i = 0; i < v->len && !st; i++) st = dump(d, v->items[i], depth + 1);
        op(d, v->len > 3 ? 't' : (uint8_t)(0x84 + v->len));
        if (!st) {
            idx = memo_find(d, v); /* a cycle through a list may have written it already */
            if (idx >= 0) { op(d, '0'); memo_get(d, idx); } else memo_put(d, v);
        }
        break;
    case PTH_VAL_LIST:
    case PTH_VAL_SET:
        if (v->type == PTH_VAL_SET) emit_global(d, "__builtin__", v->kind ? "frozenset" : "set");
        op(d, ']');
        if (v->type == PTH_VAL_LIST) memo_put(d, v); /* before the items, so a list may contain itself */
        if (v->len) {
            op(d, '(');
            for (size_t i = 0; i < v->len && !st; i++) st = dump(d, v->items[i], depth + 1);
            op(d, 'e');
        }
        if (v->type == PTH_VAL_SET) { op(d, 0x85); op(d, 'R'); memo_put(d, v); }
        break;
    case PTH_VAL_DICT:
        if (v->kind) emit_empty_ordered_dict(d); else op(d, '}');
        memo_put(d, v);
        for (size_t i = 0; i < v->len && !st; i++) {
            if (i % SETITEMS_BATCH == 0) op(d, '(');
            st = dump(d, v->items[2 * i], depth + 1);
            if (!st) st = dump(d, v->items[2 * i + 1], depth + 1);
            if (i % SETITEMS_BATCH == SETITEMS_BATCH - 1 || i + 1 == v->len) op(d, 'u');
        }
        break;
    case PTH_VAL_TENSOR:
        st = dump_tensor(d, v);
        if (!st) memo_put(d, v);
        break;
    case PTH_VAL_GLOBAL:
    case PTH_VAL_STORAGE:
        return ms_error(d->err, MEDSAM_ERR_UNSUPPORTED, "cannot write an internal global/storage node");
    }
    if (!st && d->oom) st = ms_error(d->err, MEDSAM_ERR_NOMEM, "out of memory while writing the pickle");
    return st;
}

medsam_status pth_pickle_dump(const pth_value *root, uint8_t **out, size_t *out_len, const pth_value ***tensors,
                              size_t *ntensors, medsam_error *err) {
    dumper d;
    memset(&d, 0, sizeof d);
    d.err = err;
    *out = NULL;
    *out_len = 0;
    *tensors = NULL;
    *ntensors = 0;
    op(&d, 0x80);
    op(&d, 2);
    medsam_status st = dump(&d, root, 0);
    op(&d, '.');
    free(d.memo_keys);
    free(d.memo_vals);
    if (!st && d.oom) st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory while writing the pickle");
    if (st) {
        free(d.buf);
        free(d.tensors);
        return st;
    }
    *out = d.buf;
    *out_len = d.len;
    *tensors = d.tensors;
    *ntensors = d.nt;
    return MEDSAM_OK;
}
