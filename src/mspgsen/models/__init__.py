"""G/D families registered by name (dcgan, mspgsen, msggan, began, mlp...)."""
from .base import MODELS, DataSpec, check_scales, count_parameters, pyramid

__all__ = ["MODELS", "DataSpec", "check_scales", "count_parameters", "pyramid"]
