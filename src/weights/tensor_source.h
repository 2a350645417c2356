/* tensor_source.h — the tensors of a model file, whatever its container and
 * naming, under the official segment-anything names.
 *
 * ms_source_open takes a file, or a folder (a downloaded Hugging Face model
 * repository: its model.safetensors, else its pytorch_model.bin), and
 * recognises the container by content: safetensors (an 8-byte
 * header length followed by '{', or a name ending in ".safetensors"), else a
 * torch.save zip (.pth, and transformers' pytorch_model.bin, which is one).
 * The layout is recognised from the names: any transformers SamModel name
 * (vision_encoder.*, shared_image_embedding.*, ...) makes it the HF layout,
 * and every name is then renamed to its official counterpart (weights/hf_names.h);
 * names without one are kept as they are (and stay unused by the model).
 * Two file names landing on the same official name are refused, except the
 * HF positional matrix stored under both of its tied names (same shape needed).
 *
 *     ms_tensor_source *s; if (ms_source_open(path, &s, err)) return err->code;
 *     const ms_source_tensor *t = ms_source_find(s, "image_encoder.pos_embed");
 *     ... check t->ndim / t->shape ...; ms_source_read_f32(s, t, dst, err);
 *     ms_source_close(s);
 * Reads are safe from several threads at once. Errors start with the path and
 * name the tensor as the file spells it. */
#ifndef MS_WEIGHTS_TENSOR_SOURCE_H
#define MS_WEIGHTS_TENSOR_SOURCE_H
#include <stdint.h>

#include "medsam.h"

#define MS_SOURCE_MAX_DIMS 8

typedef enum { MS_CONTAINER_PTH, MS_CONTAINER_SAFETENSORS } ms_container;
typedef enum { MS_LAYOUT_SAM, MS_LAYOUT_HF } ms_layout;

typedef struct {
    const char *name;      /* official name */
    const char *file_name; /* as stored in the file (differs in the HF layout) */
    int ndim;
    int64_t shape[MS_SOURCE_MAX_DIMS];
    int64_t numel;
    const char *dtype;     /* "float32", "bfloat16", ... */
} ms_source_tensor;

typedef struct ms_tensor_source ms_tensor_source;

medsam_status ms_source_open(const char *path, ms_tensor_source **out, medsam_error *err);
void ms_source_close(ms_tensor_source *s);

const char *ms_source_path(const ms_tensor_source *s); /* the file read (a folder resolved) */
ms_container ms_source_container(const ms_tensor_source *s);
ms_layout ms_source_layout(const ms_tensor_source *s);
const char *ms_source_describe(const ms_tensor_source *s); /* e.g. "safetensors, transformers SamModel layout" */

/* A safetensors file's "__metadata__" value for key; NULL when absent or for a .pth. */
const char *ms_source_metadata(const ms_tensor_source *s, const char *key);

/* Tensors in file order (aliases dropped). */
int ms_source_count(const ms_tensor_source *s);
const ms_source_tensor *ms_source_at(const ms_tensor_source *s, int i);
/* By official name; NULL when absent. */
const ms_source_tensor *ms_source_find(const ms_tensor_source *s, const char *name);
/* Rank and shape by official name, or -1 (the model/config.h ms_shape_lookup signature). */
int ms_source_shape(void *source, const char *name, int64_t shape[8]);
/* Reads t as t->numel float32 values (F16 / BF16 / F64 / integers converted). */
medsam_status ms_source_read_f32(const ms_tensor_source *s, const ms_source_tensor *t, float *dst, medsam_error *err);

#endif
