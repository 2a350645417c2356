/* dicom_syntax.c — DICOM transfer syntaxes (which are read, which are refused
 * and why), the "is this a DICOM file" probe, and inflating deflated data sets. */
#include "io/dicom_syntax.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/budget.h"
#include "core/error.h"
#include "io/dicom.h"
#include "io/dicom_codec.h"

ts_kind dcm_classify_syntax(const char *uid, medsam_error *err) {
    if (!strcmp(uid, "1.2.840.10008.1.2")) return TS_IMPLICIT_LE;
    if (!strcmp(uid, "1.2.840.10008.1.2.1")) return TS_EXPLICIT_LE;
    if (!strcmp(uid, "1.2.840.10008.1.2.1.99")) return TS_DEFLATED;
    if (!strcmp(uid, "1.2.840.10008.1.2.2")) return TS_EXPLICIT_BE;
    if (dcm_codec_of_syntax(uid) != DCM_CODEC_NONE) return TS_EXPLICIT_LE; /* encapsulated pixel data */
    static const struct { const char *uid, *name; } named[] = {
        {"1.2.840.10008.1.2.4.50", "JPEG baseline"},
        {"1.2.840.10008.1.2.4.51", "JPEG extended"},
        {"1.2.840.10008.1.2.4.57", "JPEG lossless"},
        {"1.2.840.10008.1.2.4.70", "JPEG lossless (SV1)"},
        {"1.2.840.10008.1.2.4.80", "JPEG-LS lossless"},
        {"1.2.840.10008.1.2.4.81", "JPEG-LS near-lossless"},
        {"1.2.840.10008.1.2.4.90", "JPEG 2000 lossless"},
        {"1.2.840.10008.1.2.4.91", "JPEG 2000"},
        {"1.2.840.10008.1.2.4.92", "JPEG 2000 multi-component lossless"},
        {"1.2.840.10008.1.2.4.93", "JPEG 2000 multi-component"},
        {"1.2.840.10008.1.2.4.201", "HTJ2K lossless"},
        {"1.2.840.10008.1.2.4.202", "HTJ2K lossless RPCL"},
        {"1.2.840.10008.1.2.4.203", "HTJ2K"},
        {"1.2.840.10008.1.2.5", "RLE lossless"},
        {"1.2.840.10008.1.2.1.98", "encapsulated uncompressed"},
    };
    const char *name = NULL;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (!strcmp(uid, named[i].uid)) name = named[i].name;
    if (!name && !strncmp(uid, "1.2.840.10008.1.2.4.", 20)) name = "compressed (JPEG family or video)";
    if (name)
        ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                 "%s pixel data (%s) is not supported (no decoder in Debian 12's libraries for it here); convert the "
                 "series with gdcmconv --raw (or dcm2niix) first",
                 name, uid);
    else
        ms_error(err, MEDSAM_ERR_UNSUPPORTED, "transfer syntax %s is not supported", uid);
    return TS_REFUSED;
}

/* Encoding of a data set without (usable) meta information, from its first
 * element: explicit when a valid VR follows the tag, big endian when the
 * group's high byte comes first (00 08 ...). */
void dcm_guess_encoding(const uint8_t *b, size_t n, int *implicit, int *big) {
    int long_len;
    *implicit = !(n >= 6 && vr_known(b + 4, &long_len));
    *big = !*implicit && n >= 2 && b[0] == 0 && b[1] != 0;
}

/* The first `n` bytes of a file of `file_len` bytes: Part 10 magic, or a
 * first element of group 0002/0008 whose implicit length fits the file. */
static int probe(const uint8_t *b, size_t n, size_t file_len) {
    if (!b) return 0;
    if (n >= 132 && !memcmp(b + 128, "DICM", 4)) return 1;
    if (n < 8) return 0;
    int implicit, big;
    dcm_guess_encoding(b, n, &implicit, &big);
    uint32_t group = rd16(b, big), elem = rd16(b + 2, big);
    if ((group != 0x0002 && group != 0x0008) || elem > 0x00FF) return 0;
    return !implicit || rd32(b + 4, 0) <= file_len - 8;
}

int ms_dicom_is_dicom_mem(const void *buf, size_t len) { return probe(buf, len, len); }

int ms_dicom_is_dicom(const char *path) {
    uint8_t b[132];
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (!fp) return 0;
    size_t n = fread(b, 1, sizeof b, fp);
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    fclose(fp);
    return size >= (long)n && probe(b, n, (size_t)size);
}

/* Inflates the deflated data set (raw deflate, PS3.5 A.5) into a new buffer,
 * at most 1040 times the compressed size (deflate's largest ratio) and 2 GiB. */
medsam_status dcm_inflate_dataset(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len, medsam_error *err) {
    return dcm_inflate_dataset_max(in, n, 0, out, out_len, err);
}

/* max_out (0: none): the memory budget; inflating stops there. */
medsam_status dcm_inflate_dataset_max(const uint8_t *in, size_t n, uint64_t max_out, uint8_t **out, size_t *out_len,
                                      medsam_error *err) {
    const size_t chunk = (size_t)1 << 30;
    size_t limit = n > (size_t)INT32_MAX / 1040 ? (size_t)INT32_MAX : n * 1040 + 4096;
    int budget_cut = max_out && max_out < limit;
    if (budget_cut) limit = (size_t)max_out;
    size_t cap = n < 4096 ? 16384 : (4 * n < limit ? 4 * n : limit), done = 0, fed = 0;
    uint8_t *buf = malloc(cap);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (!buf || inflateInit2(&s, -15) != Z_OK) {
        free(buf);
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory inflating the data set");
    }
    int zr = Z_OK;
    const char *why = "corrupt or truncated";
    for (;;) {
        if (done == cap) {
            size_t nc = cap * 2 < limit ? cap * 2 : limit;
            uint8_t *nb = nc > cap ? realloc(buf, nc) : NULL;
            if (!nb) {
                why = nc > cap ? "out of memory" : "expands too far";
                break;
            }
            buf = nb, cap = nc;
        }
        size_t in_n = n - fed < chunk ? n - fed : chunk, out_n = cap - done < chunk ? cap - done : chunk;
        s.next_in = (Bytef *)(uintptr_t)(in + fed), s.avail_in = (uInt)in_n;
        s.next_out = buf + done, s.avail_out = (uInt)out_n;
        zr = inflate(&s, Z_NO_FLUSH);
        fed += in_n - s.avail_in, done += out_n - s.avail_out;
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) break;
        if (s.avail_out != 0 && fed == n) break; /* input used up before the end of the stream */
    }
    inflateEnd(&s);
    if (zr != Z_STREAM_END) {
        free(buf);
        if (budget_cut && done == limit) {
            char b[32];
            ms_budget_format(b, sizeof b, max_out);
            return ms_error(err, MEDSAM_ERR_NOMEM,
                            "deflated data set: decoded size over %llu bytes (inflating stopped there) is over the "
                            "memory budget of %s (--max-memory)",
                            (unsigned long long)max_out, b);
        }
        return ms_error(err, MEDSAM_ERR_FORMAT, "deflated data set: %s", why);
    }
    *out = buf, *out_len = done;
    return MEDSAM_OK;
}
