"""DEMA attention (paper section III-A, eqs 1-7): a cheap local+global attention block.

Three parts, all linear in the number of pixels (no pixel-to-pixel attention map is ever formed):

* Focus (local) branch, eqs (1)-(2): H heads, head ``h`` sees its own window ``k_h`` (``scales``). Each head is a
  per-sample *dynamic* depthwise convolution of a 1x1 projection of X (the kernel of sample n is ``ca_n * W_f^h``:
  channel attention computed from the input scales the kernel, which for a depthwise kernel equals scaling its
  output), followed by a spatial attention map computed with a ``k_h x k_h`` convolution over the head's channel
  mean/max, which decides where inside its window the head looks. The heads are concatenated and fused by a 1x1
  convolution ``W_c``.
* Expansion (global) branch, eqs (3)-(4): ``GlobalEmbed`` softmax-pools the pixels into a few context tokens
  (one learned pooling map per token, as GCNet does with one); each pixel then attends over those tokens.
  Cost O(HW * tokens * C).
* Dynamic fusion, eqs (5)-(6): a small MLP of (global-average-pooled X, task vector T) gives per-sample
  ``alpha, beta`` (a softmax, so alpha + beta = 1), and ``O = alpha * F + beta * E``.

The local/global contrastive loss L_LGCL (eq 7) is returned in ``aux['lgcl']`` for the method to weight and add;
see :mod:`mspgsen.losses.contrastive` for the reading of eq (7).

Speed without a change of function (``fused=True``, the default): the heads' depthwise kernels and spatial-attention
kernels are zero-padded (centred) to the largest window and concatenated, so all heads run as one depthwise
convolution and one grouped (groups = heads) convolution over every head's channel mean/max, with no Python loop over
heads; and the three 1x1 convolutions that read X (the focus projection, the pooling logits of eq (3) and the
queries of eq (4)) run as one; the expansion branch keeps pixels in the last dimension, so no transposed copy of a
full feature map is made. The parameters are the per-head modules of the plain version, concatenated at run
time, so checkpoints load either way; ``fused=False`` runs the plain per-head code (the reference that the tests
compare against).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..losses.contrastive import lgcl_loss
from .layers import PointwiseConv2d, global_avg_pool, pointwise_conv

LEARNED_TASK_DIM = 8  # size of DEMA's own task vector T when the model gives none (task_dim=0)


class DEMA(nn.Module):
    """Dynamic multi-scale attention with implicit global context and a local/global contrastive loss.

    Args:
        channels: input and output channels C.
        heads: number of local heads H (eq 1).
        scales: window size per head (odd); head ``h`` uses ``scales[h % len(scales)]``.
        task_dim: size of the task vector T given to ``forward`` (e.g. a class embedding). 0: the model gives none
            and DEMA learns its own T of size ``LEARNED_TASK_DIM``. With ``task_dim > 0`` the learned T is used only
            when ``forward`` gets ``task=None``.
        lgcl: compute L_LGCL (eq 7); when False ``aux['lgcl']`` is 0 and no projection heads exist.
        tau: temperature of eq (7).
        tokens: number of context tokens of GlobalEmbed (eq 3).
        key_dim: query/key size of eq (4); default ``max(C // 8, 4)``.
        proj_dim: size of the eq (7) descriptors.
        residual: return ``x + O`` instead of ``O`` (for using DEMA alone between layers).
        fused: run the heads and the 1x1 projections of X batched (see the module docstring); False: per head.

    ``forward(x, task=None) -> (out, aux)`` with ``x`` of shape (N, C, H, W), ``task`` (N, task_dim) or None,
    ``out`` of the shape of ``x`` and ``aux = {'lgcl': scalar, 'alpha': scalar, 'beta': scalar}`` (alpha/beta are
    detached batch means, for logging).
    """

    def __init__(self, channels: int, heads: int = 4, scales: Sequence[int] = (1, 3, 5, 7), task_dim: int = 0,
                 lgcl: bool = True, tau: float = 0.1, tokens: int = 4, key_dim: int | None = None,
                 proj_dim: int = 32, residual: bool = False, fused: bool = True) -> None:
        super().__init__()
        if channels < 1 or heads < 1 or tokens < 1 or not scales:
            raise ValueError("DEMA needs channels, heads and tokens >= 1 and at least one scale")
        if any(k < 1 or k % 2 == 0 for k in scales):
            raise ValueError(f"DEMA window scales must be odd and positive, got {tuple(scales)}")
        if tau <= 0:
            raise ValueError(f"DEMA needs tau > 0, got {tau}")
        self.channels, self.heads, self.task_dim, self.tau = channels, heads, task_dim, tau
        self.head_scales = tuple(scales[h % len(scales)] for h in range(heads))
        self.head_dim = -(-channels // heads)  # ceil: every head gets at least one channel
        inner = self.head_dim * heads
        self.residual, self.fused = residual, fused

        # Focus branch, eqs (1)-(2).
        self.local_proj = PointwiseConv2d(channels, inner)  # input side of W_f^h, all heads at once
        self.local_dw = nn.ModuleList(  # W_f^h: depthwise window k_h per head
            nn.Conv2d(self.head_dim, self.head_dim, k, padding=k // 2, groups=self.head_dim)
            for k in self.head_scales)
        hid = max(inner // 4, 4)
        self.channel_att = nn.Sequential(nn.Linear(inner, hid), nn.ReLU(), nn.Linear(hid, inner))
        self.spatial_att = nn.ModuleList(nn.Conv2d(2, 1, k, padding=k // 2) for k in self.head_scales)
        self.fuse = PointwiseConv2d(inner, channels)  # W_c of eq (2)

        # Expansion branch, eqs (3)-(4).
        self.key_dim = key_dim or max(channels // 8, 4)
        self.embed_logits = PointwiseConv2d(channels, tokens)  # one softmax pooling map per context token
        self.query = PointwiseConv2d(channels, self.key_dim)
        self.token_key = nn.Linear(channels, self.key_dim)
        self.token_value = nn.Linear(channels, channels)

        # Dynamic fusion, eq (5).
        t_dim = task_dim if task_dim > 0 else LEARNED_TASK_DIM
        self.task_vector = nn.Parameter(torch.randn(t_dim) / t_dim ** 0.5)  # learned T when none is given
        mix_hid = max(channels // 4, 8)
        self.mix = nn.Sequential(nn.Linear(channels + t_dim, mix_hid), nn.LeakyReLU(0.2), nn.Linear(mix_hid, 2))

        # Descriptors of eq (7).
        self.lgcl = lgcl
        if lgcl:
            self.local_head = nn.Linear(channels, proj_dim)
            self.global_head = nn.Linear(channels, proj_dim)

    def _task(self, task: torch.Tensor | None, n: int) -> torch.Tensor:
        if task is None:
            return self.task_vector.expand(n, -1)
        if self.task_dim == 0:
            raise ValueError("DEMA was built with task_dim=0 and cannot take a task vector; build it with task_dim")
        if task.shape != (n, self.task_dim):
            raise ValueError(f"DEMA expects a task of shape ({n}, {self.task_dim}), got {tuple(task.shape)}")
        return task

    def focus(self, x: torch.Tensor) -> torch.Tensor:
        """Local multi-head branch F (eqs 1-2)."""
        u = self.local_proj(x)
        y = torch.cat([dw(part) for dw, part in zip(self.local_dw, u.split(self.head_dim, dim=1))], dim=1)
        ca = torch.sigmoid(self.channel_att(y.mean(dim=(2, 3))))[:, :, None, None]
        y = y * ca.to(y.dtype)  # dynamic kernel: sample n's depthwise kernel is ca_n * W_f^h
        heads = []
        for part, sa in zip(y.split(self.head_dim, dim=1), self.spatial_att):
            stats = torch.cat([part.mean(dim=1, keepdim=True), part.amax(dim=1, keepdim=True)], dim=1)
            heads.append(part * torch.sigmoid(sa(stats)).to(part.dtype))  # eq (1): F^h = Attention(X * W_f^h)
        return self.fuse(torch.cat(heads, dim=1))  # eq (2): F = Concat(F^1..F^H) * W_c

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """Global context branch E (eqs 3-4), linear in the number of pixels."""
        n, c, h, w = x.shape
        pix = x.flatten(2)  # (N, C, HW)
        pool = self.embed_logits(x).flatten(2).softmax(dim=-1, dtype=torch.float32)  # (N, M, HW)
        ctx = torch.bmm(pool.to(pix.dtype), pix.transpose(1, 2))  # eq (3): C = GlobalEmbed(X), (N, M, C)
        q = self.query(x).flatten(2).transpose(1, 2)  # (N, HW, dk)
        k = self.token_key(ctx)  # (N, M, dk)
        v = self.token_value(ctx)  # (N, M, C)
        att = (torch.bmm(q, k.transpose(1, 2)) * self.key_dim ** -0.5).softmax(dim=-1, dtype=torch.float32)
        e = torch.bmm(att.to(v.dtype), v)  # eq (4): E_i = Attention(X_i, C), (N, HW, C)
        return e.transpose(1, 2).reshape(n, c, h, w)

    def _focus_expand_fused(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F and E of eqs (1)-(4) as :meth:`focus` and :meth:`expand` compute them, with the heads batched."""
        n, c, h, w = x.shape
        inner, heads, hd = self.head_dim * self.heads, self.heads, self.head_dim
        k = max(self.head_scales)
        # the three 1x1 convolutions of X (focus projection, eq (3) pooling logits, eq (4) queries) as one
        convs = (self.local_proj, self.embed_logits, self.query)
        proj = pointwise_conv(x, torch.cat([m.weight for m in convs]), torch.cat([m.bias for m in convs]))
        u, logits, q = proj.split([inner, self.embed_logits.out_channels, self.key_dim], dim=1)

        # focus: every head's depthwise window in one depthwise convolution (kernels padded to k x k)
        dw_w = torch.cat([F.pad(m.weight, [(k - m.weight.shape[-1]) // 2] * 4) for m in self.local_dw])
        cl = torch.channels_last  # the layout in which grouped/depthwise convolutions take the fast path (CPU: 2-4x)
        dw_b = torch.cat([m.bias for m in self.local_dw])
        y = F.conv2d(u.contiguous(memory_format=cl), dw_w, dw_b, padding=k // 2, groups=inner).contiguous()
        ca = torch.sigmoid(self.channel_att(global_avg_pool(y)))[:, :, None, None]
        y = (y * ca.to(y.dtype)).view(n, heads, hd, h, w)
        stats = torch.stack([y.sum(dim=2) * (1.0 / hd), y.amax(dim=2)], dim=2).view(n, 2 * heads, h, w)
        sa_w = torch.cat([F.pad(m.weight, [(k - m.weight.shape[-1]) // 2] * 4) for m in self.spatial_att])
        sa_b = torch.cat([m.bias for m in self.spatial_att])
        sa = F.conv2d(stats.contiguous(memory_format=cl), sa_w, sa_b, padding=k // 2, groups=heads).contiguous()
        y = y * torch.sigmoid(sa).to(y.dtype)[:, :, None]  # eq (1), every head at once
        f = self.fuse(y.view(n, inner, h, w))  # eq (2)

        # expansion: as in expand(), from the shared projection, with pixels last throughout (no transposed copies)
        pix = x.flatten(2)  # (N, C, HW)
        pool = logits.flatten(2).softmax(dim=-1, dtype=torch.float32)  # (N, M, HW)
        ctx = torch.bmm(pool.to(pix.dtype), pix.transpose(1, 2))  # eq (3): (N, M, C)
        kk, v = self.token_key(ctx), self.token_value(ctx)  # (N, M, dk), (N, M, C)
        att = (torch.bmm(kk, q.flatten(2)) * self.key_dim ** -0.5).softmax(dim=1, dtype=torch.float32)  # (N, M, HW)
        e = torch.bmm(v.transpose(1, 2), att.to(v.dtype)).view(n, c, h, w)  # eq (4): sum over the M tokens
        return f, e

    def forward(self, x: torch.Tensor, task: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        n = x.shape[0]
        t = self._task(task, n)
        if self.fused and not torch.jit.is_tracing():  # export traces the plain form: fixed kernel shapes for ONNX
            f, e = self._focus_expand_fused(x)
        else:
            f, e = self.focus(x), self.expand(x)
        pooled = global_avg_pool(x)
        mix_in = torch.cat([pooled, t.to(pooled.dtype)], dim=1)
        ab = self.mix(mix_in).softmax(dim=1, dtype=torch.float32)  # eq (5): [alpha, beta] = MLP(X, T)
        alpha, beta = ab[:, 0].view(n, 1, 1, 1), ab[:, 1].view(n, 1, 1, 1)
        out = alpha.to(f.dtype) * f + beta.to(e.dtype) * e  # eq (6): O = alpha * F + beta * E
        if self.lgcl:
            loss = lgcl_loss(self.local_head(global_avg_pool(f)), self.global_head(global_avg_pool(e)),
                             self.tau)  # eq (7)
        else:
            loss = x.new_zeros((), dtype=torch.float32)
        aux = {"lgcl": loss, "alpha": alpha.detach().mean(), "beta": beta.detach().mean()}
        return (x + out if self.residual else out), aux
