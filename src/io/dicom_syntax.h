/* dicom_syntax.h — pieces of the DICOM reader shared by dicom_parse.c (the
 * element walk), dicom_pixels.c and dicom_syntax.c (transfer syntaxes, the file
 * probe, deflated data sets): byte readers and VR lookup. Internal to src/io. */
#ifndef MS_IO_DICOM_SYNTAX_H
#define MS_IO_DICOM_SYNTAX_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

static inline uint32_t rd16(const uint8_t *p, int big) { return big ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0]; }
static inline uint32_t rd32(const uint8_t *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline int vr_is(const uint8_t *vr, const char *s) { return vr[0] == (uint8_t)s[0] && vr[1] == (uint8_t)s[1]; }

/* The VRs of PS3.5 6.2; *long_len: 4-byte length after 2 reserved bytes. */
static inline int vr_known(const uint8_t *vr, int *long_len) {
    static const char all[] = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";
    static const char longs[] = "OBODOFOLOVOWSQSVUCUNURUTUV";
    *long_len = 0;
    for (const char *s = all; *s; s += 2)
        if (vr_is(vr, s)) {
            for (const char *l = longs; *l; l += 2)
                if (vr_is(vr, l)) *long_len = 1;
            return 1;
        }
    return 0;
}

typedef enum { TS_IMPLICIT_LE, TS_EXPLICIT_LE, TS_DEFLATED, TS_EXPLICIT_BE, TS_REFUSED } ts_kind;

/* The encoding of a transfer syntax UID; TS_REFUSED (with err set, naming the
 * syntax and the way out) for compressed and unknown ones. */
ts_kind dcm_classify_syntax(const char *uid, medsam_error *err);

/* Encoding of a data set without (usable) meta information, from its first element. */
void dcm_guess_encoding(const uint8_t *b, size_t n, int *implicit, int *big);

/* Inflates a deflated data set (raw deflate) into a new buffer (free()). */
medsam_status dcm_inflate_dataset(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len, medsam_error *err);
medsam_status dcm_inflate_dataset_max(const uint8_t *in, size_t n, uint64_t max_out, uint8_t **out, size_t *out_len,
                                      medsam_error *err);

#endif
