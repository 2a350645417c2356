/* dicom_encap.c — encapsulated Pixel Data (PS3.5 A.4): the item walk (Basic
 * Offset Table, fragments, sequence delimiter), the fragments of each frame
 * (Extended Offset Table, Basic Offset Table, one fragment per frame, or the
 * fragments that start a codestream), and the dispatch of one frame to its
 * codec. Every offset and length is checked against the bytes present.
 * ref: pydicom 2.3 encaps.py (generate_pixel_data_frame, get_frame_offsets). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/dicom_codec.h"
#include "io/dicom_syntax.h"

dcm_codec dcm_codec_of_syntax(const char *uid) {
    static const struct { const char *uid; dcm_codec c; } map[] = {
        {"1.2.840.10008.1.2.5", DCM_CODEC_RLE},
        {"1.2.840.10008.1.2.4.50", DCM_CODEC_JPEG},
        {"1.2.840.10008.1.2.4.51", DCM_CODEC_JPEG},
        {"1.2.840.10008.1.2.4.57", DCM_CODEC_JPEG_LOSSLESS},
        {"1.2.840.10008.1.2.4.70", DCM_CODEC_JPEG_LOSSLESS},
        {"1.2.840.10008.1.2.4.80", DCM_CODEC_JPEGLS},
        {"1.2.840.10008.1.2.4.81", DCM_CODEC_JPEGLS},
        {"1.2.840.10008.1.2.4.90", DCM_CODEC_J2K},
        {"1.2.840.10008.1.2.4.91", DCM_CODEC_J2K},
    };
    for (size_t i = 0; uid && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(uid, map[i].uid)) return map[i].c;
    return DCM_CODEC_NONE;
}

const char *dcm_codec_name(dcm_codec c) {
    switch (c) {
    case DCM_CODEC_RLE: return "RLE lossless";
    case DCM_CODEC_JPEG: return "JPEG";
    case DCM_CODEC_JPEG_LOSSLESS: return "JPEG lossless";
    case DCM_CODEC_JPEGLS: return "JPEG-LS";
    case DCM_CODEC_J2K: return "JPEG 2000";
    default: return "uncompressed";
    }
}

void dcm_encap_free(dcm_encap *e) {
    if (!e) return;
    free(e->frag);
    free(e->first);
    free(e);
}

/* A fragment that begins a JPEG, JPEG-LS or JPEG 2000 codestream (or JP2 file). */
static int starts_codestream(const uint8_t *p, size_t n, dcm_codec c) {
    if (c == DCM_CODEC_J2K)
        return (n >= 4 && p[0] == 0xFF && p[1] == 0x4F && p[2] == 0xFF && p[3] == 0x51) ||
               (n >= 8 && !memcmp(p, "\0\0\0\x0CjP  ", 8));
    return n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

/* Maps offsets (relative to the first fragment's item tag) to fragment indices. */
static medsam_status frames_from_offsets(dcm_encap *e, const size_t *item_at, const uint64_t *off, int nframes,
                                         const char *table, medsam_error *err) {
    int f = 0;
    for (int k = 0; k < nframes; k++) {
        if (k == 0 && off[0] != 0)
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: the first frame's offset is %llu, not 0", table,
                            (unsigned long long)off[0]);
        if (k > 0 && off[k] <= off[k - 1])
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: offsets do not increase (frame %d)", table, k + 1);
        while (f < e->nfrag && item_at[f] < off[k]) f++;
        if (f == e->nfrag || item_at[f] != off[k])
            return ms_error(err, MEDSAM_ERR_FORMAT, "%s: frame %d's offset %llu does not start a fragment", table, k + 1,
                            (unsigned long long)off[k]);
        e->first[k] = f;
    }
    e->first[nframes] = e->nfrag;
    return MEDSAM_OK;
}

medsam_status dcm_encap_index(const uint8_t *v, size_t n, int nframes, dcm_codec codec, const uint8_t *eot,
                              size_t eot_bytes, dcm_encap **out, medsam_error *err) {
    *out = NULL;
    if (nframes < 1) return ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: %d frames", nframes);
    /* count the items first (the walk below reports any bad one), to allocate the index exactly */
    size_t cap = 1;
    for (size_t at = 0; n - at >= 8 && cap < (size_t)INT32_MAX; cap++) {
        uint32_t tag = rd16(v + at, 0) << 16 | rd16(v + at + 2, 0), len = rd32(v + at + 4, 0);
        if (tag != 0xFFFEE000 || len == 0xFFFFFFFFu || len > n - at - 8) break;
        at += 8 + (size_t)len;
    }
    dcm_encap *e = calloc(1, sizeof *e);
    size_t *item_at = malloc(cap * sizeof *item_at);
    uint64_t *off = malloc((size_t)nframes * sizeof *off);
    if (e) {
        e->frag = malloc(cap * sizeof *e->frag);
        e->first = malloc(((size_t)nframes + 1) * sizeof *e->first);
    }
    medsam_status st = MEDSAM_OK;
    if (!e || !item_at || !off || !e->frag || !e->first) {
        st = ms_error(err, MEDSAM_ERR_NOMEM, "encapsulated Pixel Data: out of memory for the fragment index");
        goto done;
    }
    /* the items: Basic Offset Table first, then fragments up to the sequence delimiter */
    size_t pos = 0, bot_at = 0, bot_len = 0, frag0 = 0;
    int nitems = 0, ended = 0;
    while (pos < n) {
        if (n - pos < 8) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: truncated item header at byte %zu", pos);
            goto done;
        }
        uint32_t tag = rd16(v + pos, 0) << 16 | rd16(v + pos + 2, 0), len = rd32(v + pos + 4, 0);
        if (tag == 0xFFFEE0DD) {
            ended = 1;
            break;
        }
        if (tag != 0xFFFEE000) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: (%04X,%04X) where an item should be (byte %zu)",
                          tag >> 16, tag & 0xFFFF, pos);
            goto done;
        }
        if (len == 0xFFFFFFFFu || len > n - pos - 8) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: item %d of %u bytes runs past the end (%zu left)",
                          nitems + 1, len, n - pos - 8);
            goto done;
        }
        if (nitems == 0) {
            bot_at = pos + 8, bot_len = len, frag0 = pos + 8 + len;
        } else {
            if ((size_t)e->nfrag + 1 >= cap) {
                st = ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: too many fragments");
                goto done;
            }
            item_at[e->nfrag] = pos - frag0;
            e->frag[e->nfrag++] = (dcm_fragment){pos + 8, len};
        }
        nitems++;
        pos += 8 + (size_t)len;
    }
    (void)ended; /* a missing delimiter at the end of the file is tolerated, as pydicom does */
    if (nitems == 0) {
        st = ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: no Basic Offset Table item");
        goto done;
    }
    if (e->nfrag == 0) {
        st = ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: no fragments");
        goto done;
    }
    if (eot) {
        if (eot_bytes != (size_t)nframes * 8) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "Extended Offset Table holds %zu offsets for %d frames", eot_bytes / 8,
                          nframes);
            goto done;
        }
        for (int k = 0; k < nframes; k++) off[k] = (uint64_t)rd32(eot + 8 * k, 0) | (uint64_t)rd32(eot + 8 * k + 4, 0) << 32;
        st = frames_from_offsets(e, item_at, off, nframes, "Extended Offset Table", err);
    } else if (bot_len) {
        if (bot_len % 4 || bot_len / 4 != (size_t)nframes) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "Basic Offset Table of %zu bytes for %d frames", bot_len, nframes);
            goto done;
        }
        for (int k = 0; k < nframes; k++) off[k] = rd32(v + bot_at + 4 * k, 0);
        st = frames_from_offsets(e, item_at, off, nframes, "Basic Offset Table", err);
    } else if (nframes == 1) {
        e->first[0] = 0, e->first[1] = e->nfrag;
    } else if (e->nfrag == nframes) {
        for (int k = 0; k <= nframes; k++) e->first[k] = k;
    } else if (codec != DCM_CODEC_RLE && e->nfrag > nframes) {
        int k = 0;
        for (int f = 0; f < e->nfrag; f++)
            if (starts_codestream(v + e->frag[f].off, e->frag[f].len, codec)) {
                if (k < nframes) e->first[k] = f;
                k++;
            }
        if (k != nframes || e->first[0] != 0) {
            st = ms_error(err, MEDSAM_ERR_FORMAT,
                          "encapsulated Pixel Data: %d fragments without an offset table, %d codestream starts for %d frames",
                          e->nfrag, k, nframes);
            goto done;
        }
        e->first[nframes] = e->nfrag;
    } else {
        st = ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data: %d fragment(s) for %d frames and no offset table",
                      e->nfrag, nframes);
    }
done:
    free(item_at);
    free(off);
    if (st != MEDSAM_OK) {
        dcm_encap_free(e);
        return st;
    }
    *out = e;
    return MEDSAM_OK;
}

medsam_status dcm_decode_compressed(const uint8_t *v, const dcm_encap *e, int frame, dcm_codec codec,
                                    const dcm_frame_spec *spec, void *dst, medsam_error *err) {
    dcm_decode_fn fn = NULL;
    switch (codec) {
    case DCM_CODEC_RLE: fn = dcm_decode_rle; break;
    case DCM_CODEC_JPEG: fn = dcm_decode_jpeg; break;
    case DCM_CODEC_JPEG_LOSSLESS: fn = dcm_decode_jpeg_lossless; break;
    case DCM_CODEC_JPEGLS: fn = dcm_decode_jpegls; break;
    case DCM_CODEC_J2K: fn = dcm_decode_j2k; break;
    default: return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "no decoder for this transfer syntax");
    }
    int a = e->first[frame], b = e->first[frame + 1];
    medsam_status st;
    if (b - a == 1) {
        st = fn(v + e->frag[a].off, e->frag[a].len, spec, dst, err);
    } else {
        size_t total = 0;
        for (int f = a; f < b; f++) total += e->frag[f].len; /* fragments lie inside v: no overflow */
        uint8_t *buf = malloc(total ? total : 1);
        if (!buf) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory joining %d fragments", b - a);
        size_t at = 0;
        for (int f = a; f < b; f++) memcpy(buf + at, v + e->frag[f].off, e->frag[f].len), at += e->frag[f].len;
        st = fn(buf, total, spec, dst, err);
        free(buf);
    }
    if (st != MEDSAM_OK && err) {
        char pre[64];
        snprintf(pre, sizeof pre, "%s frame %d", dcm_codec_name(codec), frame + 1);
        ms_error_prefix(err, pre);
    }
    return st;
}
