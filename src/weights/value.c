/* value.c — pth_value nodes: the heap that owns them, constructors,
 * container edits and read-only accessors. */
#include <stdlib.h>
#include <string.h>

#include "weights/pickle.h"

#define SLAB_NODES 256

typedef struct slab {
    struct slab *next;
    pth_value nodes[SLAB_NODES];
} slab;

struct pth_heap {
    slab *first, *last;
    size_t used_in_last; /* nodes used in the last slab */
    size_t count, max_nodes;
    pth_value **index;   /* all nodes in creation order, for pth_heap_node */
    size_t index_cap;
    int failed;
};

int pth_dtype_size(pth_dtype dt) {
    switch (dt) {
    case PTH_F64: case PTH_I64: return 8;
    case PTH_F32: case PTH_I32: return 4;
    case PTH_F16: case PTH_BF16: case PTH_I16: return 2;
    case PTH_I8: case PTH_U8: case PTH_BOOL: return 1;
    }
    return 0;
}

const char *pth_dtype_name(pth_dtype dt) {
    static const char *const names[] = {"float32", "float16", "bfloat16", "float64", "int64",
                                        "int32",   "int16",   "int8",     "uint8",   "bool"};
    return (unsigned)dt < sizeof names / sizeof names[0] ? names[dt] : "?";
}

pth_heap *pth_heap_new(size_t max_nodes) {
    pth_heap *h = calloc(1, sizeof *h);
    if (h) h->max_nodes = max_nodes;
    return h;
}

void pth_heap_free(pth_heap *h) {
    if (!h) return;
    for (size_t i = 0; i < h->count; i++) {
        pth_value *v = h->index[i];
        free(v->str);
        free(v->items);
        free(v->tensor);
    }
    for (slab *s = h->first; s;) {
        slab *next = s->next;
        free(s);
        s = next;
    }
    free(h->index);
    free(h);
}

int pth_heap_failed(const pth_heap *h) { return !h || h->failed; }
void pth_heap_mark_failed(pth_heap *h) { if (h) h->failed = 1; }
size_t pth_heap_count(const pth_heap *h) { return h ? h->count : 0; }
pth_value *pth_heap_node(const pth_heap *h, size_t i) { return h && i < h->count ? h->index[i] : NULL; }

pth_value *pth_new_node(pth_heap *h, pth_vtype type) {
    if (!h) return NULL;
    if (h->failed || (h->max_nodes && h->count >= h->max_nodes)) { h->failed = 1; return NULL; }
    if (h->count == h->index_cap) {
        size_t cap = h->index_cap ? 2 * h->index_cap : 64;
        pth_value **ix = realloc(h->index, cap * sizeof *ix);
        if (!ix) { h->failed = 1; return NULL; }
        h->index = ix;
        h->index_cap = cap;
    }
    if (!h->last || h->used_in_last == SLAB_NODES) {
        slab *s = malloc(sizeof *s);
        if (!s) { h->failed = 1; return NULL; }
        s->next = NULL;
        if (h->last) h->last->next = s; else h->first = s;
        h->last = s;
        h->used_in_last = 0;
    }
    pth_value *v = &h->last->nodes[h->used_in_last++];
    memset(v, 0, sizeof *v);
    v->type = type;
    h->index[h->count++] = v;
    return v;
}

pth_value *pth_new_none(pth_heap *h) { return pth_new_node(h, PTH_VAL_NONE); }

pth_value *pth_new_bool(pth_heap *h, int b) {
    pth_value *v = pth_new_node(h, PTH_VAL_BOOL);
    if (v) v->i = b != 0;
    return v;
}

pth_value *pth_new_int(pth_heap *h, int64_t x) {
    pth_value *v = pth_new_node(h, PTH_VAL_INT);
    if (v) v->i = x;
    return v;
}

pth_value *pth_new_float(pth_heap *h, double x) {
    pth_value *v = pth_new_node(h, PTH_VAL_FLOAT);
    if (v) v->f = x;
    return v;
}

static pth_value *new_blob(pth_heap *h, pth_vtype t, const void *s, size_t len) {
    if (!s && len) { if (h) h->failed = 1; return NULL; }
    pth_value *v = pth_new_node(h, t);
    if (!v) return NULL;
    v->str = malloc(len + 1);
    if (!v->str) { h->failed = 1; return NULL; }
    if (len) memcpy(v->str, s, len);
    v->str[len] = 0;
    v->len = len;
    return v;
}

pth_value *pth_new_str(pth_heap *h, const char *s, size_t len) { return new_blob(h, PTH_VAL_STR, s, len); }
pth_value *pth_new_bytes(pth_heap *h, const void *s, size_t len) { return new_blob(h, PTH_VAL_BYTES, s, len); }
pth_value *pth_new_list(pth_heap *h) { return pth_new_node(h, PTH_VAL_LIST); }

pth_value *pth_new_dict(pth_heap *h, int ordered) {
    pth_value *v = pth_new_node(h, PTH_VAL_DICT);
    if (v) v->kind = ordered != 0;
    return v;
}

pth_value *pth_new_set(pth_heap *h, int frozen) {
    pth_value *v = pth_new_node(h, PTH_VAL_SET);
    if (v) v->kind = frozen != 0;
    return v;
}

/* Makes room for `more` pointers in v->items. */
static int reserve(pth_heap *h, pth_value *v, size_t used, size_t more) {
    if (more > SIZE_MAX / sizeof(pth_value *) - used) { h->failed = 1; return -1; }
    if (used + more <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 4;
    while (cap < used + more) cap = cap > SIZE_MAX / 4 ? used + more : cap * 2;
    pth_value **it = realloc(v->items, cap * sizeof *it);
    if (!it) { h->failed = 1; return -1; }
    v->items = it;
    v->cap = cap;
    return 0;
}

pth_value *pth_new_tuple(pth_heap *h, pth_value *const *items, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!items[i]) { if (h) h->failed = 1; return NULL; }
    pth_value *v = pth_new_node(h, PTH_VAL_TUPLE);
    if (!v || reserve(h, v, 0, n)) return NULL;
    if (n) memcpy(v->items, items, n * sizeof *items);
    v->len = n;
    return v;
}

pth_value *pth_new_tensor(pth_heap *h, pth_dtype dt, const void *data, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > PTH_MAX_DIMS || (unsigned)dt > PTH_BOOL) { if (h) h->failed = 1; return NULL; }
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] && numel > INT64_MAX / 8 / shape[d])) { if (h) h->failed = 1; return NULL; }
        numel *= shape[d];
    }
    if (numel && !data) { if (h) h->failed = 1; return NULL; }
    pth_value *v = pth_new_node(h, PTH_VAL_TENSOR);
    if (!v) return NULL;
    pth_tensor *t = calloc(1, sizeof *t);
    if (!t) { h->failed = 1; return NULL; }
    v->tensor = t;
    t->dtype = dt;
    t->ndim = ndim;
    int64_t stride = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        t->shape[d] = shape[d];
        t->stride[d] = stride;
        stride *= shape[d] ? shape[d] : 1;
    }
    t->numel = numel;
    t->storage_numel = numel;
    t->data = data;
    t->storage_entry = -1;
    return v;
}

int pth_list_append(pth_heap *h, pth_value *list, pth_value *v) {
    if (!h) return -1;
    if (!list || !v || (list->type != PTH_VAL_LIST && list->type != PTH_VAL_SET) ||
        reserve(h, list, list->len, 1)) {
        h->failed = 1;
        return -1;
    }
    list->items[list->len++] = v;
    return 0;
}

int pth_dict_append(pth_heap *h, pth_value *dict, pth_value *key, pth_value *v) {
    if (!h) return -1;
    if (!dict || !key || !v || dict->type != PTH_VAL_DICT || reserve(h, dict, 2 * dict->len, 2)) {
        h->failed = 1;
        return -1;
    }
    dict->items[2 * dict->len] = key;
    dict->items[2 * dict->len + 1] = v;
    dict->len++;
    return 0;
}

int pth_dict_set_str(pth_heap *h, pth_value *dict, const char *key, pth_value *v) {
    pth_value *k = key ? pth_new_str(h, key, strlen(key)) : NULL;
    if (!k) { if (h) h->failed = 1; return -1; }
    return pth_dict_append(h, dict, k, v);
}

pth_vtype pth_value_type(const pth_value *v) { return v ? v->type : PTH_VAL_NONE; }

size_t pth_value_len(const pth_value *v) {
    if (!v) return 0;
    switch (v->type) {
    case PTH_VAL_STR: case PTH_VAL_BYTES: case PTH_VAL_TUPLE: case PTH_VAL_LIST: case PTH_VAL_SET:
    case PTH_VAL_DICT: return v->len;
    default: return 0;
    }
}

const pth_value *pth_value_item(const pth_value *v, size_t i) {
    if (!v || (v->type != PTH_VAL_TUPLE && v->type != PTH_VAL_LIST && v->type != PTH_VAL_SET) || i >= v->len)
        return NULL;
    return v->items[i];
}

const pth_value *pth_dict_key(const pth_value *d, size_t i) {
    return d && d->type == PTH_VAL_DICT && i < d->len ? d->items[2 * i] : NULL;
}

const pth_value *pth_dict_value(const pth_value *d, size_t i) {
    return d && d->type == PTH_VAL_DICT && i < d->len ? d->items[2 * i + 1] : NULL;
}

const pth_value *pth_dict_get(const pth_value *d, const char *key) {
    if (!d || d->type != PTH_VAL_DICT || !key) return NULL;
    size_t kl = strlen(key);
    for (size_t i = d->len; i-- > 0;) {
        const pth_value *k = d->items[2 * i];
        if (k->type == PTH_VAL_STR && k->len == kl && memcmp(k->str, key, kl) == 0) return d->items[2 * i + 1];
    }
    return NULL;
}

const pth_value *pth_dict_get_int(const pth_value *d, int64_t key) {
    if (!d || d->type != PTH_VAL_DICT) return NULL;
    for (size_t i = d->len; i-- > 0;) {
        const pth_value *k = d->items[2 * i];
        if ((k->type == PTH_VAL_INT || k->type == PTH_VAL_BOOL) && k->i == key) return d->items[2 * i + 1];
    }
    return NULL;
}

int pth_value_as_int(const pth_value *v, int64_t *out) {
    if (!v || (v->type != PTH_VAL_INT && v->type != PTH_VAL_BOOL)) return 0;
    *out = v->i;
    return 1;
}

int pth_value_as_float(const pth_value *v, double *out) {
    if (!v) return 0;
    if (v->type == PTH_VAL_FLOAT) { *out = v->f; return 1; }
    if (v->type == PTH_VAL_INT || v->type == PTH_VAL_BOOL) { *out = (double)v->i; return 1; }
    return 0;
}

const char *pth_value_str(const pth_value *v) { return v && v->type == PTH_VAL_STR ? v->str : NULL; }
const pth_tensor *pth_value_tensor(const pth_value *v) { return v && v->type == PTH_VAL_TENSOR ? v->tensor : NULL; }
