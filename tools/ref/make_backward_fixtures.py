"""PyTorch-autograd fixtures for the backward kernels (tests/test_backward.c).

    /usr/bin/python3 tools/ref/make_backward_fixtures.py [OUTDIR]   # default tests/fixtures/backward

Each case is an .npz of float32 arrays: the inputs (as the C kernels take them),
the upstream gradient `dout`, and the gradients autograd gives. Inputs are drawn
in float32; the reference gradients are computed by autograd in FLOAT64 from
those float32 values (then stored as float32), so they are exact to ~1e-7 and the
C test measures the C kernels' own error. The script prints, for comparison, how
far PyTorch's own float32 autograd is from the float64 result.

Modules come from the official code, imported from $SAM_REF_DIR (default
/work/ref/MedSAM): image_encoder.Attention / window_partition / window_unpartition /
PatchEmbed, common.LayerNorm2d, transformer.Attention. The loss is monai's
DiceLoss(sigmoid=True, squared_pred=True, reduction="mean") + nn.BCEWithLogitsLoss():
imported from $MONAI_REF_DIR when set (a source tree of monai 1.1/1.2 that imports),
otherwise the same formula written out below (monai 1.2 losses/dice.py), and
when monai is available both are checked against each other.

The upsample case is float32 on purpose: the C backward reproduces torch 1.13's
CPU kernel (its AVX2 build: fused multiply-adds) bit for bit, so its fixture is
torch's float32 result.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

SAM_REF_DIR = os.environ.get("SAM_REF_DIR", "/work/ref/MedSAM")
sys.path.insert(0, SAM_REF_DIR)
from segment_anything.modeling.common import LayerNorm2d  # noqa: E402
from segment_anything.modeling.image_encoder import (  # noqa: E402
    Attention as VitAttention, PatchEmbed, window_partition, window_unpartition)
from segment_anything.modeling.transformer import Attention as DecAttention  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/fixtures/backward")

rng = np.random.default_rng(20240607)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def f32(t):
    return np.ascontiguousarray((t.detach().numpy() if torch.is_tensor(t) else np.asarray(t)).astype(np.float32))


def save(name, **arrays):
    path = os.path.join(OUT, name + ".npz")
    np.savez(path, **{k: f32(v) for k, v in arrays.items()})
    print(f"{name}.npz: {os.path.getsize(path)} bytes")


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def run(fn, leaves, dout, dtype):
    """Calls fn(*leaf tensors of dtype) -> output; returns (output, grads) for sum(out * dout)."""
    ts = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in leaves]
    out = fn(*ts)
    (out * torch.tensor(dout, dtype=dtype)).sum().backward()
    return out, [t.grad for t in ts]


def both(name, fn, leaves, dout):
    """float64 reference; prints float32 autograd's distance to it."""
    out64, g64 = run(fn, leaves, dout, torch.float64)
    out32, g32 = run(fn, leaves, dout, torch.float32)
    # a gradient that is zero in exact arithmetic (the k_proj bias: softmax ignores a per-row
    # constant) is compared by its largest magnitude instead
    exact_zero = [float(b.abs().max()) < 1e-12 for b in g64]
    worst = max([rel(a.numpy(), b.numpy()) for a, b, z in zip(g32, g64, exact_zero) if not z])
    note = "".join(f", a zero gradient is {float(a.abs().max()):.0e} in float32" for a, z in zip(g32, exact_zero) if z)
    print(f"  {name}: torch float32 autograd vs float64: worst relative L2 {worst:.1e}{note}")
    return out64, g64


def module_fn(mod, names):
    """fn(inputs..., params...) running `mod` with its parameters replaced by the given tensors."""
    from torch.nn.utils.stateless import functional_call

    def fn(*ts):
        n_in = len(ts) - len(names)
        return functional_call(mod, dict(zip(names, ts[n_in:])), tuple(ts[:n_in]))
    return fn


def params_of(mod):
    names = [n for n, _ in mod.named_parameters()]
    vals = [randn(*p.shape, scale=0.5) for _, p in mod.named_parameters()]
    return names, vals


def case_linear():
    x, w, b, dout = randn(5, 7), randn(6, 7, scale=0.4), randn(6), randn(5, 6)
    _, (dx, dw, db) = both("linear", lambda x, w, b: F.linear(x, w, b), [x, w, b], dout)
    save("linear", x=x, w=w, b=b, dout=dout, dx=dx, dw=dw, db=db)


def case_layernorm():
    x, w, b, dout = randn(6, 16, scale=2.0) + 0.5, randn(16), randn(16), randn(6, 16)
    _, (dx, dw, db) = both("layernorm", lambda x, w, b: F.layer_norm(x, (16,), w, b, 1e-6), [x, w, b], dout)
    save("layernorm", x=x, w=w, b=b, dout=dout, dx=dx, dw=dw, db=db)
    # common.py:LayerNorm2d on NCHW; stored channels-last (the C layout): (N*H*W, C)
    ln = LayerNorm2d(8, eps=1e-6)
    names, (w2, b2) = params_of(ln)
    x2, dout2 = randn(2, 8, 3, 4, scale=1.5), randn(2, 8, 3, 4)
    _, (dx2, dw2, db2) = both("layernorm2d", module_fn(ln, names), [x2, w2, b2], dout2)
    cl = lambda t: np.asarray(t).transpose(0, 2, 3, 1).reshape(-1, 8)  # noqa: E731
    save("layernorm2d", x=cl(x2), w=w2, b=b2, dout=cl(dout2), dx=cl(dx2), dw=dw2, db=db2)


def case_activations():
    x = np.linspace(-6, 6, 61).astype(np.float32) + 0.013  # no exact 0
    x = np.concatenate([x, randn(35, scale=2.0)])
    dout = randn(x.size)
    _, (dg,) = both("gelu", lambda x: F.gelu(x), [x], dout)
    _, (dr,) = both("relu", lambda x: F.relu(x), [x], dout)
    save("activations", x=x, dout=dout, dgelu=dg, drelu=dr)


def vit_core_case(name, ngroups, sh, sw, heads, hd):
    C = heads * hd
    attn = VitAttention(C, num_heads=heads, qkv_bias=True, use_rel_pos=True, input_size=(sh, sw))
    attn.qkv, attn.proj = torch.nn.Identity(), torch.nn.Identity()
    names = ["rel_pos_h", "rel_pos_w"]
    qkv = randn(ngroups, sh, sw, 3 * C)
    rh, rw = randn(2 * sh - 1, hd, scale=0.7), randn(2 * sw - 1, hd, scale=0.7)
    dout = randn(ngroups, sh, sw, C)
    out, (dqkv, drh, drw) = both(name, module_fn(attn, names), [qkv, rh, rw], dout)
    save(name, qkv=qkv.reshape(ngroups, sh * sw, 3 * C), rel_pos_h=rh, rel_pos_w=rw,
         dout=dout.reshape(ngroups, sh * sw, C), out=out.reshape(ngroups, sh * sw, C),
         dqkv=dqkv.reshape(ngroups, sh * sw, 3 * C), drel_pos_h=drh, drel_pos_w=drw)


def case_vit_block_window():
    """Block.forward's attention path on a 5x5 grid, windows of 3 (padded to 6x6):
    window_partition -> Attention (qkv, rel-pos, proj) -> window_unpartition."""
    G, ws, heads, hd = 5, 3, 2, 4
    C = heads * hd
    attn = VitAttention(C, num_heads=heads, qkv_bias=True, use_rel_pos=True, input_size=(ws, ws))
    names, vals = params_of(attn)

    def fn(x, *ps):
        xw, pad_hw = window_partition(x, ws)
        y = module_fn(attn, names)(xw, *ps)
        return window_unpartition(y, ws, pad_hw, (G, G))

    x, dout = randn(1, G, G, C), randn(1, G, G, C)
    _, grads = both("vit_block_window", fn, [x] + vals, dout)
    arrays = dict(x=x.reshape(G * G, C), dout=dout.reshape(G * G, C), dx=grads[0].reshape(G * G, C))
    for n, v, g in zip(names, vals, grads[1:]):
        key = n.replace(".", "_")
        arrays[key] = v
        arrays["d" + key] = g
    save("vit_block_window", **arrays)


def mha_case(name, Nq, Nk, D, heads, down, self_attn):
    attn = DecAttention(D, heads, downsample_rate=down)
    names, vals = params_of(attn)
    dout = randn(1, Nq, D)
    if self_attn:
        q = randn(1, Nq, D)
        fn = lambda q, *ps: module_fn(attn, names)(q, q, q, *ps)  # noqa: E731
        _, grads = both(name, fn, [q] + vals, dout)
        arrays = dict(q=q[0], dq=grads[0][0])
        pgrads = grads[1:]
    else:
        q, k, v = randn(1, Nq, D), randn(1, Nk, D), randn(1, Nk, D)
        _, grads = both(name, module_fn(attn, names), [q, k, v] + vals, dout)
        arrays = dict(q=q[0], k=k[0], v=v[0], dq=grads[0][0], dk=grads[1][0], dv=grads[2][0])
        pgrads = grads[3:]
    arrays["dout"] = dout[0]
    for n, v, g in zip(names, vals, pgrads):
        key = n.replace(".", "_")
        arrays[key] = v
        arrays["d" + key] = g
    save(name, **arrays)


def case_convs():
    # image_encoder.PatchEmbed: Conv2d(k=s=P) then permute to (B, H, W, C)
    pe = PatchEmbed(kernel_size=(4, 4), stride=(4, 4), in_chans=3, embed_dim=6)
    names, (w, b) = params_of(pe)
    x, dout = randn(1, 3, 8, 12), randn(1, 2, 3, 6)
    _, (dx, dw, db) = both("patch_embed", module_fn(pe, names), [x, w, b], dout)
    save("patch_embed", x=x[0], w=w, b=b, dout=dout.reshape(6, 6), dw=dw, db=db)

    cl = lambda t: np.asarray(t)[0].transpose(1, 2, 0).reshape(-1, np.asarray(t).shape[1])  # noqa: E731
    # neck.0: Conv2d(k=1, bias=False)
    x, w, dout = randn(1, 5, 3, 4), randn(6, 5, 1, 1, scale=0.5), randn(1, 6, 3, 4)
    _, (dx, dw) = both("conv1x1", lambda x, w: F.conv2d(x, w), [x, w], dout)
    save("conv1x1", x=cl(x), w=w, dout=cl(dout), dx=cl(dx), dw=dw)
    # neck.2: Conv2d(k=3, padding=1) (the neck has no bias; the kernel supports one)
    x, w, b, dout = randn(1, 5, 4, 6), randn(6, 5, 3, 3, scale=0.3), randn(6), randn(1, 6, 4, 6)
    _, (dx, dw, db) = both("conv3x3", lambda x, w, b: F.conv2d(x, w, b, padding=1), [x, w, b], dout)
    save("conv3x3", x=cl(x), w=w, b=b, dout=cl(dout), dx=cl(dx), dw=dw, db=db)
    # mask_decoder.output_upscaling: ConvTranspose2d(k=2, s=2), channels-first
    x, w, b, dout = randn(1, 6, 3, 5), randn(6, 4, 2, 2, scale=0.5), randn(4), randn(1, 4, 6, 10)
    _, (dx, dw, db) = both("conv_transpose", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2), [x, w, b], dout)
    save("conv_transpose", x=x[0], w=w, b=b, dout=dout[0], dx=dx[0], dw=dw, db=db)


def upsample_dout_hash(n):
    """Deterministic upstream gradient the C test regenerates: (k % 2001 - 1000) / 1000."""
    k = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(4294967296)
    return ((k % np.uint64(2001)).astype(np.float64) - 1000.0) / 1000.0


def case_upsample():
    arrays = {}
    # (name, nplanes, ih, iw, oh, ow); "x4" is 64 -> 256, the scale of MedSAM's 256 -> 1024
    for name, n, ih, iw, oh, ow in [("up", 2, 5, 4, 13, 11), ("odd", 1, 7, 5, 19, 13), ("down", 1, 9, 11, 4, 6),
                                    ("same", 1, 6, 6, 6, 13)]:
        x = torch.tensor(randn(1, n, ih, iw), requires_grad=True)
        dout = randn(1, n, oh, ow)
        F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False).backward(torch.tensor(dout))
        arrays[name + "_dout"], arrays[name + "_dx"] = dout, x.grad
    x = torch.zeros(1, 1, 64, 64, requires_grad=True)
    dout = torch.tensor(upsample_dout_hash(256 * 256).astype(np.float32).reshape(1, 1, 256, 256))
    F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False).backward(dout)
    arrays["x4_dx"] = x.grad
    save("upsample", **arrays)


def dice_bce_formula(x, g):
    """monai 1.2 DiceLoss(sigmoid=True, squared_pred=True, reduction='mean') + BCEWithLogitsLoss()."""
    p = torch.sigmoid(x)
    axes = list(range(2, x.dim()))
    inter = torch.sum(g * p, dim=axes)
    den = torch.sum(g ** 2, dim=axes) + torch.sum(p ** 2, dim=axes)
    dice = torch.mean(1.0 - (2.0 * inter + 1e-5) / (den + 1e-5))
    return dice, F.binary_cross_entropy_with_logits(x, g)


def case_loss():
    B, H, W = 3, 12, 10
    x = randn(B, 1, H, W, scale=4.0)
    x[0, 0, 0, :3] = [25.0, -30.0, 90.0]  # saturated logits
    g = np.zeros((B, 1, H, W), np.float32)
    g[0, 0, 3:9, 2:7] = 1
    g[1, 0, 1:4, 5:10] = 1  # plane 2 stays empty (an absent label)
    monai_dir = os.environ.get("MONAI_REF_DIR")
    if monai_dir:
        sys.path.insert(0, monai_dir)
        import monai  # noqa: F401
        from monai.losses import DiceLoss
        dl = DiceLoss(sigmoid=True, squared_pred=True, reduction="mean")
        xt, gt = torch.tensor(x, dtype=torch.float64), torch.tensor(g, dtype=torch.float64)
        d_m, d_f = dl(xt, gt), dice_bce_formula(xt, gt)[0]
        print(f"  monai {monai.__version__} DiceLoss {d_m.item():.17g} vs formula {d_f.item():.17g}")
        assert abs(d_m.item() - d_f.item()) < 1e-15
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    dice, bce = dice_bce_formula(xt, torch.tensor(g, dtype=torch.float64))
    (dice + bce).backward()
    x32 = torch.tensor(x, requires_grad=True)
    sum(dice_bce_formula(x32, torch.tensor(g))).backward()
    print(f"  loss: torch float32 autograd vs float64: relative L2 {rel(x32.grad.numpy(), xt.grad.numpy()):.1e}")
    save("loss", logits=x.reshape(B, H * W), target=g.reshape(B, H * W), dlogits=xt.grad.reshape(B, H * W),
         values=np.array([(dice + bce).item(), dice.item(), bce.item()]))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    case_linear()
    case_layernorm()
    case_activations()
    vit_core_case("vit_attn_global", ngroups=2, sh=4, sw=5, heads=2, hd=8)
    vit_core_case("vit_attn_window", ngroups=4, sh=3, sw=3, heads=3, hd=4)
    case_vit_block_window()
    mha_case("mha_cross", Nq=5, Nk=7, D=16, heads=2, down=2, self_attn=False)
    mha_case("mha_self", Nq=6, Nk=6, D=12, heads=3, down=1, self_attn=True)
    case_convs()
    case_upsample()
    case_loss()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"total {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
