/* dicom_write.c — the element tree, its explicit VR little endian encoding
 * (sorted by tag, defined lengths), Part 10 file meta information, and
 * UUID-derived UIDs. ref: DICOM PS3.5 7.1.2 (explicit VR), 7.5 (sequences),
 * PS3.10 7.1 (file meta information), PS3.5 B.2 (2.25 UIDs). */
#define _POSIX_C_SOURCE 200809L
#include "io/dicom_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/atomic_file.h"
#include "core/error.h"

typedef struct {
    uint32_t tag;
    char vr[2];
    uint8_t *val;      /* value bytes (not SQ) */
    size_t len;
    dw_ds **items;     /* SQ items */
    int nitems;
} dw_elem;

struct dw_ds {
    dw_elem *e;
    int n, cap;
    int *oom;          /* the root's sticky allocation-failure flag */
    int own_oom;
};

dw_ds *dw_new(void) {
    dw_ds *d = calloc(1, sizeof *d);
    if (d) d->oom = &d->own_oom;
    return d;
}

void dw_free(dw_ds *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->e[i].val);
        for (int k = 0; k < d->e[i].nitems; k++) dw_free(d->e[i].items[k]);
        free(d->e[i].items);
    }
    free(d->e);
    free(d);
}

/* The element `tag` of d, created (empty) when absent; NULL on failure. */
static dw_elem *slot(dw_ds *d, uint32_t tag, const char *vr) {
    if (!d || *d->oom) return NULL;
    for (int i = 0; i < d->n; i++)
        if (d->e[i].tag == tag) return &d->e[i];
    if (d->n == d->cap) {
        int nc = d->cap ? d->cap * 2 : 16;
        dw_elem *ne = realloc(d->e, (size_t)nc * sizeof *ne);
        if (!ne) {
            *d->oom = 1;
            return NULL;
        }
        d->e = ne, d->cap = nc;
    }
    dw_elem *e = &d->e[d->n++];
    memset(e, 0, sizeof *e);
    e->tag = tag, e->vr[0] = vr[0], e->vr[1] = vr[1];
    return e;
}

static void set_value(dw_ds *d, uint32_t tag, const char *vr, const void *p, size_t n, uint8_t pad) {
    dw_elem *e = slot(d, tag, vr);
    if (!e) return;
    uint8_t *v = malloc(n + 2);
    if (!v) {
        *d->oom = 1;
        return;
    }
    if (n) memcpy(v, p, n);
    if (n & 1) v[n++] = pad;
    free(e->val);
    e->val = v, e->len = n;
}

void dw_text(dw_ds *d, uint32_t tag, const char *vr, const char *s) {
    set_value(d, tag, vr, s ? s : "", s ? strlen(s) : 0, !strncmp(vr, "UI", 2) ? 0 : ' ');
}

void dw_ds_values(dw_ds *d, uint32_t tag, const double *v, int n) {
    char buf[17 * 16 + 1] = "";
    size_t at = 0;
    for (int i = 0; i < n && i < 16; i++) {
        char one[40];
        for (int prec = 14; prec >= 1; prec--) { /* shortest within DS's 16 characters */
            snprintf(one, sizeof one, "%.*g", prec, v[i] == 0 ? 0.0 : v[i]);
            if (strlen(one) <= 16) break;
        }
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s", i ? "\\" : "", one);
    }
    dw_text(d, tag, "DS", buf);
}

void dw_is(dw_ds *d, uint32_t tag, long v) {
    char b[24];
    snprintf(b, sizeof b, "%ld", v);
    dw_text(d, tag, "IS", b);
}

void dw_us(dw_ds *d, uint32_t tag, uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    set_value(d, tag, "US", b, 2, 0);
}

void dw_ul(dw_ds *d, uint32_t tag, const uint32_t *v, int n) {
    uint8_t b[4 * 16];
    for (int i = 0; i < n && i < 16; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(v[i] >> (8 * k));
    set_value(d, tag, "UL", b, 4 * (size_t)(n < 16 ? n : 16), 0);
}

void dw_at(dw_ds *d, uint32_t tag, uint32_t t) {
    uint8_t b[4] = {(uint8_t)(t >> 16), (uint8_t)(t >> 24), (uint8_t)t, (uint8_t)(t >> 8)};
    set_value(d, tag, "AT", b, 4, 0);
}

void dw_bytes(dw_ds *d, uint32_t tag, const char *vr, const void *p, size_t n) { set_value(d, tag, vr, p, n, 0); }

dw_ds *dw_item(dw_ds *d, uint32_t tag) {
    dw_elem *e = slot(d, tag, "SQ");
    if (!e) return NULL;
    dw_ds **ni = realloc(e->items, (size_t)(e->nitems + 1) * sizeof *ni);
    dw_ds *it = calloc(1, sizeof *it);
    if (!ni || !it) {
        if (ni) e->items = ni;
        free(it);
        *d->oom = 1;
        return NULL;
    }
    it->oom = d->oom;
    e->items = ni, e->items[e->nitems++] = it;
    return it;
}

void dw_code(dw_ds *d, uint32_t tag, const char *value, const char *scheme, const char *meaning) {
    dw_ds *it = dw_item(d, tag);
    dw_text(it, 0x00080100, "SH", value);
    dw_text(it, 0x00080102, "SH", scheme);
    dw_text(it, 0x00080104, "LO", meaning);
}

/* ---- encoding ---- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
    int oom;
} dw_buf;

static void put(dw_buf *o, const void *p, size_t n) {
    if (o->oom) return;
    if (o->n + n > o->cap) {
        size_t nc = (o->n + n) * 2 + 4096;
        uint8_t *nb = realloc(o->b, nc);
        if (!nb) {
            o->oom = 1;
            return;
        }
        o->b = nb, o->cap = nc;
    }
    memcpy(o->b + o->n, p, n), o->n += n;
}

static void put16(dw_buf *o, uint32_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(o, b, 2);
}

static void put32(dw_buf *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}

static int long_vr(const char *vr) {
    static const char *const L[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV", NULL};
    for (int i = 0; L[i]; i++)
        if (!strncmp(vr, L[i], 2)) return 1;
    return 0;
}

static int cmp_elem(const void *a, const void *b) {
    uint32_t x = ((const dw_elem *)a)->tag, y = ((const dw_elem *)b)->tag;
    return (x > y) - (x < y);
}

static void put_header(dw_buf *o, uint32_t tag, const char *vr, size_t len) {
    put16(o, tag >> 16), put16(o, tag & 0xFFFF), put(o, vr, 2);
    if (long_vr(vr)) put16(o, 0), put32(o, (uint32_t)len);
    else put16(o, (uint32_t)len);
}

static void encode(const dw_ds *d, dw_buf *o);

static void encode_elem(const dw_elem *e, dw_buf *o) {
    if (!strncmp(e->vr, "SQ", 2)) {
        dw_buf body = {0};
        for (int k = 0; k < e->nitems; k++) {
            dw_buf item = {0};
            encode(e->items[k], &item);
            put16(&body, 0xFFFE), put16(&body, 0xE000), put32(&body, (uint32_t)item.n);
            put(&body, item.b, item.n);
            body.oom |= item.oom;
            free(item.b);
        }
        put_header(o, e->tag, "SQ", body.n);
        put(o, body.b, body.n);
        o->oom |= body.oom;
        free(body.b);
        return;
    }
    if (!long_vr(e->vr) && e->len > 0xFFFF) { /* a short-VR value over 64 KiB cannot be encoded */
        o->oom = 1;
        return;
    }
    put_header(o, e->tag, e->vr, e->len);
    put(o, e->val, e->len);
}

static void encode(const dw_ds *d, dw_buf *o) {
    dw_elem *sorted = malloc((size_t)(d->n ? d->n : 1) * sizeof *sorted);
    if (!sorted) {
        o->oom = 1;
        return;
    }
    memcpy(sorted, d->e, (size_t)d->n * sizeof *sorted);
    qsort(sorted, (size_t)d->n, sizeof *sorted, cmp_elem);
    for (int i = 0; i < d->n; i++) encode_elem(&sorted[i], o);
    free(sorted);
}

medsam_status dw_write_file(const dw_ds *ds, const char *sop_class, const char *sop_instance, const char *path,
                            medsam_error *err) {
    if (!ds || *ds->oom) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory building the data set", path);
    dw_ds *meta = dw_new();
    if (!meta) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
    static const uint8_t version[2] = {0, 1};
    dw_bytes(meta, 0x00020001, "OB", version, 2);
    dw_text(meta, 0x00020002, "UI", sop_class);
    dw_text(meta, 0x00020003, "UI", sop_instance);
    dw_text(meta, 0x00020010, "UI", "1.2.840.10008.1.2.1");
    dw_text(meta, 0x00020012, "UI", DW_IMPLEMENTATION_UID);
    dw_text(meta, 0x00020013, "SH", DW_IMPLEMENTATION_VERSION);
    dw_buf m = {0}, body = {0}, file = {0};
    encode(meta, &m);
    encode(ds, &body);
    static const uint8_t zeros[128] = {0};
    put(&file, zeros, 128), put(&file, "DICM", 4);
    put_header(&file, 0x00020000, "UL", 4), put32(&file, (uint32_t)m.n);
    put(&file, m.b, m.n), put(&file, body.b, body.n);
    int oom = m.oom || body.oom || file.oom || *meta->oom;
    free(m.b), free(body.b);
    dw_free(meta);
    if (oom) {
        free(file.b);
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory encoding the data set", path);
    }
    ms_atomic_file af;
    medsam_status st = ms_atomic_open(&af, path, err);
    if (st == MEDSAM_OK) {
        if (fwrite(file.b, 1, file.n, af.fp) != file.n) {
            ms_atomic_abort(&af);
            st = ms_error(err, MEDSAM_ERR_IO, "%s: write failed", path);
        } else {
            st = ms_atomic_commit(&af, err);
        }
    }
    free(file.b);
    return st;
}

medsam_status dw_new_uid(char out[65], medsam_error *err) {
    uint8_t u[16];
    size_t got = 0;
    while (got < sizeof u) {
        ssize_t r = getrandom(u + got, sizeof u - got, 0);
        if (r <= 0) return ms_error(err, MEDSAM_ERR_IO, "no random bytes for a new UID");
        got += (size_t)r;
    }
    u[6] = (uint8_t)((u[6] & 0x0F) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3F) | 0x80); /* variant 10 */
    /* 128-bit big-endian number to decimal: repeated division by 10 */
    char digits[48];
    int nd = 0, nonzero = 1;
    while (nonzero) {
        unsigned rem = 0;
        nonzero = 0;
        for (int i = 0; i < 16; i++) {
            unsigned cur = rem * 256 + u[i];
            u[i] = (uint8_t)(cur / 10), rem = cur % 10;
            nonzero |= u[i] != 0;
        }
        digits[nd++] = (char)('0' + rem);
    }
    int at = snprintf(out, 65, "2.25.");
    while (nd) out[at++] = digits[--nd];
    out[at] = 0;
    return MEDSAM_OK;
}
