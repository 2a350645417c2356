/* test_dicom_codecs.c — compressed DICOM pixel data (RLE, JPEG baseline,
 * JPEG lossless process 14, JPEG-LS, JPEG 2000) and the photometric steps
 * against pydicom: tests/fixtures/dicom/codecs.txt (made by
 * tools/ref/make_dicom_codec_fixtures.py with pydicom 2.3's handlers: its RLE
 * handler, Pillow, GDCM) holds the CRC-32 and sum of every decoded frame of
 * pydicom's own test files (MS_PYDICOM_DATA, default Debian's
 * python3-pydicom; skipped with a note when absent). Exact: every sample.
 * Then the lossless twins (MR_small.dcm and its RLE / JPEG 2000 / JPEG-LS
 * copies) decode to identical volumes; and hand-made encapsulated data: lying
 * Basic / Extended Offset Tables, truncated items, frame count mismatches, a
 * JPEG 2000 header claiming a huge image, RLE segments that run short — each
 * refused with a one-line error, and every truncation of a compressed file
 * refused or decoded without a crash. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <zlib.h>

#include "core/error.h"
#include "io/dicom.h"
#include "io/dicom_codec.h"
#include "test.h"

#define PYDICOM_DEFAULT "/usr/lib/python3/dist-packages/pydicom/data/test_files"

static const char *g_dir;

/* Decodes every frame of a parsed file into one buffer. */
static uint8_t *decode_all(const ms_dicom_file *f, size_t *bytes, medsam_error *err) {
    size_t fb = (size_t)f->rows * f->columns * (size_t)f->samples_per_pixel *
                (size_t)ms_voxel_type_size(ms_dicom_file_voxel_type(f));
    uint8_t *out = malloc(fb * (size_t)f->nframes);
    for (int k = 0; out && k < f->nframes; k++)
        if (ms_dicom_decode_frame(f, k, out + fb * (size_t)k, err) != MEDSAM_OK) {
            free(out);
            return NULL;
        }
    *bytes = fb * (size_t)f->nframes;
    return out;
}

static double sum_samples(const uint8_t *b, size_t bytes, const char *dtype) {
    double s = 0;
    if (!strcmp(dtype, "uint8")) for (size_t i = 0; i < bytes; i++) s += b[i];
    else if (!strcmp(dtype, "int8")) for (size_t i = 0; i < bytes; i++) s += (int8_t)b[i];
    else if (!strcmp(dtype, "uint16")) for (size_t i = 0; i < bytes / 2; i++) s += ((const uint16_t *)b)[i];
    else if (!strcmp(dtype, "int16")) for (size_t i = 0; i < bytes / 2; i++) s += ((const int16_t *)b)[i];
    else if (!strcmp(dtype, "uint32")) for (size_t i = 0; i < bytes / 4; i++) s += ((const uint32_t *)b)[i];
    else for (size_t i = 0; i < bytes / 4; i++) s += ((const int32_t *)b)[i];
    return s;
}

static void test_pydicom_files(void) {
    FILE *fp = fopen("tests/fixtures/dicom/codecs.txt", "r");
    CHECK(fp != NULL, "codecs.txt missing");
    if (!fp) return;
    char line[1024];
    int ran = 0, skipped = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char name[200], syntax[80], w3[40] = "", dtype[16] = "", handler[40] = "";
        int nf = 0, rows = 0, cols = 0, spp = 0;
        unsigned long crc = 0;
        double sum = 0;
        int got = sscanf(line, "%199s %79s %39s %d %d %d %15s %lu %lf %39s", name, syntax, w3, &rows, &cols, &spp, dtype,
                         &crc, &sum, handler);
        char path[512];
        if (!strncmp(name, "fixtures/", 9)) snprintf(path, sizeof path, "tests/fixtures/dicom/codecs/%s", name + 9);
        else snprintf(path, sizeof path, "%s/%s", g_dir, name);
        size_t len;
        uint8_t *buf = t_slurp(path, &len);
        CHECK(buf || strncmp(name, "fixtures/", 9), "%s: committed fixture missing", name);
        if (!buf) {
            skipped++;
            continue;
        }
        ms_dicom_file f;
        medsam_error err = {0};
        medsam_status st = ms_dicom_parse(buf, len, &f, &err);
        if (!strcmp(w3, "refused")) {
            size_t n = 0;
            uint8_t *px = st == MEDSAM_OK ? decode_all(&f, &n, &err) : NULL;
            for (char *u = strchr(line, '_'); u; u = strchr(u, '_')) *u = ' '; /* the reason, spaces as _ */
            const char *why = strstr(line, "refused ") + 8;
            char reason[200];
            snprintf(reason, sizeof reason, "%s", why);
            reason[strcspn(reason, "\n")] = 0;
            CHECK(!px && err.code != MEDSAM_OK && strstr(err.message, reason),
                  "%s: want refusal naming '%s', got %d '%s'", name, reason, err.code, err.message);
            if (!px) printf("ok   %-44s refused: %s\n", name, err.message);
            free(px);
            if (st == MEDSAM_OK) ms_dicom_file_free(&f);
            free(buf);
            ran++;
            continue;
        }
        nf = atoi(w3);
        CHECK(got == 10 && st == MEDSAM_OK, "%s: parse: %s", name, err.message);
        if (st == MEDSAM_OK) {
            CHECK(f.nframes == nf && f.rows == rows && f.columns == cols && f.samples_per_pixel == spp,
                  "%s: %d frames %dx%dx%d, want %d %dx%dx%d", name, f.nframes, f.rows, f.columns, f.samples_per_pixel, nf,
                  rows, cols, spp);
            size_t n = 0;
            uint8_t *px = decode_all(&f, &n, &err);
            CHECK(px != NULL, "%s: decode: %s", name, err.message);
            if (px) {
                unsigned long c = crc32(0L, px, (uInt)n);
                double s = sum_samples(px, n, dtype);
                CHECK(c == crc && s == sum, "%s (%s, reference by %s): crc %lu sum %.0f, pydicom crc %lu sum %.0f", name,
                      syntax, handler, c, s, crc, sum);
                if (c == crc) printf("ok   %-44s %s, %d frame(s), identical to pydicom (%s)\n", name, syntax, nf, handler);
            }
            free(px);
            ms_dicom_file_free(&f);
        }
        free(buf);
        ran++;
    }
    fclose(fp);
    printf("pydicom files: %d checked, %d not present (skipped)\n", ran, skipped);
}

/* MR_small.dcm and its lossless copies read as identical volumes. */
static void test_lossless_twins(void) {
    static const char *twins[] = {"MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "MR_small_jpeg_lossless.dcm" /* committed: tests/fixtures/dicom/codecs */};
    char path[512];
    snprintf(path, sizeof path, "%s/MR_small.dcm", g_dir);
    ms_volume a, b;
    medsam_error err;
    if (ms_dicom_read(path, &a, NULL, &err) != MEDSAM_OK) {
        printf("skip: lossless twins (%s)\n", err.message);
        return;
    }
    for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++) {
        if (i == 3) snprintf(path, sizeof path, "tests/fixtures/dicom/codecs/%s", twins[i]);
        else snprintf(path, sizeof path, "%s/%s", g_dir, twins[i]);
        medsam_status st = ms_dicom_read(path, &b, NULL, &err);
        CHECK(st == MEDSAM_OK, "%s: %s", twins[i], err.message);
        if (st != MEDSAM_OK) continue;
        size_t bytes = (size_t)a.nx * a.ny * a.nz * (size_t)ms_voxel_type_size(a.datatype);
        CHECK(b.nx == a.nx && b.ny == a.ny && b.nz == a.nz && b.datatype == a.datatype && !memcmp(a.data, b.data, bytes) &&
                  !memcmp(a.srow, b.srow, sizeof a.srow) && a.scl_slope == b.scl_slope,
              "%s differs from MR_small.dcm", twins[i]);
        ms_volume_free(&b);
    }
    ms_volume_free(&a);
}

/* An enhanced multi-frame file (functional groups, frames out of spatial
 * order) compressed with RLE and JPEG lossless reads as the same volume. */
static void test_multiframe_twins(void) {
    ms_volume a, b;
    medsam_error err;
    if (ms_dicom_read("tests/fixtures/dicom/be_multiframe.dcm", &a, NULL, &err) != MEDSAM_OK) {
        CHECK(0, "be_multiframe.dcm: %s", err.message);
        return;
    }
    static const char *twins[] = {"be_multiframe_rle.dcm", "be_multiframe_jpll.dcm"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/dicom/codecs/%s", twins[i]);
        medsam_status st = ms_dicom_read(path, &b, NULL, &err);
        CHECK(st == MEDSAM_OK, "%s: %s", twins[i], err.message);
        if (st != MEDSAM_OK) continue;
        size_t bytes = (size_t)a.nx * a.ny * a.nz * (size_t)ms_voxel_type_size(a.datatype);
        CHECK(b.nz == a.nz && b.datatype == a.datatype && !memcmp(a.data, b.data, bytes) && !memcmp(a.srow, b.srow, sizeof a.srow) &&
                  a.scl_slope == b.scl_slope && a.scl_inter == b.scl_inter,
              "%s: volume or geometry differs from be_multiframe.dcm", twins[i]);
        ms_volume_free(&b);
    }
    ms_volume_free(&a);
    /* 24 RLE frames ~15x smaller than decoded, stored out of spatial order: sorted along the normal */
    ms_dicom_meta m;
    medsam_status st = ms_dicom_read("tests/fixtures/dicom/codecs/enhanced_ct_rle.dcm", &a, &m, &err);
    CHECK(st == MEDSAM_OK, "enhanced_ct_rle.dcm: %s", err.message);
    if (st == MEDSAM_OK) {
        CHECK(a.nz == 24 && m.has_geometry && !m.uneven_spacing && a.srow[2][2] == 2 && a.srow[2][3] == 0 &&
                  a.srow[0][0] == -0.5 && a.srow[1][1] == -0.5,
              "enhanced_ct_rle.dcm: geometry (nz %d, z step %g, offset %g)", a.nz, a.srow[2][2], a.srow[2][3]);
        ms_volume_free(&a);
    }
}

/* A series folder mixing RLE, JPEG lossless and native files (two passes:
 * headers, then each file parsed again and decoded) reads as the native one. */
static void test_mixed_series(void) {
    ms_volume a, b;
    ms_dicom_meta ma, mb;
    medsam_error err;
    medsam_status sa = ms_dicom_read("tests/fixtures/dicom/ct_series", &a, &ma, &err);
    CHECK(sa == MEDSAM_OK, "ct_series: %s", err.message);
    medsam_status sb = ms_dicom_read("tests/fixtures/dicom/codecs/ct_series_mixed", &b, &mb, &err);
    CHECK(sb == MEDSAM_OK, "ct_series_mixed: %s", err.message);
    if (sa == MEDSAM_OK && sb == MEDSAM_OK) {
        size_t bytes = (size_t)a.nx * a.ny * a.nz * (size_t)ms_voxel_type_size(a.datatype);
        CHECK(b.nz == a.nz && b.datatype == a.datatype && !memcmp(a.data, b.data, bytes) &&
                  !memcmp(a.srow, b.srow, sizeof a.srow) && a.scl_slope == b.scl_slope && a.scl_inter == b.scl_inter &&
                  mb.nfiles == ma.nfiles && mb.nskipped == ma.nskipped,
              "ct_series_mixed differs from ct_series");
    }
    if (sa == MEDSAM_OK) ms_volume_free(&a);
    if (sb == MEDSAM_OK) ms_volume_free(&b);
}

/* ---- hand-made encapsulated files ---- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf_t;

static void put(buf_t *o, const void *p, size_t n) {
    if (o->n + n > o->cap) o->b = realloc(o->b, o->cap = (o->n + n) * 2 + 256);
    if (n) memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put16(buf_t *o, unsigned v) { uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; put(o, x, 2); }
static void put32(buf_t *o, uint32_t v) { put16(o, v & 0xFFFF), put16(o, v >> 16); }
static void elem(buf_t *o, unsigned g, unsigned e, const char *vr, const void *v, size_t n) {
    put16(o, g), put16(o, e), put(o, vr, 2);
    put16(o, (unsigned)n), put(o, v, n);
}
static void elem_us(buf_t *o, unsigned g, unsigned e, unsigned v) { uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; elem(o, g, e, "US", x, 2); }

/* A Part 10 file: `syntax`, rows x cols, 8 or 16 bits, nframes, then the
 * given encapsulated bytes (items) after the Pixel Data header. */
static const uint8_t *g_eot; /* an Extended Offset Table to put before Pixel Data (OV), or NULL */
static size_t g_eot_n;

static buf_t make_file(const char *syntax, int rows, int cols, int bits, int nframes, const uint8_t *items, size_t n) {
    buf_t o = {0};
    uint8_t pre[128] = {0};
    put(&o, pre, 128), put(&o, "DICM", 4);
    char ts[64];
    size_t tl = strlen(syntax);
    memcpy(ts, syntax, tl);
    if (tl & 1) ts[tl++] = 0;
    elem(&o, 2, 0x10, "UI", ts, tl);
    elem(&o, 8, 0x60, "CS", "OT", 2);
    elem_us(&o, 0x28, 2, 1);
    elem(&o, 0x28, 4, "CS", "MONOCHROME2 ", 12);
    char nf[16];
    int l = snprintf(nf, sizeof nf, "%d", nframes);
    if (l & 1) nf[l++] = ' ';
    elem(&o, 0x28, 8, "IS", nf, (size_t)l);
    elem_us(&o, 0x28, 0x10, (unsigned)rows), elem_us(&o, 0x28, 0x11, (unsigned)cols);
    elem_us(&o, 0x28, 0x100, (unsigned)bits), elem_us(&o, 0x28, 0x101, (unsigned)bits);
    elem_us(&o, 0x28, 0x102, (unsigned)bits - 1), elem_us(&o, 0x28, 0x103, 0);
    if (g_eot) put16(&o, 0x7FE0), put16(&o, 0x1), put(&o, "OV\0\0", 4), put32(&o, (uint32_t)g_eot_n), put(&o, g_eot, g_eot_n);
    put16(&o, 0x7FE0), put16(&o, 0x10), put(&o, "OB\0\0", 4), put32(&o, 0xFFFFFFFFu);
    put(&o, items, n);
    return o;
}

static void item(buf_t *o, const void *p, uint32_t n) { put16(o, 0xFFFE), put16(o, 0xE000), put32(o, n), put(o, p, n); }
static void seq_end(buf_t *o) { put16(o, 0xFFFE), put16(o, 0xE0DD), put32(o, 0); }

/* RLE frame of a 2x2 8-bit image with values v..v+3. */
static buf_t rle_frame(int v) {
    buf_t f = {0};
    put32(&f, 1), put32(&f, 64);
    for (int i = 0; i < 14; i++) put32(&f, 0);
    uint8_t seg[6] = {3, (uint8_t)v, (uint8_t)(v + 1), (uint8_t)(v + 2), (uint8_t)(v + 3), 0};
    put(&f, seg, 6);
    return f;
}

static medsam_status read_mem(const buf_t *o, ms_volume *v, medsam_error *err) {
    return ms_dicom_read_mem(o->b, o->n, "made.dcm", v, NULL, err);
}

static void expect_refused(const char *what, buf_t *o, const char *needle) {
    ms_volume v;
    medsam_error err = {0};
    medsam_status st = read_mem(o, &v, &err);
    CHECK(st != MEDSAM_OK && strstr(err.message, needle) && !strchr(err.message, '\n'),
          "%s: want an error with '%s', got %d '%s'", what, needle, st, err.message);
    if (st == MEDSAM_OK) ms_volume_free(&v);
    free(o->b);
}

static void test_made_files(void) {
    const char *RLE = "1.2.840.10008.1.2.5";
    buf_t f0 = rle_frame(10), f1 = rle_frame(50);
    /* two frames, Basic Offset Table right: decoded */
    {
        buf_t it = {0}, bot = {0};
        put32(&bot, 0), put32(&bot, (uint32_t)(8 + f0.n));
        item(&it, bot.b, (uint32_t)bot.n), item(&it, f0.b, (uint32_t)f0.n), item(&it, f1.b, (uint32_t)f1.n), seq_end(&it);
        buf_t o = make_file(RLE, 2, 2, 8, 2, it.b, it.n);
        ms_volume v;
        medsam_error err;
        medsam_status st = read_mem(&o, &v, &err);
        CHECK(st == MEDSAM_OK, "RLE with BOT: %s", st ? err.message : "");
        if (!st) {
            const uint8_t *d = v.data;
            CHECK(v.nz == 2 && d[0] == 10 && d[3] == 13 && d[4] == 50 && d[7] == 53, "RLE with BOT: wrong samples");
            ms_volume_free(&v);
        }
        free(o.b);
        /* lying BOT: the second offset points inside a fragment */
        ((uint8_t *)bot.b)[4] ^= 2;
        buf_t it2 = {0};
        item(&it2, bot.b, (uint32_t)bot.n), item(&it2, f0.b, (uint32_t)f0.n), item(&it2, f1.b, (uint32_t)f1.n), seq_end(&it2);
        o = make_file(RLE, 2, 2, 8, 2, it2.b, it2.n);
        expect_refused("lying BOT", &o, "does not start a fragment");
        /* BOT with 3 entries for 2 frames */
        put32(&bot, 0);
        buf_t it3 = {0};
        item(&it3, bot.b, (uint32_t)bot.n), item(&it3, f0.b, (uint32_t)f0.n), item(&it3, f1.b, (uint32_t)f1.n), seq_end(&it3);
        o = make_file(RLE, 2, 2, 8, 2, it3.b, it3.n);
        expect_refused("BOT count", &o, "Basic Offset Table of 12 bytes for 2 frames");
        free(it.b), free(bot.b), free(it2.b), free(it3.b);
    }
    /* Extended Offset Table (empty BOT): frame 2 split over two fragments; then a lying one */
    {
        buf_t it = {0}, eot = {0};
        size_t half = f1.n / 2 & ~(size_t)1;
        item(&it, NULL, 0), item(&it, f0.b, (uint32_t)f0.n), item(&it, f1.b, (uint32_t)half);
        item(&it, f1.b + half, (uint32_t)(f1.n - half)), seq_end(&it);
        put32(&eot, 0), put32(&eot, 0), put32(&eot, (uint32_t)(8 + f0.n)), put32(&eot, 0);
        g_eot = eot.b, g_eot_n = eot.n;
        buf_t o = make_file(RLE, 2, 2, 8, 2, it.b, it.n);
        ms_volume v;
        medsam_error err;
        medsam_status st = read_mem(&o, &v, &err);
        CHECK(st == MEDSAM_OK, "RLE with EOT: %s", st ? err.message : "");
        if (!st) {
            const uint8_t *d = v.data;
            CHECK(v.nz == 2 && d[0] == 10 && d[4] == 50 && d[7] == 53, "RLE with EOT: wrong samples");
            ms_volume_free(&v);
        }
        free(o.b);
        eot.b[8] ^= 4; /* points past the second fragment's start */
        o = make_file(RLE, 2, 2, 8, 2, it.b, it.n);
        expect_refused("lying EOT", &o, "Extended Offset Table: frame 2's offset");
        g_eot = NULL, g_eot_n = 0;
        free(it.b), free(eot.b);
    }
    /* no BOT, 2 fragments for 3 frames */
    {
        buf_t it = {0};
        item(&it, NULL, 0), item(&it, f0.b, (uint32_t)f0.n), item(&it, f1.b, (uint32_t)f1.n), seq_end(&it);
        buf_t o = make_file(RLE, 2, 2, 8, 3, it.b, it.n);
        expect_refused("frame count", &o, "2 fragment(s) for 3 frames");
        /* truncated: the second fragment claims more than is left */
        buf_t t = {0};
        item(&t, NULL, 0), item(&t, f0.b, (uint32_t)f0.n);
        put16(&t, 0xFFFE), put16(&t, 0xE000), put32(&t, 1000), put(&t, f1.b, f1.n);
        o = make_file(RLE, 2, 2, 8, 2, t.b, t.n);
        expect_refused("truncated item", &o, "runs past the end");
        free(it.b), free(t.b);
    }
    /* RLE segment that decodes short, and a segment count that lies */
    {
        buf_t bad = rle_frame(10);
        static const uint8_t two[6] = {1, 10, 11, 128, 128, 128}; /* 2 literal bytes, then no-ops */
        memcpy(bad.b + 64, two, 6);
        buf_t it = {0};
        item(&it, NULL, 0), item(&it, bad.b, (uint32_t)bad.n), seq_end(&it);
        buf_t o = make_file(RLE, 2, 2, 8, 1, it.b, it.n);
        expect_refused("short RLE segment", &o, "decodes to fewer than 4 bytes");
        bad.b[64] = 3, bad.b[65] = 10, bad.b[66] = 11, bad.b[67] = 12, bad.b[68] = 13, bad.b[0] = 3;
        buf_t it2 = {0};
        item(&it2, NULL, 0), item(&it2, bad.b, (uint32_t)bad.n), seq_end(&it2);
        o = make_file(RLE, 2, 2, 8, 1, it2.b, it2.n);
        expect_refused("RLE segment count", &o, "3 segments");
        free(bad.b), free(it.b), free(it2.b);
    }
    /* JPEG 2000 header claiming 2000 x 2000 (MR_small's codestream, SIZ patched): refused before decoding */
    {
        char path[512];
        snprintf(path, sizeof path, "%s/MR_small_jp2klossless.dcm", g_dir);
        size_t len;
        uint8_t *b = t_slurp(path, &len);
        size_t at = 0;
        while (b && at + 16 < len && memcmp(b + at, "\xFF\x4F\xFF\x51", 4)) at++;
        if (b && at + 16 < len) {
            static const uint8_t big[8] = {0, 0, 0x07, 0xD0, 0, 0, 0x07, 0xD0}; /* 2000 x 2000 */
            memcpy(b + at + 8, big, 8);
            ms_volume v;
            medsam_error err = {0};
            medsam_status st = ms_dicom_read_mem(b, len, "huge.dcm", &v, NULL, &err);
            CHECK(st != MEDSAM_OK && strstr(err.message, "header says 2000x2000"), "huge JPEG 2000 header: %d '%s'", st,
                  err.message);
            if (st == MEDSAM_OK) ms_volume_free(&v);
        }
        free(b);
    }
    /* Pixel Data with a defined length in a compressed syntax */
    {
        buf_t o = make_file(RLE, 2, 2, 8, 1, NULL, 0);
        o.n -= 4;
        put32(&o, 4), put32(&o, 0);
        expect_refused("native data in RLE syntax", &o, "not encapsulated");
    }
    free(f0.b), free(f1.b);
}

/* Every truncation of a compressed file: refused with one line, or decoded
 * (no crash, no leak: run under ASan by make asan-test). */
static void test_truncations(void) {
    static const char *files[] = {"MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_jpeg_dcmtk.dcm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
        size_t len;
        uint8_t *b = t_slurp(path, &len);
        if (!b) continue;
        int bad = 0, n = 0;
        size_t step = len / 97 + 1;
        for (size_t cut = 0; cut < len; cut += step, n++) {
            ms_volume v;
            medsam_error err = {0};
            if (ms_dicom_read_mem(b, cut, files[i], &v, NULL, &err) == MEDSAM_OK) ms_volume_free(&v);
            else if (!err.message[0] || strchr(err.message, '\n')) bad++;
        }
        CHECK(!bad, "%s: %d of %d truncations gave no one-line error", files[i], bad, n);
        free(b);
    }
}

/* MONOCHROME1 reads as its MONOCHROME2 twin holding (min + max) - v, rescale included. */
static void test_monochrome1(void) {
    static const char *pairs[][2] = {{"monochrome1_u12.dcm", "monochrome2_u12.dcm"}, {"monochrome1_s10.dcm", "monochrome2_s10.dcm"}};
    for (int i = 0; i < 2; i++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "tests/fixtures/dicom/codecs/%s", pairs[i][0]);
        snprintf(b, sizeof b, "tests/fixtures/dicom/codecs/%s", pairs[i][1]);
        ms_volume va, vb;
        ms_dicom_meta ma;
        medsam_error err;
        medsam_status sa = ms_dicom_read(a, &va, &ma, &err), sb = ms_dicom_read(b, &vb, NULL, &err);
        CHECK(sa == MEDSAM_OK && sb == MEDSAM_OK, "%s: %s", pairs[i][0], err.message);
        if (sa == MEDSAM_OK && sb == MEDSAM_OK) {
            size_t n = (size_t)va.nx * va.ny * (size_t)ms_voxel_type_size(va.datatype);
            CHECK(va.datatype == vb.datatype && !memcmp(va.data, vb.data, n) && va.scl_slope == vb.scl_slope &&
                      va.scl_inter == vb.scl_inter && !strcmp(ma.photometric, "MONOCHROME1"),
                  "%s is not its inverted MONOCHROME2 twin", pairs[i][0]);
        }
        if (sa == MEDSAM_OK) ms_volume_free(&va);
        if (sb == MEDSAM_OK) ms_volume_free(&vb);
    }
}

int main(void) {
    g_dir = getenv("MS_PYDICOM_DATA") ? getenv("MS_PYDICOM_DATA") : PYDICOM_DEFAULT;
    test_made_files();
    test_monochrome1();
    test_multiframe_twins();
    test_mixed_series();
    test_pydicom_files(); /* the committed fixtures always; pydicom's files when present */
    struct stat sb;
    if (stat(g_dir, &sb) != 0) {
        printf("skip: pydicom test files not found at %s (python3-pydicom)\n", g_dir);
    } else {
        test_lossless_twins();
        test_truncations();
    }
    return t_summary();
}
