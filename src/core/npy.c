/* npy.c — minimal, defensive .npy reader/writer. */
#define _POSIX_C_SOURCE 200809L
#include "core/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/budget.h"
#include "core/error.h"

#define NPY_MAX_BYTES ((int64_t)1 << 34) /* 16 GiB: refuse anything larger */

static const struct { ms_npy_dtype t; const char *descr; int size; } DTYPES[] = {
    {MS_NPY_F32, "<f4", 4}, {MS_NPY_F64, "<f8", 8}, {MS_NPY_U8, "|u1", 1},
    {MS_NPY_I16, "<i2", 2}, {MS_NPY_U16, "<u2", 2}, {MS_NPY_I32, "<i4", 4},
    {MS_NPY_I64, "<i8", 8}, {MS_NPY_BOOL, "|b1", 1}, {MS_NPY_U32, "<u4", 4},
};

static int dtype_size(ms_npy_dtype t) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].t == t) return DTYPES[i].size;
    return 0;
}

/* Finds the value text after 'key': in a Python dict literal header. */
static const char *header_value(const char *hdr, size_t len, const char *key) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < len; i++) {
        if (memcmp(hdr + i, key, kl) == 0) {
            const char *p = hdr + i + kl;
            while (p < hdr + len && (*p == ' ' || *p == ':')) p++;
            return p < hdr + len ? p : NULL;
        }
    }
    return NULL;
}

medsam_status ms_npy_parse(const uint8_t *buf, size_t len, ms_npy *out, medsam_error *err) {
    return ms_npy_parse_budget(buf, len, 0, out, err);
}

/* The header: fills out's dtype / shape / count, *doff and *nbytes (data offset and size). */
static medsam_status npy_header_parse(const uint8_t *buf, size_t len, uint64_t max_bytes, ms_npy *out, size_t *doff_out,
                                      size_t *nbytes_out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return ms_error(err, MEDSAM_ERR_FORMAT, "not a .npy file (bad magic)");
    int major = buf[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = buf[8] | (buf[9] << 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return ms_error(err, MEDSAM_ERR_FORMAT, "truncated .npy header");
        hlen = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) | ((size_t)buf[11] << 24);
        hoff = 12;
    } else {
        return ms_error(err, MEDSAM_ERR_FORMAT, "unsupported .npy version %d", major);
    }
    if (hlen > 65536 || hoff + hlen > len)
        return ms_error(err, MEDSAM_ERR_FORMAT, "truncated or oversized .npy header (%zu bytes)", hlen);
    const char *hdr = (const char *)buf + hoff;

    const char *d = header_value(hdr, hlen, "'descr'");
    if (!d || *d != '\'') return ms_error(err, MEDSAM_ERR_FORMAT, ".npy header has no descr");
    int found = 0;
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++) {
        size_t dl = strlen(DTYPES[i].descr);
        if ((size_t)(hdr + hlen - d) > dl + 1 && memcmp(d + 1, DTYPES[i].descr, dl) == 0 && d[1 + dl] == '\'') {
            out->dtype = DTYPES[i].t;
            found = 1;
        }
    }
    if (!found) {
        char descr[16] = {0};
        for (int i = 0; i < 15 && d + 1 + i < hdr + hlen && d[1 + i] != '\''; i++)
            descr[i] = (d[1 + i] >= 32 && d[1 + i] < 127) ? d[1 + i] : '?'; /* keep the message one printable line */
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "unsupported .npy dtype '%s'", descr);
    }
    const char *f = header_value(hdr, hlen, "'fortran_order'");
    if (!f) return ms_error(err, MEDSAM_ERR_FORMAT, ".npy header has no fortran_order");
    if (strncmp(f, "True", 4) == 0)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "Fortran-ordered .npy arrays are not supported");
    const char *s = header_value(hdr, hlen, "'shape'");
    if (!s || *s != '(') return ms_error(err, MEDSAM_ERR_FORMAT, ".npy header has no shape");
    s++;
    out->ndim = 0;
    out->count = 1;
    while (s < hdr + hlen && *s != ')') {
        while (s < hdr + hlen && (*s == ' ' || *s == ',')) s++;
        if (s >= hdr + hlen || *s == ')') break;
        if (*s < '0' || *s > '9') return ms_error(err, MEDSAM_ERR_FORMAT, "bad .npy shape");
        int64_t v = 0;
        while (s < hdr + hlen && *s >= '0' && *s <= '9') {
            v = v * 10 + (*s - '0');
            if (v > NPY_MAX_BYTES) return ms_error(err, MEDSAM_ERR_NOMEM, ".npy dimension too large");
            s++;
        }
        if (out->ndim >= MS_NPY_MAX_DIMS) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, ".npy has too many dimensions");
        out->shape[out->ndim++] = v;
        if (v && out->count > NPY_MAX_BYTES / v) return ms_error(err, MEDSAM_ERR_NOMEM, ".npy array too large");
        out->count *= v;
    }
    int es = dtype_size(out->dtype);
    if (out->count > NPY_MAX_BYTES / es) return ms_error(err, MEDSAM_ERR_NOMEM, ".npy array too large");
    size_t nbytes = (size_t)out->count * es;
    size_t doff = hoff + hlen;
    // the header's size against the budget first: a header that lies about a small file is refused the same way
    medsam_status bst = ms_budget_check(max_bytes, nbytes, ".npy array", err);
    if (bst) return bst;
    if (len - doff < nbytes)
        return ms_error(err, MEDSAM_ERR_FORMAT, "truncated .npy data: %zu of %zu bytes", len - doff, nbytes);
    *doff_out = doff, *nbytes_out = nbytes;
    return MEDSAM_OK;
}

medsam_status ms_npy_parse_take(uint8_t *buf, size_t len, uint64_t max_bytes, ms_npy *out, medsam_error *err) {
    size_t doff = 0, nbytes = 0;
    medsam_status st = npy_header_parse(buf, len, max_bytes, out, &doff, &nbytes, err);
    if (st) {
        free(buf);
        return st;
    }
    memmove(buf, buf + doff, nbytes);
    uint8_t *shrunk = realloc(buf, nbytes ? nbytes : 1);
    out->data = shrunk ? shrunk : buf;
    return MEDSAM_OK;
}

medsam_status ms_npy_parse_budget(const uint8_t *buf, size_t len, uint64_t max_bytes, ms_npy *out, medsam_error *err) {
    size_t doff = 0, nbytes = 0;
    medsam_status st = npy_header_parse(buf, len, max_bytes, out, &doff, &nbytes, err);
    if (st) return st;
    out->data = malloc(nbytes ? nbytes : 1);
    if (!out->data) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %zu bytes", nbytes);
    memcpy(out->data, buf + doff, nbytes);
    return MEDSAM_OK;
}

medsam_status ms_npy_read(const char *path, ms_npy *out, medsam_error *err) {
    return ms_npy_read_budget(path, 0, out, err);
}

medsam_status ms_npy_read_budget(const char *path, uint64_t max_bytes, ms_npy *out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return ms_error(err, MEDSAM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0) { fclose(fp); return ms_error(err, MEDSAM_ERR_IO, "%s: cannot seek", path); }
    long sz = ftell(fp);
    rewind(fp);
    if (sz < 0 || sz > NPY_MAX_BYTES) { fclose(fp); return ms_error(err, MEDSAM_ERR_NOMEM, "%s: file too large", path); }
    uint8_t *buf = malloc(sz ? (size_t)sz : 1);
    if (!buf) { fclose(fp); return ms_error(err, MEDSAM_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, sz); }
    size_t got = fread(buf, 1, (size_t)sz, fp);
    fclose(fp);
    medsam_status st = got == (size_t)sz ? ms_npy_parse_budget(buf, got, max_bytes, out, err)
                                         : ms_error(err, MEDSAM_ERR_IO, "short read");
    free(buf);
    if (st != MEDSAM_OK) ms_error_prefix(err, path);
    return st;
}

medsam_status ms_npy_to_f32(const ms_npy *a, float **out, medsam_error *err) {
    float *f = malloc((size_t)(a->count ? a->count : 1) * sizeof(float));
    if (!f) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %lld floats", (long long)a->count);
    for (int64_t i = 0; i < a->count; i++) {
        switch (a->dtype) {
        case MS_NPY_F32: f[i] = ((const float *)a->data)[i]; break;
        case MS_NPY_F64: f[i] = (float)((const double *)a->data)[i]; break;
        case MS_NPY_U8: case MS_NPY_BOOL: f[i] = ((const uint8_t *)a->data)[i]; break;
        case MS_NPY_I16: f[i] = ((const int16_t *)a->data)[i]; break;
        case MS_NPY_U16: f[i] = ((const uint16_t *)a->data)[i]; break;
        case MS_NPY_I32: f[i] = (float)((const int32_t *)a->data)[i]; break;
        case MS_NPY_I64: f[i] = (float)((const int64_t *)a->data)[i]; break;
        case MS_NPY_U32: f[i] = (float)((const uint32_t *)a->data)[i]; break;
        }
    }
    *out = f;
    return MEDSAM_OK;
}

void ms_npy_free(ms_npy *a) {
    free(a->data);
    a->data = NULL;
}

medsam_status ms_npy_write(const char *path, ms_npy_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, medsam_error *err) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].t == dtype) descr = DTYPES[i].descr;
    if (!descr || ndim < 0 || ndim > MS_NPY_MAX_DIMS)
        return ms_error(err, MEDSAM_ERR_ARG, "%s: bad npy dtype or rank", path);
    char hdr[512];
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) count *= shape[i];
    /* shape text: "(a, b, c)" or "(a,)" */
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        n += snprintf(hdr + n, sizeof hdr - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    n += snprintf(hdr + n, sizeof hdr - n, "%s), }", ndim == 1 ? "," : "");
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    for (int i = 0; i < pad; i++) hdr[n++] = ' ';
    hdr[n++] = '\n';
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(n & 0xff), (uint8_t)(n >> 8)};

    ms_atomic_file af;
    medsam_status st = ms_atomic_open(&af, path, err);
    if (st) return st;
    size_t es = (size_t)dtype_size(dtype);
    fwrite(pre, 1, 10, af.fp);
    fwrite(hdr, 1, (size_t)n, af.fp);
    if (count) fwrite(data, es, (size_t)count, af.fp);
    return ms_atomic_commit(&af, err);
}
