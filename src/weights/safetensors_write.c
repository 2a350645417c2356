/* safetensors_write.c — writes float32 tensors as a safetensors file (stored
 * as F32, or as F16 rounded to nearest even for bundled models): the
 * JSON header (metadata first, then the tensors in the caller's order, data
 * offsets contiguous from 0), padded with spaces to a multiple of 8 bytes as
 * the reference writer does, then the little-endian data; temp file + rename. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "weights/safetensors.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) { b->failed = 1; return; }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void put_str(sbuf *b, const char *s) {
    puts_(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; put(b, esc, 2); }
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); puts_(b, esc); }
        else put(b, (const char *)&c, 1);
    }
    puts_(b, "\"");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static medsam_status check_names(const st_out_tensor *t, int n, medsam_error *err) {
    const char **names = malloc((n > 0 ? (size_t)n : 1) * sizeof *names);
    if (!names) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    medsam_status st = MEDSAM_OK;
    for (int i = 0; i < n && !st; i++) {
        names[i] = t[i].name;
        if (!t[i].name || !*t[i].name || !strcmp(t[i].name, "__metadata__") || strlen(t[i].name) > ST_MAX_NAME)
            st = ms_error(err, MEDSAM_ERR_ARG, "tensor %d: invalid name", i);
        else if (t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS)
            st = ms_error(err, MEDSAM_ERR_ARG, "tensor '%s': rank %d", t[i].name, t[i].ndim);
    }
    if (!st) {
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        for (int i = 1; i < n && !st; i++)
            if (!strcmp(names[i - 1], names[i])) st = ms_error(err, MEDSAM_ERR_ARG, "duplicate tensor name '%s'", names[i]);
    }
    free(names);
    return st;
}

static size_t numel_of(const st_out_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* Writes n floats little-endian. */
static void write_f32(FILE *fp, const float *v, size_t n) {
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    fwrite(v, sizeof *v, n, fp);
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
        fwrite(b, 1, 4, fp);
    }
#endif
}

/* IEEE binary16 of a finite float, round to nearest even (subnormals included);
 * -1 when it overflows or is not finite. */
static int32_t f32_to_half(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, mag = u & 0x7fffffff;
    if (mag >= 0x7f800000) return -1;
    if (mag < 0x38800000) { /* below 2^-14: a subnormal half (or zero), in units of 2^-24 */
        if (mag < 0x33000000) return (int32_t)sign; /* under half of 2^-24: rounds to zero */
        uint32_t e = mag >> 23, m = (mag & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e; /* value = m * 2^(e-150); in 2^-24 units: m >> (126 - e) */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return (int32_t)(sign | q);
    }
    uint32_t h = ((mag - 0x38000000) >> 13); /* rebias exponent 127 -> 15, keep 10 mantissa bits */
    uint32_t rem = mag & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    if (h >= 0x7c00) return -1;
    return (int32_t)(sign | h);
}

/* Writes n floats as little-endian binary16; the first value out of range fails. */
static medsam_status write_f16(FILE *fp, const st_out_tensor *t, size_t n, medsam_error *err) {
    unsigned char buf[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t h = f32_to_half(t->data[i]);
        if (h < 0)
            return ms_error(err, MEDSAM_ERR_NUMERIC, "tensor '%s': value %g at %zu does not fit float16", t->name,
                            (double)t->data[i], i);
        buf[k++] = (unsigned char)h;
        buf[k++] = (unsigned char)(h >> 8);
        if (k == sizeof buf || i + 1 == n) {
            fwrite(buf, 1, k, fp);
            k = 0;
        }
    }
    return MEDSAM_OK;
}

medsam_status st_write_f32(const char *path, const st_out_tensor *t, int n, const char *const *meta, int nmeta,
                           medsam_error *err) {
    return st_write(path, t, n, meta, nmeta, 0, err);
}

medsam_status st_write(const char *path, const st_out_tensor *t, int n, const char *const *meta, int nmeta, int f16,
                       medsam_error *err) {
    medsam_status st = check_names(t, n, err);
    if (st) {
        ms_error_prefix(err, path);
        return st;
    }
    sbuf h = {0};
    char num[64];
    puts_(&h, "{");
    if (nmeta > 0) {
        puts_(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) puts_(&h, ",");
            put_str(&h, meta[2 * i]);
            puts_(&h, ":");
            put_str(&h, meta[2 * i + 1]);
        }
        puts_(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (i || nmeta > 0) puts_(&h, ",");
        put_str(&h, t[i].name);
        puts_(&h, f16 ? ":{\"dtype\":\"F16\",\"shape\":[" : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
            puts_(&h, num);
        }
        uint64_t bytes = (uint64_t)numel_of(&t[i]) * (f16 ? 2 : 4);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes));
        puts_(&h, num);
        off += bytes;
    }
    puts_(&h, "}");
    while (!h.failed && h.len % 8) puts_(&h, " ");
    if (h.failed) {
        free(h.buf);
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
    }
    if (h.len > ST_MAX_HEADER) {
        free(h.buf);
        return ms_error(err, MEDSAM_ERR_ARG, "%s: header of %zu bytes exceeds the format's limit", path, h.len);
    }
    ms_atomic_file af;
    if ((st = ms_atomic_open(&af, path, err))) {
        free(h.buf);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    fwrite(len8, 1, 8, af.fp);
    fwrite(h.buf, 1, h.len, af.fp);
    free(h.buf);
    for (int i = 0; i < n && !st; i++) {
        if (f16) st = write_f16(af.fp, &t[i], numel_of(&t[i]), err);
        else write_f32(af.fp, t[i].data, numel_of(&t[i]));
    }
    if (st) {
        ms_error_prefix(err, path);
        ms_atomic_abort(&af);
        return st;
    }
    return ms_atomic_commit(&af, err);
}
