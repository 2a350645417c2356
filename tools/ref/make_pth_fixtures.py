#!/usr/bin/python3
"""Makes the .pth fixtures for tests/test_pth.c with real torch.save, and
checks that torch.load reads checkpoints written by the C writer.

    /usr/bin/python3 tools/ref/make_pth_fixtures.py            # (re)writes tests/fixtures/pth/
    make build/tests/test_pth && MEDSAM_PTH_OUT=/tmp/pthc build/tests/test_pth
    /usr/bin/python3 tools/ref/make_pth_fixtures.py --check-c-writer /tmp/pthc

Tensor values follow formula(n, k) below; tests/test_pth.c computes the same
values, so no expected-value files are needed. All floats are multiples of
1/8 in [-1.375, 1.375], exact in float16 and bfloat16.
"""
import argparse
import collections
import io
import os
import random
import sys
import zipfile

import torch

MARKER = "/tmp/medsam_pth_fixture_pwned"  # a malicious fixture would create it if executed


def formula(n, k=0):
    return [((i * 7 + k) % 23 - 11) * 0.125 for i in range(n)]


def ftensor(shape, k=0, dtype=torch.float32):
    n = 1
    for s in shape:
        n *= s
    return torch.tensor(formula(n, k), dtype=torch.float64).reshape(shape).to(dtype)


def basic_state_dict():
    sd = collections.OrderedDict()
    sd["w_f32"] = ftensor((3, 5), 0)
    sd["w_f16"] = ftensor((4, 3), 1, torch.float16)
    sd["w_bf16"] = ftensor((2, 3, 2), 2, torch.bfloat16)
    sd["w_f64"] = torch.tensor([i * 0.1 for i in range(5)], dtype=torch.float64)
    sd["w_i64"] = torch.tensor([-5, 0, 1 << 40], dtype=torch.int64)
    sd["w_i32"] = torch.tensor([-7, 3], dtype=torch.int32)
    sd["w_u8"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    sd["w_bool"] = torch.tensor([True, False, True, True])
    sd["w_t"] = sd["w_f32"].t()  # non-contiguous, shares w_f32's storage
    big = ftensor((6, 8), 3)
    sd["w_slice"] = big[1:5:2, 2:7]  # offset 10, stride (16, 1); storage of 48
    sd["empty"] = torch.zeros((0, 4))
    sd["scalar"] = torch.tensor(2.5)
    sd["param"] = torch.nn.Parameter(ftensor((2, 2), 4))
    sd["f16_special"] = torch.tensor(
        [0.0, -0.0, 1.0, 65504.0, 2.0 ** -24, 2.0 ** -14, 3 * 2.0 ** -20, float("inf"), float("-inf"), float("nan")],
        dtype=torch.float16)
    return sd


def checkpoint():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(ftensor((4, 3), 5))
        model[0].bias.copy_(ftensor((4,), 6))
        model[1].weight.copy_(ftensor((2, 4), 7))
        model[1].bias.copy_(ftensor((2,), 8))
    saved = collections.OrderedDict(("module." + k, v.clone()) for k, v in model.state_dict().items())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss = model(ftensor((5, 3), 9)).square().sum()
    loss.backward()
    opt.step()
    osd = opt.state_dict()
    return {
        "model": saved,
        "optimizer": osd,
        "epoch": 3,
        "best_loss": 0.25,
        "name": "medsam",
        "ref_exp_avg0": osd["state"][0]["exp_avg"].clone(),
        "misc": [None, True, -(1 << 40), (1, 2.5, "x"), {"a", "b"}, frozenset([7]), b"\x00\xff", {10: "ten"}],
    }


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + MARKER,))


def fixed_zip(path, members, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = compress
            z.writestr(zi, data)


def rewrite(src, dst, drop=None, shorten=None, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(src) as z:
        members = []
        for n in z.namelist():
            if drop and n.endswith(drop):
                continue
            data = z.read(n)
            if shorten and n.endswith(shorten):
                data = data[:4]
            members.append((n, data))
    fixed_zip(dst, members, compress)


def make(out):
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    sd = basic_state_dict()
    torch.save(sd, p("basic.pth"))  # torch 1.13 names the folder after the file: basic/
    small = collections.OrderedDict((k, sd[k]) for k in ("w_f32", "w_t", "w_bf16", "scalar"))
    torch.save(small, p("proto4.pth"), pickle_protocol=4)
    torch.save(small, p("proto5.pth"), pickle_protocol=5)
    torch.save(checkpoint(), p("checkpoint.pth"))
    torch.save(small, p("legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"w": torch.zeros(2, dtype=torch.complex64)}, p("complex.pth"))
    torch.save(torch.nn.Linear(2, 2), p("module.pth"))  # a whole pickled nn.Module
    torch.save(collections.OrderedDict([("w", ftensor((2,))), ("evil", Evil())]), p("malicious_nested.pth"))
    import pickle
    evil_reduce = pickle.dumps(Evil(), protocol=2)  # GLOBAL 'posix system' + REDUCE
    assert b"posix\nsystem" in evil_reduce
    fixed_zip(p("malicious_reduce.pth"), [("archive/data.pkl", evil_reduce), ("archive/version", b"3\n")])
    code = b'__import__("os").system("touch ' + MARKER.encode() + b'")'
    evil_eval = (b"\x80\x04" + b"\x8c\x08builtins\x94" + b"\x8c\x04eval\x94" + b"\x93\x94" +
                 bytes([0x8c, len(code)]) + code + b"\x94\x85\x94R\x94.")
    fixed_zip(p("malicious_eval.pth"), [("archive/data.pkl", evil_eval), ("archive/version", b"3\n")])
    data = open(p("basic.pth"), "rb").read()
    open(p("truncated.pth"), "wb").write(data[: len(data) // 2])
    open(p("notzip.pth"), "wb").write(b"this is not a checkpoint, just some text\n" * 3)
    rng = random.Random(1234)
    fixed_zip(p("garbage_pkl.pth"), [("archive/data.pkl", bytes(rng.randrange(256) for _ in range(300))),
                                     ("archive/version", b"3\n")])
    rewrite(p("basic.pth"), p("missing_storage.pth"), drop="/data/0")
    rewrite(p("basic.pth"), p("short_storage.pth"), shorten="/data/0")
    rewrite(p("basic.pth"), p("deflated.pth"), compress=zipfile.ZIP_DEFLATED)
    # sanity: torch reads what it wrote, and the deflated copy
    assert torch.equal(torch.load(p("deflated.pth"))["w_t"], sd["w_t"])
    total = sum(os.path.getsize(p(f)) for f in os.listdir(out))
    print(f"wrote {len(os.listdir(out))} fixtures, {total} bytes, to {out}")


def check_c_writer(d):
    """torch.load must read the files test_pth wrote with the C writer; values are compared exactly."""
    def same(got, ref, what):
        if not (got.dtype == ref.dtype and got.shape == ref.shape and torch.equal(got, ref)):
            raise SystemExit(f"FAIL {what}: got {got.dtype} {tuple(got.shape)} {got.flatten()[:6]}, "
                             f"ref {ref.dtype} {tuple(ref.shape)} {ref.flatten()[:6]}")

    def check_sd(sd, where):
        assert isinstance(sd, collections.OrderedDict), type(sd)
        assert list(sd) == ["a.weight", "a.bias", "empty", "scalar", "half"], list(sd)
        same(sd["a.weight"], ftensor((3, 4), 0), where + "a.weight")
        same(sd["a.bias"], ftensor((4,), 1), where + "a.bias")
        same(sd["empty"], torch.zeros((0, 3)), where + "empty")
        same(sd["scalar"], torch.tensor(2.5), where + "scalar")
        same(sd["half"], ftensor((2, 2), 2, torch.float16), where + "half")

    check_sd(torch.load(os.path.join(d, "c_state_dict.pth")), "c_state_dict.pth: ")
    for name in ("c_checkpoint.pth", "c_checkpoint_zip64.pth"):
        ck = torch.load(os.path.join(d, name))
        check_sd(ck["model"], name + ": model.")
        assert ck["epoch"] == 3 and ck["name"] == "medsam", (ck["epoch"], ck["name"])
        st = ck["optimizer"]["state"][0]
        assert st["step"] == 10
        same(st["exp_avg"], ftensor((3, 4), 3), name + ": exp_avg")
        same(st["exp_avg_sq"], ftensor((3, 4), 4), name + ": exp_avg_sq")
        g = ck["optimizer"]["param_groups"][0]
        assert g == {"lr": 1e-4, "betas": (0.9, 0.999), "weight_decay": 0.01, "params": [0, 1],
                     "amsgrad": False, "foreach": None, "big": -(1 << 40)}, g
        # torch.optim accepts the optimizer state
        model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        opt = torch.optim.Adam(model.parameters())
        opt.load_state_dict(ck["optimizer"])
    print(f"ok: torch.load read the C writer's files in {d} with exact values")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "pth"))
    ap.add_argument("--check-c-writer", metavar="DIR")
    a = ap.parse_args()
    if a.check_c_writer:
        check_c_writer(a.check_c_writer)
    else:
        make(os.path.normpath(a.out))


if __name__ == "__main__":
    sys.exit(main())
