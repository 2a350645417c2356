/* fuzz_nifti.c — libFuzzer target for the NIfTI reader (plain and gzip, from
 * memory), the float conversion, the affines and the writer.
 *
 * Checks beyond "no crash": a failure leaves a one-line message and no data;
 * a plain (not gzip) input is also gzipped here and read again, and both
 * paths must agree (same status; same samples and affine when read), which
 * drives fuzzed headers through the gzip reader with valid deflate streams;
 * a volume read from a NIfTI-1 input is written back (plain or gzip, by the
 * input's first byte) and must read back with the same sizes, type, samples
 * and affine.
 *
 * Build and run by hand (not part of `make`): */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc fuzz/fuzz_nifti.c src/io/nifti_read.c src/io/nifti_write.c src/io/volume.c \
//     src/core/error.c src/core/budget.c src/core/atomic_file.c -lz -lm -o build/fuzz_nifti
// mkdir -p build/fuzz_nifti_corpus && cp tests/fixtures/nifti/*.nii* build/fuzz_nifti_corpus/
// build/fuzz_nifti -max_len=65536 -timeout=10 -rss_limit_mb=2048 -max_total_time=300 build/fuzz_nifti_corpus
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "io/nifti.h"

#define FUZZ_MAX_SAMPLES (1 << 22)

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static int same_volume(const ms_volume *a, const ms_volume *b) {
    if (a->nx != b->nx || a->ny != b->ny || a->nz != b->nz || a->nt != b->nt || a->datatype != b->datatype) return 0;
    for (int i = 0; i < 16; i++)
        if (!same_double(a->affine[i / 4][i % 4], b->affine[i / 4][i % 4])) return 0;
    size_t bytes = (size_t)ms_volume_samples(a) * (size_t)ms_voxel_type_size(a->datatype);
    return memcmp(a->data, b->data, bytes) == 0;
}

static void write_and_reread(const ms_volume *v, int gz) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) return;
    medsam_error err;
    medsam_status st = ms_nifti_write_fp(fp, v, gz, &err);
    fclose(fp);
    if (st == MEDSAM_OK && v->nifti_version == 1) {
        ms_volume w;
        if (ms_nifti_read_mem(buf, len, &w, &err) != MEDSAM_OK) {
            fprintf(stderr, "re-read failed: %s\n", err.message);
            abort();
        }
        if (!same_volume(v, &w)) abort();
        ms_volume_free(&w);
    }
    free(buf);
}

/* Reads `data` gzipped: must agree with the plain read (status st, volume v). */
static void check_gzip_path(const uint8_t *data, size_t size, medsam_status st, const ms_volume *v) {
    z_stream s;
    memset(&s, 0, sizeof s);
    size_t cap = size + size / 100 + 64;
    uint8_t *gz = malloc(cap);
    if (!gz || deflateInit2(&s, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(gz);
        return;
    }
    s.next_in = (Bytef *)(uintptr_t)data, s.avail_in = (uInt)size, s.next_out = gz, s.avail_out = (uInt)cap;
    int zr = deflate(&s, Z_FINISH);
    size_t len = s.total_out;
    deflateEnd(&s);
    if (zr == Z_STREAM_END) {
        ms_volume w;
        medsam_error err;
        medsam_status st2 = ms_nifti_read_mem(gz, len, &w, &err);
        if (st2 != st) {
            fprintf(stderr, "plain read: %d, gzip read: %d (%s)\n", st, st2, err.message);
            abort();
        }
        if (st2 == MEDSAM_OK && !same_volume(v, &w)) abort();
        ms_volume_free(&w);
    }
    free(gz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ms_volume v;
    medsam_error err = {0};
    medsam_status st = ms_nifti_read_mem(data, size, &v, &err);
    if (st != MEDSAM_OK && (!err.message[0] || strchr(err.message, '\n') || v.data)) abort();
    if (size >= 2 && !(data[0] == 0x1f && data[1] == 0x8b) && size <= 16384) check_gzip_path(data, size, st, &v);
    if (st != MEDSAM_OK) return 0;
    double A[4][4];
    ms_volume_qform(&v, A, &err);
    ms_volume_sform(&v, A);
    ms_volume_base_affine(&v, A);
    if (ms_volume_samples(&v) <= FUZZ_MAX_SAMPLES) {
        float *f = NULL;
        if (ms_volume_to_f32(&v, &f, &err) == MEDSAM_OK) free(f);
        ms_volume mask;
        if (ms_volume_create_like(&mask, &v, MS_VOX_UINT8, 1, &err) == MEDSAM_OK) ms_volume_free(&mask);
        write_and_reread(&v, size > 0 && (data[0] & 1));
    }
    ms_volume_free(&v);
    return 0;
}
