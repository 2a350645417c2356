/* zip.h — the zip container of torch.save checkpoints: a bounds-checked
 * reader (central directory, ZIP64, stored and deflate entries, read with
 * pread from a file or from a memory buffer, never loading the whole file)
 * and a writer for stored, 64-byte-aligned entries and for deflated entries
 * (numpy .npz files), with ZIP64 records when needed.
 *
 * Error messages from this module do not name the file; callers prefix it. */
#ifndef MS_WEIGHTS_ZIP_H
#define MS_WEIGHTS_ZIP_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "medsam.h"

typedef struct {
    char *name;           /* NUL-terminated entry name (no NUL inside) */
    uint16_t method;      /* 0 stored, 8 deflate; others are refused on read */
    uint16_t flags;       /* general purpose bits (bit 0: encrypted) */
    uint32_t crc32;
    uint64_t comp_size;   /* bytes in the archive */
    uint64_t size;        /* bytes after decompression */
    uint64_t data_offset; /* archive offset of the first data byte */
} pth_zip_entry;

typedef struct pth_zip pth_zip;

/* Opens a zip file and parses its central directory and local headers. */
medsam_status pth_zip_open_file(const char *path, pth_zip **out, medsam_error *err);
/* Same over a memory buffer, which must outlive the pth_zip. */
medsam_status pth_zip_open_mem(const void *buf, size_t len, pth_zip **out, medsam_error *err);
void pth_zip_close(pth_zip *z);

int pth_zip_count(const pth_zip *z);
const pth_zip_entry *pth_zip_entry_at(const pth_zip *z, int i); /* archive order */
/* Binary search by exact name; NULL when absent. */
const pth_zip_entry *pth_zip_find(const pth_zip *z, const char *name);

/* Reads `len` decompressed bytes starting at `offset` of entry `e`. Stored
 * entries are read in place; deflate entries are inflated from their start.
 * Thread-safe for concurrent reads (pread, no shared cursor). */
medsam_status pth_zip_read(const pth_zip *z, const pth_zip_entry *e, uint64_t offset, void *dst, size_t len,
                           medsam_error *err);
/* Reads a whole entry (at most max_size bytes) into a new buffer with a
 * trailing NUL, and verifies its CRC-32. Free with free(). */
medsam_status pth_zip_read_all(const pth_zip *z, const pth_zip_entry *e, uint64_t max_size, uint8_t **out,
                               size_t *out_len, medsam_error *err);

/* ---- writer: stored entries, data aligned to 64 bytes like torch.save ---- */
typedef struct {
    char *name;
    uint32_t crc32;
    uint64_t size;
    uint64_t header_offset;
    uint16_t method;        /* 0 stored, 8 deflate */
    uint64_t comp_size;     /* bytes in the archive (== size when stored) */
} pth_zip_written;

typedef struct {
    FILE *fp;               /* borrowed; the caller opens and commits it */
    uint64_t pos;           /* bytes written so far */
    int force_zip64;        /* write ZIP64 records even for small files (tests) */
    pth_zip_written *entries;
    int n, cap;
} pth_zip_writer;

void pth_zip_writer_init(pth_zip_writer *w, FILE *fp, int force_zip64);
/* Appends one stored entry; data may be NULL when len is 0. */
medsam_status pth_zip_writer_add(pth_zip_writer *w, const char *name, const void *data, uint64_t len,
                                 medsam_error *err);
/* One piece of an entry's bytes (an entry may be written from several). */
typedef struct {
    const void *data;
    uint64_t len;
} pth_zip_part;
/* Appends one entry made of parts[0..nparts) concatenated. deflate_level 0
 * writes it stored and 64-byte aligned (exactly as pth_zip_writer_add);
 * 1..9 deflates it with that zlib level (no alignment). A deflated entry's
 * compressed size is patched into its local header afterwards, so the FILE
 * must be seekable (a regular file, e.g. from ms_atomic_open). */
medsam_status pth_zip_writer_add_parts(pth_zip_writer *w, const char *name, const pth_zip_part *parts, int nparts,
                                       int deflate_level, medsam_error *err);
/* Writes the central directory and end records. */
medsam_status pth_zip_writer_finish(pth_zip_writer *w, medsam_error *err);
/* Frees the entry list (after finish, or to give up). */
void pth_zip_writer_free(pth_zip_writer *w);

#endif
