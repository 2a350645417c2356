/* zip_write.c — writes stored (uncompressed) zip entries the way torch.save
 * lays them out: each entry's data starts on a 64-byte boundary (padding goes
 * into an "FB" extra field), sizes and CRC-32 are in the local header, and
 * ZIP64 records are added for entries or offsets past 4 GiB. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"
#include "weights/zip.h"

#define ZIP_ALIGN 64
#define U32_MAX_FIELD 0xFFFFFFFFu

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void wr64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static medsam_status zw_write(pth_zip_writer *w, const void *data, size_t len, medsam_error *err) {
    if (len && fwrite(data, 1, len, w->fp) != len) return ms_error(err, MEDSAM_ERR_IO, "write failed");
    w->pos += len;
    return MEDSAM_OK;
}

void pth_zip_writer_init(pth_zip_writer *w, FILE *fp, int force_zip64) {
    memset(w, 0, sizeof *w);
    w->fp = fp;
    w->force_zip64 = force_zip64;
}

void pth_zip_writer_free(pth_zip_writer *w) {
    for (int i = 0; i < w->n; i++) free(w->entries[i].name);
    free(w->entries);
    w->entries = NULL;
    w->n = w->cap = 0;
}

static uint32_t crc_of(const void *data, uint64_t len) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const uint8_t *p = data;
    while (len) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)crc;
}

medsam_status pth_zip_writer_add(pth_zip_writer *w, const char *name, const void *data, uint64_t len,
                                 medsam_error *err) {
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 0xFFFF) return ms_error(err, MEDSAM_ERR_ARG, "bad zip entry name length %zu", nlen);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        pth_zip_written *e = realloc(w->entries, (size_t)cap * sizeof *e);
        if (!e) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        w->entries = e;
        w->cap = cap;
    }
    pth_zip_written *e = &w->entries[w->n];
    e->name = malloc(nlen + 1);
    if (!e->name) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    memcpy(e->name, name, nlen + 1);
    e->crc32 = crc_of(data, len);
    e->size = len;
    e->header_offset = w->pos;
    w->n++;

    int z64 = w->force_zip64 || len >= U32_MAX_FIELD;
    size_t z64_len = z64 ? 20 : 0; /* id, size, usize, csize */
    uint64_t base = w->pos + 30 + nlen + z64_len + 4;
    size_t pad = (size_t)((ZIP_ALIGN - base % ZIP_ALIGN) % ZIP_ALIGN);
    uint8_t hdr[30 + 20 + 4 + ZIP_ALIGN];
    wr32(hdr, 0x04034b50u);
    wr16(hdr + 4, z64 ? 45 : 20); /* version needed */
    wr16(hdr + 6, 0);             /* flags */
    wr16(hdr + 8, 0);             /* stored */
    wr16(hdr + 10, 0);            /* time */
    wr16(hdr + 12, 0x21);         /* date: 1980-01-01 */
    wr32(hdr + 14, e->crc32);
    wr32(hdr + 18, z64 ? U32_MAX_FIELD : (uint32_t)len);
    wr32(hdr + 22, z64 ? U32_MAX_FIELD : (uint32_t)len);
    wr16(hdr + 26, (uint16_t)nlen);
    wr16(hdr + 28, (uint16_t)(z64_len + 4 + pad));
    medsam_status st = zw_write(w, hdr, 30, err);
    if (!st) st = zw_write(w, name, nlen, err);
    size_t x = 0;
    if (z64) {
        wr16(hdr + x, 1);
        wr16(hdr + x + 2, 16);
        wr64(hdr + x + 4, len);
        wr64(hdr + x + 12, len);
        x += 20;
    }
    wr16(hdr + x, 0x4246); /* "FB": torch's alignment padding field */
    wr16(hdr + x + 2, (uint16_t)pad);
    memset(hdr + x + 4, 'Z', pad);
    x += 4 + pad;
    if (!st) st = zw_write(w, hdr, x, err);
    for (uint64_t done = 0; !st && done < len;) {
        size_t n = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        st = zw_write(w, (const uint8_t *)data + done, n, err);
        done += n;
    }
    return st;
}

medsam_status pth_zip_writer_finish(pth_zip_writer *w, medsam_error *err) {
    uint64_t cd_off = w->pos;
    medsam_status st = MEDSAM_OK;
    for (int i = 0; i < w->n && !st; i++) {
        const pth_zip_written *e = &w->entries[i];
        size_t nlen = strlen(e->name);
        int big_size = w->force_zip64 || e->size >= U32_MAX_FIELD;
        int big_off = w->force_zip64 || e->header_offset >= U32_MAX_FIELD;
        size_t z64_len = (big_size || big_off) ? 4 + 16u * (size_t)big_size + 8u * (size_t)big_off : 0;
        uint8_t h[46 + 28];
        wr32(h, 0x02014b50u);
        wr16(h + 4, z64_len ? 45 : 20); /* version made by */
        wr16(h + 6, z64_len ? 45 : 20); /* version needed */
        wr16(h + 8, 0);
        wr16(h + 10, 0);
        wr16(h + 12, 0);
        wr16(h + 14, 0x21);
        wr32(h + 16, e->crc32);
        wr32(h + 20, big_size ? U32_MAX_FIELD : (uint32_t)e->size);
        wr32(h + 24, big_size ? U32_MAX_FIELD : (uint32_t)e->size);
        wr16(h + 28, (uint16_t)nlen);
        wr16(h + 30, (uint16_t)z64_len);
        wr16(h + 32, 0); /* comment */
        wr16(h + 34, 0); /* disk */
        wr16(h + 36, 0); /* internal attributes */
        wr32(h + 38, 0); /* external attributes */
        wr32(h + 42, big_off ? U32_MAX_FIELD : (uint32_t)e->header_offset);
        st = zw_write(w, h, 46, err);
        if (!st) st = zw_write(w, e->name, nlen, err);
        if (!st && z64_len) {
            size_t x = 0;
            wr16(h + x, 1);
            wr16(h + x + 2, (uint16_t)(z64_len - 4));
            x += 4;
            if (big_size) { wr64(h + x, e->size); wr64(h + x + 8, e->size); x += 16; }
            if (big_off) { wr64(h + x, e->header_offset); x += 8; }
            st = zw_write(w, h, x, err);
        }
    }
    if (st) return st;
    uint64_t cd_size = w->pos - cd_off;
    int z64 = w->force_zip64 || w->n >= 0xFFFF || cd_off >= U32_MAX_FIELD || cd_size >= U32_MAX_FIELD;
    uint8_t r[56];
    if (z64) {
        uint64_t z64_off = w->pos;
        wr32(r, 0x06064b50u);
        wr64(r + 4, 44); /* size of the rest of this record */
        wr16(r + 12, 45);
        wr16(r + 14, 45);
        wr32(r + 16, 0);
        wr32(r + 20, 0);
        wr64(r + 24, (uint64_t)w->n);
        wr64(r + 32, (uint64_t)w->n);
        wr64(r + 40, cd_size);
        wr64(r + 48, cd_off);
        if ((st = zw_write(w, r, 56, err))) return st;
        wr32(r, 0x07064b50u);
        wr32(r + 4, 0);
        wr64(r + 8, z64_off);
        wr32(r + 16, 1);
        if ((st = zw_write(w, r, 20, err))) return st;
    }
    wr32(r, 0x06054b50u);
    wr16(r + 4, 0);
    wr16(r + 6, 0);
    wr16(r + 8, z64 ? 0xFFFF : (uint16_t)w->n);
    wr16(r + 10, z64 ? 0xFFFF : (uint16_t)w->n);
    wr32(r + 12, z64 ? U32_MAX_FIELD : (uint32_t)cd_size);
    wr32(r + 16, z64 ? U32_MAX_FIELD : (uint32_t)cd_off);
    wr16(r + 20, 0);
    return zw_write(w, r, 22, err);
}
