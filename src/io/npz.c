/* npz.c — .npz read/write on top of the zip reader/writer of src/weights
 * and the .npy parser of src/core. */
#define _POSIX_C_SOURCE 200809L
#include "io/npz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/budget.h"
#include "core/error.h"
#include "weights/zip.h"

#define NPZ_MAX_MEMBER ((uint64_t)1 << 34) /* 16 GiB, as the .npy reader */
#define NPZ_DEFLATE_MAX_RATIO 1040u        /* deflate never expands more than ~1032:1 */
#define NPZ_DEFLATE_LEVEL 6                /* zipfile.ZIP_DEFLATED's default */

struct ms_npz {
    pth_zip *zip;
    char **names; /* per archive entry, ".npy" stripped */
    int n;
    char label[256]; /* file name (or "<memory>") for messages */
    uint64_t max_bytes; /* memory budget per member (core/budget.h); 0: none */
};

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

void ms_npz_close(ms_npz *npz) {
    if (!npz) return;
    for (int i = 0; i < npz->n; i++) free(npz->names[i]);
    free(npz->names);
    pth_zip_close(npz->zip);
    free(npz);
}

static medsam_status npz_index(ms_npz *npz, medsam_error *err) {
    int n = pth_zip_count(npz->zip);
    npz->names = calloc(n ? (size_t)n : 1, sizeof *npz->names);
    if (!npz->names) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *full = pth_zip_entry_at(npz->zip, i)->name;
        size_t len = strlen(full);
        if (ends_with(full, ".npy")) len -= 4;
        npz->names[i] = malloc(len + 1);
        if (!npz->names[i]) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        memcpy(npz->names[i], full, len);
        npz->names[i][len] = 0;
        npz->n = i + 1;
    }
    return MEDSAM_OK;
}

/* Member names come from the archive and may hold control characters; keep
 * messages on one printable line. */
static void one_line_message(medsam_error *err) {
    if (!err) return;
    for (char *c = err->message; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

static medsam_status npz_finish_open(ms_npz *npz, medsam_status st, ms_npz **out, medsam_error *err) {
    if (!st) st = npz_index(npz, err);
    if (st) {
        ms_error_prefix(err, npz->label);
        one_line_message(err);
        ms_npz_close(npz);
        return st;
    }
    *out = npz;
    return MEDSAM_OK;
}

medsam_status ms_npz_open(const char *path, ms_npz **out, medsam_error *err) {
    *out = NULL;
    ms_npz *npz = calloc(1, sizeof *npz);
    if (!npz) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    snprintf(npz->label, sizeof npz->label, "%s", path);
    return npz_finish_open(npz, pth_zip_open_file(path, &npz->zip, err), out, err);
}

medsam_status ms_npz_open_budget(const char *path, uint64_t max_bytes, ms_npz **out, medsam_error *err) {
    medsam_status st = ms_npz_open(path, out, err);
    if (!st) (*out)->max_bytes = max_bytes;
    return st;
}

medsam_status ms_npz_open_mem(const void *buf, size_t len, ms_npz **out, medsam_error *err) {
    *out = NULL;
    ms_npz *npz = calloc(1, sizeof *npz);
    if (!npz) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    snprintf(npz->label, sizeof npz->label, "<memory>");
    return npz_finish_open(npz, pth_zip_open_mem(buf, len, &npz->zip, err), out, err);
}

int ms_npz_count(const ms_npz *npz) { return npz->n; }

const char *ms_npz_name(const ms_npz *npz, int i) { return i >= 0 && i < npz->n ? npz->names[i] : NULL; }

static const pth_zip_entry *find_member(const ms_npz *npz, const char *name) {
    size_t len = strlen(name);
    char *full = malloc(len + 5);
    if (!full) return NULL;
    memcpy(full, name, len);
    memcpy(full + len, ".npy", 5);
    const pth_zip_entry *e = pth_zip_find(npz->zip, full);
    free(full);
    return e ? e : pth_zip_find(npz->zip, name);
}

int ms_npz_has(const ms_npz *npz, const char *name) { return find_member(npz, name) != NULL; }

static medsam_status get_member(const ms_npz *npz, const char *name, ms_npy *arr, medsam_error *err) {
    const pth_zip_entry *e = find_member(npz, name);
    if (!e) return ms_error(err, MEDSAM_ERR_FORMAT, "no array named '%s'", name);
    /* a deflated entry's declared size must be producible from its compressed bytes */
    uint64_t cap = e->method == 8 ? e->comp_size * NPZ_DEFLATE_MAX_RATIO + 1024 : e->comp_size;
    if (e->size > cap)
        return ms_error(err, MEDSAM_ERR_FORMAT, "declares %llu bytes but holds only %llu compressed bytes",
                        (unsigned long long)e->size, (unsigned long long)e->comp_size);
    // the declared size against the budget before inflating; the zip reader inflates into a buffer of
    // exactly that size and stops there, whatever the compressed stream holds
    medsam_status st = ms_budget_check(npz->max_bytes, e->size, "zip member (inflated)", err);
    if (st) return st;
    uint8_t *buf = NULL;
    size_t len = 0;
    st = pth_zip_read_all(npz->zip, e, NPZ_MAX_MEMBER, &buf, &len, err);
    if (!st) st = ms_npy_parse_take(buf, len, npz->max_bytes, arr, err);  // no second copy of the array
    return st;
}

medsam_status ms_npz_get(const ms_npz *npz, const char *name, ms_npy *arr, medsam_error *err) {
    memset(arr, 0, sizeof *arr);
    medsam_status st = get_member(npz, name, arr, err);
    if (st) {
        char prefix[512];
        snprintf(prefix, sizeof prefix, "%s: array '%.128s'", npz->label, name);
        ms_error_prefix(err, prefix);
        one_line_message(err);
    }
    return st;
}

/* ---- writer ---- */

static const struct {
    ms_npy_dtype t;
    const char *descr;
    int size;
} NPZ_DTYPES[] = {
    {MS_NPY_F32, "<f4", 4}, {MS_NPY_F64, "<f8", 8}, {MS_NPY_U8, "|u1", 1},  {MS_NPY_I16, "<i2", 2},
    {MS_NPY_U16, "<u2", 2}, {MS_NPY_I32, "<i4", 4}, {MS_NPY_I64, "<i8", 8}, {MS_NPY_BOOL, "|b1", 1},
    {MS_NPY_U32, "<u4", 4},
};

/* Format 1.0 .npy header as numpy writes it, padded to a multiple of 64 bytes
 * ending in '\n'. Returns its length, or 0 on a bad array. */
static size_t npy_header(const ms_npy *a, uint8_t *out, size_t cap, uint64_t *nbytes) {
    const char *descr = NULL;
    int size = 0;
    for (size_t i = 0; i < sizeof NPZ_DTYPES / sizeof NPZ_DTYPES[0]; i++)
        if (NPZ_DTYPES[i].t == a->dtype) descr = NPZ_DTYPES[i].descr, size = NPZ_DTYPES[i].size;
    if (!descr || a->ndim < 0 || a->ndim > MS_NPY_MAX_DIMS) return 0;
    uint64_t count = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0 || (a->shape[i] && count > NPZ_MAX_MEMBER / (uint64_t)a->shape[i])) return 0;
        count *= (uint64_t)a->shape[i];
    }
    if (count > NPZ_MAX_MEMBER / (uint64_t)size) return 0;
    *nbytes = count * (uint64_t)size;
    char *h = (char *)out + 10;
    size_t hcap = cap - 10;
    int n = snprintf(h, hcap, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < a->ndim; i++) n += snprintf(h + n, hcap - (size_t)n, i ? ", %lld" : "%lld", (long long)a->shape[i]);
    n += snprintf(h + n, hcap - (size_t)n, "%s), }", a->ndim == 1 ? "," : "");
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(h + n, ' ', pad);
    h[n + pad] = '\n';
    size_t hlen = (size_t)n + pad + 1;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (uint8_t)(hlen & 0xff);
    out[9] = (uint8_t)(hlen >> 8);
    return 10 + hlen;
}

static medsam_status write_members(pth_zip_writer *zw, const char *const *names, const ms_npy *arrays, int n,
                                   int compress, medsam_error *err) {
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0]) return ms_error(err, MEDSAM_ERR_ARG, "array %d has an empty name", i);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) return ms_error(err, MEDSAM_ERR_ARG, "duplicate array name '%s'", names[i]);
        uint8_t hdr[512];
        uint64_t nbytes = 0;
        size_t hlen = npy_header(&arrays[i], hdr, sizeof hdr, &nbytes);
        if (!hlen) return ms_error(err, MEDSAM_ERR_ARG, "array '%s': bad dtype, rank or shape", names[i]);
        if (nbytes && !arrays[i].data) return ms_error(err, MEDSAM_ERR_ARG, "array '%s' has no data", names[i]);
        size_t nlen = strlen(names[i]);
        char *member = malloc(nlen + 5);
        if (!member) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        memcpy(member, names[i], nlen);
        memcpy(member + nlen, ".npy", 5);
        pth_zip_part parts[2] = {{hdr, hlen}, {arrays[i].data, nbytes}};
        medsam_status st = pth_zip_writer_add_parts(zw, member, parts, 2, compress ? NPZ_DEFLATE_LEVEL : 0, err);
        free(member);
        if (st) return st;
    }
    return pth_zip_writer_finish(zw, err);
}

medsam_status ms_npz_write(const char *path, const char *const *names, const ms_npy *arrays, int n, int compress,
                           medsam_error *err) {
    if (n < 0 || (n > 0 && (!names || !arrays)))
        return ms_error(err, MEDSAM_ERR_ARG, "%s: bad array list", path);
    ms_atomic_file af;
    medsam_status st = ms_atomic_open(&af, path, err);
    if (st) return st;
    pth_zip_writer zw;
    pth_zip_writer_init(&zw, af.fp, 0);
    st = write_members(&zw, names, arrays, n, compress, err);
    pth_zip_writer_free(&zw);
    if (st) {
        ms_atomic_abort(&af);
        ms_error_prefix(err, path);
        return st;
    }
    return ms_atomic_commit(&af, err);
}
