/* pth_write.c — writes a value tree as a torch.save checkpoint:
 * archive/data.pkl (protocol 2), archive/byteorder, archive/data/<k> (one
 * stored, 64-byte aligned entry per tensor), archive/version = "3", through
 * an atomic temp file + rename. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "weights/pth.h"
#include "weights/zip.h"

struct pth_writer {
    pth_heap *heap;
    int force_zip64;
};

pth_writer *pth_writer_new(void) {
    pth_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->heap = pth_heap_new(0);
    if (!w->heap) { free(w); return NULL; }
    return w;
}

void pth_writer_free(pth_writer *w) {
    if (!w) return;
    pth_heap_free(w->heap);
    free(w);
}

pth_heap *pth_writer_heap(pth_writer *w) { return w ? w->heap : NULL; }
void pth_writer_force_zip64(pth_writer *w, int on) { if (w) w->force_zip64 = on != 0; }

pth_value *pth_writer_dict(pth_writer *w) { return w ? pth_new_dict(w->heap, 0) : NULL; }
pth_value *pth_writer_ordered_dict(pth_writer *w) { return w ? pth_new_dict(w->heap, 1) : NULL; }
pth_value *pth_writer_list(pth_writer *w) { return w ? pth_new_list(w->heap) : NULL; }
pth_value *pth_writer_int(pth_writer *w, int64_t v) { return w ? pth_new_int(w->heap, v) : NULL; }
pth_value *pth_writer_float(pth_writer *w, double v) { return w ? pth_new_float(w->heap, v) : NULL; }
pth_value *pth_writer_bool(pth_writer *w, int v) { return w ? pth_new_bool(w->heap, v) : NULL; }
pth_value *pth_writer_none(pth_writer *w) { return w ? pth_new_none(w->heap) : NULL; }

pth_value *pth_writer_tuple(pth_writer *w, pth_value *const *items, size_t n) {
    return w ? pth_new_tuple(w->heap, items, n) : NULL;
}

pth_value *pth_writer_str(pth_writer *w, const char *s) {
    if (!w) return NULL;
    if (!s) { pth_heap_mark_failed(w->heap); return NULL; }
    return pth_new_str(w->heap, s, strlen(s));
}

pth_value *pth_writer_tensor(pth_writer *w, pth_dtype dt, const void *data, int ndim, const int64_t *shape) {
    return w ? pth_new_tensor(w->heap, dt, data, ndim, shape) : NULL;
}

pth_value *pth_writer_tensor_f32(pth_writer *w, const float *data, int ndim, const int64_t *shape) {
    return pth_writer_tensor(w, PTH_F32, data, ndim, shape);
}

void pth_writer_set(pth_writer *w, pth_value *dict, const char *key, pth_value *v) {
    if (w) pth_dict_set_str(w->heap, dict, key, v);
}

void pth_writer_set_value(pth_writer *w, pth_value *dict, pth_value *key, pth_value *v) {
    if (w) pth_dict_append(w->heap, dict, key, v);
}

void pth_writer_append(pth_writer *w, pth_value *list, pth_value *v) {
    if (w) pth_list_append(w->heap, list, v);
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static medsam_status write_entries(pth_zip_writer *zw, const uint8_t *pkl, size_t pkl_len,
                                   const pth_value *const *tensors, size_t nt, medsam_error *err) {
    medsam_status st = pth_zip_writer_add(zw, "archive/data.pkl", pkl, pkl_len, err);
    if (!st) st = pth_zip_writer_add(zw, "archive/byteorder", "little", 6, err);
    for (size_t k = 0; k < nt && !st; k++) {
        const pth_tensor *t = tensors[k]->tensor;
        char name[64];
        snprintf(name, sizeof name, "archive/data/%zu", k);
        st = pth_zip_writer_add(zw, name, t->data, (uint64_t)t->numel * (uint64_t)pth_dtype_size(t->dtype), err);
    }
    if (!st) st = pth_zip_writer_add(zw, "archive/version", "3\n", 2, err);
    if (!st) st = pth_zip_writer_finish(zw, err);
    return st;
}

medsam_status pth_writer_save(pth_writer *w, const pth_value *root, const char *path, medsam_error *err) {
    if (!w || !root || !path) return ms_error(err, MEDSAM_ERR_ARG, "pth_writer_save: NULL argument");
    if (pth_heap_failed(w->heap))
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: building the checkpoint failed (out of memory or a NULL value)",
                        path);
    if (!host_is_little_endian())
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: writing checkpoints needs a little-endian host", path);
    uint8_t *pkl;
    size_t pkl_len, nt;
    const pth_value **tensors;
    medsam_status st = pth_pickle_dump(root, &pkl, &pkl_len, &tensors, &nt, err);
    if (st) { ms_error_prefix(err, path); return st; }
    ms_atomic_file af;
    st = ms_atomic_open(&af, path, err);
    if (!st) {
        pth_zip_writer zw;
        pth_zip_writer_init(&zw, af.fp, w->force_zip64);
        st = write_entries(&zw, pkl, pkl_len, tensors, nt, err);
        pth_zip_writer_free(&zw);
        if (st) {
            ms_atomic_abort(&af);
            ms_error_prefix(err, path);
        } else {
            st = ms_atomic_commit(&af, err);
        }
    }
    free(pkl);
    free(tensors);
    return st;
}
