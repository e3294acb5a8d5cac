"""Reusable network blocks: DEMA attention, the GCTDRN block, AFE's auxiliary discriminator, shared layers."""
from .afe import AFE_MODES, AuxDiscriminator, FeatureAdapter, afe_features
from .attention import SelfAttention2d
from .dema import DEMA
from .gctdrn import GCTDRNBlock, GlobalFeatureEnhancement
from .layers import EqualConv2d, EqualLinear, MinibatchStdDev, PixelNorm, spectral_norm_if

__all__ = ["AFE_MODES", "AuxDiscriminator", "DEMA", "EqualConv2d", "EqualLinear", "FeatureAdapter",
           "GCTDRNBlock", "GlobalFeatureEnhancement", "MinibatchStdDev", "PixelNorm", "SelfAttention2d",
           "afe_features", "spectral_norm_if"]
