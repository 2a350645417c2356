/* test_default_model.c — the pieces of the bundled default model: SHA-256 against
 * the FIPS 180-2 examples and coreutils' sha256sum, and safetensors written as
 * float16 (`medsam convert --dtype f16`) against numpy's float16 rounding. */
#include <stdint.h>

#include "core/sha256.h"
#include "test.h"
#include "weights/safetensors.h"

static void hex_of(const char *msg, size_t n, char hex[65]) {
    ms_sha256 s;
    unsigned char d[32];
    ms_sha256_init(&s);
    ms_sha256_update(&s, msg, n);
    ms_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void test_sha256(void) {
    char hex[65];
    hex_of("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "abc: %s", hex);
    hex_of("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "empty: %s", hex);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: two padding blocks */
    hex_of(m, strlen(m), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "448 bits: %s", hex);
    /* one million 'a' fed in uneven pieces */
    ms_sha256 s;
    unsigned char d[32];
    char a[997];
    memset(a, 'a', sizeof a);
    ms_sha256_init(&s);
    for (long left = 1000000; left > 0;) {
        size_t k = left < (long)sizeof a ? (size_t)left : sizeof a;
        ms_sha256_update(&s, a, k);
        left -= (long)k;
    }
    ms_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "million a: %s", hex);
    medsam_error err;
    CHECK(ms_sha256_file("/nonexistent/x.safetensors", hex, &err) == MEDSAM_ERR_IO &&
              strstr(err.message, "/nonexistent/x.safetensors"),
          "missing file names it: %s", err.message);
}

/* The CPU's SHA instructions (where it has them) against the portable code: random
 * messages of 0..300 and some larger lengths, fed whole and in uneven pieces. */
static void test_sha256_paths(void) {
    ms_sha256 probe;
    ms_sha256_init(&probe);
    printf("sha256: %s\n", probe.shani ? "SHA-NI and portable compared" : "portable only (no SHA-NI on this CPU)");
    unsigned char *msg = malloc(70000);
    uint32_t r = 12345;
    for (int i = 0; i < 70000; i++) r = r * 1664525u + 1013904223u, msg[i] = (unsigned char)(r >> 24);
    int bad = 0, cases = 0;
    for (int len = 0; len < 70000; len = len < 300 ? len + 1 : len * 3 + 7) {
        unsigned char d[2][32];
        for (int path = 0; path < 2; path++) {
            ms_sha256 s;
            ms_sha256_init(&s);
            if (path == 0) s.shani = 0;
            for (int off = 0, piece = 1; off < len; off += piece, piece = piece * 2 % 157 + 1)
                ms_sha256_update(&s, msg + off, (size_t)(off + piece <= len ? piece : len - off));
            ms_sha256_final(&s, d[path]);
        }
        bad += memcmp(d[0], d[1], 32) != 0;
        cases++;
    }
    free(msg);
    CHECK(bad == 0, "sha256: %d of %d messages hash differently on the two paths", bad, cases);
}

/* Halves as numpy's float32.astype(float16) gives them (round to nearest even). */
static void test_f16(void) {
    static const float x[] = {1.0f, 65504.0f, 0x1p-24f, 0x1p-25f, 3 * 0x1p-25f, 1 + 0x1p-11f, 1 + 3 * 0x1p-11f,
                              -0.0f, 1e-8f, 6.1e-5f, -2.5e-6f, 0.1f};
    static const uint16_t want[] = {15360, 31743, 1, 0, 2, 15360, 15362, 32768, 0, 1023, 32810, 11878};
    const int n = (int)(sizeof x / sizeof *x);
    char dir[] = "/tmp/test_default_model_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/h.safetensors", dir);
    st_out_tensor t = {.name = "w", .ndim = 1, .shape = {n}, .data = x};
    medsam_error err;
    CHECK(st_write(path, &t, 1, NULL, 0, 1, &err) == MEDSAM_OK, "write f16: %s", err.message);
    size_t len;
    unsigned char *b = t_slurp(path, &len);
    CHECK(b && len >= 8 + (size_t)n * 2, "read back");
    if (b && len >= 8 + (size_t)n * 2) {
        size_t off = len - (size_t)n * 2; /* the data follows the padded header */
        CHECK(strstr((char *)b + 8, "\"F16\"") != NULL, "header names F16");
        int bad = 0;
        for (int i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(b[off + 2 * i] | b[off + 2 * i + 1] << 8);
            if (h != want[i]) bad++, printf("value %d (%g): 0x%04x, numpy 0x%04x\n", i, (double)x[i], h, want[i]);
        }
        CHECK(bad == 0, "%d halves differ from numpy", bad);
        st_file *f = NULL;
        float back[16];
        CHECK(st_open(path, &f, &err) == MEDSAM_OK && st_read_f32(f, st_find(f, "w"), back, &err) == MEDSAM_OK,
              "reader widens F16: %s", err.message);
        CHECK(f && back[0] == 1.0f && back[1] == 65504.0f && back[2] == 0x1p-24f && back[6] == 1 + 0x1p-9f,
              "widened values");
        st_close(f);
    }
    free(b);
    /* out of range: refused naming the tensor, nothing written */
    float big[2] = {1.0f, 70000.0f};
    char path2[64];
    snprintf(path2, sizeof path2, "%s/big.safetensors", dir);
    st_out_tensor t2 = {.name = "big", .ndim = 1, .shape = {2}, .data = big};
    CHECK(st_write(path2, &t2, 1, NULL, 0, 1, &err) == MEDSAM_ERR_NUMERIC && strstr(err.message, "'big'") &&
              access(path2, F_OK) != 0,
          "overflow refused: %s", err.message);
    remove(path);
    rmdir(dir);
}

int main(void) {
    test_sha256();
    test_sha256_paths();
    test_f16();
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed != 0;
}
