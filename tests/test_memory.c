/* test_memory.c — the memory budget (core/budget.h): for every reader, a generated
 * "bomb" (a tiny file whose header promises a huge decoded size, or a small compressed
 * file that really inflates to many megabytes) is refused under a small budget with the
 * one-line message naming the file, the decoded size and the budget, and the real ones
 * are read under a budget large enough for them. Also --max-memory parsing. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h> /* after stdio.h: it needs FILE and size_t */
#include <string.h>
#include <zlib.h>

#include "core/budget.h"
#include "core/npy.h"
#include "io/dicom.h"
#include "io/image.h"
#include "io/nifti.h"
#include "io/npz.h"
#include "io/volume_read.h"
#include "test.h"

#define MB ((uint64_t)1 << 20)

static char g_tmp[512];

static const char *tmp_path(const char *name) {
    static char p[4][768];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_tmp, name);
    return p[k];
}

/* A refusal: MEDSAM_ERR_NOMEM, one line naming the file, "decoded size" and the budget. */
static void expect_refused(const char *what, medsam_status st, const medsam_error *err, const char *path,
                           const char *budget_text) {
    int ok = st == MEDSAM_ERR_NOMEM && strstr(err->message, path) && strstr(err->message, "over the memory budget of") &&
             strstr(err->message, budget_text) && !strchr(err->message, '\n');
    CHECK(ok, "%s: expected a budget refusal, got %d: %s", what, st, st ? err->message : "(accepted)");
    printf("%s %-44s %s\n", ok ? "ok  " : "FAIL", what, st ? err->message : "(accepted)");
}

static void expect_ok(const char *what, medsam_status st, const medsam_error *err) {
    CHECK(st == MEDSAM_OK, "%s: %s", what, err->message);
    printf("%s %-44s accepted\n", st == MEDSAM_OK ? "ok  " : "FAIL", what);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* ---- PNG ---------------------------------------------------------------- */
static void test_png(void) {
    medsam_error err;
    ms_image im;
    // 4000 x 4000 zeros: 16 MB decoded from a file of a few KB
    uint8_t *z = calloc(4000 * 4000, 1);
    const char *real = tmp_path("zeros_4000.png");
    CHECK(ms_png_write_gray8(real, z, 4000, 4000, &err) == MEDSAM_OK, "write: %s", err.message);
    free(z);
    ms_image_limits small = {.max_bytes = 8 * MB}, large = {.max_bytes = 32 * MB};
    expect_refused("PNG 4000x4000 zeros under 8 MiB", ms_image_read_limits(real, &small, &im, &err), &err, real,
                   "8.0 MiB");
    medsam_status st = ms_image_read_limits(real, &large, &im, &err);
    expect_ok("PNG 4000x4000 zeros under 32 MiB", st, &err);
    CHECK(st || (im.width == 4000 && im.height == 4000 && im.u8[4000 * 4000 - 1] == 0), "decoded 4000x4000");
    if (!st) ms_image_free(&im);
    // the same file with an IHDR claiming 30000 x 30000 (900 MB), CRC fixed
    size_t len;
    uint8_t *b = t_slurp(real, &len);
    put_be32(b + 16, 30000), put_be32(b + 20, 30000);
    put_be32(b + 29, (uint32_t)crc32(0, b + 12, 17));
    const char *lie = tmp_path("ihdr_30000.png");
    t_spit(lie, b, len);
    free(b);
    expect_refused("PNG IHDR 30000x30000 under 8 MiB", ms_image_read_limits(lie, &small, &im, &err), &err, lie,
                   "8.0 MiB");
    CHECK(strstr(err.message, "PNG 30000x30000x1") && strstr(err.message, "858.3 MiB"), "names the size: %s",
          err.message);
    // 16-bit grey: 2 bytes a sample, decoded in place
    st = ms_image_read_limits("tests/fixtures/preprocess/grey16_40x33.png", &large, &im, &err);
    expect_ok("PNG 16-bit grey 40x33 under 32 MiB", st, &err);
    if (!st) ms_image_free(&im);
}

/* ---- JPEG --------------------------------------------------------------- */
static void write_jpeg_mode(const char *path, int w, int h, int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h, c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    JSAMPLE *row = calloc((size_t)w, 1);
    while (c.next_scanline < c.image_height) jpeg_write_scanlines(&c, &row, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

static void write_jpeg(const char *path, int w, int h) { write_jpeg_mode(path, w, h, 0); }

static void test_jpeg(void) {
    medsam_error err;
    ms_image im;
    const char *real = tmp_path("zeros_4000.jpg");
    write_jpeg(real, 4000, 4000);
    ms_image_limits small = {.max_bytes = 8 * MB}, large = {.max_bytes = 32 * MB};
    expect_refused("JPEG 4000x4000 zeros under 8 MiB", ms_image_read_limits(real, &small, &im, &err), &err, real,
                   "8.0 MiB");
    medsam_status st = ms_image_read_limits(real, &large, &im, &err);
    expect_ok("JPEG 4000x4000 zeros under 32 MiB", st, &err);
    if (!st) ms_image_free(&im);
    // a SOF claiming 30000 x 30000 on a 16 x 16 file
    const char *lie = tmp_path("sof_30000.jpg");
    write_jpeg(lie, 16, 16);
    size_t len;
    uint8_t *b = t_slurp(lie, &len);
    for (size_t i = 2; i + 9 < len; i++)
        if (b[i] == 0xFF && b[i + 1] == 0xC0) {  // SOF0: FF C0 len(2) precision(1) height(2) width(2)
            b[i + 5] = 30000 >> 8, b[i + 6] = 30000 & 255, b[i + 7] = 30000 >> 8, b[i + 8] = 30000 & 255;
            break;
        }
    t_spit(lie, b, len);
    free(b);
    expect_refused("JPEG SOF 30000x30000 under 8 MiB", ms_image_read_limits(lie, &small, &im, &err), &err, lie,
                   "8.0 MiB");
    CHECK(strstr(err.message, "JPEG 30000x30000x1"), "names the size: %s", err.message);
    // progressive: libjpeg holds every coefficient (2 bytes a sample) besides the pixels; 2000^2 grey is
    // 4 MB of pixels + 8 MB of coefficients: over a 6 MiB budget, within 32 MiB
    const char *prog = tmp_path("progressive_2000.jpg");
    write_jpeg_mode(prog, 2000, 2000, 1);
    ms_image_limits six = {.max_bytes = 6 * MB};
    expect_refused("JPEG progressive 2000x2000 under 6 MiB", ms_image_read_limits(prog, &six, &im, &err), &err, prog,
                   "6.0 MiB");
    st = ms_image_read_limits(prog, &large, &im, &err);
    expect_ok("JPEG progressive 2000x2000 under 32 MiB", st, &err);
    if (!st) ms_image_free(&im);
}

/* ---- BMP and .npy images ------------------------------------------------ */
static void test_bmp_npy(void) {
    medsam_error err;
    ms_image im;
    ms_image_limits small = {.max_bytes = 8 * MB};
    uint8_t bmp[54 + 1024] = {'B', 'M'};
    bmp[10] = 54 + 1024 - 1024, bmp[14] = 40;  // data at 54 (a palette is not needed for the refusal)
    bmp[18] = 0x30, bmp[19] = 0x75;            // width 30000
    bmp[22] = 0x30, bmp[23] = 0x75;            // height 30000
    bmp[26] = 1, bmp[28] = 24;                 // planes, 24 bits
    const char *lie = tmp_path("huge.bmp");
    t_spit(lie, bmp, sizeof bmp);
    expect_refused("BMP header 30000x30000 under 8 MiB", ms_image_read_limits(lie, &small, &im, &err), &err, lie,
                   "8.0 MiB");
    // a .npy header claiming (30000, 30000) uint8 over 16 bytes of data
    char npy[256];
    const char *hdr = "{'descr': '|u1', 'fortran_order': False, 'shape': (30000, 30000), }";
    size_t hl = strlen(hdr), total = 10 + hl + 1;
    size_t pad = (64 - total % 64) % 64;
    memcpy(npy, "\x93NUMPY\x01\x00", 8);
    npy[8] = (char)(hl + 1 + pad), npy[9] = 0;
    memcpy(npy + 10, hdr, hl);
    memset(npy + 10 + hl, ' ', pad);
    npy[10 + hl + pad] = '\n';
    size_t n = 10 + hl + pad + 1;
    memset(npy + n, 7, 16);
    const char *npy_lie = tmp_path("lying.npy");
    t_spit(npy_lie, npy, n + 16);
    expect_refused(".npy image header (30000, 30000) under 8 MiB", ms_image_read_limits(npy_lie, &small, &im, &err),
                   &err, npy_lie, "8.0 MiB");
    ms_npy a;
    medsam_status st = ms_npy_read_budget(npy_lie, 8 * MB, &a, &err);
    expect_refused(".npy array header (30000, 30000) under 8 MiB", st, &err, npy_lie, "8.0 MiB");
    st = ms_npy_read_budget(npy_lie, 0, &a, &err);
    CHECK(st == MEDSAM_ERR_FORMAT && strstr(err.message, "truncated"), "without a budget the lie is truncated: %s",
          err.message);
}

/* ---- NIfTI (gzip) ------------------------------------------------------- */
static void test_nifti(void) {
    medsam_error err;
    ms_volume v;
    ms_volume_init(&v);
    CHECK(ms_volume_alloc(&v, 256, 256, 256, 1, MS_VOX_INT16, &err) == MEDSAM_OK, "alloc");
    memset(v.data, 0, (size_t)256 * 256 * 256 * 2);
    const char *real = tmp_path("zeros_256.nii.gz");
    CHECK(ms_nifti_write(real, &v, &err) == MEDSAM_OK, "write: %s", err.message);
    ms_volume_free(&v);
    expect_refused("NIfTI.gz 256^3 int16 zeros under 16 MiB", ms_nifti_read_budget(real, 16 * MB, &v, &err), &err,
                   real, "16.0 MiB");
    medsam_status st = ms_nifti_read_budget(real, 64 * MB, &v, &err);
    expect_ok("NIfTI.gz 256^3 int16 zeros under 64 MiB", st, &err);
    if (!st) ms_volume_free(&v);
    // the volume reader passes the budget on
    ms_volume_meta meta;
    expect_refused("volume reader, NIfTI.gz under 16 MiB", ms_volume_read_any_budget(real, 16 * MB, &v, &meta, &err),
                   &err, real, "16.0 MiB");
    // a gzip header claiming 1024^3 int16 (2 GiB) in a file of a few KB
    size_t len;
    uint8_t *gz = t_slurp(real, &len);
    uint8_t hdr[352];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    inflateInit2(&zs, 31);
    zs.next_in = gz, zs.avail_in = (uInt)len, zs.next_out = hdr, zs.avail_out = sizeof hdr;
    inflate(&zs, Z_SYNC_FLUSH);
    inflateEnd(&zs);
    free(gz);
    for (int d = 1; d <= 3; d++) hdr[40 + 2 * d] = 0, hdr[41 + 2 * d] = 4;  // dim[1..3] = 1024 (little endian)
    const char *lie = tmp_path("lying_1024.nii.gz");
    gzFile g = gzopen(lie, "wb");
    gzwrite(g, hdr, sizeof hdr);
    gzclose(g);
    expect_refused("NIfTI.gz header 1024^3 under 16 MiB", ms_nifti_read_budget(lie, 16 * MB, &v, &err), &err, lie,
                   "16.0 MiB");
    CHECK(strstr(err.message, "2.00 GiB (2147483648 bytes)"), "names the decoded size: %s", err.message);
    st = ms_nifti_read_budget(lie, 0, &v, &err);
    CHECK(st == MEDSAM_ERR_FORMAT, "without a budget the lie is truncated: %s", err.message);
}

/* ---- npz (deflated zip members) ---------------------------------------- */
static void test_npz(void) {
    medsam_error err;
    ms_npy a = {.dtype = MS_NPY_U8, .ndim = 3, .shape = {64, 512, 512}, .count = 64 * 512 * 512};
    a.data = calloc((size_t)a.count, 1);
    const char *names[1] = {"imgs"};
    const char *real = tmp_path("zeros.npz");
    CHECK(ms_npz_write(real, names, &a, 1, 1, &err) == MEDSAM_OK, "write: %s", err.message);
    free(a.data);
    ms_npz *z = NULL;
    ms_npy got;
    CHECK(ms_npz_open_budget(real, 8 * MB, &z, &err) == MEDSAM_OK, "open: %s", err.message);
    if (z) {
        expect_refused("npz member 16 MiB (deflated) under 8 MiB", ms_npz_get(z, "imgs", &got, &err), &err, real,
                       "8.0 MiB");
        ms_npz_close(z);
    }
    CHECK(ms_npz_open_budget(real, 32 * MB, &z, &err) == MEDSAM_OK, "open: %s", err.message);
    if (z) {
        medsam_status st = ms_npz_get(z, "imgs", &got, &err);
        expect_ok("npz member 16 MiB (deflated) under 32 MiB", st, &err);
        CHECK(st || (got.count == 64 * 512 * 512 && ((uint8_t *)got.data)[got.count - 1] == 0), "member read");
        if (!st) ms_npy_free(&got);
        ms_npz_close(z);
    }
    ms_volume v;
    ms_volume_meta meta;
    expect_refused("volume reader, npz under 8 MiB", ms_volume_read_any_budget(real, 8 * MB, &v, &meta, &err), &err,
                   real, "8.0 MiB");
}

/* ---- DICOM (deflated data set) ------------------------------------------ */
static size_t el16(uint8_t *p, uint16_t g, uint16_t e, const char *vr, const void *val, uint16_t n) {
    p[0] = (uint8_t)g, p[1] = (uint8_t)(g >> 8), p[2] = (uint8_t)e, p[3] = (uint8_t)(e >> 8);
    memcpy(p + 4, vr, 2);
    p[6] = (uint8_t)n, p[7] = (uint8_t)(n >> 8);
    memcpy(p + 8, val, n);
    return 8 + (size_t)n;
}

static void write_deflated_dicom(const char *path, int rows, int cols) {
    size_t pix = (size_t)rows * cols * 2;
    uint8_t *ds = calloc(pix + 512, 1);
    size_t n = 0;
    uint16_t one = 1, sixteen = 16, fifteen = 15, zero = 0, r = (uint16_t)rows, c = (uint16_t)cols;
    n += el16(ds + n, 0x0008, 0x0060, "CS", "CT", 2);
    n += el16(ds + n, 0x0028, 0x0002, "US", &one, 2);
    n += el16(ds + n, 0x0028, 0x0004, "CS", "MONOCHROME2 ", 12);
    n += el16(ds + n, 0x0028, 0x0010, "US", &r, 2);
    n += el16(ds + n, 0x0028, 0x0011, "US", &c, 2);
    n += el16(ds + n, 0x0028, 0x0100, "US", &sixteen, 2);
    n += el16(ds + n, 0x0028, 0x0101, "US", &sixteen, 2);
    n += el16(ds + n, 0x0028, 0x0102, "US", &fifteen, 2);
    n += el16(ds + n, 0x0028, 0x0103, "US", &zero, 2);
    uint8_t pd[12] = {0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0};
    pd[8] = (uint8_t)pix, pd[9] = (uint8_t)(pix >> 8), pd[10] = (uint8_t)(pix >> 16), pd[11] = (uint8_t)(pix >> 24);
    memcpy(ds + n, pd, 12);
    n += 12 + pix;  // zeros
    uLong cap = compressBound((uLong)n);
    uint8_t *def = malloc(cap);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);  // raw deflate (PS3.5 A.5)
    zs.next_in = ds, zs.avail_in = (uInt)n, zs.next_out = def, zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    size_t dn = cap - zs.avail_out;
    deflateEnd(&zs);
    uint8_t head[256] = {0};
    memcpy(head + 128, "DICM", 4);
    size_t h = 132;
    const char *ts = "1.2.840.10008.1.2.1.99";
    h += el16(head + h, 0x0002, 0x0010, "UI", ts, (uint16_t)(strlen(ts) + 1));  // with its NUL pad (odd length)
    FILE *f = fopen(path, "wb");
    fwrite(head, 1, h, f);
    fwrite(def, 1, dn, f);
    fclose(f);
    free(ds), free(def);
}

static void test_dicom(void) {
    medsam_error err;
    ms_volume v;
    ms_dicom_meta meta;
    const char *real = tmp_path("deflated_4096.dcm");
    write_deflated_dicom(real, 4096, 4096);  // 32 MiB of pixels in a file of ~32 KB
    expect_refused("DICOM deflated 4096^2 under 8 MiB", ms_dicom_read_budget(real, 8 * MB, &v, &meta, &err), &err,
                   real, "memory budget");
    medsam_status st = ms_dicom_read_budget(real, 64 * MB, &v, &meta, &err);
    expect_ok("DICOM deflated 4096^2 under 64 MiB", st, &err);
    CHECK(st || (v.nx == 4096 && v.ny == 4096 && v.nz == 1), "decoded 4096x4096");
    if (!st) ms_volume_free(&v);
    const char *small = tmp_path("deflated_512.dcm");
    write_deflated_dicom(small, 512, 512);  // 512 KiB: inflates within 8 MiB, the volume does not fit 256 KiB
    expect_refused("DICOM 512^2 volume under 256 KiB", ms_dicom_read_budget(small, 256 << 10, &v, &meta, &err), &err,
                   small, "256.0 KiB");
}

static void test_parse(void) {
    medsam_error err;
    long long b = 0;
    CHECK(medsam_memory_parse("8G", &b, &err) == MEDSAM_OK && b == 8LL << 30, "8G");
    CHECK(medsam_memory_parse("512M", &b, &err) == MEDSAM_OK && b == 512LL << 20, "512M");
    CHECK(medsam_memory_parse("1.5GiB", &b, &err) == MEDSAM_OK && b == 3LL << 29, "1.5GiB");
    CHECK(medsam_memory_parse("300000", &b, &err) == MEDSAM_OK && b == 300000, "bytes");
    CHECK(medsam_memory_parse("8X", &b, &err) == MEDSAM_ERR_ARG, "unit refused");
    CHECK(medsam_memory_parse("-1G", &b, &err) == MEDSAM_ERR_ARG, "negative refused");
    CHECK(medsam_memory_parse("", &b, &err) == MEDSAM_ERR_ARG, "empty refused");
    long long d = medsam_memory_default();
    CHECK(d >= (256LL << 20), "default %lld >= 256 MiB", d);
    medsam_budget none = {0}, some = {123456};
    CHECK(ms_budget_resolve(NULL) > 0 && ms_budget_resolve(&none) > 0 && ms_budget_resolve(&some) == 123456,
          "resolve");
    CHECK(ms_budget_check(100, 101, "x", &err) == MEDSAM_ERR_NOMEM && ms_budget_check(100, 100, "x", &err) == 0 &&
              ms_budget_check(0, UINT64_MAX, "x", &err) == 0,
          "check edges");
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/medsam_test_memory_XXXXXX");
    if (!mkdtemp(g_tmp)) return printf("cannot make a scratch folder\n0 passed, 1 failed\n"), 1;
    test_parse();
    test_png();
    test_jpeg();
    test_bmp_npy();
    test_nifti();
    test_npz();
    test_dicom();
    t_rmtree(g_tmp);
    return t_summary();
}
