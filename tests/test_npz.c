/* test_npz.c — .npz reading against numpy-made fixtures (np.savez and
 * np.savez_compressed, tests/fixtures/npz/, recorded by
 * tools/ref/make_volume_fixtures.py: dtype, shape and a CRC-32 of every
 * array's bytes, all compared exactly), members that must be refused, our
 * writer (stored, deflated, and deflated ZIP64 through the shared zip writer)
 * read back exactly, and malformed archives.
 *
 * MS_VOLUME_KEEP_DIR=DIR keeps the written .npz files for
 * `make_volume_fixtures.py --check DIR` (numpy loads them back). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/npz.h"
#include "test.h"
#include "weights/zip.h"

#define FIX_DIR "tests/fixtures/npz"

static char g_tmp[512];

static const char *dtype_code(ms_npy_dtype t) {
    static const char *names[] = {"f32", "f64", "u8", "i16", "u16", "i32", "i64", "bool", "u32"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static int dtype_size(ms_npy_dtype t) {
    static const int sizes[] = {4, 8, 1, 2, 2, 4, 8, 1, 4};
    return sizes[t];
}

static unsigned long crc_of(const void *p, size_t n) { return crc32(crc32(0L, Z_NULL, 0), p, (uInt)n); }

static int one_line(const char *s) { return s[0] && !strchr(s, '\n'); }

/* ---- the numpy fixtures ---- */

static void test_fixtures(void) {
    FILE *f = fopen(FIX_DIR "/npz_expected.txt", "r");
    CHECK(f != NULL, "cannot read npz_expected.txt");
    if (!f) return;
    char line[1024];
    int arrays = 0, refused = 0;
    while (fgets(line, sizeof line, f)) {
        char file[128], name[128], dt[16];
        int ndim = 0, used = 0;
        char path[300];
        if (sscanf(line, "array %127s %127s %15s %d%n", file, name, dt, &ndim, &used) == 4) {
            int64_t shape[8] = {0};
            const char *p = line + used;
            for (int i = 0; i < ndim && i < 8; i++) {
                long long v;
                int k;
                sscanf(p, "%lld%n", &v, &k);
                shape[i] = v, p += k;
            }
            unsigned long crc = strtoul(strstr(p, "crc32") + 5, NULL, 10);
            snprintf(path, sizeof path, FIX_DIR "/%s", file);
            ms_npz *z = NULL;
            ms_npy a;
            medsam_error err = {0};
            medsam_status st = ms_npz_open(path, &z, &err);
            if (!st) st = ms_npz_get(z, name, &a, &err);
            CHECK(st == MEDSAM_OK, "%s:%s: %s", file, name, err.message);
            if (!st) {
                int same_shape = a.ndim == ndim;
                for (int i = 0; i < ndim && same_shape; i++) same_shape = a.shape[i] == shape[i];
                size_t bytes = (size_t)a.count * (size_t)dtype_size(a.dtype);
                CHECK(strcmp(dtype_code(a.dtype), dt) == 0 && same_shape && crc_of(a.data, bytes) == crc,
                      "%s:%s: dtype %s (want %s), ndim %d (want %d), crc %lu (want %lu)", file, name,
                      dtype_code(a.dtype), dt, a.ndim, ndim, crc_of(a.data, bytes), crc);
                ms_npy_free(&a);
                arrays++;
            }
            ms_npz_close(z);
        } else if (sscanf(line, "refuse %127s %127s", file, name) == 2) {
            snprintf(path, sizeof path, FIX_DIR "/%s", file);
            ms_npz *z = NULL;
            ms_npy a;
            medsam_error err = {0};
            medsam_status st = ms_npz_open(path, &z, &err);
            CHECK(st == MEDSAM_OK, "%s: %s", file, err.message);
            if (st) continue;
            st = ms_npz_get(z, name, &a, &err);
            char want[700];
            snprintf(want, sizeof want, "%s: array '%s': ", path, name);
            CHECK(st == MEDSAM_ERR_UNSUPPORTED && one_line(err.message) && strncmp(err.message, want, strlen(want)) == 0,
                  "%s:%s: status %d: %s", file, name, st, err.message);
            printf("ok   refused: %s\n", err.message);
            refused++;
            ms_npz_close(z);
        }
    }
    fclose(f);
    printf("ok   %d numpy arrays read exactly, %d members refused\n", arrays, refused);
    CHECK(arrays == 25 && refused == 2, "fixture count %d %d", arrays, refused);

    /* listing and lookup */
    ms_npz *z = NULL;
    medsam_error err;
    CHECK(ms_npz_open(FIX_DIR "/compressed.npz", &z, &err) == MEDSAM_OK, "open: %s", err.message);
    if (!z) return;
    CHECK(ms_npz_count(z) == 12 && strcmp(ms_npz_name(z, 0), "imgs") == 0 && strcmp(ms_npz_name(z, 11), "empty") == 0 &&
              ms_npz_name(z, 12) == NULL,
          "member listing");
    CHECK(ms_npz_has(z, "gts") && ms_npz_has(z, "gts.npy") && !ms_npz_has(z, "gt"), "ms_npz_has");
    ms_npy a;
    medsam_status st = ms_npz_get(z, "nope", &a, &err);
    CHECK(st == MEDSAM_ERR_FORMAT && strstr(err.message, "compressed.npz: array 'nope': no array named 'nope'"),
          "missing member: %s", err.message);
    ms_npz_close(z);
}

/* ---- round trips through the writer ---- */

static const char *NAMES[] = {"imgs", "gts", "spacing", "f32", "i16", "u16", "i32", "i64", "u32", "mask", "scalar", "empty"};
#define N_NAMES 12

static int load_all(const char *path, ms_npy *arrays) {
    ms_npz *z = NULL;
    medsam_error err;
    if (ms_npz_open(path, &z, &err)) return 0;
    int ok = 1;
    for (int i = 0; i < N_NAMES; i++) ok &= ms_npz_get(z, NAMES[i], &arrays[i], &err) == MEDSAM_OK;
    ms_npz_close(z);
    return ok;
}

static int same_arrays(const ms_npy *a, const ms_npy *b, int n) {
    for (int i = 0; i < n; i++) {
        if (a[i].dtype != b[i].dtype || a[i].ndim != b[i].ndim || a[i].count != b[i].count) return 0;
        if (memcmp(a[i].shape, b[i].shape, sizeof a[i].shape) != 0) return 0;
        if (memcmp(a[i].data, b[i].data, (size_t)a[i].count * (size_t)dtype_size(a[i].dtype)) != 0) return 0;
    }
    return 1;
}

static void test_round_trip(void) {
    ms_npy src[N_NAMES], back[N_NAMES];
    memset(src, 0, sizeof src);
    CHECK(load_all(FIX_DIR "/stored.npz", src), "cannot load stored.npz");
    char path[700];
    medsam_error err;
    size_t len_stored = 0, len_deflated = 0;
    for (int compress = 0; compress <= 1; compress++) {
        snprintf(path, sizeof path, "%s/written_%s.npz", g_tmp, compress ? "deflated" : "stored");
        medsam_status st = ms_npz_write(path, NAMES, src, N_NAMES, compress, &err);
        CHECK(st == MEDSAM_OK, "write %s: %s", path, err.message);
        memset(back, 0, sizeof back);
        CHECK(load_all(path, back) && same_arrays(src, back, N_NAMES), "%s: arrays changed", path);
        for (int i = 0; i < N_NAMES; i++) ms_npy_free(&back[i]);
        pth_zip *zip = NULL;
        if (pth_zip_open_file(path, &zip, &err) == MEDSAM_OK) {
            int methods_ok = pth_zip_count(zip) == N_NAMES;
            for (int i = 0; i < pth_zip_count(zip); i++) methods_ok &= pth_zip_entry_at(zip, i)->method == (compress ? 8 : 0);
            CHECK(methods_ok, "%s: entries not %s", path, compress ? "deflated" : "stored");
            pth_zip_close(zip);
        }
        struct stat sb;
        stat(path, &sb);
        *(compress ? &len_deflated : &len_stored) = (size_t)sb.st_size;
    }
    CHECK(len_deflated < len_stored, "deflated %zu bytes, stored %zu", len_deflated, len_stored);

    /* deflated entries with ZIP64 records (their patched sizes live in the extra field) */
    snprintf(path, sizeof path, "%s/written_zip64_deflated.npz", g_tmp);
    pth_zip *zin = NULL;
    FILE *fp = fopen(path, "wb");
    medsam_status st = pth_zip_open_file(FIX_DIR "/stored.npz", &zin, &err);
    if (!st && fp) {
        pth_zip_writer zw;
        pth_zip_writer_init(&zw, fp, 1);
        for (int i = 0; i < pth_zip_count(zin) && !st; i++) {
            const pth_zip_entry *e = pth_zip_entry_at(zin, i);
            uint8_t *buf = NULL;
            size_t n = 0;
            st = pth_zip_read_all(zin, e, 1 << 20, &buf, &n, &err);
            /* split in two parts to exercise the multi-part path */
            pth_zip_part parts[2] = {{buf, n / 3}, {buf + n / 3, n - n / 3}};
            if (!st) st = pth_zip_writer_add_parts(&zw, e->name, parts, 2, 9, &err);
            free(buf);
        }
        if (!st) st = pth_zip_writer_finish(&zw, &err);
        pth_zip_writer_free(&zw);
    }
    if (fp) fclose(fp);
    pth_zip_close(zin);
    CHECK(st == MEDSAM_OK, "zip64 deflate write: %s", err.message);
    memset(back, 0, sizeof back);
    CHECK(load_all(path, back) && same_arrays(src, back, N_NAMES), "zip64 deflated npz: arrays changed");
    for (int i = 0; i < N_NAMES; i++) ms_npy_free(&back[i]);

    /* an empty archive */
    snprintf(path, sizeof path, "%s/written_empty.zip", g_tmp);
    ms_npz *z = NULL;
    st = ms_npz_write(path, NULL, NULL, 0, 1, &err);
    if (!st) st = ms_npz_open(path, &z, &err);
    CHECK(st == MEDSAM_OK && ms_npz_count(z) == 0, "empty npz: %s", err.message);
    ms_npz_close(z);

    /* writer argument errors leave the destination alone */
    snprintf(path, sizeof path, "%s/keep.npz", g_tmp);
    t_spit(path, "old", 3);
    const char *dup[2] = {"a", "a"};
    st = ms_npz_write(path, dup, src, 2, 0, &err);
    CHECK(st == MEDSAM_ERR_ARG && strstr(err.message, "duplicate array name 'a'") && one_line(err.message),
          "duplicate names: %s", err.message);
    const char *empty_name[1] = {""};
    CHECK(ms_npz_write(path, empty_name, src, 1, 0, &err) == MEDSAM_ERR_ARG, "empty name accepted");
    ms_npy bad = src[0];
    bad.dtype = (ms_npy_dtype)42;
    CHECK(ms_npz_write(path, NAMES, &bad, 1, 1, &err) == MEDSAM_ERR_ARG && strstr(err.message, "bad dtype"),
          "bad dtype: %s", err.message);
    bad = src[0];
    bad.shape[0] = -1;
    CHECK(ms_npz_write(path, NAMES, &bad, 1, 1, &err) == MEDSAM_ERR_ARG, "negative shape accepted");
    size_t len = 0;
    uint8_t *old = t_slurp(path, &len);
    CHECK(old && len == 3 && memcmp(old, "old", 3) == 0, "failed write touched the destination");
    free(old);
    remove(path);
    for (int i = 0; i < N_NAMES; i++) ms_npy_free(&src[i]);
}

/* ---- malformed archives ---- */

static void expect_fail(const char *what, const uint8_t *b, size_t len, const char *member, medsam_status code,
                        const char *needle) {
    char path[700];
    snprintf(path, sizeof path, "%s/bad_%s.npz", g_tmp, what);
    t_spit(path, b, len);
    ms_npz *z = NULL;
    ms_npy a;
    medsam_error err = {0};
    medsam_status st = ms_npz_open(path, &z, &err);
    if (!st && member) st = ms_npz_get(z, member, &a, &err);
    CHECK(st == code && strstr(err.message, needle) && one_line(err.message) && strncmp(err.message, path, strlen(path)) == 0,
          "%s: status %d (want %d): \"%s\" (want \"%s\")", what, st, code, err.message, needle);
    if (!st) ms_npy_free(&a);
    ms_npz_close(z);
    z = NULL;
    st = ms_npz_open_mem(b, len, &z, &err);
    if (!st && member) st = ms_npz_get(z, member, &a, &err);
    CHECK(st == code, "%s from memory: status %d: %s", what, st, err.message);
    if (!st) ms_npy_free(&a);
    ms_npz_close(z);
    printf("ok   %-20s -> %s\n", what, err.message);
    remove(path);
}

/* Offset of the central directory record of entry `name` (our writer: no comment, no ZIP64). */
static size_t find_cd_entry(const uint8_t *b, size_t len, const char *name) {
    size_t nlen = strlen(name);
    for (size_t i = 0; i + 46 + nlen <= len; i++)
        if (memcmp(b + i, "PK\x01\x02", 4) == 0 && memcmp(b + i + 46, name, nlen) == 0) return i;
    return 0;
}

static void test_malformed(void) {
    char path[700];
    snprintf(path, sizeof path, "%s/small.npz", g_tmp);
    int16_t vals[64];
    for (int i = 0; i < 64; i++) vals[i] = (int16_t)(i * 37 % 11);
    ms_npy arr = {MS_NPY_I16, 2, {8, 8}, 64, vals};
    const char *names[1] = {"x"};
    medsam_error err;
    CHECK(ms_npz_write(path, names, &arr, 1, 1, &err) == MEDSAM_OK, "write: %s", err.message);
    size_t len = 0;
    uint8_t *b = t_slurp(path, &len);
    if (!b) return;
    uint8_t *c = malloc(len + 16);

    expect_fail("empty", b, 0, NULL, MEDSAM_ERR_FORMAT, "not a zip archive");
    expect_fail("not_zip", (const uint8_t *)"\x93NUMPY this is not a zip archive at all", 38, NULL, MEDSAM_ERR_FORMAT,
                "not a zip archive");
    expect_fail("truncated", b, len / 2, NULL, MEDSAM_ERR_FORMAT, "not a zip archive or truncated");
    memcpy(c, b, len);
    for (size_t i = 40; i < 60; i++) c[i] ^= 0x33; /* inside the deflated member */
    expect_fail("corrupt_member", c, len, "x", MEDSAM_ERR_FORMAT, "array 'x'");
    size_t cd = find_cd_entry(b, len, "x.npy");
    CHECK(cd > 0, "central directory entry not found");
    memcpy(c, b, len);
    c[cd + 16] ^= 1; /* CRC-32 */
    expect_fail("bad_crc", c, len, "x", MEDSAM_ERR_FORMAT, "CRC-32 mismatch");
    memcpy(c, b, len);
    c[cd + 24] = 0xfe, c[cd + 25] = 0xff, c[cd + 26] = 0xff, c[cd + 27] = 0x7f; /* size: 2 GiB */
    expect_fail("huge_declared_size", c, len, "x", MEDSAM_ERR_FORMAT, "declares 2147483646 bytes but holds only");
    memcpy(c, b, len);
    c[cd + 42] = 0x40; /* local header offset past the data */
    expect_fail("bad_local_offset", c, len, NULL, MEDSAM_ERR_FORMAT, "local header");

    /* a valid zip whose member is not a .npy */
    snprintf(path, sizeof path, "%s/notnpy.npz", g_tmp);
    FILE *fp = fopen(path, "wb");
    pth_zip_writer zw;
    pth_zip_writer_init(&zw, fp, 0);
    pth_zip_part part = {"hello, not an array", 19};
    medsam_status st = pth_zip_writer_add_parts(&zw, "bad.npy", &part, 1, 6, &err);
    if (!st) st = pth_zip_writer_add_parts(&zw, "readme.txt", &part, 1, 0, &err);
    if (!st) st = pth_zip_writer_add_parts(&zw, "two\nlines.npy", &part, 1, 0, &err);
    if (!st) st = pth_zip_writer_finish(&zw, &err);
    pth_zip_writer_free(&zw);
    fclose(fp);
    size_t n2 = 0;
    uint8_t *nb = t_slurp(path, &n2);
    remove(path);
    expect_fail("member_not_npy", nb, n2, "bad", MEDSAM_ERR_FORMAT, "array 'bad': not a .npy file");
    ms_npz *z = NULL;
    if (ms_npz_open_mem(nb, n2, &z, &err) == MEDSAM_OK) {
        CHECK(ms_npz_count(z) == 3 && strcmp(ms_npz_name(z, 1), "readme.txt") == 0, "non-.npy member names");
        ms_npy a;
        st = ms_npz_get(z, "two\nlines", &a, &err);
        CHECK(st == MEDSAM_ERR_FORMAT && one_line(err.message) && strstr(err.message, "array 'two?lines'"),
              "control characters in a member name reach the message: %s", err.message);
        ms_npz_close(z);
    }
    free(nb);
    free(c);
    free(b);
    snprintf(path, sizeof path, "%s/small.npz", g_tmp);
    remove(path);
    st = ms_npz_open("/nonexistent/a.npz", &z, &err);
    CHECK(st == MEDSAM_ERR_IO && strstr(err.message, "/nonexistent/a.npz: cannot open"), "missing file: %s", err.message);
}

int main(void) {
    const char *keep = getenv("MS_VOLUME_KEEP_DIR");
    if (keep && *keep) {
        snprintf(g_tmp, sizeof g_tmp, "%s", keep);
        mkdir(g_tmp, 0755);
    } else {
        snprintf(g_tmp, sizeof g_tmp, "/tmp/ms_test_npz_XXXXXX");
        if (!mkdtemp(g_tmp)) {
            printf("FAIL cannot make a temp dir\n");
            return 1;
        }
    }
    test_fixtures();
    test_round_trip();
    test_malformed();
    if (!(keep && *keep)) t_rmtree(g_tmp);
    return t_summary();
}
