"""SAGAN self-attention block: the quadratic baseline DEMA is measured against (and an option for the models).

Every pixel attends to every pixel, so the attention map costs O((HW)^2) memory and FLOPs; this is what DEMA's
token-based global context avoids.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import PointwiseConv2d


class SelfAttention2d(nn.Module):
    """SAGAN self-attention: ``x + gamma * softmax(q^T k) v`` with q, k of C // reduction channels.

    Args:
        channels: input/output channels C.
        reduction: channel reduction of queries and keys (SAGAN uses 8).
        gamma_init: initial residual scale; SAGAN starts at 0 (the block begins as the identity).

    ``forward(x) -> Tensor`` of the shape of ``x``.
    """

    def __init__(self, channels: int, reduction: int = 8, gamma_init: float = 0.0) -> None:
        super().__init__()
        qk = max(channels // reduction, 1)
        self.query = PointwiseConv2d(channels, qk, bias=False)
        self.key = PointwiseConv2d(channels, qk, bias=False)
        self.value = PointwiseConv2d(channels, channels, bias=False)
        self.gamma = nn.Parameter(torch.tensor(float(gamma_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2)  # (N, qk, HW)
        k = self.key(x).flatten(2)
        v = self.value(x).flatten(2)  # (N, C, HW)
        att = torch.bmm(q.transpose(1, 2), k).softmax(dim=-1, dtype=torch.float32)  # (N, HW, HW)
        o = torch.bmm(v, att.to(v.dtype).transpose(1, 2)).reshape(n, c, h, w)
        return x + self.gamma.to(o.dtype) * o
