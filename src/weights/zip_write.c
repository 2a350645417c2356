/* zip_write.c — writes stored (uncompressed) zip entries the way torch.save
 * lays them out: each entry's data starts on a 64-byte boundary (padding goes
 * into an "FB" extra field), sizes and CRC-32 are in the local header, and
 * ZIP64 records are added for entries or offsets past 4 GiB. Deflated entries
 * (for numpy .npz) are streamed through zlib and their compressed size is
 * patched into the local header afterwards. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/crc32.h"
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

static uint32_t crc_of(const pth_zip_part *parts, int nparts) {
    uint32_t crc = 0;
    for (int k = 0; k < nparts; k++) crc = ms_crc32(crc, parts[k].data, (size_t)parts[k].len);
    return crc;
}

/* Deflates the parts (raw deflate, no zlib wrapper) straight to the file. */
static medsam_status zw_deflate(pth_zip_writer *w, const pth_zip_part *parts, int nparts, int level,
                                uint64_t *comp_size, medsam_error *err) {
    enum { OUT_CHUNK = 256 << 10 };
    uint8_t *out = malloc(OUT_CHUNK);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (!out || deflateInit2(&s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(out);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot start deflate");
    }
    medsam_status st = MEDSAM_OK;
    uint64_t start = w->pos;
    for (int k = 0; k <= nparts && !st; k++) {
        const uint8_t *p = k < nparts ? parts[k].data : NULL;
        uint64_t left = k < nparts ? parts[k].len : 0;
        int last = k == nparts;
        do {
            uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
            s.next_in = (Bytef *)(uintptr_t)p;
            s.avail_in = n;
            if (n) p += n;
            left -= n;
            int flush = last ? Z_FINISH : Z_NO_FLUSH;
            int zr;
            do {
                s.next_out = out;
                s.avail_out = OUT_CHUNK;
                zr = deflate(&s, flush);
                if (zr == Z_STREAM_ERROR) { st = ms_error(err, MEDSAM_ERR_IO, "deflate failed"); break; }
                st = zw_write(w, out, OUT_CHUNK - s.avail_out, err);
            } while (!st && (s.avail_out == 0 || (last && zr != Z_STREAM_END)));
        } while (!st && left);
    }
    deflateEnd(&s);
    free(out);
    *comp_size = w->pos - start;
    return st;
}

/* Overwrites `len` bytes at absolute file offset `at`, then returns to the end. */
static medsam_status zw_patch(pth_zip_writer *w, long long at, const uint8_t *bytes, size_t len,
                              medsam_error *err) {
    long long end = (long long)ftello(w->fp);
    if (end < 0 || fseeko(w->fp, (off_t)at, SEEK_SET) != 0 || fwrite(bytes, 1, len, w->fp) != len ||
        fseeko(w->fp, (off_t)end, SEEK_SET) != 0)
        return ms_error(err, MEDSAM_ERR_IO, "cannot patch the zip local header (output not seekable?)");
    return MEDSAM_OK;
}

medsam_status pth_zip_writer_add_parts(pth_zip_writer *w, const char *name, const pth_zip_part *parts, int nparts,
                                       int deflate_level, medsam_error *err) {
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 0xFFFF) return ms_error(err, MEDSAM_ERR_ARG, "bad zip entry name length %zu", nlen);
    if (nparts < 0 || deflate_level < 0 || deflate_level > 9)
        return ms_error(err, MEDSAM_ERR_ARG, "bad zip entry parts (%d) or deflate level (%d)", nparts, deflate_level);
    uint64_t len = 0;
    for (int k = 0; k < nparts; k++) len += parts[k].len;
    int deflated = deflate_level > 0;
    long long hdr_at = 0;
    if (deflated && (hdr_at = (long long)ftello(w->fp)) < 0)
        return ms_error(err, MEDSAM_ERR_IO, "deflated zip entries need a seekable output");
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        pth_zip_written *e = realloc(w->entries, (size_t)cap * sizeof *e);
        if (!e) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        w->entries = e;
        w->cap = cap;
    }
    pth_zip_written *e = &w->entries[w->n];
    memset(e, 0, sizeof *e);
    e->name = malloc(nlen + 1);
    if (!e->name) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    memcpy(e->name, name, nlen + 1);
    e->crc32 = crc_of(parts, nparts);
    e->size = len;
    e->comp_size = len;
    e->method = deflated ? 8 : 0;
    e->header_offset = w->pos;
    w->n++;

    /* deflate can grow incompressible data slightly: decide ZIP64 on a bound */
    uint64_t comp_bound = deflated ? len + (len >> 10) + 1024 : len;
    int z64 = w->force_zip64 || len >= U32_MAX_FIELD || comp_bound >= U32_MAX_FIELD;
    size_t z64_len = z64 ? 20 : 0; /* id, size, usize, csize */
    uint64_t base = w->pos + 30 + nlen + z64_len + 4;
    size_t pad = deflated ? 0 : (size_t)((ZIP_ALIGN - base % ZIP_ALIGN) % ZIP_ALIGN);
    size_t fb_len = deflated ? 0 : 4 + pad; /* no alignment field for deflated entries */
    uint8_t hdr[30 + 20 + 4 + ZIP_ALIGN];
    wr32(hdr, 0x04034b50u);
    wr16(hdr + 4, z64 ? 45 : 20); /* version needed */
    wr16(hdr + 6, 0);             /* flags */
    wr16(hdr + 8, e->method);
    wr16(hdr + 10, 0);            /* time */
    wr16(hdr + 12, 0x21);         /* date: 1980-01-01 */
    wr32(hdr + 14, e->crc32);
    wr32(hdr + 18, z64 ? U32_MAX_FIELD : (uint32_t)len); /* compressed size (patched when deflated) */
    wr32(hdr + 22, z64 ? U32_MAX_FIELD : (uint32_t)len);
    wr16(hdr + 26, (uint16_t)nlen);
    wr16(hdr + 28, (uint16_t)(z64_len + fb_len));
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
    if (!deflated) {
        wr16(hdr + x, 0x4246); /* "FB": torch's alignment padding field */
        wr16(hdr + x + 2, (uint16_t)pad);
        memset(hdr + x + 4, 'Z', pad);
        x += 4 + pad;
    }
    if (!st) st = zw_write(w, hdr, x, err);
    if (st) return st;
    if (!deflated) {
        for (int k = 0; k < nparts && !st; k++) {
            for (uint64_t done = 0; !st && done < parts[k].len;) {
                size_t n = parts[k].len - done > (1u << 30) ? (1u << 30) : (size_t)(parts[k].len - done);
                st = zw_write(w, (const uint8_t *)parts[k].data + done, n, err);
                done += n;
            }
        }
        return st;
    }
    if ((st = zw_deflate(w, parts, nparts, deflate_level, &e->comp_size, err))) return st;
    uint8_t v[8];
    if (z64) {
        wr64(v, e->comp_size);
        return zw_patch(w, hdr_at + 30 + (long long)nlen + 12, v, 8, err);
    }
    if (e->comp_size >= U32_MAX_FIELD) return ms_error(err, MEDSAM_ERR_IO, "deflated entry %s overflowed", name);
    wr32(v, (uint32_t)e->comp_size);
    return zw_patch(w, hdr_at + 18, v, 4, err);
}

medsam_status pth_zip_writer_add(pth_zip_writer *w, const char *name, const void *data, uint64_t len,
                                 medsam_error *err) {
    pth_zip_part part = {data, len};
    return pth_zip_writer_add_parts(w, name, &part, 1, 0, err);
}

medsam_status pth_zip_writer_finish(pth_zip_writer *w, medsam_error *err) {
    uint64_t cd_off = w->pos;
    medsam_status st = MEDSAM_OK;
    for (int i = 0; i < w->n && !st; i++) {
        const pth_zip_written *e = &w->entries[i];
        size_t nlen = strlen(e->name);
        int big_size = w->force_zip64 || e->size >= U32_MAX_FIELD || e->comp_size >= U32_MAX_FIELD;
        int big_off = w->force_zip64 || e->header_offset >= U32_MAX_FIELD;
        size_t z64_len = (big_size || big_off) ? 4 + 16u * (size_t)big_size + 8u * (size_t)big_off : 0;
        uint8_t h[46 + 28];
        wr32(h, 0x02014b50u);
        wr16(h + 4, z64_len ? 45 : 20); /* version made by */
        wr16(h + 6, z64_len ? 45 : 20); /* version needed */
        wr16(h + 8, 0);
        wr16(h + 10, e->method);
        wr16(h + 12, 0);
        wr16(h + 14, 0x21);
        wr32(h + 16, e->crc32);
        wr32(h + 20, big_size ? U32_MAX_FIELD : (uint32_t)e->comp_size);
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
            if (big_size) { wr64(h + x, e->size); wr64(h + x + 8, e->comp_size); x += 16; }
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
