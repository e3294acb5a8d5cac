"""Small layers shared by the multi-scale families (MSG-GAN and MSPG-SEN).

* :class:`EqualConv2d` / :class:`EqualLinear`: equalized learning rate. Weights are stored as N(0, 1) and the He
  constant ``1/sqrt(fan_in)`` is multiplied in at run time, so Adam's per-parameter step size acts the same on every
  layer whatever its fan-in (the reason ProGAN/MSG-GAN use it).
* :class:`PixelNorm`: divides each pixel's feature vector by its RMS (keeps G's activations from escalating).
* :class:`MinibatchStdDev`: appends the across-batch standard deviation as extra channel(s), so D can see a lack of
  variety in a batch (a collapse signal).
* :func:`global_avg_pool`: the global average of each feature map, with a cheap backward.
* :func:`spectral_norm_if`: wraps a module in spectral normalisation only when a flag asks for it, so one builder
  serves both the plain and the SN variant.
* :func:`pointwise_conv` / :class:`PointwiseConv2d`: a 1x1 convolution computed as a matrix product over channels
  where a CPU does that faster (from-RGB of grey images, to-RGB), the same function as ``F.conv2d``.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


_POINTWISE_AS_MATMUL = True


@contextlib.contextmanager
def plain_pointwise() -> Iterator[None]:
    """Within the block, :func:`pointwise_conv` runs ``F.conv2d`` everywhere (the reference the benchmarks time)."""
    global _POINTWISE_AS_MATMUL
    before, _POINTWISE_AS_MATMUL = _POINTWISE_AS_MATMUL, False
    try:
        yield
    finally:
        _POINTWISE_AS_MATMUL = before


def pointwise_as_matmul(in_ch: int, out_ch: int) -> bool:
    """Whether a CPU runs a 1x1 convolution faster as a matrix product (measured, docs/benchmarks.md).

    oneDNN's convolution is slow at the image ends of these models: one input channel into up to 64 (from-RGB of a
    grey image: 2-20x slower forward, 1.3-9x forward and backward; into 128 channels it was the faster one) and few
    output channels from a thin map (to-RGB from up to 16 channels: mostly 1.1-5x slower forward and backward,
    though often faster forward alone; the rule does not look at whether gradients flow, so a layer takes one
    numerical path in training and in sampling). Between wider maps the convolution is as fast or faster.
    """
    return (in_ch == 1 and out_ch <= 64) or (out_ch <= 3 and in_ch <= 16)


def matmul_1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1x1 convolution of (N, C, H, W) maps as ``F.linear`` over the channel dimension (output channels-last)."""
    return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)


def pointwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` for a 1x1 kernel (stride 1, no padding), as a matrix product where that is faster.

    A 1x1 convolution is ``out[n, o, p] = sum_i W[o, i] x[n, i, p] + b[o]``: a linear layer applied to every pixel.
    On a CPU, for the channel counts :func:`pointwise_as_matmul` names, it runs as ``F.linear`` over the channel
    dimension: the same result (float32 summation order aside), returned in the channels-last layout, which the
    convolutions that follow read without a copy. Elsewhere, on other devices and when traced for export, the plain
    convolution runs.
    """
    if (not _POINTWISE_AS_MATMUL or x.device.type != "cpu" or x.dim() != 4 or torch.jit.is_tracing()
            or not pointwise_as_matmul(weight.shape[1], weight.shape[0])):
        return F.conv2d(x, weight, bias)
    return matmul_1x1(x, weight, bias)


class PointwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(in_ch, out_ch, 1)`` run by :func:`pointwise_conv`: the same parameters and state-dict keys (so
    checkpoints load either way, and spectral norm wraps it as it wraps a convolution), less time on a CPU."""

    def __init__(self, in_ch: int, out_ch: int, bias: bool = True) -> None:
        super().__init__(in_ch, out_ch, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise_conv(x, self.weight, self.bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate: weight ~ N(0, 1/lr_mul^2), scaled by ``lr_mul / sqrt(fan_in)`` at run time.

    Args:
        in_ch, out_ch, kernel_size, stride, padding: as :class:`torch.nn.Conv2d`.
        bias: learn an additive bias (initialised to 0, scaled by ``lr_mul``).
        lr_mul: learning-rate multiplier of this layer (1 for ordinary layers).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = lr_mul / math.sqrt(in_ch * kernel_size * kernel_size)  # He constant, applied in forward
        self.lr_mul = lr_mul
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.weight.shape[-1] == 1 and self.stride == 1 and self.padding == 0:
            return pointwise_conv(x, self.weight * self.scale, bias)  # from-RGB / to-RGB: a matrix product
        return F.conv2d(x, self.weight * self.scale, bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, stride={self.stride}, padding={self.padding}, lr_mul={self.lr_mul}"


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (He constant ``lr_mul / sqrt(in_f)`` applied at run time).

    Args:
        in_f, out_f: feature sizes.
        bias: learn an additive bias, initialised to ``bias_init``.
        lr_mul: learning-rate multiplier (StyleGAN's mapping network uses 0.01).
    """

    def __init__(self, in_f: int, out_f: int, bias: bool = True, lr_mul: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_f,), float(bias_init) / lr_mul)) if bias else None
        self.scale = lr_mul / math.sqrt(in_f)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return f"{i}, {o}, lr_mul={self.lr_mul}"


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS over channels (dim 1)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Append the batch's feature standard deviation as ``num_features`` extra channels.

    The batch is split into groups of ``group_size`` samples; the std over each group, averaged over channels (split
    into ``num_features`` chunks) and pixels, is broadcast to every sample of the group. When the batch size is not a
    multiple of ``group_size`` the largest divisor of the batch not above it is used (so batch 1 or 6 still works;
    with one sample per group the std is 0).

    Output channels: ``C + num_features``.
    """

    def __init__(self, group_size: int = 4, num_features: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        if group_size < 1 or num_features < 1:
            raise ValueError("MinibatchStdDev needs group_size >= 1 and num_features >= 1")
        self.group_size, self.num_features, self.eps = group_size, num_features, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if c % self.num_features:
            raise ValueError(f"MinibatchStdDev: {c} channels do not split into {self.num_features} features")
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        f = self.num_features
        y = x.float().reshape(g, n // g, f, c // f, h, w)  # sample i sits in group i % (n // g)
        y = y - y.mean(dim=0)
        y = (y.pow(2).mean(dim=0) + self.eps).sqrt()  # (n//g, f, c//f, h, w)
        y = y.mean(dim=(2, 3, 4))  # (n//g, f)
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w).to(x.dtype)  # (n, f, h, w)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_features={self.num_features}"


def global_avg_pool(t: torch.Tensor) -> torch.Tensor:
    """Global average pool (N, C, H, W) -> (N, C) as a sum times 1/(H W).

    The same value as ``t.mean(dim=(2, 3))``, but the backward of a sum is a broadcast view, where that of ``mean``
    writes a divided copy of the whole map: a full pass over the feature map saved per use (DEMA, GCTDRN and the
    global branches pool every block's maps).
    """
    return t.sum(dim=(2, 3)) * (1.0 / (t.shape[2] * t.shape[3]))


def spectral_norm_if(module: nn.Module, flag: bool, name: str = "weight") -> nn.Module:
    """Return ``module`` with spectral normalisation of its ``name`` parameter when ``flag`` is true, else unchanged.

    Uses :func:`torch.nn.utils.parametrizations.spectral_norm` (one power iteration per training forward).
    Meant for plain ``nn.Conv2d``/``nn.Linear``; on an equalized layer the run-time He constant would scale the
    normalised weight down again, so combine SN with plain layers.
    """
    if not flag:
        return module
    return nn.utils.parametrizations.spectral_norm(module, name=name)
