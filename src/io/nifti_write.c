/* nifti_write.c — NIfTI-1 single-file writer (.nii, .nii.gz through zlib
 * deflate with a gzip wrapper), little-endian, data at byte 352. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/nifti.h"

#define NII1_HDR 348
#define NII1_VOX_OFFSET 352
#define WR_CHUNK (256u << 10)

static void put_u(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_i16(uint8_t *p, int v) { put_u(p, (uint16_t)(int16_t)v, 2); }
static void put_f32(uint8_t *p, double v) {
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u(p, u, 4);
}
static void put_str(uint8_t *dst, const char *src, size_t n) {
    size_t k = strnlen(src, n);
    memcpy(dst, src, k);
}
static int16_t clamp_i16(int64_t v) { return v < -32768 || v > 32767 ? 0 : (int16_t)v; }

static medsam_status check_volume(const ms_volume *v, int dims[5], medsam_error *err) {
    int size = ms_voxel_type_size(v->datatype);
    if (!size) return ms_error(err, MEDSAM_ERR_ARG, "unknown voxel type %d", (int)v->datatype);
    if (v->nchan != ms_voxel_type_channels(v->datatype))
        return ms_error(err, MEDSAM_ERR_ARG, "%d samples per voxel for %s", v->nchan, ms_voxel_type_name(v->datatype));
    int n[4] = {v->nx, v->ny, v->nz, v->nt};
    int nd = v->ndim < 1 ? 1 : v->ndim > 4 ? 4 : v->ndim;
    for (int i = 0; i < 4; i++) {
        if (n[i] < 1 || n[i] > 32767)
            return ms_error(err, MEDSAM_ERR_ARG, "size %d along axis %d does not fit NIfTI-1 (1..32767)", n[i], i);
        if (n[i] > 1 && nd < i + 1) nd = i + 1;
    }
    if (!v->data) return ms_error(err, MEDSAM_ERR_ARG, "volume has no data");
    dims[0] = nd;
    for (int i = 0; i < 4; i++) dims[i + 1] = n[i];
    return MEDSAM_OK;
}

static void build_header(const ms_volume *v, const int dims[5], uint8_t h[NII1_VOX_OFFSET]) {
    memset(h, 0, NII1_VOX_OFFSET);
    put_u(h, NII1_HDR, 4);
    h[38] = 'r'; /* regular */
    h[39] = (uint8_t)v->dim_info;
    put_i16(h + 40, dims[0]);
    for (int i = 1; i < 8; i++) put_i16(h + 40 + 2 * i, i <= dims[0] ? dims[i] : 1);
    put_f32(h + 56, v->intent_p1), put_f32(h + 60, v->intent_p2), put_f32(h + 64, v->intent_p3);
    put_i16(h + 68, v->intent_code);
    put_i16(h + 70, v->datatype);
    put_i16(h + 72, 8 * ms_voxel_type_size(v->datatype) * ms_voxel_type_channels(v->datatype));
    put_i16(h + 74, clamp_i16(v->slice_start));
    for (int i = 0; i < 8; i++) put_f32(h + 76 + 4 * i, v->pixdim[i]);
    put_f32(h + 108, NII1_VOX_OFFSET);
    put_f32(h + 112, v->scl_slope), put_f32(h + 116, v->scl_inter);
    put_i16(h + 120, clamp_i16(v->slice_end));
    h[122] = (uint8_t)v->slice_code;
    h[123] = (uint8_t)v->xyzt_units;
    put_f32(h + 124, v->cal_max), put_f32(h + 128, v->cal_min);
    put_f32(h + 132, v->slice_duration), put_f32(h + 136, v->toffset);
    put_str(h + 148, v->descrip, 80);
    put_str(h + 228, v->aux_file, 24);
    put_i16(h + 252, v->qform_code), put_i16(h + 254, v->sform_code);
    put_f32(h + 256, v->quatern_b), put_f32(h + 260, v->quatern_c), put_f32(h + 264, v->quatern_d);
    put_f32(h + 268, v->qoffset_x), put_f32(h + 272, v->qoffset_y), put_f32(h + 276, v->qoffset_z);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) put_f32(h + 280 + 16 * r + 4 * c, v->srow[r][c]);
    put_str(h + 328, v->intent_name, 16);
    memcpy(h + 344, "n+1\0", 4);
    /* bytes 348..351: extension flag 0 (no extensions) */
}

/* Output sink: plain fwrite or gzip deflate onto the FILE. */
typedef struct {
    FILE *fp;
    int gz;
    z_stream zs;
    uint8_t *out;
} nii_sink;

static medsam_status sink_put(nii_sink *k, const void *data, size_t len, int finish, medsam_error *err) {
    if (!k->gz) {
        if (len && fwrite(data, 1, len, k->fp) != len) return ms_error(err, MEDSAM_ERR_IO, "write failed");
        return MEDSAM_OK;
    }
    k->zs.next_in = (Bytef *)(uintptr_t)data;
    k->zs.avail_in = (uInt)len;
    int zr;
    do {
        k->zs.next_out = k->out;
        k->zs.avail_out = WR_CHUNK;
        zr = deflate(&k->zs, finish ? Z_FINISH : Z_NO_FLUSH);
        if (zr == Z_STREAM_ERROR) return ms_error(err, MEDSAM_ERR_IO, "deflate failed");
        size_t n = WR_CHUNK - k->zs.avail_out;
        if (n && fwrite(k->out, 1, n, k->fp) != n) return ms_error(err, MEDSAM_ERR_IO, "write failed");
    } while (k->zs.avail_out == 0 || (finish && zr != Z_STREAM_END));
    return MEDSAM_OK;
}

static int host_is_little(void) {
    uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Writes the samples little-endian, in chunks (swapped copies on big-endian hosts). */
static medsam_status write_samples(nii_sink *k, const ms_volume *v, medsam_error *err) {
    size_t size = (size_t)ms_voxel_type_size(v->datatype);
    size_t total = (size_t)ms_volume_samples(v) * size;
    const uint8_t *src = v->data;
    uint8_t *tmp = NULL;
    int swap = size > 1 && !host_is_little();
    if (swap && !(tmp = malloc(WR_CHUNK))) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    medsam_status st = MEDSAM_OK;
    for (size_t done = 0; done < total && !st;) {
        size_t n = total - done < WR_CHUNK ? total - done : WR_CHUNK;
        const uint8_t *p = src + done;
        if (swap) {
            for (size_t i = 0; i < n; i += size)
                for (size_t b = 0; b < size; b++) tmp[i + b] = p[i + size - 1 - b];
            p = tmp;
        }
        st = sink_put(k, p, n, 0, err);
        done += n;
    }
    free(tmp);
    return st;
}

medsam_status ms_nifti_write_fp(FILE *fp, const ms_volume *v, int gzip, medsam_error *err) {
    int dims[5] = {0};
    medsam_status st = check_volume(v, dims, err);
    if (st) return st;
    uint8_t hdr[NII1_VOX_OFFSET];
    build_header(v, dims, hdr);
    nii_sink k;
    memset(&k, 0, sizeof k);
    k.fp = fp;
    k.gz = gzip;
    if (gzip) {
        k.out = malloc(WR_CHUNK);
        /* windowBits 15 + 16: gzip wrapper (mtime 0, so output is reproducible) */
        if (!k.out || deflateInit2(&k.zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(k.out);
            return ms_error(err, MEDSAM_ERR_NOMEM, "cannot start deflate");
        }
    }
    st = sink_put(&k, hdr, sizeof hdr, 0, err);
    if (!st) st = write_samples(&k, v, err);
    if (!st && gzip) st = sink_put(&k, NULL, 0, 1, err);
    if (gzip) {
        deflateEnd(&k.zs);
        free(k.out);
    }
    return st;
}

static int ends_with_gz(const char *path) {
    size_t n = strlen(path);
    return n >= 3 && strcasecmp(path + n - 3, ".gz") == 0;
}

medsam_status ms_nifti_write(const char *path, const ms_volume *v, medsam_error *err) {
    ms_atomic_file af;
    medsam_status st = ms_atomic_open(&af, path, err);
    if (st) return st;
    st = ms_nifti_write_fp(af.fp, v, ends_with_gz(path), err);
    if (st) {
        ms_atomic_abort(&af);
        ms_error_prefix(err, path);
        return st;
    }
    return ms_atomic_commit(&af, err);
}
