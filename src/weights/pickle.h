/* pickle.h — the value tree of a torch checkpoint, a restricted unpickler
 * that builds it, and a protocol-2 pickle writer that serialises it.
 *
 * The unpickler never executes anything: the only globals it accepts are the
 * few that torch.save emits for state dicts and optimizer states
 * (collections.OrderedDict, torch._utils._rebuild_tensor[_v2],
 * torch._utils._rebuild_parameter[_with_state], torch.<Type>Storage,
 * builtins set/frozenset, _codecs.encode for bytes), and "calling" one of them
 * only builds a value node. Any other global is refused with
 * MEDSAM_ERR_UNSAFE before anything else happens.
 *
 * All nodes belong to a pth_heap and are freed together. Values may be shared
 * (the pickle memo), so the tree is really a DAG; walkers must bound depth. */
#ifndef MS_WEIGHTS_PICKLE_H
#define MS_WEIGHTS_PICKLE_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

#define PTH_MAX_DIMS 8

typedef enum { PTH_F32, PTH_F16, PTH_BF16, PTH_F64, PTH_I64, PTH_I32, PTH_I16, PTH_I8, PTH_U8, PTH_BOOL } pth_dtype;

int pth_dtype_size(pth_dtype dt);        /* bytes per element */
const char *pth_dtype_name(pth_dtype dt); /* "float32", "float16", ... */

typedef struct {
    const char *name;          /* state-dict key ("module." stripped); NULL outside the state dict */
    pth_dtype dtype;
    int ndim;                  /* 0 for a scalar tensor */
    int64_t shape[PTH_MAX_DIMS];
    int64_t stride[PTH_MAX_DIMS]; /* in elements */
    int64_t storage_offset;    /* in elements */
    int64_t numel;             /* product of shape */
    const char *storage_key;   /* loaded tensors: "<key>" of <prefix>data/<key> */
    int64_t storage_numel;     /* elements in the storage, as the pickle declares */
    const void *data;          /* tensors built for writing: contiguous caller data; NULL when loaded */
    int storage_entry;         /* internal: zip entry index once resolved, else -1 */
} pth_tensor;

typedef enum {
    PTH_VAL_NONE,
    PTH_VAL_BOOL,
    PTH_VAL_INT,
    PTH_VAL_FLOAT,
    PTH_VAL_STR,     /* UTF-8 text (or a Python 2 byte string) */
    PTH_VAL_BYTES,
    PTH_VAL_TUPLE,
    PTH_VAL_LIST,
    PTH_VAL_DICT,    /* dict or OrderedDict; keeps insertion order */
    PTH_VAL_SET,     /* set or frozenset */
    PTH_VAL_TENSOR,
    PTH_VAL_GLOBAL,  /* internal: an allowed global before it is called */
    PTH_VAL_STORAGE, /* internal: a storage reference from a persistent id */
} pth_vtype;

typedef struct pth_value pth_value;
struct pth_value {
    pth_vtype type;
    int kind;           /* DICT: 1 if OrderedDict; SET: 1 if frozen; GLOBAL: id; STORAGE: pth_dtype */
    int64_t i;          /* BOOL, INT; STORAGE: element count */
    double f;           /* FLOAT */
    char *str;          /* STR, BYTES (NUL-terminated); STORAGE: key */
    size_t len;         /* STR/BYTES: bytes; TUPLE/LIST/SET: items; DICT: key-value pairs */
    size_t cap;
    pth_value **items;  /* TUPLE/LIST/SET: items[len]; DICT: items[2*len] = key0, value0, key1, ... */
    pth_tensor *tensor; /* TENSOR */
};

/* ---- heap: owns every node ---- */
typedef struct pth_heap pth_heap;
pth_heap *pth_heap_new(size_t max_nodes); /* 0: no node limit */
void pth_heap_free(pth_heap *h);
/* 1 once any constructor or container call failed (out of memory, limit, NULL argument). */
int pth_heap_failed(const pth_heap *h);
void pth_heap_mark_failed(pth_heap *h);
/* Visits every node, in creation order (no recursion needed). */
size_t pth_heap_count(const pth_heap *h);
pth_value *pth_heap_node(const pth_heap *h, size_t i);

/* ---- constructors: return NULL (and mark the heap failed) on failure ---- */
pth_value *pth_new_none(pth_heap *h);
pth_value *pth_new_bool(pth_heap *h, int v);
pth_value *pth_new_int(pth_heap *h, int64_t v);
pth_value *pth_new_float(pth_heap *h, double v);
pth_value *pth_new_str(pth_heap *h, const char *s, size_t len);   /* copies */
pth_value *pth_new_bytes(pth_heap *h, const void *s, size_t len); /* copies */
pth_value *pth_new_list(pth_heap *h);
pth_value *pth_new_tuple(pth_heap *h, pth_value *const *items, size_t n); /* copies the pointer array */
pth_value *pth_new_dict(pth_heap *h, int ordered);
pth_value *pth_new_set(pth_heap *h, int frozen);
/* A contiguous tensor over caller memory (borrowed, must outlive the write). */
pth_value *pth_new_tensor(pth_heap *h, pth_dtype dt, const void *data, int ndim, const int64_t *shape);
pth_value *pth_new_node(pth_heap *h, pth_vtype type); /* blank node, for the unpickler */

/* Container edits; return 0 on success, -1 (heap marked failed) otherwise. */
int pth_list_append(pth_heap *h, pth_value *list_or_set, pth_value *v);
int pth_dict_append(pth_heap *h, pth_value *dict, pth_value *key, pth_value *v); /* no duplicate check */
int pth_dict_set_str(pth_heap *h, pth_value *dict, const char *key, pth_value *v);

/* ---- read-only accessors (NULL-safe) ---- */
pth_vtype pth_value_type(const pth_value *v);
size_t pth_value_len(const pth_value *v); /* items of tuple/list/set, pairs of dict, bytes of str */
const pth_value *pth_value_item(const pth_value *v, size_t i);
const pth_value *pth_dict_key(const pth_value *d, size_t i);
const pth_value *pth_dict_value(const pth_value *d, size_t i);
/* Lookup by str / int key; with duplicate keys the last one wins, like Python. */
const pth_value *pth_dict_get(const pth_value *d, const char *key);
const pth_value *pth_dict_get_int(const pth_value *d, int64_t key);
int pth_value_as_int(const pth_value *v, int64_t *out);   /* INT or BOOL; returns 1 on success */
int pth_value_as_float(const pth_value *v, double *out);  /* FLOAT, INT or BOOL */
const char *pth_value_str(const pth_value *v);             /* STR only, else NULL */
const pth_tensor *pth_value_tensor(const pth_value *v);    /* TENSOR only, else NULL */

/* ---- unpickle / pickle ---- */
#define PTH_PICKLE_MAX_NODES ((size_t)1 << 22)

/* Unpickles buf into nodes of h. Errors name the byte offset; MEDSAM_ERR_UNSAFE
 * names the refused global. */
medsam_status pth_unpickle(const uint8_t *buf, size_t len, pth_heap *h, pth_value **root, medsam_error *err);

/* Serialises root as a protocol-2 pickle in torch.save's layout. Tensors
 * become persistent ids ('storage', torch.<T>Storage, "<k>", 'cpu', numel)
 * where k indexes *tensors (each distinct tensor node once). Free *out and
 * *tensors with free(). */
medsam_status pth_pickle_dump(const pth_value *root, uint8_t **out, size_t *out_len, const pth_value ***tensors,
                              size_t *ntensors, medsam_error *err);

#endif
