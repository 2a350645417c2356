/* fuzz_dicom_codecs.c — libFuzzer target for the compressed pixel data paths:
 * the encapsulated fragment index (Basic / Extended Offset Tables, fragments,
 * frame counts) and each decoder (RLE, JPEG via libjpeg, JPEG lossless
 * process 14, JPEG-LS via CharLS, JPEG 2000 via OpenJPEG) on raw codestreams.
 *
 * Input: 8 header bytes, then the data.
 *   [0] mode: low 3 bits the codec (RLE, JPEG, JPEG lossless, JPEG-LS, J2K);
 *       bit 3: the data is encapsulated Pixel Data (items) indexed for
 *       [1] % 8 + 1 frames, every frame decoded; bit 4: an Extended Offset
 *       Table of 8 * frames bytes taken from the front of the data
 *   [2] + 256 [6]: rows - 1 (% 600), [3] + 256 [7]: columns - 1 (% 600),
 *   [4] bit 0: 3 samples, bit 1: 16 bits (else 8), bit 2: signed, bit 3: YBR;
 *   [5] bits stored - 1
 * Checks beyond "no crash": a failure has a one-line message; the output
 * buffer is exactly rows x columns x samples x bytes (ASan catches writes past it).
 *
 * Build and run by hand (not part of `make`): */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc -I/usr/include/openjpeg-2.5 fuzz/fuzz_dicom_codecs.c src/io/dicom_encap.c src/io/dicom_codec_*.c \
//     src/core/error.c -ljpeg -lopenjp2 -lcharls -lm -o build/fuzz_dicom_codecs
// build/fuzz_dicom_codecs -max_len=65536 -timeout=10 -rss_limit_mb=2048 -max_total_time=300 build/fuzz_codecs_corpus
// (corpus: the fragments of pydicom's compressed test files with the 8-byte header; see the README)
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/dicom_codec.h"

static const dcm_codec CODECS[5] = {DCM_CODEC_RLE, DCM_CODEC_JPEG, DCM_CODEC_JPEG_LOSSLESS, DCM_CODEC_JPEGLS,
                                    DCM_CODEC_J2K};

static void check(medsam_status st, const medsam_error *err) {
    if (st != MEDSAM_OK && (!err->message[0] || strchr(err->message, '\n'))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 8) return 0;
    const dcm_codec codec = CODECS[(data[0] & 7) % 5];
    dcm_frame_spec spec = {(data[6] << 8 | data[2]) % 600 + 1, (data[7] << 8 | data[3]) % 600 + 1, data[4] & 1 ? 3 : 1, data[4] & 2 ? 16 : 8, 0,
                           (data[4] >> 2) & 1, (data[4] >> 3) & 1};
    spec.bits_stored = data[5] % spec.bits_allocated + 1;
    const size_t frame_bytes = (size_t)spec.rows * spec.columns * spec.samples * (spec.bits_allocated / 8);
    uint8_t *dst = malloc(frame_bytes);
    if (!dst) return 0;
    const uint8_t *p = data + 8;
    size_t n = size - 8;
    medsam_error err = {0};
    if (data[0] & 8) {
        int nframes = data[1] % 8 + 1;
        const uint8_t *eot = NULL;
        size_t eot_bytes = 0;
        if (data[0] & 16) {
            eot_bytes = (size_t)nframes * 8;
            if (n < eot_bytes) eot_bytes = n;
            eot = p, p += eot_bytes, n -= eot_bytes;
        }
        dcm_encap *e = NULL;
        medsam_status st = dcm_encap_index(p, n, nframes, codec, eot, eot_bytes, &e, &err);
        check(st, &err);
        for (int k = 0; st == MEDSAM_OK && k < nframes; k++) {
            medsam_error fe = {0};
            check(dcm_decode_compressed(p, e, k, codec, &spec, dst, &fe), &fe);
        }
        dcm_encap_free(e);
    } else {
        dcm_decode_fn fn[5] = {dcm_decode_rle, dcm_decode_jpeg, dcm_decode_jpeg_lossless, dcm_decode_jpegls, dcm_decode_j2k};
        check(fn[(data[0] & 7) % 5](p, n, &spec, dst, &err), &err);
    }
    free(dst);
    return 0;
}
