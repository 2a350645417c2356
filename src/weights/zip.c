/* zip.c — bounds-checked zip reader for torch.save checkpoints.
 *
 * Every size and offset read from the archive is checked against the file
 * size before it is used; ZIP64 end records and extra fields are honoured so
 * that checkpoints larger than 4 GiB load. Entries are read with pread (or
 * memcpy for in-memory archives), never by mapping or slurping the file. */
#define _POSIX_C_SOURCE 200809L
#include "weights/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/crc32.h"
#include "core/error.h"

#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define ZIP64_EOCD_SIG 0x06064b50u
#define ZIP_CDH_SIG 0x02014b50u
#define ZIP_LFH_SIG 0x04034b50u
#define ZIP_MAX_CD_BYTES ((uint64_t)256 << 20) /* central directory limit */
#define ZIP_CHUNK (256u << 10)

struct pth_zip {
    int fd;               /* -1 for an in-memory archive */
    const uint8_t *mem;
    uint64_t size;        /* archive bytes */
    pth_zip_entry *entries;
    const pth_zip_entry **sorted; /* by name, for pth_zip_find */
    int n;
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* Reads exactly len bytes at archive offset off, refusing reads past the end. */
static medsam_status zr_pread(const pth_zip *z, uint64_t off, void *dst, size_t len, medsam_error *err) {
    if (off > z->size || len > z->size - off)
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "truncated archive: needs bytes %llu..%llu but the file has %llu",
                        (unsigned long long)off, (unsigned long long)(off + len), (unsigned long long)z->size);
    if (z->fd < 0) {
        if (len) memcpy(dst, z->mem + off, len);
        return MEDSAM_OK;
    }
    uint8_t *d = dst;
    while (len) {
        ssize_t got = pread(z->fd, d, len, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return ms_error(err, MEDSAM_ERR_IO, "read failed: %s", strerror(errno));
        if (got == 0) return ms_error(err, MEDSAM_ERR_IO, "unexpected end of file at byte %llu", (unsigned long long)off);
        d += got;
        off += (uint64_t)got;
        len -= (size_t)got;
    }
    return MEDSAM_OK;
}

static int cmp_entry_name(const void *a, const void *b) {
    const pth_zip_entry *x = *(const pth_zip_entry *const *)a, *y = *(const pth_zip_entry *const *)b;
    return strcmp(x->name, y->name);
}

/* Finds the end-of-central-directory record; fills cd offset/size/count. */
static medsam_status find_central_dir(pth_zip *z, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                                      uint64_t *cd_end_limit, medsam_error *err) {
    size_t tail_len = z->size < 22 + 65535 ? (size_t)z->size : 22 + 65535;
    if (tail_len < 22) return ms_error(err, MEDSAM_ERR_FORMAT, "not a zip archive (file too small)");
    uint8_t *tail = malloc(tail_len);
    if (!tail) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    uint64_t tail_off = z->size - tail_len;
    medsam_status st = zr_pread(z, tail_off, tail, tail_len, err);
    if (st) { free(tail); return st; }
    long pos = -1;
    for (long p = (long)tail_len - 22; p >= 0; p--) {
        if (rd32(tail + p) == ZIP_EOCD_SIG && (size_t)p + 22 + rd16(tail + p + 20) <= tail_len) { pos = p; break; }
    }
    if (pos < 0) {
        free(tail);
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "not a zip archive or truncated (no end-of-central-directory record)");
    }
    const uint8_t *e = tail + pos;
    uint64_t eocd_off = tail_off + (uint64_t)pos;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0) {
        free(tail);
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
    }
    *count = rd16(e + 10);
    *cd_size = rd32(e + 12);
    *cd_off = rd32(e + 16);
    *cd_end_limit = eocd_off;
    int has_locator = eocd_off >= 20;
    uint8_t loc[20];
    if (has_locator) {
        if (pos >= 20) memcpy(loc, e - 20, 20);
        else if ((st = zr_pread(z, eocd_off - 20, loc, 20, err))) { free(tail); return st; }
        has_locator = rd32(loc) == ZIP64_LOCATOR_SIG;
    }
    free(tail);
    if (has_locator) {
        uint64_t z64_off = rd64(loc + 8);
        uint8_t r[56];
        if (z64_off > eocd_off - 20 || eocd_off - 20 - z64_off < 56)
            return ms_error(err, MEDSAM_ERR_FORMAT, "ZIP64 end record offset %llu out of range",
                            (unsigned long long)z64_off);
        if ((st = zr_pread(z, z64_off, r, 56, err))) return st;
        if (rd32(r) != ZIP64_EOCD_SIG) return ms_error(err, MEDSAM_ERR_FORMAT, "bad ZIP64 end record signature");
        if (rd32(r + 16) != 0 || rd32(r + 20) != 0)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
        *count = rd64(r + 32);
        *cd_size = rd64(r + 40);
        *cd_off = rd64(r + 48);
        *cd_end_limit = z64_off;
    } else if (*count == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_off == 0xFFFFFFFFu) {
        return ms_error(err, MEDSAM_ERR_FORMAT, "ZIP64 archive without a ZIP64 end record locator");
    }
    if (*cd_off > *cd_end_limit || *cd_size > *cd_end_limit - *cd_off)
        return ms_error(err, MEDSAM_ERR_FORMAT, "central directory (offset %llu, %llu bytes) lies outside the file",
                        (unsigned long long)*cd_off, (unsigned long long)*cd_size);
    if (*cd_size > ZIP_MAX_CD_BYTES)
        return ms_error(err, MEDSAM_ERR_NOMEM, "central directory too large (%llu bytes)",
                        (unsigned long long)*cd_size);
    if (*count > *cd_size / 46)
        return ms_error(err, MEDSAM_ERR_FORMAT, "central directory claims %llu entries in %llu bytes",
                        (unsigned long long)*count, (unsigned long long)*cd_size);
    return MEDSAM_OK;
}

/* Applies a ZIP64 extended-information extra field (id 1) to e. */
static medsam_status apply_zip64_extra(pth_zip_entry *e, uint64_t *lho, int need_usize, int need_csize,
                                       int need_off, const uint8_t *x, size_t xlen, medsam_error *err) {
    int found = 0;
    for (size_t p = 0; p + 4 <= xlen;) {
        uint16_t id = rd16(x + p), sz = rd16(x + p + 2);
        if (sz > xlen - p - 4) return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: extra field overruns", e->name);
        if (id == 1) {
            const uint8_t *d = x + p + 4;
            size_t need = 8u * (size_t)(need_usize + need_csize + need_off);
            if (sz < need) return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: ZIP64 extra field too short", e->name);
            if (need_usize) { e->size = rd64(d); d += 8; }
            if (need_csize) { e->comp_size = rd64(d); d += 8; }
            if (need_off) *lho = rd64(d);
            found = 1;
        }
        p += 4u + sz;
    }
    if (!found && (need_usize || need_csize || need_off))
        return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: ZIP64 sizes without a ZIP64 extra field", e->name);
    return MEDSAM_OK;
}

/* Parses central directory record at cd[*p], advancing *p. */
static medsam_status parse_cd_entry(pth_zip *z, const uint8_t *cd, uint64_t cd_size, uint64_t *p,
                                    pth_zip_entry *e, uint64_t data_limit, medsam_error *err) {
    uint64_t at = *p;
    if (cd_size - at < 46 || rd32(cd + at) != ZIP_CDH_SIG)
        return ms_error(err, MEDSAM_ERR_FORMAT, "corrupt central directory at byte %llu", (unsigned long long)at);
    const uint8_t *h = cd + at;
    size_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32);
    if (cd_size - at - 46 < (uint64_t)nlen + xlen + clen)
        return ms_error(err, MEDSAM_ERR_FORMAT, "central directory record overruns at byte %llu",
                        (unsigned long long)at);
    if (memchr(h + 46, 0, nlen)) return ms_error(err, MEDSAM_ERR_FORMAT, "entry name contains a NUL byte");
    e->name = malloc(nlen + 1);
    if (!e->name) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    memcpy(e->name, h + 46, nlen);
    e->name[nlen] = 0;
    e->flags = rd16(h + 8);
    e->method = rd16(h + 10);
    e->crc32 = rd32(h + 16);
    e->comp_size = rd32(h + 20);
    e->size = rd32(h + 24);
    uint64_t lho = rd32(h + 42);
    medsam_status st = apply_zip64_extra(e, &lho, e->size == 0xFFFFFFFFu, e->comp_size == 0xFFFFFFFFu,
                                         lho == 0xFFFFFFFFu, h + 46 + nlen, xlen, err);
    if (st) return st;
    *p = at + 46 + nlen + xlen + clen;

    /* Local header: check signature and name, find where the data starts. */
    uint8_t lh[30];
    if (lho > data_limit || data_limit - lho < 30)
        return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: local header offset %llu out of range", e->name,
                        (unsigned long long)lho);
    if ((st = zr_pread(z, lho, lh, 30, err))) return st;
    if (rd32(lh) != ZIP_LFH_SIG) return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: bad local header", e->name);
    size_t lnlen = rd16(lh + 26), lxlen = rd16(lh + 28);
    if (lnlen != nlen) return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: local header name differs", e->name);
    char lname[65536];
    if ((st = zr_pread(z, lho + 30, lname, nlen, err))) return st;
    if (memcmp(lname, e->name, nlen) != 0)
        return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: local header name differs", e->name);
    e->data_offset = lho + 30 + lnlen + lxlen;
    if (e->data_offset > data_limit || e->comp_size > data_limit - e->data_offset)
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "entry %s: data (%llu bytes at offset %llu) runs past the central directory; "
                        "file truncated?",
                        e->name, (unsigned long long)e->comp_size, (unsigned long long)e->data_offset);
    if (e->method == 0 && e->comp_size != e->size)
        return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: stored entry with compressed size %llu != size %llu",
                        e->name, (unsigned long long)e->comp_size, (unsigned long long)e->size);
    return MEDSAM_OK;
}

static medsam_status zip_parse(pth_zip *z, medsam_error *err) {
    uint64_t cd_off = 0, cd_size = 0, count = 0, cd_end = 0;
    medsam_status st = find_central_dir(z, &cd_off, &cd_size, &count, &cd_end, err);
    if (st) return st;
    uint8_t *cd = malloc(cd_size ? cd_size : 1);
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    z->sorted = malloc((count ? count : 1) * sizeof *z->sorted);
    if (!cd || !z->entries || !z->sorted) { free(cd); return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory"); }
    if ((st = zr_pread(z, cd_off, cd, cd_size, err))) { free(cd); return st; }
    uint64_t p = 0;
    for (uint64_t i = 0; i < count; i++) {
        z->n = (int)i + 1; /* so pth_zip_close frees a partly filled entry */
        if ((st = parse_cd_entry(z, cd, cd_size, &p, &z->entries[i], cd_off, err))) { free(cd); return st; }
        z->sorted[i] = &z->entries[i];
    }
    free(cd);
    z->n = (int)count;
    qsort(z->sorted, count, sizeof *z->sorted, cmp_entry_name);
    for (uint64_t i = 1; i < count; i++)
        if (strcmp(z->sorted[i - 1]->name, z->sorted[i]->name) == 0)
            return ms_error(err, MEDSAM_ERR_FORMAT, "duplicate zip entry '%s'", z->sorted[i]->name);
    return MEDSAM_OK;
}

static medsam_status zip_open_common(pth_zip *z, pth_zip **out, medsam_error *err) {
    medsam_status st = zip_parse(z, err);
    if (st) { pth_zip_close(z); return st; }
    *out = z;
    return MEDSAM_OK;
}

medsam_status pth_zip_open_file(const char *path, pth_zip **out, medsam_error *err) {
    *out = NULL;
    pth_zip *z = calloc(1, sizeof *z);
    if (!z) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    z->fd = open(path, O_RDONLY);
    if (z->fd < 0) {
        int e = errno;
        free(z);
        return ms_error(err, MEDSAM_ERR_IO, "cannot open: %s", strerror(e));
    }
    struct stat sb;
    if (fstat(z->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(z->fd);
        free(z);
        return ms_error(err, MEDSAM_ERR_IO, "not a regular file");
    }
    z->size = (uint64_t)sb.st_size;
    return zip_open_common(z, out, err);
}

medsam_status pth_zip_open_mem(const void *buf, size_t len, pth_zip **out, medsam_error *err) {
    *out = NULL;
    pth_zip *z = calloc(1, sizeof *z);
    if (!z) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    z->fd = -1;
    z->mem = buf;
    z->size = len;
    return zip_open_common(z, out, err);
}

void pth_zip_close(pth_zip *z) {
    if (!z) return;
    if (z->fd >= 0) close(z->fd);
    for (int i = 0; i < z->n; i++) free(z->entries[i].name);
    free(z->entries);
    free(z->sorted);
    free(z);
}

int pth_zip_count(const pth_zip *z) { return z->n; }

const pth_zip_entry *pth_zip_entry_at(const pth_zip *z, int i) {
    return i >= 0 && i < z->n ? &z->entries[i] : NULL;
}

const pth_zip_entry *pth_zip_find(const pth_zip *z, const char *name) {
    int lo = 0, hi = z->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(z->sorted[mid]->name, name);
        if (c == 0) return z->sorted[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

/* Inflates entry e from its start, copying decompressed bytes [offset, offset+len) into dst. */
static medsam_status inflate_range(const pth_zip *z, const pth_zip_entry *e, uint64_t offset, uint8_t *dst,
                                   size_t len, medsam_error *err) {
    uint8_t *in = malloc(ZIP_CHUNK), *out = malloc(ZIP_CHUNK);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (!in || !out || inflateInit2(&s, -15) != Z_OK) {
        free(in); free(out);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot start inflate");
    }
    medsam_status st = MEDSAM_OK;
    uint64_t in_pos = 0, out_pos = 0, end = offset + len;
    int zr = Z_OK;
    while (out_pos < end && st == MEDSAM_OK) {
        if (s.avail_in == 0 && in_pos < e->comp_size) {
            /* with the input used up, inflate may still hold output (the rest of a long match): it is
               called again with no input, and only a call that then gives nothing means the data ended */
            size_t n = e->comp_size - in_pos < ZIP_CHUNK ? (size_t)(e->comp_size - in_pos) : ZIP_CHUNK;
            if ((st = zr_pread(z, e->data_offset + in_pos, in, n, err))) break;
            in_pos += n;
            s.next_in = in;
            s.avail_in = (uInt)n;
        }
        s.next_out = out;
        s.avail_out = ZIP_CHUNK;
        zr = inflate(&s, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: corrupt deflate data", e->name);
            break;
        }
        uint64_t got = ZIP_CHUNK - s.avail_out;
        uint64_t lo = out_pos > offset ? out_pos : offset, hi = out_pos + got < end ? out_pos + got : end;
        if (hi > lo) memcpy(dst + (lo - offset), out + (lo - out_pos), (size_t)(hi - lo));
        out_pos += got;
        if (zr == Z_STREAM_END && out_pos < end) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: deflate data shorter than its declared size", e->name);
        } else if (zr == Z_BUF_ERROR && got == 0 && s.avail_in != 0) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: corrupt deflate data", e->name);
        } else if (zr == Z_BUF_ERROR && got == 0 && in_pos >= e->comp_size) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: deflate data ends early", e->name);
        }
    }
    inflateEnd(&s);
    free(in);
    free(out);
    return st;
}

medsam_status pth_zip_read(const pth_zip *z, const pth_zip_entry *e, uint64_t offset, void *dst, size_t len,
                           medsam_error *err) {
    if (offset > e->size || len > e->size - offset)
        return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: read of bytes %llu..%llu past its size %llu", e->name,
                        (unsigned long long)offset, (unsigned long long)(offset + len),
                        (unsigned long long)e->size);
    if (e->flags & 1) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "entry %s is encrypted", e->name);
    if (len == 0) return MEDSAM_OK;
    if (e->method == 0) return zr_pread(z, e->data_offset + offset, dst, len, err);
    if (e->method == 8) return inflate_range(z, e, offset, dst, len, err);
    return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "entry %s: compression method %u is not supported", e->name,
                    e->method);
}

medsam_status pth_zip_read_all(const pth_zip *z, const pth_zip_entry *e, uint64_t max_size, uint8_t **out,
                               size_t *out_len, medsam_error *err) {
    *out = NULL;
    *out_len = 0;
    if (e->size > max_size || e->size > SIZE_MAX - 1)
        return ms_error(err, MEDSAM_ERR_NOMEM, "entry %s is too large (%llu bytes, limit %llu)", e->name,
                        (unsigned long long)e->size, (unsigned long long)max_size);
    uint8_t *buf = malloc((size_t)e->size + 1);
    if (!buf) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %llu bytes", (unsigned long long)e->size);
    medsam_status st = pth_zip_read(z, e, 0, buf, (size_t)e->size, err);
    if (st) { free(buf); return st; }
    if (ms_crc32(0, buf, (size_t)e->size) != e->crc32) {
        free(buf);
        return ms_error(err, MEDSAM_ERR_FORMAT, "entry %s: CRC-32 mismatch (archive corrupt)", e->name);
    }
    buf[e->size] = 0;
    *out = buf;
    *out_len = (size_t)e->size;
    return MEDSAM_OK;
}
