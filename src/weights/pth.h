/* pth.h — PyTorch checkpoints (torch.save zip format, torch >= 1.6) read and
 * written in C, with no Python and nothing from the file ever executed.
 *
 * Reading: pth_open parses the zip and the pickle (see pickle.h for the allow
 * list) and builds the state dict's tensor list. Accepted layouts:
 *   (a) a (Ordered)Dict name -> tensor (medsam_vit_b.pth, sam_vit_b_01ec64.pth);
 *   (b) a dict with key "model" (or else "state_dict") holding that dict; other
 *       keys ("optimizer", "epoch", ...) stay reachable through pth_root;
 *   (c) either of them with DDP's "module." prefix, stripped from each key.
 * Non-tensor values of the state dict are left out of the tensor list.
 * Every tensor's storage is checked at open (present in the archive, large
 * enough for the declared view), so pth_read_* only fails on I/O errors or a
 * CRC-32 mismatch (checked whenever a read covers a whole storage entry).
 * Limits: data.pkl <= 256 MiB and <= 4M pickle objects; at most 8 dims.
 *
 * Typical use by a model loader:
 *     pth_file *f; if (pth_open(path, &f, err)) return err->code;
 *     const pth_tensor *t = pth_find(f, "image_encoder.pos_embed");   // O(log n)
 *     ... check t->ndim / t->shape ...; pth_read_f32(f, t, dst, err);
 *     pth_close(f);
 *
 * Writing: build a value tree with pth_writer_* (a dict of tensors, or
 * {"model": state_dict, "epoch": 3, "optimizer": {...}}) and pth_writer_save
 * writes a torch.load-compatible zip (protocol-2 data.pkl, 64-byte aligned
 * storages, archive/version = 3) atomically. */
#ifndef MS_WEIGHTS_PTH_H
#define MS_WEIGHTS_PTH_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"
#include "weights/pickle.h"

typedef struct pth_file pth_file;

/* Opens and parses a checkpoint. Errors start with the path. */
medsam_status pth_open(const char *path, pth_file **out, medsam_error *err);
/* Same over an in-memory file image (kept by the caller until pth_close);
 * `name` is used in messages. */
medsam_status pth_open_mem(const void *buf, size_t len, const char *name, pth_file **out, medsam_error *err);
void pth_close(pth_file *f);

/* State-dict tensors in file order; names have "module." stripped. */
int pth_tensor_count(const pth_file *f);
const pth_tensor *pth_tensor_at(const pth_file *f, int i);
/* Binary search over a sorted name index; NULL when absent. */
const pth_tensor *pth_find(const pth_file *f, const char *name);
/* The whole unpickled object (for optimizer state, epoch, ...). */
const pth_value *pth_root(const pth_file *f);
/* The dict the tensor list was taken from (root, root["model"] or root["state_dict"]). */
const pth_value *pth_state_dict(const pth_file *f);

/* Reads tensor t (from this file's list or anywhere in its tree) into dst as
 * t->numel float32 values in row-major order of t->shape, converting from
 * float16 / bfloat16 / float64 / integer / bool and following strides and the
 * storage offset (non-contiguous views are fine). Safe to call from several
 * threads at once. */
medsam_status pth_read_f32(const pth_file *f, const pth_tensor *t, float *dst, medsam_error *err);
/* Same for integer use (e.g. optimizer step counts): converts to int64;
 * floating values are truncated toward zero. */
medsam_status pth_read_i64(const pth_file *f, const pth_tensor *t, int64_t *dst, medsam_error *err);

/* Converts n contiguous little-endian elements of dt at src to float32 (the
 * conversion pth_read_f32 applies; shared with the safetensors reader). */
void pth_convert_f32(pth_dtype dt, const uint8_t *src, size_t n, float *dst);

/* Formats "(1,64,64,768)" into buf; returns buf. */
const char *pth_shape_str(const pth_tensor *t, char *buf, size_t cap);

/* ---- writer ---- */
typedef struct pth_writer pth_writer;

pth_writer *pth_writer_new(void); /* NULL when out of memory */
void pth_writer_free(pth_writer *w);
/* The heap that owns the writer's values, for the generic pth_new_* calls. */
pth_heap *pth_writer_heap(pth_writer *w);
/* Writes ZIP64 records even when not needed (to test the ZIP64 paths). */
void pth_writer_force_zip64(pth_writer *w, int on);

/* Builders; a failure (out of memory, NULL argument) is remembered and
 * reported by pth_writer_save, so calls can be chained without checks. */
pth_value *pth_writer_dict(pth_writer *w);         /* {} */
pth_value *pth_writer_ordered_dict(pth_writer *w); /* collections.OrderedDict() */
pth_value *pth_writer_list(pth_writer *w);
pth_value *pth_writer_tuple(pth_writer *w, pth_value *const *items, size_t n);
pth_value *pth_writer_int(pth_writer *w, int64_t v);
pth_value *pth_writer_float(pth_writer *w, double v);
pth_value *pth_writer_bool(pth_writer *w, int v);
pth_value *pth_writer_none(pth_writer *w);
pth_value *pth_writer_str(pth_writer *w, const char *s);
/* A contiguous tensor over `data` (borrowed until pth_writer_save returns). */
pth_value *pth_writer_tensor(pth_writer *w, pth_dtype dt, const void *data, int ndim, const int64_t *shape);
pth_value *pth_writer_tensor_f32(pth_writer *w, const float *data, int ndim, const int64_t *shape);
void pth_writer_set(pth_writer *w, pth_value *dict, const char *key, pth_value *v);
void pth_writer_set_value(pth_writer *w, pth_value *dict, pth_value *key, pth_value *v); /* e.g. int keys */
void pth_writer_append(pth_writer *w, pth_value *list, pth_value *v);

/* Writes root to path atomically (temp file + rename). */
medsam_status pth_writer_save(pth_writer *w, const pth_value *root, const char *path, medsam_error *err);

#endif
