/* fuzz_dicom.c — libFuzzer target for the DICOM reader: one file image, or
 * several assembled as a folder (the input split at "\xff\xfeSPLIT"), and the
 * element parser + frame decoder on their own.
 *
 * Checks beyond "no crash": a failure leaves a one-line message naming the
 * input, no data and zeroed meta; a volume read has the sizes its meta
 * reports and a finite-or-not (never garbage) affine; it converts to float
 * and, when small, is written as NIfTI and must read back with the same
 * samples; the first byte's low bit picks single-file or series mode.
 *
 * Build and run by hand (not part of `make`): */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc -I/usr/include/openjpeg-2.5 fuzz/fuzz_dicom.c src/io/dicom_parse.c src/io/dicom_syntax.c \
//     src/io/dicom_pixels.c src/io/dicom_series.c src/io/dicom_encap.c src/io/dicom_codec_*.c src/io/dicom_colour.c \
//     src/io/nifti_read.c src/io/nifti_write.c src/io/volume.c src/core/error.c src/core/budget.c src/core/atomic_file.c \
//     -ljpeg -lopenjp2 -lcharls -lz -lm -o build/fuzz_dicom
// mkdir -p build/fuzz_dicom_corpus && for f in tests/fixtures/dicom/*.dcm tests/fixtures/dicom/*/*; do \
//     (printf '\0'; cat "$f") > "build/fuzz_dicom_corpus/$(echo "$f" | tr / _)"; done   # leading 0: single-file mode
// build/fuzz_dicom -max_len=65536 -timeout=10 -rss_limit_mb=2048 -max_total_time=300 build/fuzz_dicom_corpus
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dicom.h"
#include "io/nifti.h"

#define FUZZ_MAX_SAMPLES (1 << 22)
#define MAX_PARTS 8

static const char SEP[] = "\xff\xfeSPLIT";

static void check_failure(medsam_status st, const medsam_error *err, const ms_volume *v, const ms_dicom_meta *m,
                          const char *name) {
    if (st == MEDSAM_OK) return;
    if (!err->message[0] || strchr(err->message, '\n') || v->data || m->nslices || m->rows) abort();
    if (name && !strstr(err->message, name) && !strstr(err->message, "<memory>")) abort();
}

static void check_volume(const ms_volume *v, const ms_dicom_meta *m) {
    if (!v->data || v->nx != m->columns || v->ny != m->rows || v->nz != m->nslices || v->nt != 1) abort();
    if (ms_volume_samples(v) > FUZZ_MAX_SAMPLES) return;
    medsam_error err;
    float *f = NULL;
    if (ms_volume_to_f32(v, &f, &err) == MEDSAM_OK) free(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) return;
    medsam_status st = ms_nifti_write_fp(fp, v, 0, &err);
    fclose(fp);
    if (st == MEDSAM_OK) {
        ms_volume w;
        if (ms_nifti_read_mem(buf, len, &w, &err) != MEDSAM_OK) {
            fprintf(stderr, "NIfTI re-read failed: %s\n", err.message);
            abort();
        }
        size_t bytes = (size_t)ms_volume_samples(v) * (size_t)ms_voxel_type_size(v->datatype);
        if (w.nx != v->nx || w.ny != v->ny || w.nz != v->nz || w.datatype != v->datatype || memcmp(w.data, v->data, bytes))
            abort();
        ms_volume_free(&w);
    }
    free(buf);
}

/* The parser and decoder alone, frame by frame. */
static void parse_and_decode(const uint8_t *data, size_t size) {
    ms_dicom_file f;
    medsam_error err = {0};
    if (ms_dicom_parse(data, size, &f, &err) != MEDSAM_OK) {
        if (!err.message[0] || strchr(err.message, '\n') || f.frames || f.owned) abort();
        return;
    }
    if (f.has_pixel_data) {
        size_t frame = (size_t)f.rows * f.columns * (size_t)f.samples_per_pixel *
                       (size_t)ms_voxel_type_size(ms_dicom_file_voxel_type(&f));
        if (frame <= FUZZ_MAX_SAMPLES) {
            void *dst = malloc(frame ? frame : 1);
            for (int k = 0; k < f.nframes && k < 64 && dst; k++) {
                err.message[0] = 0;
                /* native frames were bounds-checked by the parse: they always decode; compressed
                 * ones may be corrupt, and then say so in one line */
                if (ms_dicom_decode_frame(&f, k, dst, &err) != MEDSAM_OK &&
                    (!f.codec || !err.message[0] || strchr(err.message, '\n')))
                    abort();
            }
            free(dst);
        }
    }
    ms_dicom_file_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int series = data[0] & 1;
    data++, size--;
    ms_volume v;
    ms_dicom_meta m;
    medsam_error err = {0};
    medsam_status st;
    if (!series) {
        parse_and_decode(data, size);
        st = ms_dicom_read_mem(data, size, "fuzz.dcm", &v, &m, &err);
        check_failure(st, &err, &v, &m, "fuzz.dcm");
    } else {
        const void *bufs[MAX_PARTS];
        size_t lens[MAX_PARTS];
        const char *names[MAX_PARTS] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"};
        int n = 0;
        size_t start = 0, k = sizeof SEP - 1;
        for (size_t i = 0; i + k <= size && n < MAX_PARTS - 1; i++)
            if (!memcmp(data + i, SEP, k)) {
                bufs[n] = data + start, lens[n] = i - start, n++;
                start = i + k, i += k - 1;
            }
        bufs[n] = data + start, lens[n] = size - start, n++;
        /* each part in its own allocation, so that ASan sees reads past a part */
        void *copies[MAX_PARTS];
        for (int i = 0; i < n; i++) {
            copies[i] = malloc(lens[i] ? lens[i] : 1);
            if (lens[i]) memcpy(copies[i], bufs[i], lens[i]);
            bufs[i] = copies[i];
        }
        st = ms_dicom_read_mem_series(n, bufs, lens, names, &v, &m, &err);
        check_failure(st, &err, &v, &m, NULL);
        for (int i = 0; i < n; i++) free(copies[i]);
    }
    if (st == MEDSAM_OK) check_volume(&v, &m);
    ms_volume_free(&v);
    return 0;
}
