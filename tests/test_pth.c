/* test_pth.c — .pth reader/writer against fixtures made by real torch.save
 * (tools/ref/make_pth_fixtures.py), hostile inputs, and a C write/read round
 * trip. Set MEDSAM_PTH_OUT=<dir> to keep the C-written checkpoints there, then
 * `/usr/bin/python3 tools/ref/make_pth_fixtures.py --check-c-writer <dir>`
 * checks that torch.load reads them with exact values.
 *
 * Tensor values follow formula(i, k) = (((7i + k) mod 23) - 11) / 8, the same
 * as the fixture script; all comparisons are bit-exact (atol = rtol = 0). */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "weights/pickle.h"
#include "weights/pth.h"
#include "weights/zip.h"

#define FIX "tests/fixtures/pth/"
#define MARKER "/tmp/medsam_pth_fixture_pwned"

static float formula(long i, int k) { return (float)((double)((i * 7 + k) % 23 - 11) * 0.125); }

static void fill(float *dst, long n, int k) {
    for (long i = 0; i < n; i++) dst[i] = formula(i, k);
}

static int shape_is(const pth_tensor *t, int ndim, const int64_t *shape) {
    if (!t || t->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return 0;
    return 1;
}

/* Reads tensor `name` as f32 and compares with ref bit-exactly. */
static void check_tensor(pth_file *f, const char *name, pth_dtype dt, int ndim, const int64_t *shape,
                         const float *ref) {
    const pth_tensor *t = pth_find(f, name);
    CHECK(t != NULL, "tensor %s found", name);
    if (!t) return;
    char buf[80];
    CHECK(t->dtype == dt, "%s dtype %s", name, pth_dtype_name(t->dtype));
    CHECK(shape_is(t, ndim, shape), "%s shape %s", name, pth_shape_str(t, buf, sizeof buf));
    if (!shape_is(t, ndim, shape)) return;
    float *got = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *got);
    medsam_error err = {0};
    medsam_status st = pth_read_f32(f, t, got, &err);
    CHECK(st == MEDSAM_OK, "read %s: %s", name, err.message);
    if (st == MEDSAM_OK && t->numel) t_close(name, got, ref, t->numel, 0, 0, 0);
    free(got);
}

static pth_file *open_ok(const char *path) {
    pth_file *f = NULL;
    medsam_error err = {0};
    medsam_status st = pth_open(path, &f, &err);
    CHECK(st == MEDSAM_OK, "open %s: %s", path, err.message);
    return st == MEDSAM_OK ? f : NULL;
}

/* The common tensors of basic/deflated/proto4/proto5. */
static void check_small_set(pth_file *f) {
    float w[15], wt[15], bf[12];
    fill(w, 15, 0);
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++) wt[r * 3 + c] = w[c * 5 + r];
    fill(bf, 12, 2);
    check_tensor(f, "w_f32", PTH_F32, 2, (int64_t[]){3, 5}, w);
    check_tensor(f, "w_t", PTH_F32, 2, (int64_t[]){5, 3}, wt);
    check_tensor(f, "w_bf16", PTH_BF16, 3, (int64_t[]){2, 3, 2}, bf);
    float s = 2.5f;
    check_tensor(f, "scalar", PTH_F32, 0, NULL, &s);
}

static void test_basic(const char *path, int full) {
    printf("-- %s\n", path);
    pth_file *f = open_ok(path);
    if (!f) return;
    check_small_set(f);
    const pth_tensor *w = pth_find(f, "w_f32"), *wt = pth_find(f, "w_t");
    CHECK(wt && wt->stride[0] == 1 && wt->stride[1] == 5, "w_t strides (1,5)");
    CHECK(w && wt && strcmp(w->storage_key, wt->storage_key) == 0, "w_t shares w_f32's storage");
    if (!full) { pth_close(f); return; }
    CHECK(pth_tensor_count(f) == 14, "14 tensors, got %d", pth_tensor_count(f));
    CHECK(pth_tensor_at(f, 0) && strcmp(pth_tensor_at(f, 0)->name, "w_f32") == 0, "file order kept");
    CHECK(pth_find(f, "nope") == NULL && pth_find(f, "") == NULL, "absent names not found");
    float h[12], f64[5], i64f[3] = {-5, 0, 1099511627776.0f}, i32[2] = {-7, 3}, u8[3] = {0, 7, 255};
    float b[4] = {1, 0, 1, 1}, p[4], big[48], sl[10];
    fill(h, 12, 1);
    for (int i = 0; i < 5; i++) f64[i] = (float)(i * 0.1);
    fill(p, 4, 4);
    fill(big, 48, 3);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 5; c++) sl[r * 5 + c] = big[(1 + 2 * r) * 8 + 2 + c];
    check_tensor(f, "w_f16", PTH_F16, 2, (int64_t[]){4, 3}, h);
    check_tensor(f, "w_f64", PTH_F64, 1, (int64_t[]){5}, f64);
    check_tensor(f, "w_i64", PTH_I64, 1, (int64_t[]){3}, i64f);
    check_tensor(f, "w_i32", PTH_I32, 1, (int64_t[]){2}, i32);
    check_tensor(f, "w_u8", PTH_U8, 1, (int64_t[]){3}, u8);
    check_tensor(f, "w_bool", PTH_BOOL, 1, (int64_t[]){4}, b);
    check_tensor(f, "param", PTH_F32, 2, (int64_t[]){2, 2}, p);
    check_tensor(f, "w_slice", PTH_F32, 2, (int64_t[]){2, 5}, sl);
    const pth_tensor *s = pth_find(f, "w_slice");
    CHECK(s && s->storage_offset == 10 && s->stride[0] == 16 && s->stride[1] == 1 && s->storage_numel == 48,
          "w_slice view: offset 10, stride (16,1), storage 48");
    const pth_tensor *e = pth_find(f, "empty");
    medsam_error err = {0};
    float dummy = 42;
    CHECK(e && e->numel == 0 && shape_is(e, 2, (int64_t[]){0, 4}) && pth_read_f32(f, e, &dummy, &err) == MEDSAM_OK &&
              dummy == 42,
          "empty (0,4) tensor reads nothing");
    int64_t iv[3];
    const pth_tensor *ti = pth_find(f, "w_i64");
    CHECK(ti && pth_read_i64(f, ti, iv, &err) == MEDSAM_OK && iv[0] == -5 && iv[1] == 0 && iv[2] == ((int64_t)1 << 40),
          "int64 read exact");

    /* float16 specials: signed zero, max, subnormals, inf, nan */
    const pth_tensor *sp = pth_find(f, "f16_special");
    float v[10];
    CHECK(sp && sp->numel == 10 && pth_read_f32(f, sp, v, &err) == MEDSAM_OK, "read f16_special");
    if (sp && sp->numel == 10) {
        CHECK(v[0] == 0 && !signbit(v[0]) && v[1] == 0 && signbit(v[1]), "f16 +0 / -0");
        CHECK(v[2] == 1.0f && v[3] == 65504.0f, "f16 1 and max");
        CHECK(v[4] == ldexpf(1, -24) && v[5] == ldexpf(1, -14) && v[6] == 3 * ldexpf(1, -20), "f16 subnormals");
        CHECK(isinf(v[7]) && v[7] > 0 && isinf(v[8]) && v[8] < 0 && isnan(v[9]), "f16 inf/-inf/nan");
    }
    pth_close(f);
}

static void test_checkpoint(void) {
    printf("-- checkpoint.pth\n");
    pth_file *f = open_ok(FIX "checkpoint.pth");
    if (!f) return;
    CHECK(pth_tensor_count(f) == 4, "4 model tensors, got %d", pth_tensor_count(f));
    float w0[12], b0[4], w1[8], b1[2];
    fill(w0, 12, 5); fill(b0, 4, 6); fill(w1, 8, 7); fill(b1, 2, 8);
    check_tensor(f, "0.weight", PTH_F32, 2, (int64_t[]){4, 3}, w0);
    check_tensor(f, "0.bias", PTH_F32, 1, (int64_t[]){4}, b0);
    check_tensor(f, "1.weight", PTH_F32, 2, (int64_t[]){2, 4}, w1);
    check_tensor(f, "1.bias", PTH_F32, 1, (int64_t[]){2}, b1);
    CHECK(pth_find(f, "module.0.weight") == NULL, "module. prefix stripped");
    const pth_value *root = pth_root(f);
    CHECK(pth_state_dict(f) == pth_dict_get(root, "model"), "state dict is root['model']");
    int64_t epoch = 0;
    double loss = 0, lr = 0, b2 = 0;
    CHECK(pth_value_as_int(pth_dict_get(root, "epoch"), &epoch) && epoch == 3, "epoch 3");
    CHECK(pth_value_as_float(pth_dict_get(root, "best_loss"), &loss) && loss == 0.25, "best_loss 0.25");
    CHECK(pth_value_str(pth_dict_get(root, "name")) && strcmp(pth_value_str(pth_dict_get(root, "name")), "medsam") == 0,
          "name medsam");
    const pth_value *opt = pth_dict_get(root, "optimizer");
    const pth_value *st0 = pth_dict_get_int(pth_dict_get(opt, "state"), 0);
    const pth_tensor *ea = pth_value_tensor(pth_dict_get(st0, "exp_avg"));
    const pth_tensor *ref = pth_value_tensor(pth_dict_get(root, "ref_exp_avg0"));
    const pth_tensor *step = pth_value_tensor(pth_dict_get(st0, "step"));
    CHECK(ea && ref && shape_is(ea, 2, (int64_t[]){4, 3}) && shape_is(ref, 2, (int64_t[]){4, 3}), "exp_avg (4,3)");
    medsam_error err = {0};
    if (ea && ref && ea->numel == 12 && ref->numel == 12) {
        float a[12], r[12];
        CHECK(pth_read_f32(f, ea, a, &err) == MEDSAM_OK && pth_read_f32(f, ref, r, &err) == MEDSAM_OK, "read exp_avg");
        t_close("optimizer exp_avg == ref copy", a, r, 12, 0, 0, 0);
        int nonzero = 0;
        for (int i = 0; i < 12; i++) nonzero += a[i] != 0;
        CHECK(nonzero > 0, "exp_avg not all zero");
    }
    float sv = 0;
    CHECK(step && step->ndim == 0 && pth_read_f32(f, step, &sv, &err) == MEDSAM_OK && sv == 1.0f, "step tensor 1");
    const pth_value *g = pth_value_item(pth_dict_get(opt, "param_groups"), 0);
    const pth_value *betas = pth_dict_get(g, "betas"), *params = pth_dict_get(g, "params");
    CHECK(pth_value_as_float(pth_dict_get(g, "lr"), &lr) && lr == 1e-3, "lr 1e-3");
    CHECK(pth_value_type(betas) == PTH_VAL_TUPLE && pth_value_len(betas) == 2 &&
              pth_value_as_float(pth_value_item(betas, 1), &b2) && b2 == 0.999,
          "betas (0.9, 0.999)");
    int64_t p3 = -1;
    CHECK(pth_value_type(params) == PTH_VAL_LIST && pth_value_len(params) == 4 &&
              pth_value_as_int(pth_value_item(params, 3), &p3) && p3 == 3,
          "params [0,1,2,3]");
    CHECK(pth_value_type(pth_dict_get(g, "amsgrad")) == PTH_VAL_BOOL, "amsgrad bool");
    /* misc: [None, True, -(1<<40), (1, 2.5, "x"), {"a","b"}, frozenset([7]), b"\x00\xff", {10: "ten"}] */
    const pth_value *m = pth_dict_get(root, "misc");
    int64_t iv = 0;
    CHECK(pth_value_len(m) == 8, "misc has 8 items");
    CHECK(pth_value_type(pth_value_item(m, 0)) == PTH_VAL_NONE, "None");
    CHECK(pth_value_as_int(pth_value_item(m, 1), &iv) && iv == 1 && pth_value_type(pth_value_item(m, 1)) == PTH_VAL_BOOL,
          "True");
    CHECK(pth_value_as_int(pth_value_item(m, 2), &iv) && iv == -((int64_t)1 << 40), "LONG1 -(1<<40)");
    CHECK(pth_value_type(pth_value_item(m, 3)) == PTH_VAL_TUPLE && pth_value_len(pth_value_item(m, 3)) == 3, "tuple");
    CHECK(pth_value_type(pth_value_item(m, 4)) == PTH_VAL_SET && pth_value_len(pth_value_item(m, 4)) == 2, "set");
    CHECK(pth_value_type(pth_value_item(m, 5)) == PTH_VAL_SET && pth_value_item(m, 5)->kind == 1 &&
              pth_value_as_int(pth_value_item(pth_value_item(m, 5), 0), &iv) && iv == 7,
          "frozenset([7])");
    const pth_value *by = pth_value_item(m, 6);
    CHECK(pth_value_type(by) == PTH_VAL_BYTES && by->len == 2 && (uint8_t)by->str[0] == 0 &&
              (uint8_t)by->str[1] == 0xFF,
          "bytes via _codecs.encode");
    const char *ten = pth_value_str(pth_dict_get_int(pth_value_item(m, 7), 10));
    CHECK(ten && strcmp(ten, "ten") == 0, "int-keyed dict");
    pth_close(f);
}

/* Expects pth_open to fail with `code` and a message containing each needle. */
static void expect_fail(const char *path, medsam_status code, const char *n1, const char *n2) {
    pth_file *f = NULL;
    medsam_error err = {0};
    medsam_status st = pth_open(path, &f, &err);
    printf("   %s -> %s: %s\n", path, medsam_status_name(st), err.message);
    CHECK(st == code, "%s: status %s, want %s", path, medsam_status_name(st), medsam_status_name(code));
    CHECK(f == NULL, "%s: no handle on failure", path);
    CHECK(strncmp(err.message, path, strlen(path)) == 0, "%s: message starts with the path", path);
    CHECK(!n1 || strstr(err.message, n1), "%s: message mentions '%s'", path, n1);
    CHECK(!n2 || strstr(err.message, n2), "%s: message mentions '%s'", path, n2);
    pth_close(f);
}

static void test_bad_files(void) {
    printf("-- refused files\n");
    remove(MARKER);
    expect_fail(FIX "malicious_reduce.pth", MEDSAM_ERR_UNSAFE, "refusing pickle global 'posix.system'",
                "only tensors and state dicts");
    expect_fail(FIX "malicious_eval.pth", MEDSAM_ERR_UNSAFE, "'builtins.eval'", NULL);
    expect_fail(FIX "malicious_nested.pth", MEDSAM_ERR_UNSAFE, "'posix.system'", NULL);
    expect_fail(FIX "module.pth", MEDSAM_ERR_UNSAFE, "'torch.nn.modules.linear.Linear'", NULL);
    CHECK(access(MARKER, F_OK) != 0, "nothing from a malicious pickle ran (%s absent)", MARKER);
    expect_fail(FIX "complex.pth", MEDSAM_ERR_UNSUPPORTED, "ComplexFloatStorage", NULL);
    expect_fail(FIX "legacy.pth", MEDSAM_ERR_UNSUPPORTED, "legacy (pre-1.6)", NULL);
    expect_fail(FIX "notzip.pth", MEDSAM_ERR_FORMAT, "not a zip", NULL);
    expect_fail(FIX "truncated.pth", MEDSAM_ERR_FORMAT, "truncated", NULL);
    expect_fail(FIX "garbage_pkl.pth", MEDSAM_ERR_FORMAT, "data.pkl", "pickle");
    expect_fail(FIX "missing_storage.pth", MEDSAM_ERR_FORMAT, "tensor 'w_f32': storage basic/data/0 is missing",
                "expected 60 bytes");
    expect_fail(FIX "short_storage.pth", MEDSAM_ERR_FORMAT, "tensor 'w_f32'", "holds 4 bytes, expected 60");
    expect_fail(FIX "does_not_exist.pth", MEDSAM_ERR_IO, "cannot open", NULL);
}

/* Every proper prefix of a valid pickle fails cleanly; the full one parses. */
static void test_pickle_prefixes(void) {
    pth_zip *z = NULL;
    medsam_error err = {0};
    CHECK(pth_zip_open_file(FIX "checkpoint.pth", &z, &err) == MEDSAM_OK, "zip open: %s", err.message);
    if (!z) return;
    const pth_zip_entry *e = pth_zip_find(z, "checkpoint/data.pkl");
    uint8_t *pkl = NULL;
    size_t len = 0;
    CHECK(e && pth_zip_read_all(z, e, 1 << 20, &pkl, &len, &err) == MEDSAM_OK, "read data.pkl");
    int bad = 0;
    for (size_t n = 0; pkl && n <= len; n++) {
        pth_heap *h = pth_heap_new(PTH_PICKLE_MAX_NODES);
        uint8_t *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees any overread */
        memcpy(copy, pkl, n);
        pth_value *root;
        medsam_status st = pth_unpickle(copy, n, h, &root, &err);
        if ((n < len) != (st != MEDSAM_OK)) bad++;
        free(copy);
        pth_heap_free(h);
    }
    CHECK(bad == 0, "all %zu prefixes of data.pkl fail cleanly and the whole parses (%d wrong)", len, bad);
    free(pkl);
    pth_zip_close(z);
}

static medsam_status unpickle_bytes(const char *bytes, size_t n, pth_heap *h, pth_value **root, medsam_error *err) {
    return pth_unpickle((const uint8_t *)bytes, n, h, root, err);
}

static void expect_pickle(const char *what, const char *bytes, size_t n, medsam_status code, const char *needle) {
    pth_heap *h = pth_heap_new(PTH_PICKLE_MAX_NODES);
    pth_value *root;
    medsam_error err = {0};
    medsam_status st = unpickle_bytes(bytes, n, h, &root, &err);
    CHECK(st == code && (!needle || strstr(err.message, needle)), "%s: got %s '%s'", what, medsam_status_name(st),
          err.message);
    pth_heap_free(h);
}

#define PK(s) s, sizeof(s) - 1

static void test_pickle_edge_cases(void) {
    printf("-- hand-made pickles\n");
    expect_pickle("memo get unset", PK("\x80\x02h\x05."), MEDSAM_ERR_FORMAT, "memo");
    expect_pickle("huge LONG_BINPUT", PK("\x80\x02Nr\xff\xff\xff\x7f."), MEDSAM_ERR_FORMAT, "memo index");
    expect_pickle("BINUNICODE past end", PK("\x80\x02X\xff\xff\xff\xff" "abc."), MEDSAM_ERR_FORMAT, "past the end");
    expect_pickle("BINUNICODE8 huge", PK("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff."), MEDSAM_ERR_FORMAT, NULL);
    expect_pickle("STOP on empty stack", PK("\x80\x02."), MEDSAM_ERR_FORMAT, "STOP");
    expect_pickle("no STOP", PK("\x80\x02N"), MEDSAM_ERR_FORMAT, "STOP");
    expect_pickle("protocol 6", PK("\x80\x06N."), MEDSAM_ERR_UNSUPPORTED, "protocol 6");
    expect_pickle("INST os.system", PK("(S'ls'\nios\nsystem\n."), MEDSAM_ERR_UNSUPPORTED, "text strings");
    expect_pickle("INST os.system (no args)", PK("(ios\nsystem\n."), MEDSAM_ERR_UNSAFE, "'os.system'");
    expect_pickle("EXT1", PK("\x80\x02\x82\x01."), MEDSAM_ERR_UNSAFE, "extension");
    expect_pickle("subprocess", PK("\x80\x02" "csubprocess\ncheck_output\n."), MEDSAM_ERR_UNSAFE,
                  "'subprocess.check_output'");
    expect_pickle("REDUCE non-global", PK("\x80\x02N)R."), MEDSAM_ERR_FORMAT, "not an allowed global");
    expect_pickle("SETITEM on list", PK("\x80\x02]NNs."), MEDSAM_ERR_FORMAT, "SETITEM");
    expect_pickle("APPENDS without mark", PK("\x80\x02]Ne."), MEDSAM_ERR_FORMAT, "MARK");
    expect_pickle("odd SETITEMS", PK("\x80\x02}(Nu."), MEDSAM_ERR_FORMAT, "odd");
    expect_pickle("pop below mark", PK("\x80\x02N(\x85."), MEDSAM_ERR_FORMAT, "underflow");
    expect_pickle("LONG1 too big", PK("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."),
                  MEDSAM_ERR_UNSUPPORTED, "64 bits");
    expect_pickle("LONG1 9-byte sign extension", PK("\x80\x02\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff."),
                  MEDSAM_OK, NULL);
    expect_pickle("storage REDUCE", PK("\x80\x02" "ctorch\nFloatStorage\n)R."), MEDSAM_ERR_UNSUPPORTED, "storage");
    expect_pickle("persid not a storage", PK("\x80\x02N\x85Q."), MEDSAM_ERR_FORMAT, "persistent id");
    expect_pickle("storage key with slash",
                  PK("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x04\x00\x00\x00../0X\x03\x00\x00\x00"
                     "cpuK\x01tQ."),
                  MEDSAM_ERR_FORMAT, "storage key");

    /* 200000-deep nesting parses (no recursion); writing it back is refused by the depth guard. */
    size_t depth = 200000;
    char *deep = malloc(2 * depth + 8);
    size_t n = 0;
    deep[n++] = (char)0x80; deep[n++] = 2;
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    for (size_t i = 1; i < depth; i++) deep[n++] = 'a';
    deep[n++] = '.';
    pth_heap *h = pth_heap_new(PTH_PICKLE_MAX_NODES);
    pth_value *root = NULL;
    medsam_error err = {0};
    CHECK(pth_unpickle((uint8_t *)deep, n, h, &root, &err) == MEDSAM_OK, "deep nesting parses: %s", err.message);
    uint8_t *out = NULL;
    size_t out_len, nt;
    const pth_value **ts = NULL;
    medsam_status st = root ? pth_pickle_dump(root, &out, &out_len, &ts, &nt, &err) : MEDSAM_OK;
    CHECK(st == MEDSAM_ERR_ARG && strstr(err.message, "deeper"), "deep tree refused by the writer: %s", err.message);
    free(deep);
    pth_heap_free(h);

    /* A self-containing list, and a tuple in a cycle through a list, survive dump -> load. */
    h = pth_heap_new(PTH_PICKLE_MAX_NODES);
    CHECK(unpickle_bytes(PK("\x80\x02]q\x00h\x00" "a."), h, &root, &err) == MEDSAM_OK && root &&
              pth_value_item(root, 0) == root,
          "self-containing list parses");
    pth_value *tl = pth_new_list(h), *tt = pth_new_tuple(h, &tl, 1);
    pth_list_append(h, tl, tt);
    pth_list_append(h, root, tt);
    st = pth_pickle_dump(root, &out, &out_len, &ts, &nt, &err);
    CHECK(st == MEDSAM_OK, "cyclic tree written: %s", err.message);
    pth_heap *h2 = pth_heap_new(PTH_PICKLE_MAX_NODES);
    pth_value *back = NULL;
    CHECK(st == MEDSAM_OK && pth_unpickle(out, out_len, h2, &back, &err) == MEDSAM_OK && back &&
              pth_value_item(back, 0) == back && pth_value_type(pth_value_item(back, 1)) == PTH_VAL_TUPLE,
          "cycle reloads as a cycle: %s", err.message);
    free(out);
    free(ts);
    pth_heap_free(h2);
    pth_heap_free(h);

    /* 60 levels of x = [x, x]: 2^60 paths, written in linear size thanks to the memo. */
    h = pth_heap_new(0);
    pth_value *x = pth_new_list(h);
    for (int i = 0; i < 60; i++) {
        pth_value *y = pth_new_list(h);
        pth_list_append(h, y, x);
        pth_list_append(h, y, x);
        x = y;
    }
    st = pth_pickle_dump(x, &out, &out_len, &ts, &nt, &err);
    CHECK(st == MEDSAM_OK && out_len < 2000, "shared DAG written once per node (%zu bytes)", out_len);
    h2 = pth_heap_new(PTH_PICKLE_MAX_NODES);
    CHECK(st == MEDSAM_OK && pth_unpickle(out, out_len, h2, &back, &err) == MEDSAM_OK &&
              pth_value_item(back, 0) == pth_value_item(back, 1),
          "sharing preserved");
    free(out);
    free(ts);
    pth_heap_free(h2);
    pth_heap_free(h);
    /* node limit */
    h = pth_heap_new(10);
    CHECK(unpickle_bytes(PK("\x80\x02(NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN."), h, &root, &err) == MEDSAM_ERR_NOMEM,
          "node limit enforced: %s", err.message);
    pth_heap_free(h);
}

/* Generic values survive pickle_dump -> unpickle unchanged. */
static void test_value_round_trip(void) {
    printf("-- value round trip\n");
    pth_heap *h = pth_heap_new(0);
    const int64_t ints[] = {0, 1, 255, 256, 65535, 65536, -1, -129, INT32_MIN, INT32_MAX, (int64_t)INT32_MAX + 1,
                            (int64_t)INT32_MIN - 1, INT64_MIN, INT64_MAX, (int64_t)1 << 55, -((int64_t)1 << 40)};
    const double dbl[] = {0.0, -0.0, 1e300, -2.5e-310, 0.1, INFINITY};
    size_t ni = sizeof ints / sizeof ints[0], nd = sizeof dbl / sizeof dbl[0];
    pth_value *list = pth_new_list(h);
    for (size_t i = 0; i < ni; i++) pth_list_append(h, list, pth_new_int(h, ints[i]));
    for (size_t i = 0; i < nd; i++) pth_list_append(h, list, pth_new_float(h, dbl[i]));
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    pth_list_append(h, list, pth_new_bytes(h, all, 256));
    pth_list_append(h, list, pth_new_str(h, "h\xc3\xa9llo", 6));
    pth_value *tup[5] = {pth_new_none(h), pth_new_bool(h, 1), pth_new_bool(h, 0), pth_new_set(h, 0), pth_new_set(h, 1)};
    pth_list_append(h, tup[3], pth_new_int(h, 4));
    pth_list_append(h, list, pth_new_tuple(h, tup, 5));
    pth_value *root = pth_new_dict(h, 0);
    for (int i = 0; i < 2500; i++) pth_dict_append(h, root, pth_new_int(h, i), pth_new_int(h, -i)); /* > 1 SETITEMS batch */
    pth_dict_set_str(h, root, "list", list);
    CHECK(!pth_heap_failed(h), "built");
    uint8_t *pkl = NULL;
    size_t len = 0, nt = 0;
    const pth_value **ts = NULL;
    medsam_error err = {0};
    CHECK(pth_pickle_dump(root, &pkl, &len, &ts, &nt, &err) == MEDSAM_OK && nt == 0, "dump: %s", err.message);
    pth_heap *h2 = pth_heap_new(PTH_PICKLE_MAX_NODES);
    pth_value *back = NULL;
    CHECK(pkl && pth_unpickle(pkl, len, h2, &back, &err) == MEDSAM_OK, "reload: %s", err.message);
    const pth_value *l2 = pth_dict_get(back, "list");
    int64_t iv;
    double dv;
    int bad = 0;
    for (size_t i = 0; i < ni; i++) bad += !(pth_value_as_int(pth_value_item(l2, i), &iv) && iv == ints[i]);
    for (size_t i = 0; i < nd; i++)
        bad += !(pth_value_as_float(pth_value_item(l2, ni + i), &dv) && memcmp(&dv, &dbl[i], sizeof dv) == 0);
    CHECK(bad == 0, "ints and floats exact (%d wrong)", bad);
    const pth_value *by = pth_value_item(l2, ni + nd), *str = pth_value_item(l2, ni + nd + 1);
    CHECK(pth_value_type(by) == PTH_VAL_BYTES && by->len == 256 && memcmp(by->str, all, 256) == 0, "bytes 0..255");
    CHECK(pth_value_str(str) && strcmp(pth_value_str(str), "h\xc3\xa9llo") == 0, "utf-8 string");
    const pth_value *t2 = pth_value_item(l2, ni + nd + 2);
    CHECK(pth_value_len(t2) == 5 && pth_value_type(pth_value_item(t2, 0)) == PTH_VAL_NONE &&
              pth_value_item(t2, 1)->i == 1 && pth_value_item(t2, 2)->i == 0 &&
              pth_value_len(pth_value_item(t2, 3)) == 1 && pth_value_item(t2, 4)->kind == 1,
          "tuple of None, True, False, set, frozenset");
    CHECK(pth_value_len(back) == 2501 && pth_value_as_int(pth_dict_get_int(back, 2499), &iv) && iv == -2499,
          "2500-entry int-keyed dict");
    free(pkl);
    free(ts);
    pth_heap_free(h2);
    pth_heap_free(h);
}

/* Builds the state dict that make_pth_fixtures.py --check-c-writer expects. */
typedef struct {
    float w[12], b[4], scalar, ea[12], eas[12];
    uint16_t half[4];
} writer_data;

static uint16_t f32_to_f16_exact(float x) { /* for the formula's values: normal, exactly representable */
    uint32_t b;
    memcpy(&b, &x, 4);
    if ((b & 0x7FFFFFFFu) == 0) return (uint16_t)(b >> 16);
    uint32_t sign = (b >> 16) & 0x8000u, exp = ((b >> 23) & 0xFF) - 112, man = (b >> 13) & 0x3FF;
    return (uint16_t)(sign | (exp << 10) | man);
}

static pth_value *build_state_dict(pth_writer *w, writer_data *d) {
    fill(d->w, 12, 0);
    fill(d->b, 4, 1);
    d->scalar = 2.5f;
    float hf[4];
    fill(hf, 4, 2);
    for (int i = 0; i < 4; i++) d->half[i] = f32_to_f16_exact(hf[i]);
    pth_value *sd = pth_writer_ordered_dict(w);
    pth_writer_set(w, sd, "a.weight", pth_writer_tensor_f32(w, d->w, 2, (int64_t[]){3, 4}));
    pth_writer_set(w, sd, "a.bias", pth_writer_tensor_f32(w, d->b, 1, (int64_t[]){4}));
    pth_writer_set(w, sd, "empty", pth_writer_tensor_f32(w, NULL, 2, (int64_t[]){0, 3}));
    pth_writer_set(w, sd, "scalar", pth_writer_tensor_f32(w, &d->scalar, 0, NULL));
    pth_writer_set(w, sd, "half", pth_writer_tensor(w, PTH_F16, d->half, 2, (int64_t[]){2, 2}));
    return sd;
}

static pth_value *build_checkpoint(pth_writer *w, writer_data *d) {
    fill(d->ea, 12, 3);
    fill(d->eas, 12, 4);
    pth_value *ck = pth_writer_dict(w);
    pth_writer_set(w, ck, "model", build_state_dict(w, d));
    pth_writer_set(w, ck, "epoch", pth_writer_int(w, 3));
    pth_writer_set(w, ck, "name", pth_writer_str(w, "medsam"));
    pth_value *opt = pth_writer_dict(w), *state = pth_writer_dict(w), *s0 = pth_writer_dict(w);
    pth_writer_set(w, s0, "step", pth_writer_int(w, 10));
    pth_writer_set(w, s0, "exp_avg", pth_writer_tensor_f32(w, d->ea, 2, (int64_t[]){3, 4}));
    pth_writer_set(w, s0, "exp_avg_sq", pth_writer_tensor_f32(w, d->eas, 2, (int64_t[]){3, 4}));
    pth_writer_set_value(w, state, pth_writer_int(w, 0), s0);
    pth_value *g = pth_writer_dict(w), *groups = pth_writer_list(w), *params = pth_writer_list(w);
    pth_value *betas[2] = {pth_writer_float(w, 0.9), pth_writer_float(w, 0.999)};
    pth_writer_set(w, g, "lr", pth_writer_float(w, 1e-4));
    pth_writer_set(w, g, "betas", pth_writer_tuple(w, betas, 2));
    pth_writer_set(w, g, "weight_decay", pth_writer_float(w, 0.01));
    pth_writer_append(w, params, pth_writer_int(w, 0));
    pth_writer_append(w, params, pth_writer_int(w, 1));
    pth_writer_set(w, g, "params", params);
    pth_writer_set(w, g, "amsgrad", pth_writer_bool(w, 0));
    pth_writer_set(w, g, "foreach", pth_writer_none(w));
    pth_writer_set(w, g, "big", pth_writer_int(w, -((int64_t)1 << 40)));
    pth_writer_append(w, groups, g);
    pth_writer_set(w, opt, "state", state);
    pth_writer_set(w, opt, "param_groups", groups);
    pth_writer_set(w, ck, "optimizer", opt);
    return ck;
}

/* Reads back a C-written file and compares bit-exactly with what was written. */
static void check_written(const char *path, const writer_data *d, int is_checkpoint) {
    pth_file *f = open_ok(path);
    if (!f) return;
    CHECK(pth_tensor_count(f) == 5, "%s: 5 tensors", path);
    check_tensor(f, "a.weight", PTH_F32, 2, (int64_t[]){3, 4}, d->w);
    check_tensor(f, "a.bias", PTH_F32, 1, (int64_t[]){4}, d->b);
    check_tensor(f, "scalar", PTH_F32, 0, NULL, &d->scalar);
    float hf[4];
    fill(hf, 4, 2);
    check_tensor(f, "half", PTH_F16, 2, (int64_t[]){2, 2}, hf);
    const pth_tensor *e = pth_find(f, "empty");
    CHECK(e && e->numel == 0 && shape_is(e, 2, (int64_t[]){0, 3}), "%s: empty (0,3)", path);
    if (is_checkpoint) {
        const pth_value *root = pth_root(f), *s0 = pth_dict_get_int(pth_dict_get(pth_dict_get(root, "optimizer"), "state"), 0);
        int64_t epoch = 0, step = 0;
        CHECK(pth_value_as_int(pth_dict_get(root, "epoch"), &epoch) && epoch == 3, "%s: epoch", path);
        CHECK(pth_value_as_int(pth_dict_get(s0, "step"), &step) && step == 10, "%s: step", path);
        const pth_tensor *ea = pth_value_tensor(pth_dict_get(s0, "exp_avg"));
        float got[12];
        medsam_error err = {0};
        CHECK(ea && ea->numel == 12 && pth_read_f32(f, ea, got, &err) == MEDSAM_OK, "%s: exp_avg", path);
        if (ea && ea->numel == 12) t_close("written exp_avg", got, d->ea, 12, 0, 0, 0);
    }
    pth_close(f);
    /* torch's layout: data.pkl first, storages aligned to 64 bytes */
    pth_zip *z = NULL;
    medsam_error err = {0};
    CHECK(pth_zip_open_file(path, &z, &err) == MEDSAM_OK, "%s: zip", path);
    int aligned = 1;
    for (int i = 0; z && i < pth_zip_count(z); i++) aligned &= pth_zip_entry_at(z, i)->data_offset % 64 == 0;
    CHECK(z && strcmp(pth_zip_entry_at(z, 0)->name, "archive/data.pkl") == 0 && aligned,
          "%s: archive/data.pkl first, all data 64-byte aligned", path);
    pth_zip_close(z);
}

static void test_writer(void) {
    printf("-- C writer round trip\n");
    const char *keep = getenv("MEDSAM_PTH_OUT");
    char dir[4096];
    if (keep && *keep) {
        snprintf(dir, sizeof dir, "%s", keep);
        mkdir(dir, 0755);
    } else {
        snprintf(dir, sizeof dir, "/tmp/medsam_test_pth_XXXXXX");
        CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    }
    char p1[4200], p2[4200], p3[4200];
    snprintf(p1, sizeof p1, "%s/c_state_dict.pth", dir);
    snprintf(p2, sizeof p2, "%s/c_checkpoint.pth", dir);
    snprintf(p3, sizeof p3, "%s/c_checkpoint_zip64.pth", dir);
    writer_data d;
    medsam_error err = {0};
    pth_writer *w = pth_writer_new();
    pth_value *sd = build_state_dict(w, &d);
    CHECK(pth_writer_save(w, sd, p1, &err) == MEDSAM_OK, "save state dict: %s", err.message);
    pth_writer_free(w);
    check_written(p1, &d, 0);
    for (int z64 = 0; z64 < 2; z64++) {
        w = pth_writer_new();
        pth_writer_force_zip64(w, z64);
        pth_value *ck = build_checkpoint(w, &d);
        const char *p = z64 ? p3 : p2;
        CHECK(pth_writer_save(w, ck, p, &err) == MEDSAM_OK, "save %s: %s", p, err.message);
        pth_writer_free(w);
        check_written(p, &d, 1);
    }
    /* a failed build is reported, and nothing is written */
    w = pth_writer_new();
    pth_value *bad = pth_writer_dict(w);
    pth_writer_set(w, bad, "x", pth_writer_str(w, NULL));
    char p4[4200];
    snprintf(p4, sizeof p4, "%s/c_bad.pth", dir);
    CHECK(pth_writer_save(w, bad, p4, &err) == MEDSAM_ERR_NOMEM && access(p4, F_OK) != 0,
          "failed build refused, no file: %s", err.message);
    pth_writer_free(w);
    /* in-memory open of a C-written file */
    FILE *fp = fopen(p2, "rb");
    static uint8_t buf[1 << 16];
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    pth_file *f = NULL;
    CHECK(pth_open_mem(buf, n, "mem.pth", &f, &err) == MEDSAM_OK && pth_tensor_count(f) == 5, "open_mem: %s",
          err.message);
    pth_close(f);
    if (!(keep && *keep)) {
        remove(p1); remove(p2); remove(p3);
        rmdir(dir);
    } else {
        printf("   kept C-written checkpoints in %s\n", dir);
    }
}

/* A flipped byte inside a tensor's storage (basic.pth's w_f32, basic/data/0): the archive still
 * opens, reading the tensor fails its CRC-32 check with a message naming it. */
static void test_bad_crc(void) {
    FILE *fp = fopen(FIX "basic.pth", "rb");
    CHECK(fp != NULL, "open basic.pth");
    if (!fp) return;
    unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    const char *name = "basic/data/0";
    size_t data = 0;
    for (size_t i = 0; i + 30 + strlen(name) <= n && !data; i++)
        if (!memcmp(buf + i, "PK\x03\x04", 4) && buf[i + 26] + 256u * buf[i + 27] == strlen(name) &&
            !memcmp(buf + i + 30, name, strlen(name)))
            data = i + 30 + strlen(name) + buf[i + 28] + 256u * buf[i + 29];
    CHECK(data > 0 && data + 60 <= n, "found %s's data", name);
    if (!data) return;
    buf[data + 17] ^= 0x10;
    char path[] = "/tmp/test_pth_crc_XXXXXX.pth";
    int fd = mkstemps(path, 4);
    CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n, "write %s", path);
    if (fd >= 0) close(fd);
    pth_file *f = open_ok(path);
    if (f) {
        const pth_tensor *t = pth_find(f, "w_f32");
        float v[15];
        medsam_error err = {0};
        medsam_status st = t ? pth_read_f32(f, t, v, &err) : MEDSAM_OK;
        CHECK(st == MEDSAM_ERR_FORMAT && strstr(err.message, "CRC-32") && strstr(err.message, "w_f32"),
              "corrupt storage: %d %s", st, err.message);
        pth_close(f);
    }
    remove(path);
}

int main(void) {
    test_bad_crc();
    test_basic(FIX "basic.pth", 1);
    test_basic(FIX "deflated.pth", 1);
    test_basic(FIX "proto4.pth", 0);
    test_basic(FIX "proto5.pth", 0);
    test_checkpoint();
    test_bad_files();
    test_pickle_prefixes();
    test_pickle_edge_cases();
    test_value_round_trip();
    test_writer();
    return t_summary();
}
