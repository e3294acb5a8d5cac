"""The multi-scale backbone shared by MSG-GAN and MSPG-SEN: one G and one D with pluggable blocks.

G (coarse to fine) starts from a 4x4 map made from the latent, and at every scale runs one *block* (after a 2x
nearest upsampling from the second scale on); each scale's features go through their own to-RGB head, so G
returns one image per scale (4x4, 8x8, ..., resolution). Optional parts, each built by a factory the family passes:

* ``flow_factory``: a *global flow* module per scale, ``(h, g) -> (h, g)``, which carries a global vector ``g``
  beside the feature maps and fuses the two at that scale (MSPG-SEN's two-flow reading, docs/paper-notes.md);
* ``end_factory``: a module applied to the last scale's features before its to-RGB head (MSPG-SEN's global feature
  enhancement at the end of G).

D mirrors G (MSG-GAN): its path starts from the full-resolution image's from-RGB features, and at every coarser
scale the image of that scale is joined to the path (``combine``: MSG-GAN's three combine functions and a sum).
Minibatch standard deviation comes before the last (4x4) block. Each scale's join is multiplied by a per-scale
weight (``D.set_scale_weights``): 1 everywhere gives plain MSG-GAN; a method that moves these weights from coarse
to fine over time trains progressively (MSPG-SEN). Because G's fine images reach D's decision only through their
weighted join, the same weights also scale the gradient that each of G's scales receives.

Blocks follow one interface: ``block(x, task) -> (y, lgcl)``, ``lgcl`` a scalar tensor or None. The sum of the
blocks' ``lgcl`` of a forward travels with it: ``features=True`` returns a :class:`FeatureList` whose ``.lgcl`` holds
it (read by the MSPG-SEN method, eq 7); the modules keep nothing between calls.
"""
from __future__ import annotations

import math
from typing import Callable, Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nn.layers import EqualConv2d, EqualLinear, MinibatchStdDev, PixelNorm, PointwiseConv2d, spectral_norm_if
from .base import check_scales

Tensor = torch.Tensor
Combine = Literal["cat", "simple", "cat_lin", "sum"]
COMBINES = ("cat", "simple", "cat_lin", "sum")

BlockFactory = Callable[[int, int, int], nn.Module]  # (in_ch, out_ch, resolution) -> block


class FeatureList(list):
    """The ``feats`` list of ``features=True`` calls, with the forward's summed L_LGCL as ``.lgcl`` (or None)."""

    lgcl: Optional[Tensor] = None


def scale_count(resolution: int) -> int:
    """Number of scales from 4x4 up to ``resolution`` (a power of two >= 4)."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ConfigError(f"Multi-scale models need a power-of-two resolution of at least 4, got {resolution}.")
    return int(math.log2(resolution)) - 1


def widths(resolution: int, width: int, max_ch: int) -> list[int]:
    """Channels per scale, coarse to fine: ``width`` at full resolution, doubling per halving, capped at ``max_ch``."""
    n = scale_count(resolution)
    return [min(max_ch, width * 2 ** (n - 1 - s)) for s in range(n)]


def make_conv(in_ch: int, out_ch: int, k: int, padding: int = 0, eq_lr: bool = True, sn: bool = False,
              bias: bool = True) -> nn.Module:
    """An equalized-learning-rate conv (MSG-GAN) or a plain one, optionally spectrally normalised."""
    if eq_lr and not sn:
        return EqualConv2d(in_ch, out_ch, k, padding=padding, bias=bias)
    if k == 1 and padding == 0:
        return spectral_norm_if(PointwiseConv2d(in_ch, out_ch, bias=bias), sn)
    return spectral_norm_if(nn.Conv2d(in_ch, out_ch, k, padding=padding, bias=bias), sn)


def make_linear(in_f: int, out_f: int, eq_lr: bool = True, sn: bool = False) -> nn.Module:
    if eq_lr and not sn:
        return EqualLinear(in_f, out_f)
    return spectral_norm_if(nn.Linear(in_f, out_f), sn)


class PlainBlock(nn.Module):
    """MSG-GAN's block: two 3x3 convs, each followed by leaky ReLU (and pixel norm in G)."""

    def __init__(self, in_ch: int, out_ch: int, pixel_norm: bool = True, eq_lr: bool = True, sn: bool = False) -> None:
        super().__init__()
        pn = PixelNorm if pixel_norm else nn.Identity
        self.body = nn.Sequential(make_conv(in_ch, out_ch, 3, 1, eq_lr, sn), nn.LeakyReLU(0.2), pn(),
                                  make_conv(out_ch, out_ch, 3, 1, eq_lr, sn), nn.LeakyReLU(0.2), pn())

    def forward(self, x: Tensor, task: Optional[Tensor] = None) -> tuple[Tensor, None]:
        return self.body(x), None


def _sum_lgcl(losses: list[Optional[Tensor]]) -> Optional[Tensor]:
    present = [v for v in losses if v is not None]
    return torch.stack([v.float() for v in present]).sum() if present else None


class MultiScaleGenerator(nn.Module):
    """G: latent -> one image per scale, coarse to fine (MSG-GAN's G; MSPG-SEN's with its blocks and flows).

    Args:
        z_dim, resolution, channels, num_classes: the model contract (models/base.py).
        chans: channels per scale (coarse to fine), e.g. from :func:`widths`.
        block_factory: builds the block of each scale ``(in_ch, out_ch, res)``.
        normalize_z: put z on the sphere of radius sqrt(z_dim) first (MSG-GAN/ProGAN).
        embed_dim: size of the class embedding concatenated to z (when ``num_classes``); 0: z_dim.
        task_from_label: hand the class embedding to the blocks as their task vector (DEMA's T).
        flow_factory: ``(ch, global_dim, res) -> module((h, g) -> (h, g))`` per scale, or None.
        global_dim: size of the global vector of the flow.
        end_factory: ``(ch) -> module(h -> h)`` applied before the last to-RGB head, or None.
        eq_lr, pixel_norm: MSG-GAN's equalized learning rate and pixel norm in the stem and to-RGB heads.
        out_act: 'tanh' squashes every scale into [-1, 1]; 'linear' leaves the heads linear (MSG-GAN).
    """

    def __init__(self, z_dim: int, resolution: int, channels: int, num_classes: int, chans: Sequence[int],
                 block_factory: BlockFactory, normalize_z: bool = True, embed_dim: int = 0,
                 task_from_label: bool = False,
                 flow_factory: Optional[Callable[[int, int, int], nn.Module]] = None, global_dim: int = 0,
                 end_factory: Optional[Callable[[int], nn.Module]] = None, eq_lr: bool = True,
                 pixel_norm: bool = True, out_act: Literal["tanh", "linear"] = "tanh") -> None:
        super().__init__()
        self.scales = scale_count(resolution)
        if len(chans) != self.scales:
            raise ValueError(f"need {self.scales} channel counts, got {len(chans)}")
        self.z_dim, self.resolution, self.channels, self.num_classes = z_dim, resolution, channels, num_classes
        self.normalize_z, self.out_act = normalize_z, out_act
        self.embed = nn.Embedding(num_classes, embed_dim or z_dim) if num_classes else None
        self.task_from_label = bool(task_from_label and num_classes)
        in_dim = z_dim + (self.embed.embedding_dim if self.embed is not None else 0)
        c0 = chans[0]
        self.stem = make_linear(in_dim, c0 * 16, eq_lr)  # latent -> 4x4 map (MSG-GAN's 4x4 transposed conv)
        self.stem_act = nn.Sequential(nn.LeakyReLU(0.2), PixelNorm() if pixel_norm else nn.Identity())
        ins = [c0, *chans[:-1]]
        self.blocks = nn.ModuleList(block_factory(i, o, 4 * 2 ** s) for s, (i, o) in enumerate(zip(ins, chans)))
        self.to_rgb = nn.ModuleList(make_conv(c, channels, 1, 0, eq_lr) for c in chans)
        self.global_in = make_linear(in_dim, global_dim, eq_lr) if flow_factory is not None else None
        self.flows = (nn.ModuleList(flow_factory(c, global_dim, 4 * 2 ** s) for s, c in enumerate(chans))
                      if flow_factory is not None else None)
        self.end = end_factory(chans[-1]) if end_factory is not None else None
        self.chans = list(chans)

    def latent(self, z: Tensor, y: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor]]:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"G expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if self.normalize_z:
            z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # z on the sphere of radius sqrt(z_dim)
        if self.embed is None:
            return z, None
        if y is None:
            raise ValueError("this generator is conditional: pass labels")
        e = self.embed(y)
        return torch.cat([z, e], 1), e

    def forward(self, z: Tensor, y: Optional[Tensor] = None, features: bool = False):
        lat, emb = self.latent(z, y)
        task = emb if self.task_from_label else None
        h = self.stem_act(self.stem(lat).view(z.shape[0], -1, 4, 4))
        g = self.global_in(lat) if self.global_in is not None else None
        imgs, feats, losses = [], FeatureList(), []
        for s, block in enumerate(self.blocks):
            if s:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h, lg = block(h, task)
            losses.append(lg)
            if self.flows is not None:
                h, g = self.flows[s](h, g)  # the two flows meet at every scale
            if s == self.scales - 1 and self.end is not None:
                h = self.end(h)  # global feature enhancement at G's end
            feats.append(h)
            img = self.to_rgb[s](h)
            imgs.append(torch.tanh(img) if self.out_act == "tanh" else img)
        feats.lgcl = _sum_lgcl(losses)
        return (imgs, feats) if features else imgs


class MultiScaleDiscriminator(nn.Module):
    """D over the whole pyramid (MSG-GAN): each scale's image joins the path at its resolution.

    Args:
        resolution, channels, num_classes: the data (projection term when ``num_classes``).
        chans: channels of the path per scale (coarse to fine).
        block_factory: builds the block that runs at each scale from the finest down to 8x8,
            ``(in_ch, out_ch, res)``; a 2x average pooling follows it.
        combine: how a scale's image joins the path: 'cat' (its from-RGB features, half the path's width,
            concatenated: MSG-GAN's lin_cat), 'simple' (the raw image concatenated), 'cat_lin' (raw image
            concatenated, then a 1x1 conv back to the path's width), 'sum' (from-RGB features added).
        mbstd_group: group of the minibatch-stddev layer before the last block (0: off).
        eq_lr, sn: equalized learning rate or plain layers, with optional spectral norm.
    """

    def __init__(self, resolution: int, channels: int, num_classes: int, chans: Sequence[int],
                 block_factory: BlockFactory, combine: Combine = "cat", mbstd_group: int = 4, eq_lr: bool = True,
                 sn: bool = False) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ConfigError(f"model.combine must be one of {', '.join(COMBINES)}, got {combine!r}.")
        self.scales = scale_count(resolution)
        S = self.scales
        self.resolution, self.channels, self.num_classes, self.combine = resolution, channels, num_classes, combine
        self.register_buffer("scale_weights", torch.ones(S), persistent=False)
        self.chans = list(chans)

        def rgb(c_out: int) -> nn.Module:
            return nn.Sequential(make_conv(channels, c_out, 1, 0, eq_lr, sn), nn.LeakyReLU(0.2))

        # in_ch[s]: channels entering the block of scale s (after the join)
        self.in_ch = [0] * S
        joins: list[nn.Module] = []
        for s in range(S):
            c = chans[s]
            if s == S - 1:
                joins.append(rgb(c))  # the path starts from the finest image's from-RGB features
                self.in_ch[s] = c
            elif combine == "cat":
                joins.append(rgb(c // 2 or 1))
                self.in_ch[s] = c + (c // 2 or 1)
            elif combine == "sum":
                joins.append(rgb(c))
                self.in_ch[s] = c
            elif combine == "simple":
                joins.append(nn.Identity())
                self.in_ch[s] = c + channels
            else:  # cat_lin
                joins.append(make_conv(c + channels, c, 1, 0, eq_lr, sn))
                self.in_ch[s] = c
        self.joins = nn.ModuleList(joins)
        # blocks[s] runs at scale s (s >= 1) and hands chans[s-1] channels to the next coarser scale
        self.blocks = nn.ModuleList([nn.Identity()] + [block_factory(self.in_ch[s], chans[s - 1], 4 * 2 ** s)
                                                       for s in range(1, S)])
        self.mbstd = MinibatchStdDev(mbstd_group) if mbstd_group > 0 else None
        c0 = chans[0]
        self.final = nn.Sequential(make_conv(self.in_ch[0] + (1 if self.mbstd else 0), c0, 3, 1, eq_lr, sn),
                                   nn.LeakyReLU(0.2), make_conv(c0, c0, 4, 0, eq_lr, sn), nn.LeakyReLU(0.2))
        self.out = make_linear(c0, 1, eq_lr, sn)
        self.embed = spectral_norm_if(nn.Embedding(num_classes, c0), sn) if num_classes else None

    def set_scale_weights(self, w: Sequence[float] | Tensor) -> None:
        """Weight of each scale's join, coarse to fine (all 1: plain MSG-GAN)."""
        w = torch.as_tensor(w, dtype=self.scale_weights.dtype)
        if w.shape != self.scale_weights.shape:
            raise ValueError(f"need {self.scales} scale weights, got {tuple(w.shape)}")
        self.scale_weights.copy_(w)

    def _join(self, s: int, h: Optional[Tensor], x: Tensor) -> Tensor:
        w = self.scale_weights[s].to(x.dtype)
        if s == self.scales - 1:
            return w * self.joins[s](x)
        if self.combine == "cat":
            return torch.cat([h, w * self.joins[s](x)], 1)
        if self.combine == "sum":
            return h + w * self.joins[s](x)
        if self.combine == "simple":
            return torch.cat([h, w * x], 1)
        return self.joins[s](torch.cat([h, w * x], 1))  # cat_lin

    def _path(self, xs: Sequence[Tensor], stop: int = 0):
        """Run the path from the finest scale down to scale ``stop``; returns (h after that scale's join, feats, losses)."""
        S = self.scales
        h, feats, losses = None, [], []
        for s in range(S - 1, stop - 1, -1):
            h = self._join(s, h, xs[s])
            if s == stop:
                break
            h, lg = self.blocks[s](h, None)
            losses.append(lg)
            h = F.avg_pool2d(h, 2)
            feats.append(h)
        return h, feats, losses

    def forward(self, xs: Sequence[Tensor], y: Optional[Tensor] = None, features: bool = False):
        check_scales(xs, self.scales, "this multi-scale discriminator")
        h, feats, losses = self._path(xs)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = self.final(h)
        pooled = h.flatten(1)
        logits = self.out(pooled).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is conditional: pass labels")
            logits = logits + (self.embed(y) * pooled).sum(1)  # projection term
        feats = FeatureList([*feats, h])
        feats.lgcl = _sum_lgcl(losses)
        return (logits, feats) if features else logits

    def encode(self, x: Tensor | Sequence[Tensor], scale: int) -> Tensor:
        """D's early layers: an image batch carried from full resolution down to ``scale`` (after that scale's join).

        ``x`` is the full pyramid (coarse to fine, as D takes it) or the full-resolution image alone (its pyramid is
        made by average pooling). Output: (N, ``in_ch[scale]``, 4 * 2**scale, same). AFE reads images through this.
        """
        scale = scale % self.scales
        if isinstance(x, (list, tuple)):
            check_scales(x, self.scales, "discriminator.encode")
            xs = list(x)
        else:
            xs = [x]
            for _ in range(self.scales - 1 - scale):
                xs.append(F.avg_pool2d(xs[-1], 2))
            xs = [None] * scale + xs[::-1]
        h, _, _ = self._path(xs, stop=scale)
        return h
