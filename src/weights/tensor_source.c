/* tensor_source.c — one view over .pth / pytorch_model.bin / .safetensors
 * files in the official or the transformers naming: container by content,
 * layout by names, a sorted index of official names. */
#define _POSIX_C_SOURCE 200809L
#include "weights/tensor_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "weights/hf_names.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

#define TIED_PE "prompt_encoder.shared_embedding.positional_embedding"

struct ms_tensor_source {
    char *path;
    ms_container container;
    ms_layout layout;
    pth_file *pth;
    st_file *st;
    ms_source_tensor *t;        /* (n) file order */
    const void **raw;           /* (n) the pth_tensor / st_tensor behind t[i] */
    char **owned;               /* (n) renamed names, or NULL */
    const ms_source_tensor **sorted;
    int n;
};

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const ms_source_tensor *const *)a)->name, (*(const ms_source_tensor *const *)b)->name);
}

/* 1 when the file should go to the safetensors reader. */
static int looks_safetensors(const char *path) {
    size_t n = strlen(path);
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) return 1;
    unsigned char head[9];
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    return got == sizeof head && head[8] == '{' && memcmp(head, "PK", 2) != 0;
}

static medsam_status alloc_lists(ms_tensor_source *s, int n, medsam_error *err) {
    size_t k = n > 0 ? (size_t)n : 1;
    s->t = calloc(k, sizeof *s->t);
    s->raw = calloc(k, sizeof *s->raw);
    s->owned = calloc(k, sizeof *s->owned);
    s->sorted = calloc(k, sizeof *s->sorted);
    if (!s->t || !s->raw || !s->owned || !s->sorted) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    return MEDSAM_OK;
}

/* Lists the container's tensors under their file names. */
static medsam_status list_tensors(ms_tensor_source *s, medsam_error *err) {
    medsam_status st;
    if (s->st) {
        int n = st_tensor_count(s->st);
        if ((st = alloc_lists(s, n, err))) return st;
        for (int i = 0; i < n; i++) {
            const st_tensor *x = st_tensor_at(s->st, i);
            ms_source_tensor *t = &s->t[i];
            t->name = t->file_name = x->name;
            t->ndim = x->ndim;
            memcpy(t->shape, x->shape, sizeof t->shape);
            t->numel = x->numel;
            t->dtype = pth_dtype_name(x->dtype);
            s->raw[i] = x;
        }
        s->n = n;
    } else {
        int n = pth_tensor_count(s->pth);
        if ((st = alloc_lists(s, n, err))) return st;
        for (int i = 0; i < n; i++) {
            const pth_tensor *x = pth_tensor_at(s->pth, i);
            ms_source_tensor *t = &s->t[i];
            t->name = t->file_name = x->name;
            t->ndim = x->ndim;
            for (int d = 0; d < x->ndim && d < MS_SOURCE_MAX_DIMS; d++) t->shape[d] = x->shape[d];
            t->numel = x->numel;
            t->dtype = pth_dtype_name(x->dtype);
            s->raw[i] = x;
        }
        s->n = n;
    }
    return MEDSAM_OK;
}

/* HF layout: official names for every tensor that has one. */
static medsam_status rename_hf(ms_tensor_source *s, medsam_error *err) {
    ms_hf_heads heads = {0, 0};
    for (int i = 0; i < s->n; i++) ms_hf_heads_observe(&heads, s->t[i].file_name, 1);
    char buf[512];
    for (int i = 0; i < s->n; i++) {
        int r = ms_hf_to_sam(s->t[i].file_name, &heads, buf, sizeof buf);
        if (r < 0) return ms_error(err, MEDSAM_ERR_FORMAT, "tensor name '%.200s' is too long", s->t[i].file_name);
        if (r == 0) continue;
        if (!(s->owned[i] = strdup(buf))) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        s->t[i].name = s->owned[i];
    }
    return MEDSAM_OK;
}

/* Sorts by official name; resolves the tied positional matrix, refuses other collisions. */
static medsam_status build_index(ms_tensor_source *s, medsam_error *err) {
    for (int i = 0; i < s->n; i++) s->sorted[i] = &s->t[i];
    qsort(s->sorted, (size_t)s->n, sizeof *s->sorted, cmp_name);
    int w = 0;
    for (int i = 0; i < s->n; i++) {
        const ms_source_tensor *t = s->sorted[i];
        if (w > 0 && strcmp(s->sorted[w - 1]->name, t->name) == 0) {
            const ms_source_tensor *a = s->sorted[w - 1];
            int tied = !strcmp(a->file_name, TIED_PE) || !strcmp(t->file_name, TIED_PE);
            int same = a->ndim == t->ndim && !memcmp(a->shape, t->shape, sizeof a->shape);
            if (!tied || !same)
                return ms_error(err, MEDSAM_ERR_FORMAT, "tensors '%s' and '%s' both stand for '%s'", a->file_name,
                                t->file_name, t->name);
            if (!strcmp(a->file_name, TIED_PE)) s->sorted[w - 1] = t; /* keep shared_image_embedding's */
            continue;
        }
        s->sorted[w++] = t;
    }
    if (w < s->n) { /* drop the alias from the file-order list too */
        int k = 0;
        for (int i = 0; i < s->n; i++) {
            int kept = 0;
            for (int j = 0; j < w && !kept; j++) kept = s->sorted[j] == &s->t[i];
            if (!kept) { free(s->owned[i]); continue; }
            s->t[k] = s->t[i], s->raw[k] = s->raw[i], s->owned[k] = s->owned[i];
            k++;
        }
        s->n = k;
        for (int i = 0; i < k; i++) s->sorted[i] = &s->t[i];
        qsort(s->sorted, (size_t)k, sizeof *s->sorted, cmp_name);
    }
    return MEDSAM_OK;
}

/* A folder (a downloaded Hugging Face model repository) stands for its
 * model.safetensors, else its pytorch_model.bin; returns a new string. */
static char *resolve(const char *path, medsam_error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return strdup(path);
    static const char *const names[] = {"model.safetensors", "pytorch_model.bin"};
    size_t n = strlen(path);
    const char *sep = n && path[n - 1] == '/' ? "" : "/";
    for (int i = 0; i < 2; i++) {
        char *p = malloc(n + strlen(names[i]) + 2);
        if (!p) return NULL;
        sprintf(p, "%s%s%s", path, sep, names[i]);
        if (stat(p, &sb) == 0) return p;
        free(p);
    }
    ms_error(err, MEDSAM_ERR_IO, "%s: a folder without model.safetensors or pytorch_model.bin", path);
    return NULL;
}

medsam_status ms_source_open(const char *path, ms_tensor_source **out, medsam_error *err) {
    *out = NULL;
    medsam_error e = {0};
    ms_tensor_source *s = calloc(1, sizeof *s);
    if (!s || !(s->path = resolve(path, &e))) {
        free(s);
        if (e.code) {
            if (err) *err = e;
            return e.code;
        }
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
    }
    path = s->path;
    medsam_status st;
    if (looks_safetensors(path)) {
        s->container = MS_CONTAINER_SAFETENSORS;
        st = st_open(path, &s->st, err);
    } else {
        s->container = MS_CONTAINER_PTH;
        st = pth_open(path, &s->pth, err);
    }
    if (st) { /* the readers name the file */
        ms_source_close(s);
        return st;
    }
    st = list_tensors(s, err);
    for (int i = 0; !st && i < s->n; i++)
        if (ms_hf_name_is_hf(s->t[i].name)) s->layout = MS_LAYOUT_HF;
    if (!st && s->layout == MS_LAYOUT_HF) st = rename_hf(s, err);
    if (!st) st = build_index(s, err);
    if (st) {
        ms_error_prefix(err, path);
        ms_source_close(s);
        return st;
    }
    *out = s;
    return MEDSAM_OK;
}

void ms_source_close(ms_tensor_source *s) {
    if (!s) return;
    pth_close(s->pth);
    st_close(s->st);
    for (int i = 0; s->owned && i < s->n; i++) free(s->owned[i]);
    free(s->owned);
    free(s->t);
    free(s->raw);
    free(s->sorted);
    free(s->path);
    free(s);
}

const char *ms_source_path(const ms_tensor_source *s) { return s ? s->path : NULL; }
const char *ms_source_metadata(const ms_tensor_source *s, const char *key) {
    return s && s->st ? st_metadata(s->st, key) : NULL;
}
ms_container ms_source_container(const ms_tensor_source *s) { return s->container; }
ms_layout ms_source_layout(const ms_tensor_source *s) { return s->layout; }

const char *ms_source_describe(const ms_tensor_source *s) {
    static const char *const d[2][2] = {{"PyTorch zip, official layout", "PyTorch zip, transformers SamModel layout"},
                                        {"safetensors, official layout", "safetensors, transformers SamModel layout"}};
    return d[s->container == MS_CONTAINER_SAFETENSORS][s->layout == MS_LAYOUT_HF];
}

int ms_source_count(const ms_tensor_source *s) { return s ? s->n : 0; }
const ms_source_tensor *ms_source_at(const ms_tensor_source *s, int i) { return s && i >= 0 && i < s->n ? &s->t[i] : NULL; }

const ms_source_tensor *ms_source_find(const ms_tensor_source *s, const char *name) {
    if (!s || !name) return NULL;
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(s->sorted[mid]->name, name);
        if (c == 0) return s->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

int ms_source_shape(void *source, const char *name, int64_t shape[8]) {
    const ms_source_tensor *t = ms_source_find(source, name);
    if (!t) return -1;
    for (int d = 0; d < t->ndim && d < 8; d++) shape[d] = t->shape[d];
    return t->ndim;
}

medsam_status ms_source_read_f32(const ms_tensor_source *s, const ms_source_tensor *t, float *dst, medsam_error *err) {
    if (!s || !t || t < s->t || t >= s->t + s->n)
        return ms_error(err, MEDSAM_ERR_ARG, "ms_source_read_f32: the tensor does not belong to this source");
    const void *raw = s->raw[t - s->t];
    return s->st ? st_read_f32(s->st, raw, dst, err) : pth_read_f32(s->pth, raw, dst, err);
}
