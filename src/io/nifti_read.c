/* nifti_read.c — NIfTI-1/NIfTI-2 reader over a plain or gzip byte stream
 * from a file or a memory buffer. Every size read from the header is checked
 * before it is used; nothing is allocated before the data is known to fit. */
#define _POSIX_C_SOURCE 200809L
#include "io/nifti.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/budget.h"
#include "core/error.h"

#define NII1_HDR 348
#define NII2_HDR 540
#define GZ_MAX_RATIO 1040u /* deflate never expands more than ~1032:1 */
#define NS_IN_CHUNK (64u << 10)

/* ---- byte stream: plain or gzip, from a FILE or memory ---- */

typedef struct {
    FILE *fp;               /* file source, or NULL for memory */
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    uint64_t size;          /* source bytes (compressed size when gz) */
    int gz;
    int z_ready;            /* inflateInit2 done */
    int member_end;         /* current gzip member finished */
    int done;               /* no more decompressed data */
    z_stream zs;
    uint8_t *in;            /* NS_IN_CHUNK bytes of compressed input */
    uint64_t pos;           /* decompressed bytes consumed so far */
} nii_stream;

static medsam_status ns_src_read(nii_stream *s, uint8_t *dst, size_t n, size_t *got, medsam_error *err) {
    if (s->fp) {
        *got = fread(dst, 1, n, s->fp);
        if (*got < n && ferror(s->fp)) return ms_error(err, MEDSAM_ERR_IO, "read failed: %s", strerror(errno));
        return MEDSAM_OK;
    }
    size_t k = s->mem_len - s->mem_pos < n ? s->mem_len - s->mem_pos : n;
    if (k) memcpy(dst, s->mem + s->mem_pos, k);
    s->mem_pos += k;
    *got = k;
    return MEDSAM_OK;
}

/* Moves unread input to the front of the buffer and tops it up. */
static medsam_status ns_refill(nii_stream *s, medsam_error *err) {
    if (s->zs.avail_in && s->zs.next_in != s->in) memmove(s->in, s->zs.next_in, s->zs.avail_in);
    s->zs.next_in = s->in;
    size_t got = 0;
    medsam_status st = ns_src_read(s, s->in + s->zs.avail_in, NS_IN_CHUNK - s->zs.avail_in, &got, err);
    s->zs.avail_in += (uInt)got;
    return st;
}

static medsam_status ns_open(nii_stream *s, medsam_error *err) {
    uint8_t magic[2] = {0, 0};
    size_t got = 0;
    medsam_status st = ns_src_read(s, magic, 2, &got, err);
    if (st) return st;
    s->gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (s->fp) {
        if (fseek(s->fp, 0, SEEK_SET) != 0) return ms_error(err, MEDSAM_ERR_IO, "cannot seek");
    } else {
        s->mem_pos = 0;
    }
    if (!s->gz) return MEDSAM_OK;
    s->in = malloc(NS_IN_CHUNK);
    if (!s->in) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    if (inflateInit2(&s->zs, 15 + 16) != Z_OK) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot start inflate");
    s->z_ready = 1;
    return MEDSAM_OK;
}

static void ns_close(nii_stream *s) {
    if (s->z_ready) inflateEnd(&s->zs);
    free(s->in);
    s->in = NULL;
    s->z_ready = 0;
}

/* Reads up to n decompressed bytes; *got < n only at the end of the data. */
static medsam_status ns_read(nii_stream *s, void *dst, size_t n, size_t *got, medsam_error *err) {
    medsam_status st = MEDSAM_OK;
    *got = 0;
    if (!s->gz) {
        st = ns_src_read(s, dst, n, got, err);
        s->pos += *got;
        return st;
    }
    uint8_t *out = dst;
    while (*got < n && !s->done) {
        if (s->member_end) {
            /* another gzip member may follow; anything else ends the data (as zlib's gzread) */
            if (s->zs.avail_in < 2 && (st = ns_refill(s, err))) return st;
            if (s->zs.avail_in < 2 || s->zs.next_in[0] != 0x1f || s->zs.next_in[1] != 0x8b) {
                s->done = 1;
                break;
            }
            if (inflateReset(&s->zs) != Z_OK) return ms_error(err, MEDSAM_ERR_FORMAT, "corrupt gzip stream");
            s->member_end = 0;
        }
        if (s->zs.avail_in == 0) {
            if ((st = ns_refill(s, err))) return st;
            if (s->zs.avail_in == 0) {
                s->done = 1; /* compressed input ended early: the caller reports what is missing */
                break;
            }
        }
        size_t want = n - *got > (1u << 30) ? (1u << 30) : n - *got;
        s->zs.next_out = out + *got;
        s->zs.avail_out = (uInt)want;
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        size_t produced = want - s->zs.avail_out;
        *got += produced;
        s->pos += produced;
        if (zr == Z_STREAM_END) {
            s->member_end = 1;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            return ms_error(err, MEDSAM_ERR_FORMAT, "corrupt gzip data (%s) after %llu decompressed bytes",
                            s->zs.msg ? s->zs.msg : "inflate error", (unsigned long long)s->pos);
        }
    }
    return MEDSAM_OK;
}

/* Reads and drops n bytes; *got says how many there were. */
static medsam_status ns_skip(nii_stream *s, uint64_t n, uint64_t *got, medsam_error *err) {
    uint8_t buf[4096];
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < sizeof buf ? (size_t)(n - *got) : sizeof buf, k = 0;
        medsam_status st = ns_read(s, buf, want, &k, err);
        if (st) return st;
        *got += k;
        if (k < want) break;
    }
    return MEDSAM_OK;
}

/* For gzip: decompresses the rest of the current member so that its CRC is
 * checked. A stream cut after the data (no trailer) is accepted. */
#define NS_MAX_TRAILING ((uint64_t)64 << 20) /* inflated past the voxel data at most, then refused */

static medsam_status ns_finish(nii_stream *s, medsam_error *err) {
    uint8_t buf[4096];
    const uint64_t end = s->pos;
    while (s->gz && !s->member_end && !s->done) {
        size_t k = 0;
        medsam_status st = ns_read(s, buf, sizeof buf, &k, err);
        if (st) return st;
        if (s->pos - end > NS_MAX_TRAILING)
            return ms_error(err, MEDSAM_ERR_FORMAT,
                            "gzip stream holds more than %llu MiB past the %llu bytes the header declares",
                            (unsigned long long)(NS_MAX_TRAILING >> 20), (unsigned long long)end);
    }
    return MEDSAM_OK;
}

/* ---- header fields ---- */

static uint64_t get_u(const uint8_t *p, int n, int swap) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[swap ? n - 1 - i : i] << (8 * i);
    return v;
}
static int16_t get_i16(const uint8_t *p, int swap) { return (int16_t)get_u(p, 2, swap); }
static int32_t get_i32(const uint8_t *p, int swap) { return (int32_t)get_u(p, 4, swap); }
static int64_t get_i64(const uint8_t *p, int swap) { return (int64_t)get_u(p, 8, swap); }
static double get_f32(const uint8_t *p, int swap) {
    uint32_t u = (uint32_t)get_u(p, 4, swap);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double get_f64(const uint8_t *p, int swap) {
    uint64_t u = get_u(p, 8, swap);
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static void get_str(char *dst, const uint8_t *src, size_t n) {
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Fields common to both versions once decoded. */
typedef struct {
    int64_t dim[8];
    int datatype;
    double vox_offset;
} nii_raw;

static void parse_nifti1(const uint8_t *h, int sw, ms_volume *v, nii_raw *r) {
    for (int i = 0; i < 8; i++) r->dim[i] = get_i16(h + 40 + 2 * i, sw);
    v->intent_p1 = get_f32(h + 56, sw), v->intent_p2 = get_f32(h + 60, sw), v->intent_p3 = get_f32(h + 64, sw);
    v->intent_code = get_i16(h + 68, sw);
    r->datatype = get_i16(h + 70, sw);
    v->slice_start = get_i16(h + 74, sw);
    for (int i = 0; i < 8; i++) v->pixdim[i] = get_f32(h + 76 + 4 * i, sw);
    r->vox_offset = get_f32(h + 108, sw);
    v->scl_slope = get_f32(h + 112, sw), v->scl_inter = get_f32(h + 116, sw);
    v->slice_end = get_i16(h + 120, sw);
    v->slice_code = h[122];
    v->xyzt_units = h[123];
    v->cal_max = get_f32(h + 124, sw), v->cal_min = get_f32(h + 128, sw);
    v->slice_duration = get_f32(h + 132, sw), v->toffset = get_f32(h + 136, sw);
    get_str(v->descrip, h + 148, 80);
    get_str(v->aux_file, h + 228, 24);
    v->qform_code = get_i16(h + 252, sw), v->sform_code = get_i16(h + 254, sw);
    v->quatern_b = get_f32(h + 256, sw), v->quatern_c = get_f32(h + 260, sw), v->quatern_d = get_f32(h + 264, sw);
    v->qoffset_x = get_f32(h + 268, sw), v->qoffset_y = get_f32(h + 272, sw), v->qoffset_z = get_f32(h + 276, sw);
    for (int r3 = 0; r3 < 3; r3++)
        for (int c = 0; c < 4; c++) v->srow[r3][c] = get_f32(h + 280 + 16 * r3 + 4 * c, sw);
    get_str(v->intent_name, h + 328, 16);
    v->dim_info = h[39];
}

static void parse_nifti2(const uint8_t *h, int sw, ms_volume *v, nii_raw *r) {
    r->datatype = get_i16(h + 12, sw);
    for (int i = 0; i < 8; i++) r->dim[i] = get_i64(h + 16 + 8 * i, sw);
    v->intent_p1 = get_f64(h + 80, sw), v->intent_p2 = get_f64(h + 88, sw), v->intent_p3 = get_f64(h + 96, sw);
    for (int i = 0; i < 8; i++) v->pixdim[i] = get_f64(h + 104 + 8 * i, sw);
    int64_t off = get_i64(h + 168, sw);
    r->vox_offset = off < 0 ? -1.0 : (double)off; /* exact below 2^53, far past any real file */
    v->scl_slope = get_f64(h + 176, sw), v->scl_inter = get_f64(h + 184, sw);
    v->cal_max = get_f64(h + 192, sw), v->cal_min = get_f64(h + 200, sw);
    v->slice_duration = get_f64(h + 208, sw), v->toffset = get_f64(h + 216, sw);
    v->slice_start = get_i64(h + 224, sw), v->slice_end = get_i64(h + 232, sw);
    get_str(v->descrip, h + 240, 80);
    get_str(v->aux_file, h + 320, 24);
    v->qform_code = get_i32(h + 344, sw), v->sform_code = get_i32(h + 348, sw);
    v->quatern_b = get_f64(h + 352, sw), v->quatern_c = get_f64(h + 360, sw), v->quatern_d = get_f64(h + 368, sw);
    v->qoffset_x = get_f64(h + 376, sw), v->qoffset_y = get_f64(h + 384, sw), v->qoffset_z = get_f64(h + 392, sw);
    for (int r3 = 0; r3 < 3; r3++)
        for (int c = 0; c < 4; c++) v->srow[r3][c] = get_f64(h + 400 + 32 * r3 + 8 * c, sw);
    v->slice_code = get_i32(h + 496, sw);
    v->xyzt_units = get_i32(h + 500, sw);
    v->intent_code = get_i32(h + 504, sw);
    get_str(v->intent_name, h + 508, 16);
    v->dim_info = h[524];
}

/* ref: nibabel/analyze.py:_chk_pixdims, nifti1.py:_chk_qfac and _chk_xform_code (fixes applied on load) */
static void apply_nibabel_fixes(ms_volume *v) {
    for (int i = 1; i <= 3; i++) {
        if (v->pixdim[i] == 0) v->pixdim[i] = 1;
        else if (v->pixdim[i] < 0) v->pixdim[i] = -v->pixdim[i];
    }
    if (v->pixdim[0] != 1 && v->pixdim[0] != -1) v->pixdim[0] = 1;
    if (v->qform_code < 0 || v->qform_code > 5) v->qform_code = 0;
    if (v->sform_code < 0 || v->sform_code > 5) v->sform_code = 0;
}

static medsam_status check_dims(const nii_raw *r, ms_volume *v, medsam_error *err) {
    int64_t nd = r->dim[0];
    if (nd < 1 || nd > 7)
        return ms_error(err, MEDSAM_ERR_FORMAT, "bad NIfTI dim[0] = %lld (must be 1..7)", (long long)nd);
    for (int i = 1; i <= nd; i++) {
        if (r->dim[i] < 1)
            return ms_error(err, MEDSAM_ERR_FORMAT, "bad NIfTI dim[%d] = %lld (must be >= 1)", i,
                            (long long)r->dim[i]);
    }
    for (int i = 5; i <= nd; i++) {
        if (r->dim[i] != 1)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                            "%lld-D NIfTI (dim[%d] = %lld) is not supported: volumes of up to 4 dimensions only",
                            (long long)nd, i, (long long)r->dim[i]);
    }
    int64_t n[4] = {1, 1, 1, 1}, total = 1;
    for (int i = 0; i < 4 && i < nd; i++) {
        n[i] = r->dim[i + 1];
        if (n[i] > MS_VOLUME_MAX_VOXELS / total)
            return ms_error(err, MEDSAM_ERR_FORMAT, "NIfTI dims %lldx%lldx%lldx%lld exceed 2^31-1 voxels",
                            (long long)r->dim[1], (long long)(nd > 1 ? r->dim[2] : 1),
                            (long long)(nd > 2 ? r->dim[3] : 1), (long long)(nd > 3 ? r->dim[4] : 1));
        total *= n[i];
    }
    v->ndim = nd < 4 ? (int)nd : 4;
    v->nx = (int)n[0], v->ny = (int)n[1], v->nz = (int)n[2], v->nt = (int)n[3];
    return MEDSAM_OK;
}

static const char *unsupported_type_name(int code) {
    switch (code) {
    case 1: return "binary";
    case 32: return "complex64";
    case 1536: return "float128";
    case 1792: return "complex128";
    case 2048: return "complex256";
    default: return "unknown";
    }
}

/* Parses and checks the header; on return the stream is just past it and
 * *data_at holds the data offset, *nbytes the size of the data section. */
static medsam_status read_header(nii_stream *s, ms_volume *v, uint64_t *data_at, uint64_t *nbytes,
                                 int *big_endian, medsam_error *err) {
    uint8_t h[NII2_HDR];
    size_t got = 0;
    medsam_status st = ns_read(s, h, 4, &got, err);
    if (st) return st;
    if (got < 4) return ms_error(err, MEDSAM_ERR_FORMAT, "not a NIfTI file (only %zu bytes)", got);
    int version = 0, sw = 0;
    if (get_i32(h, 0) == NII1_HDR) version = 1;
    else if (get_i32(h, 1) == NII1_HDR) version = 1, sw = 1;
    else if (get_i32(h, 0) == NII2_HDR) version = 2;
    else if (get_i32(h, 1) == NII2_HDR) version = 2, sw = 1;
    else return ms_error(err, MEDSAM_ERR_FORMAT, "not a NIfTI file (sizeof_hdr is %d, not 348 or 540)", get_i32(h, 0));
    size_t hsize = version == 1 ? NII1_HDR : NII2_HDR;
    if ((st = ns_read(s, h + 4, hsize - 4, &got, err))) return st;
    if (got < hsize - 4)
        return ms_error(err, MEDSAM_ERR_FORMAT, "truncated NIfTI-%d header: %zu of %zu bytes", version, got + 4, hsize);

    const uint8_t *magic = version == 1 ? h + 344 : h + 4;
    if (version == 1 && memcmp(magic, "ni1\0", 4) == 0)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "NIfTI-1 .hdr/.img pairs are not supported (single-file .nii only)");
    if (version == 2 && memcmp(magic, "ni2\0", 4) == 0)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "NIfTI-2 .hdr/.img pairs are not supported (single-file .nii only)");
    if (memcmp(magic, version == 1 ? "n+1\0" : "n+2\0", 4) != 0)
        return ms_error(err, MEDSAM_ERR_FORMAT, "not a NIfTI-%d file (bad magic; Analyze 7.5 is not supported)", version);

    nii_raw r;
    memset(&r, 0, sizeof r);
    if (version == 1) parse_nifti1(h, sw, v, &r);
    else parse_nifti2(h, sw, v, &r);
    v->nifti_version = version;
    *big_endian = sw;
    if ((st = check_dims(&r, v, err))) return st;
    int size = ms_voxel_type_size((ms_voxel_type)r.datatype);
    if (!size)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "NIfTI datatype %d (%s) is not supported", r.datatype,
                        unsupported_type_name(r.datatype));
    v->datatype = (ms_voxel_type)r.datatype;
    v->nchan = ms_voxel_type_channels(v->datatype);
    apply_nibabel_fixes(v);
    /* ref: nibabel/nifti1.py:Nifti1Header.get_slope_inter */
    if (v->scl_slope != 0 && isfinite(v->scl_slope) && !isfinite(v->scl_inter))
        return ms_error(err, MEDSAM_ERR_FORMAT, "valid scl_slope %g but invalid scl_inter %g", v->scl_slope,
                        v->scl_inter);

    double off = r.vox_offset, min_off = (double)hsize + 4;
    if (!(off >= 0) || off != floor(off) || off > 9.0e15)
        return ms_error(err, MEDSAM_ERR_FORMAT, "bad vox_offset %g", off);
    if (off == 0) off = min_off;
    if (off < min_off)
        return ms_error(err, MEDSAM_ERR_FORMAT, "vox_offset %.0f lies inside the header (minimum %.0f)", off, min_off);
    *data_at = (uint64_t)off;
    *nbytes = (uint64_t)ms_volume_samples(v) * (uint64_t)size;
    return ms_volume_update_affine(v, err);
}

static void swap_samples(void *data, int64_t n, int size) {
    uint8_t *p = data;
    for (int64_t i = 0; i < n; i++, p += size) {
        for (int a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

static int host_is_little(void) {
    uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static medsam_status read_stream(nii_stream *s, ms_volume *v, int header_only, uint64_t max_bytes, medsam_error *err) {
    uint64_t data_at = 0, nbytes = 0;
    int big_endian = 0;
    medsam_status st = ns_open(s, err);
    if (!st) st = read_header(s, v, &data_at, &nbytes, &big_endian, err);
    if (st || header_only) return st;
    // the header's voxel bytes against the budget before anything else (a gzip bomb's header is refused here);
    // ns_read below inflates exactly nbytes, never more
    char what[96];
    snprintf(what, sizeof what, "NIfTI %dx%dx%dx%d %s", v->nx, v->ny, v->nz, v->nt, ms_voxel_type_name(v->datatype));
    if ((st = ms_budget_check(max_bytes, nbytes, what, err))) return st;
    if (!s->gz && (data_at > s->size || nbytes > s->size - data_at))
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "truncated voxel data: expected %llu bytes at offset %llu, the file has %llu bytes",
                        (unsigned long long)nbytes, (unsigned long long)data_at, (unsigned long long)s->size);
    if (s->gz && (data_at + nbytes) / GZ_MAX_RATIO > s->size)
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "truncated voxel data: expected %llu bytes at offset %llu, more than %llu compressed "
                        "bytes can hold",
                        (unsigned long long)nbytes, (unsigned long long)data_at, (unsigned long long)s->size);
    uint64_t skipped = 0, want = data_at - s->pos;
    if ((st = ns_skip(s, want, &skipped, err))) return st;
    if (skipped < want)
        return ms_error(err, MEDSAM_ERR_FORMAT, "truncated file: vox_offset %llu is past its end (%llu bytes)",
                        (unsigned long long)data_at, (unsigned long long)s->pos);
    void *data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!data) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %llu bytes", (unsigned long long)nbytes);
    size_t got = 0;
    st = ns_read(s, data, (size_t)nbytes, &got, err);
    if (!st && got < nbytes)
        st = ms_error(err, MEDSAM_ERR_FORMAT, "truncated voxel data: expected %llu bytes at offset %llu, got %zu",
                      (unsigned long long)nbytes, (unsigned long long)data_at, got);
    if (!st) st = ns_finish(s, err);
    if (st) {
        free(data);
        return st;
    }
    int size = ms_voxel_type_size(v->datatype);
    if (size > 1 && big_endian == host_is_little()) swap_samples(data, ms_volume_samples(v), size);
    v->data = data;
    return MEDSAM_OK;
}

static medsam_status read_path(const char *path, ms_volume *out, int header_only, uint64_t max_bytes,
                               medsam_error *err) {
    ms_volume_init(out);
    nii_stream s;
    memset(&s, 0, sizeof s);
    s.fp = fopen(path, "rb");
    if (!s.fp) return ms_error(err, MEDSAM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    medsam_status st = MEDSAM_OK;
    if (fstat(fileno(s.fp), &sb) != 0 || !S_ISREG(sb.st_mode)) st = ms_error(err, MEDSAM_ERR_IO, "not a regular file");
    else s.size = (uint64_t)sb.st_size;
    if (!st) st = read_stream(&s, out, header_only, max_bytes, err);
    ns_close(&s);
    fclose(s.fp);
    if (st) {
        ms_volume_free(out);
        ms_error_prefix(err, path);
    }
    return st;
}

medsam_status ms_nifti_read(const char *path, ms_volume *out, medsam_error *err) {
    return read_path(path, out, 0, 0, err);
}

medsam_status ms_nifti_read_budget(const char *path, uint64_t max_bytes, ms_volume *out, medsam_error *err) {
    return read_path(path, out, 0, max_bytes, err);
}

medsam_status ms_nifti_read_header(const char *path, ms_volume *out, medsam_error *err) {
    return read_path(path, out, 1, 0, err);
}

medsam_status ms_nifti_read_mem(const void *buf, size_t len, ms_volume *out, medsam_error *err) {
    ms_volume_init(out);
    nii_stream s;
    memset(&s, 0, sizeof s);
    s.mem = buf;
    s.mem_len = len;
    s.size = len;
    medsam_status st = read_stream(&s, out, 0, 0, err);
    ns_close(&s);
    if (st) {
        ms_volume_free(out);
        ms_error_prefix(err, "<memory>");
    }
    return st;
}
