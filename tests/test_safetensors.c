/* test_safetensors.c — the strict JSON parser (valid and invalid documents,
 * limits, decoding), the safetensors reader on a file written by Python
 * (tools/ref/make_weights_fixtures.py: every dtype, converted by torch for the
 * expected values), its refusals of lying headers, and the writer (write, read
 * back bit for bit). */
#include <stdint.h>

#include "core/npy.h"
#include "test.h"
#include "weights/json_min.h"
#include "weights/safetensors.h"

#define FIX "tests/fixtures/weights/"

/* ---- JSON ---- */

static void json_ok(const char *text, const char *what) {
    json_doc *d = NULL;
    medsam_error err = {0};
    medsam_status st = json_parse(text, strlen(text), NULL, &d, &err);
    CHECK(st == MEDSAM_OK, "JSON %s should parse: %s", what, err.message);
    json_free(d);
}

static void json_bad(const char *text, size_t len, const char *needle, const char *what) {
    json_doc *d = NULL;
    medsam_error err = {0};
    medsam_status st = json_parse(text, len, NULL, &d, &err);
    CHECK(st != MEDSAM_OK && d == NULL, "JSON %s should be refused", what);
    CHECK(strstr(err.message, needle) != NULL, "JSON %s: message '%s' lacks '%s'", what, err.message, needle);
}

static void test_json(void) {
    json_ok("{}", "empty object");
    json_ok(" [1, -0, 0.5, -1.25e+3, 1E-2, true, false, null, \"x\", [], {}] ", "mixed array");
    json_ok("\"\\u00e9\\ud83d\\ude00\\n\\\"\"", "escapes and a surrogate pair");
    json_ok("{\"a\":{\"b\":[{\"c\":1}]}}", "nesting");
    json_ok("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "raw UTF-8");
    static const struct { const char *text, *needle, *what; } bad[] = {
        {"", "value expected", "empty input"},
        {"{", "object key", "unclosed object"},
        {"[1,]", "unexpected character", "trailing comma"},
        {"{\"a\":1,}", "object key", "trailing comma in object"},
        {"[01]", "leading zero", "leading zero"},
        {"[+1]", "unexpected character", "plus sign"},
        {"[1.]", "digit expected", "bare dot"},
        {"[1e]", "digit expected", "bare exponent"},
        {"[NaN]", "unexpected character", "NaN"},
        {"{'a':1}", "object key", "single quotes"},
        {"\"a\tb\"", "control character", "raw tab in a string"},
        {"\"\\x\"", "invalid escape", "unknown escape"},
        {"\"\\u12g4\"", "invalid \\u escape", "bad hex"},
        {"\"\\udc00\"", "lone low surrogate", "lone low surrogate"},
        {"\"\\ud800x\"", "high surrogate", "lone high surrogate"},
        {"\"\xc0\xaf\"", "invalid UTF-8", "overlong UTF-8"},
        {"\"\xed\xa0\x80\"", "invalid UTF-8", "UTF-8 surrogate"},
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8", "beyond U+10FFFF"},
        {"{\"a\":1,\"a\":2}", "duplicate key \"a\"", "duplicate key"},
        {"[1] [2]", "content after", "two values"},
        {"[1 2]", "',' or ']'", "missing comma"},
        {"{\"a\" 1}", "':' expected", "missing colon"},
        {"tru", "unexpected character", "truncated literal"},
        {"/* c */ 1", "unexpected character", "comment"},
        {"\"abc", "unterminated string", "unterminated string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) json_bad(bad[i].text, strlen(bad[i].text), bad[i].needle, bad[i].what);
    json_bad("[1,\0 2]", 6, "unexpected character", "NUL byte");

    /* depth and node limits, no recursion: 100000 nested arrays are refused quickly */
    size_t n = 100000;
    char *deep = malloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    json_bad(deep, 2 * n, "nesting too deep", "100000 nested arrays");
    json_limits lim = json_default_limits();
    lim.max_depth = 100001;
    json_doc *d = NULL;
    medsam_error err;
    CHECK(json_parse(deep, 2 * n, &lim, &d, &err) == MEDSAM_OK, "deep nesting within a raised limit: %s", err.message);
    json_free(d);
    free(deep);
    lim = json_default_limits();
    lim.max_nodes = 3;
    CHECK(json_parse("[1,2,3]", 7, &lim, &d, &err) != MEDSAM_OK && strstr(err.message, "too many values"), "node limit");

    /* accessors */
    const char *doc = "{\"s\":\"a\\u0000b\",\"i\":-9223372036854775808,\"big\":9223372036854775808,\"f\":2.5e-1,"
                      "\"arr\":[10,20,30],\"dup\":{}}";
    CHECK(json_parse(doc, strlen(doc), NULL, &d, &err) == MEDSAM_OK, "accessor doc: %s", err.message);
    int root = json_root(d);
    size_t len = 0;
    const char *s = json_str(d, json_get(d, root, "s"), &len);
    CHECK(s && len == 3 && s[0] == 'a' && s[1] == 0 && s[2] == 'b', "string with U+0000 keeps its length");
    int64_t v = 0;
    CHECK(json_as_i64(d, json_get(d, root, "i"), &v) && v == INT64_MIN, "INT64_MIN");
    CHECK(!json_as_i64(d, json_get(d, root, "big"), &v), "2^63 does not fit int64");
    CHECK(!json_as_i64(d, json_get(d, root, "f"), &v), "a fraction is not an integer");
    double f = 0;
    CHECK(json_as_double(d, json_get(d, root, "f"), &f) && f == 0.25, "double");
    int arr = json_get(d, root, "arr"), sum = 0;
    for (int c = json_first(d, arr); c >= 0; c = json_next(d, c)) sum += json_as_i64(d, c, &v) ? (int)v : 1000;
    CHECK(json_len(d, arr) == 3 && sum == 60, "array walk");
    CHECK(json_get(d, root, "nope") == -1 && json_str(d, arr, NULL) == NULL, "absent key, wrong type");
    CHECK(json_key(d, arr, &len) && len == 3, "member key");
    json_free(d);
}

/* ---- safetensors ---- */

static void test_python_file(void) {
    st_file *f = NULL;
    medsam_error err = {0};
    CHECK(st_open(FIX "dtypes.safetensors", &f, &err) == MEDSAM_OK, "open dtypes.safetensors: %s", err.message);
    if (!f) return;
    ms_npy ref;
    CHECK(ms_npy_read(FIX "dtypes_f32.npy", &ref, &err) == MEDSAM_OK, "expected values: %s", err.message);
    CHECK(st_tensor_count(f) == 11, "11 tensors");
    const char *meta = st_metadata(f, "note");
    CHECK(meta && !strcmp(meta, "medsam.c fixture \xc3\xa9"), "metadata decoded");
    CHECK(st_metadata(f, "format") && !strcmp(st_metadata(f, "format"), "pt"), "format pt");
    /* names sorted = the order the expected values were concatenated in */
    static const char *names[] = {"a.f32", "b.f16", "c.bf16", "d.f64", "e.i64", "f.i32", "g.u8", "h.bool",
                                  "i.f16_special", "j.scalar", "k.empty"};
    long at = 0, bad = 0;
    float buf[64];
    for (int i = 0; i < 11; i++) {
        const st_tensor *t = st_find(f, names[i]);
        CHECK(t != NULL, "find %s", names[i]);
        if (!t || t->numel > 64) continue;
        CHECK(st_read_f32(f, t, buf, &err) == MEDSAM_OK, "read %s: %s", names[i], err.message);
        for (long k = 0; k < t->numel; k++)
            if (memcmp(&buf[k], (float *)ref.data + at + k, 4) != 0) bad++;
        at += t->numel;
    }
    CHECK(bad == 0 && at == (long)ref.count, "all dtypes convert as torch does, bit for bit (%ld differ)", bad);
    const st_tensor *s = st_find(f, "j.scalar"), *e = st_find(f, "k.empty");
    CHECK(s && s->ndim == 0 && s->numel == 1 && e && e->ndim == 2 && e->numel == 0, "scalar and empty tensors");
    ms_npy_free(&ref);
    st_close(f);
}

/* Builds a safetensors image from a header text and a data size. */
static uint8_t *image(const char *header, size_t data, size_t *len, uint64_t claim) {
    size_t h = strlen(header);
    *len = 8 + h + data;
    uint8_t *b = calloc(1, *len);
    uint64_t n = claim ? claim : h;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

static void expect_refused(const char *header, size_t data, uint64_t claim, const char *needle, const char *what) {
    size_t len;
    uint8_t *b = image(header, data, &len, claim);
    st_file *f = NULL;
    medsam_error err = {0};
    medsam_status st = st_open_mem(b, len, "bad.safetensors", &f, &err);
    CHECK(st != MEDSAM_OK && f == NULL, "%s: accepted", what);
    CHECK(strstr(err.message, needle) && strstr(err.message, "bad.safetensors") && !strchr(err.message, '\n'),
          "%s: message '%s' lacks '%s' or the file name", what, err.message, needle);
    printf("%s %-34s %s\n", st ? "ok  " : "FAIL", what, err.message);
    st_close(f);
    free(b);
}

static void test_lying_headers(void) {
    const char *A = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char h[512];
    snprintf(h, sizeof h, "{%s}", A);
    size_t len;
    uint8_t *b = image(h, 8, &len, 0);
    st_file *f = NULL;
    medsam_error err;
    CHECK(st_open_mem(b, len, "ok.safetensors", &f, &err) == MEDSAM_OK, "minimal file: %s", err.message);
    st_close(f);
    free(b);
    expect_refused(h, 4, 0, "run past the end", "offsets past the end (truncated)");
    expect_refused(h, 8, (uint64_t)2 << 30, "outside 2..", "2 GB header length");
    expect_refused(h, 8, 1, "outside 2..", "header length 1");
    expect_refused(h, 0, 0, "run past the end", "no data at all");
    expect_refused(h, 8, strlen(h) + 100, "runs past the end of the", "header longer than the file");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0, "overlap", "overlapping tensors");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "overlap", "same offsets twice");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, 0, "gap", "hole before a tensor");
    expect_refused(h, 12, 0, "cover 8 bytes of the 12", "trailing bytes");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0, "expected 12", "byte count vs shape");
    expect_refused("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "expected 4", "byte count vs dtype");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0, "end before", "end < begin");
    expect_refused("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, 0, "not supported", "F8 dtype");
    expect_refused("{\"a\":{\"dtype\":\"Q4\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, 0, "\"Q4\" is not supported", "unknown dtype");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, 0, "rank 9", "rank 9");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0, "shape[0]", "negative extent");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, 0, "too large",
                   "numel overflow");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                   "\"data_offsets\":[8,16]}}", 16, 0, "duplicate key \"a\"", "duplicate names");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, 0, "JSON", "bad JSON (unclosed)");
    expect_refused("[1,2]", 0, 0, "start with '{'", "header not an object");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, 0, "unknown field", "extra field");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0, "needs", "missing data_offsets");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, 0, "[begin, end]", "one offset");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8, 0, "[begin, end]", "float offset");
    expect_refused("{\"__metadata__\":{\"k\":1}}", 0, 0, "not a string", "metadata value not a string");
    expect_refused("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "empty", "empty name");
    expect_refused("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "NUL", "name with NUL");
}

static void test_writer(const char *dir) {
    float a[6] = {1.5f, -2.0f, 0.0f, -0.0f, 3.25e-38f, 1e30f}, b[1] = {42.0f};
    st_out_tensor t[3] = {{"x.weight", 2, {2, 3}, a}, {"y \"quoted\"\\name", 0, {0}, b}, {"empty", 1, {0}, a}};
    const char *meta[] = {"format", "pt", "who", "tab\there"};
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    medsam_error err;
    CHECK(st_write_f32(path, t, 3, meta, 2, &err) == MEDSAM_OK, "write: %s", err.message);
    st_file *f = NULL;
    CHECK(st_open(path, &f, &err) == MEDSAM_OK, "read back: %s", err.message);
    if (f) {
        const st_tensor *x = st_find(f, "x.weight"), *y = st_find(f, "y \"quoted\"\\name");
        float got[6] = {0};
        CHECK(x && x->ndim == 2 && x->shape[1] == 3 && st_read_f32(f, x, got, &err) == MEDSAM_OK && !memcmp(got, a, sizeof a),
              "values bit for bit");
        CHECK(y && y->ndim == 0 && st_read_f32(f, y, got, &err) == MEDSAM_OK && got[0] == 42.0f, "escaped name, scalar");
        CHECK(st_metadata(f, "who") && !strcmp(st_metadata(f, "who"), "tab\there"), "metadata escaped");
        st_close(f);
    }
    size_t len;
    unsigned char *raw = t_slurp(path, &len);
    uint64_t h = 0;
    for (int i = 7; raw && i >= 0; i--) h = (h << 8) | raw[i];
    CHECK(raw && h % 8 == 0 && raw[8] == '{', "header padded to 8 bytes");
    free(raw);
    st_out_tensor dup[2] = {{"same", 1, {1}, b}, {"same", 1, {1}, b}};
    snprintf(path, sizeof path, "%s/dup.safetensors", dir);
    CHECK(st_write_f32(path, dup, 2, NULL, 0, &err) != MEDSAM_OK && access(path, F_OK) != 0, "duplicate names refused, nothing written");
}

int main(void) {
    test_json();
    test_python_file();
    test_lying_headers();
    char dir[] = "/tmp/medsam_st_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    test_writer(dir);
    t_rmtree(dir);
    return t_summary();
}
