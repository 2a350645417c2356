/* safetensors.c — safetensors reader: header length, strict JSON header,
 * every tensor entry checked against the file before anything is read, then
 * pread (or memcpy) + dtype conversion.
 * ref: huggingface/safetensors safetensors/src/tensor.rs (Metadata::validate,
 * MAX_HEADER_SIZE) for what a valid file is. */
#define _POSIX_C_SOURCE 200809L
#include "weights/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "weights/json_min.h"
#include "weights/pth.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ST_HOST_LITTLE_ENDIAN 1
#else
#define ST_HOST_LITTLE_ENDIAN 0
#endif
#define ST_READ_CHUNK ((size_t)1 << 20)

struct st_file {
    char *name;            /* path, for messages */
    int fd;                /* -1 for a memory image */
    const uint8_t *mem;
    uint64_t data_start;   /* 8 + N */
    uint64_t data_size;
    json_doc *doc;         /* keeps names and metadata strings alive */
    int meta;              /* "__metadata__" node or -1 */
    st_tensor *tensors;    /* header order */
    const st_tensor **sorted;
    int n;
};

static const struct { const char *name; pth_dtype dt; } DTYPES[] = {
    {"F32", PTH_F32}, {"F16", PTH_F16}, {"BF16", PTH_BF16}, {"F64", PTH_F64}, {"I64", PTH_I64},
    {"I32", PTH_I32}, {"I16", PTH_I16}, {"I8", PTH_I8},     {"U8", PTH_U8},   {"BOOL", PTH_BOOL},
};

const char *st_dtype_name(pth_dtype dt) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].dt == dt) return DTYPES[i].name;
    return "?";
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Reads `n` bytes at file offset `off` (the caller has checked the range). */
static medsam_status read_raw(const st_file *f, uint64_t off, void *dst, size_t n, medsam_error *err) {
    if (f->mem) {
        memcpy(dst, f->mem + off, n);
        return MEDSAM_OK;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)dst + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return ms_error(err, MEDSAM_ERR_IO, "read failed: %s", r < 0 ? strerror(errno) : "unexpected end of file");
        done += (size_t)r;
    }
    return MEDSAM_OK;
}

/* Reads `n` bytes at data-area offset `off`. */
static medsam_status read_at(const st_file *f, uint64_t off, void *dst, size_t n, medsam_error *err) {
    return read_raw(f, f->data_start + off, dst, n, err);
}

/* Checks one "__metadata__" object: string values only. */
static medsam_status check_metadata(const json_doc *d, int m, medsam_error *err) {
    if (json_node_type(d, m) != JSON_OBJECT) return ms_error(err, MEDSAM_ERR_FORMAT, "__metadata__ is not an object");
    for (int c = json_first(d, m); c >= 0; c = json_next(d, c))
        if (json_node_type(d, c) != JSON_STRING)
            return ms_error(err, MEDSAM_ERR_FORMAT, "__metadata__ entry \"%.100s\" is not a string", json_key(d, c, NULL));
    return MEDSAM_OK;
}

/* Fills t from its header entry (node e) and checks it on its own. */
static medsam_status parse_entry(const json_doc *d, int e, uint64_t data_size, st_tensor *t, medsam_error *err) {
    const char *nm = t->name;
    if (json_node_type(d, e) != JSON_OBJECT) return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': entry is not an object", nm);
    for (int c = json_first(d, e); c >= 0; c = json_next(d, c)) {
        const char *k = json_key(d, c, NULL);
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': unknown field \"%.64s\"", nm, k);
    }
    const char *dt = json_str(d, json_get(d, e, "dtype"), NULL);
    int shape = json_get(d, e, "shape"), offs = json_get(d, e, "data_offsets");
    if (!dt || json_node_type(d, shape) != JSON_ARRAY || json_node_type(d, offs) != JSON_ARRAY)
        return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': needs \"dtype\" (string), \"shape\" and \"data_offsets\" (arrays)", nm);
    size_t k = 0, nd = sizeof DTYPES / sizeof DTYPES[0];
    while (k < nd && strcmp(DTYPES[k].name, dt) != 0) k++;
    if (k == nd)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "tensor '%s': dtype \"%.16s\" is not supported (F32, F16, BF16, F64, integer, BOOL)",
                        nm, dt);
    t->dtype = DTYPES[k].dt;
    t->ndim = json_len(d, shape);
    if (t->ndim > ST_MAX_DIMS) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "tensor '%s': rank %d (at most %d)", nm, t->ndim, ST_MAX_DIMS);
    const int64_t es = pth_dtype_size(t->dtype), cap = INT64_MAX / 8;
    t->numel = 1;
    int i = 0;
    for (int c = json_first(d, shape); c >= 0; c = json_next(d, c), i++) {
        int64_t v;
        if (!json_as_i64(d, c, &v) || v < 0) return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': shape[%d] is not a non-negative integer", nm, i);
        if (v > 0 && t->numel > cap / v) return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': shape too large", nm);
        t->shape[i] = v;
        t->numel *= v;
    }
    int64_t o[2];
    int c0 = json_first(d, offs), c1 = json_next(d, c0);
    if (json_len(d, offs) != 2 || !json_as_i64(d, c0, &o[0]) || !json_as_i64(d, c1, &o[1]) || o[0] < 0 || o[1] < 0)
        return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': data_offsets is not [begin, end] with non-negative integers", nm);
    t->begin = (uint64_t)o[0];
    t->end = (uint64_t)o[1];
    if (t->begin > t->end)
        return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] end before they begin", nm,
                        (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_size)
        return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes); file truncated?",
                        nm, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_size);
    if (t->end - t->begin != (uint64_t)(t->numel * es))
        return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': %llu bytes for %lld %s elements (expected %lld)", nm,
                        (unsigned long long)(t->end - t->begin), (long long)t->numel, dt, (long long)(t->numel * es));
    return MEDSAM_OK;
}

/* Parses the header text and builds the tensor list; checks the tiling of the data area. */
static medsam_status parse_header(st_file *f, const char *text, size_t len, medsam_error *err) {
    json_limits lim = json_default_limits();
    lim.max_depth = 4; /* {name: {shape: [..]}} */
    medsam_status st = json_parse(text, len, &lim, &f->doc, err);
    if (st) {
        ms_error_prefix(err, "header");
        return st;
    }
    const json_doc *d = f->doc;
    int root = json_root(d);
    if (json_node_type(d, root) != JSON_OBJECT) return ms_error(err, MEDSAM_ERR_FORMAT, "header is not a JSON object");
    f->meta = json_get(d, root, "__metadata__");
    if (f->meta >= 0 && (st = check_metadata(d, f->meta, err))) return st;
    int count = json_len(d, root) - (f->meta >= 0);
    f->tensors = calloc(count > 0 ? (size_t)count : 1, sizeof *f->tensors);
    f->sorted = calloc(count > 0 ? (size_t)count : 1, sizeof *f->sorted);
    if (!f->tensors || !f->sorted) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    for (int c = json_first(d, root); c >= 0; c = json_next(d, c)) {
        if (c == f->meta) continue;
        size_t klen;
        const char *name = json_key(d, c, &klen);
        if (klen == 0 || klen > ST_MAX_NAME || strlen(name) != klen)
            return ms_error(err, MEDSAM_ERR_FORMAT, "tensor name \"%.64s\" is empty, longer than %d bytes or holds a NUL", name,
                            ST_MAX_NAME);
        st_tensor *t = &f->tensors[f->n];
        t->name = name;
        if ((st = parse_entry(d, c, f->data_size, t, err))) return st;
        f->sorted[f->n++] = t;
    }
    /* tiling: sorted by offset, each tensor starts where the previous one ends */
    qsort(f->sorted, (size_t)f->n, sizeof *f->sorted, cmp_offset);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = f->sorted[i];
        if (t->begin < at)
            return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s'", t->name,
                            (unsigned long long)t->begin, (unsigned long long)t->end, f->sorted[i - 1]->name);
        if (t->begin > at)
            return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] leave a gap after byte %llu", t->name,
                            (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)at);
        at = t->end;
    }
    if (at != f->data_size)
        return ms_error(err, MEDSAM_ERR_FORMAT, "the tensors cover %llu bytes of the %llu-byte data area", (unsigned long long)at,
                        (unsigned long long)f->data_size);
    qsort(f->sorted, (size_t)f->n, sizeof *f->sorted, cmp_name); /* names are unique: JSON keys are */
    return MEDSAM_OK;
}

/* Checks the header length against the file size, reads the header and parses it. */
static medsam_status open_common(st_file *f, uint64_t file_size, const uint8_t *head8, medsam_error *err) {
    medsam_status st;
    if (file_size < 8) {
        st = ms_error(err, MEDSAM_ERR_FORMAT, "not a safetensors file: %llu bytes, shorter than the 8-byte header length",
                      (unsigned long long)file_size);
    } else {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | head8[i];
        if (n < 2 || n > ST_MAX_HEADER) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "safetensors header length %llu is outside 2..%llu bytes",
                          (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
        } else if (n > file_size - 8) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "safetensors header length %llu runs past the end of the %llu-byte file",
                          (unsigned long long)n, (unsigned long long)file_size);
        } else {
            f->data_start = 8 + n;
            f->data_size = file_size - 8 - n;
            char *text = f->mem ? NULL : malloc((size_t)n);
            st = MEDSAM_OK;
            if (!f->mem && !text) st = ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %llu bytes for the header", (unsigned long long)n);
            if (!st && text) st = read_raw(f, 8, text, (size_t)n, err);
            const char *h = f->mem ? (const char *)f->mem + 8 : text;
            if (!st && h[0] != '{') st = ms_error(err, MEDSAM_ERR_FORMAT, "safetensors header does not start with '{'");
            if (!st) st = parse_header(f, h, (size_t)n, err);
            free(text);
        }
    }
    if (st) ms_error_prefix(err, f->name);
    return st;
}

static st_file *new_file(const char *name) {
    st_file *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->fd = -1;
    f->meta = -1;
    f->name = strdup(name ? name : "(memory)");
    if (!f->name) {
        free(f);
        return NULL;
    }
    return f;
}

medsam_status st_open(const char *path, st_file **out, medsam_error *err) {
    *out = NULL;
    st_file *f = new_file(path);
    if (!f) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
    f->fd = open(path, O_RDONLY);
    struct stat sb;
    if (f->fd < 0 || fstat(f->fd, &sb) != 0) {
        medsam_status st = ms_error(err, MEDSAM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        st_close(f);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        st_close(f);
        return ms_error(err, MEDSAM_ERR_IO, "%s: not a regular file", path);
    }
    uint8_t head[8] = {0};
    uint64_t size = (uint64_t)sb.st_size;
    medsam_status st = MEDSAM_OK;
    if (size >= 8) {
        ssize_t r = pread(f->fd, head, 8, 0);
        if (r != 8) st = ms_error(err, MEDSAM_ERR_IO, "%s: cannot read: %s", path, r < 0 ? strerror(errno) : "short read");
    }
    if (!st) st = open_common(f, size, head, err);
    if (st) {
        st_close(f);
        return st;
    }
    *out = f;
    return MEDSAM_OK;
}

medsam_status st_open_mem(const void *buf, size_t len, const char *name, st_file **out, medsam_error *err) {
    *out = NULL;
    st_file *f = new_file(name);
    if (!f) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    f->mem = buf;
    medsam_status st = open_common(f, len, buf, err);
    if (st) {
        st_close(f);
        return st;
    }
    *out = f;
    return MEDSAM_OK;
}

void st_close(st_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    json_free(f->doc);
    free(f->tensors);
    free(f->sorted);
    free(f->name);
    free(f);
}

int st_tensor_count(const st_file *f) { return f ? f->n : 0; }
const st_tensor *st_tensor_at(const st_file *f, int i) { return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL; }

const st_tensor *st_find(const st_file *f, const char *name) {
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->sorted[mid]->name, name);
        if (c == 0) return f->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key) {
    return f ? json_str(f->doc, json_get(f->doc, f->meta, key), NULL) : NULL;
}

medsam_status st_read_f32(const st_file *f, const st_tensor *t, float *dst, medsam_error *err) {
    if (!f || !t || t < f->tensors || t >= f->tensors + f->n)
        return ms_error(err, MEDSAM_ERR_ARG, "st_read_f32: the tensor does not belong to this file");
    const size_t es = (size_t)pth_dtype_size(t->dtype), total = (size_t)(t->end - t->begin);
    medsam_status st = MEDSAM_OK;
    if (ST_HOST_LITTLE_ENDIAN && t->dtype == PTH_F32) {
        st = read_at(f, t->begin, dst, total, err);
    } else {
        size_t chunk = total < ST_READ_CHUNK ? total : ST_READ_CHUNK - ST_READ_CHUNK % 8;
        uint8_t *buf = malloc(chunk ? chunk : 1);
        if (!buf) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: cannot allocate %zu bytes", f->name, chunk);
        for (size_t done = 0; done < total && !st; done += chunk) {
            size_t n = total - done < chunk ? total - done : chunk;
            st = read_at(f, t->begin + done, buf, n, err);
            if (!st) pth_convert_f32(t->dtype, buf, n / es, dst + done / es);
        }
        free(buf);
    }
    if (st) {
        char where[1200];
        snprintf(where, sizeof where, "%s: tensor '%s'", f->name, t->name);
        ms_error_prefix(err, where);
    }
    return st;
}
