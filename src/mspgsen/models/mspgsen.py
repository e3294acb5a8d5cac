"""MSPG-SEN's networks: the multi-scale backbone with GCTDRN/DEMA blocks, a global flow and AFE's D_aux.

Every paper component is one switch of :class:`MSPGSENOptions`, so an ablation is one ``--set model.<switch>=false``.

Two flows (section III-B; the project's reading, see docs/paper-notes.md):

* local/detail flow: the feature maps, through one GCTDRN block per scale (multi-kernel branches fused by
  attention weights, eqs 15-16, with DEMA's local focus branch inside, eqs 1-2);
* global flow: a vector ``g`` that starts from the latent and runs beside the maps through every scale
  (:class:`GlobalFlowFusion`): at each scale it reads the maps' global average (GAP) and is added back to every
  pixel. DEMA's context embedding (eqs 3-4) is the implicit global context inside each block, and the global
  feature enhancement branch (:class:`~mspgsen.nn.gctdrn.GlobalFeatureEnhancement`) closes G at the last scale.

With ``afe`` on, the model also holds ``D_aux`` (:class:`~mspgsen.nn.afe.AuxDiscriminator`) and G holds the
1x1 adapter that carries its features at ``afe_scale`` into D's feature space at that scale (eq 18's reading).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import torch
from torch import nn

from ..errors import ConfigError
from ..nn.afe import AFE_MODES, AuxDiscriminator, FeatureAdapter
from ..nn.dema import DEMA
from ..nn.gctdrn import GCTDRNBlock, GlobalFeatureEnhancement
from ..nn.layers import global_avg_pool
from .base import MODELS, DataSpec
from .multiscale import COMBINES, MultiScaleDiscriminator, MultiScaleGenerator, PlainBlock, scale_count, widths

Tensor = torch.Tensor


@dataclass
class MSPGSENOptions:
    z_dim: int = 128  # Latent size.
    width: int = 32  # G channels at full resolution, doubling per halving up to max_ch.
    max_ch: int = 256  # Channel cap of G.
    d_width: int = 0  # D channels at full resolution (0: same as width).
    d_max_ch: int = 0  # D channel cap (0: same as max_ch).
    gctdrn: bool = True  # G's blocks are GCTDRN residual blocks (eqs 15-16); off: MSG-GAN's plain conv blocks.
    dema: bool = True  # DEMA attention (eqs 1-6) in G's blocks (inside GCTDRN, or after a plain block).
    lgcl: bool = True  # DEMA's local/global contrastive loss L_LGCL (eq 7), 'lgcl' knob weight; no effect without DEMA.
    global_flow: bool = True  # Global flow: a vector from z fused with the feature maps at every scale (two-flow design).
    global_dim: int = 64  # Size of the global-flow vector.
    gfe: bool = True  # Global feature enhancement branch (GAP) at the end of G (section III-B).
    afe: bool = True  # Adversarial feature enhancement: D_aux on G's intermediate features (eqs 17-20).
    afe_mode: Literal["d_early", "d_early_images"] = "d_early"  # Eq (18) reading: G features vs D-encoded real images.
    afe_scale: int = -2  # Which scale's features D_aux reads (index coarse->fine; -2: one below full resolution).
    aux_hidden: int = 32  # Width of D_aux's first layer (0: D's channels at afe_scale, so D_aux scales with the model).
    d_gctdrn: bool = False  # D's blocks are GCTDRN blocks too (the paper puts GCTDRN in G); off: plain conv blocks.
    d_dema: bool = False  # DEMA inside D's GCTDRN blocks too.
    spectral_norm: bool = True  # Spectral norm on D's convs (D_aux always has it).
    separable: bool = False  # GCTDRN branches as depthwise k x k + pointwise 1x1 (cheaper 5x5/7x7 on CPU).
    kernels: list[int] = field(default_factory=lambda: [3, 5, 7])  # GCTDRN branch kernel sizes (eq 15: 3, 5, 7).
    dema_heads: int = 4  # DEMA local heads H (eq 1).
    dema_max_res: int = 0  # DEMA only in blocks at this resolution or coarser (0: every scale, as the paper).
    kernels_max_res: int = 0  # GCTDRN's 3/5/7 branches up to this resolution, the smallest alone above (0: all).
    fused: bool = True  # Same function, faster: GCTDRN branches as one mixed-kernel conv where faster, DEMA batched.
    normalize_z: bool = True  # Put z on the hypersphere (as MSG-GAN).
    pixel_norm: bool = True  # Pixel norm in G's stem and before GCTDRN branches.
    combine: Literal["cat", "simple", "cat_lin", "sum"] = "cat"  # How each scale joins D's path (models/multiscale.py).
    mbstd_group: int = 4  # Minibatch-stddev group before D's last block (0: off).
    out_act: Literal["tanh", "linear"] = "tanh"  # Output of the to-RGB heads.
    conditional: bool = False  # Use the data's labels: embedding in G (DEMA's task T), projection in D.
    embed_dim: int = 32  # Size of the class embedding (conditional runs).

    def check(self, where: str) -> None:
        if min(self.z_dim, self.width, self.max_ch, self.global_dim, self.dema_heads, self.embed_dim) < 1:
            raise ConfigError(f"Sizes in '{where}' must be positive.")
        if min(self.d_width, self.d_max_ch, self.mbstd_group, self.aux_hidden) < 0:
            raise ConfigError(f"'{where}.d_width', '.d_max_ch', '.mbstd_group' and '.aux_hidden' cannot be negative "
                              "(0 means: from the model's width).")
        for key in ("dema_max_res", "kernels_max_res"):
            v = getattr(self, key)
            if v != 0 and (v < 4 or v & (v - 1)):
                raise ConfigError(f"'{where}.{key}' must be 0 (every scale) or a scale's resolution (4, 8, 16, ...), "
                                  f"got {v}.")
        if self.combine not in COMBINES:
            raise ConfigError(f"'{where}.combine' must be one of {', '.join(COMBINES)}, got {self.combine!r}.")
        if self.afe_mode not in AFE_MODES:
            raise ConfigError(f"'{where}.afe_mode' must be one of {', '.join(AFE_MODES)}, got {self.afe_mode!r}.")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ConfigError(f"'{where}.kernels' must be odd positive sizes such as [3, 5, 7], got {self.kernels}.")


class BlockAdapter(nn.Module):
    """Gives a GCTDRN block, or a plain block followed by DEMA, the backbone's ``(x, task) -> (y, lgcl)`` interface."""

    def __init__(self, block: nn.Module, dema: Optional[DEMA] = None) -> None:
        super().__init__()
        self.block, self.dema = block, dema

    def forward(self, x: Tensor, task: Optional[Tensor] = None) -> tuple[Tensor, Optional[Tensor]]:
        if isinstance(self.block, GCTDRNBlock):
            y, aux = self.block(x, task)
            lg = aux["lgcl"] if self.block.attn is not None and self.block.attn.lgcl else None
        else:
            y, lg = self.block(x)
        if self.dema is not None:
            y, aux = self.dema(y, task)  # residual DEMA after a plain block (gctdrn off, dema on)
            lg = aux["lgcl"] if self.dema.lgcl else None
        return y, lg


class GlobalFlowFusion(nn.Module):
    """One scale of the global flow: local -> global by GAP, global -> local by a per-channel shift.

    ``g <- g + MLP([g, GAP(h)])`` then ``h <- h + W g`` (broadcast over pixels). The vector keeps the whole image's
    state across scales; the maps keep the detail.
    """

    def __init__(self, ch: int, gdim: int) -> None:
        super().__init__()
        self.read = nn.Sequential(nn.Linear(gdim + ch, gdim), nn.LeakyReLU(0.2), nn.Linear(gdim, gdim))
        self.write = nn.Linear(gdim, ch)

    def forward(self, h: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        g = g + self.read(torch.cat([g, global_avg_pool(h)], 1))
        return h + self.write(g)[:, :, None, None].to(h.dtype), g


def _at_res(res: int, max_res: int) -> bool:
    """Whether a component limited to ``max_res`` and coarser (0: no limit) runs in the block at ``res``."""
    return max_res == 0 or res <= max_res


def _kernels(o: MSPGSENOptions, res: int) -> list[int]:
    return list(o.kernels) if _at_res(res, o.kernels_max_res) else [min(o.kernels)]


def _g_block(o: MSPGSENOptions, task_dim: int):
    dk = {"heads": o.dema_heads, "lgcl": o.lgcl, "fused": o.fused}
    fuse = "auto" if o.fused else "off"

    def make(i: int, c: int, res: int) -> nn.Module:
        dema_here = o.dema and _at_res(res, o.dema_max_res)
        if o.gctdrn:
            return BlockAdapter(GCTDRNBlock(i, c, attention="dema" if dema_here else "none", kernels=_kernels(o, res),
                                            task_dim=task_dim, norm="pixel" if o.pixel_norm else "none",
                                            separable=o.separable, dema_kwargs=dk, fuse=fuse))
        dema = DEMA(c, task_dim=task_dim, residual=True, **dk) if dema_here else None
        return BlockAdapter(PlainBlock(i, c, pixel_norm=o.pixel_norm, eq_lr=False), dema)

    return make


def _d_block(o: MSPGSENOptions):
    dk = {"heads": o.dema_heads, "lgcl": o.lgcl, "fused": o.fused}

    def make(i: int, c: int, res: int) -> nn.Module:
        dema_here = o.d_dema and _at_res(res, o.dema_max_res)
        if o.d_gctdrn:
            return BlockAdapter(GCTDRNBlock(i, c, attention="dema" if dema_here else "none", kernels=_kernels(o, res),
                                            spectral_norm=o.spectral_norm, separable=o.separable,
                                            dema_kwargs=dk, fuse="auto" if o.fused else "off"))
        dema = DEMA(c, residual=True, **dk) if dema_here else None
        return BlockAdapter(PlainBlock(i, c, pixel_norm=False, eq_lr=False, sn=o.spectral_norm), dema)

    return make


@MODELS.register("mspgsen", options=MSPGSENOptions)
def build_mspgsen(o: MSPGSENOptions, spec: DataSpec) -> nn.ModuleDict:
    """MSPG-SEN's G and D (and D_aux when ``afe``)."""
    if not spec.is_images:
        raise ConfigError("The mspgsen model needs image data; for 2-D toy mixtures use model.name=mlp.")
    res = spec.resolution
    S = scale_count(res)
    if not -S <= o.afe_scale < S:
        raise ConfigError(f"model.afe_scale={o.afe_scale} is out of range for {S} scales at {res}x{res}; use -{S}..{S - 1}.")
    task_dim = o.embed_dim if spec.num_classes else 0
    G = MultiScaleGenerator(
        o.z_dim, res, spec.channels, spec.num_classes, widths(res, o.width, o.max_ch), _g_block(o, task_dim),
        normalize_z=o.normalize_z, embed_dim=o.embed_dim, task_from_label=True,
        flow_factory=(lambda c, gd, r: GlobalFlowFusion(c, gd)) if o.global_flow else None, global_dim=o.global_dim,
        end_factory=(lambda c: GlobalFeatureEnhancement(c)) if o.gfe else None,
        eq_lr=False, pixel_norm=o.pixel_norm, out_act=o.out_act)
    D = MultiScaleDiscriminator(
        res, spec.channels, spec.num_classes, widths(res, o.d_width or o.width, o.d_max_ch or o.max_ch), _d_block(o),
        combine=o.combine, mbstd_group=o.mbstd_group, eq_lr=False, sn=o.spectral_norm)
    nets = {"G": G, "D": D}
    if o.afe:
        s = o.afe_scale % S
        G.afe_scale, G.afe_mode = s, o.afe_mode
        if o.afe_mode == "d_early":
            G.afe_adapter = FeatureAdapter(G.chans[s], D.in_ch[s])  # belongs to G: trained by G's loss only
        nets["D_aux"] = AuxDiscriminator(D.in_ch[s], hidden=o.aux_hidden or D.chans[s], downsamples=min(2, s),
                                         mbstd_group=o.mbstd_group)
    return nn.ModuleDict(nets)
