/* dicom_codec.h — encapsulated (compressed) DICOM pixel data: the fragment
 * index of one file (dicom_encap.c) and one decoder per transfer syntax family
 * (dicom_codec_*.c), behind dcm_decode_compressed. Internal to src/io.
 *
 * Every decoder writes one frame as rows x columns x samples interleaved
 * samples (planar configuration 0) of bits_allocated / 8 bytes each, host byte
 * order, the stored value in the low bits (not yet masked or sign-extended:
 * dicom_pixels.c does that). Colour stays in the colour space the codestream
 * holds (YBR_FULL stays YCbCr: dicom_pixels.c converts as pydicom does), except
 * where the codec's own colour transform is part of the syntax (JPEG 2000
 * RCT/ICT, JPEG-LS HP transforms). A decoder checks the codestream's size,
 * components and precision against the data set before it allocates. */
#ifndef MS_IO_DICOM_CODEC_H
#define MS_IO_DICOM_CODEC_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

typedef enum {
    DCM_CODEC_NONE = 0,
    DCM_CODEC_RLE,           /* 1.2.840.10008.1.2.5 */
    DCM_CODEC_JPEG,          /* 1.2.840.10008.1.2.4.50 / .51 (libjpeg) */
    DCM_CODEC_JPEG_LOSSLESS, /* 1.2.840.10008.1.2.4.57 / .70 (dicom_codec_jpeg_lossless.c) */
    DCM_CODEC_JPEGLS,        /* 1.2.840.10008.1.2.4.80 / .81 (CharLS) */
    DCM_CODEC_J2K,           /* 1.2.840.10008.1.2.4.90 / .91 (OpenJPEG) */
} dcm_codec;

/* The codec of a transfer syntax UID; DCM_CODEC_NONE when it is not one of these. */
dcm_codec dcm_codec_of_syntax(const char *uid);
const char *dcm_codec_name(dcm_codec c);

/* What the data set says one frame is. */
typedef struct {
    int rows, columns, samples, bits_allocated, bits_stored, is_signed;
    int ybr;                  /* Photometric Interpretation YBR_FULL / YBR_FULL_422 (JPEG: keep YCbCr) */
} dcm_frame_spec;

typedef medsam_status (*dcm_decode_fn)(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst,
                                       medsam_error *err);

medsam_status dcm_decode_rle(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err);
medsam_status dcm_decode_jpeg(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err);
medsam_status dcm_decode_jpeg_lossless(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst,
                                       medsam_error *err);
medsam_status dcm_decode_jpegls(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err);
medsam_status dcm_decode_j2k(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err);

/* ---- colour and grey-scale (dicom_colour.c) ---- */

/* 1 when 3-sample Photometric Interpretation `pi` is read with this codec
 * (DCM_CODEC_NONE: native): RGB, YBR_FULL; YBR_FULL_422 native (8 bits) or
 * JPEG; YBR_RCT / YBR_ICT in JPEG 2000 (the codestream's own transform). */
int dcm_colour_supported(const char *pi, int codec);

/* Photometric steps on one decoded frame of `npix` pixels, in place: YCbCr
 * to RGB (8-bit, pydicom's convert_color_space arithmetic) for YBR_FULL /
 * YBR_FULL_422; MONOCHROME1 inverted within the stored range. */
void dcm_ybr_to_rgb(uint8_t *rgb, size_t npix);
void dcm_invert_monochrome1(void *samples, size_t n, int bits_allocated, int bits_stored, int is_signed);

/* Native YBR_FULL_422 (Y1 Y2 Cb Cr per pixel pair, PS3.3 C.7.6.3.1.2) into
 * YCbCr per pixel; columns even. */
void dcm_expand_ybr422(const uint8_t *src, int rows, int columns, uint8_t *ycc);

/* ---- encapsulated Pixel Data (PS3.5 A.4) ---- */

typedef struct {
    size_t off, len;          /* bytes of one fragment's value, from the start of the Pixel Data value */
} dcm_fragment;

typedef struct {
    int nfrag;
    dcm_fragment *frag;       /* (nfrag) owned */
    int *first;               /* (nframes + 1): frame k is fragments first[k] .. first[k+1]-1, owned */
} dcm_encap;

/* Indexes the items of encapsulated Pixel Data `v` (n bytes, from the Basic
 * Offset Table item to the end of the file; the sequence delimiter ends it)
 * into nframes frames: by the Extended Offset Table when eot/eot_len are given
 * (8-byte offsets, eot_n entries), else by the Basic Offset Table, else one
 * fragment per frame, else (JPEG family) by the fragments that start a
 * codestream. Lying tables, truncated items and frame count mismatches are
 * refused. `big`: item tags in big endian (never for compressed syntaxes). */
medsam_status dcm_encap_index(const uint8_t *v, size_t n, int nframes, dcm_codec codec, const uint8_t *eot,
                              size_t eot_bytes, dcm_encap **out, medsam_error *err);
void dcm_encap_free(dcm_encap *e);

/* Decodes frame `frame` of encapsulated data `v` into dst (see above). */
medsam_status dcm_decode_compressed(const uint8_t *v, const dcm_encap *e, int frame, dcm_codec codec,
                                    const dcm_frame_spec *spec, void *dst, medsam_error *err);

#endif
