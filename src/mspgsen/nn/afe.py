"""Adversarial feature enhancement (AFE, section III-B, eqs 17-20): the networks.

The paper's eq (18) puts G's features on both sides of D_aux's loss, which cannot train anything. The project reads
it as D_aux telling *features of real images* from *G's intermediate features*, and D_aux's input on both sides must
then live in one space (otherwise D_aux separates the spaces, not the distributions). Two readings, switchable with
``mode`` (see :func:`afe_features`):

* ``'d_early'`` (default): real side = D's early-layer feature map of the real image at that scale (detached);
  fake side = G's intermediate feature map at the same scale, carried into D's channel count by a
  :class:`FeatureAdapter` that belongs to G (trained by G's loss, never by D_aux's, so D_aux cannot cheat by giving
  the two sides different stems). G's inner features are pushed to carry real-image content with real-image
  variety - the feature-level collapse check the paper describes.
* ``'d_early_images'``: both sides go through D's early layers: real image vs G's image at that scale. No adapter;
  the gradient reaches G's intermediate layers through its image. A fallback when G's and D's feature resolutions
  do not line up.

D_aux carries a minibatch standard-deviation layer: the across-batch spread of the features is the signal that
tells collapsed batches from varied ones.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .layers import MinibatchStdDev, PointwiseConv2d, spectral_norm_if

AFE_MODES = ("d_early", "d_early_images")


class AuxDiscriminator(nn.Module):
    """D_aux: a small convolutional critic over feature maps -> logits (N,).

    Args:
        channels: channels of the feature maps it reads.
        hidden: width of its first layer (doubled at each downsampling, capped at ``4 * hidden``).
        downsamples: number of stride-2 3x3 convolutions (a 4x4 map still works: it shrinks to 1x1).
        mbstd_group: group size of the minibatch-stddev layer; 0 switches it off.
        spectral_norm: spectral normalisation on every layer (default on: D_aux is a second critic on G).

    Works on any spatial size (global average pooling before the last linear layer).
    ``forward(feat) -> Tensor (N,)``: raw logits (apply losses from :mod:`mspgsen.losses.afe`).
    """

    def __init__(self, channels: int, hidden: int = 64, downsamples: int = 2, mbstd_group: int = 4,
                 spectral_norm: bool = True) -> None:
        super().__init__()
        sn = spectral_norm
        layers: list[nn.Module] = [spectral_norm_if(nn.Conv2d(channels, hidden, 3, padding=1), sn), nn.LeakyReLU(0.2)]
        ch = hidden
        for _ in range(downsamples):
            nxt = min(ch * 2, 4 * hidden)
            layers += [spectral_norm_if(nn.Conv2d(ch, nxt, 3, stride=2, padding=1), sn), nn.LeakyReLU(0.2)]
            ch = nxt
        self.body = nn.Sequential(*layers)
        self.mbstd = MinibatchStdDev(mbstd_group) if mbstd_group > 0 else None
        ch_in = ch + (1 if self.mbstd is not None else 0)
        self.tail = nn.Sequential(spectral_norm_if(nn.Conv2d(ch_in, ch, 3, padding=1), sn), nn.LeakyReLU(0.2))
        self.head = spectral_norm_if(nn.Linear(ch, 1), sn)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        h = self.body(feat)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = self.tail(h).mean(dim=(2, 3))
        return self.head(h).squeeze(1)  # D_aux(F), one logit per sample


class FeatureAdapter(nn.Module):
    """G-side 1x1 convolution carrying G's feature map (g_ch channels) into D's feature space (d_ch channels).

    It belongs to G: put it inside the generator module so G's optimizer trains it (mode ``'d_early'``).
    """

    def __init__(self, g_ch: int, d_ch: int) -> None:
        super().__init__()
        self.proj = PointwiseConv2d(g_ch, d_ch)

    def forward(self, g_feat: torch.Tensor) -> torch.Tensor:
        return self.proj(g_feat)


def afe_features(mode: str, *, g_feat: torch.Tensor | None, real_images: torch.Tensor,
                 fake_images: torch.Tensor | None, d_encode: Callable[[torch.Tensor], torch.Tensor],
                 adapter: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The (real, fake) feature maps that D_aux compares, per the chosen reading of eq (18).

    Args:
        mode: ``'d_early'`` or ``'d_early_images'`` (see module docstring).
        g_feat: G's intermediate feature map at the chosen scale (needed by ``'d_early'``).
        real_images: real images at that scale.
        fake_images: G's images at that scale (needed by ``'d_early_images'``).
        d_encode: D's early layers up to that scale: images -> feature map.
        adapter: the :class:`FeatureAdapter` of G (needed by ``'d_early'``).

    Returns:
        ``(real_feat, fake_feat)``. ``real_feat`` is detached (D_aux's loss does not train D); ``fake_feat`` keeps its
        graph to G. Detach ``fake_feat`` yourself for D_aux's step. In ``'d_early_images'`` the fake side goes
        through D's layers, whose gradients G's step must not apply (the usual rule of the G step).
    """
    if mode not in AFE_MODES:
        raise ValueError(f"AFE mode must be one of {AFE_MODES}, got {mode!r}")
    with torch.no_grad():
        real_feat = d_encode(real_images)
    if mode == "d_early":
        if g_feat is None or adapter is None:
            raise ValueError("AFE mode 'd_early' needs g_feat and the G-side adapter")
        fake_feat = adapter(g_feat)
    else:
        if fake_images is None:
            raise ValueError("AFE mode 'd_early_images' needs fake_images")
        fake_feat = d_encode(fake_images)
    if fake_feat.shape[1:] != real_feat.shape[1:]:
        raise ValueError(f"AFE real and fake feature maps differ in shape: {tuple(real_feat.shape[1:])} vs "
                         f"{tuple(fake_feat.shape[1:])}; pick G and D features of one scale")
    return real_feat.detach(), fake_feat
