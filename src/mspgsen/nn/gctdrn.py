"""GCTDRN residual block (paper section III-B, eqs 15-16) and the global feature enhancement branch of G.

Eqs (15) and (16) describe one block twice: (15) sums the 3x3/5x5/7x7 branches with a learnable ``alpha`` and adds
``beta * Attention(X)`` and the shortcut; (16) weights each branch by a fusion weight ``W_i`` that attention computes.
The project merges them into one forward:

    out = alpha * sum_i W_i(X) * Branch_i(X) + Shortcut(X + beta * DEMA(X))

* ``W_i(X)``: per-sample, per-channel weights, a softmax over the branches of a small MLP of the global average of
  the DEMA output (of X itself when ``attention='none'``), as in selective-kernel networks: eq (16)'s "fusion weight
  calculated by the attention mechanism".
* ``Shortcut`` is the identity when in and out channels agree, else a 1x1 convolution without bias. Because it is
  linear, ``Shortcut(X + beta * A) = Shortcut(X) + beta * Shortcut(A)``: eq (15)'s ``beta * Attention(X)`` is carried
  to the output channels by the same projection, with no extra layer.
* ``alpha`` and ``beta`` are learnable scalars (eq 15).

Speed without a change of function (``fuse``): the branches are linear convolutions and ``W_i`` scales their output
channels, so ``sum_i W_i[n, o] * (K_i * h)[n, o] = ((sum_i W_i[n, o] K_i[o]) * h)[n, o]`` once the kernels are
zero-padded (centred) to the largest size. ``fuse='kernel'`` mixes one kernel per sample and runs the batch as a single
grouped convolution (groups = batch): 49 multiply-adds per weight and pixel instead of 9 + 25 + 49 = 83 and one pass
instead of three, at the price of a per-sample weight gradient. On a CPU that wins on large maps with few channels and
loses on small maps with many (measured per layer, docs/benchmarks.md), so ``fuse='auto'`` (default) picks it when
``H * W >= KERNEL_FUSE_PIXELS_PER_CHANNEL * in_ch`` on a CPU and otherwise runs the three plain convolutions
(``fuse='off'``, the reference; also what 'auto' runs on a GPU, where the rule has not been measured). The
parameters are the same in every mode (``branches.i.weight``), so checkpoints load either way.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .dema import DEMA
from .layers import PixelNorm, PointwiseConv2d, global_avg_pool, spectral_norm_if

NORMS = ("none", "pixel", "batch")
ATTENTIONS = ("dema", "none")
FUSE_MODES = ("auto", "kernel", "off")
# 'auto' mixes per-sample kernels when H * W >= this * in_ch (below it three plain convolutions are faster on a CPU:
# 32 -> 16 channels at 16x16 breaks even, at 32x32 the mixed kernel is ~1.9x faster, 64 -> 32 at 16x16 ~0.75x).
KERNEL_FUSE_PIXELS_PER_CHANNEL = 16


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "pixel":
        return PixelNorm()
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    return nn.Identity()


class GCTDRNBlock(nn.Module):
    """Two-flow dynamic residual block: multi-kernel branches fused by attention weights, plus attention and shortcut.

    Args:
        in_ch, out_ch: channels in and out (spatial size is kept; up/down-sampling is the model's business).
        attention: ``'dema'`` (eqs 15-16 with DEMA) or ``'none'`` (branches + shortcut, weights from X itself).
        kernels: branch kernel sizes (odd), the paper's (3, 5, 7). One size: a residual convolution block (eq 16's
            weight of a single branch is 1, so no ``W_i`` network is built).
        task_dim: size of the task vector T passed to DEMA (0: DEMA learns its own).
        norm: pre-activation normalisation of the branches: ``'none'``, ``'pixel'`` or ``'batch'``.
        spectral_norm: spectral normalisation on the branch and shortcut convolutions (for use in D).
        separable: branches as depthwise k x k + pointwise 1x1 (much cheaper at 5x5/7x7 on wide layers).
        alpha_init, beta_init: initial values of the learnable alpha and beta of eq (15).
        negative_slope: LeakyReLU slope of the pre-activation.
        dema_kwargs: extra keyword arguments for :class:`~mspgsen.nn.dema.DEMA` (heads, scales, lgcl, tau, ...).
        fuse: how the branches run: ``'kernel'`` (one per-sample mixed kernel, a grouped convolution), ``'off'``
            (one convolution per branch, the reference) or ``'auto'`` (per call, whichever is faster for the map
            size; see the module docstring). Separable branches always run per branch.

    ``forward(x, task=None) -> (out, aux)``: ``out`` is (N, out_ch, H, W); ``aux = {'lgcl': scalar (0 without DEMA),
    'branch_weights': (len(kernels),) detached mean weight of each branch}``.
    """

    def __init__(self, in_ch: int, out_ch: int, attention: str = "dema", kernels: Sequence[int] = (3, 5, 7),
                 task_dim: int = 0, norm: str = "none", spectral_norm: bool = False, separable: bool = False,
                 alpha_init: float = 1.0, beta_init: float = 0.1, negative_slope: float = 0.2,
                 dema_kwargs: dict | None = None, fuse: str = "auto") -> None:
        super().__init__()
        if fuse not in FUSE_MODES:
            raise ValueError(f"GCTDRNBlock fuse must be one of {FUSE_MODES}, got {fuse!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"GCTDRNBlock attention must be one of {ATTENTIONS}, got {attention!r}")
        if norm not in NORMS:
            raise ValueError(f"GCTDRNBlock norm must be one of {NORMS}, got {norm!r}")
        if not kernels or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"GCTDRNBlock kernels must be odd and positive, got {tuple(kernels)}")
        self.in_ch, self.out_ch, self.kernels = in_ch, out_ch, tuple(kernels)
        self.separable, self.fuse = separable, fuse
        self.pre = nn.Sequential(_norm(norm, in_ch), nn.LeakyReLU(negative_slope))
        sn = spectral_norm
        if separable:
            self.branches = nn.ModuleList(nn.Sequential(
                spectral_norm_if(nn.Conv2d(in_ch, in_ch, k, padding=k // 2, groups=in_ch), sn),
                spectral_norm_if(PointwiseConv2d(in_ch, out_ch), sn)) for k in self.kernels)
        else:
            self.branches = nn.ModuleList(
                spectral_norm_if(nn.Conv2d(in_ch, out_ch, k, padding=k // 2), sn) for k in self.kernels)
        hid = max(in_ch // 4, 8)
        # eq (16)'s W_i: a softmax over the branches, so a single branch has W = 1 and nothing to learn
        self.weight_mlp = (nn.Sequential(nn.Linear(in_ch, hid), nn.ReLU(), nn.Linear(hid, len(self.kernels) * out_ch))
                           if len(self.kernels) > 1 else None)
        self.attn = DEMA(in_ch, task_dim=task_dim, **(dema_kwargs or {})) if attention == "dema" else None
        self.shortcut = (nn.Identity() if in_ch == out_ch
                         else spectral_norm_if(PointwiseConv2d(in_ch, out_ch, bias=False), sn))
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))
        self.beta = nn.Parameter(torch.tensor(float(beta_init))) if self.attn is not None else None

    def forward(self, x: torch.Tensor, task: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        n = x.shape[0]
        if self.attn is not None:
            a, dema_aux = self.attn(x, task)
            lgcl = dema_aux["lgcl"]
            source = a
        else:
            a, lgcl, source = None, x.new_zeros((), dtype=torch.float32), x
        h = self.pre(x)
        if self.weight_mlp is None:  # one branch: eq (16)'s softmax weight is 1
            w = h.new_ones((n, 1, self.out_ch), dtype=torch.float32)
            fused = self.branches[0](h)
        else:
            logits = self.weight_mlp(global_avg_pool(source)).view(n, len(self.kernels), self.out_ch)
            w = logits.softmax(dim=1, dtype=torch.float32)  # eq (16): W_i from attention, sum_i W_i = 1 per channel
            fused = self._mixed_kernel(h, w) if self._use_mixed_kernel(h) else self._per_branch(h, w)
        skip_in = x if a is None else x + self.beta.to(a.dtype) * a  # eq (15): beta * Attention(X)
        out = self.alpha.to(fused.dtype) * fused + self.shortcut(skip_in)  # eqs (15)-(16)
        return out, {"lgcl": lgcl, "branch_weights": w.detach().mean(dim=(0, 2))}


    def _use_mixed_kernel(self, h: torch.Tensor) -> bool:
        if self.separable or self.fuse == "off" or torch.jit.is_tracing():
            return False  # a traced graph (export) must not bake the batch size in as the group count
        if self.fuse == "kernel":
            return True
        # 'auto' follows CPU measurements; on other devices (not measured) the three dense convolutions stay
        return h.device.type == "cpu" and h.shape[2] * h.shape[3] >= KERNEL_FUSE_PIXELS_PER_CHANNEL * self.in_ch

    def _per_branch(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Reference: every branch convolves h, then eq (16) weights and sums their outputs."""
        return sum(w[:, i, :, None, None].to(h.dtype) * branch(h) for i, branch in enumerate(self.branches))

    def _mixed_kernel(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The same sum as one grouped convolution with sample n's kernel ``sum_i W_i[n] K_i`` (and bias)."""
        n, c, height, width = h.shape
        k = max(self.kernels)
        kernels = torch.stack([F.pad(b.weight, [(k - b.weight.shape[-1]) // 2] * 4) for b in self.branches])
        biases = torch.stack([b.bias for b in self.branches])  # (branches, out)
        w = w.to(h.dtype)
        weight = torch.einsum("nbo,boikl->noikl", w, kernels.to(h.dtype)).reshape(n * self.out_ch, c, k, k)
        bias = torch.einsum("nbo,bo->no", w, biases.to(h.dtype)).reshape(-1)
        out = F.conv2d(h.reshape(1, n * c, height, width), weight, bias, padding=k // 2, groups=n)
        return out.view(n, self.out_ch, height, width)


class GlobalFeatureEnhancement(nn.Module):
    """Global feature enhancement branch at the end of G (section III-B).

    The global average of the features (GAP) goes through a small MLP and is fused back with the local detail by a
    1x1 convolution over ``[X, broadcast(g)]`` (written as two cheap terms), added to X as a residual:

        out = X + Conv1x1(X) + Linear(MLP(GAP(X)))  (broadcast over pixels)

    Args:
        channels: feature channels C (kept).
        reduction: hidden size of the MLP is ``max(C // reduction, 4)``.

    ``forward(x) -> Tensor`` of the shape of ``x``.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hid = max(channels // reduction, 4)
        self.global_mlp = nn.Sequential(nn.Linear(channels, hid), nn.LeakyReLU(0.2), nn.Linear(hid, channels))
        self.local = PointwiseConv2d(channels, channels)  # 1x1 conv over the local half of the concatenation
        self.global_proj = nn.Linear(channels, channels, bias=False)  # ... and over the broadcast global half

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.global_mlp(global_avg_pool(x))  # GAP -> global descriptor
        return x + self.local(x) + self.global_proj(g)[:, :, None, None].to(x.dtype)
