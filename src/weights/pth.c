/* pth.c — torch.save checkpoint reader: locates <prefix>/data.pkl in the zip,
 * unpickles it with the restricted unpickler, picks the state dict, checks
 * every tensor's storage, and reads tensors (any supported dtype, any
 * strides) into float32 / int64 buffers. */
#include "weights/pth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/crc32.h"
#include "core/error.h"
#include "weights/zip.h"

#define PTH_MAX_PICKLE_BYTES ((uint64_t)256 << 20)
#define PTH_READ_CHUNK ((size_t)1 << 20)
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PTH_HOST_LITTLE_ENDIAN 1
#else
#define PTH_HOST_LITTLE_ENDIAN 0
#endif
#define PTH_SPAN_SLACK ((uint64_t)64 << 20) /* read a strided view's whole span up to this size */

struct pth_file {
    char *name;             /* path, for messages */
    pth_zip *zip;
    char *prefix;           /* "archive/", "<stem>/" or "" */
    pth_heap *heap;
    pth_value *root;
    const pth_value *state; /* dict the tensor list comes from, or NULL */
    pth_tensor *tensors;    /* state-dict tensors in file order */
    const pth_tensor **sorted;
    int n;
};

static const char *tname(const pth_tensor *t) { return t->name ? t->name : "(outside the state dict)"; }

const char *pth_shape_str(const pth_tensor *t, char *buf, size_t cap) {
    size_t n = 0;
    if (cap == 0) return buf;
    buf[0] = 0;
    n += (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < t->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, ")");
    return buf;
}

/* Last element index the view touches (valid when numel > 0; overflow was excluded when unpickling). */
static int64_t view_reach(const pth_tensor *t) {
    int64_t r = t->storage_offset;
    for (int d = 0; d < t->ndim; d++) r += (t->shape[d] - 1) * t->stride[d];
    return r;
}

/* Finds the tensor's storage entry and checks it can hold the declared storage and view. */
static medsam_status resolve_storage(pth_file *f, pth_tensor *t, medsam_error *err) {
    char ename[600], shape[160];
    snprintf(ename, sizeof ename, "%sdata/%s", f->prefix, t->storage_key);
    int es = pth_dtype_size(t->dtype);
    long long want = (long long)t->storage_numel * es;
    const pth_zip_entry *e = pth_zip_find(f->zip, ename);
    if (!e)
        return ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': storage %s is missing from the archive (expected %lld bytes)",
                        tname(t), ename, want);
    if (e->size < (uint64_t)want)
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "tensor '%s': storage %s holds %llu bytes, expected %lld (%lld %s elements); file truncated?",
                        tname(t), ename, (unsigned long long)e->size, want, (long long)t->storage_numel,
                        pth_dtype_name(t->dtype));
    if ((e->method != 0 && e->method != 8) || (e->flags & 1))
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "tensor '%s': storage %s is encrypted or uses compression method %u",
                        tname(t), ename, e->method);
    if (t->numel > 0 && view_reach(t) >= t->storage_numel)
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "tensor '%s': view (offset %lld, shape %s) reaches element %lld but its storage has %lld",
                        tname(t), (long long)t->storage_offset, pth_shape_str(t, shape, sizeof shape),
                        (long long)view_reach(t), (long long)t->storage_numel);
    t->storage_entry = (int)(e - pth_zip_entry_at(f->zip, 0));
    return MEDSAM_OK;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const pth_tensor *const *)a)->name, (*(const pth_tensor *const *)b)->name);
}

/* Chooses the state dict and builds the sorted tensor list. */
static medsam_status build_tensor_list(pth_file *f, medsam_error *err) {
    const pth_value *root = f->root, *s = NULL;
    if (pth_value_type(root) == PTH_VAL_DICT) {
        s = pth_dict_get(root, "model");
        if (pth_value_type(s) != PTH_VAL_DICT) s = pth_dict_get(root, "state_dict");
        if (pth_value_type(s) != PTH_VAL_DICT) s = root;
    }
    f->state = s;
    size_t count = 0;
    for (size_t i = 0; s && i < s->len; i++)
        if (s->items[2 * i]->type == PTH_VAL_STR && s->items[2 * i + 1]->type == PTH_VAL_TENSOR) count++;
    if (count > (size_t)1 << 24) return ms_error(err, MEDSAM_ERR_NOMEM, "too many tensors (%zu)", count);
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    f->sorted = calloc(count ? count : 1, sizeof *f->sorted);
    if (!f->tensors || !f->sorted) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s && i < s->len; i++) {
        const pth_value *k = s->items[2 * i], *v = s->items[2 * i + 1];
        if (k->type != PTH_VAL_STR || v->type != PTH_VAL_TENSOR) continue;
        if (strlen(k->str) != k->len) return ms_error(err, MEDSAM_ERR_FORMAT, "state-dict key contains a NUL byte");
        pth_tensor *t = &f->tensors[f->n];
        *t = *v->tensor;
        t->name = strncmp(k->str, "module.", 7) == 0 ? k->str + 7 : k->str;
        f->sorted[f->n++] = t;
    }
    qsort(f->sorted, (size_t)f->n, sizeof *f->sorted, cmp_tensor_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->sorted[i - 1]->name, f->sorted[i]->name) == 0)
            return ms_error(err, MEDSAM_ERR_FORMAT, "duplicate tensor name '%s' in the state dict", f->sorted[i]->name);
    medsam_status st;
    for (int i = 0; i < f->n; i++)
        if ((st = resolve_storage(f, &f->tensors[i], err))) return st;
    for (size_t i = 0; i < pth_heap_count(f->heap); i++) {
        pth_value *v = pth_heap_node(f->heap, i);
        if (v->type == PTH_VAL_TENSOR && (st = resolve_storage(f, v->tensor, err))) return st;
    }
    return MEDSAM_OK;
}

/* Finds the single <prefix>data.pkl whose prefix has no further '/'. */
static medsam_status find_data_pkl(pth_file *f, const pth_zip_entry **out, medsam_error *err) {
    *out = NULL;
    for (int i = 0; i < pth_zip_count(f->zip); i++) {
        const pth_zip_entry *e = pth_zip_entry_at(f->zip, i);
        size_t n = strlen(e->name);
        if (n < 8 || strcmp(e->name + n - 8, "data.pkl") != 0) continue;
        const char *slash = strchr(e->name, '/');
        int top_level = n == 8 || (slash && slash == e->name + n - 9 && slash != e->name);
        if (!top_level) continue;
        if (*out) return ms_error(err, MEDSAM_ERR_FORMAT, "archive has several data.pkl (%s, %s)", (*out)->name, e->name);
        *out = e;
    }
    if (!*out)
        return ms_error(err, MEDSAM_ERR_FORMAT, "no <folder>/data.pkl in the zip archive: not a torch.save checkpoint");
    size_t plen = strlen((*out)->name) - 8;
    f->prefix = malloc(plen + 1);
    if (!f->prefix) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    memcpy(f->prefix, (*out)->name, plen);
    f->prefix[plen] = 0;
    return MEDSAM_OK;
}

static medsam_status parse_archive(pth_file *f, medsam_error *err) {
    const pth_zip_entry *pkl;
    medsam_status st = find_data_pkl(f, &pkl, err);
    if (st) return st;
    char bo_name[600];
    snprintf(bo_name, sizeof bo_name, "%sbyteorder", f->prefix);
    const pth_zip_entry *bo = pth_zip_find(f->zip, bo_name);
    if (bo) {
        uint8_t *txt;
        size_t n;
        if ((st = pth_zip_read_all(f->zip, bo, 64, &txt, &n, err))) return st;
        int little = n == 6 && memcmp(txt, "little", 6) == 0;
        free(txt);
        if (!little) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "big-endian checkpoints are not supported");
    }
    uint8_t *buf;
    size_t len;
    if ((st = pth_zip_read_all(f->zip, pkl, PTH_MAX_PICKLE_BYTES, &buf, &len, err))) return st;
    f->heap = pth_heap_new(PTH_PICKLE_MAX_NODES);
    if (!f->heap) { free(buf); return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"); }
    st = pth_unpickle(buf, len, f->heap, &f->root, err);
    free(buf);
    if (st) {
        if (st != MEDSAM_ERR_UNSAFE) ms_error_prefix(err, pkl->name);
        return st;
    }
    return build_tensor_list(f, err);
}

/* Explains why a file that is not a readable zip was refused, from its first bytes. */
static medsam_status explain_not_zip(const uint8_t *head, size_t n, medsam_status st, medsam_error *err) {
    if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                 "legacy (pre-1.6) torch.save format is not supported; re-save it with torch >= 1.6 "
                 "(torch.save(torch.load(p), p))");
    if (n < 4 || memcmp(head, "PK\3\4", 4) != 0)
        return ms_error(err, MEDSAM_ERR_FORMAT, "not a PyTorch checkpoint (not a zip archive)");
    return st; /* a zip that lost its end: keep the zip reader's message */
}

static medsam_status open_common(pth_file *f, medsam_status st, const uint8_t *head, size_t nhead, pth_file **out,
                                 medsam_error *err) {
    if (st == MEDSAM_ERR_FORMAT) st = explain_not_zip(head, nhead, st, err);
    if (!st) st = parse_archive(f, err);
    if (st) {
        ms_error_prefix(err, f->name);
        pth_close(f);
        return st;
    }
    *out = f;
    return MEDSAM_OK;
}

static pth_file *new_file(const char *name) {
    pth_file *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->name = strdup(name ? name : "(memory)");
    if (!f->name) { free(f); return NULL; }
    return f;
}

medsam_status pth_open(const char *path, pth_file **out, medsam_error *err) {
    *out = NULL;
    pth_file *f = new_file(path);
    if (!f) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
    uint8_t head[4] = {0};
    size_t nhead = 0;
    medsam_status st = pth_zip_open_file(path, &f->zip, err);
    if (st == MEDSAM_ERR_FORMAT) {
        FILE *fp = fopen(path, "rb");
        if (fp) { nhead = fread(head, 1, sizeof head, fp); fclose(fp); }
    }
    return open_common(f, st, head, nhead, out, err);
}

medsam_status pth_open_mem(const void *buf, size_t len, const char *name, pth_file **out, medsam_error *err) {
    *out = NULL;
    pth_file *f = new_file(name);
    if (!f) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    medsam_status st = pth_zip_open_mem(buf, len, &f->zip, err);
    return open_common(f, st, buf, len < 4 ? len : 4, out, err);
}

void pth_close(pth_file *f) {
    if (!f) return;
    pth_zip_close(f->zip);
    pth_heap_free(f->heap);
    free(f->tensors);
    free(f->sorted);
    free(f->prefix);
    free(f->name);
    free(f);
}

int pth_tensor_count(const pth_file *f) { return f ? f->n : 0; }
const pth_tensor *pth_tensor_at(const pth_file *f, int i) { return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL; }
const pth_value *pth_root(const pth_file *f) { return f ? f->root : NULL; }
const pth_value *pth_state_dict(const pth_file *f) { return f ? f->state : NULL; }

const pth_tensor *pth_find(const pth_file *f, const char *name) {
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->sorted[mid]->name, name);
        if (c == 0) return f->sorted[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

/* ---- element conversion ---- */

static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp == 0) {
        if (!man) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 113;
            while (!(man & 0x400u)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 0x3FFu) << 13);
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

static uint64_t ld(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int64_t f64_to_i64(double x) {
    if (!(x == x)) return 0;
    if (x >= 9.2e18) return INT64_MAX;
    if (x <= -9.2e18) return INT64_MIN;
    return (int64_t)x;
}

static float bits_to_f32(uint32_t b) {
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static double bits_to_f64(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

void pth_convert_f32(pth_dtype dt, const uint8_t *src, size_t n, float *dst) {
    size_t i;
    switch (dt) {
    case PTH_F32: for (i = 0; i < n; i++) dst[i] = bits_to_f32((uint32_t)ld(src + 4 * i, 4)); break;
    case PTH_F16: for (i = 0; i < n; i++) dst[i] = half_to_f32((uint16_t)ld(src + 2 * i, 2)); break;
    case PTH_BF16: for (i = 0; i < n; i++) dst[i] = bits_to_f32((uint32_t)ld(src + 2 * i, 2) << 16); break;
    case PTH_F64: for (i = 0; i < n; i++) dst[i] = (float)bits_to_f64(ld(src + 8 * i, 8)); break;
    case PTH_I64: for (i = 0; i < n; i++) dst[i] = (float)(int64_t)ld(src + 8 * i, 8); break;
    case PTH_I32: for (i = 0; i < n; i++) dst[i] = (float)(int32_t)(uint32_t)ld(src + 4 * i, 4); break;
    case PTH_I16: for (i = 0; i < n; i++) dst[i] = (float)(int16_t)(uint16_t)ld(src + 2 * i, 2); break;
    case PTH_I8: for (i = 0; i < n; i++) dst[i] = (float)(int8_t)src[i]; break;
    case PTH_U8: for (i = 0; i < n; i++) dst[i] = (float)src[i]; break;
    case PTH_BOOL: for (i = 0; i < n; i++) dst[i] = src[i] != 0; break;
    }
}

/* Same to int64; floating values truncate toward zero (NaN -> 0, saturating). */
static void convert_i64(pth_dtype dt, const uint8_t *src, size_t n, int64_t *dst) {
    size_t i;
    switch (dt) {
    case PTH_F32: case PTH_F16: case PTH_BF16:
        for (i = 0; i < n; i++) {
            float v;
            pth_convert_f32(dt, src + (size_t)pth_dtype_size(dt) * i, 1, &v);
            dst[i] = f64_to_i64(v);
        }
        break;
    case PTH_F64: for (i = 0; i < n; i++) dst[i] = f64_to_i64(bits_to_f64(ld(src + 8 * i, 8))); break;
    case PTH_I64: for (i = 0; i < n; i++) dst[i] = (int64_t)ld(src + 8 * i, 8); break;
    case PTH_I32: for (i = 0; i < n; i++) dst[i] = (int32_t)(uint32_t)ld(src + 4 * i, 4); break;
    case PTH_I16: for (i = 0; i < n; i++) dst[i] = (int16_t)(uint16_t)ld(src + 2 * i, 2); break;
    case PTH_I8: for (i = 0; i < n; i++) dst[i] = (int8_t)src[i]; break;
    case PTH_U8: for (i = 0; i < n; i++) dst[i] = src[i]; break;
    case PTH_BOOL: for (i = 0; i < n; i++) dst[i] = src[i] != 0; break;
    }
}

static void convert(pth_dtype dt, const uint8_t *src, size_t n, float *f32, int64_t *i64) {
    if (f32) pth_convert_f32(dt, src, n, f32);
    else convert_i64(dt, src, n, i64);
}

static int is_contiguous(const pth_tensor *t) {
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) return 0;
        expect *= t->shape[d];
    }
    return 1;
}

/* Reads element runs of a contiguous view in chunks; verifies the CRC when the view is the whole entry. */
static medsam_status read_contiguous(const pth_file *f, const pth_zip_entry *e, const pth_tensor *t, float *f32,
                                     int64_t *i64, medsam_error *err) {
    int es = pth_dtype_size(t->dtype);
    uint64_t off = (uint64_t)t->storage_offset * (uint64_t)es, total = (uint64_t)t->numel * (uint64_t)es;
    size_t chunk = e->method == 0 ? PTH_READ_CHUNK : (size_t)total; /* inflate once for deflated entries */
    if (chunk > total) chunk = (size_t)total;
    int check_crc = off == 0 && total == e->size;
    uint32_t crc = 0;
    medsam_status st = MEDSAM_OK;
    /* stored little-endian float32: the file bytes are the values, read in place */
    const int in_place = PTH_HOST_LITTLE_ENDIAN && t->dtype == PTH_F32 && f32 && e->method == 0;
    uint8_t *buf = in_place ? NULL : malloc(chunk);
    if (!in_place && !buf) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %zu bytes", chunk);
    for (uint64_t done = 0; done < total && !st;) {
        size_t n = total - done < chunk ? (size_t)(total - done) : chunk;
        uint8_t *dst = in_place ? (uint8_t *)f32 + done : buf;
        st = pth_zip_read(f->zip, e, off + done, dst, n, err);
        if (st) break;
        if (check_crc) crc = ms_crc32(crc, dst, n);
        size_t el = (size_t)(done / (uint64_t)es);
        if (!in_place) convert(t->dtype, buf, n / (size_t)es, f32 ? f32 + el : NULL, i64 ? i64 + el : NULL);
        done += n;
    }
    free(buf);
    if (!st && check_crc && crc != e->crc32)
        st = ms_error(err, MEDSAM_ERR_FORMAT, "tensor '%s': storage %s fails its CRC-32 check (file corrupt)", tname(t),
                      e->name);
    return st;
}

/* Gathers a strided view: from one read of its span when that is small, else element by element
 * through a one-block cache. */
static medsam_status read_strided(const pth_file *f, const pth_zip_entry *e, const pth_tensor *t, float *f32,
                                  int64_t *i64, medsam_error *err) {
    int es = pth_dtype_size(t->dtype);
    uint64_t lo = (uint64_t)t->storage_offset * (uint64_t)es;
    uint64_t span = ((uint64_t)view_reach(t) + 1) * (uint64_t)es - lo;
    uint64_t slack = (uint64_t)t->numel * (uint64_t)es * 4;
    int whole_span = e->method != 0 || span <= PTH_SPAN_SLACK || span <= slack;
    size_t cap = whole_span ? (size_t)span : PTH_READ_CHUNK;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %zu bytes for tensor '%s'", cap, tname(t));
    medsam_status st = MEDSAM_OK;
    uint64_t blk_start = 0, blk_len = 0; /* cached bytes [blk_start, blk_start + blk_len) relative to lo */
    if (whole_span) {
        st = pth_zip_read(f->zip, e, lo, buf, (size_t)span, err);
        blk_len = span;
    }
    int64_t idx[PTH_MAX_DIMS] = {0};
    for (int64_t i = 0; i < t->numel && !st; i++) {
        uint64_t rel = 0;
        for (int d = 0; d < t->ndim; d++) rel += (uint64_t)(idx[d] * t->stride[d]);
        rel *= (uint64_t)es;
        if (rel < blk_start || rel + (uint64_t)es > blk_start + blk_len) {
            blk_start = rel;
            blk_len = span - rel < cap ? span - rel : cap;
            if ((st = pth_zip_read(f->zip, e, lo + blk_start, buf, (size_t)blk_len, err))) break;
        }
        convert(t->dtype, buf + (rel - blk_start), 1, f32 ? f32 + i : NULL, i64 ? i64 + i : NULL);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    free(buf);
    return st;
}

static medsam_status read_tensor(const pth_file *f, const pth_tensor *t, float *f32, int64_t *i64,
                                 medsam_error *err) {
    if (!f || !t) return ms_error(err, MEDSAM_ERR_ARG, "pth_read: NULL file or tensor");
    const pth_zip_entry *e = pth_zip_entry_at(f->zip, t->storage_entry);
    if (!e) return ms_error(err, MEDSAM_ERR_ARG, "%s: tensor '%s' does not belong to this file", f->name, tname(t));
    if (t->numel == 0) return MEDSAM_OK;
    medsam_status st = is_contiguous(t) ? read_contiguous(f, e, t, f32, i64, err) : read_strided(f, e, t, f32, i64, err);
    if (st) ms_error_prefix(err, f->name);
    return st;
}

medsam_status pth_read_f32(const pth_file *f, const pth_tensor *t, float *dst, medsam_error *err) {
    return read_tensor(f, t, dst, NULL, err);
}

medsam_status pth_read_i64(const pth_file *f, const pth_tensor *t, int64_t *dst, medsam_error *err) {
    return read_tensor(f, t, NULL, dst, err);
}
