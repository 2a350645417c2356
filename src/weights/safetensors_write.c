/* safetensors_write.c — writes float32 tensors as a safetensors file: the
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

medsam_status st_write_f32(const char *path, const st_out_tensor *t, int n, const char *const *meta, int nmeta,
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
        puts_(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
            puts_(&h, num);
        }
        uint64_t bytes = (uint64_t)numel_of(&t[i]) * 4;
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
    for (int i = 0; i < n; i++) write_f32(af.fp, t[i].data, numel_of(&t[i]));
    return ms_atomic_commit(&af, err);
}
